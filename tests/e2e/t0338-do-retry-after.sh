#!/usr/bin/env bash
# A droplet create refused with a 503 that names a Retry-After is looked for
# by its tags, then sent again no sooner than that.
. "$(dirname "$0")/lib.sh"
. "$ROOT/tests/cloud/lib.sh"

t_project </dev/null
do_start
do_inventory >"$WORK/inventory.yml"
t_uses phase1
cloud_retry_after digitalocean /v2/droplets droplet
