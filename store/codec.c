/*
 * codec.c - the on-disk value formats of the emb and docs databases (layout
 * in store.h). Decoders trust nothing: magic, version, dtype, reserved bytes
 * and the exact length are checked before a byte of payload is read, with
 * 64-bit arithmetic so no header can overflow a size.
 */
#include "store_internal.h"

#include <string.h>

static uint32_t s_u32(const unsigned char *p) {
    uint32_t x;
    memcpy(&x, p, 4);
    return x;
}
static uint16_t s_u16(const unsigned char *p) {
    uint16_t x;
    memcpy(&x, p, 2);
    return x;
}

/* Grows an owned 64-byte-aligned array to hold n elements of size sz. */
static void *s_reserve(void *p, size_t *cap, size_t n, size_t sz) {
    if (n <= *cap && p) return p;
    size_t want = n > 2 * *cap ? n : 2 * *cap;
    if (want == 0) want = 1;
    free(p);
    size_t bytes = (want * sz + 63) / 64 * 64;
    void *q = aligned_alloc(64, bytes);
    if (!q) {
        fprintf(stderr, "hierbert: out of memory allocating %zu bytes at %s:%d\n", bytes, __FILE__, __LINE__);
        abort();
    }
    *cap = want;
    return q;
}

void store_emb_free(store_emb *e) {
    free(e->data);
    memset(e, 0, sizeof *e);
}

void store_doc_free(store_doc *d) {
    free(d->chunk_len);
    free(d->token_ids);
    memset(d, 0, sizeof *d);
}

size_t store_emb_encoded_size(uint32_t n_chunks, uint32_t dim) {
    return STORE_EMB_HEADER_BYTES + (size_t)n_chunks * dim * sizeof(float);
}

void store_emb_encode(void *out, int32_t label, int32_t split, uint32_t n_chunks, uint32_t dim, const float *data) {
    unsigned char *p = out;
    uint32_t magic = STORE_EMB_MAGIC;
    uint16_t version = STORE_EMB_VERSION, dtype = STORE_DTYPE_F32;
    memset(p, 0, STORE_EMB_HEADER_BYTES);
    memcpy(p + 0, &magic, 4);
    memcpy(p + 4, &version, 2);
    memcpy(p + 6, &dtype, 2);
    memcpy(p + 8, &label, 4);
    memcpy(p + 12, &split, 4);
    memcpy(p + 16, &n_chunks, 4);
    memcpy(p + 20, &dim, 4);
    memcpy(p + STORE_EMB_HEADER_BYTES, data, (size_t)n_chunks * dim * sizeof(float));
}

/* Validation shared by the full and the header-only decoder; copy: data too. */
static int s_emb_decode(const void *val, size_t len, store_emb *out, int copy, const char *what, char *err) {
    const unsigned char *p = val;
    if (len < STORE_EMB_HEADER_BYTES)
        return hb_fail(err, "%s: embedding value of %zu bytes is shorter than its %d-byte header", what, len,
                       STORE_EMB_HEADER_BYTES);
    if (s_u32(p) != STORE_EMB_MAGIC)
        return hb_fail(err, "%s: bad magic 0x%08x (not an embedding value)", what, s_u32(p));
    if (s_u16(p + 4) != STORE_EMB_VERSION)
        return hb_fail(err, "%s: embedding format version %u, this hierbert reads %d", what, s_u16(p + 4),
                       STORE_EMB_VERSION);
    if (s_u16(p + 6) != STORE_DTYPE_F32) return hb_fail(err, "%s: unknown dtype %u", what, s_u16(p + 6));
    uint64_t reserved;
    memcpy(&reserved, p + 24, 8);
    if (reserved != 0) return hb_fail(err, "%s: reserved header bytes are not zero", what);
    int32_t label, split;
    memcpy(&label, p + 8, 4);
    memcpy(&split, p + 12, 4);
    uint32_t n = s_u32(p + 16), d = s_u32(p + 20);
    if (n == 0 || d == 0) return hb_fail(err, "%s: empty embedding (%u chunks x %u)", what, n, d);
    if (split < 0 || split > STORE_SPLIT_TEST) return hb_fail(err, "%s: bad split %d", what, split);
    uint64_t want = STORE_EMB_HEADER_BYTES + (uint64_t)n * d * sizeof(float);
    if (want != len)
        return hb_fail(err, "%s: %u chunks x %u floats need %llu bytes, value has %zu", what, n, d,
                       (unsigned long long)want, len);
    if (out) {
        if (copy) {
            out->data = s_reserve(out->data, &out->cap, (size_t)n * d, sizeof(float));
            memcpy(out->data, p + STORE_EMB_HEADER_BYTES, (size_t)n * d * sizeof(float));
        }
        out->label = label;
        out->split = split;
        out->n_chunks = n;
        out->dim = d;
    }
    return 0;
}

int store_emb_decode(const void *val, size_t len, store_emb *out, const char *what, char *err) {
    return s_emb_decode(val, len, out, 1, what, err);
}

int store_emb_decode_header(const void *val, size_t len, store_emb *hdr, const char *what, char *err) {
    return s_emb_decode(val, len, hdr, 0, what, err);
}

size_t store_doc_encoded_size(uint32_t n_chunks, uint32_t n_tokens) {
    return STORE_DOC_HEADER_BYTES + (size_t)n_chunks * 4 + (size_t)n_tokens * 4;
}

void store_doc_encode(void *out, int32_t label, int32_t split, uint32_t n_chunks, const uint32_t *chunk_len,
                      const int32_t *token_ids) {
    unsigned char *p = out;
    uint32_t magic = STORE_DOC_MAGIC, n_tokens = 0;
    uint16_t version = STORE_DOC_VERSION;
    for (uint32_t c = 0; c < n_chunks; c++) n_tokens += chunk_len[c];
    memset(p, 0, STORE_DOC_HEADER_BYTES);
    memcpy(p + 0, &magic, 4);
    memcpy(p + 4, &version, 2);
    memcpy(p + 8, &label, 4);
    memcpy(p + 12, &split, 4);
    memcpy(p + 16, &n_chunks, 4);
    memcpy(p + 20, &n_tokens, 4);
    memcpy(p + STORE_DOC_HEADER_BYTES, chunk_len, (size_t)n_chunks * 4);
    memcpy(p + STORE_DOC_HEADER_BYTES + (size_t)n_chunks * 4, token_ids, (size_t)n_tokens * 4);
}

int store_doc_decode(const void *val, size_t len, store_doc *out, const char *what, char *err) {
    const unsigned char *p = val;
    if (len < STORE_DOC_HEADER_BYTES)
        return hb_fail(err, "%s: document value of %zu bytes is shorter than its %d-byte header", what, len,
                       STORE_DOC_HEADER_BYTES);
    if (s_u32(p) != STORE_DOC_MAGIC) return hb_fail(err, "%s: bad magic 0x%08x (not a document value)", what, s_u32(p));
    if (s_u16(p + 4) != STORE_DOC_VERSION)
        return hb_fail(err, "%s: document format version %u, this hierbert reads %d", what, s_u16(p + 4),
                       STORE_DOC_VERSION);
    if (s_u16(p + 6) != 0) return hb_fail(err, "%s: reserved header bytes are not zero", what);
    int32_t label, split;
    memcpy(&label, p + 8, 4);
    memcpy(&split, p + 12, 4);
    uint32_t n = s_u32(p + 16), nt = s_u32(p + 20);
    if (n == 0) return hb_fail(err, "%s: document without chunks", what);
    if (split < 0 || split > STORE_SPLIT_TEST) return hb_fail(err, "%s: bad split %d", what, split);
    uint64_t want = STORE_DOC_HEADER_BYTES + (uint64_t)n * 4 + (uint64_t)nt * 4;
    if (want != len)
        return hb_fail(err, "%s: %u chunks and %u tokens need %llu bytes, value has %zu", what, n, nt,
                       (unsigned long long)want, len);
    uint64_t sum = 0;
    for (uint32_t c = 0; c < n; c++) sum += s_u32(p + STORE_DOC_HEADER_BYTES + 4 * (size_t)c);
    if (sum != nt)
        return hb_fail(err, "%s: chunk lengths sum to %llu tokens, header says %u", what, (unsigned long long)sum, nt);
    if (out) {
        out->chunk_len = s_reserve(out->chunk_len, &out->cap_chunks, n, 4);
        out->token_ids = s_reserve(out->token_ids, &out->cap_tokens, nt, 4);
        memcpy(out->chunk_len, p + STORE_DOC_HEADER_BYTES, (size_t)n * 4);
        memcpy(out->token_ids, p + STORE_DOC_HEADER_BYTES + (size_t)n * 4, (size_t)nt * 4);
        out->label = label;
        out->split = split;
        out->n_chunks = n;
        out->n_tokens = nt;
    }
    return 0;
}
