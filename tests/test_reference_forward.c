/* test_reference_forward.c: an independent, naive forward pass (double precision, the whole
 * sequence at once with explicit causal/window masks and an appended sink column, no KV cache)
 * checked against the library's session in three modes: decoding token by token, one prefill, and
 * prefill in small batches (which wrap the sliding-window ring buffers). Usage:
 *   test_reference_forward MODEL_DIR N_TOKENS SEED [MODEL_DIR N_TOKENS SEED ...] */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/model.h"
#include "tap.h"

static double *dvec(size_t n) { return calloc(n ? n : 1, sizeof(double)); }

static void mat_row(const gptoss_mat *m, uint64_t r, float *dst) { gptoss_to_f32(dst, m->data, m->dtype, r * m->cols, m->cols); }

/* y[rows] = W x + b, W dense */
static void dense(double *y, const gptoss_mat *w, const float *b, const double *x, float *row) {
    for (uint64_t r = 0; r < w->rows; r++) {
        mat_row(w, r, row);
        double s = b ? b[r] : 0;
        for (uint64_t c = 0; c < w->cols; c++) s += row[c] * x[c];
        y[r] = s;
    }
}

static const double fp4[16] = {0, .5, 1, 1.5, 2, 3, 4, 6, -0.0, -.5, -1, -1.5, -2, -3, -4, -6};

static void expert(double *y, const gptoss_mxfp4 *w, uint64_t e, const gptoss_mat *bias, const double *x, float *brow) {
    gptoss_to_f32(brow, bias->data, bias->dtype, e * w->rows, w->rows);
    uint64_t nb = w->cols / 32;
    for (uint64_t r = 0; r < w->rows; r++) {
        const uint8_t *blk = w->blocks + (e * w->rows + r) * nb * 16;
        const uint8_t *sc = w->scales + (e * w->rows + r) * nb;
        double s = brow[r];
        for (uint64_t c = 0; c < w->cols; c++) {
            uint8_t byte = blk[(c / 32) * 16 + (c % 32) / 2];
            int code = (c % 2) ? byte >> 4 : byte & 15;
            s += fp4[code] * ldexp(1.0, sc[c / 32] - 127) * x[c];
        }
        y[r] = s;
    }
}

static void rmsnorm(double *y, const double *x, const float *g, size_t n, double eps) {
    double ss = 0;
    for (size_t i = 0; i < n; i++) ss += x[i] * x[i];
    double inv = 1 / sqrt(ss / n + eps);
    for (size_t i = 0; i < n; i++) y[i] = x[i] * inv * g[i];
}

static void rope(double *v, uint32_t heads, uint32_t dh, uint32_t pos, const gptoss_model *m) {
    for (uint32_t h = 0; h < heads; h++)
        for (uint32_t i = 0; i < dh / 2; i++) {
            double a = (double)pos * m->rope_inv_freq[i];
            double c = cos(a) * m->rope_concentration, s = sin(a) * m->rope_concentration;
            double *x = v + (size_t)h * dh;
            double x1 = x[i], x2 = x[i + dh / 2];
            x[i] = x1 * c - x2 * s;
            x[i + dh / 2] = x2 * c + x1 * s;
        }
}

/* logits[n][V] for the whole sequence */
static void reference(const gptoss_model *m, const uint32_t *ids, uint32_t n, double *logits) {
    const gptoss_model_config *c = &m->config;
    const uint32_t D = c->hidden_size, I = c->intermediate_size, E = c->n_experts, K = c->n_experts_per_token;
    const uint32_t H = c->n_heads, Hkv = c->n_kv_heads, dh = c->head_dim, V = c->vocab_size;
    const size_t QW = (size_t)H * dh, KW = (size_t)Hkv * dh;
    size_t maxc = D > I ? D : I;
    if (QW > maxc) maxc = QW;
    float *row = malloc(maxc * sizeof(float)), *brow = malloc(2 * (size_t)(I > D ? I : D) * sizeof(float));
    float *emb = malloc(D * sizeof(float));
    double *x = dvec((size_t)n * D), *h = dvec(D), *q = dvec((size_t)n * QW), *k = dvec((size_t)n * KW),
           *v = dvec((size_t)n * KW), *o = dvec(QW), *t = dvec(D), *r = dvec(E), *u = dvec(2 * (size_t)I),
           *a = dvec(I), *y = dvec(D), *acc = dvec(D), *w = dvec((size_t)n + 1);
    for (uint32_t p = 0; p < n; p++) {
        gptoss_to_f32(emb, m->embedding.data, m->embedding.dtype, (uint64_t)ids[p] * D, D);
        for (uint32_t i = 0; i < D; i++) x[(size_t)p * D + i] = emb[i];
    }
    for (uint32_t l = 0; l < c->n_layers; l++) {
        const gptoss_layer *L = &m->layers[l];
        for (uint32_t p = 0; p < n; p++) {
            rmsnorm(h, x + (size_t)p * D, L->attn_norm, D, c->rms_norm_eps);
            dense(q + p * QW, &L->wq, L->q_bias, h, row);
            dense(k + p * KW, &L->wk, L->k_bias, h, row);
            dense(v + p * KW, &L->wv, L->v_bias, h, row);
            rope(q + p * QW, H, dh, p, m);
            rope(k + p * KW, Hkv, dh, p, m);
        }
        for (uint32_t p = 0; p < n; p++) {
            for (uint32_t hq = 0; hq < H; hq++) {
                uint32_t g = hq / (H / Hkv);
                double mx = L->sinks[hq];
                for (uint32_t j = 0; j <= p; j++) {
                    int masked = L->sliding && (int64_t)j <= (int64_t)p - (int64_t)c->sliding_window;
                    double s = -INFINITY;
                    if (!masked) {
                        s = 0;
                        for (uint32_t d = 0; d < dh; d++) s += q[p * QW + hq * dh + d] * k[j * KW + g * dh + d];
                        s /= sqrt((double)dh);
                    }
                    w[j] = s;
                    if (s > mx) mx = s;
                }
                double z = exp(L->sinks[hq] - mx);
                for (uint32_t j = 0; j <= p; j++) z += exp(w[j] - mx);
                for (uint32_t d = 0; d < dh; d++) {
                    double s = 0;
                    for (uint32_t j = 0; j <= p; j++) s += exp(w[j] - mx) / z * v[j * KW + g * dh + d];
                    o[hq * dh + d] = s;
                }
            }
            dense(t, &L->wo, L->o_bias, o, row);
            for (uint32_t i = 0; i < D; i++) x[(size_t)p * D + i] += t[i];
        }
        for (uint32_t p = 0; p < n; p++) {
            double *xp = x + (size_t)p * D;
            rmsnorm(h, xp, L->mlp_norm, D, c->rms_norm_eps);
            dense(r, &L->router, L->router_bias, h, row);
            uint32_t sel[64];
            double val[64], z = 0;
            for (uint32_t j = 0; j < K; j++) {
                int best = -1;
                for (uint32_t e = 0; e < E; e++) {
                    int used = 0;
                    for (uint32_t q2 = 0; q2 < j; q2++) used |= sel[q2] == e;
                    if (!used && (best < 0 || r[e] > r[best])) best = (int)e;
                }
                sel[j] = (uint32_t)best;
                val[j] = r[best];
            }
            for (uint32_t j = 0; j < K; j++) z += exp(val[j] - val[0]);
            for (uint32_t i = 0; i < D; i++) acc[i] = 0;
            for (uint32_t j = 0; j < K; j++) {
                expert(u, &L->mlp1, sel[j], &L->mlp1_bias, h, brow);
                for (uint32_t i = 0; i < I; i++) {
                    double gt = fmin(u[2 * i], c->swiglu_limit);
                    double ln = fmax(fmin(u[2 * i + 1], c->swiglu_limit), -c->swiglu_limit);
                    a[i] = gt / (1 + exp(-1.702 * gt)) * (ln + 1);
                }
                expert(y, &L->mlp2, sel[j], &L->mlp2_bias, a, brow);
                double wj = exp(val[j] - val[0]) / z;
                for (uint32_t i = 0; i < D; i++) acc[i] += wj * y[i];
            }
            for (uint32_t i = 0; i < D; i++) xp[i] += acc[i];
        }
    }
    for (uint32_t p = 0; p < n; p++) {
        rmsnorm(h, x + (size_t)p * D, m->final_norm, D, c->rms_norm_eps);
        dense(logits + (size_t)p * V, &m->unembedding, NULL, h, row);
    }
    free(row); free(brow); free(emb); free(x); free(h); free(q); free(k); free(v); free(o); free(t); free(r);
    free(u); free(a); free(y); free(acc); free(w);
}

static double max_diff(const float *a, const double *b, size_t n) {
    double md = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs(a[i] - b[i]);
        if (!(d <= md)) md = d;
    }
    return md;
}

/* exact: options.exact (scalar kernels, weights as stored, f32 KV cache); otherwise the default
 * options (fast kernels, unembedding converted to Q8_0 where it can be, bf24 KV cache: its rounding,
 * ~1e-4 on these logits, is inside the bound). Either way the naive reference reads the weights as
 * the model holds them, so both must agree within 1e-3. */
static void check_model_mode(const char *dir, uint32_t n, uint64_t seed, int exact) {
    char err[512];
    gptoss_model *m = NULL;
    const gptoss_model_options mo = {.exact = exact, .device = GPTOSS_DEVICE_CPU};
    const char *label = exact ? "exact" : "default";
    if (gptoss_model_load(dir, &mo, &m, err, sizeof err) != GPTOSS_OK) {
        tap_check(0, "%s (%s): load: %s", dir, label, err);
        return;
    }
    const gptoss_model_config *c = gptoss_model_get_config(m);
    const int convertible = m->config.hidden_size % 32 == 0; /* every checkpoint here stores BF16 or F32 */
    tap_check((m->unembedding.dtype == GPTOSS_DTYPE_Q8_0) == (!exact && convertible),
              "%s (%s): unembedding held as %s", dir, label, gptoss_dtype_name(m->unembedding.dtype));
    const size_t V = c->vocab_size;
    uint32_t *ids = malloc(n * sizeof *ids);
    for (uint32_t i = 0; i < n; i++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        ids[i] = (uint32_t)((seed >> 33) % c->vocab_size);
    }
    double *ref = dvec((size_t)n * V);
    reference(m, ids, n, ref);
    float *got = malloc((size_t)n * V * sizeof(float));
    const char *modes[] = {"decode", "prefill", "prefill in batches of 3"};
    for (int mode = 0; mode < 3; mode++) {
        gptoss_session_options so = {.n_ctx = n + 2, .n_batch = mode == 2 ? 3 : (mode == 1 ? n : 1)};
        gptoss_session *s = NULL;
        gptoss_status st = gptoss_session_create(m, &so, &s, err, sizeof err);
        if (st == GPTOSS_OK && mode == 0)
            for (uint32_t i = 0; i < n && st == GPTOSS_OK; i++) st = gptoss_session_append(s, ids + i, 1, got + i * V, err, sizeof err);
        else if (st == GPTOSS_OK)
            st = gptoss_session_append(s, ids, n, got, err, sizeof err);
        if (st != GPTOSS_OK) {
            tap_check(0, "%s (%s) %s: %s", dir, label, modes[mode], err);
        } else {
            double md = max_diff(got, ref, (size_t)n * V);
            tap_check(md <= 1e-3, "%s (%s): %u tokens, window %u, %s: max |session - naive reference| = %.2g", dir,
                      label, n, c->sliding_window, modes[mode], md);
        }
        gptoss_session_free(s);
    }
    int finite = 1;
    for (size_t i = 0; i < (size_t)n * V; i++) finite &= isfinite(ref[i]);
    tap_check(finite, "%s (%s): logits are finite", dir, label);
    free(ids); free(ref); free(got);
    gptoss_model_free(m);
}

static void check_model(const char *dir, uint32_t n, uint64_t seed) {
    check_model_mode(dir, n, seed, 1);
    check_model_mode(dir, n, seed, 0);
}

int main(int argc, char **argv) {
    if (argc < 4) {
        /* Without arguments: the goldens, which need no synthesized model. */
        char dir[4096];
        if (tap_shared_path("reference forward on g3-long", "golden/g3-long/model", dir, sizeof dir))
            check_model(dir, 40, 1);
        if (tap_shared_path("reference forward on g2-small-shards", "golden/g2-small-shards/model/original", dir,
                            sizeof dir))
            check_model(dir, 20, 2);
        return tap_exit();
    }
    for (int i = 1; i + 2 < argc; i += 3) check_model(argv[i], (uint32_t)atoi(argv[i + 1]), strtoull(argv[i + 2], NULL, 10));
    return tap_exit();
}
