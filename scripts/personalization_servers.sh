# SPDX-License-Identifier: Apache-2.0
# Sourced by scripts/demo.sh and scripts/bench_serve.sh: the servers that
# topologies/personalization.yaml writes to. start_personalization_servers
# EDDY DIR starts a redis-server on a Unix socket in DIR and the local test
# broker (`eddy broker`, topics decisions and recommendations), and exports
# EDDY_REDIS and KAFKA_BROKERS for the topology; stop_personalization_servers
# stops both (call it from an EXIT trap too).

personalization_servers=()

stop_personalization_servers() {
    for pid in "${personalization_servers[@]}"; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    personalization_servers=()
}

start_personalization_servers() {
    local eddy="$1" dir="$2"
    mkdir -p "$dir"
    rm -f "$dir/redis.sock" "$dir/brokers.txt"
    redis-server --port 0 --unixsocket "$dir/redis.sock" --save '' --appendonly no \
        >"$dir/redis.log" 2>&1 &
    personalization_servers+=($!)
    "$eddy" broker --topic decisions:4 --topic recommendations:4 \
        --bootstrap-file "$dir/brokers.txt" >/dev/null 2>"$dir/broker.log" &
    personalization_servers+=($!)
    for _ in $(seq 100); do
        [ -S "$dir/redis.sock" ] && [ -s "$dir/brokers.txt" ] && break
        sleep 0.1
    done
    if [ ! -S "$dir/redis.sock" ] || [ ! -s "$dir/brokers.txt" ]; then
        echo "redis-server or eddy broker did not start:" >&2
        cat "$dir/redis.log" "$dir/broker.log" >&2
        return 1
    fi
    EDDY_REDIS="unix:$dir/redis.sock"
    KAFKA_BROKERS="$(cat "$dir/brokers.txt")"
    export EDDY_REDIS KAFKA_BROKERS
}
