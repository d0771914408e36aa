/* loop_epoll.c: the epoll backend of rk_loop, for kernels or sandboxes
 * without io_uring.
 *
 * Owns the epoll fd, the tick timerfd and one receive buffer shared by all
 * conns (data is only valid during on_data, so one suffices).
 * Threads: the loop's thread.
 *
 * Invariants:
 *  - Level-triggered. A conn's interest is exactly EPOLLIN while it reads
 *    (open or draining, not paused, no EOF yet) plus EPOLLOUT while a send
 *    hit EAGAIN (c->send_armed); c->ep_events mirrors what the kernel has.
 *    A paused conn whose peer hung up is out of the set (c->ep_parked)
 *    until it resumes: its unread bytes are still delivered.
 *  - Sockets (conns, listeners, wake_fd) are nonblocking.
 *  - No I/O is ever in flight between calls, so c->refs stays 0 and a
 *    CLOSING conn is freed by the next rk__loop_post.
 *  - Sends happen only from rk__loop_post (conn_work) or rk_conn_flush:
 *    EPOLLOUT just schedules the conn, so output appended while events are
 *    dispatched waits for before_wait (and a group-commit barrier there).
 *  - File ops run as blocking pwrite/fdatasync inside rk_loop_write_file;
 *    their callbacks run after the next iteration's events.
 *
 * Bounds: RK_EP_EVENTS events per wait; per readiness event at most
 * RK_EP_READS reads, RK_EP_ACCEPTS accepts, RK_EP_WRITES sends (level
 * triggering brings us back for the rest, so one busy socket cannot starve
 * the others). Accept errors from resource exhaustion stop accepting until
 * the next tick. */
#include "loop_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#define RK_EP_EVENTS 256
#define RK_EP_READS 16
#define RK_EP_ACCEPTS 64
#define RK_EP_WRITES 64
#define RK_EP_RBUF (64 * 1024)

enum { EP_LISTEN = 1, EP_CONN, EP_WAKE, EP_STOP, EP_TIMER };

typedef struct epoll_state {
    int epfd;
    int tfd;
    int accept_backoff;
    char *rbuf;
} epoll_state;

static epoll_state *ES(rk_loop *l)
{
    return (epoll_state *)l->be_state;
}

static int set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0)
        return -1;
    return (fl & O_NONBLOCK) ? 0 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

static int ep_ctl(epoll_state *e, int op, int fd, uint32_t events, uint64_t data)
{
    struct epoll_event ev = {.events = events, .data = {.u64 = data}};
    return epoll_ctl(e->epfd, op, fd, &ev);
}

static void update_events(rk_conn *c)
{
    if (c->state == RK_CONN_CLOSING)
        return;
    uint32_t want = 0;
    if (!c->user_paused && !c->eof)
        want |= EPOLLIN;
    if (c->send_armed)
        want |= EPOLLOUT;
    if (c->ep_parked) {
        if (want == 0)
            return;
        if (ep_ctl(ES(c->loop), EPOLL_CTL_ADD, c->fd, want, (uint64_t)(uintptr_t)c | EP_CONN) != 0) {
            rk__conn_hard_close(c);
            return;
        }
        c->ep_parked = 0;
        c->ep_events = want;
        return;
    }
    if (want == c->ep_events)
        return;
    if (ep_ctl(ES(c->loop), EPOLL_CTL_MOD, c->fd, want, (uint64_t)(uintptr_t)c | EP_CONN) != 0) {
        rk__conn_hard_close(c);
        return;
    }
    c->ep_events = want;
}

static void ep_conn_flush(rk_conn *c)
{
    if (c->state == RK_CONN_CLOSING)
        return;
    for (int i = 0; i < RK_EP_WRITES; i++) {
        size_t left = rk__conn_take_output(c);
        if (left == 0) {
            c->send_armed = 0;
            if (c->state == RK_CONN_DRAINING && c->out.len == 0) { /* none held */
                rk__conn_hard_close(c);
                return;
            }
            update_events(c);
            return;
        }
        ssize_t n = send(c->fd, c->inflight.data + c->inflight_off, left,
                         MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            c->inflight_off += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        rk__conn_hard_close(c); /* EPIPE, ECONNRESET, ... */
        return;
    }
    /* Socket full (or our per-event bound hit): EPOLLOUT calls us again. */
    c->send_armed = 1;
    update_events(c);
}

static void ep_read(rk_loop *l, rk_conn *c)
{
    epoll_state *e = ES(l);
    for (int i = 0; i < RK_EP_READS; i++) {
        if (c->state == RK_CONN_CLOSING || c->user_paused || c->eof)
            return;
        ssize_t n = recv(c->fd, e->rbuf, RK_EP_RBUF, 0);
        if (n > 0) {
            rk__conn_deliver(c, e->rbuf, (size_t)n);
            if (n < RK_EP_RBUF)
                return; /* likely drained; level triggering says if not */
            continue;
        }
        if (n == 0) {
            c->eof = 1; /* peer sent FIN: answer what it asked, then close */
            update_events(c);
            rk_conn_close(c, 1);
            return;
        }
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            rk__conn_hard_close(c);
        return;
    }
}

static void ep_listeners(rk_loop *l, uint32_t events)
{
    epoll_state *e = ES(l);
    for (int i = 0; i < l->cfg.n_listen_fds; i++)
        ep_ctl(e, EPOLL_CTL_MOD, l->cfg.listen_fds[i], events, ((uint64_t)i << 3) | EP_LISTEN);
}

static void ep_accept(rk_loop *l, int i)
{
    epoll_state *e = ES(l);
    int lfd = l->cfg.listen_fds[i];
    for (int k = 0; k < RK_EP_ACCEPTS && !l->accept_paused; k++) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            rk__conn_accepted(l, fd);
            continue;
        }
        if (errno == EINTR || errno == ECONNABORTED)
            continue;
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
            /* Level triggering would spin on the pending connection. */
            e->accept_backoff = 1;
            ep_listeners(l, 0);
        }
        return; /* EAGAIN or a listener error */
    }
}

static void ep_dispatch(rk_loop *l, const struct epoll_event *ev)
{
    epoll_state *e = ES(l);
    uint64_t data = ev->data.u64;
    int tag = (int)(data & 7);
    switch (tag) {
    case EP_LISTEN:
        ep_accept(l, (int)(data >> 3));
        break;
    case EP_CONN: {
        rk_conn *c = (rk_conn *)(uintptr_t)(data & ~(uint64_t)7);
        /* Closed earlier in this batch: the pointer is still valid (freed in
         * post), but its fd is out of epoll. */
        if (c->state == RK_CONN_CLOSING)
            break;
        if (ev->events & (EPOLLIN | EPOLLHUP | EPOLLERR))
            ep_read(l, c);
        if ((ev->events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) && c->send_armed) {
            c->send_armed = 0; /* conn_work sends, after before_wait */
            rk__conn_queue(c);
        }
        /* Not reading and the socket is dead: HUP cannot be masked, so do
         * not spin on it. Paused by its user, the conn may still hold
         * bytes the peer sent before hanging up: park it out of the set
         * until it resumes, then read them. Otherwise nothing will ever
         * clear the condition. */
        if ((ev->events & (EPOLLHUP | EPOLLERR)) && c->state != RK_CONN_CLOSING &&
            !(c->ep_events & EPOLLIN)) {
            if (c->user_paused && !c->eof && !c->send_armed &&
                epoll_ctl(ES(l)->epfd, EPOLL_CTL_DEL, c->fd, NULL) == 0) {
                c->ep_parked = 1;
                c->ep_events = 0;
            } else {
                rk__conn_hard_close(c);
            }
        }
        break;
    }
    case EP_WAKE:
        rk__drain_eventfd(l->cfg.wake_fd);
        if (l->cfg.h.on_wake)
            l->cfg.h.on_wake(l->cfg.ud);
        break;
    case EP_STOP:
        rk__drain_eventfd(l->stop_fd);
        break;
    case EP_TIMER: {
        uint64_t exp;
        if (read(e->tfd, &exp, sizeof exp) != (ssize_t)sizeof exp)
            break; /* spurious */
        if (e->accept_backoff) {
            e->accept_backoff = 0;
            if (!l->accept_paused)
                ep_listeners(l, EPOLLIN);
        }
        if (l->cfg.h.on_tick)
            l->cfg.h.on_tick(l->cfg.ud); /* once, even when late */
        break;
    }
    }
}

static int ep_run(rk_loop *l)
{
    epoll_state *e = ES(l);
    struct epoll_event evs[RK_EP_EVENTS];
    int rc = 0;
    int more = l->fop_head != l->fop_tail; /* ops queued before run: deliver at once */
    for (rk_conn *c = l->conns; c; c = c->next)
        rk__conn_queue(c);
    while (!atomic_load_explicit(&l->stop, memory_order_acquire)) {
        int n = epoll_wait(e->epfd, evs, RK_EP_EVENTS, more ? 0 : -1);
        more = 0;
        if (n < 0) {
            if (errno == EINTR)
                continue;
            snprintf(l->reason, sizeof l->reason, "epoll_wait: %s", strerror(errno));
            rc = -1;
            break;
        }
        for (int i = 0; i < n; i++)
            ep_dispatch(l, &evs[i]);
        /* Finished ops at the head: queued by an earlier iteration or by a
         * handler just now, never from inside rk_loop_write_file. */
        rk__file_deliver(l);
        if (atomic_load_explicit(&l->stop, memory_order_acquire))
            break;
        if (l->cfg.h.before_wait)
            l->cfg.h.before_wait(l->cfg.ud);
        more = rk__loop_post(l);
        /* An op queued during this iteration is done already: its
         * callback is due on the next one, so do not block. */
        more |= l->fop_head != l->fop_tail;
    }
    /* Every op is DONE (synchronous); a callback may queue another, which
     * is done at once too: bounded by RK_LOOP_MAX_FILE_OPS per round. */
    for (int round = 0; round < 64 && l->fop_head != l->fop_tail; round++)
        rk__file_deliver(l);
    rk__loop_post(l);
    return rc;
}

static int ep_conn_open(rk_conn *c)
{
    if (set_nonblock(c->fd) != 0)
        return -1;
    if (ep_ctl(ES(c->loop), EPOLL_CTL_ADD, c->fd, EPOLLIN, (uint64_t)(uintptr_t)c | EP_CONN) != 0)
        return -1;
    c->ep_events = EPOLLIN;
    return 0;
}

static void ep_conn_shutdown(rk_conn *c)
{
    /* Failure is harmless: the fd is closed right after, which removes it. */
    (void)epoll_ctl(ES(c->loop)->epfd, EPOLL_CTL_DEL, c->fd, NULL);
    c->ep_events = 0;
    c->ep_parked = 0;
    c->send_armed = 0;
}

static int ep_conn_detach(rk_conn *c)
{
    /* Must succeed: the registration belongs to the open file, which the
     * dup keeps alive, so closing c->fd alone would not remove it and its
     * events would name a freed conn. */
    if (!c->ep_parked && epoll_ctl(ES(c->loop)->epfd, EPOLL_CTL_DEL, c->fd, NULL) != 0 && errno != ENOENT)
        return -1;
    c->ep_parked = 0;
    c->ep_events = 0;
    c->send_armed = 0;
    return 0;
}

static void ep_conn_pause(rk_conn *c, int paused)
{
    (void)paused;
    update_events(c); /* resuming: level triggering reports buffered bytes */
}

static void ep_conn_work(rk_conn *c)
{
    if (!c->send_armed)
        ep_conn_flush(c);
    update_events(c);
}

static void ep_pause_accept(rk_loop *l, int paused)
{
    if (!ES(l)->accept_backoff)
        ep_listeners(l, paused ? 0 : EPOLLIN);
}

/* Blocking pwrite of the whole range (short writes continued: each
 * step advances at least one byte, so at most len steps), then
 * fdatasync. Sets op DONE. */
static void ep_file_start(rk_loop *l, rk_file_op *op)
{
    (void)l;
    int64_t res = 0;
    while (op->done < op->len) {
        ssize_t n = pwrite(op->fd, op->buf + op->done, op->len - op->done,
                           (off_t)(op->off + op->done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            res = n < 0 ? -errno : -EIO; /* 0 for a non-empty write: no progress */
            break;
        }
        op->done += (size_t)n;
    }
    if (res == 0 && (op->flags & RK_FILE_FSYNC)) {
        int r;
        do {
            r = fdatasync(op->fd);
        } while (r != 0 && errno == EINTR);
        if (r != 0)
            res = -errno;
    }
    op->res = res < 0 ? res : (int64_t)op->len;
    op->state = RK_FOP_DONE;
}

static void ep_fini(rk_loop *l)
{
    epoll_state *e = ES(l);
    if (!e)
        return;
    if (e->tfd >= 0)
        close(e->tfd);
    if (e->epfd >= 0)
        close(e->epfd);
    free(e->rbuf);
    free(e);
    l->be_state = NULL;
}

static int ep_init(rk_loop *l, char *err, size_t errlen)
{
    epoll_state *e = calloc(1, sizeof *e);
    if (!e) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    e->tfd = -1;
    e->epfd = -1;
    l->be_state = e;
    const char *what = "malloc";
    e->rbuf = malloc(RK_EP_RBUF);
    if (!e->rbuf)
        goto fail;
    what = "epoll_create1";
    e->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (e->epfd < 0)
        goto fail;
    what = "timerfd";
    e->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (e->tfd < 0)
        goto fail;
    struct itimerspec its;
    its.it_interval.tv_sec = l->cfg.tick_ms / 1000;
    its.it_interval.tv_nsec = (long)(l->cfg.tick_ms % 1000) * 1000000L;
    its.it_value = its.it_interval;
    if (timerfd_settime(e->tfd, 0, &its, NULL) != 0 ||
        ep_ctl(e, EPOLL_CTL_ADD, e->tfd, EPOLLIN, EP_TIMER) != 0)
        goto fail;
    what = "stop eventfd";
    if (ep_ctl(e, EPOLL_CTL_ADD, l->stop_fd, EPOLLIN, EP_STOP) != 0)
        goto fail;
    what = "wake_fd";
    if (l->cfg.wake_fd >= 0 &&
        (set_nonblock(l->cfg.wake_fd) != 0 ||
         ep_ctl(e, EPOLL_CTL_ADD, l->cfg.wake_fd, EPOLLIN, EP_WAKE) != 0))
        goto fail;
    what = "listener";
    for (int i = 0; i < l->cfg.n_listen_fds; i++) {
        int fd = l->cfg.listen_fds[i];
        if (set_nonblock(fd) != 0 ||
            ep_ctl(e, EPOLL_CTL_ADD, fd, EPOLLIN, ((uint64_t)i << 3) | EP_LISTEN) != 0)
            goto fail;
    }
    snprintf(l->features, sizeof l->features, "epoll: level-triggered, timerfd ticks%s%s",
             l->reason[0] ? "; io_uring unavailable: " : "", l->reason);
    return 0;
fail:
    snprintf(err, errlen, "epoll backend: %s: %s", what, strerror(errno));
    ep_fini(l);
    return -1;
}

const rk_backend_ops rk_epoll_backend = {
    .name = "epoll",
    .init = ep_init,
    .run = ep_run,
    .fini = ep_fini,
    .conn_open = ep_conn_open,
    .conn_flush = ep_conn_flush,
    .conn_shutdown = ep_conn_shutdown,
    .conn_detach = ep_conn_detach,
    .conn_pause = ep_conn_pause,
    .conn_work = ep_conn_work,
    .pause_accept = ep_pause_accept,
    .file_start = ep_file_start,
};
