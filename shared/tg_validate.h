/*
 * Answer validators for a route's quality cascade: checks that decide whether an answer from a
 * cheap target is good enough to return, or whether the request should escalate to the next
 * target. A validator set is compiled once per configuration generation (regular expressions
 * included) and then only read, by any number of requests at once. docs/routing.md, "Answer
 * validators (cascade)", is the user's description of every check.
 */
#ifndef TG_VALIDATE_H
#define TG_VALIDATE_H

#include <jansson.h>
#include <stddef.h>

/* Refusal rule: a phrase counts when it starts within the first HEAD characters of the answer
 * (leading white space skipped), or anywhere when the whole answer has at most SHORT. */
#define TG_VALIDATE_REFUSAL_HEAD 100
#define TG_VALIDATE_REFUSAL_SHORT 200

#define TG_VALIDATE_PHRASE_MAX 200  /* bytes of one refusal phrase */
#define TG_VALIDATE_PATTERNS_MAX 64 /* user refusal phrases per validator set */

typedef struct tg_validators_s tg_validators_t;

/** What to check; the configuration's `validate:` mapping, before compilation. */
typedef struct {
    size_t min_length;                   /* characters (code points); 0: no minimum */
    int refusal;                         /* the built-in refusal / "I don't know" phrases */
    const char *const *refusal_patterns; /* the route's own phrases (literal, any case) */
    size_t nrefusal_patterns;
    int json;                 /* the answer must be JSON (optionally in a ```json fence) */
    int schema;               /* the answer must match the request's response_format */
    const char *regex;        /* POSIX extended; the answer must match; NULL: none */
    const char *regex_forbid; /* ... must not match; NULL: none */
    int ignore_case;          /* for regex and regex_forbid */
} tg_validate_conf_t;

/** Which setting tg_validators_new() rejected. */
typedef enum {
    TG_VFIELD_NONE = 0,
    TG_VFIELD_REGEX,
    TG_VFIELD_REGEX_FORBID,
    TG_VFIELD_REFUSAL_PATTERNS, /* err->index says which phrase */
} tg_vfield_t;

typedef struct {
    tg_vfield_t field;
    size_t index;  /* TG_VFIELD_REFUSAL_PATTERNS: the phrase (TG_VALIDATE_PATTERNS_MAX: too many) */
    char msg[256]; /* "regex: Unmatched ( or \(" */
} tg_validate_err_t;

/**
 * Compile a validator set: copies every string, compiles the regular expressions (REG_EXTENDED |
 * REG_NOSUB, REG_ICASE with ignore_case) and normalises the refusal phrases. Returns NULL with
 * err filled when a regular expression does not compile (err->msg is regerror()'s text), when a
 * phrase is empty or longer than TG_VALIDATE_PHRASE_MAX, or when there are more than
 * TG_VALIDATE_PATTERNS_MAX phrases; also when memory runs out (err->field TG_VFIELD_NONE).
 * The set belongs to a configuration generation: it must outlive every request that uses it.
 */
tg_validators_t *tg_validators_new(const tg_validate_conf_t *conf, tg_validate_err_t *err);

/** Free a validator set (NULL is ignored). */
void tg_validators_free(tg_validators_t *v);

/**
 * Whether the set reads the request's response_format (the `schema` check), so a caller can skip
 * extracting it otherwise.
 */
int tg_validators_want_response_format(const tg_validators_t *v);

/**
 * Check one answer's text, text[0..len) (any bytes: NULs and invalid UTF-8 are safe), in order:
 * min_length, refusal phrases (the built-in list when `refusal` is on, refusal_patterns always),
 * regex, regex_forbid, json, schema; the first failure decides. Nothing set, or v NULL: accepted.
 * response_format is the request's `response_format` object, or NULL; only `schema` reads it.
 * Returns 1 when accepted, 0 when rejected with a short reason in why (truncated to whylen; why
 * may be NULL). The library allocates nothing unless json or schema is on (jansson's parse);
 * glibc's regexec() may allocate internally. Thread-safe: v is only read.
 */
int tg_validate_answer(const tg_validators_t *v, const char *text, size_t len,
                       const json_t *response_format, char *why, size_t whylen);

/** The parts of an OpenAI chat.completion answer that the validators read. */
typedef struct {
    const char *text; /* choices[0].message.content; "" when null or absent */
    size_t len;
    int tool_calls;      /* message.tool_calls is a non-empty array */
    const char *refusal; /* message.refusal when a non-empty string, else NULL */
    char *owned;         /* text joined from content parts; freed by tg_answer_release() */
} tg_answer_t;

/**
 * Find the answer in a chat.completion body. content may be a string or an array of parts, whose
 * "text" parts are joined in order (other parts are skipped). Pointers refer into completion,
 * which must outlive *a, except for text joined from parts. Returns 0, or -1 with why set when
 * there is no choices[0].message object or memory runs out; call tg_answer_release() either way.
 */
int tg_answer_from_completion(const json_t *completion, tg_answer_t *a, char *why, size_t whylen);

/** Free what tg_answer_from_completion() allocated. */
void tg_answer_release(tg_answer_t *a);

/**
 * Validate a whole chat.completion body: extract the answer, then
 * - message.refusal set (OpenAI's structured-output refusal): rejected when `refusal` is on;
 * - tool calls and no text: the text checks (min_length, refusal, regex, regex_forbid) do not
 *   apply, since a tool call is an action rather than prose; `json` rejects it, and `schema`
 *   rejects it when the request asked for JSON (json_schema or json_object);
 * - otherwise tg_validate_answer() on the text.
 * v NULL: accepted without looking. Returns 1 accepted, 0 rejected with why (a body without an
 * answer is rejected).
 */
int tg_validate_completion(const tg_validators_t *v, const json_t *completion,
                           const json_t *response_format, char *why, size_t whylen);

/**
 * Characters (code points) in s[0..len): bytes that do not continue a UTF-8 sequence. Counting
 * stops at stop (pass SIZE_MAX for all), so "at least n" costs at most n characters.
 */
size_t tg_utf8_chars(const char *s, size_t len, size_t stop);

#endif
