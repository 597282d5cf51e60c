/*
 * test_dispatchctl.c -- dispatchctl's command line: the messages its
 * commands build, the local checks before publishing, the global options,
 * how replies turn into exit statuses, and the renderers (tables, progress
 * lines with a given terminal width, events and their filters) into memory
 * streams.  No broker involved: the client's library, through ctl.h.
 * The round trip and the event watch need one: test_ctl covers them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "broker.h"
#include "ctl.h"
#include "protocol.h"

/* Runs the builder of command argv[0] (one_node: --node was given) and
 * returns its message as compact JSON (caller frees), or NULL when the
 * builder refused the arguments. */
static char *build_as(ctl_req *req, int argc, char **argv, bool one_node)
{
    const ctl_cmd *c = ctl_find_cmd(argv[0]);
    assert_non_null(c);
    memset(req, 0, sizeof *req);
    req->one_node = one_node;
    if (c->build(argc, argv, req) < 0)
        return NULL;
    if (req->msg == NULL)
        return NULL;
    return json_dumps(req->msg, JSON_COMPACT);
}

static char *build(ctl_req *req, int argc, char **argv)
{
    return build_as(req, argc, argv, false);
}

static void test_run_message(void **state)
{
    char *argv[] = {"run",     "--rm", "--attach", "--name",          "t1", "--timeout", "5",
                    "busybox", "sh",   "-c",       "echo hi; exit 3", NULL};
    ctl_req req;
    char *s = build(&req, 11, argv);
    assert_non_null(s);
    assert_string_equal(s, "{\"Dockercmd\":\"run\",\"Image\":\"busybox\",\"Cmd\":[\"sh\",\"-c\","
                           "\"echo hi; exit 3\"],\"Options\":{\"Name\":\"t1\",\"Attach\":["
                           "\"STDOUT\",\"STDERR\"],\"Remove\":true,\"Timeout\":5}}");
    assert_int_equal(req.min_wait_s, 5 + RUN_GRACE);
    assert_true(req.local_check);
    assert_int_equal(ctl_check_local(&req, s, strlen(s)), 0);
    free(s);
    json_decref(req.msg);
}

/* Options after the image belong to the container's command. */
static void test_run_options_after_image(void **state)
{
    char *argv[] = {"run", "busybox", "ls", "--rm", NULL};
    ctl_req req;
    char *s = build(&req, 4, argv);
    assert_non_null(s);
    assert_string_equal(s,
                        "{\"Dockercmd\":\"run\",\"Image\":\"busybox\",\"Cmd\":[\"ls\",\"--rm\"]}");
    free(s);
    json_decref(req.msg);
}

/* The builder of command argv[0] refuses its arguments (send's builder
 * makes no message even when it accepts, so build() cannot tell). */
static void assert_refused(int argc, char **argv)
{
    const ctl_cmd *c = ctl_find_cmd(argv[0]);
    assert_non_null(c);
    ctl_req req;
    memset(&req, 0, sizeof req);
    assert_int_equal(c->build(argc, argv, &req), -1);
    json_decref(req.msg);
}

static void test_usage_errors(void **state)
{
    char *run0[] = {"run", "--rm", NULL};
    char *run1[] = {"run", "--timeout", "0", "busybox", NULL};
    char *stop0[] = {"stop", "-t", "x", "web1", NULL};
    char *stop1[] = {"stop", "a", "b", NULL};
    char *rm0[] = {"rm", "-z", "web1", NULL};
    char *ps0[] = {"ps", "extra", NULL};
    char *ping0[] = {"ping", "x", NULL};
    char *send0[] = {"send", NULL};
    char *send1[] = {"send", "{}", NULL};
    ctl_req req;

    assert_refused(2, run0);
    assert_refused(4, run1);
    assert_refused(4, stop0);
    assert_refused(3, stop1);
    assert_refused(3, rm0);
    assert_refused(2, ps0);
    assert_refused(2, ping0);
    assert_refused(1, send0);
    /* and the one form of send that is accepted */
    const ctl_cmd *c = ctl_find_cmd("send");
    memset(&req, 0, sizeof req);
    assert_int_equal(c->build(2, send1, &req), 0);
    assert_string_equal(req.raw, "{}");
    assert_null(ctl_find_cmd("frob"));
}

static void test_stop_rm_ps_messages(void **state)
{
    char *stop[] = {"stop", "-t", "7", "web1", NULL};
    char *rm[] = {"rm", "-f", "-v", "web1", NULL};
    char *ps[] = {"ps", "-a", NULL};
    char *pull[] = {"pull", "localhost:5000/busybox:latest", NULL};
    ctl_req req;
    char *s;

    s = build(&req, 4, stop);
    assert_string_equal(s,
                        "{\"Dockercmd\":\"stop\",\"Container\":\"web1\",\"Options\":{\"Time\":7}}");
    assert_string_equal(req.echo, "web1");
    assert_int_equal(ctl_check_local(&req, s, strlen(s)), 0);
    free(s);
    json_decref(req.msg);

    s = build(&req, 4, rm);
    assert_string_equal(s, "{\"Dockercmd\":\"rm\",\"Container\":\"web1\",\"Options\":{\"Force\":"
                           "true,\"Volumes\":true}}");
    assert_int_equal(ctl_check_local(&req, s, strlen(s)), 0);
    free(s);
    json_decref(req.msg);

    s = build(&req, 2, ps);
    assert_string_equal(s, "{\"Dockercmd\":\"ps\",\"Options\":{\"All\":true,\"Cluster\":true}}");
    free(s);
    json_decref(req.msg);

    s = build(&req, 2, pull);
    assert_string_equal(s, "{\"Dockercmd\":\"pull\",\"Image\":\"localhost:5000/busybox:latest\","
                           "\"Options\":{\"Progress\":true}}");
    assert_true(req.progress);
    assert_int_equal(ctl_check_local(&req, s, strlen(s)), 0);
    free(s);
    json_decref(req.msg);
}

/* Refused before publishing: bad values of built commands, and for send
 * anything that is not one JSON object. */
static void test_local_refusals(void **state)
{
    char *run[] = {"run", "Bad image!", NULL};
    char *stop[] = {"stop", "../x", NULL};
    ctl_req req;
    char *s;

    s = build(&req, 2, run);
    assert_non_null(s);
    assert_int_equal(ctl_check_local(&req, s, strlen(s)), EXIT_REFUSED);
    free(s);
    json_decref(req.msg);
    s = build(&req, 2, stop);
    assert_int_equal(ctl_check_local(&req, s, strlen(s)), EXIT_REFUSED);
    free(s);
    json_decref(req.msg);

    static const char *bad[] = {"{\"Dockercmd\": run}", "[1]", "", "{\"a\":1,\"a\":2}", "{"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memset(&req, 0, sizeof req);
        req.raw = bad[i];
        req.raw_len = strlen(bad[i]);
        assert_int_equal(ctl_check_local(&req, req.raw, req.raw_len), EXIT_REFUSED);
    }
    /* send leaves the schema to the dispatcher */
    memset(&req, 0, sizeof req);
    req.raw = "{\"Dockercmd\":\"nonsense\"}";
    req.raw_len = strlen(req.raw);
    assert_int_equal(ctl_check_local(&req, req.raw, req.raw_len), 0);

    size_t big = PROTO_DEFAULT_MAX_BODY + 16;
    char *huge = malloc(big + 1);
    assert_non_null(huge);
    memset(huge, ' ', big);
    huge[0] = '{';
    huge[big - 1] = '}';
    huge[big] = '\0';
    req.raw = huge;
    req.raw_len = big;
    assert_int_equal(ctl_check_local(&req, huge, big), EXIT_REFUSED);
    free(huge);
}

static void test_globals(void **state)
{
    ctl_opts o;
    bool help;
    char *a0[] = {"dispatchctl", "--amqp",    "amqp://u:p@127.0.0.1:1/",
                  "-q",          "qq",        "--node",
                  "n-1",         "--timeout", "9",
                  "--json",      "--user-id", "run",
                  "--rm",        "busybox",   NULL};
    char *a1[] = {"dispatchctl", "-q", "bad/queue", "ping", NULL};
    char *a2[] = {"dispatchctl", "--timeout", "0", "ping", NULL};
    char *a3[] = {"dispatchctl", "--amqp", "http://x/", "ping", NULL};
    char *a4[] = {"dispatchctl", "--json", NULL};
    char *a5[] = {"dispatchctl", "--help", NULL};
    char *a6[] = {"dispatchctl", "ping", NULL};

    setenv("DISPATCH_AMQP_URL", "amqp://e:e@127.0.0.1:2/", 1);
    setenv("DISPATCH_QUEUE", "envq", 1);
    memset(&o, 0, sizeof o);
    assert_int_equal(ctl_parse_globals(14, a0, &o, &help), 11);
    assert_string_equal(o.url, "amqp://u:p@127.0.0.1:1/");
    assert_string_equal(o.queue, "qq");
    assert_string_equal(o.node, "n-1");
    assert_int_equal(o.timeout_s, 9);
    assert_true(o.timeout_set);
    assert_true(o.json);
    assert_true(o.user_id);

    memset(&o, 0, sizeof o);
    assert_int_equal(ctl_parse_globals(2, a6, &o, &help), 1);
    assert_false(o.user_id); /* anonymous unless asked */
    assert_string_equal(o.url, "amqp://e:e@127.0.0.1:2/");
    assert_string_equal(o.queue, "envq");
    assert_int_equal(o.timeout_s, DEFAULT_TIMEOUT);
    assert_false(o.timeout_set);
    unsetenv("DISPATCH_AMQP_URL");
    unsetenv("DISPATCH_QUEUE");
    memset(&o, 0, sizeof o);
    assert_int_equal(ctl_parse_globals(2, a6, &o, &help), 1);
    assert_string_equal(o.url, DEFAULT_URL);
    assert_string_equal(o.queue, DEFAULT_QUEUE);

    assert_int_equal(ctl_parse_globals(4, a1, &o, &help), -1);
    assert_int_equal(ctl_parse_globals(4, a2, &o, &help), -1);
    assert_int_equal(ctl_parse_globals(4, a3, &o, &help), -1);
    assert_int_equal(ctl_parse_globals(2, a4, &o, &help), -1);
    assert_false(help);
    assert_int_equal(ctl_parse_globals(2, a5, &o, &help), -1);
    assert_true(help);
}

/* Feeds body to ctl_handle_reply() as if it had come from the broker. */
static int reply_status(const char *body, bool json)
{
    ctl_opts o = {.json = json};
    ctl_req req = {0};
    broker_delivery d = {0};
    d.body = (unsigned char *)body;
    d.len = strlen(body);
    return ctl_handle_reply(&o, &req, &d);
}

static void test_reply_status(void **state)
{
    /* nothing here writes to stdout, which carries the TAP output */
    assert_int_equal(
        reply_status("{\"schema\":1,\"ok\":false,\"node\":\"n1\",\"command\":\"stop\","
                     "\"request_id\":\"r\",\"error\":{\"code\":\"not_found\",\"message\":"
                     "\"No such container: web9\",\"field\":null,\"http_status\":404}}",
                     false),
        EXIT_REFUSED);
    assert_int_equal(reply_status("{\"schema\":1,\"ok\":true,\"command\":\"run\",\"result\":{"
                                  "\"container\":{\"id\":\"abc\",\"name\":\"x\"},\"exit_code\":3,"
                                  "\"stdout\":\"\",\"stderr\":\"\",\"truncated\":false}}",
                                  false),
                     3);
    assert_int_equal(reply_status("{\"ok\":true,\"command\":\"run\",\"result\":{\"exit_code\":"
                                  "300,\"stdout\":\"\"}}",
                                  false),
                     255);
    assert_int_equal(reply_status("{\"ok\":true,\"command\":\"stop\",\"result\":null}", false), 0);
    assert_int_equal(reply_status("not json", false), EXIT_REFUSED);
    assert_int_equal(reply_status("[1,2]", false), EXIT_REFUSED);

    broker_delivery d = {0};
    ctl_opts o = {0};
    ctl_req req = {0};
    d.oversize = 1;
    d.body_size = 1u << 30;
    assert_int_equal(ctl_handle_reply(&o, &req, &d), EXIT_REFUSED);
}

static void test_helpers(void **state)
{
    char buf[64], a[33], b[33];
    long v;

    assert_true(broker_name_ok("dispatch.node.n-1_x"));
    assert_false(broker_name_ok(""));
    assert_false(broker_name_ok("a b"));
    assert_false(broker_name_ok("a/b"));
    assert_int_equal(ctl_parse_int("42", 0, 100, &v), 0);
    assert_int_equal(v, 42);
    assert_int_equal(ctl_parse_int("101", 0, 100, &v), -1);
    assert_int_equal(ctl_parse_int("4x", 0, 100, &v), -1);
    assert_int_equal(ctl_parse_int("", 0, 100, &v), -1);

    ctl_human_size(4261550, buf, sizeof buf);
    assert_string_equal(buf, "4.26MB");
    ctl_human_size(12, buf, sizeof buf);
    assert_string_equal(buf, "12B");
    ctl_short_id("sha256:0123456789abcdef", buf, sizeof buf);
    assert_string_equal(buf, "0123456789ab");
    ctl_short_id(NULL, buf, sizeof buf);
    assert_string_equal(buf, "");

    assert_int_equal(ctl_random_hex(a, 16), 0);
    assert_int_equal(ctl_random_hex(b, 16), 0);
    assert_int_equal(strlen(a), 32);
    assert_int_equal(strspn(a, "0123456789abcdef"), 32);
    assert_string_not_equal(a, b);
}

/* Renders body with ctl_print_event() into a string (caller frees). */
static char *render_event(const char *body)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_non_null(f);
    broker_delivery d = {0};
    d.body = (unsigned char *)(uintptr_t)body;
    d.len = strlen(body);
    ctl_print_event(f, &d);
    fclose(f);
    return text;
}

static void test_events_rendering(void **state)
{
    char *t = render_event(
        "{\"schema\":1,\"event\":\"container.exited\",\"node\":\"n1\",\"time\":"
        "\"2026-11-23T10:00:00.000000001Z\",\"time_nano\":1,\"container\":{\"id\":"
        "\"0123456789abcdef0123\",\"name\":\"web\",\"image\":\"busybox\"},\"request_id\":"
        "\"r1\",\"exit_code\":3}");
    assert_string_equal(t, "2026-11-23T10:00:00.000000001Z container.exited node=n1 "
                           "container=0123456789ab name=web image=busybox request=r1 exit=3\n");
    free(t);
    t = render_event("{\"event\":\"node.up\",\"node\":\"n1\",\"time\":\"T\"}");
    assert_string_equal(t, "T node.up node=n1\n");
    free(t);
    /* anyone may publish on the exchange: terminal control bytes are shown
     * escaped, and what is not an event is shown as such */
    t = render_event("{\"event\":\"x\\u001b[2J\",\"node\":\"\\u0007\"}");
    assert_string_equal(t, "- x\\x1b[2J node=\\x07\n");
    free(t);
    t = render_event("{\"event\":\"container.started\",\"node\":\"n\",\"container\":{\"id\":"
                     "\"ab\\u001b[2Jcd\"}}");
    assert_string_equal(t, "- container.started node=n container=ab\\x1b[2Jcd\n");
    free(t);
    t = render_event("not json \x1b");
    assert_string_equal(t, "(not an event) not json \\x1b\n");
    free(t);
}

/* events refuses bad arguments (before it connects anywhere). */
static void test_events_usage(void **state)
{
    char *n0[] = {"events", "-n", "0", NULL};
    char *nx[] = {"events", "-n", "x", NULL};
    char *two[] = {"events", "a", "b", NULL};
    char *ok[] = {"events", "-n", "2", "-f", "node=n1", "container.*", NULL};
    char *dflt[] = {"events", NULL};
    char long_pattern[257];
    char *too_long[] = {"events", long_pattern, NULL};
    ctl_ev_watch w;
    assert_int_equal(ctl_ev_args(3, n0, &w), -1);
    assert_int_equal(ctl_ev_args(3, nx, &w), -1);
    assert_int_equal(ctl_ev_args(3, two, &w), -1);
    memset(long_pattern, 'a', 256);
    long_pattern[256] = '\0';
    assert_int_equal(ctl_ev_args(2, too_long, &w), -1);
    long_pattern[255] = '\0';
    assert_int_equal(ctl_ev_args(2, too_long, &w), 0);
    assert_int_equal(ctl_ev_args(6, ok, &w), 0);
    assert_int_equal(w.count, 2);
    assert_int_equal(w.fs.n, 1);
    assert_string_equal(w.pattern, "container.*");
    assert_int_equal(ctl_ev_args(1, dflt, &w), 0);
    assert_int_equal(w.count, 0);
    assert_string_equal(w.pattern, "#");
    const ctl_cmd *c = ctl_find_cmd("events");
    assert_non_null(c);
    assert_null(c->build);
}

/* Renders result with fn into a string (caller frees). */
static char *render_to_string(ctl_render_fn fn, const char *result_json, time_t now, int *status)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_non_null(f);
    json_t *r = json_loads(result_json, 0, NULL);
    assert_non_null(r);
    ctl_req req = {.now = now};
    *status = fn(f, r, &req);
    json_decref(r);
    fclose(f);
    return text;
}

/* -a is everything (every state, every node unless --node names one); -c
 * every node; the same for ps and images. */
static void test_listing_options(void **state)
{
    char *ps[] = {"ps", NULL};
    char *psc[] = {"ps", "--cluster", NULL};
    char *psa[] = {"ps", "--all", NULL};
    char *ima[] = {"images", "-a", NULL};
    char *imc[] = {"images", "-c", NULL};
    char *bad[] = {"images", "x", NULL};
    ctl_req req;
    char *s;
    struct {
        char **argv;
        int argc;
        bool one_node;
        const char *want;
    } cases[] = {
        {ps, 1, false, "{\"Dockercmd\":\"ps\"}"},
        {psc, 2, false, "{\"Dockercmd\":\"ps\",\"Options\":{\"Cluster\":true}}"},
        {psa, 2, false, "{\"Dockercmd\":\"ps\",\"Options\":{\"All\":true,\"Cluster\":true}}"},
        {psa, 2, true, "{\"Dockercmd\":\"ps\",\"Options\":{\"All\":true}}"},
        {ima, 2, false, "{\"Dockercmd\":\"images\",\"Options\":{\"All\":true,\"Cluster\":true}}"},
        {imc, 2, false, "{\"Dockercmd\":\"images\",\"Options\":{\"Cluster\":true}}"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        s = build_as(&req, cases[i].argc, cases[i].argv, cases[i].one_node);
        assert_non_null(s);
        assert_string_equal(s, cases[i].want);
        assert_int_equal(ctl_check_local(&req, s, strlen(s)), 0);
        free(s);
        json_decref(req.msg);
    }
    assert_null(build(&req, 2, bad));
}

static void test_run_instances(void **state)
{
    char *argv[] = {"run", "--instances", "3", "--placement", "binpack", "busybox", "true", NULL};
    char *zero[] = {"run", "--instances", "0", "busybox", NULL};
    char *lone[] = {"run", "--placement", "spread", "busybox", NULL};
    ctl_req req;
    char *s = build(&req, 7, argv);
    assert_non_null(s);
    assert_string_equal(s, "{\"Dockercmd\":\"run\",\"Image\":\"busybox\",\"Cmd\":[\"true\"],"
                           "\"Options\":{\"Instances\":3,\"Placement\":\"binpack\","
                           "\"Progress\":true}}");
    assert_true(req.progress);
    assert_int_equal(ctl_check_local(&req, s, strlen(s)), 0);
    free(s);
    json_decref(req.msg);
    assert_null(build(&req, 4, zero));
    assert_null(build(&req, 4, lone));
}

static void test_ago(void **state)
{
    char b[40];
    time_t now = 100000000;
    ctl_ago(now, 0, b, sizeof b);
    assert_string_equal(b, "");
    ctl_ago(now, now, b, sizeof b);
    assert_string_equal(b, "Less than a second ago");
    ctl_ago(now, now - 1, b, sizeof b);
    assert_string_equal(b, "1 second ago");
    ctl_ago(now, now - 5, b, sizeof b);
    assert_string_equal(b, "5 seconds ago");
    ctl_ago(now, now - 90, b, sizeof b);
    assert_string_equal(b, "About a minute ago");
    ctl_ago(now, now - 600, b, sizeof b);
    assert_string_equal(b, "10 minutes ago");
    ctl_ago(now, now - 3700, b, sizeof b);
    assert_string_equal(b, "About an hour ago");
    ctl_ago(now, now - 5 * 3600, b, sizeof b);
    assert_string_equal(b, "5 hours ago");
    ctl_ago(now, now - 3 * 86400, b, sizeof b);
    assert_string_equal(b, "3 days ago");
    ctl_ago(now, now - 21 * 86400, b, sizeof b);
    assert_string_equal(b, "3 weeks ago");
}

static void test_render_ps(void **state)
{
    int st;
    char *t = render_to_string(
        ctl_render_find("list"),
        "[{\"Id\":\"0123456789abcdef\",\"Image\":\"busybox\",\"Command\":\"sleep "
        "100000000000000000\","
        "\"Created\":940,\"Status\":\"Up 1 "
        "minute\",\"Ports\":[{\"IP\":\"0.0.0.0\",\"PrivatePort\":80,"
        "\"PublicPort\":8080,\"Type\":\"tcp\"},{\"PrivatePort\":443,\"Type\":\"tcp\"}],"
        "\"Names\":[\"/web\"]}]",
        1000, &st);
    assert_int_equal(st, 0);
    assert_string_equal(t,
                        "CONTAINER ID   IMAGE     COMMAND                    CREATED              "
                        "STATUS        PORTS                           NAMES\n"
                        "0123456789ab   busybox   \"sleep 1000000000000...\"   "
                        "About a minute ago   Up 1 minute   0.0.0.0:8080->80/tcp, 443/tcp   web\n");
    free(t);
    /* cluster-wide: a NODE column */
    t = render_to_string(
        ctl_render_find("list"),
        "{\"containers\":[{\"Id\":\"ab\",\"Image\":\"i\",\"Command\":\"c\","
        "\"Status\":\"Up\",\"Names\":[\"/n\"],\"Node\":\"n2\"}],\"nodes\":[\"n2\"],"
        "\"missing\":[]}",
        1000, &st);
    assert_int_equal(st, 0);
    assert_string_equal(
        t, "CONTAINER ID   IMAGE   COMMAND   CREATED   STATUS   PORTS   NAMES   NODE\n"
           "ab             i       \"c\"                 Up               n       n2\n");
    free(t);
    t = render_to_string(ctl_render_find("list"), "{\"x\":1}", 0, &st);
    assert_int_equal(st, EXIT_REFUSED);
    free(t);
}

static void test_render_images_nodes(void **state)
{
    int st;
    char *t = render_to_string(ctl_render_find("images"),
                               "{\"images\":[{\"Id\":\"sha256:0123456789abcdef\",\"RepoTags\":["
                               "\"localhost:5000/busybox:latest\"],\"Size\":4261550,\"Created\":"
                               "1000,\"Node\":\"n1\"}],\"nodes\":[\"n1\"],\"missing\":[]}",
                               1000 + 3 * 86400, &st);
    assert_int_equal(st, 0);
    assert_string_equal(
        t, "REPOSITORY               TAG      IMAGE ID       CREATED      SIZE     NODE\n"
           "localhost:5000/busybox   latest   0123456789ab   3 days ago   4.26MB   n1\n");
    free(t);
    /* seven columns (past the old table width) */
    t = render_to_string(ctl_render_find("nodes"),
                         "[{\"name\":\"n1\",\"self\":true,\"docker\":true,\"draining\":false,"
                         "\"running\":2,\"containers\":3,\"inflight\":1,\"seen_ms_ago\":1500}]",
                         0, &st);
    assert_int_equal(st, 0);
    assert_string_equal(t,
                        "NODE   STATE    DOCKER   RUNNING   CONTAINERS   IN FLIGHT   SEEN\n"
                        "n1 *   active   up       2         3            1           1.5s ago\n");
    free(t);
}

static void test_render_inspect_bulk(void **state)
{
    int st;
    char *t = render_to_string(
        ctl_render_find("inspect"),
        "{\"Id\":\"0123\",\"Name\":\"/web\",\"Config\":{\"Image\":\"busybox\",\"Labels\":{"
        "\"io.docker-dispatch.node\":\"n1\",\"io.docker-dispatch.request\":\"r1\",\"other\":\"x\"}}"
        ","
        "\"State\":{\"Status\":\"exited\",\"ExitCode\":3,\"StartedAt\":\"S\",\"FinishedAt\":\"F\"}"
        "}",
        0, &st);
    assert_int_equal(st, 0);
    assert_string_equal(t, "ID:          0123\n"
                           "Name:        web\n"
                           "Image:       busybox\n"
                           "State:       exited\n"
                           "Exit code:   3\n"
                           "Started:     S\n"
                           "Finished:    F\n"
                           "Node:        n1\n"
                           "Label:       node=n1\n"
                           "Label:       request=r1\n");
    free(t);
    t = render_to_string(
        ctl_render_find("run"),
        "{\"requested\":2,\"created\":1,\"placement\":\"spread\",\"containers\":["
        "{\"node\":\"n1\",\"ok\":true,\"id\":\"0123456789abcdef\",\"name\":\"a\",\"result\":{"
        "\"exit_code\":0}},{\"node\":\"n2\",\"ok\":false,\"error\":{\"code\":\"unavailable\","
        "\"message\":\"full\"}}]}",
        0, &st);
    assert_int_equal(st, EXIT_REFUSED);
    assert_string_equal(t, "NODE   CONTAINER ID   NAME   RESULT\n"
                           "n1     0123456789ab   a      exited (0)\n"
                           "n2                           unavailable: full\n"
                           "1 of 2 created\n");
    free(t);
}

static void test_progress_line(void **state)
{
    char b[512];
    ctl_progress_line(b, sizeof b, "a3ed95caeb02", "Downloading", 500000, 1000000, 80);
    /* 80 - 1 columns: the bar takes the 40 left, half of it done */
    assert_string_equal(b, "a3ed95caeb02: Downloading ["
                           "====================>"
                           "                   "
                           "]  500kB/1MB");
    assert_true(strlen(b) <= 79);
    /* a narrow terminal: a shorter bar, then none */
    ctl_progress_line(b, sizeof b, "a3ed95caeb02", "Downloading", 1000000, 1000000, 60);
    assert_string_equal(b, "a3ed95caeb02: Downloading ["
                           "======================"
                           "]  1MB/1MB");
    assert_true(strlen(b) <= 59);
    ctl_progress_line(b, sizeof b, "a3ed95caeb02", "Downloading", 10, 1000000, 40);
    assert_string_equal(b, "a3ed95caeb02: Downloading 10B/1MB");
    ctl_progress_line(b, sizeof b, "a3ed95caeb02", "Pull complete", 0, 0, 80);
    assert_string_equal(b, "a3ed95caeb02: Pull complete");
    ctl_progress_line(b, sizeof b, "", "Digest: sha256:abc", 0, 0, 12);
    assert_string_equal(b, "Digest: sha");
}

/* Feeds progress objects to ctl_progress_show() and returns what it wrote. */
static char *show_all(const char *const *msgs, size_t n, bool tty)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    ctl_pull_view v = {0};
    for (size_t i = 0; i < n; i++) {
        json_t *p = json_loads(msgs[i], 0, NULL);
        assert_non_null(p);
        ctl_progress_show(f, &v, p, tty, 40);
        json_decref(p);
    }
    fclose(f);
    return text;
}

static void test_progress_show(void **state)
{
    static const char *const msgs[] = {
        "{\"id\":\"l1\",\"status\":\"Pulling fs layer\",\"current\":0,\"total\":0}",
        "{\"id\":\"l2\",\"status\":\"Pulling fs layer\",\"current\":0,\"total\":0}",
        "{\"id\":\"l1\",\"status\":\"Downloading\",\"current\":5,\"total\":10}",
        "{\"id\":\"l1\",\"status\":\"Downloading\",\"current\":10,\"total\":10}",
        "{\"id\":\"l2\",\"status\":\"Pull complete\",\"current\":0,\"total\":0}",
    };
    char *t = show_all(msgs, 5, false);
    assert_string_equal(t, "l1: Pulling fs layer\nl2: Pulling fs layer\nl1: Downloading\n"
                           "l2: Pull complete\n");
    free(t);
    t = show_all(msgs, 5, true);
    assert_string_equal(t, "l1: Pulling fs layer\n"
                           "l2: Pulling fs layer\n"
                           /* 40 - 1 columns leave 13 and 12 for the bar */
                           "\033[2A\r\033[2Kl1: Downloading [======>      ]  5B/10B\n\033[1B"
                           "\033[2A\r\033[2Kl1: Downloading [============]  10B/10B\n\033[1B"
                           "\033[1A\r\033[2Kl2: Pull complete\n");
    free(t);
    /* a bulk piece; and what anyone may publish is escaped */
    static const char *const pieces[] = {
        "{\"piece\":1,\"of\":3,\"done\":1,\"node\":\"n\\u001b2\",\"ok\":true,\"id\":"
        "\"0123456789abcdef\"}",
        "{\"piece\":0,\"of\":3,\"done\":2,\"node\":\"n1\",\"ok\":false,\"error\":\"unavailable\"}",
    };
    t = show_all(pieces, 2, true);
    assert_string_equal(t, "[1/3] piece 1 on n\\x1b2: ok 0123456789ab\n"
                           "[2/3] piece 0 on n1: failed: unavailable\n");
    free(t);
}

static void test_events_filters(void **state)
{
    const char *ev = "{\"event\":\"container.exited\",\"node\":\"n1\",\"container\":{\"id\":"
                     "\"0123456789abcdef\",\"name\":\"web\",\"image\":\"busybox\"}}";
    const char *up = "{\"event\":\"node.up\",\"node\":\"n2\"}";
    struct {
        const char *filters[3];
        int ev, up;
    } cases[] = {
        {{NULL}, 1, 1},
        {{"type=container"}, 1, 0},
        {{"type=node"}, 0, 1},
        {{"event=die"}, 1, 0},
        {{"event=exited"}, 1, 0},
        {{"event=container.exited"}, 1, 0},
        {{"event=start"}, 0, 0},
        {{"event=start", "event=die"}, 1, 0},
        {{"node=n2"}, 0, 1},
        {{"container=0123"}, 1, 0},
        {{"container=web", "node=n1"}, 1, 0},
        {{"container=web", "node=n2"}, 0, 0},
        {{"image=busybox"}, 1, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ctl_ev_filters fs = {0};
        for (size_t j = 0; j < 3 && cases[i].filters[j]; j++)
            assert_int_equal(ctl_ev_filter_add(&fs, cases[i].filters[j]), 0);
        assert_int_equal(ctl_ev_matches(&fs, ev, strlen(ev)), cases[i].ev);
        assert_int_equal(ctl_ev_matches(&fs, up, strlen(up)), cases[i].up);
    }
    ctl_ev_filters fs = {0};
    assert_int_equal(ctl_ev_filter_add(&fs, "colour=red"), -1);
    assert_int_equal(ctl_ev_filter_add(&fs, "type"), -1);
    assert_int_equal(ctl_ev_filter_add(&fs, "type="), -1);
    char *bad[] = {"events", "--filter", "since=1", NULL};
    ctl_ev_watch w;
    assert_int_equal(ctl_ev_args(3, bad, &w), -1);
}

static void test_overview(void **state)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    ctl_overview(f);
    fclose(f);
    for (size_t i = 0; i < ctl_ncommands; i++)
        assert_non_null(strstr(text, ctl_commands[i].name));
    assert_non_null(strstr(text, "--help"));
    assert_non_null(strstr(text, "connects to amqp://"));
    assert_null(strstr(text, "guest:guest")); /* the password is not shown */
    free(text);
}

/* --help: every global option, every command with its arguments, the
 * exit statuses. */
static void test_usage(void **state)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_non_null(f);
    ctl_usage(f);
    fclose(f);
    for (size_t i = 0; i < ctl_ncommands; i++) {
        char line[256];
        snprintf(line, sizeof line, "\n  %s%s%s\n", ctl_commands[i].name,
                 ctl_commands[i].args[0] ? " " : "", ctl_commands[i].args);
        assert_non_null(strstr(text, line));
    }
    static const char *const opts[] = {
        "--amqp URL", "-q, --queue QUEUE", "--node NAME", "--timeout SECONDS",
        "--json",     "--user-id",         "--help",      "--version"};
    for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++)
        assert_non_null(strstr(text, opts[i]));
    assert_non_null(strstr(text, "exit status:"));
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_run_message),
        cmocka_unit_test(test_run_options_after_image),
        cmocka_unit_test(test_usage_errors),
        cmocka_unit_test(test_stop_rm_ps_messages),
        cmocka_unit_test(test_local_refusals),
        cmocka_unit_test(test_globals),
        cmocka_unit_test(test_reply_status),
        cmocka_unit_test(test_helpers),
        cmocka_unit_test(test_events_rendering),
        cmocka_unit_test(test_events_usage),
        cmocka_unit_test(test_listing_options),
        cmocka_unit_test(test_run_instances),
        cmocka_unit_test(test_ago),
        cmocka_unit_test(test_render_ps),
        cmocka_unit_test(test_render_images_nodes),
        cmocka_unit_test(test_render_inspect_bulk),
        cmocka_unit_test(test_progress_line),
        cmocka_unit_test(test_progress_show),
        cmocka_unit_test(test_events_filters),
        cmocka_unit_test(test_overview),
        cmocka_unit_test(test_usage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
