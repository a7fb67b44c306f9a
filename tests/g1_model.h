/* g1_model.h: the small checkpoint that model tests run on: the g1-default golden of the shared data,
 * or, when the shared data is missing, a checkpoint of exactly its shape (same config.json and
 * safetensors layout, both layouts) synthesized with random weights, so that checks which need a
 * model but not the golden's numbers keep running without ../shared. */
#ifndef GPTOSS_TEST_G1_MODEL_H
#define GPTOSS_TEST_G1_MODEL_H

#include <ftw.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "gptoss.h"
#include "tap.h"

/* The synth options of the g1-default golden's shape (both layouts written). */
static inline gptoss_synth_options g1_synth_options(void) {
    gptoss_synth_options o;
    memset(&o, 0, sizeof o);
    o.n_layers = 4;
    o.hidden_size = 128;
    o.intermediate_size = 128;
    o.head_dim = 32;
    o.n_heads = 8;
    o.n_kv_heads = 2;
    o.n_experts = 8;
    o.n_experts_per_token = 4;
    o.sliding_window = 8;
    o.vocab_size = 1024;
    o.write_original = 1;
    return o;
}

/* DIR = the g1-default model directory (with original/). Returns 1 for the golden, 2 for a stand-in
 * synthesized into SCRATCH/g1-standin (one "# ..." line says so), 0 when that failed (one failed
 * check says why). */
static inline int g1_model_dir(const char *scratch, char *dir, size_t cap) {
    struct stat st;
    snprintf(dir, cap, "%s/golden/g1-default/model", tap_shared_dir());
    if (stat(dir, &st) == 0) return 1;
    int len = snprintf(dir, cap, "%s/g1-standin", scratch);
    if (len < 0 || (size_t)len >= cap) {
        tap_check(0, "a stand-in for the g1-default golden: scratch path too long (%s)", scratch);
        return 0;
    }
    gptoss_synth_options o = g1_synth_options();
    char err[512] = "";
    if (gptoss_synth_write(dir, &o, err, sizeof err) != GPTOSS_OK) {
        tap_check(0, "synthesize a stand-in for the g1-default golden: %s", err);
        return 0;
    }
    tap_diag("%s/golden/g1-default not found: running on a synthesized model of its shape (%s)", tap_shared_dir(),
             dir);
    return 2;
}

static inline int g1_remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

/* Removes a scratch directory and everything under it (the stand-in included). */
static inline void g1_remove_scratch(const char *scratch) { nftw(scratch, g1_remove_entry, 16, FTW_DEPTH | FTW_PHYS); }

#endif
