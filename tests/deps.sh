#!/usr/bin/env bash
# Install what building and testing provision needs, when it is missing.
# Debian 12; needs root (or sudo) for apt-get.
set -euo pipefail

packages=(
	# build (dpkg-dev: make deb's hardening flags)
	gcc make pkg-config clang-format dpkg-dev
	# make fuzz: libFuzzer and the sanitizers come with clang
	clang
	libssh2-1-dev libyaml-dev libcurl4-openssl-dev libssl-dev libarchive-dev libjansson-dev
	# local hosts: nspawn, a Debian root file system, a package cache on the bridge
	systemd-container mmdebstrap apt-cacher-ng iproute2 debian-archive-keyring
	# VMs: qemu, qcow2 disks, the cloud-init seed (a FAT image) and the image's file system
	qemu-system-x86 qemu-utils mtools dosfstools e2fsprogs
	# the cloud API test servers format volumes (ext4, xfs) on loop devices
	xfsprogs util-linux
	# tests: ssh client and server, JSON on the command line; the stand-in Tailscale API
	# (python3 standard library only) and curl to drive its test controls
	openssh-client openssh-server jq ca-certificates python3 curl
	# tests of the application roles (YAML schema checks) and the cloud API test servers
	# (Debian's jsonschema and yaml modules)
	python3-yaml python3-jsonschema
	# backup tests: a test CA (and npm, below, for the S3-compatible store s3rver)
	openssl
	# the package test (t0852): Debian's package checker, and zsh for the completion
	lintian zsh
	# the hardening scores (t0920, t0900): ssh-audit run from here against the hosts
	ssh-audit
	# the monitoring test's SMTP server (t0960: Alertmanager's mail, STARTTLS and a login)
	python3-aiosmtpd
)

missing=()
for p in "${packages[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing+=("$p")
	fi
done
# npm may come with a Node.js from elsewhere (its own package, not Debian's
# npm); Debian's is installed only when there is no npm at all.
if ! command -v npm >/dev/null 2>&1; then
	missing+=(nodejs npm)
fi

if [ "${#missing[@]}" -gt 0 ]; then
	echo "deps: installing ${missing[*]}"
	SUDO=
	[ "$(id -u)" = 0 ] || SUDO=sudo
	export DEBIAN_FRONTEND=noninteractive
	$SUDO apt-get update -q
	$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
echo "deps: ok"
