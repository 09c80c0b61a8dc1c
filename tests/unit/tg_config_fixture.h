/*
 * Configuration fixtures for unit tests: compile a configuration from text, as the file
 * "t.yaml", so that errors read "t.yaml:line:col: reason".
 */
#ifndef TG_TEST_CONFIG_FIXTURE_H
#define TG_TEST_CONFIG_FIXTURE_H

#include <check.h>
#include <string.h>

#include "shared/tg_config.h"

/* Compile text; NULL with the error in err. */
static inline tg_config_t *load(const char *text, char *err, size_t errlen)
{
    tg_config_file_t f = {.path = "t.yaml", .data = (char *)text, .len = strlen(text)};
    tg_config_source_t src = {.files = &f, .nfiles = 1, .from_disk = 0};

    return tg_config_load_source(&src, err, errlen);
}

/* Assert that text does not compile and that the error contains want. */
static inline void expect_error(const char *text, const char *want)
{
    char err[512];
    tg_config_t *cf = load(text, err, sizeof(err));

    ck_assert_msg(cf == NULL, "accepted: %s", text);
    ck_assert_msg(strstr(err, want) != NULL, "error \"%s\" lacks \"%s\"", err, want);
}

#endif
