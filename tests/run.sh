#!/usr/bin/env bash
# The test suite: unit tests (with --with-unit BIN...), then every end-to-end
# script tests/e2e/t*.sh (or the ones named in $TESTS, e.g. TESTS=t0100).
# Each script prints "ok - ..." / "not ok - ..." lines; the last line of this
# runner is "N passed, N failed" over all checks.
set -u
cd "$(dirname "$0")/.."

total_pass=0 total_fail=0
if [ "${1:-}" = --with-unit ]; then
	shift
	out=$(tests/run-unit.sh "$@")
	printf '%s\n' "$out" | grep -v '^unit:'
	line=$(printf '%s\n' "$out" | tail -n 1)
	total_pass=$(printf '%s' "$line" | sed -E 's/^unit: ([0-9]+) passed, ([0-9]+) failed$/\1/')
	total_fail=$(printf '%s' "$line" | sed -E 's/^unit: ([0-9]+) passed, ([0-9]+) failed$/\2/')
	echo "== unit tests: $total_pass passed, $total_fail failed"
fi

if [ "$(id -u)" != 0 ]; then
	echo "end-to-end tests need root (network bridges, mounts, nspawn hosts)"
	echo "not ok - end-to-end tests were not run"
	total_fail=$((total_fail + 1))
else
	for t in tests/e2e/t[0-9]*.sh; do
		name=$(basename "$t" .sh)
		if [ -n "${TESTS:-}" ] && ! printf '%s' " $TESTS " | grep -q " ${name%%-*} \| $name "; then
			continue
		fi
		echo "== $name"
		results=$(mktemp)
		start=$(date +%s)
		PV_RESULTS="$results" bash "$t"
		rc=$?
		p=$(grep -c '^pass' "$results" || true)
		f=$(grep -c '^fail' "$results" || true)
		if [ "$rc" != 0 ] && [ "$f" = 0 ]; then
			echo "not ok - $name exited with status $rc"
			f=1
		fi
		echo "== $name: $p passed, $f failed ($(($(date +%s) - start))s)"
		total_pass=$((total_pass + p))
		total_fail=$((total_fail + f))
		rm -f "$results"
	done
fi
echo "$total_pass passed, $total_fail failed"
[ "$total_fail" = 0 ]
