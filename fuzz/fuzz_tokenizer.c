/* fuzz_tokenizer.c: libFuzzer target for the tokenizer: encode arbitrary bytes (the first byte picks
 * the special-token mode), then require decode(encode(x)) to be x when x is UTF-8 and its lossy
 * decoding otherwise, the streaming decoder to give the same text in whole characters, and decoding
 * of arbitrary ids (the input read as 32-bit words) to fail cleanly outside the vocabulary. Reads
 * $GPTOSS_SHARED/vocab/o200k_base.tiktoken (default ../shared) once. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/common.h"
#include "format/json.h"
#include "gptoss.h"
#include "tokenizer/unicode.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static gptoss_tokenizer *tok; /* loaded once, reachable until exit */

static gptoss_tokenizer *tokenizer(void) {
    if (tok) return tok;
    const char *shared = getenv("GPTOSS_SHARED");
    char path[4096], err[512] = "";
    snprintf(path, sizeof path, "%s/vocab/o200k_base.tiktoken", shared ? shared : "../shared");
    if (gptoss_tokenizer_load(path, &tok, err, sizeof err) != GPTOSS_OK) {
        fprintf(stderr, "fuzz_tokenizer: %s\n", err);
        abort();
    }
    return tok;
}

/* One U+FFFD per maximal invalid subpart. */
static void lossy(const uint8_t *s, size_t n, gptoss_buf *out) {
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t k = gptoss_utf8_decode(s + i, n - i, &cp);
        if (cp == 0xFFFFFFFFu) gptoss_buf_append(out, "\xef\xbf\xbd", 3);
        else gptoss_buf_append(out, s + i, k);
        i += k;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const gptoss_tokenizer *t = tokenizer();
    if (size == 0) return 0;
    int mode = data[0] % 3;
    const char *text = (const char *)data + 1;
    size_t len = size - 1;

    gptoss_tokens ids = {0};
    gptoss_status st = gptoss_tokenizer_encode(t, text, len, mode, &ids);
    gptoss_buf want = {0};
    lossy((const uint8_t *)text, len, &want);
    if (st == GPTOSS_ERR_INVALID_ARGUMENT && mode == GPTOSS_TOKENIZER_SPECIAL_REJECT) {
        gptoss_tokens_free(&ids);
        gptoss_buf_free(&want);
        return 0;
    }
    if (st != GPTOSS_OK || ids.n > want.len) abort();
    for (size_t i = 0; i < ids.n; i++)
        if (ids.ids[i] >= gptoss_tokenizer_n_vocab(t) || (mode != GPTOSS_TOKENIZER_SPECIAL_ALLOW && gptoss_tokenizer_is_special(t, ids.ids[i])))
            abort();

    char *dec = NULL;
    size_t dec_len = 0;
    if (gptoss_tokenizer_decode(t, ids.ids, ids.n, &dec, &dec_len, NULL, 0) != GPTOSS_OK) abort();
    /* 200018 has two literals and decodes as <|endofprompt|>, so only it may change the text. */
    int alias = 0;
    for (size_t i = 0; i < ids.n; i++) alias |= ids.ids[i] == 200018;
    if (!alias && (dec_len != want.len || (want.len && memcmp(dec, want.data, want.len)))) abort();

    gptoss_tokenizer_stream *s = NULL;
    if (gptoss_tokenizer_stream_create(t, &s) != GPTOSS_OK) abort();
    gptoss_buf got = {0};
    for (size_t i = 0; i <= ids.n; i++) {
        const char *chunk;
        size_t cl;
        if (i < ids.n) {
            if (gptoss_tokenizer_stream_push(s, ids.ids[i], &chunk, &cl) != GPTOSS_OK) abort();
        } else {
            gptoss_tokenizer_stream_flush(s, &chunk, &cl);
        }
        if (!json_utf8_valid(chunk, cl)) abort();
        gptoss_buf_append(&got, chunk, cl);
    }
    if (got.len != dec_len || (dec_len && memcmp(got.data, dec, dec_len))) abort();

    /* Arbitrary ids: the stream and decode must refuse ids past the vocabulary without harm. */
    size_t n_raw = len / 4;
    uint32_t *raw = malloc((n_raw ? n_raw : 1) * sizeof *raw);
    if (raw) {
        memcpy(raw, text, n_raw * 4);
        int any_bad = 0;
        for (size_t i = 0; i < n_raw; i++) {
            raw[i] %= 2 * gptoss_tokenizer_n_vocab(t);
            any_bad |= raw[i] >= gptoss_tokenizer_n_vocab(t);
            const char *chunk;
            size_t cl;
            gptoss_status ps = gptoss_tokenizer_stream_push(s, raw[i], &chunk, &cl);
            if ((ps == GPTOSS_OK) != (raw[i] < gptoss_tokenizer_n_vocab(t)) || !json_utf8_valid(chunk, cl)) abort();
        }
        char *d2 = NULL;
        size_t l2;
        gptoss_status ds = gptoss_tokenizer_decode(t, raw, n_raw, &d2, &l2, NULL, 0);
        if ((ds == GPTOSS_OK) == any_bad) abort();
        free(d2);
        free(raw);
    }
    gptoss_tokenizer_stream_free(s);
    gptoss_buf_free(&got);
    free(dec);
    gptoss_buf_free(&want);
    gptoss_tokens_free(&ids);
    return 0;
}
