/*
 * base.h -- the bottom of the daemon: what every part of it shares.
 *
 * Out of memory.  The daemon's parts end the process when memory runs out
 * (STYLE.md, point 7).  They allocate through the x functions here, which
 * print one line on stderr and abort.  libdkc and the broker never abort;
 * they return an error instead (their headers say so).
 *
 * The capped buffer.  xbuf is libdkc's buffer (lib/dkc_buf.c) with the
 * daemon's rule for memory: an append past its cap is refused and leaves
 * it as it was, and running out of memory aborts.  A buffer that network
 * input grows has a cap (STYLE.md, point 12).
 *
 * Threads.  Any thread; an xbuf belongs to one at a time.
 */
#ifndef DD_BASE_H
#define DD_BASE_H

#include <stdarg.h>
#include <stddef.h>

#include "dkc_internal.h"

/* Says "out of memory" on stderr and aborts. */
void xoom(void) __attribute__((noreturn));

/* malloc, calloc and strdup that abort instead of returning NULL.  A size
 * of 0 still returns a pointer to free; xstrdup(NULL) is NULL. */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
char *xstrdup(const char *s);

/* Bytes, always NUL-terminated once something was added: data (NULL
 * before), len, and at most max bytes (0: no cap, only for buffers the
 * network does not feed).  A zeroed xbuf is an empty one without a cap. */
typedef dkc__buf xbuf;

void xbuf_init(xbuf *b, size_t max);
/* Frees the bytes; b is empty and keeps its cap.  b may be NULL. */
void xbuf_cleanup(xbuf *b);
/* len = 0, memory kept. */
void xbuf_reset(xbuf *b);
/* Appends n bytes of p: 0, or -1 when that would pass the cap (nothing
 * is appended). */
int xbuf_add(xbuf *b, const void *p, size_t n);
/* Appends the formatted text: 0, or -1 past the cap (nothing appended). */
int xbuf_printf(xbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The bytes, "" when none, for the caller to free(); b is left empty. */
char *xbuf_steal(xbuf *b);

#endif
