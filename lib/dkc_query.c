/*
 * dkc_query.c -- safe URL pieces: path references and query strings, and
 * the small string-list to JSON conversions the API calls share.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "dkc_internal.h"

#define REF_MAX 256

/* A reference ends up inside a URL path, so anything that could change which
 * endpoint is addressed ('?', '#', '%', "..", whitespace) is refused here,
 * before any request is made. */
int dkc__check_ref(const char *ref, bool slash_ok)
{
    if (ref == NULL || ref[0] == '\0')
        return DKC_EINVAL;
    size_t n = strnlen(ref, REF_MAX + 1);
    if (n > REF_MAX)
        return DKC_EINVAL;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)ref[i];
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                  (ch >= '0' && ch <= '9') || ch == '_' || ch == '.' || ch == '-';
        if (!ok && slash_ok)
            ok = ch == '/' || ch == ':' || ch == '@';
        if (!ok)
            return DKC_EINVAL;
    }
    /* No "." or ".." path segment anywhere. */
    const char *seg = ref;
    for (;;) {
        const char *end = strchr(seg, '/');
        size_t len = end ? (size_t)(end - seg) : strlen(seg);
        if ((len == 1 && seg[0] == '.') || (len == 2 && seg[0] == '.' && seg[1] == '.'))
            return DKC_EINVAL;
        if (len == 0 && end != NULL)
            return DKC_EINVAL; /* empty segment: "a//b" or leading '/' */
        if (end == NULL)
            break;
        seg = end + 1;
    }
    return 0;
}

int dkc__query_add(dkc__buf *b, const char *key, const char *value)
{
    if (value == NULL)
        return 0;
    char *esc = curl_easy_escape(NULL, value, (int)strlen(value));
    if (esc == NULL)
        return DKC_ENOMEM;
    int rc =
        dkc__buf_printf(b, "%c%s=%s", strchr(b->data ? b->data : "", '?') ? '&' : '?', key, esc);
    curl_free(esc);
    return rc;
}

int dkc__query_addf(dkc__buf *b, const char *key, const char *fmt, ...)
{
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof tmp)
        return DKC_EINVAL;
    return dkc__query_add(b, key, tmp);
}

int dkc__query_add_json(dkc__buf *b, const char *key, json_t *value)
{
    if (value == NULL || (json_is_object(value) && json_object_size(value) == 0))
        return 0;
    char *text = json_dumps(value, JSON_COMPACT);
    if (text == NULL)
        return DKC_ENOMEM;
    int rc = dkc__query_add(b, key, text);
    free(text);
    return rc;
}

json_t *dkc__strv_to_json(const char *const *list)
{
    if (list == NULL)
        return NULL;
    json_t *a = json_array();
    if (a == NULL)
        return NULL;
    for (size_t i = 0; list[i] != NULL; i++) {
        if (json_array_append_new(a, json_string(list[i])) != 0) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

json_t *dkc__kv_to_json(const char *const *list, int *err)
{
    *err = 0;
    if (list == NULL)
        return NULL;
    json_t *o = json_object();
    if (o == NULL) {
        *err = DKC_ENOMEM;
        return NULL;
    }
    for (size_t i = 0; list[i] != NULL; i++) {
        const char *eq = strchr(list[i], '=');
        if (eq == NULL || eq == list[i]) {
            *err = DKC_EINVAL;
            json_decref(o);
            return NULL;
        }
        json_t *v = json_string(eq + 1);
        if (v == NULL || json_object_setn_new(o, list[i], (size_t)(eq - list[i]), v) != 0) {
            *err = v == NULL ? DKC_EINVAL : DKC_ENOMEM; /* json_string: invalid UTF-8 */
            json_decref(o);
            return NULL;
        }
    }
    return o;
}
