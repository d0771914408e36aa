/* shard.h: a shard thread and everything it owns.
 *
 * Shard i owns the keys whose slot (CRC16 of the key or its {hashtag},
 * mod 16384) satisfies slot % nshards == i, in every database; its event
 * loop and the connections it accepted; its copy of the configuration;
 * its statistics. Nothing here is touched by another thread: other threads
 * send messages to `mailbox` (see shard.c for the message types).
 *
 * g_shards[] itself is written once before the threads start and read-only
 * afterwards. */
#ifndef RK_CORE_SHARD_H
#define RK_CORE_SHARD_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include "io/loop.h"
#include "io/mailbox.h"
#include "core/config.h"
#include "core/db.h"

struct rk_client;
struct rk_txn;

#define RK_MAX_SHARDS 64
#define RK_SLOTS 16384

typedef struct rk_cmdstat {
    uint64_t calls;
    uint64_t usec;
    uint64_t rejected_calls;
    uint64_t failed_calls;
} rk_cmdstat;

typedef struct rk_slowlog_entry {
    uint64_t id;
    int64_t time_sec;
    int64_t duration_us;
    int argc;            /* at most 32 kept, as Redis */
    rk_slice *argv;      /* each argument truncated to 128 bytes, as Redis */
    char *peer;
    char *name;
    struct rk_slowlog_entry *next;
} rk_slowlog_entry;

typedef struct rk_stats {
    uint64_t total_connections_received;
    uint64_t total_commands_processed;
    uint64_t rejected_connections;
    uint64_t expired_keys;
    uint64_t expired_stale_perc_x100;
    uint64_t keyspace_hits;
    uint64_t keyspace_misses;
    uint64_t net_input_bytes;
    uint64_t net_output_bytes;
    uint64_t client_qbuf_limit_disconnections;
    uint64_t client_outbuf_limit_disconnections;
    uint64_t total_error_replies;
    uint64_t unexpected_error_replies;
    uint64_t txn_started;        /* multi-shard transactions coordinated here */
    uint64_t txn_retries;        /* schedule attempts refused by a shard (retried) */
    uint64_t remote_requests;    /* single-shard requests sent to another shard */
    uint64_t evicted_keys;       /* keys removed by maxmemory eviction (evict.c) */
    uint64_t lazyfreed_objects;  /* values freed through the lazy-free queue (lazyfree.c) */
    uint64_t lazyfree_pending_objects; /* gauge, filled by the INFO hop from lazyfree_pending() */
} rk_stats;

/* Progress of an RDB load, as INFO reports it (written by rdb_load.c on
 * the owning shard from the progress the loader sends with each batch). */
typedef struct rk_loading {
    int active;
    int64_t start_ms;
    uint64_t total_bytes, loaded_bytes;
    uint64_t rdb_used_mem;   /* the file's used-mem AUX field */
    int64_t eta_seconds;
} rk_loading;

/* Error statistics: prefix ("ERR", "WRONGTYPE", ...) -> count. Bounded like Redis (128 kinds). */
#define RK_MAX_ERRORSTATS 128
typedef struct rk_errorstat {
    char prefix[32];
    uint64_t count;
} rk_errorstat;

/* What the replication thread last told this shard (MSG_REPL_STATE, see
 * repl/repl.h), for the checks core makes per command: READONLY,
 * MASTERDOWN, NOREPLICAS, and expiry on a replica. Written on this shard
 * only; all zero (a master with no replicas) until the first state. */
typedef struct rk_repl_view {
    int is_replica;     /* replicaof is set: no active expiry; replica-read-only applies */
    int link_up;        /* replica: the master link is up and synced */
    int good_replicas;  /* master: online replicas whose last ACK is within min-replicas-max-lag */
} rk_repl_view;

typedef struct rk_shard {
    int id;
    pthread_t thread;
    rk_loop *loop;
    rk_mailbox mailbox;
    rk_config cfg;               /* this shard's copy */
    rk_db *dbs;                  /* cfg.databases of them */
    int64_t dirty;               /* changes since the last save */
    int64_t cmd_time_ms;         /* cached time of the running command */

    /* Connections accepted here. */
    struct rk_client *clients;   /* doubly linked list head */
    uint64_t nclients;

    /* Ordered-transaction state (txn.c). */
    struct rk_txn_queue *txq;

    /* Statistics. */
    rk_stats stats;
    rk_cmdstat *cmdstats;        /* cmd_total_ids() entries */
    rk_errorstat errorstats[RK_MAX_ERRORSTATS];
    int n_errorstats;
    rk_slowlog_entry *slowlog;   /* newest first */
    uint64_t slowlog_len;

    /* CLIENT PAUSE: until this time commands (all, or only writes) wait. */
    int64_t client_pause_end_ms;
    int client_pause_write_only;
    int64_t start_ms;            /* server start, for uptime */

    /* WATCH versions of watched keys (multi.c) and clients blocked on keys
     * here (blocking.c); NULL until first used. */
    struct rk_watch_table *watch;
    struct rk_block_table *blocking;

    /* Shards whose mailbox this shard owes a wake (flushed before waiting). */
    uint64_t owed_wakes;

    /* Values and whole keyspaces waiting to be freed in small slices
     * (lazyfree.c); NULL until first used. */
    struct rk_lazyfree *lazyfree;

    /* Persistence (storage/). `snap` is the running snapshot's state here
     * (snapshot.c), NULL when none; `persist` is persist.c's per-shard
     * state (save waiters, and on shard 0 the save coordinator).
     * `last_save_failed` mirrors shard 0's last save status, for MISCONF.
     * `loading` is set while an RDB file is loaded into the shards
     * (rdb_load.c): commands without CMD_LOADING get -LOADING. */
    struct rk_snapshot *snap;
    struct rk_persist *persist;
    int last_save_failed;
    rk_loading loading;

    /* The journal of effects (core/journal.h): what the AOF and replication
     * consume. Allocated at shard creation; off until a consumer registers. */
    struct rk_journal *journal;
    /* The AOF: this shard's segment writer (storage/aof_writer.c), NULL
     * while the AOF is off; aof.c's per-shard state (storage/aof.c). */
    struct aof_writer *aofw;
    struct rk_aof *aof;
    /* Replication's per-shard state (repl/repl.h: the journal feed, the
     * role and limits the replication thread broadcasts, the master link's
     * client on a replica); NULL until repl/ installs it in on_start. */
    struct repl_shard *repl;
    rk_repl_view repl_view;

    int active_expire_enabled;
    uint64_t expire_db_cursor;   /* which db the active expiry continues with */
    int stopping;
} rk_shard;

/* What storage/ plugs into every shard loop (the lower layer declares, the
 * higher fills in): handlers for the message ranges MSG_PERSIST_* and
 * MSG_LOAD_*, work for every tick and before every wait. Set once by
 * main.c before the shard threads start; NULL members are skipped. */
typedef struct rk_shard_plugins {
    void (*persist_msg)(rk_shard *s, rk_msg *m);
    void (*load_msg)(rk_shard *s, rk_msg *m);
    void (*on_tick)(rk_shard *s);
    void (*before_wait)(rk_shard *s);
    /* On the shard thread before its loop runs; -1 fails the start-up. */
    int (*on_start)(rk_shard *s);
    /* INFO persistence lines after rdb_changes_since_last_save (shard 0). */
    void (*info_persistence)(rk_shard *s, char *buf, size_t cap);
    /* DEBUG RELOAD, on the client's home shard (EXEC_ALL coordinator). */
    void (*debug_reload)(struct rk_client *c, int argc, rk_slice *argv);
    /* The shard loop is stopping (after the loop returned). */
    void (*on_stop)(rk_shard *s);
    /* The AOF (storage/aof*.c): its messages (MSG_AOF_*), its periodic
     * work, and its flush, which runs after every other before_wait step
     * so that it sees everything this iteration journaled. */
    void (*aof_msg)(rk_shard *s, rk_msg *m);
    void (*aof_on_tick)(rk_shard *s);
    void (*aof_before_wait)(rk_shard *s);
    /* Replication (repl/): its messages (MSG_REPL_*), periodic work, and
     * its journal feed, which runs after the AOF's flush. */
    void (*repl_msg)(rk_shard *s, rk_msg *m);
    void (*repl_on_tick)(rk_shard *s);
    void (*repl_before_wait)(rk_shard *s);
    void (*repl_on_stop)(rk_shard *s);
    /* A replica's master client (core/client.c, CLIENT_MASTER, on shard 0):
     * the raw bytes of every command it dispatched, in stream order (each
     * call one whole command), and its end (the connection is gone). */
    void (*repl_master_applied)(rk_shard *s, const char *p, size_t len);
    void (*repl_master_closed)(rk_shard *s);
    /* INFO (core/server_cmds.c, on the client's home shard): asks the
     * replication thread for a section's raw text (`what`: "replication"
     * or "stats", repl/repl.h's contract); done(ud, text, len) runs later
     * on this shard, exactly once, len 0 when the text is unavailable. 0,
     * or -1 when nothing was asked (done never runs). */
    int (*repl_info)(rk_shard *s, const char *what, void (*done)(void *ud, const char *text, size_t len),
                     void *ud);
    /* CONFIG SET changed a replication directive (on the coordinating
     * shard, after every shard applied it): the replication thread's copy
     * follows. */
    void (*repl_config_set)(rk_shard *s, const char *name, const char *value);
} rk_shard_plugins;
extern rk_shard_plugins g_shard_plugins;

extern rk_shard *g_shards[RK_MAX_SHARDS];
extern int g_nshards;
/* The shard running on this thread (NULL on other threads). */
extern __thread rk_shard *rk_this_shard;

/* Redis Cluster's CRC16 (XMODEM) and slot function, hash tags honoured. */
uint16_t rk_crc16(const char *buf, size_t len);
unsigned rk_key_slot(const char *key, size_t len);
static inline int rk_key_shard(const char *key, size_t len) {
    if (g_nshards == 1) return 0;
    return (int)(rk_key_slot(key, len) % (unsigned)g_nshards);
}

/* Record an error reply's prefix in this shard's errorstats. */
void shard_count_error(rk_shard *s, const char *msg);
/* Append a slowlog entry if duration exceeds the threshold. */
void shard_slowlog_maybe(rk_shard *s, int argc, const rk_slice *argv, int64_t duration_us,
                         const char *peer, const char *name);
void shard_slowlog_reset(rk_shard *s);
/* Creates shard `id` (its dbs, mailbox, config copy); the thread starts in shard_start. */
rk_shard *shard_create(int id, const rk_config *cfg, char *err, size_t errlen);
int shard_start(rk_shard *s, const int *listen_fds, int n_listen_fds, char *err, size_t errlen);
/* Any thread: asks every shard to stop, then joins them (start-up thread). */
void shards_stop_all(void);
void shards_join_all(void);
/* Which backend runs (filled when the loop exists). */
const char *shard_backend_name(const rk_shard *s);
/* The server's run id and start time, set once by main before the shards start. */
extern char g_run_id[41];
extern int64_t g_start_ms;
extern char g_executable[4096];

#endif
