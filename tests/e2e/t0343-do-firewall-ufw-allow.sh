#!/usr/bin/env bash
# DigitalOcean: the cloud firewall opens what ufw_allow opens on the hosts,
# from the sources it names, and closes what is taken out of it.
. "$(dirname "$0")/lib.sh"
. "$ROOT/tests/cloud/lib.sh"

t_project </dev/null
do_start
do_inventory >"$WORK/inventory.yml"
t_uses phase1
cloud_ufw_allow '.firewalls[].inbound_rules[] | select(.protocol != "icmp") | "\(.ports) \(.sources.addresses | join(","))"'
