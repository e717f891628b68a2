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
