/* server_page.c: the chat page's files by path (the bytes come from server_page_data.S), with their
 * Content-Type and an ETag: a hash of the bytes, computed once, so a browser revalidates with
 * If-None-Match and gets a 304 until the binary serves a different page. Routing and the response
 * itself are server.c's. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "server/server_page.h"

extern const unsigned char gptoss_page_index_html[], gptoss_page_index_html_end[];
extern const unsigned char gptoss_page_app_js[], gptoss_page_app_js_end[];
extern const unsigned char gptoss_page_style_css[], gptoss_page_style_css_end[];
extern const unsigned char gptoss_page_icon_svg[], gptoss_page_icon_svg_end[];

enum { N_FILES = 4 };
static server_page_file g_files[N_FILES];
static char g_etags[N_FILES][24];
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static void file_set(server_page_file *f, char *etag, const char *path, const char *type,
                     const unsigned char *start, const unsigned char *end) {
    /* FNV-1a, 64 bits: a validator, not a defence (the bytes are the server's own). */
    uint64_t h = 0xcbf29ce484222325ull;
    for (const unsigned char *p = start; p < end; p++) h = (h ^ *p) * 0x100000001b3ull;
    snprintf(etag, sizeof g_etags[0], "\"%016llx\"", (unsigned long long)h);
    *f = (server_page_file){path, type, start, (size_t)(end - start), etag};
}

static void files_init(void) {
    file_set(&g_files[0], g_etags[0], "/", "text/html; charset=utf-8", gptoss_page_index_html,
             gptoss_page_index_html_end);
    file_set(&g_files[1], g_etags[1], "/app.js", "text/javascript; charset=utf-8", gptoss_page_app_js,
             gptoss_page_app_js_end);
    file_set(&g_files[2], g_etags[2], "/style.css", "text/css; charset=utf-8", gptoss_page_style_css,
             gptoss_page_style_css_end);
    file_set(&g_files[3], g_etags[3], "/icon.svg", "image/svg+xml", gptoss_page_icon_svg, gptoss_page_icon_svg_end);
}

const server_page_file *server_page_find(const char *path) {
    if (!path) return NULL;
    pthread_once(&g_once, files_init);
    if (!strcmp(path, "/index.html")) path = "/";
    for (size_t i = 0; i < N_FILES; i++)
        if (!strcmp(g_files[i].path, path)) return &g_files[i];
    return NULL;
}

/* If-None-Match is a list of quoted tags (each maybe W/-prefixed): ours is quoted hex, which no other
 * tag can contain, so finding it in the value is a match. */
int server_page_fresh(const server_page_file *file, const char *if_none_match) {
    return file && if_none_match && strstr(if_none_match, file->etag) != NULL;
}
