/*
 * report.c - the event stream and its three renderers.
 *
 * TTY: one status line per host, redrawn in place while hosts work; the
 *      details of each host (changes, diffs, failures) are printed whole
 *      when it is done.
 * PLAIN: each host's lines are collected and printed whole when it is done,
 *      so parallel hosts never interleave.
 * JSON: one object per event, printed at once.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <jansson.h>

#include "provision/buf.h"
#include "provision/common.h"
#include "provision/report.h"

/* ---- secret redaction ------------------------------------------------ */

static pthread_mutex_t secret_lock = PTHREAD_MUTEX_INITIALIZER;
static char **secrets;
static size_t n_secrets, alloc_secrets;

void report_secret(const char *value)
{
	if (!value || strlen(value) < 4)
		return; /* too short to redact without mangling ordinary words */
	pthread_mutex_lock(&secret_lock);
	for (size_t i = 0; i < n_secrets; i++) {
		if (!strcmp(secrets[i], value)) {
			pthread_mutex_unlock(&secret_lock);
			return;
		}
	}
	PV_GROW(secrets, n_secrets + 1, alloc_secrets);
	secrets[n_secrets++] = xstrdup(value);
	pthread_mutex_unlock(&secret_lock);
}

char *report_redact(const char *s)
{
	struct buf b = BUF_INIT;

	if (!s)
		return xstrdup("");
	pthread_mutex_lock(&secret_lock);
	if (!n_secrets) {
		pthread_mutex_unlock(&secret_lock);
		return xstrdup(s);
	}
	const char *p = s;
	while (*p) {
		size_t best = 0;
		for (size_t i = 0; i < n_secrets; i++) {
			size_t l = strlen(secrets[i]);
			if (l > best && !strncmp(p, secrets[i], l))
				best = l;
		}
		if (best) {
			buf_adds(&b, "[secret]");
			p += best;
		} else {
			buf_addc(&b, *p++);
		}
	}
	pthread_mutex_unlock(&secret_lock);
	return buf_detach(&b, NULL);
}

/* ---- reporter ---------------------------------------------------------- */

struct host_view {
	char *name;
	char *activity;
	struct buf lines; /* details shown when the host is done */
	bool done;
	bool failed;
	bool progress; /* a polled operation (report_progress), not a host */
	char *host; /* progress: the host it is for, or NULL */
	bool shown; /* progress: its first report was printed (plain) */
	int ok, changed, failed_n, pending;
};

struct reporter {
	enum report_mode mode;
	FILE *out;
	pthread_mutex_t lock;
	struct host_view *hosts;
	size_t n_hosts, alloc_hosts;
	size_t drawn; /* lines of the live view currently on screen */
};

struct reporter *reporter_new(enum report_mode mode, FILE *out)
{
	struct reporter *r = xcalloc(1, sizeof(*r));

	r->mode = mode;
	r->out = out;
	pthread_mutex_init(&r->lock, NULL);
	return r;
}

static void live_finish(struct reporter *r);

void reporter_free(struct reporter *r)
{
	if (!r)
		return;
	live_finish(r);
	for (size_t i = 0; i < r->n_hosts; i++) {
		free(r->hosts[i].name);
		free(r->hosts[i].activity);
		free(r->hosts[i].host);
		buf_release(&r->hosts[i].lines);
	}
	free(r->hosts);
	pthread_mutex_destroy(&r->lock);
	free(r);
}

enum report_mode report_mode_auto(bool tty, const char *term, const char *no_color)
{
	if (!tty || !term || !*term || !strcmp(term, "dumb") || (no_color && *no_color))
		return REPORT_PLAIN;
	return REPORT_TTY;
}

enum report_mode reporter_mode(const struct reporter *r)
{
	return r->mode;
}

static struct host_view *view_get(struct reporter *r, const char *host)
{
	for (size_t i = 0; i < r->n_hosts; i++)
		if (!strcmp(r->hosts[i].name, host))
			return &r->hosts[i];
	PV_GROW(r->hosts, r->n_hosts + 1, r->alloc_hosts);
	struct host_view *v = &r->hosts[r->n_hosts++];
	memset(v, 0, sizeof(*v));
	v->name = xstrdup(host);
	v->activity = xstrdup("waiting");
	buf_init(&v->lines, 0);
	return v;
}

/* TTY: erase the live view so ordinary lines can be printed above it. */
static void live_erase(struct reporter *r)
{
	if (r->mode != REPORT_TTY || !r->drawn)
		return;
	fprintf(r->out, "\033[%zuA\033[J", r->drawn);
	r->drawn = 0;
}

/* Columns of the terminal out is on (80 when it does not say). */
static size_t term_columns(FILE *out)
{
	struct winsize ws;

	if (ioctl(fileno(out), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
		return ws.ws_col;
	return 80;
}

/*
 * One line per host (or polled operation) still at work.  Each is cut to
 * the terminal's width: a line that wrapped would take two rows, and the
 * next erase, counting one, would leave the top one behind.
 */
static void live_draw(struct reporter *r)
{
	if (r->mode != REPORT_TTY)
		return;
	live_erase(r);
	size_t cols = term_columns(r->out);
	for (size_t i = 0; i < r->n_hosts; i++) {
		struct host_view *v = &r->hosts[i];
		struct buf line = BUF_INIT;
		if (v->done)
			continue;
		buf_addf(&line, "  %-16s %s", v->name, v->activity);
		char counts[96] = "";
		if (!v->progress)
			snprintf(counts, sizeof(counts), "  (%d ok, %d changed, %d failed)", v->ok,
			         v->changed, v->failed_n);
		size_t room = cols > 1 ? cols - 1 : 1;
		for (size_t k = 0; k < line.len; k++)
			if (line.s[k] == '\n' || line.s[k] == '\r' || line.s[k] == '\t')
				line.s[k] = ' ';
		if (line.len > room)
			line.len = room;
		size_t cl = strlen(counts);
		fprintf(r->out, "%.*s\033[2m%.*s\033[0m\n", (int)line.len, line.s,
		        (int)(line.len + cl > room ? room - line.len : cl), counts);
		buf_release(&line);
		r->drawn++;
	}
	fflush(r->out);
}

/*
 * The end of the live view (summary, or the reporter freed): nothing stays
 * on screen that is not true any more.  What an unfinished operation said
 * last is printed once as an ordinary line.
 */
static void live_finish(struct reporter *r)
{
	if (r->mode != REPORT_TTY)
		return;
	live_erase(r);
	for (size_t i = 0; i < r->n_hosts; i++) {
		struct host_view *v = &r->hosts[i];
		if (v->done)
			continue;
		v->done = true;
		if (v->progress)
			fprintf(r->out, "%s%s%s\n", v->host ? v->host : "", v->host ? ": " : "",
			        v->activity);
	}
	fflush(r->out);
}

static void json_emit(struct reporter *r, json_t *o)
{
	char *s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);

	fprintf(r->out, "%s\n", s);
	fflush(r->out);
	free(s);
	json_decref(o);
}

static long long start_ms;

static json_t *json_event(const char *event, const char *host)
{
	json_t *o = json_object();

	if (!start_ms)
		start_ms = pv_now_ms();
	json_object_set_new(o, "ms", json_integer(pv_now_ms() - start_ms));

	json_object_set_new(o, "event", json_string(event));
	if (host)
		json_object_set_new(o, "host", json_string(host));
	return o;
}

static void set_redacted(json_t *o, const char *key, const char *value)
{
	char *red = report_redact(value);

	json_object_set_new(o, key, json_string(red));
	free(red);
}

void report_host_start(struct reporter *r, const char *host, const char *what)
{
	pthread_mutex_lock(&r->lock);
	if (r->mode == REPORT_JSON) {
		json_t *o = json_event("host_start", host);
		set_redacted(o, "what", what);
		json_emit(r, o);
	} else {
		struct host_view *v = view_get(r, host);
		free(v->activity);
		v->activity = report_redact(what);
		live_draw(r);
	}
	pthread_mutex_unlock(&r->lock);
}

/* "1.25 s": a duration as the plain views show it (a static buffer per thread). */
static const char *seconds(long long ms)
{
	static _Thread_local char s[32];

	snprintf(s, sizeof(s), "%lld.%02lld s", ms / 1000, ms % 1000 / 10);
	return s;
}

void report_resource(struct reporter *r, const char *host, const struct resource *res)
{
	pthread_mutex_lock(&r->lock);
	if (r->mode == REPORT_JSON) {
		json_t *o = json_event("resource", host);
		set_redacted(o, "resource", res->title);
		json_object_set_new(o, "role", json_string(res->role ? res->role : ""));
		json_object_set_new(o, "status", json_string(res_status_name(res->status)));
		if (res->reason)
			set_redacted(o, "reason", res->reason);
		if (res->output && res->status == RES_FAILED)
			set_redacted(o, "output", res->output);
		if (res->ms >= 0)
			json_object_set_new(o, "duration_ms", json_integer(res->ms));
		json_emit(r, o);
		pthread_mutex_unlock(&r->lock);
		return;
	}
	struct host_view *v = view_get(r, host);
	char *title = report_redact(res->title);
	char took[40] = "";
	if (res->ms >= 0)
		snprintf(took, sizeof(took), " (%s)", seconds(res->ms));
	switch (res->status) {
	case RES_OK:
		v->ok++;
		break;
	case RES_CHANGED:
		v->changed++;
		buf_addf(&v->lines, "  changed  %s%s\n", title, took);
		break;
	case RES_CHANGE: {
		char *reason = report_redact(res->reason ? res->reason : "");
		v->pending++;
		buf_addf(&v->lines, "  change   %s%s%s%s\n", title, *reason ? " (" : "", reason,
		         *reason ? ")" : "");
		free(reason);
		break;
	}
	case RES_FAILED: {
		v->failed_n++;
		buf_addf(&v->lines, "  FAILED   %s%s\n", title, took);
		if (res->output && *res->output) {
			char *o = report_redact(res->output);
			for (char *line = strtok(o, "\n"); line; line = strtok(NULL, "\n"))
				buf_addf(&v->lines, "           | %s\n", line);
			free(o);
		}
		break;
	}
	case RES_SKIPPED:
		buf_addf(&v->lines, "  skipped  %s\n", title);
		break;
	default:
		break;
	}
	free(title);
	live_draw(r);
	pthread_mutex_unlock(&r->lock);
}

void report_detail(struct reporter *r, const char *host, const char *title, const char *text)
{
	char *red = report_redact(text);

	pthread_mutex_lock(&r->lock);
	if (r->mode == REPORT_JSON) {
		json_t *o = json_event("detail", host);
		set_redacted(o, "resource", title);
		json_object_set_new(o, "text", json_string(red));
		json_emit(r, o);
	} else {
		struct host_view *v = view_get(r, host);
		const char *p = red;
		while (*p) {
			const char *nl = strchr(p, '\n');
			size_t l = nl ? (size_t)(nl - p) : strlen(p);
			buf_addf(&v->lines, "           %.*s\n", (int)l, p);
			p += l + (nl ? 1 : 0);
		}
	}
	pthread_mutex_unlock(&r->lock);
	free(red);
}

static void print_host_block(struct reporter *r, struct host_view *v, const struct host_result *res)
{
	const char *state = res->failed || res->error ? "failed" : "done";

	fprintf(r->out, "%s: %s (%d ok, %d changed, %d failed", v->name, state, res->ok,
	        res->changed, res->failed);
	if (res->would_change)
		fprintf(r->out, ", %d would change", res->would_change);
	fprintf(r->out, "; %d round trip%s, %.1fs)\n", res->round_trips,
	        res->round_trips == 1 ? "" : "s", res->ms / 1000.0);
	fputs(v->lines.s, r->out);
	if (res->error) {
		char *e = report_redact(res->error);
		fprintf(r->out, "  error: %s\n", e);
		free(e);
	}
}

void report_host_done(struct reporter *r, const char *host, const struct host_result *res)
{
	pthread_mutex_lock(&r->lock);
	if (r->mode == REPORT_JSON) {
		json_t *o = json_event("host_done", host);
		json_object_set_new(o, "ok", json_integer(res->ok));
		json_object_set_new(o, "changed", json_integer(res->changed));
		json_object_set_new(o, "failed", json_integer(res->failed));
		json_object_set_new(o, "skipped", json_integer(res->skipped));
		json_object_set_new(o, "would_change", json_integer(res->would_change));
		json_object_set_new(o, "round_trips", json_integer(res->round_trips));
		json_object_set_new(o, "host_ms", json_integer(res->ms));
		if (res->error)
			set_redacted(o, "error", res->error);
		json_emit(r, o);
	} else {
		struct host_view *v = view_get(r, host);
		v->done = true;
		live_erase(r);
		print_host_block(r, v, res);
		live_draw(r);
	}
	pthread_mutex_unlock(&r->lock);
}

static void report_msg(struct reporter *r, const char *level, const char *host, const char *fmt,
                       va_list ap)
{
	char *raw = xvasprintf(fmt, ap);
	char *msg = report_redact(raw);

	free(raw);
	pthread_mutex_lock(&r->lock);
	if (r->mode == REPORT_JSON) {
		json_t *o = json_event(level, host);
		json_object_set_new(o, "message", json_string(msg));
		json_emit(r, o);
	} else {
		FILE *f = r->out;
		if (strcmp(level, "info")) {
			/* warnings and errors go to stderr on a TTY view too */
			live_erase(r);
			f = stderr;
			fflush(r->out);
		}
		live_erase(r);
		fprintf(f, "%s%s%s%s%s\n", !strcmp(level, "info") ? "" : level,
		        !strcmp(level, "info") ? "" : ": ", host ? host : "", host ? ": " : "",
		        msg);
		fflush(f);
		live_draw(r);
	}
	pthread_mutex_unlock(&r->lock);
	free(msg);
}

/* The live line of the operation what (made on first use). */
static struct host_view *progress_view(struct reporter *r, const char *host, const char *what)
{
	for (size_t i = 0; i < r->n_hosts; i++)
		if (r->hosts[i].progress && !r->hosts[i].done && !strcmp(r->hosts[i].name, what))
			return &r->hosts[i];
	PV_GROW(r->hosts, r->n_hosts + 1, r->alloc_hosts);
	struct host_view *v = &r->hosts[r->n_hosts++];
	memset(v, 0, sizeof(*v));
	v->name = xstrdup(what);
	v->activity = xstrdup("");
	v->progress = true;
	v->host = host ? xstrdup(host) : NULL;
	buf_init(&v->lines, 0);
	return v;
}

static void progress(struct reporter *r, const char *host, const char *what, bool end,
                     const char *fmt, va_list ap)
{
	char *raw = xvasprintf(fmt, ap);
	char *text = report_redact(raw);

	free(raw);
	pthread_mutex_lock(&r->lock);
	struct host_view *v = progress_view(r, host, what);
	bool changed = strcmp(v->activity, text) != 0;
	free(v->activity);
	v->activity = xstrdup(text);
	if (r->mode == REPORT_JSON) {
		if (changed || end) {
			json_t *o = json_event("info", host);
			json_object_set_new(o, "message", json_sprintf("%s: %s", what, text));
			json_emit(r, o);
		}
	} else if (r->mode == REPORT_PLAIN) {
		/* what names the thing ("server app1"): no host prefix to repeat it */
		if (!v->shown || end)
			fprintf(r->out, "%s: %s\n", what, text);
		v->shown = true;
	} else if (end) {
		live_erase(r);
		fprintf(r->out, "%s: %s\n", what, text);
	}
	if (end)
		v->done = true;
	live_draw(r);
	fflush(r->out);
	pthread_mutex_unlock(&r->lock);
	free(text);
}

void report_progress(struct reporter *r, const char *host, const char *what, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	progress(r, host, what, false, fmt, ap);
	va_end(ap);
}

void report_progress_end(struct reporter *r, const char *host, const char *what, const char *fmt,
                         ...)
{
	va_list ap;

	va_start(ap, fmt);
	progress(r, host, what, true, fmt, ap);
	va_end(ap);
}

void report_info(struct reporter *r, const char *host, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	report_msg(r, "info", host, fmt, ap);
	va_end(ap);
}

void report_warn(struct reporter *r, const char *host, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	report_msg(r, "warning", host, fmt, ap);
	va_end(ap);
}

void report_error(struct reporter *r, const char *host, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	report_msg(r, "error", host, fmt, ap);
	va_end(ap);
}

/* Every string in v, at any depth, with the registered secrets replaced. */
static void redact_json(json_t *v)
{
	const char *k;
	json_t *item;
	size_t i;

	if (json_is_string(v)) {
		char *red = report_redact(json_string_value(v));
		json_string_set(v, red);
		free(red);
	} else if (json_is_object(v)) {
		json_object_foreach(v, k, item) redact_json(item);
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, item) redact_json(item);
	}
}

void report_event(struct reporter *r, json_t *o)
{
	if (!o)
		return;
	if (r->mode != REPORT_JSON) {
		json_decref(o);
		return;
	}
	json_t *e = json_event(json_string_value(json_object_get(o, "event")), NULL);
	json_object_update(e, o);
	json_decref(o);
	redact_json(e);
	pthread_mutex_lock(&r->lock);
	json_emit(r, e);
	pthread_mutex_unlock(&r->lock);
}

void report_line(struct reporter *r, json_t *o, const char *fmt, ...)
{
	va_list ap;

	if (r->mode == REPORT_JSON) {
		report_event(r, o);
		return;
	}
	json_decref(o);
	va_start(ap, fmt);
	char *raw = xvasprintf(fmt, ap);
	va_end(ap);
	char *msg = report_redact(raw);
	free(raw);
	pthread_mutex_lock(&r->lock);
	live_erase(r);
	fprintf(r->out, "%s\n", msg);
	fflush(r->out);
	live_draw(r);
	pthread_mutex_unlock(&r->lock);
	free(msg);
}

void report_summary(struct reporter *r, const char *const *hosts, const struct host_result *results,
                    size_t n)
{
	int ok = 0, changed = 0, failed = 0, would = 0, bad_hosts = 0;

	pthread_mutex_lock(&r->lock);
	for (size_t i = 0; i < n; i++) {
		ok += results[i].ok;
		changed += results[i].changed;
		failed += results[i].failed;
		would += results[i].would_change;
		if (results[i].failed || results[i].error)
			bad_hosts++;
	}
	if (r->mode == REPORT_JSON) {
		json_t *o = json_event("summary", NULL);
		json_t *arr = json_array();
		for (size_t i = 0; i < n; i++) {
			json_t *h = json_object();
			json_object_set_new(h, "host", json_string(hosts[i]));
			json_object_set_new(h, "ok", json_integer(results[i].ok));
			json_object_set_new(h, "changed", json_integer(results[i].changed));
			json_object_set_new(h, "failed", json_integer(results[i].failed));
			json_object_set_new(h, "would_change",
			                    json_integer(results[i].would_change));
			/* a host-level error: no connection, or the host refused (--frozen) */
			json_object_set_new(h, "error", json_boolean(results[i].error != NULL));
			json_array_append_new(arr, h);
		}
		json_object_set_new(o, "hosts", arr);
		json_object_set_new(o, "changed", json_integer(changed));
		json_object_set_new(o, "failed", json_integer(failed));
		json_emit(r, o);
	} else {
		live_finish(r);
		fprintf(r->out, "\nsummary:\n");
		for (size_t i = 0; i < n; i++) {
			fprintf(r->out, "  %-16s ok=%-3d changed=%-3d failed=%-3d", hosts[i],
			        results[i].ok, results[i].changed, results[i].failed);
			if (results[i].would_change)
				fprintf(r->out, " would_change=%d", results[i].would_change);
			if (results[i].error)
				fprintf(r->out, " error");
			fputc('\n', r->out);
		}
		fprintf(r->out, "%zu host%s: %d ok, %d changed, %d failed", n, n == 1 ? "" : "s",
		        ok, changed, failed);
		if (bad_hosts)
			fprintf(r->out, " (%d host%s with problems)", bad_hosts,
			        bad_hosts == 1 ? "" : "s");
		fputc('\n', r->out);
		if (would)
			fprintf(r->out, "%d change%s pending (nothing was changed)\n", would,
			        would == 1 ? "" : "s");
	}
	fflush(r->out);
	pthread_mutex_unlock(&r->lock);
}

static int timing_cmp(const void *a, const void *b)
{
	const struct report_timing *x = a, *y = b;

	return x->ms < y->ms ? 1 : x->ms > y->ms ? -1 : 0;
}

static json_t *timing_json(const struct report_timing *t, bool with_host)
{
	json_t *o = json_object();
	if (with_host)
		json_object_set_new(o, "host", json_string(t->host));
	json_object_set_new(o, "role", json_string(t->role ? t->role : ""));
	set_redacted(o, "resource", t->title);
	json_object_set_new(o, "duration_ms", json_integer(t->ms));
	return o;
}

static void timing_line(struct reporter *r, const struct report_timing *t, bool with_host)
{
	char *title = report_redact(t->title);

	fprintf(r->out, "    %10s  ", seconds(t->ms));
	if (with_host)
		fprintf(r->out, "%-12s ", t->host);
	fprintf(r->out, "%-14s %s\n", t->role ? t->role : "", title);
	free(title);
}

void report_timings(struct reporter *r, const char *const *hosts, size_t n_hosts,
                    struct report_timing *t, size_t n, size_t top, bool probe_only)
{
	json_t *ev = NULL, *per = NULL, *all = NULL;
	long long total = 0;

	qsort(t, n, sizeof(*t), timing_cmp);
	pthread_mutex_lock(&r->lock);
	if (r->mode == REPORT_JSON) {
		ev = json_event("timings", NULL);
		json_object_set_new(ev, "probe_only", json_boolean(probe_only));
		per = json_array();
		all = json_array();
	} else {
		live_finish(r);
		fprintf(r->out, "\ntimings%s (measured on the hosts, slowest first):\n",
		        probe_only ? " of the probes; --check applied nothing" : "");
	}
	for (size_t h = 0; h < n_hosts; h++) {
		long long sum = 0;
		size_t count = 0, shown = 0;
		json_t *list = ev ? json_array() : NULL;
		for (size_t i = 0; i < n; i++)
			if (!strcmp(t[i].host, hosts[h])) {
				sum += t[i].ms;
				count++;
			}
		total += sum;
		if (ev) {
			json_t *o = json_object();
			json_object_set_new(o, "host", json_string(hosts[h]));
			json_object_set_new(o, "duration_ms", json_integer(sum));
			json_object_set_new(o, "resources", json_integer((json_int_t)count));
			json_object_set_new(o, "slowest", list);
			json_array_append_new(per, o);
		} else {
			fprintf(r->out, "  %s: %s in %zu resource%s\n", hosts[h], seconds(sum),
			        count, count == 1 ? "" : "s");
		}
		for (size_t i = 0; i < n && shown < top; i++) {
			if (strcmp(t[i].host, hosts[h]))
				continue;
			shown++;
			if (ev)
				json_array_append_new(list, timing_json(&t[i], false));
			else
				timing_line(r, &t[i], false);
		}
	}
	if (ev) {
		for (size_t i = 0; i < n && i < top; i++)
			json_array_append_new(all, timing_json(&t[i], true));
		json_object_set_new(ev, "hosts", per);
		json_object_set_new(ev, "slowest", all);
		json_object_set_new(ev, "duration_ms", json_integer(total));
		json_emit(r, ev);
	} else if (n_hosts > 1) {
		fprintf(r->out, "  all hosts: %s\n", seconds(total));
		for (size_t i = 0; i < n && i < top; i++)
			timing_line(r, &t[i], true);
	}
	fflush(r->out);
	pthread_mutex_unlock(&r->lock);
}
