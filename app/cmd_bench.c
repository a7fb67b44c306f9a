/* cmd_bench.c: `gptoss bench`: prefill and decode throughput of one session, llama-bench style.
 * With --synth 20b|120b the model is a full-size random-weight one built directly on the GPU (no
 * file needed); otherwise MODEL is loaded as usual. Prints open/upload time, prefill tok/s, decode
 * tok/s and (CUDA) peak device memory. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "commands.h"
#ifdef GPTOSS_CUDA
#include "cuda/backend.h"
#endif

static void usage(FILE *f) {
    fprintf(f, "usage: gptoss bench (MODEL | --synth 20b|120b) [--device cuda|cpu] [-p N] [-n N] [--ctx N]\n"
               "                    [--batch N] [--seed S] [--copy-bw]\n"
               "  -p: prompt tokens prefilled in one append (default 512); -n: tokens decoded one at a\n"
               "  time after it (default 128); --ctx: session context (default p + n, at least 4096);\n"
               "  --batch: prefill chunk (default min(p, 4096)); --copy-bw: also measure a device-to-device\n"
               "  copy (the bandwidth bound of decode). Token ids are pseudo-random.\n");
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int parse_device(const char *v, gptoss_device *d) {
    if (!strcmp(v, "cpu")) *d = GPTOSS_DEVICE_CPU;
    else if (!strcmp(v, "cuda") || !strcmp(v, "gpu")) *d = GPTOSS_DEVICE_CUDA;
    else if (!strcmp(v, "auto")) *d = GPTOSS_DEVICE_AUTO;
    else return 0;
    return 1;
}

int cmd_bench(int argc, char **argv) {
    const char *model_path = NULL, *synth = NULL;
    uint32_t p = 512, n = 128, ctx = 0, batch = 0;
    uint64_t seed = 1;
    int copy_bw = 0;
    gptoss_device device = GPTOSS_DEVICE_AUTO;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        int ok = 1;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); return 0; }
        else if (!strcmp(a, "--copy-bw")) copy_bw = 1;
        else if (!strcmp(a, "--synth") || !strcmp(a, "--device") || !strcmp(a, "-p") || !strcmp(a, "-n") ||
                 !strcmp(a, "--ctx") || !strcmp(a, "--batch") || !strcmp(a, "--seed")) {
            if (!(v = cli_next(argc, argv, &i))) return 2;
            if (!strcmp(a, "--synth")) { synth = v; ok = !strcmp(v, "20b") || !strcmp(v, "120b"); }
            else if (!strcmp(a, "--device")) ok = parse_device(v, &device);
            else if (!strcmp(a, "-p")) ok = cli_parse_u32(v, &p);
            else if (!strcmp(a, "-n")) ok = cli_parse_u32(v, &n);
            else if (!strcmp(a, "--ctx")) ok = cli_parse_u32(v, &ctx);
            else if (!strcmp(a, "--batch")) ok = cli_parse_u32(v, &batch) && batch > 0;
            else ok = cli_parse_u64(v, &seed);
            if (!ok) { cli_error("bench: invalid value '%s' for %s", v, a); return 2; }
        } else if (a[0] == '-') { cli_error("bench: unknown option %s", a); usage(stderr); return 2; }
        else if (!model_path) model_path = a;
        else { cli_error("bench: unexpected argument '%s'", a); return 2; }
    }
    if (!model_path == !synth) { usage(stderr); return 2; }
    if (p + n == 0) { cli_error("bench: nothing to run (-p 0 -n 0)"); return 2; }

    char err[512] = "";
    int rc = 1;
    gptoss_model *model = NULL;
    gptoss_session *sess = NULL;
    uint32_t *ids = NULL;
    double t0 = now_s();
    if (synth) {
#ifdef GPTOSS_CUDA
        if (device == GPTOSS_DEVICE_CPU) { cli_error("bench: --synth builds the model on the GPU; use --device cuda"); return 2; }
        int preset = !strcmp(synth, "20b") ? GPTOSS_SYNTH_20B : GPTOSS_SYNTH_120B;
        if (gptoss_cuda_synth_model(preset, seed, &model, err, sizeof err) != GPTOSS_OK) { cli_error("%s", err); return 1; }
        device = GPTOSS_DEVICE_CUDA;
#else
        cli_error("bench: --synth needs the CUDA backend (build with make CUDA=1)");
        return 2;
#endif
    } else if (!(model = cli_load_model(model_path))) {
        return 1;
    }
    const gptoss_model_config *c = gptoss_model_get_config(model);
    if (!ctx) ctx = p + n < 4096 ? 4096 : p + n;
    if (ctx > c->max_context) ctx = c->max_context;
    gptoss_session_options so = {.n_ctx = ctx, .n_batch = batch ? batch : (p ? (p < 4096 ? p : 4096) : 1), .device = device};
    if (gptoss_session_create(model, &so, &sess, err, sizeof err) != GPTOSS_OK) { cli_error("%s", err); goto out; }
    double t_open = now_s() - t0;
    uint32_t total = p + n;
    ids = malloc((total ? total : 1) * sizeof *ids);
    if (!ids) goto out;
    uint64_t x = seed * 0x9e3779b97f4a7c15ull + 12345;
    for (uint32_t i = 0; i < total; i++) {
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        ids[i] = (uint32_t)(x % c->vocab_size);
    }
    const int on_gpu = gptoss_session_device(sess) == GPTOSS_DEVICE_CUDA;
    printf("model: %s | layers %u, hidden %u, experts %u (top %u), vocab %u | device %s | ctx %u, batch %u\n",
           synth ? synth : model_path, c->n_layers, c->hidden_size, c->n_experts, c->n_experts_per_token,
           c->vocab_size, on_gpu ? "cuda" : "cpu", ctx, so.n_batch);
    printf("open+upload: %.2f s\n", t_open);
    /* warm-up: one short prefill and one decode step (kernels loaded, decode graph captured) */
    if (gptoss_session_append(sess, ids, p ? (p < 16 ? p : 16) : 1, NULL, err, sizeof err) != GPTOSS_OK ||
        gptoss_session_append(sess, ids, 1, NULL, err, sizeof err) != GPTOSS_OK) { cli_error("%s", err); goto out; }
    gptoss_session_reset(sess);
    double t1 = now_s();
    if (p && gptoss_session_append(sess, ids, p, NULL, err, sizeof err) != GPTOSS_OK) { cli_error("%s", err); goto out; }
    double t_prefill = now_s() - t1;
    double t2 = now_s();
    for (uint32_t i = 0; i < n; i++)
        if (gptoss_session_append(sess, ids + p + i, 1, NULL, err, sizeof err) != GPTOSS_OK) { cli_error("%s", err); goto out; }
    double t_decode = now_s() - t2;
    const float *lg = gptoss_session_logits(sess);
    int finite = 1;
    for (uint32_t j = 0; lg && j < c->vocab_size; j++) finite &= lg[j] == lg[j] && lg[j] - lg[j] == 0;
    if (p) printf("prefill: %u tokens in %.3f s = %.1f tok/s\n", p, t_prefill, p / (t_prefill > 0 ? t_prefill : 1e-9));
    if (n) printf("decode: %u tokens in %.3f s = %.1f tok/s (%.3f ms/token, context %u..%u)\n", n, t_decode,
                  n / (t_decode > 0 ? t_decode : 1e-9), 1e3 * t_decode / n, p, p + n);
    printf("last logits finite: %s\n", finite ? "yes" : "NO");
#ifdef GPTOSS_CUDA
    if (on_gpu) {
        char name[256] = "";
        size_t used = 0, peak = 0, tot = 0;
        if (gptoss_cuda_memory(name, sizeof name, &used, &peak, &tot))
            printf("device: %s | peak device memory %.2f GiB (now %.2f GiB) of %.2f GiB\n", name, peak / 1073741824.0,
                   used / 1073741824.0, tot / 1073741824.0);
        if (copy_bw) printf("device-to-device copy: %.0f GB/s (read+write, 1 GiB buffers)\n", gptoss_cuda_copy_bandwidth((size_t)1 << 30));
    }
#endif
    (void)copy_bw;
    rc = finite ? 0 : 1;
out:
    free(ids);
    gptoss_session_free(sess);
    gptoss_model_free(model);
    return rc;
}
