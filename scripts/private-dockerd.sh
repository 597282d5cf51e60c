#!/usr/bin/env bash
# private-dockerd.sh -- runs extra Docker daemons next to the main one, for
# tests over TCP, TCP+TLS, or several "hosts" on one machine.
#
# Usage:
#   private-dockerd.sh start NAME [--tcp 127.0.0.1:PORT] [--tls CERTDIR]
#                                 [--engine docker20|docker26]
#   private-dockerd.sh stop NAME
#   private-dockerd.sh status NAME
#   private-dockerd.sh host NAME       prints unix://<socket> of NAME
#
# Each daemon NAME keeps everything under $DD_STATE_DIR/p/NAME (default
# /var/tmp/docker-dispatch/p/NAME): data root, exec root, its own containerd,
# pid file, identity key, log (dockerd.log) and the socket docker.sock.  It
# runs with --iptables=false --ip-masq=false --ip-forward=false on a bridge
# of its own ("ddp" + 8 hex digits, a /24 in 10.231.0.0/16, made here and
# removed by stop), so containers there have no way out: tests use
# NetworkMode "none".  (--bridge=none is not used: dockerd then deletes the
# host's docker0, breaking the main daemon's default network.)
# --tcp also listens on a loopback TCP address; --tls
# (needs --tcp) requires client certificates signed by CERTDIR/ca.pem and
# serves CERTDIR/server-cert.pem (see gen-certs.sh).  --engine (default
# $DD_DOCKER_ENGINE, else docker20) chooses the Docker: docker20 is the
# machine's own (Debian 12, API 1.41); docker26 is Debian 13's Docker 26.1
# (API 1.45, fetched once by debian13.sh), its usr/sbin and usr/bin first
# on PATH, with DOCKER_MIN_API_VERSION=1.44 so that it refuses clients
# below 1.44 as Docker 29 does (start checks that it does).  start is
# idempotent (a daemon running with other settings is restarted) and loads
# busybox:latest from the main daemon when missing; stop only ever signals
# the pids recorded by start.  Needs root.
set -euo pipefail

cd "$(dirname "$(readlink -f "$0")")/.."
. scripts/common.sh

STATE_DIR=${DD_STATE_DIR:-/var/tmp/docker-dispatch}
MAIN_HOST=unix:///var/run/docker.sock
IMAGE=busybox:latest
unset DOCKER_HOST DOCKER_TLS_VERIFY DOCKER_CERT_PATH DOCKER_CONTEXT

usage() {
    sed -n '5,10p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

say() { echo "private-dockerd: $NAME: $*"; }
die() {
    echo "private-dockerd: $NAME: FAILED: $*" >&2
    exit 1
}


# Prints the recorded dockerd pid of this daemon if that process is alive.
running_pid() {
    local pid
    pid=$(cat "$D/started.pid" 2>/dev/null || true)
    if pid_is "$pid" dockerd; then
        echo "$pid"
    fi
}

# The client for this daemon: the engine's own (Docker 26 refuses the
# machine's client, which speaks at most API 1.41).
dk() { "$CLI" -H "unix://$SOCK" "$@"; }

answers() { timeout 10 "$CLI" -H "unix://$SOCK" version --format '{{.Server.Version}}' \
    >/dev/null 2>&1; }

# Checks the TCP listener, with the client certificate when TLS is on.
tcp_answers() {
    if [ -n "$TLSDIR" ]; then
        timeout 10 "$CLI" --tlsverify --tlscacert "$TLSDIR/ca.pem" --tlscert "$TLSDIR/cert.pem" \
            --tlskey "$TLSDIR/key.pem" -H "tcp://$TCP" version >/dev/null 2>&1
    else
        timeout 10 "$CLI" -H "tcp://$TCP" version >/dev/null 2>&1
    fi
}

# Prints the end of the log of the last start, to stderr.
show_log() { show_start_log "$D/dockerd.log"; }

# Makes sure the daemon holds the same busybox:latest as the main daemon.
ensure_image() {
    local want have
    if ! want=$(docker -H "$MAIN_HOST" image inspect -f '{{.Id}}' "$IMAGE" 2>/dev/null); then
        say "warning: the main daemon has no $IMAGE to copy (run scripts/services.sh up)"
        return 0
    fi
    have=$(dk image inspect -f '{{.Id}}' "$IMAGE" 2>/dev/null || true)
    if [ "$want" = "$have" ]; then
        return 0
    fi
    if ! docker -H "$MAIN_HOST" save "$IMAGE" | dk load >/dev/null; then
        die "could not load $IMAGE from the main daemon"
    fi
    say "loaded $IMAGE"
}

# A docker26 daemon must refuse API 1.43 as Docker 29 does (what its lane
# is for) and answer 1.44; stops it and fails otherwise.
check_min_api() {
    local old new
    [ "$ENGINE" = docker26 ] || return 0
    old=$(curl -s --max-time 10 --unix-socket "$SOCK" http://d/v1.43/version || true)
    new=$(curl -sf --max-time 10 --unix-socket "$SOCK" http://d/v1.44/version || true)
    if [[ "$old" != *"too old"* ]] || [[ "$new" != *ApiVersion* ]]; then
        stop_daemon
        die "Docker 26 does not refuse API 1.43 or does not answer 1.44 (DOCKER_MIN_API_VERSION=1.44 ignored?): ${old:0:200}"
    fi
}

# Prints this daemon's bridge name: "ddp" and a hash of NAME (at most 15
# characters, the kernel's limit).
bridge_name() { printf 'ddp%08x\n' "$(printf '%s' "$NAME" | cksum | cut -d' ' -f1)"; }

# Creates the daemon's own bridge with a free /24 from 10.231.0.0/16 unless
# it already exists.
make_bridge() {
    local br n i x
    br=$(bridge_name)
    if ip link show "$br" >/dev/null 2>&1; then
        return 0
    fi
    n=$(printf '%s' "$NAME" | cksum | cut -d' ' -f1)
    for ((i = 0; i < 250; i++)); do
        x=$(((n + i) % 250 + 1))
        if [ -z "$(ip -4 route show 10.231.$x.0/24)" ] &&
            [ -z "$(ip -4 addr show to "10.231.$x.0/24")" ]; then
            break
        fi
        x=
    done
    [ -n "$x" ] || die "no free /24 left in 10.231.0.0/16 for the bridge"
    ip link add "$br" type bridge || die "cannot create bridge $br"
    ip addr add "10.231.$x.1/24" dev "$br"
    ip link set "$br" up
    echo "$br" >"$D/bridge"
}

# Removes the bridge made by make_bridge (only the one recorded for NAME).
remove_bridge() {
    local br
    br=$(cat "$D/bridge" 2>/dev/null || true)
    if [ -n "$br" ] && [ "$br" = "$(bridge_name)" ] && ip link show "$br" >/dev/null 2>&1; then
        ip link del "$br" 2>/dev/null || say "warning: could not remove bridge $br"
    fi
    rm -f "$D/bridge"
}

# Stops this daemon (dockerd, then its own containerd if it outlived it).
# Kills, by pid, the containerd shims of this daemon's containerd that
# outlived it (a daemon stopped under load leaves some behind, and they
# keep container filesystems mounted, so that removals fail with EBUSY
# after the next start), found by the containerd address under our exec
# root; then unmounts (lazily) what is still mounted below our state
# directory: with the daemon and its containerd gone, nothing uses it.
reap_shims() {
    local p cmd n=0 mp
    for p in /proc/[0-9]*; do
        cmd=$(tr '\0' ' ' 2>/dev/null <"$p/cmdline") || continue
        case "$cmd" in
        *containerd-shim*"$D/x/containerd/"*)
            kill -KILL "${p#/proc/}" 2>/dev/null && n=$((n + 1))
            ;;
        esac
    done
    [ "$n" -eq 0 ] || say "killed $n containerd shims left behind"
    # the newest mounts first
    awk -v d="$D/" 'index($2, d) == 1 { print $2 }' /proc/mounts | tac | while read -r mp; do
        umount -l "$mp" 2>/dev/null || true
    done
}

stop_daemon() {
    local pid cpid i
    pid=$(running_pid)
    if [ -n "$pid" ]; then
        kill -TERM "$pid" 2>/dev/null || true
        for ((i = 0; i < 300; i++)); do
            pid_is "$pid" dockerd || break
            sleep 0.1
        done
        if pid_is "$pid" dockerd; then
            say "dockerd (pid $pid) still running after 30 s, killing it"
            kill -KILL "$pid" 2>/dev/null || true
            sleep 0.5
        fi
        say "stopped (pid $pid)"
    else
        say "not running"
    fi
    # The containerd this daemon started: only when its command line names
    # our exec root, so another daemon's containerd is never touched.
    cpid=$(cat "$D/x/containerd/containerd.pid" 2>/dev/null || true)
    if pid_is "$cpid" containerd &&
        tr '\0' ' ' 2>/dev/null <"/proc/$cpid/cmdline" | grep -qF "$D/x/containerd/"; then
        kill -TERM "$cpid" 2>/dev/null || true
        for ((i = 0; i < 100; i++)); do
            pid_is "$cpid" containerd || break
            sleep 0.1
        done
        pid_is "$cpid" containerd && kill -KILL "$cpid" 2>/dev/null || true
        say "stopped its containerd (pid $cpid)"
    fi
    reap_shims
    remove_bridge
    rm -f "$D/started.pid" "$D/args"
}

start_daemon() {
    local args pid start port
    args="tcp=$TCP tls=$TLSDIR engine=$ENGINE"
    pid=$(running_pid)
    if [ -n "$pid" ]; then
        if [ "$(cat "$D/args" 2>/dev/null || true)" = "$args" ] && answers; then
            ensure_image
            say "already running (pid $pid, $ENGINE, unix://$SOCK${TCP:+, tcp://$TCP}${TLSDIR:+ with TLS})"
            return 0
        fi
        say "running with other settings, restarting"
        stop_daemon
    fi

    if [ -n "$TCP" ]; then
        port=${TCP##*:}
        if [ -n "$(ss -Hltn "sport = :$port" 2>/dev/null)" ]; then
            die "TCP port $port is already in use"
        fi
    fi

    mkdir -p "$D/data" "$D/x"
    rm -f "$D/dockerd.pid" "$SOCK"
    # Own config file (the host's /etc/docker/daemon.json is not read) and
    # own identity key, so "docker info" shows a different ID per daemon.
    printf '{"deprecated-key-path": "%s"}\n' "$D/key.json" >"$D/daemon.json"
    make_bridge
    local cmd=("${ENGINE_ENV[@]}" dockerd --config-file "$D/daemon.json" --data-root "$D/data" --exec-root "$D/x"
        --pidfile "$D/dockerd.pid" -H "unix://$SOCK"
        --bridge "$(bridge_name)" --iptables=false --ip-masq=false --ip-forward=false)
    if [ -n "$TCP" ]; then
        cmd+=(-H "tcp://$TCP")
    fi
    if [ -n "$TLSDIR" ]; then
        cmd+=(--tlsverify --tlscacert "$TLSDIR/ca.pem" --tlscert "$TLSDIR/server-cert.pem"
            --tlskey "$TLSDIR/server-key.pem")
    fi
    {
        echo "==== $(date '+%F %T') ${cmd[*]}"
    } >>"$D/dockerd.log"
    (cd / && exec setsid "${cmd[@]}" >>"$D/dockerd.log" 2>&1 </dev/null) &
    pid=$!
    echo "$pid" >"$D/started.pid"
    echo "$args" >"$D/args"

    start=$SECONDS
    until answers && { [ -z "$TCP" ] || tcp_answers; }; do
        if ! kill -0 "$pid" 2>/dev/null; then
            show_log
            remove_bridge
            rm -f "$D/started.pid" "$D/args"
            die "dockerd (pid $pid) exited, see $D/dockerd.log"
        fi
        if [ $((SECONDS - start)) -ge 60 ]; then
            show_log
            stop_daemon
            die "no answer after 60 s, see $D/dockerd.log"
        fi
        sleep 0.3
    done
    ensure_image
    check_min_api
    say "started (pid $pid, $ENGINE, unix://$SOCK${TCP:+, tcp://$TCP}${TLSDIR:+ with TLS}) in $((SECONDS - start)) s"
}

# ---- arguments --------------------------------------------------------------

[ $# -ge 2 ] || usage
CMD=$1
NAME=$2
shift 2
if ! [[ "$NAME" =~ ^[a-z0-9][a-z0-9_-]{0,19}$ ]]; then
    echo "private-dockerd: bad NAME '$NAME' (a-z 0-9 _ -, at most 20)" >&2
    exit 2
fi
D=$STATE_DIR/p/$NAME
SOCK=$D/docker.sock
TCP=
TLSDIR=
ENGINE=${DD_DOCKER_ENGINE:-docker20}
while [ $# -gt 0 ]; do
    case "$1" in
    --engine)
        [ $# -ge 2 ] || usage
        ENGINE=$2
        shift 2
        ;;
    --tcp)
        [ $# -ge 2 ] || usage
        TCP=$2
        shift 2
        ;;
    --tls)
        [ $# -ge 2 ] || usage
        TLSDIR=$(readlink -f "$2")
        shift 2
        ;;
    *) usage ;;
    esac
done

if [ "$CMD" = start ]; then
    if [ -n "$TCP" ] && ! [[ "$TCP" =~ ^(127\.[0-9]+\.[0-9]+\.[0-9]+|localhost):[0-9]{1,5}$ ]]; then
        die "--tcp must be a loopback address with a port, e.g. 127.0.0.1:22375"
    fi
    # A port in the kernel's ephemeral range may be taken by an outgoing
    # connection between the choice and dockerd's bind ("address already in
    # use"): refuse it (tests/ports.h holds the ports the tests use).
    if [ -n "$TCP" ]; then
        read -r lo hi < <(ephemeral_range)
        [ "${TCP##*:}" -lt "$lo" ] || [ "${TCP##*:}" -gt "$hi" ] ||
            die "--tcp port ${TCP##*:} is in the ephemeral range $lo-$hi; choose one below $lo (tests/ports.h)"
    fi
    if [ -n "$TLSDIR" ]; then
        [ -n "$TCP" ] || die "--tls needs --tcp"
        for f in ca.pem server-cert.pem server-key.pem cert.pem key.pem; do
            [ -s "$TLSDIR/$f" ] || die "$TLSDIR/$f missing (make it with scripts/gen-certs.sh)"
        done
    fi
    if [ ${#SOCK} -ge 100 ]; then
        die "socket path $SOCK is too long for a unix socket"
    fi
fi
if [ "$CMD" != host ] && [ "$(id -u)" -ne 0 ]; then
    echo "private-dockerd: must run as root" >&2
    exit 1
fi

# The engine: ENGINE_ENV goes before dockerd on its command line, CLI talks
# to it.  status asks with the client of the engine the daemon was started
# with.
if [ "$CMD" = status ]; then
    ENGINE=$(sed -n 's/.* engine=\([a-z0-9]*\).*/\1/p' "$D/args" 2>/dev/null || true)
    ENGINE=${ENGINE:-docker20}
fi
CLI=docker
ENGINE_ENV=(env)
case "$ENGINE" in
docker20) ;;
docker26)
    if [ "$CMD" = start ] || [ "$CMD" = status ]; then
        E=$("$PWD/scripts/debian13.sh" docker) || die "could not fetch Docker 26 (scripts/debian13.sh docker)"
        CLI=$E/usr/bin/docker
        ENGINE_ENV=(env "PATH=$E/usr/sbin:$E/usr/bin:$PATH" DOCKER_MIN_API_VERSION=1.44)
    fi
    ;;
*) die "unknown engine '$ENGINE' (docker20, docker26)" ;;
esac

case "$CMD" in
start) start_daemon ;;
stop) stop_daemon ;;
status)
    pid=$(running_pid)
    if [ -n "$pid" ] && answers; then
        say "running (pid $pid, unix://$SOCK $(cat "$D/args" 2>/dev/null || true))"
    else
        say "not running"
        exit 1
    fi
    ;;
host) echo "unix://$SOCK" ;;
*) usage ;;
esac
