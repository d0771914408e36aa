#!/usr/bin/env bash
# run.sh [ringkv-server args...]: installs what is missing, builds a Release
# server into build/ and runs it in the foreground with the given arguments.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh >&2
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"${BUILD_JOBS:-2}" --target ringkv-server >&2
exec ./build/ringkv-server "$@"
