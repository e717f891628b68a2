/*
 * peers.h - the worker's side of sharded reduction (issue 11; the protocol is
 * DESIGN.md's "Sharded reduction").
 *
 * Every worker binds one PULL socket, its peer endpoint, announced in Hello;
 * a ShardPlan from the coordinator names every member's endpoint and cuts
 * the flat parameter buffer into bands (the embeddings, each layer) and
 * each band into one piece per member: shard k is piece k of every band
 * (proto/shard_map.h). The worker then PUSHes to each peer on a socket of
 * its own. One round, for shard owner `me` of W:
 *
 *   1. the slice's gradient g (after backward), weighted by its samples, is
 *      cut by the shard map; shard k goes to owner k, piece by piece as
 *      backward finishes them (the word-embedding rows row-sparse: only the
 *      rows of the slice's token ids);
 *   2. the owner sums its shard's W contributions and divides by the step's
 *      samples (the global batch's mean gradient), and sends every peer its
 *      shard's squared norm;
 *   3. with the global norm (the W squared norms summed in shard order, the
 *      same on every owner) it clips and takes the AdamW (or SGD) step for
 *      its shard - it holds only its shard's moments - and sends the updated
 *      shard to every peer, without its word-embedding rows: at the next
 *      round's start each worker pulls the rows of its slice from their
 *      owners (worker_peers_pull), as parameter servers pull sparse keys;
 *   4. with the W-1 shards of the others in place it holds version round+1.
 *
 * Sends are zero-copy (zmq_msg_init_data) out of buffers that stay put until
 * every peer has the data: a round cannot end before that. Messages of
 * another job or an older generation are dropped; a later generation's are
 * kept for it (a peer may get the next plan first).
 *
 * Every wait also watches the compute pipe: anything the coordinator sends
 * mid-exchange (a new plan after a lost worker, a new task) aborts the
 * round; the frame is handed back for the caller to process.
 *
 * Single-threaded: the compute thread alone uses a worker_peers after
 * worker_peers_open (called before that thread starts).
 */
#ifndef HB_WORKER_PEERS_H
#define HB_WORKER_PEERS_H

#include <stddef.h>
#include <stdint.h>
#include <zmq.h>

#include "frame.h"
#include "optim.h"
#include "params.h"
#include "shard_map.h"

typedef struct worker_peers worker_peers;

/* Binds the peer endpoint: `bind` as given (a '*' host is announced as the
 * address this host reaches the coordinator from), or "" for the default
 * next to the work endpoint (ipc: a socket file beside it; tcp: an
 * ephemeral port on every interface, announced with that address), or
 * "none" (then *out is NULL: this worker takes no sharded rounds). */
/* key_path: the worker's CurveZMQ .key, or NULL/"": with one the endpoint
 * is a CURVE server letting in only the current plan's members (their keys
 * come with the plan) and the connections to peers are CURVE clients. */
int worker_peers_open(worker_peers **out, void *zctx, const char *bind, const char *work_endpoint, const char *key_path,
                      char *err);
void worker_peers_destroy(worker_peers **p);
const char *worker_peers_endpoint(const worker_peers *p);
/* its CurveZMQ public key (Z85), "" without CURVE: Hello.peer_public */
const char *worker_peers_public(const worker_peers *p);

/* One round's result. */
typedef enum { PEERS_OK = 0, PEERS_FAILED = -1, PEERS_ABORTED = 1 } peers_rc;

/* Sets up plan (job's generation gen): connects to every peer, pings them
 * and waits (up to ping_ms) to hear from each; sends each its shard of pt
 * (which holds it: the plan's params) and takes theirs into pt, outside the
 * word-embedding rows of view we (pulled each round): pt then holds the
 * plan's version. PEERS_FAILED with err naming the peers not heard from;
 * PEERS_ABORTED with *pipe_frame holding what arrived on pipe meanwhile. */
peers_rc worker_peers_plan(worker_peers *p, uint64_t job, const Hierbert__ShardPlan *plan, params_table *pt, int we,
                           void *pipe, zmq_msg_t *pipe_frame, char *err);
uint64_t worker_peers_gen(const worker_peers *p);
/* this worker's shard of the current plan in shard space, [*lo, *hi)
 * (proto/shard_map.h), the plan's map, and its index */
void worker_peers_shard(const worker_peers *p, size_t *lo, size_t *hi);
const shard_map *worker_peers_map(const worker_peers *p);
int worker_peers_index(const worker_peers *p);

/* What one round needs and returns. */
typedef struct {
    uint64_t round;
    const params_table *pt; /* the model: pt->data is version round, becomes round+1 */
    float *grad;            /* [numel] the slice's mean gradient (overwritten) */
    int we;                 /* word-embedding view (row-sparse), -1 none */
    const int32_t *rows;    /* the slice's token ids, increasing */
    size_t n_rows;
    uint32_t n_samples, total_samples;
    const optim_config *oc; /* clip_norm, schedule */
    long step;              /* global step, 1-based */
    float *m, *v;           /* AdamW moments of this shard ([hi-lo]); NULL: SGD */
    /* out */
    double wait_s;
    uint64_t bytes_out, bytes_in;
    double grad_norm;
    int overlap; /* TrainTask.overlap_next: return once this shard is out; the peers'
                  * arrive during the next round (worker_peers_await) */
    /* TrainTask.next_rows / next_counts (or n_next 0): the peers' next-round
     * rows in this shard, pushed right after the step, ahead of PARAMS */
    const int32_t *next_rows;
    const uint32_t *next_counts;
    int n_next;
} peers_round;

/* Round start (every sharded round), before forward: the word-embedding rows of the slice
 * (r->rows) come from their owners, and this worker answers its peers' asks
 * for rows of its shard. After an overlap round the owners have pushed them
 * already (right after their step, ahead of their PARAMS: TrainTask.next_rows):
 * the ask still goes, and an owner does not answer one it has pushed; a
 * pushed answer that does not match the ask is dropped. The other owners' rows of a worker's own copy are
 * stale between pulls - never read: forward and backward touch the slice's
 * rows only - so PARAMS (step 3) carries each shard without its rows.
 * Counters in r (wait_s, bytes) add up; the caller zeroes them. */
peers_rc worker_peers_pull(worker_peers *p, peers_round *r, void *pipe, zmq_msg_t *pipe_frame, char *err);

/* Backward's hook (bert_model.grad_ready): the parts of the other owners'
 * shards whose gradient is final (floats >= from) leave now, dense and
 * zero-copy, in pieces of about a layer; the word-embedding rows and
 * whatever is left go with step 1. */
void worker_peers_grad_ready(worker_peers *p, peers_round *r, size_t from);

/* Runs steps 1-4 above. PEERS_OK: pt->data is version round+1.
 * PEERS_ABORTED: *pipe_frame holds the coordinator's frame (pt->data is
 * then neither version). PEERS_FAILED: a peer sent something unusable
 * (err names it). */
peers_rc worker_peers_round(worker_peers *p, peers_round *r, void *pipe, zmq_msg_t *pipe_frame, char *err);

/* The previous round's updated shards (an overlap round's) up to float hi
 * of the flat buffer: waits (blocking time into *waited) until every
 * peer's PARAMS below hi are in pt, deferring what belongs to the round
 * under way; their bytes into *bytes_in (the round under way's: the
 * overlap moves them there). PEERS_ABORTED with *pipe_frame: the
 * coordinator moved on. */
peers_rc worker_peers_await(worker_peers *p, const params_table *pt, int we, size_t hi, void *pipe,
                            zmq_msg_t *pipe_frame, double *waited, uint64_t *bytes_in, char *err);

#endif
