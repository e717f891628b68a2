/* baseline.c - TF-IDF + liblinear's linear SVM (baseline.h). */
#include "baseline.h"

#include <linear.h>
#include <stdlib.h>
#include <string.h>

#include "tfidf.h"

struct baseline {
    int n_classes;
    size_t n, cap;
    int32_t **ids; /* training documents, as added */
    size_t *lens;
    double *y;
    tfidf *tf;
    struct feature_node **x; /* liblinear's rows: 1-based indices, then the bias feature, then -1 */
    struct model *svm;
    tfidf_feature *feat; /* scratch */
    size_t feat_cap;
    struct feature_node *row; /* scratch for predict */
    size_t row_cap;
};

static void s_quiet(const char *s) {
    (void)s; /* liblinear prints its iterations otherwise */
}

baseline *baseline_new(int n_classes) {
    baseline *b = hb_calloc(1, sizeof *b);
    b->n_classes = n_classes;
    return b;
}

void baseline_destroy(baseline **bp) {
    baseline *b = *bp;
    if (!b) return;
    for (size_t i = 0; i < b->n; i++) {
        free(b->ids[i]);
        if (b->x) free(b->x[i]);
    }
    free(b->ids);
    free(b->lens);
    free(b->y);
    free(b->x);
    if (b->svm) free_and_destroy_model(&b->svm);
    tfidf_destroy(&b->tf);
    free(b->feat);
    free(b->row);
    free(b);
    *bp = NULL;
}

int baseline_add(baseline *b, const int32_t *ids, size_t n, int label, char *err) {
    if (b->tf) return hb_fail(err, "baseline: a training document after the fit");
    if (label < 0 || label >= b->n_classes)
        return hb_fail(err, "baseline: label %d outside 0..%d", label, b->n_classes - 1);
    if (b->n == b->cap) {
        b->cap = b->cap ? 2 * b->cap : 256;
        b->ids = hb_realloc(b->ids, b->cap * sizeof(int32_t *));
        b->lens = hb_realloc(b->lens, b->cap * sizeof(size_t));
        b->y = hb_realloc(b->y, b->cap * sizeof(double));
    }
    b->ids[b->n] = hb_malloc((n ? n : 1) * sizeof(int32_t));
    if (n) memcpy(b->ids[b->n], ids, n * sizeof(int32_t));
    b->lens[b->n] = n;
    b->y[b->n++] = label;
    return 0;
}

/* the document's liblinear row into *row (grown): features, bias, terminator */
static struct feature_node *s_row(baseline *b, const int32_t *ids, size_t n, struct feature_node **row, size_t *cap) {
    size_t nf = tfidf_features(b->tf, ids, n, &b->feat, &b->feat_cap);
    if (nf + 2 > *cap) {
        *cap = nf + 2;
        *row = hb_realloc(*row, *cap * sizeof(struct feature_node));
    }
    for (size_t k = 0; k < nf; k++) (*row)[k] = (struct feature_node){b->feat[k].index + 1, b->feat[k].value};
    (*row)[nf] = (struct feature_node){(int)tfidf_n_terms(b->tf) + 1, 1.0}; /* the intercept's feature */
    (*row)[nf + 1] = (struct feature_node){-1, 0.0};
    return *row;
}

int baseline_fit(baseline *b, char *err) {
    if (b->tf) return hb_fail(err, "baseline: fitted twice");
    if (b->n < 1) return hb_fail(err, "baseline: no training documents");
    b->tf = tfidf_new();
    for (size_t i = 0; i < b->n; i++) tfidf_add(b->tf, b->ids[i], b->lens[i]);
    tfidf_finish(b->tf);
    b->x = hb_calloc(b->n, sizeof(struct feature_node *));
    for (size_t i = 0; i < b->n; i++) {
        size_t cap = 0;
        b->x[i] = NULL;
        s_row(b, b->ids[i], b->lens[i], &b->x[i], &cap);
    }
    struct problem prob = {.l = (int)b->n, .n = (int)tfidf_n_terms(b->tf) + 1, .y = b->y, .x = b->x, .bias = 1.0};
    struct parameter param;
    memset(&param, 0, sizeof param);
    param.solver_type = L2R_L2LOSS_SVC_DUAL;
    param.C = 1.0;
    param.eps = 1e-4;
    const char *why = check_parameter(&prob, &param);
    if (why) return hb_fail(err, "baseline: liblinear: %s", why);
    set_print_string_function(s_quiet);
    srand(1);
    b->svm = train(&prob, &param);
    if (!b->svm) return hb_fail(err, "baseline: liblinear's train failed");
    return 0;
}

int baseline_predict(baseline *b, const int32_t *ids, size_t n) {
    return (int)predict(b->svm, s_row(b, ids, n, &b->row, &b->row_cap));
}

size_t baseline_n_train(const baseline *b) {
    return b->n;
}

size_t baseline_n_terms(const baseline *b) {
    return b->tf ? tfidf_n_terms(b->tf) : 0;
}
