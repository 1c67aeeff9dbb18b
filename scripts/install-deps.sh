#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Installs every Debian package that Eddy's build, tests and benchmarks need.
# Non-interactive and idempotent: packages already present are skipped, and
# apt-get runs only when something is missing.
set -euo pipefail

packages=(
    build-essential cmake pkg-config git
    clang-format clang-tidy
    clang libclang-rt-14-dev
    libyaml-cpp-dev libsimdjson-dev libspdlog-dev libfmt-dev libcli11-dev
    libtbb-dev librocksdb-dev librdkafka-dev libeigen3-dev
    libgtest-dev libgmock-dev libbenchmark-dev
    libre2-dev libssl-dev libabsl-dev libcpp-httplib-dev
    zlib1g-dev libzstd-dev libhiredis-dev
    hyperfine time python3 python3-jsonschema kcat wrk redis-server
    chromium
)

missing=()
for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$p")
    fi
done

if [ ${#missing[@]} -gt 0 ]; then
    echo "install-deps: installing ${missing[*]}"
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        sudo="sudo"
    fi
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null
fi

# ---- npm: the browser test's playwright-core (tests/browser) ----------------
# Installs exactly what tests/browser/package-lock.json pins, into
# tests/browser/node_modules, when it is not there yet. It drives the Debian
# chromium above and never downloads a browser of its own.
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ ! -d "$root/tests/browser/node_modules/playwright-core" ] && command -v npm >/dev/null 2>&1; then
    echo "install-deps: npm ci --prefix tests/browser"
    npm ci --prefix "$root/tests/browser" --no-audit --no-fund </dev/null
fi
# ---- end of npm -------------------------------------------------------------
