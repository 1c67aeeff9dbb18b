#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The demo behind `make demo`: generate a clickstream, run the topologies of
# topologies/ on it (two of them through the example plugins), and say where
# the outputs are.
set -euo pipefail
build_dir="${1:-build}"
eddy="$build_dir/eddy"
out="out/demo"
mkdir -p "$out"

echo "== generating a synthetic clickstream (200,000 events, 2,000 users, 5% bots)"
"$eddy" gen --events 200000 --users 2000 --seed 42 --out "$out/clicks.jsonl" --truth "$out/truth.jsonl"

# Three broken lines show that bad input is counted and kept, never fatal.
printf '%s\n' '{"ts": 1735689600000, "user_id": "u1", "type": "page_view"' \
    '{"ts": "yesterday", "user_id": "u2", "type": "click"}' \
    'not json at all' >> "$out/clicks.jsonl"

echo "== running topologies/demo.yaml"
EDDY_DEMO_INPUT="$out/clicks.jsonl" EDDY_DEMO_OUT="$out" "$eddy" run --no-progress topologies/demo.yaml

echo
echo "== running topologies/behaviour.yaml (bot filter, sessions, windows, profiles, segments)"
EDDY_DEMO_INPUT="$out/clicks.jsonl" EDDY_DEMO_OUT="$out" "$eddy" run --no-progress topologies/behaviour.yaml

echo
echo "== running topologies/personalization.yaml (the whole pipeline: docs/personalization.md)"
# Its sinks write to Redis and Kafka: start a redis-server on a Unix socket
# and the local test broker for it, and stop both when the demo ends.
pdir="$out/personalization"
# shellcheck source=scripts/personalization_servers.sh
source "$(dirname "${BASH_SOURCE[0]}")/personalization_servers.sh"
trap stop_personalization_servers EXIT
start_personalization_servers "$eddy" "$pdir"
EDDY_DEMO_INPUT="$out/clicks.jsonl" EDDY_DEMO_OUT="$out" EDDY_HTTP_LISTEN=127.0.0.1:0 \
    "$eddy" run --no-progress topologies/personalization.yaml
redis=(redis-cli -s "$pdir/redis.sock")
user="$("${redis[@]}" --scan --pattern 'strategy:*' | sed -n 1p)"
user="${user#strategy:}"
echo
echo "   Redis holds $("${redis[@]}" dbsize) keys; for user ${user:0:16}...:"
echo "   strategy:<user>      $("${redis[@]}" get "strategy:$user" | cut -c 1-200)"
arm="$("${redis[@]}" get "strategy:$user" | sed -n 's/.*"arm":"\([a-z]*\)".*/\1/p')"
echo "   recs:$arm:<user>  $("${redis[@]}" get "recs:$arm:$user" | cut -c 1-200)..."
echo "   Kafka topic decisions: $(kcat -C -b "$KAFKA_BROKERS" -t decisions -o beginning -e -q | wc -l) messages"
stop_personalization_servers

echo
echo "== running topologies/context.yaml (the context_features plugin: local time, device, browser)"
EDDY_DEMO_INPUT="$out/clicks.jsonl" EDDY_DEMO_OUT="$out" "$eddy" run --no-progress topologies/context.yaml

echo
echo "== running topologies/experiment.yaml (the ab_assign plugin and the experiment operator: an A/B test)"
EDDY_DEMO_INPUT="$out/clicks.jsonl" EDDY_DEMO_OUT="$out" "$eddy" run --no-progress topologies/experiment.yaml

echo
echo "== running topologies/privacy.yaml (consent, pseudonyms, truncated IPs, 30-day retention)"
EDDY_DEMO_INPUT="$out/clicks.jsonl" EDDY_DEMO_OUT="$out" "$eddy" run --no-progress --fresh topologies/privacy.yaml

echo
echo "== scoring the bot filter against the generator's ground truth"
"$eddy" score --bots "$out/behaviour/bots.jsonl" --humans "$out/behaviour/events.jsonl" \
    --truth "$out/truth.jsonl"

echo
echo "outputs:"
for f in intent.jsonl mobile_intent.jsonl errors.jsonl behaviour/bots.jsonl behaviour/events.jsonl \
    behaviour/sessions.jsonl behaviour/user_minute.jsonl behaviour/user_10m.jsonl \
    behaviour/site_minute.jsonl behaviour/site_10m.jsonl behaviour/profiles.jsonl \
    behaviour/segments.jsonl behaviour/late.jsonl personalization/recommendations.jsonl \
    personalization/evaluation.jsonl personalization/segments.jsonl \
    personalization/learned_segments.jsonl personalization/segment_model.jsonl \
    personalization/strategy_estimates.jsonl personalization/sessions.jsonl \
    context/device_hourly.jsonl context/local_hours.jsonl experiment/results.jsonl \
    privacy/sessions.jsonl privacy/profiles.jsonl \
    personalization/errors.jsonl; do
    printf '  %-40s %8s lines\n' "$out/$f" "$(wc -l < "$out/$f")"
done
echo "  $out/truth.jsonl (generator ground truth: bots and segments per user)"
echo "plan: $eddy graph topologies/behaviour.yaml | dot -Tsvg > plan.svg"
