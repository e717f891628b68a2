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
#include "peers.h"
#include "worker.h"

typedef struct {
    worker_compute *wc;
    void *pipe;
    uint64_t job_id;
    bert_model *m;
    bert_config cfg;          /* the config m was built from */
    Hierbert__ModelSpec spec; /* the spec m was built from (pointers not kept) */
    uint8_t *mask;            /* [batch][L] */
    adamw_state opt;          /* AdamW moments: made on first need (gradient averaging never needs them) */
    int have_opt;
    int adamw;         /* the job's optimizer is AdamW */
    proto_msg *task;   /* pending Assign */
    proto_msg *params; /* pending Params */
    uint64_t params_round;
    int params_valid;  /* m's weights are version params_round */
    worker_head *head; /* HEAD: the documents received so far (head.c) */
    float *sparse;     /* gradient averaging: the row-sparse gradient sent ([numel]) */
    uint8_t *row_seen; /* [vocab]: token ids of the task */
    int32_t *rows;     /* [vocab]: their list */
    int we;            /* the word-embedding view of m, -1 none */
    /* sharded reduction (peers.h): this worker's shard's AdamW moments under
     * the current plan (of job plan_job), and a coordinator frame that
     * arrived mid-exchange, processed next */
    worker_peers *peers;
    uint64_t plan_job;
    float *shard_m, *shard_v;
    zmq_msg_t pending;
    int has_pending;
    int bf16; /* m computes its products in bf16 (ModelSpec.precision) */
} s_comp;

static void s_send(s_comp *c, const proto_msg *m) {
    char err[HB_ERR_LEN];
    if (proto_send(c->pipe, NULL, 0, m, 0, err)) hb_log(c->wc->who, "error", "compute pipe: %s", err);
}

/* every parameter is a finite number */
static int s_finite(const params_table *pt) {
    for (size_t i = 0; i < pt->numel; i++)
        if (!isfinite(pt->data[i])) return 0;
    return 1;
}

/* why the model gave no loss for a batch of b rows of task t (what: which
 * rows): the training diverged - the parameters, or this batch's logits,
 * are not finite - or the model refused the input */
static void s_refusal(char *text, size_t n, const bert_model *m, int b, uint64_t job, const Hierbert__TrainTask *t,
                      const char *what) {
    const char *kind = t->eval ? "eval" : "train";
    int logits_ok = 1;
    for (size_t i = 0; i < (size_t)b * (size_t)m->num_classes; i++) logits_ok &= isfinite(m->logits[i]) != 0;
    const char *why = !s_finite(&m->params) ? "the parameters are not finite"
                      : !logits_ok          ? "the loss is not finite"
                                            : NULL;
    if (why)
        snprintf(text, n,
                 "job %llu: %s task %u: round %llu: %s at %s: the training diverged (a smaller --lr, or "
                 "--clip-norm?)",
                 (unsigned long long)job, kind, t->task_id, (unsigned long long)t->round, why, what);
    else
        snprintf(text, n, "job %llu: %s task %u: model refused %s", (unsigned long long)job, kind, t->task_id, what);
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

static void s_drop_plan(s_comp *c) {
    free(c->shard_m);
    free(c->shard_v);
    c->shard_m = c->shard_v = NULL;
    c->plan_job = 0;
}

static void s_drop_model(s_comp *c) {
    s_drop_plan(c);
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
        c->adamw == !strcmp(ms->optimizer, "adamw") && c->bf16 == !strcmp(ms->precision, "bf16"))
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
    if (!strcmp(ms->precision, "bf16") && bert_set_precision(c->m, MM_BF16, err)) {
        bert_destroy(&c->m);
        return -1;
    }
    c->bf16 = !strcmp(ms->precision, "bf16");
    c->mask = hb_malloc((size_t)ms->batch * ms->seq_len);
    c->job_id = job;
    c->cfg = cfg;
    c->spec = *ms;
    c->adamw = !strcmp(ms->optimizer, "adamw");
    c->we = params_find(&c->m->params, "embeddings.word_embeddings.weight");
    hb_log(c->wc->who, "info",
           "job %llu: built the encoder (%d layers, hidden %d), %zu parameters, batch %u x L %u, %s products",
           (unsigned long long)job, cfg.num_hidden_layers, cfg.hidden_size, c->m->params.numel, ms->batch, ms->seq_len,
           c->bf16 ? "bf16" : "fp32");
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

/* the optimizer a task's steps take (the worker's own, or its shard's) */
static optim_config s_optim_of(const Hierbert__ModelSpec *ms) {
    optim_config oc = optim_default_config();
    oc.lr = ms->lr;
    oc.warmup_steps = (long)ms->warmup_steps;
    oc.total_steps = (long)ms->total_steps;
    oc.weight_decay = ms->weight_decay;
    oc.clip_norm = ms->clip_norm;
    if (ms->schedule[0]) optim_schedule_parse(ms->schedule, &oc.schedule, NULL); /* checked by proto_decode */
    return oc;
}

/* bert_backward's hook under sharded reduction: final gradients leave at once */
typedef struct {
    worker_peers *peers;
    peers_round *round;
    void *pipe;
    zmq_msg_t *pipe_frame;
    peers_rc rc; /* the forward's wait for the last round's shards, if it gave up */
    char err[HB_ERR_LEN];
} s_hook;

static void s_grad_ready(void *ctx, size_t from) {
    s_hook *h = ctx;
    worker_peers_grad_ready(h->peers, h->round, from);
}

/* bert_forward's hook after an overlap round: the peers' updated shards,
 * layer by layer as forward reaches them */
static int s_param_wait(void *ctx, size_t hi) {
    s_hook *h = ctx;
    h->rc = worker_peers_await(h->peers, h->round->pt, h->round->we, hi, h->pipe, h->pipe_frame, &h->round->wait_s,
                               &h->round->bytes_in, h->err);
    return h->rc != PEERS_OK;
}

/* a peer exchange that did not complete: 1 (the task is over), else 0 */
static int s_peers_rc(s_comp *c, uint64_t job, const Hierbert__TrainTask *t, peers_rc rc, const char *why) {
    if (rc == PEERS_OK) return 0;
    if (rc == PEERS_ABORTED) {
        hb_log(c->wc->who, "info", "job %llu: round %llu: the coordinator moved on mid-exchange: round dropped",
               (unsigned long long)job, (unsigned long long)t->round);
        c->has_pending = 1;
    } else {
        char msg[HB_ERR_LEN + 64];
        snprintf(msg, sizeof msg, "job %llu: round %llu: %s", (unsigned long long)job, (unsigned long long)t->round,
                 why);
        s_error(c, job, PROTO_E_SHAPE, msg);
    }
    atomic_store(&c->wc->busy, 0);
    return 1;
}

/* A checkpoint round's gather (sharded reduction): this worker's shard of
 * version round+1, parameters and moments, behind the round's Update: the
 * Envelope, then the raw frames (ShardState.raw). They are copied here, once,
 * so the next round may move the weights while they are on the wire. */
static void s_raw_frame(s_comp *c, const float *src, size_t n, int more) {
    zmq_msg_t f;
    zmq_msg_init_size(&f, n * sizeof(float));
    if (src)
        memcpy(zmq_msg_data(&f), src, n * sizeof(float));
    else /* (NULL: the shard's parameters, piece by piece) */
        shard_map_gather(worker_peers_map(c->peers), worker_peers_index(c->peers), c->m->params.data, zmq_msg_data(&f));
    if (zmq_msg_send(&f, c->pipe, more ? ZMQ_SNDMORE : 0) < 0) {
        hb_log(c->wc->who, "error", "compute pipe: %s", zmq_strerror(zmq_errno()));
        zmq_msg_close(&f);
    }
}

static void s_send_shard_state(s_comp *c, uint64_t job, const Hierbert__TrainTask *t) {
    const params_table *pt = &c->m->params;
    size_t lo, hi;
    worker_peers_shard(c->peers, &lo, &hi);
    proto_msg m;
    proto_env_init(&m, job);
    Hierbert__ShardState st = HIERBERT__SHARD_STATE__INIT;
    st.gen = t->shard_gen;
    st.round = t->round;
    st.index = (uint32_t)worker_peers_index(c->peers);
    st.numel = pt->numel;
    st.shard_lo = lo;
    st.shard_hi = hi;
    st.raw = 1;
    m.body_case = HIERBERT__ENVELOPE__BODY_SHARD_STATE;
    m.shard_state = &st;
    char err[HB_ERR_LEN];
    if (proto_send(c->pipe, NULL, 0, &m, ZMQ_SNDMORE, err)) {
        hb_log(c->wc->who, "error", "compute pipe: %s", err);
        return;
    }
    s_raw_frame(c, NULL, hi - lo, c->adamw);
    if (c->adamw) {
        s_raw_frame(c, c->shard_m, hi - lo, 1);
        s_raw_frame(c, c->shard_v, hi - lo, 0);
    }
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
    c->m->grad_ready = NULL; /* (hooks of a task that ended early must not reach this one) */
    c->m->param_wait = NULL;
    double t0 = s_now_s(), loss_sum = 0;
    int correct = 0;
    char text[HB_ERR_LEN];
    params_table *pt = &c->m->params;
    size_t n_rows = 0;
    int we = c->we;
    if (!t->eval && t->send_grad && we >= 0) {
        /* the word-embedding gradient is zero outside the task's token ids
         * (70% of mini's parameters, ~3% of its rows a step): only those
         * rows travel (params.h, row-sparse gradients) */
        int V = (int)pt->views[we].shape[0];
        if (!c->rows) {
            c->row_seen = hb_calloc((size_t)V, 1);
            c->rows = hb_malloc((size_t)V * sizeof(int32_t));
        }
        for (size_t q = 0; q < (size_t)n * T; q++) c->row_seen[ids[q]] = 1; /* ids checked < V on receipt */
        for (int r = 0; r < V; r++)
            if (c->row_seen[r]) {
                c->rows[n_rows++] = r;
                c->row_seen[r] = 0;
            }
    }
    /* sharded: the slice's word-embedding rows from their owners first */
    optim_config soc = optim_default_config();
    peers_round pr;
    memset(&pr, 0, sizeof pr);
    if (!t->eval && t->shard_gen) {
        if (!c->peers || worker_peers_gen(c->peers) != t->shard_gen || c->plan_job != job) {
            snprintf(text, sizeof text, "job %llu: train task %u: sharded under plan %llu, this worker has plan %llu",
                     (unsigned long long)job, t->task_id, (unsigned long long)t->shard_gen,
                     (unsigned long long)worker_peers_gen(c->peers));
            s_error(c, job, PROTO_E_STATE, text);
            atomic_store(&c->wc->busy, 0);
            return;
        }
        soc = s_optim_of(ms);
        pr = (peers_round){.round = t->round,
                           .pt = pt,
                           .grad = c->m->grads,
                           .we = we,
                           .rows = c->rows,
                           .n_rows = n_rows,
                           .n_samples = (uint32_t)n,
                           .total_samples = t->total_samples,
                           .oc = &soc,
                           .step = (long)t->step0 + 1,
                           .m = c->adamw ? c->shard_m : NULL,
                           .v = c->adamw ? c->shard_v : NULL,
                           .overlap = t->overlap_next,
                           .next_rows = (const int32_t *)t->next_rows.data,
                           .next_counts = (const uint32_t *)t->next_counts.data,
                           .n_next = (int)(t->next_counts.len / 4)};
        c->params_valid = 0; /* until the exchange completes */
        if (s_peers_rc(c, job, t, worker_peers_pull(c->peers, &pr, c->pipe, &c->pending, text), text)) return;
    }
    s_hook hook = {.peers = c->peers, .round = &pr, .pipe = c->pipe, .pipe_frame = &c->pending, .rc = PEERS_OK};
    if (!t->eval && t->shard_gen) { /* gradients leave as backward makes them final; the last round's shards come in as
                                       forward needs them */
        c->m->grad_ready = s_grad_ready;
        c->m->grad_ready_ctx = &hook;
        c->m->param_wait = s_param_wait;
        c->m->param_wait_ctx = &hook;
    }
    if (t->eval) {
        for (int off = 0; off < n; off += (int)ms->batch) {
            int b = n - off < (int)ms->batch ? n - off : (int)ms->batch, hit = 0;
            double l = (double)s_forward(c, ids + (size_t)off * T, lens + off, labels + off, b, T, 0, &hit) * b;
            if (isnan(l)) {
                char what[64];
                snprintf(what, sizeof what, "rows %d..%d", off, off + b - 1);
                s_refusal(text, sizeof text, c->m, b, job, t, what);
                s_error(c, job, PROTO_E_BAD_REQUEST, text);
                atomic_store(&c->wc->busy, 0);
                return;
            }
            loss_sum += l;
            correct += hit;
        }
    } else {
        optim_config oc = s_optim_of(ms);
        if (c->adamw && !t->send_grad) s_need_opt(c);
        if (c->have_opt) c->opt.cfg = oc;
        const int32_t *sizes = (const int32_t *)t->step_sizes.data;
        int off = 0;
        for (uint32_t j = 0; j < t->steps; j++) {
            int b = sizes[j], hit = 0;
            if (b == 0) continue;
            if (t->sample_ids.len) { /* dropout masks: a function of (seed, step, sample) */
                bert_set_seed(c->m, t->rng_seed);
                bert_set_dropout_samples(c->m, t->step0 + j + 1, (const uint32_t *)t->sample_ids.data + off, b);
            } else {
                bert_set_seed(c->m, t->rng_seed + j); /* a function of the task and step */
            }
            bert_zero_grad(c->m);
            float l = s_forward(c, ids + (size_t)off * T, lens + off, labels + off, b, T, 1, &hit);
            if (!isnan(l)) bert_backward(c->m);
            if (isnan(l) &&
                hook.rc != PEERS_OK) { /* the forward gave up waiting: the coordinator moved on, or a peer failed */
                c->m->grad_ready = NULL;
                c->m->param_wait = NULL;
                s_peers_rc(c, job, t, hook.rc, hook.err);
                return;
            }
            if (isnan(l)) {
                char what[64];
                snprintf(what, sizeof what, "step %u (rows %d..%d)", j, off, off + b - 1);
                s_refusal(text, sizeof text, c->m, b, job, t, what);
                s_error(c, job, PROTO_E_BAD_REQUEST, text);
                c->params_valid = 0;
                c->m->grad_ready = NULL;
                c->m->param_wait = NULL;
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
        c->m->grad_ready = NULL;
        c->m->param_wait = NULL;
    }
    double dt = s_now_s() - t0;
    proto_msg m;
    proto_env_init(&m, job);
    Hierbert__Update u = HIERBERT__UPDATE__INIT;
    if (!t->eval && t->shard_gen) {
        /* sharded reduction: the gradient goes to the shard owners, this
         * worker steps its own shard and assembles version round+1 */
        if (n == 0) bert_zero_grad(c->m); /* an empty slice adds nothing to the sum */
        /* whatever of the last round's shards forward did not need yet (a slice without samples: all) */
        if (s_peers_rc(
                c, job, t,
                worker_peers_await(c->peers, pt, we, pt->numel, c->pipe, &c->pending, &pr.wait_s, &pr.bytes_in, text),
                text))
            return;
        if (s_peers_rc(c, job, t, worker_peers_round(c->peers, &pr, c->pipe, &c->pending, text), text)) return;
        c->params_valid = 1;
        c->params_round = t->round + 1;
        size_t lo, hi;
        worker_peers_shard(c->peers, &lo, &hi);
        dt = s_now_s() - t0 - pr.wait_s; /* compute: forward, backward, the shard's sum and step */
        u.wait_s = pr.wait_s;
        u.grad_norm = pr.grad_norm;
        u.peer_bytes_out = pr.bytes_out;
        u.peer_bytes_in = pr.bytes_in;
        u.numel = pt->numel;
        u.shard_lo = lo;
        u.shard_hi = hi;
    }
    if (dt > 0) atomic_store(&c->wc->samples_x1000_per_s, (long long)(1000.0 * n / dt));
    u.round = t->round;
    u.task_id = t->task_id;
    u.n_samples = (uint32_t)n;
    u.loss_sum = loss_sum;
    u.n_correct = (uint32_t)correct;
    u.compute_s = dt;
    u.eval = t->eval;
    if (!t->eval && !t->shard_gen) {
        u.numel = pt->numel;
        if (t->send_grad && we >= 0) {
            if (!c->sparse) c->sparse = hb_malloc(pt->numel * sizeof(float)); /* (the coordinator path only) */
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
    if (!t->eval && t->shard_gen && t->want_moments) s_send_shard_state(c, job, t);
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

/* A ShardPlan: the job's model at the plan's version, this shard's
 * moments, the peers pinged; answered with ShardReady. */
static void s_on_plan(s_comp *c, const proto_msg *msg) {
    const Hierbert__ShardPlan *p = msg->shard_plan;
    uint64_t job = msg->job_id;
    char err[HB_ERR_LEN] = "";
    peers_rc rc = PEERS_FAILED;
    if (!c->peers) {
        snprintf(err, sizeof err, "this worker has no peer endpoint (--peer none)");
    } else if (s_ensure_model(c, job, p->model, err) == 0) {
        /* version p->round: its shard here, the others from their owners */
        c->params_valid = 0;
        proto_free(&c->params); /* older than the plan */
        s_drop_plan(c);
        shard_map sm; /* (the frame's check passed: it is well formed) */
        uint64_t *cuts = hb_malloc(p->bounds.len + 8);
        memcpy(cuts, p->bounds.data, p->bounds.len);
        int bad =
            shard_map_init(&sm, (int)p->n_peers, p->n_bands ? (int)p->n_bands : 1, cuts, p->numel, err, sizeof err);
        free(cuts);
        size_t S = bad ? 0 : shard_map_size(&sm, (int)p->index);
        if (!bad) shard_map_scatter(&sm, (int)p->index, (const float *)p->params.data, c->m->params.data);
        shard_map_free(&sm);
        if (!bad) {
            if (c->adamw) {
                c->shard_m = hb_calloc(S, sizeof(float));
                c->shard_v = hb_calloc(S, sizeof(float));
                if (p->adam_m.len) {
                    memcpy(c->shard_m, p->adam_m.data, S * sizeof(float));
                    memcpy(c->shard_v, p->adam_v.data, S * sizeof(float));
                }
            }
            rc = worker_peers_plan(c->peers, job, p, &c->m->params, c->we, c->pipe, &c->pending, err);
            if (rc == PEERS_ABORTED) {
                c->has_pending = 1;
                return;
            }
            if (rc == PEERS_OK) {
                c->plan_job = job;
                c->params_round = p->round;
                c->params_valid = 1;
            }
        }
    }
    hb_log(c->wc->who, rc == PEERS_OK ? "info" : "warn", "job %llu: shard plan %llu: shard %u of %zu%s%s",
           (unsigned long long)job, (unsigned long long)p->gen, p->index, p->n_peers,
           rc == PEERS_OK ? ", peers heard" : ": ", err);
    proto_msg m;
    proto_env_init(&m, job);
    Hierbert__ShardReady r = HIERBERT__SHARD_READY__INIT;
    r.gen = p->gen;
    r.ok = rc == PEERS_OK;
    r.error = err;
    m.body_case = HIERBERT__ENVELOPE__BODY_SHARD_READY;
    m.shard_ready = &r;
    s_send(c, &m);
}

void *worker_compute_main(void *arg) {
    worker_compute *wc = arg;
    s_comp c;
    memset(&c, 0, sizeof c);
    c.wc = wc;
    omp_set_num_threads(wc->threads);
    c.pipe = zmq_socket(wc->zctx, ZMQ_PAIR);
    zmq_connect(c.pipe, wc->pipe_endpoint);
    c.peers = wc->peers;
    zmq_msg_init(&c.pending);
    for (;;) {
        zmq_msg_t f;
        zmq_msg_init(&f);
        if (c.has_pending) { /* what arrived during a peer exchange */
            zmq_msg_move(&f, &c.pending);
            c.has_pending = 0;
        } else if (zmq_msg_recv(&f, c.pipe, 0) < 0) {
            zmq_msg_close(&f);
            break;
        }
        if (zmq_msg_size(&f) == 0) {
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
            if (code == PROTO_E_TOO_BIG) { /* the one the operator can mend: say how */
                size_t e = strlen(err);
                snprintf(err + e, sizeof err - e, " (worker.max_frame_mb %zu: raise it)", wc->max_frame >> 20);
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
        } else if (m->body_case == HIERBERT__ENVELOPE__BODY_SHARD_PLAN) { /* worker/peers.c */
            atomic_store(&wc->busy, 1);
            s_on_plan(&c, m);
            atomic_store(&wc->busy, 0);
            proto_free(&m);
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
    zmq_msg_close(&c.pending);
    worker_peers_destroy(&c.peers); /* before the buffers its frames point into */
    s_drop_model(&c);
    s_drop_opt(&c);
    worker_head_destroy(&c.head);
    zmq_close(c.pipe);
    return NULL;
}
