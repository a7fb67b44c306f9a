/* hub_cache.c: the Hugging Face cache on disk: its root from the environment, model names, snapshot
 * lookup, listing and removal. libc only, so the core never needs libcurl to find a pulled model. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/common.h"
#include "hub/hub_cache.h"

static const char *env(const char *name) {
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

char *gptoss_hub_home_dir(void) {
    const char *v;
    if ((v = env("HF_HOME"))) return strdup(v);
    if ((v = env("XDG_CACHE_HOME"))) return gptoss_path_join(v, "huggingface");
    if ((v = env("HOME"))) return gptoss_path_join(v, ".cache/huggingface");
    return NULL;
}

char *gptoss_hub_cache_dir(void) {
    const char *v;
    if ((v = env("HF_HUB_CACHE")) || (v = env("HUGGINGFACE_HUB_CACHE"))) return strdup(v);
    char *home = gptoss_hub_home_dir();
    char *dir = home ? gptoss_path_join(home, "hub") : NULL;
    free(home);
    return dir;
}

char *gptoss_hub_token(void) {
    const char *v;
    if ((v = env("HF_TOKEN")) || (v = env("HUGGING_FACE_HUB_TOKEN"))) return strdup(v);
    char *home = NULL, *path = NULL;
    if ((v = env("HF_TOKEN_PATH"))) path = strdup(v);
    else if ((home = gptoss_hub_home_dir())) path = gptoss_path_join(home, "token");
    free(home);
    if (!path) return NULL;
    char *text = NULL;
    size_t len = 0;
    char err[8];
    gptoss_status st = gptoss_read_file(path, 4096, &text, &len, err, sizeof err);
    free(path);
    if (st != GPTOSS_OK) return NULL;
    /* the first line, surrounding blanks dropped; anything unprintable makes it no token */
    size_t b = 0, e = strcspn(text, "\r\n");
    while (b < e && (text[b] == ' ' || text[b] == '\t')) b++;
    while (e > b && (text[e - 1] == ' ' || text[e - 1] == '\t')) e--;
    for (size_t i = b; i < e; i++)
        if ((unsigned char)text[i] < 0x21 || (unsigned char)text[i] > 0x7e) e = b;
    char *tok = e > b ? strndup(text + b, e - b) : NULL;
    free(text);
    return tok;
}

static int name_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
           c == '.';
}

static int part_valid(const char *s, size_t n) {
    if (n == 0 || s[0] == '-' || s[0] == '.' || s[n - 1] == '-' || s[n - 1] == '.') return 0;
    for (size_t i = 0; i < n; i++) {
        if (!name_char(s[i])) return 0;
        if (i && ((s[i] == '-' && s[i - 1] == '-') || (s[i] == '.' && s[i - 1] == '.'))) return 0;
    }
    return 1;
}

int gptoss_hub_repo_id_valid(const char *s) {
    if (!s) return 0;
    const char *slash = strchr(s, '/');
    size_t n = strlen(s);
    if (!slash || n > 96) return 0;
    return part_valid(s, (size_t)(slash - s)) && part_valid(slash + 1, n - (size_t)(slash - s) - 1);
}

int gptoss_hub_revision_valid(const char *s) {
    if (!s || !*s || strlen(s) > 255 || s[0] == '/' || strstr(s, "..") || strstr(s, "//")) return 0;
    size_t n = strlen(s);
    if (s[n - 1] == '/') return 0;
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p < 0x21 || (unsigned char)*p > 0x7e || *p == '\\') return 0;
    return 1;
}

int gptoss_hub_name_to_repo(const char *name, char *out, size_t out_size) {
    static const char *const short_names[] = {"gpt-oss-20b", "gpt-oss-120b"};
    if (!name || !out_size) return 0;
    for (size_t i = 0; i < sizeof short_names / sizeof short_names[0]; i++)
        if (!strcmp(name, short_names[i])) return snprintf(out, out_size, "openai/%s", name) < (int)out_size;
    if (!gptoss_hub_repo_id_valid(name)) return 0;
    return snprintf(out, out_size, "%s", name) < (int)out_size;
}

char *gptoss_hub_repo_dir(const char *cache, const char *repo_id) {
    if (!cache || !gptoss_hub_repo_id_valid(repo_id)) return NULL;
    const char *slash = strchr(repo_id, '/');
    size_t n = strlen(cache) + strlen(repo_id) + 16;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/models--%.*s--%s", cache, (int)(slash - repo_id), repo_id, slash + 1);
    return p;
}

static int is_dir(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int is_commit(const char *s) {
    if (strlen(s) != 40) return 0;
    for (const char *p = s; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'))) return 0;
    return 1;
}

/* refs/<revision> of repo_dir: the commit it names, into commit[41]; 0 when absent or not a hash. */
static int read_ref(const char *repo_dir, const char *revision, char commit[41]) {
    char *refs = gptoss_path_join(repo_dir, "refs");
    char *path = refs ? gptoss_path_join(refs, revision) : NULL;
    free(refs);
    char *text = NULL;
    size_t len = 0;
    char err[8];
    int ok = path && gptoss_read_file(path, 256, &text, &len, err, sizeof err) == GPTOSS_OK;
    free(path);
    if (!ok) return 0;
    while (len && (text[len - 1] == '\n' || text[len - 1] == '\r' || text[len - 1] == ' ')) text[--len] = 0;
    ok = is_commit(text);
    if (ok) memcpy(commit, text, 41);
    free(text);
    return ok;
}

gptoss_status gptoss_hub_snapshot_dir(const char *cache, const char *repo_id, const char *revision, char **out,
                                      char *err, size_t err_size) {
    *out = NULL;
    if (!revision) revision = "main";
    if (!gptoss_hub_repo_id_valid(repo_id) || !gptoss_hub_revision_valid(revision))
        return gptoss_fail(GPTOSS_ERR_INVALID_ARGUMENT, err, err_size, "'%s' is not a model repository id",
                           repo_id ? repo_id : "(null)");
    if (!cache)
        return gptoss_fail(GPTOSS_ERR_IO, err, err_size,
                           "no Hugging Face cache folder (set HF_HOME or HOME) for %s", repo_id);
    char *repo = gptoss_hub_repo_dir(cache, repo_id);
    if (!repo) return gptoss_fail(GPTOSS_ERR_NO_MEMORY, err, err_size, "out of memory");
    char commit[41];
    const char *snap_name = NULL;
    if (read_ref(repo, revision, commit)) snap_name = commit;
    else if (is_commit(revision)) snap_name = revision;
    char *snaps = gptoss_path_join(repo, "snapshots");
    char *dir = snaps && snap_name ? gptoss_path_join(snaps, snap_name) : NULL;
    free(snaps);
    free(repo);
    if (!dir || !is_dir(dir)) {
        free(dir);
        if (!strcmp(revision, "main"))
            return gptoss_fail(GPTOSS_ERR_IO, err, err_size, "%s is not in the cache %s: run `gptoss pull %s`",
                               repo_id, cache, repo_id);
        return gptoss_fail(GPTOSS_ERR_IO, err, err_size,
                           "%s at revision %s is not in the cache %s: run `gptoss pull %s --revision %s`", repo_id,
                           revision, cache, repo_id, revision);
    }
    *out = dir;
    return GPTOSS_OK;
}

uint64_t gptoss_hub_tree_bytes(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    uint64_t total = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char *p = gptoss_path_join(dir, e->d_name);
        struct stat st;
        if (p && lstat(p, &st) == 0) {
            if (S_ISREG(st.st_mode)) total += (uint64_t)st.st_size;
            else if (S_ISDIR(st.st_mode)) total += gptoss_hub_tree_bytes(p);
        }
        free(p);
    }
    closedir(d);
    return total;
}

static uint32_t count_entries(const char *dir) {
    DIR *d = opendir(dir);
    uint32_t n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (e->d_name[0] != '.') n++;
    if (d) closedir(d);
    return n;
}

static int entry_cmp(const void *a, const void *b) {
    return strcmp(((const gptoss_hub_entry *)a)->repo_id, ((const gptoss_hub_entry *)b)->repo_id);
}

void gptoss_hub_list_free(gptoss_hub_entry *entries, size_t n) {
    for (size_t i = 0; entries && i < n; i++) {
        free(entries[i].repo_id);
        free(entries[i].path);
    }
    free(entries);
}

gptoss_status gptoss_hub_list(const char *cache, gptoss_hub_entry **out, size_t *n_out, char *err, size_t err_size) {
    *out = NULL;
    *n_out = 0;
    DIR *d = cache ? opendir(cache) : NULL;
    if (!d) {
        if (!cache || errno == ENOENT) return GPTOSS_OK;
        return gptoss_fail(GPTOSS_ERR_IO, err, err_size, "%s: %s", cache, strerror(errno));
    }
    gptoss_hub_entry *v = NULL;
    size_t n = 0, cap = 0;
    gptoss_status st = GPTOSS_OK;
    struct dirent *e;
    while ((e = readdir(d))) {
        /* models--OWNER--NAME: the id is OWNER/NAME, and valid ids hold no "--" */
        if (strncmp(e->d_name, "models--", 8)) continue;
        const char *rest = e->d_name + 8, *sep = strstr(rest, "--");
        if (!sep) continue;
        char id[128];
        if (snprintf(id, sizeof id, "%.*s/%s", (int)(sep - rest), rest, sep + 2) >= (int)sizeof id) continue;
        if (!gptoss_hub_repo_id_valid(id)) continue;
        char *path = gptoss_path_join(cache, e->d_name);
        if (!path || !is_dir(path)) {
            free(path);
            continue;
        }
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 8;
            gptoss_hub_entry *nv = realloc(v, nc * sizeof *nv);
            if (!nv) {
                free(path);
                st = gptoss_fail(GPTOSS_ERR_NO_MEMORY, err, err_size, "out of memory");
                break;
            }
            v = nv;
            cap = nc;
        }
        gptoss_hub_entry *en = &v[n];
        memset(en, 0, sizeof *en);
        en->path = path;
        en->repo_id = strdup(id);
        n++;
        if (!en->repo_id) {
            st = gptoss_fail(GPTOSS_ERR_NO_MEMORY, err, err_size, "out of memory");
            break;
        }
        if (!read_ref(path, "main", en->commit)) en->commit[0] = 0;
        char *blobs = gptoss_path_join(path, "blobs"), *snaps = gptoss_path_join(path, "snapshots");
        /* blobs are counted once: the snapshot links point at them */
        en->size_bytes = blobs ? gptoss_hub_tree_bytes(blobs) : 0;
        en->n_snapshots = snaps ? count_entries(snaps) : 0;
        free(blobs);
        free(snaps);
    }
    closedir(d);
    if (st != GPTOSS_OK) {
        gptoss_hub_list_free(v, n);
        return st;
    }
    if (n) qsort(v, n, sizeof *v, entry_cmp);
    *out = v;
    *n_out = n;
    return GPTOSS_OK;
}

gptoss_status gptoss_hub_remove_tree(const char *dir, char *err, size_t err_size) {
    struct stat st;
    if (lstat(dir, &st) != 0) return gptoss_fail(GPTOSS_ERR_IO, err, err_size, "%s: %s", dir, strerror(errno));
    if (!S_ISDIR(st.st_mode)) return gptoss_fail(GPTOSS_ERR_IO, err, err_size, "%s: not a folder", dir);
    if (gptoss_path_remove_tree(dir) != 0)
        return gptoss_fail(GPTOSS_ERR_IO, err, err_size, "removing %s: %s", dir, strerror(errno));
    return GPTOSS_OK;
}
