/*
 * test_lstm_gradcheck.c - the head's backward pass against central finite
 * differences in double precision, on a batch with mixed lengths.
 *
 * The loss for the differences comes from a naive double-precision forward
 * (tests/lstm_ref_f64.h: one document at a time, no packing, no BLAS), so it
 * is an independent check of model/lstm.c's forward as well: probabilities
 * and loss must agree to float precision first. Then every parameter of
 * every tensor is perturbed (+-1e-6 in double) and the float gradient must
 * match per tensor within 1e-4 relative (max abs error / max abs value).
 * Last, a document's probabilities do not depend on the other documents of
 * its batch (alone vs. in a mixed batch): padding and batching change nothing.
 */
#include <string.h>

#include "check.h"
#include "lstm.h"
#include "lstm_ref_f64.h"

enum { NDOC = 6 };
static const int s_lens[NDOC] = {3, 1, 5, 2, 5, 4};
static const int s_labels[NDOC] = {0, 2, 1, 1, 0, 2};

static double s_ref_loss(const lstm_config *c, const double *p, const params_table *t, const float *const *x,
                         double *probs) {
    ref_lstm r = {c->input_dim,           c->units,
                  c->dense_units,         c->n_classes,
                  p + t->views[0].offset, p + t->views[1].offset,
                  p + t->views[2].offset, p + t->views[3].offset,
                  p + t->views[4].offset, p + t->views[5].offset,
                  p + t->views[6].offset};
    double l = 0, pr[16];
    for (int k = 0; k < NDOC; k++) {
        l += ref_doc(&r, x[k], s_lens[k], s_labels[k], pr);
        if (probs) memcpy(probs + k * c->n_classes, pr, sizeof(double) * c->n_classes);
    }
    return l / NDOC;
}

int main(void) {
    char err[HB_ERR_LEN] = "";
    lstm_config cfg = {7, 5, 4, 3};
    lstm_model *m;
    CHECK_OK(lstm_new(&m, &cfg, 42, err), err);
    params_table *t = &m->params;
    /* Keras' init has zero biases; give every tensor non-trivial values so
     * every gradient term is exercised. */
    unsigned seed = 7;
    for (size_t i = 0; i < t->numel; i++) {
        seed = seed * 1103515245u + 12345u;
        t->data[i] += ((float)(seed >> 9) / (float)(1u << 23) - 0.5f) * 0.6f;
    }
    float *xs[NDOC];
    for (int k = 0; k < NDOC; k++) {
        xs[k] = malloc(sizeof(float) * s_lens[k] * cfg.input_dim);
        for (int i = 0; i < s_lens[k] * cfg.input_dim; i++) xs[k][i] = (float)sin(0.37 * i + 1.3 * k) * 1.5f;
    }
    lstm_batch b = {NDOC, s_lens, (const float *const *)xs, s_labels};
    float loss, probs[NDOC * 3];
    CHECK_OK(lstm_forward(m, &b, &loss, probs, err), err);
    CHECK_OK(lstm_backward(m, err), err);

    double *p = malloc(sizeof(double) * t->numel), ref_probs[NDOC * 3];
    for (size_t i = 0; i < t->numel; i++) p[i] = t->data[i];
    double ref_loss = s_ref_loss(&cfg, p, t, (const float *const *)xs, ref_probs);
    double perr = t_rel_err(probs, ref_probs, NDOC * 3);
    CHECK(fabs(loss - ref_loss) / ref_loss < 1e-5 && perr < 1e-5, "forward: loss %.8f vs %.8f, probs rel err %.2e",
          loss, ref_loss, perr);
    t_ok("forward matches the naive double forward: loss %.7f vs %.7f, probabilities rel err %.1e", loss, ref_loss,
         perr);

    const double eps = 1e-6;
    for (int v = 0; v < t->nviews; v++) {
        const params_view *pv = &t->views[v];
        double *num = malloc(sizeof(double) * pv->numel);
        for (size_t i = 0; i < pv->numel; i++) {
            double *q = p + pv->offset + i, keep = *q;
            *q = keep + eps;
            double lp = s_ref_loss(&cfg, p, t, (const float *const *)xs, NULL);
            *q = keep - eps;
            double lm = s_ref_loss(&cfg, p, t, (const float *const *)xs, NULL);
            *q = keep;
            num[i] = (lp - lm) / (2 * eps);
        }
        double e = t_rel_err(m->grad + pv->offset, num, pv->numel), mx = 0;
        for (size_t i = 0; i < pv->numel; i++) mx = fmax(mx, fabs(num[i]));
        CHECK(e < 1e-4 && mx > 0, "%s: gradient rel err %.3e (max |grad| %.3e)", pv->name, e, mx);
        t_ok("%-22s %4zu values: analytic vs central differences rel err %.1e (max |grad| %.2e)", pv->name, pv->numel,
             e, mx);
        free(num);
    }

    for (int k = 0; k < NDOC; k++) {
        lstm_batch one = {1, &s_lens[k], (const float *const *)&xs[k], &s_labels[k]};
        float pk[3];
        CHECK_OK(lstm_predict(m, &one, pk, err), err);
        for (int j = 0; j < 3; j++)
            CHECK(fabsf(pk[j] - probs[k * 3 + j]) <= 1e-6f, "doc %d alone %.8f vs in batch %.8f", k, pk[j],
                  probs[k * 3 + j]);
    }
    t_ok("each document's probabilities alone equal those in the mixed-length batch (lengths 3,1,5,2,5,4)");

    int bad_lens[2] = {2, 0}, bad_labels[2] = {0, 3};
    lstm_batch bad = {2, bad_lens, (const float *const *)xs, s_labels};
    CHECK(lstm_forward(m, &bad, &loss, NULL, err) == -1 && strstr(err, "document 1"), "0 chunks: %s", err);
    bad_lens[1] = 1;
    bad.labels = bad_labels;
    CHECK(lstm_forward(m, &bad, &loss, NULL, err) == -1 && strstr(err, "label 3"), "bad label: %s", err);
    xs[0][3] = NAN;
    bad.labels = s_labels;
    CHECK(lstm_forward(m, &bad, &loss, NULL, err) == -1 && strstr(err, "NaN"), "NaN input: %s", err);
    t_ok("refused: a document without chunks, a label out of range, a NaN input (each named)");

    /* a diverged (NaN) recurrent weight must not be hidden by the gate math */
    xs[0][3] = 0.5f;
    params_at(t, t->data, LSTM_P_RECURRENT)[3] = NAN;
    adamw_state opt;
    adamw_init(&opt, t, lstm_default_optim());
    CHECK(lstm_train_epoch(m, &opt, &b, 1, NULL, NULL, err) == -1 && strstr(err, "nan"), "NaN weight: %s", err);
    adamw_free(&opt);
    t_ok("a NaN weight surfaces as an error: %s", err);

    for (int k = 0; k < NDOC; k++) free(xs[k]);
    free(p);
    lstm_destroy(&m);
    return 0;
}
