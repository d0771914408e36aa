/* dict.h: chained hash table with incremental rehashing (after Redis's dict).
 *
 * Owner: the shard thread that created it; no other thread touches it.
 *
 * Two tables during a rehash: lookups consult both, inserts go to the new
 * one, and each write operation moves one bucket (plus a time-bounded step
 * from the shard's cron). For the fork-less snapshot (storage/snapshot.c),
 * which sees a table as pages of DICT_PAGE_BUCKETS buckets: `before_change`,
 * when set, is called before an entry changes or leaves (with the entry) and
 * before a whole chain changes (rehash move, clear; entry NULL);
 * `after_insert` right after a new entry is linked. Each entry carries one
 * tag bit for the hook's owner (dict_entry_set_tag); nothing else reads it.
 *
 * SCAN uses Redis's reverse-binary cursor, so a key present for the whole
 * scan is returned at least once even when the table grows or shrinks. */
#ifndef RK_CORE_DICT_H
#define RK_CORE_DICT_H

#include <stddef.h>
#include <stdint.h>

#define DICT_PAGE_BUCKETS 64

typedef struct dict_entry {
    void *key;
    union {
        void *val;
        int64_t s64;
        uint64_t u64;
        double d;
    } v;
    struct dict_entry *next;
} dict_entry;

typedef struct dict dict;

typedef struct dict_type {
    uint64_t (*hash)(const void *key);
    /* Keys are compared by this; NULL means pointer equality. */
    int (*key_equal)(const void *a, const void *b);
    void (*key_free)(void *key);   /* may be NULL */
    void (*val_free)(void *val);   /* may be NULL; called for v.val */
} dict_type;

/* e: the entry about to change or leave, or NULL: the whole chain of
 * `bucket` is about to change; bucket DICT_ALL_BUCKETS (with e NULL): the
 * whole table is about to be emptied and its bucket array freed. */
#define DICT_ALL_BUCKETS UINT64_MAX
typedef void dict_change_hook(dict *d, void *hook_ud, int table, uint64_t bucket, dict_entry *e);
typedef void dict_insert_hook(dict *d, void *hook_ud, int table, uint64_t bucket, dict_entry *e);

struct dict {
    const dict_type *type;
    dict_entry **table[2];
    uint64_t size_exp[2];      /* table[i] has 1 << size_exp[i] buckets, or none if table[i] == NULL */
    uint64_t used[2];
    int64_t rehash_idx;        /* -1 when not rehashing */
    int16_t pause_rehash;      /* > 0 while a safe iterator runs */
    int16_t resize_forbidden;  /* > 0: do not start a resize (e.g. during a snapshot) */
    dict_change_hook *before_change;
    dict_insert_hook *after_insert;
    void *hook_ud;
};

dict *dict_create(const dict_type *type);
void dict_release(dict *d);            /* frees entries via the type's destructors */
/* Removes every entry. Returns the number removed. */
uint64_t dict_clear(dict *d);
uint64_t dict_size(const dict *d);
uint64_t dict_buckets(const dict *d);

/* Returns the entry, or NULL. */
dict_entry *dict_find(dict *d, const void *key);
/* Adds key (must be absent). Returns the new entry with v zeroed, or NULL on
 * allocation failure or when the key exists (then *existing, if not NULL,
 * gets the existing entry). */
dict_entry *dict_add_raw(dict *d, void *key, dict_entry **existing);
/* Removes the entry and frees key/value via the type. 0 if removed, -1 if absent. */
int dict_delete(dict *d, const void *key);
/* Unlinks without freeing key/value; caller must dict_free_unlinked() it. */
dict_entry *dict_unlink(dict *d, const void *key);
void dict_free_unlinked(dict *d, dict_entry *e);

/* Calls before_change with key's entry, for a caller about to change the
 * entry's value in place. 0 if the key is present, else -1. */
int dict_announce_key(dict *d, const void *key);

/* Calls before_change(DICT_ALL_BUCKETS) for each table (no-op without a hook). */
void dict_announce_all(dict *d);

/* Chain walking and the owner's tag bit (see the top). */
dict_entry *dict_entry_next(const dict_entry *e);
int dict_entry_tagged(const dict_entry *e);
void dict_entry_set_tag(dict_entry *e, int on);

/* A uniformly-ish random entry (Redis's dictGetFairRandomKey quality is
 * not required), or NULL when empty. */
dict_entry *dict_random(dict *d);

/* Rehash up to n buckets (n*10 empty ones). Returns 1 if more work remains. */
int dict_rehash_step(dict *d, int n);
/* Rehash for about `us` microseconds. Returns buckets moved. */
int dict_rehash_microseconds(dict *d, int64_t us);
/* Presizes an empty dict for `entries` (a loader's size hint): 0, or -1
 * when the table cannot be allocated (the dict is then still usable). */
int dict_expand(dict *d, uint64_t entries);
/* Grow/shrink policy: call after deletes to shrink when fill < 1/8 (Redis 7). */
int dict_try_shrink(dict *d);

typedef void dict_scan_fn(void *ud, dict_entry *e);
/* One SCAN step: visits every entry of one bucket (both tables during a
 * rehash) and returns the next cursor; 0 when the scan is complete. */
uint64_t dict_scan(dict *d, uint64_t cursor, dict_scan_fn *fn, void *ud);

/* Iterator. A safe iterator pauses rehashing and allows dict_delete of the
 * entry just returned; an unsafe one asserts the dict was not modified. */
typedef struct dict_iter {
    dict *d;
    int64_t index;
    int table, safe;
    dict_entry *entry, *next_entry;
    uint64_t fingerprint;
} dict_iter;
void dict_iter_init(dict_iter *it, dict *d, int safe);
dict_entry *dict_next(dict_iter *it);
void dict_iter_release(dict_iter *it);

/* siphash-1-2 with a per-process random key (set once at start-up, before threads). */
void dict_set_hash_seed(const uint8_t seed[16]);
uint64_t dict_gen_hash(const void *p, size_t len);
uint64_t dict_gen_case_hash(const void *p, size_t len);

#endif
