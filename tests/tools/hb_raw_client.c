/*
 * hb_raw_client.c - a control client that sends what it is told, as a
 * hostile one would: paths exactly as given (the real CLI makes them
 * absolute and resolves symlinks first), for the confinement tests
 * (tests/test_daemon_confine.sh).
 *   hb-raw-client EP submit --train P [--val P] [--test P] [--vocab P] [--model DIR]
 *   hb-raw-client EP export JOB DIR
 * Prints "ok job N" / "ok export DIR", or "error CODE: MESSAGE" (exit 1);
 * no answer in 20 s: exit 2. And a stranger at a worker's peer endpoint
 * (tests/test_daemon_curve.sh): 11 bytes that are no frame, then a
 * PeerShard PING, pushed to EP as a CURVE client with CLIENT.key against
 * SERVER.pub ("-" "-": plain text); a PUSH gets no answer: exit 0 once
 * sent (the worker's log says what became of them).
 *   hb-raw-client EP peer SERVER.pub CLIENT.key
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "curve.h"
#include "frame.h"
#include "hb_error.h"

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: hb-raw-client EP submit --train P ... | EP export JOB DIR\n");
        return 2;
    }
    if (!strcmp(argv[2], "peer") && argc == 5) {
        proto_msg pm;
        proto_env_init(&pm, 1);
        Hierbert__PeerShard ps = HIERBERT__PEER_SHARD__INIT;
        ps.gen = 1;
        ps.kind = HIERBERT__PEER_SHARD__KIND__PING;
        pm.body_case = HIERBERT__ENVELOPE__BODY_PEER_SHARD;
        pm.peer_shard = &ps;
        void *ctx = zmq_ctx_new(), *push = zmq_socket(ctx, ZMQ_PUSH);
        int linger = 2000;
        zmq_setsockopt(push, ZMQ_LINGER, &linger, sizeof linger);
        char err[HB_ERR_LEN];
        int rc = 0;
        if (strcmp(argv[3], "-") && curve_client_setup(push, argv[3], argv[4], err)) {
            fprintf(stderr, "hb-raw-client: %s\n", err);
            rc = 2;
        } else if (zmq_connect(push, argv[1]) || zmq_send(push, "not a frame", 11, 0) != 11 ||
                   proto_send(push, NULL, 0, &pm, 0, err)) {
            fprintf(stderr, "hb-raw-client: cannot send to %s\n", argv[1]);
            rc = 2;
        }
        zmq_close(push); /* (lingers up to 2 s: the handshake, then the frame or the refusal) */
        zmq_ctx_term(ctx);
        return rc;
    }
    proto_msg m;
    Hierbert__Submit s = HIERBERT__SUBMIT__INIT;
    Hierbert__Export ex = HIERBERT__EXPORT__INIT;
    if (!strcmp(argv[2], "submit")) {
        proto_env_init(&m, 0);
        s.preset = "tiny";
        s.seq_len = 32;
        s.epochs = 1;
        s.batch = 8;
        s.lr = 1e-3f;
        s.optimizer = "adamw";
        for (int i = 3; i + 1 < argc; i += 2) {
            char **f = !strcmp(argv[i], "--train") ? &s.train_path
                       : !strcmp(argv[i], "--val") ? &s.val_path
                       : !strcmp(argv[i], "--test") ? &s.test_path
                       : !strcmp(argv[i], "--vocab") ? &s.vocab_path
                       : !strcmp(argv[i], "--model") ? &s.model_dir
                                                     : NULL;
            if (!f) {
                fprintf(stderr, "hb-raw-client: unknown flag %s\n", argv[i]);
                return 2;
            }
            *f = argv[i + 1];
        }
        if (s.model_dir[0]) s.preset = "";
        m.body_case = HIERBERT__ENVELOPE__BODY_SUBMIT;
        m.submit = &s;
    } else if (!strcmp(argv[2], "export") && argc == 5) {
        proto_env_init(&m, strtoull(argv[3], NULL, 10));
        ex.dir = argv[4];
        m.body_case = HIERBERT__ENVELOPE__BODY_EXPORT;
        m.export = &ex;
    } else {
        fprintf(stderr, "hb-raw-client: unknown request %s\n", argv[2]);
        return 2;
    }
    void *ctx = zmq_ctx_new(), *d = zmq_socket(ctx, ZMQ_DEALER);
    int linger = 0, to = 20000;
    zmq_setsockopt(d, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(d, ZMQ_RCVTIMEO, &to, sizeof to);
    char err[HB_ERR_LEN];
    int rc = 2;
    if (zmq_connect(d, argv[1]) || proto_send(d, NULL, 0, &m, 0, err)) {
        fprintf(stderr, "hb-raw-client: cannot send to %s\n", argv[1]);
    } else {
        zmq_msg_t r;
        zmq_msg_init(&r);
        proto_msg *a = NULL;
        int code;
        if (zmq_msg_recv(&r, d, 0) < 0) {
            fprintf(stderr, "hb-raw-client: no answer from %s\n", argv[1]);
        } else if (proto_decode(zmq_msg_data(&r), zmq_msg_size(&r), NULL, &a, &code, err)) {
            fprintf(stderr, "hb-raw-client: bad answer: %s\n", err);
        } else if (a->body_case == HIERBERT__ENVELOPE__BODY_ERROR) {
            printf("error %d: %s\n", a->error->code, a->error->message);
            rc = 1;
        } else if (a->body_case == HIERBERT__ENVELOPE__BODY_SUBMIT_REPLY) {
            printf("ok job %llu\n", (unsigned long long)a->submit_reply->job_id);
            rc = 0;
        } else if (a->body_case == HIERBERT__ENVELOPE__BODY_EXPORT_REPLY) {
            printf("ok export %s\n", a->export_reply->dir);
            rc = 0;
        } else {
            printf("answer %s\n", proto_type_name(a));
        }
        proto_free(&a);
        zmq_msg_close(&r);
    }
    zmq_close(d);
    zmq_ctx_term(ctx);
    return rc;
}
