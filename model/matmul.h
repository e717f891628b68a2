/*
 * matmul.h - the one function every matrix product of the encoder goes
 * through, in the precision its model chose once (never per call).
 *
 *   fp32: cblas_sgemm (OpenBLAS, as before: inputs, accumulation, outputs fp32).
 *   bf16: oneDNN matmul (C API) on bf16 inputs with fp32 accumulation and
 *         fp32 outputs: an fp32 operand is rounded to bf16 (nearest even) into
 *         per-thread scratch, unless the caller passes its bf16 copy (the
 *         weights, converted once per forward by the model). Refused by
 *         mm_new on a CPU without native bf16 (cpu_features.h).
 *
 * oneDNN primitives are created once per (shape, transposition, strides,
 * alpha, beta) and cached for the life of the backend; their scratchpads are
 * ours (user mode), one per thread slot. Inside an OpenMP parallel region
 * (attention per (sequence, head)) each thread uses its own slot and oneDNN
 * runs single-threaded there, as OpenBLAS does. Results depend only on the
 * shapes and the thread count: same inputs, same threads, same bits.
 *
 * Layout as cblas: row-major, C[M,N] = alpha op(A)[M,K] op(B)[K,N] + beta C,
 * op(X) = X or X^T (ta, tb), leading dimensions lda, ldb, ldc. beta is 0 or 1.
 */
#ifndef HB_MATMUL_H
#define HB_MATMUL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef enum { MM_FP32 = 0, MM_BF16 = 1 } mm_precision;

typedef struct mm_backend mm_backend;

/* A backend of precision p for calls from up to nslots threads at once
 * (OpenMP thread numbers 0..nslots-1). bf16 on a CPU without native bf16:
 * -1 and the reason in err. */
int mm_new(mm_backend **out, mm_precision p, int nslots, char *err);
void mm_destroy(mm_backend **mm);
mm_precision mm_get_precision(const mm_backend *mm);

/* "fp32" / "bf16"; parse accepts those (0), else -1 with a message. */
const char *mm_precision_name(mm_precision p);
int mm_precision_parse(const char *s, mm_precision *p, char *err);

/* C = alpha op(A) op(B) + beta C (see above). A16/B16: bf16 copies of A/B
 * with the same layout and leading dimension, or NULL (bf16: converted here;
 * fp32: ignored). */
void mm_gemm(mm_backend *mm, int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
             const uint16_t *A16, const float *B, int ldb, const uint16_t *B16, float beta, float *C, int ldc);

/* bf16 of each float, round to nearest even (NaN stays NaN); OpenMP over n
 * outside a parallel region. */
void mm_to_bf16(uint16_t *dst, const float *src, size_t n);
static inline float mm_bf16_to_float(uint16_t h) {
    union {
        uint32_t u;
        float f;
    } v = {.u = (uint32_t)h << 16};
    return v.f;
}

/* One line per cached primitive (shape and oneDNN's implementation name):
 * shows no product fell back to a reference kernel. Nothing for fp32. */
void mm_report(const mm_backend *mm, FILE *f);

#endif
