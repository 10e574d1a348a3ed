#!/usr/bin/env bash
# suite: extended (Patroni, etcd, HAProxy, PgBouncer, Caddy and Prometheus; make test-all)
# timeout: 1500 three hosts: Patroni with etcd, HAProxy with PgBouncer, Caddy, Prometheus
# The exporters of roles haproxy, pgbouncer, proxy (Caddy) and patroni
# (Patroni's REST API and etcd): the layout's monitoring server scrapes
# each (targets from the roles, checked through Prometheus' HTTP API);
# the new ports listen on the private address and are closed to this
# machine, which is not in the layout.  PgBouncer's metrics reach
# Prometheus through the node exporter, read as a stats user whose
# password (a secret) is in no command line or output, and who reaches no
# database.  Patroni's alert rules are
# loaded (DiskFull with the threshold the inventory sets), and Patroni
# stopped on the only member fires PatroniNoLeader.  fail2ban's jails are
# metrics of every host, and a jail whose ban count goes up and down more
# often than the inventory allows fires Fail2banJailFlapping.
# A second run changes nothing.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-monitoring.sh"

t_project <<'YML'
project: monx
secrets:
  repl_password: env:PV_TEST_REPL_PW
  su_password: env:PV_TEST_SU_PW
  db_password: env:PV_TEST_DB_PW
  bouncer_metrics: env:PV_TEST_BOUNCER_PW
vars:
  patroni_superuser_password: su_password
  postgres_replication_password: repl_password
  postgres_users: [{name: shop, password: db_password}]
  postgres_databases: [{name: shop, owner: shop}]
  monitoring_scrape_interval: 2
  monitoring_evaluation_interval: 2
  alert_disk_full_percent: 80
  alert_fail2ban_flaps_per_hour: 1
layouts:
  ex:
    servers:
      mon1: { roles: [base, ufw, monitoring] }
      lb1: { roles: [base, ufw, pgbouncer], vars: { haproxy_postgres: true, pgbouncer_metrics_password: bouncer_metrics } }
      pg1: { roles: [base, ufw, patroni, proxy], vars: { proxy_tls_internal: true } }
YML
t_uses ex
export PV_TEST_REPL_PW="repl-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')"
export PV_TEST_SU_PW="su-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')"
export PV_TEST_DB_PW="db-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')"
# what PgBouncer's user list and libpq's password file must carry as it is
export PV_TEST_BOUNCER_PW="b:'\"\\ x-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')"

t0=$(date +%s)
pv up ex >"$WORK/up1" 2>&1 || {
	bail "up failed: $(grep -A 15 "^ *failed " "$WORK/up1" | head -n 40)"
}
pass "up converges a monitoring server, a Patroni node and a load balancer ($(($(date +%s) - t0)) s)"
st=$WORK/.provision/state.json
addr() { jq -r ".environments.default.layouts.ex.hosts.$1.address" "$st"; }
MON_ADDR=$(addr mon1)
bridge=$(jq -r '.environments.default.layouts.ex.provider_data.bridge_address' "$st")

want=$(printf '%s\n' "alertmanager mon1 up" "blackbox mon1 up" "node mon1 up" "node lb1 up" "node pg1 up" \
	"prometheus mon1 up" "haproxy lb1 up" "caddy pg1 up" "patroni pg1 up" "etcd pg1 up" | sort)
check "Prometheus has every expected target up: $(echo "$want" | tr '\n' ';')" mon_targets_are "$want"
# each exporter says something of its own service, not only that it answers
for q in "haproxy_process_start_time_seconds" "pgbouncer_pools_cl_active" "pgbouncer_stats_total_xact_count" \
	"caddy_admin_http_requests_total" "patroni_master" "etcd_server_has_leader"; do
	got=$(mon_query "count by (instance) ($q)" | tr '\n' ';')
	check "Prometheus has $q: $got" test -n "$got"
done
bup=$(mon_query pgbouncer_up | tr '\n' ';')
check "PgBouncer answers its stats user: pgbouncer_up $bup" test "$bup" = "lb1 1;"
lead=$(mon_query patroni_master | tr '\n' ';')
check "pg1 leads, as its /metrics say: $lead" test "$lead" = "pg1 1;"

# the PgBouncer metrics' user: SHOW on the console, no database
show=$(printf '%s' "$PV_TEST_BOUNCER_PW" | "$PROVISION" -i "$WORK/inventory.yml" ssh lb1 -- \
	"PGPASSWORD=\$(cat) psql -X -w -tA -h 127.0.0.1 -p 6432 -U metrics -d pgbouncer -c 'show version'" 2>&1)
check "the stats user may run SHOW on PgBouncer's console: $show" sh -c "printf '%s' \"\$1\" | grep -q PgBouncer" _ "$show"
nodb=$(printf '%s' "$PV_TEST_BOUNCER_PW" | "$PROVISION" -i "$WORK/inventory.yml" ssh lb1 -- \
	"PGPASSWORD=\$(cat) psql -X -w -tA -h 127.0.0.1 -p 6432 -U metrics -d shop -c 'select 1'" 2>&1)
check "it reaches no database: $nodb" sh -c "! printf '%s' \"\$1\" | grep -qx 1" _ "$nodb"
admin=$(printf '%s' "$PV_TEST_BOUNCER_PW" | "$PROVISION" -i "$WORK/inventory.yml" ssh lb1 -- \
	"PGPASSWORD=\$(cat) psql -X -w -tA -h 127.0.0.1 -p 6432 -U metrics -d pgbouncer -c 'pause'" 2>&1)
check "it may not run admin commands: $admin" sh -c "printf '%s' \"\$1\" | grep -q 'admin access needed'" _ "$admin"
check "lb1: the password is in no unit, script or command line" \
	sh -c "! '$PROVISION' -i '$WORK/inventory.yml' ssh lb1 -- 'sudo -n sh -c \"systemctl cat provision-pgbouncer-metrics.service; cat /usr/local/lib/provision/pgbouncer-metrics.sh; ps -eo args\"' | grep -aF -- \"\$PV_TEST_BOUNCER_PW\""
check "lb1: the password file is root's only" \
	test "$(on_host lb1 'stat -c "%a %U %G" /etc/pgbouncer/metrics.pgpass')" = "600 root root"
check "the output never shows the password" sh -c "! grep -aF -- \"\$PV_TEST_BOUNCER_PW\" '$WORK/up1'"

# Nothing but the monitoring server reaches the new ports.
for hp in lb1:8405 pg1:9180 pg1:8008 pg1:2379; do
	h=${hp%:*} p=${hp#*:}
	check "mon1 reaches $h:$p (the control)" reach mon1 "$(addr $h):$p"
	check "closed from this machine: $h:$p" closed here "$(addr $h):$p"
done
for hp in lb1:8405 pg1:9180; do
	h=${hp%:*} p=${hp#*:}
	l=$(on_host $h "ss -Hltn 'sport = :$p'" | awk '{print $4}' | tr '\n' ' ')
	check "$h: port $p listens on the private address only: $l" test "$l" = "$(addr $h):$p "
done
l=$(on_host pg1 "ss -Hltn 'sport = :2019'" | awk '{print $4}' | tr '\n' ' ')
check "pg1: Caddy's admin API stays on localhost: $l" test "$l" = "127.0.0.1:2019 "

rules=$(on_host mon1 "curl -sf http://$MON_ADDR:9090/api/v1/rules" | jq -r '.data.groups[].rules[].name' | sort | tr '\n' ' ')
check "the alert rules of Patroni, PgBouncer and fail2ban are loaded: $rules" \
	sh -c "for r in PatroniNoLeader PatroniFailover PgBouncerDown PgBouncerClientsWaiting Fail2banJailFlapping Fail2banDown; do echo '$rules' | grep -qw \$r || exit 1; done"
disk=$(on_host mon1 "curl -sf http://$MON_ADDR:9090/api/v1/rules" | jq -r '.data.groups[].rules[] | select(.name == "DiskFull") | .query')
check "DiskFull has the inventory's threshold (80 %): $disk" sh -c "printf '%s' \"\$1\" | grep -q '> 80 / 100\$'" _ "$disk"
firing() { on_host mon1 "curl -sf http://$MON_ADDR:9090/api/v1/alerts" | jq -r '.data.alerts[] | select(.state == "firing") | .labels.alertname' | sort -u; }
check "PatroniNoLeader does not fire while pg1 leads" sh -c "! printf '%s\n' '$(firing)' | grep -qx PatroniNoLeader"

pvj up ex >"$WORK/up2.json" 2>"$WORK/up2.err" || bail "second up failed: $(json_errors "$WORK/up2.json" "$WORK/up2.err")"
check "second run: 0 changed ($(json_resources "$WORK/up2.json" changed | tr '\n' ' '))" \
	test "$(json_total "$WORK/up2.json" changed)" = 0

# fail2ban: every host's sshd jail, through the textfile collector
query_line() { mon_query "$1" | tr '\n' ';'; }
check "each host's sshd jail is a metric" mon_until "lb1 0;mon1 0;pg1 0;" query_line 'fail2ban_jail_banned{jail="sshd"}'
# an unused address of the test network banned, read, unbanned, read:
# two changes in the hour, more than the inventory's 1
ban() { on_host lb1 "fail2ban-client set sshd $1 ${bridge%.*}.250 >/dev/null && systemctl start provision-fail2ban-metrics.service"; }
ban banip || bail "cannot ban an address on lb1"
check "the ban is seen" mon_until "lb1 1;" query_line 'fail2ban_jail_banned{jail="sshd",instance="lb1"}'
ban unbanip || bail "cannot unban it on lb1"
check "the unban is seen" mon_until "lb1 0;" query_line 'fail2ban_jail_banned{jail="sshd",instance="lb1"}'
flapping() { on_host mon1 "curl -sf http://$MON_ADDR:9090/api/v1/alerts" | jq -r '.data.alerts[] | select(.state == "firing") | "\(.labels.alertname) \(.labels.instance)"' | sort -u; }
f2b_firing() { flapping | grep Fail2ban; }
check "Fail2banJailFlapping fires for lb1 and no other host" mon_until "Fail2banJailFlapping lb1" f2b_firing

# Patroni stopped on its only member: no leader (for: 1m).
on_host pg1 "systemctl stop patroni" || bail "cannot stop Patroni on pg1"
noleader() { firing | grep -qx PatroniNoLeader; }
t0=$(date +%s)
ok=
for i in $(seq 1 60); do noleader && { ok=1; break; }; sleep 3; done
echo "# PatroniNoLeader fired after about $(($(date +%s) - t0)) s"
check "PatroniNoLeader fires with Patroni stopped" test -n "$ok"
