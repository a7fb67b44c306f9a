/* cmd_generate.c: `gptoss generate`: prefill ids (given, or a text encoded with the model's tokenizer),
 * then sample N tokens; prints the generated ids on one line, and timings on stderr. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "cmd/commands.h"

static void usage(FILE *f) {
    fprintf(f, "usage: gptoss generate MODEL (--ids \"...\" | -p TEXT [--tokenizer PATH]) -n N [--temperature T]\n"
               "                          [--top-p P] [--top-k K] [--min-p M] [--seed S] [--stop \"IDS\"] [-c N] [--quiet]\n"
               "                          [--device cpu|cuda] [--q8] [--exact] [--keep-dense] [--kv f32|bf24|f16]\n"
               "                          [-t N]\n"
               "  -n, --max-tokens N: tokens to generate; -c, --ctx N: context size (default 8192);\n"
               "  -t, --threads N: threads (default: every CPU); --device: default cuda when a GPU is\n"
               "  usable, else cpu.\n"
               "  Temperature 0 (the default) is greedy decoding. Generation ends after N tokens or at a\n"
               "  stop id (which is printed). Prints the generated ids (gptoss detokenize MODEL turns them into\n"
               "  text); timings go to stderr. -p TEXT is the prompt as plain text, encoded with the model's\n"
               "  tokenizer as gptoss tokenize does (special-token literals stay text; no harmony template),\n"
               "  the tokenizer found as chat finds it (--tokenizer PATH, $GPTOSS_TOKENIZER, the model's folder).\n"
               "  Weights: the default reads the unembedding as Q8_0 on the CPU (converted at load);\n"
               "  --keep-dense: as stored; --q8: attention too; --exact: scalar reference kernels, as stored.\n"
               "  --kv: the KV cache's elements (default bf24, f32 with --exact; --kv-f16 is --kv f16).\n");
}

int cmd_generate(int argc, char **argv) {
    const char *model_path = NULL, *ids_text = NULL, *stop_text = NULL, *prompt = NULL, *tok_path = NULL;
    uint32_t n_gen = 0, ctx = 0;
    int have_n = 0, quiet = 0;
    gptoss_kv_type kv_type = GPTOSS_KV_AUTO;
    gptoss_sampler_options so = {0};
    gptoss_device device = GPTOSS_DEVICE_AUTO; /* --device */
    gptoss_model_options mopt = {0};
    uint32_t n_threads = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = NULL, *name = cli_option_name(a);
        int ok = 1;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); return 0; }
        else if (!strcmp(a, "--quiet")) quiet = 1;
        else if (!strcmp(a, "--q8")) mopt.dense_q8 = 1;
        else if (!strcmp(a, "--exact")) mopt.exact = 1;
        else if (!strcmp(a, "--keep-dense")) mopt.keep_dense = 1;
        else if (!strcmp(a, "--kv-f16")) kv_type = GPTOSS_KV_F16;
        else if (a[0] == '-' && strcmp(a, "--ids") && strcmp(name, "--max-tokens") && strcmp(a, "--temperature") &&
                 strcmp(a, "--top-p") && strcmp(a, "--top-k") && strcmp(a, "--min-p") && strcmp(a, "--seed") &&
                 strcmp(a, "--stop") && strcmp(name, "--ctx") && strcmp(a, "--device") && strcmp(name, "--threads") &&
                 strcmp(a, "--kv") && strcmp(a, "-p") && strcmp(a, "--tokenizer")) {
            cli_error("generate: unknown option %s", a);
            usage(stderr);
            return 2;
        } else if (a[0] == '-') {
            if (!(v = cli_next(argc, argv, &i))) return 2;
            if (!strcmp(a, "--ids")) ids_text = v;
            else if (!strcmp(a, "-p")) prompt = v;
            else if (!strcmp(a, "--tokenizer")) tok_path = v;
            else if (!strcmp(a, "--stop")) stop_text = v;
            else if (!strcmp(a, "--device")) ok = cli_parse_device(v, &device);
            else if (!strcmp(name, "--max-tokens")) ok = have_n = cli_parse_u32(v, &n_gen);
            else if (!strcmp(name, "--ctx")) ok = cli_parse_u32(v, &ctx);
            else if (!strcmp(name, "--threads")) ok = cli_parse_u32(v, &n_threads);
            else if (!strcmp(a, "--temperature")) ok = cli_parse_float(v, &so.temperature) && so.temperature >= 0;
            else if (!strcmp(a, "--top-p")) ok = cli_parse_float(v, &so.top_p) && so.top_p >= 0 && so.top_p <= 1;
            else if (!strcmp(a, "--top-k")) ok = cli_parse_u32(v, &so.top_k);
            else if (!strcmp(a, "--min-p")) ok = cli_parse_float(v, &so.min_p) && so.min_p >= 0 && so.min_p <= 1;
            else if (!strcmp(a, "--seed")) ok = cli_parse_u64(v, &so.seed);
            else if (!strcmp(a, "--kv")) ok = cli_parse_kv_type(v, &kv_type);
            if (!ok) { cli_error("generate: invalid value '%s' for %s", v, a); return 2; }
        } else if (!model_path) model_path = a;
        else { cli_error("generate: unexpected argument '%s'", a); return 2; }
    }
    if (!model_path) { cli_error("generate: no MODEL given (see gptoss generate --help)"); return 2; }
    if (!(model_path = cli_model_arg(model_path))) return 1;
    if (!ids_text && !prompt) { cli_error("generate: --ids \"...\" or -p TEXT is required (see gptoss generate --help)"); return 2; }
    if (ids_text && prompt) { cli_error("generate: give --ids or -p, not both"); return 2; }
    if (tok_path && !prompt) { cli_error("generate: --tokenizer is for -p TEXT; --ids are already token ids"); return 2; }
    if (prompt && !*prompt) { cli_error("generate: -p needs a non-empty text"); return 2; }
    if (!have_n) { cli_error("generate: -n N is required (see gptoss generate --help)"); return 2; }
    uint32_t *ids = NULL, *stop = NULL;
    size_t n_ids = 0, n_stop = 0;
    if (ids_text && (!cli_parse_ids(ids_text, &ids, &n_ids) || n_ids == 0)) { cli_error("generate: --ids needs at least one id"); free(ids); return 2; }
    if (stop_text && !cli_parse_ids(stop_text, &stop, &n_stop)) { cli_error("generate: --stop must be ids"); free(ids); return 2; }
    so.stop_ids = stop;
    so.n_stop_ids = n_stop;

    int rc = 1;
    char err[512] = "";
    gptoss_session *sess = NULL;
    gptoss_sampler *smp = NULL;
    gptoss_tokenizer *tok = NULL;
    gptoss_tokens enc = {0};
    uint32_t *out = NULL;
    double t0 = cli_now_s();
    mopt.device = device;
    gptoss_model *model = cli_load_model(model_path, &mopt);
    if (!model) goto done;
    if (prompt) {
        if (!(tok = cli_open_tokenizer(tok_path, model_path))) goto done;
        if (cli_check_vocab(model, tok, err, sizeof err) != 0) { cli_error("%s", err); goto done; }
        if (gptoss_tokenizer_encode(tok, prompt, strlen(prompt), GPTOSS_TOKENIZER_SPECIAL_AS_TEXT, &enc) != GPTOSS_OK) {
            cli_error("generate: cannot encode -p (out of memory)");
            goto done;
        }
        ids = enc.ids;
        n_ids = enc.n;
        enc.ids = NULL; /* freed with the --ids array */
    }
    double t_open = cli_now_s() - t0;
    const gptoss_model_config *c = gptoss_model_get_config(model);
    gptoss_session_options sopt = {.n_ctx = ctx, .device = device, .n_threads = n_threads, .kv_type = kv_type};
    if (gptoss_session_create(model, &sopt, &sess, err, sizeof err) != GPTOSS_OK ||
        gptoss_sampler_create(c->vocab_size, &so, &smp, err, sizeof err) != GPTOSS_OK) {
        cli_error("%s", err);
        goto done;
    }
    out = malloc((n_gen ? n_gen : 1) * sizeof *out);
    if (!out) goto done;
    double t1 = cli_now_s();
    if (gptoss_session_append(sess, ids, n_ids, NULL, err, sizeof err) != GPTOSS_OK) { cli_error("%s", err); goto done; }
    double t_prefill = cli_now_s() - t1;
    double t2 = cli_now_s();
    uint32_t n_out = 0;
    while (n_out < n_gen) {
        uint32_t id;
        if (gptoss_sampler_sample(smp, gptoss_session_logits(sess), c->vocab_size, &id) != GPTOSS_OK) {
            cli_error("generate: sampling failed (non-finite logits)");
            goto done;
        }
        out[n_out++] = id;
        if (gptoss_sampler_is_stop(smp, id) || n_out == n_gen) break;
        if (gptoss_session_append(sess, &id, 1, NULL, err, sizeof err) != GPTOSS_OK) { cli_error("%s", err); goto done; }
    }
    double t_decode = cli_now_s() - t2;
    for (uint32_t i = 0; i < n_out; i++) printf("%s%u", i ? " " : "", out[i]);
    printf("\n");
    if (!quiet)
        fprintf(stderr, "open %.2f s | prefill %zu tokens in %.3f s (%.1f tok/s) | decode %u tokens in %.3f s (%.1f tok/s)\n",
                t_open, n_ids, t_prefill, n_ids / (t_prefill > 0 ? t_prefill : 1e-9), n_out, t_decode,
                n_out > 1 ? (n_out - 1) / (t_decode > 0 ? t_decode : 1e-9) : 0.0);
    rc = 0;
done:
    free(out);
    free(ids);
    free(stop);
    gptoss_sampler_free(smp);
    gptoss_tokenizer_free(tok);
    gptoss_tokens_free(&enc);
    gptoss_session_free(sess);
    gptoss_model_free(model);
    return rc;
}
