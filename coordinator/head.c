/*
 * head.c - HEAD: one worker trains the LSTM head over the documents'
 * chunk-vector sequences (DESIGN.md, step 3).
 *
 * The coordinator streams the job's embeddings from the store ONCE (HeadBatch
 * messages of a few MB, training documents, then validation documents, the
 * last one flagged) and the worker keeps them in memory for all the epochs.
 * Why not once per epoch: the head is tiny (LSTM(100)) and an epoch takes
 * milliseconds to seconds, while the sequences are the biggest thing it
 * touches (documents x chunks x hidden floats, ~1 KiB per chunk for mini);
 * re-sending them every epoch would make the wire the cost of HEAD, and the
 * worker must hold a whole batch anyway. The store is read once, in key
 * order, with short read transactions (store_iter).
 *
 * After each epoch the worker reports a HeadResult (training loss,
 * validation probabilities, the head's parameters); the coordinator records
 * loss and validation document accuracy (status) and keeps the parameters
 * of the best validation epoch (the earliest on ties; the last one when
 * there is no validation set). A lost head worker: HEAD starts again on
 * another one. The last epoch's result moves the job to DONE (results.c).
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hb_log.h"
#include "lstm.h"
#include "phases.h"

#define HEAD_BATCH_BYTES ((size_t)4 << 20) /* a HeadBatch's floats */
#define HEAD_DEFAULT_EPOCHS 20             /* tests/reference/pipeline_ref.py RECIPE */
#define HEAD_DEFAULT_BATCH 32

void coord_head_config(const coord_job *j, int *input_dim, int *units, int *dense, int *classes) {
    *input_dim = j->cfg.hidden_size;
    *units = 100;
    *dense = 30;
    *classes = j->corpus.num_classes;
}

/* floats of the head's flat buffer (views are aligned: ask the library) */
static size_t s_head_numel(const coord_job *j) {
    lstm_config lc;
    coord_head_config(j, &lc.input_dim, &lc.units, &lc.dense_units, &lc.n_classes);
    lstm_model *m = NULL;
    char err[HB_ERR_LEN];
    if (lstm_new(&m, &lc, 0, err)) return 0;
    size_t n = m->params.numel;
    lstm_destroy(&m);
    return n;
}

/* a HeadBatch being filled */
typedef struct {
    int n, cap;
    int32_t *lens, *labels;
    float *data;
    size_t rows, cap_rows;
} s_buf;

static void s_buf_add(s_buf *b, const store_emb *e) {
    if (b->n == b->cap) {
        b->cap = b->cap ? 2 * b->cap : 64;
        b->lens = hb_realloc(b->lens, (size_t)b->cap * sizeof(int32_t));
        b->labels = hb_realloc(b->labels, (size_t)b->cap * sizeof(int32_t));
    }
    if (b->rows + e->n_chunks > b->cap_rows) {
        while (b->rows + e->n_chunks > b->cap_rows) b->cap_rows = b->cap_rows ? 2 * b->cap_rows : 256;
        b->data = hb_realloc(b->data, b->cap_rows * e->dim * sizeof(float));
    }
    b->lens[b->n] = (int32_t)e->n_chunks;
    b->labels[b->n] = e->label;
    b->n++;
    memcpy(b->data + b->rows * e->dim, e->data, (size_t)e->n_chunks * e->dim * sizeof(float));
    b->rows += e->n_chunks;
}

static int s_buf_send(coord *c, coord_job *j, s_buf *b, int eval, int last) {
    struct coord_head *h = j->head;
    int dim = j->cfg.hidden_size;
    proto_msg m;
    proto_env_init(&m, j->id);
    Hierbert__HeadBatch hb = HIERBERT__HEAD_BATCH__INIT;
    hb.task_id = h->task;
    hb.n_docs = (uint32_t)b->n;
    hb.dim = (uint32_t)dim;
    hb.lengths = proto_bytes(b->lens, (size_t)b->n * sizeof(int32_t));
    hb.labels = proto_bytes(b->labels, (size_t)b->n * sizeof(int32_t));
    hb.data = proto_bytes(b->data, b->rows * (size_t)dim * sizeof(float));
    hb.eval = eval;
    hb.last = last;
    hb.epochs = (uint32_t)h->epochs;
    hb.batch = (uint32_t)h->batch;
    hb.num_classes = (uint32_t)j->corpus.num_classes;
    hb.seed = j->seed;
    m.body_case = HIERBERT__ENVELOPE__BODY_HEAD_BATCH;
    m.head_batch = &hb;
    int rc = coord_send_worker(c, h->worker, &m);
    b->n = 0;
    b->rows = 0;
    return rc;
}

static void s_buf_free(s_buf *b) {
    free(b->lens);
    free(b->labels);
    free(b->data);
}

/* picks a worker and streams the embeddings to it; -1 on a store error (err) */
static int s_start(coord *c, coord_job *j, char *err) {
    struct coord_head *h = j->head;
    int w = -1;
    double best = -1;
    for (int i = 0; i < COORD_MAX_WORKERS; i++) /* the fastest live worker */
        if (c->workers[i].in_use && c->workers[i].rate > best) {
            best = c->workers[i].rate;
            w = i;
        }
    if (w < 0) return 0; /* none yet: the next tick tries again */
    for (int i = 0; i < h->n_val; i++) free(h->val_ids[i]);
    h->n_val = h->n_train = h->n_val_chunks = 0;
    h->epochs_done = 0;
    h->best_epoch = -1;
    h->worker = w;
    h->worker_joined = c->workers[w].joined;
    h->task++;
    h->t0_ms = hb_now_ms();
    char key[32];
    snprintf(key, sizeof key, "%llu", (unsigned long long)j->id);
    store_iter *it = NULL;
    if (store_iter_open(&it, c->store, STORE_DB_EMB, key, err)) return -1;
    store_emb e;
    memset(&e, 0, sizeof e);
    s_buf tr, va;
    memset(&tr, 0, sizeof tr);
    memset(&va, 0, sizeof va);
    size_t cap_val = (size_t)j->corpus.val.n_docs + 1;
    h->val_ids = hb_realloc(h->val_ids, cap_val * sizeof(char *));
    h->val_labels = hb_realloc(h->val_labels, cap_val * sizeof(int));
    int rc, sent = 0, dim = j->cfg.hidden_size;
    while ((rc = store_iter_next(it, err)) == 1) {
        if (store_iter_emb_header(it, &e, err)) {
            rc = -1;
            break;
        }
        if (e.split == STORE_SPLIT_TEST) continue; /* never HEAD's: results.c scores them at DONE */
        if (store_iter_emb(it, &e, err)) {
            rc = -1;
            break;
        }
        if (e.dim != (uint32_t)dim || e.label < 0 || e.label >= j->corpus.num_classes) {
            rc = hb_fail(err, "store: %s/%s: embeddings of dim %u, label %d: not this job's", key,
                         store_iter_doc_id(it), e.dim, e.label);
            break;
        }
        if (e.split == STORE_SPLIT_VAL) {
            if ((size_t)h->n_val + 1 >= cap_val) {
                cap_val *= 2;
                h->val_ids = hb_realloc(h->val_ids, cap_val * sizeof(char *));
                h->val_labels = hb_realloc(h->val_labels, cap_val * sizeof(int));
            }
            h->val_ids[h->n_val] = strdup(store_iter_doc_id(it));
            h->val_labels[h->n_val++] = e.label;
            h->n_val_chunks += (int)e.n_chunks;
            s_buf_add(&va, &e);
        } else if (e.split == STORE_SPLIT_TRAIN) {
            /* flushed before adding, so the last training batch is never empty */
            if (tr.rows * (size_t)dim * sizeof(float) >= HEAD_BATCH_BYTES) sent |= s_buf_send(c, j, &tr, 0, 0);
            s_buf_add(&tr, &e);
            h->n_train++;
        }
    }
    store_emb_free(&e);
    store_iter_destroy(&it);
    if (rc == 0 && h->n_train == 0) rc = hb_fail(err, "HEAD: no training documents in the store");
    if (rc == 0) {
        if (va.n) {
            sent |= s_buf_send(c, j, &tr, 0, 0);
            sent |= s_buf_send(c, j, &va, 1, 1);
        } else {
            sent |= s_buf_send(c, j, &tr, 0, 1);
        }
    }
    s_buf_free(&tr);
    s_buf_free(&va);
    if (rc) return -1;
    if (sent) return 0; /* the worker went away meanwhile: lost-worker handling restarts HEAD */
    h->running = 1;
    c->workers[w].task = 0;
    hb_log(c->who, "info", "job %llu: HEAD on %s: %d training, %d validation documents, %d epochs, batch %d",
           (unsigned long long)j->id, c->workers[w].id, h->n_train, h->n_val, h->epochs, h->batch);
    return 0;
}

void coord_head_tick(coord *c, coord_job *j) {
    char err[HB_ERR_LEN];
    if (!j->head) {
        struct coord_head *h = hb_calloc(1, sizeof *h);
        j->head = h;
        h->epochs = j->submit->head_epochs ? (int)j->submit->head_epochs : HEAD_DEFAULT_EPOCHS;
        h->batch = j->submit->head_batch ? (int)j->submit->head_batch : HEAD_DEFAULT_BATCH;
        h->loss = hb_calloc((size_t)h->epochs, sizeof(double));
        h->val_acc = hb_calloc((size_t)h->epochs, sizeof(double));
        h->numel = s_head_numel(j);
        h->best_params = hb_malloc(h->numel * sizeof(float));
        h->best_epoch = -1;
    }
    if (j->head->running) return;
    if (s_start(c, j, err)) coord_job_set_state(c, j, JOB_FAILED, err);
}

void coord_on_head_result(coord *c, int w, const proto_msg *m) {
    if (c->active < 0) return;
    coord_job *j = c->jobs[c->active];
    struct coord_head *h = j->head;
    const Hierbert__HeadResult *r = m->head_result;
    if (j->state != JOB_HEAD || !h || !h->running || m->job_id != j->id || w != h->worker || r->task_id != h->task ||
        (int)r->epoch != h->epochs_done) {
        hb_log(c->who, "info", "ignoring a stale HeadResult (job %llu, task %u, epoch %u)",
               (unsigned long long)m->job_id, r->task_id, r->epoch);
        return;
    }
    const int C = j->corpus.num_classes;
    if ((int)r->n_docs != h->n_val || r->params.len != h->numel * sizeof(float) ||
        r->probs.len != (size_t)h->n_val * C * sizeof(float) || (int)r->n_train != h->n_train) {
        char why[HB_ERR_LEN];
        snprintf(why, sizeof why, "HeadResult from %s: %u validation documents (%d sent), %zu parameter bytes (%zu)",
                 c->workers[w].id, r->n_docs, h->n_val, r->params.len, h->numel * sizeof(float));
        coord_job_set_state(c, j, JOB_FAILED, why);
        return;
    }
    int e = h->epochs_done;
    h->loss[e] = r->n_train ? r->loss_sum / r->n_train : 0;
    h->val_acc[e] = h->n_val ? (double)r->n_correct / h->n_val : -1;
    if (h->best_epoch < 0 || (h->n_val ? h->val_acc[e] > h->val_acc[h->best_epoch] : 1)) {
        h->best_epoch = e;
        memcpy(h->best_params, r->params.data, r->params.len);
        free(h->best_probs);
        h->best_probs = hb_malloc(r->probs.len + 1);
        memcpy(h->best_probs, r->probs.data, r->probs.len);
    }
    h->epochs_done++;
    hb_log(c->who, "info", "job %llu: head epoch %d/%d: loss %.4f, validation document accuracy %.4f%s",
           (unsigned long long)j->id, e + 1, h->epochs, h->loss[e], h->val_acc[e], h->best_epoch == e ? " (best)" : "");
    coord_publish_job(c, j, "head_epoch");
    if (!r->final && h->epochs_done < h->epochs) return;
    h->running = 0;
    c->workers[w].task = -1;
    c->workers[w].tasks_done++;
    char err[HB_ERR_LEN];
    if (coord_results_finish(c, j, h->best_params, h->numel, err))
        coord_job_set_state(c, j, JOB_FAILED, err);
    else
        coord_job_set_state(c, j, JOB_DONE, NULL);
}

/* "embed" and "head" objects of the status document */
void coord_phases_json(const coord_job *j, void *obj) {
    json_t *o = obj;
    const struct coord_embed *e = j->embed;
    if (e) {
        json_t *x = json_object();
        long long end = e->t_last_ms ? e->t_last_ms : hb_now_ms();
        double s = (double)(end - e->t0_ms) / 1000.0;
        json_object_set_new(x, "docs_total", json_integer((json_int_t)e->n));
        json_object_set_new(x, "docs_stored", json_integer((json_int_t)e->stored));
        json_object_set_new(x, "docs_skipped", json_integer((json_int_t)e->skipped));
        json_object_set_new(x, "chunks_total", json_integer((json_int_t)e->chunks_total));
        json_object_set_new(x, "chunks_stored", json_integer((json_int_t)e->chunks_stored));
        json_object_set_new(x, "chunks_per_s", json_real(s > 0 ? e->chunks_run / s : 0));
        json_object_set_new(x, "seconds", json_real(s));
        json_object_set_new(x, "commits", json_integer(e->commits));
        json_object_set_new(x, "bytes_in", json_real(e->bytes_in));
        json_object_set_new(o, "embed", x);
        if (j->state == JOB_EMBED) {
            json_object_set_new(o, "chunks_done", json_integer((json_int_t)e->chunks_stored));
            json_object_set_new(o, "chunks_total", json_integer((json_int_t)e->chunks_total));
            json_object_set_new(o, "samples_per_s", json_real(s > 0 ? e->chunks_run / s : 0));
            double rate = s > 0 ? e->chunks_run / s : 0;
            json_object_set_new(o, "eta_s",
                                json_real(rate > 0 ? (double)(e->chunks_total - e->chunks_stored) / rate : -1));
        }
    }
    const struct coord_head *h = j->head;
    if (h) {
        json_t *x = json_object();
        json_object_set_new(x, "epoch", json_integer(h->epochs_done));
        json_object_set_new(x, "epochs", json_integer(h->epochs));
        json_t *l = json_array(), *a = json_array();
        for (int e2 = 0; e2 < h->epochs_done; e2++) {
            json_array_append_new(l, json_real(h->loss[e2]));
            json_array_append_new(a, h->val_acc[e2] >= 0 ? json_real(h->val_acc[e2]) : json_null());
        }
        json_object_set_new(x, "loss", l);
        json_object_set_new(x, "val_doc_accuracy", a);
        json_object_set_new(x, "best_epoch", json_integer(h->best_epoch + 1));
        json_object_set_new(o, "head", x);
        if (j->state == JOB_HEAD && h->epochs_done > 0) {
            json_object_set_new(o, "loss", json_real(h->loss[h->epochs_done - 1]));
            json_object_set_new(o, "epoch", json_integer(h->epochs_done));
            json_object_set_new(o, "epochs", json_integer(h->epochs));
        }
    }
}
