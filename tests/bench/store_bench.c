/*
 * store_bench.c - `store-bench`: store write and read throughput.
 *
 * Writes D documents of C chunk vectors of H floats through a batched
 * store_writer (durable commits every B documents unless --nosync), closes,
 * reopens, then streams every document back with a cursor iterator (decoding
 * and checking the first float) and finally reads a sample by point lookup.
 * Prints chunk vectors/s and MB/s for each phase.
 *
 *   store-bench [--dir DIR] [--docs 10000] [--chunks 10] [--dim 768] [--batch 64] [--nosync] [--keep]
 */
#include <getopt.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "store.h"

static double s_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void s_usage(FILE *f) {
    fprintf(f, "usage: store-bench [--dir DIR] [--docs N] [--chunks C] [--dim H] [--batch B] [--nosync] [--keep]\n"
               "  writes N documents of C chunk vectors of H floats (durable commits every B documents),\n"
               "  reopens and streams them back; prints vectors/s and MB/s. DIR defaults to a fresh /tmp dir,\n"
               "  removed afterwards unless --keep.\n");
}

int main(int argc, char **argv) {
    static const struct option opts[] = {
        {"dir", required_argument, 0, 'd'}, {"docs", required_argument, 0, 'n'},  {"chunks", required_argument, 0, 'c'},
        {"dim", required_argument, 0, 'H'}, {"batch", required_argument, 0, 'b'}, {"nosync", no_argument, 0, 's'},
        {"keep", no_argument, 0, 'k'},      {"help", no_argument, 0, 'h'},        {0}};
    char dir[512] = "";
    long docs = 10000, chunks = 10, dim = 768, batch = 64;
    int nosync = 0, keep = 0, c;
    while ((c = getopt_long(argc, argv, "d:n:c:H:b:skh", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            snprintf(dir, sizeof dir, "%s", optarg);
            break;
        case 'n':
            docs = atol(optarg);
            break;
        case 'c':
            chunks = atol(optarg);
            break;
        case 'H':
            dim = atol(optarg);
            break;
        case 'b':
            batch = atol(optarg);
            break;
        case 's':
            nosync = 1;
            break;
        case 'k':
            keep = 1;
            break;
        case 'h':
            s_usage(stdout);
            return 0;
        default:
            s_usage(stderr);
            return 2;
        }
    }
    if (docs < 1 || chunks < 1 || dim < 1 || batch < 1) {
        fprintf(stderr, "store-bench: --docs, --chunks, --dim and --batch must be >= 1\n");
        return 2;
    }
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "/tmp/hb-store-bench-XXXXXX");
        if (!mkdtemp(dir)) {
            perror("store-bench: mkdtemp");
            return 1;
        }
    }
    char err[HB_ERR_LEN];
    const double mb = (double)docs * chunks * dim * 4 / 1e6, vecs = (double)docs * chunks;
    printf("store-bench: %ld documents x %ld chunks x %ld floats = %.0f vectors, %.1f MB, batch %ld, %s, dir %s\n",
           docs, chunks, dim, vecs, mb, batch, nosync ? "MDB_NOSYNC" : "durable commits (fsync)", dir);
    store_options so = {0};
    so.nosync = nosync;
    store_env *s;
    if (store_open(&s, dir, &so, err) != 0) {
        fprintf(stderr, "store-bench: %s\n", err);
        return 1;
    }
    float *x = malloc(sizeof(float) * chunks * dim);
    for (long i = 0; i < chunks * dim; i++) x[i] = (float)i * 1e-3f;
    store_writer *w = store_writer_new(s, (size_t)batch);
    double t0 = s_now();
    for (long d = 0; d < docs; d++) {
        char doc[32];
        snprintf(doc, sizeof doc, "%09ld", d);
        x[0] = (float)d;
        if (store_writer_put_emb(w, "bench", doc, (int)(d % 10), 0, (uint32_t)chunks, (uint32_t)dim, x, err) != 0) {
            fprintf(stderr, "store-bench: %s\n", err);
            return 1;
        }
    }
    if (store_writer_commit(w, err) != 0) {
        fprintf(stderr, "store-bench: %s\n", err);
        return 1;
    }
    double tw = s_now() - t0;
    int grows = store_writer_grow_count(w);
    store_writer_destroy(&w);
    store_close(&s);
    printf("write:   %9.0f vectors/s  %8.1f MB/s  (%.2f s, %d map growths)\n", vecs / tw, mb / tw, tw, grows);

    if (store_open(&s, dir, NULL, err) != 0) {
        fprintf(stderr, "store-bench: %s\n", err);
        return 1;
    }
    store_iter *it;
    store_emb e = {0};
    long n = 0, bad = 0;
    t0 = s_now();
    if (store_iter_open(&it, s, STORE_DB_EMB, "bench", err) != 0) {
        fprintf(stderr, "store-bench: %s\n", err);
        return 1;
    }
    int rc;
    while ((rc = store_iter_next(it, err)) == 1) {
        if (store_iter_emb(it, &e, err) != 0) {
            fprintf(stderr, "store-bench: %s\n", err);
            return 1;
        }
        bad += e.data[0] != (float)n;
        n++;
    }
    double tr = s_now() - t0;
    store_iter_destroy(&it);
    if (rc < 0 || n != docs || bad) {
        fprintf(stderr, "store-bench: read back %ld of %ld documents, %ld wrong: %s\n", n, docs, bad,
                rc < 0 ? err : "");
        return 1;
    }
    printf("stream:  %9.0f vectors/s  %8.1f MB/s  (%.2f s, cursor iterator, decoded)\n", vecs / tr, mb / tr, tr);
    long sample = docs < 2000 ? docs : 2000;
    t0 = s_now();
    for (long i = 0; i < sample; i++) {
        char doc[32];
        long d = (i * 7919) % docs;
        snprintf(doc, sizeof doc, "%09ld", d);
        if (store_emb_get(s, "bench", doc, &e, err) != 0 || e.data[0] != (float)d) {
            fprintf(stderr, "store-bench: lookup %s: %s\n", doc, err);
            return 1;
        }
    }
    double tl = s_now() - t0;
    printf("lookup:  %9.0f vectors/s  %8.1f MB/s  (%ld random point lookups)\n", sample * chunks / tl,
           sample * chunks * dim * 4 / 1e6 / tl, sample);
    store_emb_free(&e);
    store_close(&s);
    free(x);
    if (!keep) {
        char p[600];
        snprintf(p, sizeof p, "%s/data.mdb", dir);
        unlink(p);
        snprintf(p, sizeof p, "%s/lock.mdb", dir);
        unlink(p);
        rmdir(dir);
    }
    return 0;
}
