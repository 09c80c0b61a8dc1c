/*
 * Internals of tollgatectl shared by its files: the connection to the admin socket, the small
 * flag parser every command uses, value parsers (durations, dates, limits) and the printers that
 * turn replies into tables. The protocol itself is docs/admin-protocol.md.
 */
#ifndef TG_ADMIN_CTL_H
#define TG_ADMIN_CTL_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Exit codes: success, a failure (the gateway's or ours), a command line mistake. */
#define TG_CTL_OK 0
#define TG_CTL_FAIL 1
#define TG_CTL_USAGE 2

/* tg_ctl_flags() result when -h/--help was given: the caller prints help and exits 0. */
#define TG_CTL_HELP (-2)

#define TG_CTL_MAX_COLS 16

/** What every command needs: where the gateway is and how to print. */
typedef struct {
    const char *sock;   /* admin socket path; NULL: admin_socket of config */
    const char *config; /* configuration file naming the socket (-c) */
    int as_json;        /* --json: print raw replies, one JSON line each */
} tg_ctl_t;

/** One command line flag: --name VALUE or --name=VALUE (or -a VALUE), or a bare --name. */
typedef struct {
    const char *name;  /* long name without the dashes, e.g. "tenant" */
    char alias;        /* short name, e.g. 'n' for -n; 0 for none */
    int takes_value;   /* 1: needs a value; 0: a switch */
    const char *value; /* out: the value ("" for a switch that was given); NULL when absent */
} tg_ctl_flag_t;

/** A command group (keys, tenants, ...): argv[0] is the group's name. Returns an exit code. */
typedef int (*tg_ctl_group_fn)(tg_ctl_t *ctx, int argc, char **argv);

/* ---- ctl_conn.c ------------------------------------------------------------------------- */

/**
 * Send req to the gateway and wait for its reply. With --json the reply is printed as one line;
 * ok:false is reported on stderr as "tollgatectl: <error>". Returns TG_CTL_OK with *reply set
 * (owned by the caller), or TG_CTL_FAIL with *reply NULL (the reason was printed). req is not
 * consumed; the serialized line is wiped before it is freed, so it may carry a secret.
 */
int tg_ctl_exec(const tg_ctl_t *ctx, json_t *req, json_t **reply);

/** tg_ctl_exec() for a command with no fields: {"cmd": cmd}. */
int tg_ctl_exec_simple(const tg_ctl_t *ctx, const char *cmd, json_t **reply);

/* ---- ctl_args.c ------------------------------------------------------------------------- */

/**
 * Split argv[0..argc) into the flags described by flags[0..nflags) and at most maxpos
 * positional arguments (stored in pos). --json and -h/--help are understood everywhere;
 * "--" ends the flags. Returns the number of positionals, TG_CTL_HELP, or -1 after printing
 * "tollgatectl: WHAT: reason" to stderr.
 */
int tg_ctl_flags(tg_ctl_t *ctx, const char *what, int argc, char **argv, tg_ctl_flag_t *flags,
                 int nflags, const char **pos, int maxpos);

/** Report a command line mistake: "tollgatectl: WHAT: message" on stderr. Returns 2. */
int tg_ctl_usage_error(const char *what, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/** Parse a non-negative integer no larger than max ("unlimited" is 0). Returns 0 or -1. */
int tg_ctl_parse_count(const char *s, int64_t max, int64_t *out);

/** Parse a duration (30d, 1h, 90m, 45s, bare seconds) into whole seconds. Returns 0 or -1. */
int tg_ctl_parse_seconds(const char *s, int64_t *out);

/**
 * Parse a point in time into unix seconds: a duration ago (24h, 7d), "now", "@UNIXSECONDS" or
 * a UTC date: 2026-11-01, 2026-11-01T08:00, 2026-11-01T08:00:00[Z] (a space may replace the T).
 * Returns 0 or -1.
 */
int tg_ctl_parse_when(const char *s, int64_t now, int64_t *out);

/**
 * Check a USD amount ("25", "12.50", "$12.50", "unlimited") and write the plain decimal ("25",
 * "12.50", "0") into out. Returns 0 or -1.
 */
int tg_ctl_parse_usd(const char *s, char *out, size_t size);

/** Split "a,b,c" into a JSON array of non-empty names; "" gives []. NULL when out of memory. */
json_t *tg_ctl_split_list(const char *s);

/* The five limit flags shared by keys and tenants, always first in a command's flag table. */
#define TG_CTL_LIMIT_FLAGS                                                                         \
    {"rpm", 0, 1, NULL}, {"tpm", 0, 1, NULL}, {"concurrency", 0, 1, NULL},                         \
        {"daily-budget", 0, 1, NULL},                                                              \
    {                                                                                              \
        "monthly-budget", 0, 1, NULL                                                               \
    }
#define TG_CTL_NLIMITS 5

/**
 * Copy the limit flags in flags[0..TG_CTL_NLIMITS) that were given into req (rpm, tpm,
 * concurrency, daily_budget_usd, monthly_budget_usd). Returns how many were set, or -1 after
 * reporting a bad value.
 */
int tg_ctl_limits_to(const char *what, const tg_ctl_flag_t *flags, json_t *req);

/** Help text for the limit flags, shared by the keys and tenants help. */
extern const char tg_ctl_limits_help[];

/* ---- ctl_print.c ------------------------------------------------------------------------ */

/** A table of text cells printed with aligned columns (two spaces apart). */
typedef struct {
    int ncols;
    const char *heads[TG_CTL_MAX_COLS];
    char align[TG_CTL_MAX_COLS]; /* 'l' or 'r' */
    char **cells;                /* nrows * ncols, owned */
    size_t nrows, cap;
    int failed; /* out of memory while adding: printing reports it */
} tg_ctl_table_t;

/**
 * Start a table of ncols columns (at most TG_CTL_MAX_COLS): align is one 'l' or 'r' per column
 * ("llrr"), heads the column titles.
 */
void tg_ctl_table_init(tg_ctl_table_t *t, int ncols, const char *align, const char *const *heads);

/** Add a row of ncols cells (copied; NULL prints as "-"). */
void tg_ctl_table_add(tg_ctl_table_t *t, const char *const *cells);

/** Print the header and rows; returns TG_CTL_OK, or TG_CTL_FAIL when a row was lost. */
int tg_ctl_table_print(const tg_ctl_table_t *t, FILE *out);

/** Free the cells. */
void tg_ctl_table_free(tg_ctl_table_t *t);

/**
 * Format any JSON value for a person into buf: strings as is, numbers, booleans as yes/no,
 * lists as "a,b", objects as compact JSON; missing or null (or an empty list) is "-".
 * Returns buf.
 */
const char *tg_ctl_fmt(const json_t *v, char *buf, size_t size);

/** A limit: a positive integer, or "-" for 0 (no limit) and missing. Returns buf. */
const char *tg_ctl_fmt_limit(const json_t *v, char *buf, size_t size);

/**
 * A USD amount ("12.500000", 12.5) as "$12.50" (at least two decimals, trailing zeros
 * trimmed). A zero amount prints as "-" when zero_dash, else "$0.00". Missing is "-".
 */
const char *tg_ctl_fmt_usd(const json_t *v, int zero_dash, char *buf, size_t size);

/** Unix seconds as "2026-11-03T14:02:11Z"; 0 prints as zero_text, missing as "-". */
const char *tg_ctl_fmt_time(const json_t *v, const char *zero_text, char *buf, size_t size);

/** s in capitals (a table's first column heading from a --by value). Returns buf. */
const char *tg_ctl_upper(const char *s, char *buf, size_t size);

/** A ratio (0.9412) as a percentage ("94.1%"); missing or null is "-". Returns buf. */
const char *tg_ctl_fmt_pct(const json_t *v, char *buf, size_t size);

/** Print the raw JSON value as one compact line on out. Returns 0 or -1. */
int tg_ctl_print_json_line(FILE *out, const json_t *v);

/**
 * Print an array of objects as a table whose columns are the keys of the first object (lists
 * as "a,b", nested objects as JSON). Fields that look like secrets are shown as "(hidden)".
 */
int tg_ctl_print_rows(const json_t *rows, FILE *out);

/* ---- tollgatectl.c ---------------------------------------------------------------------- */

/** Run a gateway command (status, workers, reload, routes.reload, drain) and print it. */
int tg_ctl_gateway(const tg_ctl_t *ctx, const char *cmd);

/* ---- the command groups ----------------------------------------------------------------- */

int tg_ctl_keys(tg_ctl_t *ctx, int argc, char **argv);      /* ctl_keys.c */
int tg_ctl_tenants(tg_ctl_t *ctx, int argc, char **argv);   /* ctl_tenants.c */
int tg_ctl_audit(tg_ctl_t *ctx, int argc, char **argv);     /* ctl_audit.c */
int tg_ctl_usage(tg_ctl_t *ctx, int argc, char **argv);     /* ctl_audit.c */
int tg_ctl_providers(tg_ctl_t *ctx, int argc, char **argv); /* ctl_providers.c */
int tg_ctl_routes(tg_ctl_t *ctx, int argc, char **argv);    /* ctl_providers.c */
int tg_ctl_route(tg_ctl_t *ctx, int argc, char **argv);     /* ctl_routes.c */
int tg_ctl_calc(tg_ctl_t *ctx, int argc, char **argv);      /* ctl_calc.c */
int tg_ctl_savings(tg_ctl_t *ctx, int argc, char **argv);   /* ctl_analytics.c */
int tg_ctl_experiments(tg_ctl_t *ctx, int argc, char **argv);
int tg_ctl_events(tg_ctl_t *ctx, int argc, char **argv);

/** The request of a report command (cmd) from its --by, --since, --until flags (f[0..3)), or
 * NULL after reporting a command line mistake. */
json_t *tg_ctl_report_req(const char *what, const char *cmd, const tg_ctl_flag_t *f);

/** Print one key's details (keys show, create, rotate). */
void tg_ctl_print_key(const json_t *key, FILE *out);

#endif
