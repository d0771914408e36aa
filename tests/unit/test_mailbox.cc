// test_mailbox.cc: the MPSC mailbox delivers every message exactly once,
// in per-producer FIFO order, to a consumer that sleeps on the eventfd.
#include <gtest/gtest.h>

#include <poll.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

extern "C" {
#include "io/mailbox.h"
}

namespace {

struct TestMsg {
    rk_msg base;  // first member: rk_msg* <-> TestMsg*
    uint32_t producer;
    uint32_t seq;
};

void RunProducers(int producers, uint32_t per_producer)
{
    rk_mailbox mb;
    ASSERT_EQ(rk_mailbox_init(&mb), 0);

    // rk_msg holds an atomic, so no vector<TestMsg> (not movable).
    std::vector<std::unique_ptr<TestMsg[]>> msgs(producers);
    for (int p = 0; p < producers; p++) {
        msgs[p].reset(new TestMsg[per_producer]());
        for (uint32_t i = 0; i < per_producer; i++) {
            msgs[p][i].producer = (uint32_t)p;
            msgs[p][i].seq = i;
            msgs[p][i].base.type = 7;
        }
    }

    std::atomic<bool> go{false};
    uint64_t total = (uint64_t)producers * per_producer;
    uint64_t received = 0, wakes = 0, empty_wakes = 0;
    std::vector<uint32_t> next(producers, 0);
    bool order_ok = true, type_ok = true;

    std::thread consumer([&] {
        struct pollfd pfd = {mb.efd, POLLIN, 0};
        while (received < total) {
            // Block: a stranded message would hang here (test timeout).
            int r = poll(&pfd, 1, 10000);
            if (r <= 0) {
                ADD_FAILURE() << "consumer starved with " << received << "/" << total;
                return;
            }
            wakes++;
            rk_mailbox_ack_wake(&mb);
            uint64_t got = 0;
            while (rk_msg *m = rk_mailbox_pop(&mb)) {
                TestMsg *t = reinterpret_cast<TestMsg *>(m);
                if (t->base.type != 7)
                    type_ok = false;
                if (t->seq != next[t->producer])
                    order_ok = false;
                next[t->producer] = t->seq + 1;
                received++;
                got++;
            }
            if (got == 0)
                empty_wakes++;
        }
    });

    std::vector<std::thread> ps;
    for (int p = 0; p < producers; p++) {
        ps.emplace_back([&, p] {
            while (!go.load(std::memory_order_acquire)) {
            }
            for (uint32_t i = 0; i < per_producer; i++)
                rk_mailbox_push(&mb, &msgs[p][i].base);
        });
    }
    go.store(true, std::memory_order_release);
    for (auto &t : ps)
        t.join();
    consumer.join();

    EXPECT_EQ(received, total);
    EXPECT_TRUE(order_ok);
    EXPECT_TRUE(type_ok);
    for (int p = 0; p < producers; p++)
        EXPECT_EQ(next[p], per_producer) << "producer " << p;
    EXPECT_EQ(rk_mailbox_pop(&mb), nullptr);
    // Coalescing: far fewer wakes than messages.
    EXPECT_LT(wakes, total);
    rk_mailbox_destroy(&mb);
}

}  // namespace

TEST(Mailbox, SingleThreadFifo)
{
    rk_mailbox mb;
    ASSERT_EQ(rk_mailbox_init(&mb), 0);
    EXPECT_EQ(rk_mailbox_pop(&mb), nullptr);
    TestMsg a{}, b{}, c{};
    a.seq = 1;
    b.seq = 2;
    c.seq = 3;
    rk_mailbox_push(&mb, &a.base);
    // One eventfd write for a burst.
    rk_mailbox_push(&mb, &b.base);
    uint64_t v = 0;
    ASSERT_EQ(read(mb.efd, &v, sizeof v), (ssize_t)sizeof v);
    EXPECT_EQ(v, 1u);
    rk_mailbox_ack_wake(&mb);
    EXPECT_EQ(rk_mailbox_pop(&mb), &a.base);
    rk_mailbox_push(&mb, &c.base);  // flag was reset: writes again
    EXPECT_EQ(rk_mailbox_pop(&mb), &b.base);
    EXPECT_EQ(rk_mailbox_pop(&mb), &c.base);
    EXPECT_EQ(rk_mailbox_pop(&mb), nullptr);
    // Reuse after empty (stub re-linked).
    rk_mailbox_push(&mb, &a.base);
    EXPECT_EQ(rk_mailbox_pop(&mb), &a.base);
    EXPECT_EQ(rk_mailbox_pop(&mb), nullptr);
    rk_mailbox_destroy(&mb);
}

TEST(Mailbox, TwoProducersOneMillionEach)
{
    RunProducers(2, 1000000);
}

TEST(Mailbox, FourProducersOneMillionEach)
{
    RunProducers(4, 1000000);
}

TEST(Mailbox, LazyPushOwesExactlyOneWake)
{
    rk_mailbox mb;
    ASSERT_EQ(rk_mailbox_init(&mb), 0);
    TestMsg a{}, b{};
    // The first lazy push owes the wake; later ones ride on it.
    EXPECT_EQ(rk_mailbox_push_lazy(&mb, &a.base), 1);
    EXPECT_EQ(rk_mailbox_push_lazy(&mb, &b.base), 0);
    uint64_t v = 0;
    EXPECT_LT(read(mb.efd, &v, sizeof v), 0);  // nothing written yet
    rk_mailbox_wake(&mb);
    ASSERT_EQ(read(mb.efd, &v, sizeof v), (ssize_t)sizeof v);
    rk_mailbox_ack_wake(&mb);
    EXPECT_EQ(rk_mailbox_pop(&mb), &a.base);
    EXPECT_EQ(rk_mailbox_pop(&mb), &b.base);
    EXPECT_EQ(rk_mailbox_pop(&mb), nullptr);
    // After the acknowledgement the next push owes a wake again.
    EXPECT_EQ(rk_mailbox_push_lazy(&mb, &a.base), 1);
    EXPECT_EQ(rk_mailbox_pop(&mb), &a.base);
    rk_mailbox_destroy(&mb);
}
