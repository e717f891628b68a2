/*
 * store.h - hierbert's durable state in one LMDB environment per data
 * directory: jobs, ingested documents, chunk embeddings and results.
 *
 * Named databases (keys are bytes, compared as memcmp):
 *   meta     "schema" -> decimal schema version (STORE_SCHEMA_VERSION)
 *   jobs     job id -> opaque job record (the coordinator's JSON/bytes)
 *   docs     "job-id/doc-id" -> an ingested document (store_doc encoding)
 *   emb      "job-id/doc-id" -> a document's chunk embeddings (store_emb encoding)
 *   results  job id -> the job's result JSON
 *
 * A job id is 1..127 bytes without '/' or NUL; a doc id is 1..255 bytes
 * without NUL (it may contain '/': the job id is everything before the first
 * '/'). A key is at most 384 bytes, under LMDB's 511. Iteration is in byte
 * order of the doc ids: zero-pad numeric ids ("000042") to stream them in
 * numeric order.
 *
 * On-disk values (little-endian; every field checked on read, a bad value is
 * an error naming its key and never a crash):
 *   emb:  32-byte header {u32 magic "HBEM", u16 version=1, u16 dtype (1=f32),
 *         i32 label, i32 split, u32 n_chunks, u32 dim, u64 reserved=0}
 *         then float32[n_chunks][dim], chunk order, row-major.
 *   docs: 24-byte header {u32 magic "HBDC", u16 version=1, u16 reserved=0,
 *         i32 label, i32 split, u32 n_chunks, u32 n_tokens}
 *         then u32 chunk_len[n_chunks] (sum == n_tokens), then
 *         i32 token_ids[n_tokens] (chunk after chunk, unpadded; a chunk's
 *         attention mask is its first chunk_len tokens).
 *
 * Writing: a store_writer accumulates puts in memory and applies them in
 * one write transaction per batch (every `batch_docs` documents, or on
 * store_writer_commit). A commit is durable when it returns 0 (fsync; no
 * MDB_NOSYNC unless opts.nosync). MDB_MAP_FULL aborts the transaction,
 * doubles the map and re-applies the batch. A commit that fails (disk full,
 * I/O error) returns -1 naming the directory; the batch stays pending in the
 * writer (retry with store_writer_commit, or drop it with
 * store_writer_discard) and everything committed before is intact.
 * To acknowledge only durable data (EMBED), acknowledge the documents put
 * since the last successful commit when store_writer_commit returns 0, or
 * when a put returns 0 with store_writer_pending() back at 0 (it committed).
 *
 * Reading: store_*_get for one key; store_iter streams a job's entries in
 * key order. Each store_iter_next runs in its own short read transaction
 * (re-seeking after the last key), so no transaction stays open while the
 * caller works: iterators never pin old pages, never block map growth, and
 * any number may be open in any thread. The price: an iteration is not one
 * snapshot (entries committed meanwhile after the cursor are seen).
 *
 * Threads: one store_env may be shared by threads; a store_writer or a
 * store_iter belongs to one thread at a time. Several writers may exist;
 * their commits are serialized by LMDB.
 *
 * Caveats: one process should open a directory once (LMDB's rule: a second
 * mdb_env_open of the same file in one process breaks its locks). Other
 * processes may open it concurrently (e.g. `hierbert store stats`).
 */
#ifndef HB_STORE_H
#define HB_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "hb_error.h"

#define STORE_SCHEMA_VERSION 1
#define STORE_JOB_ID_MAX 127
#define STORE_DOC_ID_MAX 255
#define STORE_KEY_MAX 384

#define STORE_EMB_MAGIC 0x4d454248u /* "HBEM" little-endian */
#define STORE_EMB_VERSION 1
#define STORE_EMB_HEADER_BYTES 32
#define STORE_DOC_MAGIC 0x43444248u /* "HBDC" */
#define STORE_DOC_VERSION 1
#define STORE_DOC_HEADER_BYTES 24

enum { STORE_DTYPE_F32 = 1 };
enum { STORE_SPLIT_TRAIN = 0, STORE_SPLIT_VAL = 1, STORE_SPLIT_TEST = 2 };

/* The named databases. */
typedef enum {
    STORE_DB_META = 0,
    STORE_DB_JOBS,
    STORE_DB_DOCS,
    STORE_DB_EMB,
    STORE_DB_RESULTS,
    STORE_DB_COUNT
} store_db;
/* "meta", "jobs", "docs", "emb", "results" */
const char *store_db_name(store_db db);

typedef struct {
    size_t map_size;      /* initial map size in bytes; 0: 1 GiB. Grows by doubling on MAP_FULL. */
    int nosync;           /* 1: MDB_NOSYNC (tests/benchmarks only: commits are not durable) */
    int readonly;         /* 1: MDB_RDONLY (operators' tools); writes fail */
    unsigned max_readers; /* 0: 126 (LMDB's default) */
} store_options;

typedef struct store_env store_env;

/* Opens (creating the directory and the databases if needed, unless
 * readonly) the environment in dir. opts may be NULL for the defaults.
 * Fails if the stored schema version differs from STORE_SCHEMA_VERSION. */
int store_open(store_env **out, const char *dir, const store_options *opts, char *err);
/* Closes; *s becomes NULL. Writers and iterators must be destroyed first. */
void store_close(store_env **s);
const char *store_dir(const store_env *s);

/* ------------------------------------------------------------------------ */
/* Values */

/* A document's chunk embeddings. A decoded value owns `data` (64-byte
 * aligned, capacity `cap` floats) and is reused across reads: zero-init it,
 * pass it to reads as often as wanted, store_emb_free at the end. */
typedef struct {
    int32_t label, split;
    uint32_t n_chunks, dim;
    float *data; /* [n_chunks][dim] */
    size_t cap;
} store_emb;
void store_emb_free(store_emb *e);

/* An ingested document: tokens of each chunk. Owned and reusable like store_emb. */
typedef struct {
    int32_t label, split;
    uint32_t n_chunks, n_tokens;
    uint32_t *chunk_len; /* [n_chunks] */
    int32_t *token_ids;  /* [n_tokens], chunk after chunk */
    size_t cap_chunks, cap_tokens;
} store_doc;
void store_doc_free(store_doc *d);

/* Encoders/decoders of the on-disk formats (also used by the CLI and tests).
 * Decoders validate magic, version, dtype and sizes; `what` names the value
 * in the error (its key). */
size_t store_emb_encoded_size(uint32_t n_chunks, uint32_t dim);
void store_emb_encode(void *out, int32_t label, int32_t split, uint32_t n_chunks, uint32_t dim, const float *data);
int store_emb_decode(const void *val, size_t len, store_emb *out, const char *what, char *err);
/* Validates like store_emb_decode but fills only label, split, n_chunks and
 * dim (data untouched): filter a job's documents by split without copying. */
int store_emb_decode_header(const void *val, size_t len, store_emb *hdr, const char *what, char *err);
size_t store_doc_encoded_size(uint32_t n_chunks, uint32_t n_tokens);
void store_doc_encode(void *out, int32_t label, int32_t split, uint32_t n_chunks, const uint32_t *chunk_len,
                      const int32_t *token_ids);
int store_doc_decode(const void *val, size_t len, store_doc *out, const char *what, char *err);

/* "job/doc" into key (STORE_KEY_MAX+1 bytes); -1 if an id is invalid. */
int store_make_key(char *key, const char *job, const char *doc, char *err);

/* ------------------------------------------------------------------------ */
/* Batched writes */

typedef struct store_writer store_writer;

/* A writer that commits automatically once batch_docs document puts
 * (docs/emb) are pending; 0 means 64. */
store_writer *store_writer_new(store_env *s, size_t batch_docs);
/* Discards anything uncommitted; *w becomes NULL. */
void store_writer_destroy(store_writer **w);

/* Each put copies its arguments; it may trigger an automatic commit, whose
 * failure it returns (the pending batch is then kept, see above). */
int store_writer_put_emb(store_writer *w, const char *job, const char *doc, int32_t label, int32_t split,
                         uint32_t n_chunks, uint32_t dim, const float *data, char *err);
int store_writer_put_doc(store_writer *w, const char *job, const char *doc, int32_t label, int32_t split,
                         uint32_t n_chunks, const uint32_t *chunk_len, const int32_t *token_ids, char *err);
/* Any db, any key (jobs/results/meta records): counts as one document. */
int store_writer_put_raw(store_writer *w, store_db db, const void *key, size_t klen, const void *val, size_t vlen,
                         char *err);
/* Deletes a key (no error if absent). */
int store_writer_del(store_writer *w, store_db db, const void *key, size_t klen, char *err);
/* Applies and commits everything pending; durable on 0. Nothing pending: 0. */
int store_writer_commit(store_writer *w, char *err);
/* Drops the pending puts (after a failed commit the caller gives up on). */
void store_writer_discard(store_writer *w);
size_t store_writer_pending(const store_writer *w);
/* Map growths performed by this writer's commits (tests, logs). */
int store_writer_grow_count(const store_writer *w);

/* ------------------------------------------------------------------------ */
/* Single records (each its own durable transaction) */

int store_job_put(store_env *s, const char *job, const void *rec, size_t len, char *err);
/* 0 found (*rec malloc'd, NUL-terminated beyond len, caller frees), 1 absent, -1 error. */
int store_job_get(store_env *s, const char *job, char **rec, size_t *len, char *err);
int store_result_put(store_env *s, const char *job, const char *json, char *err);
int store_result_get(store_env *s, const char *job, char **json, char *err); /* 0 / 1 absent / -1 */
/* Deletes the job record, its result and all its docs and embeddings, in one transaction. */
int store_job_delete(store_env *s, const char *job, char *err);

/* 0 found (decoded into out), 1 absent, -1 error (corrupt value: names the key). */
int store_emb_get(store_env *s, const char *job, const char *doc, store_emb *out, char *err);
int store_doc_get(store_env *s, const char *job, const char *doc, store_doc *out, char *err);

/* Resume: 1 if job/doc's embeddings are stored, 0 if not, -1 error. */
int store_emb_exists(store_env *s, const char *job, const char *doc, char *err);
/* Calls fn(doc_id, ctx) for every document of job stored in db (DOCS or EMB),
 * in key order; fn returns nonzero to stop. Returns the count visited or -1.
 * With job NULL, fn gets every key of db: store_each_id(s, STORE_DB_JOBS,
 * NULL, ...) lists the job ids (the coordinator's reload after a restart). */
long store_each_id(store_env *s, store_db db, const char *job, int (*fn)(const char *doc, void *ctx), void *ctx,
                   char *err);
/* Entries of job in db (DOCS/EMB), or of the whole db if job is NULL. -1 on error. */
long store_count(store_env *s, store_db db, const char *job, char *err);

/* ------------------------------------------------------------------------ */
/* Streaming iteration */

typedef struct store_iter store_iter;

/* Iterates db's keys starting with "job/" (DOCS/EMB) or all keys (job NULL,
 * any db). */
int store_iter_open(store_iter **out, store_env *s, store_db db, const char *job, char *err);
/* The same, copying keys only (store_iter_value is then empty): cheap scans. */
int store_iter_open_keys(store_iter **out, store_env *s, store_db db, const char *job, char *err);
void store_iter_destroy(store_iter **it);
/* 1 positioned on the next entry, 0 at the end, -1 error. */
int store_iter_next(store_iter *it, char *err);
/* The current entry (valid until the next store_iter_next): raw key/value
 * copies, the doc id (after "job/", or the whole key if iterating a db
 * without job), and the decoded forms (validated; errors name the key). */
const char *store_iter_key(const store_iter *it, size_t *klen);
const void *store_iter_value(const store_iter *it, size_t *vlen);
const char *store_iter_doc_id(const store_iter *it);
int store_iter_emb(const store_iter *it, store_emb *out, char *err);
int store_iter_emb_header(const store_iter *it, store_emb *hdr, char *err);
int store_iter_doc(const store_iter *it, store_doc *out, char *err);

/* ------------------------------------------------------------------------ */
/* Operators' figures */

typedef struct {
    size_t entries[STORE_DB_COUNT];
    size_t map_size; /* bytes mapped */
    size_t map_used; /* bytes of pages in use (last page number x page size) */
    unsigned page_size;
    unsigned readers_used, max_readers;
} store_stats;
int store_get_stats(store_env *s, store_stats *out, char *err);

#endif
