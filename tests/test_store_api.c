/*
 * test_store_api.c - the store's contracts one by one: growth from a tiny
 * map, corrupt and truncated values reported by key (never a crash), a full
 * disk (commit fails naming the directory, the batch stays pending, earlier
 * commits intact, a retry succeeds), the resume helpers, cursor streaming
 * with writes in between, documents' token ids, job records and results,
 * deleting a job, key validation, read-only opening and the schema check.
 */
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "check.h"
#include "store.h"
#include "test_tmpdir.h"

static void s_fill(float *x, size_t n, float base) {
    for (size_t i = 0; i < n; i++) x[i] = base + (float)i * 0.001f;
}

static int s_collect(const char *doc, void *ctx) {
    char *acc = ctx;
    strcat(acc, doc);
    strcat(acc, ",");
    return 0;
}

int main(void) {
    char err[HB_ERR_LEN] = "";
    char dir[256];
    t_tmpdir(dir, sizeof dir, "api");
    enum { DIM = 64 };
    float x[16 * DIM];

    /* --- growth from a tiny map --- */
    store_options opts = {0};
    opts.map_size = 64 * 1024;
    store_env *s;
    CHECK_OK(store_open(&s, dir, &opts, err), err);
    store_writer *w = store_writer_new(s, 8);
    for (int d = 0; d < 200; d++) {
        char doc[16];
        snprintf(doc, sizeof doc, "doc%03d", d);
        s_fill(x, 16 * DIM, (float)d);
        CHECK_OK(store_writer_put_emb(w, "j1", doc, d % 3, d % 2, 16, DIM, x, err), err);
    }
    CHECK_OK(store_writer_commit(w, err), err);
    store_stats st;
    CHECK_OK(store_get_stats(s, &st, err), err);
    CHECK(store_writer_grow_count(w) >= 3 && st.map_size > opts.map_size && st.entries[STORE_DB_EMB] == 200,
          "grows %d map %zu entries %zu", store_writer_grow_count(w), st.map_size, st.entries[STORE_DB_EMB]);
    t_ok("a 64 KiB map grew %d times to %zu bytes for 200 documents (%zu bytes used); all 200 stored",
         store_writer_grow_count(w), st.map_size, st.map_used);

    /* --- resume helpers --- */
    CHECK(store_emb_exists(s, "j1", "doc007", err) == 1 && store_emb_exists(s, "j1", "doc200", err) == 0 &&
              store_emb_exists(s, "j10", "doc007", err) == 0,
          "exists");
    CHECK(store_emb_exists(s, "bad/job", "x", err) == -1 && strstr(err, "contains '/'"), "bad job id: %s", err);
    CHECK(store_emb_exists(s, "j1", "", err) == -1, "empty doc id must be refused");
    CHECK(store_count(s, STORE_DB_EMB, "j1", err) == 200 && store_count(s, STORE_DB_EMB, "j", err) == 0, "count");
    s_fill(x, DIM, 5);
    CHECK_OK(store_writer_put_emb(w, "j10", "a", 0, 0, 1, DIM, x, err), err); /* prefix neighbour of j1 */
    CHECK_OK(store_writer_commit(w, err), err);
    char ids[4096] = "";
    CHECK(store_each_id(s, STORE_DB_EMB, "j10", s_collect, ids, err) == 1 && strcmp(ids, "a,") == 0, "each_id j10: %s",
          ids);
    ids[0] = 0;
    CHECK(store_each_id(s, STORE_DB_EMB, "j1", s_collect, ids, err) == 200, "each_id j1");
    CHECK(strncmp(ids, "doc000,doc001,", 14) == 0 && !strstr(ids, "a,"), "j1's ids must not include j10's: %.40s", ids);
    t_ok("resume: store_emb_exists and store_each_id see exactly a job's documents (j1 vs its prefix neighbour j10)");

    /* --- streaming with a write in between (no transaction held across calls) --- */
    store_iter *it;
    CHECK_OK(store_iter_open(&it, s, STORE_DB_EMB, "j1", err), err);
    store_emb e = {0};
    int n = 0, rc;
    while ((rc = store_iter_next(it, err)) == 1) {
        CHECK_OK(store_iter_emb(it, &e, err), err);
        int d = atoi(store_iter_doc_id(it) + (n < 200 ? 3 : 2)), want = n < 200 ? n : n - 200;
        CHECK(d == want && (n < 200 ? e.label == d % 3 && e.split == d % 2 && e.data[0] == (float)d : e.label == 0) &&
                  e.n_chunks == 16,
              "entry %d (%s)", n, store_iter_doc_id(it));
        if (n == 10) { /* a writer commits while the iterator is open, even growing the map */
            for (int k = 0; k < 50; k++) {
                char doc[16];
                snprintf(doc, sizeof doc, "zz%03d", k);
                s_fill(x, 16 * DIM, 0);
                CHECK_OK(store_writer_put_emb(w, "j1", doc, 0, 0, 16, DIM, x, err), err);
            }
            CHECK_OK(store_writer_commit(w, err), err);
        }
        n++;
    }
    CHECK(rc == 0 && n == 250, "streamed %d entries: %s", n, err);
    store_iter_destroy(&it);
    CHECK_OK(store_iter_open(&it, s, STORE_DB_EMB, "j1", err), err);
    int val_split = 0;
    store_emb hdr = {0};
    while ((rc = store_iter_next(it, err)) == 1) {
        CHECK_OK(store_iter_emb_header(it, &hdr, err), err);
        CHECK(hdr.data == NULL && hdr.n_chunks == 16 && hdr.dim == DIM, "header-only decode copies nothing");
        val_split += hdr.split == 1;
    }
    store_iter_destroy(&it);
    CHECK(val_split == 100, "split 1 documents by header: %d", val_split);
    t_ok("an iterator streamed 250 entries in key order while a writer committed 50 more mid-way; a header-only "
         "pass counted the 100 of split 1 without copying matrices");

    /* --- corrupt values: clear errors naming the key --- */
    unsigned char bad[200];
    size_t good_len = store_emb_encoded_size(1, DIM);
    unsigned char *good = malloc(good_len);
    store_emb_encode(good, 1, 0, 1, DIM, x);
    const char *cases[] = {"short", "magic", "version", "size", "nchunks"};
    for (int c = 0; c < 5; c++) {
        const void *val = good;
        size_t len = good_len;
        unsigned char *cp = malloc(good_len);
        memcpy(cp, good, good_len);
        if (c == 0) memcpy(bad, good, 20), val = bad, len = 20;
        if (c == 1) cp[0] ^= 0xff, val = cp;
        if (c == 2) cp[4] = 9, val = cp;
        if (c == 3) val = cp, len = good_len - 4;
        if (c == 4) cp[16] = 0xff, cp[17] = 0xff, cp[18] = 0xff, cp[19] = 0x7f, val = cp; /* huge n_chunks */
        char key[64];
        snprintf(key, sizeof key, "jc/%s", cases[c]);
        CHECK_OK(store_writer_put_raw(w, STORE_DB_EMB, key, strlen(key), val, len, err), err);
        CHECK_OK(store_writer_commit(w, err), err);
        err[0] = 0;
        CHECK(store_emb_get(s, "jc", cases[c], &e, err) == -1, "corrupt %s must fail", cases[c]);
        CHECK(strstr(err, key) && strstr(err, dir), "error must name the key and dir: %s", err);
        printf("  # %s -> %s\n", cases[c], err);
        free(cp);
    }
    CHECK_OK(store_iter_open(&it, s, STORE_DB_EMB, "jc", err), err);
    int bad_seen = 0;
    while (store_iter_next(it, err) == 1) bad_seen += store_iter_emb(it, &e, err) == -1;
    store_iter_destroy(&it);
    CHECK(bad_seen == 5, "iterator decodes must fail on all 5 corrupt values (%d)", bad_seen);
    t_ok("5 kinds of corrupt embedding values give an error naming the key, by lookup and by iteration");

    /* --- documents (token ids) --- */
    uint32_t lens[3] = {4, 2, 3};
    int32_t toks[9] = {101, 7, 8, 102, 101, 102, 101, 9, 102};
    CHECK_OK(store_writer_put_doc(w, "j1", "doc000", 2, 1, 3, lens, toks, err), err);
    CHECK_OK(store_writer_commit(w, err), err);
    store_doc dd = {0};
    CHECK(store_doc_get(s, "j1", "doc000", &dd, err) == 0, "doc get: %s", err);
    CHECK(dd.n_chunks == 3 && dd.n_tokens == 9 && dd.label == 2 && dd.split == 1 && dd.chunk_len[1] == 2 &&
              memcmp(dd.token_ids, toks, sizeof toks) == 0,
          "doc round trip");
    unsigned char *dv = malloc(store_doc_encoded_size(3, 9));
    store_doc_encode(dv, 2, 1, 3, lens, toks);
    ((uint32_t *)(void *)(dv + STORE_DOC_HEADER_BYTES))[0] = 5; /* lengths no longer sum to n_tokens */
    CHECK(store_doc_decode(dv, store_doc_encoded_size(3, 9), &dd, "t", err) == -1 && strstr(err, "sum"), "%s", err);
    free(dv);
    t_ok("a document's chunk lengths and token ids round-trip; inconsistent lengths are refused (%s)", err);

    /* --- job records, results, deletion --- */
    CHECK_OK(store_job_put(s, "j1", "{\"state\":\"EMBED\"}", 17, err), err);
    CHECK_OK(store_result_put(s, "j1", "{\"acc\":0.5}", err), err);
    char *rec;
    size_t rlen;
    CHECK(store_job_get(s, "j1", &rec, &rlen, err) == 0 && rlen == 17 && strcmp(rec, "{\"state\":\"EMBED\"}") == 0,
          "job get");
    free(rec);
    CHECK(store_job_get(s, "j9", &rec, &rlen, err) == 1 && !rec, "absent job");
    CHECK_OK(store_job_put(s, "j0", "{}", 2, err), err);
    ids[0] = 0;
    CHECK(store_each_id(s, STORE_DB_JOBS, NULL, s_collect, ids, err) == 2 && strcmp(ids, "j0,j1,") == 0,
          "listing jobs: %s", ids);
    CHECK(store_result_get(s, "j1", &rec, err) == 0 && strcmp(rec, "{\"acc\":0.5}") == 0, "result get");
    free(rec);
    CHECK_OK(store_job_delete(s, "j1", err), err);
    CHECK(store_count(s, STORE_DB_EMB, "j1", err) == 0 && store_count(s, STORE_DB_DOCS, "j1", err) == 0 &&
              store_count(s, STORE_DB_EMB, "j10", err) == 1 && store_job_get(s, "j1", &rec, &rlen, err) == 1 &&
              store_result_get(s, "j1", &rec, err) == 1,
          "delete must remove j1's record, result, docs and embeddings, and keep j10");
    t_ok("job records list (store_each_id on jobs) and round-trip with results; deleting j1 removes its 250 "
         "embeddings, docs, record, result, not j10's");

    /* --- a full disk: commit fails, batch kept, earlier data intact, retry succeeds --- */
    char path[512];
    snprintf(path, sizeof path, "%s/data.mdb", dir);
    struct stat fst;
    CHECK(stat(path, &fst) == 0, "stat data.mdb");
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit old, lim;
    getrlimit(RLIMIT_FSIZE, &old);
    lim = old;
    lim.rlim_cur = (rlim_t)fst.st_size; /* the file cannot grow: the next big commit hits "disk full" */
    CHECK(setrlimit(RLIMIT_FSIZE, &lim) == 0, "setrlimit");
    float *big = malloc(sizeof(float) * 16 * DIM);
    store_writer *wf = store_writer_new(s, 100000);
    for (int d = 0; d < 1000; d++) { /* 4 MB: more than the pages freed by the delete */
        char doc[16];
        snprintf(doc, sizeof doc, "f%03d", d);
        s_fill(big, 16 * DIM, (float)d);
        CHECK_OK(store_writer_put_emb(wf, "jf", doc, 0, 0, 16, DIM, big, err), err);
    }
    err[0] = 0;
    CHECK(store_writer_commit(wf, err) == -1, "a commit beyond the file size limit must fail");
    CHECK(strstr(err, dir) != NULL, "the error must name the directory: %s", err);
    printf("  # disk full -> %s\n", err);
    CHECK(store_writer_pending(wf) == 1000, "the failed batch must stay pending (%zu)", store_writer_pending(wf));
    setrlimit(RLIMIT_FSIZE, &old);
    CHECK(store_count(s, STORE_DB_EMB, "jf", err) == 0, "no part of the failed batch may be visible");
    CHECK(store_emb_get(s, "j10", "a", &e, err) == 0 && e.data[0] == 5.0f, "earlier commit lost after disk full: %s",
          err);
    CHECK_OK(store_writer_commit(wf, err), err);
    CHECK(store_writer_pending(wf) == 0 && store_count(s, STORE_DB_EMB, "jf", err) == 1000, "retry after space freed");
    store_writer_destroy(&wf);
    t_ok("disk full: the commit failed naming %s, kept its 1000 puts pending, hid them all, kept earlier data; "
         "the retry after space came back stored all 1000",
         dir);

    /* --- read-only opening and the schema check --- */
    store_close(&s);
    store_options ro = {0};
    ro.readonly = 1;
    CHECK_OK(store_open(&s, dir, &ro, err), err);
    CHECK(store_count(s, STORE_DB_EMB, "jf", err) == 1000, "read-only count");
    CHECK(store_job_put(s, "x", "y", 1, err) == -1 && strstr(err, "read-only"), "read-only put: %s", err);
    store_close(&s);
    CHECK_OK(store_open(&s, dir, NULL, err), err);
    store_writer *wm = store_writer_new(s, 1);
    CHECK_OK(store_writer_put_raw(wm, STORE_DB_META, "schema", 6, "99", 2, err), err);
    store_writer_destroy(&wm);
    store_close(&s);
    CHECK(store_open(&s, dir, NULL, err) == -1 && strstr(err, "schema version '99'"), "schema mismatch: %s", err);
    printf("  # %s\n", err);
    char nodir[300];
    snprintf(nodir, sizeof nodir, "%s/missing/deeper", dir);
    CHECK(store_open(&s, nodir, NULL, err) == -1 && strstr(err, nodir), "missing parent: %s", err);
    t_ok("read-only opening reads and refuses writes; a foreign schema version and a bad path are refused clearly");

    store_writer_destroy(&w);
    free(big);
    free(good);
    store_emb_free(&e);
    store_doc_free(&dd);
    t_rmtree(dir);
    return 0;
}
