/*
 * fuzz_codec.c - the stored record codecs of store/ (codec.c): an emb value
 * (a document's chunk vectors) and a docs value (its token ids per chunk)
 * as read back from LMDB. Every value is decoded as both; one that decodes
 * re-encodes to the same bytes. The bytes are also tried as a document id
 * (store_make_key).
 */
#include "fuzz_util.h"
#include "hb_error.h"
#include "store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char err[HB_ERR_LEN] = "";
    store_emb e, h;
    memset(&e, 0, sizeof e);
    memset(&h, 0, sizeof h);
    int rh = store_emb_decode_header(data, size, &h, "fuzz", err);
    if (store_emb_decode(data, size, &e, "fuzz", err) == 0) {
        if (rh != 0) abort();
        size_t n = store_emb_encoded_size(e.n_chunks, e.dim);
        if (n != size) abort();
        uint8_t *b = malloc(n);
        store_emb_encode(b, e.label, e.split, e.n_chunks, e.dim, e.data);
        if (memcmp(b, data, n)) abort();
        free(b);
    } else if (!err[0]) {
        abort();
    }
    store_emb_free(&e);
    store_doc d;
    memset(&d, 0, sizeof d);
    err[0] = 0;
    if (store_doc_decode(data, size, &d, "fuzz", err) == 0) {
        size_t n = store_doc_encoded_size(d.n_chunks, d.n_tokens);
        if (n != size) abort();
        uint8_t *b = malloc(n);
        store_doc_encode(b, d.label, d.split, d.n_chunks, d.chunk_len, d.token_ids);
        if (memcmp(b, data, n)) abort();
        free(b);
    } else if (!err[0]) {
        abort();
    }
    store_doc_free(&d);
    /* the bytes as a document id (a worker's DocEmbeddings, a dataset's id field) */
    char id[256], key[STORE_KEY_MAX + 1];
    size_t k = size < sizeof id - 1 ? size : sizeof id - 1;
    memcpy(id, data, k);
    id[k] = 0;
    if (store_make_key(key, "000000000001", id, err) == 0 && strlen(key) > STORE_KEY_MAX) abort();
    return 0;
}
