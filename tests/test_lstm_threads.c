/*
 * test_lstm_threads.c - the head's result does not depend on the thread count:
 * on a batch large enough for the OpenMP gate loops to run in parallel (64
 * documents of 1..12 chunks, 100 units) and for OpenBLAS to split the big
 * products, loss, probabilities and every gradient with 2 and 3 threads
 * equal the 1-thread run within 1e-6 relative, and the 1-thread forward
 * equals the naive double-precision forward.
 */
#include <omp.h>
#include <string.h>

#include "check.h"
#include "lstm.h"
#include "lstm_ref_f64.h"

enum { NDOC = 64 };

int main(void) {
    char err[HB_ERR_LEN] = "";
    lstm_config cfg = {40, 100, 30, 5};
    lstm_model *m;
    CHECK_OK(lstm_new(&m, &cfg, 11, err), err);
    int lens[NDOC], labels[NDOC];
    float *xs[NDOC];
    for (int k = 0; k < NDOC; k++) {
        lens[k] = 1 + (k * 7) % 12;
        labels[k] = k % cfg.n_classes;
        xs[k] = malloc(sizeof(float) * lens[k] * cfg.input_dim);
        for (int i = 0; i < lens[k] * cfg.input_dim; i++) xs[k][i] = (float)sin(0.11 * i + 0.7 * k);
    }
    lstm_batch b = {NDOC, lens, (const float *const *)xs, labels};
    const size_t P = m->params.numel;
    float loss1, probs1[NDOC * 5], *grad1 = malloc(sizeof(float) * P);
    omp_set_num_threads(1);
    CHECK_OK(lstm_forward(m, &b, &loss1, probs1, err), err);
    CHECK_OK(lstm_backward(m, err), err);
    memcpy(grad1, m->grad, sizeof(float) * P);

    double *pd = malloc(sizeof(double) * P), ref_probs[NDOC * 5], rl = 0;
    for (size_t i = 0; i < P; i++) pd[i] = m->params.data[i];
    const params_view *v = m->params.views;
    ref_lstm r = {cfg.input_dim,    cfg.units,        cfg.dense_units,  cfg.n_classes,
                  pd + v[0].offset, pd + v[1].offset, pd + v[2].offset, pd + v[3].offset,
                  pd + v[4].offset, pd + v[5].offset, pd + v[6].offset};
    for (int k = 0; k < NDOC; k++) rl += ref_doc(&r, xs[k], lens[k], labels[k], ref_probs + k * 5);
    rl /= NDOC;
    double pe = t_rel_err(probs1, ref_probs, NDOC * 5);
    CHECK(fabs(loss1 - rl) / rl < 1e-5 && pe < 1e-5, "1 thread vs naive double: loss %.8f vs %.8f, probs %.2e", loss1,
          rl, pe);
    t_ok("1 thread: loss %.7f vs naive double %.7f, probabilities rel err %.1e", loss1, rl, pe);

    for (int th = 2; th <= 3; th++) {
        omp_set_num_threads(th);
        float loss, probs[NDOC * 5];
        CHECK_OK(lstm_forward(m, &b, &loss, probs, err), err);
        CHECK_OK(lstm_backward(m, err), err);
        double *p1 = malloc(sizeof(double) * NDOC * 5);
        for (int i = 0; i < NDOC * 5; i++) p1[i] = probs1[i];
        double e_probs = t_rel_err(probs, p1, NDOC * 5), worst = 0;
        free(p1);
        for (int vi = 0; vi < m->params.nviews; vi++) {
            const params_view *pv = &m->params.views[vi];
            double *g1 = malloc(sizeof(double) * pv->numel);
            for (size_t i = 0; i < pv->numel; i++) g1[i] = grad1[pv->offset + i];
            double e = t_rel_err(m->grad + pv->offset, g1, pv->numel);
            CHECK(e < 1e-6, "%d threads: gradient %s differs from 1 thread by %.2e", th, pv->name, e);
            worst = fmax(worst, e);
            free(g1);
        }
        CHECK(fabsf(loss - loss1) <= 1e-6f * loss1 && e_probs < 1e-6, "%d threads: loss %.8f vs %.8f, probs %.2e", th,
              loss, loss1, e_probs);
        t_ok("%d threads: loss, probabilities (rel %.1e) and all gradients (worst rel %.1e) equal the 1-thread run", th,
             e_probs, worst);
    }
    for (int k = 0; k < NDOC; k++) free(xs[k]);
    free(grad1);
    free(pd);
    lstm_destroy(&m);
    return 0;
}
