/* commands.h: one entry point per `gptoss` subcommand (each in its own app/cmd_*.c) and the small
 * helpers they share (app/cli.c). */
#ifndef GPTOSS_COMMANDS_H
#define GPTOSS_COMMANDS_H

#include <stddef.h>
#include <stdint.h>

#include "gptoss.h"

int cmd_info(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_generate(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_detokenize(int argc, char **argv);
int cmd_synth(int argc, char **argv);
int cmd_bench(int argc, char **argv); /* [cuda backend] */
int cmd_render(int argc, char **argv);
int cmd_parse(int argc, char **argv);
int cmd_chat(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_serve(int argc, char **argv); /* [server] app/cmd_serve.c */
int cmd_convert(int argc, char **argv); /* [gguf] app/cmd_convert.c */
/* [gguf] MODEL_DIR -> OUT.gguf (dense "q8_0", "bf16" or "f32"; tok_path may be NULL). Returns an exit code. */
int convert_to_gguf(const char *src, const char *dst, const char *dense, const char *tok_path);

/* Shared helpers. Each prints "gptoss: ..." to stderr on error. */
void cli_error(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;
/* Parses "1 2 3" (spaces, commas or newlines) into a malloc'd array. Returns 0 on error. */
int cli_parse_ids(const char *text, uint32_t **ids, size_t *n_ids);
int cli_parse_u32(const char *s, uint32_t *out);
int cli_parse_u64(const char *s, uint64_t *out);
int cli_parse_float(const char *s, float *out);
/* --kv TYPE: auto, f32, bf24 or f16 (gptoss_kv_type). Returns 0 on anything else. */
int cli_parse_kv_type(const char *s, gptoss_kv_type *out);
/* Loads a model, printing the library's message on failure. */
gptoss_model *cli_load_model(const char *path, const gptoss_model_options *options);
/* Value of argv[*i + 1] for option argv[*i]; advances *i. Prints an error and returns NULL if absent. */
const char *cli_next(int argc, char **argv, int *i);

#endif
