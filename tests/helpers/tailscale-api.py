#!/usr/bin/python3
"""A stand-in for the Tailscale API v2, for the tests.

It serves the operations node sharing uses, as tests/specs/tailscale-api.md
describes them (devices, device invites, the policy file), and checks every
request against that description: method and path, the bearer token, the
Content-Type and shape of bodies, If-Match on policy updates.  Whatever does
not match is answered as the real API would (401, 404, 400, 412) and also
recorded as a violation; a test asserts there are none.  Tailscale's real
coordination server cannot be reached from here: this is not it, and it
knows nothing the summary does not say.

    TS_TEST_TOKEN=tskey-api-... tailscale-api.py --port-file F --config C.json

C.json: {"devices": [Device...], "policy": {...}, "oauth_tokens": ["..."]}
Test controls (not part of the API) live under /_control/.
"""
import argparse
import base64
import hashlib
import json
import os
import re
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOCK = threading.Lock()
STATE = {
    "devices": [],
    "invites": {},  # id -> DeviceInvite
    "policy": {},
    "etag": "",
    "violations": [],
    "requests": [],
    "race": None,  # a policy someone else saves right after the next GET
    "next_invite": 1,
}
TOKEN = ""
OAUTH_TOKENS = set()


def etag_of(policy):
    text = json.dumps(policy, sort_keys=True).encode()
    return '"%s"' % hashlib.sha256(text).hexdigest()[:16]


def violation(msg):
    STATE["violations"].append(msg)


INVITE_KEYS = {"multiUse": bool, "allowExitNode": bool, "email": str}
DST_RE = re.compile(r"^(.+):(\*|\d+(-\d+)?(,\d+(-\d+)?)*)$")


def check_policy(p):
    """The checks the summary names for setPolicyFile (400 on an invalid ACL)."""
    if not isinstance(p, dict):
        return "policy must be a JSON object"
    hosts = p.get("hosts", {})
    if not isinstance(hosts, dict):
        return "'hosts' must be an object"
    owners = p.get("tagOwners", {})
    if not isinstance(owners, dict):
        return "'tagOwners' must be an object"
    for tag, who in owners.items():
        if not tag.startswith("tag:") or not isinstance(who, list):
            return "tagOwners: %r is not a tag with a list of owners" % tag
    acls = p.get("acls", [])
    if not isinstance(acls, list):
        return "'acls' must be a list"
    for i, rule in enumerate(acls):
        if not isinstance(rule, dict) or rule.get("action") != "accept":
            return "acls[%d]: action must be \"accept\"" % i
        if not isinstance(rule.get("src"), list) or not rule["src"]:
            return "acls[%d]: src must be a non-empty list" % i
        if not isinstance(rule.get("dst"), list) or not rule["dst"]:
            return "acls[%d]: dst must be a non-empty list" % i
        if "proto" in rule and rule["proto"] not in ("tcp", "udp", "icmp"):
            return "acls[%d]: unknown proto %r" % (i, rule["proto"])
        for d in rule["dst"]:
            m = DST_RE.match(d) if isinstance(d, str) else None
            if not m:
                return "acls[%d]: dst %r is not HOST:PORTS" % (i, d)
            h = m.group(1)
            if not (h == "*" or h in hosts or h.startswith(("tag:", "group:", "autogroup:"))
                    or re.match(r"^[0-9.]+(/\d+)?$", h)):
                return "acls[%d]: dst %r names an unknown host" % (i, d)
            if h.startswith("tag:") and h not in owners:
                return "acls[%d]: tag %r has no tagOwners entry" % (i, h)
    return None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def reply(self, status, body=None, headers=None, raw=None):
        data = raw if raw is not None else (b"" if body is None else json.dumps(body).encode())
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        if raw is None and body is not None:
            self.send_header("Content-Type", "application/json")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def error(self, status, message, record=True):
        if record:
            violation("%s %s: %s" % (self.command, self.path, message))
        self.reply(status, {"message": message})

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def authorized(self):
        auth = self.headers.get("Authorization", "")
        tok = None
        if auth.startswith("Bearer "):
            tok = auth[7:]
        elif auth.startswith("Basic "):
            try:
                user, _, pw = base64.b64decode(auth[6:]).decode().partition(":")
                tok = user if pw == "" else None
            except ValueError:
                tok = None
        if tok is None:
            self.error(401, "missing or malformed Authorization header")
            return None
        if tok != TOKEN and tok not in OAUTH_TOKENS:
            self.error(401, "API token invalid")
            return None
        return tok

    def json_body(self):
        raw = self.body()
        ctype = self.headers.get("Content-Type", "")
        if not ctype.startswith("application/json"):
            self.error(400, "body sent without Content-Type application/json")
            return None, False
        try:
            return json.loads(raw), True
        except ValueError:
            self.error(400, "body is not JSON")
            return None, False

    def control(self):
        path = self.path[len("/_control/"):]
        with LOCK:
            if self.command == "GET" and path == "violations":
                return self.reply(200, STATE["violations"])
            if self.command == "GET" and path == "requests":
                return self.reply(200, STATE["requests"])
            if self.command == "GET" and path == "invites":
                return self.reply(200, list(STATE["invites"].values()))
            if self.command == "GET" and path == "policy":
                return self.reply(200, {"policy": STATE["policy"], "etag": STATE["etag"]})
            if self.command == "POST" and path == "devices":  # a node joins
                STATE["devices"].append(json.loads(self.body()))
                return self.reply(200, {})
            if self.command == "POST" and path == "race":
                STATE["race"] = json.loads(self.body())
                return self.reply(200, {})
            if self.command == "POST" and path.startswith("accept/"):
                inv = STATE["invites"].get(path[len("accept/"):])
                if not inv:
                    return self.reply(404, {"message": "no such invite"})
                inv["accepted"] = True
                inv["acceptedBy"] = {"id": 77, "loginName": inv.get("email") or "someone",
                                     "profilePicUrl": ""}
                return self.reply(200, inv)
        self.reply(404, {"message": "unknown control"})

    def handle_any(self):
        if self.path.startswith("/_control/"):
            return self.control()
        with LOCK:
            STATE["requests"].append("%s %s" % (self.command, self.path))
        if not self.path.startswith("/api/v2/"):
            self.body()
            return self.error(404, "not an API v2 path")
        tok = self.authorized()
        if tok is None:
            self.body()
            return
        path, _, query = self.path[len("/api/v2"):].partition("?")
        with LOCK:
            return self.route(path, query, tok)

    def device(self, dev_id):
        for d in STATE["devices"]:
            if dev_id in (d.get("nodeId"), d.get("id")):
                return d
        return None

    def route(self, path, query, tok):
        m = re.match(r"^/tailnet/([^/]+)/(devices|acl)$", path)
        if m and m.group(1) != "-":
            self.body()
            return self.error(404, "unknown tailnet %r (use '-')" % m.group(1))
        if path == "/tailnet/-/devices" and self.command == "GET":
            devices = STATE["devices"]
            for kv in filter(None, query.split("&")):
                k, _, v = kv.partition("=")
                if k == "fields":
                    if v not in ("all", "default"):
                        return self.error(400, "fields must be all or default")
                    continue
                devices = [d for d in devices if str(d.get(k)) == v]
            return self.reply(200, {"devices": devices})
        m = re.match(r"^/device/([^/]+)/device-invites$", path)
        if m:
            dev = self.device(m.group(1))
            if self.command == "GET":
                if not dev:
                    return self.error(404, "device not found")
                return self.reply(200, [i for i in STATE["invites"].values()
                                        if i["deviceId"] == dev["id"]])
            if self.command == "POST":
                body, ok = self.json_body()
                if not ok:
                    return
                if not dev:
                    return self.error(404, "device not found")
                if tok in OAUTH_TOKENS:
                    # the summary: not callable with an OAuth client's access token
                    return self.reply(403, {"message": "device invites cannot be created "
                                                       "with an OAuth client's access token"})
                if dev.get("isExternal"):
                    return self.error(400, "a device shared in cannot be shared again")
                if not isinstance(body, list) or not body:
                    return self.error(400, "body must be a non-empty JSON array")
                out = []
                for item in body:
                    if not isinstance(item, dict):
                        return self.error(400, "each invite request must be an object")
                    for k, v in item.items():
                        if k not in INVITE_KEYS or not isinstance(v, INVITE_KEYS[k]):
                            return self.error(400, "unknown or mistyped field %r" % k)
                    n = STATE["next_invite"]
                    STATE["next_invite"] += 1
                    inv = {
                        "id": str(1000 + n), "created": "2026-12-01T20:00:%02dZ" % n,
                        "tailnetId": 1, "deviceId": dev["id"], "sharerId": 5,
                        "multiUse": item.get("multiUse", False),
                        "allowExitNode": item.get("allowExitNode", False),
                        "email": item.get("email", ""), "lastEmailSentAt": "",
                        "inviteUrl": "https://login.tailscale.com/admin/invite/code%04d" % n,
                        "accepted": False,
                    }
                    STATE["invites"][inv["id"]] = inv
                    out.append(inv)
                return self.reply(200, out)
        m = re.match(r"^/device-invites/([^/]+)$", path)
        if m and self.command in ("GET", "DELETE"):
            inv = STATE["invites"].get(m.group(1))
            if not inv:
                return self.error(404, "invite not found")
            if self.command == "DELETE":
                del STATE["invites"][m.group(1)]
                return self.reply(200)
            return self.reply(200, inv)
        if path == "/tailnet/-/acl" and self.command == "GET":
            etag = STATE["etag"]
            if "application/json" in self.headers.get("Accept", ""):
                resp = (200, STATE["policy"], {"ETag": etag})
            else:
                text = "// HuJSON\n" + json.dumps(STATE["policy"], indent=2)
                resp = (200, None, {"ETag": etag, "Content-Type": "application/hujson"})
                self.reply(resp[0], None, resp[2], raw=text.encode())
                resp = None
            if resp:
                self.reply(*resp)
            if STATE["race"] is not None:
                # someone else saves the policy file between our read and our write
                STATE["policy"] = STATE["race"]
                STATE["etag"] = etag_of(STATE["policy"])
                STATE["race"] = None
            return
        if path == "/tailnet/-/acl" and self.command == "POST":
            body, ok = self.json_body()
            if not ok:
                return
            want = self.headers.get("If-Match")
            if want is None:
                return self.error(400, "policy update without If-Match: an update could "
                                       "overwrite someone else's")
            if want not in (STATE["etag"], '"ts-default"'):
                return self.reply(412, {"message": "precondition failed, invalid old hash"})
            problem = check_policy(body)
            if problem:
                return self.error(400, problem)
            STATE["policy"] = body
            STATE["etag"] = etag_of(body)
            return self.reply(200, body, {"ETag": STATE["etag"]})
        self.body()
        self.error(404, "no operation %s %s in the API summary" % (self.command, path))

    do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = handle_any


def main():
    global TOKEN
    ap = argparse.ArgumentParser()
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--config", required=True)
    a = ap.parse_args()
    TOKEN = os.environ.get("TS_TEST_TOKEN", "")
    if not TOKEN:
        sys.exit("TS_TEST_TOKEN is not set")
    with open(a.config) as f:
        cfg = json.load(f)
    STATE["devices"] = cfg.get("devices", [])
    STATE["policy"] = cfg.get("policy", {})
    STATE["etag"] = etag_of(STATE["policy"])
    OAUTH_TOKENS.update(cfg.get("oauth_tokens", []))
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    tmp = a.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(srv.server_address[1]))
    os.rename(tmp, a.port_file)
    srv.serve_forever()


if __name__ == "__main__":
    main()
