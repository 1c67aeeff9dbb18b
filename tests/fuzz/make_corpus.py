#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Regenerates the seed corpora of tests/fuzz/corpus/ from the repository's
topologies, fixtures and component reference, `eddy gen` output, and a list
of hostile inputs (deep nesting, huge numbers, NUL bytes, invalid UTF-8,
truncated documents, duplicate keys). Usage, from the repository root:

    python3 tests/fuzz/make_corpus.py [path/to/eddy]

The eddy binary (default build/eddy) writes the clickstream seeds; without it
those seeds are left as they are. Needs PyYAML (python3-yaml)."""
import glob
import os
import subprocess
import sys

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CORPUS = os.path.join(ROOT, "tests", "fuzz", "corpus")

# First-byte modes of the line targets (see json_line_fuzz.cc and csv_line_fuzz.cc).
JSON_TS_AUTO, JSON_TS_MS, JSON_TS_S, JSON_TS_US, JSON_TS_NS, JSON_TS_ISO, JSON_NO_TS = range(7)


def csv_mode(delimiter=",", columns=False, unit=6):
    """delimiter: , ; tab |; columns: fixed csv_columns instead of a header row; unit as above."""
    return ",;\t|".index(delimiter) | (4 if columns else 0) | (unit << 3)


def write(target, name, data):
    path = os.path.join(CORPUS, target, name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogateescape")
    with open(path, "wb") as f:
        f.write(data)


def read(path):
    with open(os.path.join(ROOT, path), "rb") as f:
        return f.read()


HUGE_NUMBERS = [
    "1e400", "-1e400", "1e-400", "18446744073709551616", "18446744073709551615",
    "9223372036854775807", "9223372036854775808", "-9223372036854775808",
    "-9223372036854775809", "-0", "-0.0", "0e0", "1.7976931348623157e308",
    "4.9e-324", "1" * 400, "0." + "0" * 300 + "1", "1" + "0" * 30 + ".5",
]


def json_seeds(eddy):
    t = "json_line"
    if eddy:
        for unit, name, args in [
            (JSON_TS_MS, "gen_ms", ["--seed", "1"]),
            (JSON_TS_AUTO, "gen_auto_bots", ["--seed", "2", "--bot-share", "0.5"]),
            (JSON_NO_TS, "gen_no_time", ["--seed", "3", "--missing-rate", "0.5"]),
        ]:
            out = subprocess.run([eddy, "gen", "--events", "12", "--users", "5", *args],
                                 check=True, capture_output=True).stdout
            write(t, name, bytes([unit]) + out)
    write(t, "fixture_clicks", bytes([JSON_TS_AUTO]) + read("tests/fixtures/io/clicks.jsonl"))
    write(t, "fixture_e2e", bytes([JSON_TS_MS]) + read("tests/fixtures/e2e/clicks.jsonl"))
    one = '{"ts": 1764320000123, "user_id": "u123", "type": "page_view", "item_id": "i42", ' \
          '"geo": {"country": "DE", "city": {"name": "Berlin"}}, "dwell_ms": 5300, ' \
          '"scroll_pct": 0.75, "emb": [0.5, 1, -2e3], "tags": ["a", 1, null, {"b": [true]}]}'
    write(t, "truncated", bytes([JSON_TS_AUTO]) +
          "\n".join(one[:n] for n in range(0, len(one), 7)).encode())
    write(t, "huge_numbers", bytes([JSON_TS_AUTO]) + "\n".join(
        f'{{"ts": {n}, "v": {n}, "a": [{n}, 1]}}' for n in HUGE_NUMBERS).encode())
    write(t, "huge_numbers_ns", bytes([JSON_TS_NS]) + "\n".join(
        f'{{"ts": {n}}}' for n in HUGE_NUMBERS).encode())
    write(t, "huge_numbers_us", bytes([JSON_TS_US]) + "\n".join(
        f'{{"ts": {n}}}' for n in HUGE_NUMBERS).encode())
    write(t, "huge_numbers_s", bytes([JSON_TS_S]) + "\n".join(
        f'{{"ts": {n}}}' for n in HUGE_NUMBERS).encode())
    write(t, "iso_times", bytes([JSON_TS_ISO]) + "\n".join(f'{{"ts": "{s}"}}' for s in [
        "2025-11-28T10:00:00Z", "2025-11-28T10:00:00.123456789+01:00", "2025-11-28 10:00:00",
        "2025-11-28T10:00Z", "2025-11-28", "2025-11-28T10:00:00+0100", "2025-11-28T10:00:00-23",
        "9999-12-31T23:59:59Z", "0000-01-01T00:00:00Z", "2025-02-30T25:61:61Z",
        "2025-11-28T10:00:00.Z", "2025-11-28T10:00:00+99:99", "-2025-01-01", "", "1764320000123",
        "1e400", "2025-11-28T10:00:00." + "9" * 50 + "Z"]).encode())
    write(t, "odd_times", bytes([JSON_TS_AUTO]) + b"\n".join([
        b'{"ts": true}', b'{"ts": null}', b'{"ts": [1]}', b'{"ts": {"x": 1}}', b'{"ts": "x"}',
        b'{"ts": -1}', b'{"ts": 1e11}', b'{"ts": 99999999999.999}', b'{"ts": 7258118400000}',
        b'{"user_id": "no time"}', b'{"ts": 0.5}']))
    write(t, "deep_objects_ok", bytes([JSON_NO_TS]) +
          ('{"a":' * 500 + "1" + "}" * 500).encode())
    write(t, "deep_objects_over", bytes([JSON_NO_TS]) +
          ('{"a":' * 1100 + "1" + "}" * 1100).encode())
    write(t, "deep_arrays", bytes([JSON_NO_TS]) +
          ('{"a":' + "[" * 1000 + "]" * 1000 + "}\n" +
           '{"a":' + "[" * 1100 + "]" * 1100 + "}").encode())
    write(t, "deep_mixed", bytes([JSON_NO_TS]) +
          ('{"a":' + '[{"b":' * 300 + "null" + "}]" * 300 + "}").encode())
    write(t, "nul_bytes", bytes([JSON_TS_AUTO]) + b"\n".join([
        b'{"a": "x\x00y"}', b'{"a": "x\\u0000y", "\\u0000": 1}', b'{"a": 1}\x00',
        b'\x00{"a": 1}', b'{"a\x00": 1}', b'{"ts": 1764320000123, "a": "\\u0000"}']))
    write(t, "invalid_utf8", bytes([JSON_TS_AUTO]) + b"\n".join([
        b'{"a": "\xff"}', b'{"a": "\xc0\xaf"}', b'{"\xed\xa0\x80": 1}', b'{"a": "\xe2\x82"}',
        b'{"a": "\x80abc"}', b'{"a": "\xf4\x90\x80\x80"}', b'{"a": "ok"}\xfe',
        b'{"a": "\\ud800"}', b'{"a": "\\udc00\\ud800"}', b'{"a": "\\ud83d\\ude00"}',
        b'\xef\xbb\xbf{"a": 1}']))
    write(t, "duplicate_keys", bytes([JSON_TS_AUTO]) + b"\n".join([
        b'{"a": 1, "a": 2}', b'{"a.b": 1, "a": {"b": 2}}', b'{"ts": 1764320000123, "ts": "x"}',
        b'{"a": {"b": 1}, "a": [1, 2]}', b'{"a": [1], "a": {"c": "d"}, "a": null}',
        b'{"": 1, "": {"": 2}, ".": 3}']))
    write(t, "arrays", bytes([JSON_NO_TS]) + b"\n".join([
        b'{"v": [1, 2, 1e39, -1e39, 3.4028235677973366e38]}', b'{"v": []}', b'{"v": [[]]}',
        b'{"v": [1, "a", {"b": null}, [true, false]]}', b'{"v": [18446744073709551615, -1]}',
        b'{"v": [' + b",".join(b"1.5" for _ in range(300)) + b"]}"]))
    write(t, "not_objects", bytes([JSON_TS_AUTO]) + b"\n".join([
        b"", b" ", b"[]", b"42", b'"s"', b"null", b"true", b"{} {}", b"{}\r", b"{\"a\":1}\r",
        b"\t{ \"a\" : 1 }\t", b"{,}", b'{"a":1,}', b"{'a': 1}", b"{a: 1}", b'{"a": NaN}',
        b'{"a": Infinity}', b'{"a": 01}', b'{"a": .5}', b'{"a": 1.}', b'{"a": +1}']))
    write(t, "escapes", bytes([JSON_NO_TS]) +
          b'{"s": "\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\u20ac\\uD834\\uDD1E", "k\\n": "\\u001f"}')


def csv_seeds():
    t = "csv_line"
    write(t, "fixture_clicks", bytes([csv_mode(unit=JSON_TS_AUTO)]) +
          read("tests/fixtures/io/clicks.csv"))
    write(t, "columns", bytes([csv_mode(columns=True, unit=JSON_TS_MS)]) + b"\n".join([
        b"1764320000123,u1,page_view,i42,5300,0.75", b"1764320000124,u2,click,,,",
        b'1764320000125,"u3","a ""quoted"" type",i1,1,1', b"1764320000126,u4,x,i2,1,2,3",
        b"1764320000127,u5", b""]))
    write(t, "semicolon", bytes([csv_mode(";", unit=JSON_TS_ISO)]) +
          b"ts;user_id;type;amount\n2025-11-28T10:00:00Z;u1;purchase;19,99\n"
          b"2025-11-28 10:00:00;u2;click;\n2025-11-28;u3;view;1e400\n")
    write(t, "tab", bytes([csv_mode("\t", unit=JSON_NO_TS)]) +
          b"ts\tuser_id\tnote\n1\tu1\t\"tab\tinside\"\n2\tu2\t\n")
    write(t, "pipe_bom_header", bytes([csv_mode("|")]) +
          b"\xef\xbb\xbfts||user_id|\n1|a|b|c\n")
    write(t, "quoting", bytes([csv_mode()]) + b"\n".join([
        b"a,b,c", b'"x,y","z""",w', b'"unterminated,1,2', b'"x"y,1,2', b'"",,""', b'""""",1,2',
        b'"a\rb",1,2', b'x"y,1,2', b",,", b",", b'"', b'""', b'"a""', b"a,b,c\r"]))
    write(t, "numbers", bytes([csv_mode(unit=JSON_TS_AUTO)]) + "\n".join(
        ["ts,v"] + [f"{n},{n}" for n in HUGE_NUMBERS + [
            "nan", "NaN", "inf", "-inf", "infinity", "0x10", "1_000", ".5", "-", "-.", "1e", "1e+",
            "+1", "00012", "1.5e308", "-1.5e309", "TRUE", "False", "tRuE", "1764320000123.999"]]
    ).encode())
    write(t, "numbers_ns", bytes([csv_mode(unit=JSON_TS_NS)]) + "\n".join(
        ["ts"] + HUGE_NUMBERS).encode())
    write(t, "nul_and_utf8", bytes([csv_mode(unit=JSON_NO_TS)]) + b"\n".join([
        b"a,b", b"x\x00y,1", b"\x00,\x00", b"\xff,1", b"\xc0\xaf,2", b"\xed\xa0\x80,3",
        b"\xe2\x82,4", b'"\xf4\x90\x80\x80",5', b"caf\xc3\xa9,6"]))
    write(t, "bad_header", bytes([csv_mode()]) + b'"unterminated\na,b\n1,2')
    write(t, "utf8_header", bytes([csv_mode()]) + b"\xff\xfe,a\n1,2\nts,\xc3\xa9\n")
    write(t, "wide", bytes([csv_mode()]) +
          (",".join(f"c{i}" for i in range(200)) + "\n" +
           ",".join(str(i) for i in range(200))).encode())


def topology_seeds():
    t = "topology"
    for pattern in ["topologies/*.yaml", "bench/*.yaml", "tests/fixtures/topologies/*.yaml",
                    "tests/fixtures/*.yaml", "tests/fixtures/e2e/*.yaml", "plugins/*/topology.yaml"]:
        for path in sorted(glob.glob(os.path.join(ROOT, pattern))):
            rel = os.path.relpath(path, ROOT)
            write(t, rel.replace("/", "__"), read(rel))
    demo = read("topologies/demo.yaml")
    for n in (len(demo) // 3, len(demo) // 2, 2 * len(demo) // 3):
        write(t, f"truncated_demo_{n}", demo[:n])
    base = "sources:\n  clicks: {type: generator, events: 10}\n"
    sink = "sinks:\n  out: {type: stdout, input: clicks}\n"
    write(t, "deep_flow_lists", base + "operators:\n  f: {type: filter, input: clicks, "
          "field: a, op: in, values: " + "[" * 1500 + "]" * 1500 + "}\n" + sink)
    write(t, "deep_flow_maps", "name: " + "{a: " * 1200 + "b" + "}" * 1200 + "\n" + base + sink)
    write(t, "deep_block_maps", base + "".join("  " * i + f"k{i}:\n" for i in range(300)) + sink)
    write(t, "recursive_alias", "name: &a [*a]\n" + base + sink)
    write(t, "alias_reuse", "x: &w {type: generator, events: 10}\n"
          "sources:\n  clicks: *w\n  more: *w\n" + sink)
    laughs = "a: &a [x, x, x, x, x, x, x, x]\n"
    for i, name in enumerate("bcdef"):
        prev = "abcdef"[i]
        laughs += f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 8) + "]\n"
    write(t, "alias_expansion", laughs + base + sink)
    write(t, "huge_numbers", "".join([
        "name: n\nparallelism: 1e400\n",
        "state: {dir: s, checkpoint_interval: 99999999999999999999d, memory: 1e30GB}\n",
        "sources:\n  clicks: {type: generator, events: 18446744073709551616, users: -0,\n",
        "           seed: " + "9" * 400 + ", rate: 1e-400, max_out_of_order: 9223372036854775807ms}\n",
        "operators:\n  s: {type: sessionizer, input: clicks, key: user_id, gap: 1e400m,\n",
        "      max_events: -9223372036854775809, parallelism: 4294967297}\n",
        "sinks:\n  out: {type: stdout, input: s}\n"]))
    write(t, "nul_and_utf8", b"name: \"a\x00b\"\nsources:\n  cl\xffcks: {type: generator}\n"
          b"  \xc0\xaf: {type: generator}\n  ok\x00: {type: file, path: \"\\0\"}\n" +
          sink.encode() + b"\x00")
    write(t, "duplicates", base + "sources:\n  clicks: {type: generator}\n"
          "operators:\n  f: {type: filter, input: clicks, field: a, field: b}\n"
          "  f: {type: select, input: clicks}\n" + sink + "sinks: {}\n")
    write(t, "variables", "name: ${HOME}\ndescription: \"$${literal} ${UNSET_EDDY_VAR:-fallback} "
          "${} ${A${B}} ${UNCLOSED\"\n" + base.replace("10", "${EVENTS:-10}") + sink)
    write(t, "yaml_features", "%YAML 1.2\n---\n!!map\nname: !!str 1\n? [complex, key]\n: v\n"
          "sources: !custom\n  clicks: {type: !!binary aGVsbG8=, events: !!int 10}\n"
          "sinks: |\n  literal\n...\n---\nsecond: doc\n")
    write(t, "flow_edge_cases", "{sources: {clicks: {type: generator, events: 10}}, "
          "operators: {}, sinks: {out: {type: null, inputs: [clicks, clicks.errors, "
          "clicks.nope, ., '', clicks.]}}}")


def operator_bodies():
    """Operator bodies from docs/operators.md examples and the shipped topologies."""
    bodies = []
    docs = read("docs/operators.md").decode()
    section = docs.split("\n## operators\n", 1)[1].split("\n## sinks\n", 1)[0]
    for block in section.split("```yaml\n")[1:]:
        text = block.split("```", 1)[0]
        doc = yaml.safe_load(text)
        for body in (doc.get("operators") or {}).values():
            bodies.append(body)
    for pattern in ["topologies/*.yaml", "bench/*.yaml", "plugins/*/topology.yaml"]:
        for path in sorted(glob.glob(os.path.join(ROOT, pattern))):
            try:
                doc = yaml.safe_load(read(os.path.relpath(path, ROOT)))
            except yaml.YAMLError:
                continue
            for body in ((doc or {}).get("operators") or {}).values():
                bodies.append(body)
    return bodies


def operator_seeds():
    t = "operator_params"
    seen = set()
    counts = {}
    for body in operator_bodies():
        if not isinstance(body, dict) or "type" not in body:
            continue
        text = yaml.safe_dump(body, sort_keys=False, default_flow_style=False)
        if text in seen:
            continue
        seen.add(text)
        counts[body["type"]] = counts.get(body["type"], 0) + 1
        write(t, f"{body['type']}_{counts[body['type']]}", b"\x00" + text.encode())
    # Without `type`, the first byte picks the operator.
    for i in range(16):
        write(t, f"by_index_{i}", bytes([i]) + b"key: user_id\n")
    write(t, "huge_numbers", b"\x00" + "".join(
        f"p{i}: {n}\n" for i, n in enumerate(HUGE_NUMBERS)).encode())
    write(t, "sessionizer_huge", b"\x00type: sessionizer\nkey: user_id\ngap: 1e400m\n"
          b"max_events: 18446744073709551616\nallowed_lateness: -9223372036854775808ms\n")
    write(t, "window_huge", b"\x00type: window\nkey: user_id\nsize: 99999999999999999999d\n"
          b"slide: 0ms\n")
    write(t, "deep_list", b"\x00type: filter\nfield: a\nop: in\nvalues: " +
          b"[" * 1000 + b"]" * 1000 + b"\n")
    write(t, "nul_and_utf8", b"\x00type: filter\nfield: \"a\x00b\"\nop: eq\nvalue: \"\xff\xfe\"\n"
          b"\xc0\xaf: 1\n")
    write(t, "duplicate_keys", b"\x00type: select\nfields: [a]\nfields: [b]\ntype: filter\n")


def main():
    eddy = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build", "eddy")
    if not os.access(eddy, os.X_OK):
        print(f"make_corpus: {eddy} not found; keeping the `eddy gen` seeds", file=sys.stderr)
        eddy = None
    json_seeds(eddy)
    csv_seeds()
    topology_seeds()
    operator_seeds()


if __name__ == "__main__":
    main()
