/*
 * bert_fixture.h - reading the tensors that tests/reference/bert_ref.py wrote
 * into tests/fixtures/bert_<name>/ (test_bert_parity, test_bert_bf16). A
 * missing or misshapen tensor fails the test with its name.
 */
#ifndef HB_TEST_BERT_FIXTURE_H
#define HB_TEST_BERT_FIXTURE_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "safetensors.h"

/* F32 tensor of n elements, widened to double */
static inline double *fx_ref(const safetensors_file *f, const char *name, size_t n) {
    const safetensors_entry *e = safetensors_find(f, name);
    CHECK(e && strcmp(e->dtype, "F32") == 0 && e->end - e->begin == n * 4, "fixture tensor %s missing or wrong", name);
    double *out = malloc(n * sizeof *out);
    const float *p = (const float *)(f->data + e->begin);
    for (size_t i = 0; i < n; i++) out[i] = p[i];
    return out;
}

/* I32 tensor, its element count in *n */
static inline int32_t *fx_i32(const safetensors_file *f, const char *name, size_t *n) {
    const safetensors_entry *e = safetensors_find(f, name);
    CHECK(e && strcmp(e->dtype, "I32") == 0, "fixture tensor %s missing", name);
    *n = (e->end - e->begin) / 4;
    int32_t *out = malloc(*n * 4 + 4);
    memcpy(out, f->data + e->begin, *n * 4);
    return out;
}

static inline float fx_scalar(const safetensors_file *f, const char *name) {
    double *v = fx_ref(f, name, 1);
    float x = (float)v[0];
    free(v);
    return x;
}

#endif
