/* lazyfree.h: freeing large values and whole keyspaces in small slices.
 *
 * A value that would take long to free (a big collection, a huge string)
 * and the dicts of a FLUSHALL/FLUSHDB ASYNC are handed to the shard's
 * lazy-free queue instead of being freed inside the command; the shard
 * frees queued work in its tick and before it waits, each time within a
 * time budget, so no command stalls on a free.
 *
 * Thread: only the shard thread that owns the queue. On any other rk_shard
 * (the multi-key executor's scratch shard) or thread, values are freed at
 * once. */
#ifndef RK_CORE_LAZYFREE_H
#define RK_CORE_LAZYFREE_H

#include <stdint.h>
#include "core/dict.h"
#include "core/object.h"

struct rk_shard;

/* Values this large (bytes) are worth queueing even when one allocation. */
#define LAZYFREE_MIN_BYTES (1024 * 1024)
/* Quicklists of more nodes than this are queued (Redis's free effort 64). */
#define LAZYFREE_MIN_NODES 64

/* 1 when freeing o inline could stall the shard: encodings made of many
 * allocations (hash tables, skiplists, linked lists, streams, quicklists of
 * more than LAZYFREE_MIN_NODES nodes) or values of at least
 * LAZYFREE_MIN_BYTES. O(1) for every encoding but short quicklists. */
int lazyfree_is_large(const rk_obj *o);
/* Frees o: queued on s when lazyfree_is_large(o) and s can queue, else now.
 * Returns 1 when queued. */
int lazyfree_free_obj(struct rk_shard *s, rk_obj *o);
/* Takes a keyspace detached from its db (keys owns the key strings and
 * values, expires borrows the keys) and frees it in slices. Frees at once
 * when s cannot queue. */
void lazyfree_free_dicts(struct rk_shard *s, dict *keys, dict *expires);

/* Frees queued work for about budget_us microseconds. Returns 1 when work
 * remains. */
int lazyfree_drain(struct rk_shard *s, int64_t budget_us);
/* Hooks for the shard loop (shard.c): every tick, and once per iteration
 * before it waits (a larger slice when no command ran since the last one). */
void lazyfree_cron(struct rk_shard *s);
void lazyfree_before_wait(struct rk_shard *s);
/* Values (including the keys of queued keyspaces) not freed yet. */
uint64_t lazyfree_pending(const struct rk_shard *s);
/* Shutdown: frees everything queued and the queue itself. */
void lazyfree_release(struct rk_shard *s);

#endif
