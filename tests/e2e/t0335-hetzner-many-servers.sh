#!/usr/bin/env bash
# suite: extended (fifty servers; make test-all)
# Fifty servers of one layout, created, awaited and destroyed at once, at most
# 'parallel' at a time and within the API's rate budget (cloud_many).  The
# test server boots one real host and makes every server an sshd of its own
# in it, on the server's own address with the host key its own user_data
# gave (--shared-host): fifty booted hosts are more than this machine holds,
# and the servers' systems are not what this test is about.  Each server is
# still reached on its own address, verified by its own pinned key and
# logged in to.  Their bootstrap host keys are not replaced
# (rotate_host_keys: false): a shared host's sshds are not the host's own
# ssh service that the replacement reloads; t0310 covers the replacement.
. "$(dirname "$0")/lib.sh"
. "$ROOT/tests/cloud/lib.sh"

N=50
PAR=10
t_project </dev/null
hcloud_start --shared-host --action-seconds 2
{
	hcloud_inventory | sed '/^layouts:/,$d' | sed "s/^    poll_interval: 0.2$/    poll_interval: 0.5\n    parallel: $PAR\n    rotate_host_keys: false/"
	printf 'layouts:\n  phase1:\n    provider: hetzner\n    servers:\n'
	for i in $(seq -w 1 $N); do printf '      app%s: { roles: [base, ufw] }\n' "$i"; done
} >"$WORK/inventory.yml"
t_uses phase1
cloud_many $N $PAR hetzner server
check "nothing of the project is left: $(cloud_labelled shop | wc -l)" test -z "$(cloud_labelled shop)"

viol=$(cloud_violations)
check "every request followed the specification${viol:+: $viol}" test -z "$viol"
