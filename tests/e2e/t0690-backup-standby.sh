#!/usr/bin/env bash
# suite: extended (backups taken on a standby: a primary, a standby and a store; make test-all)
# Phase 2 with backup_from: standby: the primary starts and stops the
# backup, pgBackRest reads the data files from the streaming standby
# through its TLS server (mutual TLS, certificates of a CA each server
# derives from the repository passphrase); the backup restores on another
# server with equal rows; a client without such a certificate is refused;
# the port is open to the private network only; with the standby down the
# primary backs up itself and says so.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-s3.sh"

export PV_TEST_REPL_PW="repl-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')"
BK_SECRETS="  repl_password: env:PV_TEST_REPL_PW"
bk_project < <(
	bk_common "postgres_users: [{name: shop, password: backup_pass}]" \
		"postgres_databases: [{name: shop, owner: shop}]" \
		"postgres_replication_password: repl_password"
	cat <<'YML'
project: bk0690
layouts:
  db:
    vars: { backup_from: standby }
    servers:
      db1: { roles: [base, ufw, postgres, backup] }
      db2: { roles: [base, ufw, postgres-replica, backup] }
  drill:
    vars: { backup_s3_path: /bk0690/default/db }
    servers:
      scratch1: { roles: [base, postgres, backup], vars: { backup_scratch: true } }
YML
)

# a value other than primary or standby: refused before anything runs, naming the field
sed 's/backup_from: standby/backup_from: sideways/' "$WORK/inventory.yml" >"$WORK/bad.yml"
"$PROVISION" -i "$WORK/bad.yml" --plain validate >"$WORK/bad" 2>&1
rc=$?
check "validate refuses backup_from: sideways (exit $rc)" test "$rc" = 2
check "naming the field and where it is: $(grep backup_from "$WORK/bad" | head -n 1)" \
	grep -Eq "bad.yml:[0-9]+:[0-9]+: .*backup_from must be 'primary' or 'standby', not 'sideways'" "$WORK/bad"

t_uses db drill
s3_install
pv up db --only cloud >"$WORK/up0" 2>&1 || bail "creating the hosts failed: $(tail -n 20 "$WORK/up0")"
pv up drill --only cloud >"$WORK/up0d" 2>&1 || bail "creating the drill host failed: $(tail -n 20 "$WORK/up0d")"
s3_start db backups
pv up db >"$WORK/up1" 2>&1 || bail "up db failed: $(tail -n 30 "$WORK/up1")"
pass "up converges a primary and a standby with backup_from: standby"
pv up drill >"$WORK/up1d" 2>&1 || bail "up drill failed: $(tail -n 30 "$WORK/up1d")"

addr() { jq -r ".environments.default.layouts.db.hosts.$1 | .private_address // .address // empty" "$WORK/.provision/state.json"; }
A1=$(addr db1)
A2=$(addr db2)
[ -n "$A1" ] && [ -n "$A2" ] && [ "$A1" != null ] && [ "$A2" != null ] || bail "no addresses for db1 and db2: '$A1' '$A2'"

for h in db1 db2; do
	check "$h: the pgBackRest TLS server runs, as postgres" \
		on_host "$h" "systemctl -q is-active provision-pgbackrest-server.service && test \"\$(ps -o user= -C pgbackrest | sort -u)\" = postgres"
	check "$h: its key is postgres's, mode 0600" \
		test "$(on_host "$h" "stat -c %U:%a /etc/pgbackrest/tls/host.key")" = postgres:600
	check "$h: no private key but its own under /etc/pgbackrest (the CA key is never written)" \
		test "$(on_host "$h" "grep -rl 'PRIVATE KEY' /etc/pgbackrest")" = /etc/pgbackrest/tls/host.key
done
check "it listens on the private address only" \
	on_host db2 "ss -Hltn 'sport = :8432' | awk '{print \$4}' | grep -qx '$A2:8432'"
check "db1 and db2 derived the same CA key" \
	test "$(on_host db1 "openssl x509 -in /etc/pgbackrest/tls/ca.crt -noout -pubkey")" = \
	"$(on_host db2 "openssl x509 -in /etc/pgbackrest/tls/ca.crt -noout -pubkey")"
check "but each has its own key" \
	test "$(on_host db1 "openssl pkey -in /etc/pgbackrest/tls/host.key -pubout")" != \
	"$(on_host db2 "openssl pkey -in /etc/pgbackrest/tls/host.key -pubout")"
check "db1's configuration names db2 as pg2 over TLS" \
	on_host db1 "grep -qx 'pg2-host=$A2' /etc/pgbackrest/conf.d/provision-standby.conf && grep -qx 'pg2-host-type=tls' /etc/pgbackrest/conf.d/provision-standby.conf"
check "db2's names db1" on_host db2 "grep -qx 'pg2-host=$A1' /etc/pgbackrest/conf.d/provision-standby.conf"
check "the scratch server of the drill runs no TLS server" \
	sh -c "! '$PROVISION' -i '$WORK/inventory.yml' ssh scratch1 -- systemctl -q is-active provision-pgbackrest-server.service"

# the firewall: 8432 from the private network only
ufw2=$(on_host db2 "ufw status")
net=$(printf '%s\n' "$ufw2" | awk '$1 == "8432/tcp" {print $3}' | head -n 1)
check "ufw on db2 lets 8432/tcp in from the private network ($net)" \
	sh -c "case '$net' in 10.*/*) exit 0;; esac; exit 1"
check "and from nowhere else" test "$(printf '%s\n' "$ufw2" | grep -c '^8432/tcp')" = 1
check "the private network holds db1" /usr/bin/python3 -c "import ipaddress,sys; sys.exit(0 if ipaddress.ip_address('$A1') in ipaddress.ip_network('$net') else 1)"

# mutual TLS, pgBackRest itself as the client: from db2 to db1's server,
# into a scratch repository under /tmp on db2 (nothing of the real one)
tls_try() { # tls_try CERT KEY: stanza-create through db1's TLS server
	on_host db2 "mkdir -p /tmp/pvtls/conf && chown -R postgres /tmp/pvtls && cd /tmp && runuser -u postgres -- pgbackrest --config-path=/tmp/pvtls/conf --stanza=main --repo1-path=/tmp/pvtls/repo-\$(date +%s%N) --log-path=/tmp/pvtls --lock-path=/tmp/pvtls --pg1-host=$A1 --pg1-host-type=tls --pg1-host-ca-file=/etc/pgbackrest/tls/ca.crt --pg1-host-cert-file=$1 --pg1-host-key-file=$2 --pg1-path=/var/lib/postgresql/15/main --pg1-socket-path=/var/run/postgresql stanza-create 2>&1"
}
out=$(tls_try /etc/pgbackrest/tls/host.crt /etc/pgbackrest/tls/host.key)
check "db2 with its own certificate gets in (the control): $out" test -z "$out"
# a certificate of the CA derived here from the passphrase, but another name
T=$WORK/tls
mkdir -p "$T"
{
	printf '\060\056\002\001\000\060\005\006\003\053\145\160\004\042\004\040'
	printf '%s' "$PV_BACKUP_PASS" | openssl dgst -sha256 -binary -mac HMAC -macopt key:provision-backup-tls/bk0690/default/db
} >"$T/ca.der"
check "the CA key derived here from the passphrase is the one db1's CA certificate holds" \
	test "$(openssl pkey -inform DER -in "$T/ca.der" -pubout)" = "$(on_host db1 "openssl x509 -in /etc/pgbackrest/tls/ca.crt -noout -pubkey")"
on_host db1 "cat /etc/pgbackrest/tls/ca.crt" >"$T/ca.crt"
(
	cd "$T" && openssl genpkey -algorithm ED25519 -out i.key && openssl req -new -key i.key -subj /CN=intruder -out i.csr &&
		printf 'subjectAltName=DNS:x\n' >ext && openssl x509 -req -in i.csr -CA ca.crt -CAkey ca.der -CAkeyform DER \
		-set_serial 7 -days 1 -extfile ext -out i.crt &&
		openssl req -x509 -newkey ed25519 -nodes -keyout o.key -out o.crt -subj /CN=provision-backup -days 1
) >"$T/log" 2>&1 || bail "making the test certificates failed: $(cat "$T/log")"
rm -f "$T/ca.der"
for f in i.crt i.key o.crt o.key; do
	on_host db2 "mkdir -p /tmp/pvtls && cat >/tmp/pvtls/$f && chown postgres /tmp/pvtls/$f && chmod 600 /tmp/pvtls/$f" <"$T/$f"
done
out=$(tls_try /tmp/pvtls/i.crt /tmp/pvtls/i.key)
check "a certificate of the CA with another name is refused: $(printf '%s' "$out" | head -n 1)" \
	sh -c "printf '%s' \"\$1\" | grep -q 'access denied'" _ "$out"
out=$(tls_try /tmp/pvtls/o.crt /tmp/pvtls/o.key)
check "a certificate of another CA (with the right name) is refused: $(printf '%s' "$out" | head -n 1)" \
	sh -c "printf '%s' \"\$1\" | grep -q 'unable to check pg1' && ! printf '%s' \"\$1\" | grep -q 'access denied'" _ "$out"
on_host db2 "rm -rf /tmp/pvtls"

# a backup with the files read on the standby
psql_on db1 "create table items (id int primary key, name text);
  create table events (id bigserial primary key, what text);
  insert into items select i, 'item ' || i from generate_series(1, 3000) i;
  insert into events (what) select 'e' || i from generate_series(1, 500) i" || bail "populating failed"
for i in $(seq 60); do
	[ "$(psql_on db2 'select count(*) from items' 2>/dev/null)" = 3000 ] && break
	sleep 1
done
on_host db1 "rm -f /var/log/pgbackrest/main-backup.log"
pv backup now db >"$WORK/now1" 2>&1
rc=$?
check "backup now succeeds: $(tail -n 3 "$WORK/now1" | tr '\n' ' ')" test "$rc" = 0
check "and says it was taken from the standby $A2" grep -q "db1: taken from the standby $A2 " "$WORK/now1"
blog=$(on_host db1 "cat /var/log/pgbackrest/main-backup.log")
check "pgBackRest ran with --backup-standby" sh -c "printf '%s' \"\$1\" | grep -q 'backup command begin.* --backup-standby'" _ "$blog"
check "and waited for the standby's replay" sh -c "printf '%s' \"\$1\" | grep -q 'replay on the standby reached'" _ "$blog"
label=$(grep -Eo '^  [0-9]{8}-[0-9]{6}F ' "$WORK/now1" | tail -n 1 | tr -d ' ')
# manifest LABEL LINE: the backup's manifest in the repository holds LINE
manifest() { on_host db1 "cd /tmp && runuser -u postgres -- pgbackrest --stanza=main repo-get backup/main/$1/backup.manifest | grep -qx '$2'"; }
check "the repository's manifest of $label records a backup from the standby" \
	manifest "$label" option-backup-standby=true
pv status db >"$WORK/status1" 2>&1
rc=$?
check "status is good (exit $rc): $(grep -E 'backup' "$WORK/status1" | tr '\n' ' ')" test "$rc" = 0
check "status says where the last backup was read" grep -q "last backup taken from the standby $A2" "$WORK/status1"
check "and that a standby streams" grep -q 'backups from a standby: 1 standby(s) streaming' "$WORK/status1"

# the backup restores on another server, rows and checksums equal
pv backup restore drill --host scratch1 --yes >"$WORK/restore1" 2>&1
rc=$?
check "the backup restores on scratch1: $(tail -n 2 "$WORK/restore1" | tr '\n' ' ')" test "$rc" = 0
check "with the rows and checksums of db1" test "$(table_sums scratch1)" = "$(table_sums db1)"
check "(3000 items)" test "$(psql_on scratch1 'select count(*) from items')" = 3000

# db2 streams but its TLS server is stopped: the files cannot be read there
on_host db2 "systemctl stop provision-pgbackrest-server.service" || bail "stopping db2's TLS server failed"
pv backup now db --type incr >"$WORK/now3" 2>&1
rc=$?
check "with db2's TLS server stopped, backup now still succeeds: $(tail -n 2 "$WORK/now3" | tr '\n' ' ')" test "$rc" = 0
check "from the primary, saying so" grep -q 'WARNING: taken from this primary' "$WORK/now3"
ilabel=$(grep -Eo '^  [0-9]{8}-[0-9]{6}F_[0-9]{8}-[0-9]{6}I ' "$WORK/now3" | tail -n 1 | tr -d ' ')
check "its manifest ($ilabel) records a backup not from the standby" \
	manifest "$ilabel" option-backup-standby=false
on_host db2 "systemctl start provision-pgbackrest-server.service" || bail "starting db2's TLS server failed"

# the standby down: the primary backs up itself, loudly
on_host db2 "systemctl stop postgresql@15-main" || bail "stopping db2's PostgreSQL failed"
for i in $(seq 30); do
	[ "$(psql_on db1 'select count(*) from pg_stat_replication')" = 0 ] && break
	sleep 1
done
psql_on db1 "insert into events (what) values ('standby down')" || bail "writing failed"
pv backup now db --type diff >"$WORK/now2" 2>&1
rc=$?
check "backup now still makes a backup: $(tail -n 3 "$WORK/now2" | tr '\n' ' ')" test "$rc" = 0
check "saying it was taken from the primary" grep -q 'WARNING: taken from this primary' "$WORK/now2"
check "the repository holds the full, the incremental and the diff" \
	test "$(grep -Ec '^  [0-9]{8}-[0-9]{6}F(_[0-9]{8}-[0-9]{6}[DI])? ' "$WORK/now2")" = 3
pv status db >"$WORK/status2" 2>&1
check "status says the last one came from the primary" grep -q 'last backup taken from the primary (WARNING' "$WORK/status2"
check "and that no standby streams" grep -q 'backups from a standby: WARNING: no standby streams' "$WORK/status2"
check "the journal of the timer's unit says so too" \
	on_host db1 "journalctl -u provision-backup@diff.service | grep -q 'no standby streams from this primary'"

on_host db2 "systemctl start postgresql@15-main" || bail "starting db2's PostgreSQL failed"
pvj up db >"$WORK/up2" 2>&1
check "a second up changes nothing ($(json_resources "$WORK/up2" changed | tr '\n' ' '))" \
	test "$(json_total "$WORK/up2" changed)" = 0

# no secret anywhere
for f in up1 up1d now1 now2 now3 status1 status2 restore1 up2; do
	check "no passphrase, S3 secret or key in the output of $f" \
		sh -c "! grep -Fq -e \"\$1\" -e 'PRIVATE KEY' -e 'secret=' '$WORK/$f'" _ "$PV_BACKUP_PASS"
done
check "no passphrase in the state" sh -c "! grep -rFq --exclude-dir=local -e \"\$1\" '$WORK/.provision'" _ "$PV_BACKUP_PASS"
for h in db1 db2; do
	procs=$(on_host "$h" "cat /proc/[0-9]*/cmdline 2>/dev/null | tr '\0' ' '")
	check "$h: the process list holds the TLS server" sh -c "printf '%s' \"\$1\" | grep -q 'pgbackrest server'" _ "$procs"
	check "$h: and no passphrase" sh -c "! printf '%s' \"\$2\" | grep -Fq -e \"\$1\"" _ "$PV_BACKUP_PASS" "$procs"
	logs=$(on_host "$h" "cat /var/log/pgbackrest/*.log; journalctl -q -u provision-pgbackrest-server.service -u 'provision-backup@*'")
	check "$h: no passphrase in pgBackRest's logs or the journal" sh -c "! printf '%s' \"\$2\" | grep -Fq -e \"\$1\"" _ "$PV_BACKUP_PASS" "$logs"
done
