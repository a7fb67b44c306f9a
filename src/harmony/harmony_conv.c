/* harmony_conv.c: harmony's vocabulary (roles, efforts, the default system content) and the
 * conversation object, which owns deep copies of its messages. */
#include <stdlib.h>
#include <string.h>

#include "harmony/harmony.h"

static const char *const role_names[] = {"", "system", "developer", "user", "assistant", "tool"};
static const char *const effort_names[] = {"", "low", "medium", "high"};

const char *gptoss_harmony_role_name(gptoss_harmony_role role) {
    if ((unsigned)role >= sizeof role_names / sizeof role_names[0]) return "";
    return role_names[role];
}

gptoss_harmony_role gptoss_harmony_role_from_name(const char *s) {
    if (!s) return GPTOSS_HARMONY_ROLE_NONE;
    for (unsigned i = 1; i < sizeof role_names / sizeof role_names[0]; i++)
        if (!strcmp(s, role_names[i])) return (gptoss_harmony_role)i;
    return GPTOSS_HARMONY_ROLE_NONE;
}

const char *gptoss_harmony_effort_name(gptoss_harmony_effort effort) {
    if ((unsigned)effort >= sizeof effort_names / sizeof effort_names[0]) return "";
    return effort_names[effort];
}

gptoss_harmony_effort gptoss_harmony_effort_from_name(const char *s) {
    if (!s) return GPTOSS_HARMONY_EFFORT_NONE;
    for (unsigned i = 1; i < sizeof effort_names / sizeof effort_names[0]; i++)
        if (!strcmp(s, effort_names[i])) return (gptoss_harmony_effort)i;
    return GPTOSS_HARMONY_EFFORT_NONE;
}

static const char *const default_channels[] = {"analysis", "commentary", "final"};

void gptoss_harmony_system_content_default(gptoss_harmony_system_content *out) {
    memset(out, 0, sizeof *out);
    out->model_identity = "You are ChatGPT, a large language model trained by OpenAI.";
    out->reasoning_effort = GPTOSS_HARMONY_EFFORT_MEDIUM;
    out->knowledge_cutoff = "2024-06";
    out->valid_channels = default_channels;
    out->n_valid_channels = 3;
    out->channel_required = 1;
}

const char *gptoss_harmony_message_text(const gptoss_harmony_message *msg, size_t *len) {
    if (msg)
        for (size_t i = 0; i < msg->n_content; i++)
            if (msg->content[i].kind == GPTOSS_HARMONY_CONTENT_TEXT && msg->content[i].text) {
                if (len) *len = msg->content[i].text_len;
                return msg->content[i].text;
            }
    if (len) *len = 0;
    return "";
}

/* ---- deep copies ---------------------------------------------------------------------------- */

char *gptoss_harmony_strdup(const char *s, int *failed) {
    if (!s) return NULL;
    size_t n = strlen(s);
    char *d = malloc(n + 1);
    if (!d) {
        *failed = 1;
        return NULL;
    }
    memcpy(d, s, n + 1);
    return d;
}

static char *dup_mem(const char *s, size_t n, int *failed) {
    char *d = malloc(n + 1);
    if (!d) {
        *failed = 1;
        return NULL;
    }
    if (n) memcpy(d, s, n);
    d[n] = 0;
    return d;
}

/* The copy functions below cast const away only on memory they allocated themselves. */
static void free_const(const void *p) { free((void *)(uintptr_t)p); }

static gptoss_harmony_namespace *copy_namespaces(const gptoss_harmony_namespace *src, size_t n, int *failed) {
    if (!src || !n) return NULL;
    gptoss_harmony_namespace *d = calloc(n, sizeof *d);
    if (!d) {
        *failed = 1;
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        d[i].name = gptoss_harmony_strdup(src[i].name ? src[i].name : "", failed);
        d[i].description = gptoss_harmony_strdup(src[i].description, failed);
        d[i].builtin = src[i].builtin;
        if (src[i].n_tools && src[i].tools) {
            gptoss_harmony_tool *t = calloc(src[i].n_tools, sizeof *t);
            if (!t) {
                *failed = 1;
                continue;
            }
            for (size_t j = 0; j < src[i].n_tools; j++) {
                t[j].name = gptoss_harmony_strdup(src[i].tools[j].name ? src[i].tools[j].name : "", failed);
                t[j].description = gptoss_harmony_strdup(src[i].tools[j].description, failed);
                t[j].parameters_json = gptoss_harmony_strdup(src[i].tools[j].parameters_json, failed);
            }
            d[i].tools = t;
            d[i].n_tools = src[i].n_tools;
        }
    }
    return d;
}

static void free_namespaces(const gptoss_harmony_namespace *ns, size_t n) {
    if (!ns) return;
    for (size_t i = 0; i < n; i++) {
        free_const(ns[i].name);
        free_const(ns[i].description);
        for (size_t j = 0; j < ns[i].n_tools; j++) {
            free_const(ns[i].tools[j].name);
            free_const(ns[i].tools[j].description);
            free_const(ns[i].tools[j].parameters_json);
        }
        free_const(ns[i].tools);
    }
    free_const(ns);
}

static gptoss_harmony_system_content *copy_system(const gptoss_harmony_system_content *s, int *failed) {
    gptoss_harmony_system_content *d = calloc(1, sizeof *d);
    if (!d) {
        *failed = 1;
        return NULL;
    }
    d->model_identity = gptoss_harmony_strdup(s->model_identity, failed);
    d->reasoning_effort = s->reasoning_effort;
    d->knowledge_cutoff = gptoss_harmony_strdup(s->knowledge_cutoff, failed);
    d->conversation_start_date = gptoss_harmony_strdup(s->conversation_start_date, failed);
    d->channel_required = s->channel_required;
    if (s->n_valid_channels && s->valid_channels) {
        const char **ch = calloc(s->n_valid_channels, sizeof *ch);
        if (!ch) {
            *failed = 1;
        } else {
            for (size_t i = 0; i < s->n_valid_channels; i++)
                ch[i] = gptoss_harmony_strdup(s->valid_channels[i] ? s->valid_channels[i] : "", failed);
            d->valid_channels = ch;
            d->n_valid_channels = s->n_valid_channels;
        }
    }
    d->tools = copy_namespaces(s->tools, s->n_tools, failed);
    d->n_tools = d->tools ? s->n_tools : 0;
    return d;
}

static void free_system(const gptoss_harmony_system_content *s) {
    if (!s) return;
    free_const(s->model_identity);
    free_const(s->knowledge_cutoff);
    free_const(s->conversation_start_date);
    for (size_t i = 0; i < s->n_valid_channels; i++) free_const(s->valid_channels[i]);
    free_const(s->valid_channels);
    free_namespaces(s->tools, s->n_tools);
    free_const(s);
}

static gptoss_harmony_developer_content *copy_developer(const gptoss_harmony_developer_content *s,
                                                        int *failed) {
    gptoss_harmony_developer_content *d = calloc(1, sizeof *d);
    if (!d) {
        *failed = 1;
        return NULL;
    }
    d->instructions = gptoss_harmony_strdup(s->instructions, failed);
    d->tools = copy_namespaces(s->tools, s->n_tools, failed);
    d->n_tools = d->tools ? s->n_tools : 0;
    d->response_format_name = gptoss_harmony_strdup(s->response_format_name, failed);
    d->response_format_description = gptoss_harmony_strdup(s->response_format_description, failed);
    d->response_format_schema = gptoss_harmony_strdup(s->response_format_schema, failed);
    return d;
}

static void free_developer(const gptoss_harmony_developer_content *s) {
    if (!s) return;
    free_const(s->instructions);
    free_namespaces(s->tools, s->n_tools);
    free_const(s->response_format_name);
    free_const(s->response_format_description);
    free_const(s->response_format_schema);
    free_const(s);
}

void gptoss_harmony_message_clear(gptoss_harmony_message *msg) {
    if (!msg) return;
    free_const(msg->name);
    free_const(msg->recipient);
    free_const(msg->channel);
    free_const(msg->content_type);
    for (size_t i = 0; i < msg->n_content; i++) {
        free_const(msg->content[i].text);
        free_system(msg->content[i].system);
        free_developer(msg->content[i].developer);
    }
    free_const(msg->content);
    memset(msg, 0, sizeof *msg);
}

gptoss_status gptoss_harmony_message_copy(gptoss_harmony_message *dst, const gptoss_harmony_message *src) {
    int failed = 0;
    memset(dst, 0, sizeof *dst);
    dst->role = src->role;
    dst->name = gptoss_harmony_strdup(src->name, &failed);
    dst->recipient = gptoss_harmony_strdup(src->recipient, &failed);
    dst->channel = gptoss_harmony_strdup(src->channel, &failed);
    dst->content_type = gptoss_harmony_strdup(src->content_type, &failed);
    if (src->n_content && src->content) {
        gptoss_harmony_content *c = calloc(src->n_content, sizeof *c);
        if (!c) {
            failed = 1;
        } else {
            dst->content = c;
            dst->n_content = src->n_content;
            for (size_t i = 0; i < src->n_content; i++) {
                const gptoss_harmony_content *s = &src->content[i];
                c[i].kind = s->kind;
                if (s->kind == GPTOSS_HARMONY_CONTENT_SYSTEM && s->system) {
                    c[i].system = copy_system(s->system, &failed);
                } else if (s->kind == GPTOSS_HARMONY_CONTENT_DEVELOPER && s->developer) {
                    c[i].developer = copy_developer(s->developer, &failed);
                } else {
                    c[i].kind = GPTOSS_HARMONY_CONTENT_TEXT;
                    c[i].text = dup_mem(s->text ? s->text : "", s->text ? s->text_len : 0, &failed);
                    c[i].text_len = s->text ? s->text_len : 0;
                }
            }
        }
    }
    if (failed) {
        gptoss_harmony_message_clear(dst);
        return GPTOSS_ERR_NO_MEMORY;
    }
    return GPTOSS_OK;
}

/* ---- conversation --------------------------------------------------------------------------- */

struct gptoss_harmony_conversation {
    gptoss_harmony_message *msgs;
    size_t n, cap;
};

gptoss_harmony_conversation *gptoss_harmony_conversation_create(void) {
    return calloc(1, sizeof(gptoss_harmony_conversation));
}

void gptoss_harmony_conversation_free(gptoss_harmony_conversation *conv) {
    if (!conv) return;
    gptoss_harmony_conversation_truncate(conv, 0);
    free(conv->msgs);
    free(conv);
}

size_t gptoss_harmony_conversation_size(const gptoss_harmony_conversation *conv) { return conv ? conv->n : 0; }

const gptoss_harmony_message *gptoss_harmony_conversation_get(const gptoss_harmony_conversation *conv,
                                                              size_t i) {
    return conv && i < conv->n ? &conv->msgs[i] : NULL;
}

gptoss_status gptoss_harmony_conversation_append(gptoss_harmony_conversation *conv,
                                                 const gptoss_harmony_message *msg) {
    if (!conv || !msg) return GPTOSS_ERR_INVALID_ARGUMENT;
    if (conv->n == conv->cap) {
        size_t cap = conv->cap ? conv->cap * 2 : 8;
        gptoss_harmony_message *m = realloc(conv->msgs, cap * sizeof *m);
        if (!m) return GPTOSS_ERR_NO_MEMORY;
        conv->msgs = m;
        conv->cap = cap;
    }
    gptoss_status st = gptoss_harmony_message_copy(&conv->msgs[conv->n], msg);
    if (st == GPTOSS_OK) conv->n++;
    return st;
}

gptoss_status gptoss_harmony_conversation_append_text(gptoss_harmony_conversation *conv,
                                                      gptoss_harmony_role role, const char *name,
                                                      const char *recipient, const char *channel,
                                                      const char *content_type, const char *text) {
    gptoss_harmony_content part = {.kind = GPTOSS_HARMONY_CONTENT_TEXT, .text = text ? text : "",
                                   .text_len = text ? strlen(text) : 0};
    gptoss_harmony_message m = {.role = role, .name = name, .recipient = recipient, .channel = channel,
                                .content_type = content_type, .content = &part, .n_content = 1};
    return gptoss_harmony_conversation_append(conv, &m);
}

void gptoss_harmony_conversation_truncate(gptoss_harmony_conversation *conv, size_t n) {
    if (!conv) return;
    while (conv->n > n) gptoss_harmony_message_clear(&conv->msgs[--conv->n]);
}

int gptoss_harmony_has_function_tools(const gptoss_harmony_message *const *msgs, size_t n) {
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < msgs[i]->n_content; j++) {
            const gptoss_harmony_developer_content *d = msgs[i]->content[j].developer;
            if (msgs[i]->content[j].kind != GPTOSS_HARMONY_CONTENT_DEVELOPER || !d) continue;
            for (size_t k = 0; k < d->n_tools; k++)
                if (d->tools[k].name && !strcmp(d->tools[k].name, "functions") && d->tools[k].n_tools > 0)
                    return 1;
        }
    return 0;
}
