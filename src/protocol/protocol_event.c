/*
 * protocol_event.c -- the state-change events a node publishes on its
 * events exchange (<q>.events, topic).  A container of this node started,
 * exited or was removed; the node came up or goes down.
 *
 * An event is built from what Docker's event stream says: the action, the
 * actor id, and the name, image, exitCode and labels among its attributes.
 * So the daemon remembers nothing to publish it.  Pure: the caller passes
 * the time in.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "protocol.h"

static const struct {
    const char *docker; /* Docker's container event action */
    const char *state;  /* ours */
} container_states[] = {
    {"start", "started"},
    {"die", "exited"},
    {"destroy", "removed"},
};

const char *proto_event_container_state(const char *docker_action)
{
    if (docker_action == NULL)
        return NULL;
    for (size_t i = 0; i < sizeof container_states / sizeof container_states[0]; i++)
        if (strcmp(docker_action, container_states[i].docker) == 0)
            return container_states[i].state;
    return NULL;
}

/* RFC 3339 UTC with nanoseconds from unix nanoseconds into buf (>= 40). */
static void rfc3339_nano(int64_t time_nano, char *buf, size_t len)
{
    time_t s = (time_t)(time_nano / 1000000000);
    long ns = (long)(time_nano % 1000000000);
    if (ns < 0) {
        s -= 1;
        ns += 1000000000;
    }
    struct tm tm;
    if (gmtime_r(&s, &tm) == NULL) {
        snprintf(buf, len, "1970-01-01T00:00:00.000000000Z");
        return;
    }
    char day[32];
    strftime(day, sizeof day, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, len, "%s.%09ldZ", day, ns);
}

/* The members every event has.  NULL when out of memory. */
static json_t *event_base(const char *event, const char *node, int64_t time_nano)
{
    char when[64];
    rfc3339_nano(time_nano, when, sizeof when);
    return json_pack("{s:i, s:s, s:s?, s:s, s:I}", "schema", PROTO_SCHEMA_VERSION, "event", event,
                     "node", node, "time", when, "time_nano", (json_int_t)time_nano);
}

/* Attribute key as a string, or NULL. */
static const char *attr(const json_t *attributes, const char *key)
{
    return json_string_value(json_object_get(attributes, key));
}

json_t *proto_event_container(const char *node, const char *docker_action, const char *id,
                              int64_t time_nano, const json_t *attributes)
{
    const char *state = proto_event_container_state(docker_action);
    if (state == NULL || id == NULL)
        return NULL;
    char event[32];
    snprintf(event, sizeof event, "container.%s", state);
    json_t *ev = event_base(event, node, time_nano);
    if (ev == NULL)
        return NULL;
    json_t *c = json_pack("{s:s, s:s?, s:s?}", "id", id, "name", attr(attributes, "name"), "image",
                          attr(attributes, "image"));
    const char *request = attr(attributes, PROTO_RESERVED_LABEL_PREFIX "request");
    int bad = c == NULL || json_object_set_new(ev, "container", c) != 0 ||
              json_object_set_new(ev, "request_id", request ? json_string(request) : json_null());
    if (!bad && strcmp(state, "exited") == 0) {
        /* Docker gives the exit code as a decimal string */
        const char *code = attr(attributes, "exitCode");
        char *end = NULL;
        long long v = code ? strtoll(code, &end, 10) : 0;
        json_t *jv = (code && *code && end && *end == '\0') ? json_integer(v) : json_null();
        bad = json_object_set_new(ev, "exit_code", jv) != 0;
    }
    if (bad) {
        json_decref(ev);
        return NULL;
    }
    return ev;
}

json_t *proto_event_node(const char *node, const char *state, int64_t time_nano)
{
    if (state == NULL || (strcmp(state, "up") != 0 && strcmp(state, "down") != 0))
        return NULL;
    char event[16];
    snprintf(event, sizeof event, "node.%s", state);
    return event_base(event, node, time_nano);
}

size_t proto_event_key(const json_t *event, char *buf, size_t len)
{
    const char *name = json_string_value(json_object_get(event, "event"));
    const char *node = json_string_value(json_object_get(event, "node"));
    if (len == 0)
        return 0;
    int n = snprintf(buf, len, "%s.%s", name ? name : "unknown", node ? node : "unknown");
    if (n < 0) {
        buf[0] = '\0';
        return 0;
    }
    return (size_t)n < len ? (size_t)n : len - 1;
}
