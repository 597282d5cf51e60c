/*
 * rules.c -- the rules jobs are carried out under (struct eng_rules): the
 * current ones, a reference per job, and their replacement on SIGHUP
 * (engine_set_rules).  engine.rules_mu guards them; it is taken alone.
 */
#include <pthread.h>
#include <stdlib.h>

#include "engine_internal.h"

eng_rules *eng_rules_take(engine *e)
{
    pthread_mutex_lock(&e->rules_mu);
    eng_rules *r = e->rules;
    r->refs++;
    pthread_mutex_unlock(&e->rules_mu);
    return r;
}

void eng_rules_drop(engine *e, eng_rules *r)
{
    if (r == NULL)
        return;
    pthread_mutex_lock(&e->rules_mu);
    int left = --r->refs;
    pthread_mutex_unlock(&e->rules_mu);
    if (left > 0)
        return;
    if (r->own_policy != NULL) {
        policy_cleanup(r->own_policy);
        free(r->own_policy);
    }
    templates_free(r->own_templates);
    free(r);
}

void engine_set_rules(engine *e, dd_policy *policy, dd_templates *templates)
{
    eng_rules *r = xcalloc(1, sizeof *r);
    r->refs = 1;
    r->policy = r->own_policy = policy;
    r->templates = r->own_templates = templates;
    r->refs = 2; /* the engine's and the job picking's (quota.rules) */
    pthread_mutex_lock(&e->rules_mu);
    eng_rules *old = e->rules;
    e->rules = r;
    pthread_mutex_unlock(&e->rules_mu);
    eng_rules *old_sched = eng_quota_set_rules(e, r);
    eng_jobs_wake(e);       /* a share may have grown */
    eng_rules_drop(e, old); /* freed here, or by the last job that still uses it */
    eng_rules_drop(e, old_sched);
}
