/* merge.h: the replication stream merge. N shard journals in, one Redis
 * replication stream out (issue 6).
 *
 * Owner: the replication thread. Pure state machine: no I/O, no threads, no
 * locks. The caller copies each shard's journal bytes in (repl_merge_feed, in
 * order, split anywhere) and drains the merged stream (repl_merge_step).
 *
 * ---- What comes out -----------------------------------------------------
 * Exactly the bytes a Redis replica expects on its master link:
 *   - RESP commands; one shard's commands keep their order, commands of
 *     different shards outside transactions interleave (round robin over the
 *     shards, each shard's ready run at a time).
 *   - The merged stream has its own current database: `SELECT <db>` (Redis's
 *     own formatting, "*2\r\n$6\r\nSELECT\r\n$<n>\r\n<db>\r\n") goes before
 *     a command whose database differs from the last one emitted, and before
 *     the very first command. The shards' SELECTs only set the database of
 *     their following commands; they are never copied. MULTI and EXEC never
 *     get a SELECT (as in Redis 7.0, the SELECT goes inside the MULTI).
 *   - A single-shard MULTI ... EXEC unit of one journal is copied whole and
 *     contiguous (nothing of another shard inside it).
 *   - A multi-shard transaction (`#B <seq> <mask>` ... `#E <seq>` in every
 *     shard of mask) comes out as MULTI, the parts in shard order 0..63,
 *     EXEC, once every participant has reached its #B (all its earlier
 *     records emitted) AND holds its whole part up to its #E: the merged
 *     stream never stalls inside a MULTI. A transaction without commands
 *     emits nothing.
 *   - repl_merge_offset() counts the bytes emitted (master_repl_offset).
 *
 * ---- Invariants checked (a violation is REPL_MERGE_EPROTO, sticky) -------
 *   - the bytes are journal records (journal_next_record);
 *   - a command other than MULTI/EXEC/SELECT comes after a SELECT of its shard;
 *   - MULTI/EXEC pair up, never nest, never hold markers, never appear in a frame;
 *   - #B: no frame open, seq > every earlier seq of that shard, mask within
 *     the shards and at least two bits, the shard in its own mask;
 *   - #E: matches the open #B;
 *   - every participant of seq reaches #B seq with the same mask (a
 *     participant whose next #B has a higher seq skipped it: EPROTO).
 * Transaction numbers increase along every shard's stream, so the lowest
 *   waiting transaction can always complete: waiting never deadlocks.
 *
 * ---- Bounds ---------------------------------------------------------------
 * Per shard at most max_pending bytes are buffered (fed and not yet
 * emitted, partial record included). A feed that would exceed it returns
 * REPL_MERGE_EBOUND and takes nothing; the caller may step and retry, or
 * (when the shard waits for a transaction whose other parts never come, or a
 * single record is larger than the bound) drop the replicas and resync.
 * Memory per shard is below 2 * max_pending + the largest feed (emitted
 * bytes are compacted away once they are at least as many as the live ones).
 * The output buffer grows by what one step emits; the caller drains it. */
#ifndef RK_REPL_MERGE_H
#define RK_REPL_MERGE_H

#include <stddef.h>
#include <stdint.h>

#include "io/buf.h"

#define REPL_MERGE_MAX_SHARDS 64

enum {
    REPL_MERGE_OK = 0,
    REPL_MERGE_EBOUND = -1,  /* feed: max_pending would be exceeded; nothing taken */
    REPL_MERGE_EPROTO = -2,  /* not journal records / a broken invariant; sticky */
    REPL_MERGE_ENOMEM = -3,  /* allocation failed; nothing changed, may retry */
};

typedef struct repl_merge repl_merge;

/* 1 <= nshards <= REPL_MERGE_MAX_SHARDS, max_pending > 0; NULL on bad
 * arguments or allocation failure. */
repl_merge *repl_merge_new(int nshards, size_t max_pending);
void repl_merge_free(repl_merge *m);

/* Appends the next len bytes of shard's journal. REPL_MERGE_OK, _EBOUND,
 * _EPROTO (also for a shard out of range) or _ENOMEM. */
int repl_merge_feed(repl_merge *m, int shard, const char *p, size_t len);

/* Appends to out everything that can be emitted now. REPL_MERGE_OK,
 * _EPROTO, or _ENOMEM (out and the merge keep a consistent state: what was
 * appended before the failure is counted in the offset; call again). */
int repl_merge_step(repl_merge *m, rk_buf *out);

/* Bytes emitted so far. */
uint64_t repl_merge_offset(const repl_merge *m);

/* After a step: 1 when some shard stands at the #B of a transaction that
 * cannot be emitted yet (a participant has not reached it or not fed its
 * whole part), so that shard's later records wait too. */
int repl_merge_blocked(const repl_merge *m);

/* Bytes buffered for shard (fed, not emitted). */
size_t repl_merge_pending(const repl_merge *m, int shard);

/* A short description of the first EPROTO, "" when none. */
const char *repl_merge_error(const repl_merge *m);

/* ---- stop points (a full sync's cut) ---------------------------------------
 * A snapshot's cut lies at a record boundary of every shard's stream,
 * outside any MULTI unit and any multi-shard frame (the cut is a hop of an
 * all-shard transaction, ordered with every other one). With stops set, no
 * record at or past shard k's stop is emitted until every shard consumed
 * exactly up to its stop: then repl_merge_at_stop() says so and the offset
 * is the cut's offset (+FULLRESYNC). Positions count the bytes of a shard's
 * stream since its first feed (repl_merge_consumed).
 * A stop that splits a record, a unit or a frame is EPROTO (sticky), as the
 * invariants above. */
/* Bytes of shard's stream fully consumed (emitted, or skipped as SELECT /
 * markers): everything before this position is in the output. 0 for a
 * shard out of range. */
uint64_t repl_merge_consumed(const repl_merge *m, int shard);
/* Sets shard's stop. REPL_MERGE_OK, or -1 when the shard is out of range or
 * already consumed past stop (the caller must not step between the cut and
 * setting its stops). Stops of shards never set are their current
 * consumed position. */
int repl_merge_set_stop(repl_merge *m, int shard, uint64_t stop);
/* 1 when stops are set and every shard consumed exactly up to its stop. */
int repl_merge_at_stop(const repl_merge *m);
/* Drops every stop: emission continues. */
void repl_merge_clear_stop(repl_merge *m);
/* Consumes shard's complete records before upto without emitting them,
 * each shard on its own (no transaction pairing; SELECTs still set the
 * shard's database). For a stream's first cut: the feeds registered at
 * slightly different moments, so a transaction may have a part in one
 * shard's stream and none in another's; nothing before the first cut goes
 * to any replica. REPL_MERGE_OK, or EPROTO when upto splits a record or a
 * MULTI unit (or the shard is out of range). */
int repl_merge_discard(repl_merge *m, int shard, uint64_t upto);
/* The next command emitted gets a SELECT (a replica that just loaded an RDB
 * has database 0 selected whatever the stream said before). */
void repl_merge_force_select(repl_merge *m);

#endif
