/*
 * cmd_archive.c -- `archive-get` and `archive-put`: a tar of a path in a
 * container this publisher may act on, carried base64 in the reply or
 * the message.  Either way the tar is at most the policy's max_archive
 * bytes.  Docker's archive is not streamed through the queue: a reply is
 * one message.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nettle/base64.h>

#include "engine_internal.h"

typedef struct tar_buf {
    xbuf buf;
    size_t limit;
    int over; /* the tar was longer than limit: reading stopped */
} tar_buf;

/* dkc_data_cb: collects up to limit bytes, stops the transfer past it. */
static int collect(void *ud, const char *data, size_t len)
{
    tar_buf *t = ud;
    if (t->buf.len + len > t->limit) {
        t->over = 1;
        return 1;
    }
    xbuf_add(&t->buf, data, len);
    return 0;
}

static hres h_archive_get(jctx *c)
{
    size_t limit = (size_t)c->rules->policy->max_archive;
    tar_buf t = {.limit = limit};
    json_t *stat = NULL;
    int rc = dkc_container_archive_get(c->cli, c->cmd->container, c->cmd->path, collect, &t, &stat);
    hres r = H_OK;
    if (t.over) {
        r = eng_fail(c, PROTO_ETOOLARGE,
                     "the archive of %.200s is larger than %zu bytes (policy max_archive)",
                     c->cmd->path, limit);
    } else if (rc != 0) {
        r = eng_dfail(c, rc);
    } else {
        char *text = xmalloc(BASE64_ENCODE_RAW_LENGTH(t.buf.len) + 1);
        base64_encode_raw(text, t.buf.len, (const uint8_t *)t.buf.data);
        text[BASE64_ENCODE_RAW_LENGTH(t.buf.len)] = '\0';
        c->result = json_object();
        if (c->result == NULL)
            xoom();
        eng_set(c->result, "Path", json_string(c->cmd->path));
        eng_set(c->result, "Stat", stat ? json_incref(stat) : json_null());
        eng_set(c->result, "Size", json_integer((json_int_t)t.buf.len));
        eng_set(c->result, "Archive", json_string(text));
        free(text);
    }
    json_decref(stat);
    free(t.buf.data);
    return r;
}

static hres h_archive_put(jctx *c)
{
    size_t limit = (size_t)c->rules->policy->max_archive;
    if (c->cmd->archive_len > limit) {
        snprintf(c->field, sizeof c->field, "Options.Archive");
        return eng_fail(c, PROTO_ETOOLARGE,
                        "Options.Archive: %zu bytes of tar, more than %zu (policy max_archive)",
                        c->cmd->archive_len, limit);
    }
    dkc_membuf_reader rd = {.data = (const char *)c->cmd->archive, .len = c->cmd->archive_len};
    int rc =
        dkc_container_archive_put(c->cli, c->cmd->container, c->cmd->path, dkc_membuf_read, &rd);
    if (rc != 0)
        return eng_dfail(c, rc);
    c->result = json_null();
    return H_OK;
}

const engine_cmd eng_cmd_archive_get = {
    .kind = PROTO_CMD_ARCHIVE_GET, .target = ENG_TARGET_CONTAINER, .handle = h_archive_get};
const engine_cmd eng_cmd_archive_put = {
    .kind = PROTO_CMD_ARCHIVE_PUT, .target = ENG_TARGET_CONTAINER, .handle = h_archive_put};
