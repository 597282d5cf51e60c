/*
 * cluster_fx.h -- the fixtures of the cluster tests (test_cluster.c and the
 * tests of membership, routing and placement): a whole cluster on this one
 * machine, N of everything (default 3, at most CFX_MAX_NODES), numbered
 * from 1:
 *
 *   RabbitMQ node i  the private node <name>-i of scripts/rabbitmq-cluster.sh
 *                    (Erlang node dd<name>-i@<host>), AMQP on 127.0.0.1:
 *                    <port>+i-1; nodes 2..N joined to node 1, one cookie
 *   dockerd i        the private dockerd <name>-i of scripts/private-
 *                    dockerd.sh (unix socket, a bridge of its own), holding
 *                    busybox:latest copied from the main daemon
 *   dispatcher i     $DISPATCH_BIN -q <queue> --node n<i> --queue-type quorum
 *                    --workers <w> [conf extra_args] [its own args]
 *                    unix://<dockerd i> <URL of node i>,<URLs of the other
 *                    nodes> (amqp://guest:guest@127.0.0.1:<port>/ each: it
 *                    connects to node i, and to another node while node i is
 *                    down), its output in <log dir>/n<i>.log
 *
 * so dispatcher i talks to dockerd i and RabbitMQ node i only, and the
 * node name "n<i>" is what its replies carry in "node" and its containers
 * in the label io.docker-dispatch.node.  All dispatchers share the queue,
 * hence the work queue <queue> (quorum, replicated on every node) and the
 * cluster label io.docker-dispatch.cluster=<queue>.
 *
 * Names and ports.  <name> is "cfx<pid>"; <queue> defaults to
 * "dd-cfx-<pid>".  The AMQP ports are the first run of N free ports in
 * DD_PORTS_CLUSTER_RABBIT whose distribution ports are free too; that range
 * is the cluster's own in tests/ports.h, the table of every port the tests
 * bind, all below the kernel's ephemeral range (private-rabbitmq.sh
 * refuses others).  Logs: /tmp/dd-cfx-<pid>/ (rabbitmq.log, dockerd.log, n<i>.log),
 * left in place for a failed run to be read.
 *
 * Needs: root (dockerd, bridges), the shared dockerd holding busybox:latest
 * (scripts/services.sh up), RabbitMQ's and Docker's packages, $DISPATCH_BIN
 * and $DD_SCRIPTS (tests/meson.build sets both).  Time on a 2-core machine
 * (measured): cfx_start 23-27 s, up to 40 s when the machine is busy (the
 * three RabbitMQ nodes start at once, 10-12 s, then two join node 1, 3-4 s
 * each; the dockerds start meanwhile; the dispatchers then consume within
 * 0.3 s); cfx_stop 6-13 s; stopping a RabbitMQ node 2-3 s, starting it again
 * until it runs in the cluster 6-8 s; a dispatcher's restart 0.2-1 s.
 *
 * Cleanup.  cfx_stop() removes everything the environment made: the
 * dispatchers (SIGTERM, SIGKILL after 10 s), every container labelled with
 * the cluster on every dockerd, the dockerds and their state, the RabbitMQ
 * nodes and their state (queues go with it).  Call it from a cmocka
 * teardown so that a failing test still cleans up.  If the test process
 * dies instead, its dispatchers die with it (they get SIGKILL when the
 * thread that started them ends: start and stop them from the thread that
 * owns the environment) and the next cfx_start() on this machine stops and
 * removes what a dead test process left (the record in <state
 * dir>/c/<name>).
 *
 * Errors.  Functions return 0 or -1 (or a count) and say why on stderr;
 * none fails the current cmocka test by itself, so all may be used from
 * setup and teardown functions.  Threads: an environment has one owning
 * thread (its Docker event followers are internal threads of their own).
 */
#ifndef CLUSTER_FX_H
#define CLUSTER_FX_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "../ports.h"
#include "broker.h"
#include "dkc.h"

#define CFX_MAX_NODES  5
#define CFX_PORT_FIRST DD_FIRST(DD_PORTS_CLUSTER_RABBIT) /* AMQP ports, tests/ports.h */
#define CFX_PORT_LAST  DD_LAST(DD_PORTS_CLUSTER_RABBIT)
#define CFX_IMAGE      "busybox:latest"
/* The labels the daemon puts on its containers. */
#define CFX_REQUEST_LABEL "io.docker-dispatch.request"
#define CFX_NODE_LABEL    "io.docker-dispatch.node"
#define CFX_CLUSTER_LABEL "io.docker-dispatch.cluster"

/* What to start.  Fill with cfx_conf_init(), then override. */
typedef struct cfx_conf {
    int nodes;         /* N, 1..CFX_MAX_NODES; default 3 */
    const char *queue; /* the dispatchers' -q; default "dd-cfx-<pid>" */
    int workers;       /* each dispatcher's --workers; default 4 */
    /* Arguments for every dispatcher, after the fixture's own and before
     * the addresses: a NULL-terminated array, NULL for none. */
    const char *const *extra_args;
    /* node_args[i - 1]: dispatcher i's own arguments, after extra_args
     * (NULL-terminated, NULL for none); cfx_dispatcher_args() changes them
     * later. */
    const char *const *node_args[CFX_MAX_NODES];
    int no_dispatchers; /* 1: only the services; start them with cfx_dispatcher_start() */
} cfx_conf;

/* The environment (opaque; cfx_start() makes it, cfx_stop() ends it). */
typedef struct cfx cfx;

/* Fills c with the defaults above. */
void cfx_conf_init(cfx_conf *c);

/* ---- the whole environment ---- */

/* Starts the environment of conf (NULL: the defaults): the RabbitMQ cluster
 * and the dockerds at once, then the dispatchers unless conf says not, and
 * waits until each consumes its node queue and the work queue has N
 * consumers.  The strings and arrays of conf are copied.  Returns the
 * environment (cfx_stop()), or NULL after saying why on stderr, with
 * whatever it had started stopped and removed again. */
cfx *cfx_start(const cfx_conf *conf);

/* Stops and removes everything env made (see "Cleanup" above) and frees
 * env.  NULL is fine.  Never fails the test. */
void cfx_stop(cfx *env);

/* Brings env back to whole: starts every RabbitMQ node that is stopped
 * and every dispatcher that is not running (one that ended by itself is
 * reported on stderr), and waits until each dispatcher consumes its node
 * queue and the work queue has N consumers (a dispatcher whose node was
 * down may take up to 30 s to reconnect).  For a test's setup, so that a
 * test that failed halfway does not fail the next.  0 or -1. */
int cfx_restore(cfx *env);

/* Stops and removes what test processes that are gone left behind (their
 * dispatchers by recorded pid, dockerds and RabbitMQ nodes by name, their
 * state).  cfx_start() does it first; returns the number of environments
 * removed. */
int cfx_sweep(void);

/* ---- names, addresses, figures ---- */

int cfx_nodes(const cfx *env);
const char *cfx_queue(const cfx *env);
/* The node name of dispatcher i ("n<i>"), NULL for a bad i. */
const char *cfx_node_name(const cfx *env, int i);
/* The node index of node name s ("n2" -> 2), 0 when it is none of env's. */
int cfx_node_index(const cfx *env, const char *s);
/* amqp://guest:guest@127.0.0.1:<port>/ of RabbitMQ node i, and the port. */
const char *cfx_amqp_url(const cfx *env, int i);
int cfx_amqp_port(const cfx *env, int i);
/* unix://<socket> of dockerd i. */
const char *cfx_docker_host(const cfx *env, int i);
/* The log file of dispatcher i (every instance appends to it). */
const char *cfx_log(const cfx *env, int i);
/* Milliseconds cfx_start() took for the services (RabbitMQ cluster and
 * dockerds, side by side) and then for the dispatchers. */
int64_t cfx_services_ms(const cfx *env);
int64_t cfx_dispatchers_ms(const cfx *env);

/* ---- dispatchers ---- */

/* Replaces dispatcher i's own arguments (NULL-terminated, copied; NULL:
 * none) for its next start.  0 or -1. */
int cfx_dispatcher_args(cfx *env, int i, const char *const *args);

/* Starts dispatcher i (not running) and waits up to 60 s until it
 * consumes its node queue <queue>.node.n<i>.  0, or -1 when it could not
 * start, exited (see its log) or did not consume in time (it is stopped
 * then). */
int cfx_dispatcher_start(cfx *env, int i);

/* Sends sig to dispatcher i and waits up to grace_ms for it to exit, then
 * SIGKILL; reaps it, and waits (at most 5 s) until RabbitMQ no longer
 * counts its consumer on its node queue.  Its wait status, or -1 when it
 * was not running. */
int cfx_dispatcher_stop(cfx *env, int i, int sig, int grace_ms);

/* cfx_dispatcher_stop() with sig (grace 30 s), then cfx_dispatcher_start().
 * 0 or -1. */
int cfx_dispatcher_restart(cfx *env, int i, int sig);

/* The pid of dispatcher i, 0 when it is not running.  A dispatcher that
 * ended by itself is reaped here: 0 then, and *status (if not NULL) gets
 * its wait status (else -1). */
pid_t cfx_dispatcher_pid(cfx *env, int i, int *status);

/* ---- RabbitMQ nodes ---- */

/* Stops RabbitMQ node i (rabbitmqctl stop, by its name), waiting until its
 * VM is gone.  Its dispatcher's connection drops; the dispatcher connects
 * to the next node of its URL list.  0 or -1. */
int cfx_rabbit_stop(cfx *env, int i);

/* Starts RabbitMQ node i again and waits until it runs as a member of the
 * cluster (about 6 s).  0 or -1. */
int cfx_rabbit_start(cfx *env, int i);

/* 1 while RabbitMQ node i runs as far as the fixture knows. */
int cfx_rabbit_running(const cfx *env, int i);

/* ---- clients ---- */

/* A new client-role broker handle on RabbitMQ node i (connect timeout 5 s).
 * NULL on failure (the cause on stderr).  Free with broker_free(). */
broker *cfx_client_open(const cfx *env, int i);

/* The Docker client of dockerd i, made on first use and owned by env
 * (freed by cfx_stop()); NULL when the daemon does not answer.  Owning
 * thread only. */
dkc_client *cfx_docker(cfx *env, int i);

/* Waits up to timeout_ms until queue has exactly want consumers, asking
 * any running RabbitMQ node.  0, or -1 on timeout (the last count on
 * stderr). */
int cfx_wait_consumers(cfx *env, const char *queue, unsigned want, int timeout_ms);

/* Waits up to timeout_ms until dispatcher i consumes its node queue.  0,
 * or -1 when it exited or on timeout. */
int cfx_wait_dispatcher(cfx *env, int i, int timeout_ms);

/* Deletes the dispatchers' topology on the cluster (<queue>, <queue>.dead,
 * <queue>.node.n<i>, the exchanges <queue>.dlx and <queue>.events), for a
 * test that starts its dispatchers again with other queue arguments.  Stop
 * the dispatchers first, or they declare it again.  cfx_stop() need not be
 * preceded by it: the cluster's state goes as a whole.  0 or -1. */
int cfx_delete_queues(cfx *env);

/* ---- Docker's event history, followed live ---- */

/* From cfx_start() on, a thread per dockerd follows the "create" events
 * of containers labelled with the cluster and records, per request id
 * (label io.docker-dispatch.request), on which dockerd each was created
 * (dockerd keeps only its last 256 events, so reading the history after
 * the fact would lose some).  These read the record: */

/* Creates seen on dockerd i (0: on all of them) of request ids beginning
 * with prefix (NULL or "": all).  Events reach the record a few ms after
 * Docker makes them: wait for the replies first. */
int cfx_creates(cfx *env, int i, const char *prefix);

/* Creates of request id on every dockerd together; *where (if not NULL)
 * gets the dockerd of the first one (0: none). */
int cfx_creates_of(cfx *env, const char *request_id, int *where);

/* Creates whose node label is not the node of the dockerd they were made
 * on (a dispatcher used another node's Docker): should stay 0. */
int cfx_creates_misplaced(cfx *env);

/* ---- requests and replies ---- */

/* A reply collector: a durable classic queue <queue> on RabbitMQ node i
 * (declared here; it lives on that node, so keep that node up while it is
 * used) and a client connection of its own there, publishing with it as
 * reply_to and counting what comes back per correlation id. */
typedef struct cfx_replies cfx_replies;

/* Declares queue on node i and connects.  NULL on failure (stderr).  Free
 * with cfx_replies_free(). */
cfx_replies *cfx_replies_new(cfx *env, int i, const char *queue);

/* Deletes the queue and frees r.  NULL is fine. */
void cfx_replies_free(cfx_replies *r);

/* Publishes body (persistent, confirmed) through r's node with routing key
 * routing_key on the default exchange (the work queue: cfx_queue(); a
 * node's queue: "<queue>.node.n<i>"), message_id = correlation_id = id,
 * reply_to r's queue.  0, or a broker_err (after one reconnect and
 * retry). */
int cfx_send(cfx_replies *r, const char *routing_key, const char *id, const char *body);

/* cfx_send() with the AMQP user_id property user (NULL: none; RabbitMQ
 * accepts only the connection's user, "guest"). */
int cfx_send_as(cfx_replies *r, const char *routing_key, const char *id, const char *body,
                const char *user);

/* The path of a config file (written once per process, in /tmp) whose
 * policy lists "guest", the user the fixture publishes as, in admin_users:
 * give it to the dispatchers ("--config", path in extra_args) so that
 * messages sent with cfx_send_as(..., "guest") may drain and resume
 * nodes.  NULL when it cannot be written (the cause on stderr). */
const char *cfx_admin_config(void);

/* Takes every reply waiting in r's queue.  Returns the number taken, or -1
 * when the queue cannot be read. */
int cfx_replies_drain(cfx_replies *r);

/* Drains until each of ids[0..n-1] has at least one reply or timeout_ms
 * passes, then for settle_ms more (to catch second replies).  Returns the
 * number of ids still without a reply. */
int cfx_replies_wait(cfx_replies *r, const char *const *ids, size_t n, int timeout_ms,
                     int settle_ms);

/* Replies seen for id (0: none yet). */
int cfx_replies_count(const cfx_replies *r, const char *id);

/* The first reply for id, parsed (borrowed from r; a JSON string of the
 * body when it was not JSON), NULL when none came. */
json_t *cfx_replies_first(const cfx_replies *r, const char *id);

/* When the first reply for id was taken (dfx_now_ms()), 0 when none came. */
int64_t cfx_replies_first_at(const cfx_replies *r, const char *id);

/* Replies whose correlation id was never sent through r. */
int cfx_replies_strays(const cfx_replies *r);

#endif
