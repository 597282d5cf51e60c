/*
 * dkc_addr.c -- parsing Docker daemon addresses.
 *
 * Accepts the seed CLI's forms (a socket path, ip:port) and the ones Docker
 * users write (unix://, tcp://, http://, https://).  Pure: no I/O.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dkc_internal.h"

static bool has_prefix(const char *s, const char *p)
{
    return strncmp(s, p, strlen(p)) == 0;
}

/* Parses "host", "host:port", "[v6]", "[v6]:port", with an optional trailing
 * "/" (tcp://host:port/ as some users write it). */
static int parse_hostport(const char *s, dkc_addr *out)
{
    char tmp[300];
    size_t n = strlen(s);
    if (n == 0 || n >= sizeof tmp)
        return DKC_EADDR;
    memcpy(tmp, s, n + 1);
    if (n > 1 && tmp[n - 1] == '/')
        tmp[--n] = '\0';
    if (strchr(tmp, '/') != NULL || strchr(tmp, '@') != NULL || strchr(tmp, '?') != NULL)
        return DKC_EADDR;

    const char *host = tmp;
    char *port = NULL;
    if (tmp[0] == '[') {
        char *close = strchr(tmp, ']');
        if (close == NULL)
            return DKC_EADDR;
        *close = '\0';
        host = tmp + 1;
        if (close[1] == ':')
            port = close + 2;
        else if (close[1] != '\0')
            return DKC_EADDR;
    } else {
        char *colon = strchr(tmp, ':');
        if (colon != NULL) {
            if (strchr(colon + 1, ':') != NULL)
                return DKC_EADDR; /* bare IPv6 needs brackets */
            *colon = '\0';
            port = colon + 1;
        }
    }
    if (host[0] == '\0' || strlen(host) >= sizeof out->host)
        return DKC_EADDR;
    for (const char *p = host; *p; p++) {
        unsigned char ch = (unsigned char)*p;
        if (ch <= ' ' || ch == '%' || ch == '#' || ch >= 0x7f)
            return DKC_EADDR;
    }
    out->port = 0;
    if (port != NULL) {
        char *end;
        if (port[0] < '0' || port[0] > '9')
            return DKC_EADDR;
        long v = strtol(port, &end, 10);
        if (*end != '\0' || v < 1 || v > 65535)
            return DKC_EADDR;
        out->port = (int)v;
    }
    snprintf(out->host, sizeof out->host, "%.*s", (int)sizeof out->host - 1, host);
    out->kind = DKC_ADDR_TCP;
    return 0;
}

static int parse_unix(const char *path, dkc_addr *out)
{
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof out->path)
        return DKC_EADDR;
    out->kind = DKC_ADDR_UNIX;
    memcpy(out->path, path, n + 1);
    return 0;
}

int dkc_addr_parse(const char *text, dkc_addr *out)
{
    if (text == NULL || out == NULL)
        return DKC_EINVAL;
    memset(out, 0, sizeof *out);
    if (has_prefix(text, "unix://"))
        return parse_unix(text + strlen("unix://"), out);
    if (text[0] == '/' || text[0] == '.')
        return parse_unix(text, out);
    if (has_prefix(text, "tcp://"))
        return parse_hostport(text + strlen("tcp://"), out);
    if (has_prefix(text, "http://"))
        return parse_hostport(text + strlen("http://"), out);
    if (has_prefix(text, "https://")) {
        int rc = parse_hostport(text + strlen("https://"), out);
        out->tls = rc == 0;
        return rc;
    }
    if (strstr(text, "://") != NULL)
        return DKC_EADDR; /* ssh://, fd://, npipe://: not supported */
    return parse_hostport(text, out);
}
