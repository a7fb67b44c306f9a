/* test_constraint.c: constrained generation (gptoss_constraint_*, src/grammar/constraint.c) driven by
 * forced token streams on the real tokenizer (GPTOSS_SHARED/vocab/tokenizer.json; skipped when
 * absent): which headers each option set allows, tool_choice, grammar bodies and their terminators,
 * the reasoning budget, refused tokens changing nothing, and random walks over the allowed tokens
 * that must give a harmony turn whose JSON validates. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gptoss.h"
#include "tap.h"

static gptoss_tokenizer *tok;
static gptoss_grammar_vocab *vocab;
static uint32_t n_words;

/* ---- helpers -------------------------------------------------------------------------------- */

typedef struct ids {
    uint32_t v[512];
    size_t n;
} ids;

static void push(ids *s, uint32_t id) {
    if (s->n < sizeof s->v / sizeof s->v[0]) s->v[s->n++] = id;
}

static void push_text(ids *s, const char *text) {
    gptoss_tokens t = {0};
    gptoss_tokenizer_encode(tok, text, strlen(text), GPTOSS_TOKENIZER_SPECIAL_AS_TEXT, &t);
    for (size_t i = 0; i < t.n; i++) push(s, t.ids[i]);
    gptoss_tokens_free(&t);
}

static uint32_t one_token(const char *text) {
    ids s = {.n = 0};
    push_text(&s, text);
    return s.n == 1 ? s.v[0] : UINT32_MAX;
}

static uint32_t first_token(const char *text) {
    ids s = {.n = 0};
    push_text(&s, text);
    return s.n ? s.v[0] : UINT32_MAX;
}

/* A header as the model writes it: [<|start|>assistant]<|channel|>TEXT[<|constrain|>json]<|message|>. */
static void push_header(ids *s, int later, const char *channel_text, int json) {
    if (later) {
        push(s, GPTOSS_HARMONY_START);
        push_text(s, "assistant");
    }
    push(s, GPTOSS_HARMONY_CHANNEL);
    push_text(s, channel_text);
    if (json) {
        push(s, GPTOSS_HARMONY_CONSTRAIN);
        push_text(s, "json");
    }
    push(s, GPTOSS_HARMONY_MESSAGE);
}

static int allows(const gptoss_constraint_next *n, uint32_t id) {
    if (n->kind == GPTOSS_NEXT_ANY) return 1;
    if (n->kind == GPTOSS_NEXT_FORCED) return n->id == id;
    return n->bits[id / 32] >> (id % 32) & 1u;
}

static uint32_t n_allowed(const gptoss_constraint_next *n) {
    if (n->kind == GPTOSS_NEXT_FORCED) return 1;
    if (n->kind == GPTOSS_NEXT_ANY) return UINT32_MAX;
    uint32_t k = 0;
    for (uint32_t w = 0; w < n_words; w++) k += (uint32_t)__builtin_popcount(n->bits[w]);
    return k;
}

/* Feeds ids[0..n) checking each against next first; returns how many went in (n: all). */
static size_t drive(gptoss_constraint_state *s, const uint32_t *v, size_t n) {
    for (size_t i = 0; i < n; i++) {
        gptoss_constraint_next nx;
        if (gptoss_constraint_state_next(s, &nx) != GPTOSS_OK || !allows(&nx, v[i]) ||
            gptoss_constraint_state_accept(s, v[i]) != GPTOSS_OK)
            return i;
    }
    return n;
}

/* Whether every id of v[0..n) comes FORCED (the caller feeds them). */
static int all_forced(gptoss_constraint_state *s, const uint32_t *v, size_t n) {
    for (size_t i = 0; i < n; i++) {
        gptoss_constraint_next nx;
        if (gptoss_constraint_state_next(s, &nx) != GPTOSS_OK || nx.kind != GPTOSS_NEXT_FORCED || nx.id != v[i] ||
            gptoss_constraint_state_accept(s, v[i]) != GPTOSS_OK)
            return 0;
    }
    return 1;
}

static gptoss_grammar *compile(const char *schema) {
    gptoss_grammar *g = NULL;
    char err[256] = "";
    if (gptoss_grammar_compile_json_schema(vocab, schema, strlen(schema), NULL, &g, err, sizeof err) != GPTOSS_OK)
        tap_diag("schema %s: %s", schema, err);
    return g;
}

static gptoss_constraint *make(const gptoss_constraint_options *o) {
    gptoss_constraint *c = NULL;
    char err[256] = "";
    if (gptoss_constraint_create(tok, o, &c, err, sizeof err) != GPTOSS_OK) tap_diag("constraint: %s", err);
    return c;
}

static gptoss_constraint_state *state(const gptoss_constraint *c) {
    gptoss_constraint_state *s = NULL;
    return c && gptoss_constraint_state_create(c, &s) == GPTOSS_OK ? s : NULL;
}

/* next's answer as a copy (bits copied), to compare before and after a refused accept. */
typedef struct snap {
    gptoss_constraint_next n;
    uint32_t *bits;
    gptoss_status st;
} snap;

static snap take(gptoss_constraint_state *s) {
    snap x = {0};
    x.st = gptoss_constraint_state_next(s, &x.n);
    if (x.n.kind == GPTOSS_NEXT_MASKED) {
        x.bits = malloc(n_words * sizeof *x.bits);
        memcpy(x.bits, x.n.bits, n_words * sizeof *x.bits);
    }
    return x;
}

static int same(const snap *a, const snap *b) {
    int eq = a->st == b->st && a->n.kind == b->n.kind && a->n.id == b->n.id;
    if (eq && a->n.kind == GPTOSS_NEXT_MASKED) eq = !memcmp(a->bits, b->bits, n_words * sizeof *a->bits);
    return eq;
}

/* Tries each id; all must be refused with INVALID_ARGUMENT and leave next's answer as it was. */
static int refuses(gptoss_constraint_state *s, const uint32_t *v, size_t n) {
    snap before = take(s);
    int ok = 1;
    for (size_t i = 0; i < n; i++) {
        ok &= gptoss_constraint_state_accept(s, v[i]) == GPTOSS_ERR_INVALID_ARGUMENT;
        snap after = take(s);
        ok &= same(&before, &after);
        free(after.bits);
    }
    free(before.bits);
    return ok;
}

static const char *const SCHEMA_CITY =
    "{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"},\"days\":{\"type\":\"integer\"}},"
    "\"required\":[\"city\"],\"additionalProperties\":false}";
static const char *const SCHEMA_ANSWER =
    "{\"type\":\"object\",\"properties\":{\"answer\":{\"enum\":[\"yes\",\"no\"]},\"why\":{\"type\":\"string\","
    "\"maxLength\":12}},\"required\":[\"answer\",\"why\"],\"additionalProperties\":false}";

/* ---- checks --------------------------------------------------------------------------------- */

static void test_create_and_free(void) {
    gptoss_constraint *c = (gptoss_constraint *)1;
    tap_check(gptoss_constraint_create(tok, NULL, &c, NULL, 0) == GPTOSS_OK && c && gptoss_constraint_is_free(c),
              "constraint: NULL options make a free constraint");
    gptoss_constraint_state *s = state(c);
    gptoss_constraint_next nx = {GPTOSS_NEXT_FORCED, 7, NULL};
    int any = s && gptoss_constraint_state_next(s, &nx) == GPTOSS_OK && nx.kind == GPTOSS_NEXT_ANY &&
              gptoss_constraint_state_accept(s, GPTOSS_HARMONY_CONSTRAIN) == GPTOSS_OK &&
              gptoss_constraint_state_accept(s, 12345) == GPTOSS_OK && !gptoss_constraint_state_is_done(s) &&
              gptoss_constraint_state_accept(s, GPTOSS_HARMONY_RETURN) == GPTOSS_OK &&
              gptoss_constraint_state_is_done(s);
    tap_check(any, "constraint: a free state answers ANY, takes any token and is done at <|return|>");
    gptoss_constraint_state_free(s);
    gptoss_constraint_free(c);
    gptoss_constraint_options zero = {0};
    c = make(&zero);
    tap_check(c && gptoss_constraint_is_free(c), "constraint: zero options are free");
    gptoss_constraint_free(c);
    gptoss_constraint_options none = {.tool_choice = GPTOSS_TOOL_CHOICE_NONE};
    gptoss_constraint_options budget = {.limit_reasoning = 1, .max_reasoning_tokens = 100};
    gptoss_constraint *c1 = make(&none), *c2 = make(&budget);
    tap_check(c1 && c2 && !gptoss_constraint_is_free(c1) && !gptoss_constraint_is_free(c2),
              "constraint: tool_choice none, or a budget, is not free");
    gptoss_constraint_free(c1);
    gptoss_constraint_free(c2);

    gptoss_constraint_options req = {.tool_choice = GPTOSS_TOOL_CHOICE_REQUIRED};
    c = (gptoss_constraint *)1;
    char err[256] = "";
    tap_check(gptoss_constraint_create(tok, &req, &c, err, sizeof err) == GPTOSS_ERR_INVALID_ARGUMENT && !c && *err,
              "constraint: tool_choice required without functions is refused (%s)", err);
    gptoss_constraint_function nameless = {NULL, NULL};
    gptoss_constraint_options o = {.functions = &nameless, .n_functions = 1};
    c = (gptoss_constraint *)1;
    tap_check(gptoss_constraint_create(tok, &o, &c, err, sizeof err) == GPTOSS_ERR_INVALID_ARGUMENT && !c,
              "constraint: a function without a name is refused (%s)", err);
    gptoss_grammar *bytes_only = NULL;
    gptoss_grammar_compile_json_schema(NULL, "{}", 2, NULL, &bytes_only, NULL, 0);
    gptoss_constraint_options fg = {.final_grammar = bytes_only};
    c = (gptoss_constraint *)1;
    tap_check(bytes_only && gptoss_constraint_create(tok, &fg, &c, err, sizeof err) == GPTOSS_ERR_INVALID_ARGUMENT && !c,
              "constraint: a grammar compiled without a vocabulary is refused (%s)", err);
    gptoss_grammar_free(bytes_only);
    gptoss_constraint_free(NULL);
    gptoss_constraint_state_free(NULL);
    tap_check(1, "constraint: free functions accept NULL");
}

/* The first message's headers: which channel words may follow <|channel|>. */
static void test_headers(void) {
    const uint32_t t_analysis = one_token("analysis"), t_final = one_token("final"),
                   t_commentary = first_token("commentary");
    if (!tap_check(t_analysis != UINT32_MAX && t_final != UINT32_MAX && t_commentary != UINT32_MAX,
                   "constraint: analysis and final are one token each"))
        return;
    gptoss_grammar *g = compile(SCHEMA_ANSWER);
    gptoss_constraint_function f1[] = {{"get_weather", NULL}};
    gptoss_constraint_function f3[] = {{"get_weather", NULL}, {"get_time", NULL}, {"lookup", NULL}};
    struct {
        const char *name;
        gptoss_constraint_options o;
        int analysis, final, commentary;
    } cases[] = {
        {"final grammar", {.final_grammar = g}, 1, 1, 0},
        {"tool_choice none, 1 function", {.functions = f1, .n_functions = 1, .tool_choice = GPTOSS_TOOL_CHOICE_NONE}, 1, 1, 0},
        {"tool_choice none, 3 functions", {.functions = f3, .n_functions = 3, .tool_choice = GPTOSS_TOOL_CHOICE_NONE}, 1, 1, 0},
        {"tool_choice required, 1 function", {.functions = f1, .n_functions = 1, .tool_choice = GPTOSS_TOOL_CHOICE_REQUIRED}, 1, 0, 1},
        {"tool_choice required, 3 functions", {.functions = f3, .n_functions = 3, .tool_choice = GPTOSS_TOOL_CHOICE_REQUIRED}, 1, 0, 1},
        {"tool_choice auto, 1 function", {.functions = f1, .n_functions = 1}, 1, 1, 1},
        {"tool_choice auto, 3 functions", {.functions = f3, .n_functions = 3}, 1, 1, 1},
        {"budget 0, final grammar", {.final_grammar = g, .limit_reasoning = 1}, 0, 1, 0},
        {"budget 0, tool_choice required", {.functions = f3, .n_functions = 3, .tool_choice = GPTOSS_TOOL_CHOICE_REQUIRED, .limit_reasoning = 1}, 0, 0, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        gptoss_constraint *c = make(&cases[i].o);
        gptoss_constraint_state *s = state(c);
        gptoss_constraint_next nx;
        int ok = s && gptoss_constraint_state_next(s, &nx) == GPTOSS_OK && nx.kind == GPTOSS_NEXT_FORCED &&
                 nx.id == GPTOSS_HARMONY_CHANNEL && gptoss_constraint_state_accept(s, GPTOSS_HARMONY_CHANNEL) == GPTOSS_OK;
        ok = ok && gptoss_constraint_state_next(s, &nx) == GPTOSS_OK;
        int want = cases[i].analysis + cases[i].final + cases[i].commentary;
        ok = ok && allows(&nx, t_analysis) == cases[i].analysis && allows(&nx, t_final) == cases[i].final &&
             allows(&nx, t_commentary) == cases[i].commentary && n_allowed(&nx) == (uint32_t)want &&
             (nx.kind == GPTOSS_NEXT_FORCED) == (want == 1);
        uint32_t off[3], n_off = 0;
        if (!cases[i].analysis) off[n_off++] = t_analysis;
        if (!cases[i].final) off[n_off++] = t_final;
        if (!cases[i].commentary) off[n_off++] = t_commentary;
        ok = ok && refuses(s, off, n_off);
        tap_check(ok, "constraint: %s: after <|channel|> analysis %s, final %s, commentary %s (%s)", cases[i].name,
                  cases[i].analysis ? "allowed" : "refused", cases[i].final ? "allowed" : "refused",
                  cases[i].commentary ? "allowed" : "refused", want == 1 ? "forced" : "masked");
        gptoss_constraint_state_free(s);
        gptoss_constraint_free(c);
    }

    /* tool_choice auto with functions: after "commentary", a preamble (<|message|>) or a call */
    gptoss_constraint_options o = {.functions = f3, .n_functions = 3};
    gptoss_constraint *c = make(&o);
    gptoss_constraint_state *s = state(c);
    ids h = {.n = 0};
    push(&h, GPTOSS_HARMONY_CHANNEL);
    push_text(&h, "commentary");
    gptoss_constraint_next nx;
    int ok = s && drive(s, h.v, h.n) == h.n && gptoss_constraint_state_next(s, &nx) == GPTOSS_OK &&
             nx.kind == GPTOSS_NEXT_MASKED && allows(&nx, GPTOSS_HARMONY_MESSAGE) && n_allowed(&nx) == 2;
    tap_check(ok, "constraint: tool_choice auto: after commentary, <|message|> (a preamble) or a call's recipient");
    /* the preamble: text until <|end|>, then a later message */
    ids pre = {.n = 0};
    push(&pre, GPTOSS_HARMONY_MESSAGE);
    push_text(&pre, "Let me check.");
    uint32_t bad[] = {GPTOSS_HARMONY_RETURN, GPTOSS_HARMONY_CALL, GPTOSS_HARMONY_CHANNEL, GPTOSS_HARMONY_START};
    ok = drive(s, pre.v, pre.n) == pre.n && refuses(s, bad, 4);
    uint32_t end = GPTOSS_HARMONY_END;
    ok = ok && drive(s, &end, 1) == 1;
    ids later = {.n = 0};
    push(&later, GPTOSS_HARMONY_START);
    push_text(&later, "assistant");
    push(&later, GPTOSS_HARMONY_CHANNEL);
    ok = ok && all_forced(s, later.v, later.n);
    ok = ok && gptoss_constraint_state_next(s, &nx) == GPTOSS_OK && n_allowed(&nx) == 3;
    tap_check(ok, "constraint: a preamble ends with <|end|> only; the next header starts <|start|>assistant<|channel|>, forced");
    /* three functions: the names are the alternatives */
    gptoss_constraint_state_free(s);
    s = state(c);
    ids call = {.n = 0};
    push_header(&call, 0, "commentary to=functions.get_time ", 1);
    size_t masked = 0, forced = 0;
    ok = 1;
    for (size_t i = 0; i < call.n && ok; i++) {
        ok = gptoss_constraint_state_next(s, &nx) == GPTOSS_OK && allows(&nx, call.v[i]);
        if (nx.kind == GPTOSS_NEXT_FORCED) forced++;
        else masked++;
        ok = ok && gptoss_constraint_state_accept(s, call.v[i]) == GPTOSS_OK;
    }
    tap_check(ok && masked >= 3 && forced >= 3,
              "constraint: tool_choice auto, 3 functions: a call header goes in (%zu tokens masked, %zu forced)", masked,
              forced);
    /* a non-strict function's arguments: free text, then <|call|> ends the turn */
    ids args = {.n = 0};
    push_text(&args, "{\"tz\": \"UTC\"}");
    uint32_t bad2[] = {GPTOSS_HARMONY_RETURN, GPTOSS_HARMONY_END};
    ok = drive(s, args.v, args.n) == args.n && refuses(s, bad2, 2);
    uint32_t callid = GPTOSS_HARMONY_CALL;
    ok = ok && drive(s, &callid, 1) == 1 && gptoss_constraint_state_is_done(s) &&
         gptoss_constraint_state_accept(s, 100) == GPTOSS_ERR_INVALID_ARGUMENT &&
         gptoss_constraint_state_next(s, &nx) == GPTOSS_ERR_INVALID_ARGUMENT;
    tap_check(ok, "constraint: free arguments refuse <|return|> and <|end|>; <|call|> ends the turn, after which nothing is taken");
    gptoss_constraint_state_free(s);
    gptoss_constraint_free(c);

    /* required with one function: after "commentary" the whole header is forced */
    o = (gptoss_constraint_options){.functions = f1, .n_functions = 1, .tool_choice = GPTOSS_TOOL_CHOICE_REQUIRED};
    c = make(&o);
    s = state(c);
    call.n = 0;
    push_header(&call, 0, "commentary to=functions.get_weather ", 1);
    ok = s && drive(s, call.v, 2) == 2 && all_forced(s, call.v + 2, call.n - 2);
    tap_check(ok, "constraint: tool_choice required, 1 function: past <|channel|>commentary the call header is forced (%zu tokens)",
              call.n - 2);
    gptoss_constraint_state_free(s);
    gptoss_constraint_free(c);
    gptoss_grammar_free(g);
}

/* Grammar bodies: a strict function's arguments, a final answer. */
static void test_grammar_bodies(void) {
    gptoss_grammar *args = compile(SCHEMA_CITY), *fin = compile(SCHEMA_ANSWER);
    if (!tap_check(args && fin, "constraint: the test schemas compile")) return;
    gptoss_constraint_function f[] = {{"get_weather", args}, {"get_time", NULL}};
    gptoss_constraint_options o = {.functions = f, .n_functions = 2, .tool_choice = GPTOSS_TOOL_CHOICE_REQUIRED};
    gptoss_constraint *c = make(&o);
    gptoss_constraint_state *s = state(c);
    ids h = {.n = 0};
    push_header(&h, 0, "commentary to=functions.get_weather ", 1);
    int ok = s && drive(s, h.v, h.n) == h.n;
    gptoss_constraint_next nx;
    ok = ok && gptoss_constraint_state_next(s, &nx) == GPTOSS_OK && nx.kind == GPTOSS_NEXT_MASKED &&
         allows(&nx, one_token("{")) && !allows(&nx, one_token("[")) && !allows(&nx, GPTOSS_HARMONY_CALL);
    uint32_t bad[] = {one_token("["), one_token("hello"), GPTOSS_HARMONY_CALL, GPTOSS_HARMONY_END};
    ok = ok && refuses(s, bad, 4);
    ids body = {.n = 0};
    push_text(&body, "{\"city\": \"Paris\", \"days\": 3}");
    ok = ok && drive(s, body.v, body.n) == body.n;
    ok = ok && gptoss_constraint_state_next(s, &nx) == GPTOSS_OK && nx.kind == GPTOSS_NEXT_FORCED &&
         nx.id == GPTOSS_HARMONY_CALL;
    uint32_t after[] = {one_token(" "), one_token("}"), GPTOSS_HARMONY_RETURN, GPTOSS_HARMONY_END};
    ok = ok && refuses(s, after, 4);
    uint32_t callid = GPTOSS_HARMONY_CALL;
    ok = ok && drive(s, &callid, 1) == 1 && gptoss_constraint_state_is_done(s);
    tap_check(ok, "constraint: a strict function's arguments follow its grammar, then only <|call|> (forced)");
    gptoss_constraint_state_free(s);

    s = state(c);
    h.n = 0;
    push_header(&h, 0, "commentary to=functions.get_weather ", 1);
    body.n = 0;
    push_text(&body, "{\"days\": 3}");
    ok = s && drive(s, h.v, h.n) == h.n && drive(s, body.v, body.n) < body.n;
    tap_check(ok, "constraint: arguments without the required property are refused before they end");
    gptoss_constraint_state_free(s);
    gptoss_constraint_free(c);

    o = (gptoss_constraint_options){.final_grammar = fin};
    c = make(&o);
    s = state(c);
    ids t = {.n = 0};
    push_header(&t, 0, "analysis", 0);
    push_text(&t, "The user wants yes or no.");
    push(&t, GPTOSS_HARMONY_END);
    push_header(&t, 1, "final", 0);
    ok = s && drive(s, t.v, t.n) == t.n;
    uint32_t bad3[] = {one_token("yes"), GPTOSS_HARMONY_RETURN, GPTOSS_HARMONY_END, GPTOSS_HARMONY_START};
    ok = ok && refuses(s, bad3, 4);
    body.n = 0;
    push_text(&body, "{\"answer\": \"yes\", \"why\": \"it is\"}");
    ok = ok && drive(s, body.v, body.n) == body.n && gptoss_constraint_state_next(s, &nx) == GPTOSS_OK &&
         nx.kind == GPTOSS_NEXT_FORCED && nx.id == GPTOSS_HARMONY_RETURN;
    uint32_t after2[] = {one_token("\n"), GPTOSS_HARMONY_END, GPTOSS_HARMONY_CALL};
    ok = ok && refuses(s, after2, 3);
    uint32_t ret = GPTOSS_HARMONY_RETURN;
    ok = ok && drive(s, &ret, 1) == 1 && gptoss_constraint_state_is_done(s);
    tap_check(ok, "constraint: a final answer follows its grammar, then only <|return|> (forced)");
    gptoss_constraint_state_free(s);
    s = state(c);
    t.n = 0;
    push_header(&t, 0, "final", 0);
    push_text(&t, "{\"answer\": \"maybe\"");
    ok = s && drive(s, t.v, t.n) < t.n;
    tap_check(ok, "constraint: a final answer outside its enum is refused");
    gptoss_constraint_state_free(s);
    gptoss_constraint_free(c);
    gptoss_grammar_free(args);
    gptoss_grammar_free(fin);
}

static void test_budget(void) {
    gptoss_grammar *fin = compile(SCHEMA_ANSWER);
    /* budget 0: no analysis; the final header is forced from the first token */
    gptoss_constraint_options o = {.final_grammar = fin, .limit_reasoning = 1, .max_reasoning_tokens = 0};
    gptoss_constraint *c = make(&o);
    gptoss_constraint_state *s = state(c);
    ids h = {.n = 0};
    push_header(&h, 0, "final", 0);
    int ok = s && all_forced(s, h.v, h.n);
    tap_check(ok, "constraint: budget 0 with only a final answer: its header is forced from the first token (%zu tokens)", h.n);
    gptoss_constraint_state_free(s);
    gptoss_constraint_free(c);

    /* budget 0 with free final text: analysis is refused too */
    o = (gptoss_constraint_options){.limit_reasoning = 1};
    c = make(&o);
    s = state(c);
    ok = s && all_forced(s, h.v, h.n);
    tap_check(ok, "constraint: budget 0 without a grammar forces the final header too");
    gptoss_constraint_state_free(s);
    gptoss_constraint_free(c);

    /* budget N: N analysis tokens, the N+1-th is <|end|>, forced; then the final header, forced */
    const uint32_t N = 7;
    o = (gptoss_constraint_options){.final_grammar = fin, .limit_reasoning = 1, .max_reasoning_tokens = N};
    c = make(&o);
    s = state(c);
    ids t = {.n = 0};
    push_header(&t, 0, "analysis", 0);
    ok = s && drive(s, t.v, t.n) == t.n;
    ids words = {.n = 0};
    push_text(&words, " one two three four five six seven eight nine ten");
    ok = ok && words.n > N && drive(s, words.v, N) == N;
    gptoss_constraint_next nx;
    ok = ok && gptoss_constraint_state_next(s, &nx) == GPTOSS_OK && nx.kind == GPTOSS_NEXT_FORCED &&
         nx.id == GPTOSS_HARMONY_END && refuses(s, words.v + N, 1);
    uint32_t end = GPTOSS_HARMONY_END;
    ok = ok && drive(s, &end, 1) == 1;
    h.n = 0;
    push_header(&h, 1, "final", 0);
    ok = ok && all_forced(s, h.v, h.n);
    tap_check(ok, "constraint: budget %u: the %u-th analysis token is <|end|>, forced, then the final header is forced",
              N, N + 1);
    gptoss_constraint_state_free(s);

    /* the budget counts over the turn: an analysis that ends early leaves the rest for the next one */
    s = state(c);
    t.n = 0;
    push_header(&t, 0, "analysis", 0);
    for (size_t i = 0; i < 3; i++) push(&t, words.v[i]);
    push(&t, GPTOSS_HARMONY_END);
    push_header(&t, 1, "analysis", 0);
    for (size_t i = 0; i < N - 3; i++) push(&t, words.v[i]);
    ok = s && drive(s, t.v, t.n) == t.n && gptoss_constraint_state_next(s, &nx) == GPTOSS_OK &&
         nx.kind == GPTOSS_NEXT_FORCED && nx.id == GPTOSS_HARMONY_END;
    tap_check(ok, "constraint: the budget counts analysis tokens across the turn's messages");
    gptoss_constraint_state_free(s);
    gptoss_constraint_free(c);

    /* budget with functions: at the budget, the later header chooses between final and calls */
    gptoss_constraint_function f[] = {{"get_weather", NULL}};
    o = (gptoss_constraint_options){.functions = f, .n_functions = 1, .tool_choice = GPTOSS_TOOL_CHOICE_REQUIRED,
                                    .limit_reasoning = 1, .max_reasoning_tokens = 2};
    c = make(&o);
    s = state(c);
    t.n = 0;
    push_header(&t, 0, "analysis", 0);
    push(&t, words.v[0]);
    push(&t, words.v[1]);
    ok = s && drive(s, t.v, t.n) == t.n && all_forced(s, &end, 1);
    h.n = 0;
    push_header(&h, 1, "commentary to=functions.get_weather ", 1);
    ok = ok && all_forced(s, h.v, h.n);
    tap_check(ok, "constraint: budget 2, tool_choice required with 1 function: <|end|> and then the call header are forced");
    gptoss_constraint_state_free(s);
    gptoss_constraint_free(c);
    gptoss_grammar_free(fin);
}

/* ---- random walks ----------------------------------------------------------------------------- */

static uint64_t rng_state = 0x243f6a8885a308d3ull;
static uint64_t rnd(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* A random allowed id: a special one (a terminator) a third of the time when one is allowed, so
 * that free text ends; otherwise uniform over the allowed ids. */
static uint32_t pick(const uint32_t *bits) {
    uint32_t specials[64], n_sp = 0, total = 0;
    for (uint32_t w = 0; w < n_words; w++) total += (uint32_t)__builtin_popcount(bits[w]);
    for (uint32_t id = 199998; id < n_words * 32 && n_sp < 64; id++)
        if (bits[id / 32] >> (id % 32) & 1u) specials[n_sp++] = id;
    if (n_sp && rnd() % 3 == 0) return specials[rnd() % n_sp];
    uint32_t k = (uint32_t)(rnd() % total);
    for (uint32_t w = 0; w < n_words; w++) {
        uint32_t c = (uint32_t)__builtin_popcount(bits[w]);
        if (k >= c) {
            k -= c;
            continue;
        }
        uint32_t word = bits[w];
        while (k--) word &= word - 1;
        return w * 32 + (uint32_t)__builtin_ctz(word);
    }
    return UINT32_MAX;
}

/* Walks one turn; returns 1 when it ended within max_steps and parses, with its JSON valid. */
static int walk(const gptoss_constraint *c, const gptoss_grammar *final_g, const gptoss_grammar *const *fn_g,
                const char *const *fn_names, size_t n_fn, char *why, size_t why_size) {
    gptoss_constraint_state *s = state(c);
    gptoss_harmony_parser *p = NULL;
    gptoss_harmony_parser_create(tok, GPTOSS_HARMONY_ROLE_ASSISTANT, 1, &p, NULL, 0);
    int ok = s && p;
    snprintf(why, why_size, "did not end");
    for (int step = 0; ok && step < 20000 && !gptoss_constraint_state_is_done(s); step++) {
        gptoss_constraint_next nx;
        gptoss_status st = gptoss_constraint_state_next(s, &nx);
        if (st != GPTOSS_OK || nx.kind == GPTOSS_NEXT_ANY) {
            size_t cl = 0;
            const char *cur = gptoss_harmony_parser_current_content(p, &cl);
            snprintf(why, why_size, "next failed at step %d (status %d) after \"%.*s\"", step, (int)st,
                     (int)(cl < 200 ? cl : 200), cur ? cur : "");
            ok = 0;
            break;
        }
        uint32_t id = nx.kind == GPTOSS_NEXT_FORCED ? nx.id : pick(nx.bits);
        if (gptoss_constraint_state_accept(s, id) != GPTOSS_OK) {
            snprintf(why, why_size, "accept refused its own allowed token %u", id);
            ok = 0;
        } else if (gptoss_harmony_parser_process(p, id) != GPTOSS_OK) {
            snprintf(why, why_size, "harmony: %s", gptoss_harmony_parser_error(p));
            ok = 0;
        }
    }
    ok = ok && gptoss_constraint_state_is_done(s) && gptoss_harmony_parser_process_eos(p) == GPTOSS_OK;
    size_t nm = ok ? gptoss_harmony_parser_n_messages(p) : 0;
    const gptoss_harmony_message *last = nm ? gptoss_harmony_parser_message(p, nm - 1) : NULL;
    const gptoss_grammar *g = NULL;
    if (ok && !last) {
        snprintf(why, why_size, "no message parsed");
        ok = 0;
    } else if (ok && last->channel && !strcmp(last->channel, "final")) {
        g = final_g;
    } else if (ok && last->recipient && !strncmp(last->recipient, "functions.", 10)) {
        for (size_t i = 0; i < n_fn; i++)
            if (!strcmp(last->recipient + 10, fn_names[i])) g = fn_g[i];
        if (!last->content_type || !strstr(last->content_type, "json")) {
            snprintf(why, why_size, "a call without <|constrain|>json");
            ok = 0;
        }
    } else if (ok) {
        snprintf(why, why_size, "the last message is neither final nor a call (channel %s)",
                 last->channel ? last->channel : "none");
        ok = 0;
    }
    if (ok && g) {
        size_t len = 0;
        const char *text = gptoss_harmony_message_text(last, &len);
        gptoss_grammar_state *gs = NULL;
        ok = gptoss_grammar_state_create(g, &gs) == GPTOSS_OK &&
             gptoss_grammar_state_advance_bytes(gs, text, len) == GPTOSS_OK && gptoss_grammar_state_is_complete(gs);
        if (!ok) snprintf(why, why_size, "the JSON does not validate: %.*s", (int)(len < 200 ? len : 200), text);
        gptoss_grammar_state_free(gs);
    }
    gptoss_harmony_parser_free(p);
    gptoss_constraint_state_free(s);
    return ok;
}

static void test_random_walks(void) {
    gptoss_grammar *fin = compile(SCHEMA_ANSWER);
    gptoss_grammar *args = compile(SCHEMA_CITY);
    gptoss_grammar *nums = compile("{\"type\":\"object\",\"properties\":{\"n\":{\"type\":\"integer\",\"minimum\":0,"
                                   "\"maximum\":99},\"flags\":{\"type\":\"array\",\"items\":{\"type\":\"boolean\"},"
                                   "\"maxItems\":3}},\"required\":[\"n\"],\"additionalProperties\":false}");
    if (!tap_check(fin && args && nums, "constraint: the walk schemas compile")) return;
    const char *names[] = {"get_weather", "count", "free_text"};
    const gptoss_grammar *fg[] = {args, nums, NULL};
    gptoss_constraint_function f[] = {{names[0], args}, {names[1], nums}, {names[2], NULL}};
    struct {
        const char *name;
        gptoss_constraint_options o;
    } cases[] = {
        {"final grammar, budget 6", {.final_grammar = fin, .limit_reasoning = 1, .max_reasoning_tokens = 6}},
        {"final grammar, budget 0", {.final_grammar = fin, .limit_reasoning = 1}},
        {"tool_choice required, 3 functions, budget 4",
         {.functions = f, .n_functions = 3, .tool_choice = GPTOSS_TOOL_CHOICE_REQUIRED, .limit_reasoning = 1, .max_reasoning_tokens = 4}},
        {"tool_choice auto, 3 functions, final grammar, budget 5",
         {.final_grammar = fin, .functions = f, .n_functions = 3, .limit_reasoning = 1, .max_reasoning_tokens = 5}},
    };
    const char *more = getenv("GPTOSS_TEST_WALKS"); /* a longer run by hand */
    const int walks = more && atoi(more) > 0 ? atoi(more) : 12;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        gptoss_constraint *c = make(&cases[i].o);
        int good = 0;
        char why[320] = "";
        for (int w = 0; w < walks && c; w++) {
            if (walk(c, fin, fg, names, 3, why, sizeof why)) good++;
            else break;
        }
        tap_check(good == walks, "constraint: %s: %d/%d random walks over the allowed tokens give a parsable turn "
                                 "whose JSON validates%s%s",
                  cases[i].name, good, walks, good == walks ? "" : ": ", good == walks ? "" : why);
        gptoss_constraint_free(c);
    }
    gptoss_grammar_free(fin);
    gptoss_grammar_free(args);
    gptoss_grammar_free(nums);
}

/* One random step: the forced token or a random allowed one. 0 when next failed or the turn ended. */
static int step_random(gptoss_constraint_state *s) {
    gptoss_constraint_next nx;
    if (gptoss_constraint_state_is_done(s) || gptoss_constraint_state_next(s, &nx) != GPTOSS_OK ||
        nx.kind == GPTOSS_NEXT_ANY)
        return 0;
    return gptoss_constraint_state_accept(s, nx.kind == GPTOSS_NEXT_FORCED ? nx.id : pick(nx.bits)) == GPTOSS_OK;
}

/* The worker answers what next() answers, for every state, with 1 and with 3 threads, round after
 * round; a failing state (one whose turn ended) is reported at its index and in wait's status. */
static void test_worker(void) {
    char err[256] = "";
    gptoss_constraint_worker *w = (gptoss_constraint_worker *)1;
    gptoss_constraint_worker_options big = {.n_threads = 65};
    int ok = gptoss_constraint_worker_create(&big, &w, err, sizeof err) == GPTOSS_ERR_INVALID_ARGUMENT && w == NULL &&
             gptoss_constraint_worker_create(NULL, NULL, NULL, 0) == GPTOSS_ERR_INVALID_ARGUMENT;
    gptoss_constraint_worker_free(NULL);
    tap_check(ok, "constraint worker: bad options are refused with *out NULL (%s); free(NULL) is fine", err);

    gptoss_grammar *fin = compile(SCHEMA_ANSWER);
    gptoss_constraint_options o = {.final_grammar = fin, .limit_reasoning = 1, .max_reasoning_tokens = 3};
    gptoss_constraint *c = make(&o);
    enum { N = 7, DONE_AT = 4 };
    for (uint32_t threads = 1; threads <= 3; threads += 2) {
        gptoss_constraint_worker_options wo = {.n_threads = threads};
        ok = c && gptoss_constraint_worker_create(&wo, &w, err, sizeof err) == GPTOSS_OK &&
             gptoss_constraint_worker_wait(w) == GPTOSS_OK && gptoss_constraint_worker_start(w, NULL, 0, NULL, NULL) == GPTOSS_OK &&
             gptoss_constraint_worker_wait(w) == GPTOSS_OK;
        gptoss_constraint_state *st[N] = {0};
        for (int i = 0; ok && i < N; i++) {
            ok = (st[i] = state(c)) != NULL;
            for (int k = 0; ok && k < 3 * i; k++) ok = step_random(st[i]); /* each at its own place */
        }
        /* the state at DONE_AT finishes its turn: next() then refuses */
        for (int k = 0; ok && k < 20000 && !gptoss_constraint_state_is_done(st[DONE_AT]); k++) ok = step_random(st[DONE_AT]);
        ok = ok && gptoss_constraint_state_is_done(st[DONE_AT]);
        int rounds_ok = 0;
        for (int round = 0; ok && round < 12; round++) {
            snap want[N];
            for (int i = 0; i < N; i++) want[i] = take(st[i]);
            gptoss_constraint_next next[N];
            gptoss_status status[N];
            memset(next, 0, sizeof next);
            ok = gptoss_constraint_worker_start(w, st, N, next, status) == GPTOSS_OK &&
                 gptoss_constraint_worker_wait(w) == GPTOSS_ERR_INVALID_ARGUMENT;
            for (int i = 0; ok && i < N; i++) {
                snap got = {next[i], NULL, status[i]};
                if (got.n.kind == GPTOSS_NEXT_MASKED) got.bits = (uint32_t *)next[i].bits;
                ok = same(&want[i], &got) && (status[i] == GPTOSS_OK) == (i != DONE_AT);
                if (!ok) tap_diag("worker (%u threads), round %d, state %d differs from next()", threads, round, i);
            }
            for (int i = 0; i < N; i++) free(want[i].bits);
            /* each live state takes a token from the worker's answer; one that ends is made anew */
            for (int i = 0; ok && i < N; i++) {
                if (i == DONE_AT) continue;
                uint32_t id = next[i].kind == GPTOSS_NEXT_FORCED ? next[i].id : pick(next[i].bits);
                ok = gptoss_constraint_state_accept(st[i], id) == GPTOSS_OK;
                if (ok && gptoss_constraint_state_is_done(st[i])) {
                    gptoss_constraint_state_free(st[i]);
                    ok = (st[i] = state(c)) != NULL;
                }
            }
            rounds_ok += ok;
        }
        double busy = w ? gptoss_constraint_worker_busy_seconds(w) : 0;
        tap_check(ok && rounds_ok == 12 && busy > 0,
                  "constraint worker (%u threads): 12 rounds over %d states at different places answer exactly what "
                  "next() answers; a finished state's failure comes back at its index and from wait (%.0f us busy)",
                  threads, N, busy * 1e6);
        for (int i = 0; i < N; i++) gptoss_constraint_state_free(st[i]);
        gptoss_constraint_worker_free(w);
        w = NULL;
    }
    gptoss_constraint_free(c);
    gptoss_grammar_free(fin);
}

int main(void) {
    char path[2048];
    if (!tap_shared_path("constraint: every check", "vocab/tokenizer.json", path, sizeof path)) return tap_exit();
    char err[256] = "";
    if (!tap_check(gptoss_tokenizer_load(path, &tok, err, sizeof err) == GPTOSS_OK, "constraint: tokenizer loads (%s)", err))
        return tap_exit();
    if (!tap_check(gptoss_grammar_vocab_create(tok, &vocab, err, sizeof err) == GPTOSS_OK, "constraint: vocab trie"))
        return tap_exit();
    n_words = gptoss_grammar_vocab_mask_words(vocab);
    test_create_and_free();
    test_headers();
    test_grammar_bodies();
    test_budget();
    test_random_walks();
    test_worker();
    gptoss_grammar_vocab_free(vocab);
    gptoss_tokenizer_free(tok);
    return tap_exit();
}
