/*
 * test-pgstatus.c - the lines 'provision status' shows for PostgreSQL, from
 * the object --json gives: a primary with standbys or none, a standby, a
 * database that does not answer.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "provision/pgstatus.h"

static char *fmt(const char *json)
{
	struct buf out;
	json_t *pg = json_loads(json, 0, NULL);

	buf_init(&out, 4096);
	pg_status_format(pg, "  ", &out);
	json_decref(pg);
	return buf_detach(&out, NULL);
}

static void test_primary(void)
{
	char *s = fmt("{\"role\": \"primary\", \"standbys\": [{\"name\": \"db2\", \"state\": "
	              "\"streaming\", \"sync\": \"quorum\", \"lag_bytes\": 128, \"lag_seconds\": "
	              "0.25}]}");
	CHECK_STR(
	    s,
	    "  postgres: primary\n    standby db2: streaming (quorum), lag 128 bytes, 0.250 s\n");
	free(s);
	s = fmt("{\"role\": \"primary\", \"standbys\": []}");
	CHECK_STR(s, "  postgres: primary\n    no standby connected\n");
	free(s);
}

static void test_standby(void)
{
	char *s = fmt("{\"role\": \"standby\", \"receiving\": {\"from\": \"10.0.0.1\", \"status\": "
	              "\"streaming\"}, \"unreplayed_bytes\": 0}");
	CHECK_STR(s, "  postgres: standby\n    receiving from 10.0.0.1: streaming\n"
	             "    received but not yet replayed: 0 bytes\n");
	free(s);
}

static void test_down(void)
{
	char *s = fmt("{\"role\": \"down\"}");
	CHECK_STR(s, "  postgres: not answering\n");
	free(s);
}

int main(void)
{
	RUN(test_primary);
	RUN(test_standby);
	RUN(test_down);
	return check_done("test-pgstatus");
}
