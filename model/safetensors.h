/*
 * safetensors.h - a small reader/writer of the safetensors format (no C
 * library in Debian): 8 bytes little-endian header length N, N bytes of JSON
 * {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...,
 * "__metadata__": {...}}, then the data (offsets relative to its start).
 *
 * Reading maps the file read-only and validates the whole header at open:
 * a truncated or oversized header, a malformed entry, offsets out of range or
 * a byte size that disagrees with dtype x shape is an error naming the file
 * (and the tensor). F32, F16 and BF16 tensors are read into floats (the
 * halves converted exactly: the Hub ships many checkpoints in half
 * precision); other dtypes are refused when such a tensor is asked for,
 * naming file and tensor.
 *
 * Loading into a params_table looks each view up by its name, then with a
 * "bert." prefix (HF BertFor* checkpoints), then with LayerNorm's legacy
 * gamma/beta names; tensors of the file nobody asks for (pooler.*, cls.*,
 * position_ids) are ignored.
 */
#ifndef HB_SAFETENSORS_H
#define HB_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "params.h"

#define SAFETENSORS_MAX_DIMS 8
#define SAFETENSORS_MAX_HEADER (100u << 20) /* the format's own limit: 100 MB */

typedef struct {
    char *name;
    char dtype[16];
    int ndim;
    int64_t shape[SAFETENSORS_MAX_DIMS];
    size_t begin, end; /* byte offsets into the data section */
} safetensors_entry;

typedef struct {
    char *path;
    unsigned char *map; /* whole file, read-only mapping */
    size_t size;
    const unsigned char *data; /* data section: map + 8 + header length */
    size_t data_size;
    safetensors_entry *entries;
    int n;
} safetensors_file;

int safetensors_open(safetensors_file **out, const char *path, char *err);
void safetensors_close(safetensors_file **f);

/* The entry called name, or NULL. */
const safetensors_entry *safetensors_find(const safetensors_file *f, const char *name);

/* Copies tensor `name` (F32, F16 or BF16; exactly `shape`) into dst as floats. */
int safetensors_read_f32(const safetensors_file *f, const char *name, int ndim, const int64_t *shape, float *dst,
                         char *err);

/* One IEEE half / one bfloat16 (as stored, host order) as a float. */
float safetensors_f16_to_f32(uint16_t h);
float safetensors_bf16_to_f32(uint16_t h);

/* Fills every view of t in buf from the file (names as described above).
 * Views whose name starts with optional_prefix (may be NULL) may be absent:
 * they keep their values, and *n_absent (may be NULL) counts them. */
int safetensors_load_params(const char *path, const params_table *t, float *buf, const char *optional_prefix,
                            int *n_absent, char *err);

/* Writes every view of t from buf as F32 under its own name, atomically
 * (a temporary file renamed over path). */
int safetensors_save_params(const char *path, const params_table *t, const float *buf, char *err);

#endif
