/*
 * dkc_version.c -- what the library does differently by Engine API version.
 *
 * The one place the library branches on the negotiated version: a table of
 * what a call or option needs (dkc__api_require) and the create body as the
 * negotiated version wants it (dkc__api_create_body).  Everything else the
 * Engine changed between 1.24 and 1.56 is read in a form every version
 * shares (events by Type/Action/Actor, progress by errorDetail and
 * progressDetail, output streams by the container's TTY), so it needs no
 * branch.  docs/libdkc.md has the table for readers.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dkc_internal.h"

int dkc__version_number(const char *v)
{
    char *end;
    if (v == NULL || v[0] < '0' || v[0] > '9')
        return -1;
    long major = strtol(v, &end, 10);
    if (end == v || *end != '.' || major < 0 || major > 99)
        return -1;
    const char *p = end + 1;
    if (*p < '0' || *p > '9')
        return -1;
    long minor = strtol(p, &end, 10);
    if (end == p || *end != '\0' || minor < 0 || minor > 999)
        return -1;
    return (int)(major * 1000 + minor);
}

/* What needs a version newer than DKC_API_MIN, and since which. */
static const struct {
    int since; /* DKC__API(minor) */
    const char *version;
    const char *what;
} features[] = {
    [DKC__F_AUTO_REMOVE] = {DKC__API(25), "1.25", "AutoRemove"},
    [DKC__F_WAIT_CONDITION] = {DKC__API(30), "1.30", "a wait condition other than not-running"},
    [DKC__F_STOP_SIGNAL] = {DKC__API(42), "1.42", "a stop or restart signal"},
    [DKC__F_NETWORKS] = {DKC__API(44), "1.44", "creating a container on several networks"},
};

int dkc__api_require(dkc_client *c, dkc__feature f)
{
    int v = dkc__client_api(c);
    if (v < 0)
        return v;
    if (v >= features[f].since)
        return 0;
    return dkc__client_fail(c, DKC_EVERSION, 0, "%s needs Docker API %s; %s speaks %s",
                            features[f].what, features[f].version, dkc_client_host(c),
                            dkc_client_api_version(c));
}

/* The value of key in obj as Docker reads it: the exact spelling, else
 * the first spelling that differs only in case (Go's encoding/json).
 * *name (may be NULL) gets the key as spelt in obj.  NULL when absent or
 * obj is not an object. */
static json_t *get_ci(json_t *obj, const char *key, const char **name)
{
    const char *k;
    json_t *v = json_object_get(obj, key);
    if (v != NULL) {
        if (name != NULL)
            *name = key;
        return v;
    }
    json_object_foreach(obj, k, v)
    {
        if (strcasecmp(k, key) == 0) {
            if (name != NULL)
                *name = k;
            return v;
        }
    }
    return NULL;
}

/* The object under key in obj, created (as key) when absent.  NULL when
 * the value there is not an object or memory runs out. */
static json_t *object_at(json_t *obj, const char *key)
{
    json_t *v = get_ci(obj, key, NULL);
    if (v != NULL && !json_is_null(v))
        return json_is_object(v) ? v : NULL;
    if (json_object_set_new(obj, key, json_object()) != 0)
        return NULL;
    return json_object_get(obj, key);
}

static const char *nonempty(json_t *v)
{
    const char *s = json_string_value(v);
    return s != NULL && s[0] != '\0' ? s : NULL;
}

/* The network a container created with this NetworkMode is on first, as
 * EndpointsConfig names it ("default" and "" are the bridge, under either
 * name), or NULL for modes without an endpoint of their own (host, none,
 * container:<id>). */
static const char *main_network(json_t *eps, const char *mode)
{
    if (mode == NULL || mode[0] == '\0' || strcmp(mode, "default") == 0)
        return get_ci(eps, "default", NULL) != NULL && get_ci(eps, "bridge", NULL) == NULL
                   ? "default"
                   : "bridge";
    if (strcmp(mode, "host") == 0 || strcmp(mode, "none") == 0 ||
        strncmp(mode, "container:", 10) == 0)
        return NULL;
    return mode;
}

/* API 1.44 and newer: the container-wide MAC address (deprecated in 1.44,
 * gone in 1.52) moves to the endpoint of the container's main network,
 * where these versions read it.  body is the caller's copy. */
static int mac_to_endpoint(dkc_client *c, json_t *body, const char *mac_key, const char *mac,
                           const char *mode)
{
    json_t *nc = object_at(body, "NetworkingConfig");
    json_t *eps = nc ? object_at(nc, "EndpointsConfig") : NULL;
    if (eps == NULL)
        return dkc__client_fail(c, DKC_EINVAL, 0,
                                "invalid create body: NetworkingConfig.EndpointsConfig is not an "
                                "object");
    const char *net = main_network(eps, mode);
    if (net == NULL)
        return dkc__client_fail(c, DKC_EINVAL, 0,
                                "invalid create body: a MacAddress needs a bridge or user-defined "
                                "network, not NetworkMode %.100s",
                                mode);
    json_t *ep = object_at(eps, net);
    if (ep == NULL)
        return dkc__client_fail(
            c, DKC_EINVAL, 0, "invalid create body: the endpoint of %.100s is not an object", net);
    const char *ep_key = "MacAddress";
    const char *had = nonempty(get_ci(ep, "MacAddress", &ep_key));
    if (had != NULL && strcasecmp(had, mac) != 0)
        return dkc__client_fail(c, DKC_EINVAL, 0,
                                "invalid create body: MacAddress %.40s differs from the one of "
                                "network %.100s (%.40s)",
                                mac, net, had);
    if (had == NULL && json_object_set_new(ep, ep_key, json_string(mac)) != 0)
        return dkc__client_fail(c, DKC_ENOMEM, 0, "out of memory");
    json_object_del(body, mac_key);
    return 0;
}

/* Before API 1.44 only the container-wide MAC address exists (a daemon
 * ignores one on an endpoint): the main network's moves there.  One on any
 * other network cannot be said. */
static int mac_to_config(dkc_client *c, json_t *body, json_t *eps, const char *mode)
{
    const char *net = main_network(eps, mode);
    const char *name;
    json_t *ep;
    json_object_foreach(eps, name, ep)
    {
        const char *key = "MacAddress";
        const char *mac = nonempty(get_ci(ep, "MacAddress", &key));
        if (mac == NULL)
            continue;
        bool main = (net != NULL && strcmp(name, net) == 0) || json_object_size(eps) == 1;
        if (!main)
            return dkc__client_fail(c, DKC_EVERSION, 0,
                                    "a MacAddress on network %.100s, which is not the "
                                    "container's NetworkMode, needs Docker API 1.44; %s speaks %s",
                                    name, dkc_client_host(c), dkc_client_api_version(c));
        if (json_object_set_new(body, "MacAddress", json_string(mac)) != 0)
            return dkc__client_fail(c, DKC_ENOMEM, 0, "out of memory");
        json_object_del(ep, key);
        return 0;
    }
    return 0;
}

int dkc__api_create_body(dkc_client *c, json_t *body, json_t **send)
{
    *send = NULL;
    int v = dkc__client_api(c);
    if (v < 0)
        return v;
    json_t *hc = get_ci(body, "HostConfig", NULL);
    json_t *eps = get_ci(get_ci(body, "NetworkingConfig", NULL), "EndpointsConfig", NULL);
    int rc;
    if (json_is_true(get_ci(hc, "AutoRemove", NULL)) &&
        (rc = dkc__api_require(c, DKC__F_AUTO_REMOVE)) != 0)
        return rc;
    if (json_is_object(eps) && json_object_size(eps) > 1 &&
        (rc = dkc__api_require(c, DKC__F_NETWORKS)) != 0)
        return rc;

    const char *mac_key = "MacAddress";
    const char *mac = nonempty(get_ci(body, "MacAddress", &mac_key));
    bool ep_mac = false;
    const char *name;
    json_t *ep;
    if (json_is_object(eps))
        json_object_foreach(eps, name, ep) ep_mac =
            ep_mac || nonempty(get_ci(ep, "MacAddress", NULL));
    bool move_down = v >= DKC__API(44) && mac != NULL;
    bool move_up = v < DKC__API(44) && mac == NULL && ep_mac;
    if (!move_down && !move_up) {
        *send = json_incref(body);
        return 0;
    }

    json_t *copy = json_deep_copy(body);
    if (copy == NULL)
        return dkc__client_fail(c, DKC_ENOMEM, 0, "out of memory");
    const char *mode =
        json_string_value(get_ci(get_ci(copy, "HostConfig", NULL), "NetworkMode", NULL));
    if (move_down)
        rc = mac_to_endpoint(c, copy, mac_key, mac, mode);
    else
        rc = mac_to_config(
            c, copy, get_ci(get_ci(copy, "NetworkingConfig", NULL), "EndpointsConfig", NULL), mode);
    if (rc != 0) {
        json_decref(copy);
        return rc;
    }
    *send = copy;
    return 0;
}
