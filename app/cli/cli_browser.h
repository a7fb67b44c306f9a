/* cli_browser.h: the browser tool's options as every command takes them (`--browser`, `--search-url`,
 * `--corpus`, `--browser-allow-private`, `--browser-allow-address`, `--browser-timeout`) and the
 * backend they open: a corpus written by `gptoss index`, or SearXNG and the web. */
#ifndef GPTOSS_CLI_BROWSER_H
#define GPTOSS_CLI_BROWSER_H

#include <stddef.h>

#include "tools/browser.h"

#define CLI_BROWSER_MAX_ALLOW 16

typedef struct cli_browser_options {
    int enabled; /* --browser, or any of the options below */
    const char *search_url;
    const char *corpus_path;
    int allow_private;
    const char *allow_addresses[CLI_BROWSER_MAX_ALLOW];
    size_t n_allow_addresses;
    double timeout_s; /* 0: the web backend's default */
} cli_browser_options;

/* The options' usage lines, for a command's --help. */
#define CLI_BROWSER_USAGE                                                                                    \
    "  --browser            let the model browse (the browser tool: search, open, find)\n"                    \
    "  --search-url URL     a SearXNG server's search endpoint (GET URL?q=...&format=json)\n"                 \
    "  --corpus DB          browse a corpus written by `gptoss index` instead of the web\n"                   \
    "  --browser-allow-private  open pages on loopback and private addresses too\n"                           \
    "  --browser-allow-address IP  open pages on this one address although it is private (repeatable)\n"     \
    "  --browser-timeout S  seconds a search or page fetch may take (default 30)\n"

/* When argv[*i] is a browser option, takes it (and its value, advancing *i) and returns 1; 0 when it
 * is not one; -1 (message printed) when its value is missing or wrong. */
int cli_browser_option(cli_browser_options *o, int argc, char **argv, int *i);

typedef struct cli_browser_source cli_browser_source;

/* Opens the backend the options name (a corpus, else the web); NULL with a message printed when it
 * cannot (a missing library names its Debian package). */
cli_browser_source *cli_browser_source_open(const cli_browser_options *o);
/* The backend for gptoss_browser_create; valid while the source is. A corpus serves one thread. */
gptoss_browser_backend cli_browser_source_backend(cli_browser_source *s);
void cli_browser_source_close(cli_browser_source *s);

#endif
