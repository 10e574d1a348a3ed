#!/usr/bin/python3
"""Check that every line of the given files is a JSON object that the
--json events schema (doc/events.schema.json) accepts.

    check-events.py SCHEMA FILE...

Prints one line per problem (file, line number, what is wrong) and exits 1
when there is any; an empty file is a problem too (--json printed nothing).
The schema itself must give every event type its own if/then entry.  A
reader may skip fields it does not know, but the tool's own output must
not have any: a field of an event that the schema does not describe (at the
top level, or in the event's if/then entry) is a problem.
"""
import json
import sys

import jsonschema


def main():
    schema = json.load(open(sys.argv[1]))
    jsonschema.Draft202012Validator.check_schema(schema)
    strict = dict(schema, unevaluatedProperties=False)
    validator = jsonschema.Draft202012Validator(strict)
    bad = 0
    described = set()
    for entry in schema.get("allOf", []):
        cond = entry["if"]["properties"]["event"]
        described.update(cond.get("enum", [cond.get("const")]))
    for name in schema["properties"]["event"]["enum"]:
        if name not in described:
            print("schema: event '%s' has no if/then entry" % name)
            bad += 1
    for path in sys.argv[2:]:
        lines = [l for l in open(path).read().splitlines() if l.strip()]
        if not lines:
            print("%s: no output" % path)
            bad += 1
        for n, line in enumerate(lines, 1):
            try:
                event = json.loads(line)
            except ValueError:
                print("%s:%d: not JSON: %s" % (path, n, line[:120]))
                bad += 1
                continue
            for err in validator.iter_errors(event):
                print("%s:%d: %s: %s" % (path, n, err.message, line[:120]))
                bad += 1
    sys.exit(1 if bad else 0)


main()
