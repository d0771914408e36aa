/* snapshot.h: one shard's part of a fork-less, point-in-time snapshot.
 *
 * At the cut (a hop of an all-shard transaction, so every shard cuts at
 * the same moment) the shard freezes the layout of each database's key
 * table: rehashing pauses and resizes wait (dict.h), and the table is seen
 * as pages of DICT_PAGE_BUCKETS buckets. The shard then serializes the
 * pages in small time slices of its loop; before any command changes a
 * page that is not written yet, the dict's before_change hook writes that
 * page first. A CRoaring bitmap per database records the pages written.
 * So the file holds every key exactly as it was at the cut, while the
 * extra memory is only the output buffers and the pages written early.
 *
 * Thread: the owning shard only. The bytes go to the save's rdb_sink in
 * chunks; at most SNAP_CREDITS chunks are in flight per shard. */
#ifndef RK_STORAGE_SNAPSHOT_H
#define RK_STORAGE_SNAPSHOT_H
#include <stdint.h>
#include "core/shard.h"
#include "storage/rdb_sink.h"

#define SNAP_CHUNK_BYTES (256 * 1024)
#define SNAP_CREDITS 4

/* Record formats: RDB key records (each chunk opens with SELECTDB), or the
 * RESP commands that rebuild each key (storage/aof_export.c: SELECT when
 * the db differs from the previous chunk's, then per key its commands and
 * PEXPIREAT for a TTL; the chunks of one shard form one stream, so they
 * must go to a sink of that shard alone). Equal to SINK_FMT_*. */
enum { SNAP_FMT_RDB = SINK_FMT_RDB, SNAP_FMT_COMMANDS = SINK_FMT_COMMANDS };

/* In the cut hop. Takes the cut and starts streaming into `sink`. On
 * allocation failure, or when a snapshot already runs on this shard (one
 * per shard: a save and an AOF rewrite must not overlap), the shard
 * reports a failed part to the sink (its file fails) and returns -1. */
int snapshot_begin(rk_shard *s, rdb_sink *sink, uint64_t job);
/* As snapshot_begin, in record format fmt (SNAP_FMT_*; the sink's format
 * must match). */
int snapshot_begin_fmt(rk_shard *s, rdb_sink *sink, uint64_t job, int fmt);
/* Every loop iteration: the next time slice of serialization. */
void snapshot_before_wait(rk_shard *s);
/* MSG_SNAP_CHUNK_BACK and MSG_SNAP_ABORT. */
void snapshot_handle_msg(rk_shard *s, rk_msg *m);
/* The shard is stopping: give up the running snapshot (the save fails). */
void snapshot_abandon(rk_shard *s);

#endif
