#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The serving benchmark (docs/benchmarks.md, "Serving"): wrk asks
# GET /v1/recommendations/{user} of a job that runs topologies/personalization.yaml
# on a live generator stream, on loopback, and the job's own metrics say how
# many events it processed meanwhile.
#
#   1. The shipped topology with its file source replaced by a live
#      `generator` (EDDY_SERVE_BENCH_RATE events/s of wall time, 10,000
#      users), prequential evaluation off (it ranks on every event; a serving
#      deployment does not run it), `parallelism` EDDY_SERVE_BENCH_PARALLELISM.
#   2. After EDDY_SERVE_BENCH_WARMUP seconds, `eddy tap` collects the
#      pseudonymized user ids the job has seen (the API is keyed like the
#      state, by pseudonym), and the events processed over the next
#      EDDY_SERVE_BENCH_SECONDS give the job's rate alone.
#   3. wrk (EDDY_SERVE_BENCH_CONNECTIONS connections, 2 threads) asks for a
#      random known user's recommendations for EDDY_SERVE_BENCH_SECONDS; the
#      events processed meanwhile give the job's rate under load.
# Writes requests/s, latency percentiles, non-2xx answers and both event
# rates, with the targets (20,000 requests/s, p99 under 5 ms, the generator's
# rate), to bench/results/serve.md (EDDY_SERVE_BENCH_RESULTS). Missed targets
# are reported, never an error.
set -euo pipefail

build_dir="${1:-build}"
eddy="$build_dir/eddy"
rate="${EDDY_SERVE_BENCH_RATE:-100000}"
seconds="${EDDY_SERVE_BENCH_SECONDS:-20}"
warmup="${EDDY_SERVE_BENCH_WARMUP:-15}"
connections="${EDDY_SERVE_BENCH_CONNECTIONS:-16}"
parallelism="${EDDY_SERVE_BENCH_PARALLELISM:-2}"
results="${EDDY_SERVE_BENCH_RESULTS:-bench/results/serve.md}"
out="out/bench/serve"

for tool in "$eddy" wrk curl python3; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "bench-serve: $tool is missing (scripts/install-deps.sh installs wrk; build first)" >&2
        exit 1
    fi
done
rm -rf "$out"
mkdir -p "$out" "$(dirname "$results")"

# 1. The topology, with a live source.
python3 - "$rate" "$parallelism" > "$out/topology.yaml" <<'EOF'
import re, sys
rate, parallelism = sys.argv[1], sys.argv[2]
text = open("topologies/personalization.yaml").read()
source = f"""sources:
  clicks:
    type: generator
    rate: {rate}
    users: 10000
    watermark: {{max_out_of_orderness: 30s, idle_timeout: 1m}}

"""
text, n = re.subn(r"^sources:\n.*?(?=^operators:)", source, text, flags=re.S | re.M)
assert n == 1, "topologies/personalization.yaml has no sources: block before operators:"
text, n = re.subn(r"^    evaluate: true\n", "    evaluate: false\n", text, flags=re.M)
assert n == 1, "topologies/personalization.yaml: recommendations has no `evaluate: true`"
print(f"parallelism: {parallelism}\n" + text, end="")
EOF
"$eddy" validate "$out/topology.yaml" >/dev/null

# Its Redis and Kafka sinks write to a local redis-server and the test broker.
# shellcheck source=scripts/personalization_servers.sh
source "$(dirname "${BASH_SOURCE[0]}")/personalization_servers.sh"
job=""
stop_job() {
    if [ -n "$job" ] && kill -0 "$job" 2>/dev/null; then
        kill -INT "$job" 2>/dev/null || true
        wait "$job" 2>/dev/null || true
    fi
    stop_personalization_servers
}
trap stop_job EXIT
start_personalization_servers "$eddy" "$out/servers"

EDDY_DEMO_OUT="$out/run" "$eddy" run --no-progress --http 127.0.0.1:0 \
    --http-port-file "$out/port" "$out/topology.yaml" >"$out/eddy.log" 2>&1 &
job=$!
for _ in $(seq 100); do
    [ -s "$out/port" ] && break
    sleep 0.1
done
if [ ! -s "$out/port" ]; then
    echo "bench-serve: the job did not start; see $out/eddy.log" >&2
    exit 1
fi
url="http://127.0.0.1:$(cat "$out/port")"
for _ in $(seq 100); do
    curl -sf "$url/ready" >/dev/null && break
    sleep 0.1
done

# Events the job's source has emitted so far.
events() {
    curl -s "$url/metrics" |
        awk '/^eddy_records_out_total\{.*component="clicks"/ { sum += $NF } END { printf "%d\n", sum }'
}

echo "== serve: warming up for ${warmup}s at $rate events/s (parallelism $parallelism)"
sleep "$warmup"
"$eddy" tap "$url" private --limit 20000 2>/dev/null |
    python3 -c '
import json, sys
seen = dict.fromkeys(json.loads(l)["record"]["user_id"] for l in sys.stdin if l.strip())
print("\n".join(list(seen)[:5000]))' >"$out/users.txt"
users="$(wc -l <"$out/users.txt")"
if [ "$users" -lt 10 ]; then
    echo "bench-serve: the tap found only $users users; see $out/eddy.log" >&2
    exit 1
fi

echo "== serve: the job alone for ${seconds}s"
e0="$(events)"
t0="$(date +%s.%N)"
sleep "$seconds"
e1="$(events)"
t1="$(date +%s.%N)"

# wrk picks a random known user per request.
{
    echo 'local users = {'
    sed 's/.*/  "&",/' "$out/users.txt"
    echo '}'
    echo 'math.randomseed(42)'
    echo 'request = function()'
    echo '  return wrk.format("GET", "/v1/recommendations/" .. users[math.random(#users)])'
    echo 'end'
} >"$out/users.lua"
echo "== serve: wrk, $connections connections, ${seconds}s, $users users"
e2="$(events)"
t2="$(date +%s.%N)"
wrk -t2 -c"$connections" -d"${seconds}s" --latency -s "$out/users.lua" "$url" | tee "$out/wrk.txt"
e3="$(events)"
t3="$(date +%s.%N)"
# How many answers came from kept rankings and how many were ranked on a shard.
curl -s "$url/metrics" | grep '^eddy_api_recommendations_total' >"$out/answered.txt" || true
curl -s "$url/v1/recommendations/$(head -1 "$out/users.txt")" >"$out/sample_answer.json"
# For comparison: the cheapest read that still reaches a shard (one
# profile's stored bytes), and /healthz (the HTTP layer alone).
sed 's#/v1/recommendations/#/v1/state/profiles/#' "$out/users.lua" >"$out/state.lua"
echo "== serve: wrk on /v1/state/profiles/{user}"
wrk -t2 -c"$connections" -d"${seconds}s" --latency -s "$out/state.lua" "$url" | tee "$out/wrk_state.txt"
echo "== serve: wrk on /healthz"
wrk -t2 -c"$connections" -d"${seconds}s" --latency "$url/healthz" | tee "$out/wrk_health.txt"
stop_job
trap - EXIT

python3 - "$out" "$results" "$rate" "$parallelism" "$connections" "$users" \
    "$e0" "$t0" "$e1" "$t1" "$e2" "$t2" "$e3" "$t3" <<'EOF'
import re, sys, subprocess
out, results, rate, parallelism, connections, users = sys.argv[1:7]
e0, t0, e1, t1, e2, t2, e3, t3 = map(float, sys.argv[7:15])

def ms(text):
    value, unit = re.match(r"([\d.]+)(us|ms|s)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1, "s": 1000}[unit]

def read_wrk(name):
    text = open(f"{out}/{name}").read()
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
    pct = {p: ms(v) for p, v in re.findall(r"^\s+(50|75|90|99)%\s+(\S+)", text, re.M)}
    return text, rps, pct

wrk, rps, pct = read_wrk("wrk.txt")
_, state_rps, state_pct = read_wrk("wrk_state.txt")
_, health_rps, health_pct = read_wrk("wrk_health.txt")
bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", wrk)
bad = int(bad.group(1)) if bad else 0
errors = re.search(r"Socket errors:.*", wrk)
alone = (e1 - e0) / (t1 - t0)
loaded = (e3 - e2) / (t3 - t2)
cpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
cpu = next((l.split(":", 1)[1].strip() for l in cpu.splitlines() if l.startswith("Model name")), "?")
answer = open(f"{out}/sample_answer.json").read().strip()
answered = dict(re.findall(r'answered_by="(\w+)"\} (\d+)', open(f"{out}/answered.txt").read()))
kept, shard = int(answered.get("kept", 0)), int(answered.get("shard", 0))
kept_share = 100.0 * kept / max(kept + shard, 1)

def met(ok):
    return "met" if ok else "**missed**"

lines = [
    "# Serving benchmark (scripts/bench_serve.sh)",
    "",
    f"Machine: {cpu}, {subprocess.run(['nproc'], capture_output=True, text=True).stdout.strip()} CPUs. "
    f"Job: topologies/personalization.yaml on a live generator at {int(float(rate))} events/s "
    f"(10,000 users), parallelism {parallelism}, evaluation off. "
    f"wrk: 2 threads, {connections} connections, GET /v1/recommendations/{{user}} "
    f"over {users} known users, on loopback.",
    "",
    "| figure | measured | target | |",
    "|---|---|---|---|",
    f"| requests/s | {rps:,.0f} | 20,000 | {met(rps >= 20000)} |",
    f"| latency p50 | {pct.get('50', float('nan')):.2f} ms | | |",
    f"| latency p90 | {pct.get('90', float('nan')):.2f} ms | | |",
    f"| latency p99 | {pct.get('99', float('nan')):.2f} ms | < 5 ms | {met(pct.get('99', 1e9) < 5)} |",
    f"| non-2xx answers | {bad} | 0 | {met(bad == 0)} |",
    f"| answers from kept rankings | {kept_share:.1f}% ({shard:,} ranked on a shard) | | |",
    f"| events/s, job alone | {alone:,.0f} | {int(float(rate)):,} | {met(alone >= 0.95 * float(rate))} |",
    f"| events/s, job under wrk | {loaded:,.0f} | {int(float(rate)):,} | {met(loaded >= 0.95 * float(rate))} |",
    "",
    "For comparison, the same wrk on cheaper endpoints of the same job:",
    "",
    "| endpoint | requests/s | p50 | p99 |",
    "|---|---|---|---|",
    f"| /v1/recommendations/{{user}} | {rps:,.0f} | {pct.get('50', 0):.2f} ms | {pct.get('99', 0):.2f} ms |",
    f"| /v1/state/profiles/{{user}} (a task on the shard, no ranking) | {state_rps:,.0f} | "
    f"{state_pct.get('50', 0):.2f} ms | {state_pct.get('99', 0):.2f} ms |",
    f"| /healthz (the HTTP layer alone) | {health_rps:,.0f} | {health_pct.get('50', 0):.2f} ms | "
    f"{health_pct.get('99', 0):.2f} ms |",
    "",
    f"Socket errors: {errors.group(0) if errors else 'none'}.",
    "",
    "One answer:",
    "",
    "```json",
    answer[:1500],
    "```",
    "",
]
open(results, "w").write("\n".join(lines))
print("\n".join(lines))
EOF
