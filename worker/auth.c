/*
 * Virtual-key authentication for the public API (see auth.h). Error messages follow OpenAI's
 * wording (Anthropic's on its dialect) and never echo a secret: at most the key's public id.
 */
#include "worker/auth.h"
#include "shared/tg_keys.h"
#include "shared/tg_log.h"
#include "worker/secevents.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static tg_store_t tg_wstore;
static int tg_have_store;

/*
 * Verified keys, so that a keep-alive client does not pay an HMAC, two read transactions and two
 * record decodes per request. An entry is trusted only while the control environment has seen
 * no write since it was filled (LMDB's last transaction id, read from the meta page without a
 * transaction): any key or tenant change, by any process, invalidates every entry at once, so a
 * revocation still takes effect on the next request. Time-based checks (expiry, rotation grace)
 * are redone on every hit. Slots are chosen by the key's public id; the secret is compared in
 * constant time.
 */
#define TG_AUTH_CACHE 64

typedef struct {
    size_t txnid;
    int used, previous; /* previous: matched the pre-rotation secret */
    int have_tenant;
    char secret[TG_KEY_LEN + 1];
    tg_key_t key;
    tg_tenant_t tenant;
} tg_auth_slot_t;

static tg_auth_slot_t *tg_auth_cache;

static size_t tg_control_txnid(void)
{
    MDB_envinfo info;

    if (mdb_env_info(tg_wstore.control, &info) != 0)
        return (size_t)-1;
    return info.me_last_txnid;
}

static tg_auth_slot_t *tg_auth_slot(const char *secret)
{
    uint32_t h = 2166136261u; /* FNV-1a over the public id */

    for (int i = 3; i < 3 + TG_KEY_ID_LEN && secret[i]; i++)
        h = (h ^ (unsigned char)secret[i]) * 16777619u;
    return &tg_auth_cache[h % TG_AUTH_CACHE];
}

int tg_auth_init(const tg_config_t *cf)
{
    tg_store_opts_t o = {cf->store.path, cf->store.control_map_size, cf->store.meter_map_size,
                         (unsigned)(cf->workers * 2 + 32), cf->store.meter_writemap};
    char err[512];

    if (cf->store.path == NULL)
        return 0;
    if (tg_store_open(&tg_wstore, &o, err, sizeof(err)) == -1) {
        tg_log(TG_LOG_CRIT, 0, "%s", err);
        return -1;
    }
    tg_have_store = 1;
    tg_auth_cache = calloc(TG_AUTH_CACHE, sizeof(*tg_auth_cache));
    return tg_auth_cache != NULL ? 0 : -1;
}

int tg_auth_tenant(tg_req_t *r, tg_tenant_t *t)
{
    tg_auth_slot_t *slot = r->auth_slot;
    MDB_txn *txn;
    int rc;

    if (slot != NULL && slot->used && slot->txnid == tg_control_txnid() &&
        strcmp(slot->key.id, r->key.id) == 0) {
        if (!slot->have_tenant)
            return MDB_NOTFOUND;
        *t = slot->tenant;
        return 0;
    }
    if ((rc = mdb_txn_begin(tg_wstore.control, NULL, MDB_RDONLY, &txn)) != 0)
        return rc;
    rc = tg_tenant_get(&tg_wstore, txn, r->key.tenant, t);
    mdb_txn_abort(txn);
    return rc;
}

/* Verify through the cache; fills the slot on a miss. */
static tg_auth_t tg_auth_verify(tg_req_t *r, const char *secret, int64_t now)
{
    tg_auth_slot_t *slot;
    size_t txnid, len = strlen(secret);
    tg_auth_t a;
    MDB_txn *txn;

    r->auth_slot = NULL;
    if (len != TG_KEY_LEN)
        return tg_key_verify(&tg_wstore, tg_pepper, secret, now, &r->key);
    slot = tg_auth_slot(secret);
    txnid = tg_control_txnid();
    if (slot->used && slot->txnid == txnid &&
        CRYPTO_memcmp(slot->secret, secret, TG_KEY_LEN) == 0) {
        r->key = slot->key;
        r->auth_slot = slot;
        if (slot->previous && slot->key.prev_until <= now)
            return TG_AUTH_INVALID; /* the rotation grace ended */
        if (slot->key.expires != 0 && slot->key.expires <= now)
            return TG_AUTH_EXPIRED;
        return TG_AUTH_OK;
    }
    a = tg_key_verify(&tg_wstore, tg_pepper, secret, now, &r->key);
    if (a != TG_AUTH_OK)
        return a;
    /* remember it, with its tenant, as of the transaction id read before verifying */
    memset(slot, 0, sizeof(*slot));
    slot->txnid = txnid;
    memcpy(slot->secret, secret, TG_KEY_LEN);
    slot->key = r->key;
    {
        unsigned char mac[32];
        tg_key_hmac(tg_pepper, secret, len, mac);
        slot->previous = CRYPTO_memcmp(mac, r->key.hmac, 32) != 0;
        explicit_bzero(mac, sizeof(mac));
    }
    if (mdb_txn_begin(tg_wstore.control, NULL, MDB_RDONLY, &txn) == 0) {
        int rc = tg_tenant_get(&tg_wstore, txn, r->key.tenant, &slot->tenant);
        mdb_txn_abort(txn);
        if (rc == 0 || rc == MDB_NOTFOUND) {
            slot->have_tenant = rc == 0;
            slot->used = 1;
        }
    }
    r->auth_slot = slot->used ? slot : NULL;
    return a;
}

void tg_auth_shutdown(void)
{
    if (tg_auth_cache != NULL) {
        explicit_bzero(tg_auth_cache, TG_AUTH_CACHE * sizeof(*tg_auth_cache));
        free(tg_auth_cache);
        tg_auth_cache = NULL;
    }
    if (tg_have_store)
        tg_store_close(&tg_wstore);
    tg_have_store = 0;
}

tg_store_t *tg_worker_store(void)
{
    return tg_have_store ? &tg_wstore : NULL;
}

/*
 * The secret the client sent: a Bearer token in Authorization (OpenAI's SDKs) wins; otherwise
 * x-api-key (Anthropic's SDKs), accepted on every route so one key works with either SDK.
 */
static const char *tg_auth_secret(const tg_req_t *r)
{
    const char *h = r->authorization;

    while (*h == ' ')
        h++;
    if (strncasecmp(h, "Bearer ", 7) == 0) {
        for (h += 7; *h == ' '; h++)
            ;
        if (*h != '\0')
            return h;
    }
    for (h = r->api_key; *h == ' '; h++)
        ;
    return h;
}

int tg_auth_request(tg_req_t *r)
{
    const char *secret;
    tg_auth_t a;

    if (!r->cf->auth_keys)
        return 0;
    if (!tg_have_store) {
        tg_resp_error(r, 503, "server_error", "store_unavailable", NULL,
                      "The gateway's key store is not available; try again later.");
        return -1;
    }
    secret = tg_auth_secret(r);
    a = tg_auth_verify(r, secret, (int64_t)time(NULL));
    if (a != TG_AUTH_OK && a != TG_AUTH_ERROR) {
        /* only the public part identifies the key in the trail: "tg_<id>" */
        char prefix[3 + TG_KEY_ID_LEN + 1] = "-";
        if (strncmp(secret, "tg_", 3) == 0 && strlen(secret) > 3 + TG_KEY_ID_LEN) {
            memcpy(prefix, secret, 3 + TG_KEY_ID_LEN);
            prefix[3 + TG_KEY_ID_LEN] = '\0';
            for (int i = 3; i < 3 + TG_KEY_ID_LEN; i++) {
                char ch = prefix[i];
                if (!((ch >= 'a' && ch <= 'z') || (ch >= '2' && ch <= '7'))) {
                    snprintf(prefix, sizeof(prefix), "malformed");
                    break;
                }
            }
        } else if (*secret != '\0') {
            snprintf(prefix, sizeof(prefix), "malformed");
        }
        tg_secevent_auth_failure(prefix, r->client_addr,
                                 a == TG_AUTH_MISSING   ? "missing"
                                 : a == TG_AUTH_REVOKED ? "revoked"
                                 : a == TG_AUTH_EXPIRED ? "expired"
                                                        : "invalid");
    }
    switch (a) {
    case TG_AUTH_OK:
        r->authed = 1;
        return 0;
    case TG_AUTH_MISSING:
        if (r->dialect == TG_DIALECT_ANTHROPIC)
            tg_resp_error(r, 401, "invalid_request_error", "missing_api_key", NULL,
                          "x-api-key header is required.");
        else
            tg_resp_error(r, 401, "invalid_request_error", "missing_api_key", NULL,
                          "You didn't provide an API key. You need to provide your API key in "
                          "an Authorization header using Bearer auth (i.e. Authorization: "
                          "Bearer YOUR_KEY).");
        break;
    case TG_AUTH_REVOKED:
        tg_resp_error(r, 401, "invalid_request_error", "invalid_api_key", NULL,
                      "The API key tg_%s_**** has been revoked.", r->key.id);
        break;
    case TG_AUTH_EXPIRED:
        tg_resp_error(r, 401, "invalid_request_error", "invalid_api_key", NULL,
                      "The API key tg_%s_**** has expired.", r->key.id);
        break;
    case TG_AUTH_ERROR:
        tg_log(TG_LOG_ERROR, 0, "%s: the key store could not be read", r->request_id);
        tg_resp_error(r, 503, "server_error", "store_unavailable", NULL,
                      "The gateway could not check the API key; try again later.");
        break;
    default:
        tg_resp_error(r, 401, "invalid_request_error", "invalid_api_key", NULL,
                      "Incorrect API key provided. You can find your keys with tollgatectl "
                      "keys list.");
        break;
    }
    return -1;
}
