/*
 * test_imgvolnet.c -- the requests the image, volume and network calls
 * make, and how they read the answers, driven through a fake transport:
 * pull reference splitting, the X-Registry-Auth encoding, progress streams
 * cut at every point, errors inside a stream, upload bodies, request
 * bodies.  (The real daemon is exercised by the integration tests; this
 * covers what a local daemon and registry never send.)
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

/* What the fake answers, and what it saw. */
typedef struct fake {
    long status;
    const char *body;
    size_t chunk; /* stream bodies go to the sink this many bytes at a time */
    int calls;
    char path[1024];
    char method[16];
    char content_type[64];
    char header[2048];
    char sent[8192]; /* request body, or what the reader supplied */
    size_t sent_len;
    bool stream;
    bool had_reader;
} fake;

static int fake_perform(void *impl, const dkc__req *req, const char *path, dkc__resp *resp,
                        char *errbuf, size_t errlen)
{
    fake *f = impl;
    if (strcmp(path, "/_ping") == 0) {
        resp->status = 200;
        snprintf(resp->api_version, sizeof resp->api_version, "1.41");
        return 0;
    }
    f->calls++;
    snprintf(f->path, sizeof f->path, "%s", path);
    snprintf(f->method, sizeof f->method, "%s", req->method);
    snprintf(f->content_type, sizeof f->content_type, "%s",
             req->content_type ? req->content_type : "");
    snprintf(f->header, sizeof f->header, "%s", req->extra_header ? req->extra_header : "");
    f->stream = req->stream;
    f->had_reader = req->reader != NULL;
    f->sent_len = 0;
    if (req->reader != NULL) {
        for (;;) {
            ssize_t n = req->reader(req->reader_ud, f->sent + f->sent_len,
                                    sizeof f->sent - 1 - f->sent_len);
            if (n < 0) {
                snprintf(errbuf, errlen, "read callback failed");
                return DKC_EIO;
            }
            if (n == 0)
                break;
            f->sent_len += (size_t)n;
        }
    } else if (req->body != NULL) {
        assert_true(req->body_len < sizeof f->sent);
        memcpy(f->sent, req->body, req->body_len);
        f->sent_len = req->body_len;
    }
    f->sent[f->sent_len] = '\0';
    resp->status = f->status;
    if (f->body == NULL)
        return 0;
    size_t len = strlen(f->body);
    if (req->sink != NULL && f->status < 300) {
        size_t step = f->chunk ? f->chunk : len;
        for (size_t off = 0; off < len; off += step) {
            size_t n = len - off < step ? len - off : step;
            if (req->sink(req->sink_ud, f->body + off, n) != 0) {
                snprintf(errbuf, errlen, "stopped by the body callback");
                return DKC_ECANCELED;
            }
        }
        return 0;
    }
    return dkc__buf_append(&resp->body, f->body, len);
}

static dkc_client *fake_client(fake *f)
{
    dkc_options o;
    dkc_client *c = NULL;
    dkc_options_init(&o);
    o.host = "unix:///fake.sock";
    assert_int_equal(dkc_client_new(&o, &c, NULL, 0), 0);
    dkc__transport t = {.perform = fake_perform, .free = NULL, .impl = f};
    dkc__client_set_transport(c, &t);
    return c;
}

/* ---- pull -------------------------------------------------------------------- */

static void pull_splits_references(void **state)
{
    static const struct {
        const char *image, *tag, *path;
    } cases[] = {
        {"busybox", NULL, "/v1.41/images/create?fromImage=busybox&tag=latest"},
        {"busybox:1.36", NULL, "/v1.41/images/create?fromImage=busybox&tag=1.36"},
        {"busybox", "musl", "/v1.41/images/create?fromImage=busybox&tag=musl"},
        {"library/busybox", NULL, "/v1.41/images/create?fromImage=library%2Fbusybox&tag=latest"},
        /* A registry port is not a tag. */
        {"localhost:5000/busybox", NULL,
         "/v1.41/images/create?fromImage=localhost%3A5000%2Fbusybox&tag=latest"},
        {"localhost:5000/busybox:v2", NULL,
         "/v1.41/images/create?fromImage=localhost%3A5000%2Fbusybox&tag=v2"},
        {"localhost:5000/ns/busybox", "v3",
         "/v1.41/images/create?fromImage=localhost%3A5000%2Fns%2Fbusybox&tag=v3"},
        /* A digest travels in the tag parameter, as the docker CLI sends it. */
        {"busybox@sha256:0123abcd", NULL,
         "/v1.41/images/create?fromImage=busybox&tag=sha256%3A0123abcd"},
        {"reg:5000/busybox:old@sha256:ab", NULL,
         "/v1.41/images/create?fromImage=reg%3A5000%2Fbusybox&tag=sha256%3Aab"},
    };
    fake f = {.status = 200, .body = "{\"status\":\"Status: done\"}\n"};
    dkc_client *c = fake_client(&f);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int rc = dkc_image_pull(c, cases[i].image, cases[i].tag, NULL, NULL, NULL);
        assert_int_equal(rc, 0);
        assert_string_equal(f.path, cases[i].path);
        assert_string_equal(f.method, "POST");
        assert_true(f.stream);
        assert_string_equal(f.header, ""); /* no credentials, no header */
    }
    int calls = f.calls;
    static const char *const bad[][2] = {
        {"busybox:", NULL},
        {"busybox:1", "2"},
        {"busybox@", NULL},
        {"busybox@sha256", NULL},
        {"x/", NULL},
        {"reg:5000/:tag", NULL},
        {"a:b:c", NULL},
        {"busybox", "a/b"},
        {"busybox", ""},
        {"busybox?x=1", NULL},
        {"../busybox", NULL},
        {"busybox", "a b"},
        {"busybox@sha256:ab", "t"},
        {"", NULL},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = dkc_image_pull(c, bad[i][0], bad[i][1], NULL, NULL, NULL);
        if (rc != DKC_EINVAL)
            fprintf(stderr, "accepted: %s %s\n", bad[i][0], bad[i][1] ? bad[i][1] : "(null)");
        assert_int_equal(rc, DKC_EINVAL);
        assert_int_equal(dkc_client_last_error(c)->code, DKC_EINVAL);
    }
    assert_int_equal(f.calls, calls); /* refused before any request */
    dkc_client_free(c);
}

/* Decodes padded base64url; returns the length or -1. */
static int b64url_decode(const char *in, char *out, size_t cap)
{
    static const char alpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t len = strlen(in), n = 0;
    if (len % 4 != 0)
        return -1;
    for (size_t i = 0; i < len; i += 4) {
        unsigned v = 0;
        int pad = 0;
        for (int k = 0; k < 4; k++) {
            const char *p = in[i + k] ? strchr(alpha, in[i + k]) : NULL;
            if (in[i + k] == '=') {
                pad++;
                v <<= 6;
                continue;
            }
            if (p == NULL || pad > 0)
                return -1;
            v = (v << 6) | (unsigned)(p - alpha);
        }
        if (n + 3 - (size_t)pad >= cap)
            return -1;
        out[n++] = (char)(v >> 16);
        if (pad < 2)
            out[n++] = (char)(v >> 8);
        if (pad < 1)
            out[n++] = (char)v;
    }
    out[n] = '\0';
    return (int)n;
}

static void pull_sends_registry_auth_as_base64url_json(void **state)
{
    /* Passwords of three lengths give all three padding cases; "???" and
     * "~~~" encode to the two characters base64url changes ('_' and '-'). */
    static const char *const passwords[] = {"???~~~", "???~~~x", "???~~~xy", "p\"w\\d/é"};
    fake f = {.status = 200, .body = ""};
    dkc_client *c = fake_client(&f);
    for (size_t i = 0; i < sizeof passwords / sizeof passwords[0]; i++) {
        dkc_auth auth = {
            .username = "alice", .password = passwords[i], .server_address = "localhost:5000"};
        assert_int_equal(dkc_image_pull(c, "localhost:5000/busybox", NULL, &auth, NULL, NULL), 0);
        const char *prefix = "X-Registry-Auth: ";
        assert_int_equal(strncmp(f.header, prefix, strlen(prefix)), 0);
        const char *enc = f.header + strlen(prefix);
        assert_null(strchr(enc, '+'));
        assert_null(strchr(enc, '/'));
        char json[1024];
        assert_true(b64url_decode(enc, json, sizeof json) > 0);
        json_error_t jerr;
        json_t *o = json_loads(json, 0, &jerr);
        assert_non_null(o);
        assert_string_equal(json_string_value(json_object_get(o, "username")), "alice");
        assert_string_equal(json_string_value(json_object_get(o, "password")), passwords[i]);
        assert_string_equal(json_string_value(json_object_get(o, "serveraddress")),
                            "localhost:5000");
        assert_null(json_object_get(o, "identitytoken")); /* NULL fields left out */
        assert_int_equal(json_object_size(o), 3);
        json_decref(o);
    }
    dkc_auth token = {.identity_token = "tok"};
    assert_int_equal(dkc_image_pull(c, "busybox", NULL, &token, NULL, NULL), 0);
    assert_string_equal(
        f.header,
        "X-Registry-Auth: eyJpZGVudGl0eXRva2VuIjoidG9rIn0="); /* {"identitytoken":"tok"} */
    dkc_client_free(c);
}

typedef struct seen {
    int count;
    int stop_at;
    char status[8][80];
    char id[8][40];
    int64_t current[8], total[8];
} seen;

static int collect(void *ud, const dkc_progress *p)
{
    seen *s = ud;
    if (s->count < 8) {
        snprintf(s->status[s->count], sizeof s->status[0], "%s", p->status);
        snprintf(s->id[s->count], sizeof s->id[0], "%s", p->id);
        s->current[s->count] = p->current;
        s->total[s->count] = p->total;
    }
    s->count++;
    return s->stop_at > 0 && s->count >= s->stop_at;
}

static const char progress_ok[] =
    "{\"status\":\"Pulling from library/busybox\",\"id\":\"latest\"}\r\n"
    "{\"status\":\"Downloading\",\"progressDetail\":{\"current\":5,\"total\":10},"
    "\"progress\":\"[==>  ]\",\"id\":\"abc123\"}\r\n"
    "\r\n"
    "{\"status\":\"Status: Downloaded newer image for busybox:latest\"}";

static void progress_stream_cut_anywhere(void **state)
{
    fake f = {.status = 200, .body = progress_ok};
    dkc_client *c = fake_client(&f);
    for (size_t chunk = 1; chunk <= sizeof progress_ok; chunk++) {
        f.chunk = chunk;
        seen s = {0};
        int rc = dkc_image_pull(c, "busybox", NULL, NULL, collect, &s);
        assert_int_equal(rc, 0);
        assert_int_equal(s.count, 3); /* the last one had no newline */
        assert_string_equal(s.status[0], "Pulling from library/busybox");
        assert_string_equal(s.id[0], "latest");
        assert_int_equal(s.current[0], 0);
        assert_string_equal(s.status[1], "Downloading");
        assert_string_equal(s.id[1], "abc123");
        assert_int_equal(s.current[1], 5);
        assert_int_equal(s.total[1], 10);
        assert_string_equal(s.status[2], "Status: Downloaded newer image for busybox:latest");
        assert_string_equal(s.id[2], "");
    }
    dkc_client_free(c);
}

static void error_inside_the_stream_is_estream(void **state)
{
    static const char body[] =
        "{\"status\":\"Pulling from x\",\"id\":\"latest\"}\n"
        "{\"errorDetail\":{\"message\":\"manifest unknown\"},"
        "\"error\":\"manifest for x:latest not found:\\nmanifest unknown\"}\n"
        "{\"status\":\"never delivered\"}\n";
    fake f = {.status = 200, .body = body};
    dkc_client *c = fake_client(&f);
    for (size_t chunk = 1; chunk <= sizeof body; chunk += 7) {
        f.chunk = chunk;
        seen s = {0};
        int rc = dkc_image_pull(c, "x", NULL, NULL, collect, &s);
        assert_int_equal(rc, DKC_ESTREAM);
        assert_int_equal(s.count, 1);
        const dkc_error_info *e = dkc_client_last_error(c);
        assert_int_equal(e->code, DKC_ESTREAM);
        assert_int_equal(e->http_status, 200);
        /* Docker's text, on one line. */
        assert_string_equal(e->message, "pull: manifest for x:latest not found: manifest unknown");
    }
    /* Only errorDetail; and with no callback at all. */
    f.chunk = 0;
    f.body = "{\"errorDetail\":{\"message\":\"disk full\"}}\n";
    assert_int_equal(dkc_image_pull(c, "x", NULL, NULL, NULL, NULL), DKC_ESTREAM);
    assert_string_equal(dkc_client_last_error(c)->message, "pull: disk full");
    /* The last line, without its newline, is checked too. */
    f.body = "{\"status\":\"a\"}\n{\"error\":\"late\"}";
    assert_int_equal(dkc_image_pull(c, "x", NULL, NULL, NULL, NULL), DKC_ESTREAM);
    assert_string_equal(dkc_client_last_error(c)->message, "pull: late");
    dkc_client_free(c);
}

static void malformed_stream_and_callback_stop(void **state)
{
    fake f = {.status = 200, .body = "{\"status\":\"a\"}\nnot json\n"};
    dkc_client *c = fake_client(&f);
    seen s = {0};
    assert_int_equal(dkc_image_pull(c, "x", NULL, NULL, collect, &s), DKC_EPROTO);
    assert_int_equal(s.count, 1);
    assert_non_null(strstr(dkc_client_last_error(c)->message, "malformed progress stream"));

    f.body = "{\"status\":\"a\"}\n[1,2]\n";
    assert_int_equal(dkc_image_pull(c, "x", NULL, NULL, NULL, NULL), DKC_EPROTO);
    f.body = "{\"status\":\"a\"}\n{\"status\":";
    assert_int_equal(dkc_image_pull(c, "x", NULL, NULL, NULL, NULL), DKC_EPROTO);

    f.body = progress_ok;
    seen stop = {.stop_at = 2};
    assert_int_equal(dkc_image_pull(c, "x", NULL, NULL, collect, &stop), DKC_ECANCELED);
    assert_int_equal(stop.count, 2);
    assert_int_equal(dkc_client_last_error(c)->code, DKC_ECANCELED);
    assert_non_null(strstr(dkc_client_last_error(c)->message, "progress callback"));

    /* An HTTP error before the stream keeps Docker's message. */
    f.status = 404;
    f.body = "{\"message\":\"pull access denied for x\"}";
    assert_int_equal(dkc_image_pull(c, "x", NULL, NULL, collect, &s), DKC_ENOTFOUND);
    assert_string_equal(dkc_client_last_error(c)->message, "pull access denied for x");
    dkc_client_free(c);
}

/* ---- import and load ---------------------------------------------------------- */

static void import_and_load_upload_the_tar(void **state)
{
    static const char tar[] = "pretend this is a tar archive";
    fake f = {.status = 200, .body = "{\"status\":\"sha256:0123\"}\r\n"};
    dkc_client *c = fake_client(&f);
    dkc_membuf_reader rd = {.data = tar, .len = sizeof tar - 1, .pos = 0};
    seen s = {0};
    assert_int_equal(dkc_image_import(c, "me/rootfs", "v1", dkc_membuf_read, &rd, collect, &s), 0);
    assert_string_equal(f.path, "/v1.41/images/create?fromSrc=-&repo=me%2Frootfs&tag=v1");
    assert_string_equal(f.method, "POST");
    assert_string_equal(f.content_type, "application/x-tar");
    assert_true(f.had_reader && f.stream);
    assert_string_equal(f.sent, tar);
    assert_int_equal(s.count, 1);
    assert_string_equal(s.status[0], "sha256:0123");

    rd.pos = 0;
    assert_int_equal(dkc_image_import(c, NULL, NULL, dkc_membuf_read, &rd, NULL, NULL), 0);
    assert_string_equal(f.path, "/v1.41/images/create?fromSrc=-");
    assert_int_equal(dkc_image_import(c, NULL, "v1", dkc_membuf_read, &rd, NULL, NULL), DKC_EINVAL);
    assert_int_equal(dkc_image_import(c, "x", "v1", NULL, NULL, NULL, NULL), DKC_EINVAL);

    /* Load: the result arrives as "stream" text. */
    f.body = "{\"status\":\"Loading layer\",\"progressDetail\":{\"current\":512,\"total\":1024},"
             "\"id\":\"f00\"}\n{\"stream\":\"Loaded image: me/x:v1\\n\"}\n";
    rd.pos = 0;
    seen l = {0};
    assert_int_equal(dkc_image_load(c, dkc_membuf_read, &rd, collect, &l), 0);
    assert_string_equal(f.path, "/v1.41/images/load?quiet=0");
    assert_string_equal(f.content_type, "application/x-tar");
    assert_string_equal(f.sent, tar);
    assert_int_equal(l.count, 2);
    assert_int_equal(l.total[0], 1024);
    assert_string_equal(l.status[1], "Loaded image: me/x:v1\n");

    f.body = "{\"errorDetail\":{\"message\":\"unexpected EOF\"},\"error\":\"unexpected EOF\"}\n";
    rd.pos = 0;
    assert_int_equal(dkc_image_load(c, dkc_membuf_read, &rd, NULL, NULL), DKC_ESTREAM);
    assert_string_equal(dkc_client_last_error(c)->message, "load: unexpected EOF");
    dkc_client_free(c);
}

/* ---- list, inspect, tag, remove ----------------------------------------------- */

static void image_paths(void **state)
{
    fake f = {.status = 200, .body = "[]"};
    dkc_client *c = fake_client(&f);
    json_t *out = NULL;
    json_t *filters = json_pack("{s:[s]}", "reference", "busy*");
    assert_int_equal(dkc_image_list(c, true, filters, &out), 0);
    assert_string_equal(f.path, "/v1.41/images/json?all=1&filters=%7B%22reference%22%3A%5B%22"
                                "busy%2A%22%5D%7D");
    assert_true(json_is_array(out));
    json_decref(out);
    json_decref(filters);
    assert_int_equal(dkc_image_list(c, false, NULL, &out), 0);
    assert_string_equal(f.path, "/v1.41/images/json");
    json_decref(out);

    f.body = "{\"Id\":\"sha256:1\"}";
    assert_int_equal(dkc_image_inspect(c, "localhost:5000/busybox:latest", &out), 0);
    assert_string_equal(f.path, "/v1.41/images/localhost:5000/busybox:latest/json");
    json_decref(out);

    f.status = 201;
    f.body = NULL;
    assert_int_equal(dkc_image_tag(c, "busybox", "localhost:5000/me", "v9"), 0);
    assert_string_equal(f.path, "/v1.41/images/busybox/tag?repo=localhost%3A5000%2Fme&tag=v9");
    assert_string_equal(f.method, "POST");

    f.status = 200;
    f.body = "[{\"Untagged\":\"a:b\"},{\"Deleted\":\"sha256:1\"}]";
    assert_int_equal(dkc_image_remove(c, "a:b", true, true, &out), 0);
    assert_string_equal(f.path, "/v1.41/images/a:b?force=1&noprune=1");
    assert_string_equal(f.method, "DELETE");
    assert_int_equal(json_array_size(out), 2);
    json_decref(out);
    assert_int_equal(dkc_image_remove(c, "a:b", false, false, NULL), 0);
    assert_string_equal(f.path, "/v1.41/images/a:b");

    f.status = 404;
    f.body = "{\"message\":\"No such image: a:b\"}";
    assert_int_equal(dkc_image_remove(c, "a:b", false, false, &out), DKC_ENOTFOUND);
    assert_null(out);
    dkc_client_free(c);
}

/* ---- volumes and networks -------------------------------------------------------- */

/* Parses the fake's last request body. */
static json_t *sent_json(fake *f)
{
    json_error_t jerr;
    json_t *o = json_loads(f->sent, 0, &jerr);
    assert_non_null(o);
    return o;
}

static void volume_requests(void **state)
{
    fake f = {.status = 201, .body = "{\"Name\":\"v1\",\"Driver\":\"local\"}"};
    dkc_client *c = fake_client(&f);
    const char *labels[] = {"a=1", "b=x=y", NULL};
    json_t *out = NULL;
    assert_int_equal(dkc_volume_create(c, "v1", NULL, labels, &out), 0);
    assert_string_equal(f.path, "/v1.41/volumes/create");
    json_t *b = sent_json(&f);
    assert_string_equal(json_string_value(json_object_get(b, "Name")), "v1");
    assert_string_equal(json_string_value(json_object_get(b, "Driver")), "local");
    assert_string_equal(json_string_value(json_object_get(json_object_get(b, "Labels"), "b")),
                        "x=y");
    json_decref(b);
    assert_string_equal(json_string_value(json_object_get(out, "Name")), "v1");
    json_decref(out);

    assert_int_equal(dkc_volume_create(c, NULL, "other", NULL, NULL), 0);
    b = sent_json(&f);
    assert_null(json_object_get(b, "Name"));
    assert_null(json_object_get(b, "Labels"));
    assert_string_equal(json_string_value(json_object_get(b, "Driver")), "other");
    json_decref(b);

    f.status = 200;
    f.body = "{\"Volumes\":[],\"Warnings\":null}";
    json_t *filters = json_pack("{s:[s]}", "label", "a=1");
    assert_int_equal(dkc_volume_list(c, filters, &out), 0);
    assert_string_equal(f.path, "/v1.41/volumes?filters=%7B%22label%22%3A%5B%22a%3D1%22%5D%7D");
    assert_true(json_is_array(json_object_get(out, "Volumes")));
    json_decref(out);
    json_decref(filters);

    f.status = 204;
    f.body = NULL;
    assert_int_equal(dkc_volume_remove(c, "v1", true), 0);
    assert_string_equal(f.path, "/v1.41/volumes/v1?force=1");
    assert_string_equal(f.method, "DELETE");
    f.status = 409;
    f.body = "{\"message\":\"remove v1: volume is in use\"}";
    assert_int_equal(dkc_volume_remove(c, "v1", false), DKC_ECONFLICT);
    assert_string_equal(f.path, "/v1.41/volumes/v1");

    int calls = f.calls;
    const char *bad[] = {"novalue", NULL};
    assert_int_equal(dkc_volume_create(c, "v", NULL, bad, NULL), DKC_EINVAL);
    assert_int_equal(dkc_volume_create(c, "v/../x", NULL, NULL, NULL), DKC_EINVAL);
    assert_int_equal(dkc_volume_inspect(c, "v?x", &out), DKC_EINVAL);
    assert_int_equal(dkc_volume_remove(c, NULL, false), DKC_EINVAL);
    assert_int_equal(f.calls, calls);
    dkc_client_free(c);
}

static void network_requests(void **state)
{
    fake f = {.status = 201, .body = "{\"Id\":\"n123\",\"Warning\":\"\"}"};
    dkc_client *c = fake_client(&f);
    const char *labels[] = {"k=v", NULL};
    char *id = NULL;
    assert_int_equal(dkc_network_create(c, "net1", NULL, true, labels, &id), 0);
    assert_string_equal(id, "n123");
    free(id);
    assert_string_equal(f.path, "/v1.41/networks/create");
    json_t *b = sent_json(&f);
    assert_string_equal(json_string_value(json_object_get(b, "Name")), "net1");
    assert_string_equal(json_string_value(json_object_get(b, "Driver")), "bridge");
    assert_true(json_is_true(json_object_get(b, "Internal")));
    assert_true(json_is_true(json_object_get(b, "CheckDuplicate")));
    assert_string_equal(json_string_value(json_object_get(json_object_get(b, "Labels"), "k")), "v");
    json_decref(b);

    /* An answer without an Id is not success. */
    f.body = "{\"Warning\":\"\"}";
    id = NULL;
    assert_int_equal(dkc_network_create(c, "net1", "overlay", false, NULL, &id), DKC_EPROTO);
    assert_null(id);
    b = sent_json(&f);
    assert_true(json_is_false(json_object_get(b, "Internal")));
    assert_string_equal(json_string_value(json_object_get(b, "Driver")), "overlay");
    json_decref(b);

    f.status = 200;
    f.body = NULL;
    assert_int_equal(dkc_network_connect(c, "net1", "ctr1"), 0);
    assert_string_equal(f.path, "/v1.41/networks/net1/connect");
    b = sent_json(&f);
    assert_string_equal(json_string_value(json_object_get(b, "Container")), "ctr1");
    assert_null(json_object_get(b, "Force"));
    json_decref(b);
    assert_int_equal(dkc_network_disconnect(c, "net1", "ctr1", true), 0);
    assert_string_equal(f.path, "/v1.41/networks/net1/disconnect");
    b = sent_json(&f);
    assert_true(json_is_true(json_object_get(b, "Force")));
    json_decref(b);
    assert_int_equal(dkc_network_disconnect(c, "net1", "ctr1", false), 0);
    b = sent_json(&f);
    assert_true(json_is_false(json_object_get(b, "Force")));
    json_decref(b);

    f.body = "[]";
    json_t *out = NULL;
    assert_int_equal(dkc_network_list(c, NULL, &out), 0);
    assert_string_equal(f.path, "/v1.41/networks");
    json_decref(out);
    f.body = "{}";
    assert_int_equal(dkc_network_inspect(c, "net1", &out), 0);
    assert_string_equal(f.path, "/v1.41/networks/net1");
    assert_string_equal(f.method, "GET");
    json_decref(out);
    f.status = 404;
    f.body = "{\"message\":\"network net1 not found\"}";
    assert_int_equal(dkc_network_remove(c, "net1"), DKC_ENOTFOUND);
    assert_string_equal(f.method, "DELETE");

    int calls = f.calls;
    assert_int_equal(dkc_network_create(c, NULL, NULL, false, NULL, NULL), DKC_EINVAL);
    assert_int_equal(dkc_network_connect(c, "net1", "../x"), DKC_EINVAL);
    assert_int_equal(dkc_network_disconnect(c, "a/b", "c", false), DKC_EINVAL);
    assert_int_equal(dkc_network_inspect(c, "x", NULL), DKC_EINVAL);
    assert_int_equal(f.calls, calls);
    dkc_client_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pull_splits_references),
        cmocka_unit_test(pull_sends_registry_auth_as_base64url_json),
        cmocka_unit_test(progress_stream_cut_anywhere),
        cmocka_unit_test(error_inside_the_stream_is_estream),
        cmocka_unit_test(malformed_stream_and_callback_stop),
        cmocka_unit_test(import_and_load_upload_the_tar),
        cmocka_unit_test(image_paths),
        cmocka_unit_test(volume_requests),
        cmocka_unit_test(network_requests),
    };
    return cmocka_run_group_tests_name("imgvolnet", tests, NULL, NULL);
}
