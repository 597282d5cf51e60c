/*
 * test_containers.c -- the container and exec calls against a real dockerd
 * (whatever $DOCKER_HOST says: the runner uses unix, TCP and TCP+TLS).
 *
 * Every test gets a fixture holding what it creates (container ids, image
 * ids, volume names, a host directory); the teardown removes all of it by
 * id even when the test failed half-way.  Containers run busybox with
 * HostConfig.NetworkMode = itest_network_mode().
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <pthread.h>
#include <sys/stat.h>
#include <time.h>

#include "itest.h"

#define MAX_IDS 8

typedef struct fx {
    dkc_client *c;
    char *ids[MAX_IDS];
    size_t n_ids;
    char *images[2];
    size_t n_images;
    char volumes[2][96];
    size_t n_volumes;
    char tmpdir[64]; /* a host directory for binds, "" when none */
} fx;

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    if (f == NULL)
        return -1;
    f->c = itest_client();
    if (f->c == NULL) {
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

/* Removes a host directory made by the test (one level of files). */
static void remove_tmpdir(const char *dir)
{
    DIR *d = opendir(dir);
    if (d != NULL) {
        struct dirent *e;
        char path[512];
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            unlink(path);
        }
        closedir(d);
    }
    rmdir(dir);
}

/* Removes everything the test recorded, by id, whatever state it is in. */
static int teardown(void **state)
{
    fx *f = *state;
    for (size_t i = 0; i < f->n_ids; i++) {
        int rc = dkc_container_remove(f->c, f->ids[i], true, true);
        if (rc != 0 && rc != DKC_ENOTFOUND)
            itest_explain(f->c, rc);
        free(f->ids[i]);
    }
    for (size_t i = 0; i < f->n_images; i++) {
        int rc = dkc_image_remove(f->c, f->images[i], true, false, NULL);
        if (rc != 0 && rc != DKC_ENOTFOUND)
            itest_explain(f->c, rc);
        free(f->images[i]);
    }
    for (size_t i = 0; i < f->n_volumes; i++) {
        int rc = dkc_volume_remove(f->c, f->volumes[i], true);
        if (rc != 0 && rc != DKC_ENOTFOUND)
            itest_explain(f->c, rc);
    }
    if (f->tmpdir[0] != '\0')
        remove_tmpdir(f->tmpdir);
    dkc_client_free(f->c);
    free(f);
    return 0;
}

#define assert_ok(c, expr)                                                                         \
    do {                                                                                           \
        int rc_ = (expr);                                                                          \
        if (rc_ != 0)                                                                              \
            itest_explain((c), rc_);                                                               \
        assert_int_equal(rc_, 0);                                                                  \
    } while (0)

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* A bound on calls that could otherwise block for ever (attach to a
 * container that has already exited waits for its next start; next-exit
 * waits for the next exit): after ms milliseconds the watchdog cancels the
 * client's call, which then fails with DKC_ECANCELED instead of hanging. */
typedef struct watchdog {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    dkc_client *c;
    long ms;
    bool disarmed;
} watchdog;

static void *watchdog_main(void *ud)
{
    watchdog *w = ud;
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += w->ms / 1000;
    deadline.tv_nsec += (w->ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&w->mu);
    int rc = 0;
    while (!w->disarmed && rc == 0)
        rc = pthread_cond_timedwait(&w->cv, &w->mu, &deadline);
    if (!w->disarmed) {
        fprintf(stderr, "itest: watchdog: canceling the running call after %ld ms\n", w->ms);
        dkc_client_cancel(w->c);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

static void watchdog_arm(watchdog *w, dkc_client *c, long ms)
{
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    w->c = c;
    w->ms = ms;
    w->disarmed = false;
    assert_int_equal(pthread_create(&w->thread, NULL, watchdog_main, w), 0);
}

static void watchdog_disarm(watchdog *w)
{
    pthread_mutex_lock(&w->mu);
    w->disarmed = true;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
}

/* Creates a container from cfg (network mode filled in), records its id
 * for the teardown and returns it (owned by the fixture). */
static const char *create(fx *f, const char *name, dkc_container_config *cfg)
{
    char *id = NULL;
    if (cfg->network_mode == NULL)
        cfg->network_mode = itest_network_mode();
    assert_true(f->n_ids < MAX_IDS);
    assert_ok(f->c, dkc_container_create(f->c, name, cfg, &id, NULL));
    assert_non_null(id);
    assert_int_equal(strlen(id), 64);
    f->ids[f->n_ids++] = id;
    return id;
}

/* A busybox container running cmd; started when start is set. */
static const char *container(fx *f, const char *const *cmd, bool start)
{
    dkc_container_config cfg = {.image = ITEST_IMAGE, .cmd = cmd};
    const char *id = create(f, NULL, &cfg);
    if (start)
        assert_ok(f->c, dkc_container_start(f->c, id));
    return id;
}

static const char *const SLEEPER[] = {"sleep", "30", NULL};

static int64_t wait_exit(fx *f, const char *id)
{
    int64_t code = -1;
    assert_ok(f->c, dkc_container_wait(f->c, id, NULL, &code, NULL));
    return code;
}

/* A field of an inspect result by path "A.B.C". */
static json_t *field(json_t *root, const char *path)
{
    char buf[128];
    snprintf(buf, sizeof buf, "%s", path);
    json_t *v = root;
    for (char *p = buf, *dot; v != NULL && p != NULL; p = dot) {
        dot = strchr(p, '.');
        if (dot != NULL)
            *dot++ = '\0';
        v = json_object_get(v, p);
    }
    return v;
}

static const char *str_at(json_t *root, const char *path)
{
    const char *s = json_string_value(field(root, path));
    return s ? s : "(missing)";
}

static json_t *inspect(fx *f, const char *id)
{
    json_t *info = NULL;
    assert_ok(f->c, dkc_container_inspect(f->c, id, &info));
    assert_non_null(info);
    return info;
}

/* True if the JSON array holds the string s. */
static bool array_has(json_t *arr, const char *s)
{
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v)
    {
        if (json_is_string(v) && strcmp(json_string_value(v), s) == 0)
            return true;
    }
    return false;
}

/* Container output, per stream. */
typedef struct output {
    char out[4096];
    char err[4096];
    size_t out_len, err_len;
} output;

static int collect(void *ud, int stream, const char *data, size_t len)
{
    output *o = ud;
    char *dst = stream == 2 ? o->err : o->out;
    size_t *n = stream == 2 ? &o->err_len : &o->out_len;
    if (stream != 1 && stream != 2)
        return 1;
    if (*n + len >= sizeof o->out)
        len = sizeof o->out - 1 - *n;
    memcpy(dst + *n, data, len);
    *n += len;
    dst[*n] = '\0';
    return 0;
}

/* Polls the logs until stdout contains text (for up to 10 s). */
static void wait_for_output(fx *f, const char *id, const char *text)
{
    for (int i = 0; i < 200; i++) {
        output o = {0};
        assert_ok(f->c, dkc_container_logs(f->c, id, NULL, collect, &o));
        if (strstr(o.out, text) != NULL)
            return;
        sleep_ms(50);
    }
    fail_msg("container %s never printed \"%s\"", id, text);
}

/* ---- create and inspect --------------------------------------------- */

static void create_with_full_config(void **state)
{
    fx *f = *state;
    snprintf(f->tmpdir, sizeof f->tmpdir, "/tmp/itest-bind-XXXXXX");
    assert_non_null(mkdtemp(f->tmpdir));
    assert_int_equal(chmod(f->tmpdir, 0777), 0); /* the container runs as 1234 */
    snprintf(f->volumes[f->n_volumes++], sizeof f->volumes[0], "%s", itest_name("vol"));

    char bind_host[128], bind_named[160], label[64];
    snprintf(bind_host, sizeof bind_host, "%s:/hostdir", f->tmpdir);
    snprintf(bind_named, sizeof bind_named, "%s:/named:ro", f->volumes[0]);
    snprintf(label, sizeof label, "itest.pid=%ld", (long)getpid());
    const char *entry[] = {"sh", "-c", NULL};
    const char *cmd[] = {"echo $FOO > /hostdir/out; pwd >> /hostdir/out; id -u >> /hostdir/out",
                         NULL};
    const char *env[] = {"FOO=bar baz", "OTHER=1", NULL};
    const char *labels[] = {label, "itest.kind=full", NULL};
    const char *volumes[] = {"/anon", NULL};
    const char *exposed[] = {"8080/tcp", NULL};
    const char *binds[] = {bind_host, bind_named, NULL};
    const char *cap_add[] = {"NET_ADMIN", NULL};
    const char *cap_drop[] = {"MKNOD", NULL};
    const char *dns[] = {"127.0.0.53", NULL};
    const char *hosts[] = {"db:10.0.0.2", NULL};
    dkc_port_binding ports[] = {{.container_port = "9090/tcp", .host_ip = "127.0.0.1"}};
    json_t *extra = json_pack("{s:s,s:{s:i}}", "Domainname", "example.test", "HostConfig",
                              "ShmSize", 8 * 1024 * 1024);
    dkc_container_config cfg = {
        .image = ITEST_IMAGE,
        .cmd = cmd,
        .entrypoint = entry,
        .env = env,
        .labels = labels,
        .volumes = volumes,
        .exposed_ports = exposed,
        .working_dir = "/work",
        .user = "1234:1234",
        .hostname = "itesthost",
        .stop_signal = "SIGUSR1",
        .stop_timeout = 3,
        .tty = true,
        .open_stdin = true,
        .stdin_once = true,
        .attach_stdin = true,
        .attach_stdout = true,
        .attach_stderr = true,
        .binds = binds,
        .ports = ports,
        .n_ports = 1,
        .restart_policy = "on-failure",
        .restart_max_retries = 2,
        .memory = 64 * 1024 * 1024,
        .memory_swap = 128 * 1024 * 1024,
        .nano_cpus = 500000000,
        .cpu_shares = 512,
        .pids_limit = 64,
        .read_only_rootfs = true,
        .cap_add = cap_add,
        .cap_drop = cap_drop,
        .dns = dns,
        .extra_hosts = hosts,
        .extra = extra,
    };
    const char *name = itest_name("full");
    char name_copy[96];
    snprintf(name_copy, sizeof name_copy, "/%s", name);
    const char *id = create(f, name, &cfg);
    json_decref(extra);

    json_t *info = inspect(f, id);
    assert_string_equal(str_at(info, "Name"), name_copy);
    json_t *lab = field(info, "Config.Labels");
    assert_string_equal(json_string_value(json_object_get(lab, "itest.kind")), "full");
    assert_non_null(json_object_get(lab, "itest.pid"));
    assert_true(array_has(field(info, "Config.Env"), "FOO=bar baz"));
    assert_true(array_has(field(info, "Config.Env"), "OTHER=1"));
    assert_true(array_has(field(info, "Config.Entrypoint"), "sh"));
    assert_true(array_has(field(info, "Config.Cmd"), cmd[0]));
    assert_string_equal(str_at(info, "Config.WorkingDir"), "/work");
    assert_string_equal(str_at(info, "Config.User"), "1234:1234");
    assert_string_equal(str_at(info, "Config.Hostname"), "itesthost");
    if (lane_podman_differs("Podman 4.3's inspect shows no Config.Domainname, StdinOnce, "
                            "AttachStd* or Volumes, the StopSignal by number, and Binds with "
                            "mount options added")) {
        assert_string_equal(str_at(info, "Config.StopSignal"), "10");
    } else {
        assert_string_equal(str_at(info, "Config.Domainname"), "example.test");
        assert_string_equal(str_at(info, "Config.StopSignal"), "SIGUSR1");
        assert_true(json_is_true(field(info, "Config.StdinOnce")));
        assert_true(json_is_true(field(info, "Config.AttachStdin")));
        assert_true(json_is_true(field(info, "Config.AttachStdout")));
        assert_true(json_is_true(field(info, "Config.AttachStderr")));
        assert_non_null(json_object_get(field(info, "Config.Volumes"), "/anon"));
        assert_true(array_has(field(info, "HostConfig.Binds"), bind_host));
        assert_true(array_has(field(info, "HostConfig.Binds"), bind_named));
    }
    assert_int_equal(json_integer_value(field(info, "Config.StopTimeout")), 3);
    assert_true(json_is_true(field(info, "Config.Tty")));
    assert_true(json_is_true(field(info, "Config.OpenStdin")));
    if (strcmp(itest_network_mode(), "none") != 0 ||
        !lane_podman_differs("Podman 4.3 keeps no ExposedPorts or PortBindings without a "
                             "network")) {
        assert_non_null(json_object_get(field(info, "Config.ExposedPorts"), "8080/tcp"));
        assert_non_null(json_object_get(field(info, "Config.ExposedPorts"), "9090/tcp"));
        json_t *pb = json_object_get(field(info, "HostConfig.PortBindings"), "9090/tcp");
        assert_string_equal(str_at(json_array_get(pb, 0), "HostIp"), "127.0.0.1");
    }
    assert_string_equal(str_at(info, "HostConfig.NetworkMode"), itest_network_mode());
    assert_string_equal(str_at(info, "HostConfig.RestartPolicy.Name"), "on-failure");
    assert_int_equal(json_integer_value(field(info, "HostConfig.RestartPolicy.MaximumRetryCount")),
                     2);
    assert_int_equal(json_integer_value(field(info, "HostConfig.Memory")), 64 * 1024 * 1024);
    assert_int_equal(json_integer_value(field(info, "HostConfig.MemorySwap")), 128 * 1024 * 1024);
    assert_int_equal(json_integer_value(field(info, "HostConfig.NanoCpus")), 500000000);
    assert_int_equal(json_integer_value(field(info, "HostConfig.CpuShares")), 512);
    assert_int_equal(json_integer_value(field(info, "HostConfig.PidsLimit")), 64);
    assert_int_equal(json_integer_value(field(info, "HostConfig.ShmSize")), 8 * 1024 * 1024);
    assert_true(json_is_true(field(info, "HostConfig.ReadonlyRootfs")));
    assert_false(json_is_true(field(info, "HostConfig.Privileged")));
    assert_true(array_has(field(info, "HostConfig.CapAdd"), "NET_ADMIN"));
    assert_true(array_has(field(info, "HostConfig.CapDrop"), "MKNOD"));
    assert_true(array_has(field(info, "HostConfig.Dns"), "127.0.0.53"));
    assert_true(array_has(field(info, "HostConfig.ExtraHosts"), "db:10.0.0.2"));

    /* Three mounts: the host directory, the named volume, an anonymous one. */
    size_t i;
    json_t *m;
    int seen = 0;
    json_array_foreach(field(info, "Mounts"), i, m)
    {
        const char *dst = str_at(m, "Destination");
        if (strcmp(dst, "/hostdir") == 0) {
            assert_string_equal(str_at(m, "Type"), "bind");
            assert_string_equal(str_at(m, "Source"), f->tmpdir);
            seen |= 1;
        } else if (strcmp(dst, "/named") == 0) {
            assert_string_equal(str_at(m, "Type"), "volume");
            assert_string_equal(str_at(m, "Name"), f->volumes[0]);
            assert_false(json_is_true(json_object_get(m, "RW")));
            seen |= 2;
        } else if (strcmp(dst, "/anon") == 0) {
            assert_string_equal(str_at(m, "Type"), "volume");
            seen |= 4;
        }
    }
    assert_int_equal(seen, 7);
    json_decref(info);

    /* It runs as configured: env, working directory, user, bind. */
    assert_ok(f->c, dkc_container_start(f->c, id));
    assert_int_equal(wait_exit(f, id), 0);
    char path[128], text[128] = "";
    snprintf(path, sizeof path, "%s/out", f->tmpdir);
    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    size_t n = fread(text, 1, sizeof text - 1, fp);
    fclose(fp);
    text[n] = '\0';
    assert_string_equal(text, "bar baz\n/work\n1234\n");
}

static void list_filters_size_limit(void **state)
{
    fx *f = *state;
    char label[96];
    snprintf(label, sizeof label, "itest.list=%s", itest_name("list"));
    const char *labels[] = {label, NULL};
    dkc_container_config cfg = {.image = ITEST_IMAGE, .cmd = SLEEPER, .labels = labels};
    const char *a = create(f, NULL, &cfg);
    dkc_container_config cfg2 = {.image = ITEST_IMAGE, .cmd = SLEEPER, .labels = labels};
    const char *b = create(f, NULL, &cfg2);
    assert_ok(f->c, dkc_container_start(f->c, b));

    json_t *filters = json_pack("{s:[s]}", "label", label);
    dkc_list_opts o = {.all = true, .filters = filters};
    json_t *list = NULL;
    assert_ok(f->c, dkc_container_list(f->c, &o, &list));
    assert_int_equal(json_array_size(list), 2);
    json_decref(list);

    /* Without all: only the running one. */
    o.all = false;
    assert_ok(f->c, dkc_container_list(f->c, &o, &list));
    assert_int_equal(json_array_size(list), 1);
    assert_string_equal(str_at(json_array_get(list, 0), "Id"), b);
    json_decref(list);

    /* limit, and size computes the sizes (SizeRw is left out when 0). */
    dkc_list_opts lim = {.all = true, .size = true, .limit = 1, .filters = filters};
    assert_ok(f->c, dkc_container_list(f->c, &lim, &list));
    assert_int_equal(json_array_size(list), 1);
    assert_string_equal(str_at(json_array_get(list, 0), "Id"), b); /* the newest */
    assert_true(json_integer_value(json_object_get(json_array_get(list, 0), "SizeRootFs")) > 0);
    json_decref(list);

    /* Without size, no sizes. */
    dkc_list_opts nosize = {.all = true, .filters = filters};
    assert_ok(f->c, dkc_container_list(f->c, &nosize, &list));
    assert_null(json_object_get(json_array_get(list, 0), "SizeRootFs"));
    json_decref(list);
    json_decref(filters);

    /* A status filter combined with the label. */
    json_t *created = json_pack("{s:[s],s:[s]}", "label", label, "status", "created");
    dkc_list_opts st = {.all = true, .filters = created};
    assert_ok(f->c, dkc_container_list(f->c, &st, &list));
    assert_int_equal(json_array_size(list), 1);
    assert_string_equal(str_at(json_array_get(list, 0), "Id"), a);
    json_decref(list);
    json_decref(created);
}

/* ---- lifecycle ------------------------------------------------------- */

static void start_stop_and_not_modified(void **state)
{
    fx *f = *state;
    const char *id = container(f, SLEEPER, true);
    assert_int_equal(dkc_container_start(f->c, id), DKC_ENOTMODIFIED);
    assert_int_equal(dkc_client_last_error(f->c)->http_status, 304);

    /* sleep as PID 1 ignores SIGTERM: Docker waits t=1 s, then kills. */
    int64_t t0 = now_ms();
    assert_ok(f->c, dkc_container_stop(f->c, id, 1));
    int64_t took = now_ms() - t0;
    assert_true(took >= 900);
    json_t *info = inspect(f, id);
    assert_false(json_is_true(field(info, "State.Running")));
    assert_int_equal(json_integer_value(field(info, "State.ExitCode")), 137);
    json_decref(info);

    assert_int_equal(dkc_container_stop(f->c, id, 1), DKC_ENOTMODIFIED);
    assert_int_equal(dkc_client_last_error(f->c)->http_status, 304);
    /* Default timeout (the container's own), on a stopped container. */
    assert_int_equal(dkc_container_stop(f->c, id, -1), DKC_ENOTMODIFIED);
}

/* The HTTP status of a conflict (DKC_ECONFLICT): Docker's 409, or the 500
 * Podman answers with a cause the library reads as a conflict. */
static long conflict_status(void)
{
    return lane_podman_differs("Podman answers a conflict 500 with its cause") ? 500 : 409;
}

static void restart_kill_pause(void **state)
{
    fx *f = *state;
    const char *id = container(f, SLEEPER, true);
    json_t *info = inspect(f, id);
    char started[64];
    snprintf(started, sizeof started, "%s", str_at(info, "State.StartedAt"));
    json_decref(info);

    assert_ok(f->c, dkc_container_restart(f->c, id, 0));
    info = inspect(f, id);
    assert_true(json_is_true(field(info, "State.Running")));
    assert_string_not_equal(str_at(info, "State.StartedAt"), started);
    json_decref(info);

    assert_ok(f->c, dkc_container_pause(f->c, id));
    info = inspect(f, id);
    assert_true(json_is_true(field(info, "State.Paused")));
    assert_string_equal(str_at(info, "State.Status"), "paused");
    json_decref(info);
    assert_ok(f->c, dkc_container_unpause(f->c, id));
    info = inspect(f, id);
    assert_false(json_is_true(field(info, "State.Paused")));
    assert_string_equal(str_at(info, "State.Status"), "running");
    json_decref(info);

    /* Default signal: SIGKILL. */
    assert_ok(f->c, dkc_container_kill(f->c, id, NULL));
    assert_int_equal(wait_exit(f, id), 137);
    /* Killing or pausing a stopped container is a conflict. */
    assert_int_equal(dkc_container_kill(f->c, id, NULL), DKC_ECONFLICT);
    assert_int_equal(dkc_client_last_error(f->c)->http_status, conflict_status());
    assert_int_equal(dkc_container_pause(f->c, id), DKC_ECONFLICT);

    /* A chosen signal reaches the process. */
    const char *trap[] = {"sh", "-c",
                          "trap 'exit 42' USR1; echo ready; while :; do sleep 0.1; done", NULL};
    const char *t = container(f, trap, true);
    wait_for_output(f, t, "ready");
    assert_ok(f->c, dkc_container_kill(f->c, t, "SIGUSR1"));
    assert_int_equal(wait_exit(f, t), 42);
    info = inspect(f, t);
    assert_int_equal(json_integer_value(field(info, "State.ExitCode")), 42);
    assert_string_equal(str_at(info, "State.Status"), "exited");
    json_decref(info);
}

/* The negotiated API version as a number (1041 for "1.41"). */
static int api_of(fx *f)
{
    const char *v = dkc_client_api_version(f->c);
    int major = 0, minor = 0;
    assert_int_equal(sscanf(v, "%d.%d", &major, &minor), 2);
    return major * 1000 + minor;
}

/* stop with a signal (API 1.42): the signal reaches the process first;
 * an older daemon's version is refused before anything is sent, and the
 * container keeps running. */
static void stop_and_restart_with_a_signal(void **state)
{
    fx *f = *state;
    const char *trap[] = {"sh", "-c",
                          "trap 'exit 7' INT; trap 'exit 9' HUP; echo ready; "
                          "while :; do sleep 0.1; done",
                          NULL};
    const char *t = container(f, trap, true);
    wait_for_output(f, t, "ready");
    if (api_of(f) < 1042) {
        assert_int_equal(dkc_container_stop_signal(f->c, t, 10, "SIGINT"), DKC_EUNSUPPORTED);
        json_t *info = inspect(f, t);
        assert_true(json_is_true(field(info, "State.Running")));
        json_decref(info);
        return;
    }
    /* restart: HUP first, then the container runs again */
    assert_ok(f->c, dkc_container_restart_signal(f->c, t, 30, "SIGHUP"));
    json_t *info = inspect(f, t);
    assert_true(json_is_true(field(info, "State.Running")));
    json_decref(info);
    wait_for_output(f, t, "ready\nready"); /* the second run's traps are set */
    /* stop: INT well before the 30 s timeout would kill it */
    time_t t0 = time(NULL);
    assert_ok(f->c, dkc_container_stop_signal(f->c, t, 30, "SIGINT"));
    assert_true(time(NULL) - t0 < 20);
    info = inspect(f, t);
    assert_int_equal(json_integer_value(field(info, "State.ExitCode")), 7);
    json_decref(info);
}

/* A container-wide MAC address reaches the container's network whatever
 * the version: the library sends it on the endpoint from API 1.44 on
 * (1.52 dropped the container-wide field), and to Podman.  The bridge:
 * every daemon here has one (a private daemon's own). */
static void mac_address_on_every_version(void **state)
{
    fx *f = *state;
    json_t *extra = json_pack("{s:s}", "MacAddress", "02:42:ac:11:00:5a");
    assert_non_null(extra);
    const char *cmd[] = {"sleep", "30", NULL};
    dkc_container_config cfg = {
        .image = ITEST_IMAGE, .cmd = cmd, .network_mode = "bridge", .extra = extra};
    if (dkc_client_is_podman(f->c)) {
        /* Podman reads one on a named network's endpoint only, and its
         * bridge is called "podman" */
        char *none = NULL;
        assert_int_equal(dkc_container_create(f->c, NULL, &cfg, &none, NULL), DKC_EUNSUPPORTED);
        assert_null(none);
        cfg.network_mode = "podman";
    }
    const char *id = create(f, NULL, &cfg);
    json_decref(extra);
    assert_ok(f->c, dkc_container_start(f->c, id));
    json_t *info = inspect(f, id);
    /* the one network the container is on (Podman calls its bridge
     * "podman") */
    json_t *nets = field(info, "NetworkSettings.Networks");
    assert_int_equal(json_object_size(nets), 1);
    void *it = json_object_iter(nets);
    const char *mac = json_string_value(json_object_get(json_object_iter_value(it), "MacAddress"));
    if (mac == NULL || strcmp(mac, "02:42:ac:11:00:5a") != 0)
        fail_msg("network %s has MAC address %s", json_object_iter_key(it), mac ? mac : "(none)");
    json_decref(info);
}

static void rename_container(void **state)
{
    fx *f = *state;
    char old_name[96], new_name[96];
    snprintf(old_name, sizeof old_name, "%s", itest_name("old"));
    snprintf(new_name, sizeof new_name, "%s", itest_name("new"));
    dkc_container_config cfg = {.image = ITEST_IMAGE, .cmd = SLEEPER};
    create(f, old_name, &cfg);
    assert_ok(f->c, dkc_container_rename(f->c, old_name, new_name));
    json_t *info = inspect(f, new_name);
    char want[100];
    snprintf(want, sizeof want, "/%s", new_name);
    assert_string_equal(str_at(info, "Name"), want);
    json_decref(info);
    json_t *none = NULL;
    assert_int_equal(dkc_container_inspect(f->c, old_name, &none), DKC_ENOTFOUND);
    assert_null(none);
}

static void wait_conditions(void **state)
{
    fx *f = *state;
    const char *cmd[] = {"sh", "-c", "echo out; echo err >&2; exit 3", NULL};
    const char *id = container(f, cmd, true);
    int64_t code = -1;
    char *msg = (char *)"untouched";
    assert_ok(f->c, dkc_container_wait(f->c, id, "not-running", &code, &msg));
    assert_int_equal(code, 3);
    assert_null(msg);

    /* next-exit on a running container returns only when it exits. */
    const char *later[] = {"sh", "-c", "sleep 2; exit 4", NULL};
    const char *l = container(f, later, true);
    int64_t t0 = now_ms();
    watchdog w;
    watchdog_arm(&w, f->c, 20000);
    int rc = dkc_container_wait(f->c, l, "next-exit", &code, NULL);
    watchdog_disarm(&w);
    assert_ok(f->c, rc);
    assert_int_equal(code, 4);
    assert_true(now_ms() - t0 >= 300);

    assert_int_equal(dkc_container_wait(f->c, "itest-no-such-container", NULL, &code, NULL),
                     DKC_ENOTFOUND);
}

/* ---- output ---------------------------------------------------------- */

static void logs_streams_tail_timestamps(void **state)
{
    fx *f = *state;
    const char *cmd[] = {"sh", "-c",
                         "echo out1; echo err1 >&2; sleep 0.2; echo l1; echo l2; echo l3", NULL};
    const char *id = container(f, cmd, true);
    assert_int_equal(wait_exit(f, id), 0);

    output o = {0};
    assert_ok(f->c, dkc_container_logs(f->c, id, NULL, collect, &o));
    assert_string_equal(o.out, "out1\nl1\nl2\nl3\n");
    assert_string_equal(o.err, "err1\n");

    output so = {0};
    dkc_logs_opts only_out = {.stdout_ = true};
    assert_ok(f->c, dkc_container_logs(f->c, id, &only_out, collect, &so));
    assert_string_equal(so.out, "out1\nl1\nl2\nl3\n");
    assert_int_equal(so.err_len, 0);

    output se = {0};
    dkc_logs_opts only_err = {.stderr_ = true};
    assert_ok(f->c, dkc_container_logs(f->c, id, &only_err, collect, &se));
    assert_int_equal(se.out_len, 0);
    assert_string_equal(se.err, "err1\n");

    output tl = {0};
    dkc_logs_opts tail = {.tail = 2};
    assert_ok(f->c, dkc_container_logs(f->c, id, &tail, collect, &tl));
    assert_string_equal(tl.out, "l2\nl3\n");
    assert_int_equal(tl.err_len, 0);

    output ts = {0};
    dkc_logs_opts stamps = {.timestamps = true, .tail = 1};
    assert_ok(f->c, dkc_container_logs(f->c, id, &stamps, collect, &ts));
    /* "2026-11-23T09:42:29.123456789Z l3\n" */
    assert_true(ts.out_len > 20);
    assert_true(ts.out[4] == '-' && ts.out[10] == 'T');
    assert_non_null(strstr(ts.out, "Z l3\n"));

    output future = {0};
    dkc_logs_opts since = {.since = (int64_t)time(NULL) + 3600};
    assert_ok(f->c, dkc_container_logs(f->c, id, &since, collect, &future));
    assert_int_equal(future.out_len + future.err_len, 0);
    output past = {0};
    dkc_logs_opts until = {.until = 1};
    assert_ok(f->c, dkc_container_logs(f->c, id, &until, collect, &past));
    assert_int_equal(past.out_len + past.err_len, 0);
    output all = {0};
    dkc_logs_opts window = {.since = 1, .until = (int64_t)time(NULL) + 3600};
    assert_ok(f->c, dkc_container_logs(f->c, id, &window, collect, &all));
    assert_string_equal(all.out, "out1\nl1\nl2\nl3\n");
}

static void logs_follow_and_tty(void **state)
{
    fx *f = *state;
    const char *cmd[] = {"sh", "-c", "echo a; sleep 1; echo b >&2", NULL};
    const char *id = container(f, cmd, true);
    output o = {0};
    dkc_logs_opts follow = {.follow = true};
    watchdog w;
    watchdog_arm(&w, f->c, 20000);
    int rc = dkc_container_logs(f->c, id, &follow, collect, &o);
    watchdog_disarm(&w);
    assert_ok(f->c, rc);
    /* Returned only because the container exited, with everything. */
    assert_string_equal(o.out, "a\n");
    assert_string_equal(o.err, "b\n");
    json_t *info = inspect(f, id);
    assert_false(json_is_true(field(info, "State.Running")));
    json_decref(info);

    /* A TTY container: one raw stream, reported as stdout, CRLF endings. */
    const char *tcmd[] = {"sh", "-c", "echo hi; echo there >&2", NULL};
    dkc_container_config cfg = {.image = ITEST_IMAGE, .cmd = tcmd, .tty = true};
    const char *t = create(f, NULL, &cfg);
    assert_ok(f->c, dkc_container_start(f->c, t));
    assert_int_equal(wait_exit(f, t), 0);
    output to = {0};
    assert_ok(f->c, dkc_container_logs(f->c, t, NULL, collect, &to));
    assert_string_equal(to.out, "hi\r\nthere\r\n");
    assert_int_equal(to.err_len, 0);
}

static void attach_to_running(void **state)
{
    fx *f = *state;
    /* Attached while it sleeps: the later output arrives through the
     * stream, and the call returns when the container exits. */
    const char *cmd[] = {"sh", "-c", "sleep 2; echo hi; echo ho >&2", NULL};
    const char *id = container(f, cmd, true);
    output o = {0};
    watchdog w;
    watchdog_arm(&w, f->c, 20000);
    int rc = dkc_container_attach(f->c, id, false, collect, &o);
    watchdog_disarm(&w);
    assert_ok(f->c, rc);
    assert_string_equal(o.out, "hi\n");
    assert_string_equal(o.err, "ho\n");

    /* With logs, what was printed before attaching comes first. */
    const char *cmd2[] = {"sh", "-c", "echo early; sleep 1; echo late", NULL};
    const char *id2 = container(f, cmd2, true);
    wait_for_output(f, id2, "early");
    output o2 = {0};
    watchdog_arm(&w, f->c, 20000);
    rc = dkc_container_attach(f->c, id2, true, collect, &o2);
    watchdog_disarm(&w);
    assert_ok(f->c, rc);
    assert_string_equal(o2.out, "early\nlate\n");

    /* Attaching to a container that is not running waits for it to start:
     * dkc_client_cancel() from another thread ends the call. */
    const char *idle = container(f, SLEEPER, false);
    output o3 = {0};
    int64_t t0 = now_ms();
    watchdog_arm(&w, f->c, 1000);
    rc = dkc_container_attach(f->c, idle, false, collect, &o3);
    watchdog_disarm(&w);
    assert_int_equal(rc, DKC_ECANCELED);
    assert_true(now_ms() - t0 >= 900);
    assert_int_equal(o3.out_len + o3.err_len, 0);
    json_t *info = inspect(f, idle); /* the handle still works */
    assert_string_equal(str_at(info, "State.Status"), "created");
    json_decref(info);
}

static void top_changes_stats(void **state)
{
    fx *f = *state;
    const char *cmd[] = {"sh", "-c", "echo x > /newfile; exec sleep 30", NULL};
    const char *id = container(f, cmd, true);

    json_t *top = NULL;
    assert_ok(f->c, dkc_container_top(f->c, id, "-o pid,args", &top));
    assert_string_equal(json_string_value(json_array_get(field(top, "Titles"), 0)), "PID");
    json_t *procs = field(top, "Processes");
    assert_true(json_array_size(procs) >= 1);
    json_t *row = json_array_get(procs, 0);
    assert_non_null(strstr(json_string_value(json_array_get(row, 1)), "sleep 30"));
    json_decref(top);
    assert_ok(f->c, dkc_container_top(f->c, id, NULL, &top));
    assert_true(json_array_size(field(top, "Titles")) > 2);
    json_decref(top);

    /* The file the command wrote shows as added (Kind 1), polled in case
     * the command has not reached it yet. */
    bool found = false;
    for (int i = 0; i < 100 && !found; i++) {
        json_t *ch = NULL;
        assert_ok(f->c, dkc_container_changes(f->c, id, &ch));
        size_t k;
        json_t *e;
        json_array_foreach(ch, k, e)
        {
            if (strcmp(str_at(e, "Path"), "/newfile") == 0) {
                assert_int_equal(json_integer_value(json_object_get(e, "Kind")), 1);
                found = true;
            }
        }
        json_decref(ch);
        if (!found)
            sleep_ms(50);
    }
    assert_true(found);

    json_t *st = NULL;
    assert_ok(f->c, dkc_container_stats(f->c, id, &st));
    assert_true(json_is_string(json_object_get(st, "read")));
    assert_true(json_is_object(json_object_get(st, "memory_stats")));
    assert_true(json_integer_value(field(st, "pids_stats.current")) >= 1);
    json_decref(st);
}

typedef struct stats_count {
    int seen;
    bool all_objects;
} stats_count;

static int count_stats(void *ud, json_t *obj)
{
    stats_count *n = ud;
    n->seen++;
    if (!json_is_object(obj) || !json_is_string(json_object_get(obj, "read")))
        n->all_objects = false;
    return n->seen >= 2;
}

static void stats_stream_stops_on_request(void **state)
{
    fx *f = *state;
    const char *id = container(f, SLEEPER, true);
    stats_count n = {.seen = 0, .all_objects = true};
    watchdog w;
    watchdog_arm(&w, f->c, 20000);
    int rc = dkc_container_stats_stream(f->c, id, count_stats, &n);
    watchdog_disarm(&w);
    assert_int_equal(rc, DKC_ECANCELED);
    assert_int_equal(n.seen, 2); /* stopped by the callback, not the watchdog */
    assert_true(n.all_objects);
    /* The handle is usable afterwards. */
    json_t *info = inspect(f, id);
    json_decref(info);
}

/* ---- exec ------------------------------------------------------------ */

static void exec_output_and_exit_code(void **state)
{
    fx *f = *state;
    const char *id = container(f, SLEEPER, true);

    const char *cmd[] = {"sh", "-c", "echo out; echo err >&2; exit 7", NULL};
    dkc_exec_config ec = {.cmd = cmd};
    output o = {0};
    int64_t code = -1;
    assert_ok(f->c, dkc_exec_run(f->c, id, &ec, collect, &o, &code));
    assert_int_equal(code, 7);
    assert_string_equal(o.out, "out\n");
    assert_string_equal(o.err, "err\n");

    /* Environment, user, working directory. */
    const char *env_cmd[] = {"sh", "-c", "echo $X; id -u; pwd", NULL};
    const char *env[] = {"X=from exec", NULL};
    dkc_exec_config ctx = {.cmd = env_cmd, .env = env, .user = "4321", .working_dir = "/tmp"};
    output c2 = {0};
    assert_ok(f->c, dkc_exec_run(f->c, id, &ctx, collect, &c2, &code));
    assert_int_equal(code, 0);
    assert_string_equal(c2.out, "from exec\n4321\n/tmp\n");

    /* Only stderr attached. */
    dkc_exec_config only_err = {.cmd = cmd, .attach_stderr = true};
    output c3 = {0};
    assert_ok(f->c, dkc_exec_run(f->c, id, &only_err, collect, &c3, &code));
    assert_int_equal(c3.out_len, 0);
    assert_string_equal(c3.err, "err\n");

    /* TTY exec: raw, as stdout. */
    const char *tty_cmd[] = {"sh", "-c", "echo tty; echo e >&2; exit 2", NULL};
    dkc_exec_config tc = {.cmd = tty_cmd, .tty = true};
    output t = {0};
    assert_ok(f->c, dkc_exec_run(f->c, id, &tc, collect, &t, &code));
    assert_int_equal(code, 2);
    assert_string_equal(t.out, "tty\r\ne\r\n");
    assert_int_equal(t.err_len, 0);

    /* The three steps by hand, and what inspect says. */
    char *exec_id = NULL;
    assert_ok(f->c, dkc_exec_create(f->c, id, &ec, &exec_id));
    json_t *info = NULL;
    assert_ok(f->c, dkc_exec_inspect(f->c, exec_id, &info));
    assert_false(json_is_true(json_object_get(info, "Running")));
    assert_string_equal(str_at(info, "ContainerID"), id);
    json_decref(info);
    assert_ok(f->c, dkc_exec_start(f->c, exec_id, false, NULL, NULL));
    int64_t ec_code = -1;
    for (int i = 0; i < 100 && ec_code < 0; i++) {
        assert_ok(f->c, dkc_exec_inspect(f->c, exec_id, &info));
        if (!json_is_true(json_object_get(info, "Running")))
            ec_code = json_integer_value(json_object_get(info, "ExitCode"));
        json_decref(info);
        if (ec_code < 0)
            sleep_ms(20);
    }
    assert_int_equal(ec_code, 7);
    free(exec_id);

    /* Exec in a stopped container is a conflict; a missing one not found. */
    assert_ok(f->c, dkc_container_kill(f->c, id, NULL));
    assert_int_equal(wait_exit(f, id), 137);
    exec_id = NULL;
    assert_int_equal(dkc_exec_create(f->c, id, &ec, &exec_id), DKC_ECONFLICT);
    assert_null(exec_id);
    json_t *none = NULL;
    assert_int_equal(dkc_exec_inspect(f->c, "0123456789abcdef", &none), DKC_ENOTFOUND);
}

/* ---- archives -------------------------------------------------------- */

typedef struct tarbuf {
    char data[16384];
    size_t len;
} tarbuf;

/* Appends one ustar entry (type '0' file or '5' directory). */
static void tar_add(tarbuf *t, const char *name, char type, const char *content, size_t len,
                    unsigned mode)
{
    unsigned char *h = (unsigned char *)t->data + t->len;
    size_t blocks = (len + 511) / 512;
    assert_true(t->len + 512 * (1 + blocks) + 1024 <= sizeof t->data);
    memset(h, 0, 512);
    snprintf((char *)h, 100, "%s", name);
    snprintf((char *)h + 100, 8, "%07o", mode);
    snprintf((char *)h + 108, 8, "%07o", 0u);
    snprintf((char *)h + 116, 8, "%07o", 0u);
    snprintf((char *)h + 124, 12, "%011lo", (unsigned long)len);
    snprintf((char *)h + 136, 12, "%011lo", 1700000000ul);
    memset(h + 148, ' ', 8);
    h[156] = (unsigned char)type;
    memcpy(h + 257, "ustar", 6);
    memcpy(h + 263, "00", 2);
    snprintf((char *)h + 265, 32, "root");
    snprintf((char *)h + 297, 32, "root");
    unsigned sum = 0;
    for (int i = 0; i < 512; i++)
        sum += h[i];
    snprintf((char *)h + 148, 8, "%06o", sum);
    h[155] = ' ';
    t->len += 512;
    memset(t->data + t->len, 0, blocks * 512);
    if (len > 0)
        memcpy(t->data + t->len, content, len);
    t->len += blocks * 512;
}

static void tar_end(tarbuf *t)
{
    memset(t->data + t->len, 0, 1024);
    t->len += 1024;
}

/* Finds an entry by name in a tar; returns its data and sets *size, or
 * NULL. */
static const char *tar_find(const char *data, size_t len, const char *name, size_t *size,
                            char *type)
{
    size_t off = 0;
    while (off + 512 <= len) {
        const char *h = data + off;
        if (h[0] == '\0')
            return NULL;
        char ename[260];
        if (h[345] != '\0')
            snprintf(ename, sizeof ename, "%.155s/%.100s", h + 345, h);
        else
            snprintf(ename, sizeof ename, "%.100s", h);
        char sz[13];
        memcpy(sz, h + 124, 12);
        sz[12] = '\0';
        size_t n = (size_t)strtoul(sz, NULL, 8);
        if (strcmp(ename, name) == 0 && off + 512 + n <= len) {
            *size = n;
            *type = h[156];
            return h + 512;
        }
        off += 512 + (n + 511) / 512 * 512;
    }
    return NULL;
}

typedef struct got {
    char data[65536];
    size_t len;
    bool overflow;
} got;

static int keep(void *ud, const char *data, size_t len)
{
    got *g = ud;
    if (g->len + len > sizeof g->data) {
        g->overflow = true;
        return 1;
    }
    memcpy(g->data + g->len, data, len);
    g->len += len;
    return 0;
}

static void archive_put_and_get(void **state)
{
    fx *f = *state;
    const char *id = container(f, SLEEPER, false); /* archives work on created containers */

    static tarbuf t;
    t.len = 0;
    const char hello[] = "hello archive\n";
    char big[3000];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (char)('a' + i % 26);
    tar_add(&t, "hello.txt", '0', hello, sizeof hello - 1, 0640);
    tar_add(&t, "sub/", '5', NULL, 0, 0755);
    tar_add(&t, "sub/big.bin", '0', big, sizeof big, 0600);
    tar_end(&t);
    dkc_membuf_reader r = {.data = t.data, .len = t.len, .pos = 0};
    assert_ok(f->c, dkc_container_archive_put(f->c, id, "/tmp", dkc_membuf_read, &r));
    assert_int_equal(r.pos, t.len); /* all of it was sent */

    static got g;
    g.len = 0;
    json_t *stat = NULL;
    assert_ok(f->c, dkc_container_archive_get(f->c, id, "/tmp/hello.txt", keep, &g, &stat));
    assert_false(g.overflow);
    size_t n = 0;
    char type = 0;
    const char *body = tar_find(g.data, g.len, "hello.txt", &n, &type);
    assert_non_null(body);
    assert_int_equal(type, '0');
    assert_int_equal(n, sizeof hello - 1);
    assert_memory_equal(body, hello, n);
    assert_string_equal(str_at(stat, "name"), "hello.txt");
    assert_int_equal(json_integer_value(json_object_get(stat, "size")), sizeof hello - 1);
    assert_int_equal(json_integer_value(json_object_get(stat, "mode")) & 0777, 0640);
    assert_true(json_is_string(json_object_get(stat, "mtime")));
    json_decref(stat);

    /* A directory comes back with its contents. */
    g.len = 0;
    assert_ok(f->c, dkc_container_archive_get(f->c, id, "/tmp/sub", keep, &g, &stat));
    body = tar_find(g.data, g.len, "sub/big.bin", &n, &type);
    assert_non_null(body);
    assert_int_equal(n, sizeof big);
    assert_memory_equal(body, big, sizeof big);
    assert_string_equal(str_at(stat, "name"), "sub");
    assert_true(json_integer_value(json_object_get(stat, "mode")) & 0x80000000); /* dir bit */
    json_decref(stat);

    /* stat may be NULL; a missing path is not found. */
    g.len = 0;
    assert_ok(f->c, dkc_container_archive_get(f->c, id, "/tmp/hello.txt", keep, &g, NULL));
    assert_true(g.len >= 1024);
    assert_int_equal(dkc_container_archive_get(f->c, id, "/tmp/missing", keep, &g, &stat),
                     DKC_ENOTFOUND);
    assert_null(stat);
    r.pos = 0;
    if (!lane_podman_differs("Podman's archive PUT creates a missing directory"))
        assert_int_equal(dkc_container_archive_put(f->c, id, "/no/such/dir", dkc_membuf_read, &r),
                         DKC_ENOTFOUND);
}

/* ---- commit ---------------------------------------------------------- */

static void commit_and_run_image(void **state)
{
    fx *f = *state;
    const char *cmd[] = {"sh", "-c", "echo committed > /marker", NULL};
    const char *id = container(f, cmd, true);
    assert_int_equal(wait_exit(f, id), 0);

    char repo[96];
    snprintf(repo, sizeof repo, "%s", itest_name("commit"));
    json_t *config =
        json_pack("{s:{s:s},s:[s,s]}", "Labels", "itest", "commit", "Cmd", "cat", "/marker");
    dkc_commit_opts o = {.repo = repo,
                         .tag = "v1",
                         .comment = "made by a test",
                         .author = "itest <itest@example.test>",
                         .pause = true,
                         .config = config};
    char *image = NULL;
    assert_ok(f->c, dkc_container_commit(f->c, id, &o, &image));
    json_decref(config);
    assert_non_null(image);
    f->images[f->n_images++] = image;
    assert_int_equal(strncmp(image, "sha256:", 7), 0);

    char ref[128];
    snprintf(ref, sizeof ref, "%s:v1", repo);
    json_t *img = NULL;
    assert_ok(f->c, dkc_image_inspect(f->c, ref, &img));
    assert_string_equal(str_at(img, "Id"), image);
    assert_string_equal(str_at(img, "Comment"), "made by a test");
    assert_string_equal(str_at(img, "Author"), "itest <itest@example.test>");
    assert_string_equal(json_string_value(json_object_get(field(img, "Config.Labels"), "itest")),
                        "commit");
    assert_true(array_has(field(img, "Config.Cmd"), "/marker"));
    json_decref(img);

    /* The new image carries the file and the command. */
    dkc_container_config cfg = {.image = ref};
    const char *run = create(f, NULL, &cfg);
    assert_ok(f->c, dkc_container_start(f->c, run));
    assert_int_equal(wait_exit(f, run), 0);
    output out = {0};
    assert_ok(f->c, dkc_container_logs(f->c, run, NULL, collect, &out));
    assert_string_equal(out.out, "committed\n");
}

/* A deadline ends a silent exec stream with DKC_ETIMEOUT, keeps what it
 * delivered, fails later calls at once until cleared, and leaves the
 * handle usable. */
static void exec_deadline(void **state)
{
    fx *f = *state;
    const char *id = container(f, SLEEPER, true);
    const char *cmd[] = {"sh", "-c", "echo early; sleep 30", NULL};
    dkc_exec_config ec = {.cmd = cmd};
    output o = {0};
    int64_t code = -1;
    int64_t t0 = now_ms();
    dkc_client_set_deadline(f->c, 1500);
    int rc = dkc_exec_run(f->c, id, &ec, collect, &o, &code);
    int64_t took = now_ms() - t0;
    assert_int_equal(rc, DKC_ETIMEOUT);
    assert_true(took >= 1400 && took < 10000);
    assert_string_equal(o.out, "early\n");
    assert_int_equal(dkc_ping(f->c), DKC_ETIMEOUT); /* the deadline has passed */
    dkc_client_set_deadline(f->c, 0);
    assert_ok(f->c, dkc_ping(f->c));

    /* a deadline that is not reached changes nothing */
    const char *quick[] = {"sh", "-c", "echo fine; exit 4", NULL};
    dkc_exec_config qc = {.cmd = quick};
    output q = {0};
    dkc_client_set_deadline(f->c, 20000);
    assert_ok(f->c, dkc_exec_run(f->c, id, &qc, collect, &q, &code));
    dkc_client_set_deadline(f->c, 0);
    assert_int_equal(code, 4);
    assert_string_equal(q.out, "fine\n");
}

/* ---- remove ---------------------------------------------------------- */

static void remove_force_and_volumes(void **state)
{
    fx *f = *state;
    snprintf(f->volumes[f->n_volumes++], sizeof f->volumes[0], "%s", itest_name("keep"));
    char bind[128];
    snprintf(bind, sizeof bind, "%s:/named", f->volumes[0]);
    const char *binds[] = {bind, NULL};
    const char *vols[] = {"/anon", NULL};
    dkc_container_config cfg = {
        .image = ITEST_IMAGE, .cmd = SLEEPER, .binds = binds, .volumes = vols};
    const char *id = create(f, NULL, &cfg);
    assert_ok(f->c, dkc_container_start(f->c, id));

    char anon[128] = "";
    json_t *info = inspect(f, id);
    size_t i;
    json_t *m;
    json_array_foreach(field(info, "Mounts"), i, m)
    {
        if (strcmp(str_at(m, "Destination"), "/anon") == 0)
            snprintf(anon, sizeof anon, "%s", str_at(m, "Name"));
    }
    json_decref(info);
    assert_int_equal(strlen(anon), 64);

    /* Running: refused without force. */
    assert_int_equal(dkc_container_remove(f->c, id, false, true), DKC_ECONFLICT);
    assert_int_equal(dkc_client_last_error(f->c)->http_status, conflict_status());
    assert_ok(f->c, dkc_container_remove(f->c, id, true, true));
    json_t *none = NULL;
    assert_int_equal(dkc_container_inspect(f->c, id, &none), DKC_ENOTFOUND);

    /* v=1 removed the anonymous volume and kept the named one. */
    json_t *vol = NULL;
    assert_int_equal(dkc_volume_inspect(f->c, anon, &vol), DKC_ENOTFOUND);
    assert_ok(f->c, dkc_volume_inspect(f->c, f->volumes[0], &vol));
    json_decref(vol);
    assert_int_equal(dkc_container_remove(f->c, id, true, true), DKC_ENOTFOUND);
}

/* ---- errors ---------------------------------------------------------- */

static void error_vocabulary(void **state)
{
    fx *f = *state;
    json_t *out = NULL;
    const dkc_error_info *e = dkc_client_last_error(f->c);

    assert_int_equal(dkc_container_inspect(f->c, "itest-no-such-container", &out), DKC_ENOTFOUND);
    assert_null(out);
    assert_int_equal(e->code, DKC_ENOTFOUND);
    assert_int_equal(e->http_status, 404);
    assert_non_null(strcasestr(e->message, "No such container"));
    assert_non_null(strstr(e->message, "itest-no-such-container"));

    /* Duplicate name. */
    char name[96];
    snprintf(name, sizeof name, "%s", itest_name("dup"));
    dkc_container_config cfg = {.image = ITEST_IMAGE, .cmd = SLEEPER};
    create(f, name, &cfg);
    char *id = NULL;
    assert_int_equal(dkc_container_create(f->c, name, &cfg, &id, NULL), DKC_ECONFLICT);
    assert_null(id);
    assert_int_equal(e->http_status, conflict_status());
    assert_non_null(strstr(e->message, "already in use"));

    /* A body the daemon rejects. */
    json_t *body = json_pack("{s:s,s:{s:s,s:{s:s}}}", "Image", ITEST_IMAGE, "HostConfig",
                             "NetworkMode", itest_network_mode(), "RestartPolicy", "Name", "bogus");
    assert_int_equal(dkc_container_create_json(f->c, NULL, body, &id, NULL), DKC_EBADREQUEST);
    json_decref(body);
    assert_null(id);
    assert_int_equal(e->http_status,
                     lane_podman_differs("Podman answers a bad value 500 with its cause") ? 500
                                                                                          : 400);
    assert_non_null(strstr(e->message, "bogus"));

    /* A missing image is not found. */
    dkc_container_config nothere = {.image = "itest-no-such-image:never",
                                    .network_mode = itest_network_mode()};
    assert_int_equal(dkc_container_create(f->c, NULL, &nothere, &id, NULL), DKC_ENOTFOUND);
    assert_int_equal(e->http_status, 404);

    /* Unsafe references are refused before any request. */
    assert_int_equal(dkc_container_inspect(f->c, "../x", &out), DKC_EINVAL);
    assert_int_equal(e->code, DKC_EINVAL);
    assert_int_equal(e->http_status, 0);
    assert_int_equal(dkc_container_start(f->c, "../../containers/x"), DKC_EINVAL);
    assert_int_equal(e->http_status, 0);
    assert_int_equal(dkc_container_remove(f->c, "x?force=1", true, true), DKC_EINVAL);
    assert_int_equal(dkc_container_create(f->c, "bad/name", &cfg, &id, NULL), DKC_EINVAL);
    assert_int_equal(e->http_status, 0);
    /* A config the library refuses never leaves either. */
    dkc_container_config no_image = {.image = NULL};
    assert_int_equal(dkc_container_create(f->c, NULL, &no_image, &id, NULL), DKC_EINVAL);
    assert_int_equal(e->http_status, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(create_with_full_config, setup, teardown),
        cmocka_unit_test_setup_teardown(list_filters_size_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(start_stop_and_not_modified, setup, teardown),
        cmocka_unit_test_setup_teardown(restart_kill_pause, setup, teardown),
        cmocka_unit_test_setup_teardown(rename_container, setup, teardown),
        cmocka_unit_test_setup_teardown(stop_and_restart_with_a_signal, setup, teardown),
        cmocka_unit_test_setup_teardown(mac_address_on_every_version, setup, teardown),
        cmocka_unit_test_setup_teardown(wait_conditions, setup, teardown),
        cmocka_unit_test_setup_teardown(logs_streams_tail_timestamps, setup, teardown),
        cmocka_unit_test_setup_teardown(logs_follow_and_tty, setup, teardown),
        cmocka_unit_test_setup_teardown(attach_to_running, setup, teardown),
        cmocka_unit_test_setup_teardown(top_changes_stats, setup, teardown),
        cmocka_unit_test_setup_teardown(stats_stream_stops_on_request, setup, teardown),
        cmocka_unit_test_setup_teardown(exec_output_and_exit_code, setup, teardown),
        cmocka_unit_test_setup_teardown(exec_deadline, setup, teardown),
        cmocka_unit_test_setup_teardown(archive_put_and_get, setup, teardown),
        cmocka_unit_test_setup_teardown(commit_and_run_image, setup, teardown),
        cmocka_unit_test_setup_teardown(remove_force_and_volumes, setup, teardown),
        cmocka_unit_test_setup_teardown(error_vocabulary, setup, teardown),
    };
    if (dkc_global_init() != 0)
        return 1;
    int failed = cmocka_run_group_tests_name("containers", tests, NULL, NULL);
    dkc_global_cleanup();
    return failed;
}
