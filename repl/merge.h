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

#endif
