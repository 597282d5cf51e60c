/*
 * test_volnet.c -- volume and network calls against a real dockerd
 * (whatever $DOCKER_HOST says): create, list with filters, inspect, use
 * from containers, remove, and the error codes of each.
 *
 * Private test daemons have their own bridge, so nothing here relies on
 * docker0: containers use itest_network_mode() or a bridge network the test
 * creates itself.  Every test runs with a fixture that records what it
 * creates and removes it by id in the teardown (containers first, then
 * volumes and networks), which cmocka runs even when the test fails.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "itest.h"

#define MAX_CLEANUP 8

typedef struct fixture {
    dkc_client *c;
    char containers[MAX_CLEANUP][80];
    size_t n_containers;
    char volumes[MAX_CLEANUP][128];
    size_t n_volumes;
    char networks[MAX_CLEANUP][80];
    size_t n_networks;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
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

static void report(dkc_client *c, int rc, const char *what, const char *name)
{
    if (rc != 0 && rc != DKC_ENOTFOUND) {
        fprintf(stderr, "itest: cleanup of %s %s failed: ", what, name);
        itest_explain(c, rc);
    }
}

static int teardown(void **state)
{
    fixture *f = *state;
    for (size_t i = 0; i < f->n_containers; i++)
        report(f->c, dkc_container_remove(f->c, f->containers[i], true, false), "container",
               f->containers[i]);
    for (size_t i = 0; i < f->n_volumes; i++)
        report(f->c, dkc_volume_remove(f->c, f->volumes[i], false), "volume", f->volumes[i]);
    for (size_t i = 0; i < f->n_networks; i++)
        if (f->networks[i][0] != '\0')
            report(f->c, dkc_network_remove(f->c, f->networks[i]), "network", f->networks[i]);
    dkc_client_free(f->c);
    free(f);
    return 0;
}

static void expect_rc(dkc_client *c, int rc, int want)
{
    if (rc != want)
        itest_explain(c, rc);
    assert_int_equal(rc, want);
}

static void cleanup_volume(fixture *f, const char *name)
{
    assert_true(f->n_volumes < MAX_CLEANUP);
    snprintf(f->volumes[f->n_volumes++], sizeof f->volumes[0], "%s", name);
}

/* Records a network for cleanup, takes ownership of the malloc'ed id and
 * returns the fixture's copy (so that a failed assertion leaks nothing). */
static const char *cleanup_network(fixture *f, char *id)
{
    assert_true(f->n_networks < MAX_CLEANUP);
    char *slot = f->networks[f->n_networks++];
    snprintf(slot, sizeof f->networks[0], "%s", id ? id : "");
    free(id);
    return slot;
}

/* Creates a busybox container running cmd with the given binds and network
 * mode, records it for cleanup and returns its id (static ring; valid for
 * the test). */
static const char *make_container(fixture *f, const char *const *cmd, const char *const *binds,
                                  const char *network_mode)
{
    assert_true(f->n_containers < MAX_CLEANUP);
    dkc_container_config cfg = {
        .image = ITEST_IMAGE,
        .cmd = cmd,
        .binds = binds,
        .network_mode = network_mode ? network_mode : itest_network_mode(),
    };
    char *id = NULL;
    expect_rc(f->c, dkc_container_create(f->c, itest_name("ctr"), &cfg, &id, NULL), 0);
    assert_non_null(id);
    char *slot = f->containers[f->n_containers++];
    snprintf(slot, sizeof f->containers[0], "%s", id);
    free(id);
    return slot;
}

/* Starts a container and waits for it; returns its exit code. */
static int64_t run_to_exit(fixture *f, const char *id)
{
    int64_t code = -1;
    expect_rc(f->c, dkc_container_start(f->c, id), 0);
    expect_rc(f->c, dkc_container_wait(f->c, id, NULL, &code, NULL), 0);
    return code;
}

/* Counts the entries of an array of objects whose key equals value. */
static size_t count_with(json_t *arr, const char *key, const char *value)
{
    size_t i, n = 0;
    json_t *v;
    json_array_foreach(arr, i, v)
    {
        const char *s = json_string_value(json_object_get(v, key));
        if (s != NULL && strcmp(s, value) == 0)
            n++;
    }
    return n;
}

static bool is_hex_id(const char *s)
{
    if (s == NULL || strlen(s) != 64)
        return false;
    return strspn(s, "0123456789abcdef") == 64;
}

/* ---- volumes ------------------------------------------------------------- */

static void volume_create_inspect_list(void **state)
{
    fixture *f = *state;
    char name[128], case_label[160];
    snprintf(name, sizeof name, "%s", itest_name("vol"));
    snprintf(case_label, sizeof case_label, "itest.case=%s", name);
    const char *labels[] = {"itest.owner=volnet", case_label, NULL};

    json_t *vol = NULL;
    cleanup_volume(f, name);
    expect_rc(f->c, dkc_volume_create(f->c, name, "local", labels, &vol), 0);
    assert_string_equal(json_string_value(json_object_get(vol, "Name")), name);
    assert_string_equal(json_string_value(json_object_get(vol, "Driver")), "local");
    json_decref(vol);

    /* Anonymous: Docker names it; the default driver is local. */
    json_t *anon = NULL;
    expect_rc(f->c, dkc_volume_create(f->c, NULL, NULL, labels, &anon), 0);
    const char *anon_name = json_string_value(json_object_get(anon, "Name"));
    assert_true(is_hex_id(anon_name));
    cleanup_volume(f, anon_name);
    assert_string_equal(json_string_value(json_object_get(anon, "Driver")), "local");
    json_decref(anon);

    expect_rc(f->c, dkc_volume_inspect(f->c, name, &vol), 0);
    const char *mp = json_string_value(json_object_get(vol, "Mountpoint"));
    assert_non_null(mp);
    assert_int_equal(mp[0], '/');
    assert_non_null(strstr(mp, name));
    json_t *lab = json_object_get(vol, "Labels");
    assert_string_equal(json_string_value(json_object_get(lab, "itest.owner")), "volnet");
    assert_string_equal(json_string_value(json_object_get(lab, "itest.case")), name);
    json_decref(vol);

    /* Name filter: the named one only.  Label filter: both. */
    json_t *filters = json_pack("{s:[s]}", "name", name);
    json_t *list = NULL;
    expect_rc(f->c, dkc_volume_list(f->c, filters, &list), 0);
    json_t *vols = json_object_get(list, "Volumes");
    assert_true(json_is_array(vols));
    assert_int_equal(count_with(vols, "Name", name), 1);
    assert_int_equal(json_array_size(vols), 1);
    assert_non_null(json_object_get(list, "Warnings")); /* null or an array */
    json_decref(list);
    json_decref(filters);

    filters = json_pack("{s:[s]}", "label", case_label);
    expect_rc(f->c, dkc_volume_list(f->c, filters, &list), 0);
    vols = json_object_get(list, "Volumes");
    assert_int_equal(json_array_size(vols), 2);
    assert_int_equal(count_with(vols, "Name", name), 1);
    json_decref(list);
    json_decref(filters);

    /* Already there: Docker hands back the same volume. */
    expect_rc(f->c, dkc_volume_create(f->c, name, NULL, NULL, NULL), 0);

    /* Refused before any request. */
    const char *bad_labels[] = {"no-equals-sign", NULL};
    expect_rc(f->c, dkc_volume_create(f->c, itest_name("vol"), NULL, bad_labels, NULL), DKC_EINVAL);
    expect_rc(f->c, dkc_volume_create(f->c, "../etc", NULL, NULL, NULL), DKC_EINVAL);
    expect_rc(f->c, dkc_volume_inspect(f->c, "a/b", &vol), DKC_EINVAL);
    assert_int_equal(dkc_volume_list(f->c, NULL, NULL), DKC_EINVAL);
}

static void volume_shared_between_containers_and_removed(void **state)
{
    fixture *f = *state;
    char name[128], bind[160];
    snprintf(name, sizeof name, "%s", itest_name("data"));
    snprintf(bind, sizeof bind, "%s:/data", name);
    const char *binds[] = {bind, NULL};

    cleanup_volume(f, name);
    expect_rc(f->c, dkc_volume_create(f->c, name, NULL, NULL, NULL), 0);

    const char *write_cmd[] = {"sh", "-c", "echo hi > /data/f", NULL};
    const char *read_hi[] = {"sh", "-c", "[ \"$(cat /data/f)\" = hi ]", NULL};
    const char *read_bye[] = {"sh", "-c", "[ \"$(cat /data/f)\" = bye ]", NULL};
    assert_int_equal(run_to_exit(f, make_container(f, write_cmd, binds, NULL)), 0);
    assert_int_equal(run_to_exit(f, make_container(f, read_hi, binds, NULL)), 0);
    /* The same check fails when the content differs: the read is real. */
    assert_int_equal(run_to_exit(f, make_container(f, read_bye, binds, NULL)), 1);

    /* In use by (stopped) containers: a conflict, force or not. */
    int rc = dkc_volume_remove(f->c, name, false);
    expect_rc(f->c, rc, DKC_ECONFLICT);
    assert_non_null(
        strstr(dkc_client_last_error(f->c)->message,
               lane_podman_differs("Podman says \"is being used\"") ? "being used" : "in use"));
    expect_rc(f->c, dkc_volume_remove(f->c, name, true), DKC_ECONFLICT);

    for (size_t i = 0; i < f->n_containers; i++)
        expect_rc(f->c, dkc_container_remove(f->c, f->containers[i], true, false), 0);
    f->n_containers = 0;

    expect_rc(f->c, dkc_volume_remove(f->c, name, false), 0);
    json_t *vol = NULL;
    expect_rc(f->c, dkc_volume_inspect(f->c, name, &vol), DKC_ENOTFOUND);
    assert_null(vol);
    assert_int_equal(dkc_client_last_error(f->c)->http_status, 404);
    expect_rc(f->c, dkc_volume_remove(f->c, name, false), DKC_ENOTFOUND);
    /* With force a missing volume counts as removed. */
    expect_rc(f->c, dkc_volume_remove(f->c, name, true), 0);
}

/* ---- networks ------------------------------------------------------------ */

static void network_create_list_inspect_remove(void **state)
{
    fixture *f = *state;
    char name[128], case_label[160];
    snprintf(name, sizeof name, "%s", itest_name("net"));
    snprintf(case_label, sizeof case_label, "itest.case=%s", name);
    const char *labels[] = {"itest.owner=volnet", case_label, NULL};

    char *new_id = NULL;
    int crc = dkc_network_create(f->c, name, NULL, true, labels, &new_id);
    const char *id = cleanup_network(f, new_id);
    expect_rc(f->c, crc, 0);
    assert_true(is_hex_id(id));

    /* Same name again: refused, not a second network. */
    char *dup = NULL;
    int rc = dkc_network_create(f->c, name, "bridge", false, NULL, &dup);
    expect_rc(f->c, rc, DKC_ECONFLICT);
    assert_null(dup);
    assert_non_null(strstr(dkc_client_last_error(f->c)->message, "already exists"));

    json_t *filters = json_pack("{s:[s]}", "label", case_label);
    json_t *list = NULL;
    expect_rc(f->c, dkc_network_list(f->c, filters, &list), 0);
    assert_int_equal(json_array_size(list), 1);
    assert_int_equal(count_with(list, "Id", id), 1);
    json_decref(list);
    json_decref(filters);

    filters = json_pack("{s:[s]}", "name", itest_name("nonet"));
    expect_rc(f->c, dkc_network_list(f->c, filters, &list), 0);
    assert_true(json_is_array(list));
    assert_int_equal(json_array_size(list), 0);
    json_decref(list);
    json_decref(filters);

    /* By name and by id: the same network. */
    const char *refs[] = {name, id};
    for (size_t i = 0; i < 2; i++) {
        json_t *net = NULL;
        expect_rc(f->c, dkc_network_inspect(f->c, refs[i], &net), 0);
        assert_string_equal(json_string_value(json_object_get(net, "Id")), id);
        assert_string_equal(json_string_value(json_object_get(net, "Name")), name);
        assert_string_equal(json_string_value(json_object_get(net, "Driver")), "bridge");
        assert_true(json_is_true(json_object_get(net, "Internal")));
        json_t *lab = json_object_get(net, "Labels");
        assert_string_equal(json_string_value(json_object_get(lab, "itest.owner")), "volnet");
        json_decref(net);
    }

    expect_rc(f->c, dkc_network_remove(f->c, id), 0);
    json_t *net = NULL;
    expect_rc(f->c, dkc_network_inspect(f->c, id, &net), DKC_ENOTFOUND);
    assert_null(net);
    expect_rc(f->c, dkc_network_remove(f->c, name), DKC_ENOTFOUND);
    assert_non_null(strstr(dkc_client_last_error(f->c)->message, "not found"));

    const char *bad_labels[] = {"=x", NULL};
    expect_rc(f->c, dkc_network_create(f->c, itest_name("net"), NULL, false, bad_labels, NULL),
              DKC_EINVAL);
    expect_rc(f->c, dkc_network_create(f->c, "a b", NULL, false, NULL, NULL), DKC_EINVAL);
    expect_rc(f->c, dkc_network_inspect(f->c, "../x", &net), DKC_EINVAL);
}

/* True when the network's "Containers" holds the container id. */
static bool network_has(fixture *f, const char *net_id, const char *ctr)
{
    json_t *net = NULL;
    expect_rc(f->c, dkc_network_inspect(f->c, net_id, &net), 0);
    bool found = json_object_get(json_object_get(net, "Containers"), ctr) != NULL;
    json_decref(net);
    return found;
}

static void network_connect_and_disconnect(void **state)
{
    fixture *f = *state;
    char home_name[128], other_name[128];
    snprintf(home_name, sizeof home_name, "%s", itest_name("home"));
    snprintf(other_name, sizeof other_name, "%s", itest_name("other"));
    char *new_id = NULL;
    expect_rc(f->c, dkc_network_create(f->c, home_name, "bridge", false, NULL, &new_id), 0);
    const char *home = cleanup_network(f, new_id);
    expect_rc(f->c, dkc_network_create(f->c, other_name, NULL, true, NULL, &new_id), 0);
    const char *other = cleanup_network(f, new_id);

    /* A running container on the first network (bridges work without
     * docker0, so this holds on private daemons too). */
    const char *sleep_cmd[] = {"sleep", "30", NULL};
    const char *ctr = make_container(f, sleep_cmd, NULL, home_name);
    expect_rc(f->c, dkc_container_start(f->c, ctr), 0);
    assert_true(network_has(f, home, ctr));
    assert_false(network_has(f, other, ctr));

    expect_rc(f->c, dkc_network_connect(f->c, other_name, ctr), 0);
    assert_true(network_has(f, other, ctr));
    json_t *ci = NULL;
    expect_rc(f->c, dkc_container_inspect(f->c, ctr, &ci), 0);
    json_t *nets = json_object_get(json_object_get(ci, "NetworkSettings"), "Networks");
    assert_non_null(json_object_get(nets, other_name));
    assert_non_null(json_object_get(nets, home_name));
    json_decref(ci);

    /* Twice: Docker refuses with 403 Forbidden (DKC_EFORBIDDEN). */
    int rc = dkc_network_connect(f->c, other, ctr);
    expect_rc(f->c, rc, DKC_EFORBIDDEN);
    if (lane_podman_differs("Podman answers a second connect 500 \"already connected\"")) {
        assert_int_equal(dkc_client_last_error(f->c)->http_status, 500);
        assert_non_null(strstr(dkc_client_last_error(f->c)->message, "already connected"));
    } else {
        assert_int_equal(dkc_client_last_error(f->c)->http_status, 403);
        assert_non_null(strstr(dkc_client_last_error(f->c)->message, "already exists"));
    }

    /* A network with an endpoint in use cannot go (403 again). */
    if (!lane_podman_differs("Podman 4.3 removes a network by id with a container that "
                             "joined it by connect, disconnecting it")) {
        rc = dkc_network_remove(f->c, other);
        expect_rc(f->c, rc, DKC_EFORBIDDEN);
        assert_non_null(strstr(dkc_client_last_error(f->c)->message, "active endpoints"));
    }

    expect_rc(f->c, dkc_network_disconnect(f->c, other, ctr, false), 0);
    assert_false(network_has(f, other, ctr));
    assert_true(network_has(f, home, ctr));
    expect_rc(f->c, dkc_network_disconnect(f->c, home_name, ctr, true), 0);
    assert_false(network_has(f, home, ctr));

    expect_rc(f->c, dkc_network_connect(f->c, other, itest_name("noctr")), DKC_ENOTFOUND);
    expect_rc(f->c, dkc_network_connect(f->c, itest_name("nonet"), ctr), DKC_ENOTFOUND);
    expect_rc(f->c, dkc_network_disconnect(f->c, itest_name("nonet"), ctr, false), DKC_ENOTFOUND);
    expect_rc(f->c, dkc_network_connect(f->c, other, "bad id"), DKC_EINVAL);
}

int main(void)
{
    dkc_global_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(volume_create_inspect_list, setup, teardown),
        cmocka_unit_test_setup_teardown(volume_shared_between_containers_and_removed, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(network_create_list_inspect_remove, setup, teardown),
        cmocka_unit_test_setup_teardown(network_connect_and_disconnect, setup, teardown),
    };
    int failed = cmocka_run_group_tests_name("volnet", tests, NULL, NULL);
    dkc_global_cleanup();
    return failed;
}
