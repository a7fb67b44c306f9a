/* grammar_internal.h: the compiled JSON-Schema grammar (nodes, key tries, literal tries, regex DFAs),
 * the byte matcher's state (a bounded set of threads, each a bounded stack of frames) and the shared
 * token trie used to compute masks. Private to src/grammar/. */
#ifndef GPTOSS_GRAMMAR_INTERNAL_H
#define GPTOSS_GRAMMAR_INTERNAL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "gptoss.h"

/* ---- regex: ECMA-262 subset -> byte DFA (regex.c) ---- */
typedef struct gram_dfa {
    int n_class, n_states;
    uint8_t cls[256];
    int32_t *next;   /* n_states * n_class, -1 = dead */
    uint8_t *accept; /* n_states */
} gram_dfa;

/* Compiles pattern[0..len) (UTF-8) with JSON Schema's search semantics (unanchored unless ^/$).
 * On failure returns nonzero with a message in err. */
int gram_regex_compile(const char *pattern, size_t len, gram_dfa *out, char *err, size_t err_size);
void gram_dfa_free(gram_dfa *d);
static inline int32_t gram_dfa_step(const gram_dfa *d, int32_t s, uint8_t b) {
    return s < 0 ? -1 : d->next[(size_t)s * (size_t)d->n_class + d->cls[b]];
}

/* ---- compiled schema (schema.c) ---- */
struct json_value;
/* A local "#/..." JSON pointer in root; NULL with *why = 1 non-local, 2 anchor, 3 unresolvable. */
const struct json_value *gram_json_pointer(const struct json_value *root, const char *ref, size_t len, int *why);
/* Whether value v is valid against schema s (root: for $ref): 1 valid, 0 invalid, -1 unknown (a
 * keyword or form this validator does not decide). skip: a schema object whose enum/const is not
 * checked (the values come from it). validate.c. */
/* The regex of a format the engine checks, or NULL; *asserted: validators check it but the engine
 * does not model it. */
const char *gram_format_regex(const char *name, int *asserted);
/* 0 when root's $schema is 2019-09 or 2020-12 (format only annotates there), else 1 (drafts 4-7,
 * and no $schema: validators assert the formats they know). */
int gram_format_asserted(const struct json_value *root);
int gram_validate(const struct json_value *root, const struct json_value *s, const struct json_value *v,
                  const struct json_value *skip, int depth);
enum {
    GT_NULL = 1, GT_BOOL = 2, GT_INT = 4, GT_NUM = 8, GT_STR = 16, GT_ARR = 32, GT_OBJ = 64,
    GT_ALL = 127,
};
enum { GN_VALUE, GN_ANYOF, GN_LITERAL };

typedef struct gram_prop {
    const char *key;
    size_t key_len;
    int32_t node;
    int required;
} gram_prop;

typedef struct gram_node {
    int kind;
    unsigned types; /* GN_VALUE: GT_* set; GT_INT without GT_NUM means integers only */
    /* strings */
    uint32_t min_len, max_len;
    int32_t dfa; /* index into grammar dfas or -1 */
    /* numbers: bounds as doubles; exclusive flags */
    int has_min, has_max, excl_min, excl_max;
    double min, max;
    uint64_t multiple_of; /* 0 = none; integers only */
    /* arrays */
    uint32_t min_items, max_items;
    int32_t *prefix;
    uint32_t n_prefix;
    int32_t items; /* node for items after prefix; -1 = none allowed */
    /* contains: at least min_contains items match contains_item (items merged with contains) */
    int32_t contains_item;
    uint32_t min_contains;
    /* objects */
    gram_prop *props;
    uint32_t n_props;
    int32_t additional; /* node for undeclared keys; -1 = none allowed */
    int32_t key_trie;   /* root index in grammar key trie */
    /* patternProperties (at most 2): DFAs over undeclared keys; pat_node[m - 1] is the schema of a
     * key matching the pattern set m (bit 0: first pattern, bit 1: second; 3 = both, merged) */
    uint32_t n_pat;
    int32_t pat_dfa[2], pat_node[3];
    uint32_t min_props, max_props;
    /* anyOf */
    int32_t *alts;
    uint32_t n_alts;
    /* literal set: root index in grammar literal trie */
    int32_t lit;
} gram_node;

/* Key tries (object property names) and literal tries (enum/const texts) share one layout. */
typedef struct gram_tnode {
    int32_t first_child, next_sibling;
    int32_t term;       /* key trie: property index; literal trie: 1 if a value ends here; else -1 */
    uint8_t in_string;  /* literal trie: this position is inside a JSON string */
    uint8_t byte;       /* the byte that led here */
    uint8_t int_digit;  /* literal trie: a digit of a number with no fraction or exponent yet */
    int32_t min_prop, max_prop; /* key trie: smallest/largest property index in the subtree */
} gram_tnode;

struct gptoss_grammar {
    gram_node *nodes;
    uint32_t n_nodes, cap_nodes;
    gram_tnode *tnodes;
    uint32_t n_tnodes, cap_tnodes;
    gram_dfa *dfas;
    uint32_t n_dfas, cap_dfas;
    int32_t root;
    const gptoss_grammar_vocab *vocab;
    int32_t any;  /* the node that accepts every JSON value */
    char **strs;  /* property keys, owned */
    uint32_t n_strs, cap_strs;
    /* masks of plain tokens per (dfa, dfa state): filled on demand, shared by every state */
    pthread_mutex_t cache_lock;
    struct gram_cache_entry *cache;
    uint32_t n_cache;
    struct gram_mask_entry *masks; /* whole masks by matcher state (open addressing) */
    uint32_t n_masks;
};

/* ---- matcher (matcher.c) ---- */
#define GRAM_MAX_DEPTH 32
#define GRAM_MAX_THREADS 32

typedef struct gram_frame {
    int32_t node;
    uint8_t mode, sub;
    uint16_t flags;
    uint32_t a, b;
    uint64_t c;
} gram_frame;

typedef struct gram_thread {
    uint32_t depth;
    gram_frame f[GRAM_MAX_DEPTH];
} gram_thread;

typedef struct gram_state {
    uint32_t n;
    uint32_t work; /* anyOf expansions in the step that made this state (bounded) */
    gram_thread t[GRAM_MAX_THREADS];
} gram_state;

void gram_state_init(const gptoss_grammar *g, gram_state *s);
/* out = in advanced by byte b (out != in). Returns out->n (0 = rejected). */
uint32_t gram_state_step(const gptoss_grammar *g, const gram_state *in, uint8_t b, gram_state *out);
int gram_state_complete(const gptoss_grammar *g, const gram_state *s);
/* 1 if some thread is inside a string (or key) where every "plain" byte run (no quote, backslash,
 * control byte, whole UTF-8 lead sequences) of up to 256 characters is accepted. */
int gram_state_plain_string(const gptoss_grammar *g, const gram_state *s);
/* 1 if the thread's top frame is a string value between characters (no escape or UTF-8 sequence
 * pending): plain tokens then depend only on the node, its DFA state and the length left. */
int gram_thread_in_string(const gptoss_grammar *g, const gram_thread *t);
/* A superset of the bytes step() may accept next, as a 256-bit set. */
void gram_state_first_bytes(const gptoss_grammar *g, const gram_state *s, uint32_t m[8]);

/* ---- grammar states (mask.c), for constraint.c ---- */
/* Makes the scratch a mask needs now, so that later masks and advances allocate nothing; 0 when out
 * of memory. */
int gram_grammar_state_reserve(gptoss_grammar_state *s);
/* Starts s over at the beginning of grammar g (any grammar of the same vocabulary), keeping its
 * scratch: one state serves every grammar a turn may enter. */
void gram_grammar_state_restart(gptoss_grammar_state *s, const gptoss_grammar *g);

/* ---- vocabulary trie ---- */
#define GRAM_PLAIN_LE 64
typedef struct gram_cache_entry {
    int32_t dfa, state;
    uint32_t *bits;
} gram_cache_entry;
#define GRAM_CACHE_MAX 128
typedef struct gram_mask_entry {
    uint64_t hash;
    uint8_t *key; /* serialized state */
    size_t key_len;
    uint32_t *bits;
} gram_mask_entry;
#define GRAM_MASKS_SLOTS 512 /* at most half filled */
typedef struct gram_vnode {
    uint32_t skip;  /* index after this node's subtree (preorder) */
    int32_t token;  /* token id ending here or -1 */
    uint8_t byte, depth;
} gram_vnode;

struct gptoss_grammar_vocab {
    uint32_t n_vocab, n_words;
    gram_vnode *all;   /* trie of every non-special token */
    uint32_t n_all;
    gram_vnode *rest;  /* trie of the tokens that are not plain string content */
    uint32_t n_rest;
    uint32_t *plain;   /* bitset: tokens that are plain string content from a character boundary */
    gram_vnode *plain_trie; /* trie of the plain tokens */
    uint32_t n_plain_trie;
    uint32_t max_chars;     /* most characters in a plain token */
    uint32_t *plain_le;     /* GRAM_PLAIN_LE bitsets: plain tokens of at most r characters */
    uint32_t max_len;
    uint8_t *tok_bytes; /* every token's bytes, concatenated (special tokens: none) */
    uint32_t *tok_off;  /* n_vocab + 1 offsets into tok_bytes */
};

#endif
