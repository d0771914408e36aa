/* config.h: server configuration (redis.conf syntax, Redis 7 names and defaults).
 *
 * Ownership: the start-up thread parses the file and arguments into one
 * rk_config before any shard starts; each shard then keeps its own copy
 * (rk_shard.cfg) and only ever reads that copy. CONFIG SET runs as an
 * all-shard transaction whose hop applies the change to every copy, so no
 * thread reads a value another thread is writing. */
#ifndef RK_CORE_CONFIG_H
#define RK_CORE_CONFIG_H

#include <stdint.h>
#include <stddef.h>
#include "io/buf.h"

enum { LL_DEBUG = 0, LL_VERBOSE = 1, LL_NOTICE = 2, LL_WARNING = 3, LL_NOTHING = 4 };
enum { DEBUGCMD_NO = 0, DEBUGCMD_YES = 1, DEBUGCMD_LOCAL = 2 };
enum { CLIENT_CLASS_NORMAL = 0, CLIENT_CLASS_REPLICA = 1, CLIENT_CLASS_PUBSUB = 2, CLIENT_CLASS_COUNT = 3 };

/* maxmemory-policy values, built from flags as Redis's: LRU/LFU say what
 * obj->lru holds, ALLKEYS whether keys without a TTL may be evicted. */
enum {
    MAXMEMORY_FLAG_LRU = 1 << 0,
    MAXMEMORY_FLAG_LFU = 1 << 1,
    MAXMEMORY_FLAG_ALLKEYS = 1 << 2,
    MAXMEMORY_VOLATILE_LRU = (0 << 8) | MAXMEMORY_FLAG_LRU,
    MAXMEMORY_VOLATILE_LFU = (1 << 8) | MAXMEMORY_FLAG_LFU,
    MAXMEMORY_VOLATILE_TTL = (2 << 8),
    MAXMEMORY_VOLATILE_RANDOM = (3 << 8),
    MAXMEMORY_ALLKEYS_LRU = (4 << 8) | MAXMEMORY_FLAG_LRU | MAXMEMORY_FLAG_ALLKEYS,
    MAXMEMORY_ALLKEYS_LFU = (5 << 8) | MAXMEMORY_FLAG_LFU | MAXMEMORY_FLAG_ALLKEYS,
    MAXMEMORY_ALLKEYS_RANDOM = (6 << 8) | MAXMEMORY_FLAG_ALLKEYS,
    MAXMEMORY_NO_EVICTION = (7 << 8),
};
/* "noeviction", "allkeys-lru", ... */
const char *config_maxmemory_policy_name(int policy);

typedef struct rk_obuf_limit {
    long long hard_bytes, soft_bytes;
    long long soft_seconds;
} rk_obuf_limit;

#define RK_MAX_BIND 16
#define RK_MAX_SAVE_PARAMS 16

/* One save point: save when `changes` writes happened within `seconds`. */
typedef struct rk_save_param {
    long long seconds, changes;
} rk_save_param;

typedef struct rk_config {
    char *config_file;            /* absolute path or NULL */
    int port;                     /* 6379 */
    char *bind[RK_MAX_BIND];      /* "* -::*" in Redis; default here "127.0.0.1 -::1"? see config.c */
    int n_bind;
    int protected_mode;           /* yes */
    char *requirepass;            /* NULL = none */
    char *dir;                    /* absolute path after start-up chdir */
    char *logfile;                /* "" = stdout */
    int loglevel;                 /* notice */
    int databases;                /* 16 */
    long long maxclients;         /* 10000 */
    long long timeout;            /* 0 seconds = never */
    long long tcp_keepalive;      /* 300 */
    long long tcp_backlog;        /* 511 */
    int hz;                       /* 10 */
    int daemonize;                /* no */
    char *pidfile;                /* NULL / "" = none */
    int enable_debug_command;     /* DEBUGCMD_NO */
    long long proto_max_bulk_len; /* 512mb */
    long long client_query_buffer_limit; /* 1gb */
    rk_obuf_limit obuf_limits[CLIENT_CLASS_COUNT]; /* normal 0 0 0, replica 256mb 64mb 60, pubsub 32mb 8mb 60 */
    long long slowlog_log_slower_than; /* 10000 us */
    long long slowlog_max_len;         /* 128 */
    /* Compact-encoding thresholds (Redis 7 names and defaults). */
    long long list_max_listpack_size;   /* -2: 8 KiB per node; > 0: entries per node */
    long long hash_max_listpack_entries, hash_max_listpack_value;   /* 512, 64 (Redis 7.0 compiled defaults) */
    long long set_max_intset_entries;                               /* 512 */
    long long set_max_listpack_entries, set_max_listpack_value;     /* 128, 64 */
    long long zset_max_listpack_entries, zset_max_listpack_value;   /* 128, 64 */
    long long hll_sparse_max_bytes;   /* 3000 */
    long long stream_node_max_bytes, stream_node_max_entries; /* 4096, 100 */
    /* maxmemory and eviction (evict.c), LFU (db.c), lazy freeing (lazyfree.c). */
    long long maxmemory;                 /* bytes, 0 = no limit; each shard enforces maxmemory / shards */
    int maxmemory_policy;                /* MAXMEMORY_NO_EVICTION */
    long long maxmemory_samples;         /* 5 */
    long long maxmemory_eviction_tenacity; /* 10 */
    long long lfu_log_factor;            /* 10 */
    long long lfu_decay_time;            /* 1 (minutes) */
    int lazyfree_lazy_eviction, lazyfree_lazy_expire, lazyfree_lazy_server_del; /* no */
    int lazyfree_lazy_user_del, lazyfree_lazy_user_flush;                       /* no */
    int shards;                   /* ringkv: default online CPUs - 1, at least 1 (config.c) */
    int io_backend;               /* enum rk_backend */
    int active_expire_enabled;    /* DEBUG SET-ACTIVE-EXPIRE (not a directive) */
    /* RDB persistence (storage/persist.c). */
    rk_save_param save_params[RK_MAX_SAVE_PARAMS]; /* "3600 1 300 100 60 10000" */
    int n_save_params;            /* 0: no save points (save "") */
    char *dbfilename;             /* "dump.rdb"; a file name, never a path */
    int rdbcompression;           /* yes */
    int rdbchecksum;              /* yes */
    int stop_writes_on_bgsave_error; /* yes */
    /* AOF persistence (storage/aof*.c); Redis 7.0 names and defaults. */
    int appendonly;               /* no */
    char *appenddirname;          /* "appendonlydir"; a name in `dir`, never a path */
    char *appendfilename;         /* "appendonly.aof"; the prefix of every AOF file name */
    int appendfsync;              /* enum rk_appendfsync: AOF_FSYNC_EVERYSEC */
    int no_appendfsync_on_rewrite;        /* no */
    long long auto_aof_rewrite_percentage; /* 100 (0 = no automatic rewrite) */
    long long auto_aof_rewrite_min_size;   /* 64mb */
    int aof_load_truncated;       /* yes */
    int aof_use_rdb_preamble;     /* yes */
    int aof_timestamp_enabled;    /* no */
    int aof_rewrite_incremental_fsync; /* yes */
    /* Replication (repl/); Redis 7.0 names and defaults, `slave` aliases accepted. */
    char *replicaof_host;         /* NULL: a master (replicaof / slaveof <host> <port>) */
    int replicaof_port;
    char *masterauth;             /* NULL = none */
    char *masteruser;             /* NULL = none (AUTH <masterauth> only) */
    long long repl_backlog_size;  /* 1mb */
    long long repl_backlog_ttl;   /* 3600 seconds; 0 = never freed */
    int repl_diskless_sync;       /* yes */
    long long repl_diskless_sync_delay;        /* 5 seconds */
    long long repl_diskless_sync_max_replicas; /* 0 = no early start */
    int repl_diskless_load;       /* enum rk_diskless_load: disabled */
    long long repl_ping_replica_period; /* 10 seconds */
    long long repl_timeout;       /* 60 seconds */
    int repl_disable_tcp_nodelay; /* no */
    long long min_replicas_to_write; /* 0 = off */
    long long min_replicas_max_lag;  /* 10 seconds */
    int replica_read_only;        /* yes */
    int replica_serve_stale_data; /* yes */
    long long replica_priority;   /* 100 */
    char *replica_announce_ip;    /* NULL = none */
    long long replica_announce_port; /* 0 = the listening port */
    int replica_announced;        /* yes */
    int replica_lazy_flush;       /* no */
} rk_config;

enum rk_diskless_load { REPL_DISKLESS_LOAD_DISABLED = 0, REPL_DISKLESS_LOAD_ON_EMPTY_DB = 1, REPL_DISKLESS_LOAD_SWAPDB = 2 };

enum rk_appendfsync { AOF_FSYNC_NO = 0, AOF_FSYNC_EVERYSEC = 1, AOF_FSYNC_ALWAYS = 2 };

/* Fills defaults. */
void config_init_defaults(rk_config *cfg);
/* Loads `path` (may be NULL) and then the "--name value ..." arguments, which
 * act as lines appended to the file. On error writes e.g.
 * "*** FATAL CONFIG FILE ERROR (Redis 7.0.0) ***\nReading the configuration file, at line 3\n>>> 'prot 1'\nBad directive or wrong number of arguments"
 * into err and returns -1. */
int config_load(rk_config *cfg, const char *path, int argc, char **argv, char *err, size_t errlen);
/* Deep copy / free (each shard owns a copy). */
int config_copy(rk_config *dst, const rk_config *src);
void config_free(rk_config *cfg);

/* CONFIG GET: appends name/value pairs for every directive matching the glob
 * pattern (case-insensitive) to out as (name, value) C strings; returns the count. */
typedef void config_pair_fn(void *ud, const char *name, const char *value);
int config_get(const rk_config *cfg, const char *pattern, config_pair_fn *fn, void *ud);
/* CONFIG SET of one directive on one copy. Checks first, so a failure changes nothing.
 * Returns 0, or -1 with Redis's error text in err (e.g. "ERR Invalid argument 'x' for CONFIG SET 'port' - ..."). */
int config_check_set(const rk_config *cfg, const char *name, const char *value, char *err, size_t errlen);
int config_apply_set(rk_config *cfg, const char *name, const char *value, char *err, size_t errlen);
/* Directive is known and settable at run time. */
int config_is_mutable(const char *name);
/* CONFIG REWRITE: rewrites cfg->config_file keeping comments and unknown
 * lines' order, replacing changed directives in place, appending new ones. 0 / -1 (errno). */
int config_rewrite(const rk_config *cfg, char *err, size_t errlen);

int glob_match(const char *pattern, size_t plen, const char *s, size_t slen, int nocase);

/* Notes on the functions above (config.c):
 * - config_load: argv holds only the arguments after the config file (the
 *   caller strips the program name and the file path). As in Redis they are
 *   turned into lines appended after a newline, so line numbers continue
 *   from the file's. `dir` chdirs while loading (as Redis) and stores the
 *   absolute cwd. The error text has no leading/trailing newline; Redis
 *   prints "\n" err "\n" to stderr and exits 1.
 * - config_check_set/apply_set: value is the raw CONFIG SET argument;
 *   multi-value directives (bind, client-output-buffer-limit) split it on
 *   spaces. port, bind, daemonize, databases, logfile, pidfile, tcp-backlog,
 *   enable-debug-command, shards, io-backend, replicaof (slaveof) are
 *   immutable (REPLICAOF changes replicaof_host/port directly); dir is
 *   "protected" as in Redis 7.0's default (refused). loglevel changes must
 *   also be passed to log_set_level by the caller. A CONFIG SET
 *   repl-backlog-size below 16kb stores 16kb (Redis's minimum; the config
 *   file's value is kept as given). The `slave` aliases set the same field
 *   and are listed by CONFIG GET globs, as in Redis 7.0.
 * - config_rewrite: err gets "ERR ..." text ready for the reply. */

#endif
