{# format: shell #}
#!/bin/sh
# keepalived-takeover.sh: run by keepalived (notify_master) when this
# server becomes the pair's active one: the provider's API moves the pair's
# floating IP here (keepalived itself puts the address on the public
# interface).  Written by provision (role keepalived) from the layout.
# The token is read by curl from a root-only header file, never from its
# arguments; only https, and only the CA given when one is.
{% if keepalived_api_endpoint %}
endpoint={{ keepalived_api_endpoint }}
{% elif provider == "hetzner" %}
endpoint=https://api.hetzner.cloud/v1
{% else %}
endpoint=https://api.digitalocean.com
{% endif %}
vip={{ lb_pair_address }}
# the API's host, for the route named when an attempt fails
api=${endpoint#https://}
api=${api%%[:/]*}
{% if provider == "hetzner" %}
url="$endpoint/floating_ips/{{ lb_pair_id }}/actions/assign"
body='{"server": {{ server_id }}}'
{% else %}
url="$endpoint/v2/reserved_ips/{{ lb_pair_id }}/actions"
body='{"type": "assign", "droplet_id": {{ droplet_id }}}'
{% endif %}
set -- -fsS -o /dev/null --proto =https --connect-timeout 3 --max-time 10 -X POST \
	-H @/etc/provision/keepalived-api.header -H 'Content-Type: application/json' --data "$body"
if [ -s /etc/provision/keepalived-api-ca.crt ]; then
	set -- "$@" --cacert /etc/provision/keepalived-api-ca.crt
fi
# the API may be busy or briefly unreachable: keep asking for a minute
i=0
while [ "$i" -lt 30 ]; do
	# curl names what failed (never the header it read from the file)
	if out=$(curl "$@" "$url" 2>&1); then
		logger -t keepalived-takeover "the provider's API moved $vip to this server"
		exit 0
	fi
	i=$((i + 1))
	logger -t keepalived-takeover "attempt $i to move $vip here failed: $out ($(ip -o route get "$api" 2>&1))"
	sleep 2
done
logger -t keepalived-takeover "the provider's API did not move $vip to this server"
exit 1
