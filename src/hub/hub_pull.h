/* hub_pull.h: downloading a model repository from the Hugging Face Hub into the cache of hub_cache.h
 * (libcurl; a build without it answers GPTOSS_ERR_UNSUPPORTED naming libcurl4-openssl-dev). */
#ifndef GPTOSS_HUB_PULL_H
#define GPTOSS_HUB_PULL_H

#include <stddef.h>
#include <stdint.h>

#include "gptoss.h"

typedef struct gptoss_hub_progress {
    uint64_t done_bytes;  /* of the files this pull fetches, on disk now (resumed parts included) */
    uint64_t total_bytes; /* their sizes */
    uint64_t fetched_bytes; /* received over the network by this pull */
    uint32_t n_files_done, n_files;
    int finished;         /* 1 on the last call */
} gptoss_hub_progress;

typedef struct gptoss_hub_pull_options {
    const char *revision;  /* branch, tag or commit; NULL: main */
    const char *endpoint;  /* NULL: $HF_ENDPOINT, else https://huggingface.co */
    const char *cache_dir; /* NULL: gptoss_hub_cache_dir() */
    const char *token;     /* NULL: gptoss_hub_token() */
    /* fnmatch(3) patterns on repository paths, '*' crossing '/' as huggingface_hub's fnmatch does; a
     * pattern ending in '/' means everything under it. No include: every file. */
    const char *const *include;
    size_t n_include;
    const char *const *exclude;
    size_t n_exclude;
    uint32_t n_parallel;     /* files downloaded at once; 0: 4 */
    int retries;             /* tries after a transient failure (reset, timeout, 5xx, 429); 0: 5, < 0: none */
    uint32_t retry_delay_ms; /* first wait, doubled each time, at most 30 s; 0: 1000 */
    /* Called from the downloading threads, one at a time, at most ten times a second and once with
     * finished = 1. */
    void (*progress)(void *ctx, const gptoss_hub_progress *p);
    /* One line about a retry ("retrying PATH in 2 s: ..."); never holds the token. */
    void (*notice)(void *ctx, const char *line);
    void *ctx;
} gptoss_hub_pull_options;

typedef struct gptoss_hub_pull_result {
    char commit[41];
    char *snapshot_dir;      /* malloc'd */
    uint32_t n_files;        /* in the snapshot after the filters */
    uint32_t n_downloaded;   /* of them, fetched by this pull (others were in the cache) */
    uint64_t bytes_total;    /* their sizes */
    uint64_t bytes_fetched;  /* received over the network */
} gptoss_hub_pull_result;

/* 1 when this build can pull (libcurl was found). */
int gptoss_hub_pull_available(void);
/* Pulls repo_id ("OWNER/NAME"): the revision's commit and file list from the API, each missing blob
 * downloaded to blobs/<name>.incomplete (resumed with a Range request), its size and name checked
 * (the sha256 of an LFS file, the git blob sha1 of another), then moved into place; only when every file is there are the snapshot links
 * and refs/<revision> written. A failure is one line in err: token refused (401), gated (403), no
 * such repository or revision (404), not enough disk space, a checksum mismatch, the network. */
gptoss_status gptoss_hub_pull(const char *repo_id, const gptoss_hub_pull_options *options,
                              gptoss_hub_pull_result *out, char *err, size_t err_size);
void gptoss_hub_pull_result_free(gptoss_hub_pull_result *r);

#endif
