/* metrics.c - confusion matrix, precision/recall/F1, vote baseline, report. */
#include "metrics.h"

#include <stdlib.h>
#include <string.h>

int metrics_init(metrics_confusion *m, int n_classes, char *err) {
    memset(m, 0, sizeof *m);
    if (n_classes < 1) return hb_fail(err, "metrics: %d classes (need >= 1)", n_classes);
    m->n_classes = n_classes;
    m->confusion = hb_calloc((size_t)n_classes * n_classes, sizeof(long));
    return 0;
}

void metrics_free(metrics_confusion *m) {
    free(m->confusion);
    memset(m, 0, sizeof *m);
}

void metrics_reset(metrics_confusion *m) {
    memset(m->confusion, 0, sizeof(long) * (size_t)m->n_classes * m->n_classes);
    m->total = 0;
}

int metrics_add(metrics_confusion *m, int truth, int pred, char *err) {
    if (truth < 0 || truth >= m->n_classes || pred < 0 || pred >= m->n_classes)
        return hb_fail(err, "metrics: class out of range (true %d, predicted %d, %d classes)", truth, pred,
                       m->n_classes);
    m->confusion[(size_t)truth * m->n_classes + pred]++;
    m->total++;
    return 0;
}

void metrics_compute(const metrics_confusion *m, metrics_report *r) {
    const int C = m->n_classes;
    memset(r, 0, sizeof *r);
    r->n_classes = C;
    r->total = m->total;
    r->precision = hb_calloc(C, sizeof(double));
    r->recall = hb_calloc(C, sizeof(double));
    r->f1 = hb_calloc(C, sizeof(double));
    r->support = hb_calloc(C, sizeof(long));
    r->predicted = hb_calloc(C, sizeof(long));
    for (int t = 0; t < C; t++)
        for (int p = 0; p < C; p++) {
            long n = m->confusion[(size_t)t * C + p];
            r->support[t] += n;
            r->predicted[p] += n;
            if (t == p) r->correct += n;
        }
    r->accuracy = r->total ? (double)r->correct / r->total : 0.0;
    double wsum = 0;
    for (int k = 0; k < C; k++) {
        long tp = m->confusion[(size_t)k * C + k];
        r->precision[k] = r->predicted[k] ? (double)tp / r->predicted[k] : 0.0;
        r->recall[k] = r->support[k] ? (double)tp / r->support[k] : 0.0;
        double s = r->precision[k] + r->recall[k];
        r->f1[k] = s > 0 ? 2 * r->precision[k] * r->recall[k] / s : 0.0;
        r->macro_precision += r->precision[k] / C;
        r->macro_recall += r->recall[k] / C;
        r->macro_f1 += r->f1[k] / C;
        wsum += r->f1[k] * r->support[k];
    }
    r->weighted_f1 = r->total ? wsum / r->total : 0.0;
}

void metrics_report_free(metrics_report *r) {
    free(r->precision);
    free(r->recall);
    free(r->f1);
    free(r->support);
    free(r->predicted);
    memset(r, 0, sizeof *r);
}

int metrics_argmax(const float *probs, int C) {
    int best = 0;
    for (int k = 1; k < C; k++)
        if (probs[k] > probs[best]) best = k;
    return best;
}

int metrics_vote_mean(const float *chunk_probs, int n_chunks, int C, float *doc_probs) {
    if (n_chunks < 1 || C < 1) return -1;
    double *acc = hb_calloc(C, sizeof(double));
    for (int i = 0; i < n_chunks; i++)
        for (int k = 0; k < C; k++) acc[k] += chunk_probs[(size_t)i * C + k];
    int best = 0;
    for (int k = 0; k < C; k++) {
        acc[k] /= n_chunks;
        if (doc_probs) doc_probs[k] = (float)acc[k];
        if (acc[k] > acc[best]) best = k;
    }
    free(acc);
    return best;
}

static const char *s_name(const char *const *names, int k, char *buf, size_t n) {
    if (names && names[k]) return names[k];
    snprintf(buf, n, "%d", k);
    return buf;
}

void metrics_print(FILE *f, const metrics_confusion *m, const char *const *names) {
    metrics_report r;
    metrics_compute(m, &r);
    const int C = m->n_classes;
    int w = 5;
    char buf[32];
    for (int k = 0; k < C; k++) {
        int l = (int)strlen(s_name(names, k, buf, sizeof buf));
        w = l > w ? l : w;
    }
    if (w > 24) w = 24;
    fprintf(f, "accuracy %.4f (%ld/%ld)  macro precision %.4f  macro recall %.4f  macro F1 %.4f\n", r.accuracy,
            r.correct, r.total, r.macro_precision, r.macro_recall, r.macro_f1);
    fprintf(f, "%-*s  precision  recall      f1  support\n", w, "class");
    for (int k = 0; k < C; k++)
        fprintf(f, "%-*.*s  %9.4f  %6.4f  %6.4f  %7ld\n", w, w, s_name(names, k, buf, sizeof buf), r.precision[k],
                r.recall[k], r.f1[k], r.support[k]);
    fprintf(f, "confusion (rows: true class, columns: predicted)\n%-*s", w, "");
    for (int p = 0; p < C; p++) fprintf(f, " %8.8s", s_name(names, p, buf, sizeof buf));
    fputc('\n', f);
    for (int t = 0; t < C; t++) {
        fprintf(f, "%-*.*s", w, w, s_name(names, t, buf, sizeof buf));
        for (int p = 0; p < C; p++) fprintf(f, " %8ld", m->confusion[(size_t)t * C + p]);
        fputc('\n', f);
    }
    metrics_report_free(&r);
}

json_t *metrics_to_json(const metrics_confusion *m, const char *const *names) {
    metrics_report r;
    metrics_compute(m, &r);
    const int C = m->n_classes;
    char buf[32];
    json_t *o = json_object(), *classes = json_array(), *conf = json_array();
    json_object_set_new(o, "accuracy", json_real(r.accuracy));
    json_object_set_new(o, "correct", json_integer(r.correct));
    json_object_set_new(o, "total", json_integer(r.total));
    json_object_set_new(o, "macro_precision", json_real(r.macro_precision));
    json_object_set_new(o, "macro_recall", json_real(r.macro_recall));
    json_object_set_new(o, "macro_f1", json_real(r.macro_f1));
    json_object_set_new(o, "weighted_f1", json_real(r.weighted_f1));
    for (int k = 0; k < C; k++) {
        json_t *c = json_object(), *row = json_array();
        json_object_set_new(c, "name", json_string(s_name(names, k, buf, sizeof buf)));
        json_object_set_new(c, "precision", json_real(r.precision[k]));
        json_object_set_new(c, "recall", json_real(r.recall[k]));
        json_object_set_new(c, "f1", json_real(r.f1[k]));
        json_object_set_new(c, "support", json_integer(r.support[k]));
        json_object_set_new(c, "predicted", json_integer(r.predicted[k]));
        json_array_append_new(classes, c);
        for (int p = 0; p < C; p++) json_array_append_new(row, json_integer(m->confusion[(size_t)k * C + p]));
        json_array_append_new(conf, row);
    }
    json_object_set_new(o, "classes", classes);
    json_object_set_new(o, "confusion", conf);
    metrics_report_free(&r);
    return o;
}
