/*
 * dkc_demo.c -- the client library at work, like the tutorial's samples:
 * create a container, start it, wait for it, read its logs, remove it.
 *
 *   dkc-demo [IMAGE [CMD...]]      (default: busybox:latest sh -c '...')
 *
 * The daemon is chosen from $DOCKER_HOST / $DOCKER_TLS_VERIFY /
 * $DOCKER_CERT_PATH, as the docker CLI does.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dkc.h"

static int print_output(void *ud, int stream, const char *data, size_t len)
{
    fprintf(stream == 2 ? stderr : stdout, "  [%s] %.*s", stream == 2 ? "stderr" : "stdout",
            (int)len, data);
    fflush(stream == 2 ? stderr : stdout);
    return 0;
}

static int fail(dkc_client *c, const char *what, int rc)
{
    const dkc_error_info *e = dkc_client_last_error(c);
    fprintf(stderr, "dkc-demo: %s: %s (HTTP %ld): %s\n", what, dkc_strerror(rc), e->http_status,
            e->message);
    return 1;
}

int main(int argc, char **argv)
{
    const char *image = argc > 1 ? argv[1] : "busybox:latest";
    const char *default_cmd[] = {"sh", "-c", "echo hello from $(hostname); echo to stderr >&2",
                                 NULL};
    const char *const *cmd = argc > 2 ? (const char *const *)(argv + 2) : default_cmd;
    const char *labels[] = {"example=dkc-demo", NULL};
    dkc_client *c = NULL;
    char why[256];
    char *id = NULL;
    int status = 1;
    int rc;

    dkc_global_init();
    rc = dkc_client_new(NULL, &c, why, sizeof why);
    if (rc != 0) {
        fprintf(stderr, "dkc-demo: %s: %s\n", dkc_strerror(rc), why);
        goto out;
    }
    json_t *version = NULL;
    if ((rc = dkc_version(c, &version)) != 0) {
        status = fail(c, "version", rc);
        goto out;
    }
    printf("connected to %s: Docker %s, API %s (client uses %s)\n", dkc_client_host(c),
           json_string_value(json_object_get(version, "Version")),
           json_string_value(json_object_get(version, "ApiVersion")), dkc_client_api_version(c));
    json_decref(version);

    dkc_container_config cfg = {.image = image, .cmd = cmd, .labels = labels};
    if ((rc = dkc_container_create(c, NULL, &cfg, &id, NULL)) != 0) {
        status = fail(c, "create", rc);
        goto out;
    }
    printf("created  %.12s from %s\n", id, image);
    if ((rc = dkc_container_start(c, id)) != 0) {
        status = fail(c, "start", rc);
        goto out;
    }
    printf("started  %.12s\n", id);
    int64_t exit_code = -1;
    if ((rc = dkc_container_wait(c, id, NULL, &exit_code, NULL)) != 0) {
        status = fail(c, "wait", rc);
        goto out;
    }
    printf("exited   %.12s with code %lld; its logs:\n", id, (long long)exit_code);
    if ((rc = dkc_container_logs(c, id, NULL, print_output, NULL)) != 0) {
        status = fail(c, "logs", rc);
        goto out;
    }
    status = exit_code == 0 ? 0 : 1;
out:
    if (id != NULL) {
        rc = dkc_container_remove(c, id, true, true);
        if (rc == 0)
            printf("removed  %.12s\n", id);
        else
            status = fail(c, "remove", rc);
    }
    free(id);
    dkc_client_free(c);
    dkc_global_cleanup();
    return status;
}
