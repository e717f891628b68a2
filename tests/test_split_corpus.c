/*
 * test_split_corpus.c - model/split.c and ops/fetch-corpus.sh (Python) apply
 * the same stratified split rule: on the fetched Brown and SpamAssassin
 * datasets, split_stratified(0.2, seed 1) marks as val exactly the documents
 * whose "split" field is "val". Needs the corpora in $HB_CORPUS_DIR (default
 * data/corpora); without them it SKIPs (test_wordpiece_parity.sh fetches
 * them and runs this program again).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "dataset.h"
#include "hb_error.h"
#include "labels.h"
#include "split.h"

static int s_check(const char *dir, const char *name) {
    char err[HB_ERR_LEN], p[2][1024];
    snprintf(p[0], sizeof p[0], "%s/%s/train.jsonl", dir, name);
    snprintf(p[1], sizeof p[1], "%s/%s/val.jsonl", dir, name);
    if (access(p[0], R_OK) || access(p[1], R_OK)) {
        printf("SKIP: %s: %s not fetched (ops/fetch-corpus.sh %s %s)\n", name, p[0], name, dir);
        return 0;
    }
    size_t n = 0, cap = 0;
    char **ids = NULL, **labs = NULL;
    uint8_t *want = NULL;
    label_map lm;
    labels_init(&lm);
    for (int f = 0; f < 2; f++) {
        dataset_reader *r;
        dataset_record rec;
        CHECK_OK(dataset_open(&r, p[f], DATASET_JSONL, NULL, err), err);
        int rc;
        while ((rc = dataset_next(r, &rec, err)) == 1) {
            CHECK(!rec.bad_utf8 && rec.label, "%s", rec.msg);
            if (n == cap) {
                cap = cap ? cap * 2 : 1024;
                ids = realloc(ids, cap * sizeof *ids);
                labs = realloc(labs, cap * sizeof *labs);
                want = realloc(want, cap);
            }
            ids[n] = strdup(rec.id);
            labs[n] = strdup(rec.label);
            want[n++] = rec.split == DATASET_VAL;
            CHECK_OK(labels_add(&lm, rec.label, err), err);
        }
        CHECK(rc == 0, "%s", err);
        dataset_close(&r);
    }
    labels_finalize(&lm);
    int *lab = malloc(n * sizeof *lab);
    uint8_t *got = malloc(n);
    for (size_t i = 0; i < n; i++) lab[i] = labels_id(&lm, labs[i]);
    CHECK_OK(split_stratified(n, (const char *const *)ids, lab, lm.n, 0.2, 1, got, err), err);
    size_t n_val = 0;
    for (size_t i = 0; i < n; i++) {
        CHECK(got[i] == want[i], "%s: document %s: C says %s, fetch-corpus says %s", name, ids[i],
              got[i] ? "val" : "train", want[i] ? "val" : "train");
        n_val += got[i];
    }
    t_ok("%s: split_stratified(0.2, seed 1) reproduces fetch-corpus's split: %zu documents, %zu val, %d classes", name,
         n, n_val, lm.n);
    for (size_t i = 0; i < n; i++) free(ids[i]), free(labs[i]);
    free(ids);
    free(labs);
    free(want);
    free(lab);
    free(got);
    labels_free(&lm);
    return 0;
}

int main(void) {
    char dir[1024];
    const char *env = getenv("HB_CORPUS_DIR");
    if (env && *env)
        snprintf(dir, sizeof dir, "%s", env);
    else
        snprintf(dir, sizeof dir, "%s/data/corpora", HB_SOURCE_DIR);
    s_check(dir, "brown");
    s_check(dir, "spam");
    return 0;
}
