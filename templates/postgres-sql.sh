{# format: shell #}
#!/bin/sh
# postgres-sql.sh ACTION: one idempotent step on the local PostgreSQL,
# with its values in the environment (PV_NAME, PV_PW, PV_DB, ...), read by
# psql's \getenv and quoted by PostgreSQL itself: no value is ever part of
# a command line.  Written by provision (role postgres).
set -e
# Its statements commit locally: with postgres_synchronous set and no
# standby connected (the standby's first converge needs the replication
# role made here; a standby that is down), a commit that waited for one
# would wait for ever.  The standby receives them when it connects.
q() {
	PGOPTIONS='-c synchronous_commit=local' runuser -u postgres -- psql -X -q -tA -v ON_ERROR_STOP=1 -d postgres
}
case $1 in
role)
	q <<'SQL'
\getenv name PV_NAME
\getenv pw PV_PW
\getenv repl PV_REPL
-- the statement below carries the password: keep it out of the server log
-- even when it fails (the default logs a failed statement's text)
SET log_statement = 'none';
SET log_min_error_statement = 'panic';
SELECT format('CREATE ROLE %I', :'name')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'name') \gexec
SELECT format('ALTER ROLE %I LOGIN %s PASSWORD %L', :'name',
       CASE WHEN :'repl' = 'on' THEN 'REPLICATION' ELSE 'NOREPLICATION' END, :'pw') \gexec
SQL
	;;
database)
	q <<'SQL'
\getenv db PV_DB
\getenv owner PV_OWNER
SELECT format('CREATE DATABASE %I OWNER %I', :'db', :'owner')
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'db') \gexec
SELECT format('ALTER DATABASE %I OWNER TO %I', :'db', :'owner') \gexec
SQL
	;;
has-database)
	q <<'SQL' | grep -qx 1
\getenv db PV_DB
\getenv owner PV_OWNER
SELECT 1 FROM pg_database d JOIN pg_roles r ON r.oid = d.datdba
 WHERE d.datname = :'db' AND r.rolname = :'owner';
SQL
	;;
slot)
	q <<'SQL' >/dev/null
\getenv slot PV_SLOT
SELECT pg_create_physical_replication_slot(:'slot')
 WHERE NOT EXISTS (SELECT FROM pg_replication_slots WHERE slot_name = :'slot');
SQL
	;;
has-slot)
	q <<'SQL' | grep -qx 1
\getenv slot PV_SLOT
SELECT 1 FROM pg_replication_slots WHERE slot_name = :'slot';
SQL
	;;
monitor-role)
	# the postgres exporter's login: reads statistics (pg_monitor), nothing else
	q <<'SQL'
\getenv name PV_NAME
\getenv pw PV_PW
SET log_statement = 'none';
SET log_min_error_statement = 'panic';
SELECT format('CREATE ROLE %I', :'name')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'name') \gexec
SELECT format('ALTER ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION PASSWORD %L',
       :'name', :'pw') \gexec
SELECT format('GRANT pg_monitor TO %I', :'name') \gexec
SQL
	;;
*)
	echo "postgres-sql.sh: unknown action '$1'" >&2
	exit 2
	;;
esac
