/*
 * chunk_model.h - "a chunk classifier the daemons can train": the one
 * interface the coordinator and the workers drive, over two kinds.
 *
 *   bert  the BERT encoder of bert.h with its chunk-classification head
 *         (compiled in when model/bert.h is present);
 *   bow   a bag-of-words softmax classifier (mean of token embeddings ->
 *         Dense(C)). It is the distributed machinery's test double: tiny,
 *         exact, dropout-free, so protocol, sharding and averaging tests run
 *         in seconds and do not depend on the encoder's speed.
 *
 * Both keep every trainable float in one params_table (m->params; gradients
 * m->grads, same layout), so the daemons average, send and checkpoint one
 * buffer whatever the kind. Batches are token ids [B][T] 0-padded with the
 * count of real tokens per row (lengths [B]); labels [B] in 0..C-1.
 *
 * The spec travels as JSON (chunk_model_spec_json) in the Assign message, so
 * a worker builds the same model the coordinator initialised.
 */
#ifndef HB_CHUNK_MODEL_H
#define HB_CHUNK_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "params.h"

typedef struct {
    char kind[16];        /* "bert" | "bow" */
    char preset[32];      /* bert: preset name, or "" with model_dir */
    char model_dir[1024]; /* bert: HF directory (config.json + model.safetensors), or "" */
    int vocab_size;       /* bow: vocabulary; bert: from the config (filled by chunk_model_new) */
    int hidden;           /* bow: embedding width; bert: hidden_size (filled) */
    int num_classes;
    int max_batch;          /* per forward */
    int seq_len;            /* L */
    float dropout;          /* < 0: the model's defaults; >= 0: every dropout set to it */
    char config_json[4096]; /* bert: the encoder config as JSON (filled by chunk_model_new) */
} chunk_model_spec;

typedef struct chunk_model chunk_model;
struct chunk_model {
    chunk_model_spec spec;
    params_table *params; /* flat buffer params->data, params->numel floats */
    float *grads;
    void *impl;
    const struct chunk_model_ops *ops;
};

/* Builds the model (weights zero). For bert with model_dir the directory's
 * config.json sets the shape and its weights are loaded; with a preset the
 * weights stay zero until chunk_model_init_random. */
int chunk_model_new(chunk_model **out, const chunk_model_spec *spec, char *err);
void chunk_model_destroy(chunk_model **m);

/* Seeded random init (bert: HF's init; bow: normal(0, 0.1) embeddings). For
 * a bert loaded from a directory only the classifier is initialised. */
void chunk_model_init_random(chunk_model *m, uint64_t seed);

/* Forward + backward of the mean cross-entropy over B rows: grads are
 * overwritten with d(mean loss)/d(params). seed keys the dropout masks.
 * Returns the mean loss, *n_correct (if non-NULL) the argmax hits; NAN on
 * bad input (nothing computed). */
float chunk_model_train_batch(chunk_model *m, const int32_t *ids, const int32_t *lengths, const int32_t *labels, int B,
                              int T, uint64_t seed, int *n_correct);

/* Eval mode (no dropout): argmax predictions into pred [B] (if non-NULL);
 * returns the summed loss over the rows (labels may be NULL: 0). */
double chunk_model_eval_batch(chunk_model *m, const int32_t *ids, const int32_t *lengths, const int32_t *labels, int B,
                              int T, int32_t *pred, int *n_correct);

/* Whether this build has the bert kind. */
int chunk_model_has_bert(void);

#endif
