/*
 * baseline.c - the bag-of-words baseline in every result (issue 13): a
 * TF-IDF + linear SVM model (model/baseline.h) fitted on the job's
 * training documents as ingested - the stored WordPiece ids of every
 * chunk, [CLS]/[SEP] left out, chunk after chunk (with --stride overlap or
 * --max-chunks the tokens the encoder sees, no more) - and scored on the
 * validation and test documents.
 *
 * It runs on a thread of its own, started when EMBED starts (it needs only
 * the ingested documents): seconds for 20,000 documents against the
 * minutes of EMBED and HEAD, so by DONE it has long finished and
 * coord_baseline_result's join does not wait; only a job whose EMBED and
 * HEAD take less time than the fit (tiny test jobs: milliseconds) waits
 * there. A coordinator restarted before DONE fits it again at EMBED. The
 * thread reads the store through its own iterators (store.h: one
 * store_env serves threads) and touches nothing else of the job.
 */
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "baseline.h"
#include "hb_log.h"
#include "metrics.h"
#include "phases.h"

struct coord_baseline {
    pthread_t tid;
    int running;     /* a thread to join (the loop's own flag) */
    atomic_int stop; /* the job went away: give up */
    store_env *store;
    char key[32];
    int C;
    char **names;
    json_t *result; /* the thread's, read after the join */
    char err[HB_ERR_LEN];
    int rc;
};

/* the document's content tokens: each chunk without its [CLS] and [SEP] */
static size_t s_content(const store_doc *d, int32_t **buf, size_t *cap) {
    if (d->n_tokens > *cap) {
        *cap = d->n_tokens;
        *buf = hb_realloc(*buf, *cap * sizeof(int32_t));
    }
    size_t n = 0, off = 0;
    for (uint32_t k = 0; k < d->n_chunks; k++) {
        uint32_t len = d->chunk_len[k];
        for (uint32_t i = 1; i + 1 < len; i++) (*buf)[n++] = d->token_ids[off + i];
        off += len;
    }
    return n;
}

/* pass 1: fit on the training documents; pass 2: score the others */
static int s_run(struct coord_baseline *x, json_t **out, char *err) {
    baseline *b = baseline_new(x->C);
    metrics_confusion m[2];
    if (metrics_init(&m[0], x->C, err) || metrics_init(&m[1], x->C, err)) {
        baseline_destroy(&b);
        return -1;
    }
    store_doc d;
    memset(&d, 0, sizeof d);
    int32_t *ids = NULL;
    size_t cap = 0;
    long long t0 = hb_now_ms();
    int rc = 0;
    for (int pass = 0; pass < 2 && rc == 0; pass++) {
        store_iter *it = NULL;
        if (store_iter_open(&it, x->store, STORE_DB_DOCS, x->key, err)) {
            rc = -1;
            break;
        }
        while ((rc = store_iter_next(it, err)) == 1) {
            rc = 0;
            if (atomic_load(&x->stop)) {
                rc = hb_fail(err, "stopped");
                break;
            }
            if (store_iter_doc(it, &d, err)) {
                rc = -1;
                break;
            }
            int train = d.split == STORE_SPLIT_TRAIN;
            if (pass == 0 && train) {
                size_t n = s_content(&d, &ids, &cap);
                if ((rc = baseline_add(b, ids, n, d.label, err))) break;
            } else if (pass == 1 && !train && d.label >= 0) {
                int p = baseline_predict(b, ids, s_content(&d, &ids, &cap));
                if ((rc = metrics_add(&m[d.split == STORE_SPLIT_TEST], d.label, p, err))) break;
            }
        }
        store_iter_destroy(&it);
        if (rc == 0 && pass == 0) rc = baseline_fit(b, err);
    }
    if (rc == 0) {
        json_t *o = json_object();
        json_object_set_new(o, "method",
                            json_string("TF-IDF (sublinear tf) of WordPiece unigrams and bigrams, "
                                        "liblinear L2-loss linear SVM (C=1)"));
        json_object_set_new(o, "train_docs", json_integer((json_int_t)baseline_n_train(b)));
        json_object_set_new(o, "terms", json_integer((json_int_t)baseline_n_terms(b)));
        json_object_set_new(o, "seconds", json_real((double)(hb_now_ms() - t0) / 1000.0));
        for (int s = 0; s < 2; s++) {
            metrics_report r;
            metrics_compute(&m[s], &r);
            json_t *e = json_object();
            json_object_set_new(e, "docs", json_integer(m[s].total));
            json_object_set_new(e, "accuracy", m[s].total ? json_real(r.accuracy) : json_null());
            json_object_set_new(e, "metrics", metrics_to_json(&m[s], (const char *const *)x->names));
            json_object_set_new(o, s ? "test" : "val", e);
            metrics_report_free(&r);
        }
        *out = o;
    }
    store_doc_free(&d);
    free(ids);
    metrics_free(&m[0]);
    metrics_free(&m[1]);
    baseline_destroy(&b);
    return rc;
}

static void *s_main(void *arg) {
    struct coord_baseline *x = arg;
    x->rc = s_run(x, &x->result, x->err);
    return NULL;
}

void coord_baseline_start(coord *c, coord_job *j) {
    if (j->baseline) return;
    struct coord_baseline *x = hb_calloc(1, sizeof *x);
    x->store = c->store;
    snprintf(x->key, sizeof x->key, "%llu", (unsigned long long)j->id);
    x->C = j->corpus.num_classes;
    x->names = hb_calloc((size_t)x->C, sizeof(char *));
    for (int k = 0; k < x->C; k++) x->names[k] = strdup(labels_name(&j->corpus.labels, k));
    atomic_init(&x->stop, 0);
    if (pthread_create(&x->tid, NULL, s_main, x) == 0)
        x->running = 1;
    else /* no thread: the result says so; the job goes on */
        x->rc = hb_fail(x->err, "cannot start a thread");
    j->baseline = x;
}

static void s_join(struct coord_baseline *x) {
    if (x->running) pthread_join(x->tid, NULL);
    x->running = 0;
}

void *coord_baseline_result(coord *c, coord_job *j, char *err) {
    coord_baseline_start(c, j); /* not started yet (a job that skipped EMBED's ticks): now, and wait for it */
    struct coord_baseline *x = j->baseline;
    s_join(x);
    if (x->rc) {
        snprintf(err, HB_ERR_LEN, "%s", x->err);
        return NULL;
    }
    return json_incref(x->result);
}

void coord_baseline_release(coord_job *j) {
    struct coord_baseline *x = j->baseline;
    if (!x) return;
    atomic_store(&x->stop, 1);
    s_join(x);
    json_decref(x->result);
    for (int k = 0; k < x->C; k++) free(x->names[k]);
    free(x->names);
    free(x);
    j->baseline = NULL;
}
