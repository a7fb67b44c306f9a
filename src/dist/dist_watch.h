/* dist_watch.h: the liveness channel between rank 0 and the ranks on other hosts (dist_watch.c), a
 * TCP connection each, independent of MPI. The kernel closes a dead process's sockets at once, so
 * rank 0 learns of a remote rank's death long before mpirun's own report (which may end rank 0
 * before it can say which rank died). dist_mpi.c exchanges the offer over MPI and polls the
 * connections in its watchdog. Plain POSIX sockets: nothing here needs MPI. */
#ifndef GPTOSS_DIST_WATCH_H
#define GPTOSS_DIST_WATCH_H

#include <stddef.h>
#include <stdint.h>

#define GPTOSS_WATCH_MAX_ADDRS 8
#define GPTOSS_WATCH_TOKEN_BYTES 16
/* A hello: "GPTW", the token, the rank (4 bytes, big-endian). */
#define GPTOSS_WATCH_HELLO_BYTES (4 + GPTOSS_WATCH_TOKEN_BYTES + 4)

/* What rank 0 broadcasts: where it listens and the token a rank proves it belongs to the job with.
 * Plain bytes, the same layout on every rank (one binary). n_addrs 0: no channel. */
typedef struct {
    uint16_t port;
    uint8_t n_addrs;
    uint8_t family[GPTOSS_WATCH_MAX_ADDRS]; /* 4 or 6 */
    uint8_t addr[GPTOSS_WATCH_MAX_ADDRS][16];
    uint8_t token[GPTOSS_WATCH_TOKEN_BYTES];
} gptoss_watch_offer;

typedef struct gptoss_watch gptoss_watch;

/* Rank 0 of n_ranks: listens on every address (an ephemeral port) and fills offer with its port, its
 * non-loopback addresses (loopback ones only when it has no other) and a fresh random token. */
int gptoss_watch_listen(gptoss_watch **out, int n_ranks, gptoss_watch_offer *offer, char *err, size_t err_size);
/* Rank 0: accepts connections until every rank k with expect[k] nonzero has sent a valid hello, or
 * `seconds` pass; a connection with a wrong hello is closed. Then stops listening. Returns how many
 * expected ranks did not connect; the lowest of them in *first_missing (else -1). */
int gptoss_watch_accept(gptoss_watch *w, const unsigned char *expect, double seconds, int *first_missing);
/* Another rank: connects to one of offer's addresses (each tried within the time left of `seconds`)
 * and sends its hello, keeping the connection open. 0, or -1 with why in err. */
int gptoss_watch_join(gptoss_watch **out, const gptoss_watch_offer *offer, int rank, double seconds, char *err,
                      size_t err_size);
/* Rank 0: the lowest rank whose connection has closed without a goodbye (the process died, or its
 * host or the network failed), waiting up to `seconds` for one when none has yet; -1 when none.
 * Once closed, a rank stays reported. Thread-safe. NULL: -1. */
int gptoss_watch_lost(gptoss_watch *w, double seconds);
/* A joined rank: says goodbye (an orderly end, not a death) and closes; rank 0: closes everything.
 * NULL is accepted. */
void gptoss_watch_close(gptoss_watch *w);
/* Checks a hello of n bytes against token: the rank it names (0 < rank < n_ranks), or -1. */
int gptoss_watch_hello_parse(const uint8_t *msg, size_t n, const uint8_t *token, int n_ranks);
/* The hello of `rank` with token, into out[GPTOSS_WATCH_HELLO_BYTES]. */
void gptoss_watch_hello_make(uint8_t *out, const uint8_t *token, int rank);

#endif
