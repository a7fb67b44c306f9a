/* cli_output.c: staging folders for the commands that write model files (cli_output.h). Everything
 * past the destination's parent is reached through directory descriptors opened with O_NOFOLLOW and
 * *at() calls with AT_SYMLINK_NOFOLLOW, so a symbolic link planted in the way is never written or
 * removed through. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/cli_output.h"

/* The directory `name` in folder `at`, never through a symbolic link; NULL on error. */
static DIR *open_dir_at(int at, const char *name) {
    int fd = openat(at, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return NULL;
    DIR *d = fdopendir(fd);
    if (!d) close(fd);
    return d;
}

int cli_remove_tree_at(int at, const char *name) {
    DIR *d = open_dir_at(at, name);
    if (!d) return -1;
    const int fd = dirfd(d);
    int rc = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        struct stat st;
        if (fstatat(fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
            rc = -1;
            continue;
        }
        if (S_ISDIR(st.st_mode) ? cli_remove_tree_at(fd, e->d_name) : unlinkat(fd, e->d_name, 0)) rc = -1;
    }
    closedir(d);
    if (unlinkat(at, name, AT_REMOVEDIR) != 0) rc = -1;
    return rc;
}

/* mkdir -p of everything before the last component: synth has always created missing parents. */
static int make_parents(const char *parent) {
    size_t n = strlen(parent);
    char *p = malloc(n + 1);
    if (!p) return -1;
    memcpy(p, parent, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (p[i] != '/' && p[i] != 0) continue;
        char c = p[i];
        p[i] = 0;
        if (mkdir(p, 0777) != 0 && errno != EEXIST) {
            int e = errno;
            free(p);
            errno = e;
            return -1;
        }
        p[i] = c;
    }
    free(p);
    return 0;
}

static char *dup_n(const char *s, size_t n) {
    char *r = malloc(n + 1);
    if (r) {
        memcpy(r, s, n);
        r[n] = 0;
    }
    return r;
}

/* 1 when the directory `name` in folder `at` holds any entry, 0 when empty, -1 on error. */
static int has_entries(int at, const char *name) {
    DIR *d = open_dir_at(at, name);
    if (!d) return -1;
    int any = 0;
    struct dirent *e;
    while (!any && (e = readdir(d)) != NULL) any = strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    closedir(d);
    return any;
}

int cli_stage_open(cli_stage *s, const char *cmd, const char *dest, int dest_is_dir, int force) {
    memset(s, 0, sizeof *s);
    s->cmd = cmd;
    s->parent_fd = -1;
    s->dest_is_dir = dest_is_dir;
    size_t n = strlen(dest);
    while (n > 1 && dest[n - 1] == '/') n--; /* "out/" names the folder "out" */
    size_t b = n;
    while (b > 0 && dest[b - 1] != '/') b--;
    s->dest = dup_n(dest, n);
    s->dest_base = dup_n(dest + b, n - b);
    char *parent = b == 0 ? dup_n(".", 1) : dup_n(dest, b > 1 ? b - 1 : 1);
    if (!s->dest || !s->dest_base || !parent) {
        free(parent);
        cli_error("%s: out of memory", cmd);
        cli_stage_close(s);
        return 1;
    }
    if (!s->dest_base[0] || !strcmp(s->dest_base, ".") || !strcmp(s->dest_base, "..")) {
        cli_error("%s: --out %s: name a new folder or file, not '%s'", cmd, dest, s->dest_base[0] ? s->dest_base : "/");
        goto fail;
    }
    if (make_parents(parent) != 0) {
        cli_error("%s: %s: cannot create the folder: %s", cmd, parent, strerror(errno));
        goto fail;
    }
    if ((s->parent_fd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
        cli_error("%s: %s: cannot open the folder: %s", cmd, parent, strerror(errno));
        goto fail;
    }
    struct stat st;
    if (fstatat(s->parent_fd, s->dest_base, &st, AT_SYMLINK_NOFOLLOW) == 0) {
        if (S_ISLNK(st.st_mode)) {
            cli_error("%s: %s is a symbolic link: give the path it points to (nothing is written through a link)",
                      cmd, s->dest);
            goto fail;
        }
        if (dest_is_dir) {
            if (!S_ISDIR(st.st_mode)) {
                cli_error("%s: %s exists and is not a directory", cmd, s->dest);
                goto fail;
            }
            int any = has_entries(s->parent_fd, s->dest_base);
            if (any < 0) {
                cli_error("%s: %s: cannot list: %s", cmd, s->dest, strerror(errno));
                goto fail;
            }
            if (any && !force) {
                cli_error("%s: %s is not empty: %s writes only into a new or empty directory (--force writes its "
                          "own files into it, replacing those of the same names and removing nothing)",
                          cmd, s->dest, cmd);
                goto fail;
            }
            s->merge = any;
        } else {
            if (S_ISDIR(st.st_mode)) {
                cli_error("%s: %s is a directory, not a file", cmd, s->dest);
                goto fail;
            }
            if (!force) {
                cli_error("%s: %s exists: %s does not overwrite files (--force replaces it)", cmd, s->dest, cmd);
                goto fail;
            }
        }
    } else if (errno != ENOENT) {
        cli_error("%s: %s: %s", cmd, s->dest, strerror(errno));
        goto fail;
    }
    /* beside the destination: the same filesystem, so the final rename is atomic and copies nothing */
    size_t plen = strlen(parent), need = plen + 1 + 1 + strlen(s->dest_base) + sizeof ".tmp-XXXXXX";
    s->dir = malloc(need);
    if (!s->dir) {
        cli_error("%s: out of memory", cmd);
        goto fail;
    }
    snprintf(s->dir, need, "%s/.%s.tmp-XXXXXX", parent, s->dest_base);
    if (!mkdtemp(s->dir)) {
        cli_error("%s: %s: cannot create a staging folder: %s", cmd, s->dir, strerror(errno));
        free(s->dir);
        s->dir = NULL;
        goto fail;
    }
    s->dir_base = s->dir + plen + 1;
    free(parent);
    return 0;
fail:
    free(parent);
    cli_stage_close(s);
    return 1;
}

/* Moves one staged entry into dfd; a folder whose name dfd already holds is merged into it. */
static int merge_into(int sfd, int dfd, const char *where, const char *cmd);
static int move_entry(int sfd, int dfd, const char *name, int is_dir, const char *where, const char *cmd) {
    struct stat ds;
    if (!is_dir || fstatat(dfd, name, &ds, AT_SYMLINK_NOFOLLOW) != 0) {
        if (renameat(sfd, name, dfd, name) == 0) return 0;
        cli_error("%s: %s/%s: cannot move into place: %s", cmd, where, name, strerror(errno));
        return 1;
    }
    int rc = 1;
    int s2 = openat(sfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    int d2 = s2 < 0 ? -1 : openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    size_t n = strlen(where) + strlen(name) + 2;
    char *sub = malloc(n);
    if (!sub) cli_error("%s: out of memory", cmd);
    else snprintf(sub, n, "%s/%s", where, name);
    if (sub && (s2 < 0 || d2 < 0))
        cli_error("%s: %s: cannot write into it: %s", cmd, sub,
                  errno == ENOTDIR || errno == ELOOP ? "not a directory (a file or a symbolic link)" : strerror(errno));
    else if (sub)
        rc = merge_into(s2, d2, sub, cmd);
    free(sub);
    if (s2 >= 0) close(s2);
    if (d2 >= 0) close(d2);
    return rc;
}

/* Moves every entry of folder sfd into folder dfd: sub-folders first (so a destination that cannot
 * take one fails before any file is replaced), then files, config.json last (it marks a complete
 * checkpoint, so a reader never sees one whose other files are half old). */
static int merge_into(int sfd, int dfd, const char *where, const char *cmd) {
    int dup_fd = dup(sfd);
    DIR *d = dup_fd < 0 ? NULL : fdopendir(dup_fd);
    if (!d) {
        if (dup_fd >= 0) close(dup_fd);
        cli_error("%s: %s: cannot list the staging folder: %s", cmd, where, strerror(errno));
        return 1;
    }
    int rc = 0, has_config = 0;
    for (int pass = 0; pass < 2 && rc == 0; pass++) {
        rewinddir(d);
        struct dirent *e;
        while (rc == 0 && (e = readdir(d)) != NULL) {
            const char *name = e->d_name;
            if (!strcmp(name, ".") || !strcmp(name, "..")) continue;
            if (!strcmp(name, "config.json")) {
                has_config = 1;
                continue;
            }
            struct stat ss;
            if (fstatat(sfd, name, &ss, AT_SYMLINK_NOFOLLOW) != 0) {
                if (errno == ENOENT) continue; /* moved already: readdir may list a renamed entry again */
                cli_error("%s: staged %s: %s", cmd, name, strerror(errno));
                rc = 1;
            } else if ((S_ISDIR(ss.st_mode) != 0) == (pass == 0)) {
                rc = move_entry(sfd, dfd, name, pass == 0, where, cmd);
            }
        }
    }
    closedir(d);
    if (rc == 0 && has_config) rc = move_entry(sfd, dfd, "config.json", 0, where, cmd);
    return rc;
}

int cli_stage_commit(cli_stage *s, const char *staged_name) {
    if (!s->dir) return 1;
    if (!s->dest_is_dir) {
        int sfd = openat(s->parent_fd, s->dir_base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        int bad = sfd < 0 || renameat(sfd, staged_name, s->parent_fd, s->dest_base) != 0;
        if (bad) cli_error("%s: %s: cannot move into place: %s", s->cmd, s->dest, strerror(errno));
        if (sfd >= 0) close(sfd);
        return bad;
    }
    if (!s->merge) {
        /* mkdtemp made it 0700; a model folder is as readable as any other new folder */
        mode_t mask = umask(0);
        umask(mask);
        if (fchmodat(s->parent_fd, s->dir_base, 0777 & ~mask, 0) != 0 ||
            renameat(s->parent_fd, s->dir_base, s->parent_fd, s->dest_base) != 0) {
            cli_error("%s: %s: cannot move into place: %s", s->cmd, s->dest,
                      errno == ENOTEMPTY || errno == EEXIST ? "something was written into it meanwhile"
                                                            : strerror(errno));
            return 1;
        }
        free(s->dir);
        s->dir = NULL; /* it is the destination now */
        return 0;
    }
    int sfd = openat(s->parent_fd, s->dir_base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    int dfd = openat(s->parent_fd, s->dest_base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    int rc;
    if (sfd < 0 || dfd < 0) {
        cli_error("%s: %s: cannot write into it: %s", s->cmd, s->dest, strerror(errno));
        rc = 1;
    } else {
        rc = merge_into(sfd, dfd, s->dest, s->cmd);
    }
    if (sfd >= 0) close(sfd);
    if (dfd >= 0) close(dfd);
    return rc;
}

void cli_stage_close(cli_stage *s) {
    if (s->dir && s->parent_fd >= 0 && cli_remove_tree_at(s->parent_fd, s->dir_base) != 0 && errno != ENOENT)
        fprintf(stderr, "gptoss: warning: %s: could not remove the staging folder %s: %s\n", s->cmd, s->dir,
                strerror(errno));
    if (s->parent_fd >= 0) close(s->parent_fd);
    free(s->dir);
    free(s->dest);
    free(s->dest_base);
    memset(s, 0, sizeof *s);
    s->parent_fd = -1;
}
