/* test_tokenizer_tiktoken.c: gptoss's encoder against tiktoken-WASM (npm `tiktoken`, pinned in
 * tests/package-lock.json), id for id, on the generated corpus of tests/tokenizer/corpus.cjs, with
 * both the tokenizer.json and the .tiktoken loader, in both special-token modes. Skips when Node or
 * tests/node_modules is missing (tests/deps.sh installs them). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gptoss.h"
#include "tap.h"

#define N_INPUTS 2000
#define MAX_KINDS 32

typedef struct kind_stat {
    char name[32];
    unsigned n, bad;
} kind_stat;

static kind_stat kinds[MAX_KINDS];
static unsigned n_kinds;

static kind_stat *kind_of(const char *name) {
    for (unsigned i = 0; i < n_kinds; i++)
        if (!strcmp(kinds[i].name, name)) return &kinds[i];
    if (n_kinds == MAX_KINDS) return &kinds[MAX_KINDS - 1];
    snprintf(kinds[n_kinds].name, sizeof kinds[n_kinds].name, "%s", name);
    return &kinds[n_kinds++];
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

/* Splits a reference line in place. */
static int parse_line(char *line, char **kind, char **mode, char **hex, char **ids) {
    char *f[4];
    f[0] = line;
    for (int i = 1; i < 4; i++) {
        char *t = strchr(f[i - 1], '\t');
        if (!t) return 0;
        *t = 0;
        f[i] = t + 1;
    }
    size_t n = strlen(f[3]);
    if (n && f[3][n - 1] == '\n') f[3][n - 1] = 0;
    *kind = f[0], *mode = f[1], *hex = f[2], *ids = f[3];
    return 1;
}

static int same_ids(const gptoss_tokens *t, const uint32_t *want, size_t n_want) {
    return t->n == n_want && (n_want == 0 || !memcmp(t->ids, want, n_want * sizeof *want));
}

int main(void) {
    const char *root = getenv("GPTOSS_ROOT");
    if (!root) root = ".";
    char script[4096], modules[4096], path_json[4096], path_tt[4096], path_special[4096];
    snprintf(script, sizeof script, "%s/tests/tokenizer/compare.cjs", root);
    snprintf(modules, sizeof modules, "%s/tests/node_modules/tiktoken", root);
    const char *name = "tokenizer agrees with tiktoken-WASM";
    if (!tap_shared_path(name, "vocab/tokenizer.json", path_json, sizeof path_json) ||
        !tap_shared_path(name, "vocab/o200k_base.tiktoken", path_tt, sizeof path_tt) ||
        !tap_shared_path(name, "vocab/o200k_harmony_special_tokens.tsv", path_special, sizeof path_special))
        return 0;
    if (access(modules, F_OK) != 0 || system("node --version >/dev/null 2>&1") != 0) {
        tap_skip("tokenizer agrees with tiktoken-WASM", "node or tests/node_modules/tiktoken missing (run tests/deps.sh)");
        return 0;
    }
    char err[512] = "";
    gptoss_tokenizer *tj = NULL, *tt = NULL;
    if (!tap_check(gptoss_tokenizer_load(path_json, &tj, err, sizeof err) == GPTOSS_OK, "load %s (%s)", path_json, err) ||
        !tap_check(gptoss_tokenizer_load(path_tt, &tt, err, sizeof err) == GPTOSS_OK, "load %s (%s)", path_tt, err)) {
        gptoss_tokenizer_free(tj);
        return tap_exit();
    }

    char cmd[8300];
    snprintf(cmd, sizeof cmd, "node '%s' %d", script, N_INPUTS);
    FILE *p = popen(cmd, "r");
    if (!tap_check(p != NULL, "run %s", cmd)) return tap_exit();
    char *line = NULL;
    size_t cap = 0;
    unsigned n_lines = 0, n_bad = 0, n_shown = 0;
    size_t total_tokens = 0;
    unsigned char *bytes = NULL;
    uint32_t *want = NULL;
    size_t bytes_cap = 0, want_cap = 0;
    while (getline(&line, &cap, p) > 0) {
        char *kind, *mode, *hex, *ids;
        if (!parse_line(line, &kind, &mode, &hex, &ids)) {
            tap_check(0, "reference line %u is malformed", n_lines + 1);
            break;
        }
        size_t hn = strlen(hex), n = hn / 2;
        if (n + 1 > bytes_cap) {
            bytes_cap = (n + 1) * 2;
            bytes = realloc(bytes, bytes_cap);
        }
        size_t n_ids_max = strlen(ids) / 2 + 1;
        if (n_ids_max > want_cap) {
            want_cap = n_ids_max * 2;
            want = realloc(want, want_cap * sizeof *want);
        }
        if (!bytes || !want) return 1;
        for (size_t i = 0; i < n; i++) bytes[i] = (unsigned char)(hexval(hex[2 * i]) << 4 | hexval(hex[2 * i + 1]));
        size_t n_want = 0;
        for (char *q = ids; *q;) {
            char *e;
            unsigned long v = strtoul(q, &e, 10);
            if (e == q) break;
            want[n_want++] = (uint32_t)v;
            q = e;
        }
        int allow = !strcmp(mode, "special") ? GPTOSS_TOKENIZER_SPECIAL_ALLOW : GPTOSS_TOKENIZER_SPECIAL_AS_TEXT;
        gptoss_tokens a = {0}, b = {0};
        gptoss_status sa = gptoss_tokenizer_encode(tj, (const char *)bytes, n, allow, &a);
        gptoss_status sb = gptoss_tokenizer_encode(tt, (const char *)bytes, n, allow, &b);
        int ok = sa == GPTOSS_OK && sb == GPTOSS_OK && same_ids(&a, want, n_want) && same_ids(&b, want, n_want);
        kind_stat *k = kind_of(kind);
        k->n++;
        n_lines++;
        total_tokens += n_want;
        if (!ok) {
            k->bad++;
            n_bad++;
            if (n_shown++ < 5) {
                tap_diag("mismatch (%s, %s): input %.200s", kind, mode, hex);
                tap_diag("  tiktoken: %.300s", ids);
                char got[600];
                size_t o = 0;
                for (size_t i = 0; i < a.n && o + 12 < sizeof got; i++) o += (size_t)snprintf(got + o, sizeof got - o, "%u ", a.ids[i]);
                got[o] = 0;
                tap_diag("  gptoss:   %s", got);
            }
        }
        gptoss_tokens_free(&a);
        gptoss_tokens_free(&b);
    }
    int rc = pclose(p);
    tap_check(rc == 0, "node %s exited cleanly", script);
    for (unsigned i = 0; i < n_kinds; i++)
        tap_check(kinds[i].bad == 0, "tiktoken agreement on %-12s %4u encodings, %u mismatches", kinds[i].name, kinds[i].n,
                  kinds[i].bad);
    tap_check(n_lines >= 2 * 1000 && n_bad == 0, "tiktoken agreement overall: %u encodings of %d inputs, %zu tokens, %u mismatches",
              n_lines, N_INPUTS, total_tokens, n_bad);
    free(line);
    free(bytes);
    free(want);
    gptoss_tokenizer_free(tj);
    gptoss_tokenizer_free(tt);
    return tap_exit();
}
