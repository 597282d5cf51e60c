/*
 * dkc_error.c -- names for the library's error codes.
 */
#include "dkc.h"

/* Indexed by -code.  Codes are append-only: add new names at the end. */
static const char *const names[] = {
    [0] = "success",
    [1] = "invalid argument",
    [2] = "out of memory",
    [3] = "invalid Docker daemon address",
    [4] = "Docker daemon unavailable",
    [5] = "timed out",
    [6] = "TLS error",
    [7] = "protocol error: unexpected response from the Docker daemon",
    [8] = "response too large",
    [9] = "Docker daemon API version too old",
    [10] = "bad request",
    [11] = "not authorized",
    [12] = "not found",
    [13] = "not modified",
    [14] = "conflict",
    [15] = "Docker daemon internal error",
    [16] = "canceled",
    [17] = "error reported in the response stream",
    [18] = "local I/O error",
    [19] = "unexpected HTTP status",
    [20] = "forbidden by the Docker daemon",
    [21] = "not supported by the Docker daemon's API version",
};

const char *dkc_strerror(int err)
{
    if (err > 0 || -(long)err >= (long)(sizeof names / sizeof names[0]))
        return "unknown error";
    return names[-err];
}
