/*
 * fuzz_demux.c -- libFuzzer target for the multiplexed stream demuxer.
 *
 * Input layout: two bytes that choose how the stream is cut into chunks,
 * then the stream itself.  The stream is demultiplexed three ways:
 *
 *   1. by a reference parser that sees the whole buffer at once and is
 *      written independently of dkc_demux.c;
 *   2. by dkc_demux_feed() in chunks whose sizes come from a generator
 *      seeded by the first two bytes (sometimes one byte at a time);
 *   3. by dkc_demux_feed() again, with a callback that cancels once a
 *      seed-chosen number of bytes has been delivered.
 *
 * Runs 1 and 2 must deliver the same bytes with the same stream numbers in
 * the same order, return the same code and agree on the boundary state;
 * run 3 must deliver a prefix of that and return DKC_ECANCELED exactly when
 * enough output existed.  Any difference aborts.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dkc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Output as a flat record: byte i was delivered on stream tag[i]. */
typedef struct output {
    unsigned char *bytes;
    unsigned char *tag;
    size_t len;
    size_t cap;
    size_t cancel_at; /* 0: never; else stop once len >= cancel_at */
    int bad;          /* a callback broke the contract */
} output;

static void output_add(output *o, int stream, const unsigned char *p, size_t n)
{
    if (stream < 0 || stream > 2 || n == 0 || n > o->cap - o->len) {
        o->bad = 1;
        return;
    }
    memcpy(o->bytes + o->len, p, n);
    memset(o->tag + o->len, stream, n);
    o->len += n;
}

static int on_output(void *ud, int stream, const char *data, size_t len)
{
    output *o = ud;
    output_add(o, stream, (const unsigned char *)data, len);
    return o->cancel_at != 0 && o->len >= o->cancel_at;
}

/* The reference: walks complete frames of the whole buffer. */
static int reference(const unsigned char *s, size_t n, output *o, bool *boundary)
{
    size_t pos = 0;
    *boundary = false;
    for (;;) {
        size_t avail = n - pos;
        if (avail == 0) {
            *boundary = true;
            return 0;
        }
        if (s[pos] > 2)
            return DKC_EPROTO;
        for (size_t i = 1; i < 4 && i < avail; i++)
            if (s[pos + i] != 0)
                return DKC_EPROTO;
        if (avail < 8)
            return 0;
        uint64_t size = (uint64_t)s[pos + 4] << 24 | (uint64_t)s[pos + 5] << 16 |
                        (uint64_t)s[pos + 6] << 8 | (uint64_t)s[pos + 7];
        if (size > DKC_MAX_FRAME)
            return DKC_ETOOBIG;
        size_t take = size < avail - 8 ? (size_t)size : avail - 8;
        if (take > 0)
            output_add(o, s[pos], s + pos + 8, take);
        if (take < size)
            return 0;
        pos += 8 + (size_t)size;
    }
}

static uint32_t next(uint32_t *x)
{
    /* xorshift32; the state is never zero */
    *x ^= *x << 13;
    *x ^= *x >> 17;
    *x ^= *x << 5;
    return *x;
}

/* Feeds s in chunks chosen from seed; stops at the first error. */
static int feed_chunked(dkc_demux *d, const unsigned char *s, size_t n, uint32_t seed, output *o)
{
    static const size_t limits[] = {1, 2, 3, 8, 9, 17, 64, 4096};
    uint32_t x = seed | 0x10000u;
    size_t limit = limits[seed % (sizeof limits / sizeof limits[0])];
    size_t pos = 0;
    int rc = 0;
    while (rc == 0 && pos < n) {
        size_t c = 1 + next(&x) % limit;
        if (c > n - pos)
            c = n - pos;
        /* An empty feed now and then must change nothing. */
        if ((next(&x) & 7) == 0)
            rc = dkc_demux_feed(d, (const char *)s + pos, 0, on_output, o);
        if (rc == 0)
            rc = dkc_demux_feed(d, (const char *)s + pos, c, on_output, o);
        pos += c;
    }
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    uint32_t seed = (uint32_t)data[0] | (uint32_t)data[1] << 8;
    const unsigned char *s = data + 2;
    size_t n = size - 2;

    unsigned char *mem = malloc(4 * n + 4);
    if (mem == NULL)
        return 0;
    output want = {.bytes = mem, .tag = mem + n + 1, .cap = n};
    output got = {.bytes = mem + 2 * n + 2, .tag = mem + 3 * n + 3, .cap = n};

    bool want_boundary;
    int want_rc = reference(s, n, &want, &want_boundary);

    dkc_demux d;
    dkc_demux_init(&d);
    int rc = feed_chunked(&d, s, n, seed, &got);
    if (rc != want_rc || got.bad || want.bad || got.len != want.len ||
        memcmp(got.bytes, want.bytes, want.len) != 0 || memcmp(got.tag, want.tag, want.len) != 0 ||
        dkc_demux_at_boundary(&d) != want_boundary) {
        fprintf(stderr, "demux mismatch: rc %d want %d, len %zu want %zu, boundary %d want %d\n",
                rc, want_rc, got.len, want.len, dkc_demux_at_boundary(&d), want_boundary);
        abort();
    }
    /* A failed demuxer keeps failing with the same code. */
    if (rc != 0 && dkc_demux_feed(&d, "\x01\0\0\0\0\0\0\0", 8, on_output, &got) != rc)
        abort();

    /* Cancel once some output has been delivered. */
    if (want.len > 0) {
        output cut = {.bytes = got.bytes, .tag = got.tag, .cap = n};
        cut.cancel_at = 1 + (seed >> 3) % want.len;
        dkc_demux_init(&d);
        rc = feed_chunked(&d, s, n, seed >> 1, &cut);
        if (rc != DKC_ECANCELED || cut.bad || cut.len < cut.cancel_at || cut.len > want.len ||
            memcmp(cut.bytes, want.bytes, cut.len) != 0 ||
            memcmp(cut.tag, want.tag, cut.len) != 0) {
            fprintf(stderr, "demux cancel mismatch: rc %d, len %zu, cancel at %zu\n", rc, cut.len,
                    cut.cancel_at);
            abort();
        }
    }
    free(mem);
    return 0;
}
