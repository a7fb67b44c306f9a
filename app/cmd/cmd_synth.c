/* cmd_synth.c: `gptoss synth`, writes a random-weight checkpoint of the gpt-oss architecture. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/cli_output.h"
#include "cmd/commands.h"

static void synth_usage(FILE *f) {
    fprintf(f,
            "usage: gptoss synth --out DIR|FILE.gguf [--format safetensors|gguf] [--preset tiny|20b|120b] [shape options] [--seed S] [--original]\n"
            "                    [--shards N] [--f32-norms] [--tokenizer FILE] [--force]\n"
            "Writes a checkpoint with random weights (Hugging Face layout; --original adds original/).\n"
            "An --out path ending in .gguf writes one GGUF file (as --format gguf does); any other path is\n"
            "a directory of safetensors files unless --format gguf is given. The directory must be new or\n"
            "empty and the file new: nothing else is overwritten or removed. Files are built in a staging\n"
            "folder beside --out (.NAME.tmp-XXXXXX) and moved into place when complete.\n"
            "  --force       write into a directory that holds files (replacing only those of synth's own\n"
            "                names, removing nothing), or replace an existing .gguf file\n"
            "shape options (override the preset; the default preset is tiny):\n"
            "  --layers N  --hidden N  --intermediate N  --heads N  --kv-heads N  --head-dim N\n"
            "  --experts N  --experts-per-token N  --vocab N  --window N  --context N (YaRN original context)\n"
            "  --seed S      PRNG seed (default 0); the same options and seed give the same bytes\n"
            "  --shards N    split the Hugging Face weights into N files plus model.safetensors.index.json\n"
            "  --f32-norms   store norm gains and attention sinks as F32 instead of BF16\n"
            "  --tokenizer FILE  also write tokenizer.json and tokenizer_config.json (from a tokenizer.json\n"
            "                or an o200k_base.tiktoken file); the vocabulary then defaults to the\n"
            "                tokenizer's 201088 ids, so the model chats like a downloaded one\n");
}

int cmd_synth(int argc, char **argv) {
    gptoss_synth_options o;
    memset(&o, 0, sizeof o);
    const char *out = NULL, *tokenizer = NULL;
    static const struct {
        const char *flag;
        size_t offset;
    } shape[] = {
        {"--layers", offsetof(gptoss_synth_options, n_layers)},
        {"--hidden", offsetof(gptoss_synth_options, hidden_size)},
        {"--intermediate", offsetof(gptoss_synth_options, intermediate_size)},
        {"--heads", offsetof(gptoss_synth_options, n_heads)},
        {"--kv-heads", offsetof(gptoss_synth_options, n_kv_heads)},
        {"--head-dim", offsetof(gptoss_synth_options, head_dim)},
        {"--experts", offsetof(gptoss_synth_options, n_experts)},
        {"--experts-per-token", offsetof(gptoss_synth_options, n_experts_per_token)},
        {"--vocab", offsetof(gptoss_synth_options, vocab_size)},
        {"--window", offsetof(gptoss_synth_options, sliding_window)},
        {"--context", offsetof(gptoss_synth_options, initial_context_length)},
        {"--shards", offsetof(gptoss_synth_options, n_shards)},
    };
    const char *format = NULL; /* from --out's name unless given */
    int force = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            synth_usage(stdout);
            return 0;
        }
        if (!strcmp(a, "--original")) { o.write_original = 1; continue; }
        if (!strcmp(a, "--f32-norms")) { o.f32_norms = 1; continue; }
        if (!strcmp(a, "--force")) { force = 1; continue; }
        if (!strcmp(a, "--tokenizer")) {
            if (!(tokenizer = cli_next(argc, argv, &i))) return 2;
            continue;
        }
        if (!strcmp(a, "--format")) {
            if (!(format = cli_next(argc, argv, &i))) return 2;
            if (strcmp(format, "gguf") != 0 && strcmp(format, "safetensors") != 0) {
                cli_error("synth: --format %s: expected safetensors or gguf", format);
                return 2;
            }
            continue;
        }
        if (!strcmp(a, "--out")) {
            if (!(out = cli_next(argc, argv, &i))) return 2;
            continue;
        }
        if (!strcmp(a, "--preset")) {
            const char *v = cli_next(argc, argv, &i);
            if (!v) return 2;
            if (!strcmp(v, "tiny")) o.preset = GPTOSS_SYNTH_TINY;
            else if (!strcmp(v, "20b")) o.preset = GPTOSS_SYNTH_20B;
            else if (!strcmp(v, "120b")) o.preset = GPTOSS_SYNTH_120B;
            else {
                cli_error("synth: unknown preset '%s' (expected tiny, 20b or 120b)", v);
                return 2;
            }
            continue;
        }
        if (!strcmp(a, "--seed")) {
            const char *v = cli_next(argc, argv, &i);
            if (!v) return 2;
            if (!cli_parse_u64(v, &o.seed)) {
                cli_error("synth: --seed needs a non-negative integer, got '%s'", v);
                return 2;
            }
            continue;
        }
        size_t k = 0;
        while (k < sizeof shape / sizeof shape[0] && strcmp(a, shape[k].flag)) k++;
        if (k == sizeof shape / sizeof shape[0]) {
            cli_error("synth: unknown option '%s' (see gptoss synth --help)", a);
            return 2;
        }
        const char *v = cli_next(argc, argv, &i);
        uint32_t x;
        if (!v) return 2;
        if (!cli_parse_u32(v, &x) || x == 0) {
            cli_error("synth: %s needs a positive integer, got '%s'", a, v);
            return 2;
        }
        memcpy((char *)&o + shape[k].offset, &x, sizeof x);
    }
    if (!out) {
        cli_error("synth: --out DIR or --out FILE.gguf is required (see gptoss synth --help)");
        return 2;
    }
    size_t out_len = strlen(out);
    const int gguf_name = out_len >= 5 && !strcasecmp(out + out_len - 5, ".gguf");
    if (format && !strcmp(format, "safetensors") && gguf_name) {
        cli_error("synth: --out %s names a .gguf file but --format safetensors writes a directory: drop --format "
                  "safetensors, or give a directory name",
                  out);
        return 2;
    }
    if (!format) format = gguf_name ? "gguf" : "safetensors";

    char err[512] = "";
    if (tokenizer) {
        /* Load it now: a bad tokenizer should fail before gigabytes are written. */
        gptoss_tokenizer *tok = NULL;
        if (gptoss_tokenizer_load(tokenizer, &tok, err, sizeof err) != GPTOSS_OK) {
            cli_error("%s", err);
            return 1;
        }
        uint32_t n_tok = gptoss_tokenizer_n_vocab(tok);
        gptoss_tokenizer_free(tok);
        if (!o.vocab_size) o.vocab_size = n_tok;
        if (o.vocab_size < n_tok) {
            cli_error("synth: --vocab %u is smaller than the tokenizer's %u ids", o.vocab_size, n_tok);
            return 2;
        }
    }
    gptoss_synth_plan plan;
    gptoss_status st = gptoss_synth_resolve(&o, &plan, err, sizeof err);
    if (st != GPTOSS_OK) {
        cli_error("%s", err[0] ? err : gptoss_status_string(st));
        return 2;
    }
    if (cli_progress_wanted(plan.n_file_bytes)) {
        o.progress = cli_progress;
        o.progress_ctx = (void *)"synth";
    }
    double t0 = cli_now_s();
    /* --format gguf: the checkpoint is synthesized into the staging folder, converted (streaming,
     * dense BF16, experts repacked losslessly) beside it, and only the .gguf is moved out. */
    const int gguf = !strcmp(format, "gguf");
    cli_stage stage;
    if (cli_stage_open(&stage, "synth", out, !gguf, force)) return 1;
    int rc = 1;
    char *ckpt = NULL, *staged_gguf = NULL;
    const char *dir = stage.dir;
    if (gguf) {
        size_t n = strlen(stage.dir) + sizeof "/checkpoint";
        ckpt = malloc(n);
        staged_gguf = malloc(n);
        if (!ckpt || !staged_gguf) {
            cli_error("synth: out of memory");
            goto done;
        }
        snprintf(ckpt, n, "%s/checkpoint", stage.dir);
        snprintf(staged_gguf, n, "%s/model.gguf", stage.dir);
        dir = ckpt;
    }
    st = gptoss_synth_write(dir, &o, err, sizeof err);
    double dt = cli_now_s() - t0;
    if (st != GPTOSS_OK) {
        cli_error("%s", err[0] ? err : gptoss_status_string(st));
        goto done;
    }
    if (tokenizer && (st = gptoss_tokenizer_export(tokenizer, dir, err, sizeof err)) != GPTOSS_OK) {
        cli_error("%s", err[0] ? err : gptoss_status_string(st));
        goto done;
    }
    if (gguf) {
        if ((rc = convert_to_gguf(ckpt, staged_gguf, stage.dest, "bf16", tokenizer ? ckpt : NULL, 0)) != 0) goto done;
        rc = 1;
        if (cli_stage_commit(&stage, "model.gguf")) goto done;
        printf("%s: %llu parameters (GGUF), %.2f s\n", stage.dest, (unsigned long long)plan.n_params,
               cli_now_s() - t0);
        rc = 0;
        goto done;
    }
    if (cli_stage_commit(&stage, NULL)) goto done;
    printf("%s: %llu parameters, %llu bytes (%.2f GiB) in %u files, %.2f s (%.0f MB/s)\n", stage.dest,
           (unsigned long long)plan.n_params, (unsigned long long)plan.n_file_bytes,
           (double)plan.n_file_bytes / (1u << 30), plan.n_files, dt, dt > 0 ? plan.n_file_bytes / dt / 1e6 : 0.0);
    rc = 0;
done:
    free(ckpt);
    free(staged_gguf);
    cli_stage_close(&stage);
    return rc;
}
