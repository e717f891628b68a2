/* shard_map.c - owners' pieces of the flat buffer (see shard_map.h) */
#include "shard_map.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hb_error.h"

int shard_map_check(int W, int nb, const uint64_t *cuts, uint64_t numel, int of, uint64_t *size_of, char *why,
                    size_t n) {
    if (W < 1 || nb < 1 || (unsigned)nb > SHARD_MAP_MAX_BANDS) {
        snprintf(why, n, "%d bands of %d shards (1..%u bands)", nb, W, SHARD_MAP_MAX_BANDS);
        return -1;
    }
    const size_t w1 = (size_t)W + 1;
    if (cuts[0] != 0 || cuts[(size_t)nb * w1 - 1] != numel) {
        snprintf(why, n, "bounds run %llu..%llu, not 0..numel %llu", (unsigned long long)cuts[0],
                 (unsigned long long)cuts[(size_t)nb * w1 - 1], (unsigned long long)numel);
        return -1;
    }
    for (int b = 0; b < nb; b++) {
        const uint64_t *c = cuts + (size_t)b * w1;
        if (b > 0 && c[0] != c[-1]) {
            snprintf(why, n, "band %d starts at %llu, band %d ended at %llu", b, (unsigned long long)c[0], b - 1,
                     (unsigned long long)c[-1]);
            return -1;
        }
        for (int k = 0; k < W; k++)
            if (c[k + 1] < c[k]) {
                snprintf(why, n, "band %d: shard %d's piece is reversed", b, k);
                return -1;
            }
    }
    for (int k = 0; k < W; k++) {
        uint64_t s = 0;
        for (int b = 0; b < nb; b++) s += cuts[(size_t)b * w1 + (size_t)k + 1] - cuts[(size_t)b * w1 + (size_t)k];
        if (!s) {
            snprintf(why, n, "shard %d is empty", k);
            return -1;
        }
        if (k == of && size_of) *size_of = s;
    }
    return 0;
}

int shard_map_init(shard_map *m, int W, int nb, const uint64_t *cuts, uint64_t numel, char *why, size_t n) {
    memset(m, 0, sizeof *m);
    if (shard_map_check(W, nb, cuts, numel, -1, NULL, why, n)) return -1;
    const size_t nc = (size_t)nb * ((size_t)W + 1);
    m->W = W;
    m->nb = nb;
    m->cut = hb_malloc(nc * sizeof *m->cut);
    for (size_t i = 0; i < nc; i++) m->cut[i] = (size_t)cuts[i];
    m->base = hb_malloc(((size_t)W + 1) * sizeof *m->base);
    m->base[0] = 0;
    for (int k = 0; k < W; k++) m->base[k + 1] = m->base[k] + shard_map_below(m, k, (size_t)numel);
    return 0;
}

void shard_map_free(shard_map *m) {
    free(m->cut);
    free(m->base);
    memset(m, 0, sizeof *m);
}

void shard_map_gather(const shard_map *m, int k, const float *flat, float *out) {
    for (int b = 0; b < m->nb; b++) {
        size_t a, e;
        shard_map_seg(m, k, b, &a, &e);
        memcpy(out, flat + a, (e - a) * sizeof(float));
        out += e - a;
    }
}

void shard_map_scatter(const shard_map *m, int k, const float *src, float *flat) {
    for (int b = 0; b < m->nb; b++) {
        size_t a, e;
        shard_map_seg(m, k, b, &a, &e);
        memcpy(flat + a, src, (e - a) * sizeof(float));
        src += e - a;
    }
}

size_t shard_map_below(const shard_map *m, int k, size_t x) {
    size_t s = 0;
    for (int b = 0; b < m->nb; b++) {
        size_t a, e;
        shard_map_seg(m, k, b, &a, &e);
        if (x <= a) break;
        s += (x < e ? x : e) - a;
    }
    return s;
}

int shard_map_band_of(const shard_map *m, int k, size_t lo, size_t hi) {
    for (int b = 0; b < m->nb; b++) {
        size_t a, e;
        shard_map_seg(m, k, b, &a, &e);
        if (a < e && a <= lo && hi <= e && lo <= hi) return b;
    }
    return -1;
}

size_t shard_map_top(const shard_map *m, int k) {
    for (int b = m->nb - 1; b >= 0; b--) {
        size_t a, e;
        shard_map_seg(m, k, b, &a, &e);
        if (a < e) return e;
    }
    return 0;
}

size_t shard_map_down(const shard_map *m, int k, size_t x) {
    for (int b = m->nb - 1; b >= 0; b--) {
        size_t a, e;
        shard_map_seg(m, k, b, &a, &e);
        if (a >= e || a > x) continue;
        if (x > a) return x;               /* inside (or at the end of) this piece */
        for (int c = b - 1; c >= 0; c--) { /* x opens it: the next non-empty piece below */
            shard_map_seg(m, k, c, &a, &e);
            if (a < e) return e;
        }
        return 0;
    }
    return 0;
}
