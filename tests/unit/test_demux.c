/*
 * test_demux.c -- the multiplexed stream demultiplexer (dkc_demux_*).
 *
 * A fixture stream is built frame by frame together with what it must
 * produce: the bytes of each output stream, which input bytes are payload,
 * and after which input prefixes the demuxer sits at a frame boundary.  The
 * stream is then fed cut in every possible way, and after every piece the
 * output so far and the boundary state are compared with the fixture, so
 * the tests check both that nothing is lost or reordered and that payload
 * is passed on as soon as it arrives.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dkc.h"

#define FIX_MAX 4096

typedef struct fixture {
    unsigned char data[FIX_MAX];
    size_t len;
    size_t payload_before[FIX_MAX + 1]; /* payload bytes in data[0..k) */
    bool boundary[FIX_MAX + 1];         /* at a boundary after k bytes */
    char want[3][FIX_MAX];
    size_t want_len[3];
    size_t nonempty_frames;
} fixture;

/* Appends one frame (header + payload) to f and records what it implies. */
static void add_frame(fixture *f, int stream, const void *payload, size_t n)
{
    assert_true(f->len + 8 + n <= FIX_MAX);
    if (f->len == 0) {
        f->boundary[0] = true;
        f->payload_before[0] = 0;
    }
    unsigned char hdr[8] = {(unsigned char)stream,
                            0,
                            0,
                            0,
                            (unsigned char)(n >> 24),
                            (unsigned char)(n >> 16),
                            (unsigned char)(n >> 8),
                            (unsigned char)n};
    size_t before = f->payload_before[f->len];
    for (size_t i = 0; i < 8; i++) {
        f->data[f->len++] = hdr[i];
        f->payload_before[f->len] = before;
        f->boundary[f->len] = false;
    }
    for (size_t i = 0; i < n; i++) {
        f->data[f->len++] = ((const unsigned char *)payload)[i];
        f->payload_before[f->len] = ++before;
        f->boundary[f->len] = false;
    }
    f->boundary[f->len] = true;
    memcpy(f->want[stream] + f->want_len[stream], payload, n);
    f->want_len[stream] += n;
    if (n > 0)
        f->nonempty_frames++;
}

/* The standard stream: every stream number, empty frames in several places,
 * binary payload, payload that looks like a header, and a big_len-byte
 * frame (at most 1000). */
static fixture *standard_fixture(size_t big_len)
{
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    add_frame(f, 1, "hello\n", 6);
    add_frame(f, 2, "warning: disk is full\n", 22);
    add_frame(f, 1, "", 0);
    add_frame(f, 0, "in", 2);
    add_frame(f, 1, "\0\xff\x01\x02", 4);
    add_frame(f, 2, "", 0);
    add_frame(f, 1, "\x02\0\0\0\0\0\0\x05", 8); /* looks like a header */
    char big[1000];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (char)('a' + i % 26);
    assert_true(big_len <= sizeof big);
    add_frame(f, 2, big, big_len);
    add_frame(f, 1, "x", 1);
    add_frame(f, 2, "end\n", 4);
    add_frame(f, 1, "", 0);
    return f;
}

typedef struct sink {
    char *out[3];
    size_t len[3];
    size_t cap;
    size_t calls;
    size_t empty_calls;
    size_t bad_stream;
    size_t overflow;
    size_t cancel_on_call; /* 0: never; else return 1 on this call */
} sink;

static void sink_init(sink *s, size_t cap)
{
    memset(s, 0, sizeof *s);
    s->cap = cap;
    for (int i = 0; i < 3; i++) {
        s->out[i] = malloc(cap ? cap : 1);
        assert_non_null(s->out[i]);
    }
}

static void sink_reset(sink *s)
{
    size_t cap = s->cap;
    char *o[3] = {s->out[0], s->out[1], s->out[2]};
    memset(s, 0, sizeof *s);
    s->cap = cap;
    for (int i = 0; i < 3; i++)
        s->out[i] = o[i];
}

static void sink_cleanup(sink *s)
{
    for (int i = 0; i < 3; i++)
        free(s->out[i]);
}

static size_t sink_total(const sink *s)
{
    return s->len[0] + s->len[1] + s->len[2];
}

static int on_output(void *ud, int stream, const char *data, size_t len)
{
    sink *s = ud;
    s->calls++;
    if (len == 0)
        s->empty_calls++;
    if (stream < 0 || stream > 2) {
        s->bad_stream++;
        return 0;
    }
    if (s->len[stream] + len > s->cap) {
        s->overflow++;
        return 0;
    }
    memcpy(s->out[stream] + s->len[stream], data, len);
    s->len[stream] += len;
    return s->cancel_on_call != 0 && s->calls == s->cancel_on_call;
}

/* Feeds f cut at the given offsets (ascending, may repeat, so empty pieces
 * are fed too) and checks, after every piece, the payload delivered so far
 * and the boundary state.  Then checks the complete output. */
static void feed_with_cuts(const fixture *f, const size_t *cuts, size_t ncuts, sink *s)
{
    dkc_demux d;
    dkc_demux_init(&d);
    sink_reset(s);
    size_t from = 0;
    for (size_t i = 0; i <= ncuts; i++) {
        size_t to = i < ncuts ? cuts[i] : f->len;
        int rc = dkc_demux_feed(&d, (const char *)f->data + from, to - from, on_output, s);
        if (rc != 0 || sink_total(s) != f->payload_before[to] ||
            dkc_demux_at_boundary(&d) != f->boundary[to])
            print_error("piece [%zu, %zu) of a %zu-byte stream (%zu cuts)\n", from, to, f->len,
                        ncuts);
        assert_int_equal(rc, 0);
        assert_int_equal(sink_total(s), f->payload_before[to]);
        assert_int_equal(dkc_demux_at_boundary(&d), f->boundary[to]);
        from = to;
    }
    assert_int_equal(s->empty_calls, 0);
    assert_int_equal(s->bad_stream, 0);
    assert_int_equal(s->overflow, 0);
    for (int k = 0; k < 3; k++) {
        assert_int_equal(s->len[k], f->want_len[k]);
        assert_memory_equal(s->out[k], f->want[k], f->want_len[k]);
    }
}

static void demux_single_chunk_reassembles_all_streams(void **state)
{
    fixture *f = standard_fixture(1000);
    sink s;
    sink_init(&s, f->len);
    feed_with_cuts(f, NULL, 0, &s);
    /* Fed whole, each non-empty frame is exactly one piece. */
    assert_int_equal(s.calls, f->nonempty_frames);
    assert_int_equal(s.len[0], 2);
    assert_memory_equal(s.out[0], "in", 2);
    assert_int_equal(s.len[1], 6 + 4 + 8 + 1);
    assert_memory_equal(s.out[1], "hello\n\0\xff\x01\x02\x02\0\0\0\0\0\0\x05x", 19);
    assert_int_equal(s.len[2], 22 + 1000 + 4);
    assert_memory_equal(s.out[2], "warning: disk is full\nabcdefghij", 32);
    assert_memory_equal(s.out[2] + 22 + 1000, "end\n", 4);
    sink_cleanup(&s);
    free(f);
}

static void demux_split_at_every_offset(void **state)
{
    fixture *f = standard_fixture(1000);
    sink s;
    sink_init(&s, f->len);
    for (size_t i = 0; i <= f->len; i++)
        feed_with_cuts(f, &i, 1, &s);
    sink_cleanup(&s);
    free(f);
}

/* Cut into three pieces in every possible way; the long frame is shortened
 * to keep this quadratic test quick (under valgrind too). */
static void demux_split_at_every_pair_of_offsets(void **state)
{
    fixture *f = standard_fixture(40);
    sink s;
    sink_init(&s, f->len);
    for (size_t i = 0; i <= f->len; i++)
        for (size_t j = i; j <= f->len; j++) {
            size_t cuts[2] = {i, j};
            feed_with_cuts(f, cuts, 2, &s);
        }
    sink_cleanup(&s);
    free(f);
}

static void demux_byte_at_a_time(void **state)
{
    fixture *f = standard_fixture(1000);
    sink s;
    sink_init(&s, f->len);
    size_t *cuts = malloc(f->len * sizeof *cuts);
    assert_non_null(cuts);
    for (size_t i = 0; i < f->len; i++)
        cuts[i] = i + 1;
    feed_with_cuts(f, cuts, f->len, &s);
    /* One callback per payload byte: nothing was held back or merged. */
    assert_int_equal(s.calls, f->payload_before[f->len]);
    free(cuts);
    sink_cleanup(&s);
    free(f);
}

static void demux_delivers_payload_before_frame_is_complete(void **state)
{
    /* Header of a 10-byte stdout frame and its first 3 bytes. */
    const char part1[] = "\x01\0\0\0\0\0\0\x0a"
                         "abc";
    dkc_demux d;
    sink s;
    sink_init(&s, 16);
    dkc_demux_init(&d);
    assert_int_equal(dkc_demux_feed(&d, part1, sizeof part1 - 1, on_output, &s), 0);
    assert_int_equal(s.len[1], 3);
    assert_memory_equal(s.out[1], "abc", 3);
    assert_false(dkc_demux_at_boundary(&d));
    assert_int_equal(dkc_demux_feed(&d, "defghij", 7, on_output, &s), 0);
    assert_int_equal(s.len[1], 10);
    assert_memory_equal(s.out[1], "abcdefghij", 10);
    assert_int_equal(s.calls, 2);
    assert_true(dkc_demux_at_boundary(&d));
    sink_cleanup(&s);
}

static void demux_empty_frames_are_skipped_without_callbacks(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    for (int i = 0; i < 5; i++)
        add_frame(f, i % 3, "", 0);
    sink s;
    sink_init(&s, 16);
    feed_with_cuts(f, NULL, 0, &s);
    assert_int_equal(s.calls, 0);
    for (size_t i = 0; i <= f->len; i++)
        feed_with_cuts(f, &i, 1, &s);
    assert_int_equal(s.calls, 0);
    sink_cleanup(&s);
    free(f);
}

static void demux_empty_input_is_accepted_at_boundary(void **state)
{
    dkc_demux d;
    sink s;
    sink_init(&s, 1);
    dkc_demux_init(&d);
    assert_true(dkc_demux_at_boundary(&d));
    assert_int_equal(dkc_demux_feed(&d, NULL, 0, on_output, &s), 0);
    assert_int_equal(dkc_demux_feed(&d, "", 0, on_output, &s), 0);
    assert_true(dkc_demux_at_boundary(&d));
    assert_int_equal(s.calls, 0);
    sink_cleanup(&s);
}

/* A frame larger than any chunk, fed in uneven chunk sizes. */
static void demux_large_frame_in_uneven_chunks(void **state)
{
    const size_t n = 1024 * 1024 + 3;
    size_t total = 8 + n + 8 + 5;
    unsigned char *buf = malloc(total);
    assert_non_null(buf);
    unsigned char hdr[8] = {2,
                            0,
                            0,
                            0,
                            (unsigned char)(n >> 24),
                            (unsigned char)(n >> 16),
                            (unsigned char)(n >> 8),
                            (unsigned char)n};
    memcpy(buf, hdr, 8);
    for (size_t i = 0; i < n; i++)
        buf[8 + i] = (unsigned char)(i * 7 + (i >> 8));
    memcpy(buf + 8 + n, "\x01\0\0\0\0\0\0\x05tail!", 13);

    static const size_t sizes[] = {1, 7, 4096, 65537, 3, 8, 131072, 2};
    dkc_demux d;
    sink s;
    sink_init(&s, n);
    dkc_demux_init(&d);
    size_t pos = 0;
    for (size_t k = 0; pos < total; k++) {
        size_t c = sizes[k % (sizeof sizes / sizeof sizes[0])];
        if (c > total - pos)
            c = total - pos;
        assert_int_equal(dkc_demux_feed(&d, (const char *)buf + pos, c, on_output, &s), 0);
        pos += c;
        /* Every payload byte fed so far has been delivered. */
        size_t want = pos <= 8 ? 0 : pos <= 8 + n ? pos - 8 : pos <= 16 + n ? n : pos - 16;
        assert_int_equal(sink_total(&s), want);
    }
    assert_true(dkc_demux_at_boundary(&d));
    assert_int_equal(s.overflow, 0);
    assert_int_equal(s.len[2], n);
    assert_memory_equal(s.out[2], buf + 8, n);
    assert_int_equal(s.len[1], 5);
    assert_memory_equal(s.out[1], "tail!", 5);
    sink_cleanup(&s);
    free(buf);
}

/* A frame of exactly DKC_MAX_FRAME bytes is legal; the cap is inclusive. */
static void demux_frame_of_exactly_max_size_is_accepted(void **state)
{
    const size_t n = DKC_MAX_FRAME;
    char *payload = calloc(1, n);
    assert_non_null(payload);
    payload[n - 1] = 'z';
    unsigned char hdr[8] = {1,
                            0,
                            0,
                            0,
                            (unsigned char)(n >> 24),
                            (unsigned char)(n >> 16),
                            (unsigned char)(n >> 8),
                            (unsigned char)n};
    dkc_demux d;
    sink s;
    sink_init(&s, n);
    dkc_demux_init(&d);
    assert_int_equal(dkc_demux_feed(&d, (const char *)hdr, 8, on_output, &s), 0);
    assert_false(dkc_demux_at_boundary(&d));
    assert_int_equal(dkc_demux_feed(&d, payload, n, on_output, &s), 0);
    assert_true(dkc_demux_at_boundary(&d));
    assert_int_equal(s.len[1], n);
    assert_int_equal(s.out[1][n - 1], 'z');
    sink_cleanup(&s);
    free(payload);
}

static void demux_oversized_frame_is_too_big(void **state)
{
    static const uint32_t sizes[] = {DKC_MAX_FRAME + 1, 0x80000000u, 0xffffffffu};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        uint32_t n = sizes[k];
        unsigned char stream[8 + 4] = {1,
                                       0,
                                       0,
                                       0,
                                       (unsigned char)(n >> 24),
                                       (unsigned char)(n >> 16),
                                       (unsigned char)(n >> 8),
                                       (unsigned char)n,
                                       'a',
                                       'b',
                                       'c',
                                       'd'};
        dkc_demux d;
        sink s;
        sink_init(&s, 16);
        /* Whole, and with the size split across two feeds. */
        dkc_demux_init(&d);
        assert_int_equal(dkc_demux_feed(&d, (const char *)stream, sizeof stream, on_output, &s),
                         DKC_ETOOBIG);
        assert_int_equal(s.calls, 0);
        dkc_demux_init(&d);
        assert_int_equal(dkc_demux_feed(&d, (const char *)stream, 6, on_output, &s), 0);
        assert_int_equal(dkc_demux_feed(&d, (const char *)stream + 6, 6, on_output, &s),
                         DKC_ETOOBIG);
        assert_int_equal(s.calls, 0);
        assert_false(dkc_demux_at_boundary(&d));
        sink_cleanup(&s);
    }
}

static void demux_bad_stream_byte_is_protocol_error(void **state)
{
    static const unsigned char bad[] = {3, 4, 0x7f, 0x80, 0xff};
    for (size_t k = 0; k < sizeof bad; k++) {
        /* A good frame, then a frame with a bad stream byte. */
        unsigned char stream[] = {1,      0, 0, 0, 0, 0, 0, 2, 'o', 'k',
                                  bad[k], 0, 0, 0, 0, 0, 0, 1, 'x'};
        for (size_t cut = 0; cut <= sizeof stream; cut++) {
            dkc_demux d;
            sink s;
            sink_init(&s, 16);
            dkc_demux_init(&d);
            int rc = dkc_demux_feed(&d, (const char *)stream, cut, on_output, &s);
            if (rc == 0)
                rc = dkc_demux_feed(&d, (const char *)stream + cut, sizeof stream - cut, on_output,
                                    &s);
            assert_int_equal(rc, DKC_EPROTO);
            /* The good frame before it came through, nothing after it. */
            assert_int_equal(s.len[1], 2);
            assert_memory_equal(s.out[1], "ok", 2);
            assert_int_equal(sink_total(&s), 2);
            assert_false(dkc_demux_at_boundary(&d));
            sink_cleanup(&s);
        }
    }
}

static void demux_nonzero_padding_is_protocol_error(void **state)
{
    for (size_t pad = 1; pad <= 3; pad++) {
        for (unsigned v = 1; v <= 255; v += 127) {
            unsigned char stream[] = {2, 0, 0, 0, 0, 0, 0, 1, 'x'};
            stream[pad] = (unsigned char)v;
            dkc_demux d;
            sink s;
            sink_init(&s, 16);
            dkc_demux_init(&d);
            assert_int_equal(dkc_demux_feed(&d, (const char *)stream, sizeof stream, on_output, &s),
                             DKC_EPROTO);
            assert_int_equal(s.calls, 0);
            sink_cleanup(&s);
        }
    }
}

/* A TTY container's output is raw text; it must be refused, and as early as
 * its first byte. */
static void demux_raw_tty_text_is_refused_at_first_byte(void **state)
{
    dkc_demux d;
    sink s;
    sink_init(&s, 64);
    dkc_demux_init(&d);
    assert_int_equal(dkc_demux_feed(&d, "hello world\n", 12, on_output, &s), DKC_EPROTO);
    dkc_demux_init(&d);
    assert_int_equal(dkc_demux_feed(&d, "h", 1, on_output, &s), DKC_EPROTO);
    /* '\x01' followed by text fails at the first padding byte. */
    dkc_demux_init(&d);
    assert_int_equal(dkc_demux_feed(&d, "\x01", 1, on_output, &s), 0);
    assert_int_equal(dkc_demux_feed(&d, "a", 1, on_output, &s), DKC_EPROTO);
    assert_int_equal(s.calls, 0);
    sink_cleanup(&s);
}

static void demux_error_is_sticky_until_reinit(void **state)
{
    const char good[] = "\x01\0\0\0\0\0\0\x02ok";
    dkc_demux d;
    sink s;
    sink_init(&s, 16);
    dkc_demux_init(&d);
    assert_int_equal(dkc_demux_feed(&d, "\x09", 1, on_output, &s), DKC_EPROTO);
    /* Valid bytes after an error are not parsed. */
    assert_int_equal(dkc_demux_feed(&d, good, sizeof good - 1, on_output, &s), DKC_EPROTO);
    assert_int_equal(dkc_demux_feed(&d, NULL, 0, on_output, &s), DKC_EPROTO);
    assert_false(dkc_demux_at_boundary(&d));
    assert_int_equal(s.calls, 0);
    dkc_demux_init(&d);
    assert_int_equal(dkc_demux_feed(&d, good, sizeof good - 1, on_output, &s), 0);
    assert_int_equal(s.len[1], 2);
    assert_true(dkc_demux_at_boundary(&d));

    /* The sticky code is the one first returned. */
    dkc_demux_init(&d);
    assert_int_equal(dkc_demux_feed(&d, "\x01\0\0\0\xff\xff\xff\xff", 8, on_output, &s),
                     DKC_ETOOBIG);
    assert_int_equal(dkc_demux_feed(&d, good, sizeof good - 1, on_output, &s), DKC_ETOOBIG);
    sink_cleanup(&s);
}

static void demux_callback_cancel_stops_feed(void **state)
{
    fixture *f = standard_fixture(1000);
    sink s;
    sink_init(&s, f->len);
    s.cancel_on_call = 2;
    dkc_demux d;
    dkc_demux_init(&d);
    assert_int_equal(dkc_demux_feed(&d, (const char *)f->data, f->len, on_output, &s),
                     DKC_ECANCELED);
    /* The piece the callback refused was its last: no further calls. */
    assert_int_equal(s.calls, 2);
    assert_int_equal(s.len[1], 6);
    assert_int_equal(s.len[2], 22);
    assert_int_equal(dkc_demux_feed(&d, (const char *)f->data, f->len, on_output, &s),
                     DKC_ECANCELED);
    assert_int_equal(s.calls, 2);

    /* Cancel in the middle of a frame fed byte by byte. */
    sink_reset(&s);
    s.cancel_on_call = 3;
    dkc_demux_init(&d);
    int rc = 0;
    size_t fed = 0;
    while (rc == 0 && fed < f->len) {
        rc = dkc_demux_feed(&d, (const char *)f->data + fed, 1, on_output, &s);
        fed++;
    }
    assert_int_equal(rc, DKC_ECANCELED);
    assert_int_equal(fed, 8 + 3); /* third payload byte of "hello\n" */
    assert_int_equal(s.len[1], 3);
    sink_cleanup(&s);
    free(f);
}

static void demux_boundary_reporting(void **state)
{
    dkc_demux d;
    sink s;
    sink_init(&s, 16);
    dkc_demux_init(&d);
    assert_true(dkc_demux_at_boundary(&d));
    assert_int_equal(dkc_demux_feed(&d, "\x02\0\0", 3, on_output, &s), 0);
    assert_false(dkc_demux_at_boundary(&d)); /* partial header */
    assert_int_equal(dkc_demux_feed(&d, "\0\0\0\0\x03", 5, on_output, &s), 0);
    assert_false(dkc_demux_at_boundary(&d)); /* header complete, payload due */
    assert_int_equal(dkc_demux_feed(&d, "ab", 2, on_output, &s), 0);
    assert_false(dkc_demux_at_boundary(&d)); /* inside payload */
    assert_int_equal(dkc_demux_feed(&d, "c", 1, on_output, &s), 0);
    assert_true(dkc_demux_at_boundary(&d)); /* frame complete */
    assert_int_equal(dkc_demux_feed(&d, "\x01\0\0\0\0\0\0", 7, on_output, &s), 0);
    assert_false(dkc_demux_at_boundary(&d));
    assert_int_equal(dkc_demux_feed(&d, "\0", 1, on_output, &s), 0);
    assert_true(dkc_demux_at_boundary(&d)); /* an empty frame ends with its header */
    assert_int_equal(s.len[2], 3);
    assert_false(dkc_demux_at_boundary(NULL));
    sink_cleanup(&s);
}

static void demux_null_callback_discards_output(void **state)
{
    fixture *f = standard_fixture(1000);
    dkc_demux d;
    dkc_demux_init(&d);
    assert_int_equal(dkc_demux_feed(&d, (const char *)f->data, 20, NULL, NULL), 0);
    assert_int_equal(dkc_demux_feed(&d, (const char *)f->data + 20, f->len - 20, NULL, NULL), 0);
    assert_true(dkc_demux_at_boundary(&d));
    free(f);
}

static void demux_rejects_null_arguments(void **state)
{
    dkc_demux d;
    dkc_demux_init(&d);
    dkc_demux_init(NULL); /* harmless */
    assert_int_equal(dkc_demux_feed(NULL, "x", 1, NULL, NULL), DKC_EINVAL);
    assert_int_equal(dkc_demux_feed(&d, NULL, 1, NULL, NULL), DKC_EINVAL);
    /* A rejected call leaves the state alone. */
    assert_true(dkc_demux_at_boundary(&d));
    assert_int_equal(dkc_demux_feed(&d, "\x01\0\0\0\0\0\0\x01y", 9, NULL, NULL), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(demux_single_chunk_reassembles_all_streams),
        cmocka_unit_test(demux_split_at_every_offset),
        cmocka_unit_test(demux_split_at_every_pair_of_offsets),
        cmocka_unit_test(demux_byte_at_a_time),
        cmocka_unit_test(demux_delivers_payload_before_frame_is_complete),
        cmocka_unit_test(demux_empty_frames_are_skipped_without_callbacks),
        cmocka_unit_test(demux_empty_input_is_accepted_at_boundary),
        cmocka_unit_test(demux_large_frame_in_uneven_chunks),
        cmocka_unit_test(demux_frame_of_exactly_max_size_is_accepted),
        cmocka_unit_test(demux_oversized_frame_is_too_big),
        cmocka_unit_test(demux_bad_stream_byte_is_protocol_error),
        cmocka_unit_test(demux_nonzero_padding_is_protocol_error),
        cmocka_unit_test(demux_raw_tty_text_is_refused_at_first_byte),
        cmocka_unit_test(demux_error_is_sticky_until_reinit),
        cmocka_unit_test(demux_callback_cancel_stops_feed),
        cmocka_unit_test(demux_boundary_reporting),
        cmocka_unit_test(demux_null_callback_discards_output),
        cmocka_unit_test(demux_rejects_null_arguments),
    };
    return cmocka_run_group_tests_name("demux", tests, NULL, NULL);
}
