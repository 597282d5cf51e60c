/*
 * test_jsonl.c -- the JSON-lines splitter (dkc__jsonl_*).
 *
 * Values are recorded as compact, key-sorted JSON text, so a whole run can
 * be compared with one string.  The fixture stream mixes the three shapes
 * the daemon sends (events with "\n", pull progress with "\r\n", stats) and
 * blank lines, and is fed cut in every possible way.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dkc_internal.h"

typedef struct rec {
    dkc__buf text; /* each value's dump followed by '\n' */
    size_t calls;
    size_t cancel_on_call; /* 0: never */
    json_t *kept;          /* a value the callback held on to */
} rec;

static void rec_init(rec *r)
{
    memset(r, 0, sizeof *r);
    dkc__buf_init(&r->text, 0);
}

static void rec_cleanup(rec *r)
{
    dkc__buf_cleanup(&r->text);
    json_decref(r->kept);
    r->kept = NULL;
}

static const char *rec_text(const rec *r)
{
    return r->text.data ? r->text.data : "";
}

static int on_value(void *ud, json_t *v)
{
    rec *r = ud;
    r->calls++;
    char *s = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    assert_non_null(s);
    assert_int_equal(dkc__buf_printf(&r->text, "%s\n", s), 0);
    free(s);
    return r->cancel_on_call != 0 && r->calls == r->cancel_on_call;
}

static int keep_value(void *ud, json_t *v)
{
    rec *r = ud;
    r->calls++;
    json_decref(r->kept);
    r->kept = json_incref(v);
    return 0;
}

/* The fixture: what is fed and what must come out. */
static const char stream_text[] =
    "{\"Type\":\"container\",\"Action\":\"start\",\"Actor\":{\"ID\":\"abc\","
    "\"Attributes\":{\"name\":\"web\"}},\"time\":1700000000,\"timeNano\":1700000000123456789}\n"
    "\n"
    "{\"status\":\"Pulling from library/busybox\",\"id\":\"latest\"}\r\n"
    "{\"status\":\"Downloading\",\"progressDetail\":{\"current\":1024,\"total\":4096},"
    "\"id\":\"a1b2\"}\r\n"
    "   \t\r\n"
    "\r\n"
    "{\"read\":\"2024-01-01T00:00:00Z\",\"cpu_stats\":{\"cpu_usage\":{\"total_usage\":5}},"
    "\"s\":\"line\\nbreak \\u00e9\"}\n"
    "{}\n"
    "  {\"padded\" : [1, 2.5, null, true] }  \n";

static const char stream_want[] =
    "{\"Action\":\"start\",\"Actor\":{\"Attributes\":{\"name\":\"web\"},\"ID\":\"abc\"},"
    "\"Type\":\"container\",\"time\":1700000000,\"timeNano\":1700000000123456789}\n"
    "{\"id\":\"latest\",\"status\":\"Pulling from library/busybox\"}\n"
    "{\"id\":\"a1b2\",\"progressDetail\":{\"current\":1024,\"total\":4096},"
    "\"status\":\"Downloading\"}\n"
    "{\"cpu_stats\":{\"cpu_usage\":{\"total_usage\":5}},\"read\":\"2024-01-01T00:00:00Z\","
    "\"s\":\"line\\nbreak \xc3\xa9\"}\n"
    "{}\n"
    "{\"padded\":[1,2.5,null,true]}\n";

/* A short stream with the same features, for the quadratic test. */
static const char short_text[] = "{\"a\":1}\r\n\n{\"b\":\"x\\ny\"}\n \r\n{\"c\":[]}\r\n{}";
static const char short_want[] = "{\"a\":1}\n{\"b\":\"x\\ny\"}\n{\"c\":[]}\n{}\n";

typedef struct jfix {
    const char *text;
    size_t len;
    const char *want;
    size_t nvals;
} jfix;

static const jfix full_fix = {stream_text, sizeof stream_text - 1, stream_want, 6};
static const jfix short_fix = {short_text, sizeof short_text - 1, short_want, 4};

/* Values whose line has ended within the first k bytes of the stream. */
static size_t values_before(const jfix *f, size_t k)
{
    size_t n = 0, start = 0;
    for (size_t i = 0; i < k; i++) {
        if (f->text[i] != '\n')
            continue;
        bool blank = true;
        for (size_t p = start; p < i; p++)
            if (f->text[p] != ' ' && f->text[p] != '\t' && f->text[p] != '\r')
                blank = false;
        n += !blank;
        start = i + 1;
    }
    return n;
}

/* Feeds the stream cut at the given ascending offsets, checking after each
 * piece that exactly the values whose line has ended were delivered; then
 * finishes and compares the whole output. */
static void feed_stream_with_cuts(const jfix *f, const size_t *cuts, size_t ncuts)
{
    dkc__jsonl j;
    rec r;
    rec_init(&r);
    dkc__jsonl_init(&j);
    size_t from = 0;
    for (size_t i = 0; i <= ncuts; i++) {
        size_t to = i < ncuts ? cuts[i] : f->len;
        int rc = dkc__jsonl_feed(&j, f->text + from, to - from, on_value, &r);
        if (rc != 0 || r.calls != values_before(f, to))
            print_error("piece [%zu, %zu) (%zu cuts)\n", from, to, ncuts);
        assert_int_equal(rc, 0);
        assert_int_equal(r.calls, values_before(f, to));
        from = to;
    }
    assert_int_equal(dkc__jsonl_finish(&j, on_value, &r), 0);
    assert_int_equal(r.calls, f->nvals);
    assert_string_equal(rec_text(&r), f->want);
    dkc__jsonl_cleanup(&j);
    rec_cleanup(&r);
}

static void jsonl_single_chunk_delivers_every_value(void **state)
{
    feed_stream_with_cuts(&full_fix, NULL, 0);
    feed_stream_with_cuts(&short_fix, NULL, 0);
}

static void jsonl_split_at_every_offset(void **state)
{
    for (size_t i = 0; i <= full_fix.len; i++)
        feed_stream_with_cuts(&full_fix, &i, 1);
}

static void jsonl_split_at_every_pair_of_offsets(void **state)
{
    for (size_t i = 0; i <= short_fix.len; i++)
        for (size_t j = i; j <= short_fix.len; j++) {
            size_t cuts[2] = {i, j};
            feed_stream_with_cuts(&short_fix, cuts, 2);
        }
}

static void jsonl_byte_at_a_time(void **state)
{
    size_t cuts[sizeof stream_text];
    for (size_t i = 0; i < full_fix.len; i++)
        cuts[i] = i + 1;
    feed_stream_with_cuts(&full_fix, cuts, full_fix.len);
}

/* Feeds text in one chunk, then finishes; returns the first error. */
static int feed_all(const char *text, size_t len, rec *r)
{
    dkc__jsonl j;
    dkc__jsonl_init(&j);
    int rc = dkc__jsonl_feed(&j, text, len, on_value, r);
    int frc = dkc__jsonl_finish(&j, on_value, r);
    if (rc == 0)
        rc = frc;
    else
        assert_int_equal(frc, rc); /* sticky */
    dkc__jsonl_cleanup(&j);
    return rc;
}

static void jsonl_crlf_line_endings_are_tolerated(void **state)
{
    static const char text[] = "{\"a\":1}\r\n{\"b\":2}\r\n{\"c\":3}\r";
    rec r;
    rec_init(&r);
    assert_int_equal(feed_all(text, sizeof text - 1, &r), 0);
    assert_string_equal(rec_text(&r), "{\"a\":1}\n{\"b\":2}\n{\"c\":3}\n");
    rec_cleanup(&r);
}

static void jsonl_blank_and_whitespace_lines_are_skipped(void **state)
{
    static const char text[] = "\n\n\r\n \n\t\t\n{\"a\":1}\n \r\n\n{\"b\":2}\n\n";
    rec r;
    rec_init(&r);
    assert_int_equal(feed_all(text, sizeof text - 1, &r), 0);
    assert_int_equal(r.calls, 2);
    assert_string_equal(rec_text(&r), "{\"a\":1}\n{\"b\":2}\n");
    rec_cleanup(&r);
}

static void jsonl_final_value_without_newline_needs_finish(void **state)
{
    dkc__jsonl j;
    rec r;
    rec_init(&r);
    dkc__jsonl_init(&j);
    assert_int_equal(dkc__jsonl_feed(&j, "{\"a\":1}\n{\"last\":", 16, on_value, &r), 0);
    assert_int_equal(dkc__jsonl_feed(&j, "true}", 5, on_value, &r), 0);
    assert_int_equal(r.calls, 1); /* the last value may still be growing */
    assert_int_equal(dkc__jsonl_finish(&j, on_value, &r), 0);
    assert_int_equal(r.calls, 2);
    assert_string_equal(rec_text(&r), "{\"a\":1}\n{\"last\":true}\n");
    /* Finishing again delivers nothing more. */
    assert_int_equal(dkc__jsonl_finish(&j, on_value, &r), 0);
    assert_int_equal(r.calls, 2);
    dkc__jsonl_cleanup(&j);
    rec_cleanup(&r);
}

static void jsonl_finish_without_pending_value_delivers_nothing(void **state)
{
    static const char *const tails[] = {"", "{\"a\":1}\n", "{\"a\":1}\n  ", "\r", "\n\t"};
    for (size_t k = 0; k < sizeof tails / sizeof tails[0]; k++) {
        rec r;
        rec_init(&r);
        assert_int_equal(feed_all(tails[k], strlen(tails[k]), &r), 0);
        assert_int_equal(r.calls, k == 0 || k >= 3 ? 0 : 1);
        rec_cleanup(&r);
    }
}

static void jsonl_invalid_json_is_protocol_error_and_sticky(void **state)
{
    dkc__jsonl j;
    rec r;
    rec_init(&r);
    dkc__jsonl_init(&j);
    static const char text[] = "{\"ok\":1}\n{\"broken\":\n{\"after\":2}\n";
    assert_int_equal(dkc__jsonl_feed(&j, text, sizeof text - 1, on_value, &r), DKC_EPROTO);
    /* The value before the bad line came through, the one after did not. */
    assert_int_equal(r.calls, 1);
    assert_string_equal(rec_text(&r), "{\"ok\":1}\n");
    /* Sticky: valid input afterwards is not parsed. */
    assert_int_equal(dkc__jsonl_feed(&j, "{\"x\":1}\n", 8, on_value, &r), DKC_EPROTO);
    assert_int_equal(dkc__jsonl_feed(&j, NULL, 0, on_value, &r), DKC_EPROTO);
    assert_int_equal(dkc__jsonl_finish(&j, on_value, &r), DKC_EPROTO);
    assert_int_equal(r.calls, 1);
    dkc__jsonl_cleanup(&j);
    /* A fresh splitter works again. */
    dkc__jsonl_init(&j);
    assert_int_equal(dkc__jsonl_feed(&j, "{\"x\":1}\n", 8, on_value, &r), 0);
    assert_int_equal(r.calls, 2);
    dkc__jsonl_cleanup(&j);

    /* Invalid text that is only completed by finish. */
    rec_cleanup(&r);
    rec_init(&r);
    assert_int_equal(feed_all("{\"a\":1}\n{\"a\"", 12, &r), DKC_EPROTO);
    assert_int_equal(r.calls, 1);
    rec_cleanup(&r);
}

static void jsonl_non_object_values_are_protocol_errors(void **state)
{
    static const char *const lines[] = {
        "[1,2]\n",  "[]\n",       "42\n", "\"text\"\n",   "true\n",    "null\n",
        "-1.5e3\n", "not json\n", "}\n",  "{\"a\":1,}\n", "{'a':1}\n", "{\"a\":01}\n",
    };
    for (size_t k = 0; k < sizeof lines / sizeof lines[0]; k++) {
        rec r;
        rec_init(&r);
        if (feed_all(lines[k], strlen(lines[k]), &r) != DKC_EPROTO)
            print_error("line %zu: %s", k, lines[k]);
        assert_int_equal(feed_all(lines[k], strlen(lines[k]), &r), DKC_EPROTO);
        assert_int_equal(r.calls, 0);
        rec_cleanup(&r);
    }
}

static void jsonl_two_values_on_one_line_are_refused(void **state)
{
    rec r;
    rec_init(&r);
    assert_int_equal(feed_all("{\"a\":1}{\"b\":2}\n", 15, &r), DKC_EPROTO);
    assert_int_equal(feed_all("{\"a\":1} {\"b\":2}\n", 16, &r), DKC_EPROTO);
    assert_int_equal(r.calls, 0);
    rec_cleanup(&r);
}

static void jsonl_nul_byte_and_invalid_utf8_are_refused(void **state)
{
    rec r;
    rec_init(&r);
    static const char nul_in_string[] = "{\"a\":\"x\0y\"}\n";
    static const char nul_outside[] = "{\"a\":1}\0\n";
    static const char escaped_nul[] = "{\"a\":\"x\\u0000y\"}\n";
    static const char bad_utf8[] = "{\"a\":\"\xc3\x28\"}\n";
    static const char overlong[] = "{\"a\":\"\xc0\xaf\"}\n";
    assert_int_equal(feed_all(nul_in_string, sizeof nul_in_string - 1, &r), DKC_EPROTO);
    assert_int_equal(feed_all(nul_outside, sizeof nul_outside - 1, &r), DKC_EPROTO);
    assert_int_equal(feed_all(escaped_nul, sizeof escaped_nul - 1, &r), DKC_EPROTO);
    assert_int_equal(feed_all(bad_utf8, sizeof bad_utf8 - 1, &r), DKC_EPROTO);
    assert_int_equal(feed_all(overlong, sizeof overlong - 1, &r), DKC_EPROTO);
    assert_int_equal(r.calls, 0);
    rec_cleanup(&r);
}

/* Builds {"a":"xxx..."} of exactly len bytes, then `ending`.  Caller frees. */
static char *object_line(size_t len, const char *ending, size_t *out_len)
{
    size_t e = strlen(ending);
    char *p = malloc(len + e + 1);
    assert_non_null(p);
    assert_true(len >= 8);
    memcpy(p, "{\"a\":\"", 6);
    memset(p + 6, 'x', len - 8);
    memcpy(p + len - 2, "\"}", 2);
    memcpy(p + len, ending, e + 1);
    *out_len = len + e;
    return p;
}

/* Feeds p in chunks of `chunk` bytes (0: whole); returns the first error,
 * finishing when feeding succeeded. */
static int feed_chunked(const char *p, size_t len, size_t chunk, rec *r)
{
    dkc__jsonl j;
    dkc__jsonl_init(&j);
    int rc = 0;
    size_t pos = 0;
    while (rc == 0 && pos < len) {
        size_t n = chunk == 0 || chunk > len - pos ? len - pos : chunk;
        rc = dkc__jsonl_feed(&j, p + pos, n, on_value, r);
        pos += n;
    }
    if (rc == 0)
        rc = dkc__jsonl_finish(&j, on_value, r);
    dkc__jsonl_cleanup(&j);
    return rc;
}

static void jsonl_line_of_max_length_is_accepted(void **state)
{
    static const char *const endings[] = {"\n", "\r\n", "", "\r"};
    static const size_t chunks[] = {0, 1000, 65536, DKC_MAX_LINE};
    for (size_t e = 0; e < 4; e++)
        for (size_t c = 0; c < 4; c++) {
            size_t len;
            char *p = object_line(DKC_MAX_LINE, endings[e], &len);
            rec r;
            rec_init(&r);
            assert_int_equal(feed_chunked(p, len, chunks[c], &r), 0);
            assert_int_equal(r.calls, 1);
            assert_int_equal(r.text.len, DKC_MAX_LINE + 1);
            rec_cleanup(&r);
            free(p);
        }
}

static void jsonl_line_one_byte_over_max_is_too_big(void **state)
{
    static const char *const endings[] = {"\n", "\r\n", "", "\r"};
    static const size_t chunks[] = {0, 1000, 65536, DKC_MAX_LINE};
    for (size_t e = 0; e < 4; e++)
        for (size_t c = 0; c < 4; c++) {
            size_t len;
            char *p = object_line(DKC_MAX_LINE + 1, endings[e], &len);
            rec r;
            rec_init(&r);
            assert_int_equal(feed_chunked(p, len, chunks[c], &r), DKC_ETOOBIG);
            assert_int_equal(r.calls, 0);
            rec_cleanup(&r);
            free(p);
        }
}

/* An endless line is refused once it passes the cap, with no newline ever
 * arriving, and without buffering the rest. */
static void jsonl_endless_line_is_too_big_before_its_end(void **state)
{
    char chunk[4096];
    memset(chunk, ' ', sizeof chunk);
    chunk[0] = '[';
    dkc__jsonl j;
    rec r;
    rec_init(&r);
    dkc__jsonl_init(&j);
    assert_int_equal(dkc__jsonl_feed(&j, "{\"a\":1}\n", 8, on_value, &r), 0);
    int rc = 0;
    size_t fed = 0;
    while (rc == 0 && fed < 4 * (size_t)DKC_MAX_LINE) {
        rc = dkc__jsonl_feed(&j, chunk, sizeof chunk, on_value, &r);
        fed += sizeof chunk;
    }
    assert_int_equal(rc, DKC_ETOOBIG);
    assert_true(fed > DKC_MAX_LINE + 1);
    assert_true(fed <= DKC_MAX_LINE + 1 + sizeof chunk);
    assert_true(j.line.len <= DKC_MAX_LINE + 1);
    assert_int_equal(dkc__jsonl_feed(&j, "\n", 1, on_value, &r), DKC_ETOOBIG);
    assert_int_equal(dkc__jsonl_finish(&j, on_value, &r), DKC_ETOOBIG);
    assert_int_equal(r.calls, 1);
    dkc__jsonl_cleanup(&j);
    rec_cleanup(&r);
}

static void jsonl_callback_cancel_stops_delivery(void **state)
{
    static const char text[] = "{\"n\":1}\n{\"n\":2}\n{\"n\":3}\n{\"n\":4}";
    dkc__jsonl j;
    rec r;
    rec_init(&r);
    r.cancel_on_call = 2;
    dkc__jsonl_init(&j);
    assert_int_equal(dkc__jsonl_feed(&j, text, sizeof text - 1, on_value, &r), DKC_ECANCELED);
    assert_int_equal(r.calls, 2);
    assert_string_equal(rec_text(&r), "{\"n\":1}\n{\"n\":2}\n");
    assert_int_equal(dkc__jsonl_feed(&j, "{\"n\":5}\n", 8, on_value, &r), DKC_ECANCELED);
    assert_int_equal(dkc__jsonl_finish(&j, on_value, &r), DKC_ECANCELED);
    assert_int_equal(r.calls, 2);
    dkc__jsonl_cleanup(&j);

    /* A cancel from the value delivered by finish. */
    rec_cleanup(&r);
    rec_init(&r);
    r.cancel_on_call = 4;
    assert_int_equal(feed_all(text, sizeof text - 1, &r), DKC_ECANCELED);
    assert_int_equal(r.calls, 4);
    rec_cleanup(&r);
}

static void jsonl_callback_may_keep_value_with_incref(void **state)
{
    dkc__jsonl j;
    rec r;
    rec_init(&r);
    dkc__jsonl_init(&j);
    assert_int_equal(dkc__jsonl_feed(&j, "{\"k\":\"v1\"}\n{\"k\":\"v2\"}\n", 22, keep_value, &r),
                     0);
    dkc__jsonl_cleanup(&j);
    assert_int_equal(r.calls, 2);
    assert_non_null(r.kept);
    assert_string_equal(json_string_value(json_object_get(r.kept, "k")), "v2");
    rec_cleanup(&r);
}

static void jsonl_null_callback_validates_and_drops(void **state)
{
    dkc__jsonl j;
    dkc__jsonl_init(&j);
    assert_int_equal(dkc__jsonl_feed(&j, "{\"a\":1}\n{}\n", 11, NULL, NULL), 0);
    assert_int_equal(dkc__jsonl_feed(&j, "[1]\n", 4, NULL, NULL), DKC_EPROTO);
    dkc__jsonl_cleanup(&j);
}

static void jsonl_splitter_is_reusable_after_finish(void **state)
{
    dkc__jsonl j;
    rec r;
    rec_init(&r);
    dkc__jsonl_init(&j);
    assert_int_equal(dkc__jsonl_feed(&j, "{\"a\":1}", 7, on_value, &r), 0);
    assert_int_equal(dkc__jsonl_finish(&j, on_value, &r), 0);
    assert_int_equal(dkc__jsonl_feed(&j, "{\"b\":2}\n{\"c\"", 12, on_value, &r), 0);
    assert_int_equal(dkc__jsonl_finish(&j, on_value, &r), DKC_EPROTO);
    /* An error found by finish is as sticky as one found by feed. */
    assert_int_equal(dkc__jsonl_feed(&j, "{\"d\":4}\n", 8, on_value, &r), DKC_EPROTO);
    assert_int_equal(dkc__jsonl_finish(&j, on_value, &r), DKC_EPROTO);
    assert_string_equal(rec_text(&r), "{\"a\":1}\n{\"b\":2}\n");
    dkc__jsonl_cleanup(&j);
    rec_cleanup(&r);
}

/* A partial line held at the end is released by cleanup (checked by the
 * valgrind and ASan runs of this suite). */
static void jsonl_cleanup_releases_partial_line(void **state)
{
    dkc__jsonl j;
    dkc__jsonl_init(&j);
    assert_int_equal(dkc__jsonl_feed(&j, "{\"partial\":", 11, NULL, NULL), 0);
    assert_int_equal(j.line.len, 11);
    dkc__jsonl_cleanup(&j);
    assert_null(j.line.data);
    dkc__jsonl_cleanup(&j); /* twice is harmless */
    dkc__jsonl_cleanup(NULL);
}

static size_t allocs_left;

static void *failing_malloc(size_t n)
{
    if (allocs_left == 0)
        return NULL;
    allocs_left--;
    return malloc(n);
}

/* jansson running out of memory at any allocation while decoding a line
 * fails that line cleanly: an error, no value, nothing leaked (valgrind and
 * ASan runs).  jansson 2.14 reports most allocation failures as syntax
 * errors, so either DKC_ENOMEM or DKC_EPROTO is accepted. */
static void jsonl_decoder_out_of_memory_fails_cleanly(void **state)
{
    static const char line[] = "{\"status\":\"Downloading\",\"progressDetail\":{\"current\":1}}\n";
    size_t failures = 0;
    for (size_t k = 0; k < 64; k++) {
        dkc__jsonl j;
        rec r;
        rec_init(&r);
        dkc__jsonl_init(&j);
        allocs_left = k;
        json_set_alloc_funcs(failing_malloc, free);
        int rc = dkc__jsonl_feed(&j, line, sizeof line - 1, keep_value, &r);
        json_set_alloc_funcs(malloc, free);
        if (rc == 0) {
            assert_int_equal(r.calls, 1);
        } else {
            if (rc != DKC_ENOMEM)
                assert_int_equal(rc, DKC_EPROTO);
            assert_int_equal(r.calls, 0);
            failures++;
        }
        dkc__jsonl_cleanup(&j);
        rec_cleanup(&r);
    }
    assert_true(failures > 0);
}

static void jsonl_rejects_null_arguments(void **state)
{
    dkc__jsonl j;
    dkc__jsonl_init(&j);
    dkc__jsonl_init(NULL);
    assert_int_equal(dkc__jsonl_feed(NULL, "x", 1, NULL, NULL), DKC_EINVAL);
    assert_int_equal(dkc__jsonl_feed(&j, NULL, 1, NULL, NULL), DKC_EINVAL);
    assert_int_equal(dkc__jsonl_finish(NULL, NULL, NULL), DKC_EINVAL);
    /* Not sticky: the splitter still works. */
    assert_int_equal(dkc__jsonl_feed(&j, "{}\n", 3, NULL, NULL), 0);
    dkc__jsonl_cleanup(&j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(jsonl_single_chunk_delivers_every_value),
        cmocka_unit_test(jsonl_split_at_every_offset),
        cmocka_unit_test(jsonl_split_at_every_pair_of_offsets),
        cmocka_unit_test(jsonl_byte_at_a_time),
        cmocka_unit_test(jsonl_crlf_line_endings_are_tolerated),
        cmocka_unit_test(jsonl_blank_and_whitespace_lines_are_skipped),
        cmocka_unit_test(jsonl_final_value_without_newline_needs_finish),
        cmocka_unit_test(jsonl_finish_without_pending_value_delivers_nothing),
        cmocka_unit_test(jsonl_invalid_json_is_protocol_error_and_sticky),
        cmocka_unit_test(jsonl_non_object_values_are_protocol_errors),
        cmocka_unit_test(jsonl_two_values_on_one_line_are_refused),
        cmocka_unit_test(jsonl_nul_byte_and_invalid_utf8_are_refused),
        cmocka_unit_test(jsonl_line_of_max_length_is_accepted),
        cmocka_unit_test(jsonl_line_one_byte_over_max_is_too_big),
        cmocka_unit_test(jsonl_endless_line_is_too_big_before_its_end),
        cmocka_unit_test(jsonl_callback_cancel_stops_delivery),
        cmocka_unit_test(jsonl_callback_may_keep_value_with_incref),
        cmocka_unit_test(jsonl_null_callback_validates_and_drops),
        cmocka_unit_test(jsonl_splitter_is_reusable_after_finish),
        cmocka_unit_test(jsonl_cleanup_releases_partial_line),
        cmocka_unit_test(jsonl_decoder_out_of_memory_fails_cleanly),
        cmocka_unit_test(jsonl_rejects_null_arguments),
    };
    return cmocka_run_group_tests_name("jsonl", tests, NULL, NULL);
}
