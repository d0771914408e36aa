/* rdb_load.h: loading an RDB file into the running shards, in parallel.
 *
 * The loading thread (never a shard: the start-up thread, or a thread
 * started for DEBUG RELOAD or a replica's full sync) maps the file, walks
 * its structure and hands each key's bytes to the shard that owns the key
 * in bounded batches; every shard decodes and inserts its own keys on its
 * own heap, so decoding runs on all shards at once. While a load runs every
 * shard has s->loading.active set and answers -LOADING to commands without
 * CMD_LOADING. A load that fails part-way leaves the shards' databases
 * emptied again: a file is loaded whole or not at all. */
#ifndef RK_STORAGE_RDB_LOAD_H
#define RK_STORAGE_RDB_LOAD_H
#include <stddef.h>
#include <stdint.h>
#include "core/msg.h"
#include "core/shard.h"

typedef struct rdb_load_result {
    int rdbver;
    uint64_t keys_loaded;
    uint64_t keys_expired;   /* skipped because their TTL had passed */
    uint64_t bytes;
    int64_t usec;
} rdb_load_result;

/* Blocking; on a non-shard thread, with the shards running. The file
 * replaces the dataset: every shard empties its databases first. Returns 0
 * when loaded, 1 when the file does not exist (nothing done), -1 on
 * failure with err naming the file, the byte offset and the reason (the
 * shards' data is then emptied). Keys whose TTL has passed are skipped and
 * counted, as a Redis master does. One load at a time: a second concurrent
 * call fails. */
int rdb_load_into_shards(const char *path, rdb_load_result *res, char *err, size_t errlen);

/* Keep keys whose TTL has passed (a replica loading its master's file
 * leaves expiry to the master). */
#define RDB_LOAD_KEEP_EXPIRED 1
/* Add to the dataset instead of replacing it: the shards' databases are not
 * emptied first (an AOF's bases, one per shard, or an RDB preamble followed
 * by commands). A key already present fails the load as a duplicate. */
#define RDB_LOAD_KEEP_DATA 2
/* Leave the shards marked loading when the load ends (successfully or
 * not): the caller loads more (AOF commands) and clears the mark itself. */
#define RDB_LOAD_STAY_LOADING 4
/* As rdb_load_into_shards, with RDB_LOAD_* flags. A failed load empties
 * the shards' databases whatever the flags. */
int rdb_load_into_shards_flags(const char *path, int flags, rdb_load_result *res, char *err, size_t errlen);

/* Start-up: before the shard threads start, mark them loading when `path`
 * exists, so that the first client already gets -LOADING. */
void rdb_load_mark_loading(const char *path);

/* The loader's messages to the shards (MSG_LOAD_FIRST..MSG_LOAD_LAST). They
 * are public so that the shard plugin that forwards them (persist.c) can
 * tell an END (loading cleared) from the others. */
enum {
    MSG_LOAD_BEGIN = MSG_LOAD_FIRST, /* mark loading, empty the databases */
    MSG_LOAD_BATCH,                  /* records to decode and insert */
    MSG_LOAD_END,                    /* clear loading; with `empty`, drop what was loaded */
};
_Static_assert((int)MSG_LOAD_END <= (int)MSG_LOAD_LAST, "rdb_load's messages must stay in their range");

/* Shard side: the MSG_LOAD_* messages (installed in g_shard_plugins). */
void rdb_load_handle_msg(rk_shard *s, rk_msg *m);

#endif
