/* fuzz_python_frame.c: libFuzzer target for the python tool's result frames (src/tools/python_frame.c),
 * bytes code inside the sandbox controls: any bytes give "more", "malformed" or one frame lying within
 * them with its text under the limit, and the verdict on a prefix never contradicts the whole. */
#include <stdint.h>
#include <stdlib.h>

#include "tools/python_frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    size_t max_text = size ? data[size - 1] : 0; /* small, so that the limit is reached */
    gptoss_python_frame f, g;
    long n = gptoss_python_frame_parse(data, size, max_text, &f);
    if (n < -1 || n > (long)size) abort();
    if (n > 0) {
        if (f.kind < GPTOSS_PYTHON_DONE || f.kind > GPTOSS_PYTHON_READY || f.text_len > max_text) abort();
        if ((const uint8_t *)f.text != data + GPTOSS_PYTHON_FRAME_HEADER_BYTES) abort();
        if ((size_t)n != GPTOSS_PYTHON_FRAME_HEADER_BYTES + f.text_len) abort();
    }
    size_t k = size ? (size_t)data[0] * size / 256 : 0;
    long m = gptoss_python_frame_parse(data, k, max_text, &g);
    if (m != 0 && m != n) abort();
    if (m > 0 && (g.seq != f.seq || g.text_len != f.text_len || g.kind != f.kind)) abort();
    return 0;
}
