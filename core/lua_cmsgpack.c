/* lua_cmsgpack.c: the `cmsgpack` Lua library (pack, unpack, unpack_one,
 * unpack_limit) with the encoding choices of lua-cmsgpack 0.4.0 as Redis 7.0
 * bundles it, so scripts produce the same bytes on ringkv and Redis.
 *
 * Threads: pure functions over the calling lua_State; the shard thread that
 * owns that state calls them.
 *
 * Encoding rules: a number that is an int64 exactly is the smallest integer
 * form, else a float32 when that is exact, else a float64; strings use fixstr,
 * str8/16/32; a table whose keys are exactly 1..n is an array, otherwise a
 * map (pairs order); tables nested 16 deep encode as nil (this bounds the
 * recursion and survives cyclic tables); functions, userdata and nil are nil.
 * Invariant: the pack buffer is bounded by the Lua string it becomes (Lua's
 * allocator raises a memory error on failure, as for every Lua string). */
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "core/lua_libs.h"

#define MP_MAX_NESTING 16

/* ---- encoding, into an mp_buf ---- */

/* The pack buffer lives in a userdata whose __gc frees the bytes, so a Lua
 * error raised mid-encoding (a failing __index, a stack or memory error)
 * cannot leak it. It grows by doubling; its size is bounded by the Lua
 * string it becomes. */
typedef struct {
    unsigned char *p;
    size_t len, cap;
    lua_State *L;
} mp_buf;

#define MP_BUF_META "rk.cmsgpack.buf"

static int mp_buf_gc(lua_State *L) {
    mp_buf *b = luaL_checkudata(L, 1, MP_BUF_META);
    if (b->p) {
        void *ud;
        lua_Alloc f = lua_getallocf(L, &ud);
        f(ud, b->p, b->cap, 0);
        b->p = NULL;
        b->cap = b->len = 0;
    }
    return 0;
}

static mp_buf *mp_buf_push(lua_State *L) {
    mp_buf *b = lua_newuserdata(L, sizeof *b);
    b->p = NULL;
    b->len = b->cap = 0;
    b->L = L;
    if (luaL_newmetatable(L, MP_BUF_META)) {
        lua_pushcfunction(L, mp_buf_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_setmetatable(L, -2);
    return b;
}

static void mp_put(mp_buf *b, const unsigned char *s, size_t n) {
    if (b->cap - b->len < n) {
        size_t want = b->len + n;
        if (want < b->len || want > SIZE_MAX / 2) luaL_error(b->L, "not enough memory");
        want *= 2;
        void *ud;
        lua_Alloc f = lua_getallocf(b->L, &ud);
        unsigned char *np = f(ud, b->p, b->cap, want);
        if (!np) luaL_error(b->L, "not enough memory");
        b->p = np;
        b->cap = want;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

static void mp_put_be(mp_buf *b, unsigned char head, uint64_t v, int nbytes) {
    unsigned char out[9];
    out[0] = head;
    for (int i = 0; i < nbytes; i++) out[1 + i] = (unsigned char)(v >> (8 * (nbytes - 1 - i)));
    mp_put(b, out, (size_t)nbytes + 1);
}

static void mp_enc_int(mp_buf *b, int64_t n) {
    if (n >= 0) {
        if (n <= 127) {
            unsigned char c = (unsigned char)n;
            mp_put(b, &c, 1);
        } else if (n <= 0xff) mp_put_be(b, 0xcc, (uint64_t)n, 1);
        else if (n <= 0xffff) mp_put_be(b, 0xcd, (uint64_t)n, 2);
        else if (n <= 0xffffffffLL) mp_put_be(b, 0xce, (uint64_t)n, 4);
        else mp_put_be(b, 0xcf, (uint64_t)n, 8);
    } else {
        if (n >= -32) {
            unsigned char c = (unsigned char)(n & 0xff);
            mp_put(b, &c, 1);
        } else if (n >= -128) mp_put_be(b, 0xd0, (uint64_t)n, 1);
        else if (n >= -32768) mp_put_be(b, 0xd1, (uint64_t)n, 2);
        else if (n >= -2147483648LL) mp_put_be(b, 0xd2, (uint64_t)n, 4);
        else mp_put_be(b, 0xd3, (uint64_t)n, 8);
    }
}

static void mp_enc_double(mp_buf *b, double d) {
    float f = (float)d;
    if (d == (double)f) {
        uint32_t bits;
        memcpy(&bits, &f, 4);
        mp_put_be(b, 0xca, bits, 4);
    } else {
        uint64_t bits;
        memcpy(&bits, &d, 8);
        mp_put_be(b, 0xcb, bits, 8);
    }
}

static void mp_enc_number(mp_buf *b, lua_Number n) {
    /* -2^63 <= n < 2^63 and integral: the int64 cast is exact and defined. */
    if (n >= -9223372036854775808.0 && n < 9223372036854775808.0 && (lua_Number)(int64_t)n == n)
        mp_enc_int(b, (int64_t)n);
    else
        mp_enc_double(b, n);
}

static void mp_enc_string(mp_buf *b, const char *s, size_t len) {
    if (len < 32) {
        unsigned char c = (unsigned char)(0xa0 | len);
        mp_put(b, &c, 1);
    } else if (len <= 0xff) mp_put_be(b, 0xd9, len, 1);
    else if (len <= 0xffff) mp_put_be(b, 0xda, len, 2);
    else mp_put_be(b, 0xdb, len, 4);
    mp_put(b, (const unsigned char *)s, len);
}

static void mp_enc_count(mp_buf *b, size_t n, unsigned char fix, unsigned char w16, unsigned char w32) {
    if (n <= 15) {
        unsigned char c = (unsigned char)(fix | n);
        mp_put(b, &c, 1);
    } else if (n <= 65535) mp_put_be(b, w16, n, 2);
    else mp_put_be(b, w32, n, 4);
}

/* True when the table at the top holds exactly the keys 1..n (an array). */
static int mp_table_is_array(lua_State *L) {
    int top = lua_gettop(L);
    int count = 0, max = 0;
    luaL_checkstack(L, 2, "in function table_is_an_array");
    lua_pushnil(L);
    while (lua_next(L, -2)) {
        lua_pop(L, 1);
        lua_Number n;
        if (lua_type(L, -1) != LUA_TNUMBER || (n = lua_tonumber(L, -1)) <= 0 || n > INT_MAX ||
            (lua_Number)(int)n != n) {
            lua_settop(L, top);
            return 0;
        }
        if ((int)n > max) max = (int)n;
        count++;
    }
    lua_settop(L, top);
    return max == count;
}

/* Values are addressed by absolute stack index; temporaries are pushed
 * above them and popped before returning. Recursion depth is bounded by
 * MP_MAX_NESTING. */
static void mp_enc_value(lua_State *L, mp_buf *b, int idx, int level);

static void mp_enc_table(lua_State *L, mp_buf *b, int idx, int level) {
    lua_pushvalue(L, idx);
    int is_array = mp_table_is_array(L);
    lua_pop(L, 1);
    if (is_array) {
        size_t len = lua_objlen(L, idx);
        mp_enc_count(b, len, 0x90, 0xdc, 0xdd);
        for (size_t j = 1; j <= len; j++) {
            luaL_checkstack(L, 2, "in function mp_encode_lua_table_as_array");
            lua_pushnumber(L, (lua_Number)j);
            lua_gettable(L, idx);
            int vi = lua_gettop(L);
            mp_enc_value(L, b, vi, level + 1);
            lua_remove(L, vi);
        }
        return;
    }
    size_t n = 0;
    luaL_checkstack(L, 3, "in function mp_encode_lua_table_as_map");
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        n++;
    }
    mp_enc_count(b, n, 0x80, 0xde, 0xdf);
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        int vi = lua_gettop(L);
        mp_enc_value(L, b, vi - 1, level + 1);
        mp_enc_value(L, b, vi, level + 1);
        lua_pop(L, 1);
    }
}

static void mp_enc_value(lua_State *L, mp_buf *b, int idx, int level) {
    int t = lua_type(L, idx);
    if (t == LUA_TTABLE && level == MP_MAX_NESTING) t = LUA_TNIL;
    switch (t) {
    case LUA_TSTRING: {
        size_t len;
        const char *s = lua_tolstring(L, idx, &len);
        mp_enc_string(b, s, len);
        break;
    }
    case LUA_TBOOLEAN: {
        unsigned char c = lua_toboolean(L, idx) ? 0xc3 : 0xc2;
        mp_put(b, &c, 1);
        break;
    }
    case LUA_TNUMBER: mp_enc_number(b, lua_tonumber(L, idx)); break;
    case LUA_TTABLE: mp_enc_table(L, b, idx, level); break;
    default: {
        unsigned char c = 0xc0;
        mp_put(b, &c, 1);
    }
    }
}

static int mp_pack(lua_State *L) {
    int nargs = lua_gettop(L);
    if (nargs == 0) return luaL_argerror(L, 0, "MessagePack pack needs input.");
    if (!lua_checkstack(L, nargs)) return luaL_argerror(L, 0, "Too many arguments for MessagePack pack.");
    luaL_checkstack(L, 2, "in function mp_check");
    mp_buf *b = mp_buf_push(L);
    int bi = lua_gettop(L);
    for (int i = 1; i <= nargs; i++) mp_enc_value(L, b, i, 0);
    lua_pushlstring(L, b->p ? (const char *)b->p : "", b->len);
    lua_remove(L, bi); /* the collector frees the bytes */
    return 1;
}

/* ---- decoding ---- */

enum { MP_OK = 0, MP_EOF = 1, MP_BADFMT = 2 };

typedef struct {
    const unsigned char *p;
    size_t left;
    int err;
} mp_cur;

static uint64_t mp_be(const unsigned char *p, int n) {
    uint64_t v = 0;
    for (int i = 0; i < n; i++) v = v << 8 | p[i];
    return v;
}

#define MP_NEED(c, n)                 \
    do {                              \
        if ((c)->left < (size_t)(n)) { \
            (c)->err = MP_EOF;        \
            return;                   \
        }                             \
    } while (0)

static void mp_take(mp_cur *c, size_t n) {
    c->p += n;
    c->left -= n;
}

static void mp_dec_value(lua_State *L, mp_cur *c);

static void mp_dec_array(lua_State *L, mp_cur *c, size_t n) {
    lua_newtable(L);
    luaL_checkstack(L, 1, "in function mp_decode_to_lua_array");
    for (size_t i = 1; i <= n; i++) {
        lua_pushnumber(L, (lua_Number)i);
        mp_dec_value(L, c);
        if (c->err) return;
        lua_settable(L, -3);
    }
}

static void mp_dec_map(lua_State *L, mp_cur *c, size_t n) {
    lua_newtable(L);
    while (n--) {
        mp_dec_value(L, c);
        if (c->err) return;
        mp_dec_value(L, c);
        if (c->err) return;
        lua_settable(L, -3);
    }
}

static void mp_dec_bytes(lua_State *L, mp_cur *c, size_t hdr, size_t len) {
    mp_take(c, hdr);
    MP_NEED(c, len);
    lua_pushlstring(L, (const char *)c->p, len);
    mp_take(c, len);
}

/* Pushes one decoded value; on error sets c->err (the caller raises). The
 * stack check per value bounds the recursion depth by Lua's stack limit. */
static void mp_dec_value(lua_State *L, mp_cur *c) {
    MP_NEED(c, 1);
    luaL_checkstack(L, 1, "too many return values at once; use unpack_one or unpack_limit instead.");
    unsigned char t = c->p[0];
    switch (t) {
    case 0xcc: MP_NEED(c, 2); lua_pushinteger(L, c->p[1]); mp_take(c, 2); return;
    case 0xd0: MP_NEED(c, 2); lua_pushinteger(L, (int8_t)c->p[1]); mp_take(c, 2); return;
    case 0xcd: MP_NEED(c, 3); lua_pushinteger(L, (lua_Integer)mp_be(c->p + 1, 2)); mp_take(c, 3); return;
    case 0xd1: MP_NEED(c, 3); lua_pushinteger(L, (int16_t)mp_be(c->p + 1, 2)); mp_take(c, 3); return;
    case 0xce: MP_NEED(c, 5); lua_pushinteger(L, (lua_Integer)mp_be(c->p + 1, 4)); mp_take(c, 5); return;
    case 0xd2: MP_NEED(c, 5); lua_pushinteger(L, (int32_t)mp_be(c->p + 1, 4)); mp_take(c, 5); return;
    /* uint64 goes through Lua's signed integer, as in cmsgpack: values past
     * 2^63 come out negative. */
    case 0xcf: MP_NEED(c, 9); lua_pushinteger(L, (lua_Integer)(int64_t)mp_be(c->p + 1, 8)); mp_take(c, 9); return;
    case 0xd3: MP_NEED(c, 9); lua_pushnumber(L, (lua_Number)(int64_t)mp_be(c->p + 1, 8)); mp_take(c, 9); return;
    case 0xc0: lua_pushnil(L); mp_take(c, 1); return;
    case 0xc3: lua_pushboolean(L, 1); mp_take(c, 1); return;
    case 0xc2: lua_pushboolean(L, 0); mp_take(c, 1); return;
    case 0xca: {
        MP_NEED(c, 5);
        uint32_t bits = (uint32_t)mp_be(c->p + 1, 4);
        float f;
        memcpy(&f, &bits, 4);
        lua_pushnumber(L, f);
        mp_take(c, 5);
        return;
    }
    case 0xcb: {
        MP_NEED(c, 9);
        uint64_t bits = mp_be(c->p + 1, 8);
        double d;
        memcpy(&d, &bits, 8);
        lua_pushnumber(L, d);
        mp_take(c, 9);
        return;
    }
    case 0xd9: MP_NEED(c, 2); mp_dec_bytes(L, c, 2, c->p[1]); return;
    case 0xda: MP_NEED(c, 3); mp_dec_bytes(L, c, 3, (size_t)mp_be(c->p + 1, 2)); return;
    case 0xdb: MP_NEED(c, 5); mp_dec_bytes(L, c, 5, (size_t)mp_be(c->p + 1, 4)); return;
    case 0xdc: case 0xdd: case 0xde: case 0xdf: {
        int w = (t == 0xdc || t == 0xde) ? 2 : 4;
        MP_NEED(c, 1 + w);
        size_t n = (size_t)mp_be(c->p + 1, w);
        mp_take(c, (size_t)(1 + w));
        if (t <= 0xdd) mp_dec_array(L, c, n);
        else mp_dec_map(L, c, n);
        return;
    }
    default:
        break;
    }
    if ((t & 0x80) == 0) {
        lua_pushinteger(L, t);
        mp_take(c, 1);
    } else if ((t & 0xe0) == 0xe0) {
        lua_pushinteger(L, (int8_t)t);
        mp_take(c, 1);
    } else if ((t & 0xe0) == 0xa0) {
        mp_dec_bytes(L, c, 1, t & 0x1f);
    } else if ((t & 0xf0) == 0x90) {
        mp_take(c, 1);
        mp_dec_array(L, c, t & 0xf);
    } else if ((t & 0xf0) == 0x80) {
        mp_take(c, 1);
        mp_dec_map(L, c, t & 0xf);
    } else {
        c->err = MP_BADFMT;
    }
}

/* limit == 0 && offset == 0 decodes everything and returns only the values;
 * otherwise the next offset (-1 at the end) comes first (cmsgpack's API). */
static int mp_unpack_full(lua_State *L, lua_Integer limit, lua_Integer offset) {
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    int all = limit == 0 && offset == 0;
    if (offset < 0 || limit < 0)
        /* cmsgpack prints the input length where it says "limit"; kept. */
        return luaL_error(L, "Invalid request to unpack with offset of %d and limit of %d.", (int)offset, (int)len);
    if ((size_t)offset > len)
        return luaL_error(L, "Start offset %d greater than input length %d.", (int)offset, (int)len);
    if (all) limit = INT_MAX;
    mp_cur c = {(const unsigned char *)s + offset, len - (size_t)offset, MP_OK};
    int cnt = 0;
    for (; c.left > 0 && cnt < limit; cnt++) {
        mp_dec_value(L, &c);
        if (c.err == MP_EOF) return luaL_error(L, "Missing bytes in input.");
        if (c.err == MP_BADFMT) return luaL_error(L, "Bad data format in input.");
    }
    if (!all) {
        luaL_checkstack(L, 1, "in function mp_unpack_full");
        lua_pushinteger(L, c.left == 0 ? -1 : (lua_Integer)(len - c.left));
        lua_insert(L, 2);
        cnt++;
    }
    return cnt;
}

static int mp_unpack(lua_State *L) { return mp_unpack_full(L, 0, 0); }

static int mp_unpack_one(lua_State *L) {
    lua_Integer offset = luaL_optinteger(L, 2, 0);
    lua_settop(L, 1);
    return mp_unpack_full(L, 1, offset);
}

static int mp_unpack_limit(lua_State *L) {
    lua_Integer limit = luaL_checkinteger(L, 2);
    lua_Integer offset = luaL_optinteger(L, 3, 0);
    lua_settop(L, 1);
    return mp_unpack_full(L, limit, offset);
}

static const luaL_Reg mp_funcs[] = {
    {"pack", mp_pack},
    {"unpack", mp_unpack},
    {"unpack_one", mp_unpack_one},
    {"unpack_limit", mp_unpack_limit},
    {NULL, NULL},
};

int luaopen_cmsgpack(lua_State *L) {
    lua_newtable(L);
    for (const luaL_Reg *r = mp_funcs; r->name; r++) {
        lua_pushcfunction(L, r->func);
        lua_setfield(L, -2, r->name);
    }
    lua_pushliteral(L, "cmsgpack");
    lua_setfield(L, -2, "_NAME");
    lua_pushliteral(L, "lua-cmsgpack 0.4.0");
    lua_setfield(L, -2, "_VERSION");
    lua_pushliteral(L, "Copyright (C) 2012, Salvatore Sanfilippo");
    lua_setfield(L, -2, "_COPYRIGHT");
    lua_pushliteral(L, "MessagePack C implementation for Lua");
    lua_setfield(L, -2, "_DESCRIPTION");
    lua_pushvalue(L, -1);
    lua_setglobal(L, "cmsgpack");
    return 1;
}
