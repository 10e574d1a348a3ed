#!/usr/bin/python3
"""A DigitalOcean API (v2) server for the test suite, built from the official
OpenAPI document (tests/cloud/specs/digitalocean.subset.json).

It shares everything but the resources with hcloud-server.py (request and
response checks against the document, violations.jsonl, requests.jsonl,
actions that take time, faults, rate limiting, the /__control endpoints,
booting a real host from the user_data of each droplet); read that file's
description.  The document is OpenAPI 3.0: 'nullable' is turned into a null
type and schemas are checked as JSON Schema draft 4.

Resources: SSH keys (/v2/account/keys), VPCs (a range that overlaps another
VPC's is refused; without ip_range a free /20 is picked), firewalls (applied to droplets
by tag), droplets (tags, user_data, vpc_uuid, backups; actions power_on,
enable_backups, disable_backups), volumes
(attach/detach actions; formatted when created with a filesystem_type, and
seen by the droplet's host at /dev/disk/by-id/scsi-0DO_Volume_NAME while
attached, as hcloud-server.py says for its volumes), load balancers (targets by tag), actions, droplet
snapshots (the droplet action snapshot, GET /v2/droplets/ID/snapshots,
DELETE /v2/images/ID; a snapshot outlives its droplet), reserved IPs
(made on a droplet or in a region, one per droplet, assigned and unassigned
by actions; they have no name and no tags), and
tags: made by the first droplet or volume that carries them and kept, as
the API does, after it is gone (GET and DELETE /v2/tags/NAME).
"""
import importlib.util
import ipaddress
import os
import sys
import threading
import time
import uuid

import jsonschema

HERE = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location("core", os.path.join(HERE, "hcloud-server.py"))
core = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(core)
ApiError = core.ApiError
LOCK = core.LOCK
STATE = core.STATE
STATE.clear()
STATE.update({"ssh_keys": {}, "vpcs": {}, "firewalls": {}, "droplets": {}, "volumes": {},
              "load_balancers": {}, "actions": {}, "tags": {}, "images": {},
              "reserved_ips": {}})
ONE = {"ssh_keys": "ssh_key", "vpcs": "vpc", "firewalls": "firewall", "droplets": "droplet",
       "volumes": "volume", "load_balancers": "load_balancer", "reserved_ips": "reserved_ip"}
# path segment -> kind
SEG = {"account/keys": "ssh_keys", "vpcs": "vpcs", "firewalls": "firewalls",
       "droplets": "droplets", "volumes": "volumes", "load_balancers": "load_balancers"}
ITEM_PATH = {"ssh_keys": "/v2/account/keys/{ssh_key_identifier}", "vpcs": "/v2/vpcs/{vpc_id}",
             "firewalls": "/v2/firewalls/{firewall_id}", "droplets": "/v2/droplets/{droplet_id}",
             "volumes": "/v2/volumes/{volume_id}",
             "load_balancers": "/v2/load_balancers/{lb_id}",
             "reserved_ips": "/v2/reserved_ips/{reserved_ip}"}


# a droplet made without a VPC lands in the region's default one, which lists no members here
DEFAULT_VPC = "00000000-0000-4000-8000-000000000001"


def nullable(s):
    """OpenAPI 3.0 'nullable: true' as JSON Schema's null type."""
    if isinstance(s, dict):
        if s.get("nullable") is True and "type" in s and not isinstance(s["type"], list):
            s["type"] = [s["type"], "null"]
            if "enum" in s:
                s["enum"] = list(s["enum"]) + [None]
        for v in s.values():
            nullable(v)
    elif isinstance(s, list):
        for v in s:
            nullable(v)


def volumes_of(did):
    """DigitalOcean's documented device path of each volume attached to droplet did."""
    return {"/dev/disk/by-id/scsi-0DO_Volume_" + v["name"]:
            (v["id"], v["size_gigabytes"], v.get("filesystem_type") or "")
            for v in STATE["volumes"].values() if did in v["droplet_ids"]}


def setup():
    core.VALIDATOR = jsonschema.Draft4Validator
    core.VOLUMES_OF = volumes_of
    core.ARGS.base_path = ""
    orig = core.load_spec

    def load():
        orig()
        nullable(core.SPEC)

    core.load_spec = load
    core.handle = handle
    core.error_body = lambda code, message: {"id": code, "message": message,
                                             "request_id": str(uuid.uuid4())}
    core.fault_code = lambda st: {500: "server_error", 503: "service_unavailable",
                                  409: "conflict", 423: "locked"}.get(st, "server_error")


def res_schema(kind):
    op = core.SPEC["paths"][ITEM_PATH[kind]]["get" if kind != "ssh_keys" else "get"]
    s = core.flat(op["responses"]["200"]["content"]["application/json"]["schema"])
    return s["properties"][ONE[kind]]


def now():
    return core.now_iso().replace("+00:00", "Z")


def action(kind, rid, typ, work=None, fail=False):
    """A DigitalOcean action: in-progress, then completed or errored."""
    aid = core.new_id()
    a = {"id": aid, "status": "in-progress", "type": typ, "started_at": now(),
         "completed_at": None, "resource_id": rid if isinstance(rid, int) else 0,
         "resource_type": kind, "region": {"slug": "fra1"}, "region_slug": "fra1"}
    a = core.synth(core.flat(core.SPEC["paths"]["/v2/actions/{action_id}"]["get"]["responses"]
                             ["200"]["content"]["application/json"]["schema"])
                   ["properties"]["action"], a)
    with LOCK:
        STATE["actions"][aid] = a

    def run():
        err = None
        t0 = time.time()
        core.busy("%s_%s" % (typ, kind), 1)
        try:
            if work:
                work()
        except Exception as e:
            err = str(e)
        while time.time() - t0 < core.ARGS.action_seconds:
            time.sleep(0.1)
        core.busy("%s_%s" % (typ, kind), -1)
        with LOCK:
            a["completed_at"] = now()
            a["status"] = "errored" if (fail or err) else "completed"

    threading.Thread(target=run, daemon=True).start()
    return a


def page(kind, items, q):
    per = min(q.get("per_page", 20), core.ARGS.max_per_page)
    p = q.get("page", 1)
    chunk = items[(p - 1) * per: p * per]
    links = {}
    if p * per < len(items):
        links = {"pages": {"next": "%s?page=%d&per_page=%d" % (kind, p + 1, per),
                           "last": "%s?page=%d&per_page=%d" % (kind, (len(items) + per - 1) // per,
                                                               per)}}
    return 200, {kind: chunk, "links": links, "meta": {"total": len(items)}}


def get(kind, rid):
    with LOCK:
        for k, v in STATE[kind].items():
            if str(k) == str(rid):
                return v
    raise ApiError(404, "not_found", "The resource you were accessing could not be found.")


def unique(kind, name):
    if any(r["name"] == name for r in STATE[kind].values()):
        raise ApiError(422, "unprocessable_entity", "name is already in use")


def ip_in(rng, used):
    base = rng.split("/")[0].rsplit(".", 1)[0]
    for n in range(2, 250):
        a = "%s.%d" % (base, n)
        if a not in used:
            return a
    raise ApiError(422, "unprocessable_entity", "no address left")


def free_range():
    """What DigitalOcean does for a VPC made without ip_range: a /20 that
    overlaps no other VPC of the account."""
    for n in range(0, 4096, 16):
        net = ipaddress.ip_network("10.%d.%d.0/20" % (100 + n // 256, n % 256))
        if not any(net.overlaps(ipaddress.ip_network(o["ip_range"]))
                   for o in STATE["vpcs"].values()):
            return str(net)
    raise ApiError(422, "unprocessable_entity", "no free VPC range left")


def used_ips():
    out = set()
    for d in STATE["droplets"].values():
        out |= {n["ip_address"] for n in d["networks"]["v4"]}
    for lb in STATE["load_balancers"].values():
        out.add(lb["ip"])
    out |= set(STATE["reserved_ips"])
    return out


def create(kind, b, fail):
    if kind == "ssh_keys":
        import base64
        import hashlib
        unique(kind, b["name"])
        try:
            blob = base64.b64decode(b["public_key"].split()[1], validate=True)
        except (ValueError, IndexError):
            raise ApiError(422, "unprocessable_entity", "invalid public key")
        h = hashlib.md5(blob).hexdigest()
        fp = ":".join(h[i:i + 2] for i in range(0, 32, 2))
        if any(k["fingerprint"] == fp for k in STATE[kind].values()):
            raise ApiError(422, "unprocessable_entity", "SSH Key is already in use on your account")
        k = core.synth(res_schema(kind), {"id": core.new_id(), "name": b["name"],
                                          "public_key": b["public_key"], "fingerprint": fp})
        STATE[kind][k["id"]] = k
        return 201, {"ssh_key": k}
    if kind == "vpcs":
        unique(kind, b["name"])
        rng = b.get("ip_range") or free_range()
        for o in STATE[kind].values():
            if ipaddress.ip_network(rng).overlaps(ipaddress.ip_network(o["ip_range"])):
                raise ApiError(422, "unprocessable_entity",
                               "ip_range %s overlaps VPC %s (%s)" % (rng, o["name"], o["ip_range"]))
        v = core.synth(res_schema(kind), {
            "id": str(uuid.uuid4()), "name": b["name"], "region": b["region"],
            "ip_range": rng, "description": b.get("description", ""),
            "default": False, "created_at": now(), "urn": "do:vpc:x"})
        v["urn"] = "do:vpc:" + v["id"]
        STATE[kind][v["id"]] = v
        return 201, {"vpc": v}
    if kind == "firewalls":
        f = core.synth(res_schema(kind), dict(b, id=str(uuid.uuid4()), status="succeeded",
                                              created_at=now(), pending_changes=[],
                                              droplet_ids=b.get("droplet_ids", []),
                                              tags=b.get("tags", [])))
        STATE[kind][f["id"]] = f
        return 202, {"firewall": f}
    if kind == "droplets":
        if "names" in b:
            raise ApiError(422, "unprocessable_entity", "the test server creates one droplet at a time")
        # droplet names need not be unique (the API reference asks it of no droplet name)
        vpc = get("vpcs", b["vpc_uuid"]) if b.get("vpc_uuid") else None
        for k in b.get("ssh_keys", []):
            if not any(str(x["id"]) == str(k) or x["fingerprint"] == k
                       for x in STATE["ssh_keys"].values()):
                raise ApiError(422, "unprocessable_entity", "ssh key %s not found" % k)
        did = core.new_id()
        used = used_ips()
        pub = core.public_ip(0) if False else ip_in(core.ARGS.prefix + ".0/24",
                                                     used | {core.ARGS.prefix + ".%d" % n
                                                             for n in range(2, 11)})
        v4 = [{"ip_address": pub, "netmask": "255.255.255.0", "gateway": core.ARGS.prefix + ".1",
               "type": "public"}]
        if vpc:
            v4.append({"ip_address": ip_in(vpc["ip_range"], used | {pub}),
                       "netmask": "255.255.255.0", "gateway": "", "type": "private"})
        d = core.synth(res_schema(kind), {
            "id": did, "name": b["name"], "status": "new", "created_at": now(),
            "tags": b.get("tags", []), "vpc_uuid": vpc["id"] if vpc else DEFAULT_VPC,
            "networks": {"v4": v4, "v6": []}, "size_slug": b["size"],
            "image": {"slug": b["image"] if isinstance(b["image"], str) else None},
            "region": {"slug": b["region"]}, "volume_ids": [], "locked": False,
            "features": [], "backup_ids": [], "snapshot_ids": [], "next_backup_window": None})
        d["image"]["slug"] = b["image"] if isinstance(b["image"], str) else None
        backups(d, b.get("backups", False))
        STATE[kind][did] = d
        ud = b.get("user_data")

        def work():
            core.boot_host(did, b["name"], pub, [n["ip_address"] for n in v4[1:]], ud)
            with LOCK:
                d["status"] = "active"

        a = action("droplet", did, "create", work=work, fail=fail)
        return 202, {"droplet": d, "links": {"actions": [
            {"id": a["id"], "rel": "create", "href": "/v2/actions/%d" % a["id"]}]}}
    if kind == "volumes":
        unique(kind, b["name"])
        v = core.synth(res_schema(kind), {
            "id": str(uuid.uuid4()), "name": b["name"], "size_gigabytes": b["size_gigabytes"],
            "region": {"slug": b.get("region")}, "droplet_ids": [], "tags": b.get("tags", []),
            "created_at": now(), "filesystem_type": b.get("filesystem_type", ""),
            "description": b.get("description", ""), "filesystem_label": ""})
        STATE[kind][v["id"]] = v
        core.volume_disk(v["id"], v["size_gigabytes"], v["filesystem_type"])
        return 201, {"volume": v}
    if kind == "load_balancers":
        unique(kind, b["name"])
        lb = core.synth(res_schema(kind), dict(
            {k: v for k, v in b.items()}, region={"slug": b.get("region")},
            id=str(uuid.uuid4()), ip=ip_in(
                core.ARGS.prefix + ".0/24", used_ips() | {core.ARGS.prefix + ".%d" % n
                                                         for n in range(2, 11)}),
            status="new", created_at=now(),
            droplet_ids=[d["id"] for d in STATE["droplets"].values()
                         if b.get("tag") in d["tags"]]))
        STATE[kind][lb["id"]] = lb

        def later():
            time.sleep(core.ARGS.action_seconds)
            with LOCK:
                lb["status"] = "active"

        threading.Thread(target=later, daemon=True).start()
        return 202, {"load_balancer": lb}
    raise ApiError(422, "unprocessable_entity", "not implemented")


def delete(kind, r):
    rid = r["id"]
    if kind == "vpcs" and any(d.get("vpc_uuid") == rid for d in STATE["droplets"].values()):
        raise ApiError(409, "conflict", "VPC has members")
    if kind == "volumes" and r["droplet_ids"]:
        raise ApiError(409, "conflict", "volume is attached to a droplet")
    if kind == "droplets":
        def gone():
            core.busy("delete_droplet", 1)
            time.sleep(core.ARGS.action_seconds)
            core.busy("delete_droplet", -1)
            core.stop_host(rid)
            with LOCK:
                STATE["droplets"].pop(rid, None)
                for v in STATE["volumes"].values():
                    v["droplet_ids"] = [x for x in v["droplet_ids"] if x != rid]
                for f in STATE["firewalls"].values():
                    f["droplet_ids"] = [x for x in f["droplet_ids"] if x != rid]
                for r in STATE["reserved_ips"].values():
                    if r["droplet_id"] == rid:
                        r["droplet_id"] = None
        # (the bundled document's status enum lost "off" to YAML 1.1, which
        # read it as false: a deleted droplet stays "active" until it is gone)
        threading.Thread(target=gone, daemon=True).start()
        return 204, None
    del STATE[kind][rid]
    if kind == "volumes":
        threading.Thread(target=core.volume_disk_gone, args=(rid,), daemon=True).start()
    return 204, None


def note_tags(b):
    for t in b.get("tags", []):
        STATE["tags"].setdefault(t, {"name": t})


def tag_view(name):
    n = {k: sum(1 for r in STATE[k].values() if name in r.get("tags", []))
         for k in ("droplets", "volumes")}
    return {"name": name, "resources": {"count": sum(n.values()),
                                        "droplets": {"count": n["droplets"]},
                                        "volumes": {"count": n["volumes"]}}}


def lb_sync():
    """A load balancer targets the droplets that carry its tag, as they do now."""
    for lb in STATE["load_balancers"].values():
        if lb.get("tag"):
            lb["droplet_ids"] = [d["id"] for d in STATE["droplets"].values()
                                 if lb["tag"] in d["tags"]]


def tag_resources(method, name, b):
    """POST/DELETE /v2/tags/NAME/resources: the tag must exist (404)."""
    if name not in STATE["tags"]:
        raise ApiError(404, "not_found", "The resource you were accessing could not be found.")
    for res in b["resources"]:
        kind = {"droplet": "droplets", "volume": "volumes"}.get(res["resource_type"])
        if not kind:
            raise ApiError(422, "unprocessable_entity", "the test server tags droplets and volumes")
        r = next((v for k, v in STATE[kind].items() if str(k) == str(res["resource_id"])), None)
        if not r:
            raise ApiError(404, "not_found", "no %s %s" % (res["resource_type"], res["resource_id"]))
        if method == "POST" and name not in r["tags"]:
            r["tags"].append(name)
        if method == "DELETE":
            r["tags"] = [t for t in r["tags"] if t != name]
    lb_sync()
    return 204, None


def tag(method, name):
    if name not in STATE["tags"]:
        raise ApiError(404, "not_found", "The resource you were accessing could not be found.")
    if method == "GET":
        return 200, {"tag": tag_view(name)}
    # deleting a tag takes it off every resource that carries it
    del STATE["tags"][name]
    for k in ("droplets", "volumes"):
        for r in STATE[k].values():
            r["tags"] = [t for t in r.get("tags", []) if t != name]
    return 204, None


SNAPSHOT_OF = {}  # image id -> the droplet it is a snapshot of


def snapshot(d, body, fail):
    """The droplet action snapshot: an image of the droplet's disk, listed
    with the droplet's snapshots once the action has run."""
    iid = core.new_id()

    def work():
        size = core.host_size_gb(d["id"])
        with LOCK:
            if fail:  # a failed snapshot leaves no image
                return
            STATE["images"][iid] = {
                "id": iid, "name": body.get("name") or "%s-%d" % (d["name"], int(time.time())),
                "created_at": now(), "regions": [d["region"]["slug"]],
                "min_disk_size": d.get("disk") or 25, "size_gigabytes": size, "type": "snapshot"}
            d["snapshot_ids"].append(iid)
            SNAPSHOT_OF[iid] = d["id"]

    return action("droplet", d["id"], "snapshot", work=work, fail=fail)


def backups(d, on):
    """A droplet's backups on (the feature, and the next window: tomorrow's
    day) or off."""
    d["features"] = [f for f in d["features"] if f != "backups"] + (["backups"] if on else [])
    day = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 86400))
    d["next_backup_window"] = ({"start": day + "T00:00:00Z", "end": day + "T23:00:00Z"}
                               if on else None)


def rip_view(r):
    """A reserved IP as the API shows it: its droplet whole, or null."""
    d = STATE["droplets"].get(r["droplet_id"]) if r["droplet_id"] is not None else None
    return core.synth(res_schema("reserved_ips"), {
        "ip": r["ip"], "region": {"slug": r["region"]}, "droplet": d, "locked": False,
        "project_id": "746c6152-2fa2-11ed-92d3-27aaa54e4988"})


def rip_put_on(r, did):
    """Reserved IP r on droplet did, which may hold no other."""
    d = get("droplets", did)
    if any(x["droplet_id"] == did and x["ip"] != r["ip"] for x in STATE["reserved_ips"].values()):
        raise ApiError(422, "unprocessable_entity", "the droplet already has a reserved IP")
    r["droplet_id"], r["region"] = d["id"], d["region"]["slug"]


def reserved_ips(method, tmpl, pv, q, body, fail):
    """/v2/reserved_ips and below; the IP is the identifier."""
    if tmpl == "/v2/reserved_ips" and method == "GET":
        return page("reserved_ips", [rip_view(r) for _, r in sorted(STATE["reserved_ips"].items())], q)
    if tmpl == "/v2/reserved_ips" and method == "POST":
        ip = ip_in(core.ARGS.prefix + ".0/24",
                   used_ips() | {core.ARGS.prefix + ".%d" % n for n in range(2, 200)})
        r = {"ip": ip, "name": ip, "region": body.get("region"), "droplet_id": None}
        links = {"droplets": [], "actions": []}
        if "droplet_id" in body:
            rip_put_on(r, body["droplet_id"])
            a = action("reserved_ip", 0, "assign_ip", fail=fail)
            links = {"droplets": [{"id": r["droplet_id"], "rel": "droplet",
                                   "href": "/v2/droplets/%d" % r["droplet_id"]}],
                     "actions": [{"id": a["id"], "rel": "assign_ip",
                                  "href": "/v2/actions/%d" % a["id"]}]}
        STATE["reserved_ips"][ip] = r
        return 202, {"reserved_ip": rip_view(r), "links": links}
    r = STATE["reserved_ips"].get(pv.get("reserved_ip"))
    if not r:
        raise ApiError(404, "not_found", "The resource you were accessing could not be found.")
    if tmpl == "/v2/reserved_ips/{reserved_ip}" and method == "GET":
        return 200, {"reserved_ip": rip_view(r)}
    if tmpl == "/v2/reserved_ips/{reserved_ip}" and method == "DELETE":
        del STATE["reserved_ips"][r["ip"]]
        return 204, None
    if tmpl == "/v2/reserved_ips/{reserved_ip}/actions" and method == "POST":
        if body["type"] == "assign":
            rip_put_on(r, body["droplet_id"])
        else:
            r["droplet_id"] = None
        return 201, {"action": action("reserved_ip", 0, body["type"] + "_ip", fail=fail)}
    raise ApiError(422, "unprocessable_entity",
                   "the test server does not implement %s %s" % (method, tmpl))


def handle(method, tmpl, pv, q, body, fail):
    path = tmpl[len("/v2/"):]
    with LOCK:
        if tmpl == "/v2/tags/{tag_id}" and method in ("GET", "DELETE"):
            return tag(method, pv["tag_id"])
        if tmpl == "/v2/tags/{tag_id}/resources":
            return tag_resources(method, pv["tag_id"], body)
        if tmpl == "/v2/tags" and method == "POST":
            if body["name"] in STATE["tags"]:
                raise ApiError(422, "unprocessable_entity", "tag %s exists" % body["name"])
            STATE["tags"][body["name"]] = {"name": body["name"]}
            return 201, {"tag": tag_view(body["name"])}
        if method == "POST" and path in ("droplets", "volumes"):
            note_tags(body)
        if tmpl == "/v2/actions/{action_id}":
            return 200, {"action": get("actions", pv["action_id"])}
        if path.startswith("reserved_ips"):
            return reserved_ips(method, tmpl, pv, q, body, fail)
        if tmpl == "/v2/droplets/{droplet_id}/snapshots" and method == "GET":
            get("droplets", pv["droplet_id"])
            items = [dict(i, size_gigabytes=i["size_gigabytes"] or 0.0)
                     for i in sorted(STATE["images"].values(), key=lambda i: i["id"])
                     if SNAPSHOT_OF.get(i["id"]) == pv["droplet_id"]]
            return page("snapshots", items, q)
        if tmpl == "/v2/images/{image_id}" and method == "DELETE":
            if pv["image_id"] not in STATE["images"]:
                raise ApiError(404, "not_found", "The resource you requested could not be found.")
            del STATE["images"][pv["image_id"]]
            d = STATE["droplets"].get(SNAPSHOT_OF.pop(pv["image_id"], None))
            if d:
                d["snapshot_ids"] = [x for x in d["snapshot_ids"] if x != pv["image_id"]]
            return 204, None
        for seg, kind in SEG.items():
            if path == seg:
                if method == "GET":
                    items = sorted(STATE[kind].values(), key=lambda r: str(r["id"]))
                    if q.get("tag_name"):
                        items = [r for r in items if q["tag_name"] in r.get("tags", [])]
                    if q.get("name"):
                        items = [r for r in items if r["name"] == q["name"]]
                    return page(kind, items, q)
                if method == "POST":
                    return create(kind, body, fail)
            if path.startswith(seg + "/{") and path.count("/") == seg.count("/") + 1:
                r = get(kind, list(pv.values())[0])
                if method == "GET":
                    return 200, {ONE[kind]: r}
                if method == "DELETE":
                    return delete(kind, r)
                if method == "PUT" and kind == "load_balancers":
                    keep = {k: r[k] for k in ("id", "ip", "status", "created_at",
                                              "droplet_ids")}
                    r.clear()
                    r.update(core.synth(res_schema(kind), dict(
                        body, region={"slug": body.get("region")}, **keep)))
                    return 200, {"load_balancer": r}
                if method == "PUT" and kind == "firewalls":
                    keep = {k: r[k] for k in ("id", "status", "created_at", "pending_changes")}
                    r.clear()
                    r.update(core.synth(res_schema(kind), dict(body, **keep)))
                    return 200, {"firewall": r}
            if path.startswith(seg + "/{") and path.endswith("/actions") and method == "POST":
                r = get(kind, list(pv.values())[0])
                typ = body.get("type")
                if kind == "volumes" and typ in ("attach", "detach"):
                    d = get("droplets", body["droplet_id"])
                    if typ == "attach":
                        r["droplet_ids"] = [d["id"]]
                        d["volume_ids"].append(r["id"])
                    else:
                        r["droplet_ids"] = []
                        d["volume_ids"] = [x for x in d["volume_ids"] if x != r["id"]]
                    a = action("volume", 0, typ + "_volume", fail=fail,
                               work=lambda: core.sync_volumes(d["id"]))
                    return 202, {"action": a}
                if kind == "droplets" and typ == "snapshot":
                    return 201, {"action": snapshot(r, body, fail)}
                if kind == "droplets" and typ in ("enable_backups", "disable_backups"):
                    backups(r, typ == "enable_backups")
                    return 201, {"action": action("droplet", r["id"], typ, fail=fail)}
                if kind == "droplets" and typ == "power_on":
                    def on():
                        with LOCK:
                            r["status"] = "active"
                    return 201, {"action": action("droplet", r["id"], "power_on", work=on,
                                                  fail=fail)}
    raise ApiError(422, "unprocessable_entity",
                   "the test server does not implement %s %s" % (method, tmpl))


if __name__ == "__main__":
    core.main(setup)
