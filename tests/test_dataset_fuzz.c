/*
 * test_dataset_fuzz.c - dataset files are untrusted: randomly mutated JSONL,
 * CSV and folder inputs (byte flips, inserted quotes/braces/newlines/NULs,
 * invalid UTF-8, truncation) never crash the readers or the tokenizer
 * (run it under ops/test.sh --sanitize), and every outcome is one of: 0
 * with documents emitted, or -1 with a message naming the file and nothing
 * emitted (strict mode). 400 mutations per format; HB_LONG=1: 20000.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "dataset.h"
#include "hb_error.h"
#include "test_tmpdir.h"

static unsigned long long s_rng = 88172645463325252ull;
static unsigned s_rand(unsigned n) {
    s_rng ^= s_rng << 13;
    s_rng ^= s_rng >> 7;
    s_rng ^= s_rng << 17;
    return (unsigned)(s_rng % n);
}

static int s_emit(void *ctx, const dataset_doc *d, char *err) {
    (void)err;
    CHECK(d->n_chunks >= 1 && d->label >= -1, "doc %s", d->id);
    (*(long *)ctx)++;
    return 0;
}

static size_t s_mutate(const char *base, size_t n, char *out) {
    static const char ins[] = "\"{}[],:\\\n\r\t \xff\xc3\x80\xed\xa0\x80";
    memcpy(out, base, n);
    int k = 1 + (int)s_rand(4);
    for (int i = 0; i < k; i++) {
        unsigned op = s_rand(4), at = s_rand((unsigned)n + 1);
        if (op == 0 && n)
            out[at % n] = (char)s_rand(256);
        else if (op == 1) {
            memmove(out + at + 1, out + at, n - at);
            out[at] = ins[s_rand(sizeof ins - 1)];
            n++;
        } else if (op == 2 && n) {
            memmove(out + at % n, out + at % n + 1, n - at % n - 1);
            n--;
        } else {
            n = at;
        }
    }
    return n;
}

int main(void) {
    char err[HB_ERR_LEN], dir[512], vocab[600], path[700];
    int iters = getenv("HB_LONG") && atoi(getenv("HB_LONG")) > 0 ? 20000 : 400;
    t_tmpdir(dir, sizeof dir, "fuzz");
    snprintf(vocab, sizeof vocab, "%s/tests/data/vocab_small.txt", HB_SOURCE_DIR);
    wp_tokenizer *tok;
    CHECK_OK(wp_load(&tok, vocab, 1, err), err);
    const char *bases[2] = {
        "{\"id\": \"a\", \"text\": \"hello world caf\xc3\xa9\", \"label\": \"x\"}\n"
        "{\"id\": 2, \"chunks\": [\"the fox\", \"\\u00e9\\u0301 ok\"], \"label\": 3, \"split\": \"train\"}\n"
        "{\"id\": \"c\", \"text\": \"\xce\x9f\xce\x94\xce\x9f\xce\xa3 \xe4\xb8\xad\", \"label\": \"x\", \"split\": "
        "\"val\"}\n",
        "id,text,label,split\n"
        "a,\"hello, \"\"world\"\"\nline\",x,train\n"
        "b,plain text,3,\n"
        "c,\"\xce\x9f\xce\x94\xce\x9f\xce\xa3\",x,val\n"};
    const char *ext[2] = {"jsonl", "csv"};
    char *buf = malloc(4096);
    long outcomes[2][3] = {{0}};
    for (int f = 0; f < 2; f++) {
        snprintf(path, sizeof path, "%s/in.%s", dir, ext[f]);
        size_t bn = strlen(bases[f]);
        for (int it = 0; it < iters; it++) {
            size_t n = s_mutate(bases[f], bn, buf);
            FILE *fp = fopen(path, "wb");
            fwrite(buf, 1, n, fp);
            fclose(fp);
            for (int skip = 0; skip < 2; skip++) {
                dataset_options o = {.chunk.seq_len = 8, .skip_bad = skip};
                dataset_input in = {path, DATASET_AUTO, DATASET_TRAIN};
                label_map lm;
                long emitted = 0;
                err[0] = 0;
                int rc = dataset_ingest(&in, 1, tok, &o, &lm, s_emit, &emitted, NULL, err);
                CHECK(rc == 0 || rc == -1, "rc %d", rc);
                if (rc == -1) {
                    CHECK(strstr(err, path) || strstr(err, "fraction"), "message without the file: %s", err);
                    CHECK(emitted == 0, "strict failure after %ld emitted: %s", emitted, err);
                    CHECK(lm.n == 0, "labels left after failure");
                }
                if (!skip) outcomes[f][rc == 0 ? 0 : 1]++;
                labels_free(&lm);
            }
        }
    }
    t_ok("%d mutated JSONL files: %ld accepted, %ld refused with file:line, nothing emitted on refusal", iters,
         outcomes[0][0], outcomes[0][1]);
    t_ok("%d mutated CSV files: %ld accepted, %ld refused with file:line", iters, outcomes[1][0], outcomes[1][1]);
    CHECK(outcomes[0][1] > 0 && outcomes[1][1] > 0 && outcomes[0][0] > 0 && outcomes[1][0] > 0,
          "mutations should produce both outcomes");

    /* random bytes straight into the tokenizer */
    wp_ids ids = {0};
    long bad = 0;
    for (int it = 0; it < iters * 5; it++) {
        size_t n = s_rand(200);
        for (size_t i = 0; i < n; i++) buf[i] = (char)s_rand(256);
        size_t off = 0;
        ids.n = 0;
        int rc = wp_tokenize(tok, buf, n, &ids, &off, err);
        CHECK(rc == 0 || (rc == -1 && off < n), "rc %d off %zu", rc, off);
        bad += rc == -1;
        CHECK((rc == -1) == (wp_utf8_check(buf, n, NULL) == -1), "tokenizer and checker disagree");
    }
    t_ok("%d random byte strings tokenized: %ld invalid UTF-8 reported at an offset inside, the rest tokenized",
         iters * 5, bad);
    wp_ids_free(&ids);
    free(buf);
    wp_destroy(&tok);
    t_rmtree(dir);
    return 0;
}
