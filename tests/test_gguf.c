/* test_gguf.c: the GGUF reader on a valid file written by the project's writer (every metadata
 * type, arrays, strings, alignment, tensor data in place), on every truncation of it, and on a set of
 * corrupt files (bad counts, huge strings, offsets past the end, overlapping tensors, unknown or
 * wrong types, bad alignment, duplicates): each must fail with a one-line message naming the file.
 * Also: the MXFP4 repack between the safetensors and ggml block orders is lossless, and ggml's own
 * decoding formula (doubled E2M1 values times E8M0/2) gives the same floats as the project's kernels.
 * With GPTOSS_GGUF_CORPUS=DIR the corrupt files are also written there (fuzz seed corpus). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cpu/kernels.h"
#include "format/gguf.h"
#include "model/model.h"
#include "tap.h"

static char g_tmp[4096];

/* ---- a little byte builder ------------------------------------------------------------------ */

static void u32(gptoss_buf *b, uint32_t v) {
    uint8_t t[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    gptoss_buf_append(b, t, 4);
}
static void u64(gptoss_buf *b, uint64_t v) {
    u32(b, (uint32_t)v);
    u32(b, (uint32_t)(v >> 32));
}
static void str(gptoss_buf *b, const char *s) {
    u64(b, strlen(s));
    gptoss_buf_append(b, s, strlen(s));
}
static void header(gptoss_buf *b, uint32_t version, uint64_t n_tensors, uint64_t n_kv) {
    gptoss_buf_append(b, "GGUF", 4);
    u32(b, version);
    u64(b, n_tensors);
    u64(b, n_kv);
}
static void tinfo(gptoss_buf *b, const char *name, uint32_t nd, const uint64_t *ne, uint32_t type, uint64_t off) {
    str(b, name);
    u32(b, nd);
    for (uint32_t i = 0; i < nd; i++) u64(b, ne[i]);
    u32(b, type);
    u64(b, off);
}
static void pad_to(gptoss_buf *b, size_t align) {
    while (b->len % align) gptoss_buf_append(b, "", 1);
}
static void zeros(gptoss_buf *b, size_t n) {
    for (size_t i = 0; i < n; i++) gptoss_buf_append(b, "", 1);
}

static int g_corpus_n;

/* Parses buf as "NAME.gguf"; expects failure whose one-line message names the file and contains want. */
static void expect_fail(const char *name, const gptoss_buf *b, gptoss_status want_st, const char *want) {
    char path[256], err[512] = "";
    snprintf(path, sizeof path, "%s.gguf", name);
    const char *dir = getenv("GPTOSS_GGUF_CORPUS");
    if (dir && *dir) {
        char p[4096];
        snprintf(p, sizeof p, "%s/%02d-%s.gguf", dir, g_corpus_n++, name);
        FILE *f = fopen(p, "wb");
        if (f) {
            fwrite(b->data, 1, b->len, f);
            fclose(f);
        }
    }
    /* exact-size heap copy so ASan sees any overread */
    uint8_t *copy = malloc(b->len ? b->len : 1);
    if (b->len) memcpy(copy, b->data, b->len);
    gptoss_gguf g;
    memset(&g, 0, sizeof g);
    gptoss_status st = gptoss_gguf_parse(&g, path, copy, b->len, err, sizeof err);
    int ok = st == want_st && strstr(err, path) && strstr(err, want) && !strchr(err, '\n');
    tap_check(ok, "%s: %s", name, err[0] ? err : "(no message)");
    if (!ok) tap_diag("status %d (want %d), want text '%s'", st, want_st, want);
    if (st == GPTOSS_OK) gptoss_gguf_free(&g);
    free(copy);
}

/* ---- a valid file through the writer -------------------------------------------------------- */

static void test_valid(void) {
    char path[4200];
    snprintf(path, sizeof path, "%s/valid.gguf", g_tmp);
    gptoss_gguf_writer w;
    gptoss_gguf_writer_init(&w);
    gptoss_gguf_w_str(&w, "general.architecture", "gpt-oss");
    gptoss_gguf_w_u32(&w, "general.alignment", 64);
    gptoss_gguf_w_i32(&w, "t.i32", -5);
    gptoss_gguf_w_u64(&w, "t.u64", (uint64_t)1 << 40);
    gptoss_gguf_w_f32(&w, "t.f32", 1.5f);
    gptoss_gguf_w_bool(&w, "t.bool", 1);
    const char *strs[] = {"a", "", "hello world"};
    gptoss_gguf_w_arr_str(&w, "t.strs", strs, NULL, 3);
    int32_t ints[] = {1, -2, 3};
    gptoss_gguf_w_arr_i32(&w, "t.ints", ints, 3);
    gptoss_gguf_w_tensor(&w, "a", GGML_TYPE_F32, 2, (const uint64_t[]){3, 5});
    gptoss_gguf_w_tensor(&w, "b", GGML_TYPE_MXFP4, 2, (const uint64_t[]){2, 64});
    gptoss_gguf_w_tensor(&w, "c", GGML_TYPE_Q8_0, 1, (const uint64_t[]){32});
    char err[512] = "";
    gptoss_status st = gptoss_gguf_w_begin(&w, path, err, sizeof err);
    float a[15];
    for (int i = 0; i < 15; i++) a[i] = (float)i;
    uint8_t mx[2 * 2 * 17], q8[34];
    for (size_t i = 0; i < sizeof mx; i++) mx[i] = (uint8_t)i;
    for (size_t i = 0; i < sizeof q8; i++) q8[i] = (uint8_t)(200 + i);
    if (st == GPTOSS_OK) st = gptoss_gguf_w_data(&w, a, 7 * 4, err, sizeof err); /* chunked */
    if (st == GPTOSS_OK) st = gptoss_gguf_w_data(&w, a + 7, 8 * 4, err, sizeof err);
    if (st == GPTOSS_OK) st = gptoss_gguf_w_data(&w, mx, sizeof mx, err, sizeof err);
    if (st == GPTOSS_OK) st = gptoss_gguf_w_data(&w, q8, sizeof q8, err, sizeof err);
    if (st == GPTOSS_OK) st = gptoss_gguf_w_close(&w, err, sizeof err);
    gptoss_gguf_writer_free(&w);
    tap_check(st == GPTOSS_OK, "writer: %s", st == GPTOSS_OK ? "ok" : err);

    gptoss_gguf g;
    st = gptoss_gguf_open(&g, path, err, sizeof err);
    if (!tap_check(st == GPTOSS_OK, "reader opens the written file: %s", st == GPTOSS_OK ? "ok" : err)) return;
    uint64_t u;
    double f;
    const char *s;
    uint64_t n;
    tap_check(g.version == 3 && g.alignment == 64 && g.data_offset % 64 == 0, "version 3, alignment 64, data aligned");
    tap_check(gptoss_gguf_get_str(&g, "general.architecture", &s, &n) && n == 7 && !memcmp(s, "gpt-oss", 7), "string value");
    tap_check(!gptoss_gguf_get_u64(&g, "t.i32", &u) && gptoss_gguf_get_f64(&g, "t.i32", &f) && f == -5.0,
              "negative int32 is not a u64, is -5");
    tap_check(gptoss_gguf_get_u64(&g, "t.u64", &u) && u == (uint64_t)1 << 40, "u64 value");
    tap_check(gptoss_gguf_get_f64(&g, "t.f32", &f) && f == 1.5, "f32 value");
    const gptoss_gguf_kv *kv = gptoss_gguf_find(&g, "t.bool");
    tap_check(kv && kv->type == GGUF_TYPE_BOOL && kv->u == 1, "bool value");
    kv = gptoss_gguf_find(&g, "t.strs");
    int sok = kv && kv->arr_type == GGUF_TYPE_STRING && kv->arr_n == 3;
    for (int i = 0; sok && i < 3; i++) {
        gptoss_gguf_arr_str(kv, (uint64_t)i, &s, &n);
        sok = n == strlen(strs[i]) && !memcmp(s, strs[i], n);
    }
    tap_check(sok, "string array");
    kv = gptoss_gguf_find(&g, "t.ints");
    tap_check(kv && kv->arr_n == 3 && gptoss_gguf_arr_int(kv, 1) == -2, "int32 array");
    const gptoss_gguf_tensor *ta = gptoss_gguf_find_tensor(&g, "a"), *tb = gptoss_gguf_find_tensor(&g, "b"),
                             *tc = gptoss_gguf_find_tensor(&g, "c");
    tap_check(ta && ta->ne[0] == 5 && ta->ne[1] == 3 && ta->n_bytes == 60 && !memcmp(ta->data, a, 60),
              "F32 tensor: ggml order shape [5, 3], data in place");
    tap_check(tb && tb->ne[0] == 64 && tb->n_bytes == sizeof mx && !memcmp(tb->data, mx, sizeof mx) &&
                  tb->offset % 64 == 0,
              "MXFP4 tensor: 17-byte blocks, aligned offset");
    tap_check(tc && tc->n_bytes == 34 && !memcmp(tc->data, q8, 34), "Q8_0 tensor: 34-byte block");
    tap_check(!gptoss_gguf_find_tensor(&g, "zz") && !gptoss_gguf_find(&g, "zz"), "absent names are absent");

    /* every truncation fails cleanly */
    gptoss_buf whole = {0};
    gptoss_buf_append(&whole, g.base, g.size);
    size_t size = g.size, last_data = (size_t)(tc->data - g.base) + 34;
    gptoss_gguf_free(&g);
    int all = 1;
    char msg[512] = "";
    for (size_t cut = 0; cut < last_data; cut++) {
        uint8_t *copy = malloc(cut ? cut : 1);
        memcpy(copy, whole.data, cut);
        gptoss_gguf h;
        memset(&h, 0, sizeof h);
        char e2[512] = "";
        st = gptoss_gguf_parse(&h, "cut.gguf", copy, cut, e2, sizeof e2);
        if (st == GPTOSS_OK) {
            gptoss_gguf_free(&h);
            all = 0;
            snprintf(msg, sizeof msg, "accepted at %zu bytes", cut);
        } else if (!strstr(e2, "cut.gguf") || strchr(e2, '\n')) {
            all = 0;
            snprintf(msg, sizeof msg, "bad message at %zu: %s", cut, e2);
        }
        free(copy);
    }
    tap_check(all, "every truncation below %zu of %zu bytes fails with a one-line message %s", last_data, size, msg);
    gptoss_buf_free(&whole);
}

/* ---- corrupt files ---------------------------------------------------------------------------- */

static void test_corrupt(void) {
    gptoss_buf b = {0};
#define RESET() (b.len = 0)
    RESET();
    expect_fail("empty", &b, GPTOSS_ERR_FORMAT, "not a GGUF file");
    RESET();
    gptoss_buf_append(&b, "GGML\3\0\0\0", 8);
    expect_fail("bad-magic", &b, GPTOSS_ERR_FORMAT, "not a GGUF file");
    RESET();
    header(&b, 1, 0, 0);
    expect_fail("version1", &b, GPTOSS_ERR_UNSUPPORTED, "version 1");
    RESET();
    header(&b, 0x03000000u, 0, 0);
    expect_fail("big-endian", &b, GPTOSS_ERR_UNSUPPORTED, "big-endian");
    RESET();
    header(&b, 3, (uint64_t)1 << 60, 0);
    expect_fail("huge-tensor-count", &b, GPTOSS_ERR_FORMAT, "tensor count");
    RESET();
    header(&b, 3, 0, (uint64_t)1 << 62);
    expect_fail("huge-kv-count", &b, GPTOSS_ERR_FORMAT, "metadata count");
    RESET();
    header(&b, 3, 0, 1);
    u64(&b, (uint64_t)1 << 40);
    zeros(&b, 16);
    expect_fail("huge-key", &b, GPTOSS_ERR_FORMAT, "over the limit");
    RESET();
    header(&b, 3, 0, 1);
    str(&b, "k");
    u32(&b, GGUF_TYPE_STRING);
    u64(&b, (uint64_t)1 << 31);
    zeros(&b, 8);
    expect_fail("huge-string", &b, GPTOSS_ERR_FORMAT, "over the limit");
    RESET();
    header(&b, 3, 0, 1);
    str(&b, "k");
    u32(&b, GGUF_TYPE_STRING);
    u64(&b, 1000);
    gptoss_buf_append(&b, "short", 5);
    expect_fail("string-past-end", &b, GPTOSS_ERR_FORMAT, "truncated");
    RESET();
    header(&b, 3, 0, 1);
    str(&b, "k");
    u32(&b, GGUF_TYPE_ARRAY);
    u32(&b, GGUF_TYPE_STRING);
    u64(&b, (uint64_t)1 << 50);
    zeros(&b, 64);
    expect_fail("huge-string-array", &b, GPTOSS_ERR_FORMAT, "strings but only");
    RESET();
    header(&b, 3, 0, 1);
    str(&b, "k");
    u32(&b, GGUF_TYPE_ARRAY);
    u32(&b, GGUF_TYPE_UINT64);
    u64(&b, (uint64_t)1 << 61);
    zeros(&b, 64);
    expect_fail("huge-array", &b, GPTOSS_ERR_FORMAT, "elements of 8 bytes");
    RESET();
    header(&b, 3, 0, 1);
    str(&b, "k");
    u32(&b, GGUF_TYPE_ARRAY);
    u32(&b, GGUF_TYPE_ARRAY);
    u64(&b, 1);
    zeros(&b, 32);
    expect_fail("nested-array", &b, GPTOSS_ERR_FORMAT, "arrays");
    RESET();
    header(&b, 3, 0, 1);
    str(&b, "k");
    u32(&b, 99);
    zeros(&b, 16);
    expect_fail("unknown-value-type", &b, GPTOSS_ERR_FORMAT, "unknown value type 99");
    RESET();
    header(&b, 3, 0, 1);
    str(&b, "k");
    u32(&b, GGUF_TYPE_BOOL);
    gptoss_buf_append(&b, "\2", 1);
    expect_fail("bad-bool", &b, GPTOSS_ERR_FORMAT, "bool with value 2");
    RESET();
    header(&b, 3, 0, 2);
    str(&b, "k");
    u32(&b, GGUF_TYPE_UINT8);
    gptoss_buf_append(&b, "\1", 1);
    str(&b, "k");
    u32(&b, GGUF_TYPE_UINT8);
    gptoss_buf_append(&b, "\1", 1);
    expect_fail("duplicate-key", &b, GPTOSS_ERR_FORMAT, "appears twice");
    RESET();
    header(&b, 3, 0, 1);
    u64(&b, 0);
    u32(&b, GGUF_TYPE_UINT8);
    gptoss_buf_append(&b, "\1", 1);
    zeros(&b, 8);
    expect_fail("empty-key", &b, GPTOSS_ERR_FORMAT, "empty metadata key");
    RESET();
    header(&b, 3, 0, 1);
    str(&b, "general.alignment");
    u32(&b, GGUF_TYPE_UINT32);
    u32(&b, 48);
    expect_fail("alignment-not-pow2", &b, GPTOSS_ERR_FORMAT, "not a power of two");
    RESET();
    header(&b, 3, 0, 1);
    str(&b, "general.alignment");
    u32(&b, GGUF_TYPE_UINT64);
    u64(&b, 32);
    expect_fail("alignment-wrong-type", &b, GPTOSS_ERR_FORMAT, "expected uint32");

    /* tensor infos; data section starts at the next multiple of 32 */
    const uint64_t ne32[2] = {32, 2};
    RESET();
    header(&b, 3, 1, 0);
    tinfo(&b, "t", 0, ne32, GGML_TYPE_F32, 0);
    zeros(&b, 300);
    expect_fail("zero-dims", &b, GPTOSS_ERR_FORMAT, "0 dimensions");
    RESET();
    header(&b, 3, 1, 0);
    tinfo(&b, "t", 5, (const uint64_t[]){1, 1, 1, 1, 1}, GGML_TYPE_F32, 0);
    zeros(&b, 300);
    expect_fail("five-dims", &b, GPTOSS_ERR_FORMAT, "5 dimensions");
    RESET();
    header(&b, 3, 1, 0);
    tinfo(&b, "t", 2, (const uint64_t[]){32, 0}, GGML_TYPE_F32, 0);
    zeros(&b, 300);
    expect_fail("empty-dim", &b, GPTOSS_ERR_FORMAT, "empty dimension");
    RESET();
    header(&b, 3, 1, 0);
    tinfo(&b, "t", 2, (const uint64_t[]){(uint64_t)1 << 40, (uint64_t)1 << 40}, GGML_TYPE_F32, 0);
    zeros(&b, 300);
    expect_fail("overflowing-dims", &b, GPTOSS_ERR_FORMAT, "oversized dimension");
    RESET();
    header(&b, 3, 1, 0);
    tinfo(&b, "t", 2, ne32, 99, 0);
    zeros(&b, 300);
    expect_fail("unknown-ggml-type", &b, GPTOSS_ERR_UNSUPPORTED, "unsupported ggml type 99");
    RESET();
    header(&b, 3, 1, 0);
    tinfo(&b, "t", 2, (const uint64_t[]){16, 2}, GGML_TYPE_MXFP4, 0);
    zeros(&b, 300);
    expect_fail("partial-block", &b, GPTOSS_ERR_FORMAT, "not a multiple of its block of 32");
    RESET();
    header(&b, 3, 1, 0);
    tinfo(&b, "t", 2, ne32, GGML_TYPE_F32, 4);
    zeros(&b, 600);
    expect_fail("unaligned-offset", &b, GPTOSS_ERR_FORMAT, "not a multiple of the alignment");
    RESET();
    header(&b, 3, 1, 0);
    tinfo(&b, "t", 2, ne32, GGML_TYPE_F32, 0);
    pad_to(&b, 32);
    zeros(&b, 255); /* needs 256 */
    expect_fail("data-past-end", &b, GPTOSS_ERR_FORMAT, "runs past the end");
    RESET();
    header(&b, 3, 1, 0);
    tinfo(&b, "t", 2, ne32, GGML_TYPE_F32, (uint64_t)1 << 62);
    zeros(&b, 300);
    expect_fail("offset-past-end", &b, GPTOSS_ERR_FORMAT, "runs past the end");
    RESET();
    header(&b, 3, 1, 0);
    tinfo(&b, "t", 2, ne32, GGML_TYPE_F32, 0);
    expect_fail("no-data-section", &b, GPTOSS_ERR_FORMAT, "past the end");
    RESET();
    header(&b, 3, 2, 0);
    tinfo(&b, "t", 2, ne32, GGML_TYPE_F32, 0);
    tinfo(&b, "u", 2, ne32, GGML_TYPE_F32, 128);
    pad_to(&b, 32);
    zeros(&b, 512);
    expect_fail("overlapping-tensors", &b, GPTOSS_ERR_FORMAT, "overlap");
    RESET();
    header(&b, 3, 3, 0);
    tinfo(&b, "big", 2, (const uint64_t[]){32, 8}, GGML_TYPE_F32, 0);   /* [0, 1024) */
    tinfo(&b, "mid", 1, (const uint64_t[]){32}, GGML_TYPE_F32, 256);     /* inside big */
    tinfo(&b, "end", 1, (const uint64_t[]){32}, GGML_TYPE_F32, 896);     /* also inside big */
    pad_to(&b, 32);
    zeros(&b, 1024);
    expect_fail("nested-overlap", &b, GPTOSS_ERR_FORMAT, "overlap");
    RESET();
    header(&b, 3, 2, 0);
    tinfo(&b, "t", 2, ne32, GGML_TYPE_F32, 0);
    tinfo(&b, "t", 2, ne32, GGML_TYPE_F32, 256);
    pad_to(&b, 32);
    zeros(&b, 512);
    expect_fail("duplicate-tensor", &b, GPTOSS_ERR_FORMAT, "appears twice");
    RESET();
    header(&b, 3, 1, 0);
    u64(&b, 1000);
    gptoss_buf_append(&b, "t", 1);
    zeros(&b, 40);
    expect_fail("tensor-name-too-long", &b, GPTOSS_ERR_FORMAT, "over the limit");
    RESET();
    header(&b, 3, 1, 0);
    u64(&b, 3);
    gptoss_buf_append(&b, "a\0b", 3);
    zeros(&b, 40);
    expect_fail("nul-in-name", &b, GPTOSS_ERR_FORMAT, "NUL");
    gptoss_buf_free(&b);
#undef RESET
}

/* ---- model-level errors --------------------------------------------------------------------- */

static void test_model_errors(void) {
    char path[4200], err[512] = "";
    snprintf(path, sizeof path, "%s/arch.gguf", g_tmp);
    gptoss_gguf_writer w;
    gptoss_gguf_writer_init(&w);
    gptoss_gguf_w_str(&w, "general.architecture", "llama");
    gptoss_status st = gptoss_gguf_w_begin(&w, path, err, sizeof err);
    if (st == GPTOSS_OK) st = gptoss_gguf_w_close(&w, err, sizeof err);
    gptoss_gguf_writer_free(&w);
    gptoss_model *m = NULL;
    st = gptoss_model_load(path, NULL, &m, err, sizeof err);
    tap_check(st == GPTOSS_ERR_UNSUPPORTED && strstr(err, "arch.gguf") && strstr(err, "not gpt-oss"), "wrong architecture: %s", err);
    if (m) gptoss_model_free(m);

    snprintf(path, sizeof path, "%s/nokeys.gguf", g_tmp);
    gptoss_gguf_writer_init(&w);
    gptoss_gguf_w_str(&w, "general.architecture", "gpt-oss");
    gptoss_gguf_w_u32(&w, "gpt-oss.block_count", 2);
    st = gptoss_gguf_w_begin(&w, path, err, sizeof err);
    if (st == GPTOSS_OK) st = gptoss_gguf_w_close(&w, err, sizeof err);
    gptoss_gguf_writer_free(&w);
    m = NULL;
    st = gptoss_model_load(path, NULL, &m, err, sizeof err);
    tap_check(st == GPTOSS_ERR_FORMAT && strstr(err, "nokeys.gguf") && strstr(err, "gpt-oss.embedding_length"),
              "missing metadata key: %s", err);
    if (m) gptoss_model_free(m);

    snprintf(path, sizeof path, "%s/notensors.gguf", g_tmp);
    gptoss_gguf_writer_init(&w);
    gptoss_gguf_w_str(&w, "general.architecture", "gpt-oss");
    const char *k32[] = {"gpt-oss.block_count", "gpt-oss.embedding_length", "gpt-oss.expert_feed_forward_length",
                         "gpt-oss.attention.head_count", "gpt-oss.attention.head_count_kv",
                         "gpt-oss.attention.key_length", "gpt-oss.expert_count", "gpt-oss.expert_used_count",
                         "gpt-oss.attention.sliding_window"};
    const uint32_t v32[] = {2, 64, 64, 4, 2, 16, 4, 2, 8};
    for (int i = 0; i < 9; i++) gptoss_gguf_w_u32(&w, k32[i], v32[i]);
    gptoss_gguf_w_f32(&w, "gpt-oss.attention.layer_norm_rms_epsilon", 1e-5f);
    gptoss_gguf_w_tensor(&w, "token_embd.weight", GGML_TYPE_F32, 2, (const uint64_t[]){100, 64});
    st = gptoss_gguf_w_begin(&w, path, err, sizeof err);
    float zero[64] = {0};
    for (int r = 0; r < 100 && st == GPTOSS_OK; r++) st = gptoss_gguf_w_data(&w, zero, sizeof zero, err, sizeof err);
    if (st == GPTOSS_OK) st = gptoss_gguf_w_close(&w, err, sizeof err);
    gptoss_gguf_writer_free(&w);
    m = NULL;
    st = gptoss_model_load(path, NULL, &m, err, sizeof err);
    tap_check(st == GPTOSS_ERR_FORMAT && strstr(err, "notensors.gguf") && strstr(err, "output.weight"),
              "missing tensor: %s", err);
    if (m) gptoss_model_free(m);
}

/* ---- MXFP4 repack and decoding -------------------------------------------------------------- */

/* ggml's decoding, written from its definition: doubled E2M1 integers times 2^(e-127)/2
 * (ggml_e8m0_to_fp32_half: e < 2 gives the subnormals 0x00200000 << e). */
static float ggml_half_scale(uint8_t e) {
    uint32_t bits = e < 2 ? 0x00200000u << e : (uint32_t)(e - 1) << 23;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}
static const int8_t ggml_kvalues[16] = {0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12};

static void test_mxfp4(void) {
    uint64_t s[4] = {1, 2, 3, 4};
    int lossless = 1;
    for (int it = 0; it < 10000; it++) {
        uint8_t a[16], g[16], back[16];
        for (int j = 0; j < 16; j++) a[j] = (uint8_t)gptoss_xoshiro256ss(s);
        gptoss_mxfp4_hf_to_ggml(g, a);
        gptoss_mxfp4_ggml_to_hf(back, g);
        if (memcmp(a, back, 16)) lossless = 0;
    }
    tap_check(lossless, "MXFP4 repack HF -> ggml -> HF is the identity (10000 random blocks)");

    /* one expert, 2 rows x 64 cols (2 blocks per row), every scale 0..254 across rows */
    int same = 1, same_ggml = 1;
    for (int e = 0; e < 255; e++) {
        uint8_t blocks[2][2][16], scales[2][2], gg[2][2][17];
        for (int r = 0; r < 2; r++)
            for (int b = 0; b < 2; b++) {
                scales[r][b] = (uint8_t)e;
                for (int j = 0; j < 16; j++) blocks[r][b][j] = (uint8_t)gptoss_xoshiro256ss(s);
                gg[r][b][0] = (uint8_t)e;
                gptoss_mxfp4_hf_to_ggml(&gg[r][b][1], blocks[r][b]);
            }
        gptoss_mxfp4 hf = {.blocks = &blocks[0][0][0], .scales = &scales[0][0], .n_experts = 1, .rows = 2, .cols = 64};
        gptoss_mxfp4 gl = {.blocks = &gg[0][0][0], .n_experts = 1, .rows = 2, .cols = 64, .layout = GPTOSS_MXFP4_GGML};
        for (int r = 0; r < 2; r++) {
            float x[64], y[64], z[64];
            gptoss_mxfp4_row_to_f32(x, &hf, 0, (uint64_t)r);
            gptoss_mxfp4_ggml_row_to_f32(y, &gl, 0, (uint64_t)r);
            for (int b = 0; b < 2; b++)
                for (int j = 0; j < 16; j++) {
                    const uint8_t q = gg[r][b][1 + j];
                    z[b * 32 + j] = (float)ggml_kvalues[q & 15] * ggml_half_scale((uint8_t)e);
                    z[b * 32 + j + 16] = (float)ggml_kvalues[q >> 4] * ggml_half_scale((uint8_t)e);
                }
            if (memcmp(x, y, sizeof x)) same = 0;
            for (int i = 0; i < 64; i++) /* == : ggml's code 8 is +0, E2M1's is -0 */
                if (!(y[i] == z[i])) same_ggml = 0;
        }
    }
    tap_check(same, "ggml-layout kernel decodes the repacked blocks to the same floats as the HF kernel (scales 0..254)");
    tap_check(same_ggml, "and to the same values as ggml's own formula (kvalues x E8M0/2; code 8 is -0 here, +0 in ggml)");

    /* gate/up split: rows interleave from two tensors */
    uint8_t gate[2][17], up[2][17];
    for (int r = 0; r < 2; r++) {
        gate[r][0] = up[r][0] = 127;
        for (int j = 0; j < 16; j++) {
            gate[r][1 + j] = (uint8_t)(r + 1);       /* element 0 = code r+1 */
            up[r][1 + j] = (uint8_t)(r + 1 + 8 * 0); /* same codes, told apart by row */
        }
        up[r][1] = 0x07; /* element 0 of up rows = 6.0 */
    }
    gptoss_mxfp4 sp = {.blocks = &gate[0][0], .blocks_odd = &up[0][0], .n_experts = 1, .rows = 4, .cols = 32,
                       .layout = GPTOSS_MXFP4_GGML};
    float r0[32], r1[32], r2[32], r3[32];
    gptoss_mxfp4_ggml_row_to_f32(r0, &sp, 0, 0);
    gptoss_mxfp4_ggml_row_to_f32(r1, &sp, 0, 1);
    gptoss_mxfp4_ggml_row_to_f32(r2, &sp, 0, 2);
    gptoss_mxfp4_ggml_row_to_f32(r3, &sp, 0, 3);
    tap_check(r0[0] == 0.5f && r1[0] == 6.0f && r2[0] == 1.0f && r3[0] == 6.0f && r3[1] == 1.0f,
              "split gate/up: row 2i from gate row i, row 2i+1 from up row i");
}

int main(void) {
    const char *t = getenv("GPTOSS_TMP");
    snprintf(g_tmp, sizeof g_tmp, "%s/test_gguf.%d", t && *t ? t : "/tmp", (int)getpid());
    char cmd[4300];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", g_tmp);
    if (system(cmd) != 0) return 1;
    test_valid();
    test_corrupt();
    test_model_errors();
    test_mxfp4();
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_tmp);
    if (system(cmd) != 0) return 1;
    return tap_exit();
}
