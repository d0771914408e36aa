// Unit tests for core/db.c: lookups, lazy and active expiry, TTL bookkeeping.
#include <gtest/gtest.h>

#include <cstring>
#include <set>
#include <string>

extern "C" {
#include "core/alloc.h"
#include "core/db.h"
#include "core/dict.h"
#include "core/object.h"
#include "core/shard.h"
}

namespace {

rk_slice S(const std::string &s) { return rk_slice{s.data(), s.size()}; }

std::string key_name(int i) { return "key:" + std::to_string(i); }

class DbTest : public ::testing::Test {
protected:
    void SetUp() override
    {
        ASSERT_EQ(rk_alloc_thread_init(), 0);
        memset(static_cast<void *>(&shard_), 0, sizeof shard_);
        shard_.cfg.databases = 1;
        shard_.cfg.hz = 10;
        ASSERT_EQ(db_init(&db_, 0), 0);
    }
    void TearDown() override { db_release(&db_); }

    void set_str(const std::string &k, const std::string &v)
    {
        rk_obj *o = obj_new_string(v.data(), v.size());
        ASSERT_NE(o, nullptr);
        ASSERT_EQ(db_set(&shard_, &db_, S(k), o, 0), 0);
    }

    // Every key in expires must be in keys and share its rk_str.
    void check_ttl_invariant()
    {
        dict_iter it;
        dict_iter_init(&it, db_.expires, 0);
        for (dict_entry *e; (e = dict_next(&it));) {
            dict_entry *ke = dict_find(db_.keys, e->key);
            ASSERT_NE(ke, nullptr);
            EXPECT_EQ(ke->key, e->key);
        }
        dict_iter_release(&it);
    }

    rk_shard shard_;
    rk_db db_;
};

TEST_F(DbTest, AddLookupDelete)
{
    set_str("a", "1");
    rk_obj *o = db_lookup(&shard_, &db_, S("a"), LOOKUP_NONE);
    ASSERT_NE(o, nullptr);
    EXPECT_EQ(o->type, OBJ_STRING);
    EXPECT_EQ(shard_.stats.keyspace_hits, 1u);
    EXPECT_EQ(db_lookup(&shard_, &db_, S("b"), LOOKUP_NONE), nullptr);
    EXPECT_EQ(shard_.stats.keyspace_misses, 1u);
    // Write lookups do not count.
    EXPECT_EQ(db_lookup(&shard_, &db_, S("b"), LOOKUP_WRITE), nullptr);
    EXPECT_EQ(shard_.stats.keyspace_misses, 1u);
    EXPECT_EQ(db_delete(&shard_, &db_, S("a")), 1);
    EXPECT_EQ(db_delete(&shard_, &db_, S("a")), 0);
    EXPECT_EQ(dict_size(db_.keys), 0u);
}

TEST_F(DbTest, AddRefusesExistingKey)
{
    set_str("a", "1");
    rk_obj *o = obj_new_string("2", 1);
    EXPECT_EQ(db_add(&shard_, &db_, S("a"), o), -1);
    obj_free(o);
}

TEST_F(DbTest, LongKeysAreFound)
{
    std::string big(5000, 'x');
    set_str(big, "v");
    EXPECT_NE(db_lookup(&shard_, &db_, S(big), LOOKUP_NONE), nullptr);
    EXPECT_EQ(db_set_expire(&shard_, &db_, S(big), rk_mstime() + 100000), 0);
    EXPECT_GT(db_get_expire(&db_, S(big)), 0);
    EXPECT_EQ(db_delete(&shard_, &db_, S(big)), 1);
    EXPECT_EQ(dict_size(db_.expires), 0u);
}

TEST_F(DbTest, SetClearsTtlUnlessKeepTtl)
{
    set_str("a", "1");
    ASSERT_EQ(db_set_expire(&shard_, &db_, S("a"), rk_mstime() + 100000), 0);
    rk_obj *o = obj_new_string("2", 1);
    ASSERT_EQ(db_set(&shard_, &db_, S("a"), o, SETKEY_KEEPTTL), 0);
    EXPECT_GT(db_get_expire(&db_, S("a")), 0);
    set_str("a", "3");
    EXPECT_EQ(db_get_expire(&db_, S("a")), -1);
    check_ttl_invariant();
}

TEST_F(DbTest, SetExpireNeedsTheKey)
{
    EXPECT_EQ(db_set_expire(&shard_, &db_, S("nokey"), rk_mstime() + 1000), -1);
    EXPECT_EQ(dict_size(db_.expires), 0u);
}

TEST_F(DbTest, PersistRemovesTtl)
{
    set_str("a", "1");
    EXPECT_EQ(db_persist(&db_, S("a")), 0);
    ASSERT_EQ(db_set_expire(&shard_, &db_, S("a"), rk_mstime() + 100000), 0);
    EXPECT_EQ(db_persist(&db_, S("a")), 1);
    EXPECT_EQ(db_get_expire(&db_, S("a")), -1);
    EXPECT_NE(db_lookup(&shard_, &db_, S("a"), LOOKUP_NONE), nullptr);
}

TEST_F(DbTest, LazyExpiryDeletesOnLookup)
{
    set_str("a", "1");
    set_str("b", "2");
    ASSERT_EQ(db_set_expire(&shard_, &db_, S("a"), rk_mstime() - 1), 0);
    ASSERT_EQ(db_set_expire(&shard_, &db_, S("b"), rk_mstime() + 100000), 0);
    EXPECT_EQ(db_lookup(&shard_, &db_, S("b"), LOOKUP_NONE) != nullptr, true);
    // NOEXPIRE reports it missing but leaves it in place.
    EXPECT_EQ(db_lookup(&shard_, &db_, S("a"), LOOKUP_NOEXPIRE), nullptr);
    EXPECT_EQ(dict_size(db_.keys), 2u);
    EXPECT_EQ(shard_.stats.expired_keys, 0u);
    EXPECT_EQ(db_lookup(&shard_, &db_, S("a"), LOOKUP_NONE), nullptr);
    EXPECT_EQ(dict_size(db_.keys), 1u);
    EXPECT_EQ(dict_size(db_.expires), 1u);
    EXPECT_EQ(shard_.stats.expired_keys, 1u);
    check_ttl_invariant();
}

TEST_F(DbTest, LazyExpiryUsesCommandTime)
{
    set_str("a", "1");
    const int64_t now = rk_mstime();
    ASSERT_EQ(db_set_expire(&shard_, &db_, S("a"), now + 50), 0);
    shard_.cmd_time_ms = now + 49;
    EXPECT_NE(db_lookup(&shard_, &db_, S("a"), LOOKUP_NONE), nullptr);
    shard_.cmd_time_ms = now + 50;
    EXPECT_EQ(db_lookup(&shard_, &db_, S("a"), LOOKUP_NONE), nullptr);
}

TEST_F(DbTest, LookupTouchesLruUnlessNoTouch)
{
    set_str("a", "1");
    rk_obj *o = db_lookup(&shard_, &db_, S("a"), LOOKUP_NONE);
    ASSERT_NE(o, nullptr);
    o->lru = 0;
    db_lookup(&shard_, &db_, S("a"), LOOKUP_NOTOUCH);
    EXPECT_EQ(o->lru, 0u);
    db_lookup(&shard_, &db_, S("a"), LOOKUP_NONE);
    EXPECT_EQ(o->lru, db_lru_clock(rk_mstime()));
}

TEST_F(DbTest, TakeMovesValueAndTtl)
{
    set_str("a", "hello");
    const int64_t when = rk_mstime() + 100000;
    ASSERT_EQ(db_set_expire(&shard_, &db_, S("a"), when), 0);
    int64_t got = 0;
    rk_obj *o = db_take(&shard_, &db_, S("a"), &got);
    ASSERT_NE(o, nullptr);
    EXPECT_EQ(got, when);
    EXPECT_EQ(dict_size(db_.keys), 0u);
    EXPECT_EQ(dict_size(db_.expires), 0u);
    ASSERT_EQ(db_add(&shard_, &db_, S("b"), o), 0);
    EXPECT_EQ(db_take(&shard_, &db_, S("nokey"), nullptr), nullptr);
}

TEST_F(DbTest, ActiveExpiryRemovesExpiredKeysOnly)
{
    const int64_t now = rk_mstime();
    for (int i = 0; i < 2000; i++) {
        set_str(key_name(i), "v");
        // Even keys are already expired, odd ones live on.
        ASSERT_EQ(db_set_expire(&shard_, &db_, S(key_name(i)), i % 2 ? now + 100000 : now - 1), 0);
    }
    for (int i = 2000; i < 2100; i++)
        set_str(key_name(i), "no ttl");
    uint64_t removed = 0;
    for (int round = 0; round < 1000 && dict_size(db_.expires) > 1000; round++)
        removed += db_active_expire(&shard_, &db_, 25000);
    EXPECT_EQ(removed, 1000u);
    EXPECT_EQ(shard_.stats.expired_keys, 1000u);
    EXPECT_EQ(dict_size(db_.expires), 1000u);
    EXPECT_EQ(dict_size(db_.keys), 1100u);
    EXPECT_GT(db_.avg_ttl, 0);
    check_ttl_invariant();
    for (int i = 1; i < 2000; i += 2)
        EXPECT_NE(db_lookup(&shard_, &db_, S(key_name(i)), LOOKUP_NONE), nullptr);
}

TEST_F(DbTest, ActiveExpiryRespectsBudget)
{
    const int64_t now = rk_mstime();
    const int n = 100000;
    for (int i = 0; i < n; i++) {
        set_str(key_name(i), "v");
        ASSERT_EQ(db_set_expire(&shard_, &db_, S(key_name(i)), now - 1), 0);
    }
    const int64_t start = rk_ustime();
    uint64_t removed = db_active_expire(&shard_, &db_, 1000);
    const int64_t took = rk_ustime() - start;
    EXPECT_GT(removed, 0u);
    EXPECT_LT(removed, (uint64_t)n); // 1 ms cannot delete 100k keys
    EXPECT_LT(took, 20000);          // generous: the clock is read every 16 keys
    check_ttl_invariant();
    // Repeated calls finish the job and leave the db consistent.
    for (int round = 0; round < 100000 && dict_size(db_.expires); round++)
        db_active_expire(&shard_, &db_, 25000);
    EXPECT_EQ(dict_size(db_.expires), 0u);
    EXPECT_EQ(dict_size(db_.keys), 0u);
    EXPECT_EQ(shard_.stats.expired_keys, (uint64_t)n);
}

TEST_F(DbTest, ActiveExpiryStopsEarlyWhenLittleIsStale)
{
    const int64_t now = rk_mstime();
    for (int i = 0; i < 10000; i++) {
        set_str(key_name(i), "v");
        ASSERT_EQ(db_set_expire(&shard_, &db_, S(key_name(i)), now + 100000), 0);
    }
    EXPECT_EQ(db_active_expire(&shard_, &db_, 25000), 0u);
    // It sampled a little and stopped rather than walking everything.
    EXPECT_NE(db_.expire_cursor, 0u);
}

TEST_F(DbTest, EmptyAndSwap)
{
    rk_db other;
    ASSERT_EQ(db_init(&other, 1), 0);
    set_str("a", "1");
    set_str("b", "2");
    ASSERT_EQ(db_set_expire(&shard_, &db_, S("a"), rk_mstime() + 100000), 0);
    db_swap(&db_, &other);
    EXPECT_EQ(db_.id, 0);
    EXPECT_EQ(other.id, 1);
    EXPECT_EQ(dict_size(db_.keys), 0u);
    EXPECT_EQ(dict_size(other.keys), 2u);
    EXPECT_GT(db_get_expire(&other, S("a")), 0);
    EXPECT_EQ(db_empty(&other), 2u);
    EXPECT_EQ(dict_size(other.expires), 0u);
    db_release(&other);
}

TEST_F(DbTest, TtlInvariantUnderRandomOperations)
{
    std::set<std::string> live;
    uint64_t x = 88172645463325252ULL;
    auto next = [&x]() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        return x;
    };
    const int64_t now = rk_mstime();
    for (int i = 0; i < 20000; i++) {
        std::string k = key_name((int)(next() % 500));
        switch (next() % 5) {
        case 0: set_str(k, "v"); break;
        case 1: db_set_expire(&shard_, &db_, S(k), now + 100000); break;
        case 2: db_persist(&db_, S(k)); break;
        case 3: db_delete(&shard_, &db_, S(k)); break;
        case 4: {
            rk_obj *o = obj_new_string("w", 1);
            ASSERT_EQ(db_set(&shard_, &db_, S(k), o, SETKEY_KEEPTTL), 0);
            break;
        }
        }
    }
    check_ttl_invariant();
}

} // namespace
