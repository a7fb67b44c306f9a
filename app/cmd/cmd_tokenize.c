/* cmd_tokenize.c: `gptoss tokenize` (stdin bytes -> ids on one line) and `gptoss detokenize`
 * (ids on stdin -> raw bytes on stdout). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cmd/commands.h"

/* All of stdin, NUL-terminated (the NUL is not counted). */
static char *read_stdin(size_t *len) {
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    if (!buf) return NULL;
    for (;;) {
        if (cap - n < 2) {
            if (cap > SIZE_MAX / 2) { free(buf); return NULL; }
            char *nb = realloc(buf, cap * 2);
            if (!nb) { free(buf); return NULL; }
            buf = nb;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n - 1, stdin);
        n += got;
        if (got == 0) break;
    }
    if (ferror(stdin)) {
        free(buf);
        return NULL;
    }
    buf[n] = 0;
    *len = n;
    return buf;
}

static gptoss_tokenizer *load(const char *path) {
    if (!(path = cli_model_arg(path))) return NULL;
    char err[512] = "";
    gptoss_tokenizer *t = NULL;
    gptoss_status st = gptoss_tokenizer_load(path, &t, err, sizeof err);
    if (st != GPTOSS_OK) {
        cli_error("%s", err[0] ? err : gptoss_status_string(st));
        return NULL;
    }
    return t;
}

int cmd_tokenize(int argc, char **argv) {
    const char *path = NULL;
    int allow = GPTOSS_TOKENIZER_SPECIAL_AS_TEXT;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--allow-special")) {
            allow = GPTOSS_TOKENIZER_SPECIAL_ALLOW;
        } else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            printf("usage: gptoss tokenize MODEL_DIR_OR_TOKENIZER_FILE [--allow-special]\n"
                   "Reads raw bytes from stdin and prints their o200k_harmony token ids on one line.\n"
                   "Special-token literals such as <|start|> are ordinary text unless --allow-special.\n"
                   "Invalid UTF-8 is encoded as tiktoken encodes its lossy decoding (U+FFFD per bad sequence).\n");
            return 0;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            cli_error("tokenize: unknown option %s", argv[i]);
            return 2;
        } else if (!path) {
            path = argv[i];
        } else {
            cli_error("tokenize: more than one tokenizer path");
            return 2;
        }
    }
    if (!path) {
        cli_error("usage: gptoss tokenize MODEL_DIR_OR_TOKENIZER_FILE [--allow-special] < input");
        return 2;
    }
    gptoss_tokenizer *t = load(path);
    if (!t) return 1;
    size_t len = 0;
    char *text = read_stdin(&len);
    if (!text) {
        cli_error("tokenize: cannot read stdin");
        gptoss_tokenizer_free(t);
        return 1;
    }
    gptoss_tokens ids = {0};
    gptoss_status st = gptoss_tokenizer_encode(t, text, len, allow, &ids);
    int rc = 0;
    if (st != GPTOSS_OK) {
        cli_error("tokenize: %s", gptoss_status_string(st));
        rc = 1;
    } else {
        for (size_t i = 0; i < ids.n; i++) printf(i ? " %u" : "%u", ids.ids[i]);
        printf("\n");
        if (fflush(stdout) != 0) rc = 1;
    }
    gptoss_tokens_free(&ids);
    free(text);
    gptoss_tokenizer_free(t);
    return rc;
}

int cmd_detokenize(int argc, char **argv) {
    if (argc >= 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
        printf("usage: gptoss detokenize MODEL_DIR_OR_TOKENIZER_FILE\n"
               "Reads token ids (separated by spaces, commas or newlines) from stdin and writes their raw\n"
               "bytes to stdout. Ids >= 201088 are an error.\n");
        return 0;
    }
    if (argc != 2 || argv[1][0] == '-') {
        cli_error("usage: gptoss detokenize MODEL_DIR_OR_TOKENIZER_FILE < ids");
        return 2;
    }
    size_t len = 0;
    char *text = read_stdin(&len);
    if (!text) {
        cli_error("detokenize: cannot read stdin");
        return 1;
    }
    uint32_t *ids = NULL;
    size_t n = 0;
    if (strlen(text) != len || !cli_parse_ids(text, &ids, &n)) {
        cli_error("detokenize: stdin must hold token ids (decimal, separated by spaces, commas or newlines)");
        free(text);
        return 1;
    }
    free(text);
    gptoss_tokenizer *t = load(argv[1]);
    if (!t) {
        free(ids);
        return 1;
    }
    char err[512] = "";
    char *bytes = NULL;
    size_t blen = 0;
    gptoss_status st = gptoss_tokenizer_decode(t, ids, n, &bytes, &blen, err, sizeof err);
    int rc = 0;
    if (st != GPTOSS_OK) {
        cli_error("detokenize: %s", err[0] ? err : gptoss_status_string(st));
        rc = 1;
    } else if (fwrite(bytes, 1, blen, stdout) != blen || fflush(stdout) != 0) {
        rc = 1;
    }
    free(bytes);
    free(ids);
    gptoss_tokenizer_free(t);
    return rc;
}
