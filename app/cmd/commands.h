/* commands.h: one entry point per `gptoss` subcommand, each in its own app/cmd/cmd_*.c. */
#ifndef GPTOSS_COMMANDS_H
#define GPTOSS_COMMANDS_H

#include <stdio.h>

#include "gptoss.h"

int cmd_info(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_generate(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_detokenize(int argc, char **argv);
int cmd_synth(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_render(int argc, char **argv);
int cmd_parse(int argc, char **argv);
int cmd_chat(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_convert(int argc, char **argv);
int cmd_schema_bench(int argc, char **argv);
int cmd_tool(int argc, char **argv);
int cmd_index(int argc, char **argv);
int cmd_pull(int argc, char **argv);
int cmd_list(int argc, char **argv);
int cmd_rm(int argc, char **argv);
/* `gptoss tool browser search|open --corpus DB ...` (cmd_tool_corpus.c); function: "search" or "open",
 * argv: the arguments after it. */
int cmd_tool_browser_corpus(int argc, char **argv, const char *function);
void cmd_tool_corpus_usage(FILE *f);
/* MODEL_DIR -> OUT.gguf (dense "q8_0", "bf16" or "f32"), written at dst (a staging path: the caller
 * moves it into place) and named `shown` in messages. The tokenizer metadata comes from tok_path,
 * or when it is NULL from the tokenizer beside the model if find_tokenizer (none there is an error),
 * else none is written. Returns an exit code. */
int convert_to_gguf(const char *src, const char *dst, const char *shown, const char *dense, const char *tok_path,
                    int find_tokenizer);

#endif
