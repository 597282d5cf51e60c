/*
 * format.c -- what dispatchctl's renderers share: a text table with
 * columns padded to their widest cell, and Docker's short ids, ages and
 * sizes the way its own CLI prints them.  Pure.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "ctl.h"

/* Appends a row of t->ncols (at most CTL_TABLE_COLS) cells (NULL prints as "");
 * aborts when out of memory. */
void ctl_table_add(ctl_table *t, const char *const *row)
{
    if (t->ncols == 0 || t->ncols > CTL_TABLE_COLS)
        abort();
    if (t->nrows == t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 16;
        char **n = realloc(t->cells, cap * t->ncols * sizeof *n);
        if (n == NULL)
            abort();
        t->cells = n;
        t->cap = cap;
    }
    for (size_t i = 0; i < t->ncols; i++) {
        char *s = strdup(row[i] ? row[i] : "");
        if (s == NULL)
            abort();
        for (char *p = s; *p; p++) /* keep the table on its lines */
            if ((unsigned char)*p < 0x20 || *p == 0x7f)
                *p = '?';
        t->cells[t->nrows * t->ncols + i] = s;
    }
    t->nrows++;
}

/* Prints t to out and frees its cells. */
void ctl_table_flush(ctl_table *t, FILE *out)
{
    size_t w[CTL_TABLE_COLS] = {0};
    for (size_t r = 0; r < t->nrows; r++)
        for (size_t c = 0; c < t->ncols; c++) {
            size_t l = strlen(t->cells[r * t->ncols + c]);
            if (l > w[c])
                w[c] = l;
        }
    for (size_t r = 0; r < t->nrows; r++) {
        for (size_t c = 0; c < t->ncols; c++) {
            const char *s = t->cells[r * t->ncols + c];
            if (c + 1 < t->ncols)
                fprintf(out, "%-*s   ", (int)w[c], s);
            else
                fprintf(out, "%s\n", s);
        }
    }
    for (size_t i = 0; i < t->nrows * t->ncols; i++)
        free(t->cells[i]);
    free(t->cells);
    t->cells = NULL;
    t->nrows = t->cap = 0;
}

/* The first 12 hex digits of a Docker id, without "sha256:". */
void ctl_short_id(const char *id, char *buf, size_t len)
{
    if (id == NULL)
        id = "";
    if (strncmp(id, "sha256:", 7) == 0)
        id += 7;
    snprintf(buf, len, "%.12s", id);
}

/* How long ago unix time t was at now, the way Docker's CLI says it
 * ("5 seconds ago", "About an hour ago", "3 days ago"); "" when t is 0. */
void ctl_ago(time_t now, json_int_t t, char *buf, size_t len)
{
    if (t <= 0) {
        snprintf(buf, len, "%s", "");
        return;
    }
    json_int_t s = (json_int_t)now - t;
    json_int_t m = s / 60, h = s / 3600;
    if (s < 1)
        snprintf(buf, len, "Less than a second ago");
    else if (s == 1)
        snprintf(buf, len, "1 second ago");
    else if (s < 60)
        snprintf(buf, len, "%d seconds ago", (int)s);
    else if (m == 1)
        snprintf(buf, len, "About a minute ago");
    else if (m < 60)
        snprintf(buf, len, "%d minutes ago", (int)m);
    else if (h == 1)
        snprintf(buf, len, "About an hour ago");
    else if (h < 48)
        snprintf(buf, len, "%d hours ago", (int)h);
    else if (h < 24 * 7 * 2)
        snprintf(buf, len, "%d days ago", (int)(h / 24));
    else if (h < 24 * 30 * 2)
        snprintf(buf, len, "%d weeks ago", (int)(h / 24 / 7));
    else if (h < 24 * 365 * 2)
        snprintf(buf, len, "%d months ago", (int)(h / 24 / 30));
    else
        snprintf(buf, len, "%d years ago", (int)(h / 24 / 365));
}

/* Docker's sizes the way `docker images` prints them (powers of 1000). */
void ctl_human_size(json_int_t n, char *buf, size_t len)
{
    static const char *const unit[] = {"B", "kB", "MB", "GB", "TB"};
    double v = (double)n;
    size_t u = 0;
    while (v >= 1000.0 && u + 1 < sizeof unit / sizeof unit[0]) {
        v /= 1000.0;
        u++;
    }
    snprintf(buf, len, u ? "%.3g%s" : "%.0f%s", v, unit[u]);
}
