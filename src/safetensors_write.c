/* safetensors_write.c: the streaming safetensors writer (declare, lay out, stream, close). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "json.h"
#include "safetensors_write.h"

/* Rank = position in the reference serializer's Dtype enum; it sorts tensors by rank descending so
 * that wider elements come first and every tensor starts aligned to its element size. */
static const struct {
    const char *name;
    uint32_t size;
    int rank;
} dtypes[] = {
    {"BOOL", 1, 0}, {"U8", 1, 4}, {"I8", 1, 5}, {"F8_E5M2", 1, 6}, {"F8_E4M3", 1, 7},
    {"F8_E8M0", 1, 8}, {"I16", 2, 9}, {"U16", 2, 10}, {"F16", 2, 11}, {"BF16", 2, 12},
    {"I32", 4, 13}, {"U32", 4, 14}, {"F32", 4, 15}, {"F64", 8, 17}, {"I64", 8, 18}, {"U64", 8, 19},
};

static int dtype_index(const char *dtype) {
    for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
        if (!strcmp(dtypes[i].name, dtype)) return (int)i;
    return -1;
}

uint32_t gptoss_stw_dtype_size(const char *dtype) {
    int i = dtype ? dtype_index(dtype) : -1;
    return i < 0 ? 0 : dtypes[i].size;
}

void gptoss_stw_init(gptoss_stw *w) {
    memset(w, 0, sizeof *w);
    w->fd = -1;
}

void gptoss_stw_free(gptoss_stw *w) {
    for (size_t i = 0; i < w->n; i++) free(w->entries[i].name);
    free(w->entries);
    gptoss_buf_free(&w->header);
    if (w->fd >= 0) {
        close(w->fd);
        if (w->tmp_path) unlink(w->tmp_path);
    }
    free(w->path);
    free(w->tmp_path);
    free(w->buf);
    gptoss_stw_init(w);
}

gptoss_status gptoss_stw_add(gptoss_stw *w, const char *name, const char *dtype, uint32_t ndim,
                             const uint64_t *shape, size_t user, char *err, size_t err_size) {
    if (w->laid_out) return gptoss_fail(GPTOSS_ERR_INTERNAL, err, err_size, "safetensors writer: add after layout");
    int di = dtype ? dtype_index(dtype) : -1;
    if (!name || !*name || di < 0 || ndim > GPTOSS_STW_MAX_DIMS || (ndim && !shape))
        return gptoss_fail(GPTOSS_ERR_INVALID_ARGUMENT, err, err_size, "safetensors writer: bad tensor '%s'",
                           name ? name : "(null)");
    uint64_t nbytes = dtypes[di].size;
    for (uint32_t d = 0; d < ndim; d++)
        if (!gptoss_mul_u64(nbytes, shape[d], &nbytes))
            return gptoss_fail(GPTOSS_ERR_INVALID_ARGUMENT, err, err_size, "tensor '%s': size overflows", name);
    if (w->n == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 64;
        gptoss_stw_entry *e = realloc(w->entries, cap * sizeof *e);
        if (!e) return gptoss_fail(GPTOSS_ERR_NO_MEMORY, err, err_size, "out of memory");
        w->entries = e;
        w->cap = cap;
    }
    gptoss_stw_entry *e = &w->entries[w->n];
    memset(e, 0, sizeof *e);
    size_t len = strlen(name);
    e->name = malloc(len + 1);
    if (!e->name) return gptoss_fail(GPTOSS_ERR_NO_MEMORY, err, err_size, "out of memory");
    memcpy(e->name, name, len + 1);
    e->dtype = dtypes[di].name;
    e->elem_size = dtypes[di].size;
    e->ndim = ndim;
    for (uint32_t d = 0; d < ndim; d++) e->shape[d] = shape[d];
    e->nbytes = nbytes;
    e->user = user;
    w->n++;
    return GPTOSS_OK;
}

static int entry_cmp(const void *pa, const void *pb) {
    const gptoss_stw_entry *a = pa, *b = pb;
    int ra = dtypes[dtype_index(a->dtype)].rank, rb = dtypes[dtype_index(b->dtype)].rank;
    if (ra != rb) return ra > rb ? -1 : 1;
    return strcmp(a->name, b->name);
}

gptoss_status gptoss_stw_layout(gptoss_stw *w, const char *metadata, char *err, size_t err_size) {
    if (w->laid_out) return GPTOSS_OK;
    if (w->n) qsort(w->entries, w->n, sizeof *w->entries, entry_cmp);
    uint64_t off = 0;
    for (size_t i = 0; i < w->n; i++) {
        gptoss_stw_entry *e = &w->entries[i];
        /* Equal names sort next to each other, and at most one of them can carry the data. */
        if (i && !strcmp(e->name, w->entries[i - 1].name))
            return gptoss_fail(GPTOSS_ERR_INVALID_ARGUMENT, err, err_size, "tensor '%s' declared twice", e->name);
        if (e->nbytes > UINT64_MAX - off)
            return gptoss_fail(GPTOSS_ERR_INVALID_ARGUMENT, err, err_size, "tensor data size overflows");
        e->begin = off;
        off += e->nbytes;
    }
    w->data_bytes = off;

    gptoss_buf *h = &w->header;
    gptoss_buf_append(h, "\0\0\0\0\0\0\0\0", 8); /* length, patched below */
    gptoss_buf_puts(h, "{");
    int first = 1;
    if (metadata) {
        gptoss_buf_printf(h, "\"__metadata__\":{%s}", metadata);
        first = 0;
    }
    for (size_t i = 0; i < w->n; i++) {
        const gptoss_stw_entry *e = &w->entries[i];
        if (!first) gptoss_buf_puts(h, ",");
        first = 0;
        json_write_string(h, e->name, strlen(e->name));
        gptoss_buf_printf(h, ":{\"dtype\":\"%s\",\"shape\":[", e->dtype);
        for (uint32_t d = 0; d < e->ndim; d++) gptoss_buf_printf(h, "%s%llu", d ? "," : "", (unsigned long long)e->shape[d]);
        gptoss_buf_printf(h, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)e->begin,
                          (unsigned long long)(e->begin + e->nbytes));
    }
    gptoss_buf_puts(h, "}");
    /* The data that follows starts 8-aligned, so a reader can map any element type in place. */
    while (!h->failed && (h->len - 8) % 8) gptoss_buf_puts(h, " ");
    if (h->failed) return gptoss_fail(GPTOSS_ERR_NO_MEMORY, err, err_size, "out of memory");
    uint64_t n = h->len - 8;
    for (int i = 0; i < 8; i++) h->data[i] = (char)(unsigned char)(n >> (8 * i));
    if (w->data_bytes > UINT64_MAX - h->len)
        return gptoss_fail(GPTOSS_ERR_INVALID_ARGUMENT, err, err_size, "file size overflows");
    w->laid_out = 1;
    return GPTOSS_OK;
}

uint64_t gptoss_stw_file_size(const gptoss_stw *w) { return w->laid_out ? w->header.len + w->data_bytes : 0; }

static gptoss_status write_all(gptoss_stw *w, const unsigned char *p, size_t n, char *err, size_t err_size) {
    while (n) {
        ssize_t k = write(w->fd, p, n);
        if (k < 0) {
            if (errno == EINTR) continue;
            w->failed = 1;
            return gptoss_fail(GPTOSS_ERR_IO, err, err_size, "%s: write failed: %s", w->path, strerror(errno));
        }
        p += k;
        n -= (size_t)k;
    }
    return GPTOSS_OK;
}

static gptoss_status flush(gptoss_stw *w, char *err, size_t err_size) {
    gptoss_status st = write_all(w, w->buf, w->buf_len, err, err_size);
    w->buf_len = 0;
    return st;
}

gptoss_status gptoss_stw_open(gptoss_stw *w, const char *path, size_t buf_size, char *err, size_t err_size) {
    if (!w->laid_out || w->fd >= 0 || w->path)
        return gptoss_fail(GPTOSS_ERR_INTERNAL, err, err_size, "%s: safetensors writer used out of order", path);
    if (!buf_size) buf_size = (size_t)8 << 20;
    buf_size = (buf_size + 63) & ~(size_t)63;
    size_t len = strlen(path);
    w->path = malloc(len + 1);
    w->tmp_path = malloc(len + 5);
    w->buf = malloc(buf_size);
    if (!w->path || !w->tmp_path || !w->buf) return gptoss_fail(GPTOSS_ERR_NO_MEMORY, err, err_size, "out of memory");
    memcpy(w->path, path, len + 1);
    memcpy(w->tmp_path, path, len);
    memcpy(w->tmp_path + len, ".tmp", 5);
    w->buf_cap = buf_size;
    w->fd = open(w->tmp_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (w->fd < 0)
        return gptoss_fail(GPTOSS_ERR_IO, err, err_size, "%s: cannot create: %s", w->tmp_path, strerror(errno));
    return write_all(w, (const unsigned char *)w->header.data, w->header.len, err, err_size);
}

gptoss_status gptoss_stw_space(gptoss_stw *w, uint64_t want, size_t unit, unsigned char **p, size_t *n,
                               char *err, size_t err_size) {
    if (w->fd < 0 || w->failed || !unit || unit > 64 || (unit & (unit - 1)))
        return gptoss_fail(GPTOSS_ERR_INTERNAL, err, err_size, "%s: safetensors writer used out of order",
                           w->path ? w->path : "(unopened)");
    uint64_t left = w->data_bytes - w->written;
    if (want > left) want = left;
    want &= ~(uint64_t)(unit - 1);
    if (!want)
        return gptoss_fail(GPTOSS_ERR_INTERNAL, err, err_size, "%s: more data than the header declares", w->path);
    if (w->buf_cap - w->buf_len < unit) {
        gptoss_status st = flush(w, err, err_size);
        if (st != GPTOSS_OK) return st;
    }
    size_t room = (w->buf_cap - w->buf_len) & ~(unit - 1);
    *p = w->buf + w->buf_len;
    *n = want < room ? (size_t)want : room;
    return GPTOSS_OK;
}

void gptoss_stw_commit(gptoss_stw *w, size_t n) {
    w->buf_len += n;
    w->written += n;
}

gptoss_status gptoss_stw_write(gptoss_stw *w, const void *data, size_t n, char *err, size_t err_size) {
    const unsigned char *src = data;
    while (n) {
        unsigned char *p;
        size_t k;
        gptoss_status st = gptoss_stw_space(w, n, 1, &p, &k, err, err_size);
        if (st != GPTOSS_OK) return st;
        memcpy(p, src, k);
        gptoss_stw_commit(w, k);
        src += k;
        n -= k;
    }
    return GPTOSS_OK;
}

gptoss_status gptoss_stw_close(gptoss_stw *w, char *err, size_t err_size) {
    if (w->fd < 0) return gptoss_fail(GPTOSS_ERR_INTERNAL, err, err_size, "safetensors writer: close without open");
    if (w->written != w->data_bytes)
        return gptoss_fail(GPTOSS_ERR_INTERNAL, err, err_size, "%s: %llu of %llu data bytes written", w->path,
                           (unsigned long long)w->written, (unsigned long long)w->data_bytes);
    gptoss_status st = flush(w, err, err_size);
    if (st != GPTOSS_OK) return st;
    int fd = w->fd;
    w->fd = -1;
    if (close(fd) != 0) {
        unlink(w->tmp_path);
        return gptoss_fail(GPTOSS_ERR_IO, err, err_size, "%s: close failed: %s", w->path, strerror(errno));
    }
    if (rename(w->tmp_path, w->path) != 0) {
        int e = errno;
        unlink(w->tmp_path);
        return gptoss_fail(GPTOSS_ERR_IO, err, err_size, "%s: cannot rename into place: %s", w->path, strerror(e));
    }
    return GPTOSS_OK;
}
