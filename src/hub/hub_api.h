/* hub_api.h: what the Hugging Face Hub's API answers, parsed and checked (libc only, fuzzed by
 * fuzz/fuzz_hub_json.c): the commit of a revision, the file list of a tree with sizes and blob names,
 * the next page of a paginated listing. Everything here came over the network: a path that could
 * leave the snapshot folder, a blob name that is not a hash, or a size out of range is refused. */
#ifndef GPTOSS_HUB_API_H
#define GPTOSS_HUB_API_H

#include <stddef.h>
#include <stdint.h>

#include "gptoss.h"

typedef struct gptoss_hub_file {
    char *path;     /* in the repository: relative, '/'-separated, no empty, "." or ".." part */
    uint64_t size;  /* bytes */
    char blob[65];  /* the blob's name: the LFS sha256 (64 hex), else the git blob sha1 (40 hex) */
    int is_lfs;     /* 1: blob is the sha256 of the contents; 0: the git blob sha1; checked after the download */
} gptoss_hub_file;

/* GET {endpoint}/api/models/{repo}/revision/{rev}: the commit hash ("sha", 40 lowercase hex) into
 * commit[41]. GPTOSS_ERR_FORMAT with a message on anything else. */
gptoss_status gptoss_hub_parse_revision(const char *json, size_t len, char commit[41], char *err, size_t err_size);
/* GET {endpoint}/api/models/{repo}/tree/{rev}?recursive=true (one page): appends each "file" entry
 * to *files (*n_files entries; realloc'd), skipping "directory" ones. LFS entries take size and name
 * from "lfs": {"oid", "size"}, others from "oid" and "size". */
gptoss_status gptoss_hub_parse_tree(const char *json, size_t len, gptoss_hub_file **files, size_t *n_files,
                                    char *err, size_t err_size);
void gptoss_hub_files_free(gptoss_hub_file *files, size_t n);
/* 1 when path is safe to create under a snapshot folder (see gptoss_hub_file.path). */
int gptoss_hub_path_safe(const char *path, size_t len);
/* The URL of rel="next" in a Link header value (RFC 8288), into out; 0 when there is none or it does
 * not fit. */
int gptoss_hub_link_next(const char *value, char *out, size_t out_size);

#endif
