#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The demo behind `make demo-kafka`: start `eddy broker` (a local test broker,
# not a Kafka to keep data in), produce a generated clickstream into it, run
# topologies/kafka.yaml from Kafka to Kafka, and read the output topics back.
set -euo pipefail
build_dir="${1:-build}"
eddy="$build_dir/eddy"
out="out/demo"
dir="$out/kafka"
rm -rf "$dir"
mkdir -p "$dir"

echo "== starting eddy broker on 127.0.0.1 (librdkafka's mock cluster, for development and tests)"
"$eddy" broker --topic clicks:8 --topic sessions:4 --topic profiles:4 --topic segments:4 \
    --bootstrap-file "$dir/bootstrap.txt" >/dev/null 2>"$dir/broker.log" &
broker=$!
trap 'kill "$broker" 2>/dev/null || true; wait "$broker" 2>/dev/null || true' EXIT
for _ in $(seq 100); do
    [ -s "$dir/bootstrap.txt" ] && break
    sleep 0.1
done
if [ ! -s "$dir/bootstrap.txt" ]; then
    echo "eddy broker did not start:" >&2
    cat "$dir/broker.log" >&2
    exit 1
fi
KAFKA_BROKERS="$(cat "$dir/bootstrap.txt")"
export KAFKA_BROKERS
echo "   brokers: $KAFKA_BROKERS"

echo "== producing 50,000 generated events to topic clicks, keyed by user_id"
"$eddy" gen --events 50000 --users 1000 --seed 42 --out "$dir/clicks.jsonl" 2>/dev/null
cat > "$dir/produce.yaml" <<YAML
# File to Kafka: what a collector would do.
name: produce
sources:
  file: {type: file, path: $dir/clicks.jsonl}
sinks:
  clicks: {type: kafka, input: file, brokers: "$KAFKA_BROKERS", topic: clicks, key_field: user_id}
YAML
"$eddy" run --no-progress --log-level warn "$dir/produce.yaml" 2>&1 | grep -E "^  (source|sink|duration)"

echo
echo "== running topologies/kafka.yaml until the end of the topic (until_end)"
EDDY_KAFKA_UNTIL_END=true EDDY_DEMO_OUT="$out" "$eddy" run --no-progress topologies/kafka.yaml

echo
echo "== the output topics, read back with kcat"
for topic in sessions profiles segments; do
    kcat -C -b "$KAFKA_BROKERS" -t "$topic" -o beginning -e -q > "$dir/$topic.jsonl"
    printf '  %-9s %7s messages, e.g. %s\n' "$topic" "$(wc -l < "$dir/$topic.jsonl")" \
        "$(head -c 160 "$dir/$topic.jsonl" | head -n 1)..."
done
echo
echo "state (offsets included): $dir/state; bots: $dir/bots.jsonl"
