/*
 * bert_kernels.c - layer norm, GELU, dropout, softmax and column sums for the
 * encoder. Each fast kernel has a naive twin right below it (the definition);
 * the fast one is parallel over rows (or columns for reductions over rows)
 * with `omp simd` inner loops, so gcc vectorizes them without -ffast-math.
 */
#include "bert_kernels.h"

#include <float.h>
#include <math.h>
#include <string.h>

/* ---- dropout ------------------------------------------------------------ */

uint64_t bk_mix64(uint64_t x) {
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

bk_dropout bk_dropout_make(uint64_t forward_key, uint32_t site, float p) {
    bk_dropout d;
    uint64_t k = bk_mix64(forward_key ^ bk_mix64(site));
    d.k0 = (uint32_t)k;
    d.k1 = (uint32_t)(k >> 32);
    d.on = p > 0;
    d.thresh = (uint32_t)((double)p * 4294967296.0);
    d.scale = p > 0 ? 1.0f / (1.0f - p) : 1.0f;
    d.sample_keys = NULL;
    d.site_mix = bk_mix64(0x5173ull ^ ((uint64_t)site << 20));
    d.rps = d.inner = 1;
    d.row_stride = d.outer_stride = 0;
    return d;
}

void bk_dropout_by_sample(bk_dropout *d, const uint64_t *sample_keys, uint32_t rps, uint32_t inner,
                          uint32_t row_stride, uint32_t outer_stride) {
    d->sample_keys = sample_keys;
    d->rps = rps ? rps : 1;
    d->inner = inner ? inner : 1;
    d->row_stride = row_stride;
    d->outer_stride = outer_stride;
}

void bk_dropout_rows(float *y, const float *x, size_t r0, size_t nrows, size_t row_len, const bk_dropout *d) {
    if (!d->on) {
        if (y != x) memcpy(y, x, nrows * row_len * sizeof *y);
        return;
    }
    const uint32_t th = d->thresh;
    const float sc = d->scale;
#pragma omp parallel for schedule(static) if (nrows * row_len > 32768)
    for (size_t r = 0; r < nrows; r++) {
        uint32_t k0, k1, base;
        bk_dropout_row(d, r0 + r, row_len, &k0, &k1, &base);
        const float *xr = x + r * row_len;
        float *yr = y + r * row_len;
        for (size_t i = 0; i < row_len; i++) yr[i] = bk_hash(base + (uint32_t)i, k0, k1) >= th ? xr[i] * sc : 0.0f;
    }
}

void bk_dropout_apply(float *x, size_t n, size_t base, const bk_dropout *d) {
    if (!d->on) return;
    const uint32_t k0 = d->k0, k1 = d->k1, th = d->thresh;
    const float sc = d->scale;
#pragma omp parallel for schedule(static) if (n > 32768)
    for (size_t i = 0; i < n; i++) x[i] = bk_hash((uint32_t)(base + i), k0, k1) >= th ? x[i] * sc : 0.0f;
}

void bk_dropout_copy(float *y, const float *x, size_t n, size_t base, const bk_dropout *d) {
    const uint32_t k0 = d->k0, k1 = d->k1, th = d->thresh;
    const float sc = d->scale;
    if (!d->on) {
        memcpy(y, x, n * sizeof *y);
        return;
    }
#pragma omp parallel for schedule(static) if (n > 32768)
    for (size_t i = 0; i < n; i++) y[i] = bk_hash((uint32_t)(base + i), k0, k1) >= th ? x[i] * sc : 0.0f;
}

/* ---- layer norm --------------------------------------------------------- */

/* one row: two-pass mean/variance (biased, as torch), vectorized sums */
static inline void s_ln_row(float *out, float *mean, float *rstd, const float *x, const float *w, const float *b, int C,
                            float eps) {
    float s = 0.0f;
#pragma omp simd reduction(+ : s)
    for (int j = 0; j < C; j++) s += x[j];
    const float m = s / (float)C;
    float v = 0.0f;
#pragma omp simd reduction(+ : v)
    for (int j = 0; j < C; j++) v += (x[j] - m) * (x[j] - m);
    const float r = 1.0f / sqrtf(v / (float)C + eps);
#pragma omp simd
    for (int j = 0; j < C; j++) out[j] = (x[j] - m) * r * w[j] + b[j];
    *mean = m;
    *rstd = r;
}

void bk_layernorm_forward(float *out, float *mean, float *rstd, const float *inp, const float *w, const float *b, int N,
                          int C, float eps) {
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) s_ln_row(out + (size_t)n * C, mean + n, rstd + n, inp + (size_t)n * C, w, b, C, eps);
}

void bk_layernorm_forward_naive(float *out, float *mean, float *rstd, const float *inp, const float *w, const float *b,
                                int N, int C, float eps) {
    for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * C;
        double m = 0, v = 0;
        for (int j = 0; j < C; j++) m += x[j];
        m /= C;
        for (int j = 0; j < C; j++) v += (x[j] - m) * (x[j] - m);
        v /= C;
        double r = 1.0 / sqrt(v + eps);
        for (int j = 0; j < C; j++) out[(size_t)n * C + j] = (float)((x[j] - m) * r * w[j] + b[j]);
        mean[n] = (float)m;
        rstd[n] = (float)r;
    }
}

void bk_residual_layernorm_forward(float *ln_in, float *mean, float *rstd, float *out, const float *dense,
                                   const float *bias, const float *resid, const float *w, const float *b, int N, int C,
                                   float eps, const bk_dropout *d) {
    const uint32_t th = d->thresh;
    const float sc = d->scale;
    const int on = d->on;
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const size_t o = (size_t)n * C;
        float *x = ln_in + o;
        if (on) {
            uint32_t k0, k1, base;
            bk_dropout_row(d, (size_t)n, (size_t)C, &k0, &k1, &base);
#pragma omp simd
            for (int j = 0; j < C; j++) {
                float y = dense[o + j] + bias[j];
                x[j] = resid[o + j] + (bk_hash(base + (uint32_t)j, k0, k1) >= th ? y * sc : 0.0f);
            }
        } else {
#pragma omp simd
            for (int j = 0; j < C; j++) x[j] = resid[o + j] + (dense[o + j] + bias[j]);
        }
        s_ln_row(out + o, mean + n, rstd + n, x, w, b, C, eps);
    }
}

void bk_residual_layernorm_forward_naive(float *ln_in, float *mean, float *rstd, float *out, const float *dense,
                                         const float *bias, const float *resid, const float *w, const float *b, int N,
                                         int C, float eps, const bk_dropout *d) {
    for (size_t i = 0; i < (size_t)N * C; i++) {
        float y = dense[i] + bias[i % (size_t)C];
        uint32_t k0, k1, base;
        bk_dropout_row(d, i / (size_t)C, (size_t)C, &k0, &k1, &base);
        int keep = !d->on || bk_hash(base + (uint32_t)(i % (size_t)C), k0, k1) >= d->thresh;
        ln_in[i] = resid[i] + (keep ? y * d->scale : 0.0f);
    }
    bk_layernorm_forward_naive(out, mean, rstd, ln_in, w, b, N, C, eps);
}

void bk_layernorm_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp, const float *w,
                           const float *mean, const float *rstd, int N, int C, int accumulate) {
#pragma omp parallel
    {
        /* rows: dinp = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)) */
#pragma omp for schedule(static)
        for (int n = 0; n < N; n++) {
            const size_t o = (size_t)n * C;
            const float m = mean[n], r = rstd[n];
            float s1 = 0.0f, s2 = 0.0f;
#pragma omp simd reduction(+ : s1, s2)
            for (int j = 0; j < C; j++) {
                float xh = (inp[o + j] - m) * r, dxh = dout[o + j] * w[j];
                s1 += dxh;
                s2 += dxh * xh;
            }
            s1 /= (float)C;
            s2 /= (float)C;
            float *di = dinp + o;
            if (accumulate) {
#pragma omp simd
                for (int j = 0; j < C; j++) {
                    float xh = (inp[o + j] - m) * r;
                    di[j] += r * (dout[o + j] * w[j] - s1 - xh * s2);
                }
            } else {
#pragma omp simd
                for (int j = 0; j < C; j++) {
                    float xh = (inp[o + j] - m) * r;
                    di[j] = r * (dout[o + j] * w[j] - s1 - xh * s2);
                }
            }
        }
        /* columns: dw += sum_n dout * xhat, db += sum_n dout, rows in order */
#pragma omp for schedule(static)
        for (int cb = 0; cb < C; cb += 64) {
            const int ce = cb + 64 < C ? cb + 64 : C;
            float aw[64], ab[64];
            for (int j = cb; j < ce; j++) aw[j - cb] = ab[j - cb] = 0.0f;
            for (int n = 0; n < N; n++) {
                const size_t o = (size_t)n * C;
                const float m = mean[n], r = rstd[n];
#pragma omp simd
                for (int j = cb; j < ce; j++) {
                    aw[j - cb] += dout[o + j] * ((inp[o + j] - m) * r);
                    ab[j - cb] += dout[o + j];
                }
            }
            for (int j = cb; j < ce; j++) {
                dw[j] += aw[j - cb];
                db[j] += ab[j - cb];
            }
        }
    }
}

void bk_layernorm_backward_naive(float *dinp, float *dw, float *db, const float *dout, const float *inp, const float *w,
                                 const float *mean, const float *rstd, int N, int C, int accumulate) {
    for (int n = 0; n < N; n++) {
        const size_t o = (size_t)n * C;
        double s1 = 0, s2 = 0;
        for (int j = 0; j < C; j++) {
            double xh = ((double)inp[o + j] - mean[n]) * rstd[n];
            s1 += (double)dout[o + j] * w[j];
            s2 += (double)dout[o + j] * w[j] * xh;
            dw[j] += (float)(dout[o + j] * xh);
            db[j] += dout[o + j];
        }
        for (int j = 0; j < C; j++) {
            double xh = ((double)inp[o + j] - mean[n]) * rstd[n];
            float v = (float)(rstd[n] * ((double)dout[o + j] * w[j] - s1 / C - xh * s2 / C));
            dinp[o + j] = accumulate ? dinp[o + j] + v : v;
        }
    }
}

/* ---- GELU --------------------------------------------------------------- */

/* expf that vectorizes (no libm call): 2^n * p(r), x = n ln2 + r, |r| <= ln2/2,
 * degree-6 polynomial (Cephes' expf coefficients), max rel err ~1.5e-7 over
 * the float range; inputs below -87 give exactly 0 (denormals are not worth it). */
static inline float s_expf(float x0) {
    const float x = x0 < -87.0f ? -87.0f : (x0 > 88.0f ? 88.0f : x0);
    /* round to nearest by the 1.5 * 2^23 trick (floorf blocks vectorization) */
    const float fn = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
    float r = x - fn * 0.693359375f;
    r = r + fn * 2.12194440e-4f;
    const float r2 = r * r;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r2 + r + 1.0f;
    const uint32_t bits = (uint32_t)((int32_t)fn + 127) << 23;
    float sc;
    memcpy(&sc, &bits, sizeof sc); /* 2^n; memcpy keeps the loop vectorizable */
    return x0 < -87.0f ? 0.0f : p * sc; /* masked attention keys get exactly 0 */
}

/* GELU(x) = 0.5 x (1 + erf(x / sqrt 2)) with erf from Abramowitz & Stegun
 * 7.1.26 (|error| <= 1.5e-7, the formula PyTorch's own vectorized erf uses):
 * erf(z) = 1 - t (a1 + t (a2 + ... )) exp(-z^2), t = 1 / (1 + p |z|).
 * exp(-z^2) = exp(-x^2 / 2) is also the Gaussian density the derivative
 * needs, so forward and backward share one exponential. */
/* erf(z) for z = x / sqrt 2; *e gets exp(-z^2) (a return pair, not
 * pointers, so the callers' loops stay vectorizable) */
typedef struct {
    float erf, e;
} s_erf_t;
static inline s_erf_t s_gelu_erf(float x) {
    const float z = x * 0.70710678118654752f, az = fabsf(z);
    const float t = 1.0f / (1.0f + 0.3275911f * az);
    float poly = 1.061405429f;
    poly = poly * t - 1.453152027f;
    poly = poly * t + 1.421413741f;
    poly = poly * t - 0.284496736f;
    poly = poly * t + 0.254829592f;
    const float e = s_expf(-z * z);
    const float y = 1.0f - poly * t * e;
    s_erf_t r = {z < 0 ? -y : y, e};
    return r;
}
static inline float s_gelu(float x) {
    return 0.5f * x * (1.0f + s_gelu_erf(x).erf);
}
/* d/dx: Phi(x) + x phi(x) */
static inline float s_gelu_grad(float x) {
    const s_erf_t r = s_gelu_erf(x);
    return 0.5f * (1.0f + r.erf) + x * 0.39894228040143268f * r.e;
}

void bk_bias_gelu_forward(float *act, float *pre, const float *bias, int N, int C) {
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        float *p = pre + (size_t)n * C, *a = act + (size_t)n * C;
#pragma omp simd
        for (int j = 0; j < C; j++) {
            p[j] += bias[j];
            a[j] = s_gelu(p[j]);
        }
    }
}

void bk_bias_gelu_forward_naive(float *act, float *pre, const float *bias, int N, int C) {
    for (size_t i = 0; i < (size_t)N * C; i++) {
        pre[i] += bias[i % (size_t)C];
        double x = pre[i];
        act[i] = (float)(0.5 * x * (1.0 + erf(x / sqrt(2.0))));
    }
}

void bk_gelu(float *act, const float *pre, size_t n) {
#pragma omp parallel for simd schedule(static)
    for (size_t i = 0; i < n; i++) act[i] = s_gelu(pre[i]);
}

void bk_gelu_backward(float *g, const float *pre, size_t n) {
#pragma omp parallel for simd schedule(static)
    for (size_t i = 0; i < n; i++) g[i] *= s_gelu_grad(pre[i]);
}

void bk_gelu_backward_naive(float *g, const float *pre, size_t n) {
    for (size_t i = 0; i < n; i++) {
        double x = pre[i];
        double d = 0.5 * (1.0 + erf(x / sqrt(2.0))) + x * exp(-0.5 * x * x) / sqrt(2.0 * M_PI);
        g[i] = (float)(g[i] * d);
    }
}

/* ---- reductions --------------------------------------------------------- */

void bk_colsum_add(float *db, const float *g, int N, int C) {
#pragma omp parallel for schedule(static)
    for (int cb = 0; cb < C; cb += 64) {
        const int ce = cb + 64 < C ? cb + 64 : C;
        float acc[64];
        for (int j = cb; j < ce; j++) acc[j - cb] = 0.0f;
        for (int n = 0; n < N; n++) {
            const float *row = g + (size_t)n * C;
#pragma omp simd
            for (int j = cb; j < ce; j++) acc[j - cb] += row[j];
        }
        for (int j = cb; j < ce; j++) db[j] += acc[j - cb];
    }
}

void bk_colsum_add_naive(float *db, const float *g, int N, int C) {
    for (int j = 0; j < C; j++) {
        double s = 0;
        for (int n = 0; n < N; n++) s += g[(size_t)n * C + j];
        db[j] += (float)s;
    }
}

/* ---- attention softmax -------------------------------------------------- */

void bk_masked_softmax_rows(float *s, const uint8_t *mask, int R, int T) {
    for (int i = 0; i < R; i++) {
        float *row = s + (size_t)i * T;
        float mx = -FLT_MAX;
#pragma omp simd reduction(max : mx)
        for (int j = 0; j < T; j++) {
            row[j] = mask[j] ? row[j] : -FLT_MAX; /* score + finfo.min == finfo.min in float32 */
            mx = row[j] > mx ? row[j] : mx;
        }
        float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
        for (int j = 0; j < T; j++) {
            row[j] = s_expf(row[j] - mx);
            sum += row[j];
        }
        const float inv = 1.0f / sum;
#pragma omp simd
        for (int j = 0; j < T; j++) row[j] *= inv;
    }
}

void bk_softmax_backward_rows(float *dp, const float *p, int R, int T) {
    for (int i = 0; i < R; i++) {
        float *d = dp + (size_t)i * T;
        const float *pr = p + (size_t)i * T;
        float dot = 0.0f;
#pragma omp simd reduction(+ : dot)
        for (int j = 0; j < T; j++) dot += pr[j] * d[j];
#pragma omp simd
        for (int j = 0; j < T; j++) d[j] = pr[j] * (d[j] - dot);
    }
}

void bk_masked_softmax_rows_naive(float *s, const uint8_t *mask, int R, int T) {
    for (int i = 0; i < R; i++) {
        float *row = s + (size_t)i * T;
        double mx = -DBL_MAX, sum = 0;
        for (int j = 0; j < T; j++) mx = fmax(mx, mask[j] ? row[j] : -FLT_MAX);
        for (int j = 0; j < T; j++) sum += exp((mask[j] ? row[j] : -FLT_MAX) - mx);
        for (int j = 0; j < T; j++) row[j] = (float)(exp((mask[j] ? row[j] : -FLT_MAX) - mx) / sum);
    }
}

void bk_softmax_backward_rows_naive(float *dp, const float *p, int R, int T) {
    for (int i = 0; i < R; i++) {
        float *d = dp + (size_t)i * T;
        const float *pr = p + (size_t)i * T;
        double dot = 0;
        for (int j = 0; j < T; j++) dot += (double)pr[j] * d[j];
        for (int j = 0; j < T; j++) d[j] = (float)(pr[j] * (d[j] - dot));
    }
}
