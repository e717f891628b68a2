/*
 * tfidf.h - TF-IDF features of token-id documents, unigrams and bigrams:
 * scikit-learn's TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
 * with the defaults it keeps (smooth_idf, norm "l2", min_df 1), over
 * integer tokens (WordPiece ids) instead of words.
 *
 * A term is a unigram (a) or a bigram (a, b) of consecutive ids. The
 * vocabulary and the document frequencies come from the training documents
 * (tfidf_add, then tfidf_finish); then, for any document,
 *     tf(t)  = 1 + ln(count of t in the document)      (sublinear)
 *     idf(t) = 1 + ln((1 + n) / (1 + df(t)))           (smooth; n documents)
 *     x(t)   = tf(t) idf(t) / || tf idf ||_2            (terms outside the vocabulary dropped)
 * Feature indices are 0-based, in the order terms were first seen.
 *
 * Memory: one hash slot (16 bytes) per distinct term, at most half full;
 * tfidf_features' scratch grows to the longest document.
 */
#ifndef HB_TFIDF_H
#define HB_TFIDF_H

#include <stddef.h>
#include <stdint.h>

typedef struct tfidf tfidf;

/* One feature of a document vector. */
typedef struct {
    int32_t index;
    float value;
} tfidf_feature;

tfidf *tfidf_new(void);
void tfidf_destroy(tfidf **t);

/* A training document: its terms join the vocabulary, each counted once
 * towards its document frequency. Not after tfidf_finish. */
void tfidf_add(tfidf *t, const int32_t *ids, size_t n);
/* Fixes the vocabulary and computes the idf of every term. */
void tfidf_finish(tfidf *t);

/* Terms in the vocabulary; training documents added. */
size_t tfidf_n_terms(const tfidf *t);
size_t tfidf_n_docs(const tfidf *t);
/* Feature index of unigram a (b < 0) or bigram (a, b); -1 if unknown. */
long tfidf_term_index(const tfidf *t, int32_t a, int32_t b);
/* idf of feature index i (after tfidf_finish). */
double tfidf_idf(const tfidf *t, long i);

/* The document's vector (after tfidf_finish): its features in increasing
 * index order into *out (grown as needed, *cap its capacity in features);
 * returns how many. A document with no known term has 0. Not thread-safe
 * on one tfidf (shared scratch). */
size_t tfidf_features(tfidf *t, const int32_t *ids, size_t n, tfidf_feature **out, size_t *cap);

#endif
