/*
 * test_protocol.c -- the message protocol: parsing both dialects into the
 * command model, every validation error, limits, replies and log lines.
 *
 * Most cases are rows of tables (one cmocka test per row, named after the
 * row); message bodies are written with ' for " and converted by J().
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "protocol.h"
#include "text.h"

/* ------------------------------------------------------------------------
 * Helpers
 * ------------------------------------------------------------------------ */

/* A copy of s with every ' turned into " (free()). */
static char *J(const char *s)
{
    char *out = strdup(s);
    assert_non_null(out);
    for (char *p = out; *p; p++) {
        if (*p == '\'')
            *p = '"';
    }
    return out;
}

#define assert_str(a, b)                                                                           \
    do {                                                                                           \
        const char *a_ = (a), *b_ = (b);                                                           \
        if (b_ == NULL) {                                                                          \
            if (a_ != NULL)                                                                        \
                print_error("expected NULL, got \"%s\"\n", a_);                                    \
            assert_null(a_);                                                                       \
        } else {                                                                                   \
            if (a_ == NULL)                                                                        \
                print_error("expected \"%s\", got NULL\n", b_);                                    \
            assert_non_null(a_);                                                                   \
            assert_string_equal(a_, b_);                                                           \
        }                                                                                          \
    } while (0)

/* Parses a J()-style body with default limits; fails the test unless it
 * parses.  Caller frees the result. */
static proto_cmd *parse_ok(const char *jbody)
{
    char *body = J(jbody);
    proto_cmd *cmd = NULL;
    proto_error err;
    int rc = proto_parse(body, strlen(body), NULL, &cmd, &err);
    if (rc != 0)
        print_error("parse failed: %s (%s) field=%s\n", err.message, err.code_name, err.field);
    assert_int_equal(rc, 0);
    assert_non_null(cmd);
    free(body);
    return cmd;
}

/* Parses and expects a failure; returns the code and fills *err. */
static int parse_fail(const char *jbody, proto_error *err)
{
    char *body = J(jbody);
    proto_cmd *cmd = (proto_cmd *)1;
    int rc = proto_parse(body, strlen(body), NULL, &cmd, err);
    free(body);
    if (rc == 0)
        proto_cmd_free(cmd);
    assert_true(rc < 0);
    assert_null(cmd);
    return rc;
}

/* Asserts json text a equals json text b (J() style). */
static void assert_json_eq(const json_t *got, const char *jexpected)
{
    char *exp_text = J(jexpected);
    json_error_t je;
    json_t *exp = json_loads(exp_text, 0, &je);
    if (exp == NULL)
        print_error("bad expected JSON: %s\n", je.text);
    assert_non_null(exp);
    if (!json_equal(got, exp)) {
        char *g = json_dumps(got, JSON_COMPACT | JSON_SORT_KEYS);
        char *e = json_dumps(exp, JSON_COMPACT | JSON_SORT_KEYS);
        print_error("got      %s\nexpected %s\n", g ? g : "NULL", e ? e : "NULL");
        free(g);
        free(e);
    }
    assert_true(json_equal(got, exp));
    json_decref(exp);
    free(exp_text);
}

/* Everything in s is printable ASCII (what may go to a log unescaped). */
static void assert_printable(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p < 0x20 || *p > 0x7e)
            print_error("byte 0x%02x at %zu in \"%s\"\n", *p,
                        (size_t)(p - (const unsigned char *)s), s);
        assert_true(*p >= 0x20 && *p <= 0x7e);
    }
}

/* ------------------------------------------------------------------------
 * Table 1: every command of both dialects parses to the expected model
 * ------------------------------------------------------------------------ */

typedef struct ok_case {
    const char *name;
    const char *body;
    proto_dialect dialect;
    proto_kind kind;
    const char *cname; /* canonical name */
    const char *verb;
    const char *container;
    const char *image;
} ok_case;

#define DD PROTO_DIALECT_DISPATCH
#define DM PROTO_DIALECT_DOCKERMOD

static const ok_case ok_cases[] = {
    {"run", "{'Dockercmd':'run','Image':'busybox','Cmd':['echo','hi']}", DD, PROTO_CMD_RUN, "run",
     "run", NULL, "busybox"},
    {"create", "{'Dockercmd':'create','Image':'busybox:latest'}", DD, PROTO_CMD_CREATE, "create",
     "create", NULL, "busybox:latest"},
    {"start", "{'Dockercmd':'start','Container':'c1'}", DD, PROTO_CMD_START, "start", "start", "c1",
     NULL},
    {"stop", "{'Dockercmd':'stop','Container':'c1','Options':{'Time':5}}", DD, PROTO_CMD_STOP,
     "stop", "stop", "c1", NULL},
    {"restart", "{'Dockercmd':'restart','Container':'c1'}", DD, PROTO_CMD_RESTART, "restart",
     "restart", "c1", NULL},
    {"kill", "{'Dockercmd':'kill','Container':'c1','Options':{'Signal':'SIGTERM'}}", DD,
     PROTO_CMD_KILL, "kill", "kill", "c1", NULL},
    {"pause", "{'Dockercmd':'pause','Container':'c1'}", DD, PROTO_CMD_PAUSE, "pause", "pause", "c1",
     NULL},
    {"unpause", "{'Dockercmd':'unpause','Container':'c1'}", DD, PROTO_CMD_UNPAUSE, "unpause",
     "unpause", "c1", NULL},
    {"rename", "{'Dockercmd':'rename','Container':'c1','Options':{'NewName':'c2'}}", DD,
     PROTO_CMD_RENAME, "rename", "rename", "c1", NULL},
    {"remove", "{'Dockercmd':'remove','Container':'hello_world'}", DD, PROTO_CMD_REMOVE, "remove",
     "remove", "hello_world", NULL},
    {"rm alias", "{'Dockercmd':'rm','Container':'c1'}", DD, PROTO_CMD_REMOVE, "remove", "remove",
     "c1", NULL},
    {"wait", "{'Dockercmd':'wait','Container':'c1','Options':{'Condition':'next-exit'}}", DD,
     PROTO_CMD_WAIT, "wait", "wait", "c1", NULL},
    {"inspect", "{'Dockercmd':'inspect','Container':'0123abcd'}", DD, PROTO_CMD_INSPECT, "inspect",
     "inspect", "0123abcd", NULL},
    {"list", "{'Dockercmd':'list'}", DD, PROTO_CMD_LIST, "list", "list", NULL, NULL},
    {"ps alias", "{'Dockercmd':'ps','Options':{'All':true}}", DD, PROTO_CMD_LIST, "list", "list",
     NULL, NULL},
    {"logs", "{'Dockercmd':'logs','Container':'c1','Options':{'Tail':10}}", DD, PROTO_CMD_LOGS,
     "logs", "logs", "c1", NULL},
    {"top", "{'Dockercmd':'top','Container':'c1','Options':{'PsArgs':'-ef'}}", DD, PROTO_CMD_TOP,
     "top", "top", "c1", NULL},
    {"top aux", "{'Dockercmd':'top','Container':'c1','Options':{'PsArgs':'aux'}}", DD,
     PROTO_CMD_TOP, "top", "top", "c1", NULL},
    {"top -eo pid,user,args",
     "{'Dockercmd':'top','Container':'c1','Options':{'PsArgs':'-eo pid,user,args'}}", DD,
     PROTO_CMD_TOP, "top", "top", "c1", NULL},
    {"top o pid,ppid,etime,comm",
     "{'Dockercmd':'top','Container':'c1','Options':{'PsArgs':'o pid,ppid,etime,comm'}}", DD,
     PROTO_CMD_TOP, "top", "top", "c1", NULL},
    {"top -A -f", "{'Dockercmd':'top','Container':'c1','Options':{'PsArgs':'-A -f'}}", DD,
     PROTO_CMD_TOP, "top", "top", "c1", NULL},
    {"top axjf -o pid,stat,wchan",
     "{'Dockercmd':'top','Container':'c1','Options':{'PsArgs':'axjf -o pid,stat,wchan'}}", DD,
     PROTO_CMD_TOP, "top", "top", "c1", NULL},
    {"changes", "{'Dockercmd':'changes','Container':'c1'}", DD, PROTO_CMD_CHANGES, "changes",
     "changes", "c1", NULL},
    {"exec", "{'Dockercmd':'exec','Container':'c1','Cmd':['ls','/']}", DD, PROTO_CMD_EXEC, "exec",
     "exec", "c1", NULL},
    {"pull", "{'Dockercmd':'pull','Image':'localhost:5000/busybox','Options':{'Tag':'latest'}}", DD,
     PROTO_CMD_PULL, "pull", "pull", NULL, "localhost:5000/busybox"},
    {"images", "{'Dockercmd':'images'}", DD, PROTO_CMD_IMAGES, "images", "images", NULL, NULL},
    {"image-inspect", "{'Dockercmd':'image-inspect','Image':'busybox'}", DD,
     PROTO_CMD_IMAGE_INSPECT, "image-inspect", "image-inspect", NULL, "busybox"},
    {"image-tag",
     "{'Dockercmd':'image-tag','Image':'busybox','Options':{'Repo':'localhost:5000/bb',"
     "'Tag':'v1'}}",
     DD, PROTO_CMD_IMAGE_TAG, "image-tag", "image-tag", NULL, "busybox"},
    {"image-remove", "{'Dockercmd':'image-remove','Image':'busybox','Options':{'Force':true}}", DD,
     PROTO_CMD_IMAGE_REMOVE, "image-remove", "image-remove", NULL, "busybox"},
    {"rmi alias", "{'Dockercmd':'rmi','Image':'busybox'}", DD, PROTO_CMD_IMAGE_REMOVE,
     "image-remove", "image-remove", NULL, "busybox"},
    {"volume-create", "{'Dockercmd':'volume-create','Volume':'data1'}", DD, PROTO_CMD_VOLUME_CREATE,
     "volume-create", "volume-create", NULL, NULL},
    {"volume-create unnamed", "{'Dockercmd':'volume-create'}", DD, PROTO_CMD_VOLUME_CREATE,
     "volume-create", "volume-create", NULL, NULL},
    {"volume-list", "{'Dockercmd':'volume-list'}", DD, PROTO_CMD_VOLUME_LIST, "volume-list",
     "volume-list", NULL, NULL},
    {"volume-inspect", "{'Dockercmd':'volume-inspect','Volume':'data1'}", DD,
     PROTO_CMD_VOLUME_INSPECT, "volume-inspect", "volume-inspect", NULL, NULL},
    {"volume-remove", "{'Dockercmd':'volume-remove','Volume':'data1','Options':{'Force':true}}", DD,
     PROTO_CMD_VOLUME_REMOVE, "volume-remove", "volume-remove", NULL, NULL},
    {"info", "{'Dockercmd':'info'}", DD, PROTO_CMD_INFO, "info", "info", NULL, NULL},
    {"version", "{'Dockercmd':'version'}", DD, PROTO_CMD_VERSION, "version", "version", NULL, NULL},
    {"ping", "{'Dockercmd':'ping'}", DD, PROTO_CMD_PING, "ping", "ping", NULL, NULL},
    {"nodes", "{'Dockercmd':'nodes'}", DD, PROTO_CMD_NODES, "nodes", "nodes", NULL, NULL},
    {"commit", "{'Dockercmd':'commit','Container':'c1','Options':{'Repo':'jobs/out'}}", DD,
     PROTO_CMD_COMMIT, "commit", "commit", "c1", NULL},
    {"archive-get", "{'Dockercmd':'archive-get','Container':'c1','Options':{'Path':'/etc/x'}}", DD,
     PROTO_CMD_ARCHIVE_GET, "archive-get", "archive-get", "c1", NULL},
    {"archive-get of a directory's contents",
     "{'Dockercmd':'archive-get','Container':'c1','Options':{'Path':'/tmp//./procs/.'}}", DD,
     PROTO_CMD_ARCHIVE_GET, "archive-get", "archive-get", "c1", NULL},
    {"archive-put",
     "{'Dockercmd':'archive-put','Container':'c1','Options':{'Path':'/tmp','Archive':'aGk='}}", DD,
     PROTO_CMD_ARCHIVE_PUT, "archive-put", "archive-put", "c1", NULL},
    {"network-create", "{'Dockercmd':'network-create','Network':'n1'}", DD,
     PROTO_CMD_NETWORK_CREATE, "network-create", "network-create", NULL, NULL},
    {"network-list", "{'Dockercmd':'network-list'}", DD, PROTO_CMD_NETWORK_LIST, "network-list",
     "network-list", NULL, NULL},
    {"network-inspect", "{'Dockercmd':'network-inspect','Network':'n1'}", DD,
     PROTO_CMD_NETWORK_INSPECT, "network-inspect", "network-inspect", NULL, NULL},
    {"network-connect", "{'Dockercmd':'network-connect','Network':'n1','Container':'c1'}", DD,
     PROTO_CMD_NETWORK_CONNECT, "network-connect", "network-connect", "c1", NULL},
    {"network-disconnect",
     "{'Dockercmd':'network-disconnect','Network':'n1','Container':'c1','Options':{'Force':true}}",
     DD, PROTO_CMD_NETWORK_DISCONNECT, "network-disconnect", "network-disconnect", "c1", NULL},
    {"network-remove", "{'Dockercmd':'network-remove','Network':'n1'}", DD,
     PROTO_CMD_NETWORK_REMOVE, "network-remove", "network-remove", NULL, NULL},

    /* DockerMod */
    {"dm create-container image", "{'action':'create-container','image':'ubuntu'}", DM,
     PROTO_CMD_CREATE, "create", "create-container", NULL, "ubuntu"},
    {"dm create-container template",
     "{'action':'create-container','template':'test',"
     "'instances':4}",
     DM, PROTO_CMD_CREATE, "create", "create-container", NULL, NULL},
    {"dm start-container", "{'action':'start-container','id':'b276fbe'}", DM, PROTO_CMD_START,
     "start", "start-container", "b276fbe", NULL},
    {"dm stop-container",
     "{'action':'stop-container','id':"
     "'b276fbefc5c5d852a3c34a2999d8b26cb473e1a96ff611fe67f65f9cf635c70f'}",
     DM, PROTO_CMD_STOP, "stop", "stop-container",
     "b276fbefc5c5d852a3c34a2999d8b26cb473e1a96ff611fe67f65f9cf635c70f", NULL},
    {"dm restart-container", "{'action':'restart-container','id':'b276fbe'}", DM, PROTO_CMD_RESTART,
     "restart", "restart-container", "b276fbe", NULL},
    {"dm delete-container", "{'action':'delete-container','id':'0d0ff6977ed1'}", DM,
     PROTO_CMD_REMOVE, "remove", "delete-container", "0d0ff6977ed1", NULL},
    {"dm inspect-container", "{'action':'inspect-container','id':'b276fbe'}", DM, PROTO_CMD_INSPECT,
     "inspect", "inspect-container", "b276fbe", NULL},
    {"dm list-containers", "{'action':'list-containers','all':true}", DM, PROTO_CMD_LIST, "list",
     "list-containers", NULL, NULL},
    {"dm list-images", "{'action':'list-images'}", DM, PROTO_CMD_IMAGES, "images", "list-images",
     NULL, NULL},
    {"dm create-raw-container", "{'action':'create-raw-container','body':{'Image':'busybox'}}", DM,
     PROTO_CMD_CREATE, "create", "create-raw-container", NULL, "busybox"},
    {"dm register", "{'action':'register','hostname':'sthmaclt009.local'}", DM, PROTO_CMD_REGISTER,
     "register", "register", NULL, NULL},
    {"dm unregister", "{'action':'unregister','hostname':'sthmaclt009.local'}", DM,
     PROTO_CMD_UNREGISTER, "unregister", "unregister", NULL, NULL},

    /* case-insensitive keys and command names, nulls, numbers */
    {"keys lower", "{'dockercmd':'stop','container':'c1','options':{'time':5}}", DD, PROTO_CMD_STOP,
     "stop", "stop", "c1", NULL},
    {"keys upper", "{'DOCKERCMD':'stop','CONTAINER':'c1','OPTIONS':{'TIME':5}}", DD, PROTO_CMD_STOP,
     "stop", "stop", "c1", NULL},
    {"keys camel", "{'DockerCmd':'stop','ContaIner':'c1','oPtIoNs':{'tImE':5}}", DD, PROTO_CMD_STOP,
     "stop", "stop", "c1", NULL},
    {"command upper", "{'Dockercmd':'STOP','Container':'c1'}", DD, PROTO_CMD_STOP, "stop", "stop",
     "c1", NULL},
    {"dm keys upper", "{'ACTION':'start-container','ID':'abc'}", DM, PROTO_CMD_START, "start",
     "start-container", "abc", NULL},
    {"Options null", "{'Dockercmd':'start','Container':'c1','Options':null}", DD, PROTO_CMD_START,
     "start", "start", "c1", NULL},
    {"Options empty", "{'Dockercmd':'start','Container':'c1','Options':{}}", DD, PROTO_CMD_START,
     "start", "start", "c1", NULL},
    {"null field is absent", "{'Dockercmd':'stop','Container':'c1','Options':{'Time':null}}", DD,
     PROTO_CMD_STOP, "stop", "stop", "c1", NULL},
    {"integral real", "{'Dockercmd':'stop','Container':'c1','Options':{'Time':5.0}}", DD,
     PROTO_CMD_STOP, "stop", "stop", "c1", NULL},
    {"whitespace", " \n\t{ 'Dockercmd' : 'ping' } \n", DD, PROTO_CMD_PING, "ping", "ping", NULL,
     NULL},
    {"image digest",
     "{'Dockercmd':'image-inspect','Image':'busybox@sha256:"
     "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef'}",
     DD, PROTO_CMD_IMAGE_INSPECT, "image-inspect", "image-inspect", NULL,
     "busybox@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"},
    {"container 128 chars",
     "{'Dockercmd':'start','Container':'"
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'}",
     DD, PROTO_CMD_START, "start", "start",
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
     NULL},
    {"unicode in Cmd", "{'Dockercmd':'run','Image':'busybox','Cmd':['echo','h\\u00e9llo \\u2603']}",
     DD, PROTO_CMD_RUN, "run", "run", NULL, "busybox"},
};

static void t_ok_case(void **state)
{
    const ok_case *tc = *state;
    proto_cmd *cmd = parse_ok(tc->body);

    assert_int_equal(cmd->dialect, tc->dialect);
    assert_int_equal(cmd->kind, tc->kind);
    assert_string_equal(proto_cmd_name(cmd), tc->cname);
    assert_string_equal(proto_kind_name(cmd->kind), tc->cname);
    assert_str(cmd->verb, tc->verb);
    assert_str(cmd->container, tc->container);
    assert_str(cmd->image, tc->image);
    proto_cmd_free(cmd);
}

/* ------------------------------------------------------------------------
 * Table 2: every refusal has the right code and names the right field
 * ------------------------------------------------------------------------ */

typedef struct err_case {
    const char *name;
    const char *body;
    int code;
    const char *field;
    const char *msg_has; /* substring of the message, or NULL */
} err_case;

#define BAD PROTO_EBADREQUEST
#define UNK PROTO_EUNKNOWNCMD

static const err_case err_cases[] = {
    /* not a usable message */
    {"not JSON", "hello", BAD, "", "invalid JSON"},
    {"seed README text (not JSON)",
     "{\n  Dockercmd: 'run',\n  Options: {\n    Name: 'hello_world',\n    Attach: ['STDOUT', "
     "'STDERR'],\n    Remove: true\n  },\n  Image: 'debian:jessie'\n  Cmd: ['echo', 'hello "
     "world!']\n}",
     BAD, "", "invalid JSON at line 2"},
    {"seed stop text missing comma",
     "{'Dockercmd': 'stop', 'Options': {'Time': 5} 'Container': 'hello_world'}", BAD, "",
     "invalid JSON"},
    {"array body", "[]", BAD, "", "must be a JSON object, got an array"},
    {"exec timeout over its maximum",
     "{'Dockercmd':'exec','Container':'c1','Cmd':['true'],'Options':{'Timeout':1201}}", BAD,
     "Options.Timeout", "exec may take at most 1200 s (got 1201); longer work belongs in a run"},
    {"string body", "'run'", BAD, "", "got \"run\""},
    {"number body", "42", BAD, "", "got 42"},
    {"null body", "null", BAD, "", "got null"},
    {"true body", "true", BAD, "", "got true"},
    {"truncated", "{'Dockercmd':'run'", BAD, "", "invalid JSON"},
    {"trailing garbage", "{'Dockercmd':'ping'} x", BAD, "", "invalid JSON"},
    {"two objects", "{'Dockercmd':'ping'}{}", BAD, "", "invalid JSON"},
    {"invalid UTF-8", "{'Dockercmd':'\xff'}", BAD, "", "invalid JSON"},
    {"escaped NUL", "{'Dockercmd':'pi\\u0000ng'}", BAD, "", "invalid JSON"},
    {"huge integer", "{'Dockercmd':'stop','Container':'c','Options':{'Time':99999999999999999999}}",
     BAD, "", "invalid JSON"},
    {"empty object", "{}", BAD, "Dockercmd", "missing"},
    {"only other keys", "{'Image':'busybox'}", BAD, "Dockercmd", "missing"},
    {"both dialects", "{'Dockercmd':'ping','action':'list-images'}", BAD, "action", "not both"},

    /* the command */
    {"Dockercmd number", "{'Dockercmd':5}", BAD, "Dockercmd", "must be a string, got 5"},
    {"Dockercmd null", "{'Dockercmd':null}", BAD, "Dockercmd", "must be a string, got null"},
    {"action array", "{'action':[]}", BAD, "action", "got an array"},
    {"unknown command", "{'Dockercmd':'fly'}", UNK, "Dockercmd", "unknown command \"fly\""},
    {"unknown action", "{'action':'fly'}", UNK, "action", "unknown command"},
    {"DockerMod verb in dispatch dialect", "{'Dockercmd':'create-container','Image':'x'}", UNK,
     "Dockercmd", NULL},
    {"dispatch verb in DockerMod dialect", "{'action':'run','image':'busybox'}", UNK, "action",
     NULL},
    {"empty command", "{'Dockercmd':''}", UNK, "Dockercmd", NULL},

    /* duplicate keys */
    {"exact duplicate", "{'Dockercmd':'ping','Dockercmd':'ping'}", BAD, "", "duplicate"},
    {"ci duplicate command key", "{'Dockercmd':'ping','dockercmd':'ping'}", BAD, "dockercmd",
     "duplicate key"},
    {"ci duplicate Image", "{'Dockercmd':'run','Image':'a1','IMAGE':'b1'}", BAD, "IMAGE",
     "\"Image\" and \"IMAGE\""},
    {"ci duplicate Options key",
     "{'Dockercmd':'stop','Container':'c','Options':{'Time':1,"
     "'time':2}}",
     BAD, "Options.time", "duplicate key"},
    {"ci duplicate Options", "{'Dockercmd':'stop','Container':'c','Options':{},'options':{}}", BAD,
     "options", "duplicate key"},
    {"ci duplicate dm", "{'action':'start-container','id':'a1','ID':'b1'}", BAD, "ID",
     "duplicate key"},

    /* unknown and unaccepted fields */
    {"unknown top field", "{'Dockercmd':'ping','Foo':1}", BAD, "Foo", "unknown field"},
    {"unknown option", "{'Dockercmd':'stop','Container':'c','Options':{'Bogus':1}}", BAD,
     "Options.Bogus", "unknown field"},
    {"unknown option escaped", "{'Dockercmd':'stop','Container':'c','Options':{'a\\nb':1}}", BAD,
     "Options.\"a\\nb\"", "unknown field"},
    {"Options in DockerMod", "{'action':'list-images','Options':{}}", BAD, "Options",
     "unknown field"},
    {"dm field in dispatch", "{'Dockercmd':'start','id':'c1'}", BAD, "id", "unknown field"},
    {"Image not for stop", "{'Dockercmd':'stop','Container':'c','Image':'busybox'}", BAD, "Image",
     "not accepted by \"stop\""},
    {"Time not for start", "{'Dockercmd':'start','Container':'c','Options':{'Time':1}}", BAD,
     "Options.Time", "not accepted by \"start\""},
    {"Attach not for create", "{'Dockercmd':'create','Image':'b1','Options':{'Attach':[]}}", BAD,
     "Options.Attach", "not accepted"},
    {"Container not for ping", "{'Dockercmd':'ping','Container':'c'}", BAD, "Container",
     "not accepted"},
    {"Cmd not for stop", "{'Dockercmd':'stop','Container':'c','Cmd':[]}", BAD, "Cmd",
     "not accepted"},
    {"instances not for start-container", "{'action':'start-container','id':'c','instances':2}",
     BAD, "instances", "not accepted"},
    {"template not for raw",
     "{'action':'create-raw-container','body':{'Image':'b1'},"
     "'template':'t'}",
     BAD, "template", "not accepted"},

    /* required fields */
    {"run needs Image", "{'Dockercmd':'run','Cmd':['true']}", BAD, "Image", "required by \"run\""},
    {"run Image null", "{'Dockercmd':'run','Image':null}", BAD, "Image", "required"},
    {"stop needs Container", "{'Dockercmd':'stop'}", BAD, "Container", "required by \"stop\""},
    {"exec needs Cmd", "{'Dockercmd':'exec','Container':'c'}", BAD, "Cmd", "required"},
    {"exec empty Cmd", "{'Dockercmd':'exec','Container':'c','Cmd':[]}", BAD, "Cmd",
     "must name a program"},
    {"exec empty program", "{'Dockercmd':'exec','Container':'c','Cmd':['']}", BAD, "Cmd",
     "must name a program"},
    {"image-tag needs Repo", "{'Dockercmd':'image-tag','Image':'busybox'}", BAD, "Options.Repo",
     "required"},
    {"volume-inspect needs Volume", "{'Dockercmd':'volume-inspect'}", BAD, "Volume", "required"},
    {"pull needs Image", "{'Dockercmd':'pull'}", BAD, "Image", "required"},
    {"start-container needs id", "{'action':'start-container'}", BAD, "id", "required"},
    {"register needs hostname", "{'action':'register'}", BAD, "hostname", "required"},
    {"raw needs body", "{'action':'create-raw-container'}", BAD, "body", "required"},
    {"create-container needs image or template", "{'action':'create-container'}", BAD, "image",
     "\"image\" or \"template\""},
    {"rename needs a name", "{'Dockercmd':'rename','Container':'c'}", BAD, "Options.NewName",
     "required"},
    {"rename twice",
     "{'Dockercmd':'rename','Container':'c','Options':{'Name':'n1','NewName':"
     "'n2'}}",
     BAD, "Options.Name", "once"},

    /* types and ranges */
    {"Options array", "{'Dockercmd':'stop','Container':'c','Options':[]}", BAD, "Options",
     "must be an object"},
    {"Time negative", "{'Dockercmd':'stop','Container':'c','Options':{'Time':-1}}", BAD,
     "Options.Time", "from 0 to 86400, got -1"},
    {"Time too big", "{'Dockercmd':'stop','Container':'c','Options':{'Time':86401}}", BAD,
     "Options.Time", NULL},
    {"Time string", "{'Dockercmd':'stop','Container':'c','Options':{'Time':'5'}}", BAD,
     "Options.Time", "must be an integer, got \"5\""},
    {"Time fraction", "{'Dockercmd':'stop','Container':'c','Options':{'Time':1.5}}", BAD,
     "Options.Time", "must be an integer, got 1.5"},
    {"Time bool", "{'Dockercmd':'stop','Container':'c','Options':{'Time':true}}", BAD,
     "Options.Time", "got true"},
    {"Timeout zero", "{'Dockercmd':'run','Image':'b1','Options':{'Timeout':0}}", BAD,
     "Options.Timeout", "from 1"},
    {"Memory negative", "{'Dockercmd':'run','Image':'b1','Options':{'Memory':-1}}", BAD,
     "Options.Memory", NULL},
    {"Memory string", "{'Dockercmd':'run','Image':'b1','Options':{'Memory':'512m'}}", BAD,
     "Options.Memory", "integer"},
    {"Cpus zero", "{'Dockercmd':'run','Image':'b1','Options':{'Cpus':0}}", BAD, "Options.Cpus",
     "above 0"},
    {"Cpus negative", "{'Dockercmd':'run','Image':'b1','Options':{'Cpus':-0.5}}", BAD,
     "Options.Cpus", NULL},
    {"Cpus huge", "{'Dockercmd':'run','Image':'b1','Options':{'Cpus':2000}}", BAD, "Options.Cpus",
     NULL},
    {"Cpus tiny", "{'Dockercmd':'run','Image':'b1','Options':{'Cpus':1e-12}}", BAD, "Options.Cpus",
     NULL},
    {"Cpus string", "{'Dockercmd':'run','Image':'b1','Options':{'Cpus':'1'}}", BAD, "Options.Cpus",
     "must be a number"},
    {"PidsLimit -2", "{'Dockercmd':'run','Image':'b1','Options':{'PidsLimit':-2}}", BAD,
     "Options.PidsLimit", NULL},
    {"OutputLimit over max",
     "{'Dockercmd':'run','Image':'b1','Options':{'OutputLimit':"
     "16777217}}",
     BAD, "Options.OutputLimit", "to 16777216"},
    {"Remove string", "{'Dockercmd':'run','Image':'b1','Options':{'Remove':'yes'}}", BAD,
     "Options.Remove", "true or false"},
    {"Tty number", "{'Dockercmd':'run','Image':'b1','Options':{'Tty':1}}", BAD, "Options.Tty",
     "true or false"},
    {"Limit negative", "{'Dockercmd':'list','Options':{'Limit':-1}}", BAD, "Options.Limit", NULL},
    {"Tail negative", "{'Dockercmd':'logs','Container':'c','Options':{'Tail':-1}}", BAD,
     "Options.Tail", NULL},
    {"Since negative", "{'Dockercmd':'logs','Container':'c','Options':{'Since':-5}}", BAD,
     "Options.Since", NULL},
    {"logs nothing",
     "{'Dockercmd':'logs','Container':'c','Options':{'Stdout':false,'Stderr':"
     "false}}",
     BAD, "Options.Stdout", "both be false"},
    {"logs Until before Since",
     "{'Dockercmd':'logs','Container':'c','Options':{'Since':100,"
     "'Until':50}}",
     BAD, "Options.Until", "before Since"},
    {"instances zero", "{'action':'create-container','image':'b1','instances':0}", BAD, "instances",
     "from 1 to 1000"},
    {"instances 1001", "{'action':'create-container','image':'b1','instances':1001}", BAD,
     "instances", NULL},
    {"instances string", "{'action':'create-container','image':'b1','instances':'2'}", BAD,
     "instances", "integer"},
    {"dm all string", "{'action':'list-containers','all':'yes'}", BAD, "all", NULL},
    {"dm time negative", "{'action':'stop-container','id':'c','time':-1}", BAD, "time", NULL},

    /* references and names */
    {"Container with slash", "{'Dockercmd':'start','Container':'a/b'}", BAD, "Container",
     "[A-Za-z0-9_.-]"},
    {"Container dotdot", "{'Dockercmd':'start','Container':'..'}", BAD, "Container", NULL},
    {"Container leading dash", "{'Dockercmd':'start','Container':'-x'}", BAD, "Container", NULL},
    {"Container empty", "{'Dockercmd':'start','Container':''}", BAD, "Container", "empty"},
    {"Container 129 chars",
     "{'Dockercmd':'start','Container':'"
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'}",
     BAD, "Container", "got 129"},
    {"Container control char", "{'Dockercmd':'start','Container':'a\\u0001b'}", BAD, "Container",
     "\"a\\x01b\""},
    {"Container query chars", "{'Dockercmd':'start','Container':'a?force=1'}", BAD, "Container",
     NULL},
    {"Container number", "{'Dockercmd':'start','Container':7}", BAD, "Container",
     "must be a string, got 7"},
    {"dm id with space", "{'action':'inspect-container','id':'a b'}", BAD, "id", NULL},
    {"Image with space", "{'Dockercmd':'run','Image':'busy box'}", BAD, "Image", NULL},
    {"Image dot segment", "{'Dockercmd':'image-inspect','Image':'a/../../containers/x'}", BAD,
     "Image", "dot path segment"},
    {"Image leading slash", "{'Dockercmd':'pull','Image':'/etc'}", BAD, "Image", NULL},
    {"Image empty segment", "{'Dockercmd':'pull','Image':'a//b'}", BAD, "Image", NULL},
    {"Image trailing slash", "{'Dockercmd':'pull','Image':'a/'}", BAD, "Image", NULL},
    {"Image query", "{'Dockercmd':'pull','Image':'a?b'}", BAD, "Image", NULL},
    {"Image unicode", "{'Dockercmd':'pull','Image':'b\\u00fcsybox'}", BAD, "Image",
     "\"b\\xc3\\xbcsybox\""},
    {"Name one char", "{'Dockercmd':'run','Image':'b1','Options':{'Name':'a'}}", BAD,
     "Options.Name", "2 to 128"},
    {"Name with space", "{'Dockercmd':'run','Image':'b1','Options':{'Name':'a b'}}", BAD,
     "Options.Name", NULL},
    {"NewName slash", "{'Dockercmd':'rename','Container':'c','Options':{'NewName':'a/b'}}", BAD,
     "Options.NewName", NULL},
    {"dm name bad", "{'action':'create-container','image':'b1','name':'x y'}", BAD, "name", NULL},
    {"dm name with instances",
     "{'action':'create-container','image':'b1','name':'web',"
     "'instances':2}",
     BAD, "name", "more than one"},
    {"template traversal", "{'action':'create-container','template':'../etc/passwd'}", BAD,
     "template", NULL},
    {"hostname bad", "{'action':'register','hostname':'bad host'}", BAD, "hostname", NULL},
    {"Volume slash", "{'Dockercmd':'volume-inspect','Volume':'a/b'}", BAD, "Volume", NULL},
    {"Tag with space", "{'Dockercmd':'pull','Image':'busybox','Options':{'Tag':'a b'}}", BAD,
     "Options.Tag", NULL},
    {"Tag leading dot", "{'Dockercmd':'pull','Image':'busybox','Options':{'Tag':'.x'}}", BAD,
     "Options.Tag", NULL},
    {"pull tag twice", "{'Dockercmd':'pull','Image':'busybox:1','Options':{'Tag':'2'}}", BAD,
     "Options.Tag", "already names a tag"},
    {"pull digest and tag",
     "{'Dockercmd':'pull','Image':'busybox@sha256:ab','Options':{'Tag':"
     "'2'}}",
     BAD, "Options.Tag", NULL},
    {"Signal bad", "{'Dockercmd':'kill','Container':'c','Options':{'Signal':'KILL;'}}", BAD,
     "Options.Signal", NULL},
    {"Signal empty", "{'Dockercmd':'kill','Container':'c','Options':{'Signal':''}}", BAD,
     "Options.Signal", "empty"},
    {"Condition bad", "{'Dockercmd':'wait','Container':'c','Options':{'Condition':'whenever'}}",
     BAD, "Options.Condition", "not-running"},
    {"PsArgs the environment", "{'Dockercmd':'top','Container':'c','Options':{'PsArgs':'aux e'}}",
     BAD, "Options.PsArgs", "fixed set"},
    {"PsArgs the environment, dash form",
     "{'Dockercmd':'top','Container':'c','Options':{'PsArgs':'-ef e'}}", BAD, "Options.PsArgs",
     "fixed set"},
    {"PsArgs a column renamed PID",
     "{'Dockercmd':'top','Container':'c','Options':{'PsArgs':'-o ppid=PID'}}", BAD,
     "Options.PsArgs", "fixed set"},
    {"PsArgs a field outside the list",
     "{'Dockercmd':'top','Container':'c','Options':{'PsArgs':'-o pid,cgroup'}}", BAD,
     "Options.PsArgs", "fixed set"},
    {"PsArgs an option with an argument",
     "{'Dockercmd':'top','Container':'c','Options':{'PsArgs':'-p 1'}}", BAD, "Options.PsArgs",
     "fixed set"},
    {"PsArgs a long option",
     "{'Dockercmd':'top','Container':'c','Options':{'PsArgs':'--sort pid'}}", BAD, "Options.PsArgs",
     "fixed set"},
    {"PsArgs -o without fields",
     "{'Dockercmd':'top','Container':'c','Options':{'PsArgs':'-ef -o'}}", BAD, "Options.PsArgs",
     "fixed set"},
    {"PsArgs an empty field",
     "{'Dockercmd':'top','Container':'c','Options':{'PsArgs':'-o pid,,args'}}", BAD,
     "Options.PsArgs", "fixed set"},
    {"PsArgs a trailing space", "{'Dockercmd':'top','Container':'c','Options':{'PsArgs':'-ef '}}",
     BAD, "Options.PsArgs", "fixed set"},
    {"PsArgs a doubled space", "{'Dockercmd':'top','Container':'c','Options':{'PsArgs':'-e  -f'}}",
     BAD, "Options.PsArgs", "fixed set"},
    {"PsArgs a lone dash", "{'Dockercmd':'top','Container':'c','Options':{'PsArgs':'- aux'}}", BAD,
     "Options.PsArgs", "fixed set"},
    {"PsArgs sort keys", "{'Dockercmd':'top','Container':'c','Options':{'PsArgs':'aux O pid'}}",
     BAD, "Options.PsArgs", "fixed set"},
    {"PsArgs bad", "{'Dockercmd':'top','Container':'c','Options':{'PsArgs':'aux;rm'}}", BAD,
     "Options.PsArgs", NULL},
    {"User bad", "{'Dockercmd':'run','Image':'b1','Options':{'User':'root user'}}", BAD,
     "Options.User", NULL},
    {"WorkingDir relative", "{'Dockercmd':'run','Image':'b1','Options':{'WorkingDir':'tmp'}}", BAD,
     "Options.WorkingDir", "absolute"},
    {"Hostname bad", "{'Dockercmd':'run','Image':'b1','Options':{'Hostname':'-h'}}", BAD,
     "Options.Hostname", NULL},
    {"NetworkMode bad", "{'Dockercmd':'run','Image':'b1','Options':{'NetworkMode':'host;x'}}", BAD,
     "Options.NetworkMode", NULL},
    {"Driver traversal", "{'Dockercmd':'volume-create','Options':{'Driver':'a/../b'}}", BAD,
     "Options.Driver", NULL},

    /* arrays and objects */
    {"Cmd string", "{'Dockercmd':'run','Image':'b1','Cmd':'echo hi'}", BAD, "Cmd",
     "array of strings"},
    {"Cmd number item", "{'Dockercmd':'run','Image':'b1','Cmd':['echo',1]}", BAD, "Cmd[1]",
     "must be a string, got 1"},
    {"Entrypoint number", "{'Dockercmd':'run','Image':'b1','Options':{'Entrypoint':5}}", BAD,
     "Options.Entrypoint", NULL},
    {"Entrypoint item", "{'Dockercmd':'run','Image':'b1','Options':{'Entrypoint':['sh',{}]}}", BAD,
     "Options.Entrypoint[1]", "got an object"},
    {"Attach bad value", "{'Dockercmd':'run','Image':'b1','Options':{'Attach':['STDIO']}}", BAD,
     "Options.Attach[0]", "\"STDIO\""},
    {"Attach not array", "{'Dockercmd':'run','Image':'b1','Options':{'Attach':'STDOUT'}}", BAD,
     "Options.Attach", "array"},
    {"Env no equals", "{'Dockercmd':'run','Image':'b1','Options':{'Env':['A=1','NOEQ']}}", BAD,
     "Options.Env[1]", "NAME=value"},
    {"Env empty name", "{'Dockercmd':'run','Image':'b1','Options':{'Env':['=x']}}", BAD,
     "Options.Env[0]", NULL},
    {"Env object number", "{'Dockercmd':'run','Image':'b1','Options':{'Env':{'A':1}}}", BAD,
     "Options.Env.A", "must be a string"},
    {"Env object bad name", "{'Dockercmd':'run','Image':'b1','Options':{'Env':{'A B':'1'}}}", BAD,
     "Options.Env.\"A B\"", NULL},
    {"Env string", "{'Dockercmd':'run','Image':'b1','Options':{'Env':'A=1'}}", BAD, "Options.Env",
     NULL},
    {"dm env bad", "{'action':'create-container','image':'b1','env':['X']}", BAD, "env[0]", NULL},
    {"Labels number", "{'Dockercmd':'run','Image':'b1','Options':{'Labels':{'a':1}}}", BAD,
     "Options.Labels.a", "must be a string"},
    {"Labels array", "{'Dockercmd':'run','Image':'b1','Options':{'Labels':['a=b']}}", BAD,
     "Options.Labels", "object"},
    {"Labels reserved",
     "{'Dockercmd':'run','Image':'b1','Options':{'Labels':"
     "{'io.docker-dispatch.request':'x'}}}",
     BAD, "Options.Labels.io.docker-dispatch.request", "reserved"},
    {"Labels reserved any case",
     "{'Dockercmd':'create','Image':'b1','Options':{'Labels':"
     "{'IO.Docker-Dispatch.node':'x'}}}",
     BAD, "Options.Labels.IO.Docker-Dispatch.node", "reserved"},
    {"volume Labels reserved",
     "{'Dockercmd':'volume-create','Options':{'Labels':"
     "{'io.docker-dispatch.x':'y'}}}",
     BAD, "Options.Labels.io.docker-dispatch.x", "reserved"},
    {"Binds no colon", "{'Dockercmd':'run','Image':'b1','Options':{'Binds':['/data']}}", BAD,
     "Options.Binds[0]", NULL},
    {"Binds relative target", "{'Dockercmd':'run','Image':'b1','Options':{'Binds':['/a:b']}}", BAD,
     "Options.Binds[0]", NULL},
    {"Ports word", "{'Dockercmd':'run','Image':'b1','Options':{'Ports':['http']}}", BAD,
     "Options.Ports[0]", NULL},
    {"Ports out of range", "{'Dockercmd':'run','Image':'b1','Options':{'Ports':['70000']}}", BAD,
     "Options.Ports[0]", NULL},
    {"Ports zero", "{'Dockercmd':'run','Image':'b1','Options':{'Ports':['8080:0']}}", BAD,
     "Options.Ports[0]", NULL},
    {"Ports protocol", "{'Dockercmd':'run','Image':'b1','Options':{'Ports':['80/icmp']}}", BAD,
     "Options.Ports[0]", NULL},
    {"Ports empty host", "{'Dockercmd':'run','Image':'b1','Options':{'Ports':[':80']}}", BAD,
     "Options.Ports[0]", NULL},
    {"Ports range", "{'Dockercmd':'run','Image':'b1','Options':{'Ports':['8000-8010:80']}}", BAD,
     "Options.Ports[0]", NULL},
    {"Ports bad ip", "{'Dockercmd':'run','Image':'b1','Options':{'Ports':['host:80:80']}}", BAD,
     "Options.Ports[0]", NULL},
    {"RestartPolicy bad",
     "{'Dockercmd':'run','Image':'b1','Options':{'RestartPolicy':"
     "'sometimes'}}",
     BAD, "Options.RestartPolicy", NULL},
    {"RestartPolicy bad count",
     "{'Dockercmd':'create','Image':'b1','Options':{'RestartPolicy':"
     "'on-failure:x'}}",
     BAD, "Options.RestartPolicy", NULL},
    {"RestartPolicy with Remove",
     "{'Dockercmd':'run','Image':'b1','Options':{'Remove':true,"
     "'RestartPolicy':'always'}}",
     BAD, "Options.RestartPolicy", "Remove"},
    {"Filters array", "{'Dockercmd':'list','Options':{'Filters':[]}}", BAD, "Options.Filters",
     "object"},
    {"Filters string value", "{'Dockercmd':'list','Options':{'Filters':{'label':'a=b'}}}", BAD,
     "Options.Filters.label", NULL},
    {"Filters number item", "{'Dockercmd':'images','Options':{'Filters':{'label':[1]}}}", BAD,
     "Options.Filters.label[0]", NULL},
    {"Filters bad name", "{'Dockercmd':'volume-list','Options':{'Filters':{'a b':['x']}}}", BAD,
     "Options.Filters.\"a b\"", NULL},
    {"Filters legacy non-bool", "{'Dockercmd':'list','Options':{'Filters':{'label':{'a':1}}}}", BAD,
     "Options.Filters.label.a", NULL},

    /* raw Docker bodies */
    {"HostConfig array", "{'Dockercmd':'run','Image':'b1','Options':{'HostConfig':[]}}", BAD,
     "Options.HostConfig", "must be an object"},
    {"HostConfig ci duplicate",
     "{'Dockercmd':'run','Image':'b1','Options':{'HostConfig':"
     "{'Privileged':false,'privileged':true}}}",
     BAD, "Options.HostConfig.privileged", "duplicate"},
    {"HostConfig non-ASCII key",
     "{'Dockercmd':'run','Image':'b1','Options':{'HostConfig':"
     "{'Bind\\u017f':['/:/host']}}}",
     BAD, "Options.HostConfig.\"Bind\\xc5\\xbf\"", "printable ASCII"},
    {"HostConfig nested duplicate",
     "{'Dockercmd':'run','Image':'b1','Options':{'HostConfig':"
     "{'RestartPolicy':{'Name':'no','name':'always'}}}}",
     BAD, "Options.HostConfig.RestartPolicy.name", "duplicate"},
    {"HostConfig conflicts Memory",
     "{'Dockercmd':'run','Image':'b1','Options':{'Memory':1,"
     "'HostConfig':{'memory':2}}}",
     BAD, "Options.HostConfig.Memory", "also set by Options.Memory"},
    {"HostConfig conflicts Binds",
     "{'Dockercmd':'create','Image':'b1','Options':{'Binds':"
     "['/a:/b'],'HostConfig':{'Binds':[]}}}",
     BAD, "Options.HostConfig.Binds", "Options.Binds"},
    {"HostConfig conflicts Cpus",
     "{'Dockercmd':'run','Image':'b1','Options':{'Cpus':1,"
     "'HostConfig':{'NANOCPUS':5}}}",
     BAD, "Options.HostConfig.NanoCpus", NULL},
    {"raw body not object", "{'action':'create-raw-container','body':'x'}", BAD, "body",
     "must be an object"},
    {"raw body no Image", "{'action':'create-raw-container','body':{'Cmd':['true']}}", BAD,
     "body.Image", "required"},
    {"raw body Image number", "{'action':'create-raw-container','body':{'Image':5}}", BAD,
     "body.Image", "must be a string"},
    {"raw body Image bad", "{'action':'create-raw-container','body':{'Image':'a/../b'}}", BAD,
     "body.Image", NULL},
    {"raw body ci duplicate",
     "{'action':'create-raw-container','body':{'Image':'a1',"
     "'image':'b1'}}",
     BAD, "body.image", "duplicate"},
    {"raw body nested duplicate",
     "{'action':'create-raw-container','body':{'Image':'a1',"
     "'HostConfig':{'Binds':[],'BINDS':['/:/h']}}}",
     BAD, "body.HostConfig.BINDS", "duplicate"},
    {"raw body duplicate in array",
     "{'action':'create-raw-container','body':{'Image':'a1',"
     "'Mounts':[{'Type':'bind','type':'volume'}]}}",
     BAD, "body.Mounts[0].type", "duplicate"},
    {"raw body reserved label",
     "{'action':'create-raw-container','body':{'Image':'a1',"
     "'labels':{'io.docker-dispatch.request':'r'}}}",
     BAD, "body.Labels.io.docker-dispatch.request", "reserved"},
    {"raw body control key",
     "{'action':'create-raw-container','body':{'Image':'a1',"
     "'x\\ty':1}}",
     BAD, "body.\"x\\ty\"", "printable ASCII"},
    /* DEL (0x7f) is a control character too */
    {"raw body DEL key",
     "{'action':'create-raw-container','body':{'Image':'a1',"
     "'HostConfig':{'Bind\\u007fs':['/:/host']}}}",
     BAD, "body.HostConfig.\"Bind\\x7fs\"", "printable ASCII"},
    {"Labels DEL key", "{'Dockercmd':'run','Image':'b1','Options':{'Labels':{'a\\u007fb':'x'}}}",
     BAD, "Options.Labels.\"a\\x7fb\"", "without control characters"},
    {"Env DEL name", "{'Dockercmd':'run','Image':'b1','Options':{'Env':['A\\u007fB=1']}}", BAD,
     "Options.Env[0]", "NAME=value"},
    {"Env object DEL name", "{'Dockercmd':'run','Image':'b1','Options':{'Env':{'A\\u007f':'1'}}}",
     BAD, "Options.Env.\"A\\x7f\"", "printable ASCII"},
    /* commit, archives, networks */
    {"commit without Repo", "{'Dockercmd':'commit','Container':'c1'}", BAD, "Options.Repo",
     "required"},
    {"commit bad Repo", "{'Dockercmd':'commit','Container':'c1','Options':{'Repo':'a b'}}", BAD,
     "Options.Repo", NULL},
    {"archive relative path",
     "{'Dockercmd':'archive-get','Container':'c1','Options':{'Path':'etc/passwd'}}", BAD,
     "Options.Path", "absolute"},
    {"archive dotdot",
     "{'Dockercmd':'archive-get','Container':'c1','Options':{'Path':'/srv/../../etc'}}", BAD,
     "Options.Path", "\"..\""},
    {"archive proc",
     "{'Dockercmd':'archive-get','Container':'c1','Options':{'Path':'/proc/1/root'}}", BAD,
     "Options.Path", "/proc"},
    {"archive sys doubled slash",
     "{'Dockercmd':'archive-get','Container':'c1','Options':{'Path':'//sys'}}", BAD, "Options.Path",
     "/proc"},
    {"archive proc behind a dot",
     "{'Dockercmd':'archive-get','Container':'c1','Options':{'Path':'/./proc/1/environ'}}", BAD,
     "Options.Path", "/proc"},
    {"archive dev behind dots and slashes",
     "{'Dockercmd':'archive-put','Container':'c1','Options':{'Path':'/.//./dev/"
     ".','Archive':'aGk='}}",
     BAD, "Options.Path", "/proc"},
    {"archive sys as a dot segment",
     "{'Dockercmd':'archive-get','Container':'c1','Options':{'Path':'/sys/.'}}", BAD,
     "Options.Path", "/proc"},
    {"archive-put bad base64",
     "{'Dockercmd':'archive-put','Container':'c1','Options':{'Path':'/t','Archive':'a*b='}}", BAD,
     "Options.Archive", "base64"},
    {"archive-put truncated base64",
     "{'Dockercmd':'archive-put','Container':'c1','Options':{'Path':'/t','Archive':'aGk'}}", BAD,
     "Options.Archive", "base64"},
    {"archive-put without archive",
     "{'Dockercmd':'archive-put','Container':'c1','Options':{'Path':'/t'}}", BAD, "Options.Archive",
     "required"},
    {"archive-put archive not string",
     "{'Dockercmd':'archive-put','Container':'c1','Options':{'Path':'/t','Archive':[1]}}", BAD,
     "Options.Archive", "string"},
    {"network-connect without container", "{'Dockercmd':'network-connect','Network':'n1'}", BAD,
     "Container", "required"},
    {"network-create bad name", "{'Dockercmd':'network-create','Network':'-n'}", BAD, "Network",
     NULL},
    {"network label reserved",
     "{'Dockercmd':'network-create','Network':'n1','Options':{'Labels':{'io.docker-dispatch."
     "cluster':'x'}}}",
     BAD, "Options.Labels.io.docker-dispatch.cluster", "reserved"},
    {"raw body name with instances",
     "{'action':'create-raw-container','body':{'Image':'a1'},"
     "'name':'web','instances':3}",
     BAD, "name", NULL},
};

static void t_err_case(void **state)
{
    const err_case *tc = *state;
    proto_error err;
    int rc = parse_fail(tc->body, &err);

    if (rc != tc->code || strcmp(err.field, tc->field) != 0)
        print_error("message: %s\n", err.message);
    assert_int_equal(rc, tc->code);
    assert_int_equal(err.code, tc->code);
    assert_string_equal(err.code_name, proto_code_name(tc->code));
    assert_string_equal(err.field, tc->field);
    if (tc->msg_has != NULL) {
        if (strstr(err.message, tc->msg_has) == NULL)
            print_error("message \"%s\" lacks \"%s\"\n", err.message, tc->msg_has);
        assert_non_null(strstr(err.message, tc->msg_has));
    }
    /* field and message are safe to log as they are */
    assert_printable(err.message);
    assert_printable(err.field);
    assert_true(strlen(err.message) > 0);
}

/* ------------------------------------------------------------------------
 * The model in detail
 * ------------------------------------------------------------------------ */

/* The seed README's run example, as valid JSON. */
static void t_seed_run(void **state)
{
    proto_cmd *cmd = parse_ok("{'Dockercmd':'run','Options':{'Name':'hello_world','Attach':"
                              "['STDOUT','STDERR'],'Remove':true},'Image':'debian:jessie',"
                              "'Cmd':['echo','hello world!']}");
    assert_int_equal(cmd->kind, PROTO_CMD_RUN);
    assert_int_equal(cmd->dialect, PROTO_DIALECT_DISPATCH);
    assert_string_equal(cmd->image, "debian:jessie");
    assert_string_equal(cmd->name, "hello_world");
    assert_false(cmd->attach_stdin);
    assert_true(cmd->attach_stdout);
    assert_true(cmd->attach_stderr);
    assert_true(cmd->remove);
    assert_int_equal(cmd->timeout_s, 0);
    assert_int_equal(cmd->output_limit, PROTO_DEFAULT_OUTPUT_LIMIT);
    assert_false(cmd->raw_body);
    assert_json_eq(cmd->create_body, "{'Image':'debian:jessie','Cmd':['echo','hello world!'],"
                                     "'AttachStdout':true,'AttachStderr':true}");
    proto_cmd_free(cmd);
}

static void t_seed_stop_remove(void **state)
{
    proto_cmd *cmd = parse_ok("{'Dockercmd':'stop','Options':{'Time':5},"
                              "'Container':'hello_world'}");
    assert_int_equal(cmd->kind, PROTO_CMD_STOP);
    assert_string_equal(cmd->container, "hello_world");
    assert_true(cmd->has_time);
    assert_int_equal(cmd->time_s, 5);
    assert_null(cmd->create_body);
    proto_cmd_free(cmd);

    cmd = parse_ok("{'Dockercmd':'stop','Container':'hello_world'}");
    assert_false(cmd->has_time);
    proto_cmd_free(cmd);

    cmd = parse_ok("{'Dockercmd':'remove','Container':'hello_world'}");
    assert_int_equal(cmd->kind, PROTO_CMD_REMOVE);
    assert_false(cmd->force);
    assert_false(cmd->volumes);
    proto_cmd_free(cmd);

    cmd = parse_ok("{'Dockercmd':'remove','Container':'hello_world','Options':{'Volumes':true,"
                   "'Force':true}}");
    assert_true(cmd->force);
    assert_true(cmd->volumes);
    proto_cmd_free(cmd);
}

/* The same message in every key spelling gives the same model. */
static void t_case_insensitive(void **state)
{
    static const char *const bodies[] = {
        "{'Dockercmd':'run','Image':'busybox','Cmd':['true'],'Options':{'Name':'x1','Remove':"
        "true,'Attach':['STDOUT'],'Env':['A=1'],'Labels':{'Team':'ops'},'Timeout':30}}",
        "{'dockercmd':'run','image':'busybox','cmd':['true'],'options':{'name':'x1','remove':"
        "true,'attach':['stdout'],'env':['A=1'],'labels':{'Team':'ops'},'timeout':30}}",
        "{'DOCKERCMD':'RUN','IMAGE':'busybox','CMD':['true'],'OPTIONS':{'NAME':'x1','REMOVE':"
        "true,'ATTACH':['Stdout'],'ENV':['A=1'],'LABELS':{'Team':'ops'},'TIMEOUT':30}}",
        "{'DockerCmd':'Run','iMaGe':'busybox','Cmd':['true'],'Options':{'nAME':'x1','Remove':"
        "true,'Attach':['STDOUT'],'Env':['A=1'],'LaBeLs':{'Team':'ops'},'TimeOut':30}}",
    };
    proto_cmd *first = parse_ok(bodies[0]);

    for (size_t i = 1; i < sizeof bodies / sizeof bodies[0]; i++) {
        proto_cmd *cmd = parse_ok(bodies[i]);
        assert_int_equal(cmd->kind, first->kind);
        assert_string_equal(cmd->image, first->image);
        assert_string_equal(cmd->name, first->name);
        assert_int_equal(cmd->remove, first->remove);
        assert_int_equal(cmd->attach_stdout, first->attach_stdout);
        assert_int_equal(cmd->timeout_s, 30);
        assert_true(json_equal(cmd->create_body, first->create_body));
        proto_cmd_free(cmd);
    }
    /* label keys are Docker's data: their case is kept */
    assert_json_eq(first->create_body, "{'Image':'busybox','Cmd':['true'],'Env':['A=1'],"
                                       "'Labels':{'Team':'ops'},'AttachStdout':true}");
    proto_cmd_free(first);
}

static void t_run_all_options(void **state)
{
    proto_cmd *cmd = parse_ok(
        "{'Dockercmd':'run','Image':'localhost:5000/busybox:latest','Cmd':['sh','-c','echo hi'],"
        "'Options':{'Name':'job-1','Entrypoint':'/bin/env','Attach':['STDIN','STDOUT','STDERR'],"
        "'Env':{'A':'1','B':'x=y'},'Labels':{'app':'web'},'WorkingDir':'/tmp','User':'1000:1000',"
        "'Tty':true,'Hostname':'job1.local','Timeout':60,'Memory':67108864,'Cpus':0.5,"
        "'PidsLimit':64,'NetworkMode':'none','Binds':['/srv/data:/data:ro','vol1:/v'],"
        "'Ports':['8080:80','127.0.0.1:9000:9000/udp','[::1]::53/udp','443'],"
        "'RestartPolicy':'no','OutputLimit':4096,"
        "'HostConfig':{'ReadonlyRootfs':true,'CapDrop':['ALL']}}}");

    assert_string_equal(cmd->name, "job-1");
    assert_true(cmd->attach_stdin);
    assert_true(cmd->attach_stdout);
    assert_true(cmd->attach_stderr);
    assert_false(cmd->remove);
    assert_int_equal(cmd->timeout_s, 60);
    assert_int_equal(cmd->output_limit, 4096);
    assert_json_eq(cmd->create_body,
                   "{'Image':'localhost:5000/busybox:latest','Cmd':['sh','-c','echo hi'],"
                   "'Entrypoint':['/bin/env'],'Env':['A=1','B=x=y'],'Labels':{'app':'web'},"
                   "'WorkingDir':'/tmp','User':'1000:1000','Tty':true,'Hostname':'job1.local',"
                   "'AttachStdin':true,'AttachStdout':true,'AttachStderr':true,"
                   "'ExposedPorts':{'80/tcp':{},'9000/udp':{},'53/udp':{},'443/tcp':{}},"
                   "'HostConfig':{'ReadonlyRootfs':true,'CapDrop':['ALL'],'Memory':67108864,"
                   "'NanoCpus':500000000,'PidsLimit':64,'NetworkMode':'none',"
                   "'Binds':['/srv/data:/data:ro','vol1:/v'],"
                   "'RestartPolicy':{'Name':'no','MaximumRetryCount':0},"
                   "'PortBindings':{'80/tcp':[{'HostIp':'','HostPort':'8080'}],"
                   "'9000/udp':[{'HostIp':'127.0.0.1','HostPort':'9000'}],"
                   "'53/udp':[{'HostIp':'::1','HostPort':''}],"
                   "'443/tcp':[{'HostIp':'','HostPort':''}]}}}");
    proto_cmd_free(cmd);
}

static void t_create_options(void **state)
{
    proto_cmd *cmd = parse_ok(
        "{'Dockercmd':'create','Image':'busybox','Options':{'Name':'c2','Entrypoint':['sh','-c'],"
        "'RestartPolicy':'on-failure:3','Ports':['8080:80','8081:80']}}");
    assert_int_equal(cmd->kind, PROTO_CMD_CREATE);
    assert_int_equal(cmd->output_limit, 0); /* create captures nothing */
    assert_json_eq(cmd->create_body,
                   "{'Image':'busybox','Entrypoint':['sh','-c'],'ExposedPorts':{'80/tcp':{}},"
                   "'HostConfig':{'RestartPolicy':{'Name':'on-failure','MaximumRetryCount':3},"
                   "'PortBindings':{'80/tcp':[{'HostIp':'','HostPort':'8080'},"
                   "{'HostIp':'','HostPort':'8081'}]}}}");
    proto_cmd_free(cmd);

    /* HostConfig passthrough alone, in Docker's own case, untouched */
    cmd = parse_ok("{'Dockercmd':'create','Image':'busybox','Options':{'HostConfig':"
                   "{'privileged':true,'Ulimits':[{'Name':'nofile','Soft':10,'Hard':20}]}}}");
    assert_json_eq(cmd->create_body,
                   "{'Image':'busybox','HostConfig':{'privileged':true,'Ulimits':[{'Name':"
                   "'nofile','Soft':10,'Hard':20}]}}");
    /* and the policy finds the key whatever its case */
    json_t *hc = proto_json_get_ci(cmd->create_body, "hostconfig");
    assert_non_null(hc);
    assert_true(json_is_true(proto_json_get_ci(hc, "Privileged")));
    assert_null(proto_json_get_ci(hc, "Devices"));
    proto_cmd_free(cmd);
}

static void t_exec_model(void **state)
{
    proto_cmd *cmd = parse_ok("{'Dockercmd':'exec','Container':'c1','Cmd':['sh','-c','id'],"
                              "'Options':{'Env':['A=1','B=2'],'User':'nobody','WorkingDir':'/',"
                              "'Tty':true,'Timeout':5}}");
    assert_int_equal(cmd->kind, PROTO_CMD_EXEC);
    assert_non_null(cmd->exec_argv);
    assert_string_equal(cmd->exec_argv[0], "sh");
    assert_string_equal(cmd->exec_argv[1], "-c");
    assert_string_equal(cmd->exec_argv[2], "id");
    assert_null(cmd->exec_argv[3]);
    assert_non_null(cmd->exec_env);
    assert_string_equal(cmd->exec_env[0], "A=1");
    assert_string_equal(cmd->exec_env[1], "B=2");
    assert_null(cmd->exec_env[2]);
    assert_string_equal(cmd->exec_user, "nobody");
    assert_string_equal(cmd->exec_workdir, "/");
    assert_true(cmd->exec_tty);
    assert_int_equal(cmd->timeout_s, 5);
    assert_int_equal(cmd->output_limit, PROTO_DEFAULT_OUTPUT_LIMIT);
    assert_null(cmd->create_body);
    proto_cmd_free(cmd);

    cmd = parse_ok("{'Dockercmd':'exec','Container':'c1','Cmd':['true'],'Options':{'Env':"
                   "{'K':'v'}}}");
    assert_string_equal(cmd->exec_env[0], "K=v");
    assert_null(cmd->exec_env[1]);
    assert_false(cmd->exec_tty);
    assert_null(cmd->exec_user);
    /* no Timeout: the longest an exec may take */
    assert_int_equal(cmd->timeout_s, PROTO_EXEC_MAX_TIMEOUT);
    proto_cmd_free(cmd);
}

static void t_logs_list_model(void **state)
{
    proto_cmd *cmd = parse_ok("{'Dockercmd':'logs','Container':'c1'}");
    assert_true(cmd->logs_stdout);
    assert_true(cmd->logs_stderr);
    assert_int_equal(cmd->logs_tail, -1);
    assert_false(cmd->logs_timestamps);
    proto_cmd_free(cmd);

    cmd = parse_ok("{'Dockercmd':'logs','Container':'c1','Options':{'Stdout':false,'Tail':0,"
                   "'Since':10,'Until':20,'Timestamps':true,'OutputLimit':100}}");
    assert_false(cmd->logs_stdout);
    assert_true(cmd->logs_stderr);
    assert_int_equal(cmd->logs_tail, 0);
    assert_int_equal(cmd->logs_since, 10);
    assert_int_equal(cmd->logs_until, 20);
    assert_true(cmd->logs_timestamps);
    assert_int_equal(cmd->output_limit, 100);
    proto_cmd_free(cmd);

    cmd = parse_ok("{'Dockercmd':'ps','Options':{'All':true,'Cluster':true,'Limit':5,"
                   "'Filters':{'label':['app=web'],'status':{'exited':true}}}}");
    assert_true(cmd->all);
    assert_true(cmd->cluster);
    assert_int_equal(cmd->limit, 5);
    assert_json_eq(cmd->filters, "{'label':['app=web'],'status':{'exited':true}}");
    proto_cmd_free(cmd);

    /* DockerMod: always running and stopped; "all" means the whole cluster */
    cmd = parse_ok("{'action':'list-containers'}");
    assert_true(cmd->all);
    assert_false(cmd->cluster);
    proto_cmd_free(cmd);
    cmd = parse_ok("{'action':'list-containers','all':true}");
    assert_true(cmd->all);
    assert_true(cmd->cluster);
    proto_cmd_free(cmd);
}

static void t_other_models(void **state)
{
    proto_cmd *cmd = parse_ok("{'Dockercmd':'kill','Container':'c1'}");
    assert_null(cmd->signal);
    proto_cmd_free(cmd);
    cmd = parse_ok("{'Dockercmd':'kill','Container':'c1','Options':{'Signal':'SIGRTMIN+3'}}");
    assert_string_equal(cmd->signal, "SIGRTMIN+3");
    proto_cmd_free(cmd);

    cmd = parse_ok("{'Dockercmd':'rename','Container':'c1','Options':{'Name':'c2'}}");
    assert_string_equal(cmd->new_name, "c2");
    assert_null(cmd->name);
    proto_cmd_free(cmd);

    cmd = parse_ok("{'Dockercmd':'wait','Container':'c1','Options':{'Timeout':9}}");
    assert_null(cmd->condition);
    assert_int_equal(cmd->timeout_s, 9);
    proto_cmd_free(cmd);

    cmd = parse_ok("{'Dockercmd':'top','Container':'c1'}");
    assert_null(cmd->ps_args);
    proto_cmd_free(cmd);

    cmd = parse_ok("{'Dockercmd':'pull','Image':'busybox','Options':{'Tag':'1.36'}}");
    assert_string_equal(cmd->tag, "1.36");
    proto_cmd_free(cmd);
    cmd = parse_ok("{'Dockercmd':'pull','Image':'localhost:5000/busybox'}");
    assert_null(cmd->tag);
    proto_cmd_free(cmd);

    cmd = parse_ok("{'Dockercmd':'image-tag','Image':'busybox','Options':{'Repo':'localhost:5000/"
                   "bb','Tag':'v1'}}");
    assert_string_equal(cmd->repo, "localhost:5000/bb");
    assert_string_equal(cmd->tag, "v1");
    proto_cmd_free(cmd);

    cmd = parse_ok("{'Dockercmd':'rmi','Image':'busybox','Options':{'Force':true,'NoPrune':true}}");
    assert_true(cmd->force);
    assert_true(cmd->noprune);
    proto_cmd_free(cmd);

    cmd = parse_ok("{'Dockercmd':'volume-create','Volume':'v1','Options':{'Driver':'local',"
                   "'Labels':{'a':'b'}}}");
    assert_string_equal(cmd->volume, "v1");
    assert_string_equal(cmd->driver, "local");
    assert_json_eq(cmd->labels, "{'a':'b'}");
    assert_null(cmd->create_body);
    proto_cmd_free(cmd);

    cmd = parse_ok("{'Dockercmd':'volume-list','Options':{'Filters':{'dangling':['true']}}}");
    assert_json_eq(cmd->filters, "{'dangling':['true']}");
    proto_cmd_free(cmd);

    cmd = parse_ok("{'Dockercmd':'images','Options':{'All':true}}");
    assert_true(cmd->all);
    proto_cmd_free(cmd);

    /* commit pauses unless told not to */
    cmd = parse_ok("{'Dockercmd':'commit','Container':'c1','Options':{'Repo':'r1','Tag':'t1'}}");
    assert_true(cmd->pause);
    assert_string_equal(cmd->repo, "r1");
    assert_string_equal(cmd->tag, "t1");
    proto_cmd_free(cmd);
    cmd = parse_ok("{'Dockercmd':'commit','Container':'c1','Options':{'Repo':'r1','Pause':false}}");
    assert_false(cmd->pause);
    proto_cmd_free(cmd);

    /* the archive arrives decoded, any bytes */
    cmd = parse_ok("{'Dockercmd':'archive-put','Container':'c1','Options':{'Path':'/a..b/c',"
                   "'Archive':'AAH/\\n/w=='}}");
    assert_string_equal(cmd->path, "/a..b/c");
    assert_int_equal(cmd->archive_len, 4);
    assert_memory_equal(cmd->archive, "\x00\x01\xff\xff", 4);
    proto_cmd_free(cmd);

    cmd = parse_ok("{'Dockercmd':'network-create','Network':'n1','Options':{'Driver':'bridge',"
                   "'Internal':true,'Labels':{'a':'b'}}}");
    assert_string_equal(cmd->network, "n1");
    assert_string_equal(cmd->driver, "bridge");
    assert_true(cmd->internal);
    assert_json_eq(cmd->labels, "{'a':'b'}");
    proto_cmd_free(cmd);
}

static void t_dockermod_models(void **state)
{
    proto_cmd *cmd = parse_ok("{'action':'create-container','template':'test','image':'ubuntu',"
                              "'instances':2}");
    assert_int_equal(cmd->kind, PROTO_CMD_CREATE);
    assert_string_equal(cmd->template_name, "test");
    assert_string_equal(cmd->image, "ubuntu");
    assert_int_equal(cmd->instances, 2);
    assert_false(cmd->raw_body);
    /* overrides only: the engine lays them over the template */
    assert_json_eq(cmd->create_body, "{'Image':'ubuntu'}");
    proto_cmd_free(cmd);

    cmd = parse_ok("{'action':'create-container','template':'test'}");
    assert_null(cmd->image);
    assert_int_equal(cmd->instances, 0);
    assert_json_eq(cmd->create_body, "{}");
    proto_cmd_free(cmd);

    cmd = parse_ok("{'action':'create-container','image':'busybox','name':'web1','cmd':['sleep',"
                   "'60'],'env':{'A':'1'},'instances':1}");
    assert_string_equal(cmd->name, "web1");
    assert_json_eq(cmd->create_body, "{'Image':'busybox','Cmd':['sleep','60'],'Env':['A=1']}");
    proto_cmd_free(cmd);

    cmd = parse_ok("{'action':'create-raw-container','name':'raw1','body':{'image':'busybox',"
                   "'Cmd':['true'],'HostConfig':{'NetworkMode':'none'},'Labels':{'x':'y'}}}");
    assert_true(cmd->raw_body);
    assert_string_equal(cmd->image, "busybox");
    assert_string_equal(cmd->name, "raw1");
    assert_json_eq(cmd->create_body, "{'image':'busybox','Cmd':['true'],'HostConfig':"
                                     "{'NetworkMode':'none'},'Labels':{'x':'y'}}");
    proto_cmd_free(cmd);

    cmd = parse_ok("{'action':'delete-container','id':'abc','force':true,'volumes':true}");
    assert_true(cmd->force);
    assert_true(cmd->volumes);
    proto_cmd_free(cmd);

    cmd = parse_ok("{'action':'stop-container','id':'abc','time':3}");
    assert_true(cmd->has_time);
    assert_int_equal(cmd->time_s, 3);
    proto_cmd_free(cmd);

    cmd = parse_ok("{'action':'register','hostname':'node-1.example'}");
    assert_string_equal(cmd->hostname, "node-1.example");
    proto_cmd_free(cmd);
}

/* After the command is known, errors carry it and the dialect. */
static void t_error_context(void **state)
{
    proto_error err;

    parse_fail("{'action':'stop-container'}", &err);
    assert_int_equal(err.dialect, PROTO_DIALECT_DOCKERMOD);
    assert_string_equal(err.command, "stop");

    parse_fail("{'Dockercmd':'rm','Container':'a b'}", &err);
    assert_int_equal(err.dialect, PROTO_DIALECT_DISPATCH);
    assert_string_equal(err.command, "remove");

    parse_fail("{'Dockercmd':'nope'}", &err);
    assert_int_equal(err.dialect, PROTO_DIALECT_DISPATCH);
    assert_string_equal(err.command, "");

    parse_fail("[1]", &err);
    assert_int_equal(err.dialect, PROTO_DIALECT_NONE);

    /* err may be NULL */
    proto_cmd *cmd = NULL;
    assert_int_equal(proto_parse("x", 1, NULL, &cmd, NULL), PROTO_EBADREQUEST);
    assert_null(cmd);
    /* out may not */
    assert_int_equal(proto_parse("{}", 2, NULL, NULL, &err), PROTO_EINTERNAL);
    /* NULL body */
    assert_int_equal(proto_parse(NULL, 10, NULL, &cmd, &err), PROTO_EBADREQUEST);
    assert_non_null(strstr(err.message, "empty"));
}

/* ------------------------------------------------------------------------
 * Limits
 * ------------------------------------------------------------------------ */

static void t_size_limit(void **state)
{
    proto_limits lim;
    proto_error err;
    proto_cmd *cmd = NULL;
    const char *body = "{\"Dockercmd\":\"ping\"}      ";
    size_t n = strlen(body);

    proto_limits_init(&lim);
    assert_int_equal(lim.max_body, 1024 * 1024);
    lim.max_body = n;
    assert_int_equal(proto_parse(body, n, &lim, &cmd, &err), 0);
    proto_cmd_free(cmd);
    cmd = NULL;
    lim.max_body = n - 1;
    assert_int_equal(proto_parse(body, n, &lim, &cmd, &err), PROTO_ETOOLARGE);
    assert_string_equal(err.code_name, "too_large");
    assert_null(cmd);

    /* the default: 1 MiB passes, one byte more does not */
    size_t big = 1024 * 1024;
    char *buf = malloc(big + 2);
    assert_non_null(buf);
    memset(buf, ' ', big + 1);
    memcpy(buf, body, n);
    assert_int_equal(proto_parse(buf, big, NULL, &cmd, &err), 0);
    proto_cmd_free(cmd);
    cmd = NULL;
    assert_int_equal(proto_parse(buf, big + 1, NULL, &cmd, &err), PROTO_ETOOLARGE);
    assert_null(cmd);
    free(buf);
}

/* A near-1 MiB real message: thousands of Env entries. */
static void t_large_message(void **state)
{
    size_t cap = 1024 * 1024, o = 0;
    char *buf = malloc(cap + 1);
    proto_cmd *cmd = NULL;
    proto_error err;

    assert_non_null(buf);
    o += (size_t)snprintf(buf + o, cap - o,
                          "{\"Dockercmd\":\"run\",\"Image\":\"busybox\",\"Options\":{\"Env\":[");
    for (int i = 0; i < 4000; i++)
        o += (size_t)snprintf(buf + o, cap - o, "%s\"V%d=%0200d\"", i ? "," : "", i, i);
    o += (size_t)snprintf(buf + o, cap - o, "]}}");
    assert_true(o < cap);
    assert_int_equal(proto_parse(buf, o, NULL, &cmd, &err), 0);
    assert_int_equal(json_array_size(json_object_get(cmd->create_body, "Env")), 4000);
    proto_cmd_free(cmd);
    cmd = NULL;

    /* 4097 entries: over the item cap */
    o = 0;
    o += (size_t)snprintf(buf + o, cap - o,
                          "{\"Dockercmd\":\"run\",\"Image\":\"busybox\",\"Cmd\":[");
    for (int i = 0; i < 4097; i++)
        o += (size_t)snprintf(buf + o, cap - o, "%s\"a\"", i ? "," : "");
    o += (size_t)snprintf(buf + o, cap - o, "]}");
    assert_int_equal(proto_parse(buf, o, NULL, &cmd, &err), PROTO_EBADREQUEST);
    assert_string_equal(err.field, "Cmd");
    free(buf);
}

/* Builds {"Dockercmd":"run","Image":"b1","Options":{"HostConfig":{"x": [[[...]]]}}}
 * with `levels` total nesting depth. */
static char *nested_body(int levels)
{
    const char *head = "{\"Dockercmd\":\"run\",\"Image\":\"b1\",\"Options\":{\"HostConfig\":"
                       "{\"x\":";
    size_t hn = strlen(head);
    int inner = levels - 3; /* head opens 3 objects */
    char *s = malloc(hn + 2 * (size_t)inner + 8);
    size_t o = hn;

    assert_non_null(s);
    memcpy(s, head, hn);
    for (int i = 0; i < inner; i++)
        s[o++] = '[';
    for (int i = 0; i < inner; i++)
        s[o++] = ']';
    memcpy(s + o, "}}}", 4);
    return s;
}

static void t_depth_limit(void **state)
{
    proto_cmd *cmd = NULL;
    proto_error err;
    proto_limits lim;
    char *s = nested_body(PROTO_DEFAULT_MAX_DEPTH);

    assert_int_equal(proto_parse(s, strlen(s), NULL, &cmd, &err), 0);
    proto_cmd_free(cmd);
    cmd = NULL;
    free(s);

    s = nested_body(PROTO_DEFAULT_MAX_DEPTH + 1);
    assert_int_equal(proto_parse(s, strlen(s), NULL, &cmd, &err), PROTO_EBADREQUEST);
    assert_non_null(strstr(err.message, "nested deeper than 32"));
    free(s);

    /* far beyond jansson's own limit: refused before parsing */
    s = nested_body(100000);
    assert_int_equal(proto_parse(s, strlen(s), NULL, &cmd, &err), PROTO_EBADREQUEST);
    free(s);

    /* brackets inside strings do not count */
    {
        const char *b = "{\"Dockercmd\":\"run\",\"Image\":\"b1\",\"Cmd\":[\"[[[[[[[[[[[[[[[["
                        "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\\\"[[[[\"]}";
        assert_int_equal(proto_parse(b, strlen(b), NULL, &cmd, &err), 0);
        proto_cmd_free(cmd);
        cmd = NULL;
    }

    /* the limit is a parameter */
    proto_limits_init(&lim);
    lim.max_depth = 4;
    s = nested_body(5);
    assert_int_equal(proto_parse(s, strlen(s), &lim, &cmd, &err), PROTO_EBADREQUEST);
    lim.max_depth = 5;
    assert_int_equal(proto_parse(s, strlen(s), &lim, &cmd, &err), 0);
    proto_cmd_free(cmd);
    free(s);
}

static void t_output_limits(void **state)
{
    proto_limits lim;
    proto_cmd *cmd = NULL;
    proto_error err;
    const char *b = "{\"Dockercmd\":\"run\",\"Image\":\"b1\",\"Options\":{\"OutputLimit\":2000}}";

    proto_limits_init(&lim);
    lim.default_output = 100;
    lim.max_output = 1000;
    assert_int_equal(proto_parse(b, strlen(b), &lim, &cmd, &err), PROTO_EBADREQUEST);
    assert_string_equal(err.field, "Options.OutputLimit");
    b = "{\"Dockercmd\":\"run\",\"Image\":\"b1\"}";
    assert_int_equal(proto_parse(b, strlen(b), &lim, &cmd, &err), 0);
    assert_int_equal(cmd->output_limit, 100);
    proto_cmd_free(cmd);
}

/* Bytes that jansson cannot see through a C string: embedded NUL. */
static void t_nul_bytes(void **state)
{
    static const char b[] = "{\"Dockercmd\":\"ping\"}\0garbage";
    proto_cmd *cmd = NULL;
    proto_error err;

    assert_int_equal(proto_parse(b, sizeof b - 1, NULL, &cmd, &err), PROTO_EBADREQUEST);
    assert_null(cmd);
    assert_int_equal(proto_parse(b, strlen(b), NULL, &cmd, &err), 0);
    proto_cmd_free(cmd);
}

/* Every prefix of valid messages and every single-byte change: no crash,
 * no leak, and a refusal always explains itself. */
static void t_mutations(void **state)
{
    static const char *const bodies[] = {
        ("{'Dockercmd':'run','Options':{'Name':'hello_world','Attach':['STDOUT','STDERR'],"
         "'Remove':true,'HostConfig':{'Binds':['/a:/b']},'Ports':['1.2.3.4:80:80/udp']},"
         "'Image':'debian:jessie','Cmd':['echo','hello world!']}"),
        ("{'action':'create-raw-container','body':{'Image':'a1','Labels':{'k':'v'}},"
         "'instances':3}"),
        "{'Dockercmd':'logs','Container':'c1','Options':{'Tail':5,'Since':1}}",
        "{'Dockercmd':'ps','Options':{'Filters':{'label':['a=b']},'All':true}}",
    };
    static const char flips[] = "\"'{}[],:\\0aZ-/. \x01\xff";
    size_t total = 0;

    for (size_t b = 0; b < sizeof bodies / sizeof bodies[0]; b++) {
        char *body = J(bodies[b]);
        size_t n = strlen(body);
        for (size_t cut = 0; cut <= n; cut++) {
            proto_cmd *cmd = NULL;
            proto_error err;
            int rc = proto_parse(body, cut, NULL, &cmd, &err);
            if (rc != 0) {
                assert_null(cmd);
                assert_true(err.message[0] != '\0');
                assert_printable(err.message);
            }
            assert_true(cut == n ? rc == 0 : rc != 0);
            proto_cmd_free(cmd);
            total++;
        }
        for (size_t i = 0; i < n; i++) {
            for (size_t f = 0; f < sizeof flips - 1; f++) {
                char saved = body[i];
                proto_cmd *cmd = NULL;
                proto_error err;
                body[i] = flips[f];
                int rc = proto_parse(body, n, NULL, &cmd, &err);
                if (rc == 0) {
                    assert_non_null(cmd);
                    assert_true(strlen(proto_cmd_name(cmd)) > 0);
                } else {
                    assert_printable(err.message);
                    assert_printable(err.field);
                }
                proto_cmd_free(cmd);
                body[i] = saved;
                total++;
            }
        }
        free(body);
    }
    assert_true(total > 1000);
}

/* ------------------------------------------------------------------------
 * Replies
 * ------------------------------------------------------------------------ */

/* Renders, then reads the text back. */
static json_t *round_trip(const json_t *reply)
{
    char *text = proto_reply_dumps(reply);
    json_error_t je;
    json_t *back;

    assert_non_null(text);
    assert_null(strchr(text, '\n'));
    back = json_loads(text, 0, &je);
    if (back == NULL)
        print_error("reply is not JSON: %s: %s\n", je.text, text);
    assert_non_null(back);
    assert_true(json_equal(back, reply));
    free(text);
    return back;
}

static void t_reply_ok(void **state)
{
    proto_cmd *cmd = parse_ok("{'Dockercmd':'run','Image':'busybox','Options':{'Attach':"
                              "['STDOUT']}}");
    proto_reply_info ri;
    proto_run_result rr = {0};
    json_t *result, *reply, *back;

    proto_reply_info_init(&ri, cmd, NULL, "node-1", "req-42");
    assert_int_equal(ri.dialect, PROTO_DIALECT_DISPATCH);
    assert_string_equal(ri.command, "run");
    rr.container_id = "4f3e2d1c0b4f3e2d1c0b4f3e2d1c0b4f3e2d1c0b4f3e2d1c0b4f3e2d1c0b4f3e";
    rr.container_name = "job";
    rr.waited = true;
    rr.exit_code = 3;
    rr.captured = true;
    rr.out = "hello\n";
    rr.out_len = 6;
    rr.err = "";
    rr.err_len = 0;
    rr.removed = true;
    rr.started_at = "2024-01-01T00:00:00Z";
    result = proto_result_run(&rr);
    assert_non_null(result);
    reply = proto_reply_ok(&ri, result);
    assert_non_null(reply);
    back = round_trip(reply);
    assert_json_eq(back, "{'schema':1,'ok':true,'node':'node-1','command':'run',"
                         "'request_id':'req-42','result':{'container':{'id':"
                         "'4f3e2d1c0b4f3e2d1c0b4f3e2d1c0b4f3e2d1c0b4f3e2d1c0b4f3e2d1c0b4f3e',"
                         "'name':'job'},'exit_code':3,'stdout':'hello\\n','stderr':'',"
                         "'truncated':false,'timed_out':false,'removed':true,"
                         "'started_at':'2024-01-01T00:00:00Z'}}");
    /* the field order is part of the look: schema first */
    char *text = proto_reply_dumps(reply);
    assert_true(strncmp(text, "{\"schema\":1,\"ok\":true,", 22) == 0);
    free(text);

    char line[512];
    proto_summary_reply(reply, 1234, line, sizeof line);
    assert_string_equal(line, "reply id=req-42 cmd=run node=node-1 ok exit=3 "
                              "container=4f3e2d1c0b4f removed 1.234s");
    json_t *lj = proto_summary_reply_json(reply, 1234);
    assert_json_eq(lj, "{'event':'reply','id':'req-42','cmd':'run','node':'node-1','ok':true,"
                       "'exit_code':3,'container':"
                       "'4f3e2d1c0b4f3e2d1c0b4f3e2d1c0b4f3e2d1c0b4f3e2d1c0b4f3e2d1c0b4f3e',"
                       "'duration_ms':1234}");
    json_decref(lj);

    /* no result: null */
    json_decref(reply);
    reply = proto_reply_ok(&ri, NULL);
    assert_true(json_is_null(json_object_get(reply, "result")));

    json_decref(back);
    json_decref(reply);
    json_decref(result);
    proto_cmd_free(cmd);
}

static void t_reply_error(void **state)
{
    proto_reply_info ri;
    json_t *reply, *back;
    char line[512];

    proto_reply_info_init(&ri, NULL, NULL, "n1", "r1");
    ri.command = "stop";
    reply = proto_reply_error(&ri, PROTO_ENOTFOUND, "No such container: x1", NULL, 404);
    back = round_trip(reply);
    assert_json_eq(back, "{'schema':1,'ok':false,'node':'n1','command':'stop','request_id':'r1',"
                         "'error':{'code':'not_found','message':'No such container: x1',"
                         "'field':null,'http_status':404}}");
    proto_summary_reply(reply, 5, line, sizeof line);
    assert_string_equal(line, "reply id=r1 cmd=stop node=n1 error=not_found status=404 "
                              "msg=\"No such container: x1\" 0.005s");
    json_decref(back);
    json_decref(reply);

    /* a code that is not an error becomes internal */
    reply = proto_reply_error(&ri, 0, NULL, NULL, 0);
    assert_string_equal(json_string_value(json_object_get(json_object_get(reply, "error"), "code")),
                        "internal");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(reply, "error"), "message")), "internal");
    assert_true(json_is_null(json_object_get(json_object_get(reply, "error"), "http_status")));
    json_decref(reply);
    reply = proto_reply_error(&ri, -999, "x", NULL, 0);
    assert_string_equal(json_string_value(json_object_get(json_object_get(reply, "error"), "code")),
                        "internal");
    json_decref(reply);

    /* a refused message: unknown node and command stay null */
    proto_error err;
    parse_fail("{'Dockercmd':'stop','Container':'c1','Options':{'Time':-1}}", &err);
    proto_reply_info_init(&ri, NULL, &err, NULL, NULL);
    reply = proto_reply_parse_error(&ri, &err);
    back = round_trip(reply);
    assert_json_eq(back, "{'schema':1,'ok':false,'node':null,'command':'stop','request_id':null,"
                         "'error':{'code':'bad_request','message':"
                         "'Options.Time: must be from 0 to 86400, got -1',"
                         "'field':'Options.Time','http_status':null}}");
    proto_summary_reply(reply, -1, line, sizeof line);
    assert_string_equal(line, "reply id=- cmd=stop error=bad_request field=Options.Time "
                              "msg=\"Options.Time: must be from 0 to 86400, got -1\"");
    json_decref(back);
    json_decref(reply);

    parse_fail("nonsense", &err);
    proto_reply_info_init(&ri, NULL, &err, "n1", "r2");
    assert_null(ri.command);
    reply = proto_reply_parse_error(&ri, &err);
    assert_true(json_is_null(json_object_get(reply, "command")));
    assert_null(json_object_get(reply, "statusCode"));
    json_decref(reply);
}

static void t_reply_dockermod(void **state)
{
    proto_cmd *cmd = parse_ok("{'action':'create-container','image':'ubuntu'}");
    proto_reply_info ri;
    json_t *result, *reply, *back;

    proto_reply_info_init(&ri, cmd, NULL, "host-a", "c-1");
    result = json_pack("{s:s,s:n,s:n}", "id", "949c89ef", "name", "warnings");
    reply = proto_reply_ok(&ri, result);
    back = round_trip(reply);
    assert_json_eq(back, "{'schema':1,'ok':true,'node':'host-a','command':'create',"
                         "'request_id':'c-1','result':{'id':'949c89ef','name':null,"
                         "'warnings':null},"
                         "'statusCode':201,'dockerInstance':'host-a',"
                         "'Response':{'Body':{'Id':'949c89ef','Warnings':null}}}");
    json_decref(back);
    json_decref(reply);
    json_decref(result);
    proto_cmd_free(cmd);

    /* any other result is the Body as it is (inspect: Docker's object) */
    cmd = parse_ok("{'action':'inspect-container','id':'b276fbe'}");
    proto_reply_info_init(&ri, cmd, NULL, "host-a", "c-2");
    result = json_pack("{s:s,s:{s:b}}", "Id", "b276fbe", "State", "Running", 1);
    reply = proto_reply_ok(&ri, result);
    assert_int_equal(json_integer_value(json_object_get(reply, "statusCode")), 200);
    assert_json_eq(json_object_get(reply, "Response"),
                   "{'Body':{'Id':'b276fbe','State':{'Running':true}}}");
    json_decref(reply);
    json_decref(result);
    proto_cmd_free(cmd);

    /* start: 204 and an empty Response, as DockerMod answered */
    cmd = parse_ok("{'action':'start-container','id':'b276fbe'}");
    proto_reply_info_init(&ri, cmd, NULL, "host-a", NULL);
    reply = proto_reply_ok(&ri, NULL);
    assert_json_eq(reply, "{'schema':1,'ok':true,'node':'host-a','command':'start',"
                          "'request_id':null,'result':null,'statusCode':204,"
                          "'dockerInstance':'host-a','Response':''}");
    json_decref(reply);

    /* Docker's own status wins */
    ri.http_status = 304;
    reply = proto_reply_ok(&ri, NULL);
    assert_int_equal(json_integer_value(json_object_get(reply, "statusCode")), 304);
    json_decref(reply);

    /* errors: statusCode from Docker, else from the code */
    ri.http_status = 0;
    reply = proto_reply_error(&ri, PROTO_ENOTFOUND, "No such container", NULL, 404);
    back = round_trip(reply);
    assert_int_equal(json_integer_value(json_object_get(back, "statusCode")), 404);
    assert_json_eq(json_object_get(back, "Response"), "{'Body':{'message':'No such container'}}");
    json_decref(back);
    json_decref(reply);
    reply = proto_reply_error(&ri, PROTO_EPOLICY, "privileged is off", NULL, 0);
    assert_int_equal(json_integer_value(json_object_get(reply, "statusCode")), 403);
    json_decref(reply);
    proto_cmd_free(cmd);

    /* a refused DockerMod message still answers in DockerMod's shape */
    proto_error err;
    parse_fail("{'action':'inspect-container'}", &err);
    proto_reply_info_init(&ri, NULL, &err, "host-a", "x");
    reply = proto_reply_parse_error(&ri, &err);
    assert_int_equal(json_integer_value(json_object_get(reply, "statusCode")), 400);
    assert_string_equal(json_string_value(json_object_get(reply, "command")), "inspect");
    json_decref(reply);

    /* no node: dockerInstance is "" */
    proto_reply_info_init(&ri, NULL, &err, NULL, NULL);
    reply = proto_reply_parse_error(&ri, &err);
    assert_string_equal(json_string_value(json_object_get(reply, "dockerInstance")), "");
    json_decref(reply);
}

/* A reply over the node's reply limit becomes a too_large error of the same
 * request: its node, command, request id and dialect, both sizes, and the
 * container of a run (it ran; its output is what did not fit). */
static void t_reply_too_large(void **state)
{
    (void)state;
    proto_cmd *cmd = parse_ok("{'Dockercmd':'run','Image':'busybox'}");
    proto_reply_info ri;
    proto_reply_info_init(&ri, cmd, NULL, "node-1", "r-1");
    json_t *result = json_pack("{s:{s:s,s:s},s:i}", "container", "id", "4f3e2d", "name", "hello",
                               "exit_code", 0);
    json_t *reply = proto_reply_ok(&ri, result);
    json_t *big = proto_reply_too_large(reply, 20000, 4096, NULL);
    assert_json_eq(big, "{'schema':1,'ok':false,'node':'node-1','command':'run',"
                        "'request_id':'r-1','error':{'code':'too_large','message':"
                        "'the reply is 20000 bytes, more than max_reply (4096 bytes) "
                        "allows: it was not sent','field':null,'http_status':null,"
                        "'size':20000,'max':4096,"
                        "'container':{'id':'4f3e2d','name':'hello'}}}");
    json_decref(big);
    json_decref(reply);
    json_decref(result);
    proto_cmd_free(cmd);

    /* DockerMod's shape, 413; no container for other commands */
    cmd = parse_ok("{'action':'list-images'}");
    proto_reply_info_init(&ri, cmd, NULL, "host-a", "c-9");
    result = json_pack("[{s:s}]", "Id", "sha256:1");
    reply = proto_reply_ok(&ri, result);
    big = proto_reply_too_large(reply, 99999, 4096, "the broker's max_message_size");
    assert_int_equal(json_integer_value(json_object_get(big, "statusCode")), 413);
    assert_string_equal(json_string_value(json_object_get(big, "dockerInstance")), "host-a");
    assert_string_equal(json_string_value(json_object_get(big, "command")), "images");
    assert_string_equal(json_string_value(json_object_get(big, "request_id")), "c-9");
    json_t *err = json_object_get(big, "error");
    assert_string_equal(json_string_value(json_object_get(err, "code")), "too_large");
    assert_null(json_object_get(err, "container"));
    assert_non_null(
        strstr(json_string_value(json_object_get(
                   json_object_get(json_object_get(big, "Response"), "Body"), "message")),
               "99999 bytes"));
    json_decref(big);
    json_decref(reply);
    json_decref(result);
    proto_cmd_free(cmd);
    /* a bulk answer names its containers, without their results */
    cmd = parse_ok("{'Dockercmd':'run','Image':'busybox','Options':{'Instances':2}}");
    proto_reply_info_init(&ri, cmd, NULL, "node-1", "b-1");
    result = json_pack("{s:i,s:i,s:s,s:[{s:s,s:b,s:s,s:s,s:{s:s}},{s:s,s:b,s:n,s:n}]}", "requested",
                       2, "created", 1, "placement", "spread", "containers", "node", "node-1", "ok",
                       1, "id", "c1", "name", "n1", "result", "stdout", "lots", "node", "node-2",
                       "ok", 0, "id", "name");
    reply = proto_reply_ok(&ri, result);
    big = proto_reply_too_large(reply, 99999, 4096, NULL);
    assert_json_eq(json_object_get(json_object_get(big, "error"), "containers"),
                   "[{'node':'node-1','ok':true,'id':'c1','name':'n1'},"
                   "{'node':'node-2','ok':false,'id':null,'name':null}]");
    assert_null(json_object_get(json_object_get(big, "error"), "container"));
    json_decref(big);
    json_decref(reply);
    json_decref(result);
    proto_cmd_free(cmd);
    assert_null(proto_reply_too_large(NULL, 1, 1, NULL));
}

static void t_reply_bulk(void **state)
{
    proto_cmd *cmd = parse_ok("{'action':'create-container','template':'test','instances':2}");
    proto_reply_info ri;
    char *text;
    json_t *result, *reply, *back;

    text = J("{'requested':2,'created':1,'containers':["
             "{'node':'a','ok':true,'id':'adda8bf8','name':null,'warnings':null},"
             "{'node':'b','ok':false,'error':{'code':'not_found','message':'no template',"
             "'field':null,'http_status':null}}]}");
    result = json_loads(text, 0, NULL);
    free(text);
    assert_non_null(result);
    proto_reply_info_init(&ri, cmd, NULL, "a", "bulk-1");
    reply = proto_reply_ok(&ri, result);
    back = round_trip(reply);
    assert_json_eq(json_object_get(back, "containers"),
                   "[{'Response':{'Body':{'Id':'adda8bf8','Warnings':null}},"
                   "'dockerInstance':'a','statusCode':201},"
                   "{'Response':{'Body':{'message':'no template'}},'dockerInstance':'b',"
                   "'statusCode':404}]");
    assert_true(json_equal(json_object_get(back, "result"), result));
    json_decref(back);
    json_decref(reply);

    /* the docker-dispatch dialect gets only the result */
    ri.dialect = PROTO_DIALECT_DISPATCH;
    reply = proto_reply_ok(&ri, result);
    assert_null(json_object_get(reply, "containers"));
    assert_null(json_object_get(reply, "statusCode"));
    json_decref(reply);
    json_decref(result);
    proto_cmd_free(cmd);
}

/* Untrusted strings become valid JSON in replies. */
static void t_reply_untrusted_text(void **state)
{
    proto_reply_info ri;
    json_t *reply, *back;
    char line[1024];

    proto_reply_info_init(&ri, NULL, NULL, "n\x01", "id\xff\"\n\x7f");
    ri.command = "run";
    reply = proto_reply_error(&ri, PROTO_EDOCKER, "bad \xc0\xaf byte\n\"x\"", "f\x02", 500);
    assert_non_null(reply);
    back = round_trip(reply);
    assert_string_equal(json_string_value(json_object_get(back, "request_id")),
                        "id\xef\xbf\xbd\"\n\x7f");
    json_decref(back);

    proto_summary_reply(reply, 0, line, sizeof line);
    assert_printable(line);
    assert_non_null(strstr(line, "id=\"id\\xef\\xbf\\xbd\\\"\\n\\x7f\""));
    assert_non_null(strstr(line, "node=\"n\\x01\""));

    json_t *lj = proto_summary_reply_json(reply, 0);
    char *t = proto_summary_dumps(lj);
    assert_non_null(t);
    assert_printable(t);
    assert_null(strchr(t, '\n'));
    if (strstr(t, "\"id\":\"id\\uFFFD\\\"\\n\\u007f\"") == NULL)
        print_error("%s\n", t ? t : "(null)");
    assert_non_null(strstr(t, "\"id\":\"id\\uFFFD\\\"\\n\\u007f\""));
    free(t);
    json_decref(lj);
    json_decref(reply);
}

/* ------------------------------------------------------------------------
 * Results and text
 * ------------------------------------------------------------------------ */

static void t_results(void **state)
{
    proto_run_result rr = {0};
    json_t *o;

    /* not waited, nothing captured */
    rr.container_id = "abc";
    o = proto_result_run(&rr);
    assert_json_eq(o, "{'container':{'id':'abc','name':null},'exit_code':null,'stdout':null,"
                      "'stderr':null,'truncated':false,'timed_out':false,'removed':false}");
    json_decref(o);

    rr.waited = true;
    rr.exit_code = 137;
    rr.timed_out = true;
    rr.truncated = true;
    rr.captured = true;
    rr.out = "a\0b\xff";
    rr.out_len = 4;
    rr.err = "err";
    rr.err_len = 3;
    rr.error = "killed";
    rr.finished_at = "2024-01-01T00:00:01Z";
    rr.warnings = json_pack("[s]", "w1");
    o = proto_result_run(&rr);
    assert_int_equal(json_integer_value(json_object_get(o, "exit_code")), 137);
    assert_string_equal(json_string_value(json_object_get(o, "stdout")), "a\xef\xbf\xbd"
                                                                         "b\xef\xbf\xbd");
    assert_true(json_is_true(json_object_get(o, "timed_out")));
    assert_string_equal(json_string_value(json_object_get(o, "error")), "killed");
    assert_json_eq(json_object_get(o, "warnings"), "['w1']");
    json_decref(round_trip(o));
    json_decref(o);

    o = proto_result_exec(&rr);
    assert_json_eq(o, "{'exit_code':137,'stdout':'a\\ufffdb\\ufffd','stderr':'err',"
                      "'truncated':true,'timed_out':true}");
    json_decref(o);
    o = proto_result_logs(&rr);
    assert_json_eq(o, "{'stdout':'a\\ufffdb\\ufffd','stderr':'err','truncated':true}");
    json_decref(o);
    json_decref(rr.warnings);
    assert_null(proto_result_run(NULL));
}

typedef struct utf8_case {
    const char *name;
    const char *in;
    size_t len;
    const char *out;
} utf8_case;

static const utf8_case utf8_cases[] = {
    {"ascii", "hello", 5, "hello"},
    {"empty", "", 0, ""},
    {"2-byte", "\xc3\xa9", 2, "\xc3\xa9"},
    {"3-byte", "\xe2\x98\x83", 3, "\xe2\x98\x83"},
    {"4-byte", "\xf0\x9f\x90\xb3", 4, "\xf0\x9f\x90\xb3"},
    {"lone continuation", "a\x80z", 3, "a\xef\xbf\xbdz"},
    {"overlong slash", "\xc0\xaf", 2, "\xef\xbf\xbd\xef\xbf\xbd"},
    {"overlong 3", "\xe0\x80\xaf", 3, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},
    {"surrogate", "\xed\xa0\x80", 3, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},
    {"above U+10FFFF", "\xf4\x90\x80\x80", 4, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},
    {"cut sequence", "ab\xe2\x98", 4, "ab\xef\xbf\xbd\xef\xbf\xbd"},
    {"ff", "\xff", 1, "\xef\xbf\xbd"},
    {"NUL", "a\0b", 3,
     "a\xef\xbf\xbd"
     "b"},
};

static void t_utf8_case(void **state)
{
    const utf8_case *tc = *state;
    json_t *s = proto_json_text(tc->in, tc->len);

    assert_non_null(s);
    assert_int_equal(json_string_length(s), strlen(tc->out));
    assert_memory_equal(json_string_value(s), tc->out, strlen(tc->out));
    json_decref(s);
}

typedef struct esc_case {
    const char *name;
    const char *in;
    size_t max;
    size_t dstlen;
    const char *out;
} esc_case;

static const esc_case esc_cases[] = {
    {"bare", "busybox:latest", 64, 64, "busybox:latest"},
    {"bare symbols", "a_b.c:d/e@f+g=h,i-j", 64, 64, "a_b.c:d/e@f+g=h,i-j"},
    {"empty quoted", "", 64, 64, "\"\""},
    {"space quoted", "hello world", 64, 64, "\"hello world\""},
    {"quote and backslash", "a\"b\\c", 64, 64, "\"a\\\"b\\\\c\""},
    {"newline tab cr", "a\nb\tc\rd", 64, 64, "\"a\\nb\\tc\\rd\""},
    {"control", "\x01\x1b[31m", 64, 64, "\"\\x01\\x1b[31m\""},
    {"del", "\x7f", 64, 64, "\"\\x7f\""},
    {"non-ascii", "caf\xc3\xa9", 64, 64, "\"caf\\xc3\\xa9\""},
    {"truncated", "abcdefghij", 4, 64, "\"abcd\"..."},
    {"tiny buffer", "abcdefghij", 64, 8, "\"ab\"..."},
    {"buffer too small", "abc def", 64, 5, ""},
    {"fits exactly bare", "abc", 64, 4, "abc"},
    {"bare too long for buffer", "abcdefgh", 64, 6, "\"\"..."},
};

static void t_escape_case(void **state)
{
    const esc_case *tc = *state;
    char buf[128];
    size_t n;

    memset(buf, 'X', sizeof buf);
    n = text_token(buf, tc->dstlen, tc->in, strlen(tc->in), tc->max);
    assert_string_equal(buf, tc->out);
    assert_int_equal(n, strlen(tc->out));
    assert_true(n < tc->dstlen);
}

static void t_summary_request(void **state)
{
    char line[512];
    proto_cmd *cmd = parse_ok("{'Dockercmd':'run','Image':'busybox','Options':{'Name':'job-1'}}");

    proto_summary_request(cmd, "m-1", line, sizeof line);
    assert_string_equal(line, "request id=m-1 dialect=docker-dispatch cmd=run image=busybox "
                              "name=job-1");
    json_t *j = proto_summary_request_json(cmd, "m-1");
    assert_json_eq(j, "{'event':'request','id':'m-1','dialect':'docker-dispatch','cmd':'run',"
                      "'image':'busybox','name':'job-1'}");
    json_decref(j);
    proto_cmd_free(cmd);

    cmd = parse_ok("{'action':'delete-container','id':"
                   "'0d0ff6977ed1767a01526d76e414349ef87840abfe81400c6e4d9ec8116111d4'}");
    proto_summary_request(cmd, NULL, line, sizeof line);
    assert_string_equal(line, "request id=- dialect=dockermod cmd=remove verb=delete-container "
                              "container=0d0ff6977ed1");
    proto_cmd_free(cmd);

    cmd = parse_ok("{'action':'create-container','template':'web','instances':3}");
    proto_summary_request(cmd, "x", line, sizeof line);
    assert_string_equal(line, "request id=x dialect=dockermod cmd=create "
                              "verb=create-container template=web instances=3");
    proto_cmd_free(cmd);

    /* unparsed request, hostile id: escaped, truncated */
    char id[200];
    memset(id, 'A', sizeof id);
    id[0] = '\n';
    id[1] = '"';
    id[sizeof id - 1] = '\0';
    proto_summary_request(NULL, id, line, sizeof line);
    assert_printable(line);
    assert_true(strncmp(line, "request id=\"\\n\\\"AAAA", 20) == 0);
    assert_non_null(strstr(line, "\"... cmd=-"));
    j = proto_summary_request_json(NULL, id);
    char *t = proto_summary_dumps(j);
    assert_printable(t);
    assert_int_equal(strlen(json_string_value(json_object_get(j, "id"))), 64);
    free(t);
    json_decref(j);

    /* a small buffer is never overrun and stays terminated */
    char small[24];
    memset(small, 'Z', sizeof small);
    size_t n = proto_summary_request(NULL, id, small, sizeof small);
    assert_int_equal(n, strlen(small));
    assert_true(n < sizeof small);
}

static void t_codes(void **state)
{
    static const char *const names[] = {
        "bad_request",  "too_large",    "unknown_command", "not_found",
        "conflict",     "not_modified", "policy_denied",   "docker_unavailable",
        "docker_error", "timeout",      "canceled",        "internal",
        "unsupported",  "unavailable",  "duplicate",       "quota"};
    for (int c = -1; c >= PROTO_CODE_MIN; c--) {
        assert_string_equal(proto_code_name(c), names[-c - 1]);
        assert_int_equal(proto_code_from_name(names[-c - 1]), c);
        assert_true(proto_code_http_status(c) >= 400);
    }
    assert_string_equal(proto_code_name(0), "ok");
    assert_string_equal(proto_code_name(-100), "internal");
    assert_int_equal(proto_code_from_name("nope"), 1);
    assert_int_equal(proto_code_from_name(NULL), 1);
    assert_int_equal(proto_code_http_status(PROTO_ENOTFOUND), 404);
    assert_int_equal(proto_code_http_status(PROTO_ETOOLARGE), 413);
    assert_int_equal(proto_code_http_status(PROTO_EPOLICY), 403);
    assert_int_equal(proto_code_http_status(PROTO_EQUOTA), 429);

    assert_string_equal(proto_kind_name(PROTO_CMD_IMAGE_REMOVE), "image-remove");
    assert_string_equal(proto_kind_name(PROTO_CMD__COUNT), "");
    assert_string_equal(proto_kind_name((proto_kind)-1), "");
    assert_string_equal(proto_cmd_name(NULL), "");
    for (int k = 1; k < PROTO_CMD__COUNT; k++)
        assert_true(strlen(proto_kind_name((proto_kind)k)) > 0);
    assert_string_equal(proto_dialect_name(PROTO_DIALECT_DOCKERMOD), "dockermod");
    proto_cmd_free(NULL);
}

static void t_raw_check(void **state)
{
    proto_error err;
    json_t *b = json_pack("{s:s,s:{s:b}}", "Image", "x1", "HostConfig", "Privileged", 1);

    assert_int_equal(proto_raw_check(b, "template", 0, &err), 0);
    json_object_set_new(json_object_get(b, "HostConfig"), "PRIVILEGED", json_false());
    assert_int_equal(proto_raw_check(b, "template", 0, &err), PROTO_EBADREQUEST);
    assert_string_equal(err.field, "template.HostConfig.PRIVILEGED");
    assert_int_equal(proto_raw_check(b, "template", 0, NULL), PROTO_EBADREQUEST);
    json_decref(b);

    b = json_pack("[]");
    assert_int_equal(proto_raw_check(b, "t", 0, &err), PROTO_EBADREQUEST);
    json_decref(b);

    b = json_pack("{s:{s:{s:{}}}}", "a", "b", "c");
    assert_int_equal(proto_raw_check(b, "t", 4, &err), 0);
    assert_int_equal(proto_raw_check(b, "t", 3, &err), PROTO_EBADREQUEST);
    assert_string_equal(err.field, "t.a.b.c");
    json_decref(b);
    assert_null(proto_json_get_ci(NULL, "x"));
}

/* State-change events: built from Docker's event attributes alone. */
static void t_events(void **state)
{
    (void)state;
    json_t *attrs = json_pack("{s:s, s:s, s:s, s:s}", "name", "web", "image", "busybox:latest",
                              "exitCode", "137", PROTO_RESERVED_LABEL_PREFIX "request", "r-9");
    assert_string_equal(proto_event_container_state("start"), "started");
    assert_string_equal(proto_event_container_state("die"), "exited");
    assert_string_equal(proto_event_container_state("destroy"), "removed");
    assert_null(proto_event_container_state("create"));
    assert_null(proto_event_container_state(NULL));

    json_t *ev = proto_event_container("n1", "die", "abc", 1795428000123456789LL, attrs);
    assert_non_null(ev);
    char *t = json_dumps(ev, JSON_COMPACT | JSON_PRESERVE_ORDER);
    assert_string_equal(t, "{\"schema\":1,\"event\":\"container.exited\",\"node\":\"n1\","
                           "\"time\":\"2026-11-23T10:00:00.123456789Z\",\"time_nano\":"
                           "1795428000123456789,\"container\":{\"id\":\"abc\",\"name\":"
                           "\"web\",\"image\":\"busybox:latest\"},\"request_id\":\"r-9\","
                           "\"exit_code\":137}");
    free(t);
    char key[64];
    assert_int_equal(proto_event_key(ev, key, sizeof key), strlen("container.exited.n1"));
    assert_string_equal(key, "container.exited.n1");
    assert_int_equal(proto_event_key(ev, key, 10), 9);
    assert_string_equal(key, "container");
    json_decref(ev);

    /* started: no exit code; a container without our request label */
    json_object_del(attrs, PROTO_RESERVED_LABEL_PREFIX "request");
    ev = proto_event_container("n1", "start", "abc", 0, attrs);
    assert_non_null(ev);
    assert_string_equal(json_string_value(json_object_get(ev, "time")),
                        "1970-01-01T00:00:00.000000000Z");
    assert_true(json_is_null(json_object_get(ev, "request_id")));
    assert_null(json_object_get(ev, "exit_code"));
    json_decref(ev);

    /* an exit code Docker did not give as a number is null */
    json_object_set_new(attrs, "exitCode", json_string("x1"));
    ev = proto_event_container("n1", "die", "abc", 0, attrs);
    assert_true(json_is_null(json_object_get(ev, "exit_code")));
    json_decref(ev);
    ev = proto_event_container("n1", "die", "abc", 0, NULL);
    assert_non_null(ev);
    assert_true(json_is_null(json_object_get(json_object_get(ev, "container"), "name")));
    json_decref(ev);

    assert_null(proto_event_container("n1", "create", "abc", 0, attrs));
    assert_null(proto_event_container("n1", "die", NULL, 0, attrs));
    json_decref(attrs);

    ev = proto_event_node("n1", "up", 1000000000LL);
    assert_string_equal(json_string_value(json_object_get(ev, "event")), "node.up");
    assert_string_equal(json_string_value(json_object_get(ev, "time")),
                        "1970-01-01T00:00:01.000000000Z");
    assert_int_equal(proto_event_key(ev, key, sizeof key), strlen("node.up.n1"));
    json_decref(ev);
    assert_null(proto_event_node("n1", "sideways", 0));
    assert_null(proto_event_node("n1", NULL, 0));
}

/* ------------------------------------------------------------------------
 * Runner: the table rows and the tests above in one group (one TAP plan).
 * ------------------------------------------------------------------------ */

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

int main(void)
{
    static const struct CMUnitTest fixed[] = {
        cmocka_unit_test(t_seed_run),
        cmocka_unit_test(t_seed_stop_remove),
        cmocka_unit_test(t_case_insensitive),
        cmocka_unit_test(t_run_all_options),
        cmocka_unit_test(t_create_options),
        cmocka_unit_test(t_exec_model),
        cmocka_unit_test(t_logs_list_model),
        cmocka_unit_test(t_other_models),
        cmocka_unit_test(t_dockermod_models),
        cmocka_unit_test(t_error_context),
        cmocka_unit_test(t_size_limit),
        cmocka_unit_test(t_large_message),
        cmocka_unit_test(t_depth_limit),
        cmocka_unit_test(t_output_limits),
        cmocka_unit_test(t_nul_bytes),
        cmocka_unit_test(t_mutations),
        cmocka_unit_test(t_reply_ok),
        cmocka_unit_test(t_reply_error),
        cmocka_unit_test(t_reply_dockermod),
        cmocka_unit_test(t_reply_bulk),
        cmocka_unit_test(t_reply_too_large),
        cmocka_unit_test(t_reply_untrusted_text),
        cmocka_unit_test(t_results),
        cmocka_unit_test(t_summary_request),
        cmocka_unit_test(t_codes),
        cmocka_unit_test(t_raw_check),
        cmocka_unit_test(t_events),
    };
    size_t n = N_OF(fixed) + N_OF(ok_cases) + N_OF(err_cases) + N_OF(utf8_cases) + N_OF(esc_cases);
    struct CMUnitTest *tests = calloc(n, sizeof *tests);
    size_t i = 0;
    int rc;

    if (tests == NULL)
        return 1;
    for (size_t k = 0; k < N_OF(fixed); k++)
        tests[i++] = fixed[k];
#define ROWS(table, fn, prefix)                                                                    \
    for (size_t k = 0; k < N_OF(table); k++) {                                                     \
        tests[i].name = table[k].name;                                                             \
        tests[i].test_func = fn;                                                                   \
        tests[i].initial_state = (void *)&table[k];                                                \
        i++;                                                                                       \
    }
    ROWS(ok_cases, t_ok_case, "ok");
    ROWS(err_cases, t_err_case, "err");
    ROWS(utf8_cases, t_utf8_case, "utf8");
    ROWS(esc_cases, t_escape_case, "escape");
#undef ROWS
    rc = _cmocka_run_group_tests("protocol", tests, n, NULL, NULL);
    free(tests);
    return rc;
}
