#!/usr/bin/env bash
# A server create refused with a 503 that names a Retry-After is looked for
# by its labels, then sent again no sooner than that.
. "$(dirname "$0")/lib.sh"
. "$ROOT/tests/cloud/lib.sh"

t_project </dev/null
hcloud_start
hcloud_inventory >"$WORK/inventory.yml"
t_uses phase1
cloud_retry_after hetzner /servers server
