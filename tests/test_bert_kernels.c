/*
 * test_bert_kernels.c - each fast encoder kernel (OpenMP + vectorized) against
 * its naive twin in model/bert_kernels.c, on shapes with odd sizes and
 * column counts across the 64-column blocks: layer norm forward (plain and
 * fused with bias + dropout + residual), layer norm backward (input, weight
 * and bias gradients), bias + GELU, GELU backward, column sums; plus the
 * dropout mask's rate and its independence from the thread count.
 */
#include <omp.h>
#include <string.h>

#include "bert_kernels.h"
#include "check.h"

static float *s_rand(size_t n, unsigned *seed, float scale) {
    float *p = malloc(n * sizeof *p);
    for (size_t i = 0; i < n; i++) {
        *seed = *seed * 1103515245u + 12345u;
        p[i] = scale * ((float)(*seed >> 8) / (float)(1u << 24) - 0.5f);
    }
    return p;
}

static double s_err(const float *a, const float *b, size_t n) {
    double md = 0, mr = 0;
    for (size_t i = 0; i < n; i++) {
        md = fmax(md, fabs((double)a[i] - b[i]));
        mr = fmax(mr, fabs((double)b[i]));
    }
    return mr > 0 ? md / mr : md;
}

static void s_shape(int N, int C) {
    unsigned seed = (unsigned)(N * 131 + C);
    const size_t n = (size_t)N * C;
    float *x = s_rand(n, &seed, 4.0f), *w = s_rand((size_t)C, &seed, 1.0f), *b = s_rand((size_t)C, &seed, 1.0f);
    float *dense = s_rand(n, &seed, 2.0f), *dout = s_rand(n, &seed, 1.0f);
    for (int j = 0; j < C; j++) w[j] += 1.0f;
    float *o1 = calloc(n, 4), *o2 = calloc(n, 4), *m1 = calloc((size_t)N, 4), *m2 = calloc((size_t)N, 4);
    float *r1 = calloc((size_t)N, 4), *r2 = calloc((size_t)N, 4), *i1 = calloc(n, 4), *i2 = calloc(n, 4);
    bk_layernorm_forward(o1, m1, r1, x, w, b, N, C, 1e-12f);
    bk_layernorm_forward_naive(o2, m2, r2, x, w, b, N, C, 1e-12f);
    double e1 = s_err(o1, o2, n), e2 = s_err(r1, r2, (size_t)N);
    CHECK(e1 < 1e-5 && e2 < 1e-5, "layernorm forward %dx%d: %g %g", N, C, e1, e2);

    bk_dropout d = bk_dropout_make(42, 3, 0.1f);
    bk_residual_layernorm_forward(i1, m1, r1, o1, dense, b, x, w, b, N, C, 1e-12f, &d);
    bk_residual_layernorm_forward_naive(i2, m2, r2, o2, dense, b, x, w, b, N, C, 1e-12f, &d);
    double e3 = fmax(s_err(i1, i2, n), s_err(o1, o2, n));
    CHECK(e3 < 1e-5, "residual layernorm %dx%d: %g", N, C, e3);

    float *dw1 = calloc((size_t)C, 4), *dw2 = calloc((size_t)C, 4), *db1 = calloc((size_t)C, 4),
          *db2 = calloc((size_t)C, 4);
    bk_layernorm_backward(o1, dw1, db1, dout, i1, w, m1, r1, N, C, 0);
    bk_layernorm_backward_naive(o2, dw2, db2, dout, i1, w, m1, r1, N, C, 0);
    double e4 = fmax(s_err(o1, o2, n), fmax(s_err(dw1, dw2, (size_t)C), s_err(db1, db2, (size_t)C)));
    CHECK(e4 < 1e-5, "layernorm backward %dx%d: %g", N, C, e4);

    memcpy(o1, dense, n * 4);
    memcpy(o2, dense, n * 4);
    bk_bias_gelu_forward(i1, o1, b, N, C);
    bk_bias_gelu_forward_naive(i2, o2, b, N, C);
    double e5 = fmax(s_err(i1, i2, n), s_err(o1, o2, n));
    CHECK(e5 < 1e-6, "bias+gelu %dx%d: %g", N, C, e5);
    bk_gelu(i1, o1, n);
    CHECK(s_err(i1, i2, n) < 1e-6, "gelu recompute");
    memcpy(i1, dout, n * 4);
    memcpy(i2, dout, n * 4);
    bk_gelu_backward(i1, o1, n);
    bk_gelu_backward_naive(i2, o1, n);
    double e6 = s_err(i1, i2, n);
    CHECK(e6 < 1e-6, "gelu backward %dx%d: %g", N, C, e6);

    memset(db1, 0, (size_t)C * 4);
    memset(db2, 0, (size_t)C * 4);
    bk_colsum_add(db1, dout, N, C);
    bk_colsum_add_naive(db2, dout, N, C);
    double e7 = s_err(db1, db2, (size_t)C);
    CHECK(e7 < 1e-5, "colsum %dx%d: %g", N, C, e7);
    /* attention softmax over rows of C keys, the last third masked */
    uint8_t *mk = malloc((size_t)C);
    for (int j = 0; j < C; j++) mk[j] = j < C - C / 3;
    memcpy(o1, x, n * 4);
    memcpy(o2, x, n * 4);
    bk_masked_softmax_rows(o1, mk, N, C);
    bk_masked_softmax_rows_naive(o2, mk, N, C);
    double e8 = s_err(o1, o2, n);
    int masked_zero = 1;
    for (int r = 0; r < N; r++)
        for (int j = C - C / 3; j < C; j++) masked_zero &= o1[(size_t)r * C + j] == 0.0f;
    CHECK(e8 < 1e-6 && masked_zero, "softmax %dx%d: %g, masked keys zero %d", N, C, e8, masked_zero);
    memcpy(i1, dout, n * 4);
    memcpy(i2, dout, n * 4);
    bk_softmax_backward_rows(i1, o2, N, C);
    bk_softmax_backward_rows_naive(i2, o2, N, C);
    double e9 = s_err(i1, i2, n);
    CHECK(e9 < 1e-5, "softmax backward %dx%d: %g", N, C, e9);
    free(mk);
    t_ok("%dx%d: masked softmax %.1e (masked keys exactly 0), softmax backward %.1e (fast vs naive)", N, C, e8, e9);
    t_ok("%dx%d: layernorm fwd %.1e, fused residual+dropout+layernorm %.1e, layernorm bwd %.1e, bias+GELU %.1e, "
         "GELU bwd %.1e, colsum %.1e (fast vs naive)",
         N, C, fmax(e1, e2), e3, e4, e5, e6, e7);
    free(x), free(w), free(b), free(dense), free(dout), free(o1), free(o2), free(m1), free(m2), free(r1), free(r2);
    free(i1), free(i2), free(dw1), free(dw2), free(db1), free(db2);
}

int main(void) {
    s_shape(37, 100);
    s_shape(19, 768);
    s_shape(5, 40);

    /* dropout: rate, scale, and the same mask whatever the thread count */
    const size_t n = 200000;
    float *a = malloc(n * 4), *b = malloc(n * 4);
    for (size_t i = 0; i < n; i++) a[i] = b[i] = 1.0f;
    bk_dropout d = bk_dropout_make(7, 1, 0.1f);
    omp_set_num_threads(1);
    bk_dropout_apply(a, n, 0, &d);
    omp_set_num_threads(2);
    bk_dropout_apply(b, n, 0, &d);
    size_t zeros = 0;
    for (size_t i = 0; i < n; i++) zeros += a[i] == 0.0f;
    CHECK(memcmp(a, b, n * 4) == 0, "mask independent of thread count");
    double rate = (double)zeros / n;
    CHECK(fabs(rate - 0.1) < 0.005, "drop rate %g", rate);
    for (size_t i = 0; i < n; i++) CHECK(a[i] == 0.0f || fabsf(a[i] - 1.0f / 0.9f) < 1e-6f, "kept scaled by 1/(1-p)");
    bk_dropout d2 = bk_dropout_make(7, 2, 0.1f);
    for (size_t i = 0; i < n; i++) b[i] = 1.0f;
    bk_dropout_apply(b, n, 0, &d2);
    CHECK(memcmp(a, b, n * 4) != 0, "another site, another mask");
    t_ok("dropout p=0.1: rate %.4f, kept x 1/(1-p), identical with 1 and 2 threads, differs across sites", rate);
    free(a), free(b);
    return 0;
}
