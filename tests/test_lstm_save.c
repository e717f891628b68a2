/*
 * test_lstm_save.c - head.safetensors: a trained head saved and loaded back
 * (sizes recovered from the tensor shapes) predicts bit-identically; a file
 * without the head's tensors, or a missing file, is refused by name.
 */
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "lstm.h"
#include "safetensors.h"
#include "test_tmpdir.h"

int main(void) {
    char err[HB_ERR_LEN] = "", dir[256], path[320], other[320];
    t_tmpdir(dir, sizeof dir, "head");
    snprintf(path, sizeof path, "%s/head.safetensors", dir);
    lstm_config cfg = {12, 9, 5, 3};
    lstm_model *m, *m2, *m3 = NULL;
    CHECK_OK(lstm_new(&m, &cfg, 3, err), err);
    int lens[4] = {2, 5, 1, 3}, labels[4] = {0, 2, 1, 2};
    float *xs[4];
    for (int k = 0; k < 4; k++) {
        xs[k] = malloc(sizeof(float) * lens[k] * cfg.input_dim);
        for (int i = 0; i < lens[k] * cfg.input_dim; i++) xs[k][i] = (float)cos(0.3 * i + k);
    }
    lstm_batch b = {4, lens, (const float *const *)xs, labels};
    adamw_state opt;
    adamw_init(&opt, &m->params, lstm_default_optim());
    for (int e = 0; e < 5; e++) CHECK_OK(lstm_train_epoch(m, &opt, &b, 1, NULL, NULL, err), err);
    CHECK_OK(lstm_save(m, path, err), err);
    CHECK_OK(lstm_load(&m2, path, err), err);
    CHECK(m2->cfg.input_dim == 12 && m2->cfg.units == 9 && m2->cfg.dense_units == 5 && m2->cfg.n_classes == 3,
          "sizes from the file: %d %d %d %d", m2->cfg.input_dim, m2->cfg.units, m2->cfg.dense_units, m2->cfg.n_classes);
    float p1[12], p2[12];
    CHECK_OK(lstm_predict(m, &b, p1, err), err);
    CHECK_OK(lstm_predict(m2, &b, p2, err), err);
    CHECK(memcmp(p1, p2, sizeof p1) == 0, "loaded head predicts differently");
    CHECK(memcmp(m->params.data, m2->params.data, sizeof(float) * m->params.numel) == 0, "parameters differ");
    t_ok("a trained head (12 -> LSTM 9 -> 5 -> 3) saved to head.safetensors loads back with its sizes and predicts "
         "bit-identically");

    /* a safetensors file that is not a head */
    params_table t;
    params_init(&t);
    int64_t sh[2] = {3, 4};
    params_add(&t, "encoder.weight", 2, sh, 1);
    params_alloc(&t);
    snprintf(other, sizeof other, "%s/other.safetensors", dir);
    CHECK_OK(safetensors_save_params(other, &t, t.data, err), err);
    CHECK(lstm_load(&m3, other, err) == -1 && !m3 && strstr(err, "lstm.kernel") && strstr(err, other), "not a head: %s",
          err);
    t_ok("a safetensors file without the head's tensors is refused: %s", err);
    CHECK(lstm_load(&m3, "/nonexistent/head.safetensors", err) == -1 && strstr(err, "/nonexistent/head.safetensors"),
          "missing file: %s", err);
    t_ok("a missing file is refused naming it");
    params_free(&t);
    adamw_free(&opt);
    for (int k = 0; k < 4; k++) free(xs[k]);
    lstm_destroy(&m2);
    lstm_destroy(&m);
    unlink(path);
    unlink(other);
    rmdir(dir);
    return 0;
}
