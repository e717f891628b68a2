/* chunk_model.c - the daemons' chunk classifier: bow (test double) and the
 * bert adapter (when model/bert.h is in the tree). */
#include "chunk_model.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hb_error.h"

#if __has_include("bert.h")
#include "bert.h"
#define HB_HAVE_BERT 1
#else
#define HB_HAVE_BERT 0
#endif

struct chunk_model_ops {
    void (*destroy)(chunk_model *m);
    void (*init_random)(chunk_model *m, uint64_t seed);
    /* fills logits [B][C] (train: with dropout keyed by seed); 0 ok */
    int (*forward)(chunk_model *m, const int32_t *ids, const int32_t *lengths, const int32_t *labels, int B, int T,
                   int train, uint64_t seed, float *logits, float *loss);
    /* grads = d(mean loss)/d(params) of the last forward */
    void (*backward)(chunk_model *m);
};

int chunk_model_has_bert(void) {
    return HB_HAVE_BERT;
}

/* ------------------------------------------------------------------------ */
/* shared: softmax cross-entropy over logits [B][C] */

static double s_xent(const float *logits, const int32_t *labels, int B, int C, float *probs, int *n_correct) {
    double sum = 0;
    int hits = 0;
    for (int b = 0; b < B; b++) {
        const float *z = logits + (size_t)b * C;
        float mx = z[0];
        int arg = 0;
        for (int c = 1; c < C; c++)
            if (z[c] > mx) mx = z[c], arg = c;
        double s = 0;
        for (int c = 0; c < C; c++) s += exp((double)z[c] - mx);
        if (probs)
            for (int c = 0; c < C; c++) probs[(size_t)b * C + c] = (float)(exp((double)z[c] - mx) / s);
        if (labels) {
            sum += log(s) - ((double)z[labels[b]] - mx);
            hits += arg == labels[b];
        }
    }
    if (n_correct) *n_correct = hits;
    return sum;
}

/* ------------------------------------------------------------------------ */
/* bow: h = mean_t E[ids[t]], logits = W h + b */

typedef struct {
    params_table t;
    int iE, iW, ib;
    float *h;                        /* [max_batch][H] of the last forward */
    float *probs;                    /* [max_batch][C] */
    int32_t *ids, *lengths, *labels; /* copies of the last forward's batch */
    int B, T;
} s_bow;

static void s_bow_destroy(chunk_model *m) {
    s_bow *w = m->impl;
    params_free_buffer(m->grads);
    params_free(&w->t);
    free(w->h);
    free(w->probs);
    free(w->ids);
    free(w->lengths);
    free(w->labels);
    free(w);
}

/* splitmix64: a seeded stream for init */
static uint64_t s_mix(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
static float s_normal(uint64_t *s) {
    double u1 = ((s_mix(s) >> 11) + 1.0) / 9007199254740993.0, u2 = (s_mix(s) >> 11) / 9007199254740992.0;
    return (float)(sqrt(-2 * log(u1)) * cos(6.283185307179586 * u2));
}

static void s_bow_init(chunk_model *m, uint64_t seed) {
    s_bow *w = m->impl;
    uint64_t s = seed;
    float *E = params_at(&w->t, w->t.data, w->iE), *W = params_at(&w->t, w->t.data, w->iW);
    for (size_t i = 0; i < w->t.views[w->iE].numel; i++) E[i] = 0.1f * s_normal(&s);
    for (size_t i = 0; i < w->t.views[w->iW].numel; i++) W[i] = 0.1f * s_normal(&s);
    memset(params_at(&w->t, w->t.data, w->ib), 0, w->t.views[w->ib].numel * sizeof(float));
}

static int s_bow_forward(chunk_model *m, const int32_t *ids, const int32_t *lengths, const int32_t *labels, int B,
                         int T, int train, uint64_t seed, float *logits, float *loss) {
    s_bow *w = m->impl;
    int H = m->spec.hidden, C = m->spec.num_classes, V = m->spec.vocab_size;
    const float *E = params_at(&w->t, w->t.data, w->iE), *W = params_at(&w->t, w->t.data, w->iW),
                *bias = params_at(&w->t, w->t.data, w->ib);
    for (int b = 0; b < B; b++) {
        int len = lengths[b];
        if (len < 1 || len > T) return -1;
        float *h = w->h + (size_t)b * H;
        memset(h, 0, (size_t)H * sizeof(float));
        for (int t = 0; t < len; t++) {
            int id = ids[(size_t)b * T + t];
            if (id < 0 || id >= V) return -1;
            for (int k = 0; k < H; k++) h[k] += E[(size_t)id * H + k];
        }
        for (int k = 0; k < H; k++) h[k] /= (float)len;
        for (int c = 0; c < C; c++) {
            float z = bias[c];
            for (int k = 0; k < H; k++) z += W[(size_t)c * H + k] * h[k];
            logits[(size_t)b * C + c] = z;
        }
    }
    if (labels)
        for (int b = 0; b < B; b++)
            if (labels[b] < 0 || labels[b] >= C) return -1;
    *loss = labels ? (float)(s_xent(logits, labels, B, C, w->probs, NULL) / B) : 0.0f;
    if (train) {
        memcpy(w->ids, ids, (size_t)B * T * sizeof(int32_t));
        memcpy(w->lengths, lengths, (size_t)B * sizeof(int32_t));
        memcpy(w->labels, labels, (size_t)B * sizeof(int32_t));
        w->B = B;
        w->T = T;
    }
    return 0;
}

static void s_bow_backward(chunk_model *m) {
    s_bow *w = m->impl;
    int H = m->spec.hidden, C = m->spec.num_classes, B = w->B, T = w->T;
    memset(m->grads, 0, w->t.numel * sizeof(float));
    const float *W = params_at(&w->t, w->t.data, w->iW);
    float *dE = params_at(&w->t, m->grads, w->iE), *dW = params_at(&w->t, m->grads, w->iW),
          *db = params_at(&w->t, m->grads, w->ib);
    float *dh = hb_malloc((size_t)H * sizeof(float));
    for (int b = 0; b < B; b++) {
        const float *p = w->probs + (size_t)b * C, *h = w->h + (size_t)b * H;
        memset(dh, 0, (size_t)H * sizeof(float));
        for (int c = 0; c < C; c++) {
            float g = (p[c] - (c == w->labels[b] ? 1.0f : 0.0f)) / (float)B;
            db[c] += g;
            for (int k = 0; k < H; k++) {
                dW[(size_t)c * H + k] += g * h[k];
                dh[k] += g * W[(size_t)c * H + k];
            }
        }
        int len = w->lengths[b];
        for (int t = 0; t < len; t++) {
            int id = w->ids[(size_t)b * T + t];
            for (int k = 0; k < H; k++) dE[(size_t)id * H + k] += dh[k] / (float)len;
        }
    }
    free(dh);
}

static const struct chunk_model_ops s_bow_ops = {s_bow_destroy, s_bow_init, s_bow_forward, s_bow_backward};

static int s_bow_new(chunk_model *m, char *err) {
    chunk_model_spec *sp = &m->spec;
    if (sp->vocab_size < 2 || sp->vocab_size > (1 << 22))
        return hb_fail(err, "bow model: vocab_size %d", sp->vocab_size);
    if (sp->hidden < 1) sp->hidden = 16;
    s_bow *w = hb_calloc(1, sizeof *w);
    params_init(&w->t);
    int64_t sE[2] = {sp->vocab_size, sp->hidden}, sW[2] = {sp->num_classes, sp->hidden}, sb[1] = {sp->num_classes};
    w->iE = params_add(&w->t, "bow.embeddings.weight", 2, sE, 1);
    w->iW = params_add(&w->t, "classifier.weight", 2, sW, 1);
    w->ib = params_add(&w->t, "classifier.bias", 1, sb, 0);
    params_alloc(&w->t);
    w->h = hb_malloc((size_t)sp->max_batch * sp->hidden * sizeof(float));
    w->probs = hb_malloc((size_t)sp->max_batch * sp->num_classes * sizeof(float));
    w->ids = hb_malloc((size_t)sp->max_batch * sp->seq_len * sizeof(int32_t));
    w->lengths = hb_malloc((size_t)sp->max_batch * sizeof(int32_t));
    w->labels = hb_malloc((size_t)sp->max_batch * sizeof(int32_t));
    m->impl = w;
    m->ops = &s_bow_ops;
    m->params = &w->t;
    m->grads = params_new_buffer(&w->t);
    snprintf(sp->config_json, sizeof sp->config_json,
             "{\"model_type\": \"bow\", \"vocab_size\": %d, \"hidden_size\": %d}", sp->vocab_size, sp->hidden);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* bert adapter */

#if HB_HAVE_BERT
typedef struct {
    bert_model *b;
    uint8_t *mask; /* [max_batch][seq_len] */
    int loaded, has_head;
} s_bert;

static void s_bert_destroy(chunk_model *m) {
    s_bert *w = m->impl;
    bert_destroy(&w->b);
    free(w->mask);
    free(w);
}

static void s_bert_init(chunk_model *m, uint64_t seed) {
    s_bert *w = m->impl;
    if (!w->loaded)
        bert_init_random(w->b, seed);
    else if (!w->has_head)
        bert_init_classifier(w->b, seed);
    bert_set_seed(w->b, seed);
}

static int s_bert_forward(chunk_model *m, const int32_t *ids, const int32_t *lengths, const int32_t *labels, int B,
                          int T, int train, uint64_t seed, float *logits, float *loss) {
    s_bert *w = m->impl;
    for (int b = 0; b < B; b++) {
        if (lengths[b] < 1 || lengths[b] > T) return -1;
        for (int t = 0; t < T; t++) w->mask[(size_t)b * T + t] = t < lengths[b];
    }
    if (train) bert_set_seed(w->b, seed);
    float l = bert_forward(w->b, ids, NULL, w->mask, labels, B, T, train);
    if (isnan(l)) return -1;
    memcpy(logits, w->b->logits, (size_t)B * m->spec.num_classes * sizeof(float));
    *loss = l;
    return 0;
}

static void s_bert_backward(chunk_model *m) {
    s_bert *w = m->impl;
    bert_zero_grad(w->b);
    bert_backward(w->b);
}

static const struct chunk_model_ops s_bert_ops = {s_bert_destroy, s_bert_init, s_bert_forward, s_bert_backward};

static void s_config_to_json(const bert_config *c, char *out, size_t n) {
    json_t *o = json_pack("{s:s, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:f, s:f, s:f, s:f}", "model_type", "bert",
                          "vocab_size", c->vocab_size, "hidden_size", c->hidden_size, "num_hidden_layers",
                          c->num_hidden_layers, "num_attention_heads", c->num_attention_heads, "intermediate_size",
                          c->intermediate_size, "max_position_embeddings", c->max_position_embeddings,
                          "type_vocab_size", c->type_vocab_size, "layer_norm_eps", (double)c->layer_norm_eps,
                          "hidden_dropout_prob", (double)c->hidden_dropout_prob, "attention_probs_dropout_prob",
                          (double)c->attention_probs_dropout_prob, "classifier_dropout", (double)c->classifier_dropout);
    char *s = json_dumps(o, JSON_COMPACT);
    snprintf(out, n, "%s", s);
    free(s);
    json_decref(o);
}

static int s_config_from_json(bert_config *c, const char *text, char *err) {
    json_error_t je;
    json_t *o = json_loads(text, 0, &je);
    if (!o) return hb_fail(err, "model config JSON: line %d: %s", je.line, je.text);
    double eps = 0, hd = 0, ad = 0, cd = 0;
    int rc = json_unpack_ex(o, &je, 0, "{s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:F, s:F, s:F, s:F}", "vocab_size",
                            &c->vocab_size, "hidden_size", &c->hidden_size, "num_hidden_layers", &c->num_hidden_layers,
                            "num_attention_heads", &c->num_attention_heads, "intermediate_size", &c->intermediate_size,
                            "max_position_embeddings", &c->max_position_embeddings, "type_vocab_size",
                            &c->type_vocab_size, "layer_norm_eps", &eps, "hidden_dropout_prob", &hd,
                            "attention_probs_dropout_prob", &ad, "classifier_dropout", &cd);
    json_decref(o);
    if (rc) return hb_fail(err, "model config JSON: %s", je.text);
    c->layer_norm_eps = (float)eps;
    c->hidden_dropout_prob = (float)hd;
    c->attention_probs_dropout_prob = (float)ad;
    c->classifier_dropout = (float)cd;
    return bert_config_validate(c, "model config JSON", err);
}

static int s_bert_new(chunk_model *m, char *err) {
    chunk_model_spec *sp = &m->spec;
    bert_config c;
    memset(&c, 0, sizeof c);
    int from_dir = 0;
    if (sp->config_json[0]) {
        if (s_config_from_json(&c, sp->config_json, err)) return -1;
    } else if (sp->model_dir[0]) {
        char path[1100];
        snprintf(path, sizeof path, "%s/config.json", sp->model_dir);
        if (bert_config_read(&c, path, err)) return -1;
        from_dir = 1;
    } else {
        if (bert_config_preset(&c, sp->preset[0] ? sp->preset : "tiny", err)) return -1;
    }
    if (sp->dropout >= 0) c.hidden_dropout_prob = c.attention_probs_dropout_prob = c.classifier_dropout = sp->dropout;
    if (sp->seq_len > c.max_position_embeddings)
        return hb_fail(err, "seq_len %d exceeds the model's max_position_embeddings %d", sp->seq_len,
                       c.max_position_embeddings);
    s_bert *w = hb_calloc(1, sizeof *w);
    if (bert_new(&w->b, &c, sp->num_classes, sp->max_batch, sp->seq_len, err)) {
        free(w);
        return -1;
    }
    if (from_dir) {
        if (bert_load_dir_ex(w->b, sp->model_dir, &w->has_head, err)) {
            bert_destroy(&w->b);
            free(w);
            return -1;
        }
        w->loaded = 1;
    }
    w->mask = hb_malloc((size_t)sp->max_batch * sp->seq_len);
    m->impl = w;
    m->ops = &s_bert_ops;
    m->params = &w->b->params;
    m->grads = w->b->grads;
    sp->vocab_size = c.vocab_size;
    sp->hidden = c.hidden_size;
    s_config_to_json(&c, sp->config_json, sizeof sp->config_json);
    return 0;
}
#endif

/* ------------------------------------------------------------------------ */

int chunk_model_new(chunk_model **out, const chunk_model_spec *spec, char *err) {
    *out = NULL;
    if (spec->num_classes < 2) return hb_fail(err, "chunk model: %d classes (need at least 2)", spec->num_classes);
    if (spec->max_batch < 1 || spec->seq_len < 2)
        return hb_fail(err, "chunk model: batch %d, seq_len %d", spec->max_batch, spec->seq_len);
    chunk_model *m = hb_calloc(1, sizeof *m);
    m->spec = *spec;
    int rc;
    if (!strcmp(spec->kind, "bow")) {
        rc = s_bow_new(m, err);
    } else if (!strcmp(spec->kind, "bert") || !spec->kind[0]) {
        snprintf(m->spec.kind, sizeof m->spec.kind, "bert");
#if HB_HAVE_BERT
        rc = s_bert_new(m, err);
#else
        rc = hb_fail(err, "chunk model: this build has no BERT encoder yet (model/bert.h); use kind bow");
#endif
    } else {
        rc = hb_fail(err, "chunk model: unknown kind '%s' (bert or bow)", spec->kind);
    }
    if (rc) {
        free(m);
        return -1;
    }
    *out = m;
    return 0;
}

void chunk_model_destroy(chunk_model **m) {
    if (!m || !*m) return;
    (*m)->ops->destroy(*m);
    free(*m);
    *m = NULL;
}

void chunk_model_init_random(chunk_model *m, uint64_t seed) {
    m->ops->init_random(m, seed);
}

float chunk_model_train_batch(chunk_model *m, const int32_t *ids, const int32_t *lengths, const int32_t *labels, int B,
                              int T, uint64_t seed, int *n_correct) {
    if (B < 1 || B > m->spec.max_batch || T != m->spec.seq_len || !labels) return NAN;
    float *logits = hb_malloc((size_t)B * m->spec.num_classes * sizeof(float));
    float loss = 0;
    if (m->ops->forward(m, ids, lengths, labels, B, T, 1, seed, logits, &loss)) {
        free(logits);
        return NAN;
    }
    if (n_correct) s_xent(logits, labels, B, m->spec.num_classes, NULL, n_correct);
    free(logits);
    m->ops->backward(m);
    return loss;
}

double chunk_model_eval_batch(chunk_model *m, const int32_t *ids, const int32_t *lengths, const int32_t *labels, int B,
                              int T, int32_t *pred, int *n_correct) {
    if (B < 1 || B > m->spec.max_batch || T != m->spec.seq_len) return NAN;
    int C = m->spec.num_classes;
    float *logits = hb_malloc((size_t)B * C * sizeof(float));
    float loss = 0;
    if (m->ops->forward(m, ids, lengths, labels, B, T, 0, 0, logits, &loss)) {
        free(logits);
        return NAN;
    }
    double sum = s_xent(logits, labels, B, C, NULL, n_correct);
    if (pred)
        for (int b = 0; b < B; b++) {
            int arg = 0;
            for (int c = 1; c < C; c++)
                if (logits[(size_t)b * C + c] > logits[(size_t)b * C + arg]) arg = c;
            pred[b] = arg;
        }
    free(logits);
    return sum;
}
