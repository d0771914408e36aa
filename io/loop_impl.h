/* loop_impl.h: private contract between io/loop.c and its backends
 * (io/loop_uring.c, io/loop_epoll.c). Not for use outside io/loop*.c.
 *
 * Ownership of an rk_conn: the loop thread only. It is freed by
 * rk__loop_post() once it is CLOSING, holds no backend references
 * (refs == 0: every in-flight SQE naming it has completed) and is not on
 * the work list. on_close runs right before the free, iff on_accept
 * returned non-NULL for it. */
#ifndef RK_IO_LOOP_IMPL_H
#define RK_IO_LOOP_IMPL_H

#include <stdatomic.h>
#include <stdint.h>
#include "loop.h"

#define RK_ADDR_MAX 128
/* rk_conn.sendable when the conn holds nothing back (see loop.h, group commit). */
#define RK_UNGATED UINT64_MAX
#define RK_NO_REC UINT64_MAX

enum rk_conn_state {
    RK_CONN_OPEN = 0,
    RK_CONN_DRAINING, /* rk_conn_close(after_flush): send the rest, then close */
    RK_CONN_CLOSING   /* no more I/O issued; waits for refs == 0 */
};

struct rk_conn {
    rk_loop *loop;
    int fd;
    enum rk_conn_state state;
    void *ud;
    rk_buf out;          /* user appends here */
    rk_buf inflight;     /* owned by the loop/kernel while a send is armed */
    size_t inflight_off; /* bytes of inflight the kernel has taken */
    /* Group commit. Appended so far = taken + out.len. Invariant when
     * gated: taken <= sendable <= taken + out.len. */
    uint64_t taken;      /* bytes ever moved from out to inflight */
    uint64_t sendable;   /* RK_UNGATED, or the absolute byte mark output may reach */
    uint64_t grec_first; /* absolute index of its oldest gate record, RK_NO_REC */
    uint64_t grec_newest;/* absolute index of its newest gate record, RK_NO_REC */
    uint64_t grec_last;  /* appended count of its newest record (valid when grecs > 0) */
    unsigned grecs;      /* gate records naming this conn; <= RK_LOOP_MAX_BARRIERS */
    unsigned accepted : 1;    /* on_accept returned non-NULL: on_close owed */
    unsigned user_paused : 1; /* rk_conn_pause_read(c, 1) */
    unsigned eof : 1;         /* peer finished sending; do not read again */
    unsigned queued : 1;      /* on the loop's work list */
    unsigned fin_queued : 1;  /* on the loop's finalize list */
    unsigned gdirty : 1;      /* on the loop's gate dirty list */
    unsigned detached : 1;    /* given away by rk_conn_take_fd: never shutdown() */
    /* io_uring backend */
    unsigned recv_armed : 1, send_armed : 1;
    int refs;          /* SQEs in flight whose user_data names this conn */
    char *rbuf;        /* plain-recv fallback buffer (RK_URING_RBUF bytes) */
    rk_buf stash;      /* bytes that arrived while paused */
    /* epoll backend */
    uint32_t ep_events;
    unsigned ep_parked : 1; /* out of the epoll set: paused after the peer hung up */
    /* lists */
    rk_conn *prev, *next; /* live list */
    rk_conn *wnext;       /* work list */
    rk_conn *fnext;       /* finalize list */
    rk_conn *gprev, *gnext; /* gate dirty list (doubly linked: unlinked at free) */
    char peer[RK_ADDR_MAX];
    char local[RK_ADDR_MAX];
    int peer_local;
};

/* One gate record: conn c had appended `appended` bytes at barrier
 * `ticket`. c is NULL once the conn was freed. next: c's next record. */
typedef struct rk_gate_rec {
    uint64_t ticket;
    uint64_t appended;
    uint64_t next; /* absolute index, RK_NO_REC */
    rk_conn *c;
} rk_gate_rec;

enum rk_fop_state {
    RK_FOP_FREE = 0,
    RK_FOP_QUEUED,   /* io_uring: waits for SQEs (retried every iteration) */
    RK_FOP_INFLIGHT, /* io_uring: SQEs submitted, CQEs outstanding */
    RK_FOP_DONE      /* res final; the callback runs when it reaches the head */
};

/* A file request. Slots form a FIFO ring (l->fops, head/tail absolute),
 * which is both the RK_LOOP_MAX_FILE_OPS bound and the callback order. */
typedef struct rk_file_op {
    enum rk_fop_state state;
    int fd;
    unsigned flags;   /* RK_FILE_FSYNC */
    int sync_only;    /* rk_loop_fsync_file */
    const char *buf;
    size_t len, done; /* done: bytes written so far */
    uint64_t off;
    rk_file_cb *cb;
    void *ud;
    int64_t res;      /* final result, valid in DONE */
    int err;          /* first failure (-errno), 0 while none */
    /* io_uring, the current submission: CQEs outstanding (<= 2), bytes
     * asked by its write SQE (0: none), whether it has an fdatasync, and
     * the two results. */
    int pending;
    unsigned chunk;
    int with_sync;
    int wres, sres;
} rk_file_op;

typedef struct rk_backend_ops {
    const char *name;
    /* Sets l->be_state; 0, or -1 with a reason in err. */
    int (*init)(rk_loop *l, char *err, size_t errlen);
    int (*run)(rk_loop *l);
    void (*fini)(rk_loop *l);
    /* A new conn, before on_accept: 0 or -1 (then it is dropped). */
    int (*conn_open)(rk_conn *c);
    void (*conn_flush)(rk_conn *c);
    /* state just became CLOSING: stop/cancel all I/O on it. Must not
     * shutdown() a detached conn's socket (it lives on elsewhere). */
    void (*conn_shutdown)(rk_conn *c);
    /* rk_conn_take_fd, before c turns CLOSING: stop the kernel from reading
     * c's socket for us (see loop.h for the window). 0, or -1 with errno
     * and c unchanged. */
    int (*conn_detach)(rk_conn *c);
    void (*conn_pause)(rk_conn *c, int paused);
    /* Deferred per-conn work (re-arm, continue sends), from rk__loop_post. */
    void (*conn_work)(rk_conn *c);
    void (*pause_accept)(rk_loop *l, int paused);
    /* Starts file op (state QUEUED on entry): io_uring prepares SQEs (or
     * leaves it QUEUED for a retry), epoll does the syscalls and sets DONE.
     * Must not run callbacks. */
    void (*file_start)(rk_loop *l, rk_file_op *op);
} rk_backend_ops;

extern const rk_backend_ops rk_uring_backend;
extern const rk_backend_ops rk_epoll_backend;

struct rk_loop {
    const rk_backend_ops *be;
    void *be_state;
    rk_loop_config cfg;
    int stop_fd;       /* eventfd (nonblocking) written by rk_loop_stop */
    atomic_int stop;
    atomic_int stoppers; /* rk_loop_stop calls still touching the loop */
    int accept_paused;
    unsigned n_conns;  /* allocated conns, closing ones included; <= max_conns */
    rk_conn *conns;    /* live list */
    rk_conn *work;     /* conns needing rk__loop_post work; each at most once */
    rk_conn *fin;      /* CLOSING conns with refs == 0; each at most once */
    uint64_t taken_dropped; /* rk_loop_taken_dropped */
    /* file ops: slots [fop_head, fop_tail) (absolute, mod RK_LOOP_MAX_FILE_OPS) */
    rk_file_op fops[RK_LOOP_MAX_FILE_OPS];
    uint64_t fop_head, fop_tail;
    /* group commit (loop.c) */
    int gate_used;           /* a barrier was taken once: track dirty conns */
    uint64_t gate_ticket;    /* last ticket issued */
    uint64_t gate_released;  /* highest ticket released */
    rk_conn *gdirty;         /* conns with output since the last barrier */
    unsigned gdirty_n;
    rk_gate_rec *grec;       /* ring of records, grec_cap (power of two) slots */
    size_t grec_cap;
    uint64_t grec_head, grec_tail; /* absolute indexes, records in ticket order */
    char features[512];
    char reason[256];  /* why io_uring is not used (epoll), or "" */
};

/* Common helpers for backends (loop.c). */
void rk__conn_accepted(rk_loop *l, int fd);
/* Input that reached c after it was closing: counted when c was detached. */
void rk__conn_dropped(rk_conn *c, size_t n);
void rk__conn_queue(rk_conn *c);       /* schedule conn_work */
void rk__conn_hard_close(rk_conn *c);  /* -> CLOSING */
void rk__conn_maybe_fin(rk_conn *c);   /* CLOSING and refs == 0 -> fin list */
void rk__conn_deliver(rk_conn *c, const char *p, size_t n);
/* Runs the work and finalize lists; returns 1 when work is left over
 * (the caller then polls instead of blocking). */
int rk__loop_post(rk_loop *l);
/* 1 when token is in the comma list $RK_URING_DISABLE (tests and operators
 * force fallbacks with it: uring, multishot_accept, multishot_recv, bufring,
 * multishot_timer, multishot_poll, defer_taskrun, coop_taskrun,
 * inline_writes, sync_cancel). */
int rk__env_disabled(const char *token);
/* Drains an eventfd; ignores EAGAIN. */
void rk__drain_eventfd(int fd);
/* Swap pending and in-flight output when nothing is in flight. Returns the
 * bytes left to send from inflight. Drops output of CLOSING conns. */
size_t rk__conn_take_output(rk_conn *c);
/* Runs the callbacks of finished file ops at the FIFO head, at most
 * RK_LOOP_MAX_FILE_OPS per call; returns 1 when a finished op still waits
 * (the caller then polls instead of blocking). */
int rk__file_deliver(rk_loop *l);
/* 1 when a file op is queued or in flight (not yet DONE). */
int rk__file_busy(const rk_loop *l);

#endif
