/*
 * split.h - deterministic, seeded, stratified train/val split of documents
 * (ops/fetch-corpus.sh writes the demo corpora with the same rule in Python;
 * `submit --val-fraction` uses it through dataset_ingest).
 *
 * Rule: for each class separately, sort its n documents by the key
 * (FNV-1a-64 of the bytes "<seed in decimal>:<id>", then the id's bytes);
 * the first n_val = min(floor(n * fraction + 0.5), n - 1) are val, the rest
 * train. Every class keeps at least one training document; the result
 * depends only on (seed, fraction, the set of (id, class)), not on order.
 */
#ifndef HB_SPLIT_H
#define HB_SPLIT_H

#include <stddef.h>
#include <stdint.h>

/* FNV-1a-64 of "<seed>:<id>" */
uint64_t split_key(uint64_t seed, const char *id);

/* ids[i] with class labels[i] in 0..n_classes-1 -> is_val[i] (0/1).
 * Fails if fraction is outside [0, 1) or a label is out of range. */
int split_stratified(size_t n, const char *const *ids, const int *labels, int n_classes, double fraction, uint64_t seed,
                     uint8_t *is_val, char *err);

#endif
