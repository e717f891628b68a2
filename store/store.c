/*
 * store.c - the LMDB environment: open/close, transactions that survive map
 * growth and fatal-error reopen, single-record reads and writes, counts and
 * statistics. Value formats live in store/codec.c, batched writes in
 * store/writer.c, streaming in store/iter.c; the contracts are in store.h.
 */
#include "store_internal.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

static const char *const s_db_names[STORE_DB_COUNT] = {"meta", "jobs", "docs", "emb", "results"};

const char *store_db_name(store_db db) {
    return (unsigned)db < STORE_DB_COUNT ? s_db_names[db] : "?";
}
const char *store_dir(const store_env *s) {
    return s->dir;
}

/* Creates the MDB_env, opens it and its named databases. Called at open and
 * after a fatal LMDB error (MDB_PANIC) to start over from what is on disk. */
static int s_env_init(store_env *s, char *err) {
    int rc = mdb_env_create(&s->env);
    if (rc) return hb_fail(err, "store %s: mdb_env_create: %s", s->dir, mdb_strerror(rc));
    mdb_env_set_maxdbs(s->env, STORE_DB_COUNT + 2);
    mdb_env_set_maxreaders(s->env, s->opts.max_readers ? s->opts.max_readers : 126);
    mdb_env_set_mapsize(s->env, s->opts.map_size);
    unsigned flags = MDB_NOTLS | (s->opts.nosync ? MDB_NOSYNC : 0) | (s->opts.readonly ? MDB_RDONLY : 0);
    rc = mdb_env_open(s->env, s->dir, flags, 0640);
    if (rc) {
        mdb_env_close(s->env);
        s->env = NULL;
        return hb_fail(err, "store %s: cannot open LMDB environment: %s", s->dir, mdb_strerror(rc));
    }
    MDB_txn *txn;
    rc = mdb_txn_begin(s->env, NULL, s->opts.readonly ? MDB_RDONLY : 0, &txn);
    if (rc) goto fail_env;
    for (int i = 0; i < STORE_DB_COUNT; i++) {
        rc = mdb_dbi_open(txn, s_db_names[i], s->opts.readonly ? 0 : MDB_CREATE, &s->dbi[i]);
        if (rc == MDB_NOTFOUND) {
            mdb_txn_abort(txn);
            mdb_env_close(s->env);
            s->env = NULL;
            return hb_fail(err, "store %s: database '%s' missing: not a hierbert store (or never opened for writing)",
                           s->dir, s_db_names[i]);
        }
        if (rc) goto fail_txn;
    }
    MDB_val k = {6, (void *)"schema"}, v;
    rc = mdb_get(txn, s->dbi[STORE_DB_META], &k, &v);
    char want[16];
    snprintf(want, sizeof want, "%d", STORE_SCHEMA_VERSION);
    if (rc == MDB_NOTFOUND && !s->opts.readonly) {
        v.mv_size = strlen(want);
        v.mv_data = want;
        rc = mdb_put(txn, s->dbi[STORE_DB_META], &k, &v, 0);
        if (rc) goto fail_txn;
    } else if (rc == 0) {
        if (v.mv_size != strlen(want) || memcmp(v.mv_data, want, v.mv_size) != 0) {
            char got[16];
            int n = v.mv_size < 15 ? (int)v.mv_size : 15;
            memcpy(got, v.mv_data, (size_t)n); /* the mapped value dies with the txn */
            mdb_txn_abort(txn);
            mdb_env_close(s->env);
            s->env = NULL;
            return hb_fail(err,
                           "store %s: schema version '%.*s' but this hierbert reads version %s "
                           "(use the hierbert that wrote it, or re-ingest into a new directory)",
                           s->dir, n, got, want);
        }
    } else if (rc != MDB_NOTFOUND) {
        goto fail_txn;
    }
    rc = mdb_txn_commit(txn);
    if (rc) goto fail_env;
    return 0;
fail_txn:
    mdb_txn_abort(txn);
fail_env:
    mdb_env_close(s->env);
    s->env = NULL;
    return hb_fail(err, "store %s: opening databases: %s", s->dir, mdb_strerror(rc));
}

int store_open(store_env **out, const char *dir, const store_options *opts, char *err) {
    *out = NULL;
    if (!dir || !*dir) return hb_fail(err, "store: empty directory name");
    store_env *s = hb_calloc(1, sizeof *s);
    if (opts) s->opts = *opts;
    if (!s->opts.map_size) s->opts.map_size = (size_t)1 << 30;
    snprintf(s->dir, sizeof s->dir, "%s", dir);
    if (!s->opts.readonly && mkdir(dir, 0750) != 0 && errno != EEXIST) {
        int e = errno;
        free(s);
        return hb_fail(err, "store %s: cannot create directory: %s", dir, strerror(e));
    }
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        free(s);
        return hb_fail(err, "store %s: not a directory", dir);
    }
    pthread_rwlock_init(&s->lock, NULL);
    if (s_env_init(s, err) != 0) {
        pthread_rwlock_destroy(&s->lock);
        free(s);
        return -1;
    }
    *out = s;
    return 0;
}

void store_close(store_env **sp) {
    if (!sp || !*sp) return;
    store_env *s = *sp;
    if (s->env) mdb_env_close(s->env);
    pthread_rwlock_destroy(&s->lock);
    free(s);
    *sp = NULL;
}

/* ------------------------------------------------------------------------ */
/* Transactions. Every transaction runs under the read side of s->lock; map
 * growth and reopen take the write side, so LMDB's rule "set_mapsize only
 * with no transaction active in this process" holds. No caller code runs
 * while a transaction is open (iterators copy out), so this cannot deadlock. */

static int s_adopt_mapsize(store_env *s) {
    pthread_rwlock_wrlock(&s->lock);
    int rc = mdb_env_set_mapsize(s->env, 0); /* another process grew it: adopt */
    pthread_rwlock_unlock(&s->lock);
    return rc;
}

static int s_reopen(store_env *s, char *err) {
    pthread_rwlock_wrlock(&s->lock);
    if (s->env) mdb_env_close(s->env);
    s->env = NULL;
    int rc = s_env_init(s, err);
    pthread_rwlock_unlock(&s->lock);
    return rc;
}

int store_txn_begin(store_env *s, int readonly, MDB_txn **txn, char *err) {
    for (int attempt = 0; attempt < 3; attempt++) {
        pthread_rwlock_rdlock(&s->lock);
        int rc = s->env ? mdb_txn_begin(s->env, NULL, readonly ? MDB_RDONLY : 0, txn) : MDB_PANIC;
        if (rc == 0) return 0;
        pthread_rwlock_unlock(&s->lock);
        if (rc == MDB_MAP_RESIZED) {
            if (s_adopt_mapsize(s) == 0) continue;
        } else if (rc == MDB_PANIC) {
            /* A failed meta-page write left the env unusable; what is on disk
             * is the last good commit. Start over from it. */
            if (s_reopen(s, err) == 0) continue;
            return -1;
        }
        return hb_fail(err, "store %s: begin %s transaction: %s", s->dir, readonly ? "read" : "write",
                       mdb_strerror(rc));
    }
    return hb_fail(err, "store %s: cannot begin a transaction (map resized repeatedly)", s->dir);
}

void store_txn_abort(store_env *s, MDB_txn *txn) {
    mdb_txn_abort(txn);
    pthread_rwlock_unlock(&s->lock);
}

int store_txn_commit(store_env *s, MDB_txn *txn) {
    int rc = mdb_txn_commit(txn);
    pthread_rwlock_unlock(&s->lock);
    return rc;
}

/* Doubles the map (at least). */
static int s_grow(store_env *s, char *err) {
    pthread_rwlock_wrlock(&s->lock);
    MDB_envinfo info;
    mdb_env_info(s->env, &info);
    size_t cur = info.me_mapsize, next = cur * 2;
    int rc = mdb_env_set_mapsize(s->env, next);
    pthread_rwlock_unlock(&s->lock);
    if (rc) return hb_fail(err, "store %s: growing the map %zu -> %zu bytes: %s", s->dir, cur, next, mdb_strerror(rc));
    s->opts.map_size = next;
    return 0;
}

int store_write(store_env *s, int (*apply)(MDB_txn *txn, void *ctx, char *err), void *ctx, int *grows, const char *what,
                char *err) {
    if (s->opts.readonly) return hb_fail(err, "store %s: opened read-only, cannot %s", s->dir, what);
    for (int attempt = 0; attempt < 48; attempt++) {
        MDB_txn *txn;
        if (store_txn_begin(s, 0, &txn, err) != 0) return -1;
        int rc = apply(txn, ctx, err);
        if (rc == MDB_MAP_FULL) {
            store_txn_abort(s, txn);
        } else if (rc != 0) {
            store_txn_abort(s, txn);
            if (rc > 0 || rc < -1) /* an LMDB code: apply left err empty */
                return hb_fail(err, "store %s: %s: %s", s->dir, what, mdb_strerror(rc));
            return -1;
        } else {
            rc = store_txn_commit(s, txn);
            if (rc == 0) return 0;
            if (rc != MDB_MAP_FULL) {
                /* LMDB reports a short write (a full disk) as EIO: say how much room is left */
                char room[96] = "";
                struct statvfs fs;
                if ((rc == EIO || rc == ENOSPC || rc == EDQUOT) && statvfs(s->dir, &fs) == 0)
                    snprintf(room, sizeof room, " (its file system has %llu bytes free: disk full?)",
                             (unsigned long long)fs.f_bavail * (unsigned long long)fs.f_frsize);
                return hb_fail(err,
                               "store %s: commit (%s) failed: %s%s; nothing of this batch was written, "
                               "earlier commits are intact",
                               s->dir, what, mdb_strerror(rc), room);
            }
        }
        if (s_grow(s, err) != 0) return -1;
        if (grows) (*grows)++;
    }
    return hb_fail(err, "store %s: %s: map still full after repeated growth", s->dir, what);
}

/* ------------------------------------------------------------------------ */
/* Keys */

static int s_check_job(const char *job, char *err) {
    if (!job) return hb_fail(err, "store: job id missing");
    size_t n = strlen(job);
    if (n == 0 || n > STORE_JOB_ID_MAX)
        return hb_fail(err, "store: job id '%.40s' must be 1..%d bytes", job, STORE_JOB_ID_MAX);
    if (strchr(job, '/')) return hb_fail(err, "store: job id '%.40s' contains '/'", job);
    return 0;
}

int store_make_key(char *key, const char *job, const char *doc, char *err) {
    if (s_check_job(job, err) != 0) return -1;
    if (!doc) return hb_fail(err, "store: doc id missing");
    size_t d = strlen(doc);
    if (d == 0 || d > STORE_DOC_ID_MAX)
        return hb_fail(err, "store: doc id '%.40s' must be 1..%d bytes", doc, STORE_DOC_ID_MAX);
    snprintf(key, STORE_KEY_MAX + 1, "%s/%s", job, doc);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Single records */

typedef struct {
    MDB_dbi dbi;
    MDB_val k, v;
} s_put_ctx;

static int s_apply_put(MDB_txn *txn, void *ctx, char *err) {
    s_put_ctx *c = ctx;
    return mdb_put(txn, c->dbi, &c->k, &c->v, 0);
}

static int s_put(store_env *s, store_db db, const char *key, const void *val, size_t len, char *err) {
    s_put_ctx c = {s->dbi[db], {strlen(key), (void *)key}, {len, (void *)val}};
    char what[STORE_KEY_MAX + 32];
    snprintf(what, sizeof what, "put %s/%s", s_db_names[db], key);
    return store_write(s, s_apply_put, &c, NULL, what, err);
}

/* Reads key into a malloc'd NUL-terminated copy. 0 / 1 absent / -1. */
static int s_get_copy(store_env *s, store_db db, const char *key, char **out, size_t *len, char *err) {
    *out = NULL;
    MDB_txn *txn;
    if (store_txn_begin(s, 1, &txn, err) != 0) return -1;
    MDB_val k = {strlen(key), (void *)key}, v;
    int rc = mdb_get(txn, s->dbi[db], &k, &v);
    if (rc == 0) {
        *out = hb_malloc(v.mv_size + 1);
        memcpy(*out, v.mv_data, v.mv_size);
        (*out)[v.mv_size] = 0;
        if (len) *len = v.mv_size;
    }
    store_txn_abort(s, txn);
    if (rc == MDB_NOTFOUND) return 1;
    if (rc) return hb_fail(err, "store %s: get %s/%s: %s", s->dir, s_db_names[db], key, mdb_strerror(rc));
    return 0;
}

int store_job_put(store_env *s, const char *job, const void *rec, size_t len, char *err) {
    if (s_check_job(job, err) != 0) return -1;
    return s_put(s, STORE_DB_JOBS, job, rec, len, err);
}

int store_job_get(store_env *s, const char *job, char **rec, size_t *len, char *err) {
    if (s_check_job(job, err) != 0) return -1;
    return s_get_copy(s, STORE_DB_JOBS, job, rec, len, err);
}

int store_result_put(store_env *s, const char *job, const char *json, char *err) {
    if (s_check_job(job, err) != 0) return -1;
    return s_put(s, STORE_DB_RESULTS, job, json, strlen(json), err);
}

int store_result_get(store_env *s, const char *job, char **json, char *err) {
    if (s_check_job(job, err) != 0) return -1;
    return s_get_copy(s, STORE_DB_RESULTS, job, json, NULL, err);
}

typedef struct {
    store_env *s;
    const char *job;
} s_del_ctx;

static int s_del_prefix(MDB_txn *txn, MDB_dbi dbi, const char *prefix) {
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, dbi, &cur);
    if (rc) return rc;
    size_t plen = strlen(prefix);
    for (;;) { /* re-seek after each delete: simple and safe across page merges */
        MDB_val k = {plen, (void *)prefix}, v;
        rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
        if (rc || k.mv_size < plen || memcmp(k.mv_data, prefix, plen) != 0) break;
        if ((rc = mdb_cursor_del(cur, 0)) != 0) break;
    }
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

static int s_apply_job_delete(MDB_txn *txn, void *ctx, char *err) {
    s_del_ctx *c = ctx;
    MDB_val k = {strlen(c->job), (void *)c->job};
    int rc = mdb_del(txn, c->s->dbi[STORE_DB_JOBS], &k, NULL);
    if (rc && rc != MDB_NOTFOUND) return rc;
    rc = mdb_del(txn, c->s->dbi[STORE_DB_RESULTS], &k, NULL);
    if (rc && rc != MDB_NOTFOUND) return rc;
    char prefix[STORE_JOB_ID_MAX + 2];
    snprintf(prefix, sizeof prefix, "%s/", c->job);
    if ((rc = s_del_prefix(txn, c->s->dbi[STORE_DB_DOCS], prefix)) != 0) return rc;
    if ((rc = s_del_prefix(txn, c->s->dbi[STORE_DB_RESULTS], prefix)) != 0) return rc; /* EMBED's chunk logits */
    return s_del_prefix(txn, c->s->dbi[STORE_DB_EMB], prefix);
}

int store_job_delete(store_env *s, const char *job, char *err) {
    if (s_check_job(job, err) != 0) return -1;
    s_del_ctx c = {s, job};
    char what[STORE_JOB_ID_MAX + 32];
    snprintf(what, sizeof what, "delete job %s", job);
    return store_write(s, s_apply_job_delete, &c, NULL, what, err);
}

/* Looks key up and, if present, runs decode on the mapped value inside the
 * read transaction (no intermediate copy). */
static int s_get_decoded(store_env *s, store_db db, const char *job, const char *doc, void *out,
                         int (*decode)(const void *, size_t, void *, const char *, char *), char *err) {
    char key[STORE_KEY_MAX + 1];
    if (store_make_key(key, job, doc, err) != 0) return -1;
    MDB_txn *txn;
    if (store_txn_begin(s, 1, &txn, err) != 0) return -1;
    MDB_val k = {strlen(key), key}, v;
    int rc = mdb_get(txn, s->dbi[db], &k, &v), ret;
    if (rc == 0) {
        char what[PATH_MAX + STORE_KEY_MAX + 16];
        snprintf(what, sizeof what, "%s %s/%s", s->dir, s_db_names[db], key);
        ret = decode ? decode(v.mv_data, v.mv_size, out, what, err) : 0;
    } else if (rc == MDB_NOTFOUND) {
        ret = 1;
    } else {
        ret = hb_fail(err, "store %s: get %s/%s: %s", s->dir, s_db_names[db], key, mdb_strerror(rc));
    }
    store_txn_abort(s, txn);
    return ret;
}

static int s_decode_emb(const void *v, size_t n, void *out, const char *what, char *err) {
    return store_emb_decode(v, n, out, what, err);
}
static int s_decode_doc(const void *v, size_t n, void *out, const char *what, char *err) {
    return store_doc_decode(v, n, out, what, err);
}

int store_emb_get(store_env *s, const char *job, const char *doc, store_emb *out, char *err) {
    return s_get_decoded(s, STORE_DB_EMB, job, doc, out, s_decode_emb, err);
}

int store_doc_get(store_env *s, const char *job, const char *doc, store_doc *out, char *err) {
    return s_get_decoded(s, STORE_DB_DOCS, job, doc, out, s_decode_doc, err);
}

int store_emb_exists(store_env *s, const char *job, const char *doc, char *err) {
    int rc = s_get_decoded(s, STORE_DB_EMB, job, doc, NULL, NULL, err);
    return rc == 0 ? 1 : rc == 1 ? 0 : -1;
}

long store_each_id(store_env *s, store_db db, const char *job, int (*fn)(const char *doc, void *ctx), void *ctx,
                   char *err) {
    store_iter *it;
    if (store_iter_open_keys(&it, s, db, job, err) != 0) return -1;
    long n = 0;
    int rc;
    while ((rc = store_iter_next(it, err)) == 1) {
        n++;
        if (fn(store_iter_doc_id(it), ctx)) break;
    }
    store_iter_destroy(&it);
    return rc < 0 ? -1 : n;
}

long store_count(store_env *s, store_db db, const char *job, char *err) {
    if ((unsigned)db >= STORE_DB_COUNT) return hb_fail(err, "store: bad database %d", (int)db);
    char prefix[STORE_JOB_ID_MAX + 2] = "";
    if (job) {
        if (s_check_job(job, err) != 0) return -1;
        snprintf(prefix, sizeof prefix, "%s/", job);
    }
    MDB_txn *txn;
    if (store_txn_begin(s, 1, &txn, err) != 0) return -1;
    long n = 0;
    int rc;
    if (!job) {
        MDB_stat st;
        rc = mdb_stat(txn, s->dbi[db], &st);
        n = (long)st.ms_entries;
    } else {
        /* Keys only: a cursor walk touches the branch and leaf pages, not the
         * overflow pages holding large values. */
        MDB_cursor *cur;
        rc = mdb_cursor_open(txn, s->dbi[db], &cur);
        if (rc == 0) {
            size_t plen = strlen(prefix);
            MDB_val k = {plen, prefix}, v;
            for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
                 rc == 0 && k.mv_size >= plen && memcmp(k.mv_data, prefix, plen) == 0;
                 rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
                n++;
            mdb_cursor_close(cur);
            if (rc == MDB_NOTFOUND || rc == 0) rc = 0;
        }
    }
    store_txn_abort(s, txn);
    if (rc) return hb_fail(err, "store %s: counting %s: %s", s->dir, s_db_names[db], mdb_strerror(rc));
    return n;
}

int store_get_stats(store_env *s, store_stats *out, char *err) {
    memset(out, 0, sizeof *out);
    MDB_txn *txn;
    if (store_txn_begin(s, 1, &txn, err) != 0) return -1;
    int rc = 0;
    for (int i = 0; i < STORE_DB_COUNT && rc == 0; i++) {
        MDB_stat st;
        rc = mdb_stat(txn, s->dbi[i], &st);
        out->entries[i] = st.ms_entries;
    }
    MDB_envinfo info;
    MDB_stat est;
    mdb_env_info(s->env, &info);
    mdb_env_stat(s->env, &est);
    store_txn_abort(s, txn);
    if (rc) return hb_fail(err, "store %s: stats: %s", s->dir, mdb_strerror(rc));
    out->map_size = info.me_mapsize;
    out->page_size = est.ms_psize;
    out->map_used = (info.me_last_pgno + 1) * (size_t)est.ms_psize;
    out->readers_used = info.me_numreaders;
    out->max_readers = info.me_maxreaders;
    return 0;
}
