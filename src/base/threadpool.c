/* threadpool.c: see threadpool.h. */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "base/threadpool.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CPU_RELAX() _mm_pause()
#else
#define CPU_RELAX() ((void)0)
#endif

#define SPIN_ROUNDS 4000 /* pauses the caller spins before it yields while workers finish */
/* A worker spins this long for the next job before it sleeps: waking a sleeper costs 30-50 us on
 * the VMs measured (futex + IPI), and decode's gaps between jobs (a thread's idle time at the end of
 * a job plus the serial work after it) often exceed the former ~50 us of spinning, which left one
 * of two workers asleep at most job starts. */
#define SPIN_NS 2000000LL

/* A thread's unclaimed items [lo, hi), packed as lo << 32 | hi, on a cache line of its own. The
 * owner takes from lo, a thread whose share is empty takes the back half of the largest share. */
struct share {
    _Alignas(64) _Atomic uint64_t range;
};

struct gptoss_pool {
    uint32_t n;
    pthread_t *threads;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    _Atomic uint64_t gen;     /* incremented (under mu) for each job and for stop */
    struct share *share;      /* per thread: the items it has yet to take */
    _Atomic uint32_t busy;    /* workers still inside the current job */
    gptoss_pool_fn fn;
    void *ctx;
    int stop, sleepers;
    struct worker_arg { gptoss_pool *p; uint32_t id; } *args;
};

uint32_t gptoss_cpu_count(void) {
#if defined(__linux__)
    /* the CPUs this process may run on (taskset, cgroups), not all the machine's */
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        int n = CPU_COUNT(&set);
        if (n > 0) return (uint32_t)n;
    }
#else
    long n = sysconf(_SC_NPROCESSORS_ONLN); /* POSIX elsewhere (macOS has no affinity masks) */
    if (n > 0) return (uint32_t)n;
#endif
    return 1;
}

static long long now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}
static uint64_t range_of(uint32_t lo, uint32_t hi) { return (uint64_t)lo << 32 | hi; }

/* Moves the back half of the largest other share into the thief's own; 0 when every share is empty. */
static int steal(gptoss_pool *p, uint32_t id) {
    for (;;) {
        uint32_t victim = id, most = 0;
        uint64_t seen = 0;
        for (uint32_t k = 0; k < p->n; k++) {
            const uint64_t r = atomic_load_explicit(&p->share[k].range, memory_order_acquire);
            const uint32_t left = (uint32_t)r - (uint32_t)(r >> 32); /* lo <= hi always */
            if (k != id && left > most) victim = k, most = left, seen = r;
        }
        if (victim == id) return 0;
        const uint32_t lo = (uint32_t)(seen >> 32), hi = (uint32_t)seen, mid = lo + (hi - lo) / 2;
        if (atomic_compare_exchange_weak_explicit(&p->share[victim].range, &seen, range_of(lo, mid),
                                                  memory_order_acq_rel, memory_order_relaxed)) {
            atomic_store_explicit(&p->share[id].range, range_of(mid, hi), memory_order_release);
            return 1;
        }
    }
}

/* Each thread walks its own contiguous run of items in order, so that consecutive items (adjacent
 * rows of one matrix) reach the memory system as one stream per thread: with items handed out
 * alternately from one counter, each thread's next item started where no prefetch had reached, and
 * decode-sized items streamed 5-10% slower (bench/RESULTS.md). */
static void work(gptoss_pool *p, uint32_t id) {
    _Atomic uint64_t *mine = &p->share[id].range;
    for (;;) {
        uint64_t r = atomic_load_explicit(mine, memory_order_acquire);
        const uint32_t lo = (uint32_t)(r >> 32), hi = (uint32_t)r;
        if (lo < hi) {
            if (atomic_compare_exchange_weak_explicit(mine, &r, range_of(lo + 1, hi), memory_order_acq_rel,
                                                      memory_order_relaxed))
                p->fn(p->ctx, lo, id);
            continue;
        }
        if (!steal(p, id)) break;
    }
}

static void *worker_main(void *arg) {
    struct worker_arg *a = arg;
    gptoss_pool *p = a->p;
    uint64_t seen = 0;
    for (;;) {
        uint64_t g;
        const long long t0 = now_ns();
        for (unsigned spins = 1; (g = atomic_load_explicit(&p->gen, memory_order_acquire)) == seen; spins++) {
            CPU_RELAX();
            if (spins % 256 == 0 && now_ns() - t0 > SPIN_NS) break;
        }
        if (g == seen) {
            pthread_mutex_lock(&p->mu);
            while ((g = atomic_load_explicit(&p->gen, memory_order_acquire)) == seen) {
                p->sleepers++;
                pthread_cond_wait(&p->cv, &p->mu);
                p->sleepers--;
            }
            pthread_mutex_unlock(&p->mu);
        }
        seen = g;
        if (p->stop) return NULL;
        work(p, a->id);
        atomic_fetch_sub_explicit(&p->busy, 1, memory_order_release);
    }
}

enum { WORKER_STACK_BYTES = 2 << 20 };

gptoss_pool *gptoss_pool_create(uint32_t n_threads) {
    if (!n_threads) n_threads = gptoss_cpu_count();
    if (n_threads > 256) n_threads = 256;
    gptoss_pool *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->n = 1;
    p->share = aligned_alloc(_Alignof(struct share), (size_t)n_threads * sizeof *p->share);
    if (!p->share) {
        free(p);
        return NULL;
    }
    for (uint32_t k = 0; k < n_threads; k++) atomic_init(&p->share[k].range, 0);
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    if (n_threads > 1) {
        p->threads = calloc(n_threads - 1, sizeof *p->threads);
        p->args = calloc(n_threads - 1, sizeof *p->args);
        if (!p->threads || !p->args) {
            gptoss_pool_free(p);
            return NULL;
        }
        /* The CPU kernels keep up to ~100 KiB of per-call buffers on the stack (quantized activations,
         * widened prefill rows); default thread stacks are 128 KiB on musl and 512 KiB on macOS, so
         * the workers ask for WORKER_STACK_BYTES (address space only until touched). */
        pthread_attr_t attr;
        const int have_attr = pthread_attr_init(&attr) == 0;
        if (have_attr) pthread_attr_setstacksize(&attr, WORKER_STACK_BYTES);
        for (uint32_t i = 0; i + 1 < n_threads; i++) {
            p->args[i].p = p;
            p->args[i].id = i + 1;
            if (pthread_create(&p->threads[i], have_attr ? &attr : NULL, worker_main, &p->args[i]) != 0) break;
            p->n++;
        }
        if (have_attr) pthread_attr_destroy(&attr);
    }
    return p;
}

uint32_t gptoss_pool_threads(const gptoss_pool *p) { return p ? p->n : 1; }

void gptoss_pool_run(gptoss_pool *p, gptoss_pool_fn fn, void *ctx, uint32_t n_items) {
    if (!n_items) return;
    if (!p || p->n == 1 || n_items == 1) {
        for (uint32_t i = 0; i < n_items; i++) fn(ctx, i, 0);
        return;
    }
    p->fn = fn;
    p->ctx = ctx;
    for (uint32_t k = 0; k < p->n; k++) /* thread k: the k-th of n contiguous runs */
        atomic_store_explicit(&p->share[k].range,
                              range_of((uint32_t)((uint64_t)n_items * k / p->n), (uint32_t)((uint64_t)n_items * (k + 1) / p->n)),
                              memory_order_relaxed);
    atomic_store_explicit(&p->busy, p->n - 1, memory_order_relaxed);
    pthread_mutex_lock(&p->mu);
    atomic_fetch_add_explicit(&p->gen, 1, memory_order_release);
    if (p->sleepers) pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    work(p, 0);
    for (int spins = 0; atomic_load_explicit(&p->busy, memory_order_acquire) != 0; spins++) {
        if (spins < SPIN_ROUNDS) CPU_RELAX();
        else sched_yield(); /* more threads than CPUs: let the workers run */
    }
}

void gptoss_pool_free(gptoss_pool *p) {
    if (!p) return;
    if (p->n > 1) {
        pthread_mutex_lock(&p->mu);
        p->stop = 1;
        atomic_fetch_add_explicit(&p->gen, 1, memory_order_release);
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
        for (uint32_t i = 0; i + 1 < p->n; i++) pthread_join(p->threads[i], NULL);
    }
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p->threads);
    free(p->args);
    free(p->share);
    free(p);
}
