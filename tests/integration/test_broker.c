/*
 * test_broker.c -- the broker module against a real RabbitMQ
 * ($DD_AMQP_URL, default amqp://guest:guest@127.0.0.1:5672/).
 *
 * Every test works on its own queue base name "dd-test-<pid>-<n>" and
 * deletes what it declared.  Checks that RabbitMQ does not expose over AMQP
 * (queue types and arguments, connection names) use rabbitmqctl
 * ($DD_RABBITMQCTL, lane.h), which talks to the lane's node.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../ports.h"
#include "broker.h"
#include "lane.h"

#define PASSWORD "guest"

static const char *amqp_url(void)
{
    return lane_amqp_url();
}

#define MAX_NAMES 128

/* Every base name handed out, so that the group teardown can delete what a
 * failed test left behind. */
static char names[MAX_NAMES][64];
static unsigned n_names;

/* A unique queue base name "dd-test-<pid>-<n>". */
static const char *uniq(void)
{
    assert_true(n_names < MAX_NAMES);
    char *b = names[n_names];
    snprintf(b, sizeof names[0], "dd-test-%ld-%u", (long)getpid(), n_names);
    n_names++;
    return b;
}

static long long mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void conf_for(broker_conf *c, const char *q, broker_role role)
{
    broker_conf_init(c);
    c->url = amqp_url();
    c->queue = q;
    c->role = role;
    c->node = "n1";
    c->heartbeat = 10;
    c->confirm_timeout_ms = 5000;
    c->reconnect_min_ms = 50;
    c->reconnect_max_ms = 400;
}

/* Opens a handle or fails the test, printing why. */
static broker *open_or_fail(const broker_conf *c)
{
    broker *b = NULL;
    char *cause = NULL;
    int rc = broker_open(c, &b, &cause);
    if (rc != 0)
        fprintf(stderr, "broker_open(%s): %s: %s\n", c->queue, broker_strerror(rc),
                cause ? cause : "");
    free(cause);
    assert_int_equal(rc, 0);
    assert_non_null(b);
    return b;
}

static broker *open_node(const char *q)
{
    broker_conf c;
    conf_for(&c, q, BROKER_ROLE_NODE);
    return open_or_fail(&c);
}

static broker *open_client(const char *q)
{
    broker_conf c;
    conf_for(&c, q, BROKER_ROLE_CLIENT);
    return open_or_fail(&c);
}

/* Deletes q's topology through a fresh client handle (works whatever state
 * the test's own handles are in). */
static void cleanup_topology(const char *q)
{
    broker *c = open_client(q);
    int rc = broker_topology_delete(c);
    if (rc != 0)
        fprintf(stderr, "cleanup %s: %s\n", q, broker_error(c));
    assert_int_equal(rc, 0);
    broker_free(c);
}

static int poll_one(broker *b, int timeout_ms, broker_delivery *d)
{
    int rc = broker_poll(b, timeout_ms, d);
    if (rc < 0)
        fprintf(stderr, "broker_poll: %s: %s\n", broker_strerror(rc), broker_error(b));
    return rc;
}

static void publish_ok(broker *b, const char *rk, const char *body, const broker_props *p)
{
    int rc = broker_publish(b, "", rk, p, body, strlen(body), 0);
    if (rc != 0)
        fprintf(stderr, "broker_publish: %s: %s\n", broker_strerror(rc), broker_error(b));
    assert_int_equal(rc, 0);
}

/* Waits up to timeout_ms for queue's ready count to become want; returns
 * the last count seen (or -1 if the queue is missing). */
static long wait_count(broker *b, const char *queue, uint32_t want, int timeout_ms)
{
    long long until = mono_ms() + timeout_ms;
    uint32_t m = 0;
    for (;;) {
        int rc = broker_queue_counts(b, queue, &m, NULL);
        if (rc != 0)
            return -1;
        if (m == want || mono_ms() >= until)
            return (long)m;
        sleep_ms(50);
    }
}

/* Runs a rabbitmqctl command line and returns its output (caller frees). */
static char *rabbitmqctl(const char *args)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s -q %s 2>&1", lane_rabbitmqctl(), args);
    FILE *f = popen(cmd, "r");
    if (!f)
        return NULL;
    size_t cap = 1 << 20, len = 0;
    char *out = malloc(cap);
    if (!out) {
        pclose(f);
        return NULL;
    }
    size_t n;
    while (len + 1 < cap && (n = fread(out + len, 1, cap - 1 - len, f)) > 0)
        len += n;
    out[len] = '\0';
    pclose(f);
    return out;
}

/* The line of out that starts with "name\t" (copied into line). */
static int find_line(const char *out, const char *name, char *line, size_t cap)
{
    size_t nl = strlen(name);
    for (const char *p = out; p && *p;) {
        const char *e = strchr(p, '\n');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len > nl && strncmp(p, name, nl) == 0 && p[nl] == '\t') {
            snprintf(line, cap, "%.*s", (int)len, p);
            return 1;
        }
        p = e ? e + 1 : NULL;
    }
    return 0;
}

/* ------------------------------------------------------------------------ */

static void topology_is_declared_with_its_arguments(void **state)
{
    const char *q = uniq();
    broker_conf c;
    conf_for(&c, q, BROKER_ROLE_NODE);
    c.delivery_limit = 3;
    broker *b = open_or_fail(&c);
    char name[128], line[2048];
    uint32_t m = 99, cons = 99;

    assert_string_equal(broker_name_work(b), q);
    snprintf(name, sizeof name, "%s.node.n1", q);
    assert_string_equal(broker_name_node(b), name);

    assert_int_equal(broker_queue_counts(b, q, &m, &cons), 0);
    assert_int_equal(m, 0);
    assert_int_equal(cons, 1);
    assert_int_equal(broker_queue_counts(b, name, &m, &cons), 0);
    assert_int_equal(cons, 1);
    assert_int_equal(broker_queue_counts(b, broker_name_dead(b), &m, &cons), 0);
    assert_int_equal(cons, 0);

    char *out = rabbitmqctl("list_queues name type durable arguments");
    assert_non_null(out);
    assert_true(find_line(out, q, line, sizeof line));
    assert_non_null(strstr(line, "\tquorum\ttrue\t"));
    assert_non_null(strstr(line, "{\"x-delivery-limit\",3}"));
    assert_non_null(strstr(line, "x-dead-letter-strategy"));
    assert_non_null(strstr(line, broker_name_dlx(b)));
    assert_true(find_line(out, name, line, sizeof line));
    assert_non_null(strstr(line, "\tquorum\ttrue\t"));
    assert_non_null(strstr(line, "{\"x-delivery-limit\",3}")); /* explicit: RabbitMQ 4 says 20 */
    assert_non_null(strstr(line, broker_name_dlx(b)));
    assert_true(find_line(out, broker_name_dead(b), line, sizeof line));
    assert_non_null(strstr(line, "\tquorum\ttrue\t")); /* as the work queue */
    free(out);

    out = rabbitmqctl("list_exchanges name type durable");
    assert_non_null(out);
    assert_true(find_line(out, broker_name_dlx(b), line, sizeof line));
    assert_non_null(strstr(line, "\tfanout\ttrue"));
    assert_true(find_line(out, broker_name_events(b), line, sizeof line));
    assert_non_null(strstr(line, "\ttopic\ttrue"));
    free(out);

    out = rabbitmqctl("list_bindings source_name destination_name");
    assert_non_null(out);
    assert_true(find_line(out, broker_name_dlx(b), line, sizeof line));
    assert_non_null(strstr(line, broker_name_dead(b)));
    free(out);

    assert_int_equal(broker_topology_delete(b), 0);
    assert_int_equal(broker_queue_counts(b, q, &m, &cons), BROKER_ENOTFOUND);
    broker_free(b);
}

static void publish_confirm_poll_ack(void **state)
{
    const char *q = uniq();
    broker *b = open_node(q);
    broker_header h[] = {{"x-a", "1"}, {"x-b", "two"}};
    broker_props p = {.content_type = "application/json",
                      .correlation_id = "corr-1",
                      .message_id = "msg-1",
                      .reply_to = "somewhere",
                      .type = "run",
                      .persistent = 1,
                      .headers = h,
                      .n_headers = 2};
    broker_delivery d;

    publish_ok(b, q, "{\"Dockercmd\":\"run\"}", &p);
    assert_int_equal(poll_one(b, 5000, &d), 1);
    assert_string_equal((char *)d.body, "{\"Dockercmd\":\"run\"}");
    assert_int_equal(d.len, strlen("{\"Dockercmd\":\"run\"}"));
    assert_string_equal(d.content_type, "application/json");
    assert_string_equal(d.correlation_id, "corr-1");
    assert_string_equal(d.message_id, "msg-1");
    assert_string_equal(d.reply_to, "somewhere");
    assert_string_equal(d.type, "run");
    assert_string_equal(d.exchange, "");
    assert_string_equal(d.routing_key, q);
    assert_string_equal(broker_delivery_header(&d, "x-a"), "1");
    assert_string_equal(broker_delivery_header(&d, "x-b"), "two");
    assert_null(broker_delivery_header(&d, "x-c"));
    assert_int_equal(d.persistent, 1);
    assert_int_equal(d.redelivered, 0);
    assert_int_equal(d.source, BROKER_SRC_WORK);
    assert_int_equal(d.oversize, 0);
    assert_int_equal(d.generation, broker_generation(b));
    assert_true(d.tag != 0);
    assert_int_equal(broker_ack(b, d.tag), 0);
    broker_delivery_cleanup(&d);

    /* a second message left unacked comes back after the connection
     * closes; the acked one does not */
    p.message_id = "msg-2";
    publish_ok(b, q, "second", &p);
    assert_int_equal(poll_one(b, 5000, &d), 1);
    assert_string_equal(d.message_id, "msg-2");
    broker_delivery_cleanup(&d);
    broker_free(b);

    b = open_node(q);
    assert_int_equal(poll_one(b, 5000, &d), 1);
    assert_string_equal(d.message_id, "msg-2");
    assert_int_equal(d.redelivered, 1);
    assert_int_equal(broker_ack(b, d.tag), 0);
    broker_delivery_cleanup(&d);
    assert_int_equal(poll_one(b, 700, &d), 0);
    assert_int_equal(broker_topology_delete(b), 0);
    broker_free(b);
}

static void node_queue_delivers_with_its_source(void **state)
{
    const char *q = uniq();
    broker *b = open_node(q);
    broker_delivery d;
    publish_ok(b, broker_name_node(b), "for n1", NULL);
    assert_int_equal(poll_one(b, 5000, &d), 1);
    assert_int_equal(d.source, BROKER_SRC_NODE);
    assert_string_equal((char *)d.body, "for n1");
    assert_int_equal(d.persistent, 0);
    assert_null(d.content_type);
    assert_int_equal(broker_ack(b, d.tag), 0);
    broker_delivery_cleanup(&d);
    assert_int_equal(broker_topology_delete(b), 0);
    broker_free(b);
}

static void poll_times_out(void **state)
{
    const char *q = uniq();
    broker *b = open_node(q);
    broker_delivery d;
    long long t0 = mono_ms();
    assert_int_equal(poll_one(b, 300, &d), 0);
    long long took = mono_ms() - t0;
    assert_in_range(took, 250, 2000);
    assert_int_equal(poll_one(b, 0, &d), 0);
    assert_int_equal(broker_topology_delete(b), 0);
    broker_free(b);
}

static void nack_requeue_redelivers(void **state)
{
    const char *q = uniq();
    broker *b = open_node(q);
    broker_props p = {.message_id = "again"};
    broker_delivery d;

    publish_ok(b, q, "payload", &p);
    assert_int_equal(poll_one(b, 5000, &d), 1);
    assert_int_equal(d.redelivered, 0);
    assert_int_equal(d.delivery_count, -1);
    assert_int_equal(broker_nack(b, d.tag, 1), 0);
    broker_delivery_cleanup(&d);

    assert_int_equal(poll_one(b, 5000, &d), 1);
    assert_string_equal(d.message_id, "again");
    assert_string_equal((char *)d.body, "payload");
    assert_int_equal(d.redelivered, 1);
    assert_int_equal(d.delivery_count, 1);
    assert_int_equal(broker_ack(b, d.tag), 0);
    broker_delivery_cleanup(&d);
    assert_int_equal(broker_topology_delete(b), 0);
    broker_free(b);
}

static void dead_letter_moves_a_copy_with_the_reason(void **state)
{
    const char *q = uniq();
    broker *b = open_node(q);
    broker_props p = {.message_id = "bad-1",
                      .correlation_id = "c-bad",
                      .reply_to = "back",
                      .content_type = "application/json"};
    broker_delivery d, g;

    publish_ok(b, q, "{not json", &p);
    assert_int_equal(poll_one(b, 5000, &d), 1);
    int rc = broker_dead_letter(b, &d, "bad_request: unexpected token");
    if (rc != 0)
        fprintf(stderr, "dead_letter: %s\n", broker_error(b));
    assert_int_equal(rc, 0);
    broker_delivery_cleanup(&d);

    assert_int_equal(broker_get(b, broker_name_dead(b), &g), 1);
    assert_int_equal(g.source, BROKER_SRC_GET);
    assert_string_equal((char *)g.body, "{not json");
    assert_string_equal(broker_delivery_header(&g, "x-dd-reason"), "bad_request: unexpected token");
    assert_string_equal(broker_delivery_header(&g, "x-dd-original-routing-key"), q);
    assert_string_equal(broker_delivery_header(&g, "x-dd-original-exchange"), "");
    assert_string_equal(broker_delivery_header(&g, "x-dd-original-reply-to"), "back");
    assert_string_equal(broker_delivery_header(&g, "x-dd-node"), "n1");
    assert_string_equal(g.message_id, "bad-1");
    assert_string_equal(g.correlation_id, "c-bad");
    assert_string_equal(g.content_type, "application/json");
    assert_int_equal(g.persistent, 1);
    /* the copy says why in its own headers: it carries no x-death (a
     * republished message does not continue the broker's count, and
     * RabbitMQ 3.13 and later ignore an x-death a client publishes) */
    assert_null(broker_delivery_header(&g, "x-death"));
    assert_int_equal(g.death_count, -1);
    broker_delivery_cleanup(&g);
    assert_int_equal(broker_get(b, broker_name_dead(b), &g), 0);

    /* the original was acked: a new connection finds nothing */
    broker_free(b);
    b = open_node(q);
    assert_int_equal(poll_one(b, 700, &d), 0);
    assert_int_equal(broker_topology_delete(b), 0);
    broker_free(b);
}

static void dead_letter_failure_requeues_the_original(void **state)
{
    const char *q = uniq();
    broker *b = open_node(q);
    broker *c = open_client(q);
    broker_delivery d;

    publish_ok(b, q, "keep me", NULL);
    assert_int_equal(poll_one(b, 5000, &d), 1);
    /* no dead-letter queue: the copy is unroutable */
    assert_int_equal(broker_queue_delete(c, broker_name_dead(c)), 0);
    int rc = broker_dead_letter(b, &d, "test");
    assert_int_equal(rc, BROKER_EUNROUTABLE);
    assert_non_null(strstr(broker_error(b), "requeued"));
    broker_delivery_cleanup(&d);
    assert_int_equal(poll_one(b, 5000, &d), 1);
    assert_string_equal((char *)d.body, "keep me");
    assert_int_equal(d.redelivered, 1);
    assert_int_equal(broker_ack(b, d.tag), 0);
    broker_delivery_cleanup(&d);
    broker_free(c);
    assert_int_equal(broker_topology_delete(b), 0);
    broker_free(b);
}

static void mandatory_unroutable_and_missing_exchange(void **state)
{
    const char *q = uniq();
    broker *c = open_client(q);
    char rk[96];
    snprintf(rk, sizeof rk, "%s-nosuchqueue", q);

    int rc = broker_publish(c, "", rk, NULL, "x", 1, BROKER_PUBLISH_MANDATORY);
    assert_int_equal(rc, BROKER_EUNROUTABLE);
    assert_non_null(strstr(broker_error(c), "NO_ROUTE"));
    /* without mandatory the broker drops it and still confirms */
    assert_int_equal(broker_publish(c, "", rk, NULL, "x", 1, 0), 0);

    uint32_t gen = broker_generation(c);
    char ex[96];
    snprintf(ex, sizeof ex, "%s-nosuchexchange", q);
    rc = broker_publish(c, ex, "k", NULL, "x", 1, 0);
    assert_int_equal(rc, BROKER_ENOTFOUND);
    assert_non_null(strstr(broker_error(c), "NOT_FOUND"));
    /* the channel was reopened: the handle keeps working */
    assert_int_equal(broker_connected(c), 1);
    assert_true(broker_generation(c) != gen);
    assert_int_equal(broker_publish(c, "", rk, NULL, "x", 1, 0), 0);
    broker_free(c);
}

/* Publishes in a batch are confirmed together and arrive in order; a
 * batch is bounded; a batch the broker refuses (no such exchange) ends in
 * BROKER_ECHANNEL with the handle working on. */
static void batched_publishes_are_confirmed_together(void **state)
{
    const char *q = uniq();
    broker *b = open_node(q);
    char body[32];
    size_t slot;
    for (int i = 0; i < 5; i++) {
        snprintf(body, sizeof body, "m%d", i);
        broker_props p = {.correlation_id = body, .persistent = 1};
        assert_int_equal(broker_publish_batched(b, "", q, &p, body, strlen(body), &slot), 0);
        assert_int_equal(slot, (size_t)i);
    }
    int out[BROKER_BATCH_MAX];
    assert_int_equal(broker_confirm_batch(b, out, 5), 0);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(out[i], 0);
        broker_delivery d;
        assert_int_equal(poll_one(b, 5000, &d), 1);
        snprintf(body, sizeof body, "m%d", i);
        assert_memory_equal(d.body, body, strlen(body));
        assert_string_equal(d.correlation_id, body);
        assert_int_equal(broker_ack(b, d.tag), 0);
        broker_delivery_cleanup(&d);
    }
    /* at most BROKER_BATCH_MAX at once */
    for (int i = 0; i < BROKER_BATCH_MAX; i++)
        assert_int_equal(broker_publish_batched(b, "", q, NULL, "x", 1, &slot), 0);
    assert_int_equal(broker_publish_batched(b, "", q, NULL, "x", 1, &slot), BROKER_ETOOBIG);
    assert_int_equal(broker_confirm_batch(b, out, 3), BROKER_EINVAL); /* not its size */
    /* a batch to an exchange that does not exist */
    char ex[96];
    snprintf(ex, sizeof ex, "%s-nosuchexchange", q);
    assert_int_equal(broker_publish_batched(b, ex, "k", NULL, "x", 1, &slot), 0);
    assert_int_equal(broker_publish_batched(b, "", q, NULL, "y", 1, &slot), 0);
    assert_int_equal(broker_confirm_batch(b, out, 2), BROKER_ECHANNEL);
    assert_int_equal(broker_connected(b), 1);
    assert_int_equal(broker_publish(b, "", q, NULL, "z", 1, 0), 0);
    broker_free(b);
}

/* A URL that does not fit the caller's buffer is refused, never cut short:
 * a cut password or vhost would reach another user or broker. */
static void lane_url_that_does_not_fit_is_refused(void **state)
{
    (void)state;
    char url[256], small[24];
    assert_non_null(lane_amqp_url_as(url, sizeof url, "guest", "pw", "vh"));
    assert_non_null(strstr(url, "guest:pw@"));
    assert_null(lane_amqp_url_as(small, sizeof small, "guest", "pw", "vh"));
    char user[300];
    memset(user, 'u', sizeof user - 1);
    user[sizeof user - 1] = '\0';
    assert_null(lane_amqp_url_as(url, sizeof url, user, "pw", ""));
}

static void wrong_password_is_an_auth_error_without_the_password(void **state)
{
    broker_conf c;
    broker *b = NULL;
    char *cause = NULL;
    char url[256], shown[256];
    const char *secret = "wrong-Secret-4711";
    assert_non_null(lane_amqp_url_as(url, sizeof url, "guest", secret, ""));
    assert_non_null(lane_amqp_url_as(shown, sizeof shown, "guest", "***", ""));
    conf_for(&c, uniq(), BROKER_ROLE_CLIENT);
    c.url = url;
    int rc = broker_open(&c, &b, &cause);
    assert_int_equal(rc, BROKER_EAUTH);
    assert_null(b);
    assert_non_null(cause);
    fprintf(stderr, "# cause: %s\n", cause);
    assert_null(strstr(cause, secret));
    assert_null(strstr(cause, "4711"));
    assert_non_null(strstr(cause, shown));
    assert_non_null(strstr(cause, "authentication refused"));
    free(cause);
}

/* A loopback port nothing listens on (connections to it are refused), from
 * the range tests/ports.h keeps for it. */
static int free_port(void)
{
    for (int p = DD_FIRST(DD_PORTS_NOTHING); p <= DD_LAST(DD_PORTS_NOTHING); p++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)p)};
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        assert_true(fd >= 0);
        int ok = bind(fd, (struct sockaddr *)&a, sizeof a) == 0;
        close(fd);
        if (ok)
            return p;
    }
    fail_msg("no free port in %d..%d", DD_FIRST(DD_PORTS_NOTHING), DD_LAST(DD_PORTS_NOTHING));
    return 0;
}

static void unreachable_port_is_reported_as_such(void **state)
{
    broker_conf c;
    broker *b = NULL;
    char *cause = NULL;
    char url[128], where[64];
    int port = free_port();
    snprintf(url, sizeof url, "amqp://guest:guest@127.0.0.1:%d/", port);
    snprintf(where, sizeof where, "127.0.0.1:%d", port);
    conf_for(&c, uniq(), BROKER_ROLE_CLIENT);
    c.url = url;
    int rc = broker_open(&c, &b, &cause);
    assert_int_equal(rc, BROKER_EUNREACHABLE);
    assert_non_null(cause);
    fprintf(stderr, "# cause: %s\n", cause);
    assert_non_null(strstr(cause, where));
    assert_null(strstr(cause, ":guest@"));
    free(cause);
}

/* Several URLs (the nodes of a RabbitMQ cluster): a node that does not
 * answer is passed over for the next; the one in use is reported. */
static void url_list_falls_over_to_the_next_node(void **state)
{
    broker_conf c;
    broker *b = NULL;
    char *cause = NULL;
    char url[512], dead[64];
    int port = free_port();
    snprintf(dead, sizeof dead, "127.0.0.1:%d", port);
    snprintf(url, sizeof url, "amqp://guest:guest@%s/, %s", dead, amqp_url());
    conf_for(&c, uniq(), BROKER_ROLE_CLIENT);
    c.url = url;
    int rc = broker_open(&c, &b, &cause);
    if (rc != 0)
        fprintf(stderr, "# cause: %s\n", cause ? cause : "?");
    assert_int_equal(rc, 0);
    assert_non_null(strstr(broker_url_redacted(b), lane_amqp_hostport()));
    assert_null(strstr(broker_url_redacted(b), "guest:guest"));
    broker_free(b);
    /* every node away: the last reason, without a password */
    snprintf(url, sizeof url, "amqp://guest:guest@%s/,amqp://guest:guest@%s/", dead, dead);
    conf_for(&c, uniq(), BROKER_ROLE_CLIENT);
    c.url = url;
    assert_int_equal(broker_open(&c, &b, &cause), BROKER_EUNREACHABLE);
    assert_non_null(strstr(cause, dead));
    assert_null(strstr(cause, ":guest@"));
    free(cause);
}

static void unknown_vhost_is_reported_as_such(void **state)
{
    broker_conf c;
    broker *b = NULL;
    char *cause = NULL;
    char url[256], vhost[64];
    snprintf(vhost, sizeof vhost, "dd-no-vhost-%ld", (long)getpid());
    assert_non_null(lane_amqp_url_as(url, sizeof url, NULL, NULL, vhost));
    conf_for(&c, uniq(), BROKER_ROLE_CLIENT);
    c.url = url;
    int rc = broker_open(&c, &b, &cause);
    assert_int_equal(rc, BROKER_EVHOST);
    assert_non_null(cause);
    fprintf(stderr, "# cause: %s\n", cause);
    assert_non_null(strstr(cause, "dd-no-vhost-"));
    free(cause);
}

static void tls_to_a_plain_port_is_a_tls_error(void **state)
{
    broker_conf c;
    broker *b = NULL;
    char *cause = NULL;
    char url[256], shown[256];
    snprintf(url, sizeof url, "amqps://guest:guest@%s/", lane_amqp_hostport());
    snprintf(shown, sizeof shown, "amqps://guest:***@%s/", lane_amqp_hostport());
    conf_for(&c, uniq(), BROKER_ROLE_CLIENT);
    c.url = url;
    c.connect_timeout_ms = 3000;
    int rc = broker_open(&c, &b, &cause);
    assert_int_equal(rc, BROKER_ETLS);
    assert_non_null(cause);
    fprintf(stderr, "# cause: %s\n", cause);
    assert_non_null(strstr(cause, shown));
    free(cause);

    c.tls_ca_file = "/nonexistent/ca.pem";
    rc = broker_open(&c, &b, &cause);
    assert_int_equal(rc, BROKER_ETLS);
    assert_non_null(strstr(cause, "/nonexistent/ca.pem"));
    free(cause);
}

static void bad_configuration_is_refused(void **state)
{
    broker_conf c;
    broker *b = NULL;
    char *cause = NULL;

    conf_for(&c, uniq(), BROKER_ROLE_CLIENT);
    c.url = "http://guest:" PASSWORD "@127.0.0.1/";
    assert_int_equal(broker_new(&c, &b, &cause), BROKER_EURL);
    assert_null(b);
    assert_non_null(cause);
    free(cause);

    conf_for(&c, uniq(), BROKER_ROLE_NODE);
    c.node = NULL;
    assert_int_equal(broker_new(&c, &b, &cause), BROKER_EINVAL);
    assert_non_null(strstr(cause, "node name"));
    free(cause);

    conf_for(&c, uniq(), BROKER_ROLE_NODE);
    c.prefetch = 0;
    assert_int_equal(broker_new(&c, &b, NULL), BROKER_EINVAL);

    /* the URL forms people write */
    conf_for(&c, uniq(), BROKER_ROLE_CLIENT);
    c.url = "amqp://guest:" PASSWORD "@localhost:5672";
    assert_int_equal(broker_new(&c, &b, NULL), 0);
    assert_string_equal(broker_url_redacted(b), "amqp://guest:***@localhost:5672/");
    assert_int_equal(broker_connected(b), 0);
    broker_delivery d;
    assert_int_equal(broker_poll(b, 0, &d), BROKER_ENOTCONN);
    broker_free(b);
    c.url = "amqps://u:p@example.test/my%2fvhost";
    assert_int_equal(broker_new(&c, &b, NULL), 0);
    assert_string_equal(broker_url_redacted(b), "amqps://u:***@example.test:5671/my%2Fvhost");
    broker_free(b);
}

static void direct_reply_to_round_trip(void **state)
{
    const char *q = uniq();
    broker *n = open_node(q);
    broker *c = open_client(q);
    broker_delivery d, r;

    assert_int_equal(broker_rpc_begin(c), 0);
    broker_props p = {.reply_to = BROKER_REPLY_TO, .correlation_id = "rpc-1"};
    publish_ok(c, q, "ping", &p);

    assert_int_equal(poll_one(n, 5000, &d), 1);
    assert_non_null(d.reply_to);
    assert_memory_equal(d.reply_to, BROKER_REPLY_TO ".", strlen(BROKER_REPLY_TO) + 1);
    broker_props rp = {.correlation_id = d.correlation_id};
    publish_ok(n, d.reply_to, "pong", &rp);
    assert_int_equal(broker_ack(n, d.tag), 0);
    broker_delivery_cleanup(&d);

    assert_int_equal(poll_one(c, 5000, &r), 1);
    assert_int_equal(r.source, BROKER_SRC_REPLY);
    assert_true(r.tag == 0);
    assert_string_equal(r.correlation_id, "rpc-1");
    assert_string_equal((char *)r.body, "pong");
    assert_int_equal(broker_ack(c, r.tag), 0); /* a no-op */
    broker_delivery_cleanup(&r);

    broker_free(c);
    assert_int_equal(broker_topology_delete(n), 0);
    broker_free(n);
}

/* Many replies arriving while the asker is busy publishing (a bulk
 * request's pieces answering): every one is kept for broker_poll(), not
 * only a prefetch window's worth. */
static void many_replies_during_a_publish_are_kept(void **state)
{
    enum { N = 400 };
    const char *q = uniq();
    broker *n = open_node(q);
    broker *c = open_client(q);
    assert_int_equal(broker_rpc_begin(c), 0);
    for (int i = 0; i < N; i++) {
        char corr[32];
        snprintf(corr, sizeof corr, "many-%d", i);
        broker_props p = {.reply_to = BROKER_REPLY_TO, .correlation_id = corr};
        publish_ok(c, q, "ask", &p);
    }
    for (int i = 0; i < N; i++) {
        broker_delivery d;
        assert_int_equal(poll_one(n, 5000, &d), 1);
        broker_props rp = {.correlation_id = d.correlation_id};
        publish_ok(n, d.reply_to, "answer", &rp);
        assert_int_equal(broker_ack(n, d.tag), 0);
        broker_delivery_cleanup(&d);
    }
    /* every answer is on c's socket by now; one more publish reads them
     * all while it waits for its confirm */
    usleep(300 * 1000);
    broker_props p = {.correlation_id = "last"};
    publish_ok(c, q, "last", &p);
    int got = 0;
    broker_delivery r;
    while (got < N && poll_one(c, 2000, &r) == 1) {
        got += r.source == BROKER_SRC_REPLY;
        broker_delivery_cleanup(&r);
    }
    assert_int_equal(got, N);
    broker_free(c);
    assert_int_equal(broker_topology_delete(n), 0);
    broker_free(n);
}

struct responder {
    const char *q;
    int answered;
    int rc;
};

/* A node on its own thread (its own handle) that answers one request. */
static void *respond_once(void *arg)
{
    struct responder *r = arg;
    broker_conf c;
    broker *n = NULL;
    conf_for(&c, r->q, BROKER_ROLE_NODE);
    c.node = "n2";
    r->rc = broker_open(&c, &n, NULL);
    if (r->rc != 0)
        return NULL;
    broker_delivery d;
    for (int i = 0; i < 50 && !r->answered; i++) {
        int rc = broker_poll(n, 200, &d);
        if (rc < 0) {
            r->rc = rc;
            break;
        }
        if (rc == 0)
            continue;
        broker_props p = {.correlation_id = d.correlation_id};
        char body[300];
        snprintf(body, sizeof body, "re:%s", (char *)d.body);
        r->rc = broker_publish(n, "", d.reply_to, &p, body, strlen(body), 0);
        broker_ack(n, d.tag);
        broker_delivery_cleanup(&d);
        r->answered = 1;
    }
    broker_topology_delete(n);
    broker_free(n);
    return NULL;
}

static void call_waits_for_its_reply(void **state)
{
    const char *q = uniq();
    struct responder r = {.q = q};
    pthread_t t;
    broker *c = open_client(q);
    broker_delivery reply;

    /* the work queue does not exist yet: unroutable */
    assert_int_equal(broker_call(c, "", q, NULL, "x", 1, 500, &reply), BROKER_EUNROUTABLE);

    assert_int_equal(pthread_create(&t, NULL, respond_once, &r), 0);
    /* wait until the responder consumes */
    uint32_t cons = 0;
    for (int i = 0; i < 100 && cons == 0; i++) {
        broker_queue_counts(c, q, NULL, &cons);
        if (cons == 0)
            sleep_ms(50);
    }
    assert_int_equal(cons, 1);
    broker_props p = {.message_id = "call-1"};
    int rc = broker_call(c, "", q, &p, "hello", 5, 5000, &reply);
    if (rc != 0)
        fprintf(stderr, "broker_call: %s\n", broker_error(c));
    assert_int_equal(rc, 0);
    assert_string_equal((char *)reply.body, "re:hello");
    assert_int_equal(reply.source, BROKER_SRC_REPLY);
    assert_non_null(reply.correlation_id);
    broker_delivery_cleanup(&reply);
    pthread_join(t, NULL);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.answered, 1);
    broker_free(c);
}

static void call_times_out_without_an_answer(void **state)
{
    const char *q = uniq();
    broker *n = open_node(q);
    broker *c = open_client(q);
    broker_delivery reply;
    long long t0 = mono_ms();
    assert_int_equal(broker_call(c, "", q, NULL, "nobody", 6, 400, &reply), BROKER_ETIMEOUT);
    assert_in_range(mono_ms() - t0, 350, 3000);
    broker_free(c);
    assert_int_equal(broker_topology_delete(n), 0);
    broker_free(n);
}

static void queue_type_mismatch_is_explained(void **state)
{
    const char *q = uniq();
    broker_conf c;
    broker *b = NULL;
    char *cause = NULL;

    conf_for(&c, q, BROKER_ROLE_NODE);
    c.queue_type = BROKER_QUEUE_CLASSIC;
    b = open_or_fail(&c);
    broker_free(b);

    c.queue_type = BROKER_QUEUE_QUORUM;
    int rc = broker_open(&c, &b, &cause);
    assert_int_equal(rc, BROKER_ETOPOLOGY);
    assert_null(b);
    fprintf(stderr, "# cause: %s\n", cause);
    assert_non_null(strstr(cause, "exists as classic"));
    assert_non_null(strstr(cause, "--queue-type classic"));
    assert_non_null(strstr(cause, q));
    free(cause);
    cleanup_topology(q);

    /* and the other way round */
    q = uniq();
    conf_for(&c, q, BROKER_ROLE_NODE);
    b = open_or_fail(&c);
    broker_free(b);
    c.queue_type = BROKER_QUEUE_CLASSIC;
    rc = broker_open(&c, &b, &cause);
    assert_int_equal(rc, BROKER_ETOPOLOGY);
    fprintf(stderr, "# cause: %s\n", cause);
    assert_non_null(strstr(cause, "exists as quorum"));
    assert_non_null(strstr(cause, "--queue-type quorum"));
    free(cause);

    /* a different delivery limit is another argument mismatch */
    c.queue_type = BROKER_QUEUE_QUORUM;
    c.delivery_limit = 9;
    rc = broker_open(&c, &b, &cause);
    fprintf(stderr, "# cause: %s\n", cause ? cause : "(none)");
    assert_int_equal(rc, BROKER_ETOPOLOGY);
    assert_non_null(strstr(cause, "x-delivery-limit"));
    free(cause);
    cleanup_topology(q);
}

/* The type RabbitMQ gives queue name ("classic", "quorum"), into type; 0
 * when it is not listed. */
static int queue_type_of(const char *name, char *type, size_t cap)
{
    char *out = rabbitmqctl("list_queues name type");
    int found = 0;
    for (char *p = out; p && *p && !found;) {
        char *e = strchr(p, '\n');
        if (e)
            *e = '\0';
        size_t n = strcspn(p, "\t");
        if (strlen(name) == n && strncmp(p, name, n) == 0 && p[n] == '\t') {
            snprintf(type, cap, "%s", p + n + 1);
            found = 1;
        }
        p = e ? e + 1 : NULL;
    }
    free(out);
    return found;
}

/* The dead-letter queue has the work queue's type (a quorum one is
 * replicated over a RabbitMQ cluster); a classic one an earlier version
 * made is used as it is. */
static void dead_letter_queue_follows_the_queue_type(void **state)
{
    (void)state;
    /* quorum by default: topology_is_declared_with_its_arguments; an
     * earlier version's classic one is kept, and the node connects */
    const char *q = uniq();
    broker_conf c;
    char dead[128], type[32];
    conf_for(&c, q, BROKER_ROLE_NODE);
    c.queue_type = BROKER_QUEUE_CLASSIC;
    broker *b = open_or_fail(&c);
    char node_q[128];
    snprintf(node_q, sizeof node_q, "%s.node.n1", q);
    broker_free(b);
    broker_conf cc;
    conf_for(&cc, q, BROKER_ROLE_CLIENT);
    b = open_or_fail(&cc);
    assert_int_equal(broker_queue_delete(b, q), 0);
    assert_int_equal(broker_queue_delete(b, node_q), 0);
    broker_free(b);
    snprintf(dead, sizeof dead, "%s.dead", q);
    c.queue_type = BROKER_QUEUE_QUORUM;
    b = open_or_fail(&c);
    assert_true(queue_type_of(dead, type, sizeof type));
    assert_string_equal(type, "classic");
    assert_true(queue_type_of(q, type, sizeof type));
    assert_string_equal(type, "quorum");
    broker_free(b);
    cleanup_topology(q);
}

/* The pid of the connection named name, from rabbitmqctl (copied into pid). */
static int connection_pid(const char *name, char *pid, size_t cap)
{
    for (int tries = 0; tries < 20; tries++) {
        char *out = rabbitmqctl("list_connections pid client_properties");
        if (!out)
            return 0;
        char *p = out;
        while (p && *p) {
            char *e = strchr(p, '\n');
            if (e)
                *e = '\0';
            if (strstr(p, name) && p[0] == '<') {
                size_t n = strcspn(p, "\t");
                snprintf(pid, cap, "%.*s", (int)n, p);
                free(out);
                return 1;
            }
            p = e ? e + 1 : NULL;
        }
        free(out);
        sleep_ms(200);
    }
    return 0;
}

static unsigned retries_seen;

static void count_retry(void *arg, unsigned attempt, int err, const char *cause, unsigned delay)
{
    retries_seen++;
}

static void reconnects_after_the_broker_closes_the_connection(void **state)
{
    const char *q = uniq();
    char name[96], pid[128], cmd[512];
    broker_conf c;
    broker_delivery d;

    snprintf(name, sizeof name, "dd-test-conn-%ld-%s", (long)getpid(), q);
    conf_for(&c, q, BROKER_ROLE_NODE);
    c.connection_name = name;
    c.on_retry = count_retry;
    broker *b = open_or_fail(&c);
    uint32_t gen = broker_generation(b);

    broker_props p = {.message_id = "survivor"};
    publish_ok(b, q, "work", &p);
    assert_int_equal(poll_one(b, 5000, &d), 1);
    assert_int_equal(d.redelivered, 0);

    assert_true(connection_pid(name, pid, sizeof pid));
    snprintf(cmd, sizeof cmd, "close_connection '%s' 'dd-test forced close'", pid);
    free(rabbitmqctl(cmd));

    broker_delivery x;
    int rc = 0;
    long long until = mono_ms() + 10000;
    while (rc >= 0 && mono_ms() < until) {
        rc = broker_poll(b, 500, &x);
        if (rc == 1)
            broker_delivery_cleanup(&x);
    }
    assert_int_equal(rc, BROKER_ECONNLOST);
    fprintf(stderr, "# error: %s\n", broker_error(b));
    assert_non_null(strstr(broker_error(b), "CONNECTION_FORCED"));
    assert_int_equal(broker_connected(b), 0);
    assert_int_equal(broker_ack(b, d.tag), BROKER_ESTALE);
    assert_int_equal(broker_publish(b, "", q, NULL, "x", 1, 0), BROKER_ENOTCONN);

    volatile int stop = 0;
    assert_int_equal(broker_reconnect(b, &stop), 0);
    assert_int_equal(broker_connected(b), 1);
    assert_true(broker_generation(b) != gen);
    /* an old tag stays harmless after the reconnect too */
    assert_int_equal(broker_ack(b, d.tag), BROKER_ESTALE);
    broker_delivery_cleanup(&d);

    assert_int_equal(poll_one(b, 5000, &d), 1);
    assert_string_equal(d.message_id, "survivor");
    assert_int_equal(d.redelivered, 1);
    assert_int_equal(broker_ack(b, d.tag), 0);
    broker_delivery_cleanup(&d);
    assert_int_equal(broker_topology_delete(b), 0);
    broker_free(b);
}

static void reconnect_retries_and_can_be_stopped(void **state)
{
    broker_conf c;
    broker *b = NULL;
    char url[128];
    snprintf(url, sizeof url, "amqp://guest:guest@127.0.0.1:%d/", free_port());
    conf_for(&c, uniq(), BROKER_ROLE_CLIENT);
    c.url = url;
    c.on_retry = count_retry;
    assert_int_equal(broker_new(&c, &b, NULL), 0);
    retries_seen = 0;

    /* stop after a few attempts from another thread's point of view: here
     * the flag is already set, so it returns at once */
    volatile int stop = 1;
    assert_int_equal(broker_reconnect(b, &stop), BROKER_ESTOPPED);
    assert_int_equal(retries_seen, 0);
    broker_free(b);
}

struct stopper {
    volatile int stop;
    int after_ms;
};

static void *stop_later(void *arg)
{
    struct stopper *s = arg;
    sleep_ms(s->after_ms);
    __atomic_store_n(&s->stop, 1, __ATOMIC_RELEASE);
    return NULL;
}

static void reconnect_backs_off_until_stopped(void **state)
{
    broker_conf c;
    broker *b = NULL;
    char url[128];
    struct stopper s = {.stop = 0, .after_ms = 1500};
    pthread_t t;

    snprintf(url, sizeof url, "amqp://guest:guest@127.0.0.1:%d/", free_port());
    conf_for(&c, uniq(), BROKER_ROLE_CLIENT);
    c.url = url;
    c.on_retry = count_retry;
    assert_int_equal(broker_new(&c, &b, NULL), 0);
    retries_seen = 0;
    assert_int_equal(pthread_create(&t, NULL, stop_later, &s), 0);
    long long t0 = mono_ms();
    assert_int_equal(broker_reconnect(b, &s.stop), BROKER_ESTOPPED);
    long long took = mono_ms() - t0;
    pthread_join(t, NULL);
    assert_in_range(took, 1400, 3000);
    /* 50 ms doubling to 400 ms with full jitter: several attempts, but far
     * fewer than a busy loop would make */
    assert_in_range(retries_seen, 3, 200);
    broker_free(b);
}

static void delivery_limit_ends_in_the_dead_letter_queue(void **state)
{
    const char *q = uniq();
    broker_conf c;
    broker_delivery d;
    conf_for(&c, q, BROKER_ROLE_NODE);
    c.delivery_limit = 2;
    broker *b = open_or_fail(&c);

    broker_props p = {.message_id = "poison"};
    publish_ok(b, q, "crash", &p);
    int deliveries = 0, rc;
    while ((rc = poll_one(b, 1500, &d)) == 1) {
        deliveries++;
        assert_string_equal(d.message_id, "poison");
        assert_int_equal(broker_nack(b, d.tag, 1), 0);
        broker_delivery_cleanup(&d);
        assert_true(deliveries < 10);
    }
    assert_int_equal(rc, 0);
    /* delivered once, then redelivered up to the limit */
    assert_int_equal(deliveries, 3);
    assert_int_equal(wait_count(b, broker_name_dead(b), 1, 5000), 1);
    assert_int_equal(broker_get(b, broker_name_dead(b), &d), 1);
    assert_string_equal((char *)d.body, "crash");
    assert_string_equal(d.message_id, "poison");
    assert_string_equal(broker_delivery_header(&d, "x-first-death-reason"), "delivery_limit");
    assert_int_equal(d.death_count, 1);
    broker_delivery_cleanup(&d);
    assert_int_equal(broker_topology_delete(b), 0);
    broker_free(b);
}

/* The dead-letter queue keeps its messages however often they are looked
 * at and put back: RabbitMQ 4 gives a quorum queue without a delivery
 * limit a limit of 20, after which a message is dropped (the dead-letter
 * queue has no dead-letter queue of its own), so it is declared with no
 * limit on RabbitMQ 4 (-1, which RabbitMQ 3 reads as "none at all" and
 * so is not sent there: without the argument RabbitMQ 3 has no limit). */
static void dead_letters_survive_being_put_back(void **state)
{
    const char *q = uniq();
    broker *b = open_node(q);
    fprintf(stderr, "# RabbitMQ %s\n", broker_server_version(b));
    publish_ok(b, broker_name_dead(b), "kept", NULL);
    assert_int_equal(wait_count(b, broker_name_dead(b), 1, 5000), 1);
    /* a reader whose body cap (1 byte) makes broker_get put it back */
    broker_conf c;
    conf_for(&c, q, BROKER_ROLE_CLIENT);
    c.max_body = 1;
    broker *peek = open_or_fail(&c);
    broker_delivery d;
    for (int i = 0; i < 25; i++) {
        int rc = broker_get(peek, broker_name_dead(b), &d);
        if (rc != BROKER_ETOOBIG)
            fprintf(stderr, "look %d: %d: %s\n", i, rc, broker_error(peek));
        assert_int_equal(rc, BROKER_ETOOBIG);
    }
    broker_free(peek);
    assert_int_equal(broker_get(b, broker_name_dead(b), &d), 1);
    assert_string_equal((char *)d.body, "kept");
    broker_delivery_cleanup(&d);
    assert_int_equal(broker_topology_delete(b), 0);
    broker_free(b);
}

/* No queue the module declares is transient and shared (not durable, not
 * exclusive), which RabbitMQ 4.3 refuses (4.0 refuses it too with
 * deprecated_features.permit.transient_nonexcl_queues = false, closing the
 * whole connection): the node's topology, its identity lock and a watch
 * queue, and a client's direct reply-to, which is no queue at all.
 * (RabbitMQ 3.10 lists no "exclusive" column: an exclusive queue is one
 * with an owner.) */
static void no_queue_is_transient_and_shared(void **state)
{
    const char *q = uniq();
    broker *b = open_node(q);
    assert_int_equal(broker_watch(b, "#"), 0);
    broker *cli = open_client(q);
    assert_int_equal(broker_rpc_begin(cli), 0);
    char *out = rabbitmqctl("list_queues name durable owner_pid");
    assert_non_null(out);
    int ours = 0, bad = 0;
    char *save = NULL;
    for (char *line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char name[256] = "", durable[16] = "", owner[128] = "";
        if (sscanf(line, "%255[^\t]\t%15[^\t]\t%127[^\t]", name, durable, owner) < 2)
            continue;
        if (strncmp(name, q, strlen(q)) != 0 && strncmp(name, "amq.gen-", 8) != 0)
            continue;
        ours++;
        if (strcmp(durable, "false") == 0 && owner[0] != '<') {
            fprintf(stderr, "transient and shared: %s\n", line);
            bad++;
        }
    }
    free(out);
    assert_true(ours >= 5); /* work, node, dead, the lock, the watch */
    assert_int_equal(bad, 0);
    broker_free(cli);
    assert_int_equal(broker_topology_delete(b), 0);
    broker_free(b);
}

static void nack_without_requeue_dead_letters_through_the_dlx(void **state)
{
    const char *q = uniq();
    broker *b = open_node(q);
    broker_delivery d;
    publish_ok(b, q, "reject me", NULL);
    assert_int_equal(poll_one(b, 5000, &d), 1);
    assert_int_equal(broker_nack(b, d.tag, 0), 0);
    broker_delivery_cleanup(&d);
    assert_int_equal(wait_count(b, broker_name_dead(b), 1, 5000), 1);
    assert_int_equal(broker_get(b, broker_name_dead(b), &d), 1);
    assert_string_equal(broker_delivery_header(&d, "x-first-death-reason"), "rejected");
    broker_delivery_cleanup(&d);
    assert_int_equal(broker_topology_delete(b), 0);
    broker_free(b);
}

static void pause_and_resume(void **state)
{
    const char *q = uniq();
    broker *b = open_node(q);
    broker_delivery d;
    uint32_t m = 0, cons = 9;

    assert_int_equal(broker_consume_pause(b), 0);
    assert_int_equal(broker_consume_paused(b), 1);
    publish_ok(b, q, "wait for me", NULL);
    assert_int_equal(wait_count(b, q, 1, 3000), 1);
    assert_int_equal(broker_queue_counts(b, q, &m, &cons), 0);
    assert_int_equal(cons, 0);
    assert_int_equal(poll_one(b, 300, &d), 0);

    assert_int_equal(broker_consume_resume(b), 0);
    assert_int_equal(poll_one(b, 5000, &d), 1);
    assert_string_equal((char *)d.body, "wait for me");
    assert_int_equal(broker_ack(b, d.tag), 0);
    broker_delivery_cleanup(&d);
    assert_int_equal(broker_queue_counts(b, q, &m, &cons), 0);
    assert_int_equal(cons, 1);
    assert_int_equal(broker_topology_delete(b), 0);
    broker_free(b);
}

static void deleted_work_queue_is_redeclared_and_consumed(void **state)
{
    const char *q = uniq();
    broker *b = open_node(q);
    broker *c = open_client(q);
    broker_delivery d;
    uint32_t cons = 0;

    assert_int_equal(broker_queue_delete(c, q), 0);
    /* the node hears basic.cancel, declares the queue again, consumes */
    assert_int_equal(poll_one(b, 1000, &d), 0);
    assert_int_equal(broker_queue_counts(c, q, NULL, &cons), 0);
    assert_int_equal(cons, 1);
    publish_ok(c, q, "after delete", NULL);
    assert_int_equal(poll_one(b, 5000, &d), 1);
    assert_string_equal((char *)d.body, "after delete");
    assert_int_equal(broker_ack(b, d.tag), 0);
    broker_delivery_cleanup(&d);
    broker_free(c);
    assert_int_equal(broker_topology_delete(b), 0);
    broker_free(b);
}

static void oversize_body_is_not_read_and_goes_to_dead(void **state)
{
    const char *q = uniq();
    broker_conf c;
    broker_delivery d;
    char big[1000];
    conf_for(&c, q, BROKER_ROLE_NODE);
    c.max_body = 64;
    broker *b = open_or_fail(&c);

    memset(big, 'z', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    broker_props p = {.message_id = "huge", .reply_to = "answer-here"};
    publish_ok(b, q, big, &p);
    assert_int_equal(poll_one(b, 5000, &d), 1);
    assert_int_equal(d.oversize, 1);
    assert_int_equal(d.len, 0);
    assert_null(d.body);
    assert_true(d.body_size == sizeof big - 1);
    assert_true(d.tag == 0);
    assert_string_equal(d.reply_to, "answer-here");
    assert_string_equal(d.message_id, "huge");
    broker_delivery_cleanup(&d);
    assert_int_equal(wait_count(b, broker_name_dead(b), 1, 5000), 1);
    /* broker_get leaves a message it cannot hold in the queue */
    assert_int_equal(broker_get(b, broker_name_dead(b), &d), BROKER_ETOOBIG);
    assert_int_equal(wait_count(b, broker_name_dead(b), 1, 5000), 1);
    assert_int_equal(broker_topology_delete(b), 0);
    broker_free(b);
}

static void channel_error_is_recovered(void **state)
{
    const char *q = uniq();
    broker *b = open_node(q);
    broker_delivery d;

    publish_ok(b, q, "one", NULL);
    assert_int_equal(poll_one(b, 5000, &d), 1);
    uint32_t gen = broker_generation(b);
    /* acking twice is a caller bug the broker punishes by closing the
     * channel (PRECONDITION_FAILED - unknown delivery tag) */
    assert_int_equal(broker_ack(b, d.tag), 0);
    assert_int_equal(broker_ack(b, d.tag), 0);
    broker_delivery_cleanup(&d);
    int rc = broker_poll(b, 3000, &d);
    assert_int_equal(rc, BROKER_ECHANNEL);
    assert_non_null(strstr(broker_error(b), "unknown delivery tag"));
    assert_int_equal(broker_connected(b), 1);
    assert_true(broker_generation(b) != gen);

    publish_ok(b, q, "two", NULL);
    assert_int_equal(poll_one(b, 5000, &d), 1);
    assert_string_equal((char *)d.body, "two");
    assert_int_equal(broker_ack(b, d.tag), 0);
    broker_delivery_cleanup(&d);
    assert_int_equal(broker_topology_delete(b), 0);
    broker_free(b);
}

static void missing_queue_inspection_leaves_consumers_alone(void **state)
{
    const char *q = uniq();
    broker *b = open_node(q);
    broker_delivery d;
    char missing[96];
    snprintf(missing, sizeof missing, "%s-missing", q);
    assert_int_equal(broker_queue_counts(b, missing, NULL, NULL), BROKER_ENOTFOUND);
    assert_non_null(strstr(broker_error(b), "NOT_FOUND"));
    assert_int_equal(broker_connected(b), 1);
    uint32_t gen = broker_generation(b);
    publish_ok(b, q, "still here", NULL);
    assert_int_equal(poll_one(b, 5000, &d), 1);
    assert_int_equal(d.generation, gen);
    assert_int_equal(broker_ack(b, d.tag), 0);
    broker_delivery_cleanup(&d);
    assert_int_equal(broker_queue_counts(b, missing, NULL, NULL), BROKER_ENOTFOUND);
    assert_int_equal(broker_queue_delete(b, missing), 0);
    assert_int_equal(broker_topology_delete(b), 0);
    broker_free(b);
}

static void deliveries_during_a_publish_wait_are_kept(void **state)
{
    const char *q = uniq();
    broker *b = open_node(q);
    broker *c = open_client(q);
    broker_delivery d;
    char other[96];
    snprintf(other, sizeof other, "%s-other", q);

    /* three messages for b arrive while b itself publishes and waits */
    for (int i = 0; i < 3; i++)
        publish_ok(c, q, "queued", NULL);
    sleep_ms(200);
    for (int i = 0; i < 5; i++)
        assert_int_equal(broker_publish(b, "", other, NULL, "x", 1, 0), 0);
    int got = 0;
    while (poll_one(b, 1000, &d) == 1) {
        assert_string_equal((char *)d.body, "queued");
        assert_int_equal(broker_ack(b, d.tag), 0);
        broker_delivery_cleanup(&d);
        got++;
    }
    assert_int_equal(got, 3);
    broker_free(c);
    assert_int_equal(broker_topology_delete(b), 0);
    broker_free(b);
}

static void long_poll_is_kept_alive_by_heartbeats(void **state)
{
    const char *q = uniq();
    broker_conf c;
    broker_delivery d;
    conf_for(&c, q, BROKER_ROLE_NODE);
    c.heartbeat = 1;
    broker *b = open_or_fail(&c);
    /* one call four times as long as the heartbeat: the library answers
     * heartbeats while it waits */
    assert_int_equal(poll_one(b, 4000, &d), 0);
    assert_int_equal(broker_connected(b), 1);
    publish_ok(b, q, "alive", NULL);
    assert_int_equal(poll_one(b, 5000, &d), 1);
    assert_int_equal(broker_ack(b, d.tag), 0);
    broker_delivery_cleanup(&d);
    assert_int_equal(broker_topology_delete(b), 0);
    broker_free(b);
}

/* Writes to the eventfd *arg after 2.5 s. */
static void *wake_later(void *arg)
{
    uint64_t one = 1;
    sleep_ms(2500);
    if (write(*(int *)arg, &one, sizeof one) != (ssize_t)sizeof one)
        fprintf(stderr, "# could not write the eventfd\n");
    return NULL;
}

/* The wake fd ends a poll at once even after heartbeats came in meanwhile
 * (rabbitmq-c swallows a heartbeat and waits on for the next frame, deaf
 * to the fd, so a poll entered with the socket readable must not block in
 * the library). */
static void wake_fd_ends_a_poll_after_heartbeats(void **state)
{
    const char *q = uniq();
    broker_conf c;
    broker_delivery d;
    conf_for(&c, q, BROKER_ROLE_CLIENT);
    c.heartbeat = 1;
    broker *b = open_or_fail(&c);
    int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    assert_true(fd >= 0);
    assert_int_equal(broker_set_wake_fd(b, fd), 0);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, wake_later, &fd), 0);
    /* poll until the wake-up (a poll may also end early, after half a
     * heartbeat interval with nothing on the socket); the one under way
     * at the wake-up must end with it, not at its 20 s timeout */
    long long t0 = mono_ms(), ms;
    int rc;
    do {
        rc = broker_poll(b, 20000, &d);
        ms = mono_ms() - t0;
    } while (rc == 0 && ms < 2400);
    pthread_join(t, NULL);
    if (ms >= 4000)
        fprintf(stderr, "# the poll ended after %lld ms, not at the wake-up after 2500 ms\n", ms);
    assert_int_equal(rc, 0);
    assert_true(ms < 4000);
    assert_int_equal(broker_connected(b), 1);
    assert_int_equal(broker_set_wake_fd(b, -1), 0);
    close(fd);
    broker_free(b);
}

static void neglected_connection_is_lost(void **state)
{
    const char *q = uniq();
    broker_conf c;
    broker_delivery d;
    conf_for(&c, q, BROKER_ROLE_NODE);
    c.heartbeat = 1;
    broker *b = open_or_fail(&c);
    /* away from the library far longer than the heartbeat allows */
    sleep_ms(5000);
    int rc = 0;
    long long until = mono_ms() + 5000;
    while (rc >= 0 && mono_ms() < until)
        if ((rc = broker_poll(b, 500, &d)) == 1)
            broker_delivery_cleanup(&d);
    fprintf(stderr, "# error: %s\n", broker_error(b));
    assert_int_equal(rc, BROKER_ECONNLOST);
    assert_non_null(strstr(broker_error(b), "heartbeats need one every 500 ms"));
    assert_int_equal(broker_connected(b), 0);
    volatile int stop = 0;
    assert_int_equal(broker_reconnect(b, &stop), 0);
    assert_int_equal(broker_topology_delete(b), 0);
    broker_free(b);
}

static void refused_publish_is_nacked(void **state)
{
    const char *q = uniq();
    char cmd[512], pol[96];
    snprintf(pol, sizeof pol, "dd-test-policy-%ld", (long)getpid());
    /* a policy on this test's queue only: no room, refuse new messages */
    snprintf(cmd, sizeof cmd,
             "set_policy --apply-to queues --priority 100 '%s' '^%s$' "
             "'{\"max-length\":0,\"overflow\":\"reject-publish\"}'",
             pol, q);
    free(rabbitmqctl(cmd));
    broker *b = open_node(q);
    int rc = 0;
    /* policies reach the queue asynchronously */
    for (int i = 0; i < 50; i++) {
        rc = broker_publish(b, "", q, NULL, "no room", 7, 0);
        if (rc != 0)
            break;
        sleep_ms(100);
    }
    snprintf(cmd, sizeof cmd, "clear_policy '%s'", pol);
    free(rabbitmqctl(cmd));
    fprintf(stderr, "# error: %s\n", broker_error(b));
    assert_int_equal(rc, BROKER_ENACKED);
    assert_int_equal(broker_connected(b), 1);
    assert_int_equal(broker_topology_delete(b), 0);
    broker_free(b);
}

/* Deletes the topology of every name this run used (node names n1 and n2),
 * whether or not its test got to clean up. */
static int delete_everything(void **state)
{
    const char *nodes[] = {"n1", "n2"};
    for (unsigned i = 0; i < n_names; i++) {
        for (size_t k = 0; k < 2; k++) {
            broker_conf c;
            broker *b = NULL;
            broker_conf_init(&c);
            c.url = amqp_url();
            c.queue = names[i];
            c.role = BROKER_ROLE_CLIENT;
            c.node = nodes[k];
            if (broker_open(&c, &b, NULL) != 0)
                return -1;
            int rc = broker_topology_delete(b);
            broker_free(b);
            if (rc != 0)
                return -1;
        }
    }
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(topology_is_declared_with_its_arguments),
        cmocka_unit_test(publish_confirm_poll_ack),
        cmocka_unit_test(node_queue_delivers_with_its_source),
        cmocka_unit_test(poll_times_out),
        cmocka_unit_test(nack_requeue_redelivers),
        cmocka_unit_test(dead_letter_moves_a_copy_with_the_reason),
        cmocka_unit_test(dead_letter_failure_requeues_the_original),
        cmocka_unit_test(mandatory_unroutable_and_missing_exchange),
        cmocka_unit_test(batched_publishes_are_confirmed_together),
        cmocka_unit_test(wrong_password_is_an_auth_error_without_the_password),
        cmocka_unit_test(unreachable_port_is_reported_as_such),
        cmocka_unit_test(url_list_falls_over_to_the_next_node),
        cmocka_unit_test(unknown_vhost_is_reported_as_such),
        cmocka_unit_test(tls_to_a_plain_port_is_a_tls_error),
        cmocka_unit_test(bad_configuration_is_refused),
        cmocka_unit_test(direct_reply_to_round_trip),
        cmocka_unit_test(many_replies_during_a_publish_are_kept),
        cmocka_unit_test(call_waits_for_its_reply),
        cmocka_unit_test(call_times_out_without_an_answer),
        cmocka_unit_test(queue_type_mismatch_is_explained),
        cmocka_unit_test(dead_letter_queue_follows_the_queue_type),
        cmocka_unit_test(reconnects_after_the_broker_closes_the_connection),
        cmocka_unit_test(reconnect_retries_and_can_be_stopped),
        cmocka_unit_test(reconnect_backs_off_until_stopped),
        cmocka_unit_test(delivery_limit_ends_in_the_dead_letter_queue),
        cmocka_unit_test(dead_letters_survive_being_put_back),
        cmocka_unit_test(no_queue_is_transient_and_shared),
        cmocka_unit_test(nack_without_requeue_dead_letters_through_the_dlx),
        cmocka_unit_test(pause_and_resume),
        cmocka_unit_test(deleted_work_queue_is_redeclared_and_consumed),
        cmocka_unit_test(oversize_body_is_not_read_and_goes_to_dead),
        cmocka_unit_test(channel_error_is_recovered),
        cmocka_unit_test(missing_queue_inspection_leaves_consumers_alone),
        cmocka_unit_test(deliveries_during_a_publish_wait_are_kept),
        cmocka_unit_test(long_poll_is_kept_alive_by_heartbeats),
        cmocka_unit_test(wake_fd_ends_a_poll_after_heartbeats),
        cmocka_unit_test(neglected_connection_is_lost),
        cmocka_unit_test(refused_publish_is_nacked),
        cmocka_unit_test(lane_url_that_does_not_fit_is_refused),
    };
    if (getenv("CMOCKA_TEST_FILTER")) /* e.g. "dead_*" while working on one case */
        cmocka_set_test_filter(getenv("CMOCKA_TEST_FILTER"));
    return cmocka_run_group_tests(tests, NULL, delete_everything);
}
