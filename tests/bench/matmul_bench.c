/*
 * matmul_bench.c - `matmul-bench`: per GEMM shape of our models, OpenBLAS's
 * sgemm against oneDNN's f32 matmul and oneDNN's bf16 matmul (inputs
 * already rounded to bf16, fp32 output), the question of issue 12's "oneDNN
 * for fp32 too wherever it beats OpenBLAS at our shapes".
 *
 *   matmul-bench [--reps N]
 *
 * Row-major C[M,N] = A[M,K] B^T (B stored [N,K], as our linear layers'
 * forward) or A B (the attention context); the best of N repetitions
 * (default 10 for the large shapes, 20x that for the small), GFLOP/s =
 * 2MNK / time. Threads: OMP_NUM_THREADS / OPENBLAS_NUM_THREADS as set (on
 * this machine's misdetected CPU also OPENBLAS_CORETYPE=SkylakeX).
 */
#include <cblas.h>
#undef I /* complex.h via OpenBLAS */
#include <oneapi/dnnl/dnnl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double s_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void s_ok(dnnl_status_t st, const char *what) {
    if (st == dnnl_success) return;
    fprintf(stderr, "matmul-bench: oneDNN %s failed (%d)\n", what, (int)st);
    exit(1);
}

/* oneDNN matmul of one shape and data type: best GFLOP/s over reps; impl gets its name */
static double s_dnnl(dnnl_engine_t eng, dnnl_stream_t st, int M, int N, int K, int tb, dnnl_data_type_t dt, void *A,
                     void *B, float *C, int reps, char *impl, size_t impl_len) {
    dnnl_memory_desc_t a, b, c;
    dnnl_dims_t da = {M, K}, db = {K, N}, dc = {M, N}, sa = {K, 1}, sb = {N, 1}, sc = {N, 1};
    if (tb) sb[0] = 1, sb[1] = K;
    s_ok(dnnl_memory_desc_init_by_strides(&a, 2, da, dt, sa), "A descriptor");
    s_ok(dnnl_memory_desc_init_by_strides(&b, 2, db, dt, sb), "B descriptor");
    s_ok(dnnl_memory_desc_init_by_strides(&c, 2, dc, dnnl_f32, sc), "C descriptor");
    dnnl_matmul_desc_t d;
    s_ok(dnnl_matmul_desc_init(&d, &a, &b, NULL, &c), "matmul descriptor");
    dnnl_primitive_desc_t pd;
    s_ok(dnnl_primitive_desc_create(&pd, &d, NULL, eng, NULL), "primitive descriptor");
    const char *name = NULL;
    dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &name);
    snprintf(impl, impl_len, "%s", name ? name : "?");
    dnnl_primitive_t p;
    s_ok(dnnl_primitive_create(&p, pd), "primitive");
    dnnl_memory_t ma, mb, mc;
    s_ok(dnnl_memory_create(&ma, &a, eng, A), "A");
    s_ok(dnnl_memory_create(&mb, &b, eng, B), "B");
    s_ok(dnnl_memory_create(&mc, &c, eng, C), "C");
    dnnl_exec_arg_t args[3] = {{DNNL_ARG_SRC, ma}, {DNNL_ARG_WEIGHTS, mb}, {DNNL_ARG_DST, mc}};
    double best = 1e30;
    for (int r = 0; r <= reps; r++) { /* the first run warms up */
        double t = s_now();
        s_ok(dnnl_primitive_execute(p, st, 3, args), "execute");
        s_ok(dnnl_stream_wait(st), "wait");
        t = s_now() - t;
        if (r && t < best) best = t;
    }
    dnnl_memory_destroy(ma);
    dnnl_memory_destroy(mb);
    dnnl_memory_destroy(mc);
    dnnl_primitive_destroy(p);
    dnnl_primitive_desc_destroy(pd);
    return 2.0 * M * N * K / best * 1e-9;
}

int main(int argc, char **argv) {
    int reps = 10;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--reps") && i + 1 < argc)
            reps = atoi(argv[++i]);
        else
            return fprintf(stderr, "usage: matmul-bench [--reps N]\n"), 2;
    }
    static const struct {
        const char *name;
        int M, N, K, tb;
    } shapes[] = {
        {"mini Q/K/V/O", 2048, 256, 256, 1},   {"mini FFN in", 2048, 1024, 256, 1},
        {"mini FFN out", 2048, 256, 1024, 1},  {"base Q/K/V/O", 3200, 768, 768, 1},
        {"base FFN in", 3200, 3072, 768, 1},   {"base FFN out", 3200, 768, 3072, 1},
        {"attention scores", 128, 128, 64, 1}, {"attention context", 128, 64, 128, 0},
    };
    dnnl_engine_t eng;
    dnnl_stream_t st;
    s_ok(dnnl_engine_create(&eng, dnnl_cpu, 0), "engine");
    s_ok(dnnl_stream_create(&st, eng, 0), "stream");
    uint64_t rng = 88172645463325252ull;
    for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++) {
        const int M = shapes[i].M, N = shapes[i].N, K = shapes[i].K, tb = shapes[i].tb;
        float *A = malloc(sizeof(float) * M * K), *B = malloc(sizeof(float) * K * N),
              *C = malloc(sizeof(float) * M * N);
        uint16_t *A16 = malloc(2 * (size_t)M * K), *B16 = malloc(2 * (size_t)K * N);
        for (size_t j = 0; j < (size_t)M * K + (size_t)K * N; j++) {
            rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
            float v = (float)((int)(rng % 2001) - 1000) * 1e-3f;
            uint32_t u;
            memcpy(&u, &v, sizeof u);
            if (j < (size_t)M * K)
                A[j] = v, A16[j] = (uint16_t)(u >> 16);
            else
                B[j - (size_t)M * K] = v, B16[j - (size_t)M * K] = (uint16_t)(u >> 16);
        }
        const int n = (double)M * N * K > 1e8 ? reps : 20 * reps;
        double best = 1e30;
        for (int r = 0; r <= n; r++) {
            double t = s_now();
            cblas_sgemm(CblasRowMajor, CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M, N, K, 1.0f, A, K, B, tb ? K : N,
                        0.0f, C, N);
            t = s_now() - t;
            if (r && t < best) best = t;
        }
        char i32[64], i16[64];
        double f32 = s_dnnl(eng, st, M, N, K, tb, dnnl_f32, A, B, C, n, i32, sizeof i32);
        double bf16 = s_dnnl(eng, st, M, N, K, tb, dnnl_bf16, A16, B16, C, n, i16, sizeof i16);
        printf("%-18s %4dx%4dx%4d  OpenBLAS sgemm %6.1f  oneDNN f32 %6.1f (%s)  oneDNN bf16 %6.1f (%s)  GFLOP/s\n",
               shapes[i].name, M, N, K, 2.0 * M * N * K / best * 1e-9, f32, i32, bf16, i16);
        free(A), free(B), free(C), free(A16), free(B16);
    }
    dnnl_stream_destroy(st);
    dnnl_engine_destroy(eng);
    return 0;
}
