/*
 * service.c -- sd_notify for the daemon.  See service.h.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <systemd/sd-daemon.h>

#include "log.h"
#include "service.h"

static uint64_t wd_usec;   /* the watchdog interval systemd asked for; 0: none */
static int64_t wd_next_ms; /* monotonic ms when the next ping is due */

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Half the interval in ms, at least 1. */
static int64_t half_interval_ms(void)
{
    int64_t ms = (int64_t)(wd_usec / 2000);
    return ms > 0 ? ms : 1;
}

void service_init(void)
{
    uint64_t usec = 0;
    int rc = sd_watchdog_enabled(0, &usec);
    if (rc < 0) {
        log_msg(LOG_LVL_WARN, "systemd watchdog setting unusable: %s; no watchdog", strerror(-rc));
        return;
    }
    if (rc == 0)
        return;
    wd_usec = usec;
    wd_next_ms = now_ms(); /* the first turn of the loop pings */
    log_msg(LOG_LVL_INFO, "systemd watchdog every %llu ms: pinging every %lld ms",
            (unsigned long long)(usec / 1000), (long long)half_interval_ms());
}

/* Sends "<head>STATUS=<fmt...>" (head may be ""). */
static void notify_status(const char *head, const char *fmt, va_list ap)
{
    char status[512];
    vsnprintf(status, sizeof status, fmt, ap);
    /* one line: a newline would start another assignment */
    for (char *p = status; *p; p++)
        if (*p == '\n')
            *p = ' ';
    sd_notifyf(0, "%sSTATUS=%s", head, status);
}

void service_ready(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    notify_status("READY=1\n", fmt, ap);
    va_end(ap);
}

void service_status(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    notify_status("", fmt, ap);
    va_end(ap);
}

void service_stopping(void)
{
    sd_notify(0, "STOPPING=1\nSTATUS=stopping: finishing what is in flight");
}

void service_reloading(void)
{
    sd_notify(0, "RELOADING=1\nSTATUS=reloading");
}

void service_reloaded(void)
{
    sd_notify(0, "READY=1");
}

int service_watchdog_due_ms(int cap)
{
    if (wd_usec == 0)
        return cap;
    int64_t left = wd_next_ms - now_ms();
    if (left <= 0)
        return 0;
    return left < cap ? (int)left : cap;
}

void service_watchdog_tick(void)
{
    if (wd_usec == 0)
        return;
    int64_t now = now_ms();
    if (now < wd_next_ms)
        return;
    sd_notify(0, "WATCHDOG=1");
    wd_next_ms = now + half_interval_ms();
}
