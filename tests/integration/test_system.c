/*
 * test_system.c -- the client handle, negotiation, system calls, events and
 * transport errors against a real dockerd (whatever $DOCKER_HOST says).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <time.h>

#include "dkc_internal.h"
#include "itest.h"

static void negotiates_the_newest_common_version(void **state)
{
    dkc_client *c = itest_client();
    assert_non_null(c);
    /* The daemon's own version (every lane's daemon is older than the
     * library's newest). */
    json_t *v = NULL;
    assert_int_equal(dkc_version(c, &v), 0);
    assert_string_equal(dkc_client_api_version(c),
                        json_string_value(json_object_get(v, "ApiVersion")));
    json_decref(v);
    dkc_client_free(c);
}

static void forced_version_is_used_without_negotiation(void **state)
{
    /* The oldest version the daemon accepts (1.12 for Docker 20.10, 1.44
     * for a Docker that refuses old clients), forced. */
    dkc_client *n = itest_client();
    assert_non_null(n);
    json_t *v = NULL;
    assert_int_equal(dkc_version(n, &v), 0);
    char oldest[32];
    snprintf(oldest, sizeof oldest, "%s", json_string_value(json_object_get(v, "MinAPIVersion")));
    json_decref(v);
    dkc_client_free(n);
    dkc_options o;
    dkc_client *c = NULL;
    dkc_options_init(&o);
    o.api_version = oldest;
    assert_int_equal(dkc_client_new(&o, &c, NULL, 0), 0);
    assert_string_equal(dkc_client_api_version(c), oldest);
    int rc = dkc_version(c, &v);
    if (rc != 0)
        itest_explain(c, rc);
    assert_int_equal(rc, 0);
    assert_true(json_is_string(json_object_get(v, "ApiVersion")));
    json_decref(v);
    dkc_client_free(c);
}

static void ping_version_info(void **state)
{
    dkc_client *c = itest_client();
    assert_non_null(c);
    assert_int_equal(dkc_ping(c), 0);

    json_t *v = NULL;
    assert_int_equal(dkc_version(c, &v), 0);
    assert_string_equal(json_string_value(json_object_get(v, "ApiVersion")),
                        dkc_client_api_version(c));
    assert_true(json_is_string(json_object_get(v, "Version")));
    json_decref(v);

    json_t *info = NULL;
    assert_int_equal(dkc_info(c, &info), 0);
    assert_true(json_is_integer(json_object_get(info, "Containers")));
    assert_true(json_integer_value(json_object_get(info, "Images")) >= 1);
    json_decref(info);

    /* Connection reuse: many requests on one handle stay cheap and correct. */
    for (int i = 0; i < 50; i++)
        assert_int_equal(dkc_ping(c), 0);
    dkc_client_free(c);
}

static void unversioned_paths_never_reach_the_api(void **state)
{
    /* A raw request through the request layer always carries /v<version>. */
    dkc_client *c = itest_client();
    assert_non_null(c);
    json_t *out = NULL;
    assert_int_equal(dkc__client_json(c, "GET", "/containers/json?limit=1", NULL, &out), 0);
    assert_true(json_is_array(out));
    json_decref(out);
    /* An endpoint that does not exist is a clean not-found with Docker's text. */
    int rc = dkc__client_json(c, "GET", "/no/such/endpoint", NULL, &out);
    assert_int_equal(rc, DKC_ENOTFOUND);
    assert_int_equal(dkc_client_last_error(c)->http_status, 404);
    dkc_client_free(c);
}

/* ---- events ------------------------------------------------------------ */

typedef struct seen {
    char id[80];
    int create, start, die, destroy;
    int other_ids;
} seen;

static int collect(void *ud, const dkc_event *ev)
{
    seen *s = ud;
    if (strcmp(ev->id, s->id) != 0) {
        s->other_ids++;
        return 0;
    }
    assert_string_equal(ev->type, "container");
    assert_true(ev->time > 0);
    if (strcmp(ev->action, "create") == 0)
        s->create++;
    else if (strcmp(ev->action, "start") == 0)
        s->start++;
    else if (strcmp(ev->action, "die") == 0)
        s->die++;
    else if (strcmp(ev->action, "destroy") == 0)
        s->destroy++;
    return 0;
}

/* Creates, runs and removes a labelled container through the raw request
 * layer (this program tests the system calls, not the container API). */
static void lifecycle(dkc_client *c, const char *label, char *id, size_t idlen)
{
    json_t *body = json_pack("{s:s, s:[s,s,s], s:{s:s}, s:{s:s}}", "Image", ITEST_IMAGE, "Cmd",
                             "sh", "-c", "exit 0", "Labels", "itest", label, "HostConfig",
                             "NetworkMode", itest_network_mode());
    json_t *out = NULL;
    int rc = dkc__client_json(c, "POST", "/containers/create", body, &out);
    if (rc != 0)
        itest_explain(c, rc);
    assert_int_equal(rc, 0);
    snprintf(id, idlen, "%s", json_string_value(json_object_get(out, "Id")));
    json_decref(out);
    json_decref(body);
    char path[200];
    snprintf(path, sizeof path, "/containers/%s/start", id);
    assert_int_equal(dkc__client_json(c, "POST", path, NULL, NULL), 0);
    snprintf(path, sizeof path, "/containers/%s/wait", id);
    assert_int_equal(dkc__client_json(c, "POST", path, NULL, NULL), 0);
    snprintf(path, sizeof path, "/containers/%s?force=1", id);
    assert_int_equal(dkc__client_json(c, "DELETE", path, NULL, NULL), 0);
}

static void events_with_filters_since_and_until(void **state)
{
    dkc_client *c = itest_client();
    assert_non_null(c);
    const char *label = itest_name("events");
    int64_t t0 = (int64_t)time(NULL) - 1;
    seen s = {0};
    lifecycle(c, label, s.id, sizeof s.id);
    int64_t t1 = (int64_t)time(NULL) + 1;

    char lab[160];
    snprintf(lab, sizeof lab, "itest=%s", label);
    json_t *filters = json_pack("{s:[s], s:[s]}", "type", "container", "label", lab);
    dkc_events_opts o = {.since = t0, .until = t1, .filters = filters};
    /* Ends by itself at `until`: a past window is replayed and closed. */
    int rc = dkc_events(c, &o, collect, &s);
    if (rc != 0)
        itest_explain(c, rc);
    assert_int_equal(rc, 0);
    assert_int_equal(s.create, 1);
    assert_int_equal(s.start, 1);
    assert_int_equal(s.die, 1);
    assert_int_equal(s.destroy, 1);
    assert_int_equal(s.other_ids, 0); /* the label filter reached the daemon */
    json_decref(filters);
    dkc_client_free(c);
}

static int stop_after_first(void *ud, const dkc_event *ev)
{
    (*(int *)ud)++;
    return 1;
}

static void events_callback_can_stop_the_stream(void **state)
{
    dkc_client *c = itest_client();
    assert_non_null(c);
    seen s = {0};
    int64_t t0 = (int64_t)time(NULL) - 1;
    lifecycle(c, itest_name("evstop"), s.id, sizeof s.id);
    int calls = 0;
    dkc_events_opts o = {.since = t0, .until = (int64_t)time(NULL) + 60};
    assert_int_equal(dkc_events(c, &o, stop_after_first, &calls), DKC_ECANCELED);
    assert_int_equal(calls, 1);
    /* The handle is still usable afterwards. */
    assert_int_equal(dkc_ping(c), 0);
    dkc_client_free(c);
}

static int count_only(void *ud, const dkc_event *ev)
{
    (*(int *)ud)++;
    return 0;
}

static void *cancel_later(void *arg)
{
    struct timespec ts = {0, 300 * 1000 * 1000};
    nanosleep(&ts, NULL);
    dkc_client_cancel(arg);
    return NULL;
}

static void events_cancel_from_another_thread(void **state)
{
    dkc_client *c = itest_client();
    assert_non_null(c);
    pthread_t t;
    int n = 0;
    json_t *filters = json_pack("{s:[s]}", "label", "itest=never-matches-anything");
    dkc_events_opts o = {.filters = filters};
    assert_int_equal(pthread_create(&t, NULL, cancel_later, c), 0);
    int rc = dkc_events(c, &o, count_only, &n);
    pthread_join(t, NULL);
    assert_int_equal(rc, DKC_ECANCELED);
    assert_int_equal(n, 0);
    /* A cancel made while idle is not lost: the next call returns at once. */
    dkc_client_cancel(c);
    assert_int_equal(dkc_events(c, &o, count_only, &n), DKC_ECANCELED);
    assert_int_equal(dkc_ping(c), 0);
    json_decref(filters);
    dkc_client_free(c);
}

/* ---- transport errors ------------------------------------------------- */

static void missing_socket_is_unavailable(void **state)
{
    dkc_options o;
    dkc_client *c = NULL;
    dkc_options_init(&o);
    o.host = "unix:///nonexistent/docker.sock";
    assert_int_equal(dkc_client_new(&o, &c, NULL, 0), 0);
    int rc = dkc_ping(c);
    assert_int_equal(rc, DKC_EUNAVAILABLE);
    assert_non_null(strstr(dkc_client_last_error(c)->message, "/nonexistent/docker.sock"));
    dkc_client_free(c);
}

static void refused_port_is_unavailable(void **state)
{
    /* Bind a port and close it, so nothing listens there. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof sa;
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
    close(fd);
    char host[64];
    snprintf(host, sizeof host, "127.0.0.1:%d", ntohs(sa.sin_port));

    dkc_options o;
    dkc_client *c = NULL;
    dkc_options_init(&o);
    o.host = host;
    o.tls_verify = 0;
    assert_int_equal(dkc_client_new(&o, &c, NULL, 0), 0);
    assert_string_equal(dkc_client_host(c) + strlen("tcp://"), host);
    assert_int_equal(dkc_ping(c), DKC_EUNAVAILABLE);
    dkc_client_free(c);
}

static void silent_server_times_out(void **state)
{
    /* A listening socket that never accepts: the connect succeeds through the
     * backlog, the request never gets an answer. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof sa;
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(fd, 4), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
    char host[64];
    snprintf(host, sizeof host, "tcp://127.0.0.1:%d", ntohs(sa.sin_port));

    dkc_options o;
    dkc_client *c = NULL;
    dkc_options_init(&o);
    o.host = host;
    o.tls_verify = 0;
    o.request_timeout_ms = 300;
    o.api_version = "1.41";
    assert_int_equal(dkc_client_new(&o, &c, NULL, 0), 0);
    assert_int_equal(dkc_ping(c), DKC_ETIMEOUT);
    dkc_client_free(c);
    close(fd);
}

static void bad_addresses_are_refused_at_creation(void **state)
{
    const char *bad[] = {"ssh://user@host", "tcp://", "host:99999", "::1:2375", "tcp://a b:1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        dkc_options o;
        dkc_client *c = NULL;
        char why[200] = "";
        dkc_options_init(&o);
        o.host = bad[i];
        int rc = dkc_client_new(&o, &c, why, sizeof why);
        if (rc != DKC_EADDR)
            fprintf(stderr, "address %s gave %d\n", bad[i], rc);
        assert_int_equal(rc, DKC_EADDR);
        assert_null(c);
        assert_non_null(strstr(why, "cannot parse"));
    }
}

static void tls_without_cert_files_is_a_clear_error(void **state)
{
    dkc_options o;
    dkc_client *c = NULL;
    char why[300] = "";
    dkc_options_init(&o);
    o.host = "tcp://127.0.0.1:2376";
    o.tls_verify = 1;
    o.cert_path = "/nonexistent-certs";
    assert_int_equal(dkc_client_new(&o, &c, why, sizeof why), DKC_ETLS);
    assert_non_null(strstr(why, "/nonexistent-certs/ca.pem"));
    assert_null(c);
}

/* With $ITEST_TLS_NOCERT_HOST (a dockerd requiring client certificates) and
 * $ITEST_TLS_CA: a client that trusts the CA but shows no certificate of its
 * own is refused by the daemon. */
static void tls_daemon_refuses_a_client_without_cert(void **state)
{
    const char *host = getenv("ITEST_TLS_NOCERT_HOST");
    const char *ca = getenv("ITEST_TLS_CA");
    if (host == NULL || ca == NULL || !*host || !*ca)
        skip();
    char dir[] = "/tmp/itest-nocert-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char link[300];
    snprintf(link, sizeof link, "%s/ca.pem", dir);
    assert_int_equal(symlink(ca, link), 0);

    dkc_options o;
    dkc_client *c = NULL;
    char why[300] = "";
    dkc_options_init(&o);
    o.host = host;
    o.cert_path = dir;
    o.tls_verify = 0; /* https without a client certificate */
    char url[300];
    snprintf(url, sizeof url, "https://%s", host + strlen("tcp://"));
    o.host = url;
    int rc = dkc_client_new(&o, &c, why, sizeof why);
    if (rc != 0)
        fprintf(stderr, "%s\n", why);
    assert_int_equal(rc, 0);
    rc = dkc_ping(c);
    assert_int_equal(rc, DKC_ETLS);
    dkc_client_free(c);

    /* The same daemon with the full certificate set answers. */
    dkc_client *ok = itest_client();
    assert_non_null(ok);
    assert_int_equal(dkc_ping(ok), 0);
    dkc_client_free(ok);
    unlink(link);
    rmdir(dir);
}

int main(void)
{
    dkc_global_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(negotiates_the_newest_common_version),
        cmocka_unit_test(forced_version_is_used_without_negotiation),
        cmocka_unit_test(ping_version_info),
        cmocka_unit_test(unversioned_paths_never_reach_the_api),
        cmocka_unit_test(events_with_filters_since_and_until),
        cmocka_unit_test(events_callback_can_stop_the_stream),
        cmocka_unit_test(events_cancel_from_another_thread),
        cmocka_unit_test(missing_socket_is_unavailable),
        cmocka_unit_test(refused_port_is_unavailable),
        cmocka_unit_test(silent_server_times_out),
        cmocka_unit_test(bad_addresses_are_refused_at_creation),
        cmocka_unit_test(tls_without_cert_files_is_a_clear_error),
        cmocka_unit_test(tls_daemon_refuses_a_client_without_cert),
    };
    int failed = cmocka_run_group_tests_name("system", tests, NULL, NULL);
    dkc_global_cleanup();
    return failed;
}
