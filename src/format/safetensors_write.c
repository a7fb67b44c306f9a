/* safetensors_write.c: the streaming safetensors writer (declare, lay out, stream, close). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "format/json.h"
#include "format/safetensors_write.h"

#define STW_ALIGN 4096

struct gptoss_stw_io {
    unsigned char *bufs[2];
    int cur;
    int direct;
    int threaded;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    /* Job: bytes to write; `busy` while the thread owns it. */
    const unsigned char *job;
    size_t job_len;
    int busy, stop;
    int err; /* errno of the first failed write, 0 if none */
};

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

static void io_stop(gptoss_stw *w);

void gptoss_stw_free(gptoss_stw *w) {
    io_stop(w);
    for (size_t i = 0; i < w->n; i++) free(w->entries[i].name);
    free(w->entries);
    gptoss_buf_free(&w->header);
    if (w->fd >= 0) {
        close(w->fd);
        if (w->tmp_path) unlink(w->tmp_path);
    }
    free(w->path);
    free(w->tmp_path);
    if (w->io) {
        free(w->io->bufs[0]);
        free(w->io->bufs[1]);
        free(w->io);
    }
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

/* ---------------------------------------------------------------------------------------------
 * I/O: two aligned buffers; a full one is handed to a writer thread while the caller fills the
 * other. With O_DIRECT every write but the last is a whole number of blocks at a block-aligned
 * offset; the few bytes past the last block boundary move to the next buffer.
 * ------------------------------------------------------------------------------------------- */
/* Clears O_DIRECT on fd: 0, or -1 with errno. io->direct is set only where O_DIRECT exists (not on
 * macOS). */
static int direct_off(int fd) {
#ifdef O_DIRECT
    int fl = fcntl(fd, F_GETFL);
    return fl == -1 || fcntl(fd, F_SETFL, fl & ~O_DIRECT) == -1 ? -1 : 0;
#else
    (void)fd;
    return 0;
#endif
}

/* Runs on the writer thread (or inline without one). Returns 0 or an errno. */
static int io_write(int fd, struct gptoss_stw_io *io, const unsigned char *p, size_t n) {
    while (n) {
        size_t chunk = n;
        if (io->direct && n % STW_ALIGN) {
            /* Only the last write of a file is partial: the aligned part first, then the tail
             * without O_DIRECT. */
            chunk = n - n % STW_ALIGN;
            if (!chunk) {
                if (direct_off(fd)) return errno;
                io->direct = 0;
                continue;
            }
        }
        ssize_t k = write(fd, p, chunk);
        if (k < 0) {
            if (errno == EINTR) continue;
            if (errno == EINVAL && io->direct) {
                /* Some file systems accept O_DIRECT at open and refuse it on write. */
                if (direct_off(fd)) return errno;
                io->direct = 0;
                continue;
            }
            return errno;
        }
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

static void *io_thread(void *arg) {
    gptoss_stw *w = arg;
    struct gptoss_stw_io *io = w->io;
    pthread_mutex_lock(&io->mu);
    for (;;) {
        while (!io->busy && !io->stop) pthread_cond_wait(&io->cv, &io->mu);
        if (!io->busy) break;
        const unsigned char *p = io->job;
        size_t n = io->job_len;
        int skip = io->err != 0;
        pthread_mutex_unlock(&io->mu);
        int e = skip ? 0 : io_write(w->fd, io, p, n);
        pthread_mutex_lock(&io->mu);
        if (e && !io->err) io->err = e;
        io->busy = 0;
        pthread_cond_broadcast(&io->cv);
    }
    pthread_mutex_unlock(&io->mu);
    return NULL;
}

/* Waits until no write is in flight; reports the first failure. */
static gptoss_status io_wait(gptoss_stw *w, char *err, size_t err_size) {
    struct gptoss_stw_io *io = w->io;
    int e;
    if (io->threaded) {
        pthread_mutex_lock(&io->mu);
        while (io->busy) pthread_cond_wait(&io->cv, &io->mu);
        e = io->err;
        pthread_mutex_unlock(&io->mu);
    } else {
        e = io->err;
    }
    if (e) {
        w->failed = 1;
        return gptoss_fail(GPTOSS_ERR_IO, err, err_size, "%s: write failed: %s", w->path, strerror(e));
    }
    return GPTOSS_OK;
}

/* Hands the filled buffer over (all of it when `last`, else its whole blocks) and switches to the
 * other buffer. */
static gptoss_status flush(gptoss_stw *w, int last, char *err, size_t err_size) {
    struct gptoss_stw_io *io = w->io;
    /* After the wait the thread is idle, so io->direct (which it may clear) is safe to read. */
    gptoss_status st = io_wait(w, err, err_size);
    if (st != GPTOSS_OK) return st;
    size_t n = w->buf_len, keep = last || !io->direct ? 0 : n % STW_ALIGN;
    n -= keep;
    unsigned char *next = io->bufs[io->cur ^ 1];
    memcpy(next, w->buf + n, keep);
    if (io->threaded) {
        pthread_mutex_lock(&io->mu);
        io->job = w->buf;
        io->job_len = n;
        io->busy = 1;
        pthread_cond_broadcast(&io->cv);
        pthread_mutex_unlock(&io->mu);
    } else if (!io->err) {
        io->err = io_write(w->fd, io, w->buf, n);
    }
    io->cur ^= 1;
    w->buf = next;
    w->buf_len = keep;
    return last ? io_wait(w, err, err_size) : GPTOSS_OK;
}

static void io_stop(gptoss_stw *w) {
    struct gptoss_stw_io *io = w->io;
    if (!io) return;
    if (io->threaded) {
        pthread_mutex_lock(&io->mu);
        io->stop = 1;
        pthread_cond_broadcast(&io->cv);
        pthread_mutex_unlock(&io->mu);
        pthread_join(io->thread, NULL);
        pthread_mutex_destroy(&io->mu);
        pthread_cond_destroy(&io->cv);
        io->threaded = 0;
    }
}

gptoss_status gptoss_stw_open(gptoss_stw *w, const char *path, size_t buf_size, char *err, size_t err_size) {
    if (!w->laid_out || w->fd >= 0 || w->path)
        return gptoss_fail(GPTOSS_ERR_INTERNAL, err, err_size, "%s: safetensors writer used out of order", path);
    if (!buf_size) buf_size = (size_t)8 << 20;
    if (buf_size > SIZE_MAX - STW_ALIGN) buf_size = SIZE_MAX / 2;
    buf_size = (buf_size + STW_ALIGN - 1) & ~(size_t)(STW_ALIGN - 1);
    size_t len = strlen(path);
    w->path = malloc(len + 1);
    w->tmp_path = malloc(len + 5);
    w->io = calloc(1, sizeof *w->io);
    if (!w->path || !w->tmp_path || !w->io) return gptoss_fail(GPTOSS_ERR_NO_MEMORY, err, err_size, "out of memory");
    struct gptoss_stw_io *io = w->io;
    for (int i = 0; i < 2; i++) {
        void *p = NULL;
        if (posix_memalign(&p, STW_ALIGN, buf_size) != 0)
            return gptoss_fail(GPTOSS_ERR_NO_MEMORY, err, err_size, "%s: out of memory for write buffers", path);
        io->bufs[i] = p;
    }
    memcpy(w->path, path, len + 1);
    memcpy(w->tmp_path, path, len);
    memcpy(w->tmp_path + len, ".tmp", 5);
    w->buf = io->bufs[0];
    w->buf_cap = buf_size;
    int flags = O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC;
#ifdef O_DIRECT
    w->fd = open(w->tmp_path, flags | O_DIRECT, 0644);
    io->direct = w->fd >= 0;
    if (w->fd < 0 && errno == EINVAL) /* file systems without direct I/O (tmpfs) */
#endif
        w->fd = open(w->tmp_path, flags, 0644);
    if (w->fd < 0)
        return gptoss_fail(GPTOSS_ERR_IO, err, err_size, "%s: cannot create: %s", w->tmp_path, strerror(errno));
    if (pthread_mutex_init(&io->mu, NULL) == 0) {
        if (pthread_cond_init(&io->cv, NULL) == 0) {
            io->threaded = pthread_create(&io->thread, NULL, io_thread, w) == 0;
            if (!io->threaded) pthread_cond_destroy(&io->cv);
        }
        if (!io->threaded) pthread_mutex_destroy(&io->mu);
    }
    /* The header goes through the buffer too, so that every later write stays block-aligned. */
    const unsigned char *h = (const unsigned char *)w->header.data;
    size_t hn = w->header.len;
    while (hn) {
        if (w->buf_len == w->buf_cap) {
            gptoss_status st = flush(w, 0, err, err_size);
            if (st != GPTOSS_OK) return st;
        }
        size_t k = w->buf_cap - w->buf_len < hn ? w->buf_cap - w->buf_len : hn;
        memcpy(w->buf + w->buf_len, h, k);
        w->buf_len += k;
        h += k;
        hn -= k;
    }
    return GPTOSS_OK;
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
        gptoss_status st = flush(w, 0, err, err_size);
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
    gptoss_status st = flush(w, 1, err, err_size);
    if (st != GPTOSS_OK) return st;
    io_stop(w);
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
