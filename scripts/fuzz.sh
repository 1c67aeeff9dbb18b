#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Builds the libFuzzer targets of tests/fuzz/ with clang, ASan and UBSan in a
# build directory of their own, then runs each for FUZZ_SECONDS on a scratch
# copy of its seed corpus (the repository is not modified). Exits non-zero when
# any target finds a crash, a leak, a timeout or an out-of-memory, and prints
# the reproducer. See docs/fuzzing.md.
#
# Usage: scripts/fuzz.sh [BUILD_DIR]          (default: build-fuzz)
# Environment: FUZZ_SECONDS  seconds per target (default 60)
#              FUZZ_TARGETS  targets to run (default: all of them)
#              FUZZ_WORK     scratch directory (default: BUILD_DIR/fuzz-work)
#              JOBS          build jobs (default 2)
set -euo pipefail
cd "$(dirname "$0")/.."

build="${1:-build-fuzz}"
seconds="${FUZZ_SECONDS:-60}"
jobs="${JOBS:-2}"
work="${FUZZ_WORK:-$build/fuzz-work}"
read -r -a targets <<<"${FUZZ_TARGETS:-json_line csv_line topology operator_params}"

# Longest input per target: a few KB holds any real line or topology and
# deep nesting, while short inputs keep the executions fast.
max_len() {
    case "$1" in
        json_line) echo 8192 ;;
        csv_line) echo 4096 ;;
        topology) echo 16384 ;;
        operator_params) echo 4096 ;;
        *) echo 4096 ;;
    esac
}

if ! [[ "$seconds" =~ ^[1-9][0-9]*$ ]]; then
    echo "fuzz: FUZZ_SECONDS must be a positive number of seconds, got '$seconds'" >&2
    exit 2
fi
for tool in clang clang++ cmake; do
    if ! command -v "$tool" >/dev/null; then
        echo "fuzz: $tool is missing; run scripts/install-deps.sh (make deps)" >&2
        exit 2
    fi
done

if [ -f "$build/CMakeCache.txt" ]; then
    if ! grep -q '^CMAKE_CXX_COMPILER:.*clang' "$build/CMakeCache.txt"; then
        echo "fuzz: $build was configured without clang; remove it or pass another directory" >&2
        exit 2
    fi
    if ! grep -qx "CMAKE_HOME_DIRECTORY:INTERNAL=$PWD" "$build/CMakeCache.txt"; then
        echo "fuzz: $build was configured for another source tree; remove it" >&2
        exit 2
    fi
fi
if [ ! -f "$build/CMakeCache.txt" ]; then
    # -O1 -g without NDEBUG: readable sanitizer stacks, and assertions stay on.
    CC=clang CXX=clang++ cmake -S . -B "$build" \
        -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g -D_GLIBCXX_ASSERTIONS" \
        -DEDDY_FUZZ=ON -DEDDY_SANITIZE="address;undefined" \
        -DEDDY_BUILD_TESTS=OFF -DEDDY_BUILD_BENCH=OFF
fi
start=$(date +%s)
cmake --build "$build" -j"$jobs" --target eddy_fuzzers
echo "fuzz: build took $(($(date +%s) - start)) s"

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

failed=()
summary=()
for t in "${targets[@]}"; do
    binary="$build/fuzz/fuzz_$t"
    seeds="tests/fuzz/corpus/$t"
    if [ ! -x "$binary" ]; then
        echo "fuzz: no target $t ($binary); known: json_line csv_line topology operator_params" >&2
        exit 2
    fi
    dir="$work/$t"
    rm -rf "$dir"
    mkdir -p "$dir/corpus" "$dir/artifacts"
    if [ -d "$seeds" ]; then
        cp -R "$seeds/." "$dir/corpus/"
    fi
    echo "fuzz: $t for ${seconds}s ($(find "$dir/corpus" -type f | wc -l) seeds)"
    rc=0
    "$binary" -max_total_time="$seconds" -max_len="$(max_len "$t")" -timeout=10 \
        -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$dir/artifacts/" \
        "$dir/corpus" >"$dir/log" 2>&1 || rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$dir/log" | tail -1)
    cov=$(grep -o 'cov: [0-9]*' "$dir/log" | tail -1 || true)
    summary+=("$(printf '%-16s %10s execs %7s/s  %s' "$t" "${execs:-?}" "${rate:-?}" "${cov:-}")")
    artifacts=$(find "$dir/artifacts" -type f)
    if [ "$rc" -ne 0 ] || [ -n "$artifacts" ]; then
        failed+=("$t")
        echo "fuzz: $t FAILED (exit $rc); the end of $dir/log:" >&2
        grep -v '^#[0-9]' "$dir/log" | tail -60 >&2
        for a in $artifacts; do
            echo "fuzz: reproducer: $a" >&2
            echo "fuzz:   replay with: $binary $a" >&2
        done
    fi
done

echo "fuzz: summary"
printf '  %s\n' "${summary[@]}"
if [ ${#failed[@]} -ne 0 ]; then
    echo "fuzz: findings in: ${failed[*]} (see above; docs/fuzzing.md says how to reproduce)" >&2
    exit 1
fi
echo "fuzz: no findings"
