/* evict.h: maxmemory enforcement (per shard, on its share of maxmemory). */
#ifndef RK_CORE_EVICT_H
#define RK_CORE_EVICT_H

#include <stdint.h>

struct rk_shard;

/* Called before a command flagged CMD_DENYOOM runs on shard s. Evicts keys
 * by the configured policy until s is under its share of maxmemory.
 * 0: the command may run; -1: it must be refused with Redis's OOM error. */
int evict_make_room(struct rk_shard *s);

/* Tick hook (shard.c): continues evicting, within a time budget, while s
 * is over its limit and the policy allows eviction. Must not be called
 * while s is paused by an ordered transaction. */
void evict_cron(struct rk_shard *s);

/* The bytes shard s may use: maxmemory / shards (0 = no limit). */
int64_t evict_shard_limit(const struct rk_shard *s);

#endif
