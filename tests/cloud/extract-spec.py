#!/usr/bin/python3
"""Cut the parts of a provider's OpenAPI document the cloud tests use.

    extract-spec.py hetzner FULL.json > specs/hetzner-cloud.subset.json
    extract-spec.py digitalocean BUNDLED.json [EXTRA.json...] > specs/digitalocean.subset.json

Keeps the document's top-level keys except 'paths' verbatim (info with the
general rules, servers, security, components) and, of 'paths', exactly the
paths whose first segment is listed below, each path item unchanged.  The
paths of each EXTRA document (bundle-spec.py's, from the same upstream
source) are taken as if the first document had them.
"""
import json
import sys

KEEP = {
    "hetzner": ["actions", "ssh_keys", "servers", "networks", "firewalls",
                "load_balancers", "volumes", "images", "floating_ips"],
    "digitalocean": ["v2/account", "v2/actions", "v2/droplets", "v2/firewalls",
                     "v2/load_balancers", "v2/tags", "v2/volumes", "v2/vpcs", "v2/images",
                     "v2/reserved_ips"],
}


def main():
    kind, path = sys.argv[1], sys.argv[2]
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    for extra in sys.argv[3:]:
        with open(extra, encoding="utf-8") as f:
            for p, item in json.load(f)["paths"].items():
                doc["paths"].setdefault(p, item)
    prefixes = KEEP[kind]
    out = {k: v for k, v in doc.items() if k != "paths"}
    out["paths"] = {
        p: item for p, item in doc["paths"].items()
        if any(p.lstrip("/") == x or p.lstrip("/").startswith(x + "/") for x in prefixes)
    }
    json.dump(out, sys.stdout, indent=1, sort_keys=False)
    sys.stdout.write("\n")


main()
