/*
 * templates.c -- named container templates (see templates.h).
 *
 * The parameter syntax is filled in by hand: no Debian library does
 * `${NAME:-default}` over JSON string values without a shell's other
 * expansions (wordexp would run commands).
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base.h"
#include "protocol.h"
#include "templates.h"

struct dd_templates {
    json_t *by_name; /* name -> create body with parameters */
};

typedef struct fill {
    const json_t *params; /* object of strings, or NULL */
    json_t *used;         /* names met (object) */
    int defaults_only;    /* parameters without default become "" and are counted */
    int missing;          /* parameters without a default and not given */
    char missing_name[128];
    char bad[160]; /* a syntax error */
} fill;

static int name_char(char ch, int first)
{
    return ch == '_' || (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
           (!first && ch >= '0' && ch <= '9');
}

/* s with its parameters filled; NULL on a syntax error (f->bad) or out
 * of memory. */
static char *fill_string(const char *s, fill *f)
{
    xbuf out = {0};
    xbuf_add(&out, "", 0);
    for (const char *p = s; *p;) {
        if (p[0] == '$' && p[1] == '$' && p[2] == '{') {
            xbuf_add(&out, "${", 2);
            p += 3;
            continue;
        }
        if (p[0] != '$' || p[1] != '{') {
            xbuf_add(&out, p, 1);
            p++;
            continue;
        }
        const char *n = p + 2, *e = n;
        while (name_char(*e, e == n))
            e++;
        if (e == n || (size_t)(e - n) >= sizeof f->missing_name) {
            snprintf(f->bad, sizeof f->bad, "a parameter needs a name of [A-Za-z_][A-Za-z0-9_]*");
            goto fail;
        }
        char name[128];
        snprintf(name, sizeof name, "%.*s", (int)(e - n), n);
        const char *def = NULL, *def_end = NULL;
        if (e[0] == ':' && e[1] == '-') {
            def = e + 2;
            def_end = strchr(def, '}');
        } else if (e[0] == '}') {
            def_end = e;
        }
        if (def_end == NULL || (def == NULL && *def_end != '}')) {
            snprintf(f->bad, sizeof f->bad, "parameter %.100s: expected } or :-default}", name);
            goto fail;
        }
        if (json_object_set_new(f->used, name, json_true()) != 0)
            goto fail;
        const char *given = json_string_value(json_object_get(f->params, name));
        if (given) {
            xbuf_add(&out, given, strlen(given));
        } else if (def) {
            xbuf_add(&out, def, (size_t)(def_end - def));
        } else if (!f->missing++) {
            snprintf(f->missing_name, sizeof f->missing_name, "%s", name);
        }
        p = def_end + 1;
    }
    return xbuf_steal(&out);
fail:
    xbuf_cleanup(&out);
    return NULL;
}

/* A deep copy of v with every string value filled; NULL on failure. */
static json_t *fill_value(const json_t *v, fill *f)
{
    if (json_is_string(v)) {
        char *s = fill_string(json_string_value(v), f);
        json_t *out = s ? json_string(s) : NULL;
        free(s);
        return out;
    }
    if (json_is_array(v)) {
        json_t *out = json_array();
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x)
        {
            json_t *y = fill_value(x, f);
            if (out == NULL || y == NULL || json_array_append_new(out, y) != 0) {
                json_decref(out);
                return NULL;
            }
        }
        return out;
    }
    if (json_is_object(v)) {
        json_t *out = json_object();
        const char *k;
        json_t *x;
        json_object_foreach((json_t *)v, k, x)
        {
            json_t *y = fill_value(x, f);
            if (out == NULL || y == NULL || json_object_set_new(out, k, y) != 0) {
                json_decref(out);
                return NULL;
            }
        }
        return out;
    }
    return json_deep_copy(v);
}

/* Checks one template file's body: an object, Docker's keys once each,
 * parameters well formed, and the policy when every parameter has a
 * default.  0 or -1 with the reason. */
static int check_one(json_t *body, const dd_policy *p, char *why, size_t len)
{
    proto_error perr;
    proto_error_clear(&perr);
    if (!json_is_object(body)) {
        snprintf(why, len, "not a JSON object (a Docker create body)");
        return -1;
    }
    if (proto_raw_check(body, "", 32, &perr) != 0) {
        snprintf(why, len, "%.100s: %.250s", perr.field, perr.message);
        return -1;
    }
    fill f = {.used = json_object()};
    json_t *filled = f.used ? fill_value(body, &f) : NULL;
    int rc = 0;
    if (filled == NULL) {
        snprintf(why, len, "%s", f.bad[0] ? f.bad : "out of memory");
        rc = -1;
    } else if (f.missing == 0 && policy_check_create(p, filled, &perr) != 0) {
        snprintf(why, len, "refused by the policy: %.100s: %.250s", perr.field, perr.message);
        rc = -1;
    }
    json_decref(filled);
    json_decref(f.used);
    return rc;
}

int templates_load(const char *dir, const dd_policy *p, dd_templates **out, char *err,
                   size_t errlen)
{
    *out = NULL;
    DIR *d = opendir(dir);
    if (d == NULL) {
        snprintf(err, errlen, "templates: cannot open %s: %s", dir, strerror(errno));
        return -1;
    }
    dd_templates *t = calloc(1, sizeof *t);
    if (t == NULL || (t->by_name = json_object()) == NULL) {
        closedir(d);
        templates_free(t);
        snprintf(err, errlen, "templates: out of memory");
        return -1;
    }
    struct dirent *de;
    int rc = 0;
    while (rc == 0 && (de = readdir(d)) != NULL) {
        size_t n = strlen(de->d_name);
        if (n <= 5 || strcmp(de->d_name + n - 5, ".json") != 0 || de->d_name[0] == '.')
            continue;
        char path[4096], name[256], why[480];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        snprintf(name, sizeof name, "%.*s", (int)(n - 5), de->d_name);
        json_error_t je;
        json_t *body = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
        if (body == NULL) {
            snprintf(err, errlen, "template %s: line %d: %s", path, je.line, je.text);
            rc = -1;
        } else if (check_one(body, p, why, sizeof why) != 0) {
            snprintf(err, errlen, "template %s: %s", path, why);
            rc = -1;
        } else if (json_object_set(t->by_name, name, body) != 0) {
            snprintf(err, errlen, "templates: out of memory");
            rc = -1;
        }
        json_decref(body);
    }
    closedir(d);
    if (rc != 0) {
        templates_free(t);
        return -1;
    }
    *out = t;
    return 0;
}

void templates_free(dd_templates *t)
{
    if (t == NULL)
        return;
    json_decref(t->by_name);
    free(t);
}

size_t templates_count(const dd_templates *t)
{
    return t ? json_object_size(t->by_name) : 0;
}

json_t *templates_render(const dd_templates *t, const char *name, const json_t *params, int *code,
                         char *err, size_t errlen, char *errfield, size_t fieldlen)
{
    errfield[0] = '\0';
    json_t *body = t ? json_object_get(t->by_name, name) : NULL;
    if (body == NULL) {
        *code = PROTO_ENOTFOUND;
        snprintf(err, errlen, "No such template: %.200s", name);
        return NULL;
    }
    fill f = {.params = params, .used = json_object()};
    json_t *out = f.used ? fill_value(body, &f) : NULL;
    if (out == NULL) {
        *code = PROTO_EINTERNAL;
        snprintf(err, errlen, "template %.200s: %s", name, f.bad[0] ? f.bad : "out of memory");
    } else if (f.missing) {
        *code = PROTO_EBADREQUEST;
        snprintf(errfield, fieldlen, "params.%s", f.missing_name);
        snprintf(err, errlen, "template %.200s needs parameter %s (it has no default)", name,
                 f.missing_name);
        json_decref(out);
        out = NULL;
    } else {
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)params, k, v)
        {
            if (json_object_get(f.used, k) == NULL) {
                *code = PROTO_EBADREQUEST;
                snprintf(errfield, fieldlen, "params.%s", k);
                snprintf(err, errlen, "template %.200s has no parameter %.100s", name, k);
                json_decref(out);
                out = NULL;
                break;
            }
        }
    }
    json_decref(f.used);
    return out;
}
