/*
 * hierbert_bench.c - `hierbert-bench SUBCOMMAND ...`: benchmarks of the
 * numerical library. Each subcommand is one function in the table below
 * (another file may add its own, e.g. `head`).
 *
 *   hierbert-bench bert --preset P --seq L --batch B --threads T [--iters N] [--precision fp32|bf16] [--json]
 *
 * bert: a randomly initialised encoder of preset P (dropout as in training:
 * 0.1 hidden/attention, 0.2 classifier), random token ids, 2 classes.
 * Measures training steps (zero grad + forward + backward + AdamW) and eval
 * forwards (no dropout, no gradient), each after one warm-up: the fastest of
 * N steps (3N forwards) is the figure (least disturbed by other processes on
 * a shared machine), the median is printed beside it; the OpenBLAS
 * sgemm rate on the config's largest GEMM (the feed-forward product, M = B*L,
 * N = intermediate, K = hidden); and peak RSS (getrusage). tests/reference/
 * bench_torch.py takes the same flags and prints the same keys for PyTorch.
 *
 * --precision bf16: every matrix product in bf16 through oneDNN (bert.h);
 * the rate beside it is then oneDNN's bf16 matmul on that GEMM, through the
 * same mm_gemm call (bf16 copy of the weight made beforehand, the activation
 * rounded per product, as in the model). Without native bf16 the run is
 * refused with the reason (exit 1), never run slowly.
 */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "bert.h"
#include "hb_error.h"
#include "matmul.h"
#include "optim.h"

void openblas_set_num_threads(int num_threads);

static double s_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int s_cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double s_median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, s_cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static double s_peak_rss_mb(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_maxrss / 1024.0; /* Linux: kilobytes */
}

/* GFLOP/s of C[M,N] = A[M,K] B[N,K]^T (the layout of our linear layers)
 * through the model's backend mm */
static double s_gemm_gflops(mm_backend *mm, int M, int N, int K) {
    float *a = hb_malloc((size_t)M * K * sizeof(float)), *b = hb_malloc((size_t)N * K * sizeof(float));
    float *c = hb_malloc((size_t)M * N * sizeof(float));
    uint16_t *b16 = NULL;
    for (size_t i = 0; i < (size_t)M * K; i++) a[i] = (float)((i * 7919) % 1000) * 1e-3f - 0.5f;
    for (size_t i = 0; i < (size_t)N * K; i++) b[i] = (float)((i * 104729) % 1000) * 1e-3f - 0.5f;
    if (mm_get_precision(mm) == MM_BF16) {
        b16 = hb_malloc((size_t)N * K * sizeof *b16);
        mm_to_bf16(b16, b, (size_t)N * K);
    }
    mm_gemm(mm, 0, 1, M, N, K, 1.0f, a, K, NULL, b, K, b16, 0.0f, c, N);
    int reps = 0;
    double t0 = s_now(), t;
    do {
        mm_gemm(mm, 0, 1, M, N, K, 1.0f, a, K, NULL, b, K, b16, 0.0f, c, N);
        reps++;
        t = s_now() - t0;
    } while (t < 1.0 || reps < 3);
    free(a), free(b), free(c), free(b16);
    return 2.0 * M * N * K * reps / t * 1e-9;
}

static void s_bert_usage(FILE *f) {
    fprintf(f,
            "usage: hierbert-bench bert --preset P --seq L --batch B --threads T [--iters N]\n"
            "                          [--precision fp32|bf16] [--json]\n"
            "  P: tiny mini small medium base; L <= 512; N training steps timed (default 5;\n"
            "  forward-only runs 3N). Prints training and forward-only sequences/s, achieved\n"
            "  GFLOP/s (formula printed; fastest step, median beside), peak RSS and the OpenBLAS sgemm GFLOP/s on the\n"
            "  largest GEMM of the config. --json: one JSON object with train_seq_per_s,\n"
            "  fwd_seq_per_s, train_gflops, sgemm_gflops, peak_rss_mb, precision.\n"
            "  --precision bf16 (default fp32): matrix products in bf16 (oneDNN), fp32 accumulation;\n"
            "  refused (exit 1, one line why) on a CPU without native bf16. sgemm_gflops is then\n"
            "  the bf16 rate of the same GEMM.\n"
            "  Run with OMP_WAIT_POLICY=PASSIVE (set for you when absent).\n");
}

static int s_bench_bert(int argc, char **argv) {
    const char *preset = "mini";
    int L = 128, B = 16, T = 2, iters = 5, json = 0;
    mm_precision prec = MM_FP32;
    char err[HB_ERR_LEN];
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            s_bert_usage(stdout);
            return 0;
        } else if (!strcmp(a, "--json")) {
            json = 1;
        } else if (v && !strcmp(a, "--preset")) {
            preset = v, i++;
        } else if (v && !strcmp(a, "--seq")) {
            L = atoi(v), i++;
        } else if (v && !strcmp(a, "--batch")) {
            B = atoi(v), i++;
        } else if (v && !strcmp(a, "--threads")) {
            T = atoi(v), i++;
        } else if (v && !strcmp(a, "--iters")) {
            iters = atoi(v), i++;
        } else if (v && !strcmp(a, "--precision")) {
            if (mm_precision_parse(v, &prec, err) != 0) {
                fprintf(stderr, "hierbert-bench bert: --precision: %s\n", err);
                return 2;
            }
            i++;
        } else {
            fprintf(stderr, "hierbert-bench bert: unknown or incomplete option %s\n", a);
            s_bert_usage(stderr);
            return 2;
        }
    }
    bert_config c;
    if (bert_config_preset(&c, preset, err) != 0) {
        fprintf(stderr, "hierbert-bench bert: %s\n", err);
        return 2;
    }
    if (L < 1 || L > c.max_position_embeddings || B < 1 || T < 1 || T > 1024 || iters < 1) {
        fprintf(stderr, "hierbert-bench bert: need 1 <= seq <= %d, batch >= 1, threads 1..1024, iters >= 1\n",
                c.max_position_embeddings);
        return 2;
    }
    omp_set_num_threads(T);
    openblas_set_num_threads(T);
    const int C = 2;
    bert_model *m;
    if (bert_new(&m, &c, C, B, L, err) != 0) {
        fprintf(stderr, "hierbert-bench bert: %s\n", err);
        return 1;
    }
    if (bert_set_precision(m, prec, err) != 0) {
        fprintf(stderr, "hierbert-bench bert: %s\n", err);
        bert_destroy(&m);
        return 1;
    }
    bert_init_random(m, 1234);
    const size_t N = (size_t)B * L;
    int32_t *ids = hb_malloc(N * sizeof *ids), *labels = hb_malloc((size_t)B * sizeof *labels);
    uint8_t *mask = hb_malloc(N);
    uint64_t r = 88172645463325252ull;
    for (size_t i = 0; i < N; i++) {
        r ^= r << 13, r ^= r >> 7, r ^= r << 17;
        ids[i] = i % (size_t)L == 0 ? 101 : 1000 + (int32_t)(r % (uint64_t)(c.vocab_size - 1000));
        mask[i] = 1;
    }
    for (int b = 0; b < B; b++) labels[b] = b % C;
    optim_config oc = optim_default_config();
    oc.weight_decay = 0.01f;
    adamw_state opt;
    adamw_init(&opt, &m->params, oc);

    /* per-iteration times: a shared machine has long outliers */
    double *times = hb_malloc(3 * (size_t)iters * sizeof *times);
    bert_train_step(m, &opt, ids, NULL, mask, labels, B, L); /* warm-up: first touch of every buffer */
    for (int i = 0; i < iters; i++) {
        double t0 = s_now();
        bert_train_step(m, &opt, ids, NULL, mask, labels, B, L);
        times[i] = s_now() - t0;
    }
    double t_train = s_median(times, iters), t_train_med = t_train;
    t_train = times[0]; /* sorted: the fastest step, the figure least disturbed by other processes */
    bert_forward(m, ids, NULL, mask, NULL, B, L, 0);
    for (int i = 0; i < 3 * iters; i++) {
        double t0 = s_now();
        bert_forward(m, ids, NULL, mask, NULL, B, L, 0);
        times[i] = s_now() - t0;
    }
    double t_fwd = s_median(times, 3 * iters), t_fwd_med = t_fwd;
    t_fwd = times[0];
    free(times);
    const double fwd_flops = bert_forward_flops(&c, C, B, L), exec_flops = bert_forward_flops_executed(&c, C, B, L);
    const double train_gflops = 3.0 * fwd_flops / t_train * 1e-9, fwd_gflops = fwd_flops / t_fwd * 1e-9;
    const double sgemm = s_gemm_gflops(m->mm, B * L, c.intermediate_size, c.hidden_size);
    const double rss = s_peak_rss_mb();
    if (json) {
        printf("{\"impl\": \"hierbert\", \"precision\": \"%s\", \"preset\": \"%s\", \"seq\": %d, \"batch\": %d, "
               "\"threads\": %d, "
               "\"train_seq_per_s\": %.3f, \"fwd_seq_per_s\": %.3f, \"train_gflops\": %.2f, \"fwd_gflops\": %.2f, "
               "\"sgemm_gflops\": %.2f, \"peak_rss_mb\": %.1f, \"executed_flop_ratio\": %.4f, "
               "\"train_seq_per_s_median\": %.3f, \"fwd_seq_per_s_median\": %.3f}\n",
               mm_precision_name(prec), preset, L, B, T, B / t_train, B / t_fwd, train_gflops, fwd_gflops, sgemm, rss,
               exec_flops / fwd_flops, B / t_train_med, B / t_fwd_med);
    } else {
        printf("hierbert encoder benchmark: preset %s (layers=%d H=%d heads=%d I=%d), seq %d, batch %d, "
               "%d threads, %s matrix products\n",
               preset, c.num_hidden_layers, c.hidden_size, c.num_attention_heads, c.intermediate_size, L, B, T,
               mm_precision_name(prec));
        printf("  FLOPs: forward = layers * 2 * (4 N H^2 + 2 N H I + 2 B L^2 H) + 2 B H C, N = B*L;"
               " training = 3 x forward\n");
        printf("         = %.3f GFLOP per forward batch (what PyTorch computes; GFLOP/s below use it).\n"
               "  Executed here: %.3f GFLOP (the last layer computes its [CLS] rows only),\n"
               "  so the GEMMs themselves ran at %.0f%% of the GFLOP/s figures below.\n",
               fwd_flops * 1e-9, exec_flops * 1e-9, 100.0 * exec_flops / fwd_flops);
        printf("  training (forward+backward+AdamW): %8.2f seq/s  %7.1f ms/step  %6.1f GFLOP/s  (median %.2f seq/s)\n",
               B / t_train, t_train * 1e3, train_gflops, B / t_train_med);
        printf("  forward only (eval):               %8.2f seq/s  %7.1f ms/batch %6.1f GFLOP/s  (median %.2f seq/s)\n",
               B / t_fwd, t_fwd * 1e3, fwd_gflops, B / t_fwd_med);
        printf("  %s %dx%dx%d:%*s%6.1f GFLOP/s (training at %.0f%% of it)\n",
               prec == MM_BF16 ? "oneDNN bf16 matmul" : "OpenBLAS sgemm", B * L, c.intermediate_size, c.hidden_size,
               prec == MM_BF16 ? 7 : 11, "", sgemm, 100.0 * train_gflops / sgemm);
        printf("  peak RSS: %.1f MB\n", rss);
        mm_report(m->mm, stdout);
    }
    adamw_free(&opt);
    bert_destroy(&m);
    free(ids), free(labels), free(mask);
    return 0;
}

static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} s_commands[] = {
    {"bert", s_bench_bert, "encoder training/forward throughput vs the sgemm rate"},
};

static void s_usage(FILE *f) {
    fprintf(f, "usage: hierbert-bench COMMAND [options] (COMMAND --help for its options)\n");
    for (size_t i = 0; i < sizeof s_commands / sizeof s_commands[0]; i++)
        fprintf(f, "  %-8s %s\n", s_commands[i].name, s_commands[i].summary);
}

int main(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        s_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    /* libgomp reads OMP_WAIT_POLICY when it loads: spinning threads would
     * fight OpenBLAS' for the cores, so make passive the default */
    if (!getenv("OMP_WAIT_POLICY")) {
        setenv("OMP_WAIT_POLICY", "PASSIVE", 1);
        execv("/proc/self/exe", argv);
    }
    for (size_t i = 0; i < sizeof s_commands / sizeof s_commands[0]; i++)
        if (!strcmp(argv[1], s_commands[i].name)) return s_commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "hierbert-bench: unknown command '%s'\n", argv[1]);
    s_usage(stderr);
    return 2;
}
