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

#endif
