/* t_set.h: what other families may do with a set value (read-only). */
#ifndef RK_CORE_T_SET_H
#define RK_CORE_T_SET_H

#include <stddef.h>
#include "core/object.h"

/* Calls fn for every member of the set (any encoding). Returns 0. */
int set_for_each_member(const rk_obj *o, void (*fn)(void *ud, const char *p, size_t len), void *ud);

/* Building sets without a client (RDB load): an empty set, ENC_INTSET
 * (a bitmap) when intset is set, else ENC_HT; and adding one member with
 * Redis's conversion rules. set_add_member: 1 added, 0 present, -1 OOM. */
rk_obj *set_create_empty(int intset);
int set_add_member(rk_obj *o, const char *p, size_t len, long long max_intset);

#endif
