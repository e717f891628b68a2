/*
 * lstm.c - the LSTM head: Keras' Masking -> LSTM -> Dense(relu) -> Dense ->
 * softmax, forward and backward (BPTT) over packed variable-length
 * sequences, Keras initialisers, and a training epoch. Contract in lstm.h.
 *
 * Shapes: n documents, T = longest, N = total chunks (sum of lengths),
 * D input dim, U units, H dense units, C classes. Rows are packed time-major
 * over the documents sorted by decreasing length: step t holds the first
 * bs[t] sorted documents, rows off[t] .. off[t] + bs[t] - 1.
 */
#include "lstm.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

#include "safetensors.h"

/* Per-batch activations, grown as needed and reused across batches. */
struct lstm_work {
    int n, T;
    size_t N;
    size_t cap_n, cap_T, cap_N;
    int *order;     /* [n] sorted position -> batch index */
    int *labels;    /* [n] sorted order, -1 if none */
    int *bs;        /* [T] documents running at step t */
    size_t *off;    /* [T+1] first packed row of step t */
    float *X;       /* [N, D] packed inputs */
    float *G;       /* [N, 4U] gate activations i, f, c~, o */
    float *Hp;      /* [N, U] h_{t-1} of each row */
    float *Cp;      /* [N, U] c_{t-1} */
    float *Tc;      /* [N, U] tanh(c_t) */
    float *h, *c;   /* [n, U] running state; after the loop: the last valid step's */
    float *A1;      /* [n, H] relu(h W1 + b1) */
    float *P;       /* [n, C] softmax, sorted order */
    float *dG;      /* [N, 4U] */
    float *dh, *dc; /* [n, U] */
    float *dA1;     /* [n, H] */
    float *dZ;      /* [n, C] */
    int has_labels;
};

/* Elementwise work per OpenMP region below this runs serially: waking
 * passive-waiting threads costs more than a small step's gate math. */
#define LSTM_OMP_MIN 32768

/* ------------------------------------------------------------------------ */
/* Random numbers for the initialisers (xoshiro256**, seeded by splitmix64). */

typedef struct {
    uint64_t s[4];
} s_rng;

static uint64_t s_splitmix(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void s_rng_seed(s_rng *r, uint64_t seed) {
    for (int i = 0; i < 4; i++) r->s[i] = s_splitmix(&seed);
}

static uint64_t s_rotl(uint64_t x, int k) {
    return (x << k) | (x >> (64 - k));
}

static uint64_t s_next(s_rng *r) {
    uint64_t *s = r->s, out = s_rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = s_rotl(s[3], 45);
    return out;
}

static double s_uniform(s_rng *r) {
    return (double)(s_next(r) >> 11) * 0x1.0p-53;
} /* [0, 1) */

static double s_normal(s_rng *r) {
    double u1 = 1.0 - s_uniform(r), u2 = s_uniform(r);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

/* ------------------------------------------------------------------------ */
/* Keras initialisers */

static void s_glorot_uniform(s_rng *r, float *w, int fan_in, int fan_out) {
    double limit = sqrt(6.0 / (fan_in + fan_out));
    for (size_t i = 0; i < (size_t)fan_in * fan_out; i++) w[i] = (float)((2.0 * s_uniform(r) - 1.0) * limit);
}

/* Keras Orthogonal for a [rows, cols] kernel with rows <= cols (the
 * recurrent kernel is [U, 4U]): QR of a Gaussian [cols, rows] matrix, Q's
 * columns sign-corrected by diag(R) (Gram-Schmidt yields R's diagonal
 * positive, which is exactly that correction), transposed to [rows, cols]. */
static void s_orthogonal(s_rng *r, float *w, int rows, int cols) {
    double *a = hb_malloc(sizeof(double) * (size_t)rows * cols); /* a[j][i]: column j of the [cols, rows] matrix */
    for (size_t i = 0; i < (size_t)rows * cols; i++) a[i] = s_normal(r);
    for (int j = 0; j < rows; j++) {
        double *q = a + (size_t)j * cols;
        for (int pass = 0; pass < 2; pass++) /* twice is enough (Kahan-Parlett) */
            for (int k = 0; k < j; k++) {
                const double *p = a + (size_t)k * cols;
                double dot = 0;
                for (int i = 0; i < cols; i++) dot += p[i] * q[i];
                for (int i = 0; i < cols; i++) q[i] -= dot * p[i];
            }
        double nrm = 0;
        for (int i = 0; i < cols; i++) nrm += q[i] * q[i];
        nrm = sqrt(nrm);
        for (int i = 0; i < cols; i++) q[i] /= nrm;
    }
    for (int j = 0; j < rows; j++)
        for (int i = 0; i < cols; i++) w[(size_t)j * cols + i] = (float)a[(size_t)j * cols + i];
    free(a);
}

void lstm_init_keras(lstm_model *m, uint64_t seed) {
    const lstm_config *c = &m->cfg;
    const int D = c->input_dim, U = c->units, H = c->dense_units, C = c->n_classes;
    params_table *t = &m->params;
    s_rng r;
    s_rng_seed(&r, seed);
    memset(t->data, 0, t->numel * sizeof(float));
    s_glorot_uniform(&r, params_at(t, t->data, LSTM_P_KERNEL), D, 4 * U);
    s_orthogonal(&r, params_at(t, t->data, LSTM_P_RECURRENT), U, 4 * U);
    float *b = params_at(t, t->data, LSTM_P_BIAS);
    for (int u = 0; u < U; u++) b[U + u] = 1.0f; /* unit_forget_bias */
    s_glorot_uniform(&r, params_at(t, t->data, LSTM_P_DENSE_W), U, H);
    s_glorot_uniform(&r, params_at(t, t->data, LSTM_P_OUT_W), H, C);
}

optim_config lstm_default_optim(void) {
    optim_config c = optim_default_config();
    c.lr = 1e-3f;
    c.eps = 1e-7f;
    c.weight_decay = 0.0f;
    return c;
}

/* ------------------------------------------------------------------------ */
/* Life cycle */

int lstm_new(lstm_model **out, const lstm_config *cfg, uint64_t seed, char *err) {
    *out = NULL;
    if (cfg->input_dim < 1 || cfg->units < 1 || cfg->dense_units < 1 || cfg->n_classes < 2)
        return hb_fail(err,
                       "lstm: bad config input_dim %d units %d dense_units %d n_classes %d (need >= 1, classes >= 2)",
                       cfg->input_dim, cfg->units, cfg->dense_units, cfg->n_classes);
    lstm_model *m = hb_calloc(1, sizeof *m);
    m->cfg = *cfg;
    const int64_t D = cfg->input_dim, U = cfg->units, H = cfg->dense_units, C = cfg->n_classes;
    params_init(&m->params);
    int64_t s_k[2] = {D, 4 * U}, s_r[2] = {U, 4 * U}, s_b[1] = {4 * U}, s_dw[2] = {U, H}, s_db[1] = {H},
            s_ow[2] = {H, C}, s_ob[1] = {C};
    params_add(&m->params, "lstm.kernel", 2, s_k, 1);
    params_add(&m->params, "lstm.recurrent_kernel", 2, s_r, 1);
    params_add(&m->params, "lstm.bias", 1, s_b, 0);
    params_add(&m->params, "dense.kernel", 2, s_dw, 1);
    params_add(&m->params, "dense.bias", 1, s_db, 0);
    params_add(&m->params, "out.kernel", 2, s_ow, 1);
    params_add(&m->params, "out.bias", 1, s_ob, 0);
    params_alloc(&m->params);
    m->grad = params_new_buffer(&m->params);
    m->work = hb_calloc(1, sizeof *m->work);
    lstm_init_keras(m, seed);
    *out = m;
    return 0;
}

static void s_work_free(lstm_work *w) {
    free(w->order);
    free(w->labels);
    free(w->bs);
    free(w->off);
    free(w->X);
    free(w->G);
    free(w->Hp);
    free(w->Cp);
    free(w->Tc);
    free(w->h);
    free(w->c);
    free(w->A1);
    free(w->P);
    free(w->dG);
    free(w->dh);
    free(w->dc);
    free(w->dA1);
    free(w->dZ);
    free(w);
}

void lstm_destroy(lstm_model **mp) {
    if (!mp || !*mp) return;
    lstm_model *m = *mp;
    params_free_buffer(m->grad);
    params_free(&m->params);
    s_work_free(m->work);
    free(m);
    *mp = NULL;
}

/* 64-byte aligned float array, contents not kept. */
static float *s_falloc(float *old, size_t n) {
    free(old);
    float *p = aligned_alloc(64, ((n ? n : 1) * sizeof(float) + 63) / 64 * 64);
    if (!p) {
        fprintf(stderr, "hierbert: out of memory allocating %zu floats at %s:%d\n", n, __FILE__, __LINE__);
        abort();
    }
    return p;
}

static void s_work_reserve(lstm_work *w, const lstm_config *c, int n, int T, size_t N) {
    const size_t D = c->input_dim, U = c->units, H = c->dense_units, C = c->n_classes;
    if ((size_t)n > w->cap_n) {
        size_t k = (size_t)n;
        w->order = hb_realloc(w->order, k * sizeof(int));
        w->labels = hb_realloc(w->labels, k * sizeof(int));
        w->h = s_falloc(w->h, k * U);
        w->c = s_falloc(w->c, k * U);
        w->A1 = s_falloc(w->A1, k * H);
        w->P = s_falloc(w->P, k * C);
        w->dh = s_falloc(w->dh, k * U);
        w->dc = s_falloc(w->dc, k * U);
        w->dA1 = s_falloc(w->dA1, k * H);
        w->dZ = s_falloc(w->dZ, k * C);
        w->cap_n = k;
    }
    if ((size_t)T > w->cap_T) {
        w->bs = hb_realloc(w->bs, (size_t)T * sizeof(int));
        w->off = hb_realloc(w->off, ((size_t)T + 1) * sizeof(size_t));
        w->cap_T = (size_t)T;
    }
    if (N > w->cap_N) {
        w->X = s_falloc(w->X, N * D);
        w->G = s_falloc(w->G, N * 4 * U);
        w->Hp = s_falloc(w->Hp, N * U);
        w->Cp = s_falloc(w->Cp, N * U);
        w->Tc = s_falloc(w->Tc, N * U);
        w->dG = s_falloc(w->dG, N * 4 * U);
        w->cap_N = N;
    }
}

/* ------------------------------------------------------------------------ */
/* Forward */

/* expf as straight-line arithmetic (Cephes' polynomial: about 1 ulp on
 * [-87, 88]), so the gate loops below vectorize under `omp simd`: glibc's
 * expf and tanhf are calls, and were a fifth of a training step. Inputs
 * are clamped, so saturated gates give exact 0/1 and never inf; a NaN stays
 * a NaN, so diverged weights surface in the loss (lstm_train_epoch checks). */
static inline float s_exp(float x) {
    x = x < -87.0f ? -87.0f : x; /* two plain selects (blends once vectorized); */
    x = x > 88.0f ? 88.0f : x;   /* both keep a NaN a NaN */
    /* n = round(x / ln2) by the 1.5 * 2^23 trick (floorf would be a call) */
    const float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
    const float r = (x - n * 0.693359375f) + n * 2.12194440e-4f; /* x - n ln2, ln2 in two parts */
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    const float ne = n == n ? n : 0.0f;                        /* a NaN stays in p; keep the int conversion defined */
    const uint32_t bits = (uint32_t)((int32_t)ne + 127) << 23; /* 2^n, n in [-126, 127] */
    float scale;
    memcpy(&scale, &bits, 4); /* a register move once vectorized */
    return p * scale;
}
static inline float s_sigmoid(float x) {
    return 1.0f / (1.0f + s_exp(-x));
}
/* tanh(x) = 2 sigmoid(2x) - 1: exact to ~1e-7 absolute (relative accuracy
 * is lost only near 0, where it does not matter to the state). */
static inline float s_tanh(float x) {
    return 2.0f / (1.0f + s_exp(-2.0f * x)) - 1.0f;
}

/* One document's step: gate pre-activations g [4U] -> activations (in
 * place), new cell c [U], tanh(c) [U], new h [U], from the previous cell cp. */
static void s_gates_row(float *restrict g, const float *restrict cp, float *restrict c, float *restrict tc,
                        float *restrict h, int U) {
#pragma omp simd
    for (int u = 0; u < U; u++) {
        float ig = s_sigmoid(g[u]), fg = s_sigmoid(g[U + u]), cg = s_tanh(g[2 * U + u]), og = s_sigmoid(g[3 * U + u]);
        float cn = fg * cp[u] + ig * cg, th = s_tanh(cn);
        g[u] = ig;
        g[U + u] = fg;
        g[2 * U + u] = cg;
        g[3 * U + u] = og;
        c[u] = cn;
        tc[u] = th;
        h[u] = og * th;
    }
}

/* Sorts documents by decreasing length (stable: ties keep batch order) and
 * packs their chunk vectors time-major into w->X. */
static int s_pack(lstm_model *m, const lstm_batch *b, char *err) {
    lstm_work *w = m->work;
    const lstm_config *c = &m->cfg;
    const int n = b->n_docs;
    if (n < 1) return hb_fail(err, "lstm: empty batch");
    int T = 0;
    size_t N = 0;
    for (int k = 0; k < n; k++) {
        if (b->lens[k] < 1) return hb_fail(err, "lstm: batch document %d has %d chunks (need >= 1)", k, b->lens[k]);
        if (b->labels && (b->labels[k] < 0 || b->labels[k] >= c->n_classes))
            return hb_fail(err, "lstm: batch document %d has label %d, outside 0..%d", k, b->labels[k],
                           c->n_classes - 1);
        if (b->lens[k] > T) T = b->lens[k];
        N += (size_t)b->lens[k];
    }
    s_work_reserve(w, c, n, T, N);
    w->n = n;
    w->T = T;
    w->N = N;
    /* counting sort by length, descending, stable */
    int *order = w->order, pos = 0;
    for (int len = T; len >= 1; len--)
        for (int k = 0; k < n; k++)
            if (b->lens[k] == len) order[pos++] = k;
    w->off[0] = 0;
    for (int t = 0; t < T; t++) {
        int cnt = 0;
        while (cnt < n && b->lens[order[cnt]] > t) cnt++;
        w->bs[t] = cnt;
        w->off[t + 1] = w->off[t] + (size_t)cnt;
    }
    const size_t D = (size_t)c->input_dim;
    int bad_doc = -1;
    for (int t = 0; t < T; t++)
        for (int k = 0; k < w->bs[t]; k++) {
            const float *src = b->x[order[k]] + (size_t)t * D;
            float *dst = w->X + (w->off[t] + (size_t)k) * D;
            uint32_t nonfinite = 0;
#pragma omp simd reduction(| : nonfinite)
            for (size_t j = 0; j < D; j++) {
                float v = src[j];
                uint32_t bits;
                memcpy(&bits, &v, 4);
                nonfinite |= (bits & 0x7f800000u) == 0x7f800000u; /* exponent all ones: Inf or NaN */
                dst[j] = v;
            }
            if (nonfinite && bad_doc < 0) bad_doc = order[k];
        }
    if (bad_doc >= 0) return hb_fail(err, "lstm: batch document %d has a NaN or Inf in its chunk vectors", bad_doc);
    w->has_labels = b->labels != NULL;
    for (int k = 0; k < n; k++) w->labels[k] = b->labels ? b->labels[order[k]] : -1;
    return 0;
}

static void s_forward(lstm_model *m) {
    lstm_work *w = m->work;
    const lstm_config *c = &m->cfg;
    const int D = c->input_dim, U = c->units, H = c->dense_units, C = c->n_classes, G4 = 4 * U;
    params_table *pt = &m->params;
    const float *Wk = params_at(pt, pt->data, LSTM_P_KERNEL), *Wr = params_at(pt, pt->data, LSTM_P_RECURRENT),
                *bias = params_at(pt, pt->data, LSTM_P_BIAS), *W1 = params_at(pt, pt->data, LSTM_P_DENSE_W),
                *b1 = params_at(pt, pt->data, LSTM_P_DENSE_B), *W2 = params_at(pt, pt->data, LSTM_P_OUT_W),
                *b2 = params_at(pt, pt->data, LSTM_P_OUT_B);
    const size_t N = w->N;
    const int n = w->n;

    /* Input projection for every chunk at once: G = X Wk + bias, [N, 4U]. */
    for (size_t r = 0; r < N; r++) memcpy(w->G + r * G4, bias, sizeof(float) * G4);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)N, G4, D, 1.0f, w->X, D, Wk, G4, 1.0f, w->G, G4);

    memset(w->h, 0, sizeof(float) * (size_t)n * U);
    memset(w->c, 0, sizeof(float) * (size_t)n * U);
    for (int t = 0; t < w->T; t++) {
        const int nt = w->bs[t];
        const size_t r0 = w->off[t];
        float *G = w->G + r0 * G4, *Hp = w->Hp + r0 * U, *Cp = w->Cp + r0 * U, *Tc = w->Tc + r0 * U;
        memcpy(Hp, w->h, sizeof(float) * (size_t)nt * U);
        memcpy(Cp, w->c, sizeof(float) * (size_t)nt * U);
        /* h_{-1} = 0: nothing to add at the first step. Documents k >= nt
         * have ended: their h, c rows are left as they are (Keras' Masking
         * carries the state over). */
        if (t > 0) cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, nt, G4, U, 1.0f, Hp, U, Wr, G4, 1.0f, G, G4);
#pragma omp parallel for schedule(static) if ((size_t)nt * U * 8 >= LSTM_OMP_MIN)
        for (int k = 0; k < nt; k++) {
            float *g = G + (size_t)k * G4, *h = w->h + (size_t)k * U, *cc = w->c + (size_t)k * U;
            const float *cp = Cp + (size_t)k * U;
            float *tc = Tc + (size_t)k * U;
            s_gates_row(g, cp, cc, tc, h, U);
        }
    }

    /* Dense(H, relu) then Dense(C) and softmax over the last valid states. */
    for (int k = 0; k < n; k++) memcpy(w->A1 + (size_t)k * H, b1, sizeof(float) * H);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, H, U, 1.0f, w->h, U, W1, H, 1.0f, w->A1, H);
    for (size_t i = 0; i < (size_t)n * H; i++) w->A1[i] = w->A1[i] < 0.0f ? 0.0f : w->A1[i]; /* NaN stays NaN */
    for (int k = 0; k < n; k++) memcpy(w->P + (size_t)k * C, b2, sizeof(float) * C);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, C, H, 1.0f, w->A1, H, W2, C, 1.0f, w->P, C);
    for (int k = 0; k < n; k++) {
        float *p = w->P + (size_t)k * C, mx = p[0];
        for (int j = 1; j < C; j++) mx = p[j] > mx ? p[j] : mx;
        double s = 0;
        for (int j = 0; j < C; j++) s += (p[j] = expf(p[j] - mx));
        for (int j = 0; j < C; j++) p[j] = (float)(p[j] / s);
    }
}

/* Writes the probabilities back in batch order and computes the loss. */
static void s_outputs(const lstm_model *m, float *loss, float *probs) {
    const lstm_work *w = m->work;
    const int C = m->cfg.n_classes;
    if (probs)
        for (int k = 0; k < w->n; k++) memcpy(probs + (size_t)w->order[k] * C, w->P + (size_t)k * C, sizeof(float) * C);
    if (loss) {
        double l = 0;
        for (int k = 0; k < w->n; k++) {
            /* log of the softmax probability, floored so a confident mistake is finite */
            double p = w->P[(size_t)k * C + w->labels[k]];
            l -= log(p < 1e-30 ? 1e-30 : p); /* NaN stays NaN */
        }
        *loss = (float)(l / w->n);
    }
}

int lstm_forward(lstm_model *m, const lstm_batch *b, float *loss, float *probs, char *err) {
    if (loss && !b->labels) return hb_fail(err, "lstm: forward asked for a loss without labels");
    if (s_pack(m, b, err) != 0) return -1;
    s_forward(m);
    s_outputs(m, loss, probs);
    return 0;
}

int lstm_predict(lstm_model *m, const lstm_batch *b, float *probs, char *err) {
    lstm_batch nb = *b;
    nb.labels = NULL;
    if (s_pack(m, &nb, err) != 0) return -1;
    s_forward(m);
    s_outputs(m, NULL, probs);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Backward */

int lstm_backward(lstm_model *m, char *err) {
    lstm_work *w = m->work;
    if (!w->n || !w->has_labels) return hb_fail(err, "lstm: backward needs a forward pass with labels first");
    const lstm_config *c = &m->cfg;
    const int D = c->input_dim, U = c->units, H = c->dense_units, C = c->n_classes, G4 = 4 * U, n = w->n;
    const size_t N = w->N;
    params_table *pt = &m->params;
    const float *Wr = params_at(pt, pt->data, LSTM_P_RECURRENT), *W1 = params_at(pt, pt->data, LSTM_P_DENSE_W),
                *W2 = params_at(pt, pt->data, LSTM_P_OUT_W);
    float *gK = params_at(pt, m->grad, LSTM_P_KERNEL), *gR = params_at(pt, m->grad, LSTM_P_RECURRENT),
          *gb = params_at(pt, m->grad, LSTM_P_BIAS), *gW1 = params_at(pt, m->grad, LSTM_P_DENSE_W),
          *gb1 = params_at(pt, m->grad, LSTM_P_DENSE_B), *gW2 = params_at(pt, m->grad, LSTM_P_OUT_W),
          *gb2 = params_at(pt, m->grad, LSTM_P_OUT_B);

    /* dlogits = (softmax - onehot) / n  [n, C] */
    const float inv_n = 1.0f / (float)n;
    for (int k = 0; k < n; k++)
        for (int j = 0; j < C; j++)
            w->dZ[(size_t)k * C + j] = (w->P[(size_t)k * C + j] - (j == w->labels[k] ? 1.0f : 0.0f)) * inv_n;
    /* out: gW2 = A1^T dZ [H, C], gb2 = sum_k dZ, dA1 = dZ W2^T [n, H] */
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, H, C, n, 1.0f, w->A1, H, w->dZ, C, 0.0f, gW2, C);
    for (int j = 0; j < C; j++) {
        float s = 0;
        for (int k = 0; k < n; k++) s += w->dZ[(size_t)k * C + j];
        gb2[j] = s;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, H, C, 1.0f, w->dZ, C, W2, C, 0.0f, w->dA1, H);
    for (size_t i = 0; i < (size_t)n * H; i++)
        if (w->A1[i] <= 0.0f) w->dA1[i] = 0.0f; /* relu' (A1 is post-relu: 0 exactly where inactive) */
    /* dense: gW1 = h^T dA1 [U, H], gb1, dh = dA1 W1^T [n, U] */
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, U, H, n, 1.0f, w->h, U, w->dA1, H, 0.0f, gW1, H);
    for (int j = 0; j < H; j++) {
        float s = 0;
        for (int k = 0; k < n; k++) s += w->dA1[(size_t)k * H + j];
        gb1[j] = s;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, U, H, 1.0f, w->dA1, H, W1, H, 0.0f, w->dh, U);
    memset(w->dc, 0, sizeof(float) * (size_t)n * U);

    /* Through time, last step first. A document that has ended by step t is
     * not in it: its dh, dc rows pass through untouched (the carried state). */
    for (int t = w->T - 1; t >= 0; t--) {
        const int nt = w->bs[t];
        const size_t r0 = w->off[t];
        const float *G = w->G + r0 * G4, *Cp = w->Cp + r0 * U, *Tc = w->Tc + r0 * U;
        float *dG = w->dG + r0 * G4;
#pragma omp parallel for schedule(static) if ((size_t)nt * U * 8 >= LSTM_OMP_MIN)
        for (int k = 0; k < nt; k++) {
            const float *g = G + (size_t)k * G4, *cp = Cp + (size_t)k * U, *tc = Tc + (size_t)k * U;
            float *dg = dG + (size_t)k * G4, *dh = w->dh + (size_t)k * U, *dc = w->dc + (size_t)k * U;
#pragma omp simd
            for (int u = 0; u < U; u++) {
                float ig = g[u], fg = g[U + u], cg = g[2 * U + u], og = g[3 * U + u], th = tc[u];
                float dct = dc[u] + dh[u] * og * (1.0f - th * th);
                dg[u] = dct * cg * ig * (1.0f - ig);
                dg[U + u] = dct * cp[u] * fg * (1.0f - fg);
                dg[2 * U + u] = dct * ig * (1.0f - cg * cg);
                dg[3 * U + u] = dh[u] * th * og * (1.0f - og);
                dc[u] = dct * fg;
            }
        }
        /* dh_{t-1} = dG_t Wr^T for the running documents */
        if (t > 0)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nt, U, G4, 1.0f, dG, G4, Wr, G4, 0.0f, w->dh, U);
    }
    /* Kernel gradients over all rows at once: gK = X^T dG [D, 4U],
     * gR = Hp^T dG [U, 4U] (rows of step 0 have Hp = 0), gb = sum dG. */
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, D, G4, (int)N, 1.0f, w->X, D, w->dG, G4, 0.0f, gK, G4);
    const size_t r1 = w->off[1]; /* T >= 1 */
    if (N > r1)
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, U, G4, (int)(N - r1), 1.0f, w->Hp + r1 * U, U,
                    w->dG + r1 * G4, G4, 0.0f, gR, G4);
    else
        memset(gR, 0, sizeof(float) * (size_t)U * G4);
    for (int j = 0; j < G4; j++) gb[j] = 0.0f;
    for (size_t r = 0; r < N; r++) {
        const float *dg = w->dG + r * G4;
        for (int j = 0; j < G4; j++) gb[j] += dg[j];
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Training */

int lstm_train_epoch(lstm_model *m, adamw_state *opt, const lstm_batch *batches, int n_batches, double *mean_loss,
                     long *correct, char *err) {
    double loss_sum = 0;
    long docs = 0, right = 0;
    const int C = m->cfg.n_classes;
    for (int i = 0; i < n_batches; i++) {
        const lstm_batch *b = &batches[i];
        if (!b->labels) return hb_fail(err, "lstm: training batch %d has no labels", i);
        float loss;
        if (s_pack(m, b, err) != 0) return -1;
        s_forward(m);
        s_outputs(m, &loss, NULL);
        if (!isfinite(loss)) return hb_fail(err, "lstm: loss is %f at batch %d", loss, i);
        const lstm_work *w = m->work;
        for (int k = 0; k < w->n; k++) {
            const float *p = w->P + (size_t)k * C;
            int best = 0;
            for (int j = 1; j < C; j++)
                if (p[j] > p[best]) best = j;
            right += best == w->labels[k];
        }
        if (lstm_backward(m, err) != 0) return -1;
        adamw_step(opt, &m->params, m->params.data, m->grad);
        loss_sum += (double)loss * b->n_docs;
        docs += b->n_docs;
    }
    if (mean_loss) *mean_loss = docs ? loss_sum / docs : 0.0;
    if (correct) *correct = right;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* head.safetensors */

int lstm_save(const lstm_model *m, const char *path, char *err) {
    return safetensors_save_params(path, &m->params, m->params.data, err);
}

int lstm_load(lstm_model **out, const char *path, char *err) {
    *out = NULL;
    safetensors_file *f;
    if (safetensors_open(&f, path, err) != 0) return -1;
    const safetensors_entry *k = safetensors_find(f, "lstm.kernel"), *d = safetensors_find(f, "dense.kernel"),
                            *o = safetensors_find(f, "out.kernel");
    const char *missing = !k ? "lstm.kernel" : !d ? "dense.kernel" : !o ? "out.kernel" : NULL;
    if (missing) {
        safetensors_close(&f);
        return hb_fail(err, "%s: tensor %s missing: not an LSTM head file", path, missing);
    }
    if (k->ndim != 2 || d->ndim != 2 || o->ndim != 2 || k->shape[1] % 4 != 0 || k->shape[1] / 4 != d->shape[0] ||
        d->shape[1] != o->shape[0] || k->shape[0] > INT32_MAX || k->shape[1] > INT32_MAX || d->shape[1] > INT32_MAX ||
        o->shape[1] > INT32_MAX) {
        safetensors_close(&f);
        return hb_fail(err, "%s: inconsistent head shapes (lstm.kernel, dense.kernel, out.kernel)", path);
    }
    lstm_config cfg = {(int)k->shape[0], (int)(k->shape[1] / 4), (int)d->shape[1], (int)o->shape[1]};
    safetensors_close(&f);
    lstm_model *m;
    if (lstm_new(&m, &cfg, 0, err) != 0) return -1;
    if (safetensors_load_params(path, &m->params, m->params.data, NULL, NULL, err) != 0) {
        lstm_destroy(&m);
        return -1;
    }
    *out = m;
    return 0;
}
