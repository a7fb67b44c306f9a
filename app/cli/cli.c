/* cli.c: argument parsing and error printing shared by the subcommands. */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"

void cli_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("gptoss: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

int cli_parse_u64(const char *s, uint64_t *out) {
    if (!s || !*s || *s == '-') return 0;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end) return 0;
    *out = v;
    return 1;
}

int cli_parse_u32(const char *s, uint32_t *out) {
    uint64_t v;
    if (!cli_parse_u64(s, &v) || v > UINT32_MAX) return 0;
    *out = (uint32_t)v;
    return 1;
}

int cli_parse_kv_type(const char *s, gptoss_kv_type *out) {
    for (gptoss_kv_type t = GPTOSS_KV_AUTO; s && t <= GPTOSS_KV_F16; t++)
        if (!strcmp(s, gptoss_kv_type_name(t))) {
            *out = t;
            return 1;
        }
    return 0;
}

int cli_parse_device(const char *s, gptoss_device *out) {
    if (!s) return 0;
    if (!strcmp(s, "cpu")) *out = GPTOSS_DEVICE_CPU;
    else if (!strcmp(s, "cuda") || !strcmp(s, "gpu")) *out = GPTOSS_DEVICE_CUDA;
    else if (!strcmp(s, "auto")) *out = GPTOSS_DEVICE_AUTO;
    else return 0;
    return 1;
}

const char *cli_option_name(const char *arg) {
    static const char *const names[][2] = {{"-t", "--threads"}, {"-c", "--ctx"}, {"-n", "--max-tokens"}};
    for (size_t i = 0; arg && i < sizeof names / sizeof names[0]; i++)
        if (!strcmp(arg, names[i][0]) || !strcmp(arg, names[i][1])) return names[i][1];
    return arg;
}

int cli_parse_float(const char *s, float *out) {
    if (!s || !*s) return 0;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end || !isfinite(v)) return 0;
    *out = (float)v;
    return 1;
}

int cli_parse_ids(const char *text, uint32_t **ids, size_t *n_ids) {
    size_t cap = 16, n = 0;
    uint32_t *v = malloc(cap * sizeof *v);
    if (!v) return 0;
    const char *p = text;
    for (;;) {
        while (*p == ' ' || *p == ',' || *p == '\n' || *p == '\t' || *p == '\r') p++;
        if (!*p) break;
        if (*p < '0' || *p > '9') { free(v); return 0; }
        uint64_t x = 0;
        while (*p >= '0' && *p <= '9') {
            x = x * 10 + (uint64_t)(*p - '0');
            if (x > UINT32_MAX) { free(v); return 0; }
            p++;
        }
        if (*p && *p != ' ' && *p != ',' && *p != '\n' && *p != '\t' && *p != '\r') { free(v); return 0; }
        if (n == cap) {
            cap *= 2;
            uint32_t *nv = realloc(v, cap * sizeof *v);
            if (!nv) { free(v); return 0; }
            v = nv;
        }
        v[n++] = (uint32_t)x;
    }
    *ids = v;
    *n_ids = n;
    return 1;
}

void cli_follow_rank0(gptoss_status load_status, gptoss_model *m) {
    if (gptoss_dist_rank() == 0) return;
    /* Under mpirun every rank runs the same command line; only rank 0 goes on with the command (it
     * reports a failed load, naming the rank), the others do what it does to the model. */
    char err[512] = "";
    int rc = 1;
    if (load_status == GPTOSS_OK) {
        /* mpirun hands Ctrl-C and SIGTERM to every rank: rank 0 stops its command (serve shuts
         * down, run prints what it has) and frees the model, which ends the others' loop here. A
         * rank 0 that dies instead makes mpirun end them. */
        signal(SIGINT, SIG_IGN);
        signal(SIGTERM, SIG_IGN);
        rc = gptoss_dist_follow(m, err, sizeof err) == GPTOSS_OK ? 0 : 1;
        if (rc) cli_error("%s", err);
        gptoss_model_free(m);
    }
    if (rc == 0) gptoss_dist_finalize(); /* see main.c: a failed rank leaves without it */
    exit(rc);
}

gptoss_model *cli_load_model(const char *path, const gptoss_model_options *options) {
    char err[512] = "";
    gptoss_model *m = NULL;
    gptoss_status st = gptoss_model_load(path, options, &m, err, sizeof err);
    cli_follow_rank0(st, m);
    if (st != GPTOSS_OK) {
        cli_error("%s", err[0] ? err : gptoss_status_string(st));
        return NULL;
    }
    return m;
}

const char *cli_next(int argc, char **argv, int *i) {
    if (*i + 1 >= argc) {
        cli_error("option %s needs a value", argv[*i]);
        return NULL;
    }
    return argv[++*i];
}

int cli_progress_wanted(uint64_t total) {
    const char *e = getenv("GPTOSS_PROGRESS");
    if (e && *e) return strcmp(e, "0") != 0;
    return isatty(2) && total > ((uint64_t)1 << 30);
}

void cli_progress(void *ctx, uint64_t done, uint64_t total) {
    const int tty = isatty(2);
    fprintf(stderr, "%sgptoss %s: %5.1f%% of %.2f GiB", tty ? "\r" : "", ctx ? (const char *)ctx : "",
            total ? 100.0 * (double)done / (double)total : 100.0, (double)total / (1u << 30));
    if (!tty || done == total) fputc('\n', stderr);
    fflush(stderr);
}

double cli_now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}
