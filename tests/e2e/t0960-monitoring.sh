#!/usr/bin/env bash
# timeout: 1500 three hosts, Prometheus from Debian's packages, an alert after a minute
# Role monitoring on a layout: Prometheus scrapes every exporter the
# servers' roles declare (checked through its HTTP API), the target list
# follows the inventory (a web server added, 'up' again), a web host
# stopped hard makes HostDown reach a webhook receiver on the test
# network, an SMTP server (STARTTLS, a login) and an ntfy stand-in (ntfy
# itself is not in Debian: what it is sent is checked, not how it shows
# it), and no exporter, Prometheus or Alertmanager port answers anyone but
# the monitoring server (real connections from this machine, which is not
# in the layout, and from a web host).  A second run changes
# nothing.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-monitoring.sh"

export PV_TEST_SMTP_PW="smtp-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')"
export PV_TEST_NTFY_TOKEN="tk_$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
inventory() { # $1: the web servers' names, $2: more layout vars
	cat <<YML
project: mon
secrets: { smtp_pw: "env:PV_TEST_SMTP_PW", ntfy_tok: "env:PV_TEST_NTFY_TOKEN" }
vars: { monitoring_scrape_interval: 2, monitoring_evaluation_interval: 2, alertmanager_group_wait: 1 }
layouts:
  watched:
    vars: { $2 }
    servers:
      mon1: { roles: [base, ufw, monitoring], vars: { ssh_allow_forwarding: true } }
$(for w in $1; do echo "      $w: { roles: [base, ufw, web, hello] }"; done)
YML
}
t_project < <(inventory web1 "")
t_uses watched
mkdir -p "$WORK/roles/hello"
cat >"$WORK/roles/hello/role.yml" <<'YML'
description: a web server that names itself
resources:
  - package: { name: [nginx] }
  - file: { path: /var/www/html/index.html, content: "{{ server_name }}\n", mode: "0644" }
  - service: { name: nginx, enabled: true, running: true }
YML

t0=$(date +%s)
pv up watched >"$WORK/up1" 2>&1 || bail "up failed: $(tail -n 30 "$WORK/up1")"
pass "up converges a monitoring server and a web server ($(($(date +%s) - t0)) s)"
st=$WORK/.provision/state.json
addr() { jq -r ".environments.default.layouts.watched.hosts.$1.address" "$st"; }
bridge=$(jq -r '.environments.default.layouts.watched.provider_data.bridge_address' "$st")
MON_ADDR=$(addr mon1)
mon=$MON_ADDR

want1=$(printf '%s\n' "alertmanager mon1 up" "blackbox mon1 up" "node mon1 up" "node web1 up" \
	"prometheus mon1 up" "web http://$(addr web1)/ up" | sort)
check "Prometheus has every expected target up: $(echo "$want1" | tr '\n' ';')" mon_targets_are "$want1"
probes=$(mon_query probe_success | tr '\n' ';')
check "the blackbox probe of web1 succeeds: $probes" test "$probes" = "http://$(addr web1)/ 1;"

# What provision wrote for the textfile collector reaches Prometheus.
conv=$(mon_query provision_converge_success | tr '\n' ';')
check "each host's last run result is a metric: $conv" test "$conv" = "mon1 1;web1 1;"
rules=$(on_host mon1 "curl -sf http://$mon:9090/api/v1/rules" | jq -r '.data.groups[].rules[].name' | sort | tr '\n' ' ')
check "the roles' alert rules are loaded: $rules" \
	sh -c "for r in HostDown DiskFull MemoryPressure SystemdUnitFailed SiteDown CertificateExpiring ClockSkew ClockNotSynchronised; do echo '$rules' | grep -qw \$r || exit 1; done"

# Nothing but the monitoring server reaches an exporter or Prometheus.
check "mon1 reaches web1's node exporter (the control)" reach mon1 "$(addr web1):9100"
check "closed from this machine: $(addr web1):9100" closed here "$(addr web1):9100"
for p in "$mon:9100" "$mon:9090" "$mon:9093" "$mon:9094" "$mon:9115"; do
	check "closed from this machine: $p" closed here "$p"
	check "closed from web1: $p" closed web1 "$p"
done
listen=$(on_host mon1 "ss -Hltn" | awk '{print $4}' | grep -E ':(9090|9093|9094|9100|9115)$' | sort | tr '\n' ' ')
check "mon1's monitoring ports listen on the private address only: $listen" \
	test "$listen" = "$mon:9090 $mon:9093 $mon:9100 $mon:9115 "

# The check can fail: a port opened by hand is seen open, and 'up' closes it again.
on_host web1 "ufw allow 9100/tcp" >/dev/null || bail "cannot open 9100 on web1 by hand"
check "a port opened by hand on web1 is seen open from this machine" reach here "$(addr web1):9100"
pv up watched >"$WORK/up-drift" 2>&1 || bail "up after drift failed: $(tail -n 20 "$WORK/up-drift")"
check "up closes it again" closed here "$(addr web1):9100"

# A webhook receiver on the test network; a web server more and the
# webhook in the inventory, 'up' again.
# Besides, an SMTP server that wants STARTTLS and a login, and an HTTPS
# endpoint standing in for ntfy, both with certificates of a test CA that
# mon1 trusts as it would a public one.
receiver_start "$bridge" 9799 "$WORK/alerts.log"
mkdir -p "$WORK/tls" && test_ca "$WORK/tls" "$bridge" || bail "cannot make the test CA"
smtp_start "$bridge" 9797 "$WORK/mail.log" "$WORK/tls/srv.crt" "$WORK/tls/srv.key" alerts "$PV_TEST_SMTP_PW"
ntfy_start "$bridge" 9796 "$WORK/ntfy.log" "$WORK/tls/srv.crt" "$WORK/tls/srv.key"
on_host mon1 "echo $(base64 -w0 "$WORK/tls/ca.crt") | base64 -d >/usr/local/share/ca-certificates/provision-test.crt && update-ca-certificates >/dev/null" ||
	bail "cannot install the test CA on mon1"
receivers="alertmanager_webhook_url: \"http://$bridge:9799/alerts\", alertmanager_email_to: ops@example.com, alertmanager_email_from: alerts@example.com, alertmanager_smtp_smarthost: \"$bridge:9797\", alertmanager_smtp_user: alerts, alertmanager_smtp_password: smtp_pw, alertmanager_ntfy_url: \"https://$bridge:9796/ops\", alertmanager_ntfy_token: ntfy_tok"
inventory "web1 web2" "$receivers" >"$WORK/inventory.yml"
pv up watched >"$WORK/up2" 2>&1 || bail "up with web2 failed: $(tail -n 30 "$WORK/up2")"
check "the SMTP password and the ntfy token are in no output" \
	sh -c "! grep -qF -e \"\$PV_TEST_SMTP_PW\" -e \"\$PV_TEST_NTFY_TOKEN\" '$WORK/up2'"
want2=$(printf '%s\n' "$want1" "node web2 up" "web http://$(addr web2)/ up" | sort)
check "the targets follow the inventory: web2's exporter and probe are added" mon_targets_are "$want2"
check "closed from web1: web2's node exporter" closed web1 "$(addr web2):9100"

t0=$(date +%s.%N)
pvj up watched >"$WORK/up3.json" 2>"$WORK/up3.err" || bail "third up failed: $(json_errors "$WORK/up3.json" "$WORK/up3.err")"
echo "# no-op run of 3 hosts: $(echo "$(date +%s.%N) - $t0" | bc) s"
check "second run: 0 changed ($(json_resources "$WORK/up3.json" changed | tr '\n' ' '))" \
	test "$(json_total "$WORK/up3.json" changed)" = 0

# 'provision ui' forwards a port of this machine's loopback to Prometheus.
# The tunnel needs sshd's TCP forwarding, which base switches off unless
# ssh_allow_forwarding is set (mon1 sets it).  ufw limits new SSH
# connections to 6 in 30 s per source, and the checks above made several:
# let that window pass first.
sleep 31
uiport=$((20000 + $$ % 20000))
# provision itself in the background, not the pv function's subshell: it
# becomes ssh, so killing its pid ends the tunnel
"$PROVISION" -i "$WORK/inventory.yml" --plain ui watched --port "$uiport" >"$WORK/ui.out" 2>&1 &
uipid=$!
check "ui prints the local URL and Prometheus answers there: $(head -n 1 "$WORK/ui.out")" \
	sh -c "for i in \$(seq 1 20); do curl -sf -m 2 http://127.0.0.1:$uiport/-/ready >/dev/null && exit 0; sleep 1; done; exit 1"
kill "$uipid" 2>/dev/null
wait "$uipid" 2>/dev/null
check "ui printed http://127.0.0.1:$uiport/" grep -q "http://127.0.0.1:$uiport/" "$WORK/ui.out"
# with --json the URL is a tunnel event
uiport2=$((uiport + 1))
"$PROVISION" -i "$WORK/inventory.yml" --json ui watched alertmanager --port "$uiport2" >"$WORK/ui.json" 2>"$WORK/ui.err" &
uipid=$!
check "ui alertmanager --json: Alertmanager answers at the local port" \
	sh -c "for i in \$(seq 1 20); do curl -sf -m 2 http://127.0.0.1:$uiport2/-/ready >/dev/null && exit 0; sleep 1; done; exit 1"
kill "$uipid" 2>/dev/null
wait "$uipid" 2>/dev/null
check "ui --json: one tunnel event with the URL ($(head -c 300 "$WORK/ui.json"))" \
	test "$(jq -c 'select(.event == "tunnel") | [.host, .layout, .ui, .url, .port]' "$WORK/ui.json")" = "[\"mon1\",\"watched\",\"alertmanager\",\"http://127.0.0.1:$uiport2/\",$uiport2]"
bad=$(/usr/bin/python3 "$ROOT/tests/helpers/check-events.py" "$ROOT/doc/events.schema.json" "$WORK/ui.json" 2>&1)
check "ui --json: every line validates against the schema${bad:+: $bad}" test -z "$bad"
jq -c 'select(.event == "tunnel") | .url = "http://\(.host):\(.port)/"' "$WORK/ui.json" >"$WORK/ui-broken.json"
check "and the check can fail: it refuses that tunnel event with a URL not on this machine's loopback" \
	sh -c "[ -s '$WORK/ui-broken.json' ] && ! /usr/bin/python3 '$ROOT/tests/helpers/check-events.py' '$ROOT/doc/events.schema.json' '$WORK/ui-broken.json'"

# web2 stopped hard: HostDown (for: 1m) reaches the receiver.
pid=$(jq -r ".environments.default.layouts.watched.hosts.web2.pid" "$st")
init=$(pgrep -P "$pid" | head -n 1)
[ -n "$init" ] || bail "cannot find the init of web2's host"
t0=$(date +%s.%N)
check "web2's host is stopped hard" kill -KILL "$init"
got=$(wait_alert "$WORK/alerts.log" 180 '"status":"firing".*"alertname":"HostDown"[^}]*"instance":"web2"')
secs=never
[ -z "$got" ] || secs=$(echo "$got - $t0" | bc)
echo "# HostDown for web2 reached the webhook after $secs s"
check "HostDown for web2 reaches the webhook receiver (after $secs s)" test -n "$got"
# The same alert by mail and to the ntfy topic.
for i in $(seq 1 60); do
	grep -q 'HostDown web2' "$WORK/mail.log" && grep -q '"path": "/ops"' "$WORK/ntfy.log" && break
	sleep 2
done
mail=$(grep -m 1 'HostDown web2' "$WORK/mail.log")
echo "# mail: $mail"
check "HostDown for web2 reaches the SMTP server as a mail to ops@example.com" \
	test "$(printf '%s' "$mail" | jq -r '"\(.to | join(",")) \(.from) \(.subject | test("^\\[FIRING:1\\] HostDown .*web2"))"')" = "ops@example.com alerts@example.com true"
check "the mail went over STARTTLS after the login 'alerts'" \
	test "$(printf '%s' "$mail" | jq -r '"\(.tls) \(.login)"')" = "true alerts"
ntfy=$(grep -m 1 '"path": "/ops"' "$WORK/ntfy.log")
echo "# ntfy: $(printf '%s' "$ntfy" | jq -c '.authorization = "(hidden)"')"
check "an alert reaches the ntfy topic /ops with ntfy's templates for a title and a line per alert" \
	test "$(printf '%s' "$ntfy" | jq -r '.query | "\(.tpl) \(.t) \(.m)"')" = "yes {{.status}}: {{.commonLabels.alertname}} {{range .alerts}}{{.status}} {{.labels.alertname}} on {{.labels.instance}}
{{end}}"
check "with the topic's token as a Bearer token" \
	test "$(printf '%s' "$ntfy" | jq -r .authorization)" = "Bearer $PV_TEST_NTFY_TOKEN"
check "no HostDown for the hosts that run" \
	sh -c "! grep -Eq '\"alertname\":\"HostDown\"[^}]*\"instance\":\"(web1|mon1)\"' '$WORK/alerts.log'"
# Prometheus ran with its package's own configuration (scraping
# localhost:9100) until the role's replaced it: no alert of that time.
check "no alert for a target outside the layout: $(grep -ho 'HostDown [^ ]*\|"instance":"[^"]*:[0-9]*"' "$WORK/mail.log" "$WORK/alerts.log" | sort -u | tr '\n' ' ')" \
	sh -c "! grep -q 'localhost:' '$WORK/alerts.log' '$WORK/mail.log'"
pv status watched >"$WORK/status" 2>&1
check "status shows HostDown firing for web2: $(grep -E '^ +alert' "$WORK/status" | tr -s ' ' | tr '\n' ';')" \
	grep -Eq '^ +alert +HostDown +web2 +critical +since ' "$WORK/status"
