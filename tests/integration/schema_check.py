#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Validates JSON documents against a topology JSON Schema from `eddy schema`.

Usage: schema_check.py SCHEMA.json DOCUMENT.json...

The schema is first checked against the draft-07 meta-schema. Then one line
per problem: `DOCUMENT: invalid: /json/path: message`, or `DOCUMENT: ok`.
Exit code 0 when every document is valid, 1 when one is not, 2 when the
schema itself is not a valid draft-07 schema or a file cannot be read.
Written for python3-jsonschema 4.10 (Debian 12) and later.
"""
import json
import sys

import jsonschema


def describe(error):
    """The message of `error`, with the reasons of each alternative of an anyOf."""
    message = error.message
    if error.context:
        reasons = sorted({sub.message for sub in error.context})
        message += " (" + "; ".join(reasons) + ")"
    return message


def main(argv):
    if len(argv) < 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    try:
        with open(argv[1], encoding="utf-8") as f:
            schema = json.load(f)
        jsonschema.Draft7Validator.check_schema(schema)
    except (OSError, ValueError, jsonschema.SchemaError) as e:
        print(f"{argv[1]}: not a valid draft-07 schema: {e}", file=sys.stderr)
        return 2
    validator = jsonschema.Draft7Validator(schema)
    all_valid = True
    for path in argv[2:]:
        try:
            with open(path, encoding="utf-8") as f:
                document = json.load(f)
        except (OSError, ValueError) as e:
            print(f"{path}: unreadable: {e}", file=sys.stderr)
            return 2
        errors = sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
        if not errors:
            print(f"{path}: ok")
        for error in errors:
            all_valid = False
            where = "/" + "/".join(str(p) for p in error.absolute_path)
            print(f"{path}: invalid: {where}: {describe(error)}")
    return 0 if all_valid else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
