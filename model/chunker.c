/*
 * chunker.c - windows over a document's tokens -> padded chunks with masks
 * (definitions in chunker.h).
 */
#include <string.h>

#include "chunker.h"
#include "hb_error.h"

int chunk_config_check(const chunk_config *c, char *err) {
    if (c->seq_len < 3) return hb_fail(err, "chunk length L=%d: must be at least 3 ([CLS] x [SEP])", c->seq_len);
    if (c->stride < 0 || c->stride > c->seq_len - 2)
        return hb_fail(err, "stride %d: must be between 1 and L-2=%d (0 = no overlap)", c->stride, c->seq_len - 2);
    if (c->max_chunks < 0) return hb_fail(err, "max chunks %d: must be >= 0 (0 = unlimited)", c->max_chunks);
    if ((unsigned)c->policy > CHUNK_KEEP_HEAD_TAIL) return hb_fail(err, "chunk policy %d: unknown", (int)c->policy);
    return 0;
}

static const char *const s_policy_names[] = {"first", "spread", "head-tail"};

int chunk_policy_parse(const char *name, chunk_policy *out, char *err) {
    for (int k = 0; k < 3; k++)
        if (!strcmp(name, s_policy_names[k])) {
            *out = (chunk_policy)k;
            return 0;
        }
    return hb_fail(err, "chunk policy '%.64s': expected first, head-tail or spread", name);
}

const char *chunk_policy_name(chunk_policy p) {
    return (unsigned)p <= CHUNK_KEEP_HEAD_TAIL ? s_policy_names[p] : "?";
}

int chunk_stride(const chunk_config *c) {
    return c->stride > 0 ? c->stride : c->seq_len - 2;
}

size_t chunk_windows(const chunk_config *c, size_t n) {
    size_t C = (size_t)(c->seq_len - 2), S = (size_t)chunk_stride(c);
    if (n == 0) return 0;
    if (n <= C) return 1;
    return 1 + (n - C + S - 1) / S;
}

/* index of the i-th kept window among K, M kept */
static size_t s_pick(const chunk_config *c, size_t i, size_t K, size_t M) {
    if (c->policy == CHUNK_KEEP_FIRST || M <= 1) return i;
    if (c->policy == CHUNK_KEEP_HEAD_TAIL) {
        size_t head = (M + 1) / 2;
        return i < head ? i : K - (M - i);
    }
    return (size_t)((uint64_t)i * (K - 1) / (M - 1));
}

static void s_reserve(chunk_set *s, size_t k, int L) {
    if (k * (size_t)L > s->cap) {
        s->cap = k * (size_t)L * 2;
        s->ids = hb_realloc(s->ids, s->cap * sizeof *s->ids);
        s->mask = hb_realloc(s->mask, s->cap);
    }
    if (k > s->start_cap) {
        s->start_cap = k * 2;
        s->start = hb_realloc(s->start, s->start_cap * sizeof *s->start);
        s->len = hb_realloc(s->len, s->start_cap * sizeof *s->len);
    }
}

static void s_put(const chunk_config *c, chunk_set *out, int k, const int32_t *tok, size_t n) {
    int L = c->seq_len;
    int32_t *ids = out->ids + (size_t)k * L;
    uint8_t *m = out->mask + (size_t)k * L;
    if (n > (size_t)(L - 2)) n = (size_t)(L - 2);
    ids[0] = c->cls_id;
    memcpy(ids + 1, tok, n * sizeof *tok);
    ids[n + 1] = c->sep_id;
    for (size_t j = n + 2; j < (size_t)L; j++) ids[j] = c->pad_id;
    memset(m, 1, n + 2);
    out->len[k] = (uint32_t)(n + 2);
    memset(m + n + 2, 0, (size_t)L - n - 2);
}

void chunk_text(const chunk_config *c, const int32_t *tok, size_t n, chunk_set *out) {
    size_t K = chunk_windows(c, n), M = K;
    if (c->max_chunks > 0 && K > (size_t)c->max_chunks) M = (size_t)c->max_chunks;
    size_t C = (size_t)(c->seq_len - 2), S = (size_t)chunk_stride(c);
    s_reserve(out, M, c->seq_len);
    out->seq_len = c->seq_len;
    out->n_chunks = (int)M;
    out->n_dropped = (int)(K - M);
    for (size_t i = 0; i < M; i++) {
        size_t w = s_pick(c, i, K, M), a = w * S, b = a + C < n ? a + C : n;
        s_put(c, out, (int)i, tok + a, b - a);
        out->start[i] = (int32_t)a;
    }
}

void chunk_presplit(const chunk_config *c, const int32_t *tok, const size_t *off, size_t n_items, chunk_set *out) {
    size_t K = n_items, M = K;
    if (c->max_chunks > 0 && K > (size_t)c->max_chunks) M = (size_t)c->max_chunks;
    s_reserve(out, M, c->seq_len);
    out->seq_len = c->seq_len;
    out->n_chunks = (int)M;
    out->n_dropped = (int)(K - M);
    for (size_t i = 0; i < M; i++) {
        size_t w = s_pick(c, i, K, M);
        s_put(c, out, (int)i, tok + off[w], off[w + 1] - off[w]);
        out->start[i] = (int32_t)w;
    }
}

void chunk_set_free(chunk_set *s) {
    free(s->ids);
    free(s->mask);
    free(s->start);
    free(s->len);
    memset(s, 0, sizeof *s);
}
