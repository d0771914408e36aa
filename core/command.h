/* command.h: the command table and the context a command runs in.
 *
 * Every command family (t_string.c, t_keys.c, server_cmds.c, ...) exports a
 * table of rk_command terminated by {0}; cmdtable.c merges them at start-up
 * into one case-insensitive lookup. After start-up the table is read-only
 * and shared by all threads.
 *
 * Where a command runs (exec):
 *   EXEC_CONN  on the client's home shard, with ctx->client set (SELECT, CLIENT, HELLO, ...).
 *   EXEC_KEYS  on the shard that owns its keys (found from the key specs).
 *              Keys on several shards go through the ordered transaction
 *              (core/txn.h): split/merge when the command declares `merge`,
 *              else the generic multi-key executor (core/multikey.c), which
 *              gathers the keys' values to one place, runs the same proc, and
 *              writes the results back, all while the shards are paused.
 *   EXEC_ALL   a coordinator function (`coord`) on the home shard that uses
 *              txn.h to run hops on every shard (FLUSHALL, KEYS, SCAN, DBSIZE, ...). */
#ifndef RK_CORE_COMMAND_H
#define RK_CORE_COMMAND_H

#include <stdint.h>
#include "io/buf.h"
#include "io/reply.h"

struct rk_shard;
struct rk_client;
struct rk_db;
struct rk_txn;
struct rk_command;

enum rk_cmd_flag {
    CMD_WRITE = 1u << 0,
    CMD_READONLY = 1u << 1,
    CMD_DENYOOM = 1u << 2,
    CMD_ADMIN = 1u << 3,
    CMD_PUBSUB = 1u << 4,
    CMD_NOSCRIPT = 1u << 5,
    CMD_BLOCKING = 1u << 6,
    CMD_LOADING = 1u << 7,     /* allowed while loading */
    CMD_STALE = 1u << 8,       /* allowed on a stale replica */
    CMD_SKIP_MONITOR = 1u << 9,
    CMD_SKIP_SLOWLOG = 1u << 10,
    CMD_FAST = 1u << 11,
    CMD_NO_AUTH = 1u << 12,    /* allowed before AUTH */
    CMD_MAY_REPLICATE = 1u << 13,
    CMD_NO_MULTI = 1u << 14,
    CMD_MOVABLE_KEYS = 1u << 15,
    CMD_ALLOW_BUSY = 1u << 16,
    CMD_SENTINEL = 1u << 17,   /* unused, for COMMAND output parity */
    CMD_NO_ASYNC_LOADING = 1u << 18, /* shown by COMMAND only: ringkv has no async loading */
};

enum rk_cmd_exec { EXEC_CONN = 0, EXEC_KEYS = 1, EXEC_ALL = 2 };

/* How split results of a key-wise decomposable command are merged. */
enum rk_cmd_merge {
    MERGE_NONE = 0,
    MERGE_SUM,        /* integer replies added up (DEL, EXISTS, TOUCH, UNLINK) */
    MERGE_OK,         /* every part answers +OK (MSET) */
    MERGE_BY_KEY,     /* array replies interleaved back in key order (MGET) */
};

/* Redis 7 key specification, enough for routing and COMMAND output.
 * begin: index (bs_index > 0) or keyword search (bs_keyword, from bs_index).
 * find: range (fk_lastkey, fk_step, fk_limit) or keynum (kn_idx, kn_first, kn_step). */
typedef struct rk_keyspec {
    const char *flags;       /* space separated, e.g. "RW ACCESS UPDATE" */
    int bs_index;
    const char *bs_keyword;  /* NULL for index search */
    int bs_startfrom;        /* keyword search start (negative: from the end) */
    int fk_keynum;           /* 0: range spec, 1: keynum spec */
    int fk_lastkey, fk_step, fk_limit;
    int kn_idx, kn_first, kn_step;
} rk_keyspec;

#define RK_MAX_KEYSPECS 4

typedef struct rk_ctx rk_ctx;
typedef void rk_cmd_proc(rk_ctx *c);
/* EXEC_ALL coordinator, on the client's home shard. */
typedef void rk_cmd_coord(struct rk_client *c, const struct rk_command *cmd, int argc, rk_slice *argv);

typedef struct rk_command {
    const char *name;          /* lower case; "config|get" style for subcommands in docs only */
    int arity;                 /* Redis convention: -N means at least N */
    uint32_t flags;
    const char *acl_categories; /* e.g. "@write @string @slow" */
    enum rk_cmd_exec exec;
    enum rk_cmd_merge merge;
    rk_cmd_proc *proc;
    rk_cmd_coord *coord;
    int first_key, last_key, key_step; /* legacy COMMAND fields */
    rk_keyspec keyspecs[RK_MAX_KEYSPECS];
    int n_keyspecs;
    const char *summary, *since, *group, *complexity; /* COMMAND DOCS */
    const char *tips;          /* space separated, e.g. "request_policy:multi_shard" */
    const struct rk_command *subcommands; /* terminated by {0}; NULL when none */
    /* Assigned at start-up: index into per-command statistics arrays. */
    int id;
} rk_command;

/* What a command runs with. Lives on the executing shard's stack/heap. */
struct rk_ctx {
    struct rk_shard *shard;    /* executing shard (owns every key touched) */
    struct rk_client *client;  /* set only for EXEC_CONN and inline execution on the home shard */
    struct rk_db *db;          /* the database to act on (may be a scratch db in multikey runs) */
    int dbid;                  /* its number, as the client sees it */
    int resp;                  /* 2 or 3 */
    int argc;
    rk_slice *argv;
    const rk_command *cmd;
    rk_reply r;                /* reply destination */
    int64_t now_ms;            /* command time: fixed for the whole command */
    uint64_t client_id;
    int errors;                /* set by ctx_error* so errorstats count it */
    int in_multi;              /* running inside MULTI/EXEC (or a script): never block */
    int block_requested;       /* set by ctx_block(): the command found nothing and waits */
    double block_timeout;      /* seconds, 0 = forever (with block_requested) */
    rk_slice *block_argv;      /* ctx_block_argv: what to re-run instead of argv (one malloc'd block) */
    /* Propagation (core/journal.h): what cmd_call journals when the command
     * changed the dataset. PROP_ARGV: the command's own argv; PROP_NONE:
     * nothing; PROP_CUSTOM: the commands given to ctx_propagate, formatted
     * into prop (only while the shard's journal has a consumer). */
    int prop_mode;
    int prop_count;            /* commands in prop */
    int prop_suppressed;       /* journal nothing (a script's redis.set_repl(REPL_NONE)) */
    rk_buf prop;               /* freed by cmd_call */
};

enum { PROP_ARGV = 0, PROP_NONE = 1, PROP_CUSTOM = 2 };

/* A write whose effect is not its own argv calls this with the command to
 * journal instead (Redis's rewriteClientCommandVector / alsoPropagate); each
 * call adds one command, in order, in the command's database. Journaled
 * only when the dataset changed (s->dirty moved). */
void ctx_propagate(rk_ctx *c, int argc, const rk_slice *argv);
/* The same with C strings. */
void ctx_propagate_cstr(rk_ctx *c, int argc, const char *const *argv);
/* A write that changed data but must not be journaled (DEBUG POPULATE). */
void ctx_propagate_none(rk_ctx *c);
/* Whether anything will be journaled: a proc may skip building a rewrite
 * when this is 0 (no consumer). */
int ctx_journaling(const rk_ctx *c);

/* A blocking command (BLPOP, BZPOPMIN, ...) that found nothing to serve
 * calls this instead of replying, when !c->in_multi. The dispatcher then
 * parks the client on its keys and runs the same command again, from the
 * start, when one of them changes (core/blocking.c); its timeout is the
 * command's own last (or given) argument, parsed by the proc and passed here. */
void ctx_block(rk_ctx *c, double timeout_seconds);
/* As ctx_block, re-running `argv` (same argc) instead of the command's own
 * arguments: XREAD resolves `$` to the ID it saw when it blocked. */
void ctx_block_argv(rk_ctx *c, double timeout_seconds, const rk_slice *argv);

/* Sets a context up for cmd on shard s, database dbid, replying into out. */
void ctx_init(rk_ctx *c, struct rk_shard *s, int dbid, int resp, const rk_command *cmd, int argc,
              rk_slice *argv, rk_buf *out);

/* Reply helpers that also keep error statistics. msg includes its code ("ERR ..."). */
void ctx_error(rk_ctx *c, const char *msg);
void ctx_errorf(rk_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Redis's canned errors. */
void ctx_wrongtype(rk_ctx *c);   /* WRONGTYPE Operation against a key holding the wrong kind of value */
void ctx_syntax_error(rk_ctx *c);/* ERR syntax error */
void ctx_not_int(rk_ctx *c);     /* ERR value is not an integer or out of range */
void ctx_not_float(rk_ctx *c);   /* ERR value is not a valid float */
void ctx_oom(rk_ctx *c);         /* allocation failure while executing */
void ctx_wrong_arity(rk_ctx *c); /* ERR wrong number of arguments for 'x' command */
/* Argument helpers; on failure they reply with Redis's error and return -1. */
int ctx_arg_ll(rk_ctx *c, int i, long long *out);          /* "value is not an integer or out of range" */
int ctx_arg_ld(rk_ctx *c, int i, long double *out);        /* "value is not a valid float" */
int ctx_arg_double(rk_ctx *c, int i, double *out);
int ctx_arg_is(rk_ctx *c, int i, const char *lit);         /* case-insensitive compare, 1/0 */
/* A copy of argv and its bytes in one malloc'd block (free() it whole);
 * every argument stays NUL-terminated. NULL when out of memory. */
rk_slice *argv_dup(int argc, const rk_slice *argv);
/* Marks one change to the dataset (INFO rdb_changes_since_last_save, later the journal). */
void ctx_dirty(rk_ctx *c, long long n);

/* Command table. */
int cmdtable_init(void);    /* 0 / -1; builds the lookup from every family's table */
const rk_command *cmd_lookup(rk_slice name);
const rk_command *cmd_lookup_sub(const rk_command *parent, rk_slice sub);
int cmd_count(void);        /* top-level commands */
const rk_command *cmd_by_index(int i); /* 0 <= i < cmd_count() */
int cmd_total_ids(void);    /* commands + subcommands: size of per-command stats arrays */
const rk_command *cmd_by_id(int id);
/* Fills positions (argv indexes) of keys; returns how many, at most max.
 * -1 when the arguments are malformed for key extraction (the proc reports the error). */
int cmd_get_keys(const rk_command *cmd, int argc, const rk_slice *argv, int *pos, int max);
/* Checks arity; replies with the Redis error and returns -1 when wrong. */
int cmd_check_arity(const rk_command *cmd, int argc, rk_reply *r, const rk_slice *argv);

/* Families' tables (each defined in its own file). */
extern const rk_command rk_string_commands[];
extern const rk_command rk_key_commands[];
extern const rk_command rk_server_commands[];
extern const rk_command rk_conn_commands[];
extern const rk_command rk_list_commands[];
extern const rk_command rk_hash_commands[];
extern const rk_command rk_set_commands[];
extern const rk_command rk_zset_commands[];
extern const rk_command rk_pubsub_commands[];
extern const rk_command rk_multi_commands[];
extern const rk_command rk_dump_commands[];
extern const rk_command rk_persist_commands[];
extern const rk_command rk_repl_commands[];   /* repl/commands.c */
extern const rk_command rk_script_commands[]; /* EVAL*, SCRIPT: core/t_script.c */
extern const rk_command rk_function_commands[]; /* FUNCTION, FCALL*: core/t_function.c */
extern const rk_command rk_stream_commands[]; /* X*: core/t_stream.c */
extern const rk_command rk_hll_commands[];    /* PF*: core/t_hll.c */
extern const rk_command rk_geo_commands[];    /* GEO*: core/t_geo.c */


/* Added by the command-table owner: the full name of a command as Redis
 * reports it ("get", "config|get"); never NULL. */
const char *cmd_full_name(const rk_command *cmd);
/* The container of a subcommand, NULL for a top-level command. */
const rk_command *cmd_parent(const rk_command *cmd);

#endif
