/*
 * embed.c - EMBED: every document's final-layer [CLS] vectors into the
 * store (DESIGN.md, step 2).
 *
 * Documents (training, then validation, then test) are handed out in tasks of whole
 * documents to every live worker - the fixed groups of s_start, so a
 * vector's bits do not depend on who computes it or when (the worker's
 * batches run across the group's documents) - two tasks in flight per worker so its
 * compute never waits for the wire. The worker sends one DocEmbeddings per
 * document (vectors and the chunk classifier's logits). The coordinator puts
 * each into a store_writer - the vectors under emb "job/doc" (label and
 * split in the header, chunk order kept), the logits under results
 * "job/doc" (JSON [[C numbers] per chunk]: chunk accuracy and the vote baseline at
 * DONE) in the same transaction - and commits in batches (64 documents or
 * 100 ms, whichever first). A document counts as done ("acknowledged") only
 * when its commit returned 0.
 *
 * Exactly once: a document is accepted only from the task it is assigned
 * to (EMB_ASSIGNED in that task), so a late or repeated message (a worker
 * that was dropped and came back, a reassigned task) is ignored. A lost
 * worker's documents not yet received go back to EMB_PENDING and are handed
 * out again; those received are committed as usual. On (re)start the
 * documents already in the store are skipped (store_emb_exists): a
 * coordinator killed mid-EMBED resumes with what its commits made durable.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "hb_log.h"
#include "phases.h"

#define EMB_INFLIGHT 2     /* tasks per worker */
#define EMB_COMMIT_DOCS 64 /* a commit after this many documents... */
#define EMB_COMMIT_MS 100  /* ...or this long after the first uncommitted one */

/* EMBED index i -> its split and index there: train, then val, then test */
static void s_doc(const coord_job *j, size_t i, const coord_split **sp, size_t *di) {
    const coord_split *order[3] = {&j->corpus.train, &j->corpus.val, &j->corpus.test};
    int k = 0;
    while (k < 2 && i >= order[k]->n_docs) i -= order[k++]->n_docs;
    *sp = order[k];
    *di = i;
}

static void s_key(const coord_job *j, char *out, size_t n) {
    snprintf(out, n, "%llu", (unsigned long long)j->id);
}

static int s_start(coord *c, coord_job *j, char *err) {
    struct coord_embed *e = hb_calloc(1, sizeof *e);
    j->embed = e;
    e->n = j->corpus.train.n_docs + j->corpus.val.n_docs + j->corpus.test.n_docs;
    e->state = hb_calloc(e->n + 1, 1);
    e->task_of = hb_calloc(e->n + 1, sizeof(uint32_t));
    e->batch = j->G > 0 ? j->G : 32;
    e->t0_ms = hb_now_ms();
    char key[32];
    s_key(j, key, sizeof key);
    for (size_t i = 0; i < e->n; i++) {
        const coord_split *sp;
        size_t di;
        s_doc(j, i, &sp, &di);
        e->chunks_total += sp->doc_count[di];
        int rc = store_emb_exists(c->store, key, sp->doc_ids[di], err);
        if (rc < 0) return -1;
        if (rc == 1) {
            e->state[i] = EMB_STORED;
            e->stored++;
            e->skipped++;
            e->chunks_stored += sp->doc_count[di];
        }
    }
    /* the groups: whole documents up to 8 batches of chunks (at least one document) */
    e->group_of = hb_malloc((e->n + 1) * sizeof(uint32_t));
    e->gstart = hb_malloc((e->n + 2) * sizeof(uint32_t));
    size_t want = (size_t)8 * (size_t)e->batch, in = 0;
    for (size_t i = 0; i < e->n; i++) {
        const coord_split *sp;
        size_t di;
        s_doc(j, i, &sp, &di);
        if (i == 0 || (in && in + sp->doc_count[di] > want)) {
            e->gstart[e->n_groups++] = (uint32_t)i;
            in = 0;
        }
        e->group_of[i] = e->n_groups - 1;
        in += sp->doc_count[di];
    }
    e->gstart[e->n_groups] = (uint32_t)e->n;
    e->w = store_writer_new(c->store, (size_t)1 << 30); /* commits are ours (s_commit) */
    hb_log(c->who, "info", "job %llu: EMBED %zu documents (%zu chunks), %zu already stored, batch %d",
           (unsigned long long)j->id, e->n, e->chunks_total, e->skipped, e->batch);
    return 0;
}

static void s_commit(coord *c, coord_job *j) {
    struct coord_embed *e = j->embed;
    if (!e->n_unc) return;
    if (e->commit_fails && hb_now_ms() < e->retry_at_ms) return;
    char err[HB_ERR_LEN];
    if (store_writer_commit(e->w, err)) {
        /* kept pending in the writer and retried: 0.1 s, doubling up to 30 s
         * (a full disk must not flood the log with a line every tick) */
        long long wait = EMB_COMMIT_MS << (e->commit_fails < 9 ? e->commit_fails : 9);
        if (wait > 30000) wait = 30000;
        e->commit_fails++;
        e->retry_at_ms = hb_now_ms() + wait;
        hb_log(c->who, "error", "job %llu: EMBED commit of %zu documents failed (%d in a row): %s; retrying in %.1f s",
               (unsigned long long)j->id, e->n_unc, e->commit_fails, err, (double)wait / 1000.0);
        return;
    }
    if (e->commit_fails)
        hb_log(c->who, "info", "job %llu: EMBED commit succeeded after %d failed attempts", (unsigned long long)j->id,
               e->commit_fails);
    e->commit_fails = 0;
    e->commits++;
    for (size_t k = 0; k < e->n_unc; k++) {
        uint32_t i = e->unc[k];
        const coord_split *sp;
        size_t di;
        s_doc(j, i, &sp, &di);
        e->state[i] = EMB_STORED;
        e->stored++;
        e->chunks_stored += sp->doc_count[di];
        coord_embed_task *t = &e->tasks[e->task_of[i]];
        if (--t->left == 0 && t->worker >= 0) {
            e->inflight[t->worker]--;
            c->workers[t->worker].tasks_done++;
            if (c->workers[t->worker].task >= 0) c->workers[t->worker].task = -1;
        }
    }
    e->n_unc = 0;
}

/* the next task for worker w from the pending documents; 0 sent, 1 none left, -1 send failed */
static int s_send_task(coord *c, coord_job *j, int w) {
    struct coord_embed *e = j->embed;
    while (e->scan < e->n && e->state[e->scan] != EMB_PENDING) e->scan++;
    if (e->scan >= e->n) return 1;
    if (e->n_tasks == e->cap_tasks) {
        e->cap_tasks = e->cap_tasks ? 2 * e->cap_tasks : 64;
        e->tasks = hb_realloc(e->tasks, e->cap_tasks * sizeof *e->tasks);
    }
    uint32_t ti = e->n_tasks;
    coord_embed_task *t = &e->tasks[ti];
    memset(t, 0, sizeof *t);
    /* the group of the first pending document, all of it */
    uint32_t g = e->group_of[e->scan], g0 = e->gstart[g], g1 = e->gstart[g + 1];
    size_t chunks = 0;
    t->docs = hb_malloc((g1 - g0) * sizeof(uint32_t));
    for (uint32_t i = g0; i < g1; i++) {
        const coord_split *sp;
        size_t di;
        s_doc(j, i, &sp, &di);
        t->docs[t->n_docs++] = i;
        chunks += sp->doc_count[di];
    }
    /* the task's chunk rows */
    const int L = j->L;
    int32_t *ids = hb_malloc(chunks * (size_t)L * sizeof(int32_t)), *lens = hb_malloc(chunks * sizeof(int32_t)),
            *counts = hb_malloc(t->n_docs * sizeof(int32_t));
    char **doc_ids = hb_malloc(t->n_docs * sizeof(char *));
    size_t row = 0;
    uint32_t *rows = hb_malloc((chunks + 1) * sizeof(uint32_t));
    char err[HB_ERR_LEN];
    int rc = 0;
    for (uint32_t k = 0; k < t->n_docs && !rc; k++) {
        const coord_split *sp;
        size_t di;
        s_doc(j, t->docs[k], &sp, &di);
        uint32_t s0 = sp->doc_start[di], n = sp->doc_count[di];
        for (uint32_t q = 0; q < n; q++) rows[q] = s0 + q;
        if (coord_corpus_rows(&j->corpus, sp, rows, n, ids + row * L, err)) {
            /* the store lost or changed a document: the job cannot go on (coord_jobs_tick fails it) */
            snprintf(j->fatal, sizeof j->fatal, "%s", err);
            rc = -1;
        }
        memcpy(lens + row, sp->lengths + s0, n * sizeof(int32_t));
        counts[k] = (int32_t)n;
        doc_ids[k] = sp->doc_ids[di];
        row += n;
    }
    Hierbert__ModelSpec ms;
    Hierbert__BertConfig wc;
    coord_model_spec(j, &ms, &wc, e->batch);
    Hierbert__EmbedTask et = HIERBERT__EMBED_TASK__INIT;
    et.task_id = ti;
    et.n_doc_ids = t->n_docs;
    et.doc_ids = doc_ids;
    et.chunk_counts = proto_bytes(counts, t->n_docs * sizeof(int32_t));
    et.n_samples = (uint32_t)chunks;
    et.ids = proto_bytes(ids, chunks * (size_t)L * sizeof(int32_t));
    et.lengths = proto_bytes(lens, chunks * sizeof(int32_t));
    et.round = j->round;
    Hierbert__Assign a = HIERBERT__ASSIGN__INIT;
    a.model = &ms;
    a.task_case = HIERBERT__ASSIGN__TASK_EMBED;
    a.embed = &et;
    proto_msg m;
    proto_env_init(&m, j->id);
    m.body_case = HIERBERT__ENVELOPE__BODY_ASSIGN;
    m.assign = &a;
    coord_worker *k = &c->workers[w];
    free(rows);
    if (rc == 0 && e->params_to[w] != k->joined) { /* the final parameters, once per worker */
        zmq_msg_t pm;
        coord_params_frame(j, &pm);
        size_t len = zmq_msg_size(&pm);
        if (zmq_send(c->work, k->rid, k->rid_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
            zmq_msg_send(&pm, c->work, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&pm);
            coord_send_failed(c, w, "the final parameters");
            rc = -1;
        } else {
            e->params_to[w] = k->joined;
            e->bytes_out += (double)len;
        }
    }
    if (rc == 0) {
        e->bytes_out += (double)hierbert__envelope__get_packed_size(&m);
        rc = coord_send_worker(c, w, &m);
    }
    free(ids);
    free(lens);
    free(counts);
    free(doc_ids);
    if (rc) {
        free(t->docs);
        return -1;
    }
    t->worker = w;
    for (uint32_t q = 0; q < t->n_docs; q++) {
        if (e->state[t->docs[q]] != EMB_PENDING) continue; /* stored, or in flight from an earlier task */
        e->state[t->docs[q]] = EMB_ASSIGNED;
        e->task_of[t->docs[q]] = ti;
        t->wanted++;
    }
    t->left = t->wanted;
    e->n_tasks++;
    e->inflight[w]++;
    k->task = (int)ti;
    if (!e->t_first_ms) e->t_first_ms = hb_now_ms();
    return 0;
}

void coord_embed_tick(coord *c, coord_job *j) {
    char err[HB_ERR_LEN];
    if (!j->embed && s_start(c, j, err)) {
        coord_job_set_state(c, j, JOB_FAILED, err);
        return;
    }
    coord_baseline_start(c, j); /* once: it needs only the ingested documents */
    struct coord_embed *e = j->embed;
    if (e->n_unc && (e->n_unc >= EMB_COMMIT_DOCS || hb_now_ms() - e->unc_since_ms >= EMB_COMMIT_MS)) s_commit(c, j);
    coord_fit_workers(c, j);
    for (int w = 0; w < COORD_MAX_WORKERS; w++) {
        if (!coord_worker_fits(j, &c->workers[w])) continue;
        while (e->inflight[w] < EMB_INFLIGHT) {
            int rc = s_send_task(c, j, w);
            if (rc) break;
        }
    }
    if (e->stored == e->n) {
        e->t_last_ms = hb_now_ms();
        double s = (double)(e->t_last_ms - e->t0_ms) / 1000.0;
        hb_log(c->who, "info",
               "job %llu: EMBED done: %zu documents (%zu skipped as stored), %zu chunks embedded in %.2f s "
               "(%.1f chunks/s), %ld commits, %.1f MB in",
               (unsigned long long)j->id, e->n, e->skipped, e->chunks_run, s, s > 0 ? e->chunks_run / s : 0.0,
               e->commits, e->bytes_in / 1e6);
        store_writer_destroy(&e->w);
        coord_job_set_state(c, j, JOB_HEAD, NULL);
    }
}

void coord_on_doc_embeddings(coord *c, int w, const proto_msg *m) {
    if (c->active < 0) return;
    coord_job *j = c->jobs[c->active];
    struct coord_embed *e = j->embed;
    const Hierbert__DocEmbeddings *d = m->doc_embeddings;
    if (j->state != JOB_EMBED || !e || m->job_id != j->id || d->task_id >= e->n_tasks ||
        e->tasks[d->task_id].worker != w) {
        if (c->cfg.verbose)
            hb_log(c->who, "info", "ignoring a stale DocEmbeddings (job %llu, task %u, %s) from %s",
                   (unsigned long long)m->job_id, d->task_id, d->doc_id, c->workers[w].id);
        return;
    }
    coord_embed_task *t = &e->tasks[d->task_id];
    uint32_t i = UINT32_MAX;
    const coord_split *sp = NULL;
    size_t di = 0;
    for (uint32_t k = 0; k < t->n_docs; k++) {
        s_doc(j, t->docs[k], &sp, &di);
        if (!strcmp(sp->doc_ids[di], d->doc_id)) {
            i = t->docs[k];
            break;
        }
    }
    if (i != UINT32_MAX && (e->state[i] != EMB_ASSIGNED || e->task_of[i] != d->task_id)) {
        /* a document of the group already stored (a restart) or received from an earlier task */
        if (c->cfg.verbose)
            hb_log(c->who, "info", "DocEmbeddings from %s: document %s of task %u already done: ignored",
                   c->workers[w].id, d->doc_id, d->task_id);
        return;
    }
    if (i == UINT32_MAX) {
        hb_log(c->who, "warn", "DocEmbeddings from %s: document %s not awaited in task %u: ignored", c->workers[w].id,
               d->doc_id, d->task_id);
        return;
    }
    const int C = j->corpus.num_classes;
    if (d->n_chunks != sp->doc_count[di] || d->dim != (uint32_t)j->cfg.hidden_size ||
        d->logits.len != (size_t)d->n_chunks * C * sizeof(float)) {
        hb_log(c->who, "warn", "DocEmbeddings from %s: %s has %u chunks of dim %u (%zu logit bytes), expected %u of %d",
               c->workers[w].id, d->doc_id, d->n_chunks, d->dim, d->logits.len, sp->doc_count[di], j->cfg.hidden_size);
        return;
    }
    char err[HB_ERR_LEN], job[32], key[STORE_KEY_MAX + 1];
    s_key(j, job, sizeof job);
    int split = sp == &j->corpus.test ? STORE_SPLIT_TEST : sp == &j->corpus.val ? STORE_SPLIT_VAL : STORE_SPLIT_TRAIN;
    /* the logits as JSON [[...] per chunk] (small: C numbers a chunk; every
     * results value stays JSON for `hierbert store verify`) */
    size_t cap = 16 + (size_t)d->n_chunks * C * 18, len = 0;
    char *txt = hb_malloc(cap);
    const float *z = (const float *)d->logits.data;
    txt[len++] = '[';
    for (uint32_t k = 0; k < d->n_chunks; k++) {
        txt[len++] = k ? ',' : '[';
        if (k) txt[len++] = '[';
        for (int q = 0; q < C; q++) len += (size_t)snprintf(txt + len, cap - len, q ? ",%.9g" : "%.9g", z[k * C + q]);
        txt[len++] = ']';
    }
    txt[len++] = ']';
    int bad = store_make_key(key, job, d->doc_id, err) ||
              store_writer_put_emb(e->w, job, d->doc_id, sp->labels[sp->doc_start[di]], split, d->n_chunks, d->dim,
                                   (const float *)d->data.data, err) ||
              store_writer_put_raw(e->w, STORE_DB_RESULTS, key, strlen(key), txt, len, err);
    free(txt);
    if (bad) {
        hb_log(c->who, "error", "job %llu: EMBED: %s", (unsigned long long)j->id, err);
        return; /* stays ASSIGNED: a lost worker or a restart hands it out again */
    }
    e->state[i] = EMB_RECEIVED;
    if (e->n_unc == e->cap_unc) {
        e->cap_unc = e->cap_unc ? 2 * e->cap_unc : 256;
        e->unc = hb_realloc(e->unc, e->cap_unc * sizeof(uint32_t));
    }
    if (!e->n_unc) e->unc_since_ms = hb_now_ms();
    e->unc[e->n_unc++] = i;
    e->chunks_run += d->n_chunks;
    e->bytes_in += (double)(d->data.len + d->logits.len);
    /* a finished task is committed at once: its worker gets the next one
     * without waiting for the timer (it is busy with its other task) */
    if (e->n_unc >= EMB_COMMIT_DOCS || ++t->got == t->wanted) {
        s_commit(c, j);
        coord_embed_tick(c, j);
    }
}

/* ------------------------------------------------------------------------ */

static void s_embed_lost(coord *c, coord_job *j, int w) {
    struct coord_embed *e = j->embed;
    for (uint32_t ti = 0; ti < e->n_tasks; ti++) {
        coord_embed_task *t = &e->tasks[ti];
        if (t->worker != w) continue;
        t->worker = -1;
        uint32_t back = 0;
        for (uint32_t k = 0; k < t->n_docs; k++) {
            uint32_t i = t->docs[k];
            if (e->state[i] == EMB_ASSIGNED && e->task_of[i] == ti) {
                e->state[i] = EMB_PENDING;
                if (i < e->scan) e->scan = i;
                t->left--;
                back++;
            }
        }
        if (back)
            hb_log(c->who, "info", "job %llu: %u documents of EMBED task %u go back to the pool (worker lost)",
                   (unsigned long long)j->id, back, ti);
    }
    e->inflight[w] = 0;
    e->params_to[w] = 0;
}

void coord_phases_worker_lost(coord *c, int w) {
    if (c->active < 0) return;
    coord_job *j = c->jobs[c->active];
    if (j->state == JOB_EMBED && j->embed) s_embed_lost(c, j, w);
    if (j->state == JOB_HEAD && j->head && j->head->running && j->head->worker == w) {
        hb_log(c->who, "info", "job %llu: the head's worker was lost: HEAD starts again", (unsigned long long)j->id);
        j->head->running = 0; /* coord_head_tick hands it to another worker */
    }
}

double coord_phases_progress(const coord_job *j) {
    if (j->state == JOB_EMBED && j->embed && j->embed->chunks_total)
        return (double)j->embed->chunks_stored / (double)j->embed->chunks_total;
    if (j->state == JOB_HEAD && j->head && j->head->epochs) return (double)j->head->epochs_done / j->head->epochs;
    return 0;
}

static void s_embed_free(struct coord_embed **ep) {
    struct coord_embed *e = *ep;
    if (!e) return;
    for (uint32_t i = 0; i < e->n_tasks; i++) free(e->tasks[i].docs);
    free(e->tasks);
    free(e->state);
    free(e->task_of);
    free(e->group_of);
    free(e->gstart);
    free(e->unc);
    store_writer_destroy(&e->w);
    free(e);
    *ep = NULL;
}

static void s_head_free(struct coord_head **hp) {
    struct coord_head *h = *hp;
    if (!h) return;
    for (int i = 0; i < h->n_val; i++) free(h->val_ids[i]);
    free(h->val_ids);
    free(h->val_labels);
    free(h->loss);
    free(h->val_acc);
    free(h->best_params);
    free(h->best_probs);
    free(h);
    *hp = NULL;
}

void coord_phases_release(coord_job *j) {
    coord_baseline_release(j);
    s_embed_free(&j->embed);
    s_head_free(&j->head);
}
