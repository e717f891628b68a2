/*
 * bert_kernels.h - the encoder's element-wise and row-wise kernels: layer
 * norm (plain and fused with bias + dropout + residual), GELU, dropout, column
 * sums. Each fast kernel (OpenMP over rows or columns, inner loops the
 * compiler vectorizes) keeps a naive twin (_naive) that is the readable
 * definition; tests/test_bert_kernels.c checks one against the other.
 *
 * Shapes: N rows of C floats, row-major. Reductions over rows (weight and
 * bias gradients) run column-parallel with rows in order, so results do not
 * depend on the thread count.
 */
#ifndef HB_BERT_KERNELS_H
#define HB_BERT_KERNELS_H

#include <stddef.h>
#include <stdint.h>

/* ---- dropout: counter-based masks ---------------------------------------
 * keep(i) = hash(i, key) >= p * 2^32; kept values are scaled by 1/(1-p).
 * The key names a site of one forward; the mask is recomputed in backward.
 *
 * Two ways to key a tensor seen as rows of row_len floats:
 *  - by forward (sample_keys NULL): one key per site, element i of row r is
 *    hashed at index r * row_len + i - a mask that depends on where a
 *    sample sits in its batch and on the batch's (trimmed) length;
 *  - by sample (bk_dropout_by_sample): row r belongs to sample r / rps, and
 *    its key is sample_keys[sample] mixed with the site; the index is
 *    (u / inner) * outer_stride + (u % inner) * row_stride + i for the
 *    row's place u = r % rps in its sample. With strides of the model's
 *    maximum shapes the index names (head, query, key) or (position,
 *    feature) whatever the batch, so a sample's masks are a function of its
 *    key alone: the same on any worker, in any slice, at any trimmed length. */
typedef struct {
    uint32_t k0, k1, thresh;
    float scale; /* 1/(1-p) */
    int on;      /* p > 0 */
    const uint64_t *sample_keys; /* NULL: keyed by forward */
    uint64_t site_mix;
    uint32_t rps, inner, row_stride, outer_stride;
} bk_dropout;

uint64_t bk_mix64(uint64_t x); /* splitmix64 finalizer */
bk_dropout bk_dropout_make(uint64_t forward_key, uint32_t site, float p);
/* keys d by sample from now on (see above); sample_keys must outlive d */
void bk_dropout_by_sample(bk_dropout *d, const uint64_t *sample_keys, uint32_t rps, uint32_t inner,
                          uint32_t row_stride, uint32_t outer_stride);
static inline uint32_t bk_hash(uint32_t x, uint32_t k0, uint32_t k1) {
    x ^= k0;
    x *= 0x9E3779B1u;
    x ^= x >> 16;
    x *= 0x85EBCA6Bu;
    x ^= x >> 13;
    x ^= k1;
    x *= 0xC2B2AE35u;
    x ^= x >> 16;
    return x;
}
/* the key and first index of row r (of row_len floats) */
static inline void bk_dropout_row(const bk_dropout *d, size_t r, size_t row_len, uint32_t *k0, uint32_t *k1,
                                  uint32_t *base) {
    if (!d->sample_keys) {
        *k0 = d->k0;
        *k1 = d->k1;
        *base = (uint32_t)(r * row_len);
        return;
    }
    const size_t u = r % d->rps;
    const uint64_t k = bk_mix64(d->sample_keys[r / d->rps] ^ d->site_mix);
    *k0 = (uint32_t)k;
    *k1 = (uint32_t)(k >> 32);
    *base = (uint32_t)((u / d->inner) * d->outer_stride + (u % d->inner) * d->row_stride);
}
/* x[i] *= mask(base + i) * scale, i < n (forward and backward alike); by forward only */
void bk_dropout_apply(float *x, size_t n, size_t base, const bk_dropout *d);
/* y[i] = x[i] * mask * scale; by forward only */
void bk_dropout_copy(float *y, const float *x, size_t n, size_t base, const bk_dropout *d);
/* rows r0 .. r0+nrows of row_len floats: y = x * mask * scale (y may be x);
 * either keying. y and x point at row r0. */
void bk_dropout_rows(float *y, const float *x, size_t r0, size_t nrows, size_t row_len, const bk_dropout *d);

/* ---- layer norm --------------------------------------------------------- */
/* out = (inp - mean) * rstd * w + b per row; mean, rstd [N] kept for backward */
void bk_layernorm_forward(float *out, float *mean, float *rstd, const float *inp, const float *w, const float *b, int N,
                          int C, float eps);
void bk_layernorm_forward_naive(float *out, float *mean, float *rstd, const float *inp, const float *w, const float *b,
                                int N, int C, float eps);
/* ln_in = resid + dropout(dense + bias); out = LayerNorm(ln_in): the tail of
 * each attention and feed-forward block, in one pass. */
void bk_residual_layernorm_forward(float *ln_in, float *mean, float *rstd, float *out, const float *dense,
                                   const float *bias, const float *resid, const float *w, const float *b, int N, int C,
                                   float eps, const bk_dropout *d);
void bk_residual_layernorm_forward_naive(float *ln_in, float *mean, float *rstd, float *out, const float *dense,
                                         const float *bias, const float *resid, const float *w, const float *b, int N,
                                         int C, float eps, const bk_dropout *d);
/* dinp = d LN / d inp (written, or added when accumulate); dw, db += */
void bk_layernorm_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp, const float *w,
                           const float *mean, const float *rstd, int N, int C, int accumulate);
void bk_layernorm_backward_naive(float *dinp, float *dw, float *db, const float *dout, const float *inp, const float *w,
                                 const float *mean, const float *rstd, int N, int C, int accumulate);

/* ---- GELU (exact: 0.5 x (1 + erf(x / sqrt 2))) --------------------------- */
/* pre += bias (per row of C); act = gelu(pre) */
void bk_bias_gelu_forward(float *act, float *pre, const float *bias, int N, int C);
void bk_bias_gelu_forward_naive(float *act, float *pre, const float *bias, int N, int C);
/* act = gelu(pre) (recomputed in backward instead of stored) */
void bk_gelu(float *act, const float *pre, size_t n);
/* g[i] *= gelu'(pre[i]) */
void bk_gelu_backward(float *g, const float *pre, size_t n);
void bk_gelu_backward_naive(float *g, const float *pre, size_t n);

/* ---- reductions --------------------------------------------------------- */
/* db[c] += sum_n g[n, c] */
void bk_colsum_add(float *db, const float *g, int N, int C);
void bk_colsum_add_naive(float *db, const float *g, int N, int C);

/* ---- attention softmax -------------------------------------------------- */
/* Row softmax of an R x T score block in place, masked keys (mask[j] == 0)
 * given HF's additive -FLT_MAX first. */
void bk_masked_softmax_rows(float *s, const uint8_t *mask, int R, int T);
void bk_masked_softmax_rows_naive(float *s, const uint8_t *mask, int R, int T);
/* dS = P * (dP - rowsum(P * dP)) in place in dp, R x T */
void bk_softmax_backward_rows(float *dp, const float *p, int R, int T);
void bk_softmax_backward_rows_naive(float *dp, const float *p, int R, int T);

#endif
