#!/usr/bin/env bash
# run-tests.sh [SUITE...] -- builds the project and runs its tests, adding up
# the TAP output of every test program into one closing line:
#
#   N passed, N failed[, N skipped]
#
# Exit status 0 only when nothing failed and at least one test ran.
#
# SUITE (default all; several may be given):
#   unit         unit test programs (meson suite "unit"), AddressSanitizer and
#                UndefinedBehaviorSanitizer build in build-asan
#   integration  integration programs (suite "integration"), three times each:
#                  unix  the main dockerd at unix:///var/run/docker.sock
#                  tcp   a private dockerd on tcp://127.0.0.1:$ITEST_TCP_PORT
#                  tls   a private dockerd on tcp://127.0.0.1:$ITEST_TLS_PORT
#                        requiring client certificates
#   dispatch     dispatcher programs (suite "dispatch"), once, against the main
#                dockerd and RabbitMQ
#   invariants   the invariant suite (suite "invariants"): a seeded stream of
#                requests through kills and restarts, on private services;
#                INVARIANT_SEED replays a run, INVARIANT_REQUESTS sets its size
#   valgrind     the unit programs of a plain build (build-plain) under
#                valgrind memcheck: one test case per program
#   tsan         integration (unix socket) and dispatch programs of a
#                ThreadSanitizer build (build-tsan)
#   fuzz         scripts/fuzz.sh, when present (prints TAP)
#   all          all of the above
#
# The services must be up (scripts/services.sh up).  Output lines are
# prefixed with [suite/mode program]; full logs are kept in
# build-asan/test-logs/.  Private daemons started here are stopped at the end,
# also on failure.  Environment: ITEST_TCP_PORT (default 42375),
# ITEST_TLS_PORT (42376), ASAN_DIR (build-asan), PLAIN_DIR (build-plain),
# DD_STATE_DIR (/var/tmp/docker-dispatch).
set -euo pipefail

cd "$(dirname "$(readlink -f "$0")")/.."
REPO=$PWD

ASAN_DIR=${ASAN_DIR:-build-asan}
PLAIN_DIR=${PLAIN_DIR:-build-plain}
LOG_DIR=$REPO/$ASAN_DIR/test-logs
STATE_DIR=${DD_STATE_DIR:-/var/tmp/docker-dispatch}
TCP_PORT=${ITEST_TCP_PORT:-42375}
TLS_PORT=${ITEST_TLS_PORT:-42376}
TCP_NAME=itcp
TLS_NAME=itls
CERT_DIR=$STATE_DIR/certs
MAIN_DOCKER=unix:///var/run/docker.sock

PASS=0
FAIL=0
SKIP=0
FAILURES=()
STARTED_PRIVATE=()

# ---- suites -----------------------------------------------------------------

want_unit=0 want_integration=0 want_dispatch=0 want_valgrind=0 want_fuzz=0 want_tsan=0
want_invariants=0
[ $# -gt 0 ] || set -- all
for s in "$@"; do
    case "$s" in
    unit) want_unit=1 ;;
    integration) want_integration=1 ;;
    dispatch) want_dispatch=1 ;;
    invariants) want_invariants=1 ;;
    valgrind) want_valgrind=1 ;;
    tsan) want_tsan=1 ;;
    fuzz) want_fuzz=1 ;;
    all)
        want_unit=1 want_integration=1 want_dispatch=1 want_valgrind=1 want_fuzz=1 want_tsan=1
        want_invariants=1
        ;;
    -h | --help)
        sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
        exit 0
        ;;
    *)
        echo "run-tests: unknown suite '$s' (unit integration dispatch invariants valgrind tsan fuzz all)" >&2
        exit 2
        ;;
    esac
done

# ---- helpers ----------------------------------------------------------------

py() {
    if [ -x /usr/bin/python3 ]; then /usr/bin/python3 "$@"; else python3 "$@"; fi
}

note() { echo "run-tests: $*"; }

# Records one failed case that no TAP line reports (build error, crash...).
fail_case() {
    FAIL=$((FAIL + 1))
    FAILURES+=("$1")
    echo "[$2] not ok - $1"
}

# Prints a file's lines with a [TAG] prefix.
prefixed() { awk -v p="[$1] " '{ print p $0; fflush() }' "${2:--}"; }

# Stops the test program still running (on interruption) and the private
# daemons this run started.
cleanup() {
    local n pid
    pid=$(cat "$CUR_PIDFILE" 2>/dev/null || true)
    if [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = timeout ]; then
        kill -TERM "$pid" 2>/dev/null || true
    fi
    rm -f "$CUR_PIDFILE"
    for n in "${STARTED_PRIVATE[@]}"; do
        "$REPO/scripts/private-dockerd.sh" stop "$n" 2>&1 | prefixed private || true
    done
    STARTED_PRIVATE=()
}
CUR_PIDFILE=$(mktemp)
trap cleanup EXIT
trap 'echo "run-tests: interrupted" >&2; exit 130' INT
trap 'echo "run-tests: terminated" >&2; exit 143' TERM

# build DIR LABEL [meson options...]: configures DIR once, then runs ninja.
# Returns 1 (after counting a failure) when the build fails.
build() {
    local dir=$1 label=$2 tmp rc=0
    shift 2
    tmp=$(mktemp)
    if [ ! -f "$dir/build.ninja" ]; then
        rm -rf "$dir"
        meson setup "$dir" "$@" >"$tmp" 2>&1 || rc=$?
    fi
    if [ "$rc" -eq 0 ]; then
        ninja -C "$dir" >>"$tmp" 2>&1 || rc=$?
    fi
    mkdir -p "$LOG_DIR"
    mv -f "$tmp" "$LOG_DIR/build-$label.log"
    if [ "$rc" -ne 0 ]; then
        grep -E 'error|Error|ERROR|FAILED' "$LOG_DIR/build-$label.log" | head -n 40 |
            prefixed "build $label" || true
        fail_case "build $label ($dir), see $LOG_DIR/build-$label.log" "build $label"
        return 1
    fi
    note "built $dir ($label)"
}

# list_tests DIR SUITE: one line per test of SUITE in DIR, fields separated
# by \x1f: name, timeout, workdir, quoted command, quoted environment.
list_tests() {
    meson introspect --tests "$1" | py -c '
import json, shlex, sys
suite = sys.argv[1]
for t in json.load(sys.stdin):
    suites = [s.split(":")[-1] for s in t.get("suite", [])]
    if suite not in suites:
        continue
    env = ["%s=%s" % kv for kv in sorted((t.get("env") or {}).items())]
    print("\x1f".join([t["name"], str(t.get("timeout") or 0), t.get("workdir") or "",
                     " ".join(shlex.quote(c) for c in t["cmd"]),
                     " ".join(shlex.quote(e) for e in env)]))
' "$2"
}

# count_tap TAG LOG RC [SECONDS]: adds up one program's TAP lines.  A program that
# crashed, timed out, stopped early, printed no TAP at all or exited non-zero
# without reporting a failure counts as one more failure.
count_tap() {
    local tag=$1 log=$2 rc=$3 secs=${4:-0} p f s plan plans bail got reason=
    read -r p f s plan plans bail < <(awk '
        /^ok([ \t]|$)/ { if ($0 ~ /#[ \t]*[Ss][Kk][Ii][Pp]/) s++; else p++; next }
        /^not ok([ \t]|$)/ {
            if ($0 ~ /#[ \t]*[Ss][Kk][Ii][Pp]/) s++
            else if ($0 ~ /#[ \t]*TODO/) p++
            else f++
            next
        }
        /^1\.\.[0-9]+/ { sub(/^1\.\./, ""); plan += $0 + 0; plans++; next }
        /^Bail out!/ { bail = 1 }
        END { print p + 0, f + 0, s + 0, plan + 0, plans + 0, bail + 0 }' "$log")
    PASS=$((PASS + p))
    FAIL=$((FAIL + f))
    SKIP=$((SKIP + s))
    while IFS= read -r line; do
        FAILURES+=("[$tag] ${line#not ok }")
    done < <(grep -E '^not ok([ \t]|$)' "$log" | grep -viE '#[[:space:]]*(skip|todo)' || true)
    got=$((p + f + s))
    if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
        reason="timed out"
    elif [ "$rc" -gt 128 ]; then
        reason="killed by signal $((rc - 128))"
    elif [ "$bail" -ne 0 ]; then
        reason="bailed out"
    elif [ "$plans" -eq 0 ] && [ "$got" -eq 0 ]; then
        reason="no TAP output (exit status $rc)"
    elif [ "$got" -lt "$plan" ]; then
        reason="stopped after $got of $plan tests (exit status $rc)"
    elif [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        reason="exit status $rc with no failed test"
    fi
    if [ -n "$reason" ] &&
        grep -qE '^(==[0-9]+==ERROR: |SUMMARY: (Address|Leak|Undefined)|.*runtime error: )' "$log"; then
        reason="$reason, sanitizer report in log"
    fi
    if [ -n "$reason" ]; then
        fail_case "$tag: $reason (log: ${log#"$REPO"/})" "$tag"
        f=$((f + 1))
    fi
    note "$tag: $p passed, $f failed, $s skipped ($secs s)"
}

# run_logged TAG LOG TIMEOUT CWD SHOW [VAR=value...] -- COMMAND...: runs one
# program under timeout with line-buffered output kept in LOG, and shown
# with a [TAG] prefix when SHOW is 1.  Sets RC to its exit status.  The
# program runs in the background so that a signal to this script is handled
# at once (cleanup() then stops the program through timeout's pid).
run_logged() {
    local tag=$1 log=$2 tmo=$3 cwd=$4 show=$5
    shift 5
    local envs=()
    while [ $# -gt 0 ] && [ "$1" != "--" ]; do
        envs+=("$1")
        shift
    done
    shift
    mkdir -p "$(dirname "$log")"
    set +e
    if [ "$show" -eq 1 ]; then
        (cd "$cwd" && echo "$BASHPID" >"$CUR_PIDFILE" &&
            exec timeout -k 10 "$tmo" env "${envs[@]}" stdbuf -oL -eL "$@") \
            </dev/null 2>&1 | tee "$log" | prefixed "$tag" &
    else
        (cd "$cwd" && echo "$BASHPID" >"$CUR_PIDFILE" &&
            exec timeout -k 10 "$tmo" env "${envs[@]}" "$@") </dev/null >"$log" 2>&1 &
    fi
    wait $!
    RC=$?
    set -e
    : >"$CUR_PIDFILE"
}

# run_tap TAG LOG TIMEOUT CWD [VAR=value...] -- COMMAND...: runs one program
# (see run_logged) and counts its TAP lines.
run_tap() {
    local tag=$1 log=$2 tmo=$3 cwd=$4 start=$SECONDS
    shift 4
    run_logged "$tag" "$log" "$tmo" "$cwd" 1 "$@"
    count_tap "$tag" "$log" "$RC" $((SECONDS - start))
}

# Common environment of every test program.
SAN_ENV=(
    "ASAN_OPTIONS=detect_leaks=1:detect_stack_use_after_return=1:verify_asan_link_order=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
    "UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
    "CMOCKA_MESSAGE_OUTPUT=TAP"
)
unset DOCKER_HOST DOCKER_TLS_VERIFY DOCKER_CERT_PATH DOCKER_CONTEXT \
    ITEST_NETWORK_MODE ITEST_TLS_NOCERT_HOST ITEST_TLS_CA ITEST_MODE

# run_suite DIR SUITE TAGPREFIX [VAR=value...]: every program of SUITE.
run_suite() {
    local dir=$1 suite=$2 tagp=$3 name tmo wd qcmd qenv n=0
    shift 3
    local extra=("$@") cmd tenv
    while IFS=$'\x1f' read -r name tmo wd qcmd qenv; do
        eval "cmd=($qcmd)"
        eval "tenv=($qenv)"
        [ "$tmo" -gt 0 ] || tmo=1800
        run_tap "$tagp $name" "$LOG_DIR/${tagp//\//-}-$name.log" "$((tmo * 2))" "${wd:-$dir}" \
            "${tenv[@]}" "${SAN_ENV[@]}" "${extra[@]}" -- "${cmd[@]}"
        n=$((n + 1))
    done < <(list_tests "$dir" "$suite")
    [ "$n" -gt 0 ] || note "suite $suite: no test programs in $dir"
}

# start_private NAME ARGS...: starts a private dockerd, remembers it for cleanup.
start_private() {
    local name=$1
    shift
    STARTED_PRIVATE+=("$name")
    # (fd 9, the run lock, must not stay open in the daemon)
    "$REPO/scripts/private-dockerd.sh" start "$name" "$@" 9>&- 2>&1 | prefixed private
    return "${PIPESTATUS[0]}"
}

# ---- one run at a time on this machine --------------------------------------

mkdir -p "$STATE_DIR"
exec 9>"$STATE_DIR/run-tests.lock"
if ! flock -n 9; then
    note "another run-tests.sh is running on this machine, waiting for it"
    flock -w 3600 9 || {
        echo "run-tests: gave up waiting for the other run" >&2
        exit 1
    }
fi

T0=$SECONDS
rm -rf "$LOG_DIR"

# ---- build and run ----------------------------------------------------------

asan_ok=0
if [ $((want_unit + want_integration + want_dispatch + want_invariants)) -gt 0 ]; then
    if build "$ASAN_DIR" asan -Dbuildtype=debug -Db_sanitize=address,undefined \
        -Db_lundef=false; then
        asan_ok=1
    fi
fi

if [ "$want_unit" -eq 1 ] && [ "$asan_ok" -eq 1 ]; then
    note "== unit"
    run_suite "$ASAN_DIR" unit unit
fi

if [ "$want_integration" -eq 1 ] && [ "$asan_ok" -eq 1 ]; then
    note "== integration over unix://, tcp:// and tcp:// with TLS"
    if ! docker -H "$MAIN_DOCKER" version >/dev/null 2>&1; then
        note "warning: the main dockerd does not answer; run scripts/services.sh up"
    fi
    run_suite "$ASAN_DIR" integration integration/unix \
        "DOCKER_HOST=$MAIN_DOCKER" ITEST_NETWORK_MODE=bridge ITEST_MODE=unix

    if start_private "$TCP_NAME" --tcp "127.0.0.1:$TCP_PORT"; then
        run_suite "$ASAN_DIR" integration integration/tcp \
            "DOCKER_HOST=tcp://127.0.0.1:$TCP_PORT" ITEST_NETWORK_MODE=none ITEST_MODE=tcp
    else
        fail_case "integration/tcp: private dockerd $TCP_NAME did not start" integration/tcp
    fi

    if "$REPO/scripts/gen-certs.sh" "$CERT_DIR" 2>&1 | prefixed certs &&
        start_private "$TLS_NAME" --tcp "127.0.0.1:$TLS_PORT" --tls "$CERT_DIR"; then
        run_suite "$ASAN_DIR" integration integration/tls \
            "DOCKER_HOST=tcp://127.0.0.1:$TLS_PORT" DOCKER_TLS_VERIFY=1 \
            "DOCKER_CERT_PATH=$CERT_DIR" ITEST_NETWORK_MODE=none ITEST_MODE=tls \
            "ITEST_TLS_NOCERT_HOST=tcp://127.0.0.1:$TLS_PORT" "ITEST_TLS_CA=$CERT_DIR/ca.pem"
    else
        fail_case "integration/tls: private dockerd $TLS_NAME did not start" integration/tls
    fi
    cleanup
fi

if [ "$want_dispatch" -eq 1 ] && [ "$asan_ok" -eq 1 ]; then
    note "== dispatch"
    run_suite "$ASAN_DIR" dispatch dispatch \
        "DOCKER_HOST=$MAIN_DOCKER" ITEST_NETWORK_MODE=bridge ITEST_MODE=unix
fi

if [ "$want_invariants" -eq 1 ] && [ "$asan_ok" -eq 1 ]; then
    note "== invariants"
    run_suite "$ASAN_DIR" invariants invariants
fi

if [ "$want_valgrind" -eq 1 ]; then
    note "== valgrind (unit programs of a plain build)"
    if build "$PLAIN_DIR" plain -Dbuildtype=debug; then
        while IFS=$'\x1f' read -r name tmo wd qcmd qenv; do
            eval "cmd=($qcmd)"
            eval "tenv=($qenv)"
            [ "$tmo" -gt 0 ] || tmo=180
            log=$LOG_DIR/valgrind-$name.log
            vstart=$SECONDS
            run_logged "valgrind $name" "$log" "$((tmo * 20))" "${wd:-$PLAIN_DIR}" 0 \
                "${tenv[@]}" CMOCKA_MESSAGE_OUTPUT=TAP -- \
                valgrind --leak-check=full --errors-for-leak-kinds=definite \
                --error-exitcode=1 "${cmd[@]}"
            rc=$RC
            if [ "$rc" -eq 0 ]; then
                PASS=$((PASS + 1))
                echo "[valgrind $name] ok - valgrind $name ($((SECONDS - vstart)) s)"
            else
                grep -E '==[0-9]+== (ERROR SUMMARY|.*(definitely|Invalid|uninitialised))' "$log" |
                    head -n 20 | prefixed "valgrind $name" || true
                fail_case "valgrind $name (exit status $rc, log: ${log#"$REPO"/})" "valgrind $name"
            fi
        done < <(list_tests "$PLAIN_DIR" unit)
    fi
fi

if [ "$want_tsan" -eq 1 ]; then
    # The threaded parts under ThreadSanitizer: the library's cross-thread
    # cancel (integration, unix socket) and the dispatcher (suite dispatch).
    note "== tsan (ThreadSanitizer build: integration over unix://, dispatch)"
    if build "$REPO/build-tsan" tsan -Dbuildtype=debug -Db_sanitize=thread -Db_lundef=false; then
        TSAN_ENV=("TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1" "CMOCKA_MESSAGE_OUTPUT=TAP")
        for suite in integration dispatch; do
            while IFS=$'\x1f' read -r name tmo wd qcmd qenv; do
                eval "cmd=($qcmd)"
                eval "tenv=($qenv)"
                [ "$tmo" -gt 0 ] || tmo=1800
                run_tap "tsan $name" "$LOG_DIR/tsan-$name.log" "$((tmo * 2))" \
                    "${wd:-$REPO/build-tsan}" "${tenv[@]}" "${TSAN_ENV[@]}" \
                    "DOCKER_HOST=$MAIN_DOCKER" ITEST_NETWORK_MODE=bridge ITEST_MODE=unix -- "${cmd[@]}"
            done < <(list_tests "$REPO/build-tsan" "$suite")
        done
    fi
fi

if [ "$want_fuzz" -eq 1 ]; then
    if [ -f scripts/fuzz.sh ]; then
        note "== fuzz (scripts/fuzz.sh)"
        run_tap fuzz "$LOG_DIR/fuzz.log" "${FUZZ_TIMEOUT:-1800}" "$REPO" -- bash scripts/fuzz.sh
    else
        note "== fuzz: scripts/fuzz.sh not present, nothing to run"
    fi
fi

# ---- summary ----------------------------------------------------------------

cleanup
if [ "${#FAILURES[@]}" -gt 0 ]; then
    echo
    echo "Failed:"
    printf '  %s\n' "${FAILURES[@]}"
fi
echo
note "logs in ${LOG_DIR#"$REPO"/}/, took $((SECONDS - T0)) s"
if [ "$SKIP" -gt 0 ]; then
    echo "$PASS passed, $FAIL failed, $SKIP skipped"
else
    echo "$PASS passed, $FAIL failed"
fi
if [ "$FAIL" -gt 0 ] || [ $((PASS + FAIL)) -eq 0 ]; then
    exit 1
fi
exit 0
