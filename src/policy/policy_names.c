/*
 * policy_names.c -- the rules on names: images, registries, commit
 * repositories, volume and network drivers, admin users.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "policy.h"
#include "policy_internal.h"

#define POLICY_MAX_IMAGE 512 /* an image reference's characters, as the protocol's */

int policy__deny(proto_error *err, int code, const char *field, const char *fmt, ...)
{
    char reason[PROTO_MESSAGE_MAX - PROTO_FIELD_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    if (err != NULL) {
        err->code = code;
        err->code_name = proto_code_name(code);
        snprintf(err->field, sizeof err->field, "%s", field);
        snprintf(err->message, sizeof err->message, "%s: %s", field, reason);
    }
    return code;
}

/* Docker's image reference with the implied ":latest" made explicit, so
 * that "busybox:*" covers "busybox".  A digest reference stays as it is. */
static void image_norm(const char *image, char *out, size_t len)
{
    const char *slash = strrchr(image, '/');
    const char *last = slash ? slash + 1 : image;
    if (strchr(last, ':') || strchr(image, '@'))
        snprintf(out, len, "%s", image);
    else
        snprintf(out, len, "%s:latest", image);
}

/* 1 if name is in the NULL-terminated list (NULL: empty). */
bool policy__listed(char *const *list, const char *name)
{
    for (size_t i = 0; list && list[i]; i++)
        if (strcmp(list[i], name) == 0)
            return true;
    return false;
}

int policy_check_registry(const dd_policy *p, const char *image, proto_error *err)
{
    char reg[256] = "docker.io";
    const char *slash = image ? strchr(image, '/') : NULL;
    if (slash != NULL) {
        size_t n = (size_t)(slash - image);
        bool dotted = memchr(image, '.', n) || memchr(image, ':', n);
        bool host = dotted || (n == 9 && !strncmp(image, "localhost", 9));
        /* a host too long to hold is refused, not read as Docker Hub */
        if (host && n >= sizeof reg)
            return policy__deny(err, PROTO_EPOLICY, "Image",
                                "a registry name longer than %zu characters is not allowed (policy "
                                "registries)",
                                sizeof reg - 1);
        if (host)
            snprintf(reg, sizeof reg, "%.*s", (int)n, image);
    }
    if (policy__listed(p->registries, reg))
        return 0;
    return policy__deny(err, PROTO_EPOLICY, "Image",
                        "pulling from registry %.100s is not allowed (policy registries)", reg);
}

int policy_is_admin(const dd_policy *p, const char *user)
{
    return user != NULL && policy__listed(p->admin_users, user);
}

int policy_network_listed(const dd_policy *p, const char *name)
{
    return name != NULL && policy__listed(p->networks, name);
}

int policy_check_volume_driver(const dd_policy *p, const char *driver, const char *field,
                               proto_error *err)
{
    if (driver == NULL || *driver == '\0')
        return 0; /* the daemon's own, local */
    if (p->volume_drivers ? policy__listed(p->volume_drivers, driver) : !strcmp(driver, "local"))
        return 0;
    /* a plugin mounts whatever it is told to, as root */
    return policy__deny(err, PROTO_EPOLICY, field,
                        "volume driver %.100s is not allowed (policy volume_drivers)", driver);
}

int policy_check_network_driver(const dd_policy *p, const char *driver, proto_error *err)
{
    if (driver == NULL || strcmp(driver, "bridge") == 0 ||
        policy__listed(p->network_drivers, driver))
        return 0;
    /* macvlan, ipvlan and plugins put containers on the host's own links */
    return policy__deny(err, PROTO_EPOLICY, "Options.Driver",
                        "network driver %.100s is not allowed (policy network_drivers)", driver);
}

/* Written by hand, not with fnmatch(): no fnmatch flag keeps `*` from
 * crossing ':' (FNM_PATHNAME stops it at '/' only).  A tag pattern that
 * swallows a registry port is the hole this closes.  Recursion depth is
 * bounded by the pattern's length (at most 512). */
int policy_image_match(const char *pat, const char *ref)
{
    for (;; pat++, ref++) {
        if (*pat == '\0')
            return *ref == '\0';
        if (*pat == '*') {
            for (const char *r = ref;; r++) {
                if (policy_image_match(pat + 1, r))
                    return 1;
                if (*r == '\0' || *r == '/' || *r == ':')
                    return 0;
            }
        }
        if (*ref == '\0')
            return 0;
        if (*pat == '?') {
            if (*ref == '/' || *ref == ':')
                return 0;
        } else if (*pat != *ref) {
            return 0;
        }
    }
}

/* The hex digits of image when Docker may read it as an image id, else
 * NULL.  An id is "sha256:<hex>", or bare lower-case hex digits: Docker
 * takes those for an id or its prefix when no image has that name. */
static const char *image_id_hex(const char *image)
{
    const char *hex = strncmp(image, "sha256:", 7) == 0 ? image + 7 : image;
    size_t n = strspn(hex, "0123456789abcdef");
    return n > 0 && hex[n] == '\0' ? hex : NULL;
}

int policy_check_image(const dd_policy *p, const char *image, proto_error *err)
{
    if (p->images == NULL)
        return 0;
    if (image == NULL || *image == '\0')
        return policy__deny(err, PROTO_EPOLICY, "Image", "an image is required (policy images)");
    /* what ref cannot hold is refused whole, never matched cut short */
    if (strlen(image) > POLICY_MAX_IMAGE)
        return policy__deny(
            err, PROTO_EPOLICY, "Image",
            "an image reference longer than %d characters is not allowed (policy images)",
            POLICY_MAX_IMAGE);
    char ref[POLICY_MAX_IMAGE + sizeof ":latest"];
    const char *hex = image_id_hex(image);
    if (hex != NULL) {
        /* an id names no repository: only patterns written for ids admit it */
        snprintf(ref, sizeof ref, "sha256:%s", hex);
        for (size_t i = 0; p->images[i]; i++)
            if (strncmp(p->images[i], "sha256:", 7) == 0 && policy_image_match(p->images[i], ref))
                return 0;
        return policy__deny(
            err, PROTO_EPOLICY, "Image",
            "image id %.200s is not allowed (policy images: only patterns that begin "
            "with \"sha256:\" admit ids)",
            image);
    }
    image_norm(image, ref, sizeof ref);
    for (size_t i = 0; p->images[i]; i++)
        if (policy_image_match(p->images[i], ref) || policy_image_match(p->images[i], image))
            return 0;
    return policy__deny(err, PROTO_EPOLICY, "Image", "image %.200s is not allowed (policy images)",
                        ref);
}

void policy_commit_prefix(const dd_policy *p, const char *cluster, char *out, size_t len)
{
    if (p->commit_prefix != NULL) {
        snprintf(out, len, "%s", p->commit_prefix);
        return;
    }
    char name[256];
    size_t n = 0;
    for (const char *s = cluster ? cluster : ""; *s && n + 1 < sizeof name; s++) {
        int ch = tolower((unsigned char)*s);
        if (islower(ch) || isdigit(ch))
            name[n++] = (char)ch;
        else if (n > 0 && name[n - 1] != '-')
            name[n++] = '-'; /* a run of '-' is a separator Docker accepts */
    }
    while (n > 0 && name[n - 1] == '-')
        n--;
    name[n] = '\0';
    snprintf(out, len, "docker-dispatch/%s", n > 0 ? name : "cluster");
}

int policy_check_commit_repo(const dd_policy *p, const char *cluster, const char *repo,
                             proto_error *err)
{
    char prefix[300];
    policy_commit_prefix(p, cluster, prefix, sizeof prefix);
    size_t n = strlen(prefix);
    if (repo != NULL && strncmp(repo, prefix, n) == 0 && repo[n] == '/' && repo[n + 1] != '\0' &&
        strpbrk(repo + n + 1, ":@") == NULL)
        return 0;
    return policy__deny(err, PROTO_EPOLICY, "Options.Repo",
                        "%.200s is not a repository under %.200s/, where this cluster's images are "
                        "written (policy commit_prefix)",
                        repo ? repo : "", prefix);
}
