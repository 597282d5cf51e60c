#!/usr/bin/env bash
# bench/perf.sh [bench_perf options] -- every performance figure of the
# README's targets, in one run against the raw Docker Engine API on the same
# daemon: `run` lifecycles at concurrency 1, 4 and 16, ping/inspect/list
# rates, a backlog drain, 500 supervised containers (RSS, exit to final
# reply), the idle dispatcher (RSS, CPU, threads, wake-ups) and CPU per 100
# runs; then one table of figure | raw | dispatcher | ratio | target | met.
#
#   bench/perf.sh                      everything, full size (about an hour on
#                                      2 cores, most of it the backlog)
#   bench/perf.sh --quick              everything, small counts
#   bench/perf.sh --only ping,idle     some sections (runs ping inspect list
#                                      control backlog supervised idle cpu)
#   bench/perf.sh --pin 1              the dispatcher on one CPU (2: two)
#   BENCH_BACKLOG=2000 bench/perf.sh --only backlog
#
# Starts the services if needed and builds an optimised build in build-bench
# (as bench/run.sh does; warnings are not errors there: the test builds
# police them).  Exit status: bench_perf's (1 when a request was lost or
# answered twice, a reply was an error, or something was left behind).
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."
./scripts/install-deps.sh >/dev/null
./scripts/services.sh up >/dev/null
setup() { meson setup build-bench --buildtype=release -Dwerror=false >/dev/null; }
[ -d build-bench ] || setup
meson configure build-bench -Dwerror=false >/dev/null 2>&1 || true
if ! ninja -C build-bench bench/bench_perf bench/rpc_echo src/docker-dispatch >/dev/null; then
    # a build dir made for an older source tree may not regenerate: once afresh
    rm -rf build-bench
    setup
    ninja -C build-bench bench/bench_perf bench/rpc_echo src/docker-dispatch >/dev/null
fi
export BENCH_TAG=${BENCH_TAG:-ddperf-$$}
rc=0
build-bench/bench/bench_perf build-bench/src/docker-dispatch "$@" || rc=$?
if [ "$rc" -ge 128 ]; then
    # bench_perf died without its own cleanup: what it labelled and named
    # (bench/rpc_echo dies with it)
    ids=$(docker ps -aq --filter "label=ddperf.run=$BENCH_TAG"
        docker ps -aq --filter "label=io.docker-dispatch.cluster=$BENCH_TAG")
    [ -z "$ids" ] || docker rm -f $ids >/dev/null 2>&1 || true
    for q in "$BENCH_TAG" "$BENCH_TAG.dead" "$BENCH_TAG.node.$BENCH_TAG-node" \
        "$BENCH_TAG-classic" "$BENCH_TAG-classic.dead" "$BENCH_TAG-classic.node.$BENCH_TAG-node-classic" \
        "$BENCH_TAG-echo" "$BENCH_TAG-echo.dead" "$BENCH_TAG-echo.node.$BENCH_TAG-node-echo" \
        "$BENCH_TAG-classic-echo" "$BENCH_TAG-classic-echo.dead" \
        "$BENCH_TAG-classic-echo.node.$BENCH_TAG-node-classic-echo"; do
        rabbitmqctl -q delete_queue "$q" >/dev/null 2>&1 || true
    done
fi
exit "$rc"
