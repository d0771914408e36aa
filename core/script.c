/* script.c: the Lua scripting engine (Lua 5.1, as Redis) and the commands
 * that run scripts: EVAL EVALSHA EVAL_RO EVALSHA_RO, SCRIPT LOAD EXISTS
 * FLUSH KILL, FCALL FCALL_RO (the libraries live in core/function.c).
 *
 * Threads: one VM per shard thread (g_vm[s->id]), created on first use and
 * touched only by that thread; its script cache is a table in the VM's
 * registry (SHA1 hex -> compiled chunk). SCRIPT LOAD and FLUSH change every
 * shard's cache inside one all-shard transaction; an EVAL that compiles a
 * new script posts it to the other shards (MSG_SCRIPT_ADD): the mailbox
 * keeps one sender's order, and the post precedes the EVAL's reply, so an
 * EVALSHA sent after that reply finds it on any shard.
 *
 * A script runs on the shard of its declared keys; with keys on several
 * shards it runs through the multi-key executor (core/multikey.c), which
 * gathers those keys, runs EVAL once with every shard paused and writes the
 * results back: the script is atomic. redis.call runs the command's proc
 * right there (a nested cmd_call: its writes are journaled as effects, the
 * whole script as one unit, MULTI/EXEC-wrapped when it wrote more than one
 * command). A key the script did not declare is refused (it may live on a
 * shard that is not paused), unless the script's flags ask for
 * allow-cross-slot-keys and the key lives on the shard running it.
 *
 * Differences from Redis, written in docs/architecture.md: no script
 * timeout (busy-reply-threshold is accepted; a long script holds its shard,
 * and SCRIPT KILL answers NOTBUSY); commands that need a client or every
 * shard (SELECT, PING, KEYS, DBSIZE, ...) are refused inside scripts. */
#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua-bitop.h>
#include <lua-cjson.h>
#include <lua.h>
#include <lualib.h>

#include "core/client.h"
#include "core/command.h"
#include "core/db.h"
#include "core/function.h"
#include "core/log.h"
#include "core/lua_libs.h"
#include "core/msg.h"
#include "core/multikey.h"
#include "core/sha1.h"
#include "core/shard.h"
#include "core/txn.h"


static lua_State *g_vm[RK_MAX_SHARDS];
static uint64_t g_nscripts[RK_MAX_SHARDS];
static char k_scripts_key; /* registry key of the SHA -> chunk table */
static char k_flags_key;   /* registry key of the SHA -> shebang flags table */

/* What the running script may do; one per shard thread at a time. */
typedef struct script_run {
    rk_ctx *c;
    const char *name;  /* SHA1 hex or function name, for error texts */
    int ro;            /* EVAL_RO / FCALL_RO / no-writes */
    int cross_slot;    /* allow-cross-slot-keys */
    int resp;          /* redis.setresp */
    int repl;          /* redis.set_repl */
    int nkeys;
    rk_slice *keys;
} script_run;

static __thread script_run *t_run;

enum { SCRIPT_REPL_NONE = 0, SCRIPT_REPL_AOF = 1, SCRIPT_REPL_REPLICA = 2, SCRIPT_REPL_ALL = 3 };
enum { SF_NO_WRITES = 1, SF_ALLOW_OOM = 2, SF_ALLOW_STALE = 4, SF_NO_CLUSTER = 8, SF_CROSS_SLOT = 16 };

/* ---- Redis's deterministic PRNG (rand.c: the 48-bit LCG) ------------------ */

/* Redis's initial state (X2 X1 X0 = 0x1234 0xABCD 0x330E); like Redis it
 * runs on across scripts (one sequence per shard here, one per server there). */
static __thread uint64_t t_rand48 = 0x1234ABCD330EULL;

static void redis_srand48(int32_t seed) { t_rand48 = ((uint64_t)(uint32_t)seed << 16) | 0x330E; }

static int32_t redis_lrand48(void)
{
    t_rand48 = (t_rand48 * 0x5DEECE66DULL + 0xB) & ((1ULL << 48) - 1);
    return (int32_t)(t_rand48 >> 17);
}

static int l_math_random(lua_State *L)
{
    lua_Number r = (lua_Number)(redis_lrand48() % INT32_MAX) / (lua_Number)INT32_MAX;
    switch (lua_gettop(L)) {
    case 0:
        lua_pushnumber(L, r);
        break;
    case 1: {
        int u = luaL_checkint(L, 1);
        luaL_argcheck(L, 1 <= u, 1, "interval is empty");
        lua_pushnumber(L, floor(r * u) + 1);
        break;
    }
    case 2: {
        int l = luaL_checkint(L, 1), u = luaL_checkint(L, 2);
        luaL_argcheck(L, l <= u, 2, "interval is empty");
        lua_pushnumber(L, floor(r * (u - l + 1)) + l);
        break;
    }
    default:
        return luaL_error(L, "wrong number of arguments");
    }
    return 1;
}

static int l_math_randomseed(lua_State *L)
{
    redis_srand48(luaL_checkint(L, 1));
    return 0;
}

/* ---- RESP reply -> Lua value ----------------------------------------------------- */

/* Parses one reply at *p (bounded by end) and pushes it. 0, -1 malformed. */
static int push_reply(lua_State *L, const char **p, const char *end, int resp)
{
    if (*p >= end || !lua_checkstack(L, 4))
        return -1;
    char type = **p;
    const char *nl = memchr(*p, '\r', (size_t)(end - *p));
    if (!nl || nl + 1 >= end)
        return -1;
    const char *line = *p + 1;
    size_t llen = (size_t)(nl - line);
    *p = nl + 2;
    long long n = 0;
    switch (type) {
    case '+':
        lua_newtable(L);
        lua_pushlstring(L, line, llen);
        lua_setfield(L, -2, "ok");
        return 0;
    case '-':
        lua_newtable(L);
        lua_pushlstring(L, line, llen);
        lua_setfield(L, -2, "err");
        return 0;
    case ':':
        rk_str2ll(line, llen, &n);
        lua_pushnumber(L, (lua_Number)n);
        return 0;
    case '$':
    case '=':
        rk_str2ll(line, llen, &n);
        if (n < 0) {
            lua_pushboolean(L, 0);
            return 0;
        }
        if (end - *p < n + 2)
            return -1;
        if (type == '=') { /* verbatim: "txt:..." */
            lua_newtable(L);
            lua_newtable(L);
            lua_pushlstring(L, *p, n >= 3 ? 3 : (size_t)n);
            lua_setfield(L, -2, "format");
            lua_pushlstring(L, *p + (n >= 4 ? 4 : n), n >= 4 ? (size_t)n - 4 : 0);
            lua_setfield(L, -2, "string");
            lua_setfield(L, -2, "verbatim_string");
        } else {
            lua_pushlstring(L, *p, (size_t)n);
        }
        *p += n + 2;
        return 0;
    case '*':
    case '~':
    case '>': {
        rk_str2ll(line, llen, &n);
        if (n < 0) {
            lua_pushboolean(L, 0);
            return 0;
        }
        lua_newtable(L);
        for (long long i = 1; i <= n; i++) {
            if (push_reply(L, p, end, resp) != 0)
                return -1;
            if (type == '~') {
                lua_pushboolean(L, 1);
                lua_rawset(L, -3);
            } else {
                lua_rawseti(L, -2, (int)i);
            }
        }
        if (type == '~') { /* {set={member=true,...}} */
            lua_newtable(L);
            lua_insert(L, -2);
            lua_setfield(L, -2, "set");
        }
        return 0;
    }
    case '%': {
        rk_str2ll(line, llen, &n);
        lua_newtable(L);
        for (long long i = 0; i < n; i++) {
            if (push_reply(L, p, end, resp) != 0 || push_reply(L, p, end, resp) != 0)
                return -1;
            lua_rawset(L, -3);
        }
        lua_newtable(L);
        lua_insert(L, -2);
        lua_setfield(L, -2, "map");
        return 0;
    }
    case '_':
        lua_pushnil(L);
        return 0;
    case '#':
        lua_pushboolean(L, llen == 1 && line[0] == 't');
        return 0;
    case ',': {
        char buf[64];
        size_t k = llen < sizeof(buf) - 1 ? llen : sizeof(buf) - 1;
        memcpy(buf, line, k);
        buf[k] = '\0';
        lua_newtable(L);
        lua_pushnumber(L, strtod(buf, NULL));
        lua_setfield(L, -2, "double");
        return 0;
    }
    case '(':
        lua_newtable(L);
        lua_pushlstring(L, line, llen);
        lua_setfield(L, -2, "big_number");
        return 0;
    default:
        return -1;
    }
}

/* ---- Lua value -> RESP reply ------------------------------------------------------- */

static void reply_lua_value(lua_State *L, rk_reply *r, int depth);

/* The script's redis.setresp while its result is converted: Lua booleans
 * follow it, not the client's protocol (Redis 7.0). */
static __thread int t_reply_resp = 2;

static int table_field(lua_State *L, const char *name, int type)
{
    lua_pushstring(L, name);
    lua_rawget(L, -2);
    if (lua_type(L, -1) == type)
        return 1;
    lua_pop(L, 1);
    return 0;
}

/* Entries of the table at the top (any keys). */
static int64_t table_count(lua_State *L)
{
    int64_t n = 0;
    lua_pushnil(L);
    while (lua_next(L, -2)) {
        n++;
        lua_pop(L, 1);
    }
    return n;
}

/* Redis's luaReplyToRedisReply for the value at the top (popped). */
static void reply_lua_value(lua_State *L, rk_reply *r, int depth)
{
    if (depth > 1000 || !lua_checkstack(L, 4)) {
        reply_error(r, "ERR reached lua stack limit");
        lua_pop(L, 1);
        return;
    }
    switch (lua_type(L, -1)) {
    case LUA_TSTRING: {
        size_t len;
        const char *s = lua_tolstring(L, -1, &len);
        reply_bulk(r, s, len);
        break;
    }
    case LUA_TBOOLEAN:
        if (t_reply_resp == 2 || r->resp == 2) {
            if (lua_toboolean(L, -1))
                reply_int(r, 1);
            else
                reply_null(r);
        } else {
            reply_bool(r, lua_toboolean(L, -1));
        }
        break;
    case LUA_TNUMBER:
        reply_int(r, (int64_t)lua_tonumber(L, -1));
        break;
    case LUA_TTABLE:
        if (table_field(L, "err", LUA_TSTRING)) {
            size_t len;
            const char *e = lua_tolstring(L, -1, &len);
            char msg[1024];
            snprintf(msg, sizeof(msg), "%.*s", (int)len, e);
            for (char *q = msg; *q; q++)
                if (*q == '\r' || *q == '\n')
                    *q = ' ';
            reply_error(r, msg[0] == '-' ? msg + 1 : msg);
            lua_pop(L, 1);
        } else if (table_field(L, "ok", LUA_TSTRING)) {
            char msg[1024];
            snprintf(msg, sizeof(msg), "%s", lua_tostring(L, -1));
            for (char *q = msg; *q; q++)
                if (*q == '\r' || *q == '\n')
                    *q = ' ';
            reply_simple(r, msg);
            lua_pop(L, 1);
        } else if (table_field(L, "double", LUA_TNUMBER)) {
            reply_double(r, lua_tonumber(L, -1));
            lua_pop(L, 1);
        } else if (table_field(L, "big_number", LUA_TSTRING)) {
            size_t len;
            const char *b = lua_tolstring(L, -1, &len);
            if (r->resp >= 3) {
                rk_buf_printf(r->out, "(%.*s\r\n", (int)len, b);
            } else {
                reply_bulk(r, b, len);
            }
            lua_pop(L, 1);
        } else if (table_field(L, "map", LUA_TTABLE)) {
            reply_map(r, table_count(L));
            lua_pushnil(L);
            while (lua_next(L, -2)) {
                lua_pushvalue(L, -2);
                reply_lua_value(L, r, depth + 1); /* the key copy */
                reply_lua_value(L, r, depth + 1); /* the value */
            }
            lua_pop(L, 1);
        } else if (table_field(L, "set", LUA_TTABLE)) {
            reply_set(r, table_count(L));
            lua_pushnil(L);
            while (lua_next(L, -2)) {
                lua_pop(L, 1);
                lua_pushvalue(L, -1);
                reply_lua_value(L, r, depth + 1);
            }
            lua_pop(L, 1);
        } else if (table_field(L, "verbatim_string", LUA_TTABLE)) {
            lua_getfield(L, -1, "format");
            lua_getfield(L, -2, "string");
            size_t flen = 0, slen = 0;
            const char *fmt = lua_tolstring(L, -2, &flen), *str = lua_tolstring(L, -1, &slen);
            if (fmt && str && flen == 3)
                reply_verbatim(r, str, slen, fmt);
            else
                reply_error(r, "ERR bad verbatim_string");
            lua_pop(L, 3);
        } else {
            /* An array: up to the first nil. */
            int64_t n = 0;
            for (;;) {
                lua_rawgeti(L, -1, (int)n + 1);
                int nil = lua_isnil(L, -1);
                lua_pop(L, 1);
                if (nil)
                    break;
                n++;
            }
            reply_array(r, n);
            for (int64_t i = 1; i <= n; i++) {
                lua_rawgeti(L, -1, (int)i);
                reply_lua_value(L, r, depth + 1);
            }
        }
        break;
    default:
        reply_null(r);
        break;
    }
    lua_pop(L, 1);
}

/* ---- redis.* ------------------------------------------------------------------- */

/* An API argument error: Redis raises it without a position prefix. */
static int api_error(lua_State *L, const char *msg)
{
    lua_pushstring(L, msg);
    return lua_error(L);
}

static int raise_table(lua_State *L, const char *msg)
{
    lua_newtable(L);
    lua_pushstring(L, msg);
    lua_setfield(L, -2, "err");
    return lua_error(L);
}

/* A number as the shortest text that reads back the same (Redis's fpconv_dtoa). */
static size_t format_number(char *buf, size_t cap, lua_Number d)
{
    int n = 0;
    for (int prec = 15; prec <= 17; prec++) {
        n = snprintf(buf, cap, "%.*g", prec, (double)d);
        if (strtod(buf, NULL) == (double)d)
            break;
    }
    return (size_t)n;
}

static int key_declared(const script_run *run, rk_slice key)
{
    for (int i = 0; i < run->nkeys; i++)
        if (run->keys[i].len == key.len && memcmp(run->keys[i].ptr, key.ptr, key.len) == 0)
            return 1;
    return 0;
}

/* Checks every key the command touches. NULL, or the error text in buf. */
static const char *check_keys(const script_run *run, const rk_command *cmd, int argc, const rk_slice *argv, char *buf,
                              size_t cap)
{
    int pos[256];
    int n = cmd_get_keys(cmd, argc, argv, pos, 256);
    rk_ctx *c = run->c;
    int scratch = c->db != &c->shard->dbs[c->dbid]; /* the multi-key executor's gathered keys */
    for (int i = 0; i < n; i++) {
        rk_slice k = argv[pos[i]];
        if (key_declared(run, k))
            continue;
        if (run->cross_slot && !scratch && rk_key_shard(k.ptr, k.len) == c->shard->id)
            continue;
        if (run->cross_slot)
            snprintf(buf, cap,
                     "ERR Script attempted to access key '%.*s' that lives on another shard than the script's "
                     "declared keys",
                     (int)(k.len > 128 ? 128 : k.len), k.ptr);
        else
            snprintf(buf, cap,
                     "ERR Script attempted to access key '%.*s' that was not declared in its keys (ringkv runs a "
                     "script atomically on the shards of its declared keys; declare every key it touches)",
                     (int)(k.len > 128 ? 128 : k.len), k.ptr);
        return buf;
    }
    return NULL;
}

/* redis.call (raise = 1) and redis.pcall (raise = 0). */
static int script_call(lua_State *L, int raise)
{
    script_run *run = t_run;
    int argc = lua_gettop(L);
    char err[512];
    if (!run)
        return api_error(L, "redis.call is only available while a script runs");
    if (argc == 0) {
        snprintf(err, sizeof(err), "ERR Please specify at least one argument for this redis lib call");
        goto fail;
    }
    rk_slice *argv = lua_newuserdata(L, sizeof(rk_slice) * (size_t)argc); /* freed by the GC */
    char (*nums)[32] = lua_newuserdata(L, 32 * (size_t)argc);
    for (int i = 0; i < argc; i++) {
        int t = lua_type(L, i + 1);
        if (t == LUA_TNUMBER) {
            size_t n = format_number(nums[i], 32, lua_tonumber(L, i + 1));
            argv[i] = (rk_slice){nums[i], n};
        } else if (t == LUA_TSTRING) {
            size_t len;
            const char *s = lua_tolstring(L, i + 1, &len);
            argv[i] = (rk_slice){s, len};
        } else {
            snprintf(err, sizeof(err), "ERR Lua redis lib command arguments must be strings or integers");
            goto fail;
        }
    }
    const rk_command *cmd = cmd_lookup(argv[0]);
    if (cmd && cmd->subcommands && argc > 1) {
        const rk_command *sub = cmd_lookup_sub(cmd, argv[1]);
        if (sub)
            cmd = sub;
    }
    if (!cmd) {
        snprintf(err, sizeof(err), "ERR Unknown Redis command called from script");
        goto fail;
    }
    if ((cmd->arity > 0 && cmd->arity != argc) || argc < -cmd->arity) {
        snprintf(err, sizeof(err), "ERR Wrong number of args calling Redis command from script");
        goto fail;
    }
    if (cmd->flags & CMD_NOSCRIPT) {
        snprintf(err, sizeof(err), "ERR This Redis command is not allowed from script");
        goto fail;
    }
    if (cmd->exec != EXEC_KEYS || !cmd->proc) {
        snprintf(err, sizeof(err),
                 "ERR This Redis command is not allowed from script: it needs a connection or every shard");
        goto fail;
    }
    rk_ctx *c = run->c;
    if (cmd->flags & CMD_WRITE) {
        if (run->ro) {
            snprintf(err, sizeof(err), "ERR Write commands are not allowed from read-only scripts.");
            goto fail;
        }
        if (c->shard->repl_view.is_replica && c->shard->cfg.replica_read_only && !db_master_command) {
            snprintf(err, sizeof(err), "READONLY You can't write against a read only replica.");
            goto fail;
        }
    }
    const char *kerr = check_keys(run, cmd, argc, argv, err, sizeof(err));
    if (kerr)
        goto fail;
    rk_buf out;
    rk_buf_init(&out);
    rk_ctx sub;
    ctx_init(&sub, c->shard, c->dbid, run->resp, cmd, argc, argv, &out);
    sub.db = c->db;
    sub.in_multi = 1; /* never blocks */
    sub.client_id = c->client_id;
    sub.prop_suppressed = run->repl == SCRIPT_REPL_NONE;
    cmd_call(&sub);
    const char *p = out.data, *end = out.data + out.len;
    int top = lua_gettop(L);
    int rc = out.len ? push_reply(L, &p, end, run->resp) : -1;
    rk_buf_free(&out);
    if (rc != 0) {
        lua_settop(L, top);
        snprintf(err, sizeof(err), "ERR the command's reply could not be read");
        goto fail;
    }
    if (raise && lua_istable(L, -1)) {
        lua_getfield(L, -1, "err");
        int is_err = lua_isstring(L, -1);
        lua_pop(L, 1);
        if (is_err)
            return lua_error(L); /* the {err=...} table */
    }
    return 1;
fail:
    if (raise)
        return raise_table(L, err);
    lua_newtable(L);
    lua_pushstring(L, err);
    lua_setfield(L, -2, "err");
    return 1;
}

static int l_call(lua_State *L) { return script_call(L, 1); }
static int l_pcall(lua_State *L) { return script_call(L, 0); }

static int l_sha1hex(lua_State *L)
{
    if (lua_gettop(L) != 1)
        return api_error(L, "wrong number of arguments");
    size_t len;
    const char *s = lua_tolstring(L, 1, &len);
    uint8_t d[RK_SHA1_LEN];
    char hex[2 * RK_SHA1_LEN + 1];
    rk_sha1(s ? s : "", s ? len : 0, d);
    rk_sha1_hex(d, hex);
    lua_pushstring(L, hex);
    return 1;
}

static int reply_table(lua_State *L, const char *field)
{
    if (lua_gettop(L) != 1 || lua_type(L, 1) != LUA_TSTRING)
        return api_error(L, "wrong number or type of arguments");
    lua_newtable(L);
    lua_pushvalue(L, 1);
    lua_setfield(L, -2, field);
    return 1;
}

static int l_error_reply(lua_State *L)
{
    if (lua_gettop(L) != 1 || lua_type(L, 1) != LUA_TSTRING)
        return api_error(L, "wrong number or type of arguments");
    size_t len;
    const char *s = lua_tolstring(L, 1, &len);
    lua_newtable(L);
    if (len && s[0] == '-')
        lua_pushlstring(L, s, len);
    else
        lua_pushfstring(L, "-%s", s);
    lua_setfield(L, -2, "err");
    return 1;
}

static int l_status_reply(lua_State *L) { return reply_table(L, "ok"); }

static int l_log(lua_State *L)
{
    int argc = lua_gettop(L);
    if (argc < 2)
        return api_error(L, "redis.log() requires two arguments or more.");
    if (!lua_isnumber(L, 1))
        return api_error(L, "First argument must be a number (log level).");
    int level = (int)lua_tonumber(L, 1);
    if (level < LL_DEBUG || level > LL_WARNING)
        return api_error(L, "Invalid debug level.");
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (int i = 2; i <= argc; i++) {
        if (i > 2)
            luaL_addchar(&b, ' ');
        size_t len;
        const char *s = lua_tolstring(L, i, &len);
        if (s)
            luaL_addlstring(&b, s, len);
    }
    luaL_pushresult(&b);
    rk_log(level, "%s", lua_tostring(L, -1));
    return 0;
}

static int l_setresp(lua_State *L)
{
    if (lua_gettop(L) != 1)
        return api_error(L, "redis.setresp() requires one argument.");
    int resp = (int)lua_tonumber(L, 1);
    if (resp != 2 && resp != 3)
        return api_error(L, "RESP version must be 2 or 3.");
    if (t_run)
        t_run->resp = resp;
    return 0;
}

static int l_set_repl(lua_State *L)
{
    if (lua_gettop(L) != 1)
        return api_error(L, "redis.set_repl() requires one argument.");
    int flags = (int)lua_tonumber(L, 1);
    if (flags < SCRIPT_REPL_NONE || flags > SCRIPT_REPL_ALL)
        return api_error(L, "Invalid replication flags. Use REPL_AOF, REPL_REPLICA, REPL_ALL or REPL_NONE.");
    if (t_run)
        t_run->repl = flags == SCRIPT_REPL_NONE ? SCRIPT_REPL_NONE : SCRIPT_REPL_ALL;
    return 0;
}

static int l_replicate_commands(lua_State *L)
{
    lua_pushboolean(L, 1);
    return 1;
}

/* ---- the VM ---------------------------------------------------------------------- */

static int l_global_index(lua_State *L)
{
    return luaL_error(L, "Script attempted to access nonexistent global variable '%s'", lua_tostring(L, 2));
}

static int l_readonly(lua_State *L) { return luaL_error(L, "Attempt to modify a readonly table"); }

/* Opens a library; one that returns its table without setting a global
 * (Debian's cjson) gets the global Redis gives it. */
static void open_lib(lua_State *L, const char *name, lua_CFunction fn)
{
    lua_pushcfunction(L, fn);
    lua_pushstring(L, name);
    lua_call(L, 1, 1);
    if (name[0] && lua_istable(L, -1)) {
        lua_getglobal(L, name);
        int missing = lua_isnil(L, -1);
        lua_pop(L, 1);
        if (missing) {
            lua_pushvalue(L, -1);
            lua_setglobal(L, name);
        }
    }
    lua_pop(L, 1);
}

lua_State *function_vm(rk_shard *s)
{
    assert(s->id >= 0 && s->id < RK_MAX_SHARDS);
    if (g_vm[s->id])
        return g_vm[s->id];
    lua_State *L = luaL_newstate();
    if (!L)
        return NULL;
    open_lib(L, "", luaopen_base);
    open_lib(L, LUA_TABLIBNAME, luaopen_table);
    open_lib(L, LUA_STRLIBNAME, luaopen_string);
    open_lib(L, LUA_MATHLIBNAME, luaopen_math);
    open_lib(L, LUA_DBLIBNAME, luaopen_debug);
    open_lib(L, "cjson", luaopen_cjson);
    open_lib(L, "struct", luaopen_struct);
    open_lib(L, "cmsgpack", luaopen_cmsgpack);
    open_lib(L, "bit", luaopen_bit);
    lua_settop(L, 0);
    /* What Redis removes or replaces. */
    static const char *const removed[] = {"loadfile", "dofile", "loadstring", "print", NULL};
    for (int i = 0; removed[i]; i++) {
        lua_pushnil(L);
        lua_setglobal(L, removed[i]);
    }
    lua_getglobal(L, "math");
    lua_pushcfunction(L, l_math_random);
    lua_setfield(L, -2, "random");
    lua_pushcfunction(L, l_math_randomseed);
    lua_setfield(L, -2, "randomseed");
    lua_pop(L, 1);
    /* redis.* */
    lua_newtable(L);
    static const luaL_Reg api[] = {{"call", l_call},
                                   {"pcall", l_pcall},
                                   {"sha1hex", l_sha1hex},
                                   {"error_reply", l_error_reply},
                                   {"status_reply", l_status_reply},
                                   {"log", l_log},
                                   {"setresp", l_setresp},
                                   {"set_repl", l_set_repl},
                                   {"replicate_commands", l_replicate_commands},
                                   {NULL, NULL}};
    for (const luaL_Reg *r = api; r->name; r++) {
        lua_pushcfunction(L, r->func);
        lua_setfield(L, -2, r->name);
    }
    static const struct {
        const char *name;
        int v;
    } consts[] = {{"LOG_DEBUG", LL_DEBUG},         {"LOG_VERBOSE", LL_VERBOSE},
                  {"LOG_NOTICE", LL_NOTICE},       {"LOG_WARNING", LL_WARNING},
                  {"REPL_NONE", SCRIPT_REPL_NONE}, {"REPL_AOF", SCRIPT_REPL_AOF},
                  {"REPL_SLAVE", SCRIPT_REPL_REPLICA}, {"REPL_REPLICA", SCRIPT_REPL_REPLICA},
                  {"REPL_ALL", SCRIPT_REPL_ALL},   {"REDIS_VERSION_NUM", 0x070000}};
    for (size_t i = 0; i < sizeof(consts) / sizeof(consts[0]); i++) {
        lua_pushinteger(L, consts[i].v);
        lua_setfield(L, -2, consts[i].name);
    }
    lua_pushstring(L, "7.0.0");
    lua_setfield(L, -2, "REDIS_VERSION");
    lua_setglobal(L, "redis");
    /* The script cache. */
    lua_pushlightuserdata(L, &k_scripts_key);
    lua_newtable(L);
    lua_rawset(L, LUA_REGISTRYINDEX);
    lua_pushlightuserdata(L, &k_flags_key);
    lua_newtable(L);
    lua_rawset(L, LUA_REGISTRYINDEX);
    /* Globals are read-only; reading a missing one is an error (Redis 7.0). */
    lua_newtable(L);
    lua_pushcfunction(L, l_global_index);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, l_readonly);
    lua_setfield(L, -2, "__newindex");
    lua_setmetatable(L, LUA_GLOBALSINDEX);
    g_vm[s->id] = L;
    return L;
}

/* ---- compiling and caching ----------------------------------------------------------- */

static void sha1_of(const char *p, size_t len, char hex[41])
{
    uint8_t d[RK_SHA1_LEN];
    rk_sha1(p, len, d);
    rk_sha1_hex(d, hex);
}

/* Parses "#!lua [flags=a,b]" (Redis's evalExtractShebangFlags). Returns the
 * flags, or -1 with err; *has set when a shebang was there. */
static int shebang_flags(const char *body, size_t len, int *has, char *err, size_t cap)
{
    *has = 0;
    if (len < 2 || body[0] != '#' || body[1] != '!')
        return 0;
    *has = 1;
    const char *nl = memchr(body, '\n', len);
    size_t ll = nl ? (size_t)(nl - body) : len;
    char line[512];
    if (ll >= sizeof(line)) {
        snprintf(err, cap, "ERR Script shebang line is too long");
        return -1;
    }
    memcpy(line, body + 2, ll - 2);
    line[ll - 2] = '\0';
    char *save = NULL, *tok = strtok_r(line, " ", &save);
    if (!tok || strcmp(tok, "lua") != 0) {
        snprintf(err, cap, "ERR Unexpected engine in script shebang: %s", tok ? tok : "");
        return -1;
    }
    int flags = 0;
    while ((tok = strtok_r(NULL, " ", &save))) {
        if (strncmp(tok, "flags=", 6) != 0) {
            snprintf(err, cap, "ERR Unknown lua shebang option: %s", tok);
            return -1;
        }
        char *s2 = NULL;
        for (char *f = strtok_r(tok + 6, ",", &s2); f; f = strtok_r(NULL, ",", &s2)) {
            if (!strcmp(f, "no-writes")) flags |= SF_NO_WRITES;
            else if (!strcmp(f, "allow-oom")) flags |= SF_ALLOW_OOM;
            else if (!strcmp(f, "allow-stale")) flags |= SF_ALLOW_STALE;
            else if (!strcmp(f, "no-cluster")) flags |= SF_NO_CLUSTER;
            else if (!strcmp(f, "allow-cross-slot-keys")) flags |= SF_CROSS_SLOT;
            else {
                snprintf(err, cap, "ERR Unexpected flag in script shebang: %s", f);
                return -1;
            }
        }
    }
    return flags;
}

/* Pushes the cached chunk for sha, or nothing (returns 0). */
static int cache_get(lua_State *L, const char *sha)
{
    lua_pushlightuserdata(L, &k_scripts_key);
    lua_rawget(L, LUA_REGISTRYINDEX);
    lua_getfield(L, -1, sha);
    lua_remove(L, -2);
    if (lua_isfunction(L, -1))
        return 1;
    lua_pop(L, 1);
    return 0;
}

/* Compiles body into the cache under sha. 0, or -1 with Redis's error. */
static int cache_add(rk_shard *s, lua_State *L, const char *sha, const char *body, size_t len, char *err, size_t cap)
{
    if (cache_get(L, sha)) {
        lua_pop(L, 1);
        return 0;
    }
    int has;
    int flags = shebang_flags(body, len, &has, err, cap);
    if (flags < 0)
        return -1;
    /* The shebang line becomes a comment: line numbers stay right. */
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    if (has)
        luaL_addstring(&b, "--");
    luaL_addlstring(&b, body, len);
    luaL_pushresult(&b);
    size_t clen;
    const char *code = lua_tolstring(L, -1, &clen);
    if (luaL_loadbuffer(L, code, clen, "@user_script") != 0) {
        snprintf(err, cap, "ERR Error compiling script (new function): %s", lua_tostring(L, -1));
        lua_pop(L, 2);
        return -1;
    }
    lua_remove(L, -2);
    lua_pushlightuserdata(L, &k_scripts_key);
    lua_rawget(L, LUA_REGISTRYINDEX);
    lua_insert(L, -2);
    lua_setfield(L, -2, sha);
    lua_pop(L, 1);
    lua_pushlightuserdata(L, &k_flags_key);
    lua_rawget(L, LUA_REGISTRYINDEX);
    lua_pushinteger(L, flags);
    lua_setfield(L, -2, sha);
    lua_pop(L, 1);
    g_nscripts[s->id]++;
    return 0;
}

static int cache_flags(lua_State *L, const char *sha)
{
    lua_pushlightuserdata(L, &k_flags_key);
    lua_rawget(L, LUA_REGISTRYINDEX);
    lua_getfield(L, -1, sha);
    int flags = (int)lua_tointeger(L, -1);
    lua_pop(L, 2);
    return flags;
}

static void cache_flush(rk_shard *s)
{
    lua_State *L = g_vm[s->id];
    if (!L)
        return;
    lua_pushlightuserdata(L, &k_scripts_key);
    lua_newtable(L);
    lua_rawset(L, LUA_REGISTRYINDEX);
    lua_pushlightuserdata(L, &k_flags_key);
    lua_newtable(L);
    lua_rawset(L, LUA_REGISTRYINDEX);
    g_nscripts[s->id] = 0;
    lua_gc(L, LUA_GCCOLLECT, 0);
}

uint64_t script_cached_count(rk_shard *s) { return g_nscripts[s->id]; }

size_t script_vm_memory(rk_shard *s)
{
    lua_State *L = g_vm[s->id];
    return L ? (size_t)lua_gc(L, LUA_GCCOUNT, 0) * 1024 + (size_t)lua_gc(L, LUA_GCCOUNTB, 0) : 0;
}

/* ---- posting a new script to the other shards --------------------------------------- */

typedef struct script_msg {
    rk_msg m;
    size_t len;
    char sha[41];
    char body[];
} script_msg;

static void post_script(rk_shard *s, const char *sha, const char *body, size_t len)
{
    for (int i = 0; i < g_nshards; i++) {
        if (i == s->id)
            continue;
        script_msg *m = malloc(sizeof(*m) + len);
        if (!m)
            continue; /* that shard compiles it at its first EVAL instead */
        memset(&m->m, 0, sizeof(m->m));
        m->m.type = MSG_SCRIPT_ADD;
        m->len = len;
        memcpy(m->sha, sha, 41);
        memcpy(m->body, body, len);
        shard_send(i, &m->m);
    }
}

void script_handle_msg(rk_shard *s, void *msg)
{
    script_msg *m = msg;
    lua_State *L = function_vm(s);
    char err[256];
    if (L)
        cache_add(s, L, m->sha, m->body, m->len, err, sizeof(err));
    free(m);
}

/* ---- running ---------------------------------------------------------------------------- */

/* The error handler: {err=..., source=..., line=...} from whatever was raised. */
static int error_handler(lua_State *L)
{
    if (!lua_istable(L, 1)) {
        const char *m = lua_tostring(L, 1);
        lua_newtable(L);
        lua_pushfstring(L, "ERR %s", m ? m : "unknown error");
        lua_setfield(L, -2, "err");
        lua_replace(L, 1);
    }
    lua_Debug ar;
    for (int level = 1; level <= 4 && lua_getstack(L, level, &ar); level++) {
        if (lua_getinfo(L, "Sl", &ar) && ar.currentline > 0 && ar.source && ar.source[0] == '@') {
            lua_pushstring(L, ar.source);
            lua_setfield(L, 1, "source");
            lua_pushinteger(L, ar.currentline);
            lua_setfield(L, 1, "line");
            break;
        }
    }
    lua_settop(L, 1);
    return 1;
}

static void push_strings(lua_State *L, int n, const rk_slice *v)
{
    lua_createtable(L, n, 0);
    for (int i = 0; i < n; i++) {
        lua_pushlstring(L, v[i].ptr, v[i].len);
        lua_rawseti(L, -2, i + 1);
    }
}

/* Runs the function on the stack top with KEYS/ARGV (eval: as globals;
 * fcall: as its two arguments) and replies. */
static void run_function(rk_ctx *c, lua_State *L, script_run *run, int nkeys, rk_slice *keys, int nargs,
                         rk_slice *args, int fcall)
{
    int base = lua_gettop(L); /* the function */
    lua_pushcfunction(L, error_handler);
    lua_insert(L, base);
    if (fcall) {
        push_strings(L, nkeys, keys);
        push_strings(L, nargs, args);
    }
    script_run *saved = t_run;
    t_run = run;
    ctx_propagate_none(c); /* the effects are journaled, not the call */
    int rc = lua_pcall(L, fcall ? 2 : 0, 1, base);
    t_run = saved;
    if (rc == 0) {
        t_reply_resp = run->resp;
        reply_lua_value(L, &c->r, 0);
        t_reply_resp = 2;
    } else {
        const char *msg = "ERR unknown error";
        char buf[1200];
        if (lua_istable(L, -1)) {
            lua_getfield(L, -1, "err");
            lua_getfield(L, -2, "source");
            lua_getfield(L, -3, "line");
            const char *e = lua_tostring(L, -3);
            if (e && lua_isstring(L, -2) && lua_isnumber(L, -1))
                snprintf(buf, sizeof(buf), "%s script: %s, on %s:%d.", e[0] == '-' ? e + 1 : e, run->name,
                         lua_tostring(L, -2), (int)lua_tonumber(L, -1));
            else
                snprintf(buf, sizeof(buf), "%s", e ? (e[0] == '-' ? e + 1 : e) : msg);
            lua_pop(L, 3);
            msg = buf;
        } else if (lua_isstring(L, -1)) {
            snprintf(buf, sizeof(buf), "ERR Error running script (call to %s): %s", run->name, lua_tostring(L, -1));
            msg = buf;
        }
        for (char *q = buf; *q; q++)
            if (*q == '\r' || *q == '\n')
                *q = ' ';
        ctx_error(c, msg);
        lua_pop(L, 1);
    }
    lua_settop(L, base - 1);
    lua_gc(L, LUA_GCSTEP, 1);
}

/* Sets KEYS and ARGV as globals (around the read-only protection). */
static void set_eval_globals(lua_State *L, int nkeys, const rk_slice *keys, int nargs, const rk_slice *args)
{
    lua_pushstring(L, "KEYS");
    push_strings(L, nkeys, keys);
    lua_rawset(L, LUA_GLOBALSINDEX);
    lua_pushstring(L, "ARGV");
    push_strings(L, nargs, args);
    lua_rawset(L, LUA_GLOBALSINDEX);
}

/* EVAL/EVALSHA[_RO] script|sha numkeys key... arg... */
static void eval_generic(rk_ctx *c, int by_sha, int ro)
{
    long long numkeys;
    if (ctx_arg_ll(c, 2, &numkeys) < 0)
        return;
    if (numkeys > c->argc - 3) {
        ctx_error(c, "ERR Number of keys can't be greater than number of args");
        return;
    }
    if (numkeys < 0) {
        ctx_error(c, "ERR Number of keys can't be negative");
        return;
    }
    lua_State *L = function_vm(c->shard);
    if (!L) {
        ctx_oom(c);
        return;
    }
    char sha[41], err[512];
    rk_slice body = c->argv[1];
    if (by_sha) {
        if (body.len != 40) {
            ctx_error(c, "NOSCRIPT No matching script. Please use EVAL.");
            return;
        }
        for (int i = 0; i < 40; i++)
            sha[i] = (char)(body.ptr[i] >= 'A' && body.ptr[i] <= 'Z' ? body.ptr[i] + 32 : body.ptr[i]);
        sha[40] = '\0';
        if (!cache_get(L, sha)) {
            ctx_error(c, "NOSCRIPT No matching script. Please use EVAL.");
            return;
        }
        lua_pop(L, 1);
    } else {
        sha1_of(body.ptr, body.len, sha);
        if (!cache_get(L, sha)) {
            if (cache_add(c->shard, L, sha, body.ptr, body.len, err, sizeof(err)) != 0) {
                ctx_error(c, err);
                return;
            }
            post_script(c->shard, sha, body.ptr, body.len);
        } else {
            lua_pop(L, 1);
        }
    }
    int flags = cache_flags(L, sha);
    cache_get(L, sha);
    script_run run = {.c = c, .name = sha, .ro = ro || (flags & SF_NO_WRITES), .cross_slot = (flags & SF_CROSS_SLOT) != 0,
                      .resp = 2, .repl = SCRIPT_REPL_ALL, .nkeys = (int)numkeys, .keys = c->argv + 3};
    set_eval_globals(L, (int)numkeys, c->argv + 3, c->argc - 3 - (int)numkeys, c->argv + 3 + numkeys);
    run_function(c, L, &run, (int)numkeys, c->argv + 3, 0, NULL, 0);
}

static void cmd_eval(rk_ctx *c) { eval_generic(c, 0, 0); }
static void cmd_evalsha(rk_ctx *c) { eval_generic(c, 1, 0); }
static void cmd_eval_ro(rk_ctx *c) { eval_generic(c, 0, 1); }
static void cmd_evalsha_ro(rk_ctx *c) { eval_generic(c, 1, 1); }

/* FCALL/FCALL_RO function numkeys key... arg... */
static void fcall_generic(rk_ctx *c, int ro)
{
    long long numkeys;
    if (ctx_arg_ll(c, 2, &numkeys) < 0)
        return;
    if (numkeys > c->argc - 3) {
        ctx_error(c, "ERR Number of keys can't be greater than number of args");
        return;
    }
    if (numkeys < 0) {
        ctx_error(c, "ERR Number of keys can't be negative");
        return;
    }
    const fn_func *f = function_find(c->shard, c->argv[1].ptr, c->argv[1].len);
    if (!f) {
        ctx_error(c, "ERR Function not found");
        return;
    }
    if (ro && !(f->flags & FN_FLAG_NO_WRITES)) {
        ctx_error(c, "ERR Can not execute a script with write flag using *_ro command.");
        return;
    }
    lua_State *L = function_vm(c->shard);
    if (!L) {
        ctx_oom(c);
        return;
    }
    lua_rawgeti(L, LUA_REGISTRYINDEX, f->ref);
    script_run run = {.c = c, .name = f->name, .ro = ro || (f->flags & FN_FLAG_NO_WRITES),
                      .cross_slot = (f->flags & FN_FLAG_ALLOW_CROSS_SLOT) != 0, .resp = 2,
                      .repl = SCRIPT_REPL_ALL, .nkeys = (int)numkeys, .keys = c->argv + 3};
    run_function(c, L, &run, (int)numkeys, c->argv + 3, c->argc - 3 - (int)numkeys, c->argv + 3 + numkeys, 1);
}

static void cmd_fcall(rk_ctx *c) { fcall_generic(c, 0); }
static void cmd_fcall_ro(rk_ctx *c) { fcall_generic(c, 1); }

/* ---- SCRIPT ------------------------------------------------------------------------------ */

static void load_hop(rk_shard *s, rk_txn *t, rk_buf *out)
{
    lua_State *L = function_vm(s);
    char sha[41], err[512];
    rk_slice body = t->argv[2];
    sha1_of(body.ptr, body.len, sha);
    if (!L) {
        rk_buf_append_str(out, "ERR out of memory");
        return;
    }
    if (cache_add(s, L, sha, body.ptr, body.len, err, sizeof(err)) != 0)
        rk_buf_append_str(out, err);
}

static void load_step(rk_txn *t)
{
    for (int i = 0; i < g_nshards; i++) {
        if (t->out[i].len) {
            char msg[600];
            snprintf(msg, sizeof(msg), "%.*s", (int)t->out[i].len, t->out[i].data);
            reply_error(&t->r, msg);
            txn_finish(t);
            return;
        }
    }
    char sha[41];
    sha1_of(t->argv[2].ptr, t->argv[2].len, sha);
    reply_bulk(&t->r, sha, 40);
    txn_finish(t);
}

static void flush_hop(rk_shard *s, rk_txn *t, rk_buf *out)
{
    (void)t;
    (void)out;
    cache_flush(s);
}

static void ok_step(rk_txn *t)
{
    reply_ok(&t->r);
    txn_finish(t);
}

static void coord_reply_error(rk_client *c, const char *msg)
{
    rk_reply r = {client_reply_buf(c), c->resp};
    reply_error(&r, msg);
}

static void all_shards(rk_client *c, const rk_command *cmd, int argc, rk_slice *argv, rk_hop_fn *hop,
                       rk_step_fn *step)
{
    rk_txn *t = txn_new(c, cmd, txn_all_shards(), argc, argv);
    if (!t) {
        coord_reply_error(c, "ERR out of memory");
        return;
    }
    txn_start(t, hop, step);
}

static void script_load_coord(rk_client *c, const rk_command *cmd, int argc, rk_slice *argv)
{
    all_shards(c, cmd, argc, argv, load_hop, load_step);
}

static void script_flush_coord(rk_client *c, const rk_command *cmd, int argc, rk_slice *argv)
{
    if (argc == 3 && !rk_slice_eq_nocase(argv[2], "sync") && !rk_slice_eq_nocase(argv[2], "async")) {
        coord_reply_error(c, "ERR SCRIPT FLUSH only support SYNC|ASYNC option");
        return;
    }
    all_shards(c, cmd, argc, argv, flush_hop, ok_step);
}

static void cmd_script_exists(rk_ctx *c)
{
    lua_State *L = function_vm(c->shard);
    reply_array(&c->r, c->argc - 2);
    for (int i = 2; i < c->argc; i++) {
        char sha[41];
        int found = 0;
        if (L && c->argv[i].len == 40) {
            for (int k = 0; k < 40; k++)
                sha[k] = (char)(c->argv[i].ptr[k] >= 'A' && c->argv[i].ptr[k] <= 'Z' ? c->argv[i].ptr[k] + 32
                                                                                    : c->argv[i].ptr[k]);
            sha[40] = '\0';
            if ((found = cache_get(L, sha)))
                lua_pop(L, 1);
        }
        reply_int(&c->r, found);
    }
}

static void cmd_script_kill(rk_ctx *c) { ctx_error(c, "NOTBUSY No scripts in execution right now."); }

static void cmd_script_help(rk_ctx *c)
{
    static const char *const lines[] = {
        "SCRIPT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "EXISTS <sha1> [<sha1> ...]",
        "    Return information about the existence of the scripts in the script cache.",
        "FLUSH [ASYNC|SYNC]",
        "    Flush the Lua scripts cache. Very dangerous on replicas.",
        "    When called without the optional mode argument, the behavior is determined by the",
        "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
        "    * ASYNC: Asynchronously flush the scripts cache.",
        "    * SYNC: Synchronously flush the scripts cache.",
        "KILL",
        "    Kill the currently executing Lua script.",
        "LOAD <script>",
        "    Load a script into the scripts cache without executing it.",
        "HELP",
        "    Prints this help.",
    };
    reply_array(&c->r, (int64_t)(sizeof(lines) / sizeof(lines[0])));
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
        reply_simple(&c->r, lines[i]);
}

static void cmd_script(rk_ctx *c)
{
    rk_slice sub = c->argc > 1 ? c->argv[1] : RK_SLICE("");
    ctx_errorf(c, "ERR unknown subcommand '%.*s'. Try SCRIPT HELP.", (int)sub.len, sub.ptr);
}

#define KS_NUM {{"RW ACCESS UPDATE", 2, NULL, 0, 1, 0, 0, 0, 0, 1, 1}}
#define SCRIPT_FLAGS (CMD_NOSCRIPT | CMD_SKIP_MONITOR | CMD_MAY_REPLICATE | CMD_STALE)
#define EVAL_CMD(nm, fl, pr, sum, sn)                                                                      \
    {.name = nm, .arity = -3, .flags = fl, .acl_categories = "@slow @scripting", .exec = EXEC_KEYS,          \
     .merge = MERGE_NONE, .proc = pr, .first_key = 0, .last_key = 0, .key_step = 0, .keyspecs = KS_NUM,      \
     .n_keyspecs = 1, .summary = sum, .since = sn, .group = "scripting",                                    \
     .complexity = "Depends on the script that is executed."}

static const rk_command script_subcommands[] = {
    {.name = "exists", .arity = -3, .flags = CMD_NOSCRIPT, .acl_categories = "@slow @scripting",
     .exec = EXEC_CONN, .proc = cmd_script_exists,
     .summary = "Check existence of scripts in the script cache.", .since = "2.6.0", .group = "scripting",
     .complexity = "O(N) with N being the number of scripts to check (so checking a single script is an O(1) "
                   "operation).",
     .tips = "request_policy:all_shards response_policy:agg_logical_and"},
    {.name = "flush", .arity = -2, .flags = CMD_NOSCRIPT, .acl_categories = "@slow @scripting", .exec = EXEC_ALL,
     .coord = script_flush_coord, .summary = "Remove all the scripts from the script cache.", .since = "2.6.0",
     .group = "scripting", .complexity = "O(N) with N being the number of scripts in cache",
     .tips = "request_policy:all_nodes response_policy:all_succeeded"},
    {.name = "help", .arity = 2, .flags = CMD_LOADING | CMD_STALE, .acl_categories = "@slow @scripting",
     .exec = EXEC_CONN, .proc = cmd_script_help, .summary = "Show helpful text about the different subcommands",
     .since = "5.0.0", .group = "scripting", .complexity = "O(1)"},
    {.name = "kill", .arity = 2, .flags = CMD_NOSCRIPT | CMD_ALLOW_BUSY, .acl_categories = "@slow @scripting",
     .exec = EXEC_CONN, .proc = cmd_script_kill,
     .summary = "Kill the script currently in execution.", .since = "2.6.0", .group = "scripting",
     .complexity = "O(1)", .tips = "request_policy:all_shards response_policy:one_succeeded"},
    {.name = "load", .arity = 3, .flags = CMD_NOSCRIPT | CMD_STALE, .acl_categories = "@slow @scripting",
     .exec = EXEC_ALL, .coord = script_load_coord,
     .summary = "Load the specified Lua script into the script cache.", .since = "2.6.0", .group = "scripting",
     .complexity = "O(N) with N being the length in bytes of the script body.",
     .tips = "request_policy:all_nodes response_policy:all_succeeded"},
    {0},
};

const rk_command rk_script_commands[] = {
    EVAL_CMD("eval", SCRIPT_FLAGS, cmd_eval, "Execute a Lua script server side", "2.6.0"),
    EVAL_CMD("eval_ro", SCRIPT_FLAGS | CMD_READONLY, cmd_eval_ro, "Execute a read-only Lua script server side",
             "7.0.0"),
    EVAL_CMD("evalsha", SCRIPT_FLAGS, cmd_evalsha, "Execute a Lua script server side", "2.6.0"),
    EVAL_CMD("evalsha_ro", SCRIPT_FLAGS | CMD_READONLY, cmd_evalsha_ro,
             "Execute a read-only Lua script server side", "7.0.0"),
    EVAL_CMD("fcall", SCRIPT_FLAGS, cmd_fcall, "Invoke a function", "7.0.0"),
    EVAL_CMD("fcall_ro", SCRIPT_FLAGS | CMD_READONLY, cmd_fcall_ro, "Invoke a read-only function", "7.0.0"),
    {.name = "script", .arity = -2, .flags = 0, .acl_categories = "@slow", .exec = EXEC_CONN, .proc = cmd_script,
     .summary = "A container for Lua scripts management commands", .since = "2.6.0", .group = "scripting",
     .complexity = "Depends on subcommand.", .subcommands = script_subcommands},
    {0},
};
