#!/usr/bin/python3
"""Bundle paths of DigitalOcean's split OpenAPI source into one document.

    bundle-spec.py SPECIFICATION_DIR PREFIX... > extra.json

Reads SPECIFICATION_DIR/DigitalOcean-public.v2.yaml (the upstream split
source, digitalocean/openapi) and writes {"paths": {...}} with exactly the
paths whose part after the leading '/' is a PREFIX or starts with PREFIX/,
every $ref inlined (as the published bundle has them) and the code samples
(x-codeSamples) left out.  extract-spec.py merges the result into the
subset the tests use.
"""
import json
import os
import sys

import yaml

CACHE = {}


class Loader(yaml.SafeLoader):
    """YAML as the published bundle reads it, but a time stays its text."""


Loader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:timestamp"]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()}


def load(path):
    if path not in CACHE:
        with open(path, encoding="utf-8") as f:
            CACHE[path] = yaml.load(f, Loader=Loader)
    return CACHE[path]


def pointer(doc, frag):
    for part in [p for p in frag.split("/") if p]:
        doc = doc[part.replace("~1", "/").replace("~0", "~")]
    return doc


def inline(node, base, doc):
    """node with every $ref replaced by what it points at (base: its file)."""
    if isinstance(node, list):
        return [inline(x, base, doc) for x in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node and isinstance(node["$ref"], str):
        ref = node["$ref"]
        file, _, frag = ref.partition("#")
        target = os.path.normpath(os.path.join(os.path.dirname(base), file)) if file else base
        tdoc = load(target) if file else doc
        return inline(pointer(tdoc, frag), target, tdoc)
    return {k: inline(v, base, doc) for k, v in node.items() if k != "x-codeSamples"}


def main():
    root = os.path.join(sys.argv[1], "DigitalOcean-public.v2.yaml")
    doc = load(root)
    prefixes = sys.argv[2:]
    paths = {p: inline(item, root, doc) for p, item in doc["paths"].items()
             if any(p.lstrip("/") == x or p.lstrip("/").startswith(x + "/") for x in prefixes)}
    json.dump({"paths": paths}, sys.stdout, indent=1)
    sys.stdout.write("\n")


main()
