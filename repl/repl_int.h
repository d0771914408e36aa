/* repl_int.h: the replication thread's state, shared by the master side
 * (repl/master.c: replicas, merge, backlog, full syncs, WAIT) and the
 * replica side (repl/replica.c: the master link and the role).
 *
 * Thread: the replication thread only. Nothing here is touched by any
 * other thread; they talk to it with the messages of repl/repl.h. */
#ifndef RK_REPL_REPL_INT_H
#define RK_REPL_REPL_INT_H

#include <stdint.h>
#include "core/config.h"
#include "io/buf.h"
#include "io/loop.h"
#include "io/mailbox.h"
#include "io/reply.h"
#include "repl/backlog.h"
#include "repl/repl.h"

struct repl_master;   /* master.c's private part (replicas, merge, syncs) */
struct repl_replica;  /* replica.c's private part (the link) */

typedef struct repl_server {
    rk_loop *loop;
    rk_mailbox mb;
    rk_config cfg;               /* the thread's own copy (MSG_REPL_CONFIG updates it) */
    int nshards;

    /* The replication history this server's data follows (Redis's
     * server.replid, replid2, master_repl_offset, second_replid_offset).
     * On a master master_repl_offset counts the merged stream's bytes; on
     * a replica it is the offset of the master's stream applied here
     * (every byte fed to the backlog, received from the master link). */
    char replid[41];
    char replid2[41];            /* "0000..." when none */
    long long master_repl_offset;
    long long second_repl_offset; /* -1 when none */
    backlog *backlog;            /* NULL until the first replica (or a master link) needs one */

    int is_replica;              /* replicaof is set (the link may be down) */
    rk_repl_view view;           /* last broadcast to the shards */

    struct repl_master *master;
    struct repl_replica *replica;
} repl_server;

/* ---- master.c, for replica.c ---- */
/* Appends stream bytes at master_repl_offset: to the backlog (created when
 * absent) and to every online replica, and advances the offset. On a
 * replica these are the master's bytes, byte for byte (chains agree on
 * offsets). */
void master_feed_stream(repl_server *srv, const char *p, size_t len);
/* Disconnects every replica of ours (after a full sync from a new master
 * their history is gone: they reconnect and resync). */
void master_drop_replicas(repl_server *srv, const char *why);
/* A new replid (40 hex), replid2 cleared (Redis's changeReplicationId +
 * clearReplicationId2). */
void master_new_replid(repl_server *srv);
/* Promotion (REPLICAOF NO ONE): replid2 = replid, second_repl_offset =
 * master_repl_offset + 1, then a new replid (shiftReplicationId). */
void master_shift_replid(repl_server *srv);
/* Becoming a master (promotion, or start-up as one): start the shards'
 * journal feeds at their current ends, continuing the offset space at
 * master_repl_offset. Becoming a replica: stop them. */
void master_feeds_start(repl_server *srv);
void master_feeds_stop(repl_server *srv);
/* Sends the view to every shard if it changed (or force). */
void repl_broadcast_view(repl_server *srv, int force);
/* Answers a held command message (reply already written). */
void repl_cmd_answer(repl_cmd_msg *m);

/* ---- replica.c, for master.c ---- */
int replica_init(repl_server *srv);          /* at thread start; replicaof from the config */
void replica_free(repl_server *srv);         /* at thread stop: the link closed, its thread joined */
/* REPLICAOF / SLAVEOF host port | NO ONE: writes the reply into m->reply. */
void replica_cmd_replicaof(repl_server *srv, repl_cmd_msg *m);
/* Messages of block 4 that reach the repl thread. */
void replica_thread_msg(repl_server *srv, rk_msg *m);
void replica_cron(repl_server *srv);         /* every tick (100 ms): reconnects, timeouts */
/* INFO replication lines of a replica (master_host .. master_sync_*),
 * appended after "role:slave\r\n". */
void replica_info(repl_server *srv, rk_buf *out);
/* ROLE's reply on a replica. */
void replica_role(repl_server *srv, rk_reply *r);
/* A full sync for our own replicas needs the master client paused
 * (MSG_REPL_MASTER_PAUSE); cb runs on the repl thread once it is, with
 * the offset of the cut. */
typedef void replica_paused_cb(repl_server *srv, void *ud);
int replica_pause_apply(repl_server *srv, replica_paused_cb *cb, void *ud);
/* While paused: the database the master's stream is in at the cut (the
 * snapshot's repl-stream-db, where our replicas' stream continues). */
int replica_stream_db(const repl_server *srv);
void replica_resume_apply(repl_server *srv);

#endif
