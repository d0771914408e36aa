/* txn.h: ordered multi-shard transactions, the one mechanism every
 * command that spans shards uses (MSET, DEL with many keys, RENAME, FLUSHALL,
 * and later MULTI/EXEC, blocking pops and scripts).
 *
 * A transaction gets a global sequence number and is scheduled on every
 * shard it touches. A shard executes scheduled transactions strictly in
 * sequence order; when one reaches the head of its queue the shard
 * promises it and pauses: it stops running other commands (they wait) and
 * serves only transaction messages. When every participant has promised,
 * the coordinator runs hops (functions executed on each participant while
 * all of them stay paused), then finishes and every participant resumes.
 * So a transaction's effects appear on all shards at once: no client ever
 * observes half of it.
 *
 * Deadlock freedom: a shard refuses to schedule a transaction whose number
 * is lower than one it already promised; the coordinator then cancels it
 * everywhere and retries with a new number. Promises are therefore made in
 * increasing sequence order on every shard, so waits never form a cycle.
 *
 * Ownership: the rk_txn lives on the coordinator's thread. While a hop runs,
 * participants read the txn's immutable inputs (argv, arg, dbid) and each
 * writes only its own out[shard] slot; the coordinator touches the txn again
 * only after all of them reported back through its mailbox. */
#ifndef RK_CORE_TXN_H
#define RK_CORE_TXN_H

#include <stdint.h>
#include "io/buf.h"
#include "io/reply.h"

struct rk_shard;
struct rk_client;
struct rk_command;

typedef struct rk_txn rk_txn;

/* Runs on a participant shard while all participants are paused.
 * It writes what the coordinator needs into *out (this shard's slot). */
typedef void rk_hop_fn(struct rk_shard *s, rk_txn *t, rk_buf *out);
/* Runs on the coordinator after a hop finished on every participant.
 * Must call txn_hop() again or txn_finish(). */
typedef void rk_step_fn(rk_txn *t);

struct rk_txn {
    uint64_t seq;
    uint64_t shard_mask;        /* participants */
    struct rk_shard *coord;     /* coordinator shard */
    struct rk_client *client;   /* may be NULL for internal transactions */
    const struct rk_command *cmd;
    int dbid;
    int resp;
    int argc;
    rk_slice *argv;             /* owned copy of the arguments */
    void *arg;                  /* command-specific input/state (coordinator-owned) */
    void *mk;                   /* multikey.c's state for the command running now */
    void (*arg_free)(void *);
    rk_buf out[64];             /* per-shard results of the last hop (RK_MAX_SHARDS) */
    rk_buf reply;               /* the reply sent to the client at txn_finish */
    rk_reply r;                 /* writer over `reply` with the client's protocol */
    int64_t start_us;
    /* internal */
    int pending;                /* participants yet to answer */
    int rejected;
    int phase;
    rk_hop_fn *hop;
    rk_step_fn *step;
    uint64_t promised_mask;
    uint64_t hop_mask;          /* participants of the running hop */
    rk_txn *parent;             /* non-NULL: a sub-transaction run inside EXEC's transaction */
    int synced;                 /* the durability hop (txn_set_sync_hook) ran */
};

/* Creates a transaction over shard_mask for a client's command (argv is
 * copied). NULL on allocation failure. The client is marked in a txn until finish. */
rk_txn *txn_new(struct rk_client *c, const struct rk_command *cmd, uint64_t shard_mask,
                int argc, const rk_slice *argv);
/* Schedules it; once every participant has promised, runs `hop` on each,
 * then `step` on the coordinator. */
void txn_start(rk_txn *t, rk_hop_fn *hop, rk_step_fn *step);
/* Another hop on the same (still paused) participants. */
void txn_hop(rk_txn *t, rk_hop_fn *hop, rk_step_fn *step);
/* A hop on some of them only (mask must be a non-empty subset of
 * shard_mask); the others stay paused. */
void txn_hop_on(rk_txn *t, uint64_t mask, rk_hop_fn *hop, rk_step_fn *step);
/* Releases the participants, delivers t->reply to the client, frees t. */
void txn_finish(rk_txn *t);
/* Mask with every shard. */
uint64_t txn_all_shards(void);

/* ---- durability before release (docs/aof.md "Multi-shard transactions") ----
 *
 * When needs_sync() returns non-zero at txn_finish of a top-level
 * transaction that ran (not a sub-transaction inside EXEC: only EXEC's own
 * finish), one more hop runs `sync_hop` on every participant before they
 * are released; a participant whose journaled bytes are not yet durable
 * calls txn_defer_answer() there and txn_answer_deferred() once they are.
 * So no participant runs anything after the transaction before it is
 * durable on all of them. Set by the AOF writer (storage/aof_writer.c);
 * both pointers are read atomically by any shard, set from any thread. */
void txn_set_sync_hook(int (*needs_sync)(void), rk_hop_fn *sync_hop);
/* Inside a hop function: do not answer the hop when it returns; the answer
 * is sent by txn_answer_deferred() (on the same shard, later, e.g. from a
 * file completion; or at once from inside the hop, which then answers
 * normally). At most one deferred answer per shard: a shard is paused on
 * one transaction, and its coordinator waits for the answer. */
void txn_defer_answer(struct rk_shard *s);
void txn_answer_deferred(struct rk_shard *s);
/* Start-up only (before clients are served, shards idle; any one thread):
 * the next transaction number is at least `next`. The AOF loader found
 * numbers up to next-1 in the logs; numbers keep increasing across restarts. */
void txn_seq_at_least(uint64_t next);

/* Shard side: called by shard.c for transaction messages and by the
 * dispatcher to know whether commands must wait. */
int txn_shard_paused(const struct rk_shard *s);
int txn_shard_init(struct rk_shard *s);
void txn_handle_msg(struct rk_shard *s, void *msg);

#endif
