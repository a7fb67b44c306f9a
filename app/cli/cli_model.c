/* cli_model.c: what a MODEL argument names: a path on disk, or a model pulled into the Hugging Face
 * cache by its name (gpt-oss-20b, OWNER/NAME[@REVISION]). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "hub/hub_cache.h"

/* The snapshot paths handed out, freed at exit (a command resolves one or two names). */
static char *resolved[8];
static size_t n_resolved;

static void free_resolved(void) {
    for (size_t i = 0; i < n_resolved; i++) free(resolved[i]);
    n_resolved = 0;
}

const char *cli_model_arg(const char *arg) {
    struct stat st;
    if (!arg || !*arg || stat(arg, &st) == 0) return arg;
    char name[256], repo[128];
    const char *at = strchr(arg, '@');
    const char *revision = at ? at + 1 : NULL;
    if (snprintf(name, sizeof name, "%.*s", at ? (int)(at - arg) : (int)strlen(arg), arg) >= (int)sizeof name ||
        !gptoss_hub_name_to_repo(name, repo, sizeof repo) || (revision && !gptoss_hub_revision_valid(revision)))
        return arg;
    char *cache = gptoss_hub_cache_dir();
    char *dir = NULL, err[1024];
    gptoss_status s = gptoss_hub_snapshot_dir(cache, repo, revision, &dir, err, sizeof err);
    free(cache);
    if (s != GPTOSS_OK) {
        cli_error("%s: no such file or directory, and %s", arg, err);
        return NULL;
    }
    if (n_resolved == sizeof resolved / sizeof resolved[0]) {
        free(dir);
        cli_error("%s: too many model names on one command line", arg);
        return NULL;
    }
    if (n_resolved == 0) atexit(free_resolved);
    resolved[n_resolved++] = dir;
    return dir;
}
