#!/bin/bash
# fuzz.sh [seconds-per-target] -- builds the libFuzzer targets and runs each
# one for a bounded time.
#
# The time per target is the first argument, else $FUZZ_SECONDS, else 20.
# The build lives in build-fuzz (configured here with clang-14 and
# -Dfuzz=true when needed; $FUZZ_BUILD_DIR overrides).  Each target runs on
# a copy of its seed corpus (fuzz/corpus/<target>/) in a temporary directory,
# so the tree is never modified; inputs that crash are kept under
# <build>/fuzz-artifacts/<target>/.
#
# Output is TAP: a plan, then one line per target, e.g.
#   ok 1 - fuzz fuzz_demux (123456 runs)
# with the tail of the fuzzer's log as "# " comments when a target fails.
# Every fuzz/fuzz_*.c is a target.  Exits 1 when a target crashed or could
# not be built, else 0.
set -u

root=$(cd "$(dirname "$0")/.." && pwd)
secs=${1:-${FUZZ_SECONDS:-20}}
build=${FUZZ_BUILD_DIR:-$root/build-fuzz}
# Every fuzz/fuzz_*.c is a target (fuzz/meson.build must list it too).
targets=()
for f in "$root"/fuzz/fuzz_*.c; do
    [ -e "$f" ] && targets+=("$(basename "$f" .c)")
done

case $secs in
'' | *[!0-9]*)
    echo "usage: $0 [seconds-per-target]" >&2
    exit 2
    ;;
esac

echo "1..${#targets[@]}"

fail_all() {
    local i=1
    for t in "${targets[@]}"; do
        echo "not ok $i - fuzz $t ($1)"
        i=$((i + 1))
    done
    exit 1
}

log=$(mktemp)
if [ ! -f "$build/build.ninja" ]; then
    if ! CC=clang-14 meson setup "$build" "$root" -Dfuzz=true >"$log" 2>&1; then
        sed 's/^/# /' "$log" | tail -20
        rm -f "$log"
        fail_all "configure failed"
    fi
elif ! meson introspect "$build" --buildoptions 2>/dev/null |
    grep -q '"name": "fuzz", "value": true'; then
    if ! meson configure "$build" -Dfuzz=true >"$log" 2>&1; then
        sed 's/^/# /' "$log" | tail -20
        rm -f "$log"
        fail_all "configure failed"
    fi
fi
rm -f "$log"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

status=0
i=1
for t in "${targets[@]}"; do
    mkdir -p "$work/$t/corpus" "$work/$t/artifacts"
    if ! ninja -C "$build" "fuzz/$t" >"$work/$t/log" 2>&1; then
        status=1
        echo "not ok $i - fuzz $t (build failed)"
        tail -20 "$work/$t/log" | sed 's/^/# /'
        i=$((i + 1))
        continue
    fi
    if [ -d "$root/fuzz/corpus/$t" ]; then
        cp "$root/fuzz/corpus/$t/." "$work/$t/corpus/" -r
    fi
    "$build/fuzz/$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$work/$t/artifacts/" \
        "$work/$t/corpus" >"$work/$t/log" 2>&1
    rc=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\).*/\1/p' "$work/$t/log" | tail -1)
    if [ -z "$runs" ]; then
        runs=$(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' "$work/$t/log" | tail -1)
    fi
    if [ $rc -eq 0 ]; then
        echo "ok $i - fuzz $t (${runs:-0} runs)"
    else
        status=1
        echo "not ok $i - fuzz $t (exit $rc after ${runs:-?} runs)"
        tail -30 "$work/$t/log" | sed 's/^/# /'
        if [ -n "$(ls -A "$work/$t/artifacts")" ]; then
            keep="$build/fuzz-artifacts/$t"
            mkdir -p "$keep"
            cp "$work/$t/artifacts/"* "$keep/"
            echo "# crashing inputs kept in $keep"
        fi
    fi
    i=$((i + 1))
done
exit $status
