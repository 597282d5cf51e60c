/*
 * bench_args.h -- the command-line parsing the bench programs share.
 */
#ifndef BENCH_ARGS_H
#define BENCH_ARGS_H

#include <errno.h>
#include <stdlib.h>

/* Reads s as a decimal integer in lo..hi into *out; 0, or -1 (s NULL,
 * empty, not a whole number or out of range; *out untouched). */
static inline int int_arg(const char *s, int lo, int hi, int *out)
{
    char *end = NULL;
    errno = 0;
    long v = strtol(s ? s : "", &end, 10);
    if (s == NULL || *s == '\0' || *end != '\0' || errno || v < lo || v > hi)
        return -1;
    *out = (int)v;
    return 0;
}

#endif
