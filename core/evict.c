/* evict.c: maxmemory enforcement, one shard at a time.
 *
 * Each shard keeps its own usage under maxmemory / shards. Usage is
 * rk_alloc_thread_used(): the bytes this shard thread allocated minus those
 * it freed, i.e. mostly its keyspace plus small bookkeeping (lazy-free
 * queue nodes, the multi-key executor's scratch copies while a command
 * runs). Kept simple on purpose, with two known skews: a value copied by
 * another shard (the multi-key executor's write-back) and later freed here
 * moves its bytes from that shard's counter to this one's, so counters can
 * drift apart while their sum (INFO used_memory) stays right; and socket
 * buffers and messages live in the process-wide allocator and are not
 * counted, as Redis leaves client buffers out of its eviction figure.
 *
 * Policies follow Redis's approximations: *-random takes a random key
 * (round robin over the databases); *-lru, *-lfu and volatile-ttl sample
 * maxmemory-samples keys from every database into a small pool kept
 * sorted by "idleness" (LRU idle time, 255 - LFU counter, or how soon the
 * TTL ends) and evict the best candidate still present. Keys go through
 * db_delete_lazy, so expiry bookkeeping and the lazy-free rules apply, and
 * WATCH sees them.
 *
 * Between commands, evict_cron (the shard's tick) continues an eviction
 * that ran out of time, so an idle shard still gets under its limit.
 *
 * Thread: the shard thread of s only; each shard has its own pool.
 *
 * Invariants: pool entries are sorted by ascending idleness, name distinct
 * keys, own their key copy, and may name keys that no longer exist
 * (checked when popped); each call does bounded work (the time comes from
 * maxmemory-eviction-tenacity, or EVICT_CRON_BUDGET_US in the tick). */
#include "core/evict.h"
#include "core/journal.h"

#include <assert.h>
#include <math.h>
#include <string.h>
#include <time.h>

#include "core/alloc.h"
#include "core/db.h"
#include "core/lazyfree.h"
#include "core/multi.h"
#include "core/shard.h"

#define EVPOOL_SIZE 16
/* Keys evicted between clock readings. */
#define EVICT_CLOCK_EVERY 16
/* What the tick spends evicting when a shard is still over its limit
 * (Redis continues an interrupted eviction in a timer). */
#define EVICT_CRON_BUDGET_US 5000
/* Slice of the lazy-free queue drained after each lazily evicted key. */
#define EVICT_LAZYFREE_SLICE_US 200

typedef struct evict_candidate {
    uint64_t idle; /* higher: evict first */
    int dbid;
    rk_str *key;   /* own copy */
} evict_candidate;

typedef struct evict_pool {
    evict_candidate c[EVPOOL_SIZE];
    int n;
    int policy;    /* the policy the idleness values were computed for */
} evict_pool;

/* One per shard, used only by that shard's thread; global so the key
 * copies stay reachable (no leak report) after the threads end. */
static evict_pool g_pools[RK_MAX_SHARDS];
static unsigned g_next_random_db[RK_MAX_SHARDS];

static evict_pool *pool_of(const rk_shard *s)
{
    assert(s->id >= 0 && s->id < RK_MAX_SHARDS);
    return &g_pools[s->id];
}

static int64_t monotonic_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t evict_shard_limit(const rk_shard *s)
{
    if (s->cfg.maxmemory <= 0)
        return 0;
    const int64_t shards = g_nshards > 0 ? g_nshards : 1;
    const int64_t share = (int64_t)s->cfg.maxmemory / shards;
    return share > 0 ? share : 1;
}

/* Redis's evictionTimeLimitUs: how long one call may evict. */
static int64_t eviction_time_limit_us(const rk_shard *s)
{
    const long long tenacity = s->cfg.maxmemory_eviction_tenacity;
    if (tenacity <= 10)
        return 50 * (int64_t)tenacity;
    if (tenacity < 100)
        return (int64_t)(500.0 * pow(1.15, (double)(tenacity - 10)));
    return INT64_MAX; /* no limit */
}

/* ---------- the candidate pool ---------- */

static void pool_remove_at(evict_pool *p, int i)
{
    rkstr_free(p->c[i].key);
    memmove(&p->c[i], &p->c[i + 1], sizeof(evict_candidate) * (size_t)(p->n - i - 1));
    p->n--;
}

static void pool_clear(evict_pool *p)
{
    while (p->n)
        pool_remove_at(p, p->n - 1);
}

/* Inserts a candidate keeping the order; when full, the least idle one
 * makes room (or the newcomer is dropped when it is the least idle). */
static void pool_insert(evict_pool *p, uint64_t idle, int dbid, const rk_str *key)
{
    for (int i = 0; i < p->n; i++)
        if (p->c[i].dbid == dbid && rkstr_equal(p->c[i].key, key))
            return; /* sampled again: keep one slot per key */
    if (p->n == EVPOOL_SIZE) {
        if (idle <= p->c[0].idle)
            return;
        pool_remove_at(p, 0);
    }
    int at = 0;
    while (at < p->n && p->c[at].idle < idle)
        at++;
    rk_str *copy = rkstr_new(key->data, key->len);
    if (!copy)
        return; /* a candidate less: harmless */
    memmove(&p->c[at + 1], &p->c[at], sizeof(evict_candidate) * (size_t)(p->n - at));
    p->c[at] = (evict_candidate){idle, dbid, copy};
    p->n++;
}

/* How good a victim the sampled entry is under the policy. e is from
 * `keys` (allkeys-*) or `expires` (volatile-*). */
static uint64_t idleness(const rk_shard *s, rk_db *db, dict_entry *e, int policy, int64_t now_ms)
{
    if (policy == MAXMEMORY_VOLATILE_TTL)
        return UINT64_MAX - (uint64_t)e->v.s64; /* sooner expiry: better victim */
    const rk_obj *o;
    if (policy & MAXMEMORY_FLAG_ALLKEYS) {
        o = e->v.val;
    } else {
        dict_entry *ke = dict_find(db->keys, e->key);
        assert(ke); /* every expires key is in keys */
        o = ke->v.val;
    }
    if (policy & MAXMEMORY_FLAG_LFU)
        return 255 - db_lfu_decayed(s, o, now_ms);
    return db_lru_idle_ms(o, now_ms);
}

static void pool_populate(rk_shard *s, evict_pool *p, rk_db *db, dict *sampled, int policy,
                          int64_t now_ms)
{
    const long long samples = s->cfg.maxmemory_samples;
    for (long long i = 0; i < samples; i++) {
        dict_entry *e = dict_random(sampled);
        if (!e)
            return;
        pool_insert(p, idleness(s, db, e, policy, now_ms), db->id, e->key);
    }
}

/* ---------- choosing a victim ---------- */

static dict *evictable_keys(rk_db *db, int policy)
{
    return (policy & MAXMEMORY_FLAG_ALLKEYS) ? db->keys : db->expires;
}

typedef struct victim {
    rk_db *db;
    rk_str *key; /* owned by the caller after a successful pick */
} victim;

/* Random policies: a random key of the next database that has one. */
static int pick_random(rk_shard *s, int policy, victim *v)
{
    const unsigned ndb = (unsigned)s->cfg.databases;
    for (unsigned n = 0; n < ndb; n++) {
        rk_db *db = &s->dbs[g_next_random_db[s->id]++ % ndb];
        dict_entry *e = dict_random(evictable_keys(db, policy));
        if (!e)
            continue;
        const rk_str *k = e->key;
        v->db = db;
        v->key = rkstr_new(k->data, k->len);
        return v->key != NULL;
    }
    return 0;
}

/* LRU, LFU, TTL: refill the pool from every database, then pop the most
 * idle candidate that still exists. */
static int pick_from_pool(rk_shard *s, int policy, victim *v)
{
    evict_pool *p = pool_of(s);
    if (p->policy != policy) {
        pool_clear(p); /* idleness values of another policy do not compare */
        p->policy = policy;
    }
    const int64_t now_ms = rk_mstime();
    int any = 0;
    for (int i = 0; i < s->cfg.databases; i++) {
        rk_db *db = &s->dbs[i];
        dict *sampled = evictable_keys(db, policy);
        if (dict_size(sampled) == 0)
            continue;
        any = 1;
        pool_populate(s, p, db, sampled, policy, now_ms);
    }
    if (!any) {
        pool_clear(p);
        return 0;
    }
    while (p->n > 0) {
        evict_candidate *c = &p->c[p->n - 1];
        rk_db *db = c->dbid < s->cfg.databases ? &s->dbs[c->dbid] : NULL;
        const int present = db && dict_find(evictable_keys(db, policy), c->key) != NULL;
        if (present) {
            v->db = db;
            v->key = c->key; /* hand the copy over */
            p->n--;
            return 1;
        }
        pool_remove_at(p, p->n - 1); /* gone since it was sampled */
    }
    return 0;
}

static int pick_victim(rk_shard *s, victim *v)
{
    const int policy = s->cfg.maxmemory_policy;
    if (policy == MAXMEMORY_ALLKEYS_RANDOM || policy == MAXMEMORY_VOLATILE_RANDOM)
        return pick_random(s, policy, v);
    return pick_from_pool(s, policy, v);
}

static void evict_victim(rk_shard *s, victim *v)
{
    const rk_slice key = rkstr_slice(v->key);
    if (db_delete_lazy(s, v->db, key, s->cfg.lazyfree_lazy_eviction)) {
        /* Redis propagates an eviction as DEL, or UNLINK under lazyfree-lazy-eviction. */
        rk_slice args[2] = {s->cfg.lazyfree_lazy_eviction ? RK_SLICE("UNLINK") : RK_SLICE("DEL"), key};
        journal_append_argv(s->journal, v->db->id, 2, args);
        s->stats.evicted_keys++;
        watch_touch_key(s, v->db->id, key);
    }
    rkstr_free(v->key);
    v->key = NULL;
}

/* ---------- the entry point ---------- */

static int over_limit(int64_t limit)
{
    return rk_alloc_thread_used() > limit;
}

/* Nothing left to evict: memory queued for lazy freeing may still bring
 * the shard under its limit (Redis waits for its lazy-free thread the same
 * way, within the same time limit). */
static int settle_with_lazyfree(rk_shard *s, int64_t limit, int64_t deadline_us)
{
    while (over_limit(limit) && lazyfree_pending(s) > 0) {
        const int64_t left = deadline_us - monotonic_us();
        if (left <= 0)
            break;
        lazyfree_drain(s, left);
    }
    return over_limit(limit) ? -1 : 0;
}

/* The shard whose keyspace and memory a command on s affects: the
 * multi-key executor runs commands on a scratch copy of its home shard's
 * rk_shard, on the home shard's thread. */
static rk_shard *real_shard(rk_shard *s)
{
    if (s->id >= 0 && s->id < g_nshards && g_shards[s->id])
        return g_shards[s->id];
    return s;
}

/* Evicts until s is under limit or the time limit passes. 0 when under
 * the limit or out of time (the command may run, as Redis lets it while
 * its eviction continues in a timer), -1 when nothing is left to evict. */
static int evict_until(rk_shard *s, int64_t limit, int64_t time_limit_us)
{
    const int64_t start_us = monotonic_us();
    const int64_t deadline_us = time_limit_us == INT64_MAX ? INT64_MAX : start_us + time_limit_us;
    if (s->cfg.maxmemory_policy == MAXMEMORY_NO_EVICTION)
        return settle_with_lazyfree(s, limit, deadline_us);
    uint64_t evicted = 0;
    while (over_limit(limit)) {
        victim v = {0};
        if (!pick_victim(s, &v))
            return settle_with_lazyfree(s, limit, deadline_us);
        evict_victim(s, &v);
        evicted++;
        if (s->cfg.lazyfree_lazy_eviction && lazyfree_pending(s) > 0)
            lazyfree_drain(s, EVICT_LAZYFREE_SLICE_US);
        if (evicted % EVICT_CLOCK_EVERY == 0 && monotonic_us() >= deadline_us)
            return 0;
    }
    return 0;
}

int evict_make_room(rk_shard *s)
{
    if (s->cfg.maxmemory <= 0)
        return 0;
    s = real_shard(s);
    const int64_t limit = evict_shard_limit(s);
    if (limit <= 0 || !over_limit(limit))
        return 0;
    return evict_until(s, limit, eviction_time_limit_us(s));
}

void evict_cron(rk_shard *s)
{
    if (s->cfg.maxmemory <= 0 || s->cfg.maxmemory_policy == MAXMEMORY_NO_EVICTION)
        return;
    const int64_t limit = evict_shard_limit(s);
    if (limit > 0 && over_limit(limit))
        (void)evict_until(s, limit, EVICT_CRON_BUDGET_US);
}
