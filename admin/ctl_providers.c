/*
 * tollgatectl providers and routes: list the upstream providers, replace a provider's API key
 * without a restart, and show or reload the routing table. A new provider secret is read from
 * stdin (never argv, where ps and shell history would keep it), sent once, and wiped.
 */
#include "admin/ctl.h"

#include <errno.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#define TG_CTL_SECRET_MAX 8192

static const char tg_ctl_providers_help[] =
    "usage: tollgatectl [--json] providers COMMAND\n"
    "  providers list               the configured providers (secrets are never shown)\n"
    "  providers rotate-key NAME    replace NAME's API key; the new key is read from stdin\n"
    "                               (typed without echo on a terminal, or piped in)\n";

static const char tg_ctl_routes_help[] =
    "usage: tollgatectl [--json] routes COMMAND\n"
    "  routes show      the models in force: provider, upstream name, prices per 1M tokens\n"
    "  routes reload    reload the configuration (same as reload)\n";

/* Print reply[field] when its shape is not one this version knows: a list as a table. */
static int tg_ctl_print_other(const json_t *reply, const char *field)
{
    const json_t *v = json_object_get(reply, field);

    if (json_is_array(v))
        return tg_ctl_print_rows(v, stdout);
    return tg_ctl_print_json_line(stdout, reply) == 0 ? TG_CTL_OK : TG_CTL_FAIL;
}

static int tg_ctl_providers_table(const json_t *reply)
{
    static const char *const heads[] = {"NAME", "KIND", "BASE_URL", "KEY", "HTTP2", "MODELS"};
    const json_t *list = json_object_get(reply, "providers");
    tg_ctl_table_t t;
    json_t *p;
    size_t i;
    int rc;

    if (json_array_size(list) == 0) {
        printf("no providers\n");
        return TG_CTL_OK;
    }
    if (!json_is_string(json_object_get(json_array_get(list, 0), "name")))
        return tg_ctl_print_other(reply, "providers");
    tg_ctl_table_init(&t, 6, "lllllr", heads);
    json_array_foreach(list, i, p)
    {
        char b[6][256];
        /* where the key came from (env, file, rotated), or none: never the key itself */
        const char *c[6] = {
            tg_ctl_fmt(json_object_get(p, "name"), b[0], 256),
            tg_ctl_fmt(json_object_get(p, "kind"), b[1], 256),
            tg_ctl_fmt(json_object_get(p, "base_url"), b[2], 256),
            json_is_false(json_object_get(p, "has_key"))
                ? "none"
                : tg_ctl_fmt(json_object_get(p, "key_source"), b[3], 256),
            tg_ctl_fmt(json_object_get(p, "http2"), b[4], 256),
            tg_ctl_fmt(json_object_get(p, "models"), b[5], 256),
        };
        tg_ctl_table_add(&t, c);
    }
    rc = tg_ctl_table_print(&t, stdout);
    tg_ctl_table_free(&t);
    return rc;
}

/* routes show: the models in force, with their provider and prices per 1M tokens. */
static int tg_ctl_routes_table(const json_t *reply)
{
    static const char *const heads[] = {"MODEL",    "PROVIDER",  "UPSTREAM",
                                        "INPUT/1M", "OUTPUT/1M", "CACHED/1M",
                                        "CONTEXT",  "MAX_OUT",   "CAPABILITIES"};
    const json_t *list = json_object_get(reply, "models");
    char gen[32];
    tg_ctl_table_t t;
    json_t *m;
    size_t i;
    int rc;

    if (!json_is_array(list))
        return tg_ctl_print_other(reply, "routes");
    printf("configuration generation %s\n",
           tg_ctl_fmt(json_object_get(reply, "generation"), gen, sizeof(gen)));
    if (json_array_size(list) == 0) {
        printf("no models\n");
        return TG_CTL_OK;
    }
    tg_ctl_table_init(&t, 9, "lllrrrrrl", heads);
    json_array_foreach(list, i, m)
    {
        char b[9][256];
        const char *c[9] = {
            tg_ctl_fmt(json_object_get(m, "name"), b[0], 256),
            tg_ctl_fmt(json_object_get(m, "provider"), b[1], 256),
            tg_ctl_fmt(json_object_get(m, "upstream_model"), b[2], 256),
            tg_ctl_fmt_usd(json_object_get(m, "input"), 0, b[3], 256),
            tg_ctl_fmt_usd(json_object_get(m, "output"), 0, b[4], 256),
            tg_ctl_fmt_usd(json_object_get(m, "cached_input"), 0, b[5], 256),
            tg_ctl_fmt_limit(json_object_get(m, "context_window"), b[6], 256),
            tg_ctl_fmt_limit(json_object_get(m, "max_output_tokens"), b[7], 256),
            tg_ctl_fmt(json_object_get(m, "capabilities"), b[8], 256),
        };
        tg_ctl_table_add(&t, c);
    }
    rc = tg_ctl_table_print(&t, stdout);
    tg_ctl_table_free(&t);
    return rc;
}

/*
 * Read one line from stdin into buf with read(2), so no stdio buffer keeps a copy. On a
 * terminal, prompt on stderr and turn echo off while the secret is typed.
 */
static int tg_ctl_read_secret(const char *provider, char *buf, size_t size)
{
    struct termios old, quiet;
    size_t len = 0;
    int tty = isatty(STDIN_FILENO), echo_off = 0, rc = -1;

    memset(&old, 0, sizeof(old));
    if (tty) {
        fprintf(stderr, "new API key for provider %s: ", provider);
        if (tcgetattr(STDIN_FILENO, &old) == 0) {
            quiet = old;
            quiet.c_lflag &= ~(tcflag_t)ECHO;
            echo_off = tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet) == 0;
        }
    }
    for (;;) {
        ssize_t n;

        if (len == size - 1) {
            fprintf(stderr, "tollgatectl: the secret is longer than %zu bytes\n", size - 1);
            goto done;
        }
        n = read(STDIN_FILENO, buf + len, tty ? 1 : size - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            fprintf(stderr, "tollgatectl: reading the secret from stdin failed: %s\n",
                    strerror(errno));
            goto done;
        }
        if (n == 0)
            break;
        len += (size_t)n;
        if (memchr(buf, '\n', len) != NULL)
            break;
    }
    buf[len] = '\0';
    buf[strcspn(buf, "\r\n")] = '\0'; /* the first line only */
    len = strlen(buf);
    if (len == 0) {
        fprintf(stderr, "tollgatectl: no secret on stdin (pipe it in, or type it at the "
                        "prompt)\n");
        goto done;
    }
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)buf[i] < 0x20 || buf[i] == 0x7f) {
            fprintf(stderr, "tollgatectl: the secret contains control characters\n");
            goto done;
        }
    rc = 0;
done:
    if (echo_off)
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
    if (tty)
        fputc('\n', stderr);
    if (rc == -1)
        explicit_bzero(buf, size);
    return rc;
}

static int tg_ctl_rotate_provider(tg_ctl_t *ctx, const char *name)
{
    char secret[TG_CTL_SECRET_MAX];
    json_t *req = NULL, *reply = NULL, *js = NULL;
    int rc = TG_CTL_FAIL;

    if (tg_ctl_read_secret(name, secret, sizeof(secret)) == -1)
        return TG_CTL_FAIL;
    js = json_string(secret);
    explicit_bzero(secret, sizeof(secret));
    if (js == NULL) {
        fprintf(stderr, "tollgatectl: the secret is not valid UTF-8\n");
        return TG_CTL_FAIL;
    }
    req = json_pack("{s:s,s:s,s:O}", "cmd", "providers.rotate_key", "name", name, "secret", js);
    if (req == NULL) {
        fprintf(stderr, "tollgatectl: out of memory or a name that is not UTF-8\n");
        goto done;
    }
    if ((rc = tg_ctl_exec(ctx, req, &reply)) == TG_CTL_OK && !ctx->as_json)
        printf("provider %s: API key replaced\n", name);
done:
    /* jansson frees without clearing: wipe the one string that held the secret */
    explicit_bzero((char *)json_string_value(js), json_string_length(js));
    json_decref(js);
    json_decref(req);
    json_decref(reply);
    return rc;
}

int tg_ctl_providers(tg_ctl_t *ctx, int argc, char **argv)
{
    const char *pos[2] = {NULL, NULL}, *sub;
    int npos;

    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        fputs(tg_ctl_providers_help, argc < 2 ? stderr : stdout);
        return argc < 2 ? TG_CTL_USAGE : TG_CTL_OK;
    }
    sub = argv[1];
    if (strcmp(sub, "list") != 0 && strcmp(sub, "rotate-key") != 0)
        return tg_ctl_usage_error("providers", "unknown command \"%s\"", sub);
    npos = tg_ctl_flags(ctx, "providers", argc - 2, argv + 2, NULL, 0, pos, 2);
    if (npos == TG_CTL_HELP) {
        fputs(tg_ctl_providers_help, stdout);
        return TG_CTL_OK;
    }
    if (npos < 0)
        return TG_CTL_USAGE;
    if (strcmp(sub, "list") == 0) {
        if (npos > 0)
            return tg_ctl_usage_error("providers list", "unexpected argument \"%s\"", pos[0]);
        json_t *reply = NULL;
        int rc;

        if ((rc = tg_ctl_exec_simple(ctx, "providers.list", &reply)) == TG_CTL_OK && !ctx->as_json)
            rc = tg_ctl_providers_table(reply);
        json_decref(reply);
        return rc;
    }
    if (npos == 0)
        return tg_ctl_usage_error("providers rotate-key", "which provider? give its name");
    if (npos > 1) /* do not echo it: it may be the secret someone tried to pass */
        return tg_ctl_usage_error("providers rotate-key",
                                  "the new key is read from stdin, never from the command line");
    return tg_ctl_rotate_provider(ctx, pos[0]);
}

int tg_ctl_routes(tg_ctl_t *ctx, int argc, char **argv)
{
    const char *pos[1] = {NULL}, *sub;
    json_t *reply = NULL;
    int npos, rc;

    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        fputs(tg_ctl_routes_help, argc < 2 ? stderr : stdout);
        return argc < 2 ? TG_CTL_USAGE : TG_CTL_OK;
    }
    sub = argv[1];
    if (strcmp(sub, "show") != 0 && strcmp(sub, "reload") != 0)
        return tg_ctl_usage_error("routes", "unknown command \"%s\"", sub);
    npos = tg_ctl_flags(ctx, "routes", argc - 2, argv + 2, NULL, 0, pos, 0);
    if (npos == TG_CTL_HELP) {
        fputs(tg_ctl_routes_help, stdout);
        return TG_CTL_OK;
    }
    if (npos < 0)
        return TG_CTL_USAGE;
    if (strcmp(sub, "reload") == 0)
        return tg_ctl_gateway(ctx, "routes.reload");
    if ((rc = tg_ctl_exec_simple(ctx, "routes.show", &reply)) == TG_CTL_OK && !ctx->as_json)
        rc = tg_ctl_routes_table(reply);
    json_decref(reply);
    return rc;
}
