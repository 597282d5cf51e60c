/*
 * base.c -- the daemon's allocators that abort, and its capped buffer
 * over libdkc's.  See base.h.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base.h"

void xoom(void)
{
    static const char msg[] = "docker-dispatch: out of memory\n";
    /* write(2), not stdio: nothing here may need memory */
    ssize_t n = write(STDERR_FILENO, msg, sizeof msg - 1);
    (void)n;
    abort();
}

void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (p == NULL)
        xoom();
    return p;
}

void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (p == NULL)
        xoom();
    return p;
}

char *xstrdup(const char *s)
{
    if (s == NULL)
        return NULL;
    char *p = strdup(s);
    if (p == NULL)
        xoom();
    return p;
}

void xbuf_init(xbuf *b, size_t max)
{
    dkc__buf_init(b, max);
}

void xbuf_cleanup(xbuf *b)
{
    dkc__buf_cleanup(b);
}

void xbuf_reset(xbuf *b)
{
    dkc__buf_reset(b);
}

/* The result of a dkc__buf append: 0, -1 past the cap; aborts without
 * memory. */
static int taken(int rc)
{
    if (rc == DKC_ENOMEM)
        xoom();
    return rc == 0 ? 0 : -1;
}

int xbuf_add(xbuf *b, const void *p, size_t n)
{
    return taken(dkc__buf_append(b, p, n));
}

int xbuf_printf(xbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = dkc__buf_vprintf(b, fmt, ap);
    va_end(ap);
    return taken(rc);
}

char *xbuf_steal(xbuf *b)
{
    char *p = dkc__buf_steal(b);
    if (p == NULL)
        xoom();
    return p;
}
