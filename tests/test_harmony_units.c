/* test_harmony_units.c: harmony beyond the conformance files: the built-in tool blocks against the
 * spec's SHA-256, tool declarations, conversation JSON round trips, the turn-based drop rule, render ->
 * parse round trips, lenient recovery of malformed output, and random id streams in both modes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/common.h"
#include "base/sha256.h"
#include "format/json.h"
#include "harmony/harmony.h"
#include "tap.h"

static gptoss_tokenizer *tok;

static void test_builtin_blocks(void) {
    char hex[65];
    gptoss_sha256_hex("abc", 3, hex);
    tap_check(!strcmp(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"), "sha256 self-test");
    const char *b = gptoss_harmony_builtin_namespace("browser");
    const char *p = gptoss_harmony_builtin_namespace("python");
    gptoss_sha256_hex(b, strlen(b), hex);
    tap_check(!strcmp(hex, "c4ab16736a28c6e72dca0671a6b7ba8233a0b1deaff7a2c2afad91937694d443"),
              "browser block: SHA-256 of spec Appendix A (%zu bytes)", strlen(b));
    gptoss_sha256_hex(p, strlen(p), hex);
    tap_check(!strcmp(hex, "2dd7bb9c4fb01b20e2f99454340c1ad6c02b319b72f76cd78eee9286e51cdf4f") && strlen(p) == 615,
              "python block: SHA-256 of spec Appendix A (615 bytes)");
    tap_check(gptoss_harmony_builtin_namespace("functions") == NULL, "no built-in 'functions' block");
    char path[4096];
    char *file = NULL;
    size_t n;
    if (tap_shared_path("both blocks appear verbatim in upstream test-data",
                        "harmony/test-data/test_browser_and_python_tool.txt", path, sizeof path)) {
        tap_check(gptoss_read_file(path, (size_t)1 << 24, &file, &n, NULL, 0) == GPTOSS_OK && strstr(file, b) &&
                      strstr(file, p),
                  "both blocks appear verbatim in upstream test-data");
        free(file);
    }
}

/* ---- helpers ---------------------------------------------------------------------------------- */

static gptoss_harmony_conversation *conv_json(const char *json) {
    char err[256] = "";
    gptoss_harmony_conversation *c = NULL;
    if (gptoss_harmony_conversation_from_json(json, strlen(json), &c, err, sizeof err) != GPTOSS_OK)
        tap_diag("conversation JSON: %s", err);
    return c;
}

static char *text_of(const gptoss_tokens *t) {
    char *s = NULL;
    size_t n;
    if (gptoss_tokenizer_decode(tok, t->ids, t->n, &s, &n, NULL, 0) != GPTOSS_OK) return NULL;
    return s;
}

/* Renders (completion or plain) and returns the decoded text, or NULL. */
static char *render_text(const gptoss_harmony_conversation *c, gptoss_harmony_drop drop, int completion) {
    gptoss_tokens t = {0};
    char err[256];
    gptoss_status st = completion ? gptoss_harmony_render_for_completion(tok, c, GPTOSS_HARMONY_ROLE_ASSISTANT, drop,
                                                                         &t, err, sizeof err)
                                  : gptoss_harmony_render_conversation(tok, c, drop, &t, err, sizeof err);
    char *s = st == GPTOSS_OK ? text_of(&t) : NULL;
    if (st != GPTOSS_OK) tap_diag("render: %s", err);
    gptoss_tokens_free(&t);
    return s;
}

/* ---- tool declarations -------------------------------------------------------------------------- */

static void test_response_formats(void) {
    gptoss_harmony_conversation *c;
    char *text;
    /* # Response Formats (harmony's format.md): the last section of the developer message, after the
     * instructions and tools; the schema's JSON as given; the comment line only with a description. */
    {
        gptoss_harmony_tool g = {.name = "g"};
        gptoss_harmony_namespace ns = {.name = "functions", .tools = &g, .n_tools = 1};
        gptoss_harmony_developer_content dc = {.instructions = "Be brief.", .tools = &ns, .n_tools = 1,
                                               .response_format_name = "shopping_list",
                                               .response_format_description = "entries to buy",
                                               .response_format_schema =
                                                   "{\"type\":\"object\",\"properties\":{\"items\":{\"type\":\"array\"}}}"};
        gptoss_harmony_content part = {.kind = GPTOSS_HARMONY_CONTENT_DEVELOPER, .developer = &dc};
        gptoss_harmony_message m = {.role = GPTOSS_HARMONY_ROLE_DEVELOPER, .content = &part, .n_content = 1};
        c = gptoss_harmony_conversation_create();
        int ok = c && gptoss_harmony_conversation_append(c, &m) == GPTOSS_OK;
        text = ok ? render_text(c, GPTOSS_HARMONY_DROP_NONE, 0) : NULL;
        const char *want = "<|start|>developer<|message|># Instructions\n\nBe brief.\n\n# Tools\n\n## functions\n\n"
                           "namespace functions {\n\ntype g = () => any;\n\n} // namespace functions\n\n"
                           "# Response Formats\n\n## shopping_list\n\n// entries to buy\n"
                           "{\"type\":\"object\",\"properties\":{\"items\":{\"type\":\"array\"}}}<|end|>";
        ok = text && !strcmp(text, want);
        if (!ok) tap_diag("got: %s", text ? text : "(null)");
        tap_check(ok, "developer content: # Response Formats after instructions and tools, exact text");
        free(text);
        /* round trip through the conversation JSON */
        char *json = NULL;
        size_t len = 0;
        gptoss_harmony_conversation *back = NULL;
        ok = c && gptoss_harmony_conversation_to_json(c, &json, &len) == GPTOSS_OK &&
             gptoss_harmony_conversation_from_json(json, len, &back, NULL, 0) == GPTOSS_OK;
        text = ok ? render_text(back, GPTOSS_HARMONY_DROP_NONE, 0) : NULL;
        tap_check(text && !strcmp(text, want), "developer content: response_format survives the conversation JSON");
        free(text);
        free(json);
        gptoss_harmony_conversation_free(back);
        gptoss_harmony_conversation_free(c);
        /* alone, without a description */
        gptoss_harmony_developer_content only = {.response_format_name = "n", .response_format_schema = "{\"type\":\"string\"}"};
        part.developer = &only;
        c = gptoss_harmony_conversation_create();
        ok = c && gptoss_harmony_conversation_append(c, &m) == GPTOSS_OK;
        text = ok ? render_text(c, GPTOSS_HARMONY_DROP_NONE, 0) : NULL;
        tap_check(text && !strcmp(text, "<|start|>developer<|message|># Response Formats\n\n## n\n\n{\"type\":\"string\"}<|end|>"),
                  "developer content: # Response Formats alone, no description line");
        free(text);
        gptoss_harmony_conversation_free(c);
    }
}

static void test_tool_declarations(void) {
    const char *json =
        "[{\"role\":\"developer\",\"content\":[{\"type\":\"developer_content\",\"instructions\":null,\"tools\":{"
        "\"functions\":{\"name\":\"functions\",\"description\":\"Line one.\\nLine two.\",\"tools\":[{\"name\":\"f\","
        "\"description\":\"Does f.\",\"parameters\":{\"type\":\"object\",\"properties\":{"
        "\"opts\":{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\"}},\"required\":[\"a\"]},"
        "\"ids\":{\"type\":[\"integer\",\"string\"]},"
        "\"any\":{\"type\":\"array\"},"
        "\"flag\":{\"type\":\"boolean\",\"default\":false},"
        "\"unit\":{\"type\":\"string\",\"enum\":[\"c\",\"f\"],\"default\":\"c\"},"
        "\"ratio\":{\"type\":\"number\",\"default\":0.25},"
        "\"blob\":{}},\"required\":[\"ids\"]}}]}}}]}]";
    gptoss_harmony_conversation *c = conv_json(json);
    char *text = c ? render_text(c, GPTOSS_HARMONY_DROP_NONE, 0) : NULL;
    const char *want =
        "<|start|>developer<|message|># Tools\n\n## functions\n\n// Line one.\n// Line two.\nnamespace functions {\n\n"
        "// Does f.\ntype f = (_: {\nopts?: {\n    a: string,\n    },\nids: number | string,\nany?: Array<any>,\n"
        "flag?: boolean, // default: false\nunit?: \"c\" | \"f\", // default: c\nratio?: number, // default: 0.25\n"
        "blob?: any,\n}) => any;\n\n} // namespace functions<|end|>";
    int ok = text && !strcmp(text, want);
    if (!ok) tap_diag("got: %s", text ? text : "(null)");
    tap_check(ok, "tool declarations: nested objects, type lists, arrays, defaults, enums, any");
    free(text);
    gptoss_harmony_conversation_free(c);

    /* The system message says where function calls go only when a developer declares functions. */
    c = conv_json("[{\"role\":\"system\",\"content\":[{\"type\":\"system_content\"}]},"
                  "{\"role\":\"developer\",\"content\":[{\"type\":\"developer_content\",\"instructions\":\"Hi\","
                  "\"tools\":{\"functions\":{\"name\":\"functions\",\"tools\":[{\"name\":\"g\"}]}}}]}]");
    text = c ? render_text(c, GPTOSS_HARMONY_DROP_NONE, 0) : NULL;
    tap_check(text && strstr(text, "Channel must be included for every message.\nCalls to these tools must go to the "
                                   "commentary channel: 'functions'.<|end|>") &&
                  strstr(text, "# Instructions\n\nHi\n\n# Tools\n\n## functions\n\nnamespace functions {\n\ntype g = () "
                               "=> any;\n\n} // namespace functions<|end|>"),
              "functions line in the system message; tool without description or parameters");
    free(text);
    gptoss_harmony_conversation_free(c);

    c = conv_json("[{\"role\":\"system\",\"content\":[{\"type\":\"system_content\"}]}]");
    text = c ? render_text(c, GPTOSS_HARMONY_DROP_NONE, 0) : NULL;
    tap_check(text && !strstr(text, "Calls to these tools") &&
                  !strcmp(text, "<|start|>system<|message|>You are ChatGPT, a large language model trained by OpenAI.\n"
                                "Knowledge cutoff: 2024-06\n\nReasoning: medium\n\n# Valid channels: analysis, "
                                "commentary, final. Channel must be included for every message.<|end|>"),
              "system content defaults for absent fields");
    free(text);
    gptoss_harmony_conversation_free(c);
}

/* ---- JSON ------------------------------------------------------------------------------------- */

static void test_json(void) {
    const char *bad[] = {
        "", "{}", "[1]", "[{\"role\":\"robot\",\"content\":\"x\"}]", "[{\"role\":\"tool\",\"content\":\"x\"}]",
        "[{\"role\":\"user\",\"content\":[{\"type\":\"system_content\"}]}]",
        "[{\"role\":\"user\",\"content\":[{\"type\":\"image\"}]}]", "[{\"role\":\"user\",\"channel\":5}]",
        "[{\"role\":\"system\",\"content\":[{\"type\":\"system_content\",\"reasoning_effort\":\"max\"}]}]",
        "[{\"role\":\"system\",\"content\":[{\"type\":\"system_content\",\"tools\":{\"shell\":\"builtin\"}}]}]",
        "[{\"role\":\"developer\",\"content\":[{\"type\":\"developer_content\",\"tools\":{\"functions\":{\"tools\":[{}]}}}]}]",
        "[{\"role\":\"user\",\"content\":\"x\"}",
    };
    int all = 1;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        gptoss_harmony_conversation *c = NULL;
        char err[256] = "";
        gptoss_status st = gptoss_harmony_conversation_from_json(bad[i], strlen(bad[i]), &c, err, sizeof err);
        if (st == GPTOSS_OK || c || !err[0]) {
            tap_diag("accepted: %s", bad[i]);
            all = 0;
        }
        gptoss_harmony_conversation_free(c);
    }
    tap_check(all, "malformed conversation JSON is refused with a message");

    const char *json =
        "{\"messages\":[{\"role\":\"system\",\"content\":[{\"type\":\"system_content\",\"reasoning_effort\":\"High\","
        "\"conversation_start_date\":\"2025-01-02\",\"tools\":{\"python\":true,\"browser\":\"x\"}}]},"
        "{\"role\":\"developer\",\"content\":[{\"type\":\"developer_content\",\"instructions\":\"Be \\\"brief\\\".\","
        "\"tools\":{\"functions\":{\"name\":\"functions\",\"tools\":[{\"name\":\"w\",\"description\":\"Weather.\","
        "\"parameters\":{\"type\":\"object\",\"properties\":{\"q\":{\"type\":\"string\"}}}}]}}}]},"
        "{\"role\":\"user\",\"name\":\"bob\",\"content\":\"caf\\u00e9 <|end|>\"},"
        "{\"role\":\"assistant\",\"channel\":\"commentary\",\"recipient\":\"functions.w\",\"content_type\":"
        "\"<|constrain|>json\",\"content\":[{\"type\":\"text\",\"text\":\"{}\"}]},"
        "{\"role\":\"tool\",\"name\":\"functions.w\",\"recipient\":\"assistant\",\"channel\":\"commentary\","
        "\"content\":[\"sunny\"]}]}";
    gptoss_harmony_conversation *c = conv_json(json);
    char *out = NULL, *out2 = NULL;
    gptoss_harmony_conversation *c2 = NULL;
    char *t1 = NULL, *t2 = NULL;
    if (c && gptoss_harmony_conversation_to_json(c, &out, NULL) == GPTOSS_OK) c2 = conv_json(out);
    if (c2 && gptoss_harmony_conversation_to_json(c2, &out2, NULL) == GPTOSS_OK) {
        t1 = render_text(c, GPTOSS_HARMONY_DROP_NONE, 1);
        t2 = render_text(c2, GPTOSS_HARMONY_DROP_NONE, 1);
    }
    tap_check(out && *out && out2 && !strcmp(out, out2), "conversation JSON: write, read, write is stable");
    tap_check(t1 && t2 && !strcmp(t1, t2), "conversation JSON: the read-back conversation renders the same");
    tap_check(t1 && strstr(t1, "<|start|>user:bob<|message|>caf\xc3\xa9 <|end|><|end|>") &&
                  strstr(t1, "Reasoning: high") && strstr(t1, "Current date: 2025-01-02") &&
                  strstr(t1, "## browser\n\n// Tool for browsing.") && strstr(t1, "## python\n\nUse this tool") &&
                  strstr(t1, "<|start|>functions.w to=assistant<|channel|>commentary<|message|>sunny<|end|>"),
              "conversation JSON: names, built-ins, effort case, string parts");
    /* The user's "<|end|>" is text: the rendered ids hold only the format's specials. */
    gptoss_tokens ids = {0};
    char err[256];
    int n_end = 0;
    if (c && gptoss_harmony_render_conversation(tok, c, GPTOSS_HARMONY_DROP_NONE, &ids, err, sizeof err) == GPTOSS_OK)
        for (size_t i = 0; i < ids.n; i++) n_end += ids.ids[i] == GPTOSS_HARMONY_END;
    tap_check(n_end == 4, "special-token literals in content stay text (%d <|end|> ids, 4 messages end so)", n_end);
    gptoss_tokens_free(&ids);
    free(out);
    free(out2);
    free(t1);
    free(t2);
    gptoss_harmony_conversation_free(c);
    gptoss_harmony_conversation_free(c2);

    /* Errors from the renderer itself. */
    gptoss_harmony_conversation *e = gptoss_harmony_conversation_create();
    gptoss_harmony_conversation_append_text(e, GPTOSS_HARMONY_ROLE_TOOL, NULL, NULL, NULL, NULL, "x");
    ids = (gptoss_tokens){0};
    err[0] = 0;
    tap_check(gptoss_harmony_render_conversation(tok, e, GPTOSS_HARMONY_DROP_NONE, &ids, err, sizeof err) != GPTOSS_OK &&
                  err[0],
              "a tool message without a name is an error");
    gptoss_tokens_free(&ids);
    gptoss_harmony_conversation_free(e);
}

/* ---- drop rules ------------------------------------------------------------------------------- */

static void test_drop_turns(void) {
    const char *json =
        "[{\"role\":\"user\",\"content\":\"q1\"},"
        "{\"role\":\"assistant\",\"channel\":\"analysis\",\"content\":\"think1\"},"
        "{\"role\":\"assistant\",\"channel\":\"final\",\"content\":\"a1\"},"
        "{\"role\":\"user\",\"content\":\"q2\"},"
        "{\"role\":\"assistant\",\"channel\":\"analysis\",\"content\":\"think2\"},"
        "{\"role\":\"assistant\",\"channel\":\"final\",\"content\":\"a2\"},"
        "{\"role\":\"user\",\"content\":\"q3\"},"
        "{\"role\":\"assistant\",\"channel\":\"analysis\",\"content\":\"think3\"},"
        "{\"role\":\"user\",\"content\":\"q4\"},"
        "{\"role\":\"assistant\",\"channel\":\"analysis\",\"content\":\"think4\"},"
        "{\"role\":\"assistant\",\"channel\":\"commentary\",\"recipient\":\"functions.f\",\"content\":\"{}\"},"
        "{\"role\":\"tool\",\"name\":\"functions.f\",\"recipient\":\"assistant\",\"channel\":\"commentary\","
        "\"content\":\"r\"},"
        "{\"role\":\"assistant\",\"channel\":\"analysis\",\"content\":\"think5\"}]";
    gptoss_harmony_conversation *c = conv_json(json);
    char *t = c ? render_text(c, GPTOSS_HARMONY_DROP_TURNS, 1) : NULL;
    tap_check(t && !strstr(t, "think1") && !strstr(t, "think2") && !strstr(t, "think3") && strstr(t, "think4") &&
                  strstr(t, "think5") && strstr(t, "a1") && strstr(t, "functions.f"),
              "turns rule: analysis of finished and abandoned turns dropped, the open tool turn kept");
    free(t);
    t = c ? render_text(c, GPTOSS_HARMONY_DROP_HARMONY, 1) : NULL;
    tap_check(t && strstr(t, "think1") && strstr(t, "think4"), "harmony rule: nothing dropped when the last "
                                                               "assistant message is not final");
    free(t);
    gptoss_harmony_conversation_append_text(c, GPTOSS_HARMONY_ROLE_ASSISTANT, NULL, NULL, "final", NULL, "a4");
    t = c ? render_text(c, GPTOSS_HARMONY_DROP_TURNS, 1) : NULL;
    tap_check(t && !strstr(t, "think4") && !strstr(t, "think5") && strstr(t, "functions.f") && strstr(t, "a4"),
              "turns rule: a turn that reached final loses its analysis, keeps its tool calls");
    free(t);
    t = c ? render_text(c, GPTOSS_HARMONY_DROP_HARMONY, 1) : NULL;
    tap_check(t && !strstr(t, "think1") && strstr(t, "think2") && strstr(t, "think5"),
              "harmony rule: only analysis before the first final is dropped");
    free(t);
    gptoss_harmony_conversation_free(c);
}

/* ---- parsing ---------------------------------------------------------------------------------- */

typedef struct parsed {
    gptoss_status st;
    gptoss_harmony_parser *p;
} parsed;

static parsed parse_text(const char *text, gptoss_harmony_role role, int strict) {
    parsed r = {GPTOSS_OK, NULL};
    gptoss_tokens ids = {0};
    gptoss_tokenizer_encode(tok, text, strlen(text), GPTOSS_TOKENIZER_SPECIAL_ALLOW, &ids);
    char err[256];
    gptoss_harmony_parser_create(tok, role, strict, &r.p, err, sizeof err);
    for (size_t i = 0; i < ids.n && r.st == GPTOSS_OK; i++) r.st = gptoss_harmony_parser_process(r.p, ids.ids[i]);
    if (r.st == GPTOSS_OK) r.st = gptoss_harmony_parser_process_eos(r.p);
    gptoss_tokens_free(&ids);
    return r;
}

static int msg_is(const gptoss_harmony_parser *p, size_t i, gptoss_harmony_role role, const char *channel,
                  const char *recipient, const char *ctype, const char *text) {
    const gptoss_harmony_message *m = gptoss_harmony_parser_message(p, i);
    if (!m) return 0;
    size_t n;
    const char *t = gptoss_harmony_message_text(m, &n);
    int ok = m->role == role && (channel ? m->channel && !strcmp(m->channel, channel) : !m->channel) &&
             (recipient ? m->recipient && !strcmp(m->recipient, recipient) : !m->recipient) &&
             (ctype ? m->content_type && !strcmp(m->content_type, ctype) : !m->content_type) && n == strlen(text) &&
             !memcmp(t, text, n);
    if (!ok)
        tap_diag("message %zu: %s channel=%s recipient=%s type=%s text=\"%.*s\"", i, gptoss_harmony_role_name(m->role),
                 m->channel ? m->channel : "-", m->recipient ? m->recipient : "-",
                 m->content_type ? m->content_type : "-", (int)n, t);
    return ok;
}

static void test_lenient(void) {
    const gptoss_harmony_role A = GPTOSS_HARMONY_ROLE_ASSISTANT;
    parsed r = parse_text("<|channel|>final<|message|>Hi<|return|><|channel|>final<|message|>again<|return|>", A, 0);
    tap_check(r.st == GPTOSS_OK && gptoss_harmony_parser_n_messages(r.p) == 2 &&
                  msg_is(r.p, 1, A, "final", NULL, NULL, "again"),
              "lenient: a message without <|start|>assistant");
    gptoss_harmony_parser_free(r.p);
    r = parse_text("<|channel|>final<|message|>Hi<|return|><|channel|>final<|message|>again<|return|>", A, 1);
    tap_check(r.st == GPTOSS_ERR_FORMAT && strstr(gptoss_harmony_parser_error(r.p), "Unexpected token 200005") &&
                  gptoss_harmony_parser_n_messages(r.p) == 1,
              "strict: the same is an error, and the first message is kept");
    tap_check(gptoss_harmony_parser_process(r.p, GPTOSS_HARMONY_START) == GPTOSS_ERR_FORMAT, "strict: errors are sticky");
    gptoss_harmony_parser_free(r.p);

    r = parse_text("<|channel|>final<|message|>Hi<|return|> and more", A, 0);
    tap_check(r.st == GPTOSS_OK && gptoss_harmony_parser_n_messages(r.p) == 2 &&
                  msg_is(r.p, 0, A, "final", NULL, NULL, "Hi") && msg_is(r.p, 1, A, NULL, NULL, NULL, "and more"),
              "lenient: text after the end becomes its own message");
    gptoss_harmony_parser_free(r.p);

    r = parse_text("<|channel|>final<|message|>Hel", A, 0);
    tap_check(r.st == GPTOSS_OK && msg_is(r.p, 0, A, "final", NULL, NULL, "Hel"), "truncated content is kept");
    gptoss_harmony_parser_free(r.p);
    r = parse_text("<|channel|>analysis<|message|>x<|end|><|start|>assistant<|channel|>fin", A, 0);
    tap_check(r.st == GPTOSS_OK && gptoss_harmony_parser_n_messages(r.p) == 1,
              "lenient: a header cut by the end of the stream, with nothing after it, is dropped");
    gptoss_harmony_parser_free(r.p);
    r = parse_text("<|channel|>analysis<|message|>x<|end|><|start|>assistant<|channel|>final Hi there", A, 0);
    tap_check(r.st == GPTOSS_OK && gptoss_harmony_parser_n_messages(r.p) == 2 &&
                  msg_is(r.p, 1, A, "final", NULL, NULL, "Hi there"),
              "lenient: a header cut by the end of the stream keeps its text");
    gptoss_harmony_parser_free(r.p);
    r = parse_text("<|channel|>analysis<|message|>x<|end|><|start|>assistant<|channel|>fin", A, 1);
    tap_check(r.st == GPTOSS_ERR_FORMAT && strstr(gptoss_harmony_parser_error(r.p), "Unexpected EOS"),
              "strict: the same is an error");
    gptoss_harmony_parser_free(r.p);

    r = parse_text("<|channel|>analysis<|message|>Need it.<|end|>commentary to=functions.get_weather "
                   "<|constrain|>json<|message|>{\"a\":1}<|call|>",
                   A, 0);
    tap_check(r.st == GPTOSS_OK &&
                  msg_is(r.p, 1, A, "commentary", "functions.get_weather", "<|constrain|>json", "{\"a\":1}"),
              "lenient: `<|end|>commentary to=...` (no <|start|>assistant<|channel|>)");
    gptoss_harmony_parser_free(r.p);

    r = parse_text("<|channel|>final<|message|>Hi<|start|>assistant<|channel|>final<|message|>Yo<|return|>", A, 0);
    tap_check(r.st == GPTOSS_OK && gptoss_harmony_parser_n_messages(r.p) == 2 &&
                  msg_is(r.p, 0, A, "final", NULL, NULL, "Hi") && msg_is(r.p, 1, A, "final", NULL, NULL, "Yo"),
              "lenient: <|start|> inside content closes the message");
    gptoss_harmony_parser_free(r.p);
    r = parse_text("<|start|>assistant<|channel|>final<|message|>Hi<|start|>x<|end|>", GPTOSS_HARMONY_ROLE_NONE, 1);
    tap_check(r.st == GPTOSS_OK && msg_is(r.p, 0, A, "final", NULL, NULL, "Hi<|start|>x"),
              "strict: <|start|> inside content is text");
    gptoss_harmony_parser_free(r.p);

    r = parse_text("<|start|>assistant<|channel|><|message|>x<|end|><|start|>bogus<|message|>y<|end|>"
                   "<|start|>assistant<|channel|>commentary to=functions.f extra json<|message|>z<|call|>",
                   GPTOSS_HARMONY_ROLE_NONE, 0);
    tap_check(r.st == GPTOSS_OK && gptoss_harmony_parser_n_messages(r.p) == 3 && msg_is(r.p, 0, A, NULL, NULL, NULL, "x") &&
                  msg_is(r.p, 2, A, "commentary", "functions.f", "json", "z"),
              "lenient: empty channel, unknown author, leftover header words");
    gptoss_harmony_parser_free(r.p);
    r = parse_text("<|start|>assistant<|channel|><|message|>x<|end|>", GPTOSS_HARMONY_ROLE_NONE, 1);
    tap_check(r.st == GPTOSS_ERR_FORMAT && strstr(gptoss_harmony_parser_error(r.p), "no channel value"),
              "strict: empty channel is an error");
    gptoss_harmony_parser_free(r.p);
    r = parse_text("<|start|>bogus<|message|>y<|end|>", GPTOSS_HARMONY_ROLE_NONE, 1);
    tap_check(r.st == GPTOSS_ERR_FORMAT && strstr(gptoss_harmony_parser_error(r.p), "Unknown role: bogus"),
              "strict: unknown role is an error");
    gptoss_harmony_parser_free(r.p);

    /* Ids outside the vocabulary: U+FFFD, never a crash. */
    gptoss_harmony_parser *p = NULL;
    char err[256];
    gptoss_harmony_parser_create(tok, A, 0, &p, err, sizeof err);
    uint32_t ids[] = {4000000000u, GPTOSS_HARMONY_MESSAGE, 13225, 4000000000u, 13225, GPTOSS_HARMONY_END};
    gptoss_status st = GPTOSS_OK;
    for (size_t i = 0; i < 6; i++) st |= gptoss_harmony_parser_process(p, ids[i]);
    tap_check(st == GPTOSS_OK && msg_is(p, 0, A, NULL, NULL, NULL, "Hello\xef\xbf\xbdHello"),
              "lenient: out-of-vocabulary ids in header and content");
    gptoss_harmony_parser_reset(p, GPTOSS_HARMONY_ROLE_NONE);
    tap_check(gptoss_harmony_parser_n_messages(p) == 0 &&
                  gptoss_harmony_parser_get_state(p) == GPTOSS_HARMONY_EXPECT_START,
              "reset forgets messages");
    gptoss_harmony_parser_free(p);
}

static void test_streaming_state(void) {
    gptoss_harmony_parser *p = NULL;
    char err[256];
    gptoss_harmony_parser_create(tok, GPTOSS_HARMONY_ROLE_ASSISTANT, 1, &p, err, sizeof err);
    gptoss_tokens ids = {0};
    const char *text = "<|channel|>commentary to=functions.f <|constrain|>json<|message|>{\"a\": 1}<|call|>";
    gptoss_tokenizer_encode(tok, text, strlen(text), GPTOSS_TOKENIZER_SPECIAL_ALLOW, &ids);
    int ok = 1, saw_content = 0;
    gptoss_buf deltas = {0};
    for (size_t i = 0; i < ids.n; i++) {
        ok &= gptoss_harmony_parser_process(p, ids.ids[i]) == GPTOSS_OK;
        if (gptoss_harmony_parser_get_state(p) == GPTOSS_HARMONY_CONTENT) {
            saw_content = 1;
            const char *ch = gptoss_harmony_parser_current_channel(p);
            const char *rc = gptoss_harmony_parser_current_recipient(p);
            const char *ct = gptoss_harmony_parser_current_content_type(p);
            ok &= ch && !strcmp(ch, "commentary") && rc && !strcmp(rc, "functions.f") && ct &&
                  !strcmp(ct, "<|constrain|>json") && gptoss_harmony_parser_current_role(p) == GPTOSS_HARMONY_ROLE_ASSISTANT;
            size_t n;
            const char *d = gptoss_harmony_parser_last_delta(p, &n);
            if (d) gptoss_buf_append(&deltas, d, n);
        }
    }
    gptoss_buf_cstr(&deltas);
    tap_check(ok && saw_content && deltas.data && !strcmp(deltas.data, "{\"a\": 1}") &&
                  gptoss_harmony_parser_n_messages(p) == 1 && gptoss_harmony_parser_last_delta(p, NULL) == NULL,
              "streaming: current channel/recipient/content type and deltas while reading content");
    gptoss_buf_free(&deltas);
    gptoss_tokens_free(&ids);
    gptoss_harmony_parser_free(p);
}

/* Rendering then parsing (strict, role from <|start|>) gives the messages back. */
static void test_round_trip(void) {
    const char *json =
        "[{\"role\":\"assistant\",\"channel\":\"analysis\",\"content\":\"Think \\u00fcber <|end|> it.\"},"
        "{\"role\":\"assistant\",\"channel\":\"commentary\",\"recipient\":\"functions.f\",\"content_type\":"
        "\"<|constrain|>json\",\"content\":\"{\\\"x\\\": [1, 2]}\"},"
        "{\"role\":\"tool\",\"name\":\"functions.f\",\"recipient\":\"assistant\",\"channel\":\"commentary\","
        "\"content\":\"ok \\ud83d\\ude0a\"},"
        "{\"role\":\"assistant\",\"channel\":\"analysis\",\"recipient\":\"python\",\"content_type\":\"code\","
        "\"content\":\"print(1)\"},"
        "{\"role\":\"user\",\"content\":\"\"},"
        "{\"role\":\"assistant\",\"channel\":\"final\",\"content\":\"Done.\"}]";
    gptoss_harmony_conversation *c = conv_json(json);
    gptoss_tokens ids = {0};
    char err[256];
    int ok = c && gptoss_harmony_render_conversation(tok, c, GPTOSS_HARMONY_DROP_NONE, &ids, err, sizeof err) == GPTOSS_OK;
    gptoss_harmony_parser *p = NULL;
    ok = ok && gptoss_harmony_parser_create(tok, GPTOSS_HARMONY_ROLE_NONE, 1, &p, err, sizeof err) == GPTOSS_OK;
    for (size_t i = 0; ok && i < ids.n; i++) ok = gptoss_harmony_parser_process(p, ids.ids[i]) == GPTOSS_OK;
    ok = ok && gptoss_harmony_parser_process_eos(p) == GPTOSS_OK &&
         gptoss_harmony_parser_n_messages(p) == gptoss_harmony_conversation_size(c);
    for (size_t i = 0; ok && i < gptoss_harmony_conversation_size(c); i++) {
        const gptoss_harmony_message *a = gptoss_harmony_conversation_get(c, i), *b = gptoss_harmony_parser_message(p, i);
        size_t la, lb;
        const char *ta = gptoss_harmony_message_text(a, &la), *tb = gptoss_harmony_message_text(b, &lb);
#define SAME(f) ((!a->f && !b->f) || (a->f && b->f && !strcmp(a->f, b->f)))
        ok = a->role == b->role && SAME(name) && SAME(channel) && SAME(recipient) && SAME(content_type) && la == lb &&
             !memcmp(ta, tb, la);
#undef SAME
        if (!ok) tap_diag("message %zu differs", i);
    }
    tap_check(ok, "render -> parse (strict) gives the same messages");
    gptoss_harmony_parser_free(p);
    gptoss_tokens_free(&ids);
    gptoss_harmony_conversation_free(c);
}

/* Random id streams (biased towards the format's specials) never crash either mode; lenient mode
 * never reports an error, and every message it returns holds valid UTF-8. */
static void test_random_streams(void) {
    uint64_t s = 0x9e3779b97f4a7c15ull;
    const uint32_t specials[] = {200002, 200003, 200005, 200006, 200007, 200008, 200012, 173781, 17196,
                                 35644,  12606,  815,    316,    28,     1428,   9552,   31446,  201087};
    int lenient_ok = 1, utf8_ok = 1;
    size_t n_msgs = 0;
    for (int round = 0; round < 400; round++) {
        for (int strict = 0; strict < 2; strict++) {
            gptoss_harmony_parser *p = NULL;
            char err[256];
            gptoss_harmony_parser_create(tok, round % 3 ? GPTOSS_HARMONY_ROLE_ASSISTANT : GPTOSS_HARMONY_ROLE_NONE, strict,
                                         &p, err, sizeof err);
            gptoss_status st = GPTOSS_OK;
            int len = 1 + (int)(s % 60);
            for (int i = 0; i < len; i++) {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                uint32_t id = (s & 3) ? specials[(s >> 8) % (sizeof specials / sizeof specials[0])]
                                      : (s & 4 ? (uint32_t)(s >> 20) : (uint32_t)((s >> 20) % 201090));
                st = gptoss_harmony_parser_process(p, id);
                if (!strict && st != GPTOSS_OK) lenient_ok = 0;
            }
            st = gptoss_harmony_parser_process_eos(p);
            if (!strict && st != GPTOSS_OK) lenient_ok = 0;
            for (size_t i = 0; i < gptoss_harmony_parser_n_messages(p); i++) {
                size_t n;
                const char *t = gptoss_harmony_message_text(gptoss_harmony_parser_message(p, i), &n);
                if (!json_utf8_valid(t, n)) utf8_ok = 0;
                n_msgs++;
            }
            gptoss_harmony_parser_free(p);
        }
    }
    tap_check(lenient_ok, "random streams: lenient mode never fails");
    tap_check(utf8_ok, "random streams: message text is valid UTF-8 (%zu messages)", n_msgs);
}

int main(void) {
    test_builtin_blocks();
    char path[4096], err[256] = "";
    if (!tap_shared_path("harmony rendering and parsing", "vocab/tokenizer.json", path, sizeof path))
        return tap_exit();
    if (!tap_check(gptoss_tokenizer_load(path, &tok, err, sizeof err) == GPTOSS_OK, "load %s (%s)", path, err))
        return tap_exit();
    test_tool_declarations();
    test_response_formats();
    test_json();
    test_drop_turns();
    test_lenient();
    test_streaming_state();
    test_round_trip();
    test_random_streams();
    gptoss_tokenizer_free(tok);
    return tap_exit();
}
