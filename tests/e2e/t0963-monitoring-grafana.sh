#!/usr/bin/env bash
# timeout: 1800 one host: Prometheus, PostgreSQL and HAProxy from Debian's packages; Grafana's own repository is out of reach
# monitoring_ui: grafana.  Grafana's apt repository cannot be reached from
# the test hosts (only Debian's archive is), so Grafana itself is NOT
# installed here: 'up' must stop at the step that fetches Grafana's
# signing key, say why, and leave Prometheus and Alertmanager converged.
# The key step itself runs on the host with key files made here: another
# key is refused; the pinned one, alone, goes into apt's keyring.
# What the role wrote before that step is checked on the host: the
# datasource is the layout's Prometheus, the dashboards parse as JSON and
# every metric they name is in Prometheus (the server runs PostgreSQL with
# its exporter and HAProxy too, so that their dashboards are checked on
# real exporters) or, for what this layout does not run (pgBackRest,
# Patroni, PgBouncer), named by a role's alert rules or queried live by
# the monitoring tests t0960-t0962.  The
# apt source (signed-by, only after the pinned key is in its keyring) is
# checked as 'plan' shows it.  A missing fingerprint is refused, and
# 'ui LAYOUT grafana' refuses a layout without Grafana.  Loki's and
# Promtail's files (grafana_loki) are checked the same way, and the
# received journals against the groups Promtail runs with.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-monitoring.sh"

FPR=B53AE77BADB630A683046005963FA27710458545
inventory() { # $1: more vars of mon1
	cat <<YML
project: graf
secrets:
  graf_pw: env:PV_TEST_GRAFANA_PW
  pg_metrics: env:PV_TEST_METRICS_PW
vars: { monitoring_scrape_interval: 2, monitoring_evaluation_interval: 2, postgres_exporter_password: pg_metrics }
layouts:
  g:
    servers:
      mon1: { roles: [base, ufw, postgres, haproxy, monitoring], vars: { $1 } }
YML
}
t_project < <(inventory "monitoring_ui: grafana, grafana_admin_password: graf_pw, grafana_repo_key_fingerprint: $FPR")
t_uses g
export PV_TEST_GRAFANA_PW="graf-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')"
export PV_TEST_METRICS_PW="m-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')"
echo "# Grafana's apt repository is not reachable from here: Grafana is not installed by this test"

t0=$(date +%s)
if pvj up g >"$WORK/up1.json" 2>"$WORK/up1.err"; then
	bail "up succeeded although Grafana's repository cannot be reached"
fi
why=$(json_errors "$WORK/up1.json" "$WORK/up1.err" | tr '\n' ' ')
echo "# up stopped after $(($(date +%s) - t0)) s: $why"
[ -s "$WORK/.provision/state.json" ] || bail "up failed before the hosts were made: $why"
check "up stops at Grafana's key and says why" \
	sh -c "printf '%s' \"\$1\" | grep -q \"cannot fetch Grafana's repository key from https://apt.grafana.com/gpg-full.key: Grafana is not installed\"" _ "$why"
failed=$(jq -r 'select(.event == "resource" and .status == "failed") | .resource' "$WORK/up1.json" | tr '\n' ';')
check "only that step failed: $failed" sh -c "test \"\$(printf '%s' \"\$1\" | tr -cd ';' | wc -c)\" = 1 && printf '%s' \"\$1\" | grep -q '^command'" _ "$failed"
check "the admin password is in no output" sh -c "! grep -qF \"\$PV_TEST_GRAFANA_PW\" '$WORK/up1.json' '$WORK/up1.err'"

st=$WORK/.provision/state.json
MON_ADDR=$(jq -r '.environments.default.layouts.g.hosts.mon1.address' "$st")
check "the rest converged: Prometheus is ready" on_host mon1 "curl -sf http://$MON_ADDR:9090/-/ready"
check "the rest converged: Alertmanager is ready" on_host mon1 "curl -sf http://$MON_ADDR:9093/-/ready"
check "no apt source for Grafana without its pinned key" on_host mon1 "test ! -e /etc/apt/sources.list.d/grafana.list && test ! -e /etc/apt/keyrings/grafana.gpg"
ufw=$(on_host mon1 "ufw status")
check "ufw opens nothing for Grafana" sh -c "printf '%s' \"\$1\" | grep -q '^Status: active' && ! printf '%s' \"\$1\" | grep -q 3000" _ "$ufw"

# The datasource: the layout's Prometheus.
ds=$(on_host mon1 "cat /etc/grafana/provisioning/datasources/provision.yaml")
check "the datasource is the layout's Prometheus (http://$MON_ADDR:9090)" \
	sh -c "printf '%s\n' \"\$1\" | grep -qx '    url: \"http://$MON_ADDR:9090\"'" _ "$ds"
check "the dashboards provider reads the shipped dashboards" \
	sh -c "printf '%s' \"\$1\" | grep -q 'path: /etc/grafana/provision-dashboards'" _ "$(on_host mon1 "cat /etc/grafana/provisioning/dashboards/provision.yaml")"

# Loki and Promtail (grafana_loki, on by default): their files, written
# before the key step; Loki itself cannot be installed here either.
check "the Loki datasource is Loki on the loopback" \
	sh -c "printf '%s\n' \"\$1\" | grep -A4 'name: Loki' | grep -qx '    url: \"http://127.0.0.1:3100\"'" _ "$ds"
on_host mon1 "cat /etc/loki/config.yml" >"$WORK/loki.yml"
on_host mon1 "cat /etc/promtail/config.yml" >"$WORK/promtail.yml"
yq() { python3 -c 'import sys, yaml, json; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))' "$1" | jq -r "$2"; }
check "Loki listens on the loopback only: $(yq "$WORK/loki.yml" '[.server.http_listen_address, .server.grpc_listen_address, .common.instance_addr] | join(" ")')" \
	test "$(yq "$WORK/loki.yml" '[.server.http_listen_address, .server.grpc_listen_address, .common.instance_addr] | unique | join(" ")')" = 127.0.0.1
check "Loki deletes logs after loki_retention_days (30d)" \
	test "$(yq "$WORK/loki.yml" '"\(.limits_config.retention_period) \(.compactor.retention_enabled)"')" = "30d true"
check "Promtail reads the received journals and pushes to Loki on the loopback" \
	test "$(yq "$WORK/promtail.yml" '"\(.scrape_configs[0].journal.path) \(.clients[0].url) \(.server.http_listen_address)"')" = "/var/log/journal/remote http://127.0.0.1:3100/loki/api/v1/push 127.0.0.1"
groups=$(on_host mon1 "sed -n 's/^SupplementaryGroups=//p' /etc/systemd/system/promtail.service.d/provision.conf" | tr ' ' ',')
# every server sends its journal here, mon1 too: at least one file
jf=$(on_host mon1 "find /var/log/journal/remote -name '*.journal' | head -n 1")
check "a received journal ($jf) is readable with Promtail's groups ($groups) and no other right" \
	on_host mon1 "test -n '$jf' && setpriv --reuid=nobody --regid=nogroup --groups=$groups --inh-caps=-all --bounding-set=-all sh -c 'ls /var/log/journal/remote >/dev/null && head -c 8 $jf' | grep -q LPKSHHRH"
check "nobody without those groups cannot read it" \
	on_host mon1 "test -n '$jf' && ! setpriv --reuid=nobody --regid=nogroup --clear-groups --inh-caps=-all --bounding-set=-all head -c 8 $jf 2>/dev/null | grep -q LPKSHHRH"

# The dashboards: JSON, on that datasource, naming metrics that exist.
# The handlers restarted Prometheus at the end of 'up': its targets are
# found and scraped a few seconds later.
want=$(printf '%s mon1 up\n' alertmanager blackbox haproxy node postgres prometheus)
check "Prometheus scrapes the layout's six targets: $(echo "$want" | tr '\n' ';')" mon_targets_are "$want"
sleep 3 # a second scrape of each, so that every series is in
prom_names=$(on_host mon1 "curl -sf http://$MON_ADDR:9090/api/v1/label/__name__/values" | jq -r '.data[]')
for d in hosts postgresql haproxy backups; do
	on_host mon1 "cat /etc/grafana/provision-dashboards/$d.json" >"$WORK/$d.json"
	check "dashboard $d parses as JSON and has panels" sh -c 'test -s "$1" && jq -e ".panels | length > 0" "$1"' _ "$WORK/$d.json"
	uids=$(jq -r '[.. | objects | select(has("datasource")) | .datasource.uid] | unique | join(" ")' "$WORK/$d.json")
	check "dashboard $d queries the provisioned datasource only ($uids)" test "$uids" = provision-prometheus
	jq -r '.panels[].targets[].expr' "$WORK/$d.json" | grep -oE '[a-zA-Z_:][a-zA-Z0-9_:]*\{' | tr -d '{' | sort -u >"$WORK/$d.names"
	live='' named='' missing=''
	while read -r m; do
		if printf '%s\n' "$prom_names" | grep -qx "$m"; then
			live="$live $m"
		elif grep -qw "$m" "$ROOT"/roles/*/role.yml "$ROOT"/tests/e2e/t096[012]-*.sh; then
			named="$named $m"
		else
			missing="$missing $m"
		fi
	done <"$WORK/$d.names"
	echo "# $d: in this layout's Prometheus:${live:- none}; named by a role's rules or queried live by t0960-t0962:${named:- none}; not produced here:${missing:- none}"
	check "every metric of dashboard $d is in Prometheus, named by a role's rules or seen live by t0960-t0962" test -n "$live$named" -a -z "$missing"
	case $d in
	hosts | postgresql | haproxy) check "dashboard $d has metrics this layout produces" test -n "$live" ;;
	esac
done

# The apt source as the role renders it: signed-by the pinned key's keyring.
pv plan g >"$WORK/plan" 2>&1
check "plan shows the apt source with signed-by" \
	grep -q 'deb \[signed-by=/etc/apt/keyrings/grafana.gpg\] https://apt.grafana.com stable main' "$WORK/plan"

# The key step, on the host with key files at hand instead of Grafana's:
# a key file without the pinned key is refused, and with a key pinned
# (a copy of the script pinning a key made here) only that key lands in
# the keyring.
KEYSH=/usr/local/lib/provision/grafana-repo-key.sh
check "the key step pins $FPR" on_host mon1 "grep -q $FPR $KEYSH"
on_host mon1 "export GNUPGHOME=\$(mktemp -d) && gpg --batch --quiet --pinentry-mode loopback --passphrase '' --quick-gen-key 'other <other@example.invalid>' ed25519 sign never 2>/dev/null && gpg --batch --armor --export >/root/other.asc && gpg --batch --with-colons --list-keys | awk -F: '/^fpr/ { print \$10; exit }' >/root/other.fpr" ||
	bail "cannot make a key on mon1"
other=$(on_host mon1 "cat /root/other.fpr")
refused=$(on_host mon1 "sh $KEYSH /root/other.asc; echo rc=\$?; test -e /etc/apt/keyrings/grafana.gpg && echo written")
check "a key file without the pinned key is refused, nothing written: $(echo "$refused" | tr '\n' ' ')" \
	test "$refused" = "Grafana's repository key file has no key with the fingerprint $FPR: refused
rc=1"
kept=$(on_host mon1 "sed 's/$FPR/$other/' $KEYSH >/root/k.sh && sh /root/k.sh /root/other.asc && gpg --batch --show-keys --with-colons /etc/apt/keyrings/grafana.gpg | awk -F: '/^fpr/ { print \$10 }'; rm -f /etc/apt/keyrings/grafana.gpg")
check "with its key pinned, the keyring holds that key only ($kept)" test "$kept" = "$other"

# A missing fingerprint is refused before anything is fetched.
inventory "monitoring_ui: grafana, grafana_admin_password: graf_pw" >"$WORK/inventory.yml"
pvj up g >"$WORK/up2.json" 2>"$WORK/up2.err" && fail "up without the fingerprint succeeded"
check "up without grafana_repo_key_fingerprint says it is needed" \
	sh -c "grep -q 'monitoring_ui grafana needs grafana_repo_key_fingerprint' '$WORK/up2.json'"

# ui grafana on a layout without Grafana is an input error.
inventory "" >"$WORK/inventory.yml"
pv ui g grafana >"$WORK/ui" 2>&1
rc=$?
check "ui g grafana without Grafana exits 2: $(cat "$WORK/ui")" sh -c "test $rc = 2 && grep -q 'has no Grafana' '$WORK/ui'"
