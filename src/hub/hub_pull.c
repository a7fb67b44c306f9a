/* hub_pull.c: `gptoss pull`'s downloads from the Hugging Face Hub with libcurl: the API requests,
 * resumable blob downloads on a few threads, sha256 checks, retries, and the snapshot links written
 * only once every blob is in place. */
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "base/common.h"
#include "base/sha1.h"
#include "base/sha256.h"
#include "hub/hub_api.h"
#include "hub/hub_cache.h"
#include "hub/hub_pull.h"

void gptoss_hub_pull_result_free(gptoss_hub_pull_result *r) {
    if (!r) return;
    free(r->snapshot_dir);
    r->snapshot_dir = NULL;
}

#ifndef GPTOSS_HAVE_LIBCURL

int gptoss_hub_pull_available(void) { return 0; }

gptoss_status gptoss_hub_pull(const char *repo_id, const gptoss_hub_pull_options *options,
                              gptoss_hub_pull_result *out, char *err, size_t err_size) {
    (void)repo_id;
    (void)options;
    if (out) memset(out, 0, sizeof *out);
    return gptoss_fail(GPTOSS_ERR_UNSUPPORTED, err, err_size,
                       "gptoss was built without libcurl: install libcurl4-openssl-dev and rebuild to pull models");
}

#else

#include <curl/curl.h>

#define API_BODY_MAX ((size_t)64 << 20)
#define RETRY_DELAY_MAX_MS 30000u

int gptoss_hub_pull_available(void) { return 1; }

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* What one HTTP answer said beyond its body: the headers a failure is explained by. Reset at each
 * status line, so after redirects it holds the last answer's. */
typedef struct resp {
    char error_code[64];
    char error_message[256];
    char link_next[4096];
    long long range_start; /* Content-Range's first byte, -1 without one */
} resp;

typedef struct pull {
    const gptoss_hub_pull_options *o;
    const char *repo_id, *revision;
    char endpoint[1024];
    char *auth;      /* "Authorization: Bearer ..." or NULL */
    int has_token;
    char commit[41];
    char *repo_dir, *blobs_dir, *locks_dir;
    gptoss_hub_file *files;
    size_t n_files;
    uint8_t *need; /* per file: download its blob */
    uint32_t n_retries;
    uint32_t retry_delay_ms;
    /* the work queue and the first error */
    pthread_mutex_t mu;
    size_t next;
    atomic_int stop;
    gptoss_status st;
    char err[512];
    /* progress, under mu */
    gptoss_hub_progress prog;
    double last_report;
} pull;

/* mkdir -p of path's folders; with `last`, path itself too. */
static int mkdirs(const char *path, int last) {
    char *p = strdup(path);
    if (!p) return -1;
    int rc = 0;
    for (char *s = p + 1; *s && rc == 0; s++)
        if (*s == '/') {
            *s = 0;
            if (mkdir(p, 0777) != 0 && errno != EEXIST) rc = -1;
            *s = '/';
        }
    if (rc == 0 && last && mkdir(p, 0777) != 0 && errno != EEXIST) rc = -1;
    free(p);
    return rc;
}

/* The Hub's own words, printable ASCII only and short: they end up in one line on a terminal. */
static void clean_copy(char *dst, size_t dst_size, const char *src, size_t n) {
    size_t o = 0;
    for (size_t i = 0; i < n && o + 1 < dst_size; i++) {
        unsigned char ch = (unsigned char)src[i];
        dst[o++] = ch >= 0x20 && ch < 0x7f ? (char)ch : ' ';
    }
    while (o && dst[o - 1] == ' ') o--;
    dst[o] = 0;
}

static size_t on_header(char *buf, size_t size, size_t n, void *userdata) {
    resp *r = userdata;
    size_t len = size * n;
    if (len >= 5 && !strncmp(buf, "HTTP/", 5)) {
        memset(r, 0, sizeof *r);
        r->range_start = -1;
        return len;
    }
    const char *colon = memchr(buf, ':', len);
    if (!colon) return len;
    size_t klen = (size_t)(colon - buf);
    const char *v = colon + 1, *end = buf + len;
    while (v < end && (*v == ' ' || *v == '\t')) v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ')) end--;
    size_t vlen = (size_t)(end - v);
    if (klen == 12 && !strncasecmp(buf, "X-Error-Code", 12)) clean_copy(r->error_code, sizeof r->error_code, v, vlen);
    else if (klen == 15 && !strncasecmp(buf, "X-Error-Message", 15))
        clean_copy(r->error_message, sizeof r->error_message, v, vlen);
    else if (klen == 4 && !strncasecmp(buf, "Link", 4)) {
        char value[8192];
        clean_copy(value, sizeof value, v, vlen);
        if (!gptoss_hub_link_next(value, r->link_next, sizeof r->link_next)) r->link_next[0] = 0;
    } else if (klen == 13 && !strncasecmp(buf, "Content-Range", 13)) {
        long long a;
        char text[128];
        clean_copy(text, sizeof text, v, vlen);
        if (sscanf(text, "bytes %lld-", &a) == 1 && a >= 0) r->range_start = a;
    }
    return len;
}

static int on_xfer(void *userdata, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un) {
    (void)dt, (void)dn, (void)ut, (void)un;
    return atomic_load(&((pull *)userdata)->stop) ? 1 : 0;
}

static int setup(pull *p, CURL *c, const char *url, resp *r, char *errbuf) {
    curl_easy_reset(c);
    memset(r, 0, sizeof *r);
    r->range_start = -1;
    errbuf[0] = 0;
    int ok = 1;
    ok &= curl_easy_setopt(c, CURLOPT_URL, url) == CURLE_OK;
    ok &= curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf) == CURLE_OK;
    ok &= curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L) == CURLE_OK;
    /* the Hub and its CDN: http(s) only, redirects included (a Location to file: or ftp: is refused) */
#if LIBCURL_VERSION_NUM >= 0x075500
    ok &= curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https") == CURLE_OK;
    ok &= curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https") == CURLE_OK;
#else
    ok &= curl_easy_setopt(c, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS)) == CURLE_OK;
    ok &= curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS)) == CURLE_OK;
#endif
    ok &= curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L) == CURLE_OK;
    ok &= curl_easy_setopt(c, CURLOPT_MAXREDIRS, 10L) == CURLE_OK;
    ok &= curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 30L) == CURLE_OK;
    /* a stalled transfer (under 1 byte/s for a minute) is a transient failure, retried */
    ok &= curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L) == CURLE_OK;
    ok &= curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L) == CURLE_OK;
    ok &= curl_easy_setopt(c, CURLOPT_USERAGENT, "gptoss/" GPTOSS_VERSION) == CURLE_OK;
    ok &= curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header) == CURLE_OK;
    ok &= curl_easy_setopt(c, CURLOPT_HEADERDATA, r) == CURLE_OK;
    ok &= curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L) == CURLE_OK;
    ok &= curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_xfer) == CURLE_OK;
    ok &= curl_easy_setopt(c, CURLOPT_XFERINFODATA, p) == CURLE_OK;
    return ok;
}

/* Perform with the token: libcurl sends a custom Authorization header to the first host only, so a
 * redirect to the CDN never carries it. */
static CURLcode perform(pull *p, CURL *c, long *code) {
    struct curl_slist *h = NULL;
    if (p->auth) {
        h = curl_slist_append(NULL, p->auth);
        if (!h) return CURLE_OUT_OF_MEMORY;
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    }
    CURLcode rc = curl_easy_perform(c);
    *code = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, code);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(h);
    return rc;
}

static int curl_transient(CURLcode rc) {
    switch (rc) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_PARTIAL_FILE:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_GOT_NOTHING:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
        return 1;
    default:
        return 0;
    }
}

static int http_transient(long code) { return code == 429 || code >= 500; }

/* The one line a refused request becomes. `what` names the request ("the file list", a path). */
static gptoss_status http_error(pull *p, long code, const resp *r, const char *what, char *err, size_t err_size) {
    const char *msg = r->error_message;
    char said[300] = "";
    if (msg[0]) snprintf(said, sizeof said, " (the Hub: %s)", msg);
    if (!strcmp(r->error_code, "GatedRepo") || (code == 403 && (strstr(msg, "gated") || strstr(msg, "restricted"))))
        return gptoss_fail(GPTOSS_ERR_IO, err, err_size,
                           "%s is a gated repository: accept its terms at %s/%s with your account, then set HF_TOKEN "
                           "(or run `hf auth login`) to a token of that account%s",
                           p->repo_id, p->endpoint, p->repo_id, said);
    if (!strcmp(r->error_code, "RepoNotFound"))
        return gptoss_fail(GPTOSS_ERR_IO, err, err_size, "repository %s not found at %s%s%s", p->repo_id, p->endpoint,
                           p->has_token ? "" : " (a private repository needs HF_TOKEN)", said);
    if (!strcmp(r->error_code, "RevisionNotFound"))
        return gptoss_fail(GPTOSS_ERR_IO, err, err_size, "revision %s not found in %s%s", p->revision, p->repo_id, said);
    if (!strcmp(r->error_code, "EntryNotFound"))
        return gptoss_fail(GPTOSS_ERR_IO, err, err_size, "%s not found in %s at %s%s", what, p->repo_id,
                           p->commit[0] ? p->commit : p->revision, said);
    if (code == 401)
        return gptoss_fail(GPTOSS_ERR_IO, err, err_size,
                           p->has_token ? "the Hub refused the token (401 on %s): check HF_TOKEN or HF_HOME/token%s"
                                        : "the Hub asks for a token (401 on %s): set HF_TOKEN%s",
                           what, said);
    if (code == 403)
        return gptoss_fail(GPTOSS_ERR_IO, err, err_size, "access to %s denied (403 on %s)%s", p->repo_id, what, said);
    if (code == 404)
        return gptoss_fail(GPTOSS_ERR_IO, err, err_size, "%s of %s not found (404)%s", what, p->repo_id, said);
    return gptoss_fail(GPTOSS_ERR_IO, err, err_size, "HTTP %ld on %s of %s%s", code, what, p->repo_id, said);
}

static void set_error(pull *p, gptoss_status st, const char *msg) {
    pthread_mutex_lock(&p->mu);
    if (p->st == GPTOSS_OK) {
        p->st = st;
        snprintf(p->err, sizeof p->err, "%s", msg);
    }
    atomic_store(&p->stop, 1);
    pthread_mutex_unlock(&p->mu);
}

static void notice(pull *p, const char *fmt, ...) GPTOSS_PRINTF(2, 3);
static void notice(pull *p, const char *fmt, ...) {
    if (!p->o->notice) return;
    char line[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&p->mu);
    p->o->notice(p->o->ctx, line);
    pthread_mutex_unlock(&p->mu);
}

/* Waits before try number `attempt` (from 0): the delay doubles, at most 30 s; 0 when stopped. */
static int backoff(pull *p, uint32_t attempt) {
    uint64_t ms = p->retry_delay_ms;
    for (uint32_t i = 0; i < attempt && ms < RETRY_DELAY_MAX_MS; i++) ms *= 2;
    if (ms > RETRY_DELAY_MAX_MS) ms = RETRY_DELAY_MAX_MS;
    for (uint64_t waited = 0; waited < ms; waited += 50) {
        if (atomic_load(&p->stop)) return 0;
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
    }
    return !atomic_load(&p->stop);
}

static double delay_s(pull *p, uint32_t attempt) {
    double ms = p->retry_delay_ms;
    for (uint32_t i = 0; i < attempt && ms < RETRY_DELAY_MAX_MS; i++) ms *= 2;
    return (ms > RETRY_DELAY_MAX_MS ? RETRY_DELAY_MAX_MS : ms) / 1000.0;
}

/* ---- API requests ------------------------------------------------------------------------------ */

static size_t on_api_body(char *data, size_t size, size_t n, void *userdata) {
    gptoss_buf *b = userdata;
    if (b->len + size * n > API_BODY_MAX) return 0;
    gptoss_buf_append(b, data, size * n);
    return b->failed ? 0 : size * n;
}

/* GET url into body (retrying transient failures); anything but 200 is the error `what` explains. */
static gptoss_status api_get(pull *p, CURL *c, const char *url, const char *what, gptoss_buf *body, resp *r,
                             char *err, size_t err_size) {
    char errbuf[CURL_ERROR_SIZE];
    for (uint32_t attempt = 0;; attempt++) {
        body->len = 0;
        if (!setup(p, c, url, r, errbuf) || curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_api_body) != CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_WRITEDATA, body) != CURLE_OK)
            return gptoss_fail(GPTOSS_ERR_INTERNAL, err, err_size, "libcurl refused an option");
        long code;
        CURLcode rc = perform(p, c, &code);
        if (rc == CURLE_OK && code == 200) return body->failed ? gptoss_fail(GPTOSS_ERR_NO_MEMORY, err, err_size, "out of memory") : GPTOSS_OK;
        if (rc == CURLE_WRITE_ERROR)
            return gptoss_fail(GPTOSS_ERR_FORMAT, err, err_size, "%s of %s: the answer is over %zu MiB", what,
                               p->repo_id, API_BODY_MAX >> 20);
        int transient = rc != CURLE_OK ? curl_transient(rc) : http_transient(code);
        if (transient && attempt < p->n_retries) {
            notice(p, "retrying %s in %.0f s: %s", what, delay_s(p, attempt),
                   rc != CURLE_OK ? (errbuf[0] ? errbuf : curl_easy_strerror(rc)) : "server busy or failing");
            if (!backoff(p, attempt)) return gptoss_fail(GPTOSS_ERR_IO, err, err_size, "stopped");
            continue;
        }
        if (rc != CURLE_OK)
            return gptoss_fail(GPTOSS_ERR_IO, err, err_size, "%s of %s from %s: %s", what, p->repo_id, p->endpoint,
                               errbuf[0] ? errbuf : curl_easy_strerror(rc));
        return http_error(p, code, r, what, err, err_size);
    }
}

/* ---- one blob ---------------------------------------------------------------------------------- */

static void progress_add(pull *p, int64_t done, uint64_t fetched, int file_done) {
    pthread_mutex_lock(&p->mu);
    p->prog.done_bytes = (uint64_t)((int64_t)p->prog.done_bytes + done);
    p->prog.fetched_bytes += fetched;
    p->prog.n_files_done += file_done ? 1u : 0u;
    double t = now_s();
    if (p->o->progress && (file_done || t - p->last_report >= 0.1)) {
        p->last_report = t;
        p->o->progress(p->o->ctx, &p->prog);
    }
    pthread_mutex_unlock(&p->mu);
}

typedef struct download {
    pull *p;
    CURL *curl;
    const resp *r;
    int fd;
    const gptoss_hub_file *f;
    gptoss_sha256 sha; /* LFS files: the sha256 of the contents */
    gptoss_sha1 sha1;  /* others: the git blob id, sha1 of "blob SIZE\0" and the contents */
    uint64_t have;     /* bytes in the .incomplete file */
    uint64_t got;  /* received in this attempt */
    int first;
    int write_errno, oversize, bad_range;
} download;

static void hash_reset(download *d) {
    if (d->f->is_lfs) {
        gptoss_sha256_init(&d->sha);
        return;
    }
    char head[40];
    int n = snprintf(head, sizeof head, "blob %llu", (unsigned long long)d->f->size);
    gptoss_sha1_init(&d->sha1);
    gptoss_sha1_update(&d->sha1, head, (size_t)n + 1); /* the NUL is part of git's header */
}

static void hash_update(download *d, const void *data, size_t len) {
    if (d->f->is_lfs) gptoss_sha256_update(&d->sha, data, len);
    else gptoss_sha1_update(&d->sha1, data, len);
}

static size_t on_blob_data(char *data, size_t size, size_t n, void *userdata) {
    download *d = userdata;
    const size_t len = size * n;
    long code = 0;
    curl_easy_getinfo(d->curl, CURLINFO_RESPONSE_CODE, &code);
    if (code != 200 && code != 206) return len; /* an error page: the headers explain it */
    if (d->first) {
        d->first = 0;
        if (code == 200 && d->have > 0) {
            /* the server ignored the Range: start over */
            if (ftruncate(d->fd, 0) != 0 || lseek(d->fd, 0, SEEK_SET) != 0) {
                d->write_errno = errno;
                return 0;
            }
            progress_add(d->p, -(int64_t)d->have, 0, 0);
            d->have = 0;
            hash_reset(d);
        } else if (code == 206 && d->r->range_start != (long long)d->have) {
            d->bad_range = 1;
            return 0;
        }
    }
    if (d->have + len > d->f->size) {
        d->oversize = 1;
        return 0;
    }
    for (size_t off = 0; off < len;) {
        ssize_t w = write(d->fd, data + off, len - off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            d->write_errno = w < 0 ? errno : EIO;
            return 0;
        }
        off += (size_t)w;
    }
    hash_update(d, data, len);
    d->have += len;
    d->got += len;
    progress_add(d->p, (int64_t)len, len, 0);
    return len;
}

/* The first `n` bytes of fd into the hash (a resumed download checks the whole file). */
static int hash_prefix(download *d, uint64_t n) {
    char *buf = malloc(1 << 20);
    if (!buf) return -1;
    uint64_t off = 0;
    while (off < n) {
        size_t want = n - off < (1u << 20) ? (size_t)(n - off) : (1u << 20);
        ssize_t got = pread(d->fd, buf, want, (off_t)off);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) {
            free(buf);
            return -1;
        }
        hash_update(d, buf, (size_t)got);
        off += (uint64_t)got;
    }
    free(buf);
    return 0;
}

static char *resolve_url(pull *p, CURL *c, const char *path) {
    /* the path keeps its '/', each part escaped */
    gptoss_buf b = {0};
    gptoss_buf_printf(&b, "%s/%s/resolve/%s/", p->endpoint, p->repo_id, p->commit);
    const char *s = path;
    while (*s) {
        size_t n = strcspn(s, "/");
        char *e = curl_easy_escape(c, s, (int)n);
        if (!e) {
            gptoss_buf_free(&b);
            return NULL;
        }
        gptoss_buf_puts(&b, e);
        curl_free(e);
        s += n;
        if (*s == '/') {
            gptoss_buf_puts(&b, "/");
            s++;
        }
    }
    if (!gptoss_buf_cstr(&b)) {
        gptoss_buf_free(&b);
        return NULL;
    }
    return b.data;
}

static int file_size_is(const char *path, uint64_t size) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode) && (uint64_t)st.st_size == size;
}

static gptoss_status fetch_blob(pull *p, CURL *c, const gptoss_hub_file *f, char *err, size_t err_size) {
    gptoss_status st = GPTOSS_OK;
    char *blob = gptoss_path_join(p->blobs_dir, f->blob);
    char inc[4200], lock[4200];
    char *url = resolve_url(p, c, f->path);
    int lock_fd = -1, fd = -1;
    if (!blob || !url) {
        st = gptoss_fail(GPTOSS_ERR_NO_MEMORY, err, err_size, "out of memory");
        goto done;
    }
    snprintf(inc, sizeof inc, "%s.incomplete", blob);
    /* the lock file huggingface_hub takes for the same blob (.locks/models--X--Y/<blob>.lock) */
    snprintf(lock, sizeof lock, "%s/%s.lock", p->locks_dir, f->blob);
    lock_fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    if (lock_fd >= 0) {
        while (flock(lock_fd, LOCK_EX) != 0 && errno == EINTR) {
        }
    }
    if (file_size_is(blob, f->size)) { /* another process finished it meanwhile */
        progress_add(p, (int64_t)f->size, 0, 1);
        goto done;
    }
    fd = open(inc, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb) != 0) {
        st = gptoss_fail(GPTOSS_ERR_IO, err, err_size, "%s: %s", inc, strerror(errno));
        goto done;
    }
    resp r;
    download d = {.p = p, .curl = c, .r = &r, .fd = fd, .f = f, .have = (uint64_t)sb.st_size};
    hash_reset(&d);
    if (d.have > f->size) {
        /* not this blob's prefix (the plan counted none of it): start over */
        if (ftruncate(fd, 0) != 0) {
            st = gptoss_fail(GPTOSS_ERR_IO, err, err_size, "%s: %s", inc, strerror(errno));
            goto done;
        }
        d.have = 0;
    }
    if (d.have && hash_prefix(&d, d.have) != 0) {
        st = gptoss_fail(GPTOSS_ERR_IO, err, err_size, "reading %s: %s", inc, strerror(errno));
        goto done;
    }
    char errbuf[CURL_ERROR_SIZE], range[32];
    for (uint32_t attempt = 0;;) {
        /* a plain Range header, not CURLOPT_RESUME_FROM: with it libcurl fails a 200 answer, where
         * starting the file over (on_blob_data) still gets it */
        snprintf(range, sizeof range, "%llu-", (unsigned long long)d.have);
        if (lseek(fd, (off_t)d.have, SEEK_SET) < 0 || !setup(p, c, url, &r, errbuf) ||
            curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_blob_data) != CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_WRITEDATA, &d) != CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_RANGE, d.have ? range : NULL) != CURLE_OK) {
            st = gptoss_fail(GPTOSS_ERR_INTERNAL, err, err_size, "libcurl refused an option");
            goto done;
        }
        if (d.have == f->size && f->size > 0) break; /* a complete .incomplete from an earlier run */
        d.first = 1;
        d.got = 0;
        long code;
        CURLcode rc = perform(p, c, &code);
        if (atomic_load(&p->stop)) {
            st = GPTOSS_ERR_IO; /* another file failed; its message is the one shown */
            goto done;
        }
        if (d.write_errno) {
            st = gptoss_fail(GPTOSS_ERR_IO, err, err_size, "writing %s: %s", inc, strerror(d.write_errno));
            goto done;
        }
        if (d.oversize || d.bad_range) {
            unlink(inc);
            st = gptoss_fail(GPTOSS_ERR_FORMAT, err, err_size,
                             d.oversize ? "%s: the server sent more than the %llu bytes the Hub lists"
                                        : "%s: the server answered a different byte range than asked (%llu bytes held)",
                             f->path, (unsigned long long)d.have);
            goto done;
        }
        if ((rc == CURLE_OK && (code == 200 || code == 206) && d.have == f->size) ||
            (code == 416 && d.have == f->size))
            break;
        if (code == 416) { /* what we hold is not a prefix the server knows: start over */
            if (ftruncate(fd, 0) != 0) {
                st = gptoss_fail(GPTOSS_ERR_IO, err, err_size, "%s: %s", inc, strerror(errno));
                goto done;
            }
            progress_add(p, -(int64_t)d.have, 0, 0);
            d.have = 0;
            hash_reset(&d);
        } else if (code >= 400 && !http_transient(code)) {
            st = http_error(p, code, &r, f->path, err, err_size);
            goto done;
        }
        int short_ok = rc == CURLE_OK && (code == 200 || code == 206); /* ended early without an error */
        int transient = code == 416 || short_ok || (rc != CURLE_OK ? curl_transient(rc) : http_transient(code));
        if (d.got) attempt = 0; /* progress was made: a long download may survive many resets */
        if (!transient || attempt >= p->n_retries) {
            if (rc == CURLE_UNSUPPORTED_PROTOCOL)
                st = gptoss_fail(GPTOSS_ERR_IO, err, err_size, "downloading %s: refused a redirect to a URL that is not http(s)",
                                 f->path);
            else if (rc != CURLE_OK)
                st = gptoss_fail(GPTOSS_ERR_IO, err, err_size, "downloading %s: %s (%llu of %llu bytes kept for resume)",
                                 f->path, errbuf[0] ? errbuf : curl_easy_strerror(rc), (unsigned long long)d.have,
                                 (unsigned long long)f->size);
            else
                st = gptoss_fail(GPTOSS_ERR_IO, err, err_size, "downloading %s: HTTP %ld (%llu of %llu bytes kept)", f->path,
                                 code, (unsigned long long)d.have, (unsigned long long)f->size);
            goto done;
        }
        notice(p, "retrying %s at byte %llu in %.0f s: %s", f->path, (unsigned long long)d.have, delay_s(p, attempt),
               rc != CURLE_OK ? (errbuf[0] ? errbuf : curl_easy_strerror(rc)) : "server busy or failing");
        if (!backoff(p, attempt)) {
            st = GPTOSS_ERR_IO;
            goto done;
        }
        attempt++;
    }
    if (d.have != f->size) {
        st = gptoss_fail(GPTOSS_ERR_FORMAT, err, err_size, "%s: %llu bytes, the Hub lists %llu", f->path,
                         (unsigned long long)d.have, (unsigned long long)f->size);
        goto done;
    }
    char hex[65];
    if (f->is_lfs) gptoss_sha256_final_hex(&d.sha, hex);
    else gptoss_sha1_final_hex(&d.sha1, hex);
    if (strcmp(hex, f->blob)) {
        unlink(inc); /* wrong bytes are no prefix to resume from */
        st = gptoss_fail(GPTOSS_ERR_FORMAT, err, err_size,
                         "checksum mismatch for %s: %s %s, the Hub lists %s (the download was removed)", f->path,
                         f->is_lfs ? "sha256" : "git blob id", hex, f->blob);
        goto done;
    }
    if (fsync(fd) != 0 || rename(inc, blob) != 0) {
        st = gptoss_fail(GPTOSS_ERR_IO, err, err_size, "moving %s into place: %s", inc, strerror(errno));
        goto done;
    }
    progress_add(p, 0, 0, 1);
done:
    if (fd >= 0) close(fd);
    if (lock_fd >= 0) close(lock_fd); /* releases the flock */
    free(blob);
    free(url);
    return st;
}

static void *worker(void *arg) {
    pull *p = arg;
    CURL *c = curl_easy_init();
    if (!c) {
        set_error(p, GPTOSS_ERR_NO_MEMORY, "libcurl: out of memory");
        return NULL;
    }
    for (;;) {
        pthread_mutex_lock(&p->mu);
        size_t i = p->next;
        while (i < p->n_files && !p->need[i]) i++;
        p->next = i + 1;
        pthread_mutex_unlock(&p->mu);
        if (i >= p->n_files || atomic_load(&p->stop)) break;
        char err[512] = "";
        gptoss_status st = fetch_blob(p, c, &p->files[i], err, sizeof err);
        if (st != GPTOSS_OK) {
            if (err[0]) set_error(p, st, err);
            else atomic_store(&p->stop, 1);
            break;
        }
    }
    curl_easy_cleanup(c);
    return NULL;
}

/* ---- the snapshot ------------------------------------------------------------------------------ */

/* snapshots/<commit>/<path> -> ../../blobs/<blob> (one more ../ per folder in path), as
 * huggingface_hub links them. An existing link to the same target is kept. */
static gptoss_status link_file(const char *snap, const gptoss_hub_file *f, char *err, size_t err_size) {
    char *link = gptoss_path_join(snap, f->path);
    gptoss_buf target = {0};
    for (const char *s = f->path; *s; s++)
        if (*s == '/') gptoss_buf_puts(&target, "../");
    gptoss_buf_printf(&target, "../../blobs/%s", f->blob);
    gptoss_status st = GPTOSS_OK;
    if (!link || !gptoss_buf_cstr(&target)) {
        st = gptoss_fail(GPTOSS_ERR_NO_MEMORY, err, err_size, "out of memory");
        goto done;
    }
    char have[4200];
    ssize_t n = readlink(link, have, sizeof have - 1);
    if (n >= 0) {
        have[n] = 0;
        if (!strcmp(have, target.data)) goto done;
    }
    if (mkdirs(link, 0) != 0) {
        st = gptoss_fail(GPTOSS_ERR_IO, err, err_size, "creating the folders of %s: %s", link, strerror(errno));
        goto done;
    }
    char tmp[4300];
    snprintf(tmp, sizeof tmp, "%s.gptoss-link-%ld", link, (long)getpid());
    unlink(tmp);
    if (symlink(target.data, tmp) != 0 || rename(tmp, link) != 0) {
        st = gptoss_fail(GPTOSS_ERR_IO, err, err_size, "linking %s: %s", link, strerror(errno));
        unlink(tmp);
    }
done:
    free(link);
    gptoss_buf_free(&target);
    return st;
}

static gptoss_status write_ref(pull *p, char *err, size_t err_size) {
    char *refs = gptoss_path_join(p->repo_dir, "refs");
    char *path = refs ? gptoss_path_join(refs, p->revision) : NULL;
    free(refs);
    char tmp[4300];
    gptoss_status st = GPTOSS_OK;
    if (!path) return gptoss_fail(GPTOSS_ERR_NO_MEMORY, err, err_size, "out of memory");
    snprintf(tmp, sizeof tmp, "%s.gptoss-%ld", path, (long)getpid());
    FILE *f = mkdirs(path, 0) == 0 ? fopen(tmp, "w") : NULL;
    /* the commit with no newline, as huggingface_hub writes it */
    int ok = f && fputs(p->commit, f) >= 0;
    if (f && fclose(f) != 0) ok = 0;
    if (!ok || rename(tmp, path) != 0) {
        st = gptoss_fail(GPTOSS_ERR_IO, err, err_size, "writing %s: %s", path, strerror(errno));
        unlink(tmp);
    }
    free(path);
    return st;
}

/* ---- the pull ---------------------------------------------------------------------------------- */

static int matches(const char *const *pats, size_t n, const char *path) {
    for (size_t i = 0; i < n; i++) {
        const char *pat = pats[i];
        size_t len = strlen(pat);
        if (len && pat[len - 1] == '/') {
            char full[1100];
            if (snprintf(full, sizeof full, "%s*", pat) < (int)sizeof full && fnmatch(full, path, 0) == 0) return 1;
        } else if (fnmatch(pat, path, 0) == 0)
            return 1;
    }
    return 0;
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;
static void curl_init(void) { curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT); }

static gptoss_status plan_and_fetch(pull *p, CURL *c, gptoss_hub_pull_result *out, char *err, size_t err_size) {
    const gptoss_hub_pull_options *o = p->o;
    gptoss_buf body = {0};
    resp r;
    char *url = NULL;
    gptoss_status st;
    char *rev = curl_easy_escape(c, p->revision, 0);
    char first[2048];
    if (!rev) return gptoss_fail(GPTOSS_ERR_NO_MEMORY, err, err_size, "out of memory");
    snprintf(first, sizeof first, "%s/api/models/%s/revision/%s", p->endpoint, p->repo_id, rev);
    curl_free(rev);
    st = api_get(p, c, first, "the revision", &body, &r, err, err_size);
    if (st == GPTOSS_OK) st = gptoss_hub_parse_revision(body.data ? body.data : "", body.len, p->commit, err, err_size);
    if (st != GPTOSS_OK) goto done;

    /* the file list at that commit, page by page; each next page must stay on the endpoint */
    snprintf(first, sizeof first, "%s/api/models/%s/tree/%s?recursive=true", p->endpoint, p->repo_id, p->commit);
    url = strdup(first);
    gptoss_hub_file *all = NULL;
    size_t n_all = 0;
    for (int page = 0; url && st == GPTOSS_OK; page++) {
        if (page > 10000) {
            st = gptoss_fail(GPTOSS_ERR_FORMAT, err, err_size, "the Hub's file list has over 10000 pages");
            break;
        }
        st = api_get(p, c, url, "the file list", &body, &r, err, err_size);
        if (st == GPTOSS_OK) st = gptoss_hub_parse_tree(body.data ? body.data : "", body.len, &all, &n_all, err, err_size);
        free(url);
        url = NULL;
        if (st == GPTOSS_OK && r.link_next[0]) {
            size_t el = strlen(p->endpoint);
            if (strncmp(r.link_next, p->endpoint, el) || r.link_next[el] != '/')
                st = gptoss_fail(GPTOSS_ERR_FORMAT, err, err_size, "the Hub's next page is not on %s", p->endpoint);
            else if (!(url = strdup(r.link_next)))
                st = gptoss_fail(GPTOSS_ERR_NO_MEMORY, err, err_size, "out of memory");
        }
    }
    if (st != GPTOSS_OK) {
        gptoss_hub_files_free(all, n_all);
        goto done;
    }
    /* the filters */
    size_t kept = 0;
    for (size_t i = 0; i < n_all; i++) {
        int keep = (!o->n_include || matches(o->include, o->n_include, all[i].path)) &&
                   !matches(o->exclude, o->n_exclude, all[i].path);
        if (keep) all[kept++] = all[i];
        else free(all[i].path);
    }
    p->files = all;
    p->n_files = kept;
    if (!kept) {
        st = gptoss_fail(GPTOSS_ERR_INVALID_ARGUMENT, err, err_size, "no file of %s at %.12s matches%s%s",
                         p->repo_id, p->commit, o->n_include ? " --include" : "", o->n_exclude ? " --exclude" : "");
        goto done;
    }
    if (mkdirs(p->blobs_dir, 1) != 0 || mkdirs(p->locks_dir, 1) != 0) {
        st = gptoss_fail(GPTOSS_ERR_IO, err, err_size, "creating %s: %s", p->blobs_dir, strerror(errno));
        goto done;
    }
    /* what is still to fetch: each blob once, none that is already in the cache */
    p->need = calloc(kept, 1);
    if (!p->need) {
        st = gptoss_fail(GPTOSS_ERR_NO_MEMORY, err, err_size, "out of memory");
        goto done;
    }
    uint64_t to_fetch = 0;
    for (size_t i = 0; i < kept; i++) {
        gptoss_hub_file *f = &p->files[i];
        out->bytes_total += f->size;
        int dup = 0;
        for (size_t j = 0; j < i && !dup; j++) dup = p->need[j] && !strcmp(p->files[j].blob, f->blob);
        char *blob = gptoss_path_join(p->blobs_dir, f->blob);
        if (!blob) {
            st = gptoss_fail(GPTOSS_ERR_NO_MEMORY, err, err_size, "out of memory");
            goto done;
        }
        if (!dup && !file_size_is(blob, f->size)) {
            p->need[i] = 1;
            p->prog.n_files++;
            p->prog.total_bytes += f->size;
            char inc[4200];
            struct stat sb;
            snprintf(inc, sizeof inc, "%s.incomplete", blob);
            uint64_t part = stat(inc, &sb) == 0 && S_ISREG(sb.st_mode) ? (uint64_t)sb.st_size : 0;
            if (part > f->size) part = 0;
            p->prog.done_bytes += part;
            to_fetch += f->size - part;
        }
        free(blob);
    }
    struct statvfs vfs;
    if (to_fetch && statvfs(p->blobs_dir, &vfs) == 0) {
        uint64_t avail = (uint64_t)vfs.f_bavail * (uint64_t)vfs.f_frsize;
        if (avail < to_fetch) {
            st = gptoss_fail(GPTOSS_ERR_IO, err, err_size,
                             "not enough disk space in %s: %.2f GiB to download, %.2f GiB free", p->blobs_dir,
                             (double)to_fetch / (1u << 30), (double)avail / (1u << 30));
            goto done;
        }
    }
    out->n_files = (uint32_t)kept;
    out->n_downloaded = p->prog.n_files;
    /* the downloads */
    uint32_t n_threads = o->n_parallel ? o->n_parallel : 4;
    if (n_threads > 64) n_threads = 64;
    if (n_threads > p->prog.n_files) n_threads = p->prog.n_files;
    pthread_t tids[64];
    uint32_t started = 0;
    for (; started < n_threads; started++)
        if (pthread_create(&tids[started], NULL, worker, p) != 0) break;
    if (n_threads && !started) worker(p);
    for (uint32_t i = 0; i < started; i++) pthread_join(tids[i], NULL);
    out->bytes_fetched = p->prog.fetched_bytes;
    if (p->st != GPTOSS_OK) {
        st = gptoss_fail(p->st, err, err_size, "%s", p->err);
        goto done;
    }
    if (o->progress) {
        p->prog.finished = 1;
        o->progress(o->ctx, &p->prog);
    }
    /* every blob is verified and in place: now the snapshot, then the ref */
    char *snaps = gptoss_path_join(p->repo_dir, "snapshots");
    out->snapshot_dir = snaps ? gptoss_path_join(snaps, p->commit) : NULL;
    free(snaps);
    if (!out->snapshot_dir) {
        st = gptoss_fail(GPTOSS_ERR_NO_MEMORY, err, err_size, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < kept && st == GPTOSS_OK; i++) st = link_file(out->snapshot_dir, &p->files[i], err, err_size);
    if (st == GPTOSS_OK && strcmp(p->revision, p->commit)) st = write_ref(p, err, err_size);
    memcpy(out->commit, p->commit, sizeof out->commit);
done:
    free(url);
    gptoss_buf_free(&body);
    return st;
}

gptoss_status gptoss_hub_pull(const char *repo_id, const gptoss_hub_pull_options *options,
                              gptoss_hub_pull_result *out, char *err, size_t err_size) {
    static const gptoss_hub_pull_options defaults = {0};
    const gptoss_hub_pull_options *o = options ? options : &defaults;
    gptoss_hub_pull_result res = {0};
    if (out) memset(out, 0, sizeof *out);
    pull p = {.o = o, .repo_id = repo_id, .revision = o->revision ? o->revision : "main"};
    if (!gptoss_hub_repo_id_valid(repo_id))
        return gptoss_fail(GPTOSS_ERR_INVALID_ARGUMENT, err, err_size,
                           "'%s' is not a repository id (OWNER/NAME, e.g. openai/gpt-oss-20b)", repo_id ? repo_id : "");
    if (!gptoss_hub_revision_valid(p.revision))
        return gptoss_fail(GPTOSS_ERR_INVALID_ARGUMENT, err, err_size, "'%s' is not a revision", p.revision);
    const char *ep = o->endpoint;
    if (!ep && !(ep = getenv("HF_ENDPOINT"))) ep = "https://huggingface.co";
    size_t el = strlen(ep);
    while (el && ep[el - 1] == '/') el--;
    if ((strncmp(ep, "https://", 8) && strncmp(ep, "http://", 7)) || el >= sizeof p.endpoint)
        return gptoss_fail(GPTOSS_ERR_INVALID_ARGUMENT, err, err_size, "the Hub endpoint must be an http(s) URL");
    memcpy(p.endpoint, ep, el);
    p.endpoint[el] = 0;
    pthread_once(&curl_once, curl_init);
    if (curl_init_rc != CURLE_OK) return gptoss_fail(GPTOSS_ERR_INTERNAL, err, err_size, "libcurl failed to start");

    char *cache = o->cache_dir ? strdup(o->cache_dir) : gptoss_hub_cache_dir();
    char *token = o->token ? strdup(o->token) : gptoss_hub_token();
    gptoss_status st = GPTOSS_OK;
    CURL *c = NULL;
    if (!cache) {
        st = gptoss_fail(GPTOSS_ERR_IO, err, err_size, "no Hugging Face cache folder: set HF_HOME or HOME");
        goto done;
    }
    p.has_token = token && *token;
    if (p.has_token) {
        for (const char *t = token; *t; t++)
            if ((unsigned char)*t < 0x21 || (unsigned char)*t > 0x7e) {
                st = gptoss_fail(GPTOSS_ERR_INVALID_ARGUMENT, err, err_size, "the token holds a space or control character");
                goto done;
            }
        size_t n = strlen(token) + 32;
        if (!(p.auth = malloc(n))) {
            st = gptoss_fail(GPTOSS_ERR_NO_MEMORY, err, err_size, "out of memory");
            goto done;
        }
        snprintf(p.auth, n, "Authorization: Bearer %s", token);
    }
    p.repo_dir = gptoss_hub_repo_dir(cache, repo_id);
    p.blobs_dir = p.repo_dir ? gptoss_path_join(p.repo_dir, "blobs") : NULL;
    char *locks = gptoss_path_join(cache, ".locks");
    p.locks_dir = locks && p.repo_dir ? gptoss_path_join(locks, strrchr(p.repo_dir, '/') + 1) : NULL;
    free(locks);
    c = curl_easy_init();
    if (!p.blobs_dir || !p.locks_dir || !c) {
        st = gptoss_fail(GPTOSS_ERR_NO_MEMORY, err, err_size, "out of memory");
        goto done;
    }
    p.n_retries = o->retries < 0 ? 0u : o->retries == 0 ? 5u : (uint32_t)o->retries;
    p.retry_delay_ms = o->retry_delay_ms ? o->retry_delay_ms : 1000;
    pthread_mutex_init(&p.mu, NULL);
    st = plan_and_fetch(&p, c, &res, err, err_size);
    pthread_mutex_destroy(&p.mu);
done:
    if (c) curl_easy_cleanup(c);
    if (p.auth) {
        memset(p.auth, 0, strlen(p.auth));
        free(p.auth);
    }
    if (token) {
        memset(token, 0, strlen(token));
        free(token);
    }
    free(cache);
    free(p.repo_dir);
    free(p.blobs_dir);
    free(p.locks_dir);
    gptoss_hub_files_free(p.files, p.n_files);
    free(p.need);
    if (st != GPTOSS_OK) {
        gptoss_hub_pull_result_free(&res);
        return st;
    }
    if (out) *out = res;
    else gptoss_hub_pull_result_free(&res);
    return GPTOSS_OK;
}

#endif
