#!/usr/bin/env bash
# test-image.sh -- builds the container image (scripts/build-image.sh) under
# a tag of its own and runs it as the README says, against the machine's
# dockerd and RabbitMQ (scripts/services.sh: /var/run/docker.sock,
# 127.0.0.1:5672, busybox:latest).  As root.
#
#   1. build: scripts/build-image.sh docker-dispatch-imagetest:PID
#   2. the image: its user is docker-dispatch, it holds no compiler
#   3. run: --network host, the Docker socket mounted, the socket's group
#      added (--group-add), the settings from a mounted config file (a
#      queue of this run's own) and the environment (DISPATCH_GATEWAY on
#      a port of tests/ports.h); /readyz answers 200
#   4. the daemon's process is not root: its uid is the image's user's,
#      its groups hold the socket's group
#   5. dispatchctl (the image's own, docker exec) sends a run and reads its
#      reply; /healthz answers and the HEALTHCHECK reports healthy
#   6. docker stop: the daemon exits 0 on SIGTERM
#
# Removes the container, the image, and the queues and exchanges of its
# queue, also on failure; stops nothing it did not start.  Takes 1 to 5
# minutes (the package build and debootstrap).  Environment: DEBS_DIR
# (.debs built already, given to build-image.sh), KEEP_IMAGE=1 (keep it).
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."
. scripts/common.sh
STATE_DIR=${DD_STATE_DIR:-/var/tmp/docker-dispatch}
IMAGE=docker-dispatch-imagetest:$$
NAME=docker-dispatch-imagetest-$$
Q=imagetest-$$
SOCK=/var/run/docker.sock
WORK="" STARTED=0 BUILT=0 T0=$SECONDS

say() { echo "test-image: $*"; }
die() { echo "test-image: FAIL: $*" >&2 && exit 1; }
took() { say "$1 took $((SECONDS - $2)) s"; }

[ "$(id -u)" -eq 0 ] || die "run as root"
docker version >/dev/null 2>&1 || die "dockerd does not answer on $SOCK"

# Removes the container and the image this run made, and its queues.
cleanup() {
    set +e
    if [ "$STARTED" -eq 1 ]; then
        [ -z "$WORK" ] || docker logs "$NAME" >"$WORK/container.log" 2>&1
        docker rm -f "$NAME" >/dev/null 2>&1
    fi
    [ "$BUILT" -eq 0 ] || [ "${KEEP_IMAGE:-0}" = 1 ] || docker rmi "$IMAGE" >/dev/null 2>&1
    delete_topology "$Q"
    [ -z "$WORK" ] || rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
mkdir -p "$STATE_DIR"
WORK=$(mktemp -d "$STATE_DIR/test-image.XXXXXX")
chmod 0755 "$WORK"

# ---- 1. build -------------------------------------------------------------------------
t=$SECONDS
BUILT=1
IMAGE_WORK=$WORK/build scripts/build-image.sh "$IMAGE" 8>&- || die "build-image.sh failed"
took "build" "$t"

# ---- 2. the image -----------------------------------------------------------------------
user=$(docker image inspect -f '{{.Config.User}}' "$IMAGE")
[ "$user" = docker-dispatch ] || die "the image runs as '$user', not docker-dispatch"
tools=$(docker run --rm --network none --entrypoint /bin/sh "$IMAGE" -c \
    'for t in cc gcc c99 make ld as meson ninja dpkg-buildpackage; do
         command -v $t || true
     done')
[ -z "$tools" ] || die "build tools in the image: $tools"
say "the image runs as $user and holds no build tool; $(($(docker image inspect -f '{{.Size}}' "$IMAGE") / 1000000)) MB"

# ---- 3. run -------------------------------------------------------------------------------
t=$SECONDS
PORT=$(free_port image_gateway) || die "no free port in tests/ports.h DD_PORTS_IMAGE_GATEWAY"
python3 -c '
import json, sys
c = json.load(open(sys.argv[1]))
c["queue"] = sys.argv[2]
json.dump(c, open(sys.argv[3], "w"), indent=2)' dist/config.json "$Q" "$WORK/config.json"
chmod 0644 "$WORK/config.json"
SOCK_GID=$(stat -c %g "$SOCK")
STARTED=1
docker run -d --name "$NAME" --network host \
    -v "$SOCK:$SOCK" --group-add "$SOCK_GID" \
    -v "$WORK/config.json:/etc/docker-dispatch/config.json:ro" \
    -e DISPATCH_GATEWAY="127.0.0.1:$PORT" \
    --health-interval 1s --health-start-period 60s \
    "$IMAGE" >/dev/null || die "docker run failed"
ready=""
for _ in $(seq 600); do
    [ "$(docker inspect -f '{{.State.Running}}' "$NAME")" = true ] ||
        { docker logs "$NAME" 2>&1 | tail -n 20 && die "the container exited"; }
    ready=$(curl -s "http://127.0.0.1:$PORT/readyz" || true)
    [ "$ready" != ready ] || break
    sleep 0.1
done
[ "$ready" = ready ] || { docker logs "$NAME" 2>&1 | tail -n 20 && die "/readyz: $ready"; }
say "container $NAME ready: queue $Q from the mounted config, gateway on $PORT from the environment"
took "start" "$t"

# ---- 4. not root --------------------------------------------------------------------------
pid=$(docker inspect -f '{{.State.Pid}}' "$NAME")
[ "$(cat "/proc/$pid/comm")" = docker-dispatch ] || die "pid $pid is $(cat "/proc/$pid/comm")"
uid=$(awk '$1 == "Uid:" { print $2 }' "/proc/$pid/status")
groups=$(awk '$1 == "Groups:" { $1 = ""; print }' "/proc/$pid/status")
image_uid=$(docker exec "$NAME" id -u docker-dispatch)
[ "$uid" != 0 ] || die "the daemon runs as root"
[ "$uid" = "$image_uid" ] || die "the daemon's uid $uid is not docker-dispatch's ($image_uid)"
[[ " $groups " == *" $SOCK_GID "* ]] || die "the daemon's groups ($groups) lack $SOCK's ($SOCK_GID)"
say "the daemon (host pid $pid) runs as uid $uid (docker-dispatch), groups$groups"

# ---- 5. a run, its reply, the health check ------------------------------------------------
t=$SECONDS
reply=$(docker exec "$NAME" dispatchctl -q "$Q" --timeout 120 --json run --rm --attach \
    busybox:latest echo "hello from $Q") || die "dispatchctl run failed: $reply"
hello_reply_ok "$reply" "$Q" || die "unexpected reply: $reply"
say "run answered: exit_code 0, stdout \"hello from $Q\", container removed"
[ "$(curl -sf "http://127.0.0.1:$PORT/healthz")" = ok ] || die "GET /healthz did not answer ok"
health=""
for _ in $(seq 300); do
    health=$(docker inspect -f '{{.State.Health.Status}}' "$NAME")
    [ "$health" = starting ] || break
    sleep 0.1
done
[ "$health" = healthy ] ||
    die "HEALTHCHECK: $health: $(docker inspect -f '{{json .State.Health.Log}}' "$NAME")"
say "/healthz answered ok; the HEALTHCHECK says $health"
took "run" "$t"

# ---- 6. stopped -----------------------------------------------------------------------------
t=$SECONDS
docker stop -t 90 "$NAME" >/dev/null || die "docker stop failed"
code=$(docker inspect -f '{{.State.ExitCode}}' "$NAME")
[ "$code" = 0 ] || { docker logs "$NAME" 2>&1 | tail -n 20 && die "the daemon exited $code on SIGTERM"; }
say "stopped: the daemon exited 0 on SIGTERM"
took "stop" "$t"
cleanup
STARTED=0 BUILT=0 WORK=""
! docker image inspect "$IMAGE" >/dev/null 2>&1 || [ "${KEEP_IMAGE:-0}" = 1 ] || die "$IMAGE left"
! docker container inspect "$NAME" >/dev/null 2>&1 || die "$NAME left"
say "passed in $((SECONDS - T0)) s"
