/* shard_map.h - which floats of the flat parameter buffer each owner of a
 * sharded reduction holds (ShardPlan.bounds with ShardPlan.n_bands).
 *
 * The buffer is cut into nb bands - the embeddings, then each encoder
 * layer, the classifier with the last: what forward needs at once, in
 * forward's order - and every band into W pieces, piece k to owner k. So
 * each owner holds a 1/W piece of every layer: the next forward's first
 * layer comes from all the owners' links at once, 1/W of it from each,
 * and backward's last gradients (layer 0, the embeddings) go to all of
 * them, instead of one owner's link carrying the whole first layer both
 * ways (nb = 1, a contiguous shard per owner, as before issue 11's
 * interleaving).
 *
 * Owner k's floats in ascending flat order are its shard; its "local"
 * index i is its i-th float: the layout of its sum, its moments, and of
 * its state on the wire (ShardPlan.params/adam_m/adam_v, ShardState,
 * Update.shard_lo/hi). In "shard space" the owners' shards follow one
 * another, owner k's is [base[k], base[k+1]). Band b's piece k is flat
 * [cut[b*(W+1)+k], cut[b*(W+1)+k+1]); band b ends where band b+1 starts. */
#ifndef HB_SHARD_MAP_H
#define HB_SHARD_MAP_H

#include <stddef.h>
#include <stdint.h>

#define SHARD_MAP_MAX_BANDS 1024u

typedef struct {
    int W, nb;
    size_t *cut;  /* [nb * (W + 1)] */
    size_t *base; /* [W + 1]: shard space */
} shard_map;

/* cuts as ShardPlan carries them; 0, or -1 with why (n bytes) when they
 * are not nb chained bands of W pieces covering [0, numel), each owner's
 * shard non-empty. *size_of (may be NULL): owner `of`'s floats. */
int shard_map_check(int W, int nb, const uint64_t *cuts, uint64_t numel, int of, uint64_t *size_of, char *why,
                    size_t n);
/* checked as above; the map owns copies */
int shard_map_init(shard_map *m, int W, int nb, const uint64_t *cuts, uint64_t numel, char *why, size_t n);
void shard_map_free(shard_map *m);

/* owner k's piece of band b: flat [*a, *e) (maybe empty) */
static inline void shard_map_seg(const shard_map *m, int k, int b, size_t *a, size_t *e) {
    const size_t *c = m->cut + (size_t)b * (size_t)(m->W + 1);
    *a = c[k];
    *e = c[k + 1];
}
static inline size_t shard_map_size(const shard_map *m, int k) {
    return m->base[k + 1] - m->base[k];
}
/* owner k's floats of a flat buffer into out[shard_map_size(m, k)], ascending */
void shard_map_gather(const shard_map *m, int k, const float *flat, float *out);
/* the other way: src[shard_map_size(m, k)] into owner k's floats of flat */
void shard_map_scatter(const shard_map *m, int k, const float *src, float *flat);
/* owner k's floats below flat x: the local index of x when x is one of them */
size_t shard_map_below(const shard_map *m, int k, size_t x);
/* the band of owner k's that holds flat [lo, hi) (hi > lo) or the empty
 * piece at lo == hi on a piece's edge; -1 when none holds it all */
int shard_map_band_of(const shard_map *m, int k, size_t lo, size_t hi);
/* owner k's last float + 1 (its highest non-empty piece's end) */
size_t shard_map_top(const shard_map *m, int k);
/* after owner k's floats [x, ...) are done, descending: the end of its
 * next piece below x when x opens one of its pieces, else x; 0: none left */
size_t shard_map_down(const shard_map *m, int k, size_t x);

#endif
