/* cmd_tool_python.c: `gptoss tool python [options] < CELLS`: runs cells (separated by lines starting
 * with `# %%`) in one sandboxed python tool (src/tools/python.h) exactly as a model's calls would run,
 * and prints each reply as the model receives it. The way to see what the sandbox allows, and how the
 * tests drive it without a model. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/common.h"
#include "cli/cli.h"
#include "cmd/commands.h"
#include "tools/python.h"

#define MAX_INPUT_BYTES ((size_t)64 << 20)

static const char usage_line[] =
    "usage: gptoss tool python [--data DIR] [--timeout S] [--python-exe PATH] [--max-reply-bytes N]\n"
    "                          [--memory-mb N] [--max-processes N] [--time] [--check] < CELLS";

void cmd_tool_python_usage(FILE *f) {
    fprintf(f, "%s\n\n"
               "Runs the cells on stdin (separated by lines beginning with `# %%%%`) one after the other in one\n"
               "sandboxed Python interpreter, as the model's calls to the python tool run, and prints each reply\n"
               "after a line `--- reply N ---`. Variables, imports and files persist between cells; /mnt/data\n"
               "inside is DIR outside (--data; default: a temporary directory removed at the end).\n"
               "  --timeout S          seconds a cell may run before it is interrupted (default 120)\n"
               "  --python-exe PATH    the interpreter (default /usr/bin/python3)\n"
               "  --max-reply-bytes N  replies are cut to N bytes with a note (default 16384)\n"
               "  --memory-mb N        address-space limit of the interpreter (default 4096)\n"
               "  --max-processes N    processes and threads in the sandbox (default 64)\n"
               "  --time               print each call's wall time on stderr\n"
               "  --check              only say whether the sandbox works here (exit 0) or what is missing\n",
            usage_line);
}

static int parse_positive(const char *s, double max, double *out) {
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || !(v > 0) || v > max) return 0;
    *out = v;
    return 1;
}

/* Runs one cell and prints its reply. 0, or 1 when no reply could be made. */
static int run_cell(gptoss_python *py, const char *code, size_t len, unsigned index, int timed) {
    double t0 = cli_now_s();
    char *reply = NULL;
    if (gptoss_python_call(py, code, len, &reply) != GPTOSS_OK) {
        cli_error("out of memory");
        return 1;
    }
    if (timed) fprintf(stderr, "gptoss tool python: call %u took %.2f ms\n", index, (cli_now_s() - t0) * 1e3);
    printf("--- reply %u ---\n%s\n", index, reply);
    fflush(stdout);
    free(reply);
    return 0;
}

static int only_space(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\n' && s[i] != '\r') return 0;
    return 1;
}

int cmd_tool_python(int argc, char **argv) {
    gptoss_python_options o = {0};
    int timed = 0, check_only = 0;
    for (int i = 0; i < argc; i++) {
        double v;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            cmd_tool_python_usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--data") && i + 1 < argc) {
            o.data_dir = argv[++i];
        } else if (!strcmp(argv[i], "--python-exe") && i + 1 < argc) {
            o.python_exe = argv[++i];
        } else if (!strcmp(argv[i], "--timeout") && i + 1 < argc) {
            if (!parse_positive(argv[++i], 86400, &v)) {
                cli_error("--timeout: expected seconds in (0, 86400], got '%s'", argv[i]);
                return 2;
            }
            o.timeout_s = v;
        } else if (!strcmp(argv[i], "--max-reply-bytes") && i + 1 < argc) {
            if (!parse_positive(argv[++i], 1 << 30, &v)) {
                cli_error("--max-reply-bytes: expected a size in (0, 1 GiB], got '%s'", argv[i]);
                return 2;
            }
            o.max_reply_bytes = (size_t)v;
        } else if (!strcmp(argv[i], "--memory-mb") && i + 1 < argc) {
            if (!parse_positive(argv[++i], 1 << 20, &v)) {
                cli_error("--memory-mb: expected megabytes in (0, 1048576], got '%s'", argv[i]);
                return 2;
            }
            o.memory_bytes = (size_t)v << 20;
        } else if (!strcmp(argv[i], "--max-processes") && i + 1 < argc) {
            if (!parse_positive(argv[++i], 65536, &v)) {
                cli_error("--max-processes: expected a count in (0, 65536], got '%s'", argv[i]);
                return 2;
            }
            o.max_processes = (unsigned)v;
        } else if (!strcmp(argv[i], "--time")) {
            timed = 1;
        } else if (!strcmp(argv[i], "--check")) {
            check_only = 1;
        } else {
            cli_error("unexpected argument '%s'\n%s", argv[i], usage_line);
            return 2;
        }
    }
    char err[512];
    if (check_only) {
        if (gptoss_python_check(&o, err, sizeof err) != GPTOSS_OK) {
            cli_error("python tool unavailable: %s", err);
            return 1;
        }
        printf("the python sandbox works here\n");
        return 0;
    }
    gptoss_buf in = {0};
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, stdin)) > 0 && in.len <= MAX_INPUT_BYTES) gptoss_buf_append(&in, chunk, n);
    if (in.len > MAX_INPUT_BYTES || !gptoss_buf_cstr(&in)) {
        cli_error(in.failed ? "out of memory" : "the cells are over 64 MiB");
        gptoss_buf_free(&in);
        return 1;
    }
    gptoss_python *py = NULL;
    if (gptoss_python_create(&o, &py, err, sizeof err) != GPTOSS_OK) {
        cli_error("python tool unavailable: %s", err);
        gptoss_buf_free(&in);
        return 1;
    }
    /* a cell is what lies between marker lines; the text before the first marker is a cell too */
    int rc = 0;
    unsigned index = 0;
    size_t start = 0;
    for (size_t at = 0; at <= in.len && !rc;) {
        size_t eol = at;
        while (eol < in.len && in.data[eol] != '\n') eol++;
        int marker = eol - at >= 4 && !memcmp(in.data + at, "# %%", 4);
        if (marker || at == in.len) {
            if (!only_space(in.data + start, at - start)) rc = run_cell(py, in.data + start, at - start, ++index, timed);
            start = eol < in.len ? eol + 1 : in.len;
        }
        if (at == in.len) break;
        at = eol < in.len ? eol + 1 : in.len;
    }
    gptoss_python_free(py);
    gptoss_buf_free(&in);
    return rc;
}
