/* loop.c - the coordinator's sockets, event loop, worker registry and tick
 * (see coord.h). */
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "coord.h"
#include "curve.h"
#include "hb_log.h"

void coord_config_defaults(coord_config *c) {
    memset(c, 0, sizeof *c);
    snprintf(c->work, sizeof c->work, "tcp://127.0.0.1:5555");
    snprintf(c->control, sizeof c->control, "tcp://127.0.0.1:5556");
    snprintf(c->status, sizeof c->status, "tcp://127.0.0.1:5557");
    snprintf(c->events, sizeof c->events, "tcp://127.0.0.1:5558");
    snprintf(c->data_dir, sizeof c->data_dir, "/var/lib/hierbert");
    c->heartbeat_ms = 1000;
    c->worker_expiry_ms = 5000;
    c->tick_ms = 100;
    c->checkpoint_every = 10;
    c->checkpoint_min_s = 30;
    c->rejoin_wait_s = 60;
    c->max_frame_mb = 1024;
    c->control_max_frame_kb = 1024;
    c->max_jobs = 1000;
}

void coord_config_table(coord_config *c, conf_entry *t) {
    conf_entry tmp[COORD_CONF_ENTRIES] = {
        {"endpoints", "work", CONF_STR, c->work, sizeof c->work, 0, 0, "work endpoint (workers)"},
        {"endpoints", "control", CONF_STR, c->control, sizeof c->control, 0, 0, "control endpoint (CLI)"},
        {"endpoints", "status", CONF_STR, c->status, sizeof c->status, 0, 0, "status endpoint (REP, JSON)"},
        {"endpoints", "events", CONF_STR, c->events, sizeof c->events, 0, 0, "events endpoint (PUB)"},
        {"endpoints", "metrics", CONF_STR, c->metrics, sizeof c->metrics, 0, 0,
         "HTTP /metrics (Prometheus) on HOST:PORT; empty: off"},
        {"coordinator", "data_dir", CONF_STR, c->data_dir, sizeof c->data_dir, 0, 0, "jobs, store, checkpoints"},
        {"coordinator", "heartbeat_ms", CONF_INT, &c->heartbeat_ms, 0, 50, 60000, "heartbeat period"},
        {"coordinator", "worker_expiry_ms", CONF_INT, &c->worker_expiry_ms, 0, 200, 3600000,
         "silence before a worker is dropped"},
        {"coordinator", "tick_ms", CONF_INT, &c->tick_ms, 0, 10, 10000, "periodic tick"},
        {"coordinator", "checkpoint_every", CONF_INT, &c->checkpoint_every, 0, 1, 1000000,
         "rounds between checkpoints"},
        {"coordinator", "checkpoint_min_s", CONF_INT, &c->checkpoint_min_s, 0, 0, 86400,
         "seconds at least between checkpoints inside an epoch (0: by rounds only)"},
        {"coordinator", "rejoin_wait_s", CONF_INT, &c->rejoin_wait_s, 0, 0, 86400,
         "sharded: how long a job short of shard owners waits for them before going on with fewer"},
        {"coordinator", "max_frame_mb", CONF_INT, &c->max_frame_mb, 0, 1, 4096, "largest work frame"},
        {"coordinator", "control_max_frame_kb", CONF_INT, &c->control_max_frame_kb, 0, 1, 1048576,
         "largest control frame"},
        {"coordinator", "max_jobs", CONF_INT, &c->max_jobs, 0, 1, COORD_MAX_JOBS, "job records kept"},
        {"coordinator", "curve_secret", CONF_STR, c->curve_secret, sizeof c->curve_secret, 0, 0, "CurveZMQ .key"},
        {"coordinator", "curve_allow_dir", CONF_STR, c->curve_allow_dir, sizeof c->curve_allow_dir, 0, 0,
         "allowed client .pub files"},
        {"coordinator", "log_file", CONF_STR, c->log_file, sizeof c->log_file, 0, 0,
         "append the log here instead of stderr (reopened on SIGHUP)"},
        {"coordinator", "dataset_roots", CONF_STR, c->dataset_roots, sizeof c->dataset_roots, 0, 0,
         "':'-separated directories a Submit may read (empty: DATA_DIR/datasets)"},
        {"coordinator", "export_root", CONF_STR, c->export_root, sizeof c->export_root, 0, 0,
         "the directory beneath which Export writes (empty: DATA_DIR/exports)"},
        {NULL, NULL, 0, NULL, 0, 0, 0, NULL},
    };
    memcpy(t, tmp, sizeof tmp);
}

/* ------------------------------------------------------------------------ */

static double s_unix_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int s_mkdirs(const char *path, char *err) {
    char tmp[1100];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(tmp, 0750) && errno != EEXIST) return hb_fail(err, "mkdir %s: %s", tmp, strerror(errno));
        *p = '/';
    }
    if (mkdir(tmp, 0750) && errno != EEXIST) return hb_fail(err, "mkdir %s: %s", tmp, strerror(errno));
    return 0;
}

static void *s_bind(coord *c, int type, const char *ep, const char *what, int curve, char *err) {
    void *s = zmq_socket(c->zctx, type);
    if (curve && c->cfg.curve_secret[0] && curve_server_setup(s, c->cfg.curve_secret, err)) {
        zmq_close(s);
        return NULL;
    }
    int linger = 0;
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    if (type == ZMQ_ROUTER) {
        int one = 1;
        zmq_setsockopt(s, ZMQ_ROUTER_MANDATORY, &one, sizeof one);
    }
    if (type == ZMQ_PUB) {
        /* a subscriber that never reads holds at most this many events in
         * the coordinator (ZeroMQ's default is 1000 per subscriber, a few
         * MB of job JSON each); past it PUB drops that subscriber's events,
         * and the per-topic "seq" shows it the gap */
        int hwm = COORD_EVENTS_HWM;
        zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, sizeof hwm);
    }
    if (zmq_bind(s, ep) != 0) {
        hb_fail(err, "cannot bind the %s endpoint '%s': %s", what, ep, zmq_strerror(zmq_errno()));
        zmq_close(s);
        return NULL;
    }
    return s;
}

int coord_new(coord **out, const coord_config *cfg, char *err) {
    *out = NULL;
    coord *c = hb_calloc(1, sizeof *c);
    c->cfg = *cfg;
    c->who = "hierbert-coordinator";
    c->active = -1;
    c->next_job_id = 1;
    if (s_mkdirs(cfg->data_dir, err)) {
        free(c);
        return -1;
    }
    char jobs[1100];
    snprintf(jobs, sizeof jobs, "%s/jobs", cfg->data_dir);
    if (s_mkdirs(jobs, err)) {
        free(c);
        return -1;
    }
    if (coord_confine_init(&c->confine, cfg, err)) {
        free(c);
        return -1;
    }
    char sdir[1100];
    snprintf(sdir, sizeof sdir, "%s/store", cfg->data_dir);
    if (store_open(&c->store, sdir, NULL, err)) {
        free(c);
        return -1;
    }
    c->zctx = zmq_ctx_new();
    if (cfg->curve_secret[0]) {
        /* the allowlist answers libzmq's ZAP requests: bound before the sockets */
        if (!cfg->curve_allow_dir[0]) {
            hb_fail(err, "curve_secret is set but curve_allow_dir is not: whose keys may connect?");
            coord_destroy(&c);
            return -1;
        }
        if (curve_zap_new(&c->zap, c->zctx, cfg->curve_allow_dir, err)) {
            coord_destroy(&c);
            return -1;
        }
    }
    if (!(c->work = s_bind(c, ZMQ_ROUTER, cfg->work, "work", 1, err)) ||
        !(c->control = s_bind(c, ZMQ_ROUTER, cfg->control, "control", 1, err)) ||
        !(c->status = s_bind(c, ZMQ_REP, cfg->status, "status", 0, err)) ||
        !(c->events = s_bind(c, ZMQ_PUB, cfg->events, "events", 0, err))) {
        coord_destroy(&c);
        return -1;
    }
    snprintf(c->ingest_ep, sizeof c->ingest_ep, "inproc://ingest-%p", (void *)c);
    c->ingest = zmq_socket(c->zctx, ZMQ_PULL);
    zmq_bind(c->ingest, c->ingest_ep);
    /* transport caps above the decoder's, so an oversized frame still gets
     * a readable Error reply instead of a silent disconnect */
    int64_t wmax = ((int64_t)cfg->max_frame_mb << 20) * 2, cmax = ((int64_t)cfg->control_max_frame_kb << 10) * 64;
    zmq_setsockopt(c->work, ZMQ_MAXMSGSIZE, &wmax, sizeof wmax);
    zmq_setsockopt(c->control, ZMQ_MAXMSGSIZE, &cmax, sizeof cmax);
    zmq_setsockopt(c->status, ZMQ_MAXMSGSIZE, &cmax, sizeof cmax);
    c->started_ms = hb_now_ms();
    c->started_unix = s_unix_now();
    if (cfg->metrics[0] && coord_metrics_start(&c->metrics, cfg->metrics, c->zctx, cfg->status, err)) {
        coord_destroy(&c);
        return -1;
    }
    if (cfg->metrics[0]) {
        hb_log(c->who, "info", "HTTP on %s: dashboard at /, /api/status, /api/result?job=N, /metrics (read-only)",
               cfg->metrics);
        /* the HTTP port has no encryption and no allowlist: with CURVE on,
         * anything but loopback is the operator's explicit choice */
        if (cfg->curve_secret[0] && strncmp(cfg->metrics, "127.", 4) && strncmp(cfg->metrics, "localhost:", 10))
            hb_log(c->who, "warn",
                   "CurveZMQ is on but the HTTP port %s is not loopback: the dashboard and /metrics are plain, "
                   "unauthenticated HTTP to whoever reaches it",
                   cfg->metrics);
    }
    if (coord_jobs_load(c, err)) {
        coord_destroy(&c);
        return -1;
    }
    *out = c;
    return 0;
}

void coord_destroy(coord **cp) {
    coord *c = *cp;
    if (!c) return;
    coord_jobs_join_ingest(c);
    coord_exports_join(c);
    coord_metrics_stop(&c->metrics); /* its thread's sockets close before the context ends */
    for (int i = 0; i < c->n_jobs; i++) coord_job_free(&c->jobs[i]);
    if (c->work) zmq_close(c->work);
    if (c->control) zmq_close(c->control);
    if (c->status) zmq_close(c->status);
    if (c->events) zmq_close(c->events);
    if (c->ingest) zmq_close(c->ingest);
    curve_zap_destroy(&c->zap);
    if (c->zctx) zmq_ctx_term(c->zctx);
    store_close(&c->store);
    free(c);
    *cp = NULL;
}

/* ------------------------------------------------------------------------ */
/* workers */

int coord_live_workers(const coord *c) {
    int n = 0;
    for (int i = 0; i < COORD_MAX_WORKERS; i++) n += c->workers[i].in_use;
    return n;
}

int coord_worker_fits(const coord_job *j, const coord_worker *k) {
    return k->in_use && !k->dropping && (k->bf16 || strcmp(j->submit->precision, "bf16") != 0);
}

int coord_fit_workers(coord *c, coord_job *j) {
    int n = 0, skipped = 0;
    char names[160] = "";
    for (int i = 0; i < COORD_MAX_WORKERS; i++) {
        const coord_worker *k = &c->workers[i];
        if (coord_worker_fits(j, k)) {
            n++;
        } else if (k->in_use) {
            size_t len = strlen(names);
            if (len + strlen(k->id) + 3 < sizeof names)
                snprintf(names + len, sizeof names - len, "%s%s", len ? ", " : "", k->id);
            skipped++;
        }
    }
    char note[sizeof j->skip_note] = "";
    if (skipped)
        snprintf(note, sizeof note, "bf16 job: %d worker%s without native bf16 given no tasks (%s)%s", skipped,
                 skipped == 1 ? "" : "s", names, n ? "" : "; waiting for a worker with AVX512_BF16 or AMX-BF16");
    if (strcmp(note, j->skip_note)) {
        if (note[0]) hb_log(c->who, "info", "job %llu: %s", (unsigned long long)j->id, note);
        snprintf(j->skip_note, sizeof j->skip_note, "%s", note);
    }
    return n;
}

static int s_worker_by_rid(coord *c, const uint8_t *rid, size_t len) {
    for (int i = 0; i < COORD_MAX_WORKERS; i++)
        if (c->workers[i].in_use && c->workers[i].rid_len == len && !memcmp(c->workers[i].rid, rid, len)) return i;
    return -1;
}

static void s_drop_worker(coord *c, int w, const char *why) {
    coord_worker *k = &c->workers[w];
    if (k->dropping) return; /* (a send to it failed while its tasks were moved) */
    k->dropping = 1;
    hb_log(c->who, "info", "worker %s (%s) dropped: %s", k->id, k->host, why);
    char ev[1024];
    snprintf(ev, sizeof ev, "{\"event\":\"worker_lost\",\"seq\":%llu,\"worker\":\"%s\",\"reason\":\"%s\"}",
             (unsigned long long)++c->worker_event_seq, k->id, why);
    coord_publish(c, "worker", ev);
    coord_on_worker_lost(c, w);
    coord_phases_worker_lost(c, w);
    k->in_use = 0;
    k->dropping = 0;
}

void coord_send_failed(coord *c, int w, const char *what) {
    int e = zmq_errno();
    coord_worker *k = &c->workers[w];
    hb_log(c->who, "warn", "worker %s: sending %s: %s", k->id, what, zmq_strerror(e));
    if (e == EHOSTUNREACH && k->in_use) s_drop_worker(c, w, "unreachable");
}

int coord_send_worker(coord *c, int w, const proto_msg *m) {
    char err[HB_ERR_LEN];
    coord_worker *k = &c->workers[w];
    if (!k->in_use || k->dropping) return -1;
    if (proto_send(c->work, k->rid, k->rid_len, m, ZMQ_DONTWAIT, err)) {
        hb_log(c->who, "warn", "worker %s: %s", k->id, err);
        if (zmq_errno() == EHOSTUNREACH) s_drop_worker(c, w, "unreachable");
        return -1;
    }
    return 0;
}

static void s_heartbeat_to(coord *c, int w) {
    proto_msg m;
    proto_env_init(&m, 0);
    Hierbert__Heartbeat hb = HIERBERT__HEARTBEAT__INIT;
    m.body_case = HIERBERT__ENVELOPE__BODY_HEARTBEAT;
    m.heartbeat = &hb;
    coord_worker *k = &c->workers[w];
    if (k->hb_rid_len) {
        char err[HB_ERR_LEN];
        if (proto_send(c->work, k->hb_rid, k->hb_rid_len, &m, ZMQ_DONTWAIT, err) == 0) return;
        /* the heartbeat connection is gone (the work one may not be): back to that */
        hb_log(c->who, "info", "worker %s: heartbeat connection lost (%s): heartbeats on the work connection", k->id,
               err);
        k->hb_rid_len = 0;
    }
    coord_send_worker(c, w, &m);
}

/* A Heartbeat on a connection that is no worker's work connection: the
 * heartbeat connection of the worker whose Hello drew that token, or -1
 * (the caller answers that with a Goodbye: say Hello first). */
static int s_on_hb_connection(coord *c, const uint8_t *rid, size_t len, const Hierbert__Heartbeat *hb) {
    if (!hb->hb_token || !hb->worker_id[0] || len > COORD_RID_MAX) return -1;
    for (int i = 0; i < COORD_MAX_WORKERS; i++) {
        coord_worker *k = &c->workers[i];
        if (!k->in_use || k->hb_token != hb->hb_token || strcmp(k->id, hb->worker_id)) continue;
        if (k->hb_rid_len != len || memcmp(k->hb_rid, rid, len)) {
            memcpy(k->hb_rid, rid, len);
            k->hb_rid_len = len;
            if (c->cfg.verbose) hb_log(c->who, "debug", "worker %s: heartbeat connection up", k->id);
        }
        return i;
    }
    return -1;
}

static int s_worker_by_hb_rid(coord *c, const uint8_t *rid, size_t len) {
    for (int i = 0; i < COORD_MAX_WORKERS; i++)
        if (c->workers[i].in_use && c->workers[i].hb_rid_len == len && !memcmp(c->workers[i].hb_rid, rid, len))
            return i;
    return -1;
}

static void s_on_hello(coord *c, const uint8_t *rid, size_t len, const Hierbert__Hello *h) {
    /* the same worker on a new connection replaces its old entry */
    for (int i = 0; i < COORD_MAX_WORKERS; i++)
        if (c->workers[i].in_use && !strcmp(c->workers[i].id, h->worker_id) &&
            (c->workers[i].rid_len != len || memcmp(c->workers[i].rid, rid, len)))
            s_drop_worker(c, i, "reconnected under a new connection");
    int w = s_worker_by_rid(c, rid, len);
    int fresh = w < 0;
    if (w < 0) {
        for (int i = 0; i < COORD_MAX_WORKERS && w < 0; i++)
            if (!c->workers[i].in_use) w = i;
        if (w < 0) {
            proto_send_error(c->work, rid, len, 0, PROTO_E_STATE, NULL, "Hello: coordinator full (%d workers)",
                             COORD_MAX_WORKERS);
            return;
        }
    }
    coord_worker *k = &c->workers[w];
    if (fresh) {
        memset(k, 0, sizeof *k);
        k->in_use = 1;
        memcpy(k->rid, rid, len);
        k->rid_len = len;
        k->task = -1;
        k->joined = s_unix_now();
    }
    snprintf(k->id, sizeof k->id, "%s", h->worker_id);
    snprintf(k->host, sizeof k->host, "%s", h->host);
    k->cores = h->cores;
    k->bf16 = h->bf16;
    k->threads = h->threads;
    k->pid = h->pid;
    snprintf(k->peer, sizeof k->peer, "%s", h->peer_endpoint);
    snprintf(k->peer_public, sizeof k->peer_public, "%s", strlen(h->peer_public) == 40 ? h->peer_public : "");
    if (k->hb_token != h->hb_token) k->hb_rid_len = 0; /* a new heartbeat connection comes */
    k->hb_token = h->hb_token;
    k->last_seen_ms = hb_now_ms();
    if (fresh) {
        hb_log(c->who, "info", "worker %s joined (host %s, %u threads, pid %u); %d live", k->id, k->host, k->threads,
               k->pid, coord_live_workers(c));
        char ev[1024];
        snprintf(ev, sizeof ev,
                 "{\"event\":\"worker_joined\",\"seq\":%llu,\"worker\":\"%s\",\"host\":\"%s\",\"threads\":%u}",
                 (unsigned long long)++c->worker_event_seq, k->id, k->host, k->threads);
        coord_publish(c, "worker", ev);
    }
    s_heartbeat_to(c, w); /* any message is a sign of life: answer at once */
}

#define S_SLOW_TURN_MS 1000
#define S_BULK_FRAME ((size_t)16 << 20)
static char s_turn_what[160]; /* the event loop's turn: the work frames it handled (a slow turn's log line) */

/* one frame of the work socket; returns its size (0: none read) */
static size_t s_on_work(coord *c) {
    uint8_t rid[COORD_RID_MAX];
    int rl = zmq_recv(c->work, rid, sizeof rid, 0);
    if (rl < 0) return 0;
    int more = 0;
    size_t ms = sizeof more;
    zmq_getsockopt(c->work, ZMQ_RCVMORE, &more, &ms);
    if (!more) return 0;
    zmq_msg_t f;
    zmq_msg_init(&f);
    if (zmq_msg_recv(&f, c->work, 0) < 0) {
        zmq_msg_close(&f);
        return 0;
    }
    /* raw frames after the Envelope (a ShardState's: kept as they came, up
     * to COORD_RAW_MAX); any others are drained and dropped */
    coord_raw raw = {0};
    size_t raw_bytes = 0;
    zmq_getsockopt(c->work, ZMQ_RCVMORE, &more, &ms);
    while (more) {
        zmq_msg_t x;
        zmq_msg_init(&x);
        zmq_msg_recv(&x, c->work, 0);
        raw_bytes += zmq_msg_size(&x);
        if (raw.n < COORD_RAW_MAX) {
            zmq_msg_init(&raw.f[raw.n]);
            zmq_msg_move(&raw.f[raw.n++], &x);
            zmq_msg_close(&x); /* (empty after the move) */
        } else {
            raw.extra++;
            zmq_msg_close(&x);
        }
        zmq_getsockopt(c->work, ZMQ_RCVMORE, &more, &ms);
    }
    size_t len = (size_t)rl;
    int w = s_worker_by_rid(c, rid, len);
    proto_expect ex = {.max_frame = (size_t)c->cfg.max_frame_mb << 20};
    /* Updates are checked against the job their worker works on */
    if (w >= 0 && c->active >= 0) {
        coord_job *j = c->jobs[c->active];
        if (j->model) {
            ex.numel = j->model->params.numel;
            ex.num_classes = (uint32_t)j->corpus.num_classes;
            ex.dim = (uint32_t)j->cfg.hidden_size;
        }
    }
    proto_msg *m = NULL;
    char err[HB_ERR_LEN];
    int code = 0;
    int rc = proto_decode(zmq_msg_data(&f), zmq_msg_size(&f), &ex, &m, &code, err);
    size_t fsize = zmq_msg_size(&f) + raw_bytes;
    zmq_msg_close(&f);
    if (fsize > ((size_t)1 << 20)) {
        size_t u = strlen(s_turn_what);
        snprintf(s_turn_what + u, sizeof s_turn_what - u, "%s%s of %.1f MB", u ? ", " : "",
                 rc ? "a refused frame" : proto_type_name(m), (double)fsize / 1e6);
    }
    if (rc) {
        if (hb_log_limited(&c->refused_log[0], COORD_REFUSED_LOG_BURST, COORD_REFUSED_LOG_MS))
            hb_log(c->who, "warn", "work: refused a frame from %s: %s", w >= 0 ? c->workers[w].id : "an unknown peer",
                   err);
        proto_send_error(c->work, rid, len, 0, code, NULL, "%s", err);
        coord_raw_close(&raw);
        /* a worker's result above the cap would be as big when computed
         * again: the job fails with the key to raise, it does not wait for it */
        if (w >= 0 && code == PROTO_E_TOO_BIG && c->active >= 0) {
            coord_job *j = c->jobs[c->active];
            if (j->state == JOB_TRAIN || j->state == JOB_EMBED || j->state == JOB_HEAD) {
                char why[HB_ERR_LEN];
                snprintf(why, sizeof why,
                         "a frame from worker %.100s refused: %.300s (coordinator.max_frame_mb %d: raise it)",
                         c->workers[w].id, err, c->cfg.max_frame_mb);
                coord_train_abort(c, j);
                coord_job_set_state(c, j, JOB_FAILED, why);
            }
        }
        return fsize;
    }
    /* a worker's heartbeat connection (its Heartbeats carry a token; the
     * work connection's do not, and an unknown one is told to say Hello) */
    if (w < 0 && m->body_case == HIERBERT__ENVELOPE__BODY_HEARTBEAT && m->heartbeat->hb_token) {
        int h = s_worker_by_hb_rid(c, rid, len);
        if (h < 0) h = s_on_hb_connection(c, rid, len, m->heartbeat);
        if (h >= 0) {
            c->workers[h].last_seen_ms = hb_now_ms();
            c->workers[h].busy = m->heartbeat->busy;
            if (m->heartbeat->samples_per_s > 0) c->workers[h].rate = m->heartbeat->samples_per_s;
        } else {
            /* no Hello drew that token (this coordinator restarted, or the
             * Hello is still on its way): a Goodbye there asks for a Hello on
             * the work connection (an Error would mean "no heartbeat
             * connections here", what an older coordinator answers) */
            proto_send_goodbye(c->work, rid, len, "unknown heartbeat connection: say Hello on the work connection",
                               err);
        }
        proto_free(&m);
        coord_raw_close(&raw);
        return fsize;
    }
    if (w >= 0) c->workers[w].last_seen_ms = hb_now_ms();
    if (m->body_case == HIERBERT__ENVELOPE__BODY_HELLO) {
        s_on_hello(c, rid, len, m->hello);
    } else if (w < 0) {
        if (m->body_case != HIERBERT__ENVELOPE__BODY_GOODBYE)
            proto_send_error(c->work, rid, len, 0, PROTO_E_STATE, NULL,
                             "%s: unknown worker (coordinator restarted?): send Hello first", proto_type_name(m));
    } else {
        switch (m->body_case) {
        case HIERBERT__ENVELOPE__BODY_HEARTBEAT:
            c->workers[w].busy = m->heartbeat->busy;
            if (m->heartbeat->samples_per_s > 0) c->workers[w].rate = m->heartbeat->samples_per_s;
            break;
        case HIERBERT__ENVELOPE__BODY_UPDATE:
            if (c->active >= 0) c->jobs[c->active]->r.bytes_in += fsize;
            c->workers[w].bytes_up += (double)fsize;
            coord_on_update(c, w, &m);
            break;
        case HIERBERT__ENVELOPE__BODY_SHARD_READY:
            coord_on_shard_ready(c, w, m);
            break;
        case HIERBERT__ENVELOPE__BODY_SHARD_STATE:
            if (c->active >= 0) { /* TRAIN's bytes, outside any round: they arrive beside the next ones */
                c->jobs[c->active]->train_bytes_up += (double)fsize;
                c->jobs[c->active]->train_bytes += (double)fsize;
            }
            c->workers[w].bytes_up += (double)fsize;
            coord_on_shard_state(c, w, &m, &raw);
            break;
        case HIERBERT__ENVELOPE__BODY_DOC_EMBEDDINGS:
            coord_on_doc_embeddings(c, w, m);
            break;
        case HIERBERT__ENVELOPE__BODY_HEAD_RESULT:
            coord_on_head_result(c, w, m);
            break;
        case HIERBERT__ENVELOPE__BODY_GOODBYE:
            s_drop_worker(c, w, "said goodbye");
            break;
        case HIERBERT__ENVELOPE__BODY_ERROR:
            hb_log(c->who, "warn", "worker %s reports: %s", c->workers[w].id, m->error->message);
            if (c->active >= 0) coord_on_worker_error(c, w, m);
            break;
        default:
            proto_send_error(c->work, rid, len, m->job_id, PROTO_E_UNEXPECTED, NULL,
                             "%s: not a message the work endpoint takes", proto_type_name(m));
        }
    }
    proto_free(&m);
    coord_raw_close(&raw); /* (what a handler kept it moved out) */
    return fsize;
}

void coord_raw_close(coord_raw *r) {
    for (int i = 0; i < r->n; i++) zmq_msg_close(&r->f[i]);
    r->n = r->extra = 0;
}

/* ------------------------------------------------------------------------ */
/* control */

int coord_reply(coord *c, const coord_peer *p, const proto_msg *m) {
    char err[HB_ERR_LEN];
    if (zmq_send(c->control, p->rid, p->len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0) return -1;
    if (p->delim && zmq_send(c->control, "", 0, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0) return -1;
    if (proto_send(c->control, NULL, 0, m, ZMQ_DONTWAIT, err)) {
        hb_log(c->who, "warn", "control reply: %s", err);
        return -1;
    }
    return 0;
}

int coord_reply_error(coord *c, const coord_peer *p, uint64_t job, int code, const char *fmt, ...) {
    char text[HB_ERR_LEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    proto_msg m;
    proto_env_init(&m, job);
    Hierbert__Error e = HIERBERT__ERROR__INIT;
    e.code = (uint32_t)code;
    e.message = text;
    m.body_case = HIERBERT__ENVELOPE__BODY_ERROR;
    m.error = &e;
    return coord_reply(c, p, &m);
}

static void s_on_control(coord *c) {
    coord_peer p;
    memset(&p, 0, sizeof p);
    int rl = zmq_recv(c->control, p.rid, sizeof p.rid, 0);
    if (rl < 0) return;
    p.len = (size_t)rl > sizeof p.rid ? sizeof p.rid : (size_t)rl;
    int more = 0, got = 0;
    size_t ms = sizeof more;
    zmq_msg_t f;
    zmq_msg_init(&f);
    for (;;) {
        zmq_getsockopt(c->control, ZMQ_RCVMORE, &more, &ms);
        if (!more) break;
        zmq_msg_close(&f);
        zmq_msg_init(&f);
        if (zmq_msg_recv(&f, c->control, 0) < 0) break;
        if (!got && zmq_msg_size(&f) == 0) {
            zmq_getsockopt(c->control, ZMQ_RCVMORE, &more, &ms);
            if (more) { /* a REQ client's empty delimiter */
                p.delim = 1;
                continue;
            }
        }
        got = 1;
    }
    if (!got) {
        zmq_msg_close(&f);
        return;
    }
    proto_expect ex = {.max_frame = (size_t)c->cfg.control_max_frame_kb << 10};
    proto_msg *m = NULL;
    char err[HB_ERR_LEN];
    int code = 0;
    int rc = proto_decode(zmq_msg_data(&f), zmq_msg_size(&f), &ex, &m, &code, err);
    zmq_msg_close(&f);
    if (rc) {
        if (hb_log_limited(&c->refused_log[1], COORD_REFUSED_LOG_BURST, COORD_REFUSED_LOG_MS))
            hb_log(c->who, "warn", "control: refused a frame: %s", err);
        coord_reply_error(c, &p, 0, code, "%s", err);
        return;
    }
    switch (m->body_case) {
    case HIERBERT__ENVELOPE__BODY_SUBMIT:
        coord_on_submit(c, &p, m);
        break;
    case HIERBERT__ENVELOPE__BODY_CANCEL:
        coord_on_cancel(c, &p, m);
        break;
    case HIERBERT__ENVELOPE__BODY_LIST:
        coord_on_list(c, &p, m);
        break;
    case HIERBERT__ENVELOPE__BODY_STATUS: {
        if (m->job_id && !coord_job_find(c, m->job_id)) {
            coord_reply_error(c, &p, m->job_id, PROTO_E_UNKNOWN_JOB, "Status: unknown job %llu",
                              (unsigned long long)m->job_id);
            break;
        }
        char *json = coord_status_json(c, m->job_id);
        proto_msg r;
        proto_env_init(&r, m->job_id);
        Hierbert__StatusReply sr = HIERBERT__STATUS_REPLY__INIT;
        sr.json = json;
        r.body_case = HIERBERT__ENVELOPE__BODY_STATUS_REPLY;
        r.status_reply = &sr;
        coord_reply(c, &p, &r);
        free(json);
        break;
    }
    case HIERBERT__ENVELOPE__BODY_RESULT:
        coord_on_result(c, &p, m);
        break;
    case HIERBERT__ENVELOPE__BODY_EXPORT:
        coord_on_export(c, &p, m);
        break;
    default:
        if (m->job_id && !coord_job_find(c, m->job_id))
            coord_reply_error(c, &p, m->job_id, PROTO_E_UNKNOWN_JOB, "%s: unknown job %llu", proto_type_name(m),
                              (unsigned long long)m->job_id);
        else
            coord_reply_error(c, &p, m->job_id, PROTO_E_UNEXPECTED,
                              "%s: not served by this coordinator's control endpoint (yet)", proto_type_name(m));
    }
    proto_free(&m);
}

/* status REP: any request (text) gets the JSON document; "job N" narrows */
static void s_on_status(coord *c) {
    char req[256];
    int n = zmq_recv(c->status, req, sizeof req - 1, 0);
    if (n < 0) return;
    if (n > (int)sizeof req - 1) n = (int)sizeof req - 1;
    req[n] = 0;
    int more = 0;
    size_t ms = sizeof more;
    zmq_getsockopt(c->status, ZMQ_RCVMORE, &more, &ms);
    while (more) {
        char junk[64];
        zmq_recv(c->status, junk, sizeof junk, 0);
        zmq_getsockopt(c->status, ZMQ_RCVMORE, &more, &ms);
    }
    /* "status" (or anything else): the whole document; "job N": one job's;
     * "result N": what `hierbert result N --json` prints (the dashboard) */
    uint64_t job = 0;
    char *json = NULL;
    if (!strncmp(req, "job ", 4)) job = strtoull(req + 4, NULL, 10);
    if (!strncmp(req, "result ", 7)) {
        coord_job *j = coord_job_find(c, strtoull(req + 7, NULL, 10));
        char err[HB_ERR_LEN];
        json = j ? coord_result_json(c, j, err) : NULL;
        if (!json) {
            json_t *e = json_pack("{s:s}", "error", j ? err : "unknown job");
            json = json_dumps(e, JSON_COMPACT);
            json_decref(e);
        }
    } else {
        json = coord_status_json(c, job);
    }
    zmq_send(c->status, json, strlen(json), 0);
    free(json);
}

void coord_publish(coord *c, const char *topic, const char *json) {
    char *buf;
    size_t tl = strlen(topic), jl = strlen(json);
    buf = hb_malloc(tl + 1 + jl);
    memcpy(buf, topic, tl);
    buf[tl] = ' ';
    memcpy(buf + tl + 1, json, jl);
    zmq_send(c->events, buf, tl + 1 + jl, ZMQ_DONTWAIT);
    free(buf);
}

/* ------------------------------------------------------------------------ */
/* tick: expiry, heartbeats, the job scheduler, systemd status */

static long long s_stalled_until; /* monotonic ms: see s_tick */

static void s_tick(coord *c) {
    long long now = hb_now_ms();
    /* after a turn that held the loop (a gather's ShardStates), the frames
     * that came meanwhile - the very heartbeats - wait unread: no expiry
     * until the loop has had as long again to read them */
    int grace = now < s_stalled_until;
    for (int k = 0; k < 2; k++) {
        unsigned long long d = hb_log_limit_due(&c->refused_log[k], COORD_REFUSED_LOG_MS);
        if (d)
            hb_log(c->who, "warn", "%s: %llu more frames refused and not logged (over %d a %d s; %llu refused in all)",
                   k ? "control" : "work", d, COORD_REFUSED_LOG_BURST, COORD_REFUSED_LOG_MS / 1000,
                   c->refused_log[k].total);
    }
    for (int i = 0; i < COORD_MAX_WORKERS; i++)
        if (!grace && c->workers[i].in_use && now - c->workers[i].last_seen_ms > c->cfg.worker_expiry_ms) {
            char why[96];
            snprintf(why, sizeof why, "no heartbeat for %lld ms", now - c->workers[i].last_seen_ms);
            s_drop_worker(c, i, why);
        }
    if (now - c->last_hb_ms >= c->cfg.heartbeat_ms) {
        c->last_hb_ms = now;
        for (int i = 0; i < COORD_MAX_WORKERS; i++)
            if (c->workers[i].in_use) s_heartbeat_to(c, i);
    }
    coord_jobs_tick(c);
    daemon_watchdog_ping(&c->watchdog); /* the loop turned: healthy */
    if (now - c->last_notify_ms >= 1000) {
        c->last_notify_ms = now;
        int queued = 0;
        for (int i = 0; i < c->n_jobs; i++) queued += c->jobs[i]->state == JOB_QUEUED;
        if (c->active >= 0) {
            coord_job *j = c->jobs[c->active];
            sd_notifyf(0, "STATUS=%d workers; job %llu %s %.0f%% loss %.4f; %d queued", coord_live_workers(c),
                       (unsigned long long)j->id, job_state_name(j->state), 100 * coord_job_progress(j), j->last_loss,
                       queued);
        } else {
            sd_notifyf(0, "STATUS=%d workers; idle; %d queued", coord_live_workers(c), queued);
        }
    }
}

/* The entries a SIGHUP changes in a running coordinator: each is read where
 * it is used, at the next tick or round. Endpoints, data_dir, metrics, the
 * CURVE keys and the frame limits are bound into sockets and the store at
 * start: they need a restart. */
static const char *const COORD_LIVE_CONF[] = {"coordinator.heartbeat_ms",     "coordinator.worker_expiry_ms",
                                              "coordinator.tick_ms",          "coordinator.checkpoint_every",
                                              "coordinator.checkpoint_min_s", "coordinator.max_jobs",
                                              "coordinator.log_file",         "coordinator.rejoin_wait_s", NULL};

static void s_on_hup(coord *c) {
    coord_config next;
    conf_entry cur_t[COORD_CONF_ENTRIES], next_t[COORD_CONF_ENTRIES];
    coord_config_defaults(&next);
    coord_config_table(&next, next_t);
    coord_config_table(&c->cfg, cur_t);
    if (daemon_on_hup(c->ctl, c->who, cur_t, next_t, &next, COORD_LIVE_CONF) == 0) c->cfg.verbose = next.verbose;
}

int coord_run(coord *c, const daemon_ctl *ctl, char *err) {
    c->ctl = ctl;
    c->stop = ctl->stop;
    volatile sig_atomic_t *stop = ctl->stop;
    daemon_watchdog_init(&c->watchdog);
    hb_log(c->who, "info", "serving: work %s, control %s, status %s, events %s, data %s (protocol %u)%s", c->cfg.work,
           c->cfg.control, c->cfg.status, c->cfg.events, c->cfg.data_dir, PROTO_VERSION,
           c->zap ? "; CurveZMQ on work and control" : "");
    char conf_line[4096];
    coord_confine_describe(&c->confine, conf_line, sizeof conf_line);
    hb_log(c->who, c->confine.landlock ? "info" : "warn", "%s", conf_line);
    sd_notify(0, "READY=1");
    if (c->watchdog.period_ms)
        hb_log(c->who, "info", "systemd watchdog: %lld ms; WATCHDOG=1 from the event loop", c->watchdog.period_ms);
    long long next_tick = hb_now_ms();
    while (!*stop) {
        /* a turn that holds the loop for seconds holds the heartbeats too:
         * say so, with what the turn handled (the last work frame) */
        s_turn_what[0] = 0;
        if (ctl->hup && *ctl->hup) {
            *ctl->hup = 0;
            s_on_hup(c);
        }
        zmq_pollitem_t items[5] = {{c->work, 0, ZMQ_POLLIN, 0},
                                   {c->control, 0, ZMQ_POLLIN, 0},
                                   {c->status, 0, ZMQ_POLLIN, 0},
                                   {c->ingest, 0, ZMQ_POLLIN, 0},
                                   {c->zap ? curve_zap_socket(c->zap) : NULL, 0, ZMQ_POLLIN, 0}};
        long wait = (long)(next_tick - hb_now_ms());
        if (wait < 0) wait = 0;
        if (zmq_poll(items, c->zap ? 5 : 4, wait) < 0) {
            if (zmq_errno() == EINTR) continue;
            return hb_fail(err, "zmq_poll: %s", zmq_strerror(zmq_errno()));
        }
        long long turn0 = hb_now_ms();
        /* bounded batches so no socket starves the others */
        for (int k = 0; k < 64 && (items[0].revents & ZMQ_POLLIN); k++) {
            /* a bulk frame (a ShardState, an Update: up to ~1 s to decode
             * for bert-base) ends the batch: the heartbeats go out between two */
            if (s_on_work(c) > S_BULK_FRAME) break;
            int ev = 0;
            size_t sz = sizeof ev;
            zmq_getsockopt(c->work, ZMQ_EVENTS, &ev, &sz);
            if (!(ev & ZMQ_POLLIN)) break;
        }
        /* a finished round starts the next one now, not at the next tick */
        if (c->active >= 0 && !c->jobs[c->active]->r.active) coord_jobs_tick(c);
        if (items[1].revents & ZMQ_POLLIN) s_on_control(c);
        if (items[2].revents & ZMQ_POLLIN) s_on_status(c);
        if (c->zap && (items[4].revents & ZMQ_POLLIN)) {
            char key[CURVE_KEY_CHARS + 1];
            if (curve_zap_handle(c->zap, key) != 1)
                hb_log(c->who, "warn", "CURVE: refused a client whose key %s is not in %s", key[0] ? key : "(none)",
                       c->cfg.curve_allow_dir);
        }
        if (items[3].revents & ZMQ_POLLIN) {
            coord_bg_done msg;
            if (zmq_recv(c->ingest, &msg, sizeof msg, 0) == (int)sizeof msg) {
                if (msg.kind == COORD_BG_INGEST) coord_on_ingest_done(c, msg.job);
                if (msg.kind == COORD_BG_EXPORT) coord_on_export_done(c, msg.export);
            }
        }
        long long turn_ms = hb_now_ms() - turn0;
        if (turn_ms > S_SLOW_TURN_MS) {
            hb_log(c->who, "warn", "event loop: one turn took %lld ms (heartbeats wait meanwhile)%s%s", turn_ms,
                   s_turn_what[0] ? "; it handled " : "", s_turn_what);
            s_stalled_until = hb_now_ms() + turn_ms;
        }
        if (hb_now_ms() >= next_tick) {
            s_tick(c);
            next_tick = hb_now_ms() + c->cfg.tick_ms;
        }
    }
    sd_notify(0, "STOPPING=1");
    hb_log(c->who, "info", "stopping");
    /* tell workers, so they reconnect promptly to the next coordinator */
    for (int i = 0; i < COORD_MAX_WORKERS; i++) {
        char gerr[HB_ERR_LEN];
        if (c->workers[i].in_use)
            proto_send_goodbye(c->work, c->workers[i].rid, c->workers[i].rid_len, "coordinator stopping", gerr);
    }
    if (c->active >= 0) {
        coord_job *j = c->jobs[c->active];
        coord_train_abort(c, j);
        coord_job_save(c, j, err);
    }
    return 0;
}
