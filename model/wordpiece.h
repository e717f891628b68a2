/*
 * wordpiece.h - BERT's tokenizer: the basic tokenizer followed by WordPiece,
 * exactly as Google's original tokenization.py (BasicTokenizer +
 * WordpieceTokenizer) defines them, on UTF-8 text, with utf8proc for Unicode.
 *
 * Basic tokenizer, per code point, in this order:
 *  1. clean: U+0000, U+FFFD and control characters (categories Cc and Cf,
 *     except \t \n \r) are dropped; whitespace (space, \t, \n, \r and
 *     category Zs) separates tokens. U+2028/U+2029 (Zl/Zp) also separate
 *     tokens, because the reference splits with Python's str.split().
 *  2. CJK ideographs (BERT's _is_chinese_char ranges: U+4E00-9FFF,
 *     3400-4DBF, 20000-2A6DF, 2A700-2B73F, 2B740-2B81F, 2B820-2CEAF,
 *     F900-FAFF, 2F800-2FA1F) become tokens of their own.
 *  3. uncased vocabularies only: each whitespace token is lowercased (full
 *     Unicode lowercase as Python's str.lower(), including the final-sigma
 *     rule and U+0130 -> "i" + U+0307), then NFD-normalised and stripped of
 *     nonspacing marks (category Mn).
 *  4. punctuation splits: every punctuation character (ASCII 33-47, 58-64,
 *     91-96, 123-126, and Unicode categories P*) is a token of its own.
 * WordPiece, per resulting word: a word of more than 100 characters (code
 * points) is [UNK]; otherwise greedy longest-match-first over the vocabulary,
 * continuations prefixed "##"; a word with any unmatched position is [UNK].
 *
 * Vocabulary: vocab.txt, one token per line, id = line index (0-based), each
 * line stripped of surrounding ASCII whitespace as the reference does; a repeated
 * token keeps its last id. Special tokens are looked up by name: [UNK],
 * [CLS], [SEP] and [PAD] must be present; [MASK] may be absent (-1).
 *
 * Speed: one pass over the bytes with an ASCII fast path; the vocabulary is a
 * hash map; output ids go to a caller-owned growing array (no allocation per
 * token). A wp_tokenizer holds scratch buffers: use one per thread.
 */
#ifndef HB_WORDPIECE_H
#define HB_WORDPIECE_H

#include <stddef.h>
#include <stdint.h>

#include "strmap.h"

#define WP_MAX_WORD_CHARS 100

/* A growing array of token ids; reuse it across calls (n reset by the callee
 * only when told: wp_tokenize appends). Free with wp_ids_free. */
typedef struct {
    int32_t *v;
    size_t n, cap;
} wp_ids;

void wp_ids_push(wp_ids *a, int32_t id);
void wp_ids_free(wp_ids *a);

typedef struct {
    strmap vocab;  /* token bytes -> id */
    char **tokens; /* id -> token text (pointers into vocab_text) */
    char *vocab_text;
    int n_tokens;
    int lowercase; /* 1: uncased vocabulary (lowercase + strip accents) */
    int max_token_bytes;
    int unk_id, cls_id, sep_id, pad_id, mask_id; /* mask_id -1 if absent */
    /* scratch, reused across calls */
    uint32_t *cps, *cps2; /* code points of the current whitespace token */
    size_t cps_cap, cps2_cap;
    char *word;         /* "##" + UTF-8 bytes of the current word */
    uint32_t *word_off; /* byte offset of each code point in word (+2) */
    size_t word_cap, word_off_cap;
} wp_tokenizer;

/* Loads vocab.txt. lowercase=1 for uncased vocabularies (bert-base-uncased),
 * 0 for cased ones (no lowercasing, no accent stripping). Fails naming the
 * file and line (unreadable, empty, not UTF-8, a required special token
 * missing). */
int wp_load(wp_tokenizer **out, const char *vocab_path, int lowercase, char *err);
void wp_destroy(wp_tokenizer **t);

/* Id of a vocabulary token given as bytes, or -1. */
int wp_token_id(const wp_tokenizer *t, const char *tok, size_t len);
/* Text of token id, or NULL if out of range. */
const char *wp_token_text(const wp_tokenizer *t, int id);

/* Tokenizes n bytes of UTF-8 text and appends the ids to out (no [CLS] or
 * [SEP]). Returns 0, or -1 on invalid UTF-8 with *bad_off (if non-NULL) set
 * to the byte offset of the first bad sequence and err saying so; then out
 * may hold the ids of the text before it (callers discard it). */
int wp_tokenize(wp_tokenizer *t, const char *text, size_t n, wp_ids *out, size_t *bad_off, char *err);

/* Checks that n bytes are valid UTF-8 (shortest form, no surrogates, at most
 * U+10FFFF). Returns 0, or -1 with *bad_off = offset of the first bad byte. */
int wp_utf8_check(const char *s, size_t n, size_t *bad_off);

#endif
