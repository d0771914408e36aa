/* lazyfree.c: the per-shard lazy-free queue.
 *
 * Owns: s->lazyfree, a FIFO of jobs, each either one value or one detached
 * keyspace (a keys dict and its expires dict). Work is done in slices
 * bounded by time: a value is freed whole (obj_free has no partial form),
 * a keyspace a few buckets at a time by a SCAN-cursor walk that deletes
 * every entry it visits.
 *
 * Thread: only the shard thread that owns s (rk_this_shard == s). Anything
 * else (the multi-key executor's scratch shard, unit tests without shard
 * threads) frees at once, since nobody would drain its queue.
 *
 * Invariants: `pending` counts the values not yet freed (queued values plus
 * the keys left in queued keyspaces); a keyspace job frees its expires dict
 * before its keys dict, because the expires entries borrow the key strings.
 * Queue nodes come from the shard's heap, so queued memory stays counted in
 * the shard's usage until it is really freed. */
#include "core/lazyfree.h"

#include <assert.h>
#include <time.h>

#include "core/alloc.h"
#include "core/quicklist.h"
#include "core/shard.h"

/* Deletes between clock readings while walking a keyspace. */
#define LAZYFREE_CLOCK_EVERY 64
/* Slices: per tick, per loop iteration when idle, per iteration when busy. */
#define LAZYFREE_TICK_BUDGET_US 5000
#define LAZYFREE_IDLE_BUDGET_US 1000
#define LAZYFREE_BUSY_BUDGET_US 200

typedef struct lf_job {
    struct lf_job *next;
    rk_obj *obj;          /* a value, or NULL for a keyspace job */
    dict *keys, *expires; /* a detached keyspace */
    uint64_t cursor;      /* the walk's position in the dict being freed */
} lf_job;

struct rk_lazyfree {
    lf_job *head, *tail;
    uint64_t pending;
    uint64_t commands_seen; /* total_commands_processed at the last before_wait */
};

static int64_t monotonic_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int lazyfree_is_large(const rk_obj *o)
{
    switch (o->encoding) {
    case ENC_HT:
    case ENC_SKIPLIST:
    case ENC_LINKEDLIST:
    case ENC_STREAM:
        return 1; /* one allocation per element at least */
    case ENC_QUICKLIST: /* one allocation per node, as Redis counts its effort */
        return ((const quicklist *)o->u.ptr)->len > LAZYFREE_MIN_NODES ||
               obj_heap_size(o) >= LAZYFREE_MIN_BYTES;
    default:
        return obj_heap_size(o) >= LAZYFREE_MIN_BYTES;
    }
}

/* The queue of s, created on first use; NULL when s may not queue (not the
 * running shard thread's own shard) or on allocation failure. */
static struct rk_lazyfree *queue_of(rk_shard *s)
{
    if (!s || s != rk_this_shard)
        return NULL;
    if (!s->lazyfree)
        s->lazyfree = rk_calloc(sizeof(struct rk_lazyfree));
    return s->lazyfree;
}

static int enqueue(struct rk_lazyfree *q, lf_job *j, uint64_t values)
{
    j->next = NULL;
    if (q->tail)
        q->tail->next = j;
    else
        q->head = j;
    q->tail = j;
    q->pending += values;
    return 1;
}

int lazyfree_free_obj(rk_shard *s, rk_obj *o)
{
    if (!o)
        return 0;
    struct rk_lazyfree *q = lazyfree_is_large(o) ? queue_of(s) : NULL;
    lf_job *j = q ? rk_calloc(sizeof(lf_job)) : NULL;
    if (!j) {
        obj_free(o); /* small, or no queue: the stall is the lesser evil */
        return 0;
    }
    j->obj = o;
    return enqueue(q, j, 1);
}

void lazyfree_free_dicts(rk_shard *s, dict *keys, dict *expires)
{
    struct rk_lazyfree *q = queue_of(s);
    lf_job *j = q ? rk_calloc(sizeof(lf_job)) : NULL;
    if (!j) {
        if (expires)
            dict_release(expires); /* borrows the keys: first */
        if (keys)
            dict_release(keys);
        return;
    }
    j->keys = keys;
    j->expires = expires;
    enqueue(q, j, keys ? dict_size(keys) : 0);
}

/* ---------- draining ---------- */

typedef struct lf_walk {
    dict *d;
    uint64_t deleted;
} lf_walk;

/* dict_scan callback: deletes the visited entry (dict_scan allows that). */
static void delete_visited(void *ud, dict_entry *e)
{
    lf_walk *w = ud;
    int rc = dict_delete(w->d, e->key);
    assert(rc == 0);
    (void)rc;
    w->deleted++;
}

/* Deletes entries of d from j->cursor until d is empty or the deadline
 * passes. Returns the entries deleted; d is empty when the walk is done. */
static uint64_t free_dict_slice(lf_job *j, dict *d, int64_t deadline_us)
{
    lf_walk w = {d, 0};
    uint64_t since_clock = 0;
    while (dict_size(d) > 0) {
        uint64_t before = w.deleted;
        /* A cursor back at 0 with entries left cannot happen when every
         * visited entry is deleted; restarting from 0 is safe anyway. */
        j->cursor = dict_scan(d, j->cursor, delete_visited, &w);
        since_clock += w.deleted - before;
        if (since_clock >= LAZYFREE_CLOCK_EVERY) {
            since_clock = 0;
            if (monotonic_us() >= deadline_us)
                break;
        }
    }
    return w.deleted;
}

/* Frees part of a keyspace job; 1 when the job is complete. */
static int run_dicts_job(struct rk_lazyfree *q, rk_shard *s, lf_job *j, int64_t deadline_us)
{
    if (j->expires) {
        free_dict_slice(j, j->expires, deadline_us);
        if (dict_size(j->expires) > 0)
            return 0;
        dict_release(j->expires);
        j->expires = NULL;
        j->cursor = 0;
    }
    if (j->keys) {
        uint64_t freed = free_dict_slice(j, j->keys, deadline_us);
        assert(freed <= q->pending);
        q->pending -= freed;
        s->stats.lazyfreed_objects += freed;
        if (dict_size(j->keys) > 0)
            return 0;
        dict_release(j->keys);
        j->keys = NULL;
    }
    return 1;
}

int lazyfree_drain(rk_shard *s, int64_t budget_us)
{
    struct rk_lazyfree *q = s ? s->lazyfree : NULL;
    if (!q || !q->head)
        return 0;
    const int64_t deadline_us = monotonic_us() + budget_us;
    while (q->head) {
        lf_job *j = q->head;
        if (j->obj) {
            obj_free(j->obj);
            j->obj = NULL;
            assert(q->pending > 0);
            q->pending--;
            s->stats.lazyfreed_objects++;
        } else if (!run_dicts_job(q, s, j, deadline_us)) {
            break; /* out of time inside the keyspace */
        }
        q->head = j->next;
        if (!q->head)
            q->tail = NULL;
        rk_free(j);
        if (q->head && monotonic_us() >= deadline_us)
            break;
    }
    return q->head != NULL;
}

void lazyfree_cron(rk_shard *s)
{
    lazyfree_drain(s, LAZYFREE_TICK_BUDGET_US);
}

void lazyfree_before_wait(rk_shard *s)
{
    struct rk_lazyfree *q = s->lazyfree;
    if (!q || !q->head)
        return;
    /* No command since the last iteration: the shard is idle, give the
     * queue more time; otherwise a thin slice so commands keep flowing. */
    const uint64_t commands = s->stats.total_commands_processed;
    const int idle = commands == q->commands_seen;
    q->commands_seen = commands;
    lazyfree_drain(s, idle ? LAZYFREE_IDLE_BUDGET_US : LAZYFREE_BUSY_BUDGET_US);
}

uint64_t lazyfree_pending(const rk_shard *s)
{
    return s && s->lazyfree ? s->lazyfree->pending : 0;
}

void lazyfree_release(rk_shard *s)
{
    struct rk_lazyfree *q = s->lazyfree;
    if (!q)
        return;
    while (q->head) {
        lf_job *j = q->head;
        q->head = j->next;
        obj_free(j->obj);
        if (j->expires)
            dict_release(j->expires);
        if (j->keys)
            dict_release(j->keys);
        rk_free(j);
    }
    rk_free(q);
    s->lazyfree = NULL;
}
