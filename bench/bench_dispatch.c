/*
 * bench_dispatch.c -- the dispatcher against the raw Engine API, in one run
 * on one Docker daemon.
 *
 *   bench_dispatch DISPATCHER_BIN [N [CONCURRENCY [ROUNDS]]]
 *
 * Raw: CONCURRENCY threads, each with its own client, do container
 * lifecycles (create, start, wait, remove) of a busybox `true` container
 * straight against the Engine API.
 * Dispatch: DISPATCHER_BIN, started once on a private queue, gets `run`
 * messages (Remove: true), CONCURRENCY in flight at a time, over one AMQP
 * connection with direct reply-to.
 * N is split into ROUNDS (default 5) of both phases; the order alternates
 * from round to round, so that the drift of a shared machine (the daemon
 * warming up, neighbours) falls on both sides alike.
 * Prints each round's ratio, both total times, their ratio, the median
 * round ratio, the dispatcher's added time per message, its resident
 * memory idle and its peak under load, and checks that every container it
 * created was removed and that every request was answered exactly once
 * (replies are counted per request id, not in total: a second reply to one
 * request fails the benchmark).
 *
 * Environment: DOCKER_HOST (default socket), BENCH_AMQP_URL (default
 * amqp://guest:guest@127.0.0.1:5672/), BENCH_IMAGE (default busybox:latest).
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "broker.h"
#include "dkc.h"

static const char *image;
static atomic_int raw_left;
static atomic_int raw_failed;
static int *replies_per; /* replies counted per request (by seq) */
static int n_requests;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *raw_worker(void *arg)
{
    dkc_client *c = NULL;
    const char *cmd[] = {"true", NULL};
    const char *labels[] = {"bench=raw", NULL};
    if (dkc_client_new(NULL, &c, NULL, 0) != 0) {
        atomic_fetch_add(&raw_failed, 1);
        return NULL;
    }
    while (atomic_fetch_sub(&raw_left, 1) > 0) {
        dkc_container_config cfg = {
            .image = image, .cmd = cmd, .labels = labels, .network_mode = "none"};
        char *id = NULL;
        int64_t code = -1;
        if (dkc_container_create(c, NULL, &cfg, &id, NULL) != 0 ||
            dkc_container_start(c, id) != 0 || dkc_container_wait(c, id, NULL, &code, NULL) != 0 ||
            code != 0)
            atomic_fetch_add(&raw_failed, 1);
        if (id != NULL && dkc_container_remove(c, id, true, false) != 0)
            atomic_fetch_add(&raw_failed, 1);
        free(id);
    }
    dkc_client_free(c);
    return NULL;
}

/* Resident and peak resident memory of pid in kB, from /proc. */
static void rss_of(pid_t pid, long *rss, long *hwm)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    *rss = *hwm = -1;
    if (f == NULL)
        return;
    while (fgets(line, sizeof line, f)) {
        if (!strncmp(line, "VmRSS:", 6))
            *rss = strtol(line + 6, NULL, 10);
        else if (!strncmp(line, "VmHWM:", 6))
            *hwm = strtol(line + 6, NULL, 10);
    }
    fclose(f);
}

static int publish_run(broker *b, const char *queue, int seq)
{
    char body[512], id[64];
    snprintf(body, sizeof body,
             "{\"Dockercmd\":\"run\",\"Image\":\"%s\",\"Cmd\":[\"true\"],"
             "\"Options\":{\"Remove\":true,\"HostConfig\":{\"NetworkMode\":\"none\"}}}",
             image);
    snprintf(id, sizeof id, "bench-%d-%d", (int)getpid(), seq);
    broker_props p = {.content_type = "application/json",
                      .correlation_id = id,
                      .message_id = id,
                      .reply_to = BROKER_REPLY_TO,
                      .persistent = 1};
    return broker_publish(b, "", queue, &p, body, strlen(body), BROKER_PUBLISH_MANDATORY);
}

/* Counts reply d against its request (correlation id bench-<pid>-<seq>);
 * 1 for the request's first reply, 0 for a later one or a stranger. */
static int count_reply(const broker_delivery *d)
{
    const char *dash = d->correlation_id ? strrchr(d->correlation_id, '-') : NULL;
    long seq = dash ? strtol(dash + 1, NULL, 10) : -1;
    if (seq < 0 || seq >= n_requests)
        return 0;
    return ++replies_per[seq] == 1;
}

/* Runs count raw lifecycles on conc threads; returns the seconds taken. */
static double raw_phase(int count, int conc)
{
    pthread_t th[256];
    atomic_store(&raw_left, count);
    double t0 = now_s();
    for (int i = 0; i < conc; i++)
        pthread_create(&th[i], NULL, raw_worker, NULL);
    for (int i = 0; i < conc; i++)
        pthread_join(th[i], NULL);
    return now_s() - t0;
}

/* Sends count run messages through the dispatcher, conc in flight; adds to
 * *got and *failed, advances *seq.  Returns the seconds taken, or -1 when
 * the broker failed. */
static double dispatch_phase(broker *b, const char *queue, int count, int conc, int *seq, int *got,
                             int *failed)
{
    int sent = 0, done = 0;
    double t0 = now_s();
    while (sent < conc && sent < count) {
        sent++;
        if (publish_run(b, queue, (*seq)++) != 0)
            (*failed)++;
    }
    while (done < count && now_s() - t0 < 600) {
        broker_delivery d = {0};
        int rc = broker_poll(b, 1000, &d);
        if (rc < 0) {
            fprintf(stderr, "bench_dispatch: %s\n", broker_error(b));
            return -1;
        }
        if (rc == 0)
            continue;
        if (d.source == BROKER_SRC_REPLY) {
            int first = count_reply(&d);
            if (!first) { /* a second answer: counted, does not stand for another run */
                broker_delivery_cleanup(&d);
                continue;
            }
            done++;
            (*got)++;
            if (d.body == NULL || strstr((const char *)d.body, "\"ok\":true") == NULL) {
                (*failed)++;
                if (*failed <= 3)
                    fprintf(stderr, "bench_dispatch: reply: %.300s\n",
                            d.body ? (const char *)d.body : "");
            }
            if (sent < count) {
                sent++;
                if (publish_run(b, queue, (*seq)++) != 0)
                    (*failed)++;
            }
        }
        broker_delivery_cleanup(&d);
    }
    return now_s() - t0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_dispatch DISPATCHER_BIN [N [CONCURRENCY [ROUNDS]]]\n");
        return 64;
    }
    const char *bin = argv[1];
    int n = argc > 2 ? (int)strtol(argv[2], NULL, 10) : 100;
    int conc = argc > 3 ? (int)strtol(argv[3], NULL, 10) : 4;
    int rounds = argc > 4 ? (int)strtol(argv[4], NULL, 10) : 5;
    const char *amqp = getenv("BENCH_AMQP_URL");
    image = getenv("BENCH_IMAGE") ? getenv("BENCH_IMAGE") : "busybox:latest";
    if (amqp == NULL)
        amqp = "amqp://guest:guest@127.0.0.1:5672/";
    if (n < 1 || conc < 1 || conc > 256 || rounds < 1 || rounds > 100 || rounds > n) {
        fprintf(stderr, "bench_dispatch: N, CONCURRENCY and ROUNDS must be positive "
                        "(CONCURRENCY <= 256, ROUNDS <= 100 and <= N)\n");
        return 64;
    }
    signal(SIGPIPE, SIG_IGN);
    dkc_global_init();
    n_requests = n;
    replies_per = calloc((size_t)n, sizeof *replies_per);
    if (replies_per == NULL)
        return 1;

    /* The dispatcher on a private queue, idle at first. */
    char queue[64], node[64], conc_s[16];
    snprintf(queue, sizeof queue, "bench-%d", (int)getpid());
    snprintf(node, sizeof node, "bench-node-%d", (int)getpid());
    snprintf(conc_s, sizeof conc_s, "%d", conc);
    pid_t pid = fork();
    if (pid == 0) {
        if (freopen("/dev/null", "w", stdout) == NULL)
            _exit(127);
        const char *dh = getenv("DOCKER_HOST");
        execl(bin, bin, "-q", queue, "--node", node, "--prefetch", conc_s,
              dh ? dh : "unix:///var/run/docker.sock", amqp, (char *)NULL);
        _exit(127);
    }
    broker_conf bc;
    broker_conf_init(&bc);
    bc.url = amqp;
    bc.queue = queue; /* broker_topology_delete below deletes this name's topology */
    bc.role = BROKER_ROLE_CLIENT;
    broker *b = NULL;
    char *cause = NULL;
    int rc = broker_open(&bc, &b, &cause);
    if (rc != 0) {
        fprintf(stderr, "bench_dispatch: broker: %s\n", cause ? cause : broker_strerror(rc));
        kill(pid, SIGKILL);
        return 1;
    }
    /* Wait for the dispatcher's queue to have a consumer, then let it idle. */
    uint32_t consumers = 0;
    for (int i = 0; i < 100 && consumers == 0; i++) {
        broker_queue_counts(b, queue, NULL, &consumers);
        if (consumers == 0)
            usleep(100 * 1000);
    }
    if (consumers == 0) {
        fprintf(stderr, "bench_dispatch: %s never started consuming %s\n", bin, queue);
        kill(pid, SIGKILL);
        return 1;
    }
    sleep(1);
    long idle_rss, idle_hwm;
    rss_of(pid, &idle_rss, &idle_hwm);
    broker_rpc_begin(b);

    printf("messages: %d, concurrency: %d, rounds: %d, image: %s\n", n, conc, rounds, image);
    double raw = 0, disp = 0, ratios[100];
    int seq = 0, got = 0, failed = 0;
    for (int r = 0; r < rounds; r++) {
        int count = n / rounds + (r < n % rounds);
        double tr = 0, td = 0;
        if (r % 2 == 0) {
            tr = raw_phase(count, conc);
            td = dispatch_phase(b, queue, count, conc, &seq, &got, &failed);
        } else {
            td = dispatch_phase(b, queue, count, conc, &seq, &got, &failed);
            tr = raw_phase(count, conc);
        }
        if (td < 0)
            break;
        raw += tr;
        disp += td;
        ratios[r] = td / tr;
        printf("round %d (%d each, %s first): raw %.2f s, dispatcher %.2f s, ratio %.3f\n", r + 1,
               count, r % 2 == 0 ? "raw" : "dispatcher", tr, td, ratios[r]);
    }
    long load_rss, load_hwm;
    rss_of(pid, &load_rss, &load_hwm);
    /* A second reply would come within a supervision pass: listen a while. */
    for (double t0 = now_s(); now_s() - t0 < 2.0;) {
        broker_delivery d = {0};
        if (broker_poll(b, 200, &d) == 1 && d.source == BROKER_SRC_REPLY)
            count_reply(&d);
        broker_delivery_cleanup(&d);
    }
    int unanswered = 0, once = 0, twice = 0;
    for (int i = 0; i < n; i++) {
        unanswered += replies_per[i] == 0;
        once += replies_per[i] == 1;
        twice += replies_per[i] >= 2;
    }

    kill(pid, SIGTERM);
    int st = 0;
    waitpid(pid, &st, 0);

    /* Every container the dispatcher made must be gone. */
    dkc_client *c = NULL;
    long left = -1;
    if (dkc_client_new(NULL, &c, NULL, 0) == 0) {
        char lab[128];
        snprintf(lab, sizeof lab, "io.docker-dispatch.node=%s", node);
        json_t *f = json_pack("{s:[s]}", "label", lab);
        json_t *list = NULL;
        dkc_list_opts lo = {.all = true, .filters = f};
        if (dkc_container_list(c, &lo, &list) == 0)
            left = (long)json_array_size(list);
        json_decref(list);
        json_decref(f);
        dkc_client_free(c);
    }
    broker_topology_delete(b);
    char dead[96], nodeq[160];
    snprintf(dead, sizeof dead, "%s.dead", queue);
    snprintf(nodeq, sizeof nodeq, "%s.node.%s", queue, node);
    broker_queue_delete(b, queue);
    broker_queue_delete(b, dead);
    broker_queue_delete(b, nodeq);
    broker_free(b);

    qsort(ratios, (size_t)rounds, sizeof ratios[0], cmp_double);
    double median =
        rounds % 2 ? ratios[rounds / 2] : (ratios[rounds / 2 - 1] + ratios[rounds / 2]) / 2;
    printf("raw Engine API:  %.2f s  (%.1f ms per lifecycle, %d failed)\n", raw, raw * 1000 / n,
           atomic_load(&raw_failed));
    printf("via dispatcher:  %.2f s  (%.1f ms per message, %d replies, %d failed)\n", disp,
           disp * 1000 / n, got, failed);
    printf("ratio dispatcher/raw: %.3f (median of the rounds %.3f, range %.3f-%.3f)\n", disp / raw,
           median, ratios[0], ratios[rounds - 1]);
    printf("dispatcher overhead per message: %.1f ms\n", (disp - raw) * 1000 / n);
    printf("dispatcher RSS idle: %.1f MB, peak under load: %.1f MB\n", idle_rss / 1024.0,
           load_hwm / 1024.0);
    printf("replies per request: %d answered once, %d more than once, %d never\n", once, twice,
           unanswered);
    printf("containers left by the dispatcher: %ld\n", left);
    printf("dispatcher exit status: %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    dkc_global_cleanup();
    free(replies_per);
    return (failed == 0 && got == n && once == n && left == 0 && atomic_load(&raw_failed) == 0) ? 0
                                                                                                : 1;
}
