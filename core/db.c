/* db.c: the keyspace of one database of one shard, and key expiry.
 *
 * Owns: the `keys` dict (rk_str* -> rk_obj*, both freed by the dict) and
 * the `expires` dict (the same rk_str* pointer -> absolute unix ms in
 * v.s64, no destructors), lazy expiry on lookup, the bounded active
 * expiry walk, the LRU clock and the wall-clock helpers, the access-time
 * bookkeeping (obj->lru holds the LRU clock, or under an LFU maxmemory
 * policy Redis's LFU data: 16 bits of minutes and an 8-bit log counter),
 * and the choice between freeing a deleted value now or through the
 * shard's lazy-free queue (lazyfree.c).
 *
 * Thread: only the shard thread that owns the rk_db (rk_mstime/rk_ustime
 * and db_lru_clock may be called anywhere).
 *
 * Invariants: every key in `expires` is in `keys`, and its expires entry
 * points at the very rk_str the keys entry holds; so an expires entry is
 * always removed before (or together with) its keys entry, never after.
 * Lookups never allocate for keys up to KEYTMP_MAX bytes: the temporary
 * rk_str used to probe the dicts lives in a thread-local buffer. */
#include "core/db.h"

#include <assert.h>
#include <string.h>
#include <time.h>

#include "core/alloc.h"
#include "core/journal.h"
#include "core/lazyfree.h"
#include "core/shard.h"

__thread int db_master_command;

int db_ttl_already_expired(const rk_shard *s, int64_t when_ms, int64_t now_ms)
{
    return when_ms <= now_ms && !s->repl_view.is_replica;
}

/* ---------- time ---------- */

int64_t rk_ustime(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t rk_mstime(void)
{
    return rk_ustime() / 1000;
}

static int64_t monotonic_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

uint32_t db_lru_clock(int64_t now_ms)
{
    return (uint32_t)((now_ms / DB_LRU_RESOLUTION_MS) & DB_LRU_CLOCK_MAX);
}

/* The time expiry is judged against: the running command's cached time
 * when the shard has one (so a command sees one consistent instant), else
 * the wall clock (cron, unit tests). */
static int64_t shard_now_ms(const rk_shard *s)
{
    if (s && s->cmd_time_ms > 0)
        return s->cmd_time_ms;
    return rk_mstime();
}

/* ---------- access time: LRU clock or LFU counter ---------- */

static int lfu_policy(const rk_shard *s)
{
    return s && (s->cfg.maxmemory_policy & MAXMEMORY_FLAG_LFU);
}

uint64_t db_lru_idle_ms(const rk_obj *o, int64_t now_ms)
{
    const uint32_t now = db_lru_clock(now_ms);
    const uint32_t then = o->lru & DB_LRU_CLOCK_MAX;
    const uint64_t ticks = now >= then ? now - then : (uint64_t)now + (DB_LRU_CLOCK_MAX - then);
    return ticks * DB_LRU_RESOLUTION_MS;
}

static uint32_t lfu_minutes(int64_t now_ms)
{
    return (uint32_t)((now_ms / 60000) & 0xFFFF);
}

/* Minutes since the counter was last decremented, with the 16-bit wrap. */
static uint32_t lfu_minutes_elapsed(uint32_t then, int64_t now_ms)
{
    const uint32_t now = lfu_minutes(now_ms);
    return now >= then ? now - then : 0xFFFF - then + now;
}

uint8_t db_lfu_decayed(const rk_shard *s, const rk_obj *o, int64_t now_ms)
{
    const uint32_t then = (o->lru >> 8) & 0xFFFF;
    const uint32_t counter = o->lru & 0xFF;
    const long long decay = s ? s->cfg.lfu_decay_time : 1;
    const uint64_t periods = decay > 0 ? lfu_minutes_elapsed(then, now_ms) / (uint64_t)decay : 0;
    return periods >= counter ? 0 : (uint8_t)(counter - periods);
}

static _Thread_local uint64_t lfu_rand_state;

/* A uniform double in [0, 1) (xorshift64*; the counter needs no better). */
static double lfu_random(void)
{
    if (lfu_rand_state == 0)
        lfu_rand_state = (uint64_t)rk_ustime() ^ (uint64_t)(uintptr_t)&lfu_rand_state ^ 0x9E3779B97F4A7C15ULL;
    lfu_rand_state ^= lfu_rand_state >> 12;
    lfu_rand_state ^= lfu_rand_state << 25;
    lfu_rand_state ^= lfu_rand_state >> 27;
    return (double)((lfu_rand_state * 0x2545F4914F6CDD1DULL) >> 11) / 9007199254740992.0;
}

/* Redis's logarithmic increment: the higher the counter, the less likely
 * an access raises it; lfu-log-factor sets how fast it saturates. */
static uint8_t lfu_log_incr(const rk_shard *s, uint8_t counter)
{
    if (counter == 255)
        return 255;
    const double base = counter > DB_LFU_INIT_VAL ? (double)(counter - DB_LFU_INIT_VAL) : 0.0;
    const double p = 1.0 / (base * (double)s->cfg.lfu_log_factor + 1.0);
    return lfu_random() < p ? (uint8_t)(counter + 1) : counter;
}

static uint32_t lfu_pack(uint32_t minutes, uint8_t counter)
{
    return (minutes << 8) | counter;
}

/* The access-time value a new object starts with. */
static uint32_t access_init(const rk_shard *s)
{
    const int64_t now = shard_now_ms(s);
    return lfu_policy(s) ? lfu_pack(lfu_minutes(now), DB_LFU_INIT_VAL) : db_lru_clock(now);
}

/* Records an access to o: LFU decay then increment, or the LRU clock. */
static void access_touch(const rk_shard *s, rk_obj *o)
{
    const int64_t now = shard_now_ms(s);
    if (lfu_policy(s)) {
        uint8_t counter = lfu_log_incr(s, db_lfu_decayed(s, o, now));
        o->lru = lfu_pack(lfu_minutes(now), counter);
    } else {
        o->lru = db_lru_clock(now);
    }
}

/* ---------- freeing values ---------- */

/* Frees a value removed from the keyspace: through the lazy-free queue when
 * `lazy` and the value is large (lazyfree.c decides), else now. */
static void release_value(rk_shard *s, rk_obj *val, int lazy)
{
    if (lazy)
        lazyfree_free_obj(s, val);
    else
        obj_free(val);
}

static int lazy_expire(const rk_shard *s)
{
    return s && s->cfg.lazyfree_lazy_expire;
}

static int lazy_server_del(const rk_shard *s)
{
    return s && s->cfg.lazyfree_lazy_server_del;
}

/* ---------- dict types ---------- */

static const dict_type keys_dict_type = {
    .hash = rkstr_hash,
    .key_equal = rkstr_equal,
    .key_free = rkstr_destructor,
    .val_free = obj_destructor,
};

/* Keys are borrowed from `keys`; the value is an integer. */
static const dict_type expires_dict_type = {
    .hash = rkstr_hash,
    .key_equal = rkstr_equal,
    .key_free = NULL,
    .val_free = NULL,
};

/* ---------- temporary lookup keys ---------- */

#define KEYTMP_MAX 496
/* uint64_t words keep the rk_str header aligned. */
static __thread uint64_t keytmp_words[(sizeof(rk_str) + KEYTMP_MAX + 1 + 7) / 8];

/* A probe key for slice k: the thread-local buffer for short keys, a heap
 * copy for long ones (NULL on allocation failure). Release with keytmp_done. */
static rk_str *keytmp_make(rk_slice k)
{
    rk_str *t;
    if (k.len <= KEYTMP_MAX) {
        t = (rk_str *)keytmp_words;
    } else {
        t = rk_malloc(sizeof(rk_str) + k.len + 1);
        if (!t)
            return NULL;
    }
    t->len = (uint32_t)k.len;
    t->cap = (uint32_t)k.len;
    if (k.len)
        memcpy(t->data, k.ptr, k.len);
    t->data[k.len] = '\0';
    return t;
}

static void keytmp_done(rk_str *t)
{
    if (t && t != (rk_str *)keytmp_words)
        rk_free(t);
}

/* ---------- life cycle ---------- */

int db_init(rk_db *db, int id)
{
    memset(db, 0, sizeof *db);
    db->id = id;
    db->keys = dict_create(&keys_dict_type);
    db->expires = dict_create(&expires_dict_type);
    if (!db->keys || !db->expires) {
        db_release(db);
        return -1;
    }
    return 0;
}

void db_release(rk_db *db)
{
    /* expires borrows the keys' strings: release it first. */
    if (db->expires)
        dict_release(db->expires);
    if (db->keys)
        dict_release(db->keys);
    db->expires = NULL;
    db->keys = NULL;
}

uint64_t db_empty(rk_db *db)
{
    db_announce_all(db); /* the TTLs go first: a snapshot must see them */
    dict_clear(db->expires);
    uint64_t removed = dict_clear(db->keys);
    db->expire_cursor = 0;
    db->avg_ttl = 0;
    return removed;
}

uint64_t db_empty_async(rk_shard *s, rk_db *db)
{
    /* Empty, or a snapshot still reads this table (it must see every page
     * before it goes, which the clear does bucket by bucket): free now. */
    if (dict_size(db->keys) == 0 || db->keys->before_change)
        return db_empty(db);
    dict *keys = dict_create(&keys_dict_type);
    dict *expires = dict_create(&expires_dict_type);
    if (!keys || !expires) {
        /* Keep the data intact-or-empty contract: fall back to freeing now. */
        if (keys)
            dict_release(keys);
        if (expires)
            dict_release(expires);
        return db_empty(db);
    }
    dict *old_keys = db->keys, *old_expires = db->expires;
    const uint64_t removed = dict_size(old_keys);
    db->keys = keys;
    db->expires = expires;
    db->expire_cursor = 0;
    db->avg_ttl = 0;
    lazyfree_free_dicts(s, old_keys, old_expires);
    return removed;
}

void db_swap(rk_db *a, rk_db *b)
{
    dict *keys = a->keys, *expires = a->expires;
    uint64_t cursor = a->expire_cursor;
    long long avg_ttl = a->avg_ttl;
    a->keys = b->keys;
    a->expires = b->expires;
    a->expire_cursor = b->expire_cursor;
    a->avg_ttl = b->avg_ttl;
    b->keys = keys;
    b->expires = expires;
    b->expire_cursor = cursor;
    b->avg_ttl = avg_ttl;
}

/* ---------- snapshot announcements ---------- */

/* A running snapshot (storage/snapshot.c) hooks the keys dict; it must see
 * a key's page before its value or TTL changes in place. Free otherwise. */
static void announce(rk_db *db, const rk_str *k)
{
    if (db->keys->before_change)
        dict_announce_key(db->keys, k);
}

void db_announce(rk_db *db, rk_slice key)
{
    if (!db->keys->before_change)
        return;
    rk_str *k = keytmp_make(key);
    if (!k) {
        db_announce_all(db); /* cannot probe: write every page first */
        return;
    }
    dict_announce_key(db->keys, k);
    keytmp_done(k);
}

void db_announce_all(rk_db *db)
{
    dict_announce_all(db->keys);
}

/* ---------- internal helpers on probe keys ---------- */

/* Removes key k (a probe or the stored string itself) from both dicts and
 * frees its value (lazily when `lazy`). 1 if it was there. */
static int delete_key(rk_shard *s, rk_db *db, const rk_str *k, int lazy)
{
    announce(db, k); /* before the TTL goes: a snapshot writes key and TTL together */
    /* The expires entry borrows the stored string: drop it first. */
    dict_delete(db->expires, k);
    dict_entry *e = dict_unlink(db->keys, k);
    if (!e)
        return 0;
    rk_obj *val = e->v.val;
    e->v.val = NULL; /* the dict frees the key and entry; the value is ours */
    dict_free_unlinked(db->keys, e);
    release_value(s, val, lazy);
    return 1;
}

static int64_t expire_of(rk_db *db, const rk_str *k)
{
    dict_entry *e = dict_find(db->expires, k);
    return e ? e->v.s64 : -1;
}

static int is_expired_at(rk_db *db, const rk_str *k, int64_t now_ms)
{
    int64_t when = expire_of(db, k);
    return when >= 0 && when <= now_ms;
}

/* An expired key is journaled as DEL (UNLINK under lazyfree-lazy-expire), as
 * Redis propagates it, before it goes (k is freed with the key). The
 * scratch keyspace of the multi-key executor has no journal. */
static void journal_expired(rk_shard *s, rk_db *db, const rk_str *k)
{
    if (!s || !journal_active(s->journal))
        return;
    rk_slice args[2] = {s->cfg.lazyfree_lazy_expire ? RK_SLICE("UNLINK") : RK_SLICE("DEL"), rkstr_slice(k)};
    journal_append_argv(s->journal, db->id, 2, args);
}

static void expired_key_removed(rk_shard *s)
{
    if (s)
        s->stats.expired_keys++;
}

static dict_entry *lookup_probe(rk_shard *s, rk_db *db, const rk_str *k, int flags)
{
    dict_entry *e = dict_find(db->keys, k);
    if (e && dict_size(db->expires) && !db_master_command && is_expired_at(db, k, shard_now_ms(s))) {
        /* A replica's keys go when its master says so: deleting here would
         * journal a DEL of our own and diverge (writable replicas excepted,
         * as Redis: their writes must see the key gone). */
        int keep = s && s->repl_view.is_replica && (!(flags & LOOKUP_WRITE) || s->cfg.replica_read_only);
        if (!keep && !(flags & LOOKUP_NOEXPIRE)) {
            journal_expired(s, db, k);
            delete_key(s, db, k, lazy_expire(s));
            expired_key_removed(s);
        }
        e = NULL;
    }
    if (s && !(flags & LOOKUP_WRITE)) {
        if (e)
            s->stats.keyspace_hits++;
        else
            s->stats.keyspace_misses++;
    }
    if (e && !(flags & LOOKUP_NOTOUCH))
        access_touch(s, e->v.val);
    return e;
}

/* ---------- lookups ---------- */

dict_entry *db_lookup_entry(rk_shard *s, rk_db *db, rk_slice key, int flags)
{
    rk_str *k = keytmp_make(key);
    if (!k)
        return NULL;
    dict_entry *e = lookup_probe(s, db, k, flags);
    keytmp_done(k);
    return e;
}

rk_obj *db_lookup(rk_shard *s, rk_db *db, rk_slice key, int flags)
{
    dict_entry *e = db_lookup_entry(s, db, key, flags);
    return e ? e->v.val : NULL;
}

int db_lookup_checked(rk_shard *s, rk_db *db, rk_slice key, int flags, rk_obj **out)
{
    *out = NULL;
    rk_str *k = keytmp_make(key);
    if (!k)
        return -1;
    dict_entry *e = lookup_probe(s, db, k, flags);
    keytmp_done(k);
    if (e)
        *out = e->v.val;
    return 0;
}

/* ---------- writes ---------- */

int db_add(rk_shard *s, rk_db *db, rk_slice key, rk_obj *val)
{
    rk_str *stored = rkstr_new(key.ptr, key.len);
    if (!stored)
        return -1;
    dict_entry *e = dict_add_raw(db->keys, stored, NULL);
    if (!e) {
        /* Either OOM or the caller broke the "must not exist" contract. */
        rkstr_free(stored);
        return -1;
    }
    val->lru = access_init(s);
    e->v.val = val;
    return 0;
}

int db_set(rk_shard *s, rk_db *db, rk_slice key, rk_obj *val, int flags)
{
    rk_str *k = keytmp_make(key);
    if (!k)
        return -1;
    dict_entry *e = dict_find(db->keys, k);
    if (e) {
        announce(db, k);
        if (!(flags & SETKEY_KEEPTTL))
            dict_delete(db->expires, k);
        db_replace_value(s, db, e, val);
        keytmp_done(k);
        return 0;
    }
    keytmp_done(k);
    return db_add(s, db, key, val);
}

void db_replace_value(rk_shard *s, rk_db *db, dict_entry *e, rk_obj *val)
{
    announce(db, e->key);
    rk_obj *old = e->v.val;
    e->v.val = val;
    if (!old || old == val)
        return;
    /* As Redis: an overwrite keeps the key's LFU history, and a new value
     * is "accessed now" under LRU. */
    val->lru = lfu_policy(s) ? old->lru : access_init(s);
    release_value(s, old, lazy_server_del(s));
}

int db_delete(rk_shard *s, rk_db *db, rk_slice key)
{
    return db_delete_lazy(s, db, key, lazy_server_del(s));
}

int db_delete_lazy(rk_shard *s, rk_db *db, rk_slice key, int lazy)
{
    rk_str *k = keytmp_make(key);
    if (!k)
        return 0;
    int deleted = delete_key(s, db, k, lazy);
    keytmp_done(k);
    return deleted;
}

rk_obj *db_take(rk_shard *s, rk_db *db, rk_slice key, int64_t *expire_ms)
{
    (void)s;
    rk_str *k = keytmp_make(key);
    if (!k)
        return NULL;
    rk_obj *val = NULL;
    if (expire_ms)
        *expire_ms = expire_of(db, k);
    announce(db, k);
    dict_delete(db->expires, k);
    dict_entry *e = dict_unlink(db->keys, k);
    if (e) {
        /* Free the entry and key by hand: the dict would free the value too. */
        val = e->v.val;
        rkstr_free(e->key);
        rk_free(e);
    }
    keytmp_done(k);
    return val;
}

/* ---------- TTLs ---------- */

int64_t db_get_expire(rk_db *db, rk_slice key)
{
    if (dict_size(db->expires) == 0)
        return -1;
    rk_str *k = keytmp_make(key);
    if (!k)
        return -1;
    int64_t when = expire_of(db, k);
    keytmp_done(k);
    return when;
}

int db_set_expire(rk_shard *s, rk_db *db, rk_slice key, int64_t when_ms)
{
    (void)s;
    rk_str *k = keytmp_make(key);
    if (!k)
        return -1;
    int rc = -1;
    dict_entry *ke = dict_find(db->keys, k);
    if (ke) {
        announce(db, k);
        dict_entry *existing = NULL;
        dict_entry *xe = dict_add_raw(db->expires, ke->key, &existing);
        if (!xe)
            xe = existing;
        if (xe) {
            assert(xe->key == ke->key);
            xe->v.s64 = when_ms;
            rc = 0;
        }
    }
    keytmp_done(k);
    return rc;
}

int db_persist(rk_db *db, rk_slice key)
{
    if (dict_size(db->expires) == 0)
        return 0;
    rk_str *k = keytmp_make(key);
    if (!k)
        return 0;
    announce(db, k);
    int removed = dict_delete(db->expires, k) == 0;
    keytmp_done(k);
    return removed;
}

int db_key_is_expired(rk_db *db, const rk_str *key)
{
    if (dict_size(db->expires) == 0)
        return 0;
    return is_expired_at(db, key, rk_mstime());
}

int db_key_is_expired_at(rk_db *db, const rk_str *key, int64_t now_ms)
{
    if (dict_size(db->expires) == 0)
        return 0;
    return is_expired_at(db, key, now_ms);
}

/* ---------- active expiry ---------- */

/* Keys examined between clock readings, and per stale-ratio sample. */
#define ACTIVE_EXPIRE_CLOCK_EVERY 16
#define ACTIVE_EXPIRE_SAMPLE 20
/* Stop early when at most this percent of a sample was expired (Redis's
 * acceptable stale ratio at the default effort). */
#define ACTIVE_EXPIRE_ACCEPTABLE_STALE 10

typedef struct expire_walk {
    rk_shard *s;
    rk_db *db;
    int64_t now_ms;
    uint64_t examined;     /* since the start of the current sample */
    uint64_t expired;      /* in the current sample */
    uint64_t removed;      /* total */
    int64_t ttl_sum;       /* over live keys examined, for avg_ttl */
    uint64_t ttl_samples;
} expire_walk;

/* dict_scan callback over `expires`: deletes e when expired. Deleting the
 * visited entry is safe: dict_scan saved its successor and rehashing is paused. */
static void expire_walk_visit(void *ud, dict_entry *e)
{
    expire_walk *w = ud;
    w->examined++;
    const int64_t when = e->v.s64;
    if (when <= w->now_ms) {
        rk_str *k = e->key;
        journal_expired(w->s, w->db, k);
        delete_key(w->s, w->db, k, lazy_expire(w->s)); /* frees k: do not touch e or k afterwards */
        expired_key_removed(w->s);
        w->expired++;
        w->removed++;
    } else {
        w->ttl_sum += when - w->now_ms;
        w->ttl_samples++;
    }
}

static void update_avg_ttl(rk_db *db, const expire_walk *w)
{
    if (w->ttl_samples == 0)
        return;
    long long avg = (long long)(w->ttl_sum / (int64_t)w->ttl_samples);
    /* Running average weighted like Redis's activeExpireCycle. */
    if (db->avg_ttl == 0)
        db->avg_ttl = avg;
    else
        db->avg_ttl = (db->avg_ttl / 50) * 49 + (avg / 50);
}

static void update_stale_stat(rk_shard *s, uint64_t examined, uint64_t expired)
{
    if (!s || examined == 0)
        return;
    uint64_t perc_x100 = expired * 10000 / examined;
    s->stats.expired_stale_perc_x100 = (perc_x100 * 5 + s->stats.expired_stale_perc_x100 * 95) / 100;
}

uint64_t db_active_expire(rk_shard *s, rk_db *db, int64_t budget_us)
{
    if (dict_size(db->expires) == 0) {
        db->avg_ttl = 0;
        return 0;
    }
    const int64_t start_us = monotonic_us();
    expire_walk w = {.s = s, .db = db, .now_ms = rk_mstime()};
    uint64_t total_examined = 0, total_expired = 0;
    uint64_t since_clock = 0;
    uint64_t cursor = db->expire_cursor;
    const uint64_t max_steps = dict_buckets(db->expires) + 1; /* at most one full pass */
    for (uint64_t step = 0; step < max_steps && dict_size(db->expires); step++) {
        uint64_t before = w.examined;
        cursor = dict_scan(db->expires, cursor, expire_walk_visit, &w);
        since_clock += w.examined - before;
        if (cursor == 0)
            break; /* a full pass is done: resume from the start next time */
        if (w.examined >= ACTIVE_EXPIRE_SAMPLE) {
            total_examined += w.examined;
            total_expired += w.expired;
            const int stale_ok = w.expired * 100 <= w.examined * ACTIVE_EXPIRE_ACCEPTABLE_STALE;
            w.examined = 0;
            w.expired = 0;
            if (stale_ok)
                break;
        }
        if (since_clock >= ACTIVE_EXPIRE_CLOCK_EVERY) {
            since_clock = 0;
            if (monotonic_us() - start_us >= budget_us)
                break;
        }
    }
    total_examined += w.examined;
    total_expired += w.expired;
    db->expire_cursor = cursor;
    update_avg_ttl(db, &w);
    update_stale_stat(s, total_examined, total_expired);
    if (dict_size(db->expires) == 0)
        db->avg_ttl = 0;
    if (w.removed) {
        dict_try_shrink(db->expires);
        dict_try_shrink(db->keys);
    }
    return w.removed;
}
