/*
 * watch.c -- `dispatchctl events`: watch <q>.events and print what the
 * filters let through (events.c), reconnecting when the broker goes.
 */
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "broker.h"
#include "client.h"
#include "ctl.h"
#include "text.h"

/* events: prints the events published on <q>.events that match the
 * pattern (default every one) and the filters as they come.  Stops after
 * COUNT events, or after --timeout seconds when it was given (exit 3 if
 * COUNT events did not come by then).  Returns the exit status. */
int ctl_watch(const ctl_opts *o, int argc, char **argv)
{
    ctl_ev_watch w;
    if (ctl_ev_args(argc, argv, &w) < 0)
        return EXIT_USAGE;
    broker *b = NULL;
    int status = ctl_open_broker(o, &b);
    if (b == NULL)
        return status;
    int rc = broker_watch(b, w.pattern);
    if (rc < 0) {
        fprintf(stderr, "dispatchctl: cannot watch %s.events: ", o->queue);
        text_put_terminal(stderr, broker_error(b)[0] ? broker_error(b) : broker_strerror(rc));
        fprintf(stderr, "%s\n",
                rc == BROKER_ENOTFOUND ? " (is docker-dispatch running on that queue?)" : "");
        broker_free(b);
        return EXIT_BROKER;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    long seen = 0;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    int64_t end_ms =
        (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + (int64_t)o->timeout_s * 1000;
    status = 0;
    while (w.count == 0 || seen < w.count) {
        clock_gettime(CLOCK_MONOTONIC, &ts);
        if (o->timeout_set && (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 >= end_ms) {
            status = w.count ? EXIT_NOREPLY : 0;
            break;
        }
        broker_delivery d = {0};
        rc = broker_poll(b, 200, &d);
        if (rc == 1 && d.source == BROKER_SRC_EVENT && ctl_ev_matches(&w.fs, d.body, d.len)) {
            if (o->json) {
                text_put_terminal(stdout, (const char *)d.body);
                fputc('\n', stdout);
            } else {
                ctl_print_event(stdout, &d);
            }
            seen++;
        } else if (rc == BROKER_ECONNLOST || rc == BROKER_ENOTCONN) {
            static const volatile sig_atomic_t no_stop;
            fprintf(stderr, "dispatchctl: connection lost; reconnecting (events meanwhile are "
                            "missed)\n");
            if (broker_reconnect(b, &no_stop) != 0) {
                status = EXIT_BROKER;
                broker_delivery_cleanup(&d);
                break;
            }
        }
        broker_delivery_cleanup(&d);
    }
    broker_free(b);
    return status;
}
