/*
 * report.h - one event stream, three renderers.
 *
 * Everything the user sees about a run goes through a reporter: a live
 * per-host view on a terminal (REPORT_TTY), plain lines otherwise
 * (REPORT_PLAIN; each host's lines are shown together when the host is
 * done), or one JSON object per line (REPORT_JSON).  All calls are
 * thread-safe.  Every string is passed through the secret redactor first.
 */
#ifndef PROVISION_REPORT_H
#define PROVISION_REPORT_H

#include <stdbool.h>
#include <stdio.h>

#include <jansson.h>

#include "provision/resource.h"

enum report_mode {
	REPORT_TTY,
	REPORT_PLAIN,
	REPORT_JSON,
};

struct host_result {
	int ok;
	int changed;
	int failed;
	int skipped;
	int would_change; /* --check / plan */
	int round_trips;
	long long ms;
	char *error; /* why the host failed as a whole (connect, ...), or NULL */
};

struct reporter;

/*
 * The mode when none is asked for: the live view (cursor movement, dim text)
 * only on a terminal that can show it: not TERM=dumb (or unset), and not
 * when NO_COLOR is set to anything but the empty string.  Plain otherwise.
 */
enum report_mode report_mode_auto(bool tty, const char *term, const char *no_color);

struct reporter *reporter_new(enum report_mode mode, FILE *out);
void reporter_free(struct reporter *r);
enum report_mode reporter_mode(const struct reporter *r);

/* Register a secret value: from now on it is replaced by "[secret]" in all output. */
void report_secret(const char *value);
/* Redact registered secrets in s; returns an allocation. */
char *report_redact(const char *s);

void report_host_start(struct reporter *r, const char *host, const char *what);
void report_resource(struct reporter *r, const char *host, const struct resource *res);
/* A block of text about a resource (a diff, command output). */
void report_detail(struct reporter *r, const char *host, const char *title, const char *text);
void report_host_done(struct reporter *r, const char *host, const struct host_result *res);
/*
 * Progress of one long operation that is polled (a cloud action), named by
 * what ("server app1"); host may be NULL.  On a terminal it is one live
 * line, redrawn in place at each report; plain output shows its first
 * report only (not one line per poll), and its end; --json gives an "info"
 * event each time the text changes.  report_progress_end says how it
 * ended and takes the live line away.
 */
void report_progress(struct reporter *r, const char *host, const char *what, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void report_progress_end(struct reporter *r, const char *host, const char *what, const char *fmt,
                         ...) __attribute__((format(printf, 4, 5)));
/*
 * Messages not about a resource; host may be NULL.  A message is a line of
 * its own in every mode ("host: message"); a host's live line shows only
 * what it is doing (report_host_start).
 */
void report_info(struct reporter *r, const char *host, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void report_warn(struct reporter *r, const char *host, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void report_error(struct reporter *r, const char *host, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/*
 * A command's own event (--json): o gets "ms", its strings are redacted, and
 * it is printed as one line; o is taken over.  Other modes ignore it: use
 * report_line, which shows either the event or the text.
 */
void report_event(struct reporter *r, json_t *o);
/*
 * One fact a command shows: with --json the event o (taken over; may be
 * NULL to show nothing there), otherwise the text fmt as a line on stdout,
 * above the live view.  The two say the same thing for the two audiences.
 */
void report_line(struct reporter *r, json_t *o, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* One resource's (or handler's) time on its host, for report_timings. */
struct report_timing {
	const char *host;
	const char *role;
	const char *title;
	long long ms;
};
/*
 * After the summary (up/apply --timings): per host its total and its top
 * slowest resources, then (more than one host) the top over all hosts.
 * t is sorted here, slowest first.  probe_only: a --check run, which timed
 * the probes and applied nothing.
 */
void report_timings(struct reporter *r, const char *const *hosts, size_t n_hosts,
                    struct report_timing *t, size_t n, size_t top, bool probe_only);
/* Closing summary: ok/changed/failed per host. */
void report_summary(struct reporter *r, const char *const *hosts, const struct host_result *results,
                    size_t n);

#endif
