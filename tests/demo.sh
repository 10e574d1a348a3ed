#!/usr/bin/env bash
# make demo: one hardened Debian host on this machine from inventory.example.yml.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
if [ "$(id -u)" != 0 ]; then
	echo "demo: local hosts need root (bridges, mounts, systemd-nspawn); run as root" >&2
	exit 2
fi
bin/provision -i inventory.example.yml up phase1
cat <<'MSG'

A hardened Debian 12 host 'app1' is running on this machine.
  Log in:        bin/provision -i inventory.example.yml ssh app1
  Its state:     bin/provision -i inventory.example.yml status
  Run again:     bin/provision -i inventory.example.yml up phase1     (0 changed)
  Remove it:     bin/provision -i inventory.example.yml destroy phase1
MSG
