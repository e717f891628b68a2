/*
 * optim.h - optimizers over a params_table's flat buffer: AdamW (PyTorch's
 * torch.optim.AdamW update, bit-for-bit in formulation), plain SGD, global-norm
 * gradient clipping, and the learning-rate schedules: a linear warm-up, then
 * constant, linear decay to 0 or cosine decay to 0 (Hugging Face's
 * get_{constant,linear,cosine}_schedule_with_warmup, see optim_lr_at).
 *
 * Each is one OpenMP loop over the buffer, view by view (a view's `decay` flag
 * says whether weight decay applies to it).
 */
#ifndef HB_OPTIM_H
#define HB_OPTIM_H

#include <stddef.h>

#include "params.h"

/* What the rate does after the warm-up. LINEAR is 0: a zeroed config keeps
 * the schedule this library had before there was a choice. */
typedef enum { OPTIM_SCHEDULE_LINEAR = 0, OPTIM_SCHEDULE_CONSTANT = 1, OPTIM_SCHEDULE_COSINE = 2 } optim_schedule;

typedef struct {
    float lr;           /* peak learning rate */
    float beta1, beta2; /* 0.9, 0.999 */
    float eps;          /* 1e-7 (Keras' default, the recipe's) */
    float weight_decay; /* 0: plain Adam with decoupled decay off */
    long warmup_steps;  /* linear 0 -> lr over these steps */
    long total_steps;   /* LINEAR/COSINE reach 0 at total_steps; 0: constant after warm-up */
    float clip_norm;    /* global gradient norm cap; 0: off */
    optim_schedule schedule;
} optim_config;

/* "constant" | "linear" | "cosine" (Hugging Face Trainer's lr_scheduler_type
 * names) -> *out; -1 (err names the value and the choices) otherwise. */
int optim_schedule_parse(const char *name, optim_schedule *out, char *err);
const char *optim_schedule_name(optim_schedule s);

/* A training job's recipe defaults, where the submitter left them unset:
 * the seed's own recipe (Keras' Adam at a fixed rate: constant after the
 * warm-up, no clipping), which the schedule study in the README found at
 * least as good as linear decay with clipping at 1.0 (the default before
 * issue 13). OPTIM_JOB_CLIP_NORM applies to AdamW; SGD stays unclipped
 * (the cluster-equivalence test's exact step). */
#define OPTIM_JOB_SCHEDULE OPTIM_SCHEDULE_CONSTANT
#define OPTIM_JOB_CLIP_NORM 0.0f

/* A job's schedule, clipping and weight decay into cfg: schedule "" and
 * clip_norm / weight_decay < 0 mean "unset" (the defaults above; weight
 * decay 0). Fails naming a bad value: an unknown schedule, a negative,
 * non-finite or absurd (>= 1e6) clip norm, a weight decay outside [0, 1). */
int optim_job_settings(optim_config *cfg, const char *schedule, float clip_norm, float weight_decay, int adamw,
                       char *err);

/* Defaults above, lr 2e-5. */
optim_config optim_default_config(void);

typedef struct {
    optim_config cfg;
    float *m, *v; /* first and second moments, params_table layout */
    long step;    /* steps taken */
} adamw_state;

void adamw_init(adamw_state *s, const params_table *t, optim_config cfg);
void adamw_free(adamw_state *s);

/* Learning rate for step (1-based: the step about to be taken) under cfg's
 * schedule, W = warmup_steps, T = total_steps:
 *   step <= W:  lr * step / W
 *   after:      CONSTANT lr; LINEAR lr * (T - step) / (T - W);
 *               COSINE lr * 0.5 * (1 + cos(pi * (step - W) / (T - W)));
 *               0 from step T on (LINEAR, COSINE); T = 0: constant.
 * That is lr * lambda(step) with Hugging Face's lambda at the 1-based step;
 * HF's LambdaLR evaluates lambda(step - 1) (its first step, with warm-up,
 * takes lr 0), so this schedule runs one step ahead of HF's. */
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
/* sum of x[i]^2 in double, in a fixed order (the same bits whatever the threads) */
double optim_sq_sum(const float *x, size_t n);
/* Scales grad so its global norm is at most max_norm; returns the norm before. */
double optim_clip_global_norm(const params_table *t, float *grad, double max_norm);

#endif
