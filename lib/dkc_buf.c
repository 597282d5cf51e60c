/*
 * dkc_buf.c -- a growable byte buffer with a hard cap.
 *
 * Every buffer fed by the network is one of these.  So a daemon, or
 * anything pretending to be one, cannot make the library allocate without
 * bound.  Past `max` bytes an append fails with DKC_ETOOBIG and leaves the
 * buffer as it was.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dkc_internal.h"

void dkc__buf_init(dkc__buf *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
}

void dkc__buf_cleanup(dkc__buf *b)
{
    if (b == NULL)
        return;
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

void dkc__buf_reset(dkc__buf *b)
{
    b->len = 0;
    if (b->data != NULL)
        b->data[0] = '\0';
}

/* Makes room for `extra` more bytes plus the terminating NUL. */
static int reserve(dkc__buf *b, size_t extra)
{
    if (b->max != 0 && (extra > b->max || b->len > b->max - extra))
        return DKC_ETOOBIG;
    if (extra > SIZE_MAX - b->len - 1)
        return DKC_ETOOBIG;
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    char *p = realloc(b->data, cap);
    if (p == NULL)
        return DKC_ENOMEM;
    b->data = p;
    b->cap = cap;
    return 0;
}

int dkc__buf_append(dkc__buf *b, const void *data, size_t len)
{
    int rc = reserve(b, len);
    if (rc != 0)
        return rc;
    if (len > 0)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
    return 0;
}

int dkc__buf_vprintf(dkc__buf *b, const char *fmt, va_list ap)
{
    va_list again;
    va_copy(again, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    int rc = n < 0 ? DKC_EINVAL : reserve(b, (size_t)n);
    if (rc == 0) {
        vsnprintf(b->data + b->len, (size_t)n + 1, fmt, again);
        b->len += (size_t)n;
    }
    va_end(again);
    return rc;
}

int dkc__buf_printf(dkc__buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = dkc__buf_vprintf(b, fmt, ap);
    va_end(ap);
    return rc;
}

void dkc__buf_consume(dkc__buf *b, size_t n)
{
    if (n >= b->len) {
        dkc__buf_reset(b);
        return;
    }
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
    b->data[b->len] = '\0';
}

char *dkc__buf_steal(dkc__buf *b)
{
    char *p = b->data;
    if (p == NULL)
        p = calloc(1, 1);
    b->data = NULL;
    b->len = b->cap = 0;
    return p;
}

ssize_t dkc_membuf_read(void *ud, char *buf, size_t cap)
{
    dkc_membuf_reader *r = ud;
    if (r == NULL || r->pos > r->len)
        return -1;
    size_t n = r->len - r->pos;
    if (n > cap)
        n = cap;
    if (n > 0)
        memcpy(buf, r->data + r->pos, n);
    r->pos += n;
    return (ssize_t)n;
}
