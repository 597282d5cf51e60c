/*
 * dkc_version.c -- what the library does differently by Engine API version.
 *
 * The one place the library branches on the negotiated version.  It holds
 * a table of what a call or option needs (dkc__api_needs).  It makes the
 * create body as the negotiated version wants it (dkc__create_body_adapt):
 * the MAC address's place (1.44, and Podman's) and empty port binding
 * lists (1.53).
 *
 * Pure: no I/O, no handle.  dkc_client.c's dkc__api_require and
 * dkc__api_create_body apply them to a handle's version.  So the
 * adaptation of bodies that arrive from the message queue is fuzzed
 * (fuzz/fuzz_create_body.c).
 *
 * Everything else the Engine changed between 1.24 and 1.56 is read in a
 * form every version shares, so it needs no branch.  Events are read by
 * Type/Action/Actor, progress by errorDetail and progressDetail, output
 * streams by the container's TTY.  docs/libdkc.md has the table for
 * readers.
 */
#include <stdio.h>
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

const char *dkc__api_needs(int version, dkc__feature f, const char **what)
{
    if (what != NULL)
        *what = features[f].what;
    return version >= features[f].since ? NULL : features[f].version;
}

/* The value of key in obj as Docker reads it: Go's encoding/json matches
 * keys without regard to case and the last match wins.  *name (may be
 * NULL) gets the key as spelt in obj.  NULL when absent or obj is not an
 * object. */
static json_t *get_ci(json_t *obj, const char *key, const char **name)
{
    const char *k;
    json_t *v, *found = NULL;
    json_object_foreach(obj, k, v)
    {
        if (strcasecmp(k, key) == 0) {
            found = v;
            if (name != NULL)
                *name = k;
        }
    }
    return found;
}

/* Removes every key of obj that reads as key. */
static void del_ci(json_t *obj, const char *key)
{
    const char *k;
    json_t *v;
    void *tmp;
    json_object_foreach_safe(obj, tmp, k, v)
    {
        if (strcasecmp(k, key) == 0)
            json_object_del(obj, k);
    }
}

/* The object under key in obj, created (as key) when absent.  NULL when
 * the value there is not an object or memory runs out. */
static json_t *object_at(json_t *obj, const char *key)
{
    json_t *v = get_ci(obj, key, NULL);
    if (v != NULL && !json_is_null(v))
        return json_is_object(v) ? v : NULL;
    del_ci(obj, key);
    if (json_object_set_new(obj, key, json_object()) != 0)
        return NULL;
    return json_object_get(obj, key);
}

/* Untrusted text (a name or an address from the body) made fit for a
 * one-line reason: at most cap - 1 bytes, control characters as '?'. */
static const char *shown(const char *text, char *buf, size_t cap)
{
    size_t n = 0;
    for (const char *p = text ? text : ""; *p != '\0' && n + 1 < cap; p++)
        buf[n++] = ((unsigned char)*p < 0x20 || *p == 0x7f) ? '?' : *p;
    buf[n] = '\0';
    return buf;
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
        return json_object_get(eps, "default") != NULL && json_object_get(eps, "bridge") == NULL
                   ? "default"
                   : "bridge";
    if (strcmp(mode, "host") == 0 || strcmp(mode, "none") == 0 ||
        strncmp(mode, "container:", 10) == 0)
        return NULL;
    return mode;
}

/* API 1.44 and newer: the container-wide MAC address moves to the endpoint
 * of the container's main network, where these versions read it.  It was
 * deprecated in 1.44 and is gone in 1.52.  body is a copy of the caller's;
 * mac is owned by the caller. */
static int mac_to_endpoint(json_t *body, const char *mac, const char *mode, char *why, size_t len)
{
    json_t *nc = object_at(body, "NetworkingConfig");
    json_t *eps = nc ? object_at(nc, "EndpointsConfig") : NULL;
    if (eps == NULL) {
        snprintf(why, len, "NetworkingConfig.EndpointsConfig is not an object");
        return DKC_EINVAL;
    }
    const char *net = main_network(eps, mode);
    if (net == NULL) {
        char m[101];
        snprintf(why, len,
                 "a MacAddress needs a bridge or user-defined network, not NetworkMode %s",
                 shown(mode, m, sizeof m));
        return DKC_EINVAL;
    }
    json_t *ep = object_at(eps, net);
    if (ep == NULL) {
        char n[101];
        snprintf(why, len, "the endpoint of network %s is not an object", shown(net, n, sizeof n));
        return DKC_EINVAL;
    }
    const char *had = nonempty(get_ci(ep, "MacAddress", NULL));
    if (had != NULL && strcasecmp(had, mac) != 0) {
        char a[41], b[41], n[101];
        snprintf(why, len, "MacAddress %s differs from the one of network %s (%s)",
                 shown(mac, a, sizeof a), shown(net, n, sizeof n), shown(had, b, sizeof b));
        return DKC_EINVAL;
    }
    if (had == NULL) {
        del_ci(ep, "MacAddress");
        if (json_object_set_new(ep, "MacAddress", json_string(mac)) != 0) {
            snprintf(why, len, "out of memory");
            return DKC_ENOMEM;
        }
    }
    del_ci(body, "MacAddress");
    return 0;
}

/* Before API 1.44 only the container-wide MAC address exists (a daemon
 * ignores one on an endpoint): the main network's moves there.  One on any
 * other network cannot be said. */
static int mac_to_config(json_t *body, json_t *eps, const char *mode, char *why, size_t len)
{
    const char *net = main_network(eps, mode);
    const char *name;
    json_t *ep;
    json_object_foreach(eps, name, ep)
    {
        const char *mac = nonempty(get_ci(ep, "MacAddress", NULL));
        if (mac == NULL)
            continue;
        bool main = (net != NULL && strcmp(name, net) == 0) || json_object_size(eps) == 1;
        if (!main) {
            char n[101];
            snprintf(why, len,
                     "a MacAddress on network %s, which is not the container's NetworkMode, "
                     "needs Docker API 1.44",
                     shown(name, n, sizeof n));
            return DKC_EUNSUPPORTED;
        }
        del_ci(body, "MacAddress");
        if (json_object_set_new(body, "MacAddress", json_string(mac)) != 0) {
            snprintf(why, len, "out of memory");
            return DKC_ENOMEM;
        }
        del_ci(ep, "MacAddress");
        return 0;
    }
    return 0;
}

/* Whether a port of HostConfig.PortBindings has an empty list (or null). */
static bool empty_binding(json_t *bindings)
{
    const char *port;
    json_t *list;
    json_object_foreach(bindings, port, list)
    {
        if (json_is_null(list) || (json_is_array(list) && json_array_size(list) == 0))
            return true;
    }
    return false;
}

/* API 1.53 and newer: a port with an empty list of bindings is no longer
 * published on an ephemeral host port, as every version before did.  It
 * gets the one binding those versions filled in, so a body means the same
 * to every daemon.  hc is the copy's. */
static int fill_bindings(json_t *hc, char *why, size_t len)
{
    const char *port;
    json_t *list;
    void *tmp;
    json_t *bindings = get_ci(hc, "PortBindings", NULL);
    json_object_foreach_safe(bindings, tmp, port, list)
    {
        if (!json_is_null(list) && !(json_is_array(list) && json_array_size(list) == 0))
            continue;
        json_t *one = json_pack("[{s:s, s:s}]", "HostIp", "", "HostPort", "");
        if (one == NULL || json_object_set_new(bindings, port, one) != 0) {
            snprintf(why, len, "out of memory");
            return DKC_ENOMEM;
        }
    }
    return 0;
}

int dkc__create_body_adapt(json_t *body, int version, unsigned flags, json_t **send, char *why,
                           size_t len)
{
    const char *need, *what;
    *send = NULL;
    why[0] = '\0';
    if (!json_is_object(body)) {
        snprintf(why, len, "a create body must be a JSON object");
        return DKC_EINVAL;
    }
    json_t *hc = get_ci(body, "HostConfig", NULL);
    json_t *eps = get_ci(get_ci(body, "NetworkingConfig", NULL), "EndpointsConfig", NULL);
    if (json_is_true(get_ci(hc, "AutoRemove", NULL)) &&
        (need = dkc__api_needs(version, DKC__F_AUTO_REMOVE, &what)) != NULL) {
        snprintf(why, len, "%s needs Docker API %s", what, need);
        return DKC_EUNSUPPORTED;
    }
    if (json_is_object(eps) && json_object_size(eps) > 1 &&
        (need = dkc__api_needs(version, DKC__F_NETWORKS, &what)) != NULL) {
        snprintf(why, len, "%s needs Docker API %s", what, need);
        return DKC_EUNSUPPORTED;
    }

    const char *mac = nonempty(get_ci(body, "MacAddress", NULL));
    bool ep_mac = false;
    const char *name;
    json_t *ep;
    json_object_foreach(json_is_object(eps) ? eps : NULL, name, ep)
    {
        if (nonempty(get_ci(ep, "MacAddress", NULL)) != NULL)
            ep_mac = true;
    }
    /* Podman (4.x, API 1.41) reads a MAC address on an endpoint only, and
     * knows its default network by its own name, never "bridge" */
    bool podman = (flags & DKC__ADAPT_PODMAN) != 0;
    bool move_down =
        (version >= DKC__API(44) || podman) && get_ci(body, "MacAddress", NULL) != NULL;
    bool move_up = !podman && version < DKC__API(44) && mac == NULL && ep_mac;
    bool fill = version >= DKC__API(53) && empty_binding(get_ci(hc, "PortBindings", NULL));
    if (!move_down && !move_up && !fill) {
        *send = json_incref(body);
        return 0;
    }

    json_t *copy = json_deep_copy(body);
    if (copy == NULL) {
        snprintf(why, len, "out of memory");
        return DKC_ENOMEM;
    }
    const char *mode =
        json_string_value(get_ci(get_ci(copy, "HostConfig", NULL), "NetworkMode", NULL));
    int rc = fill ? fill_bindings(get_ci(copy, "HostConfig", NULL), why, len) : 0;
    if (rc != 0 || (!move_down && !move_up)) {
        /* nothing (more) to move */
    } else if (move_down && mac == NULL) { /* an empty one: nothing to move */
        del_ci(copy, "MacAddress");
    } else if (move_down && podman &&
               (mode == NULL || !strcmp(mode, "") || !strcmp(mode, "default") ||
                !strcmp(mode, "bridge"))) {
        snprintf(why, len,
                 "Podman sets a MacAddress only on the endpoint of a network named in "
                 "NetworkMode, not on its default network");
        rc = DKC_EUNSUPPORTED;
    } else if (move_down) {
        rc = mac_to_endpoint(copy, mac, mode, why, len);
    } else {
        rc = mac_to_config(copy,
                           get_ci(get_ci(copy, "NetworkingConfig", NULL), "EndpointsConfig", NULL),
                           mode, why, len);
    }
    if (rc != 0) {
        json_decref(copy);
        return rc;
    }
    *send = copy;
    return 0;
}
