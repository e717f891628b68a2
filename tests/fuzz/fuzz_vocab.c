/*
 * fuzz_vocab.c - vocab.txt (wp_load: one token per line, the special tokens
 * found by name) and then text tokenized with it. Input: "VOCAB\n%%\nTEXT";
 * byte 0 of VOCAB's copy picks lowercasing. A vocabulary is either refused
 * with a reason or loads; every id the tokenizer gives is inside it.
 */
#include "fuzz_util.h"
#include "hb_error.h"
#include "wordpiece.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    size_t nv, nt;
    const uint8_t *text = fz_split(data, size, "\n%%\n", &nv, &nt);
    const char *path = fz_write("vocab.txt", data, nv);
    wp_tokenizer *tok = NULL;
    char err[HB_ERR_LEN] = "";
    if (wp_load(&tok, path, size && (data[0] & 1), err)) {
        if (tok || !err[0]) abort();
        return 0;
    }
    wp_ids ids = {0};
    size_t off = 0;
    int rc = wp_tokenize(tok, (const char *)text, nt, &ids, &off, err);
    if (rc != 0 && !(rc == -1 && off < nt)) abort();
    for (size_t i = 0; i < ids.n; i++)
        if (ids.v[i] < 0 || ids.v[i] >= tok->n_tokens) abort();
    if (nt) wp_token_id(tok, (const char *)text, nt);
    wp_ids_free(&ids);
    wp_destroy(&tok);
    return 0;
}
