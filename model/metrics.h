/*
 * metrics.h - evaluation of classifiers: accuracy, the confusion matrix,
 * per-class precision / recall / F1 with their macro averages, the
 * mean-chunk-probability vote baseline, and a table / JSON report.
 *
 * Conventions (scikit-learn's, zero_division=0): a class never predicted has
 * precision 0, a class absent from the truth recall 0, and F1 is 0 when
 * precision + recall is 0. Macro averages run over all n_classes classes.
 * Confusion rows are the true class, columns the predicted class.
 */
#ifndef HB_METRICS_H
#define HB_METRICS_H

#include <jansson.h>
#include <stdio.h>

#include "hb_error.h"

typedef struct {
    int n_classes;
    long *confusion; /* [n_classes * n_classes]: confusion[true * C + pred] */
    long total;
} metrics_confusion;

/* Zeroed matrix for n_classes >= 1 classes (-1 otherwise). */
int metrics_init(metrics_confusion *m, int n_classes, char *err);
void metrics_free(metrics_confusion *m);
void metrics_reset(metrics_confusion *m);
/* Counts one example; -1 if a class is out of range. */
int metrics_add(metrics_confusion *m, int truth, int pred, char *err);

typedef struct {
    int n_classes;
    long total, correct;
    double accuracy;
    double *precision, *recall, *f1; /* [n_classes] */
    long *support;                   /* [n_classes] true examples per class */
    long *predicted;                 /* [n_classes] predictions per class */
    double macro_precision, macro_recall, macro_f1;
    double weighted_f1; /* F1 averaged with support weights */
} metrics_report;

/* Fills r (arrays allocated: metrics_report_free). */
void metrics_compute(const metrics_confusion *m, metrics_report *r);
void metrics_report_free(metrics_report *r);

/* Index of the largest of C values (the first on ties). */
int metrics_argmax(const float *probs, int C);
/* The vote baseline: the mean of a document's chunk probability vectors
 * (chunk_probs [n_chunks, C]) into doc_probs [C] (may be NULL); returns its
 * argmax, or -1 if n_chunks < 1. */
int metrics_vote_mean(const float *chunk_probs, int n_chunks, int C, float *doc_probs);

/* The table: accuracy and macro F1, then per class precision, recall, F1,
 * support, then the confusion matrix. names (may be NULL) label the classes. */
void metrics_print(FILE *f, const metrics_confusion *m, const char *const *names);
/* {"accuracy", "correct", "total", "macro_precision", "macro_recall",
 *  "macro_f1", "weighted_f1", "classes": [{"name", "precision", "recall",
 *  "f1", "support", "predicted"}...], "confusion": [[...]...]}; new reference. */
json_t *metrics_to_json(const metrics_confusion *m, const char *const *names);

#endif
