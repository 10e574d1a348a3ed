#!/usr/bin/env bash
# The Debian package on a clean Debian 12: 'make deb', then 'apt install
# ./provision_*.deb' in a chroot that has only Debian's archive (the test
# hosts' minimal base, read-only, under an overlay), so apt itself must
# find every dependency there; then the installed tool: --version, validate
# of the example from another directory, its man pages (man -w), and
# lintian on the package.  And the zsh completion, run in zsh, completing
# commands, layouts and hosts from the inventory.
# serial: mounts an overlay and fetches packages from Debian's archive
. "$(dirname "$0")/lib.sh"
. "$ROOT/tests/cloud/lib.sh"

t_project "$ROOT/inventory.example.yml"
ROOTFS=$WORK/chroot
MOUNTS=()
unmount_all() {
	local m
	for ((i = ${#MOUNTS[@]} - 1; i >= 0; i--)); do umount -l "${MOUNTS[i]}" 2>/dev/null; done
	MOUNTS=()
	t_cleanup
}
trap unmount_all EXIT

make -s -C "$ROOT" deb >"$WORK/deb.out" 2>&1 || bail "make deb failed: $(tail -5 "$WORK/deb.out")"
deb=$(ls "$ROOT"/build/provision_*.deb)
base=$(cloud_base) || bail "cannot build the Debian base file system"
mkdir -p "$WORK/upper" "$WORK/work" "$ROOTFS"
mount -t overlay overlay -o "lowerdir=$base,upperdir=$WORK/upper,workdir=$WORK/work" "$ROOTFS" ||
	bail "mounting the overlay failed"
MOUNTS+=("$ROOTFS")
for d in proc dev sys; do
	mount --rbind "/$d" "$ROOTFS/$d" && MOUNTS+=("$ROOTFS/$d")
done
cp /etc/resolv.conf "$ROOTFS/etc/resolv.conf"
in_root() { chroot "$ROOTFS" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@"; }

srcs=$(cat "$ROOTFS"/etc/apt/sources.list "$ROOTFS"/etc/apt/sources.list.d/* 2>/dev/null | grep -v '^#' | awk 'NF {print $2}' | sort -u | tr '\n' ' ')
check "the chroot's only package sources are Debian's archive ($srcs)" \
	test "$srcs" = "http://deb.debian.org/debian http://security.debian.org/debian-security "
missing=""
for p in libssh2-1 libyaml-0-2 libcurl4 libarchive13 libjansson4; do
	in_root dpkg-query -W -f '${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
check "the chroot starts without the tool's libraries (not installed:$missing)" \
	test "$missing" = " libssh2-1 libyaml-0-2 libcurl4 libarchive13 libjansson4"
in_root apt-get update -q >"$WORK/update.out" 2>&1 || bail "apt-get update in the chroot failed: $(tail -5 "$WORK/update.out")"
cp "$deb" "$ROOTFS/tmp/"
in_root apt-get install -y -q --no-install-recommends "./tmp/$(basename "$deb")" man-db zsh >"$WORK/install.out" 2>&1
rc=$?
check "apt install ./$(basename "$deb") in the chroot succeeds (exit $rc: $(tail -n 2 "$WORK/install.out" | tr '\n' ' '))" test "$rc" = 0
check "apt fetched the dependencies from Debian's archive" grep -q 'Get:.* libjansson4 ' "$WORK/install.out"
ver=$(in_root provision --version 2>&1)
check "provision --version: '$ver'" grep -Eq '^provision [0-9]+\.[0-9]+\.[0-9]+$' <<<"$ver"
check "and the libssh2 it runs with, as the one built here: '$ver'" \
	test "$(grep '^libssh2 ' <<<"$ver")" = "$("$PROVISION" --version | grep '^libssh2 ')"
cp "$ROOT/inventory.example.yml" "$ROOTFS/root/inventory.example.yml"
out=$(in_root sh -c 'cd /tmp && provision -i /root/inventory.example.yml validate' 2>&1)
rc=$?
check "provision -i inventory.example.yml validate, from another directory: exit $rc ($out)" \
	sh -c "[ $rc = 0 ] && printf '%s' '$out' | grep -q ': valid ('"
check "its roles are the packaged ones" test -f "$ROOTFS/usr/share/provision/roles/base/role.yml"
page=$(in_root man -w provision 2>&1)
check "man -w provision: $page" test "$page" = /usr/share/man/man1/provision.1.gz
page5=$(in_root man -w 5 provision-inventory 2>&1)
check "man -w 5 provision-inventory: $page5" test "$page5" = /usr/share/man/man5/provision-inventory.5.gz
check "man provision renders" sh -c "chroot '$ROOTFS' env MANWIDTH=80 man provision 2>/dev/null | grep -q '^NAME'"
check "the completions are installed" \
	test -f "$ROOTFS/usr/share/bash-completion/completions/provision" -a -f "$ROOTFS/usr/share/zsh/vendor-completions/_provision"
# zsh, Debian's own, in the chroot: the function is on its default fpath, and
# run as the completion system runs it (words, CURRENT) it offers what the
# inventory has; what it offers is captured from compadd
check "zsh finds _provision on its default fpath" in_root zsh -f -c 'autoload -U +X _provision'
zcomp() {
	in_root zsh -f -c '
		compadd() { local a; if [[ $1 == -a ]]; then for a in ${(P)2}; do print -r -- $a; done
			else [[ $1 == -- ]] && shift; print -rl -- "$@"; fi }
		_files() { print -r -- "(files)"; }
		autoload -U +X _provision
		words=(provision "$@"); CURRENT=$(( $# + 1 ))
		_provision' provision "$@" 2>&1 | sort | tr '\n' ' '
}
inv=/root/inventory.example.yml
want() { in_root provision -i "$inv" __complete "$1" | sort | tr '\n' ' '; }
got=$(zcomp "")
check "zsh completes the commands: $got" test -n "$(want commands)" -a "$got" = "$(want commands)"
got=$(zcomp -i "$inv" up "")
check "zsh completes up's layouts from the inventory: $got" test -n "$(want layouts)" -a "$got" = "$(want layouts)"
got=$(zcomp -i "$inv" ssh "")
check "zsh completes ssh's hosts from the inventory: $got" test -n "$(want hosts)" -a "$got" = "$(want hosts)"
got=$(zcomp -i "$inv" -e "")
check "zsh completes -e from the inventory's environments: $got" test "$got" = "$(want environments)"

in_root apt-get remove -y -q provision >"$WORK/remove.out" 2>&1
check "apt remove takes it away again" sh -c "! chroot '$ROOTFS' sh -c 'command -v provision'"

# lintian (Debian's package checker) on the package: errors and warnings
if command -v lintian >/dev/null; then
	lintian --tag-display-limit 0 --info --pedantic --fail-on none "$deb" >"$WORK/lintian.out" 2>&1
	tags=$(grep -E '^[EWIPX]: ' "$WORK/lintian.out" | sort -u | tr '\n' ' ')
	check "lintian, pedantic, reports nothing${tags:+: $tags}" test -z "$tags"
	lintian --tag-display-limit 0 --show-overrides --fail-on none "$deb" 2>/dev/null | grep '^O: ' >"$WORK/overridden"
	dpkg-deb --fsys-tarfile "$deb" | tar -xO ./usr/share/lintian/overrides/provision >"$WORK/overrides"
	check "what it does not report is only what the package's overrides list ($(tr '\n' ' ' <"$WORK/overridden"))" \
		test "$(sed 's/^O: //' "$WORK/overridden" | sort)" = "$(grep -v '^#' "$WORK/overrides" | sort)"
	check "each override has its reason above it" \
		awk '!/^#/ && prev !~ /^#/ { bad = 1 } { prev = $0 } END { exit bad }' "$WORK/overrides"
	check "packaging/lintian-overrides is in the package's overrides" \
		test -z "$(grep -v '^#' "$ROOT/packaging/lintian-overrides" | grep -Fxvf "$WORK/overrides")"
	# the libssh2 the binary uses: the system's as a dependency, or built in and said
	if grep -q 'embedded-library libssh2' "$WORK/overrides"; then
		check "libssh2 built in: the package does not depend on libssh2-1 and does on zlib1g" \
			sh -c "dpkg-deb -f '$deb' Depends | grep -v libssh2 | grep -q zlib1g"
	else
		check "libssh2 the system's: the package depends on libssh2-1" \
			sh -c "dpkg-deb -f '$deb' Depends | grep -q libssh2-1"
	fi
else
	fail "lintian is not installed (apt-get install lintian)"
fi

