/*
 * strmap.h - a string -> int hash map for the text pipeline: the WordPiece
 * vocabulary (30k keys, looked up once per candidate sub-word), the label map
 * and the set of document ids seen during ingest (one key per document).
 *
 * Keys are byte strings (pointer + length, need not be NUL-terminated); the
 * map copies them into one growing arena, so inserting a key is no malloc of
 * its own and lookups never allocate. Open addressing with linear probing over
 * a power-of-two table kept at most half full; 64-bit FNV-1a hashes are stored
 * beside each slot so a probe compares bytes only when the hashes agree.
 *
 * Not thread-safe for writers; concurrent strmap_get calls are fine.
 */
#ifndef HB_STRMAP_H
#define HB_STRMAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint64_t hash;
    uint32_t off; /* key bytes at arena + off, NUL-terminated there */
    uint32_t len;
    int32_t val;
    int32_t used;
} strmap_slot;

typedef struct {
    strmap_slot *slots;
    size_t cap; /* power of two */
    size_t count;
    char *arena;
    size_t arena_len, arena_cap;
} strmap;

/* FNV-1a over n bytes, continuing from h (start with STRMAP_FNV_OFFSET). */
#define STRMAP_FNV_OFFSET 0xcbf29ce484222325ull
static inline uint64_t strmap_hash(uint64_t h, const void *p, size_t n) {
    const unsigned char *s = (const unsigned char *)p;
    for (size_t i = 0; i < n; i++) {
        h ^= s[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

void strmap_init(strmap *m);
void strmap_free(strmap *m);
/* Sets key -> val (overwrites an existing key's value). Returns 1 if the key
 * was new, 0 if it existed. Keys longer than 4 GiB are not supported. */
int strmap_put(strmap *m, const char *key, size_t len, int32_t val);
/* Returns 1 and *val (if val non-NULL) when the key is present, else 0. */
int strmap_get(const strmap *m, const char *key, size_t len, int32_t *val);
/* The stored copy of a key that is present (NUL-terminated), else NULL.
 * Valid until the next strmap_put (the arena may move). */
const char *strmap_key(const strmap *m, const char *key, size_t len);

#endif
