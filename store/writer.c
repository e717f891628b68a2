/*
 * writer.c - batched, durable writes. Puts are copied into the writer and
 * applied together in one write transaction at commit time; keeping them in
 * memory until the commit succeeds is what lets a MAP_FULL be retried after
 * growing the map, and a failed commit (disk full) be retried or dropped
 * without touching what was committed before.
 */
#include "store_internal.h"

#include <string.h>

typedef struct {
    store_db db;
    int del;
    size_t klen, vlen;
    unsigned char *buf; /* key bytes then value bytes */
} s_op;

struct store_writer {
    store_env *s;
    size_t batch_docs;
    s_op *ops;
    size_t nops, cap;
    int grows;
};

store_writer *store_writer_new(store_env *s, size_t batch_docs) {
    store_writer *w = hb_calloc(1, sizeof *w);
    w->s = s;
    w->batch_docs = batch_docs ? batch_docs : 64;
    return w;
}

void store_writer_discard(store_writer *w) {
    for (size_t i = 0; i < w->nops; i++) free(w->ops[i].buf);
    w->nops = 0;
}

void store_writer_destroy(store_writer **wp) {
    if (!wp || !*wp) return;
    store_writer_discard(*wp);
    free((*wp)->ops);
    free(*wp);
    *wp = NULL;
}

size_t store_writer_pending(const store_writer *w) {
    return w->nops;
}
int store_writer_grow_count(const store_writer *w) {
    return w->grows;
}

/* Appends an op whose value is vlen bytes, to be filled by the caller. */
static unsigned char *s_push(store_writer *w, store_db db, int del, const void *key, size_t klen, size_t vlen) {
    if (w->nops == w->cap) {
        w->cap = w->cap ? 2 * w->cap : 64;
        w->ops = hb_realloc(w->ops, w->cap * sizeof *w->ops);
    }
    s_op *op = &w->ops[w->nops++];
    op->db = db;
    op->del = del;
    op->klen = klen;
    op->vlen = vlen;
    op->buf = hb_malloc(klen + vlen);
    memcpy(op->buf, key, klen);
    return op->buf + klen;
}

static int s_apply(MDB_txn *txn, void *ctx, char *err) {
    store_writer *w = ctx;
    for (size_t i = 0; i < w->nops; i++) {
        s_op *op = &w->ops[i];
        MDB_val k = {op->klen, op->buf}, v = {op->vlen, op->buf + op->klen};
        int rc = op->del ? mdb_del(txn, w->s->dbi[op->db], &k, NULL) : mdb_put(txn, w->s->dbi[op->db], &k, &v, 0);
        if (rc == MDB_NOTFOUND && op->del) rc = 0;
        if (rc == MDB_MAP_FULL) return rc;
        if (rc) {
            int n = op->klen > 200 ? 200 : (int)op->klen;
            return hb_fail(err, "store %s: put %s/%.*s: %s", w->s->dir, store_db_name(op->db), n, (char *)op->buf,
                           mdb_strerror(rc));
        }
    }
    return 0;
}

int store_writer_commit(store_writer *w, char *err) {
    if (w->nops == 0) return 0;
    char what[64];
    snprintf(what, sizeof what, "batch of %zu puts", w->nops);
    if (store_write(w->s, s_apply, w, &w->grows, what, err) != 0) return -1;
    store_writer_discard(w);
    return 0;
}

static int s_maybe_commit(store_writer *w, char *err) {
    return w->nops >= w->batch_docs ? store_writer_commit(w, err) : 0;
}

int store_writer_put_emb(store_writer *w, const char *job, const char *doc, int32_t label, int32_t split,
                         uint32_t n_chunks, uint32_t dim, const float *data, char *err) {
    char key[STORE_KEY_MAX + 1];
    if (store_make_key(key, job, doc, err) != 0) return -1;
    if (n_chunks == 0 || dim == 0) return hb_fail(err, "store: emb %s: empty (%u chunks x %u)", key, n_chunks, dim);
    if (split < 0 || split > STORE_SPLIT_TEST) return hb_fail(err, "store: emb %s: bad split %d", key, split);
    size_t vlen = store_emb_encoded_size(n_chunks, dim);
    unsigned char *v = s_push(w, STORE_DB_EMB, 0, key, strlen(key), vlen);
    store_emb_encode(v, label, split, n_chunks, dim, data);
    return s_maybe_commit(w, err);
}

int store_writer_put_doc(store_writer *w, const char *job, const char *doc, int32_t label, int32_t split,
                         uint32_t n_chunks, const uint32_t *chunk_len, const int32_t *token_ids, char *err) {
    char key[STORE_KEY_MAX + 1];
    if (store_make_key(key, job, doc, err) != 0) return -1;
    if (n_chunks == 0) return hb_fail(err, "store: doc %s: no chunks", key);
    if (split < 0 || split > STORE_SPLIT_TEST) return hb_fail(err, "store: doc %s: bad split %d", key, split);
    uint64_t nt = 0;
    for (uint32_t c = 0; c < n_chunks; c++) nt += chunk_len[c];
    if (nt > UINT32_MAX) return hb_fail(err, "store: doc %s: too many tokens", key);
    size_t vlen = store_doc_encoded_size(n_chunks, (uint32_t)nt);
    unsigned char *v = s_push(w, STORE_DB_DOCS, 0, key, strlen(key), vlen);
    store_doc_encode(v, label, split, n_chunks, chunk_len, token_ids);
    return s_maybe_commit(w, err);
}

int store_writer_put_raw(store_writer *w, store_db db, const void *key, size_t klen, const void *val, size_t vlen,
                         char *err) {
    if ((unsigned)db >= STORE_DB_COUNT) return hb_fail(err, "store: bad database %d", (int)db);
    if (klen == 0 || klen > STORE_KEY_MAX) return hb_fail(err, "store: key of %zu bytes (1..%d)", klen, STORE_KEY_MAX);
    unsigned char *v = s_push(w, db, 0, key, klen, vlen);
    memcpy(v, val, vlen);
    return s_maybe_commit(w, err);
}

int store_writer_del(store_writer *w, store_db db, const void *key, size_t klen, char *err) {
    if ((unsigned)db >= STORE_DB_COUNT) return hb_fail(err, "store: bad database %d", (int)db);
    if (klen == 0 || klen > STORE_KEY_MAX) return hb_fail(err, "store: key of %zu bytes (1..%d)", klen, STORE_KEY_MAX);
    s_push(w, db, 1, key, klen, 0);
    return s_maybe_commit(w, err);
}
