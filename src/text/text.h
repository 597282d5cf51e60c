/*
 * text.h -- escaping text that came from the network (messages, Docker,
 * the broker, container output), one function per kind of output.  Pure
 * and thread-safe.
 *
 * `text_token`: a value in a key=value line (request/reply lines, ids in
 *     output lines).  Bare when non-empty and only [A-Za-z0-9_.:/@+=,-].
 *     Else "quoted", with \" \\ \n \r \t, and \xNN for every other byte
 *     outside printable ASCII.  Cut at max_chars, then "...".
 * `text_line`: free text inside a line (diagnostics, Docker and broker
 *     messages, output copied to stdout).  \" and \\; \xNN for control
 *     bytes and DEL; UTF-8 passes.  Cut to the buffer with "...".
 * `text_put_terminal`: text for a terminal (dispatchctl's output).  \xNN
 *     for control bytes and DEL; nothing else changes.
 *
 * None of them lets a value end its line or send a terminal escape.
 */
#ifndef DD_TEXT_H
#define DD_TEXT_H

#include <stddef.h>
#include <stdio.h>

/* Writes src (srclen bytes; may hold any bytes) to dst as a log-safe token
 * (rule above).  At most max_chars source bytes are shown, then "...".
 * Always NUL-terminates dst (dstlen > 0).  Returns strlen(dst). */
size_t text_token(char *dst, size_t dstlen, const char *src, size_t srclen, size_t max_chars);

/* Copies the string s into dst (cap bytes) by the free-text rule, cut with
 * "..." when it does not fit.  NULL s is "". */
void text_line(char *dst, size_t cap, const char *s);

/* Writes the string s to f by the terminal rule.  NULL s writes nothing. */
void text_put_terminal(FILE *f, const char *s);

#endif
