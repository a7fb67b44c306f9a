/* fuzz_http_head.c: libFuzzer target for the server's request head check (app/server/server_head.c,
 * built in here: it needs no library): any bytes give a verdict, a head taken is within the bytes
 * given, an error has a status and a message, and a verdict reached on a prefix stands for every
 * longer input (the server decides as bytes arrive); the same bytes as a chunked body decode to the
 * same result whole or cut in two, within max_body. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../app/server/server_head.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    /* small limits, so that the fuzzer reaches them */
    server_head_limits lim = {.max_target_bytes = 64, .max_head_bytes = 256, .max_body = 1000};
    server_head_verdict full, part;
    server_head_state st = server_head_check((const char *)data, size, &lim, &full);
    if (st == SERVER_HEAD_OK && (full.head_bytes == 0 || full.head_bytes > size)) abort();
    if (st == SERVER_HEAD_BAD && (full.status < 400 || !full.code || !full.message[0])) abort();
    size_t k = size ? (size_t)data[0] * size / 256 : 0;
    server_head_state sp = server_head_check((const char *)data, k, &lim, &part);
    if (sp != SERVER_HEAD_MORE && (sp != st || part.status != full.status || part.head_bytes != full.head_bytes)) abort();

    server_chunked a = {0}, b = {0};
    server_head_verdict va, vb;
    size_t ua = 0, ub = 0, ub2 = 0;
    server_head_state ca = server_chunked_feed(&a, (const char *)data, size, lim.max_body, &ua, &va);
    server_head_state cb = server_chunked_feed(&b, (const char *)data, k, lim.max_body, &ub, &vb);
    if (cb == SERVER_HEAD_MORE) {
        cb = server_chunked_feed(&b, (const char *)data + k, size - k, lim.max_body, &ub2, &vb);
        ub += ub2;
    }
    if (ca != cb || (ca == SERVER_HEAD_BAD && va.status != vb.status)) abort();
    if (ca == SERVER_HEAD_OK && (ua != ub || a.len != b.len || (a.len && memcmp(a.data, b.data, a.len)) || ua > size))
        abort();
    if (a.len > lim.max_body) abort();
    free(a.data);
    free(b.data);
    return 0;
}
