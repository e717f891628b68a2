/*
 * cli_store.c - `hierbert store stats|dump|verify DIR [--job J]`: the
 * operator's view of a data directory's LMDB store, opened read-only (safe
 * beside a running coordinator).
 *   stats   entries per database, map size and use, per job: records,
 *           documents ingested and documents embedded
 *   dump    keys with their decoded headers; --values adds the values as text
 *   verify  reads and validates every value (headers, sizes, finite floats,
 *           results JSON, an embedding's header against its document's);
 *           exit 1 naming each bad key
 */
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <string.h>

#include "store.h"

static void s_usage(FILE *f) {
    fprintf(f, "usage: hierbert store stats|dump|verify DIR [--job J] [--values]\n"
               "  stats    entries per database, map size/used, per-job documents and embeddings\n"
               "  dump     keys and decoded headers (--values: the values too, as text)\n"
               "  verify   read every value and check it; exit 1 naming each bad key\n"
               "  --job J  only job J's records, documents and embeddings\n"
               "  --values with dump: print embeddings, token ids and records in full\n");
}

/* ------------------------------------------------------------------------ */
/* stats */

typedef struct {
    char id[STORE_JOB_ID_MAX + 1];
    long docs, emb, has_record, has_result;
} s_job;

typedef struct {
    s_job *v;
    int n, cap;
} s_jobs;

static s_job *s_job_get(s_jobs *js, const char *id, size_t len) {
    for (int i = 0; i < js->n; i++)
        if (strlen(js->v[i].id) == len && memcmp(js->v[i].id, id, len) == 0) return &js->v[i];
    if (js->n == js->cap) {
        js->cap = js->cap ? 2 * js->cap : 16;
        js->v = hb_realloc(js->v, sizeof(s_job) * js->cap);
    }
    s_job *j = &js->v[js->n++];
    memset(j, 0, sizeof *j);
    snprintf(j->id, sizeof j->id, "%.*s", (int)(len > STORE_JOB_ID_MAX ? STORE_JOB_ID_MAX : len), id);
    return j;
}

/* Counts db's keys per job (the part before the first '/'). */
static int s_scan_jobs(store_env *s, store_db db, s_jobs *js, const char *only, char *err) {
    store_iter *it;
    if (store_iter_open_keys(&it, s, db, only, err) != 0) return -1;
    int rc;
    while ((rc = store_iter_next(it, err)) == 1) {
        size_t klen;
        const char *k = store_iter_key(it, &klen), *slash = memchr(k, '/', klen);
        if (db == STORE_DB_RESULTS && slash) continue; /* EMBED's per-document chunk logits */
        size_t jl = (db == STORE_DB_DOCS || db == STORE_DB_EMB) && slash ? (size_t)(slash - k) : klen;
        s_job *j = s_job_get(js, k, jl);
        if (db == STORE_DB_DOCS) j->docs++;
        if (db == STORE_DB_EMB) j->emb++;
        if (db == STORE_DB_JOBS) j->has_record = 1;
        if (db == STORE_DB_RESULTS) j->has_result = 1;
    }
    store_iter_destroy(&it);
    return rc < 0 ? -1 : 0;
}

static int s_stats(store_env *s, const char *job, char *err) {
    store_stats st;
    if (store_get_stats(s, &st, err) != 0) return -1;
    printf("# store %s\n", store_dir(s));
    for (int d = 0; d < STORE_DB_COUNT; d++) printf("entries_%s:%zu\n", store_db_name((store_db)d), st.entries[d]);
    printf("map_size:%zu\nmap_used:%zu\nmap_used_pct:%.1f\npage_size:%u\nreaders:%u/%u\n", st.map_size, st.map_used,
           st.map_size ? 100.0 * st.map_used / st.map_size : 0.0, st.page_size, st.readers_used, st.max_readers);
    s_jobs js = {0};
    if (job) s_job_get(&js, job, strlen(job));
    const store_db dbs[4] = {STORE_DB_JOBS, STORE_DB_RESULTS, STORE_DB_DOCS, STORE_DB_EMB};
    for (int i = 0; i < 4; i++) {
        const char *only = dbs[i] == STORE_DB_DOCS || dbs[i] == STORE_DB_EMB ? job : NULL;
        if (s_scan_jobs(s, dbs[i], &js, only, err) != 0) {
            free(js.v);
            return -1;
        }
    }
    printf("# jobs\n");
    for (int i = 0; i < js.n; i++) {
        const s_job *j = &js.v[i];
        if (job && strcmp(j->id, job) != 0) continue;
        printf("job:%s record:%s result:%s docs:%ld embedded:%ld\n", j->id, j->has_record ? "yes" : "no",
               j->has_result ? "yes" : "no", j->docs, j->emb);
    }
    free(js.v);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* dump and verify share one walk over the databases */

typedef struct {
    int dump, values, verify;
    long checked, problems;
    store_emb e;
    store_doc d;
} s_walk;

static void s_text(const char *v, size_t n) {
    for (size_t i = 0; i < n; i++) putchar(v[i] >= 32 && v[i] < 127 ? v[i] : '.');
}

static void s_problem(s_walk *w, const char *fmt, const char *a, const char *b) {
    w->problems++;
    fprintf(stderr, "hierbert store verify: ");
    fprintf(stderr, fmt, a, b);
    fputc('\n', stderr);
}

static int s_walk_db(store_env *s, store_db db, const char *job, s_walk *w, char *err) {
    store_iter *it;
    /* records are keyed by job id alone: walk all and filter */
    int keyed_by_doc = db == STORE_DB_DOCS || db == STORE_DB_EMB;
    if (store_iter_open(&it, s, db, keyed_by_doc ? job : NULL, err) != 0) return -1;
    int rc;
    char ierr[HB_ERR_LEN];
    while ((rc = store_iter_next(it, err)) == 1) {
        size_t klen, vlen;
        const char *key = store_iter_key(it, &klen);
        const char *val = store_iter_value(it, &vlen);
        if (!keyed_by_doc && job && strcmp(key, job) != 0) continue;
        w->checked++;
        if (w->dump) printf("%s/%s", store_db_name(db), key);
        if (db == STORE_DB_EMB) {
            if (store_iter_emb(it, &w->e, ierr) != 0) {
                if (w->dump) printf("  CORRUPT: %s\n", ierr);
                s_problem(w, "%s%s", ierr, "");
                continue;
            }
            if (w->dump)
                printf("  label:%d split:%d chunks:%u dim:%u dtype:f32 bytes:%zu\n", w->e.label, w->e.split,
                       w->e.n_chunks, w->e.dim, vlen);
            size_t n = (size_t)w->e.n_chunks * w->e.dim, bad = 0;
            for (size_t i = 0; i < n; i++) bad += !isfinite(w->e.data[i]);
            if (bad) {
                char msg[64];
                snprintf(msg, sizeof msg, "%zu non-finite floats", bad);
                s_problem(w, "emb/%s: %s", key, msg);
            }
            if (w->verify) { /* the embedding must describe its ingested document */
                const char *slash = strchr(key, '/');
                char jid[STORE_JOB_ID_MAX + 1];
                snprintf(jid, sizeof jid, "%.*s", (int)(slash - key), key);
                int g = store_doc_get(s, jid, slash + 1, &w->d, ierr);
                if (g == 0 && (w->d.n_chunks != w->e.n_chunks || w->d.label != w->e.label || w->d.split != w->e.split))
                    s_problem(w, "emb/%s: header disagrees with docs/%s (chunks, label or split)", key, key);
            }
            if (w->values)
                for (uint32_t c = 0; c < w->e.n_chunks; c++) {
                    printf("  chunk %u:", c);
                    for (uint32_t j = 0; j < w->e.dim; j++) printf(" %.9g", w->e.data[(size_t)c * w->e.dim + j]);
                    putchar('\n');
                }
        } else if (db == STORE_DB_DOCS) {
            if (store_iter_doc(it, &w->d, ierr) != 0) {
                if (w->dump) printf("  CORRUPT: %s\n", ierr);
                s_problem(w, "%s%s", ierr, "");
                continue;
            }
            if (w->dump)
                printf("  label:%d split:%d chunks:%u tokens:%u\n", w->d.label, w->d.split, w->d.n_chunks,
                       w->d.n_tokens);
            if (w->values)
                for (uint32_t c = 0, o = 0; c < w->d.n_chunks; o += w->d.chunk_len[c], c++) {
                    printf("  chunk %u:", c);
                    for (uint32_t j = 0; j < w->d.chunk_len[c]; j++) printf(" %d", w->d.token_ids[o + j]);
                    putchar('\n');
                }
        } else {
            if (w->dump) {
                printf("  bytes:%zu", vlen);
                if (w->values || db == STORE_DB_META) {
                    printf("  ");
                    s_text(val, vlen);
                }
                putchar('\n');
            }
            if (w->verify && db == STORE_DB_RESULTS) {
                json_error_t je;
                json_t *j = json_loadb(val, vlen, 0, &je);
                if (!j) s_problem(w, "results/%s: not JSON: %s", key, je.text);
                json_decref(j);
            }
        }
    }
    store_iter_destroy(&it);
    return rc < 0 ? -1 : 0;
}

int cli_store(int argc, char **argv) {
    static const struct option opts[] = {
        {"job", required_argument, 0, 'j'}, {"values", no_argument, 0, 'v'}, {"help", no_argument, 0, 'h'}, {0}};
    const char *job = NULL;
    int values = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "j:vh", opts, NULL)) != -1) {
        if (c == 'j')
            job = optarg;
        else if (c == 'v')
            values = 1;
        else if (c == 'h') {
            s_usage(stdout);
            return 0;
        } else {
            s_usage(stderr);
            return 2;
        }
    }
    if (argc - optind != 2) {
        fprintf(stderr, "hierbert store: need an action (stats|dump|verify) and a directory\n");
        s_usage(stderr);
        return 2;
    }
    const char *action = argv[optind], *dir = argv[optind + 1];
    if (strcmp(action, "stats") && strcmp(action, "dump") && strcmp(action, "verify")) {
        fprintf(stderr, "hierbert store: unknown action '%s' (stats, dump or verify)\n", action);
        return 2;
    }
    char err[HB_ERR_LEN] = "";
    char key[STORE_KEY_MAX + 1];
    if (job && store_make_key(key, job, "x", err) != 0) {
        fprintf(stderr, "hierbert store: --job: %s\n", err);
        return 2;
    }
    store_options o = {0};
    o.readonly = 1;
    store_env *s;
    if (store_open(&s, dir, &o, err) != 0) {
        fprintf(stderr, "hierbert store: %s\n", err);
        return 1;
    }
    int rc = 0;
    if (!strcmp(action, "stats")) {
        rc = s_stats(s, job, err);
    } else {
        s_walk w = {0};
        w.dump = !strcmp(action, "dump");
        w.verify = !w.dump;
        w.values = values && w.dump;
        const store_db order[5] = {STORE_DB_META, STORE_DB_JOBS, STORE_DB_RESULTS, STORE_DB_DOCS, STORE_DB_EMB};
        for (int i = 0; i < 5 && rc == 0; i++)
            if (!(job && order[i] == STORE_DB_META)) rc = s_walk_db(s, order[i], job, &w, err);
        store_emb_free(&w.e);
        store_doc_free(&w.d);
        if (rc == 0 && w.verify) {
            printf("verified %ld values in %s: %ld problem%s\n", w.checked, dir, w.problems,
                   w.problems == 1 ? "" : "s");
            if (w.problems) {
                store_close(&s);
                return 1;
            }
        }
    }
    store_close(&s);
    if (rc != 0) {
        fprintf(stderr, "hierbert store: %s\n", err);
        return 1;
    }
    return 0;
}
