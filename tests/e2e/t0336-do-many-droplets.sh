#!/usr/bin/env bash
# suite: extended (fifty droplets; make test-all)
# Fifty droplets of one layout, created, awaited and destroyed at once, at
# most 'parallel' at a time and within the API's rate budget (cloud_many),
# on one booted host shared as t0335 explains (--shared-host).
. "$(dirname "$0")/lib.sh"
. "$ROOT/tests/cloud/lib.sh"

N=50
PAR=10
t_project </dev/null
do_start --shared-host --action-seconds 2
{
	do_inventory | sed '/^layouts:/,$d' | sed "s/^    poll_interval: 0.2$/    poll_interval: 0.5\n    parallel: $PAR\n    rotate_host_keys: false/"
	printf 'layouts:\n  phase1:\n    provider: digitalocean\n    servers:\n'
	for i in $(seq -w 1 $N); do printf '      app%s: { roles: [base, ufw] }\n' "$i"; done
} >"$WORK/inventory.yml"
t_uses phase1
cloud_many $N $PAR digitalocean droplet
check "nothing of the layout is left: $(do_left shop:default:phase1 shop-default-phase1 | wc -l)" \
	test -z "$(do_left shop:default:phase1 shop-default-phase1)"

viol=$(cloud_violations)
check "every request followed the specification${viol:+: $viol}" test -z "$viol"
