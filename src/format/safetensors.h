/* safetensors.h: mapping safetensors files read-only and indexing their tensors by name, with every
 * offset, size and shape in the header checked against the file. */
#ifndef GPTOSS_SAFETENSORS_H
#define GPTOSS_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "base/common.h"
#include "base/tensor.h"

#define GPTOSS_MAX_DIMS 8
/* Real headers are a few hundred KB; anything far larger is corrupt or hostile. */
#define GPTOSS_SAFETENSORS_MAX_HEADER ((uint64_t)100 << 20)

typedef struct gptoss_st_tensor {
    const char *name;
    gptoss_dtype dtype;
    const char *dtype_name;
    uint32_t n_dims;
    uint64_t shape[GPTOSS_MAX_DIMS];
    uint64_t n_elements;
    uint64_t n_bytes;
    const void *data;     /* inside the file's mapping */
    uint32_t file_index;
} gptoss_st_tensor;

typedef struct gptoss_st_file {
    char *path;
    void *map;
    size_t size;
} gptoss_st_file;

/* A set of mapped files whose tensors share one namespace. */
typedef struct gptoss_st_set {
    gptoss_st_file *files;
    uint32_t n_files;
    gptoss_st_tensor *tensors; /* sorted by name after gptoss_st_set_finish */
    size_t n_tensors, cap_tensors;
    char **names;              /* owned copies of the names */
} gptoss_st_set;

/* Parses one safetensors header held in memory (file_size bytes, starting at the 8-byte length).
 * Tensors are appended to set with data pointers into `base`. Used by the loader (on a mapping)
 * and by the fuzz target (on a buffer). */
gptoss_status gptoss_st_parse(gptoss_st_set *set, const char *path, const uint8_t *base, size_t file_size,
                              uint32_t file_index, char *err, size_t err_size);
/* Maps `path` read-only and parses it into set. */
gptoss_status gptoss_st_set_add_file(gptoss_st_set *set, const char *path, char *err, size_t err_size);
/* Sorts the tensors and rejects duplicate names across files. */
gptoss_status gptoss_st_set_finish(gptoss_st_set *set, char *err, size_t err_size);
const gptoss_st_tensor *gptoss_st_find(const gptoss_st_set *set, const char *name);
void gptoss_st_set_free(gptoss_st_set *set);

#endif
