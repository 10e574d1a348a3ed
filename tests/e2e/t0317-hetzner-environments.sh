#!/usr/bin/env bash
# Two environments of one project in one Hetzner project: each gets its own
# server (names are unique per project), network and firewall, found by its
# own labels; destroy -e staging leaves production untouched.
. "$(dirname "$0")/lib.sh"
. "$ROOT/tests/cloud/lib.sh"

t_project </dev/null
hcloud_start
staging_net=$(cloud_free_prefix "$CLOUD_PRIVATE") || bail "no free /24"
hcloud_inventory >"$WORK/inventory.yml"
cat >>"$WORK/inventory.yml" <<-EOF
	default_environment: production
	environments:
	  production: {}
	  staging:
	    providers: { hetzner: { network: { ip_range: $staging_net.0/24, subnet: $staging_net.0/24 } } }
EOF
cleanup_envs() {
	for e in staging production; do
		"$PROVISION" -i "$WORK/inventory.yml" -e "$e" --plain destroy phase1 --yes >/dev/null 2>&1
	done
}
trap 'cleanup_envs; cloud_teardown' EXIT

pv -e production up phase1 --only cloud >"$WORK/prod.out" 2>&1 || bail "up -e production failed: $(cat "$WORK/prod.out")"
pv -e staging up phase1 --only cloud >"$WORK/stag.out" 2>&1 || bail "up -e staging failed: $(cat "$WORK/stag.out")"
state=$(cloud_state)
check "one server per environment, named apart" test "$(jq -c '[.servers[].name] | sort' <<<"$state")" = '["app1.phase1.production.shop","app1.phase1.staging.shop"]'
check "each labelled with its environment" test "$(jq -c '[.servers[].labels.env] | sort' <<<"$state")" = '["production","staging"]'
check "a network each, with its own range" test "$(jq -c '[.networks[] | [.labels.env, .ip_range]] | sort' <<<"$state")" = "[[\"production\",\"$CLOUD_PRIVATE.0/24\"],[\"staging\",\"$staging_net.0/24\"]]"
check "one SSH key for both (the project keeps one copy of a key)" test "$(jq '[.ssh_keys[]] | length' <<<"$state")" = 1
check "both hosts answer with their pinned keys" sh -c "'$PROVISION' -i '$WORK/inventory.yml' -e production ssh app1 -- true && '$PROVISION' -i '$WORK/inventory.yml' -e staging ssh app1 -- true"

before=$(cloud_writes)
pv -e production up phase1 --only cloud >"$WORK/prod2.out" 2>&1 || bail "second up -e production failed"
check "a second up of production writes nothing" test "$(cloud_writes)" = "$before"

pv -e staging destroy phase1 --yes >"$WORK/d.out" 2>&1 || bail "destroy -e staging failed: $(cat "$WORK/d.out")"
state=$(cloud_state)
check "nothing of staging is left" test "$(jq '[to_entries[] | select(.key != "actions") | .value[] | select(.labels.env == "staging")] | length' <<<"$state")" = 0
check "production is untouched" test "$(jq -c '[(.servers|length), (.networks|length), (.firewalls|length), (.ssh_keys|length), (.volumes|length)]' <<<"$state")" = "[1,1,1,1,1]"
check "production's host still answers" "$PROVISION" -i "$WORK/inventory.yml" -e production ssh app1 -- true
viol=$(cloud_violations)
check "every request followed the specification${viol:+: $viol}" test -z "$viol"
