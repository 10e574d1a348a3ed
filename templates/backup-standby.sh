{# format: shell #}
#!/bin/sh
# Written by provision (role backup, backup_from: standby): backups whose
# data files are read from a streaming standby, through pgBackRest's TLS
# server on the layout's other database servers.
#   backup-standby.sh tls-check | tls-make    this server's certificate
#   backup-standby.sh conf-check | conf-make  the other servers as pg2.. in pgBackRest's configuration
#   backup-standby.sh backup TYPE             a backup, from a standby when one streams
#   backup-standby.sh said                    where the last backup was taken from, for 'backup now'
#   backup-standby.sh status                  lines for 'provision status'
#
# The certificates: every server of the layout derives the same CA key
# from the repository passphrase it already holds (HMAC-SHA256 of the
# passphrase, keyed with a label naming the project, environment and
# layout, as an Ed25519 seed); the key is only ever in a pipe, never in a
# file or a command line.  Role layout-tls makes the CA certificate from it,
# with a fixed subject; this server's own key never leaves it, and its certificate is
# signed with the derived key.  A server holding the passphrase is trusted;
# nothing else is.
stanza={{ backup_stanza | sh }}
v={{ postgres_version | sh }}
port={{ postgres_port | default "5432" | sh }}
addr={{ private_address | sh }}
label=provision-backup-tls/{{ project | sh }}/{{ env | sh }}/{{ layout | sh }}
# The other servers with role backup this one reads from or is read by: on
# the primary its standbys, on a standby the primary and the other standbys.
peers="{% for s in servers %}{% if s.name != server_name %}{% if s.roles.backup %}{% if s.roles.postgres_replica %}{{ s.address }} {% elif postgres_standby %}{% if s.roles.postgres %}{{ s.address }} {% endif %}{% endif %}{% endif %}{% endif %}{% endfor %}"
dir=/etc/pgbackrest/tls
conf=/etc/pgbackrest/conf.d/provision-standby.conf
src=/var/lib/pgbackrest/last-source
cn=provision-backup

q() { runuser -u postgres -- psql -X -q -tA -F '|' -v ON_ERROR_STOP=1 "$@"; }

# The CA key (PKCS#8 DER: the fixed Ed25519 prefix, then the 32-byte seed)
# on stdout.  The passphrase goes from the configuration into openssl's stdin.
ca_key() {
	pass=$(sed -n 's/^repo1-cipher-pass=//p' /etc/pgbackrest/pgbackrest.conf | head -n 1)
	[ -n "$pass" ] || { echo "no repository passphrase in /etc/pgbackrest/pgbackrest.conf" >&2; return 1; }
	printf '\060\056\002\001\000\060\005\006\003\053\145\160\004\042\004\040'
	printf '%s' "$pass" | openssl dgst -sha256 -binary -mac HMAC -macopt "key:$label"
}

ca_pub() { ca_key | openssl pkey -inform DER -pubout; }

# The certificates themselves are role layout-tls' business.
tls=/usr/local/lib/provision/layout-tls.sh

tls_check() {
	sh "$tls" check "$dir" postgres "$cn" "$addr" "$(ca_pub)"
}

tls_make() {
	ca_key | openssl pkey -inform DER | sh "$tls" make "$dir" postgres "$cn" "$addr" provision-backup-ca
}

conf_text() {
	echo "# Written by provision (role backup, backup_from: standby); changes here are undone on the next run."
	echo "# The layout's other database servers, through their pgBackRest TLS servers."
	echo "[$stanza]"
	i=2
	for p in $peers; do
		cat <<EOF
pg$i-host=$p
pg$i-host-type=tls
pg$i-host-ca-file=$dir/ca.crt
pg$i-host-cert-file=$dir/host.crt
pg$i-host-key-file=$dir/host.key
pg$i-path=/var/lib/postgresql/$v/main
pg$i-port=$port
pg$i-socket-path=/var/run/postgresql
EOF
		i=$((i + 1))
	done
	cat <<EOF

# This server's TLS server: clients with a certificate of the layout's CA only.
[global:server]
tls-server-address=$addr
tls-server-ca-file=$dir/ca.crt
tls-server-cert-file=$dir/host.crt
tls-server-key-file=$dir/host.key
tls-server-auth=$cn=$stanza
EOF
}

# The standbys that stream from here and are configured as pg2..
streaming() {
	for a in $(q -d postgres -c "select host(client_addr) from pg_stat_replication where state = 'streaming' order by 1" 2>/dev/null); do
		case " $peers " in *" $a "*) echo "$a" ;; esac
	done
}

# Those of them whose TLS server answers (pgBackRest itself would retry
# a refused connection for minutes before giving up on a standby).
readable() {
	for a in $(streaming); do
		runuser -u postgres -- pgbackrest server-ping "$a" --io-timeout=5 >/dev/null 2>&1 && echo "$a"
	done
}

case "$1" in
tls-check)
	tls_check
	;;
tls-make)
	tls_make
	;;
conf-check)
	conf_text | cmp -s - "$conf"
	;;
conf-make)
	install -d -m 0755 /etc/pgbackrest/conf.d || exit 1
	conf_text >"$conf.new" && chown postgres:postgres "$conf.new" && chmod 0640 "$conf.new" && mv "$conf.new" "$conf"
	;;
backup)
	# pg_backup_start/stop run here, on the primary; with a standby
	# streaming, pgBackRest reads the data files from it
	type=$2
	all=$(streaming | tr '\n' ' ')
	from=$(readable | tr '\n' ' ')
	rc=1
	if [ -n "$from" ]; then
		echo "standby ${from% }" >"$src.new"
		out=$(runuser -u postgres -- pgbackrest --stanza="$stanza" --type="$type" --backup-standby backup 2>&1)
		rc=$?
		[ -z "$out" ] || printf '%s\n' "$out"
		# streaming, but its TLS server cannot be reached: from the primary
		if [ "$rc" != 0 ] && printf '%s' "$out" | grep -q 'unable to find standby'; then
			echo "WARNING: the standby ${from% } streams but pgBackRest cannot read it: the backup is taken from the primary"
			from=
		fi
	elif [ -n "$all" ]; then
		echo "WARNING: the standby ${all% } streams, but its pgBackRest TLS server does not answer: the backup is taken from the primary"
	else
		echo "WARNING: backup_from is standby, but no standby streams from this primary: the backup is taken from the primary"
	fi
	if [ -z "$from" ]; then
		echo "primary" >"$src.new"
		runuser -u postgres -- pgbackrest --stanza="$stanza" --type="$type" --no-backup-standby backup
		rc=$?
	fi
	if [ "$rc" = 0 ]; then
		mv "$src.new" "$src"
	else
		rm -f "$src.new"
	fi
	exit "$rc"
	;;
said)
	read -r where rest <"$src" 2>/dev/null || exit 0
	if [ "$where" = standby ]; then
		echo "taken from the standby $rest (data files read there; backup start and stop on this primary)"
	else
		echo "WARNING: taken from this primary: backup_from is standby, but no standby could be read"
	fi
	;;
status)
	echo "G $(readable | wc -l)"
	[ -r "$src" ] && echo "F $(stat -c %Y "$src") $(cat "$src")"
	exit 0
	;;
*)
	echo "usage: backup-standby.sh tls-check|tls-make|conf-check|conf-make|backup TYPE|said|status" >&2
	exit 2
	;;
esac
