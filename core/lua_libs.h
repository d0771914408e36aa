/* lua_libs.h: the `struct` and `cmsgpack` Lua libraries Redis scripts rely on
 * (Redis bundles them; Debian ships neither). Each luaopen_* registers its
 * global table in the given state, as Redis's copies do, and returns 1 with
 * the table on the stack. Call them on the thread that owns the lua_State. */
#ifndef RK_LUA_LIBS_H
#define RK_LUA_LIBS_H

#include <lua.h>

#ifdef __cplusplus
extern "C" {
#endif

int luaopen_struct(lua_State *L);
int luaopen_cmsgpack(lua_State *L);

#ifdef __cplusplus
}
#endif

#endif
