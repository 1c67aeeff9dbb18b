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
    libre2-dev libssl-dev libabsl-dev
    zlib1g-dev libzstd-dev
    hyperfine time python3 kcat
)

missing=()
for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$p")
    fi
done

if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi

echo "install-deps: installing ${missing[*]}"
sudo=""
if [ "$(id -u)" -ne 0 ]; then
    sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null
