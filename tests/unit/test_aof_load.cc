// Unit tests for the AOF loader's transaction cut rule (aof_txn_cut,
// storage/aof_load.h): a pure function over per-shard frame lists.
#include <gtest/gtest.h>

#include <vector>

extern "C" {
#include "storage/aof_load.h"
}

namespace {

struct Log {
    std::vector<aof_txn_frame> frames;
    uint64_t end;
};

std::vector<uint64_t> cut(const std::vector<Log> &logs)
{
    std::vector<aof_txn_log> in;
    for (const auto &l : logs)
        in.push_back(aof_txn_log{l.frames.data(), l.frames.size(), l.end});
    std::vector<uint64_t> out(logs.size());
    aof_txn_cut(in.data(), static_cast<int>(in.size()), out.data());
    return out;
}

aof_txn_frame F(uint64_t seq, uint64_t mask, uint64_t begin, int complete = 1)
{
    return aof_txn_frame{seq, mask, begin, complete};
}

TEST(AofTxnCut, NoFramesKeepsEverything)
{
    EXPECT_EQ(cut({{{}, 100}, {{}, 50}}), (std::vector<uint64_t>{100, 50}));
}

TEST(AofTxnCut, CompleteEverywhereKeepsEverything)
{
    EXPECT_EQ(cut({{{F(1, 3, 10), F(5, 3, 40)}, 100}, {{F(1, 3, 0), F(5, 3, 20)}, 60}}),
              (std::vector<uint64_t>{100, 60}));
}

TEST(AofTxnCut, MissingPartCutsTheOtherShard)
{
    // Transaction 7 over shards 0 and 1 reached shard 0 only.
    EXPECT_EQ(cut({{{F(1, 3, 10), F(7, 3, 40)}, 100}, {{F(1, 3, 0)}, 60}}), (std::vector<uint64_t>{40, 60}));
}

TEST(AofTxnCut, IncompletePartCutsBoth)
{
    // Shard 1 holds #B of 7 but not its #E (truncated tail).
    EXPECT_EQ(cut({{{F(7, 3, 40)}, 100}, {{F(7, 3, 20, 0)}, 30}}), (std::vector<uint64_t>{40, 20}));
}

TEST(AofTxnCut, CutsCascade)
{
    // 6 (shards 1,2) is missing on shard 2: shard 1 is cut at 6's #B, which
    // removes 8's part on shard 1 (it follows), so shard 0 is cut at 8 too.
    std::vector<Log> logs = {
        {{F(8, 3, 50)}, 100},               // shard 0
        {{F(6, 6, 10), F(8, 3, 30)}, 80},   // shard 1: 6 with shard 2, then 8 with shard 0
        {{}, 40},                           // shard 2: 6 missing
    };
    EXPECT_EQ(cut(logs), (std::vector<uint64_t>{50, 10, 40}));
}

TEST(AofTxnCut, MaskBeyondShardCountIsIncomplete)
{
    EXPECT_EQ(cut({{{F(3, 1 | 4, 5)}, 10}, {{}, 10}}), (std::vector<uint64_t>{5, 10}));
}

TEST(AofTxnCut, FrameBeyondThePartnersCutIsIncomplete)
{
    // 4 over shards 0,1 is complete on both, but shard 1 is cut earlier by
    // 2 (shards 1,2, missing on 2): 4's part on 1 lies beyond that cut.
    std::vector<Log> logs = {
        {{F(4, 3, 20)}, 50},
        {{F(2, 6, 5), F(4, 3, 25)}, 60},
        {{}, 0},
    };
    EXPECT_EQ(cut(logs), (std::vector<uint64_t>{20, 5, 0}));
}

TEST(AofTxnCut, ReturnsHowManyShardsWereCut)
{
    std::vector<aof_txn_frame> a = {F(7, 3, 40)};
    aof_txn_log in[2] = {{a.data(), a.size(), 100}, {nullptr, 0, 60}};
    uint64_t out[2];
    EXPECT_EQ(aof_txn_cut(in, 2, out), 1);
    EXPECT_EQ(out[0], 40u);
    EXPECT_EQ(out[1], 60u);
}

} // namespace
