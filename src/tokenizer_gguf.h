/* tokenizer_gguf.h: o200k_harmony in GGUF metadata (tokenizer.ggml.*, as llama.cpp's
 * _set_vocab_gpt2 writes it for gpt-oss): model "gpt2", pre "gpt-4o", tokens in the GPT-2
 * byte-level spelling (specials as their literals), token_type, merges "left right", special ids. */
#ifndef GPTOSS_TOKENIZER_GGUF_H
#define GPTOSS_TOKENIZER_GGUF_H

#include "gguf.h"
#include "gptoss.h"

/* Adds the tokenizer.ggml.* keys to w from tok_path, or when NULL from the tokenizer found for
 * model_dir (none found: nothing is added and GPTOSS_OK is returned). */
gptoss_status gptoss_gguf_write_tokenizer(gptoss_gguf_writer *w, const char *tok_path, const char *model_dir,
                                          uint32_t n_vocab, char *err, size_t err_size);
/* Builds the tokenizer from a parsed GGUF file's metadata. */
gptoss_status gptoss_tokenizer_from_gguf(const gptoss_gguf *g, gptoss_tokenizer **out, char *err, size_t err_size);
/* Opens path as GGUF and builds its tokenizer. */
gptoss_status gptoss_tokenizer_load_gguf(const char *path, gptoss_tokenizer **out, char *err, size_t err_size);

#endif
