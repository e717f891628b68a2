/* head.c - the worker's HEAD phase: receives every training and validation
 * document's chunk-vector sequence once (HeadBatch messages; the last one
 * says so), keeps them, and trains the LSTM head (model/lstm.h: LSTM(100) ->
 * Dense(30, relu) -> Dense(C), Adam 1e-3) for the job's head epochs,
 * documents shuffled each epoch (seeded). After every epoch: one HeadResult
 * with the epoch's training loss, the validation documents' class
 * probabilities and correct count, and the head's parameters - the
 * coordinator keeps the best epoch's. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"
#include "hb_error.h"
#include "hb_log.h"
#include "lstm.h"
#include "worker.h"

typedef struct {
    int n, cap;
    int *lens, *labels;
    size_t rows, cap_rows;
    float *data; /* [rows][dim] */
} s_set;

struct worker_head {
    uint64_t job;
    uint32_t task;
    int dim, epochs, batch, C;
    uint64_t seed;
    s_set train, val;
};

static void s_set_free(s_set *s) {
    free(s->lens);
    free(s->labels);
    free(s->data);
    memset(s, 0, sizeof *s);
}

void worker_head_destroy(worker_head **hp) {
    worker_head *h = *hp;
    if (!h) return;
    s_set_free(&h->train);
    s_set_free(&h->val);
    free(h);
    *hp = NULL;
}

static void s_append(s_set *s, const Hierbert__HeadBatch *b) {
    const int32_t *lens = (const int32_t *)b->lengths.data, *labels = (const int32_t *)b->labels.data;
    size_t rows = 0;
    for (uint32_t i = 0; i < b->n_docs; i++) rows += (size_t)lens[i];
    if (s->n + (int)b->n_docs > s->cap) {
        while (s->n + (int)b->n_docs > s->cap) s->cap = s->cap ? 2 * s->cap : 256;
        s->lens = hb_realloc(s->lens, (size_t)s->cap * sizeof(int));
        s->labels = hb_realloc(s->labels, (size_t)s->cap * sizeof(int));
    }
    if (s->rows + rows > s->cap_rows) {
        while (s->rows + rows > s->cap_rows) s->cap_rows = s->cap_rows ? 2 * s->cap_rows : 1024;
        s->data = hb_realloc(s->data, s->cap_rows * b->dim * sizeof(float));
    }
    for (uint32_t i = 0; i < b->n_docs; i++) {
        s->lens[s->n + (int)i] = lens[i];
        s->labels[s->n + (int)i] = labels[i];
    }
    s->n += (int)b->n_docs;
    memcpy(s->data + s->rows * b->dim, b->data.data, rows * b->dim * sizeof(float));
    s->rows += rows;
}

static uint64_t s_mix(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* x pointers of every document of s */
static const float **s_rows(const s_set *s, int dim) {
    const float **x = hb_malloc(((size_t)s->n + 1) * sizeof *x);
    size_t r = 0;
    for (int i = 0; i < s->n; i++) {
        x[i] = s->data + r * (size_t)dim;
        r += (size_t)s->lens[i];
    }
    return x;
}

static int s_train(worker_head *h, void *pipe, const char *who, char *err) {
    lstm_config cfg = {.input_dim = h->dim, .units = 100, .dense_units = 30, .n_classes = h->C};
    lstm_model *m = NULL;
    if (lstm_new(&m, &cfg, h->seed, err)) return -1;
    adamw_state opt;
    adamw_init(&opt, &m->params, lstm_default_optim());
    const int nt = h->train.n, nv = h->val.n, B = h->batch;
    const float **xt = s_rows(&h->train, h->dim), **xv = s_rows(&h->val, h->dim);
    int *perm = hb_malloc(((size_t)nt + 1) * sizeof(int)), *lens = hb_malloc(((size_t)nt + 1) * sizeof(int)),
        *labels = hb_malloc(((size_t)nt + 1) * sizeof(int));
    const float **x = hb_malloc(((size_t)nt + 1) * sizeof *x);
    int nb = (nt + B - 1) / B;
    lstm_batch *batches = hb_calloc((size_t)nb + 1, sizeof *batches);
    float *probs = hb_malloc(((size_t)nv * h->C + 1) * sizeof(float));
    uint64_t st = h->seed ^ 0x4ead4ead4eadull;
    int rc = 0;
    for (int e = 0; e < h->epochs && rc == 0; e++) {
        long long t0 = hb_now_ms();
        for (int i = 0; i < nt; i++) perm[i] = i;
        for (int i = nt; i > 1; i--) {
            int k = (int)(s_mix(&st) % (uint64_t)i), t = perm[i - 1];
            perm[i - 1] = perm[k];
            perm[k] = t;
        }
        for (int i = 0; i < nt; i++) {
            lens[i] = h->train.lens[perm[i]];
            labels[i] = h->train.labels[perm[i]];
            x[i] = xt[perm[i]];
        }
        for (int b = 0; b < nb; b++) {
            int off = b * B, n = nt - off < B ? nt - off : B;
            batches[b] = (lstm_batch){n, lens + off, x + off, labels + off};
        }
        double loss = 0;
        long correct_train = 0;
        if (lstm_train_epoch(m, &opt, batches, nb, &loss, &correct_train, err)) {
            rc = -1;
            break;
        }
        int correct = 0;
        for (int off = 0; off < nv; off += 256) {
            int n = nv - off < 256 ? nv - off : 256;
            lstm_batch vb = {n, h->val.lens + off, xv + off, NULL};
            if (lstm_predict(m, &vb, probs + (size_t)off * h->C, err)) {
                rc = -1;
                break;
            }
        }
        if (rc) break;
        for (int i = 0; i < nv; i++) {
            const float *p = probs + (size_t)i * h->C;
            int arg = 0;
            for (int k = 1; k < h->C; k++)
                if (p[k] > p[arg]) arg = k;
            correct += arg == h->val.labels[i];
        }
        proto_msg out;
        proto_env_init(&out, h->job);
        Hierbert__HeadResult r = HIERBERT__HEAD_RESULT__INIT;
        r.task_id = h->task;
        r.epoch = (uint32_t)e;
        r.n_docs = (uint32_t)nv;
        r.n_train = (uint32_t)nt;
        r.loss_sum = loss * nt;
        r.n_correct = (uint32_t)correct;
        r.probs = proto_bytes(probs, (size_t)nv * h->C * sizeof(float));
        r.params = proto_bytes(m->params.data, m->params.numel * sizeof(float));
        r.final = e == h->epochs - 1;
        out.body_case = HIERBERT__ENVELOPE__BODY_HEAD_RESULT;
        out.head_result = &r;
        rc = proto_send(pipe, NULL, 0, &out, 0, err);
        hb_log(who, "info", "job %llu: head epoch %d/%d: loss %.4f, validation %d/%d (%lld ms)",
               (unsigned long long)h->job, e + 1, h->epochs, loss, correct, nv, hb_now_ms() - t0);
    }
    free(perm);
    free(lens);
    free(labels);
    free(x);
    free(xt);
    free(xv);
    free(batches);
    free(probs);
    adamw_free(&opt);
    lstm_destroy(&m);
    return rc;
}

int worker_head_on_batch(worker_head **hp, const proto_msg *msg, void *pipe, const char *who, char *err) {
    const Hierbert__HeadBatch *b = msg->head_batch;
    worker_head *h = *hp;
    /* a batch of another job or task starts over (the coordinator restarted HEAD) */
    if (h && (h->job != msg->job_id || h->task != b->task_id)) worker_head_destroy(hp);
    if (!*hp) {
        if (b->num_classes < 2 || b->epochs < 1 || b->batch < 1)
            return hb_fail(err, "HeadBatch: %u classes, %u epochs, batch %u: out of range", b->num_classes, b->epochs,
                           b->batch);
        h = *hp = hb_calloc(1, sizeof *h);
        h->job = msg->job_id;
        h->task = b->task_id;
        h->dim = (int)b->dim;
        h->epochs = (int)b->epochs;
        h->batch = (int)b->batch;
        h->C = (int)b->num_classes;
        h->seed = b->seed;
    }
    if ((int)b->dim != h->dim) return hb_fail(err, "HeadBatch: dim %u, this task's is %d", b->dim, h->dim);
    const int32_t *labels = (const int32_t *)b->labels.data;
    for (uint32_t i = 0; i < b->n_docs; i++)
        if (labels[i] < 0 || labels[i] >= h->C)
            return hb_fail(err, "HeadBatch: label %d outside 0..%d", labels[i], h->C - 1);
    s_append(b->eval ? &h->val : &h->train, b);
    if (!b->last) return 0;
    int rc = 0;
    if (h->train.n < 1)
        rc = hb_fail(err, "HeadBatch: no training documents");
    else
        rc = s_train(h, pipe, who, err);
    worker_head_destroy(hp);
    return rc;
}
