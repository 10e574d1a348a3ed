#!/usr/bin/env bash
# suite: extended (several converges of the same hosts; make test-all)
# up --frozen and apply --frozen refuse, before changing anything, to
# install or keep package versions other than the recorded ones, naming
# host and package.
. "$(dirname "$0")/lib.sh"

t_project <<'YML'
project: frozen
layouts:
  phase1:
    servers:
      app1: { roles: [base, ufw] }
YML
t_uses phase1
state=$WORK/.provision/state.json
rec=.environments.default.layouts.phase1.repro.app1

# last_apt_asked WORD: the last apt-get run on app1 named WORD.
last_apt_asked() {
	on_host app1 'grep ^Commandline: /var/log/apt/history.log | tail -1' | tr ' ' '\n' | grep -qx "$1"
}
# not_installed PKG: dpkg on app1 does not have PKG installed.
not_installed() {
	local st
	st=$(on_host app1 "dpkg-query -W -f '\${Status}' $1 2>/dev/null; echo ' probe-ran'") || return 1
	case $st in *' probe-ran') ;; *) return 1 ;; esac
	case $st in *'ok installed'*) return 1 ;; esac
}

pv up phase1 --frozen >"$WORK/first.out" 2>&1
check "--frozen on a host with no record refuses" sh -c "test $? = 1 && grep -q 'no package versions are recorded' '$WORK/first.out'"
check "and changed nothing (ufw is not installed)" not_installed ufw
pvj up phase1 >"$WORK/up.json" 2>"$WORK/up.err" || bail "up phase1 failed: $(json_errors "$WORK/up.json" "$WORK/up.err")"
pvj up phase1 --frozen >"$WORK/frozen.json" 2>&1
check "--frozen with the recorded versions converges (0 changed)" \
	sh -c "test \"\$(jq -r 'select(.event == \"summary\") | .changed' '$WORK/frozen.json')\" = 0 && test \"\$(jq -r 'select(.event == \"summary\") | .failed' '$WORK/frozen.json')\" = 0"

# the host loses fail2ban and a file drifts; the record says another version
on_host app1 'apt-get -y -q remove fail2ban >/dev/null 2>&1; echo drift >>/etc/systemd/journald.conf.d/10-provision.conf' || true
jq "$rec.packages.fail2ban = \"0.0.1-1\"" "$state" >"$WORK/s2" && cp "$WORK/s2" "$state"
pv up phase1 --frozen >"$WORK/refuse.out" 2>&1
rc=$?
check "--frozen refuses a version other than recorded (exit 1, got $rc)" test "$rc" = 1
check "the refusal names the host" grep -q "app1" "$WORK/refuse.out"
check "the refusal names the package and both versions" \
	grep -q "package 'fail2ban' would be installed at [^ ]*, recorded 0.0.1-1" "$WORK/refuse.out"
check "nothing was changed: fail2ban is still not installed" not_installed fail2ban
check "nothing was changed: the drifted file is as it was" on_host app1 'grep -qx drift /etc/systemd/journald.conf.d/10-provision.conf'
check "the record was not touched" test "$(jq -r "$rec.packages.fail2ban" "$state")" = 0.0.1-1

# an installed version other than recorded is refused too
jq "$rec.packages.sudo = \"0.0.2-1\"" "$state" >"$WORK/s3" && cp "$WORK/s3" "$state"
pv up phase1 --frozen >"$WORK/refuse2.out" 2>&1
check "an installed version other than recorded is refused" \
	grep -q "package 'sudo' is [^ ]* on the host, recorded 0.0.2-1" "$WORK/refuse2.out"
# apply --frozen refuses the same, before any change
pv apply phase1 --frozen >"$WORK/apply-refuse.out" 2>&1
rc=$?
check "apply --frozen refuses a version other than recorded (exit 1, got $rc)" test "$rc" = 1
check "apply --frozen names the package and both versions" \
	grep -q "package 'sudo' is [^ ]* on the host, recorded 0.0.2-1" "$WORK/apply-refuse.out"
check "apply --frozen changed nothing: fail2ban is still not installed" not_installed fail2ban
check "apply --frozen changed nothing: the drifted file is as it was" \
	on_host app1 'grep -qx drift /etc/systemd/journald.conf.d/10-provision.conf'

# without --frozen the new versions are accepted and recorded
pv up phase1 >"$WORK/up2.out" 2>&1 || bail "up without --frozen failed: $(tail -5 "$WORK/up2.out")"
want=$(on_host app1 "dpkg-query -W -f '\${Version}' fail2ban")
check "up without --frozen reinstalls and records the version ($want)" \
	test -n "$want" -a "$(jq -r "$rec.packages.fail2ban" "$state")" = "$want"
check "--frozen passes again" pv up phase1 --frozen
pvj apply phase1 --frozen >"$WORK/apply.json" 2>"$WORK/apply.err"
rc=$?
check "apply --frozen with the recorded versions passes (exit $rc, $(json_total "$WORK/apply.json" changed) changed)" \
	test "$rc" = 0 -a "$(json_total "$WORK/apply.json" changed)" = 0 -a "$(json_total "$WORK/apply.json" failed)" = 0

# a package lost on the host comes back at the recorded version, asked for by version
on_host app1 'apt-get -y -q remove fail2ban >/dev/null 2>&1' || bail "cannot remove fail2ban on app1"
check "fail2ban is gone from app1" not_installed fail2ban
pvj up phase1 --frozen --diff >"$WORK/reinstall.json" 2>&1
rc=$?
check "up --frozen succeeds (exit $rc)" test "$rc" = 0
check "--frozen reinstalls a lost package at the recorded version" \
	test "$(on_host app1 "dpkg-query -W -f '\${Version}' fail2ban")" = "$want"
check "asking apt for exactly that version (apt's own history)" last_apt_asked "fail2ban=$want"

# --- dependencies: recorded at their installed versions and held by --frozen
# version PKG: its installed version on app1 ("" when not installed)
version() { on_host app1 "dpkg-query -W -f '\${Version}' $1 2>/dev/null; true"; }
dep=libpwquality1 # what libpam-pwquality (role base) depends on
have=$(version "$dep")
# a no-op up's probe does not read the dependencies (only an apply, --frozen
# or a host without them recorded does): the record keeps them
pvj up phase1 >"$WORK/noop.json" 2>"$WORK/noop.err" || bail "a no-op up failed: $(json_errors "$WORK/noop.json" "$WORK/noop.err")"
check "a no-op up (0 changed) ran before the record is read" test "$(json_total "$WORK/noop.json" changed)" = 0
check "the record holds $dep (a dependency) at its installed version ($have)" \
	test -n "$have" -a "$(jq -r "$rec.dependencies[\"$dep\"]" "$state")" = "$have"
check "and libc6, several levels down, at its version" \
	test "$(jq -r "$rec.dependencies.libc6" "$state")" = "$(version libc6)"
check "a named package is not counted as a dependency" test "$(jq -r "$rec.dependencies.fail2ban" "$state")" = null
cp "$state" "$WORK/state-deps"
# dep_refused VERSION WHAT MESSAGE: with $dep recorded at VERSION, up --frozen
# exits 1 saying MESSAGE (a grep pattern)
dep_refused() {
	local rc
	jq "$rec.dependencies[\"$dep\"] = \"$1\"" "$WORK/state-deps" >"$state"
	pv up phase1 --frozen >"$WORK/refuse-$1.out" 2>&1
	rc=$?
	check "--frozen refuses $2 (exit 1, got $rc)" test "$rc" = 1
	check "naming it: $3" grep -q "$3" "$WORK/refuse-$1.out"
}
dep_refused 0.0.4-1 "a dependency installed at another version than recorded" \
	"dependency '$dep' is $have on the host, recorded 0.0.4-1"
cp "$WORK/state-deps" "$state"
check "control: with the record as it was, --frozen passes" pv up phase1 --frozen

# a lost package whose dependency apt would install again: that version is checked too
on_host app1 "apt-get -y -q remove $dep >/dev/null 2>&1" || bail "cannot remove $dep on app1"
gone="$(version "$dep")$(version libpam-pwquality)"
check "$dep and libpam-pwquality are gone from app1${gone:+: $gone}" test -z "$gone"
dep_refused 0.0.5-1 "a dependency apt would install at another version" \
	"dependency '$dep' would be installed at $have, recorded 0.0.5-1"
check "nothing was changed: $dep is still not installed" not_installed "$dep"
cp "$WORK/state-deps" "$state"
pv up phase1 --frozen >"$WORK/reinstall-dep.out" 2>&1
rc=$?
now_dep=$(version "$dep") now_pam=$(version libpam-pwquality)
check "control: with the record as it was, --frozen installs them again (exit $rc; $dep $now_dep, libpam-pwquality $now_pam)" \
	test "$rc" = 0 -a "$now_dep" = "$have" -a -n "$now_pam"
