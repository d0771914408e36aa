// Unit tests for core/lazyfree.c, the LFU bookkeeping in core/db.c and
// core/evict.c's eviction loop, on a hand-made shard (no threads).
#include <gtest/gtest.h>

#include <cstring>
#include <string>

extern "C" {
#include "core/alloc.h"
#include "core/config.h"
#include "core/db.h"
#include "core/evict.h"
#include "core/lazyfree.h"
#include "core/object.h"
#include "core/shard.h"
}

namespace {

rk_slice S(const std::string &s) { return rk_slice{s.data(), s.size()}; }

class LazyfreeTest : public ::testing::Test {
protected:
    void SetUp() override
    {
        ASSERT_EQ(rk_alloc_thread_init(), 0);
        memset(static_cast<void *>(&shard_), 0, sizeof shard_);
        config_init_defaults(&shard_.cfg);
        shard_.cfg.databases = 1;
        shard_.dbs = &db_;
        ASSERT_EQ(db_init(&db_, 0), 0);
        rk_this_shard = &shard_; // the queue only works on its own thread
        // This thread's counter may be low or negative after earlier tests
        // freed blocks counted elsewhere: make sure "maxmemory 1" is exceeded.
        const int64_t used = rk_alloc_thread_used();
        ballast_ = rk_malloc(used < (1 << 20) ? (size_t)((1 << 20) - used + (1 << 20)) : 16);
        ASSERT_NE(ballast_, nullptr);
    }
    void TearDown() override
    {
        rk_free(ballast_);
        lazyfree_release(&shard_);
        db_release(&db_);
        rk_this_shard = nullptr;
        config_free(&shard_.cfg);
    }

    void set_str(const std::string &k, const std::string &v)
    {
        rk_obj *o = obj_new_string(v.data(), v.size());
        ASSERT_NE(o, nullptr);
        ASSERT_EQ(db_set(&shard_, &db_, S(k), o, 0), 0);
    }

    void set_big(const std::string &k) { set_str(k, std::string(2 * LAZYFREE_MIN_BYTES, 'x')); }

    rk_shard shard_;
    rk_db db_;
    void *ballast_ = nullptr;
};

TEST_F(LazyfreeTest, LargeMeansManyAllocationsOrManyBytes)
{
    rk_obj *small = obj_new_string("abc", 3);
    std::string big(LAZYFREE_MIN_BYTES, 'y');
    rk_obj *large = obj_new_string(big.data(), big.size());
    ASSERT_TRUE(small && large);
    EXPECT_EQ(lazyfree_is_large(small), 0);
    EXPECT_EQ(lazyfree_is_large(large), 1);
    obj_free(small);
    obj_free(large);
}

TEST_F(LazyfreeTest, DeleteOfLargeValueIsQueuedThenDrained)
{
    set_big("big");
    const int64_t used_full = rk_alloc_thread_used();
    ASSERT_EQ(db_delete_lazy(&shard_, &db_, S("big"), 1), 1);
    EXPECT_EQ(db_lookup(&shard_, &db_, S("big"), LOOKUP_NONE), nullptr);
    EXPECT_EQ(lazyfree_pending(&shard_), 1u);
    // Still counted until really freed: eviction must not be fooled.
    EXPECT_GT(rk_alloc_thread_used(), used_full - LAZYFREE_MIN_BYTES);
    EXPECT_EQ(lazyfree_drain(&shard_, 1000), 0);
    EXPECT_EQ(lazyfree_pending(&shard_), 0u);
    EXPECT_EQ(shard_.stats.lazyfreed_objects, 1u);
    EXPECT_LT(rk_alloc_thread_used(), used_full - LAZYFREE_MIN_BYTES);
}

TEST_F(LazyfreeTest, SmallValuesAndPlainDeletesFreeAtOnce)
{
    set_str("small", "v");
    ASSERT_EQ(db_delete_lazy(&shard_, &db_, S("small"), 1), 1);
    set_big("big");
    ASSERT_EQ(db_delete(&shard_, &db_, S("big")), 1); // lazyfree-lazy-server-del no
    EXPECT_EQ(lazyfree_pending(&shard_), 0u);
    EXPECT_EQ(shard_.stats.lazyfreed_objects, 0u);
    shard_.cfg.lazyfree_lazy_server_del = 1;
    set_big("big");
    ASSERT_EQ(db_delete(&shard_, &db_, S("big")), 1);
    EXPECT_EQ(lazyfree_pending(&shard_), 1u);
}

TEST_F(LazyfreeTest, OtherThreadsShardFreesAtOnce)
{
    rk_this_shard = nullptr; // e.g. the multi-key executor's scratch shard
    set_big("big");
    ASSERT_EQ(db_delete_lazy(&shard_, &db_, S("big"), 1), 1);
    EXPECT_EQ(lazyfree_pending(&shard_), 0u);
    EXPECT_EQ(shard_.lazyfree, nullptr);
}

TEST_F(LazyfreeTest, OverwriteUnderServerDelQueuesTheOldValue)
{
    shard_.cfg.lazyfree_lazy_server_del = 1;
    set_big("k");
    set_str("k", "small");
    EXPECT_EQ(lazyfree_pending(&shard_), 1u);
    rk_obj *o = db_lookup(&shard_, &db_, S("k"), LOOKUP_NONE);
    ASSERT_NE(o, nullptr);
    EXPECT_EQ(obj_string_len(o), 5u);
}

TEST_F(LazyfreeTest, EmptyAsyncFreesTheKeyspaceInSlices)
{
    const int n = 20000;
    for (int i = 0; i < n; i++) {
        set_str("key:" + std::to_string(i), "value");
        if (i % 3 == 0) {
            ASSERT_EQ(db_set_expire(&shard_, &db_, S("key:" + std::to_string(i)), rk_mstime() + 100000), 0);
        }
    }
    EXPECT_EQ(db_empty_async(&shard_, &db_), (uint64_t)n);
    EXPECT_EQ(dict_size(db_.keys), 0u);
    EXPECT_EQ(dict_size(db_.expires), 0u);
    EXPECT_EQ(lazyfree_pending(&shard_), (uint64_t)n);
    set_str("after", "flush"); // the new keyspace works at once
    int slices = 0;
    while (lazyfree_drain(&shard_, 0))
        slices++;
    EXPECT_GT(slices, 1);
    EXPECT_EQ(lazyfree_pending(&shard_), 0u);
    EXPECT_EQ(shard_.stats.lazyfreed_objects, (uint64_t)n);
    EXPECT_NE(db_lookup(&shard_, &db_, S("after"), LOOKUP_NONE), nullptr);
}

TEST_F(LazyfreeTest, ReleaseFreesEverythingQueued)
{
    for (int i = 0; i < 100; i++)
        set_str("k" + std::to_string(i), "v");
    db_empty_async(&shard_, &db_);
    set_big("big");
    db_delete_lazy(&shard_, &db_, S("big"), 1);
    EXPECT_EQ(lazyfree_pending(&shard_), 101u);
    lazyfree_release(&shard_);
    EXPECT_EQ(lazyfree_pending(&shard_), 0u);
}

// ---------- LFU ----------

TEST_F(LazyfreeTest, LfuCountsAccessesAndDecays)
{
    shard_.cfg.maxmemory_policy = MAXMEMORY_ALLKEYS_LFU;
    shard_.cfg.lfu_log_factor = 0; // every access counts
    set_str("k", "v");
    rk_obj *o = db_lookup(&shard_, &db_, S("k"), LOOKUP_NOTOUCH);
    ASSERT_NE(o, nullptr);
    const int64_t now = rk_mstime();
    EXPECT_EQ(db_lfu_decayed(&shard_, o, now), DB_LFU_INIT_VAL);
    for (int i = 0; i < 10; i++)
        db_lookup(&shard_, &db_, S("k"), LOOKUP_NONE);
    EXPECT_EQ(db_lfu_decayed(&shard_, o, now), DB_LFU_INIT_VAL + 10);
    // Ten minutes later the counter has lost one per lfu-decay-time minutes.
    EXPECT_EQ(db_lfu_decayed(&shard_, o, now + 10 * 60000), DB_LFU_INIT_VAL);
    shard_.cfg.lfu_decay_time = 2;
    EXPECT_EQ(db_lfu_decayed(&shard_, o, now + 10 * 60000), DB_LFU_INIT_VAL + 5);
    shard_.cfg.lfu_decay_time = 0; // never decays
    EXPECT_EQ(db_lfu_decayed(&shard_, o, now + 1000 * 60000), DB_LFU_INIT_VAL + 10);
    shard_.cfg.lfu_decay_time = 1;
    EXPECT_EQ(db_lfu_decayed(&shard_, o, now + 1000 * 60000), 0);
    // An overwrite keeps the history.
    set_str("k", "w");
    o = db_lookup(&shard_, &db_, S("k"), LOOKUP_NOTOUCH);
    EXPECT_EQ(db_lfu_decayed(&shard_, o, now), DB_LFU_INIT_VAL + 10);
}

TEST_F(LazyfreeTest, LfuCounterSaturatesAt255)
{
    shard_.cfg.maxmemory_policy = MAXMEMORY_VOLATILE_LFU;
    shard_.cfg.lfu_log_factor = 0;
    set_str("k", "v");
    for (int i = 0; i < 400; i++)
        db_lookup(&shard_, &db_, S("k"), LOOKUP_NONE);
    rk_obj *o = db_lookup(&shard_, &db_, S("k"), LOOKUP_NOTOUCH);
    EXPECT_EQ(db_lfu_decayed(&shard_, o, rk_mstime()), 255);
}

// ---------- eviction ----------

TEST_F(LazyfreeTest, EvictionDisabledOrNoevictionNeverDeletes)
{
    set_str("a", "1");
    EXPECT_EQ(evict_make_room(&shard_), 0); // maxmemory 0
    shard_.cfg.maxmemory = 1;
    EXPECT_EQ(evict_make_room(&shard_), -1); // noeviction, over the limit
    EXPECT_EQ(dict_size(db_.keys), 1u);
    EXPECT_EQ(shard_.stats.evicted_keys, 0u);
    shard_.cfg.maxmemory = 1LL << 40;
    EXPECT_EQ(evict_make_room(&shard_), 0);
}

TEST_F(LazyfreeTest, AllkeysEvictsUntilNothingIsLeft)
{
    for (int i = 0; i < 50; i++)
        set_str("k" + std::to_string(i), "v");
    shard_.cfg.maxmemory = 1;
    shard_.cfg.maxmemory_policy = MAXMEMORY_ALLKEYS_LRU;
    shard_.cfg.maxmemory_eviction_tenacity = 100; // no time limit
    EXPECT_EQ(evict_make_room(&shard_), -1);
    EXPECT_EQ(dict_size(db_.keys), 0u);
    EXPECT_EQ(shard_.stats.evicted_keys, 50u);
}

TEST_F(LazyfreeTest, VolatileEvictsOnlyKeysWithTtl)
{
    for (int i = 0; i < 30; i++) {
        set_str("keep" + std::to_string(i), "v");
        set_str("vol" + std::to_string(i), "v");
        ASSERT_EQ(db_set_expire(&shard_, &db_, S("vol" + std::to_string(i)), rk_mstime() + 100000 + i), 0);
    }
    shard_.cfg.maxmemory = 1;
    shard_.cfg.maxmemory_eviction_tenacity = 100;
    for (int policy : {MAXMEMORY_VOLATILE_TTL, MAXMEMORY_VOLATILE_RANDOM}) {
        shard_.cfg.maxmemory_policy = policy;
        EXPECT_EQ(evict_make_room(&shard_), -1);
        EXPECT_EQ(dict_size(db_.expires), 0u);
        EXPECT_EQ(dict_size(db_.keys), 30u);
    }
    EXPECT_EQ(shard_.stats.evicted_keys, 30u);
}

TEST_F(LazyfreeTest, TenacityBoundsOneCall)
{
    for (int i = 0; i < 5000; i++)
        set_str("k" + std::to_string(i), "v");
    shard_.cfg.maxmemory = 1;
    shard_.cfg.maxmemory_policy = MAXMEMORY_ALLKEYS_RANDOM;
    shard_.cfg.maxmemory_eviction_tenacity = 0; // stop at the first clock check
    EXPECT_EQ(evict_make_room(&shard_), 0);    // out of time: the command may run
    EXPECT_EQ(shard_.stats.evicted_keys, 16u);
    evict_cron(&shard_); // the tick goes on with its own budget
    EXPECT_GT(shard_.stats.evicted_keys, 16u);
}

} // namespace
