/*
 * backupstatus.c - the backups of a server with role backup for 'provision
 * status' (see backup.h), from the host's helper script in one round trip.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "provision/backup.h"
#include "provision/converge.h"

#define HELPER "sh /usr/local/lib/provision/backup.sh"

bool backup_server_has(const struct inv_server *srv)
{
	for (size_t i = 0; i < srv->n_roles; i++)
		if (!strcmp(srv->roles[i], "backup"))
			return true;
	return false;
}

static void age(struct buf *out, long long s)
{
	if (s < 0)
		s = 0;
	if (s < 120)
		buf_addf(out, "%lld s", s);
	else if (s < 7200)
		buf_addf(out, "%lld min", s / 60);
	else if (s < 172800)
		buf_addf(out, "%lld h", s / 3600);
	else
		buf_addf(out, "%lld days", s / 86400);
}

/* What the full and diff timers say: the next run, the last one, a run going on. */
struct schedule {
	long long next, last; /* epoch seconds; 0: unknown or never */
	bool running, known;
};

static void fmt_date(char *dst, size_t n, long long t)
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(dst, n, "%Y-%m-%d %H:%M UTC", &tm);
}

/* No good backup yet: a failure only once one was due and none runs now. */
static void none_yet(struct buf *out, const char *indent, const struct schedule *sc, bool *bad)
{
	char when[64];

	if (!sc->known) {
		buf_addf(out, "%sbackups: FAILED: none yet\n", indent);
		*bad = true;
	} else if (sc->running) {
		buf_addf(out, "%sbackups: none yet (the first one is running)\n", indent);
	} else if (sc->last) {
		fmt_date(when, sizeof(when), sc->last);
		buf_addf(out,
		         "%sbackups: FAILED: none, although one was due at %s (journalctl -u "
		         "'provision-backup@*')\n",
		         indent, when);
		*bad = true;
	} else {
		fmt_date(when, sizeof(when), sc->next);
		buf_addf(out, "%sbackups: none yet (first scheduled %s)\n", indent, when);
	}
}

/*
 * One repository's lines: its status (code, msg), its newest good backup
 * (repo-key key; 0: any) and their count.  prefix names the repository
 * when there are several.
 */
static void repo_lines(struct buf *out, const char *indent, const char *prefix, json_t *backups,
                       long long key, long long code, const char *msg, long long now,
                       const struct schedule *sc, bool *bad, json_t *facts)
{
	json_t *newest = NULL, *b;
	size_t i, count = 0;

	json_array_foreach(backups, i, b)
	{
		if (key && json_integer_value(
		               json_object_get(json_object_get(b, "database"), "repo-key")) != key)
			continue;
		count++;
		if (json_is_true(json_object_get(b, "error")))
			continue;
		newest = b;
	}
	if (code != 0 && code != 2) {
		buf_addf(out, "%s%sbackups: FAILED: the repository: %s\n", indent, prefix,
		         msg ? msg : "unknown error");
		*bad = true;
		/* one of several: that is all there is to say of it */
		if (!newest && *prefix)
			return;
	}
	if (!newest) {
		struct buf in = BUF_INIT;
		buf_addf(&in, "%s%s", indent, prefix);
		none_yet(out, in.s, sc, bad);
		buf_release(&in);
	} else {
		json_t *ts = json_object_get(newest, "timestamp");
		long long stop = json_integer_value(json_object_get(ts, "stop"));
		if (facts)
			json_object_set_new(
			    facts, "last_backup",
			    json_pack("{s:s?, s:s?, s:I}", "label",
			              json_string_value(json_object_get(newest, "label")), "type",
			              json_string_value(json_object_get(newest, "type")),
			              "age_seconds",
			              (json_int_t)(now - stop > 0 ? now - stop : 0)));
		buf_addf(out, "%s%slast good backup: %s (%s), ", indent, prefix,
		         json_string_value(json_object_get(newest, "label")),
		         json_string_value(json_object_get(newest, "type")));
		age(out, now - stop);
		buf_addf(out, " ago; %zu in the repository\n", count);
	}
}

/* The newest backup of pgBackRest's info JSON and the stanza's status, per repository. */
static void info_lines(struct buf *out, const char *indent, const char *json, long long now,
                       const struct schedule *sc, bool *bad, json_t *facts)
{
	json_error_t je;
	json_t *root = json_loads(json, 0, &je), *st = json_array_get(root, 0);
	json_t *status = json_object_get(st, "status"), *backups = json_object_get(st, "backup");
	json_t *repos = json_object_get(st, "repo"), *r;
	size_t i;

	if (!st) {
		buf_addf(out, "%sbackups: FAILED: unreadable repository information\n", indent);
		*bad = true;
		json_decref(root);
		return;
	}
	if (json_array_size(repos) < 2) {
		const char *rmsg = json_string_value(json_object_get(
		    json_object_get(json_array_get(repos, 0), "status"), "message"));
		repo_lines(out, indent, "", backups, 0,
		           json_integer_value(json_object_get(status, "code")),
		           rmsg ? rmsg : json_string_value(json_object_get(status, "message")), now,
		           sc, bad, facts);
		if (facts)
			json_object_set_new(facts, "backups",
			                    json_integer((json_int_t)json_array_size(backups)));
		json_decref(root);
		return;
	}
	/* each repository's health and age on its own */
	json_array_foreach(repos, i, r)
	{
		json_t *rs = json_object_get(r, "status");
		long long key = json_integer_value(json_object_get(r, "key"));
		char prefix[32];
		json_t *rf = facts ? json_pack("{s:I}", "repo", (json_int_t)key) : NULL;
		bool rbad = false;

		snprintf(prefix, sizeof(prefix), "repository %lld: ", key);
		repo_lines(out, indent, prefix, backups, key,
		           json_integer_value(json_object_get(rs, "code")),
		           json_string_value(json_object_get(rs, "message")), now, sc, &rbad, rf);
		*bad = *bad || rbad;
		if (rf) {
			json_object_set_new(rf, "ok", json_boolean(!rbad));
			if (!json_object_get(facts, "repositories"))
				json_object_set_new(facts, "repositories", json_array());
			json_array_append_new(json_object_get(facts, "repositories"), rf);
			/* the first repository's newest is the layout's last backup */
			if (!json_object_get(facts, "last_backup") &&
			    json_object_get(rf, "last_backup"))
				json_object_set(facts, "last_backup",
				                json_object_get(rf, "last_backup"));
		}
	}
	if (facts)
		json_object_set_new(facts, "backups",
		                    json_integer((json_int_t)json_array_size(backups)));
	json_decref(root);
}

int backup_status(struct remote *r, const struct host *h, const char *indent, struct buf *out,
                  bool *bad, json_t *facts, struct pv_error *err)
{
	static const char script[] = HELPER " status\n";
	struct buf o;
	int st = -1;

	buf_init(&o, 1 << 20);
	if (remote_exec(r, converge_shell(h), script, strlen(script), &o, NULL, &st, err) < 0) {
		buf_release(&o);
		return -1;
	}
	backup_status_parse(o.s ? o.s : "", st, indent, out, bad, facts);
	buf_release(&o);
	return 0;
}

void backup_status_format(const char *text, int st, const char *indent, struct buf *out, bool *bad)
{
	backup_status_parse(text, st, indent, out, bad, NULL);
}

/* facts[key] as an object, made on first use (facts NULL: NULL). */
static json_t *fact_obj(json_t *facts, const char *key)
{
	json_t *o = facts ? json_object_get(facts, key) : NULL;

	if (facts && !o)
		json_object_set_new(facts, key, o = json_object());
	return o;
}

void backup_status_parse(const char *text, int st, const char *indent, struct buf *out, bool *bad,
                         json_t *facts)
{
	char *copy = xstrdup(text), *save = NULL;
	long long now = 0;
	/* a scratch server's timers are off by design */
	bool scratch = strstr(text, "\nS scratch\n") != NULL;
	struct schedule sc = {0, 0, false, false};

	*bad = false;
	if (st != 0 || !strstr(copy, "N ")) {
		buf_addf(out, "%sbackups: FAILED: the backup helper did not run (exit %d)\n",
		         indent, st);
		*bad = true;
	}
	for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char a[64] = "", b[64] = "", c[64] = "", d[64] = "";
		long long n1 = 0, t1 = 0, n2 = 0, t2 = 0;

		if (!strncmp(line, "N ", 2)) {
			now = atoll(line + 2);
		} else if (!strncmp(line, "U ", 2) &&
		           sscanf(line + 2, "%63s %63s %63s", a, b, c) == 3) {
			bool failed = !strcmp(b, "failed") || !strcmp(c, "failed");
			bool off = strcmp(c, "active") != 0;
			if ((!strcmp(a, "full") || !strcmp(a, "diff")) &&
			    (!strcmp(b, "active") || !strcmp(b, "activating")))
				sc.running = true;
			if (failed || (off && !scratch))
				*bad = true;
			if (facts)
				json_object_set_new(
				    fact_obj(facts, "timers"), a,
				    json_pack("{s:s, s:s}", "service", b, "timer", c));
			buf_addf(
			    out, "%sbackup timer %s: %s%s%s\n", indent, a,
			    failed ? "FAILED (the last run failed; journalctl -u provision-backup@"
			    : scratch ? (off ? "off (a scratch server)" : "active")
			    : off     ? "NOT ACTIVE"
			              : "active",
			    failed ? a : "", failed ? ".service)" : "");
		} else if (!strncmp(line, "T ", 2) &&
		           sscanf(line + 2, "%63s %lld %lld", a, &t1, &t2) == 3) {
			/* "T TYPE NEXT LAST": when the timer fires next, when it fired (0: never)
			 */
			long long next = t1, last = t2;
			if (next && (!sc.next || next < sc.next))
				sc.next = next;
			if (last > sc.last)
				sc.last = last;
			sc.known = sc.known || next || last;
		} else if (!strcmp(line, "S standby") || !strcmp(line, "S scratch")) {
			bool standby = line[2] == 's' && line[3] == 't';
			buf_addf(out, "%sbackups: %s\n", indent,
			         standby ? "a standby; the primary backs up"
			                 : "a scratch server for restore drills");
			if (facts)
				json_object_set_new(facts, "server", json_string(line + 2));
		} else if (!strncmp(line, "J ", 2)) {
			info_lines(out, indent, line + 2, now, &sc, bad, facts);
		} else if (!strncmp(line, "E ", 2)) {
			buf_addf(out, "%sbackups: FAILED: the repository cannot be read: %s\n",
			         indent, line + 2);
			*bad = true;
		} else if (!strncmp(line, "A ", 2) &&
		           sscanf(line + 2, "%lld %63s %lld %lld %63s %lld", &n1, a, &t1, &n2, d,
		                  &t2) == 6) {
			json_t *w = fact_obj(facts, "wal_archive");
			json_object_set_new(w, "archived", json_integer(n1));
			if (n1) {
				json_object_set_new(w, "last_segment", json_string(a));
				json_object_set_new(w, "age_seconds", json_integer(now - t1));
			}
			json_object_set_new(w, "failures",
			                    json_integer(n2 > 0 && t2 >= t1 ? n2 : 0));
			if (n2 > 0 && t2 >= t1) {
				json_object_set_new(w, "failing_since_segment", json_string(d));
				json_object_set_new(w, "failing_seconds", json_integer(now - t2));
			}
			if (n1 == 0)
				buf_addf(out, "%sWAL archive: nothing archived yet", indent);
			else {
				buf_addf(out, "%sWAL archive: last segment %s archived ", indent,
				         a);
				age(out, now - t1);
				buf_addf(out, " ago");
			}
			if (n2 > 0 && t2 >= t1) {
				buf_addf(out, "; FAILING since segment %s (", d);
				age(out, now - t2);
				buf_addf(out, " ago, %lld failures)", n2);
				*bad = true;
			}
			buf_addf(out, "\n");
		} else if (!strncmp(line, "G ", 2)) {
			/* backup_from: standby, the standbys streaming now */
			if (atoll(line + 2) > 0)
				buf_addf(out,
				         "%sbackups from a standby: %lld standby(s) streaming, "
				         "the data files are read there\n",
				         indent, atoll(line + 2));
			else
				buf_addf(out,
				         "%sbackups from a standby: WARNING: no standby streams; "
				         "backups are taken from the primary\n",
				         indent);
		} else if (!strncmp(line, "F ", 2) && sscanf(line + 2, "%lld %63s", &t1, a) == 2) {
			/* "F TIME standby ADDR..." or "F TIME primary" */
			const char *addrs = strstr(line + 2, " standby ");
			if (!strcmp(a, "standby") && addrs)
				buf_addf(out, "%slast backup taken from the standby %s, ", indent,
				         addrs + 9);
			else
				buf_addf(out,
				         "%slast backup taken from the primary (WARNING: no "
				         "standby could be read), ",
				         indent);
			age(out, now - t1);
			buf_addf(out, " ago\n");
		} else if (!strncmp(line, "R ", 2)) {
			buf_addf(out, "%sWAL archive lag: %s segment(s) waiting\n", indent,
			         line + 2);
			if (facts)
				json_object_set_new(facts, "waiting_segments",
				                    json_integer(strtoll(line + 2, NULL, 10)));
		}
	}
	free(copy);
}
