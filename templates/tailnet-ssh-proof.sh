{# format: shell #}
#!/bin/sh
# Managed by provision (role tailscale). Proof that SSH over the tailnet
# works: an established SSH session whose local address is this host's
# tailnet address. Role ufw closes public SSH only while the proof names
# an address tailscale0 holds.
#   current: exit 0 when there is nothing to record (the proof holds, or no
#            session over the tailnet is seen right now)
#   record:  write the proof when such a session is seen
proof=/var/lib/provision/tailnet-ssh-proven
port={{ ssh_port }}
addrs=$(ip -o addr show dev tailscale0 2>/dev/null | awk '{print $4}' | cut -d/ -f1)

seen() {
	[ -n "$addrs" ] || return 0
	ss -Htn state established "( sport = :$port )" 2>/dev/null | awk '{print $3}' |
		sed -e 's/^\[//' -e 's/\]\{0,1\}:[0-9]*$//' | while read -r a; do
		for t in $addrs; do
			[ "$a" = "$t" ] && echo "$t"
		done
	done | head -n 1
}

case "${1:-}" in
current)
	p=$(head -n 1 "$proof" 2>/dev/null)
	for t in $addrs; do
		[ -n "$p" ] && [ "$p" = "$t" ] && exit 0
	done
	[ -z "$(seen)" ]
	;;
record)
	a=$(seen)
	[ -n "$a" ] || exit 0
	mkdir -p "$(dirname "$proof")"
	printf '%s\n' "$a" >"$proof.new" && mv -f "$proof.new" "$proof"
	echo "SSH over the tailnet seen on $a: public SSH closes on the next run"
	;;
*)
	echo "usage: $0 current|record" >&2
	exit 2
	;;
esac
