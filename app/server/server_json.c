/* server_json.c: what both OpenAI protocols of `gptoss serve` share: error objects, request field
 * checks, tools, samplers, the harmony prompt, tool-call names and arguments, SSE framing. */
#ifdef GPTOSS_HAVE_SERVER
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/random.h"
#include "format/json.h"
#include "server/server.h"

void server_error(server_reply *r, int status, const char *type, const char *param, const char *code,
                  const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (!server_utf8_valid(msg, strlen(msg))) snprintf(msg, sizeof msg, "invalid request");
    cJSON *root = cJSON_CreateObject();
    cJSON *e = cJSON_AddObjectToObject(root, "error");
    cJSON_AddStringToObject(e, "message", msg);
    cJSON_AddStringToObject(e, "type", type);
    if (param) cJSON_AddStringToObject(e, "param", param);
    else cJSON_AddNullToObject(e, "param");
    if (code) cJSON_AddStringToObject(e, "code", code);
    else cJSON_AddNullToObject(e, "code");
    free(r->body);
    r->status = status;
    r->body = cJSON_PrintUnformatted(root);
    r->content_type = "application/json";
    cJSON_Delete(root);
}

void server_job_error(server_reply *r, const server_job *job) {
    if (job->error_status == 503)
        server_error(r, 503, "server_error", NULL, "service_unavailable", "%s",
                     job->error[0] ? job->error : "the model is unavailable");
    else server_error(r, 500, "server_error", NULL, NULL, "%s", job->error[0] ? job->error : "generation failed");
}

int server_utf8_valid(const char *str, size_t n) {
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t len;
        unsigned min;
        if (c >= 0xc2 && c <= 0xdf) len = 2, min = 0x80;
        else if (c >= 0xe0 && c <= 0xef) len = 3, min = 0x800;
        else if (c >= 0xf0 && c <= 0xf4) len = 4, min = 0x10000;
        else return 0;
        if (i + len > n) return 0;
        unsigned cp = c & (0x7f >> len);
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80) return 0;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
        i += len;
    }
    return 1;
}

int server_make_id(char *out, size_t size, const char *prefix) {
    /* Ids name stored responses (previous_response_id, GET /v1/responses/ID) and must not be
     * guessable from another client's ids: 128 bits from the kernel for each, none derived from a
     * counter or the clock. */
    unsigned char raw[SERVER_ID_BYTES];
    if (gptoss_random_bytes(raw, sizeof raw) != 0) {
        const int e = errno;
        if (size) out[0] = 0;
        errno = e;
        return -1;
    }
    static const char hex[] = "0123456789abcdef";
    char tail[2 * SERVER_ID_BYTES + 1];
    for (size_t i = 0; i < sizeof raw; i++) {
        tail[2 * i] = hex[raw[i] >> 4];
        tail[2 * i + 1] = hex[raw[i] & 15];
    }
    tail[2 * SERVER_ID_BYTES] = 0;
    int n = snprintf(out, size, "%s%s", prefix, tail);
    if (n < 0 || (size_t)n >= size) {
        if (size) out[0] = 0;
        errno = ENOBUFS;
        return -1;
    }
    return 0;
}

char *server_content_text(const cJSON *content, int *bad) {
    *bad = 0;
    if (!content || cJSON_IsNull(content)) return strdup("");
    if (cJSON_IsString(content)) return strdup(content->valuestring);
    if (!cJSON_IsArray(content)) {
        *bad = 1;
        return NULL;
    }
    gptoss_buf b = {0};
    const cJSON *part;
    cJSON_ArrayForEach(part, content) {
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(part, "type");
        const cJSON *text = cJSON_GetObjectItemCaseSensitive(part, "text");
        if (cJSON_IsString(part)) text = part, type = NULL;
        else if (!cJSON_IsObject(part) ||
                 (type && (!cJSON_IsString(type) ||
                           (strcmp(type->valuestring, "text") && strcmp(type->valuestring, "input_text") &&
                            strcmp(type->valuestring, "output_text") && strcmp(type->valuestring, "reasoning_text")))) ||
                 !cJSON_IsString(text)) {
            gptoss_buf_free(&b);
            *bad = 1;
            return NULL;
        }
        gptoss_buf_puts(&b, text->valuestring);
    }
    if (!gptoss_buf_cstr(&b)) {
        gptoss_buf_free(&b);
        return NULL;
    }
    return b.data;
}

int server_json_valid(const char *s, size_t n) {
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithLengthOpts(s, n, &end, 0);
    if (!j) return 0;
    cJSON_Delete(j);
    /* cJSON stops after the first value: "644 abc" is not one JSON text */
    while (end && end < s + n && (*end == ' ' || *end == '\n' || *end == '\t' || *end == '\r')) end++;
    return end == s + n;
}

char *server_call_arguments(const char *text, size_t len) {
    size_t a = 0, b = len;
    while (a < b && (text[a] == ' ' || text[a] == '\n' || text[a] == '\t' || text[a] == '\r')) a++;
    while (b > a && (text[b - 1] == ' ' || text[b - 1] == '\n' || text[b - 1] == '\t' || text[b - 1] == '\r')) b--;
    if (b > a && server_json_valid(text + a, b - a)) return strndup(text + a, b - a);
    char *raw = strndup(text, len);
    if (!raw) return NULL;
    cJSON *s = cJSON_CreateString(raw);
    free(raw);
    char *out = s ? cJSON_PrintUnformatted(s) : NULL;
    cJSON_Delete(s);
    return out;
}

char *server_call_name(const char *recipient, const char *const *declared, size_t n_declared) {
    const char *r = recipient ? recipient : "";
    if (!strncmp(r, "functions.", 10)) r += 10;
    size_t best = 0;
    const char *best_name = NULL;
    for (size_t i = 0; i < n_declared; i++) {
        size_t n = strlen(declared[i]);
        if (strncmp(r, declared[i], n) != 0) continue;
        if (!r[n]) return strdup(declared[i]);
        if ((!strncmp(r + n, "json", 4) || !strncmp(r + n, "<|", 2)) && n > best) best = n, best_name = declared[i];
    }
    if (best_name) return strdup(best_name);
    return strdup(r);
}

gptoss_status server_append_call(gptoss_harmony_conversation *hist, const char *name, const char *arguments) {
    char recipient[160];
    snprintf(recipient, sizeof recipient, "functions.%s", name);
    return gptoss_harmony_conversation_append_text(hist, GPTOSS_HARMONY_ROLE_ASSISTANT, NULL, recipient, "commentary",
                                                   "<|constrain|>json", arguments);
}

gptoss_status server_append_call_output(gptoss_harmony_conversation *hist, const char *name, const char *text) {
    char author[160];
    snprintf(author, sizeof author, "functions.%s", name);
    return gptoss_harmony_conversation_append_text(hist, GPTOSS_HARMONY_ROLE_TOOL, author, "assistant", "commentary",
                                                   NULL, text);
}

cJSON *server_json_array_without(const cJSON *arr, int (*drop)(const cJSON *item), int *oom) {
    cJSON *copy = cJSON_CreateArray();
    if (!copy) return *oom = 1, NULL;
    for (const cJSON *t = arr->child; t; t = t->next) {
        if (drop(t)) continue;
        cJSON *d = cJSON_Duplicate(t, 1);
        if (!d || !cJSON_AddItemToArray(copy, d)) {
            cJSON_Delete(d);
            cJSON_Delete(copy);
            return *oom = 1, NULL;
        }
    }
    return copy;
}

int server_call_index_add(server_call_index *ix, const char *id, const char *name) {
    if (ix->n == ix->cap) {
        size_t cap = ix->cap ? 2 * ix->cap : 16;
        server_call_entry *e = cap > SIZE_MAX / sizeof *e ? NULL : realloc(ix->e, cap * sizeof *e);
        if (!e) return -1;
        ix->e = e;
        ix->cap = cap;
    }
    ix->e[ix->n] = (server_call_entry){.id = id, .name = name, .order = ix->n};
    ix->n++;
    return 0;
}

static int call_entry_cmp(const void *a, const void *b) {
    const server_call_entry *x = a, *y = b;
    int c = strcmp(x->id, y->id);
    if (c) return c;
    return x->order < y->order ? -1 : x->order > y->order;
}

/* Sorted, not hashed: the ids come from the client, and a sort has no inputs that make it quadratic
 * (an unkeyed hash table has: ids chosen to collide). */
void server_call_index_sort(server_call_index *ix) {
    if (ix->n > 1) qsort(ix->e, ix->n, sizeof *ix->e, call_entry_cmp);
}

const char *server_call_index_find(const server_call_index *ix, const char *id) {
    size_t lo = 0, hi = ix->n; /* the first entry whose id is >= id */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(ix->e[mid].id, id) < 0) lo = mid + 1;
        else hi = mid;
    }
    return lo < ix->n && !strcmp(ix->e[lo].id, id) ? ix->e[lo].name : NULL;
}

void server_call_index_free(server_call_index *ix) {
    free(ix->e);
    memset(ix, 0, sizeof *ix);
}

int server_is_reasoning(const char *channel) { return channel && !strncmp(channel, "analysis", 8); }

int server_is_call(const gptoss_harmony_message *m) {
    return m && m->role == GPTOSS_HARMONY_ROLE_ASSISTANT && m->recipient && strcmp(m->recipient, "assistant") != 0 &&
           strcmp(m->recipient, "all") != 0 && m->recipient[0];
}

size_t server_max_token_bytes(const gptoss_tokenizer *tok) {
    size_t best = 0;
    uint32_t n = gptoss_tokenizer_n_vocab(tok);
    for (uint32_t id = 0; id < n; id++) {
        size_t len = 0;
        if (gptoss_tokenizer_token_bytes(tok, id, &len) && len > best) best = len;
    }
    return best;
}

size_t server_prompt_min_tokens(const server *srv, const char *instructions, const gptoss_harmony_conversation *msgs) {
    if (!srv->max_token_bytes) return 0;
    size_t bytes = instructions ? strlen(instructions) : 0;
    for (size_t i = 0; i < gptoss_harmony_conversation_size(msgs); i++) {
        const gptoss_harmony_message *m = gptoss_harmony_conversation_get(msgs, i);
        if (m->channel && server_is_reasoning(m->channel)) continue;
        for (size_t k = 0; k < m->n_content; k++)
            if (m->content[k].kind == GPTOSS_HARMONY_CONTENT_TEXT && m->content[k].text) bytes += m->content[k].text_len;
    }
    return bytes / srv->max_token_bytes + (bytes % srv->max_token_bytes != 0);
}

gptoss_status server_render_prompt(const server *srv, gptoss_harmony_effort effort, const char *instructions,
                                   unsigned builtin, const gptoss_harmony_tool *tools, size_t n_tools,
                                   const server_format *format,
                                   const gptoss_harmony_conversation *msgs, gptoss_tokens *out, char *err,
                                   size_t err_size) {
    gptoss_harmony_conversation *conv = gptoss_harmony_conversation_create();
    if (!conv) return gptoss_fail(GPTOSS_ERR_NO_MEMORY, err, err_size, "out of memory");
    gptoss_harmony_system_content sc;
    gptoss_harmony_system_content_default(&sc);
    sc.reasoning_effort = effort;
    sc.conversation_start_date = srv->date[0] ? srv->date : NULL;
    /* the built-in blocks the model was trained on, in the system message (spec 6.1, 6.2), in the
     * order it saw them: browser, then python */
    gptoss_harmony_namespace ns_builtin[2];
    size_t n_builtin = 0;
    if (builtin & SERVER_TOOL_BROWSER) ns_builtin[n_builtin++] = (gptoss_harmony_namespace){.name = "browser", .builtin = 1};
    if (builtin & SERVER_TOOL_PYTHON) ns_builtin[n_builtin++] = (gptoss_harmony_namespace){.name = "python", .builtin = 1};
    if (n_builtin) {
        sc.tools = ns_builtin;
        sc.n_tools = n_builtin;
    }
    gptoss_harmony_content sys_part = {.kind = GPTOSS_HARMONY_CONTENT_SYSTEM, .system = &sc};
    gptoss_harmony_message sys = {.role = GPTOSS_HARMONY_ROLE_SYSTEM, .content = &sys_part, .n_content = 1};
    gptoss_status st = gptoss_harmony_conversation_append(conv, &sys);
    int has_format = format && format->kind == SERVER_FORMAT_JSON_SCHEMA;
    if (st == GPTOSS_OK && ((instructions && *instructions) || n_tools || has_format)) {
        gptoss_harmony_namespace ns = {.name = "functions", .tools = tools, .n_tools = n_tools};
        gptoss_harmony_developer_content dc = {.instructions = instructions && *instructions ? instructions : NULL,
                                               .tools = n_tools ? &ns : NULL, .n_tools = n_tools ? 1 : 0};
        if (has_format) {
            dc.response_format_name = format->name;
            dc.response_format_description = format->description;
            dc.response_format_schema = format->schema;
        }
        gptoss_harmony_content dev_part = {.kind = GPTOSS_HARMONY_CONTENT_DEVELOPER, .developer = &dc};
        gptoss_harmony_message dev = {.role = GPTOSS_HARMONY_ROLE_DEVELOPER, .content = &dev_part, .n_content = 1};
        st = gptoss_harmony_conversation_append(conv, &dev);
    }
    for (size_t i = 0; st == GPTOSS_OK && i < gptoss_harmony_conversation_size(msgs); i++)
        st = gptoss_harmony_conversation_append(conv, gptoss_harmony_conversation_get(msgs, i));
    if (st == GPTOSS_OK)
        st = gptoss_harmony_render_for_completion(srv->tok, conv, GPTOSS_HARMONY_ROLE_ASSISTANT,
                                                  GPTOSS_HARMONY_DROP_TURNS, out, err, err_size);
    else gptoss_fail(st, err, err_size, "out of memory");
    gptoss_harmony_conversation_free(conv);
    return st;
}

static int valid_tool_name(const char *s) {
    size_t n = strlen(s);
    if (!n || n > 64) return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

void server_free_tools(gptoss_harmony_tool *tools, char **strict, size_t n) {
    for (size_t i = 0; tools && i < n; i++) {
        free((void *)(uintptr_t)tools[i].name);
        free((void *)(uintptr_t)tools[i].description);
        free((void *)(uintptr_t)tools[i].parameters_json);
    }
    for (size_t i = 0; strict && i < n; i++) free(strict[i]);
    free(tools);
    free(strict);
}

int server_parse_tools(const cJSON *tools, gptoss_harmony_tool **out, char ***strict_out, size_t *n_out,
                       server_reply *r) {
    *out = NULL;
    *strict_out = NULL;
    *n_out = 0;
    if (!tools || cJSON_IsNull(tools)) return 0;
    if (!cJSON_IsArray(tools)) {
        server_error(r, 400, "invalid_request_error", "tools", "invalid_type", "'tools' must be an array");
        return -1;
    }
    int n = cJSON_GetArraySize(tools);
    gptoss_harmony_tool *t = calloc(n ? (size_t)n : 1, sizeof *t);
    char **strict = calloc(n ? (size_t)n : 1, sizeof *strict);
    if (!t || !strict) {
        free(t);
        free(strict);
        server_error(r, 500, "server_error", NULL, NULL, "out of memory");
        return -1;
    }
    size_t k = 0;
    int idx = -1;
    const cJSON *tool;
    cJSON_ArrayForEach(tool, tools) {
        idx++;
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(tool, "type");
        const cJSON *fn = cJSON_GetObjectItemCaseSensitive(tool, "function");
        if (!cJSON_IsObject(tool) || (type && !cJSON_IsString(type))) goto bad;
        if (type && strcmp(type->valuestring, "function") != 0) {
            server_error(r, 400, "invalid_request_error", "tools", "unsupported_value",
                         "tool type '%s' is not supported (only 'function')", type->valuestring);
            goto fail;
        }
        const cJSON *def = cJSON_IsObject(fn) ? fn : tool; /* not the loop's cursor */
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(def, "name");
        const cJSON *desc = cJSON_GetObjectItemCaseSensitive(def, "description");
        const cJSON *params = cJSON_GetObjectItemCaseSensitive(def, "parameters");
        if (!cJSON_IsString(name) || !valid_tool_name(name->valuestring)) {
            server_error(r, 400, "invalid_request_error", "tools", "invalid_value",
                         "every function tool needs a 'name' of letters, digits, '_' or '-' (at most 64)");
            goto fail;
        }
        const cJSON *is_strict = cJSON_GetObjectItemCaseSensitive(def, "strict");
        if ((desc && !cJSON_IsNull(desc) && !cJSON_IsString(desc)) ||
            (params && !cJSON_IsNull(params) && !cJSON_IsObject(params)) ||
            (is_strict && !cJSON_IsNull(is_strict) && !cJSON_IsBool(is_strict)))
            goto bad;
        if (cJSON_IsTrue(is_strict)) {
            /* A strict function without parameters takes the empty object. */
            strict[k] = cJSON_IsObject(params) ? cJSON_PrintUnformatted(params)
                                               : strdup("{\"type\":\"object\",\"properties\":{},"
                                                        "\"additionalProperties\":false}");
            if (!strict[k]) {
                server_error(r, 500, "server_error", NULL, NULL, "out of memory");
                goto fail;
            }
        }
        t[k].name = strdup(name->valuestring);
        t[k].description = cJSON_IsString(desc) && *desc->valuestring ? strdup(desc->valuestring) : NULL;
        /* A schema without properties declares a function without arguments. */
        const cJSON *props = cJSON_IsObject(params) ? cJSON_GetObjectItemCaseSensitive(params, "properties") : NULL;
        if (cJSON_IsObject(params) && !(cJSON_IsObject(props) && !props->child)) {
            if (!(t[k].parameters_json = cJSON_PrintUnformatted(params))) {
                server_error(r, 500, "server_error", NULL, NULL, "out of memory");
                goto fail;
            }
            /* The prompt renderer parses the schema again with its own (smaller) nesting limit than
             * cJSON's; a schema it refuses is this tool's fault, so the 400 names 'tools' here
             * instead of failing later as a rendering error of the messages. */
            char err[256];
            json_doc *doc = json_parse(t[k].parameters_json, strlen(t[k].parameters_json), err, sizeof err);
            if (!doc) {
                server_error(r, 400, "invalid_request_error", "tools", "invalid_value",
                             "tools[%d]: the parameters schema cannot be declared to the model: %s", idx, err);
                goto fail;
            }
            json_free(doc);
        }
        k++;
    }
    *out = t;
    *strict_out = strict;
    *n_out = k;
    return 0;
bad:
    server_error(r, 400, "invalid_request_error", "tools", "invalid_type",
                 "each tool is {\"type\": \"function\", \"function\": {\"name\", \"description\", \"parameters\", "
                 "\"strict\"}}");
fail:
    server_free_tools(t, strict, (size_t)n);
    return -1;
}

static int get_number(const cJSON *req, const char *name, double lo, double hi, double *out, server_reply *r) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(req, name);
    if (!v || cJSON_IsNull(v)) return 0;
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || v->valuedouble < lo || v->valuedouble > hi) {
        server_error(r, 400, "invalid_request_error", name, cJSON_IsNumber(v) ? "invalid_value" : "invalid_type",
                     "'%s' must be a number from %g to %g", name, lo, hi);
        return -1;
    }
    *out = v->valuedouble;
    return 1;
}

int server_get_uint(const cJSON *req, const char *name, uint32_t *out, server_reply *r) {
    double d;
    int rc = get_number(req, name, 0, 4294967295.0, &d, r);
    if (rc < 0) return -1;
    if (rc == 0) return 0;
    if (d != floor(d)) {
        server_error(r, 400, "invalid_request_error", name, "invalid_type", "'%s' must be an integer", name);
        return -1;
    }
    *out = (uint32_t)d;
    return 0;
}

/* Characters (code points) of valid UTF-8, up to limit + 1. */
static size_t utf8_chars(const char *s, size_t limit) {
    size_t n = 0;
    for (; *s && n <= limit; s++)
        if (((unsigned char)*s & 0xc0) != 0x80) n++;
    return n;
}

int server_check_metadata(const cJSON *req, server_reply *r) {
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(req, "metadata");
    if (!m || cJSON_IsNull(m)) return 0;
    if (!cJSON_IsObject(m)) {
        server_error(r, 400, "invalid_request_error", "metadata", "invalid_type",
                     "Invalid type for 'metadata': expected an object.");
        return -1;
    }
    size_t pairs = 0;
    for (const cJSON *v = m->child; v; v = v->next) {
        if (++pairs > 16) {
            server_error(r, 400, "invalid_request_error", "metadata", "object_above_max_properties",
                         "Invalid 'metadata': too many properties. Expected an object with at most 16 properties.");
            return -1;
        }
        if (utf8_chars(v->string, 64) > 64) {
            server_error(r, 400, "invalid_request_error", "metadata", "string_above_max_length",
                         "Invalid 'metadata': a key is longer than 64 characters.");
            return -1;
        }
        if (!cJSON_IsString(v)) {
            server_error(r, 400, "invalid_request_error", "metadata", "invalid_type",
                         "Invalid type for 'metadata': every value must be a string.");
            return -1;
        }
        if (utf8_chars(v->valuestring, 512) > 512) {
            server_error(r, 400, "invalid_request_error", "metadata", "string_above_max_length",
                         "Invalid 'metadata': a value is longer than 512 characters.");
            return -1;
        }
    }
    return 0;
}

int server_get_bool(const cJSON *req, const char *name, int dflt, int *out, server_reply *r) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(req, name);
    if (!v || cJSON_IsNull(v)) {
        *out = dflt;
        return 0;
    }
    if (!cJSON_IsBool(v)) {
        server_error(r, 400, "invalid_request_error", name, "invalid_value", "'%s' must be a boolean", name);
        return -1;
    }
    *out = cJSON_IsTrue(v);
    return 0;
}

char **server_tool_names(const gptoss_harmony_tool *tools, size_t n_tools) {
    char **names = calloc(n_tools ? n_tools : 1, sizeof *names);
    for (size_t i = 0; names && i < n_tools; i++)
        if (!(names[i] = strdup(tools[i].name))) {
            while (i) free(names[--i]);
            free(names);
            names = NULL;
        }
    return names;
}

int server_make_samplers(const server *srv, const cJSON *req, float default_temperature, server_job *job,
                         server_reply *r) {
    static uint64_t counter;
    double temp = default_temperature, top_p = 1.0, seed = 0, min_p = 0;
    uint32_t top_k = 0; /* not OpenAI's; Ollama's options and other servers' extensions */
    if (get_number(req, "temperature", 0, 2, &temp, r) < 0 || get_number(req, "top_p", 0, 1, &top_p, r) < 0 ||
        get_number(req, "min_p", 0, 1, &min_p, r) < 0 || server_get_uint(req, "top_k", &top_k, r) < 0)
        return -1;
    int has_seed = get_number(req, "seed", -9007199254740991.0, 9007199254740991.0, &seed, r);
    if (has_seed < 0) return -1;
    uint64_t s;
    if (has_seed) s = (uint64_t)(int64_t)seed;
    else {
        uint64_t x = srv->opts.seed + __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED);
        s = gptoss_splitmix64(&x);
    }
    for (uint32_t k = 0; k < job->n_seq; k++) {
        gptoss_sampler_options so = {
            .temperature = (float)temp, .top_k = top_k, .top_p = (float)top_p, .min_p = (float)min_p, .seed = s + k};
        char err[256];
        if (gptoss_sampler_create(gptoss_tokenizer_n_vocab(srv->tok), &so, &job->seqs[k].sampler, err, sizeof err) !=
            GPTOSS_OK) {
            server_error(r, 500, "server_error", NULL, NULL, "%s", err);
            return -1;
        }
    }
    return 0;
}

int server_tool_choice(const cJSON *tc, const gptoss_harmony_tool *tools, size_t n_tools, gptoss_tool_choice *choice,
                       int *named, server_reply *r) {
    *choice = GPTOSS_TOOL_CHOICE_AUTO;
    *named = -1;
    if (!tc || cJSON_IsNull(tc) || (cJSON_IsString(tc) && !strcmp(tc->valuestring, "auto"))) return 0;
    const char *name = NULL;
    if (cJSON_IsString(tc)) {
        if (!strcmp(tc->valuestring, "none")) {
            *choice = GPTOSS_TOOL_CHOICE_NONE;
            return 0;
        }
        if (strcmp(tc->valuestring, "required") != 0) goto bad;
    } else if (cJSON_IsObject(tc)) {
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(tc, "type");
        const cJSON *fn = cJSON_GetObjectItemCaseSensitive(tc, "function");
        const cJSON *nm = cJSON_GetObjectItemCaseSensitive(cJSON_IsObject(fn) ? fn : tc, "name");
        if (!cJSON_IsString(type) || strcmp(type->valuestring, "function") != 0 || !cJSON_IsString(nm)) {
            server_error(r, 400, "invalid_request_error", "tool_choice", "invalid_value",
                         "'tool_choice' as an object must be {\"type\": \"function\", \"function\": {\"name\": ...}} "
                         "(chat) or {\"type\": \"function\", \"name\": ...} (responses)");
            return -1;
        }
        name = nm->valuestring;
    } else goto bad;
    if (!n_tools) {
        server_error(r, 400, "invalid_request_error", "tool_choice", "invalid_value",
                     "'tool_choice' is '%s' but no tools were given", name ? "a function" : "required");
        return -1;
    }
    *choice = GPTOSS_TOOL_CHOICE_REQUIRED;
    if (!name) return 0;
    for (size_t i = 0; i < n_tools && *named < 0; i++)
        if (!strcmp(tools[i].name, name)) *named = (int)i; /* a name declared twice: the first */
    if (*named < 0) {
        server_error(r, 400, "invalid_request_error", "tool_choice", "invalid_value",
                     "Invalid value for 'tool_choice': no function named '%s' in 'tools'", name);
        return -1;
    }
    return 0;
bad:
    server_error(r, 400, "invalid_request_error", "tool_choice", "invalid_value",
                 "'tool_choice' must be 'none', 'auto', 'required' or an object naming a function");
    return -1;
}

int server_get_limit(const cJSON *req, const char *name, uint32_t *out, server_reply *r) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(req, name);
    if (!v || cJSON_IsNull(v)) return 0;
    double d = cJSON_IsNumber(v) ? v->valuedouble : 0;
    if (!isfinite(d) || d < 1 || d != floor(d)) {
        server_error(r, 400, "invalid_request_error", name, cJSON_IsNumber(v) ? "invalid_value" : "invalid_type",
                     "'%s' must be a positive integer", name);
        return -1;
    }
    *out = d > 4294967295.0 ? UINT32_MAX : (uint32_t)d;
    return 0;
}

int server_model_known(const server *srv, const char *name) {
    if (!strcasecmp(name, srv->names.id)) return 1;
    for (size_t i = 0; i < srv->names.n_aliases; i++)
        if (!strcasecmp(name, srv->names.aliases[i])) return 1;
    return 0;
}

int server_check_model(const server *srv, const cJSON *req, server_reply *r) {
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(req, "model");
    if (!m || cJSON_IsNull(m)) return 0;
    if (!cJSON_IsString(m)) {
        server_error(r, 400, "invalid_request_error", "model", "invalid_type", "'model' must be a string");
        return -1;
    }
    if (!server_model_known(srv, m->valuestring)) {
        server_error(r, 404, "invalid_request_error", "model", "model_not_found",
                     "The model '%s' does not exist; this server serves '%s'", m->valuestring, srv->opts.model_id);
        return -1;
    }
    return 0;
}

int server_parse_effort(const cJSON *v, const char *param, gptoss_harmony_effort *out, server_reply *r) {
    *out = GPTOSS_HARMONY_EFFORT_LOW;
    if (!v || cJSON_IsNull(v)) return 0;
    gptoss_harmony_effort e = cJSON_IsString(v) ? gptoss_harmony_effort_from_name(v->valuestring)
                                                : GPTOSS_HARMONY_EFFORT_NONE;
    if (cJSON_IsString(v) && !strcmp(v->valuestring, "minimal")) e = GPTOSS_HARMONY_EFFORT_LOW;
    if (e == GPTOSS_HARMONY_EFFORT_NONE) {
        server_error(r, 400, "invalid_request_error", param, "invalid_value",
                     "'%s' must be one of 'low', 'medium', 'high'", param);
        return -1;
    }
    *out = e;
    return 0;
}

int server_parse_stops(const cJSON *v, size_t max, const char *param, server_stops *out, server_reply *r) {
    memset(out, 0, sizeof *out);
    if (max > SERVER_MAX_STOPS) max = SERVER_MAX_STOPS;
    if (!v || cJSON_IsNull(v)) return 0;
    if (!cJSON_IsString(v) && !cJSON_IsArray(v)) goto bad;
    if (cJSON_IsArray(v) && (size_t)cJSON_GetArraySize(v) > max) {
        server_error(r, 400, "invalid_request_error", param, "invalid_value", "at most %zu stop sequences", max);
        return -1;
    }
    const cJSON *e = cJSON_IsString(v) ? v : v->child;
    for (; e; e = cJSON_IsString(v) ? NULL : e->next) {
        if (!cJSON_IsString(e)) goto bad;
        if (!*e->valuestring) continue;
        if (!(out->s[out->n] = strdup(e->valuestring))) {
            server_stops_free(out);
            server_error(r, 500, "server_error", NULL, NULL, "out of memory");
            return -1;
        }
        size_t l = strlen(out->s[out->n++]);
        if (l > out->max_len) out->max_len = l;
    }
    return 0;
bad:
    server_stops_free(out);
    server_error(r, 400, "invalid_request_error", param, "invalid_type", "'%s' must be a string or an array of strings",
                 param);
    return -1;
}

void server_stops_free(server_stops *st) {
    for (size_t i = 0; i < st->n; i++) free(st->s[i]);
    memset(st, 0, sizeof *st);
}

int server_stop_text_add(server_stop_text *t, const server_stops *st, const char *text, size_t len) {
    if (t->stopped) return 1;
    /* a stop string found now ends in the new bytes, so it begins at most max_len before them */
    size_t from = t->text.len > st->max_len ? t->text.len - st->max_len : 0;
    gptoss_buf_append(&t->text, text, len);
    if (!gptoss_buf_cstr(&t->text)) return 0;
    for (size_t i = 0; i < st->n; i++) {
        char *hit = strstr(t->text.data + from, st->s[i]);
        if (hit && (size_t)(hit - t->text.data) < t->text.len) {
            t->text.len = (size_t)(hit - t->text.data);
            t->text.data[t->text.len] = 0;
            t->stopped = 1;
        }
    }
    if (t->sent > t->text.len) t->sent = t->text.len;
    return t->stopped;
}

size_t server_stop_text_take(server_stop_text *t, const server_stops *st, int all, const char **out) {
    size_t end = t->text.len;
    if (!all && !t->stopped && st->max_len > 1) {
        /* a stop string may begin in the last max_len - 1 bytes; a character is not split */
        end = end > st->max_len - 1 ? end - (st->max_len - 1) : 0;
        while (end > t->sent && end < t->text.len && ((unsigned char)t->text.data[end] & 0xc0) == 0x80) end--;
    }
    *out = t->text.data ? t->text.data + t->sent : "";
    if (end <= t->sent) return 0;
    size_t n = end - t->sent;
    t->sent = end;
    return n;
}

void server_stop_text_free(server_stop_text *t) {
    gptoss_buf_free(&t->text);
    memset(t, 0, sizeof *t);
}

const char *server_finish_reason(server_finish f, size_t n_calls) {
    if (f == SERVER_FINISH_CALL || (n_calls && f != SERVER_FINISH_LENGTH)) return "tool_calls";
    if (f == SERVER_FINISH_LENGTH) return "length";
    return "stop";
}

void server_emit_sse(server_job *job, const char *event, cJSON *json) {
    char *text = cJSON_PrintUnformatted(json);
    cJSON_Delete(json);
    if (!text) return;
    gptoss_buf b = {0};
    if (event) gptoss_buf_printf(&b, "event: %s\n", event);
    gptoss_buf_puts(&b, "data: ");
    gptoss_buf_puts(&b, text);
    gptoss_buf_puts(&b, "\n\n");
    free(text);
    server_job_emit(job, b.data, b.len);
    gptoss_buf_free(&b);
}

#else
typedef int server_json_unused;
#endif
