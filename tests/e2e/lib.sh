# Shared helpers for the end-to-end tests.  Source it first thing:
#   . "$(dirname "$0")/lib.sh"
# Every test gets its own project directory (its own state, bridge, subnet
# and hosts) and tears everything down on exit, success or failure.
set -u

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PROVISION="$ROOT/bin/provision"
PV_RESULTS=${PV_RESULTS:-/dev/null}
WORK=
PV_LAYOUTS=()
PV_ENV_LAYOUTS=() # "ENV LAYOUT" pairs

pass() {
	echo "ok - $*"
	echo "pass $*" >>"$PV_RESULTS"
}

fail() {
	echo "not ok - $*"
	echo "fail $*" >>"$PV_RESULTS"
}

# check DESCRIPTION COMMAND...: passes when the command exits 0 (its
# standard output is not shown; its errors are).
check() {
	local desc=$1
	shift
	if "$@" >/dev/null; then pass "$desc"; else fail "$desc"; fi
}

# Stop here: the rest of the test depends on what just failed.
bail() {
	fail "$*"
	exit 1
}

# A fresh project directory holding inventory.yml (from stdin, or copied from a file).
t_project() {
	WORK=$(mktemp -d /tmp/provision-test.XXXXXX)
	if [ $# -gt 0 ]; then cp "$1" "$WORK/inventory.yml"; else cat >"$WORK/inventory.yml"; fi
	trap t_cleanup EXIT
	trap 'exit 130' INT TERM
}

t_cleanup() {
	local l
	[ -n "$WORK" ] || return 0
	for l in "${PV_LAYOUTS[@]}"; do
		"$PROVISION" -i "$WORK/inventory.yml" --plain destroy "$l" --yes >/dev/null 2>&1 ||
			echo "cleanup: destroy $l failed" >&2
	done
	for l in "${PV_ENV_LAYOUTS[@]}"; do
		# shellcheck disable=SC2086 # "ENV LAYOUT"
		set -- $l
		"$PROVISION" -i "$WORK/inventory.yml" -e "$1" --plain destroy "$2" --yes >/dev/null 2>&1 ||
			echo "cleanup: destroy $2 in environment $1 failed" >&2
	done
	# never delete through a host's disk that is still mounted
	if grep -q " $WORK/" /proc/mounts; then
		echo "cleanup: mounts are left under $WORK; not removing it" >&2
	else
		rm -rf "$WORK"
	fi
}

# Remember a layout so that cleanup destroys it.
t_uses() {
	PV_LAYOUTS+=("$@")
}

# Remember a layout of an environment so that cleanup destroys it: t_uses_env ENV LAYOUT.
t_uses_env() {
	PV_ENV_LAYOUTS+=("$1 $2")
}

pv() {
	"$PROVISION" -i "$WORK/inventory.yml" --plain "$@"
}

pvj() {
	"$PROVISION" -i "$WORK/inventory.yml" --json "$@"
}

# Run a shell command as root on a host, through the tool's own ssh.
on_host() {
	local host=$1
	shift
	# ssh joins its arguments into one line for the remote shell: quote it once
	"$PROVISION" -i "$WORK/inventory.yml" ssh "$host" -- "sudo -n sh -c $(printf '%q' "$*")"
}

# on_host for a host of environment ENV: on_env_host ENV HOST CMD...
on_env_host() {
	local env=$1 host=$2
	shift 2
	"$PROVISION" -i "$WORK/inventory.yml" -e "$env" ssh "$host" -- "sudo -n sh -c $(printf '%q' "$*")"
}

# From a --json run's output: total changed / failed of the summary event.
json_total() {
	jq -r "select(.event == \"summary\") | .$2" "$1"
}

# Names of the resources a --json run reported with a status, one per line.
json_resources() {
	jq -r "select(.event == \"resource\" and .status == \"$2\") | .resource" "$1" | sort
}

# State of the machine that belongs to the tool: nspawn hosts, caches, bridges, mounts.
tool_footprint() {
	pgrep -a -f 'systemd-nspawn.*-M p' || true
	pgrep -a -f "apt-cacher-ng.*$WORK" || true
	grep " $WORK" /proc/mounts || true
	ip -o link show type bridge | grep -o ' pv[0-9a-f]*' || true
	ip -o addr show | grep -o ' 10\.213\.[0-9]*\.[0-9]*/' || true
}
