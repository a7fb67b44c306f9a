/* chat_tokenizer.c: where the harmony commands (render, parse, chat, run) find their tokenizer. */
#include <stdlib.h>

#include "chat.h"
#include "commands.h"

gptoss_tokenizer *chat_open_tokenizer(const char *path, const char *fallback) {
    if (!path || !*path) path = getenv("GPTOSS_TOKENIZER");
    if (!path || !*path) path = fallback;
    if (!path || !*path) {
        cli_error("no tokenizer: pass --tokenizer PATH (a model directory, tokenizer.json or o200k_base.tiktoken) "
                  "or set GPTOSS_TOKENIZER");
        return NULL;
    }
    char err[512] = "";
    gptoss_tokenizer *tok = NULL;
    gptoss_status st = gptoss_tokenizer_load(path, &tok, err, sizeof err);
    if (st != GPTOSS_OK) {
        cli_error("%s", err[0] ? err : gptoss_status_string(st));
        return NULL;
    }
    return tok;
}
