/*
 * protocol_text.c -- log-safe tokens (proto_escape; the rule is in
 * protocol.h).  Apart so that the parser and the reply builder both use it
 * without depending on each other.
 */
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "protocol.h"

/* ------------------------------------------------------------------------
 * Text
 * ------------------------------------------------------------------------ */

static int bare_ok(unsigned char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           strchr("_.:/@+=,-", ch) != NULL;
}

size_t proto_escape(char *dst, size_t dstlen, const char *src, size_t srclen, size_t max_chars)
{
    static const char hex[] = "0123456789abcdef";
    size_t shown, o = 0;
    bool trunc, bare;

    if (dst == NULL || dstlen == 0)
        return 0;
    if (src == NULL) {
        src = "";
        srclen = 0;
    }
    shown = srclen < max_chars ? srclen : max_chars;
    trunc = shown < srclen;
    bare = srclen > 0 && !trunc && srclen < dstlen;
    for (size_t i = 0; bare && i < srclen; i++)
        bare = src[i] != '\0' && bare_ok((unsigned char)src[i]);
    if (bare) {
        memcpy(dst, src, srclen);
        dst[srclen] = '\0';
        return srclen;
    }
    if (dstlen < 6) { /* no room for even "" plus the marker */
        dst[0] = '\0';
        return 0;
    }
    dst[o++] = '"';
    for (size_t i = 0; i < shown; i++) {
        unsigned char ch = (unsigned char)src[i];
        char tok[5];
        size_t tn = 0;
        if (ch == '"' || ch == '\\') {
            tok[tn++] = '\\';
            tok[tn++] = (char)ch;
        } else if (ch == '\n') {
            tok[tn++] = '\\';
            tok[tn++] = 'n';
        } else if (ch == '\r') {
            tok[tn++] = '\\';
            tok[tn++] = 'r';
        } else if (ch == '\t') {
            tok[tn++] = '\\';
            tok[tn++] = 't';
        } else if (ch < 0x20 || ch >= 0x7f) {
            tok[tn++] = '\\';
            tok[tn++] = 'x';
            tok[tn++] = hex[ch >> 4];
            tok[tn++] = hex[ch & 15];
        } else {
            tok[tn++] = (char)ch;
        }
        /* keep room for the closing quote, "..." and the NUL */
        if (o + tn + 5 > dstlen) {
            trunc = true;
            break;
        }
        memcpy(dst + o, tok, tn);
        o += tn;
    }
    dst[o++] = '"';
    if (trunc) {
        memcpy(dst + o, "...", 3);
        o += 3;
    }
    dst[o] = '\0';
    return o;
}
