/* cli_python.h: the python tool's options as every command takes them (`--python`, `--python-exe`,
 * `--python-data`, `--python-timeout`), the check at start, and where a conversation's /mnt/data goes
 * when --python-data is not given (a fresh folder under the user's gptoss data folder, kept). */
#ifndef GPTOSS_CLI_PYTHON_H
#define GPTOSS_CLI_PYTHON_H

#include <stddef.h>

#include "tools/python.h"

typedef struct cli_python_options {
    int enabled;          /* --python, or any of the options below */
    const char *exe;      /* --python-exe: the interpreter inside the sandbox (NULL: the tool's default) */
    const char *data_dir; /* --python-data DIR (NULL: cli_python_data_dir makes one per conversation) */
    double timeout_s;     /* --python-timeout S (0: the tool's default, 120 s as the model was told) */
} cli_python_options;

/* The options' usage lines, for a command's --help. */
#define CLI_PYTHON_USAGE                                                                                     \
    "  --python             let the model run Python (a stateful sandboxed interpreter per conversation)\n"   \
    "  --python-exe PATH    the interpreter inside the sandbox (default /usr/bin/python3)\n"                   \
    "  --python-data DIR    the host folder the code sees as /mnt/data (default: a new folder per\n"          \
    "                       conversation under $XDG_DATA_HOME/gptoss/python, kept and named on screen;\n"      \
    "                       as root " CLI_PYTHON_ROOT_DATA " when the sandbox cannot reach that)\n"         \
    "  --python-timeout S   seconds one cell may run (default 120, as the model is told)\n"

/* When argv[*i] is a python option, takes it (and its value, advancing *i) and returns 1; 0 when it
 * is not one; -1 (message printed) when its value is missing or wrong. */
int cli_python_option(cli_python_options *o, int argc, char **argv, int *i);

/* Is a call's recipient the python tool? "python", also "python<|constrain|>..." and "python code" as
 * models write it (the parser may leave the content type attached). */
int cli_python_recipient(const char *recipient);

/* The tool's options for these (data_dir left as the options give it). */
gptoss_python_options cli_python_tool_options(const cli_python_options *o);

/* Whether the sandbox can be set up here: 1, or 0 with gptoss_python_check's message printed. */
int cli_python_check(const cli_python_options *o);

/* Where conversations' folders go as root when the sandbox's uid (tools/sandbox.h) cannot reach
 * $XDG_DATA_HOME/gptoss/python (root's home is 0700). */
#define CLI_PYTHON_ROOT_DATA "/var/lib/gptoss/python"

/* The folder a new conversation's /mnt/data is kept in when --python-data is not given:
 * $XDG_DATA_HOME/gptoss/python/YYYYmmdd-HHMMSS-XXXXXX (else ~/.local/share/...), made with mode
 * 0700 (its parents as mkdir -p makes them); as root, when the sandbox's uid cannot reach that,
 * CLI_PYTHON_ROOT_DATA/YYYYmmdd-HHMMSS-XXXXXX instead. Returns 0, or -1 with one line in err. */
int cli_python_make_data_dir(char *out, size_t out_size, char *err, size_t err_size);

#endif
