#!/usr/bin/env bash
# demo.sh [ARGS...] -- the main job: installs the packages and starts the
# real services exactly as test.sh does, builds the project (build dir
# $BUILD_DIR, default build), then runs the program chosen in the last
# section below with ARGS.
set -euo pipefail

cd "$(dirname "$(readlink -f "$0")")/.."

BUILD_DIR=${BUILD_DIR:-build}

./scripts/install-deps.sh
./scripts/services.sh up

if [ ! -f "$BUILD_DIR/build.ninja" ]; then
    rm -rf "$BUILD_DIR"
    meson setup "$BUILD_DIR"
fi
ninja -C "$BUILD_DIR"

# ---- what to run -------------------------------------------------------------
# The program of the main job and its environment.  Change only this section
# when the program changes.
export DOCKER_HOST=${DOCKER_HOST:-unix:///var/run/docker.sock}
echo "demo: running $BUILD_DIR/examples/dkc-demo against $DOCKER_HOST"
exec "$BUILD_DIR/examples/dkc-demo" "$@"
