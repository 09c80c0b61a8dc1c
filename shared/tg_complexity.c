/*
 * Prompt complexity estimator (see tg_complexity.h). One pass over the user's bytes counts
 * evidence (numbers, operators, keywords, code punctuation, sentences); a few saturating
 * functions turn the counts into feature values in [0, 1], and a fixed weighted sum of those
 * is the score. Keywords are matched case-insensitively, without copying: each word's hash
 * of its lowercased bytes is computed as the word is scanned and looked up in a table built
 * once from the keyword list.
 */
#include "shared/tg_complexity.h"

#include <string.h>
#include <threads.h>

/* Keyword categories. A word may be in several. */
#define CX_CODE 0x01u
#define CX_MATH 0x02u
#define CX_REASON 0x04u
#define CX_STEP 0x08u
#define CX_CONSTR 0x10u

/* Words that matter only inside phrases ("how many", "at least", "step by step"). */
enum {
    CX_W_NONE = 0,
    CX_W_AT,
    CX_W_BY,
    CX_W_DO,
    CX_W_HOW,
    CX_W_LEAST,
    CX_W_LESS,
    CX_W_MANY,
    CX_W_MORE,
    CX_W_MOST,
    CX_W_MUCH,
    CX_W_NO,
    CX_W_NOT,
    CX_W_STEP,
    CX_W_THAN
};

#define CX_MAX_WORD 16 /* longer words are never keywords; skip the search */

typedef struct {
    const char *word; /* lowercase ASCII */
    unsigned char cat;
    unsigned char wid;
} cx_word_t;

/*
 * The keywords, sorted (tg_complexity_self_check() enforces it, which also rules out
 * duplicates). Each is a general cue of its kind, not a word picked from some evaluation
 * prompt. Words common in ordinary prose with another meaning ("class", "return", "import",
 * "product", "mean") are left out: a false cue costs more than a missed one, as it fires on
 * easy prompts too. One keyword per line, so the table reads and diffs easily.
 */
/* clang-format off */
static const cx_word_t cx_words[] = {
    {"acceleration", CX_MATH, CX_W_NONE},
    {"after", CX_STEP, CX_W_NONE},
    {"afterwards", CX_STEP, CX_W_NONE},
    {"algorithm", CX_CODE, CX_W_NONE},
    {"algorithms", CX_CODE, CX_W_NONE},
    {"always", CX_CONSTR, CX_W_NONE},
    {"analyse", CX_REASON, CX_W_NONE},
    {"analyze", CX_REASON, CX_W_NONE},
    {"angle", CX_MATH, CX_W_NONE},
    {"angles", CX_MATH, CX_W_NONE},
    {"api", CX_CODE, CX_W_NONE},
    {"area", CX_MATH, CX_W_NONE},
    {"argue", CX_REASON, CX_W_NONE},
    {"array", CX_CODE, CX_W_NONE},
    {"arrays", CX_CODE, CX_W_NONE},
    {"assess", CX_REASON, CX_W_NONE},
    {"async", CX_CODE, CX_W_NONE},
    {"at", 0, CX_W_AT},
    {"average", CX_MATH, CX_W_NONE},
    {"avoid", CX_CONSTR, CX_W_NONE},
    {"await", CX_CODE, CX_W_NONE},
    {"bash", CX_CODE, CX_W_NONE},
    {"before", CX_STEP, CX_W_NONE},
    {"bool", CX_CODE, CX_W_NONE},
    {"boolean", CX_CODE, CX_W_NONE},
    {"bug", CX_CODE, CX_W_NONE},
    {"bugs", CX_CODE, CX_W_NONE},
    {"bullet", CX_CONSTR, CX_W_NONE},
    {"bullets", CX_CONSTR, CX_W_NONE},
    {"by", 0, CX_W_BY},
    {"calculate", CX_REASON, CX_W_NONE},
    {"cents", CX_MATH, CX_W_NONE},
    {"code", CX_CODE, CX_W_NONE},
    {"coding", CX_CODE, CX_W_NONE},
    {"compare", CX_REASON, CX_W_NONE},
    {"comparison", CX_REASON, CX_W_NONE},
    {"compile", CX_CODE, CX_W_NONE},
    {"compiled", CX_CODE, CX_W_NONE},
    {"compiler", CX_CODE, CX_W_NONE},
    {"compute", CX_REASON, CX_W_NONE},
    {"concise", CX_CONSTR, CX_W_NONE},
    {"const", CX_CODE, CX_W_NONE},
    {"contrast", CX_REASON, CX_W_NONE},
    {"cpp", CX_CODE, CX_W_NONE},
    {"critique", CX_REASON, CX_W_NONE},
    {"css", CX_CODE, CX_W_NONE},
    {"csv", CX_CONSTR, CX_W_NONE},
    {"debug", CX_CODE, CX_W_NONE},
    {"debugging", CX_CODE, CX_W_NONE},
    {"deduce", CX_REASON, CX_W_NONE},
    {"def", CX_CODE, CX_W_NONE},
    {"degrees", CX_MATH, CX_W_NONE},
    {"derivation", CX_REASON, CX_W_NONE},
    {"derivative", CX_MATH, CX_W_NONE},
    {"derive", CX_REASON, CX_W_NONE},
    {"determine", CX_REASON, CX_W_NONE},
    {"digits", CX_MATH, CX_W_NONE},
    {"divisible", CX_MATH, CX_W_NONE},
    {"do", 0, CX_W_DO},
    {"dollar", CX_MATH, CX_W_NONE},
    {"dollars", CX_MATH, CX_W_NONE},
    {"double", CX_STEP, CX_W_NONE},
    {"each", CX_STEP, CX_W_NONE},
    {"elif", CX_CODE, CX_W_NONE},
    {"endpoint", CX_CODE, CX_W_NONE},
    {"ensure", CX_CONSTR, CX_W_NONE},
    {"equation", CX_MATH, CX_W_NONE},
    {"equations", CX_MATH, CX_W_NONE},
    {"estimate", CX_REASON, CX_W_NONE},
    {"evaluate", CX_REASON, CX_W_NONE},
    {"every", CX_STEP, CX_W_NONE},
    {"exactly", CX_CONSTR, CX_W_NONE},
    {"exception", CX_CODE, CX_W_NONE},
    {"explain", CX_REASON, CX_W_NONE},
    {"exponent", CX_MATH, CX_W_NONE},
    {"factorial", CX_MATH, CX_W_NONE},
    {"feet", CX_MATH, CX_W_NONE},
    {"finally", CX_STEP, CX_W_NONE},
    {"fn", CX_CODE, CX_W_NONE},
    {"format", CX_CONSTR, CX_W_NONE},
    {"formatted", CX_CONSTR, CX_W_NONE},
    {"fraction", CX_MATH, CX_W_NONE},
    {"fractions", CX_MATH, CX_W_NONE},
    {"func", CX_CODE, CX_W_NONE},
    {"gallon", CX_MATH, CX_W_NONE},
    {"gallons", CX_MATH, CX_W_NONE},
    {"golang", CX_CODE, CX_W_NONE},
    {"gram", CX_MATH, CX_W_NONE},
    {"grams", CX_MATH, CX_W_NONE},
    {"half", CX_STEP, CX_W_NONE},
    {"hour", CX_MATH, CX_W_NONE},
    {"hours", CX_MATH, CX_W_NONE},
    {"how", 0, CX_W_HOW},
    {"html", CX_CODE, CX_W_NONE},
    {"if", CX_STEP, CX_W_NONE},
    {"implement", CX_CODE, CX_W_NONE},
    {"implementation", CX_CODE, CX_W_NONE},
    {"implications", CX_REASON, CX_W_NONE},
    {"inch", CX_MATH, CX_W_NONE},
    {"inches", CX_MATH, CX_W_NONE},
    {"infer", CX_REASON, CX_W_NONE},
    {"integer", CX_MATH, CX_W_NONE},
    {"integers", CX_MATH, CX_W_NONE},
    {"integral", CX_MATH, CX_W_NONE},
    {"java", CX_CODE, CX_W_NONE},
    {"javascript", CX_CODE, CX_W_NONE},
    {"joules", CX_MATH, CX_W_NONE},
    {"json", CX_CONSTR, CX_W_NONE},
    {"justify", CX_REASON, CX_W_NONE},
    {"kg", CX_MATH, CX_W_NONE},
    {"kilograms", CX_MATH, CX_W_NONE},
    {"km", CX_MATH, CX_W_NONE},
    {"kotlin", CX_CODE, CX_W_NONE},
    {"kwargs", CX_CODE, CX_W_NONE},
    {"lambda", CX_CODE, CX_W_NONE},
    {"later", CX_STEP, CX_W_NONE},
    {"least", 0, CX_W_LEAST},
    {"left", CX_STEP, CX_W_NONE},
    {"less", 0, CX_W_LESS},
    {"limit", CX_CONSTR, CX_W_NONE},
    {"list", CX_CONSTR, CX_W_NONE},
    {"liter", CX_MATH, CX_W_NONE},
    {"liters", CX_MATH, CX_W_NONE},
    {"litres", CX_MATH, CX_W_NONE},
    {"logarithm", CX_MATH, CX_W_NONE},
    {"malloc", CX_CODE, CX_W_NONE},
    {"many", 0, CX_W_MANY},
    {"markdown", CX_CONSTR, CX_W_NONE},
    {"matrices", CX_MATH, CX_W_NONE},
    {"matrix", CX_MATH, CX_W_NONE},
    {"maximum", CX_CONSTR, CX_W_NONE},
    {"median", CX_MATH, CX_W_NONE},
    {"meter", CX_MATH, CX_W_NONE},
    {"meters", CX_MATH, CX_W_NONE},
    {"metres", CX_MATH, CX_W_NONE},
    {"mile", CX_MATH, CX_W_NONE},
    {"miles", CX_MATH, CX_W_NONE},
    {"minimum", CX_CONSTR, CX_W_NONE},
    {"minute", CX_MATH, CX_W_NONE},
    {"minutes", CX_MATH, CX_W_NONE},
    {"modulo", CX_MATH, CX_W_NONE},
    {"more", 0, CX_W_MORE},
    {"most", 0, CX_W_MOST},
    {"much", 0, CX_W_MUCH},
    {"must", CX_CONSTR, CX_W_NONE},
    {"never", CX_CONSTR, CX_W_NONE},
    {"next", CX_STEP, CX_W_NONE},
    {"no", 0, CX_W_NO},
    {"not", 0, CX_W_NOT},
    {"nullptr", CX_CODE, CX_W_NONE},
    {"only", CX_CONSTR, CX_W_NONE},
    {"optimize", CX_REASON, CX_W_NONE},
    {"otherwise", CX_STEP, CX_W_NONE},
    {"per", CX_STEP, CX_W_NONE},
    {"percent", CX_MATH, CX_W_NONE},
    {"percentage", CX_MATH, CX_W_NONE},
    {"perimeter", CX_MATH, CX_W_NONE},
    {"pointer", CX_CODE, CX_W_NONE},
    {"pointers", CX_CODE, CX_W_NONE},
    {"polynomial", CX_MATH, CX_W_NONE},
    {"pounds", CX_MATH, CX_W_NONE},
    {"precisely", CX_CONSTR, CX_W_NONE},
    {"prime", CX_MATH, CX_W_NONE},
    {"printf", CX_CODE, CX_W_NONE},
    {"println", CX_CODE, CX_W_NONE},
    {"probability", CX_MATH, CX_W_NONE},
    {"programming", CX_CODE, CX_W_NONE},
    {"proof", CX_REASON, CX_W_NONE},
    {"prove", CX_REASON, CX_W_NONE},
    {"python", CX_CODE, CX_W_NONE},
    {"quotient", CX_MATH, CX_W_NONE},
    {"radius", CX_MATH, CX_W_NONE},
    {"ratio", CX_MATH, CX_W_NONE},
    {"reason", CX_REASON, CX_W_NONE},
    {"reasoning", CX_REASON, CX_W_NONE},
    {"recursion", CX_CODE, CX_W_NONE},
    {"recursive", CX_CODE, CX_W_NONE},
    {"refactor", CX_CODE, CX_W_NONE},
    {"regex", CX_CODE, CX_W_NONE},
    {"remainder", CX_MATH, CX_W_NONE},
    {"remaining", CX_STEP, CX_W_NONE},
    {"require", CX_CONSTR, CX_W_NONE},
    {"required", CX_CONSTR, CX_W_NONE},
    {"respectively", CX_STEP, CX_W_NONE},
    {"rest", CX_STEP, CX_W_NONE},
    {"runtime", CX_CODE, CX_W_NONE},
    {"script", CX_CODE, CX_W_NONE},
    {"should", CX_CONSTR, CX_W_NONE},
    {"snippet", CX_CODE, CX_W_NONE},
    {"solve", CX_MATH, CX_W_NONE},
    {"sql", CX_CODE, CX_W_NONE},
    {"stderr", CX_CODE, CX_W_NONE},
    {"stdout", CX_CODE, CX_W_NONE},
    {"step", 0, CX_W_STEP},
    {"steps", CX_REASON, CX_W_NONE},
    {"strictly", CX_CONSTR, CX_W_NONE},
    {"struct", CX_CODE, CX_W_NONE},
    {"sum", CX_MATH, CX_W_NONE},
    {"table", CX_CONSTR, CX_W_NONE},
    {"than", 0, CX_W_THAN},
    {"then", CX_STEP, CX_W_NONE},
    {"theorem", CX_MATH, CX_W_NONE},
    {"times", CX_STEP, CX_W_NONE},
    {"total", CX_STEP, CX_W_NONE},
    {"tradeoffs", CX_REASON, CX_W_NONE},
    {"triangle", CX_MATH, CX_W_NONE},
    {"triple", CX_STEP, CX_W_NONE},
    {"twice", CX_STEP, CX_W_NONE},
    {"typescript", CX_CODE, CX_W_NONE},
    {"unless", CX_STEP, CX_W_NONE},
    {"until", CX_STEP, CX_W_NONE},
    {"variance", CX_MATH, CX_W_NONE},
    {"vector", CX_MATH, CX_W_NONE},
    {"vectors", CX_MATH, CX_W_NONE},
    {"velocity", CX_MATH, CX_W_NONE},
    {"void", CX_CODE, CX_W_NONE},
    {"volts", CX_MATH, CX_W_NONE},
    {"volume", CX_MATH, CX_W_NONE},
    {"watts", CX_MATH, CX_W_NONE},
    {"why", CX_REASON, CX_W_NONE},
    {"without", CX_CONSTR, CX_W_NONE},
    {"xml", CX_CONSTR, CX_W_NONE},
    {"yaml", CX_CONSTR, CX_W_NONE},
};
/* clang-format on */

#define CX_NWORDS (sizeof(cx_words) / sizeof(cx_words[0]))

/*
 * The keywords by hash, open addressing with linear probing. Built once from cx_words (a
 * table written out by hand would go stale); a quarter full, so a miss, the common case,
 * usually ends at the first slot.
 */
#define CX_SLOTS 1024

typedef struct {
    uint32_t hash;
    uint16_t word; /* index in cx_words + 1; 0 = empty */
} cx_slot_t;

static cx_slot_t cx_slots[CX_SLOTS];
static once_flag cx_slots_once = ONCE_FLAG_INIT;
static int cx_slots_ok;

/*
 * Weights of the features, non-negative and summing to 1 so the score stays in [0, 1] and
 * each contribution reads as a share of it. See docs/routing.md for how they were chosen.
 */
static const double cx_weight[TG_CX_NFEATURES] = {
    [TG_CX_LENGTH] = 0.30,    [TG_CX_CODE] = 0.10,      [TG_CX_MATH] = 0.20,
    [TG_CX_REASONING] = 0.10, [TG_CX_STEPS] = 0.15,     [TG_CX_CONSTRAINTS] = 0.05,
    [TG_CX_TURNS] = 0.04,     [TG_CX_QUESTIONS] = 0.03, [TG_CX_TOOLS] = 0.03,
};

static const char *const cx_name[TG_CX_NFEATURES] = {
    [TG_CX_LENGTH] = "length", [TG_CX_CODE] = "code",
    [TG_CX_MATH] = "math",     [TG_CX_REASONING] = "reasoning",
    [TG_CX_STEPS] = "steps",   [TG_CX_CONSTRAINTS] = "constraints",
    [TG_CX_TURNS] = "turns",   [TG_CX_QUESTIONS] = "questions",
    [TG_CX_TOOLS] = "tools",
};

/* What the scanner remembers between bytes: the last token's kind and the last words. */
typedef enum { CX_TOK_NONE = 0, CX_TOK_WORD, CX_TOK_NUM, CX_TOK_CLOSE } cx_tok_t;

typedef struct {
    tg_cx_counts_t *c;
    cx_tok_t last; /* kind of the last non-space token */
    int w1, w2;    /* phrase ids of the previous two words */
} cx_scan_t;

static int cx_alpha(unsigned char ch)
{
    return (ch | 0x20) >= 'a' && (ch | 0x20) <= 'z';
}

static int cx_digit(unsigned char ch)
{
    return ch >= '0' && ch <= '9';
}

static int cx_space(unsigned char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r';
}

/* U+2200..U+22FF (∑ √ ∫ ≈ ≠ ≤ ≥ −) and × ÷: 2 or 3 UTF-8 bytes, or 0 when not one of them. */
static size_t cx_math_symbol(const unsigned char *s, size_t i, size_t len)
{
    if (s[i] == 0xC3 && i + 1 < len && (s[i + 1] == 0x97 || s[i + 1] == 0xB7)) {
        return 2;
    }
    if (s[i] == 0xE2 && i + 2 < len && s[i + 1] >= 0x88 && s[i + 1] <= 0x8B) {
        return 3;
    }
    return 0;
}

/* Compare the word (any case) with a lowercase keyword, like strcmp. */
static int cx_wordcmp(const unsigned char *w, size_t n, const char *kw)
{
    for (size_t i = 0; i < n; i++) {
        int a = w[i] | 0x20, b = (unsigned char)kw[i];

        if (b == '\0' || a != b) {
            return b == '\0' ? 1 : a - b;
        }
    }
    return kw[n] == '\0' ? 0 : -1;
}

/* FNV-1a of the lowercased word, fed one byte at a time while the word is scanned. */
#define CX_HASH_INIT 2166136261u

static uint32_t cx_hash_byte(uint32_t h, unsigned char ch)
{
    return (h ^ (uint32_t)(ch | 0x20)) * 16777619u;
}

static uint32_t cx_hash(const char *w)
{
    uint32_t h = CX_HASH_INIT;

    while (*w != '\0') {
        h = cx_hash_byte(h, (unsigned char)*w++);
    }
    return h;
}

/* call_once: fill cx_slots from cx_words; cx_slots_ok says whether every word went in. */
static void cx_build_slots(void)
{
    for (size_t i = 0; i < CX_NWORDS; i++) {
        uint32_t h = cx_hash(cx_words[i].word);
        size_t slot = h & (CX_SLOTS - 1), probes = 0;

        while (cx_slots[slot].word != 0) {
            if (++probes == CX_SLOTS) {
                return;
            }
            slot = (slot + 1) & (CX_SLOTS - 1);
        }
        cx_slots[slot].hash = h;
        cx_slots[slot].word = (uint16_t)(i + 1);
    }
    cx_slots_ok = 1;
}

/* w is n ASCII letters with hash h. */
static const cx_word_t *cx_lookup(const unsigned char *w, size_t n, uint32_t h)
{
    size_t slot = h & (CX_SLOTS - 1);

    for (size_t probes = 0; probes < CX_SLOTS && cx_slots[slot].word != 0; probes++) {
        const cx_word_t *kw = &cx_words[cx_slots[slot].word - 1];

        if (cx_slots[slot].hash == h && cx_wordcmp(w, n, kw->word) == 0) {
            return kw;
        }
        slot = (slot + 1) & (CX_SLOTS - 1);
    }
    return NULL;
}

/* Phrases are matched on the ids of the last three words; each adds one to a count. */
static void cx_phrase(cx_scan_t *st, int w0)
{
    tg_cx_counts_t *c = st->c;

    if (st->w1 == CX_W_HOW && (w0 == CX_W_MANY || w0 == CX_W_MUCH)) {
        c->math_words++;
    } else if (st->w1 == CX_W_AT && (w0 == CX_W_LEAST || w0 == CX_W_MOST)) {
        c->constraints++;
    } else if (st->w1 == CX_W_DO && w0 == CX_W_NOT) {
        c->constraints++;
    } else if (st->w2 == CX_W_STEP && st->w1 == CX_W_BY && w0 == CX_W_STEP) {
        c->reasoning++;
    } else if ((st->w1 == CX_W_MORE || st->w1 == CX_W_LESS) && w0 == CX_W_THAN) {
        /* "3 more than twice" is a dependency; "no more than 100 words" a constraint. */
        if (st->w2 == CX_W_NO) {
            c->constraints++;
        } else {
            c->step_words++;
        }
    }
}

static void cx_word(cx_scan_t *st, const unsigned char *w, size_t n, int ascii, uint32_t h)
{
    const cx_word_t *kw = NULL;
    tg_cx_counts_t *c = st->c;
    int w0;

    c->words++;
    if (ascii && n >= 2 && n <= CX_MAX_WORD) {
        kw = cx_lookup(w, n, h);
    }
    if (kw != NULL) {
        c->code_words += (kw->cat & CX_CODE) != 0;
        c->math_words += (kw->cat & CX_MATH) != 0;
        c->reasoning += (kw->cat & CX_REASON) != 0;
        c->step_words += (kw->cat & CX_STEP) != 0;
        c->constraints += (kw->cat & CX_CONSTR) != 0;
    }
    w0 = kw != NULL ? kw->wid : CX_W_NONE;
    cx_phrase(st, w0);
    st->w2 = st->w1;
    st->w1 = w0;
    st->last = CX_TOK_WORD;
}

/* Forget the last words: phrases never span punctuation. */
static void cx_break(cx_scan_t *st)
{
    st->w1 = st->w2 = CX_W_NONE;
}

/* The next byte after i, skipping at most one space, or 0 at the end. */
static unsigned char cx_peek(const unsigned char *s, size_t i, size_t len)
{
    if (i + 1 < len && s[i + 1] == ' ') {
        i++;
    }
    return i + 1 < len ? s[i + 1] : 0;
}

/*
 * '+', '*', '/', '^', '<', '>' and '-' are arithmetic only next to a number: "3 * x", "(a) +
 * 2", but not "**bold**", "and/or", "<div>" or the hyphen of "5-year-old".
 */
static int cx_arith(cx_scan_t *st, const unsigned char *s, size_t i, size_t len)
{
    unsigned char next = cx_peek(s, i, len);

    if (s[i] == '-') {
        return (st->last == CX_TOK_NUM || st->last == CX_TOK_CLOSE) &&
               (cx_digit(next) || next == '(');
    }
    if (st->last == CX_TOK_NUM || st->last == CX_TOK_CLOSE) {
        return cx_digit(next) || next == '(' || cx_alpha(next);
    }
    return cx_digit(next);
}

/* A sentence ends at '.', '!' or '?' followed by a space, a quote or the end of the text. */
static int cx_sentence_end(cx_scan_t *st, const unsigned char *s, size_t i, size_t len)
{
    if (st->last != CX_TOK_WORD && st->last != CX_TOK_NUM && s[i] != '?') {
        return 0;
    }
    return i + 1 == len || cx_space(s[i + 1]) || s[i + 1] == '"' || s[i + 1] == ')';
}

/* Punctuation and symbols; returns how many bytes were consumed. */
static size_t cx_symbol(cx_scan_t *st, const unsigned char *s, size_t i, size_t len)
{
    tg_cx_counts_t *c = st->c;
    unsigned char ch = s[i], next = i + 1 < len ? s[i + 1] : 0;
    size_t n = 1;

    switch (ch) {
    case '`':
        while (i + n < len && s[i + n] == '`') {
            n++;
        }
        c->fences += n >= 3;
        break;
    case '{':
    case '}':
    case ';':
        c->code_marks++;
        break;
    case '=':
        if (next == '=' || next == '>') {
            c->code_marks++;
            n = 2;
        } else {
            c->operators++;
        }
        break;
    case '!':
    case '&':
    case '|':
    case ':':
        if ((ch == '!' && next == '=') || (ch != '!' && next == ch)) {
            c->code_marks++;
            n = 2;
        } else if (ch == '!' && cx_sentence_end(st, s, i, len)) {
            c->sentences++;
        }
        break;
    case '-':
        if (next == '>') {
            c->code_marks++;
            n = 2;
            break;
        }
        /* fall through */
    case '+':
    case '*':
    case '/':
    case '^':
    case '<':
    case '>':
        c->operators += cx_arith(st, s, i, len);
        break;
    case '%':
        c->percents++;
        break;
    case '$':
        if (next == '$') {
            c->latex++;
            n = 2;
        } else if (cx_digit(next)) {
            c->currency++;
        } else if (cx_alpha(next) || next == '\\' || next == '{') {
            c->latex++;
        }
        break;
    case '\\':
        while (i + n < len && cx_alpha(s[i + n])) {
            n++;
        }
        /* \frac, \sqrt, \cdot; not the \n or \t escapes of code strings. */
        c->latex += n >= 4;
        break;
    case '?':
        c->questions++;
        c->sentences += cx_sentence_end(st, s, i, len);
        break;
    case '.':
        c->sentences += cx_sentence_end(st, s, i, len);
        break;
    default:
        break;
    }
    if (ch == ')' || ch == ']') {
        st->last = CX_TOK_CLOSE;
    } else if (!cx_space(ch)) {
        st->last = CX_TOK_NONE;
    }
    if (ch == '.' || ch == ',' || ch == ';' || ch == ':' || ch == '?' || ch == '!' || ch == '\n') {
        cx_break(st);
    }
    return n;
}

/* A word is a run of ASCII letters and non-ASCII bytes (accented letters, other scripts). */
static size_t cx_word_run(cx_scan_t *st, const unsigned char *s, size_t i, size_t len)
{
    uint32_t h = CX_HASH_INIT;
    size_t j = i;
    int ascii = 1;

    while (j < len && (cx_alpha(s[j]) || (s[j] >= 0x80 && cx_math_symbol(s, j, len) == 0))) {
        ascii &= s[j] < 0x80;
        h = cx_hash_byte(h, s[j]);
        j++;
    }
    cx_word(st, s + i, j - i, ascii, h);
    return j - i;
}

/* A number is a run of digits, with '.' or ',' allowed between digits ("1,250.50"). */
static size_t cx_number_run(cx_scan_t *st, const unsigned char *s, size_t i, size_t len)
{
    size_t j = i + 1;

    while (j < len && (cx_digit(s[j]) ||
                       ((s[j] == '.' || s[j] == ',') && j + 1 < len && cx_digit(s[j + 1])))) {
        j++;
    }
    st->c->numbers++;
    st->last = CX_TOK_NUM;
    return j - i;
}

static void cx_scan(cx_scan_t *st, const unsigned char *s, size_t len)
{
    size_t i = 0;

    cx_break(st);
    st->last = CX_TOK_NONE;
    st->c->scanned += len;
    while (i < len) {
        size_t sym = s[i] >= 0x80 ? cx_math_symbol(s, i, len) : 0;

        if (sym > 0) {
            st->c->operators++;
            st->last = CX_TOK_NONE;
            i += sym;
        } else if (cx_alpha(s[i]) || s[i] >= 0x80) {
            i += cx_word_run(st, s, i, len);
        } else if (cx_digit(s[i])) {
            i += cx_number_run(st, s, i, len);
        } else {
            i += cx_symbol(st, s, i, len);
        }
    }
}

/* log2(x) for x >= 1, piecewise linear between powers of two: exact at them, within 0.09. */
static double cx_log2(uint64_t x)
{
    int b = 63 - __builtin_clzll(x);
    double base = (double)((uint64_t)1 << b);

    return b + ((double)x - base) / base;
}

/* x / (x + half): 0 at 0, 0.5 at half, approaching 1; no cliff anywhere. */
static double cx_sat(double x, double half)
{
    return x <= 0 ? 0 : x / (x + half);
}

static double cx_clamp01(double x)
{
    return x < 0 ? 0 : (x > 1 ? 1 : x);
}

/*
 * Counts to feature values. The half-saturation points are where a feature is "clearly
 * present": two reasoning asks, six code cues, eight math cues. Length is logarithmic because
 * going from 20 to 200 tokens changes a task more than going from 2,000 to 2,200.
 */
static void cx_values(const tg_cx_counts_t *c, unsigned flags, double *v)
{
    uint64_t tokens = (c->bytes + 3) / 4;
    double code, math, steps;

    code = 4.0 * c->fences + c->code_words + 0.5 * c->code_marks;
    math = c->numbers + c->operators + c->percents + c->currency + 2.0 * c->latex +
           2.0 * c->math_words;
    steps = c->step_words + (c->sentences > 2 ? 0.5 * (c->sentences - 2) : 0);

    v[TG_CX_LENGTH] = tokens == 0 ? 0 : cx_clamp01((cx_log2(tokens) - 4.0) / 7.0);
    v[TG_CX_CODE] = cx_sat(code, 6);
    v[TG_CX_MATH] = cx_sat(math, 3);
    v[TG_CX_REASONING] = cx_sat(c->reasoning, 2);
    v[TG_CX_STEPS] = cx_sat(steps, 6);
    v[TG_CX_CONSTRAINTS] = cx_sat(c->constraints + ((flags & TG_CX_REQ_JSON) ? 2.0 : 0), 3);
    v[TG_CX_TURNS] = cx_sat(c->turns > 1 ? c->turns - 1.0 : 0, 4);
    v[TG_CX_QUESTIONS] = cx_sat(c->questions > 1 ? c->questions - 1.0 : 0, 2);
    v[TG_CX_TOOLS] = (flags & TG_CX_REQ_TOOLS) ? 1.0 : 0;
}

double tg_complexity_score(const tg_cx_msg_t *msgs, size_t nmsgs, unsigned flags,
                           tg_cx_explain_t *ex)
{
    tg_cx_explain_t local;
    cx_scan_t st = {0};
    size_t budget = TG_CX_SCAN_MAX;
    double score = 0;

    call_once(&cx_slots_once, cx_build_slots);
    if (ex == NULL) {
        ex = &local;
    }
    memset(ex, 0, sizeof(*ex));
    st.c = &ex->counts;
    /* Newest first: when the scan budget runs out, what is left unread is old context. */
    for (size_t i = nmsgs; i-- > 0;) {
        const tg_cx_msg_t *m = &msgs[i];
        size_t take;

        if ((m->role == TG_CX_ROLE_USER || m->role == TG_CX_ROLE_ASSISTANT) &&
            (i == 0 || msgs[i - 1].role != m->role)) {
            ex->counts.turns++;
        }
        if (m->role != TG_CX_ROLE_USER || m->text == NULL) {
            continue;
        }
        ex->counts.bytes += m->skipped + m->len;
        /* The tail of a long message: the question usually comes after the material. */
        take = m->len < budget ? m->len : budget;
        cx_scan(&st, (const unsigned char *)m->text + (m->len - take), take);
        budget -= take;
    }
    cx_values(&ex->counts, flags, ex->value);
    for (int f = 0; f < TG_CX_NFEATURES; f++) {
        ex->contrib[f] = cx_weight[f] * ex->value[f];
        score += ex->contrib[f];
    }
    /* Rounding can push a sum of weights that add up to 1 a hair past it. */
    ex->score = cx_clamp01(score);
    return ex->score;
}

double tg_complexity_score_text(const char *text, size_t len, tg_cx_explain_t *ex)
{
    tg_cx_msg_t msg = {.role = TG_CX_ROLE_USER, .text = text, .len = len};

    return tg_complexity_score(&msg, 1, 0, ex);
}

const char *tg_complexity_feature_name(tg_cx_feature_t f)
{
    return (unsigned)f < TG_CX_NFEATURES ? cx_name[f] : NULL;
}

double tg_complexity_weight(tg_cx_feature_t f)
{
    return (unsigned)f < TG_CX_NFEATURES ? cx_weight[f] : 0;
}

static int cx_check_word(const char *w)
{
    size_t n = strlen(w);

    if (n < 2 || n > CX_MAX_WORD) {
        return -1;
    }
    for (size_t k = 0; k < n; k++) {
        if (w[k] < 'a' || w[k] > 'z') {
            return -1;
        }
    }
    return 0;
}

int tg_complexity_self_check(void)
{
    double sum = 0;

    call_once(&cx_slots_once, cx_build_slots);
    if (!cx_slots_ok) {
        return -1;
    }
    for (size_t i = 0; i < CX_NWORDS; i++) {
        const char *w = cx_words[i].word;

        if (cx_check_word(w) != 0 || (i > 0 && strcmp(cx_words[i - 1].word, w) >= 0) ||
            cx_lookup((const unsigned char *)w, strlen(w), cx_hash(w)) != &cx_words[i]) {
            return -1;
        }
    }
    for (int f = 0; f < TG_CX_NFEATURES; f++) {
        if (cx_weight[f] < 0 || cx_name[f] == NULL) {
            return -1;
        }
        sum += cx_weight[f];
    }
    return sum > 1 - 1e-9 && sum < 1 + 1e-9 ? 0 : -1;
}
