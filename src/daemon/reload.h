/*
 * reload.h -- what SIGHUP does: reopens the log file and reads the policy
 * (the config file's "policy") and the templates directory again.
 *
 * Thread contract: main thread only (the signal handler only sets a flag).
 */
#ifndef DD_RELOAD_H
#define DD_RELOAD_H

#include "config.h"
#include "engine.h"

/* Reopens the log file (if any), then reads cfg's config file and
 * templates directory again and hands the new policy and templates to e.
 * A file that cannot be used is logged by name with the reason and the old
 * policy and templates stay in force (both, so that they always agree).
 * Returns 0 when the new rules are in force, -1 when the old ones stay. */
int reload_rules(const dd_config *cfg, engine *e);

#endif
