/* cmd_tool.c: `gptoss tool browser replay FIXTURES.jsonl --out OUT.jsonl`: runs the browser tool
 * (src/tools/) over recorded scenarios, each with a fresh tool and a backend that serves the
 * scenario's pages and search results as shared/browser/README.md describes, writes each line back
 * with every call's text and author replaced by gptoss's reply, and prints how many replies are
 * byte-identical to the recorded ones (all, tool errors, page views, page headers and link ids).
 * `gptoss tool browser run`: the same tool over the web backend (tools/web.h), calls as JSON lines on
 * stdin, replies as JSON lines on stdout. `gptoss tool python` is cmd_tool_python.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/cli_browser.h"
#include "cmd/commands.h"
#include "format/json.h"
#include "tools/browser.h"
#include "tools/html_page.h"

#define MAX_LINE_BYTES ((size_t)256 << 20)
#define MAX_CALL_BYTES ((size_t)1 << 20)

typedef struct scenario {
    const json_value *pages, *results;
} scenario;

static int replay_fetch(void *ctx, const char *url, char **html, size_t *len, const char **charset, char *err,
                        size_t err_size) {
    const scenario *s = ctx;
    *charset = NULL;
    size_t n = strcspn(url, "#");
    for (size_t i = 0; s->pages && s->pages->type == JSON_OBJECT && i < s->pages->n; i++) {
        const json_member *m = &s->pages->members[i];
        if (m->key_len == n && !memcmp(m->key, url, n) && m->value.type == JSON_STRING) {
            *html = malloc(m->value.len + 1);
            if (!*html) {
                snprintf(err, err_size, "out of memory");
                return -1;
            }
            memcpy(*html, m->value.str, m->value.len + 1);
            *len = m->value.len;
            return 0;
        }
    }
    snprintf(err, err_size, "No contents returned for %s", url);
    return -1;
}

static char *dup_member(const json_value *o, const char *key) {
    const char *v = json_get_string(o, key);
    return strdup(v ? v : "");
}

static int replay_search(void *ctx, const char *query, size_t max_results, gptoss_browser_result **out, size_t *n,
                         char *err, size_t err_size) {
    const scenario *s = ctx;
    *out = NULL;
    *n = 0;
    const json_value *list = json_get(s->results, query);
    if (!list || list->type != JSON_ARRAY || !list->n) return 0;
    size_t count = list->n < max_results ? list->n : max_results;
    gptoss_browser_result *r = calloc(count, sizeof *r);
    if (!r) {
        snprintf(err, err_size, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < count; i++) {
        r[i].url = dup_member(&list->items[i], "url");
        r[i].title = dup_member(&list->items[i], "title");
        r[i].snippet = dup_member(&list->items[i], "snippet");
        if (!r[i].url || !r[i].title || !r[i].snippet) {
            gptoss_browser_results_free(r, count);
            snprintf(err, err_size, "out of memory");
            return -1;
        }
    }
    *out = r;
    *n = count;
    return 0;
}

typedef struct tally {
    size_t calls, same, errors, errors_same, views, views_same, heads_same, links_same;
} tally;

static int is_view(const char *t) {
    if (t[0] != '[') return 0;
    size_t i = 1;
    while (t[i] >= '0' && t[i] <= '9') i++;
    return i > 1 && t[i] == ']' && t[i + 1] == ' ' && strstr(t, "\n**viewing lines [") != NULL;
}

static size_t first_line(const char *t) { return strcspn(t, "\n"); }

/* the sequence of link ids (【N†) in t, as one comparable string */
static void link_ids(const char *t, gptoss_buf *out) {
    for (const char *p = strstr(t, "\xE3\x80\x90"); p; p = strstr(p + 3, "\xE3\x80\x90")) {
        const char *q = p + 3;
        while (*q >= '0' && *q <= '9') q++;
        if (q > p + 3 && !strncmp(q, "\xE2\x80\xA0", 3)) {
            gptoss_buf_append(out, p + 3, (size_t)(q - p - 3));
            gptoss_buf_append(out, ",", 1);
        }
    }
}

static void count(tally *t, const char *want, const char *want_author, const char *got, const char *author) {
    int same = !strcmp(want, got) && (!want_author || !strcmp(want_author, author));
    t->calls++;
    t->same += same;
    if (is_view(want)) {
        t->views++;
        t->views_same += same;
        size_t a = first_line(want), b = first_line(got);
        t->heads_same += a == b && !memcmp(want, got, a);
        gptoss_buf la = {0}, lb = {0};
        link_ids(want, &la);
        link_ids(got, &lb);
        t->links_same += la.len == lb.len && (!la.len || !memcmp(la.data, lb.data, la.len));
        gptoss_buf_free(&la);
        gptoss_buf_free(&lb);
    } else {
        t->errors++;
        t->errors_same += same;
    }
}

static void write_member(gptoss_buf *o, const json_member *m, int first) {
    if (!first) gptoss_buf_append(o, ",", 1);
    json_write_string(o, m->key, m->key_len);
    gptoss_buf_append(o, ":", 1);
}

/* one scenario line: run it, write it back with the replies, count */
static int replay_line(const gptoss_tokenizer *tok, const char *line, size_t len, FILE *out, tally *t,
                       size_t line_no) {
    char err[512];
    json_doc *doc = json_parse(line, len, err, sizeof err);
    if (!doc) {
        cli_error("line %zu: %s", line_no, err);
        return 1;
    }
    const json_value *root = json_root(doc);
    const json_value *calls = json_get(root, "calls");
    if (root->type != JSON_OBJECT || !calls || calls->type != JSON_ARRAY) {
        cli_error("line %zu: expected an object with a \"calls\" array", line_no);
        json_free(doc);
        return 1;
    }
    scenario sc = {json_get(root, "pages"), json_get(root, "search_results")};
    gptoss_browser_backend be = {&sc, replay_search, replay_fetch};
    gptoss_browser *br = NULL;
    if (gptoss_browser_create(tok, &be, NULL, &br) != GPTOSS_OK) {
        cli_error("out of memory");
        json_free(doc);
        return 1;
    }
    gptoss_buf o = {0};
    int rc = 0;
    gptoss_buf_append(&o, "{", 1);
    for (size_t i = 0; i < root->n; i++) {
        const json_member *m = &root->members[i];
        write_member(&o, m, i == 0);
        if (&m->value != calls) {
            json_write_value(&o, &m->value);
            continue;
        }
        gptoss_buf_append(&o, "[", 1);
        for (size_t c = 0; c < calls->n; c++) {
            const json_value *call = &calls->items[c];
            const char *fn = json_get_string(call, "function");
            const json_value *args = json_get(call, "args");
            gptoss_buf ab = {0};
            if (args) json_write_value(&ab, args);
            const char *as = gptoss_buf_cstr(&ab);
            char *reply = NULL;
            const char *author = "";
            if (!fn || !as || gptoss_browser_call(br, fn, as, ab.len, &reply, &author) != GPTOSS_OK) {
                cli_error("line %zu, call %zu: %s", line_no, c, fn ? "out of memory" : "no \"function\"");
                gptoss_buf_free(&ab);
                rc = 1;
                break;
            }
            gptoss_buf_free(&ab);
            const char *want = json_get_string(call, "text");
            count(t, want ? want : "", json_get_string(call, "author"), reply, author);
            if (c) gptoss_buf_append(&o, ",", 1);
            gptoss_buf_append(&o, "{", 1);
            int first = 1, wrote_author = 0;
            for (size_t k = 0; k < call->n; k++) {
                const json_member *cm = &call->members[k];
                write_member(&o, cm, first);
                first = 0;
                if (!strcmp(cm->key, "text")) json_write_string(&o, reply, strlen(reply));
                else if (!strcmp(cm->key, "author")) {
                    json_write_string(&o, author, strlen(author));
                    wrote_author = 1;
                } else json_write_value(&o, &cm->value);
            }
            if (!wrote_author) {
                gptoss_buf_puts(&o, first ? "\"author\":" : ",\"author\":");
                json_write_string(&o, author, strlen(author));
            }
            gptoss_buf_append(&o, "}", 1);
            free(reply);
        }
        gptoss_buf_append(&o, "]", 1);
    }
    gptoss_buf_append(&o, "}\n", 2);
    if (!rc && (o.failed || fwrite(o.data, 1, o.len, out) != o.len)) {
        cli_error("cannot write the output");
        rc = 1;
    }
    gptoss_buf_free(&o);
    gptoss_browser_free(br);
    json_free(doc);
    return rc;
}

static int browser_replay(int argc, char **argv) {
    const char *in_path = NULL, *out_path = NULL, *tok_path = NULL;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--out") && i + 1 < argc) out_path = argv[++i];
        else if (!strcmp(argv[i], "--tokenizer") && i + 1 < argc) tok_path = argv[++i];
        else if (argv[i][0] != '-' && !in_path) in_path = argv[i];
        else {
            cli_error("unexpected argument '%s'", argv[i]);
            return 2;
        }
    }
    if (!in_path || !out_path) {
        cli_error("usage: gptoss tool browser replay FIXTURES.jsonl --out OUT.jsonl [--tokenizer PATH]");
        return 2;
    }
    if (!gptoss_html_page_available()) {
        cli_error("this gptoss was built without libxml2: install libxml2-dev (Debian) and rebuild");
        return 1;
    }
    gptoss_tokenizer *tok = cli_open_tokenizer(tok_path, NULL);
    if (!tok) return 1;
    FILE *in = fopen(in_path, "rb");
    if (!in) {
        cli_error("cannot open %s", in_path);
        gptoss_tokenizer_free(tok);
        return 1;
    }
    FILE *out = fopen(out_path, "wb");
    if (!out) {
        cli_error("cannot create %s", out_path);
        fclose(in);
        gptoss_tokenizer_free(tok);
        return 1;
    }
    tally t = {0};
    char *line = NULL;
    size_t cap = 0, line_no = 0;
    ssize_t n;
    int rc = 0;
    while (!rc && (n = getline(&line, &cap, in)) > 0) {
        line_no++;
        size_t len = (size_t)n;
        while (len && (line[len - 1] == '\n' || line[len - 1] == '\r')) len--;
        if (!len) continue;
        if (len > MAX_LINE_BYTES) {
            cli_error("line %zu: longer than %zu bytes", line_no, MAX_LINE_BYTES);
            rc = 1;
            break;
        }
        rc = replay_line(tok, line, len, out, &t, line_no);
    }
    free(line);
    fclose(in);
    if (fclose(out) != 0 && !rc) {
        cli_error("cannot write %s", out_path);
        rc = 1;
    }
    gptoss_tokenizer_free(tok);
    fprintf(stderr,
            "browser replay: %zu calls, %zu byte-identical; error replies %zu/%zu identical; page views %zu/%zu "
            "identical; page headers %zu/%zu and link ids %zu/%zu identical\n",
            t.calls, t.same, t.errors_same, t.errors, t.views_same, t.views, t.heads_same, t.views, t.links_same,
            t.views);
    return rc;
}

/* one call line of `run`: {"function": ..., "args": {...}} -> {"author": ..., "text": ...}; a line
 * that is not a call gets {"error": ...}, so replies stay one a line in the order of the calls */
static int run_line(gptoss_browser *br, const char *line, size_t len, size_t line_no, gptoss_buf *o) {
    char err[512];
    json_doc *doc = json_parse(line, len, err, sizeof err);
    const json_value *root = doc ? json_root(doc) : NULL;
    const char *fn = json_get_string(root, "function");
    const json_value *args = json_get(root, "args");
    int rc = 0;
    if (!doc || !fn || (args && args->type != JSON_OBJECT)) {
        char msg[700];
        snprintf(msg, sizeof msg, "line %zu: %s", line_no,
                 !doc ? err : "expected {\"function\": \"search\"|\"open\"|\"find\", \"args\": {...}}");
        gptoss_buf_puts(o, "{\"error\":");
        json_write_string(o, msg, strlen(msg));
        gptoss_buf_puts(o, "}\n");
        json_free(doc);
        return 1;
    }
    gptoss_buf ab = {0};
    if (args) json_write_value(&ab, args);
    const char *as = args ? gptoss_buf_cstr(&ab) : "";
    char *reply = NULL;
    const char *author = "";
    if (!as || gptoss_browser_call(br, fn, as, args ? ab.len : 0, &reply, &author) != GPTOSS_OK) {
        o->failed = 1;
        rc = 1;
    } else {
        gptoss_buf_puts(o, "{\"author\":");
        json_write_string(o, author, strlen(author));
        gptoss_buf_puts(o, ",\"text\":");
        json_write_string(o, reply, strlen(reply));
        gptoss_buf_puts(o, "}\n");
    }
    free(reply);
    gptoss_buf_free(&ab);
    json_free(doc);
    return rc;
}

static int parse_seconds(const char *s, double *out) {
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || !(v > 0 && v <= 86400)) return 0;
    *out = v;
    return 1;
}

#define RUN_USAGE                                                                                             \
    "gptoss tool browser run [--search-url URL | --corpus DB] [--browser-allow-private] "                       \
    "[--browser-allow-address IP]... [--tokenizer PATH] [--timeout S]"

static int browser_run(int argc, char **argv) {
    cli_browser_options bo = {0};
    const char *tok_path = NULL;
    for (int i = 0; i < argc; i++) {
        int r = cli_browser_option(&bo, argc, argv, &i);
        if (r < 0) return 2;
        if (r) continue;
        if (!strcmp(argv[i], "--tokenizer") && i + 1 < argc) tok_path = argv[++i];
        else if (!strcmp(argv[i], "--timeout") && i + 1 < argc) {
            if (!parse_seconds(argv[++i], &bo.timeout_s)) {
                cli_error("--timeout: expected seconds in (0, 86400], got '%s'", argv[i]);
                return 2;
            }
        } else {
            cli_error("unexpected argument '%s'; usage: " RUN_USAGE, argv[i]);
            return 2;
        }
    }
    if (!gptoss_html_page_available()) {
        cli_error("this gptoss was built without libxml2: install libxml2-dev (Debian) and rebuild");
        return 1;
    }
    /* a corpus serves search and its own pages; otherwise SearXNG and the web */
    cli_browser_source *src = cli_browser_source_open(&bo);
    if (!src) return 1;
    gptoss_tokenizer *tok = cli_open_tokenizer(tok_path, NULL);
    if (!tok) {
        cli_browser_source_close(src);
        return 1;
    }
    gptoss_browser_backend be = cli_browser_source_backend(src);
    gptoss_browser *br = NULL;
    if (gptoss_browser_create(tok, &be, NULL, &br) != GPTOSS_OK) {
        cli_error("out of memory");
        gptoss_tokenizer_free(tok);
        cli_browser_source_close(src);
        return 1;
    }
    char *line = NULL;
    size_t cap = 0, line_no = 0;
    ssize_t n;
    int rc = 0;
    while ((n = getline(&line, &cap, stdin)) > 0) {
        line_no++;
        size_t len = (size_t)n;
        while (len && (line[len - 1] == '\n' || line[len - 1] == '\r')) len--;
        if (!len) continue;
        gptoss_buf o = {0};
        if (len > MAX_CALL_BYTES) {
            gptoss_buf_printf(&o, "{\"error\":\"line %zu: longer than %zu bytes\"}\n", line_no, MAX_CALL_BYTES);
            rc = 1;
        } else rc |= run_line(br, line, len, line_no, &o);
        if (o.failed) {
            gptoss_buf_free(&o);
            cli_error("out of memory");
            rc = 1;
            break;
        }
        if (fwrite(o.data, 1, o.len, stdout) != o.len || fflush(stdout) != 0) {
            gptoss_buf_free(&o);
            cli_error("cannot write the replies");
            rc = 1;
            break;
        }
        gptoss_buf_free(&o);
    }
    free(line);
    gptoss_browser_free(br);
    gptoss_tokenizer_free(tok);
    cli_browser_source_close(src);
    return rc;
}

#define TOOL_USAGE "gptoss tool browser replay FIXTURES.jsonl --out OUT.jsonl [--tokenizer PATH] | " RUN_USAGE

int cmd_tool(int argc, char **argv) {
    if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        printf("usage: gptoss tool browser replay FIXTURES.jsonl --out OUT.jsonl [--tokenizer FILE]\n"
               "       " RUN_USAGE "\n\n"
               "replay: runs the browser tool over recorded scenarios (shared/browser/README.md), writes each line\n"
               "back with gptoss's replies, and prints how many replies are identical to the recorded ones.\n"
               "run: reads calls as JSON lines on stdin ({\"function\": \"search\"|\"open\"|\"find\", \"args\": {...}}),\n"
               "runs them against one browser tool over the web (SearXNG search at --search-url, pages over\n"
               "http(s); private addresses refused unless --browser-allow-private) or over a corpus written by\n"
               "`gptoss index` (--corpus), and prints each reply as a JSON line {\"author\": ..., \"text\": ...}.\n\n");
        cmd_tool_corpus_usage(stdout);
        printf("\n");
        cmd_tool_python_usage(stdout);
        return 0;
    }
    if (argc >= 3 && !strcmp(argv[1], "browser") && !strcmp(argv[2], "replay")) return browser_replay(argc - 3, argv + 3);
    if (argc >= 3 && !strcmp(argv[1], "browser") && !strcmp(argv[2], "run")) return browser_run(argc - 3, argv + 3);
    if (argc >= 3 && !strcmp(argv[1], "browser") && (!strcmp(argv[2], "search") || !strcmp(argv[2], "open")))
        return cmd_tool_browser_corpus(argc - 3, argv + 3, argv[2]);
    if (argc >= 2 && !strcmp(argv[1], "python")) return cmd_tool_python(argc - 2, argv + 2);
    cli_error("usage: " TOOL_USAGE " | gptoss tool python [options] < CELLS");
    return 2;
}
