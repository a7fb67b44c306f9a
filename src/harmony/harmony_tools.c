/* harmony_tools.c: the "# Tools" section of system and developer messages: the built-in browser and
 * python blocks the model was trained on (byte-exact data), and TypeScript-like declarations of
 * function tools from their JSON Schema, following openai/harmony's json_schema_to_typescript. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harmony/harmony.h"

/* Copied from openai/harmony's test-data (test_browser_and_python_tool.txt); tests check their SHA-256
 * against the spec's Appendix A, since any paraphrase takes the prompt out of distribution. */
static const char browser_block[] =
    "## browser\n"
    "\n"
    "// Tool for browsing.\n"
    "// The `cursor` appears in brackets before each browsing display: `[{cursor}]`.\n"
    "// Cite information from the tool using the following format:\n"
    "// `\343\200\220{cursor}\342\200\240L{line_start}(-L{line_end})?\343\200\221`, for example: `\343\200\2206\342\200\240L9-L11\343\200\221` or `\343\200\2208\342\200\240L3\343\200\221`.\n"
    "// Do not quote more than 10 words directly from the tool output.\n"
    "// sources=web (default: web)\n"
    "namespace browser {\n"
    "\n"
    "// Searches for information related to `query` and displays `topn` results.\n"
    "type search = (_: {\n"
    "query: string,\n"
    "topn?: number, // default: 10\n"
    "source?: string,\n"
    "}) => any;\n"
    "\n"
    "// Opens the link `id` from the page indicated by `cursor` starting at line number `loc`, showing `num_lines` lines.\n"
    "// Valid link ids are displayed with the formatting: `\343\200\220{id}\342\200\240.*\343\200\221`.\n"
    "// If `cursor` is not provided, the most recent page is implied.\n"
    "// If `id` is a string, it is treated as a fully qualified URL associated with `source`.\n"
    "// If `loc` is not provided, the viewport will be positioned at the beginning of the document or centered on the most relevant passage, if available.\n"
    "// Use this function without `id` to scroll to a new location of an opened page.\n"
    "type open = (_: {\n"
    "id?: number | string, // default: -1\n"
    "cursor?: number, // default: -1\n"
    "loc?: number, // default: -1\n"
    "num_lines?: number, // default: -1\n"
    "view_source?: boolean, // default: false\n"
    "source?: string,\n"
    "}) => any;\n"
    "\n"
    "// Finds exact matches of `pattern` in the current page, or the page given by `cursor`.\n"
    "type find = (_: {\n"
    "pattern: string,\n"
    "cursor?: number, // default: -1\n"
    "}) => any;\n"
    "\n"
    "} // namespace browser";

static const char python_block[] =
    "## python\n"
    "\n"
    "Use this tool to execute Python code in your chain of thought. The code will not be shown to the user. This tool should be used for internal reasoning, but not for code that is intended to be visible to the user (e.g. when creating plots, tables, or files).\n"
    "\n"
    "When you send a message containing Python code to python, it will be executed in a stateful Jupyter notebook environment. python will respond with the output of the execution or time out after 120.0 seconds. The drive at '/mnt/data' can be used to save and persist user files. Internet access for this session is UNKNOWN. Depends on the cluster.";

const char *gptoss_harmony_builtin_namespace(const char *name) {
    if (!name) return NULL;
    if (!strcmp(name, "browser")) return browser_block;
    if (!strcmp(name, "python")) return python_block;
    return NULL;
}

/* ---- JSON Schema -> TypeScript ---------------------------------------------------------------- */

static const json_value *get_type(const json_value *obj, const char *key, json_type t) {
    const json_value *v = json_get(obj, key);
    return v && v->type == t ? v : NULL;
}

static int is_enum(const json_value *schema) {
    const json_value *e = get_type(schema, "enum", JSON_ARRAY);
    return e && e->n > 0;
}

static int is_nullable(const json_value *schema) { return json_is_true(json_get(schema, "nullable")); }

static void puts_len(gptoss_buf *b, const json_value *s) { gptoss_buf_append(b, s->str, s->len); }

/* Strings print raw (quoted when `quote`), anything else as compact JSON. */
static void write_default(gptoss_buf *b, const json_value *schema, const json_value *def, int quote_strings) {
    if (def->type == JSON_STRING && (quote_strings || !is_enum(schema))) {
        gptoss_buf_puts(b, "\"");
        puts_len(b, def);
        gptoss_buf_puts(b, "\"");
    } else if (def->type == JSON_STRING) {
        puts_len(b, def);
    } else {
        json_write_value(b, def);
    }
}

/* The type of one schema into a separate buffer, so that " | null" can be added when it has no
 * "null" yet (openai/harmony checks the rendered text). */
static void type_with_nullable(gptoss_buf *b, const json_value *schema, const char *indent) {
    gptoss_buf t = {0};
    gptoss_harmony_schema_to_ts(&t, schema, indent);
    const char *s = gptoss_buf_cstr(&t);
    if (!s) {
        b->failed = 1;
        gptoss_buf_free(&t);
        return;
    }
    gptoss_buf_append(b, s, t.len);
    if (is_nullable(schema) && !strstr(s, "null")) gptoss_buf_puts(b, " | null");
    gptoss_buf_free(&t);
}

static char *indent_plus(const char *indent, const char *more) {
    size_t a = strlen(indent), m = strlen(more);
    char *s = malloc(a + m + 1);
    if (!s) return NULL;
    memcpy(s, indent, a);
    memcpy(s + a, more, m + 1);
    return s;
}

/* Trailing " // description default: ..." of a oneOf variant; desc is skipped when given. */
static void variant_comments(gptoss_buf *b, const json_value *variant, int show_desc, const json_value *skip_desc) {
    gptoss_buf c = {0};
    const json_value *desc = get_type(variant, "description", JSON_STRING);
    if (show_desc && desc &&
        !(skip_desc && skip_desc->len == desc->len && !memcmp(skip_desc->str, desc->str, desc->len)))
        puts_len(&c, desc);
    const json_value *def = json_get(variant, "default");
    if (def) {
        if (c.len) gptoss_buf_puts(&c, " ");
        gptoss_buf_puts(&c, "default: ");
        write_default(&c, variant, def, 0);
    }
    if (c.failed) b->failed = 1;
    if (c.len) {
        gptoss_buf_puts(b, " // ");
        gptoss_buf_append(b, c.data, c.len);
    }
    gptoss_buf_free(&c);
}

static int in_required(const json_value *required, const json_member *m) {
    if (!required) return 0;
    for (size_t i = 0; i < required->n; i++) {
        const json_value *r = &required->items[i];
        if (r->type == JSON_STRING && r->len == m->key_len && !memcmp(r->str, m->key, m->key_len)) return 1;
    }
    return 0;
}

static void oneof_property(gptoss_buf *b, const json_member *m, const json_value *arr, int required,
                           const char *indent) {
    const json_value *val = &m->value;
    const json_value *prop_desc = get_type(val, "description", JSON_STRING);
    int skip = 0;
    if (prop_desc && arr->n > 0) {
        const json_value *d0 = get_type(&arr->items[0], "description", JSON_STRING);
        skip = d0 && d0->len == prop_desc->len && !memcmp(d0->str, prop_desc->str, d0->len);
    }
    int above = 0;
    if (!skip && prop_desc) {
        gptoss_buf_printf(b, "%s// ", indent);
        puts_len(b, prop_desc);
        gptoss_buf_puts(b, "\n");
        above = 1;
    }
    const json_value *def = json_get(val, "default");
    if (def) {
        gptoss_buf_printf(b, "%s// default: ", indent);
        write_default(b, val, def, 0);
        gptoss_buf_puts(b, "\n");
    }
    gptoss_buf_puts(b, indent);
    gptoss_buf_append(b, m->key, m->key_len);
    gptoss_buf_puts(b, required ? ":\n" : "?:\n");
    char *sub = indent_plus(indent, "   ");
    if (!sub) {
        b->failed = 1;
        return;
    }
    for (size_t i = 0; i < arr->n; i++) {
        gptoss_buf_printf(b, "%s | ", indent);
        type_with_nullable(b, &arr->items[i], sub);
        variant_comments(b, &arr->items[i], !(i == 0 && above), prop_desc);
        gptoss_buf_puts(b, "\n");
    }
    free(sub);
    gptoss_buf_printf(b, "%s,\n", indent);
}

static void object_to_ts(gptoss_buf *b, const json_value *schema, const char *indent) {
    const json_value *desc = get_type(schema, "description", JSON_STRING);
    if (desc) {
        gptoss_buf_printf(b, "%s// ", indent);
        puts_len(b, desc);
        gptoss_buf_puts(b, "\n");
    }
    gptoss_buf_puts(b, "{\n");
    const json_value *props = get_type(schema, "properties", JSON_OBJECT);
    const json_value *required = get_type(schema, "required", JSON_ARRAY);
    char *sub = indent_plus(indent, "    ");
    if (!sub) {
        b->failed = 1;
        return;
    }
    for (size_t i = 0; props && i < props->n; i++) {
        const json_member *m = &props->members[i];
        const json_value *val = &m->value;
        int req = in_required(required, m);
        const json_value *title = get_type(val, "title", JSON_STRING);
        if (title) {
            gptoss_buf_printf(b, "%s// ", indent);
            puts_len(b, title);
            gptoss_buf_printf(b, "\n%s//\n", indent);
        }
        const json_value *oneof = json_get(val, "oneOf");
        const json_value *pdesc = get_type(val, "description", JSON_STRING);
        if (!oneof && pdesc) {
            gptoss_buf_printf(b, "%s// ", indent);
            puts_len(b, pdesc);
            gptoss_buf_puts(b, "\n");
        }
        const json_value *examples = get_type(val, "examples", JSON_ARRAY);
        if (examples && examples->n > 0) {
            gptoss_buf_printf(b, "%s// Examples:\n", indent);
            for (size_t j = 0; j < examples->n; j++) {
                if (examples->items[j].type != JSON_STRING) continue;
                gptoss_buf_printf(b, "%s// - \"", indent);
                puts_len(b, &examples->items[j]);
                gptoss_buf_puts(b, "\"\n");
            }
        }
        if (oneof && oneof->type == JSON_ARRAY) {
            oneof_property(b, m, oneof, req, indent);
            continue;
        }
        gptoss_buf_puts(b, indent);
        gptoss_buf_append(b, m->key, m->key_len);
        gptoss_buf_puts(b, req ? ": " : "?: ");
        type_with_nullable(b, val, sub);
        gptoss_buf_puts(b, ",");
        const json_value *def = json_get(val, "default");
        if (!oneof && def) {
            gptoss_buf_puts(b, " // default: ");
            write_default(b, val, def, 0);
        }
        gptoss_buf_puts(b, "\n");
    }
    free(sub);
    gptoss_buf_printf(b, "%s}", indent);
}

void gptoss_harmony_schema_to_ts(gptoss_buf *b, const json_value *schema, const char *indent) {
    const json_value *oneof = get_type(schema, "oneOf", JSON_ARRAY);
    if (oneof) {
        char *sub = indent_plus(indent, "   ");
        if (!sub) {
            b->failed = 1;
            return;
        }
        for (size_t i = 0; i < oneof->n; i++) {
            gptoss_buf_printf(b, "\n%s | ", indent);
            type_with_nullable(b, &oneof->items[i], sub);
            variant_comments(b, &oneof->items[i], 1, NULL);
        }
        free(sub);
        return;
    }
    const json_value *types = get_type(schema, "type", JSON_ARRAY);
    if (types) {
        size_t n = 0;
        for (size_t i = 0; i < types->n; i++) {
            const json_value *t = &types->items[i];
            if (t->type != JSON_STRING) continue;
            if (n++) gptoss_buf_puts(b, " | ");
            if (!strcmp(t->str, "integer")) gptoss_buf_puts(b, "number");
            else puts_len(b, t);
        }
        if (n) return;
    }
    const char *type = json_get_string(schema, "type");
    if (!type) {
        gptoss_buf_puts(b, "any");
    } else if (!strcmp(type, "object")) {
        object_to_ts(b, schema, indent);
    } else if (!strcmp(type, "string")) {
        const json_value *e = get_type(schema, "enum", JSON_ARRAY);
        size_t n = 0;
        for (size_t i = 0; e && i < e->n; i++) {
            if (e->items[i].type != JSON_STRING) continue;
            gptoss_buf_puts(b, n++ ? " | \"" : "\"");
            puts_len(b, &e->items[i]);
            gptoss_buf_puts(b, "\"");
        }
        if (!n) gptoss_buf_puts(b, "string");
    } else if (!strcmp(type, "number") || !strcmp(type, "integer")) {
        gptoss_buf_puts(b, "number");
    } else if (!strcmp(type, "boolean")) {
        gptoss_buf_puts(b, "boolean");
    } else if (!strcmp(type, "array")) {
        const json_value *items = json_get(schema, "items");
        if (items) {
            gptoss_harmony_schema_to_ts(b, items, indent);
            gptoss_buf_puts(b, "[]");
        } else {
            gptoss_buf_puts(b, "Array<any>");
        }
    } else {
        gptoss_buf_puts(b, "any");
    }
}

/* ---- the tools section ------------------------------------------------------------------------ */

/* Lines as Rust's str::lines splits them: on "\n", a trailing "\r" dropped, no final empty line. */
static void each_line(gptoss_buf *b, const char *text, const char *prefix, int *first) {
    const char *p = text;
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        size_t m = n;
        if (m && p[m - 1] == '\r') m--;
        if (!*first) gptoss_buf_puts(b, "\n");
        *first = 0;
        gptoss_buf_puts(b, prefix);
        gptoss_buf_append(b, p, m);
        p += n;
        if (*p == '\n') p++;
    }
}

static int cmp_ns(const void *a, const void *b) {
    const gptoss_harmony_namespace *x = *(const gptoss_harmony_namespace *const *)a;
    const gptoss_harmony_namespace *y = *(const gptoss_harmony_namespace *const *)b;
    return strcmp(x->name ? x->name : "", y->name ? y->name : "");
}

static gptoss_status namespace_block(gptoss_buf *b, const gptoss_harmony_namespace *ns, char *err,
                                     size_t err_size) {
    const char *name = ns->name ? ns->name : "";
    const char *builtin = ns->builtin ? gptoss_harmony_builtin_namespace(name) : NULL;
    if (ns->builtin && !builtin)
        return gptoss_fail(GPTOSS_ERR_INVALID_ARGUMENT, err, err_size, "no built-in tool namespace '%s'", name);
    if (builtin) {
        gptoss_buf_puts(b, builtin);
        return GPTOSS_OK;
    }
    /* openai/harmony joins these pieces with "\n": "## ns\n", comment lines, "namespace ns {\n",
     * tool comment lines, "type ...;\n", "} // namespace ns". */
    int first = 1;
    gptoss_buf_printf(b, "## %s\n", name);
    first = 0;
    if (ns->description) each_line(b, ns->description, ns->n_tools ? "// " : "", &first);
    if (!ns->n_tools) return GPTOSS_OK;
    gptoss_buf_printf(b, "\nnamespace %s {\n", name);
    for (size_t i = 0; i < ns->n_tools; i++) {
        const gptoss_harmony_tool *t = &ns->tools[i];
        if (t->description) each_line(b, t->description, "// ", &first);
        gptoss_buf_printf(b, "\ntype %s = ", t->name ? t->name : "");
        if (t->parameters_json) {
            json_doc *doc = json_parse(t->parameters_json, strlen(t->parameters_json), err, err_size);
            if (!doc) return GPTOSS_ERR_FORMAT;
            gptoss_buf_puts(b, "(_: ");
            gptoss_harmony_schema_to_ts(b, json_root(doc), "");
            gptoss_buf_puts(b, ") => any;\n");
            json_free(doc);
        } else {
            gptoss_buf_puts(b, "() => any;\n");
        }
    }
    gptoss_buf_printf(b, "\n} // namespace %s", name);
    return GPTOSS_OK;
}

gptoss_status gptoss_harmony_tools_section(gptoss_buf *b, const gptoss_harmony_namespace *ns, size_t n,
                                           char *err, size_t err_size) {
    const gptoss_harmony_namespace **order = malloc((n ? n : 1) * sizeof *order);
    if (!order) return gptoss_fail(GPTOSS_ERR_NO_MEMORY, err, err_size, "out of memory");
    for (size_t i = 0; i < n; i++) order[i] = &ns[i];
    qsort(order, n, sizeof *order, cmp_ns);
    gptoss_buf_puts(b, "# Tools");
    gptoss_status st = GPTOSS_OK;
    for (size_t i = 0; i < n && st == GPTOSS_OK; i++) {
        gptoss_buf_puts(b, "\n\n");
        st = namespace_block(b, order[i], err, err_size);
    }
    free(order);
    if (st == GPTOSS_OK && b->failed) st = gptoss_fail(GPTOSS_ERR_NO_MEMORY, err, err_size, "out of memory");
    return st;
}
