/* optim.c - AdamW, SGD and gradient clipping over the flat parameter buffer. */
#include "optim.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hb_error.h"

optim_config optim_default_config(void) {
    optim_config c = {0};
    c.lr = 2e-5f;
    c.beta1 = 0.9f;
    c.beta2 = 0.999f;
    c.eps = 1e-7f;
    return c;
}

void adamw_init(adamw_state *s, const params_table *t, optim_config cfg) {
    memset(s, 0, sizeof *s);
    s->cfg = cfg;
    s->m = params_new_buffer(t);
    s->v = params_new_buffer(t);
}

void adamw_free(adamw_state *s) {
    params_free_buffer(s->m);
    params_free_buffer(s->v);
    memset(s, 0, sizeof *s);
}

static const char *const s_schedule_names[] = {"linear", "constant", "cosine"};

int optim_schedule_parse(const char *name, optim_schedule *out, char *err) {
    for (int k = 0; k < 3; k++)
        if (!strcmp(name, s_schedule_names[k])) {
            *out = (optim_schedule)k;
            return 0;
        }
    return hb_fail(err, "schedule '%.64s': expected constant, linear or cosine", name);
}

const char *optim_schedule_name(optim_schedule s) {
    return (unsigned)s < 3 ? s_schedule_names[s] : "?";
}

int optim_job_settings(optim_config *cfg, const char *schedule, float clip_norm, float weight_decay, int adamw,
                       char *err) {
    cfg->schedule = OPTIM_JOB_SCHEDULE;
    if (schedule && schedule[0] && optim_schedule_parse(schedule, &cfg->schedule, err)) return -1;
    if (isnan(clip_norm) || clip_norm >= 1e6f)
        return hb_fail(err, "clip norm %g: expected 0 (off) or a positive number below 1e6", clip_norm);
    cfg->clip_norm = clip_norm >= 0 ? clip_norm : (adamw ? OPTIM_JOB_CLIP_NORM : 0.0f);
    if (isnan(weight_decay) || weight_decay >= 1)
        return hb_fail(err, "weight decay %g: expected a number in [0, 1)", weight_decay);
    cfg->weight_decay = weight_decay >= 0 ? weight_decay : 0.0f;
    return 0;
}

float optim_lr_at(const optim_config *cfg, long step) {
    const long W = cfg->warmup_steps, T = cfg->total_steps;
    if (W > 0 && step <= W) return cfg->lr * (float)step / (float)W;
    if (cfg->schedule == OPTIM_SCHEDULE_CONSTANT || T <= 0) return cfg->lr;
    if (step >= T || T - W <= 0) return 0.0f;
    double progress = (double)(step - W) / (double)(T - W);
    if (cfg->schedule == OPTIM_SCHEDULE_COSINE) return (float)(cfg->lr * 0.5 * (1.0 + cos(M_PI * progress)));
    return cfg->lr * (float)(T - step) / (float)(T - W);
}

/* fixed blocks, their partial sums added in block order: the same bits
 * whatever the threads (an OpenMP reduction combines the threads' partials
 * in the order they finish) */
#define S_SQ_BLOCK 65536
double optim_sq_sum(const float *x, size_t n) {
    size_t nb = (n + S_SQ_BLOCK - 1) / S_SQ_BLOCK;
    double stack[64], *part = nb <= 64 ? stack : hb_malloc(nb * sizeof(double));
#pragma omp parallel for schedule(static)
    for (size_t b = 0; b < nb; b++) {
        size_t i0 = b * S_SQ_BLOCK, i1 = i0 + S_SQ_BLOCK < n ? i0 + S_SQ_BLOCK : n;
        double s = 0.0;
        /* in order, one float after another (a chain of dependent adds:
         * ~1 ns a float), but a run of 16 floats that are all +0 is
         * skipped: s + (+0)(+0) == s, as s is never -0, so the bits are
         * those of the plain loop. Row-sparse gradients (the word
         * embeddings' untouched rows) are mostly such runs. */
        size_t i = i0;
        for (; i + 16 <= i1; i += 16) {
            uint32_t any = 0;
            for (int k = 0; k < 16; k++) {
                uint32_t u;
                memcpy(&u, x + i + k, 4);
                any |= u;
            }
            if (!any) continue;
            for (int k = 0; k < 16; k++) s += (double)x[i + k] * x[i + k];
        }
        for (; i < i1; i++) s += (double)x[i] * x[i];
        part[b] = s;
    }
    double ss = 0.0;
    for (size_t b = 0; b < nb; b++) ss += part[b];
    if (part != stack) free(part);
    return ss;
}

double optim_global_norm(const params_table *t, const float *grad) {
    return sqrt(optim_sq_sum(grad, t->numel));
}

float optim_clip_coef(double norm, double max_norm) {
    /* torch.nn.utils.clip_grad_norm_: coef = max_norm / (norm + 1e-6) */
    return max_norm > 0 && norm > max_norm ? (float)(max_norm / (norm + 1e-6)) : 1.0f;
}

double optim_clip_global_norm(const params_table *t, float *grad, double max_norm) {
    double norm = optim_global_norm(t, grad);
    float coef = optim_clip_coef(norm, max_norm);
    if (coef != 1.0f) {
        size_t n = t->numel;
#pragma omp parallel for schedule(static)
        for (size_t i = 0; i < n; i++) grad[i] *= coef;
    }
    return norm;
}

void adamw_step_range(const optim_config *c, long step, const params_table *t, float *params, const float *grad,
                      float clip, float *m, float *v, size_t lo, size_t hi) {
    const float lr = optim_lr_at(c, step);
    const float b1 = c->beta1, b2 = c->beta2, eps = c->eps;
    /* torch.optim.AdamW (non-amsgrad, single tensor path), in float32 */
    const float bc1 = 1.0f - powf(b1, (float)step);
    const float bc2_sqrt = sqrtf(1.0f - powf(b2, (float)step));
    const float step_size = lr / bc1;
    for (int vi = 0; vi < t->nviews; vi++) {
        const params_view *pv = &t->views[vi];
        size_t a = pv->offset > lo ? pv->offset : lo, b = pv->offset + pv->numel < hi ? pv->offset + pv->numel : hi;
        if (a >= b) continue;
        float *p = params + a, *mm = m + (a - lo), *vv = v + (a - lo);
        const float *g = grad + (a - lo);
        const float decay = pv->decay ? 1.0f - lr * c->weight_decay : 1.0f;
        const size_t n = b - a;
#pragma omp parallel for schedule(static) if (n > 4096)
        for (size_t i = 0; i < n; i++) {
            float gi = clip == 1.0f ? g[i] : g[i] * clip; /* = the clipped gradient adamw_step sees */
            float pi = p[i] * decay;
            float mi = mm[i] * b1 + (1.0f - b1) * gi;
            float vi2 = vv[i] * b2 + (1.0f - b2) * gi * gi;
            mm[i] = mi;
            vv[i] = vi2;
            p[i] = pi - step_size * mi / (sqrtf(vi2) / bc2_sqrt + eps);
        }
    }
}

float adamw_step(adamw_state *s, const params_table *t, float *params, float *grad) {
    const optim_config *c = &s->cfg;
    double norm = c->clip_norm > 0 ? optim_clip_global_norm(t, grad, c->clip_norm) : -1.0;
    s->step++;
    adamw_step_range(c, s->step, t, params, grad, 1.0f, s->m, s->v, 0, t->numel);
    if (norm < 0) norm = 0; /* not computed when clipping is off */
    return (float)norm;
}

void sgd_step(const params_table *t, float *params, const float *grad, float lr) {
    size_t n = t->numel;
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) params[i] -= lr * grad[i];
}
