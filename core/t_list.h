/* t_list.h: the list value type (OBJ_LIST, ENC_QUICKLIST: u.ptr is a
 * quicklist of listpack nodes), for whoever must build lists without a
 * client (RDB, tests).
 *
 * Owner: the shard thread holding the object. */
#ifndef RK_CORE_T_LIST_H
#define RK_CORE_T_LIST_H

#include "core/object.h"

/* An empty list whose nodes hold `fill` (list-max-listpack-size, clamped to
 * an int) entries or bytes; NULL when out of memory. */
rk_obj *list_obj_create(long long fill);
/* Calls fn with every element's bytes, head to tail (integers as text). */
void list_for_each_element(const rk_obj *o, void (*fn)(void *ud, const char *p, size_t len), void *ud);

#endif
