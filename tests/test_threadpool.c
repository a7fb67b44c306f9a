/* test_threadpool.c: gptoss_pool (src/base/threadpool.c): every item of a job runs exactly once, on a
 * thread id below the pool's size, for pools of 1 to 9 threads (more threads than this machine's
 * CPUs included) and jobs of 0 to 1000 items; a thread whose run is slow has the rest of it taken by
 * the others; each thread takes its own run's items in order, and steals few times; jobs run back to back reuse the pool. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/threadpool.h"

static int n_failed;

static void check(int ok, const char *name) {
    printf("%sok - %s\n", ok ? "" : "not ", name);
    if (!ok) n_failed++;
}

enum { MAX_ITEMS = 1000, MAX_THREADS = 9 };

typedef struct job {
    _Atomic uint32_t runs[MAX_ITEMS];
    _Atomic uint32_t bad_thread;
    uint32_t n_threads;
    uint32_t slow_item; /* this item sleeps 20 ms (UINT32_MAX: none) */
    _Atomic uint32_t by_thread[MAX_THREADS];
    /* per thread, the items it ran in the order it ran them */
    uint32_t order[MAX_THREADS][MAX_ITEMS];
    uint32_t n_order[MAX_THREADS];
} job;

static void item(void *ctx, uint32_t i, uint32_t thread) {
    job *j = ctx;
    if (thread >= j->n_threads || i >= MAX_ITEMS) {
        atomic_fetch_add(&j->bad_thread, 1);
        return;
    }
    atomic_fetch_add(&j->runs[i], 1);
    atomic_fetch_add(&j->by_thread[thread], 1);
    j->order[thread][j->n_order[thread]++] = i; /* only this thread writes its row */
    if (i == j->slow_item) nanosleep(&(struct timespec){0, 20 * 1000 * 1000}, NULL);
}

static void reset(job *j, uint32_t n_threads, uint32_t slow_item) {
    memset(j, 0, sizeof *j);
    j->n_threads = n_threads;
    j->slow_item = slow_item;
}

/* Items a thread ran form ascending stretches: one per run it owned or took (a few at most). */
static uint32_t max_stretches(const job *j) {
    uint32_t most = 0;
    for (uint32_t t = 0; t < j->n_threads; t++) {
        uint32_t s = j->n_order[t] ? 1 : 0;
        for (uint32_t k = 1; k < j->n_order[t]; k++) s += j->order[t][k] != j->order[t][k - 1] + 1;
        if (s > most) most = s;
    }
    return most;
}

int main(void) {
    static job j;
    static const uint32_t sizes[] = {0, 1, 2, 3, 7, 64, 255, 1000};
    for (uint32_t n_threads = 1; n_threads <= MAX_THREADS; n_threads += n_threads < 4 ? 1 : 5) {
        gptoss_pool *p = gptoss_pool_create(n_threads);
        char name[160];
        snprintf(name, sizeof name, "pool of %u threads created with that many", n_threads);
        check(p && gptoss_pool_threads(p) == n_threads, name);
        if (!p) continue;
        for (uint32_t rep = 0; rep < 3; rep++)
            for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
                const uint32_t n = sizes[s];
                reset(&j, n_threads, UINT32_MAX);
                gptoss_pool_run(p, item, &j, n);
                uint32_t once = 0;
                for (uint32_t i = 0; i < MAX_ITEMS; i++) once += atomic_load(&j.runs[i]) == (i < n);
                snprintf(name, sizeof name, "%u threads, %u items (job %u): each item ran once, on a valid thread",
                         n_threads, n, rep + 1);
                check(once == MAX_ITEMS && atomic_load(&j.bad_thread) == 0, name);
                /* A thread's stretches are its own run plus one per steal; each steal takes half of
                 * what is left, so about log2(n) per other thread. Not checked with more threads than
                 * CPUs, where a descheduled worker's run is taken piecemeal. */
                if (n_threads > 1 && n_threads <= gptoss_cpu_count() && n >= 64 && rep == 0) {
                    uint32_t log2n = 0;
                    while ((1u << log2n) < n) log2n++;
                    const uint32_t st = max_stretches(&j), bound = (n_threads - 1) * (2 * log2n + 2) + 1;
                    snprintf(name, sizeof name,
                             "%u threads, %u items: a thread's items come in %u ascending stretches (at most %u)",
                             n_threads, n, st, bound);
                    check(st <= bound, name);
                }
            }
        if (n_threads > 1) { /* the first item of thread 0's run sleeps: the others take the rest */
            reset(&j, n_threads, 0);
            gptoss_pool_run(p, item, &j, 200);
            uint32_t once = 0;
            for (uint32_t i = 0; i < 200; i++) once += atomic_load(&j.runs[i]) == 1;
            const uint32_t own = 200 / n_threads;
            snprintf(name, sizeof name,
                     "%u threads, thread 0 stalls on its first item: all 200 ran once, it ran %u of its run's %u",
                     n_threads, atomic_load(&j.by_thread[0]), own);
            check(once == 200 && atomic_load(&j.by_thread[0]) < own, name);
        }
        gptoss_pool_free(p);
    }
    gptoss_pool_free(NULL);
    gptoss_pool_run(NULL, item, &j, 0);
    reset(&j, 1, UINT32_MAX);
    gptoss_pool_run(NULL, item, &j, 5);
    check(atomic_load(&j.runs[4]) == 1 && atomic_load(&j.by_thread[0]) == 5, "no pool: items run inline, in order");
    return n_failed ? 1 : 0;
}
