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
echo "== running topologies/personalization.yaml (profiles, segments, k-means, hybrid recommendations)"
EDDY_DEMO_INPUT="$out/clicks.jsonl" EDDY_DEMO_OUT="$out" "$eddy" run --no-progress topologies/personalization.yaml

echo
echo "== running topologies/context.yaml (the context_features plugin: local time, device, browser)"
EDDY_DEMO_INPUT="$out/clicks.jsonl" EDDY_DEMO_OUT="$out" "$eddy" run --no-progress topologies/context.yaml

echo
echo "== running topologies/experiment.yaml (the ab_assign plugin: an A/B test by salted hash)"
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
    context/device_hourly.jsonl context/local_hours.jsonl experiment/daily.jsonl \
    experiment/purchases.jsonl privacy/sessions.jsonl privacy/profiles.jsonl \
    personalization/errors.jsonl; do
    printf '  %-40s %8s lines\n' "$out/$f" "$(wc -l < "$out/$f")"
done
echo "  $out/truth.jsonl (generator ground truth: bots and segments per user)"
echo "plan: $eddy graph topologies/behaviour.yaml | dot -Tsvg > plan.svg"
