/* cmd_eval.c: `gptoss eval`: runs ids through the model and writes or checks the logits of every
 * position (float32 little-endian, [n_ids x vocab]). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cmd/commands.h"
#include "format/json.h"

static void usage(FILE *f) {
    fprintf(f, "usage: gptoss eval MODEL (--ids \"1 2 3\" | --check CASE_DIR) [--logits OUT] [--prefill]\n"
               "                        [--batch N] [-c N] [--tolerance T] [--device cpu|cuda]\n"
               "                        [--q8] [--exact] [--keep-dense] [--kv f32|bf24|f16] [-t N]\n"
               "  Row i of the logits is the model's output after ids[0..i]. By default the first id is\n"
               "  prefilled and the rest decoded one at a time; --prefill feeds all ids in one call\n"
               "  (processed in batches of --batch tokens, default all of them). --check compares with a\n"
               "  golden case (ids from case.json's \"sequence\", logits from logits.f32), prints the max abs\n"
               "  difference and fails if it exceeds --tolerance (default 1e-3, or 0.1 when weights were\n"
               "  converted to Q8_0 at load). Weights: the default reads the unembedding as Q8_0 on the CPU\n"
               "  (converted at load); --keep-dense: as stored; --q8: attention too; --exact: scalar reference\n"
               "  kernels, as stored. --kv: the KV cache's elements (default bf24, f32 with --exact;\n"
               "  --kv-f16 is --kv f16). -t, --threads N: threads (default every CPU); -c, --ctx N: context\n"
               "  size (default 8192, or the ids' count beyond that); --device: default cuda when a GPU is\n"
               "  usable, else cpu.\n");
}

/* Reads case.json's "sequence" and logits.f32 of a golden case. */
static int load_case(const char *dir, uint32_t **ids, size_t *n_ids, float **logits, size_t *n_floats) {
    char path[4096], err[512];
    char *text;
    size_t len;
    snprintf(path, sizeof path, "%s/case.json", dir);
    if (gptoss_read_file(path, 64u << 20, &text, &len, err, sizeof err) != GPTOSS_OK) {
        cli_error("%s", err);
        return 0;
    }
    json_doc *doc = json_parse(text, len, err, sizeof err);
    free(text);
    if (!doc) {
        cli_error("%s: %s", path, err);
        return 0;
    }
    const json_value *seq = json_get(json_root(doc), "sequence");
    if (!seq || seq->type != JSON_ARRAY || seq->n == 0) {
        cli_error("%s: missing \"sequence\" array", path);
        json_free(doc);
        return 0;
    }
    *ids = malloc(seq->n * sizeof **ids);
    if (!*ids) {
        json_free(doc);
        return 0;
    }
    for (size_t i = 0; i < seq->n; i++) {
        const json_value *v = &seq->items[i];
        if (v->type != JSON_NUMBER || !v->is_uint || v->uint > UINT32_MAX) {
            cli_error("%s: sequence[%zu] is not a token id", path, i);
            free(*ids);
            json_free(doc);
            return 0;
        }
        (*ids)[i] = (uint32_t)v->uint;
    }
    *n_ids = seq->n;
    json_free(doc);
    snprintf(path, sizeof path, "%s/logits.f32", dir);
    if (gptoss_read_file(path, (size_t)1 << 34, &text, &len, err, sizeof err) != GPTOSS_OK) {
        cli_error("%s", err);
        free(*ids);
        return 0;
    }
    *logits = (float *)(void *)text;
    *n_floats = len / sizeof(float);
    return 1;
}

int cmd_eval(int argc, char **argv) {
    const char *model_path = NULL, *ids_text = NULL, *out_path = NULL, *case_dir = NULL;
    int prefill = 0;
    gptoss_kv_type kv_type = GPTOSS_KV_AUTO;
    uint32_t batch = 0, ctx = 0;
    float tol = 1e-3f;
    int tol_given = 0;
    gptoss_device device = GPTOSS_DEVICE_AUTO; /* --device */
    gptoss_model_options mopt = {0};
    uint32_t n_threads = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *name = cli_option_name(a);
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); return 0; }
        else if (!strcmp(a, "--ids")) { if (!(ids_text = cli_next(argc, argv, &i))) return 2; }
        else if (!strcmp(a, "--logits")) { if (!(out_path = cli_next(argc, argv, &i))) return 2; }
        else if (!strcmp(a, "--check")) { if (!(case_dir = cli_next(argc, argv, &i))) return 2; }
        else if (!strcmp(a, "--prefill")) prefill = 1;
        else if (!strcmp(a, "--q8")) mopt.dense_q8 = 1;
        else if (!strcmp(a, "--exact")) mopt.exact = 1;
        else if (!strcmp(a, "--keep-dense")) mopt.keep_dense = 1;
        else if (!strcmp(a, "--kv-f16")) kv_type = GPTOSS_KV_F16;
        else if (!strcmp(a, "--kv")) {
            const char *v = cli_next(argc, argv, &i);
            if (!v) return 2;
            if (!cli_parse_kv_type(v, &kv_type)) { cli_error("eval: invalid value '%s' for --kv", v); return 2; }
        }
        else if (!strcmp(name, "--threads")) {
            const char *v = cli_next(argc, argv, &i);
            if (!v) return 2;
            if (!cli_parse_u32(v, &n_threads)) { cli_error("eval: invalid value '%s' for %s", v, a); return 2; }
        }
        else if (!strcmp(a, "--device")) {
            const char *v = cli_next(argc, argv, &i);
            if (!v) return 2;
            if (!cli_parse_device(v, &device)) { cli_error("eval: invalid value '%s' for --device (cpu or cuda)", v); return 2; }
        }
        else if (!strcmp(a, "--batch") || !strcmp(name, "--ctx") || !strcmp(a, "--tolerance")) {
            const char *v = cli_next(argc, argv, &i);
            if (!v) return 2;
            int ok = !strcmp(a, "--batch") ? cli_parse_u32(v, &batch) && batch > 0
                   : !strcmp(name, "--ctx") ? cli_parse_u32(v, &ctx)
                                           : (tol_given = 1, cli_parse_float(v, &tol) && tol >= 0);
            if (!ok) { cli_error("eval: invalid value '%s' for %s", v, a); return 2; }
        } else if (a[0] == '-') { cli_error("eval: unknown option %s", a); usage(stderr); return 2; }
        else if (!model_path) model_path = a;
        else { cli_error("eval: unexpected argument '%s'", a); return 2; }
    }
    if (!model_path) { cli_error("eval: no MODEL given (see gptoss eval --help)"); return 2; }
    if (!(model_path = cli_model_arg(model_path))) return 1;
    if (!ids_text && !case_dir) { cli_error("eval: give --ids \"...\" or --check CASE_DIR (see gptoss eval --help)"); return 2; }

    uint32_t *ids = NULL;
    size_t n_ids = 0;
    float *golden = NULL;
    size_t n_golden = 0;
    if (case_dir && !load_case(case_dir, &ids, &n_ids, &golden, &n_golden)) return 1;
    if (ids_text) {
        free(ids);
        if (!cli_parse_ids(ids_text, &ids, &n_ids)) { cli_error("eval: --ids must be non-negative integers"); free(golden); return 2; }
    }
    if (n_ids == 0) { cli_error("eval: no ids given"); free(ids); free(golden); return 2; }

    int rc = 1;
    mopt.device = device;
    gptoss_model *model = cli_load_model(model_path, &mopt);
    gptoss_session *sess = NULL;
    float *logits = NULL;
    char err[512] = "";
    if (!model) goto out;
    const gptoss_model_config *c = gptoss_model_get_config(model);
    size_t V = c->vocab_size;
    gptoss_session_options so = {.n_threads = n_threads, .n_ctx = ctx, .n_batch = batch ? batch : (prefill ? (uint32_t)(n_ids < 4096 ? n_ids : 4096) : 0),
                                 .kv_type = kv_type};
    so.device = device;
    if (!ctx && n_ids > 8192) so.n_ctx = n_ids <= c->max_context ? (uint32_t)n_ids : 0;
    if (gptoss_session_create(model, &so, &sess, err, sizeof err) != GPTOSS_OK) { cli_error("%s", err); goto out; }
    logits = malloc(n_ids * V * sizeof(float));
    if (!logits) { cli_error("eval: out of memory for %zu x %zu logits", n_ids, V); goto out; }
    gptoss_status st;
    if (prefill) {
        st = gptoss_session_append(sess, ids, n_ids, logits, err, sizeof err);
    } else {
        st = GPTOSS_OK;
        for (size_t i = 0; i < n_ids && st == GPTOSS_OK; i++) st = gptoss_session_append(sess, ids + i, 1, logits + i * V, err, sizeof err);
    }
    if (st != GPTOSS_OK) { cli_error("%s", err); goto out; }
    if (out_path) {
        FILE *f = fopen(out_path, "wb");
        if (!f || fwrite(logits, sizeof(float), n_ids * V, f) != n_ids * V) {
            cli_error("%s: cannot write logits", out_path);
            if (f) fclose(f);
            goto out;
        }
        if (fclose(f) != 0) { cli_error("%s: cannot write logits", out_path); goto out; }
    }
    rc = 0;
    if (golden) {
        if (n_golden != n_ids * V) {
            cli_error("%s: logits.f32 holds %zu floats, expected %zu x %zu", case_dir, n_golden, n_ids, V);
            rc = 1;
            goto out;
        }
        gptoss_model_stats ms;
        gptoss_model_get_stats(model, &ms);
        if (!tol_given && ms.bytes_converted) tol = 0.1f; /* the documented bound of a Q8_0 unembedding */
        double max_diff = 0;
        size_t argmax_same = 0;
        for (size_t r = 0; r < n_ids; r++) {
            size_t am = 0, bm = 0;
            for (size_t j = 0; j < V; j++) {
                double d = fabs((double)logits[r * V + j] - golden[r * V + j]);
                if (!(d <= max_diff)) max_diff = d; /* NaN propagates as a failure */
                if (logits[r * V + j] > logits[r * V + am]) am = j;
                if (golden[r * V + j] > golden[r * V + bm]) bm = j;
            }
            argmax_same += am == bm;
        }
        printf("max_abs_diff %.3g over %zu x %zu logits; argmax agrees on %zu/%zu rows (%s)\n", max_diff, n_ids, V,
               argmax_same, n_ids, prefill ? "prefill" : "decode");
        if (!(max_diff <= tol)) {
            cli_error("eval: max abs difference %.3g exceeds tolerance %.3g", max_diff, (double)tol);
            rc = 1;
        }
    }
out:
    free(logits);
    free(golden);
    free(ids);
    gptoss_session_free(sess);
    gptoss_model_free(model);
    return rc;
}
