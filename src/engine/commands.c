/*
 * commands.c -- the engine's command table: every command the engine
 * carries out, by its row (defined in the cmd_*.c file that does the
 * work: what it names, its flags, its handler).  Adding a command: its row
 * in a cmd_*.c file, a line here.
 */
#include <stddef.h>

#include "engine_internal.h"

extern const engine_cmd eng_cmd_run, eng_cmd_create, eng_cmd_start, eng_cmd_stop, eng_cmd_restart,
    eng_cmd_kill, eng_cmd_pause, eng_cmd_unpause, eng_cmd_rename, eng_cmd_remove, eng_cmd_wait,
    eng_cmd_inspect, eng_cmd_list, eng_cmd_logs, eng_cmd_top, eng_cmd_changes, eng_cmd_exec,
    eng_cmd_pull, eng_cmd_images, eng_cmd_image_inspect, eng_cmd_image_tag, eng_cmd_image_remove,
    eng_cmd_volume_create, eng_cmd_volume_list, eng_cmd_volume_inspect, eng_cmd_volume_remove,
    eng_cmd_info, eng_cmd_version, eng_cmd_ping, eng_cmd_nodes, eng_cmd_register,
    eng_cmd_unregister, eng_cmd_commit, eng_cmd_archive_get, eng_cmd_archive_put,
    eng_cmd_network_create, eng_cmd_network_list, eng_cmd_network_inspect, eng_cmd_network_connect,
    eng_cmd_network_disconnect, eng_cmd_network_remove;

static const engine_cmd *const table[] = {
    &eng_cmd_run,
    &eng_cmd_create,
    &eng_cmd_start,
    &eng_cmd_stop,
    &eng_cmd_restart,
    &eng_cmd_kill,
    &eng_cmd_pause,
    &eng_cmd_unpause,
    &eng_cmd_rename,
    &eng_cmd_remove,
    &eng_cmd_wait,
    &eng_cmd_inspect,
    &eng_cmd_list,
    &eng_cmd_logs,
    &eng_cmd_top,
    &eng_cmd_changes,
    &eng_cmd_exec,
    &eng_cmd_pull,
    &eng_cmd_images,
    &eng_cmd_image_inspect,
    &eng_cmd_image_tag,
    &eng_cmd_image_remove,
    &eng_cmd_volume_create,
    &eng_cmd_volume_list,
    &eng_cmd_volume_inspect,
    &eng_cmd_volume_remove,
    &eng_cmd_info,
    &eng_cmd_version,
    &eng_cmd_ping,
    &eng_cmd_nodes,
    &eng_cmd_register,
    &eng_cmd_unregister,
    &eng_cmd_commit,
    &eng_cmd_archive_get,
    &eng_cmd_archive_put,
    &eng_cmd_network_create,
    &eng_cmd_network_list,
    &eng_cmd_network_inspect,
    &eng_cmd_network_connect,
    &eng_cmd_network_disconnect,
    &eng_cmd_network_remove,
};

const engine_cmd *eng_cmd_find(proto_kind kind)
{
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (table[i]->kind == kind)
            return table[i];
    return NULL;
}

int eng_cmd_has(proto_kind kind, unsigned flags)
{
    const engine_cmd *d = eng_cmd_find(kind);
    return d != NULL && (d->flags & flags) == flags;
}
