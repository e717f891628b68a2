/*
 * seed_corpus.c - writes the generated part of the seed corpora, with
 * hierbert's own writers: checkpoint/ (coord_checkpoint_write, with and
 * without moments), codec/ (an emb and a docs value), and frame/: one valid frame per
 * Envelope body type (the body at its defaults, generic over the
 * descriptor, so a new message type gets its seed), plus frames with bulk
 * data whose shapes agree (Params, Update, DocEmbeddings, Submit). Run by
 * hand after a change to hierbert.proto or a format:
 *   build-fuzz/tests/fuzz/fuzz-seed-corpus tests/fuzz/corpus
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coord.h"
#include "frame.h"
#include "store.h"
#include "hb_error.h"

static void s_file(const char *dir, const char *name, const void *b, size_t len) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f) {
        perror(path);
        exit(1);
    }
    fwrite(b, 1, len, f);
    fclose(f);
}

static void s_others(const char *root) {
    char dir[1024], path[1100], err[HB_ERR_LEN];
    float p[6] = {1, 2, 3, 4, 5, 6}, m[6] = {0}, v[6] = {1e-8f, 0, 0, 0, 0, 1};
    double acc[2] = {0.5, 0.75};
    coord_checkpoint ck = {.job_id = 1, .round = 4, .seed = 7, .step = 4, .step_in_epoch = 1, .epoch = 1,
                           .epochs = 2, .numel = 6, .params = p, .m = m, .v = v, .val_acc = acc};
    snprintf(dir, sizeof dir, "%s/checkpoint", root);
    snprintf(path, sizeof path, "%s/moments.ck", dir);
    if (coord_checkpoint_write(path, &ck, err)) fprintf(stderr, "%s\n", err);
    ck.m = ck.v = NULL;
    snprintf(path, sizeof path, "%s/params-only.ck", dir);
    if (coord_checkpoint_write(path, &ck, err)) fprintf(stderr, "%s\n", err);
    snprintf(dir, sizeof dir, "%s/codec", root);
    size_t n = store_emb_encoded_size(2, 3);
    uint8_t *b = calloc(1, n);
    store_emb_encode(b, 1, 0, 2, 3, p);
    s_file(dir, "emb-2x3.bin", b, n);
    free(b);
    uint32_t cl[2] = {3, 2};
    int32_t tok[5] = {2, 7, 3, 2, 3};
    n = store_doc_encoded_size(2, 5);
    b = calloc(1, n);
    store_doc_encode(b, 2, 1, 2, cl, tok);
    s_file(dir, "doc-2ch.bin", b, n);
    free(b);
}

static void s_write(const char *dir, const char *name, const proto_msg *m) {
    size_t len;
    uint8_t *b = proto_pack(m, &len);
    proto_msg *d = NULL;
    char err[HB_ERR_LEN];
    int code;
    if (proto_decode(b, len, NULL, &d, &code, err)) fprintf(stderr, "seed %s does not decode: %s\n", name, err);
    proto_free(&d);
    s_file(dir, name, b, len);
    free(b);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: fuzz-seed-corpus CORPUS_DIR\n");
        return 2;
    }
    s_others(argv[1]);
    char fdir[1024];
    snprintf(fdir, sizeof fdir, "%s/frame", argv[1]);
    argv[1] = fdir;
    const ProtobufCMessageDescriptor *env = &hierbert__envelope__descriptor;
    for (unsigned i = 0; i < env->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &env->fields[i];
        if (f->type != PROTOBUF_C_TYPE_MESSAGE || !(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)) continue;
        const ProtobufCMessageDescriptor *md = f->descriptor;
        ProtobufCMessage *body = calloc(1, md->sizeof_message);
        protobuf_c_message_init(md, body);
        proto_msg m;
        proto_env_init(&m, 1);
        *(uint32_t *)((char *)&m + f->quantifier_offset) = f->id;
        *(ProtobufCMessage **)((char *)&m + f->offset) = body;
        char name[128];
        snprintf(name, sizeof name, "%s.bin", f->name);
        s_write(argv[1], name, &m);
        free(body);
    }
    float p[8] = {0.5f, -1, 2, 0, 1e-3f, 3, 4, 5};
    proto_msg m;
    proto_env_init(&m, 0);
    Hierbert__Hello he = HIERBERT__HELLO__INIT;
    he.worker_id = "node1:0";
    he.host = "node1";
    he.threads = 2;
    m.body_case = HIERBERT__ENVELOPE__BODY_HELLO;
    m.hello = &he;
    s_write(argv[1], "hello-w1.bin", &m);
    proto_env_init(&m, 3);
    Hierbert__Params pa = HIERBERT__PARAMS__INIT;
    pa.round = 2;
    pa.numel = 8;
    pa.params = proto_bytes(p, sizeof p);
    m.body_case = HIERBERT__ENVELOPE__BODY_PARAMS;
    m.params = &pa;
    s_write(argv[1], "params-8.bin", &m);
    Hierbert__DocEmbeddings de = HIERBERT__DOC_EMBEDDINGS__INIT;
    float e[2 * 8];
    for (int i = 0; i < 16; i++) e[i] = (float)i / 16;
    de.task_id = 1;
    de.doc_id = "train/doc1";
    de.n_chunks = 2;
    de.dim = 8;
    de.data = proto_bytes(e, sizeof e);
    proto_env_init(&m, 3);
    m.body_case = HIERBERT__ENVELOPE__BODY_DOC_EMBEDDINGS;
    m.doc_embeddings = &de;
    s_write(argv[1], "docemb-1.bin", &m);
    Hierbert__Submit su = HIERBERT__SUBMIT__INIT;
    su.train_path = "/data/train.jsonl";
    su.val_path = "/data/val.jsonl";
    su.preset = "tiny";
    su.seq_len = 16;
    su.epochs = 1;
    su.batch = 4;
    su.lr = 1e-3f;
    su.optimizer = "adamw";
    proto_env_init(&m, 0);
    m.body_case = HIERBERT__ENVELOPE__BODY_SUBMIT;
    m.submit = &su;
    s_write(argv[1], "submit-tiny.bin", &m);
    Hierbert__Export ex = HIERBERT__EXPORT__INIT;
    ex.dir = "/srv/exports/m1";
    proto_env_init(&m, 1);
    m.body_case = HIERBERT__ENVELOPE__BODY_EXPORT;
    m.export = &ex;
    s_write(argv[1], "export.bin", &m);
    return 0;
}
