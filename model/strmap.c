/*
 * strmap.c - open-addressing string -> int map (see strmap.h for why).
 */
#include <string.h>

#include "hb_error.h"
#include "strmap.h"

void strmap_init(strmap *m) {
    memset(m, 0, sizeof *m);
}

void strmap_free(strmap *m) {
    free(m->slots);
    free(m->arena);
    memset(m, 0, sizeof *m);
}

static size_t s_find(const strmap *m, const char *key, size_t len, uint64_t h) {
    size_t mask = m->cap - 1, i = (size_t)h & mask;
    while (m->slots[i].used) {
        const strmap_slot *s = &m->slots[i];
        if (s->hash == h && s->len == len && memcmp(m->arena + s->off, key, len) == 0) return i;
        i = (i + 1) & mask;
    }
    return i;
}

static void s_grow(strmap *m) {
    size_t ncap = m->cap ? m->cap * 2 : 64;
    strmap_slot *old = m->slots;
    size_t ocap = m->cap;
    m->slots = hb_calloc(ncap, sizeof *m->slots);
    m->cap = ncap;
    for (size_t i = 0; i < ocap; i++) {
        if (!old[i].used) continue;
        size_t j = (size_t)old[i].hash & (ncap - 1);
        while (m->slots[j].used) j = (j + 1) & (ncap - 1);
        m->slots[j] = old[i];
    }
    free(old);
}

int strmap_put(strmap *m, const char *key, size_t len, int32_t val) {
    if ((m->count + 1) * 2 > m->cap) s_grow(m);
    uint64_t h = strmap_hash(STRMAP_FNV_OFFSET, key, len);
    size_t i = s_find(m, key, len, h);
    if (m->slots[i].used) {
        m->slots[i].val = val;
        return 0;
    }
    if (m->arena_len + len + 1 > m->arena_cap) {
        size_t ncap = m->arena_cap ? m->arena_cap : 4096;
        while (ncap < m->arena_len + len + 1) ncap *= 2;
        m->arena = hb_realloc(m->arena, ncap);
        m->arena_cap = ncap;
    }
    memcpy(m->arena + m->arena_len, key, len);
    m->arena[m->arena_len + len] = '\0';
    m->slots[i] = (strmap_slot){.hash = h, .off = (uint32_t)m->arena_len, .len = (uint32_t)len, .val = val, .used = 1};
    m->arena_len += len + 1;
    m->count++;
    return 1;
}

int strmap_get(const strmap *m, const char *key, size_t len, int32_t *val) {
    if (!m->cap) return 0;
    size_t i = s_find(m, key, len, strmap_hash(STRMAP_FNV_OFFSET, key, len));
    if (!m->slots[i].used) return 0;
    if (val) *val = m->slots[i].val;
    return 1;
}

const char *strmap_key(const strmap *m, const char *key, size_t len) {
    if (!m->cap) return NULL;
    size_t i = s_find(m, key, len, strmap_hash(STRMAP_FNV_OFFSET, key, len));
    return m->slots[i].used ? m->arena + m->slots[i].off : NULL;
}
