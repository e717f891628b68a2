/*
 * test_store_bulk.c - the store at the acceptance size: 100k chunk vectors of
 * 768 floats in 10k documents (~300 MB) written through a batched writer
 * with durable commits, the environment closed and reopened, and every value
 * read back by streaming a cursor and compared with what was written (and a
 * sample by point lookup). It takes about a second here, so the default run
 * is the full size.
 */
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "store.h"
#include "test_tmpdir.h"

/* The value of chunk c, component j of document d: recomputable at verify. */
static float s_val(uint32_t d, uint32_t c, uint32_t j) {
    uint32_t x = d * 2654435761u ^ (c * 40503u + j * 2246822519u);
    x ^= x >> 15;
    x *= 2246822519u;
    x ^= x >> 13;
    return (float)(x & 0xffffff) / (float)0x1000000 - 0.5f;
}

static double s_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(void) {
    char err[HB_ERR_LEN] = "";
    const uint32_t n_docs = 10000, dim = 768;
    printf("# size: %u documents of 1..19 chunks (10 on average), %u floats per chunk\n", n_docs, dim);
    char dir[256];
    t_tmpdir(dir, sizeof dir, "bulk");

    store_options opts = {0};
    opts.map_size = (size_t)8 << 20; /* start small: the bulk write also exercises growth */
    store_env *s;
    CHECK_OK(store_open(&s, dir, &opts, err), err);
    store_writer *w = store_writer_new(s, 128);
    float *buf = malloc((size_t)19 * dim * sizeof(float));
    uint64_t n_vec = 0;
    double t0 = s_now();
    for (uint32_t d = 0; d < n_docs; d++) {
        uint32_t nc = 1 + 2 * (d % 10); /* 1, 3, ..., 19 chunks: 100k vectors */
        for (uint32_t c = 0; c < nc; c++)
            for (uint32_t j = 0; j < dim; j++) buf[(size_t)c * dim + j] = s_val(d, c, j);
        char doc[32];
        snprintf(doc, sizeof doc, "d%06u", d);
        CHECK_OK(store_writer_put_emb(w, "job1", doc, (int32_t)(d % 7), (int32_t)(d % 3), nc, dim, buf, err), err);
        n_vec += nc;
    }
    CHECK_OK(store_writer_commit(w, err), err);
    double t_write = s_now() - t0;
    int grows = store_writer_grow_count(w);
    store_writer_destroy(&w);
    CHECK(n_vec == 100000, "wrote %llu vectors", (unsigned long long)n_vec);
    CHECK(grows > 0, "an 8 MiB map should have grown for %llu vectors", (unsigned long long)n_vec);
    t_ok("wrote %llu vectors in %u documents in %.2f s (%.0f vectors/s), map grew %d times", (unsigned long long)n_vec,
         n_docs, t_write, n_vec / t_write, grows);
    store_close(&s);

    CHECK_OK(store_open(&s, dir, NULL, err), err);
    CHECK(store_count(s, STORE_DB_EMB, "job1", err) == (long)n_docs, "count after reopen: %s", err);
    store_iter *it;
    CHECK_OK(store_iter_open(&it, s, STORE_DB_EMB, "job1", err), err);
    store_emb e = {0};
    uint32_t d = 0;
    uint64_t seen = 0, bad = 0;
    t0 = s_now();
    int rc;
    while ((rc = store_iter_next(it, err)) == 1) {
        char doc[32];
        snprintf(doc, sizeof doc, "d%06u", d);
        CHECK(strcmp(store_iter_doc_id(it), doc) == 0, "key order: got %s want %s", store_iter_doc_id(it), doc);
        CHECK_OK(store_iter_emb(it, &e, err), err);
        CHECK(e.n_chunks == 1 + 2 * (d % 10) && e.dim == dim && e.label == (int32_t)(d % 7) &&
                  e.split == (int32_t)(d % 3),
              "header of %s: %u chunks dim %u label %d split %d", doc, e.n_chunks, e.dim, e.label, e.split);
        for (uint32_t c = 0; c < e.n_chunks; c++)
            for (uint32_t j = 0; j < dim; j++) bad += e.data[(size_t)c * dim + j] != s_val(d, c, j);
        seen += e.n_chunks;
        d++;
    }
    CHECK(rc == 0, "iteration: %s", err);
    double t_read = s_now() - t0;
    store_iter_destroy(&it);
    CHECK(d == n_docs && seen == n_vec && bad == 0, "read %u docs %llu vectors, %llu wrong floats", d,
          (unsigned long long)seen, (unsigned long long)bad);
    t_ok("reopened and streamed all %llu vectors back bit-exact in %.2f s (%.0f vectors/s)", (unsigned long long)seen,
         t_read, seen / t_read);

    for (uint32_t k = 0; k < n_docs; k += 97) {
        char doc[32];
        snprintf(doc, sizeof doc, "d%06u", k);
        CHECK(store_emb_get(s, "job1", doc, &e, err) == 0, "get %s: %s", doc, err);
        CHECK(e.n_chunks == 1 + 2 * (k % 10) &&
                  e.data[(size_t)(e.n_chunks - 1) * dim + dim - 1] == s_val(k, e.n_chunks - 1, dim - 1),
              "point lookup %s", doc);
    }
    CHECK(store_emb_get(s, "job1", "nope", &e, err) == 1, "absent doc must return 1");
    CHECK(store_emb_get(s, "job2", "d000000", &e, err) == 1, "other job must not see job1's docs");
    t_ok("point lookups of every 97th document agree; absent keys report absent");
    store_emb_free(&e);
    free(buf);
    store_close(&s);
    t_rmtree(dir);
    return 0;
}
