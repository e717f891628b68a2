/*
 * test_bert_train.c - the encoder learns: a tiny model trained with
 * bert_train_step (dropout on, AdamW with warm-up) on "does token 7 occur in
 * the chunk?" reaches >= 95% accuracy on held-out batches through
 * bert_embed_cls's logits, from chance. And training is reproducible: two
 * models with the same seed and thread count end with identical bits. The
 * same run in bf16 precision (where the CPU has native bf16) is as
 * reproducible, learns as well, and its loss curve tracks fp32's.
 */
#include <string.h>

#include "bert.h"
#include "check.h"
#include "cpu_features.h"
#include "hb_error.h"
#include "optim.h"

enum { B = 16, T = 12, V = 40 };

static void s_batch(unsigned *seed, int32_t *ids, uint8_t *mask, int32_t *labels) {
    for (int b = 0; b < B; b++) {
        *seed = *seed * 1103515245u + 12345u;
        int len = 4 + (int)((*seed >> 16) % (T - 3)); /* 4..T real tokens, the rest padding */
        int has = (int)((*seed >> 8) & 1);
        ids[b * T] = 2; /* [CLS] */
        for (int t = 1; t < T; t++) {
            *seed = *seed * 1103515245u + 12345u;
            int id = 8 + (int)((*seed >> 16) % (V - 8));
            ids[b * T + t] = t < len ? id : 0;
            mask[b * T + t] = t < len;
        }
        mask[b * T] = 1;
        if (has) {
            *seed = *seed * 1103515245u + 12345u;
            ids[b * T + 1 + (int)((*seed >> 16) % (unsigned)(len - 1))] = 7;
        }
        labels[b] = has;
    }
}

static double s_accuracy(bert_model *m, unsigned seed, int batches) {
    int32_t ids[B * T], labels[B];
    uint8_t mask[B * T];
    float cls[B * 32], logits[B * 2];
    int right = 0;
    for (int k = 0; k < batches; k++) {
        s_batch(&seed, ids, mask, labels);
        CHECK(bert_embed_cls(m, ids, mask, B, T, cls, logits) == 0, "embed");
        for (int b = 0; b < B; b++) right += (logits[2 * b + 1] > logits[2 * b]) == labels[b];
    }
    return (double)right / (B * batches);
}

enum { STEPS = 400, WINDOW = 50 };

/* Trains a fresh model (seed 11) for STEPS steps in precision p; window means
 * of the loss into win[STEPS / WINDOW]; returns the held-out accuracy. The
 * first 5 steps are repeated on a twin model: same seed, same threads, same
 * parameter bits. */
static double s_train(mm_precision p, double *win, double *acc0) {
    char err[HB_ERR_LEN];
    bert_config c;
    CHECK_OK(bert_config_preset(&c, "tiny", err), err);
    c.vocab_size = V;
    c.hidden_size = 32;
    c.intermediate_size = 64;
    c.max_position_embeddings = 16;
    bert_model *m, *m2;
    CHECK_OK(bert_new(&m, &c, 2, B, T, err), err);
    CHECK_OK(bert_new(&m2, &c, 2, B, T, err), err);
    CHECK_OK(bert_set_precision(m, p, err), err);
    CHECK_OK(bert_set_precision(m2, p, err), err);
    bert_init_random(m, 11);
    bert_init_random(m2, 11);
    optim_config oc = optim_default_config();
    oc.lr = 2e-3f;
    oc.weight_decay = 0.01f;
    oc.warmup_steps = 20;
    oc.clip_norm = 1.0f;
    adamw_state opt, opt2;
    adamw_init(&opt, &m->params, oc);
    adamw_init(&opt2, &m2->params, oc);
    *acc0 = s_accuracy(m, 999, 8);
    unsigned seed = 1;
    int32_t ids[B * T], labels[B];
    uint8_t mask[B * T];
    double sum = 0;
    for (int step = 0; step < STEPS; step++) {
        s_batch(&seed, ids, mask, labels);
        float loss = bert_train_step(m, &opt, ids, NULL, mask, labels, B, T);
        CHECK(!isnan(loss), "%s step %d", mm_precision_name(p), step);
        if (step < 5) bert_train_step(m2, &opt2, ids, NULL, mask, labels, B, T);
        if (step == 4)
            CHECK(memcmp(m->params.data, m2->params.data, m->params.numel * sizeof(float)) == 0,
                  "%s: same seed, same threads: identical parameters after 5 steps", mm_precision_name(p));
        sum += loss;
        if ((step + 1) % WINDOW == 0) win[step / WINDOW] = sum / WINDOW, sum = 0;
    }
    t_ok("%s: 5 training steps (dropout on) from the same seed: identical parameter bits", mm_precision_name(p));
    double acc = s_accuracy(m, 999, 8);
    adamw_free(&opt);
    adamw_free(&opt2);
    bert_destroy(&m);
    bert_destroy(&m2);
    return acc;
}

int main(void) {
    double w32[STEPS / WINDOW], w16[STEPS / WINDOW], acc0;
    double acc = s_train(MM_FP32, w32, &acc0);
    CHECK(acc >= 0.95, "held-out accuracy %.3f (before training %.3f), loss %.3f -> %.3f", acc, acc0, w32[0],
          w32[STEPS / WINDOW - 1]);
    t_ok("tiny encoder learns 'token 7 occurs': held-out accuracy %.1f%% (before %.1f%%), mean loss of steps 1-%d "
         "%.3f, of the last %d %.3f",
         100 * acc, 100 * acc0, WINDOW, w32[0], WINDOW, w32[STEPS / WINDOW - 1]);

    /* bf16: the same run, every matrix product in bf16. Its loss tracks fp32's:
     * each window's mean within 0.02 + 10% of fp32's (bf16 moves each step by
     * ~2^-8 relative; over hundreds of steps the runs drift apart as two seeds
     * would, not beyond), and it learns as well. */
    char why[256];
    if (!cpu_native_bf16(why, sizeof why)) {
        printf("skipped: bf16 training run (%s)\n", why);
        return 0;
    }
    double acc16 = s_train(MM_BF16, w16, &acc0);
    printf("  steps      fp32 loss  bf16 loss\n");
    for (int w = 0; w < STEPS / WINDOW; w++) {
        printf("  %3d-%-3d    %9.6f  %9.6f\n", w * WINDOW + 1, (w + 1) * WINDOW, w32[w], w16[w]);
        CHECK(fabs(w16[w] - w32[w]) <= 0.02 + 0.10 * w32[w], "steps %d-%d: bf16 mean loss %.4f vs fp32 %.4f",
              w * WINDOW + 1, (w + 1) * WINDOW, w16[w], w32[w]);
    }
    CHECK(acc16 >= 0.95, "bf16 held-out accuracy %.3f", acc16);
    CHECK(w16[0] != w32[0], "bf16 and fp32 runs are not the same run (bf16 rounds)");
    t_ok("bf16 training tracks fp32: every %d-step mean loss within 0.02 + 10%% of fp32's (last %.6f vs %.6f); "
         "held-out accuracy %.1f%% (fp32 %.1f%%)",
         WINDOW, w16[STEPS / WINDOW - 1], w32[STEPS / WINDOW - 1], 100 * acc16, 100 * acc);
    return 0;
}
