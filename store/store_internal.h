/*
 * store_internal.h - what the store/ sources share and nobody else sees: the
 * environment struct and the transaction helpers that keep map growth safe.
 */
#ifndef HB_STORE_INTERNAL_H
#define HB_STORE_INTERNAL_H

#include <limits.h>
#include <lmdb.h>
#include <pthread.h>

#include "store.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "store/ writes little-endian values with memcpy: port the codec before building on a big-endian host"
#endif

struct store_env {
    MDB_env *env;
    MDB_dbi dbi[STORE_DB_COUNT];
    char dir[PATH_MAX];
    store_options opts;
    /* read side: a transaction is active; write side: set_mapsize / reopen */
    pthread_rwlock_t lock;
};

/* Begins a transaction holding the read side of s->lock (adopting a map
 * grown by another process, reopening after MDB_PANIC). */
int store_txn_begin(store_env *s, int readonly, MDB_txn **txn, char *err);
void store_txn_abort(store_env *s, MDB_txn *txn);
/* Returns LMDB's code; the lock is released either way. */
int store_txn_commit(store_env *s, MDB_txn *txn);

/* Runs apply in a write transaction and commits; on MDB_MAP_FULL (from apply
 * or the commit) aborts, doubles the map and runs apply again. apply returns
 * 0, an LMDB/errno code, or -1 with err filled. grows counts growths. */
int store_write(store_env *s, int (*apply)(MDB_txn *txn, void *ctx, char *err), void *ctx, int *grows, const char *what,
                char *err);

#endif
