/* chat.h: the interactive chat and one-shot run commands (app/chat/chat.c), written against a token source
 * ("the next token after these ids") so that tests can replay scripted model output; the real source
 * (model + session + sampler) is in app/cmd/cmd_chat.c. */
#ifndef GPTOSS_CHAT_H
#define GPTOSS_CHAT_H

#include <stddef.h>
#include <stdint.h>

#include "gptoss.h"

/* Sampling and context settings from the command line, for the token source. */
typedef struct chat_settings {
    float temperature;
    float top_p;
    float min_p;
    uint32_t top_k;
    uint64_t seed;
    uint32_t n_ctx;     /* 0: the source's default */
    uint32_t n_threads; /* 0: the source's default */
    gptoss_kv_type kv_type; /* gptoss_session_options.kv_type */
    gptoss_device device;   /* the model's and the session's (--device) */
} chat_settings;

typedef struct chat_source {
    void *ctx;
    /* Makes ids[0..n) the context (keeping what a previous call already processed when it is a
     * prefix) and picks the token that follows, among what `allowed` permits (a constraint's answer:
     * NULL or ANY: any token; MASKED: one of its bits; FORCED: that id, with no sampling, and the
     * context may be left for the next call to process). Returns 0, or -1 with a message in err. */
    int (*next)(void *ctx, const uint32_t *ids, size_t n, const gptoss_constraint_next *allowed, uint32_t *out,
                char *err, size_t err_size);
    void (*close)(void *ctx);
    uint32_t n_ctx; /* longest context the source takes; 0: no limit */
} chat_source;

/* Opens the token source for MODEL (the first positional argument). Returns 0, or -1 with err. */
typedef int (*chat_source_open)(const char *model, const chat_settings *settings, const gptoss_tokenizer *tok,
                                chat_source *out, char *err, size_t err_size);

/* `gptoss chat` (one_shot = 0) and `gptoss run` (one_shot = 1); argv[0] is the command name. */
int chat_main(int argc, char **argv, int one_shot, chat_source_open open);

/* The model + session + sampler token source (app/cmd/cmd_chat.c). */
int chat_model_source_open(const char *model, const chat_settings *settings, const gptoss_tokenizer *tok,
                           chat_source *out, char *err, size_t err_size);

#endif
