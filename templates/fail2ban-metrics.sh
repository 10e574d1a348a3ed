{# format: shell #}
#!/bin/sh
# Written by provision (role base): each fail2ban jail's counts for the
# node exporter's textfile collector, from 'fail2ban-client status'.
set -u
out=/var/lib/prometheus/node-exporter/provision-fail2ban.prom
[ -d "${out%/*}" ] || exit 0
status=$(fail2ban-client status 2>/dev/null) && up=1 || up=0
jails=$(printf '%s\n' "$status" | sed -n 's/^.*Jail list:[[:space:]]*//p' | tr -d ' ' | tr ',' ' ')
{
	echo '# HELP fail2ban_up 1 when fail2ban answers fail2ban-client'
	echo '# TYPE fail2ban_up gauge'
	echo "fail2ban_up $up"
	echo '# HELP fail2ban_jail_banned addresses the jail bans now'
	echo '# TYPE fail2ban_jail_banned gauge'
	echo '# HELP fail2ban_jail_banned_total addresses the jail banned since fail2ban started'
	echo '# TYPE fail2ban_jail_banned_total counter'
	echo '# HELP fail2ban_jail_failed failures the jail counts now (within findtime)'
	echo '# TYPE fail2ban_jail_failed gauge'
	for j in $jails; do
		# jail names are fail2ban's section names: letters, digits, '-', '_', '.'
		case $j in *[!A-Za-z0-9._-]*) continue ;; esac
		fail2ban-client status "$j" 2>/dev/null | awk -v j="$j" -F':' '
			/Currently banned/ { gsub(/[^0-9]/, "", $2); print "fail2ban_jail_banned{jail=\"" j "\"} " $2 + 0 }
			/Total banned/ { gsub(/[^0-9]/, "", $2); print "fail2ban_jail_banned_total{jail=\"" j "\"} " $2 + 0 }
			/Currently failed/ { gsub(/[^0-9]/, "", $2); print "fail2ban_jail_failed{jail=\"" j "\"} " $2 + 0 }'
	done
} >"$out.tmp" && mv -f "$out.tmp" "$out"
