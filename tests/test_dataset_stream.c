/*
 * test_dataset_stream.c - the readers stream: ingesting a JSONL file of
 * ~40 MB and a CSV file of ~16 MB (generated here in a temp dir) raises the
 * peak resident memory by far less than the files' size (bound: a quarter of
 * the JSONL file), and every document arrives with all its chunks.
 * HB_LONG=1 uses a 4x larger JSONL file.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "check.h"
#include "dataset.h"
#include "hb_error.h"

/* AddressSanitizer keeps freed memory in quarantine: peak RSS then measures
 * the allocation churn, not what is live; the bound is checked without it. */
#if defined(__SANITIZE_ADDRESS__)
#define S_RSS_CHECKED 0
#else
#define S_RSS_CHECKED 1
#endif

static long s_maxrss_kb(void) {
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return u.ru_maxrss;
}

typedef struct {
    long docs, chunks, tokens;
} s_count;

static int s_emit(void *ctx, const dataset_doc *d, char *err) {
    (void)err;
    s_count *c = ctx;
    c->docs++;
    c->chunks += d->n_chunks;
    c->tokens += (long)d->n_tokens;
    return 0;
}

static const char *s_words[] = {"the", "quick", "brown", "fox", "jumps", "over", "lazy", "dog", "hello", "world"};

static long s_word_tokens[10]; /* pieces per word, measured once on its own */

/* one document of about `bytes` bytes of text; returns its token count */
static long s_text(char *out, size_t bytes, unsigned *seed) {
    size_t n = 0;
    long words = 0;
    while (n + 8 < bytes) {
        *seed = *seed * 1103515245u + 12345u;
        const char *w = s_words[(*seed >> 16) % 10];
        size_t l = strlen(w);
        memcpy(out + n, w, l);
        n += l;
        out[n++] = ' ';
        words += s_word_tokens[(*seed >> 16) % 10];
    }
    out[n] = '\0';
    return words;
}

int main(void) {
    char err[HB_ERR_LEN];
    char dir[] = "/tmp/hb-stream-XXXXXX";
    CHECK(mkdtemp(dir), "mkdtemp");
    char vocab[600], jpath[600], cpath[600];
    snprintf(vocab, sizeof vocab, "%s/tests/data/vocab_small.txt", HB_SOURCE_DIR);
    snprintf(jpath, sizeof jpath, "%s/big.jsonl", dir);
    snprintf(cpath, sizeof cpath, "%s/big.csv", dir);
    wp_tokenizer *tok;
    CHECK_OK(wp_load(&tok, vocab, 1, err), err);

    wp_ids ids = {0};
    for (int i = 0; i < 10; i++) {
        ids.n = 0;
        CHECK_OK(wp_tokenize(tok, s_words[i], strlen(s_words[i]), &ids, NULL, err), err);
        s_word_tokens[i] = (long)ids.n;
    }
    wp_ids_free(&ids);
    int big = getenv("HB_LONG") && atoi(getenv("HB_LONG")) > 0;
    long n_docs = big ? 10000 : 2500, doc_bytes = 16000, want_tokens = 0, want_chunks = 0;
    char *text = malloc((size_t)doc_bytes + 1);
    unsigned seed = 7;
    FILE *f = fopen(jpath, "wb");
    CHECK(f, "create %s", jpath);
    for (long i = 0; i < n_docs; i++) {
        long t = s_text(text, (size_t)doc_bytes, &seed);
        want_tokens += t;
        want_chunks += (t + 125) / 126; /* L = 128: 126 content tokens per chunk */
        fprintf(f, "{\"id\": %ld, \"label\": \"c%ld\", \"text\": \"%s\"}\n", i, i % 7, text);
    }
    long jbytes = ftell(f);
    fclose(f);
    f = fopen(cpath, "wb");
    fprintf(f, "id,text,label\n");
    long c_docs = 1000, c_tokens = 0;
    for (long i = 0; i < c_docs; i++) {
        c_tokens += s_text(text, (size_t)doc_bytes, &seed);
        fprintf(f, "%ld,\"%s\n\"\"quoted\"\"\",c%ld\n", i, text, i % 3);
    }
    long cbytes = ftell(f);
    fclose(f);
    free(text);

    long before = s_maxrss_kb();
    dataset_options o = {.chunk.seq_len = 128};
    dataset_input in = {jpath, DATASET_AUTO, DATASET_TRAIN};
    label_map lm;
    s_count c = {0};
    dataset_report rep;
    CHECK_OK(dataset_ingest(&in, 1, tok, &o, &lm, s_emit, &c, &rep, err), err);
    long after = s_maxrss_kb();
    long grow_kb = after - before;
    CHECK(c.docs == n_docs && c.tokens == want_tokens && lm.n == 7, "docs %ld tokens %ld/%ld", c.docs, c.tokens,
          want_tokens);
    CHECK(c.chunks == want_chunks, "chunks %ld, expected %ld", c.chunks, want_chunks);
    if (!S_RSS_CHECKED) printf("note: AddressSanitizer build: peak RSS bound not checked (quarantine)\n");
    CHECK(!S_RSS_CHECKED || grow_kb * 1024 < jbytes / 4, "peak RSS grew by %ld KiB for a %ld KiB file", grow_kb,
          jbytes / 1024);
    labels_free(&lm);
    t_ok("JSONL %.1f MB, %ld documents, %ld tokens, %ld chunks: peak RSS grew by %.1f MB (bound %.1f MB)", jbytes / 1e6,
         c.docs, c.tokens, c.chunks, grow_kb / 1024.0, jbytes / 4e6);

    dataset_input ci = {cpath, DATASET_AUTO, DATASET_TRAIN};
    memset(&c, 0, sizeof c);
    before = s_maxrss_kb();
    CHECK_OK(dataset_ingest(&ci, 1, tok, &o, &lm, s_emit, &c, &rep, err), err);
    grow_kb = s_maxrss_kb() - before;
    /* each record's text ends in a newline and "quoted" (with its quotes) */
    wp_ids q = {0};
    CHECK_OK(wp_tokenize(tok, "\"quoted\"", 8, &q, NULL, err), err);
    long extra = (long)q.n;
    wp_ids_free(&q);
    CHECK(c.docs == c_docs && c.tokens == c_tokens + extra * c_docs, "csv docs %ld tokens %ld/%ld", c.docs, c.tokens,
          c_tokens + extra * c_docs);
    CHECK(!S_RSS_CHECKED || grow_kb * 1024 < cbytes / 4, "CSV: peak RSS grew by %ld KiB for a %ld KiB file", grow_kb,
          cbytes / 1024);
    labels_free(&lm);
    t_ok("CSV %.1f MB of multi-line quoted records, %ld documents: peak RSS grew by %.1f MB more", cbytes / 1e6, c.docs,
         grow_kb / 1024.0);

    wp_destroy(&tok);
    unlink(jpath);
    unlink(cpath);
    rmdir(dir);
    return 0;
}
