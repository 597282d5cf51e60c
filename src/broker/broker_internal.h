/*
 * broker_internal.h -- what the broker's files share; not for its users.
 */
#ifndef DD_BROKER_INTERNAL_H
#define DD_BROKER_INTERNAL_H

#include <stddef.h>

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

#endif
