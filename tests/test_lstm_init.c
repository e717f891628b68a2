/*
 * test_lstm_init.c - the head starts from Keras' defaults: glorot-uniform
 * kernels (bounded by sqrt(6/(fan_in+fan_out)), variance limit^2/3), an
 * orthogonal recurrent kernel (R R^T = I for the [U, 4U] matrix), forget-gate
 * bias 1 and every other bias 0; the same seed gives the same parameters.
 */
#include <string.h>

#include "check.h"
#include "lstm.h"

static void s_check_glorot(const lstm_model *m, int view, int fan_in, int fan_out) {
    const params_view *v = &m->params.views[view];
    const float *w = m->params.data + v->offset;
    double limit = sqrt(6.0 / (fan_in + fan_out)), ss = 0, mx = 0, mean = 0;
    for (size_t i = 0; i < v->numel; i++) {
        mx = fmax(mx, fabs(w[i]));
        ss += (double)w[i] * w[i];
        mean += w[i];
    }
    double var = ss / v->numel, want = limit * limit / 3;
    mean /= v->numel;
    CHECK(mx <= limit && mx > 0.9 * limit, "%s: max |w| %.4f, limit %.4f", v->name, mx, limit);
    CHECK(fabs(var / want - 1) < 0.1 && fabs(mean) < 0.1 * limit, "%s: variance %.3e want %.3e, mean %.2e", v->name,
          var, want, mean);
    t_ok("%-14s glorot-uniform: max |w| %.4f <= limit %.4f, variance %.3e ~ %.3e", v->name, mx, limit, var, want);
}

int main(void) {
    char err[HB_ERR_LEN] = "";
    lstm_config cfg = {768, 100, 30, 10};
    lstm_model *m, *m2;
    CHECK_OK(lstm_new(&m, &cfg, 2024, err), err);
    const int U = cfg.units;
    s_check_glorot(m, LSTM_P_KERNEL, 768, 4 * U);
    s_check_glorot(m, LSTM_P_DENSE_W, U, 30);
    s_check_glorot(m, LSTM_P_OUT_W, 30, 10);

    const float *R = m->params.data + m->params.views[LSTM_P_RECURRENT].offset;
    double dev = 0;
    for (int a = 0; a < U; a++)
        for (int b = 0; b < U; b++) {
            double dot = 0;
            for (int j = 0; j < 4 * U; j++) dot += (double)R[a * 4 * U + j] * R[b * 4 * U + j];
            dev = fmax(dev, fabs(dot - (a == b)));
        }
    CHECK(dev < 1e-5, "R R^T deviates from I by %.3e", dev);
    t_ok("lstm.recurrent_kernel [%d, %d] orthogonal: max |R R^T - I| = %.1e", U, 4 * U, dev);

    const float *b = m->params.data + m->params.views[LSTM_P_BIAS].offset;
    int bad = 0;
    for (int j = 0; j < 4 * U; j++) bad += b[j] != (j >= U && j < 2 * U ? 1.0f : 0.0f);
    const float *b1 = m->params.data + m->params.views[LSTM_P_DENSE_B].offset,
                *b2 = m->params.data + m->params.views[LSTM_P_OUT_B].offset;
    for (int j = 0; j < 30; j++) bad += b1[j] != 0.0f;
    for (int j = 0; j < 10; j++) bad += b2[j] != 0.0f;
    CHECK(bad == 0, "%d bias values differ from Keras' init", bad);
    t_ok("biases: forget gate (columns %d..%d) = 1, all others 0", U, 2 * U - 1);

    CHECK_OK(lstm_new(&m2, &cfg, 2024, err), err);
    CHECK(memcmp(m->params.data, m2->params.data, m->params.numel * sizeof(float)) == 0, "same seed, same params");
    lstm_init_keras(m2, 2025);
    CHECK(memcmp(m->params.data, m2->params.data, m->params.numel * sizeof(float)) != 0, "other seed, other params");
    t_ok("the same seed reproduces the parameters; another seed changes them");
    lstm_config bad_cfg = {768, 0, 30, 10};
    lstm_destroy(&m2);
    CHECK(lstm_new(&m2, &bad_cfg, 1, err) == -1 && strstr(err, "units 0"), "bad config: %s", err);
    t_ok("a zero-unit config is refused: %s", err);
    lstm_destroy(&m);
    return 0;
}
