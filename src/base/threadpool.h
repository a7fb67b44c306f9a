/* threadpool.h: persistent worker threads for the forward pass. A pool of N threads is the caller
 * plus N-1 workers created once (with the session or batch); gptoss_pool_run splits the items
 * 0..n_items-1 of one job into one contiguous run per thread (the caller works too), which each
 * thread takes in order; a thread that runs out takes the back half of the largest run left. It
 * returns when all are done. Idle workers spin briefly, then sleep on a condition variable. Which thread runs an item
 * must not change its result: every output is written by exactly one item. */
#ifndef GPTOSS_THREADPOOL_H
#define GPTOSS_THREADPOOL_H

#include <stdint.h>

typedef struct gptoss_pool gptoss_pool;
/* thread: 0 for the caller, 1..N-1 for the workers (indexes per-thread scratch). */
typedef void (*gptoss_pool_fn)(void *ctx, uint32_t item, uint32_t thread);

/* n_threads 0: the number of CPUs this process may run on. NULL when out of memory or threads. */
gptoss_pool *gptoss_pool_create(uint32_t n_threads);
void gptoss_pool_free(gptoss_pool *p);
uint32_t gptoss_pool_threads(const gptoss_pool *p);
/* Runs fn(ctx, i, thread) for every i < n_items. p may be NULL (runs inline). */
void gptoss_pool_run(gptoss_pool *p, gptoss_pool_fn fn, void *ctx, uint32_t n_items);
/* CPUs available to the process (sched_getaffinity on Linux, else sysconf), at least 1. */
uint32_t gptoss_cpu_count(void);

#endif
