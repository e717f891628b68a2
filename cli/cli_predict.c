/*
 * cli_predict.c - `hierbert predict --model DIR FILE...`: runs an exported
 * document classifier (model/clfdir.h) locally on documents of any dataset
 * format (JSONL, CSV, one folder per class), read, tokenized and chunked by
 * the same code as a job's ingest, with the directory's chunk settings.
 *
 * Prints one line per document (id, predicted label, the true label or -,
 * class probabilities; --json: one JSON object per line). Labels are
 * optional; when some documents have one, a closing summary follows: the
 * document accuracy of the LSTM head, of the mean-chunk-probability vote,
 * the chunk accuracy, and the metrics table (--json: one {"summary": ...}
 * object). Documents go through the encoder many at a time (predict.h).
 */
#include <jansson.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bert.h"
#include "clfdir.h"
#include "dataset.h"
#include "hb_error.h"
#include "metrics.h"
#include "predict.h"

static void s_help(FILE *f) {
    fprintf(f,
            "usage: hierbert predict --model DIR [options] FILE...\n"
            "  Classifies every document of FILE... with an exported model directory (hierbert export):\n"
            "  one line per document: id, predicted label, true label (or -), class probabilities.\n"
            "  Documents need no label; if some have one, a summary follows (document accuracy of\n"
            "  the head and of the mean-chunk-probability vote, chunk accuracy, per-class table).\n"
            "  FILE: JSONL ({\"id\", \"text\" | \"chunks\", \"label\"?}), CSV (*.csv) or a folder DIR/<label>/<file>.\n"
            "  --model DIR          the exported directory (config.json, vocab.txt, model.safetensors,\n"
            "                       head.safetensors, labels.json); chunking comes from its config.json\n"
            "  --json               one JSON object per line: {\"id\", \"label\", \"probs\": {label: p},\n"
            "                       \"vote_label\", \"vote_probs\", \"n_chunks\", \"true_label\"?}; then\n"
            "                       {\"summary\": {...}} when documents have labels\n"
            "  --format jsonl|csv|folder  (default: by name; directories are folders)\n"
            "  --id-column C --text-column C --label-column C  CSV columns (--id-column - numbers records)\n"
            "  --delimiter X        CSV delimiter (default ,)\n"
            "  --batch N            chunks per encoder batch (default 32)\n"
            "  --threads T          OpenMP/OpenBLAS threads (default: OMP_NUM_THREADS or all CPUs)\n"
            "  --precision P        fp32 | bf16: the encoder's matrix products (fp32); bf16 is refused\n"
            "                       on a CPU without native bf16 (AVX512_BF16 or AMX-BF16)\n"
            "  --encoding NAME      the files' encoding, any iconv knows (latin1, cp1252, UTF-16, ...; UTF-8)\n"
            "  --decode-errors E    strict (default): an undecodable byte fails; replace: U+FFFD, counted\n"

            "  --skip-bad           count and skip bad documents (empty, duplicate id, invalid UTF-8,\n"
            "                       a label the model does not know) instead of failing\n");
}

/* documents waiting for the encoder */
typedef struct {
    clfdir *m;
    int json;
    int batch_chunks;
    /* pending documents: ids/masks back to back */
    int n_docs, cap_docs;
    char **id;
    int *truth, *n_chunks;
    int32_t *ids;
    uint8_t *mask;
    size_t n_rows, cap_rows;
    /* totals */
    long docs, labelled, chunks, labelled_chunks, chunk_correct;
    metrics_confusion head, vote;
} s_run;

static void s_print_probs_json(json_t *o, const char *key, const clfdir *m, const float *p) {
    json_t *d = json_object();
    for (int k = 0; k < m->labels.n; k++) json_object_set_new(d, labels_name(&m->labels, k), json_real(p[k]));
    json_object_set_new(o, key, d);
}

static int s_flush(s_run *r, char *err) {
    if (r->n_docs == 0) return 0;
    const int L = r->m->chunking.seq_len, C = r->m->labels.n;
    predict_doc *docs = hb_malloc(sizeof *docs * (size_t)r->n_docs);
    predict_result *res = hb_calloc((size_t)r->n_docs, sizeof *res);
    size_t row = 0;
    for (int d = 0; d < r->n_docs; d++) {
        docs[d] = (predict_doc){r->n_chunks[d], r->ids + row * L, r->mask + row * L};
        row += (size_t)r->n_chunks[d];
    }
    int rc = predict_docs(r->m, docs, r->n_docs, res, err);
    for (int d = 0; d < r->n_docs && rc == 0; d++) {
        const predict_result *p = &res[d];
        const int t = r->truth[d];
        if (r->json) {
            json_t *o = json_object();
            json_object_set_new(o, "id", json_string(r->id[d]));
            json_object_set_new(o, "label", json_string(labels_name(&r->m->labels, p->label)));
            s_print_probs_json(o, "probs", r->m, p->probs);
            json_object_set_new(o, "vote_label", json_string(labels_name(&r->m->labels, p->vote_label)));
            s_print_probs_json(o, "vote_probs", r->m, p->vote_probs);
            json_object_set_new(o, "n_chunks", json_integer(p->n_chunks));
            if (t >= 0) json_object_set_new(o, "true_label", json_string(labels_name(&r->m->labels, t)));
            char *s = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(9));
            puts(s);
            free(s);
            json_decref(o);
        } else {
            printf("%s\t%s\t%s", r->id[d], labels_name(&r->m->labels, p->label),
                   t >= 0 ? labels_name(&r->m->labels, t) : "-");
            for (int k = 0; k < C; k++) printf("\t%.6f", p->probs[k]);
            putchar('\n');
        }
        r->docs++;
        r->chunks += p->n_chunks;
        if (t >= 0) {
            r->labelled++;
            r->labelled_chunks += p->n_chunks;
            if (metrics_add(&r->head, t, p->label, err) || metrics_add(&r->vote, t, p->vote_label, err)) rc = -1;
            for (int k = 0; k < p->n_chunks; k++)
                r->chunk_correct += metrics_argmax(p->chunk_logits + (size_t)k * C, C) == t;
        }
    }
    for (int d = 0; d < r->n_docs; d++) {
        predict_result_free(&res[d]);
        free(r->id[d]);
    }
    free(res);
    free(docs);
    r->n_docs = 0;
    r->n_rows = 0;
    return rc;
}

static int s_emit(void *ctx, const dataset_doc *doc, char *err) {
    s_run *r = ctx;
    const size_t L = (size_t)doc->seq_len;
    if (r->n_docs == r->cap_docs) {
        r->cap_docs = r->cap_docs ? 2 * r->cap_docs : 64;
        r->id = hb_realloc(r->id, sizeof *r->id * (size_t)r->cap_docs);
        r->truth = hb_realloc(r->truth, sizeof *r->truth * (size_t)r->cap_docs);
        r->n_chunks = hb_realloc(r->n_chunks, sizeof *r->n_chunks * (size_t)r->cap_docs);
    }
    if (r->n_rows + (size_t)doc->n_chunks > r->cap_rows) {
        r->cap_rows = 2 * (r->n_rows + (size_t)doc->n_chunks);
        r->ids = hb_realloc(r->ids, sizeof *r->ids * r->cap_rows * L);
        r->mask = hb_realloc(r->mask, r->cap_rows * L);
    }
    memcpy(r->ids + r->n_rows * L, doc->ids, sizeof *r->ids * (size_t)doc->n_chunks * L);
    memcpy(r->mask + r->n_rows * L, doc->mask, (size_t)doc->n_chunks * L);
    r->n_rows += (size_t)doc->n_chunks;
    r->id[r->n_docs] = strdup(doc->id);
    r->truth[r->n_docs] = doc->label;
    r->n_chunks[r->n_docs++] = doc->n_chunks;
    /* enough chunks for several encoder batches: run them (bounded memory on any input size) */
    if (r->n_rows >= (size_t)r->batch_chunks * 8 || r->n_docs >= 512) return s_flush(r, err);
    return 0;
}

static double s_ratio(long a, long b) {
    return b ? (double)a / (double)b : 0.0;
}

static void s_summary(s_run *r) {
    const int C = r->m->labels.n;
    const char **names = hb_malloc(sizeof *names * (size_t)C);
    for (int k = 0; k < C; k++) names[k] = labels_name(&r->m->labels, k);
    metrics_report hr, vr;
    metrics_compute(&r->head, &hr);
    metrics_compute(&r->vote, &vr);
    if (r->json) {
        json_t *s = json_object();
        json_object_set_new(s, "documents", json_integer(r->docs));
        json_object_set_new(s, "labelled", json_integer(r->labelled));
        json_object_set_new(s, "doc_accuracy", json_real(hr.accuracy));
        json_object_set_new(s, "vote_accuracy", json_real(vr.accuracy));
        json_object_set_new(s, "chunk_accuracy", json_real(s_ratio(r->chunk_correct, r->labelled_chunks)));
        json_object_set_new(s, "chunks", json_integer(r->labelled_chunks));
        json_object_set_new(s, "metrics", metrics_to_json(&r->head, names));
        json_object_set_new(s, "vote_metrics", metrics_to_json(&r->vote, names));
        json_t *o = json_pack("{s:o}", "summary", s);
        char *t = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(9));
        puts(t);
        free(t);
        json_decref(o);
    } else {
        printf("\n%ld documents, %ld with a label\n", r->docs, r->labelled);
        printf("document accuracy (LSTM head):            %.4f (%ld/%ld)\n", hr.accuracy, hr.correct, hr.total);
        printf("vote baseline (mean chunk probability):   %.4f (%ld/%ld)\n", vr.accuracy, vr.correct, vr.total);
        printf("chunk accuracy (chunk classifier):        %.4f (%ld/%ld)\n\n",
               s_ratio(r->chunk_correct, r->labelled_chunks), r->chunk_correct, r->labelled_chunks);
        metrics_print(stdout, &r->head, names);
    }
    metrics_report_free(&hr);
    metrics_report_free(&vr);
    free(names);
}

static void s_run_free(s_run *r) {
    for (int d = 0; d < r->n_docs; d++) free(r->id[d]);
    free(r->id);
    free(r->truth);
    free(r->n_chunks);
    free(r->ids);
    free(r->mask);
    metrics_free(&r->head);
    metrics_free(&r->vote);
    clfdir_destroy(&r->m);
}

int cli_predict(int argc, char **argv) {
    const char *model = NULL;
    int json = 0, batch = 32, threads = 0;
    mm_precision prec = MM_FP32;
    char err[HB_ERR_LEN];
    dataset_options o = {0};
    dataset_format fmt = DATASET_AUTO;
    const char **files = hb_calloc((size_t)argc, sizeof *files);
    int n_files = 0, usage = 0;
    for (int i = 1; i < argc && !usage; i++) {
        const char *a = argv[i];
        int more = i + 1 < argc;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            s_help(stdout);
            free(files);
            return 0;
        } else if (!strcmp(a, "--model") && more)
            model = argv[++i];
        else if (!strcmp(a, "--json"))
            json = 1;
        else if (!strcmp(a, "--batch") && more)
            batch = atoi(argv[++i]);
        else if (!strcmp(a, "--threads") && more)
            threads = atoi(argv[++i]);
        else if (!strcmp(a, "--precision") && more) {
            if (mm_precision_parse(argv[++i], &prec, err)) {
                fprintf(stderr, "hierbert predict: --precision: %s\n", err);
                usage = 1;
            }
        } else if (!strcmp(a, "--format") && more) {
            const char *p = argv[++i];
            fmt = !strcmp(p, "jsonl")    ? DATASET_JSONL
                  : !strcmp(p, "csv")    ? DATASET_CSV
                  : !strcmp(p, "folder") ? DATASET_FOLDER
                                         : DATASET_AUTO;
            if (fmt == DATASET_AUTO) {
                fprintf(stderr, "hierbert predict: --format must be jsonl, csv or folder\n");
                usage = 1;
            }
        } else if (!strcmp(a, "--id-column") && more)
            o.csv.id_column = argv[++i];
        else if (!strcmp(a, "--text-column") && more)
            o.csv.text_column = argv[++i];
        else if (!strcmp(a, "--label-column") && more)
            o.csv.label_column = argv[++i];
        else if (!strcmp(a, "--delimiter") && more)
            o.csv.delimiter = argv[++i][0];
        else if (!strcmp(a, "--skip-bad"))
            o.skip_bad = 1;
        else if (!strcmp(a, "--encoding") && more)
            o.encoding = argv[++i];
        else if (!strcmp(a, "--decode-errors") && more) {
            const char *p = argv[++i];
            o.decode_replace = !strcmp(p, "replace");
            if (!o.decode_replace && strcmp(p, "strict")) {
                fprintf(stderr, "hierbert predict: --decode-errors %s: strict or replace\n", p);
                usage = 1;
            }
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "hierbert predict: unknown or incomplete option '%s' (see --help)\n", a);
            usage = 1;
        } else
            files[n_files++] = a;
    }
    if (!usage && (!model || !n_files)) {
        fprintf(stderr, "hierbert predict: needs --model DIR and at least one FILE (see --help)\n");
        usage = 1;
    }
    if (!usage && (batch < 1 || batch > 4096 || threads < 0 || threads > 1024)) {
        fprintf(stderr, "hierbert predict: --batch must be 1..4096 and --threads 1..1024\n");
        usage = 1;
    }
    if (usage) {
        free(files);
        return 2;
    }
    if (threads) omp_set_num_threads(threads);
    s_run r = {0};
    r.json = json;
    r.batch_chunks = batch;
    if (clfdir_load(&r.m, model, batch, err) || bert_set_precision(r.m->bert, prec, err)) {
        fprintf(stderr, "hierbert predict: %s\n", err);
        clfdir_destroy(&r.m);
        free(files);
        return 1;
    }
    metrics_init(&r.head, r.m->labels.n, NULL);
    metrics_init(&r.vote, r.m->labels.n, NULL);
    dataset_input *in = hb_calloc((size_t)n_files, sizeof *in);
    for (int i = 0; i < n_files; i++) in[i] = (dataset_input){files[i], fmt, DATASET_TEST};
    o.chunk = r.m->chunk;
    o.fixed = &r.m->labels;
    label_map labels;
    dataset_report rep;
    if (!json) {
        printf("# id\tpredicted\ttrue");
        for (int k = 0; k < r.m->labels.n; k++) printf("\tp(%s)", labels_name(&r.m->labels, k));
        putchar('\n');
    }
    int rc = dataset_ingest(in, n_files, r.m->tok, &o, &labels, s_emit, &r, &rep, err);
    if (rc == 0) rc = s_flush(&r, err);
    labels_free(&labels);
    if (rc == 0 && r.labelled > 0) s_summary(&r);
    if (rc == 0 && o.skip_bad)
        for (int b = 0; b < DATASET_BAD_N; b++)
            if (rep.bad[b])
                fprintf(stderr, "hierbert predict: skipped %ld document(s): %s (first: %s)\n", rep.bad[b],
                        dataset_bad_name((dataset_bad)b), rep.first_bad[b]);
    if (rc == 0 && rep.ignored_entries)
        fprintf(stderr, "hierbert predict: ignored %ld entries beside the class folders: %s\n", rep.ignored_entries,
                rep.ignored);
    if (rc == 0 && rep.replaced)
        fprintf(stderr, "hierbert predict: replaced %ld undecodable byte(s) with U+FFFD in %ld file(s): %s\n",
                rep.replaced, rep.replaced_files, rep.replaced_list);
    if (rc == 0 && rep.dropped_chunks)
        fprintf(stderr,
                "hierbert predict: %ld document(s) longer than max_chunks %d: %ld chunk(s) not read (as in "
                "training)\n",
                rep.truncated_docs, r.m->chunking.max_chunks, rep.dropped_chunks);
    s_run_free(&r);
    free(in);
    free(files);
    if (rc) {
        fflush(stdout);
        fprintf(stderr, "hierbert predict: %s\n", err);
        return 1;
    }
    if (fflush(stdout) != 0) {
        fprintf(stderr, "hierbert predict: write error on standard output\n");
        return 1;
    }
    return 0;
}
