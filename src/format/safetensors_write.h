/* safetensors_write.h: a streaming safetensors writer. Tensors are declared first (name, dtype,
 * shape), then the header is laid out exactly as the reference `safetensors` serializer does it,
 * then the data is streamed tensor by tensor through a fixed buffer, so a file of any size is
 * written without holding a whole tensor in memory. */
#ifndef GPTOSS_SAFETENSORS_WRITE_H
#define GPTOSS_SAFETENSORS_WRITE_H

#include <stddef.h>
#include <stdint.h>

#include "base/common.h"

#define GPTOSS_STW_MAX_DIMS 8

typedef struct gptoss_stw_entry {
    char *name;
    const char *dtype; /* static string: "BF16", "F32", "U8", ... */
    uint32_t elem_size;
    uint32_t ndim;
    uint64_t shape[GPTOSS_STW_MAX_DIMS];
    uint64_t nbytes;
    uint64_t begin; /* data offset, valid after gptoss_stw_layout */
    size_t user;    /* caller's tag, carried through the sort */
} gptoss_stw_entry;

typedef struct gptoss_stw {
    gptoss_stw_entry *entries; /* in data order after gptoss_stw_layout */
    size_t n, cap;
    gptoss_buf header;   /* 8-byte length + padded JSON, after layout */
    uint64_t data_bytes; /* sum of nbytes, after layout */
    int laid_out;
    /* Open file state. */
    int fd;
    char *path, *tmp_path;
    unsigned char *buf; /* the buffer being filled (one of two; the other may be in flight) */
    size_t buf_len, buf_cap;
    uint64_t written; /* data bytes accepted so far (header excluded) */
    int failed;
    struct gptoss_stw_io *io; /* the background writer (safetensors_write.c) */
} gptoss_stw;

/* Zero-initialises w; nothing to free until the first add. */
void gptoss_stw_init(gptoss_stw *w);
/* Releases everything; removes the temporary file if the writer was opened and not closed. */
void gptoss_stw_free(gptoss_stw *w);

/* Bytes per element of a safetensors dtype name, or 0 if unknown / not byte-sized. */
uint32_t gptoss_stw_dtype_size(const char *dtype);

/* Declares a tensor. dtype must be a known name; the byte size is computed with overflow checks.
 * Names must be unique (checked by gptoss_stw_layout). */
gptoss_status gptoss_stw_add(gptoss_stw *w, const char *name, const char *dtype, uint32_t ndim,
                             const uint64_t *shape, size_t user, char *err, size_t err_size);

/* Sorts the tensors into data order (dtype alignment descending, then name bytewise, as the
 * reference serializer does), assigns data_offsets and builds the header. metadata: the members of
 * the "__metadata__" object as JSON text (e.g. "\"format\":\"pt\""), or NULL for none. */
gptoss_status gptoss_stw_layout(gptoss_stw *w, const char *metadata, char *err, size_t err_size);

/* Total size of the file: 8 + header length + data (after layout). */
uint64_t gptoss_stw_file_size(const gptoss_stw *w);

/* Creates path (through path.tmp, renamed on close) and queues the header. buf_size: each of the
 * two write buffers (0 = 8 MiB). Full buffers are written by a background thread while the caller
 * fills the other one, with O_DIRECT where the file system allows it: the data is written once
 * and never read back, and going through the page cache costs several times the disk's speed. */
gptoss_status gptoss_stw_open(gptoss_stw *w, const char *path, size_t buf_size, char *err, size_t err_size);

/* Room in the write buffer for the next data bytes: *n is a non-zero multiple of `unit` (a power
 * of two, at most 64), at most `want` rounded down to `unit` (and never past the end of the data),
 * flushing first if needed. Fill (*p)[0..k) and call gptoss_stw_commit(w, k) with k <= *n. */
gptoss_status gptoss_stw_space(gptoss_stw *w, uint64_t want, size_t unit, unsigned char **p, size_t *n,
                               char *err, size_t err_size);
void gptoss_stw_commit(gptoss_stw *w, size_t n);
/* Copies data bytes (convenience for small tensors). */
gptoss_status gptoss_stw_write(gptoss_stw *w, const void *data, size_t n, char *err, size_t err_size);

/* Checks that exactly the declared number of data bytes was written, flushes, closes and renames
 * the temporary file into place. */
gptoss_status gptoss_stw_close(gptoss_stw *w, char *err, size_t err_size);

#endif
