/*
 * daemon_fx.h -- the fixtures of the tests that run the built daemon
 * (test_dispatch.c, test_faults.c, test_invariants.c), in one place:
 * starting $DISPATCH_BIN as a child and stopping it by pid, the broker and
 * Docker handles a test talks through, the scripts that start private
 * services ($DD_SCRIPTS), and the cleanup of what a test made (containers
 * by label, a queue's topology).
 *
 * Link with the daemon_fx static library (tests/meson.build does it for
 * the table rows that run the daemon).  Functions that say so fail the
 * current cmocka test; the others only report on stderr and return an
 * error, so they may also be used from setup and teardown functions.
 * None of them is thread-safe.
 */
#ifndef DAEMON_FX_H
#define DAEMON_FX_H

#include <stdint.h>
#include <sys/types.h>

#include "../ports.h"
#include "broker.h"
#include "dkc.h"
#include "lane.h" /* the lane's services: lane_docker_host(), lane_amqp_url() */

/* Where private-dockerd.sh and private-rabbitmq.sh keep their state. */
#define DFX_STATE_DIR "/var/tmp/docker-dispatch"
/* The labels the daemon puts on its containers. */
#define DFX_REQUEST_LABEL "io.docker-dispatch.request"
#define DFX_NODE_LABEL    "io.docker-dispatch.node"

/* Monotonic milliseconds. */
int64_t dfx_now_ms(void);

/* Starts $DISPATCH_BIN with args (NULL-terminated, without argv[0]),
 * stdin /dev/null, stdout and stderr appended to log (created 0644), in
 * environment envp (NULL: ours).  Returns its pid, or -1 when it could not
 * start (the reason on stderr).  The caller reaps it (dfx_stop). */
pid_t dfx_spawn(const char *const *args, const char *log, char *const *envp);

/* Waits until queue has a consumer, asking through cli every 50 ms, at
 * most timeout_ms / 50 times.  0 once it has; -1 when the daemon *pid
 * exited first (it is reaped and *pid set to 0) or on timeout (the daemon
 * keeps running).  log names the daemon's log in the message on stderr. */
int dfx_wait_consuming(broker *cli, const char *queue, pid_t *pid, int timeout_ms, const char *log);

/* Sends sig to *pid and waits up to grace_ms for it to exit, then sends
 * SIGKILL; reaps it and sets *pid to 0.  Returns its wait status, -1 when
 * *pid is not a process of ours (<= 0). */
int dfx_stop(pid_t *pid, int sig, int grace_ms);

/* Starts a dispatcher on `queue` (classic, 4 workers) as `node` with the
 * config file `cfg`, its output in `log`, and waits until it consumes
 * (seen through cli).  Returns its pid, or -1 after killing it. */
pid_t dfx_start_classic(broker *cli, const char *queue, const char *node, const char *cfg,
                        const char *log);

/* A client-role broker handle on url for queue (connect_timeout_ms 0: the
 * library's default).  NULL on failure, the cause on stderr.  Free with
 * broker_free(). */
broker *dfx_client_open(const char *url, const char *queue, int connect_timeout_ms);

/* A Docker client for host, negotiated, without TLS.  NULL when the daemon
 * does not answer (the reason on stderr).  Free with dkc_client_free(). */
dkc_client *dfx_docker_client(const char *host);

/* The directory of the project's scripts: $DD_SCRIPTS (meson sets it),
 * else "scripts". */
const char *dfx_scripts_dir(void);

/* Runs "<scripts dir>/<script> <args>" through the shell, its stdout sent
 * to our stderr; args is a printf format.  Returns the script's exit
 * status, -1 when it could not run or was killed. */
int dfx_run_script(const char *script, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Removes the state of the private RabbitMQ node rabbit and of the private
 * dockerd dockerd (once nothing is mounted below it any more), both
 * stopped already. */
void dfx_remove_private_state(const char *rabbit, const char *dockerd);

/* 1 if nothing listens on 127.0.0.1:port (a bind succeeds). */
int dfx_port_free(int port);

/* A free loopback port of the range first..last of tests/ports.h (called as
 * dfx_pick_port(DD_PORTS_...)), looked for from an offset given by our pid
 * and wrapping round; with_dist: port + DD_PORT_DIST_OFFSET is free too (a
 * private RabbitMQ node's distribution port).  0 when none is. */
int dfx_pick_port(int first, int last, int with_dist);

/* Declares the durable classic queue name on the broker at
 * 127.0.0.1:port as guest (a plain AMQP connection of its own, closed
 * again).  0 or -1. */
int dfx_declare_durable_queue(int port, const char *name);
/* The same on the broker at url (a plain amqp:// URL, its user and
 * vhost). */
int dfx_declare_durable_queue_at(const char *url, const char *name);

/* The number of "create" events of containers labelled with request id
 * request_id on dkc from since_s (unix seconds) up to now, from Docker's
 * event history.  Fails the current test when Docker does not answer. */
int dfx_count_creates(dkc_client *dkc, const char *request_id, int64_t since_s);

/* Removes (forced, with volumes) every container labelled key=value on
 * dkc, in any state.  Does nothing when dkc is NULL. */
void dfx_remove_containers(dkc_client *dkc, const char *key, const char *value);

/* Deletes the topology of the node c describes (c->queue, c->node, with
 * the queue arguments the daemon used) and first the queue also_queue when
 * not NULL, through a node-role handle of c.  0, or -1 when the broker
 * does not answer. */
int dfx_delete_topology(const broker_conf *c, const char *also_queue);

/* Prints one TAP comment line "# <text>" on stdout (flushed), so that it
 * shows among a program's results: dfx_note for what a test did,
 * dfx_figure ("# figure: <text>") for a measured figure the docs quote. */
void dfx_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void dfx_figure(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* What a test's dispatcher of queue/node left behind, gone: its
 * containers on dkc (by node label; dkc may be NULL) and its topology on
 * the shared RabbitMQ (classic queues, as the tests run them). */
void dfx_forget_node(dkc_client *dkc, const char *queue, const char *node);

/* Its topology alone, on the RabbitMQ at url. */
void dfx_forget_topology(const char *url, const char *queue, const char *node);

/* The text of file path (malloc'd, "" when missing; NULL only when out
 * of memory).  Free with free(). */
char *dfx_read_file(const char *path);

#endif
