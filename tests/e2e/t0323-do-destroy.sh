#!/usr/bin/env bash
# DigitalOcean, phase 2's cloud part and destroy: droplets tagged per layout
# and server, a load balancer (HTTP with a health check on the app's path,
# HTTPS passed through) targeting the web droplets' tag, a firewall opening
# the database port only to the VPC.  destroy asks first, removes all of it
# in dependency order and keeps what is not the layout's.  A new health
# path, size or list of targets is changed in place.
. "$(dirname "$0")/lib.sh"
. "$ROOT/tests/cloud/lib.sh"

t_project </dev/null
do_start
cloud_dbport_role
cat >"$WORK/inventory.yml" <<-EOF2
	project: shop
	providers:
	  digitalocean:
	    vpc: { ip_range: $CLOUD_PRIVATE.0/24 }
	    load_balancer: { health_path: /up, targets: [web1, web2] }
	    poll_interval: 0.2
	layouts:
	  phase2:
	    provider: digitalocean
	    servers:
	      web1: { roles: [base, ufw] }
	      web2: { roles: [base, ufw] }
	      db1: { roles: [base, ufw, dbport], size: s-2vcpu-4gb, volumes: [{ name: pgdata, size: 20, filesystem: xfs }] }
EOF2
t_uses phase2

# A new server answers on SSH before it lets its admin in: while the boot
# (and, on a real cloud, cloud-init) runs, /run/nologin makes PAM refuse
# every user but root.  Here PAM on each new droplet refuses logins until
# one has been refused, and for a second more; up returns only once the
# admin can log in, so the plan right after it works.
hold_logins() {
	local r
	while :; do
		for r in "$CLOUD_DIR"/api/hosts/*/root; do
			if [ -f "$r/etc/pam.d/sshd" ] && [ ! -e "$r.held" ]; then
				touch "$r/etc/boot-hold" "$r.held"
				printf '#!/bin/sh\necho "$PAM_USER" >>/var/tmp/login-attempts\n[ ! -e /etc/boot-hold ]\n' \
					>"$r/usr/local/sbin/boot-hold"
				chmod 755 "$r/usr/local/sbin/boot-hold"
				sed -i '1i account requisite pam_exec.so quiet /usr/local/sbin/boot-hold' "$r/etc/pam.d/sshd"
			fi
			if [ -s "$r/var/tmp/login-attempts" ] && [ ! -e "$r.released" ]; then
				touch "$r.released"
				(sleep 1 && rm -f "$r/etc/boot-hold") &
			fi
		done
		sleep 0.05
	done
}
hold_logins &
holder=$!
pvj up phase2 --only cloud >"$WORK/up.json" 2>"$WORK/up.err"
rc=$?
kill "$holder"
wait "$holder" 2>/dev/null
[ "$rc" = 0 ] || bail "up failed: $(cat "$WORK/up.err")"
refused=$(ls -d "$CLOUD_DIR"/api/hosts/*/root.released 2>/dev/null | wc -l)
check "every new droplet refused a login at first ($refused of 3)" test "$refused" = 3
pv plan phase2 >"$WORK/plan1" 2>&1
rc=$?
check "plan right after up logs in on every droplet (exit $rc)$([ "$rc" = 0 ] || tail -n 3 "$WORK/plan1" | tr '\n' ' ')" test "$rc" = 0
state=$(cloud_state)
lb=$(jq -c '.load_balancers[]' <<<"$state")
check "one load balancer targeting the web droplets' tag" test "$(jq -r '.tag' <<<"$lb")" = pv:shop:default:phase2:lb
check "the web droplets, and only they, carry that tag" test "$(jq -r '.droplets[] | select(.tags | index("pv:shop:default:phase2:lb")) | .name' <<<"$state" | sort | tr '\n' ' ')" = "web1 web2 "
check "HTTP 80 -> 80, health check on /up" test "$(jq -c '[([.forwarding_rules[] | select(.entry_protocol == "http") | [.entry_port, .target_port]]), .health_check.path]' <<<"$lb")" = '[[[80,80]],"/up"]'
check "HTTPS 443 passed through" test "$(jq -c '[.forwarding_rules[] | select(.entry_protocol == "https") | [.entry_port, .tls_passthrough]]' <<<"$lb")" = '[[443,true]]'
check "the firewall opens 5432 only to the VPC" test "$(jq -c '[.firewalls[].inbound_rules[] | select(.ports == "5432") | .sources.addresses]' <<<"$state")" = "[[\"$CLOUD_PRIVATE.0/24\"]]"
check "db1's volume is made with the inventory's filesystem (filesystem_type xfs)" \
	test "$(jq -r '.volumes[] | select(.name == "shop-db1-pgdata") | .filesystem_type' <<<"$state")" = xfs

# the app's health path changes: the load balancer's check follows, in place
sed -i 's|health_path: /up|health_path: /healthz|' "$WORK/inventory.yml"
pv plan phase2 >"$WORK/plan2" 2>&1 || bail "plan failed: $(cat "$WORK/plan2")"
check "plan shows the new health check path" grep -q '~ cloud: load balancer shop-default-phase2-lb: health check path /up -> /healthz' "$WORK/plan2"
pvj up phase2 --only cloud >"$WORK/up2.json" 2>"$WORK/up2.err" || bail "up failed: $(cat "$WORK/up2.err")"
check "up changed the health check of the same load balancer" test "$(cloud_state | jq -c '[.load_balancers[] | [.id, .health_check.path]]')" = "$(jq -c '[[.id, "/healthz"]]' <<<"$lb")"
# a bigger load balancer, web2 out of its targets and db1 in: changed in place
sed -i 's|load_balancer: { health_path: /healthz, targets: \[web1, web2\] }|load_balancer: { size_unit: 2, health_path: /healthz, targets: [web1, db1] }|' "$WORK/inventory.yml"
pv plan phase2 >"$WORK/plan3" 2>&1 || bail "plan failed: $(cat "$WORK/plan3")"
check "plan shows the new size" grep -q '~ cloud: load balancer shop-default-phase2-lb: size_unit 1 -> 2' "$WORK/plan3"
check "plan shows web2 leaving the targets and db1 joining them" \
	sh -c "grep -q \"~ cloud: droplet web2 leaves the load balancer's targets\" '$WORK/plan3' && grep -q \"~ cloud: droplet db1 joins the load balancer's targets\" '$WORK/plan3' && ! grep -q 'droplet web1' '$WORK/plan3'"
pvj up phase2 --only cloud >"$WORK/up3.json" 2>"$WORK/up3.err" || bail "up failed: $(cat "$WORK/up3.err")"
state=$(cloud_state)
check "up resized the same load balancer" test "$(jq -c '[.load_balancers[] | [.id, .size_unit, .health_check.path]]' <<<"$state")" = "$(jq -c '[[.id, 2, "/healthz"]]' <<<"$lb")"
check "web1 and db1, and only they, carry its tag now" test "$(jq -r '.droplets[] | select(.tags | index("pv:shop:default:phase2:lb")) | .name' <<<"$state" | sort | tr '\n' ' ')" = "db1 web1 "
check "the load balancer targets them" test "$(jq -c '[.load_balancers[].droplet_ids[]] | sort' <<<"$state")" = "$(jq -c '[.droplets[] | select(.name == "web1" or .name == "db1") | .id] | sort' <<<"$state")"
pvj up phase2 --only cloud >"$WORK/up4.json" 2>"$WORK/up4.err" || bail "up failed: $(cat "$WORK/up4.err")"
check "the up after that changes nothing in the cloud" grep -q 'cloud resources up to date' "$WORK/up4.json"

# not the layout's: a droplet of another project, an SSH key of someone else
ssh-keygen -q -t ed25519 -N '' -C other -f "$WORK/other" >/dev/null
cloud_api POST /v2/account/keys "$(jq -n --arg k "$(cat "$WORK/other.pub")" '{name: "someone-else", public_key: $k}')" >/dev/null
cloud_api POST /v2/vpcs '{"name": "other-vpc", "region": "fra1", "ip_range": "10.213.1.0/24"}' >/dev/null

if pv destroy phase2 </dev/null >"$WORK/d0" 2>&1; then rc=0; else rc=$?; fi
check "destroy without --yes and without a terminal refuses (exit 2)" test "$rc" = 2
n0=$(cloud_logged)
pv destroy phase2 --yes >"$WORK/destroy" 2>&1 || bail "destroy failed: $(cat "$WORK/destroy")"
PV_LAYOUTS=()
left=$(do_left shop:default:phase2 shop-default-phase2)
check "nothing of the layout is left${left:+: $left}" test -z "$left"
check "the other SSH key and VPC are kept" test "$(cloud_state | jq -c '[.ssh_keys[].name, .vpcs[].name]')" = '["someone-else","other-vpc"]'
order=$(tail -n +"$((n0 + 1))" "$CLOUD_DIR/api/requests.jsonl" | jq -r 'select(.method == "DELETE") | .path | split("/")[2]' | uniq | tr '\n' ' ')
check "deleted in dependency order: $order" test "$order" = "load_balancers volumes droplets firewalls vpcs account tags "
check "the tags the tool made are gone" test "$(cloud_state | jq -c '.tags | keys')" = '[]'
check "no host of the layout is left" sh -c "! pgrep -f '[s]ystemd-nspawn.*-M hc$(cat "$CLOUD_DIR/api/port")-' >/dev/null"
check "no pinned host key is left" sh -c "! grep -q . '$WORK/.provision/known_hosts' 2>/dev/null"
viol=$(cloud_violations)
check "every request followed the specification${viol:+: $viol}" test -z "$viol"
