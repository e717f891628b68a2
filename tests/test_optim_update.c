/*
 * test_optim_update.c - AdamW and SGD over the flat parameter buffer follow
 * torch.optim's update rule, computed here independently in double precision,
 * for three steps with warm-up, weight decay on matrices only, and clipping.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "hb_error.h"
#include "optim.h"
#include "params.h"

int main(void) {
    params_table t;
    params_init(&t);
    int64_t s_w[2] = {7, 5}, s_b[1] = {3};
    int iw = params_add(&t, "dense.weight", 2, s_w, 1);
    int ib = params_add(&t, "dense.bias", 1, s_b, 0);
    params_alloc(&t);
    CHECK(t.views[iw].offset % PARAMS_ALIGN_FLOATS == 0 && t.views[ib].offset % PARAMS_ALIGN_FLOATS == 0,
          "views must be 64-byte aligned");
    CHECK(params_count(&t) == 38, "count %zu", params_count(&t));
    CHECK(params_find(&t, "dense.bias") == ib && params_find(&t, "nope") == -1, "find");
    t_ok("params: 2 views laid out aligned, %zu floats with padding, 38 of data", t.numel);

    float *g = params_new_buffer(&t);
    double *ref_p = calloc(t.numel, sizeof(double)), *ref_m = calloc(t.numel, sizeof(double)),
           *ref_v = calloc(t.numel, sizeof(double));
    unsigned seed = 12345;
    for (int vi = 0; vi < t.nviews; vi++)
        for (size_t i = 0; i < t.views[vi].numel; i++) {
            seed = seed * 1103515245u + 12345u;
            float x = ((float)(seed >> 8) / (float)(1u << 24) - 0.5f);
            t.data[t.views[vi].offset + i] = x;
            ref_p[t.views[vi].offset + i] = x;
        }

    optim_config c = optim_default_config();
    c.lr = 1e-2f;
    c.weight_decay = 0.1f;
    c.warmup_steps = 2;
    c.total_steps = 4;
    c.clip_norm = 0.5f;
    adamw_state s;
    adamw_init(&s, &t, c);
    for (int step = 1; step <= 3; step++) {
        double ss = 0;
        for (int vi = 0; vi < t.nviews; vi++)
            for (size_t i = 0; i < t.views[vi].numel; i++) {
                size_t k = t.views[vi].offset + i;
                g[k] = (float)(0.3 * sin(1.7 * (double)k + step));
                ss += (double)g[k] * g[k];
            }
        double norm = sqrt(ss), coef = norm > 0.5 ? 0.5 / (norm + 1e-6) : 1.0;
        double lr = step <= 2 ? 1e-2 * step / 2.0 : 1e-2 * (4 - step) / 2.0;
        for (int vi = 0; vi < t.nviews; vi++)
            for (size_t i = 0; i < t.views[vi].numel; i++) {
                size_t k = t.views[vi].offset + i;
                double gk = (double)g[k] * coef;
                if (t.views[vi].decay) ref_p[k] *= 1.0 - lr * 0.1;
                ref_m[k] = 0.9 * ref_m[k] + 0.1 * gk;
                ref_v[k] = 0.999 * ref_v[k] + 0.001 * gk * gk;
                double mh = ref_m[k] / (1 - pow(0.9, step));
                double den = sqrt(ref_v[k]) / sqrt(1 - pow(0.999, step)) + 1e-7;
                ref_p[k] -= lr * mh / den;
            }
        float got_norm = adamw_step(&s, &t, t.data, g);
        CHECK(fabs(got_norm - norm) < 1e-5 * norm, "step %d norm %g vs %g", step, got_norm, norm);
    }
    double err = t_rel_err(t.data, ref_p, t.numel);
    CHECK(err < 1e-5, "AdamW after 3 steps: rel err %g", err);
    CHECK(fabs(optim_lr_at(&c, 1) - 5e-3f) < 1e-9 && optim_lr_at(&c, 4) == 0.0f, "schedule");
    t_ok("AdamW: 3 steps with warm-up/decay, decoupled decay on matrices only, clipping: rel err %.2e", err);

    float before = t.data[0];
    g[0] = 2.0f;
    sgd_step(&t, t.data, g, 0.25f);
    CHECK(fabsf(t.data[0] - (before - 0.5f)) < 1e-6f, "sgd %g vs %g", t.data[0], before - 0.5f);
    t_ok("SGD: p -= lr * g");

    /* row-sparse gradients (what a worker sends under gradient averaging):
     * a table with a [10][6] embedding between two dense views; rows 2, 5, 9
     * nonzero. gather -> axpy(w=1) into zeros gives the dense buffer bit for
     * bit, and a second axpy adds the same gradient again. */
    {
        params_table e;
        params_init(&e);
        int64_t s3[1] = {3}, s_emb[2] = {10, 6}, s5[1] = {5};
        params_add(&e, "a.bias", 1, s3, 0);
        int ve = params_add(&e, "embeddings.word_embeddings.weight", 2, s_emb, 1);
        params_add(&e, "b.bias", 1, s5, 0);
        params_alloc(&e);
        float *dense = params_new_buffer(&e), *back = params_new_buffer(&e), *sp = params_new_buffer(&e);
        int32_t rows[3] = {2, 5, 9};
        for (size_t i = 0; i < e.numel; i++) dense[i] = 0;
        for (int v = 0; v < e.nviews; v++)
            for (size_t i = 0; i < e.views[v].numel; i++) {
                size_t at = e.views[v].offset + i;
                int row = (int)(i / 6);
                if (v == ve && row != 2 && row != 5 && row != 9) continue;
                dense[at] = 0.1f * (float)(at + 1) - 1.3f;
            }
        size_t len = params_sparse_len(&e, ve, 3);
        CHECK(len == e.numel - 60 + 18, "sparse length %zu", len);
        params_sparse_gather(&e, ve, dense, rows, 3, sp);
        params_sparse_axpy(&e, ve, sp, rows, 3, 1.0f, back);
        CHECK(!memcmp(dense, back, e.numel * sizeof(float)), "gather + axpy differs from the dense buffer");
        params_sparse_axpy(&e, ve, sp, rows, 3, 1.0f, back);
        int twice = 1;
        for (size_t i = 0; i < e.numel; i++) twice &= back[i] == 2 * dense[i];
        CHECK(twice, "a second axpy does not add the same gradient again");
        t_ok("row-sparse gradient: %zu floats instead of %zu; gather + axpy rebuild the dense buffer bit for bit", len,
             e.numel);

        /* the same per shard (sharded reduction): every cut on a word-embedding
         * row (16 + 6k) or anywhere outside it; the pieces rebuild the buffer,
         * scatter inverts gather, and a shard without its rows keeps the rest */
        size_t off = e.views[ve].offset, cuts[] = {0, 5, off, off + 12, off + 30, off + 60, e.numel - 3};
        int n_cuts = (int)(sizeof cuts / sizeof cuts[0]), pieces = 0;
        for (size_t i = 0; i < e.numel; i++) back[i] = 0;
        for (int a = 0; a < n_cuts; a++) {
            size_t lo = cuts[a], hi = a + 1 < n_cuts ? cuts[a + 1] : e.numel;
            CHECK(params_sparse_range_ok(&e, ve, lo, hi), "shard [%zu, %zu) on row bounds", lo, hi);
            int32_t r0, r1, in[3];
            params_sparse_range_rows(&e, ve, lo, hi, &r0, &r1);
            size_t n = 0;
            for (int k = 0; k < 3; k++)
                if (rows[k] >= r0 && rows[k] < r1) in[n++] = rows[k];
            float *acc = calloc(hi - lo + 1, sizeof(float));
            params_sparse_range_gather(&e, ve, dense, lo, hi, in, n, sp);
            CHECK(params_sparse_range_len(&e, ve, lo, hi, n) <= hi - lo, "a shard's sparse form is no longer");
            params_sparse_range_axpy(&e, ve, sp, lo, hi, in, n, 1.0f, acc);
            CHECK(!memcmp(acc, dense + lo, (hi - lo) * sizeof(float)), "shard [%zu, %zu): gather + axpy", lo, hi);
            params_sparse_range_scatter(&e, ve, sp, lo, hi, in, n, back);
            free(acc);
            pieces++;
        }
        CHECK(!memcmp(dense, back, e.numel * sizeof(float)), "scattered shards differ from the dense buffer");
        CHECK(!params_sparse_range_ok(&e, ve, 0, off + 7), "a cut inside a row must be refused");
        t_ok("row-sparse per shard: %d shards (cuts on rows and outside the matrix) gather, add and scatter back "
             "bit for bit; a cut inside a row is refused",
             pieces);
        params_free_buffer(dense);
        params_free_buffer(back);
        params_free_buffer(sp);
        params_free(&e);
    }

    /* AdamW by shards (each owner steps its range with its own moments)
     * equals one AdamW step over the buffer bit for bit, clipping included */
    {
        optim_config oc = optim_default_config();
        oc.lr = 1e-2f;
        oc.weight_decay = 0.1f;
        oc.clip_norm = 0.5f;
        oc.warmup_steps = 2;
        oc.total_steps = 10;
        adamw_state whole;
        adamw_init(&whole, &t, oc);
        float *p1 = params_new_buffer(&t), *p2 = params_new_buffer(&t), *g1 = params_new_buffer(&t);
        float *m2 = params_new_buffer(&t), *v2 = params_new_buffer(&t);
        for (size_t i = 0; i < t.numel; i++) p1[i] = p2[i] = 0.05f * (float)i - 0.4f;
        size_t cut = t.views[iw].offset + 17; /* inside the matrix: any float bound will do */
        for (int step = 1; step <= 4; step++) {
            for (size_t i = 0; i < t.numel; i++) g1[i] = 0.3f * (float)((i * 7 + (size_t)step) % 11) - 1.2f;
            double norm = optim_global_norm(&t, g1);
            float coef = optim_clip_coef(norm, oc.clip_norm);
            adamw_step_range(&oc, step, &t, p2, g1, coef, m2, v2, 0, cut);
            adamw_step_range(&oc, step, &t, p2, g1 + cut, coef, m2 + cut, v2 + cut, cut, t.numel);
            adamw_step(&whole, &t, p1, g1); /* clips g1 in place: last */
        }
        CHECK(!memcmp(p1, p2, t.numel * sizeof(float)), "AdamW by two shards differs from the whole step");
        CHECK(!memcmp(whole.m, m2, t.numel * sizeof(float)) && !memcmp(whole.v, v2, t.numel * sizeof(float)),
              "sharded moments differ");
        t_ok("AdamW over two shards (cut inside a matrix), 4 steps with warm-up, decay and active clipping: "
             "parameters and moments equal one whole-buffer step's bit for bit");
        adamw_free(&whole);
        params_free_buffer(p1);
        params_free_buffer(p2);
        params_free_buffer(g1);
        params_free_buffer(m2);
        params_free_buffer(v2);
    }

    /* the squared sum skips runs of 16 floats that are all +0 (row-sparse
     * gradients): its bits must be those of the plain in-order loop over
     * each 65536-float block, summed block after block - with runs of +0,
     * lone nonzeros inside a run, -0 (not skipped) and a ragged tail */
    {
        size_t n = 3 * 65536 + 1000;
        float *x = calloc(n, sizeof(float));
        unsigned q = 99;
        for (size_t i = 0; i < n; i++) {
            q = q * 1103515245u + 12345u;
            unsigned r = (q >> 8) % 100;
            x[i] = r < 3 ? ((float)(q >> 12) / (float)(1u << 20) - 0.5f) : r == 3 ? -0.0f : 0.0f;
            if (i / 4096 % 3 == 1) x[i] = (float)(i % 7) * 0.01f; /* some dense stretches */
        }
        double ref = 0.0;
        for (size_t b = 0; b < n; b += 65536) {
            double part = 0.0;
            for (size_t i = b; i < n && i < b + 65536; i++) part += (double)x[i] * x[i];
            ref += part;
        }
        double got = optim_sq_sum(x, n);
        CHECK(!memcmp(&got, &ref, sizeof got), "sq_sum %.17g, the plain loop %.17g", got, ref);
        memset(x, 0, n * sizeof(float));
        got = optim_sq_sum(x, n);
        CHECK(got == 0.0 && !signbit(got), "sq_sum of zeros: %g", got);
        t_ok("squared sum skipping runs of +0: the plain in-order loop's bits (%zu floats, sparse, -0, dense)", n);
        free(x);
    }

    adamw_free(&s);
    params_free_buffer(g);
    params_free(&t);
    free(ref_p);
    free(ref_m);
    free(ref_v);
    return 0;
}
