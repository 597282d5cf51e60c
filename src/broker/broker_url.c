/*
 * broker_url.c -- AMQP URLs and names: parsing, the one redacted form of
 * a URL that may appear in any log line or message, and the check of
 * queue, node and cluster names (see broker.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <amqp.h>

#include "broker.h"
#include "broker_internal.h"

int broker_name_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > BROKER_NAME_MAX)
        return 0;
    for (; *s; s++)
        if (!(*s == '-' || *s == '_' || *s == '.' || (*s >= '0' && *s <= '9') ||
              (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z')))
            return 0;
    return 1;
}

/* Percent-encodes s into buf (cap bytes) for the redacted URL's path. */
static void url_escape(char *buf, size_t cap, const char *s)
{
    size_t o = 0;
    for (; *s && o + 4 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '_' || c == '.' || c == '~') {
            buf[o++] = (char)c;
        } else {
            snprintf(buf + o, cap - o, "%%%02X", c);
            o += 3;
        }
    }
    buf[o] = '\0';
}

/* The redacted form of parsed parts: scheme://user:***@host:port/vhost,
 * without "user:***@" when the URL named no user. */
static char *redacted_of(const broker_url *u, int has_userinfo)
{
    char vesc[3 * 256 + 1], hostpart[300];
    if (strcmp(u->vhost, "/") == 0)
        vesc[0] = '\0';
    else
        url_escape(vesc, sizeof vesc, u->vhost);
    snprintf(hostpart, sizeof hostpart, strchr(u->host, ':') ? "[%s]:%d" : "%s:%d", u->host,
             u->port);
    size_t n = strlen(u->user) + strlen(hostpart) + strlen(vesc) + 32;
    char *out = malloc(n);
    if (out == NULL)
        return NULL;
    if (has_userinfo)
        snprintf(out, n, "%s://%s:***@%s/%s", u->tls ? "amqps" : "amqp", u->user, hostpart, vesc);
    else
        snprintf(out, n, "%s://%s/%s", u->tls ? "amqps" : "amqp", hostpart, vesc);
    return out;
}

/* 1 if url has a "user[:password]@" part. */
static int has_userinfo(const char *url)
{
    const char *s = strstr(url, "://");
    s = s ? s + 3 : url;
    const char *end = s + strcspn(s, "/?#");
    const char *at = memchr(s, '@', (size_t)(end - s));
    return at != NULL;
}

int broker__url_parse(const char *url, broker_url *out, char *err, size_t errlen)
{
    struct amqp_connection_info ci;
    memset(out, 0, sizeof *out);
    char *copy = strdup(url ? url : "");
    if (copy == NULL) {
        snprintf(err, errlen, "out of memory");
        return BROKER_ENOMEM;
    }
    amqp_default_connection_info(&ci);
    if (url == NULL || amqp_parse_url(copy, &ci) != AMQP_STATUS_OK) {
        snprintf(err, errlen,
                 "cannot parse the AMQP URL (expected amqp://user:password@host:port/vhost "
                 "or amqps://...)");
        free(copy);
        return BROKER_EURL;
    }
    out->host = strdup(ci.host ? ci.host : "");
    out->user = strdup(ci.user ? ci.user : "");
    out->pass = strdup(ci.password ? ci.password : "");
    /* "amqp://host:5672/" names the empty vhost in the URI spec, which
     * RabbitMQ cannot have; users mean the default one. */
    out->vhost = strdup(ci.vhost && ci.vhost[0] ? ci.vhost : "/");
    out->port = ci.port;
    out->tls = ci.ssl != 0;
    explicit_bzero(copy, strlen(url));
    free(copy);
    if (!out->host || !out->user || !out->pass || !out->vhost ||
        (out->redacted = redacted_of(out, has_userinfo(url))) == NULL) {
        broker__url_cleanup(out);
        snprintf(err, errlen, "out of memory");
        return BROKER_ENOMEM;
    }
    if (!out->host[0]) {
        broker__url_cleanup(out);
        snprintf(err, errlen, "the AMQP URL has no host");
        return BROKER_EURL;
    }
    return 0;
}

void broker__url_cleanup(broker_url *u)
{
    if (u == NULL)
        return;
    if (u->pass)
        explicit_bzero(u->pass, strlen(u->pass));
    free(u->pass);
    free(u->host);
    free(u->user);
    free(u->vhost);
    free(u->redacted);
    memset(u, 0, sizeof *u);
}

char *broker_url_redact(const char *url)
{
    if (url == NULL)
        return strdup("");
    broker_url u;
    char err[256];
    if (broker__url_parse(url, &u, err, sizeof err) == 0) {
        char *out = u.redacted;
        u.redacted = NULL;
        broker__url_cleanup(&u);
        return out;
    }
    /* Not a URL we can read: keep the text, hide what stands between the
     * first ':' after the scheme and the last '@'. */
    const char *scheme = strstr(url, "://");
    const char *at = strrchr(url, '@');
    const char *start = scheme ? scheme + 3 : url;
    const char *colon = at ? memchr(start, ':', (size_t)(at - start)) : NULL;
    char *out = NULL;
    if (colon == NULL)
        out = strdup(url);
    else if (asprintf(&out, "%.*s:***%s", (int)(colon - url), url, at) < 0)
        out = NULL;
    return out;
}
