/* t_keys.h: what t_keys.c exports besides its command table: the
 * whole-server writes (FLUSHALL, FLUSHDB, SWAPDB) acting on ONE shard, for
 * replaying an AOF (storage/aof_load.c), where every shard's log holds its
 * own copy of such a command and each shard applies it to itself.
 *
 * Thread: the shard s, with nothing else running on it (a loading shard).
 * Nothing is journaled: a replay must not write its input again. */
#ifndef RK_CORE_T_KEYS_H
#define RK_CORE_T_KEYS_H

#include <stdint.h>

struct rk_shard;

/* Empties database dbid of shard s, or all of them when dbid < 0; with
 * async the values go to the shard's lazy-free queue. Returns the number of
 * keys removed (counted in s->dirty). */
uint64_t keys_flush_local(struct rk_shard *s, int dbid, int async);
/* Empties, in database dbid (all when < 0), only the keys whose slot % nparts
 * == part: another shard layout's share of the data (an AOF written with
 * nparts shards replayed on a different number of shards). Returns the
 * number removed, or -1 when out of memory (nothing removed then). */
int64_t keys_flush_local_part(struct rk_shard *s, int dbid, int nparts, int part);
/* Swaps databases a and b of shard s. 0, or -1 when an index is out of
 * range (nothing done). */
int keys_swapdb_local(struct rk_shard *s, int a, int b);

#endif
