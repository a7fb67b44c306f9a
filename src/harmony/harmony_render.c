/* harmony_render.c: conversations into token ids, exactly as openai/harmony renders them: header
 * fragments encoded separately, all text as ordinary text, special ids only from the format, and the
 * rules for dropping old chain of thought. */
#include <stdlib.h>
#include <string.h>

#include "harmony/harmony.h"

#define CONSTRAIN_LITERAL "<|constrain|>"

static gptoss_status enc(const gptoss_tokenizer *tok, const char *s, size_t n, gptoss_tokens *out, char *err,
                         size_t err_size) {
    if (!n) return GPTOSS_OK;
    gptoss_status st = gptoss_tokenizer_encode(tok, s, n, 0, out);
    if (st != GPTOSS_OK) return gptoss_fail(st, err, err_size, "harmony: encoding text failed: %s",
                                            gptoss_status_string(st));
    return GPTOSS_OK;
}

static gptoss_status enc_str(const gptoss_tokenizer *tok, const char *s, gptoss_tokens *out, char *err,
                             size_t err_size) {
    return enc(tok, s, strlen(s), out, err, err_size);
}

static gptoss_status push(gptoss_tokens *out, uint32_t id, char *err, size_t err_size) {
    if (gptoss_tokens_push(out, id) != GPTOSS_OK) return gptoss_fail(GPTOSS_ERR_NO_MEMORY, err, err_size, "out of memory");
    return GPTOSS_OK;
}

static gptoss_status buf_status(gptoss_buf *b, char *err, size_t err_size) {
    if (b->failed) return gptoss_fail(GPTOSS_ERR_NO_MEMORY, err, err_size, "out of memory");
    return GPTOSS_OK;
}

/* Sections of system content joined by a blank line, each present only if it has data. */
static gptoss_status system_text(gptoss_buf *b, const gptoss_harmony_system_content *sc, int has_fn_tools,
                                 char *err, size_t err_size) {
    int n_sections = 0;
    int top = 0;
    if (sc->model_identity) {
        gptoss_buf_puts(b, sc->model_identity);
        top = 1;
    }
    if (sc->knowledge_cutoff) {
        gptoss_buf_printf(b, "%sKnowledge cutoff: %s", top ? "\n" : "", sc->knowledge_cutoff);
        top = 1;
    }
    if (sc->conversation_start_date) {
        gptoss_buf_printf(b, "%sCurrent date: %s", top ? "\n" : "", sc->conversation_start_date);
        top = 1;
    }
    n_sections += top;
    if (sc->reasoning_effort != GPTOSS_HARMONY_EFFORT_NONE) {
        gptoss_buf_printf(b, "%sReasoning: %s", n_sections ? "\n\n" : "",
                          gptoss_harmony_effort_name(sc->reasoning_effort));
        n_sections++;
    }
    if (sc->n_tools) {
        if (n_sections) gptoss_buf_puts(b, "\n\n");
        gptoss_status st = gptoss_harmony_tools_section(b, sc->tools, sc->n_tools, err, err_size);
        if (st != GPTOSS_OK) return st;
        n_sections++;
    }
    if (sc->n_valid_channels) {
        gptoss_buf_puts(b, n_sections ? "\n\n# Valid channels: " : "# Valid channels: ");
        for (size_t i = 0; i < sc->n_valid_channels; i++)
            gptoss_buf_printf(b, "%s%s", i ? ", " : "", sc->valid_channels[i] ? sc->valid_channels[i] : "");
        gptoss_buf_puts(b, ".");
        if (sc->channel_required) gptoss_buf_puts(b, " Channel must be included for every message.");
        if (has_fn_tools) gptoss_buf_puts(b, "\nCalls to these tools must go to the commentary channel: 'functions'.");
    }
    return buf_status(b, err, err_size);
}

static gptoss_status developer_text(gptoss_buf *b, const gptoss_harmony_developer_content *dc, char *err,
                                    size_t err_size) {
    if (dc->instructions) gptoss_buf_printf(b, "# Instructions\n\n%s", dc->instructions);
    if (dc->n_tools) {
        if (dc->instructions) gptoss_buf_puts(b, "\n\n");
        gptoss_status st = gptoss_harmony_tools_section(b, dc->tools, dc->n_tools, err, err_size);
        if (st != GPTOSS_OK) return st;
    }
    if (dc->response_format_name) {
        if (dc->instructions || dc->n_tools) gptoss_buf_puts(b, "\n\n");
        gptoss_buf_printf(b, "# Response Formats\n\n## %s\n\n", dc->response_format_name);
        if (dc->response_format_description) gptoss_buf_printf(b, "// %s\n", dc->response_format_description);
        gptoss_buf_puts(b, dc->response_format_schema ? dc->response_format_schema : "{}");
    }
    return buf_status(b, err, err_size);
}

static gptoss_status render_header(const gptoss_tokenizer *tok, const gptoss_harmony_message *msg,
                                   gptoss_tokens *out, char *err, size_t err_size) {
    gptoss_status st;
    if (msg->role == GPTOSS_HARMONY_ROLE_TOOL) {
        if (!msg->name || !*msg->name)
            return gptoss_fail(GPTOSS_ERR_INVALID_ARGUMENT, err, err_size, "harmony: a tool message needs a name");
        if ((st = enc_str(tok, msg->name, out, err, err_size))) return st;
    } else {
        const char *role = gptoss_harmony_role_name(msg->role);
        if (!*role) return gptoss_fail(GPTOSS_ERR_INVALID_ARGUMENT, err, err_size, "harmony: message without a role");
        if ((st = enc_str(tok, role, out, err, err_size))) return st;
        if (msg->name) {
            gptoss_buf b = {0};
            gptoss_buf_printf(&b, ":%s", msg->name);
            st = b.failed ? gptoss_fail(GPTOSS_ERR_NO_MEMORY, err, err_size, "out of memory")
                          : enc(tok, b.data, b.len, out, err, err_size);
            gptoss_buf_free(&b);
            if (st) return st;
        }
    }
    if (msg->recipient && strcmp(msg->recipient, "all") != 0) {
        gptoss_buf b = {0};
        gptoss_buf_printf(&b, " to=%s", msg->recipient);
        st = b.failed ? gptoss_fail(GPTOSS_ERR_NO_MEMORY, err, err_size, "out of memory")
                      : enc(tok, b.data, b.len, out, err, err_size);
        gptoss_buf_free(&b);
        if (st) return st;
    }
    if (msg->channel) {
        if ((st = push(out, GPTOSS_HARMONY_CHANNEL, err, err_size))) return st;
        if ((st = enc_str(tok, msg->channel, out, err, err_size))) return st;
    }
    if (msg->content_type) {
        size_t cl = strlen(CONSTRAIN_LITERAL);
        if (!strncmp(msg->content_type, CONSTRAIN_LITERAL, cl)) {
            if ((st = enc_str(tok, " ", out, err, err_size))) return st;
            if ((st = push(out, GPTOSS_HARMONY_CONSTRAIN, err, err_size))) return st;
            if ((st = enc_str(tok, msg->content_type + cl, out, err, err_size))) return st;
        } else {
            gptoss_buf b = {0};
            gptoss_buf_printf(&b, " %s", msg->content_type);
            st = b.failed ? gptoss_fail(GPTOSS_ERR_NO_MEMORY, err, err_size, "out of memory")
                          : enc(tok, b.data, b.len, out, err, err_size);
            gptoss_buf_free(&b);
            if (st) return st;
        }
    }
    return GPTOSS_OK;
}

gptoss_status gptoss_harmony_render_message(const gptoss_tokenizer *tok, const gptoss_harmony_message *msg,
                                            int has_function_tools, gptoss_tokens *out, char *err,
                                            size_t err_size) {
    if (!tok || !msg || !out) return gptoss_fail(GPTOSS_ERR_INVALID_ARGUMENT, err, err_size, "harmony: NULL argument");
    gptoss_status st;
    if ((st = push(out, GPTOSS_HARMONY_START, err, err_size))) return st;
    if ((st = render_header(tok, msg, out, err, err_size))) return st;
    if ((st = push(out, GPTOSS_HARMONY_MESSAGE, err, err_size))) return st;
    for (size_t i = 0; i < msg->n_content; i++) {
        const gptoss_harmony_content *c = &msg->content[i];
        if (c->kind == GPTOSS_HARMONY_CONTENT_TEXT) {
            if (c->text && (st = enc(tok, c->text, c->text_len, out, err, err_size))) return st;
            continue;
        }
        gptoss_buf b = {0};
        if (c->kind == GPTOSS_HARMONY_CONTENT_SYSTEM) {
            if (msg->role != GPTOSS_HARMONY_ROLE_SYSTEM)
                return gptoss_fail(GPTOSS_ERR_INVALID_ARGUMENT, err, err_size,
                                   "harmony: system content may only appear in system messages");
            st = c->system ? system_text(&b, c->system, has_function_tools, err, err_size) : GPTOSS_OK;
        } else if (c->kind == GPTOSS_HARMONY_CONTENT_DEVELOPER) {
            if (msg->role != GPTOSS_HARMONY_ROLE_DEVELOPER)
                return gptoss_fail(GPTOSS_ERR_INVALID_ARGUMENT, err, err_size,
                                   "harmony: developer content may only appear in developer messages");
            st = c->developer ? developer_text(&b, c->developer, err, err_size) : GPTOSS_OK;
        } else {
            st = gptoss_fail(GPTOSS_ERR_INVALID_ARGUMENT, err, err_size, "harmony: unknown content kind");
        }
        if (st == GPTOSS_OK) st = enc(tok, b.data, b.len, out, err, err_size);
        gptoss_buf_free(&b);
        if (st) return st;
    }
    int call = msg->role == GPTOSS_HARMONY_ROLE_ASSISTANT && msg->recipient;
    return push(out, call ? GPTOSS_HARMONY_CALL : GPTOSS_HARMONY_END, err, err_size);
}

static int is_channel(const gptoss_harmony_message *m, const char *ch) { return m->channel && !strcmp(m->channel, ch); }

/* keep[i] = 0 for the messages the drop rule leaves out. */
static void drop_analysis(const gptoss_harmony_message *const *msgs, size_t n, gptoss_harmony_drop drop,
                          unsigned char *keep) {
    memset(keep, 1, n);
    if (drop == GPTOSS_HARMONY_DROP_HARMONY) {
        int last_assistant_final = 0;
        for (size_t i = n; i-- > 0;)
            if (msgs[i]->role == GPTOSS_HARMONY_ROLE_ASSISTANT) {
                last_assistant_final = is_channel(msgs[i], "final");
                break;
            }
        size_t first_final = n;
        for (size_t i = 0; i < n; i++)
            if (is_channel(msgs[i], "final")) {
                first_final = i;
                break;
            }
        if (!last_assistant_final) return;
        for (size_t i = 0; i < first_final; i++)
            if (is_channel(msgs[i], "analysis")) keep[i] = 0;
    } else if (drop == GPTOSS_HARMONY_DROP_TURNS) {
        /* A turn starts at a user message; it is closed when it has a final message or another
         * user message follows it. */
        size_t start = 0;
        while (start < n) {
            size_t end = start;
            while (end < n && !(end > start && msgs[end]->role == GPTOSS_HARMONY_ROLE_USER)) end++;
            int has_final = 0;
            for (size_t i = start; i < end; i++)
                if (msgs[i]->role == GPTOSS_HARMONY_ROLE_ASSISTANT && is_channel(msgs[i], "final")) has_final = 1;
            if (has_final || end < n)
                for (size_t i = start; i < end; i++)
                    if (msgs[i]->role != GPTOSS_HARMONY_ROLE_USER && is_channel(msgs[i], "analysis")) keep[i] = 0;
            start = end;
        }
    }
}

static gptoss_status render_all(const gptoss_tokenizer *tok, const gptoss_harmony_conversation *conv,
                                gptoss_harmony_drop drop, gptoss_tokens *out, char *err, size_t err_size) {
    if (!tok || !conv || !out) return gptoss_fail(GPTOSS_ERR_INVALID_ARGUMENT, err, err_size, "harmony: NULL argument");
    size_t n = gptoss_harmony_conversation_size(conv);
    const gptoss_harmony_message **msgs = malloc((n ? n : 1) * sizeof *msgs);
    unsigned char *keep = malloc(n ? n : 1);
    if (!msgs || !keep) {
        free(msgs);
        free(keep);
        return gptoss_fail(GPTOSS_ERR_NO_MEMORY, err, err_size, "out of memory");
    }
    for (size_t i = 0; i < n; i++) msgs[i] = gptoss_harmony_conversation_get(conv, i);
    int has_fn = gptoss_harmony_has_function_tools(msgs, n);
    drop_analysis(msgs, n, drop, keep);
    gptoss_status st = GPTOSS_OK;
    for (size_t i = 0; i < n && st == GPTOSS_OK; i++)
        if (keep[i]) st = gptoss_harmony_render_message(tok, msgs[i], has_fn, out, err, err_size);
    free(msgs);
    free(keep);
    return st;
}

gptoss_status gptoss_harmony_render_conversation(const gptoss_tokenizer *tokenizer,
                                                 const gptoss_harmony_conversation *conv,
                                                 gptoss_harmony_drop drop, gptoss_tokens *out, char *err,
                                                 size_t err_size) {
    return render_all(tokenizer, conv, drop, out, err, err_size);
}

gptoss_status gptoss_harmony_render_for_completion(const gptoss_tokenizer *tokenizer,
                                                   const gptoss_harmony_conversation *conv,
                                                   gptoss_harmony_role next_role, gptoss_harmony_drop drop,
                                                   gptoss_tokens *out, char *err, size_t err_size) {
    const char *role = gptoss_harmony_role_name(next_role);
    if (!*role) return gptoss_fail(GPTOSS_ERR_INVALID_ARGUMENT, err, err_size, "harmony: no next role");
    gptoss_status st = render_all(tokenizer, conv, drop, out, err, err_size);
    if (st == GPTOSS_OK) st = push(out, GPTOSS_HARMONY_START, err, err_size);
    if (st == GPTOSS_OK) st = enc_str(tokenizer, role, out, err, err_size);
    return st;
}

gptoss_status gptoss_harmony_render_for_training(const gptoss_tokenizer *tokenizer,
                                                 const gptoss_harmony_conversation *conv,
                                                 gptoss_harmony_drop drop, gptoss_tokens *out, char *err,
                                                 size_t err_size) {
    size_t before = out ? out->n : 0;
    gptoss_status st = render_all(tokenizer, conv, drop, out, err, err_size);
    if (st != GPTOSS_OK) return st;
    size_t n = gptoss_harmony_conversation_size(conv);
    const gptoss_harmony_message *last = n ? gptoss_harmony_conversation_get(conv, n - 1) : NULL;
    if (last && last->role == GPTOSS_HARMONY_ROLE_ASSISTANT && is_channel(last, "final") && out->n > before)
        out->ids[out->n - 1] = GPTOSS_HARMONY_RETURN;
    return GPTOSS_OK;
}
