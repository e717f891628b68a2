/*
 * test_epoch_order.c - TRAIN's data order (coordinator/rounds.c,
 * coord_epoch_order): a permutation of every training chunk, a function of
 * (seed, epoch) alone, new each epoch, and - the reason it shuffles chunks
 * rather than documents - a global batch mixes documents and labels. A
 * corpus of 40 documents x 16 chunks (Brown's shape at max 16 chunks) with
 * 4 labels: a document-order stream (the old order) puts one document, one
 * label, in every batch of 16; the chunk order must not.
 */
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "coord.h"

enum { DOCS = 40, PER = 16, N = DOCS * PER, G = 16, LABELS = 4 };

/* the distinct documents and labels in stream[b*G, b*G+G) */
static void s_batch_mix(const uint32_t *order, int b, int *docs, int *labels) {
    int seen_d[DOCS] = {0}, seen_l[LABELS] = {0};
    *docs = *labels = 0;
    for (int i = b * G; i < b * G + G; i++) {
        int d = (int)order[i] / PER; /* chunk i of the corpus belongs to document i / PER */
        if (!seen_d[d]++) (*docs)++;
        if (!seen_l[d % LABELS]++) (*labels)++;
    }
}

int main(void) {
    static uint32_t a[N], b[N], c[N];
    coord_epoch_order(a, N, 7, 0);
    /* a permutation: every chunk exactly once */
    int count[N] = {0};
    for (int i = 0; i < N; i++) {
        CHECK(a[i] < N, "order[%d] = %u out of range", i, a[i]);
        count[a[i]]++;
    }
    for (int i = 0; i < N; i++) CHECK(count[i] == 1, "chunk %d appears %d times", i, count[i]);
    t_ok("epoch order: a permutation of all %d chunks", N);

    coord_epoch_order(b, N, 7, 0);
    CHECK(memcmp(a, b, sizeof a) == 0, "the same (seed, epoch) gave another order");
    coord_epoch_order(b, N, 7, 1);
    coord_epoch_order(c, N, 8, 0);
    int diff_epoch = 0, diff_seed = 0;
    for (int i = 0; i < N; i++) diff_epoch += a[i] != b[i], diff_seed += a[i] != c[i];
    CHECK(diff_epoch > N / 2 && diff_seed > N / 2, "epoch 1 differs in %d places, seed 8 in %d", diff_epoch, diff_seed);
    t_ok("deterministic for (seed, epoch); another epoch moves %d of %d chunks, another seed %d", diff_epoch, N,
         diff_seed);

    /* batches mix documents and labels */
    int min_docs = G, min_labels = LABELS, one_label = 0;
    for (int bi = 0; bi < N / G; bi++) {
        int d, l;
        s_batch_mix(a, bi, &d, &l);
        if (d < min_docs) min_docs = d;
        if (l < min_labels) min_labels = l;
        one_label += l == 1;
    }
    CHECK(min_docs >= 8 && one_label == 0, "a batch of %d chunks held only %d documents; %d single-label batches", G,
          min_docs, one_label);
    /* the check can fail: the document-order stream the coordinator used before */
    uint32_t docorder[N];
    for (int i = 0; i < N; i++) docorder[i] = (uint32_t)i;
    int d0, l0;
    s_batch_mix(docorder, 3, &d0, &l0);
    CHECK(d0 == 1 && l0 == 1, "document order: %d documents in a batch", d0);
    t_ok("every batch of %d mixes >= %d documents and >= %d labels (document order: %d document, %d label)", G,
         min_docs, min_labels, d0, l0);
    return 0;
}
