/* dist_mpi.c: the communicator over MPI (make MPI=1; Open MPI from Debian's libopenmpi-dev). Every
 * collective runs on MPI_COMM_WORLD from the thread that called MPI_Init (the thread pool's workers
 * never communicate), and waits through the watchdog below: a rank that dies makes the ones waiting
 * for it say which rank and exit non-zero instead of waiting forever. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <mpi.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "dist/dist.h"
#include "dist/dist_mpi.h"
#include "dist/dist_watch.h"

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
 * the SIGTERM as before). Ranks on other hosts cannot be looked at, and MPI's TCP transport often
 * reports nothing (it prints that a peer hung up and goes on waiting): rank 0 holds a connection of
 * its own to each of them (dist_watch.c), which the kernel closes the moment the process dies, long
 * before mpirun's SIGTERM. A thread of rank 0 waits on those connections: the waiting thread sees
 * what it found at its next poll, and when that thread is stuck inside MPI (Open MPI's TCP transport
 * blocks in its "peer hung up" report until mpirun ends the process), the watch thread takes the
 * failure path for it (see g_wstate). */
static int g_rank, g_size;
static pid_t g_pids[GPTOSS_MAX_RANKS];
static char g_hosts[GPTOSS_MAX_RANKS][MPI_MAX_PROCESSOR_NAME];
static volatile sig_atomic_t g_term_from_parent;
static void (*g_on_lost)(void *ctx, const char *why);
static void *g_on_lost_ctx;
static gptoss_watch *g_watch; /* rank 0: the other hosts' ranks; another rank there: its link to rank 0 */
static int g_n_watched;       /* rank 0: how many ranks g_watch holds */
static int g_n_unwatched;     /* ranks on other hosts that this rank cannot see die (rank 0: not connected) */
static atomic_int g_remote_lost = -1; /* rank 0: the lowest rank whose connection closed, set by the watch thread */
static pthread_t g_watch_thread;
static int g_watch_thread_started;
static atomic_int g_watch_stop;
/* Who takes the failure path, decided once: a thread waiting in a collective, or the watch thread
 * when that one stayed inside MPI. Bit 0: a thread is in wait_all; bit 1: a waiting thread claimed
 * the path (it may still wait in collectives while its hook answers, as before); bit 2: the watch
 * thread took it (every other thread parks at its next wait); the rest: which wait (counts up). One
 * compare-and-swap settles a race between them; the loser parks for good. */
static atomic_ulong g_wstate;
enum { WS_WAITING = 1, WS_CLAIMED = 2, WS_TAKEN = 4, WS_GEN_SHIFT = 3 };
static _Thread_local int t_claimed; /* this thread claimed the failure path */

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

static double mono_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
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
static int local_peer_gone(void) {
    for (int k = 0; k < g_size; k++)
        if (k != g_rank && !strcmp(g_hosts[k], g_hosts[g_rank]) && pid_gone(g_pids[k])) return k;
    return -1;
}

/* The lowest rank seen dead: on this host by its pid, on another (rank 0 only) by its connection
 * closing, waited for up to `seconds` when none has yet. */
static int peer_gone_within(double seconds) {
    int k = local_peer_gone(), r = atomic_load(&g_remote_lost);
    if (k < 0 && r < 0 && g_watch_thread_started && seconds > 0) {
        const struct timespec tick = {0, 10 * 1000 * 1000};
        for (double end = mono_s() + seconds; r < 0 && mono_s() < end; r = atomic_load(&g_remote_lost))
            nanosleep(&tick, NULL);
    }
    return k < 0 ? r : r < 0 ? k : k < r ? k : r;
}

static int peer_gone(void) { return peer_gone_within(0); }

static _Noreturn void park(void) {
    for (;;) pause(); /* the other thread that took the failure path ends the process */
}

/* A waiting thread's side of g_wstate: claims the failure path (or has already), or parks when
 * another thread has. */
static void claim_or_park(void) {
    if (t_claimed) return;
    unsigned long cur = atomic_load(&g_wstate);
    do {
        if (cur & (WS_CLAIMED | WS_TAKEN)) park();
    } while (!atomic_compare_exchange_weak(&g_wstate, &cur, cur | WS_CLAIMED));
    t_claimed = 1;
}

/* Enters (in = 1) or leaves wait_all; parks when the watch thread has taken the failure path. */
static void wait_mark(int in) {
    unsigned long cur = atomic_load(&g_wstate), next;
    do {
        if (cur & WS_TAKEN) park();
        next = in ? ((cur >> WS_GEN_SHIFT) + 1) << WS_GEN_SHIFT | (cur & WS_CLAIMED) | WS_WAITING
                  : cur & ~(unsigned long)WS_WAITING;
    } while (!atomic_compare_exchange_weak(&g_wstate, &cur, next));
}

/* Waits (at most 2 s) until mpirun has read what this rank wrote to stderr: mpirun reads a rank's
 * output and notices its exit in one event loop, and when the exit comes first, the job's teardown
 * can drop the rank's last line (the one that says which rank died). */
static void drain_stderr(void) {
    struct stat st;
    if (fstat(STDERR_FILENO, &st) || !S_ISFIFO(st.st_mode)) return;
    const struct timespec tick = {0, 5 * 1000 * 1000};
    for (double end = mono_s() + 2.0; mono_s() < end; nanosleep(&tick, NULL)) {
        int pending = 0;
        if (ioctl(STDERR_FILENO, FIONREAD, &pending) || pending <= 0) return;
    }
}

/* 1 when the failure path was taken by this thread: its hook may still call the engine (a server
 * resets its slots as it answers), and those collectives move nothing (the lost rank would never
 * answer, and MPI may be stuck in another thread). Another thread parks. */
static int after_loss(void) {
    if (!(atomic_load(&g_wstate) & (WS_CLAIMED | WS_TAKEN))) return 0;
    if (!t_claimed) park();
    return 1;
}

/* The failure path, once claimed. */
static _Noreturn void lost_claimed(const char *why) {
    if (g_on_lost) g_on_lost(g_on_lost_ctx, why); /* may answer what waits on this rank, or never return */
    fprintf(stderr, "gptoss: rank %d: %s; exiting\n", g_rank, why);
    fflush(NULL);
    drain_stderr();
    _exit(1); /* MPI cannot be left cleanly with a peer gone, and atexit handlers could wait on it */
}

static void rank_gone_why(int k, char *why, size_t why_size) {
    if (!strcmp(g_hosts[k], g_hosts[g_rank]))
        snprintf(why, why_size, "rank %d (pid %ld on %s) died (killed by a signal or crashed: mpirun's report names it)",
                 k, (long)g_pids[k], g_hosts[k]);
    else
        snprintf(why, why_size, "rank %d (pid %ld on %s) died: its connection to rank 0 closed (killed, crashed, or its "
                 "host or network failed: mpirun's report may say more)", k, (long)g_pids[k], g_hosts[k]);
}

static _Noreturn void lost(const char *why) {
    claim_or_park();
    lost_claimed(why);
}

static _Noreturn void lost_rank(int k) {
    char why[MPI_MAX_PROCESSOR_NAME + 192];
    rank_gone_why(k, why, sizeof why);
    lost(why);
}

/* Rank 0's watch thread: waits on the other hosts' connections; once one closed, the waiting
 * thread sees it at its next poll (g_remote_lost), and a wait that has not moved for 300 ms since
 * is stuck inside MPI: this thread then claims the failure path and takes it in its place. */
static void *watch_thread(void *arg) {
    (void)arg;
    int k = -1;
    while (k < 0 && !atomic_load(&g_watch_stop)) k = gptoss_watch_lost(g_watch, 0.2);
    if (k < 0) return NULL;
    atomic_store(&g_remote_lost, k);
    const struct timespec grace = {0, 300 * 1000 * 1000}, tick = {0, 50 * 1000 * 1000};
    while (!atomic_load(&g_watch_stop)) {
        unsigned long cur = atomic_load(&g_wstate);
        if (cur & (WS_CLAIMED | WS_TAKEN)) return NULL;
        if (!(cur & WS_WAITING)) { /* no collective in flight: the next one, or mpirun's SIGTERM, finds it */
            nanosleep(&tick, NULL);
            continue;
        }
        nanosleep(&grace, NULL);
        if (atomic_compare_exchange_strong(&g_wstate, &cur, cur | WS_TAKEN)) {
            t_claimed = 1;
            char why[MPI_MAX_PROCESSOR_NAME + 192];
            rank_gone_why(k, why, sizeof why);
            lost_claimed(why);
        }
    }
    return NULL;
}

int gptoss_mpi_peer_gone(char *why, size_t why_size) {
    int k = peer_gone();
    if (k >= 0 && why && why_size) rank_gone_why(k, why, why_size);
    return k;
}

/* Checks between polls: a held SIGTERM, the peers on this host. */
static void watch(void) {
    if (g_term_from_parent) {
        /* A remote rank's connection closes as it dies, well before mpirun's SIGTERM; a moment's
         * wait covers a close still on its way. */
        int k = peer_gone_within(g_n_watched ? 0.5 : 0);
        if (k >= 0) lost_rank(k);
        /* No rank of this host died: mpirun stops the job (Ctrl-C, SIGTERM to it), or a rank on
         * another host died, which only mpirun saw (a broken connection is not always reported
         * before its SIGTERM). Say so when there is another host, then stop as before. */
        if (g_n_unwatched)
            fprintf(stderr, "gptoss: rank %d: mpirun ended the job while this rank waited for the others (a rank "
                    "on another host may have died: mpirun's report names it)\n", g_rank);
        if (g_rank != 0) { /* its ordinary stop: a goodbye, not a death (rank 0's may be in use elsewhere) */
            gptoss_watch_close(g_watch);
            g_watch = NULL;
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
    wait_mark(1);
    for (unsigned spins = 0;; spins++) {
        check(MPI_Testall(n, req, &done, MPI_STATUSES_IGNORE));
        if (done) break;
        if (atomic_load_explicit(&g_remote_lost, memory_order_relaxed) >= 0) lost_rank(peer_gone());
        if ((spins & 255) == 0 && (g_term_from_parent || mono_s() >= next)) {
            watch();
            next = mono_s() + 0.1;
        }
    }
    wait_mark(0);
}

static void wait_one(MPI_Request *req) { wait_all(1, req); }

/* The liveness channel (dist_watch.c) between rank 0 and the ranks on other hosts, set up at init
 * with blocking collectives (nothing else runs yet). It is time-limited and never fatal: a rank that
 * cannot connect (a firewall between the hosts) says so, and its death is then only mpirun's to
 * report, as before. */
static void watch_start(void) {
    unsigned char remote[GPTOSS_MAX_RANKS] = {0};
    int n_remote = 0;
    for (int k = 1; k < g_size; k++)
        if (strcmp(g_hosts[k], g_hosts[0])) remote[k] = 1, n_remote++;
    if (!n_remote) return;
    gptoss_watch_offer offer;
    memset(&offer, 0, sizeof offer);
    char err[256] = "";
    if (g_rank == 0 && gptoss_watch_listen(&g_watch, g_size, &offer, err, sizeof err))
        fprintf(stderr, "gptoss: rank 0: no liveness channel to the ranks on other hosts (%s): if one dies, only "
                "mpirun's report will name it\n", err);
    if (MPI_Bcast(&offer, (int)sizeof offer, MPI_BYTE, 0, MPI_COMM_WORLD) != MPI_SUCCESS) offer.n_addrs = 0;
    unsigned char joined = 0, all_joined[GPTOSS_MAX_RANKS] = {0};
    if (g_rank != 0 && remote[g_rank] && offer.n_addrs) {
        if (gptoss_watch_join(&g_watch, &offer, g_rank, 10.0, err, sizeof err) == 0) joined = 1;
        else
            fprintf(stderr, "gptoss: rank %d: no liveness channel to rank 0 on %s (%s): if this rank dies, only "
                    "mpirun's report will name it\n", g_rank, g_hosts[0], err);
    }
    memset(&offer.token, 0, sizeof offer.token);
    /* Rank 0 learns who connected, so it waits only for them (their connections are already in its
     * listener's queue). */
    if (MPI_Allgather(&joined, 1, MPI_BYTE, all_joined, 1, MPI_BYTE, MPI_COMM_WORLD) != MPI_SUCCESS)
        memset(all_joined, 0, sizeof all_joined);
    if (g_rank != 0) {
        g_n_unwatched = n_remote; /* only rank 0 watches */
        return;
    }
    int first = -1, missing = g_watch ? gptoss_watch_accept(g_watch, all_joined, 5.0, &first) : 0;
    g_n_watched = 0;
    for (int k = 1; k < g_size; k++) g_n_watched += all_joined[k];
    g_n_watched -= missing;
    g_n_unwatched = n_remote - g_n_watched;
    if (g_n_watched) {
        /* no signal for this thread: a server's sigwait and the SIGTERM handler stay the others' */
        sigset_t all, old;
        sigfillset(&all);
        pthread_sigmask(SIG_BLOCK, &all, &old);
        g_watch_thread_started = pthread_create(&g_watch_thread, NULL, watch_thread, NULL) == 0;
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (!g_watch_thread_started) {
            fprintf(stderr, "gptoss: rank 0: cannot start the thread that watches the ranks on other hosts: if one "
                    "dies, only mpirun's report will name it\n");
            g_n_unwatched = n_remote;
        }
    }
    if (missing) /* the others that could not connect said so themselves */
        fprintf(stderr, "gptoss: rank 0: rank %d on %s%s connected for the liveness channel but did not arrive within "
                "5 s: if it dies, only mpirun's report will name it\n", first, g_hosts[first],
                missing > 1 ? " and others" : "");
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
    watch_start();
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
    if (g_watch_thread_started) {
        atomic_store(&g_watch_stop, 1);
        pthread_join(g_watch_thread, NULL);
        g_watch_thread_started = 0;
    }
    gptoss_watch_close(g_watch); /* a rank's goodbye before it leaves: an end, not a death */
    g_watch = NULL;
    g_n_watched = 0;
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
    if (after_loss()) return;
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
    if (after_loss()) return;
    for (size_t done = 0; done < n;) {
        const int m = (int)(n - done < (size_t)INT_MAX ? n - done : (size_t)INT_MAX);
        MPI_Request r;
        check(MPI_Iallreduce(MPI_IN_PLACE, buf + done, m, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, &r));
        wait_one(&r);
        done += (size_t)m;
    }
}

void gptoss_mpi_bcast(void *buf, size_t bytes, int root) {
    if (after_loss()) return;
    for (size_t done = 0; done < bytes;) {
        const int m = (int)(bytes - done < (size_t)INT_MAX ? bytes - done : (size_t)INT_MAX);
        MPI_Request r;
        check(MPI_Ibcast((char *)buf + done, m, MPI_BYTE, root, MPI_COMM_WORLD, &r));
        wait_one(&r);
        done += (size_t)m;
    }
}

void gptoss_mpi_barrier(void) {
    if (after_loss()) return;
    MPI_Request r;
    check(MPI_Ibarrier(MPI_COMM_WORLD, &r));
    wait_one(&r);
}

void gptoss_mpi_allgather_bytes(const void *mine, void *all, size_t bytes) {
    if (after_loss()) return;
    MPI_Request r;
    check(MPI_Iallgather(mine, (int)bytes, MPI_BYTE, all, (int)bytes, MPI_BYTE, MPI_COMM_WORLD, &r));
    wait_one(&r);
}
