/* t_set.h: what other families may do with a set value (read-only). */
#ifndef RK_CORE_T_SET_H
#define RK_CORE_T_SET_H

#include <stddef.h>
#include "core/object.h"

/* Calls fn for every member of the set (any encoding). Returns 0. */
int set_for_each_member(const rk_obj *o, void (*fn)(void *ud, const char *p, size_t len), void *ud);

#endif
