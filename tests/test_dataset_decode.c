/*
 * test_dataset_decode.c - datasets as they come (issue 13): a folder corpus
 * as distributed (README and LICENSE beside the class folders, hidden
 * entries) ingests with the ignored entries counted and named; an empty
 * class folder is refused naming it; a latin-1 file is refused by default
 * (strict UTF-8), read right with encoding latin1, and ingested with U+FFFD
 * and a count per file with replace; the same JSONL in UTF-16 (BOM) and
 * in UTF-8 give the same tokens; a cp1252 byte with no character is refused
 * naming file:line and byte (strict) or replaced and counted; an unknown
 * encoding is refused before anything is read. Every refusal emits nothing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "dataset.h"
#include "hb_error.h"
#include "test_tmpdir.h"

static char s_dir[600];
static wp_tokenizer *s_tok;

typedef struct {
    int n;
    char ids[16][64];
    int32_t toks[16][32];
    int n_toks[16];
} s_sink;

static int s_emit(void *ctx, const dataset_doc *d, char *err) {
    (void)err;
    s_sink *s = ctx;
    CHECK(s->n < 16, "too many documents");
    snprintf(s->ids[s->n], 64, "%s", d->id);
    int k = 0;
    for (size_t i = 0; i < d->n_packed && k < 32; i++) s->toks[s->n][k++] = d->packed[i];
    s->n_toks[s->n++] = k;
    return 0;
}

static void s_sh(const char *fmt, const char *arg) {
    char cmd[4096];
    snprintf(cmd, sizeof cmd, fmt, arg, arg, arg, arg, arg, arg);
    CHECK(system(cmd) == 0, "%s", cmd);
}

static int s_run(const char *path, const char *enc, int replace, s_sink *sink, dataset_report *rep, char *err) {
    dataset_input in[1] = {{path, DATASET_AUTO, DATASET_TRAIN}};
    dataset_options o = {.chunk.seq_len = 32, .encoding = enc, .decode_replace = replace};
    label_map lm;
    memset(sink, 0, sizeof *sink);
    int rc = dataset_ingest(in, 1, s_tok, &o, &lm, s_emit, sink, rep, err);
    labels_free(&lm);
    return rc;
}

static void s_refused(const char *what, const char *path, const char *enc, int replace, const char *want,
                      const char *want2) {
    char err[HB_ERR_LEN] = "";
    s_sink sink;
    dataset_report rep;
    CHECK(s_run(path, enc, replace, &sink, &rep, err) == -1, "%s: accepted", what);
    CHECK(strstr(err, want) && (!want2 || strstr(err, want2)), "%s: '%s' lacks '%s' / '%s'", what, err, want,
          want2 ? want2 : "");
    CHECK(sink.n == 0, "%s: %d documents emitted", what, sink.n);
    t_ok("%s: refused, nothing emitted: %s", what, err);
}

int main(void) {
    char err[HB_ERR_LEN], vocab[700], path[700];
    snprintf(vocab, sizeof vocab, "%s/tests/data/vocab_small.txt", HB_SOURCE_DIR);
    CHECK_OK(wp_load(&s_tok, vocab, 1, err), err);
    t_tmpdir(s_dir, sizeof s_dir, "decode");
    s_sink sink;
    dataset_report rep;

    /* --- a folder corpus as distributed -------------------------------- */
    s_sh("mkdir -p %s/c/alpha %s/c/beta %s/c/.git && printf 'hello world' > %s/c/alpha/1.txt && "
         "printf 'the lazy dog' > %s/c/beta/1.txt && printf 'the fox' > %s/c/beta/.DS_Store",
         s_dir);
    s_sh("printf 'A corpus.' > %s/c/README && printf 'CC-BY' > %s/c/LICENSE.txt", s_dir);
    snprintf(path, sizeof path, "%s/c", s_dir);
    CHECK_OK(s_run(path, NULL, 0, &sink, &rep, err), err);
    CHECK(sink.n == 2 && !strcmp(sink.ids[0], "alpha/1.txt") && !strcmp(sink.ids[1], "beta/1.txt"), "%d docs", sink.n);
    CHECK(rep.ignored_entries == 4, "ignored %ld: %s", rep.ignored_entries, rep.ignored);
    CHECK(strstr(rep.ignored, "c/README") && strstr(rep.ignored, "c/LICENSE.txt") && strstr(rep.ignored, "c/.git") &&
              strstr(rep.ignored, "beta/.DS_Store"),
          "ignored names: %s", rep.ignored);
    t_ok("folder with README, LICENSE.txt, .git and a .DS_Store: 2 documents, %ld entries ignored and named (%s)",
         rep.ignored_entries, rep.ignored);
    s_sh("mkdir -p %s/c/gamma && printf 'x' > %s/c/gamma/.keep", s_dir);
    s_refused("an empty class folder", path, NULL, 0, "c/gamma: an empty class folder", "label 'gamma'");
    s_sh("rm -r %s/c/gamma && mkdir %s/e && printf 'x' > %s/e/README", s_dir);
    snprintf(path, sizeof path, "%s/e", s_dir);
    s_refused("a folder with no class folder", path, NULL, 0, "no class folder", NULL);

    /* --- a latin-1 file in the folder ------------------------------------ */
    s_sh("printf 'caf\\351 hello' > %s/c/alpha/2.txt", s_dir); /* é in latin-1: 0xE9 */
    snprintf(path, sizeof path, "%s/c", s_dir);
    s_refused("latin-1 byte, strict UTF-8 (the default)", path, NULL, 0, "alpha/2.txt", "invalid UTF-8");
    CHECK_OK(s_run(path, "latin1", 0, &sink, &rep, err), err);
    CHECK(sink.n == 3 && rep.replaced == 0, "latin1: %d docs, %ld replaced", sink.n, rep.replaced);
    int32_t cafe_latin1[32];
    int n_latin1 = sink.n_toks[1];
    memcpy(cafe_latin1, sink.toks[1], sizeof cafe_latin1);
    CHECK_OK(s_run(path, NULL, 1, &sink, &rep, err), err);
    CHECK(sink.n == 3 && rep.replaced == 1 && rep.replaced_files == 1 && strstr(rep.replaced_list, "alpha/2.txt (1)"),
          "replace: %d docs, %ld replaced in %ld files (%s)", sink.n, rep.replaced, rep.replaced_files,
          rep.replaced_list);
    CHECK(n_latin1 != sink.n_toks[1] || memcmp(cafe_latin1, sink.toks[1], (size_t)n_latin1 * 4),
          "latin1 and replace gave the same tokens: the encoding was not applied");
    t_ok("a latin-1 file: refused by default; --encoding latin1 reads it (3 documents); --decode-errors replace: %ld "
         "byte replaced in %ld file, named (%s)",
         rep.replaced, rep.replaced_files, rep.replaced_list);

    /* --- UTF-16 with a BOM gives the same tokens as UTF-8 --------------- */
    s_sh("printf '{\"id\": \"a\", \"text\": \"the quick brown fox\", \"label\": \"x\"}\\n{\"id\": \"b\", \"text\": "
         "\"hello "
         "world\", \"label\": \"y\"}\\n' > %s/u8.jsonl && iconv -f UTF-8 -t UTF-16 %s/u8.jsonl > %s/u16.jsonl",
         s_dir);
    s_sink a, b;
    snprintf(path, sizeof path, "%s/u8.jsonl", s_dir);
    CHECK_OK(s_run(path, NULL, 0, &a, &rep, err), err);
    snprintf(path, sizeof path, "%s/u16.jsonl", s_dir);
    s_refused("UTF-16 read as UTF-8", path, NULL, 0, "u16.jsonl:1", NULL);
    CHECK_OK(s_run(path, "UTF-16", 0, &b, &rep, err), err);
    CHECK(a.n == 2 && b.n == 2, "%d / %d documents", a.n, b.n);
    for (int i = 0; i < 2; i++)
        CHECK(a.n_toks[i] == b.n_toks[i] && !memcmp(a.toks[i], b.toks[i], (size_t)a.n_toks[i] * 4),
              "document %d differs", i);
    t_ok("JSONL in UTF-16 with a BOM (--encoding UTF-16): the same 2 documents and tokens as its UTF-8 original");

    /* --- cp1252: 0x81 has no character ------------------------------------ */
    s_sh("printf '{\"id\": \"a\", \"text\": \"hello\", \"label\": \"x\"}\\n{\"id\": \"b\", \"text\": \"dog \\201 "
         "\\223fox\\224\", \"label\": \"y\"}\\n' > %s/w.jsonl",
         s_dir);
    snprintf(path, sizeof path, "%s/w.jsonl", s_dir);
    s_refused("an undefined cp1252 byte, strict", path, "cp1252", 0, "w.jsonl:2: byte 68 (0x81) is not valid cp1252",
              NULL);
    CHECK_OK(s_run(path, "cp1252", 1, &sink, &rep, err), err);
    CHECK(sink.n == 2 && rep.replaced == 1 && strstr(rep.replaced_list, "w.jsonl (1)"), "cp1252 replace: %ld (%s)",
          rep.replaced, rep.replaced_list);
    t_ok("cp1252 (curly quotes decoded): the undefined byte 0x81 refused with file:line:byte, or replaced and counted "
         "(%s)",
         rep.replaced_list);

    /* --- an unknown encoding ------------------------------------------------ */
    s_refused("an unknown encoding", path, "klingon-8", 0, "encoding 'klingon-8'", "iconv");

    wp_destroy(&s_tok);
    s_sh("rm -rf %s", s_dir);
    return 0;
}
