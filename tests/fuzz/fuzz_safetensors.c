/*
 * fuzz_safetensors.c - a safetensors file (model.safetensors,
 * head.safetensors): safetensors_open validates the whole header; every
 * entry it accepts must lie inside the data section, and reading it (when
 * small) into floats must succeed or be refused with a reason (dtype).
 */
#include "fuzz_util.h"
#include "hb_error.h"
#include "safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fz_write("m.safetensors", data, size);
    safetensors_file *f = NULL;
    char err[HB_ERR_LEN] = "";
    if (safetensors_open(&f, path, err)) {
        if (f || !err[0]) abort();
        return 0;
    }
    for (int i = 0; i < f->n; i++) {
        const safetensors_entry *e = &f->entries[i];
        if (e->begin > e->end || e->end > f->data_size || e->ndim < 0 || e->ndim > SAFETENSORS_MAX_DIMS) abort();
        if (safetensors_find(f, e->name) == NULL) abort();
        int64_t numel = 1;
        for (int k = 0; k < e->ndim; k++) numel *= e->shape[k] > 0 ? e->shape[k] : 1;
        if (numel > (1 << 16)) continue;
        float *dst = malloc((size_t)numel * sizeof(float) + 4);
        if (safetensors_read_f32(f, e->name, e->ndim, e->shape, dst, err) && !err[0]) abort();
        free(dst);
    }
    safetensors_close(&f);
    if (f) abort();
    return 0;
}
