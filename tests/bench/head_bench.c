/*
 * head_bench.c - `head-bench`: training throughput of the LSTM head in
 * documents/s (forward + backward + Adam step per batch), optionally side by
 * side with PyTorch on the same shape and threads.
 *
 *   OMP_WAIT_POLICY=PASSIVE flock /tmp/hb-heavy.lock build/tests/head-bench \
 *       --torch tests/reference/bench_head_torch.py
 *
 * Default shape: 2048 documents, input 768 (BERT-base [CLS]), LSTM 100
 * units, Dense 30, 10 classes, batch 32, document i has 1 + (i*7919) % 16
 * chunks (1..16, mean 8.5). One warm-up epoch, then --epochs timed.
 * Threads: OpenMP's (OMP_NUM_THREADS, default all cores); the torch run gets
 * the same count through torch.set_num_threads, OPENBLAS_NUM_THREADS and the
 * same OMP_WAIT_POLICY.
 */
#include <getopt.h>
#include <omp.h>
#include <string.h>
#include <time.h>

#include "lstm.h"

static double s_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void s_usage(FILE *f) {
    fprintf(f, "usage: head-bench [--docs 2048] [--dim 768] [--units 100] [--dense 30] [--classes 10] [--batch 32]\n"
               "                  [--maxlen 16] [--epochs 3] [--torch tests/reference/bench_head_torch.py]\n"
               "  trains the LSTM head on random chunk vectors and prints documents/s; with --torch also runs\n"
               "  the PyTorch script on the same shape and threads (/usr/bin/python3) and prints the ratio.\n");
}

int main(int argc, char **argv) {
    static const struct option opts[] = {{"docs", required_argument, 0, 'n'},
                                         {"dim", required_argument, 0, 'D'},
                                         {"units", required_argument, 0, 'U'},
                                         {"dense", required_argument, 0, 'H'},
                                         {"classes", required_argument, 0, 'C'},
                                         {"batch", required_argument, 0, 'B'},
                                         {"maxlen", required_argument, 0, 'T'},
                                         {"epochs", required_argument, 0, 'e'},
                                         {"torch", required_argument, 0, 't'},
                                         {"help", no_argument, 0, 'h'},
                                         {0}};
    int docs = 2048, batch = 32, maxlen = 16, epochs = 3, c;
    lstm_config cfg = {768, 100, 30, 10};
    const char *torch = NULL;
    while ((c = getopt_long(argc, argv, "n:D:U:H:C:B:T:e:t:h", opts, NULL)) != -1) {
        switch (c) {
        case 'n':
            docs = atoi(optarg);
            break;
        case 'D':
            cfg.input_dim = atoi(optarg);
            break;
        case 'U':
            cfg.units = atoi(optarg);
            break;
        case 'H':
            cfg.dense_units = atoi(optarg);
            break;
        case 'C':
            cfg.n_classes = atoi(optarg);
            break;
        case 'B':
            batch = atoi(optarg);
            break;
        case 'T':
            maxlen = atoi(optarg);
            break;
        case 'e':
            epochs = atoi(optarg);
            break;
        case 't':
            torch = optarg;
            break;
        case 'h':
            s_usage(stdout);
            return 0;
        default:
            s_usage(stderr);
            return 2;
        }
    }
    if (docs < 1 || batch < 1 || batch > docs || maxlen < 1 || epochs < 1) {
        fprintf(stderr, "head-bench: need docs >= batch >= 1, maxlen >= 1, epochs >= 1\n");
        return 2;
    }
    char err[HB_ERR_LEN];
    lstm_model *m;
    if (lstm_new(&m, &cfg, 1, err) != 0) {
        fprintf(stderr, "head-bench: %s\n", err);
        return 2;
    }
    const int threads = omp_get_max_threads();
    const char *wait = getenv("OMP_WAIT_POLICY") ? getenv("OMP_WAIT_POLICY") : "";
    printf("head-bench: %d documents of 1..%d chunks, input %d, LSTM %d, Dense %d, %d classes, batch %d, %d threads, "
           "OMP_WAIT_POLICY=%s\n",
           docs, maxlen, cfg.input_dim, cfg.units, cfg.dense_units, cfg.n_classes, batch, threads, wait);
    int *lens = malloc(sizeof(int) * docs), *labels = malloc(sizeof(int) * docs);
    const float **xs = malloc(sizeof(float *) * docs);
    unsigned seed = 1;
    for (int i = 0; i < docs; i++) {
        lens[i] = 1 + (int)(((long)i * 7919) % maxlen);
        labels[i] = i % cfg.n_classes;
        float *x = malloc(sizeof(float) * lens[i] * cfg.input_dim);
        for (int j = 0; j < lens[i] * cfg.input_dim; j++) {
            seed = seed * 1103515245u + 12345u;
            x[j] = (float)(seed >> 8) / (float)(1u << 24) - 0.5f;
        }
        xs[i] = x;
    }
    const int nb = docs / batch;
    lstm_batch *batches = malloc(sizeof(lstm_batch) * nb);
    for (int k = 0; k < nb; k++) batches[k] = (lstm_batch){batch, lens + k * batch, xs + k * batch, labels + k * batch};
    adamw_state opt;
    adamw_init(&opt, &m->params, lstm_default_optim());
    double loss;
    if (lstm_train_epoch(m, &opt, batches, nb, &loss, NULL, err) != 0) { /* warm-up */
        fprintf(stderr, "head-bench: %s\n", err);
        return 1;
    }
    double t0 = s_now();
    for (int e = 0; e < epochs; e++)
        if (lstm_train_epoch(m, &opt, batches, nb, &loss, NULL, err) != 0) {
            fprintf(stderr, "head-bench: %s\n", err);
            return 1;
        }
    double dt = s_now() - t0, ours = (double)epochs * nb * batch / dt;
    printf("hierbert_docs_per_s: %.1f  (%.2f s, last epoch loss %.4f)\n", ours, dt, loss);
    fflush(stdout);

    /* prediction throughput too: what the coordinator runs on val/test */
    float *probs = malloc(sizeof(float) * batch * cfg.n_classes);
    t0 = s_now();
    for (int k = 0; k < nb; k++) lstm_predict(m, &batches[k], probs, err);
    dt = s_now() - t0;
    printf("hierbert_predict_docs_per_s: %.1f\n", nb * batch / dt);
    free(probs);

    int rc = 0;
    if (torch) {
        char cmd[2048];
        snprintf(cmd, sizeof cmd,
                 "OMP_WAIT_POLICY='%s' OPENBLAS_NUM_THREADS=%d OMP_NUM_THREADS=%d /usr/bin/python3 '%s' --docs %d "
                 "--dim %d --units %d --dense %d --classes %d --batch %d --maxlen %d --epochs %d --threads %d",
                 wait, threads, threads, torch, docs, cfg.input_dim, cfg.units, cfg.dense_units, cfg.n_classes, batch,
                 maxlen, epochs, threads);
        FILE *p = popen(cmd, "r");
        char line[512];
        double theirs = 0;
        while (p && fgets(line, sizeof line, p)) {
            fputs(line, stdout);
            sscanf(line, "torch_docs_per_s: %lf", &theirs);
        }
        if (!p || pclose(p) != 0 || theirs <= 0) {
            fprintf(stderr, "head-bench: the torch run failed: %s\n", cmd);
            rc = 1;
        } else {
            printf("ratio hierbert/torch: %.2fx (target >= 2x)\n", ours / theirs);
        }
    }
    for (int i = 0; i < docs; i++) free((void *)xs[i]);
    free(xs);
    free(lens);
    free(labels);
    free(batches);
    adamw_free(&opt);
    lstm_destroy(&m);
    return rc;
}
