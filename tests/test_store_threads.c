/*
 * test_store_threads.c - one store_env shared by threads: a writer thread
 * commits batches into a map that starts tiny (so it grows many times:
 * mdb_env_set_mapsize under the store's lock) while two reader threads
 * stream the job with iterators and look documents up. Every value any
 * reader sees must be whole and correct, no call may fail, and at the end
 * all documents are there.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "check.h"
#include "store.h"
#include "test_tmpdir.h"

enum { NDOCS = 3000, CHUNKS = 4, DIM = 256 };

typedef struct {
    store_env *s;
    atomic_int done;
    atomic_long reads;
    int grows;
} s_shared;

static float s_val(int d, int j) {
    return (float)d + (float)j / 1024.0f;
}

static void *s_writer(void *arg) {
    s_shared *sh = arg;
    char err[HB_ERR_LEN];
    store_writer *w = store_writer_new(sh->s, 25);
    float x[CHUNKS * DIM];
    for (int d = 0; d < NDOCS; d++) {
        for (int j = 0; j < CHUNKS * DIM; j++) x[j] = s_val(d, j);
        char doc[16];
        snprintf(doc, sizeof doc, "%06d", d);
        CHECK_OK(store_writer_put_emb(w, "t", doc, d % 5, 0, CHUNKS, DIM, x, err), err);
    }
    CHECK_OK(store_writer_commit(w, err), err);
    sh->grows = store_writer_grow_count(w);
    store_writer_destroy(&w);
    atomic_store(&sh->done, 1);
    return NULL;
}

static void s_check(const store_emb *e, int d) {
    CHECK(e->n_chunks == CHUNKS && e->dim == DIM && e->label == d % 5, "doc %d header", d);
    for (int j = 0; j < CHUNKS * DIM; j++) CHECK(e->data[j] == s_val(d, j), "doc %d value %d", d, j);
}

static void *s_reader(void *arg) {
    s_shared *sh = arg;
    char err[HB_ERR_LEN];
    store_emb e = {0};
    unsigned seed = (unsigned)(uintptr_t)&e;
    while (!atomic_load(&sh->done)) {
        store_iter *it;
        CHECK_OK(store_iter_open(&it, sh->s, STORE_DB_EMB, "t", err), err);
        int rc, n = 0;
        while ((rc = store_iter_next(it, err)) == 1) {
            CHECK_OK(store_iter_emb(it, &e, err), err);
            int d = atoi(store_iter_doc_id(it));
            CHECK(d == n, "iteration order: %d at %d", d, n);
            s_check(&e, d);
            n++;
            atomic_fetch_add(&sh->reads, 1);
        }
        CHECK(rc == 0, "iterator: %s", err);
        store_iter_destroy(&it);
        seed = seed * 1103515245u + 12345u;
        int d = (int)(seed % NDOCS);
        char doc[16];
        snprintf(doc, sizeof doc, "%06d", d);
        rc = store_emb_get(sh->s, "t", doc, &e, err);
        CHECK(rc == 0 || rc == 1, "lookup: %s", err);
        if (rc == 0) s_check(&e, d);
    }
    store_emb_free(&e);
    return NULL;
}

int main(void) {
    char err[HB_ERR_LEN], dir[256];
    t_tmpdir(dir, sizeof dir, "threads");
    store_options o = {0};
    o.map_size = 64 * 1024;
    o.nosync = 1; /* durability is test_store_crash's; this one is about locking */
    s_shared sh = {0};
    CHECK_OK(store_open(&sh.s, dir, &o, err), err);
    pthread_t w, r1, r2;
    pthread_create(&r1, NULL, s_reader, &sh);
    pthread_create(&r2, NULL, s_reader, &sh);
    pthread_create(&w, NULL, s_writer, &sh);
    pthread_join(w, NULL);
    pthread_join(r1, NULL);
    pthread_join(r2, NULL);
    CHECK(store_count(sh.s, STORE_DB_EMB, "t", err) == NDOCS, "count");
    CHECK(sh.grows >= 5, "the map grew only %d times", sh.grows);
    t_ok("a writer grew the map %d times while 2 readers streamed and looked up %ld whole, correct documents", sh.grows,
         atomic_load(&sh.reads));
    store_close(&sh.s);
    t_rmtree(dir);
    return 0;
}
