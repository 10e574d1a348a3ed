{# format: shell #}
#!/bin/sh
# Written by provision (role journal-remote): the received journals, for
# 'provision logs'.
#   journal-logs.sh [-H SERVER] [-u UNIT] [-S SINCE] [-n LINES] [-j]
# -j: journalctl's JSON lines.  Exit 3 when nothing from SERVER came yet.
dir=/var/log/journal/remote
host= unit= since= lines=100 out=short-iso
while getopts H:u:S:n:j o; do
	case $o in
	H) host=$OPTARG ;;
	u) unit=$OPTARG ;;
	S) since=$OPTARG ;;
	n) lines=$OPTARG ;;
	j) out=json ;;
	*) exit 2 ;;
	esac
done
set -- --no-pager -q -o "$out" -n "$lines"
[ -z "$unit" ] || set -- "$@" -u "$unit"
[ -z "$since" ] || set -- "$@" --since "$since"
# Every server's entries arrive through stunnel on the loopback, so they
# are told apart by the host name each server writes (its name in the
# layout: the providers set it).
[ -d "$dir" ] && [ -n "$(ls -A "$dir")" ] ||
	{ echo "no journal has reached this server yet" >&2; exit 3; }
set -- "$@" --directory "$dir"
if [ -n "$host" ]; then
	[ -n "$(journalctl --directory "$dir" -q -n 1 -o cat _HOSTNAME="$host")" ] ||
		{ echo "no journal from '$host' has reached this server yet" >&2; exit 3; }
	set -- "$@" _HOSTNAME="$host"
fi
exec journalctl "$@"
