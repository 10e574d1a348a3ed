#!/usr/bin/env python3
"""Seed corpora for the fuzz targets, from the repository's own files.

  seeds.py inventory DIR   inventory.example.yml, every roles/*/role.yml and
                           the inventories written by tests/e2e/*.sh
  seeds.py template DIR    every templates/* file and every string of a
                           role.yml (shell for run/unless/validate), each
                           followed by variables from the roles' defaults
                           and the example inventory

Each seed is a file named after its source, so a rerun replaces it.
"""
import glob
import hashlib
import os
import re
import sys

import yaml

FORMATS = ["plain", "shell", "verbatim", "sshd", "caddyfile", "yaml", "json", "ini", "env",
           "pg_hba", "postgresql", "haproxy", "systemd"]
DECLARED = len(FORMATS)  # TPL_DECLARED
SHELL_KEYS = {"run", "unless", "validate"}


def write(d, name, data):
    name = re.sub(r"[^A-Za-z0-9._-]", "_", name)
    if len(name) > 80:
        name = name[:60] + "-" + hashlib.sha1(name.encode()).hexdigest()[:12]
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def inventories(d):
    for p in ["inventory.example.yml"] + sorted(glob.glob("roles/*/role.yml")):
        with open(p, "rb") as f:
            write(d, p, f.read())
    # the heredocs of the end-to-end tests that write an inventory
    here = re.compile(r"<<-?'?(YML|EOF|YAML)'?\n(.*?)\n\1\n", re.S)
    for p in sorted(glob.glob("tests/e2e/*.sh")):
        with open(p, encoding="utf-8", errors="replace") as f:
            text = f.read()
        for i, m in enumerate(here.finditer(text)):
            if "project:" in m.group(2) or "layouts:" in m.group(2):
                write(d, "%s-%d" % (p, i), m.group(2).encode() + b"\n")


def load(p):
    with open(p, encoding="utf-8") as f:
        return yaml.safe_load(f) or {}


def variables():
    """Role defaults (plain or declared with a default), then the example's vars and facts."""
    v = {}
    for p in sorted(glob.glob("roles/*/role.yml")):
        for k, x in (load(p).get("vars") or {}).items():
            v[k] = x.get("default") if isinstance(x, dict) and "default" in x else x
    v.update(load("inventory.example.yml").get("vars") or {})
    v.update({"project": "shop", "env": "default", "layout": "phase1", "server_name": "app1",
              "address": "10.0.0.2", "private_address": "10.0.0.2", "admin_user": "admin",
              "admin_public_key": "ssh-ed25519 AAAA admin", "ssh_port": 22,
              "role_ports": ["80/tcp"], "container": True,
              "servers": [{"name": "app1", "id": "app1", "address": "10.0.0.2",
                           "roles": {"base": True, "postgres": True, "web": True}}]})
    return yaml.safe_dump(v, default_flow_style=False).encode()


def strings(node, key=None):
    if isinstance(node, dict):
        for k, x in node.items():
            yield from strings(x, k)
    elif isinstance(node, list):
        for x in node:
            yield from strings(x, key)
    elif isinstance(node, str) and "{" in node:
        yield key, node


def templates(d):
    tail = b"\0" + variables()
    for p in sorted(glob.glob("templates/*")):
        with open(p, "rb") as f:
            write(d, p, bytes([DECLARED]) + f.read() + tail)
    for p in sorted(glob.glob("roles/*/role.yml")):
        for i, (key, s) in enumerate(strings(load(p))):
            mode = FORMATS.index("shell") if key in SHELL_KEYS else FORMATS.index("plain")
            write(d, "%s-%s-%d" % (p, key, i), bytes([mode]) + s.encode() + tail)


def main():
    kind, d = sys.argv[1], sys.argv[2]
    os.makedirs(d, exist_ok=True)
    {"inventory": inventories, "template": templates}[kind](d)


main()
