/*
 * dkc_demux.c -- splits Docker's multiplexed attach/logs/exec stream.
 *
 * A container without a TTY sends its output as frames.
 *
 *     byte 0     stream: 0 stdin, 1 stdout, 2 stderr.
 *     bytes 1-3  zero.
 *     bytes 4-7  payload length, unsigned 32-bit big-endian.
 *     Then       the payload.
 *
 * The demuxer is a small state machine over the bytes it is fed.  It never
 * copies or buffers payload.  Each piece of payload present in a fed chunk
 * is handed to the callback straight from the caller's memory.  So output
 * flows as soon as it arrives, and the module allocates nothing.  Only the
 * 8-byte header is collected across chunks, in d->hdr.
 *
 * States (fields of dkc_demux).
 *   `hdr_len < 8`: collecting a header (0: at a boundary).
 *   `hdr_len == 8, remaining > 0`: inside the payload of a frame.
 *   `hdr_len == 8, remaining == 0`: failed; stream holds the error code.
 * The last state cannot occur otherwise, because a header announcing an
 * empty frame returns the machine straight to a boundary.
 *
 * Header bytes are checked as they arrive, so a stream that is not
 * multiplexed at all (a TTY container's raw output) is refused at its first
 * byte rather than after eight.
 */
#include <string.h>

#include "dkc_internal.h"

#define HDR_SIZE 8

void dkc_demux_init(dkc_demux *d)
{
    if (d == NULL)
        return;
    memset(d, 0, sizeof *d);
}

/* Puts d into the failed state and returns err.  Further feeds return err
 * again instead of misreading the bytes that follow an error. */
static int fail(dkc_demux *d, int err)
{
    d->hdr_len = HDR_SIZE;
    d->remaining = 0;
    d->stream = err;
    return err;
}

static bool failed(const dkc_demux *d)
{
    return d->hdr_len == HDR_SIZE && d->remaining == 0;
}

/* Checks header byte i (just stored in d->hdr) and, once the header is
 * complete, starts the frame it announces.  Returns 0 or a dkc_err. */
static int header_byte(dkc_demux *d, size_t i)
{
    unsigned char c = d->hdr[i];
    if (i == 0 && c > 2)
        return DKC_EPROTO;
    if (i >= 1 && i <= 3 && c != 0)
        return DKC_EPROTO;
    if (i < HDR_SIZE - 1)
        return 0;

    uint32_t size = (uint32_t)d->hdr[4] << 24 | (uint32_t)d->hdr[5] << 16 |
                    (uint32_t)d->hdr[6] << 8 | (uint32_t)d->hdr[7];
    if (size > DKC_MAX_FRAME)
        return DKC_ETOOBIG;
    d->stream = d->hdr[0];
    d->remaining = size;
    if (size == 0)
        d->hdr_len = 0; /* an empty frame is legal and carries nothing */
    return 0;
}

/* Consumes len bytes of the stream, calling cb (which may be NULL to
 * discard output) with every piece of payload in order; a piece never spans
 * two frames and is never empty.  data is only read during the call.
 * Returns 0 with every byte consumed, or DKC_EPROTO / DKC_ETOOBIG for a bad
 * header, DKC_ECANCELED when cb returned non-zero (after the piece it was
 * given), DKC_EINVAL for bad arguments (state untouched).  After any other
 * error d stays failed and keeps returning that error until
 * dkc_demux_init(). */
int dkc_demux_feed(dkc_demux *d, const char *data, size_t len, dkc_output_cb cb, void *ud)
{
    if (d == NULL || (data == NULL && len > 0))
        return DKC_EINVAL;
    if (failed(d))
        return d->stream;

    size_t pos = 0;
    while (pos < len) {
        if (d->hdr_len < HDR_SIZE) {
            size_t i = d->hdr_len++;
            d->hdr[i] = (unsigned char)data[pos++];
            int rc = header_byte(d, i);
            if (rc != 0)
                return fail(d, rc);
            continue;
        }
        size_t n = len - pos;
        if (n > d->remaining)
            n = d->remaining;
        d->remaining -= n;
        if (d->remaining == 0)
            d->hdr_len = 0;
        const char *piece = data + pos;
        pos += n;
        if (cb != NULL && cb(ud, d->stream, piece, n) != 0)
            return fail(d, DKC_ECANCELED);
    }
    return 0;
}

bool dkc_demux_at_boundary(const dkc_demux *d)
{
    return d != NULL && d->hdr_len == 0 && d->remaining == 0;
}
