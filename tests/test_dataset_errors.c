/*
 * test_dataset_errors.c - bad input is refused with file:line and nothing is
 * handed out (emit never called), for each case of issue 3: malformed JSONL
 * line, missing field, bad CSV quoting, duplicate id, empty document,
 * invalid UTF-8 (JSONL, CSV, folder), val label unseen in train. With
 * skip_bad the same documents are counted, skipped and reported, and the
 * good ones emitted. Also: the readers' happy paths (CSV quoting and
 * multi-line records with correct line numbers, folder layout, pre-split
 * chunks, integer ids and labels), val_fraction, and a file that changes
 * between the two passes.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "dataset.h"
#include "hb_error.h"

static char s_dir[] = "/tmp/hb-ds-XXXXXX";
static char s_vocab[600];

static const char *s_path(const char *name) {
    static char p[8][600];
    static int k;
    k = (k + 1) % 8;
    snprintf(p[k], sizeof p[k], "%s/%s", s_dir, name);
    return p[k];
}

static const char *s_write(const char *name, const char *content) {
    const char *p = s_path(name);
    FILE *f = fopen(p, "wb");
    CHECK(f, "create %s", p);
    fputs(content, f);
    fclose(f);
    return p;
}

typedef struct {
    int n;
    char ids[64][32];
    int labels[64], splits[64], chunks[64];
    const char *append_to; /* if set: the emit callback appends a line to this file once */
} s_sink;

static int s_emit(void *ctx, const dataset_doc *d, char *err) {
    (void)err;
    s_sink *s = ctx;
    CHECK(s->n < 64, "too many docs");
    snprintf(s->ids[s->n], 32, "%s", d->id);
    s->labels[s->n] = d->label;
    s->splits[s->n] = d->split;
    s->chunks[s->n] = d->n_chunks;
    s->n++;
    if (s->append_to) {
        FILE *f = fopen(s->append_to, "ab");
        fputs("{\"id\": \"late\", \"text\": \"hello\", \"label\": \"a\"}\n", f);
        fclose(f);
        s->append_to = NULL;
    }
    return 0;
}

static wp_tokenizer *s_tok;

/* ingests (train file, optional val file); returns rc, fills sink, report */
static int s_run(const char *train, const char *val, const dataset_options *o, s_sink *sink, dataset_report *rep,
                 label_map *lm, char *err) {
    dataset_input in[2] = {{train, DATASET_AUTO, DATASET_TRAIN}, {val, DATASET_AUTO, DATASET_VAL}};
    memset(sink, 0, sizeof *sink);
    return dataset_ingest(in, val ? 2 : 1, s_tok, o, lm, s_emit, sink, rep, err);
}

/* strict ingest must fail with `want` in the message, nothing emitted */
static void s_refused(const char *what, const char *train, const char *val, const char *want, const char *want2) {
    char err[HB_ERR_LEN] = "";
    dataset_options o = {.chunk.seq_len = 16};
    s_sink sink;
    dataset_report rep;
    label_map lm;
    int rc = s_run(train, val, &o, &sink, &rep, &lm, err);
    CHECK(rc == -1, "%s: accepted", what);
    CHECK(strstr(err, want) && (!want2 || strstr(err, want2)), "%s: message '%s' lacks '%s' / '%s'", what, err, want,
          want2 ? want2 : "");
    CHECK(sink.n == 0, "%s: %d documents emitted before the error", what, sink.n);
    CHECK(lm.n == 0, "%s: label map left filled", what);
    labels_free(&lm);
    t_ok("%s: refused, nothing emitted: %s", what, err);
}

static const char *s_at(const char *file, int line) {
    static char b[4][700];
    static int k;
    k = (k + 1) % 4;
    snprintf(b[k], sizeof b[k], "%s:%d:", s_path(file), line);
    return b[k];
}

int main(void) {
    char err[HB_ERR_LEN];
    CHECK(mkdtemp(s_dir), "mkdtemp");
    snprintf(s_vocab, sizeof s_vocab, "%s/tests/data/vocab_small.txt", HB_SOURCE_DIR);
    CHECK_OK(wp_load(&s_tok, s_vocab, 1, err), err);

    /* --- strict refusals ------------------------------------------------ */
    const char *good2 = "{\"id\": \"d1\", \"text\": \"hello world\", \"label\": \"a\"}\n"
                        "{\"id\": \"d2\", \"text\": \"the quick brown fox\", \"label\": \"b\"}\n";
    char buf[2048];
    snprintf(buf, sizeof buf, "%s{\"id\": \"d3\", \"text\": \"x\", \"label\": \"a\"\n", good2);
    s_refused("malformed JSONL line", s_write("mal.jsonl", buf), NULL, s_at("mal.jsonl", 3), "malformed JSON");
    snprintf(buf, sizeof buf, "%s\n[1, 2]\n", good2);
    s_refused("JSONL line not an object", s_write("arr.jsonl", buf), NULL, s_at("arr.jsonl", 4), "JSON object");
    snprintf(buf, sizeof buf, "%s{\"id\": \"d3\", \"label\": \"a\"}\n", good2);
    s_refused("missing field text", s_write("notext.jsonl", buf), NULL, s_at("notext.jsonl", 3), "\"text\"");
    snprintf(buf, sizeof buf, "{\"text\": \"hi\", \"label\": \"a\"}\n%s", good2);
    s_refused("missing field id", s_write("noid.jsonl", buf), NULL, s_at("noid.jsonl", 1), "\"id\"");
    snprintf(buf, sizeof buf, "%s{\"id\": \"d3\", \"text\": \"hi\"}\n", good2);
    s_refused("train document without label", s_write("nolabel.jsonl", buf), NULL, s_at("nolabel.jsonl", 3),
              "no label");
    snprintf(buf, sizeof buf, "%s{\"id\": \"d3\", \"text\": \"hi\", \"label\": 1.5}\n", good2);
    s_refused("label of the wrong type", s_write("flt.jsonl", buf), NULL, s_at("flt.jsonl", 3), "\"label\"");
    snprintf(buf, sizeof buf, "%s{\"id\": \"d3\", \"text\": \"hi\", \"label\": \"a\", \"split\": \"dev\"}\n", good2);
    s_refused("unknown split", s_write("split.jsonl", buf), NULL, s_at("split.jsonl", 3), "split");

    s_refused("CSV unterminated quote", s_write("q1.csv", "id,text,label\n1,hello,a\n2,\"never closed,b\n3,x,a\n"),
              NULL, s_at("q1.csv", 4), "starting at line 3");
    s_refused("CSV stray quote", s_write("q2.csv", "id,text,label\n1,hello,a\n2,ab\"c,b\n"), NULL, s_at("q2.csv", 3),
              "quoting");
    s_refused("CSV text after closing quote", s_write("q3.csv", "id,text,label\n1,\"hi\"x,a\n"), NULL,
              s_at("q3.csv", 2), "quoting");
    s_refused("CSV wrong field count", s_write("q4.csv", "id,text,label\n1,hello,a,extra\n"), NULL, s_at("q4.csv", 2),
              "4 fields");
    s_refused("CSV missing text column", s_write("q5.csv", "id,body,label\n1,hello,a\n"), NULL, s_at("q5.csv", 1),
              "'text'");

    snprintf(buf, sizeof buf,
             "%s{\"id\": \"d9\", \"text\": \"fine\", \"label\": \"a\"}\n"
             "{\"id\": \"d2\", \"text\": \"again\", \"label\": \"b\"}\n",
             good2);
    const char *dup = s_write("dup.jsonl", buf);
    char first[700];
    snprintf(first, sizeof first, "first at %s/dup.jsonl:2)", s_dir);
    s_refused("duplicate id", dup, NULL, s_at("dup.jsonl", 4), first);
    s_refused("duplicate id across train and val", s_write("t.jsonl", good2),
              s_write("v.jsonl", "{\"id\": \"d1\", \"text\": \"hi\", \"label\": \"a\"}\n"), s_at("v.jsonl", 1),
              "duplicate");
    snprintf(buf, sizeof buf, "%s{\"id\": 7, \"text\": \" \\t\\u0001 \\u200b\", \"label\": \"a\"}\n", good2);
    s_refused("empty document (only spaces and control characters)", s_write("empty.jsonl", buf), NULL,
              s_at("empty.jsonl", 3), "empty");
    snprintf(buf, sizeof buf, "%s{\"id\": 8, \"chunks\": [\"fine\", \"\"], \"label\": \"a\"}\n", good2);
    s_refused("empty chunk in a pre-split document", s_write("emptyc.jsonl", buf), NULL, s_at("emptyc.jsonl", 3),
              "chunk 1");
    snprintf(buf, sizeof buf, "%s{\"id\": \"d3\", \"text\": \"caf\xe9\", \"label\": \"a\"}\n", good2);
    s_refused("invalid UTF-8 in JSONL", s_write("u.jsonl", buf), NULL, s_at("u.jsonl", 3), "invalid UTF-8");
    s_refused("invalid UTF-8 in CSV (multi-line record)",
              s_write("u.csv", "id,text,label\n1,\"line one\nline two\",a\n2,\"ok\nbad \xff here\",b\n"), NULL,
              s_at("u.csv", 5), "invalid UTF-8");
    CHECK(system("true") == 0, "shell");
    snprintf(buf, sizeof buf,
             "mkdir -p %s/fold/a %s/fold/b && printf 'fine text' > %s/fold/a/1.txt && "
             "printf 'ok\\nbad \\377' > %s/fold/b/2.txt",
             s_dir, s_dir, s_dir, s_dir);
    CHECK(system(buf) == 0, "make folder");
    char fb[700];
    snprintf(fb, sizeof fb, "%s/fold/b/2.txt:2:", s_dir);
    s_refused("invalid UTF-8 in a folder file", s_path("fold"), NULL, fb, "invalid UTF-8");
    s_refused("val label unseen in train", s_write("t2.jsonl", good2),
              s_write("v2.jsonl", "{\"id\": \"v1\", \"text\": \"hi\", \"label\": \"a\"}\n"
                                  "{\"id\": \"v2\", \"text\": \"hi\", \"label\": \"zzz\"}\n"),
              s_at("v2.jsonl", 2), "'zzz'");
    /* the refusal names the EARLIEST bad document, whatever kind: an unseen
     * label (known only after the whole first pass) before an empty one */
    s_refused("earliest bad document: unseen label before an empty one", s_write("t3.jsonl", good2),
              s_write("v3.jsonl", "{\"id\": \"v1\", \"text\": \"hi\", \"label\": \"zzz\"}\n"
                                  "{\"id\": \"v2\", \"text\": \"\\u0001\", \"label\": \"a\"}\n"),
              s_at("v3.jsonl", 1), "'zzz'");
    s_refused("earliest bad document: empty one before an unseen label", s_write("t4.jsonl", good2),
              s_write("v4.jsonl", "{\"id\": \"v1\", \"text\": \"\\u0001\", \"label\": \"a\"}\n"
                                  "{\"id\": \"v2\", \"text\": \"hi\", \"label\": \"zzz\"}\n"),
              s_at("v4.jsonl", 1), "empty");
    /* ... and before a malformed line further on (refused at once) */
    snprintf(buf, sizeof buf, "%s{\"id\": \"d1\", \"text\": \"again\", \"label\": \"a\"}\n{\"id\": \"d4\"\n", good2);
    s_refused("earliest bad document: a duplicate before a malformed line", s_write("dupmal.jsonl", buf), NULL,
              s_at("dupmal.jsonl", 3), "duplicate");
    /* a training set whose only documents are bad: their reason, not "no documents" */
    s_refused("every document bad", s_write("allbad.jsonl", "{\"id\": \"e1\", \"text\": \"\\u0001\", \"label\": \"a\"}\n"),
              NULL, s_at("allbad.jsonl", 1), "empty");

    /* --- skip policy: one of each, counted and reported ------------------ */
    const char *mixed = s_write("mixed.jsonl", "{\"id\": \"g1\", \"text\": \"hello world\", \"label\": \"a\"}\n"
                                               "{\"id\": \"g2\", \"text\": \"caf\xe9\", \"label\": \"a\"}\n"
                                               "{\"id\": \"g3\", \"text\": \"\\u0001\", \"label\": \"b\"}\n"
                                               "{\"id\": \"g1\", \"text\": \"again\", \"label\": \"b\"}\n"
                                               "{\"id\": \"g4\", \"text\": \"the fox\", \"label\": \"b\"}\n");
    const char *mval = s_write("mval.jsonl", "{\"id\": \"h1\", \"text\": \"hi\", \"label\": \"nope\"}\n"
                                             "{\"id\": \"h2\", \"text\": \"hi there\", \"label\": \"b\"}\n");
    dataset_options o = {.chunk.seq_len = 16, .skip_bad = 1};
    s_sink sink;
    dataset_report rep;
    label_map lm;
    CHECK_OK(s_run(mixed, mval, &o, &sink, &rep, &lm, err), err);
    CHECK(sink.n == 3 && !strcmp(sink.ids[0], "g1") && !strcmp(sink.ids[1], "g4") && !strcmp(sink.ids[2], "h2"),
          "kept %d", sink.n);
    CHECK(rep.bad[DATASET_BAD_UTF8] == 1 && strstr(rep.first_bad[DATASET_BAD_UTF8], s_at("mixed.jsonl", 2)),
          "utf8 %ld %s", rep.bad[DATASET_BAD_UTF8], rep.first_bad[DATASET_BAD_UTF8]);
    CHECK(rep.bad[DATASET_BAD_EMPTY] == 1 && strstr(rep.first_bad[DATASET_BAD_EMPTY], s_at("mixed.jsonl", 3)), "empty");
    CHECK(rep.bad[DATASET_BAD_DUPLICATE] == 1 && strstr(rep.first_bad[DATASET_BAD_DUPLICATE], s_at("mixed.jsonl", 4)),
          "dup");
    CHECK(rep.bad[DATASET_BAD_UNSEEN_LABEL] == 1 &&
              strstr(rep.first_bad[DATASET_BAD_UNSEEN_LABEL], s_at("mval.jsonl", 1)),
          "unseen");
    CHECK(rep.docs[0] == 2 && rep.docs[1] == 1 && lm.n == 2, "counts %ld %ld, %d labels", rep.docs[0], rep.docs[1],
          lm.n);
    labels_free(&lm);
    t_ok("skip policy: invalid UTF-8, empty, duplicate, unseen label each counted once with file:line; 3 good "
         "documents emitted");

    /* --- happy paths ---------------------------------------------------- */
    const char *csv = s_write("ok.csv", "\xEF\xBB\xBFtext,label,id\n"
                                        "\"hello, world\",2,a\n"
                                        "\"she said \"\"hi\"\"\n and left\",10,b\n"
                                        "\n"
                                        " spaced ,1,c\n"
                                        "last line,2,\"e\"\n");
    o.skip_bad = 0;
    CHECK_OK(s_run(csv, NULL, &o, &sink, &rep, &lm, err), err);
    CHECK(sink.n == 4 && !strcmp(sink.ids[1], "b") && !strcmp(sink.ids[3], "e"), "csv docs %d", sink.n);
    CHECK(lm.numeric && lm.n == 3 && sink.labels[0] == 1 && sink.labels[1] == 2 && sink.labels[2] == 0,
          "numeric labels 1,2,10 -> 0,1,2: %d %d %d", sink.labels[0], sink.labels[1], sink.labels[2]);
    labels_free(&lm);
    dataset_reader *r;
    dataset_record rec;
    CHECK_OK(dataset_open(&r, csv, DATASET_AUTO, NULL, err), err);
    long lines[4];
    for (int i = 0; i < 4; i++) {
        CHECK(dataset_next(r, &rec, err) == 1, "csv record %d: %s", i, err);
        lines[i] = rec.line;
        if (i == 1) CHECK(!strcmp(rec.text, "she said \"hi\"\n and left"), "quoted text: [%s]", rec.text);
        if (i == 2) CHECK(!strcmp(rec.text, " spaced "), "spaces kept: [%s]", rec.text);
    }
    CHECK(dataset_next(r, &rec, err) == 0, "csv end");
    dataset_close(&r);
    CHECK(lines[0] == 2 && lines[1] == 3 && lines[2] == 6 && lines[3] == 7, "record lines %ld %ld %ld %ld", lines[0],
          lines[1], lines[2], lines[3]);
    t_ok("CSV: header in any column order, BOM, quoted comma, \"\" and newline in a field, blank line, spaces kept; "
         "records start at lines 2,3,6,7; labels 1,2,10 -> 0,1,2");

    snprintf(buf, sizeof buf, "printf 'x' > %s/fold/b/2.txt && mkdir -p %s/fold/.hidden && printf 'y' > %s/fold/a/.swp",
             s_dir, s_dir, s_dir);
    CHECK(system(buf) == 0, "fix folder");
    CHECK_OK(s_run(s_path("fold"), NULL, &o, &sink, &rep, &lm, err), err);
    CHECK(sink.n == 2 && !strcmp(sink.ids[0], "a/1.txt") && !strcmp(sink.ids[1], "b/2.txt") && sink.labels[1] == 1,
          "folder %d %s", sink.n, sink.ids[0]);
    labels_free(&lm);
    CHECK(rep.ignored_entries == 2 && strstr(rep.ignored, "fold/.hidden") && strstr(rep.ignored, "fold/a/.swp"),
          "hidden entries: %ld (%s)", rep.ignored_entries, rep.ignored);
    snprintf(buf, sizeof buf, "printf 'z' > %s/fold/stray.txt", s_dir);
    CHECK(system(buf) == 0, "stray");
    CHECK_OK(s_run(s_path("fold"), NULL, &o, &sink, &rep, &lm, err), err);
    CHECK(sink.n == 2 && rep.ignored_entries == 3 && strstr(rep.ignored, "fold/stray.txt"), "stray: %d docs, %ld (%s)",
          sink.n, rep.ignored_entries, rep.ignored);
    labels_free(&lm);
    snprintf(buf, sizeof buf, "mkdir -p %s/fold/a/sub", s_dir);
    CHECK(system(buf) == 0, "sub");
    s_refused("a folder inside a class folder", s_path("fold"), NULL, "fold/a/sub", "regular file");
    snprintf(buf, sizeof buf, "rmdir %s/fold/a/sub", s_dir);
    CHECK(system(buf) == 0, "rmdir");
    t_ok("folder layout: DIR/<label>/<file>, id = label/file, sorted; hidden entries and a top-level file ignored and "
         "counted (%s), a folder inside a class folder refused",
         rep.ignored);

    const char *js = s_write(
        "chunks.jsonl", "{\"id\": 5, \"chunks\": [\"hello world\", \"the fox\", \"the quick brown\"], \"label\": 3}\n"
                        "{\"id\": \"t1\", \"text\": \"the the the the the the the the the the the the the the the "
                        "the the the the the\", \"split\": \"test\"}\n"
                        "{\"id\": 6, \"text\": \"hello\", \"label\": \"3\", \"split\": \"val\"}\n");
    CHECK_OK(s_run(js, NULL, &o, &sink, &rep, &lm, err), err);
    CHECK(sink.n == 3 && !strcmp(sink.ids[0], "5") && sink.chunks[0] == 3 && sink.labels[0] == 0, "chunks doc");
    CHECK(sink.splits[1] == DATASET_TEST && sink.labels[1] == -1 && sink.chunks[1] == 2, "test doc: %d chunks",
          sink.chunks[1]);
    CHECK(sink.splits[2] == DATASET_VAL && sink.labels[2] == 0, "label 3 and \"3\" are one label");
    labels_free(&lm);
    t_ok("JSONL: integer id and label, pre-split chunks (3 chunks), unlabelled test document, 3 and \"3\" one label");

    /* a fixed label map (predicting with an exported model): its order, no new labels */
    label_map fixed;
    const char *fjs = "{\"labels\": [\"b\", \"a\"]}";
    CHECK_OK(labels_parse(&fixed, fjs, strlen(fjs), "labels.json", err), err);
    o.fixed = &fixed;
    CHECK_OK(s_run(s_write("fx.jsonl", good2), NULL, &o, &sink, &rep, &lm, err), err);
    CHECK(sink.n == 2 && sink.labels[0] == 1 && sink.labels[1] == 0 && lm.n == 2 && !strcmp(labels_name(&lm, 0), "b"),
          "fixed map order");
    labels_free(&lm);
    CHECK(s_run(s_write("fx2.jsonl", "{\"id\": 1, \"text\": \"hi\", \"label\": \"c\", \"text\": null}\n"), NULL, &o,
                &sink, &rep, &lm, err) == -1,
          "duplicate key accepted");
    CHECK(s_run(s_write("fx3.jsonl", "{\"id\": 1, \"text\": \"hi\", \"label\": \"c\", \"chunks\": null}\n"), NULL, &o,
                &sink, &rep, &lm, err) == -1 &&
              strstr(err, "fx3.jsonl:1:") && strstr(err, "'c'") && sink.n == 0,
          "label outside a fixed map: %s", err);
    labels_free(&lm);
    labels_free(&fixed);
    o.fixed = NULL;
    t_ok("fixed label map: ids follow its order (b=0, a=1); a label outside it is refused (%s)", err);

    /* val_fraction: 10 train-role docs of 2 classes -> 1 val each */
    buf[0] = 0;
    for (int i = 0; i < 10; i++) {
        char l[128];
        snprintf(l, sizeof l, "{\"id\": \"f%d\", \"text\": \"hello\", \"label\": \"%c\"}\n", i, i < 5 ? 'a' : 'b');
        strcat(buf, l);
    }
    o.val_fraction = 0.2;
    o.seed = 42;
    CHECK_OK(s_run(s_write("frac.jsonl", buf), NULL, &o, &sink, &rep, &lm, err), err);
    int nv[2] = {0, 0};
    for (int i = 0; i < sink.n; i++) nv[sink.labels[i]] += sink.splits[i] == DATASET_VAL;
    CHECK(sink.n == 10 && nv[0] == 1 && nv[1] == 1 && rep.docs[1] == 2, "val per class %d %d", nv[0], nv[1]);
    labels_free(&lm);
    o.val_fraction = 0;
    t_ok("val_fraction 0.2: train-role documents split stratified (1 val per class of 5)");

    /* a file that grows between the passes */
    const char *grow = s_write("grow.jsonl", good2);
    memset(&sink, 0, sizeof sink);
    dataset_input gi = {grow, DATASET_AUTO, DATASET_TRAIN};
    sink.append_to = grow;
    CHECK(dataset_ingest(&gi, 1, s_tok, &o, &lm, s_emit, &sink, &rep, err) == -1 && strstr(err, "changed"), "%s", err);
    labels_free(&lm);
    t_ok("an input changed between validation and emission is detected: %s", err);

    wp_destroy(&s_tok);
    snprintf(buf, sizeof buf, "rm -rf %s", s_dir);
    CHECK(system(buf) == 0, "cleanup");
    return 0;
}
