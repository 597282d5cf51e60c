/*
 * guard.c -- the gateway's protections and small helpers.  The listen
 * address and whether it is loopback; whether a request is addressed to
 * the gateway (Host, Origin, Content-Type).  The bearer token (loaded,
 * checked, compared in constant time); the per-address rate bound; request
 * ids; files.  See gateway_internal.h.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>

#include <nettle/memops.h>
#include <nettle/sha2.h>

#include "gateway_internal.h"
#include "log.h"

int64_t gw_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void gw_cause(char **cause, const char *fmt, ...)
{
    if (cause == NULL)
        return;
    va_list ap;
    va_start(ap, fmt);
    free(*cause);
    if (vasprintf(cause, fmt, ap) < 0)
        xoom();
    va_end(ap);
}

void gw_request_id(char *buf, size_t len)
{
    unsigned char rnd[12];
    size_t got = 0;
    while (got < sizeof rnd) {
        ssize_t n = getrandom(rnd + got, sizeof rnd - got, 0);
        if (n < 0 && errno != EINTR)
            abort(); /* no kernel randomness on Linux >= 3.17: nothing sensible to do */
        if (n > 0)
            got += (size_t)n;
    }
    static const char hex[] = "0123456789abcdef";
    char id[GW_ID_SIZE] = "gw-";
    for (size_t i = 0; i < sizeof rnd; i++) {
        id[3 + 2 * i] = hex[rnd[i] >> 4];
        id[4 + 2 * i] = hex[rnd[i] & 15];
    }
    id[3 + 2 * sizeof rnd] = '\0';
    snprintf(buf, len, "%s", id);
}

/* ---- the listen address ------------------------------------------------ */

int gw_addr_is_loopback(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
        return (ntohl(s4->sin_addr.s_addr) >> 24) == 127;
    }
    if (sa->sa_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        if (IN6_IS_ADDR_LOOPBACK(a))
            return 1;
        return IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127;
    }
    return 0;
}

/* Splits spec into host and port (both into the caller's buffers).  0, or
 * -1 with *cause set.  By hand because getaddrinfo() takes the two apart
 * and nothing in libc or our dependencies splits "HOST:PORT" (with IPv6's
 * brackets); resolving is left to getaddrinfo(). */
static int split_spec(const char *spec, char *host, size_t hostlen, char *port, size_t portlen,
                      char **cause)
{
    const char *p; /* the port */
    size_t hl;
    if (strspn(spec, "0123456789") == strlen(spec)) { /* only a port: loopback */
        snprintf(host, hostlen, "127.0.0.1");
        p = spec;
    } else if (spec[0] == '[') {
        const char *close = strchr(spec, ']');
        if (close == NULL || close[1] != ':') {
            gw_cause(cause, "gateway address \"%.80s\": write an IPv6 address as [ADDR]:PORT",
                     spec);
            return -1;
        }
        hl = (size_t)(close - spec - 1);
        p = close + 2;
        if (hl == 0 || hl >= hostlen)
            goto bad;
        memcpy(host, spec + 1, hl);
        host[hl] = '\0';
    } else {
        const char *colon = strrchr(spec, ':');
        if (colon == NULL || colon == spec || memchr(spec, ':', (size_t)(colon - spec))) {
            gw_cause(cause,
                     "gateway address \"%.80s\" must be ADDR:PORT, [IPv6]:PORT or PORT (every "
                     "address: 0.0.0.0:PORT)",
                     spec);
            return -1;
        }
        hl = (size_t)(colon - spec);
        if (hl >= hostlen)
            goto bad;
        memcpy(host, spec, hl);
        host[hl] = '\0';
        p = colon + 1;
    }
    size_t pl = strlen(p);
    if (pl == 0 || pl > 5 || strspn(p, "0123456789") != pl || strtol(p, NULL, 10) > 65535 ||
        pl >= portlen)
        goto bad;
    memcpy(port, p, pl + 1);
    return 0;
bad:
    gw_cause(cause, "gateway address \"%.80s\": bad address or port (0 to 65535)", spec);
    return -1;
}

int gw_addr_parse(const char *spec, gw_addr *out, char **cause)
{
    char host[256], port[8];
    struct addrinfo hints, *res = NULL;
    memset(out, 0, sizeof *out);
    if (spec == NULL || *spec == '\0') {
        gw_cause(cause, "gateway address is empty");
        return GATEWAY_EADDR;
    }
    if (split_spec(spec, host, sizeof host, port, sizeof port, cause) != 0)
        return GATEWAY_EADDR;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV | AI_ADDRCONFIG;
    int rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0 || res == NULL) {
        gw_cause(cause, "gateway address \"%.80s\": %s", spec,
                 rc != 0 ? gai_strerror(rc) : "no address");
        return GATEWAY_EADDR;
    }
    memcpy(&out->sa, res->ai_addr, res->ai_addrlen);
    out->len = res->ai_addrlen;
    freeaddrinfo(res);
    out->loopback = gw_addr_is_loopback((struct sockaddr *)&out->sa);
    char *num = out->num;
    snprintf(num, sizeof out->num, "?");
    snprintf(out->name, sizeof out->name, "%s", host);
    if (out->sa.ss_family == AF_INET6) {
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&out->sa)->sin6_addr, num, sizeof out->num);
        snprintf(out->text, sizeof out->text, "[%s]:%s", num, port);
    } else {
        inet_ntop(AF_INET, &((struct sockaddr_in *)&out->sa)->sin_addr, num, sizeof out->num);
        snprintf(out->text, sizeof out->text, "%s:%s", num, port);
    }
    return 0;
}

/* ---- requests addressed to this gateway -------------------------------- */

/* 1 if the n bytes at host are one of the gateway's names. */
static int own_host(const gw_addr *a, const char *host, size_t n)
{
    const char *names[] = {"localhost", "127.0.0.1", "::1", a->name, a->num};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (n > 0 && strlen(names[i]) == n && strncasecmp(names[i], host, n) == 0)
            return 1;
    return 0;
}

int gw_authority_ok(const gw_addr *a, int port, int https, const char *authority, size_t len)
{
    const char *host = authority, *end = authority + len, *p;
    size_t hl;
    if (len > 0 && authority[0] == '[') { /* an IPv6 address, and only one */
        const char *close = memchr(authority, ']', len);
        if (close == NULL)
            return 0;
        host = authority + 1;
        hl = (size_t)(close - host);
        if (memchr(host, ':', hl) == NULL)
            return 0;
        p = close + 1;
    } else {
        const char *colon = memchr(authority, ':', len);
        p = colon ? colon : end;
        hl = (size_t)(p - host);
    }
    if (!own_host(a, host, hl))
        return 0;
    if (p == end) /* no port: the scheme's default */
        return port == (https ? 443 : 80);
    if (*p != ':' || end - p < 2 || end - p > 6)
        return 0;
    int given = 0;
    for (const char *d = p + 1; d < end; d++) {
        if (*d < '0' || *d > '9')
            return 0;
        given = given * 10 + (*d - '0');
    }
    return given == port;
}

int gw_origin_ok(const gw_addr *a, int port, int https, const char *origin)
{
    const char *scheme = https ? "https://" : "http://";
    size_t sl = strlen(scheme);
    if (origin == NULL || strncasecmp(origin, scheme, sl) != 0)
        return 0;
    return gw_authority_ok(a, port, https, origin + sl, strlen(origin + sl));
}

int gw_content_type_json(const char *ct)
{
    static const char json[] = "application/json";
    if (ct == NULL)
        return 0;
    ct += strspn(ct, " \t");
    if (strncasecmp(ct, json, sizeof json - 1) != 0)
        return 0;
    char next = ct[sizeof json - 1];
    return next == '\0' || next == ';' || next == ' ' || next == '\t';
}

/* ---- the bearer token -------------------------------------------------- */

/* RFC 6750's b64token alphabet. */
static int token_char(int c)
{
    return isalnum(c) || strchr("-._~+/=", c) != NULL;
}

/* Reads the token from the first line of path into *out (malloc'd).  0,
 * or GATEWAY_ETOKEN with *cause set. */
static int token_from_file(const char *path, char **out, char **cause)
{
    struct stat st;
    char *text = gw_read_file("gateway token file", path, GATEWAY_TOKEN_MAX + 2, NULL, cause);
    if (text == NULL)
        return GATEWAY_ETOKEN;
    text[strcspn(text, "\r\n")] = '\0';
    size_t n = strlen(text);
    while (n > 0 && isspace((unsigned char)text[n - 1]))
        text[--n] = '\0';
    if (stat(path, &st) == 0 && (st.st_mode & 077) != 0)
        log_msg(LOG_LVL_WARN,
                "gateway token file %s can be read by others than its owner "
                "(chmod 600 it)",
                path);
    *out = text;
    return 0;
}

int gw_token_load(const char *token, const char *file, uint8_t digest[GW_DIGEST_SIZE], char **cause)
{
    char *from_file = NULL;
    int rc;
    if (token != NULL && file != NULL) {
        gw_cause(cause, "give the gateway token or a token file, not both");
        return GATEWAY_EINVAL;
    }
    if (token == NULL && file == NULL)
        return 0;
    if (file != NULL) {
        rc = token_from_file(file, &from_file, cause);
        if (rc != 0)
            return rc;
        token = from_file;
    }
    size_t n = strlen(token);
    size_t bad = 0;
    while (bad < n && token_char((unsigned char)token[bad]))
        bad++;
    if (n < GATEWAY_TOKEN_MIN || n > GATEWAY_TOKEN_MAX || bad != n) {
        gw_cause(cause,
                 "the gateway token%s%s must be %d to %d characters of letters, digits and "
                 "-._~+/= (it is %zu characters%s)",
                 file ? " in " : "", file ? file : "", GATEWAY_TOKEN_MIN, GATEWAY_TOKEN_MAX, n,
                 bad != n ? ", with others among them" : "");
        rc = GATEWAY_ETOKEN;
        goto out;
    }
    struct sha256_ctx ctx;
    sha256_init(&ctx);
    sha256_update(&ctx, n, (const uint8_t *)token);
    sha256_digest(&ctx, GW_DIGEST_SIZE, digest);
    rc = 1;
out:
    if (from_file != NULL) {
        explicit_bzero(from_file, strlen(from_file));
        free(from_file);
    }
    return rc;
}

int gw_token_equal(const uint8_t want[GW_DIGEST_SIZE], const char *given, size_t len)
{
    uint8_t d[GW_DIGEST_SIZE];
    struct sha256_ctx ctx;
    sha256_init(&ctx);
    sha256_update(&ctx, len, (const uint8_t *)given);
    sha256_digest(&ctx, sizeof d, d);
    return memeql_sec(want, d, sizeof d) != 0;
}

int gw_bearer(const char *header, const char **tok, size_t *len)
{
    if (header == NULL)
        return -1;
    while (*header == ' ')
        header++;
    if (strncasecmp(header, "Bearer", 6) != 0 || header[6] != ' ')
        return -1;
    const char *t = header + 7;
    while (*t == ' ')
        t++;
    size_t n = strlen(t);
    while (n > 0 && (t[n - 1] == ' ' || t[n - 1] == '\t'))
        n--;
    *tok = t;
    *len = n;
    return 0;
}

/* ---- the rate bound ---------------------------------------------------- */

/* A token bucket per address, by hand: none of the dependencies
 * (libmicrohttpd bounds connections per address, not requests over time)
 * offers one, and it is a few lines of arithmetic under a mutex. */
typedef struct bucket {
    unsigned char key[16];
    size_t keylen; /* 0: free slot */
    double tokens;
    int64_t last_ms;
} bucket;

struct gw_rate {
    pthread_mutex_t mu;
    double per_ms; /* tokens added per millisecond */
    double burst;  /* most tokens a bucket holds */
    bucket *slots;
    size_t n;
};

gw_rate *gw_rate_new(int per_second, size_t slots)
{
    if (per_second <= 0 || slots == 0)
        return NULL;
    gw_rate *r = xcalloc(1, sizeof *r);
    pthread_mutex_init(&r->mu, NULL);
    r->per_ms = per_second / 1000.0;
    r->burst = 2.0 * per_second;
    r->slots = xcalloc(slots, sizeof *r->slots);
    r->n = slots;
    return r;
}

void gw_rate_free(gw_rate *r)
{
    if (r == NULL)
        return;
    pthread_mutex_destroy(&r->mu);
    free(r->slots);
    free(r);
}

/* The slot of key, or a free one, or the one seen longest ago, made fresh
 * (a full bucket).  A linear scan: the table is small and bounded
 * (GATEWAY_RATE_SLOTS), one scan costs far less than the HTTP request it
 * guards, and an LRU order needs no second structure to keep in step. */
static bucket *find_slot(gw_rate *r, const void *key, size_t keylen, int64_t now_ms)
{
    bucket *free_slot = NULL, *oldest = NULL;
    for (size_t i = 0; i < r->n; i++) {
        bucket *b = &r->slots[i];
        if (b->keylen == keylen && memcmp(b->key, key, keylen) == 0)
            return b;
        if (b->keylen == 0) {
            if (free_slot == NULL)
                free_slot = b;
        } else if (oldest == NULL || b->last_ms < oldest->last_ms) {
            oldest = b;
        }
    }
    bucket *b = free_slot ? free_slot : oldest;
    memcpy(b->key, key, keylen);
    b->keylen = keylen;
    b->tokens = r->burst;
    b->last_ms = now_ms;
    return b;
}

int gw_rate_take(gw_rate *r, const void *key, size_t keylen, int64_t now_ms, int *retry_s)
{
    if (r == NULL)
        return 1;
    if (keylen > sizeof r->slots[0].key)
        keylen = sizeof r->slots[0].key;
    pthread_mutex_lock(&r->mu);
    bucket *b = find_slot(r, key, keylen, now_ms);
    if (now_ms > b->last_ms) {
        b->tokens += (double)(now_ms - b->last_ms) * r->per_ms;
        if (b->tokens > r->burst)
            b->tokens = r->burst;
    }
    b->last_ms = now_ms;
    int ok = b->tokens >= 1.0;
    if (ok)
        b->tokens -= 1.0;
    else if (retry_s != NULL)
        *retry_s = (int)((1.0 - b->tokens) / (r->per_ms * 1000.0)) + 1;
    pthread_mutex_unlock(&r->mu);
    return ok;
}

/* ---- files ------------------------------------------------------------- */

char *gw_read_file(const char *what, const char *path, size_t max, size_t *len, char **cause)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        gw_cause(cause, "%s %s: %s", what, path, strerror(errno));
        return NULL;
    }
    char *buf = xmalloc(max + 1);
    size_t n = fread(buf, 1, max + 1, f);
    int err = ferror(f) ? errno : 0;
    fclose(f);
    if (err != 0 || n > max) {
        gw_cause(cause, "%s %s: %s", what, path,
                 err != 0 ? strerror(err) : "larger than the limit for it");
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    if (len != NULL)
        *len = n;
    return buf;
}
