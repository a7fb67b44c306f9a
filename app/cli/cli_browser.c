/* cli_browser.c: the browser tool's command-line options and the backend they open (cli_browser.h). */
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/cli_browser.h"
#include "tools/corpus.h"
#include "tools/web.h"

struct cli_browser_source {
    gptoss_web *web;
    gptoss_corpus *corpus;
    gptoss_browser_backend backend;
};

int cli_browser_option(cli_browser_options *o, int argc, char **argv, int *i) {
    const char *a = argv[*i], *v;
    if (!strcmp(a, "--browser")) {
        o->enabled = 1;
        return 1;
    }
    if (!strcmp(a, "--browser-allow-private")) {
        o->enabled = o->allow_private = 1;
        return 1;
    }
    const char *name = cli_option_name(a);
    if (strcmp(name, "--search-url") && strcmp(name, "--corpus") && strcmp(name, "--browser-allow-address") &&
        strcmp(name, "--browser-timeout"))
        return 0;
    if (!(v = cli_next(argc, argv, i))) return -1;
    o->enabled = 1;
    if (!strcmp(name, "--search-url")) o->search_url = v;
    else if (!strcmp(name, "--corpus")) o->corpus_path = v;
    else if (!strcmp(name, "--browser-allow-address")) {
        if (o->n_allow_addresses == CLI_BROWSER_MAX_ALLOW) {
            cli_error("at most %d --browser-allow-address options", CLI_BROWSER_MAX_ALLOW);
            return -1;
        }
        o->allow_addresses[o->n_allow_addresses++] = v;
    } else {
        char *end;
        double s = strtod(v, &end);
        if (end == v || *end || !(s > 0 && s <= 86400)) {
            cli_error("--browser-timeout: expected seconds in (0, 86400], got '%s'", v);
            return -1;
        }
        o->timeout_s = s;
    }
    if (o->search_url && o->corpus_path) {
        cli_error("--corpus and --search-url: give one (a corpus is searched and opened on its own)");
        return -1;
    }
    return 1;
}

cli_browser_source *cli_browser_source_open(const cli_browser_options *o) {
    char err[512] = "";
    cli_browser_source *s = calloc(1, sizeof *s);
    if (!s) {
        cli_error("out of memory");
        return NULL;
    }
    if (o->corpus_path) {
        if (gptoss_corpus_open(o->corpus_path, &s->corpus, err, sizeof err) != GPTOSS_OK) goto fail;
        gptoss_corpus_backend(s->corpus, &s->backend);
        return s;
    }
    gptoss_web_options wo = {.search_url = o->search_url,
                             .allow_private = o->allow_private,
                             .allow_addresses = o->allow_addresses,
                             .n_allow_addresses = o->n_allow_addresses,
                             .timeout_s = o->timeout_s};
    if (gptoss_web_create(&wo, &s->web, err, sizeof err) != GPTOSS_OK) goto fail;
    s->backend = gptoss_web_backend(s->web);
    return s;
fail:
    cli_error("%s", err[0] ? err : "cannot open the browser's backend");
    free(s);
    return NULL;
}

gptoss_browser_backend cli_browser_source_backend(cli_browser_source *s) { return s->backend; }

void cli_browser_source_close(cli_browser_source *s) {
    if (!s) return;
    gptoss_web_free(s->web);
    gptoss_corpus_close(s->corpus);
    free(s);
}
