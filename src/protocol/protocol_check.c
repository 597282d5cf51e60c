/*
 * protocol_check.c -- value checks: what each field's value must look like.
 */
#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "protocol.h"
#include "protocol_internal.h"

static int is_alnum(unsigned char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
}

/* Per-type character sets: first byte, then the rest. */
static int char_ok(vtype t, unsigned char ch, int first)
{
    if (is_alnum(ch))
        return 1;
    switch (t) {
    case V_REF:
    case V_NAME:
        return !first && (ch == '_' || ch == '.' || ch == '-');
    case V_IMAGE:
    case V_DRIVER:
        return !first &&
               (ch == '_' || ch == '.' || ch == ':' || ch == '/' || ch == '@' || ch == '-');
    case V_TAG:
        return ch == '_' || (!first && (ch == '.' || ch == '-'));
    case V_HOST:
        return !first && (ch == '.' || ch == '-');
    case V_SIGNAL:
        return !first && (ch == '+' || ch == '-');
    case V_USER:
        return ch == '_' || (!first && (ch == '.' || ch == ':' || ch == '-'));
    case V_NETMODE:
        return !first && (ch == '_' || ch == '.' || ch == ':' || ch == '-');
    case V_PSARGS:
        return ch == ' ' || ch == ',' || ch == '=' || ch == '-';
    default:
        return 0;
    }
}

static const char *charset_text(vtype t)
{
    switch (t) {
    case V_REF:
    case V_NAME:
        return "a letter or digit, then [A-Za-z0-9_.-]";
    case V_IMAGE:
    case V_DRIVER:
        return "a letter or digit, then [A-Za-z0-9_.:/@-]";
    case V_TAG:
        return "[A-Za-z0-9_], then [A-Za-z0-9_.-]";
    case V_HOST:
        return "a letter or digit, then [A-Za-z0-9.-]";
    case V_SIGNAL:
        return "a letter or digit, then [A-Za-z0-9+-]";
    case V_USER:
        return "[A-Za-z0-9_], then [A-Za-z0-9_.:-]";
    case V_NETMODE:
        return "a letter or digit, then [A-Za-z0-9_.:-]";
    case V_PSARGS:
        return "[A-Za-z0-9 ,=-]";
    default:
        return "valid characters";
    }
}

/* No control bytes (text that is not a reference, e.g. a path). */
static int has_control(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch < 0x20 || ch == 0x7f)
            return 1;
    }
    return 0;
}

/* 1 if path s has a ".." component. */
static int has_dotdot(const char *s)
{
    for (const char *p = s; (p = strstr(p, "..")) != NULL; p += 2)
        if ((p == s || p[-1] == '/') && (p[2] == '\0' || p[2] == '/'))
            return 1;
    return 0;
}

void proto_path_normal(const char *s, char *out, size_t len)
{
    size_t n = 0;
    while (*s) {
        while (*s == '/')
            s++;
        size_t seg = strcspn(s, "/");
        if (seg > 0 && !(seg == 1 && s[0] == '.') && n + seg + 1 < len) {
            out[n++] = '/';
            memcpy(out + n, s, seg);
            n += seg;
        }
        s += seg;
    }
    if (n == 0)
        out[n++] = '/';
    out[n] = '\0';
}

/* 1 if path s, normalised, is /proc, /sys or /dev or under one.  What an
 * archive reads there is the kernel's, not the image's. */
static int under_kernel_fs(const char *s)
{
    static const char *const roots[] = {"/proc", "/sys", "/dev"};
    char p[4100];
    proto_path_normal(s, p, sizeof p);
    for (size_t i = 0; i < sizeof roots / sizeof roots[0]; i++) {
        size_t n = strlen(roots[i]);
        if (strncmp(p, roots[i], n) == 0 && (p[n] == '\0' || p[n] == '/'))
            return 1;
    }
    return 0;
}

/* PsArgs goes to the host's ps, and Docker keeps the rows of the
 * container's processes.  So its words come from a closed set, one space
 * apart.  A word is option letters: "-" and some of "AefFjlLwyHc", or some
 * of "auxjlvwfHmrSc" without "-".  None takes an argument or shows the
 * environment.  A word ending in "o" ("-o", "o", "-eo") is followed by
 * comma-separated names of ps_fields.  No "=": a column renamed PID would
 * make Docker keep other processes' rows. */
static const char *const ps_fields[] = {
    "pid",     "ppid",  "pgid",   "sid",  "tid",     "lwp",   "uid",    "euid",  "ruid",
    "user",    "euser", "ruser",  "gid",  "egid",    "group", "comm",   "args",  "cmd",
    "command", "etime", "etimes", "time", "cputime", "pcpu",  "pmem",   "rss",   "vsz",
    "sz",      "stat",  "state",  "s",    "tty",     "tt",    "lstart", "start", "stime",
    "ni",      "nice",  "pri",    "nlwp", "psr",     "c",     "f",      "wchan"};

/* 1 if the n bytes at w are comma-separated names of ps_fields. */
static int ps_fields_ok(const char *w, size_t n)
{
    size_t at = 0;
    while (at <= n) {
        size_t k = at;
        while (k < n && w[k] != ',')
            k++;
        size_t i = 0, nf = sizeof ps_fields / sizeof ps_fields[0];
        while (i < nf &&
               !(strlen(ps_fields[i]) == k - at && !strncmp(ps_fields[i], w + at, k - at)))
            i++;
        if (i == nf)
            return 0;
        at = k + 1;
    }
    return 1;
}

/* 1 if s is PsArgs of the closed set above. */
static int ps_args_ok(const char *s)
{
    int want_fields = 0;
    for (const char *w = s;; w++) {
        size_t n = strcspn(w, " ");
        if (n == 0)
            return 0; /* a leading, trailing or doubled space */
        if (want_fields) {
            if (!ps_fields_ok(w, n))
                return 0;
            want_fields = 0;
        } else {
            int dash = w[0] == '-';
            const char *set = dash ? "AefFjlLwyHc" : "auxjlvwfHmrSc";
            want_fields = w[n - 1] == 'o'; /* "-o", "o", "-eo": fields next */
            size_t end = n - (size_t)want_fields;
            if (end == (size_t)dash && !want_fields)
                return 0; /* a lone "-" */
            for (size_t i = (size_t)dash; i < end; i++)
                if (strchr(set, w[i]) == NULL)
                    return 0;
        }
        w += n;
        if (*w == '\0')
            return !want_fields;
    }
}

/* PsArgs s (its characters checked already): 0, or a bad_request. */
static int check_ps_args(parse_ctx *c, const char *path, const char *s)
{
    char d[96];
    if (!ps_args_ok(s))
        return proto__fail(c, PROTO_EBADREQUEST, path,
                           "must be ps options of a fixed set (letters of -AefFjlLwyHc or "
                           "auxjlvwfHmrSc, then o and fields such as pid,user,args), got %s",
                           proto__quote(d, sizeof d, s));
    return 0;
}

/* 1 if s is a restart policy: "no", "always", "unless-stopped",
 * "on-failure" or "on-failure:N" with N from 0 to 1000. */
static int restart_ok(const char *s)
{
    const char *colon = strchr(s, ':');
    if (strcmp(s, "no") == 0 || strcmp(s, "always") == 0 || strcmp(s, "unless-stopped") == 0 ||
        strcmp(s, "on-failure") == 0)
        return 1;
    if (colon != NULL && (size_t)(colon - s) == strlen("on-failure") &&
        strncmp(s, "on-failure", (size_t)(colon - s)) == 0) {
        char *end;
        long r;
        if (colon[1] >= '0' && colon[1] <= '9') {
            r = strtol(colon + 1, &end, 10);
            if (*end == '\0' && r >= 0 && r <= 1000)
                return 1;
        }
    }
    return 0;
}

/* Checks a string field: type, length, NUL, then its type's character set
 * or vocabulary.  Returns 0 or a bad_request recorded in c->err. */
int proto__check_string(parse_ctx *c, const field_spec *f, const char *path, const json_t *v)
{
    char d[96];
    const char *s;
    size_t n;

    if (!json_is_string(v))
        return proto__fail(c, PROTO_EBADREQUEST, path, "must be a string, got %s",
                           proto__describe(d, sizeof d, v));
    s = json_string_value(v);
    n = json_string_length(v);
    if (n < (size_t)f->min || n > (size_t)f->max) {
        if (n == 0)
            return proto__fail(c, PROTO_EBADREQUEST, path, "must not be empty");
        return proto__fail(c, PROTO_EBADREQUEST, path,
                           "must be %" PRId64 " to %" PRId64 " characters long, got %zu", f->min,
                           f->max, n);
    }
    if (strlen(s) != n)
        return proto__fail(c, PROTO_EBADREQUEST, path, "must not contain NUL");

    switch (f->type) {
    case V_PATH:
        if (s[0] != '/' || has_control(s, n))
            return proto__fail(c, PROTO_EBADREQUEST, path,
                               "must be an absolute path without control characters, got %s",
                               proto__quote(d, sizeof d, s));
        return 0;
    case V_CPATH:
        if (s[0] != '/' || has_control(s, n) || has_dotdot(s) || under_kernel_fs(s))
            return proto__fail(c, PROTO_EBADREQUEST, path,
                               "must be an absolute path without control characters or \"..\", "
                               "not under /proc, /sys or /dev, got %s",
                               proto__quote(d, sizeof d, s));
        return 0;
    case V_BASE64:
        return 0; /* decoded, and so checked, by the mapper */
    case V_PLACEMENT:
        if (strcmp(s, "spread") != 0 && strcmp(s, "binpack") != 0)
            return proto__fail(c, PROTO_EBADREQUEST, path,
                               "must be \"spread\" or \"binpack\", got %s",
                               proto__quote(d, sizeof d, s));
        return 0;
    case V_CONDITION:
        if (strcmp(s, "not-running") != 0 && strcmp(s, "next-exit") != 0 &&
            strcmp(s, "removed") != 0)
            return proto__fail(c, PROTO_EBADREQUEST, path,
                               "must be \"not-running\", \"next-exit\" or \"removed\", got %s",
                               proto__quote(d, sizeof d, s));
        return 0;
    case V_RESTART:
        if (!restart_ok(s))
            return proto__fail(c, PROTO_EBADREQUEST, path,
                               "must be \"no\", \"always\", \"unless-stopped\", \"on-failure\" or "
                               "\"on-failure:N\" (N 0..1000), got %s",
                               proto__quote(d, sizeof d, s));
        return 0;
    default:
        break;
    }

    for (size_t i = 0; i < n; i++) {
        if (!char_ok(f->type, (unsigned char)s[i], i == 0))
            return proto__fail(c, PROTO_EBADREQUEST, path, "must be %s, got %s",
                               charset_text(f->type), proto__quote(d, sizeof d, s));
    }
    if (f->type == V_PSARGS)
        return check_ps_args(c, path, s);
    if (f->type == V_IMAGE || f->type == V_DRIVER) {
        /* No empty, "." or ".." path segments: an image name ends up in a
         * URL path, where they would walk out of /images/. */
        if (strstr(s, "/.") != NULL || strstr(s, "//") != NULL || s[n - 1] == '/')
            return proto__fail(c, PROTO_EBADREQUEST, path, "has an empty or dot path segment: %s",
                               proto__quote(d, sizeof d, s));
    }
    return 0;
}

/* Reads an integer (or an integral real) into *out. */
int proto__get_int(const json_t *v, int64_t *out)
{
    if (json_is_integer(v)) {
        *out = json_integer_value(v);
        return 1;
    }
    if (json_is_real(v)) {
        double r = json_real_value(v);
        if (r >= -9.2e18 && r <= 9.2e18 && r == floor(r)) {
            *out = (int64_t)r;
            return 1;
        }
    }
    return 0;
}

/* Checks an integer field against [min, max] (OUTPUT_MAX: the limit in
 * c->lim).  Returns 0 or a bad_request. */
static int check_int(parse_ctx *c, const field_spec *f, const char *path, const json_t *v)
{
    char d[96];
    int64_t x, max = f->max == OUTPUT_MAX ? c->lim.max_output : f->max;

    if (!proto__get_int(v, &x))
        return proto__fail(c, PROTO_EBADREQUEST, path, "must be an integer, got %s",
                           proto__describe(d, sizeof d, v));
    if (x < f->min || x > max)
        return proto__fail(c, PROTO_EBADREQUEST, path,
                           "must be from %" PRId64 " to %" PRId64 ", got %" PRId64, f->min, max, x);
    return 0;
}

/* Checks an array of at most max_items strings of at most max_len bytes
 * each, naming the offending item ("Cmd[2]").  Returns 0 or a bad_request. */
static int check_strings(parse_ctx *c, const char *path, const json_t *v, int64_t max_items,
                         size_t max_len)
{
    char d[96], p[PROTO_FIELD_MAX];
    size_t i;
    json_t *e;

    if (!json_is_array(v))
        return proto__fail(c, PROTO_EBADREQUEST, path, "must be an array of strings, got %s",
                           proto__describe(d, sizeof d, v));
    if (json_array_size(v) > (size_t)max_items)
        return proto__fail(c, PROTO_EBADREQUEST, path, "has %zu items, at most %" PRId64 " allowed",
                           json_array_size(v), max_items);
    json_array_foreach(v, i, e)
    {
        proto__bfmt(p, sizeof p, "%s[%zu]", path, i);
        if (!json_is_string(e))
            return proto__fail(c, PROTO_EBADREQUEST, p, "must be a string, got %s",
                               proto__describe(d, sizeof d, e));
        if (json_string_length(e) > max_len)
            return proto__fail(c, PROTO_EBADREQUEST, p, "longer than %zu bytes", max_len);
        if (strlen(json_string_value(e)) != json_string_length(e))
            return proto__fail(c, PROTO_EBADREQUEST, p, "must not contain NUL");
    }
    return 0;
}

/* An environment variable name: printable ASCII, no '=' or space. */
static int env_key_ok(const char *k, size_t n)
{
    if (n == 0 || n > 1024)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)k[i];
        if (ch <= 0x20 || ch >= 0x7f || ch == '=')
            return 0;
    }
    return 1;
}

/* Checks Env: ["NAME=value", ...] or {"NAME":"value"}.  Returns 0 or a
 * bad_request naming the entry. */
static int check_env(parse_ctx *c, const field_spec *f, const char *path, const json_t *v)
{
    char d[96], p[PROTO_FIELD_MAX];

    if (json_is_array(v)) {
        size_t i;
        json_t *e;
        int rc = check_strings(c, path, v, f->max, MAX_ARG);
        if (rc != 0)
            return rc;
        json_array_foreach(v, i, e)
        {
            const char *s = json_string_value(e);
            const char *eq = strchr(s, '=');
            if (eq == NULL || !env_key_ok(s, (size_t)(eq - s))) {
                proto__bfmt(p, sizeof p, "%s[%zu]", path, i);
                return proto__fail(c, PROTO_EBADREQUEST, p, "must be \"NAME=value\", got %s",
                                   proto__quote(d, sizeof d, s));
            }
        }
        return 0;
    }
    if (json_is_object(v)) {
        const char *k;
        json_t *e;
        if (json_object_size(v) > (size_t)f->max)
            return proto__fail(c, PROTO_EBADREQUEST, path, "more than %" PRId64 " variables",
                               f->max);
        json_object_foreach((json_t *)v, k, e)
        {
            proto__key_path(p, sizeof p, path, k);
            if (!env_key_ok(k, strlen(k)))
                return proto__fail(c, PROTO_EBADREQUEST, p,
                                   "variable name must be printable ASCII without '=' or spaces");
            if (!json_is_string(e))
                return proto__fail(c, PROTO_EBADREQUEST, p, "must be a string, got %s",
                                   proto__describe(d, sizeof d, e));
            if (json_string_length(e) > MAX_ARG ||
                strlen(json_string_value(e)) != json_string_length(e))
                return proto__fail(c, PROTO_EBADREQUEST, p, "longer than %d bytes or contains NUL",
                                   MAX_ARG);
        }
        return 0;
    }
    return proto__fail(c, PROTO_EBADREQUEST, path,
                       "must be an array of \"NAME=value\" strings or an object, got %s",
                       proto__describe(d, sizeof d, v));
}

/* Checks Labels: an object of strings with sane keys, none reserved.
 * Returns 0 or a bad_request naming the label. */
static int check_labels(parse_ctx *c, const field_spec *f, const char *path, const json_t *v)
{
    char d[96], p[PROTO_FIELD_MAX];
    const char *k;
    json_t *e;

    if (!json_is_object(v))
        return proto__fail(c, PROTO_EBADREQUEST, path, "must be an object of strings, got %s",
                           proto__describe(d, sizeof d, v));
    if (json_object_size(v) > (size_t)f->max)
        return proto__fail(c, PROTO_EBADREQUEST, path, "more than %" PRId64 " labels", f->max);
    json_object_foreach((json_t *)v, k, e)
    {
        size_t kn = strlen(k);
        proto__key_path(p, sizeof p, path, k);
        if (kn == 0 || kn > 1024 || has_control(k, kn))
            return proto__fail(c, PROTO_EBADREQUEST, p,
                               "label key must be 1 to 1024 bytes without control characters");
        if (proto__reserved_label(k))
            return proto__fail(c, PROTO_EBADREQUEST, p,
                               "labels under \"" PROTO_RESERVED_LABEL_PREFIX
                               "\" are reserved for the dispatcher");
        if (!json_is_string(e))
            return proto__fail(c, PROTO_EBADREQUEST, p, "must be a string, got %s",
                               proto__describe(d, sizeof d, e));
        if (json_string_length(e) > MAX_ARG ||
            strlen(json_string_value(e)) != json_string_length(e))
            return proto__fail(c, PROTO_EBADREQUEST, p, "longer than %d bytes or contains NUL",
                               MAX_ARG);
    }
    return 0;
}

/* Checks a Docker filter object in either of Docker's two forms.  Returns
 * 0 or a bad_request naming the filter. */
static int check_filters(parse_ctx *c, const field_spec *f, const char *path, const json_t *v)
{
    char d[96], p[PROTO_FIELD_MAX], p2[PROTO_FIELD_MAX];
    const char *k;
    json_t *e;

    if (!json_is_object(v))
        return proto__fail(c, PROTO_EBADREQUEST, path, "must be an object, got %s",
                           proto__describe(d, sizeof d, v));
    if (json_object_size(v) > (size_t)f->max)
        return proto__fail(c, PROTO_EBADREQUEST, path, "more than %" PRId64 " filters", f->max);
    json_object_foreach((json_t *)v, k, e)
    {
        size_t kn = strlen(k);
        proto__key_path(p, sizeof p, path, k);
        if (kn == 0 || kn > 64)
            return proto__fail(c, PROTO_EBADREQUEST, p, "filter name must be 1 to 64 characters");
        for (size_t i = 0; i < kn; i++) {
            if (!char_ok(V_REF, (unsigned char)k[i], 0))
                return proto__fail(c, PROTO_EBADREQUEST, p, "filter name must be [A-Za-z0-9_.-]");
        }
        if (json_is_array(e)) {
            int rc = check_strings(c, p, e, 256, 1024);
            if (rc != 0)
                return rc;
        } else if (json_is_object(e)) {
            /* Docker's older form: {"label":{"a=b":true}} */
            const char *vk;
            json_t *vv;
            if (json_object_size(e) > 256)
                return proto__fail(c, PROTO_EBADREQUEST, p, "more than 256 values");
            json_object_foreach(e, vk, vv)
            {
                proto__key_path(p2, sizeof p2, p, vk);
                if (strlen(vk) > 1024)
                    return proto__fail(c, PROTO_EBADREQUEST, p2, "longer than 1024 bytes");
                if (!json_is_boolean(vv))
                    return proto__fail(c, PROTO_EBADREQUEST, p2, "must be true or false, got %s",
                                       proto__describe(d, sizeof d, vv));
            }
        } else {
            return proto__fail(c, PROTO_EBADREQUEST, p, "must be an array of strings, got %s",
                               proto__describe(d, sizeof d, e));
        }
    }
    return 0;
}

/* Checks Attach: stream names, any case.  Returns 0 or a bad_request. */
static int check_attach(parse_ctx *c, const field_spec *f, const char *path, const json_t *v)
{
    char d[96], p[PROTO_FIELD_MAX];
    size_t i;
    json_t *e;
    int rc = check_strings(c, path, v, f->max, 16);

    if (rc != 0)
        return rc;
    json_array_foreach(v, i, e)
    {
        const char *s = json_string_value(e);
        if (!proto__ascii_ieq(s, "STDIN") && !proto__ascii_ieq(s, "STDOUT") &&
            !proto__ascii_ieq(s, "STDERR")) {
            proto__bfmt(p, sizeof p, "%s[%zu]", path, i);
            return proto__fail(c, PROTO_EBADREQUEST, p,
                               "must be \"STDIN\", \"STDOUT\" or \"STDERR\", got %s",
                               proto__quote(d, sizeof d, s));
        }
    }
    return 0;
}

/* Checks Binds for the "source:/target[:opts]" shape only; which sources
 * are allowed is the security policy's call.  Returns 0 or a bad_request. */
static int check_binds(parse_ctx *c, const field_spec *f, const char *path, const json_t *v)
{
    char d[96], p[PROTO_FIELD_MAX];
    size_t i;
    json_t *e;
    int rc = check_strings(c, path, v, f->max, 4096);

    if (rc != 0)
        return rc;
    json_array_foreach(v, i, e)
    {
        const char *s = json_string_value(e);
        const char *colon = strchr(s, ':');
        proto__bfmt(p, sizeof p, "%s[%zu]", path, i);
        if (colon == NULL || colon == s || colon[1] != '/' || has_control(s, strlen(s)))
            return proto__fail(c, PROTO_EBADREQUEST, p,
                               "must be \"source:/container/path[:options]\", got %s",
                               proto__quote(d, sizeof d, s));
    }
    return 0;
}

/* A decimal port 1..65535 of exactly n bytes. */
static int parse_port(const char *s, size_t n, long *out)
{
    long x = 0;
    if (n == 0 || n > 5)
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        x = x * 10 + (s[i] - '0');
    }
    if (x < 1 || x > 65535)
        return 0;
    *out = x;
    return 1;
}

/* Parses "[ip:][hostPort:]containerPort[/proto]"; ip may be "[v6]". */
int proto__parse_port_spec(const char *s, port_spec *ps)
{
    char buf[128];
    char *proto, *cport, *rest;
    long port;
    size_t n = strlen(s);

    memset(ps, 0, sizeof *ps);
    if (n == 0 || n >= sizeof buf)
        return 0;
    memcpy(buf, s, n + 1);
    proto = strchr(buf, '/');
    if (proto != NULL) {
        *proto++ = '\0';
        if (strcmp(proto, "tcp") != 0 && strcmp(proto, "udp") != 0 && strcmp(proto, "sctp") != 0)
            return 0;
    } else {
        proto = "tcp";
    }
    cport = strrchr(buf, ':');
    if (cport == NULL) {
        cport = buf;
        rest = NULL;
    } else {
        *cport++ = '\0';
        rest = buf;
    }
    if (!parse_port(cport, strlen(cport), &port))
        return 0;
    proto__bfmt(ps->container, sizeof ps->container, "%ld/%s", port, proto);
    if (rest == NULL)
        return 1;

    /* rest is "hostPort", "ip:hostPort" or "ip:" (any port) */
    char *hp = NULL, *ip = NULL;
    if (rest[0] == '[') {
        char *close = strchr(rest, ']');
        if (close == NULL || close[1] != ':')
            return 0;
        *close = '\0';
        ip = rest + 1;
        hp = close + 2;
    } else {
        char *colon = strrchr(rest, ':');
        if (colon != NULL) {
            *colon = '\0';
            ip = rest;
            hp = colon + 1;
        } else {
            hp = rest;
        }
    }
    if (ip != NULL) {
        size_t in = strlen(ip);
        if (in == 0 || in >= sizeof ps->host_ip)
            return 0;
        for (size_t i = 0; i < in; i++) {
            unsigned char ch = (unsigned char)ip[i];
            if (!isxdigit(ch) && ch != '.' && ch != ':')
                return 0;
        }
        memcpy(ps->host_ip, ip, in + 1);
    }
    if (hp[0] != '\0') {
        if (!parse_port(hp, strlen(hp), &port))
            return 0;
        proto__bfmt(ps->host_port, sizeof ps->host_port, "%ld", port);
    } else if (ip == NULL) {
        return 0; /* ":80" */
    }
    return 1;
}

/* Checks every Ports entry with proto__parse_port_spec().  Returns 0 or a
 * bad_request naming the entry. */
static int check_ports(parse_ctx *c, const field_spec *f, const char *path, const json_t *v)
{
    char d[96], p[PROTO_FIELD_MAX];
    size_t i;
    json_t *e;
    port_spec ps;
    int rc = check_strings(c, path, v, f->max, 100);

    if (rc != 0)
        return rc;
    json_array_foreach(v, i, e)
    {
        if (!proto__parse_port_spec(json_string_value(e), &ps)) {
            proto__bfmt(p, sizeof p, "%s[%zu]", path, i);
            return proto__fail(c, PROTO_EBADREQUEST, p,
                               "must be \"[ip:][hostPort:]containerPort[/tcp|udp|sctp]\", got %s",
                               proto__quote(d, sizeof d, json_string_value(e)));
        }
    }
    return 0;
}

/* Validates one field value.  Returns 0 or a failure recorded in c->err. */
int proto__check_value(parse_ctx *c, int fid, const char *path, json_t *v)
{
    const field_spec *f = &proto__field_specs[fid];
    char d[96];

    switch (f->type) {
    case V_BOOL:
        if (!json_is_boolean(v))
            return proto__fail(c, PROTO_EBADREQUEST, path, "must be true or false, got %s",
                               proto__describe(d, sizeof d, v));
        return 0;
    case V_INT:
        return check_int(c, f, path, v);
    case V_CPUS: {
        double x;
        if (!json_is_number(v))
            return proto__fail(c, PROTO_EBADREQUEST, path, "must be a number, got %s",
                               proto__describe(d, sizeof d, v));
        x = json_number_value(v);
        if (!(x > 0.0) || x > (double)f->max || llround(x * 1e9) < 1)
            return proto__fail(c, PROTO_EBADREQUEST, path,
                               "must be a number above 0 and at most %" PRId64 ", got %s", f->max,
                               proto__describe(d, sizeof d, v));
        return 0;
    }
    case V_ARGV:
        return check_strings(c, path, v, f->max, MAX_ARG);
    case V_ARGV_OR_STR:
        if (json_is_string(v)) {
            if (json_string_length(v) > MAX_ARG ||
                strlen(json_string_value(v)) != json_string_length(v))
                return proto__fail(c, PROTO_EBADREQUEST, path,
                                   "longer than %d bytes or contains NUL", MAX_ARG);
            return 0;
        }
        if (!json_is_array(v))
            return proto__fail(c, PROTO_EBADREQUEST, path,
                               "must be a string or an array of strings, "
                               "got %s",
                               proto__describe(d, sizeof d, v));
        return check_strings(c, path, v, f->max, MAX_ARG);
    case V_ENV:
        return check_env(c, f, path, v);
    case V_LABELS:
        return check_labels(c, f, path, v);
    case V_FILTERS:
        return check_filters(c, f, path, v);
    case V_ATTACH:
        return check_attach(c, f, path, v);
    case V_BINDS:
        return check_binds(c, f, path, v);
    case V_PORTS:
        return check_ports(c, f, path, v);
    case V_RAW:
        return proto__raw_check(c, v, path, c->lim.max_depth);
    default:
        return proto__check_string(c, f, path, v);
    }
}
