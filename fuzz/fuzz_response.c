/*
 * fuzz_response.c -- libFuzzer target for everything that parses a Docker
 * response body.
 *
 * Every input is handed to every parser in the table below, so one corpus
 * of real response bodies (JSON documents and JSON-lines streams) exercises
 * them all.  A parser may only crash the process (through a sanitizer or
 * abort()) when a property it checks fails; ordinary parse errors are the
 * expected outcome for most inputs.
 *
 * Adding a parser: write a `static void parse_<what>(const uint8_t *data,
 * size_t size)` that runs the library code on the bytes exactly as the
 * library does on a response, checks what it can, releases everything, and
 * add a line to `parsers`.  If it needs more library sources, add them to
 * fuzz_lib_sources in fuzz/meson.build.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dkc_internal.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *parser, const char *what)
{
    fprintf(stderr, "fuzz_response: %s: %s\n", parser, what);
    abort();
}

/* ---- a buffered body (dkc__client_json and the error-message path) ---- */

/* Decodes the bytes as dkc__client_json() does (any JSON value) and as the
 * error path does (object or array only), and checks that the two agree and
 * that a decoded value survives encoding and decoding again unchanged. */
static void parse_body(const uint8_t *data, size_t size)
{
    json_error_t err;
    json_t *any = json_loadb((const char *)data, size, JSON_DECODE_ANY, &err);
    json_t *strict = json_loadb((const char *)data, size, 0, NULL);
    char *text = NULL;
    json_t *again = NULL;

    if (strict != NULL && (any == NULL || !json_equal(strict, any)))
        fail("body", "strict decode accepted what the permissive one did not");
    if (any == NULL)
        goto out;
    if (strict == NULL && (json_is_object(any) || json_is_array(any)))
        fail("body", "permissive decode accepted an object the strict one refused");

    text = json_dumps(any, JSON_ENCODE_ANY | JSON_COMPACT);
    if (text == NULL)
        goto out; /* out of memory */
    again = json_loads(text, JSON_DECODE_ANY, NULL);
    if (again == NULL || !json_equal(any, again))
        fail("body", "value does not survive a round trip");
out:
    json_decref(again);
    free(text);
    json_decref(strict);
    json_decref(any);
}

/* ---- a JSON-lines stream (events, pull progress, stats) ---------------- */

static int collect(void *ud, json_t *value)
{
    json_t *list = ud;
    if (!json_is_object(value))
        fail("json lines", "a value that is not an object was delivered");
    return json_array_append(list, value) != 0;
}

/* Feeds the bytes to a dkc__jsonl in chunks (0: whole, 1: byte by byte,
 * else sizes from a generator seeded with `seed`) and finishes; returns the
 * first error.  The values delivered are appended to list. */
static int run_jsonl(const uint8_t *data, size_t size, int mode, uint32_t seed, json_t *list)
{
    dkc__jsonl j;
    dkc__jsonl_init(&j);
    uint32_t x = seed | 1u;
    size_t pos = 0;
    int rc = 0;
    while (rc == 0 && pos < size) {
        size_t c = size - pos;
        if (mode == 1) {
            c = 1;
        } else if (mode == 2) {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            size_t want = 1 + x % 97;
            c = want < c ? want : c;
        }
        rc = dkc__jsonl_feed(&j, (const char *)data + pos, c, collect, list);
        pos += c;
    }
    int frc = dkc__jsonl_finish(&j, collect, list);
    if (rc != 0 && frc != rc)
        fail("json lines", "an error did not stick");
    dkc__jsonl_cleanup(&j);
    return rc != 0 ? rc : frc;
}

/* Splits the bytes as a stream and checks that cutting them differently
 * changes neither the values nor the outcome. */
static void parse_json_lines(const uint8_t *data, size_t size)
{
    uint32_t seed = 2166136261u;
    for (size_t i = 0; i < size; i++)
        seed = (seed ^ data[i]) * 16777619u;

    json_t *whole = json_array();
    json_t *cut = json_array();
    if (whole == NULL || cut == NULL)
        goto out;
    int rc = run_jsonl(data, size, 0, 0, whole);
    if (rc == DKC_ENOMEM || rc == DKC_ECANCELED)
        goto out; /* out of memory while collecting */
    /* Random cuts always; byte by byte too while that is cheap. */
    static const int modes[] = {2, 1};
    size_t nmodes = size <= 512 ? 2 : 1;
    for (size_t k = 0; k < nmodes; k++) {
        json_array_clear(cut);
        int crc = run_jsonl(data, size, modes[k], seed, cut);
        if (crc == DKC_ENOMEM || crc == DKC_ECANCELED)
            goto out;
        if (crc != rc)
            fail("json lines", "the outcome depends on how the input is cut");
        if (!json_equal(whole, cut))
            fail("json lines", "the values depend on how the input is cut");
    }
out:
    json_decref(cut);
    json_decref(whole);
}

/* ---- the table --------------------------------------------------------- */

typedef struct response_parser {
    const char *name;
    void (*run)(const uint8_t *data, size_t size);
} response_parser;

static const response_parser parsers[] = {
    {"buffered body", parse_body},
    {"json lines", parse_json_lines},
};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    json_object_seed(1); /* the same hash order in every run */
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    for (size_t i = 0; i < sizeof parsers / sizeof parsers[0]; i++)
        parsers[i].run(data, size);
    return 0;
}
