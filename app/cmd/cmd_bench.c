/* cmd_bench.c: `gptoss bench`: prefill and decode throughput of one session, llama-bench style.
 * With --synth 20b|120b the model is a full-size random-weight one built directly on the GPU (no
 * file needed); otherwise MODEL is loaded as usual. Prints open/upload time, prefill tok/s, decode
 * tok/s and (CUDA) peak device memory. */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/threadpool.h"
#include "cli/cli.h"
#include "cmd/commands.h"
#include "cpu/simd.h"
#include "engine/session.h"
#include "model/model.h"
#ifdef GPTOSS_CUDA
#include "cuda/backend.h"
#endif

static void usage(FILE *f) {
    fprintf(f, "usage: gptoss bench (MODEL | --synth 20b|120b) [--device cpu|cuda] [-p N] [-n N] [-c N]\n"
               "                    [--batch N] [--seed S] [--copy-bw] [-t N] [-r REPS] [--json]\n"
               "                    [--q8] [--exact] [--keep-dense] [--kv f32|bf24|f16]\n"
               "       gptoss bench --kernels [--variants] [-t N] [-r REPS]   decode matvec GB/s per fast kernel\n"
               "  -p: prompt tokens prefilled in one append (default 512); -n, --max-tokens N: tokens\n"
               "  decoded one at a time after it (default 128); -c, --ctx N: session context (default\n"
               "  p + n, at least 4096); --device: default cuda when a GPU is usable, else cpu (gpu is an\n"
               "  alias of cuda); --batch: prefill chunk (default min(p, 4096)); --copy-bw: also measure a\n"
               "  device-to-device copy (the bandwidth bound of decode). Token ids are pseudo-random.\n"
               "  CPU: -t, --threads N (default: every CPU), -r repetitions (mean and spread). The default\n"
               "  reads the unembedding as Q8_0 (converted at load); --keep-dense: dense weights as stored; --q8:\n"
               "  attention in Q8_0 too; --exact: scalar reference kernels, as stored; --kv: the KV cache's\n"
               "  elements (default bf24, f32 with --exact; --kv-f16 is --kv f16). Prints open time, peak\n"
               "  RSS, bytes read per decoded token (weights, and the cached keys and values attention reads:\n"
               "  their average over the decoded positions) and the measured read bandwidth with the fraction\n"
               "  reached. --kernels --variants: the kernels of every CPU variant this machine runs, in a table\n"
               "  with the decode rate of a 20b token they imply, and which variant cpuid picks.\n");
}


/* The plain read every bandwidth figure here compares against: n words (a multiple of 4 are read)
 * summed in four independent chains, so the loads, not the adds, set the pace. */
static uint64_t sum_words(const uint64_t *p, size_t n) {
    uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    for (size_t i = 0; i + 4 <= n; i += 4) { s0 += p[i]; s1 += p[i + 1]; s2 += p[i + 2]; s3 += p[i + 3]; }
    return s0 + s1 + s2 + s3;
}

/* ---- CPU read bandwidth: n threads summing disjoint parts of one buffer ------------------------ */
typedef struct bw_arg { const uint64_t *p; size_t n; uint64_t sum; } bw_arg;
static void *bw_read(void *arg) {
    bw_arg *a = arg;
    a->sum = sum_words(a->p, a->n);
    return NULL;
}
/* The best of 3 passes over the buffer; or, with seconds > 0, the mean rate of passes repeated for that
 * long (a window as long as a decode, on a machine whose bandwidth moves within seconds). */
static double read_bandwidth(size_t bytes, uint32_t threads, double seconds) {
    /* on 2 MiB pages where the kernel gives them: the plain read at its best on this machine */
    void *mem = NULL;
    if (posix_memalign(&mem, (size_t)2 << 20, bytes) != 0) return 0;
    uint64_t *buf = mem;
#ifdef MADV_HUGEPAGE /* Linux only: macOS has no transparent huge pages */
    madvise(buf, bytes, MADV_HUGEPAGE);
#endif
    size_t words = bytes / 8;
    for (size_t i = 0; i < words; i++) buf[i] = i;
    double best = 0, read = 0;
    const double start = cli_now_s();
    for (int rep = 0; rep < 3 || (seconds > 0 && cli_now_s() - start < seconds); rep++) {
        pthread_t th[64];
        bw_arg args[64];
        uint32_t n = threads > 64 ? 64 : threads;
        double t0 = cli_now_s();
        for (uint32_t k = 0; k < n; k++) {
            args[k].p = buf + words / n * k;
            args[k].n = words / n;
            pthread_create(&th[k], NULL, bw_read, &args[k]);
        }
        for (uint32_t k = 0; k < n; k++) pthread_join(th[k], NULL);
        double dt = cli_now_s() - t0, gbs = (double)(words / n * n * 8) / dt / 1e9;
        if (gbs > best) best = gbs;
        read += (double)(words / n * n * 8);
    }
    const double mean = read / (cli_now_s() - start) / 1e9;
    free(buf);
    return seconds > 0 ? mean : best;
}
/* read_bandwidth in a child process, run before the model is loaded: its 2 GiB buffer then shows in
 * neither this process's peak RSS nor, under /usr/bin/time -v (which takes the larger of a process's
 * peak and its children's), above the model's own peak, so the RSS a bench reports is the engine's. */
static double read_bandwidth_apart(size_t bytes, uint32_t threads, double seconds) {
    int fds[2];
    if (pipe(fds) != 0) return read_bandwidth(bytes, threads, seconds);
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return read_bandwidth(bytes, threads, seconds);
    }
    if (pid == 0) {
        close(fds[0]);
        double bw = read_bandwidth(bytes, threads, seconds);
        _exit(write(fds[1], &bw, sizeof bw) == (ssize_t)sizeof bw ? 0 : 1);
    }
    close(fds[1]);
    double bw = 0;
    size_t got = 0;
    while (got < sizeof bw) {
        ssize_t r = read(fds[0], (char *)&bw + got, sizeof bw - got);
        if (r > 0) got += (size_t)r;
        else if (r == 0 || errno != EINTR) break;
    }
    close(fds[0]);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {}
    return got == sizeof bw ? bw : 0;
}


/* ---- the same plain read over the bytes decode reads, where they lie (mapped file, converted
 * copies): the rate a decoded token's weights can be read at, which depends on where the kernel put
 * their pages (on this project's VMs, page-cache ranges read at 15-29 GB/s) ---- */
typedef struct wr_job {
    const uint8_t **ptr;
    uint64_t *bytes;
    size_t n;
    uint64_t *first; /* item index where region i starts */
    uint64_t sums[64 * 8];
} wr_job;
#define WR_SLICE ((uint64_t)4 << 20)
static void wr_item(void *ctx, uint32_t item, uint32_t thread) {
    wr_job *j = ctx;
    size_t r = 0;
    while (r + 1 < j->n && j->first[r + 1] <= item) r++;
    const uint64_t off = (item - j->first[r]) * WR_SLICE, len = j->bytes[r] - off < WR_SLICE ? j->bytes[r] - off : WR_SLICE;
    /* regions start 8-byte aligned */
    j->sums[(thread % 64) * 8] += sum_words((const uint64_t *)(j->ptr[r] + off), (size_t)(len / 8));
}
/* GB/s of reading every region decode reads from (best of two passes); *total: their bytes. */
static double weights_read_bandwidth(const gptoss_model *m, uint32_t threads, double *total) {
    *total = 0;
    size_t n = gptoss_model_decode_regions(m, NULL, NULL, 0);
    wr_job j = {.n = n};
    j.ptr = calloc(n + 1, sizeof *j.ptr);
    j.bytes = calloc(n + 1, sizeof *j.bytes);
    j.first = calloc(n + 1, sizeof *j.first);
    gptoss_pool *pool = gptoss_pool_create(threads);
    double best = 0;
    if (n && j.ptr && j.bytes && j.first && pool) {
        gptoss_model_decode_regions(m, j.ptr, j.bytes, n);
        uint64_t items = 0;
        for (size_t i = 0; i < n; i++) {
            j.first[i] = items;
            items += (j.bytes[i] + WR_SLICE - 1) / WR_SLICE;
            *total += (double)j.bytes[i];
        }
        for (int pass = 0; pass < 2 && items <= UINT32_MAX; pass++) {
            double t0 = cli_now_s();
            gptoss_pool_run(pool, wr_item, &j, (uint32_t)items);
            double gbs = *total / (cli_now_s() - t0) / 1e9;
            if (gbs > best) best = gbs;
        }
    }
    gptoss_pool_free(pool);
    free(j.ptr); free(j.bytes); free(j.first);
    return best;
}

/* GB of this process's file-backed memory mapped by 2 MiB entries, and of anonymous huge pages. */
static void huge_page_gb(double *file_gb, double *anon_gb) {
    *file_gb = *anon_gb = 0;
    FILE *f = fopen("/proc/self/smaps_rollup", "r");
    if (!f) return;
    char line[256];
    while (fgets(line, sizeof line, f)) {
        double v;
        if (sscanf(line, "FilePmdMapped: %lf", &v) == 1) *file_gb = v * 1024 / 1e9;
        else if (sscanf(line, "AnonHugePages: %lf", &v) == 1) *anon_gb = v * 1024 / 1e9;
    }
    fclose(f);
}

/* ---- --kernels: decode matvec GB/s of each fast kernel vs a plain read of the same bytes ---------- */
typedef struct kb {
    const gptoss_cpu_ops *ops;
    int kind; /* 0 read, 1 mxfp4, 2 dense, 3 mxfp4 in ggml's layout (GGUF, gate/up split) */
    const uint8_t *buf;
    size_t bytes, chunk_rows;
    gptoss_mxfp4 mx;
    gptoss_mat mat;
    const float *x;
    float *out;
    uint64_t sums[256 * 8];
} kb;
static void kb_item(void *ctx, uint32_t item, uint32_t thread) {
    kb *k = ctx;
    if (k->kind == 0) { /* 64 items of bytes/64 */
        k->sums[thread * 8] += sum_words((const uint64_t *)(k->buf + k->bytes / 64 * item), k->bytes / 64 / 8);
        return;
    }
    uint64_t rows = k->kind == 1 || k->kind == 3 ? k->mx.rows : k->mat.rows;
    uint64_t r0 = (uint64_t)item * k->chunk_rows, r1 = r0 + k->chunk_rows < rows ? r0 + k->chunk_rows : rows;
    if (k->kind == 1) k->ops->mxfp4(k->out, rows, &k->mx, 0, NULL, k->x, k->mx.cols, 1, r0, r1);
    else if (k->kind == 3) k->ops->mxfp4_ggml(k->out, rows, &k->mx, 0, NULL, k->x, k->mx.cols, 1, r0, r1);
    else k->ops->dense(k->out, rows, &k->mat, NULL, k->x, k->mat.cols, 1, r0, r1);
}
static double cpu_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}
enum { KB_N = 5 };
/* One variant's kernels; mean[v] gets each one's mean GB/s (read, mxfp4, bf16, q8_0, mx_gguf). */
static int bench_kernels(const gptoss_cpu_ops *ops, uint32_t threads, uint32_t reps, double mean[KB_N]) {
    const size_t cols = 2880, bytes = (size_t)512 << 20;
    uint8_t *buf = malloc(bytes);
    float *x = malloc(cols * sizeof(float)), *out = malloc((bytes / 64 + 64) * sizeof(float));
    kb *k = calloc(1, sizeof *k);
    gptoss_pool *pool = gptoss_pool_create(threads);
    if (!buf || !x || !out || !k || !pool) {
        free(buf); free(x); free(out); free(k); gptoss_pool_free(pool);
        cli_error("bench: out of memory");
        return 1;
    }
    uint64_t s = 88172645463325252ull;
    for (size_t i = 0; i < bytes; i += 8) { s ^= s << 13; s ^= s >> 7; s ^= s << 17; memcpy(buf + i, &s, 8); }
    for (size_t i = 0; i < cols; i++) x[i] = (float)(i % 7) * 0.1f;
    k->ops = ops; k->buf = buf; k->bytes = bytes; k->x = x; k->out = out;
    const char *names[] = {"read", "mxfp4", "bf16", "q8_0", "mx_gguf"};
    printf("kernels (%s, %u threads, %zu MiB, decode: 1 token):\n", ops->name, gptoss_pool_threads(pool), bytes >> 20);
    for (int v = 0; v < KB_N; v++) {
        uint32_t items;
        k->kind = v == 0 ? 0 : v == 1 ? 1 : v == 4 ? 3 : 2;
        k->chunk_rows = GPTOSS_ROW_CHUNK; /* the rows of one work item of decode's products */
        size_t used;
        if (v == 0) { items = 64; used = bytes; }
        else if (v == 1) {
            size_t nb = cols / 32, rows = bytes / (nb * 17);
            k->mx = (gptoss_mxfp4){.blocks = buf, .scales = buf + rows * nb * 16, .n_experts = 1, .rows = rows, .cols = cols};
            for (size_t i = 0; i < rows * nb; i++) buf[rows * nb * 16 + i] = (uint8_t)(120 + i % 8);
            items = (uint32_t)((rows + k->chunk_rows - 1) / k->chunk_rows);
            used = rows * nb * 17;
        } else if (v == 4) { /* the same bytes as ggml blocks: scale byte first, gate/up halves */
            size_t nb = cols / 32, rows = bytes / (nb * 17) & ~(size_t)1;
            for (size_t i = 0; i < rows * nb; i++) buf[i * 17] = (uint8_t)(120 + i % 8);
            k->mx = (gptoss_mxfp4){.blocks = buf, .n_experts = 1, .rows = rows, .cols = cols, .layout = GPTOSS_MXFP4_GGML,
                                   .blocks_odd = buf + rows / 2 * nb * 17};
            items = (uint32_t)((rows + k->chunk_rows - 1) / k->chunk_rows);
            used = rows * nb * 17;
        } else {
            gptoss_dtype dt = v == 2 ? GPTOSS_DTYPE_BF16 : GPTOSS_DTYPE_Q8_0;
            size_t rows = bytes / gptoss_row_bytes(dt, cols);
            if (v == 2) /* normal bf16 of magnitude 2^-8..2^-1 */
                for (size_t i = 1; i < bytes; i += 2) buf[i] = (uint8_t)((buf[i] & 0x80) | 0x3c | (buf[i] & 3));
            else
                for (size_t i = 0; i + 34 <= bytes; i += 34) { buf[i] = 0; buf[i + 1] = 0x20; } /* d = 2^-7 */
            k->mat = (gptoss_mat){buf, dt, rows, cols};
            items = (uint32_t)((rows + k->chunk_rows - 1) / k->chunk_rows);
            used = rows * gptoss_row_bytes(dt, cols);
        }
        double best = 0, sum = 0, cpu = 0;
        for (uint32_t r = 0; r < reps + 1; r++) {
            double c0 = cpu_s(), t0 = cli_now_s();
            gptoss_pool_run(pool, kb_item, k, items);
            double dt = cli_now_s() - t0, gbs = used / dt / 1e9;
            if (r == 0) continue; /* warm-up */
            cpu += cpu_s() - c0;
            sum += gbs;
            if (gbs > best) best = gbs;
        }
        printf("  %-6s %7.2f GB/s best, %7.2f mean (%zu MB; cpu/wall %.2f)\n", names[v], best, sum / reps, used / 1000000,
               cpu / (used / (sum / reps) / 1e9 * reps));
        mean[v] = sum / reps;
    }
    gptoss_pool_free(pool);
    free(buf); free(x); free(out); free(k);
    return 0;
}

/* --kernels --variants: every variant this CPU runs, then a table of their means and a decoded 20b
 * token's rate from them. The token's weight bytes (attention BF16 1.27 GB, MXFP4 experts 1.27 GB,
 * Q8_0 unembedding 0.62 GB) weight each kernel's time, so the column ranks the variants as decode
 * would; the pick itself stays by cpuid features (simd.c), this is how to check it on a new CPU. */
static int bench_variants(uint32_t threads, uint32_t reps) {
    static const char *all[] = {"scalar", "avx2",  "avx2vnni", "avx512",  "avx512vnni",
                                "avx512vbmi", "amx", "neon", "neondot", "neoni8mm"};
    enum { NV = sizeof all / sizeof all[0] };
    double mean[NV][KB_N];
    const gptoss_cpu_ops *ops[NV];
    const gptoss_cpu_ops *picked = gptoss_cpu_ops_best();
    const char *pk = picked->name;
    for (int i = 0; i < NV; i++) {
        /* amx decodes with the kernels of the AVX-512 set it was built on (its gemm is for prefill):
         * measured once, under that set's name */
        ops[i] = !strcmp(all[i], "amx") || !strcmp(all[i], "scalar") ? NULL : gptoss_cpu_ops_named(all[i]);
        if (ops[i] && picked->gemm && ops[i]->mxfp4 == picked->mxfp4 && ops[i]->dense == picked->dense) pk = all[i];
        if (ops[i] && bench_kernels(ops[i], threads, reps, mean[i]) != 0) return 1;
    }
    const double gb_bf16 = 1.274, gb_mx = 1.269, gb_q8 = 0.615; /* gpt-oss-20b, one decoded token */
    printf("variants (GB/s, mean; read: a plain read of the same buffer; 20b token: its weights at these rates):\n"
           "  %-11s %7s %7s %7s %7s %7s %10s\n", "variant", "read", "mxfp4", "bf16", "q8_0", "mx_gguf", "20b tok/s");
    int fastest = -1;
    double best = 0;
    for (int i = 0; i < NV; i++) {
        if (!ops[i]) continue;
        const double *m = mean[i];
        const double tok = m[1] > 0 && m[2] > 0 && m[3] > 0 ? 1.0 / (gb_mx / m[1] + gb_bf16 / m[2] + gb_q8 / m[3]) : 0;
        printf("  %-11s %7.2f %7.2f %7.2f %7.2f %7.2f %10.2f%s\n", all[i], m[0], m[1], m[2], m[3], m[4], tok,
               !strcmp(all[i], pk) ? "  (picked)" : "");
        if (tok > best) { best = tok; fastest = i; }
    }
    char vendor[13];
    uint32_t family, model;
    const char *what = NULL, *pref = NULL;
    if (gptoss_cpu_identity(vendor, &family, &model)) {
        pref = gptoss_cpu_preferred(vendor, family, model, gptoss_cpu_ops_named, &what);
        if (what)
            printf("this CPU: %s family 0x%x model 0x%02x; measured preference for %s: %s\n", vendor, family, model,
                   what, pref ? pref : "none of its sets runs here");
        else
            printf("this CPU: %s family 0x%x model 0x%02x; no measured preference for its family: the feature "
                   "order\n", vendor, family, model);
    }
    if (fastest >= 0) {
        const int env = getenv("GPTOSS_CPU") && *getenv("GPTOSS_CPU");
        printf("fastest decode here: %s; picked: %s%s\n", all[fastest], picked->name,
               env ? " (GPTOSS_CPU)" : pref ? " (measured preference)" : " (cpuid features)");
        if (strcmp(all[fastest], pk) != 0 && !env)
            printf("if that holds over repeated runs on a quiet machine, it is the data for a row of "
                   "src/cpu/simd.c's family_prefs\n");
    }
    return 0;
}

static void mean_sd(const double *v, int n, double *mean, double *sd) {
    double s = 0, q = 0;
    for (int i = 0; i < n; i++) s += v[i];
    *mean = s / n;
    for (int i = 0; i < n; i++) q += (v[i] - *mean) * (v[i] - *mean);
    *sd = n > 1 ? sqrt(q / (n - 1)) : 0;
}

int cmd_bench(int argc, char **argv) {
    const char *model_path = NULL, *synth = NULL;
    uint32_t p = 512, n = 128, ctx = 0, batch = 0;
    uint64_t seed = 1;
    int copy_bw = 0, json = 0, q8 = 0, exact = 0, keep_dense = 0, kernels = 0, variants = 0;
    gptoss_kv_type kv_type = GPTOSS_KV_AUTO;
    uint32_t threads = 0, reps = 1;
    gptoss_device device = GPTOSS_DEVICE_AUTO;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v, *name = cli_option_name(a);
        int ok = 1;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); return 0; }
        else if (!strcmp(a, "--copy-bw")) copy_bw = 1;
        else if (!strcmp(a, "--json")) json = 1;
        else if (!strcmp(a, "--q8")) q8 = 1;
        else if (!strcmp(a, "--kernels")) kernels = 1;
        else if (!strcmp(a, "--variants")) variants = 1;
        else if (!strcmp(a, "--exact")) exact = 1;
        else if (!strcmp(a, "--keep-dense")) keep_dense = 1;
        else if (!strcmp(a, "--kv-f16")) kv_type = GPTOSS_KV_F16;
        else if (!strcmp(name, "--threads") || !strcmp(a, "-r")) {
            if (!(v = cli_next(argc, argv, &i))) return 2;
            int t = !strcmp(name, "--threads");
            ok = cli_parse_u32(v, t ? &threads : &reps) && (t || reps > 0);
            if (!ok) { cli_error("bench: invalid value '%s' for %s", v, a); return 2; }
        }
        else if (!strcmp(a, "--synth") || !strcmp(a, "--device") || !strcmp(a, "-p") || !strcmp(name, "--max-tokens") ||
                 !strcmp(name, "--ctx") || !strcmp(a, "--batch") || !strcmp(a, "--seed") || !strcmp(a, "--kv")) {
            if (!(v = cli_next(argc, argv, &i))) return 2;
            if (!strcmp(a, "--synth")) { synth = v; ok = !strcmp(v, "20b") || !strcmp(v, "120b"); }
            else if (!strcmp(a, "--device")) ok = cli_parse_device(v, &device);
            else if (!strcmp(a, "-p")) ok = cli_parse_u32(v, &p);
            else if (!strcmp(name, "--max-tokens")) ok = cli_parse_u32(v, &n);
            else if (!strcmp(name, "--ctx")) ok = cli_parse_u32(v, &ctx);
            else if (!strcmp(a, "--batch")) ok = cli_parse_u32(v, &batch) && batch > 0;
            else if (!strcmp(a, "--kv")) ok = cli_parse_kv_type(v, &kv_type);
            else ok = cli_parse_u64(v, &seed);
            if (!ok) { cli_error("bench: invalid value '%s' for %s", v, a); return 2; }
        } else if (a[0] == '-') { cli_error("bench: unknown option %s", a); usage(stderr); return 2; }
        else if (!model_path) model_path = a;
        else { cli_error("bench: unexpected argument '%s'", a); return 2; }
    }
    if (variants && !kernels) { cli_error("bench: --variants goes with --kernels"); return 2; }
    if (variants) return bench_variants(threads, reps < 3 ? 3 : reps);
    if (kernels) {
        double mean[KB_N];
        return bench_kernels(gptoss_cpu_ops_best(), threads, reps < 3 ? 3 : reps, mean);
    }
    if (!model_path == !synth) { usage(stderr); return 2; }
    if (model_path && !(model_path = cli_model_arg(model_path))) return 1;
    if (p + n == 0) { cli_error("bench: nothing to run (-p 0 -n 0)"); return 2; }

    const uint32_t used_threads = threads ? threads : (uint32_t)sysconf(_SC_NPROCESSORS_ONLN);
    /* measured first and apart (see read_bandwidth_apart); --synth and --device cuda never use it */
    double bw = synth || device == GPTOSS_DEVICE_CUDA ? 0 : read_bandwidth_apart((size_t)2 << 30, used_threads, 0);
    char err[512] = "";
    int rc = 1;
    gptoss_model *model = NULL;
    gptoss_session *sess = NULL;
    uint32_t *ids = NULL;
    double t0 = cli_now_s();
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
    } else {
        gptoss_model_options mo = {.dense_q8 = q8, .exact = exact, .keep_dense = keep_dense, .device = device};
        if (!(model = cli_load_model(model_path, &mo))) return 1;
    }
    const gptoss_model_config *c = gptoss_model_get_config(model);
    if (!ctx) ctx = p + n < 4096 ? 4096 : p + n;
    if (ctx > c->max_context) ctx = c->max_context;
    gptoss_session_options so = {.n_ctx = ctx, .n_batch = batch ? batch : (p ? (p < 4096 ? p : 4096) : 1), .device = device,
                                .n_threads = threads, .kv_type = kv_type};
    if (gptoss_session_create(model, &so, &sess, err, sizeof err) != GPTOSS_OK) { cli_error("%s", err); goto out; }
    double t_open = cli_now_s() - t0;
    uint32_t total = p + n;
    ids = malloc((total ? total : 1) * sizeof *ids);
    if (!ids) goto out;
    uint64_t x = seed * 0x9e3779b97f4a7c15ull + 12345;
    for (uint32_t i = 0; i < total; i++) {
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        ids[i] = (uint32_t)(x % c->vocab_size);
    }
    const int on_gpu = gptoss_session_device(sess) == GPTOSS_DEVICE_CUDA;
    if (!json) {
        printf("model: %s | layers %u, hidden %u, experts %u (top %u), vocab %u | device %s | ctx %u, batch %u\n",
               synth ? synth : model_path, c->n_layers, c->hidden_size, c->n_experts, c->n_experts_per_token,
               c->vocab_size, on_gpu ? "cuda" : "cpu", ctx, so.n_batch);
        printf("open+upload: %.2f s\n", t_open);
    }
    /* warm-up: one short prefill and one decode step (kernels loaded, decode graph captured) */
    if (gptoss_session_append(sess, ids, p ? (p < 16 ? p : 16) : 1, NULL, err, sizeof err) != GPTOSS_OK) {
        cli_error("%s", err);
        goto out;
    }
    const double t_step = cli_now_s();
    if (gptoss_session_append(sess, ids, 1, NULL, err, sizeof err) != GPTOSS_OK) { cli_error("%s", err); goto out; }
    double window = n * (cli_now_s() - t_step); /* the next decode's length, for the probes beside it */
    double pp[64], tg[64], near_bw[64] = {0}; /* near_bw: the faster probe beside each rep's decode */
    if (reps > 64) reps = 64;
    double t_prefill = 0, t_decode = 0, kv_bytes = 0;
    /* under mpirun: rank 0's time in the exchanges and bytes received while decoding (last rep) */
    const int ranks = gptoss_dist_size();
    double comm_s = 0;
    uint64_t comm_bytes = 0;
    for (uint32_t rep = 0; rep < reps; rep++) {
        gptoss_session_reset(sess);
        double t1 = cli_now_s();
        if (p && gptoss_session_append(sess, ids, p, NULL, err, sizeof err) != GPTOSS_OK) { cli_error("%s", err); goto out; }
        t_prefill = cli_now_s() - t1;
        if (ranks > 1) gptoss_dist_comm_stats(NULL, NULL, 1);
        /* A shared VM's bandwidth can move 1.5x from one second to the next (bench/RESULTS.md), so a
         * decode of several seconds meets a mix that the run's own probes, 3 passes each and a prefill
         * or more away, do not see: a plain read as long as the decode (at most 8 s, at least 3 passes
         * over 1 GiB), just before and just after it, its mean rate. */
        const double span = window > 8 ? 8 : window > 1e-3 ? window : 1e-3;
        const double near_before = bw > 0 && n ? read_bandwidth_apart((size_t)1 << 30, used_threads, span) : 0;
        double t2 = cli_now_s();
        for (uint32_t i = 0; i < n; i++) {
            if (rep == 0) kv_bytes += (double)gptoss_session_kv_read_bytes(sess);
            if (gptoss_session_append(sess, ids + p + i, 1, NULL, err, sizeof err) != GPTOSS_OK) { cli_error("%s", err); goto out; }
        }
        t_decode = cli_now_s() - t2;
        const double near_after = bw > 0 && n ? read_bandwidth_apart((size_t)1 << 30, used_threads, span) : 0;
        window = t_decode;
        near_bw[rep] = near_after > near_before ? near_after : near_before;
        if (ranks > 1) gptoss_dist_comm_stats(&comm_s, &comm_bytes, 0);
        pp[rep] = p / (t_prefill > 0 ? t_prefill : 1e-9);
        tg[rep] = n / (t_decode > 0 ? t_decode : 1e-9);
    }
    const float *lg = gptoss_session_logits(sess);
    int finite = 1;
    for (uint32_t j = 0; lg && j < c->vocab_size; j++) finite &= lg[j] == lg[j] && lg[j] - lg[j] == 0;
    /* this machine's bandwidth may change within minutes (a shared VM's does, by 1.5x): the probe again,
     * apart as before, and the faster of the two makes the bound, so a slow moment of the probe
     * never flatters the fraction */
    const double bw_before = bw, bw_after = bw > 0 ? read_bandwidth_apart((size_t)2 << 30, used_threads, 0) : 0;
    if (bw_after > bw) bw = bw_after;
    double pp_m, pp_sd, tg_m, tg_sd;
    mean_sd(pp, (int)reps, &pp_m, &pp_sd);
    mean_sd(tg, (int)reps, &tg_m, &tg_sd);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
#if defined(__APPLE__)
    const double rss_unit = 1.0; /* macOS counts ru_maxrss in bytes */
#else
    const double rss_unit = 1024.0; /* Linux and the BSDs in KiB */
#endif
    const double rss_gb = ru.ru_maxrss * rss_unit / 1e9; /* the bandwidth buffer lived in a child */
    gptoss_model_stats ms;
    gptoss_model_get_stats(model, &ms);
    double huge_file_gb, huge_anon_gb, wbytes = 0;
    huge_page_gb(&huge_file_gb, &huge_anon_gb);
    double bpt = (double)ms.bytes_per_token;
    if (on_gpu) bw = 0;
    /* a rank reads its share; reading every region would map the other ranks' weights here */
    double wbw = on_gpu || ranks > 1 ? 0 : weights_read_bandwidth(model, used_threads, &wbytes);
    if (ranks > 1) {
        uint64_t share = 0;
        gptoss_model_rank_bytes(model, (uint32_t)ranks, 0, NULL, &share);
        bpt = (double)share;
    }
    /* A decoded token reads the weights and, in attention, the cached keys and values in reach. */
    const double kvpt = n ? kv_bytes / n : 0;
    double bound = bw > 0 ? bw * 1e9 / (bpt + kvpt) : 0, decode_gbs = (bpt + kvpt) * tg_m / 1e9;
    /* each rep's decode against the bound of the faster probe beside it; the mean over reps */
    double near_frac[64] = {0}, near_mean = 0;
    for (uint32_t r = 0; r < reps && bw > 0; r++) {
        near_frac[r] = near_bw[r] > 0 ? tg[r] * (bpt + kvpt) / (near_bw[r] * 1e9) : 0;
        near_mean += near_frac[r] / reps;
    }
    const char *kv_name = on_gpu ? "device" : gptoss_kv_type_name(gptoss_session_kv_type(sess));
    if (json) {
        printf("{\"model\": \"%s\", \"device\": \"%s\", \"threads\": %u, \"reps\": %u, \"q8\": %d, \"exact\": %d, "
               "\"keep_dense\": %d, \"attention_dtype\": \"%s\", \"unembedding_dtype\": \"%s\", "
               "\"open_s\": %.3f, \"prefill_tokens\": %u, \"prefill_tok_s\": %.3f, \"prefill_tok_s_sd\": %.3f, "
               "\"decode_tokens\": %u, \"decode_tok_s\": %.3f, \"decode_tok_s_sd\": %.3f, \"peak_rss_gb\": %.3f, "
               "\"bytes_per_token\": %.0f, \"kv_bytes_per_token\": %.0f, \"read_bw_gb_s\": %.2f, \"read_bw_before_gb_s\": %.2f, "
               "\"read_bw_after_gb_s\": %.2f, \"decode_bound_tok_s\": %.6g, "
               "\"bw_fraction\": %.6g, \"bw_fraction_near\": %.6g, \"decode_read_gb_s\": %.6g, \"weights_read_gb_s\": %.2f, "
               "\"huge_file_gb\": %.3f, \"huge_anon_gb\": %.3f, \"kv_cache\": \"%s\", \"cpu_kernels\": \"%s\", \"finite\": %s",
               synth ? synth : model_path, on_gpu ? "cuda" : "cpu", used_threads, reps, q8, exact,
               keep_dense, ms.attention_dtype, ms.unembedding_dtype, t_open, p, pp_m,
               pp_sd, n, tg_m, tg_sd, rss_gb, bpt, kvpt, bw, bw_before, bw_after, bound, bound > 0 ? tg_m / bound : 0,
               near_mean, decode_gbs, wbw,
               huge_file_gb, huge_anon_gb, kv_name, gptoss_cpu_ops_best()->name, finite ? "true" : "false");
        if (near_mean > 0) {
            printf(", \"read_bw_near_gb_s\": [");
            for (uint32_t r = 0; r < reps; r++) printf("%s%.2f", r ? ", " : "", near_bw[r]);
            printf("]");
        }
        if (ranks > 1) /* rank 0's exchanges while decoding */
            printf(", \"ranks\": %d, \"comm_ms_per_token\": %.4f, \"comm_bytes_per_token\": %.0f", ranks,
                   n ? 1e3 * comm_s / n : 0.0, n ? (double)comm_bytes / n : 0.0);
        printf("}\n");
    } else {
        if (p) printf("prefill: pp%u = %.2f ± %.2f tok/s (%u reps; last %.3f s)\n", p, pp_m, pp_sd, reps, t_prefill);
        if (n) printf("decode: tg%u = %.2f ± %.2f tok/s (%.1f ms/token, context %u..%u)\n", n, tg_m, tg_sd,
                      1e3 / (tg_m > 0 ? tg_m : 1), p, p + n);
        if (!on_gpu) {
            printf("threads %u | peak RSS %.2f GB | %.2f GB read per decoded token: weights %.2f (attention %s, "
                   "unembedding %s) + KV cache %.2f (%s)\n",
                   used_threads, rss_gb, (bpt + kvpt) / 1e9, bpt / 1e9, ms.attention_dtype, ms.unembedding_dtype,
                   kvpt / 1e9, kv_name);
            printf("read bandwidth (%u threads, 2 GiB): %.1f GB/s before the run, %.1f after -> bound %.2f tok/s "
                   "(the faster); decode reaches %.0f%%\n",
                   used_threads, bw_before, bw_after, bound, bound > 0 ? 100 * tg_m / bound : 0);
            if (near_mean > 0) {
                printf("beside each decode, the faster of a read as long as it just before and just after it (mean rate):");
                for (uint32_t r = 0; r < reps; r++) printf("%s %.1f GB/s -> %.0f%%", r ? "," : "", near_bw[r], 100 * near_frac[r]);
                printf(" (mean %.0f%%)\n", 100 * near_mean);
            }
            /* context, not a bound: decode reads a subset of these bytes (4 of 32 experts a layer) */
            if (ranks == 1)
                printf("decode reads %.1f GB/s; a plain read of all %.2f GB it reads from (every expert), where "
                       "they lie: %.1f GB/s\n",
                       decode_gbs, wbytes / 1e9, wbw);
            else {
                /* what the bytes alone would take on a network of 1 and 10 Gbit/s (latency not counted) */
                const double per_tok = n ? (double)comm_bytes / n : 0, ms_tok = n ? 1e3 * comm_s / n : 0;
                printf("ranks %d (rank 0's share above) | exchanges %.3f ms per decoded token (%.0f%% of decode, "
                       "waiting included), %.1f KB received per token: %.2f ms at 1 Gbit/s, %.3f ms at 10 Gbit/s\n",
                       ranks, ms_tok, t_decode > 0 && n ? 100 * ms_tok / (1e3 * t_decode / n) : 0, per_tok / 1e3,
                       per_tok * 8 / 1e9 * 1e3, per_tok * 8 / 1e10 * 1e3);
            }
            printf("huge pages: %.2f GB of mapped file, %.2f GB anonymous\n", huge_file_gb, huge_anon_gb);
        }
        printf("last logits finite: %s\n", finite ? "yes" : "NO");
    }
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
