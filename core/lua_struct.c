/* lua_struct.c: the `struct` Lua library (pack, unpack, size) with the
 * format language and error messages of the copy Redis 7.0 bundles.
 *
 * Threads: pure functions over the calling lua_State; the shard thread that
 * owns that state calls them. Errors are raised with luaL_error/argerror, so
 * they reach the script as Lua errors, exactly as in Redis.
 *
 * Format letters: '<' '>' byte order, '!n' maximum alignment (power of 2),
 * 'x' a zero byte, b/B h/H l/L T i/In integers (lower case signed, n bytes,
 * at most 32), 'cn' n chars (c0: whole string when packing, previous number
 * when unpacking), 's' zero-terminated string, 'f' float, 'd' double, ' '
 * ignored. Integers travel through a 64-bit long, as in Redis. */
#include <ctype.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "core/lua_libs.h"

#define ST_MAX_INT_SIZE 32

enum { ST_BIG = 0, ST_LITTLE = 1 };

typedef struct {
    int endian;
    int align;
} st_opts;

/* The natural maximum alignment is what a double needs inside a struct, or an
 * int if that is larger (struct.c's MAXALIGN). */
struct st_probe {
    char c;
    double d;
};
#define ST_PAD (offsetof(struct st_probe, d))
#define ST_MAX_ALIGN ((int)(ST_PAD > sizeof(int) ? ST_PAD : sizeof(int)))

static int st_native_endian(void) {
    const uint16_t one = 1;
    unsigned char b;
    memcpy(&b, &one, 1);
    return b ? ST_LITTLE : ST_BIG;
}

static void st_defaults(st_opts *o) {
    o->endian = st_native_endian();
    o->align = 1;
}

/* Reads a decimal count after a letter; absent means `dflt`. */
static int st_number(lua_State *L, const char **fmt, int dflt) {
    if (!isdigit((unsigned char)**fmt)) return dflt;
    int v = 0;
    while (isdigit((unsigned char)**fmt)) {
        int d = **fmt - '0';
        if (v > INT_MAX / 10 || v * 10 > INT_MAX - d) luaL_error(L, "integral size overflow");
        v = v * 10 + d;
        (*fmt)++;
    }
    return v;
}

static size_t st_item_size(lua_State *L, int opt, const char **fmt) {
    switch (opt) {
    case 'b': case 'B': return sizeof(char);
    case 'h': case 'H': return sizeof(short);
    case 'l': case 'L': return sizeof(long);
    case 'T': return sizeof(size_t);
    case 'f': return sizeof(float);
    case 'd': return sizeof(double);
    case 'x': return 1;
    case 'c': return (size_t)st_number(L, fmt, 1);
    case 'i': case 'I': {
        int n = st_number(L, fmt, (int)sizeof(int));
        if (n > ST_MAX_INT_SIZE)
            luaL_error(L, "integral size %d is larger than limit of %d", n, ST_MAX_INT_SIZE);
        return (size_t)n;
    }
    default: return 0;
    }
}

/* Padding before an item of `size` at offset `pos`; chars never align. */
static size_t st_padding(size_t pos, const st_opts *o, int opt, size_t size) {
    if (size == 0 || opt == 'c') return 0;
    if (size > (size_t)o->align) size = (size_t)o->align;
    return (size - (pos & (size - 1))) & (size - 1);
}

static void st_control(lua_State *L, int opt, const char **fmt, st_opts *o) {
    switch (opt) {
    case ' ': return;
    case '>': o->endian = ST_BIG; return;
    case '<': o->endian = ST_LITTLE; return;
    case '!': {
        int a = st_number(L, fmt, ST_MAX_ALIGN);
        if (a <= 0 || (a & (a - 1)) != 0) luaL_error(L, "alignment %d is not a power of 2", a);
        o->align = a;
        return;
    }
    default:
        luaL_argerror(L, 1, lua_pushfstring(L, "invalid format option '%c'", opt));
    }
}

static void st_swap_if_foreign(char *p, size_t n, int endian) {
    if (endian == st_native_endian() || n == 0) return;
    for (size_t i = 0, j = n - 1; i < j; i++, j--) {
        char t = p[i];
        p[i] = p[j];
        p[j] = t;
    }
}

static void st_put_int(lua_State *L, luaL_Buffer *b, int arg, int endian, size_t size) {
    lua_Number n = luaL_checknumber(L, arg);
    unsigned long v = n < 0 ? (unsigned long)(long)n : (unsigned long)n;
    char out[ST_MAX_INT_SIZE];
    for (size_t i = 0; i < size; i++) {
        size_t at = endian == ST_LITTLE ? i : size - 1 - i;
        out[at] = (char)(v & 0xff);
        v >>= 8; /* beyond 8 bytes the value is exhausted: zero bytes */
    }
    luaL_addlstring(b, out, size);
}

static int st_pack(lua_State *L) {
    const char *fmt = luaL_checkstring(L, 1);
    st_opts o;
    st_defaults(&o);
    int arg = 2;
    size_t total = 0;
    luaL_Buffer b;
    lua_pushnil(L); /* keeps the arguments apart from the buffer's stack slots */
    luaL_buffinit(L, &b);
    while (*fmt) {
        int opt = (unsigned char)*fmt++;
        size_t size = st_item_size(L, opt, &fmt);
        size_t pad = st_padding(total, &o, opt, size);
        total += pad;
        while (pad-- > 0) luaL_addchar(&b, '\0');
        switch (opt) {
        case 'b': case 'B': case 'h': case 'H': case 'l': case 'L':
        case 'T': case 'i': case 'I':
            st_put_int(L, &b, arg++, o.endian, size);
            break;
        case 'x':
            luaL_addchar(&b, '\0');
            break;
        case 'f': {
            float f = (float)luaL_checknumber(L, arg++);
            char raw[sizeof f];
            memcpy(raw, &f, sizeof f);
            st_swap_if_foreign(raw, sizeof f, o.endian);
            luaL_addlstring(&b, raw, sizeof f);
            break;
        }
        case 'd': {
            double d = luaL_checknumber(L, arg++);
            char raw[sizeof d];
            memcpy(raw, &d, sizeof d);
            st_swap_if_foreign(raw, sizeof d, o.endian);
            luaL_addlstring(&b, raw, sizeof d);
            break;
        }
        case 'c': case 's': {
            size_t len;
            const char *s = luaL_checklstring(L, arg++, &len);
            if (size == 0) size = len;
            /* struct.c reports the argument after the string; keep it. */
            luaL_argcheck(L, len >= size, arg, "string too short");
            luaL_addlstring(&b, s, size);
            if (opt == 's') {
                luaL_addchar(&b, '\0');
                size++;
            }
            break;
        }
        default:
            st_control(L, opt, &fmt, &o);
        }
        total += size;
    }
    luaL_pushresult(&b);
    return 1;
}

static lua_Number st_get_int(const char *p, int endian, int is_signed, size_t size) {
    unsigned long v = 0;
    for (size_t i = 0; i < size; i++) {
        size_t at = endian == ST_BIG ? i : size - 1 - i;
        v = (v << 8) | (unsigned char)p[at]; /* > 8 bytes: the last 8 count */
    }
    if (!is_signed) return (lua_Number)v;
    size_t bits = size * 8;
    if (bits == 0) return 0;
    if (bits < 64) {
        unsigned long sign = 1UL << (bits - 1);
        if (v & sign) v |= ~(sign - 1);
    }
    return (lua_Number)(long)v;
}

static int st_unpack(lua_State *L) {
    const char *fmt = luaL_checkstring(L, 1);
    size_t len;
    const char *data = luaL_checklstring(L, 2, &len);
    size_t pos = (size_t)luaL_optinteger(L, 3, 1);
    luaL_argcheck(L, pos > 0, 3, "offset must be 1 or greater");
    pos--; /* Lua offsets are 1-based */
    st_opts o;
    st_defaults(&o);
    int n = 0;
    while (*fmt) {
        int opt = (unsigned char)*fmt++;
        size_t size = st_item_size(L, opt, &fmt);
        pos += st_padding(pos, &o, opt, size);
        luaL_argcheck(L, size <= len && pos <= len - size, 2, "data string too short");
        luaL_checkstack(L, 2, "too many results");
        switch (opt) {
        case 'b': case 'B': case 'h': case 'H': case 'l': case 'L':
        case 'T': case 'i': case 'I':
            lua_pushnumber(L, st_get_int(data + pos, o.endian, islower(opt), size));
            n++;
            break;
        case 'x':
            break;
        case 'f': {
            char raw[sizeof(float)];
            float f;
            memcpy(raw, data + pos, sizeof raw);
            st_swap_if_foreign(raw, sizeof raw, o.endian);
            memcpy(&f, raw, sizeof f);
            lua_pushnumber(L, f);
            n++;
            break;
        }
        case 'd': {
            char raw[sizeof(double)];
            double d;
            memcpy(raw, data + pos, sizeof raw);
            st_swap_if_foreign(raw, sizeof raw, o.endian);
            memcpy(&d, raw, sizeof d);
            lua_pushnumber(L, d);
            n++;
            break;
        }
        case 'c':
            if (size == 0) {
                if (n == 0 || !lua_isnumber(L, -1)) luaL_error(L, "format 'c0' needs a previous size");
                size = (size_t)lua_tonumber(L, -1);
                lua_pop(L, 1);
                n--;
                luaL_argcheck(L, size <= len && pos <= len - size, 2, "data string too short");
            }
            lua_pushlstring(L, data + pos, size);
            n++;
            break;
        case 's': {
            const char *end = memchr(data + pos, '\0', len - pos);
            if (!end) luaL_error(L, "unfinished string in data");
            size = (size_t)(end - (data + pos)) + 1;
            lua_pushlstring(L, data + pos, size - 1);
            n++;
            break;
        }
        default:
            st_control(L, opt, &fmt, &o);
        }
        pos += size;
    }
    lua_pushinteger(L, (lua_Integer)(pos + 1));
    return n + 1;
}

static int st_size(lua_State *L) {
    const char *fmt = luaL_checkstring(L, 1);
    st_opts o;
    st_defaults(&o);
    size_t pos = 0;
    while (*fmt) {
        int opt = (unsigned char)*fmt++;
        size_t size = st_item_size(L, opt, &fmt);
        pos += st_padding(pos, &o, opt, size);
        if (opt == 's')
            luaL_argerror(L, 1, "option 's' has no fixed size");
        else if (opt == 'c' && size == 0)
            luaL_argerror(L, 1, "option 'c0' has no fixed size");
        /* Unknown letters and digits count as nothing here, as in struct.c. */
        if (!isalnum(opt)) st_control(L, opt, &fmt, &o);
        pos += size;
    }
    lua_pushinteger(L, (lua_Integer)pos);
    return 1;
}

static const luaL_Reg st_funcs[] = {
    {"pack", st_pack},
    {"unpack", st_unpack},
    {"size", st_size},
    {NULL, NULL},
};

int luaopen_struct(lua_State *L) {
    luaL_register(L, "struct", st_funcs);
    return 1;
}
