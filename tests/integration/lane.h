/*
 * lane.h -- which services the integration programs talk to: the lane
 * they run on.  scripts/run-tests.sh runs the suites once per stack (a
 * lane) and says in the environment where that stack's services are:
 *
 *   DOCKER_HOST     the Docker (or Podman) API, default
 *                   unix:///var/run/docker.sock
 *   DD_AMQP_URL     the RabbitMQ broker, default
 *                   amqp://guest:guest@127.0.0.1:5672/
 *   DD_RABBITMQCTL  a command prefix running rabbitmqctl against that
 *                   broker, default "rabbitmqctl"
 *   DD_LANE         the lane's name: docker20 (the default), docker26,
 *                   podman or rabbitmq4
 *
 * Without them a program runs against the shared services of
 * scripts/services.sh, as it always did.  Cases that start private
 * services of their own (private-dockerd.sh, private-rabbitmq.sh) keep
 * doing so.  Header only, so that programs without the daemon fixtures
 * use it too; the strings returned are static and stay valid.  Not
 * thread-safe.
 */
#ifndef LANE_H
#define LANE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LANE_DEFAULT_DOCKER "unix:///var/run/docker.sock"
#define LANE_DEFAULT_AMQP   "amqp://guest:guest@127.0.0.1:5672/"

/* $name when set and not empty, else dflt. */
static inline const char *lane_env(const char *name, const char *dflt)
{
    const char *v = getenv(name);
    return (v && *v) ? v : dflt;
}

/* The lane's name (DD_LANE, default "docker20"). */
static inline const char *lane_name(void)
{
    return lane_env("DD_LANE", "docker20");
}

/* 1 when the lane is name. */
static inline int lane_is(const char *name)
{
    return strcmp(lane_name(), name) == 0;
}

/* True on the Podman lane when a check does not hold there for a reason of
 * Podman's own, named by why and printed as a TAP comment ("# podman
 * differs: why"): the caller then leaves that check out or checks what
 * Podman does instead.  Every such difference is one call. */
static inline int lane_podman_differs(const char *why)
{
    if (!lane_is("podman"))
        return 0;
    printf("# podman differs: %s\n", why);
    fflush(stdout);
    return 1;
}

/* The Docker API address the tests use (DOCKER_HOST). */
static inline const char *lane_docker_host(void)
{
    return lane_env("DOCKER_HOST", LANE_DEFAULT_DOCKER);
}

/* The broker URL the tests use (DD_AMQP_URL). */
static inline const char *lane_amqp_url(void)
{
    return lane_env("DD_AMQP_URL", LANE_DEFAULT_AMQP);
}

/* The rabbitmqctl command prefix (DD_RABBITMQCTL). */
static inline const char *lane_rabbitmqctl(void)
{
    return lane_env("DD_RABBITMQCTL", "rabbitmqctl");
}

/* "host:port" of the broker URL ("127.0.0.1:5672" by default; the
 * scheme's port when the URL names none). */
static inline const char *lane_amqp_hostport(void)
{
    static char out[128];
    const char *u = lane_amqp_url();
    const char *p = strstr(u, "://");
    int tls = strncmp(u, "amqps:", 6) == 0;
    p = p ? p + 3 : u;
    size_t n = strcspn(p, "/,? ");
    const char *at = memchr(p, '@', n);
    if (at) {
        n -= (size_t)(at + 1 - p);
        p = at + 1;
    }
    int has_port = memchr(p, ':', n) != NULL;
    snprintf(out, sizeof out, "%.*s%s", (int)n, p, has_port ? "" : tls ? ":5671" : ":5672");
    return out;
}

/* Writes to buf (size n) the broker URL with user and password instead of
 * the lane's ("amqp://user:pass@host:port/vhost"); user NULL keeps the
 * lane's user and password; vhost "" is the default vhost.  Returns buf,
 * or NULL when the URL does not fit: a URL cut short would reach another
 * user or vhost. */
static inline char *lane_amqp_url_as(char *buf, size_t n, const char *user, const char *pass,
                                     const char *vhost)
{
    const char *u = lane_amqp_url();
    const char *s = strstr(u, "://");
    s = s ? s + 3 : u;
    size_t m = strcspn(s, "/,? ");
    const char *at = memchr(s, '@', m);
    char who[256];
    int w = 0;
    if (user)
        w = snprintf(who, sizeof who, "%s:%s@", user, pass ? pass : "");
    else if (at)
        w = snprintf(who, sizeof who, "%.*s", (int)(at + 1 - s), s);
    else
        who[0] = '\0';
    int len = snprintf(buf, n, "%s%s%s/%s", strncmp(u, "amqps:", 6) == 0 ? "amqps://" : "amqp://",
                       who, lane_amqp_hostport(), vhost);
    if (w < 0 || (size_t)w >= sizeof who || len < 0 || (size_t)len >= n)
        return NULL;
    return buf;
}

#endif
