/*
 * protocol_keys.c -- keys: duplicates ignoring case, and raw Docker bodies.
 */
#include <ctype.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "protocol.h"
#include "protocol_internal.h"

static int ascii_icmp(const char *a, const char *b)
{
    for (;; a++, b++) {
        int x = tolower((unsigned char)*a), y = tolower((unsigned char)*b);
        if (x != y || x == 0)
            return x - y;
    }
}

typedef struct key_ref {
    const char *key;
    size_t index; /* document order */
} key_ref;

static int key_ref_cmp(const void *a, const void *b)
{
    const key_ref *x = a, *y = b;
    int r = ascii_icmp(x->key, y->key);
    if (r != 0)
        return r;
    return x->index < y->index ? -1 : x->index > y->index;
}

/* Finds two keys of obj equal ignoring ASCII case.  Returns 0 when there are
 * none, 1 with *first / *second set (document order), -1 when out of memory.
 * O(n log n), so a message with many keys cannot make it quadratic. */
static int find_ci_duplicate(const json_t *obj, const char **first, const char **second)
{
    size_t n = json_object_size(obj), i = 0;
    key_ref *refs;
    const char *key;
    json_t *v;
    int found = 0;

    if (n < 2)
        return 0;
    refs = malloc(n * sizeof *refs);
    if (refs == NULL)
        return -1;
    json_object_foreach((json_t *)obj, key, v)
    {
        refs[i].key = key;
        refs[i].index = i;
        i++;
    }
    qsort(refs, n, sizeof *refs, key_ref_cmp);
    for (i = 0; i + 1 < n; i++) {
        if (ascii_icmp(refs[i].key, refs[i + 1].key) == 0) {
            *first = refs[i].key;
            *second = refs[i + 1].key;
            found = 1;
            break;
        }
    }
    free(refs);
    return found;
}

/* Fails with bad_request when obj holds keys equal ignoring case. */
int proto__check_ci_duplicates(parse_ctx *c, const json_t *obj, const char *path)
{
    const char *a = NULL, *b = NULL;
    char p[PROTO_FIELD_MAX], qa[64], qb[64];
    int r = find_ci_duplicate(obj, &a, &b);

    if (r < 0)
        return proto__oom(c);
    if (r == 0)
        return 0;
    proto__key_path(p, sizeof p, path, b);
    return proto__fail(c, PROTO_EBADREQUEST, p,
                       "duplicate key: %s and %s (keys match ignoring case)",
                       proto__quote(qa, sizeof qa, a), proto__quote(qb, sizeof qb, b));
}

json_t *proto_json_get_ci(const json_t *obj, const char *key)
{
    const char *k;
    json_t *v;

    if (!json_is_object(obj) || key == NULL)
        return NULL;
    v = json_object_get(obj, key);
    if (v != NULL)
        return v;
    json_object_foreach((json_t *)obj, k, v)
    {
        if (proto__ascii_ieq(k, key))
            return v;
    }
    return NULL;
}

/* True when a label key is under the dispatcher's reserved prefix. */
int proto__reserved_label(const char *key)
{
    size_t n = strlen(PROTO_RESERVED_LABEL_PREFIX);
    return strncasecmp(key, PROTO_RESERVED_LABEL_PREFIX, n) == 0;
}

static int raw_walk(parse_ctx *c, const json_t *v, const char *path, int depth, int max_depth)
{
    char p[PROTO_FIELD_MAX];
    int rc;

    if (depth > max_depth)
        return proto__fail(c, PROTO_EBADREQUEST, path, "nested deeper than %d levels", max_depth);
    if (json_is_object(v)) {
        const char *key;
        json_t *child;
        rc = proto__check_ci_duplicates(c, v, path);
        if (rc != 0)
            return rc;
        json_object_foreach((json_t *)v, key, child)
        {
            size_t klen = strlen(key);
            for (size_t i = 0; i < klen; i++) {
                unsigned char ch = (unsigned char)key[i];
                if (ch < 0x20 || ch > 0x7e) {
                    proto__key_path(p, sizeof p, path, key);
                    return proto__fail(c, PROTO_EBADREQUEST, p,
                                       "key has a byte outside printable ASCII");
                }
            }
            proto__key_path(p, sizeof p, path, key);
            rc = raw_walk(c, child, p, depth + 1, max_depth);
            if (rc != 0)
                return rc;
        }
    } else if (json_is_array(v)) {
        size_t i;
        json_t *child;
        json_array_foreach(v, i, child)
        {
            proto__bfmt(p, sizeof p, "%s[%zu]", path, i);
            rc = raw_walk(c, child, p, depth + 1, max_depth);
            if (rc != 0)
                return rc;
        }
    }
    return 0;
}

/* Checks a raw Docker object: see proto_raw_check(). */
int proto__raw_check(parse_ctx *c, const json_t *body, const char *path, int max_depth)
{
    json_t *labels;
    int rc;

    if (!json_is_object(body)) {
        char d[64];
        return proto__fail(c, PROTO_EBADREQUEST, path, "must be an object, got %s",
                           proto__describe(d, sizeof d, body));
    }
    rc = raw_walk(c, body, path, 1, max_depth);
    if (rc != 0)
        return rc;
    labels = proto_json_get_ci(body, "Labels");
    if (json_is_object(labels)) {
        const char *key;
        json_t *lv;
        json_object_foreach(labels, key, lv)
        {
            if (proto__reserved_label(key)) {
                char p[PROTO_FIELD_MAX], lp[PROTO_FIELD_MAX];
                proto__bfmt(lp, sizeof lp, "%s.Labels", path);
                proto__key_path(p, sizeof p, lp, key);
                return proto__fail(c, PROTO_EBADREQUEST, p,
                                   "labels under \"" PROTO_RESERVED_LABEL_PREFIX
                                   "\" are reserved for the dispatcher");
            }
        }
    }
    return 0;
}

int proto_raw_check(const json_t *body, const char *path, int max_depth, proto_error *err)
{
    proto_error scratch;
    parse_ctx c;

    memset(&c, 0, sizeof c);
    c.err = err != NULL ? err : &scratch;
    proto_error_clear(c.err);
    if (max_depth <= 0)
        max_depth = PROTO_DEFAULT_MAX_DEPTH;
    if (max_depth > JSON_PARSER_MAX_DEPTH)
        max_depth = JSON_PARSER_MAX_DEPTH;
    return proto__raw_check(&c, body, path != NULL ? path : "", max_depth);
}
