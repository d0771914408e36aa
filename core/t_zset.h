/* t_zset.h: what other families may do with a sorted set value without a
 * client (RDB load, RESTORE). The value itself lives in core/t_zset.c:
 * ENC_LISTPACK (member,score pairs in score order) or ENC_SKIPLIST
 * (core/zskiplist.h's zset_sl). Owner: the shard thread holding the value. */
#ifndef RK_CORE_T_ZSET_H
#define RK_CORE_T_ZSET_H
#include <stddef.h>
#include "core/object.h"

/* An empty sorted set in ENC_LISTPACK or ENC_SKIPLIST; NULL on OOM. */
rk_obj *zset_create(int encoding);
unsigned long zset_length(const rk_obj *o);
/* Adds a member in the current encoding (no conversion): 1 added, 0 already
 * present (nothing changed), -1 OOM (unchanged). */
int zset_add_new(rk_obj *o, const char *m, size_t len, double score);
/* Converts to ENC_SKIPLIST / ENC_LISTPACK. 0, or -1 on OOM (unchanged). */
int zset_convert(rk_obj *o, int encoding);
/* 1 and *score when m is a member, else 0. */
int zset_score(rk_obj *o, const char *m, size_t len, double *score);
/* Calls fn for every member with min <= score < max, in ZRANGEBYSCORE
 * order, until fn returns nonzero (the geo search's box scan). */
typedef int zset_visit_fn(void *ud, rk_slice member, double score);
void zset_scan_score_range(rk_obj *o, double min, double max_exclusive, zset_visit_fn *fn, void *ud);

#endif
