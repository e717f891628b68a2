/*
 * test_ingest_store.c - the ingest contract end to end with the real store,
 * written the way the coordinator is meant to (dataset.h): emit puts each
 * document with store_writer_put_doc (chunk_len + packed ids as the store
 * takes them) and the caller commits only after dataset_ingest returns 0.
 *  - good input: every document reads back from LMDB with the ids and masks
 *    of a fresh tokenize + chunk of its text;
 *  - bad input (an unseen val label on the last line): refused with
 *    file:line, the store holds nothing of the job;
 *  - emit failing halfway after some batches were committed: the caller's
 *    store_job_delete leaves nothing of the job;
 *  - an id longer than the store accepts is refused at validation.
 */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "dataset.h"
#include "hb_error.h"
#include "store.h"
#include "test_tmpdir.h"

typedef struct {
    store_writer *w;
    const char *job;
    int n, fail_at;
} s_ctx;

static int s_emit(void *ctx, const dataset_doc *d, char *err) {
    s_ctx *c = ctx;
    if (c->fail_at && c->n == c->fail_at) return hb_fail(err, "simulated failure at document %d", c->n);
    size_t sum = 0;
    for (int k = 0; k < d->n_chunks; k++) {
        size_t m = 0;
        for (int j = 0; j < d->seq_len; j++) m += d->mask[(size_t)k * d->seq_len + j];
        CHECK(m == d->chunk_len[k], "chunk_len %u vs mask sum %zu", d->chunk_len[k], m);
        CHECK(!memcmp(d->packed + sum, d->ids + (size_t)k * d->seq_len, m * sizeof(int32_t)), "packed chunk %d", k);
        sum += m;
    }
    CHECK(sum == d->n_packed, "n_packed");
    c->n++;
    return store_writer_put_doc(c->w, c->job, d->id, d->label, d->split, (uint32_t)d->n_chunks, d->chunk_len, d->packed,
                                err);
}

/* writes dir/name; returns its path (malloc'd, kept for the whole test) */
static const char *s_write(const char *dir, const char *name, const char *content) {
    char *p = malloc(strlen(dir) + strlen(name) + 2);
    sprintf(p, "%s/%s", dir, name);
    FILE *f = fopen(p, "wb");
    fputs(content, f);
    fclose(f);
    return p;
}

int main(void) {
    char err[HB_ERR_LEN], dir[512], sdir[600], vocab[600];
    CHECK(DATASET_ID_MAX == STORE_DOC_ID_MAX, "id limits agree");
    t_tmpdir(dir, sizeof dir, "ingest");
    snprintf(sdir, sizeof sdir, "%s/store", dir);
    snprintf(vocab, sizeof vocab, "%s/tests/data/vocab_small.txt", HB_SOURCE_DIR);
    wp_tokenizer *tok;
    CHECK_OK(wp_load(&tok, vocab, 1, err), err);
    store_env *st;
    store_options so = {.nosync = 1};
    CHECK_OK(store_open(&st, sdir, &so, err), err);

    char train[8192] = "", tmp[512];
    const char *texts[6] = {"the quick brown fox",
                            "hello world hello world hello world",
                            "the lazy dog the lazy dog the lazy dog the lazy dog the lazy dog",
                            "fox",
                            "world the world",
                            "brown brown brown brown brown brown brown brown brown"};
    for (int i = 0; i < 6; i++) {
        snprintf(tmp, sizeof tmp, "{\"id\": \"doc/%d\", \"text\": \"%s\", \"label\": %d}\n", i, texts[i], 10 - i % 2);
        strcat(train, tmp);
    }
    const char *tp = s_write(dir, "train.jsonl", train);
    const char *vp = s_write(dir, "val.jsonl", "{\"id\": \"v1\", \"text\": \"hello fox\", \"label\": 9}\n");
    dataset_input in[2] = {{tp, DATASET_JSONL, DATASET_TRAIN}, {vp, DATASET_JSONL, DATASET_VAL}};
    dataset_options o = {.chunk = {.seq_len = 8, .stride = 3}};
    label_map lm;
    dataset_report rep;
    s_ctx c = {.w = store_writer_new(st, 2), .job = "job1"};
    CHECK_OK(dataset_ingest(in, 2, tok, &o, &lm, s_emit, &c, &rep, err), err);
    CHECK_OK(store_writer_commit(c.w, err), err);
    CHECK(store_count(st, STORE_DB_DOCS, "job1", err) == 7, "7 docs stored");
    chunk_config cc = o.chunk;
    cc.cls_id = tok->cls_id, cc.sep_id = tok->sep_id, cc.pad_id = tok->pad_id;
    chunk_set cs = {0};
    wp_ids ids = {0};
    store_doc sd = {0};
    for (int i = 0; i < 6; i++) {
        char id[16];
        snprintf(id, sizeof id, "doc/%d", i);
        CHECK(store_doc_get(st, "job1", id, &sd, err) == 0, "get %s: %s", id, err);
        ids.n = 0;
        CHECK_OK(wp_tokenize(tok, texts[i], strlen(texts[i]), &ids, NULL, err), err);
        chunk_text(&cc, ids.v, ids.n, &cs);
        CHECK((int)sd.n_chunks == cs.n_chunks && sd.split == STORE_SPLIT_TRAIN, "%s: %u chunks vs %d", id, sd.n_chunks,
              cs.n_chunks);
        CHECK(sd.label == labels_id(&lm, i % 2 ? "9" : "10"), "%s label %d", id, sd.label);
        size_t off = 0;
        for (int k = 0; k < cs.n_chunks; k++) {
            CHECK(sd.chunk_len[k] == cs.len[k], "%s chunk %d len", id, k);
            for (uint32_t j = 0; j < cs.len[k]; j++)
                CHECK(sd.token_ids[off + j] == cs.ids[(size_t)k * cc.seq_len + j] && cs.mask[(size_t)k * 8 + j],
                      "%s chunk %d token %u", id, k, j);
            off += cs.len[k];
        }
    }
    CHECK(lm.numeric && !strcmp(labels_name(&lm, 0), "9") && !strcmp(labels_name(&lm, 1), "10"), "labels 9,10");
    labels_free(&lm);
    store_writer_destroy(&c.w);
    t_ok("ingest -> store: 7 documents read back equal to tokenize + chunk (L=8, stride 3); labels 9,10 -> 0,1");

    /* bad input: nothing of job2 written */
    const char *bp = s_write(dir, "badval.jsonl",
                             "{\"id\": \"v1\", \"text\": \"hello\", \"label\": 9}\n"
                             "{\"id\": \"v2\", \"text\": \"hello\", \"label\": 4}\n");
    dataset_input bin[2] = {{tp, DATASET_JSONL, DATASET_TRAIN}, {bp, DATASET_JSONL, DATASET_VAL}};
    c = (s_ctx){.w = store_writer_new(st, 1), .job = "job2"};
    CHECK(dataset_ingest(bin, 2, tok, &o, &lm, s_emit, &c, &rep, err) == -1 && strstr(err, "badval.jsonl:2:"), "%s",
          err);
    store_writer_destroy(&c.w);
    CHECK(c.n == 0 && store_count(st, STORE_DB_DOCS, "job2", err) == 0, "job2 has documents");
    labels_free(&lm);
    t_ok("bad input refused (%s): emit never called, job2 has 0 documents", err);

    /* emit fails after 3 documents, batches of 1 already committed: caller deletes the job */
    c = (s_ctx){.w = store_writer_new(st, 1), .job = "job3", .fail_at = 3};
    CHECK(dataset_ingest(in, 2, tok, &o, &lm, s_emit, &c, &rep, err) == -1 && strstr(err, "simulated"), "%s", err);
    store_writer_discard(c.w);
    store_writer_destroy(&c.w);
    long half = store_count(st, STORE_DB_DOCS, "job3", err);
    CHECK(half > 0, "the failure left committed batches (%ld)", half);
    CHECK_OK(store_job_delete(st, "job3", err), err);
    CHECK(store_count(st, STORE_DB_DOCS, "job3", err) == 0, "job3 deleted");
    CHECK(store_count(st, STORE_DB_DOCS, "job1", err) == 7, "job1 untouched");
    labels_free(&lm);
    t_ok("emit failing after %ld committed documents: store_job_delete leaves nothing of job3, job1 intact", half);

    char longid[400];
    memset(longid, 'x', 300);
    longid[300] = 0;
    char line[600];
    snprintf(line, sizeof line, "{\"id\": \"%s\", \"text\": \"hello\", \"label\": 1}\n", longid);
    dataset_input lin = {s_write(dir, "long.jsonl", line), DATASET_JSONL, DATASET_TRAIN};
    CHECK(dataset_ingest(&lin, 1, tok, &o, &lm, s_emit, &c, &rep, err) == -1 && strstr(err, "long.jsonl:1:") &&
              strstr(err, "300 bytes"),
          "%s", err);
    labels_free(&lm);
    t_ok("a 300-byte id is refused at validation: %s", err);

    store_doc_free(&sd);
    chunk_set_free(&cs);
    wp_ids_free(&ids);
    store_close(&st);
    wp_destroy(&tok);
    snprintf(line, sizeof line, "rm -rf %s", dir);
    CHECK(system(line) == 0, "cleanup");
    return 0;
}
