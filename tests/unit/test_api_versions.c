/*
 * test_api_versions.c -- the library against the Engine API's versions,
 * with a fake transport: what it sends differently by negotiated version
 * (stop signals, wait conditions, the create body's MacAddress, AutoRemove,
 * several networks), and contract tests for the response shapes of API
 * 1.44 to 1.56 that no daemon here produces (events without status/id/from,
 * progress streams with only errorDetail/progressDetail, inspects without
 * the NetworkSettings top-level fields and image Config fields), next to
 * the shapes of 1.41 and older.  The shapes are built from each version's
 * swagger.yaml and CHANGELOG.md in moby's api/docs.
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

#define MAX_REQ 8

/* One request the fake saw. */
typedef struct seen_req {
    char method[8];
    char path[512];
    char *body; /* malloc'd, or NULL */
} seen_req;

/* The fake daemon: offers ping_version, answers every request with status
 * and body (a stream body goes to the sink), and records what it got. */
typedef struct fake {
    const char *ping_version;
    bool podman; /* the ping names a Libpod API version */
    long status;
    const char *body;
    const char *content_type; /* what the daemon says the body is */
    /* answers to the first requests, in order, before body: the body and
     * its length (0: strlen) */
    struct {
        const char *body;
        size_t len;
    } seq[MAX_REQ];
    seen_req req[MAX_REQ];
    int n; /* requests after the ping */
} fake;

static int fake_perform(void *impl, const dkc__req *req, const char *path, dkc__resp *resp,
                        char *errbuf, size_t errlen)
{
    fake *f = impl;
    if (strcmp(path, "/_ping") == 0) {
        resp->status = 200;
        snprintf(resp->api_version, sizeof resp->api_version, "%s", f->ping_version);
        resp->libpod = f->podman;
        return dkc__buf_append(&resp->body, "OK", 2);
    }
    assert_true(f->n < MAX_REQ);
    seen_req *s = &f->req[f->n++];
    snprintf(s->method, sizeof s->method, "%s", req->method);
    snprintf(s->path, sizeof s->path, "%s", path);
    if (req->body != NULL) {
        s->body = strndup(req->body, req->body_len);
        assert_non_null(s->body);
    }
    resp->status = f->status ? f->status : 200;
    if (f->content_type != NULL)
        snprintf(resp->content_type, sizeof resp->content_type, "%s", f->content_type);
    const char *body = f->body;
    size_t len = body ? strlen(body) : 0;
    if (f->seq[f->n - 1].body != NULL) {
        body = f->seq[f->n - 1].body;
        len = f->seq[f->n - 1].len ? f->seq[f->n - 1].len : strlen(body);
    }
    if (len == 0)
        return 0;
    if (req->sink != NULL && resp->status < 300) {
        /* byte by byte: the parsers must not care where the network cuts */
        for (size_t i = 0; i < len; i++)
            if (req->sink(req->sink_ud, body + i, 1) != 0) {
                snprintf(errbuf, errlen, "stopped by the sink");
                return DKC_ECANCELED;
            }
        return 0;
    }
    return dkc__buf_append(&resp->body, body, len);
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

static void fake_reset(fake *f)
{
    for (int i = 0; i < f->n; i++)
        free(f->req[i].body);
    f->n = 0;
}

static void fake_done(fake *f, dkc_client *c)
{
    fake_reset(f);
    dkc_client_free(c);
}

/* The last request's body, decoded (a new reference). */
static json_t *sent_body(const fake *f)
{
    assert_true(f->n > 0);
    assert_non_null(f->req[f->n - 1].body);
    json_t *j = json_loads(f->req[f->n - 1].body, 0, NULL);
    assert_non_null(j);
    return j;
}

/* assert_string_equal that prints both sides of a JSON mismatch. */
static void assert_json(json_t *got, const char *want_text)
{
    json_t *want = json_loads(want_text, 0, NULL);
    assert_non_null(want);
    if (!json_equal(got, want)) {
        char *g = json_dumps(got, JSON_SORT_KEYS | JSON_COMPACT);
        char *w = json_dumps(want, JSON_SORT_KEYS | JSON_COMPACT);
        print_error("got  %s\nwant %s\n", g, w);
        free(g);
        free(w);
    }
    assert_true(json_equal(got, want));
    json_decref(want);
}

/* ---- what is sent, by version ---------------------------------------- */

static void stop_and_restart_send_a_signal_from_1_42_on(void **state)
{
    fake f = {.ping_version = "1.42", .status = 204};
    dkc_client *c = fake_client(&f);
    assert_int_equal(dkc_container_stop_signal(c, "abc", 5, "SIGINT"), 0);
    assert_string_equal(f.req[0].path, "/v1.42/containers/abc/stop?t=5&signal=SIGINT");
    assert_int_equal(dkc_container_restart_signal(c, "abc", -1, "SIGHUP"), 0);
    assert_string_equal(f.req[1].path, "/v1.42/containers/abc/restart?signal=SIGHUP");
    /* without a signal, as before: no query the daemon does not need */
    assert_int_equal(dkc_container_stop_signal(c, "abc", -1, NULL), 0);
    assert_string_equal(f.req[2].path, "/v1.42/containers/abc/stop");
    assert_int_equal(dkc_container_stop(c, "abc", 0), 0);
    assert_string_equal(f.req[3].path, "/v1.42/containers/abc/stop?t=0");
    assert_int_equal(dkc_container_stop_signal(c, "abc", 1, ""), DKC_EINVAL);
    assert_int_equal(f.n, 4);
    fake_done(&f, c);

    /* 1.41 has no such parameter (a daemon would ignore it): refused
     * before any request, naming both versions */
    fake g = {.ping_version = "1.41", .status = 204};
    c = fake_client(&g);
    assert_int_equal(dkc_container_stop_signal(c, "abc", 5, "SIGINT"), DKC_EUNSUPPORTED);
    const char *m = dkc_client_last_error(c)->message;
    assert_non_null(strstr(m, "needs Docker API 1.42"));
    assert_non_null(strstr(m, "speaks 1.41"));
    assert_int_equal(dkc_container_restart_signal(c, "abc", 5, "SIGINT"), DKC_EUNSUPPORTED);
    assert_int_equal(g.n, 0);
    assert_int_equal(dkc_container_stop(c, "abc", 5), 0);
    assert_string_equal(g.req[0].path, "/v1.41/containers/abc/stop?t=5");
    fake_done(&g, c);
}

static void wait_conditions_need_1_30(void **state)
{
    int64_t code = -1;
    fake f = {.ping_version = "1.29", .body = "{\"StatusCode\":0}"};
    dkc_client *c = fake_client(&f);
    assert_int_equal(dkc_container_wait(c, "abc", "removed", &code, NULL), DKC_EUNSUPPORTED);
    assert_int_equal(dkc_container_wait(c, "abc", "next-exit", &code, NULL), DKC_EUNSUPPORTED);
    assert_int_equal(f.n, 0);
    assert_int_equal(dkc_container_wait(c, "abc", "not-running", &code, NULL), 0);
    assert_int_equal(dkc_container_wait(c, "abc", NULL, &code, NULL), 0);
    assert_int_equal(f.n, 2);
    fake_done(&f, c);

    fake g = {.ping_version = "1.30", .body = "{\"StatusCode\":3}"};
    c = fake_client(&g);
    assert_int_equal(dkc_container_wait(c, "abc", "removed", &code, NULL), 0);
    assert_int_equal(code, 3);
    assert_string_equal(g.req[0].path, "/v1.30/containers/abc/wait?condition=removed");
    fake_done(&g, c);
}

#define CREATED "{\"Id\":\"c1\",\"Warnings\":[]}"

/* Creates with body (JSON text) at version and returns the body sent (a
 * new reference), or NULL when the call failed with want_rc before
 * sending. */
static json_t *create_on(const char *version, bool podman, const char *body_text, int want_rc)
{
    fake f = {.ping_version = version, .podman = podman, .status = 201, .body = CREATED};
    dkc_client *c = fake_client(&f);
    json_t *body = json_loads(body_text, 0, NULL);
    assert_non_null(body);
    json_t *before = json_deep_copy(body);
    char *id = NULL;
    int rc = dkc_container_create_json(c, NULL, body, &id, NULL);
    if (rc != want_rc)
        print_error("create at %s gave %d (%s), want %d\n", version, rc,
                    dkc_client_last_error(c)->message, want_rc);
    assert_int_equal(rc, want_rc);
    /* the caller's body is never changed */
    assert_true(json_equal(body, before));
    json_decref(before);
    json_decref(body);
    json_t *sent = NULL;
    if (rc == 0) {
        assert_string_equal(id, "c1");
        sent = sent_body(&f);
    } else {
        assert_int_equal(f.n, 0);
        assert_null(id);
    }
    free(id);
    fake_done(&f, c);
    return sent;
}

static json_t *create_at(const char *version, const char *body_text, int want_rc)
{
    return create_on(version, false, body_text, want_rc);
}

static void the_container_wide_mac_address_moves_to_its_network_from_1_44_on(void **state)
{
    static const char *const newer[] = {"1.44", "1.45", "1.52", "1.56"};
    for (size_t i = 0; i < sizeof newer / sizeof newer[0]; i++) {
        /* a user-defined network */
        json_t *s = create_at(newer[i],
                              "{\"Image\":\"busybox\",\"MacAddress\":\"02:42:ac:11:00:09\","
                              "\"HostConfig\":{\"NetworkMode\":\"jobs\"}}",
                              0);
        assert_json(s, "{\"Image\":\"busybox\",\"HostConfig\":{\"NetworkMode\":\"jobs\"},"
                       "\"NetworkingConfig\":{\"EndpointsConfig\":{\"jobs\":"
                       "{\"MacAddress\":\"02:42:ac:11:00:09\"}}}}");
        json_decref(s);
        /* the default bridge, its endpoint's other settings kept */
        s = create_at(newer[i],
                      "{\"Image\":\"busybox\",\"macaddress\":\"02:42:ac:11:00:09\","
                      "\"NetworkingConfig\":{\"EndpointsConfig\":{\"bridge\":{\"Aliases\":"
                      "[\"a\"]}}}}",
                      0);
        assert_json(s, "{\"Image\":\"busybox\",\"NetworkingConfig\":{\"EndpointsConfig\":"
                       "{\"bridge\":{\"Aliases\":[\"a\"],\"MacAddress\":\"02:42:ac:11:00:09\"}}}}");
        json_decref(s);
        /* the same address in both places is one */
        s = create_at(newer[i],
                      "{\"Image\":\"busybox\",\"MacAddress\":\"02:42:ac:11:00:09\","
                      "\"HostConfig\":{\"NetworkMode\":\"bridge\"},\"NetworkingConfig\":"
                      "{\"EndpointsConfig\":{\"bridge\":{\"MacAddress\":\"02:42:ac:11:00:09\"}}}}",
                      0);
        assert_null(json_object_get(s, "MacAddress"));
        json_decref(s);
        /* keys are read as Docker reads them: in any case, the last one
         * winning; none of them stays behind */
        s = create_at(newer[i],
                      "{\"Image\":\"busybox\",\"MacAddress\":\"02:42:ac:11:00:01\","
                      "\"macADDRESS\":\"02:42:ac:11:00:09\"}",
                      0);
        assert_json(s, "{\"Image\":\"busybox\",\"NetworkingConfig\":{\"EndpointsConfig\":"
                       "{\"bridge\":{\"MacAddress\":\"02:42:ac:11:00:09\"}}}}");
        json_decref(s);
        /* two different ones contradict each other; a network mode
         * without an endpoint of its own has no MAC address */
        assert_null(create_at(newer[i],
                              "{\"Image\":\"busybox\",\"MacAddress\":\"02:42:ac:11:00:09\","
                              "\"NetworkingConfig\":{\"EndpointsConfig\":{\"bridge\":"
                              "{\"MacAddress\":\"02:42:ac:11:00:0a\"}}}}",
                              DKC_EINVAL));
        assert_null(create_at(newer[i],
                              "{\"Image\":\"busybox\",\"MacAddress\":\"02:42:ac:11:00:09\","
                              "\"HostConfig\":{\"NetworkMode\":\"none\"}}",
                              DKC_EINVAL));
    }
}

/* A reason quotes the body's text only with its control characters
 * replaced: it ends up in logs and replies. */
static void a_refusal_shows_the_bodys_text_without_control_characters(void **state)
{
    fake f = {.ping_version = "1.52", .status = 201, .body = CREATED};
    dkc_client *c = fake_client(&f);
    json_t *body = json_loads("{\"Image\":\"busybox\",\"MacAddress\":\"02:42\\n:09\","
                              "\"HostConfig\":{\"NetworkMode\":\"container:a\\u001b[31m\"}}",
                              0, NULL);
    assert_non_null(body);
    char *id = NULL;
    assert_int_equal(dkc_container_create_json(c, NULL, body, &id, NULL), DKC_EINVAL);
    const char *m = dkc_client_last_error(c)->message;
    assert_non_null(strstr(m, "not NetworkMode container:a?[31m"));
    for (const char *p = m; *p; p++)
        assert_true((unsigned char)*p >= 0x20);
    assert_int_equal(f.n, 0);
    json_decref(body);
    fake_done(&f, c);
}

static void an_endpoint_mac_address_moves_to_the_container_before_1_44(void **state)
{
    static const char *const older[] = {"1.24", "1.41", "1.43"};
    for (size_t i = 0; i < sizeof older / sizeof older[0]; i++) {
        json_t *s = create_at(older[i],
                              "{\"Image\":\"busybox\",\"HostConfig\":{\"NetworkMode\":\"jobs\"},"
                              "\"NetworkingConfig\":{\"EndpointsConfig\":{\"jobs\":"
                              "{\"MacAddress\":\"02:42:ac:11:00:09\"}}}}",
                              0);
        assert_json(s, "{\"Image\":\"busybox\",\"MacAddress\":\"02:42:ac:11:00:09\","
                       "\"HostConfig\":{\"NetworkMode\":\"jobs\"},"
                       "\"NetworkingConfig\":{\"EndpointsConfig\":{\"jobs\":{}}}}");
        json_decref(s);
        /* a container-wide one stays where these versions read it */
        s = create_at(older[i], "{\"Image\":\"busybox\",\"MacAddress\":\"02:42:ac:11:00:09\"}", 0);
        assert_json(s, "{\"Image\":\"busybox\",\"MacAddress\":\"02:42:ac:11:00:09\"}");
        json_decref(s);
        /* one on a network that is not the container's own cannot be said */
        assert_null(create_at(older[i],
                              "{\"Image\":\"busybox\",\"HostConfig\":{\"NetworkMode\":\"jobs\"},"
                              "\"NetworkingConfig\":{\"EndpointsConfig\":{\"jobs\":{},"
                              "\"other\":{\"MacAddress\":\"02:42:ac:11:00:09\"}}}}",
                              DKC_EUNSUPPORTED));
    }
}

/* Podman 4 (API 1.41) ignores a container-wide MAC address and reads one
 * on the endpoint of a network it knows by name ("bridge" is not one of
 * them): the address goes there, and stays there. */
static void podman_reads_a_mac_address_on_a_named_networks_endpoint(void **state)
{
    json_t *s = create_on("1.41", true,
                          "{\"Image\":\"busybox\",\"MacAddress\":\"02:42:ac:11:00:09\","
                          "\"HostConfig\":{\"NetworkMode\":\"podman\"}}",
                          0);
    assert_json(s, "{\"Image\":\"busybox\",\"HostConfig\":{\"NetworkMode\":\"podman\"},"
                   "\"NetworkingConfig\":{\"EndpointsConfig\":{\"podman\":"
                   "{\"MacAddress\":\"02:42:ac:11:00:09\"}}}}");
    json_decref(s);
    const char *on_endpoint = "{\"Image\":\"busybox\",\"HostConfig\":{\"NetworkMode\":\"jobs\"},"
                              "\"NetworkingConfig\":{\"EndpointsConfig\":{\"jobs\":"
                              "{\"MacAddress\":\"02:42:ac:11:00:09\"}}}}";
    s = create_on("1.41", true, on_endpoint, 0);
    assert_json(s, on_endpoint);
    json_decref(s);
    /* its default network has a name of Podman's own: a clear refusal
     * instead of an address silently dropped */
    assert_null(create_on("1.41", true,
                          "{\"Image\":\"busybox\",\"MacAddress\":\"02:42:ac:11:00:09\","
                          "\"HostConfig\":{\"NetworkMode\":\"bridge\"}}",
                          DKC_EUNSUPPORTED));
    assert_null(create_on("1.41", true,
                          "{\"Image\":\"busybox\",\"MacAddress\":\"02:42:ac:11:00:09\"}",
                          DKC_EUNSUPPORTED));
}

static void what_a_version_cannot_say_is_refused_before_sending(void **state)
{
    /* several networks at create: 1.44 */
    const char *two = "{\"Image\":\"busybox\",\"HostConfig\":{\"NetworkMode\":\"a\"},"
                      "\"NetworkingConfig\":{\"EndpointsConfig\":{\"a\":{},\"b\":{}}}}";
    assert_null(create_at("1.43", two, DKC_EUNSUPPORTED));
    json_t *s = create_at("1.44", two, 0);
    assert_int_equal(json_object_size(json_object_get(json_object_get(s, "NetworkingConfig"),
                                                      "EndpointsConfig")),
                     2);
    json_decref(s);
    /* AutoRemove: 1.25 (a 1.24 daemon would keep the container) */
    const char *ar = "{\"Image\":\"busybox\",\"HostConfig\":{\"AutoRemove\":true}}";
    assert_null(create_at("1.24", ar, DKC_EUNSUPPORTED));
    s = create_at("1.25", ar, 0);
    assert_json(s, ar);
    json_decref(s);
    /* a port with an empty list of bindings: published on an ephemeral
     * port by every version up to 1.52, so from 1.53 on (which would not
     * publish it) it gets the binding they filled in */
    const char *ports = "{\"Image\":\"busybox\",\"HostConfig\":{\"PortBindings\":"
                        "{\"80/tcp\":[],\"81/tcp\":null,\"82/tcp\":[{\"HostPort\":\"8082\"}]}}}";
    static const char *const upto[] = {"1.24", "1.41", "1.52"};
    for (size_t i = 0; i < sizeof upto / sizeof upto[0]; i++) {
        s = create_at(upto[i], ports, 0);
        assert_json(s, ports);
        json_decref(s);
    }
    static const char *const from[] = {"1.53", "1.56"};
    for (size_t i = 0; i < sizeof from / sizeof from[0]; i++) {
        s = create_at(from[i], ports, 0);
        assert_json(s, "{\"Image\":\"busybox\",\"HostConfig\":{\"PortBindings\":"
                       "{\"80/tcp\":[{\"HostIp\":\"\",\"HostPort\":\"\"}],"
                       "\"81/tcp\":[{\"HostIp\":\"\",\"HostPort\":\"\"}],"
                       "\"82/tcp\":[{\"HostPort\":\"8082\"}]}}}");
        json_decref(s);
    }
    /* a body without any of this goes as it is, at every version */
    const char *plain = "{\"Image\":\"busybox\",\"Cmd\":[\"true\"],\"HostConfig\":{\"Memory\":1}}";
    static const char *const all[] = {"1.24", "1.41", "1.44", "1.52", "1.56"};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        s = create_at(all[i], plain, 0);
        assert_json(s, plain);
        json_decref(s);
    }
}

/* ---- response shapes, by version --------------------------------------- */

typedef struct got_events {
    int n;
    char type[4][32], action[4][32], id[4][80], image[4][32];
    int64_t time_nano[4];
} got_events;

static int on_event(void *ud, const dkc_event *ev)
{
    got_events *g = ud;
    assert_true(g->n < 4);
    snprintf(g->type[g->n], sizeof g->type[0], "%s", ev->type);
    snprintf(g->action[g->n], sizeof g->action[0], "%s", ev->action);
    snprintf(g->id[g->n], sizeof g->id[0], "%s", ev->id);
    const char *img = json_string_value(json_object_get(ev->attributes, "image"));
    snprintf(g->image[g->n], sizeof g->image[0], "%s", img ? img : "");
    g->time_nano[g->n] = ev->time_nano;
    g->n++;
    return 0;
}

static void events_of_every_version_give_the_same_event(void **state)
{
    static const struct {
        const char *version;
        const char *line;
    } shapes[] = {
        /* 1.52 and newer (Docker 29): status, id and from are gone */
        {"1.52", "{\"Type\":\"container\",\"Action\":\"die\",\"Actor\":{\"ID\":\"c1\","
                 "\"Attributes\":{\"exitCode\":\"0\",\"image\":\"busybox\"}},"
                 "\"scope\":\"local\",\"time\":1700000000,\"timeNano\":1700000000000000001}\n"},
        {"1.56", "{\"Type\":\"container\",\"Action\":\"die\",\"Actor\":{\"ID\":\"c1\","
                 "\"Attributes\":{\"exitCode\":\"0\",\"image\":\"busybox\"}},"
                 "\"scope\":\"local\",\"time\":1700000000,\"timeNano\":1700000000000000001}\n"},
        /* 1.22 to 1.51: both */
        {"1.41", "{\"status\":\"die\",\"id\":\"c1\",\"from\":\"busybox\",\"Type\":\"container\","
                 "\"Action\":\"die\",\"Actor\":{\"ID\":\"c1\",\"Attributes\":{\"exitCode\":\"0\","
                 "\"image\":\"busybox\"}},\"scope\":\"local\",\"time\":1700000000,"
                 "\"timeNano\":1700000000000000001}\n"},
        /* the old form alone (no Actor, no Attributes) */
        {"1.24", "{\"status\":\"die\",\"id\":\"c1\",\"from\":\"busybox\",\"time\":1700000000,"
                 "\"timeNano\":1700000000000000001}\n"},
    };
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        fake f = {.ping_version = shapes[i].version,
                  .body = shapes[i].line,
                  .content_type = "application/x-ndjson"};
        dkc_client *c = fake_client(&f);
        got_events g = {0};
        assert_int_equal(dkc_events(c, NULL, on_event, &g), 0);
        assert_int_equal(g.n, 1);
        assert_string_equal(g.type[0], "container");
        assert_string_equal(g.action[0], "die");
        assert_string_equal(g.id[0], "c1");
        assert_true(g.time_nano[0] == 1700000000000000001LL);
        /* the image: an attribute where there are attributes */
        assert_string_equal(g.image[0], i < 3 ? "busybox" : "");
        fake_done(&f, c);
    }
    /* the oldest form has the time in seconds alone */
    fake o = {.ping_version = "1.24",
              .body =
                  "{\"status\":\"die\",\"id\":\"c1\",\"from\":\"busybox\",\"time\":1700000000}\n"};
    dkc_client *oc = fake_client(&o);
    got_events og = {0};
    assert_int_equal(dkc_events(oc, NULL, on_event, &og), 0);
    assert_int_equal(og.n, 1);
    assert_string_equal(og.action[0], "die");
    assert_true(og.time_nano[0] == 1700000000000000000LL);
    fake_done(&o, oc);

    /* an image event of 1.52 and one of 1.41 */
    fake f = {.ping_version = "1.52",
              .body =
                  "{\"Type\":\"image\",\"Action\":\"pull\",\"Actor\":{\"ID\":\"busybox:latest\","
                  "\"Attributes\":{\"name\":\"busybox\"}},\"scope\":\"local\",\"time\":1,"
                  "\"timeNano\":1000000000}\n"
                  "{\"status\":\"pull\",\"id\":\"busybox:latest\",\"Type\":\"image\",\"Action\":"
                  "\"pull\",\"Actor\":{\"ID\":\"busybox:latest\",\"Attributes\":{\"name\":"
                  "\"busybox\"}},\"scope\":\"local\",\"time\":2,\"timeNano\":2000000000}\n"};
    dkc_client *c = fake_client(&f);
    got_events g = {0};
    assert_int_equal(dkc_events(c, NULL, on_event, &g), 0);
    assert_int_equal(g.n, 2);
    for (int i = 0; i < 2; i++) {
        assert_string_equal(g.type[i], "image");
        assert_string_equal(g.action[i], "pull");
        assert_string_equal(g.id[i], "busybox:latest");
    }
    fake_done(&f, c);
}

typedef struct got_progress {
    int n;
    char status[8][64];
    int64_t current[8], total[8];
} got_progress;

static int on_progress(void *ud, const dkc_progress *p)
{
    got_progress *g = ud;
    assert_true(g->n < 8);
    snprintf(g->status[g->n], sizeof g->status[0], "%s", p->status);
    g->current[g->n] = p->current;
    g->total[g->n] = p->total;
    g->n++;
    return 0;
}

static void pull_streams_with_only_the_detail_fields(void **state)
{
    /* 1.48 deprecates "progress" and "error": a stream may carry only
     * progressDetail and errorDetail */
    fake f = {.ping_version = "1.52",
              .body = "{\"status\":\"Pulling from library/busybox\",\"id\":\"latest\"}\n"
                      "{\"status\":\"Downloading\",\"progressDetail\":{\"current\":100,"
                      "\"total\":400},\"id\":\"abc\"}\n"
                      "{\"status\":\"Pull complete\",\"progressDetail\":{},\"id\":\"abc\"}\n"
                      "{\"status\":\"Digest: sha256:0123\"}\n"
                      "{\"status\":\"Status: Downloaded newer image for busybox:latest\"}\n"};
    dkc_client *c = fake_client(&f);
    got_progress g = {0};
    assert_int_equal(dkc_image_pull(c, "busybox", NULL, NULL, on_progress, &g), 0);
    assert_int_equal(g.n, 5);
    assert_string_equal(g.status[1], "Downloading");
    assert_int_equal(g.current[1], 100);
    assert_int_equal(g.total[1], 400);
    assert_int_equal(g.current[2], 0);
    fake_done(&f, c);

    static const char *const failures[] = {
        /* 1.48 and newer: the detail alone */
        "{\"status\":\"Pulling fs layer\",\"id\":\"abc\"}\n"
        "{\"errorDetail\":{\"code\":1,\"message\":\"unexpected EOF from the registry\"}}\n",
        /* older: both */
        "{\"status\":\"Pulling fs layer\",\"id\":\"abc\"}\n"
        "{\"errorDetail\":{\"message\":\"unexpected EOF from the registry\"},"
        "\"error\":\"unexpected EOF from the registry\"}\n",
        /* the oldest: the string alone */
        "{\"status\":\"Pulling fs layer\",\"id\":\"abc\"}\n"
        "{\"error\":\"unexpected EOF from the registry\"}\n",
    };
    for (size_t i = 0; i < sizeof failures / sizeof failures[0]; i++) {
        fake h = {.ping_version = i == 0 ? "1.56" : "1.41", .body = failures[i]};
        c = fake_client(&h);
        got_progress p = {0};
        assert_int_equal(dkc_image_pull(c, "busybox", NULL, NULL, on_progress, &p), DKC_ESTREAM);
        assert_non_null(
            strstr(dkc_client_last_error(c)->message, "unexpected EOF from the registry"));
        assert_int_equal(p.n, 1);
        fake_done(&h, c);
    }
}

/* A container inspect of API 1.52 and newer: NetworkSettings holds only
 * SandboxID, SandboxKey, Ports and Networks; Config without OnBuild. */
#define INSPECT_1_52(tty)                                                                          \
    "{\"Id\":\"c1\",\"Created\":\"2026-01-01T00:00:00Z\",\"Path\":\"sh\",\"Args\":[],"             \
    "\"State\":{\"Status\":\"exited\",\"Running\":false,\"ExitCode\":0,"                           \
    "\"StartedAt\":\"2026-01-01T00:00:00Z\",\"FinishedAt\":\"2026-01-01T00:00:01Z\"},"             \
    "\"Image\":\"sha256:0123\",\"Name\":\"/job\",\"HostConfig\":{\"NetworkMode\":\"bridge\"},"     \
    "\"Config\":{\"Hostname\":\"c1\",\"Tty\":" tty ",\"Env\":[\"PATH=/bin\"],\"Cmd\":[\"sh\"],"    \
    "\"Image\":\"busybox\",\"Labels\":{\"k\":\"v\"}},"                                             \
    "\"NetworkSettings\":{\"SandboxID\":\"s\",\"SandboxKey\":\"/var/run/docker/netns/s\","         \
    "\"Ports\":{},\"Networks\":{\"bridge\":{\"NetworkID\":\"n\",\"EndpointID\":\"e\","             \
    "\"Gateway\":\"172.17.0.1\",\"IPAddress\":\"172.17.0.2\",\"IPPrefixLen\":16,"                  \
    "\"MacAddress\":\"02:42:ac:11:00:02\",\"DNSNames\":null,\"GwPriority\":0}}},"                  \
    "\"ImageManifestDescriptor\":{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\"}}"

typedef struct got_output {
    char out[64], err[64];
} got_output;

static int on_output(void *ud, int stream, const char *data, size_t len)
{
    got_output *o = ud;
    char *dst = stream == 2 ? o->err : o->out;
    size_t n = strlen(dst);
    assert_true(n + len < sizeof o->out);
    memcpy(dst + n, data, len);
    dst[n + len] = '\0';
    return 0;
}

static void output_is_read_by_the_containers_tty_never_by_the_header(void **state)
{
    json_t *ins = json_loads(INSPECT_1_52("false"), 0, NULL);
    assert_non_null(ins);
    assert_int_equal(dkc_tty_of(ins), DKC_TTY_NO);
    json_decref(ins);
    ins = json_loads(INSPECT_1_52("true"), 0, NULL);
    assert_int_equal(dkc_tty_of(ins), DKC_TTY_YES);
    json_decref(ins);

    /* multiplexed frames under a header that says raw (as Podman sent for
     * years): the container has no TTY, so they are demultiplexed; raw
     * bytes under a header that says multiplexed: it has one, so they are
     * its output as they are */
    static const char frames[] = "\x01\x00\x00\x00\x00\x00\x00\x03out"
                                 "\x02\x00\x00\x00\x00\x00\x00\x03"
                                 "err";
    static const struct {
        const char *tty, *content_type, *stream, *out, *err;
        size_t len;
    } cases[] = {
        {"false", "application/vnd.docker.raw-stream", frames, "out", "err", sizeof frames - 1},
        {"false", "application/vnd.docker.multiplexed-stream", frames, "out", "err",
         sizeof frames - 1},
        {"false", NULL, frames, "out", "err", sizeof frames - 1},
        {"true", "application/vnd.docker.multiplexed-stream", "\x01 raw tty", "\x01 raw tty", "",
         0},
        {"true", "application/vnd.docker.raw-stream", "raw tty", "raw tty", "", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char ins_text[2048];
        snprintf(ins_text, sizeof ins_text, "%s",
                 strcmp(cases[i].tty, "true") == 0 ? INSPECT_1_52("true") : INSPECT_1_52("false"));
        fake f = {.ping_version = "1.52", .content_type = cases[i].content_type};
        f.seq[0].body = ins_text;
        f.seq[1].body = cases[i].stream;
        f.seq[1].len = cases[i].len;
        dkc_client *c = fake_client(&f);
        got_output o;
        memset(&o, 0, sizeof o);
        int rc = dkc_container_logs(c, "c1", NULL, on_output, &o);
        if (rc != 0)
            print_error("case %zu: %s\n", i, dkc_client_last_error(c)->message);
        assert_int_equal(rc, 0);
        assert_int_equal(f.n, 2); /* inspect, logs */
        assert_string_equal(o.out, cases[i].out);
        assert_string_equal(o.err, cases[i].err);
        fake_reset(&f);
        /* attach decides the same way */
        memset(&o, 0, sizeof o);
        assert_int_equal(dkc_container_attach(c, "c1", true, on_output, &o), 0);
        assert_string_equal(o.out, cases[i].out);
        assert_string_equal(o.err, cases[i].err);
        fake_done(&f, c);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(stop_and_restart_send_a_signal_from_1_42_on),
        cmocka_unit_test(wait_conditions_need_1_30),
        cmocka_unit_test(the_container_wide_mac_address_moves_to_its_network_from_1_44_on),
        cmocka_unit_test(a_refusal_shows_the_bodys_text_without_control_characters),
        cmocka_unit_test(an_endpoint_mac_address_moves_to_the_container_before_1_44),
        cmocka_unit_test(podman_reads_a_mac_address_on_a_named_networks_endpoint),
        cmocka_unit_test(what_a_version_cannot_say_is_refused_before_sending),
        cmocka_unit_test(events_of_every_version_give_the_same_event),
        cmocka_unit_test(pull_streams_with_only_the_detail_fields),
        cmocka_unit_test(output_is_read_by_the_containers_tty_never_by_the_header),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
