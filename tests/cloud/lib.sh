# Helpers for the cloud provider tests: a bridge, a package cache and the
# provider's API test server on this machine.  Source after tests/e2e/lib.sh
# and t_project:
#   . "$ROOT/tests/cloud/lib.sh"
#   hcloud_start            # sets HCLOUD_ENDPOINT, HCLOUD_TOKEN, CLOUD_PREFIX, CLOUD_PRIVATE
# Everything started here is stopped by PID on exit, success or failure,
# after the test's own cleanup (destroy) has run against the live server.

CLOUD_DIR=
CLOUD_BRIDGE=
CLOUD_SERVER_PID=
CLOUD_ACNG_PID=
CLOUD_PREFIX=
CLOUD_PRIVATE=
BASE_RECIPE_DIR=${PROVISION_CACHE_DIR:-/var/cache/provision}

cloud_teardown() {
	local rc=$? f
	t_cleanup
	# a failed script shows what the API server and its hosts said last
	if [ "$rc" != 0 ] && [ -n "$CLOUD_DIR" ]; then
		for f in "$CLOUD_DIR/server.log" "$CLOUD_DIR"/api/hosts/*/console.log; do
			[ -s "$f" ] || continue
			echo "# last lines of ${f#"$CLOUD_DIR"/}:"
			tail -n 8 "$f" | sed 's/^/#   /'
		done
	fi
	if [ -n "$CLOUD_SERVER_PID" ] && kill -0 "$CLOUD_SERVER_PID" 2>/dev/null; then
		kill -TERM "$CLOUD_SERVER_PID"
		for _ in $(seq 1 300); do kill -0 "$CLOUD_SERVER_PID" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$CLOUD_SERVER_PID" 2>/dev/null
	fi
	if [ -n "$CLOUD_ACNG_PID" ]; then
		kill -TERM "$CLOUD_ACNG_PID" 2>/dev/null
		wait "$CLOUD_ACNG_PID" 2>/dev/null
	fi
	if [ -n "$CLOUD_BRIDGE" ] && ip link show "$CLOUD_BRIDGE" >/dev/null 2>&1; then
		ip link del "$CLOUD_BRIDGE"
	fi
	cloud_release_prefixes
	if [ -n "$CLOUD_DIR" ]; then
		if grep -q " $CLOUD_DIR/" /proc/mounts; then
			echo "cleanup: mounts are left under $CLOUD_DIR; not removing it" >&2
		else
			rm -rf "$CLOUD_DIR"
		fi
	fi
}

# A /24 in 10.213.230-253 that nothing on this machine uses and no other
# running test has reserved (scripts run side by side, and a prefix two
# bridges share sends one test's packets to the other's hosts).  Prints it
# and reserves it for this script until cloud_release_prefixes.
CLOUD_RESERVED=/run/provision-test-subnets
cloud_free_prefix() {
	local skip=${1:-} n p owner
	mkdir -p "$CLOUD_RESERVED"
	exec 8>"$CLOUD_RESERVED/.lock"
	flock 8
	for n in $(seq 230 253 | shuf); do
		p=10.213.$n
		[ "$p" = "$skip" ] && continue
		ip -o addr show | grep -q " $p\." && continue
		owner=$(cat "$CLOUD_RESERVED/$p" 2>/dev/null) || owner=
		[ -n "$owner" ] && kill -0 "$owner" 2>/dev/null && continue
		echo $$ >"$CLOUD_RESERVED/$p"
		echo "$p"
		return 0
	done
	return 1
}

# Give back the prefixes this script reserved.
cloud_release_prefixes() {
	local p
	for p in $CLOUD_PREFIX $CLOUD_PRIVATE; do
		[ "$(cat "$CLOUD_RESERVED/$p" 2>/dev/null)" = "$$" ] && rm -f "$CLOUD_RESERVED/$p"
	done
	return 0
}

# The Debian 12 base file system, the same recipe as the local provider's;
# cloud_base cloud-init: with Debian's cloud-init (and the locales it
# expects), as the providers' images have it.
cloud_base() {
	local base="$BASE_RECIPE_DIR/debian-bookworm-r1" extra= hook=:
	if [ "${1:-}" = cloud-init ]; then
		base="$BASE_RECIPE_DIR/debian-bookworm-cloud-init-r2"
		extra=,cloud-init,locales
		# the locale cloud-init sets by default, generated as the
		# providers' images have it
		hook='echo "en_US.UTF-8 UTF-8" >"$1"/etc/locale.gen && chroot "$1" locale-gen'
	fi
	if [ ! -d "$base" ]; then
		mkdir -p "$BASE_RECIPE_DIR"
		(
			flock 9
			[ -d "$base" ] && exit 0
			rm -rf "$base.build-$$"
			mmdebstrap --variant=minbase \
				--include=systemd,systemd-sysv,dbus,openssh-server,iproute2,sudo,ca-certificates$extra \
				--customize-hook='rm -f "$1"/etc/ssh/ssh_host_*' \
				--customize-hook='chroot "$1" systemctl enable systemd-networkd' \
				--customize-hook=': > "$1"/etc/machine-id' \
				--customize-hook="$hook" \
				bookworm "$base.build-$$" >"$base.log" 2>&1 && mv "$base.build-$$" "$base"
		) 9>"$BASE_RECIPE_DIR/.lock" || return 1
	fi
	echo "$base"
}

cloud_net() {
	CLOUD_DIR=$(mktemp -d /tmp/provision-cloud.XXXXXX)
	trap cloud_teardown EXIT
	CLOUD_BRIDGE=ctb$(printf '%s' "$CLOUD_DIR" | sha256sum | cut -c1-8)
	CLOUD_PREFIX=$(cloud_free_prefix) || bail "no free 10.213.x.0/24 for the test bridge"
	CLOUD_PRIVATE=$(cloud_free_prefix "$CLOUD_PREFIX") || bail "no free private /24"
	ip link add "$CLOUD_BRIDGE" type bridge || bail "cannot create the test bridge"
	ip addr add "$CLOUD_PREFIX.1/24" dev "$CLOUD_BRIDGE"
	ip link set "$CLOUD_BRIDGE" up
	# packages for the hosts: an apt-cacher-ng on the bridge, sharing the local provider's cache
	local conf="$CLOUD_DIR/acng" port
	mkdir -p "$conf/log" "$BASE_RECIPE_DIR/apt-cacher-ng"
	# a free port near 3142 (apt-cacher-ng does not bind to high ports)
	port=$(/usr/bin/python3 -c 'import socket,sys
for p in range(3142, 3342):
    s = socket.socket()
    try:
        s.bind((sys.argv[1], p))
    except OSError:
        continue
    s.close(); print(p); break' "$CLOUD_PREFIX.1")
	echo "http://deb.debian.org/debian/" >"$conf/backends_debian"
	cat >"$conf/acng.conf" <<-EOF
		CacheDir: $BASE_RECIPE_DIR/apt-cacher-ng
		LogDir: $conf/log
		SupportDir: /usr/lib/apt-cacher-ng
		Port: $port
		BindAddress: $CLOUD_PREFIX.1
		ForeGround: 1
		PidFile: $conf/pid
		SocketPath: $conf/socket
		Remap-debrep: file:deb_mirror*.gz /debian ; file:backends_debian
		Remap-secdeb: security.debian.org security.debian.org/debian-security deb.debian.org/debian-security /debian-security ; deb.debian.org/debian-security
		ExThreshold: 4
		FreshIndexMaxAge: 300
	EOF
	/usr/sbin/apt-cacher-ng -c "$conf" >"$conf/daemon.log" 2>&1 &
	CLOUD_ACNG_PID=$!
	CLOUD_APT_PROXY="http://$CLOUD_PREFIX.1:$port"
}

# Start an API test server: cloud_server SCRIPT SPEC [ARGS...]; sets CLOUD_URL.
cloud_server() {
	local script=$1 spec=$2 base flavour=
	shift 2
	case " $* " in *" --cloud-init "*) flavour=cloud-init ;; esac
	base=$(cloud_base $flavour) || bail "cannot build the Debian base file system"
	cloud_net
	umask 077
	head -c 24 /dev/urandom | base64 | tr -d '/+=' >"$CLOUD_DIR/token"
	umask 022
	case " $* " in *" --tls-listen bridge "*)
		cloud_test_ca "$CLOUD_PREFIX.1"
		set -- "$@" --tls-cert "$CLOUD_DIR/tls/server.crt" --tls-key "$CLOUD_DIR/tls/server.key"
		;;
	esac
	/usr/bin/python3 "$ROOT/tests/cloud/$script" \
		--spec "$ROOT/tests/cloud/specs/$spec" \
		--dir "$CLOUD_DIR/api" --token "$CLOUD_DIR/token" \
		--bridge "$CLOUD_BRIDGE" --prefix "$CLOUD_PREFIX" --base "$base" \
		--apt-proxy "$CLOUD_APT_PROXY" "$@" >"$CLOUD_DIR/server.log" 2>&1 &
	CLOUD_SERVER_PID=$!
	for _ in $(seq 1 100); do [ -s "$CLOUD_DIR/api/port" ] && break; sleep 0.1; done
	[ -s "$CLOUD_DIR/api/port" ] || bail "the API test server did not start: $(cat "$CLOUD_DIR/server.log")"
	CLOUD_URL="http://127.0.0.1:$(cat "$CLOUD_DIR/api/port")"
	# the token reaches curl in a file, never on a command line
	umask 077
	printf 'Authorization: Bearer %s\n' "$(cat "$CLOUD_DIR/token")" >"$CLOUD_DIR/auth-header"
	umask 022
}

# A test CA ($CLOUD_DIR/tls/ca.crt) and a certificate it signed for the
# address ADDR (server.crt, server.key), for the test server's https.
cloud_test_ca() {
	local d="$CLOUD_DIR/tls"
	mkdir -p "$d"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
		-subj "/CN=provision test CA" -keyout "$d/ca.key" -out "$d/ca.crt" >/dev/null 2>&1 &&
		openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
			-subj "/CN=$1" -keyout "$d/server.key" -out "$d/server.csr" >/dev/null 2>&1 &&
		printf 'subjectAltName=IP:%s\nbasicConstraints=CA:FALSE\n' "$1" >"$d/ext" &&
		openssl x509 -req -in "$d/server.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial \
			-days 2 -extfile "$d/ext" -out "$d/server.crt" >/dev/null 2>&1 ||
		bail "cannot make the test CA"
	CLOUD_CA=$d/ca.crt
}

# A request to the API as another client of the project would send it:
# cloud_api METHOD PATH [JSON]; PATH is below the API base URL.
cloud_api() {
	curl -fsS -X "$1" -H @"$CLOUD_DIR/auth-header" -H 'Content-Type: application/json' \
		${3:+--data "$3"} "$CLOUD_API$2"
}

# The Hetzner Cloud API test server; the tool finds it through HCLOUD_ENDPOINT.
hcloud_start() {
	cloud_server hcloud-server.py hetzner-cloud.subset.json "$@"
	export HCLOUD_ENDPOINT="$CLOUD_URL/v1"
	CLOUD_API=$HCLOUD_ENDPOINT
	HCLOUD_TOKEN=$(cat "$CLOUD_DIR/token")
	export HCLOUD_TOKEN
}

# The DigitalOcean API test server; the tool finds it through DIGITALOCEAN_API_URL.
do_start() {
	cloud_server do-server.py digitalocean.subset.json "$@"
	export DIGITALOCEAN_API_URL="$CLOUD_URL"
	CLOUD_API=$DIGITALOCEAN_API_URL
	DIGITALOCEAN_TOKEN=$(cat "$CLOUD_DIR/token")
	export DIGITALOCEAN_TOKEN
}

# POST a control request to the test server: cloud_ctl faults '[...]'
cloud_ctl() {
	curl -fsS -X POST -H 'Content-Type: application/json' --data "$2" "$CLOUD_URL/__control/$1" >/dev/null
}

cloud_stats() {
	curl -fsS "$CLOUD_URL/__control/stats"
}

cloud_state() {
	curl -fsS "$CLOUD_URL/__control/state"
}

# The host key (TYPE BASE64) host NAME booted with, from its user_data.
cloud_boot_key() {
	curl -fsS "$CLOUD_URL/__control/boot_keys" | jq -r --arg n "$1" '.[$n] // empty'
}

# The checks that Debian's cloud-init, not the test server, applied server
# NAME's user_data (a test server started with --cloud-init only seeds it):
# cloud-init read it from its NoCloud seed, ran to its end without an
# error, and wrote what only it writes (cloud_init_ran NAME).
cloud_init_ran() {
	local result
	result=$(on_host "$1" 'cat /run/cloud-init/result.json' 2>/dev/null)
	check "$1: Debian's cloud-init read the user_data from its NoCloud seed, without errors: $(jq -c .v1 <<<"$result" 2>/dev/null)" \
		test "$(jq -c '[(.v1.datasource // "" | startswith("DataSourceNoCloud")), .v1.errors]' <<<"$result" 2>/dev/null)" = '[true,[]]'
	check "$1: cloud-init ran to its end" eval "on_host $1 'cloud-init status' | grep -qx 'status: done'"
	check "$1: the admin's sudo rule is in cloud-init's own file" on_host "$1" 'test -s /etc/sudoers.d/90-cloud-init-users'
}

# The checks that the bootstrap host key of server NAME was replaced once
# the admin was in: the host presents the pinned key, which is not the one
# its user_data carried, and keeps no copy of it (host_key_replaced NAME
# [LAYOUT], LAYOUT phase1 when not given).
host_key_replaced() {
	local boot pinned onhost addr st=.environments.default.layouts.${2:-phase1}.hosts.$1
	boot=$(cloud_boot_key "$1")
	addr=$(jq -r "$st.address // empty" "$WORK/.provision/state.json")
	pinned=$(awk -v a="$addr" '$1 == a {print $2, $3}' "$WORK/.provision/known_hosts")
	onhost=$(on_host "$1" 'cat /etc/ssh/ssh_host_ed25519_key.pub' | awk '{print $1, $2}')
	check "the server booted with a host key from its user_data" test -n "$boot"
	check "that key was replaced once the admin was in: the host has another" \
		test -n "$onhost" -a "$onhost" != "$boot"
	check "the new key is the pinned one and the state's" \
		sh -c "test '$pinned' = '$onhost' && test \"\$(jq -r '$st.host_key' '$WORK/.provision/state.json' | awk '{print \$1, \$2}')\" = '$onhost'"
	check "the state records the replacement, with no key half-way" \
		test "$(jq -c "[$st.host_key_rotated, $st.host_key_next]" "$WORK/.provision/state.json")" = '[true,null]'
	check "no staged key is left on the host" on_host "$1" '! test -e /etc/ssh/provision-rotate'
}

# Requests the server saw that deviate from the specification, one per line.
cloud_violations() {
	cat "$CLOUD_DIR/api/violations.jsonl"
}

# Writes (POST, PUT, DELETE) the server has logged so far.
cloud_writes() {
	jq -s '[.[] | select(.method != "GET")] | length' "$CLOUD_DIR/api/requests.jsonl"
}

# Resources labelled with this project, of any kind, as "kind name" lines.
cloud_labelled() {
	cloud_state | jq -r --arg p "$1" 'to_entries[] | select(.key != "actions") | .key as $k |
		.value[] | select(.labels.project == $p) | "\($k) \(.name)"'
}

# DigitalOcean: everything left of a layout: what carries its tag, and what
# carries no tags but its name (SSH key, VPC, firewall, load balancer).
do_left() {
	cloud_state | jq -r --arg t "pv:$1" --arg n "$2" 'to_entries[] | select(.key != "actions") |
		.key as $k | .value[] | select(((.tags // []) | index($t)) or (.name | startswith($n))) |
		"\($k) \(.name)"'
}

# Role dbport in the project: it only declares the PostgreSQL port, so that
# a firewall has a database port to open to the private network.
cloud_dbport_role() {
	mkdir -p "$WORK/roles/dbport"
	cat >"$WORK/roles/dbport/role.yml" <<-'EOF2'
		description: declares the PostgreSQL port (the firewall test needs one database port)
		ports: [5432/tcp]
		resources: []
	EOF2
}

# An inventory for provider hetzner on the test server's networks.
hcloud_inventory() {
	cat <<-EOF
		project: ${1:-shop}
		ssh: { user: admin }
		vars: { ssh_permit_root_login: prohibit-password, ufw_allow: [22/tcp, 80/tcp, 443/tcp] }
		providers:
		  hetzner:
		    network: { ip_range: $CLOUD_PRIVATE.0/24, subnet: $CLOUD_PRIVATE.0/24, zone: eu-central }
		    poll_interval: 0.2
		layouts:
		  phase1:
		    provider: hetzner
		    servers:
		      app1:
		        roles: [base, ufw]
		        type: cx22
		        image: debian-12
		        location: fsn1
		        volumes: [{ name: data, size: 10 }]
	EOF
}

# An inventory for provider digitalocean on the test server's networks.
do_inventory() {
	cat <<-EOF
		project: ${1:-shop}
		ssh: { user: admin }
		vars: { ssh_permit_root_login: prohibit-password, ufw_allow: [22/tcp, 80/tcp, 443/tcp] }
		providers:
		  digitalocean:
		    vpc: { ip_range: $CLOUD_PRIVATE.0/24 }
		    region: fra1
		    poll_interval: 0.2
		layouts:
		  phase1:
		    provider: digitalocean
		    servers:
		      app1:
		        roles: [base, ufw]
		        size: s-1vcpu-2gb
		        image: debian-12-x64
		        volumes: [{ name: data, size: 10 }]
	EOF
}

# Lines in the test server's request log (0 before the first request).
cloud_logged() {
	if [ -f "$CLOUD_DIR/api/requests.jsonl" ]; then wc -l <"$CLOUD_DIR/api/requests.jsonl"; else echo 0; fi
}

# cloud_refused NAME PATTERN CMD...: the command exits 2 with a message
# matching PATTERN (extended), shows no token, and sends the server nothing.
cloud_refused() {
	local name=$1 pattern=$2 before rc
	shift 2
	before=$(cloud_logged)
	"$@" >"$WORK/$name.out" 2>&1
	rc=$?
	check "$name: exit 2 (got $rc)" test "$rc" = 2
	check "$name: says why" grep -qE -- "$pattern" "$WORK/$name.out"
	check "$name: the token never shows" sh -c "! grep -qF \"\$(cat '$CLOUD_DIR/token')\" '$WORK/$name.out'"
	check "$name: not one request reached the server" test "$(cloud_logged)" = "$before"
}

# cloud_endpoint_refusals PROVIDER VARIABLE REMOTE: a plain-http endpoint
# REMOTE (not loopback) from VARIABLE, from providers.PROVIDER.endpoint and
# from an environment's override of it is refused by plan, up and destroy
# (cloud_refused).  Needs $WORK/inventory.yml with "    poll_interval: 0.2"
# under the provider; leaves it with the override appended.
cloud_endpoint_refusals() {
	local prov=$1 var=$2 remote=$3 line save
	save=${!var}
	export "$var=$remote"
	cloud_refused env-plan "^environment variable $var: the API endpoint '$remote' is plain http" pv plan phase1
	cloud_refused env-up "$var: .*plain http" pv up phase1 --only cloud
	cloud_refused env-destroy "$var: .*plain http" pv destroy phase1 --yes
	export "$var=$save"

	sed -i "s|^    poll_interval: 0.2|    poll_interval: 0.2\n    endpoint: $remote|" "$WORK/inventory.yml"
	line=$(grep -n '^    endpoint:' "$WORK/inventory.yml" | cut -d: -f1)
	cloud_refused inv-plan "inventory.yml:$line:15: 'endpoint' of provider '$prov': the API endpoint '$remote' is plain http" \
		env -u "$var" "$PROVISION" -i "$WORK/inventory.yml" --plain plan phase1
	cloud_refused inv-up "inventory.yml:$line:15: 'endpoint' of provider '$prov'" \
		env -u "$var" "$PROVISION" -i "$WORK/inventory.yml" --plain up phase1 --only cloud
	cloud_refused inv-destroy "inventory.yml:$line:15: 'endpoint' of provider '$prov'" \
		env -u "$var" "$PROVISION" -i "$WORK/inventory.yml" --plain destroy phase1 --yes
	sed -i "/^    endpoint: /d" "$WORK/inventory.yml"

	cat >>"$WORK/inventory.yml" <<-EOT
		environments:
		  staging:
		    providers:
		      $prov:
		        endpoint: $remote
	EOT
	line=$(grep -n '^        endpoint:' "$WORK/inventory.yml" | cut -d: -f1)
	cloud_refused override-plan "inventory.yml:$line:19: 'endpoint' of provider '$prov'" \
		env -u "$var" "$PROVISION" -i "$WORK/inventory.yml" --plain -e staging plan phase1
	cloud_refused override-destroy "inventory.yml:$line:19: 'endpoint' of provider '$prov'" \
		env -u "$var" "$PROVISION" -i "$WORK/inventory.yml" --plain -e staging destroy phase1 --yes
}

# cloud_fault_round NAME KIND EXTRA: up with one fault of KIND (lost, or
# status with EXTRA ', "status": 503') on the first request of each of
# $FAULT_CREATES, then destroy with one on each of $FAULT_DELETES (both
# "METHOD PATH-TEMPLATE" lists joined by '|'); after each, the resources
# ($FAULT_COUNTS, a jq program over the server's state) must be
# $FAULT_ONE_EACH and $FAULT_NONE.  Layout phase1.
cloud_fault_round() {
	local name=$1 kind=$2 extra=$3 before n
	local -a cm=() dm=()
	IFS='|' read -r -a cm <<<"$FAULT_CREATES"
	IFS='|' read -r -a dm <<<"$FAULT_DELETES"

	before=$(cloud_stats | jq .faults)
	cloud_faults_each "$kind" "$extra" "${cm[@]}"
	pv up phase1 --only cloud >"$WORK/up-$name" 2>&1
	check "up with a $name on every create succeeds" test $? = 0
	n=$(($(cloud_stats | jq .faults) - before))
	check "up: each create's $name was met ($n of ${#cm[@]})" test "$n" = "${#cm[@]}"
	check "up: one of each resource, none twice: $(cloud_state | jq -c "$FAULT_COUNTS")" \
		test "$(cloud_state | jq -c "$FAULT_COUNTS")" = "$FAULT_ONE_EACH"
	pv up phase1 --only cloud >"$WORK/up2-$name" 2>&1
	check "a second up finds everything and makes nothing" sh -c "! grep -q 'creating' '$WORK/up2-$name'"

	before=$(cloud_stats | jq .faults)
	cloud_faults_each "$kind" "$extra" "${dm[@]}"
	pv destroy phase1 --yes >"$WORK/destroy-$name" 2>&1
	check "destroy with a $name on every delete and the detach succeeds" test $? = 0
	n=$(($(cloud_stats | jq .faults) - before))
	check "destroy: each $name was met ($n of ${#dm[@]})" test "$n" = "${#dm[@]}"
	check "destroy: nothing is left: $(cloud_state | jq -c "$FAULT_COUNTS")" \
		test "$(cloud_state | jq -c "$FAULT_COUNTS")" = "$FAULT_NONE"
}

# cloud_faults_each KIND EXTRA MATCH...: one fault of KIND on the first request of each MATCH
cloud_faults_each() {
	local kind=$1 extra=$2 m list=
	shift 2
	for m in "$@"; do list="$list${list:+,}{\"match\": \"$m\", \"kind\": \"$kind\"$extra, \"count\": 1}"; done
	cloud_ctl faults "[$list]"
}

# cloud_check_resend_wait PATH [SECONDS]: the last two POSTs to PATH (a
# create refused with a 503, then sent again) are at least SECONDS (default
# half a second) apart.
cloud_check_resend_wait() {
	local gap min=${2:-0.5}
	gap=$(jq -s --arg p "$1" '[.[] | select(.method == "POST" and .path == $p)] | .[-2:] | .[1].t - .[0].t' "$CLOUD_DIR/api/requests.jsonl")
	check "a create after a 503 is sent again after a wait of at least $min s, not at once (${gap} s)" jq -en "$gap >= $min"
}

# cloud_many N PAR PROVIDER KIND: layout phase1 of $WORK/inventory.yml, N
# servers with 'parallel: PAR', is brought up (--only cloud), up again, and
# destroyed, in a rate budget far smaller than the work; KIND names a
# server in the provider's words ("server", "droplet").  Checks that the
# servers were created, awaited and deleted at once, never more than PAR at
# a time, each with its own live line, key and login, within the budget
# (no 429, nothing sent before the budget had a request again), and that the
# request count the tool reports is the one the server saw; prints the
# wall times.
cloud_many() {
	local n=$1 par=$2 prov=$3 kind=$4 stats0 stats1 t0 t1 peak waiting sent n_sent n_seen
	local hosts=".environments.default.layouts.phase1.hosts"
	cloud_ctl ratelimit '{"limit": 60, "per_second": 5}'
	stats0=$(cloud_stats)
	t0=$(date +%s.%N)
	pvj up phase1 --only cloud >"$WORK/up.json" 2>"$WORK/up.err" || {
		cat "$WORK/up.err"
		json_errors "$WORK/up.json" "$WORK/up.err"
		tail -n 30 "$CLOUD_DIR/server.log"
		bail "up of $n servers failed"
	}
	t1=$(date +%s.%N)
	stats1=$(cloud_stats)
	check "$n ${kind}s, none twice" test "$(cloud_state | jq "[.${kind}s[].name] | unique | length")" = "$n"
	check "$n host keys in the state, all different" \
		test "$(jq "[$hosts[].host_key] | unique | length" "$WORK/.provision/state.json")" = "$n"
	check "each $kind let its admin log in (its own address and pinned key)" \
		test "$(jq "[$hosts[] | select(.login_ok == true)] | length" "$WORK/.provision/state.json")" = "$n"
	peak=$(jq ".peak_create_$kind // 0" <<<"$stats1")
	check "${kind}s were created at once: $peak creates ran at the same time" test "$peak" -gt 1
	check "never more than parallel ($par) at once: $peak" test "$peak" -le "$par"
	# the SSH waits overlap: several are waited for before the first answers
	waiting=$(jq -s '[.[] | .message? // ""] | (map(test("answers on SSH$")) | index(true)) as $first |
		.[:$first] | map(select(test("^waiting for SSH on "))) | length' "$WORK/up.json")
	check "the SSH waits overlap: $waiting ${kind}s waited for before the first answered" test "$waiting" -gt 1
	check "a live line per $kind says what it waits for" \
		test "$(jq -rs '[.[] | select(.message? // "" | test("^waiting for SSH on ")) | .host] | unique | length' "$WORK/up.json")" = "$n"
	check "the rate budget ran out and the tool waited for it" \
		jq -es '[.[] | select(.message? // "" | test("API rate budget used up"))] | length > 0' "$WORK/up.json"
	check "no request was refused for the rate (429): $(jq .rate_limited <<<"$stats1")" test "$(jq .rate_limited <<<"$stats1")" = 0
	check "no request came before the budget had one again: $(jq .early <<<"$stats1")" test "$(jq .early <<<"$stats1")" = 0
	sent=$(jq -rs --arg p "^$prov: .* API requests" '[.[] | select(.message? // "" | test($p))][0].message' "$WORK/up.json")
	n_sent=$(sed -n 's/.*; \([0-9]*\) API requests.*/\1/p' <<<"$sent")
	n_seen=$(($(jq .requests <<<"$stats1") - $(jq .requests <<<"$stats0")))
	check "the request count the tool reports is the server's ($n_sent, $n_seen)" test "$n_sent" = "$n_seen"
	echo "# up: $n ${kind}s in $(echo "$t1 - $t0" | bc) s; $sent"

	pvj up phase1 --only cloud >"$WORK/up2.json" 2>"$WORK/up2.err" || bail "second up failed: $(cat "$WORK/up2.err")"
	check "a second up creates nothing" sh -c "! grep -q '\"creating ' '$WORK/up2.json'"
	check "a second up writes nothing" jq -es --arg p "^$prov: cloud resources up to date; [0-9]+ API requests \\(0 writes" \
		'[.[] | select(.message? // "" | test($p))] | length == 1' "$WORK/up2.json"

	stats0=$(cloud_stats)
	t0=$(date +%s.%N)
	pvj destroy phase1 --yes >"$WORK/destroy.json" 2>"$WORK/destroy.err" || {
		cat "$WORK/destroy.err"
		json_errors "$WORK/destroy.json" "$WORK/destroy.err"
		bail "destroy of $n ${kind}s failed"
	}
	t1=$(date +%s.%N)
	stats1=$(cloud_stats)
	check "no $kind is left" test "$(cloud_state | jq "[.${kind}s[]] | length")" = 0
	check "each $kind was announced as deleted" \
		test "$(jq -s --arg p "^deleting $kind " '[.[] | select(.message? // "" | test($p))] | length' "$WORK/destroy.json")" = "$n"
	peak=$(jq ".peak_delete_$kind // 0" <<<"$stats1")
	check "${kind}s were deleted at once: $peak at the same time, at most $par" sh -c "[ $peak -gt 1 ] && [ $peak -le $par ]"
	check "no 429 and nothing early during destroy" \
		test "$(jq -c '[.rate_limited, .early]' <<<"$stats1")" = "[0,0]"
	sent=$(jq -rs --arg p "^$prov: destroyed; " '[.[] | select(.message? // "" | test($p))][0].message' "$WORK/destroy.json")
	echo "# destroy: $n ${kind}s in $(echo "$t1 - $t0" | bc) s; $sent"
}

# cloud_retry_after PROVIDER PATH KIND: up phase1 --only cloud with the
# first server create (POST PATH) refused with a 503 that names a
# Retry-After of 3 s; the run goes on, the tool says it waits that long,
# the create is sent again no sooner, and one server (KIND) exists.
cloud_retry_after() {
	local prov=$1 path=$2 kind=$3
	cloud_ctl faults "[{\"match\": \"POST $path\", \"kind\": \"status\", \"status\": 503, \"retry_after\": 3, \"count\": 1}]"
	pvj up phase1 --only cloud >"$WORK/up.json" 2>"$WORK/up.err" || {
		json_errors "$WORK/up.json" "$WORK/up.err"
		bail "up with a 503 on the $kind create failed"
	}
	check "the 503 was met" test "$(cloud_stats | jq .faults)" = 1
	check "the wait named is the answer's Retry-After" \
		jq -es '[.[] | select(.message? // "" | test("HTTP 503 .*it does not exist: trying again in 3.0 s"))] | length == 1' "$WORK/up.json"
	cloud_check_resend_wait "$path" 3
	check "one $kind" test "$(cloud_state | jq "[.${kind}s[]] | length")" = 1
	viol=$(cloud_violations)
	check "every request followed the specification${viol:+: $viol}" test -z "$viol"
}

# cloud_ufw_allow RULES_JQ: the cloud firewall mirrors ufw_allow: with
# 8443/tcp and "9000/tcp from 10.9.0.0/16" added to it in
# $WORK/inventory.yml, up opens 8443 to all and 9000 to that network only;
# without 8443, up closes it again.  RULES_JQ turns the server's state into
# "PORT SOURCES" lines, one per inbound rule.
cloud_ufw_allow() {
	local rules=$1
	sed -i 's|ufw_allow: \[22/tcp, 80/tcp, 443/tcp\]|ufw_allow: [22/tcp, 80/tcp, 443/tcp, 8443/tcp, "9000/tcp from 10.9.0.0/16"]|' "$WORK/inventory.yml"
	pv up phase1 --only cloud >"$WORK/up1" 2>&1 || bail "up failed: $(tail -n 20 "$WORK/up1")"
	cloud_state | jq -r "$rules" >"$WORK/rules1"
	check "8443/tcp of ufw_allow is open to all: $(tr '\n' ';' <"$WORK/rules1")" grep -qx '8443 0.0.0.0/0,::/0' "$WORK/rules1"
	check "9000/tcp from 10.9.0.0/16 is open to that network only" grep -qx '9000 10.9.0.0/16' "$WORK/rules1"
	check "the SSH port is still open to all" grep -qx '22 0.0.0.0/0,::/0' "$WORK/rules1"
	sed -i 's|, 8443/tcp, "9000|, "9000|' "$WORK/inventory.yml"
	pv up phase1 --only cloud >"$WORK/up2" 2>&1 || bail "second up failed: $(tail -n 20 "$WORK/up2")"
	cloud_state | jq -r "$rules" >"$WORK/rules2"
	check "8443 taken out of ufw_allow is closed again: $(tr '\n' ';' <"$WORK/rules2")" sh -c "! grep -q '^8443 ' '$WORK/rules2'"
	check "9000 stays" grep -qx '9000 10.9.0.0/16' "$WORK/rules2"
	viol=$(cloud_violations)
	check "every request followed the specification${viol:+: $viol}" test -z "$viol"
}

# ---- snapshots (t0344, t0345): layout phase1 with servers app1 and app2 ----

# snap_run NAME ARGS...: provision --json snapshot ARGS into $WORK/NAME.json
# (.err), every process's arguments sampled into $WORK/ps.log while it runs.
snap_run() {
	local name=$1 pid
	shift
	t_step "line ${BASH_LINENO[0]}: provision --json snapshot $*"
	"$PROVISION" -i "$WORK/inventory.yml" --json snapshot "$@" >"$WORK/$name.json" 2>"$WORK/$name.err" &
	pid=$!
	while kill -0 "$pid" 2>/dev/null; do ps -eww -o args >>"$WORK/ps.log"; sleep 0.05; done
	wait "$pid" || bail "snapshot $* failed: $(json_errors "$WORK/$name.json" "$WORK/$name.err")"
}

# snap_sent N0 METHOD: the paths of the METHOD requests logged after line N0, as a sorted JSON list.
snap_sent() {
	tail -n +"$(($1 + 1))" "$CLOUD_DIR/api/requests.jsonl" | jq -sc --arg m "$2" '[.[] | select(.method == $m) | .path] | sort'
}

# snap_hosts FILE STATE: the hosts of FILE's snapshot events in STATE, sorted.
snap_hosts() {
	jq -sc --arg s "$2" '[.[] | select(.event == "snapshot" and .state == $s) | .host] | sort' "$1"
}

# snap_layout START INVENTORY ID_KEY: a project whose layout phase1 has
# the servers app1 and app2 (snap_inventory), made with up --only cloud;
# sets ID1 and ID2, the state's ID_KEY of each.
snap_layout() {
	snap_inventory "$1" "$2"
	pv up phase1 --only cloud >"$WORK/up" 2>&1 || bail "up failed: $(tail -n 20 "$WORK/up")"
	snap_ids "$3"
}

# snap_inventory START INVENTORY: a project whose layout phase1 has the
# servers app1 and app2, against the API test server START starts
# (hcloud_start, do_start), in the inventory INVENTORY writes.  One booted
# host serves both servers (--shared-host): its sshds are not the host's
# own service, so the bootstrap host keys stay (rotate_host_keys: false).
snap_inventory() {
	t_project </dev/null
	"$1" --shared-host
	"$2" >"$WORK/inventory.yml"
	cat >>"$WORK/inventory.yml" <<-EOF
		      app2:
		        roles: [base]
	EOF
	sed -i 's|^    poll_interval: 0.2$|    poll_interval: 0.2\n    rotate_host_keys: false|' "$WORK/inventory.yml"
	t_uses phase1
}

# snap_ids ID_KEY: ID1 and ID2, the state's ID_KEY of app1 and app2.
snap_ids() {
	ID1=$(jq -r ".environments.default.layouts.phase1.hosts.app1.$1" "$WORK/.provision/state.json")
	ID2=$(jq -r ".environments.default.layouts.phase1.hosts.app2.$1" "$WORK/.provision/state.json")
}

# snap_list: snapshot list, plain and --json, shows the tool's snapshots of
# app1 and app2 (one each) and none of the names in $SNAP_FOREIGN (a regex).
snap_list() {
	pv snapshot list phase1 >"$WORK/list1" 2>&1 || bail "snapshot list failed: $(cat "$WORK/list1")"
	check "list names each of the tool's snapshots with its server" \
		sh -c "grep -q 'shop-default-phase1-app1-[0-9-]* *app1 ' '$WORK/list1' && grep -q 'shop-default-phase1-app2-[0-9-]* *app2 ' '$WORK/list1'"
	check "list says how many: 2" grep -q '^phase1: 2 snapshots made by provision' "$WORK/list1"
	check "list shows no snapshot the tool did not make" sh -c "! grep -Eq '$SNAP_FOREIGN' '$WORK/list1'"
	pvj snapshot list phase1 >"$WORK/list1.json" 2>&1 || bail "snapshot list --json failed"
	check "list --json: two listed, each with its created time and size" \
		test "$(jq -sc '[.[] | select(.event == "snapshot" and .state == "listed") | [.host, (.created | length > 0), (.size_gb | type)]] | sort' "$WORK/list1.json")" = '[["app1",true,"number"],["app2",true,"number"]]'
}

# snap_end BAD_KEEP: the --json events of the run are the schema's; a
# snapshot_keep of BAD_KEEP is refused at its line and column with nothing
# sent; destroy deletes no snapshot; the token is in no output, no state and
# no process's arguments; every request followed the specification.
# Needs "    snapshot_keep: 2" in $WORK/inventory.yml.
snap_end() {
	local bad line n_images
	bad=$(/usr/bin/python3 "$ROOT/tests/helpers/check-events.py" "$ROOT/doc/events.schema.json" "$WORK"/snap*.json "$WORK/list1.json" 2>&1)
	check "every --json line is an event the schema accepts${bad:+: $bad}" test -z "$bad"
	sed -i "s|^    snapshot_keep: 2|    snapshot_keep: $1|" "$WORK/inventory.yml"
	line=$(grep -n '^    snapshot_keep:' "$WORK/inventory.yml" | cut -d: -f1)
	cloud_refused bad-keep "inventory.yml:$line:20: 'snapshot_keep' must be a whole number from 1 to 1000" pv snapshot phase1
	sed -i "s|^    snapshot_keep: $1|    snapshot_keep: 2|" "$WORK/inventory.yml"
	n_images=$(cloud_state | jq '.images | length')
	pv destroy phase1 --yes >"$WORK/destroy" 2>&1 || bail "destroy failed: $(cat "$WORK/destroy")"
	PV_LAYOUTS=()
	check "destroy deleted no snapshot ($n_images before and after)" test "$(cloud_state | jq '.images | length')" = "$n_images"
	cloud_clean_end "$WORK"/snap* "$WORK"/list* "$WORK/destroy"
}

# cloud_clean_end FILE...: the token is in none of the FILEs, nor in the
# state, nor in any process's arguments sampled into $WORK/ps.log; every
# request followed the specification.
cloud_clean_end() {
	local token
	token=$(cat "$CLOUD_DIR/token")
	check "the token never shows in any output" sh -c '! grep -qF "$0" "$@"' "$token" "$@"
	check "nor in the state" sh -c "! grep -rqF '$token' '$WORK/.provision'"
	check "nor in any process's arguments while the tool ran ($(wc -l <"$WORK/ps.log") lines seen)" \
		sh -c "[ -s '$WORK/ps.log' ] && ! grep -qF '$token' '$WORK/ps.log'"
	viol=$(cloud_violations)
	check "every request followed the specification${viol:+: $viol}" test -z "$viol"
}

# snap_first APP1_CREATE APP2_CREATE ACTIONS: snapshot phase1 (snap1) makes
# one snapshot of each server: events, one request each (paths APP*_CREATE),
# the actions (below ACTIONS) polled, nothing deleted.  Needs mine SERVER
# (the ids of the tool's snapshots of SERVER, as the cloud has them).
snap_first() {
	local n0
	sleep 1.1 # the tool's snapshots are named to the second
	n0=$(cloud_logged)
	snap_run snap1 phase1
	check "one snapshot event per server, each made" test "$(snap_hosts "$WORK/snap1.json" made)" = '["app1","app2"]'
	check "the cloud has one snapshot of each server made by the tool" test "$(mine app1 | jq length),$(mine app2 | jq length)" = 1,1
	check "one snapshot request per server, nothing else written: $(snap_sent "$n0" POST)" \
		test "$(snap_sent "$n0" POST)" = "$(jq -nc --arg a "$1" --arg b "$2" '[$a, $b] | sort')"
	check "the actions were waited for: the tool polled them" \
		jq -e --arg a "$3" 'map(select(startswith($a))) | length >= 2' <<<"$(snap_sent "$n0" GET)"
	check "without snapshot_keep nothing is deleted" test "$(snap_sent "$n0" DELETE)" = '[]'
}

# snap_host_keep APP1_CREATE DELETE_PREFIX: list; --host app1 makes one
# more of app1 only; with snapshot_keep: 2 (added to the inventory) the
# next --host app1 (snap3) deletes exactly the tool's oldest of app1
# (DELETE_PREFIX/ID), says so, and leaves app2's and the foreign ones
# (foreign) as they were.
snap_host_keep() {
	local n0 oldest keep newest before
	snap_list
	sleep 1.1
	n0=$(cloud_logged)
	pv snapshot phase1 --host app1 >"$WORK/snap2" 2>&1 || bail "snapshot --host app1 failed: $(cat "$WORK/snap2")"
	check "--host app1: one more snapshot of app1, none of app2" test "$(mine app1 | jq length),$(mine app2 | jq length)" = 2,1
	check "--host app1: the one snapshot request is app1's" test "$(snap_sent "$n0" POST)" = "[\"$1\"]"
	sed -i 's|^    poll_interval: 0.2|    poll_interval: 0.2\n    snapshot_keep: 2|' "$WORK/inventory.yml"
	oldest=$(mine app1 | jq '.[0]')
	keep=$(mine app1 | jq -c '.[1:]')
	before=$(foreign)
	sleep 1.1
	n0=$(cloud_logged)
	snap_run snap3 phase1 --host app1
	newest=$(jq -s '.[] | select(.event == "snapshot" and .state == "made") | .id' "$WORK/snap3.json")
	check "keep 2: app1 has its 2 newest, the oldest is gone: $(mine app1)" test "$(mine app1)" = "$(jq -c ". + [$newest]" <<<"$keep")"
	check "the one DELETE was of the tool's oldest snapshot of app1" test "$(snap_sent "$n0" DELETE)" = "[\"$2/$oldest\"]"
	check "the deletion is said, with the snapshot's id" \
		test "$(jq -sc '[.[] | select(.event == "snapshot" and .state == "deleted") | .id]' "$WORK/snap3.json")" = "[$oldest]"
	check "app2's snapshot is untouched" test "$(mine app2 | jq length)" = 1
	check "the snapshots of app1 the tool did not make survive: $(foreign)" test "$(foreign)" = "$before"
}

# ---- the provider's own backups (t0346, t0347): snap_inventory's phase1 ----
# The script sets BK_KIND (server, droplet), BK_ON (a jq program: the
# cloud's state to "true" or "false", whether server $s has backups on),
# BK_RX (a regex matching the path of a backups switch), BK_FAULT_ON and
# BK_FAULT_OFF (the switches' "METHOD TEMPLATE" for faults), BK_NEW_PLAN (a regex: plan's line
# for app1, not yet made, with provider_backups: true), BK_CREATE_SWITCHES
# (how many switches the first up sends: 1 where the create cannot ask for
# backups), BK_ACTION_RX (a regex matching the path that polls an action)
# and hand_switch SERVER on|off (a request as another client).

# bk_run NAME ARGS...: provision --plain ARGS into $WORK/NAME (both streams),
# every process's arguments sampled into $WORK/ps.log while it runs; its
# exit status is the command's.
bk_run() {
	local name=$1 pid
	shift
	t_step "line ${BASH_LINENO[0]}: provision $*"
	"$PROVISION" -i "$WORK/inventory.yml" --plain "$@" >"$WORK/$name" 2>&1 &
	pid=$!
	while kill -0 "$pid" 2>/dev/null; do ps -eww -o args >>"$WORK/ps.log"; sleep 0.05; done
	wait "$pid"
}

# bk_set SERVER VALUE: provider_backups of SERVER in the inventory is VALUE
# (a line of its own right under the server's name); "-" takes the key out.
bk_set() {
	sed -i "/^      $1:\$/,/^      [a-z0-9-]*:\$/{/^        provider_backups:/d}" "$WORK/inventory.yml"
	[ "$2" = - ] || sed -i "s|^      $1:\$|&\n        provider_backups: $2|" "$WORK/inventory.yml"
}

# bk_on SERVER: "true" or "false", as the cloud has it.
bk_on() {
	cloud_state | jq -r --arg s "$1" "$BK_ON"
}

# bk_switches N0: the paths of the backups switches logged after line N0, as a JSON list.
bk_switches() {
	tail -n +"$(($1 + 1))" "$CLOUD_DIR/api/requests.jsonl" | jq -sc --arg rx "$BK_RX" '[.[] | select(.method == "POST" and (.path | test($rx))) | .path]'
}

# bk_up NAME: up --only cloud into $WORK/NAME, or bail.
bk_up() {
	bk_run "$1" up phase1 --only cloud || bail "up ($1) failed: $(tail -n 20 "$WORK/$1")"
}

# bk_quiet NAME: the run's closing line says it wrote nothing.
bk_quiet() {
	check "$1: no write sent: $(grep -o '[0-9]* API requests ([0-9]* writes' "$WORK/$1")" \
		grep -Eq "cloud resources up to date; [0-9]+ API requests \(0 writes" "$WORK/$1"
}

# bk_plan NAME LINE: plan into $WORK/NAME shows LINE (a regex) and sends no write.
bk_plan() {
	local w0
	w0=$(cloud_stats | jq .writes)
	bk_run "$1" plan phase1 || bail "plan ($1) failed: $(tail -n 20 "$WORK/$1")"
	check "$1: plan says: $2" grep -Eq -- "$2" "$WORK/$1"
	check "$1: plan sent no write" test "$(cloud_stats | jq .writes)" = "$w0"
}

# bk_fault NAME VALUE FAULTS SENT SAYS: with provider_backups of app1
# VALUE, up (into $WORK/NAME) meets FAULTS (the test server's fault list,
# one fault on the switch): app1's backups are then VALUE, the switch was
# sent SENT times, the output says SAYS (a regex); the next up writes nothing.
bk_fault() {
	local n0 f0
	bk_set app1 "$2"
	f0=$(cloud_stats | jq .faults)
	cloud_ctl faults "$3"
	n0=$(cloud_logged)
	bk_up "$1"
	check "$1: the fault was met" test "$(cloud_stats | jq .faults)" = $((f0 + 1))
	check "$1: app1's backups are $2" test "$(bk_on app1)" = "$2"
	check "$1: the switch was sent $4 times: $(bk_switches "$n0")" test "$(bk_switches "$n0" | jq length)" = "$4"
	check "$1: it says: $5" grep -Eq -- "$5" "$WORK/$1"
	BK_N0=$n0
	bk_up "$1-again"
	bk_quiet "$1-again"
}

# bk_rounds: provider_backups on at create, untouched when absent, off and
# on again through a lost answer and a 503, refused when not a boolean.
bk_rounds() {
	local n0 line
	bk_set app1 true
	bk_plan plan0 "$BK_NEW_PLAN"
	check "plan0: nothing about app2's backups, which the inventory leaves alone" \
		sh -c "! grep -q 'app2.*backups' '$WORK/plan0'"
	n0=$(cloud_logged)
	bk_up up1
	check "up: app1's backups are on, app2's untouched (off)" test "$(bk_on app1),$(bk_on app2)" = true,false
	check "up: $BK_CREATE_SWITCHES backups switch sent for that: $(bk_switches "$n0")" \
		test "$(bk_switches "$n0" | jq length)" = "$BK_CREATE_SWITCHES"

	bk_up up2
	bk_quiet up2
	check "up2: no backups switch sent" test "$(bk_switches "$n0" | jq length)" = "$BK_CREATE_SWITCHES"

	# app2's backups switched on by hand stay on: the inventory does not say
	hand_switch app2 on
	check "app2's backups were switched on by hand" test "$(bk_on app2)" = true
	bk_plan plan1 "^plan for layout 'phase1'"
	check "plan1: no backups change for anyone" sh -c "! grep -q 'backups' '$WORK/plan1'"
	bk_up up3
	bk_quiet up3
	check "up3: app2's hand-made backups stay on" test "$(bk_on app2)" = true

	# off again, the switch's answer lost: looked at, not sent twice
	bk_set app1 false
	bk_plan plan2 "~ cloud: $BK_KIND app1: the provider's backups on -> off"
	bk_fault up4 false "[{\"match\": \"$BK_FAULT_OFF\", \"kind\": \"lost\", \"count\": 1}]" 1 \
		"app1: switching off the backups of $BK_KIND app1: .*; but the backups are off: going on"
	# on again, the first switch refused with a 503: looked at, sent again
	bk_fault up5 true "[{\"match\": \"$BK_FAULT_ON\", \"kind\": \"status\", \"status\": 503, \"count\": 1}]" 2 \
		"app1: switching on the backups of $BK_KIND app1: HTTP 503 .*; they are not on: trying again in"
	check "up5: the switch's action was waited for: the tool polled it" \
		jq -e --arg rx "$BK_ACTION_RX" 'map(select(test($rx))) | length >= 1' <<<"$(snap_sent "$BK_N0" GET)"

	# not a boolean: refused at its line and column, nothing sent
	bk_set app1 maybe
	line=$(grep -n '^        provider_backups: maybe' "$WORK/inventory.yml" | cut -d: -f1)
	cloud_refused bad-plan "inventory.yml:$line:27: 'provider_backups' of server 'app1' must be a boolean" pv plan phase1
	cloud_refused bad-up "inventory.yml:$line:27: 'provider_backups' of server 'app1' must be a boolean" pv up phase1 --only cloud
	bk_set app1 true
}

# bk_layout_keep SNAPSHOTS_OF_APP1: a layout's snapshot_keep (2) wins over
# the provider's (1): after three snapshots of app1 the tool keeps two
# (SNAPSHOTS_OF_APP1 counts the tool's); a layout's snapshot_keep of 0 is
# refused at its line and column with nothing sent.
bk_layout_keep() {
	local line i
	sed -i 's|^    poll_interval: 0.2$|    poll_interval: 0.2\n    snapshot_keep: 1|' "$WORK/inventory.yml"
	sed -i 's#^    provider: \(hetzner\|digitalocean\)$#&\n    snapshot_keep: 2#' "$WORK/inventory.yml"
	for i in 1 2 3; do
		sleep 1.1 # the tool's snapshots are named to the second
		bk_run "snap$i" snapshot phase1 --host app1 || bail "snapshot $i failed: $(tail -n 20 "$WORK/snap$i")"
	done
	check "the layout's snapshot_keep 2 wins over the provider's 1: $($1) of the tool's snapshots of app1" test "$($1)" = 2
	check "the third snapshot deleted one, the oldest" grep -q "^app1: deleted snapshot shop-default-phase1-app1-" "$WORK/snap3"
	check "a snapshot is named with today's date (UTC): $(grep -o 'made snapshot [^ ]*' "$WORK/snap3")" \
		grep -q "^app1: made snapshot shop-default-phase1-app1-$(date -u +%Y%m%d)-" "$WORK/snap3"
	sed -i 's|^    snapshot_keep: 2$|    snapshot_keep: 0|' "$WORK/inventory.yml"
	line=$(grep -n '^    snapshot_keep: 0' "$WORK/inventory.yml" | cut -d: -f1)
	cloud_refused bad-keep "inventory.yml:$line:20: 'snapshot_keep' of layout 'phase1' must be a whole number from 1 to 1000" pv snapshot phase1
	sed -i 's|^    snapshot_keep: 0$|    snapshot_keep: 2|' "$WORK/inventory.yml"
}

# bk_end: destroy; the token is in no output, no state and no process's
# arguments; every request followed the specification.
bk_end() {
	bk_run destroy destroy phase1 --yes || bail "destroy failed: $(tail -n 20 "$WORK/destroy")"
	PV_LAYOUTS=()
	cloud_clean_end "$WORK"/plan* "$WORK"/up* "$WORK"/snap* "$WORK"/bad-* "$WORK/destroy"
}

# ---- the load balancer pair's failover on hosts (t0350, t0351) ----
# The script starts the API test server with --tls-listen bridge, sets
# API_TLS (the API base URL on the bridge, https), LBP_NAME (hetzner,
# digitalocean), LBP_PROVIDER (the provider's settings, YAML at two
# spaces), LBP_TOKEN, LBP_LIST (a path that lists), LBP_ID_KEY (the state's
# server id), LBP_KIND (the cloud's state key of the pair's addresses) and
# the functions lbp_ip and lbp_id (the pair's address and its id, from the
# cloud's state or the tool's), lbp_on ID (the server id it is on, or
# "none") and lbp_assign_path ID (the path of an assign).

# lbpair_failover: lb1 and lb2 with role keepalived converge; the token is
# a root-only file on them; the active one's host is stopped hard and the
# backup asks the API, over https with the test CA and the token, for the
# address, and holds it; the time is printed; the token is nowhere else.
lbpair_failover() {
	local code line fip fid active backup n0 t0 req took found
	code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$CLOUD_CA" -H @"$CLOUD_DIR/auth-header" "$API_TLS$LBP_LIST")
	check "the test server answers https on the bridge with a certificate of the test CA (got $code)" test "$code" = 200
	export PV_TEST_API_TOKEN=$LBP_TOKEN
	{
		cat <<EOT
project: shop
ssh: { user: admin }
secrets:
  api_token: env:PV_TEST_API_TOKEN
vars: { ssh_permit_root_login: prohibit-password }
providers:
$LBP_PROVIDER
layouts:
  phase1:
    provider: $LBP_NAME
    lb_pair: floating_ip
    vars:
      keepalived_api_token: api_token
      keepalived_api_endpoint: $API_TLS
      keepalived_api_ca: |
EOT
		sed 's/^/        /' "$CLOUD_CA"
		cat <<EOT
    servers:
      lb1: { roles: [base, keepalived] }
      lb2: { roles: [base, keepalived] }
EOT
	} >"$WORK/inventory.yml"
	t_uses phase1

	# plain http to the hosts' API endpoint: refused at its line and column
	sed -i "s|^      keepalived_api_endpoint: https://|      keepalived_api_endpoint: http://|" "$WORK/inventory.yml"
	line=$(grep -n '^      keepalived_api_endpoint:' "$WORK/inventory.yml" | cut -d: -f1)
	cloud_refused http-endpoint "inventory.yml:$line:32: variable 'keepalived_api_endpoint' must be a URL starting with 'https://'" pv up phase1
	sed -i "s|^      keepalived_api_endpoint: http://|      keepalived_api_endpoint: https://|" "$WORK/inventory.yml"

	bk_run up1 up phase1 || bail "up failed: $(tail -n 30 "$WORK/up1")"
	pass "up converges the pair with its floating IP"
	fip=$(lbp_ip)
	fid=$(lbp_id)
	sid() { jq -r ".environments.default.layouts.phase1.hosts.$1.$LBP_ID_KEY" "$WORK/.provision/state.json"; }
	on() { lbp_on "$fid"; }
	for h in lb1 lb2; do
		check "$h: the token's file is root's, mode 0600" \
			test "$(on_host "$h" 'stat -c "%a %U %G" /etc/provision/keepalived-api.header' | tr -d '\r')" = "600 root root"
	done

	holds() { on_host "$1" "ip -o -4 addr show" | grep -qF " $fip/32"; }
	# the one of the pair holding the address (whichever became active first)
	holder() {
		local a=
		holds lb1 && a="$a lb1"
		holds lb2 && a="$a lb2"
		echo "${a# }"
	}
	one_holder() { case $(holder) in lb1 | lb2) return 0 ;; *) return 1 ;; esac }
	check "one of the pair becomes the active one and holds $fip on its public interface" wait_for 60 one_holder
	active=$(holder)
	case $active in lb1) backup=lb2 ;; *) active=lb2 backup=lb1 ;; esac
	check "the API has the floating IP on the active one's server, $active's" wait_for 60 eval 'test "$(on)" = "$(sid $active)"'
	pvj up phase1 >"$WORK/up2" 2>"$WORK/up2.err" || bail "second up failed: $(json_errors "$WORK/up2" "$WORK/up2.err")"
	check "second up: 0 changed ($(json_resources "$WORK/up2" changed | tr '\n' ' '))" test "$(json_total "$WORK/up2" changed)" = 0
	bk_quiet up2

	n0=$(cloud_logged)
	t0=$(date +%s.%N)
	cloud_ctl kill_host "{\"server\": $(sid $active)}" || bail "cannot stop $active's host"
	pass "the active one's host, $active's, is stopped hard"
	# on the backup's server, by an assign sent after the stop (it may have been there before)
	assigned() {
		test "$(on)" = "$(sid $backup)" &&
			tail -n +"$((n0 + 1))" "$CLOUD_DIR/api/requests.jsonl" |
			jq -se --arg p "$(lbp_assign_path "$fid")" 'any(.[]; .method == "POST" and .path == $p and .status == 201)' >/dev/null
	}
	check "the API assigns the floating IP to $backup's server ($(sid $backup))" wait_for 60 assigned
	req=$(tail -n +"$((n0 + 1))" "$CLOUD_DIR/api/requests.jsonl" | jq -sc --arg p "$(lbp_assign_path "$fid")" '[.[] | select(.method == "POST" and .path == $p)] | .[0]')
	check "it came from $backup over https, with the token (HTTP $(jq .status <<<"$req"))" \
		test "$(jq -c '[.status, .tls]' <<<"$req")" = '[201,true]'
	if [ "$(jq .t <<<"$req")" != null ]; then
		took=$(awk "BEGIN { printf \"%.1f\", $(jq .t <<<"$req") - $t0 }")
		echo "# failover: $backup asked the API for the floating IP ${took} s after $active's host stopped"
	fi
	check "$backup holds $fip on its public interface" wait_for 30 holds "$backup"
	check "$backup's journal says the API moved it" on_host "$backup" "journalctl --no-pager -t keepalived-takeover | grep -q 'moved $fip to this server'"
	on_host "$backup" "journalctl --no-pager -o short-precise -t keepalived-takeover -t Keepalived_vrrp" | tail -n 8 | sed 's/^/#   /'

	# the token on the backup: in that file only; read from stdin here, never an argument
	found=$(printf '%s' "$LBP_TOKEN" | "$PROVISION" -i "$WORK/inventory.yml" ssh "$backup" -- \
		"sudo -n sh -c 't=\$(cat); grep -rlF -- \"\$t\" /etc /usr/local/lib/provision /var/lib/provision 2>/dev/null; journalctl --no-pager | grep -cF -- \"\$t\"'" | tr -d '\r' | tr '\n' ' ')
	check "on $backup the token is only in its file, never in the journal: $found" test "$found" = "/etc/provision/keepalived-api.header 0 "

	bk_run destroy destroy phase1 --yes || bail "destroy failed: $(tail -n 20 "$WORK/destroy")"
	PV_LAYOUTS=()
	check "destroy: no floating IP left" test "$(cloud_state | jq ".$LBP_KIND | length")" = 0
	cloud_clean_end "$WORK"/up* "$WORK"/http-endpoint.out "$WORK/destroy"
}
