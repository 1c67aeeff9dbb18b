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

for topology in bench/read_only.yaml bench/pipeline.yaml; do
    "$eddy" validate "$topology" 2>/dev/null
done
if command -v hyperfine >/dev/null 2>&1; then
    hyperfine --warmup 1 --runs "${EDDY_BENCH_RUNS:-5}" --export-markdown "$out/results.md" \
        -n gen "$eddy gen --events $events --users 20000 --seed 1 --out /dev/null" \
        -n read_only "$eddy --log-level warn run --no-progress bench/read_only.yaml" \
        -n pipeline "$eddy --log-level warn run --no-progress bench/pipeline.yaml"
    echo "results: $out/results.md (events/s = $events / mean seconds)"
else
    for topology in bench/read_only.yaml bench/pipeline.yaml; do
        /usr/bin/time -f "$topology: %e s, %M KB max RSS" "$eddy" --log-level warn run --no-progress "$topology"
    done
fi
