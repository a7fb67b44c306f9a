/* constraint_bench.c: the cost of constrained decoding per token. Batches of 1 and of 8 sequences
 * decode with gptoss_batch_decode, unconstrained (sample over the whole vocabulary) and constrained
 * (a JSON-Schema final answer with a reasoning budget of 0, so the grammar is active from the first
 * token after the forced header: masks, masked sampling, forced tokens), in alternating rounds of
 * the same run, each round from the same prompt. Masks of step t+1 depend only on the tokens of step
 * t, which the forward pass of step t+1 also takes, so a gptoss_constraint_worker (one thread)
 * computes every sequence's mask while the forward pass runs and sampling waits for it. Built and run by bench/constraint.sh.
 *
 *   constraint_bench MODEL_DIR TOKENIZER [STEPS [ROUNDS [THREADS]]] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gptoss.h"

enum { MAX_SEQ = 8 };

static const char SCHEMA[] =
    "{\"type\":\"object\",\"properties\":{\"items\":{\"type\":\"array\",\"items\":{\"type\":\"object\","
    "\"properties\":{\"name\":{\"type\":\"string\"},\"qty\":{\"type\":\"integer\",\"minimum\":0},"
    "\"tags\":{\"type\":\"array\",\"items\":{\"enum\":[\"new\",\"used\",\"spare\"]}}},"
    "\"required\":[\"name\",\"qty\"]}},\"note\":{\"type\":\"string\"}},\"required\":[\"items\"]}";

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void die(const char *what, const char *err) {
    fprintf(stderr, "constraint_bench: %s: %s\n", what, err);
    exit(1);
}

typedef struct run {
    gptoss_session *s[MAX_SEQ];
    gptoss_sampler *smp[MAX_SEQ];
    gptoss_constraint_state *cs[MAX_SEQ];
    gptoss_constraint_next next[MAX_SEQ];
    uint32_t tok[MAX_SEQ];
    uint32_t n_vocab;
    double t_sample, t_wait; /* seconds sampling (and accepting); waiting for the masks after the forward pass */
} run;

/* One round: prefill, then `steps` decode steps of n sequences; returns seconds spent decoding.
 * Constrained: a sequence whose answer ends starts a new one (counted in *restarts). */
static double round_of(run *r, size_t n, const gptoss_tokens *prompt, uint32_t steps, gptoss_batch *batch,
                       const gptoss_constraint *c, gptoss_constraint_worker *mk, unsigned *restarts, unsigned *forced) {
    char err[256] = "";
    for (size_t i = 0; i < n; i++) {
        gptoss_session_reset(r->s[i]);
        gptoss_sampler_seed(r->smp[i], 1000 + i);
        if (gptoss_session_append(r->s[i], prompt->ids, prompt->n - 1, NULL, err, sizeof err) != GPTOSS_OK)
            die("prefill", err);
        r->tok[i] = prompt->ids[prompt->n - 1];
        if (c) {
            gptoss_constraint_state_free(r->cs[i]);
            r->cs[i] = NULL;
            if (gptoss_constraint_state_create(c, &r->cs[i]) != GPTOSS_OK) die("constraint state", "out of memory");
        }
    }
    double t0 = now();
    for (uint32_t step = 0; step < steps; step++) {
        /* the masks of this step, while its forward pass runs */
        if (c && gptoss_constraint_worker_start(mk, r->cs, n, r->next, NULL) != GPTOSS_OK) die("mask", "worker busy");
        if (gptoss_batch_decode(batch, r->s, r->tok, n, err, sizeof err) != GPTOSS_OK) die("batch decode", err);
        double tw = now();
        if (c && gptoss_constraint_worker_wait(mk) != GPTOSS_OK) die("mask", "no token can continue");
        double ts = now();
        r->t_wait += ts - tw;
        for (size_t i = 0; i < n; i++) {
            const float *logits = gptoss_session_logits(r->s[i]);
            uint32_t id = 0;
            gptoss_status st = GPTOSS_OK;
            if (!c) st = gptoss_sampler_sample(r->smp[i], logits, r->n_vocab, &id);
            else if (r->next[i].kind == GPTOSS_NEXT_FORCED) {
                id = r->next[i].id;
                ++*forced;
            } else if (r->next[i].kind == GPTOSS_NEXT_MASKED)
                st = gptoss_sampler_sample_masked(r->smp[i], logits, r->n_vocab, r->next[i].bits, &id);
            else
                st = gptoss_sampler_sample(r->smp[i], logits, r->n_vocab, &id);
            if (st != GPTOSS_OK) die("sample", "failed");
            if (c && gptoss_constraint_state_accept(r->cs[i], id) != GPTOSS_OK) die("accept", "refused a sampled token");
            if (c && gptoss_constraint_state_is_done(r->cs[i])) {
                gptoss_constraint_state_free(r->cs[i]);
                r->cs[i] = NULL;
                if (gptoss_constraint_state_create(c, &r->cs[i]) != GPTOSS_OK) die("constraint state", "out of memory");
                ++*restarts;
            }
            r->tok[i] = id;
        }
        r->t_sample += now() - ts;
    }
    return now() - t0;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: constraint_bench MODEL_DIR TOKENIZER [STEPS [ROUNDS [THREADS]]]\n");
        return 2;
    }
    const uint32_t steps = argc > 3 ? (uint32_t)atoi(argv[3]) : 32;
    const int rounds = argc > 4 ? atoi(argv[4]) : 5;
    const uint32_t threads = argc > 5 ? (uint32_t)atoi(argv[5]) : 0;
    char err[512] = "";
    gptoss_tokenizer *tok = NULL;
    gptoss_model *model = NULL;
    gptoss_grammar_vocab *gv = NULL;
    gptoss_grammar *g = NULL;
    gptoss_constraint *c = NULL;
    if (gptoss_tokenizer_load(argv[2], &tok, err, sizeof err) != GPTOSS_OK) die("tokenizer", err);
    gptoss_model_options mo = {.device = GPTOSS_DEVICE_CPU};
    if (gptoss_model_load(argv[1], &mo, &model, err, sizeof err) != GPTOSS_OK) die("model", err);
    double t = now();
    if (gptoss_grammar_vocab_create(tok, &gv, err, sizeof err) != GPTOSS_OK) die("grammar vocab", err);
    double t_vocab = now() - t;
    t = now();
    if (gptoss_grammar_compile_json_schema(gv, SCHEMA, sizeof SCHEMA - 1, NULL, &g, err, sizeof err) != GPTOSS_OK)
        die("schema", err);
    double t_compile = now() - t;
    gptoss_constraint_options co = {.final_grammar = g, .limit_reasoning = 1, .max_reasoning_tokens = 0};
    if (gptoss_constraint_create(tok, &co, &c, err, sizeof err) != GPTOSS_OK) die("constraint", err);

    const char *prompt_text = "<|start|>user<|message|>List the parts you need, as JSON.<|end|><|start|>assistant";
    gptoss_tokens prompt = {0};
    if (gptoss_tokenizer_encode(tok, prompt_text, strlen(prompt_text), GPTOSS_TOKENIZER_SPECIAL_ALLOW, &prompt) !=
        GPTOSS_OK)
        die("prompt", "encode failed");
    const uint32_t n_ctx = (uint32_t)prompt.n + steps + 8;
    run ru = {0}, rc = {0};
    ru.n_vocab = rc.n_vocab = gptoss_model_get_config(model)->vocab_size;
    for (size_t i = 0; i < MAX_SEQ; i++) {
        gptoss_session_options so = {.n_ctx = n_ctx, .n_threads = threads, .device = GPTOSS_DEVICE_CPU};
        gptoss_sampler_options sa = {.temperature = 1.0f, .seed = 1000 + i};
        if (gptoss_session_create(model, &so, &ru.s[i], err, sizeof err) != GPTOSS_OK ||
            gptoss_session_create(model, &so, &rc.s[i], err, sizeof err) != GPTOSS_OK ||
            gptoss_sampler_create(ru.n_vocab, &sa, &ru.smp[i], err, sizeof err) != GPTOSS_OK ||
            gptoss_sampler_create(rc.n_vocab, &sa, &rc.smp[i], err, sizeof err) != GPTOSS_OK)
            die("session", err);
    }
    gptoss_batch *batch = NULL;
    if (gptoss_batch_create(model, MAX_SEQ, n_ctx, &batch, err, sizeof err) != GPTOSS_OK) die("batch", err);
    gptoss_constraint_worker *mk = NULL;
    if (gptoss_constraint_worker_create(NULL, &mk, err, sizeof err) != GPTOSS_OK) die("mask worker", err);

    printf("constraint bench: %s, %u layers, vocab %u; grammar vocab %.0f ms, schema compile %.2f ms; %u decode "
           "steps per round, %d rounds (unconstrained and constrained alternate), threads %s\n",
           argv[1], gptoss_model_get_config(model)->n_layers, ru.n_vocab, t_vocab * 1e3, t_compile * 1e3, steps,
           rounds, threads ? argv[5] : "all");
    const size_t sizes[] = {1, MAX_SEQ};
    for (size_t k = 0; k < 2; k++) {
        size_t n = sizes[k];
        double *tu = calloc((size_t)rounds, sizeof *tu), *tc = calloc((size_t)rounds, sizeof *tc);
        unsigned restarts = 0, forced = 0, dummy_r = 0, dummy_f = 0;
        /* one warm-up round of each: page faults, the grammar's mask cache filling */
        round_of(&ru, n, &prompt, steps, batch, NULL, mk, &dummy_r, &dummy_f);
        round_of(&rc, n, &prompt, steps, batch, c, mk, &dummy_r, &dummy_f);
        ru.t_sample = rc.t_sample = rc.t_wait = 0;
        const double busy0 = gptoss_constraint_worker_busy_seconds(mk);
        for (int r = 0; r < rounds; r++) {
            tu[r] = round_of(&ru, n, &prompt, steps, batch, NULL, mk, &dummy_r, &dummy_f) / (steps * (double)n);
            tc[r] = round_of(&rc, n, &prompt, steps, batch, c, mk, &restarts, &forced) / (steps * (double)n);
        }
        qsort(tu, (size_t)rounds, sizeof *tu, cmp_double);
        qsort(tc, (size_t)rounds, sizeof *tc, cmp_double);
        double mu = tu[rounds / 2], mc = tc[rounds / 2];
        printf("batch %zu: ms per token: unconstrained median %.3f (min %.3f), constrained median %.3f (min %.3f): "
               "%+.2f%% (min vs min %+.2f%%); %u forced tokens, %u answers completed\n",
               n, mu * 1e3, tu[0] * 1e3, mc * 1e3, tc[0] * 1e3, (mc / mu - 1) * 100, (tc[0] / tu[0] - 1) * 100, forced,
               restarts);
        const double per = 1e6 / (rounds * (double)steps * (double)n);
        printf("batch %zu: us per token: masks %.1f (on the worker, during the forward pass), waiting for them %.1f; "
               "sampling unconstrained %.1f, constrained %.1f (forced tokens are not sampled)\n",
               n, (gptoss_constraint_worker_busy_seconds(mk) - busy0) * per, rc.t_wait * per, ru.t_sample * per, rc.t_sample * per);
        free(tu);
        free(tc);
    }
    gptoss_constraint_worker_free(mk);
    for (size_t i = 0; i < MAX_SEQ; i++) {
        gptoss_session_free(ru.s[i]);
        gptoss_session_free(rc.s[i]);
        gptoss_sampler_free(ru.smp[i]);
        gptoss_sampler_free(rc.smp[i]);
        gptoss_constraint_state_free(rc.cs[i]);
    }
    gptoss_batch_free(batch);
    gptoss_tokens_free(&prompt);
    gptoss_constraint_free(c);
    gptoss_grammar_free(g);
    gptoss_grammar_vocab_free(gv);
    gptoss_model_free(model);
    gptoss_tokenizer_free(tok);
    return 0;
}
