/* frame.c - packing, sending, and the one decode-and-validate entry point. */
#include "frame.h"
#include "shard_map.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "hb_error.h"
#include "hb_log.h"

/* ------------------------------------------------------------------------ */
/* names */

const char *proto_case_name(Hierbert__Envelope__BodyCase c) {
    switch (c) {
    case HIERBERT__ENVELOPE__BODY_HELLO:
        return "Hello";
    case HIERBERT__ENVELOPE__BODY_HEARTBEAT:
        return "Heartbeat";
    case HIERBERT__ENVELOPE__BODY_ASSIGN:
        return "Assign";
    case HIERBERT__ENVELOPE__BODY_PARAMS:
        return "Params";
    case HIERBERT__ENVELOPE__BODY_UPDATE:
        return "Update";
    case HIERBERT__ENVELOPE__BODY_DOC_EMBEDDINGS:
        return "DocEmbeddings";
    case HIERBERT__ENVELOPE__BODY_HEAD_BATCH:
        return "HeadBatch";
    case HIERBERT__ENVELOPE__BODY_HEAD_RESULT:
        return "HeadResult";
    case HIERBERT__ENVELOPE__BODY_GOODBYE:
        return "Goodbye";
    case HIERBERT__ENVELOPE__BODY_SUBMIT:
        return "Submit";
    case HIERBERT__ENVELOPE__BODY_SUBMIT_REPLY:
        return "SubmitReply";
    case HIERBERT__ENVELOPE__BODY_CANCEL:
        return "Cancel";
    case HIERBERT__ENVELOPE__BODY_CANCEL_REPLY:
        return "CancelReply";
    case HIERBERT__ENVELOPE__BODY_LIST:
        return "List";
    case HIERBERT__ENVELOPE__BODY_LIST_REPLY:
        return "ListReply";
    case HIERBERT__ENVELOPE__BODY_STATUS:
        return "Status";
    case HIERBERT__ENVELOPE__BODY_STATUS_REPLY:
        return "StatusReply";
    case HIERBERT__ENVELOPE__BODY_RESULT:
        return "Result";
    case HIERBERT__ENVELOPE__BODY_RESULT_REPLY:
        return "ResultReply";
    case HIERBERT__ENVELOPE__BODY_EXPORT:
        return "Export";
    case HIERBERT__ENVELOPE__BODY_EXPORT_REPLY:
        return "ExportReply";
    case HIERBERT__ENVELOPE__BODY_ERROR:
        return "Error";
    case HIERBERT__ENVELOPE__BODY_SHARD_PLAN:
        return "ShardPlan";
    case HIERBERT__ENVELOPE__BODY_SHARD_READY:
        return "ShardReady";
    case HIERBERT__ENVELOPE__BODY_PEER_SHARD:
        return "PeerShard";
    case HIERBERT__ENVELOPE__BODY_SHARD_STATE:
        return "ShardState";
    default:
        return "none";
    }
}

const char *proto_type_name(const proto_msg *m) {
    return m ? proto_case_name(m->body_case) : "none";
}

/* ------------------------------------------------------------------------ */
/* encoding */

void proto_env_init(proto_msg *m, uint64_t job_id) {
    hierbert__envelope__init(m);
    m->version = PROTO_VERSION;
    m->job_id = job_id;
}

uint8_t *proto_pack(const proto_msg *m, size_t *len) {
    size_t n = hierbert__envelope__get_packed_size(m);
    uint8_t *buf = hb_malloc(n);
    *len = hierbert__envelope__pack(m, buf);
    return buf;
}

static void s_free_buf(void *data, void *hint) {
    (void)hint;
    free(data);
}

int proto_send(void *sock, const void *routing_id, size_t id_len, const proto_msg *m, int flags, char *err) {
    size_t len;
    uint8_t *buf = proto_pack(m, &len);
    if (routing_id && zmq_send(sock, routing_id, id_len, ZMQ_SNDMORE | flags) < 0) {
        free(buf);
        return hb_fail(err, "sending %s: routing id: %s", proto_type_name(m), zmq_strerror(zmq_errno()));
    }
    /* zero-copy hand-off of the packed buffer: zmq frees it when sent */
    zmq_msg_t msg;
    zmq_msg_init_data(&msg, buf, len, s_free_buf, NULL);
    if (zmq_msg_send(&msg, sock, flags) < 0) {
        int e = zmq_errno();
        zmq_msg_close(&msg);
        return hb_fail(err, "sending %s (%zu bytes): %s", proto_type_name(m), len, zmq_strerror(e));
    }
    return 0;
}

int proto_send_error(void *sock, const void *routing_id, size_t id_len, uint64_t job_id, int code, char *err,
                     const char *fmt, ...) {
    char text[HB_ERR_LEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    proto_msg m;
    proto_env_init(&m, job_id);
    Hierbert__Error e = HIERBERT__ERROR__INIT;
    e.code = (uint32_t)code;
    e.message = text;
    m.body_case = HIERBERT__ENVELOPE__BODY_ERROR;
    m.error = &e;
    return proto_send(sock, routing_id, id_len, &m, ZMQ_DONTWAIT, err);
}

int proto_send_goodbye(void *sock, const void *routing_id, size_t id_len, const char *reason, char *err) {
    proto_msg m;
    proto_env_init(&m, 0);
    Hierbert__Goodbye g = HIERBERT__GOODBYE__INIT;
    g.reason = (char *)reason;
    m.body_case = HIERBERT__ENVELOPE__BODY_GOODBYE;
    m.goodbye = &g;
    return proto_send(sock, routing_id, id_len, &m, ZMQ_DONTWAIT, err);
}

/* ------------------------------------------------------------------------ */
/* validation helpers: each returns 0 or fills err and returns -1 */

#define FAIL(c, ...) (*code = (c), hb_fail(err, __VA_ARGS__))

static int s_str(const char *type, const char *field, const char *s, size_t max, int required, int *code, char *err) {
    size_t n = s ? strnlen(s, max + 1) : 0;
    if (n > max) return FAIL(PROTO_E_MALFORMED, "%s: %s longer than %zu bytes", type, field, max);
    if (required && n == 0) return FAIL(PROTO_E_MALFORMED, "%s: %s is empty", type, field);
    return 0;
}

/* a worker-supplied name (worker id, host): s_str's limits, and only printable ASCII other than '"' and '\\'.
 * These strings go into log lines and, unescaped, into the coordinator's event JSON; a quote, a backslash or a
 * control byte there would let a worker forge fields or break every subscriber's parser. */
static int s_name(const char *type, const char *field, const char *s, size_t max, int required, int *code, char *err) {
    if (s_str(type, field, s, max, required, code, err)) return -1;
    const char *p = hb_name_bad(s);
    if (p)
        return FAIL(PROTO_E_MALFORMED,
                    "%s: %s holds byte 0x%02x at offset %td (printable ASCII only, no quote or backslash)", type, field,
                    (unsigned char)*p, p - s);
    return 0;
}

/* bytes field b must hold exactly count elements of 4 bytes */
static int s_bulk(const char *type, const char *field, ProtobufCBinaryData b, uint64_t count, int *code, char *err) {
    if (b.len % 4)
        return FAIL(PROTO_E_SHAPE, "%s: %s has %zu bytes, not a multiple of 4 (float32/int32 little-endian)", type,
                    field, b.len);
    if ((uint64_t)b.len != count * 4)
        return FAIL(PROTO_E_SHAPE, "%s: %s has %zu bytes, expected %llu x 4 = %llu", type, field, b.len,
                    (unsigned long long)count, (unsigned long long)(count * 4));
    return 0;
}

static inline int32_t s_i32(const uint8_t *p, size_t i) {
    int32_t v;
    memcpy(&v, p + 4 * i, 4);
    return v;
}

/* int32 values of b all in [lo, hi] */
static int s_range(const char *type, const char *field, ProtobufCBinaryData b, int64_t lo, int64_t hi, int *code,
                   char *err) {
    size_t n = b.len / 4;
    for (size_t i = 0; i < n; i++) {
        int32_t v = s_i32(b.data, i);
        if (v < lo || v > hi)
            return FAIL(PROTO_E_SHAPE, "%s: %s[%zu] = %d outside %lld..%lld", type, field, i, (int)v, (long long)lo,
                        (long long)hi);
    }
    return 0;
}

/* the parameter count of a Params/Update against the job's */
static int s_numel(const char *type, uint64_t numel, const proto_expect *ex, int *code, char *err) {
    if (numel == 0 || numel > PROTO_MAX_NUMEL)
        return FAIL(PROTO_E_SHAPE, "%s: numel %llu outside 1..%llu", type, (unsigned long long)numel,
                    (unsigned long long)PROTO_MAX_NUMEL);
    if (ex->numel && numel != ex->numel)
        return FAIL(PROTO_E_SHAPE, "%s: numel %llu, the job's model has %llu parameters", type,
                    (unsigned long long)numel, (unsigned long long)ex->numel);
    return 0;
}

static int s_moments(const char *type, ProtobufCBinaryData m, ProtobufCBinaryData v, uint64_t numel, int *code,
                     char *err) {
    if (m.len == 0 && v.len == 0) return 0;
    if (s_bulk(type, "adam_m", m, numel, code, err) || s_bulk(type, "adam_v", v, numel, code, err)) return -1;
    return 0;
}

static int s_bert_config(const Hierbert__BertConfig *c, int *code, char *err) {
    if (!c) return FAIL(PROTO_E_MALFORMED, "Assign: no encoder config");
    if (c->vocab_size < 1 || c->vocab_size > (1u << 24) || c->hidden_size < 1 || c->hidden_size > PROTO_MAX_DIM ||
        c->num_hidden_layers < 1 || c->num_hidden_layers > 256 || c->num_attention_heads < 1 ||
        c->hidden_size % c->num_attention_heads || c->intermediate_size < 1 || c->intermediate_size > (1u << 18) ||
        c->max_position_embeddings < 2 || c->max_position_embeddings > PROTO_MAX_SEQ || c->type_vocab_size < 1 ||
        c->type_vocab_size > 1024)
        return FAIL(PROTO_E_MALFORMED,
                    "Assign: encoder config out of range (vocab %u, hidden %u, layers %u, heads %u, ffn %u, "
                    "positions %u)",
                    c->vocab_size, c->hidden_size, c->num_hidden_layers, c->num_attention_heads, c->intermediate_size,
                    c->max_position_embeddings);
    if (!(c->layer_norm_eps > 0 && c->layer_norm_eps < 1))
        return FAIL(PROTO_E_MALFORMED, "Assign: layer_norm_eps %g", c->layer_norm_eps);
    const float p[3] = {c->hidden_dropout_prob, c->attention_probs_dropout_prob, c->classifier_dropout};
    for (int i = 0; i < 3; i++)
        if (!(p[i] >= 0 && p[i] < 1))
            return FAIL(PROTO_E_MALFORMED, "Assign: a dropout probability %g outside [0, 1)", p[i]);
    return 0;
}

/* model/optim.h's schedule names; "" is linear (a coordinator of before the choice) */
static int s_schedule_ok(const char *name) {
    return !name[0] || !strcmp(name, "constant") || !strcmp(name, "linear") || !strcmp(name, "cosine");
}

static int s_model(const Hierbert__ModelSpec *ms, const proto_expect *ex, int *code, char *err) {
    const char *t = "Assign";
    if (!ms) return FAIL(PROTO_E_MALFORMED, "Assign: no model spec");
    if (s_bert_config(ms->config, code, err)) return -1;
    if (strcmp(ms->optimizer, "adamw") && strcmp(ms->optimizer, "sgd"))
        return FAIL(PROTO_E_MALFORMED, "Assign: optimizer '%.32s' (adamw or sgd)", ms->optimizer);
    if (ms->num_classes < 2 || ms->num_classes > PROTO_MAX_CLASSES)
        return FAIL(PROTO_E_MALFORMED, "Assign: num_classes %u outside 2..%u", ms->num_classes, PROTO_MAX_CLASSES);
    if (ms->seq_len < 2 || ms->seq_len > ms->config->max_position_embeddings)
        return FAIL(PROTO_E_MALFORMED, "Assign: seq_len %u outside 2..%u (the encoder's positions)", ms->seq_len,
                    ms->config->max_position_embeddings);
    if (ms->batch < 1 || ms->batch > PROTO_MAX_SAMPLES)
        return FAIL(PROTO_E_MALFORMED, "Assign: batch %u outside 1..%u", ms->batch, PROTO_MAX_SAMPLES);
    if (!(ms->lr >= 0 && ms->lr < 10)) return FAIL(PROTO_E_MALFORMED, "Assign: lr %g outside [0, 10)", ms->lr);
    if (!(ms->weight_decay >= 0 && ms->clip_norm >= 0))
        return FAIL(PROTO_E_MALFORMED, "Assign: negative weight_decay or clip_norm");
    if (!s_schedule_ok(ms->schedule))
        return FAIL(PROTO_E_MALFORMED, "Assign: schedule '%.32s' (constant, linear or cosine)", ms->schedule);
    if (s_numel(t, ms->numel, ex, code, err)) return -1;
    if (ex->seq_len && ms->seq_len != ex->seq_len)
        return FAIL(PROTO_E_SHAPE, "Assign: seq_len %u, the job's is %u", ms->seq_len, ex->seq_len);
    if (ex->num_classes && ms->num_classes != ex->num_classes)
        return FAIL(PROTO_E_SHAPE, "Assign: num_classes %u, the job's is %u", ms->num_classes, ex->num_classes);
    return 0;
}

/* token-id tasks: ids [n][L], lengths [n] in 1..L, labels [n] in 0..C-1 */
static int s_tokens(const char *type, uint32_t n, ProtobufCBinaryData ids, ProtobufCBinaryData lengths,
                    const Hierbert__ModelSpec *ms, int *code, char *err) {
    if (n < 1 || n > PROTO_MAX_SAMPLES)
        return FAIL(PROTO_E_SHAPE, "%s: n_samples %u outside 1..%u", type, n, PROTO_MAX_SAMPLES);
    if (s_bulk(type, "ids", ids, (uint64_t)n * ms->seq_len, code, err)) return -1;
    if (s_bulk(type, "lengths", lengths, n, code, err)) return -1;
    if (s_range(type, "ids", ids, 0, (int64_t)ms->config->vocab_size - 1, code, err)) return -1;
    if (s_range(type, "lengths", lengths, 1, ms->seq_len, code, err)) return -1;
    return 0;
}

/* TrainTask.next_rows / next_counts: a count a member, summing to the rows, each a vocabulary row */
static int s_next_rows(const Hierbert__TrainTask *t, const Hierbert__ModelSpec *ms, int *code, char *err) {
    const char *ty = "Assign(train)";
    if (!t->next_counts.len && !t->next_rows.len) return 0;
    if (t->next_counts.len % 4 || t->next_counts.len / 4 > PROTO_MAX_PEERS)
        return FAIL(PROTO_E_SHAPE, "%s: next_counts has %zu bytes (4 a member, at most %u members)", ty,
                    t->next_counts.len, PROTO_MAX_PEERS);
    uint64_t sum = 0;
    for (size_t i = 0; i < t->next_counts.len / 4; i++) sum += (uint32_t)s_i32(t->next_counts.data, i);
    if (s_bulk(ty, "next_rows", t->next_rows, sum, code, err)) return -1;
    return s_range(ty, "next_rows", t->next_rows, 0, (int64_t)ms->config->vocab_size - 1, code, err);
}

static int s_assign(const Hierbert__Assign *a, const proto_expect *ex, int *code, char *err) {
    if (s_model(a->model, ex, code, err)) return -1;
    const Hierbert__ModelSpec *ms = a->model;
    if (a->task_case == HIERBERT__ASSIGN__TASK_TRAIN) {
        const Hierbert__TrainTask *t = a->train;
        const char *ty = "Assign(train)";
        if (s_next_rows(t, ms, code, err)) return -1;
        if (t->shard_gen && t->n_samples == 0 && !t->eval) { /* a shard owner whose slice of the step is empty */
            if (t->ids.len || t->lengths.len || t->labels.len || t->steps != 1 || t->step_sizes.len != 4 ||
                s_i32(t->step_sizes.data, 0) != 0)
                return FAIL(PROTO_E_SHAPE, "Assign(train): an empty sharded slice with rows or %u steps", t->steps);
            return t->send_grad ? 0 : FAIL(PROTO_E_SHAPE, "Assign(train): sharded without send_grad");
        }
        if (s_tokens(ty, t->n_samples, t->ids, t->lengths, ms, code, err)) return -1;
        if (s_bulk(ty, "labels", t->labels, t->n_samples, code, err)) return -1;
        if (s_range(ty, "labels", t->labels, 0, (int64_t)ms->num_classes - 1, code, err)) return -1;
        if (t->sample_ids.len && s_bulk(ty, "sample_ids", t->sample_ids, t->n_samples, code, err)) return -1;
        if (t->eval) return 0;
        if (t->steps < 1 || t->steps > PROTO_MAX_SAMPLES)
            return FAIL(PROTO_E_SHAPE, "Assign(train): steps %u outside 1..%u", t->steps, PROTO_MAX_SAMPLES);
        if (t->send_grad && t->steps != 1)
            return FAIL(PROTO_E_SHAPE, "Assign(train): send_grad with %u steps (one step a round)", t->steps);
        if (t->shard_gen && (!t->send_grad || t->total_samples < t->n_samples))
            return FAIL(PROTO_E_SHAPE, "Assign(train): sharded (gen %llu) needs send_grad and total_samples %u >= %u",
                        (unsigned long long)t->shard_gen, t->total_samples, t->n_samples);
        if (s_bulk(ty, "step_sizes", t->step_sizes, t->steps, code, err) ||
            s_range(ty, "step_sizes", t->step_sizes, 0, ms->batch, code, err))
            return -1;
        uint64_t sum = 0;
        for (uint32_t i = 0; i < t->steps; i++) sum += (uint64_t)s_i32(t->step_sizes.data, i);
        if (sum != t->n_samples)
            return FAIL(PROTO_E_SHAPE, "Assign(train): step_sizes sum to %llu, n_samples is %u",
                        (unsigned long long)sum, t->n_samples);
        return 0;
    }
    if (a->task_case == HIERBERT__ASSIGN__TASK_EMBED) {
        const Hierbert__EmbedTask *t = a->embed;
        const char *ty = "Assign(embed)";
        if (t->n_doc_ids < 1 || t->n_doc_ids > PROTO_MAX_SAMPLES)
            return FAIL(PROTO_E_SHAPE, "%s: %zu documents", ty, t->n_doc_ids);
        for (size_t i = 0; i < t->n_doc_ids; i++)
            if (s_str(ty, "doc_id", t->doc_ids[i], 1024, 1, code, err)) return -1;
        if (s_tokens(ty, t->n_samples, t->ids, t->lengths, ms, code, err)) return -1;
        if (s_bulk(ty, "chunk_counts", t->chunk_counts, t->n_doc_ids, code, err)) return -1;
        if (s_range(ty, "chunk_counts", t->chunk_counts, 1, PROTO_MAX_SAMPLES, code, err)) return -1;
        uint64_t sum = 0;
        for (size_t i = 0; i < t->n_doc_ids; i++) sum += (uint64_t)s_i32(t->chunk_counts.data, i);
        if (sum != t->n_samples)
            return FAIL(PROTO_E_SHAPE, "%s: chunk_counts sum to %llu, n_samples is %u", ty, (unsigned long long)sum,
                        t->n_samples);
        return 0;
    }
    return FAIL(PROTO_E_MALFORMED, "Assign: no task");
}

static int s_shard_plan(const Hierbert__ShardPlan *p, const proto_expect *ex, int *code, char *err) {
    const char *t = "ShardPlan";
    size_t W = p->n_peers;
    if (!p->gen) return FAIL(PROTO_E_MALFORMED, "ShardPlan: generation 0");
    if (W < 1 || W > PROTO_MAX_PEERS || p->index >= W)
        return FAIL(PROTO_E_SHAPE, "ShardPlan: shard %u of %zu peers (1..%u)", p->index, W, PROTO_MAX_PEERS);
    for (size_t i = 0; i < W; i++)
        if (s_str(t, "peer", p->peers[i], 256, 1, code, err)) return -1;
    if (p->n_peer_public && p->n_peer_public != W)
        return FAIL(PROTO_E_SHAPE, "ShardPlan: %zu peer keys for %zu peers", p->n_peer_public, W);
    for (size_t i = 0; i < p->n_peer_public; i++)
        if (strlen(p->peer_public[i]) != 40)
            return FAIL(PROTO_E_MALFORMED, "ShardPlan: peer key %zu is not 40 Z85 characters", i);
    if (s_model(p->model, ex, code, err) || s_numel(t, p->numel, ex, code, err)) return -1;
    if (p->model->numel != p->numel)
        return FAIL(PROTO_E_SHAPE, "ShardPlan: numel %llu, its model %llu", (unsigned long long)p->numel,
                    (unsigned long long)p->model->numel);
    const size_t nb = p->n_bands ? p->n_bands : 1;
    if (nb > SHARD_MAP_MAX_BANDS || p->bounds.len != nb * (W + 1) * 8)
        return FAIL(PROTO_E_SHAPE, "ShardPlan: bounds of %zu bytes for %zu band(s) of %zu peers (expected %zu)",
                    p->bounds.len, nb, W, nb * (W + 1) * 8);
    uint64_t *b = hb_malloc(p->bounds.len), size = 0;
    memcpy(b, p->bounds.data, p->bounds.len);
    char why[200];
    int bad = shard_map_check((int)W, (int)nb, b, p->numel, (int)p->index, &size, why, sizeof why);
    free(b);
    if (bad) return FAIL(PROTO_E_SHAPE, "ShardPlan: %s", why);
    if (s_bulk(t, "params", p->params, size, code, err)) return -1;
    return s_moments(t, p->adam_m, p->adam_v, size, code, err);
}

static int s_submit(const Hierbert__Submit *s, int *code, char *err) {
    const char *t = "Submit";
    if (s_str(t, "train_path", s->train_path, PROTO_MAX_STRING, 0, code, err) ||
        s_str(t, "val_path", s->val_path, PROTO_MAX_STRING, 0, code, err) ||
        s_str(t, "test_path", s->test_path, PROTO_MAX_STRING, 0, code, err) ||
        s_str(t, "model_dir", s->model_dir, PROTO_MAX_STRING, 0, code, err) ||
        s_str(t, "vocab_path", s->vocab_path, PROTO_MAX_STRING, 0, code, err) ||
        s_str(t, "preset", s->preset, 64, 0, code, err) || s_str(t, "optimizer", s->optimizer, 64, 0, code, err) ||
        s_str(t, "name", s->name, 256, 0, code, err) || s_str(t, "average", s->average, 64, 0, code, err) ||
        s_str(t, "reduce", s->reduce, 64, 0, code, err) || s_str(t, "wire", s->wire, 16, 0, code, err) ||
        s_str(t, "schedule", s->schedule, 64, 0, code, err) || s_str(t, "encoding", s->encoding, 64, 0, code, err) ||
        s_str(t, "decode_errors", s->decode_errors, 64, 0, code, err) ||
        s_str(t, "chunk_policy", s->chunk_policy, 64, 0, code, err))

        return -1;
    if (!s->train_path[0] && !s->synthetic) return FAIL(PROTO_E_BAD_REQUEST, "Submit: no training data (--train)");
    if (!(s->val_fraction >= 0 && s->val_fraction < 1))
        return FAIL(PROTO_E_BAD_REQUEST, "Submit: val_fraction %g outside [0, 1)", s->val_fraction);
    if (s->seq_len > PROTO_MAX_SEQ || (s->seq_len && s->seq_len < 8))
        return FAIL(PROTO_E_BAD_REQUEST, "Submit: seq_len %u outside 8..%u", s->seq_len, PROTO_MAX_SEQ);
    if (s->seq_len && s->stride >= s->seq_len)
        return FAIL(PROTO_E_BAD_REQUEST, "Submit: stride %u must be below seq_len %u", s->stride, s->seq_len);
    if (s->batch > PROTO_MAX_SAMPLES) return FAIL(PROTO_E_BAD_REQUEST, "Submit: batch %u too large", s->batch);
    if (s->epochs > 10000) return FAIL(PROTO_E_BAD_REQUEST, "Submit: epochs %u too large", s->epochs);
    if (!(s->lr >= 0 && s->lr < 10)) return FAIL(PROTO_E_BAD_REQUEST, "Submit: lr %g outside [0, 10)", s->lr);
    if (!(s->warmup >= 0 && s->warmup <= 1))
        return FAIL(PROTO_E_BAD_REQUEST, "Submit: warmup %g outside [0, 1] (a fraction of the steps)", s->warmup);
    if (!(s->dropout < 1)) return FAIL(PROTO_E_BAD_REQUEST, "Submit: dropout %g must be below 1", s->dropout);
    if (s->optimizer[0] && strcmp(s->optimizer, "adamw") && strcmp(s->optimizer, "sgd"))
        return FAIL(PROTO_E_BAD_REQUEST, "Submit: optimizer '%s' (adamw or sgd)", s->optimizer);
    if (s->sync_every > 100000) return FAIL(PROTO_E_BAD_REQUEST, "Submit: sync_every %u too large", s->sync_every);
    if (s->average[0] && strcmp(s->average, "grads") && strcmp(s->average, "params"))
        return FAIL(PROTO_E_BAD_REQUEST, "Submit: average '%s' (grads or params)", s->average);
    if (!strcmp(s->average, "grads") && s->sync_every > 1)
        return FAIL(PROTO_E_BAD_REQUEST, "Submit: average grads takes one optimizer step a round: sync_every %u",
                    s->sync_every);
    if (s->wire[0] && strcmp(s->wire, "fp32") && strcmp(s->wire, "bf16"))
        return FAIL(PROTO_E_BAD_REQUEST, "Submit: wire '%s' (fp32 or bf16)", s->wire);
    if (s->reduce[0] && strcmp(s->reduce, "sharded") && strcmp(s->reduce, "coordinator"))
        return FAIL(PROTO_E_BAD_REQUEST, "Submit: reduce '%s' (sharded or coordinator)", s->reduce);
    if (s->synthetic > 1000000) return FAIL(PROTO_E_BAD_REQUEST, "Submit: synthetic %u too large", s->synthetic);
    if (!s_schedule_ok(s->schedule))
        return FAIL(PROTO_E_BAD_REQUEST, "Submit: schedule '%s' (constant, linear or cosine)", s->schedule);
    if (s->clip_norm_given && !(s->clip_norm >= 0 && s->clip_norm < 1e6f))
        return FAIL(PROTO_E_BAD_REQUEST, "Submit: clip_norm %g outside [0, 1e6) (0: no clipping)", s->clip_norm);
    if (s->weight_decay_given && !(s->weight_decay >= 0 && s->weight_decay < 1))
        return FAIL(PROTO_E_BAD_REQUEST, "Submit: weight_decay %g outside [0, 1)", s->weight_decay);
    if (s->decode_errors[0] && strcmp(s->decode_errors, "strict") && strcmp(s->decode_errors, "replace"))
        return FAIL(PROTO_E_BAD_REQUEST, "Submit: decode_errors '%s' (strict or replace)", s->decode_errors);
    if (s->chunk_policy[0] && strcmp(s->chunk_policy, "first") && strcmp(s->chunk_policy, "head-tail") &&
        strcmp(s->chunk_policy, "spread"))
        return FAIL(PROTO_E_BAD_REQUEST, "Submit: chunk_policy '%s' (first, head-tail or spread)", s->chunk_policy);
    return 0;
}

static int s_body(const proto_msg *m, const proto_expect *ex, int *code, char *err) {
    switch (m->body_case) {
    case HIERBERT__ENVELOPE__BODY_HELLO: {
        const Hierbert__Hello *h = m->hello;
        if (s_name("Hello", "worker_id", h->worker_id, 256, 1, code, err) ||
            s_name("Hello", "host", h->host, 256, 0, code, err) ||
            s_str("Hello", "peer_endpoint", h->peer_endpoint, 256, 0, code, err))
            return -1;
        if (h->threads < 1 || h->threads > 4096)
            return FAIL(PROTO_E_MALFORMED, "Hello: threads %u outside 1..4096", h->threads);
        return 0;
    }
    case HIERBERT__ENVELOPE__BODY_ASSIGN:
        return s_assign(m->assign, ex, code, err);
    case HIERBERT__ENVELOPE__BODY_PARAMS: {
        const Hierbert__Params *p = m->params;
        if (s_numel("Params", p->numel, ex, code, err) || s_bulk("Params", "params", p->params, p->numel, code, err) ||
            s_moments("Params", p->adam_m, p->adam_v, p->numel, code, err))
            return -1;
        return 0;
    }
    case HIERBERT__ENVELOPE__BODY_UPDATE: {
        const Hierbert__Update *u = m->update;
        if (u->n_samples > PROTO_MAX_SAMPLES)
            return FAIL(PROTO_E_SHAPE, "Update: n_samples %u above %u", u->n_samples, PROTO_MAX_SAMPLES);
        if (u->n_correct > u->n_samples)
            return FAIL(PROTO_E_SHAPE, "Update: n_correct %u above n_samples %u", u->n_correct, u->n_samples);
        if (u->eval) {
            if (u->params.len || u->grads.len || u->grad_rows.len || u->adam_m.len || u->adam_v.len)
                return FAIL(PROTO_E_SHAPE, "Update(eval): carries parameters");
            return 0;
        }
        if (u->n_samples < 1 && !u->shard_hi) return FAIL(PROTO_E_SHAPE, "Update: n_samples is 0");
        if (u->shard_hi) { /* sharded reduction: figures, and on checkpoint rounds the shard's state */
            if (u->shard_lo >= u->shard_hi || u->shard_hi > u->numel)
                return FAIL(PROTO_E_SHAPE, "Update: shard [%llu, %llu) of %llu floats", (unsigned long long)u->shard_lo,
                            (unsigned long long)u->shard_hi, (unsigned long long)u->numel);
            if (u->params.len || u->grads.len || u->grad_rows.len || u->adam_m.len || u->adam_v.len)
                return FAIL(PROTO_E_SHAPE, "Update(sharded): carries a whole buffer");
            return s_numel("Update", u->numel, ex, code, err);
        }
        if (u->params.len && u->grads.len) return FAIL(PROTO_E_SHAPE, "Update: carries both params and grads");
        if (u->grad_rows.len) { /* sparse word-embedding rows: the receiver checks them against its model */
            if (!u->grads.len) return FAIL(PROTO_E_SHAPE, "Update: grad_rows without grads");
            if (u->grad_rows.len % 4 || u->grads.len % 4 || u->grads.len / 4 > u->numel)
                return FAIL(PROTO_E_SHAPE, "Update: grads %zu / grad_rows %zu bytes do not fit numel %llu",
                            u->grads.len, u->grad_rows.len, (unsigned long long)u->numel);
            if (s_numel("Update", u->numel, ex, code, err) ||
                s_moments("Update", u->adam_m, u->adam_v, u->numel, code, err))
                return -1;
            return 0;
        }
        if (s_numel("Update", u->numel, ex, code, err) ||
            s_bulk("Update", u->grads.len ? "grads" : "params", u->grads.len ? u->grads : u->params, u->numel, code,
                   err) ||
            s_moments("Update", u->adam_m, u->adam_v, u->numel, code, err))
            return -1;
        return 0;
    }
    case HIERBERT__ENVELOPE__BODY_DOC_EMBEDDINGS: {
        const Hierbert__DocEmbeddings *d = m->doc_embeddings;
        if (s_str("DocEmbeddings", "doc_id", d->doc_id, 1024, 1, code, err)) return -1;
        if (d->n_chunks < 1 || d->n_chunks > PROTO_MAX_SAMPLES || d->dim < 1 || d->dim > PROTO_MAX_DIM)
            return FAIL(PROTO_E_SHAPE, "DocEmbeddings: shape [%u][%u] out of range", d->n_chunks, d->dim);
        if (ex->dim && d->dim != ex->dim)
            return FAIL(PROTO_E_SHAPE, "DocEmbeddings: dim %u, the job's hidden size is %u", d->dim, ex->dim);
        if (d->logits.len && ex->num_classes &&
            s_bulk("DocEmbeddings", "logits", d->logits, (uint64_t)d->n_chunks * ex->num_classes, code, err))
            return -1;
        if (d->logits.len % (4 * (size_t)d->n_chunks))
            return FAIL(PROTO_E_SHAPE, "DocEmbeddings: logits of %zu bytes for %u chunks", d->logits.len, d->n_chunks);
        return s_bulk("DocEmbeddings", "data", d->data, (uint64_t)d->n_chunks * d->dim, code, err);
    }
    case HIERBERT__ENVELOPE__BODY_HEAD_BATCH: {
        const Hierbert__HeadBatch *h = m->head_batch;
        const char *t = "HeadBatch";
        if (h->n_docs < 1 || h->n_docs > PROTO_MAX_SAMPLES || h->dim < 1 || h->dim > PROTO_MAX_DIM)
            return FAIL(PROTO_E_SHAPE, "HeadBatch: %u documents of dim %u out of range", h->n_docs, h->dim);
        if (ex->dim && h->dim != ex->dim)
            return FAIL(PROTO_E_SHAPE, "HeadBatch: dim %u, the job's is %u", h->dim, ex->dim);
        if (s_bulk(t, "lengths", h->lengths, h->n_docs, code, err) ||
            s_range(t, "lengths", h->lengths, 1, PROTO_MAX_SAMPLES, code, err) ||
            s_bulk(t, "labels", h->labels, h->n_docs, code, err) ||
            s_range(t, "labels", h->labels, 0, ex->num_classes ? ex->num_classes - 1 : PROTO_MAX_CLASSES, code, err))
            return -1;
        uint64_t rows = 0;
        for (uint32_t i = 0; i < h->n_docs; i++) rows += (uint64_t)s_i32(h->lengths.data, i);
        return s_bulk(t, "data", h->data, rows * h->dim, code, err);
    }
    case HIERBERT__ENVELOPE__BODY_HEAD_RESULT: {
        const Hierbert__HeadResult *h = m->head_result;
        if (h->n_correct > h->n_docs) return FAIL(PROTO_E_SHAPE, "HeadResult: n_correct above n_docs");
        if (h->probs.len % 4 || h->params.len % 4)
            return FAIL(PROTO_E_SHAPE, "HeadResult: float bytes not a multiple of 4");
        if (h->probs.len && ex->num_classes)
            return s_bulk("HeadResult", "probs", h->probs, (uint64_t)h->n_docs * ex->num_classes, code, err);
        return 0;
    }
    case HIERBERT__ENVELOPE__BODY_GOODBYE:
        return s_str("Goodbye", "reason", m->goodbye->reason, PROTO_MAX_STRING, 0, code, err);
    case HIERBERT__ENVELOPE__BODY_SUBMIT:
        return s_submit(m->submit, code, err);
    case HIERBERT__ENVELOPE__BODY_EXPORT:
        return s_str("Export", "dir", m->export->dir, PROTO_MAX_STRING, 1, code, err);
    case HIERBERT__ENVELOPE__BODY_ERROR:
        return s_str("Error", "message", m->error->message, PROTO_MAX_STRING, 0, code, err);
    case HIERBERT__ENVELOPE__BODY_SHARD_PLAN:
        return s_shard_plan(m->shard_plan, ex, code, err);
    case HIERBERT__ENVELOPE__BODY_SHARD_READY:
        return s_str("ShardReady", "error", m->shard_ready->error, PROTO_MAX_STRING, 0, code, err);
    case HIERBERT__ENVELOPE__BODY_SHARD_STATE: {
        const Hierbert__ShardState *st = m->shard_state;
        if (!st->gen) return FAIL(PROTO_E_MALFORMED, "ShardState: generation 0");
        if (st->index >= PROTO_MAX_PEERS)
            return FAIL(PROTO_E_SHAPE, "ShardState: shard %u (at most %u peers)", st->index, PROTO_MAX_PEERS);
        if (st->shard_lo >= st->shard_hi || st->shard_hi > st->numel)
            return FAIL(PROTO_E_SHAPE, "ShardState: shard [%llu, %llu) of %llu floats",
                        (unsigned long long)st->shard_lo, (unsigned long long)st->shard_hi,
                        (unsigned long long)st->numel);
        if (st->raw && (st->params.len || st->adam_m.len || st->adam_v.len))
            return FAIL(PROTO_E_SHAPE, "ShardState: raw frames announced, yet %zu/%zu/%zu bytes in the fields",
                        st->params.len, st->adam_m.len, st->adam_v.len);
        if (st->raw) return s_numel("ShardState", st->numel, ex, code, err); /* the frames: proto_raw_frames */
        if (s_numel("ShardState", st->numel, ex, code, err) ||
            s_bulk("ShardState", "params", st->params, st->shard_hi - st->shard_lo, code, err) ||
            s_moments("ShardState", st->adam_m, st->adam_v, st->shard_hi - st->shard_lo, code, err))
            return -1;
        return 0;
    }
    case HIERBERT__ENVELOPE__BODY_PEER_SHARD: {
        const Hierbert__PeerShard *p = m->peer_shard;
        if (!p->gen) return FAIL(PROTO_E_MALFORMED, "PeerShard: generation 0");
        if (p->from >= PROTO_MAX_PEERS || p->shard >= PROTO_MAX_PEERS)
            return FAIL(PROTO_E_SHAPE, "PeerShard: shard %u from %u (at most %u peers)", p->shard, p->from,
                        PROTO_MAX_PEERS);
        if (p->rows.len % 4) return FAIL(PROTO_E_SHAPE, "PeerShard: rows of %zu bytes", p->rows.len);
        if (p->kind == HIERBERT__PEER_SHARD__KIND__NORM && !(p->sq_norm >= 0))
            return FAIL(PROTO_E_MALFORMED, "PeerShard: squared norm %g", p->sq_norm);
        return 0;
    }
    case HIERBERT__ENVELOPE__BODY_HEARTBEAT:
        return s_name("Heartbeat", "worker_id", m->heartbeat->worker_id, 256, 0, code, err);
    case HIERBERT__ENVELOPE__BODY_SUBMIT_REPLY:
    case HIERBERT__ENVELOPE__BODY_CANCEL:
    case HIERBERT__ENVELOPE__BODY_CANCEL_REPLY:
    case HIERBERT__ENVELOPE__BODY_LIST:
    case HIERBERT__ENVELOPE__BODY_LIST_REPLY:
    case HIERBERT__ENVELOPE__BODY_STATUS:
    case HIERBERT__ENVELOPE__BODY_STATUS_REPLY:
    case HIERBERT__ENVELOPE__BODY_RESULT:
    case HIERBERT__ENVELOPE__BODY_RESULT_REPLY:
    case HIERBERT__ENVELOPE__BODY_EXPORT_REPLY:
        return 0;
    default:
        return FAIL(PROTO_E_MALFORMED, "Envelope without a body (or of an unknown type %d)", (int)m->body_case);
    }
}

int proto_decode(const void *buf, size_t len, const proto_expect *ex, proto_msg **out, int *code, char *err) {
    static const proto_expect none = {0};
    int dummy;
    if (!code) code = &dummy;
    *out = NULL;
    if (!ex) ex = &none;
    size_t cap = ex->max_frame ? ex->max_frame : PROTO_DEFAULT_MAX_FRAME;
    if (len > cap) return FAIL(PROTO_E_TOO_BIG, "frame of %zu bytes exceeds the cap of %zu bytes", len, cap);
    if (len == 0) return FAIL(PROTO_E_MALFORMED, "empty frame (expected a hierbert Envelope)");
    proto_msg *m = hierbert__envelope__unpack(NULL, len, buf);
    if (!m) return FAIL(PROTO_E_MALFORMED, "malformed frame of %zu bytes: not a hierbert Envelope", len);
    if (m->version != PROTO_VERSION) {
        FAIL(PROTO_E_VERSION, "%s: protocol version %u, this side speaks version %u", proto_type_name(m), m->version,
             PROTO_VERSION);
        hierbert__envelope__free_unpacked(m, NULL);
        return -1;
    }
    if (s_body(m, ex, code, err)) {
        hierbert__envelope__free_unpacked(m, NULL);
        return -1;
    }
    *out = m;
    return 0;
}

void proto_free(proto_msg **m) {
    if (m && *m) {
        hierbert__envelope__free_unpacked(*m, NULL);
        *m = NULL;
    }
}
