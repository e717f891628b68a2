/*
 * worker.h - the worker daemon: one DEALER socket to the coordinator's work
 * endpoint, a socket thread that keeps the conversation alive and a compute
 * thread that runs assignments (zguide's Paranoid Pirate worker).
 *
 *   socket thread   Hello on (re)connect; Heartbeat every heartbeat_ms, busy
 *                   or not; any message from the coordinator is a sign of
 *                   life; silence for coordinator_timeout_ms closes the socket
 *                   and reconnects after a back-off that doubles from
 *                   reconnect_min_ms to reconnect_max_ms; forwards Assign and
 *                   Params to the compute thread and its Updates back.
 *   compute thread  owns the chunk model and its optimizer state; OpenMP
 *                   inside with `threads` threads; never touches the DEALER.
 * The two talk over an inproc PAIR pipe carrying whole frames, so compute can
 * take minutes without a missed heartbeat.
 */
#ifndef HB_WORKER_H
#define HB_WORKER_H

#include <signal.h>
#include <stdatomic.h>

#include "bert.h"
#include "conf.h"
#include "daemon.h"
#include "frame.h"

typedef struct {
    char work[256]; /* coordinator's work endpoint */
    char id[128];   /* "" : host:pid */
    int threads;    /* OpenMP threads; 0: all online CPUs */
    int heartbeat_ms;
    int coordinator_timeout_ms;
    int reconnect_min_ms, reconnect_max_ms;
    int max_frame_mb;               /* at most WORKER_TRANSPORT_MAX_MB */
    char curve_server_public[1024]; /* CurveZMQ: the coordinator's .pub ... */
    char curve_key[1024];           /* ... and this worker's own .key */
    char peer[256];                 /* peer endpoint to bind ("" default, "none" off): sharded reduction */
    char log_file[1024];            /* "" : stderr (the journal under systemd); reopened on SIGHUP */
    int verbose;
    unsigned proto_version; /* 0: PROTO_VERSION; tests set another to see it refused */
} worker_config;

/* the largest frame the work connection carries at all (worker.max_frame_mb
 * is the one it takes: above that a frame is refused with an Error) */
#define WORKER_TRANSPORT_MAX_MB 4096

void worker_config_defaults(worker_config *c);
/* Fills t (WORKER_CONF_ENTRIES entries, NULL-terminated) with the table
 * conf_load/conf_set use for c; the entries point into c. */
#define WORKER_CONF_ENTRIES 13
void worker_config_table(worker_config *c, conf_entry *t);

typedef struct worker worker;

/* Runs until *ctl->stop becomes non-zero (signal) or a fatal error (another
 * protocol version, an unusable endpoint): 0 after a clean stop, -1 with err.
 * The socket thread pings the systemd watchdog while it turns (connected or
 * backing off). On *ctl->hup: the log file reopened, the config re-read
 * with ctl->reread and heartbeat_ms, coordinator_timeout_ms,
 * reconnect_min_ms, reconnect_max_ms, log_file and -v applied; other changes
 * are logged as needing a restart. */
int worker_run(const worker_config *c, const daemon_ctl *ctl, char *err);

/* -- compute thread (compute.c) ------------------------------------------ */
typedef struct {
    void *zctx;
    const char *pipe_endpoint; /* inproc PAIR to connect to */
    const char *who;           /* log prefix */
    int threads;
    size_t max_frame;
    atomic_int busy;
    atomic_llong samples_x1000_per_s; /* last measured rate, x1000 */
    struct worker_peers *peers;       /* sharded reduction (peers.h), NULL: none; the thread owns it */
} worker_compute;

/* Thread body: void *arg is a worker_compute*. Returns when it receives an
 * empty frame on the pipe. */
void *worker_compute_main(void *arg);

/* -- EMBED (embed.c) and HEAD (head.c), run by the compute thread -------- */
/* Embeds task's documents with m (weights already the task's round) in
 * batches of up to `batch` chunks (mask: [batch][L] scratch); one
 * DocEmbeddings per document goes out on pipe as soon as it is complete.
 * *rate: chunks/s. 0, or -1 with err. */
int worker_embed_run(bert_model *m, uint8_t *mask, int batch, const proto_msg *task, void *pipe, double *rate,
                     char *err);
/* The head task being received: documents kept until the last HeadBatch,
 * then the head is trained and one HeadResult per epoch goes out on pipe. */
typedef struct worker_head worker_head;
int worker_head_on_batch(worker_head **h, const proto_msg *batch, void *pipe, const char *who, char *err);
void worker_head_destroy(worker_head **h);

#endif
