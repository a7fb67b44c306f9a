/* server_format.c: structured outputs in `gptoss serve`: a request's response format (chat's
 * response_format, Responses' text.format), its strict function tools, its tool_choice and its
 * reasoning budget, turned into one gptoss_constraint (grammars compiled once for the request) that
 * the states of its sequences walk token by token (server_sched.c). The grammar vocabulary (the
 * tokenizer's token trie) and the json_object grammar are built once, at start (server.c). */
#ifdef GPTOSS_HAVE_SERVER
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "server/server.h"

struct server_rules {
    gptoss_grammar *final_owned;         /* compiled for this request (json_schema) */
    gptoss_grammar **grammars;           /* per declared tool: its arguments' grammar (strict), else NULL */
    size_t n_grammars;
    gptoss_constraint_function *functions; /* the functions a call may go to (names point into names) */
    char **names;
    size_t n_functions;
    gptoss_constraint *constraint;
};

void server_rules_free(server_rules *rules) {
    if (!rules) return;
    gptoss_constraint_free(rules->constraint);
    gptoss_grammar_free(rules->final_owned);
    for (size_t i = 0; i < rules->n_grammars; i++) gptoss_grammar_free(rules->grammars[i]);
    for (size_t i = 0; i < rules->n_functions; i++) free(rules->names[i]);
    free(rules->grammars);
    free(rules->functions);
    free(rules->names);
    free(rules);
}

void server_format_free(server_format *f) {
    free(f->name);
    free(f->description);
    free(f->schema);
    memset(f, 0, sizeof *f);
}

/* ---- parsing ---------------------------------------------------------------------------------- */

int server_parse_format(const cJSON *v, int chat, server_format *out, server_reply *r) {
    memset(out, 0, sizeof *out);
    const char *field = chat ? "response_format" : "text.format";
    if (!v || cJSON_IsNull(v)) return 0;
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(v, "type");
    if (!cJSON_IsObject(v) || !cJSON_IsString(type)) {
        server_error(r, 400, "invalid_request_error", field, "invalid_type",
                     "'%s' must be an object with a 'type' ('text', 'json_object' or 'json_schema')", field);
        return -1;
    }
    if (!strcmp(type->valuestring, "text")) return 0;
    if (!strcmp(type->valuestring, "json_object")) {
        out->kind = SERVER_FORMAT_JSON_OBJECT;
        return 0;
    }
    if (strcmp(type->valuestring, "json_schema") != 0) {
        server_error(r, 400, "invalid_request_error", field, "invalid_value",
                     "'%s.type' must be 'text', 'json_object' or 'json_schema', not '%s'", field, type->valuestring);
        return -1;
    }
    /* chat nests the definition in "json_schema"; Responses puts it beside "type" */
    const cJSON *def = chat ? cJSON_GetObjectItemCaseSensitive(v, "json_schema") : v;
    const char *where = chat ? "response_format.json_schema" : "text.format";
    if (!cJSON_IsObject(def)) {
        server_error(r, 400, "invalid_request_error", where, "missing_required_parameter",
                     "Missing required parameter: '%s'.", where);
        return -1;
    }
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(def, "name");
    const cJSON *desc = cJSON_GetObjectItemCaseSensitive(def, "description");
    const cJSON *schema = cJSON_GetObjectItemCaseSensitive(def, "schema");
    const cJSON *strict = cJSON_GetObjectItemCaseSensitive(def, "strict");
    char param[64];
    if (!cJSON_IsString(name) || !*name->valuestring) {
        snprintf(param, sizeof param, "%s.name", where);
        server_error(r, 400, "invalid_request_error", param, "missing_required_parameter",
                     "Missing required parameter: '%s' (a non-empty string).", param);
        return -1;
    }
    int bad = 0;
    if (desc && !cJSON_IsNull(desc) && !cJSON_IsString(desc)) bad = 1, snprintf(param, sizeof param, "%s.description", where);
    else if (schema && !cJSON_IsNull(schema) && !cJSON_IsObject(schema) && !cJSON_IsBool(schema))
        bad = 1, snprintf(param, sizeof param, "%s.schema", where);
    else if (strict && !cJSON_IsNull(strict) && !cJSON_IsBool(strict))
        bad = 1, snprintf(param, sizeof param, "%s.strict", where);
    if (bad) {
        server_error(r, 400, "invalid_request_error", param, "invalid_type",
                     "'%s' has the wrong type (description: string, schema: object, strict: boolean)", param);
        return -1;
    }
    out->kind = SERVER_FORMAT_JSON_SCHEMA;
    out->strict = cJSON_IsTrue(strict);
    out->name = strdup(name->valuestring);
    out->description = cJSON_IsString(desc) && *desc->valuestring ? strdup(desc->valuestring) : NULL;
    out->schema = schema && !cJSON_IsNull(schema) ? cJSON_PrintUnformatted(schema) : strdup("{}");
    if (!out->name || !out->schema || (cJSON_IsString(desc) && *desc->valuestring && !out->description)) {
        server_format_free(out);
        server_error(r, 500, "server_error", NULL, NULL, "out of memory");
        return -1;
    }
    return 0;
}

int server_parse_budget(const cJSON *obj, const char *name, const char *param, int *limit, uint32_t *budget,
                        server_reply *r) {
    *limit = 0;
    *budget = 0;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (!v || cJSON_IsNull(v)) return 0;
    if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 4294967295.0 ||
        v->valuedouble != (double)(uint64_t)v->valuedouble) {
        server_error(r, 400, "invalid_request_error", param, cJSON_IsNumber(v) ? "invalid_value" : "invalid_type",
                     "'%s' must be a non-negative integer", param);
        return -1;
    }
    *limit = 1;
    *budget = (uint32_t)v->valuedouble;
    return 0;
}

/* ---- grammars --------------------------------------------------------------------------------- */

/* Compiles one schema; a refusal is a 400 naming the field, with the compiler's message. */
static int compile(const server *srv, const char *schema, const char *what, const char *param, gptoss_grammar **out,
                   server_reply *r) {
    char err[512] = "";
    gptoss_status st = gptoss_grammar_compile_json_schema(srv->gvocab, schema, strlen(schema), NULL, out, err, sizeof err);
    if (st == GPTOSS_OK) return 0;
    if (st == GPTOSS_ERR_NO_MEMORY) server_error(r, 500, "server_error", NULL, NULL, "out of memory");
    else
        server_error(r, 400, "invalid_request_error", param,
                     st == GPTOSS_ERR_UNSUPPORTED ? "unsupported_value" : "invalid_value", "Invalid schema for %s: %s",
                     what, err[0] ? err : gptoss_status_string(st));
    return -1;
}

int server_rules_build(const server *srv, server_job *job, int chat, const server_format *format,
                       const gptoss_harmony_tool *tools, char *const *strict, size_t n_tools,
                       gptoss_tool_choice choice, int named, server_reply *r) {
    int constrain_final = format && (format->kind == SERVER_FORMAT_JSON_OBJECT ||
                                     (format->kind == SERVER_FORMAT_JSON_SCHEMA && format->strict));
    int any_strict = 0;
    for (size_t i = 0; strict && i < n_tools && choice != GPTOSS_TOOL_CHOICE_NONE; i++) any_strict |= strict[i] != NULL;
    /* auto with nothing else to enforce: the model writes what it writes (as without a constraint) */
    if (choice == GPTOSS_TOOL_CHOICE_AUTO && !constrain_final && !any_strict && !job->limit_reasoning) return 0;
    server_rules *rules = calloc(1, sizeof *rules);
    size_t n = n_tools ? n_tools : 1;
    if (!rules || !(rules->grammars = calloc(n, sizeof *rules->grammars)) ||
        !(rules->functions = calloc(n, sizeof *rules->functions)) || !(rules->names = calloc(n, sizeof *rules->names))) {
        server_rules_free(rules);
        goto oom;
    }
    job->rules = rules; /* freed with the job, on failure too */
    rules->n_grammars = n_tools;
    char what[160], param[64];
    const gptoss_grammar *final = NULL;
    if (format && format->kind == SERVER_FORMAT_JSON_OBJECT) final = srv->json_object;
    else if (constrain_final) {
        snprintf(what, sizeof what, "response_format '%s'", format->name);
        if (compile(srv, format->schema, what, chat ? "response_format.json_schema.schema" : "text.format.schema",
                    &rules->final_owned, r) < 0)
            return -1;
        final = rules->final_owned;
    }
    /* none: no function (the tools are not even in the prompt); named: that one; else every tool.
     * Every strict tool is compiled (but under none), so a bad schema is a 400 whatever the choice. */
    for (size_t i = 0; i < n_tools && choice != GPTOSS_TOOL_CHOICE_NONE; i++) {
        if (strict && strict[i]) {
            snprintf(what, sizeof what, "function '%s'", tools[i].name);
            snprintf(param, sizeof param, chat ? "tools[%zu].function.parameters" : "tools[%zu].parameters", i);
            if (compile(srv, strict[i], what, param, &rules->grammars[i], r) < 0) return -1;
        }
        if (named >= 0 && (size_t)named != i) continue;
        size_t k = rules->n_functions;
        if (!(rules->names[k] = strdup(tools[i].name))) goto oom;
        rules->functions[k] = (gptoss_constraint_function){rules->names[k], rules->grammars[i]};
        rules->n_functions++;
    }
    gptoss_constraint_options co = {.final_grammar = final,
                                    .functions = rules->functions,
                                    .n_functions = rules->n_functions,
                                    .tool_choice = choice,
                                    .limit_reasoning = job->limit_reasoning,
                                    .max_reasoning_tokens = job->max_reasoning_tokens};
    char err[256] = "";
    gptoss_status st = gptoss_constraint_create(srv->tok, &co, &rules->constraint, err, sizeof err);
    if (st == GPTOSS_ERR_NO_MEMORY) goto oom;
    if (st != GPTOSS_OK) {
        server_error(r, 400, "invalid_request_error", "tool_choice", "invalid_value", "%s", err[0] ? err : "bad constraint");
        return -1;
    }
    if (gptoss_constraint_is_free(rules->constraint)) return 0;
    for (uint32_t k = 0; k < job->n_seq; k++)
        if (gptoss_constraint_state_create(rules->constraint, &job->seqs[k].constraint) != GPTOSS_OK) goto oom;
    return 0;
oom:
    server_error(r, 500, "server_error", NULL, NULL, "out of memory");
    return -1;
}

#else
typedef int server_format_unused;
#endif
