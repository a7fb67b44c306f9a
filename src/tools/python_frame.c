/* python_frame.c: parsing the python driver's result frames (python_frame.h). Apart from python.c so
 * that the fuzz target links it alone. */
#include "tools/python_frame.h"

static uint64_t get_u64(const unsigned char *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

long gptoss_python_frame_parse(const unsigned char *buf, size_t len, size_t max_text, gptoss_python_frame *frame) {
    if (len < GPTOSS_PYTHON_FRAME_HEADER_BYTES) return 0;
    uint64_t text_len = get_u64(buf + 25);
    if (buf[0] > GPTOSS_PYTHON_READY || text_len > max_text || text_len > (uint64_t)0x7FFFFFFF) return -1;
    if (len - GPTOSS_PYTHON_FRAME_HEADER_BYTES < text_len) return 0;
    frame->kind = buf[0];
    frame->seq = get_u64(buf + 1);
    frame->dropped = get_u64(buf + 9);
    frame->cut = get_u64(buf + 17);
    frame->text = (const char *)buf + GPTOSS_PYTHON_FRAME_HEADER_BYTES;
    frame->text_len = (size_t)text_len;
    return (long)(GPTOSS_PYTHON_FRAME_HEADER_BYTES + text_len);
}
