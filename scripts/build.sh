#!/usr/bin/env bash
# build.sh [build-type] [build-dir] [extra cmake args...]
# Configures and builds ringkv (default: Release into build/), -j2 by default.
set -euo pipefail
cd "$(dirname "$0")/.."
type=${1:-Release}
dir=${2:-build}
shift $(( $# < 2 ? $# : 2 ))
jobs=${BUILD_JOBS:-2}
cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE="$type" "$@" >/dev/null
cmake --build "$dir" -j"$jobs"
