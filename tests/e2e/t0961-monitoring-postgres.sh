#!/usr/bin/env bash
# suite: extended (three hosts with PostgreSQL and Prometheus; make test-all)
# timeout: 1500 three hosts with PostgreSQL and Prometheus from Debian's packages
# The postgres exporter of role postgres on a primary and its standby:
# scraped by the layout's monitoring server (targets from the roles), it
# logs in as a user with pg_monitor only, whose password (a secret) is in
# no command line, environment file or output; it listens on the private
# address, closed to this machine.  PostgreSQL stopped on the primary
# leaves the standby without a stream: StandbyNotStreaming reaches the
# webhook.  A second run changes nothing.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-monitoring.sh"

inventory() { # $1: more layout vars
	cat <<YML
project: monpg
secrets:
  repl_password: env:PV_TEST_REPL_PW
  metrics_password: env:PV_TEST_METRICS_PW
vars:
  postgres_replication_password: repl_password
  postgres_exporter_password: metrics_password
  monitoring_scrape_interval: 2
  monitoring_evaluation_interval: 2
  alertmanager_group_wait: 1
layouts:
  db:
    vars: { $1 }
    servers:
      mon1: { roles: [base, ufw, monitoring] }
      pg1: { roles: [base, ufw, postgres] }
      pg2: { roles: [base, ufw, postgres-replica] }
YML
}
t_project < <(inventory "")
t_uses db
export PV_TEST_REPL_PW="repl-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')"
# what the password file and libpq must carry as it is: quotes, a backslash, a space
export PV_TEST_METRICS_PW="m'\"\\ x-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')"

t0=$(date +%s)
pv up db >"$WORK/up1" 2>&1 || {
	for h in pg1 pg2; do on_host $h "systemctl status --no-pager prometheus-postgres-exporter; journalctl -u prometheus-postgres-exporter --no-pager | tail -n 15; systemctl cat prometheus-postgres-exporter" 2>&1 | sed "s/^/$h: /"; done
	bail "up failed: $(grep -A 15 "^ *failed " "$WORK/up1" | head -n 40)"
}
pass "up converges a monitoring server, a primary and a standby ($(($(date +%s) - t0)) s)"
st=$WORK/.provision/state.json
addr() { jq -r ".environments.default.layouts.db.hosts.$1.address" "$st"; }
bridge=$(jq -r '.environments.default.layouts.db.provider_data.bridge_address' "$st")
MON_ADDR=$(addr mon1)

want=$(printf '%s\n' "alertmanager mon1 up" "blackbox mon1 up" "node mon1 up" "node pg1 up" \
	"node pg2 up" "postgres pg1 up" "postgres pg2 up" "prometheus mon1 up" | sort)
check "Prometheus has every expected target up: $(echo "$want" | tr '\n' ';')" mon_targets_are "$want"
pgup=$(mon_query pg_up | tr '\n' ';')
check "the exporters log in to PostgreSQL: pg_up $pgup" test "$pgup" = "pg1 1;pg2 1;"
streaming=$(mon_query pg_standby_streaming | tr '\n' ';')
check "the standby streams: pg_standby_streaming $streaming" test "$streaming" = "pg1 0;pg2 1;"

# least privilege: statistics, no superuser, no writes
priv=$(on_host pg1 "cd / && runuser -u postgres -- psql -X -tA -d postgres -c \"select rolsuper::text || rolcreatedb::text || rolcreaterole::text || rolreplication::text || pg_has_role('metrics', 'pg_monitor', 'member')::text from pg_roles where rolname = 'metrics'\"")
check "the exporter's user has pg_monitor and nothing more ($priv)" test "$priv" = falsefalsefalsefalsetrue
write=$(printf '%s' "$PV_TEST_METRICS_PW" | "$PROVISION" -i "$WORK/inventory.yml" ssh pg1 -- \
	"PGPASSWORD=\$(cat) psql -X -w -tA -h 127.0.0.1 -U metrics -d postgres -c 'create table t0961 (i int)'" 2>&1)
check "it cannot create a table: $write" sh -c "printf '%s' \"\$1\" | grep -q 'permission denied'" _ "$write"
for h in pg1 pg2; do
	check "$h: the password is in no environment file or command line" \
		sh -c "! '$PROVISION' -i '$WORK/inventory.yml' ssh $h -- 'sudo -n sh -c \"cat /etc/default/prometheus-postgres-exporter; ps -eo args; cat /proc/\$(pgrep -f postgres_exporter | head -n 1)/environ\"' | grep -aF -- \"\$PV_TEST_METRICS_PW\""
	check "$h: the password file is the exporter's only" \
		test "$(on_host $h 'stat -c "%a %U %G" /etc/prometheus/postgres-exporter.pgpass')" = "600 prometheus prometheus"
	check "$h: the exporter listens on the private address only" \
		test "$(on_host $h "ss -Hltn 'sport = :9187'" | awk '{print $4}')" = "$(addr $h):9187"
	check "$h: closed from this machine" closed here "$(addr $h):9187"
done
check "the output never shows the password" sh -c "! grep -aF -- \"\$PV_TEST_METRICS_PW\" '$WORK/up1'"

receiver_start "$bridge" 9798 "$WORK/alerts.log"
inventory "alertmanager_webhook_url: \"http://$bridge:9798/alerts\"" >"$WORK/inventory.yml"
pv up db >"$WORK/up2" 2>&1 || bail "up with the webhook failed: $(tail -n 30 "$WORK/up2")"
pvj up db >"$WORK/up3.json" 2>"$WORK/up3.err" || bail "third up failed: $(json_errors "$WORK/up3.json" "$WORK/up3.err")"
check "second run: 0 changed ($(json_resources "$WORK/up3.json" changed | tr '\n' ' '))" \
	test "$(json_total "$WORK/up3.json" changed)" = 0

# PostgreSQL stopped on the primary: the standby's stream ends.
t0=$(date +%s.%N)
on_host pg1 "systemctl stop postgresql@15-main" || bail "cannot stop PostgreSQL on pg1"
got=$(wait_alert "$WORK/alerts.log" 240 '"status":"firing".*"alertname":"StandbyNotStreaming"[^}]*"instance":"pg2"')
secs=never
[ -z "$got" ] || secs=$(echo "$got - $t0" | bc)
echo "# StandbyNotStreaming for pg2 reached the webhook after $secs s"
check "StandbyNotStreaming for pg2 reaches the webhook (after $secs s)" test -n "$got"
check "PostgresDown for pg1 reached it too" grep -Eq '"alertname":"PostgresDown"[^}]*"instance":"pg1"' "$WORK/alerts.log"
