/* url.c: urllib.parse as CPython 3.11 behaves (see url.h): urlsplit/urlparse into components,
 * urljoin's segment resolution, urlunparse, quote and unquote. Strings are UTF-8; every delimiter
 * looked at is ASCII, so byte offsets stand in for Python's character offsets. */
#include "tools/url.h"

#include <stdlib.h>
#include <string.h>

#include "tokenizer/unicode.h"
#include "tools/pytext.h"

typedef struct url_parts {
    gptoss_buf scheme, netloc, path, params, query, fragment;
} url_parts;

static void parts_free(url_parts *p) {
    gptoss_buf_free(&p->scheme);
    gptoss_buf_free(&p->netloc);
    gptoss_buf_free(&p->path);
    gptoss_buf_free(&p->params);
    gptoss_buf_free(&p->query);
    gptoss_buf_free(&p->fragment);
}

static void set(gptoss_buf *b, const char *s, size_t n) {
    b->len = 0;
    gptoss_buf_append(b, s, n);
    gptoss_buf_cstr(b);
}

static const char *str(gptoss_buf *b) {
    const char *s = gptoss_buf_cstr(b);
    return s ? s : "";
}

static int scheme_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '+' || c == '-' ||
           c == '.';
}

static int in_list(const char *s, const char *const *list) {
    for (; *list; list++)
        if (!strcmp(s, *list)) return 1;
    return 0;
}

static const char *const uses_relative[] = {"", "ftp", "http", "gopher", "nntp", "imap", "wais", "file", "https",
                                            "shttp", "mms", "prospero", "rtsp", "rtspu", "sftp", "svn", "svn+ssh",
                                            "ws", "wss", NULL};
static const char *const uses_netloc[] = {"", "ftp", "http", "gopher", "nntp", "telnet", "imap", "wais", "file",
                                          "mms", "https", "shttp", "snews", "prospero", "rtsp", "rtspu", "rsync",
                                          "svn", "svn+ssh", "sftp", "nfs", "git", "git+ssh", "ws", "wss", NULL};
static const char *const uses_params[] = {"", "ftp", "hdl", "prospero", "http", "imap", "https", "shttp", "rtsp",
                                          "rtspu", "sip", "sips", "mms", "sftp", "tel", NULL};

/* urlparse(url, default_scheme): 0 on ValueError. */
static int url_parse(const char *url_in, const char *default_scheme, url_parts *p) {
    gptoss_buf u = {0};
    /* lstrip of C0 controls and space, then every tab, CR and LF removed */
    while (*url_in && (unsigned char)*url_in <= 0x20) url_in++;
    for (const char *c = url_in; *c; c++)
        if (*c != '\t' && *c != '\r' && *c != '\n') gptoss_buf_append(&u, c, 1);
    const char *s = str(&u);
    size_t n = u.len;
    set(&p->scheme, "", 0);
    for (const char *c = default_scheme; *c; c++)
        if (*c != '\t' && *c != '\r' && *c != '\n' && (unsigned char)*c > 0x20) gptoss_buf_append(&p->scheme, c, 1);
    gptoss_buf_cstr(&p->scheme);
    set(&p->netloc, "", 0);
    set(&p->query, "", 0);
    set(&p->fragment, "", 0);
    set(&p->params, "", 0);
    const char *colon = memchr(s, ':', n);
    if (colon && colon > s && ((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z'))) {
        size_t i = (size_t)(colon - s), k = 0;
        while (k < i && scheme_char(s[k])) k++;
        if (k == i) {
            p->scheme.len = 0;
            for (k = 0; k < i; k++) {
                char c = s[k] >= 'A' && s[k] <= 'Z' ? (char)(s[k] + 32) : s[k];
                gptoss_buf_append(&p->scheme, &c, 1);
            }
            gptoss_buf_cstr(&p->scheme);
            s += i + 1;
            n -= i + 1;
        }
    }
    if (n >= 2 && s[0] == '/' && s[1] == '/') {
        size_t d = 2;
        while (d < n && s[d] != '/' && s[d] != '?' && s[d] != '#') d++;
        set(&p->netloc, s + 2, d - 2);
        int open = memchr(s + 2, '[', d - 2) != NULL, close = memchr(s + 2, ']', d - 2) != NULL;
        if (open != close) {
            gptoss_buf_free(&u);
            return 0;
        }
        s += d;
        n -= d;
    }
    const char *hash = memchr(s, '#', n);
    if (hash) {
        set(&p->fragment, hash + 1, n - (size_t)(hash - s) - 1);
        n = (size_t)(hash - s);
    }
    const char *q = memchr(s, '?', n);
    if (q) {
        set(&p->query, q + 1, n - (size_t)(q - s) - 1);
        n = (size_t)(q - s);
    }
    set(&p->path, s, n);
    if (in_list(str(&p->scheme), uses_params) && memchr(s, ';', n)) {
        const char *path = str(&p->path);
        const char *slash = strrchr(path, '/');
        const char *semi = strchr(slash ? slash : path, ';');
        if (semi) {
            size_t at = (size_t)(semi - path);
            gptoss_buf params = {0};
            gptoss_buf_append(&params, semi + 1, p->path.len - at - 1);
            gptoss_buf_cstr(&params);
            p->path.len = at;
            gptoss_buf_cstr(&p->path);
            gptoss_buf_free(&p->params);
            p->params = params;
        }
    }
    gptoss_buf_free(&u);
    return 1;
}

static void unparse(gptoss_buf *out, url_parts *p) {
    gptoss_buf url = {0};
    gptoss_buf_append(&url, str(&p->path), p->path.len);
    if (p->params.len) {
        gptoss_buf_append(&url, ";", 1);
        gptoss_buf_append(&url, str(&p->params), p->params.len);
    }
    const char *u = str(&url);
    if (p->netloc.len || (p->scheme.len && in_list(str(&p->scheme), uses_netloc) && strncmp(u, "//", 2) != 0)) {
        gptoss_buf_append(out, "//", 2);
        gptoss_buf_append(out, str(&p->netloc), p->netloc.len);
        if (url.len && u[0] != '/') gptoss_buf_append(out, "/", 1);
    }
    if (p->scheme.len) {
        /* scheme + ":" goes before what was built so far */
        gptoss_buf head = {0};
        gptoss_buf_append(&head, str(&p->scheme), p->scheme.len);
        gptoss_buf_append(&head, ":", 1);
        gptoss_buf_append(&head, out->data, out->len);
        out->len = 0;
        gptoss_buf_append(out, head.data, head.len);
        gptoss_buf_free(&head);
    }
    gptoss_buf_append(out, u, url.len);
    if (p->query.len) {
        gptoss_buf_append(out, "?", 1);
        gptoss_buf_append(out, str(&p->query), p->query.len);
    }
    if (p->fragment.len) {
        gptoss_buf_append(out, "#", 1);
        gptoss_buf_append(out, str(&p->fragment), p->fragment.len);
    }
    gptoss_buf_free(&url);
}

typedef struct seg {
    const char *s;
    size_t n;
} seg;

/* Splits s on "/" into segs (capacity: count of "/" + 1). */
static size_t split_slash(const char *s, size_t n, seg *segs) {
    size_t k = 0, start = 0;
    for (size_t i = 0; i <= n; i++)
        if (i == n || s[i] == '/') {
            segs[k].s = s + start;
            segs[k].n = i - start;
            k++;
            start = i + 1;
        }
    return k;
}

static size_t count_slash(const char *s, size_t n) {
    size_t c = 0;
    for (size_t i = 0; i < n; i++) c += s[i] == '/';
    return c;
}

int gptoss_url_join(const char *base, const char *url, gptoss_buf *out) {
    if (!*base) {
        gptoss_buf_puts(out, url);
        return 1;
    }
    if (!*url) {
        gptoss_buf_puts(out, base);
        return 1;
    }
    url_parts b = {0}, u = {0};
    int ok = url_parse(base, "", &b) && url_parse(url, str(&b.scheme), &u);
    if (!ok) goto done;
    if (strcmp(str(&u.scheme), str(&b.scheme)) != 0 || !in_list(str(&u.scheme), uses_relative)) {
        gptoss_buf_puts(out, url);
        goto done;
    }
    if (in_list(str(&u.scheme), uses_netloc)) {
        if (u.netloc.len) {
            unparse(out, &u);
            goto done;
        }
        set(&u.netloc, str(&b.netloc), b.netloc.len);
    }
    if (!u.path.len && !u.params.len) {
        set(&u.path, str(&b.path), b.path.len);
        set(&u.params, str(&b.params), b.params.len);
        if (!u.query.len) set(&u.query, str(&b.query), b.query.len);
        unparse(out, &u);
        goto done;
    }
    {
        const char *bp = str(&b.path), *up = str(&u.path);
        size_t cap = count_slash(bp, b.path.len) + count_slash(up, u.path.len) + 2;
        seg *segs = malloc(cap * sizeof *segs), *res = malloc(cap * sizeof *res);
        if (!segs || !res) {
            free(segs);
            free(res);
            out->failed = 1;
            goto done;
        }
        size_t ns;
        if (up[0] == '/') {
            ns = split_slash(up, u.path.len, segs);
        } else {
            ns = split_slash(bp, b.path.len, segs);
            if (segs[ns - 1].n != 0) ns--; /* the base's last segment is not a directory */
            ns += split_slash(up, u.path.len, segs + ns);
            /* empty segments in the middle are dropped (first and last kept) */
            size_t w = 1;
            for (size_t i = 1; i + 1 < ns; i++)
                if (segs[i].n) segs[w++] = segs[i];
            if (ns >= 2) segs[w++] = segs[ns - 1];
            else w = ns;
            ns = w;
        }
        size_t nr = 0;
        for (size_t i = 0; i < ns; i++) {
            if (segs[i].n == 2 && !memcmp(segs[i].s, "..", 2)) {
                if (nr) nr--;
            } else if (segs[i].n == 1 && segs[i].s[0] == '.') {
                continue;
            } else {
                res[nr++] = segs[i];
            }
        }
        if (ns && ((segs[ns - 1].n == 1 && segs[ns - 1].s[0] == '.') ||
                   (segs[ns - 1].n == 2 && !memcmp(segs[ns - 1].s, "..", 2)))) {
            res[nr].s = "";
            res[nr++].n = 0;
        }
        gptoss_buf joined = {0};
        for (size_t i = 0; i < nr; i++) {
            if (i) gptoss_buf_append(&joined, "/", 1);
            gptoss_buf_append(&joined, res[i].s, res[i].n);
        }
        if (!joined.len) gptoss_buf_append(&joined, "/", 1);
        set(&u.path, joined.data, joined.len);
        gptoss_buf_free(&joined);
        free(segs);
        free(res);
        unparse(out, &u);
    }
done:
    parts_free(&b);
    parts_free(&u);
    return ok;
}

int gptoss_url_domain(const char *url, gptoss_buf *out) {
    gptoss_buf u = {0};
    if (!strstr(url, "http")) gptoss_buf_puts(&u, "http://");
    gptoss_buf_puts(&u, url);
    url_parts p = {0};
    int ok = url_parse(str(&u), "", &p);
    if (ok) gptoss_buf_append(out, str(&p.netloc), p.netloc.len);
    parts_free(&p);
    gptoss_buf_free(&u);
    return ok;
}

void gptoss_url_quote(gptoss_buf *out, const char *s, size_t n) {
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
            c == '-' || c == '~' || c == '/') {
            gptoss_buf_append(out, &c, 1);
        } else {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};
            gptoss_buf_append(out, e, 3);
        }
    }
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* bytes read as UTF-8 with errors="replace": each maximal invalid subpart becomes U+FFFD */
static void put_lossy(gptoss_buf *out, const char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        uint32_t cp;
        size_t len = gptoss_utf8_decode((const unsigned char *)s + i, n - i, &cp);
        if (cp == 0xFFFFFFFFu) gptoss_buf_append(out, "\xEF\xBF\xBD", 3);
        else gptoss_buf_append(out, s + i, len);
        i += len;
    }
}

void gptoss_url_unquote(gptoss_buf *out, const char *s, size_t n) {
    if (!memchr(s, '%', n)) {
        gptoss_buf_append(out, s, n);
        return;
    }
    size_t i = 0;
    while (i < n) {
        if ((unsigned char)s[i] >= 0x80) { /* non-ASCII runs are kept as they are */
            size_t j = i;
            while (j < n && (unsigned char)s[j] >= 0x80) j++;
            gptoss_buf_append(out, s + i, j - i);
            i = j;
            continue;
        }
        size_t j = i;
        while (j < n && (unsigned char)s[j] < 0x80) j++;
        gptoss_buf bytes = {0};
        for (size_t k = i; k < j; k++) {
            if (s[k] == '%' && k + 2 < j && hexval(s[k + 1]) >= 0 && hexval(s[k + 2]) >= 0) {
                char c = (char)(hexval(s[k + 1]) * 16 + hexval(s[k + 2]));
                gptoss_buf_append(&bytes, &c, 1);
                k += 2;
            } else {
                gptoss_buf_append(&bytes, s + k, 1);
            }
        }
        put_lossy(out, bytes.data ? bytes.data : "", bytes.len);
        gptoss_buf_free(&bytes);
        i = j;
    }
}
