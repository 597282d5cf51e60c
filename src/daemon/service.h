/*
 * service.h -- the daemon's side of systemd's service manager protocol
 * (sd_notify(3)): READY=1 once it consumes, STATUS= lines, STOPPING=1 at
 * shutdown, and the watchdog's WATCHDOG=1.
 *
 * Without $NOTIFY_SOCKET every function does nothing (sd_notify does not
 * send), so the daemon runs the same outside systemd.
 *
 * The watchdog is pinged from the main loop itself, never from a thread of
 * its own: a ping proves the loop is still turning.  It only bounds the
 * loop's sleep when systemd set $WATCHDOG_USEC (for this process), so
 * without a watchdog the loop wakes no more often than before.
 *
 * Thread contract: call from the main thread only.
 */
#ifndef DD_SERVICE_H
#define DD_SERVICE_H

/* Reads $WATCHDOG_USEC / $WATCHDOG_PID (sd_watchdog_enabled).  Call once,
 * before the other functions.  Cannot fail: a watchdog setting that cannot
 * be read is logged and ignored. */
void service_init(void);

/* READY=1 with a STATUS= line (printf format). */
void service_ready(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A STATUS= line (printf format), e.g. "broker reconnecting". */
void service_status(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* STOPPING=1 with a STATUS= line. */
void service_stopping(void);

/* RELOADING=1 (before a reload) and READY=1 again (after it). */
void service_reloading(void);
void service_reloaded(void);

/* Milliseconds until the next watchdog ping is due (0: now), or cap when
 * there is no watchdog or the ping is due later than that.  The main loop
 * bounds its sleep with it. */
int service_watchdog_due_ms(int cap);

/* Sends WATCHDOG=1 when the next ping is due (half the interval systemd
 * asked for after the last one).  Does nothing without a watchdog. */
void service_watchdog_tick(void);

#endif
