/*
 * matmul.c - the matrix-product backend (see matmul.h): cblas_sgemm for fp32,
 * a cache of oneDNN matmul primitives for bf16.
 *
 * bf16 call: each operand without a bf16 copy is rounded into the calling
 * thread's scratch, compact (its leading dimension becomes its column count);
 * the primitive for the resulting (shapes, strides, alpha, beta) is found in
 * the cache or made (under a lock: rare, and never moved once made); the
 * thread executes it on its own stream with its own scratchpad.
 */
#include "matmul.h"

#include <cblas.h>
#undef I /* complex.h via OpenBLAS */
#include <oneapi/dnnl/dnnl.h>
#include <oneapi/dnnl/dnnl_debug.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "cpu_features.h"
#include "hb_error.h"

typedef struct {
    int ta, tb, M, N, K, lda, ldb, ldc, beta1;
    float alpha;
    dnnl_primitive_t prim;
    dnnl_memory_desc_t a_md, b_md, c_md, s_md;
    size_t scratch_bytes;
    char impl[64];
    dnnl_memory_t *mem; /* [nslots][4]: A, B, C, scratchpad of each thread slot, made on its first call */
} s_entry;

typedef struct {
    dnnl_stream_t stream;
    uint16_t *ops; /* bf16 copies of A and B */
    size_t ops_len;
    void *pad; /* oneDNN scratchpad */
    size_t pad_len;
} s_slot;

struct mm_backend {
    mm_precision prec;
    int nslots;
    dnnl_engine_t eng;
    s_slot *slots;
    s_entry **cache; /* entries never move: a thread keeps its pointer outside the lock */
    int ncache, capcache;
};

static void s_check(dnnl_status_t st, const char *what, const s_entry *e) {
    if (st == dnnl_success) return;
    fprintf(stderr, "hierbert: oneDNN %s failed (%s) for matmul M=%d N=%d K=%d ta=%d tb=%d\n", what,
            dnnl_status2str(st), e ? e->M : 0, e ? e->N : 0, e ? e->K : 0, e ? e->ta : 0, e ? e->tb : 0);
    abort();
}

const char *mm_precision_name(mm_precision p) {
    return p == MM_BF16 ? "bf16" : "fp32";
}

int mm_precision_parse(const char *s, mm_precision *p, char *err) {
    if (s && !strcmp(s, "fp32"))
        *p = MM_FP32;
    else if (s && !strcmp(s, "bf16"))
        *p = MM_BF16;
    else
        return hb_fail(err, "precision '%s': expected fp32 or bf16", s ? s : "(null)");
    return 0;
}

int mm_new(mm_backend **out, mm_precision p, int nslots, char *err) {
    *out = NULL;
    if (nslots < 1) return hb_fail(err, "mm_new: %d thread slots", nslots);
    char why[256];
    if (p == MM_BF16) {
        if (!cpu_native_bf16(why, sizeof why)) return hb_fail(err, "bf16 refused: %s", why);
        /* ONEDNN_MAX_CPU_ISA may hold oneDNN below what the CPU has */
        dnnl_cpu_isa_t isa = dnnl_get_effective_cpu_isa();
        if ((isa & dnnl_cpu_isa_avx512_core_bf16) != dnnl_cpu_isa_avx512_core_bf16)
            return hb_fail(err, "bf16 refused: oneDNN's effective ISA (0x%x) has no native bf16 (ONEDNN_MAX_CPU_ISA?)",
                           (unsigned)isa);
    }
    mm_backend *mm = hb_calloc(1, sizeof *mm);
    mm->prec = p;
    mm->nslots = nslots;
    if (p == MM_BF16) {
        dnnl_status_t st = dnnl_engine_create(&mm->eng, dnnl_cpu, 0);
        if (st != dnnl_success) {
            free(mm);
            return hb_fail(err, "bf16: oneDNN CPU engine: %s", dnnl_status2str(st));
        }
        mm->slots = hb_calloc((size_t)nslots, sizeof *mm->slots);
        for (int i = 0; i < nslots; i++) s_check(dnnl_stream_create(&mm->slots[i].stream, mm->eng, 0), "stream", NULL);
    }
    *out = mm;
    return 0;
}

void mm_destroy(mm_backend **mp) {
    mm_backend *mm = mp ? *mp : NULL;
    if (!mm) return;
    for (int i = 0; i < mm->ncache; i++) {
        s_entry *e = mm->cache[i];
        for (int k = 0; k < 4 * mm->nslots; k++)
            if (e->mem[k]) dnnl_memory_destroy(e->mem[k]);
        free(e->mem);
        dnnl_primitive_destroy(e->prim);
        free(e);
    }
    free(mm->cache);
    for (int i = 0; mm->slots && i < mm->nslots; i++) {
        dnnl_stream_destroy(mm->slots[i].stream);
        free(mm->slots[i].ops);
        free(mm->slots[i].pad);
    }
    free(mm->slots);
    if (mm->eng) dnnl_engine_destroy(mm->eng);
    free(mm);
    *mp = NULL;
}

mm_precision mm_get_precision(const mm_backend *mm) {
    return mm->prec;
}

/* ---- bf16 rounding ------------------------------------------------------ */

static inline uint16_t s_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    /* round to nearest even; a NaN keeps a set quiet bit instead of rounding to inf */
    uint32_t r = (u + 0x7FFFu + ((u >> 16) & 1u)) >> 16;
    return (uint16_t)((u & 0x7FFFFFFFu) > 0x7F800000u ? (u >> 16) | 0x40u : r);
}

void mm_to_bf16(uint16_t *dst, const float *src, size_t n) {
#pragma omp parallel for schedule(static) if (n >= 65536 && !omp_in_parallel())
    for (size_t i = 0; i < n; i++) dst[i] = s_bf16(src[i]);
}

/* rows x cols of src (leading dimension ld) into dst, compact */
static void s_round_matrix(uint16_t *dst, const float *src, int ld, int rows, int cols) {
#pragma omp parallel for schedule(static) if ((size_t)rows * cols >= 65536 && !omp_in_parallel())
    for (int r = 0; r < rows; r++) {
        const float *s = src + (size_t)r * ld;
        uint16_t *d = dst + (size_t)r * cols;
        for (int c = 0; c < cols; c++) d[c] = s_bf16(s[c]);
    }
}

/* ---- primitive cache ---------------------------------------------------- */

/* X (rows x cols logical) stored row-major, or transposed (stored cols x rows) */
static void s_md(dnnl_memory_desc_t *md, int rows, int cols, int trans, int ld, dnnl_data_type_t dt) {
    dnnl_dims_t dims = {rows, cols}, strides = {ld, 1};
    if (trans) strides[0] = 1, strides[1] = ld;
    s_check(dnnl_memory_desc_init_by_strides(md, 2, dims, dt, strides), "memory descriptor", NULL);
}

static void s_make(mm_backend *mm, s_entry *e) {
    s_md(&e->a_md, e->M, e->K, e->ta, e->lda, dnnl_bf16);
    s_md(&e->b_md, e->K, e->N, e->tb, e->ldb, dnnl_bf16);
    s_md(&e->c_md, e->M, e->N, 0, e->ldc, dnnl_f32);
    dnnl_matmul_desc_t d;
    s_check(dnnl_matmul_desc_init(&d, &e->a_md, &e->b_md, NULL, &e->c_md), "matmul descriptor", e);
    dnnl_primitive_attr_t attr;
    s_check(dnnl_primitive_attr_create(&attr), "attributes", e);
    s_check(dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user), "scratchpad mode", e);
    if (e->alpha != 1.0f) s_check(dnnl_primitive_attr_set_output_scales(attr, 1, 0, &e->alpha), "output scale", e);
    dnnl_post_ops_t po = NULL;
    if (e->beta1) {
        s_check(dnnl_post_ops_create(&po), "post-ops", e);
        s_check(dnnl_post_ops_append_sum(po, 1.0f), "sum post-op", e);
        s_check(dnnl_primitive_attr_set_post_ops(attr, po), "post-ops", e);
    }
    dnnl_primitive_desc_t pd;
    s_check(dnnl_primitive_desc_create(&pd, &d, attr, mm->eng, NULL), "primitive descriptor", e);
    const char *impl = NULL;
    if (dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl) == dnnl_success && impl)
        snprintf(e->impl, sizeof e->impl, "%s", impl);
    e->s_md = *dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    e->scratch_bytes = dnnl_memory_desc_get_size(&e->s_md);
    s_check(dnnl_primitive_create(&e->prim, pd), "primitive", e);
    e->mem = hb_calloc(4 * (size_t)mm->nslots, sizeof *e->mem);
    dnnl_primitive_desc_destroy(pd);
    if (po) dnnl_post_ops_destroy(po);
    dnnl_primitive_attr_destroy(attr);
}

static s_entry *s_lookup(mm_backend *mm, const s_entry *key) {
    s_entry *found = NULL;
#pragma omp critical(hb_mm_cache)
    {
        for (int i = 0; i < mm->ncache && !found; i++) {
            const s_entry *e = mm->cache[i];
            if (e->ta == key->ta && e->tb == key->tb && e->M == key->M && e->N == key->N && e->K == key->K &&
                e->lda == key->lda && e->ldb == key->ldb && e->ldc == key->ldc && e->beta1 == key->beta1 &&
                e->alpha == key->alpha)
                found = mm->cache[i];
        }
        if (!found) {
            found = hb_malloc(sizeof *found);
            *found = *key;
            s_make(mm, found);
            if (mm->ncache == mm->capcache) {
                mm->capcache = mm->capcache ? 2 * mm->capcache : 32;
                mm->cache = hb_realloc(mm->cache, (size_t)mm->capcache * sizeof *mm->cache);
            }
            mm->cache[mm->ncache++] = found;
        }
    }
    return found;
}

/* ---- the product -------------------------------------------------------- */

/* the slot's memory object k of e, pointed at p */
static dnnl_memory_t s_mem(const s_entry *e, int slot, int k, const dnnl_memory_desc_t *md, dnnl_engine_t eng,
                           const void *p) {
    dnnl_memory_t *m = &e->mem[4 * slot + k];
    if (!*m)
        s_check(dnnl_memory_create(m, md, eng, (void *)p), "memory", e);
    else
        s_check(dnnl_memory_set_data_handle(*m, (void *)p), "memory handle", e);
    return *m;
}

static void s_gemm_bf16(mm_backend *mm, int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
                        const uint16_t *A16, const float *B, int ldb, const uint16_t *B16, float beta, float *C,
                        int ldc) {
    const int slot = omp_get_thread_num();
    if (slot >= mm->nslots) {
        fprintf(stderr, "hierbert: mm_gemm from thread %d, beyond the %d slots of its backend\n", slot, mm->nslots);
        abort();
    }
    s_slot *s = &mm->slots[slot];
    /* stored shapes: op(A) = A [M,K] or A^T (A stored [K,M]); op(B) = B [K,N] or B^T (B stored [N,K]) */
    const int ar = ta ? K : M, ac = ta ? M : K, br = tb ? N : K, bc = tb ? K : N;
    const size_t need = (A16 ? 0 : (size_t)ar * ac) + (B16 ? 0 : (size_t)br * bc);
    if (need > s->ops_len) {
        free(s->ops);
        s->ops = hb_malloc(need * sizeof *s->ops);
        s->ops_len = need;
    }
    uint16_t *next = s->ops;
    if (!A16) {
        s_round_matrix(next, A, lda, ar, ac);
        A16 = next, lda = ac, next += (size_t)ar * ac;
    }
    if (!B16) {
        s_round_matrix(next, B, ldb, br, bc);
        B16 = next, ldb = bc;
    }
    const s_entry key = {.ta = ta,
                         .tb = tb,
                         .M = M,
                         .N = N,
                         .K = K,
                         .lda = lda,
                         .ldb = ldb,
                         .ldc = ldc,
                         .beta1 = beta != 0.0f,
                         .alpha = alpha};
    const s_entry *e = s_lookup(mm, &key);
    if (e->scratch_bytes > s->pad_len) {
        free(s->pad);
        s->pad = aligned_alloc(64, (e->scratch_bytes + 63) / 64 * 64);
        if (!s->pad) {
            fprintf(stderr, "hierbert: out of memory allocating %zu bytes of oneDNN scratchpad\n", e->scratch_bytes);
            abort();
        }
        s->pad_len = e->scratch_bytes;
    }
    dnnl_exec_arg_t args[4] = {{DNNL_ARG_SRC, s_mem(e, slot, 0, &e->a_md, mm->eng, A16)},
                               {DNNL_ARG_WEIGHTS, s_mem(e, slot, 1, &e->b_md, mm->eng, B16)},
                               {DNNL_ARG_DST, s_mem(e, slot, 2, &e->c_md, mm->eng, C)}};
    int nargs = 3;
    if (e->scratch_bytes)
        args[nargs++] = (dnnl_exec_arg_t){DNNL_ARG_SCRATCHPAD, s_mem(e, slot, 3, &e->s_md, mm->eng, s->pad)};
    s_check(dnnl_primitive_execute(e->prim, s->stream, nargs, args), "execute", e);
    s_check(dnnl_stream_wait(s->stream), "stream wait", e);
}

void mm_gemm(mm_backend *mm, int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
             const uint16_t *A16, const float *B, int ldb, const uint16_t *B16, float beta, float *C, int ldc) {
    if (beta != 0.0f && beta != 1.0f) {
        fprintf(stderr, "hierbert: mm_gemm: beta %g (0 or 1 only)\n", (double)beta);
        abort();
    }
    if (mm->prec == MM_FP32) {
        cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M, N, K, alpha, A,
                    lda, B, ldb, beta, C, ldc);
        return;
    }
    s_gemm_bf16(mm, ta, tb, M, N, K, alpha, A, lda, A16, B, ldb, B16, beta, C, ldc);
}

void mm_report(const mm_backend *mm, FILE *f) {
    for (int i = 0; i < mm->ncache; i++) {
        const s_entry *e = mm->cache[i];
        fprintf(f, "  matmul %c%c M=%d N=%d K=%d alpha=%g beta=%d scratch=%zu B: %s\n", e->ta ? 'T' : 'N',
                e->tb ? 'T' : 'N', e->M, e->N, e->K, (double)e->alpha, e->beta1, e->scratch_bytes, e->impl);
    }
}
