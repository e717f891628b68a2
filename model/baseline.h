/*
 * baseline.h - the bag-of-words baseline every job's result stands beside:
 * TF-IDF features of the stored WordPiece ids (tfidf.h: unigrams and
 * bigrams, sublinear tf) and a linear SVM from liblinear, the library
 * behind scikit-learn's LinearSVC, with LinearSVC's defaults: L2-regularised
 * squared hinge loss solved in the dual (L2R_L2LOSS_SVC_DUAL), C = 1,
 * tolerance 1e-4, an intercept (bias feature 1), one-vs-rest for more than
 * two classes. Only training documents shape it (vocabulary, idf, weights);
 * validation and test documents are only predicted.
 *
 * Cost: the training documents' ids and their feature vectors (16 bytes a
 * distinct term of a document) are held until baseline_destroy. liblinear's
 * solver shuffles with rand(): baseline_fit seeds it (srand) for a
 * repeatable fit, so it should not race another rand() user in the process.
 */
#ifndef HB_BASELINE_H
#define HB_BASELINE_H

#include <stddef.h>
#include <stdint.h>

#include "hb_error.h"

typedef struct baseline baseline;

/* A model for classes 0..n_classes-1 (n_classes >= 2). */
baseline *baseline_new(int n_classes);
void baseline_destroy(baseline **b);

/* A training document's token ids (copied) and its class. */
int baseline_add(baseline *b, const int32_t *ids, size_t n, int label, char *err);
/* Vocabulary, idf, features and the SVM; -1 (err) without training
 * documents or if liblinear refuses the problem. */
int baseline_fit(baseline *b, char *err);
/* After baseline_fit: the predicted class of a document (not thread-safe on one baseline). */
int baseline_predict(baseline *b, const int32_t *ids, size_t n);

/* After baseline_fit: training documents, terms in the vocabulary. */
size_t baseline_n_train(const baseline *b);
size_t baseline_n_terms(const baseline *b);

#endif
