#!/usr/bin/env bash
# check-style.sh -- the automated part of the code style (STYLE.md, point 16).
# Three checks over the C sources and headers git tracks (every *.c and *.h
# of the tree when it is not a git checkout):
#
#   format  every file is as clang-format leaves it (.clang-format), checked
#           with `clang-format --dry-run -Werror`; fix with clang-format -i
#   banned  no call of a banned function in src/ lib/ include/ tests/
#           bench/ fuzz/ examples/.  The banned list (the only one):
#
#             strcpy strcat sprintf vsprintf   unbounded writes: use
#                                              snprintf, vsnprintf or a
#                                              bounded buffer
#             gets                             unbounded read: fgets
#             strtok                           hidden state: strtok_r
#             atoi atol                        no error report: strtol
#                                              with an end check
#
#           A call is the name as a whole word followed by "("; comments
#           and string literals do not count.
#
#   size    in src/ and lib/, no function body over 80 lines and no file
#           over 1200 lines: split by concern (README, "Source layout")
#
# Every finding is printed as FILE:LINE: what.  Exit status 0 when both
# checks pass, 1 otherwise (2 when clang-format is missing).
# $CLANG_FORMAT names the program (default clang-format, else
# clang-format-14).  scripts/run-tests.sh runs this as the suite "style".
set -euo pipefail

cd "$(dirname "$(readlink -f "$0")")/.."

MAX_FUNCTION_LINES=80 MAX_FILE_LINES=1200
BANNED='strcpy|strcat|sprintf|vsprintf|gets|strtok|atoi|atol'
DIRS=(src lib include tests bench fuzz examples)

if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    mapfile -t listed < <(git ls-files -- '*.c' '*.h')
else
    mapfile -t listed < <(find . -path './build*' -prune -o -name '*.[ch]' -print | sed 's|^\./||')
fi
files=()
for f in "${listed[@]}"; do
    [ -f "$f" ] && files+=("$f")
done
if [ "${#files[@]}" -eq 0 ]; then
    echo "check-style: no C files found" >&2
    exit 1
fi

cf=${CLANG_FORMAT:-}
if [ -z "$cf" ]; then
    cf=$(command -v clang-format || command -v clang-format-14 || true)
fi
if [ -z "$cf" ]; then
    echo "check-style: clang-format not found (install clang-format, or set CLANG_FORMAT)" >&2
    exit 2
fi

status=0

# format: keep clang-format's "FILE:LINE:COL: error: ..." lines.
if ! out=$("$cf" --dry-run -Werror "${files[@]}" 2>&1); then
    grep -E '^[^ ].*:[0-9]+:[0-9]+: (error|warning):' <<<"$out" || printf '%s\n' "$out"
    echo "check-style: clang-format drift in" \
        "$(grep -cE ':[0-9]+:[0-9]+: (error|warning):' <<<"$out" || true) place(s);" \
        "fix with: $cf -i FILE"
    status=1
fi

# banned: blank out comments and literals (line numbers kept), then look for calls.
scan=()
for f in "${files[@]}"; do
    for d in "${DIRS[@]}"; do
        case $f in "$d"/*) scan+=("$f") ;; esac
    done
done
if [ "${#scan[@]}" -gt 0 ] && ! awk -v banned="$BANNED" '
    FNR == 1 { incomment = 0 }
    {
        line = $0
        code = ""
        while (line != "") {
            if (incomment) {
                i = index(line, "*/")
                if (i == 0)
                    break
                line = substr(line, i + 2)
                incomment = 0
                code = code " "
                continue
            }
            if (!match(line, /\/\*|\/\/|["\047]/)) {
                code = code line
                break
            }
            code = code substr(line, 1, RSTART - 1)
            tok = substr(line, RSTART, RLENGTH)
            line = substr(line, RSTART + RLENGTH)
            if (tok == "//")
                break
            if (tok == "/*") {
                incomment = 1
                continue
            }
            while (line != "") { # a literal: up to its closing quote
                c = substr(line, 1, 1)
                line = substr(line, c == "\\" ? 3 : 2)
                if (c == tok)
                    break
            }
            code = code tok tok
        }
        re = "(^|[^A-Za-z0-9_.>])(" banned ")[ \t]*\\(" # not x.atoi( or p->atoi(
        while (match(code, re)) {
            name = substr(code, RSTART, RLENGTH)
            gsub(/[^A-Za-z0-9_]/, "", name)
            printf "%s:%d: banned function %s() (see scripts/check-style.sh)\n", FILENAME, FNR, name
            found++
            code = substr(code, RSTART + RLENGTH)
        }
    }
    END { exit found > 0 }' "${scan[@]}"; then
    echo "check-style: banned functions called"
    status=1
fi

# size: no function over 80 lines, no file over 1200 lines in src/ and lib/.
# A function body runs from a "{" at column 0 to the next "}" at column 0
# (clang-format puts a function's braces there and nothing else's).
sized=()
for f in "${files[@]}"; do
    case $f in src/*.c | src/*.h | lib/*.c | lib/*.h) sized+=("$f") ;; esac
done
if [ "${#sized[@]}" -gt 0 ] && ! awk -v maxfn="$MAX_FUNCTION_LINES" -v maxfile="$MAX_FILE_LINES" '
    FNR == 1 { if (prevfile != "" && prevlines > maxfile) report(prevfile, prevlines); body = 0 }
    /^\{$/ { body = FNR; name = last }
    /^\}/ && body {
        if (FNR - body - 1 > maxfn) {
            printf "%s:%d: function of %d lines (at most %d): %s\n", FILENAME, body,
                FNR - body - 1, maxfn, name
            found++
        }
        body = 0
    }
    /^[A-Za-z_]/ { last = $0 }
    { prevfile = FILENAME; prevlines = FNR }
    function report(file, n) {
        printf "%s: %d lines (at most %d): split it by concern\n", file, n, maxfile
        found++
    }
    END { if (prevlines > maxfile) report(prevfile, prevlines); exit found > 0 }' "${sized[@]}"; then
    echo "check-style: functions or files too long"
    status=1
fi

if [ "$status" -eq 0 ]; then
    echo "check-style: ${#files[@]} files formatted, no banned function in ${#scan[@]} files"
fi
exit "$status"
