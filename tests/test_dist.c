/* test_dist.c: the communicator and the calls rank 0 mirrors to the other ranks. Run alone (any
 * build): the single-process communicator (its collectives leave buffers as they are, agree reports
 * this process's own status), the split rule, and continuous batching, rewinding and copying on the
 * exact path checked against plain sessions. Under mpirun (tests/t_mpi.sh, make MPI=1) rank 0 runs
 * the same model checks on a model sharded over the ranks and writes the batch's logits to
 * $GPTOSS_DIST_OUT, which t_mpi.sh compares across rank counts; the other ranks follow it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dist/dist.h"
#include "g1_model.h"
#include "gptoss.h"
#include "tap.h"

static void test_single_comm(void) {
    gptoss_comm *c = gptoss_comm_world();
    tap_check(gptoss_comm_rank(c) == 0 && gptoss_comm_size(c) == 1, "single process: rank 0 of 1");
    float buf[6] = {1, 2, 3, 4, 5, 6};
    const uint64_t lo[2] = {0, 3};
    gptoss_comm_allgather_f32(c, buf, 2, 3, lo);
    gptoss_comm_gather_f32(c, buf, 2, 3, lo, 0);
    gptoss_comm_allreduce_sum_f32(c, buf, 6);
    uint32_t ids[2] = {7, 9};
    gptoss_comm_bcast(c, ids, sizeof ids, 0);
    gptoss_comm_barrier(c);
    tap_check(buf[0] == 1 && buf[5] == 6 && ids[0] == 7 && ids[1] == 9,
              "single process: allgather, gather, allreduce and broadcast leave the data as it is");
    char err[128] = "";
    tap_check(gptoss_comm_agree(c, 1, "", 42, err, sizeof err) == -1 && !err[0], "single process: agree on success");
    tap_check(gptoss_comm_agree(c, 0, "no file", 42, err, sizeof err) == 0 && !strcmp(err, "rank 0: no file"),
              "single process: agree on a failure names rank 0 and why (%s)", err);
}

static void test_split(void) {
    int ok = 1;
    for (uint32_t n = 1; n <= 9 && ok; n++)
        for (uint64_t total = 0; total <= 40 && ok; total++) {
            uint64_t prev = gptoss_split_lo(total, n, 0);
            ok = prev == 0 && gptoss_split_lo(total, n, n) == total;
            for (uint32_t r = 1; r <= n && ok; r++) {
                const uint64_t lo = gptoss_split_lo(total, n, r), size = lo - prev;
                ok = lo >= prev && size <= total / n + 1 && size + 1 >= total / n + (total % n ? 1 : 0);
                prev = lo;
            }
        }
    tap_check(ok, "split rule: ranks own consecutive, balanced ranges that cover every index once");
}

#define V 1024u
#define N_SEQ 3
#define N_STEPS 4

/* Prefills three sessions with prompts of different lengths, then decodes N_STEPS tokens in each,
 * once with gptoss_batch_decode and once session by session: the logits of the two must be the same
 * bits (exact path: every row is computed whole whatever else is in the step). Then a copy of a
 * session's prefix that goes on like the original gives the original's logits. */
static void test_model(const char *dir, int rank) {
    char err[512] = "";
    gptoss_model_options mo = {.exact = 1};
    gptoss_model *m = NULL;
    gptoss_status st = gptoss_model_load(dir, &mo, &m, err, sizeof err);
    if (rank != 0) {
        if (st == GPTOSS_OK && gptoss_dist_follow(m, err, sizeof err) != GPTOSS_OK) fprintf(stderr, "%s\n", err);
        gptoss_model_free(m);
        return;
    }
    if (!tap_check(st == GPTOSS_OK, "load %s on %d rank(s): %s", dir, gptoss_dist_size(), err)) return;
    static const uint32_t prompt[N_SEQ][7] = {{1, 2, 3, 4, 5}, {100, 200, 300}, {9, 8, 7, 6, 5, 4, 3}};
    static const size_t prompt_n[N_SEQ] = {5, 3, 7};
    static const uint32_t next[N_STEPS][N_SEQ] = {{11, 12, 13}, {500, 600, 700}, {42, 43, 44}, {1000, 1001, 1002}};
    static float batched[N_STEPS][N_SEQ][V], alone[N_STEPS][N_SEQ][V];
    gptoss_session_options so = {.n_ctx = 64, .n_batch = 4, .n_threads = 1};
    gptoss_session *s[N_SEQ] = {0}, *one = NULL, *copy = NULL;
    gptoss_batch *b = NULL;
    int ok = gptoss_batch_create(m, N_SEQ, 64, &b, err, sizeof err) == GPTOSS_OK;
    for (int i = 0; i < N_SEQ && ok; i++)
        ok = gptoss_session_create(m, &so, &s[i], err, sizeof err) == GPTOSS_OK &&
             gptoss_session_append(s[i], prompt[i], prompt_n[i], NULL, err, sizeof err) == GPTOSS_OK;
    for (int t = 0; t < N_STEPS && ok; t++) {
        ok = gptoss_batch_decode(b, s, next[t], N_SEQ, err, sizeof err) == GPTOSS_OK;
        for (int i = 0; i < N_SEQ && ok; i++) memcpy(batched[t][i], gptoss_session_logits(s[i]), sizeof batched[t][i]);
    }
    tap_check(ok, "batch: %d sessions prefilled, %d steps of batched decoding: %s", N_SEQ, N_STEPS, ok ? "" : err);
    ok = ok && gptoss_session_create(m, &so, &one, err, sizeof err) == GPTOSS_OK;
    for (int i = 0; i < N_SEQ && ok; i++) {
        gptoss_session_reset(one);
        ok = gptoss_session_append(one, prompt[i], prompt_n[i], NULL, err, sizeof err) == GPTOSS_OK;
        for (int t = 0; t < N_STEPS && ok; t++) {
            ok = gptoss_session_append(one, &next[t][i], 1, NULL, err, sizeof err) == GPTOSS_OK;
            if (ok) memcpy(alone[t][i], gptoss_session_logits(one), sizeof alone[t][i]);
        }
    }
    tap_check(ok && !memcmp(batched, alone, sizeof batched),
              "batch: batched logits are the bits of the same tokens decoded one session at a time");
    /* session 2 rewound into a copy after its prompt, then the same tokens again */
    ok = ok && gptoss_session_create(m, &so, &copy, err, sizeof err) == GPTOSS_OK &&
         gptoss_session_copy_prefix(copy, s[2], (uint32_t)prompt_n[2], err, sizeof err) == GPTOSS_OK;
    for (int t = 0; t < N_STEPS && ok; t++)
        ok = gptoss_session_append(copy, &next[t][2], 1, NULL, err, sizeof err) == GPTOSS_OK;
    tap_check(ok && !memcmp(gptoss_session_logits(copy), batched[N_STEPS - 1][2], V * sizeof(float)),
              "copy of a prefix, then the same tokens: the original's logits %s", ok ? "" : err);
    ok = ok && gptoss_session_truncate(copy, (uint32_t)prompt_n[2] + 1, err, sizeof err) == GPTOSS_OK;
    for (int t = 1; t < N_STEPS && ok; t++)
        ok = gptoss_session_append(copy, &next[t][2], 1, NULL, err, sizeof err) == GPTOSS_OK;
    tap_check(ok && !memcmp(gptoss_session_logits(copy), batched[N_STEPS - 1][2], V * sizeof(float)),
              "truncate, then the same tokens: the same logits %s", ok ? "" : err);
    const char *out = getenv("GPTOSS_DIST_OUT");
    if (out && *out) {
        FILE *f = fopen(out, "wb");
        tap_check(f && fwrite(batched, sizeof batched, 1, f) == 1 && fclose(f) == 0, "write %s", out);
    }
    gptoss_session_free(copy);
    gptoss_session_free(one);
    for (int i = 0; i < N_SEQ; i++) gptoss_session_free(s[i]);
    gptoss_batch_free(b);
    gptoss_model_free(m);
}

int main(int argc, char **argv) {
    char err[256] = "";
    if (gptoss_dist_init(&argc, &argv, err, sizeof err) != GPTOSS_OK) {
        tap_check(0, "gptoss_dist_init: %s", err);
        return 1;
    }
    const int rank = gptoss_dist_rank();
    if (rank == 0) {
        if (gptoss_dist_size() == 1) test_single_comm();
        test_split();
    }
    char scratch[] = "/tmp/test_dist.XXXXXX", dir[4096];
    if (!mkdtemp(scratch)) {
        tap_check(0, "mkdtemp");
        gptoss_dist_finalize();
        return 1;
    }
    int kind = g1_model_dir(scratch, dir, sizeof dir);
    if (kind) test_model(dir, rank);
    g1_remove_scratch(scratch);
    gptoss_dist_finalize();
    return tap_n_failed ? 1 : 0;
}
