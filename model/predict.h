/*
 * predict.h - run an exported classifier (clfdir.h) on documents:
 *
 *   text -> WordPiece -> chunks (the directory's L, stride, max chunks,
 *   policy) -> encoder in eval mode: every chunk's final-layer [CLS] vector
 *   and chunk-classifier logits -> LSTM head over the document's [CLS]
 *   sequence -> class probabilities.
 *
 * Besides the head's probabilities each result carries the per-chunk logits
 * and the mean-chunk-probability vote (mean over chunks of softmax(logits)),
 * the baseline the head is compared with.
 *
 * Throughput: predict_docs runs the chunks of all the documents it is given
 * through the encoder together, in batches of the encoder's arena (the
 * max_batch of clfdir_load), then the head over all the documents in one
 * pass; give it many documents at once. Chunks are always L tokens wide, as
 * in training and EMBED, so the numbers are the ones those phases compute.
 *
 * Not thread-safe: a clfdir's encoder, head and tokenizer are scratch too.
 */
#ifndef HB_PREDICT_H
#define HB_PREDICT_H

#include <stddef.h>
#include <stdint.h>

#include "clfdir.h"

/* One document as chunks, already cut (dataset_ingest's dataset_doc, or chunk_text). */
typedef struct {
    int n_chunks;        /* >= 1 */
    const int32_t *ids;  /* [n_chunks, seq_len]: [CLS] .. [SEP] [PAD].. */
    const uint8_t *mask; /* [n_chunks, seq_len]: 1 real token, 0 [PAD]; NULL: all 1 */
} predict_doc;

typedef struct {
    int n_classes, n_chunks;
    int label;           /* argmax of probs: the document classifier's answer */
    int vote_label;      /* argmax of vote_probs: the baseline's answer */
    float *probs;        /* [C] the LSTM head's softmax */
    float *vote_probs;   /* [C] mean over chunks of softmax(chunk logits) */
    float *chunk_logits; /* [n_chunks, C] the chunk classifier's logits */
} predict_result;

/* Predicts docs[0..n_docs) into out[0..n_docs), whose previous contents are
 * overwritten (not freed): free each with predict_result_free. Fails (nothing
 * allocated) on a document with no chunk or a token id outside the
 * vocabulary, naming the document's index. */
int predict_docs(clfdir *m, const predict_doc *docs, int n_docs, predict_result *out, char *err);

/* One text document (UTF-8, n bytes): tokenized and chunked as at training. */
int predict_text(clfdir *m, const char *text, size_t n, predict_result *out, char *err);
/* One pre-split document (a `chunks` list): item k becomes chunk k, cut to L - 2 tokens. */
int predict_presplit(clfdir *m, const char *const *items, const size_t *lens, int n_items, predict_result *out,
                     char *err);

void predict_result_free(predict_result *r);

#endif
