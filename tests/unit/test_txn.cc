// Ordered multi-shard transactions: the reject-and-retry path keeps both
// transactions live and runs them in one order on every shard.
#include <gtest/gtest.h>

#include "txn_harness.h"

TEST(Txn, OutOfOrderScheduleIsRejectedRetriedAndOrdered) {
    txn_harness_result res;
    ASSERT_EQ(txn_harness_reject_scenario(&res), 0);
    EXPECT_EQ(res.retries, 1);   // A was refused by the shard that promised B
    EXPECT_EQ(res.finished, 2);  // and still completed: no deadlock
    ASSERT_EQ(res.nhops[0], 2);
    ASSERT_EQ(res.nhops[1], 2);
    // Same order on both shards: B (promised first) then A (retried).
    EXPECT_EQ(res.order[0][0], res.order[1][0]);
    EXPECT_EQ(res.order[0][1], res.order[1][1]);
    EXPECT_EQ(res.order[0][0], 1);
    EXPECT_EQ(res.paused[0], 0);
    EXPECT_EQ(res.paused[1], 0);
}
