# A real S3-compatible store for the backup tests: s3rver (npm) behind TLS
# with a certificate from a CA made for the test, bound to the test's bridge
# address (hosts reach it there; nothing listens beyond the test network).
# Source after lib.sh, then:
#   bk_project < <(bk_common; cat <<'YML' ... YML)
#   s3_install; pv up LAYOUT --only cloud; s3_start LAYOUT BUCKET
# then the inventory's placeholders S3-ADDR and S3-CA (values) are filled in.
# s3rver takes the access key and secret S3RVER.
S3_VERSION=3.7.1
S3_PORT=9443
S3_PID=
S3_DIR=${PROVISION_CACHE_DIR:-/var/cache/provision}/npm-s3rver-$S3_VERSION

s3_install() {
	[ -x "$S3_DIR/node_modules/.bin/s3rver" ] && return 0
	local tmp
	command -v npm >/dev/null || bail "npm is missing (tests/deps.sh installs it)"
	mkdir -p "$(dirname "$S3_DIR")"
	tmp=$(mktemp -d "$S3_DIR.XXXXXX")
	(cd "$tmp" && npm install --no-audit --no-fund --silent "s3rver@$S3_VERSION" >/dev/null) ||
		{ rm -rf "$tmp"; bail "npm install s3rver@$S3_VERSION failed"; }
	mv "$tmp" "$S3_DIR" 2>/dev/null || rm -rf "$tmp"
}

# s3_start LAYOUT BUCKET...: a CA, a certificate for the bridge address, s3rver.
s3_start() {
	local layout=$1 b args=()
	shift
	S3_ADDR=$(jq -r ".environments.default.providers.local.bridge_address // empty" "$WORK/.provision/state.json")
	[ -n "$S3_ADDR" ] || S3_ADDR=$(jq -r '[.. | objects | .bridge_address? // empty] | first' "$WORK/.provision/state.json")
	case "$S3_ADDR" in 10.213.*) ;; *) bail "no bridge address on the test network for $layout: '$S3_ADDR'" ;; esac
	mkdir -p "$WORK/s3/data"
	# pgBackRest matches the endpoint against the certificate's DNS names only,
	# so the address is one of those too
	(
		cd "$WORK/s3" &&
			openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 2 \
				-subj /CN=provision-test-ca -addext basicConstraints=critical,CA:TRUE &&
			openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj "/CN=$S3_ADDR" &&
			printf 'subjectAltName=IP:%s,DNS:%s\nbasicConstraints=CA:FALSE\n' "$S3_ADDR" "$S3_ADDR" >ext &&
			openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 \
				-extfile ext -out server.crt
	) >"$WORK/s3/openssl.log" 2>&1 || bail "making the test CA failed: $(cat "$WORK/s3/openssl.log")"
	for b in "$@"; do args+=(--configure-bucket "$b"); done
	s3_run "${args[@]}"
	s3_fill_inventory "$WORK/inventory.yml" >"$WORK/inventory.yml.new" && mv "$WORK/inventory.yml.new" "$WORK/inventory.yml"
}

# s3_fill_inventory FILE: FILE with the placeholders S3-ADDR and S3-CA filled
# in (the store's address and its CA), on stdout
# (FILE may be /dev/stdin: the program is an argument)
s3_fill_inventory() {
	/usr/bin/python3 -c '
import sys
p, addr, ca = sys.argv[1:]
t = open(p).read().replace("S3-ADDR", addr)
pem = open(ca).read().rstrip("\n")
t = t.replace("S3-CA", "|\n" + "\n".join("    " + l for l in pem.split("\n")))
sys.stdout.write(t)
' "$1" "$S3_ADDR" "$WORK/s3/ca.crt"
}

# s3_spawn DATA PORT LOG ARGS...: s3rver on DATA at PORT of the bridge
# address with the test's certificate, once it answers; its PID in S3_SPAWNED.
s3_spawn() {
	local data=$1 port=$2 log=$3 i
	shift 3
	mkdir -p "$data"
	setsid node "$S3_DIR/node_modules/.bin/s3rver" -d "$data" -a "$S3_ADDR" -p "$port" \
		--key "$WORK/s3/server.key" --cert "$WORK/s3/server.crt" "$@" >>"$log" 2>&1 &
	S3_SPAWNED=$!
	for i in $(seq 100); do
		curl -s -o /dev/null --cacert "$WORK/s3/ca.crt" "https://$S3_ADDR:$port/" && return 0
		kill -0 "$S3_SPAWNED" 2>/dev/null || break
		sleep 0.2
	done
	bail "s3rver did not start: $(tail -n 20 "$log")"
}

# s3_run ARGS...: (re)start s3rver on the same data directory.
s3_run() {
	s3_stop
	s3_spawn "$WORK/s3/data" "$S3_PORT" "$WORK/s3/s3rver.log" "$@"
	S3_PID=$S3_SPAWNED
}

# s3_second PORT BUCKET: a second store after s3_start, on the same address
# and certificate with its own data ($WORK/s3-PORT/data), stopped on exit.
S3_PID2=
s3_second() {
	s3_spawn "$WORK/s3-$1/data" "$1" "$WORK/s3-$1/s3rver.log" --configure-bucket "$2"
	S3_PID2=$S3_SPAWNED
}

s3_stop() {
	local i
	if [ -n "$S3_PID" ]; then
		kill "$S3_PID" 2>/dev/null
		for i in $(seq 50); do
			kill -0 "$S3_PID" 2>/dev/null || break
			sleep 0.1
		done
		kill -9 "$S3_PID" 2>/dev/null
		wait "$S3_PID" 2>/dev/null
		S3_PID=
	fi
}

# t_cleanup, and the stores first
s3_cleanup() {
	s3_stop
	if [ -n "$S3_PID2" ]; then
		kill "$S3_PID2" 2>/dev/null
		wait "$S3_PID2" 2>/dev/null
	fi
	t_cleanup
}

# t_project (inventory on stdin), with the store stopped on exit.
bk_project() {
	t_project
	trap s3_cleanup EXIT
}

# The inventory's secrets and the store's variables for role backup (extra
# variable lines as arguments, indented by two spaces; more secrets'
# lines in BK_SECRETS).  The keys are the
# ones s3rver takes; the passphrase is made per run.
export PV_S3_KEY=S3RVER PV_S3_SECRET=S3RVER
export PV_BACKUP_PASS="pass-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
bk_common() {
	local l
	cat <<'YML'
secrets:
  s3_key: env:PV_S3_KEY
  s3_secret: env:PV_S3_SECRET
  backup_pass: env:PV_BACKUP_PASS
YML
	[ -z "${BK_SECRETS:-}" ] || printf '%s\n' "$BK_SECRETS"
	echo "vars:"
	bk_store_vars
	cat <<'YML'
  backup_cipher_pass: backup_pass
  postgres_memory_mb: 256
YML
	for l in "$@"; do printf '  %s\n' "$l"; done
}

# The store's variables (the test's s3rver, the secrets s3_key and
# s3_secret), as lines of a 'vars' block; roles backup and backup-files
# both read them.
bk_store_vars() {
	cat <<'YML'
  backup_s3_endpoint: S3-ADDR
  backup_s3_port: 9443
  backup_s3_bucket: backups
  backup_s3_uri_style: path
  backup_s3_key: s3_key
  backup_s3_key_secret: s3_secret
  backup_s3_ca: S3-CA
YML
}

# psql as postgres on HOST in database shop: psql_on HOST SQL (from /: postgres
# may not enter the admin's home, and psql would say so on every call)
psql_on() {
	local sql
	sql=$(printf '%s' "$2" | tr '\n\t' '  ') # one line: dash reads no $'...'
	on_host "$1" "cd / && runuser -u postgres -- psql -X -q -tA -v ON_ERROR_STOP=1 -d shop -c $(printf '%q' "$sql")"
}

# Every table of database shop: "table rows md5", computed here (not by the tool).
table_sums() {
	psql_on "$1" "select 'items ' || count(*) || ' ' || md5(coalesce(string_agg(t::text, ',' order by id), '')) from items t
	  union all select 'events ' || count(*) || ' ' || md5(coalesce(string_agg(t::text, ',' order by id), '')) from events t"
}

# bk_up LAYOUT: the layout's hosts, the store on their bridge (bucket
# 'backups'), then the whole converge; cleanup destroys the layout.
bk_up() {
	t_uses "$1"
	s3_install
	pv up "$1" --only cloud >"$WORK/up0" 2>&1 || bail "creating the hosts failed: $(tail -n 20 "$WORK/up0")"
	s3_start "$1" backups
	pv up "$1" >"$WORK/up1" 2>&1 || bail "up $1 failed: $(tail -n 30 "$WORK/up1")"
}
