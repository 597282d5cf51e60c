/*
 * test_invariants.c -- the product's promise, checked under faults: every
 * request gets a final reply (exactly one when no fault hit it), and no
 * request id makes more than one container.
 *
 * A randomized but seeded stream of requests (runs of many shapes, bad
 * messages, follow-up stop/remove requests, publisher retries) flows
 * through the dispatcher under test ($DISPATCH_BIN) while it is killed
 * with SIGKILL and restarted, while its Docker daemon stops and starts and
 * while its RabbitMQ node restarts.  A neighbour dispatcher (same binary,
 * same Docker daemon, same default node name, another queue) runs beside
 * it the whole time and takes a share of the stream.  At the end the suite
 * judges from the replies it received, from Docker's own event history
 * (followed live: dockerd keeps only its last 256 events), from the dead
 * letter queue, from the dispatchers' logs and from /proc.
 *
 * Environment: INVARIANT_SEED (default: from the clock; printed, so that a
 * failure can be replayed), INVARIANT_REQUESTS (default 200),
 * INVARIANT_CONCURRENCY (requests without a final reply at a time, default
 * 12), INVARIANT_KILLS, INVARIANT_DOCKER_RESTARTS,
 * INVARIANT_RABBIT_RESTARTS (defaults: max(3, F / 50) with F the requests
 * of the fault phase, 1 and 1).  $DISPATCH_BIN and $DD_SCRIPTS as for
 * test_faults.c.  INVARIANT_DUMP=FILE writes every request with its
 * replies and Docker events as JSON lines.  Both services are private ones
 * (scripts/private-dockerd.sh, scripts/private-rabbitmq.sh) named
 * inv<pid>, stopped by name at the end, of the lane's kind: on the Podman
 * lane a Podman service (scripts/private-podman.sh), the Docker engine
 * $DD_DOCKER_ENGINE names, RabbitMQ from $DD_RABBITMQ_ROOT.  A lane that
 * names other services than the shared ones and none of those (lane.h:
 * $DOCKER_HOST, $DD_AMQP_URL) has the stream run on its own services,
 * which are not restarted (no such fault is planned).  The dispatchers
 * are stopped by
 * pid, their containers removed by id.  Logs stay in
 * /tmp/dd-inv-<pid>-*.log.  scripts/soak.sh runs the suite with a long
 * stream.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "broker.h"
#include "daemon_fx.h"
#include "dkc.h"

extern char **environ;

#define IMAGE         "busybox:latest"
#define MISSING_IMAGE "inv-missing-image:latest"
#define QUIET_MAX     50          /* requests of the quiet final phase */
#define WAIT_MS       90000       /* longest run (30 s) + 60 s without progress */
#define RSS_SLACK_KB  (32 * 1024) /* allowed RSS growth over the quiet phase */
#define ARRIVAL_SLACK 500         /* ms a reply may wait in its queue before we see it */
#define MAX_FAULTS    256
#define MAX_SHOWN     5 /* examples printed per broken invariant */

/* What a request is. */
typedef enum kind {
    K_RUN_RM,      /* Attach + Remove of sleep X; echo token */
    K_RUN_KEEP,    /* Attach, no Remove: removed later by a K_REMOVE */
    K_RUN_DETACH,  /* sleep 30, no Attach/Remove: stopped and removed later */
    K_RUN_TIMEOUT, /* sleep 20 with Timeout 1 */
    K_RUN_MISSING, /* an image that does not exist */
    K_BAD_JSON,    /* not JSON */
    K_BAD_CMD,     /* unknown Dockercmd */
    K_BAD_TYPE,    /* Image of the wrong type */
    K_RUN_COPIED,  /* a K_RUN_RM published twice with the same message_id */
    K_NEIGH,       /* a K_RUN_RM sent to the neighbour's queue */
    K_STOP,        /* follow-up: stop a detached run's container */
    K_REMOVE,      /* follow-up: remove a kept or stopped container */
    K_NKINDS
} kind;

static const char *const kind_names[K_NKINDS] = {
    "run-remove",        "run-keep",  "run-detached", "run-timeout",
    "run-missing-image", "bad-json",  "bad-command",  "bad-type",
    "run-copied",        "neighbour", "stop",         "remove"};

/* Weights of the generated kinds, in percent (follow-ups are not drawn). */
static const int kind_weights[K_NKINDS] = {53, 10, 7, 5, 5, 2, 3, 2, 3, 10, 0, 0};

typedef enum fault_kind { F_KILL, F_DOCKER, F_RABBIT } fault_kind;

static const char *const fault_names[] = {"SIGKILL", "docker restart", "rabbit restart"};

/* One planned fault: fires once `pos` requests are out and `delay` ms
 * have passed since; start/end are the moments it took (monotonic ms). */
typedef struct fault {
    fault_kind kind;
    int pos;
    int delay;
    int64_t armed, start, end;
    int done;
} fault;

/* One request and everything seen of it. */
typedef struct req {
    char id[64];
    kind kind;
    int sleep_ds;   /* runs: tenths of a second of sleep */
    int parent;     /* stop/remove: the run it acts on; -1 */
    int stop, rm;   /* runs: their follow-ups; -1 */
    char body[512]; /* what is published */
    int64_t due;    /* follow-ups: publish at (monotonic ms) */
    int64_t sent;   /* monotonic ms of the (first) publish; 0 not yet */
    int64_t sent_ns;
    int copy_state; /* K_RUN_COPIED: 0 waiting, 1 copy out, 2 answered before it could go */
    int64_t copy_at;
    int retries; /* publishes repeated after a lost connection */
    int n_final, n_dup, n_wrongq, n_tolerated, n_untolerated;
    int64_t first_at;   /* arrival of the first final reply */
    json_t *first;      /* the first final reply */
    json_t *bad_double; /* the first later reply that was not tolerated */
    int64_t bad_at;     /* its arrival */
    char cid[80];       /* container id from the first reply */
    int left;           /* its container was still on Docker at the end */
} req;

/* What Docker's event history says about the containers of one request. */
typedef struct evsum {
    int creates, starts, dies, destroys;
    int64_t first_die_ns, first_destroy_ns;
    char cid[80];  /* the first container created */
    char cid2[80]; /* a second one, for the failure message */
} evsum;

static struct {
    /* settings */
    uint64_t seed;
    int n_requests, quiet, fault_phase, concurrency;
    char svc[24]; /* private dockerd and RabbitMQ node name */
    int port;
    int lane_docker, lane_rabbit; /* the lane's own service, not a private one */
    const char *docker_script;    /* private-dockerd.sh, or private-podman.sh */
    char docker_host[160], amqp_url[256];
    char queue[64], nqueue[64], rq[80], nrq[80], prefix[40];
    char main_log[96], nb_log[96];
    char **child_env;
    /* requests */
    req *r;
    int nr, cap, inflight;
    /* handles */
    broker *cli;
    dkc_client *dkc;
    pid_t main_pid, nb_pid;
    int main_starts;
    /* faults */
    fault plan[MAX_FAULTS];
    int nplan, next_fault;
    int active;          /* index of the async fault in progress, -1 */
    pid_t fault_child;   /* its script */
    int64_t last_active; /* last publish, reply or fault end */
    /* outcomes */
    int stream_done;  /* the stream ran: the invariants can be judged */
    int stream_stuck; /* a phase ended at WAIT_MS without all replies */
    int64_t t_begin, t_quiet, t_end;
    long rss_before, rss_after, nb_rss; /* kB */
    pid_t rss_pid_before, rss_pid_after;
    int main_exit, nb_exit;
    uint32_t work_ready, work_consumers, nb_ready, nb_consumers;
    int dead_bad_found, dead_other, *dead_hits;
    int leftovers, strays, unparsable, publish_failures;
    int log_main_for_nb, log_nb_for_main;
    int copies_sent, copies_missed;
    int main_crashes, nb_crashes; /* exits the suite did not cause */
    int64_t last_alive_check;
} g;

/* The Docker event follower (a thread of its own with its own client). */
static struct {
    pthread_mutex_t mu;
    pthread_t th;
    int started;
    _Atomic int stop;
    dkc_client *cli;
    json_t *seen; /* "time_nano/id/action" of events already counted */
    evsum *sum;   /* per request index, g.cap of them */
    int64_t last_ns, t0_s;
    int breaks, total;
} g_ev = {.mu = PTHREAD_MUTEX_INITIALIZER};

/* ---- small helpers ---- */

/* Wall clock nanoseconds (Docker's event time base). */
static int64_t wall_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Seconds since the stream began, for printing moments. */
static double rel_s(int64_t t)
{
    return t > 0 ? (double)(t - g.t_begin) / 1000.0 : -1.0;
}

/* splitmix64 step of *state: the suite's only source of randomness. */
static uint64_t mix_next(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* A number in [lo, hi] drawn from *state. */
static int rnd_range(uint64_t *state, int lo, int hi)
{
    return lo + (int)(mix_next(state) % (uint64_t)(hi - lo + 1));
}

/* A number in [lo, hi] fixed by the seed, request index and salt (the same
 * for a replayed seed, whatever order replies arrive in). */
static int rnd_for(int idx, int salt, int lo, int hi)
{
    uint64_t s = g.seed ^ ((uint64_t)idx * 0x100000001b3ULL) ^ ((uint64_t)salt << 48);
    return rnd_range(&s, lo, hi);
}

/* Integer from environment variable name, def when unset or not a number. */
static long env_long(const char *name, long def)
{
    const char *v = getenv(name);
    if (v == NULL || *v == '\0')
        return def;
    char *end = NULL;
    long x = strtol(v, &end, 10);
    return (end && *end == '\0') ? x : def;
}

/* The request index of request id rid of this run, -1 when it is not one. */
static int req_index(const char *rid)
{
    size_t n = strlen(g.prefix);
    if (rid == NULL || strncmp(rid, g.prefix, n) != 0)
        return -1;
    char *end = NULL;
    long i = strtol(rid + n, &end, 10);
    if (end == rid + n || *end != '\0' || i < 0 || i >= g.cap)
        return -1;
    return (int)i;
}

/* 1 for the kinds that are runs (make a container when all goes well). */
static int is_run(kind k)
{
    return k == K_RUN_RM || k == K_RUN_KEEP || k == K_RUN_DETACH || k == K_RUN_TIMEOUT ||
           k == K_RUN_MISSING || k == K_RUN_COPIED || k == K_NEIGH;
}

/* 1 for the bad messages (error reply and <q>.dead expected). */
static int is_bad(kind k)
{
    return k == K_BAD_JSON || k == K_BAD_CMD || k == K_BAD_TYPE;
}

/* Fails the current test with a message ending in the seed. */
#define INV_FAIL(fmt, ...)                                                                         \
    do {                                                                                           \
        dfx_note("FAILED: " fmt " [seed %llu]", __VA_ARGS__, (unsigned long long)g.seed);          \
        fail_msg(fmt " [seed %llu: replay with INVARIANT_SEED=%llu INVARIANT_REQUESTS=%d]",        \
                 __VA_ARGS__, (unsigned long long)g.seed, (unsigned long long)g.seed,              \
                 g.n_requests);                                                                    \
    } while (0)

/* ---- services, processes ---- */

/* Starts /bin/sh -c line in the background; its pid or -1. */
static pid_t spawn_shell(const char *line)
{
    char sh[] = "/bin/sh", dashc[] = "-c";
    char *l = strdup(line);
    if (l == NULL)
        return -1;
    char *argv[] = {sh, dashc, l, NULL};
    pid_t pid;
    int rc = posix_spawn(&pid, sh, NULL, NULL, argv, environ);
    free(l);
    return rc == 0 ? pid : -1;
}

/* Replaces the client handle with a new connection, trying for up to
 * timeout_ms; 0 or -1. */
static int client_reopen(int timeout_ms)
{
    broker_free(g.cli);
    g.cli = NULL;
    int64_t end = dfx_now_ms() + timeout_ms;
    while (g.cli == NULL && dfx_now_ms() < end) {
        g.cli = dfx_client_open(g.amqp_url, g.queue, 3000);
        if (g.cli == NULL)
            usleep(500 * 1000);
    }
    return g.cli ? 0 : -1;
}

/* Builds the children's environment: ours, with ASAN_OPTIONS extended by a
 * small quarantine so that ASan's freed-memory pool does not dominate the
 * daemon's RSS (ignored by a build without ASan; detect_leaks and the rest
 * stay as the environment has them). */
static void build_child_env(void)
{
    size_t n = 0;
    while (environ[n])
        n++;
    g.child_env = calloc(n + 2, sizeof *g.child_env);
    assert_non_null(g.child_env);
    size_t k = 0;
    const char *old = getenv("ASAN_OPTIONS");
    for (size_t i = 0; i < n; i++)
        if (strncmp(environ[i], "ASAN_OPTIONS=", 13) != 0)
            g.child_env[k++] = environ[i];
    char *asan = malloc(1024);
    assert_non_null(asan);
    snprintf(asan, 1024, "ASAN_OPTIONS=%s%squarantine_size_mb=1", old ? old : "",
             old && *old ? ":" : "");
    g.child_env[k++] = asan;
    g.child_env[k] = NULL;
}

/* Appends a line to log (the suite's own notes between instances). */
static void log_note(const char *log, const char *text)
{
    FILE *f = fopen(log, "a");
    if (f) {
        fprintf(f, "==== invariants: %s\n", text);
        fclose(f);
    }
}

/* Starts a dispatcher on queue q with that many workers, its output
 * appended to log; its pid or -1. */
static pid_t spawn_dispatcher(const char *q, const char *workers, const char *log)
{
    const char *args[] = {"-q",          q,          "--workers", workers, "--delivery-limit", "50",
                          g.docker_host, g.amqp_url, NULL};
    return dfx_spawn(args, log, g.child_env);
}

/* SIGTERM to *pid, SIGKILL after 70 s; reaps it.  Its exit status (128 +
 * signal when killed), -1 when there was none. */
static int dispatcher_stop(pid_t *pid)
{
    int st = dfx_stop(pid, SIGTERM, 70000);
    if (st == -1)
        return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* The resident set of pid in kB (VmRSS), -1 when unknown. */
static long rss_kb(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%ld/status", (long)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    long kb = -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0)
            kb = strtol(line + 6, NULL, 10);
    fclose(f);
    return kb;
}

/* ---- Docker's event history, followed live ---- */

/* Event callback: counts each container event of a request of this run
 * once (a resumed stream replays from a whole second back). */
static int ev_cb(void *ud, const dkc_event *ev)
{
    (void)ud;
    const char *rid = json_string_value(json_object_get(ev->attributes, DFX_REQUEST_LABEL));
    int idx = req_index(rid);
    pthread_mutex_lock(&g_ev.mu);
    if (ev->time_nano > g_ev.last_ns)
        g_ev.last_ns = ev->time_nano;
    char key[200];
    snprintf(key, sizeof key, "%lld/%.80s/%.20s", (long long)ev->time_nano, ev->id, ev->action);
    if (idx >= 0 && json_object_get(g_ev.seen, key) == NULL) {
        json_object_set_new(g_ev.seen, key, json_true());
        evsum *s = &g_ev.sum[idx];
        g_ev.total++;
        if (!strcmp(ev->action, "create")) {
            if (s->creates == 0)
                snprintf(s->cid, sizeof s->cid, "%s", ev->id);
            else if (s->creates == 1)
                snprintf(s->cid2, sizeof s->cid2, "%s", ev->id);
            s->creates++;
        } else if (!strcmp(ev->action, "start")) {
            s->starts++;
        } else if (!strcmp(ev->action, "die")) {
            if (s->dies++ == 0)
                s->first_die_ns = ev->time_nano;
        } else if (!strcmp(ev->action, "destroy")) {
            if (s->destroys++ == 0)
                s->first_destroy_ns = ev->time_nano;
        }
    }
    pthread_mutex_unlock(&g_ev.mu);
    return 0;
}

/* The follower: streams the private dockerd's container events from the
 * suite's start on; when the stream breaks (dockerd restarting) it resumes
 * from the second of the last event seen. */
static void *ev_main(void *arg)
{
    (void)arg;
    json_t *flt = json_pack("{s:[s], s:[s,s,s,s]}", "type", "container", "event", "create", "start",
                            "die", "destroy");
    while (!g_ev.stop) {
        pthread_mutex_lock(&g_ev.mu);
        int64_t since = g_ev.last_ns > 0 ? g_ev.last_ns / 1000000000LL : g_ev.t0_s;
        pthread_mutex_unlock(&g_ev.mu);
        dkc_events_opts o = {.since = since, .filters = flt};
        dkc_events(g_ev.cli, &o, ev_cb, NULL);
        if (g_ev.stop)
            break;
        pthread_mutex_lock(&g_ev.mu);
        g_ev.breaks++;
        pthread_mutex_unlock(&g_ev.mu);
        usleep(100 * 1000);
    }
    json_decref(flt);
    return NULL;
}

/* Starts the follower with a Docker client of its own. */
static void ev_start(void)
{
    g_ev.sum = calloc((size_t)g.cap, sizeof *g_ev.sum);
    g_ev.seen = json_object();
    g_ev.cli = dfx_docker_client(g.docker_host);
    assert_non_null(g_ev.sum);
    assert_non_null(g_ev.seen);
    assert_non_null(g_ev.cli);
    g_ev.t0_s = (int64_t)time(NULL) - 1;
    g_ev.stop = 0;
    assert_int_equal(pthread_create(&g_ev.th, NULL, ev_main, NULL), 0);
    g_ev.started = 1;
}

/* Stops the follower (the events it has counted stay). */
static void ev_stop(void)
{
    if (!g_ev.started)
        return;
    g_ev.stop = 1;
    dkc_client_cancel(g_ev.cli);
    pthread_join(g_ev.th, NULL);
    g_ev.started = 0;
    dkc_client_free(g_ev.cli);
    g_ev.cli = NULL;
}

/* A copy of the event summary of request idx. */
static evsum ev_get(int idx)
{
    pthread_mutex_lock(&g_ev.mu);
    evsum s = g_ev.sum[idx];
    pthread_mutex_unlock(&g_ev.mu);
    return s;
}

/* ---- the request stream ---- */

/* Writes the body of r (index idx; parent's container for follow-ups). */
static void make_body(req *r, int idx)
{
    char token[64];
    snprintf(token, sizeof token, "tok-%llx-%d", (unsigned long long)(g.seed & 0xffffff), idx);
    const char *att = "\"Attach\":[\"STDOUT\",\"STDERR\"],";
    switch (r->kind) {
    case K_RUN_RM:
    case K_RUN_COPIED:
    case K_NEIGH:
    case K_RUN_KEEP:
    case K_RUN_MISSING:
        snprintf(r->body, sizeof r->body,
                 "{\"Dockercmd\":\"run\",\"Image\":\"%s\",\"Cmd\":[\"sh\",\"-c\",\"sleep "
                 "%d.%d; echo %s\"],\"Options\":{%s%s\"NetworkMode\":\"none\"}}",
                 r->kind == K_RUN_MISSING ? MISSING_IMAGE : IMAGE, r->sleep_ds / 10,
                 r->sleep_ds % 10, token, att, r->kind == K_RUN_KEEP ? "" : "\"Remove\":true,");
        break;
    case K_RUN_DETACH:
        snprintf(r->body, sizeof r->body,
                 "{\"Dockercmd\":\"run\",\"Image\":\"%s\",\"Cmd\":[\"sleep\",\"30\"],"
                 "\"Options\":{\"NetworkMode\":\"none\"}}",
                 IMAGE);
        break;
    case K_RUN_TIMEOUT:
        snprintf(r->body, sizeof r->body,
                 "{\"Dockercmd\":\"run\",\"Image\":\"%s\",\"Cmd\":[\"sleep\",\"20\"],"
                 "\"Options\":{%s\"Remove\":true,\"Timeout\":1,\"NetworkMode\":\"none\"}}",
                 IMAGE, att);
        break;
    case K_BAD_JSON:
        snprintf(r->body, sizeof r->body, "{\"Dockercmd\": \"run\", this is not JSON %d", idx);
        break;
    case K_BAD_CMD:
        snprintf(r->body, sizeof r->body, "{\"Dockercmd\":\"frobnicate\",\"Image\":\"%s\"}", IMAGE);
        break;
    case K_BAD_TYPE:
        snprintf(r->body, sizeof r->body, "{\"Dockercmd\":\"run\",\"Image\":42}");
        break;
    case K_STOP:
        snprintf(r->body, sizeof r->body,
                 "{\"Dockercmd\":\"stop\",\"Container\":\"%s\",\"Options\":{\"Time\":1}}",
                 g.r[r->parent].cid);
        break;
    case K_REMOVE:
        snprintf(r->body, sizeof r->body, "{\"Dockercmd\":\"remove\",\"Container\":\"%s\"}",
                 g.r[r->parent].cid);
        break;
    case K_NKINDS:
        break;
    }
}

/* Sets request idx to kind k with its drawn parameters. */
static void set_kind(int idx, kind k, uint64_t *rs)
{
    req *r = &g.r[idx];
    r->kind = k;
    r->sleep_ds = k == K_RUN_RM                     ? rnd_range(rs, 0, 30)
                  : k == K_RUN_COPIED               ? rnd_range(rs, 25, 35)
                  : k == K_NEIGH || k == K_RUN_KEEP ? rnd_range(rs, 0, 10)
                                                    : 0;
    make_body(r, idx);
}

/* Generates the seeded stream of g.n_requests requests; every generated
 * kind appears at least once in the fault phase. */
static void make_stream(void)
{
    uint64_t rs = g.seed;
    for (int i = 0; i < g.cap; i++) {
        snprintf(g.r[i].id, sizeof g.r[i].id, "%s%d", g.prefix, i);
        g.r[i].parent = g.r[i].stop = g.r[i].rm = -1;
    }
    int count[K_NKINDS] = {0};
    for (int i = 0; i < g.n_requests; i++) {
        int x = rnd_range(&rs, 0, 99), k = 0;
        while (x >= kind_weights[k])
            x -= kind_weights[k++];
        set_kind(i, (kind)k, &rs);
        if (i < g.fault_phase)
            count[k]++;
    }
    for (int k = 0; k < K_NKINDS; k++) {
        if (kind_weights[k] == 0 || count[k] > 0)
            continue;
        for (int tries = 0; tries < 1000; tries++) {
            int i = rnd_range(&rs, 0, g.fault_phase - 1);
            if (g.r[i].kind == K_RUN_RM && count[K_RUN_RM] > 1) {
                count[K_RUN_RM]--;
                count[k]++;
                set_kind(i, (kind)k, &rs);
                break;
            }
        }
    }
    g.nr = g.n_requests;
}

/* Plans the faults of the fault phase at seeded positions, in order. */
static void make_plan(void)
{
    uint64_t rs = g.seed ^ 0x5eedfa17ULL;
    int f = g.fault_phase;
    int kills = (int)env_long("INVARIANT_KILLS", f / 50 > 3 ? f / 50 : 3);
    int dockers = g.lane_docker ? 0 : (int)env_long("INVARIANT_DOCKER_RESTARTS", 1);
    int rabbits = g.lane_rabbit ? 0 : (int)env_long("INVARIANT_RABBIT_RESTARTS", 1);
    g.nplan = 0;
    for (int i = 0; i < kills && g.nplan < MAX_FAULTS; i++)
        g.plan[g.nplan++] = (fault){F_KILL, rnd_range(&rs, f / 20, f * 9 / 10), 0, 0, 0, 0, 0};
    for (int i = 0; i < dockers && g.nplan < MAX_FAULTS; i++)
        g.plan[g.nplan++] = (fault){F_DOCKER, rnd_range(&rs, f / 5, f * 3 / 5), 0, 0, 0, 0, 0};
    for (int i = 0; i < rabbits && g.nplan < MAX_FAULTS; i++)
        g.plan[g.nplan++] =
            (fault){F_RABBIT, rnd_range(&rs, f * 2 / 5, f * 17 / 20), 0, 0, 0, 0, 0};
    for (int i = 0; i < g.nplan; i++)
        g.plan[i].delay = rnd_range(&rs, 0, 1500);
    for (int i = 1; i < g.nplan; i++) /* insertion sort by position */
        for (int j = i; j > 0 && g.plan[j].pos < g.plan[j - 1].pos; j--) {
            fault t = g.plan[j];
            g.plan[j] = g.plan[j - 1];
            g.plan[j - 1] = t;
        }
    g.next_fault = 0;
    g.active = -1;
}

/* Appends a follow-up of kind k for run parent, due at due; its index. */
static int add_followup(kind k, int parent, int64_t due)
{
    assert_true(g.nr < g.cap);
    int i = g.nr++;
    req *r = &g.r[i];
    r->kind = k;
    r->parent = parent;
    r->due = due;
    make_body(r, i);
    return i;
}

/* Publishes r (or its copy) with message_id = correlation_id = its id;
 * on a lost connection reconnects and publishes again (a publisher
 * retry, counted).  0, or fails the test when RabbitMQ cannot be used. */
static int publish(req *r)
{
    int neigh = r->kind == K_NEIGH;
    broker_props p = {.reply_to = neigh ? g.nrq : g.rq,
                      .correlation_id = r->id,
                      .message_id = r->id,
                      .content_type = "application/json",
                      .persistent = 1};
    for (int attempt = 0; attempt < 3; attempt++) {
        if (g.cli == NULL && client_reopen(30000) != 0)
            break;
        int64_t t = dfx_now_ms();
        int64_t tn = wall_ns();
        int rc =
            broker_publish(g.cli, "", neigh ? g.nqueue : g.queue, &p, r->body, strlen(r->body), 0);
        if (r->sent == 0) {
            r->sent = t;
            r->sent_ns = tn;
        }
        if (rc == 0) {
            g.last_active = dfx_now_ms();
            return 0;
        }
        fprintf(stderr, "publish %s: %s: %s\n", r->id, broker_strerror(rc), broker_error(g.cli));
        r->retries++;
        client_reopen(30000);
    }
    g.publish_failures++;
    fail_msg("cannot publish %s to RabbitMQ at %s", r->id, g.amqp_url);
    return -1;
}

/* ---- replies ---- */

/* 1 if a SIGKILL of the main dispatcher fell in [from - ARRIVAL_SLACK, to]. */
static int kill_between(int64_t from, int64_t to)
{
    for (int i = 0; i < g.nplan; i++)
        if (g.plan[i].kind == F_KILL && g.plan[i].start > 0 &&
            g.plan[i].start >= from - ARRIVAL_SLACK && g.plan[i].start <= to)
            return 1;
    return 0;
}

/* 1 if a fault of kind fk (any kind when fk < 0) overlapped [from, to]
 * (to 0: until now). */
static int fault_overlaps(int fk, int64_t from, int64_t to)
{
    if (to <= 0)
        to = dfx_now_ms();
    for (int i = 0; i < g.nplan; i++) {
        const fault *f = &g.plan[i];
        if (f->start == 0 || (fk >= 0 && (int)f->kind != fk))
            continue;
        int64_t fe = f->end > 0 ? f->end : dfx_now_ms();
        if (f->start <= to && fe >= from)
            return 1;
    }
    return 0;
}

/* The error code of reply j, NULL for a success. */
static const char *err_code(json_t *j)
{
    return json_string_value(json_object_get(json_object_get(j, "error"), "code"));
}

/* Acts on the first final reply of request idx: remembers its container
 * and schedules the follow-ups it calls for. */
static void on_first_final(int idx)
{
    req *r = &g.r[idx];
    json_t *res = json_object_get(r->first, "result");
    const char *cid = json_string_value(json_object_get(json_object_get(res, "container"), "id"));
    if (cid)
        snprintf(r->cid, sizeof r->cid, "%s", cid);
    int64_t t = dfx_now_ms();
    if (r->kind == K_RUN_KEEP && cid)
        r->rm = add_followup(K_REMOVE, idx, t + rnd_for(idx, 1, 0, 1000));
    else if (r->kind == K_RUN_DETACH && cid)
        r->stop = add_followup(K_STOP, idx, t + rnd_for(idx, 2, 500, 3000));
    else if (r->kind == K_STOP)
        g.r[r->parent].rm = add_followup(K_REMOVE, r->parent, t + rnd_for(idx, 3, 0, 500));
}

/* Takes one reply d that came on the main (nb 0) or the neighbour's reply
 * queue (nb 1). */
static void on_reply(const broker_delivery *d, int nb)
{
    int idx = req_index(d->correlation_id);
    if (idx < 0 || idx >= g.nr) {
        g.strays++;
        return;
    }
    req *r = &g.r[idx];
    if ((r->kind == K_NEIGH) != nb)
        r->n_wrongq++;
    json_t *j = json_loadb((const char *)d->body, d->len, 0, NULL);
    if (j == NULL) {
        g.unparsable++;
        j = json_stringn((const char *)d->body, d->len);
    }
    const char *code = err_code(j);
    if (code && !strcmp(code, "duplicate")) {
        r->n_dup++;
        json_decref(j);
        return;
    }
    int64_t t = dfx_now_ms();
    g.last_active = t;
    if (r->n_final++ == 0) {
        r->first = j;
        r->first_at = t;
        g.inflight--;
        on_first_final(idx);
        return;
    }
    if (json_equal(r->first, j) && kill_between(r->first_at, t)) {
        r->n_tolerated++;
        json_decref(j);
        return;
    }
    r->n_untolerated++;
    if (r->bad_double == NULL) {
        r->bad_double = j;
        r->bad_at = t;
    } else
        json_decref(j);
}

/* Drains both reply queues (reconnecting when the connection is lost,
 * unless RabbitMQ is being restarted); the number of replies taken. */
static int drain_replies(void)
{
    int n = 0;
    if (g.cli == NULL)
        return 0;
    for (int nb = 0; nb < 2; nb++) {
        for (int k = 0; k < 256; k++) {
            broker_delivery d;
            memset(&d, 0, sizeof d);
            int rc = broker_get(g.cli, nb ? g.nrq : g.rq, &d);
            if (rc == 1) {
                on_reply(&d, nb);
                n++;
            }
            broker_delivery_cleanup(&d);
            if (rc == 1)
                continue;
            if (rc < 0) {
                fprintf(stderr, "reading %s: %s: %s\n", nb ? g.nrq : g.rq, broker_strerror(rc),
                        broker_error(g.cli));
                client_reopen(30000);
            }
            break;
        }
    }
    return n;
}

/* Drains replies for ms milliseconds. */
static void pump_for(int ms)
{
    int64_t end = dfx_now_ms() + ms;
    while (dfx_now_ms() < end)
        if (drain_replies() == 0)
            usleep(20 * 1000);
}

/* ---- faults ---- */

/* Waits up to timeout_ms (draining replies) until queue q has at least one
 * consumer (want 1) or none (want 0); 1 if it did.  Gives up early when
 * *pid (if not NULL) exits. */
static int wait_consumers(const char *q, int want, int timeout_ms, pid_t *pid)
{
    int64_t end = dfx_now_ms() + timeout_ms;
    while (dfx_now_ms() < end) {
        uint32_t consumers = 0;
        if (g.cli && broker_queue_counts(g.cli, q, NULL, &consumers) == 0 &&
            (want ? consumers >= 1 : consumers == 0))
            return 1;
        int st;
        if (pid && *pid > 0 && waitpid(*pid, &st, WNOHANG) == *pid) {
            *pid = 0;
            return 0;
        }
        pump_for(50);
    }
    return 0;
}

/* Starts (another instance of) the main dispatcher and waits until it
 * consumes; fails the test when it does not. */
static void main_start(void)
{
    char text[64];
    snprintf(text, sizeof text, "instance %d", ++g.main_starts);
    log_note(g.main_log, text);
    g.main_pid = spawn_dispatcher(g.queue, "4", g.main_log);
    assert_true(g.main_pid > 0);
    if (!wait_consumers(g.queue, 1, 60000, &g.main_pid))
        fail_msg("the main dispatcher does not consume %s; see %s", g.queue, g.main_log);
}

/* SIGKILL of the main dispatcher, then a new instance. */
static void fault_kill(fault *f)
{
    drain_replies(); /* what arrived before the kill has arrived before it */
    f->start = dfx_now_ms();
    kill(g.main_pid, SIGKILL);
    waitpid(g.main_pid, NULL, 0);
    g.main_pid = 0;
    wait_consumers(g.queue, 0, 5000, NULL);
    main_start();
    f->end = dfx_now_ms();
}

/* Starts fault f in the background (Docker or RabbitMQ restart). */
static void fault_begin_async(fault *f)
{
    char line[1200];
    if (f->kind == F_DOCKER)
        snprintf(line, sizeof line, "%s/%s stop %s >&2 && %s/%s start %s >&2", dfx_scripts_dir(),
                 g.docker_script, g.svc, dfx_scripts_dir(), g.docker_script, g.svc);
    else
        snprintf(line, sizeof line,
                 "%s/private-rabbitmq.sh stop %s >&2 && %s/private-rabbitmq.sh start %s %d >&2",
                 dfx_scripts_dir(), g.svc, dfx_scripts_dir(), g.svc, g.port);
    if (f->kind == F_RABBIT) {
        drain_replies();
        broker_free(g.cli);
        g.cli = NULL;
    }
    f->start = dfx_now_ms();
    g.fault_child = spawn_shell(line);
    assert_true(g.fault_child > 0);
}

/* Advances the fault plan: finishes the async fault in progress, or starts
 * the next one when its moment has come (sent: requests out so far).
 * Returns 1 when something happened. */
static int fault_step(int sent)
{
    if (g.active >= 0) {
        fault *f = &g.plan[g.active];
        int st;
        if (waitpid(g.fault_child, &st, WNOHANG) != g.fault_child)
            return 0;
        g.fault_child = 0;
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
            fail_msg("%s failed (status %d)", fault_names[f->kind], st);
        if (f->kind == F_RABBIT && client_reopen(60000) != 0)
            fail_msg("RabbitMQ does not come back after its restart");
        f->end = dfx_now_ms();
        f->done = 1;
        g.active = -1;
        g.last_active = f->end;
        return 1;
    }
    if (g.next_fault >= g.nplan)
        return 0;
    fault *f = &g.plan[g.next_fault];
    if (sent < f->pos)
        return 0;
    if (f->armed == 0)
        f->armed = dfx_now_ms();
    if (dfx_now_ms() < f->armed + f->delay)
        return 0;
    g.next_fault++;
    if (f->kind == F_KILL) {
        fault_kill(f);
        f->done = 1;
        g.last_active = dfx_now_ms();
    } else {
        fault_begin_async(f);
        g.active = (int)(f - g.plan);
    }
    return 1;
}

/* 1 when every planned fault has happened and none is in progress. */
static int faults_done(void)
{
    return g.next_fault >= g.nplan && g.active < 0;
}

/* Notices a dispatcher that exited on its own (not by the suite's hand):
 * counts it, says how it ended, and starts it again.  Only while no Docker
 * or RabbitMQ restart is in progress (a dispatcher cannot start then).
 * Returns the number restarted. */
static int check_alive(void)
{
    int st, n = 0;
    if (g.active >= 0 || dfx_now_ms() - g.last_alive_check < 500)
        return 0;
    g.last_alive_check = dfx_now_ms();
    if (g.main_pid > 0 && waitpid(g.main_pid, &st, WNOHANG) == g.main_pid) {
        g.main_pid = 0;
        g.main_crashes++;
        dfx_note("the main dispatcher ended on its own (%s %d) at %.1fs; see %s",
                 WIFEXITED(st) ? "exit" : "signal", WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st),
                 rel_s(dfx_now_ms()), g.main_log);
        main_start();
        n++;
    }
    if (g.nb_pid > 0 && waitpid(g.nb_pid, &st, WNOHANG) == g.nb_pid) {
        g.nb_pid = 0;
        g.nb_crashes++;
        dfx_note("the neighbour ended on its own (%s %d) at %.1fs; see %s",
                 WIFEXITED(st) ? "exit" : "signal", WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st),
                 rel_s(dfx_now_ms()), g.nb_log);
        log_note(g.nb_log, "restarted");
        g.nb_pid = spawn_dispatcher(g.nqueue, "2", g.nb_log);
        if (g.nb_pid <= 0 || !wait_consumers(g.nqueue, 1, 60000, &g.nb_pid))
            fail_msg("the neighbour does not come back; see %s", g.nb_log);
        n++;
    }
    return n;
}

/* ---- the drive ---- */

/* Publishes due follow-ups and the copies whose original is running.
 * Returns the number published. */
static int publish_due(void)
{
    int n = 0;
    int64_t t = dfx_now_ms();
    for (int i = 0; i < g.nr && g.cli; i++) {
        req *r = &g.r[i];
        if (r->parent >= 0 && r->sent == 0 && t >= r->due) {
            publish(r);
            g.inflight++;
            n++;
        }
        if (r->kind == K_RUN_COPIED && r->sent > 0 && r->copy_state == 0) {
            if (r->n_final > 0) {
                r->copy_state = 2;
                g.copies_missed++;
            } else if (ev_get(i).starts > 0) {
                publish(r);
                r->copy_state = 1;
                r->copy_at = dfx_now_ms();
                g.copies_sent++;
                n++;
            }
        }
    }
    return n;
}

/* 1 when every request of [0, upto) and every follow-up has its final reply
 * and no copy waits. */
static int settled(int upto)
{
    for (int i = 0; i < g.nr; i++) {
        const req *r = &g.r[i];
        if (i < g.n_requests && i >= upto)
            continue;
        if (r->n_final == 0 || (r->kind == K_RUN_COPIED && r->copy_state == 0))
            return 0;
    }
    return 1;
}

/* Runs requests [from, to) with at most g.concurrency without a final
 * reply, and the planned faults when with_faults; returns once all of them
 * (and their follow-ups) are answered, or after WAIT_MS without progress
 * (-1). */
static int drive(int from, int to, int with_faults)
{
    int next = from;
    g.last_active = dfx_now_ms();
    for (;;) {
        int busy = drain_replies();
        busy += check_alive();
        if (with_faults)
            busy += fault_step(next);
        busy += publish_due();
        while (next < to && g.cli && g.inflight < g.concurrency) {
            publish(&g.r[next++]);
            g.inflight++;
            busy++;
        }
        if (next >= to && settled(to) && (!with_faults || faults_done()))
            return 0;
        if (dfx_now_ms() - g.last_active > WAIT_MS && (!with_faults || g.active < 0)) {
            dfx_note("no progress for %d s: giving up on the missing replies", WAIT_MS / 1000);
            return -1;
        }
        if (!busy)
            usleep(10 * 1000);
    }
}

/* Reads every message of queue q, counting the bad messages of this run
 * (by message_id) and the others. */
static void read_dead(const char *q)
{
    for (;;) {
        broker_delivery d;
        memset(&d, 0, sizeof d);
        int rc = broker_get(g.cli, q, &d);
        if (rc == 1) {
            int idx = req_index(d.message_id);
            if (idx >= 0 && is_bad(g.r[idx].kind)) {
                if (g.dead_hits[idx]++ == 0)
                    g.dead_bad_found++;
            } else {
                g.dead_other++;
                dfx_note("dead letter not a bad message: message_id=%s correlation_id=%s reason=%s",
                         d.message_id ? d.message_id : "-",
                         d.correlation_id ? d.correlation_id : "-",
                         broker_delivery_header(&d, "x-dd-reason")
                             ? broker_delivery_header(&d, "x-dd-reason")
                             : "-");
            }
        }
        broker_delivery_cleanup(&d);
        if (rc != 1)
            break;
    }
}

/* Counts the "reply id=" lines of log naming requests of this run that
 * belong to the other dispatcher (main_log 1: neighbour requests in the
 * main log; 0: main requests in the neighbour's log). */
static int crossed_in_log(const char *log, int main_log)
{
    FILE *f = fopen(log, "r");
    if (f == NULL)
        return 0;
    char *line = NULL;
    size_t cap = 0;
    int n = 0, shown = 0;
    while (getline(&line, &cap, f) > 0) {
        const char *p = strstr(line, " reply id=");
        if (p == NULL)
            continue;
        p += strlen(" reply id=");
        char id[80];
        size_t k = 0;
        while (p[k] && p[k] != ' ' && p[k] != '\n' && k + 1 < sizeof id) {
            id[k] = p[k];
            k++;
        }
        id[k] = '\0';
        int idx = req_index(id);
        if (idx < 0 || idx >= g.nr)
            continue;
        if ((g.r[idx].kind == K_NEIGH) == main_log) {
            n++;
            if (shown++ < MAX_SHOWN)
                dfx_note("%s answered %s (%s): %.*s", main_log ? "main" : "neighbour", id,
                         kind_names[g.r[idx].kind], (int)strcspn(line, "\n"), line);
        }
    }
    free(line);
    fclose(f);
    return n;
}

/* Removes every container of the private dockerd that carries a request
 * label of this run, by id; how many there were. */
static int remove_leftovers(int print)
{
    if (g.dkc == NULL)
        return 0;
    json_t *flt = json_pack("{s:[s]}", "label", DFX_REQUEST_LABEL);
    dkc_list_opts lo = {.all = true, .filters = flt};
    json_t *arr = NULL;
    int n = 0;
    if (dkc_container_list(g.dkc, &lo, &arr) == 0) {
        size_t i;
        json_t *c;
        json_array_foreach(arr, i, c)
        {
            const char *id = json_string_value(json_object_get(c, "Id"));
            const char *rid =
                json_string_value(json_object_get(json_object_get(c, "Labels"), DFX_REQUEST_LABEL));
            int idx = req_index(rid);
            if (id == NULL || idx < 0)
                continue;
            if (idx < g.nr)
                g.r[idx].left = 1;
            if (print && n < MAX_SHOWN)
                dfx_note("left on Docker: %.12s of %s (%s), state %s", id, rid,
                         idx < g.nr ? kind_names[g.r[idx].kind] : "?",
                         json_string_value(json_object_get(c, "State")));
            n++;
            dkc_container_remove(g.dkc, id, true, true);
        }
    }
    json_decref(arr);
    json_decref(flt);
    return n;
}

/* Prints the figures of the run. */
static void print_figures(void)
{
    int by_kind[K_NKINDS] = {0};
    int hist[3] = {0}, cont[3] = {0}, tolerated = 0, untolerated = 0, dups = 0;
    int missing_zero = 0;
    for (int i = 0; i < g.nr; i++) {
        const req *r = &g.r[i];
        if (r->sent == 0)
            continue;
        by_kind[r->kind]++;
        hist[r->n_final > 2 ? 2 : r->n_final]++;
        tolerated += r->n_tolerated;
        untolerated += r->n_untolerated;
        dups += r->n_dup;
        if (is_run(r->kind)) {
            evsum s = ev_get(i);
            cont[s.creates > 2 ? 2 : s.creates]++;
            missing_zero += s.creates == 0 && r->kind == K_RUN_MISSING;
        }
    }
    char line[1024];
    size_t off = 0;
    int total = 0;
    for (int k = 0; k < K_NKINDS; k++) {
        total += by_kind[k];
        off += (size_t)snprintf(line + off, sizeof line - off, "%s%s %d", k ? ", " : "",
                                kind_names[k], by_kind[k]);
        if (off >= sizeof line)
            break;
    }
    int retries = 0;
    for (int i = 0; i < g.nr; i++)
        retries += g.r[i].retries;
    dfx_figure("requests sent: %d (%s); copies published %d (missed %d); publisher retries %d "
               "(given up %d)",
               total, line, g.copies_sent, g.copies_missed, retries, g.publish_failures);
    int nk = 0, nd = 0, nrb = 0;
    off = 0;
    line[0] = '\0';
    for (int i = 0; i < g.nplan; i++) {
        const fault *f = &g.plan[i];
        if (f->start == 0)
            continue;
        nk += f->kind == F_KILL;
        nd += f->kind == F_DOCKER;
        nrb += f->kind == F_RABBIT;
        if (off < sizeof line)
            off +=
                (size_t)snprintf(line + off, sizeof line - off, "%s%s %.1f-%.1fs", off ? ", " : "",
                                 fault_names[f->kind], rel_s(f->start), rel_s(f->end));
    }
    dfx_figure("faults: %d SIGKILLs, %d docker restarts, %d rabbit restarts (%s)", nk, nd, nrb,
               line);
    dfx_figure("final replies per request: 0: %d, 1: %d, 2+: %d (tolerated doubles %d, "
               "untolerated %d)",
               hist[0], hist[1], hist[2], tolerated, untolerated);
    dfx_figure("duplicate-notice replies: %d (copies published %d)", dups, g.copies_sent);
    dfx_figure(
        "containers per run request (create events): 0: %d (missing image %d), 1: %d, 2+: %d; "
        "events counted %d, event stream resumed %d times",
        cont[0], missing_zero, cont[1], cont[2], g_ev.total, g_ev.breaks);
    dfx_figure("main dispatcher RSS before quiet phase %.1f MB (pid %ld), after %.1f MB (pid %ld), "
               "growth %.1f MB; neighbour RSS %.1f MB",
               g.rss_before / 1024.0, (long)g.rss_pid_before, g.rss_after / 1024.0,
               (long)g.rss_pid_after, (g.rss_after - g.rss_before) / 1024.0, g.nb_rss / 1024.0);
    dfx_figure("dead letters: bad messages found %d of %d, other dead letters %d", g.dead_bad_found,
               by_kind[K_BAD_JSON] + by_kind[K_BAD_CMD] + by_kind[K_BAD_TYPE], g.dead_other);
    dfx_figure(
        "after SIGTERM: work queue ready %u consumers %u (exit %d); neighbour queue ready %u "
        "consumers %u (exit %d)",
        g.work_ready, g.work_consumers, g.main_exit, g.nb_ready, g.nb_consumers, g.nb_exit);
    int wrongq = 0;
    for (int i = 0; i < g.nr; i++)
        wrongq += g.r[i].n_wrongq;
    dfx_figure(
        "crossed: replies in the wrong reply queue %d, main log answering neighbour requests "
        "%d, neighbour log answering main requests %d; stray replies %d, unparsable %d",
        wrongq, g.log_main_for_nb, g.log_nb_for_main, g.strays, g.unparsable);
    dfx_figure("containers left at the end: %d; dispatchers ended on their own: main %d, "
               "neighbour %d",
               g.leftovers, g.main_crashes, g.nb_crashes);
    dfx_figure("time: fault phase %.1f s, quiet phase %.1f s, total %.1f s (main dispatcher "
               "started %d times)",
               (g.t_quiet - g.t_begin) / 1000.0, (g.t_end - g.t_quiet) / 1000.0,
               (g.t_end - g.t_begin) / 1000.0, g.main_starts);
}

/* Writes every request, its replies' summary and its Docker events as
 * JSON lines to path (INVARIANT_DUMP), for a closer look at a failure. */
static void dump_requests(const char *path)
{
    FILE *f = fopen(path, "w");
    if (f == NULL)
        return;
    for (int i = 0; i < g.nr; i++) {
        const req *r = &g.r[i];
        evsum s = ev_get(i);
        json_t *o = json_pack(
            "{s:s, s:s, s:i, s:f, s:f, s:i, s:i, s:i, s:i, s:i, s:O?, s:O?, s:{s:i, s:i, s:i, "
            "s:i, s:s}}",
            "id", r->id, "kind", kind_names[r->kind], "parent", r->parent, "sent", rel_s(r->sent),
            "first_at", rel_s(r->first_at), "finals", r->n_final, "duplicates", r->n_dup,
            "tolerated", r->n_tolerated, "untolerated", r->n_untolerated, "copy", r->copy_state,
            "first", r->first, "bad_double", r->bad_double, "docker", "creates", s.creates,
            "starts", s.starts, "dies", s.dies, "destroys", s.destroys, "container", s.cid);
        char *t = o ? json_dumps(o, JSON_COMPACT) : NULL;
        if (t)
            fprintf(f, "%s\n", t);
        free(t);
        json_decref(o);
    }
    fclose(f);
}

/* ---- cmocka cases ---- */

/* Starts everything, drives the stream through its faults and its quiet
 * phase, stops the dispatchers and collects what the invariants judge. */
static void test_stream(void **state)
{
    (void)state;
    dfx_note("seed %llu, %d requests (%d in the quiet phase), concurrency %d",
             (unsigned long long)g.seed, g.n_requests, g.quiet, g.concurrency);
    dfx_note("replay with INVARIANT_SEED=%llu INVARIANT_REQUESTS=%d", (unsigned long long)g.seed,
             g.n_requests);
    if (g.lane_docker)
        dfx_note("Docker: the lane's at %s, not restarted", g.docker_host);
    else
        assert_int_equal(dfx_run_script(g.docker_script, "start %s", g.svc), 0);
    if (g.lane_rabbit)
        dfx_note("RabbitMQ: the lane's at %s, not restarted", lane_amqp_hostport());
    else
        assert_int_equal(dfx_run_script("private-rabbitmq.sh", "start %s %d", g.svc, g.port), 0);
    g.dkc = dfx_docker_client(g.docker_host);
    assert_non_null(g.dkc);
    g.cli = dfx_client_open(g.amqp_url, g.queue, 3000);
    assert_non_null(g.cli);
    assert_int_equal(dfx_declare_durable_queue_at(g.amqp_url, g.rq), 0);
    assert_int_equal(dfx_declare_durable_queue_at(g.amqp_url, g.nrq), 0);
    ev_start();

    g.nb_pid = spawn_dispatcher(g.nqueue, "2", g.nb_log);
    assert_true(g.nb_pid > 0);
    if (!wait_consumers(g.nqueue, 1, 60000, &g.nb_pid))
        fail_msg("the neighbour does not consume %s; see %s", g.nqueue, g.nb_log);
    main_start();

    g.t_begin = dfx_now_ms();
    if (drive(0, g.fault_phase, 1) != 0)
        g.stream_stuck = 1;
    if (!faults_done())
        dfx_note("only %d of %d planned faults happened", g.next_fault, g.nplan);
    /* both back on their queues (after a late RabbitMQ restart they may
     * still be in their reconnect backoff) before the quiet phase */
    if (!wait_consumers(g.queue, 1, 60000, &g.main_pid) ||
        !wait_consumers(g.nqueue, 1, 60000, &g.nb_pid))
        fail_msg("a dispatcher is not consuming after the fault phase; see %s, %s", g.main_log,
                 g.nb_log);
    g.t_quiet = dfx_now_ms();
    g.rss_pid_before = g.main_pid;
    g.rss_before = rss_kb(g.main_pid);
    if (!g.stream_stuck && drive(g.fault_phase, g.n_requests, 0) != 0)
        g.stream_stuck = 1;
    pump_for(3000); /* late doubles */
    g.t_end = dfx_now_ms();
    g.rss_pid_after = g.main_pid;
    g.rss_after = rss_kb(g.main_pid);
    g.nb_rss = rss_kb(g.nb_pid);

    /* stop both, see what is left in the queues */
    g.main_exit = dispatcher_stop(&g.main_pid);
    g.nb_exit = dispatcher_stop(&g.nb_pid);
    pump_for(1000);
    if (g.cli == NULL)
        client_reopen(30000);
    assert_non_null(g.cli);
    broker_queue_counts(g.cli, g.queue, &g.work_ready, &g.work_consumers);
    broker_queue_counts(g.cli, g.nqueue, &g.nb_ready, &g.nb_consumers);
    g.dead_hits = calloc((size_t)g.cap, sizeof *g.dead_hits);
    assert_non_null(g.dead_hits);
    char dq[96];
    snprintf(dq, sizeof dq, "%s.dead", g.queue);
    read_dead(dq);
    snprintf(dq, sizeof dq, "%s.dead", g.nqueue);
    read_dead(dq);

    usleep(1000 * 1000); /* the last events */
    ev_stop();
    g.leftovers = remove_leftovers(1);
    g.log_main_for_nb = crossed_in_log(g.main_log, 1);
    g.log_nb_for_main = crossed_in_log(g.nb_log, 0);
    print_figures();
    dfx_note("logs: %s, %s", g.main_log, g.nb_log);
    const char *dump = getenv("INVARIANT_DUMP");
    if (dump && *dump) {
        dump_requests(dump);
        dfx_note("requests written to %s", dump);
    }
    g.stream_done = 1;
}

/* Skips an invariant when the stream could not run. */
#define NEED_STREAM()                                                                              \
    do {                                                                                           \
        if (!g.stream_done)                                                                        \
            skip();                                                                                \
    } while (0)

/* Every request published got a final reply. */
static void test_every_request_answered(void **state)
{
    (void)state;
    NEED_STREAM();
    int lost = 0, sent = 0;
    for (int i = 0; i < g.nr; i++) {
        const req *r = &g.r[i];
        if (r->sent == 0)
            continue;
        sent++;
        if (r->n_final > 0)
            continue;
        if (lost++ < MAX_SHOWN)
            dfx_note("no final reply: %s (%s, sent at %.1fs, %d duplicate notices)", r->id,
                     kind_names[r->kind], rel_s(r->sent), r->n_dup);
    }
    int unsent = 0;
    for (int i = 0; i < g.nr; i++)
        unsent += g.r[i].sent == 0;
    if (lost || unsent)
        INV_FAIL("%d of %d requests sent got no final reply (%d requests never sent)", lost, sent,
                 unsent);
}

/* A request with two or more final replies: allowed only when they are
 * identical and a SIGKILL of the dispatcher fell between their arrivals. */
static void test_doubles_only_across_kills(void **state)
{
    (void)state;
    NEED_STREAM();
    int bad = 0, tolerated = 0;
    for (int i = 0; i < g.nr; i++) {
        const req *r = &g.r[i];
        tolerated += r->n_tolerated;
        if (r->n_untolerated == 0)
            continue;
        if (bad++ < MAX_SHOWN) {
            char *a = json_dumps(r->first, JSON_COMPACT);
            char *b = json_dumps(r->bad_double, JSON_COMPACT);
            int same = json_equal(r->first, r->bad_double);
            dfx_note("%s (%s): %d final replies, %s, rabbit restart in between: %s", r->id,
                     kind_names[r->kind], r->n_final,
                     same ? "identical, no SIGKILL in between" : "different",
                     fault_overlaps(F_RABBIT, r->first_at, r->bad_at) ? "yes" : "no");
            dfx_note("  first:  %.400s", a ? a : "?");
            dfx_note("  second: %.400s", b ? b : "?");
            free(a);
            free(b);
        }
    }
    dfx_note("tolerated doubles (identical, a SIGKILL between): %d", tolerated);
    if (bad)
        INV_FAIL("%d requests got more than one final reply without a SIGKILL between identical "
                 "replies (tolerated doubles: %d)",
                 bad, tolerated);
}

/* No request id made more than one container (Docker's create events). */
static void test_one_container_per_request(void **state)
{
    (void)state;
    NEED_STREAM();
    int bad = 0;
    for (int i = 0; i < g.nr; i++) {
        evsum s = ev_get(i);
        if (s.creates <= 1)
            continue;
        if (bad++ < MAX_SHOWN)
            dfx_note("%s (%s): %d containers created (%.12s, %.12s, ...), copy published: %s, "
                     "publisher retries %d",
                     g.r[i].id, kind_names[g.r[i].kind], s.creates, s.cid, s.cid2,
                     g.r[i].copy_state == 1 ? "yes" : "no", g.r[i].retries);
    }
    if (bad)
        INV_FAIL("%d request ids made more than one container", bad);
}

/* 1 when Docker itself refused (5xx) the removal of run r's container,
 * which lived through a Docker restart: Docker's doing, not the
 * dispatcher's. */
static int removal_refused_by_docker(const req *r)
{
    const req *rm = r->rm >= 0 ? &g.r[r->rm] : NULL;
    if (rm == NULL || rm->first == NULL || !fault_overlaps(F_DOCKER, r->sent, rm->first_at))
        return 0;
    const char *code = err_code(rm->first);
    json_t *hs = json_object_get(json_object_get(rm->first, "error"), "http_status");
    return code && !strcmp(code, "docker_error") && json_integer_value(hs) >= 500;
}

/* Remove containers are gone; kept and detached ones lived until the
 * suite's stop/remove requests and their remove request succeeded; no
 * container of the run is left. */
static void test_container_lifecycles(void **state)
{
    (void)state;
    NEED_STREAM();
    int bad = 0, excused = 0, left = 0;
    for (int i = 0; i < g.nr; i++) {
        const req *r = &g.r[i];
        int refused =
            (r->kind == K_RUN_KEEP || r->kind == K_RUN_DETACH) && removal_refused_by_docker(r);
        if (r->left && !refused && left++ < MAX_SHOWN)
            dfx_note("%s (%s): its container %.12s was left on Docker", r->id, kind_names[r->kind],
                     ev_get(i).cid);
        if (r->kind != K_RUN_KEEP && r->kind != K_RUN_DETACH)
            continue;
        evsum s = ev_get(i);
        if (s.creates == 0 || !json_is_true(json_object_get(r->first, "ok")))
            continue; /* never handed over: the dispatcher cleans up a failed run */
        char why[256] = "";
        const req *rm = r->rm >= 0 ? &g.r[r->rm] : NULL;
        const req *st = r->stop >= 0 ? &g.r[r->stop] : NULL;
        if (refused) {
            excused++;
            dfx_note("%s (%s, container %.12s): Docker refused its removal after a Docker restart",
                     r->id, kind_names[r->kind], s.cid);
            continue;
        }
        if (rm == NULL || rm->sent == 0) {
            snprintf(why, sizeof why, "no remove request was sent");
        } else if (s.destroys == 0) {
            snprintf(why, sizeof why, "never destroyed");
        } else if (s.first_destroy_ns < rm->sent_ns) {
            snprintf(why, sizeof why, "destroyed %.3f s before the remove request",
                     (rm->sent_ns - s.first_destroy_ns) / 1e9);
        } else if (r->kind == K_RUN_DETACH && st && s.dies > 0 && s.first_die_ns < st->sent_ns &&
                   !fault_overlaps(F_DOCKER, r->sent, st->sent) && st->sent - r->sent < 29000) {
            snprintf(why, sizeof why, "stopped %.3f s before the stop request",
                     (st->sent_ns - s.first_die_ns) / 1e9);
        } else if (rm->first && !json_is_true(json_object_get(rm->first, "ok"))) {
            const char *code = err_code(rm->first);
            int faulted = fault_overlaps(F_KILL, rm->sent, rm->first_at) ||
                          fault_overlaps(F_RABBIT, rm->sent, rm->first_at);
            if (!(faulted && code && !strcmp(code, "not_found")))
                snprintf(why, sizeof why, "its remove request failed: %s", code ? code : "?");
        }
        if (why[0] && bad++ < MAX_SHOWN)
            dfx_note("%s (%s, container %.12s): %s", r->id, kind_names[r->kind], s.cid, why);
    }
    dfx_note("removals Docker refused after a Docker restart: %d", excused);
    if (bad || left)
        INV_FAIL("%d kept/detached containers not removed as requested; %d containers left at "
                 "the end (all removed now)",
                 bad, left);
}

/* Every bad message is in <q>.dead; the work queue is empty once the
 * dispatcher stopped. */
static void test_dead_letters_and_drained_queue(void **state)
{
    (void)state;
    NEED_STREAM();
    int bad = 0, missing = 0;
    for (int i = 0; i < g.nr; i++) {
        if (!is_bad(g.r[i].kind) || g.r[i].sent == 0)
            continue;
        bad++;
        if (g.dead_hits[i] == 0 && missing++ < MAX_SHOWN)
            dfx_note("not in %s.dead: %s (%s)", g.queue, g.r[i].id, kind_names[g.r[i].kind]);
    }
    if (missing || g.work_ready || g.work_consumers || g.nb_ready || g.nb_consumers)
        INV_FAIL("%d of %d bad messages missing from the dead letters; after SIGTERM the work "
                 "queue holds %u messages with %u consumers (neighbour's: %u, %u)",
                 missing, bad, g.work_ready, g.work_consumers, g.nb_ready, g.nb_consumers);
}

/* No reply crossed between the main dispatcher and the neighbour. */
static void test_no_crossed_replies(void **state)
{
    (void)state;
    NEED_STREAM();
    int wrongq = 0;
    for (int i = 0; i < g.nr; i++) {
        if (g.r[i].n_wrongq && wrongq < MAX_SHOWN)
            dfx_note("%s (%s): reply in the other dispatcher's reply queue", g.r[i].id,
                     kind_names[g.r[i].kind]);
        wrongq += g.r[i].n_wrongq;
    }
    if (wrongq || g.log_main_for_nb || g.log_nb_for_main)
        INV_FAIL("%d replies in the wrong reply queue; the main dispatcher answered %d neighbour "
                 "requests, the neighbour answered %d main requests",
                 wrongq, g.log_main_for_nb, g.log_nb_for_main);
}

/* A copy published while its original runs is answered "duplicate"; a
 * request published once gets no such notice unless a fault may have
 * redelivered it.  A copy still unanswered when the dispatcher is killed
 * comes back redelivered, which the dispatcher cannot tell from a
 * redelivery of the original (it then continues the original): such a
 * copy is excused when it made no second container or final reply. */
static void test_copies_answered_duplicate(void **state)
{
    (void)state;
    NEED_STREAM();
    int unanswered = 0, unexpected = 0, copies = 0, excused = 0;
    for (int i = 0; i < g.nr; i++) {
        const req *r = &g.r[i];
        if (r->kind == K_RUN_COPIED && r->copy_state == 1) {
            copies++;
            int64_t until = r->first_at > r->copy_at ? r->first_at : r->copy_at;
            if (r->n_dup == 0 && kill_between(r->copy_at, until + 1000) && r->n_final == 1 &&
                ev_get(i).creates <= 1) {
                excused++;
            } else if (r->n_dup == 0 && unanswered++ < MAX_SHOWN) {
                dfx_note("%s: copy published at %.1fs got no duplicate notice (%d final replies)",
                         r->id, rel_s(r->copy_at), r->n_final);
            }
            if (r->n_dup > 1 && !fault_overlaps(-1, r->copy_at, 0) && unexpected++ < MAX_SHOWN)
                dfx_note("%s: %d duplicate notices for one copy", r->id, r->n_dup);
        } else if (r->n_dup > 0 && r->retries == 0 &&
                   !fault_overlaps(F_KILL, r->sent, r->first_at + 1000) &&
                   !fault_overlaps(F_RABBIT, r->sent, r->first_at + 1000)) {
            if (unexpected++ < MAX_SHOWN)
                dfx_note("%s (%s): published once, yet %d duplicate notices", r->id,
                         kind_names[r->kind], r->n_dup);
        }
    }
    dfx_note("copies without a notice because a SIGKILL caught them in flight: %d", excused);
    if (unanswered || unexpected)
        INV_FAIL("%d of %d copies got no \"duplicate\" reply (%d excused by a SIGKILL); %d "
                 "unexpected duplicate notices",
                 unanswered, copies, excused, unexpected);
}

/* 1 if the first reply of r says what its kind promises; why says what is
 * off otherwise. */
static int reply_as_expected(const req *r, char *why, size_t len)
{
    json_t *j = r->first;
    int ok = json_is_true(json_object_get(j, "ok"));
    const char *code = err_code(j);
    json_t *res = json_object_get(j, "result");
    const char *out = json_string_value(json_object_get(res, "stdout"));
    char token[64];
    snprintf(token, sizeof token, "tok-%llx-%d", (unsigned long long)(g.seed & 0xffffff),
             (int)(r - g.r));
    switch (r->kind) {
    case K_RUN_RM:
    case K_RUN_COPIED:
    case K_NEIGH:
    case K_RUN_KEEP:
        if (!ok || out == NULL || strstr(out, token) == NULL)
            snprintf(why, len, "ok %d, code %s, stdout without the token", ok, code ? code : "-");
        else if (json_is_true(json_object_get(res, "removed")) != (r->kind != K_RUN_KEEP))
            snprintf(why, len, "removed is %s",
                     json_is_true(json_object_get(res, "removed")) ? "true" : "false");
        else
            return 1;
        return 0;
    case K_RUN_DETACH:
        if (ok && r->cid[0])
            return 1;
        snprintf(why, len, "detached run not started: code %s", code ? code : "-");
        return 0;
    case K_RUN_TIMEOUT:
        if (json_is_true(json_object_get(res, "timed_out")))
            return 1;
        snprintf(why, len, "timed_out not true (ok %d, code %s)", ok, code ? code : "-");
        return 0;
    case K_RUN_MISSING:
        if (!ok)
            return 1;
        snprintf(why, len, "a run of a missing image succeeded");
        return 0;
    case K_BAD_JSON:
    case K_BAD_CMD:
    case K_BAD_TYPE:
        if (!ok && code && (!strcmp(code, "bad_request") || !strcmp(code, "unknown_command")))
            return 1;
        snprintf(why, len, "bad message answered ok %d, code %s", ok, code ? code : "-");
        return 0;
    case K_STOP:
        if (ok || (code && !strcmp(code, "not_modified")))
            return 1;
        snprintf(why, len, "stop failed: %s", code ? code : "-");
        return 0;
    case K_REMOVE:
        if (ok)
            return 1;
        snprintf(why, len, "remove failed: %s", code ? code : "-");
        return 0;
    case K_NKINDS:
        break;
    }
    return 1;
}

/* Final replies carry what their requests ask for (a run's output, a
 * time-out, an error for a missing image or a bad message), except where a
 * fault explains the difference (a Docker restart kills what runs; a
 * SIGKILL or RabbitMQ restart may repeat a stop or remove). */
static void test_replies_carry_results(void **state)
{
    (void)state;
    NEED_STREAM();
    int bad = 0, excused = 0;
    for (int i = 0; i < g.nr; i++) {
        const req *r = &g.r[i];
        char why[200];
        if (r->first == NULL || reply_as_expected(r, why, sizeof why))
            continue;
        int excuse = fault_overlaps(F_DOCKER, r->sent, r->first_at);
        if (r->kind == K_STOP || r->kind == K_REMOVE)
            excuse = fault_overlaps(-1, r->sent, r->first_at);
        if ((r->kind == K_STOP || r->kind == K_REMOVE) && r->parent >= 0)
            excuse |= fault_overlaps(F_DOCKER, g.r[r->parent].sent, r->first_at);
        if (excuse) {
            excused++;
            continue;
        }
        if (bad++ < MAX_SHOWN) {
            char *t = json_dumps(r->first, JSON_COMPACT);
            dfx_note("%s (%s): %s: %.400s", r->id, kind_names[r->kind], why, t ? t : "?");
            free(t);
        }
    }
    dfx_note("replies off because a fault hit them: %d", excused);
    if (bad)
        INV_FAIL("%d final replies do not carry what their request asked for", bad);
}

/* The last dispatcher instance's RSS grows by at most RSS_SLACK_KB over
 * the quiet phase. */
static void test_memory_bounded(void **state)
{
    (void)state;
    NEED_STREAM();
    if (g.rss_before < 0 || g.rss_after < 0 || g.rss_pid_before != g.rss_pid_after)
        INV_FAIL("RSS unknown (before %ld kB pid %ld, after %ld kB pid %ld)", g.rss_before,
                 (long)g.rss_pid_before, g.rss_after, (long)g.rss_pid_after);
    if (g.rss_after - g.rss_before > RSS_SLACK_KB)
        INV_FAIL("dispatcher RSS grew from %ld kB to %ld kB over %d quiet requests (limit +%d kB)",
                 g.rss_before, g.rss_after, g.quiet, RSS_SLACK_KB);
}

/* The dispatchers never ended on their own and stopped cleanly (exit 0,
 * which under ASan also means no leak report) on SIGTERM. */
static void test_dispatchers_stay_up(void **state)
{
    (void)state;
    NEED_STREAM();
    if (g.main_crashes || g.nb_crashes || g.main_exit != 0 || g.nb_exit != 0)
        INV_FAIL("the main dispatcher ended on its own %d times, the neighbour %d times; exit "
                 "status after SIGTERM: main %d, neighbour %d (see %s, %s)",
                 g.main_crashes, g.nb_crashes, g.main_exit, g.nb_exit, g.main_log, g.nb_log);
}

/* Names, seed, sizes; the request table. */
static int group_setup(void **state)
{
    (void)state;
    const char *seed = getenv("INVARIANT_SEED");
    if (seed && *seed) {
        g.seed = strtoull(seed, NULL, 0);
    } else {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t x =
            (uint64_t)ts.tv_sec * 1000003ULL ^ (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 32);
        g.seed = mix_next(&x) % 1000000000000ULL;
    }
    g.n_requests = (int)env_long("INVARIANT_REQUESTS", 200);
    if (g.n_requests < 20)
        g.n_requests = 20;
    g.concurrency = (int)env_long("INVARIANT_CONCURRENCY", 12);
    if (g.concurrency < 1)
        g.concurrency = 1;
    g.quiet = g.n_requests / 4 < QUIET_MAX ? g.n_requests / 4 : QUIET_MAX;
    g.fault_phase = g.n_requests - g.quiet;
    g.cap = 3 * g.n_requests + 16;
    g.r = calloc((size_t)g.cap, sizeof *g.r);
    if (g.r == NULL)
        return -1;
    long pid = (long)getpid();
    snprintf(g.svc, sizeof g.svc, "inv%ld", pid);
    g.port = dfx_pick_port(DD_PORTS_INVARIANTS_RABBIT, 1);
    if (g.port == 0)
        return -1;
    /* The private services are of the lane's kind: a Podman service of
     * its own on the Podman lane, the Docker engine $DD_DOCKER_ENGINE
     * names (private-dockerd.sh), RabbitMQ from $DD_RABBITMQ_ROOT
     * (private-rabbitmq.sh).  A lane naming other services than those
     * (lane.h) has the stream run on its own, which is not restarted. */
    g.docker_script = lane_is("podman") ? "private-podman.sh" : "private-dockerd.sh";
    g.lane_docker = !lane_is("podman") && getenv("DD_DOCKER_ENGINE") == NULL &&
                    strcmp(lane_docker_host(), LANE_DEFAULT_DOCKER) != 0;
    g.lane_rabbit =
        getenv("DD_RABBITMQ_ROOT") == NULL && strcmp(lane_amqp_url(), LANE_DEFAULT_AMQP) != 0;
    if (g.lane_docker)
        snprintf(g.docker_host, sizeof g.docker_host, "%s", lane_docker_host());
    else if (lane_is("podman"))
        snprintf(g.docker_host, sizeof g.docker_host, "unix://" DFX_STATE_DIR "/pm/%s/podman.sock",
                 g.svc);
    else
        snprintf(g.docker_host, sizeof g.docker_host, "unix://" DFX_STATE_DIR "/p/%s/docker.sock",
                 g.svc);
    if (g.lane_rabbit)
        snprintf(g.amqp_url, sizeof g.amqp_url, "%s", lane_amqp_url());
    else
        snprintf(g.amqp_url, sizeof g.amqp_url, "amqp://guest:guest@127.0.0.1:%d/", g.port);
    snprintf(g.queue, sizeof g.queue, "dd-inv-%ld", pid);
    snprintf(g.nqueue, sizeof g.nqueue, "dd-inv-%ld-nb", pid);
    snprintf(g.rq, sizeof g.rq, "%s.replies", g.queue);
    snprintf(g.nrq, sizeof g.nrq, "%s.replies", g.nqueue);
    snprintf(g.prefix, sizeof g.prefix, "inv%ld-%06llx-", pid,
             (unsigned long long)(g.seed & 0xffffff));
    snprintf(g.main_log, sizeof g.main_log, "/tmp/dd-inv-%ld-main.log", pid);
    snprintf(g.nb_log, sizeof g.nb_log, "/tmp/dd-inv-%ld-nb.log", pid);
    const char *logs[] = {g.main_log, g.nb_log};
    for (int i = 0; i < 2; i++) { /* a new run, a new log: the checks read them */
        FILE *f = fopen(logs[i], "w");
        if (f)
            fclose(f);
    }
    build_child_env();
    make_stream();
    make_plan();
    return 0;
}

/* Deletes the topology of dispatcher queue q (node role with the
 * dispatchers' own arguments), if the broker answers. */
static void delete_topology(const char *q)
{
    char host[256] = "";
    gethostname(host, sizeof host - 1);
    broker_conf c;
    broker_conf_init(&c);
    c.url = g.amqp_url;
    c.queue = q;
    c.node = host;
    c.delivery_limit = 50;
    c.connect_timeout_ms = 3000;
    dfx_delete_topology(&c, NULL);
}

/* After the private dockerd stopped: kills, by pid, the containerd shims
 * of its own containerd that outlived it (a Docker restart under load
 * leaves some behind; they are found by the containerd address under the
 * daemon's exec root) and unmounts what is still mounted below its state
 * directory, so that the directory can go. */
static void reap_private_dockerd(void)
{
    char dir[256], addr[300];
    snprintf(dir, sizeof dir, DFX_STATE_DIR "/p/%s/", g.svc);
    snprintf(addr, sizeof addr, "%sx/containerd/", dir);
    DIR *pd = opendir("/proc");
    struct dirent *de;
    while (pd && (de = readdir(pd)) != NULL) {
        char *end = NULL;
        long pid = strtol(de->d_name, &end, 10);
        if (pid <= 0 || *end != '\0')
            continue;
        char path[64], buf[4096];
        snprintf(path, sizeof path, "/proc/%ld/cmdline", pid);
        FILE *f = fopen(path, "r");
        if (f == NULL)
            continue;
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        for (size_t i = 0; i < n; i++)
            if (buf[i] == '\0')
                buf[i] = ' ';
        buf[n] = '\0';
        if (strstr(buf, "containerd-shim") != NULL && strstr(buf, addr) != NULL) {
            dfx_note("killing containerd shim %ld left by the private dockerd", pid);
            kill((pid_t)pid, SIGKILL);
        }
    }
    if (pd)
        closedir(pd);
    FILE *m = fopen("/proc/mounts", "r");
    char line[4096], mps[64][512];
    int nm = 0;
    while (m && fgets(line, sizeof line, m) && nm < 64) {
        char *sp = strchr(line, ' ');
        char *mp = sp ? sp + 1 : NULL;
        char *e = mp ? strchr(mp, ' ') : NULL;
        if (e == NULL)
            continue;
        *e = '\0';
        if (strncmp(mp, dir, strlen(dir)) == 0)
            snprintf(mps[nm++], sizeof mps[0], "%s", mp);
    }
    if (m)
        fclose(m);
    for (int i = nm - 1; i >= 0; i--) /* the newest first */
        if (umount2(mps[i], MNT_DETACH) != 0)
            fprintf(stderr, "cannot unmount %s\n", mps[i]);
}

/* Stops what is still running (dispatchers by pid, the follower), removes
 * the run's containers by id, deletes queues and exchanges, stops the
 * private services by name and removes their state. */
static int group_teardown(void **state)
{
    (void)state;
    if (g.fault_child > 0)
        waitpid(g.fault_child, NULL, 0);
    dispatcher_stop(&g.main_pid);
    dispatcher_stop(&g.nb_pid);
    ev_stop();
    remove_leftovers(0);
    dkc_client_free(g.dkc);
    g.dkc = NULL;
    if (g.cli == NULL)
        g.cli = dfx_client_open(g.amqp_url, g.queue, 3000);
    if (g.cli) {
        broker_queue_delete(g.cli, g.rq);
        broker_queue_delete(g.cli, g.nrq);
        broker_free(g.cli);
        g.cli = NULL;
    }
    delete_topology(g.queue);
    delete_topology(g.nqueue);
    if (!g.lane_rabbit)
        dfx_run_script("private-rabbitmq.sh", "stop %s", g.svc);
    if (!g.lane_docker)
        dfx_run_script(g.docker_script, "stop %s", g.svc);
    if (!g.lane_docker && strcmp(g.docker_script, "private-dockerd.sh") == 0)
        reap_private_dockerd();
    if (!g.lane_docker && lane_is("podman")) {
        char line[512];
        snprintf(line, sizeof line,
                 "grep -q ' " DFX_STATE_DIR "/pm/%s/' /proc/mounts || rm -rf " DFX_STATE_DIR
                 "/pm/%s",
                 g.svc, g.svc);
        if (system(line) != 0)
            fprintf(stderr, "could not remove the private Podman's state\n");
    }
    dfx_remove_private_state(g.svc, g.svc);
    for (int i = 0; i < g.nr; i++) {
        json_decref(g.r[i].first);
        json_decref(g.r[i].bad_double);
    }
    free(g.r);
    free(g.dead_hits);
    free(g_ev.sum);
    json_decref(g_ev.seen);
    if (g.child_env) {
        for (size_t i = 0; g.child_env[i]; i++)
            if (strncmp(g.child_env[i], "ASAN_OPTIONS=", 13) == 0)
                free(g.child_env[i]);
        free(g.child_env);
    }
    return 0;
}

int main(void)
{
    dkc_global_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stream),
        cmocka_unit_test(test_every_request_answered),
        cmocka_unit_test(test_doubles_only_across_kills),
        cmocka_unit_test(test_one_container_per_request),
        cmocka_unit_test(test_container_lifecycles),
        cmocka_unit_test(test_dead_letters_and_drained_queue),
        cmocka_unit_test(test_no_crossed_replies),
        cmocka_unit_test(test_copies_answered_duplicate),
        cmocka_unit_test(test_replies_carry_results),
        cmocka_unit_test(test_memory_bounded),
        cmocka_unit_test(test_dispatchers_stay_up),
    };
    int rc = cmocka_run_group_tests(tests, group_setup, group_teardown);
    dkc_global_cleanup();
    return rc;
}
