/* cli_tokenizer.c: where the harmony commands (render, parse, chat, run) find their tokenizer: an
 * explicit path, $GPTOSS_TOKENIZER, or the model's own folder (its tokenizer.json, the parent of an
 * original/ folder, or the snapshot a Hugging Face cache folder points to); and whether a model fits
 * the tokenizer it is used with. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/common.h"
#include "cli/cli.h"

static int is_dir(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* models--org--name/{refs/main, snapshots/<hash>}: the snapshot refs/main names, or the only one. */
static int hf_snapshot(const char *dir, char *out, size_t out_size) {
    char snaps[4096], ref[4096];
    if (snprintf(snaps, sizeof snaps, "%s/snapshots", dir) >= (int)sizeof snaps || !is_dir(snaps)) return 0;
    if (snprintf(ref, sizeof ref, "%s/refs/main", dir) >= (int)sizeof ref) return 0;
    char *text = NULL;
    size_t len = 0;
    if (gptoss_read_file(ref, 4096, &text, &len, NULL, 0) == GPTOSS_OK) {
        while (len && (text[len - 1] == '\n' || text[len - 1] == '\r' || text[len - 1] == ' ')) text[--len] = 0;
        int ok = len && !strchr(text, '/') && snprintf(out, out_size, "%s/%s", snaps, text) < (int)out_size;
        free(text);
        if (ok && is_dir(out)) return 1;
    }
    DIR *d = opendir(snaps);
    int count = 0;
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        if (snprintf(out, out_size, "%s/%s", snaps, e->d_name) < (int)out_size) count++;
        else count += 2; /* too long to use: not unambiguous */
    }
    if (d) closedir(d);
    return count == 1;
}

static gptoss_tokenizer *try_load(const char *path, char *err, size_t err_size) {
    gptoss_tokenizer *tok = NULL;
    if (gptoss_tokenizer_load(path, &tok, err, err_size) != GPTOSS_OK) return NULL;
    return tok;
}

gptoss_tokenizer *cli_open_tokenizer(const char *path, const char *fallback) {
    if (!path || !*path) path = getenv("GPTOSS_TOKENIZER");
    char err[512] = "";
    gptoss_tokenizer *tok = NULL;
    if (path && *path) {
        tok = try_load(path, err, sizeof err);
    } else if (fallback && *fallback) {
        tok = try_load(fallback, err, sizeof err);
        char alt[4096], other[512];
        size_t n = strlen(fallback);
        while (n > 1 && fallback[n - 1] == '/') n--;
        if (!tok && n >= 8 && !strncmp(fallback + n - 8, "original", 8) && (n == 8 || fallback[n - 9] == '/')) {
            if (snprintf(alt, sizeof alt, "%.*s", n == 8 ? 1 : (int)(n - 8), n == 8 ? "." : fallback) < (int)sizeof alt)
                tok = try_load(alt, other, sizeof other);
        }
        if (!tok && is_dir(fallback) && hf_snapshot(fallback, alt, sizeof alt)) tok = try_load(alt, other, sizeof other);
    } else if (fallback) {
        cli_error("empty path: expected a model directory or a .gguf file");
        return NULL;
    } else {
        cli_error("no tokenizer: pass --tokenizer PATH (a model directory, tokenizer.json or o200k_base.tiktoken) "
                  "or set GPTOSS_TOKENIZER");
        return NULL;
    }
    if (!tok) cli_error("%s", err[0] ? err : "cannot load the tokenizer");
    return tok;
}

int cli_check_vocab(const gptoss_model *model, const gptoss_tokenizer *tok, char *err, size_t err_size) {
    uint32_t mv = gptoss_model_get_config(model)->vocab_size, tv = gptoss_tokenizer_n_vocab(tok);
    if (mv >= tv) return 0;
    snprintf(err, err_size,
             "%s: the model's vocabulary (vocab_size %u) is smaller than the tokenizer's %u ids: prompts would "
             "hold ids the model has no row for; use the tokenizer the model was made with (--tokenizer PATH)",
             gptoss_model_dir(model), mv, tv);
    return -1;
}
