/*
 * stub_engine.c -- a stand-in Docker Engine API for the cluster
 * simulation (bench_sim.c): answers at once, keeps containers in memory.
 * It is what the benchmark puts behind fifty dispatchers on one machine,
 * where fifty real dockerd would not fit: the figures it gives are the
 * dispatchers' and RabbitMQ's, not Docker's.
 *
 * Served (any API version prefix /vX.Y is ignored):
 *   GET  /_ping                      OK, with API-Version 1.41
 *   GET  /version, /info             small objects
 *   GET  /events                     held open, nothing sent
 *   GET  /containers/json            the containers whose labels match every
 *                                    "label" filter (key=value or key)
 *   POST /containers/create          a new id
 *   POST /containers/{id}/start|stop|kill    204
 *   POST /containers/{id}/wait       {"StatusCode":0}
 *   GET  /containers/{id}/json       a minimal inspect
 *   DELETE /containers/{id}          204
 * Anything else: 404.
 *
 * Usage: stub_engine PORT   (listens on 127.0.0.1:PORT until killed)
 */
#include <arpa/inet.h>
#include <netinet/in.h>

#include <microhttpd.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include <jansson.h>

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static json_t *containers; /* id -> {"Id","Labels","State"} */

typedef struct body {
    char *data;
    size_t len;
} body;

static enum MHD_Result send_text(struct MHD_Connection *c, unsigned status, const char *text)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_MUST_COPY);
    MHD_add_response_header(r, "Content-Type", "application/json");
    MHD_add_response_header(r, "API-Version", "1.41");
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result send_json(struct MHD_Connection *c, unsigned status, json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    enum MHD_Result ret = send_text(c, status, s ? s : "null");
    free(s);
    return ret;
}

/* /events: nothing to say, and the stream stays open. */
static ssize_t quiet_stream(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)cls;
    (void)pos;
    (void)buf;
    (void)max;
    sleep(1);
    return 0;
}

/* 1 if labels match every "label" filter of filters (JSON text or NULL). */
static int matches(json_t *labels, json_t *filters)
{
    size_t i;
    json_t *f;
    json_array_foreach(json_object_get(filters, "label"), i, f)
    {
        const char *s = json_string_value(f);
        if (s == NULL)
            continue;
        const char *eq = strchr(s, '=');
        char key[512];
        snprintf(key, sizeof key, "%.*s", eq ? (int)(eq - s) : (int)strlen(s), s);
        const char *have = json_string_value(json_object_get(labels, key));
        if (have == NULL || (eq && strcmp(have, eq + 1) != 0))
            return 0;
    }
    return 1;
}

static enum MHD_Result list(struct MHD_Connection *c)
{
    const char *fq = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "filters");
    json_t *filters = fq ? json_loads(fq, 0, NULL) : NULL;
    json_t *out = json_array();
    pthread_mutex_lock(&mu);
    const char *id;
    json_t *ct;
    json_object_foreach(containers, id, ct)
    {
        if (matches(json_object_get(ct, "Labels"), filters))
            json_array_append(out, ct);
    }
    pthread_mutex_unlock(&mu);
    json_decref(filters);
    return send_json(c, 200, out);
}

static enum MHD_Result create(struct MHD_Connection *c, body *b)
{
    unsigned char raw[32];
    char id[65];
    if (getrandom(raw, sizeof raw, 0) != sizeof raw)
        return send_text(c, 500, "{\"message\":\"no randomness\"}");
    for (int i = 0; i < 32; i++)
        snprintf(id + 2 * i, 3, "%02x", raw[i]);
    json_t *req = json_loadb(b->data ? b->data : "{}", b->len, 0, NULL);
    json_t *labels = json_object_get(req, "Labels");
    const char *name = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "name");
    char nm[300];
    snprintf(nm, sizeof nm, "/%s", name ? name : id);
    json_t *ct = json_pack("{s:s, s:O, s:s, s:s, s:[s]}", "Id", id, "Labels",
                           labels ? labels : json_object(), "State", "created", "Image", "stub",
                           "Names", nm);
    json_decref(req);
    pthread_mutex_lock(&mu);
    json_object_set_new(containers, id, ct);
    pthread_mutex_unlock(&mu);
    return send_json(c, 201, json_pack("{s:s, s:[]}", "Id", id, "Warnings"));
}

/* The container id in "/containers/<id>/..." (into id), or 0. */
static int container_id(const char *path, char *id, size_t len)
{
    const char *p = path + strlen("/containers/");
    size_t n = strcspn(p, "/");
    if (n == 0 || n >= len)
        return 0;
    memcpy(id, p, n);
    id[n] = '\0';
    return 1;
}

static enum MHD_Result on_container(struct MHD_Connection *c, const char *method, const char *path)
{
    char id[128];
    if (!container_id(path, id, sizeof id))
        return send_text(c, 404, "{\"message\":\"no such path\"}");
    const char *rest = path + strlen("/containers/") + strlen(id);
    pthread_mutex_lock(&mu);
    json_t *ct = json_object_get(containers, id);
    if (ct == NULL) /* a prefix */
    {
        const char *k;
        json_t *v;
        json_object_foreach(containers, k, v)
        {
            if (strncmp(k, id, strlen(id)) == 0) {
                ct = v;
                break;
            }
        }
    }
    json_t *copy = ct ? json_deep_copy(ct) : NULL;
    if (ct && !strcmp(method, "DELETE"))
        json_object_del(containers, json_string_value(json_object_get(ct, "Id")));
    else if (ct && !strcmp(rest, "/start"))
        json_object_set_new(ct, "State", json_string("running"));
    else if (ct && (!strcmp(rest, "/stop") || !strcmp(rest, "/kill")))
        json_object_set_new(ct, "State", json_string("exited"));
    pthread_mutex_unlock(&mu);
    if (copy == NULL)
        return send_text(c, 404, "{\"message\":\"No such container\"}");
    enum MHD_Result ret;
    if (!strcmp(method, "DELETE") || !strcmp(rest, "/start") || !strcmp(rest, "/stop") ||
        !strcmp(rest, "/kill"))
        ret = send_text(c, 204, "");
    else if (!strcmp(rest, "/wait"))
        ret = send_text(c, 200, "{\"StatusCode\":0}");
    else if (!strcmp(rest, "/json"))
        ret = send_json(
            c, 200,
            json_pack("{s:O, s:O, s:{s:O, s:s}, s:{s:s, s:b, s:i}}", "Id",
                      json_object_get(copy, "Id"), "Name",
                      json_array_get(json_object_get(copy, "Names"), 0), "Config", "Labels",
                      json_object_get(copy, "Labels"), "Image", "stub", "State", "Status",
                      json_string_value(json_object_get(copy, "State")), "Running",
                      !strcmp(json_string_value(json_object_get(copy, "State")), "running"),
                      "ExitCode", 0));
    else
        ret = send_text(c, 404, "{\"message\":\"no such path\"}");
    json_decref(copy);
    return ret;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_len, void **state)
{
    (void)cls;
    (void)version;
    body *b = *state;
    if (b == NULL) { /* first call: the headers */
        *state = b = calloc(1, sizeof *b);
        return b ? MHD_YES : MHD_NO;
    }
    if (*upload_len > 0) {
        char *d = realloc(b->data, b->len + *upload_len + 1);
        if (d == NULL)
            return MHD_NO;
        memcpy(d + b->len, upload, *upload_len);
        b->data = d;
        b->len += *upload_len;
        b->data[b->len] = '\0';
        *upload_len = 0;
        return MHD_YES;
    }
    const char *path = url;
    if (strncmp(path, "/v1.", 4) == 0)
        path = strchr(path + 1, '/') ? strchr(path + 1, '/') : path;
    if (!strcmp(path, "/_ping"))
        return send_text(c, 200, "OK");
    if (!strcmp(path, "/version"))
        return send_text(c, 200, "{\"Version\":\"stub\",\"ApiVersion\":\"1.41\"}");
    if (!strcmp(path, "/info"))
        return send_text(c, 200, "{\"ID\":\"stub\",\"Name\":\"stub\"}");
    if (!strcmp(path, "/events")) {
        struct MHD_Response *r =
            MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 64, quiet_stream, NULL, NULL);
        MHD_add_response_header(r, "Content-Type", "application/json");
        enum MHD_Result ret = MHD_queue_response(c, 200, r);
        MHD_destroy_response(r);
        return ret;
    }
    if (!strcmp(path, "/containers/json"))
        return list(c);
    if (!strcmp(path, "/containers/create") && !strcmp(method, "POST"))
        return create(c, b);
    if (strncmp(path, "/containers/", 12) == 0)
        return on_container(c, method, path);
    return send_text(c, 404, "{\"message\":\"not served by the stand-in\"}");
}

static void done(void *cls, struct MHD_Connection *c, void **state,
                 enum MHD_RequestTerminationCode code)
{
    (void)cls;
    (void)c;
    (void)code;
    body *b = *state;
    if (b) {
        free(b->data);
        free(b);
    }
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: stub_engine PORT\n");
        return 2;
    }
    containers = json_object();
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)strtol(argv[1], NULL, 10)),
                             .sin_addr.s_addr = htonl(0x7f000001)};
    struct MHD_Daemon *d =
        MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL,
                         NULL, handle, NULL, MHD_OPTION_SOCK_ADDR, &sa, MHD_OPTION_NOTIFY_COMPLETED,
                         done, NULL, MHD_OPTION_CONNECTION_LIMIT, 2000u, MHD_OPTION_END);
    if (d == NULL) {
        fprintf(stderr, "stub_engine: cannot listen on 127.0.0.1:%s\n", argv[1]);
        return 1;
    }
    for (;;)
        pause();
}
