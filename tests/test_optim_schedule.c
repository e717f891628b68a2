/*
 * test_optim_schedule.c - the learning-rate schedules (model/optim.h) are
 * Hugging Face's get_{constant,linear,cosine}_schedule_with_warmup:
 * optim_lr_at(step) equals lr * lambda(step) with lambda transcribed below
 * from transformers/optimization.py (num_cycles 0.5), at every step of
 * several (warm-up, total) shapes; the one-step shift against HF's LambdaLR
 * (which evaluates lambda(step - 1) at the step-th optimizer step) is
 * checked as a property of HF's formula itself. Also: the names parse, bad
 * names and values are refused with a message, the job defaults fill unset
 * values, and adamw_step takes its rate from the schedule.
 */
#include <math.h>
#include <string.h>

#include "check.h"
#include "hb_error.h"
#include "optim.h"
#include "params.h"

/* transformers.optimization, the lr_lambda of each get_*_schedule_with_warmup */
static double s_hf_lambda(const char *kind, long step, long W, long T) {
    if (step < W) return (double)step / (double)(W > 1 ? W : 1);
    if (!strcmp(kind, "constant")) return 1.0;
    long span = T - W > 1 ? T - W : 1;
    if (!strcmp(kind, "linear")) {
        double v = (double)(T - step) / (double)span;
        return v > 0 ? v : 0;
    }
    double progress = (double)(step - W) / (double)span;
    double v = 0.5 * (1.0 + cos(M_PI * 0.5 * 2.0 * progress));
    return v > 0 ? v : 0;
}

int main(void) {
    char err[HB_ERR_LEN];
    static const char *const kinds[] = {"constant", "linear", "cosine"};
    static const long shapes[][2] = {{0, 10}, {3, 10}, {10, 100}, {1, 2}, {7, 7}, {0, 1}};
    const float lr = 3e-4f;
    long compared = 0;
    for (int k = 0; k < 3; k++) {
        optim_schedule sch;
        CHECK_OK(optim_schedule_parse(kinds[k], &sch, err), err);
        CHECK(!strcmp(optim_schedule_name(sch), kinds[k]), "name of %s: %s", kinds[k], optim_schedule_name(sch));
        for (size_t q = 0; q < sizeof shapes / sizeof shapes[0]; q++) {
            optim_config c = optim_default_config();
            c.lr = lr;
            c.schedule = sch;
            c.warmup_steps = shapes[q][0];
            c.total_steps = shapes[q][1];
            for (long t = 1; t <= c.total_steps + 2; t++) {
                double want = lr * s_hf_lambda(kinds[k], t, c.warmup_steps, c.total_steps);
                /* past T HF's cosine rises again (its half cycle ends at T); ours stays at 0 like linear */
                if (strcmp(kinds[k], "constant") && t > c.total_steps && t > c.warmup_steps) want = 0;
                /* warm-up over the whole run (W = T): our last step is the warm-up's peak; HF's lambda(T) is 0
                 * there (whenever T > W both give lambda(W) = 1) */
                if (t == c.warmup_steps && t == c.total_steps) want = lr;
                double got = optim_lr_at(&c, t);
                CHECK(fabs(got - want) <= 1e-6 * lr, "%s W=%ld T=%ld step %ld: %.9g, HF's lambda gives %.9g", kinds[k],
                      c.warmup_steps, c.total_steps, t, got, want);
                compared++;
            }
        }
    }
    t_ok("optim_lr_at = lr * HF lambda(step) for constant/linear/cosine, 6 (warm-up, total) shapes: %ld steps",
         compared);

    /* the shift: HF's LambdaLR gives the step-th step (1-based) lambda(step - 1); ours gives lambda(step).
     * With warm-up W, HF's first step has rate 0 and reaches the peak at step W + 1; ours at step W. */
    {
        optim_config c = optim_default_config();
        c.lr = 1.0f;
        c.warmup_steps = 4;
        c.total_steps = 20;
        c.schedule = OPTIM_SCHEDULE_CONSTANT;
        CHECK(s_hf_lambda("constant", 0, 4, 20) == 0.0 && optim_lr_at(&c, 1) == 0.25f, "first step");
        CHECK(s_hf_lambda("constant", 4, 4, 20) == 1.0 && optim_lr_at(&c, 4) == 1.0f, "peak at step W");
        t_ok("one step ahead of HF's LambdaLR: step 1 takes lr/W (HF: 0), the peak comes at step W (HF: W+1)");
    }

    /* shapes that tell the schedules apart */
    {
        optim_config c = optim_default_config();
        c.lr = 1.0f;
        c.warmup_steps = 10;
        c.total_steps = 110;
        c.schedule = OPTIM_SCHEDULE_CONSTANT;
        CHECK(optim_lr_at(&c, 60) == 1.0f && optim_lr_at(&c, 110) == 1.0f && optim_lr_at(&c, 500) == 1.0f,
              "constant after warm-up");
        c.schedule = OPTIM_SCHEDULE_LINEAR;
        CHECK(fabsf(optim_lr_at(&c, 60) - 0.5f) < 1e-6f && optim_lr_at(&c, 110) == 0.0f, "linear: half way, 0 at T");
        c.schedule = OPTIM_SCHEDULE_COSINE;
        CHECK(fabsf(optim_lr_at(&c, 60) - 0.5f) < 1e-6f, "cosine half way: %g", optim_lr_at(&c, 60));
        CHECK(fabsf(optim_lr_at(&c, 35) - (float)(0.5 * (1 + cos(M_PI * 0.25)))) < 1e-6f, "cosine a quarter in");
        CHECK(optim_lr_at(&c, 35) > 0.85f, "cosine is above linear (0.75) early: %g", optim_lr_at(&c, 35));
        optim_config z;
        memset(&z, 0, sizeof z);
        CHECK(z.schedule == OPTIM_SCHEDULE_LINEAR, "a zeroed config is linear");
        t_ok("constant stays at lr to the end; linear and cosine are lr/2 half way and 0 at T; cosine 0.854 a "
             "quarter in (linear 0.75); a zeroed config is linear");
    }

    /* names and job settings */
    optim_schedule sch;
    CHECK(optim_schedule_parse("", &sch, err) == -1, "empty name accepted");
    CHECK(optim_schedule_parse("Linear", &sch, err) == -1 && strstr(err, "'Linear'") && strstr(err, "cosine"),
          "bad name: %s", err);
    t_ok("bad schedule name refused: %s", err);
    optim_config c = optim_default_config();
    CHECK_OK(optim_job_settings(&c, "", -1, -1, 1, err), err);
    CHECK(c.schedule == OPTIM_JOB_SCHEDULE && c.clip_norm == OPTIM_JOB_CLIP_NORM && c.weight_decay == 0,
          "adamw defaults: %s clip %g wd %g", optim_schedule_name(c.schedule), c.clip_norm, c.weight_decay);
    CHECK_OK(optim_job_settings(&c, "", -1, -1, 0, err), err);
    CHECK(c.clip_norm == 0, "sgd default clip %g", c.clip_norm);
    CHECK_OK(optim_job_settings(&c, "cosine", 0, 0.01f, 1, err), err);
    CHECK(c.schedule == OPTIM_SCHEDULE_COSINE && c.clip_norm == 0 && fabsf(c.weight_decay - 0.01f) < 1e-9f,
          "explicit values");
    CHECK_OK(optim_job_settings(&c, "linear", 0.5f, 0, 1, err), err);
    CHECK(c.schedule == OPTIM_SCHEDULE_LINEAR && c.clip_norm == 0.5f && c.weight_decay == 0, "explicit values 2");
    CHECK(optim_job_settings(&c, "step", -1, -1, 1, err) == -1 && strstr(err, "'step'"), "schedule: %s", err);
    CHECK(optim_job_settings(&c, "", NAN, -1, 1, err) == -1 && strstr(err, "clip norm"), "nan clip: %s", err);
    CHECK(optim_job_settings(&c, "", 2e6f, -1, 1, err) == -1 && strstr(err, "clip norm"), "huge clip: %s", err);
    CHECK(optim_job_settings(&c, "", -1, 1.5f, 1, err) == -1 && strstr(err, "weight decay 1.5"), "wd: %s", err);
    t_ok("job settings: unset -> %s, clip %g (adamw) / 0 (sgd), weight decay 0; explicit ones kept; bad ones refused "
         "(%s)",
         optim_schedule_name(OPTIM_JOB_SCHEDULE), OPTIM_JOB_CLIP_NORM, err);

    /* adamw_step takes its rate from the schedule: at step T linear gives 0 (no move), constant the full rate */
    {
        params_table t;
        params_init(&t);
        int64_t shape[1] = {16};
        params_add(&t, "w", 1, shape, 0);
        params_alloc(&t);
        float *g = params_new_buffer(&t);
        float moved[2];
        for (int k = 0; k < 2; k++) {
            optim_config oc = optim_default_config();
            oc.lr = 0.1f;
            oc.total_steps = 2;
            oc.schedule = k ? OPTIM_SCHEDULE_CONSTANT : OPTIM_SCHEDULE_LINEAR;
            adamw_state st;
            adamw_init(&st, &t, oc);
            for (size_t i = 0; i < t.numel; i++) t.data[i] = 1.0f;
            for (int s = 0; s < 2; s++) {
                for (size_t i = 0; i < t.numel; i++) g[i] = 0.5f;
                float before = t.data[0];
                adamw_step(&st, &t, t.data, g);
                moved[k] = before - t.data[0];
            }
            adamw_free(&st);
        }
        CHECK(moved[0] == 0.0f, "linear moved %g at step T", moved[0]);
        CHECK(fabsf(moved[1] - 0.1f) < 1e-3f, "constant moved %g at step T (want ~lr 0.1)", moved[1]);
        params_free_buffer(g);
        params_free(&t);
        t_ok("adamw_step at the last step: linear moves 0, constant moves %.4f (lr 0.1)", moved[1]);
    }
    return 0;
}
