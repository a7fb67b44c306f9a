/* server_force.c: tool_choice enforced on token ids. A request's rules (server_force) are a set of
 * allowed message headers, each the tokenizer's encoding of its text, and what may be sampled inside
 * the message each header opens. A sequence's state (server_force_state) walks them between
 * sampling steps: at a header, the tokens of the alternatives still matching are the only ones
 * allowed, and when they all agree the token is forced without sampling; inside a message a few
 * stop tokens are masked. The scheduler applies it per sequence (server_sched.c), so it works with
 * continuous batching and with streaming: the forced tokens go through the harmony parser like any
 * sampled token. */
#ifdef GPTOSS_HAVE_SERVER
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "server/server.h"

typedef enum alt_kind { ALT_ANALYSIS, ALT_FINAL, ALT_CALL } alt_kind;

typedef struct alt {
    uint32_t *ids;
    size_t n;
    alt_kind kind;
} alt;

struct server_force {
    alt *first, *later; /* headers of the first message; of every later one (<|start|>assistant...) */
    size_t n_first, n_later, max_alts;
};

enum { PH_HEADER, PH_BODY, PH_FREE };

static const uint32_t ban_analysis[] = {GPTOSS_HARMONY_RETURN, GPTOSS_HARMONY_CALL};
static const uint32_t ban_call[] = {GPTOSS_HARMONY_CALL};

/* ---- masks ------------------------------------------------------------------------------------ */

int server_mask_allows(const server_mask *m, uint32_t id) {
    if (!m || m->kind == SERVER_MASK_ANY) return 1;
    int listed = 0;
    for (size_t i = 0; i < m->n && !listed; i++) listed = m->ids[i] == id;
    return m->kind == SERVER_MASK_ONLY ? listed : !listed;
}

gptoss_status server_sample_masked(gptoss_sampler *sampler, const float *logits, uint32_t n, const server_mask *m,
                                   float *scratch, uint32_t *out) {
    if (!m || m->kind == SERVER_MASK_ANY) return gptoss_sampler_sample(sampler, logits, n, out);
    gptoss_status st;
    if (m->kind == SERVER_MASK_ONLY) {
        uint32_t k = 0;
        for (size_t i = 0; i < m->n; i++)
            if (m->ids[i] < n) scratch[k++] = logits[m->ids[i]];
        if (!k) return GPTOSS_ERR_INVALID_ARGUMENT;
        uint32_t pick;
        if ((st = gptoss_sampler_sample(sampler, scratch, k, &pick)) != GPTOSS_OK) return st;
        /* scratch[j] belongs to the j-th id below n */
        for (size_t i = 0; i < m->n; i++)
            if (m->ids[i] < n && pick-- == 0) {
                *out = m->ids[i];
                return GPTOSS_OK;
            }
        return GPTOSS_ERR_INTERNAL;
    }
    memcpy(scratch, logits, (size_t)n * sizeof *scratch);
    for (size_t i = 0; i < m->n; i++)
        if (m->ids[i] < n) scratch[m->ids[i]] = -INFINITY;
    if ((st = gptoss_sampler_sample(sampler, scratch, n, out)) != GPTOSS_OK) return st;
    if (server_mask_allows(m, *out)) return GPTOSS_OK;
    uint32_t best = UINT32_MAX;
    for (uint32_t i = 0; i < n; i++)
        if (scratch[i] > -INFINITY && (best == UINT32_MAX || scratch[i] > scratch[best])) best = i;
    if (best == UINT32_MAX) return GPTOSS_ERR_OUT_OF_RANGE;
    *out = best;
    return GPTOSS_OK;
}

/* ---- rules ------------------------------------------------------------------------------------ */

void server_force_free(server_force *f) {
    if (!f) return;
    for (size_t i = 0; i < f->n_first; i++) free(f->first[i].ids);
    for (size_t i = 0; i < f->n_later; i++) free(f->later[i].ids);
    free(f->first);
    free(f->later);
    free(f);
}

/* Appends one header: [<|start|>assistant] <|channel|>CHANNEL_TEXT [<|constrain|>json] <|message|>,
 * the text parts encoded as the model writes them (special tokens split the text). */
static int add_header(const gptoss_tokenizer *tok, alt *list, size_t *n, int later, const char *channel_text,
                      int constrain_json, alt_kind kind) {
    gptoss_tokens t = {0};
    int ok = 1;
    if (later) {
        ok = gptoss_tokens_push(&t, GPTOSS_HARMONY_START) == GPTOSS_OK &&
             gptoss_tokenizer_encode(tok, "assistant", 9, GPTOSS_TOKENIZER_SPECIAL_AS_TEXT, &t) == GPTOSS_OK;
    }
    ok = ok && gptoss_tokens_push(&t, GPTOSS_HARMONY_CHANNEL) == GPTOSS_OK &&
         gptoss_tokenizer_encode(tok, channel_text, strlen(channel_text), GPTOSS_TOKENIZER_SPECIAL_AS_TEXT, &t) ==
             GPTOSS_OK;
    if (ok && constrain_json)
        ok = gptoss_tokens_push(&t, GPTOSS_HARMONY_CONSTRAIN) == GPTOSS_OK &&
             gptoss_tokenizer_encode(tok, "json", 4, GPTOSS_TOKENIZER_SPECIAL_AS_TEXT, &t) == GPTOSS_OK;
    ok = ok && gptoss_tokens_push(&t, GPTOSS_HARMONY_MESSAGE) == GPTOSS_OK;
    if (!ok) {
        gptoss_tokens_free(&t);
        return -1;
    }
    list[(*n)++] = (alt){t.ids, t.n, kind};
    return 0;
}

static server_force *force_new(size_t max_alts) {
    server_force *f = calloc(1, sizeof *f);
    if (!f) return NULL;
    f->max_alts = max_alts;
    f->first = calloc(max_alts, sizeof *f->first);
    f->later = calloc(max_alts, sizeof *f->later);
    if (!f->first || !f->later) {
        server_force_free(f);
        return NULL;
    }
    return f;
}

server_force *server_force_calls(const gptoss_tokenizer *tok, const char *const *names, size_t n_names,
                                 int allow_analysis) {
    if (!n_names) return NULL;
    server_force *f = force_new(n_names + 1);
    if (!f) return NULL;
    gptoss_buf text = {0};
    int rc = allow_analysis ? add_header(tok, f->first, &f->n_first, 0, "analysis", 0, ALT_ANALYSIS) : 0;
    for (size_t i = 0; i < n_names && rc == 0; i++) {
        text.len = 0;
        gptoss_buf_printf(&text, "commentary to=functions.%s ", names[i]);
        if (!gptoss_buf_cstr(&text)) rc = -1;
        else
            rc = add_header(tok, f->first, &f->n_first, 0, text.data, 1, ALT_CALL) < 0 ||
                         add_header(tok, f->later, &f->n_later, 1, text.data, 1, ALT_CALL) < 0
                     ? -1
                     : 0;
    }
    gptoss_buf_free(&text);
    if (rc != 0) {
        server_force_free(f);
        return NULL;
    }
    return f;
}

server_force *server_force_no_calls(const gptoss_tokenizer *tok) {
    server_force *f = force_new(2);
    if (!f) return NULL;
    if (add_header(tok, f->first, &f->n_first, 0, "analysis", 0, ALT_ANALYSIS) < 0 ||
        add_header(tok, f->first, &f->n_first, 0, "final", 0, ALT_FINAL) < 0 ||
        add_header(tok, f->later, &f->n_later, 1, "analysis", 0, ALT_ANALYSIS) < 0 ||
        add_header(tok, f->later, &f->n_later, 1, "final", 0, ALT_FINAL) < 0) {
        server_force_free(f);
        return NULL;
    }
    return f;
}

/* ---- one sequence ------------------------------------------------------------------------------ */

static void start_header(server_force_state *st) {
    st->phase = PH_HEADER;
    st->depth = 0;
    memset(st->alive, 1, st->f->max_alts);
}

int server_force_state_init(server_force_state *st, const server_force *f) {
    memset(st, 0, sizeof *st);
    if (!f) return 0;
    st->f = f;
    st->alive = malloc(f->max_alts);
    st->next = malloc(f->max_alts * sizeof *st->next);
    if (!st->alive || !st->next) {
        server_force_state_free(st);
        return -1;
    }
    start_header(st);
    return 0;
}

void server_force_state_free(server_force_state *st) {
    free(st->alive);
    free(st->next);
    memset(st, 0, sizeof *st);
}

int server_force_next(server_force_state *st, uint32_t *id, server_mask *mask) {
    *mask = (server_mask){SERVER_MASK_ANY, NULL, 0};
    if (!st->f || st->phase == PH_FREE) return 0;
    if (st->phase == PH_BODY) {
        *mask = st->ban;
        return 0;
    }
    const alt *alts = st->later ? st->f->later : st->f->first;
    size_t n_alts = st->later ? st->f->n_later : st->f->n_first, k = 0;
    for (size_t a = 0; a < n_alts; a++) {
        if (!st->alive[a] || st->depth >= alts[a].n) continue;
        uint32_t t = alts[a].ids[st->depth];
        size_t j = 0;
        while (j < k && st->next[j] != t) j++;
        if (j == k) st->next[k++] = t;
    }
    if (k == 1) {
        *id = st->next[0];
        return 1;
    }
    if (k == 0) { /* cannot happen: a header ends the moment one alternative is complete */
        st->phase = PH_FREE;
        return 0;
    }
    *mask = (server_mask){SERVER_MASK_ONLY, st->next, k};
    return 0;
}

void server_force_accept(server_force_state *st, uint32_t id) {
    if (!st->f || st->phase == PH_FREE) return;
    if (st->phase == PH_BODY) {
        if (id == GPTOSS_HARMONY_END) {
            st->later = 1;
            start_header(st);
        } else if (id == GPTOSS_HARMONY_RETURN || id == GPTOSS_HARMONY_CALL) st->phase = PH_FREE;
        return;
    }
    const alt *alts = st->later ? st->f->later : st->f->first;
    size_t n_alts = st->later ? st->f->n_later : st->f->n_first;
    const alt *done = NULL;
    int any = 0;
    for (size_t a = 0; a < n_alts; a++) {
        st->alive[a] = st->alive[a] && st->depth < alts[a].n && alts[a].ids[st->depth] == id;
        if (!st->alive[a]) continue;
        any = 1;
        if (st->depth + 1 == alts[a].n && !done) done = &alts[a];
    }
    st->depth++;
    if (!any) {
        st->phase = PH_FREE; /* off the rules (the scheduler refuses such a token before this) */
        return;
    }
    if (!done) return;
    if (done->kind == ALT_CALL) {
        st->phase = PH_FREE; /* the arguments; the call's end ends the generation */
        return;
    }
    st->phase = PH_BODY;
    if (done->kind == ALT_ANALYSIS) st->ban = (server_mask){SERVER_MASK_EXCEPT, ban_analysis, 2};
    else st->ban = (server_mask){SERVER_MASK_EXCEPT, ban_call, 1};
}

#else
typedef int server_force_unused;
#endif
