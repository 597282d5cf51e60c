/*
 * dkc_images.c -- images: list, inspect, pull, tag, remove, import, load.
 *
 * Pull, import and load answer with a stream of JSON progress messages, one
 * per line, that ends when the work is done.  Failures found after the
 * daemon has already answered 200 arrive inside that stream as
 * {"error": "...", "errorDetail": {...}}.  Those become DKC_ESTREAM, with
 * Docker's text as the handle's last error.  So a caller never mistakes a
 * failed pull for a successful one.
 *
 * Every reference reaches a URL only after dkc__check_ref(); every query
 * value is percent-encoded by dkc__query_add().
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dkc_internal.h"

#define STREAM_MESSAGE_MAX 1024
#define TAG_MAX            128
#define AUTH_JSON_MAX      (16u * 1024u)

/* ---- progress streams -------------------------------------------------- */

typedef struct progress_state {
    dkc__jsonl lines;
    dkc_progress_cb cb; /* may be NULL */
    void *ud;
    int rc;                           /* first problem found in the stream */
    char message[STREAM_MESSAGE_MAX]; /* Docker's error text, for rc */
} progress_state;

/* Copies untrusted text into dst with control characters turned into
 * spaces and trailing blanks dropped, so it can be shown on one line. */
static void copy_clean(char *dst, size_t cap, const char *src)
{
    size_t n = 0;
    for (const char *p = src; *p != '\0' && n + 1 < cap; p++)
        dst[n++] = ((unsigned char)*p < 0x20 || *p == 0x7f) ? ' ' : *p;
    while (n > 0 && dst[n - 1] == ' ')
        n--;
    dst[n] = '\0';
}

static const char *str_or_empty(json_t *v)
{
    const char *s = json_string_value(v);
    return s ? s : "";
}

/* Handles one decoded message of a progress stream: an error message stops
 * the stream with DKC_ESTREAM (its text kept in st->message); anything else
 * goes to the caller's callback, whose non-zero answer stops the stream
 * with DKC_ECANCELED.  Returns non-zero to stop. */
static int on_progress_value(void *ud, json_t *v)
{
    progress_state *st = ud;
    if (!json_is_object(v)) {
        st->rc = DKC_EPROTO;
        snprintf(st->message, sizeof st->message, "progress message is not a JSON object");
        return 1;
    }
    json_t *err = json_object_get(v, "error");
    json_t *detail = json_object_get(v, "errorDetail");
    if (err != NULL || detail != NULL) {
        const char *text = json_string_value(err);
        if (text == NULL || text[0] == '\0')
            text = json_string_value(json_object_get(detail, "message"));
        copy_clean(st->message, sizeof st->message,
                   text && text[0] ? text : "the daemon reported an unnamed error");
        st->rc = DKC_ESTREAM;
        return 1;
    }
    if (st->cb == NULL)
        return 0;
    json_t *pd = json_object_get(v, "progressDetail");
    json_t *status = json_object_get(v, "status");
    dkc_progress p = {
        /* Load reports its result as {"stream": "Loaded image: ...\n"}. */
        .status = str_or_empty(status ? status : json_object_get(v, "stream")),
        .id = str_or_empty(json_object_get(v, "id")),
        .current = json_integer_value(json_object_get(pd, "current")),
        .total = json_integer_value(json_object_get(pd, "total")),
        .raw = v,
    };
    if (st->cb(st->ud, &p) != 0) {
        st->rc = DKC_ECANCELED;
        snprintf(st->message, sizeof st->message, "stopped by the progress callback");
        return 1;
    }
    return 0;
}

/* Body sink for progress streams: splits the bytes into JSON lines. */
static int progress_sink(void *ud, const char *data, size_t len)
{
    progress_state *st = ud;
    int rc = dkc__jsonl_feed(&st->lines, data, len, on_progress_value, st);
    if (rc != 0 && st->rc == 0) {
        /* The splitter itself failed: not JSON, a line over the cap, ... */
        st->rc = rc;
        snprintf(st->message, sizeof st->message, "malformed progress stream: %s",
                 dkc_strerror(rc));
    }
    return rc != 0;
}

/* Performs req (a POST answered by a progress stream) and turns what was
 * found inside the stream into the call's result.  Fills in req's sink and
 * stream fields.  Returns 0 only when the daemon answered 2xx and the whole
 * stream was read without an error message in it. */
static int run_progress_stream(dkc_client *c, dkc__req *req, const char *what, dkc_progress_cb cb,
                               void *ud)
{
    progress_state st;
    dkc__resp resp;
    int rc;

    memset(&st, 0, sizeof st);
    st.cb = cb;
    st.ud = ud;
    dkc__jsonl_init(&st.lines);
    dkc__client_resp_init(c, &resp);
    req->sink = progress_sink;
    req->sink_ud = &st;
    req->stream = true;

    rc = dkc__client_do(c, req, &resp);
    if (rc == 0 && st.rc == 0) {
        /* The last message may lack its newline. */
        int frc = dkc__jsonl_finish(&st.lines, on_progress_value, &st);
        if (frc != 0 && st.rc == 0) {
            st.rc = frc;
            snprintf(st.message, sizeof st.message, "malformed progress stream: %s",
                     dkc_strerror(frc));
        }
    }
    /* A stop asked for by the sink shows up as DKC_ECANCELED from the
     * transport; the sink's own reason is the real one. */
    if ((rc == 0 || rc == DKC_ECANCELED) && st.rc != 0)
        rc = dkc__client_fail(c, st.rc, resp.status, "%s: %s", what, st.message);
    dkc__resp_cleanup(&resp);
    dkc__jsonl_cleanup(&st.lines);
    return rc;
}

/* ---- registry authentication -------------------------------------------- */

/* Encodes len bytes of src as padded base64url (RFC 4648 section 5), the
 * form the daemon decodes X-Registry-Auth with, and appends it to out.
 * Neither libcurl nor jansson exposes an encoder, hence this one. */
static int base64url_append(dkc__buf *out, const unsigned char *src, size_t len)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    for (size_t i = 0; i < len; i += 3) {
        size_t left = len - i;
        unsigned long v = (unsigned long)src[i] << 16;
        if (left > 1)
            v |= (unsigned long)src[i + 1] << 8;
        if (left > 2)
            v |= src[i + 2];
        char q[4] = {alphabet[(v >> 18) & 63], alphabet[(v >> 12) & 63],
                     left > 1 ? alphabet[(v >> 6) & 63] : '=', left > 2 ? alphabet[v & 63] : '='};
        int rc = dkc__buf_append(out, q, sizeof q);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* Appends "X-Registry-Auth: <base64url JSON>" for auth to hdr.  Fields that
 * are NULL are left out.  The JSON holds a password, so it is wiped before
 * it is freed; the caller wipes hdr the same way. */
static int auth_header(const dkc_auth *auth, dkc__buf *hdr)
{
    struct {
        const char *key;
        const char *value;
    } fields[] = {
        {"username", auth->username},
        {"password", auth->password},
        {"serveraddress", auth->server_address},
        {"identitytoken", auth->identity_token},
    };
    char *text = NULL;
    int rc = DKC_ENOMEM;
    json_t *o = json_object();
    if (o == NULL)
        goto out;
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        if (fields[i].value == NULL)
            continue;
        json_t *s = json_string(fields[i].value);
        if (s == NULL) {
            rc = DKC_EINVAL; /* not UTF-8 */
            goto out;
        }
        if (json_object_set_new(o, fields[i].key, s) != 0)
            goto out;
    }
    text = json_dumps(o, JSON_COMPACT);
    if (text == NULL)
        goto out;
    size_t len = strlen(text);
    if (len > AUTH_JSON_MAX) {
        rc = DKC_EINVAL;
        goto out;
    }
    rc = dkc__buf_printf(hdr, "X-Registry-Auth: ");
    if (rc == 0)
        rc = base64url_append(hdr, (const unsigned char *)text, len);
out:
    if (text != NULL) {
        explicit_bzero(text, strlen(text));
        free(text);
    }
    json_decref(o);
    return rc;
}

/* Frees a buffer that held credentials, wiping it first. */
static void wipe_buf(dkc__buf *b)
{
    if (b->data != NULL)
        explicit_bzero(b->data, b->cap);
    dkc__buf_cleanup(b);
}

/* ---- references ------------------------------------------------------------ */

/* A tag: [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}, Docker's rule.  With digest_ok,
 * a digest "algorithm:hex" is accepted in the same place, as the Engine
 * API does for fromImage. */
static bool valid_tag(const char *tag, bool digest_ok)
{
    if (tag == NULL || tag[0] == '\0' || tag[0] == '.' || tag[0] == '-')
        return false;
    const char *colon = strchr(tag, ':');
    if (digest_ok && colon != NULL)
        return colon[1] != '\0' && strchr(colon + 1, ':') == NULL &&
               dkc__check_ref(tag, true) == 0 && strchr(tag, '/') == NULL &&
               strchr(tag, '@') == NULL;
    return strlen(tag) <= TAG_MAX && dkc__check_ref(tag, false) == 0;
}

/* Splits an image reference into the fromImage and tag query values.
 * References "repo:tag" and "repo@digest" carry their own tag.  A ':'
 * counts as a tag separator only after the last '/', because
 * "localhost:5000/busybox" names a registry port.  When image has no tag,
 * tag (may be NULL) is used.  Giving both is ambiguous and refused.  The
 * new string *repo is the caller's (free()).  *out_tag points into it, at
 * tag, or at "latest".  Returns 0, DKC_EINVAL or DKC_ENOMEM. */
static int split_reference(const char *image, const char *tag, char **repo, const char **out_tag)
{
    *repo = NULL;
    *out_tag = NULL;
    if (dkc__check_ref(image, true) != 0)
        return DKC_EINVAL;
    char *r = strdup(image);
    if (r == NULL)
        return DKC_ENOMEM;
    const char *own = NULL;
    char *at = strchr(r, '@');
    if (at != NULL) {
        *at = '\0';
        own = at + 1;
        if (!valid_tag(own, true) || strchr(own, ':') == NULL)
            goto bad;
    }
    /* A tag before a digest ("name:tag@sha256:...") is ignored, as docker
     * does: the digest alone names the content. */
    char *slash = strrchr(r, '/');
    char *colon = strrchr(r, ':');
    if (colon != NULL && (slash == NULL || colon > slash)) {
        *colon = '\0';
        if (own == NULL) {
            own = colon + 1;
            if (!valid_tag(own, false))
                goto bad;
        }
    }
    /* What is left may hold a ':' only as a registry port. */
    slash = strrchr(r, '/');
    colon = strrchr(r, ':');
    if (dkc__check_ref(r, true) != 0 || (colon != NULL && (slash == NULL || colon > slash)) ||
        (slash != NULL && slash[1] == '\0'))
        goto bad;
    if (own != NULL && tag != NULL)
        goto bad;
    if (tag != NULL && !valid_tag(tag, true))
        goto bad;
    *out_tag = own ? own : tag ? tag : "latest";
    *repo = r;
    return 0;
bad:
    free(r);
    return DKC_EINVAL;
}

/* ---- the calls -------------------------------------------------------------- */

/* GET /images/json.  filters borrowed (may be NULL).  *out: the array as
 * Docker sends it (json_decref). */
int dkc_image_list(dkc_client *c, bool all, json_t *filters, json_t **out)
{
    if (c == NULL || out == NULL)
        return DKC_EINVAL;
    *out = NULL;
    dkc__buf path;
    dkc__buf_init(&path, 0);
    int rc = dkc__buf_printf(&path, "/images/json");
    if (rc == 0 && all)
        rc = dkc__query_add(&path, "all", "1");
    if (rc == 0)
        rc = dkc__query_add_json(&path, "filters", filters);
    if (rc != 0)
        rc = dkc__client_fail(c, rc, 0, "cannot build the image list request");
    else
        rc = dkc__client_json(c, "GET", path.data, NULL, out);
    dkc__buf_cleanup(&path);
    return rc;
}

/* GET /images/{name}/json.  *out: the image object (json_decref). */
int dkc_image_inspect(dkc_client *c, const char *name, json_t **out)
{
    if (c == NULL || out == NULL)
        return DKC_EINVAL;
    *out = NULL;
    if (dkc__check_ref(name, true) != 0)
        return dkc__client_fail(c, DKC_EINVAL, 0, "invalid image reference");
    dkc__buf path;
    dkc__buf_init(&path, 0);
    int rc = dkc__buf_printf(&path, "/images/%s/json", name);
    if (rc != 0)
        rc = dkc__client_fail(c, rc, 0, "cannot build the image inspect request");
    else
        rc = dkc__client_json(c, "GET", path.data, NULL, out);
    dkc__buf_cleanup(&path);
    return rc;
}

/* POST /images/create?fromImage=&tag=, with X-Registry-Auth when auth is
 * given.  Progress goes to cb (may be NULL).  Blocks without a request
 * timeout until the daemon ends the stream; dkc_client_cancel() stops it.
 * A missing image is DKC_ENOTFOUND when the daemon says so before the
 * stream starts, DKC_ESTREAM when it says so inside the stream. */
int dkc_image_pull(dkc_client *c, const char *image, const char *tag, const dkc_auth *auth,
                   dkc_progress_cb cb, void *ud)
{
    if (c == NULL)
        return DKC_EINVAL;
    char *repo = NULL;
    const char *use_tag = NULL;
    dkc__buf path, hdr;
    int rc;

    dkc__buf_init(&path, 0);
    dkc__buf_init(&hdr, 0);
    rc = split_reference(image, tag, &repo, &use_tag);
    if (rc != 0) {
        rc = dkc__client_fail(c, rc, 0, "invalid image reference or tag");
        goto out;
    }
    rc = dkc__buf_printf(&path, "/images/create");
    if (rc == 0)
        rc = dkc__query_add(&path, "fromImage", repo);
    if (rc == 0)
        rc = dkc__query_add(&path, "tag", use_tag);
    if (rc == 0 && auth != NULL)
        rc = auth_header(auth, &hdr);
    if (rc != 0) {
        rc = dkc__client_fail(c, rc, 0, "cannot build the pull request");
        goto out;
    }
    dkc__req req = {.method = "POST", .path = path.data, .extra_header = hdr.data};
    rc = run_progress_stream(c, &req, "pull", cb, ud);
out:
    wipe_buf(&hdr);
    dkc__buf_cleanup(&path);
    free(repo);
    return rc;
}

/* POST /images/{name}/tag?repo=&tag=.  tag NULL: the daemon's "latest". */
int dkc_image_tag(dkc_client *c, const char *name, const char *repo, const char *tag)
{
    if (c == NULL)
        return DKC_EINVAL;
    if (dkc__check_ref(name, true) != 0 || dkc__check_ref(repo, true) != 0 ||
        (tag != NULL && !valid_tag(tag, false)))
        return dkc__client_fail(c, DKC_EINVAL, 0, "invalid image reference, repository or tag");
    dkc__buf path;
    dkc__buf_init(&path, 0);
    int rc = dkc__buf_printf(&path, "/images/%s/tag", name);
    if (rc == 0)
        rc = dkc__query_add(&path, "repo", repo);
    if (rc == 0)
        rc = dkc__query_add(&path, "tag", tag);
    if (rc != 0)
        rc = dkc__client_fail(c, rc, 0, "cannot build the tag request");
    else
        rc = dkc__client_json(c, "POST", path.data, NULL, NULL);
    dkc__buf_cleanup(&path);
    return rc;
}

/* DELETE /images/{name}?force=&noprune=.  *out (may be NULL): the array of
 * {"Untagged": ...} / {"Deleted": ...} entries (json_decref). */
int dkc_image_remove(dkc_client *c, const char *name, bool force, bool noprune, json_t **out)
{
    if (c == NULL)
        return DKC_EINVAL;
    if (out != NULL)
        *out = NULL;
    if (dkc__check_ref(name, true) != 0)
        return dkc__client_fail(c, DKC_EINVAL, 0, "invalid image reference");
    dkc__buf path;
    dkc__buf_init(&path, 0);
    int rc = dkc__buf_printf(&path, "/images/%s", name);
    if (rc == 0 && force)
        rc = dkc__query_add(&path, "force", "1");
    if (rc == 0 && noprune)
        rc = dkc__query_add(&path, "noprune", "1");
    if (rc != 0)
        rc = dkc__client_fail(c, rc, 0, "cannot build the image remove request");
    else
        rc = dkc__client_json(c, "DELETE", path.data, NULL, out);
    dkc__buf_cleanup(&path);
    return rc;
}

/* POST /images/create?fromSrc=-&repo=&tag= with the root filesystem tar
 * read from rd.  repo and tag may be NULL (an untagged image).  Progress
 * (the new image id arrives as a status) goes to cb (may be NULL). */
int dkc_image_import(dkc_client *c, const char *repo, const char *tag, dkc_read_cb rd, void *ud,
                     dkc_progress_cb cb, void *cb_ud)
{
    if (c == NULL || rd == NULL)
        return DKC_EINVAL;
    if ((repo != NULL && dkc__check_ref(repo, true) != 0) ||
        (tag != NULL && (repo == NULL || !valid_tag(tag, false))))
        return dkc__client_fail(c, DKC_EINVAL, 0, "invalid repository or tag");
    dkc__buf path;
    dkc__buf_init(&path, 0);
    int rc = dkc__buf_printf(&path, "/images/create");
    if (rc == 0)
        rc = dkc__query_add(&path, "fromSrc", "-");
    if (rc == 0)
        rc = dkc__query_add(&path, "repo", repo);
    if (rc == 0)
        rc = dkc__query_add(&path, "tag", tag);
    if (rc != 0) {
        rc = dkc__client_fail(c, rc, 0, "cannot build the import request");
    } else {
        dkc__req req = {.method = "POST",
                        .path = path.data,
                        .content_type = "application/x-tar",
                        .reader = rd,
                        .reader_ud = ud};
        rc = run_progress_stream(c, &req, "import", cb, cb_ud);
    }
    dkc__buf_cleanup(&path);
    return rc;
}

/* POST /images/load?quiet=0 with a `docker save` tar read from rd.  The
 * stream's messages (layer progress, then "Loaded image: ..." in status)
 * go to cb (may be NULL); an error inside it is DKC_ESTREAM. */
int dkc_image_load(dkc_client *c, dkc_read_cb rd, void *ud, dkc_progress_cb cb, void *cb_ud)
{
    if (c == NULL || rd == NULL)
        return DKC_EINVAL;
    dkc__req req = {.method = "POST",
                    .path = "/images/load?quiet=0",
                    .content_type = "application/x-tar",
                    .reader = rd,
                    .reader_ud = ud};
    return run_progress_stream(c, &req, "load", cb, cb_ud);
}
