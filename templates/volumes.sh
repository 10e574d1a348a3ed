{# format: shell #}
#!/bin/sh
# volumes.sh ACTION NAME DEVICE MOUNT FILESYSTEM: one volume of this server,
# formatted once and mounted by its file system's UUID.  Written by
# provision (role volumes).
#   ensure  make a file system when the device holds nothing at all (never
#           over one that is there), its line in /etc/fstab, mounted now
#   ok      exit 0 when all of that holds already
set -e
action=$1 name=$2 dev=$3 mnt=$4 fs=$5
fail() {
	echo "volume $name: $*" >&2
	exit 1
}
# what is on the device: its file system type ("" when none), read from
# the disk itself (-p), not from blkid's cache
probe() {
	blkid -p -o value -s "$1" "$dev" 2>/dev/null || true
}
# the line of /etc/fstab for file system $uuid of type $type
fstab_line() {
	pass=2
	[ "$type" != xfs ] || pass=0
	printf 'UUID=%s %s %s defaults,nofail,noatime,x-systemd.device-timeout=30s 0 %s\n' \
		"$uuid" "$mnt" "$type" "$pass"
}
# the lines of /etc/fstab for $mnt or for $uuid
fstab_have() {
	awk -v m="$mnt" -v u="UUID=$uuid" '$0 !~ /^[ \t]*#/ && ($2 == m || $1 == u)' /etc/fstab
}
# /etc/fstab holds our line for the volume, and no other for $mnt or $uuid
fstab_ok() {
	[ "$(fstab_have)" = "$(fstab_line)" ]
}
# /etc/fstab without any line for $mnt or for $uuid, then ours
fstab_want() {
	awk -v m="$mnt" -v u="UUID=$uuid" '$0 ~ /^[ \t]*#/ || ($2 != m && $1 != u)' /etc/fstab
	fstab_line
}

case $action in
ok)
	[ -b "$dev" ] || exit 1
	uuid=$(probe UUID) type=$(probe TYPE)
	[ -n "$uuid" ] && [ -n "$type" ] || exit 1
	fstab_ok || exit 1
	[ "$(findmnt -n -o UUID --mountpoint "$mnt" 2>/dev/null)" = "$uuid" ]
	;;
ensure)
	[ -n "$dev" ] || fail "the provider does not know its device yet"
	# a disk attached a moment ago: udev makes its link
	i=0
	while [ ! -b "$dev" ] && [ $i -lt 30 ]; do
		udevadm settle -t 5 2>/dev/null || sleep 1
		[ -b "$dev" ] || sleep 1
		i=$((i + 1))
	done
	[ -b "$dev" ] || fail "no device $dev on this server (is the volume attached?)"
	# blkid -p: 0 something is there (a file system, a partition table, ...),
	# 2 nothing at all; anything else: no answer, so nothing is written
	rc=0
	blkid -p "$dev" >/dev/null 2>&1 || rc=$?
	case $rc in
	0) ;;
	2)
		echo "volume $name: $dev holds no file system: making $fs"
		case $fs in
		ext4) mkfs.ext4 -q "$dev" </dev/null ;;
		xfs) mkfs.xfs -q "$dev" </dev/null ;;
		*) fail "unknown file system '$fs'" ;;
		esac
		udevadm settle -t 10 2>/dev/null || true
		;;
	*) fail "blkid cannot tell what is on $dev (exit status $rc); nothing written" ;;
	esac
	uuid=$(probe UUID) type=$(probe TYPE)
	[ -n "$type" ] && [ -n "$uuid" ] ||
		fail "$dev holds something that is not a file system ($(probe PTTYPE) partition table?); not formatted, not mounted"
	[ "$type" = "$fs" ] ||
		echo "volume $name: $dev holds $type, not $fs; mounted as it is (never formatted again)"
	if ! fstab_ok; then
		fstab_want >/etc/fstab.provision-tmp
		chmod 0644 /etc/fstab.provision-tmp
		mv /etc/fstab.provision-tmp /etc/fstab
		systemctl daemon-reload 2>/dev/null || true
	fi
	mkdir -p "$mnt"
	have=$(findmnt -n -o UUID --mountpoint "$mnt" 2>/dev/null || true)
	if [ -z "$have" ] && ! mountpoint -q "$mnt"; then
		mount "$mnt"
	elif [ "$have" != "$uuid" ]; then
		fail "$mnt is already a mount point of something else; not mounted there"
	fi
	;;
*)
	fail "unknown action '$action'"
	;;
esac
