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

size_t params_sparse_len(const params_table *t, int v, size_t n_rows) {
    const params_view *pv = &t->views[v];
    size_t dim = (size_t)pv->shape[pv->ndim - 1];
    return t->numel - pv->numel + n_rows * dim;
}

void params_sparse_gather(const params_table *t, int v, const float *dense, const int32_t *rows, size_t n_rows,
                          float *out) {
    const params_view *pv = &t->views[v];
    size_t dim = (size_t)pv->shape[pv->ndim - 1], off = pv->offset, end = off + pv->numel;
    memcpy(out, dense, off * sizeof(float));
    float *o = out + off;
    for (size_t r = 0; r < n_rows; r++, o += dim) memcpy(o, dense + off + (size_t)rows[r] * dim, dim * sizeof(float));
    memcpy(o, dense + end, (t->numel - end) * sizeof(float));
}

void params_sparse_axpy(const params_table *t, int v, const float *sparse, const int32_t *rows, size_t n_rows, float w,
                        float *dense) {
    const params_view *pv = &t->views[v];
    size_t dim = (size_t)pv->shape[pv->ndim - 1], off = pv->offset, end = off + pv->numel, tail = t->numel - end;
    const float *s_rows = sparse + off, *s_tail = s_rows + n_rows * dim;
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < off; i++) dense[i] += w * sparse[i];
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < tail; i++) dense[end + i] += w * s_tail[i];
    for (size_t r = 0; r < n_rows; r++) {
        float *d = dense + off + (size_t)rows[r] * dim;
        const float *s = s_rows + r * dim;
        for (size_t k = 0; k < dim; k++) d[k] += w * s[k];
    }
}
