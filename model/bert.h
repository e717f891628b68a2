/*
 * bert.h - a BERT encoder with a chunk-classification head that trains on
 * CPU: forward, backward, dropout, random init, HF-compatible load/save.
 *
 * Model (Hugging Face BertModel, post-LN): x0 = LayerNorm(word[id] +
 * position[t] + token_type[tt]), dropout; per layer: self-attention with an
 * additive large negative on masked keys (as HF), dense, dropout, residual,
 * LayerNorm; dense, exact erf GELU, dense, dropout, residual, LayerNorm. The
 * head reads the final hidden state at position 0 ([CLS], not the pooler):
 * dropout (classifier_dropout, default 0.2), Dense(C), softmax cross-entropy
 * averaged over the batch.
 *
 * Parameters live in one params_table (m->params, flat buffer
 * m->params.data) under HF's names, weights in HF's [out, in] layout:
 *   embeddings.{word,position,token_type}_embeddings.weight, embeddings.LayerNorm.{weight,bias},
 *   encoder.layer.N.attention.self.{query,key,value}.{weight,bias},
 *   encoder.layer.N.attention.output.dense.{weight,bias}, ...attention.output.LayerNorm.{weight,bias},
 *   encoder.layer.N.intermediate.dense.{weight,bias}, encoder.layer.N.output.dense.{weight,bias},
 *   encoder.layer.N.output.LayerNorm.{weight,bias}, classifier.weight [C,H], classifier.bias [C].
 * m->grads has the same layout. Activations live in one arena sized at
 * bert_new for (max_batch, max_seq); a forward may use any B <= max_batch,
 * T <= max_seq.
 *
 * Threads: matrix products go through mm_gemm (matmul.h) in the model's
 * precision: fp32 by default (cblas_sgemm: OpenBLAS, OpenMP build: it uses
 * libgomp's pool, omp_get_max_threads() threads, and runs single-threaded
 * when called inside our parallel regions), or bf16 after bert_set_precision
 * (oneDNN, the same pool, the same rule); everything else is OpenMP loops.
 *
 * Precision: bf16 rounds the inputs of every matrix product (forward and
 * backward, attention included) to bf16 and accumulates and writes fp32. The
 * weights' bf16 copy (2 bytes per non-embedding parameter) is made once per
 * forward, so a training step (forward + backward) converts them once and a
 * write into params.data by anyone (an optimizer, a received Params) is seen
 * by the next forward. Master weights, gradients, optimizer moments,
 * LayerNorm, softmax, GELU, dropout and the loss stay fp32.
 * Set the thread count with omp_set_num_threads / OMP_NUM_THREADS before
 * bert_new (per-thread scratch is sized then; more threads later are capped).
 *
 * Determinism: dropout masks come from a counter-based hash, so they do not
 * depend on the thread count; reductions run in a fixed order. Same seed,
 * same thread count: same bits. The hash is keyed one of two ways:
 *  - by forward (the default): (seed, training forwards since bert_set_seed,
 *    site, element index in the batch) - a sample's masks depend on its
 *    place in the batch;
 *  - by sample (bert_set_dropout_samples): (seed, step, the sample's id,
 *    site, (head, query, key) or (position, feature)) - a sample's masks
 *    are the same whichever batch, slice, worker or trimmed length it is
 *    computed in (a distributed run recomputing a lost slice elsewhere
 *    gets the same bits: coordinator/rounds.c).
 *
 * The last layer computes the [CLS] rows only (its keys and values still
 * cover every position): nothing else of it reaches the head or the [CLS]
 * vectors, so the results are HF's, for less work. Hidden states of the other
 * positions of the last layer are therefore not available.
 *
 * Trailing positions masked in every sequence of a batch are trimmed before
 * the work starts (same results: their keys get zero attention and their
 * queries never reach [CLS]); m->T is the trimmed length. In bf16 the length
 * is rounded up to a multiple of 16 (at most the given T): oneDNN primitives
 * are made per shape, and this bounds them to L/16 lengths.
 *
 * Caveats: bert_backward uses the activations of the last bert_forward,
 * which must have had labels (it needs the loss gradient); it does nothing
 * otherwise. The key bias gets no gradient (exactly 0): a shift of every score
 * of a row by q.b_k is invisible to softmax, so its true gradient is 0 and the
 * float sum would be rounding noise. Gradients accumulate (+=) into m->grads:
 * call bert_zero_grad first (bert_train_step does). A model is not thread-safe:
 * one forward/backward at a time.
 */
#ifndef HB_BERT_H
#define HB_BERT_H

#include <stddef.h>
#include <stdint.h>

#include "bert_config.h"
#include "matmul.h"
#include "optim.h"
#include "params.h"

/* Offsets (in floats) of one layer's tensors in any params-layout buffer. */
typedef struct {
    size_t q_w, q_b, k_w, k_b, v_w, v_b; /* [H,H], [H] */
    size_t ao_w, ao_b, ln1_w, ln1_b;     /* attention.output.dense [H,H], LayerNorm [H] */
    size_t i_w, i_b;                     /* intermediate.dense [I,H], [I] */
    size_t o_w, o_b, ln2_w, ln2_b;       /* output.dense [H,I], [H]; LayerNorm [H] */
} bert_layer_offsets;

typedef struct bert_acts bert_acts; /* activation arena (bert.c) */

typedef struct bert_model {
    bert_config cfg;
    int num_classes, max_batch, max_seq;
    params_table params; /* params.data: the weights */
    float *grads;        /* same layout */
    /* offsets into params/grads */
    size_t word_emb, pos_emb, type_emb, emb_ln_w, emb_ln_b, cls_w, cls_b;
    bert_layer_offsets *layer; /* [num_hidden_layers] */
    bert_acts *acts;
    /* state of the last forward */
    int B, T, train, has_labels;
    float loss;
    float *logits;      /* [B, C] of the last forward */
    uint64_t seed;      /* dropout seed (bert_init_random or bert_set_seed) */
    uint64_t n_forward; /* training forwards so far: part of the dropout key (by forward) */
    uint64_t drop_key;  /* key of the last forward's masks (by forward) */
    uint64_t *drop_keys; /* [max_batch] per-sample keys (by sample), valid when n_drop_keys > 0 */
    int n_drop_keys;     /* 0: masks keyed by forward */
    int nthreads;       /* per-thread scratch count, omp_get_max_threads() at bert_new */
    /* Optional, called by bert_backward as gradients become final, last
     * layer first: every float of grads at offset >= from will not change
     * again in this backward (from = 0 at its end). Lets a caller send
     * gradients while backward goes on (worker/peers.h). NULL: none. */
    void (*grad_ready)(void *ctx, size_t from);
    void *grad_ready_ctx;
    /* Optional, called by a training bert_forward before it reads parameters:
     * every float of params below `hi` must be in place on return (the
     * embeddings, then layer by layer: the flat buffer's order). Lets a
     * caller receive updated parameters while forward goes on
     * (worker/peers.h); nonzero: forward gives up (returns NAN). NULL: none. */
    int (*param_wait)(void *ctx, size_t hi);
    void *param_wait_ctx;
    mm_backend *mm;     /* matrix products in the model's precision (fp32 at bert_new) */
} bert_model;

/* Builds a model of config c with a C-class head and an arena for batches up
 * to max_batch x max_seq (max_seq <= max_position_embeddings). Weights zero
 * until bert_init_random or bert_load_dir. */
int bert_new(bert_model **out, const bert_config *c, int num_classes, int max_batch, int max_seq, char *err);
void bert_destroy(bert_model **m);
/* Chooses the precision of every matrix product from now on (fp32 at
 * bert_new). bf16 on a CPU without native bf16 (cpu_features.h): -1, the
 * reason in err, the model unchanged. */
int bert_set_precision(bert_model *m, mm_precision p, char *err);

/* HF's init, seeded: weights and embeddings normal(0, 0.02), biases 0,
 * LayerNorm 1/0, classifier TruncatedNormal(0.02) (within 2 std), zero bias.
 * Also sets the dropout seed. */
void bert_init_random(bert_model *m, uint64_t seed);
/* Classifier only: TruncatedNormal(0.02) weight, zero bias (after loading an
 * encoder that had no head). */
void bert_init_classifier(bert_model *m, uint64_t seed);
/* The dropout seed; masks keyed by forward again (n_forward restarts at 0). */
void bert_set_seed(bert_model *m, uint64_t seed);
/* Keys the masks of the next training forwards by sample: row b of the
 * batch (b < n) is sample sample_ids[b] of optimizer step `step`, its masks
 * a function of (seed, step, sample_ids[b]) alone. A forward of more than n
 * rows is refused (NAN). n <= 0 or ids NULL: keyed by forward again.
 * n <= max_batch. */
void bert_set_dropout_samples(bert_model *m, uint64_t step, const uint32_t *sample_ids, int n);

/* Weights I/O. A directory holds config.json + model.safetensors (HF). Load
 * checks config.json matches m->cfg (shapes), then reads every tensor;
 * classifier.* may be absent (kept as is; *has_head, if given, says 0).
 * Save writes both files (atomic per file). */
int bert_load_dir(bert_model *m, const char *dir, char *err);
int bert_load_dir_ex(bert_model *m, const char *dir, int *has_head, char *err);
int bert_save_dir(const bert_model *m, const char *dir, char *err);
int bert_load_safetensors(bert_model *m, const char *path, int *has_head, char *err);
int bert_save_safetensors(const bert_model *m, const char *path, char *err);
/* Reads dir/config.json, builds the model, random-inits the head (seed) and
 * loads the weights: the one call for "a real HF directory". */
int bert_new_from_dir(bert_model **out, const char *dir, int num_classes, int max_batch, int max_seq, uint64_t seed,
                      char *err);

/* Forward over ids [B,T] (token_type may be NULL: all 0; mask [B,T], 1 =
 * real token, NULL: all 1; labels [B] in 0..C-1 or NULL). train != 0:
 * dropout on. Returns the mean cross-entropy if labels, else 0; NAN if a
 * label or id is out of range or B/T exceed the arena. Logits in m->logits. */
float bert_forward(bert_model *m, const int32_t *ids, const int32_t *token_type, const uint8_t *mask,
                   const int32_t *labels, int B, int T, int train);
/* Accumulates d(loss)/d(params) of the last forward into m->grads. */
void bert_backward(bert_model *m);
void bert_zero_grad(bert_model *m);

/* Eval mode (no dropout), token types 0: final-layer [CLS] vectors into
 * out_BxH, logits into logits_BxC if not NULL. -1 when B/T exceed the arena
 * or an id is out of range (nothing written). */
int bert_embed_cls(bert_model *m, const int32_t *ids, const uint8_t *mask, int B, int T, float *out_BxH,
                   float *logits_BxC);
/* The final-layer [CLS] vectors [B,H] of the last forward (before the head's dropout). */
void bert_cls_vectors(const bert_model *m, float *out_BxH);

/* One training step: zero_grad, forward (train), backward, adamw_step.
 * Returns the loss (NAN on bad input, nothing updated). */
float bert_train_step(bert_model *m, adamw_state *opt, const int32_t *ids, const int32_t *token_type,
                      const uint8_t *mask, const int32_t *labels, int B, int T);

/* FLOPs of one forward over B x T (matrix products only, 2 per multiply-add,
 * every position of every layer + the head, as HF/PyTorch compute it): what
 * the benchmark reports. Training counts 3x (forward + two products per
 * weight in backward). */
double bert_forward_flops(const bert_config *c, int num_classes, int B, int T);
/* The same for what this code executes (the last layer on [CLS] rows only). */
double bert_forward_flops_executed(const bert_config *c, int num_classes, int B, int T);

#endif
