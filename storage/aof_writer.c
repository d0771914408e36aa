/* aof_writer.c: the per-shard AOF segment writer (see aof_writer.h and
 * docs/aof.md "Journal -> segments").
 *
 * Thread: the owning shard's thread only (s->aofw); file completions run
 * there too. Process-wide state is three atomics: how many shards run
 * appendfsync always (the txn sync hook asks), and how many shards cannot
 * write their AOF plus the last errno (MISCONF is process-wide, as in
 * Redis: a write routed to any shard may need the failing one's file).
 *
 * Data flow. before_wait copies the journal bytes journaled since the
 * consumer's position into one owned chunk (the journal's slice is only
 * valid until its next append) and releases them in the journal, then
 * submits chunks in order with explicit file offsets. A chunk lives until
 * its write completed (and, after an error, until it was written again).
 *
 *   journal offsets (j)   what the journal numbered; waiters and the gate
 *                         are expressed in them (journal_end at the time);
 *   positions (pos)       bytes of this shard's incremental stream, every
 *                         file byte counted (#TS annotations too):
 *                         file_start + offset in the current file.
 *
 * Invariants:
 *   - chunks are in FIFO order of positions; chunks are submitted in order
 *     (next_submit is the first not submitted); callbacks arrive in order
 *     (io/loop.h), so written_* only moves forward, chunk by chunk;
 *   - synced_* <= written_* <= copied/next_pos; synced moves only when an
 *     fsync completed that started after the bytes it covers completed:
 *     a linked write+fdatasync covers its own chunk and (when no plain
 *     write was in flight at submission) everything before it; a plain
 *     fdatasync covers what was written when it was submitted;
 *   - while `error` is set nothing is submitted except the retry of the
 *     oldest failed op (once per second, from on_tick); the failing chunk
 *     and all later ones are kept, so nothing journaled is dropped;
 *   - gate entries (ticket, jend) are released in order once the release
 *     point (synced_j; written_j while no-appendfsync-on-rewrite is in
 *     effect) reaches jend; held request replies ride on the entries.
 *
 * Bounds: AOF_WRITER_MAX_BUFFERED bytes copied and not written (beyond it
 * the bytes wait in the journal, whose own bound then applies);
 * AOF_WRITER_MAX_INFLIGHT ops in flight (of the loop's 64); gate entries:
 * RK_LOOP_MAX_BARRIERS (more merge into the newest entry, which only
 * delays); waiters: AOF_WRITER_MAX_WAITERS (+1 slot reserved for the one
 * transaction a shard can be paused on).
 *
 * Errors. A failed write (short write, ENOSPC, EFBIG, EIO) or fsync sets
 * `error`: MISCONF for write commands, the failing bytes are kept, and
 * on_tick retries once per second from the failed offset: the file is first
 * cut back (ftruncate) to that offset, as Redis truncates to its last good
 * size, so a crash during the outage leaves no torn command at the tail.
 * Later writes that completed after the failed one are written again (same
 * bytes, same offsets). A failed plain fsync (everysec) is retried as an
 * fsync; note that Linux may have dropped the dirty pages on the error, so
 * everysec's guarantee after an fsync error is only Redis's. Under always
 * every write carries its own fdatasync, so the retried write re-dirties the
 * pages and its fsync really covers them.
 *
 * Journal overrun (the writer fell JOURNAL_DEFAULT_LIMIT behind, e.g. a
 * very long outage while expiries keep journaling): bytes are lost, the file
 * can no longer be continued truthfully. The writer stops appending (what
 * is already copied still goes to the file, it precedes the hole), refuses
 * writes with MISCONF ("No buffer space available") and keeps held replies
 * held, until the coordinator's rewrite switches to a new file at a cut
 * (aof_writer_switch), which starts a fresh consumer. info.broken says so:
 * the coordinator must schedule that rewrite. */
#include "storage/aof_writer.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/db.h"
#include "core/journal.h"
#include "core/log.h"
#include "core/msg.h"
#include "core/txn.h"

/* Gate entries: one per barrier still waiting. */
#define GATE_MAX RK_LOOP_MAX_BARRIERS
#define WAITERS_CAP (AOF_WRITER_MAX_WAITERS + 1)
/* Redis: writes wait at most 2 s behind a running everysec fsync. */
#define POSTPONE_MAX_MS 2000
#define RETRY_MS 1000

enum { CH_QUEUED = 0, CH_INFLIGHT, CH_REDO };
enum { CH_WRITE = 0, CH_CLOSE }; /* CLOSE: fdatasync then close an old file */

typedef struct aof_chunk {
    struct aof_chunk *next;
    aof_writer *w;
    int kind, state, fd, fsync;
    uint64_t off;                /* offset in its file */
    uint64_t pos_end, jend;      /* stream position / journal offset after it */
    uint64_t cover_pos, cover_j; /* what its fsync makes durable (fsync only) */
    size_t len;
    char data[];
} aof_chunk;

typedef struct gate_ent {
    uint64_t ticket, jend;
    rk_msg *msgs, *msgs_tail;    /* held request replies (rk_req), in order */
} gate_ent;

typedef struct waiter {
    uint64_t jend;
    void (*cb)(rk_shard *s, void *ud);
    void *ud;
} waiter;

struct aof_writer {
    rk_shard *s;
    char *dir;
    int fd;                      /* the current file */
    int consumer;                /* journal consumer id, -1 after an overrun */
    uint64_t file_start;         /* position of the current file's first byte */
    uint64_t next_pos;           /* position after the last copied byte */
    uint64_t copied_j;           /* journal offset up to which bytes are copied */
    aof_chunk *head, *tail, *next_submit;
    size_t buffered;             /* bytes in chunks not yet written */
    int inflight;                /* ops submitted, callbacks pending */
    int nosync_inflight;         /* writes without fsync among them */
    int fsync_inflight;          /* ops with an fsync among them (plain or linked) */
    uint64_t written_j, written_pos;
    uint64_t synced_j, synced_pos;
    uint64_t plain_cover_j, plain_cover_pos;
    int plain_inflight;
    /* errors */
    int error;                   /* errno, 0 when fine */
    int fsync_failed;            /* the error came from a plain fsync: retry that */
    int retrying;
    int overrun;
    int counted_error;           /* counted in g_err_shards */
    int64_t last_retry_ms;
    /* policy */
    int64_t last_fsync_ms;
    int64_t postponed_since_ms;
    uint64_t delayed_fsync;
    long long last_ts;
    int in_frame;                /* the copied stream ends inside a #B..#E frame (or unknown) */
    int rewriting;
    int counted_always;          /* counted in g_always_shards */
    /* group commit */
    gate_ent gq[GATE_MAX];
    unsigned gq_head, gq_n;
    int gate_open;               /* a barrier was taken and not yet closed by an immediate release */
    uint64_t last_gate_jend;     /* journal end at the newest barrier */
    rk_msg *batch, *batch_tail;  /* replies held in this iteration, not yet on an entry */
    waiter wq[WAITERS_CAP];
    unsigned wq_head, wq_n;
    int detached;                /* closed while ops were in flight: the last callback frees */
};

static _Atomic int g_always_shards;
static _Atomic int g_sync_txns;
static _Atomic int g_err_shards;
static _Atomic int g_last_errno;

static void kick(aof_writer *w);
static void advance(aof_writer *w);
static int aof_writer_txn_needs_sync(void);
static void aof_writer_txn_sync_hop(rk_shard *s, rk_txn *t, rk_buf *out);
static void finish_detached(aof_writer *w);

/* ---- policy ------------------------------------------------------------- */

static int nofsync_now(const aof_writer *w) {
    return w->rewriting && w->s->cfg.no_appendfsync_on_rewrite;
}

/* appendfsync always in effect: replies wait for the fsync. */
static int gate_mode(const aof_writer *w) {
    return w->s->cfg.appendfsync == AOF_FSYNC_ALWAYS && !nofsync_now(w);
}

/* Where gate entries may be released up to. */
static uint64_t release_point(const aof_writer *w) {
    return nofsync_now(w) ? w->written_j : w->synced_j;
}

static uint64_t jend_now(const aof_writer *w) { return journal_end(w->s->journal); }

static void count_always(aof_writer *w, int on) {
    if (on == w->counted_always) return;
    w->counted_always = on;
    atomic_fetch_add(&g_always_shards, on ? 1 : -1);
}

/* g_err_shards counts the shards with an I/O error or an overrun. */
static void count_error(aof_writer *w) {
    int on = (w->error || w->overrun) && !w->detached;
    if (on == w->counted_error) return;
    w->counted_error = on;
    atomic_fetch_add(&g_err_shards, on ? 1 : -1);
}

static void set_error(aof_writer *w, int err) {
    w->error = err;
    atomic_store(&g_last_errno, err);
    count_error(w);
}

static void clear_error(aof_writer *w) {
    w->error = 0;
    w->fsync_failed = 0;
    w->retrying = 0;
    count_error(w);
}

/* ---- collecting journal bytes ------------------------------------------ */

static void chunk_push(aof_writer *w, aof_chunk *c) {
    c->next = NULL;
    if (w->tail) w->tail->next = c;
    else w->head = c;
    w->tail = c;
    if (!w->next_submit) w->next_submit = c;
}

static void on_overrun(aof_writer *w) {
    rk_log(LL_WARNING,
           "AOF of shard %d fell more than %zu bytes behind its journal: commands were lost, "
           "writes are refused until the AOF is rewritten",
           w->s->id, w->s->journal->limit);
    journal_unregister(w->s->journal, w->consumer);
    w->consumer = -1;
    w->overrun = 1;
    atomic_store(&g_last_errno, ENOBUFS);
    count_error(w);
}

/* Copies the journal bytes after the consumer into a new chunk (all of
 * them with `all`, else at most what AOF_WRITER_MAX_BUFFERED leaves) and
 * releases them. 0 (also when there was nothing), -1 on OOM or overrun. */
static int collect(aof_writer *w, int all) {
    if (w->overrun) return -1;
    rk_journal *j = w->s->journal;
    uint64_t from;
    rk_slice sl;
    int rc = journal_read(j, w->consumer, &from, &sl);
    if (rc == JOURNAL_EOVERRUN) { on_overrun(w); return -1; }
    assert(rc == JOURNAL_OK && from == w->copied_j);
    if (sl.len == 0) return 0;
    size_t n = sl.len;
    if (!all) {
        size_t room = w->buffered < AOF_WRITER_MAX_BUFFERED ? AOF_WRITER_MAX_BUFFERED - w->buffered : 0;
        if (n > room) n = room;
        if (n == 0) return 0;
    }
    char ts[40];
    int tslen = 0;
    long long now_s = (long long)time(NULL);
    if (w->s->cfg.aof_timestamp_enabled && !w->in_frame && now_s != w->last_ts)
        tslen = snprintf(ts, sizeof(ts), "#TS:%lld\r\n", now_s); /* Redis's annotation */
    aof_chunk *c = malloc(sizeof(*c) + (size_t)tslen + n);
    if (!c) return -1; /* the bytes stay in the journal: next iteration */
    memset(c, 0, sizeof(*c));
    memcpy(c->data, ts, (size_t)tslen);
    memcpy(c->data + tslen, sl.ptr, n);
    c->w = w;
    c->kind = CH_WRITE;
    c->fd = w->fd;
    c->len = (size_t)tslen + n;
    c->off = w->next_pos - w->file_start;
    c->pos_end = w->next_pos + c->len;
    c->jend = from + n;
    if (tslen) w->last_ts = now_s;
    chunk_push(w, c);
    w->buffered += c->len;
    w->next_pos = c->pos_end;
    w->copied_j = c->jend;
    journal_release(j, w->consumer, c->jend);
    /* A frame open at the journal's end is known; after a partial copy it
     * is not, so no annotation until a whole copy (never inside a frame). */
    w->in_frame = n == sl.len ? (j->txn_seq != 0 && j->txn_framed) : 1;
    return 0;
}

/* ---- submitting --------------------------------------------------------- */

static int sync_wanted(const aof_writer *w) {
    if (w->wq_n > 0 && w->wq[(w->wq_head + w->wq_n - 1) % WAITERS_CAP].jend > w->synced_j) return 1;
    return w->gq_n > 0 && !nofsync_now(w) && w->gq[(w->gq_head + w->gq_n - 1) % GATE_MAX].jend > w->synced_j;
}

static void chunk_cb(void *ud, int64_t res);

/* 0, or -1 when the loop has no room (EAGAIN: try again later) or refused. */
static int submit_chunk(aof_writer *w, aof_chunk *c) {
    int fsync = c->kind == CH_CLOSE || gate_mode(w) || sync_wanted(w);
    /* Plain writes in flight may land after the fdatasync: not covered. */
    c->cover_j = w->nosync_inflight ? w->written_j : c->jend;
    c->cover_pos = w->nosync_inflight ? w->written_pos : c->pos_end;
    int rc = c->kind == CH_CLOSE
                 ? rk_loop_fsync_file(w->s->loop, c->fd, chunk_cb, c)
                 : rk_loop_write_file(w->s->loop, c->fd, c->data, c->len, c->off,
                                      fsync ? RK_FILE_FSYNC : 0, chunk_cb, c);
    if (rc != 0) {
        if (errno != EAGAIN) {
            rk_log(LL_WARNING, "Error writing to the AOF file: %s", strerror(errno));
            set_error(w, errno);
        }
        return -1;
    }
    c->fsync = fsync;
    c->state = CH_INFLIGHT;
    w->inflight++;
    if (fsync) w->fsync_inflight++;
    else w->nosync_inflight++;
    return 0;
}

static void plain_fsync_cb(void *ud, int64_t res);

static int submit_plain_fsync(aof_writer *w) {
    if (rk_loop_fsync_file(w->s->loop, w->fd, plain_fsync_cb, w) != 0) return -1;
    w->plain_inflight = 1;
    w->plain_cover_j = w->written_j;
    w->plain_cover_pos = w->written_pos;
    w->inflight++;
    w->fsync_inflight++;
    return 0;
}

/* Submits queued chunks in order, then a plain fsync when someone waits
 * for bytes that are all written but not covered by any fsync in flight. */
static void kick(aof_writer *w) {
    if (w->error || w->detached) return;
    while (w->next_submit && w->inflight < AOF_WRITER_MAX_INFLIGHT) {
        if (submit_chunk(w, w->next_submit) != 0) return;
        w->next_submit = w->next_submit->next;
    }
    if (!w->next_submit && w->inflight == 0 && w->written_j > w->synced_j && sync_wanted(w))
        (void)submit_plain_fsync(w); /* EAGAIN: on_tick / the next completion tries again */
}

/* ---- completions -------------------------------------------------------- */

static void chunk_free(aof_writer *w, aof_chunk *c) {
    assert(w->head == c);
    w->head = c->next;
    if (!w->head) w->tail = NULL;
    if (w->next_submit == c) w->next_submit = c->next;
    if (c->kind == CH_WRITE) w->buffered -= c->len;
    free(c);
}

static void note_synced(aof_writer *w, uint64_t j, uint64_t pos) {
    if (j > w->synced_j) w->synced_j = j;
    if (pos > w->synced_pos) w->synced_pos = pos;
    w->last_fsync_ms = rk_mstime();
}

static void solved(aof_writer *w) {
    if (!w->error) return;
    clear_error(w);
    rk_log(LL_WARNING, "AOF write error looks solved, Redis can write again.");
}

static void chunk_cb(void *ud, int64_t res) {
    aof_chunk *c = ud;
    aof_writer *w = c->w;
    assert(c->state == CH_INFLIGHT && w->inflight > 0);
    w->inflight--;
    if (c->fsync) w->fsync_inflight--;
    else w->nosync_inflight--;
    int is_retry = w->retrying && c == w->head;
    if (res < 0) {
        /* The first failure, or a failed retry (at most one per second). */
        if (!w->error || is_retry)
            rk_log(LL_WARNING, c->kind == CH_CLOSE ? "Error fsyncing the AOF file: %s"
                                                   : "Error writing to the AOF file: %s",
                   strerror((int)-res));
        set_error(w, (int)-res);
        w->fsync_failed = 0;
        w->retrying = 0;
    }
    if (res < 0 || (w->error && !is_retry)) {
        /* Failed, or completed behind a failure: written again, in order,
         * from the oldest (the head: every earlier op already completed). */
        c->state = CH_REDO;
        w->next_submit = w->head;
    } else {
        assert(c == w->head);
        if (c->kind == CH_CLOSE) {
            if (close(c->fd) != 0) rk_log(LL_WARNING, "Error closing an AOF file: %s", strerror(errno));
        } else {
            w->written_j = c->jend;
            w->written_pos = c->pos_end;
        }
        if (c->fsync) note_synced(w, c->cover_j, c->cover_pos);
        if (is_retry) solved(w);
        chunk_free(w, c);
    }
    if (w->detached) {
        if (w->inflight == 0) finish_detached(w);
        return;
    }
    advance(w);
    kick(w);
}

static void plain_fsync_cb(void *ud, int64_t res) {
    aof_writer *w = ud;
    assert(w->plain_inflight && w->inflight > 0);
    w->plain_inflight = 0;
    w->inflight--;
    w->fsync_inflight--;
    if (res < 0) {
        if (!w->error)
            rk_log(LL_WARNING, "Error fsyncing the AOF file: %s", strerror((int)-res));
        set_error(w, (int)-res);
        w->fsync_failed = 1;
        w->retrying = 0;
    } else {
        note_synced(w, w->plain_cover_j, w->plain_cover_pos);
        if (w->fsync_failed && w->retrying) solved(w);
    }
    if (w->detached) {
        if (w->inflight == 0) finish_detached(w);
        return;
    }
    advance(w);
    kick(w);
}

/* Sends held replies in order. */
static void send_msgs(rk_msg *m) {
    while (m) {
        rk_msg *next = atomic_load_explicit(&m->next, memory_order_relaxed);
        rk_req *req = (rk_req *)m;
        shard_send(req->home, m);
        m = next;
    }
}

/* Releases gate entries and waiters whose bytes are now covered. */
static void advance(aof_writer *w) {
    uint64_t rel = release_point(w), ticket = 0;
    while (w->gq_n > 0 && w->gq[w->gq_head].jend <= rel) {
        gate_ent *e = &w->gq[w->gq_head];
        ticket = e->ticket;
        rk_msg *m = e->msgs;
        w->gq_head = (w->gq_head + 1) % GATE_MAX;
        w->gq_n--;
        send_msgs(m);
    }
    if (ticket) rk_loop_output_release(w->s->loop, ticket);
    while (w->wq_n > 0 && w->wq[w->wq_head].jend <= w->synced_j) {
        waiter wt = w->wq[w->wq_head];
        w->wq_head = (w->wq_head + 1) % WAITERS_CAP;
        w->wq_n--;
        wt.cb(w->s, wt.ud);
    }
}

/* ---- group commit -------------------------------------------------------- */

static void gate_push(aof_writer *w, uint64_t ticket, uint64_t jend) {
    gate_ent *e;
    if (w->gq_n == GATE_MAX) {
        /* Full: the newest entry absorbs this one (a later ticket releases
         * the earlier ones; only the release of its replies is delayed). */
        e = &w->gq[(w->gq_head + w->gq_n - 1) % GATE_MAX];
    } else {
        e = &w->gq[(w->gq_head + w->gq_n) % GATE_MAX];
        memset(e, 0, sizeof(*e));
        w->gq_n++;
    }
    e->ticket = ticket;
    if (jend > e->jend) e->jend = jend;
    if (w->batch) {
        if (e->msgs_tail) atomic_store_explicit(&e->msgs_tail->next, w->batch, memory_order_relaxed);
        else e->msgs = w->batch;
        e->msgs_tail = w->batch_tail;
        w->batch = w->batch_tail = NULL;
    }
}

/* The iteration's barrier (io/loop.h's gate contract): taken while output
 * depends on bytes not yet durable, and while a gated period is open; a
 * period ends with a barrier released at once. */
static void gate(aof_writer *w) {
    uint64_t jend = jend_now(w);
    /* While the file cannot be written, an iteration that journaled nothing
     * takes no barrier: ungated connections (readers) go on, as the issue
     * asks; connections holding replies keep them (and what follows them)
     * until the retry succeeded. The price, only during the outage: a read
     * may show a write whose reply is still held. */
    if ((w->error || w->overrun) && jend <= w->last_gate_jend && !w->batch) return;
    int dep = gate_mode(w) && jend > release_point(w);
    if (!dep && !w->gate_open && !w->batch && w->gq_n == 0) return;
    uint64_t t = rk_loop_output_barrier(w->s->loop);
    if (t == 0) { w->gate_open = 1; return; } /* still held: the next barrier covers it */
    if (!dep) jend = w->gq_n ? w->gq[(w->gq_head + w->gq_n - 1) % GATE_MAX].jend : 0;
    if (w->gq_n == 0 && jend <= release_point(w)) {
        rk_loop_output_release(w->s->loop, t);
        rk_msg *m = w->batch;
        w->batch = w->batch_tail = NULL;
        send_msgs(m);
        w->gate_open = 0;
        w->last_gate_jend = jend_now(w);
        return;
    }
    gate_push(w, t, jend);
    w->gate_open = 1;
    w->last_gate_jend = jend_now(w);
}

int aof_writer_hold_reply(rk_shard *s, rk_req *req) {
    aof_writer *w = s->aofw;
    if (!w) return 0;
    if (!w->batch && w->gq_n == 0 && !(gate_mode(w) && jend_now(w) > release_point(w))) return 0;
    /* During an outage replies that journaled nothing go (see gate()). */
    if ((w->error || w->overrun) && !w->batch && jend_now(w) <= w->last_gate_jend) return 0;
    atomic_store_explicit(&req->m.next, NULL, memory_order_relaxed);
    if (w->batch_tail) atomic_store_explicit(&w->batch_tail->next, &req->m, memory_order_relaxed);
    else w->batch = &req->m;
    w->batch_tail = &req->m;
    return 1;
}

/* ---- the loop hooks ------------------------------------------------------ */

static void follow_policy(aof_writer *w) {
    count_always(w, w->s->cfg.appendfsync == AOF_FSYNC_ALWAYS);
}

void aof_writer_before_wait(rk_shard *s) {
    aof_writer *w = s->aofw;
    if (!w) return;
    follow_policy(w);
    int postpone = 0;
    if (s->cfg.appendfsync == AOF_FSYNC_EVERYSEC && w->plain_inflight && !sync_wanted(w) &&
        jend_now(w) > w->copied_j) {
        /* Redis's flushAppendOnlyFile: wait up to 2 s behind a running fsync. */
        int64_t now = rk_mstime();
        if (w->postponed_since_ms == 0) {
            w->postponed_since_ms = now;
            postpone = 1;
        } else if (now - w->postponed_since_ms < POSTPONE_MAX_MS) {
            postpone = 1;
        } else {
            w->delayed_fsync++;
            rk_log(LL_NOTICE, "Asynchronous AOF fsync is taking too long (disk is busy?). Writing the AOF "
                              "buffer without waiting for fsync to complete, this may slow down Redis.");
        }
    }
    if (!postpone) {
        w->postponed_since_ms = 0;
        /* Group commit: while an fsync is in flight, later iterations' bytes
         * gather in the journal and go out with the next write+fsync, which
         * this hook submits in the iteration its completion arrives in. The
         * fsyncs of one file run one after another in the kernel anyway; one
         * at a time lets each cover every reply that waited meanwhile. */
        if (!(gate_mode(w) && w->fsync_inflight > 0))
            (void)collect(w, 0); /* OOM: the bytes wait in the journal */
    }
    kick(w);
    gate(w);
}

/* The oldest failed op again (once per second). */
static void retry(aof_writer *w, int64_t now) {
    if (w->overrun || w->inflight > 0 || now - w->last_retry_ms < RETRY_MS) return;
    w->last_retry_ms = now;
    w->retrying = 1;
    if (w->fsync_failed) {
        if (submit_plain_fsync(w) != 0) w->retrying = 0;
        return;
    }
    aof_chunk *c = w->head;
    if (!c) { solved(w); return; }
    if (c->kind == CH_WRITE && ftruncate(c->fd, (off_t)c->off) != 0)
        rk_log(LL_WARNING, "Could not remove short write from the append-only file.  Redis may refuse "
                           "to load the AOF the next time it starts.  ftruncate: %s", strerror(errno));
    w->next_submit = c;
    if (submit_chunk(w, c) != 0) { w->retrying = 0; return; }
    w->next_submit = c->next;
    /* Later chunks wait: kick() submits them once the retry cleared the error. */
}

void aof_writer_on_tick(rk_shard *s) {
    aof_writer *w = s->aofw;
    if (!w) return;
    follow_policy(w);
    int64_t now = rk_mstime();
    if (w->error) {
        retry(w, now);
        return;
    }
    if (s->cfg.appendfsync == AOF_FSYNC_EVERYSEC && !nofsync_now(w) && w->fsync_inflight == 0 &&
        w->written_pos > w->synced_pos && now - w->last_fsync_ms >= 1000)
        (void)submit_plain_fsync(w); /* EAGAIN: next tick */
    kick(w);
}

/* ---- life cycle ------------------------------------------------------------ */

static int open_file(const char *dir, const char *name, int trunc, char *err, size_t errlen) {
    char path[4096];
    if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path)) {
        snprintf(err, errlen, "AOF path too long");
        errno = ENAMETOOLONG;
        return -1;
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | (trunc ? O_TRUNC : 0), 0644);
    if (fd < 0) snprintf(err, errlen, "Can't open the append-only file %s: %s", path, strerror(errno));
    return fd;
}

int aof_writer_open(rk_shard *s, const char *dirpath, const char *name, uint64_t start_pos, char *err,
                    size_t errlen) {
    assert(s->aofw == NULL && s->journal != NULL);
    aof_writer *w = calloc(1, sizeof(*w));
    if (!w || !(w->dir = strdup(dirpath))) {
        free(w);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    w->fd = open_file(dirpath, name, 0, err, errlen);
    struct stat st;
    if (w->fd >= 0 && fstat(w->fd, &st) != 0) {
        snprintf(err, errlen, "fstat: %s", strerror(errno));
        close(w->fd);
        w->fd = -1;
    }
    if (w->fd < 0) goto fail;
    w->consumer = journal_register(s->journal);
    if (w->consumer < 0) {
        snprintf(err, errlen, "too many journal consumers");
        close(w->fd);
        goto fail;
    }
    journal_force_select(s->journal);
    w->s = s;
    w->file_start = start_pos;
    w->next_pos = w->written_pos = w->synced_pos = start_pos + (uint64_t)st.st_size;
    w->copied_j = w->written_j = w->synced_j = journal_end(s->journal);
    w->last_fsync_ms = rk_mstime();
    s->aofw = w;
    follow_policy(w);
    return 0;
fail:
    free(w->dir);
    free(w);
    return -1;
}

int aof_writer_switch(rk_shard *s, const char *new_name, uint64_t *cut_pos, char *err, size_t errlen) {
    aof_writer *w = s->aofw;
    assert(w && !w->detached);
    aof_chunk *cl = calloc(1, sizeof(*cl));
    if (!cl) { snprintf(err, errlen, "out of memory"); return -1; }
    int fd = open_file(w->dir, new_name, 1, err, errlen);
    if (fd < 0) { free(cl); return -1; }
    int consumer = -1;
    if (w->overrun) {
        /* A fresh start at the cut: the rewrite's base holds what was lost. */
        consumer = journal_register(s->journal);
        if (consumer < 0) {
            snprintf(err, errlen, "too many journal consumers");
            close(fd);
            free(cl);
            return -1;
        }
    } else if (collect(w, 1) != 0) {
        snprintf(err, errlen, "out of memory");
        close(fd);
        free(cl);
        return -1;
    }
    /* Every byte before the cut is in a chunk for the old file; the close
     * op after them fsyncs and closes it in order. */
    cl->w = w;
    cl->kind = CH_CLOSE;
    cl->fd = w->fd;
    cl->pos_end = w->next_pos;
    cl->jend = w->copied_j;
    chunk_push(w, cl);
    if (w->overrun) {
        w->consumer = consumer;
        w->overrun = 0;
        w->copied_j = journal_end(s->journal);
        count_error(w);
    }
    w->fd = fd;
    w->file_start = w->next_pos;
    *cut_pos = w->next_pos;
    journal_force_select(s->journal);
    w->last_ts = 0;
    w->in_frame = 0;
    kick(w);
    return 0;
}

/* Writes the chunks that did not complete, synchronously, in order. */
static void write_rest_blocking(aof_writer *w) {
    for (aof_chunk *c = w->head; c; c = c->next) {
        if (c->kind == CH_CLOSE) {
            if (fdatasync(c->fd) != 0) rk_log(LL_WARNING, "Error fsyncing the AOF file: %s", strerror(errno));
            close(c->fd);
            c->fd = -1;
            continue;
        }
        size_t done = 0;
        while (done < c->len) {
            ssize_t n = pwrite(c->fd, c->data + done, c->len - done, (off_t)(c->off + done));
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) {
                rk_log(LL_WARNING, "Error writing to the AOF file on close: %s",
                       n < 0 ? strerror(errno) : "short write");
                return;
            }
            done += (size_t)n;
        }
        w->written_j = c->jend;
        w->written_pos = c->pos_end;
    }
}

static void free_writer(aof_writer *w) {
    while (w->head) chunk_free(w, w->head);
    free(w->dir);
    free(w);
}

/* Nothing in flight any more: the rest goes to disk synchronously. */
static void finish_detached(aof_writer *w) {
    assert(w->inflight == 0);
    write_rest_blocking(w);
    if (fdatasync(w->fd) != 0) rk_log(LL_WARNING, "Error fsyncing the AOF file: %s", strerror(errno));
    else note_synced(w, w->written_j, w->written_pos);
    close(w->fd);
    /* Waiters: the bytes are as durable as they will get. */
    while (w->wq_n > 0) {
        waiter wt = w->wq[w->wq_head];
        w->wq_head = (w->wq_head + 1) % WAITERS_CAP;
        w->wq_n--;
        wt.cb(w->s, wt.ud);
    }
    free_writer(w);
}

void aof_writer_close(rk_shard *s) {
    aof_writer *w = s->aofw;
    if (!w) return;
    if (!w->overrun && collect(w, 1) != 0)
        rk_log(LL_WARNING, "Out of memory flushing the AOF of shard %d on close: its last commands are lost",
               s->id);
    if (w->consumer >= 0) journal_unregister(s->journal, w->consumer);
    w->consumer = -1;
    s->aofw = NULL;
    count_always(w, 0);
    w->detached = 1;
    count_error(w);
    /* Held output goes; a last barrier released at once ends the period. */
    uint64_t last = 0;
    while (w->gq_n > 0) {
        gate_ent *e = &w->gq[w->gq_head];
        last = e->ticket;
        rk_msg *m = e->msgs;
        w->gq_head = (w->gq_head + 1) % GATE_MAX;
        w->gq_n--;
        send_msgs(m);
    }
    send_msgs(w->batch);
    w->batch = w->batch_tail = NULL;
    if (last) rk_loop_output_release(s->loop, last);
    if (w->gate_open || last) {
        uint64_t t = rk_loop_output_barrier(s->loop);
        if (t) rk_loop_output_release(s->loop, t);
    }
    if (w->inflight == 0) finish_detached(w);
    /* else: the last completion finishes (the loop awaits file ops when it stops) */
}

/* ---- queries ----------------------------------------------------------- */

int aof_writer_refuses_writes(const rk_shard *s, char *msg, size_t cap) {
    (void)s; /* process-wide, as Redis's aof_last_write_status */
    int e = aof_writer_global_error();
    if (e == 0) return 0;
    snprintf(msg, cap, "MISCONF Errors writing to the AOF file: %s", strerror(e));
    return 1;
}

int aof_writer_global_error(void) {
    if (atomic_load_explicit(&g_err_shards, memory_order_relaxed) == 0) return 0;
    int e = atomic_load_explicit(&g_last_errno, memory_order_relaxed);
    return e ? e : EIO;
}

void aof_writer_get_info(const rk_shard *s, aof_writer_info *out) {
    memset(out, 0, sizeof(*out));
    const aof_writer *w = s->aofw;
    if (!w) return;
    out->pos = w->written_pos;
    out->file_start = w->file_start;
    out->buffered = (uint64_t)w->buffered + (jend_now(w) - w->copied_j);
    out->durable_pos = w->synced_pos;
    out->delayed_fsync = w->delayed_fsync;
    out->write_error = w->error;
    out->last_fsync_ms = w->last_fsync_ms;
    out->broken = w->overrun;
    out->next_pos = w->next_pos;
}

int aof_writer_pending(const rk_shard *s) {
    const aof_writer *w = s->aofw;
    return w && jend_now(w) > w->synced_j;
}

static int add_waiter(aof_writer *w, unsigned cap, void (*cb)(rk_shard *, void *), void *ud) {
    uint64_t jend = jend_now(w);
    if (jend <= w->synced_j) {
        cb(w->s, ud);
        return 0;
    }
    if (w->wq_n >= cap) return -1;
    w->wq[(w->wq_head + w->wq_n) % WAITERS_CAP] = (waiter){jend, cb, ud};
    w->wq_n++;
    /* Now, not at the next policy fsync: write what is journaled, with its fsync. */
    if (!w->error && !w->overrun) (void)collect(w, 0);
    kick(w);
    return 0;
}

int aof_writer_when_durable(rk_shard *s, void (*cb)(rk_shard *s, void *ud), void *ud) {
    aof_writer *w = s->aofw;
    if (!w) return -1;
    return add_waiter(w, AOF_WRITER_MAX_WAITERS, cb, ud);
}

void aof_writer_set_rewriting(rk_shard *s, int on) {
    aof_writer *w = s->aofw;
    if (!w) return;
    w->rewriting = on;
    if (!on) kick(w);
}

/* ---- durable multi-shard transactions ------------------------------------ */

static int aof_writer_txn_needs_sync(void) {
    return atomic_load_explicit(&g_sync_txns, memory_order_relaxed) &&
           atomic_load_explicit(&g_always_shards, memory_order_relaxed) > 0;
}

void aof_writer_sync_txns(int on) {
    if (on) txn_set_sync_hook(aof_writer_txn_needs_sync, aof_writer_txn_sync_hop);
    atomic_store(&g_sync_txns, on != 0);
}

static void txn_durable(rk_shard *s, void *ud) {
    (void)ud;
    txn_answer_deferred(s);
}

static void aof_writer_txn_sync_hop(rk_shard *s, rk_txn *t, rk_buf *out) {
    (void)t;
    (void)out;
    aof_writer *w = s->aofw;
    if (!w || !gate_mode(w) || jend_now(w) <= w->synced_j) return;
    /* During an outage a transaction that journaled nothing here goes (see gate()). */
    if ((w->error || w->overrun) && jend_now(w) <= w->last_gate_jend) return;
    txn_defer_answer(s);
    /* The reserved slot: a shard is paused on one transaction at a time. */
    int rc = add_waiter(w, WAITERS_CAP, txn_durable, NULL);
    assert(rc == 0);
    (void)rc;
}
