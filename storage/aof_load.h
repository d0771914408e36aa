/* aof_load.h: recovering the dataset from an AOF at start-up.
 *
 * Three sources, looked for in this order:
 *   - ringkv's per-shard manifest dir/<prefix>.manifest (every line has a
 *     `shard`): per shard a base (RDB, or RESP commands) and INCR segments;
 *   - Redis 7.0's manifest at the same path (no `shard` keys): one stream;
 *   - a legacy <prefix> in the working directory (Redis < 7), possibly with
 *     an RDB preamble: one stream.
 * Bases that are RDBs go through the parallel RDB loader (rdb_load.h,
 * without emptying between bases, expired keys kept). Command streams are
 * parsed on the loading thread and executed on the shard owning their keys
 * in bounded batches (MSG_AOF_LOAD_* messages); commands that span shards
 * drain every shard first and run alone (see aof_load.c).
 *
 * Multi-shard transactions (docs/aof.md): each shard's log holds its part of
 * transaction <seq> framed by "#B <seq> <mask>" / "#E <seq>". Before replay
 * the loader cuts every shard's log at the #B of the first transaction that
 * is not complete in every shard of its mask, until no cut changes
 * (aof_txn_cut, a pure function, unit-tested).
 *
 * Threads: aof_load_at_startup runs on one loading thread that is never a
 * shard; aof_load_handle_msg on each shard for its own messages. */
#ifndef RK_STORAGE_AOF_LOAD_H
#define RK_STORAGE_AOF_LOAD_H
#include <stddef.h>
#include <stdint.h>
#include "core/msg.h"
#include "core/shard.h"

/* The loader's messages (MSG_AOF_FIRST+8 .. MSG_AOF_FIRST+15). */
enum {
    MSG_AOF_LOAD_BEGIN = MSG_AOF_FIRST + 8, /* mark loading */
    MSG_AOF_LOAD_BATCH,                     /* commands to execute locally, in order */
    MSG_AOF_LOAD_CROSS,                     /* one command over several shards (to shard 0) */
    MSG_AOF_LOAD_FLUSH,                     /* shard-local FLUSHALL / FLUSHDB / SWAPDB */
    MSG_AOF_LOAD_END,                       /* clear loading; with `empty`, drop everything */
    MSG_AOF_LOAD_LAST_ = MSG_AOF_FIRST + 15,
};

enum aof_source { AOF_SRC_NONE = 0, AOF_SRC_RINGKV = 1, AOF_SRC_REDIS_DIR = 2, AOF_SRC_LEGACY = 3 };

typedef struct aof_shard_tail {   /* where shard k's writer continues (AOF_SRC_RINGKV only) */
    int present;                  /* 0: the shard has no INCR file (the coordinator creates one) */
    char name[256];               /* its last INCR file (inside the AOF directory) */
    long long seq;
    uint64_t start_pos;           /* the file's first byte's position (manifest `start`) */
    uint64_t size;                /* its length after recovery cut it, if it did */
} aof_shard_tail;

typedef struct aof_load_result {
    enum aof_source source;
    int manifest_shards;          /* shards named by a ringkv manifest */
    aof_shard_tail tail[RK_MAX_SHARDS];
    uint64_t max_txn_seq;         /* highest #B/#E sequence number seen (0: none) */
    uint64_t commands;            /* commands replayed */
    uint64_t keys_from_bases;
    int truncated;                /* a tail was cut (aof-load-truncated yes) */
    int64_t usec;
} aof_load_result;

/* Start-up, on the loading thread (not a shard), with the shards running
 * and marked loading (as rdb_load_into_shards requires). dir_path =
 * cfg->appenddirname resolved in the working directory (the server chdir()s
 * to `dir`), prefix = cfg->appendfilename. Finds, in this order: the
 * manifest dir_path/<prefix>.manifest (ringkv's per-shard manifest, or Redis
 * 7.0's), else the legacy <prefix> in the working directory. Loads it into
 * the shards. Returns 0 loaded, 1 nothing found (nothing done), -1 with err
 * naming the file and the byte offset (or manifest line) and the reason;
 * the shards are emptied on failure. With load_truncated (aof-load-truncated
 * yes) a truncated last file is cut back (ftruncate) and loading goes on. */
int aof_load_at_startup(const char *dir_path, const char *prefix, int load_truncated, aof_load_result *res,
                        char *err, size_t errlen);

/* Shard side: the loader's messages. The coordinator's aof_msg plugin
 * dispatches MSG_AOF_LOAD_* to this. */
void aof_load_handle_msg(rk_shard *s, rk_msg *m);

/* ---- the transaction cut rule (pure; exposed for tests) ----------------- */

/* One frame of a shard's log: a #B (its byte offset in the shard's stream
 * of INCR files, counted over all of them) and whether its #E follows. */
typedef struct aof_txn_frame {
    uint64_t seq;
    uint64_t mask;
    uint64_t begin;               /* the #B's position in the shard's log */
    int complete;                 /* its #E is present */
} aof_txn_frame;

typedef struct aof_txn_log {
    const aof_txn_frame *frames;  /* in log order */
    size_t n;
    uint64_t end;                 /* the log's length (its positions run to here) */
} aof_txn_log;

/* Computes where every shard's log must end: cut[k] = the #B position of the
 * first frame of shard k that is incomplete in some shard of its mask (a
 * shard of the mask whose log lacks the frame, or holds it without #E, or
 * holds it beyond that shard's cut), else log[k].end; repeated until no cut
 * moves. A mask naming a shard >= nshards counts as missing there.
 * Returns how many shards were cut (cut[k] < log[k].end). */
int aof_txn_cut(const aof_txn_log *log, int nshards, uint64_t *cut);

#endif
