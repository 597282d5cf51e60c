/*
 * policy_internal.h -- what the policy's files share; not for its users
 * (they include policy.h).
 *
 * The policy's files, in reading order:
 *   policy.c:        Its keys in the config file: defaults, reading, freeing.
 *   policy_names.c:  The rules on names: images, registries, repositories,
 *                    drivers, admins.
 *   policy_create.c: policy_check_create and HostConfig's rules.
 *   policy_body.c:   The closed body: every key a body may carry, Mounts,
 *                    endpoints, Healthcheck, metric labels.
 *   quotas.c:        Per-user bounds.
 */
#ifndef DD_POLICY_INTERNAL_H
#define DD_POLICY_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "policy.h"
#include "protocol.h"

#define NANO_PER_CPU 1000000000LL

/* Fills *err (when not NULL) with code, field and "field: reason";
 * returns code. */
int policy__deny(proto_error *err, int code, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* 1 if name is in the NULL-terminated list (NULL: empty). */
bool policy__listed(char *const *list, const char *name);
/* 1 if v asks for something: present, and not null, false, 0 or empty. */
bool policy__asks(const json_t *v);
/* 1 if path has a ".." component (it could climb out of where it starts). */
bool policy__has_dotdot(const char *path);
/* 1 if the absolute path lies under one of p->bind_prefixes. */
bool policy__bind_allowed(const dd_policy *p, const char *path);
/* An integer key of obj into *out (absent: 0).  -1 when it is not one. */
int policy__get_int(const json_t *obj, const char *key, int64_t *out);
/* A capability name as Docker compares it: upper case, without "CAP_". */
void policy__cap_norm(const char *in, char *out, size_t len);

/* The closed body: each refuses what the policy does not know or allow.
 * 0, or PROTO_EPOLICY / PROTO_EBADREQUEST with *err filled. */
int policy__check_body_keys(const json_t *body, proto_error *err);
int policy__check_host_keys(const json_t *hc, proto_error *err);
int policy__check_mounts(const dd_policy *p, const json_t *mounts, proto_error *err);
int policy__check_endpoints(const dd_policy *p, const json_t *body, proto_error *err);
int policy__check_health(const dd_policy *p, const json_t *body, proto_error *err);

#endif
