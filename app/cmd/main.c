/* main.c: the gptoss command: dispatches to one subcommand per app/cmd/cmd_*.c. */
#include <stdio.h>
#include <string.h>

#include "cmd/commands.h"


typedef struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *usage;
} command;

static int cmd_version(int argc, char **argv);

static const command commands[] = {
    {"info", cmd_info, "info MODEL                      architecture, parameter counts, bytes, files"},
    {"eval", cmd_eval, "eval MODEL --ids \"...\" [--logits OUT] [--prefill] [--check CASE_DIR]"},
    {"convert", cmd_convert, "convert MODEL_DIR --to gguf OUT.gguf [--dense q8_0|bf16|f32] [--tokenizer FILE|--no-tokenizer]"},
    {"synth", cmd_synth, "synth --out DIR|FILE.gguf [--preset tiny|20b|120b] [--layers N ...] [--seed S] [--original] [--shards N]"},
    {"bench", cmd_bench, "bench (MODEL | --synth 20b|120b) [--device cpu|cuda] [-p N] [-n N] [-c N]"},
    {"generate", cmd_generate, "generate MODEL (--ids \"...\" | -p TEXT) -n N [--temperature T] [--top-p P] [--top-k K] [--seed S]"},
    {"tokenize", cmd_tokenize, "tokenize MODEL_OR_TOKENIZER [--allow-special]   stdin bytes -> token ids"},
    {"detokenize", cmd_detokenize, "detokenize MODEL_OR_TOKENIZER              token ids on stdin -> raw bytes"},
    {"render", cmd_render, "render CONV.json [--training|--conversation] [--drop turns|harmony|none] [--text]"},
    {"parse", cmd_parse, "parse --ids \"...\" [--strict] [--role ROLE|none]   token ids into harmony messages (JSON)"},
    {"chat", cmd_chat, "chat MODEL [--reasoning-effort E] [--tools FILE] [--tool-exec CMD] [--hide-reasoning]"},
    {"run", cmd_run, "run MODEL -p PROMPT [--show-reasoning] [--json]       one answer on stdout"},
    {"schema-bench", cmd_schema_bench, "schema-bench FILE.jsonl [--json OUT] [--tokenizer FILE] [--cpu-time]   JSON-Schema masks (MaskBench)"},
    {"tool", cmd_tool, "tool browser replay FIXTURES.jsonl --out OUT.jsonl [--tokenizer FILE]   the browser tool on recorded pages"},
    {"index", cmd_index, "index DIR --out corpus.db [--base-url URL] [--force]   HTML, Markdown, text into a browser corpus"},
    {"serve", cmd_serve, "serve MODEL [--host 127.0.0.1] [--port 8080] [--api-key KEY] [--parallel N] [-c N]"},
    {"pull", cmd_pull, "pull NAME [--revision R] [--include GLOB] [--exclude GLOB]   a model from the Hugging Face Hub"},
    {"list", cmd_list, "list                            the models in the Hugging Face cache"},
    {"rm", cmd_rm, "rm NAME                         removes a model from the Hugging Face cache"},
    {"version", cmd_version, "version                         the version (also gptoss --version)"},
};

/* "gptoss 0.1.0", and "(git describe)" when the build had a git checkout. GPTOSS_BUILD_VERSION and
 * GPTOSS_GIT_DESCRIBE come from $(BUILD)/gen/version.h, which the Makefile makes from VERSION and
 * `git describe` and force-includes (-include) when it compiles this file. */
static void print_version(void) {
    if (GPTOSS_GIT_DESCRIBE[0]) printf("gptoss %s (%s)\n", GPTOSS_BUILD_VERSION, GPTOSS_GIT_DESCRIBE);
    else printf("gptoss %s\n", GPTOSS_BUILD_VERSION);
}

static int cmd_version(int argc, char **argv) {
    if (argc > 1 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
        printf("usage: gptoss version\n\nPrints the release (VERSION) and, for a build from a git checkout,\n"
               "`git describe` of that checkout. The same as gptoss --version.\n");
        return 0;
    }
    if (argc > 1) {
        fprintf(stderr, "gptoss: version takes no arguments\nusage: gptoss version\n");
        return 2;
    }
    print_version();
    return 0;
}

static void usage(FILE *f) {
    fprintf(f, "usage: gptoss COMMAND [ARGS]   (gptoss --version: the version)\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) fprintf(f, "  %s\n", commands[i].usage);
    fprintf(f, "\nMODEL is a model directory (Hugging Face layout, its original/ folder, or a Hugging Face\n"
               "cache folder), a .gguf file, or a model name pulled into the cache (gpt-oss-20b, gpt-oss-120b,\n"
               "OWNER/NAME). Run `gptoss COMMAND --help` for a command's options.\n");
}

int main(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "--version")) {
        print_version();
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "gptoss: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
