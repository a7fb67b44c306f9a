/* model.c: finding a checkpoint on disk (Hugging Face layout, original/, Hugging Face cache folders),
 * mapping it, and binding every tensor to the model by name with its dtype and shape checked
 * against config.json. Weights stay in the mapping; only small vectors are widened to f32. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/threadpool.h"
#include "cpu/simd.h"
#include "format/gguf.h"
#include "format/json.h"
#include "model/model.h"

static int is_dir(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int is_file(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* ---- directory resolution ---------------------------------------------------------------- */

static int has_suffix(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcmp(s + a - b, suf);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void free_list(char **v, size_t n) {
    for (size_t i = 0; i < n; i++) free(v[i]);
    free(v);
}

/* Appends dir/name to a list of paths; 0 when out of memory (the list is unchanged). */
static int list_push(char ***v, size_t *n, const char *dir, const char *name) {
    char *p = gptoss_path_join(dir, name);
    char **nv = p ? realloc(*v, (*n + 1) * sizeof **v) : NULL;
    if (!nv) {
        free(p);
        return 0;
    }
    *v = nv;
    nv[(*n)++] = p;
    return 1;
}

/* Sorted list of *.safetensors in dir. */
static gptoss_status list_safetensors(const char *dir, char ***out, size_t *n_out, char *err, size_t err_size) {
    *out = NULL;
    *n_out = 0;
    DIR *d = opendir(dir);
    if (!d) return gptoss_fail(GPTOSS_ERR_IO, err, err_size, "%s: %s", dir, strerror(errno));
    char **v = NULL;
    size_t n = 0;
    struct dirent *e;
    gptoss_status st = GPTOSS_OK;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' || !has_suffix(e->d_name, ".safetensors")) continue;
        if (!list_push(&v, &n, dir, e->d_name)) {
            st = gptoss_fail(GPTOSS_ERR_NO_MEMORY, err, err_size, "out of memory");
            break;
        }
    }
    closedir(d);
    if (st != GPTOSS_OK) {
        free_list(v, n);
        return st;
    }
    if (n > 1) qsort(v, n, sizeof *v, cmp_str);
    *out = v;
    *n_out = n;
    return GPTOSS_OK;
}

/* Shard files named by model.safetensors.index.json's weight_map, in first-seen order. */
static gptoss_status list_index_shards(const char *dir, const char *index_path, char ***out, size_t *n_out,
                                       char *err, size_t err_size) {
    char *text;
    size_t len;
    *out = NULL;
    *n_out = 0;
    gptoss_status st = gptoss_read_file(index_path, 64u << 20, &text, &len, err, err_size);
    if (st != GPTOSS_OK) return st;
    char jerr[256];
    json_doc *doc = json_parse(text, len, jerr, sizeof jerr);
    free(text);
    if (!doc) return gptoss_fail(GPTOSS_ERR_FORMAT, err, err_size, "%s: %s", index_path, jerr);
    const json_value *wm = json_get(json_root(doc), "weight_map");
    if (!wm || wm->type != JSON_OBJECT || wm->n == 0) {
        json_free(doc);
        return gptoss_fail(GPTOSS_ERR_FORMAT, err, err_size, "%s: missing or empty \"weight_map\" object", index_path);
    }
    char **v = NULL;
    size_t n = 0;
    for (size_t i = 0; i < wm->n && st == GPTOSS_OK; i++) {
        const json_value *f = &wm->members[i].value;
        if (f->type != JSON_STRING || f->len == 0 || strchr(f->str, '/') || !strcmp(f->str, "..") ||
            memchr(f->str, 0, f->len)) {
            st = gptoss_fail(GPTOSS_ERR_FORMAT, err, err_size, "%s: weight_map entry for '%.200s' is not a file name",
                             index_path, wm->members[i].key);
            break;
        }
        int seen = 0;
        for (size_t k = 0; k < n && !seen; k++) seen = !strcmp(strrchr(v[k], '/') + 1, f->str);
        if (seen) continue;
        if (!list_push(&v, &n, dir, f->str)) {
            st = gptoss_fail(GPTOSS_ERR_NO_MEMORY, err, err_size, "out of memory");
            break;
        }
    }
    json_free(doc);
    if (st != GPTOSS_OK) {
        free_list(v, n);
        return st;
    }
    *out = v;
    *n_out = n;
    return GPTOSS_OK;
}

/* Hugging Face cache: models--org--name/{refs/main, snapshots/<hash>/}. Returns a malloc'd
 * snapshot directory, or NULL when `dir` is not such a folder. */
static char *resolve_hf_cache(const char *dir) {
    char *snaps = gptoss_path_join(dir, "snapshots");
    if (!snaps || !is_dir(snaps)) {
        free(snaps);
        return NULL;
    }
    char *ref_path = gptoss_path_join(dir, "refs/main");
    char *result = NULL;
    char *text;
    size_t len;
    char err[8];
    if (ref_path && gptoss_read_file(ref_path, 4096, &text, &len, err, sizeof err) == GPTOSS_OK) {
        while (len && (text[len - 1] == '\n' || text[len - 1] == '\r' || text[len - 1] == ' ')) text[--len] = 0;
        if (len && !strchr(text, '/')) {
            char *cand = gptoss_path_join(snaps, text);
            if (cand && is_dir(cand)) result = cand;
            else free(cand);
        }
        free(text);
    }
    free(ref_path);
    if (!result) {
        /* Without refs/main, a single snapshot is unambiguous. */
        DIR *d = opendir(snaps);
        char *only = NULL;
        int count = 0;
        struct dirent *e;
        while (d && (e = readdir(d))) {
            if (e->d_name[0] == '.') continue;
            count++;
            free(only);
            only = gptoss_path_join(snaps, e->d_name);
        }
        if (d) closedir(d);
        if (count == 1) result = only;
        else free(only);
    }
    free(snaps);
    return result;
}

/* ---- tensor binding ---------------------------------------------------------------------- */

typedef struct binder {
    gptoss_model *m;
    char *err;
    size_t err_size;
    gptoss_status st;
} binder;

static const gptoss_st_tensor *need(binder *b, const char *name, int want_u8, uint32_t n_dims,
                                    const uint64_t *shape) {
    if (b->st != GPTOSS_OK) return NULL;
    const gptoss_st_tensor *t = gptoss_st_find(&b->m->st, name);
    if (!t) {
        b->st = gptoss_fail(GPTOSS_ERR_FORMAT, b->err, b->err_size, "%s: tensor '%s' is missing from the checkpoint",
                            b->m->dir, name);
        return NULL;
    }
    const char *file = b->m->st.files[t->file_index].path;
    int ok_dtype = want_u8 ? t->dtype == GPTOSS_DTYPE_U8
                           : (t->dtype == GPTOSS_DTYPE_BF16 || t->dtype == GPTOSS_DTYPE_F32 || t->dtype == GPTOSS_DTYPE_F16);
    if (!ok_dtype) {
        b->st = gptoss_fail(GPTOSS_ERR_FORMAT, b->err, b->err_size, "%s: tensor '%s' has dtype %s, expected %s", file,
                            name, t->dtype_name, want_u8 ? "U8" : "BF16, F16 or F32");
        return NULL;
    }
    int ok_shape = t->n_dims == n_dims;
    for (uint32_t i = 0; ok_shape && i < n_dims; i++) ok_shape = t->shape[i] == shape[i];
    if (!ok_shape) {
        char have[160] = "", want[160] = "";
        for (uint32_t i = 0; i < t->n_dims; i++)
            snprintf(have + strlen(have), sizeof have - strlen(have), "%s%llu", i ? ", " : "",
                     (unsigned long long)t->shape[i]);
        for (uint32_t i = 0; i < n_dims; i++)
            snprintf(want + strlen(want), sizeof want - strlen(want), "%s%llu", i ? ", " : "",
                     (unsigned long long)shape[i]);
        b->st = gptoss_fail(GPTOSS_ERR_FORMAT, b->err, b->err_size,
                            "%s: tensor '%s' has shape [%s] but config.json implies [%s]", file, name, have, want);
        return NULL;
    }
    return t;
}

static gptoss_mat bind_mat(binder *b, const char *name, uint64_t rows, uint64_t cols) {
    gptoss_mat m = {0};
    uint64_t shape[2] = {rows, cols};
    const gptoss_st_tensor *t = need(b, name, 0, cols ? 2 : 1, cols ? shape : &rows);
    if (t) {
        m.data = t->data;
        m.dtype = t->dtype;
        m.rows = rows;
        m.cols = cols ? cols : 1;
    }
    return m;
}

gptoss_mat gptoss_mat_rows(gptoss_mat m, uint64_t r0, uint64_t n) {
    gptoss_mat s = m;
    if (m.data) s.data = (const char *)m.data + r0 * gptoss_row_bytes(m.dtype, m.cols);
    s.rows = n;
    return s;
}

/* Small vectors are widened into m->small at offset *cursor. With m->small NULL (the first,
 * validating pass) only the tensor is checked. */
static float *take_small(binder *b, uint64_t *cursor, const char *name, uint64_t n, uint64_t offset) {
    float *dst = b->m->small ? b->m->small + *cursor : NULL;
    *cursor += n;
    if (b->st != GPTOSS_OK) return dst;
    const gptoss_st_tensor *t = gptoss_st_find(&b->m->st, name);
    uint64_t total = t ? t->n_elements : 0;
    if (!need(b, name, 0, t ? t->n_dims : 1, t ? t->shape : &total)) return dst;
    if (offset + n > total) {
        b->st = gptoss_fail(GPTOSS_ERR_FORMAT, b->err, b->err_size, "%s: tensor '%s' has %llu elements, expected %llu",
                            b->m->st.files[t->file_index].path, name, (unsigned long long)total,
                            (unsigned long long)(offset + n));
        return dst;
    }
    if (dst) gptoss_to_f32(dst, t->data, t->dtype, offset, (size_t)n);
    return dst;
}

/* Small vectors must be 1-D with exactly n elements. */
static float *take_vec(binder *b, uint64_t *cursor, const char *name, uint64_t n) {
    uint64_t shape[1] = {n};
    if (b->st == GPTOSS_OK && !need(b, name, 0, 1, shape)) {
        *cursor += n;
        return NULL;
    }
    return take_small(b, cursor, name, n, 0);
}

static gptoss_mxfp4 bind_mxfp4(binder *b, const char *blocks_name, const char *scales_name, uint64_t E,
                               uint64_t rows, uint64_t cols) {
    gptoss_mxfp4 x = {0};
    uint64_t sb[4] = {E, rows, cols / 32, 16}, ss[3] = {E, rows, cols / 32};
    const gptoss_st_tensor *tb = need(b, blocks_name, 1, 4, sb);
    const gptoss_st_tensor *ts = need(b, scales_name, 1, 3, ss);
    if (tb && ts) {
        x.blocks = tb->data;
        x.scales = ts->data;
        x.n_experts = E;
        x.rows = rows;
        x.cols = cols;
    }
    return x;
}

static void bind_weights(binder *b, const int *sliding, uint64_t *n_small_out) {
    gptoss_model *m = b->m;
    const gptoss_model_config *c = &m->config;
    uint64_t D = c->hidden_size, I = c->intermediate_size, E = c->n_experts, V = c->vocab_size;
    uint64_t QW = (uint64_t)c->n_heads * c->head_dim, KW = (uint64_t)c->n_kv_heads * c->head_dim;
    uint64_t cur = 0;
    char name[256];
    const int orig = m->layout_original;
#define NAME(...) (snprintf(name, sizeof name, __VA_ARGS__), name)
    m->embedding = bind_mat(b, orig ? "embedding.weight" : "model.embed_tokens.weight", V, D);
    m->unembedding = bind_mat(b, orig ? "unembedding.weight" : "lm_head.weight", V, D);
    m->final_norm = take_vec(b, &cur, orig ? "norm.scale" : "model.norm.weight", D);
    for (uint32_t l = 0; l < c->n_layers && b->st == GPTOSS_OK; l++) {
        gptoss_layer *L = &m->layers[l];
        L->sliding = sliding[l];
        if (orig) {
            L->attn_norm = take_vec(b, &cur, NAME("block.%u.attn.norm.scale", l), D);
            L->mlp_norm = take_vec(b, &cur, NAME("block.%u.mlp.norm.scale", l), D);
            L->sinks = take_vec(b, &cur, NAME("block.%u.attn.sinks", l), c->n_heads);
            gptoss_mat qkv = bind_mat(b, NAME("block.%u.attn.qkv.weight", l), QW + 2 * KW, D);
            L->wq = gptoss_mat_rows(qkv, 0, QW);
            L->wk = gptoss_mat_rows(qkv, QW, KW);
            L->wv = gptoss_mat_rows(qkv, QW + KW, KW);
            uint64_t shape[1] = {QW + 2 * KW};
            if (need(b, NAME("block.%u.attn.qkv.bias", l), 0, 1, shape)) {
                L->q_bias = take_small(b, &cur, name, QW, 0);
                L->k_bias = take_small(b, &cur, name, KW, QW);
                L->v_bias = take_small(b, &cur, name, KW, QW + KW);
            }
            L->wo = bind_mat(b, NAME("block.%u.attn.out.weight", l), D, QW);
            L->o_bias = take_vec(b, &cur, NAME("block.%u.attn.out.bias", l), D);
            L->router = bind_mat(b, NAME("block.%u.mlp.gate.weight", l), E, D);
            L->router_bias = take_vec(b, &cur, NAME("block.%u.mlp.gate.bias", l), E);
            char n2[256];
            snprintf(n2, sizeof n2, "block.%u.mlp.mlp1_weight.scales", l);
            L->mlp1 = bind_mxfp4(b, NAME("block.%u.mlp.mlp1_weight.blocks", l), n2, E, 2 * I, D);
            snprintf(n2, sizeof n2, "block.%u.mlp.mlp2_weight.scales", l);
            L->mlp2 = bind_mxfp4(b, NAME("block.%u.mlp.mlp2_weight.blocks", l), n2, E, D, I);
            L->mlp1_bias = bind_mat(b, NAME("block.%u.mlp.mlp1_bias", l), E, 2 * I);
            L->mlp2_bias = bind_mat(b, NAME("block.%u.mlp.mlp2_bias", l), E, D);
        } else {
            const char *p = "model.layers";
            L->attn_norm = take_vec(b, &cur, NAME("%s.%u.input_layernorm.weight", p, l), D);
            L->mlp_norm = take_vec(b, &cur, NAME("%s.%u.post_attention_layernorm.weight", p, l), D);
            L->sinks = take_vec(b, &cur, NAME("%s.%u.self_attn.sinks", p, l), c->n_heads);
            L->wq = bind_mat(b, NAME("%s.%u.self_attn.q_proj.weight", p, l), QW, D);
            L->q_bias = take_vec(b, &cur, NAME("%s.%u.self_attn.q_proj.bias", p, l), QW);
            L->wk = bind_mat(b, NAME("%s.%u.self_attn.k_proj.weight", p, l), KW, D);
            L->k_bias = take_vec(b, &cur, NAME("%s.%u.self_attn.k_proj.bias", p, l), KW);
            L->wv = bind_mat(b, NAME("%s.%u.self_attn.v_proj.weight", p, l), KW, D);
            L->v_bias = take_vec(b, &cur, NAME("%s.%u.self_attn.v_proj.bias", p, l), KW);
            L->wo = bind_mat(b, NAME("%s.%u.self_attn.o_proj.weight", p, l), D, QW);
            L->o_bias = take_vec(b, &cur, NAME("%s.%u.self_attn.o_proj.bias", p, l), D);
            L->router = bind_mat(b, NAME("%s.%u.mlp.router.weight", p, l), E, D);
            L->router_bias = take_vec(b, &cur, NAME("%s.%u.mlp.router.bias", p, l), E);
            char n2[256];
            snprintf(n2, sizeof n2, "%s.%u.mlp.experts.gate_up_proj_scales", p, l);
            L->mlp1 = bind_mxfp4(b, NAME("%s.%u.mlp.experts.gate_up_proj_blocks", p, l), n2, E, 2 * I, D);
            snprintf(n2, sizeof n2, "%s.%u.mlp.experts.down_proj_scales", p, l);
            L->mlp2 = bind_mxfp4(b, NAME("%s.%u.mlp.experts.down_proj_blocks", p, l), n2, E, D, I);
            L->mlp1_bias = bind_mat(b, NAME("%s.%u.mlp.experts.gate_up_proj_bias", p, l), E, 2 * I);
            L->mlp2_bias = bind_mat(b, NAME("%s.%u.mlp.experts.down_proj_bias", p, l), E, D);
        }
    }
#undef NAME
    *n_small_out = cur;
}

/* YaRN inverse frequencies and concentration, computed in the reference's precision: the
 * frequencies in f32, the correction range in double. */
void gptoss_model_init_rope(gptoss_model *m) {
    const gptoss_model_config *c = &m->config;
    uint32_t half = c->head_dim / 2;
    double d_half = half;
    float factor = c->rope_scaling_factor;
    if (factor > 1.0f) {
        m->rope_concentration = (float)(0.1 * log((double)factor) + 1.0);
        double base = c->rope_theta, ctx = c->initial_context_length;
        double low = d_half * log(ctx / (c->rope_ntk_beta * 2 * M_PI)) / log(base);
        double high = d_half * log(ctx / (c->rope_ntk_alpha * 2 * M_PI)) / log(base);
        float lowf = (float)low, span = (float)(high - low);
        for (uint32_t i = 0; i < half; i++) {
            float freq = powf(c->rope_theta, (float)(2 * i) / (float)c->head_dim);
            float extrap = 1.0f / freq, interp = 1.0f / (factor * freq);
            float ramp = span > 0 ? ((float)i - lowf) / span : ((float)i >= lowf ? 1.0f : 0.0f);
            ramp = ramp < 0 ? 0 : ramp > 1 ? 1 : ramp;
            float mask = 1.0f - ramp;
            m->rope_inv_freq[i] = interp * (1.0f - mask) + extrap * mask;
        }
    } else {
        m->rope_concentration = 1.0f;
        for (uint32_t i = 0; i < half; i++)
            m->rope_inv_freq[i] = 1.0f / powf(c->rope_theta, (float)(2 * i) / (float)c->head_dim);
    }
}

/* ---- load-time conversion of dense matrices to Q8_0 (the default unembedding, dense_q8) ---- */

typedef struct q8_job {
    gptoss_mat *mats[8];
    uint8_t *dst[8];
    uint32_t n, chunks[8];
    float *scratch; /* per thread: cols floats */
    size_t scratch_floats;
} q8_job;

#define Q8_ROWS 256u

static void q8_item(void *ctx, uint32_t item, uint32_t thread) {
    q8_job *j = ctx;
    uint32_t k = 0;
    while (item >= j->chunks[k]) item -= j->chunks[k++];
    const gptoss_mat *w = j->mats[k];
    const uint64_t rb = gptoss_row_bytes(GPTOSS_DTYPE_Q8_0, w->cols);
    const uint64_t r0 = (uint64_t)item * Q8_ROWS, r1 = r0 + Q8_ROWS < w->rows ? r0 + Q8_ROWS : w->rows;
    for (uint64_t r = r0; r < r1; r++)
        gptoss_quantize_mat_row_q8_0(j->dst[k] + r * rb, w, r, j->scratch + thread * j->scratch_floats);
}

void gptoss_model_advise_pages(const void *p, uint64_t n, int advice) {
    const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t a = ((uintptr_t)p + page - 1) & ~(page - 1), b = ((uintptr_t)p + n) & ~(page - 1);
    if (p && b > a) madvise((void *)a, b - a, advice);
}

static int q8_convertible(const gptoss_mat *w) {
    return w->data && w->cols % 32 == 0 &&
           (w->dtype == GPTOSS_DTYPE_BF16 || w->dtype == GPTOSS_DTYPE_F16 || w->dtype == GPTOSS_DTYPE_F32);
}

/* Converts list[0..n) to Q8_0 (one allocation, kept in m->q8; rows split over a thread pool) and
 * releases each matrix's mapped pages. Called once per model. */
static gptoss_status convert_q8(gptoss_model *m, gptoss_mat **list, size_t n, char *err, size_t err_size) {
    uint64_t total = 0, max_cols = 0;
    for (size_t i = 0; i < n; i++) {
        total += list[i]->rows * gptoss_row_bytes(GPTOSS_DTYPE_Q8_0, list[i]->cols);
        if (list[i]->cols > max_cols) max_cols = list[i]->cols;
    }
    if (!total) return GPTOSS_OK;
    gptoss_pool *pool = gptoss_pool_create(0);
    const uint32_t T = pool ? gptoss_pool_threads(pool) : 0;
    /* 2 MiB-aligned and marked for huge pages: decode streams these rows, and from 2 MiB pages
     * the Q8_0 kernel reads them ~15% faster than from 4 KiB ones (fewer TLB walks). */
    void *mem = NULL;
    uint8_t *buf = posix_memalign(&mem, (size_t)2 << 20, total) == 0 ? mem : NULL;
#ifdef MADV_HUGEPAGE /* Linux only: macOS has no transparent huge pages */
    if (buf) madvise(buf, total, MADV_HUGEPAGE);
#endif
    float *scratch = malloc((size_t)T * max_cols * sizeof(float) + 1);
    if (!buf || !scratch || !pool) {
        free(buf); free(scratch); gptoss_pool_free(pool);
        return gptoss_fail(GPTOSS_ERR_NO_MEMORY, err, err_size, "out of memory converting %llu bytes of weights to Q8_0",
                           (unsigned long long)total);
    }
    uint8_t *cur = buf;
    for (size_t i = 0; i < n; i += 8) {
        q8_job j = {.scratch = scratch, .scratch_floats = max_cols};
        uint32_t items = 0;
        for (; j.n < 8 && i + j.n < n; j.n++) {
            gptoss_mat *w = list[i + j.n];
            j.mats[j.n] = w;
            j.dst[j.n] = cur;
            cur += w->rows * gptoss_row_bytes(GPTOSS_DTYPE_Q8_0, w->cols);
            j.chunks[j.n] = (uint32_t)((w->rows + Q8_ROWS - 1) / Q8_ROWS);
            items += j.chunks[j.n];
        }
        gptoss_pool_run(pool, q8_item, &j, items);
        for (uint32_t k = 0; k < j.n; k++) {
            gptoss_mat *w = j.mats[k];
            /* drop the mapped pages from this process (the page cache keeps them) */
            gptoss_model_advise_pages(w->data, w->rows * gptoss_row_bytes(w->dtype, w->cols), MADV_DONTNEED);
            w->data = j.dst[k];
            w->dtype = GPTOSS_DTYPE_Q8_0;
        }
    }
    gptoss_pool_free(pool);
    free(scratch);
    m->q8 = buf;
    m->q8_bytes = total;
    return GPTOSS_OK;
}

/* Opens the file holding the embedding for gptoss_model_embed_row; without it rows come from the
 * mapping. */
static void embed_source_open(gptoss_model *m) {
    const uint8_t *p = m->embedding.data;
    for (uint32_t i = 0; p && i < m->st.n_files; i++) {
        const gptoss_st_file *f = &m->st.files[i];
        const uint8_t *base = f->map;
        if (!base || p < base || p >= base + f->size || !f->path) continue;
        int fd = open(f->path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) return;
        /* The path is opened again after mapping: it must still name the mapped file (same size,
         * same first and last rows), or the rows keep coming from the mapping. */
        struct stat st;
        const size_t rb = (size_t)gptoss_row_bytes(m->embedding.dtype, m->config.hidden_size);
        const uint64_t last = (m->embedding.rows ? m->embedding.rows - 1 : 0) * rb;
        uint8_t *probe = malloc(rb ? rb : 1);
        int same = probe && fstat(fd, &st) == 0 && (uint64_t)st.st_size == (uint64_t)f->size;
        same = same && pread(fd, probe, rb, (off_t)(p - base)) == (ssize_t)rb && !memcmp(probe, p, rb);
        same = same && pread(fd, probe, rb, (off_t)(p - base + last)) == (ssize_t)rb && !memcmp(probe, p + last, rb);
        free(probe);
        if (!same) {
            close(fd);
            return;
        }
        m->embed_fd = fd;
        m->embed_offset = (uint64_t)(p - base);
        m->embed_pread = 1;
        return;
    }
}

void gptoss_model_embed_row(const gptoss_model *m, uint64_t id, float *dst, void *scratch) {
    const size_t D = m->config.hidden_size, rb = (size_t)gptoss_row_bytes(m->embedding.dtype, D);
    if (m->embed_pread && pread(m->embed_fd, scratch, rb, (off_t)(m->embed_offset + id * rb)) == (ssize_t)rb)
        gptoss_to_f32(dst, scratch, m->embedding.dtype, 0, D);
    else /* no descriptor, or a failed read */
        gptoss_to_f32(dst, m->embedding.data, m->embedding.dtype, id * D, D);
}

/* What gptoss_model_options asks of a loaded model (either file format): the exact flag, and the
 * load-time Q8_0 conversion: the unembedding by default on the CPU, attention too with dense_q8. */
static gptoss_status apply_options(gptoss_model *m, const gptoss_model_options *o, uint32_t rank, uint32_t n_ranks,
                                   char *err, size_t err_size) {
    const gptoss_model_options none = {0};
    if (!o) o = &none;
    m->exact = o->exact != 0;
    m->precise = o->keep_dense != 0;
    if (!m->no_host_weights) embed_source_open(m);
    if (n_ranks > 1 && !m->no_host_weights) {
        gptoss_status sst = gptoss_model_shard_build(m, rank, n_ranks, err, err_size);
        if (sst != GPTOSS_OK) return sst;
    }
    if (m->exact || m->no_host_weights) return GPTOSS_OK;
    const gptoss_device dev = o->device == GPTOSS_DEVICE_AUTO ? GPTOSS_DEVICE_CPU : o->device;
    const int unembedding = o->dense_q8 || (!o->keep_dense && dev == GPTOSS_DEVICE_CPU);
    const uint32_t NL = m->config.n_layers;
    gptoss_mat **list = calloc((size_t)NL * 4 + 1, sizeof *list);
    if (!list) return gptoss_fail(GPTOSS_ERR_NO_MEMORY, err, err_size, "out of memory");
    size_t n = 0;
    /* A rank of a sharded model converts only its own rows (the slices its forward pass reads). */
    gptoss_shard *sh = m->shard;
    for (uint32_t l = 0; o->dense_q8 && l < NL; l++) {
        gptoss_layer *L = &m->layers[l];
        gptoss_mat *ms[4] = {&L->wq, &L->wk, &L->wv, &L->wo};
        if (sh) {
            ms[0] = &sh->layers[l].wq;
            ms[1] = &sh->layers[l].wk;
            ms[2] = &sh->layers[l].wv;
            ms[3] = &sh->layers[l].wo;
        }
        for (int k = 0; k < 4; k++)
            if (q8_convertible(ms[k])) list[n++] = ms[k];
    }
    gptoss_mat *unemb = sh ? &sh->unembedding : &m->unembedding;
    if (unembedding && q8_convertible(unemb)) list[n++] = unemb;
    gptoss_status st = convert_q8(m, list, n, err, err_size);
    free(list);
    return st;
}

/* A path that is neither a directory nor GGUF: say what it is (its size and first bytes), so that
 * a file inside a model directory, an empty download or an error page is recognised at once. */
static gptoss_status not_a_model(const char *path, const struct stat *st, char *err, size_t err_size) {
    static const char expected[] = "expected a model directory (config.json + *.safetensors) or a .gguf file";
    if (!S_ISREG(st->st_mode))
        return gptoss_fail(GPTOSS_ERR_UNSUPPORTED, err, err_size, "%s: not a model file (not a regular file); %s", path,
                           expected);
    int fd;
    size_t size;
    gptoss_status s = gptoss_open_regular(path, &fd, &size, err, err_size);
    if (s != GPTOSS_OK) return s;
    uint8_t head[16];
    ssize_t got = read(fd, head, sizeof head);
    close(fd);
    char what[128];
    gptoss_bytes_describe(what, sizeof what, head, got > 0 ? (size_t)got : 0, size);
    return gptoss_fail(GPTOSS_ERR_UNSUPPORTED, err, err_size, "%s: not a model file: %s; %s", path, what, expected);
}

gptoss_status gptoss_model_open(const char *path, const gptoss_model_options *options, gptoss_model **out,
                                char *err, size_t err_size) {
    return gptoss_model_open_shard(path, options, 0, 1, out, err, err_size);
}

gptoss_status gptoss_model_open_shard(const char *path, const gptoss_model_options *options, uint32_t rank,
                                      uint32_t n_ranks, gptoss_model **out, char *err, size_t err_size) {
    if (out) *out = NULL;
    if (!path || !out) return gptoss_fail(GPTOSS_ERR_INVALID_ARGUMENT, err, err_size, "no model path given");
    if (!*path)
        return gptoss_fail(GPTOSS_ERR_INVALID_ARGUMENT, err, err_size,
                           "empty path: expected a model directory or a .gguf file");
    if (!is_dir(path)) {
        struct stat st;
        if (stat(path, &st) != 0)
            return gptoss_fail(GPTOSS_ERR_IO, err, err_size, "%s: no such %s", path,
                               has_suffix(path, ".gguf") ? "file" : "directory");
        /* A single .gguf file (by its name or its magic) */
        if (S_ISREG(st.st_mode) && gptoss_gguf_is_file(path)) {
            gptoss_status gst = gptoss_model_load_gguf(path, out, err, err_size);
            if (gst == GPTOSS_OK && (gst = apply_options(*out, options, rank, n_ranks, err, err_size)) != GPTOSS_OK) {
                gptoss_model_free(*out);
                *out = NULL;
            }
            return gst;
        }
        return not_a_model(path, &st, err, err_size);
    }
    gptoss_model *m = calloc(1, sizeof *m);
    if (!m) return gptoss_fail(GPTOSS_ERR_NO_MEMORY, err, err_size, "out of memory");
    gptoss_status st = GPTOSS_OK;
    char *dir = resolve_hf_cache(path);
    if (!dir) dir = strdup(path);
    char *cfg_path = NULL, **files = NULL;
    size_t n_files = 0;
    int *sliding = NULL;
    if (!dir) {
        st = gptoss_fail(GPTOSS_ERR_NO_MEMORY, err, err_size, "out of memory");
        goto fail;
    }
    cfg_path = gptoss_path_join(dir, "config.json");
    if (!cfg_path) {
        st = gptoss_fail(GPTOSS_ERR_NO_MEMORY, err, err_size, "out of memory");
        goto fail;
    }
    if (!is_file(cfg_path)) {
        /* A repository root without config.json but with original/ still loads. */
        char *orig = gptoss_path_join(dir, "original");
        char *ocfg = orig ? gptoss_path_join(orig, "config.json") : NULL;
        if (ocfg && is_file(ocfg)) {
            free(dir);
            free(cfg_path);
            dir = orig;
            cfg_path = ocfg;
        } else {
            free(orig);
            free(ocfg);
            st = gptoss_fail(GPTOSS_ERR_IO, err, err_size, "%s: missing config.json", dir);
            goto fail;
        }
    }
    st = gptoss_config_read(cfg_path, &m->config, &sliding, &m->layout_original, err, err_size);
    if (st != GPTOSS_OK) goto fail;

    char *index = gptoss_path_join(dir, "model.safetensors.index.json");
    if (!index) {
        st = gptoss_fail(GPTOSS_ERR_NO_MEMORY, err, err_size, "out of memory");
        goto fail;
    }
    if (!m->layout_original && is_file(index)) st = list_index_shards(dir, index, &files, &n_files, err, err_size);
    else st = list_safetensors(dir, &files, &n_files, err, err_size);
    free(index);
    if (st != GPTOSS_OK) goto fail;
    if (n_files == 0 && !m->layout_original) {
        /* Hugging Face root whose weights are only in original/ */
        char *orig = gptoss_path_join(dir, "original");
        char *ocfg = orig ? gptoss_path_join(orig, "config.json") : NULL;
        if (ocfg && is_file(ocfg)) {
            free(sliding);
            sliding = NULL;
            st = gptoss_config_read(ocfg, &m->config, &sliding, &m->layout_original, err, err_size);
            m->layout_original = 1;
            free(dir);
            dir = orig;
            orig = NULL;
            if (st == GPTOSS_OK) st = list_safetensors(dir, &files, &n_files, err, err_size);
        }
        free(orig);
        free(ocfg);
        if (st != GPTOSS_OK) goto fail;
    }
    if (n_files == 0) {
        st = gptoss_fail(GPTOSS_ERR_IO, err, err_size, "%s: no *.safetensors files", dir);
        goto fail;
    }
    for (size_t i = 0; i < n_files && st == GPTOSS_OK; i++) st = gptoss_st_set_add_file(&m->st, files[i], err, err_size);
    if (st == GPTOSS_OK) st = gptoss_st_set_finish(&m->st, err, err_size);
    if (st != GPTOSS_OK) goto fail;
    m->dir = dir;
    dir = NULL;
    /* Pass 1 checks every tensor against config.json without allocating anything sized by it;
     * pass 2 widens the small vectors into one allocation. */
    m->layers = calloc(m->config.n_layers, sizeof *m->layers);
    m->rope_inv_freq = malloc((m->config.head_dim / 2) * sizeof(float));
    if (!m->layers || !m->rope_inv_freq) {
        st = gptoss_fail(GPTOSS_ERR_NO_MEMORY, err, err_size, "out of memory");
        goto fail;
    }
    binder b = {m, err, err_size, GPTOSS_OK};
    uint64_t n_small = 0;
    bind_weights(&b, sliding, &n_small);
    if (b.st == GPTOSS_OK) {
        m->small = malloc((n_small ? n_small : 1) * sizeof(float));
        if (!m->small) b.st = gptoss_fail(GPTOSS_ERR_NO_MEMORY, err, err_size, "out of memory");
        else bind_weights(&b, sliding, &n_small);
    }
    st = b.st;
    if (st != GPTOSS_OK) goto fail;
    gptoss_model_init_rope(m);
    st = apply_options(m, options, rank, n_ranks, err, err_size);
    if (st != GPTOSS_OK) goto fail;
    free(cfg_path);
    free_list(files, n_files);
    free(sliding);
    *out = m;
    return GPTOSS_OK;
fail:
    free(dir);
    free(cfg_path);
    free_list(files, n_files);
    free(sliding);
    gptoss_model_free(m);
    return st;
}

void gptoss_model_free(gptoss_model *m) {
    if (!m) return;
    if (m->dist_free) m->dist_free(m);
    gptoss_model_shard_free(m->shard);
    if (m->cuda && m->cuda_free) m->cuda_free(m->cuda);
    if (m->gguf) gptoss_gguf_model_free(m->gguf);
    gptoss_st_set_free(&m->st);
    if (m->embed_pread) close(m->embed_fd);
    free(m->q8);
    free(m->layers);
    free(m->small);
    free(m->rope_inv_freq);
    free(m->dir);
    free(m);
}

const gptoss_model_config *gptoss_model_get_config(const gptoss_model *m) { return m ? &m->config : NULL; }

const char *gptoss_model_dir(const gptoss_model *m) { return m ? m->dir : NULL; }

const char *gptoss_model_file(const gptoss_model *m, uint32_t i) {
    return m && i < m->st.n_files ? m->st.files[i].path : NULL;
}

static uint64_t mat_bytes(const gptoss_mat *w) { return w->rows * gptoss_row_bytes(w->dtype, w->cols); }

static void add_region(const uint8_t **ptr, uint64_t *bytes, size_t max, size_t *n, const void *p, uint64_t len) {
    if (p && len) {
        if (*n < max) { ptr[*n] = p; bytes[*n] = len; }
        (*n)++;
    }
}

size_t gptoss_model_decode_regions(const gptoss_model *m, const uint8_t **ptr, uint64_t *bytes, size_t max) {
    size_t n = 0;
    if (!m || m->no_host_weights) return 0;
    for (uint32_t l = 0; l < m->config.n_layers; l++) {
        const gptoss_layer *L = &m->layers[l];
        const gptoss_mat *mats[5] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->router};
        for (int k = 0; k < 5; k++) add_region(ptr, bytes, max, &n, mats[k]->data, mat_bytes(mats[k]));
        const gptoss_mxfp4 *mx[2] = {&L->mlp1, &L->mlp2};
        for (int k = 0; k < 2; k++) {
            const uint64_t per = mx[k]->n_experts * mx[k]->rows * (mx[k]->cols / 32);
            if (mx[k]->layout == GPTOSS_MXFP4_GGML) {
                const uint64_t half = mx[k]->blocks_odd ? per / 2 : per;
                add_region(ptr, bytes, max, &n, mx[k]->blocks, half * 17);
                add_region(ptr, bytes, max, &n, mx[k]->blocks_odd, (per - half) * 17);
            } else {
                add_region(ptr, bytes, max, &n, mx[k]->blocks, per * 16);
                add_region(ptr, bytes, max, &n, mx[k]->scales, per);
            }
        }
    }
    add_region(ptr, bytes, max, &n, m->unembedding.data, mat_bytes(&m->unembedding));
    return n;
}

void gptoss_model_get_stats(const gptoss_model *m, gptoss_model_stats *s) {
    memset(s, 0, sizeof *s);
    if (!m) return;
    const gptoss_model_config *c = &m->config;
    uint64_t D = c->hidden_size, I = c->intermediate_size, E = c->n_experts, V = c->vocab_size;
    uint64_t QW = (uint64_t)c->n_heads * c->head_dim, KW = (uint64_t)c->n_kv_heads * c->head_dim;
    uint64_t attn = (QW + 2 * KW) * D + (QW + 2 * KW) + D * QW + D + c->n_heads + D;
    uint64_t expert = 2 * I * D + 2 * I + D * I + D;
    uint64_t router = E * D + E;
    uint64_t layer_common = attn + router + D; /* + mlp norm */
    s->n_params_total = c->n_layers * (layer_common + E * expert) + 2 * V * D + D;
    s->n_params_active = c->n_layers * (layer_common + c->n_experts_per_token * expert) + V * D + D;
    for (size_t i = 0; i < m->st.n_tensors; i++) {
        const gptoss_st_tensor *t = &m->st.tensors[i];
        switch (t->dtype) {
        case GPTOSS_DTYPE_BF16: s->bytes_bf16 += t->n_bytes; break;
        case GPTOSS_DTYPE_F32: s->bytes_f32 += t->n_bytes; break;
        case GPTOSS_DTYPE_U8: s->bytes_u8 += t->n_bytes; break;
        default: s->bytes_other += t->n_bytes; break;
        }
    }
    s->n_files = m->st.n_files;
    s->n_tensors = (uint32_t)m->st.n_tensors;
    s->layout_original = m->layout_original;
    /* a rank of a sharded model holds its slices (only they are converted) */
    const gptoss_mat *unemb = m->shard ? &m->shard->unembedding : &m->unembedding;
    s->unembedding_dtype = gptoss_dtype_name(unemb->dtype);
    s->attention_dtype = !c->n_layers ? s->unembedding_dtype
                         : gptoss_dtype_name(m->shard ? m->shard->layers[0].wq.dtype : m->layers[0].wq.dtype);
    s->bytes_converted = m->q8_bytes;
    uint64_t bpt = mat_bytes(&m->unembedding);
    for (uint32_t l = 0; l < c->n_layers; l++) {
        const gptoss_layer *L = &m->layers[l];
        bpt += mat_bytes(&L->wq) + mat_bytes(&L->wk) + mat_bytes(&L->wv) + mat_bytes(&L->wo) + mat_bytes(&L->router);
        /* each of the top-k experts: 17 bytes per 32 weights (16 of codes, one scale) and its bias rows */
        uint64_t ex = (L->mlp1.rows * L->mlp1.cols + L->mlp2.rows * L->mlp2.cols) / 32 * 17 +
                      gptoss_row_bytes(L->mlp1_bias.dtype, L->mlp1_bias.cols) +
                      gptoss_row_bytes(L->mlp2_bias.dtype, L->mlp2_bias.cols);
        bpt += c->n_experts_per_token * ex;
    }
    s->bytes_per_token = bpt;
}
