/*
 * results.c - DONE: the job's result and its exportable model; the Result
 * and Export requests.
 *
 * At the end of HEAD (best validation epoch's head in hand) the coordinator
 *   - computes on the validation documents: chunk accuracy (argmax of the
 *     chunk classifier's logits stored by EMBED), the mean-chunk-probability
 *     vote baseline, the head's document accuracy, the head's confusion
 *     matrix and per-class precision/recall/F1 (model/metrics.h), the head's
 *     per-epoch loss and accuracy, and the head's prediction for every
 *     validation document;
 *   - stores that JSON as the job's result (store results "JOB");
 *   - writes the classifier directory (model/clfdir.h) into
 *     DATA_DIR/jobs/NNNNNN/model while it still holds the final encoder
 *     (the job's in-memory state is released at DONE). Synthetic jobs have
 *     no vocabulary file: they are not exportable.
 * Export JOB DIR re-writes that directory to DIR on the coordinator's host
 * (clfdir_load then clfdir_write: atomic, and it never replaces a directory
 * that is not empty or an exported model).
 */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <pthread.h>
#include <zmq.h>

#include "clfdir.h"
#include "hb_log.h"
#include "metrics.h"
#include "phases.h"

static void s_softmax(const float *z, int C, float *p) {
    float mx = z[0];
    for (int k = 1; k < C; k++)
        if (z[k] > mx) mx = z[k];
    double s = 0;
    for (int k = 0; k < C; k++) s += (p[k] = expf(z[k] - mx));
    for (int k = 0; k < C; k++) p[k] = (float)(p[k] / s);
}

/* One split's figures (validation or test), the same code for both:
 * documents ids[n] in store key order with labels[n] (-1: unlabelled, only
 * predicted) and the head's probabilities probs[n][C]. The chunk
 * classifier's logits come from the store (results "JOB/DOC", written by
 * EMBED): both lists are in key order, so one merge pass. Returns
 * {"docs", "labelled", "chunks" (of labelled documents), "chunk_accuracy",
 * "doc_accuracy", "vote_accuracy", "metrics", "vote_metrics" (confusion,
 * per-class precision/recall/F1: metrics_to_json), "predictions"}, or NULL
 * (err) on a store error. Accuracies are null without labelled documents. */
static json_t *s_evaluate(coord *c, const char *key, int n, char *const *ids, const int *labels, const float *probs,
                          int C, const char *const *names, char *err) {
    metrics_confusion mh, mv;
    if (metrics_init(&mh, C, err) || metrics_init(&mv, C, err)) return NULL;
    json_t *preds = json_array();
    long labelled = 0;
    for (int i = 0; i < n; i++) {
        const float *p = probs + (size_t)i * C;
        int pred = metrics_argmax(p, C);
        json_t *pp = json_array();
        for (int k = 0; k < C; k++) json_array_append_new(pp, json_real(p[k]));
        json_t *o = json_pack("{s:s, s:s, s:o}", "id", ids[i], "label", names[pred], "probs", pp);
        if (labels[i] >= 0) {
            metrics_add(&mh, labels[i], pred, err);
            json_object_set_new(o, "true_label", json_string(names[labels[i]]));
            labelled++;
        }
        json_array_append_new(preds, o);
    }
    long chunks = 0, chunk_ok = 0;
    store_iter *it = NULL;
    int rc = store_iter_open(&it, c->store, STORE_DB_RESULTS, key, err);
    float *cp = NULL, *z = NULL;
    size_t cap = 0, zcap = 0;
    int vi = 0;
    while (rc == 0 && (rc = store_iter_next(it, err)) == 1) {
        rc = 0;
        const char *doc = store_iter_doc_id(it);
        while (vi < n && strcmp(ids[vi], doc) < 0) vi++;
        if (vi >= n || strcmp(ids[vi], doc)) continue;
        if (labels[vi] < 0) {
            vi++;
            continue;
        }
        size_t len;
        const char *txt = store_iter_value(it, &len);
        json_error_t je;
        json_t *a = json_loadb(txt, len, 0, &je);
        size_t nc = json_array_size(a);
        int bad = nc < 1;
        if (nc * C > zcap) z = hb_realloc(z, (zcap = nc * C) * sizeof(float));
        for (size_t k = 0; k < nc; k++) {
            json_t *row = json_array_get(a, k);
            bad |= json_array_size(row) != (size_t)C;
            for (int q = 0; q < C; q++) {
                json_t *v = json_array_get(row, (size_t)q);
                bad |= !json_is_number(v);
                z[k * C + q] = json_is_number(v) ? (float)json_number_value(v) : 0;
            }
        }
        json_decref(a);
        if (bad) {
            rc = hb_fail(err, "store: results %s/%s: chunk logits not [n_chunks][%d]", key, doc, C);
            break;
        }
        if (nc * C > cap) cp = hb_realloc(cp, (cap = nc * C) * sizeof(float));
        for (size_t k = 0; k < nc; k++) {
            s_softmax(z + k * C, C, cp + k * C);
            chunk_ok += metrics_argmax(z + k * C, C) == labels[vi];
        }
        chunks += (long)nc;
        metrics_add(&mv, labels[vi], metrics_vote_mean(cp, (int)nc, C, NULL), err);
        vi++;
    }
    store_iter_destroy(&it);
    free(cp);
    free(z);
    json_t *o = NULL;
    if (rc == 0) {
        metrics_report rh, rv;
        metrics_compute(&mh, &rh);
        metrics_compute(&mv, &rv);
        o = json_object();
        json_object_set_new(o, "docs", json_integer(n));
        json_object_set_new(o, "labelled", json_integer(labelled));
        json_object_set_new(o, "chunks", json_integer(chunks));
        json_object_set_new(o, "chunk_accuracy", chunks ? json_real((double)chunk_ok / chunks) : json_null());
        json_object_set_new(o, "doc_accuracy", mh.total ? json_real(rh.accuracy) : json_null());
        json_object_set_new(o, "vote_accuracy", mv.total ? json_real(rv.accuracy) : json_null());
        json_object_set_new(o, "metrics", metrics_to_json(&mh, names));
        json_object_set_new(o, "vote_metrics", metrics_to_json(&mv, names));
        json_object_set_new(o, "predictions", json_incref(preds));
        metrics_report_free(&rh);
        metrics_report_free(&rv);
    }
    json_decref(preds);
    metrics_free(&mh);
    metrics_free(&mv);
    return o;
}

/* The test documents (split TEST in the emb database, key order): the
 * head's probabilities, computed here (the head is small: a forward over
 * the stored sequences, read in batches of a few MB). Nothing is chosen on
 * these numbers: HEAD picked its epoch on validation before this runs, and
 * the test figures are only reported. *n = 0 when the job has none. */
#define TEST_BATCH_BYTES ((size_t)4 << 20)
static int s_test_probs(coord *c, const char *key, lstm_model *head, int C, int *n, char ***ids, int **labels,
                        float **probs, char *err) {
    *n = 0;
    *ids = NULL;
    *labels = NULL;
    *probs = NULL;
    store_iter *it = NULL;
    if (store_iter_open(&it, c->store, STORE_DB_EMB, key, err)) return -1;
    const int D = head->cfg.input_dim;
    int cap = 0, nb = 0, cap_b = 0, rc;
    size_t rows = 0, cap_rows = 0;
    float *data = NULL;
    int *lens = NULL;
    const float **x = NULL;
    store_emb e;
    memset(&e, 0, sizeof e);
    for (;;) {
        rc = store_iter_next(it, err);
        if (rc == 1 && store_iter_emb_header(it, &e, err)) rc = -1;
        if (rc == 1 && e.split != STORE_SPLIT_TEST) continue;
        if (rc == 1 && store_iter_emb(it, &e, err)) rc = -1;
        if (rc == 1 && (e.dim != (uint32_t)D || e.label < -1 || e.label >= C || e.n_chunks < 1))
            rc = hb_fail(err, "store: %s/%s: embeddings of dim %u, label %d, %u chunks: not this job's", key,
                         store_iter_doc_id(it), e.dim, e.label, e.n_chunks);
        if (rc < 0) break;
        /* the batch so far goes through the head when full or at the end */
        if (nb && (rc == 0 || (rows + e.n_chunks) * (size_t)D * sizeof(float) > TEST_BATCH_BYTES)) {
            size_t off = 0;
            for (int b = 0; b < nb; b++) {
                x[b] = data + off * (size_t)D;
                off += (size_t)lens[b];
            }
            lstm_batch lb = {.n_docs = nb, .lens = lens, .x = x, .labels = NULL};
            if (lstm_predict(head, &lb, *probs + (size_t)(*n - nb) * C, err)) {
                rc = -1;
                break;
            }
            nb = 0;
            rows = 0;
        }
        if (rc == 0) break;
        if (*n == cap) {
            cap = cap ? 2 * cap : 64;
            *ids = hb_realloc(*ids, (size_t)cap * sizeof(char *));
            *labels = hb_realloc(*labels, (size_t)cap * sizeof(int));
            *probs = hb_realloc(*probs, (size_t)cap * C * sizeof(float));
        }
        if (nb == cap_b) {
            cap_b = cap_b ? 2 * cap_b : 64;
            lens = hb_realloc(lens, (size_t)cap_b * sizeof(int));
            x = hb_realloc(x, (size_t)cap_b * sizeof(float *));
        }
        if (rows + e.n_chunks > cap_rows) {
            while (rows + e.n_chunks > cap_rows) cap_rows = cap_rows ? 2 * cap_rows : 256;
            data = hb_realloc(data, cap_rows * (size_t)D * sizeof(float));
        }
        memcpy(data + rows * (size_t)D, e.data, (size_t)e.n_chunks * D * sizeof(float));
        rows += e.n_chunks;
        lens[nb++] = (int)e.n_chunks;
        (*ids)[*n] = strdup(store_iter_doc_id(it));
        (*labels)[(*n)++] = e.label;
    }
    store_emb_free(&e);
    store_iter_destroy(&it);
    free(data);
    free(lens);
    free(x);
    return rc < 0 ? -1 : 0;
}

int coord_results_finish(coord *c, coord_job *j, const float *head_params, size_t head_numel, char *err) {
    struct coord_head *h = j->head;
    const int C = j->corpus.num_classes;
    char key[32], dir[1100], path[1300];
    snprintf(key, sizeof key, "%llu", (unsigned long long)j->id);
    coord_job_dir(c, j->id, dir, sizeof dir);
    lstm_config lc;
    coord_head_config(j, &lc.input_dim, &lc.units, &lc.dense_units, &lc.n_classes);
    lstm_model *head = NULL;
    if (lstm_new(&head, &lc, j->seed, err)) return -1;
    if (head->params.numel != head_numel) {
        lstm_destroy(&head);
        return hb_fail(err, "HEAD: %zu parameters received, the head has %zu", head_numel, head->params.numel);
    }
    memcpy(head->params.data, head_params, head_numel * sizeof(float));
    snprintf(path, sizeof path, "%s/head.safetensors", dir);
    if (lstm_save(head, path, err)) {
        lstm_destroy(&head);
        return -1;
    }

    /* validation: the head's probabilities of its best epoch (the worker's);
     * test: computed here with that same head */
    const char **names = hb_malloc((size_t)C * sizeof(char *));
    for (int k = 0; k < C; k++) names[k] = labels_name(&j->corpus.labels, k);
    json_t *val = s_evaluate(c, key, h->n_val, h->val_ids, h->val_labels, h->best_probs, C, names, err), *test = NULL;
    int n_test = 0, *test_labels = NULL;
    char **test_ids = NULL;
    float *test_probs = NULL;
    int rc = val ? s_test_probs(c, key, head, C, &n_test, &test_ids, &test_labels, &test_probs, err) : -1;
    if (rc == 0 && n_test) {
        test = s_evaluate(c, key, n_test, test_ids, test_labels, test_probs, C, names, err);
        if (!test) rc = -1;
    }
    for (int i = 0; i < n_test; i++) free(test_ids[i]);
    free(test_ids);
    free(test_labels);
    free(test_probs);
    if (rc < 0) {
        json_decref(val);
        free(names);
        lstm_destroy(&head);
        return -1;
    }
    /* the validation figures stay at the top level (the result's keys before
     * there was a test split); the test figures go under "test" */
    json_t *o = json_object();
    json_object_set_new(o, "job", json_integer((json_int_t)j->id));
    json_object_set_new(o, "name", json_string(j->name));
    json_object_set(o, "val_docs", json_object_get(val, "docs"));
    json_object_set(o, "val_chunks", json_object_get(val, "chunks"));
    static const char *const same[] = {"chunk_accuracy", "doc_accuracy", "vote_accuracy"};
    for (int k = 0; k < 3; k++) json_object_set(o, same[k], json_object_get(val, same[k]));
    json_object_set_new(o, "optim", coord_job_optim_json(j));
    /* the bag-of-words baseline (baseline.c): its own object, and its
     * accuracy beside the others' (a failed fit is reported, not fatal) */
    char berr[HB_ERR_LEN];
    json_t *bl = coord_baseline_result(c, j, berr);
    if (!bl) {
        hb_log(c->who, "warn", "job %llu: no bag-of-words baseline: %s", (unsigned long long)j->id, berr);
        bl = json_pack("{s:s}", "error", berr);
    }
    json_object_set_new(o, "baseline", bl);
    json_t *bval = json_object_get(bl, "val"), *btest = json_object_get(bl, "test");
    json_object_set(o, "baseline_accuracy", bval ? json_object_get(bval, "accuracy") : json_null());
    json_object_set(o, "baseline_metrics", bval ? json_object_get(bval, "metrics") : json_null());
    if (test && btest) {
        json_object_set(test, "baseline_accuracy", json_object_get(btest, "accuracy"));
        json_object_set(test, "baseline_metrics", json_object_get(btest, "metrics"));
    }
    json_object_set_new(o, "best_epoch", json_integer(h->best_epoch + 1));
    json_t *ep = json_array();
    for (int e = 0; e < h->epochs_done; e++)
        json_array_append_new(ep, json_pack("{s:i, s:f, s:o}", "epoch", e + 1, "loss", h->loss[e], "val_doc_accuracy",
                                            h->val_acc[e] >= 0 ? json_real(h->val_acc[e]) : json_null()));
    json_object_set_new(o, "head_epochs", ep);
    json_t *acc = json_array();
    for (int e = 0; j->val_acc && e < j->epochs; e++)
        json_array_append_new(acc, j->val_acc[e] >= 0 ? json_real(j->val_acc[e]) : json_null());
    json_object_set_new(o, "train_val_chunk_accuracy", acc);
    json_object_set(o, "metrics", json_object_get(val, "metrics"));
    json_object_set(o, "vote_metrics", json_object_get(val, "vote_metrics"));
    if (test) json_object_set_new(o, "test", test);
    if (j->embed) {
        const struct coord_embed *e = j->embed;
        double s = (double)((e->t_last_ms ? e->t_last_ms : hb_now_ms()) - e->t0_ms) / 1000.0;
        json_object_set_new(o, "embed",
                            json_pack("{s:I, s:I, s:f, s:f, s:I, s:f}", "chunks", (json_int_t)e->chunks_run,
                                      "docs_skipped", (json_int_t)e->skipped, "seconds", s, "chunks_per_s",
                                      s > 0 ? e->chunks_run / s : 0.0, "commits", (json_int_t)e->commits, "bytes_in",
                                      e->bytes_in));
    }

    /* the exportable directory */
    const Hierbert__Submit *s = j->submit;
    char vocab[PROTO_MAX_STRING + 32] = "", verr[HB_ERR_LEN];
    if (!s->synthetic && coord_submit_vocab(s, dir, vocab, sizeof vocab, verr)) vocab[0] = '\0';
    int exportable = 0;
    if (vocab[0]) {
        clfdir_chunking ch = {.seq_len = j->L,
                              .stride = s->stride ? (int)s->stride : j->L - 2,
                              .max_chunks = (int)s->max_chunks,
                              .policy = CHUNK_KEEP_FIRST, /* or the job's: below */
                              .lowercase = !s->cased};
        char e2[HB_ERR_LEN];
        if (s->chunk_policy[0]) chunk_policy_parse(s->chunk_policy, &ch.policy, NULL); /* checked at Submit */
        snprintf(path, sizeof path, "%s/model", dir);
        if (clfdir_write(path, j->model, head, vocab, NULL, &j->corpus.labels, &ch, e2))
            hb_log(c->who, "warn", "job %llu: the model directory could not be written: %s", (unsigned long long)j->id,
                   e2);
        else
            exportable = 1;
    }
    json_object_set_new(o, "exportable", json_boolean(exportable));
    json_t *ba = json_object_get(o, "baseline_accuracy"), *da = json_object_get(o, "doc_accuracy");
    if (json_is_number(ba) && json_is_number(da) && json_number_value(da) < json_number_value(ba))
        hb_log(c->who, "warn",
               "job %llu: the LSTM head (%.4f) is below the bag-of-words baseline (%.4f) on the validation documents",
               (unsigned long long)j->id, json_number_value(da), json_number_value(ba));
    json_object_set(o, "predictions", json_object_get(val, "predictions"));
    char *text = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(9));
    rc = store_result_put(c->store, key, text, err);
    for (int t = 0; t < 2; t++) {
        json_t *x = t ? test : val;
        if (!x) continue;
        hb_log(c->who, "info",
               "job %llu: %s: chunk accuracy %.4f, document accuracy %.4f, vote %.4f, baseline %.4f (%lld documents, "
               "%lld labelled)",
               (unsigned long long)j->id, t ? "test" : "validation",
               json_number_value(json_object_get(x, "chunk_accuracy")),
               json_number_value(json_object_get(x, "doc_accuracy")),
               json_number_value(json_object_get(x, "vote_accuracy")),
               json_number_value(json_object_get(t ? x : o, "baseline_accuracy")),
               (long long)json_integer_value(json_object_get(x, "docs")),
               (long long)json_integer_value(json_object_get(x, "labelled")));
    }
    json_decref(o);
    json_decref(val);
    free(text);
    free(names);
    lstm_destroy(&head);
    return rc;
}

/* ------------------------------------------------------------------------ */

char *coord_result_json(coord *c, coord_job *j, char *err) {
    char key[32], *stored = NULL;
    snprintf(key, sizeof key, "%llu", (unsigned long long)j->id);
    int rc = j->state == JOB_DONE ? store_result_get(c->store, key, &stored, err) : 1;
    if (rc < 0) return NULL;
    json_error_t je;
    json_t *o = rc == 0 ? json_loads(stored, 0, &je) : NULL;
    free(stored);
    if (!o) {
        o = json_object();
        json_object_set_new(o, "job", json_integer((json_int_t)j->id));
        json_object_set_new(o, "name", json_string(j->name));
    }
    json_object_set_new(o, "state", json_string(job_state_name(j->state)));
    if (j->error[0]) json_object_set_new(o, "error", json_string(j->error));
    char *text = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(9));
    json_decref(o);
    return text;
}

void coord_on_result(coord *c, const coord_peer *p, const proto_msg *m) {
    coord_job *j = coord_job_find(c, m->job_id);
    if (!j) {
        coord_reply_error(c, p, m->job_id, PROTO_E_UNKNOWN_JOB, "Result: unknown job %llu",
                          (unsigned long long)m->job_id);
        return;
    }
    char err[HB_ERR_LEN];
    char *text = coord_result_json(c, j, err);
    if (!text) {
        coord_reply_error(c, p, j->id, PROTO_E_INTERNAL, "Result: %s", err);
        return;
    }
    proto_msg r;
    proto_env_init(&r, j->id);
    Hierbert__ResultReply rr = HIERBERT__RESULT_REPLY__INIT;
    rr.json = text;
    r.body_case = HIERBERT__ENVELOPE__BODY_RESULT_REPLY;
    r.result_reply = &rr;
    coord_reply(c, p, &r);
    free(text);
}

/* the export thread: load the job's classifier directory, write it to dst
 * (clfdir_write: a temporary directory renamed into place), tell the loop */
static void *s_export_main(void *arg) {
    coord_export *x = arg;
    clfdir *d = NULL;
    /* reads the job's directory, writes only beneath the export root */
    x->rc = coord_confine_thread(x->confine, COORD_CONFINE_EXPORT, NULL, x->err) ||
            clfdir_load(&d, x->src, 1, x->err) ||
            clfdir_write(x->dst, d->bert, d->head, x->vocab, NULL, &d->labels, &d->chunking, x->err);
    clfdir_destroy(&d);
    void *push = zmq_socket(x->zctx, ZMQ_PUSH);
    zmq_connect(push, x->ep);
    coord_bg_done msg = {.kind = COORD_BG_EXPORT, .export = x};
    zmq_send(push, &msg, sizeof msg, 0);
    zmq_close(push);
    return NULL;
}

void coord_on_export(coord *c, const coord_peer *p, const proto_msg *m) {
    coord_job *j = coord_job_find(c, m->job_id);
    if (!j) {
        coord_reply_error(c, p, m->job_id, PROTO_E_UNKNOWN_JOB, "Export: unknown job %llu",
                          (unsigned long long)m->job_id);
        return;
    }
    if (j->state != JOB_DONE) {
        coord_reply_error(c, p, j->id, PROTO_E_STATE, "Export: job %llu is %s, not DONE", (unsigned long long)j->id,
                          job_state_name(j->state));
        return;
    }
    if (m->export->dir[0] != '/') {
        coord_reply_error(c, p, j->id, PROTO_E_BAD_REQUEST, "Export: '%s' is not an absolute path", m->export->dir);
        return;
    }
    char err[HB_ERR_LEN];
    if (coord_confine_write_ok(&c->confine, "export", m->export->dir, err)) {
        hb_log(c->who, "warn", "Export refused: %s", err);
        coord_reply_error(c, p, j->id, PROTO_E_BAD_REQUEST, "Export: %s", err);
        return;
    }
    char dir[1100], src[1200], vocab[1300];
    coord_job_dir(c, j->id, dir, sizeof dir);
    snprintf(src, sizeof src, "%s/model", dir);
    snprintf(vocab, sizeof vocab, "%s/vocab.txt", src);
    struct stat st;
    if (stat(src, &st)) {
        coord_reply_error(c, p, j->id, PROTO_E_STATE,
                          "Export: job %llu has no model directory (synthetic jobs have no vocabulary to export)",
                          (unsigned long long)j->id);
        return;
    }
    /* reading and writing a model is seconds of I/O for a big one: on a
     * thread of its own, so heartbeats and rounds go on; the loop answers
     * when it is done (coord_on_export_done) */
    coord_export *x = hb_calloc(1, sizeof *x);
    x->peer = *p;
    x->job = j->id;
    snprintf(x->src, sizeof x->src, "%s", src);
    snprintf(x->vocab, sizeof x->vocab, "%s", vocab);
    snprintf(x->dst, sizeof x->dst, "%s", m->export->dir);
    snprintf(x->ep, sizeof x->ep, "%s", c->ingest_ep);
    x->zctx = c->zctx;
    x->confine = &c->confine;
    if (pthread_create(&x->tid, NULL, s_export_main, x) != 0) {
        free(x);
        coord_reply_error(c, p, j->id, PROTO_E_INTERNAL, "Export: cannot start a thread");
        return;
    }
    x->next = c->exports;
    c->exports = x;
}

void coord_on_export_done(coord *c, coord_export *x) {
    coord_export **pp = &c->exports;
    while (*pp && *pp != x) pp = &(*pp)->next;
    if (!*pp) return; /* not ours */
    *pp = x->next;
    pthread_join(x->tid, NULL);
    if (x->rc) {
        coord_reply_error(c, &x->peer, x->job, PROTO_E_BAD_REQUEST, "Export: %s", x->err);
    } else {
        hb_log(c->who, "info", "job %llu: exported to %s", (unsigned long long)x->job, x->dst);
        proto_msg r;
        proto_env_init(&r, x->job);
        Hierbert__ExportReply er = HIERBERT__EXPORT_REPLY__INIT;
        er.dir = x->dst;
        r.body_case = HIERBERT__ENVELOPE__BODY_EXPORT_REPLY;
        r.export_reply = &er;
        coord_reply(c, &x->peer, &r);
    }
    free(x);
}

void coord_exports_join(coord *c) {
    while (c->exports) {
        coord_export *x = c->exports;
        c->exports = x->next;
        pthread_join(x->tid, NULL); /* its done-message is dropped with the socket */
        free(x);
    }
}
