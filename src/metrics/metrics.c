/*
 * metrics.c -- the registry and the renderer of the text exposition format
 * (see metrics.h).
 *
 * DESIGN.  Everything is fixed at registration: a family holds an array of
 * METRICS_MAX_SERIES series, each with its label values copied in and, for
 * a histogram, its per-bucket counts (not cumulative; the renderer adds
 * them up).  One mutex per registry guards every value; an update is a
 * linear lookup among the family's series (bounded by the cap), so holding
 * it is short.  Rendering copies nothing out: it formats under the lock
 * into a growing buffer whose size is bounded by the caps.
 */
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base.h"
#include "metrics.h"

#define NAME_MAX_LEN  96  /* bytes of a metric name */
#define LABEL_MAX_LEN 32  /* bytes of a label name */
#define HELP_MAX_LEN  256 /* bytes of a help text */

typedef struct series {
    char values[METRICS_MAX_LABELS][METRICS_VALUE_MAX + 1];
    double value;                              /* counter, gauge; histogram: the sum */
    uint64_t count;                            /* histogram */
    uint64_t buckets[METRICS_MAX_BUCKETS + 1]; /* histogram, per bucket; the last is +Inf */
} series;

struct metrics_family {
    metrics *reg;
    metrics_type type;
    char name[NAME_MAX_LEN + 1];
    char help[HELP_MAX_LEN + 1];
    size_t n_labels;
    char labels[METRICS_MAX_LABELS][LABEL_MAX_LEN + 1];
    double bounds[METRICS_MAX_BUCKETS];
    size_t n_bounds;
    series *series; /* METRICS_MAX_SERIES */
    size_t n_series;
};

struct metrics {
    pthread_mutex_t mu;
    metrics_family *fams[METRICS_MAX_FAMILIES];
    size_t n;
    metrics_family *overflow;
    metrics_collect_fn collect;
    void *collect_ud;
};

/* 1 if s is a metric name (first) or a label name (!metric). */
static int valid_name(const char *s, size_t n, bool metric)
{
    if (n == 0 || n > (metric ? NAME_MAX_LEN : LABEL_MAX_LEN))
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool alpha =
            (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (metric && c == ':');
        if (!alpha && !(i > 0 && c >= '0' && c <= '9'))
            return 0;
    }
    return metric || n < 2 || s[0] != '_' || s[1] != '_';
}

metrics *metrics_new(const char *overflow_name)
{
    metrics *m = xcalloc(1, sizeof *m);
    pthread_mutex_init(&m->mu, NULL);
    m->overflow = metrics_counter(m, overflow_name,
                                  "Label sets not kept because their metric had as many as it "
                                  "may hold.",
                                  NULL);
    if (m->overflow == NULL) {
        metrics_free(m);
        return NULL;
    }
    return m;
}

void metrics_free(metrics *m)
{
    if (m == NULL)
        return;
    for (size_t i = 0; i < m->n; i++) {
        free(m->fams[i]->series);
        free(m->fams[i]);
    }
    pthread_mutex_destroy(&m->mu);
    free(m);
}

void metrics_set_collect(metrics *m, metrics_collect_fn fn, void *ud)
{
    if (m == NULL)
        return;
    m->collect = fn;
    m->collect_ud = ud;
}

/* Registers a family of type t; see metrics.h. */
static metrics_family *reg(metrics *m, metrics_type t, const char *name, const char *help,
                           const char *labels, const double *bounds, size_t n_bounds)
{
    if (m == NULL || name == NULL || m->n >= METRICS_MAX_FAMILIES ||
        !valid_name(name, strlen(name), true))
        return NULL;
    for (size_t i = 0; i < m->n; i++)
        if (strcmp(m->fams[i]->name, name) == 0)
            return NULL;
    if (t == METRICS_HISTOGRAM) {
        if (bounds == NULL || n_bounds == 0 || n_bounds > METRICS_MAX_BUCKETS)
            return NULL;
        for (size_t i = 0; i < n_bounds; i++)
            if (!isfinite(bounds[i]) || (i > 0 && bounds[i] <= bounds[i - 1]))
                return NULL;
    }
    metrics_family *f = xcalloc(1, sizeof *f);
    f->reg = m;
    f->type = t;
    snprintf(f->name, sizeof f->name, "%s", name);
    snprintf(f->help, sizeof f->help, "%s", help ? help : "");
    for (const char *p = labels; p != NULL && *p != '\0';) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        if (f->n_labels == METRICS_MAX_LABELS || !valid_name(p, n, false) ||
            (t == METRICS_HISTOGRAM && n == 2 && memcmp(p, "le", 2) == 0))
            goto bad;
        memcpy(f->labels[f->n_labels], p, n);
        f->labels[f->n_labels][n] = '\0';
        for (size_t i = 0; i < f->n_labels; i++)
            if (strcmp(f->labels[i], f->labels[f->n_labels]) == 0)
                goto bad;
        f->n_labels++;
        if (comma != NULL && comma[1] == '\0')
            goto bad; /* "a," */
        p = comma ? comma + 1 : p + n;
    }
    if (t == METRICS_HISTOGRAM) {
        memcpy(f->bounds, bounds, n_bounds * sizeof *bounds);
        f->n_bounds = n_bounds;
    }
    f->series = xcalloc(METRICS_MAX_SERIES, sizeof *f->series);
    m->fams[m->n++] = f;
    return f;
bad:
    free(f);
    return NULL;
}

metrics_family *metrics_counter(metrics *m, const char *name, const char *help, const char *labels)
{
    return reg(m, METRICS_COUNTER, name, help, labels, NULL, 0);
}

metrics_family *metrics_gauge(metrics *m, const char *name, const char *help, const char *labels)
{
    return reg(m, METRICS_GAUGE, name, help, labels, NULL, 0);
}

metrics_family *metrics_histogram(metrics *m, const char *name, const char *help,
                                  const char *labels, const double *bounds, size_t n_bounds)
{
    return reg(m, METRICS_HISTOGRAM, name, help, labels, bounds, n_bounds);
}

/* The series of f for values (cut as stored), or NULL when there is none
 * and make is false, or the family is full (counted).  Caller holds the
 * registry's lock. */
static series *find_locked(metrics_family *f, const char *const *values, bool make)
{
    char want[METRICS_MAX_LABELS][METRICS_VALUE_MAX + 1];
    for (size_t i = 0; i < f->n_labels && i < METRICS_MAX_LABELS; i++) {
        const char *v = values && values[i] ? values[i] : "";
        size_t n = strnlen(v, METRICS_VALUE_MAX);
        memcpy(want[i], v, n);
        want[i][n] = '\0';
    }
    for (size_t s = 0; s < f->n_series; s++) {
        size_t i = 0;
        /* (the second bound is n_labels' own; GCC at -O3 cannot see it) */
        while (i < f->n_labels && i < METRICS_MAX_LABELS &&
               strcmp(f->series[s].values[i], want[i]) == 0)
            i++;
        if (i == f->n_labels)
            return &f->series[s];
    }
    if (!make)
        return NULL;
    if (f->n_series == METRICS_MAX_SERIES) {
        metrics_family *o = f->reg->overflow;
        if (o != NULL && o != f) {
            if (o->n_series == 0)
                o->n_series = 1;
            o->series[0].value += 1;
        }
        return NULL;
    }
    series *s = &f->series[f->n_series++];
    memcpy(s->values, want, sizeof want);
    return s;
}

/* Applies op to f's series for values under the lock: 'a'dd, 's'et,
 * 'o'bserve. */
static void update(metrics_family *f, const char *const *values, double v, char op)
{
    if (f == NULL || isnan(v))
        return;
    bool fits =
        (op == 'a' && f->type != METRICS_HISTOGRAM && (f->type == METRICS_GAUGE || v >= 0)) ||
        (op == 's' && f->type == METRICS_GAUGE) || (op == 'o' && f->type == METRICS_HISTOGRAM);
    if (!fits)
        return;
    pthread_mutex_lock(&f->reg->mu);
    series *s = find_locked(f, values, true);
    if (s != NULL) {
        if (op == 'a') {
            s->value += v;
        } else if (op == 's') {
            s->value = v;
        } else {
            size_t b = 0;
            while (b < f->n_bounds && v > f->bounds[b])
                b++;
            s->buckets[b]++;
            s->count++;
            s->value += v;
        }
    }
    pthread_mutex_unlock(&f->reg->mu);
}

void metrics_add(metrics_family *f, const char *const *values, double v)
{
    update(f, values, v, 'a');
}

void metrics_set(metrics_family *f, const char *const *values, double v)
{
    update(f, values, v, 's');
}

void metrics_observe(metrics_family *f, const char *const *values, double v)
{
    update(f, values, v, 'o');
}

double metrics_value(metrics_family *f, const char *const *values)
{
    if (f == NULL)
        return 0;
    pthread_mutex_lock(&f->reg->mu);
    series *s = find_locked(f, values, false);
    double v = s == NULL ? 0 : f->type == METRICS_HISTOGRAM ? (double)s->count : s->value;
    pthread_mutex_unlock(&f->reg->mu);
    return v;
}

uint64_t metrics_overflow(metrics *m)
{
    return m ? (uint64_t)metrics_value(m->overflow, NULL) : 0;
}

/* ---- rendering ---------------------------------------------------------- */

static void puts_(xbuf *b, const char *s)
{
    xbuf_add(b, s, strlen(s));
}

/* s escaped: backslash and newline always, the double quote in label
 * values (quote) -- the format's two escaping rules. */
static void put_escaped(xbuf *b, const char *s, bool quote)
{
    for (; *s; s++) {
        if (*s == '\\')
            puts_(b, "\\\\");
        else if (*s == '\n')
            puts_(b, "\\n");
        else if (quote && *s == '"')
            puts_(b, "\\\"");
        else
            xbuf_add(b, s, 1);
    }
}

/* A sample value: integers without a fraction, others in the shortest
 * form that reads back the same; +Inf, -Inf, NaN as the format spells them. */
static void put_value(xbuf *b, double v)
{
    if (isnan(v)) {
        puts_(b, "NaN");
    } else if (isinf(v)) {
        puts_(b, v > 0 ? "+Inf" : "-Inf");
    } else if (v == floor(v) && fabs(v) < 1e15) {
        xbuf_printf(b, "%.0f", v);
    } else {
        char tmp[40];
        for (int prec = 6; prec <= 17; prec++) {
            snprintf(tmp, sizeof tmp, "%.*g", prec, v);
            if (strtod(tmp, NULL) == v)
                break;
        }
        puts_(b, tmp);
    }
}

/* name{labels of s[, le="le"]} (suffix after the name, when not NULL). */
static void put_sample_name(xbuf *b, const metrics_family *f, const series *s, const char *suffix,
                            const char *le)
{
    puts_(b, f->name);
    if (suffix)
        puts_(b, suffix);
    if (f->n_labels == 0 && le == NULL)
        return;
    puts_(b, "{");
    for (size_t i = 0; i < f->n_labels; i++) {
        xbuf_printf(b, "%s%s=\"", i ? "," : "", f->labels[i]);
        put_escaped(b, s->values[i], true);
        puts_(b, "\"");
    }
    if (le != NULL)
        xbuf_printf(b, "%sle=\"%s\"", f->n_labels ? "," : "", le);
    puts_(b, "}");
}

static void render_family(xbuf *b, const metrics_family *f)
{
    static const char *const types[] = {"counter", "gauge", "histogram"};
    xbuf_printf(b, "# HELP %s ", f->name);
    put_escaped(b, f->help, false);
    xbuf_printf(b, "\n# TYPE %s %s\n", f->name, types[f->type]);
    static const series zero;
    size_t n = f->n_series;
    if (n == 0 && f->n_labels != 0)
        return;
    for (size_t i = 0; i < (n ? n : 1); i++) {
        const series *s = n ? &f->series[i] : &zero;
        if (f->type != METRICS_HISTOGRAM) {
            put_sample_name(b, f, s, NULL, NULL);
            puts_(b, " ");
            put_value(b, s->value);
            puts_(b, "\n");
            continue;
        }
        uint64_t cum = 0;
        for (size_t k = 0; k <= f->n_bounds; k++) {
            char le[40] = "+Inf";
            if (k < f->n_bounds) {
                xbuf lb;
                xbuf_init(&lb, 0);
                put_value(&lb, f->bounds[k]);
                snprintf(le, sizeof le, "%s", lb.data);
                xbuf_cleanup(&lb);
            }
            cum += s->buckets[k];
            put_sample_name(b, f, s, "_bucket", le);
            xbuf_printf(b, " %llu\n", (unsigned long long)cum);
        }
        put_sample_name(b, f, s, "_sum", NULL);
        puts_(b, " ");
        put_value(b, s->value);
        puts_(b, "\n");
        put_sample_name(b, f, s, "_count", NULL);
        xbuf_printf(b, " %llu\n", (unsigned long long)s->count);
    }
}

void metrics_render(metrics *m, char **out, size_t *len)
{
    xbuf b;
    xbuf_init(&b, 0);
    if (m != NULL) {
        if (m->collect)
            m->collect(m->collect_ud);
        pthread_mutex_lock(&m->mu);
        for (size_t i = 0; i < m->n; i++)
            render_family(&b, m->fams[i]);
        pthread_mutex_unlock(&m->mu);
    }
    if (len)
        *len = b.len;
    *out = xbuf_steal(&b);
}
