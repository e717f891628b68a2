/*
 * cli_dataset.c - `hierbert dataset inspect FILE...`: reads a dataset the way
 * `submit` ingests it (same readers, same checks, same label map, same
 * chunking) and prints documents and chunks per class, the chunk-count
 * histogram at L, the [UNK] rate and the label map. Bad input fails with
 * file:line, as submit would.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataset.h"
#include "hb_error.h"
#include "labels.h"
#include "wordpiece.h"

static void s_help(FILE *f) {
    fprintf(f, "usage: hierbert dataset inspect FILE... --vocab VOCAB [options]\n"
               "  FILE: JSONL, CSV (*.csv) or a folder DIR/<label>/<file>. Records without a split\n"
               "  field count as train. The label map comes from the train documents (or from all\n"
               "  documents when none is train), sorted as labels.json will be.\n"
               "  --vocab F            vocab.txt (required)\n"
               "  --cased              cased vocabulary\n"
               "  --seq L              chunk length incl. [CLS]/[SEP] (default 128)\n"
               "  --stride S           window shift in tokens (default L-2: no overlap)\n"
               "  --max-chunks M       at most M chunks per document (default 0: all)\n"
               "  --policy first|head-tail|spread  which chunks max-chunks keeps (default first)\n"
               "  --format jsonl|csv|folder  (default: by name; directories are folders)\n"
               "  --id-column C --text-column C --label-column C --split-column C  CSV columns\n"
               "                       (--id-column - numbers the records)\n"
               "  --delimiter X        CSV delimiter (default ,)\n"
               "  --skip-bad           count, skip and report bad documents instead of failing\n"
               "  --val-fraction F     move a stratified fraction F of the documents without a split\n"
               "                       field to val (model/split.h rule)\n"
               "  --seed N             seed of that split (default 1)\n"
               "  --labels-out F       write the label map as labels.json\n");
}

enum { N_BUCKETS = 10 };
static const int s_bucket_hi[N_BUCKETS] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 1 << 30};

typedef struct {
    const label_map *labels;
    long *cls_docs, *cls_chunks; /* (C+1) x 3: row C = unlabelled */
    long hist[N_BUCKETS];
    int max_chunks_seen;
} s_stats;

static int s_emit(void *ctx, const dataset_doc *d, char *err) {
    (void)err;
    s_stats *s = ctx;
    int C = s->labels->n;
    if (!s->cls_docs) {
        s->cls_docs = calloc((size_t)(C + 1) * 3, sizeof(long));
        s->cls_chunks = calloc((size_t)(C + 1) * 3, sizeof(long));
    }
    int row = d->label >= 0 ? d->label : C;
    s->cls_docs[row * 3 + d->split]++;
    s->cls_chunks[row * 3 + d->split] += d->n_chunks;
    int b = 0;
    while (d->n_chunks > s_bucket_hi[b]) b++;
    s->hist[b]++;
    if (d->n_chunks > s->max_chunks_seen) s->max_chunks_seen = d->n_chunks;
    return 0;
}

static int s_inspect(int argc, char **argv) {
    const char *vocab = NULL, *labels_out = NULL;
    int cased = 0;
    dataset_options o = {0};
    o.chunk.seq_len = 128;
    o.labels_from_all = 2;
    o.seed = 1;
    dataset_format fmt = DATASET_AUTO;
    const char **files = calloc((size_t)argc, sizeof *files);
    int n_files = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int more = i + 1 < argc;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            s_help(stdout);
            free(files);
            return 0;
        } else if (!strcmp(a, "--vocab") && more)
            vocab = argv[++i];
        else if (!strcmp(a, "--cased"))
            cased = 1;
        else if (!strcmp(a, "--seq") && more)
            o.chunk.seq_len = atoi(argv[++i]);
        else if (!strcmp(a, "--stride") && more)
            o.chunk.stride = atoi(argv[++i]);
        else if (!strcmp(a, "--max-chunks") && more)
            o.chunk.max_chunks = atoi(argv[++i]);
        else if (!strcmp(a, "--policy") && more) {
            char perr[HB_ERR_LEN];
            if (chunk_policy_parse(argv[++i], &o.chunk.policy, perr)) {
                fprintf(stderr, "hierbert dataset inspect: --policy: %s\n", perr);
                free(files);
                return 2;
            }
        } else if (!strcmp(a, "--format") && more) {
            const char *p = argv[++i];
            if (!strcmp(p, "jsonl"))
                fmt = DATASET_JSONL;
            else if (!strcmp(p, "csv"))
                fmt = DATASET_CSV;
            else if (!strcmp(p, "folder"))
                fmt = DATASET_FOLDER;
            else {
                fprintf(stderr, "hierbert dataset inspect: --format must be jsonl, csv or folder\n");
                free(files);
                return 2;
            }
        } else if (!strcmp(a, "--id-column") && more)
            o.csv.id_column = argv[++i];
        else if (!strcmp(a, "--text-column") && more)
            o.csv.text_column = argv[++i];
        else if (!strcmp(a, "--label-column") && more)
            o.csv.label_column = argv[++i];
        else if (!strcmp(a, "--split-column") && more)
            o.csv.split_column = argv[++i];
        else if (!strcmp(a, "--delimiter") && more)
            o.csv.delimiter = argv[++i][0];
        else if (!strcmp(a, "--skip-bad"))
            o.skip_bad = 1;
        else if (!strcmp(a, "--val-fraction") && more)
            o.val_fraction = atof(argv[++i]);
        else if (!strcmp(a, "--seed") && more)
            o.seed = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(a, "--labels-out") && more)
            labels_out = argv[++i];
        else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "hierbert dataset inspect: unknown or incomplete option '%s' (see --help)\n", a);
            free(files);
            return 2;
        } else
            files[n_files++] = a;
    }
    if (!vocab || !n_files) {
        fprintf(stderr, "hierbert dataset inspect: needs FILE... and --vocab VOCAB (ops/fetch-corpus.sh vocab "
                        "fetches bert-base-uncased; see --help)\n");
        free(files);
        return 2;
    }
    char err[HB_ERR_LEN];
    wp_tokenizer *tok;
    if (wp_load(&tok, vocab, !cased, err)) {
        fprintf(stderr, "hierbert dataset inspect: %s\n", err);
        free(files);
        return 1;
    }
    dataset_input *in = calloc((size_t)n_files, sizeof *in);
    for (int i = 0; i < n_files; i++) in[i] = (dataset_input){files[i], fmt, DATASET_TRAIN};
    label_map labels;
    dataset_report rep;
    s_stats st = {.labels = &labels};
    int rc = dataset_ingest(in, n_files, tok, &o, &labels, s_emit, &st, &rep, err);
    if (rc) {
        fprintf(stderr, "hierbert dataset inspect: %s\n", err);
    } else {
        int C = labels.n, S = o.chunk.stride ? o.chunk.stride : o.chunk.seq_len - 2;
        printf("inputs:");
        for (int i = 0; i < n_files; i++) printf(" %s", files[i]);
        printf("\nchunks: L=%d (%d content tokens), stride %d, max chunks %d (%s)\n", o.chunk.seq_len,
               o.chunk.seq_len - 2, S, o.chunk.max_chunks,
               o.chunk.max_chunks ? chunk_policy_name(o.chunk.policy) : "all");
        printf("documents: %ld train, %ld val, %ld test\n", rep.docs[0], rep.docs[1], rep.docs[2]);
        printf("chunks:    %ld train, %ld val, %ld test\n", rep.chunks[0], rep.chunks[1], rep.chunks[2]);
        printf("tokens: %ld, [UNK] %ld (%.3f%%)\n", rep.tokens, rep.unk,
               rep.tokens ? 100.0 * (double)rep.unk / (double)rep.tokens : 0.0);
        if (rep.truncated_docs)
            printf("max chunks: %ld documents truncated, %ld chunks dropped\n", rep.truncated_docs, rep.dropped_chunks);
        printf("\nlabel map (%d classes, %s order):\n", C, labels.numeric ? "numeric" : "byte");
        for (int c = 0; c < C; c++) printf("  %3d  %s\n", c, labels_name(&labels, c));
        printf("\n%-4s %-20s %21s %24s\n", "id", "class", "documents", "chunks");
        printf("%-4s %-20s %7s %6s %6s %8s %7s %7s\n", "", "", "train", "val", "test", "train", "val", "test");
        for (int c = 0; c <= C; c++) {
            long *d = st.cls_docs ? st.cls_docs + c * 3 : NULL, *k = st.cls_chunks ? st.cls_chunks + c * 3 : NULL;
            if (c == C && (!d || d[0] + d[1] + d[2] == 0)) continue;
            char idb[16];
            snprintf(idb, sizeof idb, "%d", c);
            printf("%-4s %-20s %7ld %6ld %6ld %8ld %7ld %7ld\n", c < C ? idb : "-",
                   c < C ? labels_name(&labels, c) : "(no label)", d ? d[0] : 0, d ? d[1] : 0, d ? d[2] : 0,
                   k ? k[0] : 0, k ? k[1] : 0, k ? k[2] : 0);
        }
        printf("\nchunks per document (max %d):\n", st.max_chunks_seen);
        for (int b = 0, lo = 1; b < N_BUCKETS; lo = s_bucket_hi[b] + 1, b++) {
            if (!st.hist[b]) continue;
            char range[32];
            if (b == N_BUCKETS - 1)
                snprintf(range, sizeof range, ">%d", lo - 1);
            else if (lo == s_bucket_hi[b])
                snprintf(range, sizeof range, "%d", lo);
            else
                snprintf(range, sizeof range, "%d-%d", lo, s_bucket_hi[b]);
            printf("  %-9s %7ld\n", range, st.hist[b]);
        }
        long skipped = 0;
        for (int b = 0; b < DATASET_BAD_N; b++) skipped += rep.bad[b];
        if (skipped) {
            printf("\nskipped (--skip-bad): %ld documents\n", skipped);
            for (int b = 0; b < DATASET_BAD_N; b++)
                if (rep.bad[b])
                    printf("  %-16s %6ld  first: %s\n", dataset_bad_name((dataset_bad)b), rep.bad[b], rep.first_bad[b]);
        }
        if (labels_out && labels_save(&labels, labels_out, err)) {
            fprintf(stderr, "hierbert dataset inspect: %s\n", err);
            rc = -1;
        } else if (labels_out) {
            printf("\nlabel map written to %s\n", labels_out);
        }
    }
    free(st.cls_docs);
    free(st.cls_chunks);
    labels_free(&labels);
    wp_destroy(&tok);
    free(in);
    free(files);
    return rc ? 1 : 0;
}

int cli_dataset(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        s_help(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "inspect")) return s_inspect(argc - 1, argv + 1);
    fprintf(stderr, "hierbert dataset: unknown subcommand '%s' (inspect)\n", argv[1]);
    return 2;
}
