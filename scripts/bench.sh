#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The end-to-end benchmark behind `make bench` (docs/benchmarks.md). For two
# generated inputs (10k and 1M users, cached under out/bench), one hyperfine
# run per input times, as medians of EDDY_BENCH_RUNS runs:
#   parse     (a) bench/parse_only: simdjson On-Demand, every field, nothing else
#   hand      (b) bench/hand_loop: the topology's work in a hand-written loop
#   p1, p2    (c) eddy run with RocksDB state (checkpoint every 10s), parallelism 1 and 2
#   no_state  (d) the same without state and checkpoints (parallelism 1)
#   spill     (d) p1 with a 64MB state cache, so that keyed state spills to RocksDB
# then checks that (b) wrote exactly Eddy's outputs, and writes events/s,
# peak RSS, the ratios and whether each target is met to bench/results/latest.md.
# Missed targets are reported, never an error.
#
# Environment: EDDY_BENCH_EVENTS (default 5000000) and EDDY_BENCH_RUNS (default 3)
# make a quick smoke run possible (e.g. 200000 and 1); EDDY_BENCH_MICRO=0 skips
# the Google Benchmark micro-benchmarks; EDDY_BENCH_TOPOLOGIES=1 also times the
# bench/*.yaml topologies (each operator's own rate); EDDY_BENCH_KEEP=1 keeps
# the runs' outputs (several GB at 5M events).
set -euo pipefail

build_dir="${1:-build}"
events="${EDDY_BENCH_EVENTS:-5000000}"
runs="${EDDY_BENCH_RUNS:-3}"
topology="topologies/behaviour.yaml"
out="out/bench"
results="bench/results/latest.md"
eddy="$build_dir/eddy"
parse_only="$build_dir/bench/parse_only"
hand_loop="$build_dir/bench/hand_loop"
micro="$build_dir/bench/micro"

for bin in "$eddy" "$parse_only" "$hand_loop"; do
    if [ ! -x "$bin" ]; then
        echo "bench: $bin is missing; build first (make build BUILD_DIR=$build_dir)" >&2
        exit 1
    fi
done
if ! command -v hyperfine >/dev/null 2>&1; then
    echo "bench: hyperfine is missing; scripts/install-deps.sh installs it" >&2
    exit 1
fi
mkdir -p "$out" "$(dirname "$results")"

# Inputs, generated once per size and kept.
input_of() { echo "$out/clicks_${events}_$1.jsonl"; }
for users in 10000 1000000; do
    file="$(input_of "$users")"
    if [ ! -s "$file" ]; then
        echo "bench: generating $file ($events events, $users users)"
        "$eddy" gen --events "$events" --users "$users" --seed 1 --out "$file.tmp" 2>&1 |
            tee "$file.gen.txt"
        mv "$file.tmp" "$file"
    fi
done

# Compares the sink files of two runs: byte for byte, else as sorted lines
# (the order of lines may differ between runs, their content may not).
# Prints one Markdown line per file.
compare_outputs() {
    local want="$1" got="$2" name verdict
    for f in $( { (cd "$want" && find . -type f); (cd "$got" && find . -type f); } | sort -u); do
        name="${f#./}"
        if [ ! -f "$want/$f" ] || [ ! -f "$got/$f" ]; then
            verdict="**missing** in one run"
        elif cmp -s "$want/$f" "$got/$f"; then
            verdict="equal ($(wc -l < "$want/$f") lines, byte for byte)"
        elif cmp -s <(LC_ALL=C sort -S 20% "$want/$f") <(LC_ALL=C sort -S 20% "$got/$f"); then
            verdict="equal ($(wc -l < "$want/$f") lines, as sorted lines)"
        else
            verdict="**differ**: $(wc -l < "$want/$f") vs $(wc -l < "$got/$f") lines"
        fi
        echo "| $name | $verdict |"
    done
}

run_eddy="$eddy --log-level warn run --no-progress"
labels=()
for users in 10000 1000000; do
    input="$(input_of "$users")"
    label="$([ "$users" -eq 10000 ] && echo 10k || echo 1M)"
    labels+=("$label")
    dir="$out/$label"
    rm -rf "$dir"
    mkdir -p "$dir/rss"
    cat "$input" >/dev/null  # into the page cache, for every command alike
    summary="$input: $(wc -l < "$input") events, $(du -h "$input" | cut -f1)"
    if [ -f "$input.gen.txt" ]; then
        summary+=", $(grep -o '[0-9]* users seen ([0-9]* bots)' "$input.gen.txt" || true)"
    fi
    echo "$summary" > "$dir/input.txt"
    echo
    echo "== $label users: $summary"
    # Each command records its peak RSS (KB) per run through /usr/bin/time.
    timed() { echo "/usr/bin/time -f %M -a -o $dir/rss/$1 $2"; }
    on() { echo "env EDDY_DEMO_INPUT=$input EDDY_DEMO_OUT=$dir/$1"; }
    state="--fresh --checkpoint-interval 10s --state-dir"
    hyperfine --runs "$runs" --export-json "$dir/hyperfine.json" \
        -n parse "$(timed parse "$parse_only $input")" \
        -n hand "$(timed hand "$(on hand) $hand_loop $topology")" \
        -n p1 "$(timed p1 "$(on p1) $run_eddy --parallelism 1 $state $dir/state_p1 $topology")" \
        -n p2 "$(timed p2 "$(on p2) $run_eddy --parallelism 2 $state $dir/state_p2 $topology")" \
        -n no_state "$(timed no_state "$(on no_state) $run_eddy --parallelism 1 --no-state $topology")" \
        -n spill "$(timed spill "$(on spill) $run_eddy --parallelism 1 $state $dir/state_spill \
            --state-cache 64MB $topology")"

    echo "bench: comparing outputs ($label)"
    hand_check="$(compare_outputs "$dir/p1" "$dir/hand")"
    if grep -q '\*\*' <<<"$hand_check"; then
        echo "bench: (b) hand_loop's outputs DIFFER from eddy's at parallelism 1 ($label users):"
        grep '\*\*' <<<"$hand_check"
    else
        echo "bench: (b) hand_loop's outputs equal eddy's at parallelism 1 ($label users, every sink file)"
    fi
    {
        echo "hand p1 (b) hand_loop against (c) eddy at parallelism 1"
        echo "$hand_check"
        echo "no_state p1 (d) without state against (c) with state, parallelism 1"
        compare_outputs "$dir/p1" "$dir/no_state"
        echo "spill p1 (d) spilling against (c) in memory, parallelism 1"
        compare_outputs "$dir/p1" "$dir/spill"
        echo "p2 p1 (c) parallelism 2 against parallelism 1"
        compare_outputs "$dir/p1" "$dir/p2"
    } > "$dir/equality.txt"
    if [ "${EDDY_BENCH_KEEP:-0}" != 1 ]; then
        rm -rf "$dir/hand" "$dir/p1" "$dir/p2" "$dir/no_state" "$dir/spill" "$dir"/state_*
    fi
done

# Optional: the bench/ topologies side by side, each operator's own rate.
if [ "${EDDY_BENCH_TOPOLOGIES:-0}" = 1 ]; then
    input="$(input_of 10000)"
    args=()
    for t in bench/read_only.yaml bench/pipeline.yaml bench/operators/*.yaml; do
        name="$(basename "$t" .yaml)"
        args+=(-n "$name" "env EDDY_BENCH_INPUT=$input EDDY_BENCH_OUT=$out/topologies $run_eddy $t")
    done
    hyperfine --runs "$runs" --export-json "$out/topologies.json" "${args[@]}"
fi

if [ "${EDDY_BENCH_MICRO:-1}" = 1 ] && [ -x "$micro" ]; then
    echo
    echo "== micro-benchmarks"
    "$micro" --benchmark_min_time=0.5 --benchmark_out="$out/micro.json" \
        --benchmark_out_format=json
fi

cpu="$(lscpu | sed -n 's/^Model name: *//p' | head -1)"
python3 scripts/bench_report.py --events "$events" --runs "$runs" --out "$out" \
    --results "$results" --cpu "$cpu, $(nproc) CPUs" --build "$build_dir" --labels "${labels[@]}"
