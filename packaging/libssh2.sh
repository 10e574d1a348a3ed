#!/bin/sh
# libssh2 1.11.1 as Debian 13 ships it (its source and Debian's security
# patches, both pinned by SHA-256), built as a static library under
# build/libssh2 when the system's libssh2 is older than 1.11.  Before 1.11
# libssh2 has neither encrypt-then-MAC MACs nor AES-GCM, so sshd on every
# managed host would have to keep offering hmac-sha2-256/512 for provision
# to log in; built against 1.11 the hosts offer ETM MACs only.  The
# Makefile prefers build/libssh2 when it is there.
# Usage: packaging/libssh2.sh   (run from the top of the checkout; make deps
# runs it).  PROVISION_SYSTEM_LIBSSH2=1 keeps the system's library.
set -eu
version=1.11.1
debrev=1+deb13u2
pool=https://deb.debian.org/debian/pool/main/libs/libssh2
orig=libssh2_${version}.orig.tar.gz
orig_sha=d9ec76cbe34db98eec3539fe2c899d26b0c837cb3eb466a56b0f109cabf658f7
debian=libssh2_${version}-${debrev}.debian.tar.xz
debian_sha=ee81e3ea0d65fdbc979c50f1433966d0139e33ac09242d7dc7c83567139126a7
prefix=$(pwd)/build/libssh2
stamp=$prefix/.built-$version-$debrev

if [ "${PROVISION_SYSTEM_LIBSSH2:-}" = 1 ]; then
	echo "libssh2: the system's, as asked (PROVISION_SYSTEM_LIBSSH2=1)"
	exit 0
fi
if pkg-config --atleast-version=1.11 libssh2 2>/dev/null && [ ! -e "$stamp" ]; then
	echo "libssh2: the system's $(pkg-config --modversion libssh2) has ETM and AES-GCM"
	exit 0
fi
if [ -e "$stamp" ]; then
	echo "libssh2: $version-$debrev (build/libssh2)"
	exit 0
fi

work=$(pwd)/build/libssh2-src
rm -rf "$work" "$prefix"
mkdir -p "$work"
trap 'rm -rf "$work"' EXIT
echo "libssh2: building $version-$debrev from Debian's source (the system's is $(pkg-config --modversion libssh2 2>/dev/null || echo missing))"
for f in "$orig:$orig_sha" "$debian:$debian_sha"; do
	name=${f%%:*}
	# HTTPS only, no redirect to anything else; the hash decides
	curl -sSf --proto =https --retry 3 -o "$work/$name" "$pool/$name"
	echo "${f#*:}  $work/$name" | sha256sum -c --quiet -
done
mkdir "$work/src"
tar -xzf "$work/$orig" -C "$work/src" --strip-components=1
tar -xJf "$work/$debian" -C "$work/src"
# Debian's patch series, the lines not commented out, in order
(cd "$work/src" && grep -v '^#' debian/patches/series | while read -r p; do
	[ -n "$p" ] || continue
	patch -p1 -s <"debian/patches/$p"
done)
(cd "$work/src" &&
	./configure -q --prefix="$prefix" --disable-shared --enable-static --with-crypto=openssl \
		--disable-examples-build --disable-docker-tests --disable-sshd-tests >"$work/configure.log" 2>&1 ||
	{ cat "$work/configure.log" >&2; exit 1; }
	make -s -j"$(nproc)" >"$work/make.log" 2>&1 || { tail -40 "$work/make.log" >&2; exit 1; }
	make -s install >>"$work/make.log" 2>&1)
touch "$stamp"
echo "libssh2: $version-$debrev built into build/libssh2"
