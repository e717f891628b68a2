/*
 * chunker.h - a document's token ids -> chunks of exactly L ids:
 * [CLS] t_a .. t_b [SEP] [PAD]..., with an attention mask (1 on [CLS], the
 * content tokens and [SEP]; 0 on [PAD]). Each chunk holds at most C = L - 2
 * content tokens.
 *
 * Windows (a text document of n >= 1 content tokens t[0..n)):
 *   stride S (1 <= S <= C; S = C means no overlap, the default). Window k
 *   covers t[k*S .. min(k*S + C, n)), for k = 0 .. K-1 where
 *       K = 1                      if n <= C
 *       K = 1 + ceil((n - C) / S)  otherwise,
 *   i.e. windows start every S tokens until one reaches the end. RoBERT's
 *   "200 tokens with shift 50" is L = 202 (200 content tokens), S = 50:
 *   consecutive chunks share C - S = 150 tokens. A document of 0 tokens has
 *   no chunks (the dataset layer refuses it as empty).
 * Pre-split documents (a `chunks` list): chunk k is list item k's tokens,
 *   truncated to its first C tokens; no windows, no overlap.
 * Maximum chunks per document M (0 = unlimited): when K > M, policy
 *   CHUNK_KEEP_FIRST keeps windows 0 .. M-1 (the start of the document);
 *   CHUNK_KEEP_SPREAD keeps M evenly spaced windows floor(i*(K-1)/(M-1)),
 *   i = 0 .. M-1 (always the first and the last; M = 1 keeps the first);
 *   CHUNK_KEEP_HEAD_TAIL keeps the first ceil(M/2) and the last floor(M/2)
 *   windows (the head+tail truncation Sun et al. 2019 found best for long
 *   texts, by chunks; M = 1 keeps the first).
 *   Dropped windows are counted (n_dropped), never silent.
 * Chunk index = position in the kept list (0 .. n_chunks-1); `start` keeps
 * each chunk's first content-token offset (text) or list index (pre-split).
 */
#ifndef HB_CHUNKER_H
#define HB_CHUNKER_H

#include <stddef.h>
#include <stdint.h>

typedef enum { CHUNK_KEEP_FIRST = 0, CHUNK_KEEP_SPREAD = 1, CHUNK_KEEP_HEAD_TAIL = 2 } chunk_policy;

/* "first" | "spread" | "head-tail" -> *out; -1 (err names the choices) otherwise. */
int chunk_policy_parse(const char *name, chunk_policy *out, char *err);
const char *chunk_policy_name(chunk_policy p);

typedef struct {
    int seq_len;    /* L, including [CLS] and [SEP]; >= 3 */
    int stride;     /* S; 0 means C = L - 2 (no overlap) */
    int max_chunks; /* M; 0 = unlimited */
    chunk_policy policy;
    int32_t cls_id, sep_id, pad_id; /* from the vocabulary (wordpiece.h) */
} chunk_config;

typedef struct {
    int n_chunks, seq_len;
    int32_t *ids;  /* n_chunks x seq_len */
    uint8_t *mask; /* n_chunks x seq_len; 1 = real token, 0 = [PAD] */
    int32_t *start;
    uint32_t *len;         /* per chunk: real tokens ([CLS] + content + [SEP]) = sum of its mask */
    int n_dropped;         /* windows or list items dropped by max_chunks */
    size_t cap, start_cap; /* capacity in chunks */
} chunk_set;

/* Checks L, S, M; fails naming the bad value. */
int chunk_config_check(const chunk_config *c, char *err);
/* Effective stride (S, or L - 2 when S = 0). */
int chunk_stride(const chunk_config *c);
/* K: windows of a text document of n tokens, before max_chunks. */
size_t chunk_windows(const chunk_config *c, size_t n);

/* Text document: fills out (reusing its buffers) from tok[0..n). */
void chunk_text(const chunk_config *c, const int32_t *tok, size_t n, chunk_set *out);
/* Pre-split document: items k = tok[off[k] .. off[k+1]), k < n_items. */
void chunk_presplit(const chunk_config *c, const int32_t *tok, const size_t *off, size_t n_items, chunk_set *out);

void chunk_set_free(chunk_set *s);

#endif
