/* constraint_worker.c: gptoss_constraint_worker, threads that compute the constraint masks of a
 * batch while the caller runs the forward pass (include/gptoss.h). Each batch is one generation:
 * thread t takes the states t, t + n_threads, ...; the last thread to finish wakes the caller. */
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "base/common.h"
#include "gptoss.h"

#define MAX_WORKER_THREADS 64

typedef struct worker_thread {
    struct gptoss_constraint_worker *w;
    pthread_t thread;
    uint32_t index;
    gptoss_status first; /* this thread's first failure in the current batch */
    size_t first_at;     /* and at which state */
    double busy;         /* under the worker's lock */
} worker_thread;

struct gptoss_constraint_worker {
    pthread_mutex_t mu;
    pthread_cond_t go, done;
    uint32_t n_threads, n_started;
    uint64_t generation; /* batches started */
    uint32_t n_running;  /* threads still on the current batch */
    int quit;
    gptoss_constraint_state *const *states;
    size_t n;
    gptoss_constraint_next *next;
    gptoss_status *status;
    worker_thread *threads;
};

static double seconds_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void *worker_main(void *arg) {
    worker_thread *me = arg;
    gptoss_constraint_worker *w = me->w;
    uint64_t seen = 0;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (w->generation == seen && !w->quit) pthread_cond_wait(&w->go, &w->mu);
        if (w->quit) break;
        seen = w->generation;
        pthread_mutex_unlock(&w->mu);
        /* the batch's fields only change while no thread runs (start refuses then) */
        double t0 = seconds_now();
        me->first = GPTOSS_OK;
        me->first_at = SIZE_MAX;
        for (size_t i = me->index; i < w->n; i += w->n_threads) {
            gptoss_status st = gptoss_constraint_state_next(w->states[i], &w->next[i]);
            if (w->status) w->status[i] = st;
            if (st != GPTOSS_OK && me->first == GPTOSS_OK) {
                me->first = st;
                me->first_at = i;
            }
        }
        double dt = seconds_now() - t0;
        pthread_mutex_lock(&w->mu);
        me->busy += dt;
        if (--w->n_running == 0) pthread_cond_broadcast(&w->done);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

gptoss_status gptoss_constraint_worker_create(const gptoss_constraint_worker_options *options,
                                              gptoss_constraint_worker **out, char *err, size_t err_size) {
    if (out) *out = NULL;
    if (!out) return gptoss_fail(GPTOSS_ERR_INVALID_ARGUMENT, err, err_size, "constraint worker: out is NULL");
    uint32_t n_threads = options && options->n_threads ? options->n_threads : 1;
    if (n_threads > MAX_WORKER_THREADS)
        return gptoss_fail(GPTOSS_ERR_INVALID_ARGUMENT, err, err_size, "constraint worker: %u threads (at most %d)",
                           n_threads, MAX_WORKER_THREADS);
    gptoss_constraint_worker *w = calloc(1, sizeof *w);
    worker_thread *threads = calloc(n_threads, sizeof *threads);
    if (!w || !threads) {
        free(w);
        free(threads);
        return gptoss_fail(GPTOSS_ERR_NO_MEMORY, err, err_size, "constraint worker: out of memory");
    }
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->go, NULL);
    pthread_cond_init(&w->done, NULL);
    w->n_threads = n_threads;
    w->threads = threads;
    for (uint32_t t = 0; t < n_threads; t++) {
        threads[t].w = w;
        threads[t].index = t;
        if (pthread_create(&threads[t].thread, NULL, worker_main, &threads[t]) != 0) {
            gptoss_constraint_worker_free(w);
            return gptoss_fail(GPTOSS_ERR_NO_MEMORY, err, err_size, "constraint worker: cannot start a thread");
        }
        w->n_started++;
    }
    *out = w;
    return GPTOSS_OK;
}

void gptoss_constraint_worker_free(gptoss_constraint_worker *w) {
    if (!w) return;
    gptoss_constraint_worker_wait(w);
    pthread_mutex_lock(&w->mu);
    w->quit = 1;
    pthread_cond_broadcast(&w->go);
    pthread_mutex_unlock(&w->mu);
    for (uint32_t t = 0; t < w->n_started; t++) pthread_join(w->threads[t].thread, NULL);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->go);
    pthread_cond_destroy(&w->done);
    free(w->threads);
    free(w);
}

gptoss_status gptoss_constraint_worker_start(gptoss_constraint_worker *w, gptoss_constraint_state *const *states,
                                             size_t n, gptoss_constraint_next *next, gptoss_status *status) {
    if (!w || (n && (!states || !next))) return GPTOSS_ERR_INVALID_ARGUMENT;
    pthread_mutex_lock(&w->mu);
    if (w->n_running) {
        pthread_mutex_unlock(&w->mu);
        return GPTOSS_ERR_INVALID_ARGUMENT;
    }
    w->states = states;
    w->n = n;
    w->next = next;
    w->status = status;
    w->n_running = w->n_threads;
    w->generation++;
    pthread_cond_broadcast(&w->go);
    pthread_mutex_unlock(&w->mu);
    return GPTOSS_OK;
}

gptoss_status gptoss_constraint_worker_wait(gptoss_constraint_worker *w) {
    if (!w) return GPTOSS_ERR_INVALID_ARGUMENT;
    pthread_mutex_lock(&w->mu);
    while (w->n_running) pthread_cond_wait(&w->done, &w->mu);
    gptoss_status st = GPTOSS_OK;
    size_t at = SIZE_MAX;
    for (uint32_t t = 0; t < w->n_started; t++)
        if (w->threads[t].first != GPTOSS_OK && w->threads[t].first_at < at) {
            st = w->threads[t].first;
            at = w->threads[t].first_at;
        }
    pthread_mutex_unlock(&w->mu);
    return st;
}

double gptoss_constraint_worker_busy_seconds(const gptoss_constraint_worker *w) {
    if (!w) return 0;
    pthread_mutex_t *mu = (pthread_mutex_t *)&w->mu;
    pthread_mutex_lock(mu);
    double s = 0;
    for (uint32_t t = 0; t < w->n_started; t++) s += w->threads[t].busy;
    pthread_mutex_unlock(mu);
    return s;
}
