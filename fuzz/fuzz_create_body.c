/*
 * fuzz_create_body.c -- libFuzzer target for the create body as each API
 * version reads it (dkc__create_body_adapt, lib/dkc_version.c).
 *
 * Create bodies arrive from the message queue (after the policy), so the
 * adaptation runs on untrusted JSON.  Every input that decodes to JSON is
 * adapted at versions on both sides of each branch.  Aborts on a broken
 * invariant:
 *   - the caller's body is never changed;
 *   - the result is 0 with an object to send, or DKC_EUNSUPPORTED / DKC_EINVAL /
 *     DKC_ENOMEM with nothing to send and a printable reason;
 *   - from API 1.44 on, and for Podman at any version, a body sent has no
 *     container-wide MacAddress left (in any spelling Docker reads), and a
 *     MAC address asked for is on an endpoint;
 *   - before 1.44, a body sent that had no container-wide MAC address has
 *     none left on an endpoint: it moved to the container;
 *   - from 1.53 on, no port of a body sent has an empty list of bindings.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dkc_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "invariant broken: %s\n", what);
        abort();
    }
}

/* Whether obj sets key (read as Docker does: any case, the last one
 * wins) to a non-empty string. */
static int has_ci(json_t *obj, const char *key)
{
    const char *k;
    json_t *v;
    int set = 0;
    json_object_foreach(obj, k, v)
    {
        const char *s = json_string_value(v);
        if (strcasecmp(k, key) == 0)
            set = s != NULL && s[0] != '\0';
    }
    return set;
}

/* Whether any endpoint of body carries a MAC address. */
static int endpoint_mac(json_t *body)
{
    const char *k, *n;
    json_t *v, *nc = NULL, *eps = NULL, *ep;
    json_object_foreach(body, k, v) if (strcasecmp(k, "NetworkingConfig") == 0) nc = v;
    json_object_foreach(nc, k, v) if (strcasecmp(k, "EndpointsConfig") == 0) eps = v;
    json_object_foreach(eps, n, ep) if (has_ci(ep, "MacAddress")) return 1;
    return 0;
}

/* Whether a port of body's HostConfig.PortBindings (as Docker reads the
 * keys) has an empty list of bindings. */
static int empty_binding(json_t *body)
{
    const char *k;
    json_t *v, *hc = NULL, *pb = NULL;
    json_object_foreach(body, k, v) if (strcasecmp(k, "HostConfig") == 0) hc = v;
    json_object_foreach(hc, k, v) if (strcasecmp(k, "PortBindings") == 0) pb = v;
    json_object_foreach(pb, k, v) if (json_is_null(v) ||
                                      (json_is_array(v) && !json_array_size(v))) return 1;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const int versions[] = {DKC__API(24), DKC__API(41), DKC__API(43), DKC__API(44),
                                   DKC__API(52), DKC__API(53), DKC__API(56)};
    json_t *body = json_loadb((const char *)data, size, JSON_DECODE_ANY, NULL);
    if (body == NULL)
        return 0;
    json_t *before = json_deep_copy(body);
    check(before != NULL, "copy");
    for (size_t j = 0; j < 2 * sizeof versions / sizeof versions[0]; j++) {
        size_t i = j % (sizeof versions / sizeof versions[0]);
        unsigned flags = j >= sizeof versions / sizeof versions[0] ? DKC__ADAPT_PODMAN : 0;
        char why[256];
        json_t *send = NULL;
        int rc = dkc__create_body_adapt(body, versions[i], flags, &send, why, sizeof why);
        check(json_equal(body, before), "the caller's body is unchanged");
        if (rc != 0) {
            check(rc == DKC_EUNSUPPORTED || rc == DKC_EINVAL || rc == DKC_ENOMEM, "known code");
            check(send == NULL, "nothing to send after a failure");
            check(why[0] != '\0', "a reason");
            for (const char *p = why; *p; p++)
                check((unsigned char)*p >= 0x20 || *p == '\t', "a printable reason");
            continue;
        }
        check(json_is_object(send), "an object to send");
        if (versions[i] >= DKC__API(53))
            check(!empty_binding(send), "no empty port binding list from 1.53 on");
        if (versions[i] >= DKC__API(44) || flags != 0) {
            check(!has_ci(send, "MacAddress"), "no container-wide MAC address from 1.44 on");
            if (has_ci(body, "MacAddress"))
                check(endpoint_mac(send), "the MAC address is on an endpoint");
        } else if (!has_ci(body, "MacAddress")) {
            check(!endpoint_mac(send), "an endpoint's MAC address moved to the container");
        }
        json_decref(send);
    }
    json_decref(before);
    json_decref(body);
    return 0;
}
