/* harmony_json.c: conversations as JSON, in and out, in openai/harmony's message shape (the shape of
 * the conformance files): {"role", "name"?, "content": [...], "channel"?, "recipient"?, "content_type"?}. */
#include <stdlib.h>
#include <string.h>

#include "harmony/harmony.h"

/* Everything one message borrows while it is built, freed once the conversation has its copy. */
typedef struct scratch {
    void **ptrs;
    size_t n, cap;
    int failed;
} scratch;

static void *scratch_alloc(scratch *s, size_t size) {
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        void **p = realloc(s->ptrs, cap * sizeof *p);
        if (!p) {
            s->failed = 1;
            return NULL;
        }
        s->ptrs = p;
        s->cap = cap;
    }
    void *m = calloc(1, size ? size : 1);
    if (!m) {
        s->failed = 1;
        return NULL;
    }
    s->ptrs[s->n++] = m;
    return m;
}

static void scratch_free(scratch *s) {
    for (size_t i = 0; i < s->n; i++) free(s->ptrs[i]);
    free(s->ptrs);
    memset(s, 0, sizeof *s);
}

typedef struct reader {
    scratch sc;
    char *err;
    size_t err_size;
    size_t msg_index;
} reader;

static gptoss_status bad(reader *r, const char *what) {
    return gptoss_fail(GPTOSS_ERR_FORMAT, r->err, r->err_size, "conversation JSON, message %zu: %s", r->msg_index, what);
}

/* A string member; NULL when absent or null; *ok = 0 when present with another type. */
static const char *opt_string(const json_value *obj, const char *key, int *ok) {
    const json_value *v = json_get(obj, key);
    if (!v || v->type == JSON_NULL) return NULL;
    if (v->type != JSON_STRING) {
        *ok = 0;
        return NULL;
    }
    return v->str;
}

/* A member that may be absent (then `def`), null (then NULL) or a string. */
static const char *defaulted_string(const json_value *obj, const char *key, const char *def, int *ok) {
    if (!json_get(obj, key)) return def;
    return opt_string(obj, key, ok);
}

static gptoss_status read_tool(reader *r, const json_value *v, gptoss_harmony_tool *out) {
    if (v->type != JSON_OBJECT) return bad(r, "a tool must be an object");
    int ok = 1;
    out->name = opt_string(v, "name", &ok);
    out->description = opt_string(v, "description", &ok);
    if (!ok || !out->name) return bad(r, "a tool needs a string \"name\"");
    const json_value *params = json_get(v, "parameters");
    if (params && params->type != JSON_NULL) {
        gptoss_buf b = {0};
        json_write_value(&b, params);
        char *text = scratch_alloc(&r->sc, b.len + 1);
        if (text && b.data) memcpy(text, b.data, b.len);
        int failed = b.failed;
        gptoss_buf_free(&b);
        if (!text || failed) return gptoss_fail(GPTOSS_ERR_NO_MEMORY, r->err, r->err_size, "out of memory");
        out->parameters_json = text;
    }
    return GPTOSS_OK;
}

/* "tools": {"ns": {"name","description","tools":[...]}} or {"browser": "<anything>"} / true for a
 * built-in namespace. */
static gptoss_status read_namespaces(reader *r, const json_value *v, const gptoss_harmony_namespace **out,
                                     size_t *n_out) {
    *out = NULL;
    *n_out = 0;
    if (!v || v->type == JSON_NULL) return GPTOSS_OK;
    if (v->type != JSON_OBJECT) return bad(r, "\"tools\" must be an object of namespaces");
    gptoss_harmony_namespace *ns = scratch_alloc(&r->sc, v->n * sizeof *ns);
    if (!ns) return gptoss_fail(GPTOSS_ERR_NO_MEMORY, r->err, r->err_size, "out of memory");
    for (size_t i = 0; i < v->n; i++) {
        const json_member *m = &v->members[i];
        const json_value *c = &m->value;
        ns[i].name = m->key;
        if (c->type == JSON_STRING || c->type == JSON_TRUE) {
            if (!gptoss_harmony_builtin_namespace(m->key)) return bad(r, "only \"browser\" and \"python\" are built-in namespaces");
            ns[i].builtin = 1;
            continue;
        }
        if (c->type != JSON_OBJECT) return bad(r, "a tool namespace must be an object");
        int ok = 1;
        const char *name = opt_string(c, "name", &ok);
        if (name) ns[i].name = name;
        ns[i].description = opt_string(c, "description", &ok);
        if (!ok) return bad(r, "namespace \"name\" and \"description\" must be strings");
        const json_value *tools = json_get(c, "tools");
        if (tools && tools->type != JSON_NULL) {
            if (tools->type != JSON_ARRAY) return bad(r, "namespace \"tools\" must be a list");
            gptoss_harmony_tool *t = scratch_alloc(&r->sc, tools->n * sizeof *t);
            if (!t) return gptoss_fail(GPTOSS_ERR_NO_MEMORY, r->err, r->err_size, "out of memory");
            for (size_t j = 0; j < tools->n; j++) {
                gptoss_status st = read_tool(r, &tools->items[j], &t[j]);
                if (st != GPTOSS_OK) return st;
            }
            ns[i].tools = t;
            ns[i].n_tools = tools->n;
        }
    }
    *out = ns;
    *n_out = v->n;
    return GPTOSS_OK;
}

static gptoss_status read_system(reader *r, const json_value *v, gptoss_harmony_content *part) {
    gptoss_harmony_system_content *sc = scratch_alloc(&r->sc, sizeof *sc);
    if (!sc) return gptoss_fail(GPTOSS_ERR_NO_MEMORY, r->err, r->err_size, "out of memory");
    /* Absent members take openai/harmony's defaults, null ones are left out (serde's semantics). */
    gptoss_harmony_system_content def;
    gptoss_harmony_system_content_default(&def);
    int ok = 1;
    sc->model_identity = defaulted_string(v, "model_identity", def.model_identity, &ok);
    sc->knowledge_cutoff = defaulted_string(v, "knowledge_cutoff", def.knowledge_cutoff, &ok);
    sc->conversation_start_date = defaulted_string(v, "conversation_start_date", NULL, &ok);
    if (!ok) return bad(r, "system_content fields must be strings or null");
    const json_value *effort = json_get(v, "reasoning_effort");
    if (!effort) sc->reasoning_effort = def.reasoning_effort;
    else if (effort->type == JSON_NULL) sc->reasoning_effort = GPTOSS_HARMONY_EFFORT_NONE;
    else {
        char low[16] = "";
        if (effort->type == JSON_STRING && effort->len < sizeof low)
            for (size_t i = 0; i <= effort->len; i++)
                low[i] = (char)(effort->str[i] >= 'A' && effort->str[i] <= 'Z' ? effort->str[i] + 32 : effort->str[i]);
        sc->reasoning_effort = gptoss_harmony_effort_from_name(low);
        if (sc->reasoning_effort == GPTOSS_HARMONY_EFFORT_NONE) return bad(r, "reasoning_effort must be low, medium or high");
    }
    const json_value *cc = json_get(v, "channel_config");
    if (!cc) {
        sc->valid_channels = def.valid_channels;
        sc->n_valid_channels = def.n_valid_channels;
        sc->channel_required = def.channel_required;
    } else if (cc->type == JSON_OBJECT) {
        const json_value *ch = json_get(cc, "valid_channels");
        if (ch && ch->type == JSON_ARRAY && ch->n) {
            const char **list = scratch_alloc(&r->sc, ch->n * sizeof *list);
            if (!list) return gptoss_fail(GPTOSS_ERR_NO_MEMORY, r->err, r->err_size, "out of memory");
            for (size_t i = 0; i < ch->n; i++) {
                if (ch->items[i].type != JSON_STRING) return bad(r, "valid_channels must be strings");
                list[i] = ch->items[i].str;
            }
            sc->valid_channels = list;
            sc->n_valid_channels = ch->n;
        } else if (ch && ch->type != JSON_ARRAY && ch->type != JSON_NULL) {
            return bad(r, "valid_channels must be a list");
        }
        sc->channel_required = json_is_true(json_get(cc, "channel_required"));
    } else if (cc->type != JSON_NULL) {
        return bad(r, "channel_config must be an object");
    }
    gptoss_status st = read_namespaces(r, json_get(v, "tools"), &sc->tools, &sc->n_tools);
    if (st != GPTOSS_OK) return st;
    part->kind = GPTOSS_HARMONY_CONTENT_SYSTEM;
    part->system = sc;
    return GPTOSS_OK;
}

static gptoss_status read_developer(reader *r, const json_value *v, gptoss_harmony_content *part) {
    gptoss_harmony_developer_content *dc = scratch_alloc(&r->sc, sizeof *dc);
    if (!dc) return gptoss_fail(GPTOSS_ERR_NO_MEMORY, r->err, r->err_size, "out of memory");
    int ok = 1;
    dc->instructions = opt_string(v, "instructions", &ok);
    if (!ok) return bad(r, "instructions must be a string or null");
    gptoss_status st = read_namespaces(r, json_get(v, "tools"), &dc->tools, &dc->n_tools);
    if (st != GPTOSS_OK) return st;
    /* "response_format": {"name", "description", "schema"} (this library's; harmony has no field) */
    const json_value *rf = json_get(v, "response_format");
    if (rf && rf->type != JSON_NULL) {
        if (rf->type != JSON_OBJECT) return bad(r, "response_format must be an object");
        dc->response_format_name = opt_string(rf, "name", &ok);
        dc->response_format_description = opt_string(rf, "description", &ok);
        if (!ok || !dc->response_format_name) return bad(r, "response_format needs a string \"name\"");
        const json_value *schema = json_get(rf, "schema");
        if (schema && schema->type != JSON_NULL) {
            gptoss_buf b = {0};
            json_write_value(&b, schema);
            char *text = scratch_alloc(&r->sc, b.len + 1);
            if (text && b.data) memcpy(text, b.data, b.len);
            int failed = b.failed;
            gptoss_buf_free(&b);
            if (!text || failed) return gptoss_fail(GPTOSS_ERR_NO_MEMORY, r->err, r->err_size, "out of memory");
            dc->response_format_schema = text;
        }
    }
    part->kind = GPTOSS_HARMONY_CONTENT_DEVELOPER;
    part->developer = dc;
    return GPTOSS_OK;
}

static gptoss_status read_message(reader *r, const json_value *v, gptoss_harmony_conversation *conv) {
    if (v->type != JSON_OBJECT) return bad(r, "a message must be an object");
    gptoss_harmony_message m = {0};
    int ok = 1;
    const char *role = opt_string(v, "role", &ok);
    /* openai/harmony nests the role under "author" in some serialisations. */
    const json_value *author = json_get(v, "author");
    if (!role && author && author->type == JSON_OBJECT) role = opt_string(author, "role", &ok);
    m.role = gptoss_harmony_role_from_name(role);
    if (!ok || m.role == GPTOSS_HARMONY_ROLE_NONE) return bad(r, "\"role\" must be system, developer, user, assistant or tool");
    m.name = opt_string(v, "name", &ok);
    if (!m.name && author && author->type == JSON_OBJECT) m.name = opt_string(author, "name", &ok);
    m.channel = opt_string(v, "channel", &ok);
    m.recipient = opt_string(v, "recipient", &ok);
    m.content_type = opt_string(v, "content_type", &ok);
    if (!ok) return bad(r, "name, channel, recipient and content_type must be strings or null");
    const json_value *content = json_get(v, "content");
    gptoss_harmony_content *parts = NULL;
    size_t n_parts = 0;
    if (content && content->type == JSON_STRING) {
        parts = scratch_alloc(&r->sc, sizeof *parts);
        if (!parts) return gptoss_fail(GPTOSS_ERR_NO_MEMORY, r->err, r->err_size, "out of memory");
        parts[0].text = content->str;
        parts[0].text_len = content->len;
        n_parts = 1;
    } else if (content && content->type == JSON_ARRAY) {
        parts = scratch_alloc(&r->sc, content->n * sizeof *parts);
        if (!parts) return gptoss_fail(GPTOSS_ERR_NO_MEMORY, r->err, r->err_size, "out of memory");
        for (size_t i = 0; i < content->n; i++) {
            const json_value *c = &content->items[i];
            if (c->type == JSON_STRING) {
                parts[i].text = c->str;
                parts[i].text_len = c->len;
                continue;
            }
            if (c->type != JSON_OBJECT) return bad(r, "a content part must be an object");
            const char *type = json_get_string(c, "type");
            gptoss_status st = GPTOSS_OK;
            if (!type || !strcmp(type, "text")) {
                const json_value *t = json_get(c, "text");
                if (!t || t->type != JSON_STRING) return bad(r, "a text part needs a string \"text\"");
                parts[i].text = t->str;
                parts[i].text_len = t->len;
            } else if (!strcmp(type, "system_content")) {
                if (m.role != GPTOSS_HARMONY_ROLE_SYSTEM) return bad(r, "system_content outside a system message");
                st = read_system(r, c, &parts[i]);
            } else if (!strcmp(type, "developer_content")) {
                if (m.role != GPTOSS_HARMONY_ROLE_DEVELOPER) return bad(r, "developer_content outside a developer message");
                st = read_developer(r, c, &parts[i]);
            } else {
                return bad(r, "unknown content type (text, system_content, developer_content)");
            }
            if (st != GPTOSS_OK) return st;
        }
        n_parts = content->n;
    } else if (content && content->type != JSON_NULL) {
        return bad(r, "\"content\" must be a string or a list");
    }
    if (m.role == GPTOSS_HARMONY_ROLE_TOOL && !m.name) return bad(r, "a tool message needs a \"name\"");
    if (r->sc.failed) return gptoss_fail(GPTOSS_ERR_NO_MEMORY, r->err, r->err_size, "out of memory");
    m.content = parts;
    m.n_content = n_parts;
    gptoss_status st = gptoss_harmony_conversation_append(conv, &m);
    if (st != GPTOSS_OK) return gptoss_fail(st, r->err, r->err_size, "out of memory");
    return GPTOSS_OK;
}

gptoss_status gptoss_harmony_conversation_from_json(const char *json, size_t len, gptoss_harmony_conversation **out,
                                                   char *err, size_t err_size) {
    if (!out || (!json && len)) return gptoss_fail(GPTOSS_ERR_INVALID_ARGUMENT, err, err_size, "harmony: NULL argument");
    *out = NULL;
    json_doc *doc = json_parse(json ? json : "", len, err, err_size);
    if (!doc) return GPTOSS_ERR_FORMAT;
    const json_value *root = json_root(doc);
    const json_value *list = root;
    if (root->type == JSON_OBJECT) list = json_get(root, "messages");
    if (!list || list->type != JSON_ARRAY) {
        json_free(doc);
        return gptoss_fail(GPTOSS_ERR_FORMAT, err, err_size,
                           "conversation JSON must be a list of messages or an object with \"messages\"");
    }
    gptoss_harmony_conversation *conv = gptoss_harmony_conversation_create();
    if (!conv) {
        json_free(doc);
        return gptoss_fail(GPTOSS_ERR_NO_MEMORY, err, err_size, "out of memory");
    }
    gptoss_status st = GPTOSS_OK;
    for (size_t i = 0; i < list->n && st == GPTOSS_OK; i++) {
        reader r = {.err = err, .err_size = err_size, .msg_index = i};
        st = read_message(&r, &list->items[i], conv);
        scratch_free(&r.sc);
    }
    json_free(doc);
    if (st != GPTOSS_OK) {
        gptoss_harmony_conversation_free(conv);
        return st;
    }
    *out = conv;
    return GPTOSS_OK;
}

/* ---- writing ---------------------------------------------------------------------------------- */

static void put_key_string(gptoss_buf *b, const char *key, const char *value) {
    gptoss_buf_printf(b, ",\"%s\":", key);
    if (value) json_write_string(b, value, strlen(value));
    else gptoss_buf_puts(b, "null");
}

static void write_namespaces(gptoss_buf *b, const gptoss_harmony_namespace *ns, size_t n) {
    gptoss_buf_puts(b, ",\"tools\":");
    if (!n) {
        gptoss_buf_puts(b, "null");
        return;
    }
    gptoss_buf_puts(b, "{");
    for (size_t i = 0; i < n; i++) {
        const char *name = ns[i].name ? ns[i].name : "";
        if (i) gptoss_buf_puts(b, ",");
        json_write_string(b, name, strlen(name));
        if (ns[i].builtin) {
            gptoss_buf_puts(b, ":\"builtin\"");
            continue;
        }
        gptoss_buf_puts(b, ":{\"name\":");
        json_write_string(b, name, strlen(name));
        put_key_string(b, "description", ns[i].description);
        gptoss_buf_puts(b, ",\"tools\":[");
        for (size_t j = 0; j < ns[i].n_tools; j++) {
            const gptoss_harmony_tool *t = &ns[i].tools[j];
            gptoss_buf_puts(b, j ? ",{\"name\":" : "{\"name\":");
            json_write_string(b, t->name ? t->name : "", t->name ? strlen(t->name) : 0);
            put_key_string(b, "description", t->description);
            gptoss_buf_puts(b, ",\"parameters\":");
            json_doc *doc = t->parameters_json ? json_parse(t->parameters_json, strlen(t->parameters_json), NULL, 0) : NULL;
            if (doc) json_write_value(b, json_root(doc));
            else gptoss_buf_puts(b, "null");
            json_free(doc);
            gptoss_buf_puts(b, "}");
        }
        gptoss_buf_puts(b, "]}");
    }
    gptoss_buf_puts(b, "}");
}

static void write_part(gptoss_buf *b, const gptoss_harmony_content *c) {
    if (c->kind == GPTOSS_HARMONY_CONTENT_SYSTEM && c->system) {
        const gptoss_harmony_system_content *s = c->system;
        gptoss_buf_puts(b, "{\"type\":\"system_content\"");
        put_key_string(b, "model_identity", s->model_identity);
        const char *effort = gptoss_harmony_effort_name(s->reasoning_effort);
        put_key_string(b, "reasoning_effort", *effort ? effort : NULL);
        put_key_string(b, "knowledge_cutoff", s->knowledge_cutoff);
        put_key_string(b, "conversation_start_date", s->conversation_start_date);
        gptoss_buf_puts(b, ",\"channel_config\":{\"valid_channels\":[");
        for (size_t i = 0; i < s->n_valid_channels; i++) {
            const char *ch = s->valid_channels[i] ? s->valid_channels[i] : "";
            if (i) gptoss_buf_puts(b, ",");
            json_write_string(b, ch, strlen(ch));
        }
        gptoss_buf_printf(b, "],\"channel_required\":%s}", s->channel_required ? "true" : "false");
        write_namespaces(b, s->tools, s->n_tools);
        gptoss_buf_puts(b, "}");
    } else if (c->kind == GPTOSS_HARMONY_CONTENT_DEVELOPER && c->developer) {
        gptoss_buf_puts(b, "{\"type\":\"developer_content\"");
        put_key_string(b, "instructions", c->developer->instructions);
        write_namespaces(b, c->developer->tools, c->developer->n_tools);
        const gptoss_harmony_developer_content *d = c->developer;
        if (d->response_format_name) {
            gptoss_buf_puts(b, ",\"response_format\":{\"name\":");
            json_write_string(b, d->response_format_name, strlen(d->response_format_name));
            put_key_string(b, "description", d->response_format_description);
            gptoss_buf_puts(b, ",\"schema\":");
            json_doc *doc = d->response_format_schema
                                ? json_parse(d->response_format_schema, strlen(d->response_format_schema), NULL, 0)
                                : NULL;
            if (doc) json_write_value(b, json_root(doc));
            else gptoss_buf_puts(b, "null");
            json_free(doc);
            gptoss_buf_puts(b, "}");
        }
        gptoss_buf_puts(b, "}");
    } else {
        gptoss_buf_puts(b, "{\"type\":\"text\",\"text\":");
        json_write_string(b, c->text ? c->text : "", c->text ? c->text_len : 0);
        gptoss_buf_puts(b, "}");
    }
}

static void write_message(gptoss_buf *b, const gptoss_harmony_message *m) {
    gptoss_buf_printf(b, "{\"role\":\"%s\"", gptoss_harmony_role_name(m->role));
    if (m->name) put_key_string(b, "name", m->name);
    gptoss_buf_puts(b, ",\"content\":[");
    for (size_t i = 0; i < m->n_content; i++) {
        if (i) gptoss_buf_puts(b, ",");
        write_part(b, &m->content[i]);
    }
    gptoss_buf_puts(b, "]");
    if (m->channel) put_key_string(b, "channel", m->channel);
    if (m->recipient) put_key_string(b, "recipient", m->recipient);
    if (m->content_type) put_key_string(b, "content_type", m->content_type);
    gptoss_buf_puts(b, "}");
}

gptoss_status gptoss_harmony_conversation_to_json(const gptoss_harmony_conversation *conv, char **out, size_t *len) {
    if (!conv || !out) return GPTOSS_ERR_INVALID_ARGUMENT;
    gptoss_buf b = {0};
    size_t n = gptoss_harmony_conversation_size(conv);
    gptoss_buf_puts(&b, "[");
    for (size_t i = 0; i < n; i++) {
        gptoss_buf_puts(&b, i ? ",\n" : "\n");
        write_message(&b, gptoss_harmony_conversation_get(conv, i));
    }
    gptoss_buf_puts(&b, n ? "\n]\n" : "]\n");
    if (!gptoss_buf_cstr(&b)) {
        gptoss_buf_free(&b);
        return GPTOSS_ERR_NO_MEMORY;
    }
    *out = b.data;
    if (len) *len = b.len;
    return GPTOSS_OK;
}
