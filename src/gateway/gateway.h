/*
 * gateway.h -- the HTTP gateway of a dispatcher node: DockerMod's REST style
 * ("POST /" with a message of either dialect) on libmicrohttpd, and the
 * bridge that carries each request into the cluster like any client
 * message and brings its reply back.
 *
 * Routes (a table in gateway.c; docs/protocol.md, "Gateway"):
 *   POST /   the body is one message (docker-dispatch's Dockercmd or
 *            DockerMod's action).  It is checked with proto_parse() first.
 *            A bad one is answered 400 with the error reply the engine
 *            would give, and never published.  A good one is handed to the
 *            submit function under a fresh request id.  The answer is the
 *            reply JSON with the HTTP status of its error code
 *            (proto_code_http_status(); 200 when ok).  It is 504 when no
 *            reply came within the timeout, 503 while the broker is
 *            unreachable.
 *   GET /    the dashboard page (dashboard.c), without the token.
 *   GET /nodes, /containers, /containers/{id}, /images
 *            each the one message it stands for (nodes; list All Cluster;
 *            inspect; images Cluster), handed on like POST /'s.
 *   GET /queues  the depths of <q> and <q>.dead, read every 2 s (events.c).
 *   GET /events  the cluster's events as server-sent events (sse.c).
 *   GET /metrics  the metrics registry (conf->metrics) in Prometheus's
 *            text format 0.0.4 (404 when the gateway has none).
 *   GET /healthz  200 "ok": the process answers.
 *   GET /readyz   200 "ready", or 503 "not ready" and one line per reason:
 *            the daemon's ready function (conf->ready) and the gateway's
 *            own broker connection (ops.c).
 * Every answer carries X-Request-Id; every error answer is a reply-shaped
 * JSON object ({"schema":1,"ok":false,...,"error":{"code":...}}).
 *
 * Protections, in the order a request meets them: the rate bound per
 * client address (429 with Retry-After), the route (404; 405 with Allow),
 * the bearer token when one is set (401 with WWW-Authenticate: Bearer; the
 * token is compared in constant time), the body cap (413).  A listen
 * address that is not loopback needs a token: gateway_start() refuses to
 * start without one.  HTTPS when a certificate and key are given.
 *
 * Threads.  libmicrohttpd runs one thread per connection (at most
 * GATEWAY_MAX_CONNECTIONS).  A request's thread calls the submit function
 * and blocks in it until the reply, the timeout or a failure.  The bridge
 * (bridge.c) owns one client-role broker connection on one thread of its
 * own.  Request threads hand it their requests through a queue and wait on
 * a condition variable each, so many requests are in flight at once.  The
 * events have a client-role connection and a thread of their own
 * (events.c).  Each GET /events stream's connection thread blocks in its
 * content reader until its events come (sse.c).
 * gateway_start(), gateway_quiesce() and gateway_free() are for one
 * controlling thread; gateway_port() and gateway_strerror() for any.
 *
 * Memory.  The gateway is part of the daemon: it aborts when memory runs
 * out (STYLE.md, point 7).  Every buffer the network grows is capped: the
 * body by max_body, headers by libmicrohttpd's per-connection memory limit,
 * the rate table by GATEWAY_RATE_SLOTS addresses, replies by the broker's
 * max_body.
 */
#ifndef GATEWAY_H
#define GATEWAY_H

#include <stddef.h>

#include "broker.h"
#include "metrics.h"

#define GATEWAY_DEFAULT_MAX_BODY   (1u << 20) /* bytes of one request body */
#define GATEWAY_DEFAULT_RATE       50         /* requests per second per client address */
#define GATEWAY_DEFAULT_TIMEOUT_MS 60000      /* wait for a reply */
#define GATEWAY_MAX_CONNECTIONS    256        /* concurrent connections (and requests) */
#define GATEWAY_RATE_SLOTS         1024       /* client addresses the rate bound tracks */
#define GATEWAY_TOKEN_MIN          16         /* bytes of a bearer token, at least */
#define GATEWAY_TOKEN_MAX          4096       /* and at most */

/* Errors: stable and append-only. */
typedef enum gateway_err {
    GATEWAY_OK = 0,
    GATEWAY_EINVAL = -1,       /* a bad setting */
    GATEWAY_ENOMEM = -2,       /* out of memory */
    GATEWAY_EADDR = -3,        /* the listen address cannot be read or resolved */
    GATEWAY_ETOKEN = -4,       /* token missing where required, unreadable or malformed */
    GATEWAY_ETLS = -5,         /* certificate or key unreadable, or refused */
    GATEWAY_ELISTEN = -6,      /* cannot listen (port in use, no permission) */
    GATEWAY_ETIMEOUT = -7,     /* no reply within the timeout */
    GATEWAY_EUNAVAILABLE = -8, /* the broker is not connected, or the gateway is stopping */
    GATEWAY_EBROKER = -9,      /* the bridge's broker connection could not be opened */
    GATEWAY_EREPLY = -10,      /* a reply came but cannot be used (over the size cap) */
    GATEWAY_ESTOPPING = -11,   /* the gateway stopped before the reply came */
} gateway_err;

/* A static description of err; never NULL.  Any thread. */
const char *gateway_strerror(int err);

/*
 * Hands one checked request to the cluster and waits for its reply.
 * request_id is fresh and unique (use it as message and correlation id);
 * body is len bytes of JSON (a message proto_parse() accepted); timeout_ms
 * > 0 bounds the wait.  Returns 0 with *reply set to the reply's JSON text
 * (NUL-terminated, malloc'd, the caller frees it), or GATEWAY_ETIMEOUT,
 * GATEWAY_EUNAVAILABLE, GATEWAY_EREPLY, GATEWAY_ESTOPPING with *reply NULL.  Called on
 * libmicrohttpd's connection threads, many at once.
 */
typedef int (*gateway_submit_fn)(void *ud, const char *request_id, const char *body, size_t len,
                                 int timeout_ms, char **reply);

/*
 * Whether the daemon is ready for work (GET /readyz).  Returns 1 when it
 * is; 0 when not, with one line per reason written into why (len bytes,
 * NUL-terminated, lines ending in '\n', e.g. "docker: unreachable\n").
 * Called on libmicrohttpd's connection threads, many at once, from the
 * gateway's start to its gateway_free().
 */
typedef int (*gateway_ready_fn)(void *ud, char *why, size_t len);

/* Settings.  Fill with gateway_conf_init(), then override.  Strings are
 * borrowed for the duration of gateway_start() only. */
typedef struct gateway_conf {
    /* "ADDR:PORT" (IPv4, a name, or [IPv6]), or only "PORT", which means
     * 127.0.0.1:PORT.  Port 0 takes a free one (gateway_port()). */
    const char *listen;
    const char *token;      /* bearer token, or NULL */
    const char *token_file; /* a file holding the token (its first line), or NULL */
    const char *cert_file;  /* PEM certificate (chain) for HTTPS, with key_file */
    const char *key_file;   /* PEM private key */
    size_t max_body;        /* 0: GATEWAY_DEFAULT_MAX_BODY */
    int rate;               /* requests per second per client address (burst:
                               twice that); 0: no bound */
    int timeout_ms;         /* wait for a reply; 0: GATEWAY_DEFAULT_TIMEOUT_MS */
    const char *node;       /* this node's name, for the replies the gateway makes */
    /* Where requests go: either the broker (the gateway makes a bridge: a
     * client-role connection of its own, with conf copied) ... */
    const broker_conf *broker;
    /* ... or, when broker is NULL, this function (tests). */
    gateway_submit_fn submit;
    void *submit_ud;
    /* What GET /metrics renders (borrowed; must outlive the gateway), or
     * NULL: the route answers 404. */
    metrics *metrics;
    /* The daemon's readiness for GET /readyz, or NULL: ready as long as
     * the gateway's own broker connection (if any) is up. */
    gateway_ready_fn ready;
    void *ready_ud;
} gateway_conf;

/* Fills c with the defaults (listen NULL, rate GATEWAY_DEFAULT_RATE). */
void gateway_conf_init(gateway_conf *c);

typedef struct gateway gateway;

/*
 * Checks c, reads the token file and the certificate and key, connects the
 * bridge (when c->broker is set) and starts listening.  Returns 0 with *out
 * (gateway_free()), or a negative gateway_err with *out NULL and, when
 * cause is not NULL, *cause set to a malloc'd reason for the human (the
 * caller frees it; it never holds the token).  The setting errors --
 * GATEWAY_EINVAL, GATEWAY_EADDR, GATEWAY_ETOKEN, GATEWAY_ETLS,
 * GATEWAY_ELISTEN -- are the user's to fix; GATEWAY_EBROKER means
 * RabbitMQ could not be used.
 */
int gateway_start(const gateway_conf *c, gateway **out, char **cause);

/* The port the gateway listens on (useful after port 0).  Any thread. */
int gateway_port(const gateway *gw);

/* Stops taking connections and answers new requests on open connections
 * 503; requests already handed on still get their replies.  For the start
 * of a shutdown; idempotent; NULL is fine. */
void gateway_quiesce(gateway *gw);

/* Stops everything: requests still waiting are answered 503, the
 * connection threads are joined, the bridge's connection is closed.
 * NULL is fine. */
void gateway_free(gateway *gw);

/* ------------------------------------------------------------------------
 * The bridge on its own (bridge.c): gateway_start() makes one from
 * conf->broker; tests may use it directly.
 * ------------------------------------------------------------------------ */
typedef struct gateway_bridge gateway_bridge;

/* Opens a client-role connection from bc (copied; its role is forced to
 * client), begins direct reply-to and starts the bridge's thread, which
 * owns the connection from then on.  Returns 0 with *out
 * (gateway_bridge_free()), or GATEWAY_EBROKER / GATEWAY_EINVAL with *cause
 * (malloc'd, may be NULL) saying why. */
int gateway_bridge_start(const broker_conf *bc, gateway_bridge **out, char **cause);

/* The gateway_submit_fn of a bridge (ud: the gateway_bridge).  Publishes
 * body to the work queue <q> and waits for the reply.  The message is
 * persistent and mandatory, content type application/json, message id =
 * correlation id = request_id, reply_to direct reply-to.  It expires after
 * timeout_ms, so that a request nobody took in time is dead-lettered
 * instead of run late.
 *
 * GATEWAY_EUNAVAILABLE while the connection is down, and when no queue took
 * the message.  It is also the answer for requests whose connection was
 * lost before their reply came: they may have been carried out.
 * GATEWAY_ESTOPPING once the bridge is stopping. */
int gateway_bridge_submit(void *ud, const char *request_id, const char *body, size_t len,
                          int timeout_ms, char **reply);

/* 1 while the bridge's connection is up.  Any thread. */
int gateway_bridge_up(gateway_bridge *br);

/* Answers every waiting request GATEWAY_ESTOPPING, refuses new ones and
 * ends the bridge's thread (it may take up to a reconnect delay when the
 * broker is down).  Idempotent; NULL is fine. */
void gateway_bridge_stop(gateway_bridge *br);

/* gateway_bridge_stop(), then closes the connection and frees br.  NULL is
 * fine. */
void gateway_bridge_free(gateway_bridge *br);

#endif
