/*
 * tollgatectl tenants: create, list, show and change tenants — the limits and budgets every key
 * of a tenant shares, and the switch that disables all of them at once. Tenants are also
 * created implicitly by the first `keys create` that names them.
 */
#include "admin/ctl.h"

#include <string.h>

static const char tg_ctl_tenants_help[] =
    "usage: tollgatectl [--json] tenants COMMAND\n"
    "  tenants create NAME [limits]          a tenant with shared limits\n"
    "  tenants list                          every tenant\n"
    "  tenants show NAME                     one tenant\n"
    "  tenants set NAME [limits] [--disable|--enable]\n"
    "                                        change limits; --disable refuses all its keys\n";

enum { T_DISABLE = TG_CTL_NLIMITS, T_ENABLE, T_NFLAGS };

static void tg_ctl_tenant_cells(const json_t *t, char b[][256], const char **cells)
{
    const json_t *lim = json_object_get(t, "limits");
    const json_t *dis = json_object_get(t, "disabled");

    cells[0] = tg_ctl_fmt(json_object_get(t, "name"), b[0], 256);
    cells[1] = !json_is_boolean(dis) ? "-" : json_is_true(dis) ? "disabled" : "active";
    cells[2] = tg_ctl_fmt_time(json_object_get(t, "created"), "-", b[2], 256);
    cells[3] = tg_ctl_fmt_limit(json_object_get(lim, "rpm"), b[3], 256);
    cells[4] = tg_ctl_fmt_limit(json_object_get(lim, "tpm"), b[4], 256);
    cells[5] = tg_ctl_fmt_limit(json_object_get(lim, "concurrency"), b[5], 256);
    cells[6] = tg_ctl_fmt_usd(json_object_get(lim, "daily_budget_usd"), 1, b[6], 256);
    cells[7] = tg_ctl_fmt_usd(json_object_get(lim, "monthly_budget_usd"), 1, b[7], 256);
}

static int tg_ctl_tenants_print(const json_t *reply)
{
    static const char *const heads[] = {"NAME", "STATUS",      "CREATED", "RPM",
                                        "TPM",  "CONCURRENCY", "DAILY",   "MONTHLY"};
    const json_t *list = json_object_get(reply, "tenants"), *one = json_object_get(reply, "tenant");
    tg_ctl_table_t t;
    json_t *e;
    size_t i;
    int rc;

    if (json_is_object(one)) {
        char b[8][256];
        const char *c[8];

        tg_ctl_tenant_cells(one, b, c);
        printf("name:            %s\nstatus:          %s\ncreated:         %s\n"
               "limits:          rpm %s, tpm %s, concurrency %s, daily %s, monthly %s\n",
               c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]);
        return TG_CTL_OK;
    }
    if (json_array_size(list) == 0) {
        printf("no tenants\n");
        return TG_CTL_OK;
    }
    tg_ctl_table_init(&t, 8, "lllrrrrr", heads);
    json_array_foreach(list, i, e)
    {
        char b[8][256];
        const char *c[8];

        tg_ctl_tenant_cells(e, b, c);
        tg_ctl_table_add(&t, c);
    }
    rc = tg_ctl_table_print(&t, stdout);
    tg_ctl_table_free(&t);
    return rc;
}

int tg_ctl_tenants(tg_ctl_t *ctx, int argc, char **argv)
{
    tg_ctl_flag_t f[T_NFLAGS] = {
        TG_CTL_LIMIT_FLAGS, {"disable", 0, 0, NULL}, {"enable", 0, 0, NULL}};
    const char *sub, *pos[1] = {NULL}, *cmd;
    char what[32];
    json_t *req = NULL, *reply = NULL;
    int npos, nset, rc;

    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        fputs(tg_ctl_tenants_help, argc < 2 ? stderr : stdout);
        return argc < 2 ? TG_CTL_USAGE : TG_CTL_OK;
    }
    sub = argv[1];
    snprintf(what, sizeof(what), "tenants %.20s", sub);
    if (strcmp(sub, "create") == 0)
        cmd = "tenants.create";
    else if (strcmp(sub, "list") == 0)
        cmd = "tenants.list";
    else if (strcmp(sub, "show") == 0)
        cmd = "tenants.show";
    else if (strcmp(sub, "set") == 0)
        cmd = "tenants.set";
    else
        return tg_ctl_usage_error("tenants", "unknown command \"%s\"", sub);

    npos = tg_ctl_flags(ctx, what, argc - 2, argv + 2, f, T_NFLAGS, pos,
                        strcmp(cmd, "tenants.list") == 0 ? 0 : 1);
    if (npos == TG_CTL_HELP) {
        fputs(tg_ctl_tenants_help, stdout);
        fputs(tg_ctl_limits_help, stdout);
        return TG_CTL_OK;
    }
    if (npos < 0)
        return TG_CTL_USAGE;
    if (npos == 0 && strcmp(cmd, "tenants.list") != 0)
        return tg_ctl_usage_error(what, "which tenant? give its name");
    for (int i = 0; i < T_NFLAGS; i++) {
        int ok = i < TG_CTL_NLIMITS
                     ? strcmp(cmd, "tenants.create") == 0 || strcmp(cmd, "tenants.set") == 0
                     : strcmp(cmd, "tenants.set") == 0;
        if (f[i].value != NULL && !ok)
            return tg_ctl_usage_error(what, "--%s does not apply here", f[i].name);
    }
    if (f[T_DISABLE].value != NULL && f[T_ENABLE].value != NULL)
        return tg_ctl_usage_error(what, "--disable and --enable contradict each other");

    if ((req = json_pack("{s:s}", "cmd", cmd)) == NULL)
        goto nomem;
    if (pos[0] != NULL && json_object_set_new(req, "name", json_string(pos[0])) == -1)
        goto nomem;
    if ((nset = tg_ctl_limits_to(what, f, req)) < 0) {
        json_decref(req);
        return TG_CTL_USAGE;
    }
    if (f[T_DISABLE].value != NULL || f[T_ENABLE].value != NULL) {
        if (json_object_set_new(req, "disabled", json_boolean(f[T_DISABLE].value != NULL)) == -1)
            goto nomem;
        nset++;
    }
    if (strcmp(cmd, "tenants.set") == 0 && nset == 0) {
        json_decref(req);
        return tg_ctl_usage_error(what, "nothing to change");
    }
    if ((rc = tg_ctl_exec(ctx, req, &reply)) == TG_CTL_OK && !ctx->as_json)
        rc = tg_ctl_tenants_print(reply);
    json_decref(reply);
    json_decref(req);
    return rc;

nomem:
    fprintf(stderr, "tollgatectl: out of memory or a name that is not UTF-8\n");
    json_decref(req);
    return TG_CTL_FAIL;
}
