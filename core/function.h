/* function.h: the function library registry (Redis 7.0's FUNCTION), one
 * copy per shard.
 *
 * Every shard holds every library, compiled in its own Lua VM (the shard's
 * scripting VM), so FCALL runs a function wherever its keys live. A change
 * (LOAD, DELETE, FLUSH, RESTORE) is an ordered transaction over all shards
 * (core/t_function.c): each shard prepares the change (compiles, checks
 * collisions) without touching its registry, then all commit or all abort,
 * so the shards' registries stay identical and no client sees a half-made
 * change. Shard 0 journals the change, once.
 *
 * Threads: every function here runs on the shard thread `s` (the registry
 * slot of shard s is touched only by it), except where noted.
 *
 * Library format (Redis 7): "#!<engine> name=<lib>\n<code>", engine "lua"
 * (any case); the code calls redis.register_function(name, callback) or
 * redis.register_function{function_name=, callback=, flags=, description=}
 * while it loads, with only redis.register_function, redis.log, redis.LOG_*
 * and redis.REDIS_VERSION(_NUM) in reach. */
#ifndef RK_CORE_FUNCTION_H
#define RK_CORE_FUNCTION_H

#include <stddef.h>
#include <stdint.h>

#include "io/buf.h"
#include "io/reply.h"

struct rk_shard;
struct lua_State;

/* Function flags, in Redis's order (scripts_flags_def: FUNCTION LIST shows
 * them in this order). */
enum {
    FN_FLAG_NO_WRITES = 1u << 0,
    FN_FLAG_ALLOW_OOM = 1u << 1,
    FN_FLAG_ALLOW_STALE = 1u << 2,
    FN_FLAG_NO_CLUSTER = 1u << 3,
    FN_FLAG_ALLOW_CROSS_SLOT = 1u << 4,
};
#define FN_NFLAGS 5
/* "no-writes", ... indexed by bit number. */
extern const char *const fn_flag_names[FN_NFLAGS];

/* Redis's LOAD_TIMEOUT_MS: a library's top-level code may run this long. */
#define FN_LOAD_TIMEOUT_MS 500

/* One registered function; owned by its library (shard thread). */
typedef struct fn_func {
    char *name;
    char *desc;       /* NULL when none was given */
    unsigned flags;   /* FN_FLAG_* */
    int ref;          /* the callback in the VM's registry (luaL_ref) */
    struct fn_lib *lib;
} fn_func;

typedef struct fn_lib {
    char *name;
    char *code;       /* the whole payload, shebang included (NUL-terminated) */
    size_t code_len;
    fn_func *funcs;
    int nfuncs, cap;
} fn_lib;

/* ---- the shard's registry ---- */

/* Creates shard s's empty registry (its slot) if it has none; 0, or -1 on
 * OOM. Done lazily by the first prepare; until then the shard simply has no
 * library. The VM is bound at the first compile. */
int function_shard_init(struct rk_shard *s);
void function_shard_free(struct rk_shard *s);

/* The function `name` (binary safe), or NULL. */
const fn_func *function_find(struct rk_shard *s, const char *name, size_t len);
/* Libraries in registry order; n set to their count. */
fn_lib *const *function_libs(struct rk_shard *s, int *n);
int function_count(struct rk_shard *s);

/* ---- two-phase changes (each shard, inside one transaction) ---- */

/* A staged change: what prepare built, what commit applies. At most one per
 * shard at a time (a shard is paused on one transaction). */
enum { FN_CHANGE_NONE = 0, FN_CHANGE_LOAD, FN_CHANGE_RESTORE };
enum { FN_RESTORE_APPEND = 0, FN_RESTORE_REPLACE, FN_RESTORE_FLUSH };

/* FUNCTION LOAD [REPLACE]: compiles `code` into a staged library and checks
 * it against the registry. timeout_ms 0: no load timeout (a master's stream,
 * the AOF, an RDB). 0 with the library's name in *name (borrowed until
 * commit/abort), or -1 with Redis's message (without "ERR ") in err. */
int function_prepare_load(struct rk_shard *s, const char *code, size_t len, int replace, int64_t timeout_ms,
                          const char **name, char *err, size_t errlen);
/* FUNCTION RESTORE: each of the n codes compiled into a staged set, checked
 * against the registry under policy FN_RESTORE_*. 0, or -1 with err. */
int function_prepare_restore(struct rk_shard *s, int n, const char *const *codes, const size_t *lens, int policy,
                             char *err, size_t errlen);
/* Applies the staged change (cannot fail); abort drops it. */
void function_commit(struct rk_shard *s);
void function_abort(struct rk_shard *s);

/* FUNCTION DELETE: 0, or -1 when there is no such library. */
int function_delete(struct rk_shard *s, const char *name, size_t len);
/* FUNCTION FLUSH (and a dataset-replacing load): every library goes. */
void function_flush(struct rk_shard *s);

/* A FUNCTION LOAD/DELETE/FLUSH/RESTORE command applied to this shard's
 * registry alone, with no reply, timeout or journal: the AOF replay, where
 * every shard is handed the command (core/t_function.c). argv[0] is
 * "FUNCTION". 0, or -1 with Redis's message (other subcommands: -1). */
int function_apply_local(struct rk_shard *s, int argc, const rk_slice *argv, char *err, size_t errlen);

/* ---- serialising ---- */

/* Each library's code, length-prefixed (8 bytes little-endian, then the
 * bytes), in registry order: what the snapshot's header carries from shard
 * 0 (storage/rdb_sink.c). 0, or -1 on OOM. */
int function_codes_blob(struct rk_shard *s, rk_buf *out);
/* Walks such a blob: returns 1 with the next code, 0 at its end, -1 if bad.
 * Any thread. */
int function_blob_next(const char *blob, size_t len, size_t *pos, const char **code, size_t *clen);

/* One library record of an RDB file or a DUMP payload, after its opcode
 * (type: 0xF5 FUNCTION2, the code as an RDB string; 0xF6 FUNCTION, Redis
 * 7.0-rc's name/engine/description/code, turned into "#!engine name=..."
 * as Redis does). Appends the code to out, length-prefixed as
 * function_codes_blob, and advances *pos. 0, or -1 with Redis's message.
 * Any thread (core/t_function.c). */
int function_payload_read(const unsigned char *p, size_t len, int type, size_t *pos, rk_buf *out, char *err,
                          size_t errlen);

/* ---- FUNCTION LIST / STATS helpers ---- */

/* FUNCTION LIST [LIBRARYNAME pattern] [WITHCODE] reply from shard s. */
void function_reply_list(struct rk_shard *s, rk_reply *r, const char *pattern, size_t plen, int withcode);
/* libraries_count / functions_count of the LUA engine. */
void function_counts(struct rk_shard *s, int64_t *libs, int64_t *funcs);

/* The shard's Lua VM, provided by the scripting engine (core/script.h);
 * NULL when it cannot be created (OOM). */
struct lua_State *function_vm(struct rk_shard *s);

#endif
