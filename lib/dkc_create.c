/*
 * dkc_create.c -- the container create body: dkc_container_config -> JSON.
 *
 * A pure mapping with no I/O, so that every rule is unit-tested.  Unset
 * fields (NULL, 0, false) are left out, so that the daemon's defaults
 * apply.  The host-side fields go under "HostConfig" (left out when empty).
 * The caller's `extra` object is merged last.  What Docker would certainly
 * refuse is refused here with DKC_EINVAL before any request is made: no
 * image, a label without '=', a port binding without a container port, an
 * unknown restart policy.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dkc_internal.h"

/* Sets key to a new value, taking the reference (also on failure, as
 * json_object_set_new does).  A NULL value means the
 * value could not be built: jansson returns NULL for text that is not valid
 * UTF-8 (and, rarely, when out of memory), reported as DKC_EINVAL. */
static int set_new(json_t *obj, const char *key, json_t *value)
{
    if (value == NULL)
        return DKC_EINVAL;
    return json_object_set_new(obj, key, value) == 0 ? 0 : DKC_ENOMEM;
}

/* Sets a string field unless s is NULL or empty. */
static int set_str(json_t *obj, const char *key, const char *s)
{
    if (s == NULL || s[0] == '\0')
        return 0;
    return set_new(obj, key, json_string(s));
}

/* Sets a NULL-terminated string list as an array unless list is NULL (an
 * empty list is sent as [] on purpose: it overrides the image's value). */
static int set_strv(json_t *obj, const char *key, const char *const *list)
{
    if (list == NULL)
        return 0;
    return set_new(obj, key, dkc__strv_to_json(list));
}

static int set_true(json_t *obj, const char *key, bool v)
{
    if (!v)
        return 0;
    return set_new(obj, key, json_true());
}

static int set_int(json_t *obj, const char *key, int64_t v)
{
    if (v == 0)
        return 0;
    return set_new(obj, key, json_integer((json_int_t)v));
}

/* Normalises a port spec into out: "80" -> "80/tcp", "53/udp" stays.  The
 * number must be 1..65535 and the protocol tcp, udp or sctp.  Returns 0 or
 * DKC_EINVAL. */
static int port_key(const char *spec, char *out, size_t cap)
{
    if (spec == NULL || spec[0] < '0' || spec[0] > '9')
        return DKC_EINVAL;
    char *end;
    long n = strtol(spec, &end, 10);
    if (n < 1 || n > 65535)
        return DKC_EINVAL;
    const char *proto = "tcp";
    if (*end == '/') {
        proto = end + 1;
        if (strcmp(proto, "tcp") != 0 && strcmp(proto, "udp") != 0 && strcmp(proto, "sctp") != 0)
            return DKC_EINVAL;
    } else if (*end != '\0') {
        return DKC_EINVAL;
    }
    snprintf(out, cap, "%ld/%s", n, proto);
    return 0;
}

/* Adds {"<port>": {}} entries for every exposed port and every bound
 * container port (as `docker run -p` does, a published port is also
 * exposed). */
static int build_exposed(const dkc_container_config *cfg, json_t *body)
{
    char key[32];
    int rc = 0;
    json_t *exposed = json_object();
    if (exposed == NULL)
        return DKC_ENOMEM;
    for (size_t i = 0; cfg->exposed_ports != NULL && cfg->exposed_ports[i] != NULL; i++) {
        if ((rc = port_key(cfg->exposed_ports[i], key, sizeof key)) != 0 ||
            (rc = set_new(exposed, key, json_object())) != 0)
            goto out;
    }
    for (size_t i = 0; cfg->ports != NULL && i < cfg->n_ports; i++) {
        if ((rc = port_key(cfg->ports[i].container_port, key, sizeof key)) != 0 ||
            (rc = set_new(exposed, key, json_object())) != 0)
            goto out;
    }
    if (json_object_size(exposed) > 0)
        rc = json_object_set(body, "ExposedPorts", exposed) == 0 ? 0 : DKC_ENOMEM;
out:
    json_decref(exposed);
    return rc;
}

/* HostConfig.PortBindings: {"80/tcp": [{"HostIp": "", "HostPort": "8080"}]};
 * several bindings of one container port share its array. */
static int build_port_bindings(const dkc_container_config *cfg, json_t *hc)
{
    char key[32];
    int rc = 0;
    if (cfg->n_ports == 0)
        return 0;
    if (cfg->ports == NULL)
        return DKC_EINVAL;
    json_t *pb = json_object();
    if (pb == NULL)
        return DKC_ENOMEM;
    for (size_t i = 0; i < cfg->n_ports; i++) {
        const dkc_port_binding *p = &cfg->ports[i];
        if ((rc = port_key(p->container_port, key, sizeof key)) != 0)
            goto out;
        json_t *list = json_object_get(pb, key);
        if (list == NULL) {
            if ((rc = set_new(pb, key, json_array())) != 0)
                goto out;
            list = json_object_get(pb, key);
        }
        json_t *one = json_pack("{s:s,s:s}", "HostIp", p->host_ip ? p->host_ip : "", "HostPort",
                                p->host_port ? p->host_port : "");
        if (one == NULL) {
            rc = DKC_EINVAL;
            goto out;
        }
        if (json_array_append_new(list, one) != 0) {
            rc = DKC_ENOMEM;
            goto out;
        }
    }
    rc = json_object_set(hc, "PortBindings", pb) == 0 ? 0 : DKC_ENOMEM;
out:
    json_decref(pb);
    return rc;
}

/* HostConfig.RestartPolicy.  A retry count only means something with
 * "on-failure" (the daemon refuses it otherwise). */
static int build_restart(const dkc_container_config *cfg, json_t *hc)
{
    static const char *const names[] = {"no", "always", "unless-stopped", "on-failure"};
    const char *name = cfg->restart_policy;
    if (name == NULL || name[0] == '\0')
        return cfg->restart_max_retries != 0 ? DKC_EINVAL : 0;
    bool known = false;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        known = known || strcmp(name, names[i]) == 0;
    if (!known || cfg->restart_max_retries < 0)
        return DKC_EINVAL;
    if (cfg->restart_max_retries > 0 && strcmp(name, "on-failure") != 0)
        return DKC_EINVAL;
    json_t *rp = json_pack("{s:s}", "Name", name);
    if (rp == NULL)
        return DKC_ENOMEM;
    if (cfg->restart_max_retries > 0 &&
        json_object_set_new(rp, "MaximumRetryCount", json_integer(cfg->restart_max_retries)) != 0) {
        json_decref(rp);
        return DKC_ENOMEM;
    }
    return set_new(hc, "RestartPolicy", rp);
}

/* Fills the HostConfig object from the host-side fields. */
static int build_host_config(const dkc_container_config *cfg, json_t *hc)
{
    int rc;
    if ((rc = set_strv(hc, "Binds", cfg->binds)) != 0 || (rc = build_port_bindings(cfg, hc)) != 0 ||
        (rc = set_true(hc, "PublishAllPorts", cfg->publish_all_ports)) != 0 ||
        (rc = set_str(hc, "NetworkMode", cfg->network_mode)) != 0 ||
        (rc = build_restart(cfg, hc)) != 0 || (rc = set_int(hc, "Memory", cfg->memory)) != 0 ||
        (rc = set_int(hc, "MemorySwap", cfg->memory_swap)) != 0 ||
        (rc = set_int(hc, "NanoCpus", cfg->nano_cpus)) != 0 ||
        (rc = set_int(hc, "CpuShares", cfg->cpu_shares)) != 0 ||
        (rc = set_int(hc, "PidsLimit", cfg->pids_limit)) != 0 ||
        (rc = set_true(hc, "Privileged", cfg->privileged)) != 0 ||
        (rc = set_true(hc, "ReadonlyRootfs", cfg->read_only_rootfs)) != 0 ||
        (rc = set_true(hc, "AutoRemove", cfg->auto_remove)) != 0 ||
        (rc = set_strv(hc, "CapAdd", cfg->cap_add)) != 0 ||
        (rc = set_strv(hc, "CapDrop", cfg->cap_drop)) != 0 ||
        (rc = set_strv(hc, "Dns", cfg->dns)) != 0 ||
        (rc = set_strv(hc, "ExtraHosts", cfg->extra_hosts)) != 0)
        return rc;
    return 0;
}

/* Fills the top-level (Config) fields. */
static int build_config(const dkc_container_config *cfg, json_t *body)
{
    int rc = 0;
    json_t *volumes = NULL;

    if ((rc = set_str(body, "Image", cfg->image)) != 0 ||
        (rc = set_strv(body, "Cmd", cfg->cmd)) != 0 ||
        (rc = set_strv(body, "Entrypoint", cfg->entrypoint)) != 0 ||
        (rc = set_strv(body, "Env", cfg->env)) != 0)
        goto out;
    if (cfg->labels != NULL) {
        json_t *labels = dkc__kv_to_json(cfg->labels, &rc);
        if (labels == NULL) {
            rc = rc ? rc : DKC_ENOMEM;
            goto out;
        }
        if ((rc = set_new(body, "Labels", labels)) != 0)
            goto out;
    }
    if (cfg->volumes != NULL) {
        volumes = json_object();
        if (volumes == NULL) {
            rc = DKC_ENOMEM;
            goto out;
        }
        for (size_t i = 0; cfg->volumes[i] != NULL; i++) {
            if (cfg->volumes[i][0] == '\0') {
                rc = DKC_EINVAL;
                goto out;
            }
            if ((rc = set_new(volumes, cfg->volumes[i], json_object())) != 0)
                goto out;
        }
        rc = json_object_set(body, "Volumes", volumes) == 0 ? 0 : DKC_ENOMEM;
        if (rc != 0)
            goto out;
    }
    if ((rc = build_exposed(cfg, body)) != 0 ||
        (rc = set_str(body, "WorkingDir", cfg->working_dir)) != 0 ||
        (rc = set_str(body, "User", cfg->user)) != 0 ||
        (rc = set_str(body, "Hostname", cfg->hostname)) != 0 ||
        (rc = set_str(body, "StopSignal", cfg->stop_signal)) != 0 ||
        (rc = set_int(body, "StopTimeout", cfg->stop_timeout)) != 0 ||
        (rc = set_true(body, "Tty", cfg->tty)) != 0 ||
        (rc = set_true(body, "OpenStdin", cfg->open_stdin)) != 0 ||
        (rc = set_true(body, "StdinOnce", cfg->stdin_once)) != 0 ||
        (rc = set_true(body, "AttachStdin", cfg->attach_stdin)) != 0 ||
        (rc = set_true(body, "AttachStdout", cfg->attach_stdout)) != 0 ||
        (rc = set_true(body, "AttachStderr", cfg->attach_stderr)) != 0 ||
        (rc = set_true(body, "NetworkDisabled", cfg->network_disabled)) != 0)
        goto out;
out:
    json_decref(volumes);
    return rc;
}

/* Merges extra into body: top-level keys replace, except "HostConfig" whose
 * keys are merged one by one into the body's HostConfig (created when
 * absent).  Values are shared by reference, never modified. */
static int merge_extra(json_t *body, json_t *extra)
{
    const char *key;
    json_t *value;
    if (!json_is_object(extra))
        return DKC_EINVAL;
    json_object_foreach(extra, key, value)
    {
        if (strcmp(key, "HostConfig") != 0) {
            if (json_object_set(body, key, value) != 0)
                return DKC_ENOMEM;
            continue;
        }
        if (!json_is_object(value))
            return DKC_EINVAL;
        json_t *hc = json_object_get(body, "HostConfig");
        if (hc == NULL) {
            if (json_object_set_new(body, "HostConfig", json_object()) != 0)
                return DKC_ENOMEM;
            hc = json_object_get(body, "HostConfig");
        }
        if (json_object_update(hc, value) != 0)
            return DKC_ENOMEM;
    }
    return 0;
}

int dkc_container_config_to_json(const dkc_container_config *cfg, json_t **out)
{
    json_t *body = NULL;
    json_t *hc = NULL;
    int rc;

    if (out == NULL)
        return DKC_EINVAL;
    *out = NULL;
    if (cfg == NULL || cfg->image == NULL || cfg->image[0] == '\0')
        return DKC_EINVAL;
    body = json_object();
    hc = json_object();
    if (body == NULL || hc == NULL) {
        rc = DKC_ENOMEM;
        goto out;
    }
    if ((rc = build_config(cfg, body)) != 0 || (rc = build_host_config(cfg, hc)) != 0)
        goto out;
    if (json_object_size(hc) > 0 && json_object_set(body, "HostConfig", hc) != 0) {
        rc = DKC_ENOMEM;
        goto out;
    }
    if (cfg->extra != NULL && (rc = merge_extra(body, cfg->extra)) != 0)
        goto out;
    *out = body;
    body = NULL;
out:
    json_decref(hc);
    json_decref(body);
    return rc;
}
