/*
 * cli_tokenize.c - `hierbert tokenize --vocab FILE [--cased]`: the tool a
 * user reaches for when a result looks wrong. Reads UTF-8 text on standard
 * input and prints, for each input line ('\n'-separated), one line of
 * space-separated token ids (no [CLS]/[SEP]); --tokens prints the token
 * texts instead. Invalid UTF-8 stops it with stdin:LINE: reason.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hb_error.h"
#include "wordpiece.h"

static void s_help(FILE *f) {
    fprintf(f, "usage: hierbert tokenize --vocab FILE [--cased] [--tokens] < text\n"
               "  Prints one line of space-separated token ids per input line (no [CLS]/[SEP]).\n"
               "  --vocab FILE  vocab.txt, one token per line (id = line index)\n"
               "  --cased       cased vocabulary: no lowercasing, no accent stripping\n"
               "  --tokens      print the token texts instead of the ids\n");
}

int cli_tokenize(int argc, char **argv) {
    const char *vocab = NULL;
    int cased = 0, texts = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            s_help(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--vocab") && i + 1 < argc) {
            vocab = argv[++i];
        } else if (!strcmp(argv[i], "--cased")) {
            cased = 1;
        } else if (!strcmp(argv[i], "--tokens")) {
            texts = 1;
        } else {
            fprintf(stderr, "hierbert tokenize: unknown or incomplete option '%s' (see --help)\n", argv[i]);
            return 2;
        }
    }
    if (!vocab) {
        fprintf(stderr, "hierbert tokenize: --vocab FILE is required (see --help)\n");
        return 2;
    }
    char err[HB_ERR_LEN];
    wp_tokenizer *t;
    if (wp_load(&t, vocab, !cased, err)) {
        fprintf(stderr, "hierbert tokenize: %s\n", err);
        return 1;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    long lineno = 0;
    wp_ids ids = {0};
    int rc = 0;
    while ((len = getline(&line, &cap, stdin)) >= 0) {
        lineno++;
        if (len > 0 && line[len - 1] == '\n') len--;
        ids.n = 0;
        size_t bad;
        if (wp_tokenize(t, line, (size_t)len, &ids, &bad, err)) {
            fflush(stdout);
            fprintf(stderr, "hierbert tokenize: stdin:%ld: %s\n", lineno, err);
            rc = 1;
            break;
        }
        for (size_t k = 0; k < ids.n; k++) {
            if (k) putchar(' ');
            if (texts)
                fputs(wp_token_text(t, ids.v[k]), stdout);
            else
                printf("%d", ids.v[k]);
        }
        putchar('\n');
    }
    free(line);
    wp_ids_free(&ids);
    wp_destroy(&t);
    if (fflush(stdout) != 0) {
        fprintf(stderr, "hierbert tokenize: write error on standard output\n");
        return 1;
    }
    return rc;
}
