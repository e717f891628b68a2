/* corpus.c - a job's data in memory: chunks of token ids grouped by
 * document, for the train and validation splits (see coord.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coord.h"

static void s_split_free(coord_split *s) {
    free(s->ids);
    free(s->lengths);
    free(s->labels);
    free(s->doc_start);
    free(s->doc_count);
    for (size_t i = 0; i < s->n_docs; i++) free(s->doc_ids[i]);
    free(s->doc_ids);
    memset(s, 0, sizeof *s);
}

void coord_corpus_free(coord_corpus *c) {
    s_split_free(&c->train);
    s_split_free(&c->val);
    for (int i = 0; c->label_names && i < c->num_classes; i++) free(c->label_names[i]);
    free(c->label_names);
    memset(c, 0, sizeof *c);
}

static uint64_t s_mix(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* appends one document of nch chunks; the caller fills the rows */
static void s_add_doc(coord_split *s, int L, const char *id, int nch, size_t *cap_ch, size_t *cap_doc) {
    if (s->n_docs == *cap_doc) {
        *cap_doc = *cap_doc ? 2 * *cap_doc : 64;
        s->doc_start = hb_realloc(s->doc_start, *cap_doc * sizeof *s->doc_start);
        s->doc_count = hb_realloc(s->doc_count, *cap_doc * sizeof *s->doc_count);
        s->doc_ids = hb_realloc(s->doc_ids, *cap_doc * sizeof *s->doc_ids);
    }
    while (s->n + (size_t)nch > *cap_ch) {
        *cap_ch = *cap_ch ? 2 * *cap_ch : 256;
        s->ids = hb_realloc(s->ids, *cap_ch * (size_t)L * sizeof(int32_t));
        s->lengths = hb_realloc(s->lengths, *cap_ch * sizeof(int32_t));
        s->labels = hb_realloc(s->labels, *cap_ch * sizeof(int32_t));
    }
    s->doc_start[s->n_docs] = (uint32_t)s->n;
    s->doc_count[s->n_docs] = (uint32_t)nch;
    s->doc_ids[s->n_docs] = strdup(id);
    s->n_docs++;
}

int coord_corpus_synthetic(coord_corpus *c, int n_docs, int C, int L, int V, float val_fraction, uint64_t seed,
                           char *err) {
    memset(c, 0, sizeof *c);
    if (n_docs < 2 || C < 2 || L < 8 || V < 10 * C + 50)
        return hb_fail(err, "synthetic corpus: %d documents, %d classes, L %d, vocab %d (need vocab >= %d)", n_docs, C,
                       L, V, 10 * C + 50);
    c->L = L;
    c->vocab_size = V;
    c->num_classes = C;
    c->label_names = hb_calloc((size_t)C, sizeof *c->label_names);
    for (int k = 0; k < C; k++) {
        char name[32];
        snprintf(name, sizeof name, "class%d", k);
        c->label_names[k] = strdup(name);
    }
    if (val_fraction <= 0) val_fraction = 0.2f;
    int n_val = (int)(n_docs * val_fraction + 0.5f);
    if (n_val < 1) n_val = 1;
    size_t cap_ch[2] = {0, 0}, cap_doc[2] = {0, 0};
    uint64_t s = seed ^ 0x5eed5eedull;
    for (int d = 0; d < n_docs; d++) {
        int is_val = d >= n_docs - n_val;
        coord_split *sp = is_val ? &c->val : &c->train;
        int label = d % C, nch = 1 + (int)(s_mix(&s) % 3);
        char id[32];
        snprintf(id, sizeof id, "doc%06d", d);
        s_add_doc(sp, L, id, nch, &cap_ch[is_val], &cap_doc[is_val]);
        for (int k = 0; k < nch; k++) {
            size_t r = sp->n++;
            int len = L / 2 + (int)(s_mix(&s) % (uint64_t)(L / 2 + 1));
            int32_t *row = sp->ids + r * (size_t)L;
            row[0] = 2; /* a [CLS]-like first token */
            for (int t = 1; t < L; t++) {
                if (t >= len) {
                    row[t] = 0;
                    continue;
                }
                uint64_t x = s_mix(&s);
                /* 30% class tokens (5 + 10*label + 0..9), else background */
                row[t] = (x % 10 < 3) ? 5 + 10 * label + (int)((x >> 8) % 10)
                                      : 5 + 10 * C + (int)((x >> 8) % (uint64_t)(V - 5 - 10 * C));
            }
            sp->lengths[r] = len;
            sp->labels[r] = label;
        }
    }
    return 0;
}

int coord_corpus_ingest(coord_corpus *c, const Hierbert__Submit *s, int L, int stride, char *err) {
    memset(c, 0, sizeof *c);
    (void)L;
    (void)stride;
    return hb_fail(err, "%s: dataset readers (model/dataset.h) are not in this build yet; use --synthetic N",
                   s->train_path);
}
