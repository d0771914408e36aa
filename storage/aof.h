/* aof.h: the AOF coordinator (issue 5, docs/aof.md): start-up from the AOF,
 * turning it on and off, rewrites (BGREWRITEAOF, automatic, turning on),
 * the manifest commits, INFO persistence's aof_* lines, WAITAOF, and the
 * flush at exit. The per-shard segment writer is aof_writer.c, recovery is
 * aof_load.c, the bases are written by the fork-less snapshot (snapshot.c)
 * into one rdb_sink per shard.
 *
 * Threads: the coordinator state (the manifest as on disk, file sequence
 * numbers, the state OFF / WAIT_REWRITE / ON, the running rewrite) lives on
 * shard 0 and is touched only there. Every shard has its own small rk_aof
 * (WAITAOF bookkeeping, the loading hold, what it last reported to shard
 * 0). The start-up thread talks to shard 0 only through a message and a
 * pipe (aof_startup). */
#ifndef RK_STORAGE_AOF_H
#define RK_STORAGE_AOF_H
#include <stddef.h>
#include "core/command.h"
#include "core/config.h"
#include "core/shard.h"

/* Fills the aof_* members of g_shard_plugins; start-up thread, before the
 * shards start (after persist_install_plugins). */
void aof_install_plugins(void);

/* Start-up thread, before the shard threads start, when appendonly is yes:
 * every shard starts marked loading and stays so until aof_startup released
 * it (clients get -LOADING until the AOF is in ringkv's layout and open). */
void aof_mark_loading(void);

/* Start-up, on a loading thread (never a shard), with the shards running,
 * when appendonly is yes: creates the AOF directory if missing, loads the
 * AOF (aof_load.c; dump.rdb is not loaded, as Redis 7.0), opens every
 * shard's writer, rewrites first when the files are Redis's, a legacy
 * file, another shard count, or absent, commits the manifest, and only
 * then lets clients in. 0, or -1 with err (the server must exit). */
int aof_startup(const rk_config *cfg, char *err, size_t errlen);

/* persist.c's load_msg plugin, after rdb_load.c's MSG_LOAD_END cleared
 * s->loading.active: the start-up keeps it set until the AOF is open. */
void aof_hold_loading(rk_shard *s);

/* persist.c's per-shard life cycle calls these (one on_start/on_stop
 * plugin for storage/). */
int aof_on_start(rk_shard *s);
void aof_on_stop(rk_shard *s);

/* Shard 0, for persist.c: whether an AOF rewrite holds the snapshot slot
 * (running, or started and not yet ended). BGSAVE then answers Redis's
 * "Another child process is active (AOF?)" and a scheduled save waits. */
int aof_rewrite_busy(const rk_shard *s);

/* Shard 0: INFO persistence's aof_* lines (Redis 7.0's names and order),
 * appended at buf + strlen(buf). */
void aof_info_lines(rk_shard *s, char *buf, size_t cap);

/* Any thread: the dataset was replaced wholesale without journaling (a
 * replica loaded its master's RDB): when the AOF is on, shard 0 schedules
 * a rewrite, after the running one if any (Redis 7.0 restarts its AOF
 * after a full sync). -1 when out of memory. */
int aof_request_rewrite(void);

/* Command coordinators (core/server_cmds.c registers them). */
void aof_bgrewriteaof_coord(struct rk_client *c, const rk_command *cmd, int argc, rk_slice *argv);
void aof_waitaof_coord(struct rk_client *c, const rk_command *cmd, int argc, rk_slice *argv);

#endif
