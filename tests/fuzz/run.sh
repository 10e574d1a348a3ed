#!/usr/bin/env bash
# run.sh RUNS TARGET...: run each fuzz target over its seeds for RUNS inputs
# (a smoke run; the inputs it finds go to a scratch directory, the seeds stay
# as generated).  Exits non-zero on the first crash, leak or hang, leaving
# the reproducer as build/fuzz/crash-* (libFuzzer's artifact).
set -u
cd "$(dirname "$0")/../.."
runs=$1
shift
status=0
for t in "$@"; do
	scratch=$(mktemp -d /tmp/fuzz-smoke.XXXXXX)
	start=$(date +%s)
	if ! build/fuzz/fuzz-"$t" -runs="$runs" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
		-artifact_prefix=build/fuzz/ "$scratch" build/fuzz/seeds-"$t" >"$scratch.log" 2>&1; then
		tail -n 40 "$scratch.log"
		echo "not ok - fuzz $t: a crash, leak or hang (see above)"
		status=1
	else
		echo "ok - fuzz $t: $(grep -o 'Done [0-9]* runs' "$scratch.log") in $(($(date +%s) - start))s"
	fi
	rm -rf "$scratch" "$scratch.log"
done
exit $status
