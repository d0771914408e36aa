/* evict.h: maxmemory enforcement (per shard, on its share of maxmemory). */
#ifndef RK_CORE_EVICT_H
#define RK_CORE_EVICT_H

struct rk_shard;

/* Called before a command flagged CMD_DENYOOM runs on shard s. Evicts keys
 * by the configured policy until s is under its share of maxmemory.
 * 0: the command may run; -1: it must be refused with Redis's OOM error. */
int evict_make_room(struct rk_shard *s);

#endif
