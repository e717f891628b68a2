/*
 * test_chunker.c - chunk windows as chunker.h defines them: count formula,
 * stride overlap, max-chunks policies (first, spread), pre-split chunks
 * truncated to L-2, [CLS]/[SEP]/[PAD] placement and the attention mask.
 */
#include <string.h>

#include "check.h"
#include "chunker.h"
#include "hb_error.h"

enum { CLS = 901, SEP = 902, PAD = 900 };

/* checks chunk k of s holds [CLS] tok[a..b) [SEP] then pads, mask 1..1 0..0 */
static void s_expect(const chunk_set *s, int k, const int32_t *tok, size_t a, size_t b) {
    int L = s->seq_len;
    const int32_t *ids = s->ids + (size_t)k * L;
    const uint8_t *m = s->mask + (size_t)k * L;
    size_t n = b - a;
    CHECK(ids[0] == CLS && m[0] == 1, "chunk %d starts with [CLS]", k);
    for (size_t j = 0; j < n; j++) CHECK(ids[1 + j] == tok[a + j] && m[1 + j] == 1, "chunk %d token %zu", k, j);
    CHECK(ids[n + 1] == SEP && m[n + 1] == 1, "chunk %d [SEP] at %zu", k, n + 1);
    for (int j = (int)n + 2; j < L; j++) CHECK(ids[j] == PAD && m[j] == 0, "chunk %d pad at %d", k, j);
    CHECK(s->len[k] == n + 2, "chunk %d len %u", k, s->len[k]);
}

int main(void) {
    char err[HB_ERR_LEN];
    int32_t tok[1000];
    for (int i = 0; i < 1000; i++) tok[i] = i;
    chunk_set s = {0};
    chunk_config c = {.seq_len = 10, .cls_id = CLS, .sep_id = SEP, .pad_id = PAD}; /* C = 8 */
    CHECK_OK(chunk_config_check(&c, err), err);

    /* no overlap: n = 20 -> windows [0,8) [8,16) [16,20) */
    chunk_text(&c, tok, 20, &s);
    CHECK(s.n_chunks == 3 && s.n_dropped == 0, "n_chunks %d", s.n_chunks);
    s_expect(&s, 0, tok, 0, 8);
    s_expect(&s, 1, tok, 8, 16);
    s_expect(&s, 2, tok, 16, 20);
    chunk_text(&c, tok, 8, &s);
    CHECK(s.n_chunks == 1, "exactly C tokens: one chunk");
    s_expect(&s, 0, tok, 0, 8);
    chunk_text(&c, tok, 1, &s);
    s_expect(&s, 0, tok, 0, 1);
    chunk_text(&c, tok, 0, &s);
    CHECK(s.n_chunks == 0, "no tokens, no chunks");
    t_ok("L=10 no overlap: 20 tokens -> 3 chunks [0,8) [8,16) [16,20), padded, mask 1 on CLS..SEP");

    /* stride 3: n = 14, C = 8 -> K = 1 + ceil(6/3) = 3: [0,8) [3,11) [6,14) */
    c.stride = 3;
    CHECK(chunk_windows(&c, 14) == 3 && chunk_windows(&c, 15) == 4 && chunk_windows(&c, 8) == 1, "K formula");
    chunk_text(&c, tok, 14, &s);
    CHECK(s.n_chunks == 3, "stride chunks %d", s.n_chunks);
    s_expect(&s, 0, tok, 0, 8);
    s_expect(&s, 1, tok, 3, 11);
    s_expect(&s, 2, tok, 6, 14);
    CHECK(s.start[1] == 3 && s.start[2] == 6, "starts");
    /* the RoBERT setting: 200 content tokens, shift 50 */
    chunk_config r = {.seq_len = 202, .stride = 50, .cls_id = CLS, .sep_id = SEP, .pad_id = PAD};
    chunk_text(&r, tok, 1000, &s);
    CHECK(s.n_chunks == 1 + (1000 - 200 + 49) / 50 && s.n_chunks == 17, "RoBERT windows %d", s.n_chunks);
    for (int k = 0; k < s.n_chunks; k++) {
        size_t a = (size_t)k * 50, b = a + 200 < 1000 ? a + 200 : 1000;
        s_expect(&s, k, tok, a, b);
    }
    t_ok("stride: windows start every S tokens until the end is covered (L=10,S=3,n=14 -> 3; RoBERT 200/50 on "
         "1000 tokens -> 17 chunks sharing 150 tokens)");

    /* max chunks: K = 17 windows above, M = 4 */
    r.max_chunks = 4;
    chunk_text(&r, tok, 1000, &s);
    CHECK(s.n_chunks == 4 && s.n_dropped == 13, "first: %d kept %d dropped", s.n_chunks, s.n_dropped);
    for (int k = 0; k < 4; k++) CHECK(s.start[k] == 50 * k, "first keeps window %d", k);
    r.policy = CHUNK_KEEP_SPREAD;
    chunk_text(&r, tok, 1000, &s);
    int want[4] = {0, 5, 10, 16}; /* floor(i*16/3) */
    for (int k = 0; k < 4; k++) {
        CHECK(s.start[k] == 50 * want[k], "spread window %d: start %d", k, s.start[k]);
        size_t a = (size_t)want[k] * 50, b = a + 200 < 1000 ? a + 200 : 1000;
        s_expect(&s, k, tok, a, b);
    }
    CHECK(s.n_dropped == 13, "dropped counted");
    r.policy = CHUNK_KEEP_HEAD_TAIL;
    chunk_text(&r, tok, 1000, &s);
    int want_ht[4] = {0, 1, 15, 16};
    for (int k = 0; k < 4; k++) {
        CHECK(s.start[k] == 50 * want_ht[k], "head-tail window %d: start %d", k, s.start[k]);
        size_t a = (size_t)want_ht[k] * 50, b = a + 200 < 1000 ? a + 200 : 1000;
        s_expect(&s, k, tok, a, b);
    }
    CHECK(s.n_dropped == 13, "head-tail dropped counted");
    r.max_chunks = 3;
    chunk_text(&r, tok, 1000, &s);
    CHECK(s.n_chunks == 3 && s.start[0] == 0 && s.start[1] == 50 && s.start[2] == 800, "head-tail M=3: %d %d %d",
          s.start[0], s.start[1], s.start[2]);
    r.max_chunks = 4;
    chunk_policy pp;
    char perr[HB_ERR_LEN];
    CHECK(chunk_policy_parse("head-tail", &pp, perr) == 0 && pp == CHUNK_KEEP_HEAD_TAIL &&
              !strcmp(chunk_policy_name(pp), "head-tail"),
          "head-tail name");
    CHECK(chunk_policy_parse("tail", &pp, perr) == -1 && strstr(perr, "'tail'") && strstr(perr, "head-tail"),
          "bad name: %s", perr);
    t_ok("max chunks 4 of 17: first keeps windows 0-3, spread keeps 0,5,10,16 (first and last), head-tail 0,1,15,16 "
         "(M=3: 0,1,16); 13 dropped counted; a bad policy name refused (%s)",
         perr);

    /* pre-split: items of 3, 12 (truncated to 8) and 1 tokens */
    size_t off[4] = {0, 3, 15, 16};
    c.stride = 0;
    chunk_presplit(&c, tok, off, 3, &s);
    CHECK(s.n_chunks == 3, "presplit chunks");
    s_expect(&s, 0, tok, 0, 3);
    s_expect(&s, 1, tok, 3, 11);
    s_expect(&s, 2, tok, 15, 16);
    c.max_chunks = 2;
    c.policy = CHUNK_KEEP_SPREAD;
    chunk_presplit(&c, tok, off, 3, &s);
    CHECK(s.n_chunks == 2 && s.start[0] == 0 && s.start[1] == 2 && s.n_dropped == 1, "presplit spread");
    t_ok("pre-split: one chunk per item, truncated to L-2 tokens; max chunks applies to items");

    chunk_config bad = {.seq_len = 2};
    CHECK(chunk_config_check(&bad, err) == -1 && strstr(err, "L=2"), "%s", err);
    bad.seq_len = 10;
    bad.stride = 9;
    CHECK(chunk_config_check(&bad, err) == -1 && strstr(err, "stride 9"), "%s", err);
    t_ok("config errors: L < 3, stride > L-2");
    chunk_set_free(&s);
    return 0;
}
