/* safetensors.c: the safetensors container: 8-byte little-endian header length, a JSON header
 * {name: {dtype, shape, data_offsets}}, then densely packed tensor data. Nothing in the header is
 * trusted: offsets must lie inside the file, sizes must match dtype x shape, tensors may not overlap,
 * and typed data must be aligned so the kernels can read it in place. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "format/json.h"
#include "format/safetensors.h"

static const struct {
    const char *name;
    gptoss_dtype dtype;
    size_t size;
} dtype_table[] = {
    {"F32", GPTOSS_DTYPE_F32, 4},   {"F16", GPTOSS_DTYPE_F16, 2},   {"BF16", GPTOSS_DTYPE_BF16, 2},
    {"U8", GPTOSS_DTYPE_U8, 1},     {"I8", GPTOSS_DTYPE_I8, 1},     {"BOOL", GPTOSS_DTYPE_OTHER, 1},
    {"F64", GPTOSS_DTYPE_OTHER, 8}, {"I64", GPTOSS_DTYPE_OTHER, 8}, {"U64", GPTOSS_DTYPE_OTHER, 8},
    {"I32", GPTOSS_DTYPE_OTHER, 4}, {"U32", GPTOSS_DTYPE_OTHER, 4}, {"I16", GPTOSS_DTYPE_OTHER, 2},
    {"U16", GPTOSS_DTYPE_OTHER, 2}, {"F8_E4M3", GPTOSS_DTYPE_OTHER, 1}, {"F8_E5M2", GPTOSS_DTYPE_OTHER, 1},
};

static gptoss_status add_tensor(gptoss_st_set *set, const gptoss_st_tensor *t, const char *name, size_t name_len) {
    if (set->n_tensors == set->cap_tensors) {
        size_t cap = set->cap_tensors ? set->cap_tensors * 2 : 64;
        gptoss_st_tensor *nt = realloc(set->tensors, cap * sizeof *nt);
        if (!nt) return GPTOSS_ERR_NO_MEMORY;
        set->tensors = nt;
        char **nn = realloc(set->names, cap * sizeof *nn);
        if (!nn) return GPTOSS_ERR_NO_MEMORY;
        set->names = nn;
        set->cap_tensors = cap;
    }
    char *copy = malloc(name_len + 1);
    if (!copy) return GPTOSS_ERR_NO_MEMORY;
    memcpy(copy, name, name_len);
    copy[name_len] = 0;
    set->names[set->n_tensors] = copy;
    set->tensors[set->n_tensors] = *t;
    set->tensors[set->n_tensors].name = copy;
    set->n_tensors++;
    return GPTOSS_OK;
}

gptoss_status gptoss_st_parse(gptoss_st_set *set, const char *path, const uint8_t *base, size_t file_size,
                              uint32_t file_index, char *err, size_t err_size) {
    if (file_size < 8)
        return gptoss_fail(GPTOSS_ERR_FORMAT, err, err_size, "%s: truncated safetensors file (%zu bytes, no header length)",
                           path, file_size);
    uint64_t header_len = 0;
    for (int i = 7; i >= 0; i--) header_len = (header_len << 8) | base[i];
    if (header_len > GPTOSS_SAFETENSORS_MAX_HEADER)
        return gptoss_fail(GPTOSS_ERR_FORMAT, err, err_size,
                           "%s: safetensors header length %llu exceeds the %llu-byte limit (corrupt file?)", path,
                           (unsigned long long)header_len, (unsigned long long)GPTOSS_SAFETENSORS_MAX_HEADER);
    if (header_len < 2 || header_len > file_size - 8)
        return gptoss_fail(GPTOSS_ERR_FORMAT, err, err_size,
                           "%s: safetensors header length %llu does not fit in the %zu-byte file (truncated?)", path,
                           (unsigned long long)header_len, file_size);
    const uint8_t *data_start = base + 8 + header_len;
    uint64_t data_size = file_size - 8 - header_len;

    char jerr[256];
    json_doc *doc = json_parse((const char *)base + 8, (size_t)header_len, jerr, sizeof jerr);
    if (!doc) return gptoss_fail(GPTOSS_ERR_FORMAT, err, err_size, "%s: safetensors header: %s", path, jerr);
    const json_value *root = json_root(doc);
    gptoss_status st = GPTOSS_OK;
    gptoss_span *spans = NULL;
    size_t n_spans = 0;
    if (root->type != JSON_OBJECT) {
        st = gptoss_fail(GPTOSS_ERR_FORMAT, err, err_size, "%s: safetensors header is not a JSON object", path);
        goto done;
    }
    spans = calloc(root->n ? root->n : 1, sizeof *spans);
    if (!spans) {
        st = gptoss_fail(GPTOSS_ERR_NO_MEMORY, err, err_size, "%s: out of memory", path);
        goto done;
    }
    for (size_t i = 0; i < root->n; i++) {
        const json_member *m = &root->members[i];
        if (m->key_len == 12 && memcmp(m->key, "__metadata__", 12) == 0) {
            if (m->value.type != JSON_OBJECT) {
                st = gptoss_fail(GPTOSS_ERR_FORMAT, err, err_size, "%s: __metadata__ is not an object", path);
                goto done;
            }
            continue;
        }
        if (m->key_len == 0 || memchr(m->key, 0, m->key_len)) {
            st = gptoss_fail(GPTOSS_ERR_FORMAT, err, err_size, "%s: empty or invalid tensor name", path);
            goto done;
        }
        const json_value *v = &m->value;
        const char *dt = json_get_string(v, "dtype");
        const json_value *shape = json_get(v, "shape");
        const json_value *offs = json_get(v, "data_offsets");
        if (v->type != JSON_OBJECT || !dt || !shape || shape->type != JSON_ARRAY || !offs ||
            offs->type != JSON_ARRAY || offs->n != 2) {
            st = gptoss_fail(GPTOSS_ERR_FORMAT, err, err_size,
                             "%s: tensor '%.200s' needs dtype, shape and data_offsets [begin, end]", path, m->key);
            goto done;
        }
        gptoss_st_tensor t;
        memset(&t, 0, sizeof t);
        size_t esize = 0;
        for (size_t k = 0; k < sizeof dtype_table / sizeof dtype_table[0]; k++)
            if (!strcmp(dt, dtype_table[k].name)) {
                t.dtype = dtype_table[k].dtype;
                t.dtype_name = dtype_table[k].name;
                esize = dtype_table[k].size;
            }
        if (!esize) {
            st = gptoss_fail(GPTOSS_ERR_FORMAT, err, err_size, "%s: tensor '%.200s' has unknown dtype '%.40s'", path,
                             m->key, dt);
            goto done;
        }
        if (shape->n > GPTOSS_MAX_DIMS) {
            st = gptoss_fail(GPTOSS_ERR_FORMAT, err, err_size, "%s: tensor '%.200s' has %zu dimensions (max %d)", path,
                             m->key, shape->n, GPTOSS_MAX_DIMS);
            goto done;
        }
        t.n_dims = (uint32_t)shape->n;
        uint64_t n_el = 1;
        for (size_t d = 0; d < shape->n; d++) {
            const json_value *dim = &shape->items[d];
            if (dim->type != JSON_NUMBER || !dim->is_uint || !gptoss_mul_u64(n_el, dim->uint, &n_el)) {
                st = gptoss_fail(GPTOSS_ERR_FORMAT, err, err_size,
                                 "%s: tensor '%.200s' has an invalid or overflowing shape", path, m->key);
                goto done;
            }
            t.shape[d] = dim->uint;
        }
        t.n_elements = n_el;
        if (!gptoss_mul_u64(n_el, esize, &t.n_bytes)) {
            st = gptoss_fail(GPTOSS_ERR_FORMAT, err, err_size, "%s: tensor '%.200s' is too large", path, m->key);
            goto done;
        }
        const json_value *b = &offs->items[0], *e = &offs->items[1];
        if (b->type != JSON_NUMBER || !b->is_uint || e->type != JSON_NUMBER || !e->is_uint || b->uint > e->uint) {
            st = gptoss_fail(GPTOSS_ERR_FORMAT, err, err_size, "%s: tensor '%.200s' has invalid data_offsets", path,
                             m->key);
            goto done;
        }
        if (e->uint > data_size) {
            st = gptoss_fail(GPTOSS_ERR_FORMAT, err, err_size,
                             "%s: tensor '%.200s' data_offsets [%llu, %llu] run past the end of the file (%llu data bytes)",
                             path, m->key, (unsigned long long)b->uint, (unsigned long long)e->uint,
                             (unsigned long long)data_size);
            goto done;
        }
        if (e->uint - b->uint != t.n_bytes) {
            st = gptoss_fail(GPTOSS_ERR_FORMAT, err, err_size,
                             "%s: tensor '%.200s' holds %llu bytes but %s x shape needs %llu", path, m->key,
                             (unsigned long long)(e->uint - b->uint), dt, (unsigned long long)t.n_bytes);
            goto done;
        }
        uint64_t abs_off = 8 + header_len + b->uint;
        if (t.n_bytes && abs_off % esize != 0) {
            st = gptoss_fail(GPTOSS_ERR_FORMAT, err, err_size,
                             "%s: tensor '%.200s' data is not aligned to its %zu-byte elements", path, m->key, esize);
            goto done;
        }
        t.data = data_start + b->uint;
        t.file_index = file_index;
        spans[n_spans].begin = b->uint;
        spans[n_spans].end = e->uint;
        spans[n_spans].index = set->n_tensors;
        n_spans++;
        if (add_tensor(set, &t, m->key, m->key_len) != GPTOSS_OK) {
            st = gptoss_fail(GPTOSS_ERR_NO_MEMORY, err, err_size, "%s: out of memory", path);
            goto done;
        }
    }
    size_t a, b2;
    if (gptoss_spans_overlap(spans, n_spans, &a, &b2)) {
        st = gptoss_fail(GPTOSS_ERR_FORMAT, err, err_size, "%s: tensors '%.200s' and '%.200s' overlap", path,
                         set->tensors[a].name, set->tensors[b2].name);
        goto done;
    }
done:
    free(spans);
    json_free(doc);
    return st;
}

gptoss_status gptoss_st_set_add_file(gptoss_st_set *set, const char *path, char *err, size_t err_size) {
    void *map;
    size_t size;
    gptoss_status ost = gptoss_map_file(path, &map, &size, err, err_size);
    if (ost != GPTOSS_OK) return ost;
    gptoss_st_file *files = realloc(set->files, (set->n_files + 1) * sizeof *files);
    char *pcopy = strdup(path);
    if (!files || !pcopy) {
        if (files) set->files = files;
        free(pcopy);
        if (map) munmap(map, size);
        return gptoss_fail(GPTOSS_ERR_NO_MEMORY, err, err_size, "%s: out of memory", path);
    }
    set->files = files;
    uint32_t idx = set->n_files++;
    set->files[idx].path = pcopy;
    set->files[idx].map = map;
    set->files[idx].size = size;
    return gptoss_st_parse(set, path, map ? (const uint8_t *)map : (const uint8_t *)"", size, idx, err, err_size);
}

static int cmp_tensor(const void *a, const void *b) {
    return strcmp(((const gptoss_st_tensor *)a)->name, ((const gptoss_st_tensor *)b)->name);
}

gptoss_status gptoss_st_set_finish(gptoss_st_set *set, char *err, size_t err_size) {
    if (set->n_tensors > 1) qsort(set->tensors, set->n_tensors, sizeof *set->tensors, cmp_tensor);
    for (size_t i = 1; i < set->n_tensors; i++)
        if (!strcmp(set->tensors[i].name, set->tensors[i - 1].name)) {
            const gptoss_st_tensor *a = &set->tensors[i - 1], *b = &set->tensors[i];
            return gptoss_fail(GPTOSS_ERR_FORMAT, err, err_size, "tensor '%.200s' appears twice (in %s and %s)",
                               a->name, set->files[a->file_index].path, set->files[b->file_index].path);
        }
    return GPTOSS_OK;
}

const gptoss_st_tensor *gptoss_st_find(const gptoss_st_set *set, const char *name) {
    gptoss_st_tensor key;
    key.name = name;
    return bsearch(&key, set->tensors, set->n_tensors, sizeof key, cmp_tensor);
}

void gptoss_st_set_free(gptoss_st_set *set) {
    if (!set) return;
    for (uint32_t i = 0; i < set->n_files; i++) {
        if (set->files[i].map) munmap(set->files[i].map, set->files[i].size);
        free(set->files[i].path);
    }
    for (size_t i = 0; i < set->n_tensors; i++) free(set->names[i]);
    free(set->files);
    free(set->tensors);
    free(set->names);
    memset(set, 0, sizeof *set);
}
