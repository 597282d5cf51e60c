#!/usr/bin/env bash
# private-rabbitmq.sh -- runs a RabbitMQ node of its own next to the main
# one, for tests that stop and restart the broker.
#
# Usage:
#   private-rabbitmq.sh start NAME PORT [TLSPORT CERTDIR]
#                                         starts node NAME on 127.0.0.1:PORT,
#                                         and an amqps listener on TLSPORT
#                                         with CERTDIR's server-cert.pem,
#                                         server-key.pem and ca.pem (client
#                                         certificates required, signed by
#                                         ca.pem; see gen-certs.sh)
#   private-rabbitmq.sh stop NAME
#   private-rabbitmq.sh set NAME KEY N    sets the rabbit setting KEY (a
#                                         number) on the running node
#   private-rabbitmq.sh ctl NAME ARGS...  runs rabbitmqctl ARGS on the node
#
# Node NAME is the Erlang node dd<NAME>@<short hostname>; it keeps
# everything under $DD_STATE_DIR/r/NAME (default /var/tmp/docker-dispatch/r/
# NAME): its database (m/), logs (l/), enabled plugins file (none), HOME
# with the node's own .erlang.cookie (0400) and the port it was started
# with.  Its distribution port is PORT + 20000; both must lie below the
# kernel's ephemeral range (net.ipv4.ip_local_port_range), where any
# outgoing connection could take one between the check and the bind, and
# start refuses a PORT that does not.  start is idempotent (an
# answering node is left alone) and the same NAME keeps its data across
# stop and start; stop only ever stops that node, by its own name, and
# waits until its process is gone (after 30 s it kills that process, by
# the pid the node recorded, when its environment names the node).  Only
# the guest user exists, and it may log in from localhost.  set changes
# the running node only (a restart forgets it); channels opened after it
# see the new value, e.g. consumer_timeout or channel_tick_interval.
# $DD_RABBIT_COOKIE (16 to 64 letters and digits), when set at start,
# is the node's Erlang cookie instead of a random one of its own: nodes
# that share it can form a cluster (scripts/rabbitmq-cluster.sh).
#
# $DD_RABBITMQ_ROOT, when set at start, names a root directory with
# another RabbitMQ (e.g. Debian 13's 4.0, made by scripts/debian13.sh
# root): the node then runs chrooted there, in a mount namespace of its
# own where /proc and the node's directory are bind-mounted into the
# root at their own paths (they go away with the node; nothing is left
# mounted), sharing the machine's network and epmd.  The root is
# recorded, so stop, set and ctl use its rabbitmqctl whatever the
# environment says; a node running from another root than the one asked
# for is restarted, and its data, made by another RabbitMQ, starts
# afresh.  Such a node refuses queues that are neither durable nor
# exclusive, as RabbitMQ 4.3 does by default
# (deprecated_features.permit.transient_nonexcl_queues = false).
set -euo pipefail
. "$(dirname "$(readlink -f "$0")")/common.sh"

STATE_DIR=${DD_STATE_DIR:-/var/tmp/docker-dispatch}
RMQ=/usr/lib/rabbitmq/bin

usage() {
    sed -n '5,16p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

[ $# -ge 2 ] || usage
CMD=$1
NAME=$2
if ! [[ "$NAME" =~ ^[a-z0-9][a-z0-9_-]{0,19}$ ]]; then
    echo "private-rabbitmq: bad NAME '$NAME' (a-z 0-9 _ -, at most 20)" >&2
    exit 2
fi
D=$STATE_DIR/r/$NAME
NODE=dd$NAME@$(hostname -s)

# IN_ROOT: the prefix that runs a command of $RMQ for this node: nothing,
# or the mount namespace and chroot of the root the node runs from.
IN_ROOT=()
ROOT=
use_root() {
    ROOT=$1
    IN_ROOT=()
    [ -n "$ROOT" ] || return 0
    # shellcheck disable=SC2016 # expanded by that shell
    IN_ROOT=(unshare --mount --propagation private sh -c
        'mount --bind /proc "$1/proc" && mount --bind "$2" "$1$2" && r=$1 && shift 2 &&
         exec chroot "$r" "$@"' sh "$ROOT" "$D")
}
use_root "$(cat "$D/root" 2>/dev/null || true)"

# Environment shared by the server and rabbitmqctl for this node.
node_env() {
    export HOME=$D/home
    export RABBITMQ_NODENAME=$NODE
    export RABBITMQ_MNESIA_BASE=$D/m
    export RABBITMQ_LOG_BASE=$D/l
    export RABBITMQ_ENABLED_PLUGINS_FILE=$D/enabled_plugins
    export RABBITMQ_PID_FILE=$D/rabbit.pid
    export ERL_CRASH_DUMP=$D/l/erl_crash.dump
    export RABBITMQ_CONFIG_FILE=$D/rabbitmq
    export RABBITMQ_ADVANCED_CONFIG_FILE=$D/advanced.config
    export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="+sbwt none +sbwtdcpu none +sbwtdio none"
    unset RABBITMQ_CONF_ENV_FILE || true
}

ctl() { timeout 60 "${IN_ROOT[@]}" "$RMQ/rabbitmqctl" -n "$NODE" "$@"; }

answers() { ctl -q status >/dev/null 2>&1; }

start_node() {
    local port=$1 tlsport=${2:-} certdir=${3:-} start want=${DD_RABBITMQ_ROOT:-}
    [[ "$port" =~ ^[0-9]{1,5}$ ]] || usage
    if [ -n "$want" ]; then
        want=$(readlink -f "$want")
        [ -x "$want$RMQ/rabbitmq-server" ] || {
            echo "private-rabbitmq: $NAME: FAILED: DD_RABBITMQ_ROOT=$want has no $RMQ/rabbitmq-server (make one with scripts/debian13.sh root)" >&2
            exit 1
        }
    fi
    mkdir -p "$D/home" "$D/m" "$D/l"
    node_env
    if [ "$want" != "$ROOT" ]; then
        if answers; then
            echo "private-rabbitmq: $NAME: running from ${ROOT:-this machine}, restarting it from ${want:-this machine}"
            stop_node
        fi
        if [ -n "$(ls -A "$D/m")" ]; then
            echo "private-rabbitmq: $NAME: its data was made by the RabbitMQ of ${ROOT:-this machine}, starting afresh"
            rm -rf "$D/m" && mkdir -p "$D/m"
        fi
        use_root "$want"
        if [ -n "$ROOT" ]; then
            echo "$ROOT" >"$D/root"
        else
            rm -f "$D/root"
        fi
    fi
    [ -z "$ROOT" ] || mkdir -p "$ROOT$D"
    local cookie=$D/home/.erlang.cookie
    if [ -n "${DD_RABBIT_COOKIE:-}" ]; then
        [[ "$DD_RABBIT_COOKIE" =~ ^[A-Za-z0-9]{16,64}$ ]] || {
            echo "private-rabbitmq: $NAME: bad DD_RABBIT_COOKIE (16 to 64 letters and digits)" >&2
            exit 2
        }
        if [ "$(cat "$cookie" 2>/dev/null || true)" != "$DD_RABBIT_COOKIE" ]; then
            rm -f "$cookie"
            printf '%s' "$DD_RABBIT_COOKIE" >"$cookie"
            chmod 0400 "$cookie"
        fi
    elif [ ! -f "$cookie" ]; then
        head -c 20 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$cookie"
        chmod 0400 "$cookie"
    fi
    echo "[]." >"$D/enabled_plugins"
    printf 'listeners.tcp.1 = 127.0.0.1:%s\nloopback_users.guest = true\n' "$port" >"$D/rabbitmq.conf"
    # A RabbitMQ of another root (4.x) refuses now what RabbitMQ 4.3 refuses
    # by default: queues neither durable nor exclusive (it closes the
    # connection that declares one), so that the lane finds any.
    [ -z "$ROOT" ] ||
        echo 'deprecated_features.permit.transient_nonexcl_queues = false' >>"$D/rabbitmq.conf"
    if [ -n "$tlsport" ]; then
        [[ "$tlsport" =~ ^[0-9]{1,5}$ && -f "$certdir/server-cert.pem" ]] || usage
        # copies in the node's directory, which a node in a root sees too
        mkdir -p "$D/tls"
        cp "$certdir/ca.pem" "$certdir/server-cert.pem" "$certdir/server-key.pem" "$D/tls/"
        cat >>"$D/rabbitmq.conf" <<EOF
listeners.ssl.1 = 127.0.0.1:$tlsport
ssl_options.cacertfile = $D/tls/ca.pem
ssl_options.certfile = $D/tls/server-cert.pem
ssl_options.keyfile = $D/tls/server-key.pem
ssl_options.verify = verify_peer
ssl_options.fail_if_no_peer_cert = true
EOF
    fi
    echo "[]." >"$D/advanced.config"
    if answers; then
        echo "private-rabbitmq: $NAME: already running ($NODE)"
        return 0
    fi
    local lo hi
    read -r lo hi < <(ephemeral_range)
    if [ $((port + 20000)) -ge "$lo" ] && [ "$port" -le "$hi" ]; then
        echo "private-rabbitmq: $NAME: FAILED: port $port or its distribution port $((port + 20000)) is in the ephemeral range $lo-$hi; choose a port below $((lo - 20000))" >&2
        exit 1
    fi
    if [ -n "$(ss -Hltn "sport = :$port" 2>/dev/null)" ]; then
        echo "private-rabbitmq: $NAME: FAILED: port $port is already in use" >&2
        exit 1
    fi
    if [ -n "$(ss -Hltn "sport = :$((port + 20000))" 2>/dev/null)" ]; then
        echo "private-rabbitmq: $NAME: FAILED: distribution port $((port + 20000)) is already in use" >&2
        exit 1
    fi
    echo "$port" >"$D/port"
    export RABBITMQ_NODE_PORT=$port
    export RABBITMQ_DIST_PORT=$((port + 20000))
    # In the foreground, in a session of its own, rather than -detached:
    # the wrapper's pid tells at once when the node gave up (a port taken
    # between the check above and the bind, say), and what the VM says
    # on the way out lands in start.log.
    local wrapper
    setsid "${IN_ROOT[@]}" "$RMQ/rabbitmq-server" >>"$D/start.log" 2>&1 </dev/null &
    wrapper=$!
    start=$SECONDS
    until ctl -q await_startup >/dev/null 2>&1; do
        if ! kill -0 "$wrapper" 2>/dev/null; then
            start_failed "the node exited after $((SECONDS - start)) s"
        fi
        if [ $((SECONDS - start)) -ge 90 ]; then
            start_failed "no answer after 90 s"
        fi
        sleep 1
    done
    echo "private-rabbitmq: $NAME: started ($NODE on 127.0.0.1:$port${ROOT:+, from $ROOT}) in $((SECONDS - start)) s"
}

# Reports a start that failed, with the end of what the node wrote, and
# exits 1.
start_failed() {
    local f
    echo "private-rabbitmq: $NAME: FAILED: $1, see $D/l" >&2
    for f in "$D/start.log" "$D/l/$NODE.log"; do
        [ -s "$f" ] || continue
        echo "---- last lines of $f ----" >&2
        tail -n 25 "$f" | cut -c1-300 >&2
    done
    exit 1
}

# True when PID is alive and is this node's Erlang VM (its environment
# names the node).
is_node_vm() {
    local pid=$1 env
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    [ "$(cat "/proc/$pid/comm" 2>/dev/null || true)" = beam.smp ] || return 1
    env=$({ tr '\0' '\n' <"/proc/$pid/environ"; } 2>/dev/null) || return 1
    grep -qxF "RABBITMQ_NODENAME=$NODE" <<<"$env"
}

stop_node() {
    local pid i
    [ -d "$D" ] || {
        echo "private-rabbitmq: $NAME: not running"
        return 0
    }
    node_env
    pid=$(cat "$D/rabbit.pid" 2>/dev/null || true)
    is_node_vm "$pid" || pid=
    if answers; then
        ctl stop >/dev/null 2>&1 || true
    elif [ -z "$pid" ]; then
        echo "private-rabbitmq: $NAME: not running"
        return 0
    fi
    # rabbitmqctl stop may return before the VM has quite gone; wait for it
    for ((i = 0; i < 300; i++)); do
        is_node_vm "$pid" || break
        sleep 0.1
    done
    if is_node_vm "$pid"; then
        echo "private-rabbitmq: $NAME: $NODE (pid $pid) still running after 30 s, killing it" >&2
        kill -KILL "$pid" 2>/dev/null || true
        sleep 0.5
    fi
    # the mount point the node had in its root (empty, the mount was the
    # node's own)
    [ -z "$ROOT" ] || rmdir "$ROOT$D" 2>/dev/null || true
    echo "private-rabbitmq: $NAME: stopped ($NODE)"
}

set_key() {
    local key=$1 value=$2
    [[ "$key" =~ ^[a-z][a-z_]{0,40}$ && "$value" =~ ^[0-9]{1,9}$ ]] || usage
    node_env
    answers || {
        echo "private-rabbitmq: $NAME: FAILED: not running" >&2
        exit 1
    }
    ctl -q eval "application:set_env(rabbit, $key, $value)." >/dev/null
    echo "private-rabbitmq: $NAME: $key = $value"
}

case "$CMD" in
start)
    [ $# -eq 3 ] || [ $# -eq 5 ] || usage
    start_node "$3" "${4:-}" "${5:-}"
    ;;
stop) stop_node ;;
ctl)
    shift 2
    [ $# -ge 1 ] || usage
    [ -d "$D" ] || {
        echo "private-rabbitmq: $NAME: FAILED: no such node" >&2
        exit 1
    }
    node_env
    ctl "$@"
    ;;
set)
    [ $# -eq 4 ] || usage
    set_key "$3" "$4"
    ;;
*) usage ;;
esac
