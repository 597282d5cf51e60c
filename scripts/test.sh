#!/usr/bin/env bash
# test.sh [SUITE...] -- the complete check, from a fresh Debian 12 machine:
# installs the packages (install-deps.sh), starts the real services
# (services.sh up), builds and runs every test (run-tests.sh, SUITE default
# all).  The last line is always "N passed, N failed[, N skipped]"; the exit
# status is 0 only when nothing failed.  Steps that are already done are
# skipped quickly.
set -euo pipefail

cd "$(dirname "$(readlink -f "$0")")/.."

# Reports a setup step that failed in the closing-line format and stops.
setup_failed() {
    echo "test: $1 failed, no tests were run" >&2
    echo "0 passed, 1 failed"
    exit 1
}

t0=$SECONDS
./scripts/install-deps.sh || setup_failed "installing the packages (scripts/install-deps.sh)"
t1=$SECONDS
./scripts/services.sh up || setup_failed "starting the services (scripts/services.sh up)"
t2=$SECONDS
echo "test: packages $((t1 - t0)) s, services $((t2 - t1)) s"

rc=0
./scripts/run-tests.sh "$@" || rc=$?
exit "$rc"
