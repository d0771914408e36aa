/* loop.h: one event loop per shard thread, over io_uring or epoll.
 *
 * Owner: the thread that created the loop; every function here is called on
 * it, except rk_loop_stop(), which any thread may call.
 *
 * The loop owns the listening socket's accept path, every connection's
 * socket (accepted, or adopted with rk_loop_adopt until given away with
 * rk_conn_take_fd), receive buffers and the bytes in flight to the kernel. The user
 * (core/) owns what a connection means: it gets callbacks and appends reply
 * bytes to the connection's pending output buffer. */
#ifndef RK_IO_LOOP_H
#define RK_IO_LOOP_H

#include <stddef.h>
#include <stdint.h>
#include "buf.h"

typedef struct rk_loop rk_loop;
typedef struct rk_conn rk_conn;

enum rk_backend { RK_BACKEND_AUTO = 0, RK_BACKEND_IO_URING, RK_BACKEND_EPOLL };

typedef struct rk_loop_handlers {
    /* A new connection. Return the user pointer to attach, or NULL to refuse
     * (the loop then closes it). */
    void *(*on_accept)(void *loop_ud, rk_conn *c);
    /* Bytes arrived. They are valid only during the call: copy them. */
    void (*on_data)(void *conn_ud, const char *data, size_t len);
    /* The connection is gone (peer closed, error, or after rk_conn_close).
     * Called exactly once; the rk_conn is freed right after it returns. */
    void (*on_close)(void *conn_ud);
    /* The eventfd given at creation became readable. */
    void (*on_wake)(void *loop_ud);
    /* Called every tick_ms milliseconds. */
    void (*on_tick)(void *loop_ud);
    /* Called once per loop iteration after completions were handled and
     * before the thread waits: flush replies here. */
    void (*before_wait)(void *loop_ud);
} rk_loop_handlers;

typedef struct rk_loop_config {
    enum rk_backend backend;
    int listen_fds[16];       /* listening sockets this loop accepts on (already bound/listening) */
    int n_listen_fds;
    int wake_fd;              /* eventfd to watch, or -1. The loop sets it O_NONBLOCK and
                                 reads (drains) it before each on_wake. */
    int tick_ms;              /* >= 1 */
    unsigned max_conns;       /* bound on live connections; extra ones are refused */
    void *ud;                 /* loop_ud passed to handlers */
    rk_loop_handlers h;
} rk_loop_config;

/* Creates the loop. With RK_BACKEND_AUTO tries io_uring and falls back to
 * epoll. On failure returns NULL and writes the reason into err. */
rk_loop *rk_loop_create(const rk_loop_config *cfg, char *err, size_t errlen);
/* Runs until rk_loop_stop(). Returns 0, or -1 on a fatal error. Before
 * returning it cancels the I/O it has in flight (io_uring: waits for the
 * cancellations, bounded to ~1 s), so rk_loop_destroy may then run on any
 * thread. With io_uring the ring's single issuer is the thread that calls
 * rk_loop_run (the ring is created disabled). */
int rk_loop_run(rk_loop *l);
/* Any thread: asks the loop to return from rk_loop_run() soon. */
void rk_loop_stop(rk_loop *l);
void rk_loop_destroy(rk_loop *l);  /* closes every connection (no on_close calls) */
/* "io_uring" or "epoll", and a human line describing probed features
 * (for epoll under AUTO it includes why io_uring was not used). Tests and
 * operators can force fallbacks with RK_URING_DISABLE, a comma list of:
 * uring (AUTO picks epoll), multishot_accept, multishot_recv, bufring,
 * multishot_timer, multishot_poll, defer_taskrun, coop_taskrun,
 * inline_writes (file writes on the ring instead of pwrite), sync_cancel
 * (rk_conn_take_fd cancels asynchronously). */
const char *rk_loop_backend_name(const rk_loop *l);
const char *rk_loop_features(const rk_loop *l);
/* Stops/starts accepting new connections (used while the server is shutting down). */
void rk_loop_pause_accept(rk_loop *l, int paused);

/* The pending output buffer: append reply bytes; the loop sends them after
 * before_wait (or when rk_conn_flush is called). Never NULL for a live conn. */
rk_buf *rk_conn_out(rk_conn *c);
/* Starts sending pending output now if nothing is in flight. */
void rk_conn_flush(rk_conn *c);
/* Bytes appended but not yet acknowledged as sent by the kernel. */
size_t rk_conn_unsent(const rk_conn *c);
/* Closes the connection. With after_flush, pending output is sent first.
 * on_close follows (later, from the loop). Safe to call more than once. */
void rk_conn_close(rk_conn *c, int after_flush);
/* Stops/resumes reading from the socket (back-pressure). */
void rk_conn_pause_read(rk_conn *c, int paused);
int rk_conn_fd(const rk_conn *c);
/* Peer address as "ip:port" and whether it is loopback or a unix socket. */
const char *rk_conn_peer(const rk_conn *c);
const char *rk_conn_local(const rk_conn *c);
int rk_conn_peer_is_local(const rk_conn *c);

/* ---- moving a socket between loops ----
 *
 * For the replication thread: a shard gives a replica's socket away after
 * PSYNC, the replication thread's loop (which may have no listening
 * socket at all) adopts it; the other way for the master link.
 *
 * rk_loop_adopt: on the loop thread, from inside rk_loop_run (a handler or
 * a callback). The loop takes ownership of fd, an already connected stream
 * socket (TCP, or one end of an AF_UNIX socketpair), and treats it exactly
 * as an accepted connection whose on_accept returned conn_ud (on_accept is
 * not called): O_NONBLOCK is set, TCP_NODELAY on TCP (a caller honouring
 * repl-disable-tcp-nodelay clears it on rk_conn_fd afterwards), reading
 * starts after this iteration's before_wait, on_data/on_close get conn_ud
 * (on_close exactly once), and it counts against max_conns. The addresses
 * are filled as for an accepted conn; an unnamed unix socket (socketpair)
 * shows "unix:0" for both. conn_ud must not be NULL.
 * Returns the conn, or NULL with errno (EMFILE: max_conns live conns;
 * ENOMEM; EINVAL: bad fd or NULL conn_ud; or the error of setting it up):
 * then fd is NOT closed, the caller still owns it. */
rk_conn *rk_loop_adopt(rk_loop *l, int fd, void *conn_ud);

/* rk_conn_take_fd: on the loop thread. Returns a new fd (dup, O_CLOEXEC)
 * for c's socket and closes c WITHOUT shutdown(): the socket stays open
 * through the returned fd, which the caller owns. No on_data for c after
 * the call; on_close still follows once (later, from the loop), as after
 * rk_conn_close. Pending output (rk_conn_unsent) is dropped: call it when
 * rk_conn_unsent(c) == 0, or the peer sees a cut reply.
 * Returns -1 with errno and leaves c unchanged when dup fails, when c is
 * no longer open (EBADF: closing, draining, or the peer finished), or when
 * the backend cannot stop its I/O on the socket right now (EAGAIN: retry
 * on a later iteration).
 *
 * Input window: epoll reads only when asked, so nothing is lost there.
 * io_uring reads ahead (a multishot recv): bytes the kernel handed to the
 * loop but not yet to on_data when take_fd is called (unhandled
 * completions of this batch, a paused conn's stash) are dropped, not
 * delivered, and never reach the new fd. take_fd stops the recv before it
 * returns (IORING_REGISTER_SYNC_CANCEL, kernel 6.0; older kernels: an async
 * cancel submitted at once, which stops a recv waiting for data but not
 * one the kernel is executing at that instant). Bytes arriving after that
 * stay in the socket for the new owner. So use it only when the peer is known to wait for our next
 * message (a replica after PSYNC, before +FULLRESYNC/+CONTINUE). The
 * dropped bytes are counted in rk_loop_taken_dropped, so a caller can
 * check the handoff was clean instead of losing them silently. */
int rk_conn_take_fd(rk_conn *c);
/* Bytes read from sockets given away with rk_conn_take_fd and dropped
 * (the window above), since the loop was created. */
uint64_t rk_loop_taken_dropped(const rk_loop *l);

/* ---- file writes on the loop's ring ----
 *
 * For the AOF writer: a shard appends its journal to its segment file and
 * fsyncs it through its own loop (io_uring: SQEs on the loop's ring; epoll:
 * plain syscalls). Call these on the loop thread, from inside rk_loop_run
 * (a handler or a callback); a request queued before rk_loop_run starts is
 * submitted when it starts.
 *
 * Completion callbacks run on the loop thread, never from inside the call
 * that queued the request, and in submission order: when an op's callback
 * runs, every op queued before it has completed and had its callback.
 * The kernel may run two queued writes concurrently and in any order; with
 * explicit offsets each still lands in its place, and in-order callbacks
 * make a successful write+fdatasync callback mean "this and every earlier
 * op is done"; when every write carries RK_FILE_FSYNC, everything up to it
 * is durable and a group-commit release in that callback is safe. Do not rely on
 * O_APPEND with several writes queued: their order would be the kernel's.
 *
 * Bound: at most RK_LOOP_MAX_FILE_OPS requests are queued or in flight per
 * loop (a slot is freed right before its callback runs). At the end of
 * rk_loop_run file ops are not cancelled (a started write to a regular file
 * cannot be) but awaited, up to ~30 s, and their callbacks run there; an op
 * still unfinished after that gets no callback, and its buffer must stay
 * valid until rk_loop_destroy returns (the ring's exit waits for it). */
#define RK_LOOP_MAX_FILE_OPS 64

typedef void rk_file_cb(void *ud, int64_t res); /* on the loop thread */
enum { RK_FILE_FSYNC = 1 };                      /* write, then fdatasync (linked) */

/* Writes buf[0,len) at offset off of fd (for an O_APPEND fd the kernel
 * appends whatever off says). buf must stay valid and unchanged until cb.
 * res = len (short writes are continued inside: every byte is written) or
 * -errno of the first failing step (bytes before it may be in the file).
 * With RK_FILE_FSYNC an fdatasync runs after the whole write, and res
 * reports it too. len 0 with RK_FILE_FSYNC is a plain fdatasync.
 * Returns 0, or -1 with errno EAGAIN when RK_LOOP_MAX_FILE_OPS are queued
 * (EINVAL for a bad fd or flags). */
int rk_loop_write_file(rk_loop *l, int fd, const void *buf, size_t len, uint64_t off,
                       unsigned flags, rk_file_cb *cb, void *ud);
/* fdatasync(fd); res = 0 or -errno. Same queueing and callback rules. */
int rk_loop_fsync_file(rk_loop *l, int fd, rk_file_cb *cb, void *ud);

/* ---- group commit: holding output until released ----
 *
 * Model: per connection, bytes ever appended (A) and bytes ever handed
 * toward the kernel (taken), and a "sendable up to" mark. Output leaves
 * only up to the mark. A connection without a mark ("ungated") sends as
 * if the gate did not exist (the cost is one compare).
 *
 * Output is handed to the kernel only after before_wait (in the loop's
 * post-processing) or by an explicit rk_conn_flush. So a barrier taken in
 * before_wait holds every reply produced by that iteration. Do not call
 * rk_conn_flush on a connection whose output must wait for a barrier.
 *
 * rk_loop_output_barrier: every byte appended to any connection's output
 * before the call and not yet handed to the kernel is held until
 * rk_loop_output_release() of this ticket or a later one. It records, for
 * each connection that received output since the previous barrier, its A
 * with the ticket. Bytes appended after the call are not covered: on a
 * connection that still holds bytes they wait for a later barrier and its
 * release (a connection becomes ungated again only when everything
 * appended to it is released; so keep issuing barriers while output is
 * held, and end a gated period with one last barrier + release).
 * Returns the ticket (1, 2, 3, ...), or 0 when it could not record (out of
 * memory, or RK_LOOP_MAX_BARRIERS tickets unreleased): then the output is
 * still held and the next successful barrier covers it.
 *
 * rk_loop_output_release: releases every record with ticket <= ticket, in
 * ticket order, and schedules those connections' sends. Releasing a ticket
 * releases every earlier one too; releasing an older ticket later is a
 * no-op. Releasing ticket t says "what was appended before barrier t may
 * go": the caller owns that decision (for appendfsync always: the fsync
 * covering every journal byte of those iterations completed).
 *
 * A connection closing with held output drops it with its other output;
 * its records are forgotten, nothing leaks.
 *
 * Bound: records are one per connection per barrier, at most
 * max_conns x RK_LOOP_MAX_BARRIERS, in one array that doubles as needed. */
#define RK_LOOP_MAX_BARRIERS 1024
uint64_t rk_loop_output_barrier(rk_loop *l);
void rk_loop_output_release(rk_loop *l, uint64_t ticket);
/* Bytes of c's output held by the gate (appended beyond its mark). */
size_t rk_conn_held(const rk_conn *c);

#endif
