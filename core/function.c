/* function.c: the per-shard function library registry (see function.h).
 *
 * Owns: g_reg[i], shard i's registry (libraries, the case-insensitive
 * function-name index, the staged change), touched only by shard i's
 * thread; and, in shard i's Lua VM, the load-time API table and each
 * library's environment and callbacks (registry references).
 *
 * How a library is compiled (Redis's function_lua.c, on Debian's Lua 5.1,
 * which has no read-only tables): its code is loaded as one chunk whose
 * environment is a fresh empty table E. E's metatable refuses writes
 * ("Attempt to modify a readonly table") and, while the chunk runs, reads
 * go to the load API ({redis = {register_function, log, LOG_*,
 * REDIS_VERSION, REDIS_VERSION_NUM}}, which refuses any other name with
 * Redis's "Script attempted to access nonexistent global variable"). After
 * the load E's reads go to the VM's globals, so the callbacks (closures over
 * E) see the full scripting API when FCALL runs them. A count hook stops a
 * load running longer than its timeout, as Redis's luaEngineLoadHook.
 *
 * Invariants: the function index holds exactly the functions of the linked
 * libraries; every fn_func's ref is a live registry reference until its
 * library is freed; a staged change exists only between prepare and
 * commit/abort; library names are unique (case-sensitive) and function
 * names unique ignoring case, as Redis's dicts. Bounds: the registry is as
 * large as what clients loaded (each load is bounded by the client's query
 * buffer); nothing here queues. */
#include "core/function.h"

#include <assert.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "core/alloc.h"
#include "core/config.h"
#include "core/dict.h"
#include "core/log.h"
#include "core/lua_libs.h"
#include "core/shard.h"

#define FN_REDIS_VERSION "7.0.15"
#define FN_REDIS_VERSION_NUM 0x07000f
/* Instructions between two looks at the clock during a load (Redis's). */
#define FN_LOAD_HOOK_COUNT 100000

const char *const fn_flag_names[FN_NFLAGS] = {"no-writes", "allow-oom", "allow-stale", "no-cluster",
                                              "allow-cross-slot-keys"};

typedef struct fn_set {
    fn_lib **libs;
    int n, cap;
} fn_set;

typedef struct fn_reg {
    fn_set cur;
    dict *by_name;        /* function name (case-insensitive) -> fn_func*, of cur */
    lua_State *L;         /* bound at the first compile */
    int api_ready;        /* the load API table exists in L */
    /* The staged change. */
    int change;           /* FN_CHANGE_* */
    fn_set staged;        /* new libraries */
    int replace;          /* LOAD REPLACE / RESTORE REPLACE */
    int policy;           /* FN_RESTORE_* */
} fn_reg;

static fn_reg *g_reg[RK_MAX_SHARDS];

/* The library being loaded: where register_function puts what it gets. */
typedef struct load_ctx {
    fn_lib *lib;
    int64_t start_ms;
    int64_t timeout_ms;
} load_ctx;

static char k_load_ctx_key;  /* registry[&k_load_ctx_key] = lightuserdata load_ctx* */
static char k_load_api_key;  /* registry[&k_load_api_key] = the load API table */

/* The shard's registry, NULL while it never had a library (reads then see
 * none; prepare creates it). */
static fn_reg *reg_of(rk_shard *s)
{
    assert(s && s->id >= 0 && s->id < RK_MAX_SHARDS);
    return g_reg[s->id];
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- the function-name index ---- */

static uint64_t name_hash(const void *k) { return dict_gen_case_hash(k, strlen(k)); }
static int name_eq(const void *a, const void *b) { return strcasecmp(a, b) == 0; }
static const dict_type k_name_type = {name_hash, name_eq, NULL, NULL};

/* ---- libraries ---- */

static void lib_free(lua_State *L, fn_lib *lib)
{
    if (!lib)
        return;
    for (int i = 0; i < lib->nfuncs; i++) {
        if (L)
            luaL_unref(L, LUA_REGISTRYINDEX, lib->funcs[i].ref);
        rk_free(lib->funcs[i].name);
        rk_free(lib->funcs[i].desc);
    }
    rk_free(lib->funcs);
    rk_free(lib->name);
    rk_free(lib->code);
    rk_free(lib);
}

static int set_push(fn_set *st, fn_lib *lib)
{
    if (st->n == st->cap) {
        int cap = st->cap ? st->cap * 2 : 4;
        fn_lib **p = rk_realloc(st->libs, sizeof *p * (size_t)cap);
        if (!p)
            return -1;
        st->libs = p;
        st->cap = cap;
    }
    st->libs[st->n++] = lib;
    return 0;
}

static void set_clear(lua_State *L, fn_set *st)
{
    for (int i = 0; i < st->n; i++)
        lib_free(L, st->libs[i]);
    st->n = 0;
}

static int set_find_lib(const fn_set *st, const char *name)
{
    for (int i = 0; i < st->n; i++)
        if (strcmp(st->libs[i]->name, name) == 0)
            return i;
    return -1;
}

static fn_func *set_find_func(const fn_set *st, const char *name)
{
    for (int i = 0; i < st->n; i++)
        for (int j = 0; j < st->libs[i]->nfuncs; j++)
            if (strcasecmp(st->libs[i]->funcs[j].name, name) == 0)
                return &st->libs[i]->funcs[j];
    return NULL;
}

/* Drops lib's entries from the index. A library may hold two names equal
 * but for case (Redis accepts that; the first one loaded owns the index
 * entry, as Redis's dictAdd keeps it): only entries pointing into lib go. */
static void unindex(fn_reg *g, fn_lib *lib)
{
    for (int j = 0; j < lib->nfuncs; j++) {
        dict_entry *e = dict_find(g->by_name, lib->funcs[j].name);
        if (e && ((fn_func *)e->v.val)->lib == lib) {
            int rc = dict_delete(g->by_name, lib->funcs[j].name);
            assert(rc == 0);
            (void)rc;
        }
    }
}

/* Unlinks cur.libs[i] from the registry and frees it. */
static void cur_remove(fn_reg *g, int i)
{
    fn_lib *lib = g->cur.libs[i];
    unindex(g, lib);
    memmove(&g->cur.libs[i], &g->cur.libs[i + 1], sizeof(fn_lib *) * (size_t)(g->cur.n - i - 1));
    g->cur.n--;
    lib_free(g->L, lib);
}

/* Links lib into the registry. Its functions clash with no other library's
 * (the prepare step checked). Returns -1 only on OOM, leaving lib unlinked. */
static int cur_add(fn_reg *g, fn_lib *lib)
{
    for (int j = 0; j < lib->nfuncs; j++) {
        dict_entry *existing = NULL;
        dict_entry *e = dict_add_raw(g->by_name, lib->funcs[j].name, &existing);
        if (existing) {
            assert(((fn_func *)existing->v.val)->lib == lib && "a staged function clashes with a linked one");
            continue;
        }
        if (!e) {
            unindex(g, lib);
            return -1;
        }
        e->v.val = &lib->funcs[j];
    }
    if (set_push(&g->cur, lib) != 0) {
        unindex(g, lib);
        return -1;
    }
    return 0;
}

int function_shard_init(rk_shard *s)
{
    assert(s->id >= 0 && s->id < RK_MAX_SHARDS);
    if (g_reg[s->id])
        return 0;
    fn_reg *g = rk_calloc(sizeof *g);
    if (!g)
        return -1;
    g->by_name = dict_create(&k_name_type);
    if (!g->by_name) {
        rk_free(g);
        return -1;
    }
    g_reg[s->id] = g;
    return 0;
}

void function_shard_free(rk_shard *s)
{
    fn_reg *g = g_reg[s->id];
    if (!g)
        return;
    function_abort(s);
    /* The VM may already be closed at shutdown: references die with it. */
    for (int i = 0; i < g->cur.n; i++)
        lib_free(NULL, g->cur.libs[i]);
    rk_free(g->cur.libs);
    rk_free(g->staged.libs);
    dict_release(g->by_name);
    rk_free(g);
    g_reg[s->id] = NULL;
}

const fn_func *function_find(rk_shard *s, const char *name, size_t len)
{
    fn_reg *g = reg_of(s);
    if (!g)
        return NULL;
    char buf[128];
    char *key = len < sizeof buf ? buf : rk_malloc(len + 1);
    if (!key)
        return NULL;
    memcpy(key, name, len);
    key[len] = '\0';
    const fn_func *f = NULL;
    /* A name with a NUL inside matches nothing (names are [A-Za-z0-9_]). */
    if (strlen(key) == len) {
        dict_entry *e = dict_find(g->by_name, key);
        f = e ? e->v.val : NULL;
    }
    if (key != buf)
        rk_free(key);
    return f;
}

fn_lib *const *function_libs(rk_shard *s, int *n)
{
    fn_reg *g = reg_of(s);
    *n = g ? g->cur.n : 0;
    return g ? g->cur.libs : NULL;
}

int function_count(rk_shard *s)
{
    fn_reg *g = reg_of(s);
    return g ? (int)dict_size(g->by_name) : 0;
}

void function_counts(rk_shard *s, int64_t *libs, int64_t *funcs)
{
    fn_reg *g = reg_of(s);
    *libs = g ? g->cur.n : 0;
    *funcs = g ? (int64_t)dict_size(g->by_name) : 0;
}

/* ---- metadata: "#!<engine> name=<lib>" ---- */

static int hexval(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Splits a line into at most `max` words as Redis's sdssplitargs (quotes,
 * escapes); each word is written NUL-terminated into out (cap bytes, the
 * line's length + words fits). Returns the count, or -1 on unbalanced
 * quotes (or more than max words). */
static int split_args(const char *p, const char *end, char *out, size_t cap, char **words, int max)
{
    int n = 0;
    char *w = out;
    (void)cap;
    for (;;) {
        while (p < end && isspace((unsigned char)*p))
            p++;
        if (p >= end)
            return n;
        if (n == max)
            return -1;
        words[n++] = w;
        int inq = 0, insq = 0;
        for (;;) {
            if (inq) {
                if (p >= end)
                    return -1;
                if (*p == '\\' && p + 3 < end && p[1] == 'x' && hexval((unsigned char)p[2]) >= 0 &&
                    hexval((unsigned char)p[3]) >= 0) {
                    *w++ = (char)(hexval((unsigned char)p[2]) * 16 + hexval((unsigned char)p[3]));
                    p += 4;
                    continue;
                }
                if (*p == '\\' && p + 1 < end) {
                    p++;
                    char c;
                    switch (*p) {
                    case 'n': c = '\n'; break;
                    case 'r': c = '\r'; break;
                    case 't': c = '\t'; break;
                    case 'b': c = '\b'; break;
                    case 'a': c = '\a'; break;
                    default: c = *p; break;
                    }
                    *w++ = c;
                } else if (*p == '"') {
                    /* The closing quote must end the word. */
                    if (p + 1 < end && !isspace((unsigned char)p[1]))
                        return -1;
                    inq = 0;
                    p++;
                    break;
                } else {
                    *w++ = *p;
                }
                p++;
            } else if (insq) {
                if (p >= end)
                    return -1;
                if (*p == '\\' && p + 1 < end && p[1] == '\'') {
                    *w++ = '\'';
                    p += 2;
                    continue;
                }
                if (*p == '\'') {
                    if (p + 1 < end && !isspace((unsigned char)p[1]))
                        return -1;
                    insq = 0;
                    p++;
                    break;
                }
                *w++ = *p++;
            } else {
                if (p >= end || isspace((unsigned char)*p)) {
                    break;
                } else if (*p == '"') {
                    inq = 1;
                    p++;
                } else if (*p == '\'') {
                    insq = 1;
                    p++;
                } else {
                    *w++ = *p++;
                }
            }
        }
        *w++ = '\0';
    }
}

static int name_ok(const char *s, size_t n)
{
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '_')
            return 0;
    return 1;
}

#define MAX_SHEBANG_WORDS 64

/* Parses the shebang. On success *name is rk_malloc'd and *body points at
 * the code after the shebang (from its newline on). */
static int parse_meta(const char *code, size_t len, char **name, const char **body, char *err, size_t errlen)
{
    *name = NULL;
    if (len < 2 || code[0] != '#' || code[1] != '!') {
        snprintf(err, errlen, "Missing library metadata");
        return -1;
    }
    /* Redis looks for the newline in a C string: the first NUL ends it. */
    size_t clen = strnlen(code, len);
    const char *nl = memchr(code, '\n', clen);
    if (!nl) {
        snprintf(err, errlen, "Invalid library metadata");
        return -1;
    }
    size_t slen = (size_t)(nl - code);
    char *buf = rk_malloc(slen * 2 + 2);
    if (!buf) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    char *words[MAX_SHEBANG_WORDS];
    int n = split_args(code, nl, buf, slen * 2 + 2, words, MAX_SHEBANG_WORDS);
    int rc = -1;
    char *found = NULL;
    if (n <= 0) {
        snprintf(err, errlen, "Invalid library metadata");
        goto out;
    }
    const char *engine = words[0] + 2; /* words[0] starts with "#!" */
    for (int i = 1; i < n; i++) {
        if (strncasecmp(words[i], "name=", 5) == 0) {
            if (found) {
                snprintf(err, errlen, "Invalid metadata value, name argument was given multiple times");
                goto out;
            }
            found = words[i] + 5;
            continue;
        }
        snprintf(err, errlen, "Invalid metadata value given: %.200s", words[i]);
        goto out;
    }
    if (!found) {
        snprintf(err, errlen, "Library name was not given");
        goto out;
    }
    if (!name_ok(found, strlen(found))) {
        snprintf(err, errlen,
                 "Library names can only contain letters, numbers, or underscores(_) and must be at least one "
                 "character long");
        goto out;
    }
    if (strcasecmp(engine, "lua") != 0) {
        snprintf(err, errlen, "Engine '%.200s' not found", engine);
        goto out;
    }
    *name = rk_memdup(found, strlen(found));
    if (!*name) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    *body = nl;
    rc = 0;
out:
    rk_free(buf);
    return rc;
}

/* ---- the Lua side ---- */

/* Raises {err = "ERR <msg>"}, Redis's luaPushError + luaError. */
static int raise_err(lua_State *L, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int raise_err(lua_State *L, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    lua_newtable(L);
    lua_pushstring(L, "err");
    lua_pushfstring(L, "ERR %s", msg);
    lua_settable(L, -3);
    return lua_error(L);
}

static int api_index_error(lua_State *L)
{
    return luaL_error(L, "Script attempted to access nonexistent global variable '%s'",
                      lua_tostring(L, 2) ? lua_tostring(L, 2) : "?");
}

static int api_newindex_error(lua_State *L) { return luaL_error(L, "Attempt to modify a readonly table"); }

/* Gives the table at the top a metatable that refuses unknown reads and all
 * writes (Redis's protected tables). */
static void protect_table(lua_State *L)
{
    lua_newtable(L);
    lua_pushcfunction(L, api_index_error);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, api_newindex_error);
    lua_setfield(L, -2, "__newindex");
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_setmetatable(L, -2);
}

static load_ctx *current_load(lua_State *L)
{
    lua_pushlightuserdata(L, &k_load_ctx_key);
    lua_rawget(L, LUA_REGISTRYINDEX);
    load_ctx *lc = lua_touserdata(L, -1);
    lua_pop(L, 1);
    return lc;
}

static void set_current_load(lua_State *L, load_ctx *lc)
{
    lua_pushlightuserdata(L, &k_load_ctx_key);
    if (lc)
        lua_pushlightuserdata(L, lc);
    else
        lua_pushnil(L);
    lua_rawset(L, LUA_REGISTRYINDEX);
}

/* A Lua string or number at idx as an rk_malloc'd C string; NULL if neither. */
static char *dup_lua_string(lua_State *L, int idx)
{
    int t = lua_type(L, idx);
    if (t != LUA_TSTRING && t != LUA_TNUMBER)
        return NULL;
    lua_pushvalue(L, idx); /* lua_tolstring converts numbers in place: work on a copy */
    size_t n;
    const char *p = lua_tolstring(L, -1, &n);
    char *d = rk_memdup(p, n);
    lua_pop(L, 1);
    return d;
}

typedef struct reg_args {
    char *name, *desc;
    unsigned flags;
    int ref;
} reg_args;

static void reg_args_drop(lua_State *L, reg_args *a)
{
    rk_free(a->name);
    rk_free(a->desc);
    if (a->ref != LUA_NOREF)
        luaL_unref(L, LUA_REGISTRYINDEX, a->ref);
    a->name = a->desc = NULL;
    a->ref = LUA_NOREF;
}

/* Reads the flags table at the top: 0, or -1 on a non-string or unknown flag. */
static int read_flags(lua_State *L, unsigned *flags)
{
    unsigned f = 0;
    for (int j = 1;; j++) {
        lua_rawgeti(L, -1, j);
        int t = lua_type(L, -1);
        if (t == LUA_TNIL) {
            lua_pop(L, 1);
            break;
        }
        if (t != LUA_TSTRING && t != LUA_TNUMBER) {
            lua_pop(L, 1);
            return -1;
        }
        const char *s = lua_tostring(L, -1);
        int found = 0;
        for (int b = 0; b < FN_NFLAGS; b++)
            if (strcasecmp(s, fn_flag_names[b]) == 0) {
                f |= 1u << b;
                found = 1;
                break;
            }
        lua_pop(L, 1);
        if (!found)
            return -1;
    }
    *flags = f;
    return 0;
}

/* The table form; the table is argument 1. Returns NULL or the error text. */
static const char *read_named(lua_State *L, reg_args *a)
{
    if (!lua_istable(L, 1))
        return "calling redis.register_function with a single argument is only applicable to Lua table "
               "(representing named arguments).";
    lua_pushnil(L);
    while (lua_next(L, 1)) {
        int kt = lua_type(L, -2);
        if (kt != LUA_TSTRING && kt != LUA_TNUMBER) {
            lua_pop(L, 2);
            return "named argument key given to redis.register_function is not a string";
        }
        char *key = dup_lua_string(L, -2);
        if (!key) {
            lua_pop(L, 2);
            return "out of memory";
        }
        const char *bad = NULL;
        if (strcasecmp(key, "function_name") == 0) {
            rk_free(a->name);
            if (!(a->name = dup_lua_string(L, -1)))
                bad = "function_name argument given to redis.register_function must be a string";
        } else if (strcasecmp(key, "description") == 0) {
            rk_free(a->desc);
            if (!(a->desc = dup_lua_string(L, -1)))
                bad = "description argument given to redis.register_function must be a string";
        } else if (strcasecmp(key, "callback") == 0) {
            if (!lua_isfunction(L, -1)) {
                bad = "callback argument given to redis.register_function must be a function";
            } else {
                if (a->ref != LUA_NOREF)
                    luaL_unref(L, LUA_REGISTRYINDEX, a->ref);
                lua_pushvalue(L, -1);
                a->ref = luaL_ref(L, LUA_REGISTRYINDEX);
            }
        } else if (strcasecmp(key, "flags") == 0) {
            if (!lua_istable(L, -1))
                bad = "flags argument to redis.register_function must be a table representing function flags";
            else if (read_flags(L, &a->flags) != 0)
                bad = "unknown flag given";
        } else {
            bad = "unknown argument given to redis.register_function";
        }
        rk_free(key);
        if (bad) {
            lua_pop(L, 2);
            return bad;
        }
        lua_pop(L, 1);
    }
    if (!a->name)
        return "redis.register_function must get a function name argument";
    if (a->ref == LUA_NOREF)
        return "redis.register_function must get a callback argument";
    return NULL;
}

static const char *read_positional(lua_State *L, reg_args *a)
{
    if (!(a->name = dup_lua_string(L, 1)))
        return "first argument to redis.register_function must be a string";
    if (!lua_isfunction(L, 2))
        return "second argument to redis.register_function must be a function";
    lua_pushvalue(L, 2);
    a->ref = luaL_ref(L, LUA_REGISTRYINDEX);
    return NULL;
}

static int l_register_function(lua_State *L)
{
    load_ctx *lc = current_load(L);
    if (!lc)
        return raise_err(L, "redis.register_function can only be called on FUNCTION LOAD command");
    reg_args a = {NULL, NULL, 0, LUA_NOREF};
    int argc = lua_gettop(L);
    const char *bad;
    if (argc < 1 || argc > 2)
        bad = "wrong number of arguments to redis.register_function";
    else
        bad = argc == 1 ? read_named(L, &a) : read_positional(L, &a);
    if (!bad && !name_ok(a.name, strlen(a.name)))
        bad = "Library names can only contain letters, numbers, or underscores(_) and must be at least one "
              "character long";
    fn_lib *lib = lc->lib;
    if (!bad)
        for (int i = 0; i < lib->nfuncs; i++)
            if (strcmp(lib->funcs[i].name, a.name) == 0) {
                bad = "Function already exists in the library";
                break;
            }
    if (!bad && lib->nfuncs == lib->cap) {
        int cap = lib->cap ? lib->cap * 2 : 4;
        fn_func *p = rk_realloc(lib->funcs, sizeof *p * (size_t)cap);
        if (!p) {
            bad = "out of memory";
        } else {
            lib->funcs = p;
            lib->cap = cap;
            /* Back-pointers survive the move: they point at the library. */
        }
    }
    if (bad) {
        /* Copy the text out before freeing: it never points into `a`. */
        reg_args_drop(L, &a);
        return raise_err(L, "%s", bad);
    }
    fn_func *f = &lib->funcs[lib->nfuncs++];
    f->name = a.name;
    f->desc = a.desc;
    f->flags = a.flags;
    f->ref = a.ref;
    f->lib = lib;
    return 0;
}

/* redis.log(level, ...) while a library loads (Redis's luaLogCommand). */
static int l_log(lua_State *L)
{
    int argc = lua_gettop(L);
    if (argc < 2)
        return raise_err(L, "redis.log() requires two arguments or more.");
    if (!lua_isnumber(L, 1))
        return raise_err(L, "First argument must be a number (log level).");
    int level = (int)lua_tonumber(L, 1);
    if (level < LL_DEBUG || level > LL_WARNING)
        return raise_err(L, "Invalid debug level.");
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (int j = 2; j <= argc; j++) {
        size_t n;
        const char *p = lua_tolstring(L, j, &n);
        if (!p)
            continue;
        if (j != 2)
            luaL_addchar(&b, ' ');
        luaL_addlstring(&b, p, n);
    }
    luaL_pushresult(&b);
    rk_log(level, "%s", lua_tostring(L, -1));
    return 0;
}

static void load_hook(lua_State *L, lua_Debug *ar)
{
    (void)ar;
    load_ctx *lc = current_load(L);
    if (lc && lc->timeout_ms > 0 && mono_ms() - lc->start_ms > lc->timeout_ms) {
        /* Keep firing on every line until the error unwinds the chunk. */
        lua_sethook(L, load_hook, LUA_MASKLINE, 0);
        raise_err(L, "FUNCTION LOAD timeout");
    }
}

/* Builds the load API table once per VM (registry[&k_load_api_key]). */
static int ensure_api(fn_reg *g)
{
    if (g->api_ready)
        return 0;
    lua_State *L = g->L;
    if (!lua_checkstack(L, 8))
        return -1;
    lua_pushlightuserdata(L, &k_load_api_key);
    lua_newtable(L); /* globals seen while loading */
    lua_newtable(L); /* their `redis` */
    lua_pushcfunction(L, l_register_function);
    lua_setfield(L, -2, "register_function");
    lua_pushcfunction(L, l_log);
    lua_setfield(L, -2, "log");
    static const struct {
        const char *name;
        int level;
    } levels[] = {{"LOG_DEBUG", LL_DEBUG}, {"LOG_VERBOSE", LL_VERBOSE}, {"LOG_NOTICE", LL_NOTICE},
                  {"LOG_WARNING", LL_WARNING}};
    for (size_t i = 0; i < sizeof levels / sizeof levels[0]; i++) {
        lua_pushinteger(L, levels[i].level);
        lua_setfield(L, -2, levels[i].name);
    }
    lua_pushstring(L, FN_REDIS_VERSION);
    lua_setfield(L, -2, "REDIS_VERSION");
    lua_pushinteger(L, FN_REDIS_VERSION_NUM);
    lua_setfield(L, -2, "REDIS_VERSION_NUM");
    protect_table(L);
    lua_setfield(L, -2, "redis");
    protect_table(L);
    lua_rawset(L, LUA_REGISTRYINDEX);
    g->api_ready = 1;
    return 0;
}

/* Turns the error value at the top into Redis's text (luaExtractErrorInformation). */
static void error_text(lua_State *L, char *out, size_t cap)
{
    if (lua_type(L, -1) == LUA_TSTRING || lua_type(L, -1) == LUA_TNUMBER) {
        snprintf(out, cap, "ERR %s", lua_tostring(L, -1));
        return;
    }
    if (lua_istable(L, -1)) {
        lua_getfield(L, -1, "err");
        if (lua_isstring(L, -1)) {
            snprintf(out, cap, "%s", lua_tostring(L, -1));
            lua_pop(L, 1);
            return;
        }
        lua_pop(L, 1);
    }
    snprintf(out, cap, "ERR unknown error");
}

/* Compiles one library (after its metadata was parsed) into *out: the
 * shard's VM runs its top-level code with the load API in reach. 0, or -1
 * with Redis's message in err. */
static int compile_lib(fn_reg *g, rk_shard *s, char *name, const char *code, size_t len, const char *body,
                       int64_t timeout_ms, fn_lib **out, char *err, size_t errlen)
{
    *out = NULL;
    if (!g->L) {
        g->L = function_vm(s);
        if (!g->L) {
            rk_free(name);
            snprintf(err, errlen, "out of memory creating the Lua VM");
            return -1;
        }
    }
    lua_State *L = g->L;
    fn_lib *lib = rk_calloc(sizeof *lib);
    char *copy = rk_memdup(code, len);
    if (!lib || !copy || ensure_api(g) != 0 || !lua_checkstack(L, 8)) {
        rk_free(lib);
        rk_free(copy);
        rk_free(name);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    lib->name = name;
    lib->code = copy;
    lib->code_len = len;
    int top = lua_gettop(L);
    size_t blen = len - (size_t)(body - code);
    if (luaL_loadbuffer(L, body, blen, "@user_function") != 0) {
        snprintf(err, errlen, "Error compiling function: %s",
                 lua_tostring(L, -1) ? lua_tostring(L, -1) : "unknown error");
        lua_settop(L, top);
        lib_free(L, lib);
        return -1;
    }
    /* E, the library's environment, and its metatable M. */
    lua_newtable(L);                                   /* chunk E */
    lua_newtable(L);                                   /* chunk E M */
    lua_pushlightuserdata(L, &k_load_api_key);
    lua_rawget(L, LUA_REGISTRYINDEX);
    lua_setfield(L, -2, "__index");                    /* reads: the load API, for now */
    lua_pushcfunction(L, api_newindex_error);
    lua_setfield(L, -2, "__newindex");
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_pushvalue(L, -1);                              /* chunk E M M */
    lua_setmetatable(L, -3);                           /* chunk E M */
    lua_insert(L, -3);                                 /* M chunk E */
    lua_setfenv(L, -2);                                /* M chunk */
    load_ctx lc = {lib, mono_ms(), timeout_ms};
    set_current_load(L, &lc);
    lua_Hook old_hook = lua_gethook(L);
    int old_mask = lua_gethookmask(L), old_count = lua_gethookcount(L);
    lua_sethook(L, load_hook, LUA_MASKCOUNT, FN_LOAD_HOOK_COUNT);
    int rc = lua_pcall(L, 0, 0, 0);
    lua_sethook(L, old_hook, old_mask, old_count);
    set_current_load(L, NULL);
    if (rc != 0) {
        char msg[400];
        error_text(L, msg, sizeof msg);
        snprintf(err, errlen, "Error registering functions: %s", msg);
        lua_settop(L, top);
        lib_free(L, lib);
        return -1;
    }
    /* From now on the callbacks read the VM's globals (the full API). */
    lua_pushvalue(L, LUA_GLOBALSINDEX);
    lua_setfield(L, -2, "__index");
    lua_settop(L, top);
    if (lib->nfuncs == 0) {
        snprintf(err, errlen, "No functions registered");
        lib_free(L, lib);
        return -1;
    }
    *out = lib;
    return 0;
}

/* Metadata, then the code: Redis's functionsCreateWithLibraryCtx up to the
 * collision checks, against `existing` (the set the library will join). */
static int build_lib(fn_reg *g, rk_shard *s, const fn_set *existing, const char *code, size_t len, int replace,
                     int64_t timeout_ms, fn_lib **out, char *err, size_t errlen)
{
    char *name;
    const char *body;
    if (parse_meta(code, len, &name, &body, err, errlen) != 0)
        return -1;
    if (!replace && set_find_lib(existing, name) >= 0) {
        snprintf(err, errlen, "Library '%s' already exists", name);
        rk_free(name);
        return -1;
    }
    return compile_lib(g, s, name, code, len, body, timeout_ms, out, err, errlen);
}

/* ---- two-phase changes ---- */

int function_prepare_load(rk_shard *s, const char *code, size_t len, int replace, int64_t timeout_ms,
                          const char **name, char *err, size_t errlen)
{
    if (function_shard_init(s) != 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    fn_reg *g = reg_of(s);
    assert(g->change == FN_CHANGE_NONE);
    fn_lib *lib;
    if (build_lib(g, s, &g->cur, code, len, replace, timeout_ms, &lib, err, errlen) != 0)
        return -1;
    int old = set_find_lib(&g->cur, lib->name);
    for (int j = 0; j < lib->nfuncs; j++) {
        dict_entry *e = dict_find(g->by_name, lib->funcs[j].name);
        fn_func *f = e ? e->v.val : NULL;
        if (f && (old < 0 || f->lib != g->cur.libs[old])) {
            snprintf(err, errlen, "Function %s already exists", lib->funcs[j].name);
            lib_free(g->L, lib);
            return -1;
        }
    }
    if (set_push(&g->staged, lib) != 0) {
        snprintf(err, errlen, "out of memory");
        lib_free(g->L, lib);
        return -1;
    }
    g->change = FN_CHANGE_LOAD;
    g->replace = replace;
    *name = lib->name;
    return 0;
}

int function_prepare_restore(rk_shard *s, int n, const char *const *codes, const size_t *lens, int policy,
                             char *err, size_t errlen)
{
    if (function_shard_init(s) != 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    fn_reg *g = reg_of(s);
    assert(g->change == FN_CHANGE_NONE);
    /* The payload's libraries first form a set of their own (Redis loads
     * them into a fresh context), then join the registry. */
    for (int i = 0; i < n; i++) {
        fn_lib *lib;
        if (build_lib(g, s, &g->staged, codes[i], lens[i], 0, 0, &lib, err, errlen) != 0)
            goto fail;
        for (int j = 0; j < lib->nfuncs; j++)
            if (set_find_func(&g->staged, lib->funcs[j].name)) {
                snprintf(err, errlen, "Function %s already exists", lib->funcs[j].name);
                lib_free(g->L, lib);
                goto fail;
            }
        if (set_push(&g->staged, lib) != 0) {
            snprintf(err, errlen, "out of memory");
            lib_free(g->L, lib);
            goto fail;
        }
    }
    if (policy != FN_RESTORE_FLUSH) {
        /* Redis's libraryJoin: library clashes, then function clashes
         * against what stays. */
        for (int i = 0; i < g->staged.n; i++)
            if (policy == FN_RESTORE_APPEND && set_find_lib(&g->cur, g->staged.libs[i]->name) >= 0) {
                snprintf(err, errlen, "Library %s already exists", g->staged.libs[i]->name);
                goto fail;
            }
        for (int i = 0; i < g->staged.n; i++) {
            fn_lib *lib = g->staged.libs[i];
            for (int j = 0; j < lib->nfuncs; j++) {
                dict_entry *e = dict_find(g->by_name, lib->funcs[j].name);
                fn_func *f = e ? e->v.val : NULL;
                if (f && set_find_lib(&g->staged, f->lib->name) < 0) {
                    snprintf(err, errlen, "Function %s already exists", lib->funcs[j].name);
                    goto fail;
                }
            }
        }
    }
    g->change = FN_CHANGE_RESTORE;
    g->policy = policy;
    return 0;
fail:
    set_clear(g->L, &g->staged);
    return -1;
}

void function_commit(rk_shard *s)
{
    fn_reg *g = reg_of(s);
    assert(g->change != FN_CHANGE_NONE);
    if (g->change == FN_CHANGE_RESTORE && g->policy == FN_RESTORE_FLUSH)
        function_flush(s);
    for (int i = 0; i < g->staged.n; i++) {
        fn_lib *lib = g->staged.libs[i];
        int old = set_find_lib(&g->cur, lib->name);
        if (old >= 0)
            cur_remove(g, old);
        if (cur_add(g, lib) != 0) {
            /* Out of memory growing the index: this shard would differ
             * from the others, which the registry must never do. */
            rk_log(LL_WARNING, "Out of memory linking function library '%s'", lib->name);
            abort();
        }
    }
    g->staged.n = 0;
    g->change = FN_CHANGE_NONE;
}

void function_abort(rk_shard *s)
{
    fn_reg *g = reg_of(s);
    if (!g)
        return;
    set_clear(g->L, &g->staged);
    g->change = FN_CHANGE_NONE;
}

int function_delete(rk_shard *s, const char *name, size_t len)
{
    fn_reg *g = reg_of(s);
    for (int i = 0; g && i < g->cur.n; i++) {
        fn_lib *lib = g->cur.libs[i];
        if (strlen(lib->name) == len && memcmp(lib->name, name, len) == 0) {
            cur_remove(g, i);
            return 0;
        }
    }
    return -1;
}

void function_flush(rk_shard *s)
{
    fn_reg *g = reg_of(s);
    if (!g)
        return;
    while (g->cur.n > 0)
        cur_remove(g, g->cur.n - 1);
    assert(dict_size(g->by_name) == 0);
}

/* ---- serialising ---- */

int function_codes_blob(rk_shard *s, rk_buf *out)
{
    fn_reg *g = reg_of(s);
    for (int i = 0; g && i < g->cur.n; i++) {
        uint64_t n = g->cur.libs[i]->code_len;
        unsigned char le[8];
        for (int b = 0; b < 8; b++)
            le[b] = (unsigned char)(n >> (8 * b));
        if (rk_buf_append(out, le, 8) != 0 || rk_buf_append(out, g->cur.libs[i]->code, n) != 0)
            return -1;
    }
    return 0;
}

int function_blob_next(const char *blob, size_t len, size_t *pos, const char **code, size_t *clen)
{
    if (*pos == len)
        return 0;
    if (len - *pos < 8)
        return -1;
    uint64_t n = 0;
    for (int b = 7; b >= 0; b--)
        n = n << 8 | (unsigned char)blob[*pos + (size_t)b];
    if (n > len - *pos - 8)
        return -1;
    *code = blob + *pos + 8;
    *clen = (size_t)n;
    *pos += 8 + (size_t)n;
    return 1;
}

/* ---- the VM ---- */

/* function_vm(): the shard's scripting VM, in core/script.c. */

/* ---- FUNCTION LIST ---- */

static void reply_lib(rk_reply *r, const fn_lib *lib, int withcode)
{
    reply_map(r, withcode ? 4 : 3);
    reply_bulk_str(r, "library_name");
    reply_bulk_str(r, lib->name);
    reply_bulk_str(r, "engine");
    reply_bulk_str(r, "LUA");
    reply_bulk_str(r, "functions");
    reply_array(r, lib->nfuncs);
    for (int j = 0; j < lib->nfuncs; j++) {
        const fn_func *f = &lib->funcs[j];
        reply_map(r, 3);
        reply_bulk_str(r, "name");
        reply_bulk_str(r, f->name);
        reply_bulk_str(r, "description");
        if (f->desc)
            reply_bulk_str(r, f->desc);
        else
            reply_null(r);
        reply_bulk_str(r, "flags");
        int nf = 0;
        for (int b = 0; b < FN_NFLAGS; b++)
            nf += (f->flags >> b) & 1;
        reply_set(r, nf);
        for (int b = 0; b < FN_NFLAGS; b++)
            if (f->flags & (1u << b))
                reply_simple(r, fn_flag_names[b]);
    }
    if (withcode) {
        reply_bulk_str(r, "library_code");
        reply_bulk(r, lib->code, lib->code_len);
    }
}

void function_reply_list(rk_shard *s, rk_reply *r, const char *pattern, size_t plen, int withcode)
{
    fn_reg *g = reg_of(s);
    int n = 0, total = g ? g->cur.n : 0;
    for (int i = 0; i < total; i++)
        if (!pattern || glob_match(pattern, plen, g->cur.libs[i]->name, strlen(g->cur.libs[i]->name), 1))
            n++;
    reply_array(r, n);
    for (int i = 0; i < total; i++)
        if (!pattern || glob_match(pattern, plen, g->cur.libs[i]->name, strlen(g->cur.libs[i]->name), 1))
            reply_lib(r, g->cur.libs[i], withcode);
}
