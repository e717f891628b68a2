/*
 * baseline_bench.c - `baseline-bench`: how long the bag-of-words baseline
 * (model/baseline.h: TF-IDF of unigrams and bigrams + liblinear's linear
 * SVM) takes on a corpus of the size issue 13 names: 20,000 documents.
 *
 *   baseline-bench [--docs N] [--tokens T] [--classes C] [--vocab V]
 *
 * Seeded synthetic documents (default 20000 of 100..2*T-100 tokens, T 300,
 * 20 classes, ids 0..V-1 Zipf-distributed, V 30522 as bert-base-uncased,
 * each class leaning on its own 200 ids); 80% fit, 20% predicted. Prints
 * the fit and predict seconds, the number of terms and the accuracy (a
 * sanity figure only: the data is synthetic).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "baseline.h"

static double s_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static uint64_t s_rng = 88172645463325252ull;
static uint64_t s_next(void) {
    s_rng ^= s_rng << 13;
    s_rng ^= s_rng >> 7;
    s_rng ^= s_rng << 17;
    return s_rng;
}
static double s_unif(void) {
    return (double)(s_next() >> 11) / 9007199254740992.0;
}

int main(int argc, char **argv) {
    int N = 20000, T = 300, C = 20, V = 30522;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--docs"))
            N = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--tokens"))
            T = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--classes"))
            C = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--vocab"))
            V = atoi(argv[i + 1]);
        else {
            fprintf(stderr, "usage: baseline-bench [--docs N] [--tokens T] [--classes C] [--vocab V]\n");
            return 2;
        }
    }
    /* Zipf by inverse CDF over ranks: cumulative weights 1/(r+1) */
    double *cdf = malloc((size_t)V * sizeof(double)), acc = 0;
    for (int r = 0; r < V; r++) cdf[r] = (acc += 1.0 / (r + 1));
    int32_t **docs = malloc((size_t)N * sizeof(int32_t *));
    size_t *lens = malloc((size_t)N * sizeof(size_t)), total = 0;
    int *labels = malloc((size_t)N * sizeof(int));
    for (int d = 0; d < N; d++) {
        int y = d % C;
        size_t n = (size_t)(100 + s_next() % (uint64_t)(2 * T - 199));
        docs[d] = malloc(n * sizeof(int32_t));
        for (size_t k = 0; k < n; k++) {
            if (s_unif() < 0.1) {
                docs[d][k] = (int32_t)(1000 + y * 200 + (int)(s_next() % 200));
            } else {
                double u = s_unif() * acc;
                int lo = 0, hi = V - 1;
                while (lo < hi) {
                    int mid = (lo + hi) / 2;
                    if (cdf[mid] < u)
                        lo = mid + 1;
                    else
                        hi = mid;
                }
                docs[d][k] = lo;
            }
        }
        lens[d] = n;
        labels[d] = y;
        total += n;
    }
    int n_train = N * 4 / 5;
    char err[HB_ERR_LEN];
    double t0 = s_now();
    baseline *b = baseline_new(C);
    for (int d = 0; d < n_train; d++)
        if (baseline_add(b, docs[d], lens[d], labels[d], err)) return fprintf(stderr, "%s\n", err), 1;
    if (baseline_fit(b, err)) return fprintf(stderr, "%s\n", err), 1;
    double t1 = s_now();
    int ok = 0;
    for (int d = n_train; d < N; d++) ok += baseline_predict(b, docs[d], lens[d]) == labels[d];
    double t2 = s_now();
    printf("baseline-bench: %d documents (%zu tokens, %d classes, vocabulary %d): fit on %d in %.2f s (%zu terms), "
           "predict %d in %.2f s; accuracy %.4f (synthetic)\n",
           N, total, C, V, n_train, t1 - t0, baseline_n_terms(b), N - n_train, t2 - t1, (double)ok / (N - n_train));
    baseline_destroy(&b);
    for (int d = 0; d < N; d++) free(docs[d]);
    free(docs);
    free(lens);
    free(labels);
    free(cdf);
    return 0;
}
