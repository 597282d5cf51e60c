/*
 * dkc_volumes.c -- volumes: create, list, inspect, remove.
 *
 * Thin mappings onto the request layer.  Volume names reach a URL only after
 * dkc__check_ref(); results are returned as Docker sends them.
 */
#include "dkc_internal.h"

/* POST /volumes/create {Name, Driver, Labels}.  name NULL: Docker picks a
 * random one; driver NULL: "local".  A labels entry without '=' is
 * DKC_EINVAL before any request.  *out (may be NULL): the new volume object
 * (json_decref). */
int dkc_volume_create(dkc_client *c, const char *name, const char *driver,
                      const char *const *labels, json_t **out)
{
    if (c == NULL)
        return DKC_EINVAL;
    if (out != NULL)
        *out = NULL;
    if (name != NULL && dkc__check_ref(name, false) != 0)
        return dkc__client_fail(c, DKC_EINVAL, 0, "invalid volume name");
    if (driver != NULL && dkc__check_ref(driver, true) != 0)
        return dkc__client_fail(c, DKC_EINVAL, 0, "invalid volume driver name");
    int rc = 0;
    json_t *lab = dkc__kv_to_json(labels, &rc);
    if (rc != 0)
        return dkc__client_fail(c, rc, 0, "volume labels must be \"key=value\"");
    json_t *body = json_object();
    if (body == NULL ||
        (name != NULL && json_object_set_new(body, "Name", json_string(name)) != 0) ||
        json_object_set_new(body, "Driver", json_string(driver ? driver : "local")) != 0 ||
        (lab != NULL && json_object_set(body, "Labels", lab) != 0)) {
        rc = dkc__client_fail(c, DKC_ENOMEM, 0, "cannot build the volume create request");
        goto out;
    }
    rc = dkc__client_json(c, "POST", "/volumes/create", body, out);
out:
    json_decref(body);
    json_decref(lab);
    return rc;
}

/* GET /volumes.  filters borrowed (may be NULL), e.g. {"name":["x"]},
 * {"label":["k=v"]}, {"dangling":["true"]}.  *out is the object Docker
 * sends, {"Volumes": [...], "Warnings": [...] or null}, not just the array,
 * so that the daemon's warnings are not lost (json_decref). */
int dkc_volume_list(dkc_client *c, json_t *filters, json_t **out)
{
    if (c == NULL || out == NULL)
        return DKC_EINVAL;
    *out = NULL;
    dkc__buf path;
    dkc__buf_init(&path, 0);
    int rc = dkc__buf_printf(&path, "/volumes");
    if (rc == 0)
        rc = dkc__query_add_json(&path, "filters", filters);
    if (rc != 0)
        rc = dkc__client_fail(c, rc, 0, "cannot build the volume list request");
    else
        rc = dkc__client_json(c, "GET", path.data, NULL, out);
    dkc__buf_cleanup(&path);
    return rc;
}

/* GET /volumes/{name}.  *out: the volume object (json_decref). */
int dkc_volume_inspect(dkc_client *c, const char *name, json_t **out)
{
    if (c == NULL || out == NULL)
        return DKC_EINVAL;
    *out = NULL;
    if (dkc__check_ref(name, false) != 0)
        return dkc__client_fail(c, DKC_EINVAL, 0, "invalid volume name");
    dkc__buf path;
    dkc__buf_init(&path, 0);
    int rc = dkc__buf_printf(&path, "/volumes/%s", name);
    if (rc != 0)
        rc = dkc__client_fail(c, rc, 0, "cannot build the volume inspect request");
    else
        rc = dkc__client_json(c, "GET", path.data, NULL, out);
    dkc__buf_cleanup(&path);
    return rc;
}

/* DELETE /volumes/{name}?force=.  A volume in use by a container is
 * DKC_ECONFLICT, with or without force; force only makes a missing volume
 * (and driver errors) count as removed. */
int dkc_volume_remove(dkc_client *c, const char *name, bool force)
{
    if (c == NULL)
        return DKC_EINVAL;
    if (dkc__check_ref(name, false) != 0)
        return dkc__client_fail(c, DKC_EINVAL, 0, "invalid volume name");
    dkc__buf path;
    dkc__buf_init(&path, 0);
    int rc = dkc__buf_printf(&path, "/volumes/%s", name);
    if (rc == 0 && force)
        rc = dkc__query_add(&path, "force", "1");
    if (rc != 0)
        rc = dkc__client_fail(c, rc, 0, "cannot build the volume remove request");
    else
        rc = dkc__client_json(c, "DELETE", path.data, NULL, NULL);
    dkc__buf_cleanup(&path);
    return rc;
}
