/*
 * status.h -- what the daemon tells about itself (status.c): its metrics
 * (metrics.h, metrics_dd) and its readiness for the gateway's GET /readyz.
 *
 * Threads.  status_new(), status_set_engine() and status_free() are for
 * the main thread; status_broker() and status_stopping() too (it owns the
 * broker); status_ready() and the metrics' collect function run on the
 * gateway's connection threads, reading only atomics and the engine's and
 * cluster's thread-safe getters.
 */
#ifndef DD_STATUS_H
#define DD_STATUS_H

#include <stddef.h>

#include "cluster.h"
#include "engine.h"
#include "metrics.h"

typedef struct dd_status dd_status;

/* A status for node running version: its metrics registered, the broker
 * taken as up (the daemon opens it before), no engine yet (not ready).
 * Never NULL.  Free with status_free() after the gateway and the engine
 * are gone. */
dd_status *status_new(const char *version, const char *node);
void status_free(dd_status *s);

/* The metrics, for the engine and the gateway (owned by s). */
metrics_dd *status_metrics(dd_status *s);

/* The engine and cluster are running (borrowed; set them to NULL before
 * freeing them).  s may be NULL (a start that ended early). */
void status_set_engine(dd_status *s, engine *e, cluster *cl);

/* The node's RabbitMQ connection went down (0) or came back (1; counts a
 * reconnect when it had been down). */
void status_broker(dd_status *s, int up);

/* The daemon is stopping: no longer ready. */
void status_stopping(dd_status *s);

/* The gateway_ready_fn (ud: the dd_status): ready when the engine runs,
 * Docker answers (consumption is not paused for it), the node's RabbitMQ
 * connection is up and the daemon is not stopping.  A drained node
 * (unregister) is still ready: it serves requests for its own containers
 * and its node queue. */
int status_ready(void *ud, char *why, size_t len);

#endif
