/* baseline.c - TF-IDF + liblinear's linear SVM (baseline.h). */
#include "baseline.h"

#include <linear.h>
#include <math.h>
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
    /* The SVM's features (see baseline_fit): a term in two or more training
     * documents is a column of its own, the terms found in one training
     * document only share that document's column. */
    int32_t *col;            /* [n_terms]: the term's 1-based column */
    float *scale;            /* [n_terms]: 1, or x_ij / c_i for a term of training document i alone */
    int n_cols;              /* columns before the intercept's */
    struct feature_node **x; /* liblinear's rows: columns, then the intercept's, then -1 */
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
    free(b->col);
    free(b->scale);
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

/* the document's liblinear row into *row (grown): columns, intercept, terminator */
static struct feature_node *s_row(baseline *b, const int32_t *ids, size_t n, struct feature_node **row, size_t *cap) {
    size_t nf = tfidf_features(b->tf, ids, n, &b->feat, &b->feat_cap);
    if (nf + 2 > *cap) {
        *cap = nf + 2;
        *row = hb_realloc(*row, *cap * sizeof(struct feature_node));
    }
    /* liblinear's predict sums w[column] x over the nodes: a shared column
     * may come more than once, and the order does not matter */
    for (size_t k = 0; k < nf; k++) {
        int32_t j = b->feat[k].index;
        (*row)[k] = (struct feature_node){b->col[j], (double)b->feat[k].value * b->scale[j]};
    }
    (*row)[nf] = (struct feature_node){b->n_cols + 1, 1.0}; /* the intercept's feature */
    (*row)[nf + 1] = (struct feature_node){-1, 0.0};
    return *row;
}

/*
 * Most terms (bigrams above all) occur in one training document. liblinear's
 * dual solver sees the data only through the inner products x_i . x_k, to
 * which such a term j of document i adds x_ij^2 to x_i . x_i and nothing
 * else: all of document i's lone terms can be one column holding
 * c_i = sqrt(sum_j x_ij^2), and the solver computes the same dual solution
 * (up to rounding), for every one-vs-rest problem. The weight of term j is
 * then w_i x_ij / c_i (w_i the shared column's): a document to predict puts
 * x_j x_ij / c_i into column i. Columns of the shared terms go by falling
 * document frequency (the weights read most often lie together).
 */
static void s_columns(baseline *b, tfidf_feature **feats, const size_t *nfs) {
    size_t T = tfidf_n_terms(b->tf);
    int32_t *df = hb_calloc(T ? T : 1, sizeof(int32_t));
    int32_t *owner = hb_malloc((T ? T : 1) * sizeof(int32_t));
    for (size_t i = 0; i < b->n; i++)
        for (size_t k = 0; k < nfs[i]; k++) {
            int32_t j = feats[i][k].index;
            df[j]++;
            owner[j] = (int32_t)i;
        }
    /* counting sort of the shared terms by falling df (ties by term index) */
    int32_t max_df = 0;
    for (size_t j = 0; j < T; j++)
        if (df[j] > max_df) max_df = df[j];
    size_t *start = hb_calloc((size_t)max_df + 2, sizeof(size_t));
    for (size_t j = 0; j < T; j++)
        if (df[j] >= 2) start[max_df - df[j] + 1]++;
    for (int32_t d = 1; d <= max_df + 1; d++) start[d] += start[d - 1];
    size_t n_shared = start[max_df + 1];
    b->col = hb_malloc((T ? T : 1) * sizeof(int32_t));
    b->scale = hb_malloc((T ? T : 1) * sizeof(float));
    double *c = hb_calloc(b->n, sizeof(double));
    for (size_t i = 0; i < b->n; i++)
        for (size_t k = 0; k < nfs[i]; k++)
            if (df[feats[i][k].index] == 1) c[i] += (double)feats[i][k].value * feats[i][k].value;
    for (size_t i = 0; i < b->n; i++) c[i] = sqrt(c[i]);
    for (size_t j = 0; j < T; j++) {
        if (df[j] >= 2) {
            b->col[j] = (int32_t)(++start[max_df - df[j]]); /* 1-based */
            b->scale[j] = 1.0f;
        } else { /* df 1; df 0 (no vocabulary term lacks a document) gets weight 0 */
            b->col[j] = (int32_t)(n_shared + 1 + (df[j] ? (size_t)owner[j] : 0));
            b->scale[j] = 0.0f; /* set below from the owner's value */
        }
    }
    for (size_t i = 0; i < b->n; i++)
        for (size_t k = 0; k < nfs[i]; k++) {
            int32_t j = feats[i][k].index;
            if (df[j] == 1) b->scale[j] = (float)(feats[i][k].value / c[i]);
        }
    b->n_cols = (int)(n_shared + b->n);
    /* the training rows: shared columns (in the terms' order: the solver
     * needs no sorted row), the document's own, the intercept, -1 */
    b->x = hb_calloc(b->n, sizeof(struct feature_node *));
    for (size_t i = 0; i < b->n; i++) {
        struct feature_node *r = hb_malloc((nfs[i] + 3) * sizeof(struct feature_node));
        size_t m = 0;
        for (size_t k = 0; k < nfs[i]; k++) {
            int32_t j = feats[i][k].index;
            if (df[j] >= 2) r[m++] = (struct feature_node){b->col[j], feats[i][k].value};
        }
        if (c[i] > 0) r[m++] = (struct feature_node){(int)(n_shared + 1 + i), c[i]};
        r[m++] = (struct feature_node){b->n_cols + 1, 1.0};
        r[m] = (struct feature_node){-1, 0.0};
        b->x[i] = r;
    }
    free(c);
    free(start);
    free(owner);
    free(df);
}

int baseline_fit(baseline *b, char *err) {
    if (b->tf) return hb_fail(err, "baseline: fitted twice");
    if (b->n < 1) return hb_fail(err, "baseline: no training documents");
    if (b->n > (size_t)INT32_MAX / 2) return hb_fail(err, "baseline: %zu training documents: too many", b->n);
    b->tf = tfidf_new();
    for (size_t i = 0; i < b->n; i++) tfidf_add(b->tf, b->ids[i], b->lens[i]);
    tfidf_finish(b->tf);
    if (tfidf_n_terms(b->tf) + b->n >= (size_t)INT32_MAX)
        return hb_fail(err, "baseline: %zu terms: too many for liblinear", tfidf_n_terms(b->tf));
    tfidf_feature **feats = hb_calloc(b->n, sizeof(tfidf_feature *));
    size_t *nfs = hb_calloc(b->n, sizeof(size_t));
    for (size_t i = 0; i < b->n; i++) {
        size_t cap = 0;
        nfs[i] = tfidf_features(b->tf, b->ids[i], b->lens[i], &feats[i], &cap);
    }
    s_columns(b, feats, nfs);
    for (size_t i = 0; i < b->n; i++) free(feats[i]);
    free(feats);
    free(nfs);
    struct problem prob = {.l = (int)b->n, .n = b->n_cols + 1, .y = b->y, .x = b->x, .bias = 1.0};
    struct parameter param;
    memset(&param, 0, sizeof param);
    param.solver_type = L2R_L2LOSS_SVC_DUAL;
    param.C = 1.0;
    param.eps = 0.1; /* liblinear's default for its dual solvers (see baseline.h) */
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

int baseline_decision(baseline *b, const int32_t *ids, size_t n, double *dec) {
    int nr = get_nr_class(b->svm), label[nr > 0 ? nr : 1];
    double v[nr > 2 ? nr : 1];
    int p = (int)predict_values(b->svm, s_row(b, ids, n, &b->row, &b->row_cap), v);
    get_labels(b->svm, label);
    for (int k = 0; k < b->n_classes; k++) dec[k] = -HUGE_VAL; /* a class without training documents */
    if (nr == 2) {                                             /* one decision value, for liblinear's first label */
        dec[label[0]] = v[0];
        dec[label[1]] = -v[0];
    } else {
        for (int k = 0; k < nr; k++) dec[label[k]] = v[k];
    }
    return p;
}

size_t baseline_n_train(const baseline *b) {
    return b->n;
}

size_t baseline_n_terms(const baseline *b) {
    return b->tf ? tfidf_n_terms(b->tf) : 0;
}
