#!/usr/bin/env bash
# One inventory, phase 1 and phase 2 on hetzner, the provider's load
# balancer targeting phase 2's web servers: both layouts validate, the load
# balancer belongs to phase 2 only.  Targets that are no server of any
# layout, or servers of two layouts, are refused with their position.  A
# port a role opens to the private network only needs no private_network
# variable on a cloud layout: the provider's network subnet is it.
. "$(dirname "$0")/lib.sh"
. "$ROOT/tests/cloud/lib.sh"

t_project </dev/null
hcloud_start
mkdir -p "$WORK/roles/dbport"
cat >"$WORK/roles/dbport/role.yml" <<-'EOF'
	description: opens the PostgreSQL port to the private network only
	ports: ["5432/tcp private"]
	resources: []
EOF
cat >"$WORK/inventory.yml" <<-EOF
	project: shop
	providers:
	  hetzner:
	    network: { ip_range: $CLOUD_PRIVATE.0/24, subnet: $CLOUD_PRIVATE.0/24, zone: eu-central }
	    load_balancer: { health_path: /up, targets: [web1, web2] }
	layouts:
	  phase1:
	    provider: hetzner
	    servers:
	      app1: { roles: [base, ufw, dbport] }
	  phase2:
	    provider: hetzner
	    servers:
	      web1: { roles: [base, ufw] }
	      web2: { roles: [base, ufw] }
EOF

pv validate >"$WORK/validate" 2>&1
rc=$?
check "both layouts validate (got $rc): $(head -c 300 "$WORK/validate")" test "$rc" = 0
pv plan phase1 >"$WORK/plan1" 2>&1
check "plan phase1 succeeds" test $? = 0
check "phase 1 has no load balancer" sh -c "! grep -q 'load balancer' '$WORK/plan1'"
pv plan phase2 >"$WORK/plan2" 2>&1
check "plan phase2 succeeds" test $? = 0
check "phase 2 has the load balancer" grep -q '+ cloud: load balancer shop-default-phase2-lb' "$WORK/plan2"

sed -i 's/targets: \[web1, web2\]/targets: [web1, web9]/' "$WORK/inventory.yml"
pv validate >"$WORK/bad1" 2>&1
check "a target that is no server of any layout: exit 2" test $? = 2
check "it is named with its position" grep -q "inventory.yml:5:[0-9]*: load balancer target 'web9' is not a server of any layout" "$WORK/bad1"
sed -i 's/targets: \[web1, web9\]/targets: [web1, app1]/' "$WORK/inventory.yml"
pv validate >"$WORK/bad2" 2>&1
check "targets in two layouts: exit 2" test $? = 2
check "it says a load balancer serves one layout" grep -q "load balancer target 'app1' is a server of layout 'phase1', the others of layout 'phase2'" "$WORK/bad2"
check "nothing was sent to the API but plan's reads" test "$(cloud_writes)" = 0
viol=$(cloud_violations)
check "every request followed the specification${viol:+: $viol}" test -z "$viol"
