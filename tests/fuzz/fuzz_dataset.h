/*
 * fuzz_dataset.h - the dataset harnesses' common part (JSONL, CSV, folder):
 * the first input byte picks the ingest options (strict or skip-bad, the
 * encoding, replace on decode errors, L, stride, a chunk cap and policy, a
 * validation fraction); dataset_ingest must then return 0 or -1 with a
 * message, and every document it emits must be well formed: 1.. chunks of
 * 2..L ids inside the vocabulary, a label inside the label map.
 */
#ifndef HB_FUZZ_DATASET_H
#define HB_FUZZ_DATASET_H

#include "dataset.h"
#include "fuzz_util.h"
#include "hb_error.h"
#include "labels.h"
#include "wordpiece.h"

static inline wp_tokenizer *fzd_tok(void) {
    static wp_tokenizer *tok;
    if (!tok) {
        char err[HB_ERR_LEN], path[1024];
        snprintf(path, sizeof path, "%s/tests/data/vocab_small.txt", HB_SOURCE_DIR);
        if (wp_load(&tok, path, 1, err)) {
            fprintf(stderr, "%s\n", err);
            abort();
        }
    }
    return tok;
}

typedef struct {
    long emitted;
    int seq_len, vocab;
    const label_map *labels;
} fzd_ctx;

static int fzd_emit(void *ctx, const dataset_doc *d, char *err) {
    fzd_ctx *c = ctx;
    (void)err;
    if (d->n_chunks < 1 || d->seq_len != c->seq_len || !d->id) abort();
    size_t n = 0;
    for (int k = 0; k < d->n_chunks; k++) {
        if (d->chunk_len[k] < 2 || d->chunk_len[k] > (uint32_t)c->seq_len) abort();
        n += d->chunk_len[k];
    }
    if (n != d->n_packed) abort();
    for (size_t i = 0; i < n; i++)
        if (d->packed[i] < 0 || d->packed[i] >= c->vocab) abort();
    if (d->label < -1 || (c->labels->n && d->label >= c->labels->n)) abort();
    c->emitted++;
    return 0;
}

/* ingests path with the options byte o */
static void fzd_ingest(const char *path, uint8_t o) {
    static const char *enc[4] = {NULL, "latin1", "UTF-16", "windows-1252"};
    static const int L[4] = {8, 16, 5, 64};
    wp_tokenizer *tok = fzd_tok();
    dataset_options opt;
    memset(&opt, 0, sizeof opt);
    opt.skip_bad = o & 1;
    opt.encoding = enc[(o >> 1) & 3];
    opt.decode_replace = (o >> 3) & 1;
    opt.chunk.seq_len = L[(o >> 4) & 3];
    opt.chunk.stride = (o & 0x40) ? opt.chunk.seq_len / 3 : 0;
    opt.chunk.max_chunks = (o & 0x80) ? 2 : 0;
    opt.chunk.policy = (chunk_policy)((o >> 2) % 3);
    opt.val_fraction = (o % 5 == 0) ? 0.3 : 0;
    opt.seed = 7;
    dataset_input in = {path, DATASET_AUTO, DATASET_TRAIN};
    label_map lm;
    char err[HB_ERR_LEN] = "";
    fzd_ctx c = {0, opt.chunk.seq_len, tok->n_tokens, &lm};
    dataset_report rep;
    memset(&rep, 0, sizeof rep);
    int rc = dataset_ingest(&in, 1, tok, &opt, &lm, fzd_emit, &c, &rep, err);
    if (rc != 0 && rc != -1) abort();
    if (rc == -1 && !err[0]) abort();             /* refused: with a reason */
    if (rc == -1 && c.emitted && !opt.skip_bad) { /* strict: a refusal comes before anything is handed out */
        fprintf(stderr, "emitted %ld documents, then: %s\n", c.emitted, err);
        abort();
    }
    labels_free(&lm);
}

#endif
