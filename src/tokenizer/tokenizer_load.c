/* tokenizer_load.c: gptoss_tokenizer_load, which finds the tokenizer for a path (a model directory,
 * a tokenizer.json, a tiktoken rank file or a .gguf model) and hands the file to its loader. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "format/gguf.h"
#include "tokenizer/tokenizer_internal.h"
#include "tokenizer/tokenizer_load.h"

#define MAX_TOKENIZER_FILE ((size_t)1 << 30)

static int is_dir(const char *path) {
    struct stat stt;
    return stat(path, &stt) == 0 && S_ISDIR(stt.st_mode);
}

static int is_file(const char *path) {
    struct stat stt;
    return stat(path, &stt) == 0 && S_ISREG(stt.st_mode);
}

gptoss_status gptoss_tokenizer_resolve_path(const char *path, gptoss_buf *out, char *err, size_t err_size) {
    if (!is_dir(path)) {
        gptoss_buf_puts(out, path);
        return gptoss_buf_cstr(out) ? GPTOSS_OK : GPTOSS_ERR_NO_MEMORY;
    }
    static const char *const candidates[] = {"tokenizer.json", "../tokenizer.json", "o200k_base.tiktoken"};
    for (size_t i = 0; i < sizeof candidates / sizeof candidates[0]; i++) {
        out->len = 0;
        gptoss_buf_printf(out, "%s/%s", path, candidates[i]);
        if (!gptoss_buf_cstr(out)) return GPTOSS_ERR_NO_MEMORY;
        if (is_file(out->data)) return GPTOSS_OK;
    }
    return gptoss_fail(GPTOSS_ERR_IO, err, err_size, "%s: no tokenizer.json or o200k_base.tiktoken in this directory",
                       path);
}

/* Maps a whole file read-only: the 27 MB tokenizer.json is scanned once, and mapping it costs less
 * than copying it into the heap. *len == 0 gives an empty string, not a mapping. */
static gptoss_status map_file(const char *path, const char **text, size_t *len, char *err, size_t err_size) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) return gptoss_fail(GPTOSS_ERR_IO, err, err_size, "%s: %s", path, strerror(errno));
    struct stat stt;
    if (fstat(fd, &stt) != 0 || !S_ISREG(stt.st_mode) || (uint64_t)stt.st_size > MAX_TOKENIZER_FILE) {
        close(fd);
        return gptoss_fail(GPTOSS_ERR_IO, err, err_size, "%s: not a regular file of at most 1 GiB", path);
    }
    *len = (size_t)stt.st_size;
    *text = "";
    if (*len) {
        void *p = mmap(NULL, *len, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            close(fd);
            return gptoss_fail(GPTOSS_ERR_IO, err, err_size, "%s: cannot map: %s", path, strerror(errno));
        }
        madvise(p, *len, MADV_SEQUENTIAL);
        *text = p;
    }
    close(fd);
    return GPTOSS_OK;
}

gptoss_status gptoss_tokenizer_load(const char *path, gptoss_tokenizer **out, char *err, size_t err_size) {
    if (!path || !out) return gptoss_fail(GPTOSS_ERR_INVALID_ARGUMENT, err, err_size, "tokenizer path is NULL");
    *out = NULL;
    if (!*path)
        return gptoss_fail(GPTOSS_ERR_INVALID_ARGUMENT, err, err_size,
                           "empty path: expected a tokenizer.json, a .tiktoken file, a model directory or a .gguf file");
    /* A .gguf model file carries its tokenizer in its metadata */
    if (!is_dir(path) && gptoss_gguf_is_file(path)) return gptoss_tokenizer_load_gguf(path, out, err, err_size);
    gptoss_buf file = {0};
    gptoss_status st = gptoss_tokenizer_resolve_path(path, &file, err, err_size);
    if (st != GPTOSS_OK) {
        gptoss_buf_free(&file);
        return st == GPTOSS_ERR_NO_MEMORY ? gptoss_fail(st, err, err_size, "out of memory") : st;
    }
    const char *text = NULL;
    size_t len = 0;
    st = map_file(file.data, &text, &len, err, err_size);
    if (st != GPTOSS_OK) {
        gptoss_buf_free(&file);
        return st;
    }
    gptoss_tokenizer *tok = calloc(1, sizeof *tok);
    if (!tok) {
        st = gptoss_fail(GPTOSS_ERR_NO_MEMORY, err, err_size, "out of memory");
    } else {
        size_t i = 0;
        while (i < len && (text[i] == ' ' || text[i] == '\t' || text[i] == '\r' || text[i] == '\n')) i++;
        if (i < len && text[i] == '{')
            st = gptoss_tokenizer_parse_json(tok, text, len, err, err_size);
        else
            st = gptoss_tokenizer_parse_tiktoken(tok, text, len, err, err_size);
    }
    if (st != GPTOSS_OK && err && err_size) {
        /* Name the file: the parsers only know its contents. */
        char msg[512];
        snprintf(msg, sizeof msg, "%s", err);
        gptoss_fail(st, err, err_size, "%s: %s", file.data, msg);
    }
    if (len) munmap((void *)text, len);
    gptoss_buf_free(&file);
    if (st != GPTOSS_OK) {
        gptoss_tokenizer_free(tok);
        return st;
    }
    *out = tok;
    return GPTOSS_OK;
}
