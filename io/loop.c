/* loop.c: the backend-independent half of the event loop.
 *
 * Owns: backend choice (AUTO tries io_uring, falls back to epoll and keeps
 * the reason), connection bookkeeping (live, work and finalize lists;
 * accepted and adopted sockets, and giving one away with take_fd),
 * the output swap model, close/drain states, address strings, the
 * group-commit gate (barrier/release records, per-conn marks) and the
 * backend-independent half of file ops (the FIFO of slots, callbacks).
 *
 * Threads: the loop's thread only, except rk_loop_stop() (any thread, also
 * a signal handler: it does an atomic store and a write(2)).
 *
 * Invariants:
 *  - n_conns counts allocated conns and never exceeds cfg.max_conns.
 *  - A conn is on the work list at most once (queued) and on the finalize
 *    list at most once (fin_queued); both lists are bounded by n_conns.
 *  - on_close runs exactly once per conn whose on_accept returned non-NULL,
 *    right before the conn is freed, and never from inside rk_conn_close().
 *  - Output: out is what the user appends; inflight is owned by the
 *    kernel/backend while a send is armed. They are swapped (no copy) only
 *    when inflight is fully sent; a gated conn (group commit) swaps only up
 *    to its mark, copying the held tail back into out.
 *  - Output is taken from out only in rk__loop_post (after before_wait)
 *    and by rk_conn_flush, never while events are dispatched: a barrier
 *    taken in before_wait therefore covers the whole iteration's output.
 *  - Group commit: gate records sit in ticket order in a ring; each conn
 *    chains its own records (grec_first .. grec_newest) so that freeing it
 *    clears exactly its records. A conn is on the dirty list at most once.
 *  - File ops: a FIFO ring of RK_LOOP_MAX_FILE_OPS slots; callbacks run
 *    from the head only, so in submission order, never inside the call
 *    that queued them. */
#include "loop_impl.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* rk__loop_post repeats work/finalize passes at most this often per
 * iteration; leftovers make the backend poll instead of block. */
#define RK_POST_PASSES 8

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

int rk__env_disabled(const char *token)
{
    const char *s = getenv("RK_URING_DISABLE");
    size_t tl = strlen(token);
    while (s && *s) {
        size_t n = strcspn(s, ",");
        if (n == tl && strncmp(s, token, tl) == 0)
            return 1;
        s += n;
        if (*s == ',')
            s++;
    }
    return 0;
}

rk_loop *rk_loop_create(const rk_loop_config *cfg, char *err, size_t errlen)
{
    if (!cfg || cfg->tick_ms < 1 || cfg->n_listen_fds < 0 || cfg->n_listen_fds > 16 ||
        cfg->max_conns == 0) {
        set_err(err, errlen, "invalid loop config (tick_ms >= 1, 0..16 listeners, max_conns >= 1)");
        errno = EINVAL;
        return NULL;
    }
    rk_loop *l = calloc(1, sizeof *l);
    if (!l) {
        set_err(err, errlen, "out of memory");
        return NULL;
    }
    l->cfg = *cfg;
    atomic_init(&l->stop, 0);
    atomic_init(&l->stoppers, 0);
    l->stop_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (l->stop_fd < 0) {
        set_err(err, errlen, "eventfd: %s", strerror(errno));
        free(l);
        return NULL;
    }

    char why[256] = "";
    if (cfg->backend == RK_BACKEND_AUTO || cfg->backend == RK_BACKEND_IO_URING) {
        if (cfg->backend == RK_BACKEND_AUTO && rk__env_disabled("uring")) {
            snprintf(why, sizeof why, "disabled by RK_URING_DISABLE");
        } else {
            l->be = &rk_uring_backend;
            if (l->be->init(l, why, sizeof why) == 0)
                return l;
            l->be = NULL;
        }
        if (cfg->backend == RK_BACKEND_IO_URING) {
            set_err(err, errlen, "io_uring: %s", why);
            close(l->stop_fd);
            free(l);
            return NULL;
        }
    }
    l->be = &rk_epoll_backend;
    snprintf(l->reason, sizeof l->reason, "%s", why);
    if (l->be->init(l, err, errlen) != 0) {
        close(l->stop_fd);
        free(l);
        return NULL;
    }
    return l;
}

int rk_loop_run(rk_loop *l)
{
    return l->be->run(l);
}

void rk_loop_stop(rk_loop *l)
{
    uint64_t one = 1;
    /* The loop may see the flag, return and be destroyed before our write:
     * destroy waits for stoppers to reach 0 before closing stop_fd. */
    atomic_fetch_add_explicit(&l->stoppers, 1, memory_order_acq_rel);
    atomic_store_explicit(&l->stop, 1, memory_order_release);
    /* EAGAIN only when the counter is saturated: the loop is awake then. */
    ssize_t n = write(l->stop_fd, &one, sizeof one);
    (void)n;
    atomic_fetch_sub_explicit(&l->stoppers, 1, memory_order_release);
}

void rk_loop_destroy(rk_loop *l)
{
    if (!l)
        return;
    /* The backend tears down the kernel side first (the ring's exit cancels
     * everything), so no I/O references a conn while we free it. */
    l->be->fini(l);
    rk_conn *c = l->conns;
    while (c) {
        rk_conn *next = c->next;
        if (c->fd >= 0)
            close(c->fd);
        rk_buf_free(&c->out);
        rk_buf_free(&c->inflight);
        rk_buf_free(&c->stash);
        free(c->rbuf);
        free(c);
        c = next;
    }
    free(l->grec);
    /* Bound: a stopper is between two atomics and one write(2). */
    while (atomic_load_explicit(&l->stoppers, memory_order_acquire) != 0)
        sched_yield();
    close(l->stop_fd);
    free(l);
}

const char *rk_loop_backend_name(const rk_loop *l)
{
    return l->be->name;
}

const char *rk_loop_features(const rk_loop *l)
{
    return l->features;
}

void rk_loop_pause_accept(rk_loop *l, int paused)
{
    paused = !!paused;
    if (l->accept_paused == paused)
        return;
    l->accept_paused = paused;
    l->be->pause_accept(l, paused);
}

/* ---- addresses ---- */

static void format_addr(const struct sockaddr_storage *ss, socklen_t len, char *out, size_t outlen,
                        int *is_local)
{
    char ip[INET6_ADDRSTRLEN];
    int local = 0;
    out[0] = '\0';
    if (ss->ss_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &a->sin_addr, ip, sizeof ip);
        local = (ntohl(a->sin_addr.s_addr) >> 24) == 127;
        snprintf(out, outlen, "%s:%u", ip, ntohs(a->sin_port));
    } else if (ss->ss_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
        const uint8_t *b = a->sin6_addr.s6_addr;
        local = IN6_IS_ADDR_LOOPBACK(&a->sin6_addr) ||
                (IN6_IS_ADDR_V4MAPPED(&a->sin6_addr) && b[12] == 127);
        inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof ip);
        snprintf(out, outlen, "[%s]:%u", ip, ntohs(a->sin6_port));
    } else if (ss->ss_family == AF_UNIX) {
        const struct sockaddr_un *a = (const struct sockaddr_un *)ss;
        size_t off = offsetof(struct sockaddr_un, sun_path);
        size_t plen = len > off ? (size_t)len - off : 0;
        local = 1;
        /* Like Redis: "path:0"; an unnamed peer shows as ":0". */
        snprintf(out, outlen, "%.*s:0", (int)strnlen(a->sun_path, plen), a->sun_path);
    } else {
        snprintf(out, outlen, "?:0");
    }
    if (is_local)
        *is_local = local;
}

static void conn_addresses(rk_conn *c)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    int dummy;
    if (getsockname(c->fd, (struct sockaddr *)&ss, &len) == 0)
        format_addr(&ss, len, c->local, sizeof c->local, &dummy);
    else
        snprintf(c->local, sizeof c->local, "?:0");
    len = sizeof ss;
    memset(&ss, 0, sizeof ss);
    if (getpeername(c->fd, (struct sockaddr *)&ss, &len) == 0) {
        format_addr(&ss, len, c->peer, sizeof c->peer, &c->peer_local);
        if (ss.ss_family == AF_UNIX && c->peer[0] == ':') {
            /* Unnamed on both ends (a socketpair): say what it is. */
            if (c->local[0] == ':')
                snprintf(c->local, sizeof c->local, "unix:0");
            snprintf(c->peer, sizeof c->peer, "%s", c->local);
        }
    } else {
        snprintf(c->peer, sizeof c->peer, "?:0");
    }
}

static void gate_forget(rk_loop *l, rk_conn *c);

/* ---- conn lifecycle ---- */

/* Allocates c for fd and links it (counted in n_conns). NULL with errno
 * (EMFILE over max_conns, ENOMEM); fd untouched then. */
static rk_conn *conn_new(rk_loop *l, int fd)
{
    if (l->n_conns >= l->cfg.max_conns) {
        errno = EMFILE;
        return NULL;
    }
    rk_conn *c = calloc(1, sizeof *c);
    if (!c) {
        errno = ENOMEM;
        return NULL;
    }
    /* user_data tags use the low 4 bits of the pointer: malloc aligns to
     * max_align_t, checked at compile time below. */
    _Static_assert(_Alignof(max_align_t) >= 16, "io_uring user_data tags need 16-byte alignment");
    assert(((uintptr_t)c & 15) == 0);
    c->loop = l;
    c->fd = fd;
    c->sendable = RK_UNGATED;
    c->grec_first = c->grec_newest = RK_NO_REC;
    rk_buf_init(&c->out);
    rk_buf_init(&c->inflight);
    rk_buf_init(&c->stash);
    conn_addresses(c);
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0 &&
        (ss.ss_family == AF_INET || ss.ss_family == AF_INET6)) {
        int one = 1;
        /* Replies are flushed once per iteration already; Nagle only adds latency. */
        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    c->next = l->conns;
    if (l->conns)
        l->conns->prev = c;
    l->conns = c;
    l->n_conns++;
    return c;
}

/* Takes c off the loop's list of connections. */
static void conn_list_remove(rk_loop *l, rk_conn *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        l->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    assert(l->n_conns > 0);
    l->n_conns--;
}

/* Undoes conn_new for a conn the backend never saw (conn_open failed
 * before registering anything): the fd stays open, nothing is called. */
static void conn_unlink_new(rk_loop *l, rk_conn *c)
{
    assert(c->refs == 0 && !c->queued && !c->fin_queued && !c->gdirty && c->grecs == 0);
    conn_list_remove(l, c);
    free(c);
}

void rk__conn_accepted(rk_loop *l, int fd)
{
    rk_conn *c = conn_new(l, fd);
    if (!c) {
        close(fd); /* over the bound or out of memory: refuse without on_accept/on_close */
        return;
    }
    if (l->be->conn_open(c) != 0) {
        c->state = RK_CONN_CLOSING;
        rk__conn_maybe_fin(c);
        return;
    }
    void *ud = NULL;
    if (l->cfg.h.on_accept) {
        ud = l->cfg.h.on_accept(l->cfg.ud, c);
        if (!ud) {
            rk__conn_hard_close(c); /* refused: no on_close */
            return;
        }
    }
    c->ud = ud;
    c->accepted = 1;
    if (c->state != RK_CONN_CLOSING)
        rk__conn_queue(c); /* the backend arms reads and flushes in post */
}

rk_conn *rk_loop_adopt(rk_loop *l, int fd, void *conn_ud)
{
    if (fd < 0 || !conn_ud) {
        errno = EINVAL;
        return NULL;
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0)
        return NULL; /* EBADF */
    rk_conn *c = conn_new(l, fd);
    if (!c)
        return NULL;
    /* epoll needs it; io_uring tolerates blocking sockets but the caller
     * gets one behaviour on both backends. */
    if (!(fl & O_NONBLOCK) && fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0) {
        int e = errno;
        conn_unlink_new(l, c);
        errno = e;
        return NULL;
    }
    if (l->be->conn_open(c) != 0) {
        int e = errno;
        conn_unlink_new(l, c);
        if (!(fl & O_NONBLOCK))
            (void)fcntl(fd, F_SETFL, fl); /* give it back as it came */
        errno = e;
        return NULL;
    }
    c->ud = conn_ud;
    c->accepted = 1;
    rk__conn_queue(c); /* reads armed and output flushed in post, as for accept */
    return c;
}

int rk_conn_take_fd(rk_conn *c)
{
    if (c->state != RK_CONN_OPEN || c->eof) {
        errno = EBADF;
        return -1;
    }
    int nfd = fcntl(c->fd, F_DUPFD_CLOEXEC, 0);
    if (nfd < 0)
        return -1;
    if (c->loop->be->conn_detach(c) != 0) {
        int e = errno;
        close(nfd);
        errno = e;
        return -1;
    }
    c->detached = 1;
    /* Read but never delivered: the caller's peer was to be silent. */
    c->loop->taken_dropped += c->stash.len;
    rk_buf_free(&c->stash);
    rk__conn_hard_close(c); /* output dropped; c->fd closed at free, no shutdown */
    return nfd;
}

uint64_t rk_loop_taken_dropped(const rk_loop *l)
{
    return l->taken_dropped;
}

void rk__conn_dropped(rk_conn *c, size_t n)
{
    if (c->detached)
        c->loop->taken_dropped += n;
}

void rk__conn_queue(rk_conn *c)
{
    if (c->queued)
        return;
    c->queued = 1;
    c->wnext = c->loop->work;
    c->loop->work = c;
}

void rk__conn_maybe_fin(rk_conn *c)
{
    if (c->state != RK_CONN_CLOSING || c->refs != 0 || c->fin_queued)
        return;
    c->fin_queued = 1;
    c->fnext = c->loop->fin;
    c->loop->fin = c;
}

void rk__conn_hard_close(rk_conn *c)
{
    if (c->state == RK_CONN_CLOSING)
        return;
    c->state = RK_CONN_CLOSING;
    rk_buf_clear(&c->out);
    gate_forget(c->loop, c); /* held output is dropped with the rest */
    c->loop->be->conn_shutdown(c);
    rk__conn_maybe_fin(c);
}

void rk__conn_deliver(rk_conn *c, const char *p, size_t n)
{
    if (c->state != RK_CONN_OPEN || n == 0)
        return; /* draining or closing: input is read and dropped */
    if (c->loop->cfg.h.on_data)
        c->loop->cfg.h.on_data(c->ud, p, n);
}

size_t rk__conn_take_output(rk_conn *c)
{
    if (c->state == RK_CONN_CLOSING) {
        rk_buf_clear(&c->out);
        return 0;
    }
    assert(c->inflight_off <= c->inflight.len);
    if (c->inflight_off == c->inflight.len) {
        rk_buf_clear(&c->inflight);
        c->inflight_off = 0;
        size_t n = c->out.len;
        if (c->sendable != RK_UNGATED) {
            assert(c->sendable >= c->taken && c->sendable - c->taken <= c->out.len);
            n = (size_t)(c->sendable - c->taken);
        }
        if (n > 0) {
            size_t held = c->out.len - n;
            /* Held tail: copied into the (empty) buffer that becomes out.
             * Bound: the bytes appended since the last release. */
            if (held > 0 && rk_buf_append(&c->inflight, c->out.data + n, held) != 0) {
                rk__conn_hard_close(c); /* out of memory: drop the client */
                return 0;
            }
            c->out.len = n;
            rk_buf t = c->out;
            c->out = c->inflight;
            c->inflight = t;
            c->taken += n;
        }
    }
    return c->inflight.len - c->inflight_off;
}

/* ---- group commit ---- */

static uint64_t conn_appended(const rk_conn *c)
{
    return c->taken + c->out.len;
}

static void gate_dirty_add(rk_loop *l, rk_conn *c)
{
    if (c->gdirty || c->state == RK_CONN_CLOSING)
        return;
    c->gdirty = 1;
    c->gprev = NULL;
    c->gnext = l->gdirty;
    if (l->gdirty)
        l->gdirty->gprev = c;
    l->gdirty = c;
    l->gdirty_n++;
}

static void gate_dirty_del(rk_loop *l, rk_conn *c)
{
    if (!c->gdirty)
        return;
    if (c->gprev)
        c->gprev->gnext = c->gnext;
    else
        l->gdirty = c->gnext;
    if (c->gnext)
        c->gnext->gprev = c->gprev;
    c->gprev = c->gnext = NULL;
    c->gdirty = 0;
    assert(l->gdirty_n > 0);
    l->gdirty_n--;
}

static rk_gate_rec *grec_at(rk_loop *l, uint64_t idx)
{
    return &l->grec[idx & (l->grec_cap - 1)];
}

/* Room for `more` records: doubles the ring (records keep their absolute
 * indexes). 0, or -1 on allocation failure (ring unchanged). */
static int grec_reserve(rk_loop *l, size_t more)
{
    size_t used = (size_t)(l->grec_tail - l->grec_head);
    if (used + more <= l->grec_cap)
        return 0;
    size_t cap = l->grec_cap ? l->grec_cap : 64;
    while (cap < used + more)
        cap *= 2;
    rk_gate_rec *n = malloc(cap * sizeof *n);
    if (!n)
        return -1;
    for (uint64_t i = l->grec_head; i < l->grec_tail; i++)
        n[i & (cap - 1)] = *grec_at(l, i);
    free(l->grec);
    l->grec = n;
    l->grec_cap = cap;
    return 0;
}

/* The conn is being freed: its held bytes go with it; its records stay
 * in the ring (order) but no longer name it. */
static void gate_forget(rk_loop *l, rk_conn *c)
{
    gate_dirty_del(l, c);
    unsigned n = 0;
    for (uint64_t i = c->grec_first; i != RK_NO_REC; n++) {
        assert(n < c->grecs && i >= l->grec_head && i < l->grec_tail);
        rk_gate_rec *r = grec_at(l, i);
        assert(r->c == c);
        r->c = NULL;
        i = r->next;
    }
    (void)n;
    c->grec_first = c->grec_newest = RK_NO_REC;
    c->grecs = 0;
    c->sendable = RK_UNGATED;
}

uint64_t rk_loop_output_barrier(rk_loop *l)
{
    if (!l->gate_used) {
        /* Until now appends were not tracked: the conns with output since
         * the last post are exactly those on the work list. */
        l->gate_used = 1;
        for (rk_conn *c = l->work; c; c = c->wnext)
            gate_dirty_add(l, c);
    }
    /* Hold first, so that even a failed barrier keeps its promise. */
    for (rk_conn *c = l->gdirty; c; c = c->gnext)
        if (c->sendable == RK_UNGATED && conn_appended(c) > c->taken)
            c->sendable = c->taken;
    if (l->gate_ticket - l->gate_released >= RK_LOOP_MAX_BARRIERS ||
        grec_reserve(l, l->gdirty_n) != 0)
        return 0; /* conns stay dirty: the next barrier records them */
    uint64_t t = ++l->gate_ticket;
    while (l->gdirty) {
        rk_conn *c = l->gdirty;
        gate_dirty_del(l, c);
        uint64_t a = conn_appended(c);
        if (c->sendable == RK_UNGATED)
            continue; /* nothing held */
        if (c->grecs == 0 && a == c->sendable) {
            c->sendable = RK_UNGATED; /* everything it has is released */
            continue;
        }
        if (c->grecs > 0 && a == c->grec_last)
            continue; /* nothing new since its last record */
        uint64_t idx = l->grec_tail++;
        rk_gate_rec *r = grec_at(l, idx);
        r->ticket = t;
        r->appended = a;
        r->next = RK_NO_REC;
        r->c = c;
        if (c->grec_newest != RK_NO_REC)
            grec_at(l, c->grec_newest)->next = idx;
        else
            c->grec_first = idx;
        c->grec_newest = idx;
        c->grec_last = a;
        c->grecs++;
        assert(c->grecs <= RK_LOOP_MAX_BARRIERS);
    }
    return t;
}

void rk_loop_output_release(rk_loop *l, uint64_t ticket)
{
    assert(ticket <= l->gate_ticket);
    if (ticket <= l->gate_released)
        return;
    l->gate_released = ticket;
    while (l->grec_head < l->grec_tail) {
        rk_gate_rec *r = grec_at(l, l->grec_head);
        if (r->ticket > ticket)
            break;
        l->grec_head++;
        rk_conn *c = r->c;
        if (!c)
            continue; /* freed with its held bytes */
        assert(c->grec_first == l->grec_head - 1 && c->grecs > 0);
        assert(r->appended >= c->sendable && r->appended <= conn_appended(c));
        c->grec_first = r->next;
        if (--c->grecs == 0)
            c->grec_newest = RK_NO_REC;
        /* A conn whose every byte is released sends freely again. */
        c->sendable = (c->grecs == 0 && r->appended == conn_appended(c)) ? RK_UNGATED
                                                                          : r->appended;
        rk__conn_queue(c); /* sent from post, like any reply */
    }
}

size_t rk_conn_held(const rk_conn *c)
{
    return c->sendable == RK_UNGATED ? 0 : (size_t)(conn_appended(c) - c->sendable);
}

/* ---- file ops (common half) ---- */

static int file_queue(rk_loop *l, int fd, const void *buf, size_t len, uint64_t off,
                      unsigned flags, int sync_only, rk_file_cb *cb, void *ud)
{
    if (fd < 0 || (flags & ~(unsigned)RK_FILE_FSYNC) || !cb || (len > 0 && !buf) ||
        off > (uint64_t)INT64_MAX || len > (uint64_t)INT64_MAX - off) {
        errno = EINVAL;
        return -1;
    }
    if (l->fop_tail - l->fop_head >= RK_LOOP_MAX_FILE_OPS) {
        errno = EAGAIN;
        return -1;
    }
    rk_file_op *op = &l->fops[l->fop_tail++ % RK_LOOP_MAX_FILE_OPS];
    assert(op->state == RK_FOP_FREE);
    memset(op, 0, sizeof *op);
    op->state = RK_FOP_QUEUED;
    op->fd = fd;
    op->flags = flags;
    op->sync_only = sync_only;
    op->buf = buf;
    op->len = len;
    op->off = off;
    op->cb = cb;
    op->ud = ud;
    l->be->file_start(l, op);
    return 0;
}

int rk_loop_write_file(rk_loop *l, int fd, const void *buf, size_t len, uint64_t off,
                       unsigned flags, rk_file_cb *cb, void *ud)
{
    int sync_only = len == 0 && (flags & RK_FILE_FSYNC);
    return file_queue(l, fd, buf, len, off, flags, sync_only, cb, ud);
}

int rk_loop_fsync_file(rk_loop *l, int fd, rk_file_cb *cb, void *ud)
{
    return file_queue(l, fd, NULL, 0, 0, RK_FILE_FSYNC, 1, cb, ud);
}

int rk__file_deliver(rk_loop *l)
{
    /* Bound: the ops queued when we started; ones a callback queues wait. */
    uint64_t end = l->fop_tail;
    while (l->fop_head < end) {
        rk_file_op *op = &l->fops[l->fop_head % RK_LOOP_MAX_FILE_OPS];
        if (op->state != RK_FOP_DONE)
            break;
        rk_file_cb *cb = op->cb;
        void *ud = op->ud;
        int64_t res = op->res;
        op->state = RK_FOP_FREE; /* the slot is reusable from inside cb */
        l->fop_head++;
        cb(ud, res);
    }
    return l->fop_head < l->fop_tail &&
           l->fops[l->fop_head % RK_LOOP_MAX_FILE_OPS].state == RK_FOP_DONE;
}

int rk__file_busy(const rk_loop *l)
{
    for (uint64_t i = l->fop_head; i < l->fop_tail; i++)
        if (l->fops[i % RK_LOOP_MAX_FILE_OPS].state != RK_FOP_DONE)
            return 1;
    return 0;
}

static void conn_free(rk_loop *l, rk_conn *c)
{
    assert(c->refs == 0 && !c->queued);
    conn_list_remove(l, c);
    gate_forget(l, c);
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    if (c->accepted && l->cfg.h.on_close)
        l->cfg.h.on_close(c->ud);
    rk_buf_free(&c->out);
    rk_buf_free(&c->inflight);
    rk_buf_free(&c->stash);
    free(c->rbuf);
    free(c);
}

int rk__loop_post(rk_loop *l)
{
    for (int pass = 0; pass < RK_POST_PASSES && (l->work || l->fin); pass++) {
        /* Work first: it may close conns, which then finalize below. */
        rk_conn *w = l->work;
        l->work = NULL;
        while (w) {
            rk_conn *c = w;
            w = c->wnext;
            c->wnext = NULL;
            c->queued = 0;
            if (c->state != RK_CONN_CLOSING)
                l->be->conn_work(c);
        }
        rk_conn *f = l->fin;
        l->fin = NULL;
        while (f) {
            rk_conn *c = f;
            f = c->fnext;
            c->fnext = NULL;
            c->fin_queued = 0;
            if (c->queued) {
                /* Re-queued by an on_close in this pass: free next pass. */
                rk__conn_maybe_fin(c);
                continue;
            }
            conn_free(l, c);
        }
    }
    return l->work != NULL || l->fin != NULL;
}

void rk__drain_eventfd(int fd)
{
    uint64_t v;
    ssize_t n;
    do {
        n = read(fd, &v, sizeof v);
    } while (n < 0 && errno == EINTR);
}

/* ---- public conn API ---- */

rk_buf *rk_conn_out(rk_conn *c)
{
    /* The caller is about to append: flush after before_wait. */
    rk__conn_queue(c);
    if (c->loop->gate_used)
        gate_dirty_add(c->loop, c); /* the next barrier looks at it */
    return &c->out;
}

void rk_conn_flush(rk_conn *c)
{
    if (c->state != RK_CONN_CLOSING)
        c->loop->be->conn_flush(c);
}

size_t rk_conn_unsent(const rk_conn *c)
{
    return c->out.len + (c->inflight.len - c->inflight_off);
}

void rk_conn_close(rk_conn *c, int after_flush)
{
    if (c->state == RK_CONN_CLOSING)
        return;
    if (after_flush && rk_conn_unsent(c) > 0) {
        c->state = RK_CONN_DRAINING;
        rk__conn_queue(c); /* conn_work sends, then hard-closes when empty */
        return;
    }
    rk__conn_hard_close(c);
}

void rk_conn_pause_read(rk_conn *c, int paused)
{
    paused = !!paused;
    if (c->user_paused == (unsigned)paused || c->state == RK_CONN_CLOSING) {
        c->user_paused = paused;
        return;
    }
    c->user_paused = paused;
    c->loop->be->conn_pause(c, paused);
}

int rk_conn_fd(const rk_conn *c)
{
    return c->fd;
}

const char *rk_conn_peer(const rk_conn *c)
{
    return c->peer;
}

const char *rk_conn_local(const rk_conn *c)
{
    return c->local;
}

int rk_conn_peer_is_local(const rk_conn *c)
{
    return c->peer_local;
}
