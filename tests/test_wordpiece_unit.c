/*
 * test_wordpiece_unit.c - the tokenizer's contract beyond parity: special
 * tokens are looked up in the vocabulary, invalid UTF-8 is detected with its
 * byte offset (overlong, surrogate, truncated, beyond U+10FFFF, stray
 * continuation), greedy longest-match-first, the 100-character rule counted
 * in code points, and vocabulary errors name file and line.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "hb_error.h"
#include "wordpiece.h"

static char s_dir[] = "/tmp/hb-wp-XXXXXX";

static const char *s_write(const char *name, const char *content) {
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", s_dir, name);
    FILE *f = fopen(path, "wb");
    fputs(content, f);
    fclose(f);
    return path;
}

static void s_ids(wp_tokenizer *t, const char *text, wp_ids *out) {
    char err[HB_ERR_LEN];
    out->n = 0;
    CHECK_OK(wp_tokenize(t, text, strlen(text), out, NULL, err), err);
}

int main(void) {
    char err[HB_ERR_LEN];
    CHECK(mkdtemp(s_dir), "mkdtemp");
    /* ids: 0 un, 1 ##aff, 2 [SEP], 3 ##able, 4 [UNK], 5 [PAD], 6 [CLS], 7 ##a, 8 una, 9 ##ff, 10 u, 11 ##n */
    const char *v =
        s_write("v.txt", "un\n##aff\n[SEP]\n##able\n[UNK]\n[PAD]\n[CLS]\n##a\nuna\n##ff\nu\n##n\n  ,  \r\n");
    wp_tokenizer *t;
    CHECK_OK(wp_load(&t, v, 1, err), err);
    CHECK(t->unk_id == 4 && t->cls_id == 6 && t->sep_id == 2 && t->pad_id == 5 && t->mask_id == -1,
          "specials %d %d %d %d %d", t->unk_id, t->cls_id, t->sep_id, t->pad_id, t->mask_id);
    CHECK(wp_token_id(t, ",", 1) == 12, "stripped line");
    t_ok("specials looked up by name ([UNK]=4 [CLS]=6 [SEP]=2 [PAD]=5, [MASK] absent = -1); lines stripped");

    wp_ids ids = {0};
    s_ids(t, "Unaffable", &ids);
    /* longest first: "una" (8) beats "un"; then "##ff" (9), "##able" (3) */
    CHECK(ids.n == 3 && ids.v[0] == 8 && ids.v[1] == 9 && ids.v[2] == 3, "greedy: n=%zu %d %d %d", ids.n, ids.v[0],
          ids.v[1], ids.v[2]);
    s_ids(t, "unx, un", &ids);
    CHECK(ids.n == 3 && ids.v[0] == 4 && ids.v[1] == 12 && ids.v[2] == 0, "a word with an unmatched tail is one [UNK]");
    t_ok("greedy longest-match-first with ## continuations; unmatched word -> one [UNK]");

    /* 100 vs 101 characters, counted in code points after accent stripping */
    char w[1024];
    memset(w, 0, sizeof w);
    strcpy(w, "u");
    for (int i = 1; i < 100; i++) strcat(w, "n");
    s_ids(t, w, &ids);
    CHECK(ids.n == 99 && ids.v[0] == 0 && ids.v[1] == 11, "100 chars: %zu pieces", ids.n); /* un ##n x 98 */
    strcat(w, "n");
    s_ids(t, w, &ids);
    CHECK(ids.n == 1 && ids.v[0] == 4, "101 chars -> [UNK]");
    /* "u" + 49 x "ñ": 99 bytes, 50 code points -> pieces, not [UNK] */
    w[0] = 0;
    strcat(w, "u");
    for (int i = 1; i < 50; i++) strcat(w, "\xc3\xb1"); /* ñ -> n after NFD + strip */
    s_ids(t, w, &ids);
    CHECK(ids.n == 49 && ids.v[1] == 11, "50 code points of 2 bytes: %zu pieces", ids.n);
    t_ok("100-character limit counts code points (101 -> [UNK], 100 -> un + 98 ##n; 2-byte chars count once)");

    /* invalid UTF-8 with offsets */
    struct {
        const char *s;
        size_t off;
        const char *what;
    } bad[] = {{"ab\xc0\xafz", 2, "overlong"},       {"abc\xed\xa0\x80", 3, "surrogate"},
               {"a\xe2\x82", 1, "truncated"},        {"x\xf4\x90\x80\x80", 1, "beyond U+10FFFF"},
               {"ok \x80", 3, "stray continuation"}, {"\xff", 0, "0xFF"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        size_t off = 999;
        ids.n = 0;
        CHECK(wp_tokenize(t, bad[i].s, strlen(bad[i].s), &ids, &off, err) == -1, "%s accepted", bad[i].what);
        CHECK(off == bad[i].off && strstr(err, "invalid UTF-8"), "%s: off %zu err %s", bad[i].what, off, err);
        CHECK(wp_utf8_check(bad[i].s, strlen(bad[i].s), &off) == -1 && off == bad[i].off, "check %s", bad[i].what);
    }
    CHECK(wp_utf8_check("\xf0\x9f\x98\x80 \xe4\xb8\xad", 8, NULL) == 0, "valid 4- and 3-byte sequences");
    t_ok("invalid UTF-8 detected at its byte offset: overlong, surrogate, truncated, >U+10FFFF, stray, 0xFF");
    wp_destroy(&t);
    CHECK(t == NULL, "destroy nulls");

    /* vocabulary errors */
    const char *nounk = s_write("nounk.txt", "[CLS]\n[SEP]\n[PAD]\nhello\n");
    CHECK(wp_load(&t, nounk, 1, err) == -1 && strstr(err, "nounk.txt") && strstr(err, "[UNK]"), "%s", err);
    const char *badv = s_write("bad.txt", "[UNK]\n[CLS]\nbad\xff\n");
    CHECK(wp_load(&t, badv, 1, err) == -1 && strstr(err, "bad.txt:3:") && strstr(err, "UTF-8"), "%s", err);
    CHECK(wp_load(&t, "/nonexistent/vocab.txt", 1, err) == -1 && strstr(err, "/nonexistent/vocab.txt"), "%s", err);
    t_ok("vocabulary errors name the file (and line): missing [UNK], invalid UTF-8 at line 3, unreadable");

    wp_ids_free(&ids);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", s_dir);
    CHECK(system(cmd) == 0, "cleanup");
    return 0;
}
