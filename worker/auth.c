/*
 * Virtual-key authentication for the public API (see auth.h). Error messages follow OpenAI's
 * wording and never echo a secret: at most the key's public id is shown.
 */
#include "worker/auth.h"
#include "shared/tg_keys.h"
#include "shared/tg_log.h"
#include "worker/secevents.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static tg_store_t tg_wstore;
static int tg_have_store;

int tg_auth_init(const tg_config_t *cf)
{
    tg_store_opts_t o = {cf->store.path, cf->store.control_map_size, cf->store.meter_map_size,
                         (unsigned)(cf->workers * 2 + 32)};
    char err[512];

    if (cf->store.path == NULL)
        return 0;
    if (tg_store_open(&tg_wstore, &o, err, sizeof(err)) == -1) {
        tg_log(TG_LOG_CRIT, 0, "%s", err);
        return -1;
    }
    tg_have_store = 1;
    return 0;
}

void tg_auth_shutdown(void)
{
    if (tg_have_store)
        tg_store_close(&tg_wstore);
    tg_have_store = 0;
}

tg_store_t *tg_worker_store(void)
{
    return tg_have_store ? &tg_wstore : NULL;
}

int tg_auth_request(tg_req_t *r)
{
    const char *h = r->authorization, *secret;
    tg_auth_t a;

    if (!r->cf->auth_keys)
        return 0;
    if (!tg_have_store) {
        tg_resp_error(r, 503, "server_error", "store_unavailable", NULL,
                      "The gateway's key store is not available; try again later.");
        return -1;
    }
    while (*h == ' ')
        h++;
    if (strncasecmp(h, "Bearer ", 7) == 0)
        secret = h + 7;
    else
        secret = "";
    while (*secret == ' ')
        secret++;
    a = tg_key_verify(&tg_wstore, tg_pepper, secret, (int64_t)time(NULL), &r->key);
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
        tg_resp_error(r, 401, "invalid_request_error", "missing_api_key", NULL,
                      "You didn't provide an API key. You need to provide your API key in an "
                      "Authorization header using Bearer auth (i.e. Authorization: Bearer "
                      "YOUR_KEY).");
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
