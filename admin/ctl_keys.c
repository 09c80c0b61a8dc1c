/*
 * tollgatectl keys: create, list, show, revoke, rotate and change virtual keys. A key's secret
 * exists only in the reply to create or rotate; this file prints it once, tells the operator to
 * store it, and wipes its copies. Listings show ids and prefixes, never secrets.
 */
#include "admin/ctl.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char tg_ctl_keys_help[] =
    "usage: tollgatectl [--json] keys COMMAND\n"
    "  keys create --tenant T --name N [--models a,b] [--task T] [--expires 30d] [limits]\n"
    "                          create a key (and its tenant if new); prints the secret once\n"
    "  keys list [--tenant T]  all keys, or a tenant's\n"
    "  keys show ID            one key (ID is the id or its tg_<id> prefix)\n"
    "  keys revoke ID          refuse the key from now on\n"
    "  keys rotate ID [--grace 1h]\n"
    "                          new secret for the same id; the old one works for the grace\n"
    "                          period (default 1h, 0: stops at once, at most 30d)\n"
    "  keys set ID [--name N] [--task T] [--models a,b] [--expires 30d|never] [limits]\n"
    "                          change a key; --models \"\" allows every model again\n"
    "durations: 30d, 12h, 90m, 45s or seconds\n";

enum { K_TENANT = TG_CTL_NLIMITS, K_NAME, K_MODELS, K_TASK, K_EXPIRES, K_GRACE, K_NFLAGS };

/* A key's state as people think of it: the master stores active/revoked, expiry is a date. */
static const char *tg_ctl_key_state(const json_t *key)
{
    const char *status = json_string_value(json_object_get(key, "status"));
    json_int_t expires = json_integer_value(json_object_get(key, "expires"));

    if (status == NULL)
        return "-";
    if (strcmp(status, "active") == 0 && expires > 0 && expires <= (json_int_t)time(NULL))
        return "expired";
    return status;
}

void tg_ctl_print_key(const json_t *key, FILE *out)
{
    const json_t *lim = json_object_get(key, "limits");
    json_t *prev = json_object_get(key, "previous_secret_valid_until");
    char b[8][256];

    fprintf(out, "id:              %s\n", tg_ctl_fmt(json_object_get(key, "id"), b[0], 256));
    fprintf(out, "prefix:          %s\n", tg_ctl_fmt(json_object_get(key, "prefix"), b[0], 256));
    fprintf(out, "tenant:          %s\n", tg_ctl_fmt(json_object_get(key, "tenant"), b[0], 256));
    fprintf(out, "name:            %s\n", tg_ctl_fmt(json_object_get(key, "name"), b[0], 256));
    fprintf(out, "status:          %s\n", tg_ctl_key_state(key));
    fprintf(out, "created:         %s\n",
            tg_ctl_fmt_time(json_object_get(key, "created"), "-", b[0], 256));
    fprintf(out, "expires:         %s\n",
            tg_ctl_fmt_time(json_object_get(key, "expires"), "never", b[0], 256));
    if (json_integer_value(prev) > (json_int_t)time(NULL))
        fprintf(out, "previous secret: valid until %s\n", tg_ctl_fmt_time(prev, "-", b[0], 256));
    fprintf(out, "task:            %s\n", tg_ctl_fmt(json_object_get(key, "task"), b[0], 256));
    fprintf(out, "models:          %s\n",
            json_array_size(json_object_get(key, "models")) == 0
                ? "any"
                : tg_ctl_fmt(json_object_get(key, "models"), b[0], 256));
    fprintf(out, "limits:          rpm %s, tpm %s, concurrency %s, daily %s, monthly %s\n",
            tg_ctl_fmt_limit(json_object_get(lim, "rpm"), b[1], 256),
            tg_ctl_fmt_limit(json_object_get(lim, "tpm"), b[2], 256),
            tg_ctl_fmt_limit(json_object_get(lim, "concurrency"), b[3], 256),
            tg_ctl_fmt_usd(json_object_get(lim, "daily_budget_usd"), 1, b[4], 256),
            tg_ctl_fmt_usd(json_object_get(lim, "monthly_budget_usd"), 1, b[5], 256));
}

/* The reply to create or rotate: the secret once, loudly, then the key. */
static void tg_ctl_print_secret(json_t *reply)
{
    json_t *secret = json_object_get(reply, "secret");
    const char *s = json_string_value(secret);

    if (s == NULL) {
        fprintf(stderr, "tollgatectl: warning: the reply carries no secret\n");
    } else {
        printf("secret: %s\n", s);
        printf("store it now: it cannot be shown again\n\n");
    }
    if (json_is_true(json_object_get(reply, "tenant_created"))) {
        const char *t = json_string_value(json_object_get(json_object_get(reply, "key"), "tenant"));
        printf("(created tenant %s)\n", t != NULL ? t : "-");
    }
    tg_ctl_print_key(json_object_get(reply, "key"), stdout);
}

/* Wipe a reply's secret before jansson frees it (jansson does not clear memory). */
static void tg_ctl_wipe_secret(json_t *reply)
{
    const char *s = json_string_value(json_object_get(reply, "secret"));

    if (s != NULL)
        explicit_bzero((char *)s, strlen(s));
}

static int tg_ctl_keys_list(const json_t *keys)
{
    static const char *const heads[] = {"ID",      "TENANT",      "NAME",   "STATUS",
                                        "EXPIRES", "TASK",        "MODELS", "RPM",
                                        "TPM",     "CONCURRENCY", "DAILY",  "MONTHLY"};
    tg_ctl_table_t t;
    json_t *k;
    size_t i;
    int rc;

    if (json_array_size(keys) == 0) {
        printf("no keys\n");
        return TG_CTL_OK;
    }
    tg_ctl_table_init(&t, 12, "lllllllrrrrr", heads);
    json_array_foreach(keys, i, k)
    {
        const json_t *lim = json_object_get(k, "limits");
        char b[12][256];
        const char *cells[12] = {
            tg_ctl_fmt(json_object_get(k, "id"), b[0], 256),
            tg_ctl_fmt(json_object_get(k, "tenant"), b[1], 256),
            tg_ctl_fmt(json_object_get(k, "name"), b[2], 256),
            tg_ctl_key_state(k),
            tg_ctl_fmt_time(json_object_get(k, "expires"), "never", b[4], 256),
            tg_ctl_fmt(json_object_get(k, "task"), b[5], 256),
            json_array_size(json_object_get(k, "models")) == 0
                ? "any"
                : tg_ctl_fmt(json_object_get(k, "models"), b[6], 256),
            tg_ctl_fmt_limit(json_object_get(lim, "rpm"), b[7], 256),
            tg_ctl_fmt_limit(json_object_get(lim, "tpm"), b[8], 256),
            tg_ctl_fmt_limit(json_object_get(lim, "concurrency"), b[9], 256),
            tg_ctl_fmt_usd(json_object_get(lim, "daily_budget_usd"), 1, b[10], 256),
            tg_ctl_fmt_usd(json_object_get(lim, "monthly_budget_usd"), 1, b[11], 256),
        };
        tg_ctl_table_add(&t, cells);
    }
    rc = tg_ctl_table_print(&t, stdout);
    tg_ctl_table_free(&t);
    return rc;
}

/* Fields shared by create and set: name, task, models, expires. Returns 0, or -1 (reported). */
static int tg_ctl_key_fields(const char *what, const tg_ctl_flag_t *f, json_t *req, int is_set)
{
    int rc = 0;

    if (f[K_NAME].value != NULL)
        rc |= json_object_set_new(req, "name", json_string(f[K_NAME].value));
    if (f[K_TASK].value != NULL)
        rc |= json_object_set_new(req, "task", json_string(f[K_TASK].value));
    if (f[K_MODELS].value != NULL)
        rc |= json_object_set_new(req, "models", tg_ctl_split_list(f[K_MODELS].value));
    if (f[K_EXPIRES].value != NULL) {
        int64_t secs;
        if (is_set && strcmp(f[K_EXPIRES].value, "never") == 0) {
            secs = 0;
        } else if (tg_ctl_parse_seconds(f[K_EXPIRES].value, &secs) == -1 || secs == 0) {
            tg_ctl_usage_error(what, "--expires must be a duration like 30d or 12h%s, not \"%s\"",
                               is_set ? " (or never)" : "", f[K_EXPIRES].value);
            return -1;
        }
        rc |= json_object_set_new(req, "expires_in", json_integer((json_int_t)secs));
    }
    if (rc != 0) {
        fprintf(stderr, "tollgatectl: out of memory or a name that is not UTF-8\n");
        return -1;
    }
    return 0;
}

int tg_ctl_keys(tg_ctl_t *ctx, int argc, char **argv)
{
    tg_ctl_flag_t f[K_NFLAGS] = {
        TG_CTL_LIMIT_FLAGS,   {"tenant", 0, 1, NULL},  {"name", 0, 1, NULL}, {"models", 0, 1, NULL},
        {"task", 0, 1, NULL}, {"expires", 0, 1, NULL}, {"grace", 0, 1, NULL}};
    const char *sub, *pos[1] = {NULL}, *cmd;
    char what[32];
    json_t *req = NULL, *reply = NULL;
    int npos, rc;

    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        fputs(tg_ctl_keys_help, argc < 2 ? stderr : stdout);
        return argc < 2 ? TG_CTL_USAGE : TG_CTL_OK;
    }
    sub = argv[1];
    snprintf(what, sizeof(what), "keys %.20s", sub);
    if (strcmp(sub, "create") == 0)
        cmd = "keys.create";
    else if (strcmp(sub, "list") == 0)
        cmd = "keys.list";
    else if (strcmp(sub, "show") == 0)
        cmd = "keys.show";
    else if (strcmp(sub, "revoke") == 0)
        cmd = "keys.revoke";
    else if (strcmp(sub, "rotate") == 0)
        cmd = "keys.rotate";
    else if (strcmp(sub, "set") == 0)
        cmd = "keys.set";
    else
        return tg_ctl_usage_error("keys", "unknown command \"%s\"", sub);

    npos = tg_ctl_flags(ctx, what, argc - 2, argv + 2, f, K_NFLAGS, pos,
                        strcmp(cmd, "keys.create") == 0 || strcmp(cmd, "keys.list") == 0 ? 0 : 1);
    if (npos == TG_CTL_HELP) {
        fputs(tg_ctl_keys_help, stdout);
        fputs(tg_ctl_limits_help, stdout);
        return TG_CTL_OK;
    }
    if (npos < 0)
        return TG_CTL_USAGE;
    /* each command accepts only its own flags */
    for (int i = 0; i < K_NFLAGS; i++) {
        int ok;
        if (f[i].value == NULL)
            continue;
        if (i < TG_CTL_NLIMITS || i == K_NAME || i == K_MODELS || i == K_TASK || i == K_EXPIRES)
            ok = strcmp(cmd, "keys.create") == 0 || strcmp(cmd, "keys.set") == 0;
        else if (i == K_TENANT)
            ok = strcmp(cmd, "keys.create") == 0 || strcmp(cmd, "keys.list") == 0;
        else
            ok = strcmp(cmd, "keys.rotate") == 0;
        if (!ok)
            return tg_ctl_usage_error(what, "--%s does not apply here", f[i].name);
    }
    if (npos == 0 && strcmp(cmd, "keys.create") != 0 && strcmp(cmd, "keys.list") != 0)
        return tg_ctl_usage_error(what, "which key? give its id");
    if (strcmp(cmd, "keys.create") == 0 && (f[K_TENANT].value == NULL || f[K_NAME].value == NULL))
        return tg_ctl_usage_error(what, "--tenant and --name are required");

    if ((req = json_pack("{s:s}", "cmd", cmd)) == NULL)
        goto nomem;
    if (pos[0] != NULL && json_object_set_new(req, "id", json_string(pos[0])) == -1)
        goto nomem;
    if (f[K_TENANT].value != NULL &&
        json_object_set_new(req, "tenant", json_string(f[K_TENANT].value)) == -1)
        goto nomem;
    if (tg_ctl_limits_to(what, f, req) < 0 ||
        tg_ctl_key_fields(what, f, req, strcmp(cmd, "keys.set") == 0) == -1)
        goto fail;
    if (strcmp(cmd, "keys.set") == 0 && json_object_size(req) == 2) {
        tg_ctl_usage_error(what, "nothing to change");
        goto fail;
    }
    if (f[K_GRACE].value != NULL) {
        int64_t grace;
        if (tg_ctl_parse_seconds(f[K_GRACE].value, &grace) == -1) {
            tg_ctl_usage_error(what, "--grace must be a duration like 1h or 0, not \"%s\"",
                               f[K_GRACE].value);
            goto fail;
        }
        if (json_object_set_new(req, "grace_seconds", json_integer((json_int_t)grace)) == -1)
            goto nomem;
    }

    if ((rc = tg_ctl_exec(ctx, req, &reply)) != TG_CTL_OK || ctx->as_json)
        goto done;
    if (strcmp(cmd, "keys.list") == 0) {
        rc = tg_ctl_keys_list(json_object_get(reply, "keys"));
    } else if (strcmp(cmd, "keys.create") == 0 || strcmp(cmd, "keys.rotate") == 0) {
        tg_ctl_print_secret(reply);
    } else if (strcmp(cmd, "keys.revoke") == 0) {
        char b[256];
        printf("key %s revoked\n",
               tg_ctl_fmt(json_object_get(json_object_get(reply, "key"), "id"), b, sizeof(b)));
    } else {
        tg_ctl_print_key(json_object_get(reply, "key"), stdout);
    }
done:
    if (reply != NULL)
        tg_ctl_wipe_secret(reply);
    json_decref(reply);
    json_decref(req);
    return rc;

nomem:
    fprintf(stderr, "tollgatectl: out of memory\n");
    json_decref(req);
    return TG_CTL_FAIL;
fail:
    json_decref(req);
    return TG_CTL_USAGE;
}
