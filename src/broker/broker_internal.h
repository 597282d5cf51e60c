/*
 * broker_internal.h -- what the broker's files share; not for its users.
 */
#ifndef DD_BROKER_INTERNAL_H
#define DD_BROKER_INTERNAL_H

/*
 * The broker's files, in reading order.
 *   `broker.c`: the handle; settings, connecting, errors, reconnecting.
 *   `frames.c`: the frame pump; deliveries, confirms, returns, cancels,
 *     channel and connection closes; broker_poll, ack/nack.
 *   `topology.c`: what a node declares (a table), consumers, pause/resume,
 *     the side channel's admin calls.
 *   `publish.c`: publishing with confirms, dead-lettering, request/reply.
 *   `broker_url.c`: AMQP URLs, the redacted form, names.
 * The DESIGN note is at the top of broker.c.  Every function here is for
 * the handle's owning thread only, like the public ones.
 */

#include <stddef.h>
#include <stdint.h>

#include <amqp.h>

#include "broker.h"

/* A parsed AMQP URL.  Every string is malloc'd; pass is wiped by
 * broker__url_cleanup(). */
typedef struct broker_url {
    char *host, *user, *pass, *vhost;
    int port, tls;
    char *redacted; /* scheme://user:***@host:port/vhost */
} broker_url;

/* Parses url into *out: 0, or BROKER_EURL / BROKER_ENOMEM with the reason
 * in err (never the password). */
int broker__url_parse(const char *url, broker_url *out, char *err, size_t errlen);
void broker__url_cleanup(broker_url *u);

#define TAG_BITS 40
#define TAG_MASK ((UINT64_C(1) << TAG_BITS) - 1)
#define GEN_MASK 0xFFFFFFu

#define CT_WORK  "dd-work"
#define CT_NODE  "dd-node"
#define CT_REPLY "dd-reply"
#define CT_WATCH "dd-watch"

#define MAX_NAME           255  /* AMQP short string */
#define MAX_PENDING_FRAMES 4096 /* frames set aside while reading side-channel content */
#define MAX_REASON         1024 /* x-dd-reason bytes kept */
#define FRAME_MAX          131072
#define SYSTEM_CA_BUNDLE   "/etc/ssl/certs/ca-certificates.crt" /* Debian's */

enum confirm_state { CONFIRM_NONE, CONFIRM_PENDING, CONFIRM_ACKED, CONFIRM_NACKED };

struct broker {
    broker_conf conf; /* string fields point at the copies below */
    char *s_url, *s_queue, *s_node, *s_conn_name, *s_ca, *s_cert, *s_key;
    /* the endpoint in use: borrowed from eps[cur_ep] */
    char *host, *user, *pass, *vhost;
    int port, tls;
    char *redacted;
    broker_url *eps; /* every URL of conf.url (comma-separated), in order */
    size_t n_eps, cur_ep;
    char *n_work, *n_dead, *n_dlx, *n_node, *n_events;
    char *n_containers; /* <q>.containers: direct, node queues bound by container id */
    char *n_all;        /* <q>.all: fanout to every node queue (cluster-wide queries) */
    char *n_owner;      /* <q>.node.<name>.owner: the identity lock (hold_identity) */
    int wake_fd;        /* broker_set_wake_fd(), -1: none */
    int wake_armed;     /* inside broker_poll: the wake fd may end a wait between frames */

    amqp_connection_state_t conn;
    int up;                 /* connection usable */
    amqp_channel_t ch;      /* main channel, 0 while closed */
    amqp_channel_t side;    /* side channel, 0 while closed */
    amqp_channel_t last_ch; /* last channel number handed out */
    int channel_max;
    uint32_t generation;
    int close_code; /* reply code of the last channel.close from the broker */
    /* the server's "version" property at the last login ("" before one),
     * and its leading number (0: not known) */
    char server_version[32];
    int server_major;

    int paused, rpc_wanted;
    int draining; /* broker_drain(): no work queue consumer, the node queue still consumed */
    int work_on, node_on, reply_on, watch_on;
    char *watch_pattern; /* broker_watch(): binding key on <q>.events; NULL: none */
    int resubscribe;     /* the broker cancelled a consumer of ours */
    int blocked;         /* connection.blocked (resource alarm) */
    int64_t last_wait;   /* when the library last waited for frames (heartbeats) */

    uint64_t pub_seq; /* sequence number of the last publish on ch */
    /* broker_publish_batched(): publishes batch_first .. batch_first +
     * batch_n - 1 on ch, each CONFIRM_PENDING until its confirm comes */
    uint64_t batch_first;
    size_t batch_n;
    unsigned char batch_state[BROKER_BATCH_MAX];
    uint64_t wait_seq;
    int wait_state;
    int wait_returned;
    char wait_return[256];

    amqp_frame_t *pend;
    size_t pend_len, pend_cap;

    broker_delivery *dq;
    size_t dq_len, dq_cap;

    uint64_t rng;
    unsigned long corr_seq;
    char err[BROKER_ERRMAX];
};

/* ---- broker.c ---- */
amqp_channel_t brk_alloc_channel(broker *b);
void brk_append_escaped(char *dst, size_t cap, const void *src, size_t len);
void brk_conn_lost(broker *b);
int64_t brk_deadline_after(int timeout_ms);
char *brk_dupbytes(amqp_bytes_t v, size_t cap, int *oom);
int brk_lib_failed(broker *b, const char *what, int status);
uint32_t brk_next_generation(broker *b);
int64_t brk_now_ms(void);
int brk_on_channel_close(broker *b, amqp_channel_t ch, const char *what,
                         const amqp_channel_close_t *m);
int brk_on_connection_close(broker *b, const char *what, const amqp_connection_close_t *m);
uint64_t brk_rng_next(broker *b);
int brk_rpc_check(broker *b, amqp_rpc_reply_t r, amqp_channel_t ch, const char *what);
int brk_rpc_result(broker *b, amqp_channel_t ch, const char *what);
const char *brk_server_text(broker *b, amqp_bytes_t t, char *buf, size_t cap);
void brk_set_err(broker *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
uint64_t brk_tag_encode(const broker *b, uint64_t server_tag);
void brk_teardown_keep_reason(broker *b);

/* ---- frames.c ---- */
void brk_delivery_init(broker_delivery *d);
void brk_dq_drop_acked(broker *b);
void brk_dq_take(broker *b, size_t i, broker_delivery *out);
int brk_pump(broker *b, int64_t deadline);
int brk_read_content(broker *b, amqp_channel_t ch, broker_delivery *d, int keep_body);

/* Copies the basic properties p of a received message into d (d from
 * brk_delivery_init): the strings, persistence and headers.  It also
 * records what could not be kept as it came (broker_delivery:
 * bad_property, headers_over, headers with a NULL value).  0 or
 * BROKER_ENOMEM (d keeps what it has).
 * Pure: the frame pump's step and the delivery fuzz target's. */
int brk_copy_props(broker_delivery *d, const amqp_basic_properties_t *p);
void brk_release_channel(broker *b, amqp_channel_t ch);

/* ---- topology.c ---- */
amqp_table_entry_t brk_entry_bool(const char *k, int v);
amqp_table_entry_t brk_entry_str(const char *k, const char *v);
int brk_maintain(broker *b);
int brk_open_main(broker *b, int with_topology);

#endif
