/*
 * test_daemon_frames.c - a raw ZeroMQ client against a real
 * hierbert-coordinator process: garbage, truncated, oversized and
 * wrong-version frames, shapes that do not add up, messages out of place,
 * unknown job ids - each answered with an Error naming the message type and
 * the fault - and the coordinator keeps serving (a valid request answered
 * after every bad one; the process still alive at the end).
 */
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>

#include "check.h"
#include "frame.h"
#include "hb_error.h"

extern char **environ;
static pid_t s_pid; /* the coordinator this test started */
static char s_dir[64];

static void s_cleanup(void) {
    if (s_pid > 0) {
        kill(s_pid, SIGTERM);
        for (int i = 0; i < 100 && waitpid(s_pid, NULL, WNOHANG) == 0; i++) usleep(20000);
        kill(s_pid, SIGKILL);
        waitpid(s_pid, NULL, 0);
        s_pid = 0;
    }
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", s_dir);
    if (s_dir[0]) (void)!system(cmd);
}

/* sends raw bytes, returns the decoded reply (or NULL after 3 s) */
static proto_msg *s_ask_raw(void *sock, const void *buf, size_t len) {
    CHECK(zmq_send(sock, buf, len, 0) == (int)len, "send: %s", zmq_strerror(zmq_errno()));
    zmq_pollitem_t it = {sock, 0, ZMQ_POLLIN, 0};
    if (zmq_poll(&it, 1, 3000) <= 0) return NULL;
    zmq_msg_t f;
    zmq_msg_init(&f);
    zmq_msg_recv(&f, sock, 0);
    proto_msg *m = NULL;
    char err[HB_ERR_LEN];
    CHECK_OK(proto_decode(zmq_msg_data(&f), zmq_msg_size(&f), NULL, &m, NULL, err), err);
    zmq_msg_close(&f);
    return m;
}

/* packs and sends m, no answer awaited */
static void s_tell(void *sock, const proto_msg *m) {
    size_t len;
    uint8_t *buf = proto_pack(m, &len);
    CHECK(zmq_send(sock, buf, len, 0) == (int)len, "send: %s", zmq_strerror(zmq_errno()));
    free(buf);
}

static proto_msg *s_ask(void *sock, const proto_msg *m) {
    size_t len;
    uint8_t *buf = proto_pack(m, &len);
    proto_msg *r = s_ask_raw(sock, buf, len);
    free(buf);
    return r;
}

static void s_expect_error(proto_msg *r, int code, const char *text, const char *what) {
    CHECK(r, "%s: no reply (coordinator hung or dead)", what);
    CHECK(r->body_case == HIERBERT__ENVELOPE__BODY_ERROR, "%s: got %s, expected Error", what, proto_type_name(r));
    CHECK((int)r->error->code == code, "%s: code %u, expected %d (%s)", what, r->error->code, code, r->error->message);
    CHECK(strstr(r->error->message, text), "%s: '%s' should mention '%s'", what, r->error->message, text);
    t_ok("%s -> Error: %s", what, r->error->message);
    proto_free(&r);
}

static void s_still_serving(void *control) {
    proto_msg m;
    proto_env_init(&m, 0);
    Hierbert__List l = HIERBERT__LIST__INIT;
    m.body_case = HIERBERT__ENVELOPE__BODY_LIST;
    m.list = &l;
    proto_msg *r = s_ask(control, &m);
    CHECK(r && r->body_case == HIERBERT__ENVELOPE__BODY_LIST_REPLY, "coordinator stopped serving List");
    proto_free(&r);
}

int main(void) {
    snprintf(s_dir, sizeof s_dir, "/tmp/hbframes.XXXXXX");
    CHECK(mkdtemp(s_dir), "mkdtemp");
    atexit(s_cleanup);
    char ep[4][128], data[128];
    const char *names[4] = {"w", "c", "s", "e"};
    for (int i = 0; i < 4; i++) snprintf(ep[i], sizeof ep[i], "ipc://%s/%s", s_dir, names[i]);
    snprintf(data, sizeof data, "%s/data", s_dir);
    char log[128];
    snprintf(log, sizeof log, "%s/coord.log", s_dir);
    const char *exe = HB_BUILD_DIR "/coordinator/hierbert-coordinator";
    char *argv[] = {(char *)exe, "--work",   ep[0], "--control",  ep[1], "--status",
                    ep[2],       "--events", ep[3], "--data-dir", data,  NULL};
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 2, log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    setenv("HIERBERT_CONF", "/dev/null", 1);
    CHECK(posix_spawn(&s_pid, exe, &fa, NULL, argv, environ) == 0, "spawn %s", exe);
    posix_spawn_file_actions_destroy(&fa);

    void *ctx = zmq_ctx_new();
    void *control = zmq_socket(ctx, ZMQ_DEALER), *work = zmq_socket(ctx, ZMQ_DEALER);
    int linger = 0;
    zmq_setsockopt(control, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(work, ZMQ_LINGER, &linger, sizeof linger);
    zmq_connect(control, ep[1]);
    zmq_connect(work, ep[0]);
    proto_msg *r = NULL;
    /* wait until it answers (an ipc endpoint appears when it binds) */
    int up = 0;
    for (int i = 0; i < 50 && !up; i++) {
        proto_msg m;
        proto_env_init(&m, 0);
        Hierbert__List l = HIERBERT__LIST__INIT;
        m.body_case = HIERBERT__ENVELOPE__BODY_LIST;
        m.list = &l;
        size_t len;
        uint8_t *buf = proto_pack(&m, &len);
        zmq_send(control, buf, len, ZMQ_DONTWAIT);
        free(buf);
        zmq_pollitem_t it = {control, 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&it, 1, 200) > 0) up = 1;
    }
    CHECK(up, "coordinator did not answer within 10 s");
    usleep(100000);
    for (;;) { /* drain the answers to the start-up probes */
        zmq_msg_t f;
        zmq_msg_init(&f);
        int n = zmq_msg_recv(&f, control, ZMQ_DONTWAIT);
        zmq_msg_close(&f);
        if (n < 0) break;
    }
    s_still_serving(control);
    t_ok("coordinator process %d serves List on %s", (int)s_pid, ep[1]);

    /* ---- control endpoint ------------------------------------------------ */
    const char garbage[] = "\x0a\xff\xff\xff\xff\x0f this is not protobuf";
    s_expect_error(s_ask_raw(control, garbage, sizeof garbage), PROTO_E_MALFORMED, "not a hierbert Envelope",
                   "garbage on control");
    s_still_serving(control);

    size_t big = 2u << 20; /* control cap is 1024 KiB */
    uint8_t *huge = calloc(1, big);
    s_expect_error(s_ask_raw(control, huge, big), PROTO_E_TOO_BIG, "exceeds the cap", "2 MiB frame on control");
    free(huge);
    s_still_serving(control);

    Hierbert__Submit sb = HIERBERT__SUBMIT__INIT;
    sb.synthetic = 10;
    proto_msg m;
    proto_env_init(&m, 0);
    m.version = 1;
    m.body_case = HIERBERT__ENVELOPE__BODY_SUBMIT;
    m.submit = &sb;
    s_expect_error(s_ask(control, &m), PROTO_E_VERSION, "Submit: protocol version 1", "Submit of version 1");
    s_still_serving(control);

    /* a valid Submit truncated by 3 bytes */
    proto_env_init(&m, 0);
    m.body_case = HIERBERT__ENVELOPE__BODY_SUBMIT;
    m.submit = &sb;
    sb.train_path = "/nonexistent/train.jsonl";
    sb.vocab_path = HB_SOURCE_DIR "/tests/data/vocab_small.txt";
    size_t len;
    uint8_t *buf = proto_pack(&m, &len);
    proto_msg *tr = s_ask_raw(control, buf, len - 3);
    CHECK(tr && tr->body_case == HIERBERT__ENVELOPE__BODY_ERROR, "truncated Submit answered with an Error");
    t_ok("truncated Submit -> Error: %s", tr->error->message);
    proto_free(&tr);
    free(buf);

    sb.val_fraction = 2;
    s_expect_error(s_ask(control, &m), PROTO_E_BAD_REQUEST, "val_fraction 2 outside", "Submit val_fraction 2");
    sb.val_fraction = 0;
    sb.average = "grads";
    sb.sync_every = 4;
    s_expect_error(s_ask(control, &m), PROTO_E_BAD_REQUEST, "average grads takes one optimizer step a round",
                   "Submit average grads with sync_every 4");
    sb.average = "mean";
    s_expect_error(s_ask(control, &m), PROTO_E_BAD_REQUEST, "average 'mean' (grads or params)",
                   "Submit average mean");
    sb.average = "";
    sb.sync_every = 0;
    sb.synthetic = 0;
    s_expect_error(s_ask(control, &m), PROTO_E_BAD_REQUEST, "/nonexistent/train.jsonl", "Submit of a missing dataset");
    s_still_serving(control);

    proto_env_init(&m, 12345);
    Hierbert__Status st = HIERBERT__STATUS__INIT;
    m.body_case = HIERBERT__ENVELOPE__BODY_STATUS;
    m.status = &st;
    s_expect_error(s_ask(control, &m), PROTO_E_UNKNOWN_JOB, "unknown job 12345", "Status of job 12345");
    Hierbert__Cancel cn = HIERBERT__CANCEL__INIT;
    m.body_case = HIERBERT__ENVELOPE__BODY_CANCEL;
    m.cancel = &cn;
    s_expect_error(s_ask(control, &m), PROTO_E_UNKNOWN_JOB, "Cancel: unknown job 12345", "Cancel of job 12345");
    Hierbert__Result rs = HIERBERT__RESULT__INIT;
    m.body_case = HIERBERT__ENVELOPE__BODY_RESULT;
    m.result = &rs;
    s_expect_error(s_ask(control, &m), PROTO_E_UNKNOWN_JOB, "Result: unknown job 12345", "Result of job 12345");

    /* a work message on the control endpoint */
    Hierbert__Hello h = HIERBERT__HELLO__INIT;
    h.worker_id = "raw";
    h.threads = 1;
    proto_env_init(&m, 0);
    m.body_case = HIERBERT__ENVELOPE__BODY_HELLO;
    m.hello = &h;
    s_expect_error(s_ask(control, &m), PROTO_E_UNEXPECTED, "Hello: not served", "Hello on the control endpoint");
    s_still_serving(control);

    /* a REQ client gets its reply through the delimiter */
    void *req = zmq_socket(ctx, ZMQ_REQ);
    zmq_setsockopt(req, ZMQ_LINGER, &linger, sizeof linger);
    zmq_connect(req, ep[1]);
    Hierbert__List l = HIERBERT__LIST__INIT;
    proto_env_init(&m, 0);
    m.body_case = HIERBERT__ENVELOPE__BODY_LIST;
    m.list = &l;
    r = s_ask(req, &m);
    CHECK(r && r->body_case == HIERBERT__ENVELOPE__BODY_LIST_REPLY, "REQ client answered");
    proto_free(&r);
    zmq_close(req);
    t_ok("a REQ client is answered too");

    /* ---- work endpoint --------------------------------------------------- */
    proto_env_init(&m, 0);
    m.version = 7;
    m.body_case = HIERBERT__ENVELOPE__BODY_HELLO;
    m.hello = &h;
    char want_version[96];
    snprintf(want_version, sizeof want_version, "Hello: protocol version 7, this side speaks version %u",
             PROTO_VERSION);
    s_expect_error(s_ask(work, &m), PROTO_E_VERSION, want_version, "Hello of a version-7 worker");
    s_expect_error(s_ask_raw(work, garbage, sizeof garbage), PROTO_E_MALFORMED, "not a hierbert Envelope",
                   "garbage on work");
    Hierbert__Heartbeat hb = HIERBERT__HEARTBEAT__INIT;
    proto_env_init(&m, 0);
    m.body_case = HIERBERT__ENVELOPE__BODY_HEARTBEAT;
    m.heartbeat = &hb;
    s_expect_error(s_ask(work, &m), PROTO_E_STATE, "send Hello first", "Heartbeat before Hello");

    /* progress events: a subscriber sees the worker join */
    void *sub = zmq_socket(ctx, ZMQ_SUB);
    zmq_setsockopt(sub, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(sub, ZMQ_SUBSCRIBE, "worker", 6);
    zmq_connect(sub, ep[3]);
    usleep(300000); /* PUB/SUB: the subscription must reach the publisher first */
    /* a worker naming itself with a quote (to forge event fields) is refused
     * and never joins: the first event below is the honest worker's */
    Hierbert__Hello forged = h;
    forged.worker_id = "w9\",\"host\":\"elsewhere";
    proto_env_init(&m, 0);
    m.body_case = HIERBERT__ENVELOPE__BODY_HELLO;
    m.hello = &forged;
    s_expect_error(s_ask(work, &m), PROTO_E_MALFORMED, "Hello: worker_id holds byte 0x22 at offset 2",
                   "Hello with a quote in its worker id");
    proto_env_init(&m, 0);
    m.body_case = HIERBERT__ENVELOPE__BODY_HELLO;
    m.hello = &h;
    r = s_ask(work, &m);
    CHECK(r && r->body_case == HIERBERT__ENVELOPE__BODY_HEARTBEAT, "Hello answered by a Heartbeat, got %s",
          proto_type_name(r));
    proto_free(&r);
    t_ok("a valid Hello is answered at once (Heartbeat)");
    zmq_pollitem_t sit = {sub, 0, ZMQ_POLLIN, 0};
    CHECK(zmq_poll(&sit, 1, 3000) == 1, "no event on the events endpoint");
    char ev[1024];
    int evn = zmq_recv(sub, ev, sizeof ev - 1, 0);
    CHECK(evn > 0, "event");
    ev[evn] = 0;
    CHECK(strstr(ev, "worker {") == ev && strstr(ev, "\"event\":\"worker_joined\"") && strstr(ev, "\"raw\"") &&
              !strstr(ev, "elsewhere"),
          "event: %s", ev);
    t_ok("events endpoint (PUB): %s", ev);
    zmq_close(sub);

    /* an Update whose float bytes do not match its numel */
    float p[10] = {0};
    Hierbert__Update u = HIERBERT__UPDATE__INIT;
    u.n_samples = 1;
    u.numel = 10;
    u.params = proto_bytes(p, 9 * 4);
    proto_env_init(&m, 1);
    m.body_case = HIERBERT__ENVELOPE__BODY_UPDATE;
    m.update = &u;
    s_expect_error(s_ask(work, &m), PROTO_E_SHAPE, "Update: params has 36 bytes, expected 10 x 4",
                   "Update with 9 floats for numel 10");
    u.params = proto_bytes(p, 10 * 4 - 1);
    s_expect_error(s_ask(work, &m), PROTO_E_SHAPE, "not a multiple of 4", "Update with 39 bytes of floats");
    u.params = proto_bytes(p, 10 * 4);
    u.grads = proto_bytes(p, 10 * 4);
    s_expect_error(s_ask(work, &m), PROTO_E_SHAPE, "Update: carries both params and grads",
                   "Update with parameters and a gradient");
    u.params = proto_bytes(NULL, 0);
    u.grads = proto_bytes(p, 8 * 4);
    s_expect_error(s_ask(work, &m), PROTO_E_SHAPE, "Update: grads has 32 bytes, expected 10 x 4",
                   "Update with 8 gradient floats for numel 10");
    int32_t rows[2] = {1, 3};
    u.grads = proto_bytes(NULL, 0);
    u.grad_rows = proto_bytes(rows, sizeof rows);
    s_expect_error(s_ask(work, &m), PROTO_E_SHAPE, "Update: grad_rows without grads",
                   "Update with word-embedding rows but no gradient");
    u.grads = proto_bytes(p, 10 * 4);
    u.grad_rows = proto_bytes(rows, 7);
    s_expect_error(s_ask(work, &m), PROTO_E_SHAPE, "do not fit numel", "Update with 7 bytes of row ids");
    u.grad_rows = proto_bytes(NULL, 0);
    proto_env_init(&m, 0);
    m.body_case = HIERBERT__ENVELOPE__BODY_SUBMIT;
    m.submit = &sb;
    s_expect_error(s_ask(work, &m), PROTO_E_UNEXPECTED, "Submit: not a message the work endpoint takes",
                   "Submit on the work endpoint");

    /* ---- status endpoint ------------------------------------------------- */
    void *status = zmq_socket(ctx, ZMQ_REQ);
    zmq_setsockopt(status, ZMQ_LINGER, &linger, sizeof linger);
    zmq_connect(status, ep[2]);
    zmq_send(status, "status", 6, 0);
    zmq_pollitem_t it = {status, 0, ZMQ_POLLIN, 0};
    CHECK(zmq_poll(&it, 1, 3000) == 1, "status endpoint answers");
    char doc[65536];
    int n = zmq_recv(status, doc, sizeof doc - 1, 0);
    CHECK(n > 0, "status reply");
    doc[n] = 0;
    CHECK(strstr(doc, "\"workers\":[{\"id\":\"raw\"") && strstr(doc, "\"jobs\":[]"), "status JSON: %s", doc);
    t_ok("status endpoint: JSON with the raw worker registered and no jobs");

    s_still_serving(control);
    CHECK(kill(s_pid, 0) == 0 && waitpid(s_pid, NULL, WNOHANG) == 0, "coordinator still running");
    t_ok("after every malformed or misplaced frame the coordinator is alive and serving");

    /* ---- an Update the coordinator cannot use drops its task ------------- */
    /* the raw worker takes a real job's first train task and answers with a
     * well-formed Update whose sample count is wrong: the round must not
     * wait for it - the task counts as lost, the round (with no update
     * left) runs again and the same round is assigned anew */
    Hierbert__Submit js = HIERBERT__SUBMIT__INIT;
    js.synthetic = 40;
    js.preset = "tiny";
    js.seq_len = 16;
    js.batch = 4;
    js.max_steps = 2;
    js.min_workers = 1;
    proto_env_init(&m, 0);
    m.body_case = HIERBERT__ENVELOPE__BODY_SUBMIT;
    m.submit = &js;
    r = s_ask(control, &m);
    CHECK(r && r->body_case == HIERBERT__ENVELOPE__BODY_SUBMIT_REPLY, "synthetic Submit answered with %s",
          proto_type_name(r));
    proto_free(&r);
    long long round = -1;
    int assigns = 0;
    float *g = NULL;
    for (int tries = 0; tries < 100 && assigns < 2; tries++) {
        zmq_pollitem_t wi = {work, 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&wi, 1, 100) <= 0) {
            Hierbert__Heartbeat beat = HIERBERT__HEARTBEAT__INIT;
            proto_env_init(&m, 0);
            m.body_case = HIERBERT__ENVELOPE__BODY_HEARTBEAT;
            m.heartbeat = &beat;
            s_tell(work, &m);
            continue;
        }
        zmq_msg_t f;
        zmq_msg_init(&f);
        zmq_msg_recv(&f, work, 0);
        proto_msg *a = NULL;
        char derr[HB_ERR_LEN];
        int ok = proto_decode(zmq_msg_data(&f), zmq_msg_size(&f), NULL, &a, NULL, derr) == 0;
        zmq_msg_close(&f);
        if (!ok || a->body_case != HIERBERT__ENVELOPE__BODY_ASSIGN || a->assign->task_case != HIERBERT__ASSIGN__TASK_TRAIN ||
            a->assign->train->eval) {
            proto_free(&a);
            continue;
        }
        const Hierbert__TrainTask *tt = a->assign->train;
        if (assigns++ == 0) {
            round = (long long)tt->round;
            size_t numel = a->assign->model->numel;
            g = calloc(numel, sizeof(float));
            Hierbert__Update bad = HIERBERT__UPDATE__INIT;
            bad.round = tt->round;
            bad.task_id = tt->task_id;
            bad.n_samples = tt->n_samples + 1; /* not what was assigned */
            bad.numel = numel;
            bad.grads = proto_bytes(g, numel * sizeof(float));
            proto_env_init(&m, a->job_id);
            m.body_case = HIERBERT__ENVELOPE__BODY_UPDATE;
            m.update = &bad;
            s_tell(work, &m);
        } else {
            CHECK((long long)tt->round == round, "the second Assign is for round %llu, the dropped one was %lld",
                  (unsigned long long)tt->round, round);
            /* refused as a worker refuses a frame it cannot decode: job id 0
             * (it could not read that far), as worker/compute.c does */
            Hierbert__Error e = HIERBERT__ERROR__INIT;
            e.code = PROTO_E_MALFORMED;
            e.message = "worker raw: Assign: batch 0 outside 1..1048576";
            proto_env_init(&m, 0);
            m.body_case = HIERBERT__ENVELOPE__BODY_ERROR;
            m.error = &e;
            s_tell(work, &m);
        }
        proto_free(&a);
    }
    free(g);
    CHECK(assigns == 2, "after the unusable Update no new Assign came (%d Assigns seen)", assigns);
    char grep[300];
    snprintf(grep, sizeof grep, "grep -q 'the task had .*dropped, as if the worker were lost' %s", log);
    CHECK(system(grep) == 0, "no 'dropped' line in %s", log);
    t_ok("an Update with the wrong sample count drops its task: round %lld ran again and was assigned anew", round);

    /* ---- a task the worker refuses fails the job, with its reason -------- */
    /* (the same bytes would be refused again: the job must not wait for an
     * Update that never comes - it did, for good, when the refusal was only
     * logged) */
    int failed = 0;
    for (int i = 0; i < 50 && !failed; i++) {
        zmq_send(status, "status", 6, 0);
        zmq_pollitem_t si = {status, 0, ZMQ_POLLIN, 0};
        CHECK(zmq_poll(&si, 1, 3000) == 1, "status endpoint answers");
        int dn = zmq_recv(status, doc, sizeof doc - 1, 0);
        CHECK(dn > 0, "status reply");
        doc[dn] = 0;
        failed = strstr(doc, "\"state\":\"FAILED\"") != NULL;
        if (!failed) usleep(100000);
    }
    CHECK(failed, "a refused Assign did not fail its job within 5 s: %s", doc);
    CHECK(strstr(doc, "worker raw refused a frame: worker raw: Assign: batch 0 outside"), "job's error: %s", doc);
    s_still_serving(control);
    t_ok("a worker that refuses its Assign (Error, job 0) fails the job with its reason; the coordinator serves on");
    zmq_close(status);
    zmq_close(control);
    zmq_close(work);
    zmq_ctx_term(ctx);
    return 0;
}
