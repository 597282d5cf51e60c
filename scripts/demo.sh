#!/usr/bin/env bash
# demo.sh [ARGS...] -- the main job: installs the packages and starts the
# real services exactly as test.sh does, builds the project (build dir
# $BUILD_DIR, default build), then runs the program chosen in the last
# section below with ARGS.
set -euo pipefail

cd "$(dirname "$(readlink -f "$0")")/.."

BUILD_DIR=${BUILD_DIR:-build}

./scripts/install-deps.sh
./scripts/services.sh up

if [ ! -f "$BUILD_DIR/build.ninja" ]; then
    rm -rf "$BUILD_DIR"
    meson setup "$BUILD_DIR"
fi
ninja -C "$BUILD_DIR"

# ---- what to run -------------------------------------------------------------
# The main job: docker-dispatch consuming the queue "dispatch" on the local
# RabbitMQ and running its commands on the local Docker.  One message is sent
# with dispatchctl to show a request going in and its reply coming out; then
# the dispatcher keeps running in the foreground (Ctrl-C stops it; containers
# it supervises keep running and are re-adopted on the next start).
# DEMO_ONESHOT=1 stops it after the sample message.
export DOCKER_HOST=${DOCKER_HOST:-unix:///var/run/docker.sock}
AMQP=${DISPATCH_AMQP_URL:-amqp://guest:guest@127.0.0.1:5672/}
QUEUE=${DISPATCH_QUEUE:-dispatch}

"$BUILD_DIR/src/docker-dispatch" -q "$QUEUE" "$@" "$DOCKER_HOST" "$AMQP" &
dispatcher=$!
trap 'kill -TERM "$dispatcher" 2>/dev/null; wait "$dispatcher"' INT TERM

# Wait until the dispatcher consumes its queue.
for _ in $(seq 1 50); do
    if rabbitmqctl -q list_queues name consumers 2>/dev/null |
        awk -v q="$QUEUE" '$1 == q && $2 > 0 { found = 1 } END { exit !found }'; then
        break
    fi
    kill -0 "$dispatcher" 2>/dev/null || { echo "demo: docker-dispatch exited" >&2; exit 1; }
    sleep 0.2
done

msg='{"Dockercmd":"run","Image":"busybox:latest","Cmd":["echo","hello world!"],"Options":{"Attach":["STDOUT","STDERR"],"Remove":true}}'
echo
echo "demo: sending    $msg"
reply=$("$BUILD_DIR/src/dispatchctl/dispatchctl" --amqp "$AMQP" -q "$QUEUE" --json send "$msg" || true)
echo "demo: reply      $reply"
echo

if [ "${DEMO_ONESHOT:-0}" = 1 ]; then
    kill -TERM "$dispatcher"
    wait "$dispatcher"
    exit 0
fi
echo "demo: docker-dispatch is running (pid $dispatcher, queue $QUEUE); send more with"
echo "      $BUILD_DIR/src/dispatchctl/dispatchctl -q $QUEUE run --rm --attach busybox:latest echo hi"
wait "$dispatcher"
