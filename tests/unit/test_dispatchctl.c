/*
 * test_dispatchctl.c -- dispatchctl's command line: the messages its
 * commands build, the local checks before publishing, the global options,
 * and how replies turn into exit statuses.  No broker involved: the program
 * is compiled in without its main().
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#define DISPATCHCTL_NO_MAIN
#include "dispatchctl.c"

/* Runs the builder of command argv[0] and returns its message as compact
 * JSON (caller frees), or NULL when the builder refused the arguments. */
static char *build(ctl_req *req, int argc, char **argv)
{
    const ctl_cmd *c = find_cmd(argv[0]);
    assert_non_null(c);
    memset(req, 0, sizeof *req);
    if (c->build(argc, argv, req) < 0)
        return NULL;
    if (req->msg == NULL)
        return NULL;
    return json_dumps(req->msg, JSON_COMPACT);
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
    assert_int_equal(check_local(&req, s, strlen(s)), 0);
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
    const ctl_cmd *c = find_cmd(argv[0]);
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
    const ctl_cmd *c = find_cmd("send");
    memset(&req, 0, sizeof req);
    assert_int_equal(c->build(2, send1, &req), 0);
    assert_string_equal(req.raw, "{}");
    assert_null(find_cmd("frob"));
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
    assert_int_equal(check_local(&req, s, strlen(s)), 0);
    free(s);
    json_decref(req.msg);

    s = build(&req, 4, rm);
    assert_string_equal(s, "{\"Dockercmd\":\"rm\",\"Container\":\"web1\",\"Options\":{\"Force\":"
                           "true,\"Volumes\":true}}");
    assert_int_equal(check_local(&req, s, strlen(s)), 0);
    free(s);
    json_decref(req.msg);

    s = build(&req, 2, ps);
    assert_string_equal(s, "{\"Dockercmd\":\"ps\",\"Options\":{\"All\":true}}");
    free(s);
    json_decref(req.msg);

    s = build(&req, 2, pull);
    assert_string_equal(s, "{\"Dockercmd\":\"pull\",\"Image\":\"localhost:5000/busybox:latest\"}");
    assert_int_equal(check_local(&req, s, strlen(s)), 0);
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
    assert_int_equal(check_local(&req, s, strlen(s)), EXIT_REFUSED);
    free(s);
    json_decref(req.msg);
    s = build(&req, 2, stop);
    assert_int_equal(check_local(&req, s, strlen(s)), EXIT_REFUSED);
    free(s);
    json_decref(req.msg);

    static const char *bad[] = {"{\"Dockercmd\": run}", "[1]", "", "{\"a\":1,\"a\":2}", "{"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memset(&req, 0, sizeof req);
        req.raw = bad[i];
        req.raw_len = strlen(bad[i]);
        assert_int_equal(check_local(&req, req.raw, req.raw_len), EXIT_REFUSED);
    }
    /* send leaves the schema to the dispatcher */
    memset(&req, 0, sizeof req);
    req.raw = "{\"Dockercmd\":\"nonsense\"}";
    req.raw_len = strlen(req.raw);
    assert_int_equal(check_local(&req, req.raw, req.raw_len), 0);

    size_t big = PROTO_DEFAULT_MAX_BODY + 16;
    char *huge = malloc(big + 1);
    assert_non_null(huge);
    memset(huge, ' ', big);
    huge[0] = '{';
    huge[big - 1] = '}';
    huge[big] = '\0';
    req.raw = huge;
    req.raw_len = big;
    assert_int_equal(check_local(&req, huge, big), EXIT_REFUSED);
    free(huge);
}

static void test_globals(void **state)
{
    ctl_opts o;
    bool help;
    char *a0[] = {"dispatchctl", "--amqp",    "amqp://u:p@127.0.0.1:1/",
                  "-q",          "qq",        "--node",
                  "n-1",         "--timeout", "9",
                  "--json",      "run",       "--rm",
                  "busybox",     NULL};
    char *a1[] = {"dispatchctl", "-q", "bad/queue", "ping", NULL};
    char *a2[] = {"dispatchctl", "--timeout", "0", "ping", NULL};
    char *a3[] = {"dispatchctl", "--amqp", "http://x/", "ping", NULL};
    char *a4[] = {"dispatchctl", "--json", NULL};
    char *a5[] = {"dispatchctl", "--help", NULL};
    char *a6[] = {"dispatchctl", "ping", NULL};

    setenv("DISPATCH_AMQP_URL", "amqp://e:e@127.0.0.1:2/", 1);
    setenv("DISPATCH_QUEUE", "envq", 1);
    memset(&o, 0, sizeof o);
    assert_int_equal(parse_globals(13, a0, &o, &help), 10);
    assert_string_equal(o.url, "amqp://u:p@127.0.0.1:1/");
    assert_string_equal(o.queue, "qq");
    assert_string_equal(o.node, "n-1");
    assert_int_equal(o.timeout_s, 9);
    assert_true(o.timeout_set);
    assert_true(o.json);

    memset(&o, 0, sizeof o);
    assert_int_equal(parse_globals(2, a6, &o, &help), 1);
    assert_string_equal(o.url, "amqp://e:e@127.0.0.1:2/");
    assert_string_equal(o.queue, "envq");
    assert_int_equal(o.timeout_s, DEFAULT_TIMEOUT);
    assert_false(o.timeout_set);
    unsetenv("DISPATCH_AMQP_URL");
    unsetenv("DISPATCH_QUEUE");
    memset(&o, 0, sizeof o);
    assert_int_equal(parse_globals(2, a6, &o, &help), 1);
    assert_string_equal(o.url, DEFAULT_URL);
    assert_string_equal(o.queue, DEFAULT_QUEUE);

    assert_int_equal(parse_globals(4, a1, &o, &help), -1);
    assert_int_equal(parse_globals(4, a2, &o, &help), -1);
    assert_int_equal(parse_globals(4, a3, &o, &help), -1);
    assert_int_equal(parse_globals(2, a4, &o, &help), -1);
    assert_false(help);
    assert_int_equal(parse_globals(2, a5, &o, &help), -1);
    assert_true(help);
}

/* Feeds body to handle_reply() as if it had come from the broker. */
static int reply_status(const char *body, bool json)
{
    ctl_opts o = {.json = json};
    ctl_req req = {0};
    broker_delivery d = {0};
    d.body = (unsigned char *)body;
    d.len = strlen(body);
    return handle_reply(&o, &req, &d);
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
    assert_int_equal(handle_reply(&o, &req, &d), EXIT_REFUSED);
}

static void test_helpers(void **state)
{
    char buf[64], a[33], b[33];
    long v;

    assert_true(broker_name_ok("dispatch.node.n-1_x"));
    assert_false(broker_name_ok(""));
    assert_false(broker_name_ok("a b"));
    assert_false(broker_name_ok("a/b"));
    assert_int_equal(parse_int("42", 0, 100, &v), 0);
    assert_int_equal(v, 42);
    assert_int_equal(parse_int("101", 0, 100, &v), -1);
    assert_int_equal(parse_int("4x", 0, 100, &v), -1);
    assert_int_equal(parse_int("", 0, 100, &v), -1);

    human_size(4261550, buf, sizeof buf);
    assert_string_equal(buf, "4.26MB");
    human_size(12, buf, sizeof buf);
    assert_string_equal(buf, "12B");
    short_id("sha256:0123456789abcdef", buf, sizeof buf);
    assert_string_equal(buf, "0123456789ab");
    short_id(NULL, buf, sizeof buf);
    assert_string_equal(buf, "");

    assert_int_equal(random_hex(a, 16), 0);
    assert_int_equal(random_hex(b, 16), 0);
    assert_int_equal(strlen(a), 32);
    assert_int_equal(strspn(a, "0123456789abcdef"), 32);
    assert_string_not_equal(a, b);
}

/* Renders body with print_event() into a string (caller frees). */
static char *render_event(const char *body)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_non_null(f);
    broker_delivery d = {0};
    d.body = (unsigned char *)(uintptr_t)body;
    d.len = strlen(body);
    print_event(f, &d);
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

/* events refuses bad arguments before it connects anywhere. */
static void test_events_usage(void **state)
{
    ctl_opts o = {.url = "amqp://127.0.0.1:1/", .queue = "q"};
    char *n0[] = {"events", "-n", "0", NULL};
    char *nx[] = {"events", "-n", "x", NULL};
    char *two[] = {"events", "a", "b", NULL};
    assert_int_equal(watch(&o, 3, n0), EXIT_USAGE);
    assert_int_equal(watch(&o, 3, nx), EXIT_USAGE);
    assert_int_equal(watch(&o, 3, two), EXIT_USAGE);
    const ctl_cmd *c = find_cmd("events");
    assert_non_null(c);
    assert_null(c->build);
}

int main(void)
{
    (void)call; /* the parts that need a broker are tested by hand and in the dispatch suite */
    (void)read_stdin;
    (void)usage;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_run_message),      cmocka_unit_test(test_run_options_after_image),
        cmocka_unit_test(test_usage_errors),     cmocka_unit_test(test_stop_rm_ps_messages),
        cmocka_unit_test(test_local_refusals),   cmocka_unit_test(test_globals),
        cmocka_unit_test(test_reply_status),     cmocka_unit_test(test_helpers),
        cmocka_unit_test(test_events_rendering), cmocka_unit_test(test_events_usage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
