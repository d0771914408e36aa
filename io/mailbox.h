/* mailbox.h: the only way threads hand each other work.
 *
 * A multi-producer single-consumer intrusive queue (Vyukov's) plus an
 * eventfd that wakes the consumer's event loop. Any thread may push; only
 * the owning thread pops. A message belongs to the sender until push()
 * returns and to the consumer after pop() hands it out: exactly one thread
 * owns it at any time.
 *
 * Bound: the queue itself is unbounded in links; senders bound what they
 * put in flight (a client has at most a pipeline's worth of requests
 * outstanding, see core/client.c). */
#ifndef RK_IO_MAILBOX_H
#define RK_IO_MAILBOX_H

#include <stdint.h>

/* C11 atomics, spelled so that C++ tests can include this header too:
 * std::atomic<T> has the size and alignment of _Atomic(T). */
#ifdef __cplusplus
extern "C++" { /* tests include this inside extern "C" */
#include <atomic>
}
#define RK_ATOMIC(T) std::atomic<T>
#else
#include <stdatomic.h>
#define RK_ATOMIC(T) _Atomic(T)
#endif

typedef struct rk_msg {
    RK_ATOMIC(struct rk_msg *) next;
    int type;  /* meaning chosen by the user of the mailbox */
} rk_msg;

typedef struct rk_mailbox {
    RK_ATOMIC(rk_msg *) head;  /* producers swap themselves in here */
    rk_msg *tail;            /* consumer only */
    rk_msg stub;
    RK_ATOMIC(int) wake_pending; /* 1 while an eventfd write is not yet consumed */
    int efd;                 /* eventfd, nonblocking; the loop watches it */
} rk_mailbox;

/* 0 on success, -1 with errno when the eventfd cannot be created. */
int rk_mailbox_init(rk_mailbox *mb);
void rk_mailbox_destroy(rk_mailbox *mb);
/* Any thread. Wakes the consumer unless a wake is already pending. */
void rk_mailbox_push(rk_mailbox *mb, rk_msg *m);
/* Any thread: links m but leaves the wake to the caller. Returns 1 when
 * this push owes the consumer a wake: the caller must then call
 * rk_mailbox_wake() soon (before it blocks), which lets a thread send a
 * burst of messages during one loop iteration for one eventfd write.
 * Other producers meanwhile rely on that owed wake. */
int rk_mailbox_push_lazy(rk_mailbox *mb, rk_msg *m);
void rk_mailbox_wake(rk_mailbox *mb);
/* Consumer thread only. NULL when empty (or when a producer is mid-push:
 * the consumer is then woken again, never left with a stranded message). */
rk_msg *rk_mailbox_pop(rk_mailbox *mb);
/* Consumer thread without an event loop (a loading thread): the next
 * message, sleeping on the eventfd until one arrives. */
rk_msg *rk_mailbox_pop_wait(rk_mailbox *mb);
/* Consumer thread: 1 when a message is queued (or being queued), so that
 * long work can yield to it. */
int rk_mailbox_has_messages(rk_mailbox *mb);
/* Consumer thread, when the eventfd fired: clears the pending flag and the
 * eventfd counter. Call before draining with pop(). */
void rk_mailbox_ack_wake(rk_mailbox *mb);

#endif
