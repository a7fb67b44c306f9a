/* cmd_schema_bench.c: `gptoss schema-bench FILE.jsonl`, the MaskBench measurement: per schema the
 * time to first mask (compile + state + first mask), then per test text, token by token, the time to
 * compute the mask, check the token and advance; a test is right when a valid text is accepted to
 * its last token (and complete) and an invalid one is rejected at some token. Single thread. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "cmd/commands.h"
#include "format/json.h"

/* Wall time by default (what MaskBench reports); --cpu-time reads this thread's CPU time instead,
 * which a machine shared with other work does not inflate. */
static clockid_t bench_clock = CLOCK_MONOTONIC;

static double now_us(void) {
    struct timespec ts;
    clock_gettime(bench_clock, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

typedef struct dvec {
    double *v;
    size_t n, cap;
} dvec;

static int dvec_push(dvec *d, double x) {
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 1024;
        double *v = realloc(d->v, cap * sizeof *v);
        if (!v) return 0;
        d->v = v;
        d->cap = cap;
    }
    d->v[d->n++] = x;
    return 1;
}

static int dcmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void print_stats(const char *name, dvec *d) {
    static const double q[] = {0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999};
    printf("%-10s", name);
    if (!d->n) {
        printf(" (none)\n");
        return;
    }
    qsort(d->v, d->n, sizeof *d->v, dcmp);
    double sum = 0;
    for (size_t i = 0; i < d->n; i++) sum += d->v[i];
    printf(" %9.1f", sum / (double)d->n);
    for (size_t k = 0; k < sizeof q / sizeof q[0]; k++) {
        size_t i = (size_t)ceil(q[k] * (double)d->n);
        printf(" %9.1f", d->v[i ? i - 1 : 0]);
    }
    printf(" %9.1f\n", d->v[d->n - 1]);
}

int cmd_schema_bench(int argc, char **argv) {
    const char *path = NULL, *json_out = NULL, *tok_path = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json")) {
            if (!(json_out = cli_next(argc, argv, &i))) return 2;
        } else if (!strcmp(argv[i], "--cpu-time")) {
            bench_clock = CLOCK_THREAD_CPUTIME_ID;
        } else if (!strcmp(argv[i], "--tokenizer")) {
            if (!(tok_path = cli_next(argc, argv, &i))) return 2;
        } else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            printf("usage: gptoss schema-bench FILE.jsonl [--json OUT] [--tokenizer FILE] [--cpu-time]\n"
                   "Each line: {\"id\", \"schema\", \"tests\": [{\"valid\", \"text\"}]}. Compiles each schema and\n"
                   "checks each text token by token against the masks; prints MaskBench's table (times in us).\n"
                   "The tokenizer defaults to $GPTOSS_TOKENIZER. --cpu-time: times are this thread's CPU time\n"
                   "instead of wall time (for a machine shared with other work).\n");
            return 0;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            cli_error("schema-bench: unknown option %s", argv[i]);
            return 2;
        } else if (!path) {
            path = argv[i];
        } else {
            cli_error("schema-bench: more than one input file");
            return 2;
        }
    }
    if (!path) {
        cli_error("usage: gptoss schema-bench FILE.jsonl [--json OUT] [--tokenizer FILE]");
        return 2;
    }
    if (!tok_path && !getenv("GPTOSS_TOKENIZER")) {
        cli_error("schema-bench: no tokenizer (give --tokenizer FILE or set GPTOSS_TOKENIZER)");
        return 2;
    }
    gptoss_tokenizer *tok = cli_open_tokenizer(tok_path, NULL);
    if (!tok) return 1;
    FILE *in = fopen(path, "rb");
    if (!in) {
        cli_error("schema-bench: cannot open %s", path);
        gptoss_tokenizer_free(tok);
        return 1;
    }
    FILE *jo = NULL;
    if (json_out && !(jo = fopen(json_out, "wb"))) {
        cli_error("schema-bench: cannot write %s", json_out);
        fclose(in);
        gptoss_tokenizer_free(tok);
        return 1;
    }
    char err[1024] = "";
    gptoss_grammar_vocab *vocab = NULL;
    if (gptoss_grammar_vocab_create(tok, &vocab, err, sizeof err) != GPTOSS_OK) {
        cli_error("%s", err);
        fclose(in);
        if (jo) fclose(jo);
        gptoss_tokenizer_free(tok);
        return 1;
    }
    uint32_t words = gptoss_grammar_vocab_mask_words(vocab);
    uint32_t *bits = malloc(words * sizeof *bits);
    dvec tbm = {0}, ttfm = {0}, mask_us = {0};
    size_t n_schemas = 0, n_pass = 0, n_compile_err = 0, n_valid_err = 0, n_invalid_err = 0, n_timeout = 0;
    size_t n_tests = 0, n_tests_right = 0;
    int rc = 0;
    char *line = NULL;
    size_t cap = 0;
    ssize_t got;
    gptoss_tokens toks = {0};
    while ((got = getline(&line, &cap, in)) > 0) {
        if (got <= 1) continue;
        char perr[256];
        json_doc *doc = json_parse(line, (size_t)got, perr, sizeof perr);
        if (!doc) {
            cli_error("schema-bench: %s line %zu: %s", path, n_schemas + 1, perr);
            rc = 1;
            break;
        }
        const json_value *root = json_root(doc);
        const json_value *id = json_get(root, "id"), *schema = json_get(root, "schema"), *tests = json_get(root, "tests");
        if (!schema || !tests || tests->type != JSON_ARRAY) {
            cli_error("schema-bench: %s line %zu: needs \"schema\" and \"tests\"", path, n_schemas + 1);
            json_free(doc);
            rc = 1;
            break;
        }
        n_schemas++;
        gptoss_buf sb = {0}, jb = {0};
        json_write_value(&sb, schema);
        gptoss_grammar *g = NULL;
        gptoss_grammar_state *st = NULL;
        err[0] = 0;
        double t0 = now_us();
        gptoss_status s = gptoss_grammar_compile_json_schema(vocab, sb.data ? sb.data : "", sb.len, NULL, &g, err, sizeof err);
        if (s == GPTOSS_OK) s = gptoss_grammar_state_create(g, &st);
        if (s == GPTOSS_OK) s = gptoss_grammar_state_mask(st, bits);
        double ttfm_us = now_us() - t0;
        const char *status = "ok";
        if (s != GPTOSS_OK) {
            status = "compile_error";
            n_compile_err++;
            if (!err[0]) snprintf(err, sizeof err, "%s", gptoss_status_string(s));
        } else if (ttfm_us > 10e6) {
            status = "timeout";
            n_timeout++;
        }
        if (jo) {
            gptoss_buf_puts(&jb, "{\"id\":");
            if (id) json_write_value(&jb, id);
            else gptoss_buf_puts(&jb, "null");
            gptoss_buf_printf(&jb, ",\"status\":\"%s\",\"error\":", status);
            if (s != GPTOSS_OK) json_write_string(&jb, err, strlen(err));
            else gptoss_buf_puts(&jb, "null");
            gptoss_buf_printf(&jb, ",\"ttfm_us\":%.1f,\"tests\":[", ttfm_us);
        }
        size_t mask_from = mask_us.n;
        int all_right = !strcmp(status, "ok");
        if (all_right) dvec_push(&ttfm, ttfm_us);
        int valid_err = 0, invalid_err = 0;
        for (size_t k = 0; k < tests->n; k++) {
            const json_value *tc = &tests->items[k];
            const json_value *text = json_get(tc, "text");
            int valid = json_is_true(json_get(tc, "valid"));
            int accepted = 0;
            toks.n = 0;
            if (s == GPTOSS_OK && text && text->type == JSON_STRING) {
                if (gptoss_tokenizer_encode(tok, text->str, text->len, GPTOSS_TOKENIZER_SPECIAL_AS_TEXT, &toks) != GPTOSS_OK) {
                    cli_error("schema-bench: cannot tokenize a test text");
                    rc = 1;
                }
                gptoss_grammar_state *ts = NULL;
                accepted = gptoss_grammar_state_clone(st, &ts) == GPTOSS_OK;
                for (size_t j = 0; accepted && j < toks.n; j++) {
                    double a = now_us();
                    int ok = gptoss_grammar_state_mask(ts, bits) == GPTOSS_OK && (bits[toks.ids[j] / 32] >> (toks.ids[j] % 32) & 1) &&
                             gptoss_grammar_state_advance(ts, toks.ids[j]) == GPTOSS_OK;
                    double us = now_us() - a;
                    dvec_push(&tbm, us);
                    dvec_push(&mask_us, us);
                    if (!ok) accepted = 0;
                }
                if (accepted) accepted = gptoss_grammar_state_is_complete(ts);
                gptoss_grammar_state_free(ts);
                n_tests++;
                if (accepted == valid) n_tests_right++;
                else if (valid) valid_err = 1;
                else invalid_err = 1;
                if (accepted != valid) all_right = 0;
            }
            if (jo) gptoss_buf_printf(&jb, "%s{\"valid\":%s,\"accepted\":%s,\"n_tokens\":%zu}", k ? "," : "", valid ? "true" : "false",
                                      accepted ? "true" : "false", toks.n);
        }
        n_valid_err += (size_t)valid_err;
        n_invalid_err += (size_t)invalid_err;
        if (all_right) n_pass++;
        if (jo) {
            gptoss_buf_puts(&jb, "],\"mask_us\":[");
            for (size_t k = mask_from; k < mask_us.n; k++) gptoss_buf_printf(&jb, "%s%.2f", k > mask_from ? "," : "", mask_us.v[k]);
            gptoss_buf_puts(&jb, "]}\n");
            fwrite(jb.data, 1, jb.len, jo);
        }
        mask_us.n = 0;
        gptoss_buf_free(&sb);
        gptoss_buf_free(&jb);
        gptoss_grammar_state_free(st);
        gptoss_grammar_free(g);
        json_free(doc);
    }
    free(line);
    gptoss_tokens_free(&toks);
    if (rc == 0) {
        printf("schemas              %zu\n", n_schemas);
        printf("passing              %zu (%.1f%%)\n", n_pass, n_schemas ? 100.0 * (double)n_pass / (double)n_schemas : 0.0);
        printf("compile errors       %zu\n", n_compile_err);
        printf("validation errors    %zu\n", n_valid_err);
        printf("invalidation errors  %zu\n", n_invalid_err);
        printf("timeouts             %zu\n", n_timeout);
        printf("tests right          %zu of %zu\n", n_tests_right, n_tests);
        printf("%-10s %9s %9s %9s %9s %9s %9s %9s %9s %9s\n", bench_clock == CLOCK_MONOTONIC ? "us (wall)" : "us (cpu)", "avg", "p25", "p50", "p75", "p90", "p95", "p99", "p99.9", "max");
        print_stats("TBM", &tbm);
        print_stats("TTFM", &ttfm);
    }
    free(tbm.v);
    free(ttfm.v);
    free(mask_us.v);
    free(bits);
    gptoss_grammar_vocab_free(vocab);
    gptoss_tokenizer_free(tok);
    fclose(in);
    if (jo && fclose(jo) != 0) {
        cli_error("schema-bench: cannot write %s", json_out);
        rc = 1;
    }
    return rc;
}
