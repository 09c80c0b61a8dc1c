/*
 * The `validate:` key of a route or a rule: the answer validators of a quality cascade
 * (shared/tg_validate.h), compiled once here so that requests never compile a regular expression:
 *
 *   validate: {min_length: 20, refusal: true, refusal_patterns: ["no idea"], json: false,
 *              schema: true, regex: "^[A-Z]", regex_forbid: "lorem", ignore_case: true}
 */
#include "shared/tg_config_int.h"
#include "shared/tg_validate.h"

#include <string.h>

/* What the mapping said, and where, so a compile error can point at the right node. */
typedef struct {
    tg_validate_conf_t conf;
    yaml_node_t *regex;
    yaml_node_t *forbid;
    yaml_node_t *patterns;
    const char *phrases[TG_VALIDATE_PATTERNS_MAX];
} tg_vparse_t;

static int tg_parse_patterns(tg_cctx_t *c, tg_cdoc_t *d, yaml_node_t *n, tg_vparse_t *vp)
{
    size_t count;

    if (n->type != YAML_SEQUENCE_NODE)
        return tg_cerr(c, d, n, "refusal_patterns must be a list of phrases");
    count = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
    if (count > TG_VALIDATE_PATTERNS_MAX)
        return tg_cerr(c, d, n, "refusal_patterns may list at most %d phrases",
                       TG_VALIDATE_PATTERNS_MAX);
    vp->patterns = n;
    for (size_t i = 0; i < count; i++) {
        yaml_node_t *e = tg_node(d, n->data.sequence.items.start[i]);

        if ((vp->phrases[i] = tg_scalar(c, d, e, "a refusal pattern")) == NULL)
            return -1;
    }
    vp->conf.refusal_patterns = vp->phrases;
    vp->conf.nrefusal_patterns = count;
    return 0;
}

static int tg_parse_regex(tg_cctx_t *c, tg_cdoc_t *d, yaml_node_t *n, const char *what,
                          const char **out, yaml_node_t **where)
{
    if ((*out = tg_scalar(c, d, n, what)) == NULL)
        return -1;
    *where = n;
    return 0;
}

static int tg_parse_validate_key(tg_cctx_t *c, tg_cdoc_t *d, const char *k, yaml_node_t *v,
                                 tg_vparse_t *vp)
{
    int64_t v64;

    if (strcmp(k, "min_length") == 0) {
        if (tg_cint(c, d, v, k, 0, 1000000, &v64) == -1)
            return -1;
        vp->conf.min_length = (size_t)v64;
        return 0;
    }
    if (strcmp(k, "refusal") == 0)
        return tg_cbool(c, d, v, k, &vp->conf.refusal);
    if (strcmp(k, "refusal_patterns") == 0)
        return tg_parse_patterns(c, d, v, vp);
    if (strcmp(k, "json") == 0)
        return tg_cbool(c, d, v, k, &vp->conf.json);
    if (strcmp(k, "schema") == 0)
        return tg_cbool(c, d, v, k, &vp->conf.schema);
    if (strcmp(k, "regex") == 0)
        return tg_parse_regex(c, d, v, k, &vp->conf.regex, &vp->regex);
    if (strcmp(k, "regex_forbid") == 0)
        return tg_parse_regex(c, d, v, k, &vp->conf.regex_forbid, &vp->forbid);
    if (strcmp(k, "ignore_case") == 0)
        return tg_cbool(c, d, v, k, &vp->conf.ignore_case);
    return -2;
}

int tg_parse_validate(tg_cctx_t *c, tg_cdoc_t *d, yaml_node_t *n, tg_validators_t **out)
{
    tg_vparse_t vp = {0};
    tg_validate_err_t err;
    yaml_node_t *at = n;

    if (tg_expect_map(c, d, n, "validate") == -1)
        return -1;
    TG_FOREACH_PAIR(d, n, p)
    {
        int rc = tg_parse_validate_key(c, d, tg_key(d, p), tg_node(d, p->value), &vp);

        if (rc == -2)
            return tg_cerr(c, d, tg_node(d, p->key),
                           "unknown key \"%s\" in validate (min_length, refusal, "
                           "refusal_patterns, json, schema, regex, regex_forbid, ignore_case)",
                           tg_key(d, p));
        if (rc == -1)
            return -1;
    }
    /* ignore_case may follow the patterns it applies to: compile once everything is read */
    if ((*out = tg_validators_new(&vp.conf, &err)) != NULL)
        return 0;
    if (err.field == TG_VFIELD_REGEX)
        at = vp.regex;
    else if (err.field == TG_VFIELD_REGEX_FORBID)
        at = vp.forbid;
    else if (err.field == TG_VFIELD_REFUSAL_PATTERNS && err.index < vp.conf.nrefusal_patterns)
        at = tg_node(d, vp.patterns->data.sequence.items.start[err.index]);
    return tg_cerr(c, d, at, "%s", err.msg);
}
