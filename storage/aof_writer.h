/* aof_writer.h: the per-shard AOF segment writer (issue 5, docs/aof.md
 * "Journal -> segments").
 *
 * Every shard appends its own journal (core/journal.h) to its own current
 * incremental segment through its own loop's ring (io/loop.h file writes):
 * one write per loop iteration, fsync per appendfsync (always: linked to
 * the write, and the iteration's replies are held by the loop's output gate
 * until that fsync completed -- group commit; everysec: a timer fsync, never
 * two in flight, writes postponed up to 2 s behind a slow fsync; no: never).
 * Write and fsync errors keep the bytes, refuse writes with Redis's MISCONF
 * error, retry every second and resume.
 *
 * Owner: the shard thread. Every function runs on the shard that owns
 * s->aofw; callbacks run there too (loop completions). No locks. */
#ifndef RK_STORAGE_AOF_WRITER_H
#define RK_STORAGE_AOF_WRITER_H

#include <stddef.h>
#include <stdint.h>
#include "core/msg.h"
#include "core/shard.h"

/* Bounds (see aof_writer.c for why these values). */
#define AOF_WRITER_MAX_WAITERS 1024          /* aof_writer_when_durable callbacks pending */
#define AOF_WRITER_MAX_INFLIGHT 8            /* file ops (writes, fsyncs) in flight */
#define AOF_WRITER_MAX_BUFFERED ((size_t)16 << 20) /* journal bytes copied and not yet written */

typedef struct aof_writer aof_writer;
typedef struct aof_writer_info {
    uint64_t pos;            /* bytes of this shard's incremental stream written (docs/aof.md "Positions") */
    uint64_t file_start;     /* position at the start of the current INCR file */
    uint64_t buffered;       /* journaled bytes not yet handed to the kernel (aof_buffer_length) */
    uint64_t durable_pos;    /* position up to which an fsync completed */
    uint64_t delayed_fsync;  /* aof_delayed_fsync count */
    int write_error;         /* 0, or the errno of the failing write/fsync (aof_last_write_status:err while set) */
    int64_t last_fsync_ms;
    int broken;              /* the journal overran the writer: the file misses commands;
                                writes are refused until a rewrite switches files */
    uint64_t next_pos;       /* position after every byte handed to the writer (written or not) */
} aof_writer_info;

/* Opens (creating if needed) dirpath/name for appending at its current size,
 * registers a journal consumer on s->journal (journal_force_select so the
 * file starts with a SELECT), sets s->aofw. `start_pos` is the position of
 * the file's first byte (so the position after open is start_pos + its
 * current size). 0, or -1 with err. */
int aof_writer_open(rk_shard *s, const char *dirpath, const char *name, uint64_t start_pos,
                    char *err, size_t errlen);
/* Called inside a transaction hop (shard paused) at a rewrite's cut: every
 * byte journaled before this call goes to the current file, every later
 * byte to dirpath/new_name (created, empty, opened now; dirpath as given to
 * open). The old file is fdatasync'ed and closed once its last write
 * completed. *cut_pos = the position of the cut (= start of the new file).
 * 0 / -1 with err (nothing changed then). */
int aof_writer_switch(rk_shard *s, const char *new_name, uint64_t *cut_pos, char *err, size_t errlen);
/* AOF turned off or the shard stops: writes what is buffered, fsyncs
 * (blocking), closes, unregisters the consumer, frees, s->aofw = NULL.
 * Releases any output still held. Waiters are called (the bytes are as
 * durable as they will get). */
void aof_writer_close(rk_shard *s);
/* Each loop iteration, after every command of the iteration. */
void aof_writer_before_wait(rk_shard *s);
/* Every tick (hz): everysec fsync, retries after errors. */
void aof_writer_on_tick(rk_shard *s);
/* Non-zero while the shard must refuse writes because the AOF cannot be
 * written; fills msg with Redis's text
 * "MISCONF Errors writing to the AOF file: <strerror>". */
int aof_writer_refuses_writes(const rk_shard *s, char *msg, size_t cap);
void aof_writer_get_info(const rk_shard *s, aof_writer_info *out);
/* Any thread: 0 while every shard can write its AOF, else the errno of the
 * latest failure (what MISCONF and aof_last_write_status report, without
 * waiting for a periodic report). */
int aof_writer_global_error(void);
/* cb(s, ud) runs (on this shard, from a completion) once an fsync covering
 * every byte journaled before this call has completed -- at once
 * (synchronously, before returning) if nothing is pending. Submits the
 * write+fsync now rather than waiting for the next policy fsync. At most
 * AOF_WRITER_MAX_WAITERS waiters; -1 when full (or no writer). */
int aof_writer_when_durable(rk_shard *s, void (*cb)(rk_shard *s, void *ud), void *ud);
/* Non-zero when bytes journaled so far are not yet covered by a completed
 * fsync (what aof_writer_when_durable would wait for). */
int aof_writer_pending(const rk_shard *s);
/* no-appendfsync-on-rewrite support: the coordinator says when a rewrite runs. */
void aof_writer_set_rewriting(rk_shard *s, int on);

/* Group commit across shards: shard_exec_request (core/client.c) must call
 * this before sending a request's reply home. Returns 1 when the writer
 * keeps the reply (under appendfsync always, while bytes journaled so far
 * are not durable, or while earlier replies are held): it is sent with
 * shard_send(req->home, ...) once the fsync covering this iteration
 * completed. 0: send it now. Held replies are linked through m.next (no
 * allocation); their number is bounded by the requests in flight. */
int aof_writer_hold_reply(rk_shard *s, rk_req *req);

/* Durable multi-shard transactions: installs the txn sync hook (core/txn.h
 * txn_set_sync_hook) and turns it on (on = 1: the AOF counts as on) or off.
 * While it is on and any shard runs appendfsync always, a top-level
 * transaction's participants make their journaled bytes durable before it
 * is finished (a deferred hop answer); with no-appendfsync-on-rewrite in
 * effect on a participant, that one answers at once. Process-wide; any
 * thread (atomics). */
void aof_writer_sync_txns(int on);

#endif
