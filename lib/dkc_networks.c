/*
 * dkc_networks.c -- networks: create, list, inspect, remove, connect and
 * disconnect containers.
 *
 * Thin mappings onto the request layer.  Network and container references
 * reach a URL or body only after dkc__check_ref().
 */
#include <stdlib.h>
#include <string.h>

#include "dkc_internal.h"

/* POST /networks/create {Name, Driver, Internal, Labels, CheckDuplicate}.
 * CheckDuplicate is always set, so an existing name is DKC_ECONFLICT.
 * driver NULL: "bridge".  *id (may be NULL): the new network's id, a new
 * string (free()). */
int dkc_network_create(dkc_client *c, const char *name, const char *driver, bool internal,
                       const char *const *labels, char **id)
{
    if (c == NULL)
        return DKC_EINVAL;
    if (id != NULL)
        *id = NULL;
    if (dkc__check_ref(name, false) != 0)
        return dkc__client_fail(c, DKC_EINVAL, 0, "invalid network name");
    if (driver != NULL && dkc__check_ref(driver, true) != 0)
        return dkc__client_fail(c, DKC_EINVAL, 0, "invalid network driver name");
    int rc = 0;
    json_t *out = NULL;
    json_t *lab = dkc__kv_to_json(labels, &rc);
    if (rc != 0)
        return dkc__client_fail(c, rc, 0, "network labels must be \"key=value\"");
    json_t *body = json_object();
    if (body == NULL || json_object_set_new(body, "Name", json_string(name)) != 0 ||
        json_object_set_new(body, "Driver", json_string(driver ? driver : "bridge")) != 0 ||
        json_object_set_new(body, "Internal", json_boolean(internal)) != 0 ||
        json_object_set_new(body, "CheckDuplicate", json_true()) != 0 ||
        (lab != NULL && json_object_set(body, "Labels", lab) != 0)) {
        rc = dkc__client_fail(c, DKC_ENOMEM, 0, "cannot build the network create request");
        goto out;
    }
    rc = dkc__client_json(c, "POST", "/networks/create", body, &out);
    if (rc != 0)
        goto out;
    const char *nid = json_string_value(json_object_get(out, "Id"));
    if (nid == NULL || nid[0] == '\0') {
        rc = dkc__client_fail(c, DKC_EPROTO, 201, "network create: the answer carries no Id");
        goto out;
    }
    if (id != NULL) {
        *id = strdup(nid);
        if (*id == NULL)
            rc = dkc__client_fail(c, DKC_ENOMEM, 0, "out of memory");
    }
out:
    json_decref(out);
    json_decref(body);
    json_decref(lab);
    return rc;
}

/* GET /networks.  filters borrowed (may be NULL), e.g. {"name":["x"]},
 * {"label":["k=v"]}, {"driver":["bridge"]}.  *out: the array as Docker
 * sends it (json_decref). */
int dkc_network_list(dkc_client *c, json_t *filters, json_t **out)
{
    if (c == NULL || out == NULL)
        return DKC_EINVAL;
    *out = NULL;
    dkc__buf path;
    dkc__buf_init(&path, 0);
    int rc = dkc__buf_printf(&path, "/networks");
    if (rc == 0)
        rc = dkc__query_add_json(&path, "filters", filters);
    if (rc != 0)
        rc = dkc__client_fail(c, rc, 0, "cannot build the network list request");
    else
        rc = dkc__client_json(c, "GET", path.data, NULL, out);
    dkc__buf_cleanup(&path);
    return rc;
}

/* Performs method on /networks/{id}<suffix> with an optional body. */
static int network_call(dkc_client *c, const char *method, const char *id, const char *suffix,
                        json_t *body, json_t **out)
{
    if (dkc__check_ref(id, false) != 0)
        return dkc__client_fail(c, DKC_EINVAL, 0, "invalid network name or id");
    dkc__buf path;
    dkc__buf_init(&path, 0);
    int rc = dkc__buf_printf(&path, "/networks/%s%s", id, suffix);
    if (rc != 0)
        rc = dkc__client_fail(c, rc, 0, "cannot build the network request");
    else
        rc = dkc__client_json(c, method, path.data, body, out);
    dkc__buf_cleanup(&path);
    return rc;
}

/* GET /networks/{id}.  *out: the network object (json_decref); its
 * "Containers" lists running containers attached to it. */
int dkc_network_inspect(dkc_client *c, const char *id, json_t **out)
{
    if (c == NULL || out == NULL)
        return DKC_EINVAL;
    *out = NULL;
    return network_call(c, "GET", id, "", NULL, out);
}

/* DELETE /networks/{id}. */
int dkc_network_remove(dkc_client *c, const char *id)
{
    if (c == NULL)
        return DKC_EINVAL;
    return network_call(c, "DELETE", id, "", NULL, NULL);
}

/* Builds {"Container": container[, "Force": force]} and posts it to
 * /networks/{network}/<verb>. */
static int attach_call(dkc_client *c, const char *network, const char *container,
                       const char *suffix, int force)
{
    if (dkc__check_ref(container, false) != 0)
        return dkc__client_fail(c, DKC_EINVAL, 0, "invalid container name or id");
    int rc;
    json_t *body = json_object();
    if (body == NULL || json_object_set_new(body, "Container", json_string(container)) != 0 ||
        (force >= 0 && json_object_set_new(body, "Force", json_boolean(force)) != 0)) {
        rc = dkc__client_fail(c, DKC_ENOMEM, 0, "cannot build the network request");
        goto out;
    }
    rc = network_call(c, "POST", network, suffix, body, NULL);
out:
    json_decref(body);
    return rc;
}

/* POST /networks/{network}/connect {Container}. */
int dkc_network_connect(dkc_client *c, const char *network, const char *container)
{
    if (c == NULL)
        return DKC_EINVAL;
    return attach_call(c, network, container, "/connect", -1);
}

/* POST /networks/{network}/disconnect {Container, Force}. */
int dkc_network_disconnect(dkc_client *c, const char *network, const char *container, bool force)
{
    if (c == NULL)
        return DKC_EINVAL;
    return attach_call(c, network, container, "/disconnect", force ? 1 : 0);
}
