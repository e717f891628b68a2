/* worker.c - the worker's socket thread: Hello, heartbeats, reconnects, and
 * the pipe to the compute thread (see worker.h). */
#include "worker.h"

#include <errno.h>
#include <omp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>
#include <zmq.h>

#include "cpu_features.h"
#include "curve.h"
#include "frame.h"
#include "hb_error.h"
#include "hb_log.h"
#include "peers.h"

void worker_config_defaults(worker_config *c) {
    memset(c, 0, sizeof *c);
    snprintf(c->work, sizeof c->work, "tcp://127.0.0.1:5555");
    c->threads = 0;
    c->heartbeat_ms = 1000;
    c->coordinator_timeout_ms = 5000;
    c->reconnect_min_ms = 250;
    c->reconnect_max_ms = 8000;
    c->max_frame_mb = 1024;
}

void worker_config_table(worker_config *c, conf_entry *t) {
    conf_entry tmp[WORKER_CONF_ENTRIES] = {
        {"endpoints", "work", CONF_STR, c->work, sizeof c->work, 0, 0, "coordinator's work endpoint"},
        {"worker", "id", CONF_STR, c->id, sizeof c->id, 0, 0, "worker name (default host:pid)"},
        {"worker", "threads", CONF_INT, &c->threads, 0, 0, 4096, "OpenMP threads (0: all CPUs)"},
        {"worker", "heartbeat_ms", CONF_INT, &c->heartbeat_ms, 0, 50, 60000, "heartbeat period"},
        {"worker", "coordinator_timeout_ms", CONF_INT, &c->coordinator_timeout_ms, 0, 200, 600000,
         "silence before reconnecting"},
        {"worker", "reconnect_min_ms", CONF_INT, &c->reconnect_min_ms, 0, 10, 600000, "first back-off"},
        {"worker", "reconnect_max_ms", CONF_INT, &c->reconnect_max_ms, 0, 10, 3600000, "back-off cap"},
        {"worker", "max_frame_mb", CONF_INT, &c->max_frame_mb, 0, 1, WORKER_TRANSPORT_MAX_MB,
         "largest frame accepted (a larger one is refused: the job fails naming this key)"},
        {"endpoints", "curve_server_public", CONF_STR, c->curve_server_public, sizeof c->curve_server_public, 0, 0,
         "the coordinator's CurveZMQ .pub"},
        {"worker", "curve_key", CONF_STR, c->curve_key, sizeof c->curve_key, 0, 0, "this worker's CurveZMQ .key"},
        {"worker", "peer", CONF_STR, c->peer, sizeof c->peer, 0, 0,
         "peer endpoint other workers push shards to (sharded reduction): \"\" beside the work endpoint, none: off"},
        {"worker", "log_file", CONF_STR, c->log_file, sizeof c->log_file, 0, 0,
         "append the log here instead of stderr (reopened on SIGHUP)"},
        {NULL, NULL, 0, NULL, 0, 0, 0, NULL},
    };
    memcpy(t, tmp, sizeof tmp);
}

/* ------------------------------------------------------------------------ */

struct worker {
    worker_config *cfg; /* the running config: a SIGHUP changes its live entries */
    char who[160];
    char id[128], host[128];
    void *zctx, *sock, *pipe;
    /* the heartbeat connection (hierbert.proto Hello.hb_token): Heartbeats
     * both ways, never behind a bulk frame on sock; NULL when the
     * coordinator does not take one (then they go on sock) */
    void *hb;
    uint64_t hb_token;
    int hb_refused; /* an older coordinator answered it with an Error */
    uint64_t hb_seq;
    long long last_recv, next_hb;
    int backoff_ms;
    int connected_once;
    worker_compute comp;
    const daemon_ctl *ctl;
    daemon_watchdog watchdog;
};

static int s_send(worker *w, const proto_msg *m) {
    char err[HB_ERR_LEN];
    if (!w->sock) return -1;
    if (proto_send(w->sock, NULL, 0, m, ZMQ_DONTWAIT, err)) {
        if (w->cfg->verbose) hb_log(w->who, "debug", "%s", err);
        return -1;
    }
    return 0;
}

static void s_env(worker *w, proto_msg *m) {
    proto_env_init(m, 0);
    if (w->cfg->proto_version) m->version = w->cfg->proto_version;
}

static void s_hello(worker *w) {
    proto_msg m;
    s_env(w, &m);
    Hierbert__Hello h = HIERBERT__HELLO__INIT;
    h.worker_id = w->id;
    h.host = w->host;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    h.cores = cores > 0 ? (uint32_t)cores : 1;
    h.threads = (uint32_t)w->comp.threads;
    h.pid = (uint32_t)getpid();
    h.peer_endpoint = (char *)worker_peers_endpoint(w->comp.peers);
    h.peer_public = (char *)worker_peers_public(w->comp.peers);
    h.bf16 = cpu_native_bf16(NULL, 0);
    h.hb_token = w->hb ? w->hb_token : 0;
    m.body_case = HIERBERT__ENVELOPE__BODY_HELLO;
    m.hello = &h;
    s_send(w, &m);
}

static void s_heartbeat(worker *w) {
    proto_msg m;
    s_env(w, &m);
    Hierbert__Heartbeat hb = HIERBERT__HEARTBEAT__INIT;
    hb.seq = ++w->hb_seq;
    hb.busy = atomic_load(&w->comp.busy) != 0;
    hb.samples_per_s = (double)atomic_load(&w->comp.samples_x1000_per_s) / 1000.0;
    m.body_case = HIERBERT__ENVELOPE__BODY_HEARTBEAT;
    m.heartbeat = &hb;
    if (w->hb) {
        char err[HB_ERR_LEN];
        hb.worker_id = w->id;
        hb.hb_token = w->hb_token;
        if (proto_send(w->hb, NULL, 0, &m, ZMQ_DONTWAIT, err) && w->cfg->verbose)
            hb_log(w->who, "debug", "heartbeat connection: %s", err);
        return;
    }
    s_send(w, &m);
}

/* a socket to the work endpoint with the worker's options; NULL (err set) on failure */
static void *s_dealer(worker *w, int64_t maxmsg, char *err) {
    void *s = zmq_socket(w->zctx, ZMQ_DEALER);
    int linger = 0, immediate = 1;
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    /* nothing queues for a connection that is not there: a heartbeat sent
     * while the coordinator is away is dropped, not replayed later */
    zmq_setsockopt(s, ZMQ_IMMEDIATE, &immediate, sizeof immediate);
    zmq_setsockopt(s, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg);
    if (w->cfg->curve_server_public[0] && curve_client_setup(s, w->cfg->curve_server_public, w->cfg->curve_key, err)) {
        zmq_close(s);
        return NULL;
    }
    if (zmq_connect(s, w->cfg->work) != 0) {
        int e = zmq_errno();
        zmq_close(s);
        hb_fail(err, "work endpoint '%s': %s", w->cfg->work, zmq_strerror(e));
        return NULL;
    }
    return s;
}

static int s_connect(worker *w, char *err) {
    /* the transport takes frames up to the key's ceiling, not to its value:
     * ZeroMQ drops a connection whose frame is above ZMQ_MAXMSGSIZE without
     * a word (the worker reconnected, got the same frame, and the job sat in
     * TRAIN for good); a frame above max_frame_mb is read and refused by the
     * decoder, whose Error fails the job with a reason that names the key */
    w->sock = s_dealer(w, (int64_t)WORKER_TRANSPORT_MAX_MB << 20, err);
    if (!w->sock) return -1;
    /* the heartbeat connection: a token of its own for each connection, so
     * the coordinator pairs it with this Hello and no other */
    if (!w->hb_refused) {
        if (getrandom(&w->hb_token, sizeof w->hb_token, 0) != (ssize_t)sizeof w->hb_token || !w->hb_token)
            w->hb_token = ((uint64_t)getpid() << 32) ^ (uint64_t)hb_now_ms() ^ 0x9e3779b97f4a7c15ull;
        w->hb = s_dealer(w, 1 << 16, err);
        if (!w->hb) {
            zmq_close(w->sock);
            w->sock = NULL;
            return -1;
        }
    }
    w->last_recv = hb_now_ms();
    w->next_hb = w->last_recv; /* Hello goes out with the first heartbeat tick */
    return 0;
}

static void s_disconnect(worker *w) {
    if (w->sock) zmq_close(w->sock);
    if (w->hb) zmq_close(w->hb);
    w->sock = w->hb = NULL;
}

/* A frame on the heartbeat connection: a sign of life, or an older
 * coordinator's Error (it knows no heartbeat connection: heartbeats go on
 * the work connection from then on). */
static void s_on_hb_frame(worker *w, zmq_msg_t *frame) {
    if (w->last_recv) w->last_recv = hb_now_ms(); /* (0: a Goodbye said reconnect now: that stands) */
    proto_expect ex = {.max_frame = 1 << 16};
    proto_msg *m = NULL;
    char why[HB_ERR_LEN];
    if (proto_decode(zmq_msg_data(frame), zmq_msg_size(frame), &ex, &m, NULL, why)) {
        hb_log(w->who, "warn", "refused a frame on the heartbeat connection: %s", why);
        return;
    }
    if (m->body_case == HIERBERT__ENVELOPE__BODY_ERROR) {
        hb_log(w->who, "info",
               "the coordinator does not take a heartbeat connection (%s): heartbeats on the work connection",
               m->error->message);
        w->hb_refused = 1;
        zmq_close(w->hb);
        w->hb = NULL;
    } else if (m->body_case == HIERBERT__ENVELOPE__BODY_GOODBYE) {
        /* the coordinator knows no Hello with our token (it restarted) */
        hb_log(w->who, "info", "coordinator does not know this worker (restarted?): saying Hello again (%s)",
               m->goodbye->reason);
        s_hello(w);
    }
    proto_free(&m);
}

/* One frame from the coordinator. Returns -1 on a fatal refusal. */
static int s_on_frame(worker *w, zmq_msg_t *frame, char *err) {
    w->last_recv = hb_now_ms();
    w->backoff_ms = w->cfg->reconnect_min_ms;
    /* bulk frames (Params, Assign with their chunks) go to the compute thread
     * undecoded: it decodes and validates them against the job, and this
     * thread stays free for heartbeats (and skips a copy of the parameters) */
    if (zmq_msg_size(frame) > 65536) {
        if (zmq_msg_send(frame, w->pipe, 0) < 0) hb_log(w->who, "error", "compute pipe: %s", zmq_strerror(zmq_errno()));
        return 0;
    }
    proto_expect ex = {.max_frame = (size_t)w->cfg->max_frame_mb << 20};
    proto_msg *m = NULL;
    char why[HB_ERR_LEN];
    int code = 0;
    if (proto_decode(zmq_msg_data(frame), zmq_msg_size(frame), &ex, &m, &code, why)) {
        hb_log(w->who, "warn", "refused a frame from the coordinator: %s", why);
        proto_send_error(w->sock, NULL, 0, 0, code, NULL, "worker %s: %s", w->id, why);
        return 0;
    }
    switch (m->body_case) {
    case HIERBERT__ENVELOPE__BODY_HEARTBEAT:
        break;
    case HIERBERT__ENVELOPE__BODY_ASSIGN:
    case HIERBERT__ENVELOPE__BODY_PARAMS:
    case HIERBERT__ENVELOPE__BODY_SHARD_PLAN:
    case HIERBERT__ENVELOPE__BODY_HEAD_BATCH:
        /* the compute thread decodes it again with the job's shapes */
        if (zmq_msg_send(frame, w->pipe, 0) < 0) hb_log(w->who, "error", "compute pipe: %s", zmq_strerror(zmq_errno()));
        break;
    case HIERBERT__ENVELOPE__BODY_ERROR:
        if (m->error->code == PROTO_E_VERSION) {
            hb_fail(err, "the coordinator refused this worker: %s", m->error->message);
            proto_free(&m);
            return -1;
        }
        if (m->error->code == PROTO_E_STATE && strstr(m->error->message, "Hello")) {
            hb_log(w->who, "info", "coordinator does not know this worker (restarted?): saying Hello again");
            s_hello(w);
        } else {
            hb_log(w->who, "warn", "coordinator error: %s", m->error->message);
        }
        break;
    case HIERBERT__ENVELOPE__BODY_GOODBYE:
        hb_log(w->who, "info", "coordinator says goodbye (%s): reconnecting", m->goodbye->reason);
        w->last_recv = 0; /* expire now */
        break;
    default:
        hb_log(w->who, "warn", "ignoring unexpected %s from the coordinator", proto_type_name(m));
        break;
    }
    proto_free(&m);
    return 0;
}

/* One result from the compute thread to the coordinator, every frame of it
 * (a ShardState's raw frames follow its Envelope); without a connection
 * it is dropped whole. */
static void s_forward_result(worker *w) {
    int more = 1, failed = !w->sock, first = 1;
    while (more) {
        zmq_msg_t f;
        zmq_msg_init(&f);
        if (zmq_msg_recv(&f, w->pipe, 0) < 0) {
            zmq_msg_close(&f);
            return;
        }
        more = zmq_msg_more(&f);
        /* (a multipart message goes whole or not at all: after the first
         * frame is queued the rest cannot fail for want of room) */
        if (!failed && zmq_msg_send(&f, w->sock, (more ? ZMQ_SNDMORE : 0) | ZMQ_DONTWAIT) < 0) {
            if (first)
                hb_log(w->who, "warn", "could not send a result to the coordinator: %s (it will reassign the work)",
                       zmq_strerror(zmq_errno()));
            failed = 1;
        }
        first = 0;
        zmq_msg_close(&f);
    }
    if (!w->sock) hb_log(w->who, "warn", "dropping a result: no coordinator (it will reassign the work)");
}

/* The entries a SIGHUP changes in a running worker (read each turn of the
 * loop); the endpoints, id, threads, keys and frame limit are bound at start. */
static const char *const WORKER_LIVE_CONF[] = {"worker.heartbeat_ms",     "worker.coordinator_timeout_ms",
                                               "worker.reconnect_min_ms", "worker.reconnect_max_ms",
                                               "worker.log_file",         NULL};

static void s_on_hup(worker *w) {
    worker_config next;
    conf_entry cur_t[WORKER_CONF_ENTRIES], next_t[WORKER_CONF_ENTRIES];
    worker_config_defaults(&next);
    worker_config_table(&next, next_t);
    worker_config_table(w->cfg, cur_t);
    if (daemon_on_hup(w->ctl, w->who, cur_t, next_t, &next, WORKER_LIVE_CONF) == 0) w->cfg->verbose = next.verbose;
}

/* once a turn of either loop (connected, or backing off) */
static void s_turn(worker *w) {
    daemon_watchdog_ping(&w->watchdog);
    if (w->ctl->hup && *w->ctl->hup) {
        *w->ctl->hup = 0;
        s_on_hup(w);
    }
}

int worker_run(const worker_config *cfg_in, const daemon_ctl *ctl, char *err) {
    worker w;
    memset(&w, 0, sizeof w);
    worker_config live = *cfg_in;
    const worker_config *cfg = &live;
    volatile sig_atomic_t *stop = ctl->stop;
    w.cfg = &live;
    w.ctl = ctl;
    daemon_watchdog_init(&w.watchdog);
    if (gethostname(w.host, sizeof w.host) != 0) snprintf(w.host, sizeof w.host, "unknown");
    w.host[sizeof w.host - 1] = 0;
    /* the coordinator takes only names hb_name_bad passes (proto/frame.c
     * s_name): the host is made so, the id must be */
    for (char *p; (p = (char *)hb_name_bad(w.host));) *p = '_';
    const char *bad = hb_name_bad(cfg->id);
    if (bad)
        return hb_fail(err,
                       "worker id '%s': byte 0x%02x at offset %td; a worker id is printable ASCII without a "
                       "quote or a backslash",
                       cfg->id, (unsigned char)*bad, bad - cfg->id);
    if (cfg->id[0])
        snprintf(w.id, sizeof w.id, "%.127s", cfg->id);
    else
        snprintf(w.id, sizeof w.id, "%.100s:%d", w.host, (int)getpid());
    snprintf(w.who, sizeof w.who, "hierbert-worker[%s]", w.id);
    w.backoff_ms = cfg->reconnect_min_ms;
    w.zctx = zmq_ctx_new();

    /* compute thread and its pipe */
    char pipe_ep[64];
    snprintf(pipe_ep, sizeof pipe_ep, "inproc://compute-%p", (void *)&w);
    w.pipe = zmq_socket(w.zctx, ZMQ_PAIR);
    zmq_bind(w.pipe, pipe_ep);
    w.comp.zctx = w.zctx;
    w.comp.pipe_endpoint = pipe_ep;
    w.comp.who = w.who;
    w.comp.threads = cfg->threads > 0 ? cfg->threads : omp_get_num_procs();
    w.comp.max_frame = (size_t)cfg->max_frame_mb << 20;
    /* the peer endpoint is bound before Hello announces it; the compute thread owns it from here */
    /* with CurveZMQ on, the peer endpoint serves with this worker's own pair */
    if (worker_peers_open(&w.comp.peers, w.zctx, cfg->peer, cfg->work,
                          cfg->curve_server_public[0] ? cfg->curve_key : NULL, err)) {
        zmq_close(w.pipe);
        zmq_ctx_term(w.zctx);
        return -1;
    }
    pthread_t tid;
    pthread_create(&tid, NULL, worker_compute_main, &w.comp);

    int rc = 0;
    if (s_connect(&w, err)) {
        rc = -1;
        goto done;
    }
    hb_log(w.who, "info", "connecting to %s (%d threads, protocol %u, peer endpoint %s)", cfg->work, w.comp.threads,
           PROTO_VERSION, w.comp.peers ? worker_peers_endpoint(w.comp.peers) : "none");
    sd_notify(0, "READY=1");
    sd_notifyf(0, "STATUS=connecting to %s", cfg->work);
    if (w.watchdog.period_ms)
        hb_log(w.who, "info", "systemd watchdog: %lld ms; WATCHDOG=1 from the socket thread's loop",
               w.watchdog.period_ms);
    int was_alive = 0;
    while (!*stop) {
        s_turn(&w);
        long long now = hb_now_ms();
        if (w.sock && now - w.last_recv > cfg->coordinator_timeout_ms) {
            hb_log(w.who, "warn", "coordinator %s silent for %lld ms: reconnecting in %d ms", cfg->work,
                   now - w.last_recv, w.backoff_ms);
            sd_notifyf(0, "STATUS=coordinator %s unreachable; retrying", cfg->work);
            s_disconnect(&w);
            was_alive = 0;
            /* wait out the back-off, still draining the compute pipe */
            long long until = now + w.backoff_ms;
            while (!*stop && hb_now_ms() < until) {
                s_turn(&w);
                zmq_pollitem_t it = {w.pipe, 0, ZMQ_POLLIN, 0};
                long left = (long)(until - hb_now_ms());
                if (zmq_poll(&it, 1, left > 200 ? 200 : left < 0 ? 0 : left) > 0) s_forward_result(&w);
            }
            w.backoff_ms = w.backoff_ms * 2 > cfg->reconnect_max_ms ? cfg->reconnect_max_ms : w.backoff_ms * 2;
            if (*stop) break;
            if (s_connect(&w, err)) {
                rc = -1;
                break;
            }
            continue;
        }
        if (now >= w.next_hb) {
            if (!was_alive) s_hello(&w); /* until the coordinator answers, every tick is a Hello */
            s_heartbeat(&w);
            w.next_hb = now + cfg->heartbeat_ms;
        }
        zmq_pollitem_t items[3] = {{w.sock, 0, ZMQ_POLLIN, 0}, {w.pipe, 0, ZMQ_POLLIN, 0}, {w.hb, 0, ZMQ_POLLIN, 0}};
        long wait = (long)(w.next_hb - hb_now_ms());
        if (wait < 0) wait = 0;
        if (wait > 200) wait = 200; /* notice signals promptly */
        if (zmq_poll(items, w.hb ? 3 : 2, wait) < 0) {
            if (zmq_errno() == EINTR) continue;
            rc = hb_fail(err, "zmq_poll: %s", zmq_strerror(zmq_errno()));
            break;
        }
        if (items[0].revents & ZMQ_POLLIN) {
            zmq_msg_t f;
            zmq_msg_init(&f);
            if (zmq_msg_recv(&f, w.sock, 0) >= 0) {
                if (!was_alive) {
                    hb_log(w.who, "info", "coordinator %s answered", cfg->work);
                    sd_notifyf(0, "STATUS=connected to %s", cfg->work);
                    was_alive = 1;
                }
                if (s_on_frame(&w, &f, err)) {
                    zmq_msg_close(&f);
                    rc = -1;
                    break;
                }
            }
            zmq_msg_close(&f);
        }
        if (items[1].revents & ZMQ_POLLIN) s_forward_result(&w);
        if (w.hb && (items[2].revents & ZMQ_POLLIN)) {
            zmq_msg_t f;
            zmq_msg_init(&f);
            if (zmq_msg_recv(&f, w.hb, ZMQ_DONTWAIT) >= 0) s_on_hb_frame(&w, &f);
            zmq_msg_close(&f);
        }
    }
    if (w.sock && rc == 0) {
        char gerr[HB_ERR_LEN];
        proto_send_goodbye(w.sock, NULL, 0, "worker stopping", gerr);
        usleep(50000); /* let the Goodbye leave (linger is 0) */
    }
done:
    sd_notify(0, "STOPPING=1");
    s_disconnect(&w);
    zmq_send(w.pipe, "", 0, 0); /* empty frame: compute thread exits (after its current task) */
    pthread_join(tid, NULL);
    zmq_close(w.pipe);
    zmq_ctx_term(w.zctx);
    if (rc == 0) hb_log(w.who, "info", "stopped");
    return rc;
}
