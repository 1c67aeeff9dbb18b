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
# then checks that (b) wrote exactly Eddy's outputs. The Kafka part starts a
# test broker (`eddy broker`), produces generated events into one topic with
# kcat and times, side by side on that topic:
#   kcat       kcat -C -e -o beginning -q (to /dev/null)
#   consume    eddy: kafka source (assignment: all, until_end) -> null sink
#   behaviour  eddy: topologies/behaviour.yaml's operators fed from Kafka
# and, for information, kcat and consume with fetch.wait.max.ms=10 and the
# behaviour topology reading the same events from a file.
# Writes events/s, peak RSS, the ratios and whether each target is met to
# bench/results/latest.md. Missed targets are reported, never an error.
#
# Environment: EDDY_BENCH_EVENTS (default 5000000) and EDDY_BENCH_RUNS (default 3)
# make a quick smoke run possible (e.g. 200000 and 1); EDDY_BENCH_MICRO=0 skips
# the Google Benchmark micro-benchmarks; EDDY_BENCH_TOPOLOGIES=1 also times the
# bench/*.yaml topologies (each operator's own rate); EDDY_BENCH_KEEP=1 keeps
# the runs' outputs (several GB at 5M events). EDDY_BENCH_KAFKA=0 skips the
# Kafka part, EDDY_BENCH_ONLY=kafka runs only it; EDDY_BENCH_KAFKA_EVENTS
# (default 250000) and EDDY_BENCH_KAFKA_PARTITIONS (default: enough for the
# test broker to keep every event) size its topic. EDDY_BENCH_RESULTS writes
# the report elsewhere than bench/results/latest.md.
set -euo pipefail

build_dir="${1:-build}"
events="${EDDY_BENCH_EVENTS:-5000000}"
runs="${EDDY_BENCH_RUNS:-3}"
topology="topologies/behaviour.yaml"
out="out/bench"
results="${EDDY_BENCH_RESULTS:-bench/results/latest.md}"
eddy="$build_dir/eddy"
parse_only="$build_dir/bench/parse_only"
hand_loop="$build_dir/bench/hand_loop"
micro="$build_dir/bench/micro"
only="${EDDY_BENCH_ONLY:-}"
if [ -n "$only" ] && [ "$only" != kafka ]; then
    echo "bench: EDDY_BENCH_ONLY must be empty or 'kafka', got '$only'" >&2
    exit 1
fi
files_part=1
[ "$only" = kafka ] && files_part=0

needed=("$eddy")
[ "$files_part" = 1 ] && needed+=("$parse_only" "$hand_loop")
for bin in "${needed[@]}"; do
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
# Only this run's optional parts go into the report.
rm -f "$out/topologies.json" "$out/micro.json"

# Inputs, generated once per size and kept.
input_of() { echo "$out/clicks_${events}_$1.jsonl"; }
for users in 10000 1000000; do
    [ "$files_part" = 1 ] || break
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
    [ "$files_part" = 1 ] || break
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

# Kafka: one topic of a test broker read to its end by kcat and by Eddy.
kafka_dir="$out/kafka"
broker_pid=""
stop_broker() {
    if [ -n "$broker_pid" ]; then
        kill "$broker_pid" 2>/dev/null || true
        wait "$broker_pid" 2>/dev/null || true
        broker_pid=""
    fi
}
trap stop_broker EXIT

# Called as an `if` condition, so `set -e` does not apply inside: every step
# that can fail returns 1 itself.
kafka_bench() {
    local kevents="${EDDY_BENCH_KAFKA_EVENTS:-250000}"
    local input="$out/kafka_clicks_${kevents}.jsonl"
    if [ ! -s "$input" ]; then
        echo "bench: generating $input ($kevents events, 10000 users)"
        "$eddy" gen --events "$kevents" --users 10000 --seed 1 --out "$input.tmp" 2>&1 |
            tee "$input.gen.txt" || return 1
        mv "$input.tmp" "$input" || return 1
    fi
    # The test broker keeps about 5 MiB per partition and silently prunes
    # older data: about 2.5 MiB per partition on average leaves room for
    # users (keys) spread unevenly.
    local bytes partitions
    bytes="$(stat -c %s "$input")"
    partitions=$(( (bytes + 2621439) / 2621440 ))
    [ "$partitions" -ge 16 ] || partitions=16
    partitions="${EDDY_BENCH_KAFKA_PARTITIONS:-$partitions}"
    rm -rf "$kafka_dir"
    mkdir -p "$kafka_dir/rss"
    "$eddy" broker --partitions "$partitions" --topic "clicks:$partitions" \
        --bootstrap-file "$kafka_dir/bootstrap.txt" >/dev/null 2>"$kafka_dir/broker.log" &
    broker_pid=$!
    for _ in $(seq 200); do
        [ -s "$kafka_dir/bootstrap.txt" ] && break
        sleep 0.05
    done
    if [ ! -s "$kafka_dir/bootstrap.txt" ]; then
        echo "bench: eddy broker did not start; see $kafka_dir/broker.log" >&2
        return 1
    fi
    local brokers
    brokers="$(head -1 "$kafka_dir/bootstrap.txt")"
    echo
    echo "== kafka: $kevents events into topic clicks ($partitions partitions) of $brokers"
    # Keyed by user_id, as a clickstream topic is: each user's events stay in
    # order in one partition.
    awk '{ i = index($0, "\"user_id\":\""); s = substr($0, i + 11);
           print substr(s, 1, index(s, "\"") - 1) "\t" $0 }' "$input" |
        kcat -P -b "$brokers" -t clicks -K $'\t' -X linger.ms=20 -X batch.num.messages=10000 \
            -X queue.buffering.max.messages=1000000 2>>"$kafka_dir/kcat.log"
    local stored
    stored="$(kcat -C -b "$brokers" -t clicks -e -o beginning -q 2>>"$kafka_dir/kcat.log" | wc -l)"
    if [ "$stored" -ne "$kevents" ]; then
        echo "bench: the topic holds $stored of $kevents events (the test broker prunes" \
            "beyond about 5 MiB per partition); set EDDY_BENCH_KAFKA_PARTITIONS above" \
            "$partitions" >&2
        return 1
    fi
    echo "$input: $kevents events, $(du -h "$input" | cut -f1), keyed by user_id into" \
        "$partitions partitions of one \`eddy broker\` (all $stored there before timing)" \
        >"$kafka_dir/input.txt"
    timed() { echo "/usr/bin/time -f %M -a -o $kafka_dir/rss/$1 $2"; }
    # No state: nothing is committed. A group of its own per run (eddy-bench-
    # and the pid of hyperfine's shell, which expands $$) has no committed
    # offsets either, so every run reads from the beginning.
    on() {  # $1: fetch.wait.max.ms, $2: group
        echo "env EDDY_BENCH_BROKERS=$brokers EDDY_BENCH_GROUP=$2" \
            "EDDY_BENCH_FETCH_WAIT_MS=$1 EDDY_BENCH_OUT=$kafka_dir"
    }
    local group='eddy-bench-$$'
    local kcat_cmd="kcat -C -b $brokers -t clicks -e -o beginning -q"
    local consume="$run_eddy --no-state bench/kafka_read_only.yaml"
    local behaviour="$run_eddy --no-state bench/kafka_behaviour.yaml"
    hyperfine --runs "$runs" --export-json "$kafka_dir/hyperfine.json" \
        -n kcat "$(timed kcat "$kcat_cmd") > /dev/null" \
        -n consume "$(timed consume "$(on 500 "$group") $consume")" \
        -n behaviour "$(timed behaviour "$(on 500 "$group") $behaviour")" \
        -n kcat_fw10 "$(timed kcat_fw10 "$kcat_cmd -X fetch.wait.max.ms=10") > /dev/null" \
        -n consume_fw10 "$(timed consume_fw10 "$(on 10 "$group") $consume")" \
        -n behaviour_file "$(timed behaviour_file "env EDDY_DEMO_INPUT=$input \
            EDDY_DEMO_OUT=$kafka_dir/file $run_eddy --no-state $topology")" || return 1
    # What Eddy read, once more at info level: every event, once.
    {
        echo "consume: $($(on 500 eddy-bench-check) "$eddy" --log-level info run --no-progress \
            --no-state bench/kafka_read_only.yaml 2>&1 | grep -o 'read [0-9]* message(s)[^;]*' ||
            echo 'no summary')"
        echo "behaviour: $(cat "$kafka_dir"/behaviour/*.jsonl | wc -l) output lines (its last run)"
    } >"$kafka_dir/check.txt"
    cat "$kafka_dir/check.txt"
    stop_broker
    if [ "${EDDY_BENCH_KEEP:-0}" != 1 ]; then
        rm -rf "$kafka_dir/behaviour" "$kafka_dir/file"
    fi
}

kafka_part=0
if [ "${EDDY_BENCH_KAFKA:-1}" = 0 ]; then
    echo "bench: EDDY_BENCH_KAFKA=0: skipping the Kafka benchmark"
elif ! command -v kcat >/dev/null 2>&1; then
    echo "bench: kcat is missing: skipping the Kafka benchmark (scripts/install-deps.sh installs it)"
elif kafka_bench; then
    kafka_part=1
else
    echo "bench: the Kafka benchmark failed; its results are left out" >&2
    stop_broker
fi

# Optional: the bench/ topologies side by side, each operator's own rate.
if [ "$files_part" = 1 ] && [ "${EDDY_BENCH_TOPOLOGIES:-0}" = 1 ]; then
    input="$(input_of 10000)"
    args=()
    for t in bench/read_only.yaml bench/pipeline.yaml bench/operators/*.yaml; do
        name="$(basename "$t" .yaml)"
        args+=(-n "$name" "env EDDY_BENCH_INPUT=$input EDDY_BENCH_OUT=$out/topologies $run_eddy $t")
    done
    hyperfine --runs "$runs" --export-json "$out/topologies.json" "${args[@]}"
fi

if [ "$files_part" = 1 ] && [ "${EDDY_BENCH_MICRO:-1}" = 1 ] && [ -x "$micro" ]; then
    echo
    echo "== micro-benchmarks"
    "$micro" --benchmark_min_time=0.5 --benchmark_out="$out/micro.json" \
        --benchmark_out_format=json
fi

cpu="$(lscpu | sed -n 's/^Model name: *//p' | head -1)"
kafka_args=()
if [ "$kafka_part" = 1 ]; then
    kafka_args=(--kafka-events "${EDDY_BENCH_KAFKA_EVENTS:-250000}")
fi
python3 scripts/bench_report.py --events "$events" --runs "$runs" --out "$out" \
    --results "$results" --cpu "$cpu, $(nproc) CPUs" --build "$build_dir" \
    --labels "${labels[@]}" "${kafka_args[@]}"
