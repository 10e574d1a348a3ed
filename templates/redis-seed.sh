{# format: shell #}
# Written by provision (role redis) from the layout.  Redis and Sentinel
# rewrite their own files after a failover; this script writes the first
# version of each, pointing at the primary the other Sentinels know (the
# layout's primary when none answers), and afterwards only keeps Redis's
# file down to the include line and whom it replicates.
#   redis-seed.sh primary      the current primary's address
#   redis-seed.sh server       write /etc/redis/redis.conf's first version
#   redis-seed.sh server-seeded  it has been written
#   redis-seed.sh server-tidy  keep it down to the include and replicaof
#   redis-seed.sh server-ok    it needs no tidying
#   redis-seed.sh sentinel     write /etc/redis/sentinel.conf once
#   redis-seed.sh sentinel-auth     put changed passwords and ports into it
#   redis-seed.sh sentinel-auth-ok  it has the current ones
#   redis-seed.sh report       this node's role and replication lag
#   redis-seed.sh sentinel-report   the primary as this Sentinel sees it
# REDISCLI_AUTH holds the password (the environment, not argv): the
# Sentinels' one, the admin's for report.  With redis_tls, redis-cli speaks
# TLS, checking the server's certificate against the layout's CA.
set -u
conf=/etc/redis/redis.conf
sconf=/etc/redis/sentinel.conf
sauth=/etc/redis/sentinel-auth.conf
# the digest of the sentinel-auth.conf whose passwords sentinel.conf holds
sauth_done=/etc/redis/sentinel-auth.applied
include="include /etc/redis/provision.conf"
me={{ private_address }}
{% if redis_tls %}
tls="--tls --cacert /etc/redis/tls/ca.crt"
{% else %}
tls=
{% endif %}
layout_primary={% for s in servers %}{% if s.roles.redis %}{% if not s.roles.redis_replica %}{{ s.address }}{% endif %}{% endif %}{% endfor %}

primary() {
	for s in {% for s in servers %}{% if s.roles.redis_sentinel %}{{ s.address }} {% endif %}{% endfor %}; do
		[ "$s" = "$me" ] && continue
		a=$(timeout 2 redis-cli --no-auth-warning $tls -h "$s" -p {{ redis_sentinel_port }} \
			sentinel get-master-addr-by-name {{ redis_master_name }} 2>/dev/null | head -n 1)
		case $a in '' | *[!0-9a-fA-F.:]*) continue ;; esac
		echo "$a"
		return 0
	done
	echo "$layout_primary"
}

# what redis.conf holds once tidied: the include, then Redis's own replicaof
tidy() {
	echo "$include"
	grep -E '^(replicaof|slaveof) ' "$conf" 2>/dev/null
	:
}

install_file() { # TMP DEST
	chown redis:redis "$1" && chmod 0640 "$1" && mv "$1" "$2"
}

case ${1:-} in
primary)
	primary
	;;
server-ok)
	# nothing to tidy before the first version
	grep -qx "$include" "$conf" 2>/dev/null || exit 0
	tidy | cmp -s - "$conf"
	;;
server-seeded)
	grep -qx "$include" "$conf" 2>/dev/null
	;;
server)
	# the first version; the role's handler restarts Redis once
	p=$(primary)
	[ -n "$p" ] || { echo "the layout has no server with role redis" >&2; exit 1; }
	{
		echo "$include"
		[ "$p" = "$me" ] || echo "replicaof $p {{ redis_port }}"
	} >"$conf.tmp" && install_file "$conf.tmp" "$conf"
	;;
server-tidy)
	grep -qx "$include" "$conf" 2>/dev/null || { echo "redis.conf was never written" >&2; exit 1; }
	tidy >"$conf.tmp" && install_file "$conf.tmp" "$conf"
	;;
sentinel)
	p=$(primary)
	[ -n "$p" ] || { echo "the layout has no server with role redis" >&2; exit 1; }
	{
		sed "s/^sentinel monitor {{ redis_master_name }} [^ ]* /sentinel monitor {{ redis_master_name }} $p /" \
			/etc/redis/sentinel-seed.conf && grep -v '^#' "$sauth"
	} >"$sconf.tmp" && install_file "$sconf.tmp" "$sconf" || exit 1
	(umask 077 && sha256sum <"$sauth" >"$sauth_done") || exit 1
	systemctl try-restart redis-sentinel
	;;
sentinel-auth-ok)
	[ -f "$sauth_done" ] && sha256sum <"$sauth" | cmp -s - "$sauth_done"
	;;
sentinel-auth)
	# nothing to do when the seed just wrote them (the check ran before it)
	[ -f "$sauth_done" ] && sha256sum <"$sauth" | cmp -s - "$sauth_done" && exit 0
	# Sentinel may have rewritten the password as an ACL line of its own
	grep -v -e '^requirepass ' -e '^user default ' -e '^port ' -e '^tls-' \
		-e '^sentinel auth-user {{ redis_master_name }} ' \
		-e '^sentinel auth-pass {{ redis_master_name }} ' "$sconf" >"$sconf.tmp" &&
		grep -v '^#' "$sauth" >>"$sconf.tmp" && install_file "$sconf.tmp" "$sconf" || exit 1
	systemctl try-restart redis-sentinel || exit 1
	(umask 077 && sha256sum <"$sauth" >"$sauth_done")
	;;
report)
	redis-cli --no-auth-warning $tls --user {{ redis_admin_user }} -h 127.0.0.1 -p {{ redis_port }} \
		info replication | tr -d '\r' | awk -F: '
		$1 == "role" { role = $2 }
		$1 == "master_repl_offset" { off = $2 }
		$1 == "master_host" { mh = $2 }
		$1 == "master_link_status" { link = $2 }
		$1 ~ /^slave[0-9]+$/ {
			n = split($2, kv, ",")
			for (i = 1; i <= n; i++) { split(kv[i], p, "="); v[p[1]] = p[2] }
			nr++; ip[nr] = v["ip"]; st[nr] = v["state"]; ro[nr] = v["offset"]; lag[nr] = v["lag"]
		}
		END {
			if (role == "") { print "not answering"; exit 1 }
			if (role == "master") {
				printf "primary, offset %s, %d replica(s)\n", off, nr
				for (i = 1; i <= nr; i++)
					printf "replica %s: %s, %d bytes behind, last ack %s s ago\n", ip[i], st[i], off - ro[i], lag[i]
			} else
				printf "replica of %s, link %s, offset %s\n", mh, link, off
		}'
	;;
sentinel-report)
	redis-cli --no-auth-warning $tls -h 127.0.0.1 -p {{ redis_sentinel_port }} \
		sentinel master {{ redis_master_name }} | tr -d '\r' | awk '
		NR % 2 == 1 { k = $0; next }
		{ v[k] = $0 }
		END {
			if (v["ip"] == "") { print "not answering"; exit 1 }
			printf "primary %s:%s (%s), %s replica(s), %s other Sentinel(s), quorum %s\n", v["ip"], v["port"], v["flags"], v["num-slaves"], v["num-other-sentinels"], v["quorum"]
		}'
	;;
*)
	echo "usage: redis-seed.sh primary|server|server-ok|sentinel|sentinel-auth|sentinel-auth-ok|report|sentinel-report" >&2
	exit 2
	;;
esac
