/*
 * policy.h -- the security policy: what a create body may ask of Docker.
 *
 * Whoever can publish to the work queue can create containers, which on
 * most hosts means root on the host.  Every create body goes through
 * policy_check_create() just before it is sent: run, create, DockerMod's
 * raw bodies and passthrough HostConfig alike.  So the check sees what
 * Docker will see.  Images named by pull go through policy_check_image().
 * A refusal is PROTO_EPOLICY with the field and the rule's name in the
 * message, e.g. `HostConfig.Privileged: privileged containers are not
 * allowed (policy allow_privileged)`.
 *
 * Docker reads the body's keys case-insensitively (Go's decoder), so every
 * key here is looked up that way.  proto_raw_check() has already refused
 * bodies whose keys differ only in case.
 *
 * The defaults (policy_init) deny everything that hands out the host.
 * That is privileged, host namespaces, devices, host bind mounts, added
 * capabilities, and security options other than no-new-privileges.  It is
 * also sysctls, other runtimes, cgroup parents, volumes-from, volume
 * drivers other than "local" and their options, and the dispatcher's
 * labels on volumes.  And fixed MAC and IP addresses, and health probes
 * more often than once a second.  Images and resources are open until
 * configured.  Pure: no I/O.
 */
#ifndef DD_POLICY_H
#define DD_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "protocol.h"
#include "quotas.h"

/* archive-get / archive-put: tar bytes at most, by default.  Base64 makes
 * 768 KiB into 1 MiB, the default message size cap (max_body). */
#define POLICY_DEFAULT_MAX_ARCHIVE (768 * 1024)

typedef struct dd_policy {
    char **images;          /* fnmatch patterns over "name:tag"; NULL: any image */
    char **bind_prefixes;   /* host directories bind mounts may come from; NULL: none */
    char **capabilities;    /* CapAdd allow-list ("NET_ADMIN"; "ALL"); NULL: none */
    char **networks;        /* networks a container may join besides none/bridge/default */
    char **log_drivers;     /* LogConfig.Type allowed besides the daemon's default; NULL: none */
    bool allow_log_options; /* LogConfig.Config (driver options: addresses, paths) */
    bool allow_ports;       /* PortBindings, PublishAllPorts */
    bool scope_host;        /* scope "host": commands act on every container of the host;
                               default "cluster": only on this cluster's */
    char **admin_users;     /* AMQP users who act on every user's objects; NULL: none */
    char **registries;      /* registries `pull` may fetch from ("localhost:5000",
                               "docker.io"); NULL: none, only images already present */
    bool require_user_id;   /* refuse messages without an AMQP user_id */
    char **network_drivers; /* network-create drivers besides "bridge"; NULL: none */
    int64_t max_archive;    /* archive-get/-put: bytes of tar at most */
    char *commit_prefix;    /* repository path that commit and image-tag targets lie
                               under ("localhost:5000/jobs"); NULL: one derived from
                               the cluster name (policy_commit_prefix) */
    bool allow_privileged;  /* HostConfig.Privileged */
    bool allow_host_namespaces; /* NetworkMode/PidMode/IpcMode/UTSMode/UsernsMode/CgroupnsMode host
                                 */
    bool allow_devices;         /* Devices, DeviceRequests, DeviceCgroupRules */
    int64_t default_memory;     /* bytes when the body sets none; 0: none */
    int64_t max_memory;         /* 0: no maximum */
    int64_t default_nano_cpus;  /* 1e9 = one CPU */
    int64_t max_nano_cpus;
    int64_t default_pids; /* PidsLimit */
    int64_t max_pids;
    int max_containers;          /* this node's containers at a time; 0: no maximum */
    dd_quotas quotas;            /* per-user bounds ("quotas", quotas.h) */
    char **volume_drivers;       /* volume drivers (volume-create, Mounts); NULL: "local" */
    bool allow_volume_options;   /* Mounts' VolumeOptions.DriverConfig.Options */
    bool allow_mac_address;      /* MacAddress, the container's or an endpoint's */
    bool allow_static_ip;        /* an endpoint's IPAMConfig (fixed addresses) */
    int64_t min_health_interval; /* ns: Healthcheck durations other than 0 at least */
} dd_policy;

/* Healthcheck: the default floor of its durations (1 s), and the most
 * retries.  Docker's own floor is 1 ms: a probe every few milliseconds. */
#define POLICY_DEFAULT_MIN_HEALTH_INTERVAL 1000000000LL
#define POLICY_MAX_HEALTH_RETRIES          100
/* An endpoint's Aliases: at most this many names. */
#define POLICY_MAX_ALIASES 16

/* The defaults described above. */
void policy_init(dd_policy *p);

/* Reads a policy object (the config file's "policy"):
 *   {"images": ["busybox:*", "localhost:5000/jobs-*"], "bind_prefixes": ["/srv/jobs"],
 *    "networks": ["jobs-net"], "log_drivers": ["json-file"], "allow_log_options": false,
 *    "allow_ports": false, "scope": "cluster", "admin_users": ["ops"],
 *    "require_user_id": false,
 *    "capabilities": ["NET_ADMIN"], "allow_privileged": false,
 *    "allow_host_namespaces": false, "allow_devices": false,
 *    "default_memory": 268435456, "max_memory": 1073741824,
 *    "default_cpus": 1, "max_cpus": 2, "default_pids": 256, "max_pids": 1024,
 *    "max_containers": 50, "network_drivers": [], "max_archive": 786432,
 *    "commit_prefix": "localhost:5000/jobs", "quotas": {...},  (quotas.h)
 *    "volume_drivers": ["local"], "allow_volume_options": false,
 *    "allow_mac_address": false, "allow_static_ip": false,
 *    "min_health_interval": 1}
 * Every key is optional (absent: the default).  Unknown keys and wrong
 * types are refused.  Returns 0, or -1 with the reason in errbuf; *p is
 * then left at its defaults. */
int policy_from_json(dd_policy *p, const json_t *obj, char *errbuf, size_t errlen);

/* Frees what policy_from_json() allocated; p is back at the defaults.  NULL is fine. */
void policy_cleanup(dd_policy *p);

/* Checks create body (a Docker create body, as sent) against p and fills
 * in the resource defaults.  Returns 0, or PROTO_EPOLICY / PROTO_EBADREQUEST
 * (a value Docker could not read either) with *err filled. */
int policy_check_create(const dd_policy *p, json_t *body, proto_error *err);

/* The memory (bytes) and CPUs (1e9 = one) body's HostConfig asks for, as
 * policy_check_create() read them (a body it admitted); 0 when none. */
void policy_body_resources(const json_t *body, int64_t *memory, int64_t *nano_cpus);

/* Checks an image reference ("busybox", "busybox:1.36", "host:5000/x@sha256:..")
 * against p->images.  0 or PROTO_EPOLICY with *err filled.
 *
 * Pattern grammar: a pattern is matched against the whole reference, with
 * ":latest" made explicit when no tag or digest is given.  `*` matches any
 * run of characters except '/' and ':', `?` one such character; every
 * other character stands for itself.  So "busybox:*" admits every tag of
 * busybox and nothing else.  It admits neither "busybox:5000/evil" (a
 * registry at host busybox) nor "library/busybox".
 *
 * An image id is "sha256:<hex>", or bare lower-case hex digits: Docker
 * takes those for an id or its prefix when no image has that name.  An id
 * is matched in its "sha256:<hex>" form, against the patterns that begin
 * with "sha256:" only.  "*:latest" or "*:*" never admit one; "sha256:*"
 * admits every id. */
int policy_check_image(const dd_policy *p, const char *image, proto_error *err);

/* The repository path commit and image-tag targets must lie under, into
 * out (len bytes).  It is p->commit_prefix, else "docker-dispatch/<cluster>"
 * with the cluster name made a path component Docker accepts: lower case,
 * every run of other characters one '-'. */
void policy_commit_prefix(const dd_policy *p, const char *cluster, char *out, size_t len);

/* Checks the repository a commit or image-tag writes (Options.Repo, the
 * tag apart): "<prefix>/<name>" under policy_commit_prefix(), name without
 * a tag or digest.  0 or PROTO_EPOLICY with *err filled (field
 * Options.Repo). */
int policy_check_commit_repo(const dd_policy *p, const char *cluster, const char *repo,
                             proto_error *err);

/* Checks that `pull` may fetch image (a reference) from its registry: the
 * first path component when it holds a '.' or ':' or is "localhost", else
 * Docker Hub ("docker.io").  0 or PROTO_EPOLICY with *err filled. */
int policy_check_registry(const dd_policy *p, const char *image, proto_error *err);

/* Checks a network-create driver (NULL: bridge): bridge, or one of
 * p->network_drivers.  0 or PROTO_EPOLICY with *err filled. */
int policy_check_network_driver(const dd_policy *p, const char *driver, proto_error *err);

/* Checks a volume driver: volume-create's Driver, or a mount's
 * VolumeOptions.DriverConfig.Name (NULL or "": the daemon's default).  It
 * must be listed in p->volume_drivers, or be "local" when none are.  field
 * names it in the refusal.  0 or PROTO_EPOLICY with *err filled. */
int policy_check_volume_driver(const dd_policy *p, const char *driver, const char *field,
                               proto_error *err);

/* 1 if the policy lists network name (key "networks") for containers to
 * join. */
int policy_network_listed(const dd_policy *p, const char *name);

/* 1 if user (an AMQP user id) is one of p->admin_users. */
int policy_is_admin(const dd_policy *p, const char *user);

/* Checks a working directory (a create's WorkingDir, an exec's): absolute,
 * without "..", outside /proc and /sys once normalised.  A directory under
 * /proc/self/fd is how a runtime's leaked descriptor reaches the host.
 * 0, or policy_denied naming field. */
int policy_check_workdir(const char *w, const char *field, proto_error *err);

/* The metric label of a refusal's field (error.field), into buf (len
 * bytes).  It is the longest rule the policy knows that field is under,
 * without indexes ("[3]") and endpoint network names.  So
 * "HostConfig.Binds[3]" is "HostConfig.Binds" and "HostConfig.Bogus" is
 * "HostConfig".  A field under none is "other"; NULL or "" is "".  Every
 * label is a name of the policy's own, never the publisher's text.  Pure. */
void policy_rule_label(const char *field, char *buf, size_t len);

/* 1 if image pattern pat matches ref by the grammar above. */
int policy_image_match(const char *pat, const char *ref);

#endif
