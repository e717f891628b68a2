/*
 * iter.c - streaming a job's entries in key order. Each step is its own
 * short read transaction that re-seeks just past the previous key and copies
 * the entry out, so iteration never holds a transaction while the caller
 * works (see store.h for why).
 */
#include "store_internal.h"

#include <string.h>

struct store_iter {
    store_env *s;
    store_db db;
    char prefix[STORE_JOB_ID_MAX + 2];
    size_t plen;
    int keys_only;
    int started, done;
    char key[STORE_KEY_MAX + 1]; /* current key, NUL-terminated */
    size_t klen;
    unsigned char *val;
    size_t vlen, vcap;
};

static int s_open(store_iter **out, store_env *s, store_db db, const char *job, int keys_only, char *err) {
    *out = NULL;
    if ((unsigned)db >= STORE_DB_COUNT) return hb_fail(err, "store: bad database %d", (int)db);
    store_iter *it = hb_calloc(1, sizeof *it);
    it->s = s;
    it->db = db;
    it->keys_only = keys_only;
    if (job) {
        char key[STORE_KEY_MAX + 1];
        if (store_make_key(key, job, "x", err) != 0) {
            free(it);
            return -1;
        }
        snprintf(it->prefix, sizeof it->prefix, "%s/", job);
        it->plen = strlen(it->prefix);
    }
    *out = it;
    return 0;
}

int store_iter_open(store_iter **out, store_env *s, store_db db, const char *job, char *err) {
    return s_open(out, s, db, job, 0, err);
}

int store_iter_open_keys(store_iter **out, store_env *s, store_db db, const char *job, char *err) {
    return s_open(out, s, db, job, 1, err);
}

void store_iter_destroy(store_iter **itp) {
    if (!itp || !*itp) return;
    free((*itp)->val);
    free(*itp);
    *itp = NULL;
}

int store_iter_next(store_iter *it, char *err) {
    if (it->done) return 0;
    store_env *s = it->s;
    MDB_txn *txn;
    if (store_txn_begin(s, 1, &txn, err) != 0) return -1;
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, s->dbi[it->db], &cur);
    if (rc) {
        store_txn_abort(s, txn);
        return hb_fail(err, "store %s: cursor on %s: %s", s->dir, store_db_name(it->db), mdb_strerror(rc));
    }
    MDB_val k, v;
    if (!it->started) {
        k.mv_size = it->plen;
        k.mv_data = it->prefix;
        rc = it->plen ? mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE) : mdb_cursor_get(cur, &k, &v, MDB_FIRST);
    } else {
        k.mv_size = it->klen;
        k.mv_data = it->key;
        rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
        if (rc == 0 && k.mv_size == it->klen && memcmp(k.mv_data, it->key, it->klen) == 0)
            rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }
    int ret = 1;
    if (rc == MDB_NOTFOUND || (rc == 0 && (k.mv_size < it->plen || memcmp(k.mv_data, it->prefix, it->plen) != 0))) {
        it->done = 1;
        ret = 0;
    } else if (rc) {
        ret = hb_fail(err, "store %s: reading %s: %s", s->dir, store_db_name(it->db), mdb_strerror(rc));
    } else if (k.mv_size > STORE_KEY_MAX) {
        ret = hb_fail(err, "store %s: %s holds a key of %zu bytes (max %d)", s->dir, store_db_name(it->db), k.mv_size,
                      STORE_KEY_MAX);
    } else {
        memcpy(it->key, k.mv_data, k.mv_size);
        it->key[k.mv_size] = 0;
        it->klen = k.mv_size;
        it->started = 1;
        it->vlen = 0;
        if (!it->keys_only) {
            if (v.mv_size + 1 > it->vcap) {
                free(it->val);
                it->vcap = v.mv_size + 1 > 2 * it->vcap ? v.mv_size + 1 : 2 * it->vcap;
                it->val = hb_malloc(it->vcap);
            }
            memcpy(it->val, v.mv_data, v.mv_size);
            it->val[v.mv_size] = 0;
            it->vlen = v.mv_size;
        }
    }
    mdb_cursor_close(cur);
    store_txn_abort(s, txn);
    return ret;
}

const char *store_iter_key(const store_iter *it, size_t *klen) {
    if (klen) *klen = it->klen;
    return it->key;
}

const void *store_iter_value(const store_iter *it, size_t *vlen) {
    if (vlen) *vlen = it->vlen;
    return it->val ? (const void *)it->val : "";
}

const char *store_iter_doc_id(const store_iter *it) {
    return it->key + it->plen;
}

static void s_what(const store_iter *it, char *what, size_t n) {
    snprintf(what, n, "%s %s/%s", it->s->dir, store_db_name(it->db), it->key);
}

int store_iter_emb(const store_iter *it, store_emb *out, char *err) {
    char what[PATH_MAX + STORE_KEY_MAX + 16];
    s_what(it, what, sizeof what);
    return store_emb_decode(it->val, it->vlen, out, what, err);
}

int store_iter_emb_header(const store_iter *it, store_emb *hdr, char *err) {
    char what[PATH_MAX + STORE_KEY_MAX + 16];
    s_what(it, what, sizeof what);
    return store_emb_decode_header(it->val, it->vlen, hdr, what, err);
}

int store_iter_doc(const store_iter *it, store_doc *out, char *err) {
    char what[PATH_MAX + STORE_KEY_MAX + 16];
    s_what(it, what, sizeof what);
    return store_doc_decode(it->val, it->vlen, out, what, err);
}
