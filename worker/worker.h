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

#include "conf.h"

typedef struct {
    char work[256]; /* coordinator's work endpoint */
    char id[128];   /* "" : host:pid */
    int threads;    /* OpenMP threads; 0: all online CPUs */
    int heartbeat_ms;
    int coordinator_timeout_ms;
    int reconnect_min_ms, reconnect_max_ms;
    int max_frame_mb;
    char curve_server_public[1024]; /* CurveZMQ: the coordinator's .pub ... */
    char curve_key[1024];           /* ... and this worker's own .key */
    int verbose;
    unsigned proto_version; /* 0: PROTO_VERSION; tests set another to see it refused */
} worker_config;

void worker_config_defaults(worker_config *c);
/* Fills t (WORKER_CONF_ENTRIES entries, NULL-terminated) with the table
 * conf_load/conf_set use for c; the entries point into c. */
#define WORKER_CONF_ENTRIES 11
void worker_config_table(worker_config *c, conf_entry *t);

typedef struct worker worker;

/* Runs until *stop becomes non-zero (signal) or a fatal error (another
 * protocol version, an unusable endpoint): 0 after a clean stop, -1 with err. */
int worker_run(const worker_config *c, volatile sig_atomic_t *stop, char *err);

/* -- compute thread (compute.c) ------------------------------------------ */
typedef struct {
    void *zctx;
    const char *pipe_endpoint; /* inproc PAIR to connect to */
    const char *who;           /* log prefix */
    int threads;
    size_t max_frame;
    atomic_int busy;
    atomic_llong samples_x1000_per_s; /* last measured rate, x1000 */
} worker_compute;

/* Thread body: void *arg is a worker_compute*. Returns when it receives an
 * empty frame on the pipe. */
void *worker_compute_main(void *arg);

#endif
