#!/usr/bin/env bash
# ports.sh NAME... -- prints the port (or "FIRST LAST" of a range) that
# tests/ports.h gives NAME, one line each; NAME is the macro's name with or
# without its DD_PORT_/DD_PORTS_ prefix, in any case: `ports.sh itest_tcp`
# prints 22375.  tests/ports.h is the one table of every port the tests and
# scripts bind; exits 1 naming a NAME it does not have.
set -euo pipefail
table="$(dirname "$(readlink -f "$0")")/../tests/ports.h"
rc=0
for name in "$@"; do
    key=${name^^}
    out=$(awk -v k="$key" '$1 == "#define" && ($2 == k || $2 == "DD_PORT_" k || $2 == "DD_PORTS_" k) {
            v = $3; if (v ~ /,$/) { sub(/,$/, "", v); v = v " " $4 }; print v; exit }' "$table")
    if [ -z "$out" ]; then
        echo "ports: no port named '$name' in tests/ports.h" >&2
        rc=1
    else
        echo "$out"
    fi
done
exit "$rc"
