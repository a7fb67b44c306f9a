/* hub_api.c: parsing the Hub's JSON answers and Link headers (format/json.h does the JSON); every
 * field is checked before it names a file on disk. */
#include <stdlib.h>
#include <string.h>

#include "base/common.h"
#include "format/json.h"
#include "hub/hub_api.h"

static int is_hex(const char *s, size_t len, size_t want) {
    if (len != want) return 0;
    for (size_t i = 0; i < len; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return 0;
    return 1;
}

gptoss_status gptoss_hub_parse_revision(const char *json, size_t len, char commit[41], char *err, size_t err_size) {
    char jerr[128];
    json_doc *doc = json_parse(json, len, jerr, sizeof jerr);
    if (!doc) return gptoss_fail(GPTOSS_ERR_FORMAT, err, err_size, "the Hub's revision answer: %s", jerr);
    const json_value *sha = json_get(json_root(doc), "sha");
    gptoss_status st = GPTOSS_OK;
    if (!sha || sha->type != JSON_STRING || !is_hex(sha->str, sha->len, 40))
        st = gptoss_fail(GPTOSS_ERR_FORMAT, err, err_size, "the Hub's revision answer has no commit hash (\"sha\")");
    else
        memcpy(commit, sha->str, 41);
    json_free(doc);
    return st;
}

int gptoss_hub_path_safe(const char *path, size_t len) {
    if (!path || len == 0 || len > 1024 || strlen(path) != len || path[0] == '/') return 0;
    const char *p = path, *end = path + len;
    while (p < end) {
        const char *slash = memchr(p, '/', (size_t)(end - p));
        const char *e = slash ? slash : end;
        size_t n = (size_t)(e - p);
        if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.')) return 0;
        for (const char *c = p; c < e; c++)
            if ((unsigned char)*c < 0x20 || *c == 0x7f || *c == '\\') return 0;
        p = slash ? slash + 1 : end;
        if (slash && p == end) return 0; /* trailing '/' */
    }
    return 1;
}

void gptoss_hub_files_free(gptoss_hub_file *files, size_t n) {
    for (size_t i = 0; files && i < n; i++) free(files[i].path);
    free(files);
}

/* A size the Hub can mean: a non-negative integer below 2^53 (1 PiB is far past any model). */
static int get_size(const json_value *obj, uint64_t *out) {
    return json_get_uint(obj, "size", out) && *out < ((uint64_t)1 << 53);
}

gptoss_status gptoss_hub_parse_tree(const char *json, size_t len, gptoss_hub_file **files, size_t *n_files,
                                    char *err, size_t err_size) {
    char jerr[128];
    json_doc *doc = json_parse(json, len, jerr, sizeof jerr);
    if (!doc) return gptoss_fail(GPTOSS_ERR_FORMAT, err, err_size, "the Hub's file list: %s", jerr);
    const json_value *root = json_root(doc);
    gptoss_status st = GPTOSS_OK;
    if (root->type != JSON_ARRAY) {
        st = gptoss_fail(GPTOSS_ERR_FORMAT, err, err_size, "the Hub's file list is not an array");
        goto done;
    }
    for (size_t i = 0; i < root->n; i++) {
        const json_value *e = &root->items[i];
        const char *type = json_get_string(e, "type");
        const json_value *path = json_get(e, "path");
        if (!type || !path || path->type != JSON_STRING) {
            st = gptoss_fail(GPTOSS_ERR_FORMAT, err, err_size, "the Hub's file list: entry %zu has no type or path", i);
            goto done;
        }
        if (strcmp(type, "file")) continue;
        if (!gptoss_hub_path_safe(path->str, path->len)) {
            st = gptoss_fail(GPTOSS_ERR_FORMAT, err, err_size, "the Hub's file list: entry %zu has an unsafe path", i);
            goto done;
        }
        gptoss_hub_file f = {0};
        const json_value *lfs = json_get(e, "lfs");
        const json_value *oid;
        if (lfs && lfs->type == JSON_OBJECT) {
            oid = json_get(lfs, "oid");
            f.is_lfs = 1;
            if (!oid || oid->type != JSON_STRING || !is_hex(oid->str, oid->len, 64) || !get_size(lfs, &f.size)) {
                st = gptoss_fail(GPTOSS_ERR_FORMAT, err, err_size,
                                 "the Hub's file list: %s has no sha256 \"oid\" or \"size\" in \"lfs\"", path->str);
                goto done;
            }
        } else {
            oid = json_get(e, "oid");
            if (!oid || oid->type != JSON_STRING || !is_hex(oid->str, oid->len, 40) || !get_size(e, &f.size)) {
                st = gptoss_fail(GPTOSS_ERR_FORMAT, err, err_size,
                                 "the Hub's file list: %s has no git \"oid\" or \"size\"", path->str);
                goto done;
            }
        }
        memcpy(f.blob, oid->str, oid->len + 1);
        if (!(f.path = strdup(path->str))) {
            st = gptoss_fail(GPTOSS_ERR_NO_MEMORY, err, err_size, "out of memory");
            goto done;
        }
        gptoss_hub_file *nv = realloc(*files, (*n_files + 1) * sizeof *nv);
        if (!nv) {
            free(f.path);
            st = gptoss_fail(GPTOSS_ERR_NO_MEMORY, err, err_size, "out of memory");
            goto done;
        }
        *files = nv;
        nv[(*n_files)++] = f;
    }
done:
    json_free(doc);
    return st;
}

int gptoss_hub_link_next(const char *value, char *out, size_t out_size) {
    /* Link: <url1>; rel="next", <url2>; rel="last" */
    const char *p = value;
    while (p && *p) {
        const char *lt = strchr(p, '<');
        if (!lt) return 0;
        const char *gt = strchr(lt + 1, '>');
        if (!gt) return 0;
        const char *next = gt + 1;
        /* the parameters run to the next ',' outside <...> */
        const char *comma = strchr(next, ',');
        size_t plen = comma ? (size_t)(comma - next) : strlen(next);
        int is_next = 0;
        for (size_t i = 0; i + 3 < plen; i++)
            if (!strncmp(next + i, "rel=", 4)) {
                const char *r = next + i + 4;
                size_t rl = plen - i - 4;
                if (rl >= 6 && !strncmp(r, "\"next\"", 6)) is_next = 1;
                else if (rl >= 4 && !strncmp(r, "next", 4) && (rl == 4 || r[4] == ';' || r[4] == ' ')) is_next = 1;
            }
        if (is_next) {
            size_t n = (size_t)(gt - lt - 1);
            if (n == 0 || n >= out_size) return 0;
            memcpy(out, lt + 1, n);
            out[n] = 0;
            return 1;
        }
        p = comma ? comma + 1 : NULL;
    }
    return 0;
}
