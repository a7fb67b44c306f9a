/* cli.h: what every part of the command line shares (app/cli/): argument parsing, error printing,
 * opening a model or a tokenizer the way every command does. */
#ifndef GPTOSS_CLI_H
#define GPTOSS_CLI_H

#include <stddef.h>
#include <stdint.h>

#include "gptoss.h"

/* Each prints "gptoss: ..." to stderr on error. */
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
/* --device cpu|cuda (and auto, the library's choice; gpu is cuda). Returns 0 on anything else. */
int cli_parse_device(const char *s, gptoss_device *out);
/* The one spelling every command matches for the options several share, whichever of their names
 * was typed: "-t" and "--threads" give "--threads", "-c" and "--ctx" give "--ctx", "-n" and
 * "--max-tokens" give "--max-tokens"; any other argument comes back as it is. */
const char *cli_option_name(const char *arg);
/* MODEL as typed: a path that exists is itself; otherwise a model name (gpt-oss-20b, gpt-oss-120b,
 * OWNER/NAME, each optionally @REVISION) is its snapshot folder in the Hugging Face cache
 * (app/cli/cli_model.c, src/hub/hub_cache.h); anything else is itself (the loader explains it). NULL
 * after printing the `gptoss pull` command to run when the name is not in the cache. The result
 * lives until the program exits. */
const char *cli_model_arg(const char *arg);
/* Loads a model, printing the library's message on failure. */
gptoss_model *cli_load_model(const char *path, const gptoss_model_options *options);
/* Seconds on the monotonic clock (for durations). */
double cli_now_s(void);
/* Value of argv[*i + 1] for option argv[*i]; advances *i. Prints an error and returns NULL if absent. */
const char *cli_next(int argc, char **argv, int *i);

/* Loads the tokenizer from `path`, or else $GPTOSS_TOKENIZER, or else `fallback` (a model directory);
 * prints the error and returns NULL on failure. */
gptoss_tokenizer *cli_open_tokenizer(const char *path, const char *fallback);
/* For the commands that load a model and a tokenizer together (chat, run, serve, generate -p): 0 when
 * the model has a row for every id the tokenizer can produce (vocab_size >= the tokenizer's ids, as
 * gpt-oss's 201088 rows hold o200k_harmony's 201088 ids); else -1 with one line in err, so a
 * mismatched pair is refused at load instead of failing on every prompt. */
int cli_check_vocab(const gptoss_model *model, const gptoss_tokenizer *tok, char *err, size_t err_size);

/* Progress of a long write on stderr, as gptoss_synth_options.progress takes it; ctx is the command's
 * name (a const char *): "gptoss NAME:  42.0% of 12.85 GiB", redrawn in place on a terminal, one line
 * a report otherwise. */
void cli_progress(void *ctx, uint64_t done, uint64_t total);
/* Whether a write of `total` bytes shows progress: where someone watches and it takes a while
 * (stderr a terminal, over 1 GiB); $GPTOSS_PROGRESS=1 always (logs), =0 never. */
int cli_progress_wanted(uint64_t total);

#endif
