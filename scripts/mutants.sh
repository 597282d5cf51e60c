#!/usr/bin/env bash
# mutants.sh [NAME-SUBSTRING] -- breaks each rule of tests/mutants.txt by one
# line and checks that the test named for it then fails.
#
# Each mutant is a block of "key: value" lines (blank line between blocks):
#   mutant: what the change breaks, in words
#   file:   the file changed, from the top of the tree
#   from:   a line of it, exactly as written (leading blanks ignored); it
#           must occur exactly once, so the list notices when the code moves
#   to:     what that line becomes
#   test:   the meson test that must then fail, optionally followed by
#           filter=CASES (cmocka's CMOCKA_TEST_FILTER) and setup=SETUP
# The mutants are applied one at a time to a copy of the committed tree
# ($MUTANT_DIR, default build-mutants/tree), built there without sanitizers,
# and the test run; a mutant whose test still passes "survived": the rule is
# not tested.  Output is TAP, one line a mutant; exit status 1 when one
# survived or could not be applied.  Services must be up for tests that
# need them (scripts/services.sh up).
set -uo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."
REPO=$PWD LIST=$REPO/tests/mutants.txt
DIR=${MUTANT_DIR:-$REPO/build-mutants/tree}
only=${1:-}

if [ ! -d "$DIR/.git" ] && [ ! -f "$DIR/.git" ]; then
    mkdir -p "$(dirname "$DIR")"
    git worktree add -q --detach "$DIR" HEAD || exit 1
fi
# a run stopped half-way leaves its mutant in the tree: undo it first
git -C "$DIR" checkout -q -- . && git -C "$DIR" checkout -q --detach "$(git rev-parse HEAD)" || exit 1
if [ ! -f "$DIR/build/build.ninja" ]; then
    meson setup "$DIR/build" "$DIR" -Dbuildtype=debug >/dev/null || exit 1
fi

# Prints the blocks as one line each: name<TAB>file<TAB>from<TAB>to<TAB>test
blocks() {
    awk 'function out() { if (m != "") print m "\t" f "\t" fr "\t" t "\t" te; m = f = fr = t = te = "" }
         /^#/ { next }
         /^[ \t]*$/ { out(); next }
         { k = $1; v = $0; sub(/^[a-z]+:[ \t]?/, "", v) }
         k == "mutant:" { m = v } k == "file:" { f = v } k == "from:" { fr = v }
         k == "to:" { t = v } k == "test:" { te = v }
         END { out() }' "$LIST"
}

n=0 bad=0
mapfile -t rows < <(blocks | { if [ -n "$only" ]; then grep -F -- "$only"; else cat; fi })
echo "1..${#rows[@]}"
for row in "${rows[@]}"; do
    IFS=$'\t' read -r name file from to test <<<"$row"
    n=$((n + 1))
    git -C "$DIR" checkout -q -- .
    if ! python3 - "$DIR/$file" "$from" "$to" <<'EOF'; then
import sys
path, old, new = sys.argv[1:]
lines = open(path).read().split("\n")
hits = [i for i, l in enumerate(lines) if l.strip() == old.strip()]
if len(hits) != 1:
    sys.exit(f"{len(hits)} lines match")
i = hits[0]
lines[i] = lines[i][: len(lines[i]) - len(lines[i].lstrip())] + new.strip()
open(path, "w").write("\n".join(lines))
EOF
        echo "not ok $n - $name: the line is not in $file exactly once" && bad=$((bad + 1)) && continue
    fi
    if [ -z "$test" ]; then # it would run every program, services' too
        echo "not ok $n - $name: names no test" && bad=$((bad + 1)) && continue
    fi
    filter= setup=
    read -r tname opts <<<"$test"
    for o in $opts; do
        case $o in filter=*) filter=${o#filter=} ;; setup=*) setup=${o#setup=} ;; esac
    done
    if ! ninja -C "$DIR/build" >"$DIR/build/mutant.log" 2>&1; then
        echo "ok $n - $name: killed (does not build)" && continue
    fi
    args=(--no-rebuild "$tname")
    [ -n "$setup" ] && args+=(--setup "$setup")
    # an empty CMOCKA_TEST_FILTER would select no case at all: set it only
    # when the mutant names cases
    if env ${filter:+CMOCKA_TEST_FILTER="$filter"} timeout 900 meson test -C "$DIR/build" \
        "${args[@]}" >>"$DIR/build/mutant.log" 2>&1; then
        echo "not ok $n - $name: SURVIVED ($file: $to; $tname still passes)" && bad=$((bad + 1))
    else
        echo "ok $n - $name: killed by $tname"
    fi
done
git -C "$DIR" checkout -q -- .
echo "$((n - bad)) killed, $bad survived"
[ "$bad" -eq 0 ]
