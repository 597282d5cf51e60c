/*
 * test_policy.c -- the security policy: reading it from the config file,
 * and its verdict on create bodies as Docker would read them (keys in any
 * case), with the defaults it fills in.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy.h"

/* JSON from text with ' for " (as the protocol tests write it). */
static json_t *J(const char *text)
{
    char *s = strdup(text);
    assert_non_null(s);
    for (char *p = s; *p; p++)
        if (*p == '\'')
            *p = '"';
    json_error_t e;
    json_t *j = json_loads(s, 0, &e);
    if (j == NULL)
        fail_msg("bad test JSON: %s: %s", e.text, s);
    free(s);
    return j;
}

static dd_policy load(const char *text)
{
    dd_policy p;
    char why[256] = "";
    json_t *j = J(text);
    if (policy_from_json(&p, j, why, sizeof why) != 0)
        fail_msg("policy refused: %s", why);
    json_decref(j);
    return p;
}

/* The policy's verdict on body; *err gets the refusal. */
static int check(const dd_policy *p, const char *body, proto_error *err)
{
    json_t *b = J(body);
    proto_error_clear(err);
    int rc = policy_check_create(p, b, err);
    json_decref(b);
    return rc;
}

static void assert_denied(const dd_policy *p, const char *body, const char *field, const char *rule)
{
    proto_error err;
    int rc = check(p, body, &err);
    if (rc != PROTO_EPOLICY)
        fail_msg("not denied (%d): %s", rc, body);
    assert_string_equal(err.field, field);
    assert_string_equal(err.code_name, "policy_denied");
    if (strstr(err.message, rule) == NULL)
        fail_msg("message \"%s\" does not name \"%s\"", err.message, rule);
}

static void assert_allowed(const dd_policy *p, const char *body)
{
    proto_error err;
    int rc = check(p, body, &err);
    if (rc != 0)
        fail_msg("denied: %s (%s)", err.message, body);
}

static void t_reading(void **state)
{
    (void)state;
    dd_policy p;
    char why[256];
    assert_int_equal(policy_from_json(&p, NULL, why, sizeof why), 0);
    assert_null(p.images);
    assert_false(p.allow_privileged);
    assert_int_equal(p.max_memory, 0);
    assert_int_equal(p.min_health_interval, 1000000000); /* 1 s */
    assert_null(p.volume_drivers);                       /* "local" */
    assert_false(p.allow_volume_options || p.allow_mac_address || p.allow_static_ip);

    p = load("{'images':['busybox:*'],'bind_prefixes':['/srv/jobs/'],'capabilities':"
             "['cap_net_admin'],'allow_privileged':true,'allow_host_namespaces':true,"
             "'allow_devices':true,'default_memory':1000,'max_memory':2000,'default_cpus':0.5,"
             "'max_cpus':2,'default_pids':10,'max_pids':20,'max_containers':7}");
    assert_string_equal(p.images[0], "busybox:*");
    assert_null(p.images[1]);
    assert_string_equal(p.bind_prefixes[0], "/srv/jobs"); /* trailing slash dropped */
    assert_string_equal(p.capabilities[0], "NET_ADMIN");  /* Docker's spelling */
    assert_true(p.allow_privileged && p.allow_host_namespaces && p.allow_devices);
    assert_int_equal(p.default_nano_cpus, 500000000);
    assert_int_equal(p.max_nano_cpus, 2000000000);
    assert_int_equal(p.max_containers, 7);
    policy_cleanup(&p);

    static const struct {
        const char *text, *why;
    } bad[] = {
        {"[]", "policy must be a JSON object"},
        {"{'imagez':[]}", "unknown key \"imagez\""},
        {"{'images':'busybox'}", "policy.images must be an array"},
        {"{'images':['']}", "policy.images[0] must be a non-empty string"},
        {"{'bind_prefixes':['srv']}", "must be an absolute path"},
        {"{'bind_prefixes':['/srv/../etc']}", "without \"..\""},
        {"{'allow_privileged':1}", "policy.allow_privileged must be true or false"},
        {"{'max_memory':-1}", "policy.max_memory must be a non-negative integer"},
        {"{'max_cpus':'2'}", "policy.max_cpus must be a number of CPUs"},
        {"{'default_pids':30,'max_pids':20}", "default_pids is above policy.max_pids"},
        {"{'max_containers':2000000}", "at most 1000000"},
        {"{'quotas':[]}", "policy.quotas must be an object"},
        {"{'quotas':{'waits':1}}", "policy.quotas: unknown key \"waits\""},
        {"{'quotas':{'max_waits':-1}}", "max_waits must be a non-negative integer"},
        {"{'quotas':{'default':{'containerz':1}}}", "policy.quotas.default: unknown key"},
        {"{'quotas':{'default':{'memory':1.5}}}", "default.memory must be a non-negative"},
        {"{'quotas':{'default':{'worker_share':0}}}", "worker_share must be a number above 0"},
        {"{'quotas':{'default':{'worker_share':1.5}}}", "and at most 1"},
        {"{'quotas':{'users':{'ci':{'cpus':-1}}}}", "policy.quotas.users.ci.cpus must be"},
        {"{'quotas':{'users':{'':{}}}}", "a user name is empty"},
        {"{'min_health_interval':'1s'}", "policy.min_health_interval must be a number of seconds"},
        {"{'volume_drivers':'local'}", "policy.volume_drivers must be an array"},
        {"{'allow_mac_address':'yes'}", "policy.allow_mac_address must be true or false"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *j = J(bad[i].text);
        why[0] = '\0';
        assert_int_equal(policy_from_json(&p, j, why, sizeof why), -1);
        if (strstr(why, bad[i].why) == NULL)
            fail_msg("%s: \"%s\" lacks \"%s\"", bad[i].text, why, bad[i].why);
        assert_null(p.images); /* left at the defaults */
        assert_null(p.quotas.users);
        json_decref(j);
    }
}

/* The quotas: the wait bounds by default, a row per named user over the
 * default row (what is refused is in t_reading's table). */
static void t_quotas(void **state)
{
    (void)state;
    dd_policy p = load("{}");
    assert_int_equal(p.quotas.max_waits, QUOTAS_DEFAULT_MAX_WAITS);
    assert_int_equal(quotas_for(&p.quotas, "anyone")->waits, QUOTAS_DEFAULT_WAITS);
    assert_int_equal(quotas_for(&p.quotas, NULL)->containers, 0);
    policy_cleanup(&p);

    p = load("{'quotas':{'max_waits':9,'default':{'containers':3,'cpus':1.5,'worker_share':0.5},"
             "'users':{'ci':{'containers':10,'run_time':60}}}}");
    assert_int_equal(p.quotas.max_waits, 9);
    const dd_quota *ci = quotas_for(&p.quotas, "ci");
    const dd_quota *other = quotas_for(&p.quotas, "other");
    assert_int_equal(ci->containers, 10);
    assert_int_equal(ci->run_time, 60);
    assert_int_equal(ci->nano_cpus, 1500000000); /* the default's, kept */
    assert_int_equal(other->containers, 3);
    assert_int_equal(other->run_time, 0);
    assert_int_equal(quotas_workers(other->worker_share, 4), 2);
    assert_int_equal(quotas_workers(other->worker_share, 1), 1); /* at least one */
    assert_int_equal(quotas_workers(0, 4), 4);
    policy_cleanup(&p);
}

/* The defaults refuse everything that hands out the host. */
static void t_defaults_deny_the_host(void **state)
{
    (void)state;
    dd_policy p;
    policy_init(&p);
    assert_allowed(&p, "{'Image':'busybox','Cmd':['true']}");
    assert_allowed(&p, "{'Image':'busybox','HostConfig':{'Privileged':false,'NetworkMode':"
                       "'none','Binds':['data:/data','cache:/c:ro'],'Mounts':[{'Type':'tmpfs',"
                       "'Target':'/t'},{'Type':'volume','Source':'v','Target':'/v'}],"
                       "'SecurityOpt':['no-new-privileges'],'Runtime':'runc',"
                       "'OomKillDisable':false,'Devices':[],'CapDrop':['ALL']}}");
    assert_denied(&p, "{'Image':'busybox','HostConfig':{'Privileged':true}}",
                  "HostConfig.Privileged", "allow_privileged");
    /* Docker reads keys in any case, so does the policy */
    assert_denied(&p, "{'image':'busybox','hostconfig':{'PRIVILEGED':true}}",
                  "HostConfig.Privileged", "allow_privileged");
    assert_denied(&p, "{'Image':'x','HostConfig':{'NetworkMode':'HOST'}}", "HostConfig.NetworkMode",
                  "allow_host_namespaces");
    static const char *const modes[] = {"PidMode", "IpcMode", "UTSMode", "UsernsMode",
                                        "CgroupnsMode"};
    for (size_t i = 0; i < 5; i++) {
        char body[128], field[64];
        snprintf(body, sizeof body, "{'Image':'x','HostConfig':{'%s':'host'}}", modes[i]);
        snprintf(field, sizeof field, "HostConfig.%s", modes[i]);
        assert_denied(&p, body, field, "allow_host_namespaces");
    }
    assert_denied(&p, "{'Image':'x','HostConfig':{'Devices':[{'PathOnHost':'/dev/sda'}]}}",
                  "HostConfig.Devices", "allow_devices");
    assert_denied(&p, "{'Image':'x','HostConfig':{'DeviceRequests':[{'Count':-1}]}}",
                  "HostConfig.DeviceRequests", "allow_devices");
    assert_denied(&p, "{'Image':'x','HostConfig':{'DeviceCgroupRules':['c 1:3 mr']}}",
                  "HostConfig.DeviceCgroupRules", "allow_devices");
    assert_denied(&p, "{'Image':'x','HostConfig':{'Binds':['/:/host']}}", "HostConfig.Binds[0]",
                  "bind_prefixes");
    assert_denied(&p, "{'Image':'x','HostConfig':{'Binds':['v:/v','/etc:/e:ro']}}",
                  "HostConfig.Binds[1]", "bind_prefixes");
    assert_denied(&p,
                  "{'Image':'x','HostConfig':{'Mounts':[{'Type':'bind','Source':'/var/run/"
                  "docker.sock','Target':'/s'}]}}",
                  "HostConfig.Mounts[0]", "bind_prefixes");
    assert_denied(&p,
                  "{'Image':'x','HostConfig':{'Mounts':[{'type':'volume','source':'v','target':"
                  "'/v','volumeoptions':{'driverconfig':{'Name':'local','Options':{'type':'none',"
                  "'o':'bind','device':'/'}}}}]}}",
                  "HostConfig.Mounts[0].VolumeOptions.DriverConfig.Options",
                  "allow_volume_options");
    assert_denied(&p, "{'Image':'x','HostConfig':{'Mounts':[{'Type':'npipe','Source':'a'}]}}",
                  "HostConfig.Mounts[0]", "mount type npipe");
    assert_denied(&p, "{'Image':'x','HostConfig':{'CapAdd':['SYS_ADMIN']}}", "HostConfig.CapAdd[0]",
                  "capabilities");
    assert_denied(&p, "{'Image':'x','HostConfig':{'SecurityOpt':['seccomp=unconfined']}}",
                  "HostConfig.SecurityOpt[0]", "no-new-privileges");
    assert_denied(&p, "{'Image':'x','HostConfig':{'SecurityOpt':['apparmor:unconfined']}}",
                  "HostConfig.SecurityOpt[0]", "no-new-privileges");
    assert_denied(&p, "{'Image':'x','HostConfig':{'VolumesFrom':['other']}}",
                  "HostConfig.VolumesFrom", "another container's mounts");
    assert_denied(&p, "{'Image':'x','HostConfig':{'Sysctls':{'net.ipv4.ip_forward':'1'}}}",
                  "HostConfig.Sysctls", "kernel settings");
    assert_denied(&p, "{'Image':'x','HostConfig':{'CgroupParent':'/'}}", "HostConfig.CgroupParent",
                  "cgroup");
    assert_denied(&p, "{'Image':'x','HostConfig':{'OomKillDisable':true}}",
                  "HostConfig.OomKillDisable", "memory");
    assert_denied(&p, "{'Image':'x','HostConfig':{'Runtime':'sysbox'}}", "HostConfig.Runtime",
                  "runtime");
    /* another container's namespaces: any container of the host */
    assert_denied(&p, "{'Image':'x','HostConfig':{'NetworkMode':'container:agent'}}",
                  "HostConfig.NetworkMode", "another container's");
    assert_denied(&p, "{'Image':'x','HostConfig':{'PidMode':'Container:abc'}}",
                  "HostConfig.PidMode", "allow_host_namespaces");
    assert_denied(&p, "{'Image':'x','HostConfig':{'Cgroup':'container:abc'}}", "HostConfig.Cgroup",
                  "allow_host_namespaces");
    /* an empty list unmasks /proc and /sys */
    assert_denied(&p, "{'Image':'x','HostConfig':{'MaskedPaths':[]}}", "HostConfig.MaskedPaths",
                  "host paths");
    assert_denied(&p, "{'Image':'x','hostconfig':{'readonlypaths':[]}}", "HostConfig.ReadonlyPaths",
                  "host paths");
    /* an anonymous volume is no host path */
    assert_allowed(&p, "{'Image':'x','HostConfig':{'Binds':['/data'],'MaskedPaths':null}}");

    /* values Docker could not read either */
    proto_error err;
    assert_int_equal(check(&p, "{'Image':'x','HostConfig':{'Privileged':'yes'}}", &err),
                     PROTO_EBADREQUEST);
    assert_string_equal(err.field, "HostConfig.Privileged");
    assert_int_equal(check(&p, "{'Image':'x','HostConfig':[]}", &err), PROTO_EBADREQUEST);
    assert_int_equal(check(&p, "{'Image':'x','HostConfig':{'Binds':'/:/h'}}", &err),
                     PROTO_EBADREQUEST);
    assert_int_equal(check(&p, "{'Image':'x','HostConfig':{'Binds':[7]}}", &err),
                     PROTO_EBADREQUEST);
    assert_int_equal(check(&p, "{'Image':'x','HostConfig':{'NetworkMode':1}}", &err),
                     PROTO_EBADREQUEST);
    assert_int_equal(check(&p, "{'Image':'x','HostConfig':{'Mounts':[{'Source':'/'}]}}", &err),
                     PROTO_EBADREQUEST);
    assert_int_equal(check(&p, "{'Image':7}", &err), PROTO_EBADREQUEST);
    assert_int_equal(check(&p, "[]", &err), PROTO_EBADREQUEST);
}

static void t_binds_and_caps_allowed(void **state)
{
    (void)state;
    dd_policy p = load("{'bind_prefixes':['/srv/jobs','/tmp/x'],'capabilities':['NET_ADMIN']}");
    assert_allowed(&p, "{'Image':'x','HostConfig':{'Binds':['/srv/jobs:/j','/srv/jobs/a/b:/b:ro',"
                       "'/tmp/x/..data:/d'],'Mounts':[{'Type':'bind','Source':'/tmp/x/y',"
                       "'Target':'/y'}],'CapAdd':['net_admin','CAP_NET_ADMIN']}}");
    /* a sibling with the same beginning, a climb out, the root */
    assert_denied(&p, "{'Image':'x','HostConfig':{'Binds':['/srv/jobsX:/j']}}",
                  "HostConfig.Binds[0]", "bind_prefixes");
    assert_denied(&p, "{'Image':'x','HostConfig':{'Binds':['/srv/jobs/../../etc:/e']}}",
                  "HostConfig.Binds[0]", "bind_prefixes");
    assert_denied(&p, "{'Image':'x','HostConfig':{'Binds':['/srv/jobs/..:/e']}}",
                  "HostConfig.Binds[0]", "bind_prefixes");
    assert_denied(&p, "{'Image':'x','HostConfig':{'Binds':['/srv:/e']}}", "HostConfig.Binds[0]",
                  "bind_prefixes");
    /* the source is what is checked, not the target */
    assert_denied(&p,
                  "{'Image':'x','HostConfig':{'Mounts':[{'Type':'bind','Source':'/etc',"
                  "'Target':'/srv/jobs/e'}]}}",
                  "HostConfig.Mounts[0]", "host path /etc");
    assert_denied(&p, "{'Image':'x','HostConfig':{'CapAdd':['NET_ADMIN','SYS_PTRACE']}}",
                  "HostConfig.CapAdd[1]", "SYS_PTRACE");
    assert_denied(&p, "{'Image':'x','HostConfig':{'CapAdd':['ALL']}}", "HostConfig.CapAdd[0]",
                  "capabilities");
    policy_cleanup(&p);

    p = load("{'capabilities':['ALL'],'allow_privileged':true,'allow_host_namespaces':true,"
             "'allow_devices':true}");
    assert_allowed(&p, "{'Image':'x','HostConfig':{'CapAdd':['SYS_ADMIN'],'Privileged':true,"
                       "'NetworkMode':'host','PidMode':'host','Devices':[{'PathOnHost':"
                       "'/dev/null'}]}}");
    policy_cleanup(&p);
}

/* Resource defaults are filled in (in the body's own spelling), maxima
 * refuse larger or unlimited requests. */
static void t_resources(void **state)
{
    (void)state;
    dd_policy p = load("{'default_memory':1000,'max_memory':2000,'max_cpus':1,"
                       "'default_pids':50,'max_pids':100}");
    json_t *b = J("{'Image':'x'}");
    proto_error err;
    assert_int_equal(policy_check_create(&p, b, &err), 0);
    json_t *hc = json_object_get(b, "HostConfig");
    assert_int_equal(json_integer_value(json_object_get(hc, "Memory")), 1000);
    assert_int_equal(json_integer_value(json_object_get(hc, "NanoCpus")), 1000000000);
    assert_int_equal(json_integer_value(json_object_get(hc, "PidsLimit")), 50);
    json_decref(b);

    b = J("{'Image':'x','hostconfig':{'memory':0,'nanocpus':500000000,'pidslimit':80}}");
    assert_int_equal(policy_check_create(&p, b, &err), 0);
    hc = json_object_get(b, "hostconfig");
    assert_int_equal(json_object_size(hc), 3); /* no second spelling added */
    assert_int_equal(json_integer_value(json_object_get(hc, "memory")), 1000);
    assert_int_equal(json_integer_value(json_object_get(hc, "nanocpus")), 500000000);
    assert_int_equal(json_integer_value(json_object_get(hc, "pidslimit")), 80);
    json_decref(b);

    assert_denied(&p, "{'Image':'x','HostConfig':{'Memory':2001}}", "HostConfig.Memory",
                  "max_memory");
    assert_denied(&p, "{'Image':'x','HostConfig':{'NanoCpus':1500000000}}", "HostConfig.NanoCpus",
                  "1.500 CPUs");
    assert_denied(&p, "{'Image':'x','HostConfig':{'CpuQuota':200000,'CpuPeriod':100000}}",
                  "HostConfig.CpuQuota", "2.000 CPUs");
    assert_allowed(&p, "{'Image':'x','HostConfig':{'CpuQuota':50000}}");
    /* without CpuPeriod, Docker's period of 100000 us applies */
    assert_denied(&p, "{'Image':'x','HostConfig':{'CpuQuota':200000}}", "HostConfig.CpuQuota",
                  "2.000 CPUs");
    assert_denied(&p, "{'Image':'x','HostConfig':{'CpuQuota':150000,'CpuPeriod':0}}",
                  "HostConfig.CpuQuota", "1.500 CPUs");
    assert_denied(&p, "{'Image':'x','HostConfig':{'PidsLimit':-1}}", "HostConfig.PidsLimit",
                  "unlimited");
    assert_denied(&p, "{'Image':'x','HostConfig':{'PidsLimit':101}}", "HostConfig.PidsLimit",
                  "max_pids");
    assert_int_equal(check(&p, "{'Image':'x','HostConfig':{'Memory':'1g'}}", &err),
                     PROTO_EBADREQUEST);
    /* periods and quotas Docker refuses too (a short period once divided by 0) */
    assert_int_equal(
        check(&p, "{'Image':'x','HostConfig':{'CpuQuota':50000,'CpuPeriod':999}}", &err),
        PROTO_EBADREQUEST);
    assert_string_equal(err.field, "HostConfig.CpuPeriod");
    assert_int_equal(
        check(&p, "{'Image':'x','HostConfig':{'CpuQuota':5,'CpuPeriod':100000}}", &err),
        PROTO_EBADREQUEST);
    assert_string_equal(err.field, "HostConfig.CpuQuota");
    assert_denied(&p,
                  "{'Image':'x','HostConfig':{'CpuQuota':9223372036854775807,'CpuPeriod':1000}}",
                  "HostConfig.CpuQuota", "max_cpus");
    policy_cleanup(&p);

    /* only a maximum: it is also the default */
    p = load("{'max_memory':4096}");
    b = J("{'Image':'x'}");
    assert_int_equal(policy_check_create(&p, b, &err), 0);
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(b, "HostConfig"), "Memory")), 4096);
    json_decref(b);
    policy_cleanup(&p);
}

static void t_images(void **state)
{
    (void)state;
    dd_policy p = load("{'images':['busybox:*','localhost:5000/jobs/*:*']}");
    proto_error err;
    assert_int_equal(policy_check_image(&p, "busybox", &err), 0); /* busybox:latest */
    assert_int_equal(policy_check_image(&p, "busybox:1.36", &err), 0);
    assert_int_equal(policy_check_image(&p, "localhost:5000/jobs/build:3", &err), 0);
    assert_int_equal(policy_check_image(&p, "localhost:5000/jobs/build", &err), 0);
    assert_int_equal(policy_check_image(&p, "debian", &err), PROTO_EPOLICY);
    assert_string_equal(err.field, "Image");
    assert_non_null(strstr(err.message, "image debian:latest is not allowed (policy images)"));
    assert_int_equal(policy_check_image(&p, "localhost:5000/other", &err), PROTO_EPOLICY);
    assert_int_equal(policy_check_image(&p, "evil/busybox", &err), PROTO_EPOLICY);
    /* `*` crosses neither ':' nor '/': no registry at host "busybox", no
     * deeper path under jobs/ */
    assert_int_equal(policy_check_image(&p, "busybox:5000/evil", &err), PROTO_EPOLICY);
    assert_int_equal(policy_check_image(&p, "busybox:5000/evil:latest", &err), PROTO_EPOLICY);
    assert_int_equal(policy_check_image(&p, "localhost:5000/jobs/a/b:1", &err), PROTO_EPOLICY);
    assert_true(policy_image_match("a?c:*", "abc:1"));
    assert_false(policy_image_match("a?c:*", "a/c:1"));
    assert_false(policy_image_match("a*", "ab:c"));
    assert_true(policy_image_match("*", "abc"));
    assert_true(policy_image_match("*", "")); /* as in shell globs */
    /* pulls: no registry by default (only what is present); a listed one */
    assert_int_equal(policy_check_registry(&p, "busybox:1", &err), PROTO_EPOLICY);
    assert_non_null(strstr(err.message, "registry docker.io is not allowed"));
    assert_int_equal(policy_check_registry(&p, "127.0.0.1:9/x:1", &err), PROTO_EPOLICY);
    assert_non_null(strstr(err.message, "registry 127.0.0.1:9 is not allowed"));
    dd_policy q = load("{'registries':['localhost:5000','docker.io']}");
    assert_int_equal(policy_check_registry(&q, "localhost:5000/busybox:latest", &err), 0);
    assert_int_equal(policy_check_registry(&q, "library/busybox", &err), 0);
    assert_int_equal(policy_check_registry(&q, "localhost:5001/busybox", &err), PROTO_EPOLICY);
    assert_int_equal(policy_check_registry(&q, "evil.example/x", &err), PROTO_EPOLICY);
    policy_cleanup(&q);
    assert_int_equal(policy_check_image(&p, NULL, &err), PROTO_EPOLICY);
    assert_denied(&p, "{'Image':'alpine','Cmd':['sh']}", "Image", "policy images");
    assert_allowed(&p, "{'image':'busybox:musl'}");
    policy_cleanup(&p);

    policy_init(&p); /* no list: any image */
    assert_int_equal(policy_check_image(&p, "anything/at:all", &err), 0);
}

/* The policy's verdict on image ref; a refusal must name the field Image
 * and, in its message, rule. */
static void assert_image_denied(const dd_policy *p, const char *ref, const char *rule)
{
    proto_error err;
    proto_error_clear(&err);
    int rc = policy_check_image(p, ref, &err);
    if (rc != PROTO_EPOLICY)
        fail_msg("image %s admitted (%d)", ref, rc);
    assert_string_equal(err.field, "Image");
    if (strstr(err.message, rule) == NULL)
        fail_msg("message \"%s\" does not name \"%s\"", err.message, rule);
}

static void assert_image_allowed(const dd_policy *p, const char *ref)
{
    proto_error err;
    proto_error_clear(&err);
    if (policy_check_image(p, ref, &err) != 0)
        fail_msg("image %s refused: %s", ref, err.message);
}

/* Docker reads a bare run of hex digits as an image id (or a prefix of
 * one) when no image has that name, and "sha256:<hex>" always: such a
 * reference names no repository, so a pattern for names (`*:latest`,
 * `*:*`, `*`) never admits it; only patterns written for ids do. */
static void t_image_ids(void **state)
{
    (void)state;
    dd_policy p = load("{'images':['*:latest','*:*','*','busybox:*']}");
    assert_image_allowed(&p, "busybox");
    assert_image_allowed(&p, "jobs:v1");
    static const char *const ids[] = {
        "0123456789ab",
        "abc",
        "sha256:0123456789ab",
        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    };
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++)
        assert_image_denied(&p, ids[i], "only patterns that begin with \"sha256:\" admit ids");
    /* not ids: a tag, a name that is not hex, a tag that is not hex */
    assert_image_allowed(&p, "abc:latest");
    assert_image_allowed(&p, "abcg");
    assert_image_allowed(&p, "sha256:latest");
    policy_cleanup(&p);

    /* listed explicitly: every id, or one */
    p = load("{'images':['busybox:*','sha256:*']}");
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++)
        assert_image_allowed(&p, ids[i]);
    policy_cleanup(&p);
    p = load("{'images':['sha256:0123456789ab']}");
    assert_image_allowed(&p, "0123456789ab");
    assert_image_allowed(&p, "sha256:0123456789ab");
    assert_image_denied(&p, "0123456789ac", "admit ids");
    assert_image_denied(&p, "busybox", "image busybox:latest is not allowed");
    policy_cleanup(&p);
}

/* commit_prefix: where commit and image-tag may write.  By default a path
 * of its own per cluster; a repository outside it, the prefix itself, a
 * neighbour that merely begins alike, and a tag or digest in Repo are
 * refused naming the key. */
static void t_commit_prefix(void **state)
{
    (void)state;
    dd_policy p;
    policy_init(&p);
    char pre[300];
    policy_commit_prefix(&p, "jobs", pre, sizeof pre);
    assert_string_equal(pre, "docker-dispatch/jobs");
    policy_commit_prefix(&p, "Dd-itest..A_b.", pre, sizeof pre);
    assert_string_equal(pre, "docker-dispatch/dd-itest-a-b");
    policy_commit_prefix(&p, "._", pre, sizeof pre);
    assert_string_equal(pre, "docker-dispatch/cluster");
    proto_error err;
    assert_int_equal(policy_check_commit_repo(&p, "jobs", "docker-dispatch/jobs/out", &err), 0);
    assert_int_equal(policy_check_commit_repo(&p, "jobs", "docker-dispatch/jobs/a/b", &err), 0);
    static const char *const outside[] = {
        "busybox",
        "docker-dispatch/jobs",
        "docker-dispatch/jobs/",
        "docker-dispatch/jobsx/out",
        "docker-dispatch/other/out",
        "docker-dispatch/jobs/out:v1",
        "docker-dispatch/jobs/out@sha256:00",
        "docker.io/docker-dispatch/jobs/out",
    };
    for (size_t i = 0; i < sizeof outside / sizeof outside[0]; i++) {
        proto_error_clear(&err);
        if (policy_check_commit_repo(&p, "jobs", outside[i], &err) != PROTO_EPOLICY)
            fail_msg("%s was granted as a commit target", outside[i]);
        assert_string_equal(err.field, "Options.Repo");
        if (strstr(err.message, "under docker-dispatch/jobs/") == NULL ||
            strstr(err.message, "policy commit_prefix") == NULL)
            fail_msg("message \"%s\" names neither the prefix nor the key", err.message);
    }
    assert_int_equal(policy_check_commit_repo(&p, "jobs", NULL, &err), PROTO_EPOLICY);

    /* set by the operator: a trailing '/' is dropped; the cluster is not used */
    p = load("{'commit_prefix':'localhost:5000/jobs/'}");
    policy_commit_prefix(&p, "other", pre, sizeof pre);
    assert_string_equal(pre, "localhost:5000/jobs");
    assert_int_equal(policy_check_commit_repo(&p, "other", "localhost:5000/jobs/x", &err), 0);
    assert_int_equal(policy_check_commit_repo(&p, "other", "docker-dispatch/other/x", &err),
                     PROTO_EPOLICY);
    policy_cleanup(&p);

    static const char *const bad[] = {
        "{'commit_prefix':''}",         "{'commit_prefix':'/'}",     "{'commit_prefix':'Jobs'}",
        "{'commit_prefix':'a//b'}",     "{'commit_prefix':'a/b:1'}", "{'commit_prefix':'host:/x'}",
        "{'commit_prefix':'-a/b'}",     "{'commit_prefix':'a b'}",   "{'commit_prefix':['a']}",
        "{'commit_prefix':'x@sha256'}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char why[256] = "";
        json_t *j = J(bad[i]);
        if (policy_from_json(&p, j, why, sizeof why) != -1)
            fail_msg("%s was read", bad[i]);
        if (strstr(why, "policy.commit_prefix must be a repository path") == NULL)
            fail_msg("%s: \"%s\"", bad[i], why);
        assert_null(p.commit_prefix);
        json_decref(j);
    }
}

/* The attack table: what a publisher with nothing but publish rights might
 * send in a create body, under the default policy (images open), with the
 * code and the field the refusal must name. */
static void t_attacks(void **state)
{
    (void)state;
    static const struct {
        const char *body, *field;
        int code;
    } attacks[] = {
        {"{'Image':'x','HostConfig':{'Privileged':true}}", "HostConfig.Privileged", PROTO_EPOLICY},
        {"{'image':'x','hostconfig':{'privileged':true}}", "HostConfig.Privileged", PROTO_EPOLICY},
        {"{'Image':'x','HostConfig':{'Privileged':'yes'}}", "HostConfig.Privileged",
         PROTO_EBADREQUEST},
        {"{'Image':'x','HostConfig':{'NetworkMode':'host'}}", "HostConfig.NetworkMode",
         PROTO_EPOLICY},
        {"{'Image':'x','HostConfig':{'NetworkMode':'container:victim'}}", "HostConfig.NetworkMode",
         PROTO_EPOLICY},
        {"{'Image':'x','HostConfig':{'PidMode':'host'}}", "HostConfig.PidMode", PROTO_EPOLICY},
        {"{'Image':'x','HostConfig':{'IpcMode':'host'}}", "HostConfig.IpcMode", PROTO_EPOLICY},
        {"{'Image':'x','HostConfig':{'UsernsMode':'host'}}", "HostConfig.UsernsMode",
         PROTO_EPOLICY},
        {"{'Image':'x','HostConfig':{'Devices':[{'PathOnHost':'/dev/sda'}]}}", "HostConfig.Devices",
         PROTO_EPOLICY},
        {"{'Image':'x','HostConfig':{'CapAdd':['SYS_ADMIN']}}", "HostConfig.CapAdd", PROTO_EPOLICY},
        {"{'Image':'x','HostConfig':{'CapAdd':['ALL']}}", "HostConfig.CapAdd", PROTO_EPOLICY},
        {"{'Image':'x','HostConfig':{'Binds':['/:/host']}}", "HostConfig.Binds", PROTO_EPOLICY},
        {"{'Image':'x','HostConfig':{'Binds':['/var/run/docker.sock:/s']}}", "HostConfig.Binds",
         PROTO_EPOLICY},
        {"{'Image':'x','HostConfig':{'Mounts':[{'Type':'bind','Source':'/etc','Target':'/e'}]}}",
         "HostConfig.Mounts", PROTO_EPOLICY},
        {"{'Image':'x','HostConfig':{'SecurityOpt':['seccomp=unconfined']}}",
         "HostConfig.SecurityOpt", PROTO_EPOLICY},
        {"{'Image':'x','HostConfig':{'SecurityOpt':['apparmor=unconfined']}}",
         "HostConfig.SecurityOpt", PROTO_EPOLICY},
        {"{'Image':'x','HostConfig':{'Runtime':'nvidia'}}", "HostConfig.Runtime", PROTO_EPOLICY},
        {"{'Image':'x','HostConfig':{'MaskedPaths':[]}}", "HostConfig.MaskedPaths", PROTO_EPOLICY},
        {"{'Image':'x','HostConfig':{'Sysctls':{'net.ipv4.ip_forward':'1'}}}", "HostConfig.Sysctls",
         PROTO_EPOLICY},
        {"{'Image':'x','HostConfig':{'VolumesFrom':['victim']}}", "HostConfig.VolumesFrom",
         PROTO_EPOLICY},
        {"{'Image':'x','HostConfig':{'CgroupParent':'/'}}", "HostConfig.CgroupParent",
         PROTO_EPOLICY},
        /* a log driver makes dockerd itself connect where its options say */
        {"{'Image':'x','HostConfig':{'LogConfig':{'Type':'syslog','Config':{'syslog-address':"
         "'tcp://10.0.0.1:514'}}}}",
         "HostConfig.LogConfig.Type", PROTO_EPOLICY},
        {"{'Image':'x','HostConfig':{'LogConfig':{'Type':'gelf'}}}", "HostConfig.LogConfig.Type",
         PROTO_EPOLICY},
        {"{'Image':'x','HostConfig':{'LogConfig':{'Config':{'max-size':'1g'}}}}",
         "HostConfig.LogConfig.Config", PROTO_EPOLICY},
        /* networks other than none/bridge/default */
        {"{'Image':'x','HostConfig':{'NetworkMode':'internal-net'}}", "HostConfig.NetworkMode",
         PROTO_EPOLICY},
        {"{'Image':'x','NetworkingConfig':{'EndpointsConfig':{'internal-net':{}}}}",
         "NetworkingConfig.EndpointsConfig", PROTO_EPOLICY},
        /* published ports listen on the host */
        {"{'Image':'x','HostConfig':{'PortBindings':{'80/tcp':[{'HostIp':'0.0.0.0',"
         "'HostPort':'80'}]}}}",
         "HostConfig.PortBindings", PROTO_EPOLICY},
        {"{'Image':'x','HostConfig':{'PublishAllPorts':true}}", "HostConfig.PublishAllPorts",
         PROTO_EPOLICY},
        {"{'Image':'x','HostConfig':{'Ulimits':[{'Name':'nofile','Soft':1048576,"
         "'Hard':1048576}]}}",
         "HostConfig.Ulimits", PROTO_EPOLICY},
        {"{'Image':'x','HostConfig':{'OomScoreAdj':-1000}}", "HostConfig.OomScoreAdj",
         PROTO_EPOLICY},
        /* the closed body: what the policy does not know is refused */
        {"{'Image':'x','HostConfig':{'SomeFutureField':true}}", "HostConfig.SomeFutureField",
         PROTO_EPOLICY},
        {"{'Image':'x','SomethingNew':{}}", "SomethingNew", PROTO_EPOLICY},
        {"{'Image':'x','NetworkingConfig':{'Other':{}}}", "NetworkingConfig.Other", PROTO_EPOLICY},
        {"{'Image':'x','HostConfig':{'ContainerIDFile':'/etc/cron.d/x'}}",
         "HostConfig.ContainerIDFile", PROTO_EPOLICY},
        {"{'Image':'x','HostConfig':{'Links':['victim:v']}}", "HostConfig.Links", PROTO_EPOLICY},
        {"{'Image':'x','HostConfig':{'AutoRemove':true}}", "HostConfig.AutoRemove", PROTO_EPOLICY},
        {"{'Image':'x','HostConfig':{'VolumeDriver':'evil'}}", "HostConfig.VolumeDriver",
         PROTO_EPOLICY},
        {"{'Image':'x','HostConfig':{'StorageOpt':{'size':'1T'}}}", "HostConfig.StorageOpt",
         PROTO_EPOLICY},
        {"{'Image':'x','HostConfig':{'BlkioDeviceReadBps':[{'Path':'/dev/sda','Rate':1}]}}",
         "HostConfig.BlkioDeviceReadBps", PROTO_EPOLICY},
        {"{'Image':'x','WorkingDir':'/proc/self/root'}", "WorkingDir", PROTO_EPOLICY},
        {"{'Image':'x','WorkingDir':'/srv/../etc'}", "WorkingDir", PROTO_EPOLICY},
        {"{'Image':'x','WorkingDir':'//proc/self/fd/8'}", "WorkingDir", PROTO_EPOLICY},
        {"{'Image':'x','WorkingDir':'/./proc/self/fd/7'}", "WorkingDir", PROTO_EPOLICY},
        {"{'Image':'x','WorkingDir':'/.//sys/fs/cgroup'}", "WorkingDir", PROTO_EPOLICY},
        {"{'Image':'x','WorkingDir':'relative'}", "WorkingDir", PROTO_EPOLICY},
        /* a volume with the dispatcher's ownership labels: a forged owner */
        {"{'Image':'x','HostConfig':{'Mounts':[{'Type':'volume','Source':'v','Target':'/v',"
         "'VolumeOptions':{'Labels':{'io.docker-dispatch.cluster':'c','io.docker-dispatch.user':"
         "'victim'}}}]}}",
         "HostConfig.Mounts[0].VolumeOptions.Labels", PROTO_EPOLICY},
        {"{'Image':'x','HostConfig':{'Mounts':[{'Type':'volume','Target':'/v','VolumeOptions':"
         "{'Labels':{'io.docker-dispatch.user':'victim'}}}]}}",
         "HostConfig.Mounts[0].VolumeOptions.Labels", PROTO_EPOLICY},
        /* volume plugins and the local driver's options: host paths, NFS */
        {"{'Image':'x','HostConfig':{'Mounts':[{'Type':'volume','Target':'/v','VolumeOptions':"
         "{'DriverConfig':{'Name':'vieux/sshfs'}}}]}}",
         "HostConfig.Mounts[0].VolumeOptions.DriverConfig.Name", PROTO_EPOLICY},
        {"{'Image':'x','HostConfig':{'Mounts':[{'Type':'volume','Target':'/v','VolumeOptions':"
         "{'DriverConfig':{'Name':'local','Options':{'type':'none','o':'bind','device':'/'}}}}]}}",
         "HostConfig.Mounts[0].VolumeOptions.DriverConfig.Options", PROTO_EPOLICY},
        {"{'Image':'x','HostConfig':{'Mounts':[{'Type':'volume','Source':'v','Target':'/v',"
         "'VolumeOptions':{'Subpath':'../../x'}}]}}",
         "HostConfig.Mounts[0].VolumeOptions.Subpath", PROTO_EPOLICY},
        {"{'Image':'x','HostConfig':{'Mounts':[{'Type':'volume','Target':'/v','VolumeOptions':"
         "{'Future':true}}]}}",
         "HostConfig.Mounts[0].VolumeOptions.Future", PROTO_EPOLICY},
        /* an endpoint naming another network, addresses of a neighbour */
        {"{'Image':'x','NetworkingConfig':{'EndpointsConfig':{'bridge':{'NetworkID':"
         "'internal-net'}}}}",
         "NetworkingConfig.EndpointsConfig.bridge.NetworkID", PROTO_EPOLICY},
        {"{'Image':'x','NetworkingConfig':{'EndpointsConfig':{'bridge':{'MacAddress':"
         "'02:42:ac:11:00:02'}}}}",
         "NetworkingConfig.EndpointsConfig.bridge.MacAddress", PROTO_EPOLICY},
        {"{'Image':'x','MacAddress':'02:42:ac:11:00:02'}", "MacAddress", PROTO_EPOLICY},
        {"{'Image':'x','NetworkingConfig':{'EndpointsConfig':{'bridge':{'IPAMConfig':"
         "{'IPv4Address':'172.17.0.2'}}}}}",
         "NetworkingConfig.EndpointsConfig.bridge.IPAMConfig", PROTO_EPOLICY},
        {"{'Image':'x','NetworkingConfig':{'EndpointsConfig':{'bridge':{'IPAddress':"
         "'172.17.0.2'}}}}",
         "NetworkingConfig.EndpointsConfig.bridge.IPAddress", PROTO_EPOLICY},
        {"{'Image':'x','NetworkingConfig':{'EndpointsConfig':{'bridge':{'Aliases':['a','b','c',"
         "'d','e','f','g','h','i','j','k','l','m','n','o','p','q']}}}}",
         "NetworkingConfig.EndpointsConfig.bridge.Aliases", PROTO_EPOLICY},
        /* a probe every millisecond */
        {"{'Image':'x','Healthcheck':{'Test':['CMD','true'],'Interval':1000000}}",
         "Healthcheck.Interval", PROTO_EPOLICY},
        {"{'Image':'x','Healthcheck':{'Test':['CMD','true'],'StartInterval':1000000,"
         "'StartPeriod':60000000000}}",
         "Healthcheck.StartInterval", PROTO_EPOLICY},
        {"{'Image':'x','Healthcheck':{'Retries':1000000}}", "Healthcheck.Retries", PROTO_EPOLICY},
    };
    dd_policy p;
    policy_init(&p);
    for (size_t i = 0; i < sizeof attacks / sizeof attacks[0]; i++) {
        proto_error err;
        int rc = check(&p, attacks[i].body, &err);
        /* the field, or an element of it ("HostConfig.Binds[0]") */
        if (rc != attacks[i].code ||
            strncmp(err.field, attacks[i].field, strlen(attacks[i].field)) != 0)
            fail_msg("attack %zu: got %d on \"%s\" (%s), want %d on \"%s\": %s", i, rc, err.field,
                     err.message, attacks[i].code, attacks[i].field, attacks[i].body);
    }
    print_message("# attack table: %zu bodies refused as expected\n",
                  sizeof attacks / sizeof attacks[0]);
    /* with max_memory: unlimited swap and a huge /dev/shm are refused too */
    policy_cleanup(&p);
    p = load("{'max_memory':1048576}");
    assert_denied(&p, "{'Image':'x','HostConfig':{'MemorySwap':-1}}", "HostConfig.MemorySwap",
                  "max_memory");
    assert_denied(&p, "{'Image':'x','HostConfig':{'ShmSize':1073741824}}", "HostConfig.ShmSize",
                  "max_memory");
    policy_cleanup(&p);
    /* harmless fields pass, in any case */
    assert_allowed(&p, "{'Image':'x','workingdir':'/srv/a..b','Hostname':'h','Tty':true,"
                       "'HostConfig':{'ReadonlyRootfs':true,'Tmpfs':{'/t':''},'AutoRemove':false,"
                       "'Links':null,'Init':true}}");
    /* and what the config opens, it opens */
    p = load("{'networks':['jobs-net'],'log_drivers':['json-file'],'allow_ports':true}");
    assert_allowed(&p, "{'Image':'x','HostConfig':{'NetworkMode':'jobs-net','LogConfig':"
                       "{'Type':'json-file'},'PortBindings':{'80/tcp':[{'HostPort':'8080'}]}}}");
    assert_denied(&p,
                  "{'Image':'x','HostConfig':{'LogConfig':{'Type':'json-file','Config':"
                  "{'max-size':'1g'}}}}",
                  "HostConfig.LogConfig.Config", "allow_log_options");
    policy_cleanup(&p);
}

/* The create body of API 1.44 and newer: a container joins every network
 * EndpointsConfig names, so only its NetworkMode's may be there; an
 * endpoint's settings are a closed set (DriverOpts carries per-interface
 * sysctls since 1.46); the MAC address may sit on the endpoint (1.44) or
 * the container (before); keys newer than the policy are refused. */
static void t_networks_at_create(void **state)
{
    (void)state;
    dd_policy p = load("{'networks':['jobs-net']}");
    /* a second network, even an allowed one; one that is not NetworkMode's */
    assert_denied(&p,
                  "{'Image':'x','HostConfig':{'NetworkMode':'jobs-net'},'NetworkingConfig':"
                  "{'EndpointsConfig':{'jobs-net':{},'bridge':{}}}}",
                  "NetworkingConfig.EndpointsConfig", "one network, its NetworkMode's");
    assert_denied(&p,
                  "{'Image':'x','NetworkingConfig':{'EndpointsConfig':{'bridge':{},"
                  "'jobs-net':{}}}}",
                  "NetworkingConfig.EndpointsConfig", "one network, its NetworkMode's");
    assert_denied(&p, "{'Image':'x','NetworkingConfig':{'EndpointsConfig':{'jobs-net':{}}}}",
                  "NetworkingConfig.EndpointsConfig", "one network, its NetworkMode's");
    assert_denied(&p,
                  "{'Image':'x','HostConfig':{'NetworkMode':'none'},'NetworkingConfig':"
                  "{'EndpointsConfig':{'bridge':{}}}}",
                  "NetworkingConfig.EndpointsConfig", "one network, its NetworkMode's");
    /* the endpoint's settings */
    assert_denied(&p,
                  "{'Image':'x','NetworkingConfig':{'EndpointsConfig':{'bridge':{'DriverOpts':"
                  "{'com.docker.network.endpoint.sysctls':'net.ipv4.conf.IFNAME.forwarding=1'}}}}}",
                  "NetworkingConfig.EndpointsConfig.bridge.DriverOpts", "kernel settings");
    assert_denied(&p,
                  "{'Image':'x','NetworkingConfig':{'EndpointsConfig':{'bridge':{'links':"
                  "['db:db']}}}}",
                  "NetworkingConfig.EndpointsConfig.bridge.Links", "other containers");
    assert_denied(&p,
                  "{'Image':'x','NetworkingConfig':{'EndpointsConfig':{'bridge':{'Future':1}}}}",
                  "NetworkingConfig.EndpointsConfig.bridge.Future", "not a field the policy knows");
    /* HostConfig keys of 1.43 and 1.56 stay refused until the policy names
     * them; 1.52's body has no KernelMemoryTCP, older ones may */
    assert_denied(&p, "{'Image':'x','HostConfig':{'Annotations':{'run.oci.hooks':'x'}}}",
                  "HostConfig.Annotations", "not a field the policy knows");
    assert_denied(&p, "{'Image':'x','HostConfig':{'Umask':18}}", "HostConfig.Umask",
                  "not a field the policy knows");
    /* an empty key is refused by a name, "", never by an empty field */
    assert_denied(&p, "{'Image':'x','':{'x':'y'}}", "\"\"", "not a field the policy knows");
    assert_denied(&p, "{'Image':'x','HostConfig':{'':1}}", "HostConfig.\"\"",
                  "not a field the policy knows");
    proto_error err;
    assert_int_equal(
        check(&p, "{'Image':'x','NetworkingConfig':{'EndpointsConfig':{'bridge':1}}}", &err),
        PROTO_EBADREQUEST);

    /* what one network's container may say */
    assert_allowed(&p, "{'Image':'x','HostConfig':{'NetworkMode':'jobs-net'},'NetworkingConfig':"
                       "{'EndpointsConfig':{'jobs-net':{'NetworkID':'jobs-net',"
                       "'Aliases':['web'],'GwPriority':0,'IPAMConfig':null}}}}");
    assert_allowed(&p, "{'Image':'x','HostConfig':{'NetworkMode':'default'},'NetworkingConfig':"
                       "{'EndpointsConfig':{'bridge':{}}}}");
    assert_allowed(&p, "{'Image':'x','HostConfig':{'NetworkMode':'none'},'NetworkingConfig':"
                       "{'EndpointsConfig':{'none':null}}}");
    /* an endpoint as Go's types write it: every operational field, empty */
    assert_allowed(&p, "{'Image':'x','NetworkingConfig':{'EndpointsConfig':{'bridge':"
                       "{'IPAMConfig':null,'Links':null,'Aliases':null,'MacAddress':'',"
                       "'DriverOpts':null,'GwPriority':0,'NetworkID':'','EndpointID':'',"
                       "'Gateway':'','IPAddress':'','IPPrefixLen':0,'IPv6Gateway':'',"
                       "'GlobalIPv6Address':'','GlobalIPv6PrefixLen':0,'DNSNames':null}}}}");
    policy_cleanup(&p);
}

/* network-create drivers: bridge only unless listed (macvlan and ipvlan
 * put containers on the host's links); the archive bound: its default and
 * its key. */
static void t_networks_archives(void **state)
{
    (void)state;
    dd_policy p;
    policy_init(&p);
    proto_error err;
    assert_int_equal(policy_check_network_driver(&p, NULL, &err), 0);
    assert_int_equal(policy_check_network_driver(&p, "bridge", &err), 0);
    static const char *const refused[] = {"macvlan", "ipvlan", "host", "overlay", "weave/net"};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        proto_error_clear(&err);
        assert_int_equal(policy_check_network_driver(&p, refused[i], &err), PROTO_EPOLICY);
        assert_string_equal(err.field, "Options.Driver");
        assert_non_null(strstr(err.message, "policy network_drivers"));
    }
    assert_int_equal(p.max_archive, 768 * 1024);
    policy_cleanup(&p);
    p = load("{'network_drivers':['overlay'],'max_archive':4096}");
    assert_int_equal(policy_check_network_driver(&p, "overlay", &err), 0);
    assert_int_equal(policy_check_network_driver(&p, "macvlan", &err), PROTO_EPOLICY);
    assert_int_equal(p.max_archive, 4096);
    policy_cleanup(&p);
    assert_int_equal(p.max_archive, 768 * 1024); /* back at the defaults */
}

/* A mount's VolumeOptions: the dispatcher's labels are its own (they say
 * whose a volume is), a driver only from volume_drivers ("local" by
 * default), driver options (a host path or NFS share in disguise) only
 * when allowed, a Subpath inside the volume; every level a closed set. */
static void t_volume_options(void **state)
{
    (void)state;
    dd_policy p;
    policy_init(&p);
#define VOL(opts) "{'Image':'x','HostConfig':{'Mounts':[{'Type':'volume','Target':'/v'" opts "}]}}"
    assert_allowed(&p, VOL(",'Source':'v','VolumeOptions':{'NoCopy':true,'Labels':{'team':'a'},"
                           "'DriverConfig':{'Name':'local'},'Subpath':'a/b'}"));
    assert_allowed(&p, VOL(",'VolumeOptions':{'DriverConfig':{'Name':'','Options':{}}}"));
    /* a named volume and an anonymous one, any case */
    assert_denied(&p,
                  VOL(",'Source':'v','VolumeOptions':{'Labels':{'io.docker-dispatch.cluster':"
                      "'c','io.docker-dispatch.user':'victim'}}"),
                  "HostConfig.Mounts[0].VolumeOptions.Labels", "the dispatcher's");
    assert_denied(&p, VOL(",'volumeoptions':{'labels':{'IO.Docker-Dispatch.User':'victim'}}"),
                  "HostConfig.Mounts[0].VolumeOptions.Labels", "whose a volume is");
    assert_denied(&p, VOL(",'VolumeOptions':{'DriverConfig':{'Name':'rexray/ebs'}}"),
                  "HostConfig.Mounts[0].VolumeOptions.DriverConfig.Name", "volume_drivers");
    assert_denied(&p,
                  VOL(",'VolumeOptions':{'DriverConfig':{'Name':'local','Options':{'type':"
                      "'nfs','o':'addr=10.0.0.1','device':':/export'}}}"),
                  "HostConfig.Mounts[0].VolumeOptions.DriverConfig.Options",
                  "allow_volume_options");
    assert_denied(&p, VOL(",'VolumeOptions':{'Subpath':'../other'}"),
                  "HostConfig.Mounts[0].VolumeOptions.Subpath", "inside the volume");
    assert_denied(&p, VOL(",'VolumeOptions':{'Subpath':'/etc'}"),
                  "HostConfig.Mounts[0].VolumeOptions.Subpath", "inside the volume");
    assert_denied(&p, VOL(",'VolumeOptions':{'Future':1}"),
                  "HostConfig.Mounts[0].VolumeOptions.Future", "not a field the policy knows");
    assert_denied(&p, VOL(",'VolumeOptions':{'DriverConfig':{'Plugin':'x'}}"),
                  "HostConfig.Mounts[0].VolumeOptions.DriverConfig.Plugin",
                  "not a field the policy knows");
    assert_denied(&p, VOL(",'Future':1"), "HostConfig.Mounts[0].Future",
                  "not a field the policy knows");
    assert_denied(&p, VOL(",'ClusterOptions':{'a':1}"), "HostConfig.Mounts[0].ClusterOptions",
                  "cluster volumes");
    assert_denied(&p,
                  "{'Image':'x','HostConfig':{'Mounts':[{'Type':'tmpfs','Target':'/t',"
                  "'TmpfsOptions':{'SizeBytes':1,'Future':1}}]}}",
                  "HostConfig.Mounts[0].TmpfsOptions.Future", "not a field the policy knows");
    proto_error err;
    assert_int_equal(check(&p, VOL(",'Source':7"), &err), PROTO_EBADREQUEST);
    assert_string_equal(err.field, "HostConfig.Mounts[0]");
    assert_int_equal(check(&p, VOL(",'VolumeOptions':[]"), &err), PROTO_EBADREQUEST);
    assert_string_equal(err.field, "HostConfig.Mounts[0].VolumeOptions");
    assert_int_equal(check(&p, VOL(",'VolumeOptions':{'Labels':{'a':1}}"), &err),
                     PROTO_EBADREQUEST);
    assert_int_equal(check(&p, VOL(",'VolumeOptions':{'DriverConfig':{'Name':1}}"), &err),
                     PROTO_EBADREQUEST);

    /* volume-create's Driver: the same list */
    assert_int_equal(policy_check_volume_driver(&p, NULL, "Options.Driver", &err), 0);
    assert_int_equal(policy_check_volume_driver(&p, "local", "Options.Driver", &err), 0);
    assert_int_equal(policy_check_volume_driver(&p, "vieux/sshfs", "Options.Driver", &err),
                     PROTO_EPOLICY);
    assert_string_equal(err.field, "Options.Driver");
    assert_non_null(strstr(err.message, "volume driver vieux/sshfs is not allowed (policy "
                                        "volume_drivers)"));
    policy_cleanup(&p);

    p = load("{'volume_drivers':['nfs-driver'],'allow_volume_options':true}");
    assert_allowed(&p, VOL(",'VolumeOptions':{'DriverConfig':{'Name':'nfs-driver','Options':"
                           "{'share':'x'}}}"));
    assert_int_equal(policy_check_volume_driver(&p, "nfs-driver", "Options.Driver", &err), 0);
    /* a list replaces the default */
    assert_int_equal(policy_check_volume_driver(&p, "local", "Options.Driver", &err),
                     PROTO_EPOLICY);
    /* the dispatcher's labels stay its own whatever the policy opens */
    assert_denied(&p, VOL(",'VolumeOptions':{'Labels':{'io.docker-dispatch.cluster':'c'}}"),
                  "HostConfig.Mounts[0].VolumeOptions.Labels", "the dispatcher's");
#undef VOL
    policy_cleanup(&p);
}

/* An endpoint's settings: NetworkID is the entry's own network or empty
 * (Docker joins the one it names), fixed MAC and IP addresses only when
 * allowed (they can take a neighbour's), a few aliases, no operational
 * fields with values. */
static void t_endpoint_settings(void **state)
{
    (void)state;
    dd_policy p = load("{'networks':['jobs-net']}");
#define EP(net, ep)                                                                                \
    "{'Image':'x','HostConfig':{'NetworkMode':'" net "'},'NetworkingConfig':{'EndpointsConfig':"   \
    "{'" net "':" ep "}}}"
    assert_allowed(&p, EP("jobs-net", "{'NetworkID':'jobs-net','Aliases':['web','db-1']}"));
    assert_allowed(&p, EP("bridge", "{'NetworkID':'','IPPrefixLen':0,'IPAddress':''}"));
    assert_denied(&p, EP("bridge", "{'NetworkID':'3f2a9c0e1b7d'}"),
                  "NetworkingConfig.EndpointsConfig.bridge.NetworkID", "policy networks");
    assert_denied(&p, EP("jobs-net", "{'networkid':'internal-net'}"),
                  "NetworkingConfig.EndpointsConfig.jobs-net.NetworkID", "entry's own network");
    assert_denied(&p, EP("bridge", "{'MacAddress':'02:42:ac:11:00:02'}"),
                  "NetworkingConfig.EndpointsConfig.bridge.MacAddress", "allow_mac_address");
    assert_denied(&p, "{'Image':'x','MacAddress':'02:42:ac:11:00:02'}", "MacAddress",
                  "allow_mac_address");
    assert_denied(&p, EP("bridge", "{'IPAMConfig':{'IPv4Address':'172.17.0.2'}}"),
                  "NetworkingConfig.EndpointsConfig.bridge.IPAMConfig", "allow_static_ip");
    assert_denied(&p, EP("bridge", "{'IPAddress':'172.17.0.2'}"),
                  "NetworkingConfig.EndpointsConfig.bridge.IPAddress", "what inspect reports");
    assert_denied(&p,
                  EP("bridge", "{'Aliases':['a1','a2','a3','a4','a5','a6','a7','a8','a9','a10',"
                               "'a11','a12','a13','a14','a15','a16','a17']}"),
                  "NetworkingConfig.EndpointsConfig.bridge.Aliases", "at most 16");
    proto_error err;
    assert_int_equal(check(&p, EP("bridge", "{'Aliases':['a b']}"), &err), PROTO_EBADREQUEST);
    assert_string_equal(err.field, "NetworkingConfig.EndpointsConfig.bridge.Aliases");
    assert_int_equal(check(&p, EP("bridge", "{'Aliases':'web'}"), &err), PROTO_EBADREQUEST);
    assert_int_equal(check(&p, EP("bridge", "{'NetworkID':5}"), &err), PROTO_EBADREQUEST);
    policy_cleanup(&p);

    p = load("{'allow_mac_address':true,'allow_static_ip':true}");
    assert_allowed(&p, "{'Image':'x','MacAddress':'02:42:ac:11:00:09'}");
    assert_allowed(&p, EP("bridge", "{'MacAddress':'02:42:ac:11:00:09','IPAMConfig':"
                                    "{'IPv4Address':'172.17.0.9'}}"));
#undef EP
    policy_cleanup(&p);
}

/* Healthcheck: durations other than 0 at least min_health_interval (1 s
 * by default; Docker's own floor is 1 ms), retries bounded, keys known. */
static void t_healthcheck(void **state)
{
    (void)state;
    dd_policy p;
    policy_init(&p);
    assert_allowed(&p, "{'Image':'x','Healthcheck':{'Test':['CMD','true'],'Interval':1000000000,"
                       "'Timeout':0,'StartPeriod':30000000000,'StartInterval':0,'Retries':3}}");
    assert_allowed(&p, "{'Image':'x','Healthcheck':{'Test':['NONE']}}");
    static const char *const durations[] = {"Interval", "Timeout", "StartPeriod", "StartInterval"};
    for (size_t i = 0; i < 4; i++) {
        char body[160], field[64];
        snprintf(body, sizeof body,
                 "{'Image':'x','healthcheck':{'Test':['CMD','true'],'%s':1000000}}", durations[i]);
        snprintf(field, sizeof field, "Healthcheck.%s", durations[i]);
        assert_denied(&p, body, field, "0.001 s is below the minimum of 1.000 s");
    }
    assert_denied(&p, "{'Image':'x','Healthcheck':{'Interval':999999999}}", "Healthcheck.Interval",
                  "min_health_interval");
    assert_denied(&p, "{'Image':'x','Healthcheck':{'Retries':101}}", "Healthcheck.Retries",
                  "at most 100");
    assert_denied(&p, "{'Image':'x','Healthcheck':{'Every':1}}", "Healthcheck.Every",
                  "not a field the policy knows");
    proto_error err;
    assert_int_equal(check(&p, "{'Image':'x','Healthcheck':{'Interval':-1}}", &err),
                     PROTO_EBADREQUEST);
    assert_string_equal(err.field, "Healthcheck.Interval");
    assert_int_equal(check(&p, "{'Image':'x','Healthcheck':{'Interval':'1s'}}", &err),
                     PROTO_EBADREQUEST);
    assert_int_equal(check(&p, "{'Image':'x','Healthcheck':{'Retries':-1}}", &err),
                     PROTO_EBADREQUEST);
    assert_int_equal(check(&p, "{'Image':'x','Healthcheck':{'Test':'true'}}", &err),
                     PROTO_EBADREQUEST);
    assert_int_equal(check(&p, "{'Image':'x','Healthcheck':[]}", &err), PROTO_EBADREQUEST);
    policy_cleanup(&p);

    p = load("{'min_health_interval':0.25}");
    assert_int_equal(p.min_health_interval, 250000000);
    assert_allowed(&p, "{'Image':'x','Healthcheck':{'Interval':250000000}}");
    assert_denied(&p, "{'Image':'x','Healthcheck':{'Interval':249999999}}", "Healthcheck.Interval",
                  "min_health_interval");
    policy_cleanup(&p);
}

/* No check cuts a value short: what a buffer of the policy cannot hold is
 * refused whole, never matched or compared in part. */
static void t_no_cut_offs(void **state)
{
    (void)state;
    dd_policy p = load("{'images':['busybox:*'],'registries':['docker.io'],"
                       "'capabilities':['ALL']}");
    proto_error err;
    /* cut at 600 bytes, "busybox:aaa.../x" was "busybox:aaa...": one tag */
    char image[700] = "busybox:";
    memset(image + 8, 'a', 620);
    memcpy(image + 628, "/evil", 6);
    assert_int_equal(policy_check_image(&p, image, &err), PROTO_EPOLICY);
    assert_non_null(strstr(err.message, "longer than 512"));
    /* a registry host too long for the check is not Docker Hub */
    char reg[400];
    memset(reg, 'r', 300);
    memcpy(reg + 300, ".example/x:1", 13);
    assert_int_equal(policy_check_registry(&p, reg, &err), PROTO_EPOLICY);
    assert_non_null(strstr(err.message, "policy registries"));
    char body[256];
    snprintf(body, sizeof body, "{'Image':'busybox','HostConfig':{'CapAdd':['NET_ADMIN%070d']}}",
             0);
    assert_denied(&p, body, "HostConfig.CapAdd[0]", "longer than 63");
    policy_cleanup(&p);
}

/* Metric labels of refusals come from the policy's own names: indexes,
 * network names and unknown keys of the publisher's never become a label
 * of their own (each would be one more label set of a bounded metric). */
static void t_rule_labels(void **state)
{
    (void)state;
    static const char *const cases[][2] = {
        {"HostConfig.Privileged", "HostConfig.Privileged"},
        {"HostConfig.Binds[17]", "HostConfig.Binds"},
        {"HostConfig.Binds[9999999]", "HostConfig.Binds"},
        {"HostConfig.CapAdd[0]", "HostConfig.CapAdd"},
        {"HostConfig.Mounts[2].VolumeOptions.Labels", "HostConfig.Mounts"},
        {"HostConfig.X-attacker-chosen-1", "HostConfig"},
        {"HostConfig.LogConfig.Type", "HostConfig.LogConfig.Type"},
        {"NetworkingConfig.EndpointsConfig.my.net-1.Links",
         "NetworkingConfig.EndpointsConfig.*.Links"},
        {"NetworkingConfig.EndpointsConfig.n2.DriverOpts",
         "NetworkingConfig.EndpointsConfig.*.DriverOpts"},
        {"NetworkingConfig.EndpointsConfig.n3.Bogus", "NetworkingConfig.EndpointsConfig"},
        {"NetworkingConfig.EndpointsConfig", "NetworkingConfig.EndpointsConfig"},
        {"Image", "Image"},
        {"Healthcheck.Interval", "Healthcheck"},
        {"Options.Repo", "Options.Repo"},
        {"user_id", "user_id"},
        {"attacker_chosen_top_key", "other"},
        {"Imagex", "other"},
        {"HostConfig.Binds[1", "HostConfig"},
        {"", ""},
    };
    char got[PROTO_FIELD_MAX];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        policy_rule_label(cases[i][0], got, sizeof got);
        if (strcmp(got, cases[i][1]) != 0)
            print_error("the label of %s: expected %s, got %s\n", cases[i][0], cases[i][1], got);
        assert_string_equal(got, cases[i][1]);
    }
    policy_rule_label(NULL, got, sizeof got);
    assert_string_equal(got, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_reading),
        cmocka_unit_test(t_quotas),
        cmocka_unit_test(t_defaults_deny_the_host),
        cmocka_unit_test(t_binds_and_caps_allowed),
        cmocka_unit_test(t_resources),
        cmocka_unit_test(t_images),
        cmocka_unit_test(t_image_ids),
        cmocka_unit_test(t_commit_prefix),
        cmocka_unit_test(t_attacks),
        cmocka_unit_test(t_networks_archives),
        cmocka_unit_test(t_networks_at_create),
        cmocka_unit_test(t_volume_options),
        cmocka_unit_test(t_endpoint_settings),
        cmocka_unit_test(t_healthcheck),
        cmocka_unit_test(t_no_cut_offs),
        cmocka_unit_test(t_rule_labels),
    };
    return cmocka_run_group_tests_name("policy", tests, NULL, NULL);
}
