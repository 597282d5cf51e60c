#!/usr/bin/env bash
# services.sh -- starts the real services the tests and the dispatcher use, on
# this machine, without an init system:
#
#   dockerd            unix:///var/run/docker.sock   (log /var/log/dockerd.log)
#   busybox:latest     a tiny image imported from Debian's static busybox
#   docker-registry    http://127.0.0.1:5000 holding localhost:5000/busybox:latest
#   rabbitmq-server    amqp://guest:guest@127.0.0.1:5672 (log /var/log/rabbitmq.out)
#
# Usage: services.sh [up|status|down-private]
#   up (default)   start whatever is not already working; every step is
#                  skipped when its service already answers
#   status         report each service, exit 1 if one is not working
#   down-private   stop the private dockerds started by private-dockerd.sh
#
# Pids of the processes started here are kept in $DD_STATE_DIR (default
# /var/tmp/docker-dispatch) so only those are ever stopped.  Needs root.
set -euo pipefail

cd "$(dirname "$(readlink -f "$0")")/.."
. scripts/common.sh
REPO=$PWD

STATE_DIR=${DD_STATE_DIR:-/var/tmp/docker-dispatch}
DOCKER_SOCK=/var/run/docker.sock
DOCKERD_LOG=/var/log/dockerd.log
REGISTRY_ADDR=127.0.0.1:5000
REGISTRY_LOG=/var/log/docker-registry.log
RABBITMQ_LOG=/var/log/rabbitmq.out

# The busybox image: bump BUSYBOX_REV whenever BUSYBOX_APPLETS changes so
# that machines holding an older import get a fresh one.
BUSYBOX_IMAGE=busybox:latest
BUSYBOX_LABEL=org.docker-dispatch.busybox
BUSYBOX_REV=3
BUSYBOX_APPLETS="sh echo sleep cat ls true false env id hostname head wc ps grep
printf kill date touch mkdir rm seq yes dd stat test expr"
BUSYBOX_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

# Always talk to the machine's main daemon, whatever the caller's environment.
export DOCKER_HOST=unix://$DOCKER_SOCK
unset DOCKER_TLS_VERIFY DOCKER_CERT_PATH DOCKER_CONTEXT

say() { printf 'services: %-10s %s\n' "$1" "$2"; }
die() {
    printf 'services: %-10s FAILED: %s\n' "$1" "$2" >&2
    exit 1
}

# Prints the last lines of a log file to stderr, for failure reports.
show_log() {
    if [ -f "$1" ]; then
        echo "---- last lines of $1 ----" >&2
        tail -n "${2:-30}" "$1" >&2 || true
        echo "----" >&2
    fi
}

py() {
    if [ -x /usr/bin/python3 ]; then /usr/bin/python3 "$@"; else python3 "$@"; fi
}

# ---- dockerd ----------------------------------------------------------------

docker_answers() {
    timeout 10 docker version --format '{{.Server.Version}}' 2>/dev/null
}

# dockerd needs the cgroup hierarchies; a bare VM without an init system may
# not have mounted them.  Mount the v1 controllers only when nothing is there.
ensure_cgroups() {
    if awk '$3 ~ /^cgroup2?$/ { found = 1 } END { exit !found }' /proc/mounts; then
        return 0
    fi
    say dockerd "no cgroup filesystem mounted, mounting the cgroup v1 controllers"
    mountpoint -q /sys/fs/cgroup || mount -t tmpfs -o uid=0,gid=0,mode=0755 cgroup /sys/fs/cgroup
    local ctl
    for ctl in $(awk '!/^#/ && $4 == 1 { print $1 }' /proc/cgroups); do
        mkdir -p "/sys/fs/cgroup/$ctl"
        mountpoint -q "/sys/fs/cgroup/$ctl" ||
            mount -n -t cgroup -o "$ctl" cgroup "/sys/fs/cgroup/$ctl" || true
    done
}

dockerd_up() {
    local v pid start
    if v=$(docker_answers); then
        say dockerd "already running (Engine $v, $DOCKER_HOST)"
        return 0
    fi
    ensure_cgroups
    mkdir -p "$STATE_DIR" /var/run /var/log
    # A pid file left by a dead daemon makes dockerd refuse to start.
    if [ -f /var/run/docker.pid ]; then
        pid=$(cat /var/run/docker.pid 2>/dev/null || true)
        if pid_is "$pid" dockerd; then
            say dockerd "pid $pid exists but does not answer yet, waiting for it"
        else
            rm -f /var/run/docker.pid
            pid=
        fi
    else
        pid=
    fi
    if [ -z "$pid" ]; then
        (cd / && exec setsid dockerd >>"$DOCKERD_LOG" 2>&1 </dev/null) &
        pid=$!
        echo "$pid" >"$STATE_DIR/dockerd.pid"
    fi
    start=$SECONDS
    while ! v=$(docker_answers); do
        if ! kill -0 "$pid" 2>/dev/null; then
            show_log "$DOCKERD_LOG"
            die dockerd "dockerd (pid $pid) exited, see $DOCKERD_LOG"
        fi
        if [ $((SECONDS - start)) -ge 60 ]; then
            show_log "$DOCKERD_LOG"
            die dockerd "no answer on $DOCKER_SOCK after 60 s, see $DOCKERD_LOG"
        fi
        sleep 0.5
    done
    say dockerd "started (pid $pid, Engine $v) in $((SECONDS - start)) s"
}

dockerd_status() {
    local v
    if v=$(docker_answers); then
        say dockerd "running (Engine $v, $DOCKER_HOST)"
    else
        say dockerd "NOT running"
        return 1
    fi
}

# ---- busybox image ----------------------------------------------------------

busybox_rev() {
    docker image inspect -f "{{index .Config.Labels \"$BUSYBOX_LABEL\"}}" "$BUSYBOX_IMAGE" \
        2>/dev/null || true
}

busybox_up() {
    local rev dir a id
    rev=$(busybox_rev)
    if [ "$rev" = "$BUSYBOX_REV" ]; then
        say busybox "image $BUSYBOX_IMAGE present"
        return 0
    fi
    [ -x /bin/busybox ] || die busybox "/bin/busybox missing (package busybox-static)"
    if ! /bin/busybox --list >/dev/null 2>&1 || ldd /bin/busybox >/dev/null 2>&1; then
        die busybox "/bin/busybox is not the static build (package busybox-static)"
    fi
    mkdir -p "$STATE_DIR"
    dir=$(mktemp -d "$STATE_DIR/busybox.XXXXXX")
    mkdir -p "$dir/bin" "$dir/tmp" "$dir/etc"
    chmod 1777 "$dir/tmp"
    cp /bin/busybox "$dir/bin/busybox"
    for a in $BUSYBOX_APPLETS; do
        ln -s busybox "$dir/bin/$a"
    done
    printf 'root:x:0:0:root:/:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$dir/etc/passwd"
    printf 'root:x:0:\nnogroup:x:65534:\n' >"$dir/etc/group"
    # The same Cmd and PATH as Docker Hub's busybox, so that a create naming
    # only the image (DockerMod's own example) runs a shell as it would there.
    if ! id=$(tar -C "$dir" -c . | docker import -c 'CMD ["sh"]' -c "ENV PATH=$BUSYBOX_PATH" \
        -c "LABEL $BUSYBOX_LABEL=$BUSYBOX_REV" - "$BUSYBOX_IMAGE"); then
        rm -rf "$dir"
        die busybox "docker import failed"
    fi
    rm -rf "$dir"
    say busybox "imported $BUSYBOX_IMAGE (${id#sha256:}) from /bin/busybox"
}

busybox_status() {
    local rev
    rev=$(busybox_rev)
    if [ "$rev" = "$BUSYBOX_REV" ]; then
        say busybox "image $BUSYBOX_IMAGE present"
    elif docker image inspect "$BUSYBOX_IMAGE" >/dev/null 2>&1; then
        say busybox "image $BUSYBOX_IMAGE present but outdated (run: services.sh up)"
        return 1
    else
        say busybox "image $BUSYBOX_IMAGE MISSING"
        return 1
    fi
}

# ---- local registry ---------------------------------------------------------

registry_answers() {
    curl -fsS -m 5 -o /dev/null "http://$REGISTRY_ADDR/v2/" 2>/dev/null
}

# Prints the image id (config digest) the registry holds for busybox:latest.
registry_busybox_id() {
    curl -fsS -m 10 -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
        "http://$REGISTRY_ADDR/v2/busybox/manifests/latest" 2>/dev/null |
        py -c 'import json,sys; print(json.load(sys.stdin)["config"]["digest"])' 2>/dev/null ||
        true
}

registry_up() {
    local pid start local_id remote_id
    if registry_answers; then
        say registry "already running (http://$REGISTRY_ADDR)"
    else
        mkdir -p "$STATE_DIR/registry"
        cat >"$STATE_DIR/registry.yml" <<EOF
version: 0.1
log: {level: info}
storage:
  filesystem: {rootdirectory: $STATE_DIR/registry}
  delete: {enabled: true}
http: {addr: $REGISTRY_ADDR}
EOF
        (cd / && exec setsid docker-registry serve "$STATE_DIR/registry.yml" \
            >>"$REGISTRY_LOG" 2>&1 </dev/null) &
        pid=$!
        echo "$pid" >"$STATE_DIR/registry.pid"
        start=$SECONDS
        while ! registry_answers; do
            if ! kill -0 "$pid" 2>/dev/null; then
                show_log "$REGISTRY_LOG"
                die registry "docker-registry (pid $pid) exited, see $REGISTRY_LOG"
            fi
            if [ $((SECONDS - start)) -ge 30 ]; then
                show_log "$REGISTRY_LOG"
                die registry "no answer on http://$REGISTRY_ADDR after 30 s"
            fi
            sleep 0.3
        done
        say registry "started (pid $pid, http://$REGISTRY_ADDR) in $((SECONDS - start)) s"
    fi

    local_id=$(docker image inspect -f '{{.Id}}' "$BUSYBOX_IMAGE")
    remote_id=$(registry_busybox_id)
    if [ "$local_id" = "$remote_id" ]; then
        say registry "localhost:5000/busybox:latest present"
        return 0
    fi
    docker tag "$BUSYBOX_IMAGE" localhost:5000/busybox:latest
    if ! docker push localhost:5000/busybox:latest >"$STATE_DIR/push.log" 2>&1; then
        show_log "$STATE_DIR/push.log"
        die registry "docker push localhost:5000/busybox:latest failed"
    fi
    say registry "pushed localhost:5000/busybox:latest"
}

registry_status() {
    if ! registry_answers; then
        say registry "NOT running"
        return 1
    fi
    if [ -n "$(registry_busybox_id)" ]; then
        say registry "running (http://$REGISTRY_ADDR), has busybox:latest"
    else
        say registry "running (http://$REGISTRY_ADDR) but busybox:latest MISSING"
        return 1
    fi
}

# ---- RabbitMQ ---------------------------------------------------------------

rabbit_answers() {
    timeout 30 rabbitmqctl -q status >/dev/null 2>&1
}

rabbitmq_up() {
    local pid start host
    if rabbit_answers; then
        say rabbitmq "already running (amqp://127.0.0.1:5672)"
        return 0
    fi
    # Erlang distribution needs the short host name to resolve.
    host=$(hostname -s 2>/dev/null || uname -n | cut -d. -f1)
    if ! getent hosts "$host" >/dev/null; then
        say rabbitmq "host name '$host' does not resolve, adding it to /etc/hosts"
        printf '127.0.1.1\t%s\n' "$host" >>/etc/hosts
    fi
    # Stop Erlang's schedulers busy-waiting: these machines have 2 cores.
    (cd / && RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="+sbwt none +sbwtdcpu none +sbwtdio none" \
        exec setsid rabbitmq-server >>"$RABBITMQ_LOG" 2>&1 </dev/null) &
    pid=$!
    mkdir -p "$STATE_DIR"
    echo "$pid" >"$STATE_DIR/rabbitmq.pid"
    start=$SECONDS
    until timeout 20 rabbitmqctl -q -t 10 await_startup >/dev/null 2>&1; do
        if ! kill -0 "$pid" 2>/dev/null; then
            show_log "$RABBITMQ_LOG"
            show_log "/var/log/rabbitmq/rabbit@$host.log"
            die rabbitmq "rabbitmq-server (pid $pid) exited, see $RABBITMQ_LOG"
        fi
        if [ $((SECONDS - start)) -ge 120 ]; then
            show_log "$RABBITMQ_LOG"
            show_log "/var/log/rabbitmq/rabbit@$host.log"
            die rabbitmq "not started after 120 s, see $RABBITMQ_LOG"
        fi
        sleep 1
    done
    say rabbitmq "started (pid $pid, amqp://127.0.0.1:5672) in $((SECONDS - start)) s"
}

rabbitmq_status() {
    if rabbit_answers; then
        say rabbitmq "running (amqp://127.0.0.1:5672)"
    else
        say rabbitmq "NOT running"
        return 1
    fi
}

# ---- private dockerds -------------------------------------------------------

down_private() {
    local d n=0
    for d in "$STATE_DIR"/p/*/; do
        [ -d "$d" ] || continue
        "$REPO/scripts/private-dockerd.sh" stop "$(basename "$d")"
        n=$((n + 1))
    done
    [ "$n" -gt 0 ] || say private "none recorded"
}

# ---- main -------------------------------------------------------------------

cmd=${1:-up}
case "$cmd" in
up)
    if [ "$(id -u)" -ne 0 ]; then
        echo "services: must run as root" >&2
        exit 1
    fi
    start_all=$SECONDS
    dockerd_up
    busybox_up
    registry_up
    rabbitmq_up
    echo "services: all up ($((SECONDS - start_all)) s)"
    ;;
status)
    rc=0
    dockerd_status || rc=1
    if [ "$rc" -eq 0 ]; then
        busybox_status || rc=1
    fi
    registry_status || rc=1
    rabbitmq_status || rc=1
    exit "$rc"
    ;;
down-private)
    down_private
    ;;
*)
    echo "usage: $0 [up|status|down-private]" >&2
    exit 2
    ;;
esac
