# Helpers for the monitoring tests (source after lib.sh and t_project):
# Prometheus' targets and queries asked on the monitoring server, TCP
# reachability from this machine or a host, and receivers on the test
# network (a webhook, an SMTP server, an ntfy stand-in) that log each
# delivery with its arrival time.
MON_HOST=mon1 MON_ADDR= RPID= SPID= NPID=

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
	trap 'kill $RPID $SPID $NPID 2>/dev/null; t_cleanup' EXIT
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

# test_ca DIR ADDR: a CA (DIR/ca.crt) and a server certificate for the IP
# address ADDR (DIR/srv.crt, DIR/srv.key), for the TLS receivers below.
test_ca() {
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=provision test CA" \
		-keyout "$1/ca.key" -out "$1/ca.crt" 2>/dev/null &&
		openssl req -newkey rsa:2048 -nodes -subj "/CN=$2" -keyout "$1/srv.key" -out "$1/srv.csr" 2>/dev/null &&
		printf 'subjectAltName=IP:%s\n' "$2" >"$1/srv.ext" &&
		openssl x509 -req -in "$1/srv.csr" -CA "$1/ca.crt" -CAkey "$1/ca.key" -CAcreateserial \
			-days 2 -extfile "$1/srv.ext" -out "$1/srv.crt" 2>/dev/null
}

# smtp_start ADDR PORT LOG CERT KEY USER PASSWORD: an SMTP server (Debian's
# aiosmtpd) that takes a mail only after STARTTLS and that login; one
# JSON line per mail: time, TLS, the login, sender, recipients, subject.
smtp_start() {
	cat >"$WORK/smtp.py" <<'PY'
import email, json, ssl, sys, time
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword
# LOGIN's prompts as common mail servers send them (aiosmtpd's own,
# "User Name", are not what Alertmanager's client answers)
SMTP.AuthLoginUsernameChallenge = "Username:"
SMTP.AuthLoginPasswordChallenge = "Password:"
addr, port, log, cert, key, user, pw = sys.argv[1:8]
class Handler:
    async def handle_DATA(self, server, session, envelope):
        msg = email.message_from_bytes(envelope.content)
        with open(log, "a") as f:
            f.write(json.dumps({"time": time.time(), "tls": session.ssl is not None,
                                "login": session.auth_data.login.decode() if session.authenticated else None,
                                "from": envelope.mail_from, "to": envelope.rcpt_tos,
                                "subject": str(msg["Subject"])}) + "\n")
        return "250 OK"
def auth(server, session, envelope, mechanism, data):
    ok = isinstance(data, LoginPassword) and data.login == user.encode() and data.password == pw.encode()
    return AuthResult(success=ok, handled=False, auth_data=data if ok else None)
ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
ctx.load_cert_chain(cert, key)
c = Controller(Handler(), hostname=addr, port=int(port), tls_context=ctx, require_starttls=True,
               authenticator=auth, auth_require_tls=True, auth_required=True)
c.start()
while True:
    time.sleep(3600)
PY
	: >"$3"
	/usr/bin/python3 "$WORK/smtp.py" "$@" &
	SPID=$!
}

# ntfy_start ADDR PORT LOG CERT KEY: an HTTPS endpoint standing in for an
# ntfy server: one JSON line per POST: time, path, query, Authorization.
ntfy_start() {
	cat >"$WORK/ntfy.py" <<'PY'
import http.server, json, ssl, sys, time, urllib.parse
addr, port, log, cert, key = sys.argv[1:6]
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        u = urllib.parse.urlsplit(self.path)
        with open(log, "a") as f:
            f.write(json.dumps({"time": time.time(), "path": u.path,
                                "query": dict(urllib.parse.parse_qsl(u.query)),
                                "authorization": self.headers.get("Authorization")}) + "\n")
        self.send_response(200)
        self.end_headers()
    def log_message(self, *a):
        pass
s = http.server.HTTPServer((addr, int(port)), H)
ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
ctx.load_cert_chain(cert, key)
s.socket = ctx.wrap_socket(s.socket, server_side=True)
s.serve_forever()
PY
	: >"$3"
	/usr/bin/python3 "$WORK/ntfy.py" "$@" &
	NPID=$!
}
