/* html_page.c: the reference's process_html over a libxml2 tree. The page is parsed by libxml2's
 * HTML parser with the options lxml.html uses (recover, no network, compact), the root chosen as
 * lxml.html.fromstring chooses it, then, as in the reference: the title read, every <a href>
 * replaced by its 【id†text】 / 【id†text†domain】 marker (link ids in order of first appearance),
 * every <img> by [Image n: alt], every <math> removed with its tail, the tree serialized as lxml's
 * tostring does (libxml2's own xmlNodeDumpOutput), and that string converted to text
 * (html_text.c, html2text.c). Without libxml2 at build time, process reports what to install. */
#include "tools/html_page.h"

#include <errno.h>
#include <iconv.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/common.h"
#include "tools/html2text.h"
#include "tools/html_text.h"
#include "tools/pytext.h"
#include "tools/url.h"

void gptoss_html_page_free(gptoss_html_page *page) {
    if (!page) return;
    free(page->title);
    free(page->text);
    for (size_t i = 0; i < page->n_urls; i++) free(page->urls[i]);
    free(page->urls);
    memset(page, 0, sizeof *page);
}

/* Converts html from charset to UTF-8 with iconv; undecodable bytes become U+FFFD. */
static gptoss_status to_utf8(const char *html, size_t len, const char *charset, gptoss_buf *out, char *err,
                             size_t err_size) {
    iconv_t cd = iconv_open("UTF-8", charset);
    if (cd == (iconv_t)-1) return gptoss_fail(GPTOSS_ERR_UNSUPPORTED, err, err_size, "unknown charset %s", charset);
    char *in = (char *)html;
    size_t left = len;
    char chunk[4096];
    while (left) {
        char *o = chunk;
        size_t room = sizeof chunk;
        size_t r = iconv(cd, &in, &left, &o, &room);
        gptoss_buf_append(out, chunk, (size_t)(o - chunk));
        if (r == (size_t)-1) {
            if (errno == E2BIG) continue;
            gptoss_buf_append(out, "\xEF\xBF\xBD", 3); /* EILSEQ or EINVAL: skip one byte */
            in++;
            left--;
            iconv(cd, NULL, NULL, NULL, NULL);
        }
        if (out->len > GPTOSS_HTML_MAX_BYTES) break;
    }
    iconv_close(cd);
    return out->failed ? gptoss_fail(GPTOSS_ERR_NO_MEMORY, err, err_size, "out of memory") : GPTOSS_OK;
}

static int is_utf8_name(const char *c) {
    return !c || !*c || !strcasecmp(c, "utf-8") || !strcasecmp(c, "utf8");
}

#ifdef GPTOSS_HAVE_LIBXML2
#include <libxml/HTMLparser.h>
#include <libxml/tree.h>
#include <libxml/xmlIO.h>
#include <libxml/xmlsave.h>

int gptoss_html_page_available(void) { return 1; }

/* ==== lxml's view of the tree ==== */

static int is_text(const xmlNode *n) { return n && (n->type == XML_TEXT_NODE || n->type == XML_CDATA_SECTION_NODE); }

/* lxml's "element-like" children: elements, comments, PIs, entity references */
static int is_elementish(const xmlNode *n) {
    return n->type == XML_ELEMENT_NODE || n->type == XML_COMMENT_NODE || n->type == XML_PI_NODE ||
           n->type == XML_ENTITY_REF_NODE;
}

static int name_is(const xmlNode *n, const char *name) {
    return n->type == XML_ELEMENT_NODE && n->name && !strcmp((const char *)n->name, name);
}

typedef struct node_list {
    xmlNode **v;
    size_t n, cap;
    int failed;
} node_list;

static void list_push(node_list *l, xmlNode *n) {
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        xmlNode **v = realloc(l->v, cap * sizeof *v);
        if (!v) {
            l->failed = 1;
            return;
        }
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = n;
}

/* The node after n in document order below root (children first), NULL past the last: an iterative
 * walk, since a page's nesting is the attacker's choice. */
static xmlNode *next_in_tree(xmlNode *n, xmlNode *root) {
    if (n->type == XML_ELEMENT_NODE && n->children) return n->children;
    while (n && !n->next && n != root) n = n->parent;
    return !n || n == root ? NULL : n->next;
}

/* root.findall(".//NAME"): descendants in document order (not root itself), iteratively */
static void find_all(xmlNode *root, const char *name, const char *with_attr, node_list *out) {
    xmlNode *n = root->children;
    while (n) {
        if (name_is(n, name) && (!with_attr || xmlHasProp(n, (const xmlChar *)with_attr))) list_push(out, n);
        n = next_in_tree(n, root);
    }
}

static xmlNode *find_first(xmlNode *root, const char *name) {
    node_list l = {0};
    find_all(root, name, NULL, &l);
    xmlNode *r = l.n ? l.v[0] : NULL;
    free(l.v);
    return r;
}

/* the text of a run of text siblings starting at n (lxml's .text / .tail) */
static void collect_run(xmlNode *n, gptoss_buf *out) {
    for (; is_text(n); n = n->next)
        if (n->content) gptoss_buf_puts(out, (const char *)n->content);
}

/* " ".join(node.itertext()): every run of text in the subtree, tails included, the node's own tail not */
static void itertext_join(xmlNode *node, gptoss_buf *out) {
    int first = 1;
    xmlNode *n = node->children;
    int prev_text = 0;
    while (n) {
        if (is_text(n)) {
            if (!prev_text) {
                if (!first) gptoss_buf_append(out, " ", 1);
                collect_run(n, out);
                first = 0;
            }
            prev_text = 1;
        } else {
            prev_text = 0;
        }
        if (n->type == XML_ELEMENT_NODE && n->children) {
            n = n->children;
            prev_text = 0;
            continue;
        }
        while (n && !n->next && n != node) {
            n = n->parent;
            prev_text = 0;
        }
        if (!n || n == node) break;
        n = n->next;
    }
}

/* replace_node_with_text: the text before node (back to the previous element-like sibling), text,
 * and node's tail become one new text node; node and its tail leave the tree (node is kept in `dead`:
 * the lists built before still point into it). Linked by hand: libxml2's xmlAdd*Sibling would merge
 * the new node into a text neighbour. */
static int replace_with_text(xmlNode *node, const char *text, node_list *dead) {
    xmlNode *parent = node->parent;
    if (!parent) return 1;
    gptoss_buf s = {0};
    xmlNode *first = node;
    while (is_text(first->prev)) first = first->prev;
    for (xmlNode *t = first; t != node; t = t->next)
        if (t->content) gptoss_buf_puts(&s, (const char *)t->content);
    gptoss_buf_puts(&s, text);
    collect_run(node->next, &s);
    const char *c = gptoss_buf_cstr(&s);
    xmlNode *nt = c && s.len <= INT32_MAX ? xmlNewDocTextLen(node->doc, (const xmlChar *)c, (int)s.len) : NULL;
    gptoss_buf_free(&s);
    if (!nt) return 0;
    xmlNode *before = first->prev, *after = node->next;
    while (is_text(after)) after = after->next;
    for (xmlNode *x = first; x != after;) {
        xmlNode *y = x->next;
        xmlUnlinkNode(x);
        if (x == node) list_push(dead, x);
        else xmlFreeNode(x);
        x = y;
    }
    nt->parent = parent;
    nt->prev = before;
    nt->next = after;
    if (before) before->next = nt;
    else parent->children = nt;
    if (after) after->prev = nt;
    else parent->last = nt;
    return 1;
}

/* parent.remove(node): node leaves with its tail */
static void remove_with_tail(xmlNode *node, node_list *dead) {
    while (is_text(node->next)) {
        xmlNode *x = node->next;
        xmlUnlinkNode(x);
        xmlFreeNode(x);
    }
    xmlUnlinkNode(node);
    list_push(dead, node);
}

/* ==== _clean_links ==== */

typedef struct links {
    char **urls; /* id -> url */
    size_t n, cap;
    size_t *slots; /* open addressing: id + 1, 0 = empty; capacity 2 * cap */
    int failed;
} links;

static uint64_t hash_str(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

/* the id of url, given the next free id when it is new; -1 when out of memory */
static long link_id(links *l, const char *url) {
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        char **v = realloc(l->urls, cap * sizeof *v);
        size_t *slots = calloc(cap * 2, sizeof *slots);
        if (!v || !slots) {
            if (v) l->urls = v;
            free(slots);
            return -1;
        }
        l->urls = v;
        l->cap = cap;
        free(l->slots);
        l->slots = slots;
        for (size_t i = 0; i < l->n; i++) {
            size_t k = hash_str(l->urls[i]) & (cap * 2 - 1);
            while (slots[k]) k = (k + 1) & (cap * 2 - 1);
            slots[k] = i + 1;
        }
    }
    size_t mask = l->cap * 2 - 1, k = hash_str(url) & mask;
    for (; l->slots[k]; k = (k + 1) & mask)
        if (!strcmp(l->urls[l->slots[k] - 1], url)) return (long)(l->slots[k] - 1);
    char *c = strdup(url);
    if (!c) return -1;
    l->urls[l->n] = c;
    l->slots[k] = ++l->n;
    return (long)(l->n - 1);
}

/* re.sub("arxiv.org", "ar5iv.org", url): "." matches any character but a newline */
static void arxiv_to_ar5iv(const char *u, gptoss_buf *out) {
    size_t n = strlen(u), i = 0;
    while (i < n) {
        if (n - i >= 9 && !memcmp(u + i, "arxiv", 5)) {
            size_t k = i + 5;
            uint32_t cp = gptoss_py_next(u, n, &k);
            if (cp != '\n' && n - k >= 3 && !memcmp(u + k, "org", 3)) {
                gptoss_buf_puts(out, "ar5iv.org");
                i = k + 3;
                continue;
            }
        }
        gptoss_buf_append(out, u + i, 1);
        i++;
    }
}

static int clean_links(xmlNode *root, const char *cur_url, links *l, node_list *dead) {
    gptoss_buf cur_domain = {0};
    gptoss_url_domain(cur_url, &cur_domain);
    const char *cd = gptoss_buf_cstr(&cur_domain);
    if (!cd) cd = "";
    node_list as = {0};
    find_all(root, "a", "href", &as);
    int ok = !as.failed;
    for (size_t i = 0; ok && i < as.n; i++) {
        xmlNode *a = as.v[i];
        xmlChar *href = xmlGetProp(a, (const xmlChar *)"href");
        const char *link = href ? (const char *)href : "";
        if (!strncmp(link, "mailto:", 7) || !strncmp(link, "javascript:", 11)) {
            xmlFree(href);
            continue;
        }
        gptoss_buf raw = {0}, text = {0}, joined = {0}, domain = {0}, final = {0}, rep = {0};
        itertext_join(a, &raw);
        gptoss_page_merge_whitespace(raw.data ? raw.data : "", raw.len, &text);
        /* "†" -> "‡" */
        for (size_t k = 0; k + 3 <= text.len; k++)
            if (!memcmp(text.data + k, "\xE2\x80\xA0", 3)) text.data[k + 2] = (char)0xA1;
        const char *t = gptoss_buf_cstr(&text);
        if (!t) t = "";
        if (gptoss_page_only_anchors(t, text.len)) goto next;
        if (link[0] == '#') {
            ok = replace_with_text(a, t, dead);
            goto next;
        }
        int parsed = gptoss_url_join(cur_url, link, &joined);
        const char *abs = parsed ? gptoss_buf_cstr(&joined) : link;
        if (!abs) abs = "";
        if (!parsed || !gptoss_url_domain(abs, &domain) || !domain.len) goto next;
        arxiv_to_ar5iv(abs, &final);
        const char *fu = gptoss_buf_cstr(&final), *dm = gptoss_buf_cstr(&domain);
        if (!fu || !dm) {
            ok = 0;
            goto next;
        }
        long id = link_id(l, fu);
        if (id < 0) {
            ok = 0;
            goto next;
        }
        if (!strcmp(dm, cd)) gptoss_buf_printf(&rep, "\xE3\x80\x90%ld\xE2\x80\xA0%s\xE3\x80\x91", id, t);
        else gptoss_buf_printf(&rep, "\xE3\x80\x90%ld\xE2\x80\xA0%s\xE2\x80\xA0%s\xE3\x80\x91", id, t, dm);
        ok = gptoss_buf_cstr(&rep) && replace_with_text(a, rep.data, dead);
    next:
        xmlFree(href);
        if (raw.failed || text.failed || joined.failed || domain.failed || final.failed) ok = 0;
        gptoss_buf_free(&raw);
        gptoss_buf_free(&text);
        gptoss_buf_free(&joined);
        gptoss_buf_free(&domain);
        gptoss_buf_free(&final);
        gptoss_buf_free(&rep);
    }
    free(as.v);
    gptoss_buf_free(&cur_domain);
    return ok && !l->failed;
}

static int replace_images(xmlNode *root, node_list *dead) {
    node_list imgs = {0};
    find_all(root, "img", NULL, &imgs);
    int ok = !imgs.failed;
    for (size_t i = 0; ok && i < imgs.n; i++) {
        xmlNode *img = imgs.v[i];
        xmlChar *name = NULL;
        if (xmlHasProp(img, (const xmlChar *)"alt")) name = xmlGetProp(img, (const xmlChar *)"alt");
        else if (xmlHasProp(img, (const xmlChar *)"title")) name = xmlGetProp(img, (const xmlChar *)"title");
        gptoss_buf rep = {0};
        if (name && name[0]) gptoss_buf_printf(&rep, "[Image %zu: %s]", i, (const char *)name);
        else gptoss_buf_printf(&rep, "[Image %zu]", i);
        xmlFree(name);
        const char *r = gptoss_buf_cstr(&rep);
        ok = r && replace_with_text(img, r, dead);
        gptoss_buf_free(&rep);
    }
    free(imgs.v);
    return ok;
}

static void remove_math(xmlNode *root, node_list *dead) {
    node_list ms = {0};
    find_all(root, "math", NULL, &ms);
    for (size_t i = 0; i < ms.n; i++)
        if (ms.v[i]->parent) remove_with_tail(ms.v[i], dead);
    free(ms.v);
}

/* ==== lxml.html.fromstring's choice of root ==== */

static int is_block_tag(const xmlNode *n) {
    static const char *const block[] = {"address", "blockquote", "center", "dir", "div", "dl", "fieldset", "form",
                                        "h1", "h2", "h3", "h4", "h5", "h6", "hr", "isindex", "menu", "noframes",
                                        "noscript", "ol", "p", "pre", "table", "ul", NULL};
    if (n->type != XML_ELEMENT_NODE || !n->name) return 0;
    for (const char *const *b = block; *b; b++)
        if (!strcmp((const char *)n->name, *b)) return 1;
    return 0;
}

static int contains_block(xmlNode *root) {
    if (is_block_tag(root)) return 1;
    xmlNode *n = root->children;
    while (n) {
        if (is_block_tag(n)) return 1;
        n = next_in_tree(n, root);
    }
    return 0;
}

static int blank(const xmlNode *first_text) {
    gptoss_buf b = {0};
    collect_run((xmlNode *)first_text, &b);
    size_t s, e;
    gptoss_py_strip(b.data ? b.data : "", b.len, &s, &e);
    gptoss_buf_free(&b);
    return s == e;
}

static xmlNode *choose_root(xmlDoc *doc, const char *html, size_t len) {
    xmlNode *root = xmlDocGetRootElement(doc);
    /* ^\s*<(?:html|!doctype) */
    size_t i = 0;
    while (i < len) {
        size_t k = i;
        if (!gptoss_py_is_space(gptoss_py_next(html, len, &k))) break;
        i = k;
    }
    if ((len - i >= 5 && !strncasecmp(html + i, "<html", 5)) || (len - i >= 9 && !strncasecmp(html + i, "<!doctype", 9)))
        return root;
    xmlNode *body = NULL;
    for (xmlNode *c = root->children; c; c = c->next) {
        if (name_is(c, "head")) return root;
        if (!body && name_is(c, "body")) body = c;
    }
    if (!body) return root;
    size_t n_el = 0;
    xmlNode *only = NULL;
    for (xmlNode *c = body->children; c; c = c->next)
        if (is_elementish(c)) {
            n_el++;
            only = c;
        }
    if (n_el == 1 && (!is_text(body->children) || blank(body->children)) && (!is_text(only->next) || blank(only->next)))
        return only;
    xmlNodeSetName(body, (const xmlChar *)(contains_block(body) ? "div" : "span"));
    return body;
}

/* lxml's tostring(root, encoding="UTF-8"): the node, then its tail */
static int serialize(xmlDoc *doc, xmlNode *root, gptoss_buf *out) {
    xmlOutputBuffer *ob = xmlAllocOutputBuffer(NULL);
    if (!ob) return 0;
    xmlNodeDumpOutput(ob, doc, root, 0, 0, "UTF-8");
    for (xmlNode *t = root->next; is_text(t); t = t->next) xmlNodeDumpOutput(ob, doc, t, 0, 0, "UTF-8");
    xmlOutputBufferFlush(ob);
    const xmlChar *c = xmlOutputBufferGetContent(ob);
    size_t n = xmlOutputBufferGetSize(ob);
    if (c) gptoss_buf_append(out, c, n);
    int ok = ob->error == 0;
    xmlOutputBufferClose(ob);
    return ok && !out->failed;
}

/* lxml refuses a str that carries an XML encoding declaration:
 * ^(<\?xml[^>]+)\s+encoding\s*=\s*["'][^"']*["'] */
static int has_encoding_declaration(const char *s, size_t n) {
    if (n < 6 || memcmp(s, "<?xml", 5)) return 0;
    const char *gt = memchr(s, '>', n);
    size_t lim = gt ? (size_t)(gt - s) : n;
    for (size_t i = 6; i < lim; i++) {
        if (!gptoss_py_is_space((unsigned char)s[i])) continue;
        size_t k = i;
        while (k < n && gptoss_py_is_space((unsigned char)s[k])) k++;
        if (n - k < 8 || memcmp(s + k, "encoding", 8)) continue;
        k += 8;
        while (k < n && gptoss_py_is_space((unsigned char)s[k])) k++;
        if (k >= n || s[k] != '=') continue;
        k++;
        while (k < n && gptoss_py_is_space((unsigned char)s[k])) k++;
        if (k >= n || (s[k] != '"' && s[k] != '\'')) continue;
        k++;
        while (k < n && s[k] != '"' && s[k] != '\'') k++;
        if (k < n) return 1;
    }
    return 0;
}

gptoss_status gptoss_html_page_process(const char *html, size_t len, const char *charset, const char *url,
                                       const char *title, int display_urls, gptoss_html_page *out, char *err,
                                       size_t err_size) {
    memset(out, 0, sizeof *out);
    if (!html || !url) return gptoss_fail(GPTOSS_ERR_INVALID_ARGUMENT, err, err_size, "no page");
    if (len > GPTOSS_HTML_MAX_BYTES)
        return gptoss_fail(GPTOSS_ERR_OUT_OF_RANGE, err, err_size, "Page too large: %zu bytes (the limit is %zu)", len,
                           GPTOSS_HTML_MAX_BYTES);
    gptoss_buf conv = {0}, prep = {0}, ser = {0}, marked = {0}, h2t = {0}, text = {0};
    gptoss_status st = GPTOSS_OK;
    xmlDoc *doc = NULL;
    links l = {0};
    node_list dead = {0};
    if (!is_utf8_name(charset)) {
        st = to_utf8(html, len, charset, &conv, err, err_size);
        if (st != GPTOSS_OK) goto done;
        if (conv.len > GPTOSS_HTML_MAX_BYTES) {
            st = gptoss_fail(GPTOSS_ERR_OUT_OF_RANGE, err, err_size, "Page too large: more than %zu bytes as UTF-8",
                             GPTOSS_HTML_MAX_BYTES);
            goto done;
        }
        html = conv.data ? conv.data : "";
        len = conv.len;
    }
    gptoss_page_prepare(html, len, &prep);
    if (prep.failed) goto oom;
    const char *p = prep.data ? prep.data : "";
    if (has_encoding_declaration(p, prep.len)) {
        st = gptoss_fail(GPTOSS_ERR_FORMAT, err, err_size,
                         "Unicode strings with encoding declaration are not supported. Please use bytes input or XML "
                         "fragments without declaration.");
        goto done;
    }
    if (prep.len > INT32_MAX) goto oom;
    xmlInitParser();
    doc = prep.len ? htmlReadMemory(p, (int)prep.len, NULL, "UTF-8",
                                    HTML_PARSE_RECOVER | HTML_PARSE_NONET | HTML_PARSE_COMPACT | HTML_PARSE_NOERROR |
                                        HTML_PARSE_NOWARNING)
                   : NULL;
    if (!doc || !xmlDocGetRootElement(doc)) {
        st = gptoss_fail(GPTOSS_ERR_FORMAT, err, err_size, "Document is empty");
        goto done;
    }
    xmlNode *root = choose_root(doc, p, prep.len);
    xmlNode *te = find_first(root, "title");
    gptoss_buf tb = {0};
    if (title && *title) gptoss_buf_puts(&tb, title);
    else if (te) collect_run(te->children, &tb);
    else if (*url) gptoss_url_domain(url, &tb);
    const char *tc = gptoss_buf_cstr(&tb);
    out->title = strdup(tc ? tc : "");
    gptoss_buf_free(&tb);
    if (!out->title) goto oom;
    if (!clean_links(root, url, &l, &dead) || !replace_images(root, &dead)) goto oom;
    remove_math(root, &dead);
    if (dead.failed || !serialize(doc, root, &ser)) goto oom;
    gptoss_page_markup_passes(ser.data ? ser.data : "", ser.len, &marked);
    gptoss_buf_free(&ser);
    gptoss_html2text(marked.data ? marked.data : "", marked.len, &h2t);
    gptoss_buf_free(&marked);
    if (display_urls) gptoss_buf_printf(&text, "\nURL: %s\n", url);
    gptoss_page_text_passes(h2t.data ? h2t.data : "", h2t.len, &text);
    if (h2t.failed || !gptoss_buf_cstr(&text)) goto oom;
    out->text = text.data;
    out->text_len = text.len;
    text.data = NULL;
    out->urls = l.urls;
    out->n_urls = l.n;
    l.urls = NULL;
    l.n = 0;
    goto done;
oom:
    st = gptoss_fail(GPTOSS_ERR_NO_MEMORY, err, err_size, "out of memory converting the page");
done:
    if (st != GPTOSS_OK) gptoss_html_page_free(out);
    for (size_t i = 0; i < dead.n; i++) xmlFreeNode(dead.v[i]);
    free(dead.v);
    for (size_t i = 0; i < l.n; i++) free(l.urls[i]);
    free(l.urls);
    free(l.slots);
    if (doc) xmlFreeDoc(doc);
    gptoss_buf_free(&conv);
    gptoss_buf_free(&prep);
    gptoss_buf_free(&ser);
    gptoss_buf_free(&marked);
    gptoss_buf_free(&h2t);
    gptoss_buf_free(&text);
    return st;
}

#else /* without libxml2 */

int gptoss_html_page_available(void) { return 0; }

gptoss_status gptoss_html_page_process(const char *html, size_t len, const char *charset, const char *url,
                                       const char *title, int display_urls, gptoss_html_page *out, char *err,
                                       size_t err_size) {
    (void)html;
    (void)len;
    (void)charset;
    (void)url;
    (void)title;
    (void)display_urls;
    (void)to_utf8;
    (void)is_utf8_name;
    memset(out, 0, sizeof *out);
    return gptoss_fail(GPTOSS_ERR_UNSUPPORTED, err, err_size,
                       "this build has no HTML parser: install libxml2-dev (Debian) and rebuild");
}

#endif
