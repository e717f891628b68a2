/*
 * predict.c - documents through an exported classifier: encoder over every
 * chunk in arena-sized batches (chunks of different documents share a
 * batch), then the LSTM head over all documents at once (predict.h).
 */
#include "predict.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"

void predict_result_free(predict_result *r) {
    if (!r) return;
    free(r->probs);
    free(r->vote_probs);
    free(r->chunk_logits);
    memset(r, 0, sizeof *r);
}

/* softmax of C logits into p (max-subtracted, in double for the sum) */
static void s_softmax(const float *z, int C, float *p) {
    float mx = z[0];
    for (int c = 1; c < C; c++)
        if (z[c] > mx) mx = z[c];
    double s = 0;
    for (int c = 0; c < C; c++) s += exp((double)z[c] - mx);
    for (int c = 0; c < C; c++) p[c] = (float)(exp((double)z[c] - mx) / s);
}

int predict_docs(clfdir *m, const predict_doc *docs, int n_docs, predict_result *out, char *err) {
    if (n_docs < 1) return hb_fail(err, "predict: no documents");
    const int L = m->chunking.seq_len, H = m->bert->cfg.hidden_size, C = m->labels.n, BB = m->bert->max_batch;
    const int V = m->bert->cfg.vocab_size;
    size_t N = 0;
    for (int d = 0; d < n_docs; d++) {
        if (docs[d].n_chunks < 1) return hb_fail(err, "predict: document %d has no chunk", d);
        const int32_t *ids = docs[d].ids;
        for (size_t i = 0; i < (size_t)docs[d].n_chunks * L; i++)
            if (ids[i] < 0 || ids[i] >= V)
                return hb_fail(err, "predict: document %d, chunk %zu: token id %d outside the vocabulary (0..%d)", d,
                               i / L, ids[i], V - 1);
        N += (size_t)docs[d].n_chunks;
    }
    /* [CLS] vectors and logits of every chunk, documents back to back */
    float *cls = hb_malloc(N * H * sizeof(float)), *logits = hb_malloc(N * C * sizeof(float));
    int32_t *ids = hb_malloc((size_t)BB * L * sizeof *ids);
    uint8_t *mask = hb_malloc((size_t)BB * L);
    size_t row = 0, done = 0;
    int b = 0, rc = 0;
    for (int d = 0; d < n_docs && !rc; d++) {
        for (int k = 0; k < docs[d].n_chunks && !rc; k++) {
            memcpy(ids + (size_t)b * L, docs[d].ids + (size_t)k * L, (size_t)L * sizeof *ids);
            if (docs[d].mask)
                memcpy(mask + (size_t)b * L, docs[d].mask + (size_t)k * L, (size_t)L);
            else
                memset(mask + (size_t)b * L, 1, (size_t)L);
            row++;
            if (++b == BB || row == N) {
                if (bert_embed_cls(m->bert, ids, mask, b, L, cls + done * H, logits + done * C))
                    rc = hb_fail(err, "predict: the encoder refused a batch of %d chunks of %d tokens", b, L);
                done += (size_t)b;
                b = 0;
            }
        }
    }
    free(ids);
    free(mask);
    if (rc) {
        free(cls);
        free(logits);
        return -1;
    }
    /* the head over all documents */
    int *lens = hb_malloc((size_t)n_docs * sizeof *lens);
    const float **xs = hb_malloc((size_t)n_docs * sizeof *xs);
    float *probs = hb_malloc((size_t)n_docs * C * sizeof(float));
    size_t off = 0;
    for (int d = 0; d < n_docs; d++) {
        lens[d] = docs[d].n_chunks;
        xs[d] = cls + off * H;
        off += (size_t)docs[d].n_chunks;
    }
    lstm_batch batch = {n_docs, lens, (const float *const *)xs, NULL};
    rc = lstm_predict(m->head, &batch, probs, err);
    if (rc == 0) {
        float *cp = hb_malloc(sizeof(float) * C * (size_t)docs[0].n_chunks);
        size_t cp_cap = (size_t)docs[0].n_chunks;
        off = 0;
        for (int d = 0; d < n_docs; d++) {
            predict_result *r = &out[d];
            const int K = docs[d].n_chunks;
            r->n_classes = C;
            r->n_chunks = K;
            r->probs = hb_malloc(sizeof(float) * C);
            memcpy(r->probs, probs + (size_t)d * C, sizeof(float) * C);
            r->label = metrics_argmax(r->probs, C);
            r->chunk_logits = hb_malloc(sizeof(float) * C * K);
            memcpy(r->chunk_logits, logits + off * C, sizeof(float) * C * K);
            if ((size_t)K > cp_cap) {
                cp_cap = (size_t)K;
                cp = hb_realloc(cp, sizeof(float) * C * cp_cap);
            }
            for (int k = 0; k < K; k++) s_softmax(r->chunk_logits + (size_t)k * C, C, cp + (size_t)k * C);
            r->vote_probs = hb_malloc(sizeof(float) * C);
            r->vote_label = metrics_vote_mean(cp, K, C, r->vote_probs);
            off += (size_t)K;
        }
        free(cp);
    }
    free(lens);
    free(xs);
    free(probs);
    free(cls);
    free(logits);
    return rc;
}

static int s_predict_set(clfdir *m, const chunk_set *s, predict_result *out, char *err) {
    predict_doc d = {s->n_chunks, s->ids, s->mask};
    return predict_docs(m, &d, 1, out, err);
}

int predict_text(clfdir *m, const char *text, size_t n, predict_result *out, char *err) {
    wp_ids toks = {0};
    chunk_set s = {0};
    int rc = wp_tokenize(m->tok, text, n, &toks, NULL, err);
    if (rc == 0 && toks.n == 0) rc = hb_fail(err, "predict: the document is empty (no tokens)");
    if (rc == 0) {
        chunk_text(&m->chunk, toks.v, toks.n, &s);
        rc = s_predict_set(m, &s, out, err);
    }
    chunk_set_free(&s);
    wp_ids_free(&toks);
    return rc;
}

int predict_presplit(clfdir *m, const char *const *items, const size_t *lens, int n_items, predict_result *out,
                     char *err) {
    if (n_items < 1) return hb_fail(err, "predict: the document has an empty chunks list");
    wp_ids toks = {0};
    chunk_set s = {0};
    size_t *off = hb_malloc(sizeof *off * ((size_t)n_items + 1));
    int rc = 0;
    for (int k = 0; k < n_items && !rc; k++) {
        off[k] = toks.n;
        rc = wp_tokenize(m->tok, items[k], lens[k], &toks, NULL, err);
        if (rc == 0 && toks.n == off[k]) rc = hb_fail(err, "predict: chunk %d is empty (no tokens)", k);
    }
    off[n_items] = toks.n;
    if (rc == 0) {
        chunk_presplit(&m->chunk, toks.v, off, (size_t)n_items, &s);
        rc = s_predict_set(m, &s, out, err);
    }
    free(off);
    chunk_set_free(&s);
    wp_ids_free(&toks);
    return rc;
}
