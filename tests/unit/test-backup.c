/*
 * test-backup.c - what 'provision status' says about a server's backups,
 * from the helper's status lines: a good repository, a failed timer, a
 * store that cannot be read, WAL archiving failing, no backup yet; two
 * repositories, each with its own health and age.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "provision/backup.h"

static const char good_info[] =
    "J [{\"name\":\"main\",\"status\":{\"code\":0,\"message\":\"ok\"},"
    "\"backup\":[{\"label\":\"20260101-010000F\",\"type\":\"full\","
    "\"timestamp\":{\"start\":1767229200,\"stop\":1767229260}},"
    "{\"label\":\"20260101-010000F_20260102-010000D\",\"type\":\"diff\","
    "\"timestamp\":{\"start\":1767315600,\"stop\":1767315630}}]}]\n";

static void fmt(const char *text, int st, struct buf *out, bool *bad)
{
	buf_init(out, 4096);
	backup_status_format(text, st, "", out, bad);
}

static void test_good(void)
{
	struct buf out;
	bool bad = true;
	char text[4096];

	snprintf(text, sizeof(text),
	         "N 1767319230\nU full inactive active\nU diff inactive active\n%s"
	         "A 120 000000010000000000000009 1767319200 0 - 0\nR 0\n",
	         good_info);
	fmt(text, 0, &out, &bad);
	CHECK(!bad);
	CHECK_HAS(out.s, "backup timer full: active\n");
	/* the newest backup, 3600 s after it stopped */
	CHECK_HAS(out.s, "last good backup: 20260101-010000F_20260102-010000D (diff), 60 min ago; "
	                 "2 in the repository\n");
	CHECK_HAS(out.s, "WAL archive: last segment 000000010000000000000009 archived 30 s ago\n");
	CHECK_HAS(out.s, "WAL archive lag: 0 segment(s) waiting\n");
	CHECK(!strstr(out.s, "FAILED"));
	buf_release(&out);
}

/* The facts behind the lines, for --json: the same run as test_good. */
static void test_facts(void)
{
	struct buf out;
	bool bad = true;
	char text[4096];
	json_t *f = json_object();

	snprintf(text, sizeof(text),
	         "N 1767319230\nU full inactive active\nU diff failed active\n%s"
	         "A 120 000000010000000000000009 1767319200 3 00000001000000000000000A "
	         "1767319210\nR 2\n",
	         good_info);
	buf_init(&out, 4096);
	backup_status_parse(text, 0, "", &out, &bad, f);
	CHECK(bad);
	char *s = json_dumps(f, JSON_COMPACT | JSON_SORT_KEYS);
	CHECK_STR(s, "{\"backups\":2,\"last_backup\":{\"age_seconds\":3600,\"label\":"
	             "\"20260101-010000F_20260102-010000D\",\"type\":\"diff\"},\"timers\":{"
	             "\"diff\":{\"service\":\"failed\",\"timer\":\"active\"},\"full\":{"
	             "\"service\":\"inactive\",\"timer\":\"active\"}},\"waiting_segments\":2,"
	             "\"wal_archive\":{\"age_seconds\":30,\"archived\":120,\"failing_seconds\":20,"
	             "\"failing_since_segment\":\"00000001000000000000000A\",\"failures\":3,"
	             "\"last_segment\":\"000000010000000000000009\"}}");
	free(s);
	json_decref(f);
	buf_release(&out);
}

static void test_failed_timer(void)
{
	struct buf out;
	bool bad = false;
	char text[4096];

	snprintf(text, sizeof(text),
	         "N 1767319230\nU full failed active\nU diff inactive active\n%s", good_info);
	fmt(text, 0, &out, &bad);
	CHECK(bad);
	CHECK_HAS(out.s, "backup timer full: FAILED");
	CHECK_HAS(out.s, "backup timer diff: active\n");
	buf_release(&out);

	fmt("N 1\nU full inactive inactive\n", 0, &out, &bad);
	CHECK(bad);
	CHECK_HAS(out.s, "backup timer full: NOT ACTIVE\n");
	buf_release(&out);
}

static void test_scratch_timers_off(void)
{
	struct buf out;
	bool bad = true;

	/* a scratch server: its timers are off by design, not a failure */
	fmt("N 1\nU full inactive inactive\nU diff inactive inactive\nS scratch\n", 0, &out, &bad);
	CHECK(!bad);
	CHECK_HAS(out.s, "backup timer full: off (a scratch server)\n");
	CHECK_HAS(out.s, "backups: a scratch server for restore drills\n");
	CHECK(!strstr(out.s, "NOT ACTIVE"));
	buf_release(&out);

	/* a failed run still fails there */
	fmt("N 1\nU full failed inactive\nU diff inactive inactive\nS scratch\n", 0, &out, &bad);
	CHECK(bad);
	CHECK_HAS(out.s, "backup timer full: FAILED");
	buf_release(&out);
}

static void test_store_broken(void)
{
	struct buf out;
	bool bad = false;

	fmt("N 1\nU full inactive active\nE ERROR: [039]: HTTP request failed with 404\n", 0, &out,
	    &bad);
	CHECK(bad);
	CHECK_HAS(out.s, "backups: FAILED: the repository cannot be read: ERROR: [039]");
	buf_release(&out);

	fmt("N 1\nJ [{\"name\":\"main\",\"status\":{\"code\":99,\"message\":\"other\"},"
	    "\"repo\":[{\"key\":1,\"status\":{\"code\":99,\"message\":\"[039]: NoSuchBucket\"}}],"
	    "\"backup\":[]}]\n",
	    0, &out, &bad);
	CHECK(bad);
	CHECK_HAS(out.s, "backups: FAILED: the repository: [039]: NoSuchBucket\n");
	CHECK_HAS(out.s, "backups: FAILED: none yet\n");
	buf_release(&out);
}

/* No backup yet: not a failure before the first one is due. */
static void test_none_yet(void)
{
	static const char empty[] =
	    "J [{\"name\":\"main\",\"status\":{\"code\":2,\"message\":\"no valid backups\"},"
	    "\"backup\":[]}]\n";
	struct buf out;
	bool bad = true;
	char text[4096];

	/* right after up: the timers wait for their first time (Sun 2026-01-04 01:30) */
	snprintf(text, sizeof(text),
	         "N 1767319230\nU full inactive active\nU diff inactive active\n"
	         "T full 1767490200 0\n"
	         "T diff 1767576600 0\n%s",
	         empty);
	fmt(text, 0, &out, &bad);
	CHECK(!bad);
	CHECK_HAS(out.s, "backups: none yet (first scheduled 2026-01-04 01:30 UTC)\n");
	CHECK(!strstr(out.s, "FAILED"));
	buf_release(&out);

	/* the first one runs now */
	snprintf(text, sizeof(text),
	         "N 1767319230\nU full activating active\nU diff inactive active\n"
	         "T full 1767490200 1767319200\n%s",
	         empty);
	fmt(text, 0, &out, &bad);
	CHECK(!bad);
	CHECK_HAS(out.s, "backups: none yet (the first one is running)\n");
	buf_release(&out);

	/* a timer fired and there is still none: overdue */
	bad = false;
	snprintf(text, sizeof(text),
	         "N 1767319230\nU full inactive active\nU diff inactive active\n"
	         "T full 1767490200 1767231000\n"
	         "T diff 1767576600 0\n%s",
	         empty);
	fmt(text, 0, &out, &bad);
	CHECK(bad);
	CHECK_HAS(out.s, "backups: FAILED: none, although one was due at 2026-01-01 01:30 UTC");
	buf_release(&out);

	/* a helper that cannot say when the timers fire: as before, a failure */
	bad = false;
	snprintf(text, sizeof(text), "N 1767319230\nU full inactive active\nT full 0 0\n%s", empty);
	fmt(text, 0, &out, &bad);
	CHECK(bad);
	CHECK_HAS(out.s, "backups: FAILED: none yet\n");
	buf_release(&out);
}

static void test_archive_failing(void)
{
	struct buf out;
	bool bad = false;
	char text[4096];

	snprintf(text, sizeof(text),
	         "N 1767319230\n%sA 120 000000010000000000000009 1767319200 4 "
	         "00000001000000000000000A 1767319000\nR 0\n",
	         good_info);
	/* an old failure (before the last success) is not failing */
	fmt(text, 0, &out, &bad);
	CHECK(!bad);
	buf_release(&out);
	snprintf(text, sizeof(text),
	         "N 1767319230\n%sA 120 000000010000000000000009 1767319000 4 "
	         "00000001000000000000000A 1767319220\nR 3\n",
	         good_info);
	fmt(text, 0, &out, &bad);
	CHECK(bad);
	CHECK_HAS(out.s, "FAILING since segment 00000001000000000000000A (10 s ago, 4 failures)");
	CHECK_HAS(out.s, "WAL archive lag: 3 segment(s) waiting\n");
	buf_release(&out);
}

static void test_helper_missing(void)
{
	struct buf out;
	bool bad = false;

	fmt("sh: 0: cannot open /usr/local/lib/provision/backup.sh\n", 2, &out, &bad);
	CHECK(bad);
	CHECK_HAS(out.s, "backups: FAILED: the backup helper did not run (exit 2)");
	buf_release(&out);
}

static void test_from_standby(void)
{
	struct buf out;
	bool bad = true;
	char text[4096];

	/* backup_from: standby, one streaming, the last backup read there */
	snprintf(
	    text, sizeof(text),
	    "N 1767319230\nU full inactive active\n%sR 0\nG 1\nF 1767319110 standby 10.0.0.3\n",
	    good_info);
	fmt(text, 0, &out, &bad);
	CHECK(!bad);
	CHECK_HAS(out.s, "backups from a standby: 1 standby(s) streaming, the data files are read "
	                 "there\n");
	CHECK_HAS(out.s, "last backup taken from the standby 10.0.0.3, 2 min ago\n");
	CHECK(!strstr(out.s, "WARNING"));
	buf_release(&out);

	/* none streaming: taken from the primary, a warning (the backup itself is good) */
	snprintf(text, sizeof(text),
	         "N 1767319230\nU full inactive active\n%sG 0\nF 1767319200 primary\n", good_info);
	fmt(text, 0, &out, &bad);
	CHECK(!bad);
	CHECK_HAS(out.s,
	          "backups from a standby: WARNING: no standby streams; backups are taken from "
	          "the primary\n");
	CHECK_HAS(
	    out.s,
	    "last backup taken from the primary (WARNING: no standby could be read), 30 s ago\n");
	buf_release(&out);
}

/* Two repositories: each its own newest backup and count; one failing is named. */
static void test_two_repos(void)
{
	static const char info[] =
	    "J [{\"name\":\"main\",\"status\":{\"code\":99,\"message\":\"other\"},"
	    "\"repo\":[{\"key\":1,\"status\":{\"code\":99,\"message\":\"[HostConnectError] "
	    "unable to connect\"}},{\"key\":2,\"status\":{\"code\":0,\"message\":\"ok\"}}],"
	    "\"backup\":[{\"label\":\"20260101-010000F\",\"type\":\"full\","
	    "\"database\":{\"id\":1,\"repo-key\":2},"
	    "\"timestamp\":{\"start\":1767229200,\"stop\":1767229260}},"
	    "{\"label\":\"20260101-020000F\",\"type\":\"full\","
	    "\"database\":{\"id\":1,\"repo-key\":2},"
	    "\"timestamp\":{\"start\":1767232800,\"stop\":1767232860}}]}]\n";
	struct buf out;
	bool bad = false;
	char text[4096];

	snprintf(text, sizeof(text),
	         "N 1767319230\nU full inactive active\nU diff inactive active\n%s"
	         "A 120 000000010000000000000009 1767319200 0 - 0\nR 0\n",
	         info);
	fmt(text, 0, &out, &bad);
	CHECK(bad);
	CHECK_HAS(out.s, "repository 1: backups: FAILED: the repository: [HostConnectError] "
	                 "unable to connect\n");
	CHECK_HAS(out.s, "repository 2: last good backup: 20260101-020000F (full), 23 h ago; 2 in "
	                 "the repository\n");
	CHECK(!strstr(out.s, "repository 2: backups: FAILED"));
	/* a repository that cannot be read has no "none yet" line besides */
	CHECK(!strstr(out.s, "repository 1: backups: none yet"));
	buf_release(&out);
}

int main(void)
{
	RUN(test_good);
	RUN(test_facts);
	RUN(test_failed_timer);
	RUN(test_scratch_timers_off);
	RUN(test_store_broken);
	RUN(test_none_yet);
	RUN(test_archive_failing);
	RUN(test_helper_missing);
	RUN(test_from_standby);
	RUN(test_two_repos);
	return check_done("test-backup");
}
