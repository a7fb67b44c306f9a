/* dist_nccl.h: the communicator's collectives on GPU memory, through NCCL (make CUDA=1 MPI=1 finds
 * NCCL in the CUDA toolkit; dist_nccl.c). One NCCL communicator over the same ranks as the
 * process-wide one (dist.h), each rank on its own GPU; the same value-moving semantics, so a sharded
 * forward pass on GPUs would give the same logits whatever the number of ranks. */
#ifndef GPTOSS_DIST_NCCL_H
#define GPTOSS_DIST_NCCL_H

#include <stddef.h>
#include <stdint.h>

#include "base/common.h"
#include "dist/dist.h"

typedef struct gptoss_nccl gptoss_nccl;

/* Collective over c's ranks: each picks GPU (local rank mod the GPUs it sees) and joins one NCCL
 * communicator (rank 0's id broadcast through c). *out = NULL on failure, on every rank. */
gptoss_status gptoss_nccl_open(gptoss_comm *c, gptoss_nccl **out, char *err, size_t err_size);
void gptoss_nccl_free(gptoss_nccl *n);
/* The CUDA device this rank uses. */
int gptoss_nccl_device(const gptoss_nccl *n);
/* gptoss_comm_allgather_f32 on a device buffer (rows of stride floats; rank k's columns [lo[k],
 * lo[k+1]) to every rank). Returns when the data is in place. */
gptoss_status gptoss_nccl_allgather_f32(gptoss_nccl *n, float *d_buf, size_t rows, size_t stride, const uint64_t *lo,
                                        char *err, size_t err_size);
/* root's bytes of a device buffer to every rank's. */
gptoss_status gptoss_nccl_bcast(gptoss_nccl *n, void *d_buf, size_t bytes, int root, char *err, size_t err_size);
/* Elementwise sum over the ranks (its order depends on NCCL and the number of ranks). */
gptoss_status gptoss_nccl_allreduce_sum_f32(gptoss_nccl *n, float *d_buf, size_t count, char *err, size_t err_size);

#endif
