/*
 * test_bert_dropout_keys.c - dropout masks keyed by sample
 * (bert_set_dropout_samples): a sample's masks are a function of (seed,
 * step, sample id) alone, so the distributed trainer can recompute a slice
 * anywhere and get the same bits (coordinator/rounds.c).
 *
 * Checked on a small model with every dropout at 0.3 and three samples of
 * different lengths (so the batch's trimmed length changes with its members):
 *  - the logits of a sample are the same (1e-5) alone, first or last in a
 *    batch, beside a longer or a shorter sample;
 *  - the gradient of a batch is the mean of its samples' gradients taken one
 *    by one (1e-5 of the largest): the backward's masks are the forward's,
 *    per sample;
 *  - finite differences of the loss (float64 sums of float32 forwards,
 *    masks fixed by their keys) match the analytic gradient;
 *  - another step or another sample id draws other masks; the same call
 *    twice gives the same bits; bert_set_seed goes back to keying by forward.
 */
#include <string.h>

#include "bert.h"
#include "check.h"
#include "hb_error.h"

#define B_MAX 3
#define T_MAX 7

static const int32_t s_ids[B_MAX][T_MAX] = {
    {1, 5, 9, 3, 7, 2, 4}, {1, 8, 6, 0, 0, 0, 0}, {1, 4, 11, 12, 2, 0, 0}};
static const int s_len[B_MAX] = {7, 3, 5};
static const int32_t s_lab[B_MAX] = {2, 0, 1};
static const uint32_t s_sid[B_MAX] = {40, 41, 42};

/* forward of samples order[0..n) (rows of the table above) at step `step` */
static float s_fwd(bert_model *m, const int *order, int n, uint64_t step, int train) {
    int32_t ids[B_MAX * T_MAX], lab[B_MAX];
    uint8_t mask[B_MAX * T_MAX];
    uint32_t sid[B_MAX];
    for (int b = 0; b < n; b++) {
        int k = order[b];
        for (int t = 0; t < T_MAX; t++) {
            ids[b * T_MAX + t] = s_ids[k][t];
            mask[b * T_MAX + t] = t < s_len[k];
        }
        lab[b] = s_lab[k];
        sid[b] = s_sid[k];
    }
    bert_set_dropout_samples(m, step, sid, n);
    return bert_forward(m, ids, NULL, mask, lab, n, T_MAX, train);
}

static double s_maxabs(const float *x, size_t n) {
    double mx = 0;
    for (size_t i = 0; i < n; i++) mx = fabs(x[i]) > mx ? fabs(x[i]) : mx;
    return mx;
}

int main(void) {
    char err[HB_ERR_LEN];
    bert_config cf = {.vocab_size = 16,
                      .hidden_size = 16,
                      .num_hidden_layers = 2,
                      .num_attention_heads = 2,
                      .intermediate_size = 24,
                      .max_position_embeddings = T_MAX,
                      .type_vocab_size = 2,
                      .layer_norm_eps = 1e-12f,
                      .hidden_dropout_prob = 0.3f,
                      .attention_probs_dropout_prob = 0.3f,
                      .classifier_dropout = 0.3f};
    const int C = 3;
    bert_model *m;
    CHECK_OK(bert_new(&m, &cf, C, B_MAX, T_MAX, err), err);
    bert_init_random(m, 11);
    /* spread the weights (0.02 leaves attention uniform: its dropout would hide) */
    uint64_t r = 0x9E3779B97F4A7C15ull;
    for (size_t i = 0; i < m->params.numel; i++) {
        r ^= r << 13, r ^= r >> 7, r ^= r << 17;
        m->params.data[i] += 0.3f * ((float)(r >> 40) / (float)(1 << 24) - 0.5f);
    }
    bert_set_seed(m, 1234);
    const size_t P = m->params.numel;

    /* 1. logits per sample, whatever the batch */
    const int all[3] = {0, 1, 2}, rev[3] = {2, 1, 0};
    float ref[B_MAX][8];
    s_fwd(m, all, 3, 5, 1);
    for (int b = 0; b < 3; b++) memcpy(ref[b], m->logits + b * C, C * sizeof(float));
    double worst = 0;
    s_fwd(m, rev, 3, 5, 1);
    for (int b = 0; b < 3; b++)
        for (int k = 0; k < C; k++) worst = fmax(worst, fabs(m->logits[b * C + k] - ref[rev[b]][k]));
    for (int s = 0; s < 3; s++) { /* alone: the trimmed length is the sample's own */
        s_fwd(m, &s, 1, 5, 1);
        for (int k = 0; k < C; k++) worst = fmax(worst, fabs(m->logits[k] - ref[s][k]));
    }
    const int pair[2] = {1, 2}; /* without the longest: a shorter trimmed length */
    s_fwd(m, pair, 2, 5, 1);
    for (int b = 0; b < 2; b++)
        for (int k = 0; k < C; k++) worst = fmax(worst, fabs(m->logits[b * C + k] - ref[pair[b]][k]));
    double scale = s_maxabs(&ref[0][0], sizeof ref / sizeof(float)) + 1;
    CHECK(worst < 1e-5 * scale, "a sample's logits depend on its batch: %g", worst);
    /* and dropout is on: eval logits differ */
    s_fwd(m, all, 3, 5, 0);
    double dev = 0;
    for (int b = 0; b < 3; b++)
        for (int k = 0; k < C; k++) dev = fmax(dev, fabs(m->logits[b * C + k] - ref[b][k]));
    CHECK(dev > 1e-3, "train logits equal eval logits (%g): dropout off?", dev);
    t_ok("a sample's train-mode logits are the same alone, reordered or beside shorter samples (worst %.1e; "
         "eval differs by %.2f)",
         worst, dev);

    /* 2. gradient of the batch = mean of the per-sample gradients */
    float *g3 = hb_malloc(P * sizeof(float)), *gs = hb_calloc(P, sizeof(float));
    bert_zero_grad(m);
    s_fwd(m, all, 3, 5, 1);
    bert_backward(m);
    memcpy(g3, m->grads, P * sizeof(float));
    for (int s = 0; s < 3; s++) {
        bert_zero_grad(m);
        s_fwd(m, &s, 1, 5, 1);
        bert_backward(m);
        for (size_t i = 0; i < P; i++) gs[i] += m->grads[i] / 3.0f;
    }
    double gerr = 0, gmax = s_maxabs(g3, P);
    for (size_t i = 0; i < P; i++) gerr = fmax(gerr, fabs(g3[i] - gs[i]));
    CHECK(gerr < 1e-5 * gmax, "batch gradient vs mean of per-sample gradients: %g (max %g)", gerr, gmax);
    t_ok("the batch's gradient is the mean of its samples' gradients taken alone (%.1e of the largest %.3f)",
         gerr / gmax, gmax);

    /* 3. finite differences with the masks fixed by their keys */
    int checked = 0;
    double fd_worst = 0;
    for (int vi = 0; vi < m->params.nviews; vi++) {
        const params_view *v = &m->params.views[vi];
        if (!strcmp(v->name, "encoder.layer.0.attention.self.key.bias")) continue; /* no gradient by design */
        /* the entry of the tensor with the largest gradient */
        size_t best = v->offset;
        for (size_t i = v->offset; i < v->offset + v->numel; i++)
            if (fabs(g3[i]) > fabs(g3[best])) best = i;
        if (fabs(g3[best]) < 1e-3) continue;
        float keep = m->params.data[best];
        const float h = 1e-2f;
        m->params.data[best] = keep + h;
        double lp = s_fwd(m, all, 3, 5, 1);
        m->params.data[best] = keep - h;
        double lm = s_fwd(m, all, 3, 5, 1);
        m->params.data[best] = keep;
        double num = (lp - lm) / (2.0 * h), rel = fabs(num - g3[best]) / fabs(g3[best]);
        CHECK(rel < 3e-2, "%s[%zu]: analytic %g, finite differences %g", v->name, best - v->offset, g3[best], num);
        fd_worst = fmax(fd_worst, rel);
        checked++;
    }
    CHECK(checked >= 10, "only %d tensors checked", checked);
    t_ok("finite differences under sample-keyed dropout match the analytic gradient in %d tensors (worst %.1e "
         "relative)",
         checked, fd_worst);

    /* 4. what the key is made of */
    float l5 = s_fwd(m, all, 3, 5, 1), l5b = s_fwd(m, all, 3, 5, 1), l6 = s_fwd(m, all, 3, 6, 1);
    CHECK(memcmp(&l5, &l5b, sizeof l5) == 0, "the same keys twice: another loss");
    CHECK(l6 != l5, "another step: the same loss");
    int32_t ids[T_MAX];
    uint8_t mask[T_MAX];
    for (int t = 0; t < T_MAX; t++) ids[t] = s_ids[0][t], mask[t] = 1;
    uint32_t other = 99;
    bert_set_dropout_samples(m, 5, &other, 1);
    float lo = bert_forward(m, ids, NULL, mask, s_lab, 1, T_MAX, 1);
    int zero = 0;
    float la = s_fwd(m, &zero, 1, 5, 1);
    CHECK(lo != la, "another sample id: the same loss");
    bert_set_dropout_samples(m, 5, s_sid, 1);
    int32_t ids2[2 * T_MAX];
    uint8_t mask2[2 * T_MAX];
    for (int i = 0; i < 2 * T_MAX; i++) ids2[i] = 1, mask2[i] = 1;
    CHECK(isnan(bert_forward(m, ids2, NULL, mask2, s_lab, 2, T_MAX, 1)), "a forward of more rows than keys");
    bert_set_seed(m, 1234);
    CHECK(m->n_drop_keys == 0, "bert_set_seed keys by forward again");
    t_ok("same keys: same bits; another step or sample id: other masks; more rows than keys refused; "
         "bert_set_seed goes back to keying by forward");
    free(g3);
    free(gs);
    bert_destroy(&m);
    return 0;
}
