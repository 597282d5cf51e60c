#!/usr/bin/env bash
# test-deb.sh -- builds the Debian packages (debian/) and tries them on this
# machine as an administrator would: install, configure, start, use, purge.
# As root, with the machine's services up (scripts/services.sh): dockerd on
# /var/run/docker.sock, RabbitMQ on 127.0.0.1:5672, busybox:latest.
#
#   1. build: the tree's files (tracked, and untracked ones git does not
#      ignore) copied to a work directory, dpkg-buildpackage -us -uc there
#   2. lintian on the .changes: any E: or W: tag fails
#   3. apt-get install ./*.deb; checks the user (in group docker), the
#      conffiles and their owner and mode, the unit, both --version
#   4. a broken config: the daemon refuses to start with a line naming the
#      file and exit status 2, which the unit does not restart
#   5. the settings edited (a queue of this run's own, the gateway on a port
#      of tests/ports.h), the same .deb installed again: the edits stay
#   6. the service started: systemctl start where systemd is PID 1, else
#      the installed daemon started as the unit would (its ExecStart, user,
#      environment file, a notify socket and a watchdog); READY=1 awaited;
#      the installed dispatchctl sends a run and reads its reply; /metrics
#      shows build_info with the version; the watchdog was pinged
#   7. libdkc-dev: a program built with pkg-config dkc pings Docker
#   8. apt-get purge: no file of the packages, no user or group, no unit,
#      no statoverride, no /etc/docker-dispatch or log directory left; the
#      queues and exchanges of the run deleted from RabbitMQ
#
# Stops only what it started.  Refuses to run when one of the packages is
# installed already (it would purge it).  Takes 2 to 4 minutes on 2 cores,
# most of it the build and its unit suite.  Environment: DEB_WORK (work
# directory, default /var/tmp/docker-dispatch/deb), KEEP=1 (keep it).
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."
. scripts/common.sh
STATE_DIR=${DD_STATE_DIR:-/var/tmp/docker-dispatch}
WORK=${DEB_WORK:-$STATE_DIR/deb}
PKGS=(docker-dispatch libdkc1 libdkc-dev)
Q=debtest-$$
UNIT=/lib/systemd/system/docker-dispatch.service
CONF=/etc/docker-dispatch/config.json
DEFAULTS=/etc/default/docker-dispatch
DAEMON_PID="" NOTIFY_PID="" INSTALLED=0 T0=$SECONDS

say() { echo "test-deb: $*"; }
die() { echo "test-deb: FAIL: $*" >&2 && exit 1; }
took() { say "$1 took $((SECONDS - $2)) s"; }
systemd_runs() { [ "$(cat /proc/1/comm 2>/dev/null)" = systemd ] && [ -d /run/systemd/system ]; }

[ "$(id -u)" -eq 0 ] || die "run as root"
for p in "${PKGS[@]}"; do
    if dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null | grep -qv '^not-installed$'; then
        die "$p is installed already: this test would purge it"
    fi
done
mkdir -p "$STATE_DIR"
exec 8>"$STATE_DIR/test-deb.lock"
flock -n 8 || die "another test-deb.sh is running"

# Stops what this run started and purges what it installed.
cleanup() {
    set +e
    if systemd_runs && [ "$INSTALLED" -eq 1 ]; then
        systemctl stop docker-dispatch.service 2>/dev/null
    fi
    [ -z "$DAEMON_PID" ] || { kill -TERM "$DAEMON_PID" 2>/dev/null && wait "$DAEMON_PID"; }
    [ -z "$NOTIFY_PID" ] || { kill -TERM "$NOTIFY_PID" 2>/dev/null && wait "$NOTIFY_PID"; }
    DAEMON_PID="" NOTIFY_PID=""
    [ "$INSTALLED" -eq 0 ] || apt-get purge -y -q "${PKGS[@]}" >/dev/null 2>&1
    INSTALLED=0
    delete_topology "$Q"
    [ "${KEEP:-0}" = 1 ] || rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- 1. build -----------------------------------------------------------------
t=$SECONDS
rm -rf "$WORK" && mkdir -p "$WORK/src"
git ls-files -z -co --exclude-standard | tar --null -T - -cf - | tar -C "$WORK/src" -xf -
(cd "$WORK/src" && dpkg-checkbuilddeps) ||
    die "build dependencies missing: apt-get install them (debian/control)"
say "building in $WORK (log: $WORK/build.log)"
(cd "$WORK/src" && dpkg-buildpackage -us -uc -j"$(nproc)") >"$WORK/build.log" 2>&1 ||
    { tail -n 40 "$WORK/build.log" && die "dpkg-buildpackage failed"; }
grep -E '^(Ok|Fail):' "$WORK/build.log" | tr -s ' ' | paste -sd' ' | sed 's/^/test-deb: unit suite: /'
took "build" "$t"

# ---- 2. lintian ---------------------------------------------------------------
t=$SECONDS
CHANGES=$(ls "$WORK"/docker-dispatch_*.changes)
rc=0 && out=$(lintian --info --fail-on error,warning "$CHANGES" 2>&1) || rc=$?
grep -v 'running with root privileges' <<<"$out" | sed 's/^/lintian: /' || true
[ "$rc" -eq 0 ] || die "lintian: errors or warnings (exit status $rc)"
took "lintian" "$t"

# ---- 3. install ---------------------------------------------------------------
t=$SECONDS
VERSION=$(dpkg-parsechangelog -l "$WORK/src/debian/changelog" -S Version)
DEBS=()
for p in "${PKGS[@]}"; do DEBS+=("$WORK/${p}_${VERSION}_$(dpkg --print-architecture).deb"); done
INSTALLED=1
apt-get install -y -q "${DEBS[@]}" >"$WORK/install.log" 2>&1 ||
    { cat "$WORK/install.log" && die "apt-get install failed"; }
getent passwd docker-dispatch >/dev/null || die "no user docker-dispatch"
if getent group docker >/dev/null; then
    [[ " $(id -nG docker-dispatch) " == *" docker "* ]] || die "docker-dispatch is not in group docker"
fi
conffiles=$(dpkg-query -W -f='${Conffiles}\n' docker-dispatch)
grep -q " $CONF " <<<"$conffiles" || die "$CONF is no conffile"
grep -q " $DEFAULTS " <<<"$conffiles" ||
    die "$DEFAULTS is no conffile"
[ "$(stat -c '%U:%G %a' "$CONF")" = "root:docker-dispatch 640" ] ||
    die "$CONF is $(stat -c '%U:%G %a' "$CONF"), not root:docker-dispatch 640"
grep -qx 'Type=notify' "$UNIT" || die "$UNIT: not Type=notify"
grep -q '^WatchdogSec=' "$UNIT" || die "$UNIT: no watchdog"
[ "$(docker-dispatch --version)" = "docker-dispatch ${VERSION%%-*}" ] ||
    die "docker-dispatch --version: $(docker-dispatch --version), package $VERSION"
[ "$(dispatchctl --version)" = "dispatchctl ${VERSION%%-*}" ] ||
    die "dispatchctl --version: $(dispatchctl --version), package $VERSION"
say "installed ${PKGS[*]} $VERSION: user, conffiles, unit and versions as expected"
took "install" "$t"

# Runs the installed daemon as the unit would, in the background
# (DAEMON_PID): its ExecStart with the environment file's variables, as its
# user and groups, without capabilities, with a notify socket read into
# $WORK/notify and a watchdog of WATCHDOG_S seconds.
start_as_unit() {
    local exec
    exec=$(sed -n 's/^ExecStart=//p' "$UNIT")
    [ -n "$NOTIFY_PID" ] || {
        rm -f "$WORK/notify.sock" && : >"$WORK/notify"
        python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
with open(sys.argv[2], "a") as out:
    while True:
        out.write(s.recv(4096).decode() + "\n")
        out.flush()' "$WORK/notify.sock" "$WORK/notify" &
        NOTIFY_PID=$!
        for _ in $(seq 50); do [ -S "$WORK/notify.sock" ] && break; sleep 0.1; done
        chmod 0666 "$WORK/notify.sock"
        chmod o+x "$WORK"
    }
    install -d -m 0750 -o docker-dispatch -g docker-dispatch /var/log/docker-dispatch
    (
        # shellcheck disable=SC1090 # the installed environment file
        set -a && . "$DEFAULTS" && set +a
        export NOTIFY_SOCKET=$WORK/notify.sock WATCHDOG_USEC=$((WATCHDOG_S * 1000000))
        # shellcheck disable=SC2046 # ExecStart's words, $DISPATCH_ARGS split as systemd does
        exec setpriv --reuid=docker-dispatch --regid=docker-dispatch --init-groups \
            --inh-caps=-all --bounding-set=-all --no-new-privs \
            $(eval echo "$exec")
    ) >"$WORK/daemon.out" 2>"$WORK/daemon.err" &
    DAEMON_PID=$!
}

# ---- 4. a broken config is refused ------------------------------------------------
t=$SECONDS
cp -p "$CONF" "$WORK/config.orig"
printf '{"queue": "%s",\n' "$Q" >"$CONF"
if systemd_runs; then
    ! systemctl start docker-dispatch.service 2>/dev/null || die "the unit started with a broken config"
    sleep 1
    journalctl -u docker-dispatch.service --since "-2min" -o cat | grep "config file $CONF" ||
        die "no journal line naming $CONF"
    [ "$(systemctl show -P ExecMainStatus docker-dispatch.service)" = 2 ] ||
        die "the daemon did not exit 2"
else
    WATCHDOG_S=120 start_as_unit
    for _ in $(seq 300); do kill -0 "$DAEMON_PID" 2>/dev/null || break; sleep 0.1; done
    ! kill -0 "$DAEMON_PID" 2>/dev/null || die "the daemon runs with a broken config"
    rc=0 && wait "$DAEMON_PID" || rc=$?
    DAEMON_PID=""
    [ "$rc" -eq 2 ] || die "the daemon with a broken config: exit status $rc, not 2"
    grep "config file $CONF" "$WORK/daemon.err" || die "no line naming $CONF on stderr"
    grep -q '^RestartPreventExitStatus=2$' "$UNIT" || die "the unit would restart it"
fi
cp -p "$WORK/config.orig" "$CONF"
say "a broken config: refused with exit status 2 and the line above"
took "broken config" "$t"

# ---- 5. settings edited, package installed again: the edits stay -----------------
t=$SECONDS
PORT=$(free_port deb_gateway) || die "no free port in tests/ports.h DD_PORTS_DEB_GATEWAY"
python3 -c '
import json, sys
c = json.load(open(sys.argv[1]))
c["queue"] = sys.argv[2]
json.dump(c, open(sys.argv[1], "w"), indent=2)' "$CONF" "$Q"
sed -i "s/^DISPATCH_ARGS=.*/DISPATCH_ARGS=\"--gateway $PORT\"/" "$DEFAULTS"
sum_conf=$(md5sum <"$CONF") sum_defaults=$(md5sum <"$DEFAULTS")
apt-get install -y -q --reinstall "${DEBS[0]}" >>"$WORK/install.log" 2>&1 ||
    { tail -n 20 "$WORK/install.log" && die "reinstalling failed"; }
[ "$(md5sum <"$CONF")" = "$sum_conf" ] || die "the reinstall overwrote $CONF"
[ "$(md5sum <"$DEFAULTS")" = "$sum_defaults" ] || die "the reinstall overwrote $DEFAULTS"
[ "$(stat -c '%U:%G %a' "$CONF")" = "root:docker-dispatch 640" ] || die "the reinstall changed $CONF's mode"
say "settings edited (queue $Q, gateway on $PORT) and kept through a reinstall"
took "reinstall" "$t"

# ---- 6. the service: start, a run, its reply, metrics ---------------------------------
t=$SECONDS
if systemd_runs; then
    systemctl start docker-dispatch.service || die "systemctl start failed"
    systemctl is-active --quiet docker-dispatch.service || die "the unit is not active"
    say "unit active: $(systemctl show -P StatusText docker-dispatch.service)"
else
    WATCHDOG_S=4 start_as_unit
    for _ in $(seq 600); do
        grep -q '^READY=1' "$WORK/notify" && break
        kill -0 "$DAEMON_PID" 2>/dev/null || { cat "$WORK/daemon.err" && die "the daemon exited"; }
        sleep 0.1
    done
    grep -q '^READY=1' "$WORK/notify" || { cat "$WORK/daemon.err" && die "no READY=1 in 60 s"; }
    say "daemon (pid $DAEMON_PID, user $(ps -o user= -p "$DAEMON_PID")) said $(grep -m1 '^STATUS=' "$WORK/notify" || echo READY=1)"
fi
reply=$(dispatchctl -q "$Q" --timeout 120 --json run --rm --attach busybox:latest \
    echo "hello from $Q") || die "dispatchctl run failed: $reply"
hello_reply_ok "$reply" "$Q" || die "unexpected reply: $reply"
say "run answered: exit_code 0, stdout \"hello from $Q\", container removed"
metrics=$(curl -sf "http://127.0.0.1:$PORT/metrics") || die "GET /metrics failed"
echo "$metrics" | grep -E "^docker_dispatch_build_info\{version=\"${VERSION%%-*}\"" ||
    die "no build_info with version ${VERSION%%-*} in /metrics"
if ! systemd_runs; then
    sleep 5
    grep -q '^WATCHDOG=1' "$WORK/notify" || die "no watchdog ping in 5 s (WATCHDOG_USEC 4 s)"
    say "the watchdog was pinged"
fi
took "service" "$t"

# ---- 7. libdkc-dev ----------------------------------------------------------------
t=$SECONDS
cat >"$WORK/ping.c" <<'EOF'
#include <dkc.h>
#include <stdio.h>
int main(void)
{
    dkc_client *c;
    char why[256];
    dkc_global_init();
    if (dkc_client_new(NULL, &c, why, sizeof why) != 0) {
        fprintf(stderr, "%s\n", why);
        return 1;
    }
    int rc = dkc_ping(c);
    printf("%s %s\n", DKC_VERSION_STRING, rc == 0 ? "ok" : dkc_strerror(rc));
    dkc_client_free(c);
    return rc != 0;
}
EOF
# shellcheck disable=SC2046 # pkg-config's flags are words
cc -o "$WORK/ping" "$WORK/ping.c" $(pkg-config --cflags --libs dkc) || die "building against libdkc-dev failed"
libs=$(ldd "$WORK/ping")
grep -Eq 'libdkc.so.1 => (/usr)?/lib/' <<<"$libs" || die "not linked with the installed libdkc.so.1: $libs"
out=$(DOCKER_HOST=unix:///var/run/docker.sock "$WORK/ping") || die "the libdkc program: $out"
say "a program built with pkg-config dkc: $out"
took "libdkc-dev" "$t"

# ---- 8. purge: nothing left ---------------------------------------------------------
t=$SECONDS
if systemd_runs; then
    systemctl stop docker-dispatch.service
else
    kill -TERM "$DAEMON_PID" && { wait "$DAEMON_PID" || true; } && DAEMON_PID=""
    kill -TERM "$NOTIFY_PID" && { wait "$NOTIFY_PID" || true; } && NOTIFY_PID=""
fi
FILES=$(dpkg -L "${PKGS[@]}" | sort -u)
apt-get purge -y -q "${PKGS[@]}" >>"$WORK/install.log" 2>&1 || die "apt-get purge failed"
INSTALLED=0
left=()
while read -r f; do
    [ -e "$f" ] && [ ! -d "$f" ] && left+=("$f")
done <<<"$FILES"
for f in /etc/docker-dispatch /var/log/docker-dispatch "$UNIT" \
    /etc/systemd/system/multi-user.target.wants/docker-dispatch.service; do
    [ ! -e "$f" ] || left+=("$f")
done
[ "${#left[@]}" -eq 0 ] || die "left after purge: ${left[*]}"
! getent passwd docker-dispatch >/dev/null || die "user docker-dispatch left"
! getent group docker-dispatch >/dev/null || die "group docker-dispatch left"
! grep -q docker-dispatch <<<"$(dpkg-statoverride --list)" || die "statoverrides left"
for p in "${PKGS[@]}"; do
    st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
    [ -z "$st" ] || [ "$st" = not-installed ] || die "$p is still $st"
done
say "purged: no file, user, group, unit or statoverride left"
took "purge" "$t"
delete_topology "$Q"
say "passed in $((SECONDS - T0)) s"
