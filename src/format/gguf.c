/* gguf.c: reading the GGUF container. Layout (ggml docs/gguf.md, ggml/src/gguf.cpp):
 *   u32 magic "GGUF", u32 version (2 or 3), u64 tensor count, u64 metadata count,
 *   metadata: {string key, u32 value type, value}... (strings: u64 length + bytes; arrays: u32 element
 *   type, u64 count, elements), tensor infos: {string name, u32 n_dims, u64 ne[n_dims], u32 ggml type,
 *   u64 offset}..., padding to general.alignment (default 32), then the data section; each tensor's
 *   offset is relative to the data section and a multiple of the alignment.
 * Nothing is trusted: every read is bounds-checked, every count is checked against the bytes left
 * before anything is allocated from it, sizes are computed with overflow checks, and tensors must lie
 * inside the data section without overlapping. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <sys/mman.h>
#include <unistd.h>

#include "format/gguf.h"

static const struct {
    uint32_t id;
    const char *name;
    uint32_t block, size;
} ggml_types[] = {
    {GGML_TYPE_F32, "F32", 1, 4},     {GGML_TYPE_F16, "F16", 1, 2},       {GGML_TYPE_Q4_0, "Q4_0", 32, 18},
    {GGML_TYPE_Q4_1, "Q4_1", 32, 20}, {GGML_TYPE_Q5_0, "Q5_0", 32, 22},   {GGML_TYPE_Q5_1, "Q5_1", 32, 24},
    {GGML_TYPE_Q8_0, "Q8_0", 32, 34}, {GGML_TYPE_I8, "I8", 1, 1},         {GGML_TYPE_I16, "I16", 1, 2},
    {GGML_TYPE_I32, "I32", 1, 4},     {GGML_TYPE_I64, "I64", 1, 8},       {GGML_TYPE_F64, "F64", 1, 8},
    {GGML_TYPE_BF16, "BF16", 1, 2},   {GGML_TYPE_MXFP4, "MXFP4", 32, 17},
};

const char *gptoss_ggml_type_name(uint32_t type) {
    for (size_t i = 0; i < sizeof ggml_types / sizeof ggml_types[0]; i++)
        if (ggml_types[i].id == type) return ggml_types[i].name;
    return "unknown";
}

uint32_t gptoss_ggml_block_size(uint32_t type) {
    for (size_t i = 0; i < sizeof ggml_types / sizeof ggml_types[0]; i++)
        if (ggml_types[i].id == type) return ggml_types[i].block;
    return 0;
}

uint32_t gptoss_ggml_type_size(uint32_t type) {
    for (size_t i = 0; i < sizeof ggml_types / sizeof ggml_types[0]; i++)
        if (ggml_types[i].id == type) return ggml_types[i].size;
    return 0;
}

static const char *const value_type_names[] = {"uint8", "int8",   "uint16", "int16",  "uint32", "int32", "float32",
                                               "bool",  "string", "array",  "uint64", "int64",  "float64"};

const char *gptoss_gguf_value_type_name(uint32_t type) {
    return type < sizeof value_type_names / sizeof value_type_names[0] ? value_type_names[type] : "unknown";
}

static uint32_t scalar_size(uint32_t type) {
    switch (type) {
    case GGUF_TYPE_UINT8:
    case GGUF_TYPE_INT8:
    case GGUF_TYPE_BOOL: return 1;
    case GGUF_TYPE_UINT16:
    case GGUF_TYPE_INT16: return 2;
    case GGUF_TYPE_UINT32:
    case GGUF_TYPE_INT32:
    case GGUF_TYPE_FLOAT32: return 4;
    case GGUF_TYPE_UINT64:
    case GGUF_TYPE_INT64:
    case GGUF_TYPE_FLOAT64: return 8;
    }
    return 0;
}

/* ---- bounds-checked cursor ------------------------------------------------------------------ */

typedef struct cursor {
    const uint8_t *base;
    size_t size, pos;
    const char *path;
    char *err;
    size_t err_size;
    gptoss_status st;
} cursor;

static int fail_at(cursor *c, const char *what) {
    if (c->st == GPTOSS_OK)
        c->st = gptoss_fail(GPTOSS_ERR_FORMAT, c->err, c->err_size, "%s: truncated GGUF file: %s at byte %zu runs past the end (%zu bytes)",
                            c->path, what, c->pos, c->size);
    return 0;
}

static int take(cursor *c, size_t n, const uint8_t **p, const char *what) {
    if (c->st != GPTOSS_OK) return 0;
    if (n > c->size - c->pos) return fail_at(c, what);
    *p = c->base + c->pos;
    c->pos += n;
    return 1;
}

static uint64_t rd_le(const uint8_t *p, unsigned n) {
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static int get_u32(cursor *c, uint32_t *v, const char *what) {
    const uint8_t *p;
    if (!take(c, 4, &p, what)) return 0;
    *v = (uint32_t)rd_le(p, 4);
    return 1;
}

static int get_u64(cursor *c, uint64_t *v, const char *what) {
    const uint8_t *p;
    if (!take(c, 8, &p, what)) return 0;
    *v = rd_le(p, 8);
    return 1;
}

static int get_str(cursor *c, const char **s, uint64_t *len, uint64_t max, const char *what) {
    uint64_t n;
    const uint8_t *p;
    if (!get_u64(c, &n, what)) return 0;
    if (n > max) {
        c->st = gptoss_fail(GPTOSS_ERR_FORMAT, c->err, c->err_size,
                            "%s: %s at byte %zu has length %llu, over the limit of %llu", c->path, what, c->pos - 8,
                            (unsigned long long)n, (unsigned long long)max);
        return 0;
    }
    if (!take(c, (size_t)n, &p, what)) return 0;
    *s = (const char *)p;
    *len = n;
    return 1;
}

static char *dup_name(cursor *c, const char *s, uint64_t n, const char *what) {
    if (memchr(s, 0, (size_t)n)) {
        c->st = gptoss_fail(GPTOSS_ERR_FORMAT, c->err, c->err_size, "%s: %s '%.*s' contains a NUL byte", c->path, what,
                            (int)(n > 100 ? 100 : n), s);
        return NULL;
    }
    if (n == 0) {
        c->st = gptoss_fail(GPTOSS_ERR_FORMAT, c->err, c->err_size, "%s: empty %s at byte %zu", c->path, what, c->pos);
        return NULL;
    }
    char *d = malloc((size_t)n + 1);
    if (!d) {
        c->st = gptoss_fail(GPTOSS_ERR_NO_MEMORY, c->err, c->err_size, "%s: out of memory", c->path);
        return NULL;
    }
    memcpy(d, s, (size_t)n);
    d[n] = 0;
    return d;
}

/* ---- metadata ------------------------------------------------------------------------------- */

static int read_scalar(cursor *c, gptoss_gguf_kv *kv, uint32_t type) {
    const uint8_t *p;
    uint32_t n = scalar_size(type);
    if (!take(c, n, &p, "metadata value")) return 0;
    uint64_t raw = rd_le(p, n);
    kv->u = raw;
    switch (type) {
    case GGUF_TYPE_INT8: kv->i = (int8_t)raw; break;
    case GGUF_TYPE_INT16: kv->i = (int16_t)raw; break;
    case GGUF_TYPE_INT32: kv->i = (int32_t)raw; break;
    case GGUF_TYPE_INT64: kv->i = (int64_t)raw; break;
    case GGUF_TYPE_FLOAT32: {
        uint32_t b = (uint32_t)raw;
        float f;
        memcpy(&f, &b, 4);
        kv->f = f;
        break;
    }
    case GGUF_TYPE_FLOAT64: memcpy(&kv->f, &raw, 8); break;
    default: kv->i = (int64_t)raw; break;
    }
    if (type == GGUF_TYPE_BOOL && raw > 1) {
        c->st = gptoss_fail(GPTOSS_ERR_FORMAT, c->err, c->err_size, "%s: metadata '%s' is a bool with value %u", c->path,
                            kv->key, (unsigned)raw);
        return 0;
    }
    return 1;
}

static int read_value(cursor *c, gptoss_gguf_kv *kv) {
    if (!get_u32(c, &kv->type, "metadata value type")) return 0;
    if (kv->type == GGUF_TYPE_STRING) return get_str(c, &kv->str, &kv->str_len, GGUF_MAX_STRING, "metadata string");
    if (kv->type == GGUF_TYPE_ARRAY) {
        if (!get_u32(c, &kv->arr_type, "array element type") || !get_u64(c, &kv->arr_n, "array length")) return 0;
        size_t left = c->size - c->pos;
        if (kv->arr_type == GGUF_TYPE_STRING) {
            /* each element has at least its 8-byte length */
            if (kv->arr_n > left / 8) {
                c->st = gptoss_fail(GPTOSS_ERR_FORMAT, c->err, c->err_size,
                                    "%s: metadata '%s' declares %llu strings but only %zu bytes remain", c->path,
                                    kv->key, (unsigned long long)kv->arr_n, left);
                return 0;
            }
            kv->arr_data = c->base + c->pos;
            kv->arr_str_off = malloc((kv->arr_n ? kv->arr_n : 1) * sizeof(uint64_t));
            if (!kv->arr_str_off) {
                c->st = gptoss_fail(GPTOSS_ERR_NO_MEMORY, c->err, c->err_size, "%s: out of memory", c->path);
                return 0;
            }
            for (uint64_t i = 0; i < kv->arr_n; i++) {
                const char *s;
                uint64_t n;
                kv->arr_str_off[i] = c->pos;
                if (!get_str(c, &s, &n, GGUF_MAX_STRING, "array string")) return 0;
            }
            return 1;
        }
        uint32_t es = scalar_size(kv->arr_type);
        if (!es) {
            c->st = gptoss_fail(GPTOSS_ERR_FORMAT, c->err, c->err_size, "%s: metadata '%s' is an array of %s (type %u)",
                                c->path, kv->key,
                                kv->arr_type == GGUF_TYPE_ARRAY ? "arrays, which is not supported"
                                                                : "an unknown value type",
                                kv->arr_type);
            return 0;
        }
        if (kv->arr_n > left / es) {
            c->st = gptoss_fail(GPTOSS_ERR_FORMAT, c->err, c->err_size,
                                "%s: metadata '%s' declares %llu elements of %u bytes but only %zu bytes remain",
                                c->path, kv->key, (unsigned long long)kv->arr_n, es, left);
            return 0;
        }
        const uint8_t *p;
        if (!take(c, (size_t)(kv->arr_n * es), &p, "array")) return 0;
        kv->arr_data = p;
        if (kv->arr_type == GGUF_TYPE_BOOL)
            for (uint64_t i = 0; i < kv->arr_n; i++)
                if (p[i] > 1) {
                    c->st = gptoss_fail(GPTOSS_ERR_FORMAT, c->err, c->err_size,
                                        "%s: metadata '%s' element %llu is a bool with value %u", c->path, kv->key,
                                        (unsigned long long)i, p[i]);
                    return 0;
                }
        return 1;
    }
    if (!scalar_size(kv->type)) {
        c->st = gptoss_fail(GPTOSS_ERR_FORMAT, c->err, c->err_size, "%s: metadata '%s' has unknown value type %u",
                            c->path, kv->key, kv->type);
        return 0;
    }
    return read_scalar(c, kv, kv->type);
}

void gptoss_gguf_arr_str(const gptoss_gguf_kv *kv, uint64_t i, const char **s, uint64_t *len) {
    /* offsets were validated while parsing; data follows the 8-byte length */
    const uint8_t *p = kv->arr_data + (kv->arr_str_off[i] - kv->arr_str_off[0]);
    *len = rd_le(p, 8);
    *s = (const char *)p + 8;
}

int64_t gptoss_gguf_arr_int(const gptoss_gguf_kv *kv, uint64_t i) {
    uint32_t es = scalar_size(kv->arr_type);
    uint64_t raw = rd_le(kv->arr_data + i * es, es);
    switch (kv->arr_type) {
    case GGUF_TYPE_INT8: return (int8_t)raw;
    case GGUF_TYPE_INT16: return (int16_t)raw;
    case GGUF_TYPE_INT32: return (int32_t)raw;
    default: return (int64_t)raw;
    }
}

/* ---- lookups -------------------------------------------------------------------------------- */

const gptoss_gguf_kv *gptoss_gguf_find(const gptoss_gguf *g, const char *key) {
    for (size_t i = 0; i < g->n_kv; i++)
        if (!strcmp(g->kv[i].key, key)) return &g->kv[i];
    return NULL;
}

static int cmp_tensor_name(const void *a, const void *b) {
    return strcmp(((const gptoss_gguf_tensor *)a)->name, ((const gptoss_gguf_tensor *)b)->name);
}

const gptoss_gguf_tensor *gptoss_gguf_find_tensor(const gptoss_gguf *g, const char *name) {
    for (size_t i = 0; i < g->n_tensors; i++)
        if (!strcmp(g->tensors[i].name, name)) return &g->tensors[i];
    return NULL;
}

int gptoss_gguf_get_u64(const gptoss_gguf *g, const char *key, uint64_t *out) {
    const gptoss_gguf_kv *kv = gptoss_gguf_find(g, key);
    if (!kv) return 0;
    switch (kv->type) {
    case GGUF_TYPE_UINT8:
    case GGUF_TYPE_UINT16:
    case GGUF_TYPE_UINT32:
    case GGUF_TYPE_UINT64: *out = kv->u; return 1;
    case GGUF_TYPE_INT8:
    case GGUF_TYPE_INT16:
    case GGUF_TYPE_INT32:
    case GGUF_TYPE_INT64:
        if (kv->i < 0) return 0;
        *out = (uint64_t)kv->i;
        return 1;
    }
    return 0;
}

int gptoss_gguf_get_f64(const gptoss_gguf *g, const char *key, double *out) {
    const gptoss_gguf_kv *kv = gptoss_gguf_find(g, key);
    if (!kv) return 0;
    switch (kv->type) {
    case GGUF_TYPE_FLOAT32:
    case GGUF_TYPE_FLOAT64: *out = kv->f; return 1;
    case GGUF_TYPE_UINT8:
    case GGUF_TYPE_UINT16:
    case GGUF_TYPE_UINT32:
    case GGUF_TYPE_UINT64: *out = (double)kv->u; return 1;
    case GGUF_TYPE_INT8:
    case GGUF_TYPE_INT16:
    case GGUF_TYPE_INT32:
    case GGUF_TYPE_INT64: *out = (double)kv->i; return 1;
    }
    return 0;
}

int gptoss_gguf_get_str(const gptoss_gguf *g, const char *key, const char **s, uint64_t *len) {
    const gptoss_gguf_kv *kv = gptoss_gguf_find(g, key);
    if (!kv || kv->type != GGUF_TYPE_STRING) return 0;
    *s = kv->str;
    *len = kv->str_len;
    return 1;
}

/* ---- the file ------------------------------------------------------------------------------- */

gptoss_status gptoss_gguf_parse(gptoss_gguf *g, const char *path, const uint8_t *base, size_t size, char *err,
                                size_t err_size) {
    void *keep_map = g->map;
    memset(g, 0, sizeof *g);
    g->map = keep_map;
    cursor c = {base, size, 0, path, err, err_size, GPTOSS_OK};
    g->path = strdup(path);
    g->base = base;
    g->size = size;
    if (!g->path) return gptoss_fail(GPTOSS_ERR_NO_MEMORY, err, err_size, "%s: out of memory", path);
    const uint8_t *magic;
    uint32_t version;
    uint64_t n_tensors, n_kv;
    if (size < 4 || memcmp(base, "GGUF", 4) != 0) {
        /* Say what is there instead: an empty file, a download cut off, an HTML error page. */
        char what[128];
        gptoss_bytes_describe(what, sizeof what, base, size, size);
        const int cut_magic = size < 4 && memcmp(base, "GGUF", size) == 0;
        gptoss_gguf_free(g); /* unmaps base */
        if (size == 0) return gptoss_fail(GPTOSS_ERR_FORMAT, err, err_size, "%s: empty file (0 bytes), not a GGUF file", path);
        if (cut_magic)
            return gptoss_fail(GPTOSS_ERR_FORMAT, err, err_size,
                               "%s: truncated GGUF file: %s, shorter than the 4-byte \"GGUF\" magic", path, what);
        return gptoss_fail(GPTOSS_ERR_FORMAT, err, err_size, "%s: not a GGUF file: %s (a GGUF file starts with \"GGUF\")",
                           path, what);
    }
    take(&c, 4, &magic, "magic");
    if (!get_u32(&c, &version, "version")) goto done;
    if (version != 2 && version != 3) {
        uint32_t swapped = ((version & 0xff) << 24) | ((version & 0xff00) << 8) | ((version >> 8) & 0xff00) | (version >> 24);
        if (swapped == 2 || swapped == 3)
            c.st = gptoss_fail(GPTOSS_ERR_UNSUPPORTED, err, err_size, "%s: big-endian GGUF files are not supported", path);
        else
            c.st = gptoss_fail(GPTOSS_ERR_UNSUPPORTED, err, err_size,
                               "%s: GGUF version %u is not supported (versions 2 and 3 are)", path, version);
        goto done;
    }
    g->version = version;
    if (!get_u64(&c, &n_tensors, "tensor count") || !get_u64(&c, &n_kv, "metadata count")) goto done;
    /* smallest metadata entry: 8-byte key length + 1 key byte + 4-byte type + 1-byte value */
    if (n_kv > (size - c.pos) / 14) {
        c.st = gptoss_fail(GPTOSS_ERR_FORMAT, err, err_size,
                           "%s: metadata count %llu cannot fit in the %zu bytes of the file", path,
                           (unsigned long long)n_kv, size);
        goto done;
    }
    /* smallest tensor info: 8 + 1 name byte + 4 + 8 (one dim) + 4 + 8 */
    if (n_tensors > (size - c.pos) / 33) {
        c.st = gptoss_fail(GPTOSS_ERR_FORMAT, err, err_size,
                           "%s: tensor count %llu cannot fit in the %zu bytes of the file", path,
                           (unsigned long long)n_tensors, size);
        goto done;
    }
    g->kv = calloc(n_kv ? (size_t)n_kv : 1, sizeof *g->kv);
    g->tensors = calloc(n_tensors ? (size_t)n_tensors : 1, sizeof *g->tensors);
    if (!g->kv || !g->tensors) {
        c.st = gptoss_fail(GPTOSS_ERR_NO_MEMORY, err, err_size, "%s: out of memory", path);
        goto done;
    }
    g->alignment = GGUF_DEFAULT_ALIGNMENT;
    for (uint64_t i = 0; i < n_kv; i++) {
        gptoss_gguf_kv *kv = &g->kv[i];
        const char *k;
        uint64_t klen;
        if (!get_str(&c, &k, &klen, GGUF_MAX_KEY, "metadata key")) goto done;
        if (!(kv->key = dup_name(&c, k, klen, "metadata key"))) goto done;
        g->n_kv++;
        for (size_t j = 0; j < i; j++)
            if (!strcmp(g->kv[j].key, kv->key)) {
                c.st = gptoss_fail(GPTOSS_ERR_FORMAT, err, err_size, "%s: metadata key '%.200s' appears twice", path,
                                   kv->key);
                goto done;
            }
        if (!read_value(&c, kv)) goto done;
        if (!strcmp(kv->key, "general.alignment")) {
            if (kv->type != GGUF_TYPE_UINT32) {
                c.st = gptoss_fail(GPTOSS_ERR_FORMAT, err, err_size, "%s: general.alignment has type %s, expected uint32",
                                   path, gptoss_gguf_value_type_name(kv->type));
                goto done;
            }
            if (kv->u == 0 || (kv->u & (kv->u - 1)) != 0) {
                c.st = gptoss_fail(GPTOSS_ERR_FORMAT, err, err_size,
                                   "%s: general.alignment %llu is not a power of two", path, (unsigned long long)kv->u);
                goto done;
            }
            g->alignment = kv->u;
        }
    }
    for (uint64_t i = 0; i < n_tensors; i++) {
        gptoss_gguf_tensor *t = &g->tensors[i];
        const char *nm;
        uint64_t nlen;
        if (!get_str(&c, &nm, &nlen, GGUF_MAX_NAME, "tensor name")) goto done;
        if (!(t->name = dup_name(&c, nm, nlen, "tensor name"))) goto done;
        g->n_tensors++;
        if (!get_u32(&c, &t->n_dims, "tensor dimension count")) goto done;
        if (t->n_dims < 1 || t->n_dims > GGUF_MAX_DIMS) {
            c.st = gptoss_fail(GPTOSS_ERR_FORMAT, err, err_size, "%s: tensor '%s' has %u dimensions (1 to %d allowed)",
                               path, t->name, t->n_dims, GGUF_MAX_DIMS);
            goto done;
        }
        uint64_t n = 1;
        for (uint32_t d = 0; d < t->n_dims; d++) {
            if (!get_u64(&c, &t->ne[d], "tensor shape")) goto done;
            if (t->ne[d] == 0 || !gptoss_mul_u64(n, t->ne[d], &n) || n > ((uint64_t)1 << 50)) {
                c.st = gptoss_fail(GPTOSS_ERR_FORMAT, err, err_size, "%s: tensor '%s' has %s dimension %u (%llu)", path,
                                   t->name, t->ne[d] == 0 ? "an empty" : "an oversized", d,
                                   (unsigned long long)t->ne[d]);
                goto done;
            }
        }
        for (uint32_t d = t->n_dims; d < GGUF_MAX_DIMS; d++) t->ne[d] = 1;
        t->n_elements = n;
        if (!get_u32(&c, &t->type, "tensor type") || !get_u64(&c, &t->offset, "tensor offset")) goto done;
        uint32_t bs = gptoss_ggml_block_size(t->type), ts = gptoss_ggml_type_size(t->type);
        if (!bs) {
            c.st = gptoss_fail(GPTOSS_ERR_UNSUPPORTED, err, err_size, "%s: tensor '%s' has unsupported ggml type %u", path,
                               t->name, t->type);
            goto done;
        }
        if (t->ne[0] % bs != 0) {
            c.st = gptoss_fail(GPTOSS_ERR_FORMAT, err, err_size,
                               "%s: tensor '%s' of type %s has a row of %llu elements, not a multiple of its block of %u",
                               path, t->name, gptoss_ggml_type_name(t->type), (unsigned long long)t->ne[0], bs);
            goto done;
        }
        t->n_bytes = n / bs * ts;
        if (t->offset % g->alignment != 0) {
            c.st = gptoss_fail(GPTOSS_ERR_FORMAT, err, err_size,
                               "%s: tensor '%s' offset %llu is not a multiple of the alignment %llu", path, t->name,
                               (unsigned long long)t->offset, (unsigned long long)g->alignment);
            goto done;
        }
    }
    /* data section */
    uint64_t data_off = c.pos + (g->alignment - c.pos % g->alignment) % g->alignment;
    g->data_offset = data_off;
    uint64_t data_size = data_off <= size ? size - data_off : 0;
    if (n_tensors && data_off > size) {
        c.st = gptoss_fail(GPTOSS_ERR_FORMAT, err, err_size,
                           "%s: truncated GGUF file: the data section would start at byte %llu, past the end (%zu bytes)",
                           path, (unsigned long long)data_off, size);
        goto done;
    }
    gptoss_span *spans = malloc((n_tensors ? (size_t)n_tensors : 1) * sizeof *spans);
    if (!spans) {
        c.st = gptoss_fail(GPTOSS_ERR_NO_MEMORY, err, err_size, "%s: out of memory", path);
        goto done;
    }
    for (size_t i = 0; i < g->n_tensors; i++) {
        gptoss_gguf_tensor *t = &g->tensors[i];
        if (t->offset > data_size || t->n_bytes > data_size - t->offset) {
            c.st = gptoss_fail(GPTOSS_ERR_FORMAT, err, err_size,
                               "%s: tensor '%s' data [%llu, +%llu) runs past the end of the file (%llu data bytes)", path,
                               t->name, (unsigned long long)t->offset, (unsigned long long)t->n_bytes,
                               (unsigned long long)data_size);
            free(spans);
            goto done;
        }
        t->data = base + data_off + t->offset;
        spans[i].begin = t->offset;
        spans[i].end = t->offset + t->n_bytes;
        spans[i].index = i;
    }
    size_t ta, tb;
    if (gptoss_spans_overlap(spans, g->n_tensors, &ta, &tb)) {
        c.st = gptoss_fail(GPTOSS_ERR_FORMAT, err, err_size, "%s: tensors '%s' and '%s' overlap", path,
                           g->tensors[ta].name, g->tensors[tb].name);
        free(spans);
        goto done;
    }
    free(spans);
    /* duplicate names */
    if (g->n_tensors > 1) {
        gptoss_gguf_tensor *sorted = malloc(g->n_tensors * sizeof *sorted);
        if (!sorted) {
            c.st = gptoss_fail(GPTOSS_ERR_NO_MEMORY, err, err_size, "%s: out of memory", path);
            goto done;
        }
        memcpy(sorted, g->tensors, g->n_tensors * sizeof *sorted);
        qsort(sorted, g->n_tensors, sizeof *sorted, cmp_tensor_name);
        for (size_t i = 1; i < g->n_tensors; i++)
            if (!strcmp(sorted[i].name, sorted[i - 1].name)) {
                c.st = gptoss_fail(GPTOSS_ERR_FORMAT, err, err_size, "%s: tensor '%s' appears twice", path, sorted[i].name);
                break;
            }
        free(sorted);
    }
done:
    if (c.st != GPTOSS_OK) gptoss_gguf_free(g);
    return c.st;
}

gptoss_status gptoss_gguf_open(gptoss_gguf *g, const char *path, char *err, size_t err_size) {
    memset(g, 0, sizeof *g);
    void *map;
    size_t size;
    gptoss_status st = gptoss_map_file(path, &map, &size, err, err_size);
    if (st != GPTOSS_OK) return st;
    g->map = map;
    return gptoss_gguf_parse(g, path, map ? map : (const uint8_t *)"", size, err, err_size);
}

void gptoss_gguf_free(gptoss_gguf *g) {
    if (!g) return;
    for (size_t i = 0; i < g->n_kv; i++) {
        free(g->kv[i].key);
        free(g->kv[i].arr_str_off);
    }
    for (size_t i = 0; i < g->n_tensors; i++) free(g->tensors[i].name);
    free(g->kv);
    free(g->tensors);
    free(g->path);
    if (g->map) munmap(g->map, g->size);
    memset(g, 0, sizeof *g);
}

int gptoss_gguf_is_file(const char *path) {
    size_t n = strlen(path);
    if (n >= 5 && !strcasecmp(path + n - 5, ".gguf")) return 1;
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    char m[4] = {0};
    size_t got = fread(m, 1, 4, f);
    fclose(f);
    return got == 4 && !memcmp(m, "GGUF", 4);
}

void gptoss_bytes_describe(char *out, size_t out_size, const uint8_t *p, size_t n, uint64_t size) {
    if (!out || !out_size) return;
    if (size == 0) {
        snprintf(out, out_size, "0 bytes (empty)");
        return;
    }
    size_t shown = n < 16 ? n : 16, o = 0;
    char q[16 * 4 + 1];
    for (size_t i = 0; i < shown; i++) {
        uint8_t b = p[i];
        if (b == '"' || b == '\\') o += (size_t)snprintf(q + o, sizeof q - o, "\\%c", b);
        else if (b == '\n') o += (size_t)snprintf(q + o, sizeof q - o, "\\n");
        else if (b == '\r') o += (size_t)snprintf(q + o, sizeof q - o, "\\r");
        else if (b == '\t') o += (size_t)snprintf(q + o, sizeof q - o, "\\t");
        else if (b >= 0x20 && b < 0x7f) q[o++] = (char)b, q[o] = 0;
        else o += (size_t)snprintf(q + o, sizeof q - o, "\\x%02x", b);
    }
    q[o] = 0;
    snprintf(out, out_size, "%llu byte%s, starting \"%s\"%s", (unsigned long long)size, size == 1 ? "" : "s", q,
             size > shown ? "..." : "");
}

/* ---- block codecs ------------------------------------------------------------------------- */

void gptoss_mxfp4_hf_to_ggml(uint8_t out[16], const uint8_t in[16]) {
    uint8_t v[32];
    for (int j = 0; j < 16; j++) {
        v[2 * j] = in[j] & 15;
        v[2 * j + 1] = in[j] >> 4;
    }
    for (int j = 0; j < 16; j++) out[j] = (uint8_t)(v[j] | (v[j + 16] << 4));
}

void gptoss_mxfp4_ggml_to_hf(uint8_t out[16], const uint8_t in[16]) {
    uint8_t v[32];
    for (int j = 0; j < 16; j++) {
        v[j] = in[j] & 15;
        v[j + 16] = in[j] >> 4;
    }
    for (int j = 0; j < 16; j++) out[j] = (uint8_t)(v[2 * j] | (v[2 * j + 1] << 4));
}
