/* rdb_sink.h: the one place a snapshot's bytes go. A sink is a thread of
 * its own that receives the shards' chunks through its mailbox, appends
 * them to a temporary file with io_uring (plain syscalls when io_uring is
 * unavailable), keeps the CRC-64 over the file in order, and at the end
 * writes EOF + CRC, fsyncs, renames the file into place and fsyncs the
 * directory. It then reports to shard 0 (MSG_SAVE_RESULT) and exits.
 *
 * Ownership protocol (why the sink may free itself): every shard of the
 * save sends chunks and finally exactly one chunk marked `last`; a shard
 * touches the sink never again after that. The sink hands every chunk back
 * to its shard (MSG_SNAP_CHUNK_BACK), which frees it and regains a credit.
 * When the sink fails (a full disk, EIO) it keeps accepting and returning
 * chunks without writing them, and asks the shards to stop early
 * (MSG_SNAP_ABORT), until all `last` chunks are in. */
#ifndef RK_STORAGE_RDB_SINK_H
#define RK_STORAGE_RDB_SINK_H
#include <stdint.h>
#include "core/msg.h"
#include "io/buf.h"
#include "io/mailbox.h"
#include "storage/rdb_file.h"

enum {
    MSG_SNAP_CHUNK = MSG_PERSIST_FIRST, /* shard -> sink: bytes to append */
    MSG_SNAP_CHUNK_BACK,                /* sink -> shard: chunk written (or dropped) */
    MSG_SNAP_START,                     /* coordinator -> sink: the header's contents */
    MSG_SNAP_ABORT,                     /* sink -> shard: stop this snapshot early */
    MSG_SAVE_RESULT,                    /* sink -> shard 0: the save ended */
    MSG_SAVE_STATUS,                    /* shard 0 -> every shard: result, for MISCONF and waiters */
    MSG_DIRTY_REPORT,                   /* shard -> shard 0: its changes since the last save */
    MSG_SAVE_REQUEST,                   /* start-up thread -> shard 0: save before shutdown */
    MSG_RELOAD_DONE,                    /* DEBUG RELOAD's loading thread -> the client's shard */
};

typedef struct rdb_sink rdb_sink;

typedef struct snap_chunk {
    rk_msg m;
    uint64_t job;
    int shard;
    int last;            /* the shard's final chunk */
    int failed;          /* last chunk only: the shard could not snapshot (out of memory) */
    uint64_t peak_bytes; /* last chunk only: the shard's peak snapshot memory */
    rk_buf data;         /* freed by the shard when the chunk comes back */
    struct snap_chunk *qnext; /* sink only: chunks that arrived before the start */
} snap_chunk;

typedef struct save_result {
    rk_msg m;
    uint64_t job;
    int ok;
    uint64_t bytes;
    uint64_t cow_bytes;  /* sum of the shards' peak snapshot memory */
    char err[200];
} save_result;

/* Creates the sink for save `job` of `nshards` shards and starts its thread,
 * which opens "temp-<pid>-<job>.rdb" in the current directory and renames it
 * to `final_name` at the end. NULL on failure (nothing started). Failures
 * after the start (open, write, fsync) arrive as the job's MSG_SAVE_RESULT. */
rdb_sink *rdb_sink_start(uint64_t job, int nshards, const char *final_name, int checksum, char *err,
                         size_t errlen);
/* Any thread: hand a chunk to the sink. */
void rdb_sink_send(rdb_sink *k, snap_chunk *c);
/* The coordinator, exactly once per sink: the header's AUX contents. The
 * sink writes nothing before this (chunks wait in its queue). */
void rdb_sink_send_start(rdb_sink *k, const rdb_aux_info *aux);

#endif
