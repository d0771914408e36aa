/* db.h: one numbered database of one shard: keys, their values and TTLs.
 *
 * Owner: the shard thread (a database of shard i holds only keys of shard
 * i's slots). Every write to the keyspace goes through these functions so
 * that expiry, statistics, the dirty counter and (later) the journal and
 * snapshot hooks see it.
 *
 * Invariant: every key in `expires` is also in `keys`; the expires entry
 * shares the key pointer of the keys entry and holds the absolute unix time
 * in ms (v.s64). */
#ifndef RK_CORE_DB_H
#define RK_CORE_DB_H

#include <stdint.h>
#include "core/dict.h"
#include "core/object.h"

struct rk_shard;

typedef struct rk_db {
    int id;
    dict *keys;     /* rk_str* -> rk_obj* */
    dict *expires;  /* rk_str* (shared with keys) -> s64 ms */
    uint64_t expire_cursor;   /* active expiry resumes here */
    long long avg_ttl;        /* ms, running estimate as Redis's INFO keyspace */
} rk_db;

int db_init(rk_db *db, int id);          /* 0 / -1 */
void db_release(rk_db *db);
/* Empties the db; returns keys removed. */
uint64_t db_empty(rk_db *db);
/* As db_empty, but the old contents go to the shard's lazy-free queue
 * (FLUSHALL/FLUSHDB ASYNC): O(1) now, freed in slices later. */
uint64_t db_empty_async(struct rk_shard *s, rk_db *db);
/* Before a key's value or TTL changes in place: lets a running snapshot
 * write the key's page first (no-op when none runs). db_announce_all does
 * it for every key. */
void db_announce(rk_db *db, rk_slice key);
void db_announce_all(rk_db *db);
/* Swaps contents of two dbs (same shard). */
void db_swap(rk_db *a, rk_db *b);

enum {
    LOOKUP_NONE = 0,
    LOOKUP_WRITE = 1 << 0,   /* caller will modify: no hit/miss stats */
    LOOKUP_NOTOUCH = 1 << 1, /* do not update the access time (OBJECT, TYPE under no-touch) */
    LOOKUP_NOEXPIRE = 1 << 2 /* do not delete if expired (still reported missing) */
};

/* Finds a live key; an expired key is deleted on the way (lazy expiry,
 * counted in expired_keys) and NULL returned. On a replica (Redis 7.0's
 * expireIfNeeded) an expired key is reported missing but kept, the
 * master's DEL being awaited (deleted only for a write lookup on a
 * writable replica); and while a command of the master client runs
 * (db_master_command) it is returned as live. */
rk_obj *db_lookup(struct rk_shard *s, rk_db *db, rk_slice key, int flags);
/* As db_lookup but also returns the dict entry (its key is the stored rk_str). */
dict_entry *db_lookup_entry(struct rk_shard *s, rk_db *db, rk_slice key, int flags);
/* As db_lookup, telling an absent key (0, *out = NULL) from a lookup that
 * ran out of memory (-1): for callers that would act on absence. */
int db_lookup_checked(struct rk_shard *s, rk_db *db, rk_slice key, int flags, rk_obj **out);

/* Adds a key that must not exist. Takes ownership of val on success.
 * 0 ok, -1 allocation failure (val not taken). */
int db_add(struct rk_shard *s, rk_db *db, rk_slice key, rk_obj *val);
enum { SETKEY_KEEPTTL = 1 };
/* Adds or overwrites; clears the TTL unless SETKEY_KEEPTTL. Takes val. 0 / -1. */
int db_set(struct rk_shard *s, rk_db *db, rk_slice key, rk_obj *val, int flags);
/* Replaces the value of an existing entry in place (keeps TTL). Takes val, frees the old. */
void db_replace_value(struct rk_shard *s, rk_db *db, dict_entry *e, rk_obj *val);
/* 1 if deleted, 0 if absent. A large value goes to the lazy-free queue
 * under lazyfree-lazy-server-del (Redis's dbDelete). */
int db_delete(struct rk_shard *s, rk_db *db, rk_slice key);
/* As db_delete; with `lazy` a large value is freed through the shard's
 * lazy-free queue (DEL, UNLINK, eviction under lazyfree-lazy-eviction). */
int db_delete_lazy(struct rk_shard *s, rk_db *db, rk_slice key, int lazy);

/* TTLs: absolute unix ms. db_get_expire returns -1 when the key has none. */
int64_t db_get_expire(rk_db *db, rk_slice key);
int db_set_expire(struct rk_shard *s, rk_db *db, rk_slice key, int64_t when_ms); /* 0 / -1 (no key or OOM) */
int db_persist(rk_db *db, rk_slice key);  /* 1 if a TTL was removed */
/* 1 if the key exists and its TTL is in the past (does not delete). */
int db_key_is_expired(rk_db *db, const rk_str *key);
/* Whether a write giving a key a TTL of when_ms must delete it instead
 * (Redis's checkAlreadyExpired): a time not after now, except on a replica,
 * which keeps the key with its past TTL until the master's DEL arrives (a
 * lagging replica would otherwise lose keys the master still has and later
 * PERSISTs or re-expires). */
int db_ttl_already_expired(const struct rk_shard *s, int64_t when_ms, int64_t now_ms);

/* Active expiry for one db, bounded: stops after `budget_us` microseconds.
 * Returns the number of keys removed. */
uint64_t db_active_expire(struct rk_shard *s, rk_db *db, int64_t budget_us);

/* Set on a shard thread while a command of a replica's master client runs
 * (core/client.c, multi.c, multikey.c): its lookups see keys past their
 * TTL as live. Thread-local: each shard sets and clears its own. */
extern __thread int db_master_command;

/* Current time in ms / us (cached per command by the shard for consistency). */
int64_t rk_mstime(void);
int64_t rk_ustime(void);



/* ---- additions (db.c owner) ---- */
/* LRU clock as Redis's: seconds, 24 bits, wrapping. */
#define DB_LRU_RESOLUTION_MS 1000
#define DB_LRU_CLOCK_MAX ((1u << 24) - 1)
uint32_t db_lru_clock(int64_t now_ms);
/* Milliseconds since o was last accessed, from its LRU clock (Redis's
 * estimateObjectIdleTime). Meaningful only when obj->lru holds LRU data. */
uint64_t db_lru_idle_ms(const rk_obj *o, int64_t now_ms);
/* Under an LFU maxmemory policy obj->lru holds (minutes & 0xFFFF) << 8 |
 * an 8-bit logarithmic access counter, new keys starting at
 * DB_LFU_INIT_VAL. The counter after lfu-decay-time decay (OBJECT FREQ). */
#define DB_LFU_INIT_VAL 5
uint8_t db_lfu_decayed(const struct rk_shard *s, const rk_obj *o, int64_t now_ms);
/* Removes key without freeing its value and returns the value (NULL when
 * absent); *expire_ms (may be NULL) gets its TTL or -1. For RENAME/MOVE. */
rk_obj *db_take(struct rk_shard *s, rk_db *db, rk_slice key, int64_t *expire_ms);
/* As db_key_is_expired but against a given time (the command's now_ms). */
int db_key_is_expired_at(rk_db *db, const rk_str *key, int64_t now_ms);

#endif
