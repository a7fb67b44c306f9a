/* test_cuda_kernels.cu: every CUDA kernel family against the CPU scalar reference
 * (src/cpu/kernels.c) on fresh random inputs each run (the seed is printed), with every device
 * output poisoned with NaN before the launch; prints the max relative error (max |gpu - cpu| over
 * max |cpu|). Without a usable CUDA device it prints one SKIP line. Built only with CUDA=1. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <vector>

#include "cuda/kernels.cuh"
#include "tap.h"

extern "C" {
#include "cpu/kernels.h"
}

#define TOL 1e-4

static uint64_t g_rng;
static uint64_t rnd(void) {
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return g_rng;
}
static float urand(void) { return (float)((rnd() >> 40) * (1.0 / 16777216.0)) * 2.0f - 1.0f; }
static std::vector<float> rvec(size_t n, float scale = 1.0f) {
    std::vector<float> v(n);
    for (auto &x : v) x = urand() * scale;
    return v;
}
static std::vector<uint16_t> rbf16(size_t n, float scale) {
    std::vector<uint16_t> v(n);
    for (auto &x : v) x = gptoss_f32_to_bf16(urand() * scale);
    return v;
}

static std::vector<void *> g_dev;
template <class T> static T *up(const std::vector<T> &v) {
    void *p = nullptr;
    cudaMalloc(&p, v.size() * sizeof(T) + 16);
    cudaMemcpy(p, v.data(), v.size() * sizeof(T), cudaMemcpyHostToDevice);
    g_dev.push_back(p);
    return static_cast<T *>(p);
}
static float *poisoned(size_t n) {
    void *p = nullptr;
    cudaMalloc(&p, n * 4 + 16);
    cudaMemset(p, 0xff, n * 4 + 16); /* 0xffffffff is a NaN */
    g_dev.push_back(p);
    return static_cast<float *>(p);
}
static std::vector<float> down(const float *d, size_t n) {
    std::vector<float> v(n);
    cudaError_t e = cudaDeviceSynchronize();
    if (e != cudaSuccess) printf("# cuda error: %s\n", cudaGetErrorString(e));
    cudaMemcpy(v.data(), d, n * 4, cudaMemcpyDeviceToHost);
    return v;
}
static void compare(const char *name, const std::vector<float> &got, const std::vector<float> &want) {
    double maxd = 0, maxref = 0;
    bool nan = got.size() != want.size();
    for (size_t i = 0; i < got.size() && i < want.size(); i++) {
        if (!(got[i] == got[i])) nan = true;
        double d = fabs((double)got[i] - want[i]);
        if (d > maxd) maxd = d;
        if (fabs(want[i]) > maxref) maxref = fabs(want[i]);
    }
    double rel = maxd / (maxref > 0 ? maxref : 1e-30);
    tap_check(!nan && rel <= TOL, "cuda %s: max rel err %.3g (max abs %.3g, %zu values)%s", name, rel, maxd, got.size(),
              nan ? " NaN/unwritten output" : "");
}

static void test_dense(int wtype, uint64_t rows, uint64_t cols, uint32_t n, int accumulate) {
    std::vector<uint16_t> wb;
    std::vector<float> wf;
    gptoss_mat cm = {};
    cm.rows = rows;
    cm.cols = cols;
    dev_mat dm = {};
    dm.rows = rows;
    dm.cols = cols;
    dm.wtype = wtype;
    if (wtype == DEV_BF16) {
        wb = rbf16(rows * cols, 1.0f / sqrtf((float)cols));
        cm.data = wb.data();
        cm.dtype = GPTOSS_DTYPE_BF16;
        dm.data = up(wb);
    } else {
        wf = rvec(rows * cols, 1.0f / sqrtf((float)cols));
        cm.data = wf.data();
        cm.dtype = GPTOSS_DTYPE_F32;
        dm.data = up(wf);
    }
    auto bias = rvec(rows, 0.1f), x = rvec(n * cols), base = rvec(n * rows);
    std::vector<float> want(n * rows), scratch(cols);
    gptoss_matmul_dense_f32(want.data(), rows, &cm, bias.data(), x.data(), cols, n, 0, rows, scratch.data());
    float *out;
    if (accumulate) {
        out = up(base);
        for (size_t i = 0; i < want.size(); i++) want[i] += base[i];
    } else {
        out = poisoned(n * rows);
    }
    cuda_dense(out, rows, dm, up(bias), up(x), cols, n, accumulate, 0);
    char name[128];
    snprintf(name, sizeof name, "dense %s %llux%llu x %u tokens%s", wtype == DEV_BF16 ? "bf16" : "f32",
             (unsigned long long)rows, (unsigned long long)cols, n, accumulate ? " (+= residual)" : "");
    compare(name, down(out, n * rows), want);
}

static void test_rmsnorm(uint32_t n, uint32_t D) {
    auto x = rvec(n * D, 3.0f), g = rvec(D);
    std::vector<float> want(n * D);
    for (uint32_t t = 0; t < n; t++) gptoss_rmsnorm_f32(want.data() + t * D, x.data() + t * D, g.data(), D, 1e-5f);
    float *out = poisoned(n * D);
    cuda_rmsnorm(out, up(x), up(g), n, D, 1e-5f, 0);
    char name[64];
    snprintf(name, sizeof name, "rmsnorm %u x %u", n, D);
    compare(name, down(out, n * D), want);
}

static void test_embed(void) {
    const uint32_t V = 300, D = 96, n = 5;
    auto e = rbf16(V * D, 1.0f);
    std::vector<uint32_t> ids(n);
    std::vector<float> want(n * D);
    for (uint32_t t = 0; t < n; t++) {
        ids[t] = (uint32_t)(rnd() % V);
        for (uint32_t d = 0; d < D; d++) want[t * D + d] = gptoss_bf16_to_f32(e[ids[t] * D + d]);
    }
    dev_mat dm = {up(e), DEV_BF16, V, D};
    float *out = poisoned(n * D);
    cuda_embed(out, dm, up(ids), n, 0);
    compare("embedding gather bf16", down(out, n * D), want);
}

/* RoPE + KV store, then attention with sinks over a ring buffer, against the CPU kernels. */
static void test_rope_attention(uint32_t H, uint32_t Hkv, uint32_t dh, uint32_t window, uint32_t cap, uint32_t pos0,
                                uint32_t n) {
    const uint32_t QW = H * dh, KW = Hkv * dh, QKVW = QW + 2 * KW, half = dh / 2;
    std::vector<float> inv(half);
    for (uint32_t i = 0; i < half; i++) inv[i] = powf(150000.0f, -(float)(2 * i) / dh) * (i % 3 ? 1.0f : 0.03125f);
    const float conc = 1.3466f, scale = 1.0f / sqrtf((float)dh);
    auto qkv = rvec(n * QKVW), kc = rvec(cap * KW), vc = rvec(cap * KW), sinks = rvec(H, 2.0f);
    /* CPU: rotate q and k, store k and v at pos % cap */
    std::vector<float> q = qkv, kc_w = kc, vc_w = vc;
    for (uint32_t t = 0; t < n; t++) {
        uint32_t pos = pos0 + t;
        float *row = q.data() + t * QKVW;
        gptoss_rope_f32(row, H, dh, pos, inv.data(), conc);
        gptoss_rope_f32(row + QW, Hkv, dh, pos, inv.data(), conc);
        memcpy(kc_w.data() + (pos % cap) * KW, row + QW, KW * 4);
        memcpy(vc_w.data() + (pos % cap) * KW, row + QW + KW, KW * 4);
    }
    std::vector<float> want(n * QW), scores(pos0 + n + 1);
    std::vector<uint32_t> slots(pos0 + n + 1);
    for (uint32_t t = 0; t < n; t++) {
        uint32_t pos = pos0 + t, lo = window && pos + 1 > window ? pos + 1 - window : 0, nk = pos + 1 - lo;
        for (uint32_t j = 0; j < nk; j++) slots[j] = (lo + j) % cap;
        for (uint32_t h = 0; h < H; h++)
            gptoss_attention_head_f32(want.data() + t * QW + h * dh, q.data() + t * QKVW + h * dh,
                                      kc_w.data() + (h / (H / Hkv)) * dh, vc_w.data() + (h / (H / Hkv)) * dh, KW,
                                      slots.data(), nk, dh, scale, sinks[h], scores.data());
    }
    float *d_qkv = up(qkv), *d_kc = up(kc), *d_vc = up(vc);
    std::vector<uint32_t> p0 = {pos0};
    uint32_t *d_pos = up(p0);
    cuda_rope_kv(d_qkv, QKVW, n, d_pos, up(inv), conc, H, Hkv, dh, d_kc, d_vc, cap, 0);
    char name[160];
    auto gq = down(d_qkv, n * QKVW);
    std::vector<float> gq_q, wq_q;
    for (uint32_t t = 0; t < n; t++)
        for (uint32_t i = 0; i < QW + KW; i++) gq_q.push_back(gq[t * QKVW + i]), wq_q.push_back(q[t * QKVW + i]);
    snprintf(name, sizeof name, "rope q+k heads %u+%u x %u, pos %u..%u", H, Hkv, dh, pos0, pos0 + n - 1);
    compare(name, gq_q, wq_q);
    snprintf(name, sizeof name, "kv cache store (cap %u)", cap);
    auto gk = down(d_kc, cap * KW), gv = down(d_vc, cap * KW);
    gk.insert(gk.end(), gv.begin(), gv.end());
    kc_w.insert(kc_w.end(), vc_w.begin(), vc_w.end());
    compare(name, gk, kc_w);
    float *out = poisoned(n * QW);
    cuda_attention(out, d_qkv, QKVW, d_kc, d_vc, cap, d_pos, n, H, Hkv, dh, window, up(sinks), scale, 0);
    snprintf(name, sizeof name, "attention with sinks H %u/%u dh %u window %u cap %u pos %u..%u", H, Hkv, dh, window,
             cap, pos0, pos0 + n - 1);
    compare(name, down(out, n * QW), want);
    /* split-K decode attention: several split counts, including more splits than keys (empty splits)
     * and counts that do not divide the context */
    if (n <= ATT_SPLIT_MAX_N) {
        const uint32_t auto_splits = cuda_attention_splits(cap, window);
        const uint32_t tries[] = {2, 3, 7, ATT_MAX_SPLITS, auto_splits};
        float *part = poisoned((size_t)n * H * ATT_MAX_SPLITS * (dh + 2));
        for (uint32_t sp : tries) {
            float *o2 = poisoned(n * QW);
            cuda_attention_split(o2, part, sp, d_qkv, QKVW, d_kc, d_vc, cap, d_pos, n, H, Hkv, dh, window, up(sinks),
                                 scale, 0);
            snprintf(name, sizeof name, "split-K attention (%u splits) H %u/%u dh %u window %u cap %u pos %u..%u", sp, H,
                     Hkv, dh, window, cap, pos0, pos0 + n - 1);
            compare(name, down(o2, n * QW), want);
        }
    }
}

/* decode: rmsnorm + router + top-k fused, against the CPU rmsnorm, dense router and top-k */
static void test_norm_router(uint32_t E, uint32_t D, uint32_t K) {
    auto x = rvec(D, 3.0f), g = rvec(D, 1.0f), rb = rvec(E, 0.1f);
    auto rw = rbf16((size_t)E * D, 1.0f / sqrtf((float)D));
    std::vector<float> h(D), lg(E), scratch(D), tw(K);
    std::vector<uint32_t> ti(K);
    gptoss_rmsnorm_f32(h.data(), x.data(), g.data(), D, 1e-5f);
    gptoss_mat rcm = {rw.data(), GPTOSS_DTYPE_BF16, E, D};
    gptoss_matmul_dense_f32(lg.data(), E, &rcm, rb.data(), h.data(), D, 1, 0, E, scratch.data());
    gptoss_topk_softmax_f32(lg.data(), E, K, ti.data(), tw.data());
    dev_mat rdm = {up(rw), DEV_BF16, E, D};
    float *dh = poisoned(D), *dw = poisoned(K), *dl = poisoned(E);
    uint32_t *di = reinterpret_cast<uint32_t *>(poisoned(K));
    bool ok = cuda_norm_router_topk(dh, di, dw, dl, up(x), up(g), 1e-5f, rdm, up(rb), K, 0);
    tap_check(ok, "cuda fused norm+router+top-k accepts E %u D %u K %u", E, D, K);
    if (!ok) return;
    char name[128];
    snprintf(name, sizeof name, "fused rmsnorm (D %u)", D);
    compare(name, down(dh, D), h);
    snprintf(name, sizeof name, "fused router logits (E %u)", E);
    compare(name, down(dl, E), lg);
    std::vector<uint32_t> gi(K);
    cudaMemcpy(gi.data(), di, K * 4, cudaMemcpyDeviceToHost);
    tap_check(gi == ti, "cuda fused top-%u of %u indices equal the CPU's", K, E);
    snprintf(name, sizeof name, "fused top-%u softmax weights", K);
    compare(name, down(dw, K), tw);
}

struct moe_case {
    uint32_t E, K, D, I, n;
};

static std::vector<uint8_t> rbytes(size_t n) {
    std::vector<uint8_t> v(n);
    for (auto &b : v) b = (uint8_t)rnd();
    return v;
}
static std::vector<uint8_t> rscales(size_t n, int s0) {
    std::vector<uint8_t> v(n);
    for (auto &b : v) b = (uint8_t)(s0 - 1 + (int)(rnd() % 3));
    return v;
}

static void test_moe(moe_case mc) {
    const uint32_t E = mc.E, K = mc.K, D = mc.D, I = mc.I, n = mc.n;
    /* router */
    auto rw = rbf16(E * D, 1.0f / sqrtf((float)D));
    auto rb = rvec(E, 0.1f), h = rvec(n * D, 1.0f);
    gptoss_mat rcm = {rw.data(), GPTOSS_DTYPE_BF16, E, D};
    std::vector<float> rlog(n * E), scratch(D > 2 * I ? D : 2 * I), topw(n * K);
    std::vector<uint32_t> topi(n * K);
    gptoss_matmul_dense_f32(rlog.data(), E, &rcm, rb.data(), h.data(), D, n, 0, E, scratch.data());
    for (uint32_t t = 0; t < n; t++) gptoss_topk_softmax_f32(rlog.data() + t * E, E, K, topi.data() + t * K, topw.data() + t * K);
    dev_mat rdm = {up(rw), DEV_BF16, E, D};
    float *d_h = up(h), *d_topw = poisoned(n * K), *d_rlog = poisoned(n * E);
    uint32_t *d_topi = reinterpret_cast<uint32_t *>(poisoned(n * K));
    cuda_router_topk(d_topi, d_topw, d_rlog, rdm, up(rb), d_h, n, K, 0);
    char name[160];
    snprintf(name, sizeof name, "router logits E %u x D %u, %u tokens", E, D, n);
    compare(name, down(d_rlog, n * E), rlog);
    std::vector<uint32_t> gi(n * K);
    cudaMemcpy(gi.data(), d_topi, n * K * 4, cudaMemcpyDeviceToHost);
    tap_check(gi == topi, "cuda router top-%u indices equal the CPU's (%u tokens)", K, n);
    snprintf(name, sizeof name, "router top-%u softmax weights", K);
    compare(name, down(d_topw, n * K), topw);
    /* experts: use the CPU's selection on both sides so the expert kernels are tested alone */
    cudaMemcpy(d_topi, topi.data(), n * K * 4, cudaMemcpyHostToDevice);
    cudaMemcpy(d_topw, topw.data(), n * K * 4, cudaMemcpyHostToDevice);
    auto b1 = rbytes((size_t)E * 2 * I * D / 2), s1 = rscales((size_t)E * 2 * I * D / 32, 122);
    auto b2 = rbytes((size_t)E * D * I / 2), s2 = rscales((size_t)E * D * I / 32, 121);
    auto bias1 = rvec(E * 2 * I, 0.05f), bias2 = rvec(E * D, 0.05f);
    gptoss_mxfp4 c1 = {b1.data(), s1.data(), E, 2 * I, D, GPTOSS_MXFP4_HF, nullptr},
                 c2 = {b2.data(), s2.data(), E, D, I, GPTOSS_MXFP4_HF, nullptr};
    dev_mxfp4 g1 = {up(b1), up(s1), E, 2 * I, D}, g2 = {up(b2), up(s2), E, D, I};
    float *d_b1 = up(bias1), *d_b2 = up(bias2);
    /* CPU reference: per (token, k): act, expert out; then y = sum w*o; x += y */
    auto x0 = rvec(n * D, 1.0f);
    std::vector<float> act(n * K * I), u(2 * I), eo(n * K * D), xw = x0;
    for (uint32_t t = 0; t < n; t++)
        for (uint32_t k = 0; k < K; k++) {
            uint32_t e = topi[t * K + k];
            gptoss_matmul_mxfp4_f32(u.data(), 2 * I, &c1, e, bias1.data() + e * 2 * I, h.data() + t * D, D, 1, 0,
                                    2 * I, scratch.data());
            gptoss_swiglu_f32(act.data() + (t * K + k) * I, u.data(), I, 7.0f);
            gptoss_matmul_mxfp4_f32(eo.data() + (t * K + k) * D, D, &c2, e, bias2.data() + e * D,
                                    act.data() + (t * K + k) * I, I, 1, 0, D, scratch.data());
        }
    for (uint32_t t = 0; t < n; t++)
        for (uint32_t d = 0; d < D; d++) {
            float y = 0;
            for (uint32_t k = 0; k < K; k++) y += topw[t * K + k] * eo[(t * K + k) * D + d];
            xw[t * D + d] += y;
        }
    /* decode kernels, token 0, every family (3 = default; its act is in the permuted layout) */
    for (int v = 1; v <= 3; v++) {
        cuda_moe_set_decode_variant(v);
        const bool perm = cuda_moe_decode_act_permuted(D, I);
        float *d_act = poisoned(K * I), *d_x = up(std::vector<float>(x0.begin(), x0.begin() + D));
        cuda_moe_mlp1_decode(d_act, g1, d_b1, d_h, d_topi, K, 7.0f, 0);
        auto ga = down(d_act, K * I), gn = ga;
        if (perm) /* element i of slot k at float ((k*8 + (i%32)/4) * (I/32) + i/32) * 4 + i%4 */
            for (uint32_t k = 0; k < K; k++)
                for (uint32_t i = 0; i < I; i++)
                    gn[k * I + i] = ga[((k * 8 + (i % 32) / 4) * (I / 32) + i / 32) * 4 + i % 4];
        snprintf(name, sizeof name, "mxfp4 mlp1+swiglu decode v%d%s (E %u, top %u, %ux%u)", v,
                 v == 3 && !perm ? " (fell back to v1)" : "", E, K, 2 * I, D);
        compare(name, gn, std::vector<float>(act.begin(), act.begin() + K * I));
        cuda_moe_mlp2_decode(d_x, g2, d_b2, d_act, d_topi, d_topw, K, poisoned(K * D), 0);
        snprintf(name, sizeof name, "mxfp4 mlp2+combine decode v%d (%ux%u)", v, D, I);
        compare(name, down(d_x, D), std::vector<float>(xw.begin(), xw.begin() + D));
    }
    cuda_moe_set_decode_variant(0);
    /* grouped kernels, all tokens */
    {
        uint32_t *cnt = reinterpret_cast<uint32_t *>(poisoned(E)), *start = reinterpret_cast<uint32_t *>(poisoned(E)),
                 *fill = reinterpret_cast<uint32_t *>(poisoned(E)),
                 *tok = reinterpret_cast<uint32_t *>(poisoned(n * K)),
                 *ent = reinterpret_cast<uint32_t *>(poisoned(n * K));
        cuda_moe_sort(cnt, start, fill, tok, ent, d_topi, n, K, E, 0);
        float *d_act = poisoned(n * K * I), *d_eo = poisoned(n * K * D), *d_x = up(x0);
        cuda_moe_mlp1_grouped(d_act, g1, d_b1, d_h, tok, start, cnt, n, 7.0f, 0);
        cuda_moe_mlp2_grouped(d_eo, g2, d_b2, d_act, start, cnt, n, 0);
        cuda_moe_combine(d_x, d_eo, d_topw, ent, n, K, D, 0);
        /* reorder the grouped outputs back to (token, k) order for the comparison */
        std::vector<uint32_t> hent(n * K);
        cudaDeviceSynchronize();
        cudaMemcpy(hent.data(), ent, n * K * 4, cudaMemcpyDeviceToHost);
        auto ga = down(d_act, n * K * I), ge = down(d_eo, n * K * D);
        std::vector<float> ga2(n * K * I), ge2(n * K * D);
        bool perm_ok = true;
        for (uint32_t i = 0; i < n * K; i++) {
            if (hent[i] >= n * K) { perm_ok = false; continue; }
            memcpy(&ga2[i * I], &ga[hent[i] * I], I * 4);
            memcpy(&ge2[i * D], &ge[hent[i] * D], D * 4);
        }
        tap_check(perm_ok, "cuda moe sort: every (token, k) pair got an entry");
        snprintf(name, sizeof name, "mxfp4 mlp1+swiglu grouped (%u tokens)", n);
        compare(name, ga2, act);
        snprintf(name, sizeof name, "mxfp4 mlp2 grouped (%u tokens)", n);
        compare(name, ge2, eo);
        snprintf(name, sizeof name, "moe combine into residual (%u tokens)", n);
        compare(name, down(d_x, n * D), xw);
    }
}

/* warp top-k on logits with ties and NaNs, against gptoss_topk_softmax_f32 */
static void test_topk(uint32_t n, uint32_t E, uint32_t K) {
    auto lg = rvec(n * E, 2.0f);
    for (uint32_t t = 0; t < n; t++) {
        if (t % 3 == 1) lg[t * E + (t % E)] = NAN;
        if (t % 4 == 2) lg[t * E + 1] = lg[t * E + E - 1] = 5.0f; /* tie: lower index first */
        if (t % 5 == 3)
            for (uint32_t e = 0; e < E; e++) lg[t * E + e] = e % 2 ? NAN : lg[t * E + e];
    }
    std::vector<uint32_t> wi(n * K);
    std::vector<float> ww(n * K);
    for (uint32_t t = 0; t < n; t++) gptoss_topk_softmax_f32(lg.data() + t * E, E, K, wi.data() + t * K, ww.data() + t * K);
    uint32_t *gi = reinterpret_cast<uint32_t *>(poisoned(n * K));
    float *gw = poisoned(n * K);
    cuda_topk_softmax(gi, gw, up(lg), n, E, K, 0);
    auto gwv = down(gw, n * K);
    std::vector<uint32_t> giv(n * K);
    cudaMemcpy(giv.data(), gi, n * K * 4, cudaMemcpyDeviceToHost);
    tap_check(giv == wi, "cuda top-%u of %u (ties, NaNs) indices equal the CPU's (%u tokens)", K, E, n);
    char name[96];
    snprintf(name, sizeof name, "top-%u of %u softmax weights", K, E);
    compare(name, gwv, ww);
}

static void test_swiglu(void) {
    const uint64_t n = 1000;
    auto u = rvec(2 * n, 10.0f);
    std::vector<float> want(n);
    gptoss_swiglu_f32(want.data(), u.data(), n, 7.0f);
    float *out = poisoned(n);
    cuda_swiglu(out, up(u), n, 7.0f, 0);
    compare("swiglu (clamped, limit 7)", down(out, n), want);
}

/* A chain of dependent kernels (x -> rmsnorm -> h -> x += W h, 6 times) captured in a CUDA graph and
 * replayed, as the decode step is: with programmatic dependent launch (sm_90) each kernel must still
 * see all writes of the one before it. */
static void test_dependent_chain(uint32_t D, int steps) {
    auto wb = rbf16((size_t)D * D, 1.0f / sqrtf((float)D));
    auto x = rvec(D, 2.0f), g = rvec(D), bias = rvec(D, 0.1f);
    gptoss_mat cm = {};
    cm.rows = D;
    cm.cols = D;
    cm.data = wb.data();
    cm.dtype = GPTOSS_DTYPE_BF16;
    dev_mat dm = {};
    dm.rows = D;
    dm.cols = D;
    dm.wtype = DEV_BF16;
    dm.data = up(wb);
    std::vector<float> want = x, h(D), y(D), scratch(D);
    for (int i = 0; i < steps; i++) {
        gptoss_rmsnorm_f32(h.data(), want.data(), g.data(), D, 1e-5f);
        gptoss_matmul_dense_f32(y.data(), D, &cm, bias.data(), h.data(), D, 1, 0, D, scratch.data());
        for (uint32_t d = 0; d < D; d++) want[d] += y[d];
    }
    float *dx = up(x), *dh = poisoned(D), *dg = up(g), *db = up(bias);
    cudaStream_t st;
    cudaStreamCreateWithFlags(&st, cudaStreamNonBlocking);
    cudaGraph_t graph = nullptr;
    cudaGraphExec_t exec = nullptr;
    cudaError_t e = cudaStreamBeginCapture(st, cudaStreamCaptureModeThreadLocal);
    for (int i = 0; i < steps && e == cudaSuccess; i++) {
        cuda_rmsnorm(dh, dx, dg, 1, D, 1e-5f, st);
        cuda_dense(dx, D, dm, db, dh, D, 1, 1, st);
    }
    if (e == cudaSuccess) e = cudaStreamEndCapture(st, &graph);
    if (e == cudaSuccess) e = cudaGraphInstantiate(&exec, graph, 0);
    if (e == cudaSuccess) e = cudaGraphLaunch(exec, st);
    if (e == cudaSuccess) e = cudaStreamSynchronize(st);
    if (e != cudaSuccess) printf("# cuda error in the graph chain: %s\n", cudaGetErrorString(e));
    char name[96];
    snprintf(name, sizeof name, "graph of %d dependent norm+dense steps, D %u (pdl %s)", steps, D,
             cuda_pdl_enabled() ? "on" : "off");
    compare(name, down(dx, D), want);
    if (exec) cudaGraphExecDestroy(exec);
    if (graph) cudaGraphDestroy(graph);
    cudaStreamDestroy(st);
}

int main(void) {
    int n_dev = 0;
    cudaError_t e = cudaGetDeviceCount(&n_dev);
    if (e != cudaSuccess || n_dev == 0) {
        tap_skip("cuda kernels", e != cudaSuccess ? "no CUDA device (cudaGetDeviceCount failed)" : "no CUDA device");
        return 0;
    }
    uint64_t seed = (uint64_t)time(NULL) * 6364136223846793005ull ^ (uint64_t)getpid();
    if (getenv("GPTOSS_TEST_SEED")) seed = strtoull(getenv("GPTOSS_TEST_SEED"), NULL, 10);
    g_rng = seed | 1;
    tap_diag("seed %llu (GPTOSS_TEST_SEED reproduces a run)", (unsigned long long)seed);
    test_dense(DEV_BF16, 1000, 2880, 1, 0);
    test_dense(DEV_BF16, 515, 2880, 37, 0);
    test_dense(DEV_BF16, 300, 256, 1, 1);
    test_dense(DEV_BF16, 130, 100, 3, 1);
    test_dense(DEV_BF16, 77, 100, 1, 0);
    test_dense(DEV_F32, 200, 96, 1, 0);
    test_dense(DEV_F32, 200, 96, 70, 0);
    test_rmsnorm(3, 2880);
    test_rmsnorm(5, 64);
    test_embed();
    test_rope_attention(8, 2, 64, 0, 200, 150, 4);     /* full layer, gpt-oss head size */
    test_rope_attention(8, 2, 64, 16, 20, 37, 3);      /* sliding window across the ring wrap */
    test_rope_attention(4, 1, 16, 4, 8, 0, 5);         /* start of a sequence, tiny heads */
    test_rope_attention(64, 8, 64, 0, 700, 600, 1);    /* decode over 601 keys */
    test_rope_attention(64, 8, 64, 0, 2300, 2176, 1);  /* 20b bench context, full layer */
    test_rope_attention(64, 8, 64, 128, 640, 2176, 1); /* sliding window shorter than the context, ring wrap */
    test_rope_attention(64, 8, 64, 1000, 1200, 600, 1); /* window longer than the context */
    test_rope_attention(64, 8, 64, 0, 300, 0, 1);      /* first token: one key, most splits empty */
    test_rope_attention(8, 2, 64, 0, 300, 97, 3);      /* a batch of 3 (prefill --batch 3) */
    test_rope_attention(4, 1, 16, 4, 8, 0, 4);         /* tiny heads, window 4, from position 0 */
    test_norm_router(32, 2880, 4);
    test_norm_router(128, 2880, 4);
    test_norm_router(8, 64, 3);
    test_moe({8, 4, 128, 96, 1});
    test_moe({32, 4, 2880, 2880, 1});
    test_moe({8, 4, 256, 128, 70});
    test_moe({4, 2, 64, 96, 9});
    test_moe({6, 4, 4096, 3104, 1}); /* 97 blocks per row: 4 per lane, large act staging */
    test_moe({6, 3, 96, 1056, 1});    /* 33 blocks: 2 per lane, one lane with 2 */
    test_moe({4, 4, 3104, 1056, 1});  /* mlp1 rows of 97 blocks, mlp2 rows of 33 */
    test_moe({1, 1, 96, 64, 1});      /* one expert, top 1 */
    test_moe({128, 4, 512, 256, 2});  /* 128 experts */
    test_topk(50, 32, 4);
    test_topk(20, 128, 4);
    test_topk(7, 8, 3);
    test_swiglu();
    test_dependent_chain(512, 6);
    test_dependent_chain(2880, 4);
    for (void *p : g_dev) cudaFree(p);
    return tap_exit();
}
