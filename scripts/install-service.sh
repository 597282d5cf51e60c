#!/usr/bin/env bash
# install-service.sh [BUILD_DIR] -- installs docker-dispatch as a systemd
# service on this machine and enables it.  Idempotent: run it again after an
# upgrade.  Must run as root.
#
#   1. builds and installs (meson install from BUILD_DIR, default build/):
#      the programs, the unit docker-dispatch.service into systemd's unit
#      directory, the examples into share/doc/docker-dispatch/examples
#   2. makes the system user docker-dispatch (group docker-dispatch, member
#      of docker for /var/run/docker.sock) unless it exists
#   3. copies the example config to /etc/docker-dispatch/config.json and the
#      environment file to /etc/default/docker-dispatch, only when missing
#      (an administrator's settings are never overwritten), 0640 root:group
#   4. systemctl daemon-reload and enable (start it with
#      `systemctl start docker-dispatch` once the config is right; with
#      START=1 it is (re)started here)
#
# Where systemd is not running (a container), steps 1-3 are done and the
# systemctl step is skipped with a note.
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."

BUILD=${1:-build}
USER_NAME=docker-dispatch
ETC=/etc/docker-dispatch

[ "$(id -u)" -eq 0 ] || { echo "install-service: run as root" >&2 && exit 1; }
[ -d "$BUILD" ] || meson setup "$BUILD" --buildtype=release
ninja -C "$BUILD"
meson install -C "$BUILD" --no-rebuild

prefix=$(meson introspect "$BUILD" --buildoptions |
    python3 -c 'import json,sys; print(next(o["value"] for o in json.load(sys.stdin) if o["name"]=="prefix"))')
examples=$prefix/share/doc/docker-dispatch/examples

if ! getent group docker >/dev/null; then
    groupadd --system docker
fi
if ! getent passwd "$USER_NAME" >/dev/null; then
    useradd --system --user-group --home-dir /nonexistent --no-create-home \
        --shell /usr/sbin/nologin --comment "docker-dispatch daemon" "$USER_NAME"
fi
usermod -a -G docker "$USER_NAME"

install -d -m 0750 -o root -g "$USER_NAME" "$ETC"
if [ ! -e "$ETC/config.json" ]; then
    install -m 0640 -o root -g "$USER_NAME" "$examples/config.json" "$ETC/config.json"
    echo "install-service: wrote $ETC/config.json (edit it: RabbitMQ URL, policy)"
fi
if [ ! -e /etc/default/docker-dispatch ]; then
    install -m 0640 -o root -g "$USER_NAME" "$examples/docker-dispatch.default" \
        /etc/default/docker-dispatch
    echo "install-service: wrote /etc/default/docker-dispatch"
fi

if [ -d /run/systemd/system ]; then
    systemctl daemon-reload
    systemctl enable docker-dispatch.service
    if [ "${START:-0}" = 1 ]; then
        systemctl restart docker-dispatch.service
        systemctl --no-pager status docker-dispatch.service || true
    fi
    echo "install-service: enabled; start with: systemctl start docker-dispatch"
else
    echo "install-service: systemd is not running here: not enabled (installed only)"
fi
