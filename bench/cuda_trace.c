/* cuda_trace.c: a tiny CUPTI kernel tracer for machines without nsys/ncu. Build as a shared library and
 * load it through the driver's injection hook:
 *   gcc -O2 -shared -fPIC -I$CUDA_HOME/include bench/cuda_trace.c -o build-cuda/cuda_trace.so \
 *       -L$CUDA_HOME/lib64 -Wl,-rpath,$CUDA_HOME/lib64 -lcupti
 *   CUDA_INJECTION64_PATH=$PWD/build-cuda/cuda_trace.so build-cuda/gptoss bench --synth 20b --device cuda ...
 * At exit it prints (stderr) every kernel launched from a CUDA graph (the decode step) grouped by name:
 * launches, total / mean / min time, grid, block, registers, shared memory; then per graph replay the span,
 * the busy time (sum of kernel durations), the idle time between consecutive kernels, and the launches per
 * replay; then the kernel sequence of one replay (GPTOSS_TRACE_SEQ=N kernels, default 24). */
#define _GNU_SOURCE
#include <cupti.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    uint64_t start, end;
    const char *name;
    int gx, gy, gz, bx, regs, smem;
    uint32_t graph;
} rec;

static rec *g_recs;
static size_t g_n, g_cap;

static void CUPTIAPI buf_req(uint8_t **buf, size_t *size, size_t *max) {
    *size = 8 << 20;
    *buf = aligned_alloc(8, *size);
    *max = 0;
}

static void CUPTIAPI buf_done(CUcontext ctx, uint32_t stream, uint8_t *buf, size_t size, size_t valid) {
    (void)ctx, (void)stream, (void)size;
    CUpti_Activity *a = NULL;
    while (cuptiActivityGetNextRecord(buf, valid, &a) == CUPTI_SUCCESS) {
        if (a->kind != CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL && a->kind != CUPTI_ACTIVITY_KIND_KERNEL) continue;
        const CUpti_ActivityKernel10 *k = (const CUpti_ActivityKernel10 *)a;
        if (g_n == g_cap) {
            g_cap = g_cap ? 2 * g_cap : 1 << 16;
            g_recs = realloc(g_recs, g_cap * sizeof *g_recs);
        }
        rec *r = &g_recs[g_n++];
        r->start = k->start;
        r->end = k->end;
        r->name = k->name ? strdup(k->name) : "?";
        r->gx = k->gridX, r->gy = k->gridY, r->gz = k->gridZ, r->bx = k->blockX * k->blockY * k->blockZ;
        r->regs = k->registersPerThread;
        r->smem = k->staticSharedMemory + k->dynamicSharedMemory;
        r->graph = k->graphId;
    }
    free(buf);
}

typedef struct {
    const char *name;
    uint64_t total, min;
    int n, gx, gy, gz, bx, regs, smem;
} agg;

static int by_start(const void *a, const void *b) {
    const rec *x = a, *y = b;
    return x->start < y->start ? -1 : x->start > y->start;
}
static int by_total(const void *a, const void *b) {
    const agg *x = a, *y = b;
    return x->total > y->total ? -1 : x->total < y->total;
}

static void report(void) {
    cuptiActivityFlushAll(1);
    qsort(g_recs, g_n, sizeof *g_recs, by_start);
    size_t ng = 0;
    for (size_t i = 0; i < g_n; i++)
        if (g_recs[i].graph) g_recs[ng++] = g_recs[i];
    fprintf(stderr, "cuda_trace: %zu kernels in graph replays\n", ng);
    if (!ng) return;
    agg *t = calloc(ng, sizeof *t);
    size_t na = 0;
    for (size_t i = 0; i < ng; i++) {
        const rec *r = &g_recs[i];
        size_t j = 0;
        while (j < na && !(strcmp(t[j].name, r->name) == 0 && t[j].gx == r->gx && t[j].gy == r->gy)) j++;
        if (j == na) {
            t[na] = (agg){r->name, 0, ~0ull, 0, r->gx, r->gy, r->gz, r->bx, r->regs, r->smem};
            na++;
        }
        const uint64_t d = r->end - r->start;
        t[j].total += d;
        t[j].n++;
        if (d < t[j].min) t[j].min = d;
    }
    qsort(t, na, sizeof *t, by_total);
    uint64_t all = 0;
    for (size_t j = 0; j < na; j++) all += t[j].total;
    fprintf(stderr, "%6s %6s %9s %8s %8s %14s %5s %4s %6s  %s\n", "share", "count", "total_us", "mean_us", "min_us",
            "grid", "block", "regs", "smem", "kernel");
    for (size_t j = 0; j < na && j < 40; j++)
        fprintf(stderr, "%5.1f%% %6d %9.1f %8.2f %8.2f %5dx%4dx%3d %5d %4d %6d  %.90s\n", 100.0 * t[j].total / all, t[j].n,
                t[j].total / 1e3, t[j].total / 1e3 / t[j].n, t[j].min / 1e3, t[j].gx, t[j].gy, t[j].gz, t[j].bx, t[j].regs,
                t[j].smem, t[j].name);
    /* replays: a new one at each embedding kernel (the first node) or after a gap over 200 us */
    size_t s0 = 0, steps = 0;
    double span = 0, busy = 0, idle = 0, launches = 0;
    size_t last0 = 0, last1 = 0;
    for (size_t i = 1; i <= ng; i++) {
        if (i == ng || strstr(g_recs[i].name, "embed_kernel") || g_recs[i].start > g_recs[i - 1].end + 200000) {
            uint64_t b = 0, id = 0;
            for (size_t k = s0; k < i; k++) {
                b += g_recs[k].end - g_recs[k].start;
                if (k > s0 && g_recs[k].start > g_recs[k - 1].end) id += g_recs[k].start - g_recs[k - 1].end;
            }
            if (i - s0 > 8) {
                steps++;
                span += (g_recs[i - 1].end - g_recs[s0].start) / 1e3;
                busy += b / 1e3;
                idle += id / 1e3;
                launches += i - s0;
                last0 = s0, last1 = i;
            }
            s0 = i;
        }
    }
    if (steps)
        fprintf(stderr, "replays %zu: per replay span %.1f us, kernel busy %.1f us, idle between kernels %.1f us, %.0f launches "
                        "(%.2f us idle per launch)\n",
                steps, span / steps, busy / steps, idle / steps, launches / steps, idle / launches);
    const char *e = getenv("GPTOSS_TRACE_SEQ");
    size_t seq = e ? strtoul(e, NULL, 10) : 24;
    for (size_t k = last0; k < last1 && k < last0 + seq; k++)
        fprintf(stderr, "  +%8.2f us  dur %7.2f  gap %6.2f  %5dx%4d x%4d  %.70s\n", (g_recs[k].start - g_recs[last0].start) / 1e3,
                (g_recs[k].end - g_recs[k].start) / 1e3, k > last0 ? ((int64_t)g_recs[k].start - (int64_t)g_recs[k - 1].end) / 1e3 : 0.0,
                g_recs[k].gx, g_recs[k].gy, g_recs[k].bx, g_recs[k].name);
}

int InitializeInjection(void) {
    if (cuptiActivityRegisterCallbacks(buf_req, buf_done) != CUPTI_SUCCESS) return 0;
    if (cuptiActivityEnable(CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL) != CUPTI_SUCCESS) {
        fprintf(stderr, "cuda_trace: cannot enable kernel activity\n");
        return 0;
    }
    atexit(report);
    return 1;
}
