#!/usr/bin/env bash
# private-podman.sh -- runs Podman's Docker-compatible API service next to
# the main Docker daemon, for the suites' Podman lane.
#
# Usage:
#   private-podman.sh start NAME
#   private-podman.sh stop NAME
#   private-podman.sh status NAME
#   private-podman.sh host NAME        prints unix://<socket> of NAME
#
# Each service NAME keeps everything under $DD_STATE_DIR/pm/NAME (default
# /var/tmp/docker-dispatch/pm/NAME): its own containers.conf, storage.conf
# and registries.conf (given through CONTAINERS_CONF,
# CONTAINERS_STORAGE_CONF and CONTAINERS_REGISTRIES_CONF, so that nothing
# in /etc/containers is read or changed), image store (s/), run root (r/),
# temporary directory with file locks (t/: two services never share
# Podman's default shared-memory locks), events log, network definitions
# (n/), pid, log (podman.log) and the socket podman.sock.  It runs
# `podman system service --time=0`.
#
# containers.conf sets default_ulimits nofile 16384 and nproc 4096: below
# the hard limits of the machines this runs on, where Podman's defaults
# fail every container with "error setting rlimit".
#
# Networks: the service runs in a network namespace of its own
# ("ddpm-NAME", made by start with only its loopback up, deleted by stop),
# so the bridges, addresses and iptables rules netavark makes for any
# network, the default one or those created through the API, live there
# and never on the host, and two services never meet; no container has a
# way out of it.  The one thing the service reaches outside is the local
# registry: a socat inside the namespace listens on its 127.0.0.1:5000 and
# carries each connection to the host's 127.0.0.1:5000 (the registry of
# scripts/services.sh; an insecure registry in registries.conf).  The
# default network ("podman", for containers created without a network
# mode) is also internal (a bridge "ddpm" + 8 hex digits, a /24 in
# 10.232.0.0/16, no DNS); tests use NetworkMode "none" anyway.  start is idempotent and loads busybox:latest from
# the main daemon (`docker save | podman load`, named
# docker.io/library/busybox:latest as a pull would) when missing; stop only
# ever signals the pids recorded by start, then stops that service's
# containers (they stay, exited, as a stopped dockerd leaves its own) and
# deletes its network namespace.
# Needs root.
set -euo pipefail

cd "$(dirname "$(readlink -f "$0")")/.."
. scripts/common.sh

STATE_DIR=${DD_STATE_DIR:-/var/tmp/docker-dispatch}
MAIN_HOST=unix:///var/run/docker.sock
IMAGE=busybox:latest
unset DOCKER_HOST DOCKER_TLS_VERIFY DOCKER_CERT_PATH DOCKER_CONTEXT

usage() {
    sed -n '5,9p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

say() { echo "private-podman: $NAME: $*"; }
die() {
    echo "private-podman: $NAME: FAILED: $*" >&2
    exit 1
}


# Prints the recorded service pid if that process is alive and serves our
# socket.
running_pid() {
    local pid
    pid=$(cat "$D/started.pid" 2>/dev/null || true)
    if pid_is "$pid" podman && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "$SOCK"; then
        echo "$pid"
    fi
}

# podman with this service's configuration, storage and network namespace
# (the host's for a service an older version of this script started).
pm() {
    local ns=(nsenter --net="$NETNS_PATH")
    [ -e "$NETNS_PATH" ] || ns=()
    "${ns[@]}" env CONTAINERS_CONF="$D/containers.conf" \
        CONTAINERS_STORAGE_CONF="$D/storage.conf" CONTAINERS_REGISTRIES_CONF="$D/registries.conf" \
        podman "$@"
}

answers() { timeout 10 curl -sf --unix-socket "$SOCK" http://d/_ping >/dev/null 2>&1; }

# Prints the end of the log of the last start, to stderr.
show_log() { show_start_log "$D/podman.log"; }

# This service's bridge name: "ddpm" and a hash of NAME (at most 15
# characters, the kernel's limit).
bridge_name() { printf 'ddpm%08x\n' "$(printf '%s' "$NAME" | cksum | cut -d' ' -f1)"; }

# Prints a /24 of 10.232.0.0/16 that no route or address uses, from a hash
# of NAME (the one recorded by an earlier start when there is one).
pick_subnet() {
    local n i x
    if [ -s "$D/subnet" ]; then
        cat "$D/subnet"
        return 0
    fi
    n=$(printf '%s' "$NAME" | cksum | cut -d' ' -f1)
    for ((i = 0; i < 250; i++)); do
        x=$(((n + i) % 250 + 1))
        if [ -z "$(ip -4 route show 10.232.$x.0/24)" ] &&
            [ -z "$(ip -4 addr show to "10.232.$x.0/24")" ]; then
            echo "10.232.$x.0/24" | tee "$D/subnet"
            return 0
        fi
    done
    die "no free /24 left in 10.232.0.0/16 for the default network"
}

# Writes the configuration files (every start, so that a changed script
# takes effect).
write_config() {
    local subnet br
    subnet=$(pick_subnet)
    br=$(bridge_name)
    mkdir -p "$D/s" "$D/r" "$D/t" "$D/n"
    cat >"$D/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=16384:16384", "nproc=4096:4096"]
netns = "bridge"
log_driver = "k8s-file"

[network]
network_backend = "netavark"
network_config_dir = "$D/n"
default_network = "podman"
default_subnet = "$subnet"

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$D/events.log"
tmp_dir = "$D/t"
lock_type = "file"
volume_path = "$D/s/volumes"
EOF
    cat >"$D/storage.conf" <<EOF
[storage]
driver = "overlay"
graphroot = "$D/s"
runroot = "$D/r"
EOF
    cat >"$D/registries.conf" <<EOF
unqualified-search-registries = ["docker.io"]

[[registry]]
location = "localhost:$REGISTRY_PORT"
insecure = true
EOF
    # The default network, internal: netavark then adds no NAT or
    # forwarding rules for it and gives containers no default route.
    cat >"$D/n/podman.json" <<EOF
{
  "name": "podman",
  "id": "$(printf '%s' "dd-podman-$NAME" | sha256sum | cut -d' ' -f1)",
  "driver": "bridge",
  "network_interface": "$br",
  "created": "2026-01-01T00:00:00Z",
  "subnets": [{"subnet": "$subnet", "gateway": "${subnet%.0/24}.1"}],
  "ipv6_enabled": false,
  "internal": true,
  "dns_enabled": false,
  "ipam_options": {"driver": "host-local"}
}
EOF
}

# Makes the service's network namespace (loopback up) and the registry
# forwarder in it, unless they are there.  The host's namespace is kept by
# a bind mount ($D/hostns) for the forwarder's connections out.
make_netns() {
    local pid
    if [ ! -e "$NETNS_PATH" ]; then
        ip netns add "$NETNS" || die "cannot create network namespace $NETNS"
        ip -n "$NETNS" link set lo up
    fi
    if ! mountpoint -q "$D/hostns" 2>/dev/null; then
        touch "$D/hostns"
        mount --bind /proc/self/ns/net "$D/hostns" || die "cannot keep the host's network namespace"
    fi
    pid=$(cat "$D/forwarder.pid" 2>/dev/null || true)
    if ! pid_is "$pid" socat; then
        command -v socat >/dev/null || die "socat is not installed (apt-get install socat)"
        (cd / && exec nsenter --net="$NETNS_PATH" setsid socat \
            "TCP-LISTEN:$REGISTRY_PORT,bind=127.0.0.1,reuseaddr,fork" \
            "EXEC:nsenter --net=$D/hostns socat STDIO TCP\:127.0.0.1\:$REGISTRY_PORT" \
            >>"$D/forwarder.log" 2>&1 </dev/null) &
        echo $! >"$D/forwarder.pid"
    fi
}

# Stops the registry forwarder (by its recorded pid) and deletes the
# network namespace (only ours, by its name) with all netavark made in it.
remove_netns() {
    local pid
    pid=$(cat "$D/forwarder.pid" 2>/dev/null || true)
    if pid_is "$pid" socat; then
        kill -TERM "$pid" 2>/dev/null || true
    fi
    rm -f "$D/forwarder.pid"
    if mountpoint -q "$D/hostns" 2>/dev/null; then
        umount "$D/hostns" || say "warning: could not unmount $D/hostns"
    fi
    if [ -e "$NETNS_PATH" ]; then
        ip netns del "$NETNS" 2>/dev/null || say "warning: could not delete network namespace $NETNS"
    fi
}

# Makes sure the service holds the same busybox:latest as the main daemon
# (compared by the image ID both print).
ensure_image() {
    local want have
    if ! want=$(docker -H "$MAIN_HOST" image inspect -f '{{.Id}}' "$IMAGE" 2>/dev/null); then
        say "warning: the main daemon has no $IMAGE to copy (run scripts/services.sh up)"
        return 0
    fi
    have=$(pm image inspect -f '{{.Id}}' "$IMAGE" 2>/dev/null || true)
    if [ "sha256:$have" = "$want" ] || [ "$have" = "$want" ]; then
        return 0
    fi
    if ! docker -H "$MAIN_HOST" save "$IMAGE" | pm load -q >/dev/null; then
        die "could not load $IMAGE from the main daemon"
    fi
    # podman load names an archive's short name localhost/NAME; a pulled
    # image would be docker.io/library/NAME, which is what Podman users have
    if ! pm tag "localhost/$IMAGE" "docker.io/library/$IMAGE" ||
        ! pm untag "localhost/$IMAGE" "localhost/$IMAGE"; then
        die "could not name $IMAGE docker.io/library/$IMAGE"
    fi
    say "loaded $IMAGE"
}

# Stops the service (SIGTERM, after 30 s SIGKILL, by the recorded pid).
# Its containers would keep running under their conmon.
stop_service() {
    local pid i
    pid=$(running_pid)
    if [ -n "$pid" ]; then
        kill -TERM "$pid" 2>/dev/null || true
        for ((i = 0; i < 300; i++)); do
            pid_is "$pid" podman || break
            sleep 0.1
        done
        if pid_is "$pid" podman; then
            say "podman (pid $pid) still running after 30 s, killing it"
            kill -KILL "$pid" 2>/dev/null || true
            sleep 0.5
        fi
        say "stopped (pid $pid)"
    else
        say "not running"
    fi
    rm -f "$D/started.pid" "$SOCK"
}

# stop, then what dockerd does when it stops: the service's containers
# stopped (by the service's own podman, with its storage; they stay, as
# exited containers), then the network namespace gone.
stop_all() {
    stop_service
    if [ -f "$D/storage.conf" ]; then
        pm stop -a -t 2 >/dev/null 2>&1 || say "warning: could not stop every container"
    fi
    remove_netns
}

start_service() {
    local pid start
    pid=$(running_pid)
    if [ -n "$pid" ] && answers; then
        ensure_image
        say "already running (pid $pid, unix://$SOCK)"
        return 0
    fi
    [ -z "$pid" ] || stop_service
    command -v podman >/dev/null || die "podman is not installed (apt-get install podman)"
    write_config
    rm -f "$SOCK"
    local cmd=(podman system service --time=0 "unix://$SOCK")
    echo "==== $(date '+%F %T') ${cmd[*]}" >>"$D/podman.log"
    make_netns
    (cd / && exec nsenter --net="$NETNS_PATH" env CONTAINERS_CONF="$D/containers.conf" \
        CONTAINERS_STORAGE_CONF="$D/storage.conf" CONTAINERS_REGISTRIES_CONF="$D/registries.conf" \
        setsid "${cmd[@]}" \
        >>"$D/podman.log" 2>&1 </dev/null) &
    pid=$!
    echo "$pid" >"$D/started.pid"
    start=$SECONDS
    until answers; do
        if ! kill -0 "$pid" 2>/dev/null; then
            show_log
            rm -f "$D/started.pid"
            die "podman (pid $pid) exited, see $D/podman.log"
        fi
        if [ $((SECONDS - start)) -ge 60 ]; then
            show_log
            stop_service
            die "no answer after 60 s, see $D/podman.log"
        fi
        sleep 0.2
    done
    ensure_image
    say "started (pid $pid, unix://$SOCK, $(pm version --format '{{.Server.Version}}' 2>/dev/null || echo '?')) in $((SECONDS - start)) s"
}

# ---- arguments --------------------------------------------------------------

[ $# -eq 2 ] || usage
CMD=$1
NAME=$2
if ! [[ "$NAME" =~ ^[a-z0-9][a-z0-9_-]{0,19}$ ]]; then
    echo "private-podman: bad NAME '$NAME' (a-z 0-9 _ -, at most 20)" >&2
    exit 2
fi
D=$STATE_DIR/pm/$NAME
SOCK=$D/podman.sock
NETNS=ddpm-$NAME
NETNS_PATH=/run/netns/$NETNS
REGISTRY_PORT=$(scripts/ports.sh registry)
if [ "$CMD" = start ] && [ ${#SOCK} -ge 100 ]; then
    die "socket path $SOCK is too long for a unix socket"
fi
if [ "$CMD" != host ] && [ "$(id -u)" -ne 0 ]; then
    echo "private-podman: must run as root" >&2
    exit 1
fi

case "$CMD" in
start)
    mkdir -p "$D"
    start_service
    ;;
stop) stop_all ;;
status)
    pid=$(running_pid)
    if [ -n "$pid" ] && answers; then
        say "running (pid $pid, unix://$SOCK)"
    else
        say "not running"
        exit 1
    fi
    ;;
host) echo "unix://$SOCK" ;;
*) usage ;;
esac
