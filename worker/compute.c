/* compute.c - the worker's compute thread: builds the job's BERT chunk
 * classifier (model/bert.h), takes Params, runs TrainTasks (optimizer steps,
 * or with send_grad one gradient the coordinator steps with) and eval tasks,
 * and sends Updates through the pipe. It never touches the
 * DEALER socket. OpenMP and OpenBLAS inside use `threads` threads. */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "bert.h"
#include "frame.h"
#include "hb_error.h"
#include "hb_log.h"
#include "optim.h"
#include "worker.h"

typedef struct {
    worker_compute *wc;
    void *pipe;
    uint64_t job_id;
    bert_model *m;
    bert_config cfg;          /* the config m was built from */
    Hierbert__ModelSpec spec; /* the spec m was built from (pointers not kept) */
    uint8_t *mask;            /* [batch][L] */
    adamw_state opt; /* AdamW moments: made on first need (gradient averaging never needs them) */
    int have_opt;
    int adamw;       /* the job's optimizer is AdamW */
    proto_msg *task;   /* pending Assign */
    proto_msg *params; /* pending Params */
    uint64_t params_round;
    int params_valid;  /* m's weights are version params_round */
    worker_head *head; /* HEAD: the documents received so far (head.c) */
    float *sparse;     /* gradient averaging: the row-sparse gradient sent ([numel]) */
    uint8_t *row_seen; /* [vocab]: token ids of the task */
    int32_t *rows;     /* [vocab]: their list */
    int we;            /* the word-embedding view of m, -1 none */
} s_comp;

static void s_send(s_comp *c, const proto_msg *m) {
    char err[HB_ERR_LEN];
    if (proto_send(c->pipe, NULL, 0, m, 0, err)) hb_log(c->wc->who, "error", "compute pipe: %s", err);
}

static void s_error(s_comp *c, uint64_t job, int code, const char *text) {
    hb_log(c->wc->who, "warn", "%s", text);
    proto_msg m;
    proto_env_init(&m, job);
    Hierbert__Error e = HIERBERT__ERROR__INIT;
    e.code = (uint32_t)code;
    e.message = (char *)text;
    m.body_case = HIERBERT__ENVELOPE__BODY_ERROR;
    m.error = &e;
    s_send(c, &m);
}

static void s_drop_opt(s_comp *c) {
    if (c->have_opt) adamw_free(&c->opt);
    c->have_opt = 0;
}

static void s_drop_model(s_comp *c) {
    bert_destroy(&c->m);
    free(c->mask);
    c->mask = NULL;
    free(c->sparse);
    free(c->row_seen);
    free(c->rows);
    c->sparse = NULL;
    c->row_seen = NULL;
    c->rows = NULL;
    c->params_valid = 0;
}

static void s_config_from_wire(bert_config *b, const Hierbert__BertConfig *w) {
    memset(b, 0, sizeof *b);
    b->vocab_size = (int)w->vocab_size;
    b->hidden_size = (int)w->hidden_size;
    b->num_hidden_layers = (int)w->num_hidden_layers;
    b->num_attention_heads = (int)w->num_attention_heads;
    b->intermediate_size = (int)w->intermediate_size;
    b->max_position_embeddings = (int)w->max_position_embeddings;
    b->type_vocab_size = (int)w->type_vocab_size;
    b->layer_norm_eps = w->layer_norm_eps;
    b->hidden_dropout_prob = w->hidden_dropout_prob;
    b->attention_probs_dropout_prob = w->attention_probs_dropout_prob;
    b->classifier_dropout = w->classifier_dropout;
}

/* The model for ms (job job), reusing the current one when it fits. */
static int s_ensure_model(s_comp *c, uint64_t job, const Hierbert__ModelSpec *ms, char *err) {
    bert_config cfg;
    s_config_from_wire(&cfg, ms->config);
    if (c->m && c->job_id == job && !memcmp(&cfg, &c->cfg, sizeof cfg) && c->spec.num_classes == ms->num_classes &&
        c->spec.seq_len == ms->seq_len && c->spec.batch >= ms->batch && c->spec.numel == ms->numel &&
        c->adamw == !strcmp(ms->optimizer, "adamw"))
        return 0;
    s_drop_model(c);
    /* the AdamW moments outlive a rebuild for another batch size: they are
     * this worker's own between checkpoints */
    int keep_opt = c->have_opt && c->job_id == job && c->spec.numel == ms->numel && !strcmp(ms->optimizer, "adamw");
    if (!keep_opt) s_drop_opt(c);
    if (bert_config_validate(&cfg, "Assign: encoder config", err)) return -1;
    if (bert_new(&c->m, &cfg, (int)ms->num_classes, (int)ms->batch, (int)ms->seq_len, err)) return -1;
    if ((uint64_t)c->m->params.numel != ms->numel) {
        hb_fail(err, "Assign: model spec declares %llu parameters, this worker builds %zu from it",
                (unsigned long long)ms->numel, c->m->params.numel);
        bert_destroy(&c->m);
        return -1;
    }
    c->mask = hb_malloc((size_t)ms->batch * ms->seq_len);
    c->job_id = job;
    c->cfg = cfg;
    c->spec = *ms;
    c->adamw = !strcmp(ms->optimizer, "adamw");
    c->we = params_find(&c->m->params, "embeddings.word_embeddings.weight");
    hb_log(c->wc->who, "info", "job %llu: built the encoder (%d layers, hidden %d), %zu parameters, batch %u x L %u",
           (unsigned long long)job, cfg.num_hidden_layers, cfg.hidden_size, c->m->params.numel, ms->batch, ms->seq_len);
    return 0;
}

/* mask [B][T] from lengths; forward; argmax hits against labels */
static float s_forward(s_comp *c, const int32_t *ids, const int32_t *lens, const int32_t *labels, int B, int T,
                       int train, int *n_correct) {
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) c->mask[(size_t)b * T + t] = t < lens[b];
    float loss = bert_forward(c->m, ids, NULL, c->mask, labels, B, T, train);
    int C = c->m->num_classes, hits = 0;
    for (int b = 0; b < B; b++) {
        const float *z = c->m->logits + (size_t)b * C;
        int arg = 0;
        for (int k = 1; k < C; k++)
            if (z[k] > z[arg]) arg = k;
        hits += arg == labels[b];
    }
    *n_correct = hits;
    return loss;
}

/* the AdamW moments, zero, the first time this worker steps with AdamW */
static void s_need_opt(s_comp *c) {
    if (c->have_opt) return;
    adamw_init(&c->opt, &c->m->params, optim_default_config());
    c->have_opt = 1;
}

static void s_apply_params(s_comp *c) {
    const Hierbert__Params *p = c->params->params;
    size_t n = c->m->params.numel;
    memcpy(c->m->params.data, p->params.data, n * sizeof(float));
    if (c->adamw && p->adam_m.len) { /* else this worker's own moments go on */
        s_need_opt(c);
        memcpy(c->opt.m, p->adam_m.data, n * sizeof(float));
        memcpy(c->opt.v, p->adam_v.data, n * sizeof(float));
    }
    c->params_round = p->round;
    c->params_valid = 1;
}

static double s_now_s(void) {
    return (double)hb_now_ms() / 1000.0;
}

static void s_run(s_comp *c) {
    const Hierbert__Assign *a = c->task->assign;
    const Hierbert__ModelSpec *ms = a->model;
    const Hierbert__TrainTask *t = a->train;
    uint64_t job = c->task->job_id;
    int T = (int)ms->seq_len, n = (int)t->n_samples;
    const int32_t *ids = (const int32_t *)t->ids.data, *lens = (const int32_t *)t->lengths.data,
                  *labels = (const int32_t *)t->labels.data;
    atomic_store(&c->wc->busy, 1);
    double t0 = s_now_s(), loss_sum = 0;
    int correct = 0;
    char text[HB_ERR_LEN];
    params_table *pt = &c->m->params;
    if (t->eval) {
        for (int off = 0; off < n; off += (int)ms->batch) {
            int b = n - off < (int)ms->batch ? n - off : (int)ms->batch, hit = 0;
            double l = (double)s_forward(c, ids + (size_t)off * T, lens + off, labels + off, b, T, 0, &hit) * b;
            if (isnan(l)) {
                snprintf(text, sizeof text, "job %llu: eval task %u: model refused rows %d..%d",
                         (unsigned long long)job, t->task_id, off, off + b - 1);
                s_error(c, job, PROTO_E_BAD_REQUEST, text);
                atomic_store(&c->wc->busy, 0);
                return;
            }
            loss_sum += l;
            correct += hit;
        }
    } else {
        optim_config oc = optim_default_config();
        oc.lr = ms->lr;
        oc.warmup_steps = (long)ms->warmup_steps;
        oc.total_steps = (long)ms->total_steps;
        oc.weight_decay = ms->weight_decay;
        oc.clip_norm = ms->clip_norm;
        if (ms->schedule[0]) optim_schedule_parse(ms->schedule, &oc.schedule, NULL); /* checked by proto_decode */
        if (c->adamw && !t->send_grad) s_need_opt(c);
        if (c->have_opt) c->opt.cfg = oc;
        const int32_t *sizes = (const int32_t *)t->step_sizes.data;
        int off = 0;
        for (uint32_t j = 0; j < t->steps; j++) {
            int b = sizes[j], hit = 0;
            if (b == 0) continue;
            bert_set_seed(c->m, t->rng_seed + j); /* dropout masks: a function of the task and step */
            bert_zero_grad(c->m);
            float l = s_forward(c, ids + (size_t)off * T, lens + off, labels + off, b, T, 1, &hit);
            if (!isnan(l)) bert_backward(c->m);
            if (isnan(l)) {
                snprintf(text, sizeof text, "job %llu: train task %u: model refused step %u (rows %d..%d)",
                         (unsigned long long)job, t->task_id, j, off, off + b - 1);
                s_error(c, job, PROTO_E_BAD_REQUEST, text);
                c->params_valid = 0;
                atomic_store(&c->wc->busy, 0);
                return;
            }
            long step = (long)(t->step0 + j + 1); /* global step, 1-based: the schedule's clock */
            if (t->send_grad) {
                /* gradient averaging: the coordinator takes the step */
            } else if (c->adamw) {
                c->opt.step = step - 1;
                adamw_step(&c->opt, pt, pt->data, c->m->grads);
            } else {
                if (oc.clip_norm > 0) optim_clip_global_norm(pt, c->m->grads, oc.clip_norm);
                sgd_step(pt, pt->data, c->m->grads, optim_lr_at(&oc, step));
            }
            loss_sum += (double)l * b;
            correct += hit;
            off += b;
        }
        if (!t->send_grad) c->params_valid = 0; /* weights moved past version `round` */
    }
    double dt = s_now_s() - t0;
    if (dt > 0) atomic_store(&c->wc->samples_x1000_per_s, (long long)(1000.0 * n / dt));
    proto_msg m;
    proto_env_init(&m, job);
    Hierbert__Update u = HIERBERT__UPDATE__INIT;
    u.round = t->round;
    u.task_id = t->task_id;
    u.n_samples = (uint32_t)n;
    u.loss_sum = loss_sum;
    u.n_correct = (uint32_t)correct;
    u.compute_s = dt;
    u.eval = t->eval;
    if (!t->eval) {
        u.numel = pt->numel;
        int we = c->we;
        if (t->send_grad && we >= 0) {
            /* the word-embedding gradient is zero outside the task's token
             * ids (70% of mini's parameters, ~3% of its rows a step): only
             * those rows travel (params.h, row-sparse gradients) */
            int V = (int)pt->views[we].shape[0];
            if (!c->sparse) {
                c->sparse = hb_malloc(pt->numel * sizeof(float));
                c->row_seen = hb_calloc((size_t)V, 1);
                c->rows = hb_malloc((size_t)V * sizeof(int32_t));
            }
            for (size_t q = 0; q < (size_t)n * T; q++) c->row_seen[ids[q]] = 1; /* ids checked < V on receipt */
            size_t n_rows = 0;
            for (int r = 0; r < V; r++)
                if (c->row_seen[r]) {
                    c->rows[n_rows++] = r;
                    c->row_seen[r] = 0;
                }
            params_sparse_gather(pt, we, c->m->grads, c->rows, n_rows, c->sparse);
            u.grads = proto_bytes(c->sparse, params_sparse_len(pt, we, n_rows) * sizeof(float));
            u.grad_rows = proto_bytes(c->rows, n_rows * sizeof(int32_t));
        } else if (t->send_grad)
            u.grads = proto_bytes(c->m->grads, pt->numel * sizeof(float));
        else
            u.params = proto_bytes(pt->data, pt->numel * sizeof(float));
        if (c->have_opt && t->want_moments && !t->send_grad) {
            u.adam_m = proto_bytes(c->opt.m, pt->numel * sizeof(float));
            u.adam_v = proto_bytes(c->opt.v, pt->numel * sizeof(float));
        }
    }
    m.body_case = HIERBERT__ENVELOPE__BODY_UPDATE;
    m.update = &u;
    s_send(c, &m);
    atomic_store(&c->wc->busy, 0);
}

/* Runs the pending task once its model and parameters are in place. */
static void s_try(s_comp *c) {
    if (!c->task) return;
    char err[HB_ERR_LEN];
    uint64_t job = c->task->job_id;
    const Hierbert__Assign *a = c->task->assign;
    if (s_ensure_model(c, job, a->model, err)) {
        char text[HB_ERR_LEN + 32];
        snprintf(text, sizeof text, "job %llu: %s", (unsigned long long)job, err);
        s_error(c, job, PROTO_E_BAD_REQUEST, text);
        proto_free(&c->task);
        return;
    }
    if (c->params) {
        if (c->params->job_id != job) {
            proto_free(&c->params); /* stale: another job's */
        } else if (c->params->params->numel != c->m->params.numel) {
            char text[HB_ERR_LEN];
            snprintf(text, sizeof text, "Params: numel %llu, the job's model has %zu parameters",
                     (unsigned long long)c->params->params->numel, c->m->params.numel);
            s_error(c, job, PROTO_E_SHAPE, text);
            proto_free(&c->params);
        } else {
            s_apply_params(c);
            proto_free(&c->params);
        }
    }
    if (a->task_case == HIERBERT__ASSIGN__TASK_EMBED) { /* worker/embed.c */
        if (!c->params_valid || c->params_round != a->embed->round) return;
        double rate = 0;
        atomic_store(&c->wc->busy, 1);
        if (worker_embed_run(c->m, c->mask, (int)a->model->batch, c->task, c->pipe, &rate, err)) {
            char text[HB_ERR_LEN];
            snprintf(text, sizeof text, "%s", err);
            s_error(c, job, PROTO_E_BAD_REQUEST, text);
        }
        if (rate > 0) {
            atomic_store(&c->wc->samples_x1000_per_s, (long long)(1000.0 * rate));
            /* one line a task: its compute rate beside the coordinator's end-to-end one
             * (ops/bench-embed.sh reads these to split the cost of the wire and the store) */
            hb_log(c->wc->who, "info",
                   "job %llu: embed task %u: %u chunks of %zu documents, %.3f s compute (%.1f chunks/s)",
                   (unsigned long long)job, a->embed->task_id, a->embed->n_samples, a->embed->n_doc_ids,
                   a->embed->n_samples / rate, rate);
        }
        atomic_store(&c->wc->busy, 0);
        proto_free(&c->task);
        return;
    }
    if (c->params_valid && c->params_round == a->train->round) {
        s_run(c);
        proto_free(&c->task);
    }
}

void *worker_compute_main(void *arg) {
    worker_compute *wc = arg;
    s_comp c;
    memset(&c, 0, sizeof c);
    c.wc = wc;
    omp_set_num_threads(wc->threads);
    c.pipe = zmq_socket(wc->zctx, ZMQ_PAIR);
    zmq_connect(c.pipe, wc->pipe_endpoint);
    for (;;) {
        zmq_msg_t f;
        zmq_msg_init(&f);
        if (zmq_msg_recv(&f, c.pipe, 0) < 0 || zmq_msg_size(&f) == 0) {
            zmq_msg_close(&f);
            break;
        }
        proto_expect ex = {.max_frame = wc->max_frame};
        if (c.m) {
            ex.numel = c.m->params.numel;
        }
        proto_msg *m = NULL;
        char err[HB_ERR_LEN];
        int code = 0;
        if (proto_decode(zmq_msg_data(&f), zmq_msg_size(&f), &ex, &m, &code, err)) {
            /* a new job's Params may differ from the current model: decode
             * against the caps only and let s_try check it against the job */
            if (code == PROTO_E_SHAPE && c.m) {
                ex.numel = 0;
                if (proto_decode(zmq_msg_data(&f), zmq_msg_size(&f), &ex, &m, &code, err) == 0) goto ok;
            }
            s_error(&c, 0, code, err);
            zmq_msg_close(&f);
            continue;
        }
    ok:
        zmq_msg_close(&f);
        if (m->body_case == HIERBERT__ENVELOPE__BODY_PARAMS) {
            proto_free(&c.params);
            c.params = m;
        } else if (m->body_case == HIERBERT__ENVELOPE__BODY_ASSIGN) {
            proto_free(&c.task);
            c.task = m;
        } else if (m->body_case == HIERBERT__ENVELOPE__BODY_HEAD_BATCH) { /* worker/head.c */
            atomic_store(&wc->busy, 1);
            if (worker_head_on_batch(&c.head, m, c.pipe, wc->who, err)) {
                s_error(&c, m->job_id, PROTO_E_BAD_REQUEST, err);
                worker_head_destroy(&c.head);
            }
            atomic_store(&wc->busy, 0);
            proto_free(&m);
        } else {
            /* only Params and Assign are routed here (big frames undecoded) */
            char text[HB_ERR_LEN];
            snprintf(text, sizeof text, "%s: not a message a worker takes", proto_type_name(m));
            s_error(&c, m->job_id, PROTO_E_UNEXPECTED, text);
            proto_free(&m);
        }
        s_try(&c);
    }
    proto_free(&c.task);
    proto_free(&c.params);
    s_drop_model(&c);
    s_drop_opt(&c);
    worker_head_destroy(&c.head);
    zmq_close(c.pipe);
    return NULL;
}
