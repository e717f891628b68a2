/*
 * tokenizer_bench.c - `tokenizer-bench`: WordPiece throughput on one core,
 * in MB of UTF-8 text per second (the issue asks for >= 20 MB/s).
 *
 *   tokenizer-bench [--vocab VOCAB] [--cased] [--seconds S] [FILE...]
 *
 * FILEs are JSONL datasets (the "text" of each record, or its "chunks") or,
 * for any other name, plain text. Defaults: data/corpora/vocab/vocab.txt and
 * data/corpora/brown/{train,val}.jsonl (ops/fetch-corpus.sh all). The texts
 * are loaded first; only wp_tokenize is timed, repeated for S seconds
 * (default 3), one document per call as ingest does.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hb_error.h"
#include "wordpiece.h"

typedef struct {
    char **s;
    size_t *n;
    size_t count, cap, bytes;
} s_texts;

static void s_add(s_texts *t, const char *s, size_t n) {
    if (t->count == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 1024;
        t->s = hb_realloc(t->s, t->cap * sizeof *t->s);
        t->n = hb_realloc(t->n, t->cap * sizeof *t->n);
    }
    t->s[t->count] = hb_malloc(n + 1);
    memcpy(t->s[t->count], s, n);
    t->s[t->count][n] = 0;
    t->n[t->count++] = n;
    t->bytes += n;
}

static int s_load(s_texts *t, const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "tokenizer-bench: %s: cannot open (ops/fetch-corpus.sh all fetches the defaults)\n", path);
        return -1;
    }
    size_t l = strlen(path);
    int jsonl = l > 6 && !strcmp(path + l - 6, ".jsonl");
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    long lineno = 0;
    if (!jsonl) {
        char *buf = NULL;
        size_t n = 0, c = 0, got;
        do {
            if (n + 65536 > c) buf = hb_realloc(buf, c = (n + 65536) * 2);
            got = fread(buf + n, 1, c - n, f);
            n += got;
        } while (got > 0);
        s_add(t, buf, n);
        free(buf);
    }
    while (jsonl && (len = getline(&line, &cap, f)) >= 0) {
        lineno++;
        json_error_t je;
        json_t *o = json_loadb(line, (size_t)len, JSON_ALLOW_NUL, &je);
        json_t *x = o ? json_object_get(o, "text") : NULL;
        if (json_is_string(x)) s_add(t, json_string_value(x), json_string_length(x));
        json_t *ch = o ? json_object_get(o, "chunks") : NULL;
        for (size_t i = 0; json_is_array(ch) && i < json_array_size(ch); i++) {
            json_t *c = json_array_get(ch, i);
            if (json_is_string(c)) s_add(t, json_string_value(c), json_string_length(c));
        }
        if (!o) {
            fprintf(stderr, "tokenizer-bench: %s:%ld: %s\n", path, lineno, je.text);
            free(line);
            fclose(f);
            return -1;
        }
        json_decref(o);
    }
    free(line);
    fclose(f);
    return 0;
}

static double s_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(int argc, char **argv) {
    const char *vocab = "data/corpora/vocab/vocab.txt";
    int cased = 0;
    double seconds = 3;
    const char *files[64];
    int n_files = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: tokenizer-bench [--vocab VOCAB] [--cased] [--seconds S] [FILE.jsonl|FILE.txt ...]\n"
                   "  defaults: data/corpora/vocab/vocab.txt, data/corpora/brown/{train,val}.jsonl\n");
            return 0;
        } else if (!strcmp(argv[i], "--vocab") && i + 1 < argc)
            vocab = argv[++i];
        else if (!strcmp(argv[i], "--cased"))
            cased = 1;
        else if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
            seconds = atof(argv[++i]);
        else if (argv[i][0] == '-') {
            fprintf(stderr, "tokenizer-bench: unknown option %s (see --help)\n", argv[i]);
            return 2;
        } else if (n_files < 64)
            files[n_files++] = argv[i];
    }
    if (!n_files) {
        files[n_files++] = "data/corpora/brown/train.jsonl";
        files[n_files++] = "data/corpora/brown/val.jsonl";
    }
    char err[HB_ERR_LEN];
    wp_tokenizer *tok;
    if (wp_load(&tok, vocab, !cased, err)) {
        fprintf(stderr, "tokenizer-bench: %s (ops/fetch-corpus.sh vocab fetches it)\n", err);
        return 1;
    }
    s_texts t = {0};
    for (int i = 0; i < n_files; i++)
        if (s_load(&t, files[i])) return 1;
    if (!t.bytes) {
        fprintf(stderr, "tokenizer-bench: no text in the inputs\n");
        return 1;
    }
    wp_ids ids = {0};
    size_t tokens = 0, bytes = 0;
    int rounds = 0;
    double t0 = s_now(), el;
    do {
        for (size_t d = 0; d < t.count; d++) {
            ids.n = 0;
            if (wp_tokenize(tok, t.s[d], t.n[d], &ids, NULL, err)) {
                fprintf(stderr, "tokenizer-bench: document %zu: %s\n", d, err);
                return 1;
            }
            tokens += ids.n;
        }
        bytes += t.bytes;
        rounds++;
        el = s_now() - t0;
    } while (el < seconds);
    printf("tokenizer-bench: %zu documents, %.2f MB, %zu tokens per pass; %d passes in %.2f s on one core\n", t.count,
           (double)t.bytes / 1e6, tokens / (size_t)rounds, rounds, el);
    printf("throughput: %.1f MB/s, %.2f M tokens/s\n", (double)bytes / 1e6 / el, (double)tokens / 1e6 / el);
    wp_ids_free(&ids);
    for (size_t d = 0; d < t.count; d++) free(t.s[d]);
    free(t.s);
    free(t.n);
    wp_destroy(&tok);
    return 0;
}
