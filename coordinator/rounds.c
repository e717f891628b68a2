/*
 * rounds.c - TRAIN by rounds of parameter averaging.
 *
 * Data order. Epoch e visits the training CHUNKS in a permutation drawn
 * from (seed, e): the epoch's stream. Optimizer step s of the epoch takes
 * the global batch stream[s*G, s*G+G). With W workers in a round, each
 * step's batch is cut into W contiguous, even slices; worker w gets slice w
 * of every step of the round. The union of what the workers see at each
 * step is therefore exactly the global batch, whatever W: with SGD and
 * sync_every = 1, averaging the workers' parameters weighted by their
 * sample counts equals one SGD step on the mean gradient of the global
 * batch - the same update a single worker with batch G computes (the
 * distributed equivalence test).
 *
 * Why chunks and not whole documents (DESIGN.md's "a document's chunks
 * stay together"): the chunk classifier's samples are chunks, each with its
 * document's label; a batch of one document's consecutive chunks carries
 * one label, and with G = 16 and long documents (Brown: 16 chunks a
 * document) every step pulled the classifier toward one class - it
 * collapsed to the majority class where the chunk-shuffling PyTorch
 * reference (tests/reference/pipeline_ref.py) learned. The rows travel with
 * each Assign anyway, so keeping a document on one worker bought nothing in
 * TRAIN; documents stay whole where it matters: EMBED (one message per
 * document) and HEAD (one sequence per document).
 *
 * Round r: every worker gets Params version r and an Assign of its slice.
 * Two ways to combine the workers' work (Submit.average):
 *
 *  - gradient averaging (the default when sync_every is 1): each worker
 *    runs forward and backward on its slice of the step's batch and sends
 *    the slice's mean gradient; the coordinator averages them (weights =
 *    samples, accumulated in double) - the mean gradient of the global
 *    batch - and takes the one optimizer step (clipping, AdamW moments and
 *    schedule are its own) to version r+1. That is exactly the step one
 *    worker with the whole batch takes, for AdamW as for SGD: AdamW's
 *    second moment is not linear in the gradient, so averaging the
 *    parameters of W AdamW steps on 1/W of the batch each is a different,
 *    smaller step (each worker's v sees a noisier gradient): with it the
 *    spam and Brown demos trailed the PyTorch reference's accuracy.
 *  - parameter averaging (sync_every > 1, or average params): each worker
 *    runs up to sync_every optimizer steps with its own AdamW moments and
 *    sends its parameters (and, on checkpoint rounds, its moments); the
 *    coordinator averages them weighted by samples (local SGD).
 *
 * When all Updates are in - or the workers that did not answer have expired
 * - the result is version r+1. A round never spans two epochs. After an
 * epoch's last round, an eval round splits the validation documents over
 * the workers (forward only) and records the epoch's validation chunk
 * accuracy; a lost eval task is reassigned.
 * Checkpoint every checkpoint_every rounds and at each epoch's end.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#include "coord.h"
#include "hb_log.h"
#include "optim.h"

static int s_task_lost(coord *c, coord_job *j, int ti, int w);
static void s_round_reset(coord *c, coord_job *j);
static void s_shard_rows(const coord_job *j, int k, int32_t *r0, int32_t *r1);

/* ------------------------------------------------------------------------ */
/* the coordinator's state marks (sharded reduction's rollback points) */

static void s_mark_into(const coord_job *j, coord_mark *k) {
    k->round = j->round;
    k->step = j->step;
    k->step_in_epoch = j->step_in_epoch;
    k->samples_done = j->samples_done;
    k->epoch = j->epoch;
    k->need_eval = j->need_eval;
    k->rounds_since_ckpt = j->rounds_since_ckpt;
    k->epoch_loss_sum = j->epoch_loss_sum;
    k->epoch_loss_n = j->epoch_loss_n;
    k->last_loss = j->last_loss;
}

static void s_mark(coord_job *j) {
    s_mark_into(j, &j->mark);
}

static void s_gather_drop(coord_job *j) {
    coord_gather *g = &j->gather;
    for (int k = 0; k < COORD_MAX_TASKS; k++) {
        proto_free(&g->held[k]);
        coord_raw_close(&g->raw[k]);
    }
    memset(g, 0, sizeof *g);
}

/* A sharded round that cannot complete (an owner lost, an unusable
 * exchange, a timeout): the shards' moments since the mark are gone with
 * it, so training goes back to the mark - the last version whose whole
 * state the coordinator holds - and the plan is made anew among whoever is
 * alive. The rounds since the mark run again with the same data (the epoch
 * order is a function of seed and epoch); no step is applied twice: the
 * step counter goes back with the parameters. */
static void s_rollback(coord *c, coord_job *j, const char *why) {
    const coord_mark *k = &j->mark;
    hb_log(c->who, "warn",
           "job %llu: %s: back to version %llu (step %ld, the last state the coordinator holds; %llu round(s) "
           "run again), shards re-split among the live workers",
           (unsigned long long)j->id, why, (unsigned long long)k->round, k->step,
           (unsigned long long)(j->round - k->round + (j->r.active ? 1 : 0)));
    s_round_reset(c, j);
    s_gather_drop(j); /* (a gather under way dies with the round: its version is past the mark) */
    j->round = k->round;
    j->step = k->step;
    j->step_in_epoch = k->step_in_epoch;
    j->samples_done = k->samples_done;
    j->epoch = k->epoch;
    j->need_eval = k->need_eval;
    j->rounds_since_ckpt = k->rounds_since_ckpt;
    j->epoch_loss_sum = k->epoch_loss_sum;
    j->epoch_loss_n = k->epoch_loss_n;
    j->last_loss = k->last_loss;
    j->state_valid = 1;
    j->plan.state = 0;
    j->train_rollbacks++;
}

/* Sharded reduction off for the rest of the job (the coordinator reduces). */
static void s_fallback(coord *c, coord_job *j, const char *why) {
    hb_log(c->who, "warn", "job %llu: sharded reduction off: %s: the coordinator reduces the gradients",
           (unsigned long long)j->id, why);
    snprintf(j->reduce_note, sizeof j->reduce_note, "%s", why);
    j->sharded = 0;
    j->plan.state = 0;
}

static uint64_t s_mix(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

double coord_job_progress(const coord_job *j) {
    if (j->state == JOB_DONE) return 1.0;
    if (j->state == JOB_EMBED || j->state == JOB_HEAD) return coord_phases_progress(j);
    if (j->total_steps <= 0) return 0.0;
    return (double)j->step / (double)j->total_steps;
}

static void *(*volatile s_memset)(void *, int, size_t) = memset;

static void s_ckpt_path(coord *c, const coord_job *j, char *out, size_t n) {
    char dir[1100];
    coord_job_dir(c, j->id, dir, sizeof dir);
    snprintf(out, n, "%s/checkpoint.bin", dir);
}

/* The checkpoint writer (a thread: the rounds go on while it writes; what
 * it reads - model->params, adam_m, adam_v - changes only after this join).
 * wait 0: only if it has ended. A failed write makes the next round a
 * checkpoint round again. */
static void s_ckpt_join(coord *c, coord_job *j, int wait) {
    int rc;
    long long ms;
    uint64_t round;
    char err[HB_ERR_LEN];
    if (!coord_checkpoint_join(&j->ckw, wait, &rc, err, &ms, &round)) return;
    if (rc) {
        hb_log(c->who, "error", "job %llu: %s (the next round writes one again)", (unsigned long long)j->id, err);
        j->rounds_since_ckpt = c->cfg.checkpoint_every;
        j->last_ckpt_ms = 0;
    } else if (c->cfg.verbose)
        hb_log(c->who, "info", "job %llu: checkpoint of version %llu written (%lld ms, beside the rounds)",
               (unsigned long long)j->id, (unsigned long long)round, ms);
}

void coord_train_join_writer(coord *c, coord_job *j) {
    s_ckpt_join(c, j, 1);
}

void coord_train_release(coord_job *j) {
    int rc;
    long long ms;
    uint64_t round;
    char err[HB_ERR_LEN];
    s_gather_drop(j);
    if (coord_checkpoint_join(&j->ckw, 1, &rc, err, &ms, &round) && rc)
        hb_log("hierbert-coordinator", "error", "job %llu: %s", (unsigned long long)j->id, err);
}

/* Starts writing the checkpoint of version k, whose state the coordinator
 * holds (the previous write joined first). */
static int s_checkpoint_of(coord *c, coord_job *j, const coord_mark *k) {
    char path[1200], err[HB_ERR_LEN];
    s_ckpt_join(c, j, 1);
    s_ckpt_path(c, j, path, sizeof path);
    coord_checkpoint ck = {.job_id = j->id,
                           .round = k->round,
                           .seed = j->seed,
                           .step = k->step,
                           .step_in_epoch = k->step_in_epoch,
                           .epoch = k->epoch,
                           .epochs = j->epochs,
                           .numel = j->model->params.numel,
                           .params = j->model->params.data,
                           .m = j->adam_m,
                           .v = j->adam_v,
                           .val_acc = j->val_acc,
                           .n_slices = j->n_slices,
                           .n_shards = j->n_shards,
                           .samples_done = k->samples_done,
                           .epoch_loss_sum = k->epoch_loss_sum,
                           .epoch_loss_n = k->epoch_loss_n};
    j->last_ckpt_ms = hb_now_ms();
    if (coord_checkpoint_start(&j->ckw, path, &ck, err)) {
        hb_log(c->who, "error", "job %llu: %s", (unsigned long long)j->id, err);
        return -1;
    }
    return 0;
}

static int s_checkpoint(coord *c, coord_job *j) {
    coord_mark k;
    s_mark_into(j, &k);
    if (s_checkpoint_of(c, j, &k)) return -1;
    j->rounds_since_ckpt = 0;
    return 0;
}

typedef struct {
    bert_model *m;
    const char *dir;
    int has_head, rc;
    char err[HB_ERR_LEN];
} s_load_ctx;

static void s_load_main(void *arg) {
    s_load_ctx *x = arg;
    x->rc = bert_load_dir_ex(x->m, x->dir, &x->has_head, x->err);
}

int coord_train_prepare(coord *c, coord_job *j, char *err) {
    const Hierbert__Submit *s = j->submit;
    bert_config *cfg = &j->cfg;
    char path[1200];
    if (s->model_dir[0]) {
        snprintf(path, sizeof path, "%s/config.json", s->model_dir);
        if (bert_config_read(cfg, path, err)) return -1;
    } else if (bert_config_preset(cfg, s->preset[0] ? s->preset : "tiny", err)) {
        return -1;
    }
    /* a random-init preset takes the job's vocabulary (the synthetic one is 256 tokens) */
    if (!s->model_dir[0]) cfg->vocab_size = j->corpus.vocab_size;
    if (s->dropout >= 0)
        cfg->hidden_dropout_prob = cfg->attention_probs_dropout_prob = cfg->classifier_dropout = s->dropout;
    if (cfg->vocab_size < j->corpus.vocab_size)
        return hb_fail(err, "the model's vocabulary (%d) is smaller than the dataset's (%d)", cfg->vocab_size,
                       j->corpus.vocab_size);
    if (j->corpus.L > cfg->max_position_embeddings)
        return hb_fail(err, "seq_len %d exceeds the model's max_position_embeddings %d", j->corpus.L,
                       cfg->max_position_embeddings);
    bert_destroy(&j->model);
    if (bert_new(&j->model, cfg, j->corpus.num_classes, 1, j->corpus.L, err)) return -1;
    if (s->model_dir[0]) {
        /* the client's path: read on a thread confined to the dataset roots
         * (a directory swapped for a symlink since the Submit's check is refused) */
        s_load_ctx x = {j->model, s->model_dir, 0, 0, ""};
        if (coord_confine_run(&c->confine, COORD_CONFINE_DATASETS, NULL, s_load_main, &x, err)) return -1;
        if (x.rc) return hb_fail(err, "%s", x.err);
        if (!x.has_head) bert_init_classifier(j->model, s->seed);
    } else {
        bert_init_random(j->model, s->seed);
    }
    j->seed = s->seed;
    j->L = j->corpus.L;
    j->G = s->batch ? (int)s->batch : 32;
    j->sync_every = s->sync_every ? (int)s->sync_every : 1;
    if (!strcmp(s->average, "grads") && j->sync_every > 1)
        return hb_fail(err, "average grads takes one optimizer step a round: sync_every %d", j->sync_every);
    j->avg_grads = s->average[0] ? !strcmp(s->average, "grads") : j->sync_every == 1;
    /* sharded reduction: gradient averaging only (parameter averaging's
     * rounds are K local steps; the coordinator averages them) */
    j->sharded = j->avg_grads && strcmp(s->reduce, "coordinator") != 0;
    snprintf(j->reduce_note, sizeof j->reduce_note, "%s",
             j->avg_grads ? (j->sharded ? "" : "submitted with reduce coordinator")
                          : "parameter averaging: the coordinator averages");
    memset(&j->plan, 0, sizeof j->plan);
    j->epochs = s->epochs ? (int)s->epochs : 1;
    j->min_workers = s->min_workers ? (int)s->min_workers : 1;
    j->steps_per_epoch = (long)((j->corpus.train.n + (size_t)j->G - 1) / (size_t)j->G);
    j->total_steps = j->steps_per_epoch * j->epochs;
    j->max_steps = s->max_steps;
    if (j->max_steps > 0 && j->max_steps < j->total_steps) j->total_steps = j->max_steps;
    j->warmup_steps = (long)(s->warmup * (float)j->total_steps);
    size_t numel = j->model->params.numel;
    j->numel = numel;
    free(j->adam_m);
    free(j->adam_v);
    j->adam_m = j->adam_v = NULL;
    if (!s->optimizer[0] || !strcmp(s->optimizer, "adamw")) {
        /* written now, not left to calloc's untouched pages: the first
         * gather would fault in 2 x 4P bytes inside the event loop (seconds
         * for bert-base, the heartbeats waiting) */
        j->adam_m = hb_malloc(numel * sizeof(float));
        j->adam_v = hb_malloc(numel * sizeof(float));
        s_memset(j->adam_m, 0, numel * sizeof(float)); /* (not folded into a calloc) */
        s_memset(j->adam_v, 0, numel * sizeof(float));
    }
    coord_train_free_buffers(j);
    j->we_view = params_find(&j->model->params, "embeddings.word_embeddings.weight");
    if (j->avg_grads) { /* float accumulation of the workers' (mostly row-sparse) gradients */
        j->grad = hb_calloc(numel, sizeof(float));
        if (j->we_view >= 0) {
            size_t V = (size_t)j->model->params.views[j->we_view].shape[0];
            j->row_mark = hb_calloc(V, 1);
            j->rows_touched = hb_malloc(V * sizeof(int32_t));
        }
    } else {
        j->acc = hb_calloc(numel, sizeof(double));
    }
    /* the workers' moments are averaged under parameter averaging only */
    j->acc_m = j->adam_m && !j->avg_grads ? hb_calloc(numel, sizeof(double)) : NULL;
    j->acc_v = j->adam_m && !j->avg_grads ? hb_calloc(numel, sizeof(double)) : NULL;
    for (int i = 0; i < COORD_MAX_WORKERS; i++) c->workers[i].moments_job = 0; /* moments of a fresh start */
    free(j->val_acc);
    j->val_acc = hb_malloc((size_t)j->epochs * sizeof(double));
    for (int e = 0; e < j->epochs; e++) j->val_acc[e] = -1;
    j->epoch = 0;
    j->step = j->step_in_epoch = 0;
    j->round = 0;
    j->need_eval = 0;
    j->n_slices = 0;
    j->n_shards = 0;
    j->rejoin_since_ms = 0;
    j->degraded = 0;
    j->samples_done = 0;
    j->epoch_loss_sum = j->epoch_loss_n = 0;
    j->order_epoch = -1;
    free(j->order);
    j->order = hb_malloc((j->corpus.train.n + 1) * sizeof(uint32_t));
    memset(&j->r, 0, sizeof j->r);

    /* resume from the checkpoint if there is one */
    s_ckpt_path(c, j, path, sizeof path);
    FILE *f = fopen(path, "rb");
    if (f) {
        fclose(f);
        coord_checkpoint ck;
        if (coord_checkpoint_read(path, &ck, err)) return -1;
        if (ck.job_id != j->id || ck.numel != numel || ck.epochs != j->epochs ||
            (ck.m != NULL) != (j->adam_m != NULL)) {
            coord_checkpoint_free(&ck);
            return hb_fail(err, "%s: belongs to another job or model (job %llu, %zu parameters)", path,
                           (unsigned long long)ck.job_id, ck.numel);
        }
        memcpy(j->model->params.data, ck.params, numel * sizeof(float));
        if (ck.m) {
            memcpy(j->adam_m, ck.m, numel * sizeof(float));
            memcpy(j->adam_v, ck.v, numel * sizeof(float));
        }
        memcpy(j->val_acc, ck.val_acc, (size_t)j->epochs * sizeof(double));
        j->round = ck.round;
        j->step = ck.step;
        j->step_in_epoch = ck.step_in_epoch;
        j->epoch = ck.epoch;
        j->seed = ck.seed;
        j->n_slices = ck.n_slices; /* (0 in a version 1-2 file: the next round's live workers) */
        j->n_shards = ck.n_shards; /* (0 in older files: the next plan's members) */
        j->samples_done = ck.samples_done;
        j->epoch_loss_sum = ck.epoch_loss_sum;
        j->epoch_loss_n = ck.epoch_loss_n;
        if (j->step_in_epoch >= j->steps_per_epoch || j->step >= j->total_steps)
            j->need_eval = j->epoch < j->epochs && j->val_acc[j->epoch] < 0;
        coord_checkpoint_free(&ck);
        hb_log(c->who, "info", "job %llu: resumed from %s: round %llu, step %ld of %ld, epoch %d",
               (unsigned long long)j->id, path, (unsigned long long)j->round, j->step, j->total_steps, j->epoch + 1);
    }
    j->state_valid = 1; /* initialized or resumed: the coordinator holds version `round` */
    j->last_ckpt_ms = hb_now_ms();
    s_mark(j);
    hb_log(c->who, "info",
           "job %llu: TRAIN %s, %zu parameters, %zu train chunks (%zu docs), %zu val chunks, L %d, global batch %d, "
           "%ld steps/epoch x %d epochs (%ld steps), %s%s, %s",
           (unsigned long long)j->id, "bert", numel, j->corpus.train.n, j->corpus.train.n_docs, j->corpus.val.n, j->L,
           j->G, j->steps_per_epoch, j->epochs, j->total_steps,
           j->avg_grads ? "gradient averaging (one step a round)" : "parameter averaging",
           j->sharded ? ", sharded reduction" : (j->avg_grads ? ", reduced by the coordinator" : ""),
           j->adam_m ? "adamw" : "sgd");
    if (!j->avg_grads && j->sync_every > 1)
        hb_log(c->who, "info", "job %llu: workers take %d steps between averagings", (unsigned long long)j->id,
               j->sync_every);
    return 0;
}

/* Where worker w's slice of the step batch stream[begin, begin+total)
 * starts (w = W: the end): an even split, every row to exactly one worker.
 * The union is the global batch, which is all the equivalence needs. */
static size_t s_cut(size_t begin, size_t total, int W, int w) {
    return begin + total * (size_t)w / (size_t)W;
}

/* The rows of slice s (of S) of each of the k steps from j->step_in_epoch:
 * idx[] their chunk indices in the training split, sizes[q] step q's
 * share; returns the count. A function of (seed, epoch, step, S, s): a
 * slice recomputed on another worker is the same slice. */
static uint32_t s_slice_rows(const coord_job *j, int S, int s, long k, uint32_t *idx, int32_t *sizes) {
    size_t n = j->corpus.train.n;
    uint32_t cnt = 0;
    for (long q = 0; q < k; q++) {
        size_t begin = (size_t)(j->step_in_epoch + q) * (size_t)j->G;
        size_t total = n - begin < (size_t)j->G ? n - begin : (size_t)j->G;
        size_t start = s_cut(begin, total, S, s), size = s_cut(begin, total, S, s + 1) - start;
        sizes[q] = (int32_t)size;
        for (size_t i = 0; i < size; i++) idx[cnt++] = j->order[start + i];
    }
    return cnt;
}

void coord_epoch_order(uint32_t *order, size_t n, uint64_t seed, int epoch) {
    for (size_t i = 0; i < n; i++) order[i] = (uint32_t)i;
    uint64_t s = seed * 0x9E3779B97F4A7C15ull + (uint64_t)epoch + 1;
    for (size_t i = n; i > 1; i--) { /* Fisher-Yates */
        size_t k = (size_t)(s_mix(&s) % i);
        uint32_t t = order[i - 1];
        order[i - 1] = order[k];
        order[k] = t;
    }
}

static void s_epoch_order(coord_job *j) {
    if (j->order_epoch == j->epoch) return;
    coord_epoch_order(j->order, j->corpus.train.n, j->seed, j->epoch);
    j->order_epoch = j->epoch;
}

static void s_config_to_wire(const bert_config *b, Hierbert__BertConfig *w) {
    hierbert__bert_config__init(w);
    w->vocab_size = (uint32_t)b->vocab_size;
    w->hidden_size = (uint32_t)b->hidden_size;
    w->num_hidden_layers = (uint32_t)b->num_hidden_layers;
    w->num_attention_heads = (uint32_t)b->num_attention_heads;
    w->intermediate_size = (uint32_t)b->intermediate_size;
    w->max_position_embeddings = (uint32_t)b->max_position_embeddings;
    w->type_vocab_size = (uint32_t)b->type_vocab_size;
    w->layer_norm_eps = b->layer_norm_eps;
    w->hidden_dropout_prob = b->hidden_dropout_prob;
    w->attention_probs_dropout_prob = b->attention_probs_dropout_prob;
    w->classifier_dropout = b->classifier_dropout;
}

/* The optimizer's settings for the job: what workers run with under
 * parameter averaging, what the coordinator runs with under gradient
 * averaging (one source for both). */
static optim_config s_optim(const coord_job *j) {
    const Hierbert__Submit *s = j->submit;
    optim_config oc = optim_default_config();
    oc.lr = s->lr > 0 ? s->lr : (j->adam_m ? 2e-5f : 0.1f);
    oc.warmup_steps = j->warmup_steps;
    oc.total_steps = j->steps_per_epoch * j->epochs;
    /* schedule, clip norm, weight decay: checked at Submit (optim_job_settings) */
    optim_job_settings(&oc, s->schedule, s->clip_norm_given ? s->clip_norm : -1.0f,
                       s->weight_decay_given ? s->weight_decay : -1.0f, j->adam_m != NULL, NULL);
    return oc;
}

static void s_model_spec(const coord_job *j, Hierbert__ModelSpec *ms, Hierbert__BertConfig *wc, int batch) {
    optim_config oc = s_optim(j);
    hierbert__model_spec__init(ms);
    s_config_to_wire(&j->cfg, wc);
    ms->config = wc;
    ms->num_classes = (uint32_t)j->corpus.num_classes;
    ms->seq_len = (uint32_t)j->L;
    ms->batch = (uint32_t)batch;
    ms->optimizer = j->adam_m ? "adamw" : "sgd";
    ms->lr = oc.lr;
    ms->warmup_steps = (uint64_t)oc.warmup_steps;
    ms->total_steps = (uint64_t)oc.total_steps;
    ms->weight_decay = oc.weight_decay;
    ms->clip_norm = oc.clip_norm;
    ms->schedule = (char *)optim_schedule_name(oc.schedule);
    ms->seed = j->seed;
    ms->numel = j->model->params.numel;
    ms->precision = j->submit->precision;
}

static void s_free_packed(void *data, void *hint) {
    (void)hint;
    free(data);
}

/* Params version j->round as one packed frame, shared by every send;
 * with_moments: the coordinator's AdamW moments too */
static void s_params_msg(const coord_job *j, int with_moments, zmq_msg_t *out) {
    proto_msg m;
    proto_env_init(&m, j->id);
    Hierbert__Params p = HIERBERT__PARAMS__INIT;
    size_t numel = j->model->params.numel;
    p.round = j->round;
    p.numel = numel;
    p.params = proto_bytes(j->model->params.data, numel * sizeof(float));
    if (j->adam_m && with_moments) {
        p.adam_m = proto_bytes(j->adam_m, numel * sizeof(float));
        p.adam_v = proto_bytes(j->adam_v, numel * sizeof(float));
        p.adam_step = (uint64_t)j->step;
    }
    m.body_case = HIERBERT__ENVELOPE__BODY_PARAMS;
    m.params = &p;
    size_t len;
    uint8_t *buf = proto_pack(&m, &len);
    zmq_msg_init_data(out, buf, len, s_free_packed, NULL); /* zmq owns it; copies share it */
}

static int s_send_params(coord *c, coord_job *j, int w, zmq_msg_t *packed) {
    coord_worker *k = &c->workers[w];
    if (!k->in_use || k->dropping) return -1; /* (dropped earlier in this round's sends) */
    zmq_msg_t copy;
    zmq_msg_init(&copy);
    zmq_msg_copy(&copy, packed); /* reference-counted: no copy of the floats */
    size_t len = zmq_msg_size(&copy);
    if (zmq_send(c->work, k->rid, k->rid_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
        zmq_msg_send(&copy, c->work, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close(&copy);
        coord_send_failed(c, w, "Params");
        return -1;
    }
    j->r.bytes_out += len;
    k->bytes_down += (double)len;
    return 0;
}

static long s_round_steps(const coord_job *j);

static void s_next_rows_free(coord_job *j) {
    free(j->nx_rows);
    free(j->nx_off);
    j->nx_rows = NULL;
    j->nx_off = NULL;
}

/* gathers rows idx[0..n) of split sp into a TrainTask's bulk arrays and sends
 * Params + Assign to worker w */
static int s_send_task(coord *c, coord_job *j, int w, int ti, const coord_split *sp, const uint32_t *idx, uint32_t n,
                       const int32_t *step_sizes, int steps, int eval, zmq_msg_t *params, zmq_msg_t *params_m) {
    int L = j->L;
    int32_t *ids = hb_malloc(((size_t)n * L + 1) * sizeof(int32_t)),
            *lens = hb_malloc(((size_t)n + 1) * sizeof(int32_t)),
            *labels = hb_malloc(((size_t)n + 1) * sizeof(int32_t));
    for (uint32_t i = 0; i < n; i++) {
        lens[i] = sp->lengths[idx[i]];
        labels[i] = sp->labels[idx[i]];
    }
    char err[HB_ERR_LEN];
    if (coord_corpus_rows(&j->corpus, sp, idx, n, ids, err)) {
        /* the store lost or changed a document: the job cannot go on (coord_jobs_tick fails it) */
        snprintf(j->fatal, sizeof j->fatal, "%s", err);
        free(ids);
        free(lens);
        free(labels);
        return -1;
    }
    Hierbert__ModelSpec ms;
    Hierbert__BertConfig wc;
    s_model_spec(j, &ms, &wc, j->r.per_worker_batch);
    Hierbert__TrainTask tt = HIERBERT__TRAIN_TASK__INIT;
    tt.round = j->round;
    tt.step0 = (uint64_t)j->r.step0;
    tt.steps = (uint32_t)steps;
    tt.n_samples = n;
    tt.ids = proto_bytes(ids, (size_t)n * L * sizeof(int32_t));
    tt.lengths = proto_bytes(lens, (size_t)n * sizeof(int32_t));
    tt.labels = proto_bytes(labels, (size_t)n * sizeof(int32_t));
    tt.eval = eval;
    tt.task_id = (uint32_t)ti;
    tt.rng_seed = j->seed ^ (j->round * 0x100000001b3ull) ^ ((uint64_t)ti << 48);
    if (!eval) {
        tt.step_sizes = proto_bytes(step_sizes, (size_t)steps * sizeof(int32_t));
        /* dropout keyed by (seed, step, chunk): the same masks whoever computes the slice, whenever */
        tt.sample_ids = proto_bytes(idx, (size_t)n * sizeof(uint32_t));
        tt.rng_seed = j->seed;
    }
    tt.want_moments = !eval && j->r.want_moments;
    tt.send_grad = !eval && j->avg_grads;
    if (!eval && j->r.sharded) {
        tt.shard_gen = j->plan.gen;
        tt.total_samples = j->r.step_total;
        /* a train round of the same plan comes next (no eval, not TRAIN's end) */
        tt.overlap_next = j->step_in_epoch + steps < j->steps_per_epoch && j->step + steps < j->total_steps;
    }
    int32_t *nx = NULL;
    uint32_t nx_counts[COORD_MAX_WORKERS];
    if (!eval && j->r.sharded && j->nx_off && ti < j->plan.W) { /* (task ti is member ti's slice) */
        /* each member's next rows inside this member's shard: it sends them after its step */
        int32_t r0, r1;
        s_shard_rows(j, ti, &r0, &r1);
        size_t o = 0;
        nx = hb_malloc(((size_t)j->nx_off[j->plan.W] + 1) * sizeof(int32_t));
        for (int k = 0; k < j->plan.W; k++) {
            nx_counts[k] = 0;
            if (k == ti) continue;
            for (uint32_t i = j->nx_off[k]; i < j->nx_off[k + 1]; i++)
                if (j->nx_rows[i] >= r0 && j->nx_rows[i] < r1) {
                    nx[o++] = j->nx_rows[i];
                    nx_counts[k]++;
                }
        }
        tt.next_rows = proto_bytes(nx, o * sizeof(int32_t));
        tt.next_counts = proto_bytes(nx_counts, (size_t)j->plan.W * sizeof(uint32_t));
    }
    Hierbert__Assign a = HIERBERT__ASSIGN__INIT;
    a.model = &ms;
    a.task_case = HIERBERT__ASSIGN__TASK_TRAIN;
    a.train = &tt;
    proto_msg m;
    proto_env_init(&m, j->id);
    m.body_case = HIERBERT__ENVELOPE__BODY_ASSIGN;
    m.assign = &a;
    /* a training worker without this job's moments gets them (built once per round) */
    int moments = !eval && j->adam_m && !j->avg_grads && c->workers[w].moments_job != j->id;
    if (moments && params_m && zmq_msg_size(params_m) == 0) {
        zmq_msg_close(params_m);
        s_params_msg(j, 1, params_m);
    }
    int rc = params ? s_send_params(c, j, w, moments && params_m ? params_m : params) : 0;
    if (rc == 0 && moments && params_m) c->workers[w].moments_job = j->id;
    if (rc == 0) {
        size_t len = hierbert__envelope__get_packed_size(&m);
        j->r.bytes_out += len;
        c->workers[w].bytes_down += (double)len;
        rc = coord_send_worker(c, w, &m);
    }
    free(ids);
    free(lens);
    free(labels);
    free(nx);
    if (rc == 0) c->workers[w].task = ti;
    return rc;
}

/* Sharded: the word-embedding rows of every slice of the next round, when
 * it is a train round of this plan (TrainTask.overlap_next) - the same
 * slicing s_start_train_round will do then - into j->nx_rows / nx_off.
 * Nothing (the owners push nothing, the row pull asks as before) when the
 * corpus cannot be read: that round's own start reports it. */
static void s_next_rows(coord_job *j, int W, long k) {
    if (j->we_view < 0 || W < 2 || !(j->step_in_epoch + k < j->steps_per_epoch && j->step + k < j->total_steps)) return;
    const long sie = j->step_in_epoch, step = j->step;
    j->step_in_epoch += k;
    j->step += k;
    long k2 = s_round_steps(j);
    size_t cap = (size_t)j->G * (size_t)k2, V = (size_t)j->model->params.views[j->we_view].shape[0], n_out = 0;
    uint32_t *idx = hb_malloc((cap + 1) * sizeof(uint32_t));
    int32_t *sizes = hb_malloc(((size_t)k2 + 1) * sizeof(int32_t)), *ids = hb_malloc((cap * (size_t)j->L + 1) * 4);
    uint8_t *seen = hb_calloc(V, 1);
    j->nx_off = hb_calloc((size_t)W + 1, sizeof(uint32_t));
    j->nx_rows = hb_malloc(((size_t)W * (V < cap * (size_t)j->L ? V : cap * (size_t)j->L) + 1) * sizeof(int32_t));
    char err[HB_ERR_LEN];
    int ok = 1;
    for (int sl = 0; sl < W && ok; sl++) {
        uint32_t cnt = s_slice_rows(j, W, sl, k2, idx, sizes);
        if (cnt && coord_corpus_rows(&j->corpus, &j->corpus.train, idx, cnt, ids, err)) {
            ok = 0;
            break;
        }
        for (size_t q = 0; q < (size_t)cnt * (size_t)j->L; q++)
            if ((size_t)ids[q] < V) seen[ids[q]] = 1;
        for (size_t r = 0; r < V; r++) /* sorted: as the worker lists its slice's rows */
            if (seen[r]) {
                j->nx_rows[n_out++] = (int32_t)r;
                seen[r] = 0;
            }
        j->nx_off[sl + 1] = (uint32_t)n_out;
    }
    j->step_in_epoch = sie;
    j->step = step;
    free(idx);
    free(sizes);
    free(ids);
    free(seen);
    if (!ok) s_next_rows_free(j);
}

static int s_workers(coord *c, const coord_job *j, int *list) {
    int n = 0;
    for (int i = 0; i < COORD_MAX_WORKERS && n < COORD_MAX_TASKS; i++)
        if (coord_worker_fits(j, &c->workers[i])) list[n++] = i;
    return n;
}

/* Sharded: the next plan's members, in shard order, at most the job's
 * shard count: the current plan's members first (their shards stay where
 * they are), then the other live workers in slot order. A worker beyond the
 * count waits: more shards would sum the gradients in another order. */
static int s_members(coord *c, const coord_job *j, int *list) {
    int wl[COORD_MAX_TASKS], used[COORD_MAX_TASKS] = {0};
    int W = s_workers(c, j, wl), n = j->n_shards > 0 && j->n_shards < W ? j->n_shards : W, m = 0;
    for (int k = 0; k < j->plan.W && m < n; k++)
        for (int i = 0; i < W; i++)
            if (!used[i] && wl[i] == j->plan.member[k]) {
                used[i] = 1;
                list[m++] = wl[i];
            }
    for (int i = 0; i < W && m < n; i++)
        if (!used[i]) {
            used[i] = 1;
            list[m++] = wl[i];
        }
    return m;
}

static void s_round_reset(coord *c, coord_job *j) {
    for (int t = 0; t < j->r.n_tasks; t++) {
        int w = j->r.task[t].worker;
        if (w >= 0 && c->workers[w].task == t) c->workers[w].task = -1;
    }
    for (int t = 0; t < COORD_MAX_TASKS; t++) proto_free(&j->r.held[t]);
    memset(&j->r, 0, sizeof j->r);
}

void coord_train_free_buffers(coord_job *j) {
    free(j->acc);
    free(j->acc_m);
    free(j->acc_v);
    free(j->grad);
    free(j->row_mark);
    free(j->rows_touched);
    j->acc = j->acc_m = j->acc_v = NULL;
    j->grad = NULL;
    j->row_mark = NULL;
    j->rows_touched = NULL;
    j->n_touched = 0;
    j->grad_dense = 0;
}

void coord_train_abort(coord *c, coord_job *j) {
    if (j->r.active) s_round_reset(c, j);
    s_gather_drop(j);
    s_ckpt_join(c, j, 1);
}

/* x[0..n) *= s, or = 0 when s is 0 */
static void s_scale(float *x, size_t n, float s) {
    if (s == 0) {
        memset(x, 0, n * sizeof(float));
        return;
    }
    for (size_t i = 0; i < n; i++) x[i] *= s;
}

/* j->grad *= s (0: cleared) over where it can be nonzero: everything but
 * the word-embedding matrix, and of that the rows written this round (all
 * of it after a dense Update). */
static void s_grad_scale(coord_job *j, float s) {
    const params_table *pt = &j->model->params;
    if (j->we_view < 0 || j->grad_dense) {
        s_scale(j->grad, pt->numel, s);
        return;
    }
    const params_view *v = &pt->views[j->we_view];
    size_t dim = (size_t)v->shape[1], end = v->offset + v->numel;
    s_scale(j->grad, v->offset, s);
    s_scale(j->grad + end, pt->numel - end, s);
    for (size_t k = 0; k < j->n_touched; k++) s_scale(j->grad + v->offset + (size_t)j->rows_touched[k] * dim, dim, s);
}

/* Gradient averaging keeps j->grad zero between rounds where nothing was written. */
static void s_grad_zero(coord_job *j) {
    s_grad_scale(j, 0);
    if (j->row_mark)
        for (size_t k = 0; k < j->n_touched; k++) j->row_mark[j->rows_touched[k]] = 0;
    j->n_touched = 0;
    j->grad_dense = 0;
}

/* 0 if an Update's gradient fits the model, else -1 (err) */
static int s_grad_check(const coord_job *j, const Hierbert__Update *u, char *err) {
    const params_table *pt = &j->model->params;
    if (!u->grad_rows.len) {
        if (u->grads.len != pt->numel * sizeof(float))
            return hb_fail(err, "grads has %zu floats, the model %zu", u->grads.len / 4, pt->numel);
        return 0;
    }
    if (j->we_view < 0) return hb_fail(err, "grad_rows, but the model has no word-embedding matrix");
    size_t n = u->grad_rows.len / 4, V = (size_t)pt->views[j->we_view].shape[0];
    const int32_t *rows = (const int32_t *)u->grad_rows.data;
    if (n > V) return hb_fail(err, "%zu word-embedding rows, the vocabulary has %zu", n, V);
    for (size_t k = 0; k < n; k++)
        if (rows[k] < 0 || (size_t)rows[k] >= V || (k && rows[k] <= rows[k - 1]))
            return hb_fail(err, "grad_rows[%zu] = %d: not a row after %d below %zu", k, rows[k], k ? rows[k - 1] : -1,
                           V);
    if (u->grads.len != params_sparse_len(pt, j->we_view, n) * sizeof(float))
        return hb_fail(err, "grads has %zu floats, %zu rows of the word embeddings need %zu", u->grads.len / 4, n,
                       params_sparse_len(pt, j->we_view, n));
    return 0;
}

/* adds one Update's gradient (s_grad_check'ed), weighted, into j->grad */
static int s_grad_add(coord_job *j, const Hierbert__Update *u, double wt, char *err) {
    const params_table *pt = &j->model->params;
    const float *g = (const float *)u->grads.data;
    if (s_grad_check(j, u, err)) return -1;
    if (!u->grad_rows.len) {
        for (size_t i = 0; i < pt->numel; i++) j->grad[i] += (float)wt * g[i];
        j->grad_dense = 1;
        return 0;
    }
    size_t n = u->grad_rows.len / 4;
    const int32_t *rows = (const int32_t *)u->grad_rows.data;
    params_sparse_axpy(pt, j->we_view, g, rows, n, (float)wt, j->grad);
    for (size_t k = 0; k < n; k++)
        if (!j->row_mark[rows[k]]) {
            j->row_mark[rows[k]] = 1;
            j->rows_touched[j->n_touched++] = rows[k];
        }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* sharded reduction: the plan (DESIGN.md "Sharded reduction") */

#define S_PLAN_PING_MS 3000       /* a member must hear from every peer within this */
#define S_PLAN_TIMEOUT_MS 30000   /* ShardReady from every member within this, or fall back */
#define S_PLAN_TRIES 4            /* plans in a row that fail before the job falls back */
#define S_ROUND_TIMEOUT_MS 120000 /* at least: a sharded round longer is abandoned (a peer link that died) */

/* W shards of the flat buffer, even in what travels, each a piece of every
 * band - the embeddings, then each encoder layer (the classifier with the
 * last) - so that what forward needs first, and what backward makes last,
 * comes from and goes to every owner at once (proto/shard_map.h). A step
 * moves each piece's dense floats whole (gradient in, parameters out), but
 * of the word embeddings only the rows the step touches (a few per cent:
 * row-sparse gradients, pulled rows), so a word-embedding float weighs
 * S_EMB_WEIGHT. Inside the word embeddings a cut falls on a row, elsewhere
 * on 16 floats. -1 when the model is too small for W shards. */
#define S_EMB_WEIGHT (1.0 / 16)

/* band [b0, b1)'s W + 1 cuts into c, weighed as above (view [e0, e1), dim floats a row) */
static void s_band_cuts(size_t b0, size_t b1, size_t e0, size_t e1, size_t dim, int W, uint64_t *c) {
    /* the view's part of the band */
    size_t v0 = e0 > b0 ? e0 : b0, v1 = e1 < b1 ? e1 : b1;
    if (v1 < v0) v0 = v1 = b0;
    const double we = S_EMB_WEIGHT, total = (double)(b1 - b0 - (v1 - v0)) + we * (double)(v1 - v0);
    c[0] = b0;
    c[W] = b1;
    for (int k = 1; k < W; k++) {
        double want = total * k / W; /* weight before the cut: floats before v0 count 1, inside we */
        size_t x;
        if (want <= (double)(v0 - b0))
            x = b0 + (size_t)want;
        else if (want <= (double)(v0 - b0) + we * (double)(v1 - v0))
            x = v0 + (size_t)((want - (double)(v0 - b0)) / we);
        else
            x = v1 + (size_t)(want - (double)(v0 - b0) - we * (double)(v1 - v0));
        if (x > v0 && x < v1)
            x = v0 + (x - v0 + dim / 2) / dim * dim;
        else if ((x & ~(size_t)15) > v0 && x >= v1 && (x & ~(size_t)15) < v1)
            x = v1; /* (rounding down would cut a row: the view's end) */
        else
            x &= ~(size_t)15;
        if (x < c[k - 1]) x = c[k - 1];
        c[k] = x > b1 ? b1 : x;
    }
}

static int s_bounds(const coord_job *j, int W, coord_plan *p) {
    const bert_model *m = j->model;
    const params_table *pt = &m->params;
    const params_view *v = j->we_view >= 0 ? &pt->views[j->we_view] : NULL;
    const size_t n = pt->numel, e0 = v ? v->offset : 0, e1 = v ? v->offset + v->numel : 0;
    const size_t dim = v ? (size_t)v->shape[1] : 1;
    const int L = m->cfg.num_hidden_layers;
    /* band starts: 0 (the embeddings), each layer's first tensor */
    int nb = 1 + L;
    size_t *start = hb_malloc(((size_t)nb + 1) * sizeof *start);
    start[0] = 0;
    for (int l = 0; l < L; l++) start[l + 1] = m->layer[l].q_w;
    start[nb] = n;
    free(p->cuts);
    shard_map_free(&p->map);
    p->cuts = hb_calloc((size_t)nb * ((size_t)W + 1), sizeof *p->cuts);
    p->nb = nb;
    for (int b = 0; b < nb; b++)
        s_band_cuts(start[b], start[b + 1], e0, e1, dim, W, p->cuts + (size_t)b * ((size_t)W + 1));
    free(start);
    char why[200];
    return shard_map_init(&p->map, W, nb, p->cuts, n, why, sizeof why);
}

/* owner k's floats of a flat buffer, ascending, into a new buffer */
static float *s_shard_gather(const coord_plan *p, int k, const float *flat) {
    float *out = hb_malloc(shard_map_size(&p->map, k) * sizeof(float) + 4);
    shard_map_gather(&p->map, k, flat, out);
    return out;
}

/* the rows of the word embeddings shard k holds: [*r0, *r1) */
static void s_shard_rows(const coord_job *j, int k, int32_t *r0, int32_t *r1) {
    *r0 = *r1 = 0;
    for (int b = 0; b < j->plan.nb && j->we_view >= 0; b++) {
        size_t a, e;
        shard_map_seg(&j->plan.map, k, b, &a, &e);
        int32_t x0, x1;
        params_sparse_range_rows(&j->model->params, j->we_view, a, e, &x0, &x1);
        if (x1 > x0) {
            *r0 = x0;
            *r1 = x1;
        }
    }
}

static int s_send_plan(coord *c, coord_job *j, int k) {
    coord_plan *p = &j->plan;
    int w = p->member[k];
    char *peers[COORD_MAX_WORKERS];
    char *pubs[COORD_MAX_WORKERS];
    for (int i = 0; i < p->W; i++) {
        peers[i] = c->workers[p->member[i]].peer;
        pubs[i] = c->workers[p->member[i]].peer_public;
    }
    Hierbert__ModelSpec ms;
    Hierbert__BertConfig wc;
    s_model_spec(j, &ms, &wc, j->G);
    Hierbert__ShardPlan sp = HIERBERT__SHARD_PLAN__INIT;
    sp.gen = p->gen;
    sp.index = (uint32_t)k;
    sp.n_peers = (size_t)p->W;
    sp.peers = peers;
    sp.bounds = proto_bytes(p->cuts, (size_t)p->nb * ((size_t)p->W + 1) * sizeof(uint64_t));
    sp.n_bands = (uint32_t)p->nb;
    sp.round = j->round;
    sp.numel = j->model->params.numel;
    const size_t S = shard_map_size(&p->map, k);
    float *sh[3] = {s_shard_gather(p, k, j->model->params.data), NULL, NULL};
    sp.params = proto_bytes(sh[0], S * sizeof(float)); /* the rest: from the peers */
    if (j->adam_m && j->step > 0) { /* (before the first step they are zeros: the worker makes them) */
        sh[1] = s_shard_gather(p, k, j->adam_m);
        sh[2] = s_shard_gather(p, k, j->adam_v);
        sp.adam_m = proto_bytes(sh[1], S * sizeof(float));
        sp.adam_v = proto_bytes(sh[2], S * sizeof(float));
    }
    sp.model = &ms;
    sp.ping_ms = S_PLAN_PING_MS;
    sp.wire_bf16 = !strcmp(j->submit->wire, "bf16");
    if (pubs[0][0]) { /* CurveZMQ between the members (s_plan_tick: all of them have keys, or none) */
        sp.n_peer_public = (size_t)p->W;
        sp.peer_public = pubs;
    }
    proto_msg m;
    proto_env_init(&m, j->id);
    m.body_case = HIERBERT__ENVELOPE__BODY_SHARD_PLAN;
    m.shard_plan = &sp;
    double len = (double)hierbert__envelope__get_packed_size(&m);
    c->workers[w].bytes_down += len;
    j->train_bytes_down += len; /* (a plan is TRAIN's, outside any round) */
    int rc = coord_send_worker(c, w, &m);
    for (int i = 0; i < 3; i++) free(sh[i]);
    return rc;
}

/* A plan its members could not set up: a peer not heard from within the
 * ping, a confirmation missing. A link slow or down for a moment - a
 * straggler, a partition, a stopped process - must not end the sharded
 * reduction for the job: the coordinator's sums are in another order, and
 * the run would no longer be its seed's (a chaos trial, seed 5104012: a
 * worker's link throttled as the first plan went out). The plan is made
 * again, a new generation, S_PLAN_TRIES in all (each waits S_PLAN_PING_MS
 * for the peers: ~10 s); then the coordinator reduces (workers on subnets
 * that do not route to each other, a firewall). */
static void s_plan_failed(coord *c, coord_job *j, const char *why) {
    coord_plan *p = &j->plan;
    if (++p->failed >= S_PLAN_TRIES) {
        s_fallback(c, j, why);
        return;
    }
    hb_log(c->who, "info", "job %llu: shard plan %llu failed (%s): a new plan (%d of %d)", (unsigned long long)j->id,
           (unsigned long long)p->gen, why, p->failed + 1, S_PLAN_TRIES);
    p->state = 0; /* (the next tick makes it) */
}

/* 1 when the plan fits the round about to start; else it is being made (0) */
static int s_plan_tick(coord *c, coord_job *j) {
    coord_plan *p = &j->plan;
    long long now = hb_now_ms();
    if (p->state == 1) {
        if (now - p->sent_ms > S_PLAN_TIMEOUT_MS) {
            char why[128];
            snprintf(why, sizeof why, "%d of %d workers did not confirm the shard plan within %d ms", p->W - p->ready,
                     p->W, S_PLAN_TIMEOUT_MS);
            s_plan_failed(c, j, why);
        }
        return 0;
    }
    int wl[COORD_MAX_TASKS];
    int W = s_members(c, j, wl);
    if (p->state == 2) {
        /* members stay until the coordinator holds the whole state again:
         * a worker that joined meanwhile waits for the next checkpoint */
        if (!j->state_valid) return 1;
        int same = W == p->W;
        for (int k = 0; same && k < W; k++) same = p->member[k] == wl[k];
        if (same) return 1;
        hb_log(c->who, "info", "job %llu: workers changed (%d -> %d): a new shard plan", (unsigned long long)j->id,
               p->W, W);
    }
    for (int k = 0; k < W; k++)
        if (!c->workers[wl[k]].peer[0] || !c->workers[wl[k]].peer_public[0] != !c->workers[wl[0]].peer_public[0]) {
            char why[300];
            snprintf(why, sizeof why, "worker %.200s has %s", c->workers[wl[k]].id,
                     c->workers[wl[k]].peer[0]
                         ? "CurveZMQ on its peer endpoint and another member has not (or the other way)"
                         : "no peer endpoint");
            s_fallback(c, j, why);
            return 0;
        }
    if (s_bounds(j, W, p)) {
        s_fallback(c, j, "the model is too small to cut into one shard per worker");
        return 0;
    }
    /* generations grow across restarts too (time-based start): a peer's
     * message from an older coordinator's plan is never taken for a new one */
    p->gen = p->gen ? p->gen + 1 : ((uint64_t)time(NULL) << 16);
    if (!j->n_shards) j->n_shards = W; /* the job's shard count from now on (s_members) */
    p->W = W;
    memcpy(p->member, wl, (size_t)W * sizeof(int));
    p->ready = 0;
    p->state = 1;
    p->sent_ms = now;
    for (int k = 0; k < W; k++)
        if (s_send_plan(c, j, k)) {
            p->state = 0; /* a member went away: again next tick */
            return 0;
        }
    hb_log(c->who, "info",
           "job %llu: shard plan %llu: %d shards of ~%.1f M floats, a piece of each of %d bands, version %llu",
           (unsigned long long)j->id, (unsigned long long)p->gen, W, (double)j->model->params.numel / W / 1e6, p->nb,
           (unsigned long long)j->round);
    return 0;
}

void coord_on_shard_ready(coord *c, int w, const proto_msg *m) {
    if (c->active < 0) return;
    coord_job *j = c->jobs[c->active];
    coord_plan *p = &j->plan;
    const Hierbert__ShardReady *r = m->shard_ready;
    int k = -1;
    for (int i = 0; i < p->W; i++)
        if (p->member[i] == w) k = i;
    if (m->job_id != j->id || p->state != 1 || r->gen != p->gen || k < 0) return; /* a stale answer */
    if (!r->ok) {
        char why[HB_ERR_LEN];
        snprintf(why, sizeof why, "worker %.100s cannot reach its peers: %.300s", c->workers[w].id, r->error);
        s_plan_failed(c, j, why);
        return;
    }
    if (++p->ready == p->W) {
        p->state = 2;
        p->failed = 0;
        hb_log(c->who, "info", "job %llu: shard plan %llu ready: every worker reaches every other",
               (unsigned long long)j->id, (unsigned long long)p->gen);
    }
}

static int s_plan_member(const coord_job *j, int w) {
    for (int i = 0; i < j->plan.W; i++)
        if (j->plan.member[i] == w) return i;
    return -1;
}

/* A worker's Error while a job is active. Its job id is the active job's,
 * or 0: the worker could not read a frame far enough to name its job (a
 * decode refusal - the coordinator built a frame its worker does not take).
 * A refusal - of a frame, or of its task by the model (a bad request,
 * training that diverged) - would come again if the same bytes were sent
 * again: the job fails with the worker's reason; it does not wait for a
 * result that never comes (a refused Assign only logged left the job
 * waiting for good). The rest (SHAPE, STATE: a sharded exchange that
 * failed, a task under a plan the worker lacks) rolls a sharded round its
 * member was in back, or is logged only (it came after its round). */
void coord_on_worker_error(coord *c, int w, const proto_msg *m) {
    coord_job *j = c->jobs[c->active];
    uint32_t code = m->error->code;
    if (m->job_id != j->id && m->job_id != 0) return; /* another job's (logged) */
    if (j->state != JOB_TRAIN && j->state != JOB_EMBED && j->state != JOB_HEAD) return;
    int refusal = !m->job_id || code == PROTO_E_BAD_REQUEST || code == PROTO_E_MALFORMED || code == PROTO_E_TOO_BIG ||
                  code == PROTO_E_VERSION || code == PROTO_E_UNEXPECTED;
    char why[HB_ERR_LEN];
    if (!refusal) {
        if (j->r.active && j->r.sharded && s_plan_member(j, w) >= 0) {
            snprintf(why, sizeof why, "worker %.100s failed its sharded round: %.300s", c->workers[w].id,
                     m->error->message);
            s_rollback(c, j, why);
        }
        return;
    }
    snprintf(why, sizeof why, "worker %.100s%s: %.360s", c->workers[w].id, m->job_id ? "" : " refused a frame",
             m->error->message);
    coord_train_abort(c, j);
    coord_job_set_state(c, j, JOB_FAILED, why);
}

/* the optimizer steps of the next round */
static long s_round_steps(const coord_job *j) {
    long k = j->sync_every;
    if (k > j->steps_per_epoch - j->step_in_epoch) k = j->steps_per_epoch - j->step_in_epoch;
    if (k > j->total_steps - j->step) k = j->total_steps - j->step;
    return k;
}

/* a periodic checkpoint is due after the next round: checkpoint_every
 * rounds since the last, and checkpoint_min_s seconds (a round of a
 * fraction of a second must not pay a gather and a file every few seconds) */
static int s_ckpt_due(const coord *c, const coord_job *j) {
    return j->rounds_since_ckpt + 1 >= c->cfg.checkpoint_every &&
           hb_now_ms() - j->last_ckpt_ms >= 1000LL * c->cfg.checkpoint_min_s;
}

/* the next round (of k steps) ends with a checkpoint */
static int s_round_ckpt(const coord *c, const coord_job *j, long k) {
    return s_ckpt_due(c, j) || j->step_in_epoch + k >= j->steps_per_epoch || j->step + k >= j->total_steps;
}

/* A gather complete (its round done, every shard in): the coordinator
 * holds version g->mark.round - the new mark - and writes its checkpoint
 * (unless an eval comes first: it writes one with the epoch's accuracy). */
static void s_gather_try(coord *c, coord_job *j) {
    coord_gather *g = &j->gather;
    if (!g->active || !g->round_done || g->in < g->W) return;
    s_ckpt_join(c, j, 1); /* (the last write read these buffers) */
    float *p = j->model->params.data;
    for (int k = 0; k < g->W; k++) {
        const Hierbert__ShardState *st = g->held[k]->shard_state;
        coord_raw *rf = &g->raw[k]; /* (sizes checked on arrival; the plan is the gather's: same gen) */
        shard_map_scatter(&j->plan.map, k, st->raw ? zmq_msg_data(&rf->f[0]) : (const float *)st->params.data, p);
        if (j->adam_m) {
            shard_map_scatter(&j->plan.map, k, st->raw ? zmq_msg_data(&rf->f[1]) : (const float *)st->adam_m.data,
                              j->adam_m);
            shard_map_scatter(&j->plan.map, k, st->raw ? zmq_msg_data(&rf->f[2]) : (const float *)st->adam_v.data,
                              j->adam_v);
        }
    }
    coord_mark k = g->mark;
    long long late = hb_now_ms() - g->done_ms;
    s_gather_drop(j);
    j->mark = k;
    j->state_valid = j->round == k.round;
    if (c->cfg.verbose)
        hb_log(c->who, "info",
               "job %llu: gather of version %llu complete (%lld ms after its round; %llu round(s) since)",
               (unsigned long long)j->id, (unsigned long long)k.round, late, (unsigned long long)(j->round - k.round));
    if (!k.need_eval) s_checkpoint_of(c, j, &k);
}

void coord_on_shard_state(coord *c, int w, proto_msg **mp, coord_raw *raw) {
    if (c->active < 0) return;
    coord_job *j = c->jobs[c->active];
    const Hierbert__ShardState *st = (*mp)->shard_state;
    coord_gather *g = &j->gather;
    int k = (int)st->index;
    if ((*mp)->job_id != j->id || !g->active || st->gen != g->gen || st->round != g->round || k >= g->W ||
        j->plan.gen != g->gen || j->plan.member[k] != w || g->held[k]) {
        hb_log(c->who, "info", "ignoring a stale ShardState from %s (job %llu, round %llu, shard %u)", c->workers[w].id,
               (unsigned long long)(*mp)->job_id, (unsigned long long)st->round, st->index);
        return;
    }
    /* the state in the fields, or in raw frames of exactly the shard's size */
    int moments = st->raw ? raw->n == 3 : st->adam_m.len > 0;
    size_t want = (size_t)(st->shard_hi - st->shard_lo) * sizeof(float);
    int raw_bad = 0;
    if (st->raw) {
        raw_bad = raw->extra || (raw->n != 1 && raw->n != 3);
        for (int i = 0; i < raw->n; i++) raw_bad |= zmq_msg_size(&raw->f[i]) != want;
    }
    const size_t *base = j->plan.map.base; /* (shard space: proto/shard_map.h) */
    if (st->shard_lo != base[k] || st->shard_hi != base[k + 1] || (j->adam_m != NULL) != moments || raw_bad) {
        char why[300];
        snprintf(why, sizeof why, "%.100s sent shard [%llu, %llu)%s, the plan's shard %d is [%llu, %llu)",
                 c->workers[w].id, (unsigned long long)st->shard_lo, (unsigned long long)st->shard_hi,
                 raw_bad                          ? " (raw frames of the wrong number or size)"
                 : (j->adam_m != NULL) != moments ? " (moments missing or unexpected)"
                                                  : "",
                 k, (unsigned long long)base[k], (unsigned long long)base[k + 1]);
        s_rollback(c, j, why);
        return;
    }
    g->held[k] = *mp;
    *mp = NULL;
    for (int i = 0; i < raw->n; i++) { /* (moved: the caller's closes nothing) */
        zmq_msg_init(&g->raw[k].f[i]);
        zmq_msg_move(&g->raw[k].f[i], &raw->f[i]);
    }
    g->raw[k].n = raw->n;
    coord_raw_close(raw);
    g->in++;
    s_gather_try(c, j);
}

/* A round's start sends its tasks one by one, and a send that finds its
 * worker gone drops it (coord_send_failed) - while the round is not yet
 * active, so coord_on_worker_lost moved none of its tasks. Tasks an earlier
 * send gave that worker (it had two slices) wait for a worker again here
 * (coord_train_tick hands them on): left with the dropped slot, the round
 * waited for an Update that would never come. */
static void s_start_orphans(coord *c, coord_job *j) {
    coord_round *r = &j->r;
    for (int ti = 0; ti < r->n_tasks; ti++) {
        coord_task *t = &r->task[ti];
        if (t->worker < 0 || c->workers[t->worker].in_use) continue;
        hb_log(c->who, "info",
               "job %llu: round %llu: %s task %d waits for a worker (its worker was dropped as the round began)",
               (unsigned long long)j->id, (unsigned long long)r->round, r->eval ? "eval" : "train", ti);
        t->worker = -1;
    }
}

static void s_start_train_round(coord *c, coord_job *j) {
    int wl[COORD_MAX_TASKS];
    int W = s_workers(c, j, wl);
    int sharded = j->r_sharded_next;
    if (sharded) { /* the plan's members, in shard order */
        W = j->plan.W;
        memcpy(wl, j->plan.member, (size_t)W * sizeof(int));
    }
    s_epoch_order(j);
    size_t n = j->corpus.train.n;
    long k = s_round_steps(j);
    coord_round *r = &j->r;
    memset(r, 0, sizeof *r);
    r->round = j->round;
    r->step0 = j->step;
    r->steps = (int)k;
    /* G, not ceil(G/W): a worker's model keeps one shape when W changes */
    r->per_worker_batch = j->G;
    r->started_ms = hb_now_ms();
    r->sharded = sharded;
    size_t numel = j->model->params.numel;
    /* moments come back (and are averaged) when this round ends with a
     * checkpoint; sharded, the owners send their shards' whole state then */
    int ckpt = s_round_ckpt(c, j, k);
    if (ckpt) j->last_ckpt_ms = r->started_ms;
    r->want_moments = ckpt && (sharded || (j->adam_m && !j->avg_grads));
    if (sharded) {
        /* the workers hold version `round`: no Params; a checkpoint
         * round's shards follow their Updates (the gather) */
        if (r->want_moments) {
            coord_gather *g = &j->gather;
            s_gather_drop(j);
            g->active = 1;
            g->gen = j->plan.gen;
            g->round = r->round;
            g->W = j->plan.W;
        }
    } else if (j->avg_grads)
        s_grad_zero(j);
    else
        memset(j->acc, 0, numel * sizeof(double));
    if (r->want_moments && !sharded) {
        memset(j->acc_m, 0, numel * sizeof(double));
        memset(j->acc_v, 0, numel * sizeof(double));
    }
    zmq_msg_t params, params_m;
    if (sharded)
        zmq_msg_init(&params);
    else
        s_params_msg(j, 0, &params);
    zmq_msg_init(&params_m);                                         /* built on first need */
    size_t step_total = n - (size_t)j->step_in_epoch * (size_t)j->G; /* sharded: the step's samples */
    if (step_total > (size_t)j->G) step_total = (size_t)j->G;
    r->step_total = (uint32_t)step_total;
    uint32_t *idx = hb_malloc(((size_t)j->G * (size_t)k + 1) * sizeof(uint32_t));
    int32_t *sizes = hb_malloc((size_t)k * sizeof(int32_t));
    /* Sharded: slice w is shard owner w's. Reduced by the coordinator: the
     * job's fixed slice count, dealt round-robin to the live workers (a
     * worker may compute two): the slices, hence the gradient sums, do not
     * depend on who is alive; a slice whose worker is lost goes to another
     * (s_task_lost) and the round waits for every slice. */
    if (!sharded && !j->n_slices) j->n_slices = W;
    int S = sharded ? W : j->n_slices;
    r->slices = S;
    if (sharded) s_next_rows(j, W, k);
    for (int sl = 0; sl < S; sl++) {
        uint32_t cnt = s_slice_rows(j, S, sl, k, idx, sizes);
        if (cnt == 0 && !sharded) continue; /* (a shard owner takes part with no samples) */
        int ti = r->n_tasks++, w = wl[sl % W];
        r->task[ti].worker = w;
        r->task[ti].start = (uint32_t)sl;
        r->task[ti].count = cnt;
        int rc =
            s_send_task(c, j, w, ti, &j->corpus.train, idx, cnt, sizes, (int)k, 0, sharded ? NULL : &params, &params_m);
        /* the send found a member gone and its loss rolled the job back to
         * its mark, zeroing this round (coord_on_worker_lost: the round is
         * not active yet): nothing more goes out from that state (it sent
         * an Assign of batch 0, and the job hung); the next tick plans again */
        if (sharded && r->n_tasks == 0) break;
        if (rc) r->task[ti].worker = -1;
        if (rc == 0 || !sharded) r->pending++; /* (an unsent slice waits for a worker: coord_train_tick) */
    }
    s_next_rows_free(j);
    zmq_msg_close(&params);
    zmq_msg_close(&params_m);
    free(idx);
    free(sizes);
    if (sharded && r->n_tasks == 0) return;   /* (rolled back during the sends: above) */
    if (sharded && r->pending < r->n_tasks) { /* a member went away: the plan no longer holds */
        s_rollback(c, j, "a shard owner could not be sent its task");
        return;
    }
    if (!sharded) s_start_orphans(c, j);
    r->active = r->pending > 0;
    if (!r->active) s_round_reset(c, j);
}

/* eval task ti covers validation documents [a, b): send it to worker w */
static int s_send_eval(coord *c, coord_job *j, int ti, int w) {
    const coord_split *v = &j->corpus.val;
    coord_task *t = &j->r.task[ti];
    uint32_t *idx = hb_malloc(((size_t)t->count + 1) * sizeof(uint32_t));
    for (uint32_t i = 0; i < t->count; i++) idx[i] = t->start + i;
    zmq_msg_t params;
    s_params_msg(j, 0, &params);
    int rc = s_send_task(c, j, w, ti, v, idx, t->count, NULL, 0, 1, &params, NULL);
    zmq_msg_close(&params);
    free(idx);
    t->worker = rc == 0 ? w : -1;
    return rc;
}

/* Eval task ti to a live worker other than `avoid` (one whose send failed,
 * or that was lost): 0 sent; -1 none could take it (coord_train_tick
 * retries: the round waits for every task, its sums must not depend on
 * who was reachable). */
static int s_eval_elsewhere(coord *c, coord_job *j, int ti, int avoid) {
    for (int k = 0; k < COORD_MAX_WORKERS; k++)
        if (k != avoid && coord_worker_fits(j, &c->workers[k]) && s_send_eval(c, j, ti, k) == 0) {
            hb_log(c->who, "info", "job %llu: eval task %d sent to %s", (unsigned long long)j->id, ti,
                   c->workers[k].id);
            return 0;
        }
    return -1;
}

static void s_start_eval_round(coord *c, coord_job *j) {
    int wl[COORD_MAX_TASKS];
    int W = s_workers(c, j, wl);
    const coord_split *v = &j->corpus.val;
    coord_round *r = &j->r;
    memset(r, 0, sizeof *r);
    r->eval = 1;
    r->round = j->round;
    r->step0 = j->step;
    r->per_worker_batch = j->G; /* as in training: the workers keep their model */
    r->started_ms = hb_now_ms();
    /* whole documents per task: documents [d0, d1) -> their chunk range;
     * as many tasks as TRAIN's slices (the loss sums' bits do not depend on
     * who is alive), dealt round-robin */
    int S = j->n_slices > 0 ? j->n_slices : W;
    for (int sl = 0; sl < S; sl++) {
        size_t d0 = v->n_docs * (size_t)sl / (size_t)S, d1 = v->n_docs * (size_t)(sl + 1) / (size_t)S;
        if (d1 <= d0) continue;
        uint32_t start = v->doc_start[d0], end = v->doc_start[d1 - 1] + v->doc_count[d1 - 1];
        int ti = r->n_tasks++;
        r->task[ti].start = start;
        r->task[ti].count = end - start;
        r->pending++; /* (a task that could not be sent waits: s_eval_elsewhere) */
        if (s_send_eval(c, j, ti, wl[sl % W])) s_eval_elsewhere(c, j, ti, wl[sl % W]);
    }
    s_start_orphans(c, j);
    r->active = r->pending > 0;
    if (!r->active) s_round_reset(c, j);
}

static void s_finish_eval(coord *c, coord_job *j) {
    coord_round *r = &j->r;
    double acc = r->n_samples ? (double)r->n_correct / (double)r->n_samples : 0;
    if (j->epoch < j->epochs) j->val_acc[j->epoch] = acc;
    if (j->epoch_loss_n > 0) coord_job_epoch_loss(j, j->epoch, j->epoch_loss_sum / j->epoch_loss_n);
    hb_log(c->who, "info", "job %llu: epoch %d: validation chunk accuracy %.4f (%ld chunks), val loss %.4f",
           (unsigned long long)j->id, j->epoch + 1, acc, r->n_samples, r->n_samples ? r->loss_sum / r->n_samples : 0);
    s_round_reset(c, j);
    j->need_eval = 0;
    if (j->step_in_epoch >= j->steps_per_epoch) {
        j->epoch++;
        j->step_in_epoch = 0;
    }
    s_checkpoint(c, j);
    s_mark(j);
    coord_publish_job(c, j, "epoch");
}

/* Gradient averaging: one optimizer step with the round's mean gradient
 * j->grad - the worker's step (worker/compute.c) for the whole batch. */
static double s_step(coord_job *j) {
    optim_config oc = s_optim(j);
    params_table *pt = &j->model->params;
    long step = j->step + 1; /* 1-based: the schedule's clock */
    if (j->adam_m) {
        adamw_state st = {.cfg = oc, .m = j->adam_m, .v = j->adam_v, .step = step - 1};
        if (oc.clip_norm <= 0) {
            adamw_step(&st, pt, pt->data, j->grad);
            return -1;
        }
        return adamw_step(&st, pt, pt->data, j->grad);
    }
    double norm = oc.clip_norm > 0 ? optim_clip_global_norm(pt, j->grad, oc.clip_norm) : -1;
    sgd_step(pt, pt->data, j->grad, optim_lr_at(&oc, step));
    return norm;
}

static void s_finish_train(coord *c, coord_job *j) {
    coord_round *r = &j->r;
    if (r->weight <= 0) { /* every update lost: the round runs again */
        hb_log(c->who, "warn", "job %llu: round %llu lost all its updates: running it again", (unsigned long long)j->id,
               (unsigned long long)j->round);
        s_round_reset(c, j);
        return;
    }
    size_t numel = j->model->params.numel;
    float *p = j->model->params.data;
    double inv = 1.0 / r->weight;
    if (!r->sharded) s_ckpt_join(c, j, 1); /* the coordinator moves the weights the last write reads */
    if (r->sharded) {
        /* the owners stepped: the workers hold version round+1; the
         * coordinator too once a checkpoint round's gather is in */
        j->state_valid = 0;
    } else if (j->avg_grads) {
        s_grad_scale(j, (float)inv);
        r->grad_norm = s_step(j);
        j->state_valid = 1; /* the coordinator stepped: it holds version round+1 */
    } else {
        for (size_t i = 0; i < numel; i++) p[i] = (float)(j->acc[i] * inv);
    }
    if (r->want_moments && !r->sharded)
        for (size_t i = 0; i < numel; i++) {
            j->adam_m[i] = (float)(j->acc_m[i] * inv);
            j->adam_v[i] = (float)(j->acc_v[i] * inv);
        }
    long long now = hb_now_ms();
    double dt = (double)(now - r->started_ms) / 1000.0;
    j->round++;
    j->step += r->steps;
    j->step_in_epoch += r->steps;
    j->samples_done += r->n_samples;
    j->last_loss = r->loss_sum / (double)r->n_samples;
    if (j->step_in_epoch == r->steps) j->epoch_loss_sum = j->epoch_loss_n = 0; /* the epoch's first round */
    j->epoch_loss_sum += r->loss_sum;
    j->epoch_loss_n += (double)r->n_samples;
    j->last_train_acc = (double)r->n_correct / (double)r->n_samples;
    j->last_round_s = dt;
    j->last_round_compute_s = r->compute_s_max;
    j->last_round_bytes = r->bytes_out + r->bytes_in;
    j->train_ms += now - r->started_ms;
    j->train_compute_s += r->compute_s_max;
    j->train_bytes += r->bytes_out + r->bytes_in;
    j->train_bytes_down += r->bytes_out;
    j->train_bytes_up += r->bytes_in;
    j->train_wait_s += r->wait_s_max;
    if (r->sharded || j->avg_grads) {
        j->last_grad_norm = r->grad_norm;
        if (r->grad_norm > j->max_grad_norm) j->max_grad_norm = r->grad_norm;
    }
    j->train_rounds++;
    if (!j->train_started_ms) j->train_started_ms = r->started_ms;
    double inst = dt > 0 ? r->n_samples / dt : 0;
    j->samples_per_s = j->samples_per_s > 0 ? 0.7 * j->samples_per_s + 0.3 * inst : inst;
    if (c->cfg.verbose)
        hb_log(c->who, "info",
               "job %llu: round %llu: %d tasks, %ld samples, loss %.4f, %.3f s (compute %.3f s), %zu bytes",
               (unsigned long long)j->id, (unsigned long long)j->round, r->n_tasks, r->n_samples, j->last_loss, dt,
               r->compute_s_max, j->last_round_bytes);
    int gathering = r->sharded && r->want_moments;
    s_round_reset(c, j);
    if (j->step_in_epoch >= j->steps_per_epoch || j->step >= j->total_steps) j->need_eval = 1;
    if (gathering) { /* the gather's version: the next mark, once its shards are in */
        coord_gather *g = &j->gather;
        j->rounds_since_ckpt = 0;
        g->round_done = 1;
        g->done_ms = now;
        s_mark_into(j, &g->mark);
        s_gather_try(c, j);
    } else {
        if (s_ckpt_due(c, j) && j->state_valid)
            s_checkpoint(c, j);
        else
            j->rounds_since_ckpt++;
        if (j->state_valid) s_mark(j);
    }
    coord_publish_job(c, j, "progress");
}

/* adds task ti's Update u into the round (every Update of a round goes
 * through here in task order: the sums' bits do not depend on arrival) */
static void s_apply(coord_job *j, const Hierbert__Update *u) {
    coord_round *r = &j->r;
    if (r->sharded && !r->eval) {
        r->weight += (double)u->n_samples;
        r->grad_norm = u->grad_norm; /* the same on every owner */
    } else if (!r->eval) {
        size_t numel = j->model->params.numel;
        double wt = (double)u->n_samples;
        if (j->avg_grads) {
            char err[HB_ERR_LEN];
            s_grad_add(j, u, wt, err); /* (checked by s_grad_check on receipt) */
        } else {
            const float *p = (const float *)u->params.data;
            for (size_t i = 0; i < numel; i++) j->acc[i] += wt * p[i];
        }
        if (r->want_moments) {
            const float *mm = (const float *)u->adam_m.data, *vv = (const float *)u->adam_v.data;
            for (size_t i = 0; i < numel; i++) {
                j->acc_m[i] += wt * mm[i];
                j->acc_v[i] += wt * vv[i];
            }
        }
        r->weight += wt;
    }
    r->loss_sum += u->loss_sum;
    r->n_samples += u->n_samples;
    r->n_correct += u->n_correct;
    if (u->compute_s > r->compute_s_max) r->compute_s_max = u->compute_s;
}

void coord_on_update(coord *c, int w, proto_msg **mp) {
    const proto_msg *m = *mp;
    if (c->active < 0) return;
    coord_job *j = c->jobs[c->active];
    const Hierbert__Update *u = m->update;
    coord_round *r = &j->r;
    if (m->job_id != j->id || !r->active || u->round != r->round || (int)u->task_id >= r->n_tasks ||
        r->task[u->task_id].worker != w || r->task[u->task_id].done || (u->eval != 0) != (r->eval != 0)) {
        hb_log(c->who, "info", "ignoring a stale Update from %s (job %llu, round %llu, task %u)", c->workers[w].id,
               (unsigned long long)m->job_id, (unsigned long long)u->round, u->task_id);
        return;
    }
    int ti = (int)u->task_id;
    coord_task *t = &r->task[ti];
    /* an unusable Update: its task counts as lost (the round must not wait
     * for a worker that answered) */
    char err[HB_ERR_LEN] = "";
    if (u->n_samples != t->count)
        snprintf(err, sizeof err, "%u samples, the task had %u", u->n_samples, t->count);
    else if (r->sharded && !r->eval) {
        int k = (int)t->start;                 /* the task's slot is the worker's shard */
        const size_t *base = j->plan.map.base; /* (shard space: proto/shard_map.h) */
        if (u->shard_lo != base[k] || u->shard_hi != base[k + 1])
            snprintf(err, sizeof err, "shard [%llu, %llu), the plan's shard %d is [%llu, %llu)",
                     (unsigned long long)u->shard_lo, (unsigned long long)u->shard_hi, k, (unsigned long long)base[k],
                     (unsigned long long)base[k + 1]);
    } else if (!r->eval && r->want_moments && !u->adam_m.len)
        snprintf(err, sizeof err, "optimizer moments missing");
    else if (!r->eval && (j->avg_grads ? !u->grads.len : !u->params.len))
        snprintf(err, sizeof err, "%s missing", j->avg_grads ? "gradient" : "parameters");
    int bad = err[0] || (!r->eval && j->avg_grads && !r->sharded && s_grad_check(j, u, err));
    if (bad) {
        hb_log(c->who, "warn", "Update from %s (task %u): %s: dropped, as if the worker were lost", c->workers[w].id,
               u->task_id, err);
        s_task_lost(c, j, ti, w);
        return;
    }
    if (r->sharded && !r->eval) {
        if (u->wait_s > r->wait_s_max) r->wait_s_max = u->wait_s;
        double pb = (double)(u->peer_bytes_out + u->peer_bytes_in);
        if (pb > r->peer_bytes_max) r->peer_bytes_max = pb;
        c->workers[w].peer_bytes_out += (double)u->peer_bytes_out;
        c->workers[w].peer_bytes_in += (double)u->peer_bytes_in;
        c->workers[w].last_wait_s = u->wait_s;
    }
    if (u->compute_s > 0) c->workers[w].rate = u->n_samples / u->compute_s;
    c->workers[w].tasks_done++;
    t->done = 1;
    c->workers[w].task = -1;
    r->held[ti] = *mp; /* (taken: added in task order below) */
    *mp = NULL;
    while (r->next_add < r->n_tasks && r->held[r->next_add]) {
        s_apply(j, r->held[r->next_add]->update);
        proto_free(&r->held[r->next_add]);
        r->next_add++;
    }
    if (--r->pending == 0) {
        if (r->eval)
            s_finish_eval(c, j);
        else
            s_finish_train(c, j);
    }
}

/* Sends the coordinator-reduced train task ti (slice t->start) to a live
 * worker other than `not` - the one with the fewest of the round's tasks
 * outstanding - with Params version `round` (the coordinator's: it steps
 * at the round's end). 0 sent; -1 no worker (coord_train_tick retries). */
static int s_reassign_train(coord *c, coord_job *j, int ti, int not ) {
    coord_round *r = &j->r;
    coord_task *t = &r->task[ti];
    int best = -1, best_n = 0;
    for (int k = 0; k < COORD_MAX_WORKERS; k++) {
        if (k == not || !coord_worker_fits(j, &c->workers[k])) continue;
        int n = 0;
        for (int q = 0; q < r->n_tasks; q++) n += r->task[q].worker == k && !r->task[q].done;
        if (best < 0 || n < best_n) best = k, best_n = n;
    }
    if (best < 0) return -1;
    uint32_t *idx = hb_malloc(((size_t)j->G * (size_t)r->steps + 1) * sizeof(uint32_t));
    int32_t *sizes = hb_malloc(((size_t)r->steps + 1) * sizeof(int32_t));
    uint32_t cnt = s_slice_rows(j, r->slices, (int)t->start, r->steps, idx, sizes);
    zmq_msg_t params, params_m;
    s_params_msg(j, 0, &params);
    zmq_msg_init(&params_m);
    int rc = cnt == t->count
                 ? s_send_task(c, j, best, ti, &j->corpus.train, idx, cnt, sizes, r->steps, 0, &params, &params_m)
                 : -1;
    zmq_msg_close(&params);
    zmq_msg_close(&params_m);
    free(idx);
    free(sizes);
    if (rc) return -1;
    t->worker = best;
    hb_log(c->who, "info", "job %llu: round %llu: slice %u (%u samples) sent to %s", (unsigned long long)j->id,
           (unsigned long long)r->round, t->start, t->count, c->workers[best].id);
    return 0;
}

/* Task ti of the round will not come back from worker w (lost, or its
 * Update was unusable): an eval task goes to another live worker; so does
 * a train slice reduced by the coordinator (the round waits for every
 * slice: dropping one would make the step another step). 1 if the round
 * ended. */
static int s_task_lost(coord *c, coord_job *j, int ti, int w) {
    coord_round *r = &j->r;
    coord_task *t = &r->task[ti];
    if (r->sharded) { /* its peers wait for its shards: the round cannot complete */
        char why[300];
        snprintf(why, sizeof why, "shard owner %.200s lost mid-round", c->workers[w].id);
        s_rollback(c, j, why);
        return 1;
    }
    t->worker = -1;
    if (c->workers[w].task == ti) c->workers[w].task = -1;
    if (!r->eval) {
        if (s_reassign_train(c, j, ti, w))
            hb_log(c->who, "warn", "job %llu: round %llu: slice %u waits for a worker", (unsigned long long)j->id,
                   (unsigned long long)r->round, t->start);
        return 0;
    }
    /* to another live worker (it queues behind its own task), or it waits
     * for one (coord_train_tick) */
    if (s_eval_elsewhere(c, j, ti, w))
        hb_log(c->who, "warn", "job %llu: eval task %d waits for a worker", (unsigned long long)j->id, ti);
    return 0;
}

void coord_on_worker_lost(coord *c, int w) {
    if (c->active < 0) return;
    coord_job *j = c->jobs[c->active];
    coord_round *r = &j->r;
    if (j->sharded && j->plan.state && s_plan_member(j, w) >= 0 && !(r->active && r->sharded)) {
        /* a member lost between rounds: the plan is void; its shard's
         * moments since the last mark are gone unless the coordinator holds them */
        if (j->state_valid)
            j->plan.state = 0;
        else {
            char why[300];
            snprintf(why, sizeof why, "shard owner %.200s lost", c->workers[w].id);
            s_rollback(c, j, why);
        }
    }
    if (!r->active) return;
    for (int ti = 0; ti < r->n_tasks; ti++) {
        coord_task *t = &r->task[ti];
        if (t->worker != w || t->done) continue;
        if (s_task_lost(c, j, ti, w)) return;
    }
}

void coord_train_tick(coord *c, coord_job *j) {
    s_ckpt_join(c, j, 0); /* a write that has ended: its result logged */
    coord_gather *g = &j->gather;
    if (g->active && g->round_done) { /* shards that do not come: as a stuck round */
        long long limit = (long long)(10 * 1000 * j->last_round_s);
        if (limit < S_ROUND_TIMEOUT_MS) limit = S_ROUND_TIMEOUT_MS;
        if (hb_now_ms() - g->done_ms > limit) {
            s_rollback(c, j, "a checkpoint round's shard states did not all arrive");
            s_fallback(c, j, "a gather timed out");
            return;
        }
    }
    if (j->r.active) {
        /* (10x the last round, at least 120 s: a stuck exchange, not a slow model) */
        long long limit = (long long)(10 * 1000 * j->last_round_s);
        if (limit < S_ROUND_TIMEOUT_MS) limit = S_ROUND_TIMEOUT_MS;
        if (j->r.sharded && hb_now_ms() - j->r.started_ms > limit) {
            s_rollback(c, j, "a sharded round took more than 10x the last one (a peer link down?)");
            s_fallback(c, j, "a sharded round timed out");
        }
        if (!j->r.sharded) /* tasks whose worker was lost or unreachable, when none could take them */
            for (int ti = 0; ti < j->r.n_tasks; ti++)
                if (j->r.task[ti].worker < 0 && !j->r.task[ti].done &&
                    (j->r.eval ? s_eval_elsewhere(c, j, ti, -1) : s_reassign_train(c, j, ti, -1)))
                    break;
        return;
    }
    int live = coord_fit_workers(c, j);
    /* an eval and TRAIN's end need the coordinator's state: the gather first */
    if (g->active && (j->need_eval || j->step >= j->total_steps)) return;
    if (j->need_eval) {
        if (j->corpus.val.n == 0) {
            if (j->epoch < j->epochs) j->val_acc[j->epoch] = -1;
            j->need_eval = 0;
            if (j->step_in_epoch >= j->steps_per_epoch) {
                j->epoch++;
                j->step_in_epoch = 0;
            }
            s_checkpoint(c, j);
            return;
        }
        if (live >= 1) s_start_eval_round(c, j);
        return;
    }
    if (j->step >= j->total_steps) {
        if (j->rounds_since_ckpt) s_checkpoint(c, j); /* the last eval wrote it (unless that failed) */
        s_ckpt_join(c, j, 1); /* on disk before the job record says EMBED (a restart resumes from it) */
        hb_log(c->who, "info", "job %llu: TRAIN done: %ld steps, %llu rounds, last loss %.4f",
               (unsigned long long)j->id, j->step, (unsigned long long)j->round, j->last_loss);
        coord_job_set_state(c, j, JOB_EMBED, NULL);
        return;
    }
    /* min_workers holds the start only: once running, a job goes on with
     * whoever is alive (a lost worker must not stall it) */
    if (live < (j->round == 0 ? j->min_workers : 1)) return;
    /* Sharded, a job keeps the shard count of its first plan: fewer shards
     * would sum every gradient float in another order. So a job short of
     * owners (one lost, the rounds since the mark rolled back) waits up to
     * rejoin_wait_s for the set to fill again - a supervisor restarts a
     * killed worker in seconds - and only then goes on with fewer, from
     * when on the run is no longer a function of its seed alone (logged,
     * and in status as degraded_round). */
    if (j->sharded && j->n_shards > live && !j->degraded) {
        long long now = hb_now_ms();
        if (!j->rejoin_since_ms) {
            j->rejoin_since_ms = now;
            hb_log(c->who, "info",
                   "job %llu: %d of its %d shard owners alive: waiting up to %d s for the rest (with its shard "
                   "count kept the run stays a function of its seed)",
                   (unsigned long long)j->id, live, j->n_shards, c->cfg.rejoin_wait_s);
        }
        if (now - j->rejoin_since_ms < 1000LL * c->cfg.rejoin_wait_s) return;
        j->degraded = 1;
        j->degraded_round = j->round;
        j->rejoin_since_ms = 0; /* (no longer waiting) */
        hb_log(c->who, "warn",
               "job %llu: %d of its %d shard owners after %d s: going on with %d; from version %llu the result "
               "differs from a fault-free run's in its last bits (another summation order)",
               (unsigned long long)j->id, live, j->n_shards, c->cfg.rejoin_wait_s, live,
               (unsigned long long)j->round);
    }
    if (j->rejoin_since_ms && live >= j->n_shards) {
        hb_log(c->who, "info", "job %llu: %d shard owners again after %.1f s", (unsigned long long)j->id, live,
               (hb_now_ms() - j->rejoin_since_ms) / 1000.0);
        j->rejoin_since_ms = 0;
    }
    /* sharded from 2 workers on: one worker steps where it is (the coordinator) */
    j->r_sharded_next = j->sharded && live >= 2;
    /* one gather at a time, and a round the coordinator reduces needs its state */
    if (g->active && (!j->r_sharded_next || s_round_ckpt(c, j, s_round_steps(j)))) return;
    if (j->r_sharded_next && !s_plan_tick(c, j)) return;
    s_start_train_round(c, j);
}

/* ------------------------------------------------------------------------ */
/* for EMBED (embed.c) */

void coord_model_spec(const coord_job *j, Hierbert__ModelSpec *ms, Hierbert__BertConfig *wc, int batch) {
    s_model_spec(j, ms, wc, batch);
}

void coord_params_frame(const coord_job *j, void *zmq_msg_out) {
    s_params_msg(j, 0, (zmq_msg_t *)zmq_msg_out);
}
