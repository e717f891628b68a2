/*
 * optim.h - optimizers over a params_table's flat buffer: AdamW (PyTorch's
 * torch.optim.AdamW update, bit-for-bit in formulation), plain SGD, global-norm
 * gradient clipping, and the linear warm-up / linear decay schedule.
 *
 * Each is one OpenMP loop over the buffer, view by view (a view's `decay` flag
 * says whether weight decay applies to it).
 */
#ifndef HB_OPTIM_H
#define HB_OPTIM_H

#include <stddef.h>

#include "params.h"

typedef struct {
    float lr;           /* peak learning rate */
    float beta1, beta2; /* 0.9, 0.999 */
    float eps;          /* 1e-7 (Keras' default, the recipe's) */
    float weight_decay; /* 0: plain Adam with decoupled decay off */
    long warmup_steps;  /* linear 0 -> lr over these steps */
    long total_steps;   /* then linear lr -> 0 at total_steps; 0: constant after warm-up */
    float clip_norm;    /* global gradient norm cap; 0: off */
} optim_config;

/* Defaults above, lr 2e-5. */
optim_config optim_default_config(void);

typedef struct {
    optim_config cfg;
    float *m, *v; /* first and second moments, params_table layout */
    long step;    /* steps taken */
} adamw_state;

void adamw_init(adamw_state *s, const params_table *t, optim_config cfg);
void adamw_free(adamw_state *s);

/* Learning rate for step (1-based) under cfg's warm-up/decay schedule. */
float optim_lr_at(const optim_config *cfg, long step);

/* One AdamW step: clips grad if cfg.clip_norm > 0 (grad is modified), then
 * updates params in place. Returns the pre-clip global gradient norm. */
float adamw_step(adamw_state *s, const params_table *t, float *params, float *grad);

/* AdamW on floats [lo, hi) of the buffer only (one shard of a sharded
 * reduction): grad, m and v hold just that range (m[0] is float lo's);
 * grad is the mean gradient, multiplied by clip on the fly (1: unclipped),
 * step 1-based. Element for element the arithmetic of adamw_step, which is
 * this over [0, numel) after clipping grad in place. */
void adamw_step_range(const optim_config *c, long step, const params_table *t, float *params, const float *grad,
                      float clip, float *m, float *v, size_t lo, size_t hi);
/* The factor clip_grad_norm_ scales by for a global norm (1: no clipping). */
float optim_clip_coef(double norm, double max_norm);

/* params -= lr * grad over the whole buffer. */
void sgd_step(const params_table *t, float *params, const float *grad, float lr);

/* L2 norm of the whole buffer (double accumulation). */
double optim_global_norm(const params_table *t, const float *grad);
/* Scales grad so its global norm is at most max_norm; returns the norm before. */
double optim_clip_global_norm(const params_table *t, float *grad, double max_norm);

#endif
