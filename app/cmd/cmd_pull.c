/* cmd_pull.c: `gptoss pull` (a model from the Hugging Face Hub into its cache), `gptoss list` (the
 * cached models) and `gptoss rm` (one of them, blobs included): the commands around src/hub/. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cmd/commands.h"
#include "hub/hub_cache.h"
#include "hub/hub_pull.h"

#define MAX_PATTERNS 64

static void pull_usage(FILE *f) {
    fprintf(f,
            "usage: gptoss pull NAME [--revision R] [--include GLOB ...] [--exclude GLOB ...] [--parallel N] [--retries N]\n"
            "Downloads a model repository from the Hugging Face Hub into the Hugging Face cache\n"
            "(HF_HOME/hub/models--OWNER--NAME), the layout transformers, vLLM and the hf CLI share.\n"
            "NAME is gpt-oss-20b, gpt-oss-120b (openai's) or OWNER/NAME. Interrupted downloads resume;\n"
            "each LFS file's sha256 is checked before it is linked into the snapshot.\n"
            "  --revision R    branch, tag or commit (default main)\n"
            "  --include GLOB  only paths matching GLOB (repeatable; e.g. 'original/*')\n"
            "  --exclude GLOB  not paths matching GLOB (repeatable)\n"
            "  --parallel N    files downloaded at once (default 4)\n"
            "  --retries N     tries after a transient failure: reset, timeout, 5xx, 429 (default 5)\n"
            "environment: HF_HOME (default ~/.cache/huggingface), HF_HUB_CACHE, HF_ENDPOINT (default\n"
            "https://huggingface.co), HF_TOKEN (else HF_HOME/token), https_proxy\n");
}

/* ---- progress ---------------------------------------------------------------------------------- */

typedef struct bar {
    int tty;
    double start, last;
    uint64_t start_bytes; /* on disk when the pull began (resumed parts): not counted in the rate */
    int started;
} bar;

static void human(char *out, size_t n, double bytes) {
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    while (bytes >= 1024 && u < 4) {
        bytes /= 1024;
        u++;
    }
    snprintf(out, n, u ? "%.1f %s" : "%.0f %s", bytes, units[u]);
}

static void on_progress(void *ctx, const gptoss_hub_progress *p) {
    bar *b = ctx;
    double t = cli_now_s();
    if (!b->started) {
        b->started = 1;
        b->start = t;
        b->start_bytes = p->done_bytes;
    }
    /* a terminal is redrawn ~4 times a second; a log gets a line every 10 s */
    if (!p->finished && t - b->last < (b->tty ? 0.25 : 10.0)) return;
    b->last = t;
    double el = t - b->start;
    double rate = el > 0 ? (double)p->fetched_bytes / el : 0;
    char done[32], total[32], speed[32], eta[32] = "--";
    human(done, sizeof done, (double)p->done_bytes);
    human(total, sizeof total, (double)p->total_bytes);
    human(speed, sizeof speed, rate);
    if (el > 0.5 && rate > 0 && p->total_bytes >= p->done_bytes) {
        double s = (double)(p->total_bytes - p->done_bytes) / rate;
        if (s < 3600) snprintf(eta, sizeof eta, "%dm%02ds", (int)s / 60, (int)s % 60);
        else snprintf(eta, sizeof eta, "%dh%02dm", (int)(s / 3600), (int)s / 60 % 60);
    }
    double frac = p->total_bytes ? (double)p->done_bytes / (double)p->total_bytes : 1.0;
    if (frac > 1) frac = 1; /* a blob another process finished meanwhile may count its part twice */
    if (b->tty) {
        char cells[31];
        int filled = (int)(frac * 30);
        for (int i = 0; i < 30; i++) cells[i] = i < filled ? '#' : '.';
        cells[30] = 0;
        fprintf(stderr, "\r[%s] %5.1f%% %s / %s  %s/s  ETA %s  %u/%u files\033[K", cells, 100 * frac, done, total,
                speed, eta, p->n_files_done, p->n_files);
        if (p->finished) fputc('\n', stderr);
    } else {
        fprintf(stderr, "gptoss pull: %5.1f%% %s of %s, %s/s, ETA %s, %u/%u files\n", 100 * frac, done, total, speed,
                eta, p->n_files_done, p->n_files);
    }
    fflush(stderr);
}

static void on_notice(void *ctx, const char *line) {
    bar *b = ctx;
    fprintf(stderr, "%sgptoss pull: %s\n", b->tty ? "\r\033[K" : "", line);
}

/* ---- pull -------------------------------------------------------------------------------------- */

int cmd_pull(int argc, char **argv) {
    const char *name = NULL, *include[MAX_PATTERNS], *exclude[MAX_PATTERNS];
    gptoss_hub_pull_options o = {0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            pull_usage(stdout);
            return 0;
        }
        if (!strcmp(a, "--revision") || !strcmp(a, "--include") || !strcmp(a, "--exclude") ||
            !strcmp(a, "--parallel") || !strcmp(a, "--retries")) {
            if (!(v = cli_next(argc, argv, &i))) return 2;
            uint32_t u = 0;
            if (!strcmp(a, "--revision")) o.revision = v;
            else if (!strcmp(a, "--include") || !strcmp(a, "--exclude")) {
                size_t *n = a[2] == 'i' ? &o.n_include : &o.n_exclude;
                const char **list = a[2] == 'i' ? include : exclude;
                if (*n == MAX_PATTERNS) {
                    cli_error("pull: more than %d %s patterns", MAX_PATTERNS, a);
                    return 2;
                }
                list[(*n)++] = v;
            } else if (!cli_parse_u32(v, &u) || (!strcmp(a, "--parallel") && (u < 1 || u > 64)) || u > 100) {
                cli_error("pull: invalid value '%s' for %s", v, a);
                return 2;
            } else if (!strcmp(a, "--parallel")) o.n_parallel = u;
            else o.retries = u ? (int)u : -1;
            continue;
        }
        if (a[0] == '-') {
            cli_error("pull: unknown option %s", a);
            pull_usage(stderr);
            return 2;
        }
        if (name) {
            cli_error("pull: more than one model given");
            return 2;
        }
        name = a;
    }
    if (!name) {
        pull_usage(stderr);
        return 2;
    }
    char repo[128];
    if (!gptoss_hub_name_to_repo(name, repo, sizeof repo)) {
        cli_error("pull: '%s' is not a model name (gpt-oss-20b, gpt-oss-120b or OWNER/NAME)", name);
        return 2;
    }
    if (!gptoss_hub_pull_available()) {
        cli_error("pull: gptoss was built without libcurl: install libcurl4-openssl-dev and rebuild");
        return 1;
    }
    o.include = include;
    o.exclude = exclude;
    bar b = {.tty = isatty(2)};
    o.progress = on_progress;
    o.notice = on_notice;
    o.ctx = &b;
    gptoss_hub_pull_result r;
    char err[1024] = "";
    if (gptoss_hub_pull(repo, &o, &r, err, sizeof err) != GPTOSS_OK) {
        if (b.tty && b.started) fputc('\n', stderr);
        cli_error("pull: %s", err);
        return 1;
    }
    char total[32], fetched[32];
    human(total, sizeof total, (double)r.bytes_total);
    human(fetched, sizeof fetched, (double)r.bytes_fetched);
    printf("%s at %.12s: %u files, %s (%u downloaded, %s received)\n%s\n", repo, r.commit, r.n_files, total,
           r.n_downloaded, fetched, r.snapshot_dir);
    gptoss_hub_pull_result_free(&r);
    return 0;
}

/* ---- list and rm ------------------------------------------------------------------------------- */

int cmd_list(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            printf("usage: gptoss list\nThe models in the Hugging Face cache (HF_HOME/hub or HF_HUB_CACHE): name,\n"
                   "the commit refs/main names, size on disk (each blob once), folder.\n");
            return 0;
        }
        cli_error("list: unexpected argument '%s'", argv[i]);
        return 2;
    }
    char *cache = gptoss_hub_cache_dir();
    gptoss_hub_entry *e = NULL;
    size_t n = 0;
    char err[512];
    if (gptoss_hub_list(cache, &e, &n, err, sizeof err) != GPTOSS_OK) {
        cli_error("list: %s", err);
        free(cache);
        return 1;
    }
    if (!n) printf("no models in %s (gptoss pull gpt-oss-20b fetches one)\n", cache ? cache : "the cache");
    else printf("%-40s %-12s %10s  %s\n", "NAME", "COMMIT", "SIZE", "PATH");
    for (size_t i = 0; i < n; i++) {
        char size[32];
        human(size, sizeof size, (double)e[i].size_bytes);
        printf("%-40s %-12.12s %10s  %s\n", e[i].repo_id, e[i].commit[0] ? e[i].commit : "-", size, e[i].path);
    }
    gptoss_hub_list_free(e, n);
    free(cache);
    return 0;
}

int cmd_rm(int argc, char **argv) {
    const char *name = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            printf("usage: gptoss rm NAME\nRemoves a model's folder from the Hugging Face cache, its blobs included\n"
                   "(NAME as `gptoss list` shows it, or gpt-oss-20b / gpt-oss-120b).\n");
            return 0;
        }
        if (argv[i][0] == '-' || name) {
            cli_error("rm: unexpected argument '%s'", argv[i]);
            return 2;
        }
        name = argv[i];
    }
    char repo[128];
    if (!name || !gptoss_hub_name_to_repo(name, repo, sizeof repo)) {
        cli_error(name ? "rm: '%s' is not a model name (gpt-oss-20b, gpt-oss-120b or OWNER/NAME)"
                       : "usage: gptoss rm NAME%s",
                  name ? name : "");
        return 2;
    }
    char *cache = gptoss_hub_cache_dir();
    char *dir = cache ? gptoss_hub_repo_dir(cache, repo) : NULL;
    char err[512];
    int rc = 0;
    if (!dir || access(dir, F_OK) != 0) {
        cli_error("rm: %s is not in the cache %s", repo, cache ? cache : "(no HF_HOME or HOME)");
        rc = 1;
    } else {
        char size[32];
        human(size, sizeof size, (double)gptoss_hub_tree_bytes(dir));
        printf("removing %s: %s (%s)\n", repo, dir, size);
        fflush(stdout);
        if (gptoss_hub_remove_tree(dir, err, sizeof err) != GPTOSS_OK) {
            cli_error("rm: %s", err);
            rc = 1;
        } else {
            /* huggingface_hub's empty lock files for this repository go too */
            char locks[4200];
            snprintf(locks, sizeof locks, "%s/.locks/%s", cache, strrchr(dir, '/') + 1);
            if (access(locks, F_OK) == 0) gptoss_hub_remove_tree(locks, err, sizeof err);
        }
    }
    free(dir);
    free(cache);
    return rc;
}
