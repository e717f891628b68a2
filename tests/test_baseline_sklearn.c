/*
 * test_baseline_sklearn.c - the bag-of-words baseline (model/baseline.h,
 * model/tfidf.h) computes what scikit-learn computes on the committed
 * corpus tests/fixtures/baseline (made by tests/reference/baseline_ref.py:
 * TfidfVectorizer(sublinear_tf=True) over id unigrams and bigrams, then
 * LinearSVC()): the same vocabulary size, the same idf and TF-IDF values
 * (first training document, 1e-6), and validation accuracy within 1 point
 * of scikit-learn's (the two liblinear builds shuffle differently, so a few
 * predictions may differ; the agreement is printed); and that the
 * baseline's SVM over shared columns (baseline.c: the terms of one
 * training document share a column) decides as liblinear does over every
 * term, fitted here directly on the same TF-IDF rows.
 */
#include <jansson.h>
#include <linear.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "baseline.h"
#include "check.h"
#include "tfidf.h"

typedef struct {
    int n, cap;
    int *labels;
    int32_t **ids;
    size_t *lens;
} corpus;

static void s_read(const char *path, corpus *c) {
    FILE *f = fopen(path, "r");
    CHECK(f, "cannot open %s", path);
    memset(c, 0, sizeof *c);
    char *line = NULL;
    size_t lcap = 0;
    while (getline(&line, &lcap, f) > 0) {
        if (c->n == c->cap) {
            c->cap = c->cap ? 2 * c->cap : 256;
            c->labels = realloc(c->labels, (size_t)c->cap * sizeof(int));
            c->ids = realloc(c->ids, (size_t)c->cap * sizeof(int32_t *));
            c->lens = realloc(c->lens, (size_t)c->cap * sizeof(size_t));
        }
        char *p = line, *end;
        c->labels[c->n] = (int)strtol(p, &end, 10);
        CHECK(end != p && *end == '\t', "%s:%d: no label", path, c->n + 1);
        p = end + 1;
        size_t n = 0, cap = 64;
        int32_t *ids = malloc(cap * sizeof(int32_t));
        for (;;) {
            long v = strtol(p, &end, 10);
            if (end == p) break;
            if (n == cap) ids = realloc(ids, (cap *= 2) * sizeof(int32_t));
            ids[n++] = (int32_t)v;
            p = end;
        }
        c->ids[c->n] = ids;
        c->lens[c->n++] = n;
    }
    free(line);
    fclose(f);
}

static void s_free(corpus *c) {
    for (int i = 0; i < c->n; i++) free(c->ids[i]);
    free(c->ids);
    free(c->lens);
    free(c->labels);
}

/* "a" or "a b" -> the term's feature index */
static long s_term(const tfidf *t, const char *term) {
    char *end;
    long a = strtol(term, &end, 10), b = -1;
    if (*end == ' ') b = strtol(end + 1, NULL, 10);
    return tfidf_term_index(t, (int32_t)a, (int32_t)b);
}

int main(void) {
    char err[HB_ERR_LEN], path[1024];
    corpus tr, va;
    snprintf(path, sizeof path, "%s/tests/fixtures/baseline/train.txt", HB_SOURCE_DIR);
    s_read(path, &tr);
    snprintf(path, sizeof path, "%s/tests/fixtures/baseline/val.txt", HB_SOURCE_DIR);
    s_read(path, &va);
    snprintf(path, sizeof path, "%s/tests/fixtures/baseline/sklearn.json", HB_SOURCE_DIR);
    json_error_t je;
    json_t *ref = json_load_file(path, 0, &je);
    CHECK(ref, "%s: %s", path, je.text);
    CHECK(tr.n > 100 && va.n > 100, "corpus: %d train, %d val", tr.n, va.n);

    /* features */
    tfidf *t = tfidf_new();
    for (int i = 0; i < tr.n; i++) tfidf_add(t, tr.ids[i], tr.lens[i]);
    tfidf_finish(t);
    long want_terms = (long)json_integer_value(json_object_get(ref, "n_terms"));
    CHECK((long)tfidf_n_terms(t) == want_terms, "%zu terms, scikit-learn has %ld", tfidf_n_terms(t), want_terms);
    const char *term;
    json_t *v;
    double worst = 0;
    json_object_foreach(json_object_get(ref, "idf"), term, v) {
        long k = s_term(t, term);
        CHECK(k >= 0, "idf term '%s' unknown", term);
        double d = fabs(tfidf_idf(t, k) - json_real_value(v));
        CHECK(d < 1e-9, "idf of '%s': %.12g, scikit-learn %.12g", term, tfidf_idf(t, k), json_real_value(v));
        if (d > worst) worst = d;
    }
    tfidf_feature *f = NULL;
    size_t cap = 0, nf = tfidf_features(t, tr.ids[0], tr.lens[0], &f, &cap);
    json_t *doc0 = json_object_get(ref, "doc0");
    CHECK(nf == json_object_size(doc0), "document 0: %zu features, scikit-learn %zu", nf, json_object_size(doc0));
    double worst_x = 0;
    json_object_foreach(doc0, term, v) {
        long k = s_term(t, term);
        size_t q = 0;
        while (q < nf && f[q].index != k) q++;
        CHECK(q < nf, "document 0: term '%s' missing", term);
        double d = fabs(f[q].value - json_real_value(v));
        CHECK(d < 1e-6, "document 0, '%s': %.9g, scikit-learn %.9g", term, f[q].value, json_real_value(v));
        if (d > worst_x) worst_x = d;
    }
    for (size_t q = 1; q < nf; q++) CHECK(f[q].index > f[q - 1].index, "features not in index order");
    t_ok("TF-IDF: %zu terms as scikit-learn; %zu idf values within %.1e, document 0's %zu features within %.1e",
         tfidf_n_terms(t), json_object_size(json_object_get(ref, "idf")), worst, nf, worst_x);
    free(f);
    tfidf_destroy(&t);

    /* classifier */
    baseline *b = baseline_new(5);
    for (int i = 0; i < tr.n; i++) CHECK_OK(baseline_add(b, tr.ids[i], tr.lens[i], tr.labels[i], err), err);
    CHECK_OK(baseline_fit(b, err), err);
    json_t *pred = json_object_get(ref, "predictions");
    CHECK((int)json_array_size(pred) == va.n, "predictions: %zu", json_array_size(pred));
    int ok = 0, agree = 0;
    for (int i = 0; i < va.n; i++) {
        int p = baseline_predict(b, va.ids[i], va.lens[i]);
        CHECK(p >= 0 && p < 5, "prediction %d", p);
        ok += p == va.labels[i];
        agree += p == (int)json_integer_value(json_array_get(pred, (size_t)i));
    }
    double acc = (double)ok / va.n, want = json_real_value(json_object_get(ref, "accuracy"));
    CHECK(fabs(acc - want) <= 0.01, "accuracy %.4f, scikit-learn %.4f: more than 1 point apart", acc, want);
    t_ok("LinearSVC: validation accuracy %.4f vs scikit-learn %.4f (%+.2f points); %d of %d predictions the same", acc,
         want, 100 * (acc - want), agree, va.n);

    /* liblinear over every term: the rows baseline.c would have built without shared columns */
    t = tfidf_new();
    for (int i = 0; i < tr.n; i++) tfidf_add(t, tr.ids[i], tr.lens[i]);
    tfidf_finish(t);
    int nt = (int)tfidf_n_terms(t);
    struct feature_node **x = calloc((size_t)tr.n, sizeof *x);
    double *y = calloc((size_t)tr.n, sizeof *y);
    size_t fcap = 0;
    f = NULL;
    for (int i = 0; i < tr.n; i++) {
        size_t m = tfidf_features(t, tr.ids[i], tr.lens[i], &f, &fcap);
        x[i] = calloc(m + 2, sizeof(struct feature_node));
        for (size_t q = 0; q < m; q++) x[i][q] = (struct feature_node){f[q].index + 1, f[q].value};
        x[i][m] = (struct feature_node){nt + 1, 1.0};
        x[i][m + 1] = (struct feature_node){-1, 0.0};
        y[i] = tr.labels[i];
    }
    struct problem prob = {.l = tr.n, .n = nt + 1, .y = y, .x = x, .bias = 1.0};
    struct parameter param = {.solver_type = L2R_L2LOSS_SVC_DUAL, .C = 1.0, .eps = 0.1};
    srand(1);
    struct model *plain = train(&prob, &param);
    CHECK(plain && get_nr_class(plain) == 5, "liblinear over every term");
    int labels5[5], same = 0;
    get_labels(plain, labels5);
    double worst_dec = 0, scale = 0;
    struct feature_node *row = NULL;
    for (int i = 0; i < va.n; i++) {
        size_t m = tfidf_features(t, va.ids[i], va.lens[i], &f, &fcap);
        row = realloc(row, (m + 2) * sizeof *row);
        for (size_t q = 0; q < m; q++) row[q] = (struct feature_node){f[q].index + 1, f[q].value};
        row[m] = (struct feature_node){nt + 1, 1.0};
        row[m + 1] = (struct feature_node){-1, 0.0};
        double dv[5], d[5];
        int p0 = (int)predict_values(plain, row, dv);
        int p1 = baseline_decision(b, va.ids[i], va.lens[i], d);
        same += p0 == p1;
        CHECK(p1 == baseline_predict(b, va.ids[i], va.lens[i]), "document %d: decision and predict disagree", i);
        for (int k = 0; k < 5; k++) {
            double e = fabs(d[labels5[k]] - dv[k]);
            if (e > worst_dec) worst_dec = e;
            if (fabs(dv[k]) > scale) scale = fabs(dv[k]);
        }
    }
    /* the dual solution is the same in exact arithmetic; rounding differs (sums in another order) */
    CHECK(same == va.n, "shared columns: %d of %d predictions as liblinear over every term", same, va.n);
    CHECK(worst_dec <= 1e-6 * scale, "shared columns: decision values %.3g apart (largest %.3g)", worst_dec, scale);
    t_ok("shared columns: %d of %d predictions and every decision value as liblinear over all %d terms "
         "(within %.1e; largest value %.2f)",
         same, va.n, nt, worst_dec, scale);
    free(row);
    free(f);
    for (int i = 0; i < tr.n; i++) free(x[i]);
    free(x);
    free(y);
    free_and_destroy_model(&plain);
    tfidf_destroy(&t);
    baseline_destroy(&b);

    /* refusals */
    b = baseline_new(3);
    CHECK(baseline_fit(b, err) == -1 && strstr(err, "no training documents"), "empty fit: %s", err);
    baseline_destroy(&b);
    b = baseline_new(3);
    CHECK(baseline_add(b, tr.ids[0], tr.lens[0], 3, err) == -1 && strstr(err, "label 3 outside 0..2"), "label: %s",
          err);
    t_ok("refused: a fit without documents, a label outside the classes (%s)", err);
    baseline_destroy(&b);
    json_decref(ref);
    s_free(&tr);
    s_free(&va);
    return 0;
}
