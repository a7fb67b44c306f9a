/* cmd_render.c: `gptoss render CONV.json`: a conversation (harmony JSON messages) into token ids, for
 * completion (ending in <|start|>assistant), as is, or for training. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/common.h"
#include "chat/chat.h"
#include "cli/cli.h"
#include "cmd/commands.h"

static void usage(FILE *f) {
    fprintf(f, "usage: gptoss render CONV.json [--training | --conversation] [--next-role ROLE]\n"
               "                       [--drop turns|harmony|none] [--text] [--tokenizer PATH]\n"
               "  CONV.json (\"-\" for stdin): a list of harmony messages, or an object with \"messages\".\n"
               "  Default: rendered for completion, ending in <|start|>assistant (--next-role to change),\n"
               "  with the analysis of finished turns dropped (--drop turns; harmony: openai/harmony's\n"
               "  auto_drop_analysis). --conversation: the messages only; --training: the last final\n"
               "  message ends in <|return|>; both drop nothing unless --drop is given.\n"
               "  Prints the ids on one line, or the decoded text with --text. The tokenizer is PATH, or\n"
               "  $GPTOSS_TOKENIZER (a model directory, tokenizer.json or o200k_base.tiktoken).\n");
}

/* Reads a file, or stdin for "-". */
static char *read_input(const char *path, size_t *len) {
    if (strcmp(path, "-") != 0) {
        char err[512] = "";
        char *data = NULL;
        if (gptoss_read_file(path, (size_t)1 << 30, &data, len, err, sizeof err) != GPTOSS_OK) {
            cli_error("%s", err);
            return NULL;
        }
        return data;
    }
    gptoss_buf b = {0};
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, stdin)) > 0) gptoss_buf_append(&b, chunk, n);
    if (!gptoss_buf_cstr(&b)) {
        cli_error("out of memory");
        gptoss_buf_free(&b);
        return NULL;
    }
    *len = b.len;
    return b.data;
}

int cmd_render(int argc, char **argv) {
    const char *conv_path = NULL, *tok_path = NULL, *drop_name = NULL;
    int training = 0, plain = 0, text = 0;
    gptoss_harmony_role next = GPTOSS_HARMONY_ROLE_ASSISTANT;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--training")) {
            training = 1;
        } else if (!strcmp(a, "--conversation")) {
            plain = 1;
        } else if (!strcmp(a, "--text")) {
            text = 1;
        } else if (!strcmp(a, "--tokenizer") || !strcmp(a, "--drop") || !strcmp(a, "--next-role")) {
            if (!(v = cli_next(argc, argv, &i))) return 2;
            if (!strcmp(a, "--tokenizer")) tok_path = v;
            else if (!strcmp(a, "--drop")) drop_name = v;
            else if ((next = gptoss_harmony_role_from_name(v)) == GPTOSS_HARMONY_ROLE_NONE) {
                cli_error("render: unknown role '%s'", v);
                return 2;
            }
        } else if (a[0] == '-' && a[1]) {
            cli_error("render: unknown option %s", a);
            usage(stderr);
            return 2;
        } else if (!conv_path) {
            conv_path = a;
        } else {
            cli_error("render: unexpected argument '%s'", a);
            return 2;
        }
    }
    if (!conv_path || (training && plain)) {
        cli_error(training && plain ? "render: --training and --conversation exclude each other"
                                    : "render: CONV.json is required (\"-\" reads stdin)");
        usage(stderr);
        return 2;
    }
    gptoss_harmony_drop drop = training || plain ? GPTOSS_HARMONY_DROP_NONE : GPTOSS_HARMONY_DROP_TURNS;
    if (drop_name) {
        if (!strcmp(drop_name, "turns")) drop = GPTOSS_HARMONY_DROP_TURNS;
        else if (!strcmp(drop_name, "harmony")) drop = GPTOSS_HARMONY_DROP_HARMONY;
        else if (!strcmp(drop_name, "none")) drop = GPTOSS_HARMONY_DROP_NONE;
        else {
            cli_error("render: --drop takes turns, harmony or none");
            return 2;
        }
    }
    size_t len = 0;
    char *json = read_input(conv_path, &len);
    if (!json) return 1;
    char err[512] = "";
    gptoss_harmony_conversation *conv = NULL;
    gptoss_status st = gptoss_harmony_conversation_from_json(json, len, &conv, err, sizeof err);
    free(json);
    if (st != GPTOSS_OK) {
        cli_error("%s: %s", conv_path, err);
        return 1;
    }
    int rc = 1;
    gptoss_tokens ids = {0};
    gptoss_tokenizer *tok = cli_open_tokenizer(tok_path, NULL);
    if (!tok) goto done;
    if (training) st = gptoss_harmony_render_for_training(tok, conv, drop, &ids, err, sizeof err);
    else if (plain) st = gptoss_harmony_render_conversation(tok, conv, drop, &ids, err, sizeof err);
    else st = gptoss_harmony_render_for_completion(tok, conv, next, drop, &ids, err, sizeof err);
    if (st != GPTOSS_OK) {
        cli_error("render: %s", err);
        goto done;
    }
    if (text) {
        char *s = NULL;
        size_t n = 0;
        if (gptoss_tokenizer_decode(tok, ids.ids, ids.n, &s, &n, err, sizeof err) != GPTOSS_OK) {
            cli_error("render: %s", err);
            goto done;
        }
        fwrite(s, 1, n, stdout);
        fputc('\n', stdout);
        free(s);
    } else {
        for (size_t i = 0; i < ids.n; i++) printf(i ? " %u" : "%u", (unsigned)ids.ids[i]);
        printf("\n");
    }
    rc = 0;
done:
    gptoss_tokens_free(&ids);
    gptoss_tokenizer_free(tok);
    gptoss_harmony_conversation_free(conv);
    return rc;
}
