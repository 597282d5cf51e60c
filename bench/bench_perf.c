/*
 * bench_perf.c -- the dispatcher's performance figures against the raw
 * Docker Engine API, measured in one invocation on one Docker daemon.
 *
 *   bench_perf DISPATCHER_BIN [--only SECTIONS] [--quick] [options]
 *
 * Sections (each runs alone with --only; default: all, in this order):
 *   runs        `run` lifecycles (busybox `true`, Remove) at concurrency 1, 4
 *               and 16: raw (create, start, wait, remove through libdkc, one
 *               client per thread) against `run` messages over AMQP with
 *               direct reply-to, in alternating rounds.
 *   ping, inspect, list (or `control` for the three)
 *               commands per second at --control-conc in flight (16): the
 *               dispatcher's `ping`, `inspect` of a running container it made,
 *               `list`, against GET /_ping, inspect and container list, and
 *               against the same requests answered by bench/rpc_echo (a bare
 *               consumer with the dispatcher's queue type, prefetch, acks and
 *               confirms, replying with as many bytes as the dispatcher),
 *               the three sides in alternating rounds on the same clients.
 *   backlog     --backlog N (10,000; 1,000 quick) `run` messages published
 *               while no dispatcher runs, then drained by a dispatcher started
 *               on them: runs/s against raw lifecycles at the dispatcher's
 *               worker count (half measured before the drain, half after),
 *               its RSS sampled during the drain, every request answered
 *               once and one container created per request id.
 *   supervised  --supervised N (500; 50 quick) `run`s with Attach of
 *               `sleep 3600`; with all N running: the dispatcher's RSS, its CPU
 *               per second while they idle (bounds a supervision pass's own
 *               CPU from above) and the Engine's list of them (the call a pass
 *               makes); then each container is killed through the Engine API,
 *               one after the other, and the time from Docker's `die` event to
 *               the final reply is taken: p50/p99/max.  The raw side: N/5
 *               containers of the bench's own, killed between them, and a
 *               client that makes the calls a final reply needs (inspect,
 *               logs) at their `die` event: Docker answers neither before it
 *               has done with the exited container.
 *   idle        a dispatcher with nothing to do: RSS, threads, CPU over
 *               --idle-seconds (60), voluntary context switches of every
 *               thread over that window (each one is a wake-up).
 *   cpu         the dispatcher's CPU (utime+stime) over --cpu-runs `run`
 *               messages at concurrency 4, per 100.
 *
 * Every dispatcher phase counts replies per request id: a request never
 * answered or answered twice makes the exit status 1, and so does an error
 * reply, a failed raw call or a container left behind.  Figures missing
 * their targets do not change the exit status: they are the measurement.
 * Every container the run made carries the label ddperf.run=<tag> and is
 * removed at the end (also after a failure or a signal), and so are the
 * queues and exchanges of the private queue <tag>.
 *
 * Options:
 *   --rounds R        alternating rounds per comparison (5; 3 quick)
 *   --clients K       AMQP client connections of the load (16):
 *                     broker_publish waits for each confirm, so with one
 *                     request in flight per connection the client never
 *                     holds a request back behind another one's confirm
 *   --pin N           the dispatcher on CPUs 0..N-1 (what `taskset -c`
 *                     does), to see how the figures scale with cores
 *   --runs N          `run`s per concurrency and side (R rounds of
 *                     max(6, 3 x concurrency); quick: of max(2, conc.))
 *   --control N       commands per kind and side (6000; 1500 quick)
 *   --backlog N       queued runs (10,000; 1,000 quick)
 *   --backlog-raw N   raw lifecycles of the backlog's comparison
 *                     (min(backlog, 1000))
 *   --supervised N    supervised containers (500; 50 quick)
 *   --idle-seconds S  the idle window (60: a node alone beats once a minute)
 *   --cpu-runs N      runs of the cpu section (300; 100 quick)
 * Environment: DOCKER_HOST (default socket), BENCH_AMQP_URL (default
 * amqp://guest:guest@127.0.0.1:5672/), BENCH_IMAGE (default
 * busybox:latest), BENCH_BACKLOG (as --backlog), BENCH_TAG (the tag; default
 * ddperf-<pid>).
 */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_args.h"
#include "broker.h"
#include "dkc.h"

#define MAX_PHASES   1024
#define MAX_CLIENTS  16
#define MAX_CONC     256
#define MAX_THREADS  512
#define MAX_ROWS     64
#define MAX_ROUNDS   50
#define GRACE_S      1.5 /* a second answer would come within a supervision pass */
#define RUN_LABEL    "ddperf.run"
#define REQ_LABEL    "io.docker-dispatch.request"
#define MB(kb)       ((double)(kb) / 1024.0)
#define NSEC_PER_SEC 1000000000LL

enum section {
    S_RUNS = 1 << 0,
    S_PING = 1 << 1,
    S_INSPECT = 1 << 2,
    S_LIST = 1 << 3,
    S_BACKLOG = 1 << 4,
    S_SUPERVISED = 1 << 5,
    S_IDLE = 1 << 6,
    S_CPU = 1 << 7,
};

/* What one request or raw call does. */
enum kind {
    K_RUN,          /* run true, Remove */
    K_PING,         /* ping */
    K_INSPECT,      /* inspect of the target container */
    K_LIST,         /* container list */
    K_RUN_DETACHED, /* run sleep 3600, no Attach: answered at start */
    K_RUN_ATTACHED, /* run sleep 3600 with Attach: answered at exit */
};

static struct {
    const char *bin, *amqp, *image, *docker_host;
    char tag[64], queue[80], node[96], label[128];
    unsigned sections;
    int quick, rounds, clients, pin, runs_n, control_n, control_conc;
    int backlog, backlog_raw, supervised, idle_s, cpu_runs;
    int classic; /* the dispatcher's work queue is a classic queue (ping_classic) */
} G;

static volatile sig_atomic_t g_stop;
static pid_t g_disp = -1;       /* the running dispatcher, or -1 */
static pid_t g_echo = -1;       /* the running bench/rpc_echo, or -1 */
static atomic_int g_failed;     /* error replies and failed raw calls */
static atomic_int g_lost;       /* requests never answered */
static atomic_int g_twice;      /* requests answered more than once */
static atomic_int g_bad_create; /* requests with other than one container */
static atomic_int g_complaints; /* messages printed about failures */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The wall clock, Docker's events' clock (seconds). */
static double now_rt(void)
{
    struct timespec rt;
    clock_gettime(CLOCK_REALTIME, &rt);
    return (double)rt.tv_sec + (double)rt.tv_nsec / 1e9;
}

/* Waits on cv (mu held) for at most 100 ms: the caller checks its
 * condition, g_stop and its own deadline again. */
static void cond_wait_100ms(pthread_cond_t *cv, pthread_mutex_t *mu)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += 100 * 1000 * 1000;
    if (ts.tv_nsec >= NSEC_PER_SEC) {
        ts.tv_sec++;
        ts.tv_nsec -= NSEC_PER_SEC;
    }
    pthread_cond_timedwait(cv, mu, &ts);
}

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

/* Prints a failure, the first 10 of them only. */
static void complain(const char *what, const char *detail)
{
    if (atomic_fetch_add(&g_complaints, 1) < 10)
        fprintf(stderr, "bench_perf: %s: %.300s\n", what, detail ? detail : "");
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The q-quantile (0..1) of v[0..n), sorted in place; NAN when n is 0. */
static double quantile(double *v, int n, double q)
{
    if (n <= 0)
        return NAN;
    qsort(v, (size_t)n, sizeof v[0], cmp_double);
    int i = (int)ceil(q * n) - 1;
    if (i < 0)
        i = 0;
    if (i >= n)
        i = n - 1;
    return v[i];
}

static double median(double *v, int n)
{
    if (n <= 0)
        return NAN;
    qsort(v, (size_t)n, sizeof v[0], cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* ------------------------------------------------------------------------
 * The result table.
 * ------------------------------------------------------------------------ */
typedef struct row {
    char figure[80], raw[40], disp[48], ratio[24], target[64];
    int met; /* 1 yes, 0 no, -1 no target */
} row;

static row g_rows[MAX_ROWS];
static int g_nrows;

static void row_add(const char *figure, const char *raw, const char *disp, const char *ratio,
                    const char *target, int met)
{
    if (g_nrows >= MAX_ROWS)
        return;
    row *r = &g_rows[g_nrows++];
    snprintf(r->figure, sizeof r->figure, "%s", figure);
    snprintf(r->raw, sizeof r->raw, "%s", raw);
    snprintf(r->disp, sizeof r->disp, "%s", disp);
    snprintf(r->ratio, sizeof r->ratio, "%s", ratio);
    snprintf(r->target, sizeof r->target, "%s", target);
    r->met = met;
}

static void table_print(void)
{
    printf("\n| figure | raw | dispatcher | ratio | target | met |\n");
    printf("|---|---|---|---|---|---|\n");
    for (int i = 0; i < g_nrows; i++) {
        const row *r = &g_rows[i];
        printf("| %s | %s | %s | %s | %s | %s |\n", r->figure, r->raw, r->disp, r->ratio, r->target,
               r->met < 0 ? "-"
               : r->met   ? "yes"
                          : "NO");
    }
}

/* ------------------------------------------------------------------------
 * The dispatcher process and what /proc says about it.
 * ------------------------------------------------------------------------ */

/* Forks and execs argv[0] with argv, its stdout to /dev/null and its
 * stderr ours, pinned as --pin says; with die_with_us, it gets SIGTERM
 * when this process dies.  The child's pid, or -1. */
static pid_t spawn(const char *const *argv, int die_with_us)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    if (die_with_us && prctl(PR_SET_PDEATHSIG, SIGTERM) != 0)
        _exit(126);
    if (G.pin > 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        for (int i = 0; i < G.pin; i++)
            CPU_SET(i, &set);
        if (sched_setaffinity(0, sizeof set, &set) != 0)
            _exit(126);
    }
    if (freopen("/dev/null", "w", stdout) == NULL)
        _exit(127);
    execv(argv[0], (char *const *)argv);
    _exit(127);
}

/* Starts the dispatcher on the private queue with prefetch and workers;
 * its stdout goes to /dev/null, its stderr is ours.  Sets g_disp. */
static pid_t disp_start(int prefetch, int workers)
{
    char pf[16], wk[16];
    snprintf(pf, sizeof pf, "%d", prefetch);
    snprintf(wk, sizeof wk, "%d", workers);
    const char *argv[] = {G.bin,
                          "-q",
                          G.queue,
                          "--node",
                          G.node,
                          "--prefetch",
                          pf,
                          "--workers",
                          wk,
                          "--quiet-output",
                          "--queue-type",
                          G.classic ? "classic" : "quorum",
                          G.docker_host,
                          G.amqp,
                          NULL};
    pid_t pid = spawn(argv, 0);
    if (pid > 0)
        g_disp = pid;
    return pid;
}

/* Stops process *pid (if > 0) with SIGTERM (SIGKILL after 60 s) and sets
 * *pid to -1; its exit status, -1 when it did not exit by itself with one. */
static int proc_stop(pid_t *pid)
{
    if (*pid <= 0)
        return -1;
    int st = 0, status = -1;
    kill(*pid, SIGTERM);
    for (int i = 0; i < 600; i++) {
        pid_t w = waitpid(*pid, &st, WNOHANG);
        if (w == *pid) {
            status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
            break;
        }
        usleep(100 * 1000);
    }
    if (status < 0 && kill(*pid, 0) == 0) {
        kill(*pid, SIGKILL);
        waitpid(*pid, &st, 0);
    }
    *pid = -1;
    return status;
}

/* Stops the dispatcher: proc_stop() of g_disp. */
static int disp_stop(void)
{
    return proc_stop(&g_disp);
}

/* The path of program name next to this one (the build's bench/) in
 * buf; 0, or -1 when it cannot be told. */
static int sibling_path(const char *name, char *buf, size_t len)
{
    char self[512];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0)
        return -1;
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    if (slash == NULL)
        return -1;
    *slash = '\0';
    snprintf(buf, len, "%s/%s", self, name);
    return 0;
}

/* Starts bench/rpc_echo, the bare consumer, on queue with prefetch (and
 * the dispatcher's queue type); it dies with this process.  Sets g_echo. */
static pid_t echo_start(const char *queue, int prefetch)
{
    char bin[600], pf[16];
    if (sibling_path("rpc_echo", bin, sizeof bin) != 0)
        return -1;
    snprintf(pf, sizeof pf, "%d", prefetch);
    const char *argv[] = {
        bin, G.amqp, queue, "--prefetch", pf, "--queue-type", G.classic ? "classic" : "quorum",
        NULL};
    pid_t pid = spawn(argv, 1);
    if (pid > 0)
        g_echo = pid;
    return pid;
}

typedef struct pstat {
    double cpu;         /* utime + stime, seconds */
    long rss_kb;        /* VmRSS */
    long hwm_kb;        /* VmHWM */
    int threads;        /* Threads */
    char cpus[64];      /* Cpus_allowed_list */
    long vcs, nvcs;     /* context switches summed over the tasks */
    double run_s;       /* time on a CPU summed over the tasks (schedstat, ns precision) */
    int ntask;          /* tasks below */
    int tid[128];       /* per task: id, */
    long tvcs[128];     /* voluntary switches, */
    double trun[128];   /* time on a CPU (schedstat, seconds), */
    char comm[128][20]; /* and name */
} pstat;

/* utime+stime (s) of process pid (as text: a /proc entry's name) from
 * /proc/<pid>/stat; -1 when it is gone. */
static double pid_cpu(const char *pid)
{
    char path[300], line[1024];
    snprintf(path, sizeof path, "/proc/%s/stat", pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    size_t n = fread(line, 1, sizeof line - 1, f);
    fclose(f);
    line[n] = '\0';
    const char *rp = strrchr(line, ')');
    unsigned long ut = 0, st = 0;
    if (rp == NULL ||
        sscanf(rp + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
        return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* Reads what /proc says of pid into *p; 0, or -1 when the process is gone. */
static int pstat_read(pid_t pid, pstat *p)
{
    char path[96], line[1024];
    memset(p, 0, sizeof *p);
    snprintf(path, sizeof path, "%d", (int)pid);
    if ((p->cpu = pid_cpu(path)) < 0)
        return -1;
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    while (fgets(line, sizeof line, f)) {
        if (!strncmp(line, "VmRSS:", 6))
            p->rss_kb = strtol(line + 6, NULL, 10);
        else if (!strncmp(line, "VmHWM:", 6))
            p->hwm_kb = strtol(line + 6, NULL, 10);
        else if (!strncmp(line, "Threads:", 8))
            p->threads = (int)strtol(line + 8, NULL, 10);
        else if (!strncmp(line, "Cpus_allowed_list:", 18))
            snprintf(p->cpus, sizeof p->cpus, "%.*s", (int)strcspn(line + 19, "\n"), line + 19);
    }
    fclose(f);
    snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
    DIR *d = opendir(path);
    if (d == NULL)
        return -1;
    struct dirent *de;
    while ((de = readdir(d)) != NULL && p->ntask < 128) {
        if (de->d_name[0] == '.')
            continue;
        int tid = (int)strtol(de->d_name, NULL, 10);
        long v = 0, nv = 0;
        snprintf(path, sizeof path, "/proc/%d/task/%d/status", (int)pid, tid);
        if ((f = fopen(path, "r")) == NULL)
            continue;
        while (fgets(line, sizeof line, f)) {
            if (!strncmp(line, "voluntary_ctxt_switches:", 24))
                v = strtol(line + 24, NULL, 10);
            else if (!strncmp(line, "nonvoluntary_ctxt_switches:", 27))
                nv = strtol(line + 27, NULL, 10);
        }
        fclose(f);
        int k = p->ntask++;
        p->tid[k] = tid;
        p->tvcs[k] = v;
        p->comm[k][0] = '\0';
        snprintf(path, sizeof path, "/proc/%d/task/%d/schedstat", (int)pid, tid);
        if ((f = fopen(path, "r")) != NULL) {
            unsigned long long ns = 0;
            if (fscanf(f, "%llu", &ns) == 1) {
                p->run_s += (double)ns / 1e9;
                p->trun[k] = (double)ns / 1e9;
            }
            fclose(f);
        }
        snprintf(path, sizeof path, "/proc/%d/task/%d/comm", (int)pid, tid);
        if ((f = fopen(path, "r")) != NULL) {
            if (fgets(p->comm[k], sizeof p->comm[k], f))
                p->comm[k][strcspn(p->comm[k], "\n")] = '\0';
            fclose(f);
        }
        p->vcs += v;
        p->nvcs += nv;
    }
    closedir(d);
    return 0;
}

/* ------------------------------------------------------------------------
 * Request ids and replies: "<tag>.<phase>.<index>", counted per id.
 * ------------------------------------------------------------------------ */
typedef struct tracker {
    int n;
    atomic_int *count;  /* replies per request */
    double *arrival;    /* first reply's arrival (now_s) */
    double *arrival_rt; /* the same on the wall clock (Docker's events' clock) */
    char **container;   /* the reply's result.container.id, when kept */
    int keep_container; /* keep it */
    pthread_mutex_t mu; /* arrival, container, last, bytes */
    double last;        /* latest first-reply arrival */
    size_t bytes;       /* the first replies' bodies, summed */
} tracker;

static tracker *g_tr[MAX_PHASES];
static int g_ntr;
static pthread_mutex_t g_tr_mu = PTHREAD_MUTEX_INITIALIZER;

/* A new tracker of n requests, registered for the whole run (never freed
 * before exit); its phase number in *phase.  NULL without memory. */
static tracker *tracker_new(int n, int *phase)
{
    tracker *t = calloc(1, sizeof *t);
    if (t == NULL)
        return NULL;
    t->n = n;
    t->count = calloc((size_t)n, sizeof *t->count);
    t->arrival = calloc((size_t)n, sizeof *t->arrival);
    t->arrival_rt = calloc((size_t)n, sizeof *t->arrival_rt);
    t->container = calloc((size_t)n, sizeof *t->container);
    pthread_mutex_init(&t->mu, NULL);
    pthread_mutex_lock(&g_tr_mu);
    if (t->count == NULL || t->arrival == NULL || t->arrival_rt == NULL || t->container == NULL ||
        g_ntr >= MAX_PHASES) {
        pthread_mutex_unlock(&g_tr_mu);
        free(t->count);
        free(t->arrival);
        free(t->arrival_rt);
        free(t->container);
        free(t);
        return NULL;
    }
    *phase = g_ntr;
    g_tr[g_ntr++] = t;
    pthread_mutex_unlock(&g_tr_mu);
    return t;
}

static void request_id(char *buf, size_t len, int phase, int i)
{
    snprintf(buf, len, "%s.%d.%d", G.tag, phase, i);
}

/* Counts reply d against its request.  Returns the tracker and sets *idx
 * when it is the request's first reply; NULL for a later one (counted) or
 * a stranger.  Error replies count as failures. */
static tracker *reply_count(const broker_delivery *d, int *idx)
{
    size_t tl = strlen(G.tag);
    const char *cid = d->correlation_id;
    if (cid == NULL || strncmp(cid, G.tag, tl) != 0 || cid[tl] != '.')
        return NULL;
    char *end = NULL;
    long phase = strtol(cid + tl + 1, &end, 10);
    if (*end != '.')
        return NULL;
    long i = strtol(end + 1, &end, 10);
    pthread_mutex_lock(&g_tr_mu);
    tracker *t = phase >= 0 && phase < g_ntr ? g_tr[phase] : NULL;
    pthread_mutex_unlock(&g_tr_mu);
    if (t == NULL || *end != '\0' || i < 0 || i >= t->n)
        return NULL;
    double at = now_s(), at_rt = now_rt();
    if (atomic_fetch_add(&t->count[i], 1) != 0)
        return NULL;
    json_t *r = json_loadb((const char *)d->body, d->len, 0, NULL);
    if (r == NULL || !json_is_true(json_object_get(r, "ok"))) {
        atomic_fetch_add(&g_failed, 1);
        complain("error reply", d->body ? (const char *)d->body : "");
    }
    pthread_mutex_lock(&t->mu);
    t->arrival[i] = at;
    t->arrival_rt[i] = at_rt;
    t->bytes += d->len;
    if (at > t->last)
        t->last = at;
    if (t->keep_container) {
        const char *id = json_string_value(
            json_object_get(json_object_get(json_object_get(r, "result"), "container"), "id"));
        if (id != NULL)
            t->container[i] = strdup(id);
    }
    pthread_mutex_unlock(&t->mu);
    json_decref(r);
    *idx = (int)i;
    return t;
}

/* Adds t's requests never answered and answered twice to the totals;
 * returns how many were not answered exactly once. */
static int tracker_check(const tracker *t, const char *what)
{
    int lost = 0, twice = 0;
    for (int i = 0; i < t->n; i++) {
        int c = atomic_load(&t->count[i]);
        lost += c == 0;
        twice += c > 1;
    }
    atomic_fetch_add(&g_lost, lost);
    atomic_fetch_add(&g_twice, twice);
    if (lost || twice)
        fprintf(stderr, "bench_perf: %s: %d requests never answered, %d answered more than once\n",
                what, lost, twice);
    return lost + twice;
}

/* ------------------------------------------------------------------------
 * AMQP clients (client role on the private queue, direct reply-to).
 * ------------------------------------------------------------------------ */
static broker *client_open(void)
{
    broker_conf bc;
    broker_conf_init(&bc);
    bc.url = G.amqp;
    bc.queue = G.queue; /* so that topology_delete names only our own */
    bc.role = BROKER_ROLE_CLIENT;
    bc.heartbeat = 0; /* idle for minutes while raw phases run */
    broker *b = NULL;
    char *cause = NULL;
    int rc = broker_open(&bc, &b, &cause);
    if (rc != 0) {
        fprintf(stderr, "bench_perf: broker: %s\n", cause ? cause : broker_strerror(rc));
        free(cause);
        return NULL;
    }
    if (broker_rpc_begin(b) != 0) {
        fprintf(stderr, "bench_perf: direct reply-to: %s\n", broker_error(b));
        broker_free(b);
        return NULL;
    }
    return b;
}

typedef struct pool {
    broker *b[MAX_CLIENTS];
    int n;
} pool;

static int pool_open(pool *p, int n)
{
    memset(p, 0, sizeof *p);
    for (int i = 0; i < n; i++) {
        if ((p->b[i] = client_open()) == NULL)
            return -1;
        p->n++;
    }
    return 0;
}

/* Listens on every connection for GRACE_S, counting what comes (a second
 * answer to anything already answered), then closes them. */
static void pool_close(pool *p)
{
    for (double t0 = now_s(); p->n > 0 && now_s() - t0 < GRACE_S;) {
        for (int i = 0; i < p->n; i++) {
            broker_delivery d = {0};
            int idx;
            if (broker_poll(p->b[i], 50 / p->n + 1, &d) == 1 && d.source == BROKER_SRC_REPLY)
                reply_count(&d, &idx);
            broker_delivery_cleanup(&d);
        }
    }
    for (int i = 0; i < p->n; i++)
        broker_free(p->b[i]);
    p->n = 0;
}

/* Waits up to 20 s for queue to have a consumer, which process *pid
 * (who, for messages) is to be; sets *pid to -1 when it exited. */
static int wait_consumer(broker *b, const char *queue, pid_t *pid, const char *who)
{
    for (int i = 0; i < 200 && !g_stop; i++) {
        uint32_t consumers = 0;
        if (broker_queue_counts(b, queue, NULL, &consumers) == 0 && consumers > 0)
            return 0;
        if (*pid > 0 && waitpid(*pid, NULL, WNOHANG) == *pid) {
            *pid = -1;
            fprintf(stderr, "bench_perf: %s exited at start\n", who);
            return -1;
        }
        usleep(100 * 1000);
    }
    fprintf(stderr, "bench_perf: %s never started consuming %s\n", who, queue);
    return -1;
}

/* Waits up to 20 s for the private queue to have a consumer. */
static int wait_consuming(broker *b)
{
    return wait_consumer(b, G.queue, &g_disp, G.bin);
}

/* Publishes request rid of kind (arg: its container) to queue (NULL: the
 * private queue) and waits for its confirm; echo_bytes > 0 asks
 * bench/rpc_echo for a reply of that length (header x-echo-bytes). */
static int publish(broker *b, int kind, const char *arg, const char *queue, int echo_bytes,
                   const char *rid)
{
    char body[768];
    const char *opts_common = "\"NetworkMode\":\"none\",\"Labels\":{\"" RUN_LABEL "\":";
    switch (kind) {
    case K_RUN:
        snprintf(body, sizeof body,
                 "{\"Dockercmd\":\"run\",\"Image\":\"%s\",\"Cmd\":[\"true\"],"
                 "\"Options\":{\"Remove\":true,%s\"%s\"}}}",
                 G.image, opts_common, G.tag);
        break;
    case K_RUN_DETACHED:
    case K_RUN_ATTACHED:
        snprintf(body, sizeof body,
                 "{\"Dockercmd\":\"run\",\"Image\":\"%s\",\"Cmd\":[\"sleep\",\"3600\"],"
                 "\"Options\":{%s%s\"%s\"}}}",
                 G.image, kind == K_RUN_ATTACHED ? "\"Attach\":[\"STDOUT\",\"STDERR\"]," : "",
                 opts_common, G.tag);
        break;
    case K_PING:
        snprintf(body, sizeof body, "{\"Dockercmd\":\"ping\"}");
        break;
    case K_INSPECT:
        snprintf(body, sizeof body, "{\"Dockercmd\":\"inspect\",\"Container\":\"%s\"}", arg);
        break;
    default:
        snprintf(body, sizeof body, "{\"Dockercmd\":\"list\"}");
        break;
    }
    broker_props p = {.content_type = "application/json",
                      .correlation_id = rid,
                      .message_id = rid,
                      .reply_to = BROKER_REPLY_TO,
                      .persistent = 1};
    char size[16];
    broker_header h = {"x-echo-bytes", size};
    if (echo_bytes > 0) {
        snprintf(size, sizeof size, "%d", echo_bytes);
        p.headers = &h;
        p.n_headers = 1;
    }
    int rc = broker_publish(b, "", queue ? queue : G.queue, &p, body, strlen(body),
                            BROKER_PUBLISH_MANDATORY);
    if (rc != 0) {
        atomic_fetch_add(&g_failed, 1);
        complain("publish", broker_error(b));
    }
    return rc;
}

/* ------------------------------------------------------------------------
 * The dispatcher side of a phase: n requests of one kind over the pool's
 * connections, conc in flight in all.
 * ------------------------------------------------------------------------ */
enum load_mode { L_SEND_WAIT, L_SEND, L_WAIT };

typedef struct load {
    tracker *t;
    int phase, n, kind, mode;
    const char *arg;
    const char *queue; /* NULL: the dispatcher's private queue */
    int echo_bytes;    /* > 0: bench/rpc_echo's reply length */
    atomic_int next;
    atomic_int done;
    atomic_int broken; /* a connection failed: the phase cannot finish */
    double deadline;
} load;

typedef struct load_thread {
    load *l;
    broker *b;
    int conc;
    pthread_t th;
} load_thread;

static int load_send_one(load_thread *lt)
{
    load *l = lt->l;
    int i = atomic_fetch_add(&l->next, 1);
    if (i >= l->n)
        return 0;
    char rid[128];
    request_id(rid, sizeof rid, l->phase, i);
    if (publish(lt->b, l->kind, l->arg, l->queue, l->echo_bytes, rid) != 0)
        atomic_store(&l->broken, 1);
    return 1;
}

static void *load_main(void *arg)
{
    load_thread *lt = arg;
    load *l = lt->l;
    int inflight = 0;
    if (l->mode == L_SEND) {
        while (!g_stop && !atomic_load(&l->broken) && load_send_one(lt))
            ;
        return NULL;
    }
    if (l->mode == L_SEND_WAIT)
        while (inflight < lt->conc && load_send_one(lt))
            inflight++;
    while (atomic_load(&l->done) < l->n && !g_stop && !atomic_load(&l->broken) &&
           now_s() < l->deadline) {
        broker_delivery d = {0};
        int rc = broker_poll(lt->b, 100, &d);
        if (rc < 0) {
            complain("broker", broker_error(lt->b));
            atomic_store(&l->broken, 1);
            break;
        }
        if (rc == 1 && d.source == BROKER_SRC_REPLY) {
            int idx;
            tracker *t = reply_count(&d, &idx);
            if (t == l->t) {
                atomic_fetch_add(&l->done, 1);
                if (l->mode == L_SEND_WAIT && load_send_one(lt) == 0)
                    inflight--;
            }
        }
        broker_delivery_cleanup(&d);
    }
    return NULL;
}

/* Runs the load on p: conc in flight split over min(conc, p->n)
 * connections.  Returns the seconds from the start to the last first
 * reply (L_SEND: to the last confirm), or -1 when not every request was
 * answered in time (timeout_s) or a connection failed. */
static double load_run(pool *p, load *l, int conc, double timeout_s)
{
    load_thread lt[MAX_CLIENTS];
    int nt = p->n < conc ? p->n : conc;
    if (l->mode != L_SEND_WAIT)
        nt = p->n;
    double t0 = now_s();
    l->deadline = t0 + timeout_s;
    for (int i = 0; i < nt; i++) {
        lt[i] = (load_thread){.l = l, .b = p->b[i], .conc = conc / nt + (i < conc % nt)};
        pthread_create(&lt[i].th, NULL, load_main, &lt[i]);
    }
    for (int i = 0; i < nt; i++)
        pthread_join(lt[i].th, NULL);
    if (l->mode == L_SEND)
        return atomic_load(&l->broken) ? -1 : now_s() - t0;
    if (atomic_load(&l->done) < l->n || atomic_load(&l->broken)) {
        fprintf(stderr, "bench_perf: %d of %d replies came in time\n", atomic_load(&l->done), l->n);
        return -1;
    }
    return l->t->last - t0;
}

/* Where a phase's requests go other than to the dispatcher: a queue
 * bench/rpc_echo consumes, and the length of the reply it is to give. */
typedef struct echo_to {
    const char *queue;
    int bytes;
} echo_to;

/* A phase of n requests of kind through the dispatcher (to NULL) or to
 * the echo, conc in flight; its tracker in *tout (may be NULL).  Seconds,
 * or -1. */
static double queue_phase(pool *p, const echo_to *to, int kind, const char *arg, int n, int conc,
                          tracker **tout)
{
    load l = {.n = n, .kind = kind, .arg = arg, .mode = L_SEND_WAIT};
    if (to != NULL) {
        l.queue = to->queue;
        l.echo_bytes = to->bytes;
    }
    l.t = tracker_new(n, &l.phase);
    if (l.t == NULL)
        return -1;
    if (tout)
        *tout = l.t;
    return load_run(p, &l, conc, 120.0 + 10.0 * n / conc);
}

/* queue_phase() through the dispatcher. */
static double disp_phase(pool *p, int kind, const char *arg, int n, int conc, tracker **tout)
{
    return queue_phase(p, NULL, kind, arg, n, conc, tout);
}

/* ------------------------------------------------------------------------
 * The raw side: conc threads, each with its own Engine API client.
 * ------------------------------------------------------------------------ */
typedef struct raw_load {
    int kind, n;
    const char *arg;
    atomic_int next;
} raw_load;

static void raw_fail(dkc_client *c, const char *what, int rc)
{
    atomic_fetch_add(&g_failed, 1);
    char msg[400];
    snprintf(msg, sizeof msg, "%s: %s (%s)", what, dkc_strerror(rc),
             dkc_client_last_error(c)->message);
    complain("raw", msg);
}

static void *raw_main(void *arg)
{
    raw_load *r = arg;
    dkc_client *c = NULL;
    const char *cmd[] = {"true", NULL};
    char lab[160];
    snprintf(lab, sizeof lab, "%s", G.label);
    const char *labels[] = {lab, NULL};
    if (dkc_client_new(NULL, &c, NULL, 0) != 0) {
        atomic_fetch_add(&g_failed, 1);
        return NULL;
    }
    while (!g_stop && atomic_fetch_add(&r->next, 1) < r->n) {
        int rc = 0;
        json_t *out = NULL;
        if (r->kind == K_RUN) {
            dkc_container_config cfg = {
                .image = G.image, .cmd = cmd, .labels = labels, .network_mode = "none"};
            char *id = NULL;
            int64_t code = -1;
            if ((rc = dkc_container_create(c, NULL, &cfg, &id, NULL)) != 0 ||
                (rc = dkc_container_start(c, id)) != 0 ||
                (rc = dkc_container_wait(c, id, NULL, &code, NULL)) != 0 || code != 0)
                raw_fail(c, "lifecycle", rc);
            if (id != NULL && (rc = dkc_container_remove(c, id, true, false)) != 0)
                raw_fail(c, "remove", rc);
            free(id);
        } else if (r->kind == K_PING) {
            if ((rc = dkc_ping(c)) != 0)
                raw_fail(c, "ping", rc);
        } else if (r->kind == K_INSPECT) {
            if ((rc = dkc_container_inspect(c, r->arg, &out)) != 0)
                raw_fail(c, "inspect", rc);
        } else {
            if ((rc = dkc_container_list(c, NULL, &out)) != 0)
                raw_fail(c, "list", rc);
        }
        json_decref(out);
    }
    dkc_client_free(c);
    return NULL;
}

/* n raw calls of kind on conc threads; the seconds taken. */
static double raw_phase(int kind, const char *arg, int n, int conc)
{
    pthread_t th[MAX_CONC];
    raw_load r = {.kind = kind, .n = n, .arg = arg};
    if (conc > MAX_CONC)
        conc = MAX_CONC;
    double t0 = now_s();
    for (int i = 0; i < conc; i++)
        pthread_create(&th[i], NULL, raw_main, &r);
    for (int i = 0; i < conc; i++)
        pthread_join(th[i], NULL);
    return now_s() - t0;
}

/* ------------------------------------------------------------------------
 * Docker's own record of our containers: `create` events counted per
 * request id (io.docker-dispatch.request), or the time of each
 * container's first `die` (time_nano, by container id).
 * ------------------------------------------------------------------------ */
typedef struct watcher {
    dkc_client *c;
    pthread_t th;
    pthread_mutex_t mu;
    const char *action; /* "create" or "die" */
    json_t *count;      /* create: request id -> creates; die: id -> time_nano */
    int rc;
    int64_t since;
} watcher;

static int on_event(void *ud, const dkc_event *ev)
{
    watcher *w = ud;
    if (strcmp(ev->action, w->action) != 0)
        return 0;
    pthread_mutex_lock(&w->mu);
    if (!strcmp(w->action, "die")) {
        if (json_object_get(w->count, ev->id) == NULL)
            json_object_set_new(w->count, ev->id, json_integer(ev->time_nano));
    } else {
        const char *rid = json_string_value(json_object_get(ev->attributes, REQ_LABEL));
        if (rid != NULL) {
            json_int_t k = json_integer_value(json_object_get(w->count, rid));
            json_object_set_new(w->count, rid, json_integer(k + 1));
        }
    }
    pthread_mutex_unlock(&w->mu);
    return 0;
}

static void *watch_main(void *arg)
{
    watcher *w = arg;
    char lab[160];
    snprintf(lab, sizeof lab, "%s", G.label);
    json_t *f =
        json_pack("{s:[s], s:[s], s:[s]}", "type", "container", "event", w->action, "label", lab);
    dkc_events_opts o = {.since = w->since, .filters = f};
    w->rc = dkc_events(w->c, &o, on_event, w);
    json_decref(f);
    return NULL;
}

static int watcher_start(watcher *w, const char *action)
{
    memset(w, 0, sizeof *w);
    pthread_mutex_init(&w->mu, NULL);
    w->action = action;
    w->count = json_object();
    w->since = (int64_t)time(NULL) - 1; /* the stream may open after the first event */
    if (w->count == NULL || dkc_client_new(NULL, &w->c, NULL, 0) != 0)
        return -1;
    return pthread_create(&w->th, NULL, watch_main, w);
}

/* Stops the watcher (after a second for the last events to come in) and
 * checks that every request of t made exactly one container. */
static void watcher_stop(watcher *w)
{
    usleep(1000 * 1000);
    dkc_client_cancel(w->c);
    pthread_join(w->th, NULL);
    dkc_client_free(w->c);
    w->c = NULL;
}

static int watcher_check(watcher *w, const tracker *t, int phase, const char *what)
{
    int bad = 0;
    if (w->rc != DKC_ECANCELED) {
        fprintf(stderr, "bench_perf: %s: Docker's event stream failed: %s\n", what,
                dkc_strerror(w->rc));
        atomic_fetch_add(&g_bad_create, t->n);
        return t->n;
    }
    for (int i = 0; i < t->n; i++) {
        char rid[128];
        request_id(rid, sizeof rid, phase, i);
        if (json_integer_value(json_object_get(w->count, rid)) != 1)
            bad++;
    }
    if (bad)
        fprintf(stderr, "bench_perf: %s: %d requests made other than one container\n", what, bad);
    atomic_fetch_add(&g_bad_create, bad);
    return bad;
}

/* ------------------------------------------------------------------------
 * Cleanup: our containers by label, our queues and exchanges by name.
 * ------------------------------------------------------------------------ */

/* Ids of the containers carrying label (all states); NULL on failure. */
static json_t *list_labelled(dkc_client *c, const char *label, const char *label2,
                             const char *status)
{
    json_t *f = label2 ? json_pack("{s:[s,s]}", "label", label, label2)
                       : json_pack("{s:[s]}", "label", label);
    if (status)
        json_object_set_new(f, "status", json_pack("[s]", status));
    json_t *list = NULL;
    dkc_list_opts lo = {.all = true, .filters = f};
    int rc = dkc_container_list(c, &lo, &list);
    json_decref(f);
    return rc == 0 ? list : NULL;
}

/* Removes every container of ours; the count left afterwards (-1: the
 * Engine could not be asked). */
static long remove_ours(void)
{
    dkc_client *c = NULL;
    if (dkc_client_new(NULL, &c, NULL, 0) != 0)
        return -1;
    char node_l[160], cluster_l[160];
    snprintf(node_l, sizeof node_l, "io.docker-dispatch.node=%s", G.node);
    snprintf(cluster_l, sizeof cluster_l, "io.docker-dispatch.cluster=%s", G.queue);
    long left = -1;
    for (int pass = 0; pass < 3; pass++) {
        json_t *a = list_labelled(c, G.label, NULL, NULL);
        json_t *b = list_labelled(c, node_l, cluster_l, NULL);
        size_t i;
        json_t *v;
        left = (long)json_array_size(a) + (long)json_array_size(b);
        json_array_foreach(a, i, v)
            dkc_container_remove(c, json_string_value(json_object_get(v, "Id")), true, false);
        json_array_foreach(b, i, v)
            dkc_container_remove(c, json_string_value(json_object_get(v, "Id")), true, false);
        json_decref(a);
        json_decref(b);
        if (left == 0)
            break;
    }
    dkc_client_free(c);
    return left;
}

static void delete_queues(void)
{
    broker *b = client_open();
    if (b == NULL)
        return;
    char nodeq[256];
    snprintf(nodeq, sizeof nodeq, "%s.node.%s", G.queue, G.node);
    broker_topology_delete(b);
    broker_queue_delete(b, nodeq);
    broker_free(b);
}

/* A struct timeval in seconds. */
static double tv_s(const struct timeval *tv)
{
    return (double)tv->tv_sec + (double)tv->tv_usec / 1e6;
}

/* CPU time (s) of the processes a command passes through: RabbitMQ
 * (every beam.smp), dockerd (every one), the dispatcher, this process;
 * and of the whole machine (/proc/stat: every CPU's busy time, which takes
 * in containerd, runc and the kernel's work for them). */
enum { CPU_RABBIT, CPU_DOCKERD, CPU_DISP, CPU_ECHO, CPU_SELF, CPU_ALL, CPU_N };
static void cpu_sample(double out[CPU_N])
{
    memset(out, 0, CPU_N * sizeof out[0]);
    FILE *st = fopen("/proc/stat", "r");
    unsigned long long v[8] = {0};
    if (st != NULL && fscanf(st, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2],
                             &v[3], &v[4], &v[5], &v[6], &v[7]) == 8)
        /* user nice system (idle iowait) irq softirq steal */
        out[CPU_ALL] =
            (double)(v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / (double)sysconf(_SC_CLK_TCK);
    if (st != NULL)
        fclose(st);
    DIR *d = opendir("/proc");
    struct dirent *de;
    while (d && (de = readdir(d)) != NULL) {
        if (de->d_name[0] < '0' || de->d_name[0] > '9')
            continue;
        char path[300], comm[32] = "";
        snprintf(path, sizeof path, "/proc/%s/comm", de->d_name);
        FILE *f = fopen(path, "r");
        if (f == NULL)
            continue;
        if (fgets(comm, sizeof comm, f))
            comm[strcspn(comm, "\n")] = '\0';
        fclose(f);
        if (!strcmp(comm, "beam.smp"))
            out[CPU_RABBIT] += fmax(0, pid_cpu(de->d_name));
        else if (!strcmp(comm, "dockerd"))
            out[CPU_DOCKERD] += fmax(0, pid_cpu(de->d_name));
    }
    if (d)
        closedir(d);
    char me[32];
    if (g_disp > 0) {
        snprintf(me, sizeof me, "%d", (int)g_disp);
        out[CPU_DISP] = fmax(0, pid_cpu(me));
    }
    if (g_echo > 0) {
        snprintf(me, sizeof me, "%d", (int)g_echo);
        out[CPU_ECHO] = fmax(0, pid_cpu(me));
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    out[CPU_SELF] = tv_s(&ru.ru_utime) + tv_s(&ru.ru_stime);
}

/* acc += b - a */
static void cpu_add(double acc[CPU_N], const double a[CPU_N], const double b[CPU_N])
{
    for (int i = 0; i < CPU_N; i++)
        acc[i] += b[i] - a[i];
}

/* raw_phase() and queue_phase() with the CPU they cost added to acc. */
static double raw_phase_cpu(int kind, const char *arg, int n, int conc, double acc[CPU_N])
{
    double a[CPU_N], z[CPU_N];
    cpu_sample(a);
    double t = raw_phase(kind, arg, n, conc);
    cpu_sample(z);
    cpu_add(acc, a, z);
    return t;
}

static double queue_phase_cpu(pool *p, const echo_to *to, int kind, const char *arg, int n,
                              int conc, tracker **tout, double acc[CPU_N])
{
    double a[CPU_N], z[CPU_N];
    cpu_sample(a);
    double t = queue_phase(p, to, kind, arg, n, conc, tout);
    cpu_sample(z);
    cpu_add(acc, a, z);
    return t;
}

/* ------------------------------------------------------------------------
 * Sections.
 * ------------------------------------------------------------------------ */
/* Alternating rounds of `run`s at concurrency conc; adds a row. */
static int runs_at(pool *p, int conc, int n)
{
    int rounds = G.rounds > n ? n : G.rounds;
    double ratios[MAX_ROUNDS], raw = 0, disp = 0;
    double cpu_raw[CPU_N] = {0}, cpu_disp[CPU_N] = {0};
    int done = 0;
    for (int r = 0; r < rounds && !g_stop; r++) {
        int count = n / rounds + (r < n % rounds);
        double tr = 0, td = 0;
        tracker *t = NULL;
        if (r % 2 == 0)
            tr = raw_phase_cpu(K_RUN, NULL, count, conc, cpu_raw);
        td = queue_phase_cpu(p, NULL, K_RUN, NULL, count, conc, &t, cpu_disp);
        if (r % 2 == 1)
            tr = raw_phase_cpu(K_RUN, NULL, count, conc, cpu_raw);
        if (td < 0 || t == NULL)
            return -1;
        raw += tr;
        disp += td;
        ratios[done++] = td / tr;
        printf("  runs c=%d round %d (%d each, %s first): raw %.2f s, dispatcher %.2f s, "
               "ratio %.3f\n",
               conc, r + 1, count, r % 2 == 0 ? "raw" : "dispatcher", tr, td, td / tr);
        fflush(stdout);
    }
    if (done == 0)
        return -1;
    /* where a run's CPU goes on either side (ms per run): at 16 in flight
     * the machine is saturated, and whatever a dispatched run costs beyond
     * the raw one comes out of Docker's time */
    double k = 1000.0 / n;
    printf("  run c=%d, CPU ms per run: raw: machine %.1f (dockerd %.1f, client %.1f); "
           "dispatcher: machine %.1f (RabbitMQ %.1f, dockerd %.1f, dispatcher %.1f, client %.1f)\n",
           conc, cpu_raw[CPU_ALL] * k, cpu_raw[CPU_DOCKERD] * k, cpu_raw[CPU_SELF] * k,
           cpu_disp[CPU_ALL] * k, cpu_disp[CPU_RABBIT] * k, cpu_disp[CPU_DOCKERD] * k,
           cpu_disp[CPU_DISP] * k, cpu_disp[CPU_SELF] * k);
    double m = median(ratios, done);
    char fig[80], a[40], b[40], c[24];
    snprintf(fig, sizeof fig, "run c=%d (ms per run, wall / n)", conc);
    snprintf(a, sizeof a, "%.1f", raw * 1000 / n);
    snprintf(b, sizeof b, "%.1f", disp * 1000 / n);
    snprintf(c, sizeof c, "%.3f", m);
    row_add(fig, a, b, c, "time <= 1.03x", m <= 1.03);
    return 0;
}

static int section_runs(void)
{
    static const int concs[] = {1, 4, 16};
    pool p;
    watcher w;
    int rc = 0, first_phase = g_ntr;
    printf("== runs: `run` lifecycles, busybox true with Remove, at concurrency 1, 4, 16\n");
    if (disp_start(16, 16) < 0 || pool_open(&p, G.clients) != 0 || wait_consuming(p.b[0]) != 0)
        return -1;
    if (watcher_start(&w, "create") != 0)
        return -1;
    for (size_t i = 0; i < sizeof concs / sizeof concs[0] && rc == 0 && !g_stop; i++) {
        /* each round at least one wave of conc on each side */
        int per_round =
            G.quick ? (concs[i] < 2 ? 2 : concs[i]) : (3 * concs[i] < 6 ? 6 : 3 * concs[i]);
        int n = G.runs_n > 0 ? G.runs_n : per_round * G.rounds;
        rc = runs_at(&p, concs[i], n);
    }
    pool_close(&p);
    watcher_stop(&w);
    for (int ph = first_phase; ph < g_ntr; ph++) {
        tracker_check(g_tr[ph], "runs");
        watcher_check(&w, g_tr[ph], ph, "runs");
    }
    json_decref(w.count);
    int st = disp_stop();
    if (st != 0)
        fprintf(stderr, "bench_perf: the dispatcher exited with %d\n", st);
    return rc;
}

/* Prints what a command cost each process on every side (ms of CPU per
 * 1000 commands) and the rate the machine's CPUs allow at that cost: a
 * command through the dispatcher (or the echo) passes through RabbitMQ
 * twice.  echo is NULL when there was no echo side. */
static void print_cpu_per_command(const char *name, const double raw[CPU_N],
                                  const double disp[CPU_N], const double echo[CPU_N], int n)
{
    double k = 1000.0 / n * 1000.0; /* s over n -> ms per 1000 */
    double rs = (raw[CPU_DOCKERD] + raw[CPU_SELF]) * k;
    double ds = (disp[CPU_RABBIT] + disp[CPU_DOCKERD] + disp[CPU_DISP] + disp[CPU_SELF]) * k;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    printf("  %s, CPU ms per 1000 commands: raw: dockerd %.0f, client %.0f (sum %.0f: at most "
           "%.0f/s on %ld CPUs); dispatcher: RabbitMQ %.0f, dockerd %.0f, dispatcher %.0f, "
           "client %.0f (sum %.0f: at most %.0f/s)",
           name, raw[CPU_DOCKERD] * k, raw[CPU_SELF] * k, rs, rs > 0 ? cpus * 1e6 / rs : 0.0, cpus,
           disp[CPU_RABBIT] * k, disp[CPU_DOCKERD] * k, disp[CPU_DISP] * k, disp[CPU_SELF] * k, ds,
           ds > 0 ? cpus * 1e6 / ds : 0.0);
    if (echo != NULL) {
        double es = (echo[CPU_RABBIT] + echo[CPU_ECHO] + echo[CPU_SELF]) * k;
        printf("; echo: RabbitMQ %.0f, echo %.0f, client %.0f (sum %.0f: at most %.0f/s)",
               echo[CPU_RABBIT] * k, echo[CPU_ECHO] * k, echo[CPU_SELF] * k, es,
               es > 0 ? cpus * 1e6 / es : 0.0);
    }
    printf("\n");
}

/* The sides of a control comparison, and what its rounds gather. */
enum { SIDE_RAW, SIDE_ECHO, SIDE_DISP, SIDES };

typedef struct control_acc {
    double t[SIDES];                                /* seconds, summed over the rounds */
    double cpu[SIDES][CPU_N];                       /* CPU, summed over the rounds */
    double vs_raw[MAX_ROUNDS], vs_echo[MAX_ROUNDS]; /* the dispatcher's rate / the other's */
    int done;
} control_acc;

/* One side of a control round: count commands of kind; seconds, or -1. */
static double control_side(pool *p, int side, const echo_to *echo, int kind, const char *arg,
                           int count, control_acc *a)
{
    int conc = G.control_conc;
    if (side == SIDE_RAW)
        return raw_phase_cpu(kind, arg, count, conc, a->cpu[SIDE_RAW]);
    if (side == SIDE_ECHO && echo == NULL)
        return 0;
    return queue_phase_cpu(p, side == SIDE_ECHO ? echo : NULL, kind, arg, count, conc, NULL,
                           a->cpu[side]);
}

/* Round r of a control comparison: raw, echo, dispatcher in odd rounds,
 * the other way round in even ones, so that each pair alternates which
 * goes first.  Prints it; 0, or -1 when a side failed. */
static int control_round(pool *p, const echo_to *echo, int kind, const char *arg, const char *name,
                         int r, control_acc *a)
{
    int count = G.control_n / G.rounds + (r < G.control_n % G.rounds);
    double t[SIDES];
    for (int i = 0; i < SIDES && !g_stop; i++) {
        int side = r % 2 == 0 ? i : SIDES - 1 - i;
        if ((t[side] = control_side(p, side, echo, kind, arg, count, a)) < 0)
            return -1;
    }
    if (g_stop || t[SIDE_DISP] <= 0)
        return -1;
    for (int i = 0; i < SIDES; i++)
        a->t[i] += t[i];
    a->vs_raw[a->done] = t[SIDE_RAW] / t[SIDE_DISP];
    a->vs_echo[a->done] = echo ? t[SIDE_ECHO] / t[SIDE_DISP] : NAN;
    a->done++;
    printf("  %s round %d (%d each, %s first): raw %.0f/s, ", name, r + 1, count,
           r % 2 == 0 ? "raw" : "dispatcher", count / t[SIDE_RAW]);
    if (echo)
        printf("echo %.0f/s, ", count / t[SIDE_ECHO]);
    printf("dispatcher %.0f/s, ratio %.3f", count / t[SIDE_DISP], t[SIDE_RAW] / t[SIDE_DISP]);
    if (echo)
        printf(", to the echo %.3f", t[SIDE_ECHO] / t[SIDE_DISP]);
    printf("\n");
    fflush(stdout);
    return 0;
}

/* One control command in alternating rounds against the raw Engine API
 * and, with echo_q, bench/rpc_echo consuming echo_q; adds its rows.  A
 * first wave through the dispatcher warms it up and gives the length of
 * its reply, which the echo then answers with. */
static int control_one(pool *p, int kind, const char *arg, const char *name, int with_target,
                       const char *echo_q)
{
    int n = G.control_n, conc = G.control_conc;
    control_acc a = {0};
    tracker *probe = NULL;
    if (disp_phase(p, kind, arg, conc, conc, &probe) < 0)
        return -1;
    echo_to to = {.queue = echo_q, .bytes = (int)(probe->bytes / (size_t)conc)};
    if (echo_q != NULL) {
        printf("  %s: the dispatcher's reply is %d bytes, and so is the echo's\n", name, to.bytes);
        if (queue_phase(p, &to, kind, arg, conc, conc, NULL) < 0) /* its warm-up */
            return -1;
    }
    for (int r = 0; r < G.rounds && !g_stop; r++)
        if (control_round(p, echo_q ? &to : NULL, kind, arg, name, r, &a) != 0)
            return -1;
    if (a.done == 0)
        return -1;
    print_cpu_per_command(name, a.cpu[SIDE_RAW], a.cpu[SIDE_DISP], echo_q ? a.cpu[SIDE_ECHO] : NULL,
                          n);
    char fig[96], ra[40], rd[40], rr[24];
    double m = median(a.vs_raw, a.done);
    snprintf(fig, sizeof fig, "%s, %d in flight (commands/s)", name, conc);
    snprintf(ra, sizeof ra, "%.0f", n / a.t[SIDE_RAW]);
    snprintf(rd, sizeof rd, "%.0f", n / a.t[SIDE_DISP]);
    snprintf(rr, sizeof rr, "%.3f", m);
    row_add(fig, ra, rd, rr, with_target ? "rate >= 0.8x" : "-", with_target ? m >= 0.8 : -1);
    if (echo_q == NULL)
        return 0;
    m = median(a.vs_echo, a.done);
    snprintf(fig, sizeof fig, "%s against the echo (raw: the echo's commands/s)", name);
    snprintf(ra, sizeof ra, "%.0f", n / a.t[SIDE_ECHO]);
    snprintf(rr, sizeof rr, "%.3f", m);
    row_add(fig, ra, rd, rr, "rate >= 0.9x", m >= 0.9);
    return 0;
}

/* The names of a private queue of its own: G.queue and G.node with
 * suffix, the previous ones kept in *save; with suffix NULL, back to
 * *save. */
typedef struct queue_names {
    char queue[sizeof G.queue], node[sizeof G.node];
} queue_names;

static void names_use(queue_names *save, const char *suffix)
{
    if (suffix == NULL) {
        snprintf(G.queue, sizeof G.queue, "%s", save->queue);
        snprintf(G.node, sizeof G.node, "%s", save->node);
        return;
    }
    snprintf(save->queue, sizeof save->queue, "%s", G.queue);
    snprintf(save->node, sizeof save->node, "%s", G.node);
    snprintf(G.queue, sizeof G.queue, "%.60s%s", save->queue, suffix);
    snprintf(G.node, sizeof G.node, "%.70s%s", save->node, suffix);
}

/* Starts bench/rpc_echo on the private queue <queue>-echo, its name in
 * queue.  A dispatcher declares that queue first and is stopped, so the
 * echo's own declaration (and this) fails when the echo's arguments are
 * no longer the dispatcher's.  0 or -1. */
static int echo_open(char *queue, size_t len)
{
    queue_names save;
    names_use(&save, "-echo");
    snprintf(queue, len, "%s", G.queue);
    broker *b = NULL;
    int rc = -1;
    if (disp_start(16, 16) >= 0 && (b = client_open()) != NULL && wait_consuming(b) == 0) {
        disp_stop();
        if (echo_start(queue, 16) > 0 && wait_consumer(b, queue, &g_echo, "bench/rpc_echo") == 0)
            rc = 0;
    }
    broker_free(b);
    disp_stop();
    names_use(&save, NULL);
    return rc;
}

/* Stops bench/rpc_echo and removes what echo_open() declared. */
static void echo_close(void)
{
    int st = g_echo > 0 ? proc_stop(&g_echo) : 0;
    if (st != 0)
        fprintf(stderr, "bench_perf: bench/rpc_echo exited with %d\n", st);
    queue_names save;
    names_use(&save, "-echo");
    delete_queues();
    names_use(&save, NULL);
}

/* ping once more against a dispatcher whose work queue is a classic queue
 * (its own queue and node names), and an echo on a classic queue: what
 * the quorum queue's replicated log costs a command.  The row against
 * the raw side has no target. */
static int ping_classic(void)
{
    queue_names save;
    names_use(&save, "-classic");
    G.classic = 1;
    pool p = {0};
    int rc = -1;
    char echo_q[sizeof G.queue];
    if (echo_open(echo_q, sizeof echo_q) == 0 && disp_start(16, 16) >= 0 &&
        pool_open(&p, G.clients) == 0 && wait_consuming(p.b[0]) == 0)
        rc = control_one(&p, K_PING, NULL, "ping, classic work queue", 0, echo_q);
    pool_close(&p);
    int st = g_disp > 0 ? disp_stop() : 0;
    if (st != 0)
        fprintf(stderr, "bench_perf: the dispatcher exited with %d\n", st);
    echo_close();
    delete_queues();
    G.classic = 0;
    names_use(&save, NULL);
    return rc;
}

/* Runs the dispatcher's ping, inspect and list (as --only says) on pool
 * p against the raw Engine API and the echo on echo_q; 0 or -1. */
static int control_all(pool *p, const char *echo_q)
{
    char target[80] = "";
    if (G.sections & S_INSPECT) { /* a running container of the dispatcher's own */
        load l = {.n = 1, .kind = K_RUN_DETACHED, .mode = L_SEND_WAIT};
        l.t = tracker_new(1, &l.phase);
        if (l.t == NULL)
            return -1;
        l.t->keep_container = 1;
        if (load_run(p, &l, 1, 120) < 0 || l.t->container[0] == NULL) {
            fprintf(stderr, "bench_perf: no container to inspect\n");
            return -1;
        }
        snprintf(target, sizeof target, "%s", l.t->container[0]);
    }
    int rc = 0;
    if (rc == 0 && (G.sections & S_PING))
        rc = control_one(p, K_PING, NULL, "ping", 1, echo_q);
    if (rc == 0 && (G.sections & S_INSPECT) && !g_stop)
        rc = control_one(p, K_INSPECT, target, "inspect", 0, echo_q);
    if (rc == 0 && (G.sections & S_LIST) && !g_stop)
        rc = control_one(p, K_LIST, NULL, "list", 0, echo_q);
    return rc;
}

static int section_control(void)
{
    pool p = {0};
    int rc = -1, first_phase = g_ntr;
    char echo_q[sizeof G.queue];
    printf("== control: ping, inspect, list at %d in flight, %d of each per side; against the raw "
           "Engine API and bench/rpc_echo\n",
           G.control_conc, G.control_n);
    if (echo_open(echo_q, sizeof echo_q) == 0 && disp_start(16, 16) >= 0 &&
        pool_open(&p, G.clients) == 0 && wait_consuming(p.b[0]) == 0)
        rc = control_all(&p, echo_q);
    pool_close(&p);
    for (int ph = first_phase; ph < g_ntr; ph++)
        tracker_check(g_tr[ph], "control");
    int st = g_disp > 0 ? disp_stop() : 0;
    if (st != 0)
        fprintf(stderr, "bench_perf: the dispatcher exited with %d\n", st);
    echo_close();
    remove_ours();
    if (rc == 0 && (G.sections & S_PING) && !g_stop)
        rc = ping_classic();
    return rc;
}

typedef struct sampler {
    pthread_t th;
    tracker *t;
    atomic_int stop;
    long min_kb, max_kb;
    int samples;
} sampler;

static void *sample_main(void *arg)
{
    sampler *s = arg;
    while (!atomic_load(&s->stop)) {
        pstat ps;
        double last;
        pthread_mutex_lock(&s->t->mu);
        last = s->t->last;
        pthread_mutex_unlock(&s->t->mu);
        /* from the first reply on: the start-up is no part of the drain */
        if (last > 0 && g_disp > 0 && pstat_read(g_disp, &ps) == 0 && ps.rss_kb > 0) {
            if (s->samples == 0 || ps.rss_kb < s->min_kb)
                s->min_kb = ps.rss_kb;
            if (ps.rss_kb > s->max_kb)
                s->max_kb = ps.rss_kb;
            s->samples++;
        }
        usleep(200 * 1000);
    }
    return NULL;
}

static int section_backlog(void)
{
    int n = G.backlog, workers = 16;
    int nraw = G.backlog_raw > 0 ? G.backlog_raw : (n < 1000 ? n : 1000);
    pool p;
    watcher w;
    printf("== backlog: %d `run`s queued before the dispatcher starts (%d workers); raw: %d "
           "lifecycles at %d, half before and half after\n",
           n, workers, nraw, workers);
    /* a dispatcher declares the queue, then leaves it to the backlog */
    if (disp_start(workers, workers) < 0 || pool_open(&p, G.clients) != 0 ||
        wait_consuming(p.b[0]) != 0)
        return -1;
    disp_stop();
    if (watcher_start(&w, "create") != 0)
        return -1;
    load l = {.n = n, .kind = K_RUN, .mode = L_SEND};
    l.t = tracker_new(n, &l.phase);
    if (l.t == NULL)
        return -1;
    double tp = load_run(&p, &l, p.n, 600);
    if (tp < 0)
        return -1;
    printf("  published %d in %.1f s (%.0f/s, confirmed)\n", n, tp, n / tp);
    double cr[CPU_N] = {0}, cd[CPU_N] = {0}, c0[CPU_N], c1[CPU_N];
    double tr1 = raw_phase_cpu(K_RUN, NULL, nraw / 2, workers, cr);
    printf("  raw, before: %d in %.1f s\n", nraw / 2, tr1);
    fflush(stdout);

    sampler s = {.t = l.t};
    double t0 = now_s();
    cpu_sample(c0);
    if (disp_start(workers, workers) < 0)
        return -1;
    pthread_create(&s.th, NULL, sample_main, &s);
    l.mode = L_WAIT;
    load_run(&p, &l, p.n, 600 + 10.0 * n / workers);
    cpu_sample(c1);
    cpu_add(cd, c0, c1);
    double t1 = now_s();
    double td = atomic_load(&l.done) == n ? l.t->last - t0 : -1;
    atomic_store(&s.stop, 1);
    pthread_join(s.th, NULL);
    double tr2 = raw_phase_cpu(K_RUN, NULL, nraw - nraw / 2, workers, cr);
    printf("  raw, after: %d in %.1f s\n", nraw - nraw / 2, tr2);
    printf("  CPU ms per run: raw: machine %.1f (dockerd %.1f); drain: machine %.1f (RabbitMQ "
           "%.1f, dockerd %.1f, dispatcher %.1f, client %.1f); the machine busy %.0f %% of the "
           "raw time, %.0f %% of the drain's\n",
           cr[CPU_ALL] * 1000 / nraw, cr[CPU_DOCKERD] * 1000 / nraw, cd[CPU_ALL] * 1000 / n,
           cd[CPU_RABBIT] * 1000 / n, cd[CPU_DOCKERD] * 1000 / n, cd[CPU_DISP] * 1000 / n,
           cd[CPU_SELF] * 1000 / n,
           100.0 * cr[CPU_ALL] / ((tr1 + tr2) * sysconf(_SC_NPROCESSORS_ONLN)),
           100.0 * cd[CPU_ALL] / ((t1 - t0) * sysconf(_SC_NPROCESSORS_ONLN)));
    pool_close(&p);
    watcher_stop(&w);
    int bad = tracker_check(l.t, "backlog");
    int badc = watcher_check(&w, l.t, l.phase, "backlog");
    json_decref(w.count);
    disp_stop();
    if (td < 0) {
        fprintf(stderr, "bench_perf: backlog: %d of %d answered\n", atomic_load(&l.done), n);
        return -1;
    }
    double raw_rate = nraw / (tr1 + tr2), disp_rate = n / td;
    printf("  drained %d in %.1f s (from the dispatcher's start)\n", n, td);
    char fig[80], a[40], b[48], c[24];
    snprintf(fig, sizeof fig, "backlog %d: drain (runs/s, %d workers)", n, workers);
    snprintf(a, sizeof a, "%.2f", raw_rate);
    snprintf(b, sizeof b, "%.2f", disp_rate);
    snprintf(c, sizeof c, "%.3f", raw_rate / disp_rate);
    row_add(fig, a, b, c, "time <= 1.03x", raw_rate / disp_rate <= 1.03);
    snprintf(b, sizeof b, "%.1f-%.1f MB (%d samples)", MB(s.min_kb), MB(s.max_kb), s.samples);
    row_add("backlog: dispatcher RSS min-max", "-", b, "-", "flat: max-min <= 2 MB",
            s.samples > 0 && s.max_kb - s.min_kb <= 2048);
    snprintf(b, sizeof b, "%d not once, %d not 1 container", bad, badc);
    row_add("backlog: requests lost / twice / containers", "-", b, "-", "0", bad == 0 && badc == 0);
    return 0;
}

/* The raw side of exit to final reply: containers of the bench's own
 * (sleep 3600, labelled RAWSUP_LABEL=<tag>, started beside the dispatcher's)
 * and a client that follows their `die` events and, on each, makes at once
 * the calls a final reply needs: inspect (exit code, times) and logs.  What
 * it measures is the Engine's part: Docker sends `die` before it has done
 * with the container, and both calls wait for that. */
#define RAWSUP_LABEL "ddperf.rawsup"
typedef struct raw_exit {
    dkc_client *ev, *c;
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int n;       /* containers */
    char **ids;  /* theirs, in kill order */
    double *lat; /* die event to both calls answered, ms, by kill order; 0: not yet */
    int rc;      /* the event stream's end */
} raw_exit;

static int discard_output(void *ud, int stream, const char *data, size_t len)
{
    (void)ud, (void)stream, (void)data, (void)len;
    return 0;
}

static int on_raw_die(void *ud, const dkc_event *ev)
{
    raw_exit *r = ud;
    if (strcmp(ev->action, "die") != 0)
        return 0;
    int i = 0;
    while (i < r->n && strcmp(r->ids[i], ev->id) != 0)
        i++;
    if (i == r->n)
        return 0;
    json_t *ins = NULL;
    dkc_logs_opts lo = {.stdout_ = true, .stderr_ = true};
    int rc = dkc_container_inspect(r->c, ev->id, &ins);
    json_decref(ins);
    if (rc == 0)
        rc = dkc_container_logs(r->c, ev->id, &lo, discard_output, NULL);
    if (rc != 0)
        raw_fail(r->c, "inspect and logs after die", rc);
    pthread_mutex_lock(&r->mu);
    r->lat[i] = (now_rt() - (double)ev->time_nano / 1e9) * 1000;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    return 0;
}

static void *raw_exit_main(void *arg)
{
    raw_exit *r = arg;
    char lab[160];
    snprintf(lab, sizeof lab, RAWSUP_LABEL "=%s", G.tag);
    json_t *f =
        json_pack("{s:[s], s:[s], s:[s]}", "type", "container", "event", "die", "label", lab);
    dkc_events_opts o = {.since = (int64_t)time(NULL) - 1, .filters = f};
    r->rc = dkc_events(r->ev, &o, on_raw_die, r);
    json_decref(f);
    return NULL;
}

/* Creates and starts r->n raw containers and follows their events; 0 or
 * -1. */
static int raw_exit_start(raw_exit *r, int n)
{
    char lab[160], mark[160];
    snprintf(lab, sizeof lab, "%s", G.label);
    snprintf(mark, sizeof mark, RAWSUP_LABEL "=%s", G.tag);
    const char *labels[] = {lab, mark, NULL};
    const char *cmd[] = {"sleep", "3600", NULL};
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    r->ids = calloc((size_t)n, sizeof *r->ids);
    r->lat = calloc((size_t)n, sizeof *r->lat);
    if (!r->ids || !r->lat || dkc_client_new(NULL, &r->c, NULL, 0) != 0 ||
        dkc_client_new(NULL, &r->ev, NULL, 0) != 0)
        return -1;
    for (; r->n < n; r->n++) {
        dkc_container_config cfg = {.image = G.image,
                                    .cmd = cmd,
                                    .labels = labels,
                                    .network_mode = "none",
                                    .attach_stdout = true,
                                    .attach_stderr = true};
        int rc = dkc_container_create(r->c, NULL, &cfg, &r->ids[r->n], NULL);
        if (rc == 0)
            rc = dkc_container_start(r->c, r->ids[r->n]);
        if (rc != 0) {
            raw_fail(r->c, "raw supervised container", rc);
            return -1;
        }
    }
    if (pthread_create(&r->th, NULL, raw_exit_main, r) != 0)
        return -1;
    usleep(500 * 1000); /* the stream is open */
    return 0;
}

/* Kills raw container i and waits (30 s at most) until its calls are
 * answered. */
static void raw_exit_kill(raw_exit *r, dkc_client *c, int i)
{
    int rc = dkc_container_kill(c, r->ids[i], NULL);
    if (rc != 0) {
        raw_fail(c, "kill", rc);
        return;
    }
    double t0 = now_s();
    pthread_mutex_lock(&r->mu);
    while (r->lat[i] == 0 && !g_stop && now_s() - t0 < 30) {
        cond_wait_100ms(&r->cv, &r->mu);
    }
    pthread_mutex_unlock(&r->mu);
}

static void raw_exit_stop(raw_exit *r)
{
    if (r->ev != NULL) {
        if (r->th) {
            dkc_client_cancel(r->ev);
            pthread_join(r->th, NULL);
        }
        dkc_client_free(r->ev);
    }
    dkc_client_free(r->c);
    for (int i = 0; i < r->n; i++)
        free(r->ids[i]);
    free(r->ids);
    free(r->lat);
}

/* Supervised section: the killer thread and what it shares with main. */
typedef struct sup {
    int n;
    char **ids;     /* container ids, in kill order */
    int *req;       /* their request index */
    double *t_kill; /* kill request sent */
    double *t_call; /* kill call's duration */
    tracker *t;
    raw_exit *raw; /* killed between them, evenly */
    int raw_next;  /* the next of raw's to kill */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    atomic_int finished;
} sup;

static void *killer_main(void *arg)
{
    sup *s = arg;
    dkc_client *c = NULL;
    if (dkc_client_new(NULL, &c, NULL, 0) != 0) {
        atomic_store(&s->finished, 1);
        return NULL;
    }
    for (int i = 0; i < s->n && !g_stop; i++) {
        double t0 = now_s();
        s->t_kill[i] = t0;
        int rc = dkc_container_kill(c, s->ids[i], NULL);
        s->t_call[i] = now_s() - t0;
        if (rc != 0) {
            raw_fail(c, "kill", rc);
            continue;
        }
        /* the next one only once this one is answered (or 30 s passed) */
        pthread_mutex_lock(&s->mu);
        while (atomic_load(&s->t->count[s->req[i]]) == 0 && !g_stop && now_s() - t0 < 30) {
            cond_wait_100ms(&s->cv, &s->mu);
        }
        pthread_mutex_unlock(&s->mu);
        /* raw container k after dispatched one (k + 1/2) * n / raw->n:
         * both sides meet the same Docker, with as many containers */
        while (s->raw && s->raw_next < s->raw->n && !g_stop &&
               (2 * s->raw_next + 1) * s->n / (2 * s->raw->n) <= i)
            raw_exit_kill(s->raw, c, s->raw_next++);
    }
    dkc_client_free(c);
    atomic_store(&s->finished, 1);
    return NULL;
}

/* Polls b for replies for wait_s seconds (or until stop says so). */
static void listen_for(broker *b, double wait_s, sup *s)
{
    for (double t0 = now_s(); now_s() - t0 < wait_s && !g_stop;) {
        broker_delivery d = {0};
        if (broker_poll(b, 50, &d) == 1 && d.source == BROKER_SRC_REPLY) {
            int idx;
            if (reply_count(&d, &idx) != NULL && s != NULL) {
                pthread_mutex_lock(&s->mu);
                pthread_cond_broadcast(&s->cv);
                pthread_mutex_unlock(&s->mu);
            }
        }
        broker_delivery_cleanup(&d);
        if (s != NULL && atomic_load(&s->finished))
            break;
    }
}

static int section_supervised(void)
{
    int n = G.supervised, rc = -1;
    pool p;
    sup s = {.n = n};
    raw_exit raw = {0};
    watcher dw = {0};
    int watching = 0;
    dkc_client *c = NULL;
    json_t *list = NULL;
    printf("== supervised: %d `run`s with Attach of sleep 3600, then killed one by one\n", n);
    pthread_mutex_init(&s.mu, NULL);
    pthread_cond_init(&s.cv, NULL);
    if (disp_start(16, 16) < 0 || pool_open(&p, 1) != 0 || wait_consuming(p.b[0]) != 0)
        return -1;
    if (dkc_client_new(NULL, &c, NULL, 0) != 0)
        goto out;
    load l = {.n = n, .kind = K_RUN_ATTACHED, .mode = L_SEND};
    l.t = s.t = tracker_new(n, &l.phase);
    if (l.t == NULL || load_run(&p, &l, 1, 600) < 0)
        goto out;
    /* all running; no reply may come before a kill */
    char node_l[160];
    snprintf(node_l, sizeof node_l, "io.docker-dispatch.node=%s", G.node);
    double t0 = now_s();
    size_t running = 0;
    while (!g_stop && now_s() - t0 < 120 + 3.0 * n) {
        listen_for(p.b[0], 1.0, NULL);
        json_decref(list);
        list = list_labelled(c, G.label, node_l, "running");
        running = json_array_size(list);
        if ((int)running >= n)
            break;
    }
    printf("  %zu running after %.0f s\n", running, now_s() - t0);
    if ((int)running < n) {
        fprintf(stderr, "bench_perf: supervised: only %zu of %d running\n", running, n);
        goto out;
    }
    for (int i = 0; i < n; i++)
        if (atomic_load(&l.t->count[i]) != 0) {
            fprintf(stderr, "bench_perf: supervised: request %d answered before its exit\n", i);
            atomic_fetch_add(&g_failed, 1);
        }
    listen_for(p.b[0], 3.0, NULL); /* settle */
    pstat a, b;
    double win = G.quick ? 5 : 10;
    pstat_read(g_disp, &a);
    listen_for(p.b[0], win, NULL);
    pstat_read(g_disp, &b);
    double cpu_s = (b.run_s - a.run_s) / win; /* ticks are too coarse here */
    double lt[8];
    for (int i = 0; i < 5; i++) {
        char cl[160];
        snprintf(cl, sizeof cl, "io.docker-dispatch.cluster=%s", G.queue);
        double t1 = now_s();
        json_t *x = list_labelled(c, node_l, cl, NULL);
        lt[i] = (now_s() - t1) * 1000;
        json_decref(x);
    }
    double list_ms = median(lt, 5);
    printf("  with %d supervised: RSS %.1f MB, %d threads, CPU %.2f ms per s, %.1f wake-ups/s, "
           "Engine list of them %.1f ms\n",
           n, MB(b.rss_kb), b.threads, cpu_s * 1000, (b.vcs - a.vcs) / win, list_ms);
    char fig[80], va[40], vb[48];
    snprintf(fig, sizeof fig, "RSS with %d supervised (MB)", n);
    snprintf(vb, sizeof vb, "%.1f", MB(b.rss_kb));
    row_add(fig, "-", vb, "-", n >= 500 ? "<= 32 MB" : "<= 32 MB (at 500)",
            n >= 500 ? MB(b.rss_kb) <= 32 : -1);
    snprintf(fig, sizeof fig, "%d supervised idle: CPU ms per s (bounds a pass)", n);
    snprintf(va, sizeof va, "list %.1f ms", list_ms);
    snprintf(vb, sizeof vb, "%.2f", cpu_s * 1000);
    row_add(fig, va, vb, "-", "-", -1);

    /* kill order: the list's; request index from the request label */
    s.ids = calloc((size_t)n, sizeof *s.ids);
    s.req = calloc((size_t)n, sizeof *s.req);
    s.t_kill = calloc((size_t)n, sizeof *s.t_kill);
    s.t_call = calloc((size_t)n, sizeof *s.t_call);
    if (!s.ids || !s.req || !s.t_kill || !s.t_call)
        goto out;
    for (int i = 0; i < n; i++) {
        json_t *v = json_array_get(list, (size_t)i);
        const char *rid =
            json_string_value(json_object_get(json_object_get(v, "Labels"), REQ_LABEL));
        const char *dot = rid ? strrchr(rid, '.') : NULL;
        s.ids[i] = (char *)json_string_value(json_object_get(v, "Id"));
        s.req[i] = dot ? (int)strtol(dot + 1, NULL, 10) : -1;
        if (s.ids[i] == NULL || s.req[i] < 0 || s.req[i] >= n) {
            fprintf(stderr, "bench_perf: supervised: a container without its request label\n");
            goto out;
        }
    }
    int nraw = n / 5 > 10 ? n / 5 : 10;
    printf("  and %d raw containers of the bench's own, killed between them\n", nraw);
    s.raw = &raw;
    if (raw_exit_start(&raw, nraw) != 0)
        goto out;
    if (watcher_start(&dw, "die") != 0)
        goto out;
    watching = 1;
    pthread_t kth;
    pthread_create(&kth, NULL, killer_main, &s);
    while (!atomic_load(&s.finished) && !g_stop)
        listen_for(p.b[0], 1.0, &s);
    pthread_join(kth, NULL);
    listen_for(p.b[0], GRACE_S, NULL);
    watcher_stop(&dw);
    watching = 0;
    if (dw.rc != DKC_ECANCELED) {
        fprintf(stderr, "bench_perf: supervised: Docker's event stream failed: %s\n",
                dkc_strerror(dw.rc));
        goto out;
    }
    /* exit: Docker's `die` event; also from the kill request, which
     * includes the Engine's own kill */
    int answered = 0, nfirst = 0;
    double *lat = calloc((size_t)n, sizeof *lat), *call = calloc((size_t)n, sizeof *call);
    double *lat_first = calloc((size_t)n, sizeof *lat_first);
    double *lat_kill = calloc((size_t)n, sizeof *lat_kill);
    if (!lat || !call || !lat_first || !lat_kill) {
        free(lat);
        free(call);
        free(lat_first);
        free(lat_kill);
        goto out;
    }
    for (int i = 0; i < n; i++) {
        int q = s.req[i];
        call[i] = s.t_call[i] * 1000;
        json_int_t die = json_integer_value(json_object_get(dw.count, s.ids[i]));
        if (atomic_load(&l.t->count[q]) == 0 || die == 0)
            continue;
        double ms = (l.t->arrival_rt[q] - (double)die / 1e9) * 1000;
        lat_kill[answered] = (l.t->arrival[q] - s.t_kill[i]) * 1000;
        lat[answered++] = ms;
        if (i < n / 5 + 1) /* while at least 80 % were still supervised */
            lat_first[nfirst++] = ms;
    }
    double p50 = quantile(lat, answered, 0.5), p99 = quantile(lat, answered, 0.99);
    double mx = quantile(lat, answered, 1.0), kc = median(call, n);
    double p99f = quantile(lat_first, nfirst, 0.99);
    double k50 = quantile(lat_kill, answered, 0.5), k99 = quantile(lat_kill, answered, 0.99);
    /* the answered ones (a failed kill leaves a 0, counted as a failure) */
    int rdone = 0;
    pthread_mutex_lock(&raw.mu);
    for (int i = 0; i < raw.n; i++)
        if (raw.lat[i] > 0)
            raw.lat[rdone++] = raw.lat[i];
    pthread_mutex_unlock(&raw.mu);
    double r50 = quantile(raw.lat, rdone, 0.5), r99 = quantile(raw.lat, rdone, 0.99);
    double rmx = quantile(raw.lat, rdone, 1.0);
    printf("  die event to final reply over %d: p50 %.1f ms, p99 %.1f ms, max %.1f ms (the "
           "first %d, with >= 80%% still supervised: p99 %.1f ms)\n",
           answered, p50, p99, mx, nfirst, p99f);
    printf("  raw, die event to inspect and logs answered (a client reacting at once) over %d: "
           "p50 %.1f ms, p99 %.1f ms, max %.1f ms\n",
           rdone, r50, r99, rmx);
    printf("  kill request to final reply: p50 %.1f ms, p99 %.1f ms; the Engine's kill call "
           "itself: median %.1f ms\n",
           k50, k99, kc);
    snprintf(fig, sizeof fig, "exit (die event) to final reply, %d supervised: p50/p99/max ms", n);
    snprintf(va, sizeof va, "%.1f / %.1f / %.1f", r50, r99, rmx);
    snprintf(vb, sizeof vb, "%.1f / %.1f / %.1f", p50, p99, mx);
    char ratio[24];
    snprintf(ratio, sizeof ratio, "%.2f (p99)", r99 > 0 ? p99 / r99 : NAN);
    row_add(fig, va, vb, ratio, "p99 < 50 ms", answered == n && p99 < 50);
    free(lat);
    free(call);
    free(lat_first);
    free(lat_kill);
    rc = 0;
out:
    if (watching)
        watcher_stop(&dw);
    raw_exit_stop(&raw);
    json_decref(dw.count);
    pool_close(&p);
    if (s.t != NULL)
        tracker_check(s.t, "supervised");
    disp_stop();
    json_decref(list);
    dkc_client_free(c);
    free(s.ids);
    free(s.req);
    free(s.t_kill);
    free(s.t_call);
    remove_ours();
    return rc;
}

/* Private memory (Private_Clean + Private_Dirty, kB) of pid: what is its
 * own, not shared library pages. */
static long private_kb(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/smaps_rollup", (int)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    long kb = 0;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, "Private_Clean:", 14) || !strncmp(line, "Private_Dirty:", 14))
            kb += strtol(line + 14, NULL, 10);
    fclose(f);
    return kb;
}

/* VmRSS (kB) of rss_floor (next to this program): the dispatcher's shared
 * libraries loaded and initialised, one request to Docker made; -1 when it
 * cannot be run. */
static long floor_rss_kb(void)
{
    char bin[600];
    if (sibling_path("rss_floor", bin, sizeof bin) != 0)
        return -1;
    const char *sock = "/var/run/docker.sock";
    if (!strncmp(G.docker_host, "unix://", 7))
        sock = G.docker_host + 7;
    int fd[2];
    if (pipe(fd) != 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fd[1], 1);
        close(fd[0]);
        close(fd[1]);
        execl(bin, bin, sock, (char *)NULL);
        _exit(127);
    }
    close(fd[1]);
    char buf[64];
    ssize_t got = pid > 0 ? read(fd[0], buf, sizeof buf) : -1; /* "ready": measured after */
    close(fd[0]);
    if (pid < 0)
        return -1;
    pstat ps;
    long kb = got > 0 && pstat_read(pid, &ps) == 0 ? ps.rss_kb : -1;
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return kb;
}

static int section_idle(void)
{
    int win = G.idle_s;
    broker *b = NULL;
    printf("== idle: %d s with nothing to do\n", win);
    if (disp_start(16, 16) < 0 || (b = client_open()) == NULL || wait_consuming(b) != 0) {
        broker_free(b);
        return -1;
    }
    sleep(3);
    pstat a, z;
    if (pstat_read(g_disp, &a) != 0)
        goto fail;
    for (int i = 0; i < win * 10 && !g_stop; i++)
        usleep(100 * 1000);
    if (g_stop || pstat_read(g_disp, &z) != 0)
        goto fail;
    broker_free(b);
    b = NULL;
    long wake = z.vcs - a.vcs, maxw = 0;
    printf("  RSS %.1f MB, %d threads, on CPUs %s; per thread (voluntary context switches over "
           "%d s):",
           MB(a.rss_kb), a.threads, a.cpus, win);
    for (int i = 0; i < z.ntask; i++) {
        long before = 0;
        for (int j = 0; j < a.ntask; j++)
            if (a.tid[j] == z.tid[i])
                before = a.tvcs[j];
        long d = z.tvcs[i] - before;
        if (d > maxw)
            maxw = d;
        printf(" %s/%d:%ld", z.comm[i], z.tid[i], d);
    }
    printf("\n");
    long own = private_kb(g_disp), floor = floor_rss_kb();
    printf("  private memory (not shared library pages) %.1f MB; the libraries alone "
           "(bench/rss_floor: loaded, libcurl initialised, one request to Docker) %.1f MB\n",
           MB(own), MB(floor));
    double cpu = z.cpu - a.cpu;
    int hb = 30; /* the dispatcher's default AMQP heartbeat */
    long allowed = (long)(2.0 * win / hb) + 1;
    char vb[48], tg[64];
    snprintf(vb, sizeof vb, "%.1f", MB(a.rss_kb));
    char fb[48], fr[24];
    snprintf(fb, sizeof fb, "%.1f (libraries alone)", MB(floor));
    snprintf(fr, sizeof fr, "%.2f", floor > 0 ? (double)a.rss_kb / (double)floor : 0.0);
    row_add("idle RSS (MB)", floor > 0 ? fb : "-", vb, floor > 0 ? fr : "-", "<= 6 MB",
            MB(a.rss_kb) <= 6);
    snprintf(vb, sizeof vb, "%.2f s (on CPU %.1f ms)", cpu, (z.run_s - a.run_s) * 1000);
    char fig[80];
    snprintf(fig, sizeof fig, "idle CPU over %d s", win);
    /* "about 0": at most 0.05 % of one CPU, by the precise count (ticks are 10 ms) */
    snprintf(tg, sizeof tg, "~0 (on CPU <= %.1f ms)", win * 0.5);
    row_add(fig, "-", vb, "-", tg, (z.run_s - a.run_s) * 1000 <= win * 0.5);
    snprintf(vb, sizeof vb, "%d", z.threads);
    row_add("threads", "-", vb, "-", "-", -1);
    snprintf(fig, sizeof fig, "idle wake-ups over %d s: total / busiest thread", win);
    snprintf(vb, sizeof vb, "%ld / %ld", wake, maxw);
    snprintf(tg, sizeof tg, "<= %ld per thread (hb %d s)", allowed, hb);
    row_add(fig, "-", vb, "-", tg, maxw <= allowed);
    disp_stop();
    return 0;
fail:
    broker_free(b);
    disp_stop();
    return -1;
}

/* Prints the dispatcher's time on a CPU between a and z per run, by
 * thread name (the workers summed): where the CPU of a run goes. */
static void print_cpu_by_thread(const pstat *a, const pstat *z, int n)
{
    char names[16][20];
    double ms[16] = {0}, wakes[16] = {0};
    int count[16] = {0}, ng = 0;
    for (int k = 0; k < z->ntask; k++) {
        double before = 0;
        long vbefore = 0;
        for (int j = 0; j < a->ntask; j++)
            if (a->tid[j] == z->tid[k]) {
                before = a->trun[j];
                vbefore = a->tvcs[j];
            }
        int g;
        for (g = 0; g < ng; g++)
            if (!strcmp(names[g], z->comm[k]))
                break;
        if (g == ng) {
            if (ng == 16)
                continue;
            snprintf(names[ng++], sizeof names[0], "%s", z->comm[k]);
        }
        ms[g] += (z->trun[k] - before) * 1000.0 / n;
        wakes[g] += (double)(z->tvcs[k] - vbefore) / n;
        count[g]++;
    }
    printf("  on CPU per run, by thread (and wake-ups per run):");
    for (int g = 0; g < ng; g++) {
        if (count[g] > 1)
            printf(" %s (%d) %.3f ms (%.1f)", names[g], count[g], ms[g], wakes[g]);
        else
            printf(" %s %.3f ms (%.1f)", names[g], ms[g], wakes[g]);
    }
    printf("\n");
}

static int section_cpu(void)
{
    int n = G.cpu_runs, conc = 4;
    pool p;
    printf("== cpu: the dispatcher's CPU over %d `run`s at concurrency %d\n", n, conc);
    if (disp_start(16, 16) < 0 || pool_open(&p, G.clients) != 0 || wait_consuming(p.b[0]) != 0)
        return -1;
    int first_phase = g_ntr, rc = -1;
    pstat a, z;
    if (disp_phase(&p, K_RUN, NULL, conc, conc, NULL) < 0) /* warm-up */
        goto out;
    pstat_read(g_disp, &a);
    double t = disp_phase(&p, K_RUN, NULL, n, conc, NULL);
    pstat_read(g_disp, &z);
    if (t < 0)
        goto out;
    double per100 = (z.cpu - a.cpu) * 100.0 / n;
    printf("  %.2f s CPU over %d runs in %.1f s\n", z.cpu - a.cpu, n, t);
    print_cpu_by_thread(&a, &z, n);
    /* the same lifecycles made by this process's own Engine API client
     * (one libdkc client per thread, as a worker has): what the Docker
     * calls alone cost a client */
    double cr[CPU_N] = {0};
    if (raw_phase_cpu(K_RUN, NULL, n, conc, cr) < 0)
        goto out;
    double raw100 = cr[CPU_SELF] * 100.0 / n;
    printf("  raw client: %.3f s CPU per 100 lifecycles (create, start, wait, remove)\n", raw100);
    char vb[48];
    snprintf(vb, sizeof vb, "%.3f s", per100);
    char rb[48], ratio[48];
    snprintf(rb, sizeof rb, "%.3f s", raw100);
    snprintf(ratio, sizeof ratio, "%.2f", raw100 > 0 ? per100 / raw100 : 0.0);
    row_add("CPU per 100 runs (utime+stime)", rb, vb, ratio, "<= 0.12 s", per100 <= 0.12);
    rc = 0;
out:
    pool_close(&p);
    for (int ph = first_phase; ph < g_ntr; ph++)
        tracker_check(g_tr[ph], "cpu");
    disp_stop();
    return rc;
}

/* ------------------------------------------------------------------------
 * main
 * ------------------------------------------------------------------------ */
static int parse_sections(const char *s, unsigned *out)
{
    static const struct {
        const char *name;
        unsigned bits;
    } names[] = {{"runs", S_RUNS},
                 {"ping", S_PING},
                 {"inspect", S_INSPECT},
                 {"list", S_LIST},
                 {"control", S_PING | S_INSPECT | S_LIST},
                 {"backlog", S_BACKLOG},
                 {"supervised", S_SUPERVISED},
                 {"idle", S_IDLE},
                 {"cpu", S_CPU}};
    char buf[256];
    char *save = NULL;
    snprintf(buf, sizeof buf, "%s", s);
    *out = 0;
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        size_t i;
        for (i = 0; i < sizeof names / sizeof names[0]; i++)
            if (!strcmp(tok, names[i].name))
                break;
        if (i == sizeof names / sizeof names[0]) {
            fprintf(stderr, "bench_perf: unknown section '%s'\n", tok);
            return -1;
        }
        *out |= names[i].bits;
    }
    return *out ? 0 : -1;
}

static void usage(void)
{
    fprintf(stderr, "usage: bench_perf DISPATCHER_BIN [--only runs,ping,inspect,list,control,"
                    "backlog,supervised,idle,cpu] [--quick] [--rounds R] [--clients K] [--pin N] "
                    "[--runs N] [--control N] [--backlog N] [--backlog-raw N] [--supervised N] "
                    "[--idle-seconds S] [--cpu-runs N]\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage();
        return 64;
    }
    G.bin = argv[1];
    G.sections = S_RUNS | S_PING | S_INSPECT | S_LIST | S_BACKLOG | S_SUPERVISED | S_IDLE | S_CPU;
    G.rounds = -1;
    G.clients = MAX_CLIENTS;
    G.control_n = -1;
    G.control_conc = 16;
    G.backlog = -1;
    G.supervised = -1;
    G.idle_s = 60; /* a node alone beats once a minute (cluster.h) */
    G.cpu_runs = -1;
    for (int i = 2; i < argc; i++) {
        const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int bad = 0;
        if (!strcmp(o, "--quick"))
            G.quick = 1;
        else if (!strcmp(o, "--only"))
            bad = v == NULL || parse_sections(v, &G.sections) != 0, i++;
        else if (!strcmp(o, "--rounds"))
            bad = int_arg(v, 1, MAX_ROUNDS, &G.rounds), i++;
        else if (!strcmp(o, "--clients"))
            bad = int_arg(v, 1, MAX_CLIENTS, &G.clients), i++;
        else if (!strcmp(o, "--pin"))
            bad = int_arg(v, 1, CPU_SETSIZE, &G.pin), i++;
        else if (!strcmp(o, "--runs"))
            bad = int_arg(v, 1, 100000, &G.runs_n), i++;
        else if (!strcmp(o, "--control"))
            bad = int_arg(v, 1, 10000000, &G.control_n), i++;
        else if (!strcmp(o, "--backlog"))
            bad = int_arg(v, 1, 1000000, &G.backlog), i++;
        else if (!strcmp(o, "--backlog-raw"))
            bad = int_arg(v, 2, 1000000, &G.backlog_raw), i++;
        else if (!strcmp(o, "--supervised"))
            bad = int_arg(v, 1, 5000, &G.supervised), i++;
        else if (!strcmp(o, "--idle-seconds"))
            bad = int_arg(v, 1, 3600, &G.idle_s), i++;
        else if (!strcmp(o, "--cpu-runs"))
            bad = int_arg(v, 1, 1000000, &G.cpu_runs), i++;
        else
            bad = 1;
        if (bad) {
            usage();
            return 64;
        }
    }
    if (G.backlog < 0 && getenv("BENCH_BACKLOG") &&
        int_arg(getenv("BENCH_BACKLOG"), 1, 1000000, &G.backlog) != 0) {
        usage();
        return 64;
    }
    if (G.rounds < 0)
        G.rounds = G.quick ? 3 : 5;
    if (G.control_n < 0)
        G.control_n = G.quick ? 1500 : 6000;
    if (G.backlog < 0)
        G.backlog = G.quick ? 1000 : 10000;
    if (G.supervised < 0)
        G.supervised = G.quick ? 50 : 500;
    if (G.cpu_runs < 0)
        G.cpu_runs = G.quick ? 100 : 300;
    if (G.pin > sysconf(_SC_NPROCESSORS_ONLN)) {
        fprintf(stderr, "bench_perf: --pin %d: this machine has %ld CPUs\n", G.pin,
                sysconf(_SC_NPROCESSORS_ONLN));
        return 64;
    }
    G.amqp =
        getenv("BENCH_AMQP_URL") ? getenv("BENCH_AMQP_URL") : "amqp://guest:guest@127.0.0.1:5672/";
    G.image = getenv("BENCH_IMAGE") ? getenv("BENCH_IMAGE") : "busybox:latest";
    G.docker_host = getenv("DOCKER_HOST") ? getenv("DOCKER_HOST") : "unix:///var/run/docker.sock";
    if (getenv("BENCH_TAG"))
        snprintf(G.tag, sizeof G.tag, "%s", getenv("BENCH_TAG"));
    else
        snprintf(G.tag, sizeof G.tag, "ddperf-%d", (int)getpid());
    snprintf(G.queue, sizeof G.queue, "%s", G.tag);
    snprintf(G.node, sizeof G.node, "%s-node", G.tag);
    snprintf(G.label, sizeof G.label, RUN_LABEL "=%s", G.tag);
    if (!broker_name_ok(G.tag)) {
        fprintf(stderr, "bench_perf: BENCH_TAG must be of [A-Za-z0-9_.-]\n");
        return 64;
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    setvbuf(stdout, NULL, _IOLBF, 0); /* progress shows as it comes, also into a file */
    dkc_global_init();

    printf("bench_perf: dispatcher %s, image %s, tag %s, %s%s%d rounds, %d AMQP clients", G.bin,
           G.image, G.tag, G.quick ? "quick, " : "", "", G.rounds, G.clients);
    if (G.pin)
        printf(", dispatcher pinned to %d CPU%s", G.pin, G.pin > 1 ? "s" : "");
    printf(", %ld CPUs online\n", sysconf(_SC_NPROCESSORS_ONLN));
    fflush(stdout);

    int errors = 0;
    double t0 = now_s();
    if ((G.sections & S_RUNS) && !g_stop)
        errors += section_runs() != 0;
    if ((G.sections & (S_PING | S_INSPECT | S_LIST)) && !g_stop)
        errors += section_control() != 0;
    if ((G.sections & S_BACKLOG) && !g_stop)
        errors += section_backlog() != 0;
    if ((G.sections & S_SUPERVISED) && !g_stop)
        errors += section_supervised() != 0;
    if ((G.sections & S_IDLE) && !g_stop)
        errors += section_idle() != 0;
    if ((G.sections & S_CPU) && !g_stop)
        errors += section_cpu() != 0;

    disp_stop(); /* after a failure it may still run */
    long left = remove_ours();
    delete_queues();
    table_print();
    printf("\nrequests never answered: %d, answered more than once: %d, with other than one "
           "container: %d; error replies and failed raw calls: %d; containers left: %ld; "
           "sections failed: %d%s; %.0f s\n",
           atomic_load(&g_lost), atomic_load(&g_twice), atomic_load(&g_bad_create),
           atomic_load(&g_failed), left, errors, g_stop ? " (stopped by a signal)" : "",
           now_s() - t0);
    dkc_global_cleanup();
    int ok = !g_stop && errors == 0 && atomic_load(&g_lost) == 0 && atomic_load(&g_twice) == 0 &&
             atomic_load(&g_bad_create) == 0 && atomic_load(&g_failed) == 0 && left == 0;
    return ok ? 0 : 1;
}
