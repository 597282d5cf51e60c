#!/usr/bin/env bash
# bench/run.sh [N [CONCURRENCY [ROUNDS]]] -- the dispatcher against the raw
# Docker Engine API on the same daemon, in one run, in ROUNDS alternating
# rounds (default 100 messages, 4 in flight, 5 rounds).  Starts the services
# if needed, builds an optimised build in build-bench and prints each
# round, both times, their ratio, the per-message overhead and the
# dispatcher's memory.
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."
./scripts/install-deps.sh
./scripts/services.sh up
setup() { meson setup build-bench --buildtype=release >/dev/null; }
[ -d build-bench ] || setup
if ! ninja -C build-bench bench/bench_dispatch src/docker-dispatch >/dev/null; then
    # a build dir made for an older source tree may not regenerate: once afresh
    rm -rf build-bench
    setup
    ninja -C build-bench bench/bench_dispatch src/docker-dispatch >/dev/null
fi
exec build-bench/bench/bench_dispatch build-bench/src/docker-dispatch "${1:-100}" "${2:-4}" "${3:-5}"
