/*
 * Admin commands for virtual keys, tenants and the audit trail. Each mutation is one synced
 * write transaction in the control store that also appends its audit entry, so the change and
 * its record of who made it land together or not at all. Secrets appear only in the reply to
 * the command that creates or rotates them; audit entries carry ids and record hashes.
 */
#include "master/admin_keys.h"
#include "shared/tg_audit.h"
#include "shared/tg_keys.h"
#include "shared/tg_meter.h"
#include "shared/tg_money.h"
#include "shared/tg_log.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TG_MAX_EXPIRES_IN ((json_int_t)10 * 366 * 86400)

json_t *tg_admin_err(const char *fmt, ...)
{
    char msg[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return json_pack("{s:b,s:s}", "ok", 0, "error", msg);
}

static int tg_name_valid(const char *s)
{
    size_t n = 0;

    for (; s != NULL && *s; s++, n++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              strchr("._-:@", *s) != NULL))
            return 0;
    return n > 0 && n < TG_NAME_MAX;
}

/* USD amounts: a JSON number or decimal string, at most 6 decimals, into micro-dollars. */
static int tg_usd(json_t *v, int64_t *micros)
{
    char buf[64];

    if (json_is_string(v))
        snprintf(buf, sizeof(buf), "%s", json_string_value(v));
    else if (json_is_integer(v))
        snprintf(buf, sizeof(buf), "%lld", (long long)json_integer_value(v));
    else if (json_is_real(v))
        snprintf(buf, sizeof(buf), "%.6f", json_real_value(v));
    else
        return -1;
    /* a USD amount is numerically a "USD per 1M tokens" price: micro-dollars */
    return tg_price_parse(buf, micros);
}

/* Read limit fields present in req into l; returns NULL or an error reply. */
static json_t *tg_limits_from(json_t *req, tg_limits_t *l)
{
    static const char *const ints[] = {"rpm", "tpm", "concurrency"};
    int64_t *dst[] = {&l->rpm, &l->tpm, &l->concurrency};
    json_t *v;

    for (int i = 0; i < 3; i++) {
        if ((v = json_object_get(req, ints[i])) == NULL)
            continue;
        if (!json_is_integer(v) || json_integer_value(v) < 0)
            return tg_admin_err("%s must be a non-negative integer (0: unlimited)", ints[i]);
        *dst[i] = json_integer_value(v);
    }
    if ((v = json_object_get(req, "daily_budget_usd")) != NULL &&
        tg_usd(v, &l->daily_budget_micros) == -1)
        return tg_admin_err(
            "daily_budget_usd must be a USD amount like 25 or 12.50 (0: unlimited)");
    if ((v = json_object_get(req, "monthly_budget_usd")) != NULL &&
        tg_usd(v, &l->monthly_budget_micros) == -1)
        return tg_admin_err("monthly_budget_usd must be a USD amount like 500 (0: unlimited)");
    return NULL;
}

static json_t *tg_usd_json(int64_t micros)
{
    char buf[32];

    tg_money_format(micros * 1000000, buf, sizeof(buf));
    return json_string(buf);
}

static json_t *tg_limits_json(const tg_limits_t *l)
{
    return json_pack("{s:I,s:I,s:I,s:o,s:o}", "rpm", (json_int_t)l->rpm, "tpm", (json_int_t)l->tpm,
                     "concurrency", (json_int_t)l->concurrency, "daily_budget_usd",
                     tg_usd_json(l->daily_budget_micros), "monthly_budget_usd",
                     tg_usd_json(l->monthly_budget_micros));
}

static json_t *tg_key_json(const tg_key_t *k)
{
    json_t *models = json_array();
    char prefix[TG_KEY_ID_LEN + 8];

    for (int i = 0; i < k->nmodels; i++)
        json_array_append_new(models, json_string(k->models[i]));
    snprintf(prefix, sizeof(prefix), "tg_%s_", k->id);
    return json_pack("{s:s,s:s,s:s,s:s,s:s,s:I,s:I,s:I,s:s,s:o,s:o}", "id", k->id, "prefix", prefix,
                     "tenant", k->tenant, "name", k->name, "status",
                     k->status == TG_KEY_REVOKED ? "revoked" : "active", "created",
                     (json_int_t)k->created, "expires", (json_int_t)k->expires,
                     "previous_secret_valid_until", (json_int_t)k->prev_until, "task", k->task,
                     "models", models, "limits", tg_limits_json(&k->limits));
}

static json_t *tg_tenant_json(const tg_tenant_t *t)
{
    return json_pack("{s:s,s:I,s:b,s:o}", "name", t->name, "created", (json_int_t)t->created,
                     "disabled", t->disabled, "limits", tg_limits_json(&t->limits));
}

/* SHA-256 of a record's stored bytes, hex: "before" and "after" in audit entries. */
static void tg_record_hash(const char *buf, size_t len, char out[65])
{
    unsigned char h[32];
    unsigned int n = 32;

    EVP_Digest(buf, len, h, &n, EVP_sha256(), NULL);
    for (int i = 0; i < 32; i++)
        snprintf(out + i * 2, 3, "%02x", h[i]);
}

static void tg_key_hash(const tg_key_t *k, char out[65])
{
    char *buf;
    size_t len;

    if (k == NULL || tg_key_encode(k, &buf, &len) == -1) {
        snprintf(out, 65, "none");
        return;
    }
    tg_record_hash(buf, len, out);
    free(buf);
}

/* Commit a mutation with its audit entry; returns NULL or an error reply. */
static json_t *tg_commit(tg_store_t *s, MDB_txn *txn, const tg_actor_t *a, const char *action,
                         const char *target, json_t *detail)
{
    char *d = json_dumps(detail, JSON_COMPACT | JSON_SORT_KEYS);
    int rc = tg_audit_append(s, txn, a, action, target, d ? d : "{}");

    free(d);
    json_decref(detail);
    if (rc != 0) {
        mdb_txn_abort(txn);
        return tg_admin_err("audit append failed: %s", mdb_strerror(rc));
    }
    if ((rc = mdb_txn_commit(txn)) != 0)
        return tg_admin_err("store commit failed: %s", mdb_strerror(rc));
    tg_log(TG_LOG_INFO, 0, "admin (uid %d pid %d): %s %s", a->uid, a->pid, action, target);
    return NULL;
}

/* Make sure a tenant exists inside txn (created with no limits, audited). */
static int tg_tenant_ensure(tg_store_t *s, MDB_txn *txn, const tg_actor_t *a, const char *name,
                            int *created)
{
    tg_tenant_t t;
    int rc = tg_tenant_get(s, txn, name, &t);

    *created = 0;
    if (rc != MDB_NOTFOUND)
        return rc;
    memset(&t, 0, sizeof(t));
    snprintf(t.name, sizeof(t.name), "%s", name);
    t.created = (int64_t)time(NULL);
    if ((rc = tg_tenant_put(s, txn, &t)) != 0)
        return rc;
    *created = 1;
    return tg_audit_append(s, txn, a, "tenant.create", name, "{\"implicit\":true}");
}

static json_t *tg_keys_create(tg_store_t *s, json_t *req, const tg_actor_t *a)
{
    const char *tenant = json_string_value(json_object_get(req, "tenant"));
    const char *name = json_string_value(json_object_get(req, "name"));
    json_t *models = json_object_get(req, "models"), *v, *e, *reply;
    char secret[TG_KEY_LEN + 1];
    tg_key_t k, old;
    MDB_txn *txn;
    size_t i;
    int rc, tcreated;

    if (!tg_name_valid(tenant))
        return tg_admin_err("keys.create needs a tenant (letters, digits, . _ - : @)");
    if (!tg_name_valid(name))
        return tg_admin_err("keys.create needs a name (letters, digits, . _ - : @)");
    memset(&k, 0, sizeof(k));
    snprintf(k.tenant, sizeof(k.tenant), "%s", tenant);
    snprintf(k.name, sizeof(k.name), "%s", name);
    k.created = (int64_t)time(NULL);
    if ((e = tg_limits_from(req, &k.limits)) != NULL)
        return e;
    if ((v = json_object_get(req, "expires_in")) != NULL) {
        if (!json_is_integer(v) || json_integer_value(v) <= 0 ||
            json_integer_value(v) > TG_MAX_EXPIRES_IN)
            return tg_admin_err("expires_in must be a number of seconds from 1 to 10 years");
        k.expires = k.created + json_integer_value(v);
    }
    if ((v = json_object_get(req, "task")) != NULL) {
        if (!tg_name_valid(json_string_value(v)))
            return tg_admin_err("task must be a short label (letters, digits, . _ - : @)");
        snprintf(k.task, sizeof(k.task), "%s", json_string_value(v));
    }
    if (models != NULL) {
        if (!json_is_array(models) || json_array_size(models) > TG_KEY_MAX_MODELS)
            return tg_admin_err("models must be a list of at most %d model or route names",
                                TG_KEY_MAX_MODELS);
        json_array_foreach(models, i, v)
        {
            const char *m = json_string_value(v);
            if (m == NULL || strlen(m) >= TG_NAME_MAX)
                return tg_admin_err("models must be a list of names");
            snprintf(k.models[k.nmodels++], TG_NAME_MAX, "%s", m);
        }
    }
    if ((rc = mdb_txn_begin(s->control, NULL, 0, &txn)) != 0)
        return tg_admin_err("store: %s", mdb_strerror(rc));
    if ((rc = tg_tenant_ensure(s, txn, a, tenant, &tcreated)) != 0) {
        mdb_txn_abort(txn);
        return tg_admin_err("store: %s", mdb_strerror(rc));
    }
    /* ids are random; on the rare collision draw again */
    for (int tries = 0;; tries++) {
        if (tg_key_generate(tg_pepper, &k, secret, sizeof(secret)) == -1 || tries == 8) {
            mdb_txn_abort(txn);
            return tg_admin_err("could not generate a key");
        }
        if (tg_key_get(s, txn, k.id, &old) == MDB_NOTFOUND)
            break;
    }
    if ((rc = tg_key_put(s, txn, &k)) != 0) {
        mdb_txn_abort(txn);
        explicit_bzero(secret, sizeof(secret));
        return tg_admin_err("store: %s", mdb_strerror(rc));
    }
    {
        char after[65];
        tg_key_hash(&k, after);
        if ((e = tg_commit(s, txn, a, "key.create", k.id,
                           json_pack("{s:s,s:s,s:s,s:s}", "tenant", k.tenant, "name", k.name,
                                     "before", "none", "after", after))) != NULL) {
            explicit_bzero(secret, sizeof(secret));
            return e;
        }
    }
    reply = json_pack("{s:b,s:o,s:s,s:b}", "ok", 1, "key", tg_key_json(&k), "secret", secret,
                      "tenant_created", tcreated);
    explicit_bzero(secret, sizeof(secret));
    return reply;
}

static json_t *tg_keys_list(tg_store_t *s, json_t *req)
{
    const char *tenant = json_string_value(json_object_get(req, "tenant"));
    json_t *arr = json_array();
    MDB_txn *txn;
    MDB_cursor *cur;
    MDB_val kv, vv;
    int rc;

    if ((rc = mdb_txn_begin(s->control, NULL, MDB_RDONLY, &txn)) != 0) {
        json_decref(arr);
        return tg_admin_err("store: %s", mdb_strerror(rc));
    }
    if (mdb_cursor_open(txn, s->dbi[TG_DB_KEYS], &cur) == 0) {
        for (rc = mdb_cursor_get(cur, &kv, &vv, MDB_FIRST); rc == 0;
             rc = mdb_cursor_get(cur, &kv, &vv, MDB_NEXT)) {
            tg_key_t k;
            if (tg_key_decode(vv.mv_data, vv.mv_size, &k) == -1)
                continue;
            if (tenant == NULL || strcmp(tenant, k.tenant) == 0)
                json_array_append_new(arr, tg_key_json(&k));
        }
        mdb_cursor_close(cur);
    }
    mdb_txn_abort(txn);
    return json_pack("{s:b,s:o}", "ok", 1, "keys", arr);
}

/* Load a key for change inside a new write txn. */
static json_t *tg_key_begin(tg_store_t *s, json_t *req, MDB_txn **txn, tg_key_t *k)
{
    const char *id = json_string_value(json_object_get(req, "id"));
    int rc;

    if (id == NULL)
        return tg_admin_err("missing \"id\"");
    if (strncmp(id, "tg_", 3) == 0 && strlen(id) >= 3 + TG_KEY_ID_LEN)
        id += 3; /* accept the prefix people copy from listings */
    if ((rc = mdb_txn_begin(s->control, NULL, 0, txn)) != 0)
        return tg_admin_err("store: %s", mdb_strerror(rc));
    {
        char idbuf[TG_KEY_ID_LEN + 1];
        snprintf(idbuf, sizeof(idbuf), "%.*s", TG_KEY_ID_LEN, id);
        rc = tg_key_get(s, *txn, idbuf, k);
        if (rc == MDB_NOTFOUND) {
            mdb_txn_abort(*txn);
            return tg_admin_err("no key with id %s", idbuf);
        }
    }
    if (rc != 0) {
        mdb_txn_abort(*txn);
        return tg_admin_err("store: %s", mdb_strerror(rc));
    }
    return NULL;
}

static json_t *tg_key_change(tg_store_t *s, MDB_txn *txn, const tg_actor_t *a, const char *action,
                             const tg_key_t *before, const tg_key_t *after, json_t *extra)
{
    char hb[65], ha[65];
    json_t *detail = extra ? extra : json_object(), *e;
    int rc;

    if ((rc = tg_key_put(s, txn, after)) != 0) {
        mdb_txn_abort(txn);
        json_decref(detail);
        return tg_admin_err("store: %s", mdb_strerror(rc));
    }
    tg_key_hash(before, hb);
    tg_key_hash(after, ha);
    json_object_set_new(detail, "before", json_string(hb));
    json_object_set_new(detail, "after", json_string(ha));
    if ((e = tg_commit(s, txn, a, action, after->id, detail)) != NULL)
        return e;
    return NULL;
}

static json_t *tg_keys_mutate(tg_store_t *s, const char *cmd, json_t *req, const tg_actor_t *a)
{
    tg_key_t k, before;
    MDB_txn *txn;
    json_t *e, *extra = NULL, *reply;
    char secret[TG_KEY_LEN + 1] = "";

    if ((e = tg_key_begin(s, req, &txn, &k)) != NULL)
        return e;
    before = k;
    if (strcmp(cmd, "keys.revoke") == 0) {
        k.status = TG_KEY_REVOKED;
        k.prev_until = 0; /* a revoked key's old secret must not live on either */
    } else if (strcmp(cmd, "keys.rotate") == 0) {
        json_t *g = json_object_get(req, "grace_seconds");
        int64_t grace = json_is_integer(g) ? json_integer_value(g) : 3600;
        char id[TG_KEY_ID_LEN + 1];

        if (g != NULL && !json_is_integer(g)) {
            /* a typo must never turn into an hour of grace for a leaked secret */
            mdb_txn_abort(txn);
            return tg_admin_err("grace_seconds must be an integer number of seconds");
        }
        if (k.status == TG_KEY_REVOKED) {
            mdb_txn_abort(txn);
            return tg_admin_err("key %s is revoked; create a new one", k.id);
        }
        if (grace < 0 || grace > 30 * 86400) {
            mdb_txn_abort(txn);
            return tg_admin_err("grace_seconds must be between 0 and 30 days");
        }
        memcpy(k.prev_hmac, k.hmac, 32);
        k.prev_until = grace > 0 ? (int64_t)time(NULL) + grace : 0;
        /* the id stays: the new secret is drawn for the same id */
        memcpy(id, k.id, sizeof(id));
        if (tg_key_generate(tg_pepper, &k, secret, sizeof(secret)) == -1) {
            mdb_txn_abort(txn);
            return tg_admin_err("could not generate a key");
        }
        memcpy(k.id, id, sizeof(id));
        memcpy(secret + 3, id, TG_KEY_ID_LEN);
        tg_key_hmac(tg_pepper, secret, TG_KEY_LEN, k.hmac);
        extra = json_pack("{s:I}", "grace_seconds", (json_int_t)grace);
    } else { /* keys.set */
        json_t *v;
        if ((e = tg_limits_from(req, &k.limits)) != NULL) {
            mdb_txn_abort(txn);
            return e;
        }
        if ((v = json_object_get(req, "name")) != NULL) {
            if (!tg_name_valid(json_string_value(v))) {
                mdb_txn_abort(txn);
                return tg_admin_err("name must be letters, digits, . _ - : @");
            }
            snprintf(k.name, sizeof(k.name), "%s", json_string_value(v));
        }
        if ((v = json_object_get(req, "task")) != NULL)
            snprintf(k.task, sizeof(k.task), "%s",
                     json_string_value(v) ? json_string_value(v) : "");
        if ((v = json_object_get(req, "models")) != NULL && json_is_array(v)) {
            size_t i;
            json_t *m;
            k.nmodels = 0;
            json_array_foreach(v, i, m)
            {
                if (k.nmodels < TG_KEY_MAX_MODELS && json_is_string(m))
                    snprintf(k.models[k.nmodels++], TG_NAME_MAX, "%s", json_string_value(m));
            }
        }
        if ((v = json_object_get(req, "expires_in")) != NULL) {
            if (!json_is_integer(v) || json_integer_value(v) < 0 ||
                json_integer_value(v) > TG_MAX_EXPIRES_IN) {
                mdb_txn_abort(txn);
                return tg_admin_err(
                    "expires_in must be a number of seconds up to 10 years (0: never)");
            }
            k.expires = json_integer_value(v) > 0 ? (int64_t)time(NULL) + json_integer_value(v) : 0;
        }
        extra = json_object();
        json_object_set_new(extra, "limits", tg_limits_json(&k.limits));
    }
    {
        char action[32];
        snprintf(action, sizeof(action), "key.%s", cmd + 5); /* keys.rotate -> key.rotate */
        e = tg_key_change(s, txn, a, action, &before, &k, extra);
    }
    if (e != NULL) {
        explicit_bzero(secret, sizeof(secret));
        return e;
    }
    reply = json_pack("{s:b,s:o}", "ok", 1, "key", tg_key_json(&k));
    if (secret[0] != '\0')
        json_object_set_new(reply, "secret", json_string(secret));
    explicit_bzero(secret, sizeof(secret));
    return reply;
}

static json_t *tg_keys_show(tg_store_t *s, json_t *req)
{
    tg_key_t k;
    MDB_txn *txn;
    json_t *e;

    if ((e = tg_key_begin(s, req, &txn, &k)) != NULL)
        return e;
    mdb_txn_abort(txn);
    return json_pack("{s:b,s:o}", "ok", 1, "key", tg_key_json(&k));
}

static void tg_tenant_hash(const tg_tenant_t *t, char out[65])
{
    char *buf;
    size_t len;

    if (t == NULL || tg_tenant_encode(t, &buf, &len) == -1) {
        snprintf(out, 65, "none");
        return;
    }
    tg_record_hash(buf, len, out);
    free(buf);
}

/* Audit detail of a tenant change: limits, enabled state, record hashes before and after. */
static json_t *tg_tenant_detail(const tg_tenant_t *before, const tg_tenant_t *after, int existed)
{
    char hb[65], ha[65];

    tg_tenant_hash(existed ? before : NULL, hb);
    tg_tenant_hash(after, ha);
    return json_pack("{s:o,s:b,s:b,s:s,s:s}", "limits", tg_limits_json(&after->limits), "disabled",
                     after->disabled, "was_disabled", existed && before->disabled, "before", hb,
                     "after", ha);
}

static json_t *tg_tenants_cmd(tg_store_t *s, const char *cmd, json_t *req, const tg_actor_t *a)
{
    const char *name = json_string_value(json_object_get(req, "name"));
    tg_tenant_t t, before;
    MDB_txn *txn;
    json_t *e;
    int rc;

    if (strcmp(cmd, "tenants.list") == 0) {
        json_t *arr = json_array();
        MDB_cursor *cur;
        MDB_val kv, vv;

        if ((rc = mdb_txn_begin(s->control, NULL, MDB_RDONLY, &txn)) != 0) {
            json_decref(arr);
            return tg_admin_err("store: %s", mdb_strerror(rc));
        }
        if (mdb_cursor_open(txn, s->dbi[TG_DB_TENANTS], &cur) == 0) {
            for (rc = mdb_cursor_get(cur, &kv, &vv, MDB_FIRST); rc == 0;
                 rc = mdb_cursor_get(cur, &kv, &vv, MDB_NEXT))
                if (tg_tenant_decode(vv.mv_data, vv.mv_size, &t) == 0)
                    json_array_append_new(arr, tg_tenant_json(&t));
            mdb_cursor_close(cur);
        }
        mdb_txn_abort(txn);
        return json_pack("{s:b,s:o}", "ok", 1, "tenants", arr);
    }
    if (!tg_name_valid(name))
        return tg_admin_err("%s needs a name (letters, digits, . _ - : @)", cmd);
    if ((rc = mdb_txn_begin(s->control, NULL, strcmp(cmd, "tenants.show") == 0 ? MDB_RDONLY : 0,
                            &txn)) != 0)
        return tg_admin_err("store: %s", mdb_strerror(rc));
    rc = tg_tenant_get(s, txn, name, &t);
    if (strcmp(cmd, "tenants.show") == 0) {
        mdb_txn_abort(txn);
        if (rc != 0)
            return tg_admin_err("no tenant named %s", name);
        return json_pack("{s:b,s:o}", "ok", 1, "tenant", tg_tenant_json(&t));
    }
    if (strcmp(cmd, "tenants.create") == 0) {
        if (rc == 0) {
            mdb_txn_abort(txn);
            return tg_admin_err("tenant %s exists; use tenants set", name);
        }
        memset(&t, 0, sizeof(t));
        snprintf(t.name, sizeof(t.name), "%s", name);
        t.created = (int64_t)time(NULL);
    } else if (rc != 0) {
        mdb_txn_abort(txn);
        return tg_admin_err("no tenant named %s", name);
    }
    before = t;
    if ((e = tg_limits_from(req, &t.limits)) != NULL) {
        mdb_txn_abort(txn);
        return e;
    }
    if (json_is_boolean(json_object_get(req, "disabled")))
        t.disabled = json_is_true(json_object_get(req, "disabled"));
    if ((rc = tg_tenant_put(s, txn, &t)) != 0) {
        mdb_txn_abort(txn);
        return tg_admin_err("store: %s", mdb_strerror(rc));
    }
    if ((e = tg_commit(s, txn, a,
                       strcmp(cmd, "tenants.create") == 0 ? "tenant.create" : "tenant.set", name,
                       tg_tenant_detail(&before, &t, strcmp(cmd, "tenants.create") != 0))) != NULL)
        return e;
    return json_pack("{s:b,s:o}", "ok", 1, "tenant", tg_tenant_json(&t));
}

/* ---- audit ------------------------------------------------------------------------------ */

static int tg_audit_to_json(void *arg, const tg_audit_entry_t *e)
{
    json_t *arr = arg, *detail = json_loads(e->detail, 0, NULL);
    char hash[65];

    for (int i = 0; i < 32; i++)
        snprintf(hash + i * 2, 3, "%02x", e->hash[i]);
    json_array_append_new(arr,
                          json_pack("{s:I,s:I,s:i,s:i,s:s,s:s,s:o,s:s}", "seq", (json_int_t)e->seq,
                                    "ts_ms", (json_int_t)e->ts_ms, "uid", e->actor.uid, "pid",
                                    e->actor.pid, "action", e->action, "target", e->target,
                                    "detail", detail ? detail : json_object(), "hash", hash));
    return 0;
}

static json_t *tg_audit_cmd(tg_store_t *s, const char *cmd, json_t *req)
{
    if (strcmp(cmd, "audit.verify") == 0) {
        uint64_t count, bad;
        const char *why;
        if (tg_audit_verify(s, &count, &bad, &why) == 0)
            return json_pack("{s:b,s:b,s:I}", "ok", 1, "intact", 1, "entries", (json_int_t)count);
        return json_pack("{s:b,s:b,s:I,s:I,s:s}", "ok", 1, "intact", 0, "entries",
                         (json_int_t)count, "first_bad", (json_int_t)bad, "why", why);
    }
    {
        json_t *arr = json_array(), *n = json_object_get(req, "n");
        uint64_t last = tg_audit_last(s), after = 0;
        if (strcmp(cmd, "audit.tail") == 0) {
            uint64_t want = json_is_integer(n) ? (uint64_t)json_integer_value(n) : 20;
            after = last > want ? last - want : 0;
        }
        tg_audit_each(s, after, 0, tg_audit_to_json, arr);
        return json_pack("{s:b,s:o}", "ok", 1, "entries", arr);
    }
}

int tg_admin_audit(tg_store_t *s, const tg_actor_t *actor, const char *action, const char *target,
                   const char *detail_json)
{
    MDB_txn *txn;
    int rc;

    if (s == NULL)
        return 0;
    if ((rc = mdb_txn_begin(s->control, NULL, 0, &txn)) != 0)
        return -1;
    if ((rc = tg_audit_append(s, txn, actor, action, target, detail_json)) != 0) {
        mdb_txn_abort(txn);
        tg_log(TG_LOG_ERROR, 0, "audit append failed: %s", mdb_strerror(rc));
        return -1;
    }
    if ((rc = mdb_txn_commit(txn)) != 0) {
        tg_log(TG_LOG_ERROR, 0, "audit commit failed: %s", mdb_strerror(rc));
        return -1;
    }
    return 0;
}

json_t *tg_admin_keys(tg_store_t *s, const char *cmd, json_t *req, const tg_actor_t *actor)
{
    if (strncmp(cmd, "keys.", 5) != 0 && strncmp(cmd, "tenants.", 8) != 0 &&
        strncmp(cmd, "audit.", 6) != 0)
        return NULL;
    if (s == NULL)
        return tg_admin_err("this gateway has no store (configure store: {path: DIR})");
    if (strcmp(cmd, "keys.create") == 0)
        return tg_keys_create(s, req, actor);
    if (strcmp(cmd, "keys.list") == 0)
        return tg_keys_list(s, req);
    if (strcmp(cmd, "keys.show") == 0)
        return tg_keys_show(s, req);
    if (strcmp(cmd, "keys.revoke") == 0 || strcmp(cmd, "keys.rotate") == 0 ||
        strcmp(cmd, "keys.set") == 0)
        return tg_keys_mutate(s, cmd, req, actor);
    if (strcmp(cmd, "tenants.create") == 0 || strcmp(cmd, "tenants.list") == 0 ||
        strcmp(cmd, "tenants.show") == 0 || strcmp(cmd, "tenants.set") == 0)
        return tg_tenants_cmd(s, cmd, req, actor);
    if (strcmp(cmd, "audit.tail") == 0 || strcmp(cmd, "audit.verify") == 0 ||
        strcmp(cmd, "audit.export") == 0)
        return tg_audit_cmd(s, cmd, req);
    return tg_admin_err("unknown command \"%s\"", cmd);
}
