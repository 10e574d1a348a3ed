#!/usr/bin/python3
"""A Hetzner Cloud API server for the test suite, built from the official
OpenAPI document (tests/cloud/specs/hetzner-cloud.subset.json).

Every request is checked against the document: the path and method must be
an operation, query parameters must be declared and match their schemas,
the bearer token must be the one given, a JSON body must match the request
schema (and carry no property the schema does not name).  A deviation is
answered with an error and recorded, one JSON line each, in
DIR/violations.jsonl; tests assert that file stays empty.  Every answer the
server gives is checked against the response schema too (a failure there is
the server's own bug and is recorded the same way).

The server keeps state (SSH keys, networks, firewalls, servers, volumes,
load balancers, actions, images, a server's daily backups switched on and
off, floating IPs assigned and unassigned), runs actions that take time, and when it creates a
server it boots a real local host (systemd-nspawn on the test bridge) from
the test base file system after applying the #cloud-config user_data the
client sent: hostname, users with their shell, authorized keys, sudo and
locked password, the ed25519 host key from 'ssh_keys', host keys of the
other types in 'ssh_genkeytypes' (cloud-init's default when absent: rsa,
ecdsa, ed25519), 'ssh_pwauth' as an sshd drop-in.  A key of the document
it does not apply is a violation too.  With --cloud-init it only checks the
document and seeds it (NoCloud) for the host's own cloud-init, Debian's,
which applies it at boot; the base must then have cloud-init.

Faults are injected on demand through POST /__control/faults (not part of
the API): a JSON list of {"match": "POST /servers", "kind": K, "count": N}
with K one of
  status       answer with "status" (500, 503, 409, 423 ...) without acting
               (with "retry_after": N, a Retry-After header of N seconds)
  drop         close the connection without an answer, without acting
  lost         act (create, delete ...), then close without an answer
  delay        wait "seconds" before acting and answering
  action_error the action this request starts ends in error
and rate limiting with POST /__control/ratelimit {"limit": L, "per_second": R}
(with "drain_next": true the next request finds the budget spent, as if
another client of the project had used it).
GET /__control/boot_keys tells each host's host key from its user_data.
POST /__control/kill_host {"server": ID} stops that server's host hard (its
init killed).  With --tls-listen the server also answers https there, for
the test hosts' own calls to the API (a certificate of a test CA).
GET /__control/stats tells requests, writes, 429s and early requests (sent
after an answer said none remain, before the budget had refilled by one).

A volume is a real block device: a sparse file of the volume's size (at
most VOLUME_GIB GiB; the test machine's disk is not a cloud's) on a loop
device, formatted when its create names a file system (as the provider
does), and seen by the host of the server it is attached to at the
provider's path under /dev/disk/by-id (a link to the loop device's node in
the container's /dev) from its attach to its detach.

Every request is also logged to DIR/requests.jsonl (method, path, status).

With --shared-host, for tests with many servers on a small machine, only
the first server boots a host; every server is an sshd of its own in that
host, on its own address (the later ones added to the host's interface),
with the host key its own user_data gave (applied as above, its users too),
so each server is still reached, verified and logged in to as its own.  What makes
one server's system differ from another's (its hostname, its files) is then
shared: such tests check creation, waits and deletion, not the hosts.
"""
import argparse
import base64
import hashlib
import json
import os
import re
import shutil
import signal
import ssl
import subprocess
import sys
import threading
import time
import traceback
import urllib.parse
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jsonschema
import yaml

ARGS = None
SPEC = None
VALIDATOR = jsonschema.Draft202012Validator  # OpenAPI 3.1 is JSON Schema 2020-12
OPS = []  # (regex, template, {method: operation})
LOCK = threading.RLock()
STATE = {
    "ssh_keys": {}, "networks": {}, "firewalls": {}, "servers": {}, "volumes": {},
    "load_balancers": {}, "actions": {}, "images": {}, "floating_ips": {},
}
NEXT_ID = [100]
FAULTS = []
RATE = {"limit": 3600, "per_second": 1.0, "tokens": 3600.0, "at": time.time(),
        "told_until": 0.0}
BOOT_KEYS = {}  # host name -> the public host key its user_data gave
STATS = {"requests": 0, "writes": 0, "rate_limited": 0, "early": 0, "faults": 0,
         "told_to_wait": 0}
HOSTS = {}  # server id -> {"pid":..., "dir":...}
HOSTNAMES = {}  # thread -> the host name the cloud-config set
SHARED = {"sid": None, "ready": threading.Event()}  # --shared-host: the one booted host
SINGULAR = {"ssh_keys": "ssh_key", "networks": "network", "firewalls": "firewall",
            "servers": "server", "volumes": "volume", "load_balancers": "load_balancer",
            "images": "image", "floating_ips": "floating_ip"}


def now_iso():
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def new_id():
    with LOCK:
        NEXT_ID[0] += 1
        return NEXT_ID[0]


def record(path, entry):
    with LOCK:
        with open(os.path.join(ARGS.dir, path), "a", encoding="utf-8") as f:
            f.write(json.dumps(entry) + "\n")


def violation(method, path, problem):
    record("violations.jsonl", {"method": method, "path": path, "problem": problem})


# ---- the document ----

def load_spec():
    global SPEC
    with open(ARGS.spec, encoding="utf-8") as f:
        SPEC = json.load(f)
    for tmpl, item in SPEC["paths"].items():
        parts = tmpl.strip("/").split("/")
        rx = "^/" + "/".join("(?P<%s>[^/]+)" % p[1:-1] if p.startswith("{") else re.escape(p)
                             for p in parts) + "$"
        nparams = sum(1 for p in parts if p.startswith("{"))
        OPS.append((re.compile(rx), tmpl, item, nparams))
    OPS.sort(key=lambda o: o[3])  # literal segments win over parameters


def find_op(path):
    for rx, tmpl, item, _ in OPS:
        m = rx.match(path)
        if m:
            return tmpl, item, m.groupdict()
    return None, None, None


def schema_type(s):
    t = s.get("type")
    if isinstance(t, list):
        t = [x for x in t if x != "null"]
        return t[0] if t else None
    return t


def prop_names(schema):
    """Property names a schema allows, through allOf/oneOf/anyOf; None: any."""
    if not isinstance(schema, dict):
        return None
    names = set(schema.get("properties", {}))
    open_ = schema.get("additionalProperties") not in (None, False)
    for key in ("allOf", "oneOf", "anyOf"):
        for alt in schema.get(key, []):
            n = prop_names(alt)
            if n is None:
                open_ = True
            else:
                names |= n
    if open_ or not names:
        return None
    return names


def prop_schema(schema, k):
    if not isinstance(schema, dict):
        return None
    if k in schema.get("properties", {}):
        return schema["properties"][k]
    for key in ("allOf", "oneOf", "anyOf"):
        for alt in schema.get(key, []):
            s = prop_schema(alt, k)
            if s is not None:
                return s
    return None


def unknown_props(schema, value, where, out):
    """Properties a request sends that its schema does not name."""
    if not isinstance(schema, dict):
        return
    if isinstance(value, dict):
        names = prop_names(schema)
        for k, v in value.items():
            if names is not None and k not in names:
                out.append("%s: property '%s' is not in the specification" % (where, k))
            else:
                unknown_props(prop_schema(schema, k), v, where + "." + k, out)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, v in enumerate(value):
            unknown_props(schema["items"], v, "%s[%d]" % (where, i), out)


def check_value(schema, raw, name):
    t = schema_type(schema)
    v = raw
    if t == "integer":
        if not re.fullmatch(r"-?[0-9]+", raw):
            return None, "parameter '%s': '%s' is not an integer" % (name, raw)
        v = int(raw)
    elif t == "boolean":
        if raw not in ("true", "false"):
            return None, "parameter '%s': '%s' is not a boolean" % (name, raw)
        v = raw == "true"
    try:
        jsonschema.validate(v, schema, cls=VALIDATOR)
    except jsonschema.ValidationError as e:
        return None, "parameter '%s': %s" % (name, e.message)
    return v, None


def check_request(method, path, query, headers, body):
    """(template, operation, path params, query, parsed body, problems)"""
    problems = []
    tmpl, item, pparams = find_op(path)
    if not tmpl:
        return None, None, None, None, None, ["no path %s in the specification" % path]
    op = item.get(method.lower())
    if not op:
        return tmpl, None, None, None, None, ["no operation %s %s in the specification" % (method, tmpl)]
    params = {p["name"]: p for p in item.get("parameters", []) + op.get("parameters", [])}
    pvals = {}
    for k, raw in pparams.items():
        p = params.get(k)
        if not p or p["in"] != "path":
            problems.append("path parameter '%s' is not declared" % k)
            continue
        v, e = check_value(p["schema"], urllib.parse.unquote(raw), k)
        if e:
            problems.append(e)
        pvals[k] = v
    qvals = {}
    for k, vals in query.items():
        p = params.get(k)
        if not p or p["in"] != "query":
            problems.append("query parameter '%s' is not declared for %s %s" % (k, method, tmpl))
            continue
        s = p["schema"]
        if schema_type(s) == "array":
            out = []
            for raw in vals:
                v, e = check_value(s.get("items", {}), raw, k)
                if e:
                    problems.append(e)
                out.append(v)
            qvals[k] = out
        else:
            if len(vals) > 1:
                problems.append("query parameter '%s' given %d times" % (k, len(vals)))
            v, e = check_value(s, vals[0], k)
            if e:
                problems.append(e)
            qvals[k] = v
    for k, p in params.items():
        if p.get("required") and p["in"] == "query" and k not in query:
            problems.append("required query parameter '%s' is missing" % k)
    auth = headers.get("Authorization", "")
    if auth != "Bearer " + ARGS.token:
        problems.append("Authorization is not 'Bearer' with the project's token")
    parsed = None
    rb = op.get("requestBody")
    if body:
        ct = headers.get("Content-Type", "")
        if not ct.startswith("application/json"):
            problems.append("body sent with Content-Type '%s', not application/json" % ct)
        try:
            parsed = json.loads(body)
        except ValueError as e:
            problems.append("body is not JSON: %s" % e)
        if not rb:
            problems.append("%s %s takes no body" % (method, tmpl))
        elif parsed is not None:
            schema = rb["content"]["application/json"]["schema"]
            v = VALIDATOR(schema)
            for e in v.iter_errors(parsed):
                problems.append("body%s: %s" % ("".join("[%r]" % x for x in e.absolute_path),
                                                e.message))
            unknown_props(schema, parsed, "body", problems)
    elif rb and rb.get("required"):
        problems.append("%s %s needs a JSON body" % (method, tmpl))
    return tmpl, op, pvals, qvals, parsed, problems


def response_schema(op, status):
    r = (op["responses"].get(str(status)) or op["responses"].get("%dxx" % (status // 100))
         or op["responses"].get("default"))
    if not r:
        return None, False
    c = r.get("content", {}).get("application/json")
    return (c["schema"] if c else None), True


# ---- spec-shaped bodies ----

def flat(schema):
    """allOf merged into one object schema (for building values)."""
    if not isinstance(schema, dict) or "allOf" not in schema:
        return schema
    out = {k: v for k, v in schema.items() if k != "allOf"}
    props, req = dict(out.get("properties", {})), list(out.get("required", []))
    for part in schema["allOf"]:
        part = flat(part)
        props.update(part.get("properties", {}))
        req += [r for r in part.get("required", []) if r not in req]
        for k in ("type", "example"):
            if k in part and k not in out:
                out[k] = part[k]
    out["properties"], out["required"] = props, req
    return out


def synth(schema, overlay=None):
    """A value of schema: the overlay's values where given, else the
    document's example, enum or an empty value for required properties."""
    schema = flat(schema)
    t = schema_type(schema)
    nullable = isinstance(schema.get("type"), list) and "null" in schema["type"]
    if overlay is not None and not isinstance(overlay, dict) and not (
            isinstance(overlay, list) and t == "array"):
        return overlay
    if t is None and "properties" not in schema and overlay is not None:
        return overlay  # oneOf/anyOf: the overlay is the value
    if t == "object" or "properties" in schema:
        overlay = overlay or {}
        out = {}
        props = schema.get("properties", {})
        for k in list(schema.get("required", [])) + [k for k in overlay if k in props]:
            if k in out:
                continue
            ps = flat(props.get(k, {}))
            if k in overlay:
                ov = overlay[k]
                if isinstance(ov, dict) and (schema_type(ps) == "object" or "properties" in ps):
                    out[k] = synth(ps, ov)
                elif isinstance(ov, list) and schema_type(ps) == "array":
                    out[k] = [synth(ps.get("items", {}), x) if isinstance(x, dict) else x
                              for x in ov]
                else:
                    out[k] = ov
            else:
                out[k] = synth(ps)
        if not props and overlay:
            out.update(overlay)
        return out
    if t == "array":
        return list(overlay) if overlay else []
    if nullable:
        return None
    if "example" in schema:
        return schema["example"]
    if "enum" in schema:
        return schema["enum"][0]
    return {"string": "", "integer": 0, "number": 0, "boolean": False}.get(t)


def resource_schema(kind):
    op = SPEC["paths"]["/%s/{id}" % kind]["get"]
    s = op["responses"]["200"]["content"]["application/json"]["schema"]
    return s["properties"][SINGULAR[kind]]


def action_schema():
    s = SPEC["paths"]["/actions/{id}"]["get"]["responses"]["200"]["content"]
    return s["application/json"]["schema"]["properties"]["action"]


# ---- actions ----

RUNNING = {}  # action command -> how many run now


def busy(command, n):
    """Count running actions of a command; STATS["peak_COMMAND"] is the most at once."""
    with LOCK:
        RUNNING[command] = RUNNING.get(command, 0) + n
        key = "peak_" + command
        STATS[key] = max(STATS.get(key, 0), RUNNING[command])


def start_action(command, resources, work=None, seconds=None, fail=False):
    aid = new_id()
    a = {"id": aid, "command": command, "status": "running", "progress": 0,
         "started": now_iso(), "finished": None, "error": None,
         "resources": [{"id": r[1], "type": r[0]} for r in resources]}
    with LOCK:
        STATE["actions"][aid] = a
    secs = ARGS.action_seconds if seconds is None else seconds

    def run():
        t0 = time.time()
        err = None
        busy(command, 1)
        try:
            if work:
                work()
        except Exception as e:  # the action fails, as a real one would
            traceback.print_exc()
            err = str(e)
        while time.time() - t0 < secs:
            with LOCK:
                a["progress"] = min(99, int(100 * (time.time() - t0) / max(secs, 0.01)))
            time.sleep(0.1)
        busy(command, -1)
        with LOCK:
            a["finished"] = now_iso()
            if fail or err:
                a["status"] = "error"
                a["error"] = {"code": "action_failed",
                              "message": err or "the action failed (injected fault)"}
            else:
                a["status"] = "success"
                a["progress"] = 100

    threading.Thread(target=run, daemon=True).start()
    return a


# ---- the hosts ----

def sh(*argv, **kw):
    return subprocess.run(list(argv), check=True, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, **kw)


def put(root, rel, text, mode=0o644):
    p = os.path.join(root, rel)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    if os.path.islink(p):
        os.unlink(p)
    with open(p, "w", encoding="utf-8") as f:
        f.write(text)
    os.chmod(p, mode)


# The keys the test hosts apply as cloud-init does; any other key is a
# violation (ignoring it would let a check of its effect pass).
CLOUD_KEYS = {"hostname", "users", "ssh_keys", "ssh_deletekeys", "ssh_genkeytypes", "ssh_pwauth"}
USER_KEYS = {"name", "sudo", "shell", "lock_passwd", "ssh_authorized_keys"}
# cloud-init's default ssh_genkeytypes
GENKEYTYPES = ["rsa", "ecdsa", "ed25519"]


def apply_cloud_config(name, root, user_data, ssh_dir="etc/ssh", real=False):
    """What cloud-init does with the document, for the keys the client uses
    (the host keys in ssh_dir, below root).  With real, the document is
    only checked and its host key remembered: Debian's cloud-init applies
    it when the host boots (seed_cloud_init)."""
    where = "POST /servers user_data"
    if not user_data.startswith("#cloud-config\n"):
        violation("POST", "/servers", "user_data does not start with '#cloud-config'")
        return
    doc = yaml.safe_load(user_data)
    if not isinstance(doc, dict):
        violation("POST", "/servers", "user_data is not a mapping")
        return
    for k in doc:
        if k not in CLOUD_KEYS:
            violation("POST", "/servers", "%s: key '%s' is not applied by the test hosts" % (where, k))
    name = doc.get("hostname", name)
    HOSTNAMES[threading.get_ident()] = name
    keys = doc.get("ssh_keys") or {}
    for k in keys:
        if k not in ("ed25519_private", "ed25519_public"):
            violation("POST", "/servers", "%s: ssh_keys.%s is not applied" % (where, k))
    if "ed25519_public" in keys:
        # remembered for the tests: the key the server booted with (GET /__control/boot_keys)
        with LOCK:
            BOOT_KEYS[name] = " ".join(keys["ed25519_public"].split()[:2])
    if real:
        for u in doc.get("users") or []:
            for k in (u if isinstance(u, dict) else {}):
                if k not in USER_KEYS:
                    violation("POST", "/servers", "%s: users[].%s is not applied" % (where, k))
        return
    put(root, "etc/hostname", name + "\n")
    put(root, "etc/hosts", "127.0.0.1\tlocalhost\n127.0.1.1\t%s\n::1\tlocalhost\n" % name)
    os.makedirs(os.path.join(root, ssh_dir), exist_ok=True)
    if doc.get("ssh_deletekeys", True):
        d = os.path.join(root, ssh_dir)
        for f in os.listdir(d):
            if f.startswith("ssh_host_"):
                os.unlink(os.path.join(d, f))
    if "ed25519_private" in keys:
        put(root, ssh_dir + "/ssh_host_ed25519_key", keys["ed25519_private"], 0o600)
        put(root, ssh_dir + "/ssh_host_ed25519_key.pub", keys["ed25519_public"].strip() + "\n")
    # host keys of the types asked for that the document did not give
    types = doc.get("ssh_genkeytypes", GENKEYTYPES)
    if not isinstance(types, list) or any(t not in GENKEYTYPES for t in types):
        violation("POST", "/servers", "%s: ssh_genkeytypes is not a list of %s" % (where, GENKEYTYPES))
        types = []
    for t in types:
        key = os.path.join(root, ssh_dir, "ssh_host_%s_key" % t)
        if not os.path.exists(key):
            sh("ssh-keygen", "-q", "-t", t, "-N", "", "-C", "root@" + name, "-f", key)
    # password logins, as cloud-init sets them: a drop-in of sshd
    pwauth = doc.get("ssh_pwauth")
    if isinstance(pwauth, bool):
        put(root, "etc/ssh/sshd_config.d/50-cloud-init.conf",
            "PasswordAuthentication %s\n" % ("yes" if pwauth else "no"))
    elif pwauth is not None:
        violation("POST", "/servers", "%s: ssh_pwauth is not true or false" % where)
    for u in doc.get("users") or []:
        if u == "default":
            continue
        for k in u:
            if k not in USER_KEYS:
                violation("POST", "/servers", "%s: users[].%s is not applied" % (where, k))
        script = ("set -e\nu=$1\nif [ \"$u\" = root ]; then h=/root; else\n"
                  "id -u \"$u\" >/dev/null 2>&1 || useradd -m -U -s \"$2\" -- \"$u\"\n"
                  "h=$(getent passwd \"$u\" | cut -d: -f6); fi\n"
                  "mkdir -p \"$h/.ssh\"\nprintf '%s' \"$3\" >\"$h/.ssh/authorized_keys\"\n"
                  "chmod 700 \"$h/.ssh\"\nchmod 600 \"$h/.ssh/authorized_keys\"\n"
                  "chown -R \"$u:$(id -gn \"$u\")\" \"$h/.ssh\"\n")
        keys_text = "".join(k + "\n" for k in u.get("ssh_authorized_keys", []))
        sh("chroot", root, "/bin/sh", "-c", script, "sh", u["name"], u.get("shell", "/bin/sh"),
           keys_text)
        if u.get("sudo"):
            put(root, "etc/sudoers.d/90-cloud-init-%s" % u["name"],
                "%s %s\n" % (u["name"], u["sudo"]), 0o440)
        # cloud-init locks the password unless told otherwise
        lock = u.get("lock_passwd", True)
        if not isinstance(lock, bool):
            violation("POST", "/servers", "%s: users[].lock_passwd is not true or false" % where)
        elif lock and u["name"] != "root":
            sh("chroot", root, "usermod", "-L", "--", u["name"])


def seed_cloud_init(sid, name, root, user_data):
    """--cloud-init: the user_data as the host's NoCloud seed, for Debian's
    cloud-init to apply at boot, as on the cloud's servers.  What the
    image's vendor configures (here: the network, which the test bridge
    gives through systemd-networkd, and /etc/hosts) is in a drop-in of the
    image, as the providers' images have theirs."""
    seed = "var/lib/cloud/seed/nocloud/"
    put(root, seed + "user-data", user_data, 0o600)
    put(root, seed + "meta-data", "instance-id: i-%s\nlocal-hostname: %s\n" % (sid, name), 0o600)
    put(root, "etc/cloud/cloud.cfg.d/90-test-host.cfg",
        "datasource_list: [NoCloud, None]\nnetwork: {config: disabled}\n"
        "manage_etc_hosts: true\n")


def in_shared(*argv):
    """Run argv in the shared host's namespaces."""
    return sh("nsenter", "-t", str(SHARED["leader"]), "-m", "-n", "-p", "-u", "-i", "--", *argv)


def join_shared(sid, name, public, user_data, first=False):
    """--shared-host: server sid is an sshd of its own in the booted host."""
    SHARED["ready"].wait(300)
    h = HOSTS.get(SHARED["sid"])
    if not h or not SHARED.get("leader"):
        raise RuntimeError("the shared host did not boot")
    ssh_dir = "etc/ssh/pv/%s" % sid
    apply_cloud_config(name, h["root"], user_data or "", ssh_dir)
    HOSTNAMES.pop(threading.get_ident(), None)
    if first:  # its address comes from the host's network configuration
        for _ in range(600):
            if public + "/" in in_shared("ip", "-4", "-o", "addr", "show", "dev",
                                         "host0").stdout.decode():
                break
            time.sleep(0.2)
    else:
        in_shared("ip", "addr", "replace", public + "/24", "dev", "host0")
    in_shared("mkdir", "-p", "-m", "0755", "/run/sshd")
    in_shared("/usr/sbin/sshd", "-o", "ListenAddress=" + public,
              "-o", "HostKey=/%s/ssh_host_ed25519_key" % ssh_dir,
              "-o", "PidFile=/run/sshd-%s.pid" % sid)
    if not first:
        HOSTS[sid] = {"shared": True, "public": public}


def leader_of(pid):
    """The container's init: the child of systemd-nspawn in a PID namespace of its own."""
    ours = os.readlink("/proc/self/ns/pid")
    for _ in range(600):
        try:
            with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
                for kid in f.read().split():
                    if os.readlink("/proc/%s/ns/pid" % kid) != ours:
                        return int(kid)
        except OSError:
            pass
        time.sleep(0.1)
    return None


def boot_host(sid, name, public, private, user_data):
    """Boot host sid with the addresses public and private (a list)."""
    if ARGS.shared_host:
        with LOCK:
            first = SHARED["sid"] is None
            if first:
                SHARED["sid"] = sid
        if not first:
            join_shared(sid, name, public, user_data)
            sync_volumes(sid)
            return
        try:
            boot_one(sid, name, public, private, user_data)
            SHARED["leader"] = leader_of(HOSTS[sid]["pid"])
        finally:
            SHARED["ready"].set()
        join_shared(sid, name, public, user_data, first=True)
    else:
        boot_one(sid, name, public, private, user_data)
    sync_volumes(sid)


def boot_one(sid, name, public, private, user_data):
    d = os.path.join(ARGS.dir, "hosts", str(sid))
    upper, work, root = (os.path.join(d, x) for x in ("upper", "work", "root"))
    for x in (upper, work, root):
        os.makedirs(x, exist_ok=True)
    sh("mount", "-t", "overlay", "overlay", "-o",
       "lowerdir=%s,upperdir=%s,workdir=%s" % (ARGS.base, upper, work), root)
    HOSTS[sid] = {"dir": d, "root": root, "pid": 0}
    put(root, "etc/machine-id", hashlib.md5(str(sid).encode() + os.urandom(8)).hexdigest() + "\n",
        0o444)
    put(root, "etc/resolv.conf", "# no resolver on the test bridge\n")
    addrs = ["Address=%s/24" % public] + ["Address=%s/24" % ip for ip in private]
    put(root, "etc/systemd/network/10-host0.network",
        "[Match]\nName=host0\n\n[Network]\n%s\nGateway=%s.1\nLinkLocalAddressing=no\n"
        "IPv6AcceptRA=no\n" % ("\n".join(addrs), ARGS.prefix))
    if ARGS.apt_proxy:
        put(root, "etc/apt/apt.conf.d/01test-proxy",
            "Acquire::http::Proxy \"%s\";\nAcquire::http::Timeout \"30\";\n"
            "Acquire::Retries \"5\";\nAcquire::http::Pipeline-Depth \"0\";\n" % ARGS.apt_proxy)
    # A cloud server is a VM; these hosts are containers.  systemd-timesyncd
    # refuses to start in a container by a unit condition: lift it, so the
    # service really runs, as it does on the servers the tool is for.
    put(root, "etc/systemd/system/systemd-timesyncd.service.d/10-test-host.conf",
        "[Unit]\nConditionVirtualization=\n")
    apply_cloud_config(name, root, user_data or "", real=ARGS.cloud_init)
    if ARGS.cloud_init:
        seed_cloud_init(sid, name, root, user_data or "")
    if ARGS.shared_host:  # each server's own sshd is started in the host instead
        mask = os.path.join(root, "etc/systemd/system/ssh.service")
        if not os.path.lexists(mask):
            os.symlink("/dev/null", mask)
    name = HOSTNAMES.pop(threading.get_ident(), name)
    log = open(os.path.join(d, "console.log"), "ab")
    machine = "hc%d-%s" % (ARGS.port, str(sid)[:8])
    cgroups = cgroup_dirs(machine)
    p = subprocess.Popen(
        ["systemd-nspawn", "--quiet", "-D", root, "--boot", "--register=no", "--keep-unit",
         "--link-journal=no", "--resolv-conf=off", "--network-bridge=" + ARGS.bridge,
         "-M", machine, "--hostname=" + name],
        stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
        preexec_fn=lambda: enter_cgroups(cgroups))
    HOSTS[sid]["pid"] = p.pid
    HOSTS[sid]["proc"] = p
    HOSTS[sid]["cgroups"] = cgroups


# Each host in cgroups of its own (as the local provider does): with
# --keep-unit on a machine whose init is not systemd, every container would
# share the caller's "payload" cgroup, and their systemds would race on the
# same unit cgroups (a unit failing with 219/CGROUP at boot).
def cgroup_dirs(machine):
    if os.path.exists("/run/systemd/system"):
        return []
    roots = []
    if os.path.exists("/sys/fs/cgroup/unified/cgroup.procs"):
        roots.append("/sys/fs/cgroup/unified")
    elif os.path.exists("/sys/fs/cgroup/cgroup.subtree_control"):
        roots.append("/sys/fs/cgroup")
    if os.path.exists("/sys/fs/cgroup/systemd/cgroup.procs"):
        roots.append("/sys/fs/cgroup/systemd")
    dirs = []
    for r in roots:
        d = os.path.join(r, "provision-hosts", machine)
        try:
            os.makedirs(d, exist_ok=True)
            dirs.append(d)
        except OSError:
            pass
    return dirs


def enter_cgroups(dirs):
    for d in dirs:
        try:
            with open(os.path.join(d, "cgroup.procs"), "w") as f:
                f.write("0")
        except OSError:
            pass


def remove_cgroups(dirs):
    for d in dirs:
        for top, subdirs, _ in os.walk(d, topdown=False):
            for s in subdirs:
                try:
                    os.rmdir(os.path.join(top, s))
                except OSError:
                    pass
        try:
            os.rmdir(d)
        except OSError:
            pass


# ---- volumes on the hosts ----


def hetzner_volumes_of(sid):
    return {v["linux_device"]: (v["id"], v["size"], v.get("format") or "")
            for v in STATE["volumes"].values() if v["server"] == sid}


VOLUME_GIB = 2
DISKS = {}  # volume key -> {"img": file, "loop": "/dev/loopN"}
DISK_LOCK = threading.RLock()
# The provider's volumes attached to server sid, {device path: (key, GB,
# file system or "")}: Hetzner's here, DigitalOcean's set by do-server.py.
VOLUMES_OF = hetzner_volumes_of


def volume_disk(key, size_gb, fs):
    """The loop device behind volume key, made (and formatted with fs) once."""
    with DISK_LOCK:
        d = DISKS.get(key)
        if d:
            return d
        img = os.path.join(ARGS.dir, "volumes", "%s.img" % key)
        os.makedirs(os.path.dirname(img), exist_ok=True)
        with open(img, "wb") as f:
            f.truncate(min(int(size_gb), VOLUME_GIB) << 30)
        loop = sh("losetup", "-f", "--show", img).stdout.decode().strip()
        DISKS[key] = d = {"img": img, "loop": loop}
        if fs:
            sh("mkfs." + fs, "-q", loop, stdin=subprocess.DEVNULL)
        return d


def volume_disk_gone(key):
    """Volume key deleted: its loop device (freed when its last user lets go) and file."""
    with DISK_LOCK:
        d = DISKS.pop(key, None)
    if d:
        subprocess.run(["losetup", "-d", d["loop"]], stderr=subprocess.DEVNULL)
        try:
            os.unlink(d["img"])
        except OSError:
            pass


def host_leader(sid):
    """The init of the container that serves server sid, once it runs systemd
    (its /dev is made by then), or None."""
    h = HOSTS.get(sid)
    if not h:
        return None
    if h.get("shared"):
        pid = SHARED.get("leader")
    else:
        if not h.get("leader"):
            h["leader"] = leader_of(h["pid"])
        pid = h.get("leader")
    for _ in range(600):
        try:
            with open("/proc/%d/comm" % pid) as f:
                if f.read().strip() == "systemd":
                    return pid
        except (OSError, TypeError):
            return None
        time.sleep(0.1)
    return None


def sync_volumes(sid):
    """The devices of server sid's host are the volumes attached to it now."""
    if not VOLUMES_OF:
        return
    with DISK_LOCK:
        h = HOSTS.get(sid)
        if not h:
            return  # not booted yet: its boot comes here
        with LOCK:
            want = VOLUMES_OF(sid)
        have = h.setdefault("devices", {})
        steps = []
        for path, (key, size, fs) in sorted(want.items()):
            if have.get(path) == key:
                continue
            st = os.stat(volume_disk(key, size, fs)["loop"])
            node = "loop%d" % os.minor(st.st_rdev)
            # (mknod -m would chmod through /proc/self, which is not ours there)
            steps.append("[ -b /dev/%s ] || { mknod /dev/%s b %d %d && chmod 0660 /dev/%s; }" % (
                node, node, os.major(st.st_rdev), os.minor(st.st_rdev), node))
            steps.append("mkdir -p '%s' && ln -sfn /dev/%s '%s'" % (
                os.path.dirname(path), node, path))
        steps += ["rm -f '%s'" % path for path in have if path not in want]
        if not steps:
            return
        leader = host_leader(sid)
        if not leader:
            raise RuntimeError("server %s: its host does not run" % sid)
        r = subprocess.run(["nsenter", "-t", str(leader), "-m", "--", "sh", "-ec",
                            "\n".join(steps)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if r.returncode:
            raise RuntimeError("server %s: its volumes' devices: %s" % (
                sid, r.stdout.decode(errors="replace").strip()))
        h["devices"] = {path: w[0] for path, w in want.items()}


def stop_host(sid):
    h = HOSTS.pop(sid, None)
    if not h:
        return
    if h.get("shared"):
        if SHARED["sid"] in HOSTS:
            subprocess.run(["nsenter", "-t", str(SHARED["leader"]), "-m", "-n", "-p", "--", "sh",
                            "-c", 'kill "$(cat /run/sshd-%s.pid)"; ip addr del %s/24 dev host0'
                            % (sid, h["public"])])
        return
    p = h.get("proc")
    if p and p.poll() is None:
        p.terminate()
        try:
            p.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
    remove_cgroups(h.get("cgroups", []))
    for _ in range(50):
        if subprocess.run(["mountpoint", "-q", h["root"]]).returncode != 0:
            break
        if subprocess.run(["umount", h["root"]]).returncode == 0:
            break
        time.sleep(0.1)
    if subprocess.run(["mountpoint", "-q", h["root"]]).returncode == 0:
        subprocess.run(["umount", "-l", h["root"]])
    shutil.rmtree(h["dir"], ignore_errors=True)


def stop_all(*_):
    for sid in list(HOSTS):
        stop_host(sid)
    for key in list(DISKS):
        volume_disk_gone(key)
    os._exit(0)


# ---- the API ----

class ApiError(Exception):
    def __init__(self, status, code, message):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def labels_match(labels, selector):
    if not selector:
        return True
    for term in re.split(r",(?![^(]*\))", selector):
        term = term.strip()
        m = re.fullmatch(r"([^!=\s]+)\s*(==|=|!=)\s*(\S*)", term)
        if m:
            k, op, v = m.groups()
            if op == "!=":
                if labels.get(k) == v:
                    return False
            elif labels.get(k) != v:
                return False
            continue
        m = re.fullmatch(r"(\S+)\s+(in|notin)\s+\(([^)]*)\)", term)
        if m:
            k, op, vs = m.group(1), m.group(2), [x.strip() for x in m.group(3).split(",")]
            if (labels.get(k) in vs) != (op == "in"):
                return False
            continue
        if term.startswith("!"):
            if term[1:] in labels:
                return False
        elif term not in labels:
            return False
    return True


def public_ip(kind_n):
    used = {s["public_net"]["ipv4"]["ip"] for s in STATE["servers"].values()}
    used |= {lb["public_net"]["ipv4"]["ip"] for lb in STATE["load_balancers"].values()}
    used |= {f["ip"] for f in STATE["floating_ips"].values()}
    for n in range(11, 250):
        a = "%s.%d" % (ARGS.prefix, n)
        if a not in used:
            return a
    raise ApiError(422, "resource_limit_exceeded", "no address left")


def private_ip(net):
    sub = net["subnets"][0]["ip_range"] if net["subnets"] else net["ip_range"]
    base = sub.split("/")[0].rsplit(".", 1)[0]
    used = set()
    for s in STATE["servers"].values():
        used |= {p["ip"] for p in s["private_net"]}
    for lb in STATE["load_balancers"].values():
        used |= {p["ip"] for p in lb["private_net"]}
    for n in range(2, 250):
        a = "%s.%d" % (base, n)
        if a not in used:
            return a
    raise ApiError(422, "resource_limit_exceeded", "no private address left")


def get_res(kind, rid):
    r = STATE[kind].get(rid)
    if not r:
        raise ApiError(404, "not_found", "%s with ID '%s' not found" % (SINGULAR[kind], rid))
    return r


def name_unique(kind, name, rid=None):
    for r in STATE[kind].values():
        if r["name"] == name and r["id"] != rid:
            raise ApiError(409, "uniqueness_error", "name is already used")


def handle(method, tmpl, pv, q, body, fault_fail):
    """(status, body) for a checked request."""
    parts = tmpl.strip("/").split("/")
    kind = parts[0]
    rid = pv.get("id")
    with LOCK:
        if tmpl == "/actions/{id}":
            return 200, {"action": get_res("actions", rid)}
        if tmpl == "/actions":
            ids = q.get("id", [])
            acts = [STATE["actions"][i] for i in ids if i in STATE["actions"]]
            return 200, {"actions": acts, "meta": {"pagination": pagination(1, 25, len(acts))}}
        if kind in SINGULAR and len(parts) == 1 and method == "GET":
            items = [r for r in sorted(STATE[kind].values(), key=lambda r: r["id"])
                     if labels_match(r.get("labels", {}), q.get("label_selector"))
                     and (not q.get("name") or r["name"] == q["name"])
                     and (not q.get("type") or r.get("type") in q["type"])]
            page, per = q.get("page", 1), min(q.get("per_page", 25), ARGS.max_per_page)
            chunk = items[(page - 1) * per: page * per]
            return 200, {kind: chunk, "meta": {"pagination": pagination(page, per, len(items))}}
        if kind in SINGULAR and len(parts) == 2 and method == "GET":
            return 200, {SINGULAR[kind]: get_res(kind, rid)}
        if kind in SINGULAR and len(parts) == 2 and method == "PUT":
            r = get_res(kind, rid)
            if "name" in body:
                name_unique(kind, body["name"], rid)
                r["name"] = body["name"]
            if "labels" in body:
                r["labels"] = body["labels"]
            return 200, {SINGULAR[kind]: r}
        if kind in SINGULAR and len(parts) == 1 and method == "POST":
            return CREATE[kind](body, fault_fail)
        if kind in SINGULAR and len(parts) == 2 and method == "DELETE":
            return DELETE[kind](get_res(kind, rid), fault_fail)
        if kind in SINGULAR and len(parts) == 4 and parts[2] == "actions" and method == "POST":
            fn = ACTIONS.get((kind, parts[3]))
            if fn:
                return fn(get_res(kind, rid), body, fault_fail)
        if kind in SINGULAR and len(parts) >= 3 and parts[-2] == "actions" and method == "GET":
            return 200, {"action": get_res("actions", pv.get("action_id"))}
    raise ApiError(422, "unsupported_error", "the test server does not implement %s %s" % (method, tmpl))


def pagination(page, per, total):
    last = max(1, (total + per - 1) // per)
    return {"page": page, "per_page": per, "previous_page": page - 1 if page > 1 else None,
            "next_page": page + 1 if page < last else None, "last_page": last,
            "total_entries": total}


def labels_of(body):
    return dict(body.get("labels") or {})


def create_ssh_key(body, fail):
    name_unique("ssh_keys", body["name"])
    parts = body["public_key"].split()
    if len(parts) < 2:
        raise ApiError(422, "invalid_input", "invalid public key")
    try:
        fp = hashlib.md5(base64.b64decode(parts[1], validate=True)).hexdigest()
    except ValueError:
        raise ApiError(422, "invalid_input", "invalid public key")
    for k in STATE["ssh_keys"].values():
        if k["fingerprint"] == ":".join(fp[i:i + 2] for i in range(0, 32, 2)):
            raise ApiError(409, "uniqueness_error", "SSH key with the same fingerprint already exists")
    k = synth(resource_schema("ssh_keys"), {
        "id": new_id(), "name": body["name"], "public_key": body["public_key"],
        "fingerprint": ":".join(fp[i:i + 2] for i in range(0, 32, 2)),
        "labels": labels_of(body), "created": now_iso()})
    STATE["ssh_keys"][k["id"]] = k
    return 201, {"ssh_key": k}


def create_network(body, fail):
    name_unique("networks", body["name"])
    subnets = [dict(s, gateway=s["ip_range"].split("/")[0].rsplit(".", 1)[0] + ".1")
               for s in body.get("subnets", [])]
    n = synth(resource_schema("networks"), {
        "id": new_id(), "name": body["name"], "ip_range": body["ip_range"], "subnets": subnets,
        "routes": body.get("routes", []), "servers": [], "load_balancers": [],
        "labels": labels_of(body), "created": now_iso()})
    STATE["networks"][n["id"]] = n
    return 201, {"network": n}


def create_firewall(body, fail):
    name_unique("firewalls", body["name"])
    f = synth(resource_schema("firewalls"), {
        "id": new_id(), "name": body["name"], "labels": labels_of(body),
        "rules": [dict({"description": None, "source_ips": [], "destination_ips": [],
                        "port": None}, **r) for r in body.get("rules", [])],
        "applied_to": [], "created": now_iso()})
    STATE["firewalls"][f["id"]] = f
    acts = []
    for a in body.get("apply_to", []):
        acts.append(apply_firewall(f, a, fail))
    return 201, {"firewall": f, "actions": acts}


def apply_firewall(f, a, fail):
    if a.get("type") != "server" or "server" not in a:
        raise ApiError(422, "invalid_input", "the test server applies firewalls to servers only")
    s = get_res("servers", a["server"]["id"])
    if not any(x["server"]["id"] == s["id"] for x in f["applied_to"]):
        f["applied_to"].append({"type": "server", "server": {"id": s["id"]}})
        s["public_net"]["firewalls"].append({"id": f["id"], "status": "applied"})
    return start_action("apply_firewall", [("firewall", f["id"]), ("server", s["id"])], fail=fail)


def fw_set_rules(f, body, fail):
    f["rules"] = [dict({"description": None, "source_ips": [], "destination_ips": [],
                        "port": None}, **r) for r in body["rules"]]
    return 201, {"actions": [start_action("set_firewall_rules", [("firewall", f["id"])], fail=fail)]}


def fw_apply(f, body, fail):
    return 201, {"actions": [apply_firewall(f, a, fail) for a in body["apply_to"]]}


def fw_remove(f, body, fail):
    acts = []
    for a in body["remove_from"]:
        sid = a.get("server", {}).get("id")
        f["applied_to"] = [x for x in f["applied_to"] if x.get("server", {}).get("id") != sid]
        s = STATE["servers"].get(sid)
        if s:
            s["public_net"]["firewalls"] = [x for x in s["public_net"]["firewalls"]
                                            if x["id"] != f["id"]]
        acts.append(start_action("remove_firewall", [("firewall", f["id"]), ("server", sid)],
                                 fail=fail))
    return 201, {"actions": acts}


def create_server(body, fail):
    name_unique("servers", body["name"])
    sid = new_id()
    ssh_keys = []
    for k in body.get("ssh_keys", []):
        match = [x for x in STATE["ssh_keys"].values() if x["name"] == k or str(x["id"]) == k]
        if not match:
            raise ApiError(404, "not_found", "SSH key '%s' not found" % k)
        ssh_keys.append(match[0])
    nets = [get_res("networks", n) for n in body.get("networks", [])]
    fws = [get_res("firewalls", x["firewall"]) for x in body.get("firewalls", [])]
    srv = synth(resource_schema("servers"), {
        "id": sid, "name": body["name"], "status": "initializing", "created": now_iso(),
        "labels": labels_of(body),
        "public_net": {"ipv4": {"id": new_id(), "ip": public_ip(1), "blocked": False,
                                "dns_ptr": "static.example"},
                       "ipv6": None, "floating_ips": [], "firewalls": []},
        "private_net": [{"network": n["id"], "ip": private_ip(n), "alias_ips": [],
                         "mac_address": "86:00:00:00:00:%02x" % (sid % 256)} for n in nets],
        "server_type": {"name": body["server_type"]},
        "image": {"name": body["image"]}, "volumes": [], "load_balancers": [],
        "location": {"name": body.get("location") or "fsn1"},
        "protection": {"delete": False, "rebuild": False}, "rescue_enabled": False,
        "locked": False, "backup_window": None, "outgoing_traffic": None,
        "ingoing_traffic": None, "included_traffic": 0, "primary_disk_size": 40,
        "placement_group": None, "iso": None})
    STATE["servers"][sid] = srv
    for n in nets:
        n["servers"].append(sid)
    for f in fws:
        f["applied_to"].append({"type": "server", "server": {"id": sid}})
        srv["public_net"]["firewalls"].append({"id": f["id"], "status": "applied"})
    user_data = body.get("user_data")

    def work():
        boot_host(sid, srv["name"], srv["public_net"]["ipv4"]["ip"],
                  [p["ip"] for p in srv["private_net"]], user_data)
        with LOCK:
            srv["status"] = "running"

    a = start_action("create_server", [("server", sid)], work=work, fail=fail)
    # A canary: the real API returns a password only without ssh_keys; this one
    # always does, so tests can show the client never keeps or shows it.
    return 201, {"server": srv, "action": a, "next_actions": [],
                 "root_password": "pvtest-root-password-%d" % sid}


def delete_server(srv, fail):
    sid = srv["id"]

    def work():
        stop_host(sid)
        with LOCK:
            STATE["servers"].pop(sid, None)
            for n in STATE["networks"].values():
                n["servers"] = [x for x in n["servers"] if x != sid]
            for f in STATE["firewalls"].values():
                f["applied_to"] = [x for x in f["applied_to"]
                                   if x.get("server", {}).get("id") != sid]
            for v in STATE["volumes"].values():
                if v["server"] == sid:
                    v["server"] = None
            for lb in STATE["load_balancers"].values():
                lb["targets"] = [t for t in lb["targets"]
                                 if t.get("server", {}).get("id") != sid]
            for f in STATE["floating_ips"].values():
                if f["server"] == sid:
                    f["server"] = None

    srv["status"] = "deleting"
    return 200, {"action": start_action("delete_server", [("server", sid)], work=work, fail=fail)}


def delete_plain(kind):
    def fn(r, fail):
        if kind == "firewalls" and r["applied_to"]:
            raise ApiError(422, "resource_in_use", "firewall is still applied to resources")
        if kind == "networks" and r["servers"]:
            raise ApiError(409, "conflict", "network still has attached servers")
        if kind == "volumes" and r["server"]:
            raise ApiError(423, "locked", "volume is attached to a server")
        del STATE[kind][r["id"]]
        if kind == "volumes":
            threading.Thread(target=volume_disk_gone, args=(r["id"],), daemon=True).start()
        return 204, None
    return fn


def create_volume(body, fail):
    name_unique("volumes", body["name"])
    srv = get_res("servers", body["server"]) if body.get("server") else None
    loc = body.get("location") or (srv["location"]["name"] if srv else "fsn1")
    vid = new_id()
    v = synth(resource_schema("volumes"), {
        "id": vid, "name": body["name"], "size": body["size"], "labels": labels_of(body),
        "server": srv["id"] if srv else None, "status": "creating", "created": now_iso(),
        "location": {"name": loc}, "linux_device": "/dev/disk/by-id/scsi-0HC_Volume_%d" % vid,
        "format": body.get("format"), "protection": {"delete": False}})
    STATE["volumes"][vid] = v
    if srv:
        srv["volumes"].append(vid)

    def work():
        volume_disk(vid, body["size"], body.get("format"))
        with LOCK:
            v["status"] = "available"
        if srv:
            sync_volumes(srv["id"])

    return 201, {"volume": v, "action": start_action("create_volume", [("volume", vid)], work=work,
                                                     fail=fail), "next_actions": []}


def vol_detach(v, body, fail):
    s = STATE["servers"].get(v["server"])
    if s:
        s["volumes"] = [x for x in s["volumes"] if x != v["id"]]
    v["server"] = None
    return 201, {"action": start_action("detach_volume", [("volume", v["id"])], fail=fail,
                                        work=lambda: s and sync_volumes(s["id"]))}


def create_lb(body, fail):
    name_unique("load_balancers", body["name"])
    lid = new_id()
    net = get_res("networks", body["network"]) if body.get("network") else None
    targets = []
    for t in body.get("targets", []):
        if t["type"] == "label_selector":
            targets.append({"type": "label_selector", "label_selector": t["label_selector"],
                            "use_private_ip": t.get("use_private_ip", False),
                            "targets": [{"type": "server", "server": {
                                "id": s["id"], "ip": s["public_net"]["ipv4"]["ip"]},
                                         "health_status": [], "use_private_ip":
                                         t.get("use_private_ip", False)}
                                        for s in STATE["servers"].values()
                                        if labels_match(s["labels"],
                                                        t["label_selector"]["selector"])]})
            continue
        if t["type"] != "server":
            raise ApiError(422, "invalid_input", "the test server takes server targets only")
        s = get_res("servers", t["server"]["id"])
        targets.append({"type": "server", "server": {"id": s["id"]},
                        "use_private_ip": t.get("use_private_ip", False),
                        "health_status": []})
    lb = synth(resource_schema("load_balancers"), {
        "id": lid, "name": body["name"], "labels": labels_of(body), "created": now_iso(),
        "public_net": {"enabled": True, "ipv4": {"ip": public_ip(2), "dns_ptr": None},
                       "ipv6": {"ip": None, "dns_ptr": None}},
        "private_net": [{"network": net["id"], "ip": private_ip(net)}] if net else [],
        "location": {"name": body.get("location") or "fsn1"},
        "load_balancer_type": {"name": body["load_balancer_type"]},
        "protection": {"delete": False},
        "algorithm": body.get("algorithm") or {"type": "round_robin"},
        "services": body.get("services", []), "targets": targets,
        "outgoing_traffic": None, "ingoing_traffic": None, "included_traffic": 0})
    STATE["load_balancers"][lid] = lb
    if net:
        net["load_balancers"].append(lid)
    return 201, {"load_balancer": lb,
                 "action": start_action("create_load_balancer", [("load_balancer", lid)], fail=fail)}


def delete_lb(lb, fail):
    del STATE["load_balancers"][lb["id"]]
    for n in STATE["networks"].values():
        n["load_balancers"] = [x for x in n["load_balancers"] if x != lb["id"]]
    return 204, None


def lb_update_service(lb, body, fail):
    for svc in lb["services"]:
        if svc["listen_port"] == body["listen_port"]:
            for k, v in body.items():
                if isinstance(v, dict) and isinstance(svc.get(k), dict):
                    svc[k].update(v)
                else:
                    svc[k] = v
            return 201, {"action": start_action("update_service", [("load_balancer", lb["id"])],
                                                fail=fail)}
    raise ApiError(404, "not_found", "no service on port %d" % body["listen_port"])


LB_TYPES = ("lb11", "lb21", "lb31")


def lb_change_type(lb, body, fail):
    if body["load_balancer_type"] not in LB_TYPES:
        raise ApiError(422, "invalid_input", "no load balancer type %s" % body["load_balancer_type"])
    lb["load_balancer_type"] = dict(lb["load_balancer_type"], name=body["load_balancer_type"],
                                    id=LB_TYPES.index(body["load_balancer_type"]) + 1)
    return 201, {"action": start_action("change_type", [("load_balancer", lb["id"])], fail=fail)}


def host_size_gb(sid):
    """What the server's disk holds beyond the base image, in GB (its
    overlay's upper layer): the size a snapshot of it takes."""
    h = HOSTS.get(sid)
    total = 0
    for d, _, files in os.walk(h["dir"] + "/upper") if h and h.get("dir") else []:
        for f in files:
            try:
                total += os.lstat(os.path.join(d, f)).st_size
            except OSError:
                pass
    return max(0.01, round(total / 1e9, 2))


def srv_create_image(srv, body, fail):
    """POST /servers/{id}/actions/create_image: an image of the server's
    disk, 'creating' until its action ends, then 'available' with a size."""
    iid = new_id()
    kind = body.get("type", "snapshot")
    img = synth(resource_schema("images"), {
        "id": iid, "type": kind, "status": "creating", "name": None,
        "description": body.get("description") or "%s of %s" % (kind, srv["name"]),
        "image_size": None, "disk_size": srv["primary_disk_size"], "created": now_iso(),
        "created_from": {"id": srv["id"], "name": srv["name"]},
        "bound_to": srv["id"] if kind == "backup" else None, "os_flavor": "debian",
        "os_version": "12", "rapid_deploy": False, "protection": {"delete": False},
        "deprecated": None, "deleted": None, "labels": labels_of(body),
        "architecture": "x86"})
    STATE["images"][iid] = img
    sid = srv["id"]

    def work():
        size = host_size_gb(sid)
        with LOCK:
            if fail:  # a failed snapshot leaves no image
                STATE["images"].pop(iid, None)
                return
            img["status"] = "available"
            img["image_size"] = size

    return 201, {"image": img, "action": start_action(
        "create_image", [("server", sid), ("image", iid)], work=work, fail=fail)}


def srv_backup(on):
    """POST /servers/{id}/actions/enable_backup (disable_backup): the daily
    backups on (a backup window, the document's example) or off (none)."""
    def fn(srv, body, fail):
        srv["backup_window"] = "22-02" if on else None
        return 201, {"action": start_action("%s_backup" % ("enable" if on else "disable"),
                                            [("server", srv["id"])], fail=fail)}
    return fn


def delete_image(img, fail):
    if img["type"] not in ("snapshot", "backup"):
        raise ApiError(422, "invalid_input", "only snapshots and backups can be deleted")
    if img["protection"]["delete"]:
        raise ApiError(423, "protected", "the image is protected")
    del STATE["images"][img["id"]]
    return 204, None


def fip_set_server(f, sid):
    """Floating IP f on server sid (None: on none), in both resources."""
    old = STATE["servers"].get(f["server"])
    if old:
        old["public_net"]["floating_ips"] = [x for x in old["public_net"]["floating_ips"]
                                             if x != f["id"]]
    f["server"] = sid
    if sid is not None:
        get_res("servers", sid)["public_net"]["floating_ips"].append(f["id"])


def create_fip(body, fail):
    """POST /floating_ips: an IPv4 address of the test bridge's range, at
    once on its server when the body names one (then with an action)."""
    if body["type"] != "ipv4":
        raise ApiError(422, "invalid_input", "the test server makes ipv4 floating IPs only")
    if body.get("server") is not None and body.get("home_location") is not None:
        raise ApiError(422, "invalid_input", "server and home_location are mutually exclusive")
    name = body.get("name") or "floating-ip-%d" % (NEXT_ID[0] + 1)
    name_unique("floating_ips", name)
    srv = get_res("servers", body["server"]) if body.get("server") is not None else None
    if not srv and body.get("home_location") is None:
        raise ApiError(422, "invalid_input", "home_location is needed without a server")
    fid = new_id()
    loc = srv["location"]["name"] if srv else str(body["home_location"])
    f = synth(resource_schema("floating_ips"), {
        "id": fid, "name": name, "description": body.get("description"),
        "ip": public_ip(3), "type": "ipv4", "server": None, "dns_ptr": [],
        "home_location": {"name": loc}, "blocked": False, "protection": {"delete": False},
        "labels": labels_of(body), "created": now_iso()})
    STATE["floating_ips"][fid] = f
    action = None
    if srv:
        fip_set_server(f, srv["id"])
        action = start_action("assign_floating_ip", [("floating_ip", fid), ("server", srv["id"])],
                              fail=fail)
    return 201, {"floating_ip": f, "action": action}


def fip_assign(f, body, fail):
    srv = get_res("servers", body["server"])
    fip_set_server(f, srv["id"])
    return 201, {"action": start_action("assign_floating_ip", [("floating_ip", f["id"]),
                                                               ("server", srv["id"])], fail=fail)}


def fip_unassign(f, body, fail):
    fip_set_server(f, None)
    return 201, {"action": start_action("unassign_floating_ip", [("floating_ip", f["id"])],
                                        fail=fail)}


def delete_fip(f, fail):
    if f["protection"]["delete"]:
        raise ApiError(423, "protected", "the floating IP is protected")
    fip_set_server(f, None)
    del STATE["floating_ips"][f["id"]]
    return 204, None


CREATE = {"ssh_keys": create_ssh_key, "networks": create_network, "firewalls": create_firewall,
          "servers": create_server, "volumes": create_volume, "load_balancers": create_lb,
          "floating_ips": create_fip}
DELETE = {"servers": delete_server, "ssh_keys": delete_plain("ssh_keys"),
          "networks": delete_plain("networks"), "firewalls": delete_plain("firewalls"),
          "volumes": delete_plain("volumes"), "load_balancers": delete_lb,
          "images": delete_image, "floating_ips": delete_fip}
ACTIONS = {("firewalls", "set_rules"): fw_set_rules,
           ("firewalls", "apply_to_resources"): fw_apply,
           ("firewalls", "remove_from_resources"): fw_remove,
           ("volumes", "detach"): vol_detach,
           ("load_balancers", "update_service"): lb_update_service,
           ("load_balancers", "change_type"): lb_change_type,
           ("servers", "create_image"): srv_create_image,
           ("servers", "enable_backup"): srv_backup(True),
           ("servers", "disable_backup"): srv_backup(False),
           ("floating_ips", "assign"): fip_assign,
           ("floating_ips", "unassign"): fip_unassign}


# ---- HTTP ----

def take_fault(method, tmpl):
    with LOCK:
        for f in FAULTS:
            if f["count"] > 0 and f["match"] == "%s %s" % (method, tmpl):
                f["count"] -= 1
                STATS["faults"] += 1
                return f
    return None


def rate_take():
    """(allowed, remaining, reset) under the bucket: gradual refill."""
    with LOCK:
        t = time.time()
        r = RATE
        r["tokens"] = min(r["limit"], r["tokens"] + (t - r["at"]) * r["per_second"])
        r["at"] = t
        # the client was told (remaining 0, or a 429) to wait until told_until
        if t < r["told_until"]:
            STATS["early"] += 1
        if r.get("drain_next"):
            # another client of the project spends the whole budget just now
            r["tokens"], r["drain_next"] = 0.0, False
        ok = r["tokens"] >= 1
        if ok:
            r["tokens"] -= 1
        reset = int(t + (r["limit"] - r["tokens"]) / r["per_second"]) + 1
        if not ok:
            STATS["rate_limited"] += 1
        if not ok or int(r["tokens"]) == 0:
            # none left: the next request is allowed once the bucket has
            # refilled by one (Hetzner's budget grows back gradually; its
            # reset header is when it is full again)
            r["told_until"] = max(r["told_until"], t + (1 - r["tokens"]) / r["per_second"])
            STATS["told_to_wait"] += 1
        return ok, int(r["tokens"]), reset


def error_body(code, message):
    return {"error": {"code": code, "message": message, "details": {}}}


def fault_code(status):
    return {500: "server_error", 503: "unavailable", 409: "conflict", 423: "locked",
            502: "bad_gateway", 504: "timeout"}.get(status, "server_error")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *a):
        pass

    def do_GET(self):
        self.serve("GET")

    def do_POST(self):
        self.serve("POST")

    def do_PUT(self):
        self.serve("PUT")

    def do_DELETE(self):
        self.serve("DELETE")

    def send_json(self, status, body, extra=None):
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        for k, v in (extra or {}).items():
            self.send_header(k, str(v))
        if body is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def control(self, method, path, body):
        if path == "/__control/faults" and method == "POST":
            with LOCK:
                FAULTS.extend(json.loads(body))
            return self.send_json(200, {"ok": True})
        if path == "/__control/ratelimit" and method == "POST":
            c = json.loads(body)
            with LOCK:
                # "tokens" below the limit: another client of the project spent them
                RATE.update(limit=c["limit"], per_second=c["per_second"],
                            tokens=float(c.get("tokens", c["limit"])), at=time.time(),
                            drain_next=bool(c.get("drain_next")))
            return self.send_json(200, {"ok": True})
        if path == "/__control/stats":
            with LOCK:
                return self.send_json(200, dict(STATS, **{k: len(v) for k, v in STATE.items()}))
        if path == "/__control/state":
            with LOCK:
                return self.send_json(200, STATE)
        if path == "/__control/kill_host" and method == "POST":
            # a server's host stopped hard, as a power cut would: its init killed
            h = HOSTS.get(json.loads(body)["server"])
            leader = leader_of(h["pid"]) if h and h.get("pid") else None
            if not leader:
                return self.send_json(404, {"error": "no such host"})
            os.kill(leader, signal.SIGKILL)
            return self.send_json(200, {"ok": True})
        if path == "/__control/boot_keys":
            with LOCK:
                return self.send_json(200, BOOT_KEYS)
        self.send_json(404, {"error": "no such control"})

    def serve(self, method):
        u = urllib.parse.urlsplit(self.path)
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n).decode() if n else ""
        if u.path.startswith("/__control/"):
            return self.control(method, u.path, body)
        path = u.path
        if not path.startswith(ARGS.base_path + "/"):
            violation(method, path, "not under the API base path %s" % ARGS.base_path)
            return self.send_json(404, error_body("not_found", "no such path"))
        path = path[len(ARGS.base_path):]
        query = urllib.parse.parse_qs(u.query, keep_blank_values=True)
        tmpl, op, pv, q, parsed, problems = check_request(method, path, query, self.headers, body)
        with LOCK:
            STATS["requests"] += 1
            if method != "GET":
                STATS["writes"] += 1
        ok, remaining, reset = rate_take()
        rl = {"RateLimit-Limit": RATE["limit"], "RateLimit-Remaining": remaining,
              "RateLimit-Reset": reset}
        status, out = None, None
        fault = None
        try:
            if problems:
                for p in problems:
                    violation(method, path, p)
                code = 401 if any("Authorization" in p for p in problems) else 400
                raise ApiError(code, "unauthorized" if code == 401 else "invalid_input",
                               "; ".join(problems))
            if not ok:
                raise ApiError(429, "rate_limit_exceeded", "limit of %d requests reached"
                               % RATE["limit"])
            fault = take_fault(method, tmpl)
            if fault and fault["kind"] == "status":
                raise ApiError(fault["status"], fault_code(fault["status"]), "injected fault")
            if fault and fault["kind"] == "drop":
                self.log(method, path, 0)
                self.close_connection = True
                self.connection.shutdown(2)
                return
            if fault and fault["kind"] == "delay":
                time.sleep(fault.get("seconds", 5))
            status, out = handle(method, tmpl, pv, q, parsed or {},
                                 bool(fault and fault["kind"] == "action_error"))
        except ApiError as e:
            status, out = e.status, error_body(e.code, e.message)
        except Exception as e:
            traceback.print_exc()
            status, out = 500, error_body("server_error", str(e))
        if op:
            schema, declared = response_schema(op, status)
            if not declared:
                violation(method, path, "server bug: status %d is not declared" % status)
            elif schema and out is not None:
                try:
                    jsonschema.validate(out, schema, cls=VALIDATOR)
                except jsonschema.ValidationError as e:
                    violation(method, path, "server bug: response %s: %s" % (
                        "/".join(str(x) for x in e.absolute_path), e.message))
        self.log(method, path, status)
        if fault and fault.get("retry_after") is not None:
            rl["Retry-After"] = fault["retry_after"]
        if fault and fault["kind"] == "lost":
            self.close_connection = True
            self.connection.shutdown(2)
            return
        self.send_json(status, out, rl)

    def log(self, method, path, status):
        record("requests.jsonl", {"method": method, "path": path, "status": status,
                                  "t": round(time.time(), 3),
                                  "tls": isinstance(self.connection, ssl.SSLSocket)})


def main(setup=None):
    global ARGS
    ap = argparse.ArgumentParser()
    ap.add_argument("--spec", required=True)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--token", required=True)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--base-path", default="/v1")
    ap.add_argument("--bridge", required=True)
    ap.add_argument("--prefix", required=True, help="public /24 of the hosts, e.g. 10.213.240")
    ap.add_argument("--base", required=True, help="root file system the hosts overlay")
    ap.add_argument("--apt-proxy", default="")
    ap.add_argument("--action-seconds", type=float, default=1.0)
    ap.add_argument("--max-per-page", type=int, default=50)
    ap.add_argument("--cloud-init", action="store_true",
                    help="hosts apply their user_data with Debian's cloud-init (NoCloud seed); "
                         "the base must have it")
    ap.add_argument("--shared-host", action="store_true",
                    help="boot one host; later servers are sshd instances in it")
    ap.add_argument("--tls-listen", default="",
                    help="also serve https on this address, same port ('bridge': the test "
                         "bridge's own address), for the test hosts' own API calls")
    ap.add_argument("--tls-cert", default="", help="the certificate chain (PEM) for --tls-listen")
    ap.add_argument("--tls-key", default="", help="its key (PEM)")
    ap.add_argument("--also-listen", action="append", default=[],
                    help="another address to serve on, same port ('bridge': the test "
                         "bridge's own address), for tests that a client refuses a "
                         "non-loopback http endpoint")
    ARGS = ap.parse_args()
    if ARGS.cloud_init and ARGS.shared_host:
        ap.error("--cloud-init boots a host per server: not with --shared-host")
    with open(ARGS.token, encoding="utf-8") as f:
        ARGS.token = f.read().strip()
    if setup:
        setup()
    load_spec()
    os.makedirs(os.path.join(ARGS.dir, "hosts"), exist_ok=True)
    open(os.path.join(ARGS.dir, "violations.jsonl"), "a").close()
    srv = ThreadingHTTPServer(("127.0.0.1", ARGS.port), Handler)
    srv.daemon_threads = True
    ARGS.port = srv.server_address[1]
    for addr in ARGS.also_listen:
        if addr == "bridge":
            addr = ARGS.prefix + ".1"
        extra = ThreadingHTTPServer((addr, ARGS.port), Handler)
        extra.daemon_threads = True
        threading.Thread(target=extra.serve_forever, daemon=True).start()
    if ARGS.tls_listen:
        addr = ARGS.prefix + ".1" if ARGS.tls_listen == "bridge" else ARGS.tls_listen
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(ARGS.tls_cert, ARGS.tls_key)
        tls = ThreadingHTTPServer((addr, ARGS.port), Handler)
        tls.daemon_threads = True
        # the handshake in each connection's own thread, not in the accept loop
        tls.socket = ctx.wrap_socket(tls.socket, server_side=True,
                                     do_handshake_on_connect=False)
        threading.Thread(target=tls.serve_forever, daemon=True).start()
    signal.signal(signal.SIGTERM, stop_all)
    signal.signal(signal.SIGINT, stop_all)
    with open(os.path.join(ARGS.dir, "port"), "w") as f:
        f.write("%d\n" % ARGS.port)
    srv.serve_forever()


if __name__ == "__main__":
    main()
