#!/usr/bin/env bash
# make install / make uninstall into a temporary prefix: the installed
# binary finds its roles and templates from any directory, the man pages
# render and say what --help says, bash completion completes from the
# inventory, and uninstall leaves nothing.  No hosts.
. "$(dirname "$0")/lib.sh"

t_project "$ROOT/inventory.example.yml"
P="$WORK/prefix"
make -s -C "$ROOT" install PREFIX="$P" >"$WORK/install.out" 2>&1 || bail "make install failed: $(tail -5 "$WORK/install.out")"
check "the binary is installed" test -x "$P/bin/provision"
check "roles and templates under PREFIX/share/provision" \
	test -f "$P/share/provision/roles/base/role.yml" -a -d "$P/share/provision/templates"
check "the example inventory too" test -f "$P/share/provision/inventory.example.yml"
out=$(cd / && "$P/bin/provision" -i "$WORK/inventory.yml" validate 2>&1)
check "the installed binary validates the example from another directory ($out)" \
	grep -q "valid (2 layouts, 6 servers)" <<<"$out"
mkdir -p "$WORK/alone"
cp "$P/bin/provision" "$WORK/alone/provision"
out=$(cd / && "$WORK/alone/provision" -i "$WORK/inventory.yml" validate 2>&1)
check "a copied binary alone does not find the roles" grep -q "unknown role 'base'" <<<"$out"
out=$(cd / && PROVISION_DATA_DIR="$P/share/provision" "$WORK/alone/provision" -i "$WORK/inventory.yml" validate 2>&1)
check "PROVISION_DATA_DIR points it at them" grep -q "valid (2 layouts" <<<"$out"

# DESTDIR stages the same tree under another root
make -s -C "$ROOT" install DESTDIR="$WORK/stage" PREFIX=/usr >/dev/null 2>&1
check "DESTDIR: the files land under DESTDIR/PREFIX" \
	test -x "$WORK/stage/usr/bin/provision" -a -f "$WORK/stage/usr/share/man/man1/provision.1"

# man pages: they render without warnings and do not drift from --help
for page in "$P/share/man/man1/provision.1" "$P/share/man/man5/provision-inventory.5"; do
	warn=$(groff -man -ww -z "$page" 2>&1)
	check "$(basename "$page") renders without warnings${warn:+: $warn}" test -z "$warn"
	check "man -l $(basename "$page") shows it" sh -c "MANWIDTH=80 man -l '$page' 2>/dev/null | grep -q '^NAME'"
done
man1=$(MANWIDTH=200 man -l "$P/share/man/man1/provision.1" 2>/dev/null)
cmds=$("$P/bin/provision" --help | sed -n '/^Commands:/,/^$/p' | awk 'NF > 1 {print $1}')
missing=""
for c in $cmds; do
	grep -q "^       $c\b" <<<"$man1" || missing="$missing $c"
	# the command's own entry: from its line to the next command's
	section=$(sed -n '/^COMMANDS/,/^OPTIONS/p' <<<"$man1" | awk -v c="$c" '/^       [a-z]/ { on = ($1 == c) } on')
	for o in $("$P/bin/provision" "$c" --help | sed '/^Global options/,$d' | grep -oE -- '--[a-z][a-z-]*' | sort -u); do
		grep -q -- "$o" <<<"$section" || missing="$missing $c:$o"
	done
done
check "provision(1) has every command of --help and each command's options${missing:+ (missing:$missing)}" test -z "$missing"
extra=""
for c in $(sed -n '/^COMMANDS/,/^OPTIONS/p' <<<"$man1" | grep -oE '^       [a-z][a-z-]+' | sort -u); do
	grep -qx "$c" <<<"$cmds" || extra="$extra $c"
done
check "and no command --help does not have${extra:+ (extra:$extra)}" test -z "$extra"
missing=""
for o in $("$P/bin/provision" plan --help | sed -n '/^Global options/,$p' | grep -oE -- '--[a-z][a-z-]*' | sort -u); do
	grep -q -- "$o" <<<"$man1" || missing="$missing global:$o"
done
check "and the global options${missing:+ (missing:$missing)}" test -z "$missing"
man5=$(MANWIDTH=200 man -l "$P/share/man/man5/provision-inventory.5" 2>/dev/null)
missing=""
for k in $(grep -oE '^[a-z_]+:' "$ROOT/inventory.example.yml" | tr -d : | sort -u); do
	grep -q "^       $k\b" <<<"$man5" || missing="$missing $k"
done
for r in "$ROOT"/roles/*/; do
	grep -qw -- "$(basename "$r")" <<<"$man5" || missing="$missing role:$(basename "$r")"
done
check "provision-inventory(5) has every top-level key of the example and every role${missing:+ (missing:$missing)}" test -z "$missing"

# bash completion: commands, layouts and hosts from the inventory given with -i
# shellcheck disable=SC1091
. "$P/share/bash-completion/completions/provision"
comp() {
	COMP_WORDS=("$P/bin/provision" "$@")
	COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
	COMPREPLY=()
	_provision
	printf '%s\n' "${COMPREPLY[@]}" | sort | tr '\n' ' '
}
check "completes commands: 'de' gives destroy" test "$(comp de)" = "destroy "
check "completes layouts from the inventory" test "$(comp -i "$WORK/inventory.yml" up "")" = "phase1 phase2 "
check "completes hosts for ssh" test "$(comp -i "$WORK/inventory.yml" ssh w)" = "web1 web2 "
check "completes roles for --roles" sh -c "printf '%s' '$(comp -i "$WORK/inventory.yml" apply --roles po)' | grep -q 'postgres postgres-replica'"
check "completes environments for -e" test "$(comp -i "$WORK/inventory.yml" -e "")" = "production staging "
check "zsh completion is installed" test -f "$P/share/zsh/site-functions/_provision"

make -s -C "$ROOT" uninstall PREFIX="$P" >/dev/null 2>&1
left=$(find "$P" -type f 2>/dev/null)
check "make uninstall leaves no file${left:+: $left}" test -z "$left"

# the Debian package: the same tree under /usr, checked without installing it here
make -s -C "$ROOT" deb >"$WORK/deb.out" 2>&1 || bail "make deb failed: $(tail -5 "$WORK/deb.out")"
deb=$(ls "$ROOT"/build/provision_*.deb)
check "make deb builds one package" test "$(wc -w <<<"$deb")" = 1
# libssh2-1, or zlib1g for a libssh2 built in (make deps on Debian 12; t0852 checks which)
check "its control names the run-time libraries: $(dpkg-deb -f "$deb" Depends)" \
	sh -c "dpkg-deb -f '$deb' Depends | grep -Eq '(libssh2-1|zlib1g), libyaml-0-2, libcurl4, libssl3, libarchive13, libjansson4'"
unmet=""
for p in $(dpkg-deb -f "$deb" Depends | tr -d ' ' | tr ',' ' '); do
	dpkg-query -W -f '${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || unmet="$unmet $p"
done
check "every dependency is a package installed on this Debian 12${unmet:+ (unmet:$unmet)}" test -z "$unmet"
dpkg-deb -x "$deb" "$WORK/debroot"
out=$(cd / && "$WORK/debroot/usr/bin/provision" -i "$WORK/inventory.yml" validate 2>&1)
check "the packaged binary finds its roles under /usr/share/provision ($out)" grep -q "valid (2 layouts" <<<"$out"
check "man -l on the packaged page" sh -c "man -l '$WORK/debroot/usr/share/man/man1/provision.1.gz' 2>/dev/null | grep -q '^NAME'"
check "the package has its copyright and changelog" \
	test -f "$WORK/debroot/usr/share/doc/provision/copyright" -a -f "$WORK/debroot/usr/share/doc/provision/changelog.gz"
