#!/usr/bin/env bash
# docs/scale-out.md, "Bench": 1, 2 and 3 `eddy run` processes with
# scale_out: kafka reading one topic of a test broker to its end, at once.
# Two times, medians of EDDY_BENCH_RUNS runs (default 3): wall, from the
# first start to the last exit (it includes the group's first join, which
# the broker delays 3 s), and work, from the first partitions taken (the
# logs' "took partition(s)") to the last exit. Each run has its own job name, group and
# changelog topic. Usage: scripts/bench_scale_out.sh [BUILD_DIR]
set -euo pipefail
build_dir="${1:-build}"
eddy="$build_dir/eddy"
runs="${EDDY_BENCH_RUNS:-3}"
events="${EDDY_BENCH_SCALE_OUT_EVENTS:-240000}"
partitions=48  # the test broker keeps about 5 MiB per partition: ~1.5 MiB each
out="out/bench/scale_out"
command -v kcat >/dev/null || { echo "bench: kcat is missing (scripts/install-deps.sh)" >&2; exit 1; }
rm -rf "$out"
mkdir -p "$out"

topics=(--topic "clicks:$partitions")
for n in 1 2 3; do
    for r in $(seq "$runs"); do
        topics+=(--topic "so_${n}_${r}-changelog:$partitions")
    done
done
"$eddy" broker "${topics[@]}" --bootstrap-file "$out/bootstrap.txt" >/dev/null 2>"$out/broker.log" &
broker_pid=$!
trap 'kill $broker_pid 2>/dev/null || true; wait $broker_pid 2>/dev/null || true' EXIT
for _ in $(seq 200); do
    [ -s "$out/bootstrap.txt" ] && break
    sleep 0.05
done
brokers="$(head -1 "$out/bootstrap.txt")"

"$eddy" gen --events "$events" --users 10000 --seed 1 --out "$out/clicks.jsonl" >/dev/null 2>&1
# Keyed by user_id and partitioned as Kafka's Java client does (murmur2).
awk '{ i = index($0, "\"user_id\":\""); s = substr($0, i + 11);
       print substr(s, 1, index(s, "\"") - 1) "\t" $0 }' "$out/clicks.jsonl" |
    kcat -P -b "$brokers" -t clicks -K $'\t' -X partitioner=murmur2_random -X linger.ms=20 \
        -X batch.num.messages=10000 -X queue.buffering.max.messages=1000000 2>>"$out/kcat.log"
stored="$(kcat -C -b "$brokers" -t clicks -e -o beginning -q 2>>"$out/kcat.log" | wc -l)"
if [ "$stored" -ne "$events" ]; then
    echo "bench: the topic holds $stored of $events events (the test broker prunes beyond" \
        "about 5 MiB per partition)" >&2
    exit 1
fi
echo "== scale-out: $events events, $(du -h "$out/clicks.jsonl" | cut -f1), $partitions partitions" \
    "of $brokers; bot_filter, sessionizer and profile keyed by user_id"

for n in 1 2 3; do
    times=()
    works=()
    for r in $(seq "$runs"); do
        job="so_${n}_${r}"
        start=$(date +%s.%N)
        pids=()
        for p in $(seq "$n"); do
            EDDY_BENCH_JOB="$job" EDDY_BENCH_STATE="$out/$job/state_$p" \
                EDDY_BENCH_BROKERS="$brokers" "$eddy" run --no-progress bench/scale_out.yaml \
                >/dev/null 2>"$out/${job}_$p.log" &
            pids+=($!)
        done
        for pid in "${pids[@]}"; do
            wait "$pid" || { echo "bench: a process of $job failed; see $out/${job}_*.log" >&2; exit 1; }
        done
        end=$(date +%s.%N)
        times+=("$(echo "$end - $start" | bc)")
        took=$(grep -h 'took partition' "$out/${job}"_*.log | cut -c1-23 | sort | head -1)
        works+=("$(echo "$end - $(date -d "$took" +%s.%N)" | bc)")
        read_total=$(grep -ho 'read [0-9]* message' "$out/${job}"_*.log | awk '{s += $2} END {print s}')
        if [ "$read_total" -lt "$events" ]; then
            echo "bench: $job read $read_total of $events messages" >&2
            exit 1
        fi
    done
    median() { printf '%s\n' "$@" | sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
    wall=$(median "${times[@]}")
    work=$(median "${works[@]}")
    printf '%d process(es): wall %.2f s, work %.2f s (%s), %.0f events/s of work\n' "$n" \
        "$wall" "$work" "$(printf '%.2f ' "${works[@]}")" "$(echo "$events / $work" | bc -l)"
done
