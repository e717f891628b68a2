/*
 * phases.h - state the coordinator keeps for EMBED and HEAD (embed.c,
 * head.c) and reads at DONE (results.c). Private to those three files.
 */
#ifndef HB_COORD_PHASES_H
#define HB_COORD_PHASES_H

#include "coord.h"

/* a document's place in EMBED */
enum { EMB_PENDING = 0, EMB_ASSIGNED, EMB_RECEIVED, EMB_STORED };

typedef struct {
    int worker;      /* registry index; -1 once lost */
    uint32_t n_docs; /* documents in it: its group's, whatever their state (the same batches) */
    uint32_t *docs;  /* [n_docs] EMBED indices */
    uint32_t wanted; /* of them, the ones assigned to it (PENDING when it was sent) */
    uint32_t left;   /* documents not yet committed */
    uint32_t got;    /* documents received */
} coord_embed_task;

/* EMBED: documents are indexed 0..n-1, training documents, then validation,
 * then test documents (coord_corpus order). */
struct coord_embed {
    size_t n;
    uint8_t *state;    /* [n] EMB_* */
    uint32_t *task_of; /* [n] the task a document is ASSIGNED/RECEIVED in */
    coord_embed_task *tasks;
    uint32_t n_tasks, cap_tasks;
    store_writer *w;
    uint32_t *unc; /* documents received, in the writer, not yet committed */
    size_t n_unc, cap_unc;
    long long unc_since_ms;
    long long retry_at_ms; /* a failed commit waits until then (doubling back-off) */
    int commit_fails;      /* consecutive failed commits */
    size_t stored, skipped, scan;
    size_t chunks_total, chunks_stored, chunks_run; /* chunks_run: embedded by this run */
    int inflight[COORD_MAX_WORKERS];
    double params_to[COORD_MAX_WORKERS]; /* joined time of the worker the final Params went to */
    int batch;
    /* the documents in fixed groups, whole documents of up to 8 batches of
     * chunks each, drawn once over all n (stored ones too): a task is a
     * group, so the worker's batches - and the bits of every vector - are
     * the same whoever computes it, after a lost worker or a restart */
    uint32_t *group_of; /* [n] */
    uint32_t *gstart;   /* [n_groups + 1] first document of each group */
    uint32_t n_groups;
    long long t0_ms, t_first_ms, t_last_ms;
    double bytes_in, bytes_out;
    long commits;
};

/* HEAD */
struct coord_head {
    int running;
    int worker;
    double worker_joined;
    uint32_t task;
    int epochs, batch;
    int n_train, n_val, n_val_chunks;
    char **val_ids; /* [n_val] in the order sent (store key order) */
    int *val_labels;
    int epochs_done;
    double *loss, *val_acc; /* [epochs] */
    int best_epoch;
    float *best_params;
    size_t numel;
    float *best_probs; /* [n_val][C] */
    long long t0_ms;
};

/* the head's shape for job j */
void coord_head_config(const coord_job *j, int *input_dim, int *units, int *dense, int *classes);

#endif
