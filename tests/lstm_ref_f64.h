/*
 * lstm_ref_f64.h - a naive double-precision forward of the LSTM head, for
 * tests: one document at a time, its own recursion over its own chunks, no
 * packing, no BLAS. Written from the equations, independently of
 * model/lstm.c, with the same parameter layout (Keras order i, f, c, o).
 */
#ifndef HB_LSTM_REF_F64_H
#define HB_LSTM_REF_F64_H

#include <math.h>
#include <stdlib.h>

typedef struct {
    int D, U, H, C;
    const double *K, *R, *b, *W1, *b1, *W2, *b2; /* [D,4U] [U,4U] [4U] [U,H] [H] [H,C] [C] */
} ref_lstm;

static double ref_sig(double x) {
    return 1.0 / (1.0 + exp(-x));
}

/* probs [C] of one document x [len, D]; returns -log p[label] (label < 0: 0). */
static double ref_doc(const ref_lstm *m, const float *x, int len, int label, double *probs) {
    const int D = m->D, U = m->U, H = m->H, C = m->C;
    double *h = calloc(U, sizeof(double)), *c = calloc(U, sizeof(double)), *z = malloc(sizeof(double) * 4 * U);
    for (int t = 0; t < len; t++) {
        for (int j = 0; j < 4 * U; j++) {
            double s = m->b[j];
            for (int d = 0; d < D; d++) s += (double)x[t * D + d] * m->K[d * 4 * U + j];
            for (int u = 0; u < U; u++) s += h[u] * m->R[u * 4 * U + j];
            z[j] = s;
        }
        for (int u = 0; u < U; u++) {
            double i = ref_sig(z[u]), f = ref_sig(z[U + u]), g = tanh(z[2 * U + u]), o = ref_sig(z[3 * U + u]);
            c[u] = f * c[u] + i * g;
            h[u] = o * tanh(c[u]);
        }
    }
    double *a = malloc(sizeof(double) * H), mx = -INFINITY, sum = 0;
    for (int j = 0; j < H; j++) {
        double s = m->b1[j];
        for (int u = 0; u < U; u++) s += h[u] * m->W1[u * H + j];
        a[j] = s > 0 ? s : 0;
    }
    for (int k = 0; k < C; k++) {
        double s = m->b2[k];
        for (int j = 0; j < H; j++) s += a[j] * m->W2[j * C + k];
        probs[k] = s;
        if (s > mx) mx = s;
    }
    for (int k = 0; k < C; k++) sum += (probs[k] = exp(probs[k] - mx));
    for (int k = 0; k < C; k++) probs[k] /= sum;
    free(h);
    free(c);
    free(z);
    free(a);
    return label >= 0 ? -log(probs[label]) : 0.0;
}

#endif
