/* hub_cache.h: the Hugging Face cache on disk (libc only): where it is, model names -> repository ids
 * -> snapshot folders, listing and removing cached repositories. The layout is the one huggingface_hub
 * writes, so transformers, vLLM and the `hf` CLI share the files both ways:
 *   CACHE/models--OWNER--NAME/blobs/<etag>               file contents, named by sha256 (LFS) or git sha1
 *   CACHE/models--OWNER--NAME/snapshots/<commit>/<path>  relative symlinks into ../../blobs/
 *   CACHE/models--OWNER--NAME/refs/<revision>            the commit hash, no newline */
#ifndef GPTOSS_HUB_CACHE_H
#define GPTOSS_HUB_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "gptoss.h"

/* The cache root: $HF_HUB_CACHE, else $HUGGINGFACE_HUB_CACHE, else HF_HOME/hub. Malloc'd; NULL when
 * neither HF_HOME, XDG_CACHE_HOME nor HOME is set. */
char *gptoss_hub_cache_dir(void);
/* $HF_HOME, else $XDG_CACHE_HOME/huggingface, else $HOME/.cache/huggingface. Malloc'd or NULL. */
char *gptoss_hub_home_dir(void);
/* The access token: $HF_TOKEN, else $HUGGING_FACE_HUB_TOKEN, else the first line of $HF_TOKEN_PATH or
 * HF_HOME/token. Malloc'd; NULL when there is none. Never print it. */
char *gptoss_hub_token(void);

/* 1 when s is a valid repository id "OWNER/NAME" (letters, digits, '-', '_', '.'; no "--" or "..",
 * neither part starting or ending with '-' or '.', at most 96 characters): the ids the Hub accepts,
 * and none of them can escape the cache folder. */
int gptoss_hub_repo_id_valid(const char *s);
/* 1 when s is a valid revision: a branch, tag or commit (no "..", no leading '/', printable ASCII,
 * at most 255 characters). */
int gptoss_hub_revision_valid(const char *s);
/* A model name to a repository id: "gpt-oss-20b" and "gpt-oss-120b" are openai's; "OWNER/NAME" is
 * itself. Writes the id into out and returns 1; 0 when name is neither. */
int gptoss_hub_name_to_repo(const char *name, char *out, size_t out_size);
/* CACHE/models--OWNER--NAME (malloc'd), NULL on a bad id or no memory. */
char *gptoss_hub_repo_dir(const char *cache, const char *repo_id);

/* The snapshot folder of repo_id at `revision` (NULL: main) in `cache`: refs/<revision> names the
 * commit (or revision is a commit hash itself). Returns GPTOSS_OK and a malloc'd path, or
 * GPTOSS_ERR_IO with a message that says which `gptoss pull` command fetches it. */
gptoss_status gptoss_hub_snapshot_dir(const char *cache, const char *repo_id, const char *revision, char **out,
                                      char *err, size_t err_size);

typedef struct gptoss_hub_entry {
    char *repo_id;       /* OWNER/NAME */
    char *path;          /* CACHE/models--OWNER--NAME */
    char commit[41];     /* refs/main's commit ("" when there is no refs/main) */
    uint64_t size_bytes; /* the blobs on disk, each counted once (.incomplete parts included) */
    uint32_t n_snapshots;
} gptoss_hub_entry;

/* Every models--*--* folder of `cache`, sorted by repository id. A cache that does not exist is an
 * empty list. */
gptoss_status gptoss_hub_list(const char *cache, gptoss_hub_entry **out, size_t *n_out, char *err, size_t err_size);
void gptoss_hub_list_free(gptoss_hub_entry *entries, size_t n);
/* Removes the folder `dir` and everything under it without following symlinks (links are removed,
 * never their targets). */
gptoss_status gptoss_hub_remove_tree(const char *dir, char *err, size_t err_size);
/* The size of a file tree in bytes, regular files only, links not followed. */
uint64_t gptoss_hub_tree_bytes(const char *dir);

#endif
