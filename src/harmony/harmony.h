/* harmony.h: internals shared by the harmony modules (src/harmony/harmony_*.c): deep copies of messages,
 * the tools section and JSON-Schema declarations, compact JSON output of parsed values. */
#ifndef GPTOSS_HARMONY_H
#define GPTOSS_HARMONY_H

#include "base/common.h"
#include "format/json.h"

/* Deep copy of src into *dst (all strings, parts and tool lists malloc'd). On failure *dst is left
 * empty and GPTOSS_ERR_NO_MEMORY returned. */
gptoss_status gptoss_harmony_message_copy(gptoss_harmony_message *dst, const gptoss_harmony_message *src);
/* Frees what gptoss_harmony_message_copy allocated and zeroes *msg. */
void gptoss_harmony_message_clear(gptoss_harmony_message *msg);

/* strdup that accepts NULL (returns NULL) and reports failure through *failed. */
char *gptoss_harmony_strdup(const char *s, int *failed);

/* Appends "# Tools\n\n## ns\n..." for the namespaces (sorted by name, as openai/harmony's BTreeMap
 * orders them). Fails on a parameters_json that does not parse. */
gptoss_status gptoss_harmony_tools_section(gptoss_buf *b, const gptoss_harmony_namespace *ns, size_t n,
                                           char *err, size_t err_size);
/* The TypeScript-like declaration of a JSON Schema (openai/harmony's json_schema_to_typescript). */
void gptoss_harmony_schema_to_ts(gptoss_buf *b, const json_value *schema, const char *indent);

/* 1 if a developer message of the messages declares a non-empty "functions" namespace. */
int gptoss_harmony_has_function_tools(const gptoss_harmony_message *const *msgs, size_t n);

#endif
