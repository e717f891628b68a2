/*
 * baseline.h - the bag-of-words baseline every job's result stands beside:
 * TF-IDF features of the stored WordPiece ids (tfidf.h: unigrams and
 * bigrams, sublinear tf) and a linear SVM from liblinear, the library
 * behind scikit-learn's LinearSVC, with LinearSVC's model: L2-regularised
 * squared hinge loss solved in the dual (L2R_L2LOSS_SVC_DUAL), C = 1, an
 * intercept (bias feature 1), one-vs-rest for more than two classes. The
 * solver stops at liblinear's own default tolerance for its dual solvers,
 * 0.1, not LinearSVC's 1e-4: on the committed scikit-learn set, spam and
 * brown the accuracy is scikit-learn's at 1e-4 (README "The bag-of-words
 * baseline"), in a third of the solver's time. Only training documents
 * shape it (vocabulary, idf, weights); validation and test documents are
 * only predicted.
 *
 * The terms found in one training document only (most bigrams) share one
 * SVM column per document (baseline.c says why the solution is the same):
 * the weights are (shared terms + training documents) x classes doubles,
 * not terms x classes (20,000 documents of 300 ids, 20 classes: 71 MB
 * instead of 400).
 *
 * Cost: the training documents' ids and their liblinear rows (16 bytes a
 * distinct shared term of a document) are held until baseline_destroy.
 * liblinear's solver shuffles with rand(): baseline_fit seeds it (srand)
 * for a repeatable fit, so it should not race another rand() user in the
 * process.
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
/* The same, and the decision value w_k . x + b_k of every class k into
 * dec[0..n_classes-1] (-HUGE_VAL for a class no training document had; with
 * two classes liblinear has one value v: v and -v). */
int baseline_decision(baseline *b, const int32_t *ids, size_t n, double *dec);

/* After baseline_fit: training documents, terms in the vocabulary. */
size_t baseline_n_train(const baseline *b);
size_t baseline_n_terms(const baseline *b);

#endif
