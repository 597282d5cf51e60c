# bash completion for dispatchctl(1): commands, their options, global
# options, and the values that have a fixed set (--placement, events
# --filter keys).  Installed by `meson install` into
# <datadir>/bash-completion/completions/dispatchctl.

_dispatchctl()
{
    local cur prev words cword
    if declare -F _init_completion >/dev/null 2>&1; then
        _init_completion || return
    else
        cur=${COMP_WORDS[COMP_CWORD]}
        prev=${COMP_WORDS[COMP_CWORD-1]}
        words=("${COMP_WORDS[@]}")
        cword=$COMP_CWORD
    fi

    local commands="run stop rm ps images pull inspect logs nodes events ping info version send"
    local globals="--amqp --queue -q --node --timeout --json --user-id --help -h --version"

    # the command: the first word after the global options and their values
    local i cmd=""
    for ((i = 1; i < cword; i++)); do
        case ${words[i]} in
        --amqp | --queue | -q | --node | --timeout) ((i++)) ;;
        -*) ;;
        *)
            cmd=${words[i]}
            break
            ;;
        esac
    done

    if [[ -z $cmd ]]; then
        case $prev in
        --amqp | --queue | -q | --node | --timeout) return ;;
        esac
        if [[ $cur == -* ]]; then
            COMPREPLY=($(compgen -W "$globals" -- "$cur"))
        else
            COMPREPLY=($(compgen -W "$commands" -- "$cur"))
        fi
        return
    fi

    local opts=""
    case $cmd in
    run)
        case $prev in
        --placement)
            COMPREPLY=($(compgen -W "spread binpack" -- "$cur"))
            return
            ;;
        --name | --timeout | --instances) return ;;
        esac
        opts="--rm --attach --name --timeout --instances --placement"
        ;;
    stop) opts="-t --time" ;;
    rm) opts="-f --force -v --volumes" ;;
    ps | images) opts="-a --all -c --cluster" ;;
    events)
        case $prev in
        -f | --filter)
            compopt -o nospace 2>/dev/null
            COMPREPLY=($(compgen -W "type= event= node= container= image=" -- "$cur"))
            return
            ;;
        -n) return ;;
        esac
        opts="-n -f --filter"
        ;;
    esac
    if [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W "$opts" -- "$cur"))
    fi
}
complete -F _dispatchctl dispatchctl
