/*
 * text.h -- escaping text that came from the network (messages, Docker,
 * the broker, container output), one function per kind of output.  Pure
 * and thread-safe.
 *
 *   kind                      rule                                  use
 *   a value in a key=value    bare when non-empty and only          request/reply lines,
 *   line (text_token)         [A-Za-z0-9_.:/@+=,-]; else "quoted"   ids in output lines
 *                             with \" \\ \n \r \t and \xNN for
 *                             every other byte outside printable
 *                             ASCII; cut at max_chars, then ...
 *   free text inside a line   \" and \\; \xNN for control bytes     diagnostics, Docker and
 *   (text_line)               and DEL; UTF-8 passes; cut to the     broker messages, output
 *                             buffer with ...                       copied to stdout
 *   text for a terminal       \xNN for control bytes and DEL;      dispatchctl's output
 *   (text_put_terminal)       nothing else changes
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
