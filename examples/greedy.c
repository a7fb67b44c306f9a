/* greedy.c: the smallest program on libgptoss's public API (gptoss.h only): loads a model, feeds it
 * the token ids given on the command line and decodes N more greedily (the most likely token each
 * step), printing the new ids on one line, as `gptoss generate MODEL --ids "..." -n N` does.
 *
 *   cc greedy.c $(pkg-config --cflags --libs gptoss) -o greedy
 *   ./greedy MODEL N ID...
 */
#include <gptoss.h>

#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: %s MODEL N ID...\n", argv[0]);
        return 2;
    }
    int n_new = atoi(argv[2]);
    size_t n_ids = (size_t)(argc - 3);
    uint32_t *ids = malloc(n_ids * sizeof *ids);
    if (!ids) return 1;
    for (size_t i = 0; i < n_ids; i++) ids[i] = (uint32_t)strtoul(argv[3 + i], NULL, 10);

    char err[256] = "";
    gptoss_model *model = NULL;
    gptoss_session *session = NULL;
    gptoss_status st = gptoss_model_load(argv[1], NULL, &model, err, sizeof err);
    if (st == GPTOSS_OK) {
        gptoss_session_options options = {0};
        options.n_ctx = (uint32_t)(n_ids + (size_t)n_new + 1);
        options.device = GPTOSS_DEVICE_CPU;
        st = gptoss_session_create(model, &options, &session, err, sizeof err);
    }
    if (st == GPTOSS_OK) st = gptoss_session_append(session, ids, n_ids, NULL, err, sizeof err);
    uint32_t vocab = st == GPTOSS_OK ? gptoss_model_get_config(model)->vocab_size : 0;
    for (int step = 0; st == GPTOSS_OK && step < n_new; step++) {
        const float *logits = gptoss_session_logits(session);
        uint32_t best = 0;
        for (uint32_t v = 1; v < vocab; v++)
            if (logits[v] > logits[best]) best = v;
        printf(step ? " %u" : "%u", best);
        st = gptoss_session_append(session, &best, 1, NULL, err, sizeof err);
    }
    if (st == GPTOSS_OK) printf("\n");
    else fprintf(stderr, "greedy: %s: %s\n", gptoss_status_string(st), err);
    gptoss_session_free(session);
    gptoss_model_free(model);
    free(ids);
    return st == GPTOSS_OK ? 0 : 1;
}
