{# format: shell #}
#!/bin/sh
# keepalived-conf.sh: /etc/keepalived/keepalived.conf for this server of
# the pair.  Written by provision (role keepalived) from the layout.
set -e
me={{ private_address }}
iface={{ keepalived_interface }}
{% if lb_pair_address %}
# the pair's public floating IP (lb_pair: floating_ip), on the public interface
vip={{ lb_pair_address }}
public={{ address }}
notify=/usr/local/lib/provision/keepalived-takeover.sh
{% else %}
vip={{ keepalived_address }}
public=
notify=
{% endif %}
peers="{% for s in servers %}{% if s.roles.keepalived %}{{ s.address }} {% endif %}{% endfor %}"
[ -n "$vip" ] || { echo "keepalived_address is not set: the floating address is needed" >&2; exit 1; }
if [ "$iface" = auto ]; then
	iface=$(ip -o -4 addr show | awk -v a="$me" '{ split($4, p, "/"); if (p[1] == a) { print $2; exit } }')
	[ -n "$iface" ] || { echo "no interface holds the private address $me" >&2; exit 1; }
fi
vip_iface=$iface
if [ -n "$public" ]; then
	vip_iface=$(ip -o -4 addr show | awk -v a="$public" '{ split($4, p, "/"); if (p[1] == a) { print $2; exit } }')
	[ -n "$vip_iface" ] || { echo "no interface holds the public address $public" >&2; exit 1; }
fi
# the first server of the layout is preferred, then the next
prio=150
for p in $peers; do
	[ "$p" = "$me" ] && break
	prio=$((prio - 10))
done
cat <<CONF
# Written by provision (role keepalived) from the layout; changes here are undone on the next run.
global_defs {
	router_id {{ server_name }}
	enable_script_security
	script_user root
}

# HAProxy must run: otherwise this server gives the address up.
vrrp_script haproxy {
	script "/usr/bin/systemctl is-active --quiet haproxy"
	interval 1
	fall 2
	rise 2
}

vrrp_instance lb {
	state BACKUP
	nopreempt
	interface $iface
	virtual_router_id {{ keepalived_router_id }}
	priority $prio
	advert_int 1
	unicast_src_ip $me
	unicast_peer {
CONF
for p in $peers; do
	[ "$p" = "$me" ] || printf '\t\t%s\n' "$p"
done
cat <<CONF
	}
	virtual_ipaddress {
		$vip/32 dev $vip_iface
	}
	track_script {
		haproxy
	}
CONF
if [ -n "$notify" ]; then
	printf '\tnotify_master "%s"\n' "$notify"
fi
echo "}"
