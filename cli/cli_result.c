/* cli_result.c - `hierbert result JOB [--json]`: a finished job's result
 * (coordinator/results.c): validation chunk accuracy, document accuracy of
 * the LSTM head, the mean-chunk-probability vote baseline, the
 * bag-of-words baseline (and a warning when the head is below it), the head's
 * per-epoch history and its per-class table and confusion matrix; the same
 * figures on the test documents when the job has some. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_client.h"
#include "hb_error.h"
#include "metrics.h"

/* one figure: the validation value, and the test value when there is a test object */
static void s_pct(const char *what, json_t *v, json_t *test, const char *key) {
    printf("  %-34s", what);
    json_t *vals[2] = {v, test ? json_object_get(test, key) : NULL};
    for (int k = 0; k < (test ? 2 : 1); k++) {
        int w = test ? 10 : 7; /* one column: the table's look before test splits */
        if (json_is_number(vals[k]))
            printf(" %*.2f%%", w - 1, 100 * json_number_value(vals[k]));
        else
            printf(" %*s", w, "-");
    }
    putchar('\n');
}

/* the head's table through metrics_print, from the stored confusion matrix */
static void s_table(json_t *metrics) {
    json_t *conf = json_object_get(metrics, "confusion"), *classes = json_object_get(metrics, "classes");
    size_t C = json_array_size(conf);
    if (C < 1 || json_array_size(classes) != C) return;
    metrics_confusion m;
    char err[HB_ERR_LEN];
    if (metrics_init(&m, (int)C, err)) return;
    const char **names = calloc(C, sizeof *names);
    for (size_t t = 0; t < C; t++) {
        names[t] = json_string_value(json_object_get(json_array_get(classes, t), "name"));
        json_t *row = json_array_get(conf, t);
        for (size_t p = 0; p < C && p < json_array_size(row); p++) {
            long n = (long)json_integer_value(json_array_get(row, p));
            m.confusion[t * C + p] = n;
            m.total += n;
        }
    }
    metrics_print(stdout, &m, names);
    free(names);
    metrics_free(&m);
}

int cli_result(int argc, char **argv) {
    static const struct option opts[] = {
        {"json", no_argument, 0, 'j'}, {"help", no_argument, 0, 'h'}, CLI_COMMON_LONGOPTS, {0, 0, 0, 0}};
    cli_endpoints ep;
    memset(&ep, 0, sizeof ep);
    char err[HB_ERR_LEN];
    int o, as_json = 0;
    optind = 1;
    while ((o = getopt_long(argc, argv, "jh", opts, NULL)) != -1) {
        int c = cli_common_opt(&ep, o, optarg, err);
        if (c < 0) {
            fprintf(stderr, "hierbert result: %s\n", err);
            return 2;
        }
        if (c) continue;
        if (o == 'j') {
            as_json = 1;
            continue;
        }
        if (o == 'h') {
            printf("usage: hierbert result JOB [--json] [options]\n"
                   "A job's result on its validation documents: chunk accuracy (the fine-tuned chunk classifier),\n"
                   "document accuracy (the LSTM head, best validation epoch), the mean-chunk-probability vote\n"
                   "baseline, a bag-of-words baseline (TF-IDF of the WordPiece unigrams and bigrams, linear SVM,\n"
                   "fitted on the training documents: a warning when the head is below it), the head's epochs,\n"
                   "per-class precision/recall/F1 and the confusion matrix;\n"
                   "the same on the test documents (submit --test) when there are some: a second column and\n"
                   "table (test documents are only scored, never used for a choice).\n"
                   "Exit 1 if the job is not DONE (its state is printed).\n\n"
                   "  -j, --json           one JSON object: state, chunk_accuracy, doc_accuracy, vote_accuracy,\n"
                   "                       baseline_accuracy, baseline_metrics (per class), baseline (the fit),\n"
                   "                       optim (the schedule, clipping, weight decay trained with),\n"
                   "                       best_epoch, head_epochs, metrics, vote_metrics, predictions (the\n"
                   "                       head's label and probabilities for every validation document),\n"
                   "                       test (when present: docs, labelled, chunks, the three accuracies,\n"
                   "                       metrics, vote_metrics, predictions)\n" CLI_COMMON_HELP "  -h, --help\n");
            return 0;
        }
        fprintf(stderr, "hierbert result: see --help\n");
        return 2;
    }
    uint64_t id;
    if (optind != argc - 1) {
        fprintf(stderr, "hierbert result: give exactly one job id (see --help)\n");
        return 2;
    }
    if (cli_parse_job(argv[optind], &id, err) || cli_endpoints_finish(&ep, err)) {
        fprintf(stderr, "hierbert result: %s\n", err);
        return 2;
    }
    proto_msg m, *r = NULL;
    proto_env_init(&m, id);
    Hierbert__Result rq = HIERBERT__RESULT__INIT;
    m.body_case = HIERBERT__ENVELOPE__BODY_RESULT;
    m.result = &rq;
    if (cli_request(&ep, &m, 0, &r, err)) {
        fprintf(stderr, "hierbert result: %s\n", err);
        return 1;
    }
    if (r->body_case != HIERBERT__ENVELOPE__BODY_RESULT_REPLY) {
        fprintf(stderr, "hierbert result: unexpected %s reply\n", proto_type_name(r));
        proto_free(&r);
        return 1;
    }
    json_error_t je;
    json_t *o2 = json_loads(r->result_reply->json, 0, &je);
    if (!o2) {
        fprintf(stderr, "hierbert result: the coordinator's reply is not JSON: %s\n", je.text);
        proto_free(&r);
        return 1;
    }
    const char *state = json_string_value(json_object_get(o2, "state"));
    int done = state && !strcmp(state, "DONE");
    if (as_json) {
        printf("%s\n", r->result_reply->json);
    } else if (!done) {
        const char *e = json_string_value(json_object_get(o2, "error"));
        fprintf(stderr, "hierbert result: job %llu is %s%s%s: no result yet\n", (unsigned long long)id,
                state ? state : "?", e ? ": " : "", e ? e : "");
    } else {
        json_t *test = json_object_get(o2, "test");
        if (!json_is_object(test)) test = NULL;
        printf("job %llu (%s): %lld validation documents, %lld chunks\n", (unsigned long long)id,
               json_string_value(json_object_get(o2, "name")),
               (long long)json_integer_value(json_object_get(o2, "val_docs")),
               (long long)json_integer_value(json_object_get(o2, "val_chunks")));
        if (test)
            printf("  test: %lld documents (%lld labelled, %lld chunks); never used for a choice\n\n  %-34s %10s "
                   "%10s\n",
                   (long long)json_integer_value(json_object_get(test, "docs")),
                   (long long)json_integer_value(json_object_get(test, "labelled")),
                   (long long)json_integer_value(json_object_get(test, "chunks")), "", "validation", "test");
        s_pct("chunk accuracy (chunk classifier)", json_object_get(o2, "chunk_accuracy"), test, "chunk_accuracy");
        s_pct("vote accuracy (mean chunk probs)", json_object_get(o2, "vote_accuracy"), test, "vote_accuracy");
        s_pct("document accuracy (LSTM head)", json_object_get(o2, "doc_accuracy"), test, "doc_accuracy");
        s_pct("baseline (TF-IDF + linear SVM)", json_object_get(o2, "baseline_accuracy"), test, "baseline_accuracy");
        json_t *bl = json_object_get(o2, "baseline"), *ba = json_object_get(o2, "baseline_accuracy"),
               *da = json_object_get(o2, "doc_accuracy");
        const char *berr = json_string_value(json_object_get(bl, "error"));
        if (berr) printf("  (no baseline: %s)\n", berr);
        if (json_is_number(ba) && json_is_number(da) && json_number_value(da) < json_number_value(ba))
            printf("  warning: the LSTM head is below the bag-of-words baseline (%.2f%% < %.2f%%): the deep\n"
                   "           pipeline does not beat word counts on this data\n",
                   100 * json_number_value(da), 100 * json_number_value(ba));
        json_t *ep2 = json_object_get(o2, "head_epochs");
        printf("  head: best epoch %lld of %zu\n", (long long)json_integer_value(json_object_get(o2, "best_epoch")),
               json_array_size(ep2));
        printf("\nLSTM head on the validation documents:\n");
        s_table(json_object_get(o2, "metrics"));
        if (test && json_integer_value(json_object_get(test, "labelled")) > 0) {
            printf("\nLSTM head on the test documents:\n");
            s_table(json_object_get(test, "metrics"));
        }
    }
    json_decref(o2);
    proto_free(&r);
    return done ? 0 : 1;
}
