/* dist.c: the process-wide communicator: the single-process one (every collective a no-op, agree
 * only reports this process's own status) and, in an MPI build (GPTOSS_MPI), the dispatch to
 * dist_mpi.c once mpirun's environment has been joined. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dist/dist.h"
#ifdef GPTOSS_MPI
#include "dist/dist_mpi.h"
#endif

struct gptoss_comm {
    int rank, size;
    int mpi; /* 1: MPI was initialised by gptoss_comm_init */
};

static gptoss_comm world = {0, 1, 0};

/* What the collectives of a world of several ranks cost this process (gptoss_comm_stats). */
static double comm_seconds;
static uint64_t comm_bytes;

#ifdef GPTOSS_MPI
static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}
#endif

void gptoss_comm_stats(double *seconds, uint64_t *bytes_received, int reset) {
    if (seconds) *seconds = comm_seconds;
    if (bytes_received) *bytes_received = comm_bytes;
    if (reset) {
        comm_seconds = 0;
        comm_bytes = 0;
    }
}

gptoss_status gptoss_comm_init(int *argc, char ***argv, char *err, size_t err_size) {
    if (world.mpi) return GPTOSS_OK;
#ifdef GPTOSS_MPI
    int rank = 0, size = 1;
    int r = gptoss_mpi_init(argc, argv, &rank, &size, err, err_size);
    if (r < 0) return GPTOSS_ERR_IO;
    if (r == 1) {
        world.rank = rank;
        world.size = size;
        world.mpi = 1;
    }
#else
    (void)argc;
    (void)argv;
    (void)err;
    (void)err_size;
#endif
    return GPTOSS_OK;
}

gptoss_comm *gptoss_comm_world(void) { return &world; }

void gptoss_comm_finalize(void) {
#ifdef GPTOSS_MPI
    if (world.mpi) gptoss_mpi_finalize();
#endif
    world.mpi = 0;
    world.rank = 0;
    world.size = 1;
}

int gptoss_comm_rank(const gptoss_comm *c) { return c ? c->rank : 0; }
int gptoss_comm_size(const gptoss_comm *c) { return c ? c->size : 1; }

void gptoss_comm_allgather_f32(gptoss_comm *c, float *buf, size_t rows, size_t stride, const uint64_t *lo) {
    if (!c || c->size == 1 || rows == 0) return;
#ifdef GPTOSS_MPI
    const double t0 = now_s();
    gptoss_mpi_allgather_f32(c->rank, c->size, buf, rows, stride, lo, -1);
    comm_seconds += now_s() - t0;
    comm_bytes += (uint64_t)rows * (lo[c->size] - lo[0] - (lo[c->rank + 1] - lo[c->rank])) * sizeof(float);
#else
    (void)buf;
    (void)stride;
    (void)lo;
#endif
}

void gptoss_comm_gather_f32(gptoss_comm *c, float *buf, size_t rows, size_t stride, const uint64_t *lo, int root) {
    if (!c || c->size == 1 || rows == 0) return;
#ifdef GPTOSS_MPI
    const double t0 = now_s();
    gptoss_mpi_allgather_f32(c->rank, c->size, buf, rows, stride, lo, root);
    comm_seconds += now_s() - t0;
    if (c->rank == root)
        comm_bytes += (uint64_t)rows * (lo[c->size] - lo[0] - (lo[c->rank + 1] - lo[c->rank])) * sizeof(float);
#else
    (void)buf;
    (void)stride;
    (void)lo;
    (void)root;
#endif
}

void gptoss_comm_allreduce_sum_f32(gptoss_comm *c, float *buf, size_t n) {
    if (!c || c->size == 1 || n == 0) return;
#ifdef GPTOSS_MPI
    gptoss_mpi_allreduce_sum_f32(buf, n);
#else
    (void)buf;
#endif
}

void gptoss_comm_bcast(gptoss_comm *c, void *buf, size_t bytes, int root) {
    if (!c || c->size == 1 || bytes == 0) return;
#ifdef GPTOSS_MPI
    const double t0 = now_s();
    gptoss_mpi_bcast(buf, bytes, root);
    comm_seconds += now_s() - t0;
    if (c->rank != root) comm_bytes += bytes;
#else
    (void)buf;
    (void)root;
#endif
}

void gptoss_comm_barrier(gptoss_comm *c) {
    if (!c || c->size == 1) return;
#ifdef GPTOSS_MPI
    gptoss_mpi_barrier();
#endif
}

/* What each rank contributes to an agreement. */
typedef struct agree_rec {
    int32_t ok;
    uint32_t pad;
    uint64_t fingerprint;
    char msg[240];
} agree_rec;

int gptoss_comm_agree(gptoss_comm *c, int ok, const char *msg, uint64_t fingerprint, char *err, size_t err_size) {
    agree_rec mine;
    memset(&mine, 0, sizeof mine);
    mine.ok = ok != 0;
    mine.fingerprint = fingerprint;
    snprintf(mine.msg, sizeof mine.msg, "%s", msg && *msg ? msg : "failed");
    const int size = c ? c->size : 1;
    if (size == 1) {
        if (ok) return -1;
        if (err && err_size) snprintf(err, err_size, "rank 0: %s", mine.msg);
        return 0;
    }
    agree_rec *all = calloc((size_t)size, sizeof *all);
    if (!all) gptoss_comm_abort(c, 1, "out of memory agreeing on a status");
#ifdef GPTOSS_MPI
    gptoss_mpi_allgather_bytes(&mine, all, sizeof mine);
#endif
    int bad = -1;
    for (int r = 0; r < size && bad < 0; r++) {
        if (!all[r].ok) bad = r;
        else if (all[r].fingerprint != all[0].fingerprint) {
            bad = r;
            snprintf(all[r].msg, sizeof all[r].msg, "its model differs from rank 0's (another shape or file)");
        }
    }
    if (bad >= 0 && err && err_size) snprintf(err, err_size, "rank %d: %s", bad, all[bad].msg);
    free(all);
    return bad;
}

void gptoss_comm_on_lost(void (*fn)(void *ctx, const char *why), void *ctx) {
#ifdef GPTOSS_MPI
    gptoss_mpi_on_lost(fn, ctx);
#else
    (void)fn;
    (void)ctx;
#endif
}

int gptoss_comm_peer_gone(char *why, size_t why_size) {
#ifdef GPTOSS_MPI
    if (world.mpi && world.size > 1) return gptoss_mpi_peer_gone(why, why_size);
#endif
    (void)why;
    (void)why_size;
    return -1;
}

_Noreturn void gptoss_comm_abort(gptoss_comm *c, int code, const char *reason) {
    fprintf(stderr, "gptoss: rank %d: %s\n", c ? c->rank : 0, reason ? reason : "aborted");
    fflush(stderr);
#ifdef GPTOSS_MPI
    if (c && c->mpi) gptoss_mpi_abort(code);
#endif
    exit(code);
}
