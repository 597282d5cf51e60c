/*
 * reload.c -- SIGHUP: the log file, the policy and the templates again.
 * See reload.h.
 */
#include <stdlib.h>

#include <jansson.h>

#include "base.h"
#include "log.h"
#include "policy.h"
#include "reload.h"
#include "templates.h"

/* Reads the policy of cfg's config file into a new dd_policy (policy_cleanup
 * + free); the defaults when there is no config file or it has no policy.
 * NULL after logging why. */
static dd_policy *read_policy(const dd_config *cfg)
{
    json_t *obj = NULL;
    char *cause = NULL;
    if (cfg->config_file != NULL && cfg_read_policy(cfg->config_file, &obj, &cause) != 0) {
        log_msg(LOG_LVL_ERROR, "reload refused: %s; keeping the old policy and templates",
                cause ? cause : cfg->config_file);
        free(cause);
        return NULL;
    }
    dd_policy *p = xmalloc(sizeof *p);
    policy_init(p);
    char perr[256] = "";
    if (policy_from_json(p, obj, perr, sizeof perr) != 0) {
        log_msg(LOG_LVL_ERROR,
                "reload refused: config file %s: policy: %s; keeping the old policy and templates",
                cfg->config_file, perr);
        policy_cleanup(p);
        free(p);
        p = NULL;
    }
    json_decref(obj);
    return p;
}

int reload_rules(const dd_config *cfg, engine *e)
{
    char *cause = NULL;
    if (log_reopen(&cause) != 0) {
        log_msg(LOG_LVL_ERROR, "%s", cause ? cause : "log file: cannot open again");
        free(cause);
    }
    dd_policy *p = read_policy(cfg);
    if (p == NULL)
        return -1;
    dd_templates *tpl = NULL;
    if (cfg->templates_dir != NULL) {
        char why[600];
        if (templates_load(cfg->templates_dir, p, &tpl, why, sizeof why) != 0) {
            log_msg(LOG_LVL_ERROR, "reload refused: %s; keeping the old policy and templates", why);
            policy_cleanup(p);
            free(p);
            return -1;
        }
    }
    size_t n = templates_count(tpl);
    engine_set_rules(e, p, tpl); /* both moved */
    if (cfg->templates_dir != NULL)
        log_msg(LOG_LVL_INFO, "reloaded: the policy of %s and %zu templates from %s",
                cfg->config_file ? cfg->config_file : "(defaults)", n, cfg->templates_dir);
    else
        log_msg(LOG_LVL_INFO, "reloaded: the policy of %s",
                cfg->config_file ? cfg->config_file : "(defaults)");
    return 0;
}
