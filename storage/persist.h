/* persist.h: RDB saving as the user sees it: SAVE, BGSAVE [SCHEDULE],
 * LASTSAVE, SHUTDOWN [NOSAVE|SAVE], save points, MISCONF after a failed
 * save, INFO persistence, and the save before exiting on SIGTERM.
 *
 * One save at a time, coordinated by shard 0 (its rk_persist holds the
 * coordinator state). A save is an all-shard transaction: a hop on shard 0
 * claims the save slot, a hop on every shard takes the cut (snapshot.c);
 * the sink (rdb_sink.c) reports the end to shard 0, which tells every
 * shard (MSG_SAVE_STATUS): they then reset their change counters, update
 * their MISCONF flag and answer their waiting SAVE/SHUTDOWN clients. */
#ifndef RK_STORAGE_PERSIST_H
#define RK_STORAGE_PERSIST_H
#include <stddef.h>
#include "core/command.h"
#include "core/msg.h"
#include "core/shard.h"

/* sigqueue() value with SIGTERM: the shutdown's save (if any) is done. */
#define RK_SHUTDOWN_SAVED 0x5afe

extern const rk_command rk_persist_commands[];

/* Fills g_shard_plugins with storage's hooks; start-up thread, before the
 * shards start. */
void persist_install_plugins(void);

/* The start-up thread and shard 0 hand-shake over a pipe with one verdict
 * byte: shard 0 sends it (any thread may), the start-up thread blocks for
 * it. wait returns 0 when the pipe ended without one. */
void persist_verdict_send(int fd, char verdict);
char persist_verdict_wait(int fd);

/* The start-up thread, on SIGTERM/SIGINT: asks shard 0 to save when save
 * points are configured, and waits. 0 when the server may exit (saved, or
 * nothing to save), -1 when the save failed. */
int persist_save_before_exit(void);

/* Shard 0: whether a save holds the snapshot slot (one snapshot per shard
 * at a time; the AOF rewrite shares it, storage/aof.c). */
int persist_snapshot_busy(const rk_shard *s);
/* Shard 0: the AOF rewrite gave the slot back: the saves that waited for
 * it (SAVE, SHUTDOWN, the exit save, DEBUG RELOAD) start now. */
void persist_snapshot_slot_freed(void);

/* ---- a snapshot for replicas (issue 6) ------------------------------------
 * The replication thread asks shard 0 for one snapshot of every shard for
 * its replicas' full sync. Disk-based: the sink writes an RDB file named
 * `path` (in the working directory; Redis uses dbfilename) through a
 * temporary file, fsync and rename, and it counts as a BGSAVE (as Redis's
 * replication BGSAVE to disk): LASTSAVE, the change counter, rdb_saves,
 * rdb_last_bgsave_status and MISCONF follow it. Diskless: the sink writes
 * the RDB stream (header to CRC, no fsync, no rename) to `fd` with blocking
 * writes and closes it at the end (the repl thread reads the other end of a
 * socketpair; a write error such as EPIPE fails the sink); it touches none
 * of those (as Redis's socket child). Both show as rdb_bgsave_in_progress.
 * The snapshot shares the snapshot slot with BGSAVE and the AOF rewrite:
 * when it is taken (or the shards are loading) the request comes back at
 * once with ok = 0, busy = 1 (the repl thread retries later); SAVE, BGSAVE
 * and BGREWRITEAOF meanwhile behave as beside a BGSAVE.
 * At the cut every shard k reads journal_end(its journal) into cut_pos[k]
 * (the replication feed's consumer was registered before the request, so
 * the positions are in the feed's stream; no transaction frame is open at
 * the cut: the cut is a transaction hop).
 * The request comes back to `reply_to` as MSG_REPL_SNAP_CUT (ok = 1, or 0
 * with err; after ok = 0 nothing more comes). After ok = 1 the sink's end
 * reaches shard 0 (as a MSG_SAVE_RESULT, which frees the slot) and is then
 * passed on to `reply_to` as a save_result (rdb_sink.h, its own allocation,
 * the receiver frees it) with m.type = MSG_REPL_SNAP_DONE and job = `job`:
 * ok, bytes (the RDB's length: diskless, what went into fd), err. It is sent
 * once the slot is free again, so a new request made on hearing it is not
 * refused as busy. Thread: shard 0 handles the request; fields marked
 * "back" are written there. */
enum {
    MSG_REPL_SNAP_REQ = MSG_REPL_FIRST + 16, /* repl thread -> shard 0; comes back as SNAP_CUT */
    MSG_REPL_SNAP_CUT,                       /* shard 0 -> reply_to */
    MSG_REPL_SNAP_DONE,                      /* shard 0 -> reply_to: the sink's save_result */
};
typedef struct persist_repl_snap_msg {
    rk_msg m;
    rk_mailbox *reply_to;
    uint64_t job;
    int diskless;
    int fd;                        /* diskless: the write end; the sink owns it once ok = 1 (closed by
                                      shard 0 when the request fails) */
    char path[256];                /* disk: the final file name */
    /* RDB AUX fields Redis writes for a replication snapshot (rdbSaveInfoAuxFields
     * with an rsi): repl-stream-db, repl-id, repl-offset */
    char repl_id[41];
    long long repl_offset;         /* unknown at the request: written as given (-1 leaves the three out) */
    int repl_stream_db;            /* with repl_offset >= 0; 0 is Redis's value when no SELECT was sent */
    /* back */
    int ok;
    int busy;
    char err[200];
    uint64_t cut_pos[RK_MAX_SHARDS];
} persist_repl_snap_msg;
/* Shard 0: MSG_REPL_SNAP_REQ (routed here by repl/shard.c for every type
 * of this block; CUT and DONE never reach a shard). */
void persist_repl_snapshot_msg(rk_shard *s, rk_msg *m);

#endif
