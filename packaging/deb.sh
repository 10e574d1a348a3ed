#!/bin/sh
# Build provision_VERSION_ARCH.deb from a staged 'make install' tree with
# dpkg-deb: Debian's paths (PREFIX=/usr), compressed man pages and
# changelog, a copyright note, and the run-time libraries as dependencies.
# Usage: packaging/deb.sh OUTDIR   (run from the top of the checkout)
# DEB_MAINTAINER names who builds it ("Name <mail>"), for the control file
# and the changelog.  Lintian finds nothing to say but what
# packaging/lintian-overrides lists, each with its reason.
set -eu
out=$1
version=$(sed -n 's/^#define PROVISION_VERSION "\(.*\)"$/\1/p' provision/cli/main.c)
arch=$(dpkg --print-architecture)
stage=build/deb/root
rm -rf build/deb
# Debian's zsh looks for packaged completions in vendor-completions
make -s install DESTDIR="$stage" PREFIX=/usr ZSHCOMPDIR="$stage/usr/share/zsh/vendor-completions"
# the packaged binary is built again with Debian's hardening flags (fortified
# functions, stack protector, read-only relocations bound at start)
export DEB_BUILD_MAINT_OPTIONS=hardening=+all
# shellcheck disable=SC2046,SC2086 # flag lists are split on purpose
cc ${PROVISION_CFLAGS:?run it as make deb} $(dpkg-buildflags --get CPPFLAGS) \
	$(dpkg-buildflags --get CFLAGS) -o "$stage/usr/bin/provision" provision/*/*.c \
	$(dpkg-buildflags --get LDFLAGS) $PROVISION_LDLIBS
strip --strip-unneeded --remove-section=.comment --remove-section=.note "$stage/usr/bin/provision"
gzip -9n "$stage/usr/share/man/man1/provision.1" "$stage/usr/share/man/man5/provision-inventory.5"
doc="$stage/usr/share/doc/provision"
install -d "$doc"
install -m 0644 README.md "$doc/README.md"
maintainer=${DEB_MAINTAINER:-provision packagers <packagers@provision.invalid>}
when=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}
# a native package (the version has no Debian revision): changelog.gz
printf 'provision (%s) unstable; urgency=medium\n\n  * Release %s.\n\n -- %s  %s\n' \
	"$version" "$version" "$maintainer" "$(date -R -u -d "@$when")" |
	gzip -9n >"$doc/changelog.gz"
printf 'Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\nUpstream-Name: provision\n\nFiles: *\nCopyright: %s the provision authors\nLicense: see README.md\n' \
	"$(date -u -d "@$when" +%Y)" >"$doc/copyright"
install -d "$stage/usr/share/lintian/overrides"
install -m 0644 packaging/lintian-overrides "$stage/usr/share/lintian/overrides/provision"
# libssh2: the system's as a dependency, or (when the system's is older than
# 1.11, see packaging/libssh2.sh) Debian 13's built in, which lintian is told
libssh2_dep="libssh2-1, "
if ! readelf -d "$stage/usr/bin/provision" | grep -q 'NEEDED.*libssh2'; then
	libssh2_dep="zlib1g, "
	printf '%s\n%s\n%s\n' \
		"# libssh2 1.11.1 (Debian 13's source and security patches) is linked in: Debian 12's" \
		"# 1.10 has no encrypt-then-MAC MACs, which the hardened sshd offers alone." \
		"provision: embedded-library libssh2 [usr/bin/provision]" \
		>>"$stage/usr/share/lintian/overrides/provision"
fi
install -d "$stage/DEBIAN"
size=$(du -sk "$stage" | cut -f1)
cat >"$stage/DEBIAN/control" <<CONTROL
Package: provision
Version: $version
Architecture: $arch
Maintainer: $maintainer
Installed-Size: $size
Depends: libc6, ${libssh2_dep}libyaml-0-2, libcurl4, libssl3, libarchive13, libjansson4, openssh-client
Recommends: systemd-container, mmdebstrap
Section: admin
Priority: optional
Description: hardened servers from a declarative inventory
 One binary and one YAML inventory: it makes the servers a layout is
 missing (local systemd-nspawn hosts, existing hosts, Hetzner or
 DigitalOcean) and converges every host over one SSH connection each.
CONTROL
find "$stage" -type d -exec chmod 0755 {} +
(cd "$stage" && find usr -type f -exec md5sum {} + | sort -k 2) >"$stage/DEBIAN/md5sums"
mkdir -p "$out"
dpkg-deb --root-owner-group --build "$stage" "$out/provision_${version}_${arch}.deb"
