/*
 * lstm.h - the document classifier over chunk vectors: the Keras head
 *
 *     Masking -> LSTM(units) -> Dense(dense_units, relu) -> Dense(n_classes) -> softmax
 *
 * trained with softmax cross-entropy (mean over the batch). A batch holds
 * documents with different numbers of chunks. The semantics are Keras'
 * Masking with post-padding: past a document's last chunk the LSTM state is
 * carried over unchanged, so the head reads the hidden state after the last
 * valid chunk and no padded step affects the result or the gradients.
 * Internally there is no padding at all: documents are sorted by length and
 * packed time-major (PyTorch's PackedSequence layout), so step t only
 * computes the documents that have a chunk t.
 *
 * Parameters (one params_table, Keras layout: kernels are [in, out]):
 *   lstm.kernel            [input_dim, 4*units]
 *   lstm.recurrent_kernel  [units, 4*units]
 *   lstm.bias              [4*units]
 *   dense.kernel           [units, dense_units]
 *   dense.bias             [dense_units]
 *   out.kernel             [dense_units, n_classes]
 *   out.bias               [n_classes]
 * The 4*units columns are the gates in Keras order i, f, c, o (input,
 * forget, cell candidate, output). PyTorch's nn.LSTM uses i, f, g, o: the same
 * order (g is Keras' c), so weight_ih_l0 = lstm.kernel^T, weight_hh_l0 =
 * lstm.recurrent_kernel^T, bias_ih_l0 = lstm.bias, bias_hh_l0 = 0;
 * nn.Linear weights are the transposed dense/out kernels.
 *
 * Init (Keras defaults): glorot-uniform kernels, orthogonal recurrent kernel
 * (QR of a Gaussian matrix, sign-corrected), forget-gate bias 1, other biases 0.
 *
 * Compute: one cblas_sgemm projects every (document, chunk) row at once
 * (X[N, D] x W[D, 4U]), then one sgemm per step for the recurrent part over
 * the documents still running; backward mirrors it (BPTT) with one sgemm
 * each for the input and recurrent kernel gradients. Elementwise gate math
 * is OpenMP-parallel when a step is large enough to pay for it.
 *
 * A model is not thread-safe: forward/backward use the model's workspace.
 */
#ifndef HB_LSTM_H
#define HB_LSTM_H

#include <stdint.h>

#include "hb_error.h"
#include "optim.h"
#include "params.h"

typedef struct {
    int input_dim;   /* D: the encoder's hidden size (768 for BERT-base) */
    int units;       /* U: 100 in the recipe */
    int dense_units; /* 30 */
    int n_classes;   /* C */
} lstm_config;

/* A batch of documents: document b has lens[b] >= 1 chunk vectors, rows of
 * x[b] ([lens[b], input_dim], row-major). labels[b] in 0..C-1, or labels
 * NULL for prediction. The arrays are the caller's; nothing is copied
 * beyond the forward pass. */
typedef struct {
    int n_docs;
    const int *lens;
    const float *const *x;
    const int *labels;
} lstm_batch;

/* Indices of the views in params (see the list above). */
enum {
    LSTM_P_KERNEL = 0,
    LSTM_P_RECURRENT,
    LSTM_P_BIAS,
    LSTM_P_DENSE_W,
    LSTM_P_DENSE_B,
    LSTM_P_OUT_W,
    LSTM_P_OUT_B,
    LSTM_P_COUNT
};

typedef struct lstm_work lstm_work;

typedef struct {
    lstm_config cfg;
    params_table params; /* weights; params.data is the flat buffer */
    float *grad;         /* same layout: filled by lstm_backward */
    lstm_work *work;     /* activations of the last forward, private */
} lstm_model;

/* Validates cfg (all sizes >= 1, classes >= 2), declares the parameters,
 * allocates them and the gradient, and initialises with Keras' defaults
 * from seed. */
int lstm_new(lstm_model **out, const lstm_config *cfg, uint64_t seed, char *err);
void lstm_destroy(lstm_model **m);
/* Re-draws all parameters with Keras' defaults (glorot/orthogonal/unit forget bias). */
void lstm_init_keras(lstm_model *m, uint64_t seed);

/* Forward pass over a batch. probs (optional, [n_docs, C], batch order)
 * receives the softmax; loss (optional) the mean cross-entropy, which needs
 * labels. Keeps the activations for lstm_backward. Refuses a document with
 * 0 chunks, a label out of range, or a NaN/Inf input, naming the document. */
int lstm_forward(lstm_model *m, const lstm_batch *b, float *loss, float *probs, char *err);
/* Gradient of the mean loss of the last forward (which had labels) into
 * m->grad (overwritten). */
int lstm_backward(lstm_model *m, char *err);
/* probs [n_docs, C] only (labels ignored). */
int lstm_predict(lstm_model *m, const lstm_batch *b, float *probs, char *err);

/* One pass over batches in the given order: forward, backward, one
 * optimizer step each. mean_loss (optional) gets the document-weighted mean
 * loss, correct (optional) the number of documents argmax-predicted right
 * (during training, before each step). */
int lstm_train_epoch(lstm_model *m, adamw_state *opt, const lstm_batch *batches, int n_batches, double *mean_loss,
                     long *correct, char *err);

/* The head's optimizer: Adam, lr 1e-3, betas 0.9/0.999, eps 1e-7 (Keras'
 * defaults), no weight decay, no clipping. The update is torch.optim.Adam's
 * (model/optim.c); Keras' Adam differs only in where eps sits
 * (lr_t * m / (sqrt(v) + eps) with lr_t = lr * sqrt(1 - b2^t) / (1 - b1^t)),
 * i.e. Keras' eps is ours times sqrt(1 - b2^t): a difference below 1e-7
 * once gradients are not tiny. */
optim_config lstm_default_optim(void);

/* head.safetensors: the parameters under their names above (F32), written
 * atomically. lstm_load builds the model from the file alone: the sizes
 * are read from the tensors' shapes (lstm.kernel [D, 4U], dense.kernel
 * [U, H], out.kernel [H, C]) and every tensor must be present with a
 * consistent shape, or the error names the file and tensor. */
int lstm_save(const lstm_model *m, const char *path, char *err);
int lstm_load(lstm_model **out, const char *path, char *err);

#endif
