#!/usr/bin/env bash
# Install what building and testing provision needs, when it is missing.
# Debian 12; needs root (or sudo) for apt-get.
set -euo pipefail

packages=(
	# build
	gcc make pkg-config clang-format
	libssh2-1-dev libyaml-dev libcurl4-openssl-dev libssl-dev libarchive-dev libjansson-dev
	# local hosts: nspawn, a Debian root file system, a package cache on the bridge
	systemd-container mmdebstrap apt-cacher-ng iproute2 debian-archive-keyring
	# tests: ssh client and server, JSON on the command line
	openssh-client openssh-server jq ca-certificates curl
	# backup tests: an S3-compatible store from npm (s3rver), a test CA
	nodejs npm openssl python3
)

missing=()
for p in "${packages[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing+=("$p")
	fi
done

if [ "${#missing[@]}" -gt 0 ]; then
	echo "deps: installing ${missing[*]}"
	SUDO=
	[ "$(id -u)" = 0 ] || SUDO=sudo
	export DEBIAN_FRONTEND=noninteractive
	$SUDO apt-get update -q
	$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
echo "deps: ok"
