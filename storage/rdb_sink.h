/* rdb_sink.h: the one place a snapshot's bytes go. A sink is a thread of
 * its own that receives the shards' chunks through its mailbox, appends
 * them to a temporary file with io_uring (plain syscalls when io_uring is
 * unavailable), keeps the CRC-64 over the file in order, and at the end
 * writes EOF + CRC, fsyncs, renames the file into place and fsyncs the
 * directory. It then reports to its result shard (MSG_SAVE_RESULT for a
 * save, to shard 0; the AOF rewrite names its own message) and exits.
 *
 * A sink may instead stream the same bytes (header to CRC) into a
 * descriptor (rdb_sink_target.to_fd): the replica snapshot's diskless
 * mode. It writes with blocking writes; a write error (EPIPE: the reader
 * closed its end) fails the sink like a disk error. The reader must read
 * or close its end: a sink blocked on a full descriptor waits for it.
 *
 * Targets: a save has one sink fed by every shard (one RDB file); the AOF
 * rewrite has one sink per shard, each fed by that shard only and writing
 * that shard's base: an RDB file (SINK_FMT_RDB) or RESP commands
 * (SINK_FMT_COMMANDS: no header, no EOF, no CRC; the chunks are the file).
 * Bound: at most RDB_SINK_MAX_LIVE sinks (threads) exist at once, enough
 * for one save and one rewrite of RK_MAX_SHARDS shards; a start beyond it
 * fails.
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
#include "core/shard.h"
#include "io/buf.h"
#include "io/mailbox.h"
#include "storage/rdb_file.h"

enum {
    MSG_SNAP_CHUNK = MSG_PERSIST_FIRST, /* shard -> sink: bytes to append */
    MSG_SNAP_CHUNK_BACK,                /* sink -> shard: chunk written (or dropped) */
    MSG_SNAP_START,                     /* coordinator -> sink: the header's contents */
    MSG_SNAP_ABORT,                     /* sink -> shard: stop this snapshot early */
    MSG_SAVE_RESULT,                    /* sink -> shard 0: the save ended (a save_result) */
    MSG_SAVE_STATUS,                    /* shard 0 -> every shard: result, for MISCONF and waiters */
    MSG_DIRTY_REPORT,                   /* shard -> shard 0: its changes since the last save */
    MSG_SAVE_REQUEST,                   /* start-up thread -> shard 0: save before shutdown */
    MSG_RELOAD_DONE,                    /* DEBUG RELOAD's loading thread -> the client's shard */
};

typedef struct rdb_sink rdb_sink;

/* Record formats of a sink (and of the snapshots feeding it). */
enum { SINK_FMT_RDB = 0, SINK_FMT_COMMANDS = 1 };

/* One save and one AOF rewrite (a sink per shard) may overlap. */
#define RDB_SINK_MAX_LIVE (RK_MAX_SHARDS + 1)

/* Redis's REDIS_AUTOSYNC_BYTES: with incremental_fsync, fdatasync after
 * every this many bytes written, so the final fsync has little to do. */
#define RDB_SINK_AUTOSYNC_BYTES (4u * 1024 * 1024)

/* Where a sink's bytes go and who hears of the end. */
typedef struct rdb_sink_target {
    const char *dir;          /* directory of the temporary and the final file; "." = working dir */
    const char *final_name;   /* a name inside dir */
    int shard_first;          /* the shards feeding this sink: [shard_first, shard_first + nshards) */
    int nshards;
    int format;               /* SINK_FMT_* */
    int checksum;             /* rdbchecksum (RDB format only) */
    int incremental_fsync;    /* fdatasync every RDB_SINK_AUTOSYNC_BYTES written */
    int result_shard;         /* the shard that receives the result message */
    int result_type;          /* its message type: MSG_SAVE_RESULT for saves; the AOF passes its own */
    int aof_timestamp;        /* SINK_FMT_COMMANDS: open with "#TS:<aux ctime>\r\n", as Redis 7.0's
                                 rewriteAppendOnlyFileRio does under aof-timestamp-enabled */
    /* A stream instead of a file (a replica's diskless full sync): with
     * to_fd = 1 the bytes go to out_fd (a socket, a pipe; blocking or not)
     * exactly as the file would hold them; no temporary file, no fsync, no
     * rename (dir and final_name are unused). The sink owns out_fd from a
     * successful start and closes it at its end, ok or not; when the start
     * fails the caller still owns it. A flag rather than "out_fd >= 0"
     * because targets are zero-initialized, and 0 is a valid descriptor. */
    int to_fd;
    int out_fd;
} rdb_sink_target;

typedef struct snap_chunk {
    rk_msg m;
    uint64_t job;
    int shard;
    int last;            /* the shard's final chunk */
    int failed;          /* last chunk only: 0, or why the shard could not snapshot (an errno:
                            ENOMEM; EBUSY when another snapshot runs on the shard) */
    uint64_t peak_bytes; /* last chunk only: the shard's peak snapshot memory */
    rk_buf data;         /* freed by the shard when the chunk comes back */
    struct snap_chunk *qnext; /* sink only: chunks that arrived before the start */
} snap_chunk;

/* A sink's end, sent to the target's result_shard with m.type = result_type. */
typedef struct save_result {
    rk_msg m;
    uint64_t job;
    int shard;           /* the target's shard_first: which sink of the job reports */
    int ok;
    uint64_t bytes;
    uint64_t cow_bytes;  /* sum of the shards' peak snapshot memory */
    char err[200];
} save_result;

/* Creates the sink of job `job` for target t (copied: t's strings need not
 * outlive the call) and starts its thread, which opens
 * "<dir>/temp-<pid>-<job>-<shard_first>.<rdb|aof>" and renames it to
 * "<dir>/<final_name>" at the end, then fsyncs dir (a stream target, to_fd,
 * writes to out_fd instead and closes it). NULL on failure (nothing
 * started, out_fd still the caller's; err says why). Failures after the
 * start (open, write, fsync) arrive as the job's result message with
 * ok = 0. */
rdb_sink *rdb_sink_start_target(uint64_t job, const rdb_sink_target *t, char *err, size_t errlen);
/* A save: every shard into `final_name` in the working directory, RDB
 * format, result MSG_SAVE_RESULT to shard 0. */
rdb_sink *rdb_sink_start(uint64_t job, int nshards, const char *final_name, int checksum, char *err,
                         size_t errlen);
/* Any thread: hand a chunk to the sink. */
void rdb_sink_send(rdb_sink *k, snap_chunk *c);
/* The coordinator, exactly once per sink: the header's AUX contents
 * (aux->aof_base = 1 for an AOF base). The sink writes nothing before this
 * (chunks wait in its queue); a SINK_FMT_COMMANDS sink writes no header
 * but waits for it all the same. */
void rdb_sink_send_start(rdb_sink *k, const rdb_aux_info *aux);

#endif
