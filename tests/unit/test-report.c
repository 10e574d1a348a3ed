/*
 * test-report.c - which output a run gets when none is asked for: the
 * live view only on a terminal that can show it, never with NO_COLOR set
 * or TERM=dumb.
 */
#include "check.h"
#include "provision/report.h"

static void test_mode_auto(void)
{
	CHECK(report_mode_auto(true, "xterm-256color", NULL) == REPORT_TTY);
	CHECK(report_mode_auto(true, "xterm", "") == REPORT_TTY); /* empty NO_COLOR: not set */
	CHECK(report_mode_auto(false, "xterm", NULL) == REPORT_PLAIN); /* a pipe or a file */
	CHECK(report_mode_auto(true, "dumb", NULL) == REPORT_PLAIN);
	CHECK(report_mode_auto(true, NULL, NULL) == REPORT_PLAIN);
	CHECK(report_mode_auto(true, "", NULL) == REPORT_PLAIN);
	CHECK(report_mode_auto(true, "xterm", "1") == REPORT_PLAIN);
	CHECK(report_mode_auto(true, "xterm", "0") == REPORT_PLAIN); /* any value */
}

int main(void)
{
	RUN(test_mode_auto);
	return check_done("report");
}
