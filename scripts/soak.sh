#!/usr/bin/env bash
# soak.sh -- the invariant suite (tests/integration/test_invariants.c) with
# a long request stream: every request answered, one container per request
# id, under SIGKILLs of the dispatcher, Docker and RabbitMQ restarts and a
# neighbour dispatcher.
#
# Usage: soak.sh [REQUESTS [SEED]]
#   REQUESTS   requests in the stream (default 2000; CI runs 200)
#   SEED       replays a run (default: from the clock; printed either way)
#
# Builds docker-dispatch and the suite in $SOAK_BUILD_DIR (default
# build-inv: AddressSanitizer and UndefinedBehaviorSanitizer; made with
# meson setup when missing, an existing build dir such as build-asan is used
# as it is), starts the shared services when they are not up
# (scripts/services.sh up), runs the suite and prints its figures and
# failures at the end.  The whole output is kept in
# $SOAK_BUILD_DIR/soak-<seed or time>.log, every request with its replies
# and Docker events in the .jsonl beside it.  The suite's own knobs pass
# through: INVARIANT_CONCURRENCY, INVARIANT_KILLS (default max(3, F/50)),
# INVARIANT_DOCKER_RESTARTS, INVARIANT_RABBIT_RESTARTS (default 1 each).
# Exit status: the suite's (0 when every invariant held).  Needs root.
set -euo pipefail

cd "$(dirname "$(readlink -f "$0")")/.."
REPO=$PWD

REQUESTS=${1:-2000}
SEED=${2:-}
BUILD=${SOAK_BUILD_DIR:-build-inv}

if ! [[ "$REQUESTS" =~ ^[0-9]+$ ]] || [ "$REQUESTS" -lt 20 ]; then
    echo "soak: REQUESTS must be a number of at least 20" >&2
    exit 2
fi
if [ -n "$SEED" ] && ! [[ "$SEED" =~ ^[0-9]+$ ]]; then
    echo "soak: SEED must be a number" >&2
    exit 2
fi

setup_build() { meson setup "$BUILD" -Db_sanitize=address,undefined -Db_lundef=false; }
[ -d "$BUILD" ] || setup_build
if ! ninja -C "$BUILD" src/docker-dispatch tests/test_invariants; then
    # a build dir made for an older source tree may not regenerate: once afresh
    echo "soak: the build in $BUILD failed; building it afresh" >&2
    rm -rf "$BUILD"
    setup_build
    ninja -C "$BUILD" src/docker-dispatch tests/test_invariants
fi

if ! scripts/services.sh status >/dev/null 2>&1; then
    scripts/services.sh up
fi

stamp=${SEED:-$(date +%Y%m%d-%H%M%S)}
LOG=$REPO/$BUILD/soak-$stamp.log
export CMOCKA_MESSAGE_OUTPUT=TAP
export DISPATCH_BIN=$REPO/$BUILD/src/docker-dispatch
export DD_SCRIPTS=$REPO/scripts
export INVARIANT_REQUESTS=$REQUESTS
export INVARIANT_DUMP=${LOG%.log}.jsonl
if [ -n "$SEED" ]; then
    export INVARIANT_SEED=$SEED
fi

echo "soak: $REQUESTS requests${SEED:+, seed $SEED}; output in $LOG"
start=$SECONDS
set +e
"$REPO/$BUILD/tests/test_invariants" 2>&1 | tee "$LOG"
status=${PIPESTATUS[0]}
set -e

echo
echo "---- soak: $REQUESTS requests in $((SECONDS - start)) s, exit status $status ----"
grep -E '^# (seed|replay)' "$LOG" || true
grep -E '^# figure:' "$LOG" | sed 's/^# figure: /  /' || true
if grep -qE '^not ok' "$LOG"; then
    echo "broken invariants:"
    grep -E '^(not ok|# FAILED:)' "$LOG" | sed 's/^/  /'
else
    echo "every invariant held"
fi
exit "$status"
