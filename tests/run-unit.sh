#!/usr/bin/env bash
# Run unit-test binaries; prints their lines and a closing "unit: N passed, N failed".
# A binary fails when it exits non-zero, or when it reports no result (no
# "N passed, N failed" line, or a SKIP): a test that did not run is not green.
set -u
passed=0 failed=0
for t in "$@"; do
	out=$("$t" 2>&1)
	rc=$?
	printf '%s\n' "$out"
	line=$(printf '%s\n' "$out" | grep -E ': [0-9]+ passed, [0-9]+ failed$' | tail -n 1)
	p=$(printf '%s' "$line" | sed -E 's/.*: ([0-9]+) passed, ([0-9]+) failed$/\1/')
	f=$(printf '%s' "$line" | sed -E 's/.*: ([0-9]+) passed, ([0-9]+) failed$/\2/')
	passed=$((passed + ${p:-0}))
	failed=$((failed + ${f:-0}))
	if [ "$rc" != 0 ] && [ "${f:-0}" = 0 ]; then
		echo "FAIL $t exited with status $rc"
		failed=$((failed + 1))
	elif printf '%s\n' "$out" | grep -q ': SKIP'; then
		echo "FAIL $t skipped its tests: $(printf '%s\n' "$out" | grep -m1 ': SKIP')"
		failed=$((failed + 1))
	elif [ "$((${p:-0} + ${f:-0}))" = 0 ]; then
		echo "FAIL $t reported no result"
		failed=$((failed + 1))
	fi
done
echo "unit: $passed passed, $failed failed"
[ "$failed" = 0 ]
