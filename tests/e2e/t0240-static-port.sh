#!/usr/bin/env bash
# The static provider end to end, on a non-default SSH port: a host made by
# the local provider is then addressed by a static layout with only its
# address, its pinned host key and 'container: true' (it is one).  sshd
# listens on ssh.port alone, ufw keeps that port open (and not 22, which
# ufw_allow leaves out), the tool keeps reaching the host: up, a second run
# with 0 changed, ssh, status.  A wrong pinned key in the inventory is
# refused before any login.  A cloud layout refuses another SSH port.
. "$(dirname "$0")/lib.sh"

t_project <<'YML'
project: metal
ssh: { port: 2222 }
layouts:
  made:
    servers:
      box: { roles: [made] }
YML
t_uses made
mkdir -p "$WORK/roles/made"
cat >"$WORK/roles/made/role.yml" <<'YML'
description: marks the host as made by the local provider
resources:
  - file: { path: /etc/made-by-local, content: "{{ layout }}\n", mode: "0644" }
YML
state=$WORK/.provision/state.json

pvj up made >"$WORK/made.json" 2>"$WORK/made.err" || bail "up made failed: $(json_errors "$WORK/made.json" "$WORK/made.err")"
addr=$(jq -r '.environments.default.layouts.made.hosts.box.address // empty' "$state")
key=$(jq -r '.environments.default.layouts.made.hosts.box.host_key // empty' "$state")
[ -n "$addr" ] && [ -n "$key" ] || bail "the state has no address or host key for box"

# the same host, as an existing server the tool did not make (a container:
# roles leave the kernel's and the clock's settings to the machine)
cat >>"$WORK/inventory.yml" <<YML
  metal:
    provider: static
    vars: { ufw_allow: [80/tcp] }
    servers:
      srv: { roles: [base, ufw], address: "$addr", host_key: "$key", container: true }
YML
sed 's/container: true/container: maybe/' "$WORK/inventory.yml" >"$WORK/bad.yml"
out=$("$PROVISION" -i "$WORK/bad.yml" --plain validate 2>&1)
rc=$?
check "validate refuses a 'container' that is not a boolean (exit 2, got $rc)" test "$rc" = 2
check "naming its line: $out" grep -q "bad.yml:11:[0-9]*: 'container' of a server must be a boolean" <<<"$out"
# a cloud's servers start with sshd on 22: another port is refused before anything is made
cat >"$WORK/cloud.yml" <<'YML'
project: metal
ssh: { port: 2222 }
layouts:
  web:
    provider: hetzner
    servers:
      web1: { roles: [base], type: cx22, image: debian-12, location: fsn1 }
YML
out=$(HCLOUD_TOKEN=unused "$PROVISION" -i "$WORK/cloud.yml" --plain validate 2>&1)
rc=$?
check "validate refuses ssh.port 2222 for a hetzner layout (exit 2, got $rc)" test "$rc" = 2
check "at the port's line: $out" grep -q "cloud.yml:2:14: 'port' 2222 in 'ssh' is not supported by provider 'hetzner'" <<<"$out"
PV_LAYOUTS=(metal made) # the static layout forgets its pin first

# Run CMD on the host without SSH (in all its namespaces): for what must
# hold while the tool cannot log in.
in_host() {
	local pid init
	pid=$(jq -r '.environments.default.layouts.made.hosts.box.pid' "$state")
	init=$(pgrep -P "$pid" | head -n 1)
	[ -n "$init" ] || return 1
	nsenter -t "$init" -a -- "$@"
}
# logins sshd accepted for the admin user so far
logins() { in_host journalctl -q -u ssh -o cat | grep -c '^Accepted publickey for admin '; }

pvj up metal >"$WORK/up.json" 2>"$WORK/up.err" || bail "up metal failed: $(json_errors "$WORK/up.json" "$WORK/up.err")"
check "the static layout converged base and ufw ($(json_total "$WORK/up.json" changed) changed)" \
	test "$(json_total "$WORK/up.json" changed)" -gt 0 -a "$(json_total "$WORK/up.json" failed)" = 0
check "it pinned the inventory's key for $addr port 2222" \
	grep -qF "[$addr]:2222 $(cut -d' ' -f1,2 <<<"$key")" "$WORK/.provision/known_hosts"

ports=$(on_host srv "sshd -T | awk '\$1 == \"port\" { print \$2 }'" | sort -u | tr '\n' ' ')
check "sshd listens on port 2222 alone (sshd -T: $ports)" test "$ports" = "2222 "
listening=$(on_host srv "ss -Hltn 'sport = :22 or sport = :2222'" | awk '{ print $4 }' | sed 's/.*://' | sort -u | tr '\n' ' ')
check "the sockets agree (ss: $listening)" test "$listening" = "2222 "
check "the hardening drop-in names port 2222" on_host srv 'grep -qx "Port 2222" /etc/ssh/sshd_config.d/10-provision.conf'
ufw=$(on_host srv 'ufw status')
check "ufw is active" grep -qx 'Status: active' <<<"$ufw"
check "ufw allows the SSH port 2222" grep -Eq '^2222/tcp +(ALLOW|LIMIT) ' <<<"$ufw"
check "ufw opens no port 22 (ufw_allow leaves it out)" bash -c '! grep -Eq "^22(/tcp)? " <<<"$1"' _ "$ufw"
check "a new TCP connection from outside reaches port 2222" timeout 5 bash -c "exec 3<>/dev/tcp/$addr/2222"

pvj up metal >"$WORK/up2.json" 2>"$WORK/up2.err"
rc=$?
check "a second up of the static layout changes nothing (exit $rc, changed: $(json_resources "$WORK/up2.json" changed | tr '\n' ' '))" \
	test "$rc" = 0 -a "$(json_total "$WORK/up2.json" changed)" = 0 -a "$(json_total "$WORK/up2.json" failed)" = 0
out=$("$PROVISION" -i "$WORK/inventory.yml" ssh srv -- hostname 2>&1)
check "provision ssh reaches the static host on port 2222 (got: $out)" test "$out" = box
pvj status metal >"$WORK/status.json" 2>"$WORK/status.err"
rc=$?
check "status of the static layout: exit $rc, srv reachable over SSH" \
	test "$rc" = 0 -a "$(jq -r 'select(.event == "status_host" and .host == "srv") | "\(.ssh) \(.ok)"' "$WORK/status.json")" = "ok true"

# a wrong key in the inventory: refused before any login
before=$(logins) || bail "cannot read the host's sshd journal"
ssh-keygen -q -t ed25519 -N '' -C wrong -f "$WORK/wrong" >/dev/null
wrong=$(cut -d' ' -f1,2 "$WORK/wrong.pub")
sed -i "s|host_key: \"$key\"|host_key: \"$wrong\"|" "$WORK/inventory.yml"
grep -qF "$wrong" "$WORK/inventory.yml" || bail "cannot put the wrong key in the inventory"
pv up metal >"$WORK/wrong.out" 2>&1
rc=$?
check "up with a wrong pinned key fails (exit $rc)" test "$rc" != 0
check "it says the host key does not match: $(grep -m1 "host key of" "$WORK/wrong.out")" \
	grep -q "host key of 'srv' ($addr:2222) does not match the pinned key" "$WORK/wrong.out"
out=$("$PROVISION" -i "$WORK/inventory.yml" ssh srv -- true 2>&1)
rc=$?
check "provision ssh refuses it too (exit $rc): $(tail -n 1 <<<"$out")" \
	bash -c '[ "$1" != 0 ] && grep -q "Host key verification failed" <<<"$2"' _ "$rc" "$out"
after=$(logins)
check "no login reached the host ($before accepted logins before, $after after)" test "$after" = "$before"

# the right key back: the host answers again
sed -i "s|host_key: \"$wrong\"|host_key: \"$key\"|" "$WORK/inventory.yml"
pvj up metal >"$WORK/up3.json" 2>"$WORK/up3.err"
rc=$?
check "with the right key again, up changes nothing (exit $rc)" \
	test "$rc" = 0 -a "$(json_total "$WORK/up3.json" changed)" = 0
