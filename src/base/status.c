/* status.c: status strings, error formatting and the small utilities declared in common.h. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/common.h"

const char *gptoss_status_string(gptoss_status status) {
    switch (status) {
    case GPTOSS_OK: return "ok";
    case GPTOSS_ERR_INVALID_ARGUMENT: return "invalid argument";
    case GPTOSS_ERR_IO: return "i/o error";
    case GPTOSS_ERR_FORMAT: return "malformed input";
    case GPTOSS_ERR_NO_MEMORY: return "out of memory";
    case GPTOSS_ERR_OUT_OF_RANGE: return "out of range";
    case GPTOSS_ERR_CONTEXT_OVERFLOW: return "context overflow";
    case GPTOSS_ERR_UNSUPPORTED: return "unsupported";
    case GPTOSS_ERR_INTERNAL: return "internal error";
    }
    return "unknown status";
}

gptoss_status gptoss_fail(gptoss_status status, char *err, size_t err_size, const char *fmt, ...) {
    if (err && err_size) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, err_size, fmt, ap);
        va_end(ap);
        /* Messages are one line by contract. */
        for (char *p = err; *p; p++)
            if (*p == '\n' || *p == '\r') *p = ' ';
    }
    return status;
}

static int buf_reserve(gptoss_buf *b, size_t extra) {
    if (b->failed) return 0;
    if (b->len + extra + 1 <= b->cap) return 1;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->len + extra + 1) {
        if (cap > SIZE_MAX / 2) { b->failed = 1; return 0; }
        cap *= 2;
    }
    char *d = realloc(b->data, cap);
    if (!d) { b->failed = 1; return 0; }
    b->data = d;
    b->cap = cap;
    return 1;
}

void gptoss_buf_append(gptoss_buf *b, const void *p, size_t n) {
    if (!buf_reserve(b, n)) return;
    if (n) memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = 0;
}

void gptoss_buf_puts(gptoss_buf *b, const char *s) { gptoss_buf_append(b, s, strlen(s)); }

char *gptoss_path_join(const char *dir, const char *name) {
    size_t ld = strlen(dir), ln = strlen(name);
    char *p = malloc(ld + ln + 2);
    if (!p) return NULL;
    memcpy(p, dir, ld);
    size_t n = ld;
    if (n && p[n - 1] != '/') p[n++] = '/';
    memcpy(p + n, name, ln + 1);
    return p;
}

static int remove_at(int parent, const char *name) {
    if (unlinkat(parent, name, 0) == 0 || errno == ENOENT) return 0;
    if (errno != EISDIR && errno != EPERM) return -1;
    int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return -1;
    DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return -1;
    }
    int rc = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") && remove_at(fd, e->d_name) != 0) rc = -1;
    closedir(d);
    if (rc == 0 && unlinkat(parent, name, AT_REMOVEDIR) != 0) rc = -1;
    return rc;
}

int gptoss_path_remove_tree(const char *dir) { return remove_at(AT_FDCWD, dir); }

void gptoss_buf_printf(gptoss_buf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || !buf_reserve(b, (size_t)n)) return;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

const char *gptoss_buf_cstr(gptoss_buf *b) {
    if (!buf_reserve(b, 0)) return NULL;
    b->data[b->len] = 0;
    return b->data;
}

void gptoss_buf_free(gptoss_buf *b) {
    free(b->data);
    memset(b, 0, sizeof *b);
}

static int cmp_span(const void *a, const void *b) {
    const gptoss_span *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    return (x->end > y->end) - (x->end < y->end);
}

int gptoss_spans_overlap(gptoss_span *spans, size_t n, size_t *first, size_t *second) {
    if (n > 1) qsort(spans, n, sizeof *spans, cmp_span);
    /* Compare each span with the furthest-reaching one before it, so a short tensor in between
     * cannot hide an overlap. */
    size_t reach = 0;
    for (size_t i = 1; i < n; i++) {
        if (spans[i].begin < spans[reach].end) {
            *first = spans[reach].index;
            *second = spans[i].index;
            return 1;
        }
        if (spans[i].end > spans[reach].end) reach = i;
    }
    return 0;
}

gptoss_status gptoss_open_regular(const char *path, int *fd, size_t *size, char *err, size_t err_size) {
    *fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (*fd < 0) return gptoss_fail(GPTOSS_ERR_IO, err, err_size, "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(*fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(*fd);
        *fd = -1;
        return gptoss_fail(GPTOSS_ERR_IO, err, err_size, "%s: not a regular file", path);
    }
    *size = (size_t)st.st_size;
    return GPTOSS_OK;
}

gptoss_status gptoss_map_file(const char *path, void **map, size_t *size, char *err, size_t err_size) {
    int fd;
    *map = NULL;
    gptoss_status st = gptoss_open_regular(path, &fd, size, err, err_size);
    if (st != GPTOSS_OK) return st;
    if (*size > 0) {
        void *m = mmap(NULL, *size, PROT_READ, MAP_SHARED, fd, 0);
        if (m == MAP_FAILED) {
            int e = errno;
            close(fd);
            return gptoss_fail(GPTOSS_ERR_IO, err, err_size, "%s: mmap failed: %s", path, strerror(e));
        }
        /* A cold read then fills the page cache in 2 MiB folios, which the kernel maps with one
         * entry each (where the file system supports large folios): decode's weight streams need
         * fewer TLB walks. Advice only; failure changes nothing. */
#ifdef MADV_HUGEPAGE /* Linux only: macOS has no transparent huge pages */
        madvise(m, *size, MADV_HUGEPAGE);
#endif
        *map = m;
    }
    close(fd);
    return GPTOSS_OK;
}

gptoss_status gptoss_read_file(const char *path, size_t max_bytes, char **out, size_t *len, char *err,
                               size_t err_size) {
    *out = NULL;
    *len = 0;
    int fd;
    size_t n;
    gptoss_status status = gptoss_open_regular(path, &fd, &n, err, err_size);
    if (status != GPTOSS_OK) return status;
    if (n > max_bytes) {
        close(fd);
        return gptoss_fail(GPTOSS_ERR_FORMAT, err, err_size, "%s: file is too large (%zu bytes, limit %zu)", path, n,
                           max_bytes);
    }
    char *data = malloc(n + 1);
    if (!data) {
        close(fd);
        return gptoss_fail(GPTOSS_ERR_NO_MEMORY, err, err_size, "%s: out of memory", path);
    }
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, data + got, n - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        got += (size_t)r;
    }
    close(fd);
    if (got != n) {
        free(data);
        return gptoss_fail(GPTOSS_ERR_IO, err, err_size, "%s: short read", path);
    }
    data[n] = 0;
    *out = data;
    *len = n;
    return GPTOSS_OK;
}
