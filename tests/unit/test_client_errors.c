/*
 * test_client_errors.c -- the request path's error handling, driven through a
 * fake transport: status mapping, Docker's messages, version negotiation
 * refusals, caps, transport failures.  (The real daemon is exercised by the
 * integration tests; this covers answers a healthy daemon never gives.)
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
    const char *ping_version; /* API-Version sent by /_ping; NULL: none */
    bool libpod;              /* /_ping also names a Libpod API version (Podman) */
    long status;
    const char *body;
    int transport_rc; /* non-zero: fail like a broken connection */
    char last_path[512];
    char last_method[16];
    int calls;
} fake;

static int fake_perform(void *impl, const dkc__req *req, const char *path, dkc__resp *resp,
                        char *errbuf, size_t errlen)
{
    fake *f = impl;
    f->calls++;
    snprintf(f->last_path, sizeof f->last_path, "%s", path);
    snprintf(f->last_method, sizeof f->last_method, "%s", req->method);
    if (f->transport_rc != 0) {
        snprintf(errbuf, errlen, "connection reset by fake");
        return f->transport_rc;
    }
    if (strcmp(path, "/_ping") == 0) {
        resp->status = 200;
        if (f->ping_version)
            snprintf(resp->api_version, sizeof resp->api_version, "%s", f->ping_version);
        resp->libpod = f->libpod;
        return dkc__buf_append(&resp->body, "OK", 2);
    }
    resp->status = f->status;
    if (f->body == NULL)
        return 0;
    if (req->sink != NULL && f->status < 300)
        return req->sink(req->sink_ud, f->body, strlen(f->body)) ? DKC_ECANCELED : 0;
    int rc = dkc__buf_append(&resp->body, f->body, strlen(f->body));
    if (rc != 0)
        snprintf(errbuf, errlen, "too big");
    return rc;
}

static dkc_client *fake_client(fake *f, size_t max_response)
{
    dkc_options o;
    dkc_client *c = NULL;
    dkc_options_init(&o);
    o.host = "unix:///fake.sock";
    o.max_response = max_response;
    assert_int_equal(dkc_client_new(&o, &c, NULL, 0), 0);
    dkc__transport t = {.perform = fake_perform, .free = NULL, .impl = f};
    dkc__client_set_transport(c, &t);
    return c;
}

static void statuses_map_to_the_error_vocabulary(void **state)
{
    static const struct {
        long status;
        int code;
    } cases[] = {
        {200, 0},
        {201, 0},
        {204, 0},
        {304, DKC_ENOTMODIFIED},
        {400, DKC_EBADREQUEST},
        {401, DKC_EAUTH},
        {403, DKC_EFORBIDDEN},
        {404, DKC_ENOTFOUND},
        {409, DKC_ECONFLICT},
        {418, DKC_EHTTP},
        {500, DKC_ESERVER},
        {503, DKC_ESERVER},
        {302, DKC_EHTTP},
    };
    fake f = {.ping_version = "1.41", .body = "{\"message\":\"the daemon says no\"}"};
    dkc_client *c = fake_client(&f, 0);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        f.status = cases[i].status;
        int rc = dkc__client_json(c, "POST", "/containers/x/start", NULL, NULL);
        if (rc != cases[i].code)
            fprintf(stderr, "status %ld gave %d\n", cases[i].status, rc);
        assert_int_equal(rc, cases[i].code);
        const dkc_error_info *e = dkc_client_last_error(c);
        if (rc != 0) {
            assert_int_equal(e->code, rc);
            assert_int_equal(e->http_status, cases[i].status);
            assert_string_equal(e->message, "the daemon says no");
        } else {
            assert_int_equal(e->code, 0);
            assert_string_equal(e->message, "");
        }
    }
    assert_string_equal(f.last_path, "/v1.41/containers/x/start");
    assert_string_equal(f.last_method, "POST");
    dkc_client_free(c);
}

static void message_from_a_non_json_or_empty_body(void **state)
{
    fake f = {.ping_version = "1.41", .status = 500, .body = "plain\ntext failure\n"};
    dkc_client *c = fake_client(&f, 0);
    assert_int_equal(dkc__client_json(c, "GET", "/info", NULL, NULL), DKC_ESERVER);
    assert_string_equal(dkc_client_last_error(c)->message, "plain text failure");
    f.body = NULL;
    f.status = 404;
    assert_int_equal(dkc__client_json(c, "GET", "/info", NULL, NULL), DKC_ENOTFOUND);
    assert_string_equal(dkc_client_last_error(c)->message, "HTTP status 404");
    dkc_client_free(c);
}

static void negotiation_picks_the_lower_version(void **state)
{
    /* A daemon newer than the library (a future API) is spoken to at the
     * library's newest. */
    fake f = {.ping_version = "1.60", .status = 200, .body = "{}"};
    dkc_client *c = fake_client(&f, 0);
    assert_string_equal(dkc_client_api_version(c), "");
    json_t *v = NULL;
    assert_int_equal(dkc_version(c, &v), 0);
    json_decref(v);
    assert_string_equal(dkc_client_api_version(c), DKC_API_MAX);
    assert_string_equal(DKC_API_MAX, "1.56");
    assert_string_equal(f.last_path, "/v1.56/version");
    dkc_client_free(c);

    /* Each daemon below the library's newest at its own version: Debian
     * 12's Docker 20.10, Docker 26 and 29, the library's newest itself, and
     * the oldest the library speaks. */
    static const char *const offered[] = {"1.41", "1.45", "1.52", "1.56", "1.30", "1.24"};
    for (size_t i = 0; i < sizeof offered / sizeof offered[0]; i++) {
        fake g = {.ping_version = offered[i], .status = 200, .body = "{}"};
        c = fake_client(&g, 0);
        assert_int_equal(dkc_client_negotiate(c), 0);
        assert_string_equal(dkc_client_api_version(c), offered[i]);
        assert_int_equal(dkc_info(c, &v), 0);
        json_decref(v);
        char want[64];
        snprintf(want, sizeof want, "/v%s/info", offered[i]);
        assert_string_equal(g.last_path, want);
        dkc_client_free(c);
    }
}

static void an_old_daemon_is_refused(void **state)
{
    assert_string_equal(DKC_API_MIN, "1.24");
    fake f = {.ping_version = "1.23", .status = 200, .body = "{}"};
    dkc_client *c = fake_client(&f, 0);
    json_t *v = NULL;
    assert_int_equal(dkc_version(c, &v), DKC_EVERSION);
    assert_null(v);
    const char *m = dkc_client_last_error(c)->message;
    assert_non_null(strstr(m, "speaks Docker API 1.23, older than the minimum 1.24"));
    assert_int_equal(f.calls, 1); /* nothing but the ping was sent */
    dkc_client_free(c);

    fake g = {.ping_version = NULL, .status = 200, .body = "{}"};
    c = fake_client(&g, 0);
    assert_int_equal(dkc_client_negotiate(c), DKC_EVERSION);
    assert_non_null(strstr(dkc_client_last_error(c)->message, "API-Version"));
    dkc_client_free(c);

    fake h = {.ping_version = "garbage", .status = 200, .body = "{}"};
    c = fake_client(&h, 0);
    assert_int_equal(dkc_client_negotiate(c), DKC_EVERSION);
    dkc_client_free(c);
}

static void transport_failures_carry_their_reason(void **state)
{
    fake f = {.ping_version = "1.41", .transport_rc = DKC_EUNAVAILABLE};
    dkc_client *c = fake_client(&f, 0);
    assert_int_equal(dkc_ping(c), DKC_EUNAVAILABLE);
    const dkc_error_info *e = dkc_client_last_error(c);
    assert_int_equal(e->http_status, 0);
    assert_non_null(strstr(e->message, "unix:///fake.sock"));
    assert_non_null(strstr(e->message, "connection reset by fake"));
    /* The handle recovers when the transport does. */
    f.transport_rc = 0;
    f.status = 200;
    f.body = "OK";
    assert_int_equal(dkc_ping(c), 0);
    dkc_client_free(c);
}

static void a_body_that_is_not_json_is_a_protocol_error(void **state)
{
    fake f = {.ping_version = "1.41", .status = 200, .body = "{\"unterminated\": "};
    dkc_client *c = fake_client(&f, 0);
    json_t *v = NULL;
    assert_int_equal(dkc_info(c, &v), DKC_EPROTO);
    assert_null(v);
    assert_non_null(strstr(dkc_client_last_error(c)->message, "not JSON"));
    dkc_client_free(c);
}

static void responses_over_the_cap_are_refused(void **state)
{
    fake f = {.ping_version = "1.41", .status = 200, .body = "[1,2,3,4,5,6,7,8,9,10,11,12]"};
    dkc_client *c = fake_client(&f, 16);
    json_t *v = NULL;
    assert_int_equal(dkc_info(c, &v), DKC_ETOOBIG);
    assert_null(v);
    dkc_client_free(c);
}

static void a_pending_cancel_stops_the_next_call(void **state)
{
    fake f = {.ping_version = "1.41", .status = 200, .body = "OK"};
    dkc_client *c = fake_client(&f, 0);
    assert_int_equal(dkc_ping(c), 0);
    int before = f.calls;
    dkc_client_cancel(c);
    assert_int_equal(dkc_ping(c), DKC_ECANCELED);
    assert_int_equal(f.calls, before); /* never reached the transport */
    assert_int_equal(dkc_ping(c), 0);  /* consumed */
    dkc_client_free(c);
}

static void empty_body_decodes_to_null(void **state)
{
    fake f = {.ping_version = "1.41", .status = 204, .body = NULL};
    dkc_client *c = fake_client(&f, 0);
    json_t *v = NULL;
    assert_int_equal(dkc__client_json(c, "POST", "/containers/x/stop", NULL, &v), 0);
    assert_true(json_is_null(v));
    json_decref(v);
    dkc_client_free(c);
}

/* Podman answers 500 with a "cause" where Docker answers 409, 400, 404 or
 * 403: the cause gives Docker's code, on Podman only; the status stays. */
static void podman_causes_give_dockers_codes(void **state)
{
    static const struct {
        const char *cause;
        int code;
    } cases[] = {
        {"container state improper", DKC_ECONFLICT},
        {"that name is already in use", DKC_ECONFLICT},
        {"invalid argument", DKC_EBADREQUEST},
        {"network not found", DKC_ENOTFOUND},
        {"network already exists", DKC_ECONFLICT},
        {"network is already connected", DKC_EFORBIDDEN},
        {"network is being used", DKC_EFORBIDDEN},
        {"something else", DKC_ESERVER},
    };
    char body[256];
    for (int podman = 0; podman < 2; podman++) {
        fake f = {.ping_version = "1.41", .libpod = podman, .status = 500, .body = body};
        dkc_client *c = fake_client(&f, 0);
        assert_false(dkc_client_is_podman(c)); /* not negotiated yet */
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            snprintf(body, sizeof body,
                     "{\"cause\":\"%s\",\"message\":\"it failed: %s\",\"response\":500}",
                     cases[i].cause, cases[i].cause);
            int rc = dkc__client_json(c, "POST", "/containers/x/kill", NULL, NULL);
            assert_int_equal(rc, podman ? cases[i].code : DKC_ESERVER);
            assert_int_equal(dkc_client_last_error(c)->http_status, 500);
            assert_non_null(strstr(dkc_client_last_error(c)->message, cases[i].cause));
        }
        assert_int_equal(dkc_client_is_podman(c), podman);
        dkc_client_free(c);
    }
}

typedef struct seen_events {
    char actions[256];
} seen_events;

static int collect_action(void *ud, const dkc_event *ev)
{
    seen_events *s = ud;
    size_t n = strlen(s->actions);
    snprintf(s->actions + n, sizeof s->actions - n, "%s%s", n ? "," : "", ev->action);
    return 0;
}

/* Podman's event names (died, remove) are Docker's (die, destroy) in
 * filters and in the stream; a window that ended is asked up to two
 * seconds from now and cut at its end. */
static void podman_events_read_as_dockers(void **state)
{
    const char *stream = "{\"Type\":\"container\",\"Action\":\"start\",\"time\":100}\n"
                         "{\"Type\":\"container\",\"Action\":\"died\",\"time\":101}\n"
                         "{\"Type\":\"container\",\"Action\":\"remove\",\"time\":102}\n"
                         "{\"Type\":\"image\",\"Action\":\"remove\",\"time\":102}\n"
                         "{\"Type\":\"container\",\"Action\":\"start\",\"time\":200}\n";
    json_t *filters = json_pack("{s:[s,s,s]}", "event", "start", "die", "destroy");
    for (int podman = 0; podman < 2; podman++) {
        fake f = {.ping_version = "1.41", .libpod = podman, .status = 200, .body = stream};
        dkc_client *c = fake_client(&f, 0);
        seen_events s = {""};
        dkc_events_opts o = {.since = 90, .until = 150, .filters = filters};
        assert_int_equal(dkc_events(c, &o, collect_action, &s), 0);
        if (podman) {
            assert_non_null(strstr(f.last_path, "%22died%22"));
            assert_non_null(strstr(f.last_path, "%22remove%22"));
            assert_null(strstr(f.last_path, "until=150"));
            assert_string_equal(s.actions, "start,die,destroy,remove");
        } else {
            assert_non_null(strstr(f.last_path, "%22die%22"));
            assert_non_null(strstr(f.last_path, "until=150"));
            assert_string_equal(s.actions, "start,died,remove,remove,start");
        }
        dkc_client_free(c);
    }
    json_decref(filters);
}

/* Podman's commit reads Dockerfile changes, not a config body: the
 * settings it can carry go there; another key is refused unsent. */
static void podman_commit_sends_changes(void **state)
{
    fake f = {.ping_version = "1.41", .libpod = true, .status = 201, .body = "{\"Id\":\"%s\"}"};
    char body[128];
    snprintf(body, sizeof body, "{\"Id\":\"%064d\"}", 7);
    f.body = body;
    dkc_client *c = fake_client(&f, 0);
    json_t *config = json_pack("{s:{s:s}, s:[s,s]}", "Labels", "a.b", "", "Cmd", "cat", "/x");
    dkc_commit_opts o = {.repo = "r", .config = config};
    char *id = NULL;
    assert_int_equal(dkc_container_commit(c, "abc", &o, &id), 0);
    assert_non_null(strstr(f.last_path, "changes=LABEL%20a.b%3D"));
    assert_non_null(strstr(f.last_path, "changes=CMD%20%5B%22cat%22%2C%22%2Fx%22%5D"));
    assert_int_equal(strncmp(id, "sha256:0000", 11), 0);
    free(id);
    json_decref(config);
    int calls = f.calls;
    config = json_pack("{s:{}}", "Volumes");
    o.config = config;
    assert_int_equal(dkc_container_commit(c, "abc", &o, &id), DKC_EINVAL);
    assert_null(id);
    assert_int_equal(f.calls, calls);
    assert_non_null(strstr(dkc_client_last_error(c)->message, "Podman"));
    json_decref(config);
    dkc_client_free(c);
}

static void invalid_arguments(void **state)
{
    json_t *v = NULL;
    dkc_client *c = NULL;
    assert_int_equal(dkc_client_new(NULL, NULL, NULL, 0), DKC_EINVAL);
    assert_int_equal(dkc_ping(NULL), DKC_EINVAL);
    assert_int_equal(dkc_version(NULL, &v), DKC_EINVAL);
    assert_int_equal(dkc_client_negotiate(NULL), DKC_EINVAL);
    dkc_options o;
    dkc_options_init(&o);
    o.api_version = "one.two";
    char why[100];
    assert_int_equal(dkc_client_new(&o, &c, why, sizeof why), DKC_EINVAL);
    assert_non_null(strstr(why, "one.two"));
    dkc_client_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(statuses_map_to_the_error_vocabulary),
        cmocka_unit_test(message_from_a_non_json_or_empty_body),
        cmocka_unit_test(negotiation_picks_the_lower_version),
        cmocka_unit_test(an_old_daemon_is_refused),
        cmocka_unit_test(transport_failures_carry_their_reason),
        cmocka_unit_test(a_body_that_is_not_json_is_a_protocol_error),
        cmocka_unit_test(responses_over_the_cap_are_refused),
        cmocka_unit_test(a_pending_cancel_stops_the_next_call),
        cmocka_unit_test(empty_body_decodes_to_null),
        cmocka_unit_test(podman_causes_give_dockers_codes),
        cmocka_unit_test(podman_events_read_as_dockers),
        cmocka_unit_test(podman_commit_sends_changes),
        cmocka_unit_test(invalid_arguments),
    };
    return cmocka_run_group_tests_name("client_errors", tests, NULL, NULL);
}
