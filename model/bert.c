/*
 * bert.c - the BERT encoder + [CLS] classifier: parameters, activation arena,
 * forward, backward, init, load/save. Matrix products are mm_gemm (matmul.h,
 * fp32 or bf16 as the model chose) on row-major data with HF's [out, in]
 * weights (y = x W^T + b); attention runs per (batch, head) in an OpenMP loop
 * whose products are single-threaded (OpenBLAS' OpenMP build and oneDNN
 * detect the enclosing parallel region).
 *
 * Shapes: B batch, T tokens, N = B*T rows, H hidden, NH heads, hs = H/NH
 * head size, I intermediate, C classes, L layers.
 */
#include "bert.h"

#include <float.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bert_kernels.h"
#include "hb_error.h"
#include "safetensors.h"

/* dropout sites of one forward: 0 embeddings, 1 + 3l + {0 probs, 1 attention
 * output, 2 feed-forward output}, the classifier last */
#define SITE_EMB 0u
#define SITE_PROBS(l) (1u + 3u * (uint32_t)(l))
#define SITE_ATT_OUT(l) (2u + 3u * (uint32_t)(l))
#define SITE_FFN_OUT(l) (3u + 3u * (uint32_t)(l))
#define SITE_CLS 0xC1A55u

typedef struct {
    float *q, *k, *v, *ctx;                   /* [N,H]; q, k, v with bias */
    float *probs;                             /* [B,NH,T,T] softmax (before dropout) */
    float *ln1_in, *ln1_mean, *ln1_rstd, *h1; /* [N,H], [N], [N], [N,H] */
    float *pre;                               /* [N,I] intermediate before GELU (bias added) */
    float *ln2_in, *ln2_mean, *ln2_rstd;      /* output LayerNorm input and stats */
} s_layer_acts;

struct bert_acts {
    float *arena;
    size_t arena_floats;
    float *emb_in, *emb_mean, *emb_rstd; /* embedding sum [N,H] and its LayerNorm stats */
    float **hidden; /* [L+1]: hidden[0] embeddings out [N,H], hidden[l+1] layer l out; hidden[L] is [B,H] */
    s_layer_acts *l;
    float *xq;                                   /* [B,H] the last layer's query rows ([CLS] of its input) */
    float *act;                                  /* [N,I] scratch: GELU output, then its gradient */
    float *att;                                  /* per thread 2 x [T,T] scratch */
    float *dres, *dA, *dB, *dq, *dk, *dv, *dctx; /* backward scratch [N,H] */
    float *cls_z, *logits, *dlogits, *dz;        /* [B,H], [B,C], [B,C], [B,H] */
    int32_t *ids, *tt, *labels;
    uint8_t *mask;
    /* bf16 precision: a bf16 copy of params.data[w16_base..numel) (every
     * weight matrix: the layers and the classifier, with their small biases
     * and norms; not the embedding tables, which are gathered, never
     * multiplied), remade at each forward */
    uint16_t *w16;
    size_t w16_base;
    uint16_t *t16; /* bf16: [N, max(H, I)] an activation multiplied more than once, rounded once */
};

/* ---- parameters --------------------------------------------------------- */

static size_t s_add(params_table *t, const char *name, int64_t d0, int64_t d1) {
    int64_t shape[2] = {d0, d1};
    int i = params_add(t, name, d1 ? 2 : 1, shape, d1 ? 1 : 0);
    return t->views[i].offset;
}

static void s_declare(bert_model *m) {
    const bert_config *c = &m->cfg;
    const int H = c->hidden_size, I = c->intermediate_size;
    params_table *t = &m->params;
    params_init(t);
    m->word_emb = s_add(t, "embeddings.word_embeddings.weight", c->vocab_size, H);
    m->pos_emb = s_add(t, "embeddings.position_embeddings.weight", c->max_position_embeddings, H);
    m->type_emb = s_add(t, "embeddings.token_type_embeddings.weight", c->type_vocab_size, H);
    m->emb_ln_w = s_add(t, "embeddings.LayerNorm.weight", H, 0);
    m->emb_ln_b = s_add(t, "embeddings.LayerNorm.bias", H, 0);
    m->layer = hb_calloc((size_t)c->num_hidden_layers, sizeof *m->layer);
    char n[PARAMS_NAME_LEN];
    for (int l = 0; l < c->num_hidden_layers; l++) {
        bert_layer_offsets *o = &m->layer[l];
#define P(field, suffix, d0, d1)                                                                                       \
    snprintf(n, sizeof n, "encoder.layer.%d.%s", l, suffix);                                                           \
    o->field = s_add(t, n, d0, d1)
        P(q_w, "attention.self.query.weight", H, H);
        P(q_b, "attention.self.query.bias", H, 0);
        P(k_w, "attention.self.key.weight", H, H);
        P(k_b, "attention.self.key.bias", H, 0);
        P(v_w, "attention.self.value.weight", H, H);
        P(v_b, "attention.self.value.bias", H, 0);
        P(ao_w, "attention.output.dense.weight", H, H);
        P(ao_b, "attention.output.dense.bias", H, 0);
        P(ln1_w, "attention.output.LayerNorm.weight", H, 0);
        P(ln1_b, "attention.output.LayerNorm.bias", H, 0);
        P(i_w, "intermediate.dense.weight", I, H);
        P(i_b, "intermediate.dense.bias", I, 0);
        P(o_w, "output.dense.weight", H, I);
        P(o_b, "output.dense.bias", H, 0);
        P(ln2_w, "output.LayerNorm.weight", H, 0);
        P(ln2_b, "output.LayerNorm.bias", H, 0);
#undef P
    }
    m->cls_w = s_add(t, "classifier.weight", m->num_classes, H);
    m->cls_b = s_add(t, "classifier.bias", m->num_classes, 0);
    params_alloc(t);
}

/* ---- arena -------------------------------------------------------------- */

/* Two passes: with base NULL count floats, then hand out aligned slices. */
static float *s_take(float *base, size_t *off, size_t n) {
    float *p = base ? base + *off : NULL;
    *off += (n + 15) / 16 * 16;
    return p;
}

static void s_layout(bert_model *m, float *base, size_t *total) {
    bert_acts *a = m->acts;
    const bert_config *c = &m->cfg;
    const int L = c->num_hidden_layers;
    const size_t N = (size_t)m->max_batch * m->max_seq, H = (size_t)c->hidden_size, I = (size_t)c->intermediate_size;
    const size_t Bm = (size_t)m->max_batch, Tm = (size_t)m->max_seq, NH = (size_t)c->num_attention_heads;
    size_t off = 0;
    a->emb_in = s_take(base, &off, N * H);
    a->emb_mean = s_take(base, &off, N);
    a->emb_rstd = s_take(base, &off, N);
    /* the last layer computes the [CLS] rows only: B rows instead of N */
    for (int l = 0; l <= L; l++) a->hidden[l] = s_take(base, &off, (l == L ? Bm : N) * H);
    for (int l = 0; l < L; l++) {
        s_layer_acts *la = &a->l[l];
        const size_t Nq = l == L - 1 ? Bm : N, Tq = l == L - 1 ? 1 : Tm;
        la->q = s_take(base, &off, Nq * H);
        la->k = s_take(base, &off, N * H);
        la->v = s_take(base, &off, N * H);
        la->ctx = s_take(base, &off, Nq * H);
        la->probs = s_take(base, &off, Bm * NH * Tq * Tm);
        la->ln1_in = s_take(base, &off, Nq * H);
        la->ln1_mean = s_take(base, &off, Nq);
        la->ln1_rstd = s_take(base, &off, Nq);
        la->h1 = s_take(base, &off, Nq * H);
        la->pre = s_take(base, &off, Nq * I);
        la->ln2_in = s_take(base, &off, Nq * H);
        la->ln2_mean = s_take(base, &off, Nq);
        la->ln2_rstd = s_take(base, &off, Nq);
    }
    a->xq = s_take(base, &off, Bm * H);
    a->act = s_take(base, &off, N * I);
    a->att = s_take(base, &off, (size_t)m->nthreads * 2 * Tm * Tm);
    a->dres = s_take(base, &off, N * H);
    a->dA = s_take(base, &off, N * H);
    a->dB = s_take(base, &off, N * H);
    a->dq = s_take(base, &off, N * H);
    a->dk = s_take(base, &off, N * H);
    a->dv = s_take(base, &off, N * H);
    a->dctx = s_take(base, &off, N * H);
    a->cls_z = s_take(base, &off, Bm * H);
    a->logits = s_take(base, &off, Bm * (size_t)m->num_classes);
    a->dlogits = s_take(base, &off, Bm * (size_t)m->num_classes);
    a->dz = s_take(base, &off, Bm * H);
    *total = off;
}

int bert_new(bert_model **out, const bert_config *c, int num_classes, int max_batch, int max_seq, char *err) {
    *out = NULL;
    if (bert_config_validate(c, "bert_new", err) != 0) return -1;
    if (num_classes < 1 || num_classes > 1 << 20)
        return hb_fail(err, "bert_new: num_classes %d out of range", num_classes);
    if (max_batch < 1 || max_seq < 1 || max_seq > c->max_position_embeddings)
        return hb_fail(err, "bert_new: batch %d x seq %d invalid (seq must be 1..%d)", max_batch, max_seq,
                       c->max_position_embeddings);
    bert_model *m = hb_calloc(1, sizeof *m);
    m->cfg = *c;
    m->num_classes = num_classes;
    m->max_batch = max_batch;
    m->max_seq = max_seq;
    m->nthreads = omp_get_max_threads();
    s_declare(m);
    m->grads = params_new_buffer(&m->params);
    bert_acts *a = hb_calloc(1, sizeof *a);
    m->acts = a;
    a->hidden = hb_calloc((size_t)c->num_hidden_layers + 1, sizeof *a->hidden);
    a->l = hb_calloc((size_t)c->num_hidden_layers, sizeof *a->l);
    size_t total;
    s_layout(m, NULL, &total);
    a->arena = aligned_alloc(64, total * sizeof(float));
    if (!a->arena) {
        fprintf(stderr, "hierbert: out of memory allocating %zu floats of activations\n", total);
        abort();
    }
    a->arena_floats = total;
    s_layout(m, a->arena, &total);
    size_t N = (size_t)max_batch * max_seq;
    a->ids = hb_calloc(N, sizeof *a->ids);
    a->tt = hb_calloc(N, sizeof *a->tt);
    a->mask = hb_calloc(N, sizeof *a->mask);
    a->labels = hb_calloc((size_t)max_batch, sizeof *a->labels);
    a->w16_base = c->num_hidden_layers ? m->layer[0].q_w : m->cls_w;
    m->logits = a->logits;
    m->drop_keys = hb_calloc((size_t)max_batch, sizeof *m->drop_keys);
    m->seed = 1;
    if (mm_new(&m->mm, MM_FP32, m->nthreads, err) != 0) {
        bert_destroy(&m);
        return -1;
    }
    *out = m;
    return 0;
}

int bert_set_precision(bert_model *m, mm_precision p, char *err) {
    mm_backend *mm;
    if (mm_new(&mm, p, m->nthreads, err) != 0) return -1;
    mm_destroy(&m->mm);
    m->mm = mm;
    bert_acts *a = m->acts;
    free(a->w16);
    free(a->t16);
    a->w16 = a->t16 = NULL;
    if (p == MM_BF16) {
        const size_t wide =
            m->cfg.intermediate_size > m->cfg.hidden_size ? m->cfg.intermediate_size : m->cfg.hidden_size;
        a->w16 = hb_malloc((m->params.numel - a->w16_base) * sizeof *a->w16);
        a->t16 = hb_malloc((size_t)m->max_batch * m->max_seq * wide * sizeof *a->t16);
    }
    return 0;
}

void bert_destroy(bert_model **mp) {
    bert_model *m = mp ? *mp : NULL;
    if (!m) return;
    if (m->acts) {
        free(m->acts->arena);
        free(m->acts->hidden);
        free(m->acts->l);
        free(m->acts->ids);
        free(m->acts->tt);
        free(m->acts->mask);
        free(m->acts->labels);
        free(m->acts->w16);
        free(m->acts->t16);
        free(m->acts);
    }
    mm_destroy(&m->mm);
    params_free_buffer(m->grads);
    params_free(&m->params);
    free(m->layer);
    free(m->drop_keys);
    free(m);
    *mp = NULL;
}

/* ---- init --------------------------------------------------------------- */

/* normal(0,1) from a counter: deterministic and parallel (Box-Muller on two
 * 53-bit uniforms of splitmix64). */
static double s_normal(uint64_t key, uint64_t i) {
    uint64_t a = bk_mix64(key ^ (2 * i)), b = bk_mix64(key ^ (2 * i + 1));
    double u1 = ((double)(a >> 11) + 0.5) * (1.0 / 9007199254740992.0);
    double u2 = (double)(b >> 11) * (1.0 / 9007199254740992.0);
    return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

static void s_init_view(bert_model *m, int vi, uint64_t seed, double std, int truncated) {
    const params_view *v = &m->params.views[vi];
    float *p = m->params.data + v->offset;
    uint64_t key = bk_mix64(seed ^ bk_mix64(0x5EED0000ull + (uint64_t)vi));
    const size_t n = v->numel;
#pragma omp parallel for schedule(static) if (n > 65536)
    for (size_t i = 0; i < n; i++) {
        double x = s_normal(key, i);
        /* Keras TruncatedNormal: redraw beyond 2 standard deviations */
        for (uint64_t r = 1; truncated && fabs(x) > 2.0; r++) x = s_normal(key + r * 0x9E3779B97F4A7C15ull, i);
        p[i] = (float)(std * x);
    }
}

void bert_set_seed(bert_model *m, uint64_t seed) {
    m->seed = seed;
    m->n_forward = 0;
    m->n_drop_keys = 0;
}

void bert_set_dropout_samples(bert_model *m, uint64_t step, const uint32_t *sample_ids, int n) {
    if (!sample_ids || n <= 0 || n > m->max_batch) {
        m->n_drop_keys = 0;
        return;
    }
    const uint64_t ks = bk_mix64(bk_mix64(m->seed) ^ bk_mix64(0xD50Bull ^ step));
    for (int b = 0; b < n; b++) m->drop_keys[b] = bk_mix64(ks ^ bk_mix64(0x5A3Dull + (uint64_t)sample_ids[b]));
    m->n_drop_keys = n;
}

/* the dropout of one site, keyed as bert_set_dropout_samples said; rows of a
 * sample: rps, of which `inner` per outer index (see bk_dropout) */
static bk_dropout s_drop(const bert_model *m, uint32_t site, float p, uint32_t rps, uint32_t inner,
                         uint32_t row_stride, uint32_t outer_stride) {
    bk_dropout d = bk_dropout_make(m->drop_key, site, p);
    if (m->n_drop_keys > 0) bk_dropout_by_sample(&d, m->drop_keys, rps, inner, row_stride, outer_stride);
    return d;
}

/* attention probabilities [B, NH, Tq, T] as rows of T: by sample, the index
 * of (head, query, key) is at the model's maximum length, whatever T */
static bk_dropout s_drop_probs(const bert_model *m, int l, float p, int Tq) {
    const uint32_t Lm = (uint32_t)m->max_seq;
    return s_drop(m, SITE_PROBS(l), p, (uint32_t)(m->cfg.num_attention_heads * Tq), (uint32_t)Tq, Lm, Lm * Lm);
}

void bert_init_classifier(bert_model *m, uint64_t seed) {
    int w = params_find(&m->params, "classifier.weight"), b = params_find(&m->params, "classifier.bias");
    s_init_view(m, w, seed, 0.02, 1);
    memset(m->params.data + m->params.views[b].offset, 0, m->params.views[b].numel * sizeof(float));
}

void bert_init_random(bert_model *m, uint64_t seed) {
    params_table *t = &m->params;
    for (int i = 0; i < t->nviews; i++) {
        const params_view *v = &t->views[i];
        float *p = t->data + v->offset;
        const char *name = v->name;
        size_t len = strlen(name);
        if (v->ndim == 2)
            s_init_view(m, i, seed, 0.02, 0);
        else if (len >= 16 && strcmp(name + len - 16, "LayerNorm.weight") == 0)
            for (size_t k = 0; k < v->numel; k++) p[k] = 1.0f;
        else
            memset(p, 0, v->numel * sizeof(float));
    }
    bert_init_classifier(m, seed ^ 0xC1A55ull);
    bert_set_seed(m, seed);
}

/* ---- load / save -------------------------------------------------------- */

int bert_load_safetensors(bert_model *m, const char *path, int *has_head, char *err) {
    int absent = 0;
    if (safetensors_load_params(path, &m->params, m->params.data, "classifier.", &absent, err) != 0) return -1;
    if (absent == 1)
        return hb_fail(err, "%s: tensor classifier.%s: missing (the other half of the head is present)", path,
                       params_find(&m->params, "classifier.weight") >= 0 ? "weight or bias" : "");
    if (has_head) *has_head = absent == 0;
    return 0;
}

int bert_save_safetensors(const bert_model *m, const char *path, char *err) {
    return safetensors_save_params(path, &m->params, m->params.data, err);
}

static int s_same_shape(const bert_config *a, const bert_config *b) {
    return a->vocab_size == b->vocab_size && a->hidden_size == b->hidden_size &&
           a->num_hidden_layers == b->num_hidden_layers && a->num_attention_heads == b->num_attention_heads &&
           a->intermediate_size == b->intermediate_size && a->max_position_embeddings == b->max_position_embeddings &&
           a->type_vocab_size == b->type_vocab_size;
}

int bert_load_dir_ex(bert_model *m, const char *dir, int *has_head, char *err) {
    char path[4096];
    bert_config c;
    snprintf(path, sizeof path, "%s/config.json", dir);
    if (bert_config_read(&c, path, err) != 0) return -1;
    if (!s_same_shape(&c, &m->cfg))
        return hb_fail(err, "%s: shapes differ from the model's (hidden %d vs %d, layers %d vs %d, vocab %d vs %d)",
                       path, c.hidden_size, m->cfg.hidden_size, c.num_hidden_layers, m->cfg.num_hidden_layers,
                       c.vocab_size, m->cfg.vocab_size);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    return bert_load_safetensors(m, path, has_head, err);
}

int bert_load_dir(bert_model *m, const char *dir, char *err) {
    return bert_load_dir_ex(m, dir, NULL, err);
}

int bert_save_dir(const bert_model *m, const char *dir, char *err) {
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", dir);
    if (bert_config_write(&m->cfg, path, err) != 0) return -1;
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    return bert_save_safetensors(m, path, err);
}

int bert_new_from_dir(bert_model **out, const char *dir, int num_classes, int max_batch, int max_seq, uint64_t seed,
                      char *err) {
    char path[4096];
    bert_config c;
    *out = NULL;
    snprintf(path, sizeof path, "%s/config.json", dir);
    if (bert_config_read(&c, path, err) != 0) return -1;
    bert_model *m;
    if (bert_new(&m, &c, num_classes, max_batch, max_seq, err) != 0) return -1;
    bert_init_classifier(m, seed ^ 0xC1A55ull);
    bert_set_seed(m, seed);
    if (bert_load_dir(m, dir, err) != 0) {
        bert_destroy(&m);
        return -1;
    }
    *out = m;
    return 0;
}

/* ---- linear layers (y = x W^T + b, W [out, in]) ------------------------- */

/* The weight at params offset w: fp32 master and, in bf16, its bf16 copy. */
static const float *s_wf(const bert_model *m, size_t w) {
    return m->params.data + w;
}
static const uint16_t *s_wh(const bert_model *m, size_t w) {
    return m->acts->w16 ? m->acts->w16 + (w - m->acts->w16_base) : NULL;
}

/* bf16: x [n floats] rounded once into the arena's t16 for the products that
 * follow (until the next call); fp32: NULL */
static const uint16_t *s_round_once(const bert_model *m, const float *x, size_t n) {
    if (!m->acts->t16) return NULL;
    mm_to_bf16(m->acts->t16, x, n);
    return m->acts->t16;
}

/* y = x W^T (+ bias), W at params offset w; x16: x rounded to bf16, or NULL */
static void s_linear_fwd(const bert_model *m, float *y, const float *x, const uint16_t *x16, size_t w,
                         const float *bias, int N, int in, int out) {
    float beta = 0.0f;
    if (bias) {
#pragma omp parallel for schedule(static)
        for (int n = 0; n < N; n++) memcpy(y + (size_t)n * out, bias, (size_t)out * sizeof(float));
        beta = 1.0f;
    }
    mm_gemm(m->mm, 0, 1, N, out, in, 1.0f, x, in, x16, s_wf(m, w), in, s_wh(m, w), beta, y, out);
}

/* dW += dy^T x, then dx = dy W (+ dx when beta 1), W at params offset w: dy
 * rounded once for both. dx may be x's buffer (dW reads x first). */
static void s_linear_bwd(const bert_model *m, float *dW, float *dx, const float *dy, const float *x, size_t w, int N,
                         int in, int out, float beta) {
    const uint16_t *dy16 = s_round_once(m, dy, (size_t)N * out);
    mm_gemm(m->mm, 1, 0, out, in, N, 1.0f, dy, out, dy16, x, in, NULL, 1.0f, dW, in);
    mm_gemm(m->mm, 0, 0, N, in, out, 1.0f, dy, out, dy16, s_wf(m, w), in, s_wh(m, w), beta, dx, in);
}

static int s_threads(const bert_model *m) {
    int nt = omp_get_max_threads();
    return nt < m->nthreads ? nt : m->nthreads;
}

/* ---- attention ---------------------------------------------------------- */

/* ctx[b, :, h] = dropout(softmax(q k^T / sqrt(hs) + mask)) v per (b, h):
 * q has Tq rows per sequence, k and v T rows. */
static void s_attention_forward(bert_model *m, s_layer_acts *la, int B, int Tq, int T, const bk_dropout *d) {
    const int H = m->cfg.hidden_size, NH = m->cfg.num_attention_heads, hs = H / NH;
    const float scale = 1.0f / sqrtf((float)hs);
    const size_t QT = (size_t)Tq * T;
    const uint8_t *mask = m->acts->mask;
    float *scratch = m->acts->att;
    const size_t sstride = 2 * (size_t)m->max_seq * m->max_seq;
#pragma omp parallel for schedule(dynamic, 1) num_threads(s_threads(m))
    for (int bh = 0; bh < B * NH; bh++) {
        const int b = bh / NH, h = bh % NH;
        const size_t oq = (size_t)b * Tq * H + (size_t)h * hs, ok = (size_t)b * T * H + (size_t)h * hs;
        float *P = la->probs + (size_t)bh * QT;
        mm_gemm(m->mm, 0, 1, Tq, T, hs, scale, la->q + oq, H, NULL, la->k + ok, H, NULL, 0.0f, P, T);
        bk_masked_softmax_rows(P, mask + (size_t)b * T, Tq, T);
        const float *Pd = P;
        if (d->on) {
            float *sc = scratch + (size_t)omp_get_thread_num() * sstride;
            bk_dropout_rows(sc, P, (size_t)bh * Tq, (size_t)Tq, (size_t)T, d);
            Pd = sc;
        }
        mm_gemm(m->mm, 0, 0, Tq, hs, T, 1.0f, Pd, T, NULL, la->v + ok, H, NULL, 0.0f, la->ctx + oq, H);
    }
}

/* from dctx [Nq,H]: dq [Nq,H], dk and dv [N,H] (written), per (b, h) */
static void s_attention_backward(bert_model *m, s_layer_acts *la, int B, int Tq, int T, const bk_dropout *d) {
    bert_acts *a = m->acts;
    const int H = m->cfg.hidden_size, NH = m->cfg.num_attention_heads, hs = H / NH;
    const float scale = 1.0f / sqrtf((float)hs);
    const size_t QT = (size_t)Tq * T;
    const size_t sstride = 2 * (size_t)m->max_seq * m->max_seq;
#pragma omp parallel for schedule(dynamic, 1) num_threads(s_threads(m))
    for (int bh = 0; bh < B * NH; bh++) {
        const int b = bh / NH, h = bh % NH;
        const size_t oq = (size_t)b * Tq * H + (size_t)h * hs, ok = (size_t)b * T * H + (size_t)h * hs;
        const float *P = la->probs + (size_t)bh * QT;
        float *dP = a->att + (size_t)omp_get_thread_num() * sstride, *Pd = dP + QT;
        if (d->on)
            bk_dropout_rows(Pd, P, (size_t)bh * Tq, (size_t)Tq, (size_t)T, d);
        else
            Pd = (float *)P;
        /* dPd = dctx v^T; dv = Pd^T dctx */
        mm_gemm(m->mm, 0, 1, Tq, T, hs, 1.0f, a->dctx + oq, H, NULL, la->v + ok, H, NULL, 0.0f, dP, T);
        mm_gemm(m->mm, 1, 0, T, hs, Tq, 1.0f, Pd, T, NULL, a->dctx + oq, H, NULL, 0.0f, a->dv + ok, H);
        bk_dropout_rows(dP, dP, (size_t)bh * Tq, (size_t)Tq, (size_t)T, d);
        bk_softmax_backward_rows(dP, P, Tq, T);
        /* dq = scale dS k; dk = scale dS^T q */
        mm_gemm(m->mm, 0, 0, Tq, hs, T, scale, dP, T, NULL, la->k + ok, H, NULL, 0.0f, a->dq + oq, H);
        mm_gemm(m->mm, 1, 0, T, hs, Tq, scale, dP, T, NULL, la->q + oq, H, NULL, 0.0f, a->dk + ok, H);
    }
}

/* ---- forward ------------------------------------------------------------ */

static float *s_p(const bert_model *m, size_t off) {
    return m->params.data + off;
}
static float *s_g(const bert_model *m, size_t off) {
    return m->grads + off;
}

static int s_param_wait(bert_model *m, size_t hi) {
    return m->train && m->param_wait ? m->param_wait(m->param_wait_ctx, hi) : 0;
}

float bert_forward(bert_model *m, const int32_t *ids, const int32_t *token_type, const uint8_t *mask,
                   const int32_t *labels, int B, int T_in, int train) {
    const bert_config *c = &m->cfg;
    bert_acts *a = m->acts;
    const int H = c->hidden_size, I = c->intermediate_size, L = c->num_hidden_layers, C = m->num_classes;
    if (B < 1 || T_in < 1 || B > m->max_batch || T_in > m->max_seq) return NAN;
    if (train && m->n_drop_keys > 0 && B > m->n_drop_keys) return NAN; /* rows without a sample key */
    for (size_t i = 0; i < (size_t)B * T_in; i++) {
        int32_t tt = token_type ? token_type[i] : 0;
        if (ids[i] < 0 || ids[i] >= c->vocab_size || tt < 0 || tt >= c->type_vocab_size) return NAN;
    }
    /* Trailing positions masked in every sequence are dropped: as keys they get
     * exactly zero attention, as queries they never reach [CLS], so the loss,
     * the gradients and the [CLS] vectors are those of the full batch, for
     * less work (a batch of short chunks costs what its longest one needs). */
    int T = T_in;
    while (mask && T > 1) {
        int any = 0;
        for (int b = 0; b < B && !any; b++) any = mask[(size_t)b * T_in + T - 1] != 0;
        if (any) break;
        T--;
    }
    /* bf16: oneDNN primitives are made per shape (about 8 per length, ~45 KB
     * each): a length rounded up to a multiple of 16 bounds them to L/16
     * lengths instead of L, for at most 15 more masked positions (the same
     * results: masked keys get exactly zero attention) */
    if (a->w16) T = (T + 15) / 16 * 16 < T_in ? (T + 15) / 16 * 16 : T_in;
    const size_t N = (size_t)B * T;
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            const size_t i = (size_t)b * T + t, j = (size_t)b * T_in + t;
            a->ids[i] = ids[j];
            a->tt[i] = token_type ? token_type[j] : 0;
            a->mask[i] = mask ? (mask[j] != 0) : 1;
        }
    for (int b = 0; labels && b < B; b++) {
        if (labels[b] < 0 || labels[b] >= C) return NAN;
        a->labels[b] = labels[b];
    }
    m->B = B;
    m->T = T;
    m->train = train;
    m->has_labels = labels != NULL;
    /* only training forwards draw masks: eval forwards in between (validation,
     * embeddings) leave the training run's dropout sequence unchanged */
    if (train) m->n_forward++;
    m->drop_key = bk_mix64(m->seed ^ bk_mix64(m->n_forward));
    const float ph = train ? c->hidden_dropout_prob : 0, pa = train ? c->attention_probs_dropout_prob : 0;
    const float pc = train ? c->classifier_dropout : 0;
    /* bf16: the weights as this forward (and the backward after it) multiply them */
    if (a->w16 && s_param_wait(m, m->params.numel)) return NAN;
    if (a->w16) mm_to_bf16(a->w16, m->params.data + a->w16_base, m->params.numel - a->w16_base);
    if (s_param_wait(m, (size_t)m->layer[0].q_w)) return NAN; /* the embeddings (they come first) */

    /* embeddings: word + position + token type, LayerNorm, dropout */
    const float *we = s_p(m, m->word_emb), *pe = s_p(m, m->pos_emb), *te = s_p(m, m->type_emb);
#pragma omp parallel for schedule(static)
    for (size_t n = 0; n < N; n++) {
        const float *w = we + (size_t)a->ids[n] * H, *p = pe + (n % (size_t)T) * H, *t = te + (size_t)a->tt[n] * H;
        float *e = a->emb_in + n * H;
#pragma omp simd
        for (int j = 0; j < H; j++) e[j] = w[j] + p[j] + t[j];
    }
    bk_layernorm_forward(a->hidden[0], a->emb_mean, a->emb_rstd, a->emb_in, s_p(m, m->emb_ln_w), s_p(m, m->emb_ln_b),
                         (int)N, H, c->layer_norm_eps);
    bk_dropout d = s_drop(m, SITE_EMB, ph, (uint32_t)T, (uint32_t)T, (uint32_t)H, 0);
    bk_dropout_rows(a->hidden[0], a->hidden[0], 0, N, (size_t)H, &d);

    for (int l = 0; l < L; l++) {
        const bert_layer_offsets *o = &m->layer[l];
        s_layer_acts *la = &a->l[l];
        const float *x = a->hidden[l];
        /* layer l's tensors as each product needs them: the attention's
         * (q, k, v) here, the attention output's and the feed-forward's
         * below, up to the next layer's first (the last layer: the
         * classifier too) - the layer's first products run while the rest
         * of it is still on the wire */
        if (s_param_wait(m, o->ao_w)) return NAN;
        /* query rows: all positions, or in the last layer the [CLS] rows only */
        const int Tq = l == L - 1 ? 1 : T, Nq = B * Tq;
        const float *xq = x;
        if (Tq != T) {
            for (int b = 0; b < B; b++) memcpy(a->xq + (size_t)b * H, x + (size_t)b * T * H, H * sizeof(float));
            xq = a->xq;
        }
        const uint16_t *x16 = s_round_once(m, x, N * H); /* for q (all rows), k and v */
        s_linear_fwd(m, la->q, xq, Tq == T ? x16 : NULL, o->q_w, s_p(m, o->q_b), Nq, H, H);
        s_linear_fwd(m, la->k, x, x16, o->k_w, s_p(m, o->k_b), (int)N, H, H);
        s_linear_fwd(m, la->v, x, x16, o->v_w, s_p(m, o->v_b), (int)N, H, H);
        d = s_drop_probs(m, l, pa, Tq);
        s_attention_forward(m, la, B, Tq, T, &d);
        if (s_param_wait(m, o->i_w)) return NAN;
        s_linear_fwd(m, a->dA, la->ctx, NULL, o->ao_w, NULL, Nq, H, H);
        d = s_drop(m, SITE_ATT_OUT(l), ph, (uint32_t)Tq, (uint32_t)Tq, (uint32_t)H, 0);
        bk_residual_layernorm_forward(la->ln1_in, la->ln1_mean, la->ln1_rstd, la->h1, a->dA, s_p(m, o->ao_b), xq,
                                      s_p(m, o->ln1_w), s_p(m, o->ln1_b), Nq, H, c->layer_norm_eps, &d);
        if (s_param_wait(m, l + 1 < L ? (size_t)m->layer[l + 1].q_w : m->params.numel)) return NAN;
        s_linear_fwd(m, la->pre, la->h1, NULL, o->i_w, NULL, Nq, H, I);
        bk_bias_gelu_forward(a->act, la->pre, s_p(m, o->i_b), Nq, I);
        s_linear_fwd(m, a->dA, a->act, NULL, o->o_w, NULL, Nq, I, H);
        d = s_drop(m, SITE_FFN_OUT(l), ph, (uint32_t)Tq, (uint32_t)Tq, (uint32_t)H, 0);
        bk_residual_layernorm_forward(la->ln2_in, la->ln2_mean, la->ln2_rstd, a->hidden[l + 1], a->dA, s_p(m, o->o_b),
                                      la->h1, s_p(m, o->ln2_w), s_p(m, o->ln2_b), Nq, H, c->layer_norm_eps, &d);
    }

    /* head: [CLS] = position 0 of the last layer; dropout; Dense(C) */
    memcpy(a->cls_z, a->hidden[L], (size_t)B * H * sizeof(float)); /* hidden[L] is [B,H] */
    d = s_drop(m, SITE_CLS, pc, 1, 1, (uint32_t)H, 0);
    bk_dropout_rows(a->cls_z, a->cls_z, 0, (size_t)B, (size_t)H, &d);
    s_linear_fwd(m, a->logits, a->cls_z, NULL, m->cls_w, s_p(m, m->cls_b), B, H, C);

    m->loss = 0.0f;
    if (labels) {
        double sum = 0.0;
        for (int b = 0; b < B; b++) {
            const float *z = a->logits + (size_t)b * C;
            float *dz = a->dlogits + (size_t)b * C;
            float mx = z[0];
            for (int k = 1; k < C; k++) mx = z[k] > mx ? z[k] : mx;
            double se = 0.0;
            for (int k = 0; k < C; k++) se += exp((double)z[k] - mx);
            sum += log(se) + mx - z[a->labels[b]];
            /* d loss / d logits = (softmax - onehot) / B, kept for backward */
            for (int k = 0; k < C; k++)
                dz[k] = (float)((exp((double)z[k] - mx) / se - (k == a->labels[b])) / (double)B);
        }
        m->loss = (float)(sum / B);
    }
    return m->loss;
}

/* ---- backward ----------------------------------------------------------- */

void bert_zero_grad(bert_model *m) {
    const size_t n = m->params.numel;
    float *g = m->grads;
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) g[i] = 0.0f;
}

void bert_backward(bert_model *m) {
    const bert_config *c = &m->cfg;
    bert_acts *a = m->acts;
    const int H = c->hidden_size, I = c->intermediate_size, L = c->num_hidden_layers, C = m->num_classes;
    const int B = m->B, T = m->T;
    const size_t N = (size_t)B * T;
    if (!m->has_labels) return;
    const float ph = m->train ? c->hidden_dropout_prob : 0, pa = m->train ? c->attention_probs_dropout_prob : 0;
    const float pc = m->train ? c->classifier_dropout : 0;

    /* head */
    s_linear_bwd(m, s_g(m, m->cls_w), a->dz, a->dlogits, a->cls_z, m->cls_w, B, H, C, 0.0f);
    bk_colsum_add(s_g(m, m->cls_b), a->dlogits, B, C);
    bk_dropout d = s_drop(m, SITE_CLS, pc, 1, 1, (uint32_t)H, 0);
    bk_dropout_rows(a->dz, a->dz, 0, (size_t)B, (size_t)H, &d);
    if (m->grad_ready) m->grad_ready(m->grad_ready_ctx, m->cls_w);
    /* dres: gradient of the current layer's output, [B,H] for the last layer */
    float *dres = a->dres, *dB = a->dB;
    memcpy(dres, a->dz, (size_t)B * H * sizeof(float));

    for (int l = L - 1; l >= 0; l--) {
        const bert_layer_offsets *o = &m->layer[l];
        s_layer_acts *la = &a->l[l];
        const float *x = a->hidden[l];
        const int Tq = l == L - 1 ? 1 : T, Nq = B * Tq;
        const float *xq = Tq == T ? x : a->xq;
        /* output LayerNorm -> dA (= grad of ln2_in, also of h1 through the residual) */
        bk_layernorm_backward(a->dA, s_g(m, o->ln2_w), s_g(m, o->ln2_b), dres, la->ln2_in, s_p(m, o->ln2_w),
                              la->ln2_mean, la->ln2_rstd, Nq, H, 0);
        d = s_drop(m, SITE_FFN_OUT(l), ph, (uint32_t)Tq, (uint32_t)Tq, (uint32_t)H, 0);
        const float *g2 = a->dA;
        if (d.on) {
            bk_dropout_rows(dB, a->dA, 0, (size_t)Nq, (size_t)H, &d);
            g2 = dB;
        }
        bk_colsum_add(s_g(m, o->o_b), g2, Nq, H);
        bk_gelu(a->act, la->pre, (size_t)Nq * I);
        s_linear_bwd(m, s_g(m, o->o_w), a->act, g2, a->act, o->o_w, Nq, I, H, 0.0f); /* act now holds d act */
        bk_gelu_backward(a->act, la->pre, (size_t)Nq * I);                           /* ... and now d pre */
        bk_colsum_add(s_g(m, o->i_b), a->act, Nq, I);
        s_linear_bwd(m, s_g(m, o->i_w), a->dA, a->act, la->h1, o->i_w, Nq, H, I, 1.0f); /* dA = d h1 */
        /* the feed-forward half (two thirds of the layer's floats) is final:
         * out at once, so less is left to travel when backward ends */
        if (m->grad_ready) m->grad_ready(m->grad_ready_ctx, o->i_w);
        /* attention output LayerNorm -> dB (= grad of ln1_in, also of xq) */
        bk_layernorm_backward(dB, s_g(m, o->ln1_w), s_g(m, o->ln1_b), a->dA, la->ln1_in, s_p(m, o->ln1_w), la->ln1_mean,
                              la->ln1_rstd, Nq, H, 0);
        d = s_drop(m, SITE_ATT_OUT(l), ph, (uint32_t)Tq, (uint32_t)Tq, (uint32_t)H, 0);
        const float *g1 = dB;
        if (d.on) {
            bk_dropout_rows(a->dA, dB, 0, (size_t)Nq, (size_t)H, &d);
            g1 = a->dA;
        }
        bk_colsum_add(s_g(m, o->ao_b), g1, Nq, H);
        s_linear_bwd(m, s_g(m, o->ao_w), a->dctx, g1, la->ctx, o->ao_w, Nq, H, H, 0.0f);
        if (m->grad_ready) m->grad_ready(m->grad_ready_ctx, o->ao_w); /* and the attention output's */
        d = s_drop_probs(m, l, pa, Tq);
        s_attention_backward(m, la, B, Tq, T, &d);
        bk_colsum_add(s_g(m, o->q_b), a->dq, Nq, H);
        /* key bias: no gradient. q.(k_j + b) = q.k_j + q.b shifts a whole score
         * row by a constant, which softmax ignores; the float sum of dk would be
         * rounding noise that Adam (dividing by its own scale) turns into steps. */
        bk_colsum_add(s_g(m, o->v_b), a->dv, (int)N, H);
        /* d xq = residual (dB) + dq Wq; d x = dk Wk + dv Wv (+ d xq on the query rows) */
        s_linear_bwd(m, s_g(m, o->q_w), dB, a->dq, xq, o->q_w, Nq, H, H, 1.0f);
        if (Tq == T) {
            s_linear_bwd(m, s_g(m, o->k_w), dB, a->dk, x, o->k_w, (int)N, H, H, 1.0f);
            s_linear_bwd(m, s_g(m, o->v_w), dB, a->dv, x, o->v_w, (int)N, H, H, 1.0f);
            float *t = dres;
            dres = dB;
            dB = t;
        } else {
            s_linear_bwd(m, s_g(m, o->k_w), dres, a->dk, x, o->k_w, (int)N, H, H, 0.0f);
            s_linear_bwd(m, s_g(m, o->v_w), dres, a->dv, x, o->v_w, (int)N, H, H, 1.0f);
            for (int b = 0; b < B; b++) {
                float *dst = dres + (size_t)b * T * H;
                const float *src = dB + (size_t)b * H;
                for (int j = 0; j < H; j++) dst[j] += src[j];
            }
        }
        if (m->grad_ready) m->grad_ready(m->grad_ready_ctx, o->q_w); /* layer l's first tensor */
    }

    /* embeddings: dropout, LayerNorm, then scatter-add into the three tables
     * (layer l's gradients were final after its iteration: grad_ready there) */
    d = s_drop(m, SITE_EMB, ph, (uint32_t)T, (uint32_t)T, (uint32_t)H, 0);
    bk_dropout_rows(dres, dres, 0, N, (size_t)H, &d);
    bk_layernorm_backward(dB, s_g(m, m->emb_ln_w), s_g(m, m->emb_ln_b), dres, a->emb_in, s_p(m, m->emb_ln_w),
                          a->emb_mean, a->emb_rstd, (int)N, H, 0);
    float *gw = s_g(m, m->word_emb), *gp = s_g(m, m->pos_emb), *gt = s_g(m, m->type_emb);
    /* column blocks per thread: rows repeat (same token twice), columns never do */
#pragma omp parallel for schedule(static)
    for (int cb = 0; cb < H; cb += 32) {
        const int ce = cb + 32 < H ? cb + 32 : H;
        for (size_t n = 0; n < N; n++) {
            const float *g = dB + n * H;
            float *w = gw + (size_t)a->ids[n] * H, *p = gp + (n % (size_t)T) * H, *t = gt + (size_t)a->tt[n] * H;
            for (int j = cb; j < ce; j++) {
                w[j] += g[j];
                p[j] += g[j];
                t[j] += g[j];
            }
        }
    }
    /* the two scratch pointers may have swapped: keep a->dres / a->dB valid */
    a->dres = dres;
    a->dB = dB;
    if (m->grad_ready) m->grad_ready(m->grad_ready_ctx, 0);
}

/* ---- eval and training step ------------------------------------------- */

void bert_cls_vectors(const bert_model *m, float *out) {
    const int H = m->cfg.hidden_size, L = m->cfg.num_hidden_layers;
    memcpy(out, m->acts->hidden[L], (size_t)m->B * H * sizeof(float)); /* the last layer computed [CLS] rows only */
}

int bert_embed_cls(bert_model *m, const int32_t *ids, const uint8_t *mask, int B, int T, float *out, float *logits) {
    float r = bert_forward(m, ids, NULL, mask, NULL, B, T, 0);
    if (isnan(r)) return -1;
    bert_cls_vectors(m, out);
    if (logits) memcpy(logits, m->logits, (size_t)B * m->num_classes * sizeof(float));
    return 0;
}

float bert_train_step(bert_model *m, adamw_state *opt, const int32_t *ids, const int32_t *token_type,
                      const uint8_t *mask, const int32_t *labels, int B, int T) {
    bert_zero_grad(m);
    float loss = bert_forward(m, ids, token_type, mask, labels, B, T, 1);
    if (isnan(loss)) return loss;
    bert_backward(m);
    adamw_step(opt, &m->params, m->params.data, m->grads);
    return loss;
}

double bert_forward_flops(const bert_config *c, int num_classes, int B, int T) {
    const double N = (double)B * T, H = c->hidden_size, I = c->intermediate_size;
    /* per layer: QKV + output dense 4 N H^2, FFN 2 N H I, scores and context 2 B T^2 H */
    double per_layer = 2.0 * (4.0 * N * H * H + 2.0 * N * H * I + 2.0 * (double)B * T * T * H);
    return per_layer * c->num_hidden_layers + 2.0 * B * H * num_classes;
}

double bert_forward_flops_executed(const bert_config *c, int num_classes, int B, int T) {
    const double N = (double)B * T, H = c->hidden_size, I = c->intermediate_size;
    const double full = 2.0 * (4.0 * N * H * H + 2.0 * N * H * I + 2.0 * (double)B * T * T * H);
    /* last layer: keys and values of every position; query, attention, dense and FFN of [CLS] rows */
    const double last = 2.0 * (2.0 * N * H * H + 2.0 * B * H * H + 2.0 * B * T * H + 2.0 * B * H * I);
    return full * (c->num_hidden_layers - 1) + last + 2.0 * B * H * num_classes;
}
