#!/usr/bin/env bash
# build-image.sh [IMAGE] -- builds the container image of the dispatcher
# from the Debian packages (debian/), without any registry: a Debian 12
# root made by debootstrap from the archive apt uses here, the packages
# docker-dispatch and libdkc1 installed into it, imported with
# `docker import`.  IMAGE defaults to docker-dispatch:VERSION.
#
#   1. the packages: the .debs in DEBS_DIR when given, else built as
#      scripts/test-deb.sh builds them (dpkg-buildpackage -b on a copy of
#      the tree, with its unit suite)
#   2. a minbase root of bookworm from the first URI of the machine's apt
#      sources (the machine's sources are read, never changed); the
#      downloaded .debs are cached in $DD_STATE_DIR/image-cache
#   3. the two packages installed with apt-get in a chroot: their
#      dependencies come from the same archive; the postinst makes the
#      system user docker-dispatch
#   4. trimmed: apt's lists and caches, documentation but the copyright
#      files, man pages, locales
#   5. imported: runs as docker-dispatch, `docker-dispatch --config
#      /etc/docker-dispatch/config.json` by default, DISPATCH_* from the
#      environment win over that file, a HEALTHCHECK asking the gateway's
#      /healthz when DISPATCH_GATEWAY is set (dist/image-healthcheck)
#
# As root, with dockerd up.  Prints the image's size and the time each step
# took; 2 to 5 minutes on 2 cores (the package build and debootstrap).
# Environment: DEBS_DIR, IMAGE_WORK (work directory, default
# $DD_STATE_DIR/image), KEEP=1 (keep it).
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."
STATE_DIR=${DD_STATE_DIR:-/var/tmp/docker-dispatch}
WORK=${IMAGE_WORK:-$STATE_DIR/image}
CACHE=$STATE_DIR/image-cache
VERSION=$(dpkg-parsechangelog -S Version)
IMAGE=${1:-docker-dispatch:${VERSION%%-*}}
ARCH=$(dpkg --print-architecture)
ROOT=$WORK/root T0=$SECONDS

say() { echo "build-image: $*"; }
die() { echo "build-image: FAIL: $*" >&2 && exit 1; }
took() { say "$1 took $((SECONDS - $2)) s"; }

[ "$(id -u)" -eq 0 ] || die "run as root (debootstrap, chroot)"
docker version >/dev/null 2>&1 || die "dockerd does not answer"
mkdir -p "$STATE_DIR"
exec 8>"$STATE_DIR/build-image.lock"
flock -n 8 || die "another build-image.sh is running"

# The proc file system mounted in the root, if any, then the work directory.
cleanup() {
    set +e
    ! mountpoint -q "$ROOT/proc" || umount "$ROOT/proc"
    [ "${KEEP:-0}" = 1 ] || rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The first URI of the machine's apt sources (deb822 or one-line format).
mirror() {
    local uri
    uri=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '$1 == "URIs:" { print $2; exit }')
    [ -n "$uri" ] || uri=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
        awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i !~ /^\[/) { print $i; exit } }')
    [ -n "$uri" ] || die "no URI in the machine's apt sources"
    echo "$uri"
}

# ---- 1. the packages ----------------------------------------------------------------
t=$SECONDS
rm -rf "$WORK" && mkdir -p "$WORK/debs"
if [ -n "${DEBS_DIR:-}" ]; then
    DEBS=$(readlink -f "$DEBS_DIR")
else
    say "building the packages in $WORK/src (log: $WORK/build.log)"
    mkdir -p "$WORK/src"
    git ls-files -z -co --exclude-standard | tar --null -T - -cf - | tar -C "$WORK/src" -xf -
    (cd "$WORK/src" && dpkg-checkbuilddeps) ||
        die "build dependencies missing: apt-get install them (debian/control)"
    (cd "$WORK/src" && dpkg-buildpackage -us -uc -b -j"$(nproc)") >"$WORK/build.log" 2>&1 ||
        { tail -n 40 "$WORK/build.log" && die "dpkg-buildpackage failed"; }
    DEBS=$WORK
fi
for p in docker-dispatch libdkc1; do
    f=$DEBS/${p}_${VERSION}_$ARCH.deb
    [ -f "$f" ] || die "no $f"
    cp "$f" "$WORK/debs/"
done
took "packages" "$t"

# ---- 2. the root --------------------------------------------------------------------
t=$SECONDS
MIRROR=$(mirror)
mkdir -p "$CACHE"
say "debootstrap bookworm from $MIRROR (log: $WORK/debootstrap.log)"
debootstrap --variant=minbase --cache-dir="$CACHE" bookworm "$ROOT" "$MIRROR" \
    >"$WORK/debootstrap.log" 2>&1 || { tail -n 20 "$WORK/debootstrap.log" && die "debootstrap failed"; }
took "debootstrap" "$t"

# ---- 3. the packages installed --------------------------------------------------------
t=$SECONDS
mount -t proc proc "$ROOT/proc"
mkdir -p "$ROOT/tmp/debs" && cp "$WORK"/debs/*.deb "$ROOT/tmp/debs/"
cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
(
    export DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8
    chroot "$ROOT" apt-get update -q
    chroot "$ROOT" sh -c 'apt-get install -y -q --no-install-recommends /tmp/debs/*.deb'
) >"$WORK/install.log" 2>&1 || { tail -n 30 "$WORK/install.log" && die "installing the packages failed"; }
umount "$ROOT/proc"
chroot "$ROOT" getent passwd docker-dispatch >/dev/null || die "the postinst made no user docker-dispatch"
install -m 0755 dist/image-healthcheck "$ROOT/usr/bin/docker-dispatch-healthcheck"
took "install" "$t"

# ---- 4. trimmed ---------------------------------------------------------------------
t=$SECONDS
before=$(du -sm "$ROOT" | cut -f1)
chroot "$ROOT" apt-get clean
rm -rf "$ROOT"/tmp/* "$ROOT"/var/lib/apt/lists/* "$ROOT"/var/cache/debconf/*-old \
    "$ROOT"/var/log/* "$ROOT"/usr/share/man/* "$ROOT"/usr/share/info/* "$ROOT"/usr/share/locale/*
find "$ROOT/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
find "$ROOT/usr/share/doc" -mindepth 1 -type d -empty -delete
: >"$ROOT/etc/resolv.conf"
: >"$ROOT/etc/hostname"
say "root: $before MB, $(du -sm "$ROOT" | cut -f1) MB trimmed"
took "trim" "$t"

# ---- 5. imported --------------------------------------------------------------------
t=$SECONDS
tar --numeric-owner -C "$ROOT" -c . | docker import \
    --change 'USER docker-dispatch' \
    --change 'ENV PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8' \
    --change 'WORKDIR /' \
    --change 'ENTRYPOINT ["/usr/bin/docker-dispatch"]' \
    --change 'CMD ["--config", "/etc/docker-dispatch/config.json"]' \
    --change 'HEALTHCHECK --interval=30s --timeout=5s --start-period=30s CMD ["/usr/bin/docker-dispatch-healthcheck"]' \
    --change "LABEL org.opencontainers.image.title=docker-dispatch org.opencontainers.image.version=${VERSION%%-*}" \
    --message "docker-dispatch $VERSION on Debian 12 (scripts/build-image.sh)" \
    - "$IMAGE" >/dev/null
size=$(docker image inspect -f '{{.Size}}' "$IMAGE")
took "import" "$t"
say "built $IMAGE: $((size / 1000000)) MB, in $((SECONDS - T0)) s"
