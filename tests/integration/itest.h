/*
 * itest.h -- shared helpers for integration tests against a real dockerd.
 *
 * The daemon is chosen the way users choose it: $DOCKER_HOST,
 * $DOCKER_TLS_VERIFY and $DOCKER_CERT_PATH (scripts/run-tests.sh runs every
 * integration program once over the unix socket, once over TCP and once over
 * TCP with TLS).  Every name a test creates starts with itest_name()'s
 * prefix so that a test only ever removes what it made.
 *
 * Include after <cmocka.h> prerequisites (stdarg, stddef, setjmp).
 */
#ifndef ITEST_H
#define ITEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dkc.h"
#include "lane.h"

/* The image every test runs: a static busybox imported by services.sh. */
#define ITEST_IMAGE "busybox:latest"
/* The same image in the local registry, for pulls. */
#define ITEST_REGISTRY_IMAGE "localhost:5000/busybox"

/* Network mode for test containers: the private daemons of the TCP and TLS
 * runs have a bridge of their own that tests do not rely on, so containers
 * there use "none". */
static inline const char *itest_network_mode(void)
{
    const char *m = getenv("ITEST_NETWORK_MODE");
    return (m && *m) ? m : "none";
}

/* A new client from the environment, negotiated; fails the test if the
 * daemon is not there. */
static inline dkc_client *itest_client(void)
{
    dkc_options o;
    dkc_client *c = NULL;
    dkc_options_init(&o);
    char why[256] = "";
    int rc = dkc_client_new(&o, &c, why, sizeof why);
    if (rc != 0) {
        fprintf(stderr, "itest: dkc_client_new: %s: %s\n", dkc_strerror(rc), why);
        return NULL;
    }
    rc = dkc_client_negotiate(c);
    if (rc != 0) {
        fprintf(stderr, "itest: negotiate with %s: %s: %s\n", dkc_client_host(c), dkc_strerror(rc),
                dkc_client_last_error(c)->message);
        dkc_client_free(c);
        return NULL;
    }
    return c;
}

/* A unique name: "itest-<tag>-<pid>-<counter>" in a static buffer ring. */
static inline const char *itest_name(const char *tag)
{
    static char ring[8][96];
    static unsigned n;
    char *b = ring[n % 8];
    snprintf(b, sizeof ring[0], "itest-%s-%ld-%u", tag, (long)getpid(), n);
    n++;
    return b;
}

/* Prints the client's last error: use in assertion messages. */
static inline void itest_explain(dkc_client *c, int rc)
{
    const dkc_error_info *e = dkc_client_last_error(c);
    fprintf(stderr, "itest: rc=%d (%s) http=%ld message=%s\n", rc, dkc_strerror(rc), e->http_status,
            e->message);
}

#endif
