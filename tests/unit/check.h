/*
 * check.h - a tiny unit test harness.
 *
 *   static void test_something(void) { CHECK(1 + 1 == 2); CHECK_STR(a, "x"); }
 *   int main(void) { RUN(test_something); return check_done(); }
 *
 * Each binary prints one line per failed check and, last,
 * "<name>: N passed, N failed".
 */
#ifndef CHECK_H
#define CHECK_H

#include <stdio.h>
#include <string.h>

static int check_passed, check_failed;
static const char *check_current;

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (cond) {                                                                        \
			check_passed++;                                                            \
		} else {                                                                           \
			check_failed++;                                                            \
			printf("FAIL %s:%d: %s: %s\n", __FILE__, __LINE__, check_current, #cond);  \
		}                                                                                  \
	} while (0)

#define CHECK_STR(got, want)                                                                       \
	do {                                                                                       \
		const char *check_g = (got), *check_w = (want);                                    \
		if (check_g && check_w && strcmp(check_g, check_w) == 0) {                         \
			check_passed++;                                                            \
		} else {                                                                           \
			check_failed++;                                                            \
			printf("FAIL %s:%d: %s: got \"%s\", want \"%s\"\n", __FILE__, __LINE__,    \
			       check_current, check_g ? check_g : "(null)",                        \
			       check_w ? check_w : "(null)");                                      \
		}                                                                                  \
	} while (0)

/* got contains want */
#define CHECK_HAS(got, want)                                                                       \
	do {                                                                                       \
		const char *check_g = (got), *check_w = (want);                                    \
		if (check_g && check_w && strstr(check_g, check_w)) {                              \
			check_passed++;                                                            \
		} else {                                                                           \
			check_failed++;                                                            \
			printf("FAIL %s:%d: %s: \"%s\" does not contain \"%s\"\n", __FILE__,       \
			       __LINE__, check_current, check_g ? check_g : "(null)",              \
			       check_w ? check_w : "(null)");                                      \
		}                                                                                  \
	} while (0)

#define RUN(fn)                                                                                    \
	do {                                                                                       \
		check_current = #fn;                                                               \
		fn();                                                                              \
	} while (0)

static inline int check_done(const char *name)
{
	printf("%s: %d passed, %d failed\n", name, check_passed, check_failed);
	return check_failed ? 1 : 0;
}

#endif
