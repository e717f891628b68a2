/*
 * test_bert_gradcheck.c - the analytic gradients of bert_backward (float32)
 * against central finite differences of an independent double-precision
 * forward written here (naive loops, HF semantics: every position of every
 * layer, additive mask, exact erf GELU, [CLS] head, mean cross-entropy). For
 * sampled entries of every parameter tensor of a tiny model with padding and
 * two token types: |analytic - numeric| <= 1e-4 x the tensor's largest
 * gradient + 1e-7. Dropout is off (finite differences need a deterministic
 * loss; dropout's own determinism is checked in test_bert_parity).
 */
#include <float.h>
#include <string.h>

#include "bert.h"
#include "check.h"
#include "hb_error.h"

typedef struct {
    const bert_model *m;
    const double *p; /* all parameters in double, params layout */
    const int32_t *ids, *tt, *labels;
    const uint8_t *mask;
    int B, T;
} s_ctx;

static const double *s_v(const s_ctx *c, const char *name) {
    int i = params_find(&c->m->params, name);
    CHECK(i >= 0, "no tensor %s", name);
    return c->p + c->m->params.views[i].offset;
}

static void s_ln(double *x, int n, int H, const double *w, const double *b, double eps) {
    for (int r = 0; r < n; r++) {
        double *v = x + (size_t)r * H, mu = 0, var = 0;
        for (int j = 0; j < H; j++) mu += v[j];
        mu /= H;
        for (int j = 0; j < H; j++) var += (v[j] - mu) * (v[j] - mu);
        var /= H;
        double rs = 1.0 / sqrt(var + eps);
        for (int j = 0; j < H; j++) v[j] = (v[j] - mu) * rs * w[j] + b[j];
    }
}

/* y[n,out] = x[n,in] W[out,in]^T + b */
static void s_lin(double *y, const double *x, const double *W, const double *b, int n, int in, int out) {
    for (int r = 0; r < n; r++)
        for (int o = 0; o < out; o++) {
            double s = b[o];
            for (int k = 0; k < in; k++) s += x[(size_t)r * in + k] * W[(size_t)o * in + k];
            y[(size_t)r * out + o] = s;
        }
}

static double s_loss(const s_ctx *c) {
    const bert_config *cf = &c->m->cfg;
    const int B = c->B, T = c->T, N = B * T, H = cf->hidden_size, I = cf->intermediate_size;
    const int NH = cf->num_attention_heads, hs = H / NH, C = c->m->num_classes;
    double *x = calloc((size_t)N * H, 8), *q = calloc((size_t)N * H, 8), *k = calloc((size_t)N * H, 8);
    double *v = calloc((size_t)N * H, 8), *ctx = calloc((size_t)N * H, 8), *t1 = calloc((size_t)N * H, 8);
    double *inter = calloc((size_t)N * I, 8), *sc = calloc((size_t)T, 8);
    const double *we = s_v(c, "embeddings.word_embeddings.weight"),
                 *pe = s_v(c, "embeddings.position_embeddings.weight");
    const double *te = s_v(c, "embeddings.token_type_embeddings.weight");
    for (int n = 0; n < N; n++)
        for (int j = 0; j < H; j++)
            x[(size_t)n * H + j] =
                we[(size_t)c->ids[n] * H + j] + pe[(size_t)(n % T) * H + j] + te[(size_t)c->tt[n] * H + j];
    s_ln(x, N, H, s_v(c, "embeddings.LayerNorm.weight"), s_v(c, "embeddings.LayerNorm.bias"), cf->layer_norm_eps);
    char nm[128];
#define W(suffix) (snprintf(nm, sizeof nm, "encoder.layer.%d.%s", l, suffix), s_v(c, nm))
    for (int l = 0; l < cf->num_hidden_layers; l++) {
        s_lin(q, x, W("attention.self.query.weight"), W("attention.self.query.bias"), N, H, H);
        s_lin(k, x, W("attention.self.key.weight"), W("attention.self.key.bias"), N, H, H);
        s_lin(v, x, W("attention.self.value.weight"), W("attention.self.value.bias"), N, H, H);
        for (int b = 0; b < B; b++)
            for (int h = 0; h < NH; h++)
                for (int i = 0; i < T; i++) {
                    double mx = -DBL_MAX, se = 0;
                    for (int j = 0; j < T; j++) {
                        double s = 0;
                        for (int d = 0; d < hs; d++)
                            s += q[((size_t)b * T + i) * H + h * hs + d] * k[((size_t)b * T + j) * H + h * hs + d];
                        s = s / sqrt((double)hs) + (c->mask[b * T + j] ? 0.0 : -DBL_MAX);
                        sc[j] = s;
                        if (s > mx) mx = s;
                    }
                    for (int j = 0; j < T; j++) se += (sc[j] = exp(sc[j] - mx));
                    for (int d = 0; d < hs; d++) {
                        double a = 0;
                        for (int j = 0; j < T; j++) a += sc[j] / se * v[((size_t)b * T + j) * H + h * hs + d];
                        ctx[((size_t)b * T + i) * H + h * hs + d] = a;
                    }
                }
        s_lin(t1, ctx, W("attention.output.dense.weight"), W("attention.output.dense.bias"), N, H, H);
        for (size_t i = 0; i < (size_t)N * H; i++) x[i] += t1[i];
        s_ln(x, N, H, W("attention.output.LayerNorm.weight"), W("attention.output.LayerNorm.bias"), cf->layer_norm_eps);
        s_lin(inter, x, W("intermediate.dense.weight"), W("intermediate.dense.bias"), N, H, I);
        for (size_t i = 0; i < (size_t)N * I; i++) inter[i] = 0.5 * inter[i] * (1.0 + erf(inter[i] / sqrt(2.0)));
        s_lin(t1, inter, W("output.dense.weight"), W("output.dense.bias"), N, I, H);
        for (size_t i = 0; i < (size_t)N * H; i++) x[i] += t1[i];
        s_ln(x, N, H, W("output.LayerNorm.weight"), W("output.LayerNorm.bias"), cf->layer_norm_eps);
    }
#undef W
    double loss = 0, logits[16];
    for (int b = 0; b < B; b++) {
        s_lin(logits, x + (size_t)b * T * H, s_v(c, "classifier.weight"), s_v(c, "classifier.bias"), 1, H, C);
        double mx = logits[0], se = 0;
        for (int j = 1; j < C; j++) mx = fmax(mx, logits[j]);
        for (int j = 0; j < C; j++) se += exp(logits[j] - mx);
        loss += log(se) + mx - logits[c->labels[b]];
    }
    free(x), free(q), free(k), free(v), free(ctx), free(t1), free(inter), free(sc);
    return loss / B;
}

int main(void) {
    char err[HB_ERR_LEN];
    bert_config cf = {.vocab_size = 30,
                      .hidden_size = 12,
                      .num_hidden_layers = 2,
                      .num_attention_heads = 3,
                      .intermediate_size = 20,
                      .max_position_embeddings = 8,
                      .type_vocab_size = 2,
                      .layer_norm_eps = 1e-12f};
    const int B = 2, T = 5, C = 3;
    bert_model *m;
    CHECK_OK(bert_new(&m, &cf, C, B, T, err), err);
    bert_init_random(m, 5);
    /* spread the weights (HF's 0.02 leaves attention uniform) and move LayerNorm off 1/0 */
    uint64_t r = 0x9E3779B97F4A7C15ull;
    for (int vi = 0; vi < m->params.nviews; vi++) {
        const params_view *v = &m->params.views[vi];
        float *p = m->params.data + v->offset;
        for (size_t i = 0; i < v->numel; i++) {
            r ^= r << 13, r ^= r >> 7, r ^= r << 17;
            float u = (float)(r >> 40) / (float)(1 << 24) - 0.5f;
            p[i] = v->ndim == 2 ? 0.6f * u : p[i] + 0.2f * u;
        }
    }
    const int32_t ids[10] = {2, 7, 11, 7, 19, 2, 25, 3, 0, 0}, tt[10] = {0, 0, 1, 1, 1, 0, 0, 0, 0, 0};
    const uint8_t mask[10] = {1, 1, 1, 1, 1, 1, 1, 1, 0, 0};
    const int32_t labels[2] = {2, 0};
    bert_zero_grad(m);
    float lf = bert_forward(m, ids, tt, mask, labels, B, T, 1);
    bert_backward(m);

    const size_t n = m->params.numel;
    double *p = malloc(n * sizeof *p);
    for (size_t i = 0; i < n; i++) p[i] = m->params.data[i];
    s_ctx c = {m, p, ids, tt, labels, mask, B, T};
    double ld = s_loss(&c);
    CHECK(fabs(ld - lf) < 1e-5 * fabs(ld), "float loss %.9g vs double %.9g", lf, ld);
    t_ok("double-precision naive forward: loss %.9f, the float model's %.9f", ld, lf);

    int checked = 0;
    double worst = 0;
    const char *worst_name = "";
    for (int vi = 0; vi < m->params.nviews; vi++) {
        const params_view *v = &m->params.views[vi];
        const float *g = m->grads + v->offset;
        double gmax = 0;
        for (size_t i = 0; i < v->numel; i++) gmax = fmax(gmax, fabs(g[i]));
        /* samples: entries of used rows for the embedding tables, spread entries otherwise */
        size_t idx[6];
        int ns = 0;
        if (strstr(v->name, "word_embeddings")) {
            const int rows[3] = {7, 25, 29}; /* 29: never used, its gradient must be 0 */
            for (int k = 0; k < 3; k++) idx[ns++] = (size_t)rows[k] * cf.hidden_size + (size_t)(5 * k) % 12;
        } else {
            for (int k = 0; k < 6 && k < (int)v->numel; k++) idx[ns++] = ((size_t)k * 7919 + 3) % v->numel;
        }
        double verr = 0;
        for (int k = 0; k < ns; k++) {
            double *pp = p + v->offset + idx[k], keep = *pp, h = 1e-5;
            *pp = keep + h;
            double lp = s_loss(&c);
            *pp = keep - h;
            double lm = s_loss(&c);
            *pp = keep;
            double num = (lp - lm) / (2 * h), an = g[idx[k]];
            double tol = 1e-4 * fmax(gmax, fabs(num)) + 1e-7;
            CHECK(fabs(num - an) <= tol, "%s[%zu]: analytic %.9g numeric %.9g (tol %.2g)", v->name, idx[k], an, num,
                  tol);
            /* a tensor with no gradient at all (the key bias: softmax ignores a
             * per-row shift): judge the absolute size of the numeric one */
            double e = gmax > 0 ? fabs(num - an) / fmax(gmax, fabs(num)) : fabs(num);
            verr = fmax(verr, e);
            checked++;
        }
        if (gmax > 0) {
            printf("  %-50s %d samples, max |an-num| / max|grad| %.2e\n", v->name, ns, verr);
            if (verr > worst) worst = verr, worst_name = v->name;
        } else {
            printf("  %-50s %d samples, analytic 0, max |numeric| %.1e\n", v->name, ns, verr);
        }
    }
    t_ok("%d sampled entries of all %d parameter tensors: analytic (float) vs central differences (double, h=1e-5), "
         "worst %.1e in %s",
         checked, m->params.nviews, worst, worst_name);
    free(p);
    bert_destroy(&m);
    return 0;
}
