/*
 * test_metrics.c - accuracy, confusion matrix, precision/recall/F1 and the
 * vote baseline on small examples worked out by hand (the fractions in the
 * comments) and recomputed here independently from the raw (truth,
 * prediction) pairs by counting true/false positives; the zero-division
 * convention; the printed table and the JSON report.
 */
#include <string.h>

#include "check.h"
#include "metrics.h"

int main(void) {
    char err[HB_ERR_LEN] = "";
    /* 3 classes, 10 examples. By hand: confusion rows (true) 0: 2 1 1,
     * 1: 1 2 0, 2: 0 1 2. accuracy 6/10; precision 2/3, 2/4, 2/3; recall
     * 2/4, 2/3, 2/3; F1 4/7, 4/7, 2/3; macro F1 38/63; weighted F1 6/10. */
    const int truth[10] = {0, 0, 0, 0, 1, 1, 1, 2, 2, 2}, pred[10] = {0, 0, 1, 2, 1, 1, 0, 2, 2, 1};
    metrics_confusion m;
    CHECK_OK(metrics_init(&m, 3, err), err);
    for (int i = 0; i < 10; i++) CHECK_OK(metrics_add(&m, truth[i], pred[i], err), err);
    const long want_conf[9] = {2, 1, 1, 1, 2, 0, 0, 1, 2};
    CHECK(memcmp(m.confusion, want_conf, sizeof want_conf) == 0 && m.total == 10, "confusion matrix");
    metrics_report r;
    metrics_compute(&m, &r);
    CHECK(r.correct == 6 && fabs(r.accuracy - 0.6) < 1e-12, "accuracy %f", r.accuracy);
    const double hand_p[3] = {2.0 / 3, 2.0 / 4, 2.0 / 3}, hand_r[3] = {2.0 / 4, 2.0 / 3, 2.0 / 3},
                 hand_f[3] = {4.0 / 7, 4.0 / 7, 2.0 / 3};
    for (int k = 0; k < 3; k++) {
        /* independent recount from the pairs */
        int tp = 0, fp = 0, fn = 0;
        for (int i = 0; i < 10; i++) {
            tp += truth[i] == k && pred[i] == k;
            fp += truth[i] != k && pred[i] == k;
            fn += truth[i] == k && pred[i] != k;
        }
        double p = (double)tp / (tp + fp), rc = (double)tp / (tp + fn), f = 2.0 * tp / (2.0 * tp + fp + fn);
        CHECK(fabs(r.precision[k] - p) < 1e-12 && fabs(r.recall[k] - rc) < 1e-12 && fabs(r.f1[k] - f) < 1e-12,
              "class %d: p %f r %f f1 %f vs recount %f %f %f", k, r.precision[k], r.recall[k], r.f1[k], p, rc, f);
        CHECK(fabs(p - hand_p[k]) < 1e-12 && fabs(rc - hand_r[k]) < 1e-12 && fabs(f - hand_f[k]) < 1e-12,
              "class %d: recount disagrees with the hand computation", k);
    }
    CHECK(fabs(r.macro_f1 - 38.0 / 63) < 1e-12 && fabs(r.weighted_f1 - 0.6) < 1e-12, "macro F1 %f weighted %f",
          r.macro_f1, r.weighted_f1);
    t_ok("3 classes, 10 examples: confusion, accuracy 0.6, per-class P/R/F1 and macro F1 38/63 = %.4f agree with an "
         "independent recount and the hand computation",
         r.macro_f1);
    metrics_report_free(&r);

    /* the printed table and the JSON report */
    const char *names[3] = {"sports", "politics", "tech"};
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    metrics_print(f, &m, names);
    fclose(f);
    fputs(buf, stdout);
    CHECK(strstr(buf, "accuracy 0.6000 (6/10)") && strstr(buf, "macro F1 0.6032") &&
              strstr(buf, "politics     0.5000  0.6667  0.5714        3"),
          "table:\n%s", buf);
    free(buf);
    json_t *j = metrics_to_json(&m, names);
    char *txt = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    json_error_t je;
    j = json_loads(txt, 0, &je);
    CHECK(j, "report JSON does not parse: %s", je.text);
    json_t *c1 = json_array_get(json_object_get(j, "classes"), 1);
    CHECK(fabs(json_real_value(json_object_get(j, "macro_f1")) - 38.0 / 63) < 1e-12 &&
              strcmp(json_string_value(json_object_get(c1, "name")), "politics") == 0 &&
              json_integer_value(json_object_get(c1, "support")) == 3 &&
              json_integer_value(json_array_get(json_array_get(json_object_get(j, "confusion"), 0), 2)) == 1,
          "JSON report: %s", txt);
    t_ok("the table prints the figures and names; the JSON report round-trips (%zu bytes)", strlen(txt));
    free(txt);
    json_decref(j);
    metrics_free(&m);

    /* zero division: class 3 never occurs, never predicted -> 0, counted in the macro average */
    CHECK_OK(metrics_init(&m, 4, err), err);
    for (int i = 0; i < 10; i++) CHECK_OK(metrics_add(&m, truth[i], pred[i], err), err);
    CHECK(metrics_add(&m, 4, 0, err) == -1 && strstr(err, "out of range"), "class 4 of 4 must be refused");
    metrics_compute(&m, &r);
    CHECK(r.precision[3] == 0 && r.recall[3] == 0 && r.f1[3] == 0 && fabs(r.macro_f1 - 38.0 / 84) < 1e-12,
          "zero-division class: macro F1 %f", r.macro_f1);
    t_ok("a class absent from truth and predictions scores 0 and averages in: macro F1 38/84 = %.4f", r.macro_f1);
    metrics_report_free(&r);
    metrics_free(&m);

    /* vote baseline: mean of chunk probabilities, not a majority of argmaxes */
    const float chunks[6] = {0.6f, 0.4f, 0.1f, 0.9f, 0.7f, 0.3f};
    float doc[2];
    int v = metrics_vote_mean(chunks, 3, 2, doc);
    int majority = (metrics_argmax(chunks, 2) == 0) + (metrics_argmax(chunks + 2, 2) == 0) +
                               (metrics_argmax(chunks + 4, 2) == 0) >=
                           2
                       ? 0
                       : 1;
    CHECK(v == 1 && majority == 0 && fabsf(doc[0] - 1.4f / 3) < 1e-6f && fabsf(doc[1] - 1.6f / 3) < 1e-6f,
          "vote %d, mean %f %f", v, doc[0], doc[1]);
    CHECK(metrics_vote_mean(chunks, 0, 2, doc) == -1, "a document without chunks has no vote");
    t_ok("vote baseline: chunks (.6,.4) (.1,.9) (.7,.3) average to (%.4f, %.4f) -> class 1, where a majority of "
         "argmaxes would say 0",
         doc[0], doc[1]);
    return 0;
}
