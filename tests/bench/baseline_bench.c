/*
 * baseline_bench.c - `baseline-bench`: how long the bag-of-words baseline
 * (model/baseline.h: TF-IDF of unigrams and bigrams + liblinear's linear
 * SVM) takes on a corpus of the size issue 13 names: 20,000 documents.
 *
 *   baseline-bench [--docs N] [--tokens T] [--classes C] [--vocab V] [--dump DIR]
 *   baseline-bench --train TRAIN.txt --val VAL.txt
 *
 * Seeded synthetic documents (default 20000 of 100..2*T-100 tokens, T 300,
 * 20 classes, ids 0..V-1 Zipf-distributed, V 30522 as bert-base-uncased,
 * each class leaning on its own 200 ids); 80% fit, 20% predicted. --dump
 * also writes them as DIR/train.txt and DIR/val.txt; --train/--val read
 * such files instead ("LABEL<TAB>id id ..." a line, as tests/fixtures/baseline;
 * tests/reference/baseline_time.py makes them from a JSONL corpus and times
 * scikit-learn on them). Prints the fit and predict seconds (wall and this
 * process's CPU: the machine is shared), the number of terms and the
 * validation accuracy (a sanity figure only on synthetic data).
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

static double s_cpu(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

typedef struct {
    int n, cap, n_classes;
    int32_t **docs;
    size_t *lens;
    int *labels;
} corpus;

static void s_push(corpus *c, int32_t *ids, size_t n, int y) {
    if (c->n == c->cap) {
        c->cap = c->cap ? 2 * c->cap : 1024;
        c->docs = realloc(c->docs, (size_t)c->cap * sizeof(int32_t *));
        c->lens = realloc(c->lens, (size_t)c->cap * sizeof(size_t));
        c->labels = realloc(c->labels, (size_t)c->cap * sizeof(int));
    }
    c->docs[c->n] = ids;
    c->lens[c->n] = n;
    c->labels[c->n++] = y;
    if (y + 1 > c->n_classes) c->n_classes = y + 1;
}

/* "LABEL<TAB>id id ..." lines; 0 or -1 (said) */
static int s_read(const char *path, corpus *c) {
    FILE *f = fopen(path, "r");
    if (!f) return perror(path), -1;
    char *line = NULL;
    size_t lcap = 0;
    int ln = 0;
    while (getline(&line, &lcap, f) > 0) {
        ln++;
        char *p = line, *end;
        long y = strtol(p, &end, 10);
        if (end == p || *end != '\t' || y < 0 || y > 100000) {
            fprintf(stderr, "%s:%d: expected LABEL<TAB>ids\n", path, ln);
            return fclose(f), free(line), -1;
        }
        size_t n = 0, cap = 64;
        int32_t *ids = malloc(cap * sizeof(int32_t));
        for (p = end + 1;; p = end) {
            long v = strtol(p, &end, 10);
            if (end == p) break;
            if (n == cap) ids = realloc(ids, (cap *= 2) * sizeof(int32_t));
            ids[n++] = (int32_t)v;
        }
        s_push(c, ids, n, (int)y);
    }
    free(line);
    fclose(f);
    return 0;
}

static int s_dump(const char *path, const corpus *c, int from, int to) {
    FILE *f = fopen(path, "w");
    if (!f) return perror(path), -1;
    for (int d = from; d < to; d++) {
        fprintf(f, "%d\t", c->labels[d]);
        for (size_t k = 0; k < c->lens[d]; k++) fprintf(f, k ? " %d" : "%d", c->docs[d][k]);
        fputc('\n', f);
    }
    return fclose(f);
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
    const char *dump = NULL, *train_path = NULL, *val_path = NULL;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--docs"))
            N = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--tokens"))
            T = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--classes"))
            C = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--vocab"))
            V = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--dump"))
            dump = argv[i + 1];
        else if (!strcmp(argv[i], "--train"))
            train_path = argv[i + 1];
        else if (!strcmp(argv[i], "--val"))
            val_path = argv[i + 1];
        else {
            fprintf(stderr, "usage: baseline-bench [--docs N] [--tokens T] [--classes C] [--vocab V] [--dump DIR]\n"
                            "       baseline-bench --train TRAIN.txt --val VAL.txt\n");
            return 2;
        }
    }
    corpus c = {0};
    int n_train;
    if (train_path || val_path) {
        if (!train_path || !val_path) return fprintf(stderr, "baseline-bench: --train and --val go together\n"), 2;
        if (s_read(train_path, &c)) return 1;
        n_train = c.n;
        if (s_read(val_path, &c)) return 1;
        if (n_train < 1 || c.n == n_train || c.n_classes < 2)
            return fprintf(stderr, "baseline-bench: need training and validation documents of 2+ classes\n"), 1;
        N = c.n;
        C = c.n_classes;
    } else {
        /* Zipf by inverse CDF over ranks: cumulative weights 1/(r+1) */
        double *cdf = malloc((size_t)V * sizeof(double)), acc = 0;
        for (int r = 0; r < V; r++) cdf[r] = (acc += 1.0 / (r + 1));
        for (int d = 0; d < N; d++) {
            int y = d % C;
            size_t n = (size_t)(100 + s_next() % (uint64_t)(2 * T - 199));
            int32_t *ids = malloc(n * sizeof(int32_t));
            for (size_t k = 0; k < n; k++) {
                if (s_unif() < 0.1) {
                    ids[k] = (int32_t)(1000 + y * 200 + (int)(s_next() % 200));
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
                    ids[k] = lo;
                }
            }
            s_push(&c, ids, n, y);
        }
        free(cdf);
        n_train = N * 4 / 5;
        if (dump) {
            char path[4096];
            snprintf(path, sizeof path, "%s/train.txt", dump);
            if (s_dump(path, &c, 0, n_train)) return 1;
            snprintf(path, sizeof path, "%s/val.txt", dump);
            if (s_dump(path, &c, n_train, N)) return 1;
        }
    }
    size_t total = 0;
    for (int d = 0; d < N; d++) total += c.lens[d];
    char err[HB_ERR_LEN];
    double t0 = s_now(), c0 = s_cpu();
    baseline *b = baseline_new(C);
    for (int d = 0; d < n_train; d++)
        if (baseline_add(b, c.docs[d], c.lens[d], c.labels[d], err)) return fprintf(stderr, "%s\n", err), 1;
    if (baseline_fit(b, err)) return fprintf(stderr, "%s\n", err), 1;
    double t1 = s_now(), c1 = s_cpu();
    int ok = 0;
    for (int d = n_train; d < N; d++) ok += baseline_predict(b, c.docs[d], c.lens[d]) == c.labels[d];
    double t2 = s_now();
    printf("baseline-bench: %d documents (%zu tokens, %d classes%s): fit on %d in %.2f s (CPU %.2f s; %zu terms), "
           "predict %d in %.2f s; accuracy %.4f%s\n",
           N, total, C, train_path ? "" : ", synthetic", n_train, t1 - t0, c1 - c0, baseline_n_terms(b), N - n_train,
           t2 - t1, (double)ok / (N - n_train), train_path ? "" : " (synthetic)");
    baseline_destroy(&b);
    for (int d = 0; d < N; d++) free(c.docs[d]);
    free(c.docs);
    free(c.lens);
    free(c.labels);
    return 0;
}
