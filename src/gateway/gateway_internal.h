/*
 * gateway_internal.h -- what the gateway's files share (gw_ prefix): the
 * listen address, the bearer token, the rate bound, request ids and the
 * allocators (guard.c).  Not for other modules; the unit tests include it.
 */
#ifndef GATEWAY_INTERNAL_H
#define GATEWAY_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "gateway.h"

/* Allocators that abort when memory runs out (the daemon's rule). */
void *gw_xmalloc(size_t n);
void *gw_xcalloc(size_t n, size_t size);
char *gw_xstrdup(const char *s);
void gw_oom(void) __attribute__((noreturn));

/* Monotonic milliseconds. */
int64_t gw_now_ms(void);

/* A fresh request id, "gw-" and 24 hex digits from the kernel's random
 * source, into buf (at least GW_ID_SIZE bytes).  Any thread. */
#define GW_ID_SIZE 32
void gw_request_id(char *buf, size_t len);

/* The set of a "[v]printf"-formatted reason into *cause (malloc'd; the old
 * one freed).  cause may be NULL. */
void gw_cause(char **cause, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- the listen address ------------------------------------------------ */

typedef struct gw_addr {
    struct sockaddr_storage sa; /* resolved address and port */
    socklen_t len;
    int loopback;  /* 127.0.0.0/8, ::1 or ::ffff:127.0.0.0/104 */
    char text[80]; /* "127.0.0.1:8080", "[::1]:8080" (numeric) */
} gw_addr;

/* Reads spec: "PORT" (127.0.0.1:PORT), "HOST:PORT" (HOST an IPv4 address
 * or a name, resolved to its first address) or "[IPv6]:PORT"; PORT
 * 0..65535.  0, or GATEWAY_EADDR with *cause set. */
int gw_addr_parse(const char *spec, gw_addr *out, char **cause);

/* 1 if sa (AF_INET or AF_INET6) is a loopback address. */
int gw_addr_is_loopback(const struct sockaddr *sa);

/* ---- the bearer token -------------------------------------------------- */

#define GW_DIGEST_SIZE 32 /* SHA-256 */

/* Takes the token from token or else from the first line of file (one of
 * them, not both; NULL both: no token), checks its form (GATEWAY_TOKEN_MIN
 * to GATEWAY_TOKEN_MAX characters of RFC 6750's b64token: letters, digits,
 * "-._~+/" and "=") and stores its SHA-256 in digest.  Returns 1 when a
 * token was set, 0 when none was given, or GATEWAY_ETOKEN / GATEWAY_EINVAL
 * with *cause set (never holding the token). */
int gw_token_load(const char *token, const char *file, uint8_t digest[GW_DIGEST_SIZE],
                  char **cause);

/* 1 if the len bytes at given are the token whose digest is want.  The time
 * it takes does not depend on where the two differ, nor on the token's
 * length: both sides are hashed and the digests compared with nettle's
 * memeql_sec. */
int gw_token_equal(const uint8_t want[GW_DIGEST_SIZE], const char *given, size_t len);

/* The token of an "Authorization: Bearer TOKEN" header value (scheme in
 * any case, RFC 7235) into *tok and *len (pointing into header); 0, or -1
 * when header is NULL or of another scheme. */
int gw_bearer(const char *header, const char **tok, size_t *len);

/* ---- the rate bound ---------------------------------------------------- */

/* A token bucket per client address: per_second tokens a second, holding
 * at most twice that (the burst); one request takes one.  slots addresses
 * are tracked; a new address beyond that takes the slot of the one seen
 * longest ago (whose bucket has most likely filled up again anyway).  The
 * mutex inside makes every call safe from any thread. */
typedef struct gw_rate gw_rate;

/* NULL when per_second <= 0 (no bound). */
gw_rate *gw_rate_new(int per_second, size_t slots);
void gw_rate_free(gw_rate *r);

/* Takes one token for the address key (keylen <= 16 bytes: the raw IPv4 or
 * IPv6 address) at time now_ms.  1 if the request may go on; 0 if not,
 * with *retry_s (may be NULL) set to the whole seconds until a token is
 * there again.  A NULL r lets everything through. */
int gw_rate_take(gw_rate *r, const void *key, size_t keylen, int64_t now_ms, int *retry_s);

/* ---- the operations routes (ops.c) -------------------------------------- */

/* The answer of one of the GET routes: a status, the content type (a
 * static string) and the body (malloc'd, NUL-terminated, the caller frees
 * it).  No I/O: these only format. */
typedef struct gw_ops_answer {
    unsigned status;
    const char *content_type;
    char *body;
} gw_ops_answer;

/* GET /healthz: 200, "ok\n". */
void gw_ops_healthz(gw_ops_answer *a);

/* GET /readyz: 200 "ready\n", or 503 "not ready\n" followed by the
 * reasons, one a line: those of ready(ud) (when ready is not NULL), then
 * "gateway: RabbitMQ connection down" when bridge_up is 0 (-1: no
 * bridge). */
void gw_ops_readyz(gateway_ready_fn ready, void *ud, int bridge_up, gw_ops_answer *a);

/* GET /metrics: 200 with m (not NULL; the route answers 404 itself when
 * the gateway has no metrics) rendered, METRICS_CONTENT_TYPE. */
void gw_ops_metrics(metrics *m, gw_ops_answer *a);

/* ---- files ------------------------------------------------------------- */

/* The content of path, at most max bytes, NUL-terminated (malloc'd; *len
 * its length when len is not NULL).  NULL with *cause set ("what: path:
 * reason") when it cannot be read or is larger. */
char *gw_read_file(const char *what, const char *path, size_t max, size_t *len, char **cause);

#endif
