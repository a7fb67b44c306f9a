/* cmd_tool_corpus.c: `gptoss tool browser search|open --corpus corpus.db ...`: one browser tool call
 * over a local corpus (src/tools/corpus.h), and optionally clicks on links of the page it shows, each
 * reply printed as the model would get it. The way to try a corpus before a model browses it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cmd/commands.h"
#include "format/json.h"
#include "tools/browser.h"
#include "tools/corpus.h"
#include "tools/html_page.h"

#define MAX_CLICKS 64

static const char usage_line[] =
    "usage: gptoss tool browser search --corpus corpus.db [--tokenizer FILE] [--open ID]... QUERY...\n"
    "       gptoss tool browser open --corpus corpus.db [--tokenizer FILE] [--open ID]... URL";

void cmd_tool_corpus_usage(FILE *f) {
    fprintf(f, "%s\n\n"
               "Runs browser.search (the words of QUERY) or browser.open (URL) over a corpus built by gptoss index,\n"
               "then browser.open of each --open link id on the page shown last, and prints every reply.\n",
            usage_line);
}

/* one call; prints its reply. 0, or 1 when no reply could be made */
static int call(gptoss_browser *br, const char *fn, gptoss_buf *args, int first) {
    const char *a = gptoss_buf_cstr(args);
    char *reply = NULL;
    const char *author = NULL;
    if (!a || gptoss_browser_call(br, fn, a, args->len, &reply, &author) != GPTOSS_OK) {
        cli_error("out of memory");
        return 1;
    }
    printf("%s%s\n", first ? "" : "\n", reply);
    free(reply);
    return 0;
}

int cmd_tool_browser_corpus(int argc, char **argv, const char *function) {
    const char *db_path = NULL, *tok_path = NULL;
    long long clicks[MAX_CLICKS];
    size_t n_clicks = 0;
    gptoss_buf target = {0};
    int have_target = 0; /* an empty query is the model's to send too */
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            cmd_tool_corpus_usage(stdout);
            gptoss_buf_free(&target);
            return 0;
        } else if (!strcmp(argv[i], "--corpus") && i + 1 < argc) {
            db_path = argv[++i];
        } else if (!strcmp(argv[i], "--tokenizer") && i + 1 < argc) {
            tok_path = argv[++i];
        } else if (!strcmp(argv[i], "--open") && i + 1 < argc) {
            char *end;
            long long id = strtoll(argv[++i], &end, 10);
            if (*end || end == argv[i] || id < 0 || n_clicks == MAX_CLICKS) {
                cli_error("--open %s: a link id (0, 1, ...), at most %d of them", argv[i], MAX_CLICKS);
                gptoss_buf_free(&target);
                return 2;
            }
            clicks[n_clicks++] = id;
        } else if (argv[i][0] != '-' || !argv[i][1]) {
            if (!strcmp(function, "open") && have_target) {
                cli_error("unexpected argument '%s' (one URL)", argv[i]);
                gptoss_buf_free(&target);
                return 2;
            }
            if (have_target) gptoss_buf_append(&target, " ", 1);
            gptoss_buf_puts(&target, argv[i]);
            have_target = 1;
        } else {
            cli_error("unexpected argument '%s'", argv[i]);
            gptoss_buf_free(&target);
            return 2;
        }
    }
    const char *t = gptoss_buf_cstr(&target);
    if (!db_path || !t || !have_target) {
        cli_error("%s", usage_line);
        gptoss_buf_free(&target);
        return 2;
    }
    if (!gptoss_corpus_available()) {
        cli_error("this gptoss was built without SQLite: install libsqlite3-dev (Debian) and rebuild");
        gptoss_buf_free(&target);
        return 1;
    }
    if (!gptoss_html_page_available()) {
        cli_error("this gptoss was built without libxml2: install libxml2-dev (Debian) and rebuild");
        gptoss_buf_free(&target);
        return 1;
    }
    char err[512];
    gptoss_corpus *corpus = NULL;
    if (gptoss_corpus_open(db_path, &corpus, err, sizeof err) != GPTOSS_OK) {
        cli_error("%s", err);
        gptoss_buf_free(&target);
        return 1;
    }
    gptoss_tokenizer *tok = cli_open_tokenizer(tok_path, NULL);
    gptoss_browser_backend be;
    gptoss_corpus_backend(corpus, &be);
    gptoss_browser *br = NULL;
    int rc = 1;
    if (tok && gptoss_browser_create(tok, &be, NULL, &br) != GPTOSS_OK) cli_error("out of memory");
    if (br) {
        gptoss_buf args = {0};
        gptoss_buf_puts(&args, !strcmp(function, "search") ? "{\"query\":" : "{\"id\":");
        json_write_string(&args, t, target.len);
        gptoss_buf_puts(&args, "}");
        rc = call(br, function, &args, 1);
        for (size_t k = 0; !rc && k < n_clicks; k++) {
            gptoss_buf_free(&args);
            gptoss_buf_printf(&args, "{\"id\":%lld}", clicks[k]);
            rc = call(br, "open", &args, 0);
        }
        gptoss_buf_free(&args);
    }
    if (!rc && fflush(stdout) != 0) {
        cli_error("cannot write the output");
        rc = 1;
    }
    gptoss_browser_free(br);
    gptoss_tokenizer_free(tok);
    gptoss_corpus_close(corpus);
    gptoss_buf_free(&target);
    return rc;
}
