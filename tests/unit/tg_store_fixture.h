/*
 * A store fixture for unit tests: a fresh LMDB store in a private /tmp directory per test
 * (setup), closed and removed again afterwards (teardown). Tests use tg_s.
 */
#ifndef TG_TEST_STORE_FIXTURE_H
#define TG_TEST_STORE_FIXTURE_H

#include <check.h>
#include <stdio.h>
#include <stdlib.h>

#include "shared/tg_store.h"

static char tg_dir[256];
static tg_store_t tg_s;

static void setup(void)
{
    tg_store_opts_t o = {NULL, 16 << 20, 64 << 20, 16, 0};
    char err[256];

    snprintf(tg_dir, sizeof(tg_dir), "/tmp/tg-unit-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tg_dir));
    o.path = tg_dir;
    ck_assert_msg(tg_store_open(&tg_s, &o, err, sizeof(err)) == 0, "%s", err);
}

static void teardown(void)
{
    char cmd[300];

    tg_store_close(&tg_s);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", tg_dir);
    ck_assert_int_eq(system(cmd), 0);
}

#endif
