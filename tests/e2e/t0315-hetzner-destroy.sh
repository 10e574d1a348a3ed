#!/usr/bin/env bash
# destroy on hetzner: asks first; deletes only what carries this project's,
# environment's and layout's labels, in dependency order; leaves nothing
# labelled behind, and nothing else touched.
. "$(dirname "$0")/lib.sh"
. "$ROOT/tests/cloud/lib.sh"

t_project </dev/null
hcloud_start
hcloud_inventory >"$WORK/inventory.yml"
t_uses phase1

# the operator's key is already in the project, unlabelled, under another name
ssh-keygen -q -t ed25519 -N '' -C operator -f "$WORK/operator" >/dev/null
sed -i 's|^ssh: { user: admin }|ssh: { user: admin, private_key: operator }|' "$WORK/inventory.yml"
cloud_api POST /ssh_keys "$(jq -n --arg k "$(cat "$WORK/operator.pub")" '{name: "operator-laptop", public_key: $k}')" >/dev/null

pvj up phase1 --only cloud >"$WORK/up.json" 2>"$WORK/up.err" || bail "up failed: $(json_errors "$WORK/up.json" "$WORK/up.err")"
check "the key the project already has is used, not added twice" sh -c "grep -q \"has this SSH key as 'operator-laptop'\" '$WORK/up.json' && [ \$(curl -fsS '$CLOUD_URL/__control/state' | jq '.ssh_keys | length') = 1 ]"

# what is not ours: an unlabelled SSH key, and a network of another environment
ssh-keygen -q -t ed25519 -N '' -C other -f "$WORK/other" >/dev/null
cloud_api POST /ssh_keys "$(jq -n --arg k "$(cat "$WORK/other.pub")" '{name: "someone-else", public_key: $k}')" >/dev/null
cloud_api POST /networks '{"name": "shop-staging-phase1", "ip_range": "10.213.0.0/24", "labels": {"project": "shop", "env": "staging", "layout": "phase1"}}' >/dev/null

n_before=$(cloud_labelled shop | wc -l)
check "up made labelled resources ($n_before)" test "$n_before" -ge 4

if pv destroy phase1 </dev/null >"$WORK/d0" 2>&1; then rc=0; else rc=$?; fi
check "destroy without --yes and without a terminal refuses (exit 2)" test "$rc" = 2
check "and deletes nothing" test "$(cloud_labelled shop | wc -l)" = "$n_before"

pv destroy phase1 --yes >"$WORK/destroy" 2>&1 || bail "destroy failed: $(cat "$WORK/destroy")"
PV_LAYOUTS=()
left=$(cloud_labelled shop | grep -v '^networks shop-staging-phase1$')
check "nothing of the layout is left${left:+: $left}" test -z "$left"
check "the other environment's network is kept" sh -c "cloud_state() { curl -fsS '$CLOUD_URL/__control/state'; }; cloud_state | jq -e '.networks[] | select(.name == \"shop-staging-phase1\")' >/dev/null"
check "the unlabelled SSH keys are kept" test "$(cloud_state | jq -c '[.ssh_keys[].name] | sort')" = '["operator-laptop","someone-else"]'
order=$(jq -r 'select(.method == "DELETE") | .path | split("/")[1]' "$CLOUD_DIR/api/requests.jsonl" | uniq | tr '\n' ' ')
check "deleted in dependency order: $order" test "$order" = "volumes servers firewalls networks "
check "the host of the server is stopped" sh -c "! pgrep -f '[s]ystemd-nspawn.*-M hc$(cat "$CLOUD_DIR/api/port")-' >/dev/null"
check "no pinned host key is left" sh -c "! grep -q . '$WORK/.provision/known_hosts' 2>/dev/null"
check "the state has no layout" sh -c "! jq -e '.environments.default.layouts.phase1' '$WORK/.provision/state.json' >/dev/null"
pv destroy phase1 --yes >"$WORK/destroy2" 2>&1
check "a second destroy has nothing to do" grep -q 'has nothing' "$WORK/destroy2"
viol=$(cloud_violations | grep -v 'someone-else\|staging' || true)
check "every request followed the specification${viol:+: $viol}" test -z "$viol"
