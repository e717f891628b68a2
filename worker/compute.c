/* compute.c - the worker's compute thread: builds the job's chunk model,
 * takes Params, runs TrainTasks (optimizer steps) and eval tasks, and sends
 * Updates through the pipe. It never touches the DEALER socket. */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "chunk_model.h"
#include "frame.h"
#include "hb_error.h"
#include "hb_log.h"
#include "optim.h"
#include "worker.h"

typedef struct {
    worker_compute *wc;
    void *pipe;
    uint64_t job_id;
    chunk_model *m;
    Hierbert__ModelSpec spec; /* the spec m was built from (strings not kept) */
    char config_json[4096];
    adamw_state opt;
    int have_opt;
    proto_msg *task;   /* pending Assign */
    proto_msg *params; /* pending Params */
    uint64_t params_round;
    int params_valid; /* m's weights are version params_round */
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

static void s_drop_model(s_comp *c) {
    if (c->have_opt) adamw_free(&c->opt);
    c->have_opt = 0;
    chunk_model_destroy(&c->m);
    c->params_valid = 0;
}

/* The model for ms (job job), reusing the current one when it fits. */
static int s_ensure_model(s_comp *c, uint64_t job, const Hierbert__ModelSpec *ms, char *err) {
    if (c->m && c->job_id == job && !strcmp(c->m->spec.kind, ms->kind) && !strcmp(c->config_json, ms->config_json) &&
        c->spec.num_classes == ms->num_classes && c->spec.seq_len == ms->seq_len && c->spec.batch >= ms->batch &&
        c->spec.dropout == ms->dropout && c->spec.numel == ms->numel)
        return 0;
    s_drop_model(c);
    chunk_model_spec sp;
    memset(&sp, 0, sizeof sp);
    snprintf(sp.kind, sizeof sp.kind, "%s", ms->kind);
    snprintf(sp.config_json, sizeof sp.config_json, "%s", ms->config_json);
    sp.vocab_size = (int)ms->vocab_size;
    sp.num_classes = (int)ms->num_classes;
    sp.max_batch = (int)ms->batch;
    sp.seq_len = (int)ms->seq_len;
    sp.dropout = ms->dropout;
    if (!strcmp(ms->kind, "bow")) {
        /* bow's width travels in its config JSON */
        const char *h = strstr(ms->config_json, "\"hidden_size\":");
        sp.hidden = h ? atoi(h + 14) : 16;
        sp.config_json[0] = 0;
    }
    if (chunk_model_new(&c->m, &sp, err)) return -1;
    if ((uint64_t)c->m->params->numel != ms->numel) {
        hb_fail(err, "Assign: model spec declares %llu parameters, this worker builds %zu from it",
                (unsigned long long)ms->numel, c->m->params->numel);
        chunk_model_destroy(&c->m);
        return -1;
    }
    c->job_id = job;
    c->spec = *ms;
    snprintf(c->config_json, sizeof c->config_json, "%s", ms->config_json);
    if (!strcmp(ms->optimizer, "adamw")) {
        optim_config oc = optim_default_config();
        adamw_init(&c->opt, c->m->params, oc);
        c->have_opt = 1;
    }
    hb_log(c->wc->who, "info", "job %llu: built %s model, %zu parameters, batch %u x L %u", (unsigned long long)job,
           ms->kind, c->m->params->numel, ms->batch, ms->seq_len);
    return 0;
}

static void s_apply_params(s_comp *c) {
    const Hierbert__Params *p = c->params->params;
    size_t n = c->m->params->numel;
    memcpy(c->m->params->data, p->params.data, n * sizeof(float));
    if (c->have_opt) {
        if (p->adam_m.len) {
            memcpy(c->opt.m, p->adam_m.data, n * sizeof(float));
            memcpy(c->opt.v, p->adam_v.data, n * sizeof(float));
        } else {
            memset(c->opt.m, 0, n * sizeof(float));
            memset(c->opt.v, 0, n * sizeof(float));
        }
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
    params_table *pt = c->m->params;
    if (t->eval) {
        for (int off = 0; off < n; off += (int)ms->batch) {
            int b = n - off < (int)ms->batch ? n - off : (int)ms->batch, hit = 0;
            double l = chunk_model_eval_batch(c->m, ids + (size_t)off * T, lens + off, labels + off, b, T, NULL, &hit);
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
        if (c->have_opt) c->opt.cfg = oc;
        const int32_t *sizes = (const int32_t *)t->step_sizes.data;
        int off = 0;
        for (uint32_t j = 0; j < t->steps; j++) {
            int b = sizes[j], hit = 0;
            if (b == 0) continue;
            float l = chunk_model_train_batch(c->m, ids + (size_t)off * T, lens + off, labels + off, b, T,
                                              t->rng_seed + j, &hit);
            if (isnan(l)) {
                snprintf(text, sizeof text, "job %llu: train task %u: model refused step %u (rows %d..%d)",
                         (unsigned long long)job, t->task_id, j, off, off + b - 1);
                s_error(c, job, PROTO_E_BAD_REQUEST, text);
                c->params_valid = 0;
                atomic_store(&c->wc->busy, 0);
                return;
            }
            long step = (long)(t->step0 + j + 1); /* global step, 1-based: the schedule's clock */
            if (c->have_opt) {
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
        c->params_valid = 0; /* weights moved past version `round` */
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
        u.params = proto_bytes(pt->data, pt->numel * sizeof(float));
        if (c->have_opt) {
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
    if (a->task_case != HIERBERT__ASSIGN__TASK_TRAIN) {
        s_error(c, job, PROTO_E_UNEXPECTED, "Assign(embed): this worker runs TRAIN tasks only (EMBED is issue 6)");
        proto_free(&c->task);
        return;
    }
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
        } else if (c->params->params->numel != c->m->params->numel) {
            char text[HB_ERR_LEN];
            snprintf(text, sizeof text, "Params: numel %llu, the job's model has %zu parameters",
                     (unsigned long long)c->params->params->numel, c->m->params->numel);
            s_error(c, job, PROTO_E_SHAPE, text);
            proto_free(&c->params);
        } else {
            s_apply_params(c);
            proto_free(&c->params);
        }
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
            ex.numel = c.m->params->numel;
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
        } else {
            proto_free(&m);
        }
        s_try(&c);
    }
    proto_free(&c.task);
    proto_free(&c.params);
    s_drop_model(&c);
    zmq_close(c.pipe);
    return NULL;
}
