/* cli_python.c: the python tool's command-line options, the check at start and the default data
 * folder of a conversation (cli_python.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/cli_python.h"
#include "tools/sandbox.h"

int cli_python_option(cli_python_options *o, int argc, char **argv, int *i) {
    const char *a = argv[*i], *v;
    if (!strcmp(a, "--python")) {
        o->enabled = 1;
        return 1;
    }
    if (strcmp(a, "--python-exe") && strcmp(a, "--python-data") && strcmp(a, "--python-timeout")) return 0;
    if (!(v = cli_next(argc, argv, i))) return -1;
    o->enabled = 1;
    if (!strcmp(a, "--python-exe")) o->exe = v;
    else if (!strcmp(a, "--python-data")) o->data_dir = v;
    else {
        char *end;
        double s = strtod(v, &end);
        if (end == v || *end || !(s > 0 && s <= 86400)) {
            cli_error("--python-timeout: expected seconds in (0, 86400], got '%s'", v);
            return -1;
        }
        o->timeout_s = s;
    }
    if ((o->exe && !*o->exe) || (o->data_dir && !*o->data_dir)) {
        cli_error("%s: expected a path, got an empty one", a);
        return -1;
    }
    return 1;
}

int cli_python_recipient(const char *r) {
    return r && !strncmp(r, "python", 6) && (!r[6] || r[6] == ' ' || r[6] == '<');
}

gptoss_python_options cli_python_tool_options(const cli_python_options *o) {
    gptoss_python_options po = {.python_exe = o->exe, .data_dir = o->data_dir, .timeout_s = o->timeout_s};
    return po;
}

int cli_python_check(const cli_python_options *o) {
    char err[512] = "";
    gptoss_python_options po = cli_python_tool_options(o);
    if (gptoss_python_check(&po, err, sizeof err) != GPTOSS_OK) {
        cli_error("--python: %s", err[0] ? err : "the sandbox cannot be set up here");
        return 0;
    }
    if (o->data_dir) {
        struct stat sb;
        if (stat(o->data_dir, &sb) != 0) {
            cli_error("--python-data %s: %s", o->data_dir, strerror(errno));
            return 0;
        }
        if (!S_ISDIR(sb.st_mode)) {
            cli_error("--python-data %s: not a folder", o->data_dir);
            return 0;
        }
    }
    return 1;
}

/* mkdir -p (mode 0755 less the umask for what it makes: the folders of conversations below are each
 * 0700, and the sandbox, which runs as another user when gptoss runs as root, must be able to reach
 * them); path is modified in place and restored. */
static int make_parents(char *path) {
    for (char *p = path + 1;; p++) {
        if (*p && *p != '/') continue;
        char saved = *p;
        *p = 0;
        int rc = mkdir(path, 0755);
        int e = errno;
        *p = saved;
        if (rc != 0 && e != EEXIST) {
            errno = e;
            return -1;
        }
        if (!saved) return 0;
    }
}

int cli_python_make_data_dir(char *out, size_t out_size, char *err, size_t err_size) {
    const char *xdg = getenv("XDG_DATA_HOME"), *home = getenv("HOME");
    char base[4096];
    int n;
    /* XDG says a relative $XDG_DATA_HOME is to be ignored */
    if (xdg && xdg[0] == '/') n = snprintf(base, sizeof base, "%s/gptoss/python", xdg);
    else if (home && home[0] == '/') n = snprintf(base, sizeof base, "%s/.local/share/gptoss/python", home);
    else {
        snprintf(err, err_size, "no folder for python's files: set $HOME or $XDG_DATA_HOME, or give --python-data DIR");
        return -1;
    }
    if (n < 0 || (size_t)n >= sizeof base) {
        snprintf(err, err_size, "the python data folder's path is too long; give --python-data DIR");
        return -1;
    }
    if (make_parents(base) != 0) {
        snprintf(err, err_size, "cannot make %s: %s", base, strerror(errno));
        return -1;
    }
    /* As root the sandbox runs as another uid, which cannot pass root's 0700 home (bwrap resolves the
     * folder by its path as that uid, even when given a descriptor). Then a place only root writes and
     * that uid can pass through but not list (0711); each conversation's folder below is 0700, given
     * to that uid by the tool. */
    char ignored[256];
    if (geteuid() == 0 && gptoss_sandbox_unreachable(base, "", ignored, sizeof ignored)) {
        snprintf(base, sizeof base, "%s", CLI_PYTHON_ROOT_DATA);
        if (make_parents(base) != 0 || chmod(base, 0711) != 0) {
            snprintf(err, err_size, "cannot make %s: %s", base, strerror(errno));
            return -1;
        }
        if (gptoss_sandbox_unreachable(base, "--python-data DIR", err, err_size)) return -1;
    }
    char stamp[32] = "conversation";
    time_t now = time(NULL);
    struct tm tm;
    if (localtime_r(&now, &tm)) strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tm);
    n = snprintf(out, out_size, "%s/%s-XXXXXX", base, stamp);
    if (n < 0 || (size_t)n >= out_size) {
        snprintf(err, err_size, "the python data folder's path is too long; give --python-data DIR");
        return -1;
    }
    if (!mkdtemp(out)) { /* mode 0700, a name no other conversation has */
        snprintf(err, err_size, "cannot make a folder in %s: %s", base, strerror(errno));
        return -1;
    }
    return 0;
}
