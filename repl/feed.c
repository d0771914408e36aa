/* feed.c: the journal feed, the shard half of replication's merged stream.
 * Each shard copies what its journal holds for the replication consumer
 * into FEED_DATA messages for the repl thread, which merges them.
 *
 * Thread: every shard, each for its own s->repl (allocated here on first
 * use, freed in repl_feed_on_stop). Why copies: the journal belongs to the
 * shard; the repl thread only ever sees bytes in messages it owns.
 *
 * Bounds: at most REPL_FEED_CREDITS FEED_DATA in flight per shard (the repl
 * thread returns each as FEED_BACK, reused here), each at most
 * REPL_FEED_CHUNK bytes; beyond that the bytes wait in the journal, whose
 * own limit overruns the consumer (then one overrun FEED_DATA, and the feed
 * stops). POSITIONS requests wait here only while credits are short: one
 * entry per request the repl thread sent (it bounds those by its WAITs). */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "core/command.h"
#include "core/journal.h"
#include "core/txn.h"
#include "core/log.h"
#include "repl/repl.h"

typedef struct repl_shard {
    int on;                 /* a consumer is registered for epoch */
    int consumer;
    uint64_t epoch;
    int credits;            /* FEED_DATA messages we may still send */
    uint64_t skip_seq;      /* registered inside this frame: its bytes up to its #E are not ours */
    repl_feed_msg *start;   /* FEED_START held until skip_seq is behind us, then sent as the first DATA */
    repl_feed_msg *spare[REPL_FEED_CREDITS]; /* returned messages, reused */
    int nspare;
    repl_pos_msg **pos;     /* POSITIONS waiting for their bytes to be sent */
    int npos, cappos;
} repl_shard;

static repl_shard *feed_state(rk_shard *s) {
    if (!s->repl) {
        s->repl = calloc(1, sizeof(repl_shard));
        if (s->repl) s->repl->consumer = -1;
    }
    return s->repl;
}

static void send_pos(rk_shard *s, repl_pos_msg *p) {
    p->shard = s->id;
    repl_send(&p->m);
}

/* Answers every waiting POSITIONS as of now (the feed ended: the repl
 * thread tells a stale epoch by the message's epoch). */
static void flush_positions_all(rk_shard *s, repl_shard *st) {
    for (int i = 0; i < st->npos; i++) send_pos(s, st->pos[i]);
    st->npos = 0;
}

static void feed_off(rk_shard *s, repl_shard *st) {
    if (st->on) journal_unregister(s->journal, st->consumer);
    st->on = 0;
    st->consumer = -1;
    st->skip_seq = 0;
    if (st->start) {
        free(st->start);
        st->start = NULL;
    }
    for (int i = 0; i < st->nspare; i++) {
        rk_buf_free(&st->spare[i]->data);
        free(st->spare[i]);
    }
    st->nspare = 0;
    flush_positions_all(s, st);
}

static repl_feed_msg *take_msg(repl_shard *st) {
    if (st->nspare > 0) return st->spare[--st->nspare];
    repl_feed_msg *m = calloc(1, sizeof(*m));
    if (m) rk_buf_init(&m->data);
    return m;
}

/* The consumer fell behind the journal's limit (or bytes were lost): tell
 * the repl thread (it resyncs every replica) and stop. */
static void overrun(rk_shard *s, repl_shard *st) {
    repl_feed_msg *m = take_msg(st);
    uint64_t epoch = st->epoch;
    rk_log(LL_WARNING, "Replication feed of shard %d overrun: its replicas must resync", s->id);
    feed_off(s, st);
    if (!m) return; /* the repl thread notices by the stream stalling; nothing else to do without memory */
    m->m.type = MSG_REPL_FEED_DATA;
    m->shard = s->id;
    m->epoch = epoch;
    m->overrun = 1;
    rk_buf_clear(&m->data);
    repl_send(&m->m);
}

/* Registered inside a frame: drops the frame's tail (its #B went before
 * us). 1 when the stream may start. */
static int skip_open_frame(rk_shard *s, repl_shard *st) {
    rk_journal *j = s->journal;
    if (j->txn_seq == st->skip_seq) return 0; /* still open */
    uint64_t from;
    rk_slice sl;
    if (journal_read(j, st->consumer, &from, &sl) != JOURNAL_OK) return -1;
    size_t at = 0;
    for (;;) {
        rk_journal_rec r;
        int rc = journal_next_record(sl.ptr + at, sl.len - at, &r);
        if (rc <= 0) return -1; /* the #E must be there: the frame closed */
        at += r.len;
        if (r.type == JREC_TXN_END && r.seq == st->skip_seq) break;
    }
    journal_release(j, st->consumer, from + at);
    st->skip_seq = 0;
    return 1;
}

/* Sends what the journal holds past the consumer, credits permitting. */
static void flush(rk_shard *s, repl_shard *st) {
    if (!st->on) return;
    rk_journal *j = s->journal;
    if (st->skip_seq) {
        int r = skip_open_frame(s, st);
        if (r < 0) {
            overrun(s, st);
            return;
        }
        if (r == 0) return;
    }
    if (st->start) { /* the first DATA: where the stream begins */
        uint64_t from;
        rk_slice sl;
        if (journal_read(j, st->consumer, &from, &sl) != JOURNAL_OK) {
            overrun(s, st);
            return;
        }
        repl_feed_msg *m = st->start;
        st->start = NULL;
        m->m.type = MSG_REPL_FEED_DATA;
        m->shard = s->id;
        m->from = from;
        m->overrun = 0;
        rk_buf_init(&m->data);
        st->credits--;
        repl_send(&m->m);
    }
    while (st->credits > 0) {
        uint64_t from;
        rk_slice sl;
        int rc = journal_read(j, st->consumer, &from, &sl);
        if (rc == JOURNAL_EOVERRUN || rc == JOURNAL_EBADID) {
            overrun(s, st);
            return;
        }
        if (rc != JOURNAL_OK || sl.len == 0) break;
        size_t n = sl.len < REPL_FEED_CHUNK ? sl.len : REPL_FEED_CHUNK;
        repl_feed_msg *m = take_msg(st);
        if (!m) break; /* retried next iteration; the journal keeps the bytes */
        rk_buf_clear(&m->data);
        if (rk_buf_append(&m->data, sl.ptr, n) != 0) {
            rk_buf_free(&m->data);
            st->spare[st->nspare++] = m;
            break;
        }
        m->m.type = MSG_REPL_FEED_DATA;
        m->shard = s->id;
        m->epoch = st->epoch;
        m->from = from;
        m->overrun = 0;
        journal_release(j, st->consumer, from + n);
        st->credits--;
        repl_send(&m->m);
    }
    /* POSITIONS whose bytes are all sent now go back, in order. */
    uint64_t sent;
    rk_slice rest;
    if (journal_read(j, st->consumer, &sent, &rest) != JOURNAL_OK) return;
    int keep = 0;
    for (int i = 0; i < st->npos; i++) {
        if (!st->skip_seq && !st->start && st->pos[i]->journal_end <= sent) send_pos(s, st->pos[i]);
        else st->pos[keep++] = st->pos[i];
    }
    st->npos = keep;
}

static void feed_start(rk_shard *s, repl_shard *st, repl_feed_msg *m) {
    feed_off(s, st);
    st->consumer = journal_register(s->journal);
    if (st->consumer < 0) {
        rk_log(LL_WARNING, "Replication feed of shard %d: too many journal consumers", s->id);
        st->epoch = m->epoch;
        free(m);
        overrun(s, st); /* tells the repl thread this epoch has no feed */
        return;
    }
    st->on = 1;
    st->epoch = m->epoch;
    st->credits = REPL_FEED_CREDITS;
    /* A frame open right now began before us: its #B is not in our stream. */
    rk_journal *j = s->journal;
    st->skip_seq = (j->txn_seq != 0 && j->txn_framed) ? j->txn_seq : 0;
    st->start = m;
    flush(s, st);
}

static void positions(rk_shard *s, repl_shard *st, repl_pos_msg *p) {
    p->journal_end = journal_end(s->journal);
    if (!st->on || p->epoch != st->epoch) {
        send_pos(s, p);
        return;
    }
    if (st->npos == st->cappos) {
        int ncap = st->cappos ? st->cappos * 2 : 8;
        repl_pos_msg **np = realloc(st->pos, (size_t)ncap * sizeof(*np));
        if (!np) { /* answered at once: the repl thread may see it early, never wrong (it waits on the merge) */
            send_pos(s, p);
            return;
        }
        st->pos = np;
        st->cappos = ncap;
    }
    st->pos[st->npos++] = p;
    flush(s, st);
}

/* The hop of FEED_START_ALL: every shard is paused in one transaction, so
 * no multi-shard frame is open anywhere and every feed starts at one cut. */
static void start_hop(rk_shard *s, rk_txn *t, rk_buf *out) {
    (void)out;
    repl_feed_start_all_msg *all = t->arg;
    assert(s->id < all->n);
    repl_feed_msg *f = all->start[s->id];
    all->start[s->id] = NULL;
    f->m.type = MSG_REPL_FEED_START;
    repl_feed_handle_msg(s, &f->m);
}

static void start_step(rk_txn *t) {
    free(t->arg);
    t->arg = NULL;
    txn_finish(t);
}

static void start_all(rk_shard *s, repl_feed_start_all_msg *all) {
    assert(s->id == 0 && all->n == g_nshards);
    rk_slice name = RK_SLICE("psync");
    rk_txn *t = txn_new(NULL, cmd_lookup(name), txn_all_shards(), 1, &name);
    if (!t) {
        /* Without memory for the transaction each shard starts on its own;
         * a frame open at one shard's start is skipped there, and a
         * transaction cut apart by the starts breaks the merge, which then
         * resyncs every replica (never a wrong stream). */
        for (int k = 0; k < all->n; k++) {
            all->start[k]->m.type = MSG_REPL_FEED_START;
            shard_send(k, &all->start[k]->m);
        }
        free(all);
        return;
    }
    t->arg = all;
    txn_start(t, start_hop, start_step);
}

void repl_feed_handle_msg(rk_shard *s, rk_msg *m) {
    repl_shard *st = feed_state(s);
    switch (m->type) {
    case MSG_REPL_FEED_START:
        if (!st) { /* no memory for the state: report it as an overrun */
            repl_feed_msg *f = (repl_feed_msg *)m;
            f->m.type = MSG_REPL_FEED_DATA;
            f->shard = s->id;
            f->overrun = 1;
            rk_buf_init(&f->data);
            repl_send(m);
            return;
        }
        feed_start(s, st, (repl_feed_msg *)m);
        return;
    case MSG_REPL_FEED_BACK: {
        repl_feed_msg *f = (repl_feed_msg *)m;
        if (!st || !st->on || f->epoch != st->epoch) {
            rk_buf_free(&f->data);
            free(f);
            return;
        }
        assert(st->credits < REPL_FEED_CREDITS && st->nspare < REPL_FEED_CREDITS);
        st->credits++;
        st->spare[st->nspare++] = f;
        if (f->data.cap > 2 * REPL_FEED_CHUNK) rk_buf_free(&f->data);
        flush(s, st);
        return;
    }
    case MSG_REPL_FEED_STOP: {
        repl_feed_msg *f = (repl_feed_msg *)m;
        if (st && st->on && f->epoch == st->epoch) feed_off(s, st);
        rk_buf_free(&f->data);
        free(f);
        return;
    }
    case MSG_REPL_FEED_START_ALL:
        start_all(s, (repl_feed_start_all_msg *)m);
        return;
    case MSG_REPL_POSITIONS:
        if (!st) {
            repl_pos_msg *p = (repl_pos_msg *)m;
            p->journal_end = journal_end(s->journal);
            send_pos(s, p);
            return;
        }
        positions(s, st, (repl_pos_msg *)m);
        return;
    default:
        assert(0 && "not a feed message");
    }
}

void repl_feed_before_wait(rk_shard *s) {
    if (s->repl && s->repl->on) flush(s, s->repl);
}

void repl_feed_on_stop(rk_shard *s) {
    repl_shard *st = s->repl;
    if (!st) return;
    if (st->on) journal_unregister(s->journal, st->consumer);
    free(st->start);
    for (int i = 0; i < st->nspare; i++) {
        rk_buf_free(&st->spare[i]->data);
        free(st->spare[i]);
    }
    for (int i = 0; i < st->npos; i++) free(st->pos[i]);
    free(st->pos);
    free(st);
    s->repl = NULL;
}
