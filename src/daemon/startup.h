/*
 * startup.h -- docker-dispatch's start-up steps (startup.c).  Each logs
 * why it failed.
 */
#ifndef DD_STARTUP_H
#define DD_STARTUP_H

#include <stddef.h>

#include "broker.h"
#include "config.h"
#include "dkc.h"
#include "gateway.h"
#include "policy.h"
#include "status.h"
#include "templates.h"

/* The config file's "policy" into policy (policy_cleanup()); 0 or -1. */
int startup_policy(const dd_config *cfg, dd_policy *policy);

/* The templates directory, if one is set, loaded and checked; 0 or -1. */
int startup_templates(const dd_config *cfg, const dd_policy *policy, dd_templates **out);

/* The HTTP library, dopt from cfg, and one ping of Docker (host gets its
 * ID); 0 or -1.  The caller runs dkc_global_cleanup() either way. */
int startup_docker(const dd_config *cfg, dkc_options *dopt, char *host, size_t hostlen);

/* The node's broker connection into *out (broker_free()); 0 or -1. */
int startup_broker(const dd_config *cfg, broker **out);

/* The HTTP gateway when cfg asks for one (*out NULL otherwise), counted
 * in status; 0, or the exit status (2: a setting, 1: RabbitMQ). */
int startup_gateway(const dd_config *cfg, dd_status *status, gateway **out);

#endif
