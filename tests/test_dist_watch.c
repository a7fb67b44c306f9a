/* test_dist_watch.c: the liveness channel of src/dist/dist_watch.c (built with make MPI=1 only; a
 * skip otherwise), on this host's own addresses: hellos that are wrong in any way are refused, a
 * stranger's connection is closed, ranks that join are accepted and one that never does is reported
 * within the time limit, a goodbye is not a death, a process killed with SIGKILL is (its connection
 * closes), the listener is gone after the accept phase, and a join to nobody fails in time. */
#include <stdio.h>

#ifdef GPTOSS_MPI
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "dist/dist_watch.h"

static int n_failed;

static void check(int ok, const char *name) {
    printf("%sok - %s\n", ok ? "" : "not ", name);
    if (!ok) n_failed++;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* A plain connection to the offer's first address, sending `bytes` bytes of msg; its fd. */
static int raw_connect(const gptoss_watch_offer *o, const void *msg, size_t bytes) {
    struct sockaddr_storage sa;
    memset(&sa, 0, sizeof sa);
    socklen_t len;
    if (o->family[0] == 6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&sa;
        a->sin6_family = AF_INET6, a->sin6_port = htons(o->port);
        memcpy(&a->sin6_addr, o->addr[0], 16);
        len = sizeof *a;
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&sa;
        a->sin_family = AF_INET, a->sin_port = htons(o->port);
        memcpy(&a->sin_addr, o->addr[0], 4);
        len = sizeof *a;
    }
    int fd = socket(sa.ss_family, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, len)) {
        if (fd >= 0) close(fd);
        return -1;
    }
    if (bytes && send(fd, msg, bytes, MSG_NOSIGNAL) != (ssize_t)bytes) {
        close(fd);
        return -1;
    }
    return fd;
}

static void test_hello(void) {
    uint8_t token[GPTOSS_WATCH_TOKEN_BYTES], msg[GPTOSS_WATCH_HELLO_BYTES + 1];
    for (int i = 0; i < GPTOSS_WATCH_TOKEN_BYTES; i++) token[i] = (uint8_t)(i * 37 + 5);
    gptoss_watch_hello_make(msg, token, 3);
    check(gptoss_watch_hello_parse(msg, GPTOSS_WATCH_HELLO_BYTES, token, 4) == 3, "watch hello: rank 3 of 4 reads back");
    int bad_len = 0, bad_byte = 0;
    for (size_t n = 0; n <= GPTOSS_WATCH_HELLO_BYTES + 1; n++)
        if (n != GPTOSS_WATCH_HELLO_BYTES && gptoss_watch_hello_parse(msg, n, token, 4) != -1) bad_len++;
    /* every byte of the magic and the token matters; the rank's bytes may only name 1..n-1 */
    for (size_t i = 0; i < 4 + GPTOSS_WATCH_TOKEN_BYTES; i++)
        for (int bit = 0; bit < 8; bit++) {
            msg[i] ^= (uint8_t)(1u << bit);
            if (gptoss_watch_hello_parse(msg, GPTOSS_WATCH_HELLO_BYTES, token, 4) != -1) bad_byte++;
            msg[i] ^= (uint8_t)(1u << bit);
        }
    check(!bad_len && !bad_byte, "watch hello: any other length, magic or token is refused");
    const int ranks[] = {0, 4, 5, 1 << 24, -1};
    int bad_rank = 0;
    for (size_t i = 0; i < sizeof ranks / sizeof ranks[0]; i++) {
        gptoss_watch_hello_make(msg, token, ranks[i]);
        if (gptoss_watch_hello_parse(msg, GPTOSS_WATCH_HELLO_BYTES, token, 4) != -1) bad_rank++;
    }
    gptoss_watch_hello_make(msg, token, 1);
    if (gptoss_watch_hello_parse(msg, GPTOSS_WATCH_HELLO_BYTES, token, 1) != -1 ||
        gptoss_watch_hello_parse(msg, GPTOSS_WATCH_HELLO_BYTES, token, -1) != -1)
        bad_rank++; /* no rank 1 in a world of one, or of a negative size */
    check(!bad_rank, "watch hello: rank 0 and ranks outside the world are refused");
    check(gptoss_watch_hello_parse(NULL, 0, token, 4) == -1 && gptoss_watch_hello_parse(msg, 24, NULL, 4) == -1,
          "watch hello: NULL is refused");
}

static void test_channel(void) {
    gptoss_watch *w = NULL;
    gptoss_watch_offer offer;
    char err[256] = "";
    const int n_ranks = 5;
    int rc = gptoss_watch_listen(&w, n_ranks, &offer, err, sizeof err);
    uint8_t zero[GPTOSS_WATCH_TOKEN_BYTES] = {0};
    check(rc == 0 && w && offer.port && offer.n_addrs >= 1 && memcmp(offer.token, zero, sizeof zero),
          "watch listen: a port, an address and a token");
    if (rc) {
        printf("# %s\n", err);
        return;
    }
    /* a stranger with a wrong token, and one whose hello names a rank it is not */
    gptoss_watch_offer wrong = offer;
    wrong.token[0] ^= 1;
    uint8_t hello[GPTOSS_WATCH_HELLO_BYTES];
    gptoss_watch_hello_make(hello, wrong.token, 1);
    int stranger = raw_connect(&offer, hello, sizeof hello);
    gptoss_watch_hello_make(hello, offer.token, 4); /* rank 4 is not expected */
    int unexpected = raw_connect(&offer, hello, sizeof hello);
    /* rank 1 in a child process that is then killed; rank 2 here, closed with a goodbye later */
    int ready[2];
    if (pipe(ready)) return;
    pid_t child = fork();
    if (child == 0) {
        gptoss_watch *mine = NULL;
        char cerr[256];
        char ok = gptoss_watch_join(&mine, &offer, 1, 5.0, cerr, sizeof cerr) == 0 ? 'y' : 'n';
        if (write(ready[1], &ok, 1) != 1) _exit(1);
        for (;;) pause();
    }
    char joined1 = 0;
    if (read(ready[0], &joined1, 1) != 1) joined1 = 0;
    gptoss_watch *rank2 = NULL;
    int rc2 = gptoss_watch_join(&rank2, &offer, 2, 5.0, err, sizeof err);
    check(joined1 == 'y' && rc2 == 0, "watch join: ranks 1 and 2 connect to rank 0's offer");
    const unsigned char expect[5] = {0, 1, 1, 1, 0}; /* rank 3 never comes */
    int first = -2;
    double t0 = now_s();
    int missing = gptoss_watch_accept(w, expect, 0.5, &first);
    double took = now_s() - t0;
    check(missing == 1 && first == 3 && took < 3.0,
          "watch accept: ranks 1 and 2 accepted, the strangers closed, rank 3 reported missing in time");
    char byte;
    check(stranger >= 0 && recv(stranger, &byte, 1, 0) == 0 && unexpected >= 0 && recv(unexpected, &byte, 1, 0) == 0,
          "watch accept: a wrong token and an unexpected rank are closed");
    if (stranger >= 0) close(stranger);
    if (unexpected >= 0) close(unexpected);
    check(gptoss_watch_lost(w, 0.2) == -1, "watch lost: none while every rank lives");
    gptoss_watch_close(rank2);
    check(gptoss_watch_lost(w, 0.3) == -1, "watch lost: a goodbye is not a death");
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    t0 = now_s();
    int k = gptoss_watch_lost(w, 5.0);
    took = now_s() - t0;
    check(k == 1 && took < 1.0, "watch lost: a rank killed with SIGKILL is seen at once");
    check(gptoss_watch_lost(w, 0) == 1, "watch lost: and stays reported");
    /* (after the child, which inherited the listener through fork) */
    check(raw_connect(&offer, NULL, 0) < 0, "watch accept: nobody can connect once it is over");
    close(ready[0]);
    close(ready[1]);
    gptoss_watch_close(w);
    /* a join to an address where nobody listens fails within its time */
    gptoss_watch *nobody = (gptoss_watch *)&offer;
    t0 = now_s();
    rc = gptoss_watch_join(&nobody, &offer, 1, 2.0, err, sizeof err);
    took = now_s() - t0;
    check(rc == -1 && nobody == NULL && err[0] && took < 3.0, "watch join: nobody listening fails in time, saying why");
    printf("# %s\n", err);
    gptoss_watch_close(NULL);
    check(gptoss_watch_lost(NULL, 0) == -1, "watch: NULL is accepted");
}

int main(void) {
    signal(SIGPIPE, SIG_IGN);
    test_hello();
    test_channel();
    return n_failed ? 1 : 0;
}
#else
int main(void) {
    printf("ok - dist watch # SKIP not an MPI build (make MPI=1 builds src/dist/dist_watch.c)\n");
    return 0;
}
#endif
