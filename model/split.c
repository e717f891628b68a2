/*
 * split.c - the stratified split rule of split.h.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "hb_error.h"
#include "split.h"
#include "strmap.h"

uint64_t split_key(uint64_t seed, const char *id) {
    char s[32];
    int k = snprintf(s, sizeof s, "%" PRIu64 ":", seed);
    return strmap_hash(strmap_hash(STRMAP_FNV_OFFSET, s, (size_t)k), id, strlen(id));
}

typedef struct {
    uint64_t key;
    const char *id;
    size_t i;
} s_item;

static int s_cmp(const void *a, const void *b) {
    const s_item *x = a, *y = b;
    if (x->key != y->key) return x->key < y->key ? -1 : 1;
    return strcmp(x->id, y->id);
}

int split_stratified(size_t n, const char *const *ids, const int *labels, int n_classes, double fraction, uint64_t seed,
                     uint8_t *is_val, char *err) {
    if (!(fraction >= 0 && fraction < 1)) return hb_fail(err, "val fraction %g: must be in [0, 1)", fraction);
    for (size_t i = 0; i < n; i++)
        if (labels[i] < 0 || labels[i] >= n_classes)
            return hb_fail(err, "split: document %s has class %d outside 0..%d", ids[i], labels[i], n_classes - 1);
    s_item *it = hb_malloc(n * sizeof *it);
    for (int c = 0; c < n_classes; c++) {
        size_t m = 0;
        for (size_t i = 0; i < n; i++)
            if (labels[i] == c) it[m++] = (s_item){split_key(seed, ids[i]), ids[i], i};
        if (m > 1) qsort(it, m, sizeof *it, s_cmp);
        size_t n_val = m ? (size_t)floor((double)m * fraction + 0.5) : 0;
        if (m && n_val > m - 1) n_val = m - 1;
        for (size_t k = 0; k < m; k++) is_val[it[k].i] = k < n_val;
    }
    free(it);
    return 0;
}
