/* cmd_index.c: `gptoss index DIR --out corpus.db [--base-url URL] [--force]`: walks a folder (no
 * symbolic link followed, regular files only), indexes its HTML, Markdown and text files into a
 * corpus database for the browser tool (src/tools/corpus.h), built in a staging folder and moved into
 * place when complete (cli_output.h); prints what was skipped and why, and a summary. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/cli_output.h"
#include "cmd/commands.h"
#include "tools/corpus.h"
#include "tools/html_page.h"

#define MAX_DEPTH 64 /* folders deeper than this are not entered */

typedef struct walk {
    gptoss_corpus_writer *w;
    size_t indexed, skipped, ignored, bytes;
    int fatal;
} walk;

static int kind_of(const char *name, gptoss_corpus_kind *kind) {
    const char *dot = strrchr(name, '.');
    if (!dot) return 0;
    if (!strcasecmp(dot, ".html") || !strcasecmp(dot, ".htm") || !strcasecmp(dot, ".xhtml")) *kind = GPTOSS_CORPUS_HTML;
    else if (!strcasecmp(dot, ".md") || !strcasecmp(dot, ".markdown")) *kind = GPTOSS_CORPUS_MARKDOWN;
    else if (!strcasecmp(dot, ".txt")) *kind = GPTOSS_CORPUS_TEXT;
    else return 0;
    return 1;
}

static void skip(walk *wk, const char *rel, const char *why) {
    printf("skipped %s: %s\n", rel, why);
    wk->skipped++;
}

/* Reads the regular file `name` in dirfd whole (at most the document limit). NULL with *why. */
static char *read_file_at(int dirfd, const char *name, size_t *len, const char **why, char *whybuf, size_t whysize) {
    /* O_NONBLOCK: a FIFO swapped in after the listing must not block the walk */
    int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        snprintf(whybuf, whysize, "cannot read: %s", strerror(errno));
        *why = whybuf;
        if (fd >= 0) close(fd);
        return NULL;
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        *why = "not a regular file";
        return NULL;
    }
    if ((unsigned long long)st.st_size > GPTOSS_CORPUS_MAX_DOC_BYTES) {
        close(fd);
        snprintf(whybuf, whysize, "larger than %zu MiB", GPTOSS_CORPUS_MAX_DOC_BYTES >> 20);
        *why = whybuf;
        return NULL;
    }
    size_t cap = (size_t)st.st_size + 1, n = 0;
    char *buf = malloc(cap + 1);
    if (!buf) {
        close(fd);
        *why = "out of memory";
        return NULL;
    }
    for (;;) {
        if (n == cap) { /* it grew since fstat: read on, up to the limit */
            if (cap > GPTOSS_CORPUS_MAX_DOC_BYTES) break;
            size_t nc = cap * 2 < GPTOSS_CORPUS_MAX_DOC_BYTES + 1 ? cap * 2 : GPTOSS_CORPUS_MAX_DOC_BYTES + 1;
            char *nb = realloc(buf, nc + 1);
            if (!nb) {
                free(buf);
                close(fd);
                *why = "out of memory";
                return NULL;
            }
            buf = nb;
            cap = nc;
        }
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            snprintf(whybuf, whysize, "cannot read: %s", strerror(errno));
            *why = whybuf;
            free(buf);
            close(fd);
            return NULL;
        }
        if (r == 0) break;
        n += (size_t)r;
    }
    close(fd);
    if (n > GPTOSS_CORPUS_MAX_DOC_BYTES) {
        free(buf);
        snprintf(whybuf, whysize, "larger than %zu MiB", GPTOSS_CORPUS_MAX_DOC_BYTES >> 20);
        *why = whybuf;
        return NULL;
    }
    buf[n] = 0;
    *len = n;
    return buf;
}

static int cmp_names(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void index_file(walk *wk, int dirfd, const char *name, const char *rel, gptoss_corpus_kind kind) {
    const char *why = NULL;
    char whybuf[512];
    size_t len = 0;
    char *data = read_file_at(dirfd, name, &len, &why, whybuf, sizeof whybuf);
    if (!data) {
        skip(wk, rel, why);
        return;
    }
    gptoss_status s = gptoss_corpus_writer_add(wk->w, rel, kind, data, len, whybuf, sizeof whybuf);
    free(data);
    if (s == GPTOSS_OK) {
        wk->indexed++;
        wk->bytes += len;
    } else if (s == GPTOSS_ERR_FORMAT || s == GPTOSS_ERR_OUT_OF_RANGE) {
        skip(wk, rel, whybuf);
    } else {
        cli_error("index: %s: %s", rel, whybuf);
        wk->fatal = 1;
    }
}

/* Walks the folder dirfd (rel: its path from the top, "" for the top) in name order, so that the
 * same folder gives the same database. */
static void walk_dir(walk *wk, int dirfd, const char *rel, int depth) {
    int fd2 = dup(dirfd);
    DIR *d = fd2 < 0 ? NULL : fdopendir(fd2);
    if (!d) {
        if (fd2 >= 0) close(fd2);
        skip(wk, *rel ? rel : ".", strerror(errno));
        return;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 64;
            char **nn = nc > ((size_t)-1) / sizeof *nn ? NULL : realloc(names, nc * sizeof *nn);
            if (!nn) break;
            names = nn;
            cap = nc;
        }
        if (!(names[n] = strdup(e->d_name))) break;
        n++;
    }
    if (e) {
        cli_error("index: out of memory listing %s", *rel ? rel : ".");
        wk->fatal = 1;
    }
    closedir(d);
    if (n) qsort(names, n, sizeof *names, cmp_names);
    for (size_t i = 0; i < n && !wk->fatal; i++) {
        const char *name = names[i];
        size_t rl = strlen(rel) + strlen(name) + 2;
        char *child = malloc(rl);
        if (!child) {
            cli_error("index: out of memory");
            wk->fatal = 1;
            break;
        }
        snprintf(child, rl, "%s%s%s", rel, *rel ? "/" : "", name);
        struct stat st;
        gptoss_corpus_kind kind;
        if (name[0] == '.') {
            wk->ignored++; /* .git, editors' files, our own staging folder */
        } else if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
            skip(wk, child, strerror(errno));
        } else if (S_ISLNK(st.st_mode)) {
            /* never followed: a link cannot make a loop or reach outside the folder */
            skip(wk, child, "a symbolic link (not followed)");
        } else if (S_ISDIR(st.st_mode)) {
            int sub = depth < MAX_DEPTH ? openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) : -1;
            if (sub < 0) {
                skip(wk, child, depth < MAX_DEPTH ? strerror(errno) : "folders nested too deep");
            } else {
                walk_dir(wk, sub, child, depth + 1);
                close(sub);
            }
        } else if (!kind_of(name, &kind)) {
            wk->ignored++;
        } else if (!S_ISREG(st.st_mode)) {
            skip(wk, child, "not a regular file");
        } else {
            index_file(wk, dirfd, name, child, kind);
        }
        free(child);
    }
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);
}

/* The base URL, with a "/" added: documents are base + their relative path. */
static char *check_base(const char *base) {
    if (strncmp(base, "http://", 7) && strncmp(base, "https://", 8) && strncmp(base, "file://", 7)) {
        cli_error("index: --base-url %s: give an http://, https:// or file:// URL (links between pages are "
                  "resolved against it, which other schemes do not allow)", base);
        return NULL;
    }
    for (const unsigned char *p = (const unsigned char *)base; *p; p++) {
        if (*p <= ' ' || *p == 0x7F || strchr("\"'<>\\#?", *p)) {
            cli_error("index: --base-url %s: no spaces, quotes, '<', '>', '\\', '#' or '?' in it", base);
            return NULL;
        }
    }
    size_t n = strlen(base);
    char *b = malloc(n + 2);
    if (!b) {
        cli_error("index: out of memory");
        return NULL;
    }
    memcpy(b, base, n + 1);
    if (n && b[n - 1] != '/') memcpy(b + n, "/", 2);
    return b;
}

static void usage(FILE *f) {
    fprintf(f,
            "usage: gptoss index DIR --out corpus.db [--base-url URL] [--force]\n\n"
            "Indexes the HTML (.html, .htm, .xhtml), Markdown (.md, .markdown) and text (.txt) files under DIR\n"
            "into a corpus database for the browser tool (gptoss tool browser search|open --corpus corpus.db).\n"
            "Symbolic links are not followed; hidden files and folders are left out. Each file gets the URL\n"
            "base + its path below DIR (default base %s), so that relative links between\n"
            "indexed pages open other corpus pages; give --base-url https://docs.example.com/ when the folder\n"
            "mirrors a site. HTML is stored as read and served as a fetched page (charset from <meta>);\n"
            "Markdown and text are stored as UTF-8 and shown as simple HTML.\n"
            "corpus.db must not exist (--force replaces it); it is built in a staging folder beside it and\n"
            "moved into place when complete. Needs SQLite (libsqlite3-dev) and libxml2 (libxml2-dev).\n",
            GPTOSS_CORPUS_DEFAULT_BASE);
}

int cmd_index(int argc, char **argv) {
    const char *dir = NULL, *out = NULL, *base_arg = NULL;
    int force = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--out")) {
            if (!(out = cli_next(argc, argv, &i))) return 2;
        } else if (!strcmp(argv[i], "--base-url")) {
            if (!(base_arg = cli_next(argc, argv, &i))) return 2;
        } else if (!strcmp(argv[i], "--force")) {
            force = 1;
        } else if (argv[i][0] != '-' && !dir) {
            dir = argv[i];
        } else {
            cli_error("index: unexpected argument '%s'", argv[i]);
            return 2;
        }
    }
    if (!dir || !out) {
        cli_error("usage: gptoss index DIR --out corpus.db [--base-url URL] [--force]");
        return 2;
    }
    if (!gptoss_corpus_available()) {
        cli_error("index: this gptoss was built without SQLite: install libsqlite3-dev (Debian) and rebuild");
        return 1;
    }
    if (!gptoss_html_page_available()) {
        cli_error("index: this gptoss was built without libxml2: install libxml2-dev (Debian) and rebuild");
        return 1;
    }
    char *base = check_base(base_arg ? base_arg : GPTOSS_CORPUS_DEFAULT_BASE);
    if (!base) return 2;
    int top = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (top < 0) {
        cli_error("index: %s: %s", dir, errno == ENOTDIR ? "not a folder" : strerror(errno));
        free(base);
        return 1;
    }
    double t0 = cli_now_s();
    cli_stage stage;
    if (cli_stage_open(&stage, "index", out, 0, force)) {
        close(top);
        free(base);
        return 1;
    }
    int rc = 1;
    char err[512];
    size_t pl = strlen(stage.dir) + sizeof "/corpus.db";
    char *db_path = malloc(pl);
    walk wk = {0};
    if (!db_path) {
        cli_error("index: out of memory");
        goto done;
    }
    snprintf(db_path, pl, "%s/corpus.db", stage.dir);
    if (gptoss_corpus_writer_create(db_path, base, &wk.w, err, sizeof err) != GPTOSS_OK) {
        cli_error("index: %s", err);
        goto done;
    }
    walk_dir(&wk, top, "", 0);
    if (wk.fatal) goto done;
    if (!wk.indexed) {
        cli_error("index: %s: no HTML, Markdown or text file to index (nothing written)", dir);
        goto done;
    }
    gptoss_corpus_writer *w = wk.w;
    wk.w = NULL;
    if (gptoss_corpus_writer_finish(w, err, sizeof err) != GPTOSS_OK) {
        cli_error("index: %s", err);
        goto done;
    }
    /* mkstemp-like 0600 is not what a shared documentation index wants: as any new file */
    mode_t mask = umask(0);
    umask(mask);
    chmod(db_path, 0666 & ~mask);
    if (cli_stage_commit(&stage, "corpus.db")) goto done;
    printf("index: %zu files indexed (%.1f MB) into %s in %.2f s; %zu skipped, %zu ignored (other types, hidden)\n",
           wk.indexed, (double)wk.bytes / 1e6, out, cli_now_s() - t0, wk.skipped, wk.ignored);
    rc = 0;
done:
    gptoss_corpus_writer_free(wk.w);
    cli_stage_close(&stage);
    free(db_path);
    free(base);
    close(top);
    return rc;
}
