/*
 * templates.h -- named container templates (DockerMod's): a directory of
 * JSON files, each a Docker create body, `<name>.json`.  String values
 * may hold parameters, `${NAME}` or `${NAME:-default}` (NAME:
 * [A-Za-z_][A-Za-z0-9_]*; `$${` is a literal `${`), filled from a
 * request's `params`.  Loaded and checked once at start; read-only after,
 * so any thread may render.
 */
#ifndef DD_TEMPLATES_H
#define DD_TEMPLATES_H

#include <stddef.h>

#include <jansson.h>

#include "policy.h"

typedef struct dd_templates dd_templates;

/* Loads every *.json file of dir.  Each must be a JSON object that passes
 * proto_raw_check, whose parameters are well formed and, when every
 * parameter has a default, whose body so filled passes policy p (others
 * pass it at each request).  Returns 0 and *out (templates_free), or -1
 * with the file and the reason in err. */
int templates_load(const char *dir, const dd_policy *p, dd_templates **out, char *err,
                   size_t errlen);
void templates_free(dd_templates *t);

/* The number of templates loaded. */
size_t templates_count(const dd_templates *t);

/* Template name filled with params (an object of strings, or NULL): a new
 * create body, or NULL with a PROTO_E* code in *code and the reason in err.
 * Codes: not_found when there is no such template.  bad_request when a
 * parameter without default is not given, or is given but not used by the
 * template; the field is in errfield. */
json_t *templates_render(const dd_templates *t, const char *name, const json_t *params, int *code,
                         char *err, size_t errlen, char *errfield, size_t fieldlen);

#endif
