/*
 * progress.c -- progress messages (docs/protocol.md, "Progress messages"):
 * a pull's layers as bars redrawn in place on a terminal, or plain lines
 * when piped; a bulk run's pieces one line each.  No I/O beyond the
 * stream written to.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "ctl.h"
#include "text.h"

/* One line of a pull's progress, the way `docker pull` draws it:
 * "<id>: <status> [=====>     ]  1.2MB/3.4MB" in at most width - 1
 * columns.  The bar shrinks, and goes when it would be under 10 columns;
 * without a total there is no bar.  Pure. */
void ctl_progress_line(char *buf, size_t len, const char *id, const char *status, int64_t current,
                       int64_t total, int width)
{
    char head[256], tail[64] = "";
    snprintf(head, sizeof head, "%s%s%s", id && *id ? id : "", id && *id ? ": " : "",
             status ? status : "");
    if (total > 0 && current >= 0) {
        char a[32], b[32];
        ctl_human_size(current, a, sizeof a);
        ctl_human_size(total, b, sizeof b);
        snprintf(tail, sizeof tail, "%s/%s", a, b);
    }
    int room = width - 1 - (int)strlen(head) - 1 - 2 - 2 - (int)strlen(tail);
    int bar = room > 50 ? 50 : room;
    if (tail[0] == '\0' || bar < 10) {
        snprintf(buf, len, "%s%s%s", head, tail[0] ? " " : "", tail);
        if (width > 1 && strlen(buf) >= (size_t)width)
            buf[width - 1] = '\0';
        return;
    }
    char b[64];
    int done = current >= total ? bar : (int)((double)current * bar / (double)total);
    for (int i = 0; i < bar; i++)
        b[i] = i < done ? '=' : i == done ? '>' : ' ';
    b[bar] = '\0';
    snprintf(buf, len, "%s [%s]  %s", head, b, tail);
}

/* Renders one progress message (p: its "progress" object) on out.
 * tty: redraw each layer's line in place with a bar (width columns);
 * else one plain line each time a layer's status changes.  A bulk
 * piece is one line either way.  No other I/O. */
void ctl_progress_show(FILE *out, ctl_pull_view *v, const json_t *p, bool tty, int width)
{
    char line[512];
    if (json_object_get(p, "piece")) {
        const json_t *id = json_object_get(p, "id");
        const char *err = json_string_value(json_object_get(p, "error"));
        const char *node = json_string_value(json_object_get(p, "node"));
        char sid[16];
        ctl_short_id(json_string_value(id), sid, sizeof sid);
        snprintf(line, sizeof line,
                 "[%" JSON_INTEGER_FORMAT "/%" JSON_INTEGER_FORMAT "] piece %" JSON_INTEGER_FORMAT
                 " on %s: %s%s",
                 json_integer_value(json_object_get(p, "done")),
                 json_integer_value(json_object_get(p, "of")),
                 json_integer_value(json_object_get(p, "piece")), node ? node : "?",
                 json_is_true(json_object_get(p, "ok")) ? "ok " : "failed: ",
                 json_is_true(json_object_get(p, "ok")) ? sid
                 : err                                  ? err
                                                        : "error");
        text_put_terminal(out, line);
        fputc('\n', out);
        return;
    }
    const char *id = json_string_value(json_object_get(p, "id"));
    const char *status = json_string_value(json_object_get(p, "status"));
    if (id == NULL)
        id = "";
    if (status == NULL)
        status = "";
    size_t i = 0;
    while (i < v->n && strcmp(v->l[i].id, id) != 0)
        i++;
    bool is_new = i == v->n;
    if (is_new && v->n == CTL_VIEW_LAYERS)
        return; /* more layers than lines kept: the rest is not drawn */
    if (!tty && !is_new && strcmp(v->l[i].status, status) == 0)
        return; /* piped: only changes of status */
    if (is_new) {
        snprintf(v->l[i].id, sizeof v->l[i].id, "%s", id);
        v->n++;
    }
    snprintf(v->l[i].status, sizeof v->l[i].status, "%s", status);
    ctl_progress_line(line, sizeof line, id, status,
                      tty ? json_integer_value(json_object_get(p, "current")) : 0,
                      tty ? json_integer_value(json_object_get(p, "total")) : 0, width);
    if (tty && !is_new)
        fprintf(out, "\033[%zuA\r\033[2K", v->n - i); /* up to its line */
    text_put_terminal(out, line);
    fputc('\n', out);
    if (tty && !is_new && v->n - i > 1)
        fprintf(out, "\033[%zuB", v->n - i - 1); /* back below the last */
    fflush(out);
}
