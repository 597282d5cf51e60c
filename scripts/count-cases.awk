# count-cases.awk -- adds up the test cases of one `meson test` run from
# meson's own logs; scripts/run-tests.sh runs it after each run:
#
#   awk -v tag=RUN -v once=0|1 -v json=JSONLOG -v logs=DIR -v repo=ROOT/ \
#       -v counts=FILE -v fails=FILE -f count-cases.awk JSONLOG TEXTLOG
#
# JSONLOG (meson-logs/<base>.json, one object per program) gives meson's
# verdict and exit status of each program; TEXTLOG (meson-logs/<base>.txt)
# its output, where the TAP lines are counted: "ok" passes, "not ok" fails,
# either with "# SKIP" is skipped, "not ok ... # TODO" passes.  A program
# that timed out, was killed, printed no TAP, or got an ERROR from meson (an
# early stop, a bail out, an exit status) without a failed case counts as one
# more failure (meson's FAIL only repeats what the TAP lines say).  With
# once=1 a program is one case: meson's verdict.
#
# Appends "passed failed skipped" per program to counts and one line per
# failure to fails, writes each program's log to DIR/<RUN>-<program>.log
# (a "/" in RUN becomes "-"), and prints the run's sums.

BEGIN {
    ftag = tag
    sub(/\//, "-", ftag)
}

# The end of one program's section of TEXTLOG.
function finish(   r, c, why, k) {
    inb = 0
    close(plog)
    r = res[name]
    c = rc[name] + 0
    if (once) {
        p = r == "OK"
        s = r == "SKIP"
        f = !p && !s
        nbad = 0
    }
    if (r == "TIMEOUT")
        why = "timed out"
    else if (c < 0 || c > 128)
        why = "killed by signal " (c < 0 ? -c : c - 128)
    else if (p + f + s == 0)
        why = "no TAP output, exit status " c
    else if (once && f || !once && f == 0 && r != "OK" && r != "SKIP" && r != "FAIL")
        why = "meson says " r ", exit status " c
    if (why != "" && san)
        why = why ", sanitizer report in log"
    if (why != "" && !once)
        f++
    for (k = 0; k < nbad; k++)
        print "[" tag " " name "] " bad[k] >> fails
    if (why != "")
        print tag " " name ": " why " (log: " substr(plog, length(repo) + 1) ")" >> fails
    print p, f, s >> counts
    tp += p
    tf += f
    ts += s
    n++
}

# JSONLOG: {"name": "<project>:<suite> / <program>", "stdout": ..., "result": "OK", ...,
# "returncode": 0, ...}; quotes inside the values are escaped, so the first
# match of each key is the program's own.
FILENAME == json {
    if (match($0, /^\{"name": "[^"]*"/)) {
        name = substr($0, 11, RLENGTH - 11)
        sub(/.* \/ /, "", name)
    }
    if (match($0, /"result": "[A-Z]+"/))
        res[name] = substr($0, RSTART + 11, RLENGTH - 12)
    if (match($0, /"returncode": -?[0-9]+/))
        rc[name] = substr($0, RSTART + 14)
    next
}

# TEXTLOG: per program a 78-column "=== N/M ===" rule, "test:", "duration:"
# and other fields, then "--- output ---" (stdout) and "--- stderr ---"
# sections, and a closing rule of "=".
length($0) == 78 && /^=+$/ {
    if (inb)
        finish()
    next
}
length($0) == 78 && /^=+ [0-9]+\/[0-9]+ =+$/ {
    inb = 1
    sect = ""
    p = f = s = san = nbad = 0
    next
}
!inb { next }
sect == "" && /^test: / {
    name = $0
    sub(/^test: +(.* \/ )?/, "", name)
    plog = logs "/" ftag "-" name ".log"
}
length($0) == 78 && /^-+ (stdout|output|stderr) -+$/ { sect = $2 }
{ print > plog }
/^(==[0-9]+==ERROR: |SUMMARY: [A-Za-z]+Sanitizer|.*runtime error: )/ { san = 1 }
sect != "output" && sect != "stdout" { next }
/^ok([ \t]|$)/ {
    if (/#[ \t]*[Ss][Kk][Ii][Pp]/)
        s++
    else
        p++
}
/^not ok([ \t]|$)/ {
    if (/#[ \t]*[Ss][Kk][Ii][Pp]/)
        s++
    else if (/#[ \t]*TODO/)
        p++
    else {
        f++
        bad[nbad++] = substr($0, 8)
    }
}

END { printf "run-tests: %s: %d passed, %d failed, %d skipped (%d programs)\n", tag, tp, tf, ts, n }
