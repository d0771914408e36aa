/* txn_harness.c: drives the ordered-transaction protocol of two shards by
 * hand, on one thread, delivering mailbox messages in an order chosen to
 * force a rejection. C, because the shard structures use C11 atomics. */
#include <stdlib.h>
#include <string.h>

#include "core/msg.h"
#include "core/shard.h"
#include "core/txn.h"

#include "txn_harness.h"

static int g_order[2][8];  /* per shard: which txn (0 = A, 1 = B) each hop ran for */
static int g_norder[2];
static int g_finished;

static void record_hop(rk_shard *s, rk_txn *t, rk_buf *out) {
    (void)out;
    int which = (int)(intptr_t)t->arg;
    if (g_norder[s->id] < 8) g_order[s->id][g_norder[s->id]++] = which;
}

static void finish_step(rk_txn *t) {
    g_finished++;
    txn_finish(t);
}

static rk_shard *make_shard(int id) {
    rk_shard *s = calloc(1, sizeof(*s));
    s->id = id;
    rk_mailbox_init(&s->mailbox);
    txn_shard_init(s);
    return s;
}

/* Takes every message now in shard s's mailbox. */
static int drain(rk_shard *s, rk_msg **out, int max) {
    int n = 0;
    rk_msg *m;
    rk_mailbox_ack_wake(&s->mailbox);
    while (n < max && (m = rk_mailbox_pop(&s->mailbox)) != NULL) out[n++] = m;
    return n;
}

static void deliver(rk_shard *s, rk_msg *m) {
    rk_this_shard = s;
    txn_handle_msg(s, m);
}

int txn_harness_reject_scenario(txn_harness_result *res) {
    memset(res, 0, sizeof(*res));
    memset(g_norder, 0, sizeof(g_norder));
    g_finished = 0;
    rk_shard *s0 = make_shard(0), *s1 = make_shard(1);
    g_shards[0] = s0;
    g_shards[1] = s1;
    g_nshards = 2;

    /* A coordinated by shard 0 takes the lower number, B by shard 1 the higher. */
    rk_this_shard = s0;
    rk_txn *a = txn_new(NULL, NULL, 3, 0, NULL);
    a->arg = (void *)(intptr_t)0;
    txn_start(a, record_hop, finish_step);
    rk_this_shard = s1;
    rk_txn *b = txn_new(NULL, NULL, 3, 0, NULL);
    b->arg = (void *)(intptr_t)1;
    txn_start(b, record_hop, finish_step);

    /* Shard 1 sees B's SCHEDULE before A's: it promises B and must refuse A. */
    rk_msg *msgs[64];
    int n = drain(s1, msgs, 64);
    if (n != 2) return -1;
    deliver(s1, msgs[1]);
    deliver(s1, msgs[0]);

    /* Then everything in FIFO order, round robin, until quiet. Bounded. */
    for (int round = 0; round < 100; round++) {
        int moved = 0;
        rk_shard *shards[2] = {s0, s1};
        for (int i = 0; i < 2; i++) {
            n = drain(shards[i], msgs, 64);
            for (int k = 0; k < n; k++) deliver(shards[i], msgs[k]);
            moved += n;
        }
        if (!moved) break;
    }
    res->finished = g_finished;
    res->retries = (int)(s0->stats.txn_retries + s1->stats.txn_retries);
    for (int i = 0; i < 2; i++) {
        res->nhops[i] = g_norder[i];
        for (int k = 0; k < g_norder[i] && k < 8; k++) res->order[i][k] = g_order[i][k];
    }
    res->paused[0] = txn_shard_paused(s0);
    res->paused[1] = txn_shard_paused(s1);
    for (int i = 0; i < 2; i++) {
        rk_shard *s = g_shards[i];
        rk_mailbox_destroy(&s->mailbox);
        free(s->txq); /* queue entries were all released */
        free(s);
        g_shards[i] = NULL;
    }
    g_nshards = 0;
    rk_this_shard = NULL;
    return 0;
}
