/*
 * test_corpus_splits.c - the coordinator's ingest and load (coordinator/
 * corpus.c) with the real store, on a vocabulary whose [PAD] is not id 0 and
 * that has cased tokens:
 *  - --train/--val/--test: every document lands in its split (TRAIN, VAL,
 *    TEST) with its label (-1 for an unlabelled test document), and loads
 *    back into the corpus' train/val/test arrays;
 *  - padding uses the tokenizer's [PAD] id (recorded at ingest), not 0;
 *  - cased: "Hello" keeps its own id; uncased: it becomes "hello"'s;
 *  - a test label outside the training labels: refused naming file:line,
 *    nothing of the job left in the store; with skip_bad: skipped, counted
 *    and named (file:line) in the ingest info.
 */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "check.h"
#include "coord.h"
#include "test_tmpdir.h"

static const char *s_write(const char *dir, const char *name, const char *content) {
    char *p = malloc(strlen(dir) + strlen(name) + 2);
    sprintf(p, "%s/%s", dir, name);
    FILE *f = fopen(p, "wb");
    CHECK(f, "cannot write %s", p);
    fputs(content, f);
    fclose(f);
    return p;
}

/* the vocabulary's id of token (line index), -1 if absent */
static int s_vocab_id(const char *vocab, const char *token) {
    const char *p = vocab;
    for (int id = 0; *p; id++) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        if (n == strlen(token) && !strncmp(p, token, n)) return id;
        p += n + (nl ? 1 : 0);
    }
    return -1;
}

static const coord_split *s_find(const coord_corpus *c, const char *id, size_t *di) {
    const coord_split *sp[3] = {&c->train, &c->val, &c->test};
    for (int k = 0; k < 3; k++)
        for (size_t i = 0; i < sp[k]->n_docs; i++)
            if (!strcmp(sp[k]->doc_ids[i], id)) {
                *di = i;
                return sp[k];
            }
    return NULL;
}

int main(void) {
    char err[HB_ERR_LEN], dir[512], sdir[600], jdir[600];
    t_tmpdir(dir, sizeof dir, "corpus");
    snprintf(sdir, sizeof sdir, "%s/store", dir);
    static const char vocab_text[] = "[UNK]\n[CLS]\n[SEP]\n[MASK]\n[PAD]\nhello\nHello\nworld\nWorld\ndog\ncat\n"
                                     "fox\nrock\nthe\na\n";
    const char *vocab = s_write(dir, "vocab.txt", vocab_text);
    const int pad = s_vocab_id(vocab_text, "[PAD]"), up = s_vocab_id(vocab_text, "Hello"),
              low = s_vocab_id(vocab_text, "hello");
    CHECK(pad > 0 && up > 0 && low > 0 && up != low, "vocabulary fixture");
    const char *train = s_write(dir, "train.jsonl",
                                "{\"id\": \"t1\", \"text\": \"Hello dog\", \"label\": \"pets\"}\n"
                                "{\"id\": \"t2\", \"text\": \"the rock\", \"label\": \"music\"}\n"
                                "{\"id\": \"t3\", \"text\": \"a cat\", \"label\": \"pets\"}\n"
                                "{\"id\": \"t4\", \"text\": \"World rock\", \"label\": \"music\"}\n");
    const char *val = s_write(dir, "val.jsonl",
                              "{\"id\": \"v1\", \"text\": \"fox\", \"label\": \"pets\"}\n"
                              "{\"id\": \"v2\", \"text\": \"rock rock\", \"label\": \"music\"}\n");
    const char *test = s_write(dir, "test.jsonl",
                               "{\"id\": \"x1\", \"text\": \"Hello cat\", \"label\": \"pets\"}\n"
                               "{\"id\": \"x2\", \"text\": \"the world\"}\n"
                               "{\"id\": \"x3\", \"text\": \"rock the dog\", \"label\": \"music\"}\n");
    const char *bad = s_write(dir, "test_bad.jsonl",
                              "{\"id\": \"x1\", \"text\": \"Hello cat\", \"label\": \"pets\"}\n"
                              "{\"id\": \"x2\", \"text\": \"the world\", \"label\": \"sports\"}\n"
                              "{\"id\": \"x3\", \"text\": \"rock\", \"label\": \"music\"}\n");
    store_env *st = NULL;
    store_options so = {.nosync = 1};
    CHECK_OK(store_open(&st, sdir, &so, err), err);

    for (int cased = 0; cased < 2; cased++) {
        char job[8];
        snprintf(job, sizeof job, "%d", 1 + cased);
        snprintf(jdir, sizeof jdir, "%s/job%s", dir, job);
        CHECK(mkdir(jdir, 0750) == 0, "mkdir %s", jdir);
        Hierbert__Submit s = HIERBERT__SUBMIT__INIT;
        s.train_path = (char *)train;
        s.val_path = (char *)val;
        s.test_path = (char *)test;
        s.vocab_path = (char *)vocab;
        s.seq_len = 8;
        s.cased = cased;
        coord_ingest_info info;
        CHECK_OK(coord_corpus_ingest(st, job, jdir, &s, &info, err), err);
        CHECK(info.pad_id == pad && info.vocab_size == 15 && info.skipped == 0, "info: pad %d, vocab %d, skipped %ld",
              info.pad_id, info.vocab_size, info.skipped);
        coord_corpus c;
        CHECK_OK(coord_corpus_load(&c, st, job, jdir, 8, info.vocab_size, info.pad_id, err), err);
        CHECK(c.train.n_docs == 4 && c.val.n_docs == 2 && c.test.n_docs == 3, "splits %zu/%zu/%zu", c.train.n_docs,
              c.val.n_docs, c.test.n_docs);
        const char *names[] = {"t1", "t2", "t3", "t4", "v1", "v2", "x1", "x2", "x3"};
        const char *labs[] = {"pets", "music", "pets", "music", "pets", "music", "pets", NULL, "music"};
        const coord_split *want[] = {&c.train, &c.train, &c.train, &c.train, &c.val, &c.val, &c.test, &c.test, &c.test};
        long padded = 0;
        for (int d = 0; d < 9; d++) {
            size_t di = 0;
            const coord_split *sp = s_find(&c, names[d], &di);
            CHECK(sp == want[d], "%s: in the wrong split", names[d]);
            int lab = sp->labels[sp->doc_start[di]];
            CHECK(labs[d] ? lab == labels_id(&c.labels, labs[d]) && lab >= 0 : lab == -1, "%s: label %d", names[d],
                  lab);
            store_doc sd;
            memset(&sd, 0, sizeof sd);
            CHECK(store_doc_get(st, job, names[d], &sd, err) == 0, "%s: %s", names[d], err);
            int split = sp == &c.test ? STORE_SPLIT_TEST : sp == &c.val ? STORE_SPLIT_VAL : STORE_SPLIT_TRAIN;
            CHECK(sd.split == split && sd.label == lab && sd.n_chunks == sp->doc_count[di], "%s: stored split %d",
                  names[d], sd.split);
            /* the rows, read back from the store: the stored tokens, padded */
            const int32_t *tok = sd.token_ids;
            for (uint32_t k = 0; k < sp->doc_count[di]; k++) {
                uint32_t row = sp->doc_start[di] + k;
                int32_t ids[8];
                CHECK_OK(coord_corpus_rows(&c, sp, &row, 1, ids, err), err);
                CHECK(sp->lengths[row] == (int32_t)sd.chunk_len[k] &&
                          !memcmp(ids, tok, sd.chunk_len[k] * sizeof(int32_t)),
                      "%s: chunk %u differs from the stored tokens", names[d], k);
                tok += sd.chunk_len[k];
                for (int q = sp->lengths[row]; q < 8; q++, padded++)
                    CHECK(ids[q] == pad, "%s: position %d is %d, not [PAD] %d", names[d], q, ids[q], pad);
                if (!strcmp(names[d], "x1"))
                    CHECK(ids[1] == (cased ? up : low), "x1: 'Hello' is id %d (cased %d)", ids[1], cased);
            }
            store_doc_free(&sd);
        }
        /* rows from several documents in one call, out of order (TRAIN's shuffled batches) */
        uint32_t mix[3] = {(uint32_t)c.train.n - 1, 0, (uint32_t)c.train.n / 2};
        int32_t got[3][8], one[8];
        CHECK_OK(coord_corpus_rows(&c, &c.train, mix, 3, &got[0][0], err), err);
        for (int r = 0; r < 3; r++) {
            CHECK_OK(coord_corpus_rows(&c, &c.train, &mix[r], 1, one, err), err);
            CHECK(!memcmp(one, got[r], sizeof one), "row %u read alone differs from in a batch", mix[r]);
        }
        /* a document the store lost: the read fails naming it */
        if (!cased) {
            store_writer *w = store_writer_new(st, 0);
            char key[STORE_KEY_MAX + 1];
            CHECK_OK(store_make_key(key, job, "t2", err), err);
            CHECK_OK(store_writer_del(w, STORE_DB_DOCS, key, strlen(key), err), err);
            CHECK_OK(store_writer_commit(w, err), err);
            store_writer_destroy(&w);
            size_t di = 0;
            const coord_split *sp = s_find(&c, "t2", &di);
            uint32_t row = sp->doc_start[di];
            CHECK(coord_corpus_rows(&c, sp, &row, 1, one, err) == -1 && strstr(err, "t2") && strstr(err, "gone"),
                  "a lost document: %s", err);
            t_ok("a document gone from the store: its rows are refused: %s", err);
        }
        CHECK(padded > 0, "some chunks are padded");
        t_ok("%s ingest: 4 train, 2 val, 3 test documents in their splits with their labels (unlabelled test: -1); "
             "%ld padded positions hold [PAD] = %d; 'Hello' -> id %d",
             cased ? "cased" : "uncased", padded, pad, cased ? up : low);
        coord_corpus_free(&c);
    }

    /* a test label outside the training labels */
    snprintf(jdir, sizeof jdir, "%s/job3", dir);
    CHECK(mkdir(jdir, 0750) == 0, "mkdir %s", jdir);
    Hierbert__Submit s = HIERBERT__SUBMIT__INIT;
    s.train_path = (char *)train;
    s.test_path = (char *)bad;
    s.vocab_path = (char *)vocab;
    s.seq_len = 8;
    coord_ingest_info info;
    char where[700];
    snprintf(where, sizeof where, "%s:2:", bad);
    CHECK(coord_corpus_ingest(st, "3", jdir, &s, &info, err) == -1, "an unseen test label is refused");
    CHECK(strstr(err, where) && strstr(err, "sports"), "the error names %s and the label: %s", where, err);
    CHECK(store_count(st, STORE_DB_DOCS, "3", err) == 0, "nothing of the refused job in the store");
    t_ok("unseen test label refused: %s; nothing stored", err);
    s.skip_bad = 1;
    CHECK_OK(coord_corpus_ingest(st, "3", jdir, &s, &info, err), err);
    CHECK(info.skipped == 1 && strstr(info.skipped_first[DATASET_BAD_UNSEEN_LABEL], where), "skipped %ld: '%s'",
          info.skipped, info.skipped_first[DATASET_BAD_UNSEEN_LABEL]);
    CHECK(store_count(st, STORE_DB_DOCS, "3", err) == 6, "4 train + 2 test documents stored");
    t_ok("skip_bad: 1 document skipped and named: %s", info.skipped_first[DATASET_BAD_UNSEEN_LABEL]);

    store_close(&st);
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0, "rm %s", dir);
    return 0;
}
