/*
 * A subset of JSON Schema (draft 2020-12) for checking a model's structured output against the
 * schema the client sent in response_format: the keywords structured outputs use, evaluated
 * without allocation and with bounded work, so a hostile schema or answer cannot stall a worker.
 * docs/routing.md lists the keywords; anything else in a schema is ignored.
 */
#ifndef TG_JSCHEMA_H
#define TG_JSCHEMA_H

#include <jansson.h>
#include <stddef.h>

#define TG_JSCHEMA_MAX_DEPTH 128    /* nested schema evaluations (each $ref counts) */
#define TG_JSCHEMA_MAX_STEPS 100000 /* schema evaluations per check (anyOf can multiply them) */
#define TG_JSCHEMA_PATH_MAX 200     /* bytes of the instance path in a reason */

/**
 * Check instance against schema. $ref is resolved as a JSON pointer into schema itself ("#",
 * "#/$defs/name", "#/definitions/name", ...); a reference that does not resolve is ignored like
 * an unknown keyword. Returns 1 when the instance matches, 0 when it does not, with
 * "<path>: <reason>" in why, the path in JSONPath form ("$.items[2].price", "$[\"a b\"]").
 * Exceeding TG_JSCHEMA_MAX_DEPTH or TG_JSCHEMA_MAX_STEPS is a mismatch.
 */
int tg_jschema_check(const json_t *schema, const json_t *instance, char *why, size_t whylen);

#endif
