/* test_synth.c: gptoss_synth_* and the safetensors writer: header layout (order, offsets, padding),
 * names/shapes/dtypes of both layouts, identical numbers in both layouts, determinism, sharding and
 * its index, parameter counts of the real presets, value ranges, option validation, and (when the
 * shared goldens are present) byte equality of the JSON files and headers with the goldens. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/common.h"
#include "format/json.h"
#include "format/safetensors_write.h"
#include "g1_model.h"
#include "gptoss.h"
#include "tap.h"

static char tmpdir[1024];

/* A safetensors file read whole and its parsed header. */
typedef struct stfile {
    char *data;
    size_t len;
    uint64_t hlen;
    json_doc *doc;
    const json_value *root;
} stfile;

static int st_open(stfile *f, const char *path) {
    char err[256];
    memset(f, 0, sizeof *f);
    if (gptoss_read_file(path, (size_t)1 << 30, &f->data, &f->len, err, sizeof err) != GPTOSS_OK) {
        tap_diag("%s", err);
        return 0;
    }
    if (f->len < 8) return 0;
    for (int i = 0; i < 8; i++) f->hlen |= (uint64_t)(unsigned char)f->data[i] << (8 * i);
    if (f->hlen > f->len - 8) return 0;
    f->doc = json_parse(f->data + 8, (size_t)f->hlen, err, sizeof err);
    if (!f->doc) {
        tap_diag("%s: %s", path, err);
        return 0;
    }
    f->root = json_root(f->doc);
    return f->root && f->root->type == JSON_OBJECT;
}

static void st_close(stfile *f) {
    json_free(f->doc);
    free(f->data);
    memset(f, 0, sizeof *f);
}

/* Tensor bytes by name, or NULL. */
static const unsigned char *st_tensor(const stfile *f, const char *name, uint64_t *n, const char **dtype) {
    const json_value *t = json_get(f->root, name);
    const json_value *off = json_get(t, "data_offsets");
    if (!off || off->type != JSON_ARRAY || off->n != 2 || !off->items[0].is_uint || !off->items[1].is_uint)
        return NULL;
    uint64_t b = off->items[0].uint, e = off->items[1].uint;
    if (e < b || 8 + f->hlen + e > f->len) return NULL;
    *n = e - b;
    if (dtype) *dtype = json_get_string(t, "dtype");
    return (const unsigned char *)f->data + 8 + f->hlen + b;
}

static int shape_is(const stfile *f, const char *name, int ndim, const uint64_t *dims) {
    const json_value *s = json_get(json_get(f->root, name), "shape");
    if (!s || s->type != JSON_ARRAY || s->n != (size_t)ndim) return 0;
    for (int i = 0; i < ndim; i++)
        if (!s->items[i].is_uint || s->items[i].uint != dims[i]) return 0;
    return 1;
}

static int dtype_rank(const char *d) {
    return !strcmp(d, "F32") ? 3 : !strcmp(d, "BF16") ? 2 : !strcmp(d, "U8") ? 1 : 0;
}

/* Structural checks every writer output must pass: 8-aligned header, entries in data order
 * (dtype width descending, then name), contiguous offsets from 0 to the end of the file, sizes
 * that match dtype x shape. Returns the number of tensors (or -1). */
static int check_layout(const stfile *f, const char *label) {
    int ok = f->hlen % 8 == 0;
    uint64_t at = 0;
    const char *prev_name = NULL, *prev_dtype = NULL;
    int n = 0;
    for (size_t i = 0; i < f->root->n; i++) {
        const json_member *m = &f->root->members[i];
        if (!strcmp(m->key, "__metadata__")) {
            ok &= i == 0;
            continue;
        }
        const char *dt = json_get_string(&m->value, "dtype");
        const json_value *shape = json_get(&m->value, "shape");
        const json_value *off = json_get(&m->value, "data_offsets");
        if (!dt || !shape || !off || off->n != 2) return tap_check(0, "%s: tensor %s has dtype/shape/offsets", label, m->key), -1;
        uint64_t sz = gptoss_stw_dtype_size(dt);
        for (size_t d = 0; d < shape->n; d++) sz *= shape->items[d].uint;
        ok &= off->items[0].uint == at && off->items[1].uint == at + sz;
        if (prev_name) {
            int rp = dtype_rank(prev_dtype), rc = dtype_rank(dt);
            ok &= rp > rc || (rp == rc && strcmp(prev_name, m->key) < 0);
        }
        prev_name = m->key;
        prev_dtype = dt;
        at += sz;
        n++;
    }
    ok &= 8 + f->hlen + at == f->len;
    tap_check(ok, "%s: header 8-aligned, data order, contiguous offsets, file size", label);
    return ok ? n : -1;
}

static char *path_in(const char *dir, const char *rel) {
    static char buf[4][2048];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", dir, rel);
    return buf[k];
}

/* 0 when the two files hold the same bytes, 1 when they differ, -1 when either cannot be read or is
 * empty (so that two missing or empty outputs never count as the same, nor as different). */
static int files_compare(const char *a, const char *b) {
    char *da = NULL, *db = NULL;
    size_t la = 0, lb = 0;
    char err[256];
    int r = -1;
    if (gptoss_read_file(a, (size_t)1 << 30, &da, &la, err, sizeof err) == GPTOSS_OK &&
        gptoss_read_file(b, (size_t)1 << 30, &db, &lb, err, sizeof err) == GPTOSS_OK && la > 0 && lb > 0)
        r = la != lb || memcmp(da, db, la) ? 1 : 0;
    free(da);
    free(db);
    return r;
}

static int files_equal(const char *a, const char *b) { return files_compare(a, b) == 0; }

static int exists(const char *p) {
    struct stat sb;
    return stat(p, &sb) == 0;
}

static gptoss_status synth(const char *dir, const gptoss_synth_options *o, char *err, size_t n) {
    return gptoss_synth_write(dir, o, err, n);
}

static double bf16_at(const unsigned char *p, uint64_t i) {
    return gptoss_bf16_to_f32((uint16_t)(p[2 * i] | p[2 * i + 1] << 8));
}

/* Mean and std of a BF16 tensor; fails on any non-finite value. */
static int bf16_stats(const unsigned char *p, uint64_t nbytes, double *mean, double *sd) {
    double s = 0, s2 = 0;
    uint64_t n = nbytes / 2;
    for (uint64_t i = 0; i < n; i++) {
        double x = bf16_at(p, i);
        if (!isfinite(x)) return 0;
        s += x;
        s2 += x * x;
    }
    *mean = s / n;
    *sd = sqrt(fmax(0, s2 / n - *mean * *mean));
    return 1;
}

static void test_tiny_layouts(void) {
    char err[512] = "";
    char *a = strdup(path_in(tmpdir, "synth_a"));
    gptoss_synth_options o;
    memset(&o, 0, sizeof o);
    o.seed = 7;
    o.write_original = 1;
    tap_check(synth(a, &o, err, sizeof err) == GPTOSS_OK, "tiny with original/ written (%s)", err);
    gptoss_synth_plan plan;
    tap_check(gptoss_synth_resolve(&o, &plan, err, sizeof err) == GPTOSS_OK, "resolve tiny");
    const gptoss_model_config *c = &plan.config;
    tap_check(c->n_layers == 4 && c->hidden_size == 64 && c->n_experts == 8 && c->vocab_size == 1024 &&
                  c->max_context == 131072,
              "tiny preset shape");

    stfile hf, og;
    if (!tap_check(st_open(&hf, path_in(a, "model.safetensors")), "HF file parses") ||
        !tap_check(st_open(&og, path_in(a, "original/model.safetensors")), "original file parses")) {
        free(a);
        return;
    }
    int nh = check_layout(&hf, "HF"), no = check_layout(&og, "original");
    tap_check(nh == 3 + 19 * 4 && no == 3 + 15 * 4, "tensor counts HF %d original %d", nh, no);
    const char *fmt = json_get_string(json_get(hf.root, "__metadata__"), "format");
    tap_check(fmt && !strcmp(fmt, "pt") && !json_get(og.root, "__metadata__"), "HF metadata format pt, none in original");

    uint64_t D = 64, I = 64, E = 8, Q = 64, KV = 32, V = 1024;
    int shapes_ok = shape_is(&hf, "model.embed_tokens.weight", 2, (uint64_t[]){V, D}) &&
                    shape_is(&hf, "lm_head.weight", 2, (uint64_t[]){V, D}) &&
                    shape_is(&hf, "model.norm.weight", 1, (uint64_t[]){D});
    for (unsigned n = 0; n < 4; n++) {
        char nm[128];
#define SH(nd, ...) shape_is(&hf, nm, nd, (uint64_t[]){__VA_ARGS__})
#define NM(s) snprintf(nm, sizeof nm, "model.layers.%u." s, n)
        NM("self_attn.q_proj.weight"); shapes_ok &= SH(2, Q, D);
        NM("self_attn.k_proj.weight"); shapes_ok &= SH(2, KV, D);
        NM("self_attn.v_proj.bias"); shapes_ok &= SH(1, KV);
        NM("self_attn.o_proj.weight"); shapes_ok &= SH(2, D, Q);
        NM("self_attn.sinks"); shapes_ok &= SH(1, 4);
        NM("mlp.router.weight"); shapes_ok &= SH(2, E, D);
        NM("mlp.experts.gate_up_proj_blocks"); shapes_ok &= SH(4, E, 2 * I, D / 32, 16);
        NM("mlp.experts.gate_up_proj_scales"); shapes_ok &= SH(3, E, 2 * I, D / 32);
        NM("mlp.experts.gate_up_proj_bias"); shapes_ok &= SH(2, E, 2 * I);
        NM("mlp.experts.down_proj_blocks"); shapes_ok &= SH(4, E, D, I / 32, 16);
        NM("mlp.experts.down_proj_scales"); shapes_ok &= SH(3, E, D, I / 32);
        NM("mlp.experts.down_proj_bias"); shapes_ok &= SH(2, E, D);
        NM("input_layernorm.weight"); shapes_ok &= SH(1, D);
        NM("post_attention_layernorm.weight"); shapes_ok &= SH(1, D);
#undef NM
#undef SH
    }
    tap_check(shapes_ok, "HF names and shapes");
    shapes_ok = shape_is(&og, "block.0.attn.qkv.weight", 2, (uint64_t[]){Q + 2 * KV, D}) &&
                shape_is(&og, "block.3.attn.qkv.bias", 1, (uint64_t[]){Q + 2 * KV}) &&
                shape_is(&og, "block.1.mlp.mlp1_weight.blocks", 4, (uint64_t[]){E, 2 * I, D / 32, 16}) &&
                shape_is(&og, "block.2.mlp.mlp2_weight.scales", 3, (uint64_t[]){E, D, I / 32}) &&
                shape_is(&og, "embedding.weight", 2, (uint64_t[]){V, D}) &&
                shape_is(&og, "unembedding.weight", 2, (uint64_t[]){V, D}) && shape_is(&og, "norm.scale", 1, (uint64_t[]){D});
    tap_check(shapes_ok, "original names and shapes");

    /* Same numbers in both layouts: every original tensor equals its HF counterpart(s). */
    static const char *pairs[][4] = {
        {"attn.norm.scale", "input_layernorm.weight", NULL, NULL},
        {"attn.qkv.weight", "self_attn.q_proj.weight", "self_attn.k_proj.weight", "self_attn.v_proj.weight"},
        {"attn.qkv.bias", "self_attn.q_proj.bias", "self_attn.k_proj.bias", "self_attn.v_proj.bias"},
        {"attn.sinks", "self_attn.sinks", NULL, NULL},
        {"attn.out.weight", "self_attn.o_proj.weight", NULL, NULL},
        {"attn.out.bias", "self_attn.o_proj.bias", NULL, NULL},
        {"mlp.norm.scale", "post_attention_layernorm.weight", NULL, NULL},
        {"mlp.gate.weight", "mlp.router.weight", NULL, NULL},
        {"mlp.gate.bias", "mlp.router.bias", NULL, NULL},
        {"mlp.mlp1_weight.blocks", "mlp.experts.gate_up_proj_blocks", NULL, NULL},
        {"mlp.mlp1_weight.scales", "mlp.experts.gate_up_proj_scales", NULL, NULL},
        {"mlp.mlp1_bias", "mlp.experts.gate_up_proj_bias", NULL, NULL},
        {"mlp.mlp2_weight.blocks", "mlp.experts.down_proj_blocks", NULL, NULL},
        {"mlp.mlp2_weight.scales", "mlp.experts.down_proj_scales", NULL, NULL},
        {"mlp.mlp2_bias", "mlp.experts.down_proj_bias", NULL, NULL},
    };
    int same = 1;
    for (unsigned n = 0; n < 4; n++)
        for (size_t k = 0; k < sizeof pairs / sizeof pairs[0]; k++) {
            char on[128], hn[128];
            uint64_t olen, hlen, at = 0;
            snprintf(on, sizeof on, "block.%u.%s", n, pairs[k][0]);
            const unsigned char *op = st_tensor(&og, on, &olen, NULL);
            if (!op) { same = 0; continue; }
            for (int j = 1; j < 4 && pairs[k][j]; j++) {
                snprintf(hn, sizeof hn, "model.layers.%u.%s", n, pairs[k][j]);
                const unsigned char *hp = st_tensor(&hf, hn, &hlen, NULL);
                if (!hp || at + hlen > olen || memcmp(op + at, hp, hlen)) same = 0;
                at += hlen;
            }
            if (at != olen) same = 0;
        }
    static const char *top[][2] = {{"embedding.weight", "model.embed_tokens.weight"},
                                   {"unembedding.weight", "lm_head.weight"},
                                   {"norm.scale", "model.norm.weight"}};
    for (size_t k = 0; k < 3; k++) {
        uint64_t l1, l2;
        const unsigned char *p1 = st_tensor(&og, top[k][0], &l1, NULL), *p2 = st_tensor(&hf, top[k][1], &l2, NULL);
        if (!p1 || !p2 || l1 != l2 || memcmp(p1, p2, l1)) same = 0;
    }
    tap_check(same, "original and HF layouts hold identical bytes (qkv = q|k|v rows)");

    /* Values: finite, at the documented scales. */
    double m = 0, sd = 0;
    uint64_t nb;
    const unsigned char *p = st_tensor(&hf, "model.embed_tokens.weight", &nb, NULL);
    int fin = p && bf16_stats(p, nb, &m, &sd);
    tap_check(fin && fabs(m) < 0.05 && fabs(sd - 1) < 0.05, "embedding ~ N(0,1): mean %.3f std %.3f", m, sd);
    p = st_tensor(&hf, "model.layers.0.self_attn.q_proj.weight", &nb, NULL);
    fin = p && bf16_stats(p, nb, &m, &sd);
    tap_check(fin && fabs(sd * sqrt(64.0) - 1) < 0.1, "q_proj std 1/sqrt(D): %.4f", sd);
    p = st_tensor(&hf, "lm_head.weight", &nb, NULL);
    fin = p && bf16_stats(p, nb, &m, &sd);
    tap_check(fin && fabs(sd * sqrt(64.0) - 2) < 0.1, "lm_head std 2/sqrt(D): %.4f", sd);
    int gains_ok = 1;
    p = st_tensor(&hf, "model.layers.2.post_attention_layernorm.weight", &nb, NULL);
    for (uint64_t i = 0; p && i < nb / 2; i++) gains_ok &= bf16_at(p, i) >= 0.89 && bf16_at(p, i) <= 1.11;
    tap_check(p && gains_ok, "norm gains in [0.9, 1.1]");
    int finite = 1;
    for (size_t i = 0; i < hf.root->n; i++) {
        const char *dt;
        const unsigned char *q = st_tensor(&hf, hf.root->members[i].key, &nb, &dt);
        if (q && dt && !strcmp(dt, "BF16")) finite &= bf16_stats(q, nb, &m, &sd);
    }
    tap_check(finite, "every BF16 value is finite");

    /* MXFP4: effective weight std of mlp1 within a factor 2 of 2/sqrt(D) (scale steps are 2x). */
    static const float fp4[16] = {0, .5f, 1, 1.5f, 2, 3, 4, 6, -0.f, -.5f, -1, -1.5f, -2, -3, -4, -6};
    uint64_t bl, sl;
    const unsigned char *blk = st_tensor(&hf, "model.layers.1.mlp.experts.gate_up_proj_blocks", &bl, NULL);
    const unsigned char *scl = st_tensor(&hf, "model.layers.1.mlp.experts.gate_up_proj_scales", &sl, NULL);
    if (tap_check(blk && scl && bl == 16 * sl, "MXFP4 blocks/scales sizes agree")) {
        double s2 = 0;
        int smin = 255, smax = 0;
        for (uint64_t b = 0; b < sl; b++) {
            double sc = ldexp(1.0, scl[b] - 127);
            if (scl[b] < smin) smin = scl[b];
            if (scl[b] > smax) smax = scl[b];
            for (int j = 0; j < 16; j++) {
                double lo = fp4[blk[16 * b + j] & 15] * sc, hi = fp4[blk[16 * b + j] >> 4] * sc;
                s2 += lo * lo + hi * hi;
            }
        }
        double eff = sqrt(s2 / (32.0 * sl)), target = 2 / sqrt(64.0);
        tap_check(eff > target / 2 && eff < target * 2 && smax - smin == 2, "mlp1 effective std %.4f (target %.4f), scales %d..%d",
                  eff, target, smin, smax);
    }
    st_close(&hf);
    st_close(&og);

    /* Determinism. */
    char *b = strdup(path_in(tmpdir, "synth_b"));
    int written = tap_check(synth(b, &o, err, sizeof err) == GPTOSS_OK, "second write (%s)", err);
    const char *files[] = {"model.safetensors", "config.json", "generation_config.json", "original/model.safetensors",
                           "original/config.json", "original/dtypes.json"};
    int eq = written;
    for (size_t i = 0; i < 6; i++) eq &= files_equal(path_in(a, files[i]), path_in(b, files[i]));
    tap_check(eq, "same options and seed: identical files");
    o.seed = 8;
    written = tap_check(synth(b, &o, err, sizeof err) == GPTOSS_OK, "write with another seed");
    tap_check(written && files_compare(path_in(a, "model.safetensors"), path_in(b, "model.safetensors")) == 1 &&
                  files_equal(path_in(a, "config.json"), path_in(b, "config.json")),
              "another seed: other weights, same config");
    free(a);
    free(b);
}

static void test_shards(void) {
    char err[512] = "";
    char *one = strdup(path_in(tmpdir, "synth_one")), *sh = strdup(path_in(tmpdir, "synth_sh"));
    gptoss_synth_options o;
    memset(&o, 0, sizeof o);
    o.seed = 3;
    o.n_layers = 3;
    tap_check(synth(one, &o, err, sizeof err) == GPTOSS_OK, "single file (%s)", err);
    tap_check(synth(sh, &o, err, sizeof err) == GPTOSS_OK, "single file into the dir that will be sharded");
    o.n_shards = 4;
    tap_check(synth(sh, &o, err, sizeof err) == GPTOSS_OK, "4 shards (%s)", err);
    tap_check(!exists(path_in(sh, "model.safetensors")), "stale model.safetensors removed");

    char *idx = NULL;
    size_t len;
    json_doc *doc = NULL;
    if (gptoss_read_file(path_in(sh, "model.safetensors.index.json"), 1 << 20, &idx, &len, err, sizeof err) == GPTOSS_OK)
        doc = json_parse(idx, len, err, sizeof err);
    if (!tap_check(doc != NULL, "index parses (%s)", err)) {
        free(idx);
        free(one);
        free(sh);
        return;
    }
    const json_value *map = json_get(json_root(doc), "weight_map");
    uint64_t total = 0;
    json_get_uint(json_get(json_root(doc), "metadata"), "total_size", &total);
    stfile ref;
    st_open(&ref, path_in(one, "model.safetensors"));
    stfile shards[4];
    uint64_t sum = 0;
    int ok = map && map->type == JSON_OBJECT && map->n == 3 + 19 * 3;
    for (unsigned k = 0; k < 4; k++) {
        char name[64];
        snprintf(name, sizeof name, "model-%05u-of-00003.safetensors", k);
        ok &= st_open(&shards[k], path_in(sh, name));
        int n = check_layout(&shards[k], name);
        ok &= n > 0;
        sum += shards[k].len - 8 - shards[k].hlen;
        /* Every tensor of the shard is in the index under this shard's name. */
        for (size_t i = 0; i < shards[k].root->n; i++) {
            const char *key = shards[k].root->members[i].key;
            if (!strcmp(key, "__metadata__")) continue;
            const char *where = json_get_string(map, key);
            ok &= where && !strcmp(where, name);
        }
    }
    ok &= sum == total;
    tap_check(ok, "4 non-empty shards named 00000..00003-of-00003, index total_size %llu = data bytes", (unsigned long long)total);
    /* Every indexed tensor is in its shard with the bytes of the single-file checkpoint. */
    int same = map != NULL;
    int monotone = 1, last = 0;
    for (size_t i = 0; map && i < map->n; i++) {
        const char *where = map->members[i].value.str;
        int k = where ? atoi(where + 6) : -1;
        if (k < 0 || k > 3) { same = 0; continue; }
        monotone &= k >= last;
        last = k;
        uint64_t l1, l2;
        const unsigned char *p1 = st_tensor(&shards[k], map->members[i].key, &l1, NULL);
        const unsigned char *p2 = st_tensor(&ref, map->members[i].key, &l2, NULL);
        same &= p1 && p2 && l1 == l2 && !memcmp(p1, p2, l1);
    }
    tap_check(same && monotone, "sharded tensors equal the single-file ones; shards follow module order");
    for (unsigned k = 0; k < 4; k++) st_close(&shards[k]);
    st_close(&ref);
    json_free(doc);
    free(idx);

    o.n_shards = 2;
    tap_check(synth(sh, &o, err, sizeof err) == GPTOSS_OK, "rewrite with 2 shards");
    tap_check(!exists(path_in(sh, "model-00003-of-00003.safetensors")) && exists(path_in(sh, "model-00001-of-00001.safetensors")),
              "shards of the old count removed");
    o.n_shards = 1;
    tap_check(synth(sh, &o, err, sizeof err) == GPTOSS_OK && !exists(path_in(sh, "model.safetensors.index.json")) &&
                  !exists(path_in(sh, "model-00000-of-00001.safetensors")) &&
                  files_equal(path_in(sh, "model.safetensors"), path_in(one, "model.safetensors")),
              "back to one file: index and shards removed, same bytes");
    free(one);
    free(sh);
}

static void test_f32_norms(void) {
    char err[512] = "";
    char *d = strdup(path_in(tmpdir, "synth_f32"));
    gptoss_synth_options o;
    memset(&o, 0, sizeof o);
    o.f32_norms = 1;
    o.write_original = 1;
    o.n_layers = 2;
    tap_check(synth(d, &o, err, sizeof err) == GPTOSS_OK, "f32 norms (%s)", err);
    stfile f, g;
    if (st_open(&f, path_in(d, "model.safetensors")) && st_open(&g, path_in(d, "original/model.safetensors"))) {
        check_layout(&f, "HF f32");
        check_layout(&g, "original f32");
        const char *dt1 = NULL, *dt2 = NULL, *dt3 = NULL;
        uint64_t n1, n2, n3;
        const unsigned char *p = st_tensor(&f, "model.layers.1.input_layernorm.weight", &n1, &dt1);
        st_tensor(&f, "model.layers.0.self_attn.sinks", &n2, &dt2);
        st_tensor(&g, "norm.scale", &n3, &dt3);
        int ok = p && dt1 && dt2 && dt3 && !strcmp(dt1, "F32") && !strcmp(dt2, "F32") && !strcmp(dt3, "F32") && n1 == 64 * 4;
        for (uint64_t i = 0; p && i < n1 / 4; i++) {
            float x;
            memcpy(&x, p + 4 * i, 4);
            ok &= x >= 0.9f && x <= 1.1f;
        }
        tap_check(ok, "norms and sinks are F32 with gains in [0.9, 1.1]");
    } else {
        tap_check(0, "f32 files parse");
    }
    st_close(&f);
    st_close(&g);
    free(d);
}

static void test_presets(void) {
    char err[512] = "";
    gptoss_synth_options o;
    gptoss_synth_plan p;
    memset(&o, 0, sizeof o);
    o.preset = GPTOSS_SYNTH_20B;
    gptoss_status st = gptoss_synth_resolve(&o, &p, err, sizeof err);
    tap_check(st == GPTOSS_OK && p.n_params == 20914757184ull &&
                  p.n_tensor_bytes == 13761264768ull && p.config.n_layers == 24 && p.config.n_experts == 32 &&
                  p.config.vocab_size == 201088 && p.config.sliding_window == 128 && p.config.max_context == 131072,
              "20b: 20,914,757,184 parameters, 13,761,264,768 tensor bytes (spec 1.4): %llu, %llu",
              (unsigned long long)p.n_params, (unsigned long long)p.n_tensor_bytes);
    o.preset = GPTOSS_SYNTH_120B;
    st = gptoss_synth_resolve(&o, &p, err, sizeof err);
    tap_check(st == GPTOSS_OK && p.n_params == 116829156672ull &&
                  p.n_tensor_bytes == 65248815744ull && p.config.n_layers == 36 && p.config.n_experts == 128,
              "120b: 116,829,156,672 parameters, 65,248,815,744 tensor bytes: %llu, %llu",
              (unsigned long long)p.n_params, (unsigned long long)p.n_tensor_bytes);
    o.n_shards = 15;
    o.write_original = 1;
    st = gptoss_synth_resolve(&o, &p, err, sizeof err);
    tap_check(st == GPTOSS_OK && p.n_files == 15 + 1 + 2 + 1 + 2 &&
                  p.n_file_bytes > 2 * p.n_tensor_bytes,
              "120b, 15 shards + original: %u files, %llu bytes", p.n_files, (unsigned long long)p.n_file_bytes);
    memset(&o, 0, sizeof o);
    o.preset = GPTOSS_SYNTH_20B;
    o.vocab_size = 1000;
    o.n_layers = 2;
    tap_check(gptoss_synth_resolve(&o, &p, err, sizeof err) == GPTOSS_OK && p.config.vocab_size == 1000 &&
                  p.config.n_layers == 2 && p.config.hidden_size == 2880,
              "shape fields override a preset");
    tap_check(gptoss_synth_resolve(NULL, &p, err, sizeof err) == GPTOSS_OK && p.config.n_layers == 4,
              "NULL options = tiny");
}

static void expect_error(gptoss_synth_options o, gptoss_status want, const char *needle, const char *what) {
    char err[512] = "";
    gptoss_synth_plan p;
    gptoss_status st = gptoss_synth_resolve(&o, &p, err, sizeof err);
    tap_check(st == want && strstr(err, needle) && !strchr(err, '\n'), "rejects %s: \"%s\"", what, err);
}

static void test_validation(void) {
    gptoss_synth_options o;
    memset(&o, 0, sizeof o);
    o.hidden_size = 48;
    expect_error(o, GPTOSS_ERR_INVALID_ARGUMENT, "multiples of 32", "hidden 48");
    memset(&o, 0, sizeof o);
    o.n_heads = 5;
    expect_error(o, GPTOSS_ERR_INVALID_ARGUMENT, "kv heads", "5 heads over 2 kv heads");
    memset(&o, 0, sizeof o);
    o.n_experts_per_token = 9;
    expect_error(o, GPTOSS_ERR_INVALID_ARGUMENT, "experts per token", "top-9 of 8");
    memset(&o, 0, sizeof o);
    o.head_dim = 4;
    expect_error(o, GPTOSS_ERR_INVALID_ARGUMENT, "YaRN", "head dim 4 (YaRN range)");
    memset(&o, 0, sizeof o);
    o.head_dim = 15;
    expect_error(o, GPTOSS_ERR_INVALID_ARGUMENT, "even", "odd head dim");
    memset(&o, 0, sizeof o);
    o.n_shards = 1000;
    expect_error(o, GPTOSS_ERR_INVALID_ARGUMENT, "shards", "more shards than tensors");
    memset(&o, 0, sizeof o);
    o.rope_theta = -1;
    expect_error(o, GPTOSS_ERR_INVALID_ARGUMENT, "rope_theta", "negative rope theta");
    memset(&o, 0, sizeof o);
    o.preset = (gptoss_synth_preset)7;
    expect_error(o, GPTOSS_ERR_INVALID_ARGUMENT, "preset", "unknown preset");
    memset(&o, 0, sizeof o);
    o.n_heads = 0xffffffffu;
    o.n_kv_heads = 1;
    o.head_dim = 0x80000000u;
    o.hidden_size = 0xffffffe0u;
    expect_error(o, GPTOSS_ERR_INVALID_ARGUMENT, "overflow", "sizes that overflow");

    char err[512] = "";
    memset(&o, 0, sizeof o);
    tap_check(gptoss_synth_write("/proc/gptoss-synth-test", &o, err, sizeof err) == GPTOSS_ERR_IO &&
                  strstr(err, "/proc/gptoss-synth-test"),
              "unwritable directory: i/o error naming the path: \"%s\"", err);
    tap_check(gptoss_synth_write(NULL, &o, err, sizeof err) == GPTOSS_ERR_INVALID_ARGUMENT, "NULL directory");
}

/* With the shared goldens at hand: the same shape gives byte-identical JSON files and safetensors
 * headers (names, dtypes, shapes, offsets, padding): the writer lays files out as the reference. */
static void test_goldens(void) {
    char gdir[4096];
    if (!tap_shared_path("goldens: JSON files and headers byte-identical", "golden/g1-default/model", gdir, sizeof gdir))
        return;
    char err[512] = "";
    char *d = strdup(path_in(tmpdir, "synth_g1"));
    gptoss_synth_options o = g1_synth_options();
    tap_check(synth(d, &o, err, sizeof err) == GPTOSS_OK, "g1 shape written (%s)", err);
    const char *js[] = {"config.json", "original/config.json", "original/dtypes.json"};
    for (int i = 0; i < 3; i++)
        tap_check(files_equal(path_in(d, js[i]), path_in(gdir, js[i])), "g1 %s byte-identical to the golden", js[i]);
    const char *st[] = {"model.safetensors", "original/model.safetensors"};
    for (int i = 0; i < 2; i++) {
        stfile a, b;
        int ok = st_open(&a, path_in(d, st[i])) && st_open(&b, path_in(gdir, st[i])) && a.hlen == b.hlen &&
                 a.len == b.len && !memcmp(a.data, b.data, 8 + a.hlen);
        tap_check(ok, "g1 %s header byte-identical to the golden", st[i]);
        st_close(&a);
        st_close(&b);
    }
    free(d);
}

static uint64_t progress_done, progress_total;
static int progress_calls;
static void on_progress(void *ctx, uint64_t done, uint64_t total) {
    (void)ctx;
    progress_done = done;
    progress_total = total;
    progress_calls++;
}

static void test_progress(void) {
    char err[512] = "";
    gptoss_synth_options o;
    memset(&o, 0, sizeof o);
    o.progress = on_progress;
    o.n_shards = 2;
    char *d = strdup(path_in(tmpdir, "synth_progress"));
    gptoss_status st = synth(d, &o, err, sizeof err);
    tap_check(st == GPTOSS_OK && progress_calls >= 1 && progress_done == progress_total &&
                  progress_total > 0,
              "progress reaches the total (%llu)", (unsigned long long)progress_total);
    free(d);
}

/* The writer on its own: declared order does not matter, duplicates and short writes are errors. */
static void test_writer(void) {
    char err[512] = "";
    gptoss_stw w;
    gptoss_stw_init(&w);
    uint64_t s1[] = {3}, s2[] = {2, 2};
    int ok = gptoss_stw_add(&w, "b", "U8", 1, s1, 0, err, sizeof err) == GPTOSS_OK &&
             gptoss_stw_add(&w, "a", "U8", 1, s1, 1, err, sizeof err) == GPTOSS_OK &&
             gptoss_stw_add(&w, "z", "F32", 2, s2, 2, err, sizeof err) == GPTOSS_OK &&
             gptoss_stw_add(&w, "scalar", "BF16", 0, NULL, 3, err, sizeof err) == GPTOSS_OK &&
             gptoss_stw_layout(&w, NULL, err, sizeof err) == GPTOSS_OK;
    ok &= w.n == 4 && !strcmp(w.entries[0].name, "z") && !strcmp(w.entries[1].name, "scalar") &&
          !strcmp(w.entries[2].name, "a") && w.entries[3].begin == 16 + 2 + 3 && w.data_bytes == 24;
    char *path = strdup(path_in(tmpdir, "stw.safetensors"));
    unlink(path);
    ok &= gptoss_stw_open(&w, path, 64, err, sizeof err) == GPTOSS_OK;
    unsigned char data[24];
    for (int i = 0; i < 24; i++) data[i] = (unsigned char)i;
    ok &= gptoss_stw_write(&w, data, 23, err, sizeof err) == GPTOSS_OK;
    ok &= gptoss_stw_close(&w, err, sizeof err) == GPTOSS_ERR_INTERNAL && !exists(path);
    tap_check(ok, "short data is refused at close and leaves no file: \"%s\"", err);
    ok = gptoss_stw_write(&w, data + 23, 1, err, sizeof err) == GPTOSS_OK;
    ok &= gptoss_stw_write(&w, data, 1, err, sizeof err) == GPTOSS_ERR_INTERNAL;
    ok &= gptoss_stw_close(&w, err, sizeof err) == GPTOSS_OK;
    gptoss_stw_free(&w);
    stfile f;
    ok &= st_open(&f, path) && check_layout(&f, "writer") == 4;
    uint64_t n;
    const unsigned char *p = st_tensor(&f, "scalar", &n, NULL);
    ok &= p && n == 2 && p[0] == 16 && p[1] == 17;
    st_close(&f);
    tap_check(ok, "writer: sorted by width then name, scalars, excess data refused, file readable");

    gptoss_stw_init(&w);
    ok = gptoss_stw_add(&w, "x", "U8", 1, s1, 0, err, sizeof err) == GPTOSS_OK &&
         gptoss_stw_add(&w, "x", "U8", 1, s1, 0, err, sizeof err) == GPTOSS_OK &&
         gptoss_stw_layout(&w, NULL, err, sizeof err) == GPTOSS_ERR_INVALID_ARGUMENT && strstr(err, "twice");
    gptoss_stw_free(&w);
    gptoss_stw_init(&w);
    uint64_t huge[] = {UINT64_MAX / 2, 3};
    ok &= gptoss_stw_add(&w, "h", "BF16", 2, huge, 0, err, sizeof err) == GPTOSS_ERR_INVALID_ARGUMENT &&
          gptoss_stw_add(&w, "q", "Q4_K", 1, s1, 0, err, sizeof err) == GPTOSS_ERR_INVALID_ARGUMENT;
    gptoss_stw_free(&w);
    tap_check(ok, "writer: duplicate names, overflowing shapes and unknown dtypes are errors");
    free(path);
}

int main(void) {
    const char *t = getenv("GPTOSS_TMP");
    snprintf(tmpdir, sizeof tmpdir, "%s/test_synth", t && *t ? t : "/tmp");
    if (mkdir(tmpdir, 0755) != 0 && !exists(tmpdir)) {
        tap_check(0, "temporary directory %s", tmpdir);
        return tap_exit();
    }
    test_writer();
    test_tiny_layouts();
    test_shards();
    test_f32_norms();
    test_presets();
    test_validation();
    test_goldens();
    test_progress();
    return tap_exit();
}
