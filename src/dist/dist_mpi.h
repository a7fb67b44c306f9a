/* dist_mpi.h: the MPI implementation behind dist.c's communicator (dist_mpi.c, built with make MPI=1
 * only). Each function is the collective of the same name in dist.h for a world of size > 1. */
#ifndef GPTOSS_DIST_MPI_H
#define GPTOSS_DIST_MPI_H

#include <stddef.h>
#include <stdint.h>

/* 1 when the environment shows an mpirun launch; then MPI is initialised and rank/size are set. */
int gptoss_mpi_init(int *argc, char ***argv, int *rank, int *size, char *err, size_t err_size);
void gptoss_mpi_finalize(void);
void gptoss_mpi_allgather_f32(int rank, int size, float *buf, size_t rows, size_t stride, const uint64_t *lo,
                              int root);
void gptoss_mpi_allreduce_sum_f32(float *buf, size_t n);
void gptoss_mpi_bcast(void *buf, size_t bytes, int root);
void gptoss_mpi_barrier(void);
/* Every rank's `bytes` bytes at mine -> all[size * bytes], in rank order. */
void gptoss_mpi_allgather_bytes(const void *mine, void *all, size_t bytes);
_Noreturn void gptoss_mpi_abort(int code);
/* See gptoss_comm_on_lost and gptoss_comm_peer_gone in dist.h. */
void gptoss_mpi_on_lost(void (*fn)(void *ctx, const char *why), void *ctx);
int gptoss_mpi_peer_gone(char *why, size_t why_size);

#endif
