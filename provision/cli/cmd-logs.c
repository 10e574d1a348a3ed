/*
 * cmd-logs.c - provision logs LAYOUT [HOST] [-u UNIT] [--since TIME] [-n N]
 *
 * Every server of a layout with a monitoring server ships its journal
 * there (roles journal-upload and journal-remote).  This reads them there:
 * one command over the pinned SSH connection to the monitoring server,
 * which runs the script role journal-remote installed (journalctl on the
 * received files).  With --json each entry is a "log" event.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "provision/converge.h"
#include "provision/shquote.h"
#include "provision/session.h"

#define LOGS_SCRIPT "/usr/local/lib/provision/journal-logs.sh"
#define LOGS_MAX_LINES 100000
#define LOGS_OUT_LIMIT ((size_t)256 << 20)

/* A value for an option: one line of printable text. */
static bool printable(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

/* A journal field as text: a string, or bytes (an array of numbers) with '?' for the unprintable.
 */
static char *field_text(json_t *v)
{
	struct buf b = BUF_INIT;
	size_t i;
	json_t *e;

	if (json_is_string(v))
		return xstrdup(json_string_value(v));
	if (!json_is_array(v))
		return NULL;
	json_array_foreach(v, i, e)
	{
		json_int_t c = json_integer_value(e);
		buf_addc(&b, c >= 0x20 && c < 0x7f ? (char)c : c == '\t' ? '\t' : '?');
	}
	return buf_detach(&b, NULL);
}

/* One line of journalctl -o json as a "log" event. */
static void log_event(struct reporter *rep, const char *layout, const char *line)
{
	json_t *e = json_loads(line, 0, NULL), *o;
	const char *ts;
	char *msg, when[32] = "";

	if (!json_is_object(e)) {
		json_decref(e);
		return;
	}
	ts = json_string_value(json_object_get(e, "__REALTIME_TIMESTAMP"));
	if (ts) {
		long long us = strtoll(ts, NULL, 10);
		time_t secs = (time_t)(us / 1000000);
		struct tm tm;
		if (gmtime_r(&secs, &tm))
			snprintf(when + strftime(when, 20, "%Y-%m-%dT%H:%M:%S", &tm), 12,
			         ".%06lldZ", us % 1000000);
	}
	msg = field_text(json_object_get(e, "MESSAGE"));
	o = json_pack("{s:s, s:s, s:s, s:s}", "event", "log", "layout", layout, "time", when,
	              "message", msg ? msg : "");
	const char *keys[][2] = {
	    {"_HOSTNAME", "host"}, {"_SYSTEMD_UNIT", "unit"}, {"SYSLOG_IDENTIFIER", "identifier"}};
	for (size_t i = 0; i < PV_ARRAY_SIZE(keys); i++) {
		char *v = field_text(json_object_get(e, keys[i][0]));
		if (v)
			json_object_set_new(o, keys[i][1], json_string(v));
		free(v);
	}
	const char *prio = json_string_value(json_object_get(e, "PRIORITY"));
	if (prio && prio[0] >= '0' && prio[0] <= '7' && !prio[1])
		json_object_set_new(o, "priority", json_integer(prio[0] - '0'));
	report_event(rep, o);
	free(msg);
	json_decref(e);
}

static int cmd_logs(struct session *s, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"unit", required_argument, NULL, 'u'},
	    {"since", required_argument, NULL, 'S'},
	    {"lines", required_argument, NULL, 'n'},
	    {NULL, 0, NULL, 0},
	};
	const char *unit = NULL, *since = NULL, *server = NULL;
	long lines = 100;
	int ch, rc;

	while ((ch = getopt_long(argc, argv, "u:S:n:", opts, NULL)) != -1) {
		char *end;
		switch (ch) {
		case 'u':
		case 'S':
			if (!printable(optarg)) {
				pv_say_error("%s must be one line of text",
				             ch == 'u' ? "-u" : "--since");
				return PV_EXIT_USAGE;
			}
			*(ch == 'u' ? &unit : &since) = optarg;
			break;
		case 'n':
			lines = strtol(optarg, &end, 10);
			if (lines < 1 || lines > LOGS_MAX_LINES || *end || !*optarg) {
				pv_say_error("-n must be a number of lines (1-%d), not '%s'",
				             LOGS_MAX_LINES, optarg);
				return PV_EXIT_USAGE;
			}
			break;
		default:
			pv_usage(&cmd_logs_entry);
			return PV_EXIT_USAGE;
		}
	}
	if (optind >= argc || argc - optind > 2) {
		pv_usage(&cmd_logs_entry);
		return PV_EXIT_USAGE;
	}
	if (argc - optind == 2)
		server = argv[optind + 1];
	if ((rc = session_load(s)) || (rc = session_open_state(s, false)) || (rc = session_keys(s)))
		return rc;
	const struct inv_layout *l = session_layout(s, argv[optind]);
	if (!l)
		return PV_EXIT_USAGE;
	const struct inv_server *mon = session_monitoring_server(l);
	if (!mon) {
		pv_say_error("layout '%s' has no server with role 'monitoring': its journals are "
		             "shipped nowhere",
		             l->name);
		return PV_EXIT_USAGE;
	}
	if (server && !session_layout_server(l, server))
		return PV_EXIT_USAGE;

	struct host *hosts = NULL, *h = NULL;
	size_t n = 0;
	if ((rc = session_layout_hosts(s, l, &hosts, &n)))
		return rc;
	for (size_t i = 0; i < n && !h; i++)
		if (!strcmp(hosts[i].name, mon->name))
			h = &hosts[i];
	if (!h) {
		pv_say_error("monitoring server '%s' of layout '%s' is not created", mon->name,
		             l->name);
		hosts_free(hosts, n);
		return PV_EXIT_FAIL;
	}

	/* the options as words of the script, which goes to the root shell's stdin */
	struct buf sh = BUF_INIT, out, errb;
	buf_adds(&sh, "test -f " LOGS_SCRIPT " || exit 4\nexec sh " LOGS_SCRIPT);
	buf_addf(&sh, " -n %ld", lines);
	if (server) {
		buf_adds(&sh, " -H ");
		sh_quote_buf(&sh, server);
	}
	if (unit) {
		buf_adds(&sh, " -u ");
		sh_quote_buf(&sh, unit);
	}
	if (since) {
		buf_adds(&sh, " -S ");
		sh_quote_buf(&sh, since);
	}
	bool json = s->mode == REPORT_JSON;
	if (json)
		buf_adds(&sh, " -j");
	buf_addc(&sh, '\n');

	struct remote_target t;
	struct remote *r = NULL;
	struct pv_error err = {{0}};
	int st = -1;
	buf_init(&out, LOGS_OUT_LIMIT);
	buf_init(&errb, 1 << 16);
	session_target(s, h, 30000, &t);
	if (remote_connect(&r, &t, &err) < 0 ||
	    remote_exec(r, converge_shell(h), sh.s, sh.len, &out, &errb, &st, &err) < 0) {
		pv_say_error("%s", err.msg);
		rc = PV_EXIT_FAIL;
		goto out;
	}
	while (errb.len && errb.s[errb.len - 1] == '\n')
		errb.s[--errb.len] = '\0';
	if (st == 4) {
		pv_say_error("no received journals on '%s': role journal-remote is not there yet "
		             "(run 'provision up %s')",
		             h->name, l->name);
		rc = PV_EXIT_FAIL;
		goto out;
	}
	if (st != 0) {
		pv_say_error("reading the journals on '%s' failed%s%s", h->name,
		             errb.len ? ": " : "", errb.s);
		rc = PV_EXIT_FAIL;
		goto out;
	}
	if (!json) {
		fwrite(out.s, 1, out.len, stdout);
	} else {
		for (char *p = out.s, *nl; p && *p; p = nl ? nl + 1 : NULL) {
			nl = strchr(p, '\n');
			if (nl)
				*nl = '\0';
			log_event(s->rep, l->name, p);
		}
	}
	rc = PV_EXIT_OK;
out:
	if (r)
		remote_close(r);
	buf_release(&sh);
	buf_release(&out);
	buf_release(&errb);
	hosts_free(hosts, n);
	return rc;
}

const struct cmd_entry cmd_logs_entry = {
    .name = "logs",
    .usage = "logs LAYOUT [HOST] [-u UNIT] [--since TIME] [-n N]",
    .summary = "read the layout's journals on its monitoring server",
    .help = "Options:\n"
            "  -u, --unit UNIT    entries of this systemd unit only\n"
            "  -S, --since TIME   entries from this time on (journalctl's --since: "
            "'2024-05-01 10:00',\n"
            "                     '-1h', 'today')\n"
            "  -n, --lines N      the last N entries (default 100)\n"
            "HOST: the entries of this server only (default: every server's).\n"
            "With --json each entry is a 'log' event.\n",
    .exec = cmd_logs,
};
