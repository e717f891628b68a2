/*
 * test_bert_bf16.c - the encoder in bf16 precision (bert_set_precision,
 * matmul.h) against the float64 PyTorch reference, our fp32 path and
 * PyTorch's own mixed precision (torch.autocast("cpu", torch.bfloat16),
 * tests/fixtures/bert_<name>/autocast_bf16.safetensors), on both fixtures.
 *
 * Tolerances, from bf16's 8-bit significand: unit roundoff u = 2^-8. A
 * product whose two inputs are rounded to bf16 (fp32 accumulation) errs by at
 * most 2u of sum |x_k w_k| per output: about 2u relative where terms do not
 * cancel. Along any path through one encoder layer a signal crosses at most 4
 * rounded products in series (projection, scores, context, output dense; or
 * intermediate and output dense), and LayerNorm rescales rather than
 * amplifies, so forward outputs (logits, [CLS], loss) stay within
 * 2u (4 L + 1) relative (the +1: the classifier); backward crosses each
 * product's mirror as well: gradients within 2u (8 L + 2). Errors are max
 * abs difference / max abs reference, per tensor. The tight check is the
 * comparison with autocast: our worst error against float64 (over the forward
 * outputs; over the gradients) is at most twice PyTorch's (its products also
 * round their outputs to bf16; ours keep fp32).
 *
 * Also: bf16 really rounds (its results differ from fp32's and err more); a
 * write into params.data is seen by the next forward (the weights' bf16 copy
 * is never stale); the same seed and threads give the same bits with dropout
 * on; trailing padding is cut to a multiple of 16 positions with the same
 * results; HB_NO_BF16=1 makes bert_set_precision refuse with the reason and leaves
 * the model in fp32. Without native bf16 the comparisons are skipped (said on
 * a "skipped" line) and only the refusal is checked.
 */
#include <string.h>

#include "bert.h"
#include "bert_fixture.h"
#include "check.h"
#include "cpu_features.h"
#include "hb_error.h"

static const double U = 1.0 / 256.0; /* bf16 unit roundoff, 2^-8 */

static int s_is_key_bias(const char *name) {
    size_t n = strlen(name);
    return n >= 23 && strcmp(name + n - 23, "attention.self.key.bias") == 0;
}

typedef struct {
    int B, T, C;
    int32_t *ids, *tt, *labels;
    uint8_t *mask;
} s_batch;

static bert_model *s_load(const char *dir, const bert_config *cfg, const s_batch *b, mm_precision p) {
    char err[HB_ERR_LEN];
    bert_model *m;
    CHECK_OK(bert_new(&m, cfg, b->C, b->B, b->T, err), err);
    CHECK_OK(bert_load_dir(m, dir, err), err);
    CHECK_OK(bert_set_precision(m, p, err), err);
    return m;
}

/* zero_grad, training forward, backward: the loss */
static float s_fwd_bwd(bert_model *m, const s_batch *b) {
    bert_zero_grad(m);
    float loss = bert_forward(m, b->ids, b->tt, b->mask, b->labels, b->B, b->T, 1);
    bert_backward(m);
    return loss;
}

static void s_case(const char *name) {
    char err[HB_ERR_LEN], dir[1024], path[1200];
    snprintf(dir, sizeof dir, "%s/tests/fixtures/bert_%s", HB_SOURCE_DIR, name);
    safetensors_file *f, *ac;
    snprintf(path, sizeof path, "%s/expected.safetensors", dir);
    CHECK_OK(safetensors_open(&f, path, err), err);
    snprintf(path, sizeof path, "%s/autocast_bf16.safetensors", dir);
    CHECK_OK(safetensors_open(&ac, path, err), err);
    s_batch b;
    size_t n_ids, n_tt, n_mask, n_lab, n_c;
    b.ids = fx_i32(f, "input.ids", &n_ids);
    b.tt = fx_i32(f, "input.token_type", &n_tt);
    int32_t *mask32 = fx_i32(f, "input.mask", &n_mask), *nc = fx_i32(f, "num_classes", &n_c);
    b.labels = fx_i32(f, "input.labels", &n_lab);
    b.B = (int)n_lab, b.T = (int)(n_ids / n_lab), b.C = nc[0];
    b.mask = malloc(n_mask);
    for (size_t i = 0; i < n_mask; i++) b.mask[i] = (uint8_t)mask32[i];
    bert_config cfg;
    snprintf(path, sizeof path, "%s/config.json", dir);
    CHECK_OK(bert_config_read(&cfg, path, err), err);
    const int L = cfg.num_hidden_layers, H = cfg.hidden_size, B = b.B, C = b.C;
    const double tol_f = 2 * U * (4 * L + 1), tol_g = 2 * U * (8 * L + 2);
    printf("# %s: H=%d layers=%d B=%d T=%d; tolerances: forward 2u(4L+1) = %.4f, gradients 2u(8L+2) = %.4f\n", name, H,
           L, B, b.T, tol_f, tol_g);

    bert_model *m = s_load(dir, &cfg, &b, MM_BF16), *m32 = s_load(dir, &cfg, &b, MM_FP32);
    CHECK(mm_get_precision(m->mm) == MM_BF16 && mm_get_precision(m32->mm) == MM_FP32, "precisions set");
    const float loss = s_fwd_bwd(m, &b), loss32 = s_fwd_bwd(m32, &b);

    /* forward: loss, logits, [CLS] */
    const double ref_loss = fx_scalar(f, "loss"), ac_loss = fx_scalar(ac, "loss");
    const double e_loss = fabs(loss - ref_loss) / fabs(ref_loss), e_loss_ac = fabs(ac_loss - ref_loss) / fabs(ref_loss);
    const size_t BH = (size_t)B * H;
    float *cls = malloc(BH * sizeof(float)), *cls32 = malloc(BH * sizeof(float));
    bert_cls_vectors(m, cls);
    bert_cls_vectors(m32, cls32);
    double *r_lg = fx_ref(f, "logits", (size_t)B * C), *a_lg = fx_ref(ac, "logits", (size_t)B * C);
    double *r_cls = fx_ref(f, "cls", BH), *a_cls = fx_ref(ac, "cls", BH);
    const double e_lg = t_rel_err(m->logits, r_lg, (size_t)B * C), e_lg32 = t_rel_err(m32->logits, r_lg, (size_t)B * C);
    const double e_cls = t_rel_err(cls, r_cls, BH), e_cls32 = t_rel_err(cls32, r_cls, BH);
    const double e_lg_ac = t_rel_err(m->logits, a_lg, (size_t)B * C);
    const double e_cls_ac = t_rel_err(cls, a_cls, BH);
    /* autocast's own error against float64 */
    float *tmp = malloc((BH > (size_t)B * C ? BH : (size_t)B * C) * sizeof(float));
    for (size_t i = 0; i < (size_t)B * C; i++) tmp[i] = (float)a_lg[i];
    const double t_lg = t_rel_err(tmp, r_lg, (size_t)B * C);
    for (size_t i = 0; i < BH; i++) tmp[i] = (float)a_cls[i];
    const double t_cls = t_rel_err(tmp, r_cls, BH);
    printf("  %-8s %10s %10s %10s %12s\n", "", "bf16-f64", "fp32-f64", "torch-f64", "bf16-torch");
    printf("  %-8s %10.2e %10.2e %10.2e\n", "loss", e_loss, fabs(loss32 - ref_loss) / fabs(ref_loss), e_loss_ac);
    printf("  %-8s %10.2e %10.2e %10.2e %12.2e\n", "logits", e_lg, e_lg32, t_lg, e_lg_ac);
    printf("  %-8s %10.2e %10.2e %10.2e %12.2e\n", "cls", e_cls, e_cls32, t_cls, e_cls_ac);
    CHECK(e_loss < tol_f && e_lg < tol_f && e_cls < tol_f, "bf16 forward vs float64: loss %g logits %g cls %g (tol %g)",
          e_loss, e_lg, e_cls, tol_f);
    CHECK(e_lg_ac < tol_f && e_cls_ac < tol_f, "bf16 vs autocast: logits %g cls %g", e_lg_ac, e_cls_ac);
    /* worst over the forward outputs (a few logits alone are a small sample) */
    const double w_ours = fmax(e_lg, e_cls), w_torch = fmax(t_lg, t_cls);
    CHECK(w_ours <= 2 * w_torch, "bf16 forward error %g more than twice autocast's %g", w_ours, w_torch);
    /* bf16 really rounded: not the fp32 results, and further from float64 */
    CHECK(memcmp(cls, cls32, BH * sizeof(float)) != 0 && e_cls > 4 * e_cls32,
          "bf16 path computed in bf16 (cls error %g vs fp32's %g)", e_cls, e_cls32);
    t_ok("%s: bf16 forward within 2u(4L+1) = %.3f of float64 (loss %.1e, logits %.1e, [CLS] %.1e) and of autocast; "
         "worst %.1e, autocast's own %.1e (at most twice); %.0fx fp32's error, so it did round",
         name, tol_f, e_loss, e_lg, e_cls, w_ours, w_torch, e_cls / e_cls32);

    /* every gradient tensor */
    double worst = 0, worst_ac = 0, worst_torch = 0;
    const char *worst_name = "";
    for (int i = 0; i < m->params.nviews; i++) {
        const params_view *v = &m->params.views[i];
        char n[PARAMS_NAME_LEN + 8];
        snprintf(n, sizeof n, "grad.%s", v->name);
        const float *g = m->grads + v->offset;
        if (s_is_key_bias(v->name)) {
            for (size_t k = 0; k < v->numel; k++) CHECK(g[k] == 0.0f, "%s: exactly 0 (softmax ignores it)", v->name);
            continue;
        }
        double *r = fx_ref(f, n, v->numel), *a = fx_ref(ac, n, v->numel);
        float *af = malloc(v->numel * sizeof(float));
        for (size_t k = 0; k < v->numel; k++) af[k] = (float)a[k];
        const double e = t_rel_err(g, r, v->numel), e32 = t_rel_err(m32->grads + v->offset, r, v->numel);
        const double et = t_rel_err(af, r, v->numel), eac = t_rel_err(g, a, v->numel);
        printf("  grad %-48s bf16 %.2e  fp32 %.2e  torch %.2e  bf16-torch %.2e\n", v->name, e, e32, et, eac);
        CHECK(e < tol_g && eac < tol_g, "%s: bf16 gradient error %g vs float64, %g vs autocast (tol %g)", v->name, e,
              eac, tol_g);
        if (e > worst) worst = e, worst_name = v->name;
        worst_ac = fmax(worst_ac, eac);
        worst_torch = fmax(worst_torch, et);
        free(r), free(a), free(af);
    }
    CHECK(worst <= 2 * worst_torch, "worst bf16 gradient error %g > twice autocast's %g", worst, worst_torch);
    t_ok("%s: every gradient within 2u(8L+2) = %.3f of float64 (worst %s %.1e) and of autocast (worst %.1e); "
         "autocast's own worst %.1e; key bias gradient exactly 0",
         name, tol_g, worst_name, worst, worst_ac, worst_torch);

    /* trailing padding: bf16 trims it to a multiple of 16 positions (bounding
     * oneDNN's primitives), not to the longest row; masked keys get exactly
     * zero attention, so the results are those of the trimmed batch up to
     * bf16's rounding of a differently blocked product */
    const int T3 = b.T + 3;
    CHECK(T3 <= cfg.max_position_embeddings, "fixture leaves room for 3 positions");
    int32_t *ids3 = calloc((size_t)B * T3, 4), *tt3 = calloc((size_t)B * T3, 4);
    uint8_t *mask3 = calloc((size_t)B * T3, 1);
    for (int r = 0; r < B; r++)
        for (int t = 0; t < b.T; t++) {
            ids3[r * T3 + t] = b.ids[r * b.T + t];
            tt3[r * T3 + t] = b.tt[r * b.T + t];
            mask3[r * T3 + t] = b.mask[r * b.T + t];
        }
    bert_model *w = s_load(dir, &cfg, &(s_batch){.B = B, .T = T3, .C = C}, MM_BF16);
    const float lw = bert_forward(w, ids3, tt3, mask3, b.labels, B, T3, 1);
    const double e_w = fabs(lw - loss) / fabs(loss);
    CHECK(w->T == T3 && e_w < 2 * U, "widened batch: T %d (of %d), loss %g vs %g", w->T, T3, lw, loss);
    t_ok("%s: the batch widened by 3 padding positions runs at T %d (a multiple of 16, or all of it) with the same "
         "loss (rel %.1e)",
         name, w->T, e_w);
    bert_destroy(&w);
    free(ids3), free(tt3), free(mask3);

    /* a write into params.data is seen by the next forward: negating the
     * classifier negates the logits exactly (rounding is sign-symmetric) */
    float *lg0 = malloc((size_t)B * C * sizeof(float));
    bert_forward(m, b.ids, b.tt, b.mask, NULL, B, b.T, 0);
    memcpy(lg0, m->logits, (size_t)B * C * sizeof(float));
    float *cw = m->params.data + m->cls_w, *cb = m->params.data + m->cls_b;
    for (size_t k = 0; k < (size_t)C * H; k++) cw[k] = -cw[k];
    for (int k = 0; k < C; k++) cb[k] = -cb[k];
    bert_forward(m, b.ids, b.tt, b.mask, NULL, B, b.T, 0);
    for (int k = 0; k < B * C; k++)
        CHECK(m->logits[k] == -lg0[k], "logit %d after negating the classifier: %g, was %g", k, m->logits[k], lg0[k]);
    t_ok("%s: a write into params.data reaches the next bf16 forward (negated classifier, negated logits)", name);

    /* dropout on: same seed, same threads, same bits; embed path = eval forward */
    bert_config dc = cfg;
    dc.hidden_dropout_prob = 0.1f;
    dc.attention_probs_dropout_prob = 0.1f;
    dc.classifier_dropout = 0.2f;
    bert_model *d1 = s_load(dir, &dc, &b, MM_BF16), *d2 = s_load(dir, &dc, &b, MM_BF16);
    bert_set_seed(d1, 7);
    bert_set_seed(d2, 7);
    for (int rep = 0; rep < 2; rep++) {
        const float la = s_fwd_bwd(d1, &b), lb = s_fwd_bwd(d2, &b);
        CHECK(memcmp(&la, &lb, sizeof la) == 0, "forward %d: same seed, same loss bits (%g vs %g)", rep, la, lb);
        CHECK(memcmp(d1->grads, d2->grads, d1->params.numel * sizeof(float)) == 0, "same gradient bits");
    }
    float *e1 = malloc(BH * sizeof(float)), *e2 = malloc(BH * sizeof(float));
    CHECK(bert_embed_cls(d1, b.ids, b.mask, B, b.T, e1, NULL) == 0 &&
              bert_embed_cls(d2, b.ids, b.mask, B, b.T, e2, NULL) == 0,
          "embed");
    CHECK(memcmp(e1, e2, BH * sizeof(float)) == 0, "same [CLS] bits in eval");
    t_ok("%s: bf16 with dropout on, seed 7 twice, two forwards each: identical loss, gradient and [CLS] bits", name);

    bert_destroy(&d1), bert_destroy(&d2), bert_destroy(&m), bert_destroy(&m32);
    safetensors_close(&f);
    safetensors_close(&ac);
    free(b.ids), free(b.tt), free(b.labels), free(b.mask), free(mask32), free(nc);
    free(cls), free(cls32), free(r_lg), free(a_lg), free(r_cls), free(a_cls), free(tmp), free(lg0), free(e1), free(e2);
}

/* HB_NO_BF16=1: refused with the reason, the model stays fp32 and works */
static void s_refusal(void) {
    char err[HB_ERR_LEN] = "";
    const char *prev = getenv("HB_NO_BF16");
    char *saved = prev ? strdup(prev) : NULL;
    setenv("HB_NO_BF16", "1", 1);
    bert_config c;
    CHECK_OK(bert_config_preset(&c, "tiny", err), err);
    bert_model *m;
    CHECK_OK(bert_new(&m, &c, 2, 2, 8, err), err);
    bert_init_random(m, 3);
    CHECK(bert_set_precision(m, MM_BF16, err) == -1, "bf16 refused under HB_NO_BF16");
    CHECK(strstr(err, "HB_NO_BF16") && strstr(err, "bf16"), "the reason names HB_NO_BF16: '%s'", err);
    CHECK(mm_get_precision(m->mm) == MM_FP32, "the model stays fp32");
    int32_t ids[16] = {2, 9, 10, 11, 12, 13, 14, 15, 2, 20, 21, 22, 23, 24, 25, 26}, labels[2] = {0, 1};
    CHECK(!isnan(bert_forward(m, ids, NULL, NULL, labels, 2, 8, 0)), "the fp32 model still computes");
    mm_backend *mm;
    CHECK(mm_new(&mm, MM_BF16, 1, err) == -1 && mm == NULL, "mm_new refuses too");
    CHECK(mm_new(&mm, MM_FP32, 1, err) == 0, "fp32 needs nothing");
    mm_destroy(&mm);
    bert_destroy(&m);
    if (saved)
        setenv("HB_NO_BF16", saved, 1);
    else
        unsetenv("HB_NO_BF16");
    free(saved);
    t_ok("HB_NO_BF16=1: bert_set_precision(bf16) refuses with '%s'; the model stays fp32 and runs", err);
}

int main(void) {
    s_refusal();
    char why[256];
    if (!cpu_native_bf16(why, sizeof why)) {
        printf("skipped: bf16 comparisons (%s)\n", why);
        return 0;
    }
    printf("# native bf16: %s\n", why);
    s_case("pad");
    s_case("h40");
    return 0;
}
