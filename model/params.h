/*
 * params.h - every trainable float of a model in one contiguous buffer.
 *
 * A model declares its tensors by name and shape (Hugging Face names for
 * BERT, e.g. "encoder.layer.0.attention.self.query.weight"); the table lays
 * them out back to back, each view starting on a 64-byte boundary. Gradients
 * and each optimizer moment are plain float arrays of params_table.numel with
 * the same layout, so averaging, sending, checkpointing and the optimizer are
 * single loops over one buffer, and a view's offset finds its slice in any.
 *
 * Life cycle: params_init, params_add for each tensor, params_alloc (zeroed
 * buffer), then use; params_free at the end.
 */
#ifndef HB_PARAMS_H
#define HB_PARAMS_H

#include <stddef.h>
#include <stdint.h>

#define PARAMS_NAME_LEN 96
#define PARAMS_MAX_DIMS 4
#define PARAMS_ALIGN_FLOATS 16 /* 64 bytes */

typedef struct {
    char name[PARAMS_NAME_LEN];
    size_t offset; /* in floats, from the buffer's start */
    size_t numel;
    int ndim;
    int64_t shape[PARAMS_MAX_DIMS];
    int decay; /* 1: AdamW weight decay applies (matrices); 0: biases, LayerNorm */
} params_view;

typedef struct {
    params_view *views;
    int nviews, cap;
    size_t numel; /* floats in the buffer, padding included */
    float *data;  /* NULL until params_alloc */
} params_table;

void params_init(params_table *t);
/* Declares a tensor; returns its index. shape has ndim entries (1..4). */
int params_add(params_table *t, const char *name, int ndim, const int64_t *shape, int decay);
/* Allocates the zeroed, aligned buffer for everything declared so far. */
void params_alloc(params_table *t);
/* An aligned, zeroed float array of t->numel: gradients, moments, copies. */
float *params_new_buffer(const params_table *t);
void params_free_buffer(float *buf);
void params_free(params_table *t);

/* Index of the named view, or -1. */
int params_find(const params_table *t, const char *name);
/* Pointer to view i's slice of buf (any buffer with this layout). */
static inline float *params_at(const params_table *t, float *buf, int i) {
    return buf + t->views[i].offset;
}

/* Floats that carry data (padding excluded): what a checkpoint or a message holds. */
size_t params_count(const params_table *t);

/* Row-sparse gradients. A gradient whose view v (a matrix [rows][dim], e.g.
 * the word embeddings) is zero outside rows[0..n) (strictly increasing)
 * travels as "the buffer with view v cut out and those rows put in its
 * place": params_sparse_len floats. The gather/axpy pair is exact: scattering
 * back gives the dense buffer bit for bit. */
size_t params_sparse_len(const params_table *t, int v, size_t n_rows);
void params_sparse_gather(const params_table *t, int v, const float *dense, const int32_t *rows, size_t n_rows,
                          float *out);
/* dense += w * sparse (rows already checked against the view). */
void params_sparse_axpy(const params_table *t, int v, const float *sparse, const int32_t *rows, size_t n_rows, float w,
                        float *dense);

/* The same restricted to floats [lo, hi) of the buffer (one shard of a
 * sharded reduction): the shard with view v's part cut down to rows (view
 * rows inside the shard, strictly increasing). params_sparse_range_ok: view
 * v's part of [lo, hi) starts and ends on row boundaries (required);
 * _rows: the view rows inside [lo, hi) are [*r0, *r1). In _axpy, dense is
 * the shard: dense[0] is float lo. The whole-buffer functions above are
 * these over [0, numel). */
int params_sparse_range_ok(const params_table *t, int v, size_t lo, size_t hi);
void params_sparse_range_rows(const params_table *t, int v, size_t lo, size_t hi, int32_t *r0, int32_t *r1);
size_t params_sparse_range_len(const params_table *t, int v, size_t lo, size_t hi, size_t n_rows);
void params_sparse_range_gather(const params_table *t, int v, const float *dense, size_t lo, size_t hi,
                                const int32_t *rows, size_t n_rows, float *out);
void params_sparse_range_axpy(const params_table *t, int v, const float *sparse, size_t lo, size_t hi,
                              const int32_t *rows, size_t n_rows, float w, float *dense);
/* The inverse of _gather: copies the sparse form back into dense (the
 * whole buffer, as _gather's); n_rows 0: the shard without view v's part. */
void params_sparse_range_scatter(const params_table *t, int v, const float *sparse, size_t lo, size_t hi,
                                 const int32_t *rows, size_t n_rows, float *dense);

#endif
