#!/usr/bin/env bash
# run-tests.sh [SUITE...] -- builds the project, has `meson test` run the suites
# (tests/meson.build) under their test setups (meson.build) and adds up the
# cases of every run (scripts/count-cases.awk) into one closing line,
#
#   N passed, N failed[, N skipped]
#
# with exit status 0 only when nothing failed and at least one test ran.
#
# SUITE (default all; several may be given): meson suites [build, setup]
#   style        style: scripts/check-style.sh, one case    [build-asan, bare]
#   unit         unit                                       [build-asan, asan]
#   integration  integration three times [build-asan; unix: the main dockerd,
#                tcp: a private one on 127.0.0.1:$ITEST_TCP_PORT, tls: one on
#                $ITEST_TLS_PORT requiring client certificates]
#   dispatch     dispatch and faults                        [build-asan, unix]
#   invariants   invariants                                 [build-asan, asan]
#                (the five above are the lane of Debian 12's Docker 20.10 and
#                RabbitMQ 3.10, docker20; the next three are the other lanes,
#                each with services of its own, stopped after it)
#   docker26     the engines suite (integration, the dispatch programs that
#                run containers, a short invariants run) against a
#                private Docker 26.1 from Debian 13 refusing API versions
#                below 1.44 like Docker 29 (private-dockerd.sh --engine
#                docker26; debian13.sh fetches it once)  [build-asan, docker26]
#   podman       the same against a private Podman service (private-podman.sh)
#                                                           [build-asan, podman]
#   rabbitmq4    dispatch, faults and a short invariants run against a
#                private RabbitMQ 4.0 node on 127.0.0.1:$ITEST_RABBITMQ4_PORT
#                from a Debian 13 root (debian13.sh makes it once; the
#                private nodes of faults run from it too), with the main
#                dockerd                                    [build-asan, rabbitmq4]
#   cluster      cluster: three dispatchers, three dockerd and a three-node
#                RabbitMQ cluster on this machine, ~90 s   [build-plain, plain]
#   valgrind     unit, one case per program               [build-plain, valgrind]
#   tsan         integration, dispatch and faults           [build-tsan, tsan]
#   fuzz         fuzz: scripts/fuzz.sh                      [build-asan, bare]
#   all          all of the above
#   deb          only when named, not in all: scripts/test-deb.sh, one case
#                (builds the Debian packages, installs, runs and purges them
#                on this machine; 2 to 4 minutes)
#   image        only when named, not in all: scripts/test-image.sh, one
#                case (builds the container image from the packages, runs
#                it against the machine's dockerd and RabbitMQ, removes
#                it; 3 to 5 minutes)
#
# The services must be up (scripts/services.sh up).  Logs: one per program in
# build-asan/test-logs/, meson's in <build>/meson-logs/.  Private services
# started here are stopped at the end, also on failure; one that does not
# start counts as a failure of its lane.  Each run's time is printed with it
# and again at the end.  Environment: ITEST_TCP_PORT, ITEST_TLS_PORT,
# ITEST_RABBITMQ4_PORT (from tests/ports.h, the table of every port the
# tests bind: scripts/ports.sh itest_tcp itest_tls lane_rabbit; the
# RabbitMQ 4 node's distribution port is 20000 more),
# LANE_INVARIANT_REQUESTS (60), ASAN_DIR, PLAIN_DIR, TSAN_DIR (build-asan,
# -plain, -tsan), DD_STATE_DIR (/var/tmp/docker-dispatch).
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."
REPO=$PWD ASAN_DIR=${ASAN_DIR:-build-asan} PLAIN_DIR=${PLAIN_DIR:-build-plain}
TSAN_DIR=${TSAN_DIR:-build-tsan} STATE_DIR=${DD_STATE_DIR:-/var/tmp/docker-dispatch}
LOG_DIR=$REPO/$ASAN_DIR/test-logs COUNTS=$LOG_DIR/counts FAILS=$LOG_DIR/failures
TCP_PORT=${ITEST_TCP_PORT:-$(scripts/ports.sh itest_tcp)}
TLS_PORT=${ITEST_TLS_PORT:-$(scripts/ports.sh itest_tls)}
RMQ4_PORT=${ITEST_RABBITMQ4_PORT:-$(scripts/ports.sh lane_rabbit | cut -d' ' -f1)}
LANE_REQUESTS=${LANE_INVARIANT_REQUESTS:-60}
OPTIONS=(-Ditest_tcp_port="$TCP_PORT" -Ditest_tls_port="$TLS_PORT" -Dstate_dir="$STATE_DIR"
    -Ditest_rabbitmq4_port="$RMQ4_PORT" -Dlane_invariant_requests="$LANE_REQUESTS")
SUITES="style unit integration dispatch invariants docker26 podman rabbitmq4 cluster valgrind tsan fuzz"
ONLY_NAMED="deb image" # suites that run only when asked for
want=" " STARTED=() TIMES=()
unset DOCKER_HOST DOCKER_TLS_VERIFY DOCKER_CERT_PATH DOCKER_CONTEXT ITEST_NETWORK_MODE ITEST_MODE \
    ITEST_TLS_NOCERT_HOST ITEST_TLS_CA DD_LANE DD_AMQP_URL DD_RABBITMQCTL DD_RABBITMQ_ROOT \
    DD_DOCKER_ENGINE INVARIANT_REQUESTS

for s in "${@:-all}"; do
    case $s in
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' && exit 0 ;;
    all) want+="$SUITES " ;;
    *)
        [[ " $SUITES $ONLY_NAMED " == *" $s "* ]] ||
            { echo "run-tests: unknown suite '$s' ($SUITES all $ONLY_NAMED)" >&2 && exit 2; }
        want+="$s "
        ;;
    esac
done
wants() { # true when one of the suites given was asked for
    for w in "$@"; do [[ $want == *" $w "* ]] && return 0; done
    return 1
}
note() { echo "run-tests: $*"; }
prefixed() { awk -v p="[$1] " '{ print p $0; fflush() }'; }
# fail_case WHAT TAG: counts a failure that no test reports (a build, a daemon).
fail_case() { echo "0 1 0" >>"$COUNTS" && echo "$1" >>"$FAILS" && echo "[$2] not ok - $1"; }
# service SCRIPT NAME ARGS...: starts a private service with
# scripts/private-SCRIPT.sh start NAME ARGS (lock closed), stopped by cleanup.
service() {
    STARTED+=("$1 $2") && "$REPO/scripts/private-$1.sh" start "${@:2}" 9>&- 2>&1 | prefixed "$1"
}
# private NAME ARGS...: a private dockerd.
private() { service dockerd "$@"; }

# Stops the meson test still running (on interruption) and the private
# services, the newest first.
cleanup() {
    local pid i kind name
    pid=$(cat "$PIDFILE" 2>/dev/null || true)
    if [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = meson ]; then
        kill -TERM "$pid" && wait "$pid" 2>/dev/null || true
    fi
    for ((i = ${#STARTED[@]} - 1; i >= 0; i--)); do
        read -r kind name <<<"${STARTED[i]}"
        "$REPO/scripts/private-$kind.sh" stop "$name" 9>&- 2>&1 | prefixed "$kind" || true
    done
    STARTED=()
}
PIDFILE=$(mktemp)
trap 'cleanup; rm -f "$PIDFILE"' EXIT
trap 'echo "run-tests: interrupted" >&2; exit 130' INT
trap 'echo "run-tests: terminated" >&2; exit 143' TERM

# build DIR LABEL [meson options...]: configures DIR (from scratch when its old
# configuration cannot be regenerated) and builds it.
build() {
    local dir=$1 label=$2 log=$LOG_DIR/build-$2.log try
    shift 2
    for try in 1 2; do
        if { { [ -f "$dir/build.ninja" ] || meson setup "$dir" "$@" "${OPTIONS[@]}"; } &&
            meson configure "$dir" "${OPTIONS[@]}" && ninja -C "$dir"; } >"$log" 2>&1; then
            note "built $dir ($label)" && return 0
        fi
        [ "$try" -eq 1 ] && grep -q "rebuilding 'build.ninja'\|setup --wipe" "$log" || break
        note "$dir: stale configuration, configuring it again" && rm -rf "$dir"
    done
    grep -E 'error|Error|ERROR|FAILED' "$log" | head -n 40 | prefixed "build $label" || true
    fail_case "build $label ($dir), see ${log#"$REPO"/}" "build $label" && return 1
}

# run DIR TAG ONCE SETUP SUITE...: meson test of the suites under SETUP, its
# output prefixed with [TAG], then count-cases.awk over its logs (ONCE=1: one
# case per program).
run() {
    local dir=$1 tag=$2 once=$3 setup=$4 logs=$1/meson-logs/${2%%/*}-$4 rc=0 s args=() t=$SECONDS
    shift 4
    for s in "$@"; do args+=(--suite "$s"); done
    note "== $tag: meson test -C $dir ${args[*]} --setup $setup"
    rm -f "$logs".*
    (echo "$BASHPID" >"$PIDFILE" && exec meson test -C "$dir" --no-rebuild --print-errorlogs \
        --setup "$setup" --logbase "${tag%%/*}" "${args[@]}") </dev/null 2>&1 9>&- |
        prefixed "$tag" &
    wait $! || rc=$?
    : >"$PIDFILE"
    [ -f "$logs.txt" ] && [ -f "$logs.json" ] &&
        awk -v tag="$tag" -v once="$once" -v json="$logs.json" -v logs="$LOG_DIR" -v repo="$REPO/" \
            -v counts="$COUNTS" -v fails="$FAILS" -f scripts/count-cases.awk "$logs".{json,txt} ||
        fail_case "$tag: meson test ran nothing or failed (exit status $rc)" "$tag"
    took "$tag" "$t"
}

# took TAG T0: notes and keeps the time since T0 (SECONDS) of TAG.
took() {
    TIMES+=("$1 $((SECONDS - $2)) s") && note "== $1: took $((SECONDS - $2)) s"
}

# lane NAME START...: a lane of another stack: runs START (a command that
# starts its services) and then the lane's suites under the test setup NAME,
# or counts a failure when START fails; stops the services after.
lane() {
    local name=$1 t=$SECONDS
    shift
    note "== lane $name"
    if "$@"; then
        case $name in
        rabbitmq4) run "$ASAN_DIR" "$name" 0 "$name" dispatch faults invariants ;;
        *) run "$ASAN_DIR" "$name" 0 "$name" engines ;;
        esac
    else
        fail_case "$name: the lane's services did not start (see above)" "$name"
    fi
    cleanup
    took "lane $name" "$t"
}

# The services of the lanes.
start_docker26() { private lane26 --engine docker26; }
start_podman() { service podman lanepm; }
start_rabbitmq4() {
    local root
    root=$("$REPO/scripts/debian13.sh" root 9>&- 2> >(prefixed debian13)) &&
        DD_RABBITMQ_ROOT=$root service rabbitmq lane4 "$RMQ4_PORT"
}

# ---- one run at a time on this machine -----------------------------------------

mkdir -p "$STATE_DIR"
exec 9>"$STATE_DIR/run-tests.lock"
if ! flock -n 9; then
    note "another run-tests.sh is running on this machine, waiting for it"
    flock -w 3600 9 || { echo "run-tests: gave up waiting for the other run" >&2 && exit 1; }
fi
T0=$SECONDS
rm -rf "$LOG_DIR" && mkdir -p "$LOG_DIR" && : >"$COUNTS" && : >"$FAILS"

# ---- build and run -------------------------------------------------------------

asan=0
if wants style unit integration dispatch invariants docker26 podman rabbitmq4 fuzz &&
    build "$ASAN_DIR" asan -Dbuildtype=debug -Db_sanitize=address,undefined -Db_lundef=false; then
    asan=1
fi
[ "$asan" -eq 0 ] || ! wants style || run "$ASAN_DIR" style 1 bare style
[ "$asan" -eq 0 ] || ! wants unit || run "$ASAN_DIR" unit 0 asan unit
if [ "$asan" -eq 1 ] && wants integration; then
    run "$ASAN_DIR" integration/unix 0 unix integration
    if private itcp --tcp "127.0.0.1:$TCP_PORT"; then
        run "$ASAN_DIR" integration/tcp 0 tcp integration
    else
        fail_case "integration/tcp: private dockerd itcp did not start" integration/tcp
    fi
    if "$REPO/scripts/gen-certs.sh" "$STATE_DIR/certs" 2>&1 | prefixed certs &&
        private itls --tcp "127.0.0.1:$TLS_PORT" --tls "$STATE_DIR/certs"; then
        run "$ASAN_DIR" integration/tls 0 tls integration
    else
        fail_case "integration/tls: private dockerd itls did not start" integration/tls
    fi
    cleanup
fi
[ "$asan" -eq 0 ] || ! wants dispatch || run "$ASAN_DIR" dispatch 0 unix dispatch faults
[ "$asan" -eq 0 ] || ! wants invariants || run "$ASAN_DIR" invariants 0 asan invariants
for l in docker26 podman rabbitmq4; do
    [ "$asan" -eq 0 ] || ! wants "$l" || lane "$l" "start_$l"
done
plain=0
if wants cluster valgrind && build "$PLAIN_DIR" plain -Dbuildtype=debug; then
    plain=1
fi
[ "$plain" -eq 0 ] || ! wants cluster || run "$PLAIN_DIR" cluster 0 plain cluster
[ "$plain" -eq 0 ] || ! wants valgrind || run "$PLAIN_DIR" valgrind 1 valgrind unit
if wants tsan && build "$TSAN_DIR" tsan -Dbuildtype=debug -Db_sanitize=thread -Db_lundef=false; then
    run "$TSAN_DIR" tsan 0 tsan integration dispatch faults
fi
[ "$asan" -eq 0 ] || ! wants fuzz || run "$ASAN_DIR" fuzz 0 bare fuzz
if wants deb; then
    t=$SECONDS
    note "== deb: scripts/test-deb.sh"
    if "$REPO/scripts/test-deb.sh" 9>&- 2>&1 | prefixed deb; then
        echo "1 0 0" >>"$COUNTS" && echo "[deb] ok - scripts/test-deb.sh"
    else
        fail_case "deb: scripts/test-deb.sh failed (see above)" deb
    fi
    took deb "$t"
fi
if wants image; then
    t=$SECONDS
    note "== image: scripts/test-image.sh"
    if "$REPO/scripts/test-image.sh" 9>&- 2>&1 | prefixed image; then
        echo "1 0 0" >>"$COUNTS" && echo "[image] ok - scripts/test-image.sh"
    else
        fail_case "image: scripts/test-image.sh failed (see above)" image
    fi
    took image "$t"
fi

# ---- summary -------------------------------------------------------------------

cleanup
read -r PASS FAIL SKIP < <(awk '{ p += $1; f += $2; s += $3 } END { print p+0, f+0, s+0 }' \
    "$COUNTS")
[ ! -s "$FAILS" ] || { printf '\nFailed:\n' && sed 's/^/  /' "$FAILS"; }
[ "${#TIMES[@]}" -eq 0 ] || { printf '\nTimes:\n' && printf '  %s\n' "${TIMES[@]}"; }
printf '\n' && note "logs in ${LOG_DIR#"$REPO"/}/, took $((SECONDS - T0)) s"
echo "$PASS passed, $FAIL failed$([ "$SKIP" -eq 0 ] || echo ", $SKIP skipped")"
[ "$FAIL" -eq 0 ] && [ $((PASS + FAIL)) -gt 0 ]
