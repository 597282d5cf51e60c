/*
 * test_cluster_ops.c -- the cluster's features on a real cluster on this
 * machine (cluster_fx.h: three dispatchers, each on its own dockerd and its
 * own node of a three-node RabbitMQ cluster):
 *
 *   membership  every view holds the three nodes; a SIGKILLed node leaves
 *               every view within three intervals (+1 s), and rejoins
 *   routing     a command for a container reaches its owner from whichever
 *               node takes it off the shared queue, by full id, short id,
 *               7-character prefix and name, and through the HTTP gateway
 *               of each node; unknown is not_found (404)
 *   unbound     the same by id when the owner's binding is missing (a
 *               container made while its node was alone): the forward
 *               comes back and the owner is found by asking the nodes
 *   list_all    list with Cluster returns every node's containers; with a
 *               node SIGKILLed it returns by the deadline naming it missing
 *   bulk        300 instances land 100/100/100; an uneven start is evened
 *               out; every piece made once (counted on the dockerds)
 *   bulk_kill   a node SIGKILLed during a bulk request: every piece made,
 *               placed elsewhere; once the node is back it removes its
 *               copies, so each piece exists exactly once
 *   bulk_slow   a node stopped past the view's expiry during a bulk
 *               request makes its pieces late: those copies are removed
 *   drain       unregister keeps shared work off a node, register resumes
 *
 * Dispatchers run with a 1 s membership interval (expiry after 3 s) to keep
 * the suite short.  Figures print as "# figure:" lines.  Needs what
 * cluster_fx.h says (root, ports 5710-5779).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <amqp.h>
#include <amqp_tcp_socket.h>

#include "cluster_fx.h"
#include "daemon_fx.h"

#define INTERVAL_MS 1000
#define N_NODES     3

static struct {
    cfx *env;
    cfx_replies *rep;
    int seq;
    int gw_port[N_NODES + 1]; /* each dispatcher's HTTP gateway on 127.0.0.1 */
} g;

/* POSTs body to the gateway of dispatcher i (curl); the parsed reply
 * (json_decref) or NULL, the HTTP status into *status. */
static json_t *post(int i, const char *body, int *status)
{
    char file[64], line[1024];
    snprintf(file, sizeof file, "/tmp/dd-cops-post-%ld.json", (long)getpid());
    FILE *f = fopen(file, "w");
    assert_non_null(f);
    fputs(body, f);
    fclose(f);
    snprintf(line, sizeof line,
             "curl -s -o /tmp/dd-cops-out-%ld.json -w '%%{http_code}' -X POST "
             "-H 'Content-Type: application/json' --data @%s http://127.0.0.1:%d/",
             (long)getpid(), file, g.gw_port[i]);
    FILE *p = popen(line, "r");
    assert_non_null(p);
    char code[16] = "";
    if (fgets(code, sizeof code, p) == NULL)
        code[0] = '\0';
    pclose(p);
    unlink(file);
    *status = (int)strtol(code, NULL, 10);
    snprintf(file, sizeof file, "/tmp/dd-cops-out-%ld.json", (long)getpid());
    json_t *r = json_load_file(file, 0, NULL);
    unlink(file);
    return r;
}

/* Publishes body to routing key rk (NULL: the work queue) with a new id
 * (into id). */
static void send_to(const char *rk, const char *body, char *id, size_t idlen)
{
    snprintf(id, idlen, "op-%ld-%d", (long)getpid(), ++g.seq);
    assert_int_equal(cfx_send(g.rep, rk ? rk : cfx_queue(g.env), id, body), 0);
}

/* Sends body as user (NULL: no user_id) and waits for its one reply
 * (borrowed from the collector). */
static json_t *ask_as(const char *user, const char *rk, const char *body, int timeout_ms)
{
    char id[64];
    snprintf(id, sizeof id, "op-%ld-%d", (long)getpid(), ++g.seq);
    assert_int_equal(cfx_send_as(g.rep, rk ? rk : cfx_queue(g.env), id, body, user), 0);
    const char *ids[] = {id};
    if (cfx_replies_wait(g.rep, ids, 1, timeout_ms, 0) != 0)
        fail_msg("no reply to %s within %d ms", body, timeout_ms);
    assert_int_equal(cfx_replies_count(g.rep, id), 1);
    return cfx_replies_first(g.rep, id);
}

/* Sends body and waits for its one reply (borrowed from the collector). */
static json_t *ask(const char *rk, const char *body, int timeout_ms)
{
    return ask_as(NULL, rk, body, timeout_ms);
}

static json_t *askf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static json_t *askf(const char *fmt, ...)
{
    char body[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(body, sizeof body, fmt, ap);
    va_end(ap);
    return ask(NULL, body, 60000);
}

static const char *code_of(json_t *r)
{
    return json_string_value(json_object_get(json_object_get(r, "error"), "code"));
}

static void assert_ok(json_t *r)
{
    if (!json_is_true(json_object_get(r, "ok"))) {
        char *t = json_dumps(r, 0);
        fail_msg("reply not ok: %.600s", t ? t : "?");
    }
}

/* The node queue of dispatcher i. */
static const char *node_queue(int i)
{
    static char rk[4][200];
    snprintf(rk[i], sizeof rk[i], "%s.node.%s", cfx_queue(g.env), cfx_node_name(g.env, i));
    return rk[i];
}

/* The names in the view of dispatcher i (asked on its own queue), as a
 * comma list in out. */
static void view_of(int i, char *out, size_t len)
{
    json_t *r = ask(node_queue(i), "{\"Dockercmd\":\"nodes\"}", 30000);
    assert_ok(r);
    out[0] = '\0';
    size_t k;
    json_t *n;
    json_array_foreach(json_object_get(r, "result"), k, n)
    {
        size_t used = strlen(out);
        snprintf(out + used, len - used, "%s%s", used ? "," : "",
                 json_string_value(json_object_get(n, "name")));
    }
}

/* Waits until every running dispatcher's view is exactly want; returns the
 * milliseconds it took, -1 on timeout. */
static int64_t wait_views(const char *want, const int *skip, int timeout_ms)
{
    int64_t t0 = dfx_now_ms();
    while (dfx_now_ms() - t0 < timeout_ms) {
        int all = 1;
        for (int i = 1; i <= N_NODES && all; i++) {
            if (skip && skip[i])
                continue;
            char v[256];
            view_of(i, v, sizeof v);
            all = strcmp(v, want) == 0;
        }
        if (all)
            return dfx_now_ms() - t0;
        usleep(100 * 1000);
    }
    return -1;
}

/* Containers of the cluster on dockerd i whose request label starts with
 * prefix (NULL: any). */
static int count_on(int i, const char *prefix)
{
    char l[200];
    snprintf(l, sizeof l, "%s=%s", CFX_CLUSTER_LABEL, cfx_queue(g.env));
    json_t *f = json_pack("{s:[s]}", "label", l);
    dkc_list_opts lo = {.all = true, .filters = f};
    json_t *arr = NULL;
    assert_int_equal(dkc_container_list(cfx_docker(g.env, i), &lo, &arr), 0);
    json_decref(f);
    int n = 0;
    size_t k;
    json_t *c;
    json_array_foreach(arr, k, c)
    {
        const char *req =
            json_string_value(json_object_get(json_object_get(c, "Labels"), CFX_REQUEST_LABEL));
        n += !prefix || (req && strncmp(req, prefix, strlen(prefix)) == 0);
    }
    json_decref(arr);
    return n;
}

/* Removes every container of the cluster on every dockerd. */
static void wipe(void)
{
    char l[200];
    snprintf(l, sizeof l, "%s=%s", CFX_CLUSTER_LABEL, cfx_queue(g.env));
    for (int i = 1; i <= N_NODES; i++) {
        json_t *f = json_pack("{s:[s]}", "label", l);
        dkc_list_opts lo = {.all = true, .filters = f};
        json_t *arr = NULL;
        if (dkc_container_list(cfx_docker(g.env, i), &lo, &arr) == 0) {
            size_t k;
            json_t *c;
            json_array_foreach(arr, k, c) dkc_container_remove(
                cfx_docker(g.env, i), json_string_value(json_object_get(c, "Id")), true, true);
        }
        json_decref(arr);
        json_decref(f);
    }
}

static int restore(void **state)
{
    (void)state;
    if (cfx_restore(g.env) != 0)
        return -1;
    wipe();
    /* every view whole again */
    return wait_views("n1,n2,n3", NULL, 30000) < 0 ? -1 : 0;
}

/* A detached container made on dispatcher i (through its own queue): its
 * id into id, its name into name. */
static void make_on(int i, const char *name, char *id, size_t len)
{
    char body[400];
    snprintf(body, sizeof body,
             "{\"Dockercmd\":\"run\",\"Image\":\"busybox:latest\",\"Cmd\":[\"sleep\",\"600\"],"
             "\"Options\":{\"NetworkMode\":\"none\",\"Name\":\"%s\"}}",
             name);
    json_t *r = ask(node_queue(i), body, 60000);
    assert_ok(r);
    snprintf(id, len, "%s",
             json_string_value(json_object_get(
                 json_object_get(json_object_get(r, "result"), "container"), "id")));
    assert_string_equal(json_string_value(json_object_get(r, "node")), cfx_node_name(g.env, i));
}

static void test_membership(void **state)
{
    (void)state;
    char v[256];
    for (int i = 1; i <= N_NODES; i++) {
        view_of(i, v, sizeof v);
        assert_string_equal(v, "n1,n2,n3");
    }
    /* SIGKILL: no node.down; the others drop it after 3 silent intervals */
    int64_t t0 = dfx_now_ms();
    cfx_dispatcher_stop(g.env, 3, SIGKILL, 0);
    int skip[N_NODES + 1] = {0, 0, 0, 1};
    int64_t ms = wait_views("n1,n2", skip, 20000);
    assert_true(ms >= 0);
    int64_t gone = dfx_now_ms() - t0;
    dfx_figure("a SIGKILLed node left every view after %.1f s (interval %.1f s; bound 3 intervals "
               "+ 1 s = %.1f s)",
               (double)gone / 1000.0, INTERVAL_MS / 1000.0, (3.0 * INTERVAL_MS + 1000) / 1000.0);
    assert_true(gone <= 3 * INTERVAL_MS + 1000 + 1500); /* + the polling of this test */
    t0 = dfx_now_ms();
    assert_int_equal(cfx_dispatcher_start(g.env, 3), 0);
    ms = wait_views("n1,n2,n3", NULL, 20000);
    assert_true(ms >= 0);
    dfx_figure("a restarted node was in every view %.1f s after its start",
               (double)(dfx_now_ms() - t0) / 1000.0);
    /* a clean stop leaves at once (node.down) */
    t0 = dfx_now_ms();
    cfx_dispatcher_stop(g.env, 2, SIGTERM, 30000);
    skip[3] = 0;
    skip[2] = 1;
    assert_true(wait_views("n1,n3", skip, 20000) >= 0);
    dfx_figure("a node stopped with SIGTERM left every view %.1f s after the signal",
               (double)(dfx_now_ms() - t0) / 1000.0);
}

/* Counts "needle" in dispatcher i's log. */
static int log_count(int i, const char *needle)
{
    int n = 0;
    char *log = dfx_read_file(cfx_log(g.env, i));
    for (char *p = log; p && (p = strstr(p, needle)) != NULL; p++)
        n++;
    free(log);
    return n;
}

static void test_routing(void **state)
{
    (void)state;
    char id[N_NODES + 1][80], name[N_NODES + 1][64];
    for (int i = 1; i <= N_NODES; i++) {
        snprintf(name[i], sizeof name[i], "route-%d-%ld", i, (long)getpid());
        make_on(i, name[i], id[i], sizeof id[i]);
    }
    int asked = 0, forwarded_away = 0;
    for (int i = 1; i <= N_NODES; i++) {
        char shortid[13], prefix[8];
        snprintf(shortid, sizeof shortid, "%.12s", id[i]);
        snprintf(prefix, sizeof prefix, "%.7s", id[i]);
        const char *refs[] = {id[i], shortid, prefix, name[i]};
        for (size_t k = 0; k < 4; k++)
            for (int rep = 0; rep < 4; rep++) { /* the shared queue: any node takes it */
                json_t *r = askf("{\"Dockercmd\":\"inspect\",\"Container\":\"%s\"}", refs[k]);
                assert_ok(r);
                assert_string_equal(json_string_value(json_object_get(r, "node")),
                                    cfx_node_name(g.env, i));
                assert_string_equal(
                    json_string_value(json_object_get(json_object_get(r, "result"), "Id")), id[i]);
                asked++;
            }
        /* DockerMod's dialect, 7 characters as in its examples */
        json_t *r = askf("{\"action\":\"inspect-container\",\"id\":\"%s\"}", prefix);
        assert_ok(r);
        assert_string_equal(json_string_value(json_object_get(r, "dockerInstance")),
                            cfx_node_name(g.env, i));
    }
    for (int i = 1; i <= N_NODES; i++)
        forwarded_away += log_count(i, "forwarded to");
    dfx_figure(
        "routing: %d commands by full id, short id, 7-character prefix and name through the "
        "shared queue, each answered by its container's owner; %d forwarded by the node that "
        "took them",
        asked, forwarded_away);
    assert_true(forwarded_away > 0);
    /* through the HTTP gateway of every node: DockerMod's REST shape */
    for (int i = 1; i <= N_NODES; i++)
        for (int via = 1; via <= N_NODES; via++) {
            char body[200];
            snprintf(body, sizeof body, "{\"action\":\"inspect-container\",\"id\":\"%.7s\"}",
                     id[i]);
            int status = 0;
            json_t *h = post(via, body, &status);
            assert_int_equal(status, 200);
            assert_non_null(h);
            assert_string_equal(json_string_value(json_object_get(h, "dockerInstance")),
                                cfx_node_name(g.env, i));
            json_decref(h);
        }
    int status = 0;
    json_t *h = post(2, "{\"action\":\"inspect-container\",\"id\":\"nosuchcontainer\"}", &status);
    assert_int_equal(status, 404);
    json_decref(h);
    dfx_figure(
        "routing: 9 inspects by 7-character prefix through the HTTP gateway of each node, each "
        "answered by the container's owner; unknown: HTTP 404");
    json_t *r = askf("{\"Dockercmd\":\"inspect\",\"Container\":\"no-such-%ld\"}", (long)getpid());
    assert_string_equal(code_of(r), "not_found");
    r = askf("{\"Dockercmd\":\"stop\",\"Container\":\"%s\",\"Options\":{\"Time\":0}}", name[2]);
    assert_ok(r);
    assert_string_equal(json_string_value(json_object_get(r, "node")), "n2");
}

/* Unbinds key from node i's queue on <q>.containers, with the dispatchers'
 * own AMQP account (rabbitmq-c directly: the broker library unbinds only
 * a node role's keys). */
static void unbind_key(int i, const char *key)
{
    char url[256], queue[300], exchange[300];
    snprintf(url, sizeof url, "%s", cfx_amqp_url(g.env, 1));
    struct amqp_connection_info ci;
    assert_int_equal(amqp_parse_url(url, &ci), AMQP_STATUS_OK);
    amqp_connection_state_t conn = amqp_new_connection();
    amqp_socket_t *sock = amqp_tcp_socket_new(conn);
    assert_non_null(sock);
    assert_int_equal(amqp_socket_open(sock, ci.host, ci.port), AMQP_STATUS_OK);
    /* "amqp://host:port/" names the vhost "" to amqp_parse_url: the default "/" is meant */
    amqp_rpc_reply_t r = amqp_login(conn, *ci.vhost ? ci.vhost : "/", 0, 131072, 0,
                                    AMQP_SASL_METHOD_PLAIN, ci.user, ci.password);
    assert_int_equal(r.reply_type, AMQP_RESPONSE_NORMAL);
    amqp_channel_open(conn, 1);
    assert_int_equal(amqp_get_rpc_reply(conn).reply_type, AMQP_RESPONSE_NORMAL);
    snprintf(queue, sizeof queue, "%s.node.%s", cfx_queue(g.env), cfx_node_name(g.env, i));
    snprintf(exchange, sizeof exchange, "%s.containers", cfx_queue(g.env));
    amqp_queue_unbind(conn, 1, amqp_cstring_bytes(queue), amqp_cstring_bytes(exchange),
                      amqp_cstring_bytes(key), amqp_empty_table);
    r = amqp_get_rpc_reply(conn);
    if (r.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION && r.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
        amqp_channel_close_t *m = r.reply.decoded;
        fail_msg("unbinding %s from %s: %.*s", key, queue, (int)m->reply_text.len,
                 (const char *)m->reply_text.bytes);
    }
    assert_int_equal(r.reply_type, AMQP_RESPONSE_NORMAL);
    amqp_channel_close(conn, 1, AMQP_REPLY_SUCCESS);
    amqp_connection_close(conn, AMQP_REPLY_SUCCESS);
    amqp_destroy_connection(conn);
}

/* A container whose id its node has not bound on <q>.containers (as when
 * it was made while the node was alone, before the pass that binds it):
 * commands by its full and short id still reach it from every node. */
static void test_routing_unbound(void **state)
{
    (void)state;
    char id[80], name[64], shortid[13];
    snprintf(name, sizeof name, "unbound-%ld", (long)getpid());
    make_on(1, name, id, sizeof id);
    snprintf(shortid, sizeof shortid, "%.12s", id);
    unbind_key(1, id);
    unbind_key(1, shortid);
    int before = log_count(2, "forwarded to node") + log_count(3, "forwarded to node");
    const char *refs[] = {id, shortid};
    int asked = 0;
    for (size_t k = 0; k < 2; k++)
        for (int rep = 0; rep < 6; rep++) {
            json_t *r = askf("{\"Dockercmd\":\"inspect\",\"Container\":\"%s\"}", refs[k]);
            assert_ok(r);
            assert_string_equal(json_string_value(json_object_get(r, "node")),
                                cfx_node_name(g.env, 1));
            assert_string_equal(
                json_string_value(json_object_get(json_object_get(r, "result"), "Id")), id);
            asked++;
        }
    int found = log_count(2, "forwarded to node") + log_count(3, "forwarded to node") - before;
    dfx_figure("routing: %d inspects by full and short id of a container whose id is not bound, "
               "each answered by its owner; %d found by asking the nodes after the forward came "
               "back",
               asked, found);
    assert_true(found > 0);
}

/* The merged cluster list: every container of every node, tagged. */
static json_t *list_all(void)
{
    json_t *r = askf("{\"Dockercmd\":\"list\",\"Options\":{\"All\":true,\"Cluster\":true}}");
    assert_ok(r);
    return json_object_get(r, "result");
}

static void test_list_all(void **state)
{
    (void)state;
    char id[N_NODES + 1][80], name[64];
    for (int i = 1; i <= N_NODES; i++) {
        snprintf(name, sizeof name, "list-%d-%ld", i, (long)getpid());
        make_on(i, name, id[i], sizeof id[i]);
    }
    json_t *res = list_all();
    assert_int_equal(json_array_size(json_object_get(res, "containers")), N_NODES);
    assert_int_equal(json_array_size(json_object_get(res, "nodes")), N_NODES);
    assert_int_equal(json_array_size(json_object_get(res, "missing")), 0);
    /* DockerMod: list-containers with all */
    json_t *r = askf("{\"action\":\"list-containers\",\"all\":true}");
    assert_ok(r);
    assert_int_equal(json_array_size(json_object_get(json_object_get(r, "result"), "containers")),
                     N_NODES);
    /* a node killed: answered by the deadline, the node named missing */
    cfx_dispatcher_stop(g.env, 2, SIGKILL, 0);
    int64_t t0 = dfx_now_ms();
    res = list_all();
    int64_t ms = dfx_now_ms() - t0;
    json_t *missing = json_object_get(res, "missing");
    char *m = json_dumps(missing, 0);
    dfx_figure("list with Cluster, one node SIGKILLed: answered in %.2f s, missing %s, %zu "
               "containers of the others",
               (double)ms / 1000.0, m, json_array_size(json_object_get(res, "containers")));
    free(m);
    if (json_array_size(missing) == 1) { /* n2 still in the view: waited for it */
        assert_string_equal(json_string_value(json_array_get(missing, 0)), "n2");
        assert_true(ms < 3000 + 2000);
    }
    assert_int_equal(json_array_size(json_object_get(res, "containers")), N_NODES - 1);
    size_t k;
    json_t *c;
    json_array_foreach(json_object_get(res, "containers"), k, c)
        assert_string_not_equal(json_string_value(json_object_get(c, "Node")), "n2");
}

/* How many of the n pieces <prefix><k> exist other than exactly once over
 * the three dockerds (a piece missing counts, a piece twice counts, a
 * container of an unknown piece counts); with say, each is printed. */
static int pieces_not_once(const char *prefix, int n, int say)
{
    json_t *copies = json_object(); /* request id -> "n1 n3 ..." */
    for (int i = 1; i <= N_NODES; i++) {
        char l[200];
        snprintf(l, sizeof l, "%s=%s", CFX_CLUSTER_LABEL, cfx_queue(g.env));
        json_t *f = json_pack("{s:[s]}", "label", l);
        dkc_list_opts lo = {.all = true, .filters = f};
        json_t *arr = NULL;
        assert_int_equal(dkc_container_list(cfx_docker(g.env, i), &lo, &arr), 0);
        json_decref(f);
        size_t k;
        json_t *c;
        json_array_foreach(arr, k, c)
        {
            const char *rq =
                json_string_value(json_object_get(json_object_get(c, "Labels"), CFX_REQUEST_LABEL));
            if (!rq || strncmp(rq, prefix, strlen(prefix)))
                continue;
            const char *had = json_string_value(json_object_get(copies, rq));
            char where[256];
            snprintf(where, sizeof where, "%s%sn%d", had ? had : "", had ? " " : "", i);
            json_object_set_new(copies, rq, json_string(where));
        }
        json_decref(arr);
    }
    int wrong = 0;
    for (int k = 0; k < n; k++) {
        char rq[128];
        snprintf(rq, sizeof rq, "%s%d", prefix, k);
        const char *where = json_string_value(json_object_get(copies, rq));
        if (where == NULL || strchr(where, ' ') != NULL) {
            wrong++;
            if (say)
                fprintf(stderr, "piece %s: %s\n", rq, where ? where : "nowhere");
        }
        json_object_del(copies, rq);
    }
    wrong += (int)json_object_size(copies); /* pieces no request asked for */
    json_decref(copies);
    return wrong;
}

/* Pieces of a bulk reply per node, into per[]; returns the created count. */
static int pieces_per_node(json_t *r, int *per)
{
    json_t *res = json_object_get(r, "result");
    size_t k;
    json_t *p;
    json_array_foreach(json_object_get(res, "containers"), k, p)
    {
        if (json_is_true(json_object_get(p, "ok")))
            per[cfx_node_index(g.env, json_string_value(json_object_get(p, "node")))]++;
    }
    return (int)json_integer_value(json_object_get(res, "created"));
}

static void test_bulk(void **state)
{
    (void)state;
    char id[64];
    usleep(3 * INTERVAL_MS * 1000); /* heartbeats that count the wiped containers out */
    int64_t t0 = dfx_now_ms();
    send_to(NULL,
            "{\"action\":\"create-container\",\"image\":\"busybox:latest\",\"cmd\":[\"true\"],"
            "\"instances\":300}",
            id, sizeof id);
    const char *ids[] = {id};
    assert_int_equal(cfx_replies_wait(g.rep, ids, 1, 300000, 0), 0);
    int64_t ms = dfx_now_ms() - t0;
    json_t *r = cfx_replies_first(g.rep, id);
    assert_ok(r);
    int per[N_NODES + 1] = {0};
    assert_int_equal(pieces_per_node(r, per), 300);
    int on[N_NODES + 1];
    char prefix[80];
    snprintf(prefix, sizeof prefix, "%s.", id);
    for (int i = 1; i <= N_NODES; i++)
        on[i] = count_on(i, prefix);
    dfx_figure("bulk: 300 instances in %.1f s (%.0f pieces/s): replies say %d/%d/%d, dockerds hold "
               "%d/%d/%d",
               (double)ms / 1000.0, 300000.0 / (double)ms, per[1], per[2], per[3], on[1], on[2],
               on[3]);
    for (int i = 1; i <= N_NODES; i++) {
        assert_int_equal(per[i], 100);
        assert_int_equal(on[i], 100);
    }
    assert_int_equal(pieces_not_once(prefix, 300, 1), 0);
    /* DockerMod's shape: a containers array with dockerInstance */
    assert_int_equal(json_array_size(json_object_get(r, "containers")), 300);
    wipe();

    /* an uneven start: node 1 busy with 30 containers */
    char bid[80], nm[64];
    for (int k = 0; k < 30; k++) {
        snprintf(nm, sizeof nm, "busy-%d-%ld", k, (long)getpid());
        make_on(1, nm, bid, sizeof bid);
    }
    usleep(3 * INTERVAL_MS * 1000); /* the heartbeats carry the new load */
    send_to(NULL,
            "{\"Dockercmd\":\"create\",\"Image\":\"busybox:latest\",\"Cmd\":[\"true\"],"
            "\"Options\":{\"Instances\":60,\"NetworkMode\":\"none\"}}",
            id, sizeof id);
    ids[0] = id;
    assert_int_equal(cfx_replies_wait(g.rep, ids, 1, 300000, 0), 0);
    r = cfx_replies_first(g.rep, id);
    assert_ok(r);
    memset(per, 0, sizeof per);
    assert_int_equal(pieces_per_node(r, per), 60);
    int total[N_NODES + 1], lo = 1 << 30, hi = 0;
    for (int i = 1; i <= N_NODES; i++) {
        total[i] = count_on(i, NULL);
        lo = total[i] < lo ? total[i] : lo;
        hi = total[i] > hi ? total[i] : hi;
    }
    dfx_figure("bulk on an uneven start (30 on n1): 60 pieces placed %d/%d/%d, containers now "
               "%d/%d/%d",
               per[1], per[2], per[3], total[1], total[2], total[3]);
    assert_true(hi - lo <= 1);
}

static void test_bulk_kill(void **state)
{
    (void)state;
    char id[64];
    send_to(NULL,
            "{\"Dockercmd\":\"create\",\"Image\":\"busybox:latest\",\"Cmd\":[\"true\"],"
            "\"Options\":{\"Instances\":240,\"NetworkMode\":\"none\"}}",
            id, sizeof id);
    char prefix[80];
    snprintf(prefix, sizeof prefix, "%s.", id);
    /* kill node 3 once it has made some of its pieces */
    int64_t t0 = dfx_now_ms();
    while (count_on(3, prefix) < 20 && dfx_now_ms() - t0 < 60000)
        usleep(50 * 1000);
    cfx_dispatcher_stop(g.env, 3, SIGKILL, 0);
    int made_before = count_on(3, prefix);
    const char *ids[] = {id};
    assert_int_equal(cfx_replies_wait(g.rep, ids, 1, 300000, 0), 0);
    json_t *r = cfx_replies_first(g.rep, id);
    assert_ok(r);
    int per[N_NODES + 1] = {0};
    int created = pieces_per_node(r, per);
    int again = 0; /* in the log of whichever node took the request */
    for (int i = 1; i <= N_NODES; i++)
        again += log_count(i, "placed again");
    dfx_figure("bulk of 240 with node 3 SIGKILLed after it made %d: %d created (%d/%d/%d), pieces "
               "placed again (seen in the logs) %d",
               made_before, created, per[1], per[2], per[3], again);
    assert_int_equal(created, 240);
    /* node 3 back: it removes its copies of pieces made elsewhere since */
    assert_int_equal(cfx_dispatcher_start(g.env, 3), 0);
    int wrong = -1;
    for (int tries = 0; tries < 60 && wrong != 0; tries++) {
        usleep(500 * 1000);
        wrong = pieces_not_once(prefix, 240, 0);
    }
    dfx_figure("after node 3 came back: %d of 240 pieces exist other than exactly once", wrong);
    assert_int_equal(pieces_not_once(prefix, 240, 1), 0);
    /* and each piece exactly once, where the reply says */
    json_t *res = json_object_get(r, "result");
    size_t k;
    json_t *p;
    json_array_foreach(json_object_get(res, "containers"), k, p)
    {
        int i = cfx_node_index(g.env, json_string_value(json_object_get(p, "node")));
        json_t *ins = NULL;
        int rc = dkc_container_inspect(cfx_docker(g.env, i),
                                       json_string_value(json_object_get(p, "id")), &ins);
        json_decref(ins);
        if (rc != 0)
            fail_msg("piece %zu is not on %s where the reply put it", k,
                     json_string_value(json_object_get(p, "node")));
    }
}

/* The node that took a bulk request dies with the request half done:
 * the request goes back to its queue, and the node restarted finds the
 * pieces made already (it asks every node) and places only the others:
 * one reply, every piece once. */
static void test_bulk_taker_dies(void **state)
{
    (void)state;
    char id[64];
    send_to(node_queue(1),
            "{\"Dockercmd\":\"create\",\"Image\":\"busybox:latest\",\"Cmd\":[\"true\"],"
            "\"Options\":{\"Instances\":120,\"NetworkMode\":\"none\"}}",
            id, sizeof id);
    char prefix[80];
    snprintf(prefix, sizeof prefix, "%s.", id);
    int64_t t0 = dfx_now_ms();
    int made = 0;
    while (made < 30 && dfx_now_ms() - t0 < 60000) {
        usleep(50 * 1000);
        made = 0;
        for (int i = 1; i <= N_NODES; i++)
            made += count_on(i, prefix);
    }
    cfx_dispatcher_stop(g.env, 1, SIGKILL, 0);
    int before = 0;
    for (int i = 1; i <= N_NODES; i++)
        before += count_on(i, prefix);
    assert_int_equal(cfx_dispatcher_start(g.env, 1), 0);
    const char *ids[] = {id};
    assert_int_equal(cfx_replies_wait(g.rep, ids, 1, 300000, 0), 0);
    json_t *r = cfx_replies_first(g.rep, id);
    assert_ok(r);
    int per[N_NODES + 1] = {0};
    int created = pieces_per_node(r, per);
    int wrong = -1;
    for (int tries = 0; tries < 60 && wrong != 0; tries++) {
        usleep(500 * 1000);
        wrong = pieces_not_once(prefix, 120, 0);
    }
    usleep(2000 * 1000); /* a second reply would come by now */
    int replies = cfx_replies_count(g.rep, id);
    dfx_figure("bulk of 120 whose taker (n1) was SIGKILLed after %d pieces existed: restarted, it "
               "answered %d time(s), %d created (%d/%d/%d), %d of 120 pieces other than once",
               before, replies, created, per[1], per[2], per[3], wrong);
    assert_int_equal(replies, 1);
    assert_int_equal(created, 120);
    assert_int_equal(pieces_not_once(prefix, 120, 1), 0);
}

/* As many bulk requests at once on one node as it has workers (4): each
 * holds a worker while its pieces run, and that node's own pieces still
 * find one (at most workers - 1 bulk requests run, the others wait). */
static void test_bulk_burst(void **state)
{
    (void)state;
    char ids[4][64];
    int64_t t0 = dfx_now_ms();
    for (int k = 0; k < 4; k++)
        send_to(node_queue(1),
                "{\"Dockercmd\":\"create\",\"Image\":\"busybox:latest\",\"Cmd\":[\"true\"],"
                "\"Options\":{\"Instances\":30,\"NetworkMode\":\"none\"}}",
                ids[k], sizeof ids[k]);
    const char *idp[] = {ids[0], ids[1], ids[2], ids[3]};
    assert_int_equal(cfx_replies_wait(g.rep, idp, 4, 120000, 0), 0);
    int made = 0, each[4];
    for (int k = 0; k < 4; k++) {
        int per[N_NODES + 1] = {0};
        made += each[k] = pieces_per_node(cfx_replies_first(g.rep, ids[k]), per);
    }
    dfx_figure("4 bulk requests of 30 at once on one node (4 workers): %d of 120 pieces made in "
               "%.1f s",
               made, (double)(dfx_now_ms() - t0) / 1000.0);
    for (int k = 0; k < 4; k++) { /* per request, and each piece once */
        char prefix[sizeof ids[0] + 2];
        snprintf(prefix, sizeof prefix, "%.63s.", ids[k]);
        assert_int_equal(each[k], 30);
        assert_int_equal(pieces_not_once(prefix, 30, 1), 0);
    }
}

/* A node that stops (SIGSTOP) for longer than the view's expiry during a
 * bulk request: it leaves the view and its pieces are placed again;
 * resumed, the same process makes them late.  The taker awaits it and
 * removes the late copies: every piece once, where the reply says. */
static void test_bulk_slow_node(void **state)
{
    (void)state;
    pid_t pid = cfx_dispatcher_pid(g.env, 3, NULL);
    assert_true(pid > 0);
    char id[64];
    assert_int_equal(kill(pid, SIGSTOP), 0);
    send_to(node_queue(1),
            "{\"Dockercmd\":\"create\",\"Image\":\"busybox:latest\",\"Cmd\":[\"true\"],"
            "\"Options\":{\"Instances\":30,\"NetworkMode\":\"none\"}}",
            id, sizeof id);
    int skip[N_NODES + 1] = {0, 0, 0, 1};
    int64_t gone = wait_views("n1,n2", skip, 30000);
    kill(pid, SIGCONT);
    assert_true(gone >= 0);
    const char *ids[] = {id};
    assert_int_equal(cfx_replies_wait(g.rep, ids, 1, 120000, 0), 0);
    json_t *r = cfx_replies_first(g.rep, id);
    assert_ok(r);
    int per[N_NODES + 1] = {0};
    assert_int_equal(pieces_per_node(r, per), 30);
    char prefix[80];
    snprintf(prefix, sizeof prefix, "%s.", id);
    int wrong = -1;
    for (int tries = 0; tries < 60 && wrong != 0; tries++) {
        usleep(500 * 1000);
        wrong = pieces_not_once(prefix, 30, 0);
    }
    dfx_figure("bulk of 30 with n3 stopped %.1f s (until it left the views): made %d/%d/%d, "
               "late copies removed %d, pieces other than once %d, creates seen on n3 %d",
               (double)gone / 1000.0, per[1], per[2], per[3], log_count(1, "made twice"), wrong,
               cfx_creates(g.env, 3, prefix));
    assert_int_equal(pieces_not_once(prefix, 30, 1), 0);
}

static void test_drain(void **state)
{
    (void)state;
    const char *drain = "{\"action\":\"unregister\",\"hostname\":\"n3\"}";
    /* only the policy's admin_users: not a message without user_id */
    json_t *r = ask(NULL, drain, 60000);
    assert_string_equal(code_of(r), "policy_denied");
    r = ask_as("guest", NULL, drain, 60000);
    assert_ok(r);
    usleep(2 * INTERVAL_MS * 1000);
    r = ask(node_queue(1), "{\"Dockercmd\":\"nodes\"}", 30000);
    json_t *n3 = json_array_get(json_object_get(r, "result"), 2);
    assert_true(json_is_true(json_object_get(n3, "draining")));
    int by[N_NODES + 1] = {0};
    for (int k = 0; k < 24; k++) {
        r = askf("{\"Dockercmd\":\"ping\"}");
        assert_ok(r);
        by[cfx_node_index(g.env, json_string_value(json_object_get(r, "node")))]++;
    }
    /* pieces avoid it too */
    r = askf("{\"Dockercmd\":\"create\",\"Image\":\"busybox:latest\",\"Cmd\":[\"true\"],"
             "\"Options\":{\"Instances\":6,\"NetworkMode\":\"none\"}}");
    int per[N_NODES + 1] = {0};
    assert_int_equal(pieces_per_node(r, per), 6);
    dfx_figure("drained n3: 24 pings answered %d/%d/%d, 6 pieces placed %d/%d/%d", by[1], by[2],
               by[3], per[1], per[2], per[3]);
    assert_int_equal(by[3], 0);
    assert_int_equal(per[3], 0);
    /* it still answers for its containers */
    r = ask(node_queue(3), "{\"Dockercmd\":\"ping\"}", 30000);
    assert_ok(r);
    r = ask_as("guest", NULL, "{\"action\":\"register\",\"hostname\":\"n3\"}", 60000);
    assert_ok(r);
    memset(by, 0, sizeof by);
    for (int k = 0; k < 30 && by[3] == 0; k++) {
        r = askf("{\"Dockercmd\":\"ping\"}");
        by[cfx_node_index(g.env, json_string_value(json_object_get(r, "node")))]++;
    }
    assert_true(by[3] > 0);
    r = ask_as("guest", NULL, "{\"action\":\"register\",\"hostname\":\"no-such-node\"}", 60000);
    assert_string_equal(code_of(r), "not_found");
}

static int group_setup(void **state)
{
    (void)state;
    cfx_conf conf;
    cfx_conf_init(&conf);
    const char *cfg = cfx_admin_config();
    if (cfg == NULL)
        return -1;
    static const char *extra[] = {"--membership-interval",
                                  "1000",
                                  "--quiet-output",
                                  "--bulk-timeout",
                                  "60",
                                  "--config",
                                  NULL,
                                  NULL};
    extra[6] = cfg;
    conf.extra_args = extra;
    static char addr[N_NODES + 1][32];
    static const char *args[N_NODES + 1][3];
    for (int i = 1, port = dfx_pick_port(DD_FIRST(DD_PORTS_CLUSTER_OPS),
                                         DD_LAST(DD_PORTS_CLUSTER_OPS) - 100, 0);
         i <= N_NODES; i++, port++) {
        while (port > 0 && port <= DD_LAST(DD_PORTS_CLUSTER_OPS) && !dfx_port_free(port))
            port++;
        assert_true(port > 0 && port <= DD_LAST(DD_PORTS_CLUSTER_OPS));
        g.gw_port[i] = port;
        snprintf(addr[i], sizeof addr[i], "127.0.0.1:%d", port);
        args[i][0] = "--gateway";
        args[i][1] = addr[i];
        args[i][2] = NULL;
        conf.node_args[i - 1] = args[i];
    }
    int64_t t0 = dfx_now_ms();
    g.env = cfx_start(&conf);
    if (g.env == NULL)
        return -1;
    dfx_figure("environment up in %.1f s", (double)(dfx_now_ms() - t0) / 1000.0);
    char rq[200];
    snprintf(rq, sizeof rq, "%s.replies", cfx_queue(g.env));
    g.rep = cfx_replies_new(g.env, 1, rq);
    if (g.rep == NULL) {
        cfx_stop(g.env);
        g.env = NULL;
        return -1;
    }
    int64_t ms = wait_views("n1,n2,n3", NULL, 30000);
    dfx_figure("membership converged %.1f s after the dispatchers consumed", (double)ms / 1000.0);
    return ms < 0 ? -1 : 0;
}

static int group_teardown(void **state)
{
    (void)state;
    cfx_replies_free(g.rep);
    cfx_stop(g.env);
    unlink(cfx_admin_config());
    return 0;
}

int main(void)
{
    const char *only = getenv("CMOCKA_TEST_FILTER");
    if (only && *only)
        cmocka_set_test_filter(only);
    dkc_global_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_membership, restore),
        cmocka_unit_test_setup(test_routing, restore),
        cmocka_unit_test_setup(test_routing_unbound, restore),
        cmocka_unit_test_setup(test_list_all, restore),
        cmocka_unit_test_setup(test_bulk, restore),
        cmocka_unit_test_setup(test_bulk_kill, restore),
        cmocka_unit_test_setup(test_bulk_taker_dies, restore),
        cmocka_unit_test_setup(test_bulk_burst, restore),
        cmocka_unit_test_setup(test_bulk_slow_node, restore),
        cmocka_unit_test_setup(test_drain, restore),
    };
    int rc = cmocka_run_group_tests(tests, group_setup, group_teardown);
    dkc_global_cleanup();
    return rc;
}
