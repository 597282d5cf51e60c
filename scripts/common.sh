# common.sh -- helpers the scripts share; sourced (never run) by
# services.sh, private-dockerd.sh, private-podman.sh, private-rabbitmq.sh,
# test-deb.sh and test-image.sh.

# True when PID is alive and its command name is NAME (guards against a
# recycled pid).
pid_is() {
    local pid=$1 name=$2 comm
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    comm=$(cat "/proc/$pid/comm" 2>/dev/null) || return 1
    [ "$comm" = "$name" ]
}

# Prints to stderr the last 30 lines that FILE got since the last start
# (the line "==== ..." a start writes into it).
show_start_log() {
    if [ -f "$1" ]; then
        echo "---- last lines of $1 ----" >&2
        awk '/^==== / { n = 0 } { line[n++] = $0 } END { for (i = (n > 30 ? n - 30 : 0); i < n; i++) print line[i] }' \
            "$1" >&2 || true
        echo "----" >&2
    fi
}

# Prints "LO HI", the kernel's ephemeral port range, where an outgoing
# connection may take a port between the check that it is free and the
# bind (tests/ports.h keeps every port the tests use below it).
ephemeral_range() {
    local lo hi
    read -r lo hi </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || { lo=32768 hi=60999; }
    echo "$lo $hi"
}

# Deletes the queues and exchanges a daemon with queue Q declares (Q and
# Q.*), on the local RabbitMQ.  Quiet; nothing to do without rabbitmqctl.
delete_topology() {
    command -v rabbitmqctl >/dev/null || return 0
    local q e
    for q in $(rabbitmqctl -q list_queues name 2>/dev/null | grep -E "^$1(\.|\$)"); do
        rabbitmqctl -q delete_queue "$q" >/dev/null 2>&1
    done
    for e in $(rabbitmqctl -q list_exchanges name 2>/dev/null | grep -E "^$1\."); do
        rabbitmqctl -q eval "rabbit_exchange:delete(rabbit_misc:r(<<\"/\">>, exchange, \
<<\"$e\">>), false, <<\"guest\">>)." >/dev/null 2>&1
    done
}

# Prints the first port of the tests/ports.h range NAME (scripts/ports.sh)
# that nothing listens on; fails when every one is taken.
free_port() {
    local first last p
    read -r first last < <(scripts/ports.sh "$1") || return 1
    for p in $(seq "$first" "$last"); do
        [ -n "$(ss -Htln "sport = :$p")" ] || { echo "$p" && return 0; }
    done
    return 1
}

# True when REPLY (dispatchctl --json) is the ok reply of
# `run --rm --attach busybox:latest echo "hello from Q"`: exit code 0, that
# output, the container removed.
hello_reply_ok() {
    python3 -c '
import json, sys
r = json.loads(sys.argv[1])
assert r["ok"] is True, r
assert r["result"]["exit_code"] == 0, r
assert r["result"]["stdout"] == "hello from " + sys.argv[2] + "\n", r
assert r["result"]["removed"] is True, r' "$1" "$2"
}
