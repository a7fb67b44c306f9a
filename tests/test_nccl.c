/* test_nccl.c: the collectives on GPU memory through NCCL (src/dist/dist_nccl.c, make CUDA=1 MPI=1).
 * Needs a GPU a rank: alone it checks one rank on one GPU; under mpirun -np N (N GPUs) the column
 * allgather of unevenly split rows, the broadcast and the sum across ranks. Any other build, or a
 * machine without a GPU, prints one skip line. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"

#ifdef GPTOSS_NCCL
#include <cuda_runtime_api.h>

#include "dist/dist.h"
#include "dist/dist_nccl.h"

int main(int argc, char **argv) {
    char err[512] = "";
    int n_dev = 0;
    if (cudaGetDeviceCount(&n_dev) != cudaSuccess || n_dev == 0) {
        tap_skip("nccl collectives", "no CUDA device on this machine");
        return 0;
    }
    if (gptoss_comm_init(&argc, &argv, err, sizeof err) != GPTOSS_OK) {
        tap_check(0, "nccl: joining the MPI world: %s", err);
        return 1;
    }
    gptoss_comm *c = gptoss_comm_world();
    const int rank = gptoss_comm_rank(c), size = gptoss_comm_size(c);
    gptoss_nccl *n = NULL;
    if (!tap_check(gptoss_nccl_open(c, &n, err, sizeof err) == GPTOSS_OK, "nccl: %d ranks open a communicator (%s)",
                   size, err))
        return 1;
    /* 3 rows of 11 columns split over the ranks; rank r fills its own columns with row*100+col. */
    enum { ROWS = 3, COLS = 11 };
    uint64_t lo[GPTOSS_MAX_RANKS + 1];
    for (int k = 0; k <= size; k++) lo[k] = gptoss_split_lo(COLS, (uint32_t)size, (uint32_t)k);
    float host[ROWS * COLS], want[ROWS * COLS];
    for (int i = 0; i < ROWS * COLS; i++) {
        const int col = i % COLS;
        want[i] = (float)(i / COLS * 100 + col);
        host[i] = col >= (int)lo[rank] && col < (int)lo[rank + 1] ? want[i] : -1.0f;
    }
    float *d = NULL;
    int ok = cudaMalloc((void **)&d, sizeof host) == cudaSuccess &&
             cudaMemcpy(d, host, sizeof host, cudaMemcpyHostToDevice) == cudaSuccess &&
             gptoss_nccl_allgather_f32(n, d, ROWS, COLS, lo, err, sizeof err) == GPTOSS_OK &&
             cudaMemcpy(host, d, sizeof host, cudaMemcpyDeviceToHost) == cudaSuccess;
    tap_check(ok && !memcmp(host, want, sizeof host), "nccl: column allgather on %d ranks, device %d (%s)", size,
              gptoss_nccl_device(n), err);
    uint32_t ids[4] = {0};
    if (rank == 0) ids[0] = 7, ids[3] = 9;
    ok = cudaMemcpy(d, ids, sizeof ids, cudaMemcpyHostToDevice) == cudaSuccess &&
         gptoss_nccl_bcast(n, d, sizeof ids, 0, err, sizeof err) == GPTOSS_OK &&
         cudaMemcpy(ids, d, sizeof ids, cudaMemcpyDeviceToHost) == cudaSuccess;
    tap_check(ok && ids[0] == 7 && ids[3] == 9, "nccl: broadcast from rank 0 (%s)", err);
    float one[2] = {1.0f, (float)rank};
    ok = cudaMemcpy(d, one, sizeof one, cudaMemcpyHostToDevice) == cudaSuccess &&
         gptoss_nccl_allreduce_sum_f32(n, d, 2, err, sizeof err) == GPTOSS_OK &&
         cudaMemcpy(one, d, sizeof one, cudaMemcpyDeviceToHost) == cudaSuccess;
    tap_check(ok && one[0] == (float)size && one[1] == (float)(size * (size - 1) / 2), "nccl: sum over %d ranks (%s)",
              size, err);
    cudaFree(d);
    gptoss_nccl_free(n);
    gptoss_comm_finalize();
    return tap_n_failed ? 1 : 0;
}

#else
int main(void) {
    tap_skip("nccl collectives", "this build has no NCCL (make CUDA=1 MPI=1)");
    return 0;
}
#endif
