/* loop_uring.c: the io_uring backend of rk_loop.
 *
 * Owns the ring, the provided-buffer ring, and every SQE in flight.
 * Threads: the loop's thread. The ring is created disabled (R_DISABLED) in
 * rk_loop_create and enabled by rk_loop_run, so with SINGLE_ISSUER the
 * thread that runs the loop is its issuer, whichever thread created it.
 *
 * Features are probed at creation and fall back one by one (and again at
 * runtime when the kernel answers -EINVAL): SINGLE_ISSUER|DEFER_TASKRUN >
 * SINGLE_ISSUER|COOP_TASKRUN > COOP_TASKRUN > none; multishot accept >
 * re-armed accept; multishot recv from a buffer ring > recv into a
 * per-conn buffer; multishot timeout > re-armed timeout; multishot poll >
 * re-armed poll (wake/stop eventfds).
 *
 * Invariants:
 *  - user_data is a pointer (16-byte aligned) or index << 4, | an op tag
 *    (RK_TAG_BITS); file ops carry their slot index.
 *  - u->ops counts SQEs whose terminal CQE (no IORING_CQE_F_MORE) has not
 *    arrived; c->refs counts those naming conn c (recv, send, cancel).
 *    A conn is freed (by loop.c) only when CLOSING and refs == 0, so no
 *    CQE ever names freed memory, and its recv buffer and in-flight output
 *    live as long as the kernel may touch them.
 *  - At most one recv and one send SQE per conn are armed; a send covers
 *    [inflight_off, inflight.len) of the in-flight buffer, which is not
 *    touched until its CQE.
 *  - Every provided buffer handed out in a CQE is returned to the buffer
 *    ring before the next CQE is looked at.
 *  - A file op has at most one submission (write, fdatasync, or the two
 *    linked) in flight; its slot is not reused before its callback.
 *
 * Bounds: SQ RK_SQ_ENTRIES, CQ RK_CQ_ENTRIES (the kernel keeps overflow,
 * FEAT_NODROP); at most RK_CQE_BATCH CQEs per iteration; the buffer ring
 * holds RK_BR_ENTRIES x RK_BR_BUFSZ bytes; a plain recv buffer is
 * RK_RBUF_SZ; file ops: RK_LOOP_MAX_FILE_OPS (loop.h), awaited at most
 * RK_FILE_DRAIN_ROUNDS x 20 ms when run() ends, one SQ-room retry per
 * iteration. Retries (EAGAIN, ENOBUFS, terminated multishots) are one
 * re-arm per terminal CQE; accept errors from resource exhaustion re-arm
 * only on the next tick. */
#include "loop_impl.h"
#include "uring_compat.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define RK_SQ_ENTRIES 1024
#define RK_CQ_ENTRIES 8192
#define RK_CQE_BATCH 4096
#define RK_BR_ENTRIES 128 /* power of two */
#define RK_BR_BUFSZ 16384
#define RK_BGID 0
#define RK_RBUF_SZ 16384
#define RK_SEND_MAX (1u << 30) /* sqe->len is 32 bits */
#define RK_DRAIN_ROUNDS 50     /* x 20 ms: bound on the shutdown drain */
#define RK_XSTR(x) #x
#define RK_STR(x) RK_XSTR(x)

#define RK_TAG_BITS 4
#define RK_TAG_MASK ((1u << RK_TAG_BITS) - 1)
#define RK_FILE_CHUNK (1u << 30)      /* bytes per write SQE (sqe->len is 32 bits) */
#define RK_FILE_DRAIN_ROUNDS 1500     /* x 20 ms: how long run() awaits file ops */

enum {
    OP_IGNORE = 0, OP_ACCEPT, OP_RECV, OP_SEND, OP_CANCEL, OP_WAKE, OP_STOP, OP_TIMER,
    OP_FWRITE, /* a file op's write; data = slot << RK_TAG_BITS | tag */
    OP_FSYNC   /* a file op's fdatasync (linked after its write, or alone) */
};

typedef struct ulistener {
    int fd;
    int armed;
} ulistener;

typedef struct uring_state {
    struct io_uring ring;
    int ring_ok;
    int disabled;  /* created with R_DISABLED, not yet enabled */
    const char *setup_name;
    int f_ms_accept, f_ms_recv, f_ms_timer, f_ms_poll, f_ring_fd;
    int f_sync_cancel; /* IORING_REGISTER_SYNC_CANCEL (6.0); cleared on -EINVAL */
    struct io_uring_buf_ring *br; /* NULL: no buffer ring */
    char *br_mem;
    long ops; /* SQEs without their terminal CQE yet */
    ulistener lis[16];
    int timer_armed, wake_armed, stop_armed;
    int accept_backoff; /* set on EMFILE & co; cleared by the next tick */
    int draining;       /* run() is cancelling everything before returning */
    int fop_retry;      /* a file op waits for SQ room: retried each iteration */
    int inline_writes;  /* file writes with pwrite, fdatasync on the ring (fop_write_inline) */
    struct __kernel_timespec ts;
} uring_state;

static uring_state *US(rk_loop *l)
{
    return (uring_state *)l->be_state;
}

static void describe(rk_loop *l)
{
    uring_state *u = US(l);
    snprintf(l->features, sizeof l->features,
             "io_uring: setup=%s accept=%s recv=%s send=batched timer=%s wake=%s ring_fd=%s file_write=%s "
             "take_fd=%s",
             u->setup_name, u->f_ms_accept ? "multishot" : "re-armed",
             u->f_ms_recv ? "multishot+bufring(" RK_STR(RK_BR_ENTRIES) "x" RK_STR(RK_BR_BUFSZ) ")"
                          : "plain(per-conn " RK_STR(RK_RBUF_SZ) ")",
             u->f_ms_timer ? "multishot" : "re-armed", u->f_ms_poll ? "poll-multishot" : "poll",
             u->f_ring_fd ? "registered" : "plain", u->inline_writes ? "pwrite" : "ring",
             u->f_sync_cancel ? "sync-cancel" : "async-cancel");
}

/* An SQE, submitting once to make room when the SQ is full; NULL only if
 * the kernel took nothing (then the caller retries later). */
static struct io_uring_sqe *get_sqe(uring_state *u)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&u->ring);
    if (!sqe) {
        io_uring_submit(&u->ring);
        sqe = io_uring_get_sqe(&u->ring);
    }
    return sqe;
}

static void set_op(uring_state *u, struct io_uring_sqe *sqe, uint64_t data)
{
    io_uring_sqe_set_data64(sqe, data);
    u->ops++;
}

static uint64_t conn_data(rk_conn *c, int op)
{
    return (uint64_t)(uintptr_t)c | (uint64_t)op;
}

/* ---- loop-level ops ---- */

static void arm_accept(rk_loop *l, int i)
{
    uring_state *u = US(l);
    ulistener *li = &u->lis[i];
    if (li->armed || l->accept_paused || u->accept_backoff || u->draining)
        return;
    struct io_uring_sqe *sqe = get_sqe(u);
    if (!sqe)
        return; /* retried next iteration */
    if (u->f_ms_accept)
        io_uring_prep_multishot_accept(sqe, li->fd, NULL, NULL, SOCK_CLOEXEC);
    else
        io_uring_prep_accept(sqe, li->fd, NULL, NULL, SOCK_CLOEXEC);
    set_op(u, sqe, ((uint64_t)i << RK_TAG_BITS) | OP_ACCEPT);
    li->armed = 1;
}

static void arm_poll(rk_loop *l, int fd, int op, int *armed)
{
    uring_state *u = US(l);
    if (*armed || fd < 0 || u->draining)
        return;
    struct io_uring_sqe *sqe = get_sqe(u);
    if (!sqe)
        return;
    if (u->f_ms_poll)
        io_uring_prep_poll_multishot(sqe, fd, POLLIN);
    else
        io_uring_prep_poll_add(sqe, fd, POLLIN);
    set_op(u, sqe, (uint64_t)op);
    *armed = 1;
}

static void arm_timer(rk_loop *l)
{
    uring_state *u = US(l);
    if (u->timer_armed || u->draining)
        return;
    struct io_uring_sqe *sqe = get_sqe(u);
    if (!sqe)
        return;
    io_uring_prep_timeout(sqe, &u->ts, 0, u->f_ms_timer ? IORING_TIMEOUT_MULTISHOT : 0);
    set_op(u, sqe, OP_TIMER);
    u->timer_armed = 1;
}

/* ---- file ops ----
 * One submission = the write of the rest (at most RK_FILE_CHUNK bytes),
 * linked (IOSQE_IO_LINK) to an fdatasync when RK_FILE_FSYNC and this chunk
 * ends the range; or the fdatasync alone. A short write breaks the link
 * (the kernel answers the fdatasync with -ECANCELED): the op then submits
 * the rest, again linked. Each submission advances >= 1 byte or ends the
 * op, so an op takes at most len submissions. */

static uint64_t fop_data(rk_loop *l, const rk_file_op *op, int tag)
{
    return ((uint64_t)(op - l->fops) << RK_TAG_BITS) | (uint64_t)tag;
}

static void fop_finish(rk_file_op *op, int64_t res)
{
    op->res = res;
    op->state = RK_FOP_DONE;
}

/* The write part of op, with pwrite on this thread: 0, or -errno. Each
 * step advances at least one byte, so at most len steps. Why not on the
 * ring: ext4 (Debian's default) has no non-blocking buffered writes, so the
 * kernel hands every io_uring write to an io-wq worker thread; with one
 * small append per loop iteration that thread switch cost more than the
 * copy into the page cache (docs/aof.md, "Measured"). The fdatasync, the
 * part that waits for the device, stays on the ring. */
static int64_t fop_write_inline(rk_file_op *op)
{
    while (op->done < op->len) {
        ssize_t n = pwrite(op->fd, op->buf + op->done, op->len - op->done, (off_t)(op->off + op->done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? -errno : -EIO;
        op->done += (size_t)n;
    }
    return 0;
}

/* op is QUEUED. Takes both SQEs at once, so that a full SQ never splits a
 * link (get_sqe would submit in between); without room it stays QUEUED
 * and arm_loop_ops retries. */
static void fop_submit(rk_loop *l, rk_file_op *op)
{
    uring_state *u = US(l);
    assert(op->state == RK_FOP_QUEUED);
    if (!op->sync_only && op->done < op->len && u->inline_writes) {
        int64_t r = fop_write_inline(op);
        if (r < 0) {
            fop_finish(op, r);
            return;
        }
        if (!(op->flags & RK_FILE_FSYNC)) {
            fop_finish(op, (int64_t)op->len); /* delivered on the next iteration */
            return;
        }
    }
    size_t left = op->sync_only ? 0 : op->len - op->done;
    unsigned chunk = left > RK_FILE_CHUNK ? RK_FILE_CHUNK : (unsigned)left;
    int sync = (op->flags & RK_FILE_FSYNC) && chunk == left;
    unsigned need = (chunk > 0) + (unsigned)sync;
    if (need == 0) {
        fop_finish(op, 0); /* an empty write */
        return;
    }
    if (io_uring_sq_space_left(&u->ring) < need) {
        io_uring_submit(&u->ring); /* fails harmlessly while the ring is disabled */
        if (io_uring_sq_space_left(&u->ring) < need) {
            u->fop_retry = 1;
            return;
        }
    }
    op->pending = 0;
    op->chunk = chunk;
    op->with_sync = sync;
    op->wres = op->sres = 0;
    if (chunk > 0) {
        struct io_uring_sqe *sqe = io_uring_get_sqe(&u->ring);
        assert(sqe);
        io_uring_prep_write(sqe, op->fd, op->buf + op->done, chunk, op->off + op->done);
        if (sync)
            sqe->flags |= IOSQE_IO_LINK;
        set_op(u, sqe, fop_data(l, op, OP_FWRITE));
        op->pending++;
    }
    if (sync) {
        struct io_uring_sqe *sqe = io_uring_get_sqe(&u->ring);
        assert(sqe);
        io_uring_prep_fsync(sqe, op->fd, IORING_FSYNC_DATASYNC);
        set_op(u, sqe, fop_data(l, op, OP_FSYNC));
        op->pending++;
    }
    op->state = RK_FOP_INFLIGHT;
}

/* Submits QUEUED ops in FIFO order until the SQ is full again. */
static void fop_retry_all(rk_loop *l)
{
    uring_state *u = US(l);
    u->fop_retry = 0;
    for (uint64_t i = l->fop_head; i < l->fop_tail; i++) {
        rk_file_op *op = &l->fops[i % RK_LOOP_MAX_FILE_OPS];
        if (op->state != RK_FOP_QUEUED)
            continue;
        fop_submit(l, op);
        if (u->fop_retry)
            return;
    }
}

static void uring_file_start(rk_loop *l, rk_file_op *op)
{
    if (US(l)->fop_retry)
        return; /* older ops wait for SQ room: keep submission order */
    fop_submit(l, op);
}

/* Both CQEs of a submission are in before the op moves on: the kernel
 * may post them in either order. */
static void on_file(rk_loop *l, unsigned slot, int tag, int res)
{
    assert(slot < RK_LOOP_MAX_FILE_OPS);
    rk_file_op *op = &l->fops[slot];
    assert(op->state == RK_FOP_INFLIGHT && op->pending > 0);
    if (tag == OP_FWRITE)
        op->wres = res;
    else
        op->sres = res;
    if (--op->pending > 0)
        return;
    int64_t err = 0;
    int short_write = 0;
    if (op->chunk > 0) {
        if (op->wres < 0)
            err = op->wres;
        else if (op->wres == 0)
            err = -EIO; /* no progress on a non-empty write: do not spin */
        else
            op->done += (size_t)op->wres;
        short_write = op->wres != (int)op->chunk;
    }
    /* -ECANCELED after a short or failed write is the broken link, not an
     * fdatasync failure of its own. */
    if (!err && op->with_sync && op->sres < 0 && !(op->sres == -ECANCELED && short_write))
        err = op->sres;
    if (err) {
        fop_finish(op, err);
    } else if (!op->sync_only && op->done < op->len) {
        op->state = RK_FOP_QUEUED; /* the rest */
        uring_file_start(l, op);
    } else {
        assert(!(op->flags & RK_FILE_FSYNC) || op->with_sync);
        fop_finish(op, op->sync_only ? 0 : (int64_t)op->len);
    }
}

static void arm_loop_ops(rk_loop *l)
{
    uring_state *u = US(l);
    if (u->fop_retry)
        fop_retry_all(l);
    arm_poll(l, l->stop_fd, OP_STOP, &u->stop_armed);
    arm_poll(l, l->cfg.wake_fd, OP_WAKE, &u->wake_armed);
    arm_timer(l);
    for (int i = 0; i < l->cfg.n_listen_fds; i++)
        arm_accept(l, i);
}

/* Cancels the first in-flight op with this user_data. The cancel SQE is
 * itself counted in refs of conn c (when given). */
static int cancel_data(rk_loop *l, uint64_t target, rk_conn *c)
{
    uring_state *u = US(l);
    struct io_uring_sqe *sqe = get_sqe(u);
    if (!sqe)
        return -1;
    io_uring_prep_cancel64(sqe, target, 0);
    set_op(u, sqe, c ? conn_data(c, OP_CANCEL) : OP_IGNORE);
    if (c)
        c->refs++;
    return 0;
}

/* ---- connections ---- */

static void recycle_buf(uring_state *u, unsigned bid)
{
    assert(bid < RK_BR_ENTRIES);
    io_uring_buf_ring_add(u->br, u->br_mem + (size_t)bid * RK_BR_BUFSZ, RK_BR_BUFSZ,
                          (unsigned short)bid, io_uring_buf_ring_mask(RK_BR_ENTRIES), 0);
    io_uring_buf_ring_advance(u->br, 1);
}

static void arm_recv(rk_conn *c)
{
    rk_loop *l = c->loop;
    uring_state *u = US(l);
    if (c->recv_armed || c->state == RK_CONN_CLOSING || c->user_paused || c->eof || u->draining)
        return;
    struct io_uring_sqe *sqe = get_sqe(u);
    if (!sqe) {
        rk__conn_queue(c);
        return;
    }
    if (u->f_ms_recv) {
        io_uring_prep_recv_multishot(sqe, c->fd, NULL, 0, 0);
        sqe->flags |= IOSQE_BUFFER_SELECT;
        sqe->buf_group = RK_BGID;
    } else {
        if (!c->rbuf && !(c->rbuf = malloc(RK_RBUF_SZ))) {
            /* The SQE is already taken: make it a no-op. */
            io_uring_prep_nop(sqe);
            set_op(u, sqe, OP_IGNORE);
            rk__conn_hard_close(c);
            return;
        }
        io_uring_prep_recv(sqe, c->fd, c->rbuf, RK_RBUF_SZ, 0);
    }
    set_op(u, sqe, conn_data(c, OP_RECV));
    c->refs++;
    c->recv_armed = 1;
}

static void uring_conn_flush(rk_conn *c)
{
    uring_state *u = US(c->loop);
    if (c->send_armed || c->state == RK_CONN_CLOSING || u->draining)
        return;
    size_t left = rk__conn_take_output(c);
    if (left == 0) {
        if (c->state == RK_CONN_DRAINING && c->out.len == 0) /* none held */
            rk__conn_hard_close(c);
        return;
    }
    struct io_uring_sqe *sqe = get_sqe(u);
    if (!sqe) {
        rk__conn_queue(c);
        return;
    }
    if (left > RK_SEND_MAX)
        left = RK_SEND_MAX;
    io_uring_prep_send(sqe, c->fd, c->inflight.data + c->inflight_off, left, MSG_NOSIGNAL);
    set_op(u, sqe, conn_data(c, OP_SEND));
    c->refs++;
    c->send_armed = 1;
}

/* Data from the socket: to the user, or to the stash while paused (or while
 * older stashed bytes still wait, to keep order). */
static void recv_data(rk_conn *c, const char *p, size_t n)
{
    if (c->state != RK_CONN_OPEN) {
        rk__conn_dropped(c, n); /* counted when the socket was given away */
        return;
    }
    if (c->user_paused || c->stash.len > 0) {
        /* Bound: what arrives between pause and the cancel landing. */
        if (rk_buf_append(&c->stash, p, n) != 0)
            rk__conn_hard_close(c);
        return;
    }
    rk__conn_deliver(c, p, n);
}

static void on_recv(rk_loop *l, rk_conn *c, int res, unsigned flags)
{
    uring_state *u = US(l);
    if (!(flags & IORING_CQE_F_MORE)) {
        c->recv_armed = 0;
        c->refs--;
    }
    if (flags & IORING_CQE_F_BUFFER) {
        unsigned bid = flags >> IORING_CQE_BUFFER_SHIFT;
        if (res > 0 && !u->draining)
            recv_data(c, u->br_mem + (size_t)bid * RK_BR_BUFSZ, (size_t)res);
        recycle_buf(u, bid);
    } else if (res > 0 && !u->draining) {
        assert(c->rbuf && res <= RK_RBUF_SZ);
        recv_data(c, c->rbuf, (size_t)res);
    }
    if (res == 0) {
        c->eof = 1; /* peer sent FIN: answer what it asked, then close */
        rk_conn_close(c, 1);
    } else if (res < 0) {
        switch (-res) {
        case ENOBUFS:   /* ring empty: buffers come back as CQEs are handled */
        case EAGAIN:
        case EINTR:
        case ECANCELED: /* pause or close asked for it */
            break;
        case EINVAL:
            if (u->f_ms_recv && !(flags & IORING_CQE_F_MORE)) {
                u->f_ms_recv = 0; /* kernel < 6.0: plain recv from now on */
                describe(l);
                break;
            }
            rk__conn_hard_close(c);
            break;
        default: /* ECONNRESET, ETIMEDOUT, ... */
            rk__conn_hard_close(c);
            break;
        }
    }
    if (c->state == RK_CONN_CLOSING)
        rk__conn_maybe_fin(c);
    else if (!c->recv_armed)
        rk__conn_queue(c); /* re-armed after this batch recycled its buffers */
}

static void on_send(rk_loop *l, rk_conn *c, int res)
{
    (void)l;
    c->send_armed = 0;
    c->refs--;
    if (c->state == RK_CONN_CLOSING) {
        rk__conn_maybe_fin(c);
        return;
    }
    if (res < 0) {
        if (res == -EAGAIN || res == -EINTR || res == -ENOBUFS) {
            rk__conn_queue(c);
            return;
        }
        rk__conn_hard_close(c); /* EPIPE, ECONNRESET, ... */
        rk__conn_maybe_fin(c);
        return;
    }
    c->inflight_off += (size_t)res;
    assert(c->inflight_off <= c->inflight.len);
    rk__conn_queue(c); /* the rest, or the next pending buffer, after before_wait */
}

static void on_accept_cqe(rk_loop *l, int i, int res, unsigned flags)
{
    uring_state *u = US(l);
    assert(i >= 0 && i < l->cfg.n_listen_fds);
    if (!(flags & IORING_CQE_F_MORE))
        u->lis[i].armed = 0;
    if (res >= 0) {
        if (u->draining)
            close(res); /* the loop is stopping */
        else
            rk__conn_accepted(l, res);
        return;
    }
    switch (-res) {
    case EINVAL:
        if (u->f_ms_accept) {
            u->f_ms_accept = 0; /* kernel < 5.19 */
            describe(l);
        } else {
            u->accept_backoff = 1; /* not a listening socket: do not spin */
        }
        break;
    case EMFILE:
    case ENFILE:
    case ENOBUFS:
    case ENOMEM:
        u->accept_backoff = 1; /* the pending connection would fail again at once */
        break;
    default: /* ECANCELED (pause), ECONNABORTED, EINTR, EAGAIN: re-arm */
        break;
    }
}

static void on_poll(rk_loop *l, int op, int res, unsigned flags)
{
    uring_state *u = US(l);
    int *armed = op == OP_WAKE ? &u->wake_armed : &u->stop_armed;
    if (!(flags & IORING_CQE_F_MORE))
        *armed = 0;
    if (res == -EINVAL && u->f_ms_poll) {
        u->f_ms_poll = 0;
        describe(l);
        return;
    }
    if (res < 0 || u->draining)
        return;
    if (op == OP_WAKE) {
        /* Drained before the handler so a write during it wakes us again. */
        rk__drain_eventfd(l->cfg.wake_fd);
        if (l->cfg.h.on_wake)
            l->cfg.h.on_wake(l->cfg.ud);
    } else {
        rk__drain_eventfd(l->stop_fd);
    }
}

static void on_timer(rk_loop *l, int res, unsigned flags)
{
    uring_state *u = US(l);
    if (!(flags & IORING_CQE_F_MORE))
        u->timer_armed = 0;
    if (res == -EINVAL && u->f_ms_timer) {
        u->f_ms_timer = 0; /* kernel < 6.4 */
        describe(l);
        return;
    }
    if (res != -ETIME || u->draining)
        return;
    u->accept_backoff = 0;
    if (l->cfg.h.on_tick)
        l->cfg.h.on_tick(l->cfg.ud);
}

static void dispatch(rk_loop *l, uint64_t data, int res, unsigned flags)
{
    uring_state *u = US(l);
    if (!(flags & IORING_CQE_F_MORE)) {
        assert(u->ops > 0);
        u->ops--;
    }
    int op = (int)(data & RK_TAG_MASK);
    rk_conn *c = (rk_conn *)(uintptr_t)(data & ~(uint64_t)RK_TAG_MASK);
    switch (op) {
    case OP_IGNORE:
        break;
    case OP_ACCEPT:
        on_accept_cqe(l, (int)(data >> RK_TAG_BITS), res, flags);
        break;
    case OP_RECV:
        on_recv(l, c, res, flags);
        break;
    case OP_SEND:
        on_send(l, c, res);
        break;
    case OP_CANCEL:
        c->refs--;
        rk__conn_maybe_fin(c);
        break;
    case OP_WAKE:
    case OP_STOP:
        on_poll(l, op, res, flags);
        break;
    case OP_TIMER:
        on_timer(l, res, flags);
        break;
    case OP_FWRITE:
    case OP_FSYNC:
        on_file(l, (unsigned)(data >> RK_TAG_BITS), op, res);
        break;
    }
}

/* Handles up to RK_CQE_BATCH ready CQEs; returns how many. Each CQE is
 * copied and marked seen before its handler runs, so handlers may submit. */
static unsigned reap(rk_loop *l)
{
    uring_state *u = US(l);
    struct io_uring_cqe *cqe;
    unsigned n = 0;
    while (n < RK_CQE_BATCH && io_uring_peek_cqe(&u->ring, &cqe) == 0) {
        uint64_t data = io_uring_cqe_get_data64(cqe);
        int res = cqe->res;
        unsigned flags = cqe->flags;
        io_uring_cqe_seen(&u->ring, cqe);
        dispatch(l, data, res, flags);
        n++;
    }
    return n;
}

/* Cancels everything in flight and reaps until u->ops == 0 (bounded), so
 * that rk_loop_destroy, possibly on another thread, frees nothing the
 * kernel still uses. No user callbacks run meanwhile, except file ops'
 * completions (their owners must learn that their buffers are free). */
static void drain_all(rk_loop *l)
{
    uring_state *u = US(l);
    u->draining = 1;
    for (rk_conn *c = l->conns; c; c = c->next) {
        if (c->recv_armed)
            cancel_data(l, conn_data(c, OP_RECV), c);
        if (c->send_armed)
            cancel_data(l, conn_data(c, OP_SEND), c);
    }
    for (int i = 0; i < l->cfg.n_listen_fds; i++)
        if (u->lis[i].armed)
            cancel_data(l, ((uint64_t)i << RK_TAG_BITS) | OP_ACCEPT, NULL);
    if (u->timer_armed)
        cancel_data(l, OP_TIMER, NULL);
    if (u->wake_armed)
        cancel_data(l, OP_WAKE, NULL);
    if (u->stop_armed)
        cancel_data(l, OP_STOP, NULL);
    /* File ops are awaited, not cancelled (a started write to a regular
     * file cannot be), and continue short writes; their callbacks run. */
    for (int round = 0; round < RK_FILE_DRAIN_ROUNDS; round++) {
        int files = rk__file_busy(l);
        if (!(files || (u->ops > 0 && round < RK_DRAIN_ROUNDS)))
            break;
        if (u->fop_retry)
            fop_retry_all(l);
        struct __kernel_timespec ts = {.tv_sec = 0, .tv_nsec = 20 * 1000 * 1000};
        struct io_uring_cqe *cqe;
        io_uring_submit_and_wait_timeout(&u->ring, &cqe, 1, &ts, NULL);
        reap(l);
        rk__file_deliver(l);
    }
}

static int uring_run(rk_loop *l)
{
    uring_state *u = US(l);
    int rc = 0;
    if (u->disabled) {
        int r = rk_uring_enable_rings(&u->ring);
        if (r < 0) {
            snprintf(l->reason, sizeof l->reason, "enable rings: %s", strerror(-r));
            return -1;
        }
        u->disabled = 0;
    }
    /* Saves an fdget per io_uring_enter; registered for this thread only. */
    u->f_ring_fd = io_uring_register_ring_fd(&u->ring) == 1;
    u->draining = 0;
    describe(l);
    for (rk_conn *c = l->conns; c; c = c->next)
        rk__conn_queue(c); /* a second run() re-arms what the first drained */

    int more = 0;
    while (!atomic_load_explicit(&l->stop, memory_order_acquire)) {
        arm_loop_ops(l);
        int r = io_uring_submit_and_wait(&u->ring, more ? 0 : 1);
        if (r < 0 && r != -EINTR && r != -EAGAIN && r != -EBUSY && r != -ETIME) {
            snprintf(l->reason, sizeof l->reason, "io_uring_submit_and_wait: %s", strerror(-r));
            rc = -1;
            break;
        }
        reap(l);
        int files = rk__file_deliver(l);
        if (atomic_load_explicit(&l->stop, memory_order_acquire))
            break;
        if (l->cfg.h.before_wait)
            l->cfg.h.before_wait(l->cfg.ud);
        /* An op finished inside before_wait (an inline write) is due on the
         * next iteration: do not block on it either. */
        int due = l->fop_head != l->fop_tail &&
                  l->fops[l->fop_head % RK_LOOP_MAX_FILE_OPS].state == RK_FOP_DONE;
        more = rk__loop_post(l) | files | due | u->fop_retry; /* fop_retry: do not block on it */
    }
    drain_all(l);
    rk__loop_post(l); /* frees conns that finished closing; arms nothing */
    if (u->f_ring_fd)
        io_uring_unregister_ring_fd(&u->ring);
    u->f_ring_fd = 0;
    return rc;
}

/* ---- backend ops ---- */

static int uring_conn_open(rk_conn *c)
{
    (void)c;
    return 0; /* reads are armed from conn_work, after on_accept */
}

static void uring_conn_shutdown(rk_conn *c)
{
    rk_loop *l = c->loop;
    int failed = 0;
    /* For a detached conn these may find nothing (sync-cancelled): the
     * -ENOENT CQE is harmless. conn_detach made room for them. */
    if (c->recv_armed)
        failed |= cancel_data(l, conn_data(c, OP_RECV), c);
    if (c->send_armed)
        failed |= cancel_data(l, conn_data(c, OP_SEND), c);
    assert(!(failed && c->detached));
    if (failed && !c->detached)
        shutdown(c->fd, SHUT_RDWR); /* completes what we could not cancel */
    if (c->detached && (c->recv_armed || c->send_armed))
        io_uring_submit(&US(l)->ring); /* now, not at the next wait: shortens the window */
}

/* Cancels the in-flight op `target` and returns once the kernel can no
 * longer act on it (its terminal CQE may still be on its way): 0, or
 * -errno. -ENOENT (already finished) counts as success. Bounded: 1 s. */
static int sync_cancel(uring_state *u, uint64_t target)
{
    struct io_uring_sync_cancel_reg reg;
    memset(&reg, 0, sizeof reg);
    reg.addr = target;
    reg.fd = -1;
    reg.timeout.tv_sec = 1;
    reg.timeout.tv_nsec = 0;
    int r = io_uring_register_sync_cancel(&u->ring, &reg);
    return r == -ENOENT ? 0 : r;
}

/* rk_conn_take_fd. A multishot recv keeps reading the socket until its
 * cancel is processed; a synchronous cancel ends that before we return, so
 * later bytes stay in the socket for the new owner (loop.h, the window). */
static int uring_conn_detach(rk_conn *c)
{
    rk_loop *l = c->loop;
    uring_state *u = US(l);
    unsigned need = (unsigned)c->recv_armed + (unsigned)c->send_armed;
    if (need == 0)
        return 0;
    if (u->draining) {
        errno = EAGAIN;
        return -1;
    }
    if (u->f_sync_cancel && !u->disabled) {
        int r = 0;
        if (c->recv_armed)
            r = sync_cancel(u, conn_data(c, OP_RECV));
        if (r == 0 && c->send_armed)
            r = sync_cancel(u, conn_data(c, OP_SEND));
        if (r == -EINVAL) {
            u->f_sync_cancel = 0; /* kernel < 6.0: async cancels below */
            describe(l);
        } else if (r != 0) {
            /* A cancelled recv/send completes with -ECANCELED and is
             * re-armed as after a pause: c stays as it was. */
            errno = -r == ETIME ? EAGAIN : -r;
            return -1;
        }
    }
    /* conn_shutdown's async cancels must not fail into shutdown(). */
    if (io_uring_sq_space_left(&u->ring) < need) {
        io_uring_submit(&u->ring);
        if (io_uring_sq_space_left(&u->ring) < need) {
            errno = EAGAIN;
            return -1;
        }
    }
    return 0;
}

static void uring_conn_pause(rk_conn *c, int paused)
{
    if (paused) {
        if (c->recv_armed && cancel_data(c->loop, conn_data(c, OP_RECV), c) != 0)
            rk__conn_queue(c); /* data meanwhile goes to the stash */
    } else {
        rk__conn_queue(c); /* conn_work delivers the stash and re-arms */
    }
}

static void uring_conn_work(rk_conn *c)
{
    if (US(c->loop)->draining)
        return; /* stopping: no callbacks, no new SQEs */
    if (!c->user_paused && c->stash.len > 0 && c->state == RK_CONN_OPEN) {
        rk_buf s = c->stash;
        rk_buf_init(&c->stash);
        rk__conn_deliver(c, s.data, s.len);
        rk_buf_free(&s);
        if (c->state == RK_CONN_CLOSING)
            return;
    }
    arm_recv(c);
    uring_conn_flush(c);
}

static void uring_pause_accept(rk_loop *l, int paused)
{
    uring_state *u = US(l);
    if (!paused || u->disabled)
        return; /* resuming: arm_loop_ops re-arms next iteration */
    for (int i = 0; i < l->cfg.n_listen_fds; i++)
        if (u->lis[i].armed)
            cancel_data(l, ((uint64_t)i << RK_TAG_BITS) | OP_ACCEPT, NULL);
}

struct setup_try {
    unsigned flags;
    const char *name;
};

static int create_ring(rk_loop *l, uring_state *u, char *err, size_t errlen)
{
    const struct setup_try tries[] = {
        {IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN, "SINGLE_ISSUER|DEFER_TASKRUN"},
        {IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_COOP_TASKRUN, "SINGLE_ISSUER|COOP_TASKRUN"},
        {IORING_SETUP_COOP_TASKRUN, "COOP_TASKRUN"},
        {0, "plain"},
    };
    int last = 0;
    for (size_t i = 0; i < sizeof tries / sizeof tries[0]; i++) {
        unsigned f = tries[i].flags;
        if ((f & IORING_SETUP_DEFER_TASKRUN) && rk__env_disabled("defer_taskrun"))
            continue;
        if ((f & IORING_SETUP_COOP_TASKRUN) && rk__env_disabled("coop_taskrun"))
            continue;
        /* R_DISABLED (5.10) lets run() on another thread become the issuer;
         * without it (older kernels) the ring starts live. */
        for (int dis = 1; dis >= 0; dis--) {
            struct io_uring_params p;
            memset(&p, 0, sizeof p);
            p.flags = f | IORING_SETUP_CQSIZE | (dis ? IORING_SETUP_R_DISABLED : 0);
            p.cq_entries = RK_CQ_ENTRIES;
            last = io_uring_queue_init_params(RK_SQ_ENTRIES, &u->ring, &p);
            if (last == 0) {
                u->disabled = dis;
                u->setup_name = tries[i].name;
                return 0;
            }
            if (last != -EINVAL)
                goto fail; /* EPERM (sysctl/seccomp), ENOSYS, ENOMEM: no io_uring */
            if (f & IORING_SETUP_SINGLE_ISSUER)
                break; /* any kernel with it has R_DISABLED */
        }
    }
fail:
    snprintf(err, errlen, "io_uring_queue_init: %s", strerror(-last));
    (void)l;
    return -1;
}

static int uring_init(rk_loop *l, char *err, size_t errlen)
{
    uring_state *u = calloc(1, sizeof *u);
    if (!u) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (create_ring(l, u, err, errlen) != 0) {
        free(u);
        return -1;
    }
    u->ring_ok = 1;
    l->be_state = u;

    struct io_uring_probe *probe = io_uring_get_probe_ring(&u->ring);
    if (!probe) {
        snprintf(err, errlen, "io_uring probe failed");
        goto fail;
    }
    static const int needed[] = {IORING_OP_ACCEPT,  IORING_OP_RECV,         IORING_OP_SEND,
                                 IORING_OP_POLL_ADD, IORING_OP_TIMEOUT,     IORING_OP_ASYNC_CANCEL,
                                 IORING_OP_NOP,     IORING_OP_WRITE,        IORING_OP_FSYNC};
    for (size_t i = 0; i < sizeof needed / sizeof needed[0]; i++) {
        if (!io_uring_opcode_supported(probe, needed[i])) {
            snprintf(err, errlen, "kernel lacks io_uring opcode %d", needed[i]);
            io_uring_free_probe(probe);
            goto fail;
        }
    }
    /* Opcodes that arrived with the flags we want serve as version proxies;
     * a -EINVAL at runtime still switches each one off. */
    u->f_ms_accept = io_uring_opcode_supported(probe, IORING_OP_SOCKET) &&      /* 5.19 */
                     !rk__env_disabled("multishot_accept");
    int want_ms_recv = io_uring_opcode_supported(probe, IORING_OP_SEND_ZC) &&   /* 6.0 */
                       !rk__env_disabled("multishot_recv") && !rk__env_disabled("bufring");
    u->f_ms_poll = io_uring_opcode_supported(probe, IORING_OP_MKDIRAT) &&       /* 5.15 */
                   !rk__env_disabled("multishot_poll");
    u->inline_writes = !rk__env_disabled("inline_writes");
    u->f_ms_timer = !rk__env_disabled("multishot_timer"); /* 6.4: runtime check only */
    u->f_sync_cancel = !rk__env_disabled("sync_cancel");  /* 6.0: runtime check only */
    io_uring_free_probe(probe);

    if (want_ms_recv) {
        int e = 0;
        u->br_mem = malloc((size_t)RK_BR_ENTRIES * RK_BR_BUFSZ);
        if (u->br_mem)
            u->br = rk_uring_setup_buf_ring(&u->ring, RK_BR_ENTRIES, RK_BGID, &e);
        if (u->br) {
            for (unsigned i = 0; i < RK_BR_ENTRIES; i++)
                io_uring_buf_ring_add(u->br, u->br_mem + (size_t)i * RK_BR_BUFSZ, RK_BR_BUFSZ,
                                      (unsigned short)i, io_uring_buf_ring_mask(RK_BR_ENTRIES),
                                      (int)i);
            io_uring_buf_ring_advance(u->br, RK_BR_ENTRIES);
            u->f_ms_recv = 1;
        } else {
            free(u->br_mem); /* plain recv works without it */
            u->br_mem = NULL;
        }
    }

    for (int i = 0; i < l->cfg.n_listen_fds; i++)
        u->lis[i].fd = l->cfg.listen_fds[i];
    if (l->cfg.wake_fd >= 0) {
        /* A spurious poll CQE must not block the drain read. */
        int fl = fcntl(l->cfg.wake_fd, F_GETFL);
        if (fl < 0 || fcntl(l->cfg.wake_fd, F_SETFL, fl | O_NONBLOCK) < 0) {
            snprintf(err, errlen, "wake_fd: %s", strerror(errno));
            goto fail;
        }
    }
    u->ts.tv_sec = l->cfg.tick_ms / 1000;
    u->ts.tv_nsec = (long long)(l->cfg.tick_ms % 1000) * 1000000LL;
    describe(l);
    return 0;
fail:
    io_uring_queue_exit(&u->ring);
    rk_uring_free_buf_ring_mem(u->br, RK_BR_ENTRIES);
    free(u->br_mem);
    free(u);
    l->be_state = NULL;
    return -1;
}

static void uring_fini(rk_loop *l)
{
    uring_state *u = US(l);
    if (!u)
        return;
    /* run() drained every op; if it was never run, nothing was submitted.
     * Exiting the ring drops the kernel's hold on the buffer ring. */
    io_uring_queue_exit(&u->ring);
    rk_uring_free_buf_ring_mem(u->br, RK_BR_ENTRIES);
    free(u->br_mem);
    free(u);
    l->be_state = NULL;
}

const rk_backend_ops rk_uring_backend = {
    .name = "io_uring",
    .init = uring_init,
    .run = uring_run,
    .fini = uring_fini,
    .conn_open = uring_conn_open,
    .conn_flush = uring_conn_flush,
    .conn_shutdown = uring_conn_shutdown,
    .conn_detach = uring_conn_detach,
    .conn_pause = uring_conn_pause,
    .conn_work = uring_conn_work,
    .pause_accept = uring_pause_accept,
    .file_start = uring_file_start,
};
