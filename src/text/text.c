/*
 * text.c -- the escapers for text that came from the network, one per
 * output kind (the rules are in text.h).
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "text.h"

/* ------------------------------------------------------------------------
 * Text
 * ------------------------------------------------------------------------ */

static int bare_ok(unsigned char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           strchr("_.:/@+=,-", ch) != NULL;
}

size_t text_token(char *dst, size_t dstlen, const char *src, size_t srclen, size_t max_chars)
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

void text_line(char *dst, size_t cap, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    size_t n = 0;
    if (cap == 0)
        return;
    if (s == NULL)
        s = "";
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        char tmp[5];
        size_t k = 0;
        if (ch == '"' || ch == '\\') {
            tmp[k++] = '\\';
            tmp[k++] = (char)ch;
        } else if (ch < 0x20 || ch == 0x7f) {
            tmp[k++] = '\\';
            tmp[k++] = 'x';
            tmp[k++] = hex[ch >> 4];
            tmp[k++] = hex[ch & 15];
        } else {
            tmp[k++] = (char)ch;
        }
        if (n + k + 4 > cap) { /* room for "..." and NUL */
            if (cap >= 4) {
                memcpy(dst + (n > cap - 4 ? cap - 4 : n), "...", 3);
                n = (n > cap - 4 ? cap - 4 : n) + 3;
            }
            break;
        }
        memcpy(dst + n, tmp, k);
        n += k;
    }
    dst[n < cap ? n : cap - 1] = '\0';
}

void text_put_terminal(FILE *f, const char *s)
{
    for (; s && *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c < 0x20 || c == 0x7f)
            fprintf(f, "\\x%02x", c);
        else
            fputc(c, f);
    }
}
