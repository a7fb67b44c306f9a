/* gguf_write.c: writing a GGUF v3 file (little-endian) in one pass: metadata and tensor shapes are
 * declared first, the header goes out with gptoss_gguf_w_begin, then each tensor's bytes are
 * streamed in declaration order, padded to the alignment. Used by `convert --to gguf` and
 * `synth --format gguf`; nothing larger than one tensor chunk is ever held in memory. */
#include <errno.h>
#include <stdlib.h>

#include "format/gguf.h"

static void put_le(gptoss_buf *b, uint64_t v, unsigned n) {
    uint8_t t[8];
    for (unsigned i = 0; i < n; i++) t[i] = (uint8_t)(v >> (8 * i));
    gptoss_buf_append(b, t, n);
}

static void put_str(gptoss_buf *b, const char *s, size_t n) {
    put_le(b, n, 8);
    gptoss_buf_append(b, s, n);
}

void gptoss_gguf_writer_init(gptoss_gguf_writer *w) {
    memset(w, 0, sizeof *w);
    w->alignment = GGUF_DEFAULT_ALIGNMENT;
}

static void key(gptoss_gguf_writer *w, const char *k, uint32_t type) {
    put_str(&w->kv, k, strlen(k));
    put_le(&w->kv, type, 4);
    w->n_kv++;
}

void gptoss_gguf_w_u32(gptoss_gguf_writer *w, const char *k, uint32_t v) {
    key(w, k, GGUF_TYPE_UINT32);
    put_le(&w->kv, v, 4);
    if (!strcmp(k, "general.alignment") && v && !(v & (v - 1))) w->alignment = v;
}

void gptoss_gguf_w_i32(gptoss_gguf_writer *w, const char *k, int32_t v) {
    key(w, k, GGUF_TYPE_INT32);
    put_le(&w->kv, (uint32_t)v, 4);
}

void gptoss_gguf_w_u64(gptoss_gguf_writer *w, const char *k, uint64_t v) {
    key(w, k, GGUF_TYPE_UINT64);
    put_le(&w->kv, v, 8);
}

void gptoss_gguf_w_f32(gptoss_gguf_writer *w, const char *k, float v) {
    uint32_t bits;
    memcpy(&bits, &v, 4);
    key(w, k, GGUF_TYPE_FLOAT32);
    put_le(&w->kv, bits, 4);
}

void gptoss_gguf_w_bool(gptoss_gguf_writer *w, const char *k, int v) {
    key(w, k, GGUF_TYPE_BOOL);
    put_le(&w->kv, v ? 1 : 0, 1);
}

void gptoss_gguf_w_str(gptoss_gguf_writer *w, const char *k, const char *v) {
    key(w, k, GGUF_TYPE_STRING);
    put_str(&w->kv, v, strlen(v));
}

void gptoss_gguf_w_arr_str(gptoss_gguf_writer *w, const char *k, const char *const *v, const size_t *lens,
                           uint64_t n) {
    key(w, k, GGUF_TYPE_ARRAY);
    put_le(&w->kv, GGUF_TYPE_STRING, 4);
    put_le(&w->kv, n, 8);
    for (uint64_t i = 0; i < n; i++) put_str(&w->kv, v[i], lens ? lens[i] : strlen(v[i]));
}

void gptoss_gguf_w_arr_i32(gptoss_gguf_writer *w, const char *k, const int32_t *v, uint64_t n) {
    key(w, k, GGUF_TYPE_ARRAY);
    put_le(&w->kv, GGUF_TYPE_INT32, 4);
    put_le(&w->kv, n, 8);
    for (uint64_t i = 0; i < n; i++) put_le(&w->kv, (uint32_t)v[i], 4);
}

void gptoss_gguf_w_tensor(gptoss_gguf_writer *w, const char *name, uint32_t type, uint32_t n_dims,
                          const uint64_t *shape) {
    if (w->failed) return;
    if (w->n_tensors == w->cap_tensors) {
        size_t cap = w->cap_tensors ? w->cap_tensors * 2 : 64;
        gptoss_gguf_wtensor *t = realloc(w->tensors, cap * sizeof *t);
        if (!t) {
            w->failed = 1;
            return;
        }
        w->tensors = t;
        w->cap_tensors = cap;
    }
    gptoss_gguf_wtensor *t = &w->tensors[w->n_tensors];
    memset(t, 0, sizeof *t);
    t->name = strdup(name);
    if (!t->name || n_dims < 1 || n_dims > GGUF_MAX_DIMS || !gptoss_ggml_block_size(type)) {
        free(t->name);
        w->failed = 1;
        return;
    }
    w->n_tensors++;
    t->type = type;
    t->n_dims = n_dims;
    uint64_t n = 1;
    for (uint32_t d = 0; d < n_dims; d++) {
        t->ne[d] = shape[n_dims - 1 - d]; /* ggml order: innermost first */
        n *= t->ne[d];
    }
    t->n_bytes = n / gptoss_ggml_block_size(type) * gptoss_ggml_type_size(type);
    t->offset = w->data_size;
    w->data_size += t->n_bytes;
    w->data_size += (w->alignment - w->data_size % w->alignment) % w->alignment;
}

static gptoss_status write_all(gptoss_gguf_writer *w, const void *p, size_t n, char *err, size_t err_size) {
    if (n && fwrite(p, 1, n, w->f) != n)
        return gptoss_fail(GPTOSS_ERR_IO, err, err_size, "%s: write failed: %s", w->path, strerror(errno));
    return GPTOSS_OK;
}

static gptoss_status pad(gptoss_gguf_writer *w, uint64_t pos, char *err, size_t err_size) {
    static const uint8_t zeros[64];
    uint64_t n = (w->alignment - pos % w->alignment) % w->alignment;
    while (n) {
        size_t k = n > sizeof zeros ? sizeof zeros : (size_t)n;
        gptoss_status st = write_all(w, zeros, k, err, err_size);
        if (st != GPTOSS_OK) return st;
        n -= k;
    }
    return GPTOSS_OK;
}

gptoss_status gptoss_gguf_w_begin(gptoss_gguf_writer *w, const char *path, char *err, size_t err_size) {
    if (w->failed || w->kv.failed)
        return gptoss_fail(GPTOSS_ERR_NO_MEMORY, err, err_size, "%s: out of memory (or an invalid tensor)", path);
    w->path = strdup(path);
    if (!w->path) return gptoss_fail(GPTOSS_ERR_NO_MEMORY, err, err_size, "%s: out of memory", path);
    w->f = fopen(path, "wb");
    if (!w->f) return gptoss_fail(GPTOSS_ERR_IO, err, err_size, "%s: cannot create: %s", path, strerror(errno));
    gptoss_buf h = {0};
    gptoss_buf_append(&h, "GGUF", 4);
    put_le(&h, 3, 4);
    put_le(&h, w->n_tensors, 8);
    put_le(&h, w->n_kv, 8);
    gptoss_buf_append(&h, w->kv.data, w->kv.len);
    for (size_t i = 0; i < w->n_tensors; i++) {
        const gptoss_gguf_wtensor *t = &w->tensors[i];
        put_str(&h, t->name, strlen(t->name));
        put_le(&h, t->n_dims, 4);
        for (uint32_t d = 0; d < t->n_dims; d++) put_le(&h, t->ne[d], 8);
        put_le(&h, t->type, 4);
        put_le(&h, t->offset, 8);
    }
    gptoss_status st = h.failed ? gptoss_fail(GPTOSS_ERR_NO_MEMORY, err, err_size, "%s: out of memory", path)
                                : write_all(w, h.data, h.len, err, err_size);
    if (st == GPTOSS_OK) st = pad(w, h.len, err, err_size);
    gptoss_buf_free(&h);
    return st;
}

gptoss_status gptoss_gguf_w_data(gptoss_gguf_writer *w, const void *p, size_t n, char *err, size_t err_size) {
    const uint8_t *b = p;
    while (n) {
        if (w->next_tensor >= w->n_tensors)
            return gptoss_fail(GPTOSS_ERR_INTERNAL, err, err_size, "%s: more tensor data than declared", w->path);
        const gptoss_gguf_wtensor *t = &w->tensors[w->next_tensor];
        uint64_t room = t->n_bytes - w->written;
        size_t k = n < room ? n : (size_t)room;
        gptoss_status st = write_all(w, b, k, err, err_size);
        if (st != GPTOSS_OK) return st;
        b += k;
        n -= k;
        w->written += k;
        if (w->written == t->n_bytes) {
            st = pad(w, t->offset + t->n_bytes, err, err_size);
            if (st != GPTOSS_OK) return st;
            w->next_tensor++;
            w->written = 0;
        }
    }
    return GPTOSS_OK;
}

gptoss_status gptoss_gguf_w_close(gptoss_gguf_writer *w, char *err, size_t err_size) {
    gptoss_status st = GPTOSS_OK;
    if (w->next_tensor != w->n_tensors)
        st = gptoss_fail(GPTOSS_ERR_INTERNAL, err, err_size, "%s: tensor '%s' was not written", w->path,
                         w->tensors[w->next_tensor].name);
    if (w->f && fclose(w->f) != 0 && st == GPTOSS_OK)
        st = gptoss_fail(GPTOSS_ERR_IO, err, err_size, "%s: write failed: %s", w->path, strerror(errno));
    w->f = NULL;
    return st;
}

void gptoss_gguf_writer_free(gptoss_gguf_writer *w) {
    if (w->f) fclose(w->f);
    for (size_t i = 0; i < w->n_tensors; i++) free(w->tensors[i].name);
    free(w->tensors);
    free(w->path);
    gptoss_buf_free(&w->kv);
    memset(w, 0, sizeof *w);
}
