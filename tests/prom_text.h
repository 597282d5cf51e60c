/*
 * prom_text.h -- a strict reader of Prometheus's text exposition format
 * 0.0.4, for the tests (test_metrics.c, test_gateway_daemon.c): a scrape
 * that passes here is one a Prometheus server reads the same way.
 *
 * What it requires, beyond what the format allows at all (it is stricter
 * than Prometheus, never laxer):
 *   - every line ends in '\n' and is either "# HELP name text",
 *     "# TYPE name counter|gauge|histogram" or a sample
 *     "name{label=\"value\",...} value" (no timestamps, no other comments,
 *     no blank lines);
 *   - names [a-zA-Z_:][a-zA-Z0-9_:]*, label names [a-zA-Z_][a-zA-Z0-9_]*,
 *     no label twice; label values escape only \\, \" and \n;
 *   - one HELP and one TYPE per family, both before its samples; a
 *     family's samples together; a sample belongs to a declared family
 *     (histogram F: F_bucket, F_sum, F_count); counters are >= 0;
 *   - per label set of a histogram: buckets with increasing le, counts
 *     that never go down, the last le="+Inf", equal to F_count; an F_sum.
 * Header only (static functions): include it in one test program.
 */
#ifndef PROM_TEXT_H
#define PROM_TEXT_H

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PROM_NAME_MAX   128
#define PROM_LABELS_MAX 512

typedef struct prom_sample {
    char name[PROM_NAME_MAX];
    /* the labels unescaped and sorted by name, "a=x,b=y" ("" for none) */
    char labels[PROM_LABELS_MAX];
    double value;
} prom_sample;

typedef struct prom_doc {
    prom_sample *s;
    size_t n, cap;
    size_t families;
} prom_doc;

static void prom_doc_free(prom_doc *d)
{
    free(d->s);
    memset(d, 0, sizeof *d);
}

static int prom_fail(char *err, size_t len, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int prom_fail(char *err, size_t len, int line, const char *fmt, ...)
{
    int o = snprintf(err, len, "line %d: ", line);
    va_list ap;
    va_start(ap, fmt);
    if (o > 0 && (size_t)o < len)
        vsnprintf(err + o, len - (size_t)o, fmt, ap);
    va_end(ap);
    return -1;
}

/* Length of the name at p (metric: colons allowed), 0 when none. */
static size_t prom_name_len(const char *p, int metric)
{
    size_t n = 0;
    for (;; n++) {
        char c = p[n];
        int alpha =
            (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (metric && c == ':');
        if (!alpha && !(n > 0 && c >= '0' && c <= '9'))
            return n;
    }
}

/* A sample value: a float, +Inf, -Inf or NaN, the whole of s. */
static int prom_value(const char *s, double *v)
{
    if (!strcmp(s, "+Inf")) {
        *v = INFINITY;
        return 0;
    }
    if (!strcmp(s, "-Inf")) {
        *v = -INFINITY;
        return 0;
    }
    if (!strcmp(s, "NaN")) {
        *v = NAN;
        return 0;
    }
    char *end;
    if (*s == '\0' || strchr(s, ' '))
        return -1;
    *v = strtod(s, &end);
    return *end == '\0' ? 0 : -1;
}

typedef struct prom_family {
    char name[PROM_NAME_MAX];
    int help, type; /* type: 0 none, 1 counter, 2 gauge, 3 histogram */
    int samples;    /* seen some */
    int closed;     /* another family's samples came after */
} prom_family;

static int prom_label_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Parses one sample line (without '\n') into s.  0, or -1 with err. */
static int prom_sample_line(const char *l, prom_sample *s, char *err, size_t errlen, int ln)
{
    memset(s, 0, sizeof *s);
    size_t n = prom_name_len(l, 1);
    if (n == 0 || n >= PROM_NAME_MAX)
        return prom_fail(err, errlen, ln, "bad metric name: %s", l);
    memcpy(s->name, l, n);
    const char *p = l + n;
    char pairs[16][PROM_LABELS_MAX];
    char *sorted[16];
    size_t np = 0;
    if (*p == '{') {
        p++;
        while (*p != '}') {
            size_t ln2 = prom_name_len(p, 0);
            if (ln2 == 0 || p[ln2] != '=' || p[ln2 + 1] != '"' || np == 16)
                return prom_fail(err, errlen, ln, "bad label at: %s", p);
            char *out = pairs[np];
            size_t o = (size_t)snprintf(out, PROM_LABELS_MAX, "%.*s=", (int)ln2, p);
            for (size_t i = 0; i < np; i++)
                if (strncmp(pairs[i], out, o) == 0)
                    return prom_fail(err, errlen, ln, "label twice: %.*s", (int)ln2, p);
            p += ln2 + 2;
            while (*p != '"') {
                char c = *p;
                if (c == '\0' || c == '\n')
                    return prom_fail(err, errlen, ln, "unterminated label value");
                if (c == '\\') {
                    p++;
                    if (*p == 'n')
                        c = '\n';
                    else if (*p == '\\' || *p == '"')
                        c = *p;
                    else
                        return prom_fail(err, errlen, ln, "bad escape \\%c", *p);
                }
                if (o + 1 < PROM_LABELS_MAX)
                    out[o++] = c;
                p++;
            }
            out[o] = '\0';
            sorted[np] = pairs[np];
            np++;
            p++;
            if (*p == ',')
                p++;
            else if (*p != '}')
                return prom_fail(err, errlen, ln, "expected , or } at: %s", p);
        }
        p++;
    }
    if (*p != ' ')
        return prom_fail(err, errlen, ln, "expected a space before the value: %s", l);
    if (prom_value(p + 1, &s->value) != 0)
        return prom_fail(err, errlen, ln, "bad value (or a timestamp): %s", p + 1);
    qsort(sorted, np, sizeof *sorted, prom_label_cmp);
    size_t o = 0;
    for (size_t i = 0; i < np; i++)
        o += (size_t)snprintf(s->labels + o, PROM_LABELS_MAX - o, "%s%s", i ? "," : "", sorted[i]);
    return 0;
}

/* s's labels without le (into out), and its le value (into le, "" if
 * none).  Labels are sorted, so le sits between those before and after it
 * in the alphabet; le values hold no comma. */
static void prom_split_le(const prom_sample *s, char *out, size_t outlen, char *le, size_t lelen)
{
    const char *l = s->labels;
    const char *at = strncmp(l, "le=", 3) == 0 ? l : strstr(l, ",le=");
    le[0] = '\0';
    if (at == NULL) {
        snprintf(out, outlen, "%s", l);
        return;
    }
    const char *v = at + (at == l ? 3 : 4);
    const char *end = strchr(v, ',');
    size_t vn = end ? (size_t)(end - v) : strlen(v);
    snprintf(le, lelen, "%.*s", (int)vn, v);
    if (at == l)
        snprintf(out, outlen, "%s", end ? end + 1 : "");
    else
        snprintf(out, outlen, "%.*s%s", (int)(at - l), l, end ? end : "");
}

/* Checks the histogram family f's samples (d->s[from..to)). */
static int prom_check_histogram(const prom_doc *d, size_t from, size_t to, const char *f, char *err,
                                size_t errlen)
{
    char bucket[PROM_NAME_MAX + 8], sum[PROM_NAME_MAX + 8], count[PROM_NAME_MAX + 8];
    snprintf(bucket, sizeof bucket, "%s_bucket", f);
    snprintf(sum, sizeof sum, "%s_sum", f);
    snprintf(count, sizeof count, "%s_count", f);
    for (size_t i = from; i < to; i++) {
        if (strcmp(d->s[i].name, count) != 0)
            continue;
        const char *set = d->s[i].labels;
        double prev_le = -INFINITY, prev = 0, last = -1;
        int inf = 0, has_sum = 0;
        for (size_t k = from; k < to; k++) {
            char rest[PROM_LABELS_MAX], le[64];
            prom_split_le(&d->s[k], rest, sizeof rest, le, sizeof le);
            if (strcmp(rest, set) != 0)
                continue;
            if (!strcmp(d->s[k].name, sum))
                has_sum = 1;
            if (strcmp(d->s[k].name, bucket) != 0)
                continue;
            double lv;
            if (le[0] == '\0' || prom_value(le, &lv) != 0 || isnan(lv) || lv <= prev_le || inf)
                return prom_fail(err, errlen, 0, "%s{%s}: bad or unordered le=\"%s\"", f, set, le);
            if (d->s[k].value < prev)
                return prom_fail(err, errlen, 0, "%s{%s}: le=\"%s\" goes down", f, set, le);
            prev_le = lv;
            prev = last = d->s[k].value;
            inf = isinf(lv);
        }
        if (!inf || !has_sum || last != d->s[i].value)
            return prom_fail(
                err, errlen, 0, "%s{%s}: +Inf bucket %s, _sum %s, last bucket %g, _count %g", f,
                set, inf ? "there" : "missing", has_sum ? "there" : "missing", last, d->s[i].value);
    }
    for (size_t i = from; i < to; i++) {
        char rest[PROM_LABELS_MAX], le[64];
        prom_split_le(&d->s[i], rest, sizeof rest, le, sizeof le);
        int found = 0;
        for (size_t k = from; k < to && !found; k++)
            found = !strcmp(d->s[k].name, count) && !strcmp(d->s[k].labels, rest);
        if (!found)
            return prom_fail(err, errlen, 0, "%s{%s}: no _count", d->s[i].name, d->s[i].labels);
    }
    return 0;
}

/* Parses text strictly (see the top).  0 with *d filled (prom_doc_free),
 * or -1 with a reason in err. */
static int prom_parse(const char *text, prom_doc *d, char *err, size_t errlen)
{
    memset(d, 0, sizeof *d);
    prom_family fams[128];
    size_t nf = 0, cur = (size_t)-1, cur_from = 0;
    int ln = 0;
    err[0] = '\0';
    for (const char *l = text; *l; ln++) {
        const char *nl = strchr(l, '\n');
        if (nl == NULL)
            return prom_fail(err, errlen, ln + 1, "the last line has no newline");
        char line[2048];
        if ((size_t)(nl - l) >= sizeof line)
            return prom_fail(err, errlen, ln + 1, "line too long");
        memcpy(line, l, (size_t)(nl - l));
        line[nl - l] = '\0';
        l = nl + 1;
        if (line[0] == '#') {
            int help = strncmp(line, "# HELP ", 7) == 0;
            int type = strncmp(line, "# TYPE ", 7) == 0;
            if (!help && !type)
                return prom_fail(err, errlen, ln + 1, "not HELP or TYPE: %s", line);
            const char *nm = line + 7;
            size_t n = prom_name_len(nm, 1);
            if (n == 0 || n >= PROM_NAME_MAX || (nm[n] != ' ' && !(help && nm[n] == '\0')))
                return prom_fail(err, errlen, ln + 1, "bad name: %s", line);
            size_t f = 0;
            while (f < nf && !(strlen(fams[f].name) == n && !strncmp(fams[f].name, nm, n)))
                f++;
            if (f == nf) {
                if (nf == 128)
                    return prom_fail(err, errlen, ln + 1, "too many families");
                memset(&fams[nf], 0, sizeof fams[nf]);
                memcpy(fams[nf].name, nm, n);
                nf++;
            }
            if (fams[f].samples)
                return prom_fail(err, errlen, ln + 1, "%s after samples", line);
            if (help) {
                if (fams[f].help++)
                    return prom_fail(err, errlen, ln + 1, "second HELP: %s", line);
                for (const char *h = nm + n; *h; h++)
                    if (*h == '\\' && h[1] != '\\' && h[1] != 'n')
                        return prom_fail(err, errlen, ln + 1, "bad escape in HELP");
                    else if (*h == '\\')
                        h++;
                continue;
            }
            const char *t = nm + n + 1;
            int ty = !strcmp(t, "counter")     ? 1
                     : !strcmp(t, "gauge")     ? 2
                     : !strcmp(t, "histogram") ? 3
                                               : 0;
            if (ty == 0 || fams[f].type)
                return prom_fail(err, errlen, ln + 1, "bad or second TYPE: %s", line);
            fams[f].type = ty;
            continue;
        }
        if (d->n == d->cap) {
            d->cap = d->cap ? d->cap * 2 : 64;
            d->s = realloc(d->s, d->cap * sizeof *d->s);
            if (d->s == NULL)
                return prom_fail(err, errlen, ln + 1, "out of memory");
        }
        prom_sample *s = &d->s[d->n];
        if (prom_sample_line(line, s, err, errlen, ln + 1) != 0)
            return -1;
        size_t f = 0;
        for (; f < nf; f++) {
            size_t fl = strlen(fams[f].name);
            if (!strcmp(s->name, fams[f].name) && fams[f].type != 3)
                break;
            if (fams[f].type == 3 && !strncmp(s->name, fams[f].name, fl) &&
                (!strcmp(s->name + fl, "_bucket") || !strcmp(s->name + fl, "_sum") ||
                 !strcmp(s->name + fl, "_count")))
                break;
        }
        if (f == nf || fams[f].type == 0 || !fams[f].help)
            return prom_fail(err, errlen, ln + 1, "sample of no declared family: %s", line);
        if (fams[f].closed)
            return prom_fail(err, errlen, ln + 1, "family %s is not together", fams[f].name);
        if (fams[f].type == 1 && !(s->value >= 0))
            return prom_fail(err, errlen, ln + 1, "negative counter: %s", line);
        if (strstr(s->labels, "le=") == s->labels || strstr(s->labels, ",le=")) {
            if (fams[f].type != 3 || strcmp(s->name + strlen(fams[f].name), "_bucket") != 0)
                return prom_fail(err, errlen, ln + 1, "le outside a bucket: %s", line);
        } else if (fams[f].type == 3 && !strcmp(s->name + strlen(fams[f].name), "_bucket")) {
            return prom_fail(err, errlen, ln + 1, "bucket without le: %s", line);
        }
        for (size_t k = 0; k < d->n; k++)
            if (!strcmp(d->s[k].name, s->name) && !strcmp(d->s[k].labels, s->labels))
                return prom_fail(err, errlen, ln + 1, "sample twice: %s", line);
        if (cur != f) {
            if (cur != (size_t)-1) {
                fams[cur].closed = 1;
                if (fams[cur].type == 3 &&
                    prom_check_histogram(d, cur_from, d->n, fams[cur].name, err, errlen) != 0)
                    return -1;
            }
            cur = f;
            cur_from = d->n;
        }
        fams[f].samples = 1;
        d->n++;
    }
    if (cur != (size_t)-1 && fams[cur].type == 3 &&
        prom_check_histogram(d, cur_from, d->n, fams[cur].name, err, errlen) != 0)
        return -1;
    for (size_t f = 0; f < nf; f++)
        if (!fams[f].help || !fams[f].type)
            return prom_fail(err, errlen, ln, "family %s lacks HELP or TYPE", fams[f].name);
    d->families = nf;
    return 0;
}

/* The value of sample name{labels} (labels sorted as prom_sample says);
 * *found (may be NULL) 1 when there, else 0 and the value 0. */
static double prom_get(const prom_doc *d, const char *name, const char *labels, int *found)
{
    for (size_t i = 0; i < d->n; i++)
        if (!strcmp(d->s[i].name, name) && !strcmp(d->s[i].labels, labels ? labels : "")) {
            if (found)
                *found = 1;
            return d->s[i].value;
        }
    if (found)
        *found = 0;
    return 0;
}

#endif
