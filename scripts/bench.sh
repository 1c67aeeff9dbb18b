#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# End-to-end benchmark behind `make bench`: generate 1M events once, then time
# whole `eddy run`s with hyperfine (median of several runs). Events/s = 1M / time.
set -euo pipefail
build_dir="${1:-build}"
eddy="$build_dir/eddy"
out="out/bench"
events="${EDDY_BENCH_EVENTS:-1000000}"
mkdir -p "$out"

if [ ! -f "$out/clicks.jsonl" ] || [ "$(wc -l < "$out/clicks.jsonl")" -ne "$events" ]; then
    "$eddy" gen --events "$events" --users 20000 --seed 1 --out "$out/clicks.jsonl" --truth "$out/truth.jsonl"
fi
echo "input: $out/clicks.jsonl, $events events, $(du -h "$out/clicks.jsonl" | cut -f1)"

for topology in bench/*.yaml bench/operators/*.yaml; do
    "$eddy" validate "$topology" 2>/dev/null
done
# 2M events over 1M distinct users, for the state bench (state of 1M keys).
if [ ! -f "$out/many_users.jsonl" ]; then
    awk 'BEGIN { for (i = 0; i < 2000000; i++)
        printf "{\"ts\":%d,\"user_id\":\"u%d\",\"type\":\"page_view\",\"category\":\"c%d\",\"dwell_ms\":%d,\"scroll_pct\":0.5}\n",
               1735689600000 + i * 10, i % 1000000, i % 30, i % 5000 }' > "$out/many_users.jsonl"
fi

run() { echo "$eddy --log-level warn run --no-progress $1"; }
operators=(bot_filter sessionizer window_tumbling window_sliding profile segment)
if command -v hyperfine >/dev/null 2>&1; then
    # One hyperfine run, so that every figure shares the machine's state.
    args=(-n gen "$eddy gen --events $events --users 20000 --seed 1 --out /dev/null"
          -n read_only "$(run bench/read_only.yaml)"
          -n pipeline "$(run bench/pipeline.yaml)"
          -n baseline "$(run bench/operators/baseline.yaml)")
    for op in "${operators[@]}"; do
        args+=(-n "$op" "$(run "bench/operators/$op.yaml")")
    done
    # State on RocksDB (checkpoint every second) against the same topology without state.
    args+=(-n state_no_state "$(run bench/state/no_state.yaml)"
           -n state_checkpointed "sh -c 'rm -rf $out/state && $(run bench/state/checkpointed.yaml)'"
           -n state_spilled "sh -c 'rm -rf $out/state && $(run bench/state/spilled.yaml)'")
    hyperfine --warmup 1 --runs "${EDDY_BENCH_RUNS:-5}" --export-json "$out/results.json" \
        --export-markdown "$out/results.md" "${args[@]}"
    # An operator's own rate: events / (its topology's median - the baseline's median).
    python3 - "$out/results.json" "$events" <<'PY'
import json, sys
results = {r["command"]: r["median"] for r in json.load(open(sys.argv[1]))["results"]}
events = int(sys.argv[2])
base = results["baseline"]
print(f"\n{'topology':<16} {'median s':>9} {'events/s':>12} {'operator events/s':>18}")
for name, median in results.items():
    if name.startswith("state_"):
        continue
    own = median - base
    op_rate = f"{events / own:,.0f}" if name not in ("gen", "read_only", "pipeline", "baseline") and own > 0 else ""
    print(f"{name:<16} {median:>9.3f} {events / median:>12,.0f} {op_rate:>18}")
if "state_no_state" in results:
    off, on = results["state_no_state"], results["state_checkpointed"]
    print(f"\nstate bench (2M events, 1M keys): without state {off:.2f} s ({2e6 / off:,.0f} events/s), "
          f"checkpointed to RocksDB every second {on:.2f} s ({2e6 / on:,.0f} events/s), ratio {on / off:.2f}")
    spilled = results["state_spilled"]
    print(f"state larger than memory (cache 128MB): {spilled:.2f} s ({2e6 / spilled:,.0f} events/s), "
          f"ratio to checkpointed {spilled / on:.2f}")
PY
    # Peak memory of the state bench: the cache bounds keyed state (timers stay in memory).
    for topology in bench/state/no_state.yaml bench/state/checkpointed.yaml bench/state/spilled.yaml; do
        rm -rf "$out/state"
        /usr/bin/time -f "$topology: %e s, %M KB max RSS" $(run "$topology")
    done
    echo "results: $out/results.md"
else
    for topology in bench/read_only.yaml bench/pipeline.yaml bench/operators/*.yaml; do
        /usr/bin/time -f "$topology: %e s, %M KB max RSS" $(run "$topology")
    done
fi
