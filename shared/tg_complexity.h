/*
 * Prompt complexity estimator: a fast, transparent score in [0, 1] computed from the request
 * itself when the client states no complexity. Routes compare it with a per-route threshold to
 * send simple prompts to a cheap model and complex ones to a strong model. The score is a
 * weighted sum of a few saturating features (length, code, math, reasoning and multi-step cues,
 * constraints, turns, questions, tools), so every decision can be explained feature by feature.
 *
 * Caveats: the score ranks prompts; it is not a probability. It reads only ASCII keywords
 * (English cues); other scripts still count towards length. It never allocates and reads each
 * byte once; its only state is a keyword hash table built on first use (call_once) and
 * read-only after, so it is safe from any thread, and in a child after fork.
 */
#ifndef TG_COMPLEXITY_H
#define TG_COMPLEXITY_H

#include <stddef.h>
#include <stdint.h>

/** Who wrote a message of the conversation (the canonical OpenAI chat roles). */
typedef enum {
    TG_CX_ROLE_SYSTEM = 0, /* system or developer instructions */
    TG_CX_ROLE_USER,
    TG_CX_ROLE_ASSISTANT,
    TG_CX_ROLE_TOOL
} tg_cx_role_t;

/**
 * One message's text. text need not be NUL-terminated; it is read for len bytes. A message
 * whose content is several text parts can be passed as consecutive entries with its role:
 * consecutive entries of one role count as one turn. A caller that must decode the text first
 * (JSON escapes) may decode only its tail: text and len are then the last len bytes, and
 * skipped the bytes before them, which count towards the length feature but are never read.
 */
typedef struct {
    tg_cx_role_t role;
    const char *text;
    size_t len;
    size_t skipped;
} tg_cx_msg_t;

/**
 * At most this many bytes of user text are read for cues, newest message first and the tail
 * of a longer one. Every cue saturates long before, and it bounds the cost of a huge prompt;
 * length still counts every byte. So of each user message at most
 * min(its length, what is left of this budget after the newer user messages) bytes are read,
 * and a caller that passes tails (skipped > 0) must pass at least that much.
 */
#define TG_CX_SCAN_MAX (16 * 1024)

/** Request flags that change the task's difficulty regardless of its text. */
#define TG_CX_REQ_TOOLS 0x1u /* the request declares tools (function calling) */
#define TG_CX_REQ_JSON 0x2u  /* response_format asks for json_object or json_schema */

/** The features, in the order of tg_cx_explain_t's arrays. */
typedef enum {
    TG_CX_LENGTH = 0,  /* log-scaled token estimate of the user's text */
    TG_CX_CODE,        /* fences, code keywords, code punctuation */
    TG_CX_MATH,        /* numbers, operators, LaTeX, units, percentages, "how many" */
    TG_CX_REASONING,   /* explicit asks: prove, derive, explain why, compare, step by step */
    TG_CX_STEPS,       /* multi-step structure: sequence and dependency words, sentences */
    TG_CX_CONSTRAINTS, /* must, exactly, at least, format, JSON, response_format */
    TG_CX_TURNS,       /* conversation depth */
    TG_CX_QUESTIONS,   /* more than one question in one prompt */
    TG_CX_TOOLS,       /* the request declares tools */
    TG_CX_NFEATURES
} tg_cx_feature_t;

/** Raw evidence counted in the single pass; the feature values are derived from it. */
typedef struct {
    uint64_t bytes;       /* user text bytes (all of them: the length feature) */
    uint64_t scanned;     /* user text bytes read for the other features */
    uint32_t words;       /* runs of letters */
    uint32_t sentences;   /* '.', '!' or '?' ending a sentence */
    uint32_t questions;   /* '?' */
    uint32_t numbers;     /* runs of digits ("1,250.5" is one) */
    uint32_t operators;   /* + * / = ^ < > and '-' between numbers */
    uint32_t percents;    /* '%' */
    uint32_t currency;    /* '$' before a digit */
    uint32_t latex;       /* \command of 3+ letters, or "$$" */
    uint32_t math_words;  /* sum, equation, probability, "how many", units ... */
    uint32_t fences;      /* ``` runs */
    uint32_t code_words;  /* def, return, function, #include ... */
    uint32_t code_marks;  /* { } ; == != && || -> => :: */
    uint32_t reasoning;   /* prove, derive, explain, why, compare, "step by step" ... */
    uint32_t step_words;  /* then, after, each, every, per, remaining, total, twice ... */
    uint32_t constraints; /* must, exactly, "at least", "no more than", format, json ... */
    uint32_t turns;       /* user and assistant turns (runs of one role) */
} tg_cx_counts_t;

/** Why a prompt got its score: value[f] in [0, 1], contrib[f] = weight(f) * value[f]. */
typedef struct {
    tg_cx_counts_t counts;
    double value[TG_CX_NFEATURES];
    double contrib[TG_CX_NFEATURES];
    double score; /* the sum of contrib[], in [0, 1] */
} tg_cx_explain_t;

/**
 * Score a chat request. Text features come from user messages only: system prompts are an
 * operator's boilerplate, the same for every request of a product, and assistant or tool text
 * is model or program output, not the task. Turns count user and assistant turns. flags are
 * TG_CX_REQ_*. ex may be NULL; when given, it receives the breakdown.
 * Returns the score in [0, 1]. Deterministic: the same input always gives the same bits.
 */
double tg_complexity_score(const tg_cx_msg_t *msgs, size_t nmsgs, unsigned flags,
                           tg_cx_explain_t *ex);

/** Score one user prompt with no other context (what the offline evaluation feeds). */
double tg_complexity_score_text(const char *text, size_t len, tg_cx_explain_t *ex);

/** The feature's short name ("length", "code", ...), or NULL for an unknown feature. */
const char *tg_complexity_feature_name(tg_cx_feature_t f);

/** The feature's weight; the weights are non-negative and sum to 1. */
double tg_complexity_weight(tg_cx_feature_t f);

/**
 * Check the built-in keyword table (sorted, unique, lowercase ASCII) so a bad edit fails a
 * test instead of silently missing words. Returns 0, or -1 naming nothing: run the unit test.
 */
int tg_complexity_self_check(void);

#endif
