/*
 * test_lstm_parity.c - the head against PyTorch (tests/reference/lstm_ref.py:
 * nn.LSTM with pack_padded_sequence + two nn.Linear, float64) on the committed
 * fixture tests/fixtures/lstm/lstm_ref.json: 7 documents of 1..7 chunks.
 * Probabilities, loss and every gradient must agree within 1e-4 relative per
 * tensor (max abs error / max abs reference), and the parameters after 3
 * Adam steps (lr 1e-3, eps 1e-7, torch.optim.Adam's update) within 1e-5.
 */
#include <jansson.h>
#include <string.h>

#include "check.h"
#include "lstm.h"

static double *s_doubles(json_t *arr, size_t want, const char *what) {
    CHECK(json_is_array(arr) && json_array_size(arr) == want, "fixture %s: %zu values, want %zu", what,
          json_array_size(arr), want);
    double *v = malloc(sizeof(double) * want);
    for (size_t i = 0; i < want; i++) v[i] = json_number_value(json_array_get(arr, i));
    return v;
}

int main(void) {
    char err[HB_ERR_LEN] = "";
    const char *path = HB_SOURCE_DIR "/tests/fixtures/lstm/lstm_ref.json";
    json_error_t jerr;
    json_t *fx = json_load_file(path, 0, &jerr);
    CHECK(fx, "%s:%d: %s (regenerate with tests/reference/lstm_ref.py)", path, jerr.line, jerr.text);
    json_t *jc = json_object_get(fx, "config");
    lstm_config cfg = {(int)json_integer_value(json_object_get(jc, "input_dim")),
                       (int)json_integer_value(json_object_get(jc, "units")),
                       (int)json_integer_value(json_object_get(jc, "dense_units")),
                       (int)json_integer_value(json_object_get(jc, "n_classes"))};
    lstm_model *m;
    CHECK_OK(lstm_new(&m, &cfg, 1, err), err);
    params_table *t = &m->params;

    json_t *jl = json_object_get(fx, "lens"), *jy = json_object_get(fx, "labels");
    const int n = (int)json_array_size(jl);
    int *lens = malloc(sizeof(int) * n), *labels = malloc(sizeof(int) * n);
    size_t rows = 0;
    int maxlen = 0;
    for (int k = 0; k < n; k++) {
        lens[k] = (int)json_integer_value(json_array_get(jl, k));
        labels[k] = (int)json_integer_value(json_array_get(jy, k));
        rows += lens[k];
        maxlen = lens[k] > maxlen ? lens[k] : maxlen;
    }
    double *xd = s_doubles(json_object_get(fx, "x"), rows * cfg.input_dim, "x");
    float *x = malloc(sizeof(float) * rows * cfg.input_dim);
    for (size_t i = 0; i < rows * cfg.input_dim; i++) x[i] = (float)xd[i];
    const float **xs = malloc(sizeof(float *) * n);
    for (int k = 0, r = 0; k < n; r += lens[k], k++) xs[k] = x + (size_t)r * cfg.input_dim;

    for (int v = 0; v < t->nviews; v++) {
        const params_view *pv = &t->views[v];
        double *p = s_doubles(json_object_get(json_object_get(fx, "params"), pv->name), pv->numel, pv->name);
        for (size_t i = 0; i < pv->numel; i++) t->data[pv->offset + i] = (float)p[i];
        free(p);
    }
    lstm_batch b = {n, lens, xs, labels};
    float loss, *probs = malloc(sizeof(float) * n * cfg.n_classes);
    CHECK_OK(lstm_forward(m, &b, &loss, probs, err), err);
    CHECK_OK(lstm_backward(m, err), err);
    double ref_loss = json_number_value(json_object_get(fx, "loss"));
    double *ref_probs = s_doubles(json_object_get(fx, "probs"), (size_t)n * cfg.n_classes, "probs");
    double le = fabs(loss - ref_loss) / fabs(ref_loss), pe = t_rel_err(probs, ref_probs, (size_t)n * cfg.n_classes);
    CHECK(le < 1e-4 && pe < 1e-4, "loss %.8f vs torch %.8f (rel %.2e), probs rel %.2e", loss, ref_loss, le, pe);
    t_ok("%d documents of lengths 1..%d: loss %.7f vs torch %.7f (rel %.1e), probabilities rel err %.1e", n, maxlen,
         loss, ref_loss, le, pe);
    for (int v = 0; v < t->nviews; v++) {
        const params_view *pv = &t->views[v];
        double *g = s_doubles(json_object_get(json_object_get(fx, "grads"), pv->name), pv->numel, pv->name);
        double e = t_rel_err(m->grad + pv->offset, g, pv->numel);
        CHECK(e < 1e-4, "gradient of %s: rel err %.3e vs torch", pv->name, e);
        t_ok("gradient %-22s rel err %.1e vs torch", pv->name, e);
        free(g);
    }

    json_t *ja = json_object_get(fx, "adam");
    optim_config oc = lstm_default_optim();
    CHECK(fabs(json_number_value(json_object_get(ja, "lr")) / oc.lr - 1) < 1e-6 &&
              fabs(json_number_value(json_object_get(ja, "eps")) / oc.eps - 1) < 1e-6,
          "the fixture's Adam settings must be the head's defaults");
    adamw_state opt;
    adamw_init(&opt, t, oc);
    const int steps = (int)json_integer_value(json_object_get(ja, "steps"));
    for (int s = 0; s < steps; s++) {
        double ml;
        CHECK_OK(lstm_train_epoch(m, &opt, &b, 1, &ml, NULL, err), err);
    }
    for (int v = 0; v < t->nviews; v++) {
        const params_view *pv = &t->views[v];
        double *p = s_doubles(json_object_get(json_object_get(fx, "params_after"), pv->name), pv->numel, pv->name);
        double e = t_rel_err(t->data + pv->offset, p, pv->numel);
        CHECK(e < 1e-5, "%s after %d Adam steps: rel err %.3e vs torch", pv->name, steps, e);
        t_ok("%-22s after %d Adam steps: rel err %.1e vs torch", pv->name, steps, e);
        free(p);
    }
    adamw_free(&opt);
    free(ref_probs);
    free(probs);
    free(xs);
    free(x);
    free(xd);
    free(lens);
    free(labels);
    lstm_destroy(&m);
    json_decref(fx);
    return 0;
}
