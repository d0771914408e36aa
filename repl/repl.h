/* repl.h: replication's public face (issue 6): the replication thread's
 * life cycle, and every message that crosses between the shards and it.
 *
 * Threads (docs/replication.md):
 *   - the replication thread ("repl thread", repl/master.c) owns the merger,
 *     the backlog, the replids and offsets, the replicas' sockets (on its own
 *     rk_loop), and on a replica the role state and the master link's
 *     bookkeeping;
 *   - the master link thread (repl/replica.c) does a replica's handshake and
 *     transfer with blocking I/O, then hands the socket to shard 0;
 *   - shards: the journal feed (repl/feed.c), the commands (repl/commands.c),
 *     and on shard 0 the master client of a replica (core/client.c +
 *     repl/replica_shard.c).
 * A message belongs to one thread at a time (io/mailbox.h). Every message
 * below names its direction; its sender allocates it, the final receiver
 * frees it unless it says "comes back".
 *
 * Which messages arrive where: types in MSG_REPL_FIRST..MSG_REPL_LAST
 * (core/msg.h) reaching a shard are routed by repl/shard.c to the owner of
 * their block below; every other message goes to the repl thread's mailbox
 * (repl_mailbox()). */
#ifndef RK_REPL_REPL_H
#define RK_REPL_REPL_H

#include <stdint.h>
#include "core/config.h"
#include "core/msg.h"
#include "core/shard.h"
#include "io/buf.h"
#include "io/mailbox.h"
#include "storage/persist.h"

/* ---- life cycle (start-up thread) ----------------------------------------- */

/* Installs the shard plugins (repl_msg, repl_on_tick, repl_before_wait and
 * the on_start part that allocates s->repl). Before the shards start. */
void repl_install_plugins(void);
/* Starts the replication thread with its own copy of cfg, after the shards
 * started (and after loading: a `replicaof` in the config starts the link).
 * 0, or -1 with err. */
int repl_start(const rk_config *cfg, char *err, size_t errlen);
/* Stops and joins it (closes replica sockets and the master link). Before
 * the shards stop. */
void repl_stop(void);
/* Any thread: the repl thread's mailbox (valid between start and stop). */
rk_mailbox *repl_mailbox(void);
/* Any thread: push m to the repl thread. */
void repl_send(rk_msg *m);

/* ---- block 1 (144..151): commands, state, hand-off — repl/commands.c ------ */
enum {
    MSG_REPL_CMD = MSG_REPL_FIRST, /* home shard -> repl thread: run argv there; comes back as CMD_DONE */
    MSG_REPL_CMD_DONE,             /* repl thread -> home shard: reply ready (client_txn_done) */
    MSG_REPL_STATE,                /* repl thread -> every shard (one allocation each): rk_repl_view */
    MSG_REPL_HANDOFF,              /* shard -> repl thread: a replica's socket after SYNC/PSYNC */
    MSG_REPL_CONFIG,               /* shard 0 -> repl thread: CONFIG SET of a replication directive */
};

/* A replication command for the repl thread (REPLICAOF, SLAVEOF, ROLE, WAIT,
 * INFO's replication section, FAILOVER is not implemented). The repl thread
 * writes the whole reply (RESP `resp`) into `reply` and sends the message
 * back with type MSG_REPL_CMD_DONE; it may hold it (WAIT) but answers every
 * one exactly once, also at shutdown. argv points into the same allocation
 * (repl_cmd_msg_new). Commands by argv[0] (any case):
 *   replicaof / slaveof host port | NO ONE, role, wait numreplicas timeout:
 *     as Redis 7.0, reply in RESP `resp`;
 *   internal, for INFO (never sent by clients; the reply is raw text, not RESP):
 *     {"info", "replication"}: the body of the Replication section (Redis
 *       7.0.15's fields and order, from role: on, "\r\n" after each line,
 *       no "# Replication" header);
 *     {"info", "stats"}: "sync_full:N\r\nsync_partial_ok:N\r\nsync_partial_err:N\r\n". */
typedef struct repl_cmd_msg {
    rk_msg m;
    int home;                      /* the client's shard */
    struct rk_client *client;      /* dereferenced on home only */
    uint64_t client_id;
    int resp;                      /* 2 or 3 */
    int argc;
    rk_slice *argv;
    rk_buf reply;
    /* WAIT: the journal positions of every shard when it was asked (filled
     * by the repl thread, see MSG_REPL_POSITIONS). */
    void *wait_state;
    struct repl_cmd_msg *next;     /* repl thread's private list */
} repl_cmd_msg;
repl_cmd_msg *repl_cmd_msg_new(int argc, const rk_slice *argv);
void repl_cmd_msg_free(repl_cmd_msg *m);

/* MSG_REPL_STATE: the view every shard keeps (copied into s->repl_view). */
typedef struct repl_state_msg {
    rk_msg m;
    rk_repl_view view;
} repl_state_msg;

/* MSG_REPL_HANDOFF: after SYNC or PSYNC the client's shard detaches the
 * socket (core/client.h client_detach_socket) and the repl thread adopts
 * it. The replica's REPLCONF values travel with it. */
enum { REPL_CAPA_EOF = 1, REPL_CAPA_PSYNC2 = 2 };
typedef struct repl_handoff_msg {
    rk_msg m;
    int fd;                        /* owned by the message until adopted (closed if refused) */
    int is_psync;                  /* 0: SYNC (always a full sync, old protocol) */
    char replid[41];               /* PSYNC's replid ("?" for none) */
    long long offset;              /* PSYNC's offset (-1 with "?") */
    int capa;                      /* REPL_CAPA_* */
    int listening_port;            /* REPLCONF listening-port, 0 unknown */
    char ip[64];                   /* REPLCONF ip-address, "" = the peer's address */
    char peer[64];                 /* "ip:port" of the socket */
    uint64_t client_id;
    rk_buf surplus;                /* bytes received after the SYNC/PSYNC command */
} repl_handoff_msg;

/* MSG_REPL_CONFIG: "name" "value" as CONFIG SET accepted them. */
typedef struct repl_config_msg {
    rk_msg m;
    char name[64];
    char value[512];
} repl_config_msg;

/* ---- block 2 (152..159): the journal feed — repl/feed.c -------------------- */
enum {
    MSG_REPL_FEED_START = MSG_REPL_FIRST + 8, /* repl thread -> shard: register a journal consumer */
    MSG_REPL_FEED_DATA,                       /* shard -> repl thread: journal bytes; comes back as FEED_BACK */
    MSG_REPL_FEED_BACK,                       /* repl thread -> shard: a credit returns */
    MSG_REPL_FEED_STOP,                       /* repl thread -> shard: unregister */
    MSG_REPL_POSITIONS,                       /* repl thread -> shard -> repl thread: journal end now */
    MSG_REPL_FEED_START_ALL,                  /* repl thread -> shard 0: every shard's FEED_START at one cut */
};
/* Credits per shard: at most this many FEED_DATA in flight, each at most
 * REPL_FEED_CHUNK bytes; a shard out of credits keeps the bytes in its
 * journal (bounded by the journal's limit; beyond it the consumer is
 * overrun and the repl thread must resync every replica). */
#define REPL_FEED_CREDITS 8
#define REPL_FEED_CHUNK (256 * 1024)
typedef struct repl_feed_msg {
    rk_msg m;
    int shard;
    uint64_t epoch;                /* FEED_START's epoch: stale messages of an older feed are dropped */
    uint64_t from;                 /* journal offset of data[0]; START: where it began */
    int overrun;                   /* 1: the consumer was overrun, no data; the feed stopped itself */
    rk_buf data;
} repl_feed_msg;
/* MSG_REPL_FEED_START_ALL: shard 0 runs an all-shard transaction whose
 * hop hands start[k] to shard k's feed, so every feed begins at the same
 * point of the execution order: a multi-shard transaction is then either
 * wholly before the feeds or wholly in them (the merge needs every part). */
typedef struct repl_feed_start_all_msg {
    rk_msg m;
    int n;
    repl_feed_msg *start[RK_MAX_SHARDS];
} repl_feed_start_all_msg;
typedef struct repl_pos_msg {
    rk_msg m;
    int shard;
    uint64_t epoch;
    uint64_t journal_end;          /* filled by the shard after it sent its feed up to here */
    uint64_t token;                /* the repl thread's own (which WAIT/cut asked) */
} repl_pos_msg;

/* ---- block 3 (160..167): a snapshot for a full sync -------------------
 * Owned by storage/persist.c: the types and persist_repl_snap_msg are in
 * storage/persist.h; repl/shard.c routes them to persist_repl_snapshot_msg. */

/* ---- block 4 (168..183): a replica's master link — repl/replica*.c -------- */
enum {
    MSG_REPL_MASTER_ATTACH = MSG_REPL_FIRST + 24, /* repl thread -> shard 0: adopt the master socket */
    MSG_REPL_APPLIED,         /* shard 0 -> repl thread: master stream bytes applied, in order */
    MSG_REPL_MASTER_LOST,     /* shard 0 -> repl thread: the master client is gone (reploff) */
    MSG_REPL_MASTER_PAUSE,    /* repl thread -> shard 0: stop applying; comes back as PAUSED when idle */
    MSG_REPL_MASTER_PAUSED,   /* shard 0 -> repl thread: nothing in flight; reploff exact */
    MSG_REPL_MASTER_RESUME,   /* repl thread -> shard 0 */
    MSG_REPL_MASTER_DETACH,   /* repl thread -> shard 0: close the master client (answered by LOST) */
    MSG_REPL_LINK_EVENT,      /* link thread -> repl thread: handshake / transfer progress and results */
    MSG_REPL_BLOCK4_LAST_ = MSG_REPL_FIRST + 39,
};
/* Shard 0: the replica side's messages (repl/replica_shard.c), its tick
 * (ACK every second, repl-timeout on the master link), and REPLCONF
 * GETACK from the master client: "REPLCONF ACK <reploff>" now. The
 * master-client hooks of rk_shard_plugins are installed by
 * replica_shard_install(). */
void replica_shard_msg(rk_shard *s, rk_msg *m);
void replica_shard_on_tick(rk_shard *s);
void replica_shard_send_ack(rk_shard *s);
void replica_shard_install(void);
/* MSG_REPL_MASTER_ATTACH. */
typedef struct repl_attach_msg {
    rk_msg m;
    int fd;                        /* the master socket, handshake and transfer done */
    long long reploff;             /* the offset of the last byte applied (the stream continues at +1) */
    int dbid;                      /* the database the stream continues in: after a partial sync the
                                      previous link's (Redis's cached master client), after a full sync
                                      the RDB's repl-stream-db (a chained replica's stream has no
                                      SELECT at the cut) */
    rk_buf surplus;                /* stream bytes already read past the transfer */
} repl_attach_msg;
/* MSG_REPL_APPLIED: bytes of the master stream, whole commands. */
typedef struct repl_applied_msg {
    rk_msg m;
    rk_buf data;
} repl_applied_msg;
/* MSG_REPL_MASTER_LOST / MSG_REPL_MASTER_PAUSED / _PAUSE / _RESUME / _DETACH. */
typedef struct repl_master_ctl_msg {
    rk_msg m;
    long long reploff;             /* LOST and PAUSED: applied up to here */
    int dbid;                      /* LOST and PAUSED: the stream's database there (its last SELECT) */
} repl_master_ctl_msg;

/* ---- the per-shard part (feed.c) ----------------------------------------- */
void repl_feed_handle_msg(rk_shard *s, rk_msg *m);
void repl_feed_before_wait(rk_shard *s);
void repl_feed_on_stop(rk_shard *s);
/* commands.c's shard-side messages (CMD_DONE, STATE), and the hooks it
 * fills in for core (INFO's replication lines, CONFIG SET forwarding...),
 * installed by repl_install_plugins. */
void repl_cmd_handle_msg(rk_shard *s, rk_msg *m);
void repl_commands_install(void);

extern const struct rk_command rk_repl_commands[];

#endif
