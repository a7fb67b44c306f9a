/* dist_nccl.c: the communicator's collectives on GPU memory through NCCL, for several GPUs in one
 * machine (make CUDA=1 MPI=1; nccl.h and libnccl from the CUDA toolkit or NVIDIA's libnccl-dev).
 * The ranks are the MPI world's; MPI carries only NCCL's id at open. NCCL has no strided datatypes,
 * so a column allgather is grouped point-to-point transfers of each row's slice: values are only
 * moved, as in dist_mpi.c. Built only with both CUDA and MPI; not used by the forward pass yet
 * (sharded sessions run on the CPU: docs/MPI.md). */
#include <cuda_runtime_api.h>
#include <nccl.h>
#include <stdio.h>
#include <stdlib.h>

#include "dist/dist_nccl.h"

struct gptoss_nccl {
    ncclComm_t comm;
    cudaStream_t stream;
    int rank, size, device;
};

static gptoss_status nccl_fail(ncclResult_t r, const char *what, char *err, size_t err_size) {
    return gptoss_fail(GPTOSS_ERR_IO, err, err_size, "%s: %s", what, ncclGetErrorString(r));
}

static gptoss_status cuda_fail(cudaError_t e, const char *what, char *err, size_t err_size) {
    return gptoss_fail(GPTOSS_ERR_IO, err, err_size, "%s: %s", what, cudaGetErrorString(e));
}

/* The rank's index among the ranks of its machine, from mpirun's environment (0 if unknown). */
static int local_rank(void) {
    static const char *const vars[] = {"OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID", "PMIX_LOCAL_RANK"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        const char *v = getenv(vars[i]);
        if (v && *v) return atoi(v);
    }
    return 0;
}

gptoss_status gptoss_nccl_open(gptoss_comm *c, gptoss_nccl **out, char *err, size_t err_size) {
    *out = NULL;
    const int rank = gptoss_comm_rank(c), size = gptoss_comm_size(c);
    int n_dev = 0;
    cudaError_t ce = cudaGetDeviceCount(&n_dev);
    /* Every rank must learn whether all could start: agree before NCCL's collective init. */
    char why[256] = "";
    if (ce != cudaSuccess || n_dev <= 0)
        snprintf(why, sizeof why, "no CUDA device: %s", ce != cudaSuccess ? cudaGetErrorString(ce) : "none visible");
    int device = n_dev > 0 ? local_rank() % n_dev : 0;
    if (!why[0] && (ce = cudaSetDevice(device)) != cudaSuccess)
        snprintf(why, sizeof why, "cudaSetDevice(%d): %s", device, cudaGetErrorString(ce));
    ncclUniqueId id;
    ncclResult_t r = ncclSuccess;
    if (!why[0] && rank == 0 && (r = ncclGetUniqueId(&id)) != ncclSuccess)
        snprintf(why, sizeof why, "ncclGetUniqueId: %s", ncclGetErrorString(r));
    if (gptoss_comm_agree(c, !why[0], why, 0, err, err_size) >= 0) return GPTOSS_ERR_IO;
    gptoss_comm_bcast(c, &id, sizeof id, 0);
    gptoss_nccl *n = calloc(1, sizeof *n);
    if (!n) snprintf(why, sizeof why, "out of memory");
    else {
        n->rank = rank;
        n->size = size;
        n->device = device;
        if ((ce = cudaStreamCreateWithFlags(&n->stream, cudaStreamNonBlocking)) != cudaSuccess)
            snprintf(why, sizeof why, "cudaStreamCreate: %s", cudaGetErrorString(ce));
        else if ((r = ncclCommInitRank(&n->comm, size, id, rank)) != ncclSuccess) {
            snprintf(why, sizeof why, "ncclCommInitRank: %s", ncclGetErrorString(r));
            n->comm = NULL;
        }
    }
    if (gptoss_comm_agree(c, !why[0], why, 0, err, err_size) >= 0) {
        gptoss_nccl_free(n);
        return GPTOSS_ERR_IO;
    }
    *out = n;
    return GPTOSS_OK;
}

void gptoss_nccl_free(gptoss_nccl *n) {
    if (!n) return;
    if (n->comm) ncclCommDestroy(n->comm);
    if (n->stream) cudaStreamDestroy(n->stream);
    free(n);
}

int gptoss_nccl_device(const gptoss_nccl *n) { return n ? n->device : -1; }

static gptoss_status finish(gptoss_nccl *n, ncclResult_t r, const char *what, char *err, size_t err_size) {
    if (r != ncclSuccess) return nccl_fail(r, what, err, err_size);
    cudaError_t ce = cudaStreamSynchronize(n->stream);
    return ce == cudaSuccess ? GPTOSS_OK : cuda_fail(ce, what, err, err_size);
}

gptoss_status gptoss_nccl_allgather_f32(gptoss_nccl *n, float *d_buf, size_t rows, size_t stride, const uint64_t *lo,
                                        char *err, size_t err_size) {
    if (!n || n->size == 1 || rows == 0) return GPTOSS_OK;
    ncclResult_t r = ncclGroupStart();
    const size_t mine = (size_t)(lo[n->rank + 1] - lo[n->rank]);
    for (size_t row = 0; r == ncclSuccess && row < rows; row++) {
        float *base = d_buf + row * stride;
        for (int k = 0; r == ncclSuccess && k < n->size; k++) {
            if (k == n->rank) continue;
            const size_t theirs = (size_t)(lo[k + 1] - lo[k]);
            if (mine) r = ncclSend(base + lo[n->rank], mine, ncclFloat, k, n->comm, n->stream);
            if (r == ncclSuccess && theirs) r = ncclRecv(base + lo[k], theirs, ncclFloat, k, n->comm, n->stream);
        }
    }
    ncclResult_t e = ncclGroupEnd();
    return finish(n, r != ncclSuccess ? r : e, "NCCL allgather", err, err_size);
}

gptoss_status gptoss_nccl_bcast(gptoss_nccl *n, void *d_buf, size_t bytes, int root, char *err, size_t err_size) {
    if (!n || n->size == 1 || bytes == 0) return GPTOSS_OK;
    return finish(n, ncclBroadcast(d_buf, d_buf, bytes, ncclUint8, root, n->comm, n->stream), "NCCL broadcast", err,
                  err_size);
}

gptoss_status gptoss_nccl_allreduce_sum_f32(gptoss_nccl *n, float *d_buf, size_t count, char *err, size_t err_size) {
    if (!n || n->size == 1 || count == 0) return GPTOSS_OK;
    return finish(n, ncclAllReduce(d_buf, d_buf, count, ncclFloat, ncclSum, n->comm, n->stream), "NCCL allreduce", err,
                  err_size);
}
