#!/usr/bin/env bash
# debian13.sh -- fetches what the Docker 26 and RabbitMQ 4 test lanes run
# from Debian 13 ("trixie"), on this Debian 12 machine, once.
#
# Usage:
#   debian13.sh docker   Debian 13's docker.io (26.1), docker-cli and
#                        containerd (1.7) unpacked; prints the directory (its usr/sbin and
#                        usr/bin go first on PATH, see private-dockerd.sh)
#   debian13.sh root     a Debian 13 root with rabbitmq-server (4.0) made by
#                        debootstrap; prints the directory (see
#                        private-rabbitmq.sh)
#   debian13.sh all      both
#
# Everything lives under $DD_STATE_DIR/debian13 (default /var/tmp/
# docker-dispatch/debian13) and is made once: a second run finds the
# finished result and downloads nothing.  A result becomes visible (its
# directory renamed into place) only after every step of it succeeded.
# The machine's own apt sources, lists and caches are never touched: apt
# reads a sources list of our own (apt/sources.list, naming the archive
# the machine's /etc/apt/sources.list.d/debian.sources names, or
# $DD_DEBIAN_MIRROR) and keeps its lists and cache under apt/.  The
# downloaded .debs stay in debs/.  Debian 13's runc needs glibc 2.38 and
# is not kept: Debian 12's /usr/sbin/runc runs the containers.  The root
# is made by `debootstrap --variant=minbase --include=rabbitmq-server
# trixie root.tmp URI` (log: debootstrap.log, last line rc=N) and renamed
# to root when it succeeded; a root.tmp a finished debootstrap left with
# rc=0 is taken as it is.  Needs root.
set -euo pipefail

STATE_DIR=${DD_STATE_DIR:-/var/tmp/docker-dispatch}
B=$STATE_DIR/debian13
SUITE=trixie
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
DOCKER_PKGS=(docker.io docker-cli containerd)

say() { echo "debian13: $*" >&2; }
die() {
    echo "debian13: FAILED: $*" >&2
    exit 1
}
usage() {
    sed -n '5,12p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

# Prints the archive URI: $DD_DEBIAN_MIRROR, else the first URI of the
# machine's Debian sources that is not the security archive.
mirror() {
    local uri
    if [ -n "${DD_DEBIAN_MIRROR:-}" ]; then
        echo "$DD_DEBIAN_MIRROR"
        return 0
    fi
    uri=$(awk '$1 == "URIs:" { for (i = 2; i <= NF; i++) if ($i !~ /security/) { print $i; exit } }' \
        /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
    if [ -z "$uri" ]; then
        uri=$(awk '$1 == "deb" && $0 !~ /security/ { for (i = 2; i <= NF; i++)
            if ($i ~ /^[a-z]+:\/\//) { print $i; exit } }' /etc/apt/sources.list 2>/dev/null || true)
    fi
    [ -n "$uri" ] || die "no Debian archive named in /etc/apt/sources.list.d/debian.sources (set DD_DEBIAN_MIRROR)"
    echo "$uri"
}

# apt-get/apt-cache with our own sources list, lists and cache.
APT_OPTS=()
apt_setup() {
    local uri
    uri=$(mirror)
    mkdir -p "$B/apt/lists/partial" "$B/apt/cache/archives/partial"
    echo "deb [signed-by=$KEYRING] $uri $SUITE main" >"$B/apt/sources.list"
    APT_OPTS=(-q -o "Dir::Etc::sourcelist=$B/apt/sources.list" -o Dir::Etc::sourceparts=-
        -o "Dir::State::Lists=$B/apt/lists" -o "Dir::Cache=$B/apt/cache"
        -o APT::Sandbox::User=root)
}

# ---- docker.io and containerd --------------------------------------------------

# The .debs of DOCKER_PKGS in debs/; those missing are downloaded.
fetch_debs() {
    local p missing=() t
    for p in "${DOCKER_PKGS[@]}"; do
        compgen -G "$B/debs/${p}_*.deb" >/dev/null || missing+=("$p")
    done
    [ "${#missing[@]}" -gt 0 ] || return 0
    apt_setup
    say "apt-get update ($SUITE, lists in $B/apt)"
    apt-get "${APT_OPTS[@]}" update >"$B/apt/update.log" 2>&1 ||
        { tail -n 5 "$B/apt/update.log" >&2 && die "apt-get update for $SUITE failed, see $B/apt/update.log"; }
    t=$B/debs.tmp
    rm -rf "$t" && mkdir -p "$t"
    say "apt-get download ${missing[*]}"
    (cd "$t" && apt-get "${APT_OPTS[@]}" download "${missing[@]}") >"$B/apt/download.log" 2>&1 ||
        { tail -n 5 "$B/apt/download.log" >&2 && die "apt-get download failed, see $B/apt/download.log"; }
    mkdir -p "$B/debs"
    mv "$t"/*.deb "$B/debs/" && rmdir "$t"
}

do_docker() {
    local d=$B/docker26 t=$B/docker26.tmp f
    if [ -x "$d/usr/sbin/dockerd" ] && [ -f "$d/VERSIONS" ]; then
        echo "$d"
        return 0
    fi
    fetch_debs
    rm -rf "$t" && mkdir -p "$t"
    for f in "$B"/debs/*.deb; do
        dpkg -x "$f" "$t" || die "dpkg -x $f failed"
        echo "$(dpkg-deb -f "$f" Package) $(dpkg-deb -f "$f" Version)" >>"$t/VERSIONS"
    done
    # Debian 13's runc needs glibc 2.38: Debian 12's /usr/sbin/runc is used
    find "$t" -name runc \( -type f -o -type l \) -delete
    # only the client on PATH, for the tests' own `docker` calls
    mkdir -p "$t/cli" && ln -sf ../usr/bin/docker "$t/cli/docker"
    for f in usr/sbin/dockerd usr/bin/docker usr/bin/containerd usr/bin/containerd-shim-runc-v2; do
        [ -x "$t/$f" ] || die "$f is not in the unpacked packages ($(paste -sd, "$t/VERSIONS"))"
    done
    "$t/usr/sbin/dockerd" --version >/dev/null 2>&1 || die "$t/usr/sbin/dockerd does not run here"
    rm -rf "$d" && mv "$t" "$d"
    say "unpacked $(paste -sd, "$d/VERSIONS" | sed 's/,/, /g') in $d"
    echo "$d"
}

# ---- the Debian 13 root with rabbitmq-server ------------------------------------

root_ok() { [ -x "$1/usr/sbin/rabbitmq-server" ] && [ -x "$1/usr/lib/rabbitmq/bin/rabbitmqctl" ]; }

do_root() {
    local d=$B/root t=$B/root.tmp log=$B/debootstrap.log rc=0 uri
    if [ -d "$d" ] && root_ok "$d"; then
        echo "$d"
        return 0
    fi
    # a root.tmp that a finished debootstrap made (its log ends with rc=0)
    if [ -d "$t" ] && [ "$(tail -n 1 "$log" 2>/dev/null)" = rc=0 ] && root_ok "$t"; then
        say "taking the finished debootstrap in $t"
    else
        command -v debootstrap >/dev/null || die "debootstrap is not installed (scripts/install-deps.sh)"
        uri=$(mirror)
        say "debootstrap --variant=minbase --include=rabbitmq-server $SUITE $t $uri (~1 min)"
        rm -rf "$t"
        {
            echo "==== $(date '+%F %T') debootstrap $SUITE $uri"
            debootstrap --variant=minbase --include=rabbitmq-server "$SUITE" "$t" "$uri" || rc=$?
            echo "rc=$rc"
        } >"$log" 2>&1
        if [ "$rc" -ne 0 ] || ! root_ok "$t"; then
            tail -n 8 "$log" >&2
            die "debootstrap failed, see $log"
        fi
    fi
    rm -rf "$d" && mv "$t" "$d"
    # shellcheck disable=SC2016 # dpkg-query expands ${Version}
    say "Debian 13 root with rabbitmq-server $(chroot "$d" dpkg-query -W -f='${Version}' rabbitmq-server) in $d"
    echo "$d"
}

# ---- arguments ------------------------------------------------------------------

[ $# -eq 1 ] || usage
[ "$(id -u)" -eq 0 ] || die "must run as root"
mkdir -p "$B"
exec 8>"$B/lock"
flock -w 900 8 || die "another debian13.sh has held $B/lock for 15 minutes"
case "$1" in
docker) do_docker ;;
root) do_root ;;
all) do_docker && do_root ;;
*) usage ;;
esac
