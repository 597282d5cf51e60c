#!/usr/bin/env bash
# cmocka-tap.sh PROGRAM [ARG...] -- runs a cmocka test program and passes its
# output on, with one correction to its TAP: cmocka 1.1 reports a skipped test
# as "not ok N # SKIP name", which meson (like the TAP specification) reads as
# a failure; it becomes "ok N # SKIP name".  The exit status is the program's
# (128 + N when signal N ended it).  The test setups of meson.build run every
# test program through this.
set -o pipefail
"$@" | sed -u 's/^not ok \([0-9][0-9]*\) # SKIP/ok \1 # SKIP/'
