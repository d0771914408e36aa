/* journal.h: the per-shard journal of effects, the one stream the AOF
 * (issue 5) and replication (issue 6) consume.
 *
 * Owner: the shard thread. Every function here runs on the thread of the
 * shard that owns the journal; a consumer that lives on another thread (the
 * replication thread) is fed by a shard-side reader that copies the bytes
 * into its own messages. No locks.
 *
 * ---- Contents -------------------------------------------------------------
 * A byte stream with one monotonically increasing offset space (starting at
 * 0 when the shard starts). It holds, in execution order:
 *
 *   commands  RESP2 multibulk arrays, exactly as Redis writes them to its AOF
 *             and to its replicas ("*<argc>\r\n" then "$<len>\r\n<bytes>\r\n"
 *             per argument). A `SELECT <db>` command is inserted before a
 *             command whose database differs from the previous command's
 *             (feedAppendOnlyFile / replicationFeedSlaves); after
 *             journal_force_select() (and when a consumer registers) the
 *             next command always gets one.
 *   markers   journal framing, never a Redis command; a marker starts with
 *             '#', which no RESP array does, and ends with "\r\n":
 *               "#B <seq> <mask>\r\n"   begin of this shard's part of the
 *                                       multi-shard transaction <seq>
 *               "#E <seq>\r\n"          end of that part
 *             <seq> is the global transaction sequence number (decimal,
 *             core/txn.h), <mask> the participant mask in lower-case hex
 *             (bit i = shard i). Every shard in <mask> writes both markers,
 *             possibly with no command between them. Between B and E a shard
 *             writes only that transaction's commands (the shard is paused),
 *             and never MULTI/EXEC: the replication merge wraps the parts of
 *             all shards in one MULTI ... EXEC, and recovery applies
 *             transaction <seq> only when every shard of <mask> holds its
 *             complete part (its E marker), else none of it.
 *             A SELECT inside a frame belongs to the frame.
 *
 * ---- Propagation units ----------------------------------------------------
 * Redis 7.0 collects what one command propagates (its own rewrite, several
 * rewrites such as SPOP with a count, keys it expired on the way) and wraps
 * them in MULTI ... EXEC when there is more than one (propagatePendingCommands).
 * journal_unit_begin/end bracket such a unit (they nest; the outermost end
 * emits). A single-shard transaction (journal_txn_begin with a one-bit mask,
 * e.g. a MULTI/EXEC whose writes all landed on this shard) is one unit too.
 * Inside a multi-shard frame nothing is wrapped. Staged bytes are bounded by
 * what one command (or one EXEC) produces.
 *
 * ---- Consumers and the bound on retained bytes -----------------------------
 * At most JOURNAL_MAX_CONSUMERS consumers. Each has a position: the offset up
 * to which it has released the bytes. The journal keeps bytes from the
 * lowest position of any consumer to the end, and never more than `limit`
 * bytes: an append that would retain more marks every consumer still below
 * end - limit as overrun (its reads fail with JOURNAL_EOVERRUN; it must
 * unregister and start again from a fresh snapshot, as a Redis replica whose
 * output buffer overflowed), then drops those bytes. An allocation failure
 * while appending overruns every consumer the same way: a consumer never
 * sees a stream with a hole.
 *
 * With no consumer registered the journal is off: appends return at once
 * without formatting anything, and it retains no bytes (the offset does not
 * advance either: offsets count bytes that consumers could see). */
#ifndef RK_CORE_JOURNAL_H
#define RK_CORE_JOURNAL_H

#include <stddef.h>
#include <stdint.h>
#include "io/buf.h"

#define JOURNAL_MAX_CONSUMERS 8
/* Default bound on retained bytes per shard. */
#define JOURNAL_DEFAULT_LIMIT ((size_t)64 << 20)
/* Items per command when a whole key is written as commands (Redis's
 * AOF_REWRITE_ITEMS_PER_CMD). */
#define JOURNAL_ITEMS_PER_CMD 64

enum {
    JOURNAL_OK = 0,
    JOURNAL_EOVERRUN = -1, /* the consumer fell more than `limit` behind, or bytes were lost to OOM */
    JOURNAL_EBADID = -2,   /* no such consumer */
    JOURNAL_ERANGE = -3,   /* offset outside the retained range */
};

typedef struct rk_journal_consumer {
    int used;
    int overrun;
    uint64_t pos; /* released up to here */
} rk_journal_consumer;

typedef struct rk_journal {
    rk_buf buf;          /* retained bytes: offsets [base, base + buf.len) */
    uint64_t base;       /* offset of buf.data[0] */
    size_t limit;        /* bound on buf.len */
    int last_db;         /* database of the previous command; -1 forces a SELECT */
    int nconsumers;
    rk_journal_consumer cons[JOURNAL_MAX_CONSUMERS];
    int debug_id;        /* the DEBUG JOURNAL consumer, -1 when none */
    /* units (see above) */
    int unit_depth;
    int unit_ops;        /* commands staged in the outermost unit */
    rk_buf unit;         /* staged bytes of the open unit */
    /* transactions */
    uint64_t txn_seq;    /* the open transaction, 0 when none */
    int txn_framed;      /* 1: markers (multi-shard); 0: a unit (single shard) */
} rk_journal;

/* Whether any journal of the process has a consumer: a cheap test for
 * coordinators that would otherwise add work (an extra transaction hop). */
int journal_any_active(void);

void journal_init(rk_journal *j, size_t limit);
void journal_free(rk_journal *j);
static inline int journal_active(const rk_journal *j) { return j && j->nconsumers > 0; }
/* The offset the next byte appended will have. */
static inline uint64_t journal_end(const rk_journal *j) { return j->base + j->buf.len; }

/* ---- producers (no-ops while inactive; 0 / -1 on allocation failure) ---- */
/* One command, formatted as RESP. */
int journal_append_argv(rk_journal *j, int dbid, int argc, const rk_slice *argv);
/* One command given as C strings (for rewrites built in the code). */
int journal_append_cstr(rk_journal *j, int dbid, int argc, const char *const *argv);
/* One or more complete RESP commands already formatted (ncmds of them). */
int journal_append_resp(rk_journal *j, int dbid, const char *p, size_t len, int ncmds);
/* Bytes were lost before reaching the journal (a producer ran out of
 * memory formatting them): every consumer is overrun. */
void journal_lost(rk_journal *j);
/* The next command gets a SELECT whatever the previous database. */
void journal_force_select(rk_journal *j);

void journal_unit_begin(rk_journal *j);
int journal_unit_end(rk_journal *j);
/* This shard's part of transaction seq over the shards in mask. A one-bit
 * mask makes it a unit; more bits write the B marker. Idempotent for the
 * open seq. */
int journal_txn_begin(rk_journal *j, uint64_t seq, uint64_t mask);
/* Ends the part of seq (writing B first when it was never begun, so every
 * shard in mask has both markers). No-op when inactive. */
int journal_txn_end(rk_journal *j, uint64_t seq, uint64_t mask);

/* ---- consumers ---- */
/* A new consumer positioned at the end; -1 when JOURNAL_MAX_CONSUMERS exist. */
int journal_register(rk_journal *j);
void journal_unregister(rk_journal *j, int id);
/* The bytes after the consumer's position: *out points into the journal
 * (valid until the next call on this journal), *from is its offset.
 * JOURNAL_OK, JOURNAL_EOVERRUN or JOURNAL_EBADID. */
int journal_read(const rk_journal *j, int id, uint64_t *from, rk_slice *out);
/* The bytes in [offset, end): JOURNAL_OK or JOURNAL_ERANGE. */
int journal_read_from(const rk_journal *j, uint64_t offset, rk_slice *out);
/* The consumer is done with everything before `upto` (its position only
 * moves forward, up to the end). */
int journal_release(rk_journal *j, int id, uint64_t upto);

/* DEBUG JOURNAL: registers the test consumer on first use (appending
 * nothing to out), afterwards appends what was journaled since the previous
 * call and releases it. -1 on OOM / overrun (the consumer is re-registered). */
int journal_debug_take(rk_journal *j, rk_buf *out);
void journal_debug_stop(rk_journal *j);

/* ---- reading the framing ---- */
enum { JREC_COMMAND = 1, JREC_TXN_BEGIN = 2, JREC_TXN_END = 3 };
typedef struct rk_journal_rec {
    int type;
    size_t len;      /* bytes of the whole record */
    uint64_t seq;    /* markers */
    uint64_t mask;   /* JREC_TXN_BEGIN */
} rk_journal_rec;
/* Splits the next record off [p, p+len): 1 with *rec filled, 0 when the
 * record is incomplete, -1 when the bytes are not journal records. */
int journal_next_record(const char *p, size_t len, rk_journal_rec *rec);

/* ---- whole keys ---- */
struct rk_obj;
/* Appends commands that rebuild key from nothing in dbid: its value (SET,
 * or DEL then RPUSH/SADD/HSET/ZADD in batches of JOURNAL_ITEMS_PER_CMD) and
 * its TTL (PEXPIREAT, absolute ms; expire_ms < 0: none). */
int journal_append_key_state(rk_journal *j, int dbid, rk_slice key, const struct rk_obj *o, int64_t expire_ms);

#endif
