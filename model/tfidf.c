/* tfidf.c - TF-IDF over unigrams and bigrams of token ids (tfidf.h). */
#include "tfidf.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hb_error.h"

#define EMPTY UINT64_MAX

typedef struct {
    uint64_t key;     /* a << 32 | (b + 1); unigrams have b + 1 = 0 */
    int32_t index;    /* feature index */
    int32_t df;       /* training documents holding the term */
    int32_t last_doc; /* the last training document that counted it */
} slot;

struct tfidf {
    slot *slots;
    size_t cap, n_terms; /* cap: a power of two, at most half full */
    int32_t n_docs;
    double *idf; /* [n_terms] after tfidf_finish */
    int finished;
    int32_t *scratch; /* feature indices of the document being transformed */
    size_t scratch_cap;
};

static uint64_t s_key(int32_t a, int32_t b) {
    return (uint64_t)(uint32_t)a << 32 | (uint32_t)(b + 1);
}

/* splitmix64's finalizer */
static uint64_t s_hash(uint64_t x) {
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static slot *s_find(const tfidf *t, uint64_t key) {
    size_t mask = t->cap - 1, i = s_hash(key) & mask;
    while (t->slots[i].key != EMPTY && t->slots[i].key != key) i = (i + 1) & mask;
    return &t->slots[i];
}

static void s_grow(tfidf *t) {
    slot *old = t->slots;
    size_t old_cap = t->cap;
    t->cap = old_cap ? 2 * old_cap : 1024;
    t->slots = hb_malloc(t->cap * sizeof(slot));
    for (size_t i = 0; i < t->cap; i++) t->slots[i].key = EMPTY;
    for (size_t i = 0; i < old_cap; i++)
        if (old[i].key != EMPTY) *s_find(t, old[i].key) = old[i];
    free(old);
}

tfidf *tfidf_new(void) {
    tfidf *t = hb_calloc(1, sizeof *t);
    s_grow(t);
    return t;
}

void tfidf_destroy(tfidf **tp) {
    tfidf *t = *tp;
    if (!t) return;
    free(t->slots);
    free(t->idf);
    free(t->scratch);
    free(t);
    *tp = NULL;
}

static void s_count(tfidf *t, uint64_t key) {
    if (2 * (t->n_terms + 1) > t->cap) s_grow(t);
    slot *s = s_find(t, key);
    if (s->key == EMPTY) {
        s->key = key;
        s->index = (int32_t)t->n_terms++;
        s->df = 0;
        s->last_doc = -1;
    }
    if (s->last_doc != t->n_docs) {
        s->last_doc = t->n_docs;
        s->df++;
    }
}

void tfidf_add(tfidf *t, const int32_t *ids, size_t n) {
    for (size_t i = 0; i < n; i++) {
        s_count(t, s_key(ids[i], -1));
        if (i + 1 < n) s_count(t, s_key(ids[i], ids[i + 1]));
    }
    t->n_docs++;
}

void tfidf_finish(tfidf *t) {
    free(t->idf);
    t->idf = hb_malloc((t->n_terms ? t->n_terms : 1) * sizeof(double));
    for (size_t i = 0; i < t->cap; i++) {
        const slot *s = &t->slots[i];
        if (s->key != EMPTY) t->idf[s->index] = 1.0 + log((1.0 + t->n_docs) / (1.0 + s->df));
    }
    t->finished = 1;
}

size_t tfidf_n_terms(const tfidf *t) {
    return t->n_terms;
}

size_t tfidf_n_docs(const tfidf *t) {
    return (size_t)t->n_docs;
}

long tfidf_term_index(const tfidf *t, int32_t a, int32_t b) {
    const slot *s = s_find(t, s_key(a, b < 0 ? -1 : b));
    return s->key == EMPTY ? -1 : s->index;
}

double tfidf_idf(const tfidf *t, long i) {
    return t->finished && i >= 0 && (size_t)i < t->n_terms ? t->idf[i] : 0.0;
}

static int s_cmp_i32(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

size_t tfidf_features(tfidf *t, const int32_t *ids, size_t n, tfidf_feature **out, size_t *cap) {
    if (2 * n > t->scratch_cap) {
        t->scratch_cap = 2 * n;
        t->scratch = hb_realloc(t->scratch, t->scratch_cap * sizeof(int32_t));
    }
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        long k = tfidf_term_index(t, ids[i], -1);
        if (k >= 0) t->scratch[m++] = (int32_t)k;
        if (i + 1 < n && (k = tfidf_term_index(t, ids[i], ids[i + 1])) >= 0) t->scratch[m++] = (int32_t)k;
    }
    qsort(t->scratch, m, sizeof(int32_t), s_cmp_i32);
    size_t nf = 0;
    double ss = 0;
    for (size_t i = 0; i < m;) {
        size_t j = i;
        while (j < m && t->scratch[j] == t->scratch[i]) j++;
        if (nf == *cap) {
            *cap = *cap ? 2 * *cap : 256;
            *out = hb_realloc(*out, *cap * sizeof(tfidf_feature));
        }
        double v = (1.0 + log((double)(j - i))) * t->idf[t->scratch[i]];
        (*out)[nf].index = t->scratch[i];
        (*out)[nf].value = (float)v;
        ss += v * v;
        nf++;
        i = j;
    }
    double inv = ss > 0 ? 1.0 / sqrt(ss) : 0.0;
    for (size_t i = 0; i < nf; i++) (*out)[i].value = (float)((*out)[i].value * inv);
    return nf;
}
