/* dist_mpi.c: the communicator over MPI (make MPI=1; Open MPI from Debian's libopenmpi-dev). Every
 * collective runs on MPI_COMM_WORLD from the thread that called MPI_Init (the thread pool's workers
 * never communicate). Errors keep MPI's default handler: a failed transfer ends every rank with a
 * message rather than leaving the others waiting. */
#include <limits.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dist/dist.h"
#include "dist/dist_mpi.h"

/* mpirun (Open MPI, MPICH/Hydra, or a PMIx launcher) leaves these in each rank's environment; a
 * plain start of an MPI build stays a single process and never initialises MPI. */
static int launched_by_mpirun(void) {
    static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "PMI_RANK"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        if (getenv(vars[i])) return 1;
    return 0;
}

int gptoss_mpi_init(int *argc, char ***argv, int *rank, int *size, char *err, size_t err_size) {
    if (!launched_by_mpirun()) return 0;
    int provided = 0;
    if (MPI_Init_thread(argc, argv, MPI_THREAD_SERIALIZED, &provided) != MPI_SUCCESS) {
        if (err && err_size) snprintf(err, err_size, "MPI_Init_thread failed");
        return -1;
    }
    MPI_Comm_rank(MPI_COMM_WORLD, rank);
    MPI_Comm_size(MPI_COMM_WORLD, size);
    if (*size > GPTOSS_MAX_RANKS) {
        if (err && err_size) snprintf(err, err_size, "%d ranks: at most %d are supported", *size, GPTOSS_MAX_RANKS);
        MPI_Finalize();
        return -1;
    }
    return 1;
}

void gptoss_mpi_finalize(void) {
    int done = 0;
    MPI_Finalized(&done);
    if (!done) MPI_Finalize();
}

_Noreturn void gptoss_mpi_abort(int code) {
    MPI_Abort(MPI_COMM_WORLD, code);
    exit(code); /* MPI_Abort does not return; this only tells the compiler so */
}

static int fits_int(uint64_t v) { return v <= (uint64_t)INT_MAX; }

/* root < 0: every rank receives every other rank's columns; else only root does. Rank k's columns of
 * the rows are one strided MPI datatype, sent straight from and received straight into buf. */
void gptoss_mpi_allgather_f32(int rank, int size, float *buf, size_t rows, size_t stride, const uint64_t *lo,
                              int root) {
    if (!fits_int(rows) || !fits_int(stride) || !fits_int(lo[size]) || size > GPTOSS_MAX_RANKS)
        gptoss_mpi_abort(1); /* a shape no sharded model can have: the config checks bound these */
    if (rows == 1 && root < 0) {
        int counts[GPTOSS_MAX_RANKS], displs[GPTOSS_MAX_RANKS];
        for (int k = 0; k < size; k++) {
            counts[k] = (int)(lo[k + 1] - lo[k]);
            displs[k] = (int)lo[k];
        }
        MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, buf, counts, displs, MPI_FLOAT, MPI_COMM_WORLD);
        return;
    }
    MPI_Request req[2 * GPTOSS_MAX_RANKS];
    int n_req = 0;
    MPI_Datatype types[GPTOSS_MAX_RANKS] = {0};
    for (int k = 0; k < size; k++) {
        types[k] = MPI_DATATYPE_NULL;
        const int width = (int)(lo[k + 1] - lo[k]);
        if (width == 0) continue;
        MPI_Type_vector((int)rows, width, (int)stride, MPI_FLOAT, &types[k]);
        MPI_Type_commit(&types[k]);
    }
    const int tag = 17;
    for (int k = 0; k < size; k++) {
        if (k == rank || types[k] == MPI_DATATYPE_NULL) continue;
        if (root < 0 || rank == root) MPI_Irecv(buf + lo[k], 1, types[k], k, tag, MPI_COMM_WORLD, &req[n_req++]);
    }
    if (types[rank] != MPI_DATATYPE_NULL)
        for (int k = 0; k < size; k++) {
            if (k == rank || (root >= 0 && k != root)) continue;
            MPI_Isend(buf + lo[rank], 1, types[rank], k, tag, MPI_COMM_WORLD, &req[n_req++]);
        }
    MPI_Waitall(n_req, req, MPI_STATUSES_IGNORE);
    for (int k = 0; k < size; k++)
        if (types[k] != MPI_DATATYPE_NULL) MPI_Type_free(&types[k]);
}

void gptoss_mpi_allreduce_sum_f32(float *buf, size_t n) {
    for (size_t done = 0; done < n;) {
        const int m = (int)(n - done < (size_t)INT_MAX ? n - done : (size_t)INT_MAX);
        MPI_Allreduce(MPI_IN_PLACE, buf + done, m, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        done += (size_t)m;
    }
}

void gptoss_mpi_bcast(void *buf, size_t bytes, int root) {
    for (size_t done = 0; done < bytes;) {
        const int m = (int)(bytes - done < (size_t)INT_MAX ? bytes - done : (size_t)INT_MAX);
        MPI_Bcast((char *)buf + done, m, MPI_BYTE, root, MPI_COMM_WORLD);
        done += (size_t)m;
    }
}

void gptoss_mpi_barrier(void) { MPI_Barrier(MPI_COMM_WORLD); }

void gptoss_mpi_allgather_bytes(const void *mine, void *all, size_t bytes) {
    MPI_Allgather(mine, (int)bytes, MPI_BYTE, all, (int)bytes, MPI_BYTE, MPI_COMM_WORLD);
}
