/* txn.c: ordered multi-shard transactions (the protocol is described in txn.h).
 *
 * Thread: coordinator functions (txn_new/start/hop/finish and the
 * READY/REJECT/HOP_DONE handlers) run on the coordinator's shard; the
 * SCHEDULE/CANCEL/HOP/RELEASE handlers run on each participant.
 *
 * Per-shard state (rk_txn_queue), owned by the shard thread:
 *   queue     scheduled transactions sorted by seq;
 *   promised  the head once promised; non-NULL exactly while the shard is paused;
 *   max_promised_seq  never decreases: a SCHEDULE below it is rejected;
 *   deferred  requests from other shards that arrived while paused (FIFO);
 *   stalled   local clients whose input waits for the pause to end;
 *   hop_msg   the HOP being answered while its answer is deferred
 *             (txn_defer_answer), at most one: the coordinator waits for it.
 * Messages between one sender and one receiver keep their order (mailbox
 * FIFO per producer), so a CANCEL for an old seq always precedes the
 * SCHEDULE of the retry. Replies for a superseded seq are ignored. */
#include <assert.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/client.h"
#include "core/command.h"
#include "core/log.h"
#include "core/msg.h"
#include "core/multikey.h"
#include "core/shard.h"
#include "core/txn.h"

typedef struct txq_entry {
    struct txq_entry *next;
    rk_txn *t;
    uint64_t seq;
    int coord;
} txq_entry;

struct rk_txn_queue {
    txq_entry *queue;
    txq_entry *promised;
    uint64_t max_promised_seq;
    rk_msg *deferred_head, *deferred_tail;
    rk_client **stalled;
    size_t n_stalled, cap_stalled;
    rk_txn_msg *hop_msg;     /* the running hop's message (in_hop) or the deferred one */
    int in_hop;              /* inside exec->hop() */
    int answer_deferred;     /* txn_defer_answer() was called for hop_msg */
};

enum { PHASE_NEW = 0, PHASE_SCHEDULING, PHASE_RUNNING };

static _Atomic uint64_t g_txn_seq = 1;

/* The durability hook (txn.h): set by the AOF writer, read by any coordinator. */
static int (*_Atomic g_needs_sync)(void);
static rk_hop_fn *_Atomic g_sync_hop;

void txn_set_sync_hook(int (*needs_sync)(void), rk_hop_fn *sync_hop) {
    atomic_store(&g_sync_hop, sync_hop);
    atomic_store(&g_needs_sync, needs_sync);
}

void txn_seq_at_least(uint64_t next) {
    uint64_t cur = atomic_load(&g_txn_seq);
    while (cur < next && !atomic_compare_exchange_weak(&g_txn_seq, &cur, next)) {
    }
}

uint64_t txn_all_shards(void) {
    return g_nshards == 64 ? ~0ull : ((1ull << g_nshards) - 1);
}

int txn_shard_init(rk_shard *s) {
    s->txq = calloc(1, sizeof(*s->txq));
    return s->txq ? 0 : -1;
}

int txn_shard_paused(const rk_shard *s) { return s->txq->promised != NULL; }

/* ---- Messages ------------------------------------------------------- */

static rk_txn_msg *txn_msg_new_exec(int type, rk_txn *t, rk_txn *exec, uint64_t seq, int from);

/* Message allocation failing here would lose a protocol step and hang
 * participants forever: a corrupted state we refuse to continue from. */
static rk_txn_msg *txn_msg_new(int type, rk_txn *t, uint64_t seq, int from) {
    return txn_msg_new_exec(type, t, t, seq, from);
}

static rk_txn_msg *txn_msg_new_exec(int type, rk_txn *t, rk_txn *exec, uint64_t seq, int from) {
    rk_txn_msg *m = malloc(sizeof(*m));
    if (!m) {
        rk_log(LL_WARNING, "Out of memory allocating a transaction message: aborting");
        abort();
    }
    m->m.type = type;
    m->t = t;
    m->exec = exec;
    m->seq = seq;
    m->from = from;
    return m;
}

static void send_txn(int to, int type, rk_txn *t, uint64_t seq, int from) {
    shard_send(to, &txn_msg_new(type, t, seq, from)->m);
}

static void reply_txn(rk_txn_msg *m, int type, int from) {
    int to = m->from;
    m->m.type = type;
    m->from = from;
    shard_send(to, &m->m);
}

/* ---- Coordinator -------------------------------------------------- */

rk_txn *txn_new(rk_client *c, const rk_command *cmd, uint64_t shard_mask, int argc,
                const rk_slice *argv) {
    rk_txn *t = calloc(1, sizeof(*t));
    if (!t) return NULL;
    t->argv = argv_dup(argc, argv);
    if (!t->argv) { free(t); return NULL; }
    t->argc = argc;
    t->cmd = cmd;
    t->shard_mask = shard_mask;
    t->coord = rk_this_shard;
    t->client = c;
    t->dbid = c ? c->db : 0;
    t->resp = c ? c->resp : 2;
    t->r.out = &t->reply;
    t->r.resp = t->resp;
    t->start_us = rk_ustime();
    assert(t->coord != NULL);
    /* Inside EXEC the participants are already paused by EXEC's own
     * transaction: run as a part of it (its shards include ours). */
    t->parent = c ? client_exec_txn(c) : NULL;
    if (t->parent) {
        assert((shard_mask & ~t->parent->shard_mask) == 0);
        t->seq = t->parent->seq;
    }
    if (c && client_txn_begin(c) != 0) {
        free(t->argv);
        free(t);
        return NULL;
    }
    return t;
}

static void txn_schedule(rk_txn *t) {
    t->seq = g_txn_seq++;
    t->promised_mask = 0;
    t->phase = PHASE_SCHEDULING;
    for (int i = 0; i < g_nshards; i++)
        if (t->shard_mask & (1ull << i)) send_txn(i, MSG_TXN_SCHEDULE, t, t->seq, t->coord->id);
}

static void txn_run_hop(rk_txn *t) {
    rk_txn *owner = t->parent ? t->parent : t; /* the transaction participants promised */
    t->pending = __builtin_popcountll(t->hop_mask);
    for (int i = 0; i < g_nshards; i++) {
        if (!(t->hop_mask & (1ull << i))) continue;
        rk_buf_clear(&t->out[i]);
        shard_send(i, &txn_msg_new_exec(MSG_TXN_HOP, owner, t, owner->seq, t->coord->id)->m);
    }
}

void txn_start(rk_txn *t, rk_hop_fn *hop, rk_step_fn *step) {
    assert(t->phase == PHASE_NEW && t->shard_mask != 0);
    t->hop = hop;
    t->step = step;
    if (t->parent) {
        /* Already promised: straight to the first hop. */
        t->phase = PHASE_RUNNING;
        t->hop_mask = t->shard_mask;
        txn_run_hop(t);
        return;
    }
    t->coord->stats.txn_started++;
    txn_schedule(t);
}

void txn_hop(rk_txn *t, rk_hop_fn *hop, rk_step_fn *step) {
    txn_hop_on(t, t->shard_mask, hop, step);
}

void txn_hop_on(rk_txn *t, uint64_t mask, rk_hop_fn *hop, rk_step_fn *step) {
    assert(t->phase == PHASE_RUNNING && t->pending == 0);
    assert(mask != 0 && (mask & ~t->shard_mask) == 0);
    t->hop = hop;
    t->step = step;
    t->hop_mask = mask;
    txn_run_hop(t);
}

/* A top-level transaction that ran asks its participants to make their
 * journaled bytes durable first (txn_set_sync_hook); 1 when that hop was
 * started (txn_finish runs again as its step). */
static int txn_sync_first(rk_txn *t) {
    if (t->synced || t->parent || t->phase != PHASE_RUNNING) return 0;
    int (*needs)(void) = atomic_load_explicit(&g_needs_sync, memory_order_relaxed);
    rk_hop_fn *hop = atomic_load_explicit(&g_sync_hop, memory_order_relaxed);
    if (!needs || !hop || !needs()) return 0;
    t->synced = 1;
    txn_hop(t, hop, txn_finish);
    return 1;
}

void txn_finish(rk_txn *t) {
    assert(t->pending == 0);
    if (txn_sync_first(t)) return;
    if (t->phase == PHASE_RUNNING && !t->parent) {
        for (int i = 0; i < g_nshards; i++)
            if (t->shard_mask & (1ull << i)) send_txn(i, MSG_TXN_RELEASE, t, t->seq, t->coord->id);
    }
    if (t->client) client_txn_done(t->client, &t->reply);
    rk_buf_free(&t->reply);
    for (int i = 0; i < RK_MAX_SHARDS && i < 64; i++) rk_buf_free(&t->out[i]);
    if (t->arg_free) t->arg_free(t->arg);
    free(t->argv);
    free(t);
}

static void coord_on_ready(rk_txn_msg *m) {
    rk_txn *t = m->t;
    if (m->seq == t->seq && t->phase == PHASE_SCHEDULING) {
        t->promised_mask |= 1ull << m->from;
        if (t->promised_mask == t->shard_mask) {
            t->phase = PHASE_RUNNING;
            t->hop_mask = t->shard_mask;
            txn_run_hop(t);
        }
    }
    free(m);
}

static void coord_on_reject(rk_txn_msg *m) {
    rk_txn *t = m->t;
    if (m->seq == t->seq && t->phase == PHASE_SCHEDULING) {
        for (int i = 0; i < g_nshards; i++)
            if (t->shard_mask & (1ull << i)) send_txn(i, MSG_TXN_CANCEL, t, t->seq, t->coord->id);
        t->coord->stats.txn_retries++;
        txn_schedule(t);
    }
    free(m);
}

static void coord_on_hop_done(rk_txn_msg *m) {
    rk_txn *t = m->exec;
    assert(m->seq == t->seq && t->pending > 0);
    free(m);
    if (--t->pending == 0) t->step(t);
}

/* ---- Participant ---------------------------------------------------- */

static void resume_work(rk_shard *s);

static void try_promise(rk_shard *s) {
    struct rk_txn_queue *q = s->txq;
    if (q->promised || !q->queue) return;
    q->promised = q->queue;
    assert(q->promised->seq >= q->max_promised_seq);
    q->max_promised_seq = q->promised->seq;
    send_txn(q->promised->coord, MSG_TXN_READY, q->promised->t, q->promised->seq, s->id);
}

static void part_on_schedule(rk_shard *s, rk_txn_msg *m) {
    struct rk_txn_queue *q = s->txq;
    if (m->seq < q->max_promised_seq) {
        reply_txn(m, MSG_TXN_REJECT, s->id);
        return;
    }
    txq_entry *e = malloc(sizeof(*e));
    if (!e) {
        rk_log(LL_WARNING, "Out of memory scheduling a transaction: aborting");
        abort();
    }
    e->t = m->t;
    e->seq = m->seq;
    e->coord = m->from;
    txq_entry **pp = &q->queue;
    while (*pp && (*pp)->seq < e->seq) pp = &(*pp)->next;
    e->next = *pp;
    *pp = e;
    free(m);
    try_promise(s);
}

/* Removes (t, seq) from the queue; returns 1 if it was the promised one. */
static int queue_remove(struct rk_txn_queue *q, rk_txn *t, uint64_t seq) {
    for (txq_entry **pp = &q->queue; *pp; pp = &(*pp)->next) {
        txq_entry *e = *pp;
        if (e->t != t || e->seq != seq) continue;
        int was_promised = q->promised == e;
        *pp = e->next;
        if (was_promised) q->promised = NULL;
        free(e);
        return was_promised;
    }
    return 0;
}

static void part_on_cancel(rk_shard *s, rk_txn_msg *m) {
    int was_promised = queue_remove(s->txq, m->t, m->seq);
    free(m);
    if (was_promised) {
        try_promise(s);
        resume_work(s);
    }
}

static void part_on_hop(rk_shard *s, rk_txn_msg *m) {
    struct rk_txn_queue *q = s->txq;
    rk_txn *exec = m->exec;
    /* A hop only ever arrives for the transaction this shard promised (or a
     * sub-transaction of it, inside EXEC). */
    assert(q->promised && q->promised->t == m->t && q->promised->seq == m->seq);
    assert(!q->answer_deferred && !q->in_hop && q->hop_msg == NULL);
    q->hop_msg = m;
    q->in_hop = 1;
    exec->hop(s, exec, &exec->out[s->id]);
    q->in_hop = 0;
    if (q->answer_deferred) return; /* txn_answer_deferred() sends it */
    q->hop_msg = NULL;
    reply_txn(m, MSG_TXN_HOP_DONE, s->id);
}

void txn_defer_answer(rk_shard *s) {
    struct rk_txn_queue *q = s->txq;
    assert(q->in_hop && q->hop_msg && !q->answer_deferred);
    q->answer_deferred = 1;
}

void txn_answer_deferred(rk_shard *s) {
    struct rk_txn_queue *q = s->txq;
    assert(q->answer_deferred && q->hop_msg);
    q->answer_deferred = 0;
    if (q->in_hop) return; /* answered at once: part_on_hop replies */
    rk_txn_msg *m = q->hop_msg;
    q->hop_msg = NULL;
    reply_txn(m, MSG_TXN_HOP_DONE, s->id);
}

static void part_on_release(rk_shard *s, rk_txn_msg *m) {
    struct rk_txn_queue *q = s->txq;
    assert(q->promised && q->promised->t == m->t && q->promised->seq == m->seq);
    assert(!q->answer_deferred && q->hop_msg == NULL);
    queue_remove(q, m->t, m->seq);
    free(m);
    try_promise(s);
    resume_work(s);
}

void txn_handle_msg(rk_shard *s, void *msg) {
    rk_txn_msg *m = msg;
    switch (m->m.type) {
    case MSG_TXN_SCHEDULE: part_on_schedule(s, m); break;
    case MSG_TXN_CANCEL: part_on_cancel(s, m); break;
    case MSG_TXN_HOP: part_on_hop(s, m); break;
    case MSG_TXN_RELEASE: part_on_release(s, m); break;
    case MSG_TXN_READY: coord_on_ready(m); break;
    case MSG_TXN_REJECT: coord_on_reject(m); break;
    case MSG_TXN_HOP_DONE: coord_on_hop_done(m); break;
    default:
        rk_log(LL_WARNING, "Unknown message type %d in shard %d mailbox: aborting", m->m.type, s->id);
        abort();
    }
}

/* ---- Work that waits for the pause to end ------------------------- */

void txn_defer_msg(rk_shard *s, rk_msg *m) {
    struct rk_txn_queue *q = s->txq;
    atomic_store_explicit(&m->next, NULL, memory_order_relaxed);
    if (q->deferred_tail) atomic_store_explicit(&q->deferred_tail->next, m, memory_order_relaxed);
    else q->deferred_head = m;
    q->deferred_tail = m;
}

void txn_stall_client(rk_shard *s, rk_client *c) {
    struct rk_txn_queue *q = s->txq;
    if (c->flags & CLIENT_STALLED) return;
    if (q->n_stalled == q->cap_stalled) {
        size_t cap = q->cap_stalled ? q->cap_stalled * 2 : 64;
        rk_client **grown = realloc(q->stalled, cap * sizeof(*grown));
        if (!grown) { client_kill(c); return; }
        q->stalled = grown;
        q->cap_stalled = cap;
    }
    q->stalled[q->n_stalled++] = c;
    c->flags |= CLIENT_STALLED;
}

void txn_forget_client(rk_shard *s, rk_client *c) {
    struct rk_txn_queue *q = s->txq;
    if (!(c->flags & CLIENT_STALLED)) return;
    for (size_t i = 0; i < q->n_stalled; i++) {
        if (q->stalled[i] != c) continue;
        memmove(&q->stalled[i], &q->stalled[i + 1], (q->n_stalled - i - 1) * sizeof(*q->stalled));
        q->n_stalled--;
        break;
    }
    c->flags &= ~CLIENT_STALLED;
}

static void resume_work(rk_shard *s) {
    struct rk_txn_queue *q = s->txq;
    while (!q->promised && q->deferred_head) {
        rk_msg *m = q->deferred_head;
        q->deferred_head = atomic_load_explicit(&m->next, memory_order_relaxed);
        if (!q->deferred_head) q->deferred_tail = NULL;
        shard_exec_request(s, (rk_req *)m);
    }
    /* Resume clients in arrival order; one may start a transaction that
     * pauses us again asynchronously, which is fine: they re-stall. */
    size_t i = 0;
    while (!q->promised && i < q->n_stalled) {
        rk_client *c = q->stalled[i++];
        c->flags &= ~CLIENT_STALLED;
        client_resume(c);
    }
    if (i) {
        memmove(q->stalled, q->stalled + i, (q->n_stalled - i) * sizeof(*q->stalled));
        q->n_stalled -= i;
    }
}
