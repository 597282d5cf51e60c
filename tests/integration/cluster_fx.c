/*
 * cluster_fx.c -- a whole cluster on one machine for the cluster tests;
 * the contracts are in cluster_fx.h.
 *
 * The services are started by the project's scripts (rabbitmq-cluster.sh,
 * private-dockerd.sh), run through /bin/sh with their output appended to
 * the environment's log directory.  Dispatchers are children of the test
 * process, started with fork and exec so that they can ask for SIGKILL
 * when their parent dies.  Each dockerd has an event follower thread with
 * a Docker client of its own; everything else runs on the owning thread.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cluster_fx.h"
#include "daemon_fx.h"

extern char **environ;

#define START_WAIT_MS 60000 /* a dispatcher's start, until it consumes */
#define STOP_GRACE_MS 10000 /* SIGTERM before SIGKILL in cfx_stop() */

/* The event follower of one dockerd. */
typedef struct follower {
    pthread_t th;
    int started;
    dkc_client *cli; /* its own: a Docker client has one owning thread */
    int64_t since_s; /* where a resumed stream starts */
} follower;

/* One node: a RabbitMQ node, a dockerd, a dispatcher. */
typedef struct node {
    char name[16]; /* "n<i>" */
    char svc[32];  /* the private services' name, <name>-<i> */
    char amqp_url[96];
    char amqp_list[96 * CFX_MAX_NODES]; /* its dispatcher's URLs: its node first, then the others */
    char docker_host[200];
    char log[200];
    char **args; /* its own dispatcher arguments (NULL-terminated) or NULL */
    pid_t pid;
    int rabbit_up;
    dkc_client *dkc;
    follower fw;
} node;

struct cfx {
    int n, workers, port;
    char name[24]; /* cfx<pid> */
    char queue[128];
    char state[200]; /* <state dir>/c/<name> */
    char logdir[96];
    char **extra_args;
    node nd[CFX_MAX_NODES];
    broker *admin; /* client-role handle for queue counts; any running node */
    int admin_on;  /* the node it is connected to */
    int64_t services_ms, dispatchers_ms;
    int services; /* the services were started (and may be running) */
    /* the event record, shared with the followers */
    pthread_mutex_t mu;
    _Atomic int stop_followers;
    json_t *creates; /* request id -> [dockerd index, ...] */
    json_t *seen;    /* "dockerd/time_nano/id" of the events counted */
    int misplaced;
};

struct cfx_replies {
    cfx *env;
    int i;
    char queue[160];
    broker *cli;
    json_t *got;  /* correlation id -> {"n": count, "first": reply} */
    json_t *sent; /* ids published through cfx_send() */
    int strays;
};

/* ---- small helpers ---- */

static const char *state_dir(void)
{
    const char *d = getenv("DD_STATE_DIR");
    return (d && *d) ? d : DFX_STATE_DIR;
}

static int valid(const cfx *env, int i)
{
    return env != NULL && i >= 1 && i <= env->n;
}

/* A NULL-terminated deep copy of args (NULL: NULL).  Aborts without
 * memory: a fixture cannot go on without it. */
static char **copy_args(const char *const *args)
{
    if (args == NULL)
        return NULL;
    size_t n = 0;
    while (args[n])
        n++;
    char **c = calloc(n + 1, sizeof *c);
    if (c == NULL)
        abort();
    for (size_t k = 0; k < n; k++)
        if ((c[k] = strdup(args[k])) == NULL)
            abort();
    return c;
}

static void free_args(char **a)
{
    for (size_t k = 0; a && a[k]; k++)
        free(a[k]);
    free(a);
}

static size_t count_args(char *const *a)
{
    size_t n = 0;
    while (a && a[n])
        n++;
    return n;
}

/* Runs the shell line (printf format) and returns its exit status, -1 when
 * it could not run or was killed. */
static int shell(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int shell(const char *fmt, ...)
{
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    int len = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (len < 0 || (size_t)len >= sizeof line)
        return -1;
    int st = system(line);
    if (st == -1 || !WIFEXITED(st))
        return -1;
    return WEXITSTATUS(st);
}

/* Starts /bin/sh -c line; its pid or -1. */
static pid_t shell_bg(const char *line)
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

/* Waits for the shell started by shell_bg(); its exit status or -1. */
static int shell_wait(pid_t pid)
{
    int st;
    if (pid <= 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st))
        return -1;
    return WEXITSTATUS(st);
}

/* The start time of process pid (field 22 of /proc/pid/stat, clock ticks
 * since boot), 0 when there is no such process.  With the pid it names a
 * process for good: a recycled pid has another start time. */
static unsigned long long proc_start(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    if (p == NULL)
        return 0;
    /* after ") ": field 3 (state) onwards; the start time is field 22 */
    p += 2;
    for (int field = 3; field < 22 && p; field++) {
        p = strchr(p, ' ');
        if (p)
            p++;
    }
    return p ? strtoull(p, NULL, 10) : 0;
}

/* Writes "pid start" to path; 0 or -1. */
static int write_pid(const char *path, pid_t pid)
{
    FILE *f = fopen(path, "w");
    if (f == NULL)
        return -1;
    fprintf(f, "%ld %llu\n", (long)pid, proc_start(pid));
    return fclose(f);
}

/* Reads "pid start" from path; the pid if that very process is alive, 0
 * otherwise. */
static pid_t read_live_pid(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return 0;
    long pid = 0;
    unsigned long long start = 0;
    int ok = fscanf(f, "%ld %llu", &pid, &start) == 2;
    fclose(f);
    if (!ok || pid <= 0 || start == 0 || proc_start((pid_t)pid) != start)
        return 0;
    return (pid_t)pid;
}

/* ---- the services ---- */

/* Stops the services of environment name with n nodes (dockerds, then
 * their state once nothing is mounted below it; the RabbitMQ cluster with
 * its state, at the same time), output appended to logdir's files
 * (NULL: discarded).  0, or -1 when a script failed. */
static int services_down(const char *name, int n, const char *logdir)
{
    char rlog[160] = "/dev/null", dlog[160] = "/dev/null";
    if (logdir) {
        snprintf(rlog, sizeof rlog, "%s/rabbitmq.log", logdir);
        snprintf(dlog, sizeof dlog, "%s/dockerd.log", logdir);
    }
    const char *s = dfx_scripts_dir(), *st = state_dir();
    /* all at once: each dockerd has its own bridge and state */
    return shell("r=0; %s/rabbitmq-cluster.sh purge %s >>%s 2>&1 & pids=$!; "
                 "for i in $(seq 1 %d); do (%s/private-dockerd.sh stop %s-$i; x=$?; "
                 "grep -q ' %s/p/%s-'$i'/' /proc/mounts || rm -rf %s/p/%s-$i; exit $x) "
                 ">>%s 2>&1 & pids=\"$pids $!\"; done; "
                 "for p in $pids; do wait $p || r=1; done; exit $r",
                 s, name, rlog, n, s, name, st, name, st, name, dlog) == 0
               ? 0
               : -1;
}

int cfx_sweep(void)
{
    char dir[256];
    snprintf(dir, sizeof dir, "%s/c", state_dir());
    DIR *d = opendir(dir);
    if (d == NULL)
        return 0;
    int swept = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.' || strlen(de->d_name) > 20)
            continue;
        char path[600];
        struct stat sb;
        snprintf(path, sizeof path, "%s/%s/owner", dir, de->d_name);
        if (read_live_pid(path) > 0)
            continue; /* its test still runs */
        if (access(path, F_OK) != 0) {
            snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
            if (stat(path, &sb) == 0 && time(NULL) - sb.st_mtime < 60)
                continue; /* being made right now: no owner written yet */
        }
        int n = CFX_MAX_NODES;
        snprintf(path, sizeof path, "%s/%s/nodes", dir, de->d_name);
        FILE *f = fopen(path, "r");
        if (f) {
            if (fscanf(f, "%d", &n) != 1 || n < 1 || n > CFX_MAX_NODES)
                n = CFX_MAX_NODES;
            fclose(f);
        }
        fprintf(stderr, "cluster_fx: removing %s, left by a test process that is gone\n",
                de->d_name);
        for (int i = 1; i <= n; i++) {
            snprintf(path, sizeof path, "%s/%s/n%d.pid", dir, de->d_name, i);
            pid_t pid = read_live_pid(path);
            if (pid > 0)
                kill(pid, SIGKILL);
        }
        if (services_down(de->d_name, n, NULL) == 0) {
            shell("rm -rf '%s/%s'", dir, de->d_name);
            swept++;
        }
    }
    closedir(d);
    return swept;
}

/* Chooses env->port: the first run of n free AMQP ports in the range whose
 * distribution ports are free too.  0 or -1. */
static int choose_ports(cfx *env)
{
    for (int p = CFX_PORT_FIRST; p + env->n - 1 <= CFX_PORT_LAST; p++) {
        int ok = 1;
        for (int k = 0; k < env->n && ok; k++)
            ok = dfx_port_free(p + k) && dfx_port_free(p + k + DD_PORT_DIST_OFFSET);
        if (ok) {
            env->port = p;
            return 0;
        }
    }
    fprintf(stderr, "cluster_fx: no %d free ports in %d..%d\n", env->n, CFX_PORT_FIRST,
            CFX_PORT_LAST);
    return -1;
}

/* Starts the RabbitMQ cluster and the dockerds side by side.  0 or -1. */
static int services_up(cfx *env)
{
    const char *s = dfx_scripts_dir();
    char line[1024];
    snprintf(line, sizeof line, "%s/rabbitmq-cluster.sh start %s %d %d >>%s/rabbitmq.log 2>&1", s,
             env->name, env->port, env->n, env->logdir);
    pid_t rabbit = shell_bg(line);
    /* one dockerd after the other: each makes a bridge and picks a free
     * subnet for it, which must not race with the next */
    snprintf(line, sizeof line,
             "for i in $(seq 1 %d); do %s/private-dockerd.sh start %s-$i || exit 1; done "
             ">>%s/dockerd.log 2>&1",
             env->n, s, env->name, env->logdir);
    pid_t docker = shell_bg(line);
    int rrc = shell_wait(rabbit), drc = shell_wait(docker);
    if (rrc != 0)
        fprintf(stderr, "cluster_fx: the RabbitMQ cluster did not start; see %s/rabbitmq.log\n",
                env->logdir);
    if (drc != 0)
        fprintf(stderr, "cluster_fx: a dockerd did not start; see %s/dockerd.log\n", env->logdir);
    for (int i = 1; i <= env->n; i++)
        env->nd[i - 1].rabbit_up = rrc == 0;
    return rrc == 0 && drc == 0 ? 0 : -1;
}

/* Checks that every dockerd answers and holds the test image.  0 or -1. */
static int check_images(cfx *env)
{
    for (int i = 1; i <= env->n; i++) {
        dkc_client *c = cfx_docker(env, i);
        json_t *img = NULL;
        if (c == NULL || dkc_image_inspect(c, CFX_IMAGE, &img) != 0) {
            fprintf(stderr,
                    "cluster_fx: dockerd %d has no %s (the main daemon must hold it: "
                    "scripts/services.sh up)\n",
                    i, CFX_IMAGE);
            return -1;
        }
        json_decref(img);
    }
    return 0;
}

/* ---- Docker event followers ---- */

typedef struct follow_arg {
    cfx *env;
    int i;
} follow_arg;

/* Event callback: records a create of a container of the cluster once. */
static int on_event(void *ud, const dkc_event *ev)
{
    follow_arg *a = ud;
    cfx *env = a->env;
    follower *fw = &env->nd[a->i - 1].fw;
    const char *rid = json_string_value(json_object_get(ev->attributes, CFX_REQUEST_LABEL));
    const char *nodel = json_string_value(json_object_get(ev->attributes, CFX_NODE_LABEL));
    char key[200];
    snprintf(key, sizeof key, "%d/%lld/%.80s", a->i, (long long)ev->time_nano, ev->id);
    pthread_mutex_lock(&env->mu);
    if (ev->time > fw->since_s)
        fw->since_s = ev->time;
    if (json_object_get(env->seen, key) == NULL) {
        json_object_set_new(env->seen, key, json_true());
        json_t *where = json_object_get(env->creates, rid ? rid : "");
        if (where == NULL) {
            where = json_array();
            json_object_set_new(env->creates, rid ? rid : "", where);
        }
        json_array_append_new(where, json_integer(a->i));
        if (nodel == NULL || strcmp(nodel, env->nd[a->i - 1].name) != 0)
            env->misplaced++;
    }
    pthread_mutex_unlock(&env->mu);
    return 0;
}

/* A follower: streams dockerd i's create events of the cluster; when the
 * stream breaks it resumes from the second of the last event seen. */
static void *follow_main(void *arg)
{
    follow_arg *a = arg;
    cfx *env = a->env;
    follower *fw = &env->nd[a->i - 1].fw;
    char l[200];
    snprintf(l, sizeof l, CFX_CLUSTER_LABEL "=%s", env->queue);
    json_t *flt =
        json_pack("{s:[s], s:[s], s:[s]}", "type", "container", "event", "create", "label", l);
    while (!env->stop_followers) {
        pthread_mutex_lock(&env->mu);
        dkc_events_opts o = {.since = fw->since_s, .filters = flt};
        pthread_mutex_unlock(&env->mu);
        dkc_events(fw->cli, &o, on_event, a);
        if (!env->stop_followers)
            usleep(100 * 1000);
    }
    json_decref(flt);
    free(a);
    return NULL;
}

/* Starts a follower per dockerd.  0 or -1. */
static int followers_start(cfx *env)
{
    for (int i = 1; i <= env->n; i++) {
        follower *fw = &env->nd[i - 1].fw;
        fw->cli = dfx_docker_client(env->nd[i - 1].docker_host);
        follow_arg *a = malloc(sizeof *a);
        if (fw->cli == NULL || a == NULL) {
            free(a);
            return -1;
        }
        a->env = env;
        a->i = i;
        fw->since_s = (int64_t)time(NULL) - 1;
        if (pthread_create(&fw->th, NULL, follow_main, a) != 0) {
            free(a);
            return -1;
        }
        fw->started = 1;
    }
    return 0;
}

static void followers_stop(cfx *env)
{
    env->stop_followers = 1;
    for (int i = 1; i <= env->n; i++) {
        follower *fw = &env->nd[i - 1].fw;
        if (fw->started) {
            dkc_client_cancel(fw->cli);
            pthread_join(fw->th, NULL);
            fw->started = 0;
        }
        dkc_client_free(fw->cli);
        fw->cli = NULL;
    }
}

int cfx_creates(cfx *env, int i, const char *prefix)
{
    size_t plen = prefix ? strlen(prefix) : 0;
    int n = 0;
    const char *rid;
    json_t *where;
    pthread_mutex_lock(&env->mu);
    json_object_foreach(env->creates, rid, where)
    {
        if (plen && strncmp(rid, prefix, plen) != 0)
            continue;
        size_t k;
        json_t *x;
        json_array_foreach(where, k, x) if (i == 0 || json_integer_value(x) == i) n++;
    }
    pthread_mutex_unlock(&env->mu);
    return n;
}

int cfx_creates_of(cfx *env, const char *request_id, int *where)
{
    pthread_mutex_lock(&env->mu);
    json_t *w = json_object_get(env->creates, request_id);
    int n = (int)json_array_size(w);
    if (where)
        *where = n > 0 ? (int)json_integer_value(json_array_get(w, 0)) : 0;
    pthread_mutex_unlock(&env->mu);
    return n;
}

int cfx_creates_misplaced(cfx *env)
{
    pthread_mutex_lock(&env->mu);
    int n = env->misplaced;
    pthread_mutex_unlock(&env->mu);
    return n;
}

/* ---- dispatchers ---- */

/* Starts dispatcher i as a child that gets SIGKILL when the test process
 * dies.  Its pid, or -1. */
static pid_t spawn_dispatcher(cfx *env, int i)
{
    node *nd = &env->nd[i - 1];
    const char *bin = getenv("DISPATCH_BIN");
    if (bin == NULL || *bin == '\0') {
        fprintf(stderr, "cluster_fx: DISPATCH_BIN is not set\n");
        return -1;
    }
    char workers[16];
    snprintf(workers, sizeof workers, "%d", env->workers);
    size_t ne = count_args(env->extra_args), nn = count_args(nd->args);
    const char **argv = calloc(12 + ne + nn, sizeof *argv);
    if (argv == NULL)
        return -1;
    size_t k = 0;
    const char *fixed[] = {bin,      "-q",        env->queue, "--node", nd->name, "--queue-type",
                           "quorum", "--workers", workers};
    for (size_t j = 0; j < sizeof fixed / sizeof fixed[0]; j++)
        argv[k++] = fixed[j];
    for (size_t j = 0; j < ne; j++)
        argv[k++] = env->extra_args[j];
    for (size_t j = 0; j < nn; j++)
        argv[k++] = nd->args[j];
    argv[k++] = nd->docker_host;
    argv[k++] = nd->amqp_list;
    argv[k] = NULL;

    FILE *lf = fopen(nd->log, "a");
    if (lf) {
        fprintf(lf, "==== cluster_fx: starting dispatcher %d:", i);
        for (size_t j = 0; j < k; j++)
            fprintf(lf, " %s", argv[j]);
        fprintf(lf, "\n");
        fclose(lf);
    }
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        /* only async-signal-safe calls here: the test may have threads */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        int in = open("/dev/null", O_RDONLY);
        int out = open(nd->log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (in < 0 || out < 0)
            _exit(127);
        dup2(in, 0);
        dup2(out, 1);
        dup2(out, 2);
        execve(bin, (char *const *)argv, environ);
        _exit(127);
    }
    free(argv);
    if (pid < 0) {
        fprintf(stderr, "cluster_fx: fork: %s\n", strerror(errno));
        return -1;
    }
    char path[300];
    snprintf(path, sizeof path, "%s/%s.pid", env->state, nd->name);
    write_pid(path, pid);
    return pid;
}

pid_t cfx_dispatcher_pid(cfx *env, int i, int *status)
{
    if (status)
        *status = -1;
    if (!valid(env, i) || env->nd[i - 1].pid <= 0)
        return 0;
    node *nd = &env->nd[i - 1];
    int st;
    if (waitpid(nd->pid, &st, WNOHANG) == nd->pid) {
        nd->pid = 0;
        if (status)
            *status = st;
        return 0;
    }
    return nd->pid;
}

/* The admin handle, connected to a running node (the one it was on when
 * that still runs).  NULL when no node answers. */
static broker *admin(cfx *env)
{
    if (env->admin && broker_connected(env->admin) && env->nd[env->admin_on - 1].rabbit_up)
        return env->admin;
    broker_free(env->admin);
    env->admin = NULL;
    for (int i = 1; i <= env->n && env->admin == NULL; i++) {
        if (!env->nd[i - 1].rabbit_up)
            continue;
        env->admin = dfx_client_open(env->nd[i - 1].amqp_url, env->queue, 5000);
        env->admin_on = i;
    }
    return env->admin;
}

/* Consumers of queue (-1 when it cannot be asked). */
static long consumers_of(cfx *env, const char *queue)
{
    broker *b = admin(env);
    uint32_t c = 0;
    if (b == NULL)
        return -1;
    int rc = broker_queue_counts(b, queue, NULL, &c);
    if (rc != 0) {
        if (rc != BROKER_ENOTFOUND && !broker_connected(b)) {
            broker_free(env->admin);
            env->admin = NULL;
        }
        return -1;
    }
    return (long)c;
}

int cfx_wait_consumers(cfx *env, const char *queue, unsigned want, int timeout_ms)
{
    long c = -1;
    int64_t end = dfx_now_ms() + timeout_ms;
    do {
        c = consumers_of(env, queue);
        if (c == (long)want)
            return 0;
        usleep(100 * 1000);
    } while (dfx_now_ms() < end);
    fprintf(stderr, "cluster_fx: %s has %ld consumers, not %u, after %d ms\n", queue, c, want,
            timeout_ms);
    return -1;
}

int cfx_wait_dispatcher(cfx *env, int i, int timeout_ms)
{
    if (!valid(env, i))
        return -1;
    char q[200];
    snprintf(q, sizeof q, "%s.node.%s", env->queue, env->nd[i - 1].name);
    int64_t end = dfx_now_ms() + timeout_ms;
    do {
        int st;
        if (cfx_dispatcher_pid(env, i, &st) == 0) {
            fprintf(stderr, "cluster_fx: dispatcher %d is not running (wait status %d); see %s\n",
                    i, st, env->nd[i - 1].log);
            return -1;
        }
        if (consumers_of(env, q) >= 1)
            return 0;
        usleep(100 * 1000);
    } while (dfx_now_ms() < end);
    fprintf(stderr, "cluster_fx: dispatcher %d does not consume %s after %d ms; see %s\n", i, q,
            timeout_ms, env->nd[i - 1].log);
    return -1;
}

int cfx_dispatcher_args(cfx *env, int i, const char *const *args)
{
    if (!valid(env, i))
        return -1;
    free_args(env->nd[i - 1].args);
    env->nd[i - 1].args = copy_args(args);
    return 0;
}

/* Starts dispatcher i without waiting; 0 or -1. */
static int spawn_and_record(cfx *env, int i)
{
    pid_t pid = spawn_dispatcher(env, i);
    if (pid < 0)
        return -1;
    env->nd[i - 1].pid = pid;
    return 0;
}

int cfx_dispatcher_start(cfx *env, int i)
{
    if (!valid(env, i))
        return -1;
    if (cfx_dispatcher_pid(env, i, NULL) > 0) {
        fprintf(stderr, "cluster_fx: dispatcher %d runs already\n", i);
        return -1;
    }
    if (spawn_and_record(env, i) != 0)
        return -1;
    if (cfx_wait_dispatcher(env, i, START_WAIT_MS) != 0) {
        cfx_dispatcher_stop(env, i, SIGKILL, 0);
        return -1;
    }
    return 0;
}

int cfx_dispatcher_stop(cfx *env, int i, int sig, int grace_ms)
{
    if (cfx_dispatcher_pid(env, i, NULL) <= 0)
        return -1;
    int st = dfx_stop(&env->nd[i - 1].pid, sig, grace_ms);
    /* RabbitMQ drops the consumers of a killed process a moment after the
     * socket closes; until then a new instance would be refused the node's
     * identity, and a count of consumers would still see the old one */
    char q[200];
    snprintf(q, sizeof q, "%s.node.%s", env->queue, env->nd[i - 1].name);
    for (int k = 0; k < 50 && env->nd[i - 1].rabbit_up && consumers_of(env, q) > 0; k++)
        usleep(100 * 1000);
    return st;
}

int cfx_dispatcher_restart(cfx *env, int i, int sig)
{
    if (!valid(env, i))
        return -1;
    cfx_dispatcher_stop(env, i, sig, 30000);
    return cfx_dispatcher_start(env, i);
}

int cfx_restore(cfx *env)
{
    if (env == NULL)
        return -1;
    int rc = 0;
    for (int i = 1; i <= env->n; i++)
        if (!env->nd[i - 1].rabbit_up && cfx_rabbit_start(env, i) != 0)
            rc = -1;
    for (int i = 1; i <= env->n; i++) {
        int st;
        if (cfx_dispatcher_pid(env, i, &st) == 0) {
            if (st != -1)
                fprintf(stderr, "cluster_fx: dispatcher %d had ended (wait status %d)\n", i, st);
            if (spawn_and_record(env, i) != 0)
                rc = -1;
        }
    }
    for (int i = 1; i <= env->n; i++)
        if (cfx_wait_dispatcher(env, i, START_WAIT_MS) != 0)
            rc = -1;
    if (rc == 0 && cfx_wait_consumers(env, env->queue, (unsigned)env->n, START_WAIT_MS) != 0)
        rc = -1;
    return rc;
}

int cfx_delete_queues(cfx *env)
{
    broker *b = env ? admin(env) : NULL;
    if (b == NULL)
        return -1;
    /* the names broker.h's topology table derives from the queue name (the
     * <q>.node.<n>.owner locks go with their dispatchers' connections) */
    static const char *const queues[] = {"", ".dead"};
    static const char *const exchanges[] = {".dlx", ".events"};
    char name[300];
    int rc = 0;
    for (size_t k = 0; k < sizeof queues / sizeof queues[0]; k++) {
        snprintf(name, sizeof name, "%s%s", env->queue, queues[k]);
        rc |= broker_queue_delete(b, name);
    }
    for (int i = 1; i <= env->n; i++) {
        snprintf(name, sizeof name, "%s.node.n%d", env->queue, i);
        rc |= broker_queue_delete(b, name);
    }
    for (size_t k = 0; k < sizeof exchanges / sizeof exchanges[0]; k++) {
        snprintf(name, sizeof name, "%s%s", env->queue, exchanges[k]);
        rc |= broker_exchange_delete(b, name);
    }
    if (rc != 0)
        fprintf(stderr, "cluster_fx: deleting the queues of %s: %s\n", env->queue, broker_error(b));
    return rc != 0 ? -1 : 0;
}

/* ---- RabbitMQ nodes ---- */

int cfx_rabbit_stop(cfx *env, int i)
{
    if (!valid(env, i))
        return -1;
    if (env->admin_on == i) {
        broker_free(env->admin);
        env->admin = NULL;
    }
    env->nd[i - 1].rabbit_up = 0;
    int rc = shell("%s/rabbitmq-cluster.sh stop %s %d >>%s/rabbitmq.log 2>&1", dfx_scripts_dir(),
                   env->name, i, env->logdir);
    if (rc != 0)
        fprintf(stderr, "cluster_fx: RabbitMQ node %d did not stop; see %s/rabbitmq.log\n", i,
                env->logdir);
    return rc == 0 ? 0 : -1;
}

int cfx_rabbit_start(cfx *env, int i)
{
    if (!valid(env, i))
        return -1;
    int rc = shell("%s/rabbitmq-cluster.sh start-node %s %d >>%s/rabbitmq.log 2>&1",
                   dfx_scripts_dir(), env->name, i, env->logdir);
    if (rc != 0) {
        fprintf(stderr, "cluster_fx: RabbitMQ node %d did not start; see %s/rabbitmq.log\n", i,
                env->logdir);
        return -1;
    }
    env->nd[i - 1].rabbit_up = 1;
    return 0;
}

int cfx_rabbit_running(const cfx *env, int i)
{
    return valid(env, i) && env->nd[i - 1].rabbit_up;
}

/* ---- clients, names ---- */

broker *cfx_client_open(const cfx *env, int i)
{
    if (!valid(env, i))
        return NULL;
    return dfx_client_open(env->nd[i - 1].amqp_url, env->queue, 5000);
}

dkc_client *cfx_docker(cfx *env, int i)
{
    if (!valid(env, i))
        return NULL;
    node *nd = &env->nd[i - 1];
    if (nd->dkc == NULL)
        nd->dkc = dfx_docker_client(nd->docker_host);
    return nd->dkc;
}

int cfx_nodes(const cfx *env)
{
    return env ? env->n : 0;
}

const char *cfx_queue(const cfx *env)
{
    return env->queue;
}

const char *cfx_node_name(const cfx *env, int i)
{
    return valid(env, i) ? env->nd[i - 1].name : NULL;
}

int cfx_node_index(const cfx *env, const char *s)
{
    for (int i = 1; s && i <= env->n; i++)
        if (strcmp(env->nd[i - 1].name, s) == 0)
            return i;
    return 0;
}

const char *cfx_amqp_url(const cfx *env, int i)
{
    return valid(env, i) ? env->nd[i - 1].amqp_url : NULL;
}

int cfx_amqp_port(const cfx *env, int i)
{
    return valid(env, i) ? env->port + i - 1 : 0;
}

const char *cfx_docker_host(const cfx *env, int i)
{
    return valid(env, i) ? env->nd[i - 1].docker_host : NULL;
}

const char *cfx_log(const cfx *env, int i)
{
    return valid(env, i) ? env->nd[i - 1].log : NULL;
}

int64_t cfx_services_ms(const cfx *env)
{
    return env->services_ms;
}

int64_t cfx_dispatchers_ms(const cfx *env)
{
    return env->dispatchers_ms;
}

/* ---- the whole environment ---- */

void cfx_conf_init(cfx_conf *c)
{
    memset(c, 0, sizeof *c);
    c->nodes = 3;
    c->workers = 4;
}

/* Fills env's names and directories from conf; 0 or -1. */
static int env_names(cfx *env, const cfx_conf *conf)
{
    long pid = (long)getpid();
    env->n = conf->nodes;
    env->workers = conf->workers > 0 ? conf->workers : 4;
    if (env->n < 1 || env->n > CFX_MAX_NODES) {
        fprintf(stderr, "cluster_fx: %d nodes (1..%d)\n", env->n, CFX_MAX_NODES);
        return -1;
    }
    snprintf(env->name, sizeof env->name, "cfx%ld", pid);
    if (conf->queue)
        snprintf(env->queue, sizeof env->queue, "%s", conf->queue);
    else
        snprintf(env->queue, sizeof env->queue, "dd-cfx-%ld", pid);
    snprintf(env->state, sizeof env->state, "%s/c/cfx%ld", state_dir(), pid);
    snprintf(env->logdir, sizeof env->logdir, "/tmp/dd-cfx-%ld", pid);
    env->extra_args = copy_args(conf->extra_args);
    for (int i = 1; i <= env->n; i++) {
        /* each string is made from the pid, not from another field of env
         * (snprintf from one part of an object into another trips
         * -Werror=restrict at -O0) */
        node *nd = &env->nd[i - 1];
        snprintf(nd->name, sizeof nd->name, "n%d", i);
        snprintf(nd->svc, sizeof nd->svc, "cfx%ld-%d", pid, i);
        snprintf(nd->docker_host, sizeof nd->docker_host, "unix://%s/p/cfx%ld-%d/docker.sock",
                 state_dir(), pid, i);
        snprintf(nd->log, sizeof nd->log, "/tmp/dd-cfx-%ld/n%d.log", pid, i);
        nd->args = copy_args(conf->node_args[i - 1]);
    }
    return 0;
}

/* Makes the state record (owner, node count) and the log directory. */
static int env_record(cfx *env)
{
    if (shell("mkdir -p '%s' '%s'", env->state, env->logdir) != 0)
        return -1;
    char path[300];
    snprintf(path, sizeof path, "%s/nodes", env->state);
    FILE *f = fopen(path, "w");
    if (f == NULL)
        return -1;
    fprintf(f, "%d\n", env->n);
    fclose(f);
    snprintf(path, sizeof path, "%s/owner", env->state);
    return write_pid(path, getpid());
}

cfx *cfx_start(const cfx_conf *conf)
{
    cfx_conf defaults;
    if (conf == NULL) {
        cfx_conf_init(&defaults);
        conf = &defaults;
    }
    cfx *env = calloc(1, sizeof *env);
    if (env == NULL)
        return NULL;
    pthread_mutex_init(&env->mu, NULL);
    env->creates = json_object();
    env->seen = json_object();
    if (env->creates == NULL || env->seen == NULL || env_names(env, conf) != 0) {
        cfx_stop(env);
        return NULL;
    }
    cfx_sweep();
    if (choose_ports(env) != 0 || env_record(env) != 0) {
        cfx_stop(env);
        return NULL;
    }
    for (int i = 1; i <= env->n; i++)
        snprintf(env->nd[i - 1].amqp_url, sizeof env->nd[i - 1].amqp_url,
                 "amqp://guest:guest@127.0.0.1:%d/", env->port + i - 1);
    for (int i = 1; i <= env->n; i++) {
        /* built in a buffer of its own: source and target in one struct
         * are an overlap to -Werror=restrict at -O0 */
        char list[sizeof env->nd[0].amqp_list] = "";
        size_t used = 0;
        for (int k = 0; k < env->n; k++) {
            int j = (i - 1 + k) % env->n; /* its own node first */
            int w = snprintf(list + used, sizeof list - used, "%s%s", k ? "," : "",
                             env->nd[j].amqp_url);
            if (w > 0 && (size_t)w < sizeof list - used)
                used += (size_t)w;
        }
        memcpy(env->nd[i - 1].amqp_list, list, used + 1);
    }

    int64_t t0 = dfx_now_ms();
    env->services = 1;
    if (services_up(env) != 0 || check_images(env) != 0 || followers_start(env) != 0) {
        cfx_stop(env);
        return NULL;
    }
    int64_t t1 = dfx_now_ms();
    env->services_ms = t1 - t0;
    if (!conf->no_dispatchers) {
        /* all at once, then wait for each: their starts overlap */
        for (int i = 1; i <= env->n; i++) {
            if (spawn_and_record(env, i) != 0) {
                cfx_stop(env);
                return NULL;
            }
        }
        for (int i = 1; i <= env->n; i++) {
            if (cfx_wait_dispatcher(env, i, START_WAIT_MS) != 0) {
                cfx_stop(env);
                return NULL;
            }
        }
        if (cfx_wait_consumers(env, env->queue, (unsigned)env->n, START_WAIT_MS) != 0) {
            cfx_stop(env);
            return NULL;
        }
    }
    env->dispatchers_ms = dfx_now_ms() - t1;
    return env;
}

void cfx_stop(cfx *env)
{
    if (env == NULL)
        return;
    for (int i = 1; i <= env->n; i++) /* all at once, then wait for each */
        if (cfx_dispatcher_pid(env, i, NULL) > 0)
            kill(env->nd[i - 1].pid, SIGTERM);
    for (int i = 1; i <= env->n; i++)
        cfx_dispatcher_stop(env, i, SIGTERM, STOP_GRACE_MS);
    followers_stop(env);
    broker_free(env->admin);
    env->admin = NULL;
    if (env->services) {
        for (int i = 1; i <= env->n; i++) {
            /* removed by force now, or dockerd's shutdown waits for them */
            dfx_remove_containers(cfx_docker(env, i), CFX_CLUSTER_LABEL, env->queue);
            dkc_client_free(env->nd[i - 1].dkc);
            env->nd[i - 1].dkc = NULL;
        }
        /* the services' own logs go with their state: keep a copy */
        shell("for i in $(seq 1 %d); do cp -r %s/r/%s-$i/l %s/rabbitmq-$i; "
              "cp %s/p/%s-$i/dockerd.log %s/dockerd-$i.log; done 2>/dev/null",
              env->n, state_dir(), env->name, env->logdir, state_dir(), env->name, env->logdir);
        if (services_down(env->name, env->n, env->logdir) == 0)
            shell("rm -rf '%s'", env->state);
        else
            fprintf(stderr, "cluster_fx: stopping %s failed; see %s (cfx_sweep() retries)\n",
                    env->name, env->logdir);
    }
    for (int i = 1; i <= env->n; i++)
        free_args(env->nd[i - 1].args);
    free_args(env->extra_args);
    json_decref(env->creates);
    json_decref(env->seen);
    pthread_mutex_destroy(&env->mu);
    free(env);
}

/* ---- requests and replies ---- */

cfx_replies *cfx_replies_new(cfx *env, int i, const char *queue)
{
    if (!valid(env, i))
        return NULL;
    cfx_replies *r = calloc(1, sizeof *r);
    if (r == NULL)
        return NULL;
    r->env = env;
    r->i = i;
    snprintf(r->queue, sizeof r->queue, "%s", queue);
    r->got = json_object();
    r->sent = json_object();
    if (r->got == NULL || r->sent == NULL ||
        dfx_declare_durable_queue(cfx_amqp_port(env, i), queue) != 0 ||
        (r->cli = cfx_client_open(env, i)) == NULL) {
        fprintf(stderr, "cluster_fx: reply queue %s on node %d: cannot declare or connect\n", queue,
                i);
        cfx_replies_free(r);
        return NULL;
    }
    return r;
}

void cfx_replies_free(cfx_replies *r)
{
    if (r == NULL)
        return;
    if (r->cli)
        broker_queue_delete(r->cli, r->queue);
    broker_free(r->cli);
    json_decref(r->got);
    json_decref(r->sent);
    free(r);
}

/* Replaces r's connection; 0 or -1. */
static int replies_reopen(cfx_replies *r)
{
    broker_free(r->cli);
    r->cli = cfx_client_open(r->env, r->i);
    return r->cli ? 0 : -1;
}

int cfx_send(cfx_replies *r, const char *routing_key, const char *id, const char *body)
{
    return cfx_send_as(r, routing_key, id, body, NULL);
}

const char *cfx_admin_config(void)
{
    static char path[96];
    if (path[0])
        return path;
    snprintf(path, sizeof path, "/tmp/dd-cfx-admin-%ld.json", (long)getpid());
    FILE *f = fopen(path, "w");
    int ok = f != NULL && fputs("{\"policy\": {\"admin_users\": [\"guest\"]}}\n", f) >= 0;
    if (f != NULL && fclose(f) != 0)
        ok = 0;
    if (!ok) {
        fprintf(stderr, "cluster_fx: cannot write %s\n", path);
        path[0] = '\0';
        return NULL;
    }
    return path;
}

int cfx_send_as(cfx_replies *r, const char *routing_key, const char *id, const char *body,
                const char *user)
{
    broker_props p = {.reply_to = r->queue,
                      .correlation_id = id,
                      .message_id = id,
                      .content_type = "application/json",
                      .user_id = user,
                      .persistent = 1};
    json_object_set_new(r->sent, id, json_true());
    int rc = BROKER_ENOTCONN;
    for (int attempt = 0; attempt < 2; attempt++) {
        if (r->cli == NULL && replies_reopen(r) != 0)
            continue;
        int64_t t = dfx_now_ms();
        rc = broker_publish(r->cli, "", routing_key, &p, body, strlen(body), 0);
        if (dfx_now_ms() - t > 1000)
            fprintf(stderr, "cluster_fx: publishing %s took %lld ms\n", id,
                    (long long)(dfx_now_ms() - t));
        if (rc == 0)
            return 0;
        fprintf(stderr, "cluster_fx: publish %s: %s: %s\n", id, broker_strerror(rc),
                broker_error(r->cli));
        replies_reopen(r);
    }
    return rc;
}

/* Takes reply d into r's record. */
static void replies_take(cfx_replies *r, const broker_delivery *d)
{
    const char *id = d->correlation_id ? d->correlation_id : "";
    if (json_object_get(r->sent, id) == NULL)
        r->strays++;
    json_t *e = json_object_get(r->got, id);
    if (e == NULL) {
        json_t *j = json_loadb((const char *)d->body, d->len, 0, NULL);
        if (j == NULL)
            j = json_stringn((const char *)d->body, d->len);
        e = json_pack("{s:i, s:o, s:I}", "n", 0, "first", j, "at", (json_int_t)dfx_now_ms());
        json_object_set_new(r->got, id, e);
    }
    json_object_set_new(e, "n", json_integer(json_integer_value(json_object_get(e, "n")) + 1));
}

int cfx_replies_drain(cfx_replies *r)
{
    int n = 0;
    for (;;) {
        if (r->cli == NULL && replies_reopen(r) != 0)
            return -1;
        broker_delivery d;
        memset(&d, 0, sizeof d);
        int64_t t = dfx_now_ms();
        int rc = broker_get(r->cli, r->queue, &d);
        if (dfx_now_ms() - t > 1000)
            fprintf(stderr, "cluster_fx: reading %s took %lld ms\n", r->queue,
                    (long long)(dfx_now_ms() - t));
        if (rc == 1) {
            replies_take(r, &d);
            n++;
        }
        broker_delivery_cleanup(&d);
        if (rc == 1)
            continue;
        if (rc < 0) {
            fprintf(stderr, "cluster_fx: reading %s: %s: %s\n", r->queue, broker_strerror(rc),
                    broker_error(r->cli));
            broker_free(r->cli);
            r->cli = NULL;
            return n > 0 ? n : -1;
        }
        return n;
    }
}

int cfx_replies_wait(cfx_replies *r, const char *const *ids, size_t n, int timeout_ms,
                     int settle_ms)
{
    int64_t end = dfx_now_ms() + timeout_ms;
    size_t missing = n;
    for (;;) {
        int got = cfx_replies_drain(r);
        missing = 0;
        for (size_t k = 0; k < n; k++)
            missing += cfx_replies_count(r, ids[k]) == 0;
        if (missing == 0 || dfx_now_ms() >= end)
            break;
        if (got <= 0)
            usleep(50 * 1000);
    }
    int64_t settle_end = dfx_now_ms() + settle_ms;
    while (dfx_now_ms() < settle_end) {
        if (cfx_replies_drain(r) <= 0)
            usleep(50 * 1000);
    }
    return (int)missing;
}

int cfx_replies_count(const cfx_replies *r, const char *id)
{
    return (int)json_integer_value(json_object_get(json_object_get(r->got, id), "n"));
}

int64_t cfx_replies_first_at(const cfx_replies *r, const char *id)
{
    return json_integer_value(json_object_get(json_object_get(r->got, id), "at"));
}

json_t *cfx_replies_first(const cfx_replies *r, const char *id)
{
    return json_object_get(json_object_get(r->got, id), "first");
}

int cfx_replies_strays(const cfx_replies *r)
{
    return r->strays;
}
