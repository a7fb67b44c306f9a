/* constraint.c: one request's rules for an assistant turn, enforced token by token
 * (gptoss_constraint_* in include/gptoss.h). The rules are the message headers the model may write,
 * each the tokenizer's own encoding of its text, walked as alternatives (a header token is forced
 * where the live alternatives agree); what each message body may hold (free text with its own
 * terminator, or a JSON-Schema grammar and then only the terminator); and the reasoning budget.
 * A state owns its mask buffer and one grammar state made at creation, so next and accept allocate
 * nothing. */
#include <stdlib.h>
#include <string.h>

#include "base/common.h"
#include "grammar/grammar_internal.h"

typedef enum body_kind { B_ANALYSIS, B_FINAL, B_PREAMBLE, B_CALL } body_kind;

typedef struct header {
    uint32_t *ids;
    uint32_t n;
    body_kind kind;
    const gptoss_grammar *grammar; /* the body's grammar (final answer or call arguments), or NULL */
} header;

struct gptoss_constraint {
    uint32_t n_vocab, n_words;
    int is_free;
    header *first, *later; /* the same alternatives, first message / later ones (<|start|>assistant...) */
    size_t n_headers;
    int has_grammar;
    int limit_reasoning;
    uint32_t max_reasoning;
    /* free text (every non-special token) and one terminator */
    uint32_t *text_end, *text_return, *text_call;
};

enum { PH_HEADER, PH_BODY, PH_DONE };

struct gptoss_constraint_state {
    const gptoss_constraint *c;
    int phase, later;
    uint32_t depth;            /* tokens of the header so far */
    uint8_t *alive;            /* per header alternative */
    uint32_t *cand;            /* distinct next header tokens */
    const header *body;        /* the header that opened the current body */
    int in_grammar;            /* the body follows grammar_state */
    gptoss_grammar_state *gs;  /* NULL when no body has a grammar */
    uint32_t spent;            /* analysis body tokens over the turn */
    uint32_t *bits;            /* n_words */
};

static void set_bit(uint32_t *bits, uint32_t id) { bits[id / 32] |= 1u << (id % 32); }
static int has_bit(const uint32_t *bits, uint32_t id) { return bits[id / 32] >> (id % 32) & 1u; }

/* Appends one header: [<|start|>assistant] <|channel|>CHANNEL_TEXT [<|constrain|>json] <|message|>,
 * the text parts encoded as the model writes them (special tokens split the text). */
static gptoss_status encode_header(const gptoss_tokenizer *tok, int later, const char *channel_text, int json,
                                   header *out) {
    gptoss_tokens t = {0};
    gptoss_status st = GPTOSS_OK;
    if (later) {
        st = gptoss_tokens_push(&t, GPTOSS_HARMONY_START);
        if (st == GPTOSS_OK) st = gptoss_tokenizer_encode(tok, "assistant", 9, GPTOSS_TOKENIZER_SPECIAL_AS_TEXT, &t);
    }
    if (st == GPTOSS_OK) st = gptoss_tokens_push(&t, GPTOSS_HARMONY_CHANNEL);
    if (st == GPTOSS_OK)
        st = gptoss_tokenizer_encode(tok, channel_text, strlen(channel_text), GPTOSS_TOKENIZER_SPECIAL_AS_TEXT, &t);
    if (st == GPTOSS_OK && json) {
        st = gptoss_tokens_push(&t, GPTOSS_HARMONY_CONSTRAIN);
        if (st == GPTOSS_OK) st = gptoss_tokenizer_encode(tok, "json", 4, GPTOSS_TOKENIZER_SPECIAL_AS_TEXT, &t);
    }
    if (st == GPTOSS_OK) st = gptoss_tokens_push(&t, GPTOSS_HARMONY_MESSAGE);
    if (st != GPTOSS_OK || t.n > UINT32_MAX) {
        gptoss_tokens_free(&t);
        return st != GPTOSS_OK ? st : GPTOSS_ERR_OUT_OF_RANGE;
    }
    out->ids = t.ids;
    out->n = (uint32_t)t.n;
    return GPTOSS_OK;
}

static gptoss_status add_header(const gptoss_tokenizer *tok, gptoss_constraint *c, const char *channel_text, int json,
                                body_kind kind, const gptoss_grammar *grammar) {
    size_t i = c->n_headers;
    c->first[i] = c->later[i] = (header){NULL, 0, kind, grammar};
    gptoss_status st = encode_header(tok, 0, channel_text, json, &c->first[i]);
    if (st == GPTOSS_OK) st = encode_header(tok, 1, channel_text, json, &c->later[i]);
    c->n_headers++; /* counted even on failure: free releases what was made */
    return st;
}

void gptoss_constraint_free(gptoss_constraint *c) {
    if (!c) return;
    for (size_t i = 0; i < c->n_headers; i++) {
        free(c->first[i].ids);
        free(c->later[i].ids);
    }
    free(c->first);
    free(c->later);
    free(c->text_end);
    free(c->text_return);
    free(c->text_call);
    free(c);
}

static gptoss_status check_grammar(const gptoss_grammar *g, uint32_t n_vocab, const char *what, char *err,
                                   size_t err_size) {
    if (!g->vocab || g->vocab->n_vocab != n_vocab)
        return gptoss_fail(GPTOSS_ERR_INVALID_ARGUMENT, err, err_size,
                           "constraint: the %s grammar was compiled %s", what,
                           g->vocab ? "against another vocabulary" : "without a vocabulary (no masks)");
    return GPTOSS_OK;
}

gptoss_status gptoss_constraint_create(const gptoss_tokenizer *tokenizer, const gptoss_constraint_options *options,
                                       gptoss_constraint **out, char *err, size_t err_size) {
    if (out) *out = NULL;
    if (!tokenizer || !out)
        return gptoss_fail(GPTOSS_ERR_INVALID_ARGUMENT, err, err_size, "constraint: NULL tokenizer or output");
    const gptoss_constraint_options o = options ? *options : (gptoss_constraint_options){0};
    const uint32_t nv = gptoss_tokenizer_n_vocab(tokenizer);
    if (nv <= GPTOSS_HARMONY_CALL)
        return gptoss_fail(GPTOSS_ERR_INVALID_ARGUMENT, err, err_size,
                           "constraint: the tokenizer has no harmony special tokens (%u ids)", nv);
    if (o.n_functions && !o.functions)
        return gptoss_fail(GPTOSS_ERR_INVALID_ARGUMENT, err, err_size, "constraint: n_functions without functions");
    if (o.tool_choice > GPTOSS_TOOL_CHOICE_REQUIRED)
        return gptoss_fail(GPTOSS_ERR_INVALID_ARGUMENT, err, err_size, "constraint: unknown tool_choice %d",
                           (int)o.tool_choice);
    if (o.tool_choice == GPTOSS_TOOL_CHOICE_REQUIRED && !o.n_functions)
        return gptoss_fail(GPTOSS_ERR_INVALID_ARGUMENT, err, err_size,
                           "constraint: tool_choice required without any function");
    gptoss_status st;
    if (o.final_grammar && (st = check_grammar(o.final_grammar, nv, "final answer's", err, err_size)) != GPTOSS_OK)
        return st;
    for (size_t i = 0; i < o.n_functions; i++) {
        const gptoss_constraint_function *f = &o.functions[i];
        if (!f->name || !*f->name)
            return gptoss_fail(GPTOSS_ERR_INVALID_ARGUMENT, err, err_size, "constraint: function %zu has no name", i);
        if (f->arguments && (st = check_grammar(f->arguments, nv, "function arguments'", err, err_size)) != GPTOSS_OK)
            return st;
    }

    gptoss_constraint *c = calloc(1, sizeof *c);
    if (!c) return gptoss_fail(GPTOSS_ERR_NO_MEMORY, err, err_size, "out of memory");
    c->n_vocab = nv;
    c->n_words = (nv + 31) / 32;
    c->limit_reasoning = o.limit_reasoning != 0;
    c->max_reasoning = o.max_reasoning_tokens;
    c->is_free = !o.final_grammar && !o.n_functions && o.tool_choice == GPTOSS_TOOL_CHOICE_AUTO && !o.limit_reasoning;
    if (c->is_free) {
        *out = c;
        return GPTOSS_OK;
    }
    const size_t max_headers = 3 + o.n_functions;
    c->first = calloc(max_headers, sizeof *c->first);
    c->later = calloc(max_headers, sizeof *c->later);
    c->text_end = calloc(c->n_words, sizeof *c->text_end);
    c->text_return = calloc(c->n_words, sizeof *c->text_return);
    c->text_call = calloc(c->n_words, sizeof *c->text_call);
    if (!c->first || !c->later || !c->text_end || !c->text_return || !c->text_call) {
        gptoss_constraint_free(c);
        return gptoss_fail(GPTOSS_ERR_NO_MEMORY, err, err_size, "out of memory");
    }
    for (uint32_t id = 0; id < nv; id++)
        if (!gptoss_tokenizer_is_special(tokenizer, id)) set_bit(c->text_end, id);
    memcpy(c->text_return, c->text_end, c->n_words * sizeof *c->text_end);
    memcpy(c->text_call, c->text_end, c->n_words * sizeof *c->text_end);
    set_bit(c->text_end, GPTOSS_HARMONY_END);
    set_bit(c->text_return, GPTOSS_HARMONY_RETURN);
    set_bit(c->text_call, GPTOSS_HARMONY_CALL);

    st = add_header(tokenizer, c, "analysis", 0, B_ANALYSIS, NULL);
    if (st == GPTOSS_OK && o.tool_choice != GPTOSS_TOOL_CHOICE_REQUIRED)
        st = add_header(tokenizer, c, "final", 0, B_FINAL, o.final_grammar);
    if (st == GPTOSS_OK && o.n_functions && o.tool_choice == GPTOSS_TOOL_CHOICE_AUTO)
        st = add_header(tokenizer, c, "commentary", 0, B_PREAMBLE, NULL);
    gptoss_buf text = {0};
    for (size_t i = 0; st == GPTOSS_OK && o.tool_choice != GPTOSS_TOOL_CHOICE_NONE && i < o.n_functions; i++) {
        text.len = 0;
        gptoss_buf_printf(&text, "commentary to=functions.%s ", o.functions[i].name);
        const char *s = gptoss_buf_cstr(&text);
        st = s ? add_header(tokenizer, c, s, 1, B_CALL, o.functions[i].arguments) : GPTOSS_ERR_NO_MEMORY;
    }
    gptoss_buf_free(&text);
    if (st != GPTOSS_OK) {
        gptoss_constraint_free(c);
        return gptoss_fail(st, err, err_size, "constraint: encoding the message headers failed");
    }
    for (size_t i = 0; i < c->n_headers; i++) c->has_grammar |= c->first[i].grammar != NULL;
    *out = c;
    return GPTOSS_OK;
}

int gptoss_constraint_is_free(const gptoss_constraint *c) { return c ? c->is_free : 1; }

/* ---- one sequence ---------------------------------------------------------------------------- */

static int analysis_allowed(const gptoss_constraint_state *s) {
    return !s->c->limit_reasoning || s->spent < s->c->max_reasoning;
}

static void start_header(gptoss_constraint_state *s) {
    s->phase = PH_HEADER;
    s->depth = 0;
    s->body = NULL;
    s->in_grammar = 0;
    for (size_t i = 0; i < s->c->n_headers; i++)
        s->alive[i] = s->c->first[i].kind != B_ANALYSIS || analysis_allowed(s);
}

gptoss_status gptoss_constraint_state_create(const gptoss_constraint *c, gptoss_constraint_state **out) {
    if (out) *out = NULL;
    if (!c || !out) return GPTOSS_ERR_INVALID_ARGUMENT;
    gptoss_constraint_state *s = calloc(1, sizeof *s);
    if (!s) return GPTOSS_ERR_NO_MEMORY;
    s->c = c;
    if (c->is_free) {
        *out = s;
        return GPTOSS_OK;
    }
    s->alive = calloc(c->n_headers, 1);
    s->cand = calloc(c->n_headers, sizeof *s->cand);
    s->bits = calloc(c->n_words, sizeof *s->bits);
    int ok = s->alive && s->cand && s->bits;
    for (size_t i = 0; ok && c->has_grammar && !s->gs && i < c->n_headers; i++)
        if (c->first[i].grammar)
            ok = gptoss_grammar_state_create(c->first[i].grammar, &s->gs) == GPTOSS_OK &&
                 gram_grammar_state_reserve(s->gs);
    if (!ok) {
        gptoss_constraint_state_free(s);
        return GPTOSS_ERR_NO_MEMORY;
    }
    start_header(s);
    *out = s;
    return GPTOSS_OK;
}

void gptoss_constraint_state_free(gptoss_constraint_state *s) {
    if (!s) return;
    gptoss_grammar_state_free(s->gs);
    free(s->alive);
    free(s->cand);
    free(s->bits);
    free(s);
}

static int is_text(const gptoss_constraint *c, uint32_t id) {
    return id < c->n_vocab && id != GPTOSS_HARMONY_END && has_bit(c->text_end, id);
}

static const header *headers(const gptoss_constraint_state *s) { return s->later ? s->c->later : s->c->first; }

static uint32_t terminator(body_kind k) {
    return k == B_FINAL ? GPTOSS_HARMONY_RETURN : k == B_CALL ? GPTOSS_HARMONY_CALL : GPTOSS_HARMONY_END;
}

static const uint32_t *free_text(const gptoss_constraint *c, body_kind k) {
    return k == B_FINAL ? c->text_return : k == B_CALL ? c->text_call : c->text_end;
}

gptoss_status gptoss_constraint_state_next(gptoss_constraint_state *s, gptoss_constraint_next *out) {
    if (!s || !out) return GPTOSS_ERR_INVALID_ARGUMENT;
    *out = (gptoss_constraint_next){GPTOSS_NEXT_ANY, 0, NULL};
    if (s->phase == PH_DONE) return GPTOSS_ERR_INVALID_ARGUMENT; /* the turn has ended: nothing may follow */
    if (s->c->is_free) return GPTOSS_OK;
    const gptoss_constraint *c = s->c;
    if (s->phase == PH_HEADER) {
        const header *h = headers(s);
        uint32_t k = 0;
        for (size_t a = 0; a < c->n_headers; a++) {
            if (!s->alive[a]) continue;
            uint32_t t = h[a].ids[s->depth];
            uint32_t j = 0;
            while (j < k && s->cand[j] != t) j++;
            if (j == k) s->cand[k++] = t;
        }
        if (k == 0) return GPTOSS_ERR_INTERNAL; /* a header ends the moment one alternative is complete */
        if (k == 1) {
            *out = (gptoss_constraint_next){GPTOSS_NEXT_FORCED, s->cand[0], NULL};
            return GPTOSS_OK;
        }
        memset(s->bits, 0, c->n_words * sizeof *s->bits);
        for (uint32_t j = 0; j < k; j++) set_bit(s->bits, s->cand[j]);
        *out = (gptoss_constraint_next){GPTOSS_NEXT_MASKED, 0, s->bits};
        return GPTOSS_OK;
    }
    const body_kind k = s->body->kind;
    if (k == B_ANALYSIS && !analysis_allowed(s)) {
        *out = (gptoss_constraint_next){GPTOSS_NEXT_FORCED, GPTOSS_HARMONY_END, NULL};
        return GPTOSS_OK;
    }
    if (!s->in_grammar) {
        out->kind = GPTOSS_NEXT_MASKED;
        out->bits = free_text(c, k);
        return GPTOSS_OK;
    }
    if (gptoss_grammar_state_is_complete(s->gs)) {
        *out = (gptoss_constraint_next){GPTOSS_NEXT_FORCED, terminator(k), NULL};
        return GPTOSS_OK;
    }
    gptoss_status st = gptoss_grammar_state_mask(s->gs, s->bits);
    if (st != GPTOSS_OK) return st;
    uint32_t any = 0;
    for (uint32_t w = 0; w < c->n_words && !any; w++) any = s->bits[w];
    /* an incomplete value no token can continue: only past the grammar's bounds (nesting, threads) */
    if (!any) return GPTOSS_ERR_OUT_OF_RANGE;
    *out = (gptoss_constraint_next){GPTOSS_NEXT_MASKED, 0, s->bits};
    return GPTOSS_OK;
}

static void enter_body(gptoss_constraint_state *s, const header *h) {
    s->phase = PH_BODY;
    s->body = h;
    s->in_grammar = h->grammar != NULL;
    if (s->in_grammar) gram_grammar_state_restart(s->gs, h->grammar);
}

static gptoss_status accept_header(gptoss_constraint_state *s, uint32_t id) {
    const gptoss_constraint *c = s->c;
    const header *h = headers(s);
    int any = 0;
    for (size_t a = 0; a < c->n_headers && !any; a++) any = s->alive[a] && h[a].ids[s->depth] == id;
    if (!any) return GPTOSS_ERR_INVALID_ARGUMENT;
    const header *done = NULL;
    for (size_t a = 0; a < c->n_headers; a++) {
        if (!s->alive[a]) continue;
        s->alive[a] = h[a].ids[s->depth] == id;
        if (s->alive[a] && s->depth + 1 == h[a].n && !done) done = &h[a];
    }
    s->depth++;
    if (done) enter_body(s, done);
    return GPTOSS_OK;
}

static gptoss_status accept_body(gptoss_constraint_state *s, uint32_t id) {
    const gptoss_constraint *c = s->c;
    const body_kind k = s->body->kind;
    const uint32_t term = terminator(k);
    if (k == B_ANALYSIS && !analysis_allowed(s) && id != term) return GPTOSS_ERR_INVALID_ARGUMENT;
    if (s->in_grammar) {
        if (gptoss_grammar_state_is_complete(s->gs)) {
            if (id != term) return GPTOSS_ERR_INVALID_ARGUMENT;
        } else {
            if (!is_text(c, id)) return GPTOSS_ERR_INVALID_ARGUMENT;
            gptoss_status st = gptoss_grammar_state_advance(s->gs, id);
            return st == GPTOSS_OK ? GPTOSS_OK : GPTOSS_ERR_INVALID_ARGUMENT;
        }
    } else if (id >= c->n_vocab || !has_bit(free_text(c, k), id)) {
        return GPTOSS_ERR_INVALID_ARGUMENT;
    }
    if (id != term) {
        if (k == B_ANALYSIS) s->spent++;
        return GPTOSS_OK;
    }
    if (k == B_FINAL || k == B_CALL) {
        s->phase = PH_DONE;
    } else {
        s->later = 1;
        start_header(s);
    }
    return GPTOSS_OK;
}

gptoss_status gptoss_constraint_state_accept(gptoss_constraint_state *s, uint32_t id) {
    if (!s) return GPTOSS_ERR_INVALID_ARGUMENT;
    if (s->phase == PH_DONE) return GPTOSS_ERR_INVALID_ARGUMENT;
    if (s->c->is_free) {
        if (id >= s->c->n_vocab) return GPTOSS_ERR_INVALID_ARGUMENT;
        if (id == GPTOSS_HARMONY_RETURN || id == GPTOSS_HARMONY_CALL) s->phase = PH_DONE;
        return GPTOSS_OK;
    }
    return s->phase == PH_HEADER ? accept_header(s, id) : accept_body(s, id);
}

int gptoss_constraint_state_is_done(const gptoss_constraint_state *s) { return s && s->phase == PH_DONE; }
