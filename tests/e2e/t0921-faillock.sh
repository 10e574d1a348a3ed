#!/usr/bin/env bash
# pam_faillock, as role base sets it up, through the host's real PAM stack
# (pamtester, service 'login', which includes common-auth and
# common-account as sshd, su and sudo do): a user whose password is guessed
# wrong the configured number of times is locked, the right password is
# refused while the lock holds, 'faillock --user' shows the failures, and
# the admin's 'faillock --reset' lifts the lock.  The admin the tool logs in
# as is not locked out: not by another user's failures, and not by guesses
# at its own (absent) password, since it logs in with a key and its sudo
# asks no password.
. "$(dirname "$0")/lib.sh"

t_project <<'EOF'
project: t0921
layouts:
  one:
    provider: local
    servers:
      app1: { roles: [base] }
EOF
t_uses one

up_json one 1
check "first up failed nothing" test "$(json_total "$WORK/up1.json" failed)" = 0

deny=$(on_host app1 "awk -F' *= *' '\$1 == \"deny\" { print \$2 }' /etc/security/faillock.conf")
case $deny in '' | *[!0-9]*) bail "no deny count in the host's faillock.conf: '$deny'" ;; esac
echo "# faillock.conf: deny = $deny"
on_host app1 'DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends pamtester >/dev/null 2>&1' ||
	bail "cannot install pamtester on app1"

# A user with a password (pwquality accepts it: 16 characters, 4 classes).
pw='Kv7#pQ2!zR9@wX4m'
on_host app1 "useradd -m t0921u && printf '%s\n' 't0921u:$pw' | chpasswd" || bail "cannot make the user t0921u"

# login USER PASSWORD: a console-style login (authentication, then the
# account checks that a successful login goes through).
login() { on_host app1 "printf '%s\n' '$2' | pamtester login $1 authenticate acct_mgmt" >/dev/null 2>&1; }
refused() { ! login "$@"; }
failures() { on_host app1 "faillock --user $1 | grep -c ' V\$'"; }

check "the right password is accepted before any failure" login t0921u "$pw"
check "a wrong password is refused" refused t0921u "wrong-$RANDOM"
# the rest of the guesses in one session, and the records read in it: the
# admin's own sudo (every on_host) clears the admin's record
counts=$(on_host app1 "for i in \$(seq 2 $deny); do printf 'wrong-%s\n' \$i | pamtester login t0921u authenticate >/dev/null 2>&1 && exit 1; done
	faillock --user t0921u | grep -c ' V\$'; faillock --user admin | grep -c ' V\$'; true") || bail "a wrong password was accepted"
n=${counts%%$'\n'*}
check "faillock --user lists $deny failures, got $n" test "$n" = "$deny"
check "another user's failures are not the admin's (${counts#*$'\n'})" test "${counts#*$'\n'}" = 0
check "the account is locked: the right password is refused" refused t0921u "$pw"
# ([e]: not to find sudo's own log of this command line)
check "the host logs the lock" on_host app1 "journalctl -q --no-pager | grep -q 'pam_faillock(login:auth): Consecutive login failures for user t0921u account temporarily lock[e]d'"

# The admin: another user's failures do not touch it.
up_json one 2
check "up with another user locked: the admin logs in and converges, 0 changed" \
	test "$(json_total "$WORK/up2.json" changed)" = 0
check "the lock holds after the converge" refused t0921u "$pw"

# Guesses at the admin's own password: it has none to guess, and its key
# and password-less sudo are what the tool uses.
n=$(on_host app1 "for i in \$(seq 1 $deny); do printf 'wrong-%s\n' \$i | pamtester login admin authenticate >/dev/null 2>&1 && exit 1; done
	faillock --user admin | grep -c ' V\$'; true") || bail "a password was accepted for admin"
check "guesses at the admin's password are counted too ($n)" test "$n" = "$deny"
up_json one 3
check "up after guesses at the admin's password: it logs in with its key, sudo works, 0 changed" \
	test "$(json_total "$WORK/up3.json" changed)" = 0
check "the admin's own login (a key, then sudo) clears its record ($(failures admin))" test "$(failures admin)" = 0

# The admin lifts the lock.
on_host app1 'faillock --user t0921u --reset' || bail "faillock --reset failed"
check "after faillock --reset no failure is listed" test "$(failures t0921u)" = 0
check "after faillock --reset the right password is accepted" login t0921u "$pw"

# A profile on the host that differs from the role's (an older one, or an
# edit) is put back, and the PAM stack follows it.
on_host app1 "sed -i '/pam_faillock.so preauth/d' /usr/share/pam-configs/provision-faillock &&
	pam-auth-update --package --enable provision-faillock provision-faillock-notify" || bail "cannot change the profile on app1"
on_host app1 'grep -q "pam_faillock.so preauth" /etc/pam.d/common-auth' && bail "the profile change did not reach common-auth"
up_json one 4
check "up puts the profile back" on_host app1 'grep -q "pam_faillock.so preauth" /usr/share/pam-configs/provision-faillock'
check "and the PAM stack follows it: common-auth checks the lock first" \
	on_host app1 'grep -q "pam_faillock.so preauth" /etc/pam.d/common-auth'
