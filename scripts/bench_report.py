#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Turns the measurements of scripts/bench.sh into bench/results/latest.md:
events/s and peak RSS per command and input, the ratios against their
targets (met / missed; a miss is reported, never an error), the output
equality checks, the Kafka comparison with kcat, the micro-benchmarks, the
machine and library versions. Also prints the report."""
import argparse
import datetime
import json
import os
import re
import statistics
import subprocess

COMMANDS = ["parse", "hand", "p1", "p2", "no_state", "spill"]
DESCRIBE = {
    "parse": "(a) parse only: simdjson On-Demand, every field",
    "hand": "(b) hand-written loop (bench/hand_loop)",
    "p1": "(c) eddy, RocksDB state, checkpoint 10s, parallelism 1",
    "p2": "(c) eddy, RocksDB state, checkpoint 10s, parallelism 2",
    "no_state": "(d) eddy without state (--no-state), parallelism 1",
    "spill": "(d) eddy, RocksDB state, --state-cache 64MB, parallelism 1",
}
# (name, numerator, denominator, inputs the target applies to, minimum)
RATIOS = [
    ("(c)p1 / (a) parse only", "p1", "parse", {"10k": 0.25}),
    ("(c)p1 / (b) hand loop", "p1", "hand", {"10k": 0.6, "1M": 0.5}),
    ("(c)p2 / (c)p1", "p2", "p1", {"10k": 1.6, "1M": 1.6}),
    ("checkpoints on / off: (c)p1 / (d)no_state", "p1", "no_state", {"10k": 0.9, "1M": 0.9}),
    ("spilling / in memory: (d)spill / (c)p1", "spill", "p1", {"1M": 0.7}),
]
RSS_LIMIT_MB = 1024
# The Kafka part: hyperfine command names, in scripts/bench.sh's order.
KAFKA_COMMANDS = ["kcat", "consume", "behaviour", "kcat_fw10", "consume_fw10", "behaviour_file"]
KAFKA_DESCRIBE = {
    "kcat": "kcat -C -e -o beginning -q, to /dev/null",
    "consume": "eddy consume-only: kafka source (JSON, event time) -> null sink",
    "behaviour": "eddy behaviour topology fed from Kafka (bench/kafka_behaviour.yaml)",
    "kcat_fw10": "kcat as above, fetch.wait.max.ms=10 (information)",
    "consume_fw10": "eddy consume-only, fetch.wait.max.ms=10 (information)",
    "behaviour_file": "eddy behaviour topology reading the same events from a file (information)",
}
# (name, numerator, denominator, minimum or None)
KAFKA_RATIOS = [
    ("consume-only / kcat", "consume", "kcat", 0.9),
    ("behaviour / kcat", "behaviour", "kcat", 0.6),
    ("consume-only / kcat, both fetch.wait.max.ms=10", "consume_fw10", "kcat_fw10", None),
    ("behaviour fed from a file / kcat: the most behaviour can reach", "behaviour_file", "kcat",
     None),
    ("behaviour fed from Kafka / from a file", "behaviour", "behaviour_file", None),
]
LIBRARIES = [
    "librocksdb-dev", "libtbb-dev", "libsimdjson-dev", "libyaml-cpp-dev", "libre2-dev",
    "libspdlog-dev", "libfmt-dev", "libbenchmark-dev", "libzstd-dev", "zlib1g-dev", "hyperfine",
    "librdkafka-dev", "kcat",
]


def run(cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        return ""


def load_input(out, label):
    """Median seconds and peak RSS (MB) per command of one input."""
    with open(os.path.join(out, label, "hyperfine.json")) as f:
        results = json.load(f)["results"]
    medians = {}
    for name, r in zip(COMMANDS, results):
        medians[name] = statistics.median(r["times"])
    rss = {}
    for name in COMMANDS:
        path = os.path.join(out, label, "rss", name)
        if os.path.exists(path):
            values = [int(line) for line in open(path) if re.fullmatch(r"\d+\s*", line)]
            if values:
                rss[name] = max(values) / 1024
    return medians, rss


def load_kafka(out):
    """Median seconds and peak RSS (MB) per command of the Kafka part."""
    with open(os.path.join(out, "kafka", "hyperfine.json")) as f:
        results = json.load(f)["results"]
    medians = {r["command"]: statistics.median(r["times"]) for r in results}
    rss = {}
    for name in KAFKA_COMMANDS:
        path = os.path.join(out, "kafka", "rss", name)
        if os.path.exists(path):
            values = [int(line) for line in open(path) if re.fullmatch(r"\d+\s*", line)]
            if values:
                rss[name] = max(values) / 1024
    return medians, rss


def kafka_section(out, events):
    """The Kafka part of the report, as Markdown lines."""
    medians, rss = load_kafka(out)
    md = ["## Kafka: Eddy next to kcat on the same topic\n"]
    for name in ("input.txt", "check.txt"):
        path = os.path.join(out, "kafka", name)
        if os.path.exists(path):
            for line in open(path):
                if line.strip():
                    md.append(f"- {line.strip()}")
    md.append("")
    md.append("| measurement | median s | events/s | peak RSS MB |")
    md.append("|---|---:|---:|---:|")
    for name in KAFKA_COMMANDS:
        if name in medians:
            m = medians[name]
            peak = f"{rss[name]:.0f}" if name in rss else "?"
            md.append(f"| {KAFKA_DESCRIBE[name]} | {m:.3f} | {fmt_rate(events / m)} | {peak} |")
    md.append("")
    md.append("| ratio of events/s | value | target | verdict |")
    md.append("|---|---:|---|---|")
    for title, num, den, target in KAFKA_RATIOS:
        if num not in medians or den not in medians:
            continue
        ratio = medians[den] / medians[num]
        if target is None:
            md.append(f"| {title} | {ratio:.3f} | (information) | |")
        else:
            verdict = "met" if ratio >= target else "**missed**"
            md.append(f"| {title} | {ratio:.3f} | >= {target} | {verdict} |")
    md.append("")
    return md


def load_equality(out, label):
    """[(title, [(file, verdict)])] from equality.txt."""
    sections = []
    path = os.path.join(out, label, "equality.txt")
    if not os.path.exists(path):
        return sections
    for line in open(path):
        line = line.rstrip("\n")
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            sections[-1][1].append((cells[0], cells[1]))
        elif line:
            sections.append((line.split(" ", 2)[2], []))
    return sections


def fmt_rate(x):
    return f"{x:,.0f}"


def file_sections(a, data):
    """The file inputs' part of the report (inputs, throughput, ratios,
    output checks), as Markdown lines."""
    md = []
    md.append("Inputs (`eddy gen --seed 1`; users seen are those with at least one event):\n")
    for label in a.labels:
        path = os.path.join(a.out, label, "input.txt")
        if os.path.exists(path):
            md.append(f"- {label} users: {open(path).read().strip()}")
    md.append("")

    md.append("## Throughput and memory\n")
    header = "| measurement | " + " | ".join(
        f"{l} users: median s | events/s | peak RSS MB" for l in a.labels) + " |"
    md.append(header)
    md.append("|---|" + "---:|---:|---:|" * len(a.labels))
    for name in COMMANDS:
        cells = []
        for label in a.labels:
            medians, rss = data[label]
            if name in medians:
                m = medians[name]
                cells += [f"{m:.2f}", fmt_rate(a.events / m),
                          f"{rss[name]:.0f}" if name in rss else "?"]
            else:
                cells += ["", "", ""]
        md.append(f"| {DESCRIBE[name]} | " + " | ".join(cells) + " |")
    md.append("")

    md.append("## Ratios and targets\n")
    md.append("Ratios of throughput (events/s), so higher is better.\n")
    md.append("| ratio | " + " | ".join(f"{l} users" for l in a.labels) + " | target | verdict |")
    md.append("|---|" + "---:|" * len(a.labels) + "---|---|")
    for title, num, den, targets in RATIOS:
        cells = []
        verdicts = []
        for label in a.labels:
            medians, _ = data[label]
            if num in medians and den in medians:
                ratio = medians[den] / medians[num]
                cells.append(f"{ratio:.3f}")
                if label in targets:
                    ok = ratio >= targets[label]
                    verdicts.append(f"{label}: {'met' if ok else '**missed**'}")
            else:
                cells.append("")
        target = ", ".join(f">= {v} at {k}" for k, v in targets.items())
        md.append(f"| {title} | " + " | ".join(cells) + f" | {target} | {'; '.join(verdicts)} |")
    if "1M" in data and "p1" in data["1M"][1]:
        peak = data["1M"][1]["p1"]
        ok = peak < RSS_LIMIT_MB
        md.append(f"| peak RSS of (c)p1 at 1M users, MB | | {peak:.0f} | < {RSS_LIMIT_MB} "
                  f"(5M events) | {'met' if ok else '**missed**'} |")
    md.append("")

    md.append("## Outputs\n")
    md.append("Each sink file of one run against the same file of another: byte for byte, "
              "else as sorted lines.\n")
    for label in a.labels:
        for title, files in load_equality(a.out, label):
            md.append(f"**{label} users, {title}**\n")
            md.append("| file | result |")
            md.append("|---|---|")
            for f, verdict in files:
                md.append(f"| {f} | {verdict} |")
            md.append("")
    return md


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, required=True)
    ap.add_argument("--runs", type=int, required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--results", required=True)
    ap.add_argument("--cpu", default="")
    ap.add_argument("--build", default="build")
    ap.add_argument("--labels", nargs="*", default=[])
    ap.add_argument("--kafka-events", type=int, default=0,
                    help="events in the Kafka part's topic; 0: no Kafka part ran")
    a = ap.parse_args()

    data = {label: load_input(a.out, label) for label in a.labels}
    smoke = a.events != 5_000_000 or a.runs < 3
    md = []
    now = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    commit = run(["git", "rev-parse", "--short", "HEAD"])
    if run(["git", "status", "--porcelain", "--untracked-files=no"]):
        commit += " with uncommitted changes"
    md.append(f"# Benchmark results{' (smoke run)' if smoke else ''}\n")
    sizes = f"{a.events:,} events per input" if a.labels else "Kafka part only"
    md.append(f"`make bench` on {now}, commit {commit}. {sizes}, "
              f"median of {a.runs} run(s) each (hyperfine). See docs/benchmarks.md.\n")
    if smoke:
        md.append("**Smoke run**: fewer events or runs than the full benchmark (5,000,000 "
                  "events, 3 runs); the targets are judged anyway but only a full run counts.\n")

    if a.labels:
        md += file_sections(a, data)
    if a.kafka_events:
        md += kafka_section(a.out, a.kafka_events)

    topologies = os.path.join(a.out, "topologies.json")
    if os.path.exists(topologies):
        with open(topologies) as f:
            results = json.load(f)["results"]
        md.append("## bench/ topologies (10k users input)\n")
        md.append("An operator's own rate is events / (its topology's median - baseline's).\n")
        md.append("| topology | median s | events/s | operator's own events/s |")
        md.append("|---|---:|---:|---:|")
        medians = {r["command"]: statistics.median(r["times"]) for r in results}
        base = medians.get("baseline")
        for name, m in medians.items():
            own = m - base if base else 0
            own_rate = fmt_rate(a.events / own) if own > 0 and name not in (
                "read_only", "pipeline", "baseline") else ""
            md.append(f"| {name} | {m:.2f} | {fmt_rate(a.events / m)} | {own_rate} |")
        md.append("")

    micro = os.path.join(a.out, "micro.json")
    if os.path.exists(micro):
        with open(micro) as f:
            benchmarks = json.load(f)["benchmarks"]
        md.append("## Micro-benchmarks (bench/micro, Google Benchmark)\n")
        md.append("| benchmark | ns per item | items/s |")
        md.append("|---|---:|---:|")
        for b in benchmarks:
            rate = b.get("items_per_second")
            if rate:
                md.append(f"| {b['name']} | {1e9 / rate:,.0f} | {fmt_rate(rate)} |")
        md.append("")

    md.append("## Machine\n")
    md.append(f"- CPU: {a.cpu}")
    mem = run(["sh", "-c", "free -g | awk '/^Mem:/ {print $2}'"])
    md.append(f"- memory: {mem} GB; kernel {run(['uname', '-r'])}")
    cxx = ""
    cache = os.path.join(a.build, "CMakeCache.txt")
    if os.path.exists(cache):
        for line in open(cache):
            if line.startswith("CMAKE_CXX_COMPILER:"):
                cxx = run([line.split("=", 1)[1].strip(), "--version"]).splitlines()[0]
    md.append(f"- compiler: {cxx or '?'}")
    md.append("- libraries (Debian packages):")
    versions = run(["dpkg-query", "-W", "-f", "${Package} ${Version}\\n"] + LIBRARIES)
    for line in versions.splitlines():
        md.append(f"  - {line}")
    md.append("")

    text = "\n".join(md)
    with open(a.results, "w") as f:
        f.write(text)
    print()
    print(text)
    print(f"bench: wrote {a.results}")


if __name__ == "__main__":
    main()
