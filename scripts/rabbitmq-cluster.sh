#!/usr/bin/env bash
# rabbitmq-cluster.sh -- a RabbitMQ cluster of private nodes on this machine,
# for the cluster tests: N nodes (scripts/private-rabbitmq.sh) sharing one
# Erlang cookie, nodes 2..N joined to node 1.
#
# Usage:
#   rabbitmq-cluster.sh start NAME PORT [N]  starts nodes 1..N (default 3)
#                                            on 127.0.0.1:PORT..PORT+N-1 (all
#                                            that do not answer, at once),
#                                            then joins every node that is
#                                            not a member yet to node 1
#   rabbitmq-cluster.sh start-node NAME I    starts node I (again): it
#                                            rejoins the cluster
#   rabbitmq-cluster.sh stop NAME [I]        stops node I, or every node
#   rabbitmq-cluster.sh status NAME          prints the running members;
#                                            exit status 1 unless all N run
#   rabbitmq-cluster.sh purge NAME           stops every node and removes
#                                            the cluster's state
#
# Node I is the private node NAME-I of private-rabbitmq.sh: Erlang node
# ddNAME-I@<short hostname>, AMQP on 127.0.0.1:PORT+I-1, distribution port
# PORT+I-1+20000, state in $DD_STATE_DIR/r/NAME-I (default
# /var/tmp/docker-dispatch/r/NAME-I).  The cluster's own state (PORT, N,
# the shared cookie, the log of the joins) is in $DD_STATE_DIR/rc/NAME.
# start is idempotent: running members are left alone, and a node whose
# state says it is a member rejoins by itself; the same NAME keeps its data
# across stop and start.  A node started again after a stop rejoins while
# the others run; after all were stopped, start starts them all at once
# (RabbitMQ's rule: the last node down waits for its peers).  Only the
# nodes of NAME are ever stopped, by their own names.  Nodes use the
# Erlang flags that stop busy-waiting on a 2-core machine (see
# private-rabbitmq.sh).  Three nodes start and form the cluster in about
# 20 s on 2 cores; a node restarts and rejoins in about 6 s.
set -euo pipefail

cd "$(dirname "$(readlink -f "$0")")/.."

STATE_DIR=${DD_STATE_DIR:-/var/tmp/docker-dispatch}
PRIV=$PWD/scripts/private-rabbitmq.sh

usage() {
    sed -n '6,18p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

say() { echo "rabbitmq-cluster: $NAME: $*"; }
die() {
    echo "rabbitmq-cluster: $NAME: FAILED: $*" >&2
    exit 1
}

py() {
    if [ -x /usr/bin/python3 ]; then /usr/bin/python3 "$@"; else python3 "$@"; fi
}

node_name() { echo "$NAME-$1"; }
erl_node() { echo "dd$NAME-$1@$(hostname -s)"; }

# rabbitmqctl ARGS on node I (quiet).
ctl() {
    local i=$1
    shift
    "$PRIV" ctl "$(node_name "$i")" -q "$@"
}

# True when $1 is a node index of the cluster (1..N).
index_ok() { [[ "$1" =~ ^[1-9]$ ]] && [ "$1" -le "$N" ]; }

# Reads PORT and N recorded by start.
load_conf() {
    if [ ! -f "$C/port" ] || [ ! -f "$C/nodes" ]; then
        die "not started here (no $C)"
    fi
    PORT=$(cat "$C/port")
    N=$(cat "$C/nodes")
}

# The cluster status of node I as JSON on stdout; fails when it does not
# answer.
cluster_json() { ctl "$1" cluster_status --formatter json 2>/dev/null; }

# Prints the members (disk nodes) or running nodes (what=running_nodes)
# that node I reports, one per line.
nodes_of() {
    local i=$1 what=${2:-disk_nodes} js
    js=$(cluster_json "$i") || return 1
    printf '%s' "$js" | py -c 'import json, sys
for n in json.load(sys.stdin).get(sys.argv[1], []): print(n)' "$what"
}

# True when node I counts node 1 among its cluster's members.
is_member() {
    local members
    members=$(nodes_of "$1") || return 1
    grep -qxF "$(erl_node 1)" <<<"$members"
}

# True when node I is a cluster of its own (it knows no other member).
is_alone() {
    local members
    members=$(nodes_of "$1") || return 1
    [ "$members" = "$(erl_node "$1")" ]
}

# Starts the nodes given (indexes), all at once; fails when one does not
# come up.
start_nodes() {
    local i pids=() failed=0
    for i in "$@"; do
        DD_RABBIT_COOKIE=$COOKIE "$PRIV" start "$(node_name "$i")" $((PORT + i - 1)) \
            >"$C/start-$i.log" 2>&1 &
        pids+=($!)
    done
    for ((i = 0; i < ${#pids[@]}; i++)); do
        wait "${pids[$i]}" || failed=1
    done
    for i in "$@"; do
        sed 's/^/  /' "$C/start-$i.log"
    done
    [ "$failed" -eq 0 ] || die "a node did not start (see above)"
}

# Joins node I to node 1 unless it is a member already.
join_node() {
    local i=$1
    [ "$i" -ne 1 ] || return 0
    if is_member "$i"; then
        return 0
    fi
    # reset wipes the node: only ever a node that belongs to no cluster
    is_alone "$i" || die "node $i belongs to another cluster: $(nodes_of "$i" | tr '\n' ' ')"
    {
        echo "==== $(date '+%F %T') joining $(erl_node "$i") to $(erl_node 1)"
        ctl "$i" stop_app && ctl "$i" reset && ctl "$i" join_cluster "$(erl_node 1)" &&
            ctl "$i" start_app
    } >>"$C/join.log" 2>&1 || {
        tail -n 20 "$C/join.log" >&2
        die "node $i could not join node 1 (see $C/join.log)"
    }
    is_member "$i" || die "node $i is not a member after joining (see $C/join.log)"
    say "node $i joined $(erl_node 1)"
}

cmd_start() {
    local i t0=$SECONDS
    [[ "$PORT" =~ ^[0-9]{1,5}$ && "$N" =~ ^[1-9]$ ]] || usage
    [ $((PORT + N - 1 + 20000)) -le 65535 ] || die "PORT $PORT is too high"
    mkdir -p "$C"
    if [ -f "$C/port" ] && [ "$(cat "$C/port"):$(cat "$C/nodes")" != "$PORT:$N" ]; then
        die "already made with port $(cat "$C/port") and $(cat "$C/nodes") nodes; purge it first"
    fi
    echo "$PORT" >"$C/port"
    echo "$N" >"$C/nodes"
    [ -s "$C/cookie" ] || head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$C/cookie"
    COOKIE=$(cat "$C/cookie")
    start_nodes $(seq 1 "$N")
    for ((i = 2; i <= N; i++)); do
        join_node "$i"
    done
    say "$N nodes running as one cluster (127.0.0.1:$PORT..$((PORT + N - 1))) in $((SECONDS - t0)) s"
}

cmd_start_node() {
    local i=$1 t0=$SECONDS
    load_conf
    index_ok "$i" || usage
    COOKIE=$(cat "$C/cookie")
    start_nodes "$i"
    join_node "$i"
    say "node $i running in the cluster in $((SECONDS - t0)) s"
}

cmd_stop() {
    local i pids=() failed=0
    if [ ! -f "$C/nodes" ]; then
        say "not running"
        return 0
    fi
    N=$(cat "$C/nodes")
    if [ $# -ge 1 ]; then
        index_ok "$1" || usage
        "$PRIV" stop "$(node_name "$1")"
        return 0
    fi
    for ((i = N; i >= 1; i--)); do
        "$PRIV" stop "$(node_name "$i")" &
        pids+=($!)
    done
    for ((i = 0; i < ${#pids[@]}; i++)); do
        wait "${pids[$i]}" || failed=1
    done
    [ "$failed" -eq 0 ] || die "a node did not stop"
}

cmd_status() {
    local i running=
    load_conf
    for ((i = 1; i <= N; i++)); do
        if running=$(nodes_of "$i" running_nodes); then
            break
        fi
    done
    if [ -z "$running" ]; then
        say "not running"
        return 1
    fi
    say "running: $(echo "$running" | sort | tr '\n' ' ')($(echo "$running" | wc -l) of $N)"
    [ "$(echo "$running" | wc -l)" -eq "$N" ]
}

cmd_purge() {
    local d
    cmd_stop
    for d in "$STATE_DIR/r/$NAME-"[1-9]; do
        [ -d "$d" ] && rm -rf "$d"
    done
    rm -rf "$C"
    say "purged"
}

# ---- arguments --------------------------------------------------------------

[ $# -ge 2 ] || usage
CMD=$1
NAME=$2
if ! [[ "$NAME" =~ ^[a-z0-9][a-z0-9_-]{0,17}$ ]]; then
    echo "rabbitmq-cluster: bad NAME '$NAME' (a-z 0-9 _ -, at most 18)" >&2
    exit 2
fi
C=$STATE_DIR/rc/$NAME

case "$CMD" in
start)
    [ $# -eq 3 ] || [ $# -eq 4 ] || usage
    PORT=$3
    N=${4:-3}
    cmd_start
    ;;
start-node)
    [ $# -eq 3 ] || usage
    cmd_start_node "$3"
    ;;
stop)
    [ $# -le 3 ] || usage
    cmd_stop "${@:3}"
    ;;
status)
    [ $# -eq 2 ] || usage
    cmd_status
    ;;
purge)
    [ $# -eq 2 ] || usage
    cmd_purge
    ;;
*) usage ;;
esac
