/* peers.c - sharded reduction between workers: the peer sockets, the plan,
 * and one round's exchange (see peers.h for the protocol). */
#include "peers.h"

#include <arpa/inet.h>
#include <math.h>
#include <netdb.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "curve.h"
#include "hb_error.h"
#include "hb_log.h"
#include "matmul.h"

#define S_MAX_HEADER ((size_t)64 << 20) /* a PeerShard envelope: rows of a large vocabulary at most */

typedef struct s_stashed {
    struct s_stashed *next;
    proto_msg *hdr;
    zmq_msg_t data; /* empty when the message had no data frame */
} s_stashed;

struct worker_peers {
    void *zctx, *pull;
    /* CurveZMQ (a key configured): the PULL endpoint serves with this pair and
     * lets in the plan's members only (zap); the PUSH sockets use it too */
    curve_zap *zap;
    char pub[CURVE_KEY_CHARS + 1], sec[CURVE_KEY_CHARS + 1];
    char endpoint[256];
    /* to peer k: push[k] carries the bulk (GRAD, PARAMS, SHARE, PING), ctl[k]
     * - a connection of its own - what a round waits on that is small: the
     * row pull (ROWS_REQ, ROWS) and NORM. On one connection these queued
     * behind the megabytes of an updated shard just sent (a link is a FIFO):
     * at 1 Gbit/s each round's row pull waited ~45 ms for the PARAMS. */
    void *push[PROTO_MAX_PEERS], *ctl[PROTO_MAX_PEERS];
    int W, me;
    uint64_t job, gen;
    shard_map sm; /* the plan's shards: a piece of every band each (proto/shard_map.h) */
    int vb;       /* the band that holds the word embeddings (-1: the model has none) */
    float *acc;   /* [this shard's floats]: its sum, in local order */
    size_t numel;
    s_stashed *stash;                 /* later generations' messages, in arrival order */
    s_stashed *deferred;              /* this generation's, for a later phase of the round (read during the row pull) */
    s_stashed *held[PROTO_MAX_PEERS]; /* this round's GRAD pieces by sender, added in sender order at the end */
    int pulling;                      /* in the row pull: the deferred ones wait for the exchange */
    size_t sent_hi[PROTO_MAX_PEERS];  /* this round: shard k's gradient at and above sent_hi[k] has left (0: all) */
    size_t next_hi[PROTO_MAX_PEERS];  /* this round: peer f's next piece of this shard ends there (0: all in) */
    atomic_int inflight;              /* zero-copy frames zmq still holds */
    int bf16;                         /* the plan's wire: GRAD and PARAMS data frames in bfloat16 */
    float *ef;     /* bf16 wire, [numel]: what rounding lost of the gradients sent (error feedback) */
    float *wide;   /* bf16 wire: a received frame widened to float32 ... */
    size_t wide_n; /* ... of this many floats */
    /* the updated shards of round par_round still coming (an overlap round):
     * sender f's floats below par_upto[f] are in (its word-embedding rows
     * are never sent), all of them once par_done[f] */
    uint64_t par_round;
    int par_left;
    /* the word-embedding rows [t_r0, t_r1) of this shard and which of them
     * round t_round's gradient sum touches: this worker's slice's rows and
     * those its peers pulled (the very rows their gradients carry). The
     * others' sum is +0, so their AdamW step (moments decaying, weight
     * decay) needs no gradient: it is taken while the gradients travel,
     * with the same arithmetic (adamw_step_range), and only the touched
     * rows - a few per cent - wait for the sum. */
    uint8_t *touched;
    int32_t t_r0, t_r1;
    uint64_t t_round;
    int t_on; /* t_round is set */
    /* the rows pushed to each peer for round nx_round (TrainTask.next_rows),
     * nx_rows[nx_off[k], nx_off[k + 1]): its ask for them is not answered
     * again; and the pushed ROWS that came from the owners before this
     * worker's row pull of their round began */
    uint64_t nx_round;
    int nx_on;       /* nx_round is set (round 0 is a round) */
    int pushed_seen; /* a pushed answer was taken under this plan (logged once) */
    int32_t *nx_rows;
    size_t nx_off[PROTO_MAX_PEERS + 1];
    uint8_t nx_pushed[PROTO_MAX_PEERS];
    s_stashed *early;
    uint8_t par_done[PROTO_MAX_PEERS];
    size_t par_upto[PROTO_MAX_PEERS];
};

/* PARAMS and SHARE go in pieces of at most this many floats (1 MB), in
 * ascending order: the next round's forward takes each layer as it lands */
#define S_PIECE_FLOATS (256u * 1024u)

static double s_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ------------------------------------------------------------------------ */
/* endpoint */

/* the local address this host reaches host:port from (UDP connect: no packet sent) */
static int s_route_ip(const char *hostport, char *ip, size_t n) {
    char host[256];
    snprintf(host, sizeof host, "%s", hostport);
    char *colon = strrchr(host, ':');
    if (!colon) return -1;
    *colon = 0;
    const char *port = colon + 1;
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_DGRAM}, *ai = NULL;
    if (getaddrinfo(host, port, &hints, &ai) != 0 || !ai) return -1;
    int fd = socket(AF_INET, SOCK_DGRAM, 0), rc = -1;
    struct sockaddr_in me;
    socklen_t len = sizeof me;
    if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
        getsockname(fd, (struct sockaddr *)&me, &len) == 0 && inet_ntop(AF_INET, &me.sin_addr, ip, (socklen_t)n))
        rc = 0;
    if (fd >= 0) close(fd);
    freeaddrinfo(ai);
    return rc;
}

int worker_peers_open(worker_peers **out, void *zctx, const char *bind, const char *work, const char *key_path,
                      char *err) {
    *out = NULL;
    if (!strcmp(bind, "none")) return 0;
    char ep[300];
    if (bind[0])
        snprintf(ep, sizeof ep, "%s", bind);
    else if (!strncmp(work, "ipc://", 6))
        snprintf(ep, sizeof ep, "%.250s.peer-%d", work, (int)getpid());
    else if (!strncmp(work, "tcp://", 6))
        snprintf(ep, sizeof ep, "tcp://*:*");
    else
        return 0; /* inproc: a worker inside another process's context takes no sharded rounds */
    worker_peers *p = hb_calloc(1, sizeof *p);
    p->zctx = zctx;
    if (key_path && key_path[0]) { /* the ZAP handler first: libzmq asks it for every CURVE client */
        if (curve_load(key_path, p->pub, p->sec, err) ||
            (!p->sec[0] && hb_fail(err, "%s: no secret key (the peer endpoint serves with its .key)", key_path)) ||
            curve_zap_new_empty(&p->zap, zctx, err)) {
            free(p);
            return -1;
        }
    }
    p->pull = zmq_socket(zctx, ZMQ_PULL);
    int hwm = 0, linger = 0, one = 1;
    zmq_setsockopt(p->pull, ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_setsockopt(p->pull, ZMQ_LINGER, &linger, sizeof linger);
    if (p->zap && (zmq_setsockopt(p->pull, ZMQ_CURVE_SERVER, &one, sizeof one) ||
                   zmq_setsockopt(p->pull, ZMQ_CURVE_SECRETKEY, p->sec, CURVE_KEY_CHARS) ||
                   zmq_setsockopt(p->pull, ZMQ_ZAP_DOMAIN, "hierbert-peers", 14))) {
        int e = zmq_errno();
        zmq_close(p->pull);
        curve_zap_destroy(&p->zap);
        free(p);
        return hb_fail(err, "peer endpoint: CURVE setup: %s", zmq_strerror(e));
    }
    if (zmq_bind(p->pull, ep) != 0) {
        int e = zmq_errno();
        zmq_close(p->pull);
        curve_zap_destroy(&p->zap);
        free(p);
        return hb_fail(err, "peer endpoint '%s': %s", ep, zmq_strerror(e));
    }
    char last[256] = "";
    size_t len = sizeof last;
    zmq_getsockopt(p->pull, ZMQ_LAST_ENDPOINT, last, &len);
    /* a wildcard host is announced as the address the coordinator is reached from */
    const char *star = strstr(last, "://0.0.0.0:");
    if (!strncmp(last, "tcp://", 6) && star) {
        char ip[64] = "127.0.0.1";
        if (!strncmp(work, "tcp://", 6) && s_route_ip(work + 6, ip, sizeof ip) != 0)
            hb_log("hierbert-worker", "warn", "no route to %s: announcing peer endpoint on %s", work, ip);
        snprintf(p->endpoint, sizeof p->endpoint, "tcp://%s:%s", ip, strrchr(last, ':') + 1);
    } else {
        snprintf(p->endpoint, sizeof p->endpoint, "%s", last);
    }
    *out = p;
    return 0;
}

const char *worker_peers_endpoint(const worker_peers *p) {
    return p ? p->endpoint : "";
}

const char *worker_peers_public(const worker_peers *p) {
    return p && p->zap ? p->pub : "";
}

/* one ZAP request of a peer connecting to this endpoint */
static void s_zap(worker_peers *p) {
    char key[CURVE_KEY_CHARS + 1];
    if (curve_zap_handle(p->zap, key) == 0)
        hb_log("hierbert-worker", "warn", "peer endpoint: refused a CURVE client %s (not a member of plan %llu)",
               key[0] ? key : "(no key)", (unsigned long long)p->gen);
}

uint64_t worker_peers_gen(const worker_peers *p) {
    return p ? p->gen : 0;
}

void worker_peers_shard(const worker_peers *p, size_t *lo, size_t *hi) {
    *lo = p->sm.base[p->me];
    *hi = p->sm.base[p->me + 1];
}

const shard_map *worker_peers_map(const worker_peers *p) {
    return &p->sm;
}

/* owner k's piece of the band with the word embeddings: flat [*a, *e) (empty: none) */
static void s_view_piece(const worker_peers *p, int k, size_t *a, size_t *e) {
    *a = *e = 0;
    if (p->vb >= 0) shard_map_seg(&p->sm, k, p->vb, a, e);
}

/* the word-embedding rows owner k holds: [*r0, *r1) */
static void s_rows_of(const worker_peers *p, const params_table *pt, int we, int k, int32_t *r0, int32_t *r1) {
    size_t a, e;
    s_view_piece(p, k, &a, &e);
    *r0 = *r1 = 0;
    if (we >= 0 && a < e) params_sparse_range_rows(pt, we, a, e, r0, r1);
}

/* owner k's piece holding floats just below flat x (a < x <= e): its band, -1 none */
static int s_piece_below(const worker_peers *p, int k, size_t x, size_t *a, size_t *e) {
    for (int b = p->sm.nb - 1; b >= 0; b--) {
        shard_map_seg(&p->sm, k, b, a, e);
        if (*a < *e && *a < x && x <= *e) return b;
    }
    return -1;
}

int worker_peers_index(const worker_peers *p) {
    return p->me;
}

static void s_stash_free(s_stashed *s) {
    proto_free(&s->hdr);
    zmq_msg_close(&s->data);
    free(s);
}

/* closes the PUSH sockets and waits (bounded) until zmq has let go of every
 * zero-copy frame: only then may the buffers they point into change owner */
static void s_close_push(worker_peers *p) {
    for (int k = 0; k < (int)PROTO_MAX_PEERS; k++) {
        if (p->push[k]) zmq_close(p->push[k]);
        if (p->ctl[k]) zmq_close(p->ctl[k]);
        p->push[k] = p->ctl[k] = NULL;
    }
    for (int i = 0; i < 2000 && atomic_load(&p->inflight) > 0; i++) usleep(1000);
}

static void s_list_free(s_stashed **list) {
    while (*list) {
        s_stashed *s = *list;
        *list = s->next;
        s_stash_free(s);
    }
}

static void s_held_free(worker_peers *p);

void worker_peers_destroy(worker_peers **pp) {
    worker_peers *p = *pp;
    if (!p) return;
    s_close_push(p);
    zmq_close(p->pull);
    curve_zap_destroy(&p->zap);
    s_held_free(p);
    if (atomic_load(&p->inflight) == 0) { /* else zmq may still read them: leak rather than free */
        free(p->acc);
    }
    free(p->touched);
    free(p->nx_rows);
    shard_map_free(&p->sm);
    s_list_free(&p->early);
    free(p->ef); /* (never handed to zmq) */
    free(p->wide);
    while (p->stash) {
        s_stashed *s = p->stash;
        p->stash = s->next;
        s_stash_free(s);
    }
    s_list_free(&p->deferred);
    free(p);
    *pp = NULL;
}

/* ------------------------------------------------------------------------ */
/* sending and receiving */

static void s_release(void *data, void *hint) {
    (void)data;
    atomic_fetch_sub((atomic_int *)hint, 1);
}

static void s_free(void *data, void *hint) {
    (void)hint;
    free(data);
}

/* PeerShard h (+ nbytes at data, zero-copy: they must stay put until the
 * round ends; owned: malloc'ed, zmq frees them) to peer k */
static void s_send_bytes(worker_peers *p, int k, Hierbert__PeerShard *h, const void *data, size_t nbytes, int owned,
                         uint64_t *bytes) {
    proto_msg m;
    proto_env_init(&m, p->job);
    h->gen = p->gen;
    h->from = (uint32_t)p->me;
    m.body_case = HIERBERT__ENVELOPE__BODY_PEER_SHARD;
    m.peer_shard = h;
    size_t len;
    uint8_t *buf = proto_pack(&m, &len);
    zmq_msg_t f;
    zmq_msg_init_size(&f, len);
    memcpy(zmq_msg_data(&f), buf, len);
    free(buf);
    *bytes += len;
    /* (a pushed ROWS goes on the bulk connection: ahead of the PARAMS behind it) */
    const int small = h->kind == HIERBERT__PEER_SHARD__KIND__ROWS_REQ ||
                      (h->kind == HIERBERT__PEER_SHARD__KIND__ROWS && !h->pushed) ||
                      h->kind == HIERBERT__PEER_SHARD__KIND__NORM;
    void *sock = small ? p->ctl[k] : p->push[k];
    if (zmq_msg_send(&f, sock, data ? ZMQ_SNDMORE : 0) < 0) {
        zmq_msg_close(&f);
        return;
    }
    if (!data) return;
    zmq_msg_t d;
    if (owned) {
        zmq_msg_init_data(&d, (void *)data, nbytes, s_free, NULL);
    } else {
        atomic_fetch_add(&p->inflight, 1);
        zmq_msg_init_data(&d, (void *)data, nbytes, s_release, &p->inflight);
    }
    *bytes += nbytes;
    if (zmq_msg_send(&d, sock, 0) < 0) zmq_msg_close(&d); /* closing it releases it */
}

static void s_send_ex(worker_peers *p, int k, Hierbert__PeerShard *h, const float *data, size_t n, int owned,
                      uint64_t *bytes) {
    s_send_bytes(p, k, h, data, n * sizeof(float), owned, bytes);
}

/* n floats at src to peer k as bfloat16 (round to nearest even). resid
 * (bf16 wire's error feedback for gradients): added before rounding, and
 * left holding what this rounding lost, for the next time these values go. */
static void s_send_bf16(worker_peers *p, int k, Hierbert__PeerShard *h, const float *src, size_t n, float *resid,
                        uint64_t *bytes) {
    uint16_t *q = hb_malloc(n * sizeof(uint16_t) + 2);
    if (resid) {
        for (size_t i = 0; i < n; i++) resid[i] += src[i];
        mm_to_bf16(q, resid, n);
        for (size_t i = 0; i < n; i++) resid[i] -= mm_bf16_to_float(q[i]);
    } else {
        mm_to_bf16(q, src, n);
    }
    h->bf16 = 1;
    s_send_bytes(p, k, h, q, n * sizeof(uint16_t), 1, bytes);
}

/* bf16 wire: the error-feedback residuals [numel], zero at a plan's start */
static float *s_ef(worker_peers *p) {
    if (!p->ef) p->ef = hb_calloc(p->numel, sizeof(float));
    return p->ef;
}

/* the floats of a received data frame of n values (float32, or bfloat16
 * widened into p->wide); NULL when its size is not n values */
static const float *s_floats(worker_peers *p, const Hierbert__PeerShard *h, zmq_msg_t *data, size_t n) {
    size_t len = zmq_msg_size(data);
    if (!h->bf16) return len == n * sizeof(float) ? zmq_msg_data(data) : NULL;
    if (len != n * sizeof(uint16_t)) return NULL;
    if (p->wide_n < n) {
        free(p->wide);
        p->wide = hb_malloc(n * sizeof(float) + 4);
        p->wide_n = n;
    }
    const uint16_t *q = zmq_msg_data(data);
    for (size_t i = 0; i < n; i++) p->wide[i] = mm_bf16_to_float(q[i]);
    return p->wide;
}

static void s_send(worker_peers *p, int k, Hierbert__PeerShard *h, const float *data, size_t n, uint64_t *bytes) {
    s_send_ex(p, k, h, data, n, 0, bytes);
}

typedef struct {
    proto_msg *hdr;
    zmq_msg_t data;
} s_msg;

/* a kept message, unlinked: into out if it is this plan's (1), else freed (0) */
static int s_take(worker_peers *p, s_stashed *s, s_msg *out) {
    if (s->hdr->peer_shard->gen == p->gen && s->hdr->job_id == p->job) {
        out->hdr = s->hdr;
        zmq_msg_init(&out->data);
        zmq_msg_move(&out->data, &s->data);
        zmq_msg_close(&s->data);
        free(s);
        return 1;
    }
    s_stash_free(s);
    return 0;
}

/* The next message of this plan's generation: from the stash, else the
 * PULL socket (waiting until deadline, a monotonic time; < 0: no deadline).
 * 0 ok; 1 the pipe has a frame (moved to *pipe_frame); 2 timed out. Frames
 * that do not decode, or belong to another job or an older generation,
 * are dropped; later generations' are stashed. *waited += blocked time. */
static int s_next(worker_peers *p, void *pipe, double deadline, zmq_msg_t *pipe_frame, s_msg *out, double *waited) {
    while (p->deferred && !p->pulling) {
        s_stashed *s = p->deferred;
        p->deferred = s->next;
        if (s_take(p, s, out)) return 0;
    }
    for (s_stashed **sp = &p->stash; *sp;) {
        s_stashed *s = *sp;
        if (s->hdr->peer_shard->gen > p->gen) {
            sp = &s->next;
            continue;
        }
        *sp = s->next;
        if (s_take(p, s, out)) return 0;
    }
    for (;;) {
        zmq_pollitem_t it[3] = {{p->pull, 0, ZMQ_POLLIN, 0},
                                {pipe, 0, ZMQ_POLLIN, 0},
                                {p->zap ? curve_zap_socket(p->zap) : NULL, 0, ZMQ_POLLIN, 0}};
        double t0 = s_now();
        long wait = deadline < 0 ? -1 : (long)((deadline - t0) * 1000.0);
        if (deadline >= 0 && wait < 0) return 2;
        int n = zmq_poll(it, p->zap ? 3 : 2, wait);
        *waited += s_now() - t0;
        if (n < 0) continue; /* EINTR */
        if (n == 0) return 2;
        if (p->zap && (it[2].revents & ZMQ_POLLIN)) {
            s_zap(p); /* a peer's handshake: answered at once, then back to waiting */
            continue;
        }
        if (it[1].revents & ZMQ_POLLIN) {
            zmq_msg_recv(pipe_frame, pipe, 0);
            return 1;
        }
        zmq_msg_t f;
        zmq_msg_init(&f);
        if (zmq_msg_recv(&f, p->pull, 0) < 0) {
            zmq_msg_close(&f);
            continue;
        }
        int more = zmq_msg_more(&f);
        zmq_msg_init(&out->data);
        if (more) zmq_msg_recv(&out->data, p->pull, 0);
        while (zmq_msg_more(&out->data)) { /* a third frame is not ours: drain it */
            zmq_msg_t x;
            zmq_msg_init(&x);
            zmq_msg_recv(&x, p->pull, 0);
            zmq_msg_close(&x);
        }
        proto_expect ex = {.max_frame = S_MAX_HEADER};
        char why[HB_ERR_LEN];
        proto_msg *m = NULL;
        if (proto_decode(zmq_msg_data(&f), zmq_msg_size(&f), &ex, &m, NULL, why) ||
            m->body_case != HIERBERT__ENVELOPE__BODY_PEER_SHARD) {
            hb_log("hierbert-worker", "warn", "peer endpoint: dropped a frame: %s", m ? "not a PeerShard" : why);
            proto_free(&m);
            zmq_msg_close(&f);
            zmq_msg_close(&out->data);
            continue;
        }
        zmq_msg_close(&f);
        uint64_t gen = m->peer_shard->gen;
        if (m->job_id == p->job && gen == p->gen) {
            out->hdr = m;
            return 0;
        }
        if (gen > p->gen) { /* a peer already has the next plan */
            s_stashed *s = hb_calloc(1, sizeof *s), **tail = &p->stash;
            s->hdr = m;
            zmq_msg_init(&s->data);
            zmq_msg_move(&s->data, &out->data);
            while (*tail) tail = &(*tail)->next;
            *tail = s;
        } else {
            proto_free(&m);
        }
        zmq_msg_close(&out->data);
    }
}

static void s_msg_free(s_msg *m) {
    proto_free(&m->hdr);
    zmq_msg_close(&m->data);
}

/* keeps m for the next s_next of a later phase (in arrival order) */
/* m to the end of a list of kept messages */
static void s_append(s_stashed **list, s_msg *m) {
    s_stashed *s = hb_calloc(1, sizeof *s), **tail = list;
    s->hdr = m->hdr;
    zmq_msg_init(&s->data);
    zmq_msg_move(&s->data, &m->data);
    zmq_msg_close(&m->data);
    while (*tail) tail = &(*tail)->next;
    *tail = s;
}

static void s_defer(worker_peers *p, s_msg *m) {
    s_append(&p->deferred, m);
}

/* ------------------------------------------------------------------------ */
/* plan */

/* this worker's shard out to every peer (kind PARAMS or SHARE) in zero-copy
 * pieces, band by band and around its word-embedding rows: those stay -
 * each worker pulls the rows of its next slice at a round's start
 * (worker_peers_pull) */
static void s_send_shard(worker_peers *p, const params_table *pt, int we, int kind, uint64_t round, uint64_t *bytes) {
    size_t v0 = 0, v1 = 0;
    if (we >= 0) {
        v0 = pt->views[we].offset;
        v1 = v0 + pt->views[we].numel;
    }
    /* the dense parts of the shard, ascending */
    size_t(*part)[2] = hb_malloc(2 * (size_t)p->sm.nb * sizeof *part);
    int np = 0;
    for (int b = 0; b < p->sm.nb; b++) {
        size_t a, e;
        shard_map_seg(&p->sm, p->me, b, &a, &e);
        if (a >= e) continue;
        if (v1 > a && v0 < e) { /* the view's part skipped */
            if (v0 > a) part[np][0] = a, part[np++][1] = v0;
            if (v1 < e) part[np][0] = v1, part[np++][1] = e;
        } else {
            part[np][0] = a;
            part[np++][1] = e;
        }
    }
    const int b16 = p->bf16 && kind == HIERBERT__PEER_SHARD__KIND__PARAMS; /* (a plan's SHARE: exact) */
    for (int k = 0; k < p->W; k++) {
        if (k == p->me) continue;
        for (int q = 0; q < np; q++)
            for (size_t x = part[q][0]; x < part[q][1]; x += S_PIECE_FLOATS) {
                size_t y = part[q][1] - x > S_PIECE_FLOATS ? x + S_PIECE_FLOATS : part[q][1];
                Hierbert__PeerShard h = HIERBERT__PEER_SHARD__INIT;
                h.kind = (Hierbert__PeerShard__Kind)kind;
                h.round = round;
                h.lo = x;
                h.hi = y;
                h.last = q == np - 1 && y == part[q][1];
                if (b16)
                    s_send_bf16(p, k, &h, pt->data + x, y - x, NULL, bytes);
                else
                    s_send(p, k, &h, pt->data + x, y - x, bytes);
            }
        if (!np) { /* the whole shard is word-embedding rows: an empty last piece at its top */
            Hierbert__PeerShard h = HIERBERT__PEER_SHARD__INIT;
            h.kind = (Hierbert__PeerShard__Kind)kind;
            h.round = round;
            h.lo = h.hi = shard_map_top(&p->sm, p->me);
            h.last = 1;
            s_send(p, k, &h, pt->data + h.hi, 0, bytes);
        }
    }
    free(part);
}

/* a PARAMS/SHARE piece of peer `from`'s shard into pt: 0, or -1 with err */
static int s_take_shard(worker_peers *p, const params_table *pt, int we, int from, const s_msg *m, char *err) {
    const Hierbert__PeerShard *h = m->hdr->peer_shard;
    size_t plo = h->lo, phi = h->hi;
    int in_view = 0;
    if (we >= 0) {
        const params_view *v = &pt->views[we];
        in_view = plo < phi && plo < v->offset + v->numel && phi > v->offset;
    }
    const float *x = plo > phi ? NULL : s_floats(p, h, (zmq_msg_t *)&m->data, phi - plo);
    if (plo > phi || shard_map_band_of(&p->sm, from, plo, phi) < 0 || in_view || !x)
        return hb_fail(err, "peer %d: parameters [%llu, %llu) (%zu bytes%s) do not fit a piece of its shard", from,
                       (unsigned long long)plo, (unsigned long long)phi, zmq_msg_size((zmq_msg_t *)&m->data),
                       h->bf16 ? ", bfloat16" : "");
    memcpy(pt->data + plo, x, (phi - plo) * sizeof(float));
    return 0;
}

/* m, if it is a PARAMS piece of the overlap round still coming, taken into
 * pt (1; *bad set if it does not fit); else 0 */
static int s_take_pending(worker_peers *p, const params_table *pt, int we, const s_msg *m, int *bad, char *err,
                          uint64_t *bytes_in) {
    const Hierbert__PeerShard *h = m->hdr->peer_shard;
    if (!p->par_left || h->kind != HIERBERT__PEER_SHARD__KIND__PARAMS || h->round != p->par_round) return 0;
    *bytes_in += zmq_msg_size((zmq_msg_t *)&m->data) + hierbert__envelope__get_packed_size(m->hdr);
    int f = (int)h->from;
    if (f >= p->W || f == p->me || p->par_done[f]) return 1; /* a repeat: nothing to take */
    if (s_take_shard(p, pt, we, f, m, err)) {
        *bad = 1;
        return 1;
    }
    p->par_upto[f] = h->hi;
    if (h->last) {
        p->par_done[f] = 1;
        p->par_left--;
    }
    return 1;
}

/* sender f's updated shard is in below float x (its word-embedding rows,
 * never sent, count as in; its pieces come in ascending order) */
static int s_par_covered(const worker_peers *p, const params_table *pt, int we, int f, size_t x) {
    if (p->par_done[f]) return 1;
    size_t v0 = 0, v1 = 0, need = 0; /* f's dense floats below x end at or below need */
    if (we >= 0) {
        v0 = pt->views[we].offset;
        v1 = v0 + pt->views[we].numel;
    }
    for (int b = 0; b < p->sm.nb; b++) {
        size_t a, e;
        shard_map_seg(&p->sm, f, b, &a, &e);
        if (a >= x) break;
        if (a >= e) continue;
        size_t top = e < x ? e : x; /* [a, top): below x */
        if (top <= v0 || a >= v1 || top > v1)
            need = top;
        else if (a < v0)
            need = v0; /* (the rest of [a, top) is word-embedding rows) */
    }
    return need == 0 || p->par_upto[f] >= need;
}

peers_rc worker_peers_await(worker_peers *p, const params_table *pt, int we, size_t hi, void *pipe,
                            zmq_msg_t *pipe_frame, double *waited, uint64_t *bytes_in, char *err) {
    for (;;) {
        int all = 1;
        if (!p->par_left) return PEERS_OK; /* (no overlap round before: everything is in) */
        for (int f = 0; f < p->W && all; f++)
            if (f != p->me) all = s_par_covered(p, pt, we, f, hi);
        if (all) return PEERS_OK;
        p->pulling = 1; /* what is deferred now (the round under way's) waits for its exchange */
        s_msg m;
        int rc = s_next(p, pipe, -1, pipe_frame, &m, waited);
        p->pulling = 0;
        if (rc == 1) return PEERS_ABORTED;
        int bad = 0;
        if (s_take_pending(p, pt, we, &m, &bad, err, bytes_in)) {
            s_msg_free(&m);
            if (bad) return PEERS_FAILED;
        } else {
            s_defer(p, &m); /* a faster peer's gradient of this round */
        }
    }
}

peers_rc worker_peers_plan(worker_peers *p, uint64_t job, const Hierbert__ShardPlan *plan, params_table *pt, int we,
                           void *pipe, zmq_msg_t *pipe_frame, char *err) {
    s_close_push(p);
    s_list_free(&p->deferred);
    int W = (int)plan->n_peers;
    p->W = W;
    p->me = (int)plan->index;
    p->job = job;
    p->gen = plan->gen;
    p->numel = plan->numel;
    {
        const int nb = plan->n_bands ? (int)plan->n_bands : 1;
        uint64_t *cuts = hb_malloc(plan->bounds.len + 8);
        memcpy(cuts, plan->bounds.data, plan->bounds.len); /* (its size checked with the frame) */
        char why[200];
        shard_map_free(&p->sm);
        int bad = shard_map_init(&p->sm, W, nb, cuts, plan->numel, why, sizeof why);
        free(cuts);
        if (bad) {
            p->gen = 0;
            return hb_fail(err, "plan %llu: %s", (unsigned long long)plan->gen, why), PEERS_FAILED;
        }
        /* the word embeddings inside one band, each owner's part of them whole rows */
        p->vb = -1;
        if (we >= 0) {
            const size_t v0 = pt->views[we].offset, v1 = v0 + pt->views[we].numel;
            for (int b = 0; b < nb; b++) {
                size_t a, e, a2, e2;
                shard_map_seg(&p->sm, 0, b, &a, &e);
                shard_map_seg(&p->sm, W - 1, b, &a2, &e2);
                if (a <= v0 && v1 <= e2) p->vb = b;
            }
            for (int k = 0; k < W && p->vb >= 0; k++) {
                size_t a, e;
                shard_map_seg(&p->sm, k, p->vb, &a, &e);
                if (!params_sparse_range_ok(pt, we, a, e)) {
                    p->gen = 0;
                    return hb_fail(err, "plan %llu: shard %d's piece [%zu, %zu) cuts a word-embedding row",
                                   (unsigned long long)plan->gen, k, a, e),
                           PEERS_FAILED;
                }
            }
            if (p->vb < 0) {
                p->gen = 0;
                return hb_fail(err, "plan %llu: the word embeddings are cut across bands",
                               (unsigned long long)plan->gen),
                       PEERS_FAILED;
            }
        }
    }
    p->bf16 = plan->wire_bf16;
    p->par_left = 0;                         /* (an older plan's shards are dropped as they come: another generation) */
    p->nx_on = p->t_on = p->pushed_seen = 0; /* (a new plan's rounds, maybe another job's: numbers seen before) */
    s_list_free(&p->early);
    free(p->ef); /* a new plan starts from a state the coordinator held: what rounding lost since is moot */
    p->ef = NULL;
    free(p->acc);
    p->acc = hb_malloc(shard_map_size(&p->sm, p->me) * sizeof(float));
    int hwm = 0, linger = 0;
    if (!!p->zap != (plan->n_peer_public > 0)) {
        hb_fail(err, "plan %llu: %s", (unsigned long long)p->gen,
                p->zap ? "CurveZMQ is on here, the plan has no peer keys"
                       : "the plan has CurveZMQ peer keys, this worker has no key of its own");
        p->gen = 0;
        return PEERS_FAILED;
    }
    if (p->zap) { /* exactly the plan's members get in */
        char(*keys)[CURVE_KEY_CHARS + 1] = hb_calloc((size_t)W, sizeof *keys);
        for (int k = 0; k < W; k++) snprintf(keys[k], sizeof keys[k], "%s", plan->peer_public[k]);
        curve_zap_set_keys(p->zap, keys, W);
        free(keys);
    }
    for (int k = 0; k < W; k++) {
        if (k == p->me) continue;
        for (int c = 0; c < 2; c++) {
            void *z = zmq_socket(p->zctx, ZMQ_PUSH);
            *(c ? &p->ctl[k] : &p->push[k]) = z;
            zmq_setsockopt(z, ZMQ_SNDHWM, &hwm, sizeof hwm);
            zmq_setsockopt(z, ZMQ_LINGER, &linger, sizeof linger);
            if (p->zap && (zmq_setsockopt(z, ZMQ_CURVE_SERVERKEY, plan->peer_public[k], CURVE_KEY_CHARS) ||
                           zmq_setsockopt(z, ZMQ_CURVE_PUBLICKEY, p->pub, CURVE_KEY_CHARS) ||
                           zmq_setsockopt(z, ZMQ_CURVE_SECRETKEY, p->sec, CURVE_KEY_CHARS)))
                return hb_fail(err, "plan %llu: peer %d: CURVE setup: %s", (unsigned long long)p->gen, k,
                               zmq_strerror(zmq_errno()));
            if (zmq_connect(z, plan->peers[k]) != 0)
                return hb_fail(err, "plan %llu: peer %d endpoint '%s': %s", (unsigned long long)p->gen, k,
                               plan->peers[k], zmq_strerror(zmq_errno()));
        }
    }
    uint64_t bytes = 0;
    for (int k = 0; k < W; k++) {
        if (k == p->me) continue;
        Hierbert__PeerShard h = HIERBERT__PEER_SHARD__INIT;
        h.kind = HIERBERT__PEER_SHARD__KIND__PING;
        h.round = plan->round;
        s_send(p, k, &h, NULL, 0, &bytes);
    }
    /* the shard behind the ping (queued until the peer is reached): each
     * worker assembles the plan's version from the owners */
    s_send_shard(p, pt, we, HIERBERT__PEER_SHARD__KIND__SHARE, plan->round, &bytes);
    uint8_t heard[PROTO_MAX_PEERS] = {0}, shared[PROTO_MAX_PEERS] = {0};
    int missing = W - 1, to_share = W - 1;
    /* every peer heard within ping_ms; then their shards, however long the
     * links take (the coordinator's plan timeout bounds it) */
    double deadline = s_now() + (plan->ping_ms ? plan->ping_ms : 3000) / 1000.0, waited = 0;
    while (missing > 0 || to_share > 0) {
        s_msg m;
        int rc = s_next(p, pipe, missing > 0 ? deadline : -1, pipe_frame, &m, &waited);
        if (rc == 1) return PEERS_ABORTED;
        if (rc == 2) break;
        const Hierbert__PeerShard *h = m.hdr->peer_shard;
        int from = (int)h->from;
        if (from >= W || from == p->me || h->round != plan->round) {
            s_msg_free(&m);
            continue;
        }
        if (h->kind == HIERBERT__PEER_SHARD__KIND__PING && !heard[from]) {
            heard[from] = 1;
            missing--;
        } else if (h->kind == HIERBERT__PEER_SHARD__KIND__SHARE && !shared[from]) {
            if (s_take_shard(p, pt, we, from, &m, err)) {
                s_msg_free(&m);
                p->gen = 0;
                return PEERS_FAILED;
            }
            if (h->last) {
                shared[from] = 1;
                to_share--;
            }
        }
        s_msg_free(&m);
    }
    if (missing == 0 && to_share == 0) return PEERS_OK;
    size_t o = (size_t)snprintf(err, HB_ERR_LEN, "plan %llu: no word within %u ms from", (unsigned long long)p->gen,
                                plan->ping_ms);
    for (int k = 0; k < W && o < HB_ERR_LEN - 1; k++)
        if (k != p->me && !heard[k]) o += (size_t)snprintf(err + o, HB_ERR_LEN - o, " %s", plan->peers[k]);
    p->gen = 0; /* nothing runs under a plan that failed */
    return PEERS_FAILED;
}

/* ------------------------------------------------------------------------ */
/* one round */

/* the rows of r inside shard [lo, hi)'s word-embedding part: r->rows[*i0, *i1) */
static void s_rows_in(const peers_round *r, size_t lo, size_t hi, size_t *i0, size_t *i1) {
    int32_t r0, r1;
    params_sparse_range_rows(r->pt, r->we, lo, hi, &r0, &r1);
    size_t a = 0;
    while (a < r->n_rows && r->rows[a] < r0) a++;
    size_t b = a;
    while (b < r->n_rows && r->rows[b] < r1) b++;
    *i0 = a;
    *i1 = b;
}

/* where owner k's piece [a, e) (of band b) can leave before backward ends:
 * above the word-embedding rows (final only at its very end, and row-sparse) */
static size_t s_stream_floor(const worker_peers *p, const peers_round *r, int b, size_t a, size_t e) {
    if (r->we < 0 || b != p->vb) return a;
    const params_view *v = &r->pt->views[r->we];
    size_t end = v->offset + v->numel;
    return end > a && v->offset < e ? (end < e ? end : e) : a;
}

/* A GRAD piece for this shard: checked, then added to p->acc. 1 when it was
 * the sender's last piece. */
static int s_add_grad(worker_peers *p, const peers_round *r, s_msg *m, char *err) {
    const Hierbert__PeerShard *h = m->hdr->peer_shard;
    size_t plo = h->lo, phi = h->hi;
    size_t n_rows = h->rows.len / 4, want = phi - plo;
    const int32_t *rows = (const int32_t *)h->rows.data;
    if ((int)h->shard != p->me)
        return hb_fail(err, "a gradient for shard %u from peer %u: this is %d", h->shard, h->from, p->me);
    /* the pieces cover the shard once, descending, each inside one of its
     * pieces; the one that reaches its bottom is the last */
    int band = plo < phi ? shard_map_band_of(&p->sm, p->me, plo, phi) : -1;
    size_t nx = band >= 0 ? shard_map_down(&p->sm, p->me, plo) : 0;
    if (band < 0 || phi != p->next_hi[h->from] || !h->last != !!nx)
        return hb_fail(err, "peer %u: gradient piece [%llu, %llu)%s of shard %d: not the next (ends at %zu)", h->from,
                       (unsigned long long)plo, (unsigned long long)phi, h->last ? " (last)" : "", p->me,
                       p->next_hi[h->from]);
    if (r->we >= 0) {
        int32_t r0, r1;
        params_sparse_range_rows(r->pt, r->we, plo, phi, &r0, &r1);
        for (size_t i = 0; i < n_rows; i++) {
            if (rows[i] < r0 || rows[i] >= r1 || (i && rows[i] <= rows[i - 1]))
                return hb_fail(err, "peer %u: gradient row %d (index %zu) outside %d..%d or out of order", h->from,
                               rows[i], i, r0, r1 - 1);
            if (p->t_on && p->t_round == r->round && p->touched && rows[i] >= p->t_r0 && rows[i] < p->t_r1 &&
                !p->touched[rows[i] - p->t_r0]) /* (its step is taken without a gradient: see touched) */
                return hb_fail(err, "peer %u: a gradient for word-embedding row %d, which it did not pull", h->from,
                               rows[i]);
        }
        want = params_sparse_range_len(r->pt, r->we, plo, phi, n_rows);
    } else if (n_rows) {
        return hb_fail(err, "peer %u: gradient rows, but the model has no word-embedding matrix", h->from);
    }
    if (zmq_msg_size((zmq_msg_t *)&m->data) != want * (h->bf16 ? sizeof(uint16_t) : sizeof(float)))
        return hb_fail(err, "peer %u: gradient of %zu bytes for [%zu, %zu) (%zu %s expected)", h->from,
                       zmq_msg_size((zmq_msg_t *)&m->data), plo, phi, want, h->bf16 ? "bfloat16 values" : "floats");
    /* kept: the owner adds the parts in sender order once all are in
     * (s_add_held), so the sum's bits do not depend on arrival order */
    s_stashed *s = hb_calloc(1, sizeof *s), **tail = &p->held[h->from];
    s->hdr = m->hdr;
    zmq_msg_init(&s->data);
    zmq_msg_move(&s->data, (zmq_msg_t *)&m->data);
    m->hdr = NULL;
    while (*tail) tail = &(*tail)->next;
    *tail = s;
    p->next_hi[h->from] = nx;
    return s->hdr->peer_shard->last ? 1 : 0;
}

static void s_held_free(worker_peers *p) {
    for (int f = 0; f < (int)PROTO_MAX_PEERS; f++)
        while (p->held[f]) {
            s_stashed *s = p->held[f];
            p->held[f] = s->next;
            s_stash_free(s);
        }
}

/* the kept gradient parts into the shard's sum, sender by sender in shard
 * order (each sender's pieces are disjoint): a fixed order of additions */
static void s_add_held(worker_peers *p, const peers_round *r) {
    for (int f = 0; f < p->W; f++)
        for (s_stashed *s = p->held[f]; s; s = s->next) {
            const Hierbert__PeerShard *h = s->hdr->peer_shard;
            size_t plo = h->lo, phi = h->hi, n_rows = h->rows.len / 4, want = phi - plo;
            if (r->we >= 0) want = params_sparse_range_len(r->pt, r->we, plo, phi, n_rows);
            const float *g = s_floats(p, h, &s->data, want);           /* (sizes checked on receipt) */
            float *acc = p->acc + shard_map_below(&p->sm, p->me, plo); /* (a piece is inside one of the shard's) */
            if (r->we >= 0)
                params_sparse_range_axpy(r->pt, r->we, g, plo, phi, (const int32_t *)h->rows.data, n_rows,
                                         (float)h->n_samples, acc);
            else
                for (size_t i = 0; i < want; i++) acc[i] += (float)h->n_samples * g[i];
        }
    s_held_free(p);
}

/* one GRAD piece [plo, phi) of shard k to its owner (last: the one that
 * reaches the shard's bottom): dense and zero-copy out of the gradient, or
 * - a piece over the word embeddings, sent at backward's end - with the
 * slice's rows gathered into a buffer of its own (zmq frees it once sent) */
static void s_send_piece(worker_peers *p, peers_round *r, int k, size_t plo, size_t phi, int last) {
    Hierbert__PeerShard h = HIERBERT__PEER_SHARD__INIT;
    h.kind = HIERBERT__PEER_SHARD__KIND__GRAD;
    h.round = r->round;
    h.shard = (uint32_t)k;
    h.n_samples = r->n_samples;
    h.lo = plo;
    h.hi = phi;
    h.last = last;
    const float *data = r->grad + plo;
    size_t n = phi - plo;
    const params_view *wv = r->we >= 0 ? &r->pt->views[r->we] : NULL;
    if (wv && plo < wv->offset + wv->numel && phi > wv->offset) {
        size_t i0, i1;
        s_rows_in(r, plo, phi, &i0, &i1);
        /* n <= phi - plo: the dense floats and the slice's rows (a shard past
         * the view, sent whole when backward's hook sent none of it - a slice
         * without samples - is all dense) */
        n = params_sparse_range_len(r->pt, r->we, plo, phi, i1 - i0);
        float *buf = hb_malloc(n * sizeof(float) + 4);
        params_sparse_range_gather(r->pt, r->we, r->grad, plo, phi, r->rows + i0, i1 - i0, buf);
        data = buf;
        h.rows = proto_bytes(r->rows + i0, (i1 - i0) * sizeof(int32_t));
        if (p->bf16) { /* the residuals of these very values: gathered alike, scattered back */
            float *res = hb_malloc(n * sizeof(float) + 4);
            params_sparse_range_gather(r->pt, r->we, s_ef(p), plo, phi, r->rows + i0, i1 - i0, res);
            s_send_bf16(p, k, &h, data, n, res, &r->bytes_out);
            params_sparse_range_scatter(r->pt, r->we, res, plo, phi, r->rows + i0, i1 - i0, p->ef);
            free(res);
            free(buf);
            return;
        }
        s_send_ex(p, k, &h, buf, n, 1, &r->bytes_out); /* (owned: zmq frees it) */
        return;
    }
    if (p->bf16)
        s_send_bf16(p, k, &h, data, n, s_ef(p) + plo, &r->bytes_out);
    else
        s_send(p, k, &h, data, n, &r->bytes_out);
}

static void s_scale(float *x, size_t a, size_t b, float by) {
#pragma omp parallel for schedule(static) if (b - a > 65536)
    for (size_t i = a; i < b; i++) x[i] *= by;
}

/* AdamW on shard floats [a, b) with the shard's sum p->acc */
static void s_step_part(worker_peers *p, peers_round *r, float clip, size_t a, size_t b) {
    const size_t l = shard_map_below(&p->sm, p->me, a); /* ([a, b) inside one of the shard's pieces) */
    if (a < b) adamw_step_range(r->oc, r->step, r->pt, r->pt->data, p->acc + l, clip, r->m + l, r->v + l, a, b);
}

/* AdamW on this shard's word-embedding rows whose touched flag is `want`,
 * run by run */
static void s_step_rows(worker_peers *p, peers_round *r, int want, float clip) {
    const params_view *v = &r->pt->views[r->we];
    const size_t dim = (size_t)v->shape[1];
    for (int32_t a = p->t_r0; a < p->t_r1;) {
        int32_t b = a;
        while (b < p->t_r1 && p->touched[b - p->t_r0] == want) b++;
        if (b > a) s_step_part(p, r, clip, v->offset + (size_t)a * dim, v->offset + (size_t)b * dim);
        a = b;
        while (a < p->t_r1 && p->touched[a - p->t_r0] != want) a++;
    }
}

/* Right after the step: each peer's rows of its next slice that this shard
 * holds (r->next_rows), version round+1, on the bulk connection ahead of
 * the PARAMS - so they are in when its next row pull asks (which it still
 * does: an owner that pushed does not answer the same ask again). */
static void s_push_rows(worker_peers *p, peers_round *r) {
    p->nx_on = 0;
    if (r->we < 0 || r->n_next != p->W || !r->next_counts) return;
    const params_view *wv = &r->pt->views[r->we];
    const size_t dim = (size_t)wv->shape[1];
    int32_t my0, my1;
    s_rows_of(p, r->pt, r->we, p->me, &my0, &my1);
    size_t o = 0;
    for (int k = 0; k < p->W; k++) {
        p->nx_off[k] = o;
        o += r->next_counts[k];
    }
    p->nx_off[p->W] = o;
    free(p->nx_rows);
    p->nx_rows = hb_malloc((o + 1) * sizeof(int32_t));
    memcpy(p->nx_rows, r->next_rows, o * sizeof(int32_t));
    for (int k = 0; k < p->W; k++) {
        const size_t a = p->nx_off[k], n = p->nx_off[k + 1] - a;
        const int32_t *rows = p->nx_rows + a;
        int fits = k != p->me;
        for (size_t i = 0; i < n && fits; i++) /* (in this shard, increasing: else the pull's ask is answered) */
            fits = rows[i] >= my0 && rows[i] < my1 && (i == 0 || rows[i] > rows[i - 1]);
        p->nx_pushed[k] = (uint8_t)fits;
        if (!fits) continue;
        float *buf = hb_malloc((n * dim + 1) * sizeof(float));
        for (size_t i = 0; i < n; i++)
            memcpy(buf + i * dim, r->pt->data + wv->offset + (size_t)rows[i] * dim, dim * sizeof(float));
        Hierbert__PeerShard h = HIERBERT__PEER_SHARD__INIT;
        h.kind = HIERBERT__PEER_SHARD__KIND__ROWS;
        h.round = r->round + 1;
        h.pushed = 1;
        h.rows = proto_bytes(rows, n * sizeof(int32_t));
        s_send_ex(p, k, &h, buf, n * dim, 1, &r->bytes_out);
    }
    p->nx_round = r->round + 1;
    p->nx_on = 1;
}

void worker_peers_grad_ready(worker_peers *p, peers_round *r, size_t from) {
    for (int k = 0; k < p->W; k++) {
        if (k == p->me) continue;
        while (p->sent_hi[k] > 0) { /* shard k's final gradient at and above `from`, piece by piece */
            size_t hi = p->sent_hi[k], a, e;
            int b = s_piece_below(p, k, hi, &a, &e);
            if (b < 0) break;
            size_t floor = s_stream_floor(p, r, b, a, e), plo = from > floor ? from : floor;
            if (plo >= hi) break;
            size_t nx = plo == a ? shard_map_down(&p->sm, k, a) : plo;
            s_send_piece(p, r, k, plo, hi, nx == 0);
            p->sent_hi[k] = nx;
            if (plo > a) break; /* the rest of this piece is not final yet */
        }
    }
}

/* at backward's end: the rest of shard k's gradient, piece by piece, the
 * word-embedding rows with theirs */
static void s_flush(worker_peers *p, peers_round *r, int k) {
    while (p->sent_hi[k] > 0) {
        size_t hi = p->sent_hi[k], a, e;
        if (s_piece_below(p, k, hi, &a, &e) < 0) break;
        size_t nx = shard_map_down(&p->sm, k, a);
        s_send_piece(p, r, k, a, hi, nx == 0);
        p->sent_hi[k] = nx;
    }
}

static void s_round_begin(worker_peers *p) {
    for (int k = 0; k < p->W; k++) {
        p->sent_hi[k] = shard_map_top(&p->sm, k);
        p->next_hi[k] = shard_map_top(&p->sm, p->me);
    }
}

peers_rc worker_peers_round(worker_peers *p, peers_round *r, void *pipe, zmq_msg_t *pipe_frame, char *err) {
    const int W = p->W, me = p->me;
    const size_t S = shard_map_size(&p->sm, me);
    float *params = r->pt->data;
    /* 1. this worker's own part of its shard, then every other shard to its owner */
    const float wt = (float)r->n_samples;
    if (p->par_left) /* (the caller awaits the last round's shards before: worker_peers_await) */
        return hb_fail(err, "round %llu: %d peer(s)' updated shards of round %llu still missing",
                       (unsigned long long)r->round, p->par_left, (unsigned long long)p->par_round);
    memset(p->par_done, 0, sizeof p->par_done);
    memset(p->par_upto, 0, sizeof p->par_upto);
    s_held_free(p);                             /* (a round that ended early left some) */
    for (size_t b = 0, o = 0; b < (size_t)p->sm.nb; b++) { /* = 0 + w g: the coordinator's first add */
        size_t a, e;
        shard_map_seg(&p->sm, me, (int)b, &a, &e);
        for (size_t i = a; i < e; i++) p->acc[o++] = wt * r->grad[i];
    }
    for (int k = 0; k < W; k++) /* what backward's hook did not send yet, the rows with it */
        if (k != me) s_flush(p, r, k);
    /* the rows no gradient touches, stepped while the others' gradients come */
    const int split = r->m && r->we >= 0 && p->t_on && p->t_round == r->round && p->t_r1 > p->t_r0;
    if (split) s_step_rows(p, r, 0, 1.0f);
    int n_grad = 0, n_norm = 0, n_par = 0, norm_sent = 0, normed = 0, stepped = 0;
    uint8_t got[3][PROTO_MAX_PEERS] = {{0}};
    double sq[PROTO_MAX_PEERS] = {0};
    for (;;) {
        if (n_grad == W - 1 && !norm_sent) {
            s_add_held(p, r);
            /* 2. the mean, and this shard's squared norm for everyone */
            const float inv = (float)(1.0 / (double)r->total_samples);
            float *acc = p->acc;
            if (split) { /* (the untouched rows' sum is +0, and stays so) */
                const params_view *v = &r->pt->views[r->we];
                const size_t dim = (size_t)v->shape[1];
                const size_t la = shard_map_below(&p->sm, me, v->offset + (size_t)p->t_r0 * dim),
                             lb = shard_map_below(&p->sm, me, v->offset + (size_t)p->t_r1 * dim);
                s_scale(acc, 0, la, inv);
                for (int32_t row = p->t_r0; row < p->t_r1; row++)
                    if (p->touched[row - p->t_r0]) {
                        size_t a = la + (size_t)(row - p->t_r0) * dim;
                        s_scale(acc, a, a + dim, inv);
                    }
                s_scale(acc, lb, S, inv);
            } else {
                s_scale(acc, 0, S, inv);
            }
            double ss = optim_sq_sum(acc, S); /* (fixed order: the same bits on every run) */
            sq[me] = ss;
            for (int k = 0; k < W; k++) {
                if (k == me) continue;
                Hierbert__PeerShard h = HIERBERT__PEER_SHARD__INIT;
                h.kind = HIERBERT__PEER_SHARD__KIND__NORM;
                h.round = r->round;
                h.sq_norm = ss;
                s_send(p, k, &h, NULL, 0, &r->bytes_out);
            }
            norm_sent = 1;
            continue;
        }
        if (norm_sent && n_norm == W - 1 && !normed) {
            /* the global norm, summed in shard order: the same on every owner */
            double ss = 0;
            for (int k = 0; k < W; k++) ss += sq[k];
            r->grad_norm = sqrt(ss);
            normed = 1;
        }
        /* 3. the step - after the global norm only when it clips: without
         * clipping an owner steps once its own sum is in, and the shards
         * that are summed first go out first (no barrier across owners) -
         * and the shard out */
        if (norm_sent && !stepped && (normed || !(r->oc->clip_norm > 0))) {
            float clip = r->oc->clip_norm > 0 ? optim_clip_coef(r->grad_norm, r->oc->clip_norm) : 1.0f;
            const float lr = r->m ? 0 : optim_lr_at(r->oc, r->step);
            for (int b = 0; b < p->sm.nb; b++) { /* piece by piece */
                size_t a, e;
                shard_map_seg(&p->sm, me, b, &a, &e);
                if (split && b == p->vb) { /* around the word-embedding rows, and the touched ones */
                    const params_view *v = &r->pt->views[r->we];
                    const size_t dim = (size_t)v->shape[1], ea = v->offset + (size_t)p->t_r0 * dim,
                                 eb = v->offset + (size_t)p->t_r1 * dim;
                    s_step_part(p, r, clip, a, ea);
                    s_step_rows(p, r, 1, clip);
                    s_step_part(p, r, clip, eb, e);
                } else if (r->m) {
                    s_step_part(p, r, clip, a, e);
                } else {
                    const float *g = p->acc + shard_map_below(&p->sm, me, a);
                    for (size_t i = a; i < e; i++) params[i] -= lr * (clip == 1.0f ? g[i - a] : g[i - a] * clip);
                }
            }
            s_push_rows(p, r);
            s_send_shard(p, r->pt, r->we, HIERBERT__PEER_SHARD__KIND__PARAMS, r->round, &r->bytes_out);
            stepped = 1;
            continue;
        }
        /* 4. version round+1 (and the norm for the Update: every owner's
         * squared norm leaves before its shard, so it is in by then; with
         * the overlap it is awaited, which costs nothing: the next round's
         * row pull waits for the last owner to step anyway) */
        if (stepped && normed && n_par == W - 1) return PEERS_OK;
        if (stepped && normed && r->overlap) { /* 4'. the rest comes during the next round's forward */
            p->par_round = r->round;
            p->par_left = W - 1 - n_par;
            return PEERS_OK;
        }
        s_msg m;
        int rc = s_next(p, pipe, -1, pipe_frame, &m, &r->wait_s);
        if (rc == 1) return PEERS_ABORTED;
        const Hierbert__PeerShard *h = m.hdr->peer_shard;
        if (h->kind == HIERBERT__PEER_SHARD__KIND__ROWS && h->pushed && h->round == r->round + 1) {
            s_append(&p->early, &m); /* an owner's push for the next round: its row pull takes (and counts) it */
            continue;
        }
        r->bytes_in += zmq_msg_size(&m.data) + hierbert__envelope__get_packed_size(m.hdr);
        int from = (int)h->from, kind = (int)h->kind - 1;
        if (h->round != r->round || from >= W || from == me || kind < 0 || kind > 2 || got[kind][from]) {
            s_msg_free(&m); /* a late ping, another round's, a repeat: nothing to do with this round */
            continue;
        }
        got[kind][from] = 1;
        int bad = 0;
        if (h->kind == HIERBERT__PEER_SHARD__KIND__GRAD) {
            int done = s_add_grad(p, r, &m, err);
            bad = done < 0;
            if (done == 0) got[kind][from] = 0; /* more pieces to come */
            n_grad += done == 1;
        } else if (h->kind == HIERBERT__PEER_SHARD__KIND__NORM) {
            sq[from] = h->sq_norm;
            n_norm++;
        } else {
            /* a piece of the sender's shard, outside its word-embedding rows */
            bad = s_take_shard(p, r->pt, r->we, from, &m, err);
            p->par_upto[from] = h->hi;
            p->par_done[from] = h->last;
            if (!h->last) got[kind][from] = 0; /* its other piece comes */
            n_par += h->last;
        }
        s_msg_free(&m);
        if (bad) return PEERS_FAILED;
    }
}

/* ------------------------------------------------------------------------ */
/* the word-embedding rows of the slice, pulled from their owners */

static int s_rows_ok(const Hierbert__PeerShard *h, int32_t r0, int32_t r1, char *err) {
    const int32_t *rows = (const int32_t *)h->rows.data;
    size_t n = h->rows.len / 4;
    for (size_t i = 0; i < n; i++)
        if (rows[i] < r0 || rows[i] >= r1 || (i && rows[i] <= rows[i - 1]))
            return hb_fail(err, "peer %u: row %d (index %zu) outside %d..%d or out of order", h->from, rows[i], i, r0,
                           r1 - 1);
    return 0;
}

/* round r's touched rows of this shard: this worker's own so far (the row
 * pull adds the peers') */
static void s_touch_begin(worker_peers *p, const peers_round *r) {
    int32_t r0, r1;
    s_rows_of(p, r->pt, r->we, p->me, &r0, &r1);
    if (!p->touched || r0 != p->t_r0 || r1 != p->t_r1) {
        free(p->touched);
        p->touched = hb_malloc((size_t)(r1 - r0) + 1);
        p->t_r0 = r0;
        p->t_r1 = r1;
    }
    memset(p->touched, 0, (size_t)(r1 - r0));
    size_t i0, i1, a, e;
    s_view_piece(p, p->me, &a, &e);
    s_rows_in(r, a, e, &i0, &i1);
    for (size_t i = i0; i < i1; i++) p->touched[r->rows[i] - r0] = 1;
    p->t_round = r->round;
    p->t_on = 1;
}

/* one message of the row pull; PEERS_OK to go on */
static peers_rc s_pull_one(worker_peers *p, peers_round *r, void *pipe, zmq_msg_t *pipe_frame, const size_t *want_lo,
                           const size_t *want_hi, uint8_t got[2][PROTO_MAX_PEERS], int *n_req, int *n_rows, char *err) {
    const int W = p->W, me = p->me;
    const params_view *wv = &r->pt->views[r->we];
    const size_t dim = (size_t)wv->shape[1];
    float *params = r->pt->data;
    s_msg m;
    int taken = 0;
    while (p->early && !taken) { /* the owners' pushes that came during the last round */
        s_stashed *s = p->early;
        p->early = s->next;
        taken = s_take(p, s, &m);
    }
    if (!taken && s_next(p, pipe, -1, pipe_frame, &m, &r->wait_s) == 1) return PEERS_ABORTED;
    const Hierbert__PeerShard *h = m.hdr->peer_shard;
    int from = (int)h->from, q = h->kind == HIERBERT__PEER_SHARD__KIND__ROWS, bad = 0;
    if (s_take_pending(p, r->pt, r->we, &m, &bad, err, &r->bytes_in)) { /* the last round's shards, still coming */
        s_msg_free(&m);
        return bad ? PEERS_FAILED : PEERS_OK;
    }
    if (h->round != r->round || from >= W || from == me) {
        s_msg_free(&m); /* another round's: nothing to do with this one */
        return PEERS_OK;
    }
    if (h->kind != HIERBERT__PEER_SHARD__KIND__ROWS_REQ && !q) {
        s_defer(p, &m); /* a faster peer's gradient: for the exchange after backward */
        return PEERS_OK;
    }
    r->bytes_in += zmq_msg_size(&m.data) + hierbert__envelope__get_packed_size(m.hdr);
    peers_rc rc = PEERS_OK;
    const int32_t *rows = (const int32_t *)h->rows.data;
    size_t n = h->rows.len / 4;
    if (got[q][from]) {
        /* a repeat */
    } else if (!q) { /* a peer's request: the rows of this shard, version round */
        int32_t my0, my1;
        s_rows_of(p, r->pt, r->we, me, &my0, &my1);
        if (s_rows_ok(h, my0, my1, err)) {
            rc = PEERS_FAILED;
        } else if (p->nx_on && p->nx_round == r->round && p->nx_pushed[from] &&
                   n == p->nx_off[from + 1] - p->nx_off[from] &&
                   (n == 0 || !memcmp(rows, p->nx_rows + p->nx_off[from], n * sizeof(int32_t)))) {
            for (size_t i = 0; i < n; i++) p->touched[rows[i] - p->t_r0] = 1; /* pushed after the step: not again */
            got[q][from] = 1;
            (*n_req)++;
        } else {
            float *buf = hb_malloc((n * dim + 1) * sizeof(float));
            for (size_t i = 0; i < n; i++)
                memcpy(buf + i * dim, params + wv->offset + (size_t)rows[i] * dim, dim * sizeof(float));
            Hierbert__PeerShard a = HIERBERT__PEER_SHARD__INIT;
            a.kind = HIERBERT__PEER_SHARD__KIND__ROWS;
            a.round = r->round;
            a.rows = h->rows;
            s_send_ex(p, from, &a, buf, n * dim, 1, &r->bytes_out);
            for (size_t i = 0; i < n; i++) p->touched[rows[i] - p->t_r0] = 1; /* (checked inside the shard) */
            got[q][from] = 1;
            (*n_req)++;
        }
    } else { /* an owner's answer: exactly the rows asked */
        size_t n_want = want_hi[from] - want_lo[from];
        int match = n == n_want && (!n || !memcmp(rows, r->rows + want_lo[from], n * sizeof(int32_t)));
        if (h->pushed && !match) {
            /* pushed for another slice than this one (the coordinator's next-round rows
             * are this round's by construction; a mismatch is dropped, the ask answered) */
        } else if (!match || zmq_msg_size(&m.data) != n * dim * sizeof(float)) {
            hb_fail(err, "peer %d: answered %zu rows (%zu bytes), %zu were asked", from, n, zmq_msg_size(&m.data),
                    n_want);
            rc = PEERS_FAILED;
        } else {
            const float *d = zmq_msg_data(&m.data);
            for (size_t i = 0; i < n; i++)
                memcpy(params + wv->offset + (size_t)rows[i] * dim, d + i * dim, dim * sizeof(float));
            got[q][from] = 1;
            (*n_rows)++;
            if (h->pushed && !p->pushed_seen) {
                p->pushed_seen = 1;
                hb_log(
                    "hierbert-worker", "info",
                    "plan %llu: round %llu: the owners' rows came pushed, ahead of their PARAMS (logged once a plan)",
                    (unsigned long long)p->gen, (unsigned long long)r->round);
            }
        }
    }
    s_msg_free(&m);
    return rc;
}

peers_rc worker_peers_pull(worker_peers *p, peers_round *r, void *pipe, zmq_msg_t *pipe_frame, char *err) {
    const int W = p->W, me = p->me;
    s_round_begin(p);
    if (W == 1 || r->we < 0) return PEERS_OK;
    size_t want_lo[PROTO_MAX_PEERS], want_hi[PROTO_MAX_PEERS]; /* rows asked of owner k: r->rows[lo, hi) */
    for (int k = 0; k < W; k++) {
        if (k == me) continue;
        size_t a, e;
        s_view_piece(p, k, &a, &e);
        s_rows_in(r, a, e, &want_lo[k], &want_hi[k]);
        Hierbert__PeerShard h = HIERBERT__PEER_SHARD__INIT;
        h.kind = HIERBERT__PEER_SHARD__KIND__ROWS_REQ;
        h.round = r->round;
        h.rows = proto_bytes(r->rows + want_lo[k], (want_hi[k] - want_lo[k]) * sizeof(int32_t));
        s_send(p, k, &h, NULL, 0, &r->bytes_out);
    }
    uint8_t got[2][PROTO_MAX_PEERS] = {{0}};
    int n_req = 0, n_rows = 0;
    peers_rc rc = PEERS_OK;
    s_touch_begin(p, r);
    p->pulling = 1; /* what is deferred now waits for the exchange */
    while (rc == PEERS_OK && (n_req < W - 1 || n_rows < W - 1))
        rc = s_pull_one(p, r, pipe, pipe_frame, want_lo, want_hi, got, &n_req, &n_rows, err);
    p->pulling = 0;
    return rc;
}
