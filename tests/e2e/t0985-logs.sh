#!/usr/bin/env bash
# suite: extended (two hosts with systemd-journal-remote; make test-all)
# timeout: 600 two hosts, systemd-journal-remote from Debian's packages
# Journals shipped to the monitoring server (roles journal-upload and
# journal-remote): a line written with logger on a web host is read back
# with 'provision logs' (plain and --json), and not once the host's upload
# is stopped; journal-remote takes no client without a certificate of the
# layout's CA (real TLS handshakes from a host of the layout), listens on
# the private address only and is closed to this machine, which is not in
# the layout (a port opened by hand is seen open, and 'up' closes it);
# no private key is readable by others, and the CA key is on no host; a
# second run changes nothing.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-monitoring.sh"

inventory() { # $1: layout vars
	cat <<YML
project: logs
layouts:
  watched:
    vars: { $1 }
    servers:
      mon1: { roles: [base, ufw, monitoring] }
      web1: { roles: [base, ufw] }
  alone:
    servers:
      solo: { roles: [base] }
YML
}
t_project < <(inventory "journal_remote_max_mb: 32")
t_uses watched

# The retention variable is typed: a value out of range stops everything.
pv validate watched >"$WORK/val" 2>&1 && bail "validate took journal_remote_max_mb: 32"
check "journal_remote_max_mb below its minimum is refused at its line: $(head -n 1 "$WORK/val")" \
	grep -q "inventory.yml:4:.*journal_remote_max_mb" "$WORK/val"
inventory "journal_remote_max_mb: 100" >"$WORK/inventory.yml"

# Errors name the problem, exit 2, before any host is asked.
pv logs alone >"$WORK/e1" 2>&1
rc=$?
check "logs on a layout without a monitoring server: exit $rc ($(cat "$WORK/e1"))" \
	sh -c "[ $rc = 2 ] && grep -q \"layout 'alone' has no server with role 'monitoring'\" '$WORK/e1'"
pv logs watched web2 >"$WORK/e2" 2>&1
rc=$?
check "logs of an unknown server: exit $rc ($(cat "$WORK/e2"))" \
	sh -c "[ $rc = 2 ] && grep -q \"unknown server 'web2' in layout 'watched' (did you mean 'web1'?)\" '$WORK/e2'"

t0=$(date +%s)
pv up watched >"$WORK/up1" 2>&1 || bail "up failed: $(tail -n 30 "$WORK/up1")"
pass "up converges a monitoring server and a web server ($(($(date +%s) - t0)) s)"
st=$WORK/.provision/state.json
addr() { jq -r ".environments.default.layouts.watched.hosts.$1.address" "$st"; }
MON_ADDR=$(addr mon1)
mon=$MON_ADDR
web=$(addr web1)

# A line written on web1 reaches mon1 and 'provision logs' reads it there.
tag="pv-logs-$$-$RANDOM"
in_host watched web1 "logger -t pvtest '$tag one'" || bail "logger on web1 failed"
t0=$(date +%s.%N)
in_host watched mon1 "for i in \$(seq 1 60); do journalctl --directory=/var/log/journal/remote -q -t pvtest -n 50 -o cat 2>/dev/null | grep -q '$tag one' && exit 0; sleep 0.5; done; exit 1" ||
	bail "the line written on web1 did not reach mon1 within 30 s"
echo "# the line reached mon1 $(echo "$(date +%s.%N) - $t0" | bc) s after logger"
pv logs watched web1 -n 200 >"$WORK/logs1" 2>&1
check "provision logs watched web1 shows the line ($(grep "$tag" "$WORK/logs1" | head -n 1))" \
	grep -q "web1 pvtest.*$tag one" "$WORK/logs1"
pv logs watched web1 -u ssh.service -n 200 >"$WORK/logs-unit" 2>&1
others=$(awk '$2 != "web1"' "$WORK/logs-unit" | head -n 2)
check "-u ssh.service: web1's entries only, sshd's among them, not the line${others:+ ($others)}" \
	sh -c "[ -z '$others' ] && grep -q '^[^ ]* web1 sshd\[' '$WORK/logs-unit' && ! grep -q '$tag' '$WORK/logs-unit'"
pv logs watched --since tomorrow >"$WORK/logs-since" 2>&1
check "--since tomorrow: nothing" test ! -s "$WORK/logs-since"
pvj logs watched web1 -n 200 >"$WORK/logs.json" 2>"$WORK/logs.err" ||
	bail "logs --json failed: $(json_errors "$WORK/logs.json" "$WORK/logs.err")"
check "--json: the line is a log event of host web1 ($(jq -c "select(.message == \"$tag one\")" "$WORK/logs.json"))" \
	test "$(jq -r "select(.event == \"log\" and .message == \"$tag one\") | [.host, .identifier, .layout] | join(\" \")" "$WORK/logs.json")" = "web1 pvtest watched"
bad=$(/usr/bin/python3 "$ROOT/tests/helpers/check-events.py" "$ROOT/doc/events.schema.json" "$WORK/logs.json" 2>&1)
check "--json: every line validates against the schema${bad:+: $bad}" test -z "$bad"

# The check can fail: with web1's upload stopped, a new line never arrives.
in_host watched web1 "systemctl stop systemd-journal-upload && logger -t pvtest '$tag two'" >/dev/null ||
	bail "cannot stop web1's upload"
sleep 10
pv logs watched web1 -n 200 >"$WORK/logs2" 2>&1
check "with web1's upload stopped, its new line is not on mon1" \
	sh -c "grep -q '$tag one' '$WORK/logs2' && ! grep -q '$tag two' '$WORK/logs2'"

# TLS: a client of the layout with its own certificate is let in; without
# one, or with one of another CA (same name), it is not.  Real handshakes
# with openssl from web1: an HTTP answer means the client was let in.
tls=$(in_host watched web1 "
	d=/etc/provision/journal-tls
	post() {
		printf 'POST /upload HTTP/1.1\r\nHost: $mon\r\nContent-Type: application/vnd.fdo.journal\r\nContent-Length: 0\r\nConnection: close\r\n\r\n' |
			timeout 10 openssl s_client -quiet -connect $mon:19532 -CAfile \$d/ca.crt -verify_return_error \"\$@\" 2>/dev/null | head -n 1 | tr -d '\r'
	}
	echo \"own: \$(post -cert \$d/host.crt -key \$d/host.key)\"
	echo \"none: \$(post)\"
	t=\$(mktemp -d) && cd \$t
	openssl req -x509 -newkey ed25519 -nodes -keyout ca.key -subj /CN=provision-journal-ca -days 1 -out ca.crt 2>/dev/null
	openssl req -newkey ed25519 -nodes -keyout c.key -subj /CN=web1 -out c.csr 2>/dev/null
	printf 'extendedKeyUsage = clientAuth\nsubjectAltName = IP:$web\n' >c.ext
	openssl x509 -req -in c.csr -CA ca.crt -CAkey ca.key -set_serial 7 -days 1 -extfile c.ext -out c.crt 2>/dev/null
	echo \"other: \$(post -cert c.crt -key c.key)\"
	cd / && rm -rf \$t")
echo "$tls" | sed 's/^/# /'
refused() { echo "$tls" | grep -qx "$1: "; }
let_in() { echo "$tls" | grep -q "^$1: HTTP/1.1 [1-5][0-9][0-9]"; }
check "a client with the host's certificate of the layout CA is let in (the control)" let_in own
check "a client without a certificate is refused" refused none
check "a client with a certificate of another CA is refused" refused other

# The port: on the private address only, and closed to this machine.
listen=$(in_host watched mon1 "ss -Hltn" | awk '$4 ~ /:19532$/ {print $4}' | sort | tr '\n' ' ')
check "stunnel on mon1's private address, journal-remote on the loopback, nothing else: $listen" \
	test "$listen" = "$(printf '%s\n' "$mon:19532" 127.0.0.1:19532 | sort | tr '\n' ' ')"
stunnel_owns() { in_host watched mon1 "ss -Hltnp" | grep -F "$mon:19532 " | grep -q '"stunnel4"'; }
check "and the private address is stunnel's" stunnel_owns
check "web1 (in the layout) reaches mon1:19532 (the control)" \
	in_netns watched web1 timeout 4 bash -c "exec 3<>/dev/tcp/$mon/19532"
check "closed from this machine: $mon:19532" closed here "$mon:19532"
in_host watched mon1 "ufw allow 19532/tcp" >/dev/null || bail "cannot open 19532 on mon1 by hand"
check "a port opened by hand on mon1 is seen open from this machine" reach here "$mon:19532"

# Keys: the hosts' own keys are root's alone, the CA key stays here.
keys() {
	for h in mon1 web1; do
		in_host watched "$h" "find /etc/provision /etc/ssl/private /run/credentials -name '*.key' -perm /o+rwx,g+rwx 2>/dev/null; stat -c '%U:%a %n' /etc/provision/journal-tls/host.key"
	done
}
k=$(keys)
check "no host key readable by others: $(echo "$k" | tr '\n' ';')" \
	test "$(echo "$k" | grep -c '^root:600 /etc/provision/journal-tls/host.key$')/$(echo "$k" | wc -l)" = 2/2
ca="$WORK/.provision/keys/journal-ca/default/watched.pem"
check "the CA key is kept here, mode 600: $(stat -c %a "$ca")" test "$(stat -c %a "$ca")" = 600
body=$(sed -n 2p "$ca")
found=$(for h in mon1 web1; do in_host watched "$h" "grep -rlF '$body' /etc /root /tmp /var/tmp /var/lib/provision /var/log /run 2>/dev/null | head -n 3"; done)
check "the CA key is in no file on the hosts${found:+: $found}" test -z "$found"
check "nor in the state or the run's output" \
	sh -c "! grep -qF '$body' '$WORK/.provision/state.json' '$WORK/up1' '$WORK/logs.json'"
in_host watched web1 "chmod 0644 /etc/provision/journal-tls/host.key" || bail "cannot chmod web1's key"
k=$(keys)
check "and the check can fail: a key made readable by hand is seen" \
	sh -c "echo '$k' | grep -q '^root:644 '"

# 'up' puts back what was broken by hand (after ufw's window for the
# SSH connections of the logs commands above).
sleep 30
pv up watched >"$WORK/up2" 2>&1 || bail "second up failed: $(tail -n 30 "$WORK/up2")"
check "up closes 19532 again" closed here "$mon:19532"
check "up makes web1's key root's alone again" \
	test "$(in_host watched web1 "stat -c %U:%a /etc/provision/journal-tls/host.key")" = root:600
check "up starts web1's upload again, and its held-back line arrives" \
	in_host watched mon1 "for i in \$(seq 1 60); do journalctl --directory=/var/log/journal/remote -q -t pvtest -n 50 -o cat | grep -q '$tag two' && exit 0; sleep 0.5; done; exit 1"

# Retention: the variable reaches the vacuum timer's unit, which runs.
vac=$(in_host watched mon1 "systemctl cat provision-journal-vacuum.service | grep -o 'vacuum-size=[^ ]*'; systemctl start provision-journal-vacuum.service && systemctl is-active provision-journal-vacuum.timer")
check "the received journals are vacuumed to journal_remote_max_mb: $(echo "$vac" | tr '\n' ' ')" \
	test "$(echo "$vac" | tr '\n' ' ')" = "vacuum-size=100M active "

pvj up watched >"$WORK/up3.json" 2>"$WORK/up3.err" || bail "third up failed: $(json_errors "$WORK/up3.json" "$WORK/up3.err")"
check "second run: 0 changed ($(json_resources "$WORK/up3.json" changed | tr '\n' ' '))" \
	test "$(json_total "$WORK/up3.json" changed)" = 0
