# Helpers for the monitoring tests (source after lib.sh and t_project):
# Prometheus' targets and queries asked on the monitoring server, TCP
# reachability from this machine or a host, and a webhook receiver on the
# test network that logs each delivery with its arrival time.
MON_HOST=mon1 MON_ADDR= RPID=

# Prometheus' targets as "job instance health", sorted.
mon_targets() {
	on_host "$MON_HOST" "curl -sf http://$MON_ADDR:9090/api/v1/targets" |
		jq -r '.data.activeTargets[] | "\(.labels.job) \(.labels.instance) \(.health)"' | sort
}

# Wait (up to 90 s) until the targets are exactly the expected lines.
mon_targets_are() {
	local i
	for i in $(seq 1 45); do
		[ "$(mon_targets)" = "$1" ] && return 0
		sleep 1
	done
	mon_targets >&2
	return 1
}

# mon_until WANT CMD...: up to 20 tries, 3 s apart, until CMD prints WANT.
mon_until() {
	local want=$1 i
	shift
	for i in $(seq 1 20); do
		[ "$("$@")" = "$want" ] && return 0
		sleep 3
	done
	printf 'last: %s\n' "$("$@")" >&2
	return 1
}

# An instant query: "instance value" per series, sorted.
mon_query() {
	on_host "$MON_HOST" "curl -sf --data-urlencode 'query=$1' http://$MON_ADDR:9090/api/v1/query" |
		jq -r '.data.result[] | "\(.metric.instance) \(.value[1])"' | sort
}

# reach FROM ADDR:PORT: exit 0 when a TCP connection is made (FROM: here or a host).
reach() {
	if [ "$1" = here ]; then
		timeout 4 bash -c "exec 3<>/dev/tcp/${2%:*}/${2#*:}" 2>/dev/null
	else
		on_host "$1" "timeout 4 bash -c 'exec 3<>/dev/tcp/${2%:*}/${2#*:}'" 2>/dev/null
	fi
}
closed() { ! reach "$@"; }

# receiver_start ADDR PORT LOG: Alertmanager's webhook posts, one line each: "TIME BODY".
receiver_start() {
	cat >"$WORK/receiver.py" <<'PY'
import http.server, sys, time
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with open(sys.argv[3], "ab") as f:
            f.write(b"%.3f " % time.time() + body.replace(b"\n", b" ") + b"\n")
        self.send_response(200)
        self.end_headers()
    def log_message(self, *a):
        pass
http.server.HTTPServer((sys.argv[1], int(sys.argv[2])), H).serve_forever()
PY
	: >"$3"
	python3 "$WORK/receiver.py" "$1" "$2" "$3" &
	RPID=$!
	trap 'kill "$RPID" 2>/dev/null; t_cleanup' EXIT
}

# wait_alert LOG SECONDS PATTERN: the arrival time of the first delivery
# matching PATTERN (grep -E), or nothing after SECONDS.
wait_alert() {
	local i
	for i in $(seq 1 "$2"); do
		if grep -Eq "$3" "$1"; then
			grep -E "$3" "$1" | head -n 1 | cut -d' ' -f1
			return 0
		fi
		sleep 1
	done
	return 1
}
