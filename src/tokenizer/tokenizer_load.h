/* tokenizer_load.h: the tokenizer's loaders, one a file format, each parsing its file and building the
 * tokenizer through the core's gptoss_tokenizer_build; gptoss_tokenizer_load (tokenizer_load.c) picks
 * one. The core (tokenizer_internal.h) never calls them. */
#ifndef GPTOSS_TOKENIZER_LOAD_H
#define GPTOSS_TOKENIZER_LOAD_H

#include "base/common.h"
#include "format/gguf.h"

/* The file to read for path: path itself, or in a model directory its tokenizer.json, the one beside
 * an original/ folder, or an o200k_base.tiktoken. Writes the path into out (cleared first). */
gptoss_status gptoss_tokenizer_resolve_path(const char *path, gptoss_buf *out, char *err, size_t err_size);
/* tokenizer_json.c: parses a Hugging Face tokenizer.json held in text[0..len). */
gptoss_status gptoss_tokenizer_parse_json(gptoss_tokenizer *tok, const char *text, size_t len, char *err,
                                          size_t err_size);
/* tokenizer_tiktoken.c: parses a tiktoken rank file held in text[0..len). */
gptoss_status gptoss_tokenizer_parse_tiktoken(gptoss_tokenizer *tok, const char *text, size_t len,
                                              char *err, size_t err_size);
/* tokenizer_gguf.c: builds the tokenizer from a parsed GGUF file's metadata. */
gptoss_status gptoss_tokenizer_from_gguf(const gptoss_gguf *g, gptoss_tokenizer **out, char *err, size_t err_size);
/* Opens path as GGUF and builds its tokenizer. */
gptoss_status gptoss_tokenizer_load_gguf(const char *path, gptoss_tokenizer **out, char *err, size_t err_size);

#endif
