#!/usr/bin/env bash
# Hetzner: the cloud firewall opens what ufw_allow opens on the hosts, from
# the sources it names, and closes what is taken out of it.
. "$(dirname "$0")/lib.sh"
. "$ROOT/tests/cloud/lib.sh"

t_project </dev/null
hcloud_start
hcloud_inventory >"$WORK/inventory.yml"
t_uses phase1
cloud_ufw_allow '.firewalls[].rules[] | select(.port) | "\(.port) \(.source_ips | join(","))"'
