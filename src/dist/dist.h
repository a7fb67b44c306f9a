/* dist.h: the communicator between the processes (ranks) that share one model: rank and size, the
 * collectives the sharded forward pass exchanges activations with, broadcasts of control messages
 * and token ids, agreement on a status, abort. One process-wide communicator: MPI's world when the
 * build has MPI (make MPI=1) and the process was started by mpirun, else a single-process one whose
 * collectives do nothing (every rank's part is already all of it). Only base/ below it. */
#ifndef GPTOSS_DIST_H
#define GPTOSS_DIST_H

#include <stddef.h>
#include <stdint.h>

#include "base/common.h"

typedef struct gptoss_comm gptoss_comm;

/* The most ranks one run may have (the collectives keep per-rank state on the stack). */
#define GPTOSS_MAX_RANKS 256

/* Joins the MPI world when the environment says mpirun started this process (and the build has
 * MPI); otherwise, or called again, it only leaves the single-process communicator in place. */
gptoss_status gptoss_comm_init(int *argc, char ***argv, char *err, size_t err_size);
/* The process's communicator (never NULL; single-process before init or without MPI). */
gptoss_comm *gptoss_comm_world(void);
/* Leaves MPI (a no-op for the single-process communicator). */
void gptoss_comm_finalize(void);
int gptoss_comm_rank(const gptoss_comm *c);
int gptoss_comm_size(const gptoss_comm *c);

/* Split of `total` things (rows, heads, experts) over n ranks: rank r owns [lo(r), lo(r+1)), balanced
 * within one, ranks in order. Every layer that splits uses this one rule. */
static inline uint64_t gptoss_split_lo(uint64_t total, uint32_t n, uint32_t r) {
    return n ? total * r / n : 0;
}

/* In place: buf is `rows` rows of `stride` floats; columns [lo[k], lo[k+1]) of every row are rank
 * k's (lo has size+1 entries, non-decreasing, lo[size] <= stride). Afterwards every rank holds every
 * rank's columns. Values are only moved, never combined, so the result does not depend on the size. */
void gptoss_comm_allgather_f32(gptoss_comm *c, float *buf, size_t rows, size_t stride, const uint64_t *lo);
/* The same, delivered to `root` only. */
void gptoss_comm_gather_f32(gptoss_comm *c, float *buf, size_t rows, size_t stride, const uint64_t *lo, int root);
/* Elementwise sum over the ranks into every rank's buf. The order of the additions depends on the
 * size: the forward pass does not use it where logits must not depend on the number of ranks. */
void gptoss_comm_allreduce_sum_f32(gptoss_comm *c, float *buf, size_t n);
/* root's bytes to every rank (control messages, token ids). */
void gptoss_comm_bcast(gptoss_comm *c, void *buf, size_t bytes, int root);
void gptoss_comm_barrier(gptoss_comm *c);
/* Seconds this process spent in the allgathers, gathers and broadcasts of a world of several ranks
 * (waiting for the others included) and the bytes it received in them, since the start or the last
 * reset (nonzero reset: start again from 0). Always 0 in a single process. */
void gptoss_comm_stats(double *seconds, uint64_t *bytes_received, int reset);
/* Every rank says whether its step succeeded (ok) and why not (msg); returns -1 when all did, else the
 * lowest failing rank, with "rank R: its message" in err on every rank. fingerprint: a value every
 * rank must share (a hash of the model's shape); a rank whose value differs from rank 0's fails. */
int gptoss_comm_agree(gptoss_comm *c, int ok, const char *msg, uint64_t fingerprint, char *err, size_t err_size);
/* A rank that waits in a collective for a rank that died (on this host: its process is gone; on
 * another: rank 0's liveness connection to it closed, or MPI reports the broken connection) calls
 * fn(ctx, why) on the waiting thread, then prints "gptoss: rank R: why; exiting" and exits with
 * status 1 without leaving MPI (there is no clean way out with a peer gone). When the waiting
 * thread is stuck inside MPI, rank 0's watch thread does this in its place, and the waiting thread
 * never returns. Collectives that fn calls move nothing. fn may answer what depended on the lost
 * rank (a server's requests) and need not return: another thread may end the process. NULL: none. */
void gptoss_comm_on_lost(void (*fn)(void *ctx, const char *why), void *ctx);
/* The lowest rank on this host whose process has ended, or (rank 0) on another host whose liveness
 * connection closed, with why ("rank R (pid P on HOST) died ...") in why; -1 when none has (or in a
 * single process). */
int gptoss_comm_peer_gone(char *why, size_t why_size);
/* Prints "gptoss: rank R: reason" on stderr and ends every rank with exit status code. For states
 * that no status can report (a rank that lost step with the others). */
_Noreturn void gptoss_comm_abort(gptoss_comm *c, int code, const char *reason);

#endif
