#!/bin/bash
# test_completion.sh -- completions/dispatchctl.bash in a plain bash (no
# bash-completion package needed): what it offers for a few command lines.
# Prints TAP.  $1: the completion file, $2: the dispatchctl program (meson
# passes both): the commands offered must be those its overview lists.
set -u
file=${1:-$(dirname "$0")/../completions/dispatchctl.bash}
# shellcheck source=/dev/null
source "$file" || { echo "1..0 # cannot source $file"; exit 1; }

n=0 failed=0
# check "LINE" "EXPECTED WORDS": completes the last word of LINE (a
# trailing space: an empty word) and compares the sorted offers.
check()
{
    local line=$1 want=$2
    read -r -a COMP_WORDS <<<"$line"
    [[ $line == *" " ]] && COMP_WORDS+=("")
    COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
    COMP_LINE=$line
    COMP_POINT=${#line}
    COMPREPLY=()
    _dispatchctl dispatchctl "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
    local got
    got=$(printf '%s\n' "${COMPREPLY[@]}" | sort | xargs)
    n=$((n + 1))
    if [[ $got == "$want" ]]; then
        echo "ok $n - '$line'"
    else
        echo "not ok $n - '$line': got '$got', want '$want'"
        failed=$((failed + 1))
    fi
}

check "dispatchctl p" "ping ps pull"
check "dispatchctl --json i" "images info inspect"
check "dispatchctl -q myq ps -" "--all --cluster -a -c"
check "dispatchctl --j" "--json"
check "dispatchctl run --pl" "--placement"
check "dispatchctl run --placement b" "binpack"
check "dispatchctl events --filter t" "type="
check "dispatchctl --node n1 rm --f" "--force"
check "dispatchctl --timeout " ""
check "dispatchctl pull " ""
if [[ -n ${2:-} ]]; then
    listed=$("$2" 2>&1 | sed -n '/^commands:/,/^$/p' | awk 'NF > 1 { print $1 }' | sort | xargs)
    check "dispatchctl " "$listed"
fi
echo "1..$n"
exit $((failed > 0))
