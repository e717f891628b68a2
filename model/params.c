/* params.c - the flat parameter buffer and its table of named views. */
#include "params.h"

#include <stdlib.h>
#include <string.h>

#include "hb_error.h"

void params_init(params_table *t) {
    memset(t, 0, sizeof *t);
}

int params_add(params_table *t, const char *name, int ndim, const int64_t *shape, int decay) {
    if (t->nviews == t->cap) {
        t->cap = t->cap ? 2 * t->cap : 64;
        t->views = hb_realloc(t->views, (size_t)t->cap * sizeof *t->views);
    }
    params_view *v = &t->views[t->nviews];
    memset(v, 0, sizeof *v);
    snprintf(v->name, sizeof v->name, "%s", name);
    v->ndim = ndim;
    v->numel = 1;
    for (int d = 0; d < ndim; d++) {
        v->shape[d] = shape[d];
        v->numel *= (size_t)shape[d];
    }
    v->decay = decay;
    v->offset = t->numel;
    t->numel += (v->numel + PARAMS_ALIGN_FLOATS - 1) / PARAMS_ALIGN_FLOATS * PARAMS_ALIGN_FLOATS;
    return t->nviews++;
}

float *params_new_buffer(const params_table *t) {
    size_t bytes = (t->numel ? t->numel : PARAMS_ALIGN_FLOATS) * sizeof(float);
    bytes = (bytes + 63) / 64 * 64;
    float *p = aligned_alloc(64, bytes);
    if (!p) {
        fprintf(stderr, "hierbert: out of memory allocating %zu bytes of parameters\n", bytes);
        abort();
    }
    memset(p, 0, bytes);
    return p;
}

void params_free_buffer(float *buf) {
    free(buf);
}

void params_alloc(params_table *t) {
    free(t->data);
    t->data = params_new_buffer(t);
}

void params_free(params_table *t) {
    free(t->views);
    free(t->data);
    memset(t, 0, sizeof *t);
}

int params_find(const params_table *t, const char *name) {
    for (int i = 0; i < t->nviews; i++)
        if (strcmp(t->views[i].name, name) == 0) return i;
    return -1;
}

size_t params_count(const params_table *t) {
    size_t n = 0;
    for (int i = 0; i < t->nviews; i++) n += t->views[i].numel;
    return n;
}

/* view pv's part of [lo, hi): [*a, *b); 0 when it has none (then a = b
 * at the end of [lo, hi) the view is beyond, or at its start) */
static int s_view_part(const params_view *pv, size_t lo, size_t hi, size_t *a, size_t *b) {
    size_t off = pv->offset, end = off + pv->numel;
    *a = off > lo ? off : lo;
    *b = end < hi ? end : hi;
    if (*a < *b) return 1;
    *a = *b = off >= hi ? hi : lo;
    return 0;
}

int params_sparse_range_ok(const params_table *t, int v, size_t lo, size_t hi) {
    const params_view *pv = &t->views[v];
    size_t dim = (size_t)pv->shape[pv->ndim - 1], a, b;
    if (!s_view_part(pv, lo, hi, &a, &b)) return 1;
    return (a - pv->offset) % dim == 0 && (b - pv->offset) % dim == 0;
}

void params_sparse_range_rows(const params_table *t, int v, size_t lo, size_t hi, int32_t *r0, int32_t *r1) {
    const params_view *pv = &t->views[v];
    size_t dim = (size_t)pv->shape[pv->ndim - 1], a, b;
    if (!s_view_part(pv, lo, hi, &a, &b)) {
        *r0 = *r1 = 0;
        return;
    }
    *r0 = (int32_t)((a - pv->offset) / dim);
    *r1 = (int32_t)((b - pv->offset) / dim);
}

size_t params_sparse_range_len(const params_table *t, int v, size_t lo, size_t hi, size_t n_rows) {
    const params_view *pv = &t->views[v];
    size_t dim = (size_t)pv->shape[pv->ndim - 1], a, b;
    s_view_part(pv, lo, hi, &a, &b);
    return (hi - lo) - (b - a) + n_rows * dim;
}

void params_sparse_range_gather(const params_table *t, int v, const float *dense, size_t lo, size_t hi,
                                const int32_t *rows, size_t n_rows, float *out) {
    const params_view *pv = &t->views[v];
    size_t dim = (size_t)pv->shape[pv->ndim - 1], a, b;
    s_view_part(pv, lo, hi, &a, &b);
    memcpy(out, dense + lo, (a - lo) * sizeof(float));
    float *o = out + (a - lo);
    for (size_t r = 0; r < n_rows; r++, o += dim)
        memcpy(o, dense + pv->offset + (size_t)rows[r] * dim, dim * sizeof(float));
    memcpy(o, dense + b, (hi - b) * sizeof(float));
}

void params_sparse_range_axpy(const params_table *t, int v, const float *sparse, size_t lo, size_t hi,
                              const int32_t *rows, size_t n_rows, float w, float *dense) {
    const params_view *pv = &t->views[v];
    size_t dim = (size_t)pv->shape[pv->ndim - 1], a, b;
    s_view_part(pv, lo, hi, &a, &b);
    size_t head = a - lo, tail = hi - b;
    const float *s_rows = sparse + head, *s_tail = s_rows + n_rows * dim;
    float *d_tail = dense + (b - lo);
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < head; i++) dense[i] += w * sparse[i];
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < tail; i++) d_tail[i] += w * s_tail[i];
    for (size_t r = 0; r < n_rows; r++) {
        float *d = dense + (pv->offset + (size_t)rows[r] * dim - lo);
        const float *s = s_rows + r * dim;
        for (size_t k = 0; k < dim; k++) d[k] += w * s[k];
    }
}

void params_sparse_range_scatter(const params_table *t, int v, const float *sparse, size_t lo, size_t hi,
                                 const int32_t *rows, size_t n_rows, float *dense) {
    const params_view *pv = &t->views[v];
    size_t dim = (size_t)pv->shape[pv->ndim - 1], a, b;
    s_view_part(pv, lo, hi, &a, &b);
    memcpy(dense + lo, sparse, (a - lo) * sizeof(float));
    const float *s_rows = sparse + (a - lo);
    for (size_t r = 0; r < n_rows; r++, s_rows += dim)
        memcpy(dense + pv->offset + (size_t)rows[r] * dim, s_rows, dim * sizeof(float));
    memcpy(dense + b, s_rows, (hi - b) * sizeof(float));
}

size_t params_sparse_len(const params_table *t, int v, size_t n_rows) {
    return params_sparse_range_len(t, v, 0, t->numel, n_rows);
}

void params_sparse_gather(const params_table *t, int v, const float *dense, const int32_t *rows, size_t n_rows,
                          float *out) {
    params_sparse_range_gather(t, v, dense, 0, t->numel, rows, n_rows, out);
}

void params_sparse_axpy(const params_table *t, int v, const float *sparse, const int32_t *rows, size_t n_rows, float w,
                        float *dense) {
    params_sparse_range_axpy(t, v, sparse, 0, t->numel, rows, n_rows, w, dense);
}
