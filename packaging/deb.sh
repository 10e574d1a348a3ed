#!/bin/sh
# Build provision_VERSION_ARCH.deb from a staged 'make install' tree with
# dpkg-deb: Debian's paths (PREFIX=/usr), compressed man pages and
# changelog, a copyright note, and the run-time libraries as dependencies.
# Usage: packaging/deb.sh OUTDIR   (run from the top of the checkout)
set -eu
out=$1
version=$(sed -n 's/^#define PROVISION_VERSION "\(.*\)"$/\1/p' provision/cli/main.c)
arch=$(dpkg --print-architecture)
stage=build/deb/root
rm -rf build/deb
make -s install DESTDIR="$stage" PREFIX=/usr
strip --strip-unneeded --remove-section=.comment --remove-section=.note "$stage/usr/bin/provision"
gzip -9n "$stage/usr/share/man/man1/provision.1" "$stage/usr/share/man/man5/provision-inventory.5"
doc="$stage/usr/share/doc/provision"
install -d "$doc"
install -m 0644 README.md "$doc/README.md"
printf 'provision (%s) unstable; urgency=medium\n\n  * Release %s.\n\n -- provision <provision@localhost>  %s\n' \
	"$version" "$version" "$(date -R -u -d "@${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}")" |
	gzip -9n >"$doc/changelog.Debian.gz"
printf 'Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\nUpstream-Name: provision\n\nFiles: *\nCopyright: the provision authors\nLicense: see README.md\n' >"$doc/copyright"
install -d "$stage/DEBIAN"
size=$(du -sk "$stage" | cut -f1)
cat >"$stage/DEBIAN/control" <<CONTROL
Package: provision
Version: $version
Architecture: $arch
Maintainer: provision <provision@localhost>
Installed-Size: $size
Depends: libc6, libssh2-1, libyaml-0-2, libcurl4, libssl3, libarchive13, libjansson4, openssh-client
Recommends: systemd-container, mmdebstrap
Section: admin
Priority: optional
Description: hardened servers from a declarative inventory
 One binary and one YAML inventory: it makes the servers a layout is
 missing (local systemd-nspawn hosts, existing hosts, Hetzner or
 DigitalOcean) and converges every host over one SSH connection each.
CONTROL
find "$stage" -type d -exec chmod 0755 {} +
mkdir -p "$out"
dpkg-deb --root-owner-group --build "$stage" "$out/provision_${version}_${arch}.deb"
