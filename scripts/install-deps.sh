#!/usr/bin/env bash
# install-deps.sh -- installs the Debian 12 packages needed to build, test and
# run docker-dispatch (compiler and libraries, Docker Engine, RabbitMQ, a local
# registry, test and analysis tools, what the client examples run on).
#
# Idempotent: asks dpkg-query which packages are missing and only then runs
# apt-get update + apt-get install.  Must run as root (or via sudo).  Installing
# docker.io or rabbitmq-server does not start them here: without an init system
# invoke-rc.d finds no runlevel and skips the init scripts; scripts/services.sh
# starts the services itself.
set -euo pipefail

cd "$(dirname "$(readlink -f "$0")")/.."

PACKAGES=(
    # build
    gcc libc6-dev meson ninja-build pkg-config python3
    librabbitmq-dev libcurl4-openssl-dev libjansson-dev libmicrohttpd-dev libgnutls28-dev
    libsystemd-dev
    # tests and analysis (valgrind reads libc6-dbg for glibc's symbols)
    libcmocka-dev nettle-dev clang-14 libclang-rt-14-dev valgrind libc6-dbg
    # systemd-analyze verify checks the unit file (tests/service)
    systemd
    # services used by the integration tests (docker.io brings iptables,
    # containerd, runc and tini)
    docker.io rabbitmq-server docker-registry busybox-static
    # helpers used by the scripts
    openssl curl iproute2
    # the test lanes of today's stacks: Podman's Docker-compatible service
    # (socat carries its registry connections out of its own network
    # namespace, scripts/private-podman.sh), and the Debian 13 root
    # RabbitMQ 4 runs from (scripts/debian13.sh)
    podman socat debootstrap
    # the dashboard's test loads the page in a real browser (headless)
    chromium
    # the Python client example (examples/python), under Debian's python3
    python3-pika
)
# The Node client example (examples/node) needs node and npm: Debian's unless
# both are there already (NodeSource's nodejs carries its own npm and
# conflicts with Debian's npm package).  npm ci fetches amqplib at run time.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    PACKAGES+=(nodejs npm)
fi

# Prints the packages from the list that are not fully installed.
missing_packages() {
    local installed
    installed=$(dpkg-query -W -f='${Package} ${db:Status-Status}\n' "${PACKAGES[@]}" \
        2>/dev/null | awk '$2 == "installed" { print $1 }' || true)
    local p
    for p in "${PACKAGES[@]}"; do
        if ! grep -qxF -- "$p" <<<"$installed"; then
            printf '%s\n' "$p"
        fi
    done
}

mapfile -t missing < <(missing_packages)
if [ "${#missing[@]}" -eq 0 ]; then
    echo "install-deps: all ${#PACKAGES[@]} packages already installed"
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: missing packages: ${missing[*]}" >&2
    echo "install-deps: run as root to install them" >&2
    exit 1
fi

echo "install-deps: installing ${#missing[@]} missing package(s): ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
start=$(date +%s)
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"

still=$(missing_packages | tr '\n' ' ')
if [ -n "$still" ]; then
    echo "install-deps: FAILED, still missing: $still" >&2
    exit 1
fi
echo "install-deps: done in $(($(date +%s) - start)) s"
