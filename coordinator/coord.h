/*
 * coord.h - the coordinator daemon: its one main struct and the modules that
 * work on it.
 *
 *   loop.c        sockets and the zmq_poll event loop: work (ROUTER), control
 *                 (ROUTER), status (REP, JSON) and events (PUB); the worker
 *                 registry (Hello, heartbeats, expiry); the periodic tick.
 *   jobs.c        the FIFO queue and each job's state machine
 *                 QUEUED -> INGEST -> TRAIN -> EMBED -> HEAD -> DONE
 *                 (or FAILED / CANCELLED); job records on disk, reloaded at
 *                 start; Submit / Cancel / List handlers.
 *   corpus.c      a job's training data in memory: chunks of token ids with
 *                 labels, grouped by document (ingest, or a seeded synthetic set).
 *   rounds.c      TRAIN: epoch order, rounds of parameter averaging, eval
 *                 rounds for validation chunk accuracy, checkpoints.
 *   checkpoint.c  atomic checkpoint files (params, moments, round, RNG state).
 *   status.c      the status JSON and progress events.
 *
 * Single-threaded: every handler runs inside the loop; nothing blocks on a
 * peer. Everything that arrives is decoded by proto_decode first.
 */
#ifndef HB_COORD_H
#define HB_COORD_H

#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <zmq.h>

#include "bert.h"
#include "conf.h"
#include "daemon.h"
#include "dataset.h"
#include "frame.h"
#include "hb_error.h"
#include "hb_log.h"
#include "labels.h"
#include "shard_map.h"
#include "store.h"

/* ------------------------------------------------------------ config ---- */

typedef struct {
    char work[256], control[256], status[256], events[256]; /* bind endpoints */
    char metrics[256];                                      /* HTTP /metrics on HOST:PORT; empty: off */
    char data_dir[1024];
    int heartbeat_ms;     /* coordinator -> worker heartbeats */
    int worker_expiry_ms; /* a worker silent this long is dropped */
    int tick_ms;          /* the periodic tick */
    int checkpoint_every; /* rounds between checkpoints ... */
    int checkpoint_min_s; /* ... and at least these seconds (inside an epoch; 0: rounds only) */
    int rejoin_wait_s;    /* sharded, fewer shard owners alive than shards: wait this long for them */
    int max_frame_mb;     /* work frames */
    int control_max_frame_kb;
    int max_jobs;               /* records kept */
    char curve_secret[1024];    /* CurveZMQ on work + control: the coordinator's .key */
    char curve_allow_dir[1024]; /* *.pub of the workers and CLI users let in */
    char log_file[1024];        /* "" : stderr (the journal under systemd); reopened on SIGHUP */
    char dataset_roots[4096];   /* ':'-separated directories Submit may name; "": data_dir/datasets */
    char export_root[1024];     /* Export writes only beneath it; "": data_dir/exports */
    int verbose;
} coord_config;

/* http_metrics.c: HTTP /metrics on spec (HOST:PORT) in Prometheus text format,
 * rendered from what the status endpoint status_ep answers */
typedef struct coord_metrics coord_metrics;
/* The dashboard's files (coordinator/dashboard/, compiled in by
 * embed.cmake): path served, Content-Type, bytes; a NULL path ends it. */
typedef struct {
    const char *path, *type;
    const unsigned char *data;
    size_t len;
} coord_http_asset;
extern const coord_http_asset coord_dashboard_assets[];
int coord_metrics_start(coord_metrics **out, const char *spec, void *zctx, const char *status_ep, char *err);
void coord_metrics_stop(coord_metrics **m);

/* ------------------------------------------------------------------------ */
/* confine.c: what a control client can make the coordinator read (dataset
 * roots) and write (the export root); see the file's head. */

#define COORD_MAX_ROOTS 16
#define COORD_PATH_MAX 1024
typedef struct {
    char roots[COORD_MAX_ROOTS][COORD_PATH_MAX]; /* dataset roots, real paths */
    int n_roots;
    char export_root[COORD_PATH_MAX]; /* real path */
    char data_dir[COORD_PATH_MAX];    /* real path */
    int landlock;                     /* the kernel's Landlock ABI version; 0: none */
} coord_confine;

typedef enum {
    COORD_CONFINE_DATASETS, /* read beneath the dataset roots (and /usr) */
    COORD_CONFINE_EXPORT,   /* read beneath the data directory, write beneath the export root */
} coord_confine_mode;

/* Resolves cfg's roots (dataset_roots, export_root; "": data_dir/datasets
 * and data_dir/exports, made if missing). -1 (err) if one is not a directory. */
int coord_confine_init(coord_confine *cf, const coord_config *cfg, char *err);
/* One line for the log: the roots, and whether the kernel enforces them. */
void coord_confine_describe(const coord_confine *cf, char *out, size_t n);
/* 0 if path (absolute) resolves beneath a dataset root (a missing path: by
 * its text); else -1 with "WHAT 'PATH' [resolves to 'REAL',] outside the
 * dataset roots (...): refused". */
int coord_confine_read_ok(const coord_confine *cf, const char *what, const char *path, char *err);
/* 0 if path (absolute; need not exist) resolves strictly beneath the export root. */
int coord_confine_write_ok(const coord_confine *cf, const char *what, const char *path, char *err);
/* Confines the calling thread for good (Landlock): mode's directories, plus
 * every right beneath rw_dir (may be NULL). 0 when the kernel has no Landlock. */
int coord_confine_thread(const coord_confine *cf, coord_confine_mode mode, const char *rw_dir, char *err);
/* Runs fn(arg) on a new thread confined so (the caller's thread stays free);
 * -1 (err) only if the confinement could not be set up (fn did not run). */
int coord_confine_run(const coord_confine *cf, coord_confine_mode mode, const char *rw_dir, void (*fn)(void *),
                      void *arg, char *err);

#define COORD_CONF_ENTRIES 21
void coord_config_defaults(coord_config *c);
void coord_config_table(coord_config *c, conf_entry *t);

/* ---------------------------------------------------------- workers ---- */

#define COORD_MAX_WORKERS 256
#define COORD_RID_MAX 256

typedef struct {
    int in_use;
    int dropping; /* being dropped: fits no job, sent nothing more */
    uint8_t rid[COORD_RID_MAX];
    size_t rid_len;
    char id[128], host[128];
    uint32_t cores, threads, pid;
    long long last_seen_ms; /* monotonic */
    double joined;          /* unix seconds */
    int busy;
    double rate;          /* samples/s of its last task */
    int task;             /* index in the current round, -1 none */
    uint64_t moments_job; /* job whose AdamW moments it was sent (0: none yet) */
    uint64_t tasks_done;
    char peer[256];       /* its peer endpoint (Hello): sharded reduction; "" none */
    char peer_public[48]; /* ... its CurveZMQ public key (Z85), "" without CURVE */
    /* TRAIN bytes: on the coordinator's link (down: Params + Assign + plans, up:
     * Updates) and with its peers (its Updates' figures) */
    double bytes_down, bytes_up, peer_bytes_out, peer_bytes_in;
    double last_wait_s; /* its last sharded round: seconds waiting for peers */
    int bf16;           /* its Hello: native bf16 products (hierbert.proto Hello.bf16) */
    /* its heartbeat connection (Hello.hb_token): Heartbeats both ways go
     * there, never behind a bulk message on the work connection; hb_rid_len
     * 0 until its first Heartbeat names the token (or without one) */
    uint64_t hb_token;
    uint8_t hb_rid[COORD_RID_MAX];
    size_t hb_rid_len;
} coord_worker;

/* ----------------------------------------------------------- corpus ---- */

/* a job's corpus sizes, in status and the job record (coord_job.n_counts) */
#define COORD_N_COUNTS 7 /* train docs/chunks, val docs/chunks, test docs/chunks, classes */

/* A split's chunks in memory: lengths, labels and the document index. The
 * token ids stay in the store (the docs database, LMDB's page cache): they
 * are read per task with coord_corpus_rows, so the coordinator's memory is
 * ~8 bytes a chunk (plus the document ids) however long L is - not 4L. */
typedef struct {
    size_t n;         /* chunks */
    int32_t *lengths; /* [n] */
    int32_t *labels;  /* [n] */
    size_t n_docs;
    uint32_t *doc_start; /* [n_docs] first chunk */
    uint32_t *doc_count; /* [n_docs] chunks */
    char **doc_ids;      /* [n_docs] */
} coord_split;

/* Test documents are held like validation ones (EMBED embeds them; DONE
 * evaluates the head on them); TRAIN and HEAD never read them. A test
 * document may have no label: its chunks' label is -1. */
typedef struct {
    int L, vocab_size, num_classes;
    int32_t pad_id;
    label_map labels;
    coord_split train, val, test;
    store_env *st; /* where the token ids are read from */
    char job[32];  /* the job's key in it */
    store_doc doc; /* the last document read (rows of one document come together) */
    const coord_split *doc_sp;
    size_t doc_di;
    size_t *doc_off; /* [doc.n_chunks + 1]: where its chunk k's tokens start (one 50 MB document has 266,000) */
} coord_corpus;

/* Rows rows[0..n) of split sp (chunk indices) as [n][L] token ids padded
 * with [PAD], read from the store. A document that is missing, changed
 * (chunk count) or holds an id outside the vocabulary is an error naming
 * it: the job cannot go on. */
int coord_corpus_rows(coord_corpus *c, const coord_split *sp, const uint32_t *rows, size_t n, int32_t *out, char *err);

void coord_corpus_free(coord_corpus *c);

/* What an ingest found out, kept in the job (record: vocab_size, pad_id). */
typedef struct {
    int vocab_size, pad_id;                         /* of the job's tokenizer (synthetic: 256 and 0) */
    long skipped;                                   /* documents skipped (Submit.skip_bad) */
    char skipped_first[DATASET_BAD_N][HB_ERR_LEN];  /* per reason: "reason (N): file:line: ..." or "" */
    long ignored_entries, replaced, replaced_files; /* dataset_report's (issue 13) */
    char ignored[HB_ERR_LEN], replaced_list[HB_ERR_LEN];
} coord_ingest_info;

/* Ingest: reads the Submit's dataset files (train, val or val_fraction of
 * train, test) with the job's vocabulary (cased or not: s->cased) through
 * dataset_ingest (validate everything, then emit), writes every document
 * into the store under job (split TRAIN, VAL, TEST; a record's own "split"
 * field wins), and saves the label map (from the training documents) as
 * labels.json in job_dir. Bad input is refused with file:line before
 * anything is written - a val/test label outside the training labels
 * included - unless s->skip_bad, which skips bad documents and counts them
 * in info; if writing fails midway the job's documents are deleted again:
 * nothing half-ingested remains. With s->synthetic > 0, a seeded synthetic
 * corpus (3 classes carried by class-specific tokens, 256-token vocabulary)
 * is written instead. */
int coord_corpus_ingest(store_env *st, const char *job, const char *job_dir, const Hierbert__Submit *s,
                        coord_ingest_info *info, char *err);
/* The job's vocabulary file into path[n]: --vocab, or the --model
 * directory's vocab.txt, or its tokenizer.json's vocabulary written as
 * job_dir/vocab.txt (hfdir_vocab). */
int coord_submit_vocab(const Hierbert__Submit *s, const char *job_dir, char *path, size_t n, char *err);
/* Loads a job's ingested documents' index from the store (key order: the
 * same corpus whether just ingested or reloaded after a restart), checking
 * every token id against the vocabulary; coord_corpus_rows then pads chunks
 * to L with pad_id (the tokenizer's [PAD], recorded at ingest). */
int coord_corpus_load(coord_corpus *c, store_env *st, const char *job, const char *job_dir, int L, int vocab_size,
                      int pad_id, char *err);

/* ------------------------------------------------------------- jobs ---- */

/* A control client to answer: its routing id, and whether it is a REQ
 * socket (an empty delimiter frame to echo). */
typedef struct {
    uint8_t rid[COORD_RID_MAX];
    size_t len;
    int delim;
} coord_peer;

typedef enum {
    JOB_QUEUED,
    JOB_INGEST,
    JOB_TRAIN,
    JOB_EMBED,
    JOB_HEAD,
    JOB_DONE,
    JOB_FAILED,
    JOB_CANCELLED,
} job_state;

const char *job_state_name(job_state s);
int job_state_final(job_state s);

#define COORD_MAX_TASKS COORD_MAX_WORKERS

typedef struct {
    int worker;     /* registry index, -1: lost (not coordinator-reduced train: waiting for a worker) */
    uint32_t start; /* eval: first val chunk; train: the slice's index (sharded: the owner's shard) */
    uint32_t count; /* samples */
    int done;
} coord_task;

/* One round in flight (train or eval). */
typedef struct {
    int active, eval;
    uint64_t round;
    long step0; /* global steps before the round */
    int steps;  /* optimizer steps in it */
    int n_tasks, pending;
    coord_task task[COORD_MAX_TASKS];
    int want_moments; /* AdamW: Updates carry moments; they are averaged */
    double weight, loss_sum;
    long n_samples, n_correct;
    double compute_s_max;
    long long started_ms;
    size_t bytes_out, bytes_in;
    int per_worker_batch;
    int sharded;           /* under plan j->plan.gen: the workers reduce among themselves */
    uint32_t step_total;   /* sharded: samples of the round's step (the mean's denominator) */
    double grad_norm;      /* gradient averaging: the step's global gradient norm (-1: not computed) */
    double wait_s_max;     /* sharded: the longest a worker waited for its peers */
    double peer_bytes_max; /* sharded: the busiest worker's peer bytes (in + out) */
    /* Updates are added in task order, whatever order they arrive in: a
     * task's Update waits here until every task before it is added */
    proto_msg *held[COORD_MAX_TASKS];
    int next_add; /* the first task not added yet */
    int slices;   /* train: the step's batch in this many slices */
} coord_round;

/* Where the coordinator last held the whole training state (parameters and
 * moments of version `round`): TRAIN's start, each checkpoint round's
 * gather, each eval. A sharded round that cannot complete rolls back here. */
typedef struct {
    uint64_t round;
    long step, step_in_epoch, samples_done;
    int epoch, need_eval, rounds_since_ckpt;
    double epoch_loss_sum, epoch_loss_n, last_loss;
} coord_mark;

/* The raw frames after a work frame's Envelope (ShardState.raw: params,
 * then adam_m and adam_v), kept as zmq received them; extra: how many
 * more there were (dropped). */
#define COORD_RAW_MAX 3
typedef struct {
    zmq_msg_t f[COORD_RAW_MAX];
    int n, extra;
} coord_raw;
void coord_raw_close(coord_raw *r);

/* A checkpoint round's gather under sharded reduction: the owners'
 * ShardStates of version mark.round, which follow their Updates and arrive
 * while the next rounds run (rounds.c). */
typedef struct {
    int active;          /* a want_moments round started: its shards are awaited */
    int round_done;      /* its Updates are all in: `mark` holds the version's counters */
    uint64_t gen, round; /* the plan, and the round whose step makes the version */
    int W, in;           /* shards, and how many are in */
    long long done_ms;   /* when round_done was set */
    coord_mark mark;
    proto_msg *held[COORD_MAX_TASKS]; /* by shard index */
    coord_raw raw[COORD_MAX_TASKS];   /* ... and its raw frames (ShardState.raw) */
} coord_gather;

/* A checkpoint written on a thread of its own (checkpoint.c), so the loop
 * and the next rounds go on: what it reads (ck's arrays) must not change
 * until it is joined; val_acc is copied. */
typedef struct coord_ckpt_writer coord_ckpt_writer;

/* The sharded reduction's plan (rounds.c, DESIGN.md "Sharded reduction"). */
typedef struct {
    uint64_t gen;                  /* 0: none yet */
    int state;                     /* 0 none, 1 sent (waiting for ShardReady), 2 ready */
    int W;                         /* members */
    int member[COORD_MAX_WORKERS]; /* registry index of shard k's owner */
    int nb;                        /* bands: shard k is piece k of each (proto/shard_map.h) */
    uint64_t *cuts;                /* [nb * (W + 1)], as ShardPlan.bounds */
    shard_map map;                 /* the same, for lookups */
    int ready;                     /* ShardReady ok so far */
    long long sent_ms;
    int failed; /* plans in a row that failed (since the last ready one) */
} coord_plan;

typedef struct {
    uint64_t id;
    job_state state;
    char name[256];
    char error[HB_ERR_LEN];
    char fatal[HB_ERR_LEN];   /* set mid-phase (a store read failed): coord_jobs_tick fails the job */
    char skip_note[256];      /* why live workers get none of its tasks (a bf16 job: no native bf16), or "" */
    Hierbert__Submit *submit; /* owned (unpacked copy) */
    double submitted, started, finished;
    double phase_t[8];  /* unix time it first entered each job_state (0: never): the dashboard's timeline */
    double *train_loss; /* [epochs] the mean training loss of each finished epoch, -1 not yet (or NULL) */

    coord_corpus corpus;
    int have_corpus;
    /* the corpus's sizes, kept in the job record: status shows them after
     * the corpus is freed (DONE) and across restarts; -1: not known yet */
    long long n_counts[COORD_N_COUNTS]; /* train docs/chunks, val docs/chunks, test docs/chunks, classes */
    int vocab_size;                     /* of the job's tokenizer (or synthetic vocabulary) */
    int pad_id;                         /* its [PAD] id (job record; 0 in records older than it) */
    bert_model *model;                  /* the coordinator's parameters (batch-1 arena: it never computes) */
    bert_config cfg;                    /* the encoder's shape, as sent to workers */
    size_t numel;                       /* its parameter floats */
    float *adam_m, *adam_v;             /* parameter averaging: averaged at checkpoint rounds (hierbert.proto, Params);
                                           gradient averaging: the coordinator's own, the only ones */
    double *acc, *acc_m, *acc_v; /* weighted sums [numel] of a round's Updates (kept: no page faults per round) */
    float *grad;                 /* gradient averaging: the round's mean gradient [numel] */
    int avg_grads;               /* 1: workers send gradients, the coordinator steps (sync_every 1) */
    int we_view;                 /* the word-embedding view (row-sparse in Updates), -1 none */
    uint8_t *row_mark;           /* [vocab] rows of grad written this round ... */
    int32_t *rows_touched;       /* ... their list */
    size_t n_touched;
    /* sharded, while a round's tasks are built: slice s's next-round word-
     * embedding rows, nx_rows[nx_off[s], nx_off[s + 1]) (TrainTask.next_rows) */
    int32_t *nx_rows;
    uint32_t *nx_off;
    int grad_dense;               /* a dense Update was added: zero all of grad next round */
    int sharded;                  /* gradient averaging reduced by the workers (Submit.reduce) ... */
    char reduce_note[HB_ERR_LEN]; /* ... or why not (fallback to the coordinator) */
    int r_sharded_next;           /* the next round is sharded (requested, and 2+ workers) */
    coord_plan plan;
    int state_valid;                         /* model->params / adam_m / adam_v are version `round` */
    coord_mark mark;                         /* the last such point */
    coord_gather gather;                     /* sharded: a checkpoint round's shards on their way */
    coord_ckpt_writer *ckw;                  /* the checkpoint being written, or NULL */
    long train_rollbacks;                    /* sharded rounds rolled back to the mark */
    double last_grad_norm, max_grad_norm;    /* gradient averaging, before clipping (status) */
    double train_wait_s;                     /* sum over sharded rounds of the longest peer wait */
    double train_bytes_down, train_bytes_up; /* the coordinator's TRAIN bytes, each way */

    /* training plan */
    int L, G, sync_every, epochs, min_workers;
    int n_slices; /* coordinator-reduced: every step's batch is cut into this many slices (the live workers
                     at the first round, kept in the checkpoint), whoever computes them; 0 not yet */
    int n_shards; /* sharded: the shard count (the members of the first plan, kept in the checkpoint); 0 not yet */
    long long rejoin_since_ms; /* sharded: since when fewer workers than n_shards are alive (0: not short) */
    int degraded;              /* a sharded round ran with fewer than n_shards shards (after rejoin_wait_s): */
    uint64_t degraded_round;   /* ... from this version on, the run is not a function of its seed alone */
    long steps_per_epoch, total_steps, warmup_steps, max_steps;
    uint64_t seed;
    /* progress */
    int epoch;          /* 0-based, current */
    long step;          /* global optimizer steps done */
    long step_in_epoch; /* steps done in the current epoch */
    uint64_t round;     /* parameter version */
    uint32_t *order;    /* [train.n] chunk order of the current epoch */
    int order_epoch;    /* epoch `order` belongs to, -1 none */
    int need_eval;      /* the epoch ended: eval round due */
    double last_loss, last_train_acc;
    double epoch_loss_sum, epoch_loss_n; /* the running epoch's training loss (status: a mean, not one batch) */
    double *val_acc;                     /* [epochs], -1 not yet */
    double samples_per_s;
    long long train_started_ms;
    long long train_ms;     /* wall time inside train rounds (this run of the coordinator) */
    double train_compute_s; /* sum over those rounds of the slowest worker's compute time */
    double train_bytes;     /* bytes sent and received by those rounds */
    long train_rounds;
    long samples_done;
    int rounds_since_ckpt;
    long long last_ckpt_ms; /* when the last checkpoint (round) was taken: checkpoint_min_s counts from it */
    double last_round_s, last_round_compute_s;
    size_t last_round_bytes;
    coord_round r;

    /* INGEST runs in a thread of its own (the loop keeps serving); it reports
     * on the loop's ingest socket and the loop answers the submitter */
    pthread_t ingest_tid;
    int ingest_running, ingest_rc;
    char ingest_err[HB_ERR_LEN];
    coord_ingest_info ingest_info;
    void *ingest_zctx;
    const coord_confine *ingest_confine;
    char ingest_ep[64];
    char ingest_dir[1100];
    coord_peer ingest_peer; /* who submitted: answered when ingest ends */
    store_env *ingest_store;

    /* EMBED, HEAD, DONE (issue 6): embed.c, head.c, results.c */
    struct coord_embed *embed;
    struct coord_head *head;
    struct coord_baseline *baseline; /* baseline.c: the bag-of-words baseline's thread (issue 13) */
    char config_ignored[HB_ERR_LEN]; /* --model's config.json keys hierbert does not use (hfdir.h) */
    uint64_t event_seq;              /* the last "seq" published on topic job.N */
} coord_job;

/* ------------------------------------------------------------ coord ---- */

#define COORD_MAX_JOBS 4096
#define COORD_EVENTS_HWM 256 /* events queued per subscriber before PUB drops (loop.c s_bind) */
#define COORD_REFUSED_LOG_BURST 20 /* refused-frame warnings logged per COORD_REFUSED_LOG_MS and endpoint; */
#define COORD_REFUSED_LOG_MS 10000 /* the rest counted, said once the window ends (loop.c s_tick) */

typedef struct coord {
    coord_config cfg;
    const char *who;
    void *zctx, *work, *control, *status, *events;
    struct coord_metrics *metrics; /* HTTP /metrics (http_metrics.c), or NULL */
    coord_worker workers[COORD_MAX_WORKERS];
    coord_job *jobs[COORD_MAX_JOBS]; /* in submission order */
    int n_jobs;
    uint64_t next_job_id;
    int active; /* index of the job being run, -1 none */
    long long started_ms, last_hb_ms, last_notify_ms;
    double started_unix;
    store_env *store;      /* data_dir/store: job records, documents (embeddings, results: issue 6) */
    void *ingest;          /* PULL: background threads report a coord_bg_done here */
    struct curve_zap *zap; /* CurveZMQ allowlist (NULL: no CURVE) */
    char ingest_ep[64];
    struct coord_export *exports; /* export threads running */
    coord_confine confine;        /* dataset roots, export root */
    volatile sig_atomic_t *stop;
    const daemon_ctl *ctl; /* signals and command line (main.c), for SIGHUP */
    daemon_watchdog watchdog;
    uint64_t worker_event_seq; /* the last "seq" published on topic worker */
    hb_log_limit refused_log[2]; /* refused frames on work [0] and control [1] */
} coord;

/* What a background thread (ingest, export) sends the loop when it ends. */
typedef struct {
    enum { COORD_BG_INGEST = 1, COORD_BG_EXPORT } kind;
    uint64_t job;                /* INGEST: the job */
    struct coord_export *export; /* EXPORT: the export */
} coord_bg_done;

/* results.c: `hierbert export` runs on a thread of its own */
typedef struct coord_export {
    struct coord_export *next;
    pthread_t tid;
    coord_peer peer; /* answered when it ends */
    uint64_t job;
    char src[1200], vocab[1300], dst[1024], ep[64];
    void *zctx;
    const coord_confine *confine;
    int rc;
    char err[HB_ERR_LEN];
} coord_export;
void coord_on_export_done(coord *c, coord_export *x);
void coord_exports_join(coord *c); /* at shutdown */

int coord_new(coord **out, const coord_config *cfg, char *err);
void coord_destroy(coord **c);
/* The event loop, until *ctl->stop; WATCHDOG=1 from its tick. On
 * *ctl->hup: the log file reopened, the config re-read and its live entries
 * applied (COORD_LIVE_CONF in loop.c: heartbeat_ms, worker_expiry_ms,
 * tick_ms, checkpoint_every, max_jobs, log_file, and -v); other changes are
 * logged as needing a restart. */
int coord_run(coord *c, const daemon_ctl *ctl, char *err);

/* loop.c: sends to one worker; -1 if it is gone */
int coord_send_worker(coord *c, int w, const proto_msg *m);
/* a raw send to worker w failed (zmq_errno() still set): logged, naming
 * `what`; the worker dropped if its connection is gone */
void coord_send_failed(coord *c, int w, const char *what);
int coord_live_workers(const coord *c);
/* Job j's TRAIN/EMBED tasks go to worker k: alive, and with native bf16
 * when the job's precision is bf16 (emulated bf16 is slower than fp32). */
int coord_worker_fits(const coord_job *j, const coord_worker *k);
/* The workers fit for j; the live ones that are not are named in
 * j->skip_note (status "note"), logged when that changes. */
int coord_fit_workers(coord *c, coord_job *j);
void coord_publish(coord *c, const char *topic, const char *json);

/* jobs.c */
int coord_jobs_load(coord *c, char *err);
coord_job *coord_job_find(coord *c, uint64_t id);
int coord_reply(coord *c, const coord_peer *p, const proto_msg *m);
__attribute__((format(printf, 5, 6))) int coord_reply_error(coord *c, const coord_peer *p, uint64_t job, int code,
                                                            const char *fmt, ...);
void coord_on_submit(coord *c, const coord_peer *p, const proto_msg *m);
void coord_on_cancel(coord *c, const coord_peer *p, const proto_msg *m);
void coord_on_list(coord *c, const coord_peer *p, const proto_msg *m);
/* an ingest thread finished (its job id arrived on c->ingest) */
void coord_on_ingest_done(coord *c, uint64_t id);
void coord_jobs_join_ingest(coord *c);
void coord_jobs_tick(coord *c);
void coord_job_set_state(coord *c, coord_job *j, job_state s, const char *error);
int coord_job_save(coord *c, coord_job *j, char *err);
void coord_job_free(coord_job **j);

/* rounds.c */
int coord_train_prepare(coord *c, coord_job *j, char *err);
void coord_train_tick(coord *c, coord_job *j);
/* an Update from worker w; may take ownership of *m (a gathered shard kept until its round ends: *m = NULL) */
void coord_on_update(coord *c, int w, proto_msg **m);
/* a sharded checkpoint round's shard (the gather); may take *m */
/* A ShardState and its raw frames: what it keeps, it moves out of *m and *raw. */
void coord_on_shard_state(coord *c, int w, proto_msg **m, coord_raw *raw);
/* waits for the job's checkpoint write under way, if any */
void coord_train_join_writer(coord *c, coord_job *j);
/* the job's TRAIN state going away: its gather dropped, its write waited for */
void coord_train_release(coord_job *j);
void coord_on_worker_lost(coord *c, int w);
void coord_on_shard_ready(coord *c, int w, const proto_msg *m);
void coord_on_worker_error(coord *c, int w, const proto_msg *m); /* an Error about the active job */
void coord_train_abort(coord *c, coord_job *j);
/* frees the round buffers (accumulators, the averaged gradient) */
void coord_train_free_buffers(coord_job *j);
/* TRAIN's data order for an epoch: order[0..n) becomes a permutation of
 * the n training chunks drawn from (seed, epoch) alone (the same whatever
 * the number of workers: rounds.c). Chunks, not documents: see rounds.c. */
void coord_epoch_order(uint32_t *order, size_t n, uint64_t seed, int epoch);
double coord_job_progress(const coord_job *j);
/* status.c: {"optimizer", "schedule", "clip_norm", "weight_decay", "lr"} as TRAIN runs them (a jansson json_t *) */
void *coord_job_optim_json(const coord_job *j);

/* checkpoint.c */
typedef struct {
    uint64_t job_id, round, seed;
    long step, step_in_epoch;
    int epoch, epochs;
    size_t numel;
    float *params, *m, *v; /* m, v NULL when absent */
    double *val_acc;       /* [epochs] */
    /* version 3: what the replay after a resume needs to end in the same bits (0 in older files) */
    int n_slices;
    int n_shards; /* (version 3's spare word: 0 in files before it) */
    long samples_done;
    double epoch_loss_sum, epoch_loss_n;
} coord_checkpoint;

int coord_checkpoint_write(const char *path, const coord_checkpoint *ck, char *err);
/* coord_checkpoint_write on a thread: *out set, the write under way (-1 and
 * err: no thread). ck's params/m/v must stay unchanged until the join. */
int coord_checkpoint_start(coord_ckpt_writer **out, const char *path, const coord_checkpoint *ck, char *err);
/* 1 when the write has ended (wait: blocks until it has), then the writer
 * is freed and *rc, err, *ms (its duration) and *round are its result. */
int coord_checkpoint_join(coord_ckpt_writer **w, int wait, int *rc, char *err, long long *ms, uint64_t *round);
/* Reads path; arrays malloc'ed (free with coord_checkpoint_free). */
int coord_checkpoint_read(const char *path, coord_checkpoint *ck, char *err);
void coord_checkpoint_free(coord_checkpoint *ck);
void coord_job_dir(const coord *c, uint64_t id, char *out, size_t n);

/* embed.c: EMBED - every document's chunk vectors into the store */
void coord_embed_tick(coord *c, coord_job *j);
void coord_on_doc_embeddings(coord *c, int w, const proto_msg *m);
/* head.c: HEAD - the LSTM head trained by one worker */
void coord_head_tick(coord *c, coord_job *j);
void coord_on_head_result(coord *c, int w, const proto_msg *m);
/* both: a lost worker's work goes back to the pool; progress 0..1; state freed */
void coord_phases_worker_lost(coord *c, int w);
double coord_phases_progress(const coord_job *j);
void coord_phases_json(const coord_job *j, void *json_object); /* adds "embed"/"head" to a jansson object */
void coord_phases_release(coord_job *j);
/* baseline.c: the bag-of-words baseline (model/baseline.h) fitted on a
 * thread of its own from EMBED on; _result joins it and returns its JSON
 * (a new reference: {"method", "train_docs", "terms", "seconds", "val" and
 * "test": {"docs", "accuracy", "metrics"}}) or NULL with err (started
 * there if it was not: then DONE waits for the fit); _release
 * stops and joins it (any phase) */
void coord_baseline_start(coord *c, coord_job *j);
void *coord_baseline_result(coord *c, coord_job *j, char *err);
void coord_baseline_release(coord_job *j);

/* results.c: DONE - metrics into the job's result, the exportable model */
int coord_results_finish(coord *c, coord_job *j, const float *head_params, size_t head_numel, char *err);
void coord_on_result(coord *c, const coord_peer *p, const proto_msg *m);
/* The JSON `hierbert result --json` prints for j (its stored result when
 * DONE, else its state and error): malloc'ed, or NULL with err. Also the
 * status endpoint's "result N" (the dashboard's /api/result). */
char *coord_result_json(coord *c, coord_job *j, char *err);
void coord_on_export(coord *c, const coord_peer *p, const proto_msg *m);
/* rounds.c, for the phases after TRAIN: the job's ModelSpec (ms->config
 * points at wc) and its parameters as one packed Params frame */
void coord_model_spec(const coord_job *j, Hierbert__ModelSpec *ms, Hierbert__BertConfig *wc, int batch);
void coord_params_frame(const coord_job *j, void *zmq_msg_out);

/* status.c */
char *coord_status_json(coord *c, uint64_t job_id); /* malloc'ed; job_id 0: all */
/* jobs.c: epoch e of TRAIN ended with this mean training loss (status "train_loss") */
void coord_job_epoch_loss(coord_job *j, int e, double loss);
/* adds "phase_t" {STATE: unix time first entered} and "train_loss" [epochs]
 * (null: not yet) to a jansson object: the job record and the status */
void coord_job_history_json(const coord_job *j, void *json_object);
void coord_publish_job(coord *c, coord_job *j, const char *event);

#endif
