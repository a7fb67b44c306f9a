/* backend.cu: the CUDA backend's host side: weights uploaded once per model (MXFP4 experts kept as
 * MXFP4, BF16 dense weights kept as BF16, other dense dtypes widened to F32, small vectors in F32),
 * sessions with the KV cache on the device (ring buffers on sliding-window layers, like the CPU
 * session), the forward pass enqueued on one stream (batched for prefill, captured once in a CUDA
 * graph for single-token decode), and the full-size random models of `gptoss bench --synth`.
 * The forward pass mirrors src/engine/forward.c step for step. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mutex>
#include <vector>

#include "cuda/backend.h"
#include "cuda/kernels.cuh"

extern "C" {
#include "model/model.h"
}

/* ------------------------------------------------------------------------------------------- */

struct dev_layer {
    int sliding;
    float *attn_norm, *mlp_norm, *sinks, *qkv_bias, *o_bias, *router_bias, *mlp1_bias, *mlp2_bias;
    dev_mat wqkv, wo, router;
    dev_mxfp4 mlp1, mlp2;
};

struct dev_model {
    std::vector<dev_layer> layers;
    dev_mat emb, unemb;
    float *final_norm, *rope_inv_freq;
    std::vector<void *> allocs;
    size_t bytes;
    bool failed;
    cudaError_t error;
};

static std::mutex g_upload_mutex;
static size_t g_peak_used;

static void sample_memory(void) {
    size_t fr = 0, tot = 0;
    if (cudaMemGetInfo(&fr, &tot) == cudaSuccess && tot - fr > g_peak_used) g_peak_used = tot - fr;
}

static void *dm_alloc(dev_model *dm, size_t bytes) {
    if (dm->failed) return nullptr;
    void *p = nullptr;
    cudaError_t e = cudaMalloc(&p, bytes ? bytes : 16);
    if (e != cudaSuccess) {
        dm->failed = true;
        dm->error = e;
        return nullptr;
    }
    dm->allocs.push_back(p);
    dm->bytes += bytes;
    return p;
}

static void *dm_upload(dev_model *dm, const void *src, size_t bytes) {
    void *p = dm_alloc(dm, bytes);
    if (p && bytes) {
        cudaError_t e = cudaMemcpy(p, src, bytes, cudaMemcpyHostToDevice);
        if (e != cudaSuccess) dm->failed = true, dm->error = e;
    }
    return p;
}

static void dev_model_free(void *p) {
    dev_model *dm = static_cast<dev_model *>(p);
    if (!dm) return;
    for (void *a : dm->allocs) cudaFree(a);
    delete dm;
}

/* Dense matrices: BF16 stays BF16; F32 and F16 become F32 on the device. Several source pieces of
 * one dtype family stack row-wise into one device matrix (q, k and v become one qkv). */
static dev_mat upload_dense(dev_model *dm, const gptoss_mat *parts, int n_parts) {
    dev_mat d = {};
    bool all_bf16 = true;
    uint64_t rows = 0, cols = parts[0].cols;
    for (int i = 0; i < n_parts; i++) {
        all_bf16 = all_bf16 && parts[i].dtype == GPTOSS_DTYPE_BF16;
        rows += parts[i].rows;
    }
    d.rows = rows;
    d.cols = cols;
    d.wtype = all_bf16 ? DEV_BF16 : DEV_F32;
    const size_t esz = all_bf16 ? 2 : 4;
    char *dst = static_cast<char *>(dm_alloc(dm, rows * cols * esz));
    d.data = dst;
    if (!dst) return d;
    std::vector<float> tmp;
    for (int i = 0; i < n_parts && !dm->failed; i++) {
        const size_t n = parts[i].rows * cols;
        if (all_bf16) {
            cudaError_t e = cudaMemcpy(dst, parts[i].data, n * 2, cudaMemcpyHostToDevice);
            if (e != cudaSuccess) dm->failed = true, dm->error = e;
        } else {
            /* widen in slices so a large F32/F16 matrix never needs a second full host copy */
            const size_t slice = (size_t)1 << 22;
            tmp.resize(n < slice ? n : slice);
            for (size_t off = 0; off < n && !dm->failed; off += slice) {
                const size_t m = n - off < slice ? n - off : slice;
                gptoss_to_f32(tmp.data(), parts[i].data, parts[i].dtype, off, m);
                cudaError_t e = cudaMemcpy(dst + off * 4, tmp.data(), m * 4, cudaMemcpyHostToDevice);
                if (e != cudaSuccess) dm->failed = true, dm->error = e;
            }
        }
        dst += n * esz;
    }
    return d;
}

static float *upload_f32_mat(dev_model *dm, const gptoss_mat *m) {
    std::vector<float> tmp(m->rows * m->cols);
    gptoss_to_f32(tmp.data(), m->data, m->dtype, 0, tmp.size());
    return static_cast<float *>(dm_upload(dm, tmp.data(), tmp.size() * 4));
}

static dev_mxfp4 upload_mxfp4(dev_model *dm, const gptoss_mxfp4 *w) {
    dev_mxfp4 d = {};
    d.n_experts = w->n_experts;
    d.rows = w->rows;
    d.cols = w->cols;
    const size_t nblk = w->n_experts * w->rows * (w->cols / 32);
    d.blocks = static_cast<const uint8_t *>(dm_upload(dm, w->blocks, nblk * 16));
    d.scales = static_cast<const uint8_t *>(dm_upload(dm, w->scales, nblk));
    return d;
}

static gptoss_status check_shapes(const gptoss_model_config *c, char *err, size_t err_size) {
    if (c->head_dim > 256 || c->n_experts > 1024 || c->n_experts_per_token > 32 || c->hidden_size % 32 ||
        c->intermediate_size % 32)
        return gptoss_fail(GPTOSS_ERR_UNSUPPORTED, err, err_size,
                           "cuda: unsupported shape (head_dim <= 256, experts <= 1024, top-k <= 32, hidden and "
                           "intermediate sizes multiples of 32)");
    return GPTOSS_OK;
}

static gptoss_status upload_model(const gptoss_model *m, dev_model **out, char *err, size_t err_size) {
    const gptoss_model_config *c = &m->config;
    for (uint32_t l = 0; l < c->n_layers; l++)
        if (m->layers[l].mlp1.layout != GPTOSS_MXFP4_HF || m->layers[l].mlp2.layout != GPTOSS_MXFP4_HF)
            return gptoss_fail(GPTOSS_ERR_UNSUPPORTED, err, err_size,
                               "cuda: ggml-layout MXFP4 experts (GGUF files) are not supported on the device yet; "
                               "use --device cpu or the safetensors checkpoint");
    dev_model *dm = new dev_model();
    const uint32_t D = c->hidden_size, QW = c->n_heads * c->head_dim, KW = c->n_kv_heads * c->head_dim;
    dm->emb = upload_dense(dm, &m->embedding, 1);
    dm->unemb = upload_dense(dm, &m->unembedding, 1);
    dm->final_norm = static_cast<float *>(dm_upload(dm, m->final_norm, D * 4));
    dm->rope_inv_freq = static_cast<float *>(dm_upload(dm, m->rope_inv_freq, c->head_dim / 2 * 4));
    dm->layers.resize(c->n_layers);
    std::vector<float> qkvb(QW + 2 * KW);
    for (uint32_t l = 0; l < c->n_layers && !dm->failed; l++) {
        const gptoss_layer *L = &m->layers[l];
        dev_layer &d = dm->layers[l];
        d.sliding = L->sliding;
        d.attn_norm = static_cast<float *>(dm_upload(dm, L->attn_norm, D * 4));
        d.mlp_norm = static_cast<float *>(dm_upload(dm, L->mlp_norm, D * 4));
        d.sinks = static_cast<float *>(dm_upload(dm, L->sinks, c->n_heads * 4));
        memcpy(qkvb.data(), L->q_bias, QW * 4);
        memcpy(qkvb.data() + QW, L->k_bias, KW * 4);
        memcpy(qkvb.data() + QW + KW, L->v_bias, KW * 4);
        d.qkv_bias = static_cast<float *>(dm_upload(dm, qkvb.data(), qkvb.size() * 4));
        d.o_bias = static_cast<float *>(dm_upload(dm, L->o_bias, D * 4));
        d.router_bias = static_cast<float *>(dm_upload(dm, L->router_bias, c->n_experts * 4));
        const gptoss_mat qkv[3] = {L->wq, L->wk, L->wv};
        d.wqkv = upload_dense(dm, qkv, 3);
        d.wo = upload_dense(dm, &L->wo, 1);
        d.router = upload_dense(dm, &L->router, 1);
        d.mlp1 = upload_mxfp4(dm, &L->mlp1);
        d.mlp2 = upload_mxfp4(dm, &L->mlp2);
        d.mlp1_bias = upload_f32_mat(dm, &L->mlp1_bias);
        d.mlp2_bias = upload_f32_mat(dm, &L->mlp2_bias);
    }
    if (dm->failed) {
        cudaError_t e = dm->error;
        dev_model_free(dm);
        return gptoss_fail(e == cudaErrorMemoryAllocation ? GPTOSS_ERR_NO_MEMORY : GPTOSS_ERR_INTERNAL, err, err_size,
                           "cuda: uploading the weights failed: %s", cudaGetErrorString(e));
    }
    *out = dm;
    return GPTOSS_OK;
}

/* ------------------------------------------------------------------------------------------- */

struct gptoss_cuda_session {
    const gptoss_model *m;
    dev_model *w;
    uint32_t n_ctx, n_batch, lg_rows;
    cudaStream_t st;
    std::vector<float *> kc, vc;
    std::vector<uint32_t> cap;
    uint32_t *pos, *ids;
    float *x, *h, *qkv, *attn, *rlog, *topw, *act, *eo, *logits, *apart;
    uint32_t *topi, *cnt, *start, *fill, *token_of, *entry_of;
    uint32_t *h_ids;
    float *h_logits;
    cudaGraphExec_t graph;
    bool graph_ok, profiled;
    uint32_t decode_steps;
    std::vector<void *> allocs;
};

extern "C" int gptoss_cuda_available(void) {
    static int cached = -1;
    if (cached < 0) {
        int n = 0;
        cached = cudaGetDeviceCount(&n) == cudaSuccess && n > 0;
    }
    return cached;
}

/* GPTOSS_CUDA_PROFILE=1: one decode step per session runs outside the graph with events between
 * the kernel families, and prints where its time went (stderr). */
struct prof_state {
    cudaEvent_t ev[4096];
    int cat[4096];
    int n;
};
static prof_state *g_prof;
static const char *const prof_names[] = {"rmsnorm+qkv", "rope+kv", "attention", "out proj", "mlp norm (+router+topk fused)",
                                         "router+topk (unfused)", "experts", "(gap)", "unembedding"};
#define PROF(c)                                                                                                 \
    do {                                                                                                        \
        if (g_prof && g_prof->n < 4096) {                                                                       \
            cudaEventCreate(&g_prof->ev[g_prof->n]);                                                            \
            cudaEventRecord(g_prof->ev[g_prof->n], st);                                                         \
            g_prof->cat[g_prof->n++] = (c);                                                                     \
        }                                                                                                       \
    } while (0)

static void enqueue_layers(gptoss_cuda_session *s, uint32_t n) {
    const gptoss_model_config *c = &s->m->config;
    const dev_model *w = s->w;
    const uint32_t D = c->hidden_size, E = c->n_experts, K = c->n_experts_per_token, I = c->intermediate_size;
    const uint32_t H = c->n_heads, Hkv = c->n_kv_heads, dh = c->head_dim;
    const uint64_t QW = (uint64_t)H * dh, KW = (uint64_t)Hkv * dh, QKVW = QW + 2 * KW;
    const float scale = 1.0f / sqrtf((float)dh);
    cudaStream_t st = s->st;
    cuda_embed(s->x, w->emb, s->ids, n, st);
    for (uint32_t l = 0; l < c->n_layers; l++) {
        const dev_layer &L = w->layers[l];
        PROF(0);
        cuda_rmsnorm(s->h, s->x, L.attn_norm, n, D, c->rms_norm_eps, st);
        cuda_dense(s->qkv, QKVW, L.wqkv, L.qkv_bias, s->h, D, n, 0, st);
        PROF(1);
        cuda_rope_kv(s->qkv, QKVW, n, s->pos, w->rope_inv_freq, s->m->rope_concentration, H, Hkv, dh, s->kc[l],
                     s->vc[l], s->cap[l], st);
        PROF(2);
        {
            const uint32_t win = L.sliding ? c->sliding_window : 0;
            /* opt-in (GPTOSS_CUDA_ATT_SPLIT=1): measured slower than one block per head on an H200 */
            static const bool split = getenv("GPTOSS_CUDA_ATT_SPLIT") != nullptr;
            const uint32_t splits = n <= ATT_SPLIT_MAX_N && split ? cuda_attention_splits(s->cap[l], win) : 1;
            cuda_attention_split(s->attn, s->apart, splits, s->qkv, QKVW, s->kc[l], s->vc[l], s->cap[l], s->pos, n, H,
                                 Hkv, dh, win, L.sinks, scale, st);
        }
        PROF(3);
        cuda_dense(s->x, D, L.wo, L.o_bias, s->attn, QW, n, 1, st); /* x += attn @ Wo^T + b */
        PROF(4);
        static const bool unfused = getenv("GPTOSS_CUDA_ROUTER_UNFUSED") != nullptr; /* A/B switch */
        if (n != 1 || E > 64 || unfused || !cuda_norm_router_topk(s->h, s->topi, s->topw, nullptr, s->x, L.mlp_norm, c->rms_norm_eps,
                                             L.router, L.router_bias, K, st)) {
            cuda_rmsnorm(s->h, s->x, L.mlp_norm, n, D, c->rms_norm_eps, st);
            PROF(5);
            cuda_dense(s->rlog, E, L.router, L.router_bias, s->h, D, n, 0, st);
            cuda_topk_softmax(s->topi, s->topw, s->rlog, n, E, K, st);
        }
        PROF(6);
        if (n == 1) {
            cuda_moe_mlp1_decode(s->act, L.mlp1, L.mlp1_bias, s->h, s->topi, K, c->swiglu_limit, st);
            cuda_moe_mlp2_decode(s->x, L.mlp2, L.mlp2_bias, s->act, s->topi, s->topw, K, s->eo, st);
        } else {
            cuda_moe_sort(s->cnt, s->start, s->fill, s->token_of, s->entry_of, s->topi, n, K, E, st);
            cuda_moe_mlp1_grouped(s->act, L.mlp1, L.mlp1_bias, s->h, s->token_of, s->start, s->cnt, n,
                                  c->swiglu_limit, st);
            cuda_moe_mlp2_grouped(s->eo, L.mlp2, L.mlp2_bias, s->act, s->start, s->cnt, n, st);
            cuda_moe_combine(s->x, s->eo, s->topw, s->entry_of, n, K, D, st);
        }
        PROF(7);
        (void)I;
    }
    PROF(8);
}

/* final norm + unembedding of rows [row0, row0 + rows) of x into s->logits */
static void enqueue_logits(gptoss_cuda_session *s, uint32_t row0, uint32_t rows) {
    const gptoss_model_config *c = &s->m->config;
    const uint32_t D = c->hidden_size;
    cuda_rmsnorm(s->h, s->x + (uint64_t)row0 * D, s->w->final_norm, rows, D, c->rms_norm_eps, s->st);
    cuda_dense(s->logits, c->vocab_size, s->w->unemb, nullptr, s->h, D, rows, 0, s->st);
}

static gptoss_status cuda_status(cudaError_t e, const char *what, char *err, size_t err_size) {
    if (e == cudaSuccess) return GPTOSS_OK;
    return gptoss_fail(GPTOSS_ERR_INTERNAL, err, err_size, "cuda: %s: %s", what, cudaGetErrorString(e));
}

extern "C" gptoss_status gptoss_cuda_session_create(const gptoss_model *model, uint32_t n_ctx, uint32_t n_batch,
                                                    gptoss_cuda_session **out, char *err, size_t err_size) {
    *out = nullptr;
    if (!gptoss_cuda_available())
        return gptoss_fail(GPTOSS_ERR_UNSUPPORTED, err, err_size, "cuda: no CUDA device is available");
    const gptoss_model_config *c = &model->config;
    gptoss_status st = check_shapes(c, err, err_size);
    if (st != GPTOSS_OK) return st;
    {
        std::lock_guard<std::mutex> lock(g_upload_mutex);
        if (!model->cuda) {
            dev_model *dm = nullptr;
            st = upload_model(model, &dm, err, err_size);
            if (st != GPTOSS_OK) return st;
            gptoss_model *mm = const_cast<gptoss_model *>(model); /* the lazily filled device-side cache */
            mm->cuda = dm;
            mm->cuda_free = dev_model_free;
        }
    }
    gptoss_cuda_session *s = new gptoss_cuda_session();
    s->m = model;
    s->w = static_cast<dev_model *>(model->cuda);
    s->n_ctx = n_ctx;
    s->n_batch = n_batch;
    const uint64_t B = n_batch, D = c->hidden_size, I = c->intermediate_size, E = c->n_experts,
                   K = c->n_experts_per_token, V = c->vocab_size;
    const uint64_t QW = (uint64_t)c->n_heads * c->head_dim, KW = (uint64_t)c->n_kv_heads * c->head_dim;
    uint64_t lg = ((uint64_t)32 << 20) / V;
    s->lg_rows = (uint32_t)(lg < 1 ? 1 : lg > B ? B : lg);
    bool failed = false;
    cudaError_t last = cudaSuccess;
    auto alloc = [&](size_t bytes) -> void * {
        void *p = nullptr;
        if (failed) return nullptr;
        cudaError_t e = cudaMalloc(&p, bytes ? bytes : 16);
        if (e != cudaSuccess) {
            failed = true;
            last = e;
            return nullptr;
        }
        s->allocs.push_back(p);
        return p;
    };
    if (cudaStreamCreateWithFlags(&s->st, cudaStreamNonBlocking) != cudaSuccess) failed = true;
    s->kc.resize(c->n_layers);
    s->vc.resize(c->n_layers);
    s->cap.resize(c->n_layers);
    for (uint32_t l = 0; l < c->n_layers; l++) {
        uint64_t cap = model->layers[l].sliding ? (uint64_t)c->sliding_window + n_batch : n_ctx;
        s->cap[l] = (uint32_t)(cap < n_ctx ? cap : n_ctx);
        s->kc[l] = static_cast<float *>(alloc(s->cap[l] * KW * 4));
        s->vc[l] = static_cast<float *>(alloc(s->cap[l] * KW * 4));
    }
    s->pos = static_cast<uint32_t *>(alloc(4));
    s->ids = static_cast<uint32_t *>(alloc(B * 4));
    s->x = static_cast<float *>(alloc(B * D * 4));
    s->h = static_cast<float *>(alloc(B * D * 4));
    s->qkv = static_cast<float *>(alloc(B * (QW + 2 * KW) * 4));
    s->attn = static_cast<float *>(alloc(B * QW * 4));
    s->rlog = static_cast<float *>(alloc(B * E * 4));
    s->topw = static_cast<float *>(alloc(B * K * 4));
    s->topi = static_cast<uint32_t *>(alloc(B * K * 4));
    s->act = static_cast<float *>(alloc(B * K * I * 4));
    s->eo = static_cast<float *>(alloc(B * K * D * 4));
    s->apart = static_cast<float *>(alloc((uint64_t)ATT_SPLIT_MAX_N * c->n_heads * ATT_MAX_SPLITS * (c->head_dim + 2) * 4));
    s->logits = static_cast<float *>(alloc((uint64_t)s->lg_rows * V * 4));
    s->cnt = static_cast<uint32_t *>(alloc(E * 4));
    s->start = static_cast<uint32_t *>(alloc(E * 4));
    s->fill = static_cast<uint32_t *>(alloc(E * 4));
    s->token_of = static_cast<uint32_t *>(alloc(B * K * 4));
    s->entry_of = static_cast<uint32_t *>(alloc(B * K * 4));
    if (!failed && cudaMallocHost(&s->h_ids, B * 4) != cudaSuccess) failed = true;
    if (!failed && cudaMallocHost(&s->h_logits, V * 4) != cudaSuccess) failed = true;
    if (!failed && cudaMemset(s->pos, 0, 4) != cudaSuccess) failed = true;
    if (failed) {
        gptoss_cuda_session_free(s);
        return gptoss_fail(GPTOSS_ERR_NO_MEMORY, err, err_size, "cuda: allocating a %u-token session failed: %s", n_ctx,
                           cudaGetErrorString(last));
    }
    sample_memory();
    *out = s;
    return GPTOSS_OK;
}

void gptoss_cuda_session_free(gptoss_cuda_session *s) {
    if (!s) return;
    if (s->st) cudaStreamSynchronize(s->st);
    if (s->graph_ok) cudaGraphExecDestroy(s->graph);
    for (void *p : s->allocs) cudaFree(p);
    if (s->h_ids) cudaFreeHost(s->h_ids);
    if (s->h_logits) cudaFreeHost(s->h_logits);
    if (s->st) cudaStreamDestroy(s->st);
    delete s;
}

void gptoss_cuda_session_reset(gptoss_cuda_session *s) {
    if (!s) return;
    cudaMemsetAsync(s->pos, 0, 4, s->st);
    cudaStreamSynchronize(s->st);
}

const float *gptoss_cuda_session_logits(const gptoss_cuda_session *s) { return s ? s->h_logits : nullptr; }

static gptoss_status decode_one(gptoss_cuda_session *s, uint32_t id, char *err, size_t err_size) {
    if (!s->graph_ok) {
        cudaGraph_t g;
        cudaError_t e = cudaStreamBeginCapture(s->st, cudaStreamCaptureModeThreadLocal);
        if (e != cudaSuccess) return cuda_status(e, "begin capture", err, err_size);
        enqueue_layers(s, 1);
        enqueue_logits(s, 0, 1);
        cuda_advance(s->pos, 1, s->st);
        e = cudaStreamEndCapture(s->st, &g);
        if (e != cudaSuccess) return cuda_status(e, "capture of the decode step", err, err_size);
        e = cudaGraphInstantiate(&s->graph, g, 0);
        cudaGraphDestroy(g);
        if (e != cudaSuccess) return cuda_status(e, "graph instantiation", err, err_size);
        s->graph_ok = true;
    }
    const gptoss_model_config *c = &s->m->config;
    s->h_ids[0] = id;
    cudaMemcpyAsync(s->ids, s->h_ids, 4, cudaMemcpyHostToDevice, s->st);
    if (!s->profiled && getenv("GPTOSS_CUDA_PROFILE") && ++s->decode_steps > 4) {
        s->profiled = true;
        prof_state *p = new prof_state();
        g_prof = p;
        cudaStream_t st = s->st;
        enqueue_layers(s, 1);
        enqueue_logits(s, 0, 1);
        PROF(9);
        g_prof = nullptr;
        cuda_advance(s->pos, 1, s->st);
        cudaStreamSynchronize(s->st);
        double per[10] = {0}, total = 0;
        for (int i = 0; i + 1 < p->n; i++) {
            float ms = 0;
            cudaEventElapsedTime(&ms, p->ev[i], p->ev[i + 1]);
            per[p->cat[i]] += ms;
            total += ms;
        }
        fprintf(stderr, "cuda profile (one decode step outside the graph, %.3f ms):", total);
        for (int i = 0; i < 9; i++) fprintf(stderr, " %s %.3f |", prof_names[i], per[i]);
        fprintf(stderr, "\n");
        for (int i = 0; i < p->n; i++) cudaEventDestroy(p->ev[i]);
        delete p;
    } else {
        cudaGraphLaunch(s->graph, s->st);
    }
    cudaMemcpyAsync(s->h_logits, s->logits, (size_t)c->vocab_size * 4, cudaMemcpyDeviceToHost, s->st);
    return cuda_status(cudaStreamSynchronize(s->st), "decode step", err, err_size);
}

extern "C" gptoss_status gptoss_cuda_session_append(gptoss_cuda_session *s, const uint32_t *ids, size_t n_ids,
                                                    float *all_logits, char *err, size_t err_size) {
    const gptoss_model_config *c = &s->m->config;
    const size_t V = c->vocab_size;
    for (size_t done = 0; done < n_ids;) {
        const uint32_t n = (uint32_t)(n_ids - done < s->n_batch ? n_ids - done : s->n_batch);
        const bool last_chunk = done + n == n_ids;
        if (n == 1) {
            gptoss_status st = decode_one(s, ids[done], err, err_size);
            if (st != GPTOSS_OK) return st;
            if (all_logits) memcpy(all_logits + done * V, s->h_logits, V * 4);
            done += n;
            continue;
        }
        memcpy(s->h_ids, ids + done, (size_t)n * 4);
        cudaMemcpyAsync(s->ids, s->h_ids, (size_t)n * 4, cudaMemcpyHostToDevice, s->st);
        enqueue_layers(s, n);
        if (all_logits) {
            for (uint32_t r0 = 0; r0 < n; r0 += s->lg_rows) {
                const uint32_t rows = n - r0 < s->lg_rows ? n - r0 : s->lg_rows;
                enqueue_logits(s, r0, rows);
                cudaMemcpyAsync(all_logits + (done + r0) * V, s->logits, (size_t)rows * V * 4, cudaMemcpyDeviceToHost,
                                s->st);
            }
        } else if (last_chunk) {
            enqueue_logits(s, n - 1, 1);
            cudaMemcpyAsync(s->h_logits, s->logits, V * 4, cudaMemcpyDeviceToHost, s->st);
        }
        cuda_advance(s->pos, n, s->st);
        gptoss_status st = cuda_status(cudaGetLastError(), "kernel launch", err, err_size);
        if (st == GPTOSS_OK) st = cuda_status(cudaStreamSynchronize(s->st), "prefill", err, err_size);
        if (st != GPTOSS_OK) return st;
        if (all_logits && last_chunk) memcpy(s->h_logits, all_logits + (done + n - 1) * V, V * 4);
        done += n;
    }
    if (n_ids > 1) sample_memory();
    return GPTOSS_OK;
}

/* ------------------------------------------------------------------------------------------- */
/* bench --synth */

static int e8m0_for_std(double target) {
    const double fp4_rms = 2.9261749776799064, jitter_rms = 1.3228756555322954;
    long s = 127 + lround(log2(target / (fp4_rms * jitter_rms)));
    if (s < 2) s = 2;
    if (s > 200) s = 200;
    return (int)s;
}

static uint64_t seed_for(uint64_t seed, uint32_t role, uint32_t layer) {
    uint64_t z = seed * 0x9e3779b97f4a7c15ull + ((uint64_t)role << 32) + layer + 1;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

extern "C" gptoss_status gptoss_cuda_synth_model(int preset, uint64_t seed, gptoss_model **out, char *err,
                                                 size_t err_size) {
    *out = nullptr;
    if (!gptoss_cuda_available())
        return gptoss_fail(GPTOSS_ERR_UNSUPPORTED, err, err_size, "cuda: no CUDA device is available");
    gptoss_synth_options o = {};
    o.preset = (gptoss_synth_preset)preset;
    o.seed = seed;
    gptoss_synth_plan plan;
    gptoss_status st = gptoss_synth_resolve(&o, &plan, err, err_size);
    if (st != GPTOSS_OK) return st;
    gptoss_model *m = static_cast<gptoss_model *>(calloc(1, sizeof *m));
    if (!m) return gptoss_fail(GPTOSS_ERR_NO_MEMORY, err, err_size, "out of memory");
    m->config = plan.config;
    const gptoss_model_config *c = &m->config;
    m->no_host_weights = 1;
    m->layers = static_cast<gptoss_layer *>(calloc(c->n_layers, sizeof *m->layers));
    m->rope_inv_freq = static_cast<float *>(malloc((c->head_dim / 2 + 1) * sizeof(float)));
    if (!m->layers || !m->rope_inv_freq) {
        gptoss_model_free(m);
        return gptoss_fail(GPTOSS_ERR_NO_MEMORY, err, err_size, "out of memory");
    }
    for (uint32_t l = 0; l < c->n_layers; l++) m->layers[l].sliding = l % 2 == 0; /* as src/model/synth.c */
    gptoss_model_init_rope(m);
    st = check_shapes(c, err, err_size);
    if (st != GPTOSS_OK) {
        gptoss_model_free(m);
        return st;
    }

    dev_model *dm = new dev_model();
    const uint64_t D = c->hidden_size, I = c->intermediate_size, E = c->n_experts, V = c->vocab_size;
    const uint64_t H = c->n_heads, QW = H * c->head_dim, KW = (uint64_t)c->n_kv_heads * c->head_dim;
    cudaStream_t s0 = 0;
    auto bf16_mat = [&](uint64_t rows, uint64_t cols, float std, uint64_t sd) {
        dev_mat d = {};
        d.rows = rows;
        d.cols = cols;
        d.wtype = DEV_BF16;
        uint16_t *p = static_cast<uint16_t *>(dm_alloc(dm, rows * cols * 2));
        d.data = p;
        if (p) cuda_fill_normal_bf16(p, rows * cols, std, sd, s0);
        return d;
    };
    auto f32_normal = [&](uint64_t n, float mean, float std, uint64_t sd) {
        float *p = static_cast<float *>(dm_alloc(dm, n * 4));
        if (p) cuda_fill_normal_f32(p, n, mean, std, sd, s0);
        return p;
    };
    auto f32_uniform = [&](uint64_t n, float lo, float hi, uint64_t sd) {
        float *p = static_cast<float *>(dm_alloc(dm, n * 4));
        if (p) cuda_fill_uniform_f32(p, n, lo, hi, sd, s0);
        return p;
    };
    auto mx = [&](uint64_t rows, uint64_t cols, double std, uint64_t sd) {
        dev_mxfp4 d = {};
        d.n_experts = E;
        d.rows = rows;
        d.cols = cols;
        const uint64_t nblk = E * rows * (cols / 32);
        uint8_t *b = static_cast<uint8_t *>(dm_alloc(dm, nblk * 16));
        uint8_t *sc = static_cast<uint8_t *>(dm_alloc(dm, nblk));
        if (b) cuda_fill_bytes(b, nblk * 16, sd, s0);
        if (sc) cuda_fill_e8m0(sc, nblk, e8m0_for_std(std), sd ^ 0x5555, s0);
        d.blocks = b;
        d.scales = sc;
        return d;
    };
    dm->emb = bf16_mat(V, D, 1.0f, seed_for(seed, 0, 0));
    dm->unemb = bf16_mat(V, D, (float)(2 / sqrt((double)D)), seed_for(seed, 1, 0));
    dm->final_norm = f32_uniform(D, 0.9f, 1.1f, seed_for(seed, 2, 0));
    dm->rope_inv_freq = static_cast<float *>(dm_upload(dm, m->rope_inv_freq, c->head_dim / 2 * 4));
    dm->layers.resize(c->n_layers);
    for (uint32_t l = 0; l < c->n_layers && !dm->failed; l++) {
        dev_layer &d = dm->layers[l];
        d.sliding = m->layers[l].sliding;
        d.attn_norm = f32_uniform(D, 0.9f, 1.1f, seed_for(seed, 3, l));
        d.mlp_norm = f32_uniform(D, 0.9f, 1.1f, seed_for(seed, 4, l));
        d.sinks = f32_normal(H, 0.0f, 1.0f, seed_for(seed, 5, l));
        d.qkv_bias = f32_normal(QW + 2 * KW, 0.0f, 0.05f, seed_for(seed, 6, l));
        d.o_bias = f32_normal(D, 0.0f, 0.05f, seed_for(seed, 7, l));
        d.router_bias = f32_normal(E, 0.0f, 0.1f, seed_for(seed, 8, l));
        d.wqkv = bf16_mat(QW + 2 * KW, D, (float)(1 / sqrt((double)D)), seed_for(seed, 9, l));
        d.wo = bf16_mat(D, QW, (float)(1 / sqrt((double)QW)), seed_for(seed, 10, l));
        d.router = bf16_mat(E, D, (float)(1 / sqrt((double)D)), seed_for(seed, 11, l));
        d.mlp1 = mx(2 * I, D, 2 / sqrt((double)D), seed_for(seed, 12, l));
        d.mlp2 = mx(D, I, 1 / (3.1 * sqrt((double)I)), seed_for(seed, 13, l));
        d.mlp1_bias = f32_normal(E * 2 * I, 0.0f, 0.05f, seed_for(seed, 14, l));
        d.mlp2_bias = f32_normal(E * D, 0.0f, 0.05f, seed_for(seed, 15, l));
    }
    cudaError_t e = cudaDeviceSynchronize();
    if (dm->failed || e != cudaSuccess) {
        cudaError_t why = dm->failed ? dm->error : e;
        dev_model_free(dm);
        gptoss_model_free(m);
        return gptoss_fail(why == cudaErrorMemoryAllocation ? GPTOSS_ERR_NO_MEMORY : GPTOSS_ERR_INTERNAL, err, err_size,
                           "cuda: building the synthetic model on the device failed: %s", cudaGetErrorString(why));
    }
    m->cuda = dm;
    m->cuda_free = dev_model_free;
    sample_memory();
    *out = m;
    return GPTOSS_OK;
}

extern "C" int gptoss_cuda_memory(char *name, size_t name_size, size_t *used, size_t *peak, size_t *total) {
    if (!gptoss_cuda_available()) return 0;
    size_t fr = 0, tot = 0;
    if (cudaMemGetInfo(&fr, &tot) != cudaSuccess) return 0;
    sample_memory();
    if (used) *used = tot - fr;
    if (peak) *peak = g_peak_used;
    if (total) *total = tot;
    if (name && name_size) {
        cudaDeviceProp p;
        int dev = 0;
        cudaGetDevice(&dev);
        if (cudaGetDeviceProperties(&p, dev) == cudaSuccess) snprintf(name, name_size, "%s", p.name);
        else snprintf(name, name_size, "cuda device %d", dev);
    }
    return 1;
}

extern "C" double gptoss_cuda_copy_bandwidth(size_t bytes) {
    if (!gptoss_cuda_available()) return 0;
    void *a = nullptr, *b = nullptr;
    if (cudaMalloc(&a, bytes) != cudaSuccess) return 0;
    if (cudaMalloc(&b, bytes) != cudaSuccess) {
        cudaFree(a);
        return 0;
    }
    cudaMemset(a, 1, bytes);
    cudaEvent_t e0, e1;
    cudaEventCreate(&e0);
    cudaEventCreate(&e1);
    cudaMemcpy(b, a, bytes, cudaMemcpyDeviceToDevice);
    const int iters = 20;
    cudaEventRecord(e0);
    for (int i = 0; i < iters; i++) cudaMemcpyAsync(i % 2 ? a : b, i % 2 ? b : a, bytes, cudaMemcpyDeviceToDevice);
    cudaEventRecord(e1);
    cudaEventSynchronize(e1);
    float ms = 0;
    cudaEventElapsedTime(&ms, e0, e1);
    cudaEventDestroy(e0);
    cudaEventDestroy(e1);
    cudaFree(a);
    cudaFree(b);
    return ms > 0 ? 2.0 * (double)bytes * iters / (ms * 1e-3) / 1e9 : 0;
}
