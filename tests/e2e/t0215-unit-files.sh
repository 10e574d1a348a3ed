#!/usr/bin/env bash
# A unit file a role writes takes effect in the same run: systemd reloads
# its units after a changed, new or removed unit file, once before the next
# service or command and before the handlers (one reload for several
# files: the unit test test_unit_reload).  A changed timer runs on its
# new calendar, a changed drop-in reaches the service its handler restarts,
# a removed unit is gone from systemd, and nothing waits for a reload.
. "$(dirname "$0")/lib.sh"

t_project <<'YML'
project: uf0215
layouts:
  one:
    servers:
      u1:
        roles: [units]
        vars: { uf_calendar: "*-*-* 03:10:00", uf_greeting: first, uf_extra: true }
YML
t_uses one
mkdir -p "$WORK/roles/units"
cat >"$WORK/roles/units/role.yml" <<'YML'
description: a timer, a service with a drop-in, and a unit that comes and goes
vars:
  uf_calendar: { type: string, default: "*-*-* 03:10:00", doc: the timer's calendar }
  uf_greeting: { type: string, default: first, doc: the service's environment }
  uf_extra: { type: bool, default: true, doc: the extra unit exists }
resources:
  - file:
      path: /etc/systemd/system/uf0215-tick.service
      content: "[Service]\nType=oneshot\nExecStart=/bin/true\n"
  - file:
      path: /etc/systemd/system/uf0215-tick.timer
      content: "[Timer]\nOnCalendar={{ uf_calendar }}\n\n[Install]\nWantedBy=timers.target\n"
  - service: { name: uf0215-tick.timer, enabled: true, running: true }
  - file:
      path: /etc/systemd/system/uf0215-hold.service
      content: "[Service]\nExecStart=/bin/sleep infinity\n\n[Install]\nWantedBy=multi-user.target\n"
  - file:
      path: /etc/systemd/system/uf0215-hold.service.d/10-greeting.conf
      content: "[Service]\nEnvironment=GREETING={{ uf_greeting }}\n"
    notify: [restart hold]
  - service: { name: uf0215-hold, enabled: true, running: true }
  - file:
      path: /etc/systemd/system/uf0215-extra.service
      content: "[Service]\nType=oneshot\nExecStart=/bin/true\n"
    when: uf_extra
  - file: { path: /etc/systemd/system/uf0215-extra.service, state: absent }
    when: "!uf_extra"
handlers:
  restart hold:
    service: { name: uf0215-hold, action: restart }
YML

prop() { on_host u1 "systemctl show -p $2 --value $1"; }
stale() {
	local u
	for u in uf0215-tick.service uf0215-tick.timer uf0215-hold.service; do
		[ "$(prop "$u" NeedDaemonReload)" = no ] || { echo "$u"; return; }
	done
}
env_of_hold() { on_host u1 'tr "\0" "\n" </proc/$(systemctl show -p MainPID --value uf0215-hold)/environ | sed -n "s/^GREETING=//p"'; }

pvj up one >"$WORK/up1.json" 2>"$WORK/up1.err" || bail "up failed: $(json_errors "$WORK/up1.json" "$WORK/up1.err")"
check "the timer runs on its calendar ($(prop uf0215-tick.timer TimersCalendar))" \
	sh -c "printf '%s' '$(prop uf0215-tick.timer TimersCalendar)' | grep -q '03:10:00'"
check "the held service runs with the drop-in's environment ($(env_of_hold))" test "$(env_of_hold)" = first
check "the extra unit is known to systemd ($(prop uf0215-extra.service LoadState))" \
	test "$(prop uf0215-extra.service LoadState)" = loaded

# every unit file changes, and one goes away
sed -i 's/uf_calendar: "\*-\*-\* 03:10:00", uf_greeting: first, uf_extra: true/uf_calendar: "*-*-* 04:20:00", uf_greeting: second, uf_extra: false/' "$WORK/inventory.yml"
grep -q 'uf_greeting: second' "$WORK/inventory.yml" || bail "the inventory was not changed"
pvj up one >"$WORK/up2.json" 2>"$WORK/up2.err" || bail "the second up failed: $(json_errors "$WORK/up2.json" "$WORK/up2.err")"
check "the changed timer runs on its new calendar ($(prop uf0215-tick.timer TimersCalendar))" \
	sh -c "printf '%s' '$(prop uf0215-tick.timer TimersCalendar)' | grep -q '04:20:00'"
check "the handler restarted the service with the changed drop-in ($(env_of_hold))" test "$(env_of_hold)" = second
check "no unit waits for a reload (stale: $(stale))" test -z "$(stale)"
check "the removed unit is gone from systemd ($(prop uf0215-extra.service LoadState))" \
	test "$(prop uf0215-extra.service LoadState)" = not-found

pvj up one >"$WORK/up3.json" 2>"$WORK/up3.err" || bail "the third up failed: $(json_errors "$WORK/up3.json" "$WORK/up3.err")"
check "a third up changes nothing" test "$(json_total "$WORK/up3.json" changed)" = 0
