/* python.h: the python tool (gpt-oss's stateful Jupyter-like `python` namespace): one sandboxed
 * interpreter per conversation, kept alive between calls, with /mnt/data mapped to a host directory. */
#ifndef GPTOSS_TOOLS_PYTHON_H
#define GPTOSS_TOOLS_PYTHON_H

#include <stddef.h>

#include "gptoss.h"

typedef struct gptoss_python gptoss_python;

/* All zero: the defaults. */
typedef struct gptoss_python_options {
    const char *python_exe;  /* NULL: /usr/bin/python3 (the interpreter inside the sandbox) */
    const char *data_dir;    /* host directory seen as /mnt/data; NULL: a fresh private directory, removed
                                by gptoss_python_free */
    double timeout_s;        /* per call; 0: 120, as the trained description says */
    size_t max_reply_bytes;  /* the reply is cut to this with a note; 0: 16 KiB */
    size_t memory_bytes;     /* address-space limit of the interpreter; 0: 4 GiB */
    size_t file_bytes;       /* largest file it may write; 0: 1 GiB */
    unsigned max_processes;  /* processes and threads inside the sandbox; 0: 64 */
} gptoss_python_options;

/* Whether the sandbox can be set up here (bubblewrap found and user/network namespaces usable, the
 * interpreter present). GPTOSS_OK, or an error with one line in err saying what is missing and which
 * package provides it. There is no unsandboxed mode. */
gptoss_status gptoss_python_check(const gptoss_python_options *options, char *err, size_t err_size);

/* A tool for one conversation. The interpreter starts on the first call (create only checks the options,
 * the sandbox's availability and the data directory, which it makes when missing; as root it gives it
 * to uid 65534, the sandbox's). options may be NULL. *out is NULL on failure. */
gptoss_status gptoss_python_create(const gptoss_python_options *options, gptoss_python **out, char *err,
                                   size_t err_size);
/* Kills the interpreter and its sandbox; removes the data directory only when the tool made it.
 * Accepts NULL. */
void gptoss_python_free(gptoss_python *py);

/* Runs one cell (code[0..code_len), raw Python source as the model sent it to `python`) in the
 * conversation's interpreter and fills *reply (malloc'd, NUL-terminated) with the text of the tool's
 * message as the model receives it (author "python"): what Jupyter would show (stdout, stderr, the last
 * expression's repr, the traceback on error), cut to max_reply_bytes with a note; a time-out or a dead
 * interpreter (restarted for the next call) is reported in the reply, not as an error. Returns GPTOSS_OK
 * whenever a reply was made. Blocks up to the time-out (plus a little for the interrupt). One call at a
 * time per tool; different tools may be used from different threads. The reply is valid UTF-8 and may
 * be empty (a cell that printed nothing and ended in a statement). */
gptoss_status gptoss_python_call(gptoss_python *py, const char *code, size_t code_len, char **reply);

/* The host directory behind /mnt/data. */
const char *gptoss_python_data_dir(const gptoss_python *py);

#endif
