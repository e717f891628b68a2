/*
 * test_proto_frame.c - proto_decode is the only door from a socket to a
 * handler: valid frames of every kind round-trip bit-exactly; truncated,
 * garbage, oversized, wrong-version and wrong-shape frames are refused with a
 * reason naming the message type; random mutations of valid frames never
 * crash it (bounded count; HB_LONG=1 runs many more).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "frame.h"
#include "hb_error.h"

static uint64_t s_rng = 88172645463325252ull;
static uint32_t s_rand(void) {
    s_rng ^= s_rng << 13;
    s_rng ^= s_rng >> 7;
    s_rng ^= s_rng << 17;
    return (uint32_t)(s_rng >> 11);
}

/* packs m, decodes it back with ex; returns the decoded message */
static proto_msg *s_roundtrip(const proto_msg *m, const proto_expect *ex, uint8_t **buf, size_t *len) {
    char err[HB_ERR_LEN] = "";
    int code = 0;
    *buf = proto_pack(m, len);
    proto_msg *d = NULL;
    CHECK_OK(proto_decode(*buf, *len, ex, &d, &code, err), err);
    CHECK(d->version == PROTO_VERSION && d->job_id == m->job_id && d->body_case == m->body_case,
          "envelope fields survive");
    return d;
}

static int s_refused(const void *buf, size_t len, const proto_expect *ex, int want_code, const char *want_text) {
    char err[HB_ERR_LEN] = "";
    int code = 0;
    proto_msg *d = NULL;
    int rc = proto_decode(buf, len, ex, &d, &code, err);
    CHECK(rc == -1 && d == NULL, "frame should be refused (%s)", want_text);
    CHECK(code == want_code, "error code %d, expected %d (%s)", code, want_code, err);
    CHECK(strstr(err, want_text), "error '%s' should mention '%s'", err, want_text);
    t_ok("refused: %s", err);
    return 0;
}

/* a Hello (from *base with worker_id and host replaced) or, base NULL, a
 * Heartbeat from hb_id: refused as MALFORMED with want_text */
static void s_name_refused(const Hierbert__Hello *base, const char *id, const char *host, const char *hb_id,
                           const char *want_text) {
    proto_msg m;
    Hierbert__Hello h = HIERBERT__HELLO__INIT;
    Hierbert__Heartbeat bt = HIERBERT__HEARTBEAT__INIT;
    proto_env_init(&m, 0);
    if (base) {
        h = *base;
        h.worker_id = (char *)id;
        h.host = (char *)host;
        m.body_case = HIERBERT__ENVELOPE__BODY_HELLO;
        m.hello = &h;
    } else {
        bt.worker_id = (char *)hb_id;
        m.body_case = HIERBERT__ENVELOPE__BODY_HEARTBEAT;
        m.heartbeat = &bt;
    }
    size_t len;
    uint8_t *buf = proto_pack(&m, &len);
    s_refused(buf, len, NULL, PROTO_E_MALFORMED, want_text);
    free(buf);
}

int main(void) {
    enum { N = 1000, L = 16, S = 6, C = 3, V = 50 };
    float *params = malloc(N * sizeof(float)), *mm = malloc(N * sizeof(float)), *vv = malloc(N * sizeof(float));
    for (int i = 0; i < N; i++) {
        params[i] = (float)i * 0.001f - 0.3f;
        mm[i] = (float)i;
        vv[i] = 1.0f / (float)(i + 1);
    }
    proto_expect ex = {.numel = N, .seq_len = L, .num_classes = C, .vocab_size = V};

    /* --- Params round trip: every float bit-exact ------------------------ */
    proto_msg m;
    proto_env_init(&m, 42);
    Hierbert__Params p = HIERBERT__PARAMS__INIT;
    p.round = 7;
    p.numel = N;
    p.params = proto_bytes(params, N * 4);
    p.adam_m = proto_bytes(mm, N * 4);
    p.adam_v = proto_bytes(vv, N * 4);
    m.body_case = HIERBERT__ENVELOPE__BODY_PARAMS;
    m.params = &p;
    uint8_t *pbuf;
    size_t plen;
    proto_msg *d = s_roundtrip(&m, &ex, &pbuf, &plen);
    CHECK(d->params->round == 7 && d->params->numel == N, "Params header");
    CHECK(!memcmp(d->params->params.data, params, N * 4) && !memcmp(d->params->adam_v.data, vv, N * 4),
          "Params floats bit-exact");
    proto_free(&d);
    CHECK(d == NULL, "proto_free nulls");
    t_ok("Params of %d floats (+2 moments) round-trips bit-exactly in %zu bytes", N, plen);

    /* --- Assign(train) round trip ---------------------------------------- */
    int32_t ids[S * L], lens[S], labels[S];
    for (int i = 0; i < S; i++) {
        lens[i] = 3 + i;
        labels[i] = i % C;
        for (int t = 0; t < L; t++) ids[i * L + t] = t < lens[i] ? (i * 7 + t) % V : 0;
    }
    Hierbert__BertConfig bc = HIERBERT__BERT_CONFIG__INIT;
    bc.vocab_size = V;
    bc.hidden_size = 8;
    bc.num_hidden_layers = 1;
    bc.num_attention_heads = 2;
    bc.intermediate_size = 16;
    bc.max_position_embeddings = 64;
    bc.type_vocab_size = 2;
    bc.layer_norm_eps = 1e-12f;
    Hierbert__ModelSpec ms = HIERBERT__MODEL_SPEC__INIT;
    ms.config = &bc;
    ms.optimizer = "sgd";
    ms.num_classes = C;
    ms.seq_len = L;
    ms.batch = 2;
    ms.lr = 0.1f;
    ms.numel = N;
    Hierbert__TrainTask tt = HIERBERT__TRAIN_TASK__INIT;
    tt.round = 3;
    tt.steps = 3;
    tt.n_samples = S;
    tt.ids = proto_bytes(ids, sizeof ids);
    tt.lengths = proto_bytes(lens, sizeof lens);
    tt.labels = proto_bytes(labels, sizeof labels);
    int32_t step_sizes[3] = {2, 2, 2};
    tt.step_sizes = proto_bytes(step_sizes, sizeof step_sizes);
    Hierbert__Assign as = HIERBERT__ASSIGN__INIT;
    as.model = &ms;
    as.task_case = HIERBERT__ASSIGN__TASK_TRAIN;
    as.train = &tt;
    proto_env_init(&m, 42);
    m.body_case = HIERBERT__ENVELOPE__BODY_ASSIGN;
    m.assign = &as;
    uint8_t *abuf;
    size_t alen;
    d = s_roundtrip(&m, &ex, &abuf, &alen);
    CHECK(d->assign->train->n_samples == S && !memcmp(d->assign->train->ids.data, ids, sizeof ids) &&
              d->assign->model->config->hidden_size == 8,
          "Assign fields");
    proto_free(&d);
    t_ok("Assign(train) of %d chunks x L=%d round-trips", S, L);

    /* --- Hello, Submit, Error round trips -------------------------------- */
    Hierbert__Hello h = HIERBERT__HELLO__INIT;
    h.worker_id = "w1";
    h.host = "node-a";
    h.cores = 2;
    h.threads = 1;
    proto_env_init(&m, 0);
    m.body_case = HIERBERT__ENVELOPE__BODY_HELLO;
    m.hello = &h;
    uint8_t *hbuf;
    size_t hlen;
    d = s_roundtrip(&m, NULL, &hbuf, &hlen);
    CHECK(!strcmp(d->hello->worker_id, "w1") && d->hello->threads == 1, "Hello fields");
    proto_free(&d);
    t_ok("Hello round-trips");

    Hierbert__Submit sb = HIERBERT__SUBMIT__INIT;
    sb.train_path = "/data/train.jsonl";
    sb.seq_len = 128;
    sb.stride = 0;
    sb.epochs = 2;
    sb.lr = 2e-5f;
    proto_env_init(&m, 0);
    m.body_case = HIERBERT__ENVELOPE__BODY_SUBMIT;
    m.submit = &sb;
    uint8_t *sbuf;
    size_t slen;
    d = s_roundtrip(&m, NULL, &sbuf, &slen);
    CHECK(!strcmp(d->submit->train_path, "/data/train.jsonl") && d->submit->seq_len == 128, "Submit fields");
    proto_free(&d);
    free(sbuf);
    t_ok("Submit round-trips");

    /* --- refusals --------------------------------------------------------- */
    s_refused(pbuf, plen - 5, &ex, PROTO_E_MALFORMED, "malformed frame");
    const char garbage[] = "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff garbage";
    s_refused(garbage, sizeof garbage, &ex, PROTO_E_MALFORMED, "not a hierbert Envelope");
    s_refused("", 0, &ex, PROTO_E_MALFORMED, "empty frame");
    proto_expect small = ex;
    small.max_frame = 1024;
    s_refused(pbuf, plen, &small, PROTO_E_TOO_BIG, "exceeds the cap");

    /* another protocol version: the type is named */
    proto_env_init(&m, 0);
    m.version = 1;
    m.body_case = HIERBERT__ENVELOPE__BODY_HELLO;
    m.hello = &h;
    size_t vlen;
    uint8_t *vbuf = proto_pack(&m, &vlen);
    s_refused(vbuf, vlen, NULL, PROTO_E_VERSION, "Hello: protocol version 1");
    free(vbuf);

    /* worker-supplied names go unescaped into event JSON and logs: a quote,
     * a backslash or a control byte is refused (issue 14, security review) */
    {
        const char *bad_ids[] = {"w\"1", "w\\1", "w\n1", "w\x7f", "w\xc3\xa9"};
        for (size_t i = 0; i < sizeof bad_ids / sizeof *bad_ids; i++)
            s_name_refused(&h, bad_ids[i], h.host, NULL, "Hello: worker_id holds byte");
        s_name_refused(&h, h.worker_id, "node-a\",\"x\":\"1", NULL, "Hello: host holds byte 0x22 at offset 6");
        s_name_refused(NULL, NULL, NULL, "w\\", "Heartbeat: worker_id holds byte 0x5c");
        Hierbert__Hello hb = h;
        hb.host = "node-a.example_1:2 (x)";
        proto_env_init(&m, 0);
        m.body_case = HIERBERT__ENVELOPE__BODY_HELLO;
        m.hello = &hb;
        uint8_t *okbuf;
        size_t oklen;
        d = s_roundtrip(&m, NULL, &okbuf, &oklen);
        CHECK(!strcmp(d->hello->host, "node-a.example_1:2 (x)"), "a printable host passes");
        proto_free(&d);
        free(okbuf);
        t_ok("worker ids and hosts: quote, backslash, control and non-ASCII bytes refused; printable ones pass");
    }

    /* an Envelope without body */
    proto_env_init(&m, 0);
    vbuf = proto_pack(&m, &vlen);
    s_refused(vbuf, vlen, NULL, PROTO_E_MALFORMED, "without a body");
    free(vbuf);

    /* Params whose numel disagrees with the job, and whose bytes are not 4k */
    proto_expect other = ex;
    other.numel = N + 1;
    s_refused(pbuf, plen, &other, PROTO_E_SHAPE, "Params: numel 1000, the job's model has 1001");
    proto_env_init(&m, 42);
    m.body_case = HIERBERT__ENVELOPE__BODY_PARAMS;
    m.params = &p;
    p.params = proto_bytes(params, N * 4 - 2);
    vbuf = proto_pack(&m, &vlen);
    s_refused(vbuf, vlen, &ex, PROTO_E_SHAPE, "not a multiple of 4");
    free(vbuf);
    p.params = proto_bytes(params, (N - 1) * 4);
    vbuf = proto_pack(&m, &vlen);
    s_refused(vbuf, vlen, &ex, PROTO_E_SHAPE, "Params: params has 3996 bytes, expected 1000 x 4");
    free(vbuf);
    p.params = proto_bytes(params, N * 4);

    /* Assign with a label out of range, a token id out of the vocabulary,
     * ids shorter than n_samples x L */
    proto_env_init(&m, 42);
    m.body_case = HIERBERT__ENVELOPE__BODY_ASSIGN;
    m.assign = &as;
    labels[2] = C;
    vbuf = proto_pack(&m, &vlen);
    s_refused(vbuf, vlen, &ex, PROTO_E_SHAPE, "labels[2] = 3 outside 0..2");
    free(vbuf);
    labels[2] = 2 % C;
    ids[5] = V;
    vbuf = proto_pack(&m, &vlen);
    s_refused(vbuf, vlen, &ex, PROTO_E_SHAPE, "ids[5] = 50 outside 0..49");
    free(vbuf);
    ids[5] = 1;
    tt.ids = proto_bytes(ids, sizeof ids - L * 4);
    vbuf = proto_pack(&m, &vlen);
    s_refused(vbuf, vlen, &ex, PROTO_E_SHAPE, "Assign(train): ids has");
    free(vbuf);
    tt.ids = proto_bytes(ids, sizeof ids);
    step_sizes[1] = 1;
    vbuf = proto_pack(&m, &vlen);
    s_refused(vbuf, vlen, &ex, PROTO_E_SHAPE, "step_sizes sum to 5, n_samples is 6");
    free(vbuf);
    step_sizes[1] = 2;
    proto_expect otherL = ex;
    otherL.seq_len = 32;
    s_refused(abuf, alen, &otherL, PROTO_E_SHAPE, "seq_len 16, the job's is 32");

    /* Submit out of range */
    sb.val_fraction = 1.5f;
    proto_env_init(&m, 0);
    m.body_case = HIERBERT__ENVELOPE__BODY_SUBMIT;
    m.submit = &sb;
    vbuf = proto_pack(&m, &vlen);
    s_refused(vbuf, vlen, NULL, PROTO_E_BAD_REQUEST, "val_fraction");
    free(vbuf);
    sb.val_fraction = 0;
    /* the optimizer settings of issue 13: each bad value refused by name */
    struct {
        const char *schedule;
        float clip, wd;
        const char *want;
    } bad[] = {{"warmup_cosine", -1, -1, "schedule 'warmup_cosine'"},
               {"", -0.5f, -1, "clip_norm -0.5"},
               {"", 1e7f, -1, "clip_norm 1e+07"},
               {"", -1, 1.0f, "weight_decay 1"},
               {"", -1, -0.1f, "weight_decay -0.1"}};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        sb.schedule = (char *)bad[k].schedule;
        sb.clip_norm_given = bad[k].clip != -1;
        sb.clip_norm = bad[k].clip;
        sb.weight_decay_given = bad[k].wd != -1;
        sb.weight_decay = bad[k].wd;
        vbuf = proto_pack(&m, &vlen);
        s_refused(vbuf, vlen, NULL, PROTO_E_BAD_REQUEST, bad[k].want);
        free(vbuf);
    }
    sb.schedule = "cosine";
    sb.clip_norm_given = sb.weight_decay_given = 1;
    sb.clip_norm = 0;
    sb.weight_decay = 0.01f;
    {
        char e2[HB_ERR_LEN] = "";
        int code2 = 0;
        proto_msg *d2 = NULL;
        vbuf = proto_pack(&m, &vlen);
        CHECK(proto_decode(vbuf, vlen, NULL, &d2, &code2, e2) == 0 && !strcmp(d2->submit->schedule, "cosine") &&
                  d2->submit->clip_norm_given && d2->submit->clip_norm == 0,
              "cosine, clip 0, weight decay 0.01 refused: %s", e2);
        proto_free(&d2);
        free(vbuf);
    }
    t_ok("Submit: a bad schedule, clip norm or weight decay refused by name; cosine / clip 0 (given) accepted");

    /* --- sharded reduction: ShardPlan, PeerShard, sharded Update --------- */
    char *peers[3] = {"ipc:///tmp/a", "ipc:///tmp/b", "tcp://10.0.0.3:7001"};
    uint64_t bounds[4] = {0, 320, 640, N};
    Hierbert__ShardPlan sp = HIERBERT__SHARD_PLAN__INIT;
    sp.gen = 77;
    sp.index = 1;
    sp.n_peers = 3;
    sp.peers = peers;
    sp.bounds = proto_bytes(bounds, sizeof bounds);
    sp.round = 4;
    sp.numel = N;
    sp.params = proto_bytes(params, 320 * sizeof(float)); /* its shard only */
    sp.adam_m = proto_bytes(mm, 320 * sizeof(float));
    sp.adam_v = proto_bytes(vv, 320 * sizeof(float));
    sp.model = &ms;
    proto_env_init(&m, 42);
    m.body_case = HIERBERT__ENVELOPE__BODY_SHARD_PLAN;
    m.shard_plan = &sp;
    uint8_t *spbuf, *vb;
    size_t splen, vl;
    d = s_roundtrip(&m, &ex, &spbuf, &splen);
    CHECK(d->shard_plan->n_peers == 3 && !strcmp(d->shard_plan->peers[2], peers[2]) &&
              !memcmp(d->shard_plan->params.data, params, 320 * sizeof(float)) &&
              !memcmp(d->shard_plan->adam_v.data, vv, 320 * sizeof(float)),
          "ShardPlan fields");
    proto_free(&d);
    t_ok("ShardPlan (3 peers, the shard's moments) round-trips bit-exactly");
    struct {
        uint64_t b[4];
        size_t moments;
        uint32_t index;
        const char *why;
    } bad_plans[] = {
        {{0, 320, 640, N - 1}, 320, 1, "not 0..numel"},
        {{0, 640, 320, N}, 320, 1, "band 0: shard 1's piece is reversed"},
        {{0, 320, 320, N}, 0, 1, "shard 1 is empty"},
        {{0, 320, 640, N}, 319, 1, "adam_m has 1276 bytes"},
        {{0, 320, 640, N}, 320, 3, "shard 3 of 3 peers"},
    };
    for (size_t i = 0; i < sizeof bad_plans / sizeof bad_plans[0]; i++) {
        sp.bounds = proto_bytes(bad_plans[i].b, sizeof bounds);
        sp.adam_m = proto_bytes(mm, bad_plans[i].moments * sizeof(float));
        sp.index = bad_plans[i].index;
        vb = proto_pack(&m, &vl);
        s_refused(vb, vl, &ex, PROTO_E_SHAPE, bad_plans[i].why);
        free(vb);
    }
    sp.bounds = proto_bytes(bounds, sizeof bounds);
    sp.adam_m = proto_bytes(mm, 320 * sizeof(float));
    sp.index = 1;
    sp.params = proto_bytes(params, N * sizeof(float)); /* the whole buffer: protocol 3's plan */
    vb = proto_pack(&m, &vl);
    s_refused(vb, vl, &ex, PROTO_E_SHAPE, "ShardPlan: params has 4000 bytes, expected 320 x 4");
    free(vb);
    sp.params = proto_bytes(params, 320 * sizeof(float));
    /* bands (proto/shard_map.h): shard k is piece k of each; its floats, ascending */
    {
        uint64_t b2[8] = {0, 100, 200, 300, 300, 400, 500, N};
        sp.n_bands = 2;
        sp.bounds = proto_bytes(b2, sizeof b2);
        sp.params = proto_bytes(params, 200 * sizeof(float));
        sp.adam_m = proto_bytes(mm, 200 * sizeof(float));
        sp.adam_v = proto_bytes(vv, 200 * sizeof(float));
        uint8_t *b2buf;
        size_t b2len;
        d = s_roundtrip(&m, &ex, &b2buf, &b2len);
        CHECK(d->shard_plan->n_bands == 2 && d->shard_plan->bounds.len == sizeof b2, "ShardPlan bands");
        proto_free(&d);
        free(b2buf);
        t_ok("ShardPlan of 2 bands (shard 1: floats [100, 200) and [400, 500)) round-trips");
        b2[4] = 310; /* band 1 does not start where band 0 ends */
        vb = proto_pack(&m, &vl);
        s_refused(vb, vl, &ex, PROTO_E_SHAPE, "band 1 starts at 310, band 0 ended at 300");
        free(vb);
        b2[4] = 300;
        sp.bounds = proto_bytes(b2, 7 * 8); /* not n_bands x (W + 1) */
        vb = proto_pack(&m, &vl);
        s_refused(vb, vl, &ex, PROTO_E_SHAPE, "bounds of 56 bytes for 2 band(s) of 3 peers (expected 64)");
        free(vb);
        sp.bounds = proto_bytes(b2, sizeof b2);
        sp.params = proto_bytes(params, 320 * sizeof(float)); /* one band's size */
        vb = proto_pack(&m, &vl);
        s_refused(vb, vl, &ex, PROTO_E_SHAPE, "ShardPlan: params has 1280 bytes, expected 200 x 4");
        free(vb);
        sp.n_bands = 0;
        sp.bounds = proto_bytes(bounds, sizeof bounds);
        sp.params = proto_bytes(params, 320 * sizeof(float));
        sp.adam_m = proto_bytes(mm, 320 * sizeof(float));
        sp.adam_v = proto_bytes(vv, 320 * sizeof(float));
    }

    Hierbert__PeerShard ps = HIERBERT__PEER_SHARD__INIT;
    int32_t rows[3] = {1, 5, 9};
    ps.gen = 77;
    ps.kind = HIERBERT__PEER_SHARD__KIND__GRAD;
    ps.from = 2;
    ps.shard = 1;
    ps.lo = 320;
    ps.hi = 640;
    ps.last = 1;
    ps.rows = proto_bytes(rows, sizeof rows);
    proto_env_init(&m, 42);
    m.body_case = HIERBERT__ENVELOPE__BODY_PEER_SHARD;
    m.peer_shard = &ps;
    d = s_roundtrip(&m, &ex, &vb, &vl);
    CHECK(d->peer_shard->lo == 320 && d->peer_shard->last && d->peer_shard->rows.len == sizeof rows, "PeerShard");
    proto_free(&d);
    free(vb);
    t_ok("PeerShard (a gradient piece with its rows) round-trips");
    ps.gen = 0;
    vb = proto_pack(&m, &vl);
    s_refused(vb, vl, &ex, PROTO_E_MALFORMED, "PeerShard: generation 0");
    free(vb);
    ps.gen = 77;
    ps.rows = proto_bytes(rows, 6);
    vb = proto_pack(&m, &vl);
    s_refused(vb, vl, &ex, PROTO_E_SHAPE, "PeerShard: rows of 6 bytes");
    free(vb);
    ps.rows = proto_bytes(rows, sizeof rows);
    ps.from = PROTO_MAX_PEERS;
    vb = proto_pack(&m, &vl);
    s_refused(vb, vl, &ex, PROTO_E_SHAPE, "PeerShard: shard 1 from 256");
    free(vb);

    Hierbert__ShardState ss = HIERBERT__SHARD_STATE__INIT;
    ss.gen = 77;
    ss.round = 9;
    ss.index = 1;
    ss.numel = N;
    ss.shard_lo = 320;
    ss.shard_hi = 640;
    ss.params = proto_bytes(params, 320 * sizeof(float));
    ss.adam_m = proto_bytes(mm, 320 * sizeof(float));
    ss.adam_v = proto_bytes(vv, 320 * sizeof(float));
    proto_env_init(&m, 42);
    m.body_case = HIERBERT__ENVELOPE__BODY_SHARD_STATE;
    m.shard_state = &ss;
    d = s_roundtrip(&m, &ex, &vb, &vl);
    CHECK(d->shard_state->round == 9 && !memcmp(d->shard_state->adam_m.data, mm, 320 * sizeof(float)), "ShardState");
    proto_free(&d);
    free(vb);
    t_ok("a sharded checkpoint round's ShardState (the shard's parameters and moments) round-trips");
    ss.adam_v = proto_bytes(vv, 300 * sizeof(float));
    vb = proto_pack(&m, &vl);
    s_refused(vb, vl, &ex, PROTO_E_SHAPE, "ShardState: adam_v has 1200 bytes");
    free(vb);
    ss.adam_v = proto_bytes(vv, 320 * sizeof(float));
    ss.shard_hi = N + 1;
    vb = proto_pack(&m, &vl);
    s_refused(vb, vl, &ex, PROTO_E_SHAPE, "ShardState: shard [320, 1001) of 1000 floats");
    free(vb);
    ss.shard_hi = 640;
    ss.params = proto_bytes(params, 300 * sizeof(float));
    vb = proto_pack(&m, &vl);
    s_refused(vb, vl, &ex, PROTO_E_SHAPE, "ShardState: params has 1200 bytes");
    free(vb);
    ss.params = proto_bytes(params, 320 * sizeof(float));
    ss.gen = 0;
    vb = proto_pack(&m, &vl);
    s_refused(vb, vl, &ex, PROTO_E_MALFORMED, "ShardState: generation 0");
    free(vb);
    /* raw: the state in the frames after this one, the fields empty */
    ss.gen = 77;
    ss.raw = 1;
    vb = proto_pack(&m, &vl);
    s_refused(vb, vl, &ex, PROTO_E_SHAPE, "ShardState: raw frames announced, yet 1280/1280/1280 bytes");
    free(vb);
    ss.params = ss.adam_m = ss.adam_v = proto_bytes(NULL, 0);
    d = s_roundtrip(&m, &ex, &vb, &vl);
    CHECK(d->shard_state->raw && d->shard_state->params.len == 0, "raw ShardState");
    proto_free(&d);
    free(vb);
    t_ok("a raw ShardState (its state in the frames after it) decodes without its fields, and not with them");
    ss.raw = 0;

    Hierbert__Update su = HIERBERT__UPDATE__INIT;
    su.n_samples = 4;
    su.numel = N;
    su.shard_lo = 320;
    su.shard_hi = 640;
    proto_env_init(&m, 42);
    m.body_case = HIERBERT__ENVELOPE__BODY_UPDATE;
    m.update = &su;
    d = s_roundtrip(&m, &ex, &vb, &vl);
    CHECK(d->update->shard_lo == 320 && d->update->shard_hi == 640, "sharded Update");
    proto_free(&d);
    free(vb);
    t_ok("a sharded round's Update (figures and the shard's bounds) round-trips");
    su.shard_hi = N + 1;
    vb = proto_pack(&m, &vl);
    s_refused(vb, vl, &ex, PROTO_E_SHAPE, "Update: shard [320, 1001) of 1000 floats");
    free(vb);
    su.shard_hi = 640;
    su.grads = proto_bytes(params, N * sizeof(float));
    vb = proto_pack(&m, &vl);
    s_refused(vb, vl, &ex, PROTO_E_SHAPE, "Update(sharded): carries a whole buffer");
    free(vb);

    /* --- fuzz: mutate valid frames; decode must accept or refuse, never crash */
    long iters = getenv("HB_LONG") ? 200000 : 20000;
    const uint8_t *seeds[] = {pbuf, abuf, hbuf, spbuf};
    size_t seed_len[] = {plen, alen, hlen, splen};
    size_t max_len = (splen > plen ? splen : plen) + 64;
    uint8_t *work = malloc(max_len);
    long accepted = 0, refused = 0;
    for (long it = 0; it < iters; it++) {
        int s = (int)(s_rand() % 4);
        size_t len = seed_len[s];
        memcpy(work, seeds[s], len);
        int nmut = 1 + (int)(s_rand() % 4);
        for (int k = 0; k < nmut; k++) {
            switch (s_rand() % 4) {
            case 0:
                work[s_rand() % len] ^= (uint8_t)(1u << (s_rand() % 8));
                break; /* bit flip */
            case 1:
                work[s_rand() % len] = (uint8_t)s_rand();
                break; /* byte */
            case 2:
                len = 1 + s_rand() % len;
                break; /* truncate */
            default:   /* append */
                if (len + 8 <= max_len)
                    for (int j = 0; j < 8; j++) work[len++] = (uint8_t)s_rand();
            }
        }
        char err[HB_ERR_LEN] = "";
        int code = 0;
        proto_msg *f = NULL;
        if (proto_decode(work, len, &ex, &f, &code, err) == 0) {
            accepted++;
            CHECK(f && f->version == PROTO_VERSION, "an accepted frame is valid");
            proto_free(&f);
        } else {
            refused++;
            CHECK(f == NULL && err[0] && code > 0, "a refused frame has a reason");
        }
    }
    t_ok("fuzz: %ld mutated frames, %ld accepted as valid, %ld refused with a reason, no crash", iters, accepted,
         refused);
    free(work);
    free(pbuf);
    free(abuf);
    free(hbuf);
    free(spbuf);
    free(params);
    free(mm);
    free(vv);
    return 0;
}
