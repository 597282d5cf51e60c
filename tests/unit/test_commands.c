/*
 * test_commands.c -- what each command of the engine acts on, and who may.
 *
 * spec[] says, for every command, the kind of object it names (its
 * target) and how it is treated (its flags), as the engine has always
 * decided them; the engine's table (commands.c) must say the same.  The
 * other cases drive the scope check (eng_scope_check) of every command on a
 * job context of its own, with Docker replaced by a fake that answers each
 * inspect with an object of the cluster and user a case picks, and check
 * what spec[] implies: a foreign object of every kind is not found, the
 * publisher's own is resolved, lists show only the cluster's, new objects
 * are labelled, scope host resolves nothing.  A command whose row says the
 * wrong thing fails with its name and both values.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dkc_internal.h"
#include "engine_internal.h"

#define ID1 "c0ffee0000000000000000000000000000000000000000000000000000000001"
#define ID2 "c0ffee0000000000000000000000000000000000000000000000000000000002"

/* ------------------------------------------------------------------------
 * What every command names, and its flags
 * ------------------------------------------------------------------------ */

/* The inspects the fake answers, by letter, and the letter of each
 * target. */
#define L_CONTAINER 'c'
#define L_VOLUME    'v'
#define L_NETWORK   'n'
#define L_IMAGE     'i'

static const char letter_of[] = {[ENG_TARGET_NONE] = '-',
                                 [ENG_TARGET_CONTAINER] = L_CONTAINER,
                                 [ENG_TARGET_VOLUME] = L_VOLUME,
                                 [ENG_TARGET_NETWORK] = L_NETWORK,
                                 [ENG_TARGET_IMAGE] = L_IMAGE};

typedef struct row {
    proto_kind kind;
    const char *msg; /* a message of the command naming objects "web", "v1", "net1" */
    eng_target target;
    unsigned flags;     /* ENG_CMD_* */
    const char *change; /* what it does to the image it names, for a refusal; NULL: reads */
    int admin;          /* only the policy's admin users may send it */
} row;

#define D(cmd, rest) "{\"Dockercmd\":\"" cmd "\"" rest "}"
#define CTR          ",\"Container\":\"web\""
#define REPO         ",\"Options\":{\"Repo\":\"docker-dispatch/c1/snap\"}"

/* A row of spec[]: kind, message, target, flags. */
#define R(k, m, t, fl)                                                                             \
    {                                                                                              \
        .kind = (k), .msg = (m), .target = (t), .flags = (fl)                                      \
    }

static const row spec[] = {
    R(PROTO_CMD_RUN, D("run", ",\"Image\":\"busybox\""), ENG_TARGET_NONE,
      ENG_CMD_DEDUPE | ENG_CMD_BULK | ENG_CMD_STARTS),
    R(PROTO_CMD_CREATE, D("create", ",\"Image\":\"busybox\""), ENG_TARGET_NONE,
      ENG_CMD_DEDUPE | ENG_CMD_BULK),
    R(PROTO_CMD_START, D("start", CTR), ENG_TARGET_CONTAINER, 0),
    R(PROTO_CMD_STOP, D("stop", CTR), ENG_TARGET_CONTAINER, 0),
    R(PROTO_CMD_RESTART, D("restart", CTR), ENG_TARGET_CONTAINER, 0),
    R(PROTO_CMD_KILL, D("kill", CTR), ENG_TARGET_CONTAINER, 0),
    R(PROTO_CMD_PAUSE, D("pause", CTR), ENG_TARGET_CONTAINER, 0),
    R(PROTO_CMD_UNPAUSE, D("unpause", CTR), ENG_TARGET_CONTAINER, 0),
    R(PROTO_CMD_RENAME, D("rename", CTR ",\"Options\":{\"NewName\":\"web2\"}"),
      ENG_TARGET_CONTAINER, 0),
    R(PROTO_CMD_REMOVE, D("remove", CTR), ENG_TARGET_CONTAINER, 0),
    R(PROTO_CMD_WAIT, D("wait", CTR), ENG_TARGET_CONTAINER, 0),
    R(PROTO_CMD_INSPECT, D("inspect", CTR), ENG_TARGET_CONTAINER, 0),
    R(PROTO_CMD_LIST, D("list", ""), ENG_TARGET_CONTAINER, ENG_CMD_LIST),
    R(PROTO_CMD_LOGS, D("logs", CTR), ENG_TARGET_CONTAINER, 0),
    R(PROTO_CMD_TOP, D("top", CTR), ENG_TARGET_CONTAINER, 0),
    R(PROTO_CMD_CHANGES, D("changes", CTR), ENG_TARGET_CONTAINER, 0),
    R(PROTO_CMD_EXEC, D("exec", CTR ",\"Cmd\":[\"true\"]"), ENG_TARGET_CONTAINER, 0),
    R(PROTO_CMD_PULL, D("pull", ",\"Image\":\"busybox\""), ENG_TARGET_IMAGE, 0),
    R(PROTO_CMD_IMAGES, D("images", ""), ENG_TARGET_IMAGE, ENG_CMD_LIST),
    R(PROTO_CMD_IMAGE_INSPECT, D("image-inspect", ",\"Image\":\"busybox\""), ENG_TARGET_IMAGE, 0),
    {.kind = PROTO_CMD_IMAGE_TAG,
     .msg = D("image-tag", ",\"Image\":\"busybox\"" REPO),
     .target = ENG_TARGET_IMAGE,
     .flags = ENG_CMD_WRITES_IMAGE,
     .change = "tagged"},
    {.kind = PROTO_CMD_IMAGE_REMOVE,
     .msg = D("image-remove", ",\"Image\":\"busybox\""),
     .target = ENG_TARGET_IMAGE,
     .change = "removed"},
    R(PROTO_CMD_VOLUME_CREATE, D("volume-create", ",\"Volume\":\"v1\""), ENG_TARGET_VOLUME,
      ENG_CMD_LABELS_NEW),
    R(PROTO_CMD_VOLUME_LIST, D("volume-list", ""), ENG_TARGET_VOLUME, ENG_CMD_LIST),
    R(PROTO_CMD_VOLUME_INSPECT, D("volume-inspect", ",\"Volume\":\"v1\""), ENG_TARGET_VOLUME, 0),
    R(PROTO_CMD_VOLUME_REMOVE, D("volume-remove", ",\"Volume\":\"v1\""), ENG_TARGET_VOLUME, 0),
    R(PROTO_CMD_INFO, D("info", ""), ENG_TARGET_NONE, 0),
    R(PROTO_CMD_VERSION, D("version", ""), ENG_TARGET_NONE, 0),
    R(PROTO_CMD_PING, D("ping", ""), ENG_TARGET_NONE, 0),
    R(PROTO_CMD_NODES, D("nodes", ""), ENG_TARGET_NONE, 0),
    {.kind = PROTO_CMD_REGISTER,
     .msg = "{\"action\":\"register\",\"hostname\":\"n2\"}",
     .target = ENG_TARGET_NONE,
     .admin = 1},
    {.kind = PROTO_CMD_UNREGISTER,
     .msg = "{\"action\":\"unregister\",\"hostname\":\"n2\"}",
     .target = ENG_TARGET_NONE,
     .admin = 1},
    R(PROTO_CMD_COMMIT, D("commit", CTR REPO), ENG_TARGET_CONTAINER, ENG_CMD_WRITES_IMAGE),
    R(PROTO_CMD_ARCHIVE_GET, D("archive-get", CTR ",\"Options\":{\"Path\":\"/tmp\"}"),
      ENG_TARGET_CONTAINER, 0),
    R(PROTO_CMD_ARCHIVE_PUT,
      D("archive-put", CTR ",\"Options\":{\"Path\":\"/tmp\",\"Archive\":\"AAAA\"}"),
      ENG_TARGET_CONTAINER, 0),
    R(PROTO_CMD_NETWORK_CREATE, D("network-create", ",\"Network\":\"net1\""), ENG_TARGET_NETWORK,
      ENG_CMD_LABELS_NEW),
    R(PROTO_CMD_NETWORK_LIST, D("network-list", ""), ENG_TARGET_NETWORK, ENG_CMD_LIST),
    R(PROTO_CMD_NETWORK_INSPECT, D("network-inspect", ",\"Network\":\"net1\""), ENG_TARGET_NETWORK,
      0),
    R(PROTO_CMD_NETWORK_CONNECT, D("network-connect", ",\"Network\":\"net1\"" CTR),
      ENG_TARGET_NETWORK, ENG_CMD_JOIN),
    R(PROTO_CMD_NETWORK_DISCONNECT, D("network-disconnect", ",\"Network\":\"net1\"" CTR),
      ENG_TARGET_NETWORK, ENG_CMD_JOIN),
    R(PROTO_CMD_NETWORK_REMOVE, D("network-remove", ",\"Network\":\"net1\""), ENG_TARGET_NETWORK,
      0),
};

#define N_SPEC (sizeof spec / sizeof spec[0])

/* The inspects the scope check makes for r when it finds everything, in
 * order, by their letters: the image changed, the name written, then the
 * object named (and the container a network is joined by).  Lists and
 * new objects resolve nothing, nor do reads of images (their handlers
 * answer another's image as none). */
static void expected_inspects(const row *r, char *out)
{
    size_t n = 0;
    if (r->target == ENG_TARGET_IMAGE && r->change)
        out[n++] = L_IMAGE;
    if (r->flags & ENG_CMD_WRITES_IMAGE)
        out[n++] = L_IMAGE;
    if (!(r->flags & (ENG_CMD_LIST | ENG_CMD_LABELS_NEW)) && r->target != ENG_TARGET_IMAGE &&
        r->target != ENG_TARGET_NONE)
        out[n++] = letter_of[r->target];
    if (r->flags & ENG_CMD_JOIN)
        out[n++] = L_CONTAINER;
    out[n] = '\0';
}

/* ------------------------------------------------------------------------
 * The fake Docker: every object it is asked about exists, labelled as the
 * case says (images by their commit labels)
 * ------------------------------------------------------------------------ */

typedef struct fake {
    const char *cluster;  /* the objects' cluster label; NULL: none (the host's) */
    const char *user;     /* their user label; NULL: none */
    const char *listed;   /* a network of another cluster the policy lists */
    char inspects[16];    /* the letters of the inspects made, in order */
    char unexpected[256]; /* the first request that was no inspect */
} fake;

/* The labels of an object of f: cluster and user under prefix ("" or
 * "image-"). */
static json_t *labels_of(const fake *f, const char *prefix)
{
    json_t *l = json_object();
    char k[128];
    assert_non_null(l);
    if (f->cluster) {
        snprintf(k, sizeof k, LBL "%scluster", prefix);
        json_object_set_new(l, k, json_string(f->cluster));
    }
    if (f->user) {
        snprintf(k, sizeof k, LBL "%suser", prefix);
        json_object_set_new(l, k, json_string(f->user));
    }
    return l;
}

/* The answer to an inspect of kind letter for object name (new). */
static json_t *inspect_of(const fake *f, char letter, const char *name)
{
    switch (letter) {
    case L_CONTAINER:
        return json_pack("{s:s, s:s, s:{s:o}}", "Id", ID1, "Name", "/web", "Config", "Labels",
                         labels_of(f, ""));
    case L_VOLUME:
        return json_pack("{s:s, s:o}", "Name", name, "Labels", labels_of(f, ""));
    case L_NETWORK:
        if (f->listed && !strcmp(name, f->listed))
            return json_pack("{s:s, s:s, s:{s:s}}", "Id", ID2, "Name", name, "Labels",
                             LBL "cluster", "other");
        return json_pack("{s:s, s:s, s:o}", "Id", ID2, "Name", name, "Labels", labels_of(f, ""));
    default:
        return json_pack("{s:s, s:{s:o}}", "Id", "sha256:feed", "Config", "Labels",
                         labels_of(f, "image-"));
    }
}

/* The inspect a path asks for: its letter and the object's name. */
static char inspect_kind(const char *method, const char *path, char *name, size_t len)
{
    static const struct {
        const char *pre, *post;
        char letter;
    } forms[] = {
        {"/containers/", "/json", L_CONTAINER},
        {"/images/", "/json", L_IMAGE},
        {"/volumes/", "", L_VOLUME},
        {"/networks/", "", L_NETWORK},
    };
    if (strcmp(method, "GET") != 0)
        return 0;
    for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
        size_t a = strlen(forms[i].pre), b = strlen(forms[i].post), n = strlen(path);
        if (n <= a + b || strncmp(path, forms[i].pre, a) != 0 ||
            strcmp(path + n - b, forms[i].post))
            continue;
        snprintf(name, len, "%.*s", (int)(n - a - b), path + a);
        /* an image's name may hold '/', no other name may */
        return strchr(name, '/') && forms[i].letter != L_IMAGE ? 0 : forms[i].letter;
    }
    return 0;
}

static int fake_perform(void *impl, const dkc__req *req, const char *vpath, dkc__resp *resp,
                        char *errbuf, size_t errlen)
{
    (void)errbuf;
    (void)errlen;
    fake *f = impl;
    char path[512], name[256];
    const char *p = vpath;
    if (!strncmp(p, "/v1.", 4)) /* the version prefix */
        p = strchr(p + 1, '/') ? strchr(p + 1, '/') : "";
    snprintf(path, sizeof path, "%s", p);
    char *q = strchr(path, '?');
    if (q)
        *q = '\0';
    resp->status = 200;
    if (!strcmp(path, "/_ping")) {
        snprintf(resp->api_version, sizeof resp->api_version, "1.41");
        return dkc__buf_append(&resp->body, "OK", 2);
    }
    char letter = inspect_kind(req->method, path, name, sizeof name);
    size_t n = strlen(f->inspects);
    if (letter == 0 || n + 1 >= sizeof f->inspects) {
        if (!f->unexpected[0])
            snprintf(f->unexpected, sizeof f->unexpected, "%s %.200s", req->method, path);
        resp->status = 500;
        return dkc__buf_append(&resp->body, "{\"message\":\"fake: no route\"}", 28);
    }
    f->inspects[n] = letter;
    json_t *o = inspect_of(f, letter, name);
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    assert_non_null(s);
    int rc = dkc__buf_append(&resp->body, s, strlen(s));
    free(s);
    return rc;
}

/* ------------------------------------------------------------------------
 * One command's scope check
 * ------------------------------------------------------------------------ */

typedef struct check {
    engine e;
    eng_rules rules;
    dd_policy policy;
    broker_delivery d;
    fake f;
    dkc_client *cli;
    jctx c;
    hres res;
} check;

/* Checks r's message as user alice under policy p (NULL: the default)
 * against Docker faked by f: the outcome in k (free with check_free). */
static void check_run(check *k, const row *r, const fake *f, const dd_policy *p)
{
    memset(k, 0, sizeof *k);
    k->f = *f;
    k->e.conf.cluster = "c1";
    k->e.conf.node = "n1";
    snprintf(k->e.cluster_label, sizeof k->e.cluster_label, LBL "cluster=c1");
    snprintf(k->e.node_label, sizeof k->e.node_label, LBL "node=n1");
    if (p)
        k->policy = *p; /* a copy of the case's, freed by the case */
    else
        policy_init(&k->policy);
    k->rules.policy = &k->policy;
    k->d.user_id = "alice";
    k->d.source = BROKER_SRC_WORK;
    dkc_options o;
    dkc_options_init(&o);
    o.host = "unix:///fake.sock";
    char why[256] = "";
    assert_int_equal(dkc_client_new(&o, &k->cli, why, sizeof why), 0);
    dkc__transport t = {.perform = fake_perform, .impl = &k->f};
    dkc__client_set_transport(k->cli, &t);
    proto_limits lim;
    proto_limits_init(&lim);
    proto_cmd *cmd = NULL;
    proto_error perr;
    if (proto_parse(r->msg, strlen(r->msg), &lim, &cmd, &perr) != 0)
        fail_msg("%s: the test's message is refused: %s", r->msg, perr.message);
    assert_int_equal(cmd->kind, r->kind);
    k->c = (jctx){.e = &k->e,
                  .rules = &k->rules,
                  .cli = k->cli,
                  .d = &k->d,
                  .cmd = cmd,
                  .desc = eng_cmd_find(cmd->kind),
                  .request_id = "req-1"};
    k->res = eng_scope_check(&k->c);
}

static void check_free(check *k, const dd_policy *p)
{
    if (p == NULL)
        policy_cleanup(&k->policy);
    json_decref(k->c.result);
    json_decref(k->c.resolved);
    proto_cmd_free(k->c.cmd);
    dkc_client_free(k->cli);
}

static const char *res_name(hres r)
{
    static const char *const names[] = {"H_OK", "H_ERR", "H_TRANSIENT", "H_DONE", "H_FORWARD"};
    return (size_t)r < 5 ? names[r] : "?";
}

/* Fails the case for r unless k ended in want (an error code when
 * H_ERR) after the inspects want_inspects. */
static int expect(const row *r, const check *k, hres want, int code, const char *want_inspects)
{
    int ok = k->res == want && (want != H_ERR || k->c.code == code) &&
             !strcmp(k->f.inspects, want_inspects) && !k->f.unexpected[0];
    if (!ok)
        print_error("%s: expected %s %s after inspects \"%s\", got %s %s (%s) after \"%s\"%s%s\n",
                    proto_kind_name(r->kind), res_name(want),
                    want == H_ERR ? proto_code_name(code) : "", want_inspects, res_name(k->res),
                    k->res == H_ERR ? proto_code_name(k->c.code) : "", k->c.msg, k->f.inspects,
                    k->f.unexpected[0] ? ", then " : "", k->f.unexpected);
    return ok;
}

/* 1 if filters' "label" list holds s. */
static int filter_has(const json_t *filters, const char *s)
{
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(filters, "label"), i, v)
    {
        if (!strcmp(json_string_value(v) ? json_string_value(v) : "", s))
            return 1;
    }
    return 0;
}

/* ------------------------------------------------------------------------
 * The cases
 * ------------------------------------------------------------------------ */

static void every_command_has_a_row(void **state)
{
    (void)state;
    int bad = 0;
    for (int k = PROTO_CMD_NONE + 1; k < PROTO_CMD__COUNT; k++) {
        const engine_cmd *d = eng_cmd_find((proto_kind)k);
        size_t i = 0;
        while (i < N_SPEC && spec[i].kind != (proto_kind)k)
            i++;
        if (d == NULL || d->kind != (proto_kind)k || i == N_SPEC) {
            print_error("%s: %s\n", proto_kind_name((proto_kind)k),
                        d == NULL ? "no row in the engine's table" : "no row in spec[]");
            bad++;
        }
    }
    assert_int_equal(bad, 0);
}

static const char *str_or_null(const char *s)
{
    return s ? s : "(null)";
}

/* Each row of the engine's table says what spec[] says. */
static void each_row_says_what_its_command_names(void **state)
{
    (void)state;
    int bad = 0;
    for (size_t i = 0; i < N_SPEC; i++) {
        const row *r = &spec[i];
        const engine_cmd *d = eng_cmd_find(r->kind);
        const char *name = proto_kind_name(r->kind);
        assert_non_null(d);
        if (d->target != r->target) {
            print_error("%s: target %c, not %c\n", name, letter_of[d->target],
                        letter_of[r->target]);
            bad++;
        }
        if (d->flags != r->flags) {
            print_error("%s: flags 0x%02x, not 0x%02x\n", name, d->flags, r->flags);
            bad++;
        }
        if (strcmp(str_or_null(d->changes), str_or_null(r->change))) {
            print_error("%s: changes %s, not %s\n", name, str_or_null(d->changes),
                        str_or_null(r->change));
            bad++;
        }
        if (d->admin != r->admin) {
            print_error("%s: admin %d, not %d\n", name, d->admin, r->admin);
            bad++;
        }
    }
    assert_int_equal(bad, 0);
}

/* Everything Docker has is another cluster's: every command naming an
 * object finds none (an image another committed, a name someone else's
 * image has); lists, new objects and the rest go on. */
static void a_foreign_object_of_every_kind_is_not_found(void **state)
{
    (void)state;
    const fake f = {.cluster = "other", .user = "bob"};
    int bad = 0;
    for (size_t i = 0; i < N_SPEC; i++) {
        const row *r = &spec[i];
        char all[8], first[2] = "";
        expected_inspects(r, all);
        first[0] = all[0];
        check k;
        check_run(&k, r, &f, NULL);
        if (all[0] == '\0')
            bad += !expect(r, &k, H_OK, 0, "");
        else if (r->target == ENG_TARGET_IMAGE && r->change)
            bad += !expect(r, &k, H_ERR, PROTO_ENOTFOUND, first);
        else if (r->flags & ENG_CMD_WRITES_IMAGE)
            bad += !expect(r, &k, H_ERR, PROTO_EPOLICY, first);
        else
            bad += !expect(r, &k, H_ERR, PROTO_ENOTFOUND, first);
        check_free(&k, NULL);
    }
    assert_int_equal(bad, 0);
}

/* Everything is the publisher's: every command resolves what it names,
 * by its full id. */
static void the_publishers_own_objects_are_resolved(void **state)
{
    (void)state;
    const fake f = {.cluster = "c1", .user = "alice"};
    int bad = 0;
    for (size_t i = 0; i < N_SPEC; i++) {
        const row *r = &spec[i];
        char all[8];
        expected_inspects(r, all);
        check k;
        check_run(&k, r, &f, NULL);
        bad += !expect(r, &k, H_OK, 0, all);
        const proto_cmd *cmd = k.c.cmd;
        if (strchr(all, L_CONTAINER) && strcmp(cmd->container ? cmd->container : "", ID1)) {
            print_error("%s: the container resolved as %s\n", proto_kind_name(r->kind),
                        cmd->container ? cmd->container : "(none)");
            bad++;
        }
        if (strchr(all, L_NETWORK) && strcmp(cmd->network ? cmd->network : "", ID2)) {
            print_error("%s: the network resolved as %s\n", proto_kind_name(r->kind),
                        cmd->network ? cmd->network : "(none)");
            bad++;
        }
        check_free(&k, NULL);
    }
    assert_int_equal(bad, 0);
}

/* The commands that change an image refuse the host's, in their own
 * words; the ones that write a name refuse a name the host's image has. */
static void the_hosts_images_are_not_changed(void **state)
{
    (void)state;
    const fake f = {0};
    int bad = 0;
    for (size_t i = 0; i < N_SPEC; i++) {
        const row *r = &spec[i];
        char all[8], first[2] = "";
        expected_inspects(r, all);
        if (all[0] != L_IMAGE)
            continue;
        first[0] = all[0];
        check k;
        check_run(&k, r, &f, NULL);
        bad += !expect(r, &k, H_ERR, PROTO_EPOLICY, first);
        char words[64];
        snprintf(words, sizeof words, "cannot be %s (policy scope)", r->change ? r->change : "");
        const char *field = r->change ? "Image" : "Options.Repo";
        if (r->change ? !strstr(k.c.msg, words) : !strstr(k.c.msg, "would be re-pointed")) {
            print_error("%s: refused as \"%s\"\n", proto_kind_name(r->kind), k.c.msg);
            bad++;
        }
        if (strcmp(k.c.field, field)) {
            print_error("%s: refused field %s, not %s\n", proto_kind_name(r->kind), k.c.field,
                        field);
            bad++;
        }
        check_free(&k, NULL);
    }
    assert_int_equal(bad, 0);
}

/* A network another cluster made, which the policy lists: the commands
 * that join a container to a network or take it off may name it, the
 * others find none. */
static void a_listed_network_is_joined_not_changed(void **state)
{
    (void)state;
    const fake f = {.cluster = "c1", .user = "alice", .listed = "net1"};
    dd_policy p;
    policy_init(&p);
    json_t *pol = json_pack("{s:[s]}", "networks", "net1");
    char why[256] = "";
    assert_int_equal(policy_from_json(&p, pol, why, sizeof why), 0);
    json_decref(pol);
    int bad = 0;
    for (size_t i = 0; i < N_SPEC; i++) {
        const row *r = &spec[i];
        char all[8];
        expected_inspects(r, all);
        if (all[0] != L_NETWORK)
            continue;
        check k;
        check_run(&k, r, &f, &p);
        if (r->flags & ENG_CMD_JOIN)
            bad += !expect(r, &k, H_OK, 0, all);
        else
            bad += !expect(r, &k, H_ERR, PROTO_ENOTFOUND, "n");
        check_free(&k, &p);
    }
    policy_cleanup(&p);
    assert_int_equal(bad, 0);
}

/* Lists of containers, volumes and networks ask Docker for the cluster's
 * only; images carry no cluster label and are filtered by their commit
 * labels once listed.  A container list may not filter on the labels of
 * reply addresses. */
static void lists_show_the_clusters_only(void **state)
{
    (void)state;
    const fake f = {.cluster = "c1", .user = "alice"};
    int bad = 0;
    for (size_t i = 0; i < N_SPEC; i++) {
        const row *r = &spec[i];
        check k;
        check_run(&k, r, &f, NULL);
        int filtered = filter_has(k.c.cmd->filters, LBL "cluster=c1");
        int want = (r->flags & ENG_CMD_LIST) && r->target != ENG_TARGET_IMAGE;
        if (filtered != want) {
            print_error("%s: %s by the cluster's label\n", proto_kind_name(r->kind),
                        filtered ? "filtered" : "not filtered");
            bad++;
        }
        check_free(&k, NULL);
        if (!(r->flags & ENG_CMD_LIST))
            continue;
        /* the same list, filtering on a reply address */
        char msg[256];
        row probe = *r;
        snprintf(msg, sizeof msg, "%.*s,\"Options\":{\"Filters\":{\"label\":[\"%s\"]}}}",
                 (int)strlen(r->msg) - 1, r->msg, LBL "reply-to=q");
        probe.msg = msg;
        check_run(&k, &probe, &f, NULL);
        if (r->target == ENG_TARGET_CONTAINER)
            bad += !expect(r, &k, H_ERR, PROTO_EPOLICY, "");
        else
            bad += !expect(r, &k, H_OK, 0, "");
        check_free(&k, NULL);
    }
    assert_int_equal(bad, 0);
}

/* What a command makes (a volume, a network) carries the cluster's and
 * the publisher's labels; nothing else gets them. */
static void new_objects_are_the_clusters_and_the_users(void **state)
{
    (void)state;
    const fake f = {.cluster = "c1", .user = "alice"};
    int bad = 0;
    for (size_t i = 0; i < N_SPEC; i++) {
        const row *r = &spec[i];
        check k;
        check_run(&k, r, &f, NULL);
        const char *cl = json_string_value(json_object_get(k.c.cmd->labels, LBL "cluster"));
        const char *us = json_string_value(json_object_get(k.c.cmd->labels, LBL "user"));
        int labelled = cl && !strcmp(cl, "c1") && us && !strcmp(us, "alice");
        if (labelled != !!(r->flags & ENG_CMD_LABELS_NEW) || (!labelled && (cl || us))) {
            print_error("%s: made with labels cluster=%s user=%s\n", proto_kind_name(r->kind),
                        cl ? cl : "(none)", us ? us : "(none)");
            bad++;
        }
        check_free(&k, NULL);
    }
    assert_int_equal(bad, 0);
}

/* Scope host: the operator manages the whole host, nothing is resolved,
 * filtered or labelled (the image list still holds). */
static void scope_host_resolves_nothing(void **state)
{
    (void)state;
    const fake f = {.cluster = "other", .user = "bob"};
    dd_policy p;
    policy_init(&p);
    p.scope_host = true;
    int bad = 0;
    for (size_t i = 0; i < N_SPEC; i++) {
        const row *r = &spec[i];
        check k;
        check_run(&k, r, &f, &p);
        bad += !expect(r, &k, H_OK, 0, "");
        if (json_object_get(k.c.cmd->filters, "label") || json_object_size(k.c.cmd->labels)) {
            print_error("%s: filtered or labelled under scope host\n", proto_kind_name(r->kind));
            bad++;
        }
        check_free(&k, &p);
    }
    policy_cleanup(&p);
    assert_int_equal(bad, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_command_has_a_row),
        cmocka_unit_test(each_row_says_what_its_command_names),
        cmocka_unit_test(a_foreign_object_of_every_kind_is_not_found),
        cmocka_unit_test(the_publishers_own_objects_are_resolved),
        cmocka_unit_test(the_hosts_images_are_not_changed),
        cmocka_unit_test(a_listed_network_is_joined_not_changed),
        cmocka_unit_test(lists_show_the_clusters_only),
        cmocka_unit_test(new_objects_are_the_clusters_and_the_users),
        cmocka_unit_test(scope_host_resolves_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
