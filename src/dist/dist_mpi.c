/* dist_mpi.c: the communicator over MPI (make MPI=1; Open MPI from Debian's libopenmpi-dev). Every
 * collective runs on MPI_COMM_WORLD from the thread that called MPI_Init (the thread pool's workers
 * never communicate), and waits through the watchdog below: a rank that dies makes the ones waiting
 * for it say which rank and exit non-zero instead of waiting forever. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <mpi.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

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

/* ---- watchdog ------------------------------------------------------------------------------------
 * Shared memory (Open MPI's vader) never reports a peer that died: a rank waiting for it would spin
 * forever, and mpirun's answer to the death (SIGTERM to the others, SIGKILL odls_base_sigkill_timeout
 * seconds later) would end rank 0 without a word. So every wait below polls: each ~100 ms it looks
 * whether the ranks on this host are still alive (their pids were exchanged at init; one whose
 * /proc entry is gone or a zombie has died), and a SIGTERM from mpirun (the parent) is held until
 * the next wait, which tells a peer's death (say which rank, exit 1) from an ordinary stop (die of
 * the SIGTERM as before). Ranks on other hosts are seen through MPI's own errors (MPI_ERRORS_RETURN:
 * TCP reports a closed connection). */
static int g_rank, g_size;
static pid_t g_pids[GPTOSS_MAX_RANKS];
static char g_hosts[GPTOSS_MAX_RANKS][MPI_MAX_PROCESSOR_NAME];
static volatile sig_atomic_t g_term_from_parent;
static void (*g_on_lost)(void *ctx, const char *why);
static void *g_on_lost_ctx;

void gptoss_mpi_on_lost(void (*fn)(void *ctx, const char *why), void *ctx) {
    g_on_lost = fn;
    g_on_lost_ctx = ctx;
}

static void on_sigterm(int sig, siginfo_t *si, void *uctx) {
    (void)uctx;
    if (si && si->si_pid == getppid()) {
        g_term_from_parent = 1; /* looked at by the next wait */
        return;
    }
    signal(sig, SIG_DFL); /* someone else's SIGTERM: stop as the default would */
    raise(sig);
}

/* 1 when the process `pid` of this host has ended (no /proc entry, or a zombie not yet reaped). */
static int pid_gone(pid_t pid) {
    char path[64], buf[256];
    snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return errno == ENOENT;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return 0;
    buf[n] = 0;
    const char *p = strrchr(buf, ')'); /* the command name may hold spaces and parentheses */
    return p && p[1] == ' ' && (p[2] == 'Z' || p[2] == 'X');
}

/* The lowest rank on this host that has died, or -1. */
static int peer_gone(void) {
    for (int k = 0; k < g_size; k++)
        if (k != g_rank && !strcmp(g_hosts[k], g_hosts[g_rank]) && pid_gone(g_pids[k])) return k;
    return -1;
}

static _Noreturn void lost(const char *why) {
    if (g_on_lost) g_on_lost(g_on_lost_ctx, why); /* may answer what waits on this rank, or never return */
    fprintf(stderr, "gptoss: rank %d: %s; exiting\n", g_rank, why);
    fflush(NULL);
    _exit(1); /* MPI cannot be left cleanly with a peer gone, and atexit handlers could wait on it */
}

static void rank_gone_why(int k, char *why, size_t why_size) {
    snprintf(why, why_size, "rank %d (pid %ld on %s) died (killed by a signal or crashed: mpirun's report names it)", k,
             (long)g_pids[k], g_hosts[k]);
}

static _Noreturn void lost_rank(int k) {
    char why[MPI_MAX_PROCESSOR_NAME + 160];
    rank_gone_why(k, why, sizeof why);
    lost(why);
}

int gptoss_mpi_peer_gone(char *why, size_t why_size) {
    int k = peer_gone();
    if (k >= 0 && why && why_size) rank_gone_why(k, why, why_size);
    return k;
}

static double mono_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Checks between polls: a held SIGTERM, the peers on this host. */
static void watch(void) {
    if (g_term_from_parent) {
        int k = peer_gone();
        if (k >= 0) lost_rank(k);
        /* No rank of this host died: mpirun stops the job (Ctrl-C, SIGTERM to it), or a rank on
         * another host died, which only mpirun saw (a broken connection is not always reported
         * before its SIGTERM). Say so when there is another host, then stop as before. */
        for (k = 0; k < g_size; k++)
            if (strcmp(g_hosts[k], g_hosts[g_rank])) {
                fprintf(stderr, "gptoss: rank %d: mpirun ended the job while this rank waited for the others (a rank "
                        "on another host may have died: mpirun's report names it)\n", g_rank);
                break;
            }
        signal(SIGTERM, SIG_DFL);
        raise(SIGTERM);
    }
    int k = peer_gone();
    if (k >= 0) lost_rank(k);
}

static void check(int rc) {
    if (rc == MPI_SUCCESS) return;
    char msg[MPI_MAX_ERROR_STRING + 64] = "";
    int len = 0;
    int k = peer_gone();
    if (k >= 0) lost_rank(k);
    MPI_Error_string(rc, msg, &len);
    char why[MPI_MAX_ERROR_STRING + 128];
    snprintf(why, sizeof why, "a transfer with another rank failed (a rank on another host died or the network "
             "failed): %s", msg);
    lost(why);
}

/* Waits for n requests, polling so that the watchdog runs every ~100 ms of waiting. */
static void wait_all(int n, MPI_Request *req) {
    if (n <= 0) return;
    int done = 0;
    double next = mono_s() + 0.1;
    for (unsigned spins = 0;; spins++) {
        check(MPI_Testall(n, req, &done, MPI_STATUSES_IGNORE));
        if (done) return;
        if ((spins & 255) == 0 && (g_term_from_parent || mono_s() >= next)) {
            watch();
            next = mono_s() + 0.1;
        }
    }
}

static void wait_one(MPI_Request *req) { wait_all(1, req); }

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
    g_rank = *rank;
    g_size = *size;
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    /* Who runs where, for the watchdog. */
    struct {
        long pid;
        char host[MPI_MAX_PROCESSOR_NAME];
    } me = {(long)getpid(), ""}, *all = calloc((size_t)*size, sizeof me);
    int len = 0;
    MPI_Get_processor_name(me.host, &len);
    if (!all || MPI_Allgather(&me, (int)sizeof me, MPI_BYTE, all, (int)sizeof me, MPI_BYTE, MPI_COMM_WORLD) !=
                    MPI_SUCCESS) {
        if (err && err_size) snprintf(err, err_size, "cannot exchange the ranks' process ids");
        free(all);
        return -1;
    }
    for (int k = 0; k < *size; k++) {
        g_pids[k] = (pid_t)all[k].pid;
        memcpy(g_hosts[k], all[k].host, sizeof g_hosts[k]);
        g_hosts[k][sizeof g_hosts[k] - 1] = 0;
    }
    free(all);
    if (*size > 1) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_sigaction = on_sigterm;
        sa.sa_flags = SA_SIGINFO | SA_RESTART;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGTERM, &sa, NULL);
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
        MPI_Request r;
        check(MPI_Iallgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, buf, counts, displs, MPI_FLOAT, MPI_COMM_WORLD, &r));
        wait_one(&r);
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
    wait_all(n_req, req);
    for (int k = 0; k < size; k++)
        if (types[k] != MPI_DATATYPE_NULL) MPI_Type_free(&types[k]);
}

void gptoss_mpi_allreduce_sum_f32(float *buf, size_t n) {
    for (size_t done = 0; done < n;) {
        const int m = (int)(n - done < (size_t)INT_MAX ? n - done : (size_t)INT_MAX);
        MPI_Request r;
        check(MPI_Iallreduce(MPI_IN_PLACE, buf + done, m, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, &r));
        wait_one(&r);
        done += (size_t)m;
    }
}

void gptoss_mpi_bcast(void *buf, size_t bytes, int root) {
    for (size_t done = 0; done < bytes;) {
        const int m = (int)(bytes - done < (size_t)INT_MAX ? bytes - done : (size_t)INT_MAX);
        MPI_Request r;
        check(MPI_Ibcast((char *)buf + done, m, MPI_BYTE, root, MPI_COMM_WORLD, &r));
        wait_one(&r);
        done += (size_t)m;
    }
}

void gptoss_mpi_barrier(void) {
    MPI_Request r;
    check(MPI_Ibarrier(MPI_COMM_WORLD, &r));
    wait_one(&r);
}

void gptoss_mpi_allgather_bytes(const void *mine, void *all, size_t bytes) {
    MPI_Request r;
    check(MPI_Iallgather(mine, (int)bytes, MPI_BYTE, all, (int)bytes, MPI_BYTE, MPI_COMM_WORLD, &r));
    wait_one(&r);
}
