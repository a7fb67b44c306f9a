/* cmd_parse.c: `gptoss parse`: token ids (model output) into harmony messages, printed as JSON. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/common.h"
#include "chat/chat.h"
#include "cli/cli.h"
#include "cmd/commands.h"

static void usage(FILE *f) {
    fprintf(f, "usage: gptoss parse (--ids \"...\" | --text \"...\" | -) [--role ROLE|none] [--strict]\n"
               "                     [--tokenizer PATH]\n"
               "  Parses ids (from --ids, or whitespace-separated on stdin with \"-\"; --text encodes text\n"
               "  with special tokens first) into messages and prints them as a JSON list. The ids start\n"
               "  after <|start|>assistant unless they begin with <|start|> (--role to say otherwise).\n"
               "  Lenient by default: malformed output is recovered as far as it can be understood;\n"
               "  --strict fails as openai/harmony does (messages so far are printed, exit status 1).\n");
}

static char *read_stdin(void) {
    gptoss_buf b = {0};
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, stdin)) > 0) gptoss_buf_append(&b, chunk, n);
    if (!gptoss_buf_cstr(&b)) {
        gptoss_buf_free(&b);
        return NULL;
    }
    return b.data;
}

int cmd_parse(int argc, char **argv) {
    const char *ids_text = NULL, *text = NULL, *tok_path = NULL, *role_name = NULL;
    int strict = 0, from_stdin = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--strict")) {
            strict = 1;
        } else if (!strcmp(a, "-")) {
            from_stdin = 1;
        } else if (!strcmp(a, "--ids") || !strcmp(a, "--text") || !strcmp(a, "--tokenizer") || !strcmp(a, "--role")) {
            if (!(v = cli_next(argc, argv, &i))) return 2;
            if (!strcmp(a, "--ids")) ids_text = v;
            else if (!strcmp(a, "--text")) text = v;
            else if (!strcmp(a, "--tokenizer")) tok_path = v;
            else role_name = v;
        } else {
            cli_error("parse: unexpected argument '%s'", a);
            usage(stderr);
            return 2;
        }
    }
    if ((ids_text != NULL) + (text != NULL) + from_stdin != 1) {
        cli_error("parse: give exactly one of --ids, --text or - (ids on stdin)");
        usage(stderr);
        return 2;
    }
    gptoss_harmony_role role = GPTOSS_HARMONY_ROLE_NONE;
    if (role_name && strcmp(role_name, "none") != 0 &&
        (role = gptoss_harmony_role_from_name(role_name)) == GPTOSS_HARMONY_ROLE_NONE) {
        cli_error("parse: unknown role '%s'", role_name);
        return 2;
    }
    int rc = 1;
    char err[512] = "";
    char *input = NULL, *json = NULL;
    uint32_t *ids = NULL;
    size_t n_ids = 0;
    gptoss_tokens enc = {0};
    gptoss_harmony_parser *p = NULL;
    gptoss_harmony_conversation *conv = NULL;
    gptoss_tokenizer *tok = cli_open_tokenizer(tok_path, NULL);
    if (!tok) goto done;
    if (text) {
        if (gptoss_tokenizer_encode(tok, text, strlen(text), GPTOSS_TOKENIZER_SPECIAL_ALLOW, &enc) != GPTOSS_OK) {
            cli_error("parse: cannot encode --text");
            goto done;
        }
        ids = enc.ids;
        n_ids = enc.n;
    } else {
        if (from_stdin && !(ids_text = input = read_stdin())) {
            cli_error("out of memory");
            goto done;
        }
        if (!cli_parse_ids(ids_text, &ids, &n_ids)) {
            cli_error("parse: ids must be non-negative integers below 2^32");
            goto done;
        }
    }
    if (!role_name) role = n_ids && ids[0] == GPTOSS_HARMONY_START ? GPTOSS_HARMONY_ROLE_NONE : GPTOSS_HARMONY_ROLE_ASSISTANT;
    if (gptoss_harmony_parser_create(tok, role, strict, &p, err, sizeof err) != GPTOSS_OK) {
        cli_error("parse: %s", err);
        goto done;
    }
    gptoss_status st = GPTOSS_OK;
    for (size_t i = 0; i < n_ids && st == GPTOSS_OK; i++) st = gptoss_harmony_parser_process(p, ids[i]);
    if (st == GPTOSS_OK) st = gptoss_harmony_parser_process_eos(p);
    if (!(conv = gptoss_harmony_conversation_create())) goto done;
    for (size_t i = 0; i < gptoss_harmony_parser_n_messages(p); i++)
        if (gptoss_harmony_conversation_append(conv, gptoss_harmony_parser_message(p, i)) != GPTOSS_OK) goto done;
    if (gptoss_harmony_conversation_to_json(conv, &json, NULL) != GPTOSS_OK) goto done;
    fputs(json, stdout);
    if (st != GPTOSS_OK) {
        cli_error("parse: %s", gptoss_harmony_parser_error(p));
        goto done;
    }
    rc = 0;
done:
    free(json);
    free(input);
    if (text) gptoss_tokens_free(&enc);
    else free(ids);
    gptoss_harmony_parser_free(p);
    gptoss_harmony_conversation_free(conv);
    gptoss_tokenizer_free(tok);
    return rc;
}
