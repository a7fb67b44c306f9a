/* python_frame.h: the result frames the python tool's driver sends back from inside the sandbox
 * (python.c): parsed here as untrusted input, since code in the sandbox can write to that channel. */
#ifndef GPTOSS_TOOLS_PYTHON_FRAME_H
#define GPTOSS_TOOLS_PYTHON_FRAME_H

#include <stddef.h>
#include <stdint.h>

/* <kind u8><seq u64><dropped u64><cut u64><len u64>, little-endian, then len bytes of text */
#define GPTOSS_PYTHON_FRAME_HEADER_BYTES 33

enum { GPTOSS_PYTHON_DONE = 0, GPTOSS_PYTHON_ERROR = 1, GPTOSS_PYTHON_INTERRUPTED = 2, GPTOSS_PYTHON_READY = 3 };

typedef struct gptoss_python_frame {
    int kind;         /* GPTOSS_PYTHON_*: done (text: the last expression's repr), an exception (text: its
                         traceback), interrupted (KeyboardInterrupt's traceback), ready (after start-up) */
    uint64_t seq;     /* the cell it answers: 1, 2, ... since the interpreter started; 0 for ready */
    uint64_t dropped; /* bytes of Python-level output past the cap, only counted */
    uint64_t cut;     /* bytes the driver cut from the text */
    const char *text; /* inside the parsed buffer */
    size_t text_len;
} gptoss_python_frame;

/* Parses the frame at the start of buf[0..len), whose text may be at most max_text bytes long.
 * Returns the frame's size (> 0) with *frame filled, 0 when more bytes are needed, -1 when the bytes
 * cannot be a frame (unknown kind, text too long). */
long gptoss_python_frame_parse(const unsigned char *buf, size_t len, size_t max_text, gptoss_python_frame *frame);

#endif
