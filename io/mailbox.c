/* mailbox.c: Vyukov's intrusive MPSC queue plus an eventfd wake.
 *
 * Threads: rk_mailbox_push() from any thread; pop() and ack_wake() only on
 * the consumer (owning) thread; init/destroy when no other thread uses it.
 *
 * Invariants:
 *  - head is the last linked node (producers swap themselves in); tail is the
 *    next node to hand out, or the stub. The stub is always in the queue or
 *    about to be re-pushed by pop(); it is never handed out.
 *  - No message is ever stranded. A producer links its node and only then
 *    does exchange(wake_pending, 1); the consumer clears the eventfd counter
 *    and only then does exchange(wake_pending, 0), and only then pops.
 *    Both exchanges are acq_rel RMWs on one variable, so for any producer P:
 *      a) P's exchange precedes the consumer's reset in modification order:
 *         the reset reads from a release sequence containing P's RMW, so P's
 *         link is visible to every pop after that ack: no NULL for P.
 *      b) P's exchange follows the reset and reads 0: P writes the eventfd,
 *         after the consumer's counter clear, so the loop is woken again.
 *      c) P's exchange follows the reset and reads 1, set by a producer X
 *         since that reset: X writes the eventfd, the loop wakes and acks,
 *         and that ack's reset follows P's exchange, so (a) applies to it.
 *    Hence when pop() returns NULL because P is mid-push (head swapped, link
 *    not yet stored), P's exchange cannot precede the last reset, and a
 *    later wake is guaranteed by (b) or (c).
 *  - wake_pending == 1 means "an eventfd write is owed or done and not yet
 *    acknowledged": a burst of pushes costs one eventfd write.
 *
 * Bounds: the queue is unbounded in links (senders bound what they put in
 * flight, see mailbox.h); the eventfd write retries only on EINTR. */
#include "mailbox.h"

#include <assert.h>
#include <errno.h>
#include <poll.h>
#include <stddef.h>
#include <sys/eventfd.h>
#include <unistd.h>

int rk_mailbox_init(rk_mailbox *mb)
{
    atomic_store_explicit(&mb->stub.next, NULL, memory_order_relaxed);
    mb->stub.type = 0;
    atomic_store_explicit(&mb->head, &mb->stub, memory_order_relaxed);
    mb->tail = &mb->stub;
    atomic_store_explicit(&mb->wake_pending, 0, memory_order_relaxed);
    mb->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (mb->efd < 0)
        return -1;
    /* Publish the initialised state to threads started after init. */
    atomic_thread_fence(memory_order_seq_cst);
    return 0;
}

void rk_mailbox_destroy(rk_mailbox *mb)
{
    if (mb->efd >= 0)
        close(mb->efd);
    mb->efd = -1;
}

/* Links m at the head; no wake. Used by producers and for the stub. */
static void mb_link(rk_mailbox *mb, rk_msg *m)
{
    atomic_store_explicit(&m->next, NULL, memory_order_relaxed);
    rk_msg *prev = atomic_exchange_explicit(&mb->head, m, memory_order_acq_rel);
    /* Between the exchange and this store the queue is "mid-push": pop()
     * sees head != tail with tail->next == NULL and returns NULL. */
    atomic_store_explicit(&prev->next, m, memory_order_release);
}

void rk_mailbox_wake(rk_mailbox *mb)
{
    uint64_t one = 1;
    ssize_t n;
    /* eventfd writes only fail with EINTR here (the counter cannot
     * reach its 2^64-2 limit while the flag limits us to one write per
     * acknowledged wake). */
    do {
        n = write(mb->efd, &one, sizeof one);
    } while (n < 0 && errno == EINTR);
    assert(n == (ssize_t)sizeof one);
}

int rk_mailbox_push_lazy(rk_mailbox *mb, rk_msg *m)
{
    assert(m != &mb->stub);
    mb_link(mb, m);
    return atomic_exchange_explicit(&mb->wake_pending, 1, memory_order_acq_rel) == 0;
}

void rk_mailbox_push(rk_mailbox *mb, rk_msg *m)
{
    if (rk_mailbox_push_lazy(mb, m))
        rk_mailbox_wake(mb);
}

int rk_mailbox_has_messages(rk_mailbox *mb)
{
    /* Empty exactly when the tail is the stub with nothing linked after it
     * and no producer has swapped itself in (head == stub). */
    return mb->tail != &mb->stub || atomic_load_explicit(&mb->head, memory_order_acquire) != &mb->stub;
}

rk_msg *rk_mailbox_pop(rk_mailbox *mb)
{
    rk_msg *tail = mb->tail;
    rk_msg *next = atomic_load_explicit(&tail->next, memory_order_acquire);

    if (tail == &mb->stub) {
        if (next == NULL)
            return NULL;
        mb->tail = next;
        tail = next;
        next = atomic_load_explicit(&next->next, memory_order_acquire);
    }
    if (next != NULL) {
        mb->tail = next;
        return tail;
    }
    rk_msg *head = atomic_load_explicit(&mb->head, memory_order_acquire);
    if (tail != head)
        return NULL; /* a producer is mid-push; its wake covers us */
    /* tail is the only node: put the stub behind it so tail can be handed
     * out without leaving the queue empty of nodes. */
    mb_link(mb, &mb->stub);
    next = atomic_load_explicit(&tail->next, memory_order_acquire);
    if (next != NULL) {
        mb->tail = next;
        return tail;
    }
    return NULL; /* a producer slipped in before the stub: it wakes us */
}

void rk_mailbox_ack_wake(rk_mailbox *mb)
{
    uint64_t v;
    /* Clear the counter first, then the flag: a producer that sees the flag
     * at 0 writes after this read, so its wake cannot be swallowed. One read
     * empties an eventfd (non-semaphore mode). */
    ssize_t n;
    do {
        n = read(mb->efd, &v, sizeof v);
    } while (n < 0 && errno == EINTR);
    (void)n; /* EAGAIN: the loop already consumed the counter */
    atomic_exchange_explicit(&mb->wake_pending, 0, memory_order_acq_rel);
}

rk_msg *rk_mailbox_pop_wait(rk_mailbox *mb)
{
    rk_msg *m;
    while ((m = rk_mailbox_pop(mb)) == NULL) {
        struct pollfd pfd = {.fd = mb->efd, .events = POLLIN};
        if (poll(&pfd, 1, -1) < 0 && errno != EINTR && errno != ENOMEM)
            assert(0 && "poll on a mailbox eventfd failed");
        rk_mailbox_ack_wake(mb);
    }
    return m;
}
