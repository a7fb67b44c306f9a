/* test_hub.c: the parts of `gptoss pull` that need no network: SHA-256 and SHA-1 (FIPS 180-4 vectors,
 * a git blob id, streamed in odd chunk sizes), model names and repository ids, the cache folder from the environment, snapshot
 * lookup through refs/, listing and removing cached repositories (links removed, never followed), and
 * the Hub's JSON answers and Link headers, valid and corrupt. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/sha1.h"
#include "base/sha256.h"
#include "hub/hub_api.h"
#include "hub/hub_cache.h"
#include "tap.h"

static void test_sha256(void) {
    static const struct {
        const char *in, *hex;
    } vec[] = {
        {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
        {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
        {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
        {"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
         "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"},
    };
    char hex[65];
    for (size_t i = 0; i < sizeof vec / sizeof vec[0]; i++) {
        gptoss_sha256_hex(vec[i].in, strlen(vec[i].in), hex);
        tap_check(!strcmp(hex, vec[i].hex), "sha256 of a %zu-byte FIPS 180-4 vector", strlen(vec[i].in));
    }
    /* a million 'a' in chunks of 1, 3, 63, 64, 65, 1000 bytes: one digest whatever the cut */
    static const size_t chunks[] = {1, 3, 63, 64, 65, 1000, 1 << 20};
    char *a = malloc(1000000);
    memset(a, 'a', 1000000);
    for (size_t c = 0; c < sizeof chunks / sizeof chunks[0]; c++) {
        gptoss_sha256 s;
        gptoss_sha256_init(&s);
        for (size_t off = 0; off < 1000000; off += chunks[c])
            gptoss_sha256_update(&s, a + off, 1000000 - off < chunks[c] ? 1000000 - off : chunks[c]);
        gptoss_sha256_final_hex(&s, hex);
        tap_check(!strcmp(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"),
                  "sha256 of a million 'a' streamed in %zu-byte chunks", chunks[c]);
    }
    free(a);
    /* every length across the padding boundaries: streamed byte by byte equals one call */
    unsigned char buf[200];
    int same = 1;
    for (size_t n = 0; n < sizeof buf; n++) {
        buf[n] = (unsigned char)(n * 7 + 1);
        char one[65];
        gptoss_sha256_hex(buf, n + 1, one);
        gptoss_sha256 s;
        gptoss_sha256_init(&s);
        for (size_t i = 0; i <= n; i++) gptoss_sha256_update(&s, buf + i, 1);
        gptoss_sha256_final_hex(&s, hex);
        same &= !strcmp(one, hex);
    }
    tap_check(same, "sha256: byte-by-byte equals one call for lengths 1..200");
}

static void test_sha1(void) {
    static const struct {
        const char *in, *hex;
    } vec[] = {
        {"", "da39a3ee5e6b4b0d3255bfef95601890afd80709"},
        {"abc", "a9993e364706816aba3e25717850c26c9cd0d89d"},
        {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", "84983e441c3bd26ebaae4aa1f95129e5e54670f1"},
        /* git hash-object of a file holding "hello\n" */
        {"blob 6\0hello\n", "ce013625030ba8dba906f756967f9e9ca394464a"},
    };
    char hex[41];
    for (size_t i = 0; i < sizeof vec / sizeof vec[0]; i++) {
        size_t len = strlen(vec[i].in);
        if (i == 3) len = 13; /* holds a NUL */
        gptoss_sha1 s;
        gptoss_sha1_init(&s);
        gptoss_sha1_update(&s, vec[i].in, len);
        gptoss_sha1_final_hex(&s, hex);
        tap_check(!strcmp(hex, vec[i].hex), "sha1 of a %zu-byte vector", len);
    }
    char *a = malloc(1000000);
    memset(a, 'a', 1000000);
    static const size_t chunks[] = {1, 63, 65, 4096};
    for (size_t c = 0; c < sizeof chunks / sizeof chunks[0]; c++) {
        gptoss_sha1 s;
        gptoss_sha1_init(&s);
        for (size_t off = 0; off < 1000000; off += chunks[c])
            gptoss_sha1_update(&s, a + off, 1000000 - off < chunks[c] ? 1000000 - off : chunks[c]);
        gptoss_sha1_final_hex(&s, hex);
        tap_check(!strcmp(hex, "34aa973cd4c4daa4f61eeb2bdbad27316534016f"), "sha1 of a million 'a' in %zu-byte chunks",
                  chunks[c]);
    }
    free(a);
}

static void test_names(void) {
    char repo[128];
    tap_check(gptoss_hub_name_to_repo("gpt-oss-20b", repo, sizeof repo) && !strcmp(repo, "openai/gpt-oss-20b"),
              "gpt-oss-20b is openai/gpt-oss-20b");
    tap_check(gptoss_hub_name_to_repo("gpt-oss-120b", repo, sizeof repo) && !strcmp(repo, "openai/gpt-oss-120b"),
              "gpt-oss-120b is openai/gpt-oss-120b");
    tap_check(gptoss_hub_name_to_repo("unsloth/gpt-oss-20b-GGUF", repo, sizeof repo) &&
                  !strcmp(repo, "unsloth/gpt-oss-20b-GGUF"),
              "OWNER/NAME is itself");
    static const char *const bad[] = {"gpt-oss", "a/b/c", "../x", "a/..", "a/.b", "a--b/c", "a/b..c", "/a",
                                      "a/", "a b/c", "-a/b", "a/b-", "", "a/b\n"};
    int none = 1;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) none &= !gptoss_hub_name_to_repo(bad[i], repo, sizeof repo);
    tap_check(none, "names that are no repository id (or could leave the cache) are refused");
    tap_check(!gptoss_hub_name_to_repo("gpt-oss-20b", repo, 8), "a name that does not fit the buffer is refused");
    tap_check(gptoss_hub_revision_valid("main") && gptoss_hub_revision_valid("refs/pr/1") &&
                  gptoss_hub_revision_valid("v1.0") && !gptoss_hub_revision_valid("../x") &&
                  !gptoss_hub_revision_valid("/abs") && !gptoss_hub_revision_valid("a b") &&
                  !gptoss_hub_revision_valid("a//b") && !gptoss_hub_revision_valid("") &&
                  !gptoss_hub_revision_valid("a/"),
              "revisions: branches, tags, refs/pr/N; no '..', leading '/', blanks");
    char *d = gptoss_hub_repo_dir("/c", "openai/gpt-oss-20b");
    tap_check(d && !strcmp(d, "/c/models--openai--gpt-oss-20b"), "repo folder models--OWNER--NAME");
    free(d);
}

static void set(const char *k, const char *v) {
    if (v) setenv(k, v, 1);
    else unsetenv(k);
}

static void test_env(const char *tmp) {
    set("HF_HUB_CACHE", NULL);
    set("HUGGINGFACE_HUB_CACHE", NULL);
    set("HF_HOME", NULL);
    set("XDG_CACHE_HOME", NULL);
    set("HOME", "/home/u");
    char *c = gptoss_hub_cache_dir();
    tap_check(c && !strcmp(c, "/home/u/.cache/huggingface/hub"), "cache: HOME/.cache/huggingface/hub by default");
    free(c);
    set("XDG_CACHE_HOME", "/xdg");
    c = gptoss_hub_cache_dir();
    tap_check(c && !strcmp(c, "/xdg/huggingface/hub"), "cache: XDG_CACHE_HOME/huggingface/hub");
    free(c);
    set("HF_HOME", "/hf");
    c = gptoss_hub_cache_dir();
    tap_check(c && !strcmp(c, "/hf/hub"), "cache: HF_HOME/hub");
    free(c);
    set("HF_HUB_CACHE", "/hub");
    c = gptoss_hub_cache_dir();
    tap_check(c && !strcmp(c, "/hub"), "cache: HF_HUB_CACHE wins");
    free(c);
    set("HF_HUB_CACHE", NULL);

    /* the token: HF_TOKEN, else the first line of HF_HOME/token */
    char path[4096];
    set("HF_HOME", tmp);
    snprintf(path, sizeof path, "%s/token", tmp);
    FILE *f = fopen(path, "w");
    fputs("  hf_abc123 \nsecond line\n", f);
    fclose(f);
    set("HF_TOKEN", NULL);
    set("HUGGING_FACE_HUB_TOKEN", NULL);
    set("HF_TOKEN_PATH", NULL);
    char *t = gptoss_hub_token();
    tap_check(t && !strcmp(t, "hf_abc123"), "token: HF_HOME/token's first line, blanks dropped");
    free(t);
    set("HF_TOKEN", "hf_env");
    t = gptoss_hub_token();
    tap_check(t && !strcmp(t, "hf_env"), "token: HF_TOKEN before the file");
    free(t);
    set("HF_TOKEN", NULL);
    unlink(path);
    t = gptoss_hub_token();
    tap_check(t == NULL, "token: none without HF_TOKEN or a token file");
    free(t);
}

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static void test_cache(const char *tmp) {
    char cache[1100], p[4096], err[512];
    snprintf(cache, sizeof cache, "%s/hub", tmp);
    const char *commit = "0123456789abcdef0123456789abcdef01234567";
    const char *dirs[] = {"", "/models--openai--gpt-oss-20b", "/models--openai--gpt-oss-20b/blobs",
                          "/models--openai--gpt-oss-20b/refs", "/models--openai--gpt-oss-20b/snapshots",
                          "/models--openai--gpt-oss-20b/snapshots/0123456789abcdef0123456789abcdef01234567",
                          "/models--acme--m", "/models--acme--m/blobs", "/datasets--x--y", "/models--bad"};
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
        snprintf(p, sizeof p, "%s%s", cache, dirs[i]);
        mkdir(p, 0777);
    }
    snprintf(p, sizeof p, "%s/models--openai--gpt-oss-20b/refs/main", cache);
    write_file(p, commit); /* no newline, as huggingface_hub writes it */
    snprintf(p, sizeof p, "%s/models--openai--gpt-oss-20b/blobs/aaaa", cache);
    write_file(p, "0123456789"); /* 10 bytes */
    snprintf(p, sizeof p, "%s/models--openai--gpt-oss-20b/blobs/bbbb.incomplete", cache);
    write_file(p, "01234"); /* 5 bytes */
    snprintf(p, sizeof p, "%s/models--openai--gpt-oss-20b/snapshots/%s/config.json", cache, commit);
    tap_check(symlink("../../blobs/aaaa", p) == 0, "made a snapshot link");
    snprintf(p, sizeof p, "%s/models--openai--gpt-oss-20b/snapshots/%s/other.json", cache, commit);
    tap_check(symlink("../../blobs/aaaa", p) == 0, "made a second link to the same blob");
    /* a file outside the cache a link points at: rm must not follow it */
    char outside[4096];
    snprintf(outside, sizeof outside, "%s/outside.txt", tmp);
    write_file(outside, "keep me");
    snprintf(p, sizeof p, "%s/models--acme--m/blobs/escape", cache);
    tap_check(symlink(outside, p) == 0, "made a link out of the cache");

    char *snap = NULL;
    gptoss_status st = gptoss_hub_snapshot_dir(cache, "openai/gpt-oss-20b", NULL, &snap, err, sizeof err);
    tap_check(st == GPTOSS_OK && snap && strstr(snap, commit), "refs/main -> snapshots/<commit>");
    free(snap);
    st = gptoss_hub_snapshot_dir(cache, "openai/gpt-oss-20b", commit, &snap, err, sizeof err);
    tap_check(st == GPTOSS_OK && snap, "a commit hash names its snapshot directly");
    free(snap);
    st = gptoss_hub_snapshot_dir(cache, "openai/gpt-oss-120b", NULL, &snap, err, sizeof err);
    tap_check(st == GPTOSS_ERR_IO && !snap && strstr(err, "run `gptoss pull openai/gpt-oss-120b`"),
              "a model not in the cache: the message says which pull to run");
    st = gptoss_hub_snapshot_dir(cache, "openai/gpt-oss-20b", "v2", &snap, err, sizeof err);
    tap_check(st == GPTOSS_ERR_IO && strstr(err, "gptoss pull openai/gpt-oss-20b --revision v2"),
              "a revision not in the cache: the pull names it");
    snprintf(p, sizeof p, "%s/models--acme--m/refs", cache);
    mkdir(p, 0777);
    snprintf(p, sizeof p, "%s/models--acme--m/refs/main", cache);
    write_file(p, "../../../etc");
    st = gptoss_hub_snapshot_dir(cache, "acme/m", NULL, &snap, err, sizeof err);
    tap_check(st == GPTOSS_ERR_IO && !snap, "a refs/main that is not a commit hash is not followed");

    gptoss_hub_entry *e = NULL;
    size_t n = 0;
    st = gptoss_hub_list(cache, &e, &n, err, sizeof err);
    tap_check(st == GPTOSS_OK && n == 2 && !strcmp(e[0].repo_id, "acme/m") && !strcmp(e[1].repo_id, "openai/gpt-oss-20b"),
              "list: the two model folders, sorted, not datasets-- or a malformed name");
    if (st == GPTOSS_OK && n == 2) {
        tap_check(!strcmp(e[1].commit, commit) && e[1].n_snapshots == 1, "list: refs/main's commit, one snapshot");
        tap_check(e[1].size_bytes == 15, "list: size counts each blob once, links not (%llu bytes)",
                  (unsigned long long)e[1].size_bytes);
        tap_check(e[0].commit[0] == 0, "list: no commit when refs/main is not a hash");
    }
    gptoss_hub_list_free(e, n);
    snprintf(p, sizeof p, "%s/nothing", tmp);
    st = gptoss_hub_list(p, &e, &n, err, sizeof err);
    tap_check(st == GPTOSS_OK && n == 0 && !e, "list of a cache that does not exist: empty");

    snprintf(p, sizeof p, "%s/models--acme--m", cache);
    st = gptoss_hub_remove_tree(p, err, sizeof err);
    struct stat sb;
    tap_check(st == GPTOSS_OK && lstat(p, &sb) != 0 && stat(outside, &sb) == 0,
              "rm removes the folder and its links, never what a link points at");
    snprintf(p, sizeof p, "%s/models--openai--gpt-oss-20b", cache);
    st = gptoss_hub_remove_tree(p, err, sizeof err);
    tap_check(st == GPTOSS_OK && lstat(p, &sb) != 0, "rm removes a repository with blobs, snapshots and refs");
    st = gptoss_hub_remove_tree(p, err, sizeof err);
    tap_check(st == GPTOSS_ERR_IO && strstr(err, "models--openai--gpt-oss-20b"), "rm of a missing folder: an error");
    tap_check(gptoss_hub_remove_tree(outside, err, sizeof err) == GPTOSS_ERR_IO, "rm refuses a file");
}

static void test_api(void) {
    char commit[41], err[512];
    const char *rev = "{\"id\":\"o/n\",\"sha\":\"22eacfbe5c00965d12c7e5bd266e83030b0bd89b\",\"siblings\":[]}";
    tap_check(gptoss_hub_parse_revision(rev, strlen(rev), commit, err, sizeof err) == GPTOSS_OK &&
                  !strcmp(commit, "22eacfbe5c00965d12c7e5bd266e83030b0bd89b"),
              "revision answer: the commit");
    static const char *const bad_rev[] = {"", "{", "[]", "{\"sha\":1}", "{\"sha\":\"22EACFBE5C00965D12C7E5BD266E83030B0BD89B\"}",
                                          "{\"sha\":\"22eacf\"}", "{\"sha\":\"../../../../../../../../../../etc/x\"}"};
    int refused = 1;
    for (size_t i = 0; i < sizeof bad_rev / sizeof bad_rev[0]; i++)
        refused &= gptoss_hub_parse_revision(bad_rev[i], strlen(bad_rev[i]), commit, err, sizeof err) == GPTOSS_ERR_FORMAT &&
                   err[0] != 0;
    tap_check(refused, "revision answers without a 40-hex sha are refused with a message");

    const char *tree = "[{\"type\":\"directory\",\"oid\":\"x\",\"size\":0,\"path\":\"original\"},"
                       "{\"type\":\"file\",\"oid\":\"1bbfbbaac41fe929b7dba731cd7df419978d9358\",\"size\":1325,\"path\":\"config.json\"},"
                       "{\"type\":\"file\",\"oid\":\"155e099b9dddb96a7c84dde3617909a1b1caf9f3\",\"size\":134,"
                       "\"path\":\"original/model.safetensors\",\"lfs\":{\"oid\":"
                       "\"06403be0d889b53efa47b3b6c4bca3a513051582748354fb296ec26b617cdf1b\",\"size\":596744,\"pointerSize\":134}}]";
    gptoss_hub_file *files = NULL;
    size_t n = 0;
    gptoss_status st = gptoss_hub_parse_tree(tree, strlen(tree), &files, &n, err, sizeof err);
    tap_check(st == GPTOSS_OK && n == 2, "tree: two files, the directory skipped");
    if (st == GPTOSS_OK && n == 2) {
        tap_check(!strcmp(files[0].path, "config.json") && files[0].size == 1325 && !files[0].is_lfs &&
                      !strcmp(files[0].blob, "1bbfbbaac41fe929b7dba731cd7df419978d9358"),
                  "tree: a small file is named by its git oid");
        tap_check(files[1].is_lfs && files[1].size == 596744 &&
                      !strcmp(files[1].blob, "06403be0d889b53efa47b3b6c4bca3a513051582748354fb296ec26b617cdf1b"),
                  "tree: an LFS file by its sha256, its size from lfs (not the pointer's)");
    }
    /* a second page appends */
    st = gptoss_hub_parse_tree(tree, strlen(tree), &files, &n, err, sizeof err);
    tap_check(st == GPTOSS_OK && n == 4, "tree: a second page appends");
    gptoss_hub_files_free(files, n);

    static const char *const bad_tree[] = {
        "{}", "[1]", "[{\"type\":\"file\"}]",
        "[{\"type\":\"file\",\"oid\":\"1bbfbbaac41fe929b7dba731cd7df419978d9358\",\"size\":1,\"path\":\"../x\"}]",
        "[{\"type\":\"file\",\"oid\":\"1bbfbbaac41fe929b7dba731cd7df419978d9358\",\"size\":1,\"path\":\"/etc/x\"}]",
        "[{\"type\":\"file\",\"oid\":\"1bbfbbaac41fe929b7dba731cd7df419978d9358\",\"size\":1,\"path\":\"a/./b\"}]",
        "[{\"type\":\"file\",\"oid\":\"1bbfbbaac41fe929b7dba731cd7df419978d9358\",\"size\":1,\"path\":\"a//b\"}]",
        "[{\"type\":\"file\",\"oid\":\"1bbfbbaac41fe929b7dba731cd7df419978d9358\",\"size\":1,\"path\":\"a/\"}]",
        "[{\"type\":\"file\",\"oid\":\"1bbfbbaac41fe929b7dba731cd7df419978d9358\",\"size\":1,\"path\":\"a\\u0000b\"}]",
        "[{\"type\":\"file\",\"oid\":\"1bbfbbaac41fe929b7dba731cd7df419978d9358\",\"size\":1,\"path\":\"a\\nb\"}]",
        "[{\"type\":\"file\",\"oid\":\"1bbfbbaac41fe929b7dba731cd7df419978d9358\",\"size\":-1,\"path\":\"a\"}]",
        "[{\"type\":\"file\",\"oid\":\"1bbfbbaac41fe929b7dba731cd7df419978d9358\",\"size\":\"1\",\"path\":\"a\"}]",
        "[{\"type\":\"file\",\"oid\":\"1bbfbbaac41fe929b7dba731cd7df419978d9358\",\"size\":18446744073709551615,\"path\":\"a\"}]",
        "[{\"type\":\"file\",\"oid\":\"../../1bbfbbaac41fe929b7dba731cd7df4199\",\"size\":1,\"path\":\"a\"}]",
        "[{\"type\":\"file\",\"oid\":\"1bbfbbaac41fe929b7dba731cd7df419978d9358\",\"size\":1,\"path\":\"a\",\"lfs\":{\"size\":1}}]",
        ("[{\"type\":\"file\",\"oid\":\"1bbfbbaac41fe929b7dba731cd7df419978d9358\",\"size\":1,\"path\":\"a\",\"lfs\":"
         "{\"oid\":\"1bbfbbaac41fe929b7dba731cd7df419978d9358\",\"size\":1}}]"),
        "[{\"type\":\"file\",\"oid\":\"1bbfbbaac41fe929b7dba731cd7df419978d9358\",\"size\":1,\"path\":\"a\"}",
    };
    refused = 1;
    for (size_t i = 0; i < sizeof bad_tree / sizeof bad_tree[0]; i++) {
        files = NULL;
        n = 0;
        err[0] = 0;
        st = gptoss_hub_parse_tree(bad_tree[i], strlen(bad_tree[i]), &files, &n, err, sizeof err);
        if (st == GPTOSS_OK || !err[0] || strchr(err, '\n')) {
            tap_diag("accepted or silent: %s", bad_tree[i]);
            refused = 0;
        }
        gptoss_hub_files_free(files, n);
    }
    tap_check(refused, "corrupt file lists (unsafe paths, NUL, bad sizes and oids, truncated) refused, one line each");

    char next[512];
    tap_check(gptoss_hub_link_next("<https://h/api/models/o/n/tree/main?recursive=true&cursor=x>; rel=\"next\"", next,
                                   sizeof next) &&
                  !strcmp(next, "https://h/api/models/o/n/tree/main?recursive=true&cursor=x"),
              "Link: the next page");
    tap_check(gptoss_hub_link_next("<https://a/1>; rel=\"prev\", <https://a/3>; rel=\"next\"", next, sizeof next) &&
                  !strcmp(next, "https://a/3"),
              "Link: next after prev");
    tap_check(!gptoss_hub_link_next("<https://a/1>; rel=\"last\"", next, sizeof next) &&
                  !gptoss_hub_link_next("", next, sizeof next) && !gptoss_hub_link_next("<https://a", next, sizeof next) &&
                  !gptoss_hub_link_next("<>; rel=next", next, sizeof next) &&
                  !gptoss_hub_link_next("<https://aaaaaaaaaaaaaaaaaa>; rel=next", next, 8),
              "Link: none, truncated, empty or too long is no next page");
}

int main(void) {
    char tmpl[] = "/tmp/test_hub.XXXXXX";
    const char *base = getenv("GPTOSS_TMP");
    char dir[1024];
    if (base && *base) {
        snprintf(dir, sizeof dir, "%s/test_hub.XXXXXX", base);
    } else {
        snprintf(dir, sizeof dir, "%s", tmpl);
    }
    if (!mkdtemp(dir)) {
        tap_check(0, "mkdtemp: %s", strerror(errno));
        return 1;
    }
    test_sha256();
    test_sha1();
    test_names();
    test_env(dir);
    test_cache(dir);
    test_api();
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) tap_diag("could not remove %s", dir);
    return tap_exit();
}
