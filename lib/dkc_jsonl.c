/*
 * dkc_jsonl.c -- splits a stream of newline-delimited JSON values.
 *
 * The event stream, the image pull / import / load progress stream and the
 * stats stream all send one JSON object per line.  Events and stats end each
 * line with "\n"; progress messages end with "\r\n".  Bytes arrive in chunks
 * cut anywhere, so a value may span many chunks and one chunk may hold many
 * values.
 *
 * Rules, the same however the input is cut.
 *
 * A line ends at '\n'; one '\r' just before it is dropped.  A line holding
 * only JSON whitespace (space, tab, '\r') is skipped.
 *
 * Any other line must be exactly one JSON *object*.  Arrays, scalars, two
 * values on one line, invalid UTF-8 or a NUL byte are DKC_EPROTO.  Every
 * consumer of these streams reads fields out of an object.  So refusing
 * anything else here spares each of them the check, and a stream that
 * starts with something else is not a stream we understand.  The default
 * flags of jansson already refuse top-level scalars; arrays are refused
 * explicitly.  Duplicate keys are accepted and the last one wins, as with
 * Go's encoding/json.
 *
 * A line longer than DKC_MAX_LINE bytes (not counting "\r\n") is
 * DKC_ETOOBIG.  It is reported when the line ends, or earlier: as soon as
 * an unfinished line passes DKC_MAX_LINE + 1 bytes.  So nothing past that
 * is ever buffered.
 *
 * Errors are sticky: after feed or finish returns non-zero, every later
 * feed and finish returns the same code and delivers nothing, until
 * dkc__jsonl_cleanup() + dkc__jsonl_init().  After a malformed or oversized
 * line the position of the next value is unknown.  After a cancel the
 * caller asked for nothing more.  Continuing would hand out values from a
 * stream already known to be broken.
 *
 * Only a partial line is ever copied: complete lines inside a chunk are
 * parsed straight from the caller's memory.  The partial line lives in a
 * dkc__buf capped at DKC_MAX_LINE + 1 (room for the '\r' of a maximal line).
 */
#include <string.h>

#include "dkc_internal.h"

void dkc__jsonl_init(dkc__jsonl *j)
{
    if (j == NULL)
        return;
    dkc__buf_init(&j->line, DKC_MAX_LINE + 1);
    j->err = 0;
}

void dkc__jsonl_cleanup(dkc__jsonl *j)
{
    if (j == NULL)
        return;
    dkc__buf_cleanup(&j->line);
}

static bool is_blank(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r')
            return false;
    return true;
}

/* Decodes one complete line (without its '\n') and hands the object to cb
 * (NULL: decoded and dropped).  The object is released on return; cb may
 * keep it with json_incref().  Returns 0, DKC_ETOOBIG, DKC_EPROTO,
 * DKC_ENOMEM or DKC_ECANCELED. */
static int deliver(const char *p, size_t n, dkc__jsonl_cb cb, void *ud)
{
    if (n > 0 && p[n - 1] == '\r')
        n--;
    if (n > DKC_MAX_LINE)
        return DKC_ETOOBIG;
    if (is_blank(p, n))
        return 0;

    /* jansson 2.14 flags only some of its allocation failures as such,
     * reports others as syntax errors, and on some paths sets no error at
     * all (hence the zeroing): DKC_ENOMEM is best effort. */
    json_error_t jerr;
    memset(&jerr, 0, sizeof jerr);
    json_t *v = json_loadb(p, n, 0, &jerr);
    if (v == NULL)
        return json_error_code(&jerr) == json_error_out_of_memory ? DKC_ENOMEM : DKC_EPROTO;
    int rc = 0;
    if (!json_is_object(v))
        rc = DKC_EPROTO;
    else if (cb != NULL && cb(ud, v) != 0)
        rc = DKC_ECANCELED;
    json_decref(v);
    return rc;
}

static int stick(dkc__jsonl *j, int err)
{
    j->err = err;
    return err;
}

/* Consumes len bytes, delivering every value whose line ends inside them
 * (see the rules at the top).  data is only read during the call.  Returns
 * 0, DKC_EINVAL (bad arguments, state untouched), or a sticky DKC_EPROTO,
 * DKC_ETOOBIG, DKC_ENOMEM, DKC_ECANCELED (cb returned non-zero; values
 * after that one are not delivered). */
int dkc__jsonl_feed(dkc__jsonl *j, const char *data, size_t len, dkc__jsonl_cb cb, void *ud)
{
    if (j == NULL || (data == NULL && len > 0))
        return DKC_EINVAL;
    if (j->err != 0)
        return j->err;

    size_t pos = 0;
    while (pos < len) {
        const char *start = data + pos;
        const char *nl = memchr(start, '\n', len - pos);
        if (nl == NULL) {
            int rc = dkc__buf_append(&j->line, start, len - pos);
            return rc != 0 ? stick(j, rc) : 0;
        }
        size_t n = (size_t)(nl - start);
        pos += n + 1;
        int rc;
        if (j->line.len == 0) {
            rc = deliver(start, n, cb, ud);
        } else {
            rc = dkc__buf_append(&j->line, start, n);
            if (rc == 0)
                rc = deliver(j->line.data, j->line.len, cb, ud);
            dkc__buf_reset(&j->line);
        }
        if (rc != 0)
            return stick(j, rc);
    }
    return 0;
}

/* End of stream: delivers a last value that had no newline after it and
 * empties the splitter (which may then be fed a new stream).  Returns 0 or
 * the same errors as dkc__jsonl_feed(). */
int dkc__jsonl_finish(dkc__jsonl *j, dkc__jsonl_cb cb, void *ud)
{
    if (j == NULL)
        return DKC_EINVAL;
    if (j->err != 0)
        return j->err;
    if (j->line.len == 0)
        return 0;
    int rc = deliver(j->line.data, j->line.len, cb, ud);
    dkc__buf_reset(&j->line);
    return rc != 0 ? stick(j, rc) : 0;
}
