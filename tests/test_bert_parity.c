/*
 * test_bert_parity.c - the C encoder against the float64 PyTorch reference
 * (tests/reference/bert_ref.py wrote tests/fixtures/bert_<name>/ from the
 * same model.safetensors): loss within 1e-5 relative; logits, [CLS] vectors,
 * every gradient tensor and every parameter after three AdamW steps within
 * 1e-4 (max abs error / max abs reference, per tensor). Prints each tensor's
 * error. Also: train-mode dropout is deterministic (same seed, same bits) and
 * a different seed gives different masks.
 */
#include <string.h>

#include "bert.h"
#include "bert_fixture.h"
#include "check.h"
#include "hb_error.h"
#include "optim.h"
#include "safetensors.h"

static double s_compare_all(const bert_model *m, const float *buf, const safetensors_file *f, const char *prefix,
                            const char *what) {
    double worst = 0, scale = 0;
    const char *worst_name = "";
    /* the largest reference value over all tensors: the floor of the
     * denominator for tensors that are analytically zero (the key bias
     * gradient: softmax ignores a per-row constant q.b_k), whose float64
     * reference is rounding noise around 0 */
    for (int i = 0; i < m->params.nviews; i++) {
        char name[PARAMS_NAME_LEN + 16];
        snprintf(name, sizeof name, "%s%s", prefix, m->params.views[i].name);
        double *ref = fx_ref(f, name, m->params.views[i].numel);
        for (size_t k = 0; k < m->params.views[i].numel; k++) scale = fmax(scale, fabs(ref[k]));
        free(ref);
    }
    for (int i = 0; i < m->params.nviews; i++) {
        const params_view *v = &m->params.views[i];
        char name[PARAMS_NAME_LEN + 16];
        snprintf(name, sizeof name, "%s%s", prefix, v->name);
        double *ref = fx_ref(f, name, v->numel);
        double e = t_rel_err(buf + v->offset, ref, v->numel), mx = 0;
        for (size_t k = 0; k < v->numel; k++) mx = fmax(mx, fabs(ref[k]));
        const int zero = mx < 1e-9 * scale;
        if (zero) e = e * mx / scale; /* abs err over the largest reference of all tensors */
        printf("  %-8s %-52s %s %.2e\n", what, v->name, zero ? "abs err/max (ref is 0)" : "rel err", e);
        CHECK(e < 1e-4, "%s %s: rel err %g >= 1e-4", what, v->name, e);
        if (e > worst) {
            worst = e;
            worst_name = v->name;
        }
        free(ref);
    }
    printf("  %s: worst %s %.2e\n", what, worst_name, worst);
    return worst;
}

static void s_case(const char *name) {
    char err[HB_ERR_LEN], dir[1024], path[1200];
    snprintf(dir, sizeof dir, "%s/tests/fixtures/bert_%s", HB_SOURCE_DIR, name);
    snprintf(path, sizeof path, "%s/expected.safetensors", dir);
    safetensors_file *f;
    CHECK_OK(safetensors_open(&f, path, err), err);
    size_t n_ids, n_tt, n_mask, n_lab, n_c;
    int32_t *ids = fx_i32(f, "input.ids", &n_ids), *tt = fx_i32(f, "input.token_type", &n_tt);
    int32_t *mask32 = fx_i32(f, "input.mask", &n_mask), *labels = fx_i32(f, "input.labels", &n_lab);
    int32_t *nc = fx_i32(f, "num_classes", &n_c);
    const int B = (int)n_lab, T = (int)(n_ids / n_lab), C = nc[0];
    uint8_t *mask = malloc(n_mask);
    int padded = 0;
    for (size_t i = 0; i < n_mask; i++) padded += !(mask[i] = (uint8_t)mask32[i]);

    bert_config cfg;
    snprintf(path, sizeof path, "%s/config.json", dir);
    CHECK_OK(bert_config_read(&cfg, path, err), err);
    bert_model *m;
    CHECK_OK(bert_new(&m, &cfg, C, B, T, err), err);
    int has_head = 0;
    CHECK_OK(bert_load_dir_ex(m, dir, &has_head, err), err);
    CHECK(has_head, "fixture model has a classifier");
    printf("# %s: H=%d layers=%d heads=%d B=%d T=%d C=%d, %d padded positions\n", name, cfg.hidden_size,
           cfg.num_hidden_layers, cfg.num_attention_heads, B, T, C, padded);

    /* forward + backward (train path, dropout probabilities are 0 in this config) */
    bert_zero_grad(m);
    float loss = bert_forward(m, ids, tt, mask, labels, B, T, 1);
    double ref_loss = fx_scalar(f, "loss");
    double lerr = fabs(loss - ref_loss) / fabs(ref_loss);
    CHECK(lerr < 1e-5, "loss %.9g vs %.9g: rel %g", loss, ref_loss, lerr);
    double *ref = fx_ref(f, "logits", (size_t)B * C);
    double e = t_rel_err(m->logits, ref, (size_t)B * C);
    free(ref);
    CHECK(e < 1e-4, "logits rel err %g", e);
    t_ok("%s: loss %.8f vs torch %.8f (rel %.1e), logits rel err %.1e", name, loss, ref_loss, lerr, e);
    bert_backward(m);
    double gw = s_compare_all(m, m->grads, f, "grad.", "grad");
    t_ok("%s: all %d gradient tensors within 1e-4 (worst %.1e)", name, m->params.nviews, gw);

    /* [CLS] vectors; the eval path (token types 0, no dropout) gives those of an eval forward */
    const size_t BH = (size_t)B * cfg.hidden_size;
    float *cls = malloc(BH * sizeof(float)), *cls2 = malloc(BH * sizeof(float));
    float *lg = malloc((size_t)B * C * sizeof(float)), *lg2 = malloc((size_t)B * C * sizeof(float));
    bert_cls_vectors(m, cls);
    ref = fx_ref(f, "cls", BH);
    e = t_rel_err(cls, ref, BH);
    free(ref);
    CHECK(e < 1e-4, "cls rel err %g", e);
    bert_forward(m, ids, NULL, mask, NULL, B, T, 0);
    bert_cls_vectors(m, cls);
    memcpy(lg, m->logits, (size_t)B * C * sizeof(float));
    CHECK(bert_embed_cls(m, ids, mask, B, T, cls2, lg2) == 0, "embed_cls");
    CHECK(memcmp(cls, cls2, BH * sizeof(float)) == 0 && memcmp(lg, lg2, (size_t)B * C * sizeof(float)) == 0,
          "bert_embed_cls = eval forward's [CLS] and logits");
    CHECK(bert_embed_cls(m, ids, mask, B + 1, T, cls2, NULL) == -1, "batch beyond the arena refused");
    t_ok("%s: [CLS] vectors rel err %.1e; bert_embed_cls gives the eval forward's [CLS] and logits, refuses B > max",
         name, e);

    /* a bigger arena (max batch and length above this batch's) gives the same results */
    bert_model *big;
    CHECK_OK(bert_new(&big, &cfg, C, B + 2, T + 3 <= cfg.max_position_embeddings ? T + 3 : T, err), err);
    /* (T + 3 fits both fixtures' 16/20 positions) */
    CHECK_OK(bert_load_dir(big, dir, err), err);
    /* ... also on the batch widened by 3 trailing all-padding positions, which
     * bert_forward trims (their keys get exactly zero attention) */
    const int T3 = T + 3 <= cfg.max_position_embeddings ? T + 3 : T;
    int32_t *ids3 = calloc((size_t)B * T3, 4), *tt3 = calloc((size_t)B * T3, 4);
    uint8_t *mask3 = calloc((size_t)B * T3, 1);
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            ids3[b * T3 + t] = ids[b * T + t];
            tt3[b * T3 + t] = tt[b * T + t];
            mask3[b * T3 + t] = mask[b * T + t];
        }
    bert_zero_grad(big);
    float lbig = bert_forward(big, ids3, tt3, mask3, labels, B, T3, 1);
    CHECK(big->T == T, "trailing padding trimmed: T %d", big->T);
    bert_backward(big);
    free(ids3), free(tt3), free(mask3);
    bert_zero_grad(m);
    bert_forward(m, ids, tt, mask, labels, B, T, 1);
    bert_backward(m);
    double gbig = 0;
    for (int i = 0; i < m->params.nviews; i++) {
        const params_view *v = &m->params.views[i];
        double md = 0, mr = 0;
        for (size_t k = 0; k < v->numel; k++) {
            md = fmax(md, fabs((double)big->grads[v->offset + k] - m->grads[v->offset + k]));
            mr = fmax(mr, fabs((double)m->grads[v->offset + k]));
        }
        gbig = fmax(gbig, mr > 0 ? md / mr : md);
    }
    CHECK(fabs(lbig - m->loss) <= 1e-6 * fabs(m->loss) && gbig < 1e-5, "bigger arena: loss %g vs %g, grads %g", lbig,
          m->loss, gbig);
    bert_destroy(&big);
    t_ok("%s: a model sized for %d x %d, given the batch widened by 3 all-padding positions (trimmed), gives the same "
         "loss and gradients (rel %.1e)",
         name, B + 2, T3, gbig);

    /* three AdamW steps on the same batch */
    optim_config oc = optim_default_config();
    oc.lr = fx_scalar(f, "optim.lr");
    oc.weight_decay = fx_scalar(f, "optim.weight_decay");
    oc.warmup_steps = (long)fx_scalar(f, "optim.warmup_steps");
    oc.total_steps = (long)fx_scalar(f, "optim.total_steps");
    oc.beta1 = fx_scalar(f, "optim.beta1");
    oc.beta2 = fx_scalar(f, "optim.beta2");
    oc.eps = fx_scalar(f, "optim.eps");
    adamw_state opt;
    adamw_init(&opt, &m->params, oc);
    /* grads from the first forward are still in m->grads; redo it to keep the step helper honest */
    for (int step = 1; step <= 3; step++) {
        float l = bert_train_step(m, &opt, ids, tt, mask, labels, B, T);
        CHECK(!isnan(l), "train step %d", step);
    }
    double pw = s_compare_all(m, m->params.data, f, "step3.", "step3");
    t_ok("%s: every parameter after 3 AdamW steps (warm-up, decay) within 1e-4 (worst %.1e)", name, pw);

    /* dropout: deterministic per seed, different across seeds */
    bert_config dc = cfg;
    dc.hidden_dropout_prob = 0.1f;
    dc.attention_probs_dropout_prob = 0.1f;
    dc.classifier_dropout = 0.2f;
    bert_model *d1, *d2;
    CHECK_OK(bert_new(&d1, &dc, C, B, T, err), err);
    CHECK_OK(bert_new(&d2, &dc, C, B, T, err), err);
    CHECK_OK(bert_load_dir(d1, dir, err), err);
    CHECK_OK(bert_load_dir(d2, dir, err), err);
    bert_set_seed(d1, 7);
    bert_set_seed(d2, 7);
    bert_zero_grad(d1);
    bert_zero_grad(d2);
    float la = bert_forward(d1, ids, tt, mask, labels, B, T, 1), lb = bert_forward(d2, ids, tt, mask, labels, B, T, 1);
    bert_backward(d1);
    bert_backward(d2);
    CHECK(memcmp(&la, &lb, sizeof la) == 0, "same seed, same loss bits");
    CHECK(memcmp(d1->grads, d2->grads, d1->params.numel * sizeof(float)) == 0, "same seed, same gradient bits");
    CHECK(la != loss, "dropout changes the loss (%g vs %g)", la, loss);
    bert_set_seed(d2, 8);
    float lc = bert_forward(d2, ids, tt, mask, labels, B, T, 1);
    CHECK(lc != la, "another seed, another loss");
    float le = bert_forward(d2, ids, tt, mask, labels, B, T, 0);
    bert_set_seed(d1, 99);
    float lf = bert_forward(d1, ids, tt, mask, labels, B, T, 0);
    CHECK(le == lf && fabs(le - ref_loss) / ref_loss < 1e-5, "eval mode ignores dropout and seed");
    t_ok("%s: train-mode dropout deterministic (seed 7 twice: identical loss and gradient bits), seed 8 differs, "
         "eval mode unaffected",
         name);

    bert_destroy(&d1);
    bert_destroy(&d2);
    adamw_free(&opt);
    bert_destroy(&m);
    CHECK(m == NULL, "destroy nulls the pointer");
    safetensors_close(&f);
    free(ids), free(tt), free(mask32), free(labels), free(nc), free(mask), free(cls), free(lg), free(cls2), free(lg2);
}

int main(void) {
    s_case("pad");
    s_case("h40");
    return 0;
}
