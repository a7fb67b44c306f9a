/* tokenizer_export.h: writing a tokenizer into other files (tokenizer_export.c); gptoss_tokenizer_export
 * itself is public (gptoss.h). */
#ifndef GPTOSS_TOKENIZER_EXPORT_H
#define GPTOSS_TOKENIZER_EXPORT_H

#include "base/common.h"
#include "format/gguf.h"

/* Adds o200k_harmony's GGUF metadata to w, the tokenizer.ggml.* keys as llama.cpp's _set_vocab_gpt2
 * writes them for gpt-oss: model "gpt2", pre "gpt-4o", tokens in the GPT-2 byte-level spelling
 * (specials as their literals), token_type, merges "left right", special ids. Read from
 * tok_path, or when NULL from the tokenizer found for model_dir (none found: nothing is added and
 * GPTOSS_OK is returned). */
gptoss_status gptoss_gguf_write_tokenizer(gptoss_gguf_writer *w, const char *tok_path, const char *model_dir,
                                          uint32_t n_vocab, char *err, size_t err_size);

#endif
