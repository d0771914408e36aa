// Unit tests for core/dict.c and core/alloc.c.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

extern "C" {
#include "core/alloc.h"
#include "core/dict.h"
}

namespace {

uint64_t str_hash(const void *key)
{
    return dict_gen_hash(key, strlen(static_cast<const char *>(key)));
}

int str_equal(const void *a, const void *b)
{
    return strcmp(static_cast<const char *>(a), static_cast<const char *>(b)) == 0;
}

void str_free(void *key) { rk_free(key); }

// Keys are NUL-terminated strings owned by the dict.
const dict_type kOwnedStrings = {str_hash, str_equal, str_free, nullptr};

char *make_key(const std::string &s) { return rk_memdup(s.data(), s.size()); }

std::string key_name(uint64_t i) { return "key:" + std::to_string(i); }

dict_entry *add(dict *d, const std::string &s)
{
    char *key = make_key(s);
    dict_entry *e = dict_add_raw(d, key, nullptr);
    if (!e)
        rk_free(key);
    return e;
}

void finish_rehash(dict *d)
{
    while (dict_rehash_step(d, 1000)) {
    }
}

bool rehashing(const dict *d) { return d->rehash_idx >= 0; }

class DictTest : public ::testing::Test {
protected:
    void SetUp() override
    {
        ASSERT_EQ(rk_alloc_thread_init(), 0);
        uint8_t seed[16];
        for (int i = 0; i < 16; i++)
            seed[i] = static_cast<uint8_t>(i * 7 + 1);
        dict_set_hash_seed(seed);
        d = dict_create(&kOwnedStrings);
        ASSERT_NE(d, nullptr);
    }
    void TearDown() override
    {
        // Hooks point at test-local recorders that are gone by now.
        if (d) {
            d->before_change = nullptr;
            d->after_insert = nullptr;
        }
        dict_release(d);
    }
    dict *d = nullptr;
};

TEST_F(DictTest, AddFindDeleteOneMillion)
{
    const uint64_t n = 1000000;
    for (uint64_t i = 0; i < n; i++)
        ASSERT_NE(add(d, key_name(i)), nullptr) << i;
    EXPECT_EQ(dict_size(d), n);

    dict_entry *existing = nullptr;
    char *dup = make_key(key_name(42));
    EXPECT_EQ(dict_add_raw(d, dup, &existing), nullptr);
    ASSERT_NE(existing, nullptr);
    EXPECT_STREQ(static_cast<char *>(existing->key), "key:42");
    rk_free(dup);

    for (uint64_t i = 0; i < n; i++) {
        std::string k = key_name(i);
        dict_entry *e = dict_find(d, k.c_str());
        ASSERT_NE(e, nullptr) << k;
        ASSERT_STREQ(static_cast<char *>(e->key), k.c_str());
    }
    for (uint64_t i = n; i < n + 1000; i++)
        ASSERT_EQ(dict_find(d, key_name(i).c_str()), nullptr);

    for (uint64_t i = 0; i < n; i++)
        ASSERT_EQ(dict_delete(d, key_name(i).c_str()), 0) << i;
    EXPECT_EQ(dict_size(d), 0u);
    EXPECT_EQ(dict_delete(d, "key:1"), -1);
}

TEST_F(DictTest, GrowsAtLoadFactorOneAndShrinksBelowOneEighth)
{
    for (int i = 0; i < 4; i++)
        add(d, key_name(i));
    EXPECT_EQ(dict_buckets(d), 4u);
    EXPECT_FALSE(rehashing(d));
    add(d, key_name(4)); // used == size: grows before inserting
    EXPECT_TRUE(rehashing(d));
    finish_rehash(d);
    EXPECT_EQ(dict_buckets(d), 8u);

    for (int i = 5; i < 1000; i++)
        add(d, key_name(i));
    finish_rehash(d);
    EXPECT_EQ(dict_buckets(d), 1024u);
    EXPECT_EQ(dict_size(d), 1000u);

    EXPECT_EQ(dict_try_shrink(d), 0); // fill is ~1
    for (int i = 10; i < 1000; i++)
        ASSERT_EQ(dict_delete(d, key_name(i).c_str()), 0);
    EXPECT_EQ(dict_try_shrink(d), 1);
    finish_rehash(d);
    EXPECT_EQ(dict_buckets(d), 16u);
    EXPECT_EQ(dict_size(d), 10u);
    for (int i = 0; i < 10; i++)
        EXPECT_NE(dict_find(d, key_name(i).c_str()), nullptr);
}

TEST_F(DictTest, ResizeForbiddenGrowsOnlyPastRatioFive)
{
    for (int i = 0; i < 8; i++)
        add(d, key_name(i));
    finish_rehash(d);
    ASSERT_EQ(dict_buckets(d), 8u);
    d->resize_forbidden = 1;
    for (int i = 8; i < 48; i++)
        add(d, key_name(i)); // up to 6 per bucket: ratio 5 not yet exceeded at insert time
    EXPECT_EQ(dict_buckets(d), 8u);
    add(d, key_name(48)); // 48 / 8 == 6 > 5
    EXPECT_TRUE(rehashing(d));
    finish_rehash(d);
    EXPECT_GT(dict_buckets(d), 8u);
    for (int i = 0; i < 49; i++)
        EXPECT_NE(dict_find(d, key_name(i).c_str()), nullptr);
    for (int i = 0; i < 49; i++)
        dict_delete(d, key_name(i).c_str());
    EXPECT_EQ(dict_try_shrink(d), 0); // forbidden
    d->resize_forbidden = 0;
    EXPECT_EQ(dict_try_shrink(d), 1);
}

void collect_key(void *ud, dict_entry *e)
{
    static_cast<std::multiset<std::string> *>(ud)->insert(static_cast<char *>(e->key));
}

TEST_F(DictTest, ScanWhileGrowingReturnsEveryStableKey)
{
    const int stable = 500;
    for (int i = 0; i < stable; i++)
        add(d, key_name(i));
    std::multiset<std::string> seen;
    uint64_t cursor = 0, next_key = stable, steps_while_rehashing = 0;
    do {
        cursor = dict_scan(d, cursor, collect_key, &seen);
        steps_while_rehashing += rehashing(d);
        // Growth must stop at some point or the scan never ends.
        for (int j = 0; j < 20 && next_key < 8000; j++)
            add(d, key_name(next_key++));
    } while (cursor != 0);
    EXPECT_GT(steps_while_rehashing, 0u);
    EXPECT_GT(dict_buckets(d), 512u); // the table grew during the scan
    for (int i = 0; i < stable; i++)
        EXPECT_GE(seen.count(key_name(i)), 1u) << key_name(i);
}

TEST_F(DictTest, ScanWhileShrinkingReturnsEveryStableKey)
{
    const int total = 20000, every = 40;
    for (int i = 0; i < total; i++)
        add(d, key_name(i));
    finish_rehash(d);
    const uint64_t start_buckets = dict_buckets(d);
    std::vector<int> doomed;
    for (int i = total - 1; i >= 0; i--)
        if (i % every != 0)
            doomed.push_back(i);

    std::multiset<std::string> seen;
    uint64_t cursor = 0, shrinks = 0;
    do {
        cursor = dict_scan(d, cursor, collect_key, &seen);
        for (int j = 0; j < 25 && !doomed.empty(); j++) {
            ASSERT_EQ(dict_delete(d, key_name(doomed.back()).c_str()), 0);
            doomed.pop_back();
        }
        shrinks += dict_try_shrink(d) == 1;
    } while (cursor != 0);
    EXPECT_GT(shrinks, 0u);
    finish_rehash(d);
    EXPECT_LT(dict_buckets(d), start_buckets);
    for (int i = 0; i < total; i += every)
        EXPECT_GE(seen.count(key_name(i)), 1u) << key_name(i);
}

TEST_F(DictTest, ScanCallbackMayDeleteTheEntry)
{
    for (int i = 0; i < 1000; i++)
        add(d, key_name(i));
    struct Ctx {
        dict *d;
        int deleted;
    } ctx{d, 0};
    auto delete_it = [](void *ud, dict_entry *e) {
        auto *c = static_cast<Ctx *>(ud);
        std::string k = static_cast<char *>(e->key);
        ASSERT_EQ(dict_delete(c->d, k.c_str()), 0);
        c->deleted++;
    };
    uint64_t cursor = 0;
    do {
        cursor = dict_scan(d, cursor, delete_it, &ctx);
    } while (cursor != 0);
    EXPECT_EQ(ctx.deleted, 1000);
    EXPECT_EQ(dict_size(d), 0u);
}

TEST_F(DictTest, SafeIteratorAllowsDeletingReturnedEntry)
{
    const int n = 10000;
    for (int i = 0; i < n; i++)
        add(d, key_name(i));
    add(d, key_name(n)); // likely mid-rehash now; make sure below
    for (int i = n + 1; !rehashing(d); i++)
        add(d, key_name(i));
    const uint64_t size_before = dict_size(d);

    std::set<std::string> visited;
    uint64_t deleted = 0;
    dict_iter it;
    dict_iter_init(&it, d, 1);
    while (dict_entry *e = dict_next(&it)) {
        std::string k = static_cast<char *>(e->key);
        EXPECT_TRUE(visited.insert(k).second) << "visited twice: " << k;
        if (visited.size() % 2 == 0) {
            ASSERT_EQ(dict_delete(d, k.c_str()), 0);
            deleted++;
        }
    }
    dict_iter_release(&it);
    EXPECT_EQ(visited.size(), size_before);
    EXPECT_EQ(dict_size(d), size_before - deleted);
    EXPECT_EQ(d->pause_rehash, 0);
}

TEST_F(DictTest, UnsafeIteratorVisitsAllOnce)
{
    for (int i = 0; i < 3000; i++)
        add(d, key_name(i));
    std::set<std::string> visited;
    dict_iter it;
    dict_iter_init(&it, d, 0);
    while (dict_entry *e = dict_next(&it))
        EXPECT_TRUE(visited.insert(static_cast<char *>(e->key)).second);
    dict_iter_release(&it);
    EXPECT_EQ(visited.size(), 3000u);
}

#ifndef NDEBUG
TEST_F(DictTest, UnsafeIteratorAssertsOnModification)
{
    for (int i = 0; i < 100; i++)
        add(d, key_name(i));
    EXPECT_DEATH(
        {
            dict_iter it;
            dict_iter_init(&it, d, 0);
            dict_next(&it);
            add(d, "intruder");
            dict_iter_release(&it);
        },
        "unsafe iterator");
}
#endif

TEST_F(DictTest, RandomHitsEveryKeyOfSmallDict)
{
    EXPECT_EQ(dict_random(d), nullptr);
    for (int i = 0; i < 20; i++)
        add(d, key_name(i));
    ASSERT_TRUE(rehashing(d) || dict_buckets(d) >= 20);
    std::set<std::string> hit;
    for (int i = 0; i < 5000; i++)
        hit.insert(static_cast<char *>(dict_random(d)->key));
    EXPECT_EQ(hit.size(), 20u);
}

TEST_F(DictTest, RandomHitsEveryKeyWhileRehashing)
{
    for (int i = 0; i < 16; i++)
        add(d, key_name(i));
    finish_rehash(d);
    add(d, key_name(16)); // starts a grow: table 16 -> 32
    ASSERT_TRUE(rehashing(d));
    std::set<std::string> hit;
    for (int i = 0; i < 5000; i++)
        hit.insert(static_cast<char *>(dict_random(d)->key));
    EXPECT_EQ(hit.size(), 17u);
}

TEST_F(DictTest, ClearRemovesEverything)
{
    for (int i = 0; i < 1000; i++)
        add(d, key_name(i));
    EXPECT_EQ(dict_clear(d), 1000u);
    EXPECT_EQ(dict_size(d), 0u);
    EXPECT_EQ(dict_buckets(d), 0u);
    EXPECT_FALSE(rehashing(d));
    EXPECT_NE(add(d, "again"), nullptr);
}

TEST(DictHash, CaseInsensitiveVariantFoldsAsciiCase)
{
    const char *mixed = "HeLLo-WoRLD:0123456789ABCDEF";
    const char *lower = "hello-world:0123456789abcdef";
    size_t n = strlen(mixed);
    EXPECT_EQ(dict_gen_case_hash(mixed, n), dict_gen_hash(lower, n));
    EXPECT_EQ(dict_gen_case_hash(mixed, n), dict_gen_case_hash(lower, n));
    EXPECT_NE(dict_gen_hash(mixed, n), dict_gen_hash(lower, n));
    EXPECT_NE(dict_gen_hash("a", 1), dict_gen_hash("b", 1));
    EXPECT_NE(dict_gen_hash("", 0), dict_gen_hash("\0", 1)); // length is hashed
}

// ---- before_change hook ----

using BucketId = std::pair<dict_entry **, uint64_t>; // (bucket array, index)
using Chains = std::map<BucketId, std::vector<dict_entry *>>;

Chains snapshot_chains(const dict *dd)
{
    Chains chains;
    for (int t = 0; t < 2; t++) {
        if (!dd->table[t])
            continue;
        for (uint64_t b = 0; b < (uint64_t(1) << dd->size_exp[t]); b++)
            for (dict_entry *e = dd->table[t][b]; e; e = dict_entry_next(e))
                chains[{dd->table[t], b}].push_back(e);
    }
    return chains;
}

std::vector<dict_entry *> chain_at(const Chains &c, const BucketId &id)
{
    auto it = c.find(id);
    return it == c.end() ? std::vector<dict_entry *>{} : it->second;
}

// Records announcements and checks each first one sees the bucket unchanged;
// an insertion is announced after it (after_insert) with the new head.
struct HookRecorder {
    Chains before;
    std::set<BucketId> announced;
    std::map<BucketId, dict_entry *> inserted;
    uint64_t calls = 0, late_announcements = 0, foreign_entries = 0;
};

void record_insert(dict *dd, void *ud, int table, uint64_t bucket, dict_entry *e)
{
    auto *rec = static_cast<HookRecorder *>(ud);
    rec->calls++;
    ASSERT_EQ(dd->table[table][bucket], e); // linked at the head, already there
    rec->inserted[{dd->table[table], bucket}] = e;
}

void record_change(dict *dd, void *ud, int table, uint64_t bucket, dict_entry *entry)
{
    auto *rec = static_cast<HookRecorder *>(ud);
    rec->calls++;
    ASSERT_TRUE(table == 0 || table == 1);
    ASSERT_NE(dd->table[table], nullptr);
    if (bucket == DICT_ALL_BUCKETS) { // the whole table is about to go
        ASSERT_EQ(entry, nullptr);
        for (uint64_t b = 0; b < (uint64_t(1) << dd->size_exp[table]); b++)
            rec->announced.insert({dd->table[table], b});
        return;
    }
    ASSERT_LT(bucket, uint64_t(1) << dd->size_exp[table]);
    if (entry) {
        bool in_chain = false;
        for (dict_entry *e = dd->table[table][bucket]; e; e = dict_entry_next(e))
            in_chain |= e == entry;
        rec->foreign_entries += !in_chain;
    }
    BucketId id{dd->table[table], bucket};
    if (!rec->announced.insert(id).second)
        return; // repeated announcement of one bucket: allowed
    std::vector<dict_entry *> now;
    for (dict_entry *e = dd->table[table][bucket]; e; e = dict_entry_next(e))
        now.push_back(e);
    if (now != chain_at(rec->before, id))
        rec->late_announcements++;
}

// Runs op and checks every bucket whose chain changed was announced first.
template <typename Op> void run_checked(dict *dd, HookRecorder &rec, Op op)
{
    rec.before = snapshot_chains(dd);
    rec.announced.clear();
    rec.inserted.clear();
    op();
    Chains after = snapshot_chains(dd);
    std::set<BucketId> ids;
    for (auto &kv : rec.before)
        ids.insert(kv.first);
    for (auto &kv : after)
        ids.insert(kv.first);
    for (const BucketId &id : ids) {
        if (chain_at(rec.before, id) != chain_at(after, id)) {
            auto ins = rec.inserted.find(id);
            if (ins != rec.inserted.end()) {
                std::vector<dict_entry *> expect{ins->second};
                for (dict_entry *e : chain_at(rec.before, id))
                    expect.push_back(e);
                if (expect == chain_at(after, id))
                    continue; // exactly the announced insertion
            }
            ASSERT_TRUE(rec.announced.count(id)) << "unannounced change of bucket " << id.second;
        }
    }
    ASSERT_EQ(rec.late_announcements, 0u);
    ASSERT_EQ(rec.foreign_entries, 0u);
}

TEST_F(DictTest, BeforeChangeHookAnnouncesEveryModifiedBucket)
{
    HookRecorder rec;
    d->before_change = record_change;
    d->after_insert = record_insert;
    d->hook_ud = &rec;
    std::mt19937_64 rng(12345);
    std::vector<int> present;
    int next_key = 0;
    uint64_t ops_while_rehashing = 0;

    auto random_op = [&](int add_percent) {
        int roll = static_cast<int>(rng() % 100);
        if (roll < add_percent || present.empty()) {
            int k = next_key++;
            run_checked(d, rec, [&] { ASSERT_NE(add(d, key_name(k)), nullptr); });
            present.push_back(k);
        } else if (roll < 94) {
            size_t pick = rng() % present.size();
            int k = present[pick];
            present[pick] = present.back();
            present.pop_back();
            if (roll % 2)
                run_checked(d, rec, [&] { ASSERT_EQ(dict_delete(d, key_name(k).c_str()), 0); });
            else
                run_checked(d, rec, [&] {
                    dict_entry *e = dict_unlink(d, key_name(k).c_str());
                    ASSERT_NE(e, nullptr);
                    dict_free_unlinked(d, e);
                });
        } else if (roll < 97) {
            run_checked(d, rec, [&] { dict_rehash_step(d, 3); });
        } else {
            run_checked(d, rec, [&] { dict_try_shrink(d); });
        }
        ops_while_rehashing += rehashing(d);
    };

    for (int i = 0; i < 3000; i++)
        random_op(75); // mostly growing
    for (int i = 0; i < 4500 && !present.empty(); i++)
        random_op(10); // mostly shrinking
    EXPECT_GT(ops_while_rehashing, 100u);
    EXPECT_GT(rec.calls, 0u);

    // Every remaining key must still be found.
    for (int k : present)
        ASSERT_NE(dict_find(d, key_name(k).c_str()), nullptr);

    uint64_t calls_before_clear = rec.calls;
    run_checked(d, rec, [&] { dict_clear(d); });
    EXPECT_GE(rec.calls - calls_before_clear, present.empty() ? 0u : 1u);
}

TEST_F(DictTest, BeforeChangeHookCoversBothTablesDuringRehash)
{
    HookRecorder rec;
    for (int i = 0; i < 64; i++)
        add(d, key_name(i));
    finish_rehash(d);
    d->before_change = record_change;
    d->hook_ud = &rec;
    std::set<int> tables;
    auto note_tables = [](dict *, void *ud, int table, uint64_t, dict_entry *) {
        static_cast<std::set<int> *>(ud)->insert(table);
    };
    add(d, key_name(64)); // starts the grow
    ASSERT_TRUE(rehashing(d));
    d->before_change = note_tables;
    d->hook_ud = &tables;
    dict_rehash_step(d, 1);
    EXPECT_EQ(tables, (std::set<int>{0, 1}));
    d->before_change = record_change;
    d->hook_ud = &rec;
    run_checked(d, rec, [&] { finish_rehash(d); });
}

TEST_F(DictTest, AnnounceKeyCallsHookForItsBucket)
{
    for (int i = 0; i < 100; i++)
        add(d, key_name(i));
    std::vector<std::pair<int, uint64_t>> calls;
    d->before_change = [](dict *, void *ud, int t, uint64_t b, dict_entry *e) {
        EXPECT_STREQ(static_cast<char *>(e->key), "key:7");
        static_cast<std::vector<std::pair<int, uint64_t>> *>(ud)->push_back({t, b});
    };
    d->hook_ud = &calls;
    EXPECT_EQ(dict_announce_key(d, "key:7"), 0);
    ASSERT_EQ(calls.size(), 1u);
    dict_entry *e = d->table[calls[0].first][calls[0].second];
    bool found = false;
    for (; e; e = dict_entry_next(e))
        found |= strcmp(static_cast<char *>(e->key), "key:7") == 0;
    EXPECT_TRUE(found);
    EXPECT_EQ(dict_announce_key(d, "absent"), -1);
    EXPECT_EQ(calls.size(), 1u);
}

// ---- allocation ----

TEST_F(DictTest, AllocFailureLeavesDictUnchanged)
{
    dict *empty = nullptr;
    rk_alloc_fail_after(0);
    EXPECT_EQ(dict_create(&kOwnedStrings), nullptr);
    rk_alloc_fail_after(-1);

    empty = dict_create(&kOwnedStrings);
    ASSERT_NE(empty, nullptr);
    char *key = make_key("k");
    rk_alloc_fail_after(1); // entry succeeds, first table fails
    EXPECT_EQ(dict_add_raw(empty, key, nullptr), nullptr);
    rk_alloc_fail_after(-1);
    EXPECT_EQ(dict_size(empty), 0u);
    EXPECT_EQ(dict_buckets(empty), 0u);
    EXPECT_NE(dict_add_raw(empty, key, nullptr), nullptr);
    dict_release(empty);

    for (int i = 0; i < 4; i++)
        add(d, key_name(i));
    ASSERT_EQ(dict_buckets(d), 4u);
    key = make_key(key_name(4));
    rk_alloc_fail_after(0); // the entry itself fails
    EXPECT_EQ(dict_add_raw(d, key, nullptr), nullptr);
    rk_alloc_fail_after(-1);
    EXPECT_EQ(dict_size(d), 4u);
    EXPECT_EQ(dict_buckets(d), 4u);
    EXPECT_FALSE(rehashing(d));

    rk_alloc_fail_after(1); // entry succeeds, the grow fails: insert still lands
    EXPECT_NE(dict_add_raw(d, key, nullptr), nullptr);
    rk_alloc_fail_after(-1);
    EXPECT_EQ(dict_size(d), 5u);
    EXPECT_EQ(dict_buckets(d), 4u);
    EXPECT_FALSE(rehashing(d));
    add(d, key_name(5)); // allocation works again: grows now
    EXPECT_TRUE(rehashing(d));
    finish_rehash(d);

    for (int i = 0; i < 200; i++)
        add(d, key_name(100 + i));
    finish_rehash(d);
    for (int i = 0; i < 200; i++)
        dict_delete(d, key_name(100 + i).c_str());
    const uint64_t buckets = dict_buckets(d);
    rk_alloc_fail_after(0);
    EXPECT_EQ(dict_try_shrink(d), -1);
    rk_alloc_fail_after(-1);
    EXPECT_EQ(dict_buckets(d), buckets);
    EXPECT_FALSE(rehashing(d));
    for (int i = 0; i < 6; i++)
        EXPECT_NE(dict_find(d, key_name(i).c_str()), nullptr);
}

TEST_F(DictTest, AllocAccountingReturnsToBaseline)
{
    dict_release(d);
    d = nullptr;
    const int64_t baseline = rk_alloc_thread_used();
    dict *dd = dict_create(&kOwnedStrings);
    for (int i = 0; i < 10000; i++)
        add(dd, key_name(i));
    const int64_t grown = rk_alloc_thread_used();
    // Each entry is at least 24 bytes plus its key.
    EXPECT_GE(grown - baseline, 10000 * 24);
    for (int i = 0; i < 5000; i++)
        dict_delete(dd, key_name(i).c_str());
    EXPECT_LT(rk_alloc_thread_used(), grown);
    dict_release(dd);
    EXPECT_EQ(rk_alloc_thread_used(), baseline);

    void *p = rk_malloc(100);
    p = rk_realloc(p, 5000);
    ASSERT_NE(p, nullptr);
    EXPECT_GE(rk_alloc_thread_used() - baseline, 5000);
    EXPECT_EQ(rk_alloc_thread_used() - baseline, int64_t(rk_usable_size(p)));
    rk_free(p);
    EXPECT_EQ(rk_alloc_thread_used(), baseline);
    d = dict_create(&kOwnedStrings); // for TearDown
}

TEST(Alloc, TotalSumsThreadsAndSurvivesCrossThreadFree)
{
    ASSERT_EQ(rk_alloc_thread_init(), 0);
    const int64_t total_before = rk_alloc_total_used();
    const int64_t mine_before = rk_alloc_thread_used();
    void *block = nullptr;
    std::thread worker([&] {
        ASSERT_EQ(rk_alloc_thread_init(), 0);
        block = rk_malloc(1 << 20);
        ASSERT_NE(block, nullptr);
        EXPECT_GE(rk_alloc_thread_used(), 1 << 20);
    });
    worker.join();
    EXPECT_GE(rk_alloc_total_used() - total_before, 1 << 20);
    rk_free(block); // freed by another thread than its allocator
    EXPECT_LT(rk_alloc_thread_used(), mine_before);
    EXPECT_EQ(rk_alloc_total_used(), total_before);
}

TEST(Alloc, MemdupAndRss)
{
    char *copy = rk_memdup("abc", 3);
    ASSERT_NE(copy, nullptr);
    EXPECT_STREQ(copy, "abc");
    rk_free(copy);
    EXPECT_GT(rk_rss_bytes(), 0u);
}

} // namespace

// ---- what the fork-less snapshot relies on (storage/snapshot.c) ----

// With rehashing paused and resizing forbidden, a forced grow builds a new
// table 1 for new keys only: every entry of the cut table stays in its
// bucket until deleted, so pages of the cut table keep their meaning.
TEST_F(DictTest, PausedAndForbiddenKeepsCutTableEntriesInPlace)
{
    for (int i = 0; i < 8; i++)
        add(d, key_name(i));
    finish_rehash(d);
    ASSERT_EQ(dict_buckets(d), 8u);
    dict_entry **cut = d->table[0];
    std::map<std::string, uint64_t> where;
    for (uint64_t b = 0; b < 8; b++)
        for (dict_entry *e = cut[b]; e; e = e->next)
            where[static_cast<char *>(e->key)] = b;
    d->pause_rehash++;
    d->resize_forbidden++;
    for (int i = 8; i < 200; i++) // far past ratio 5: a forced grow
        add(d, key_name(i));
    EXPECT_TRUE(rehashing(d));
    EXPECT_EQ(d->table[0], cut);
    for (int i = 0; i < 200; i++)
        EXPECT_NE(dict_find(d, key_name(i).c_str()), nullptr);
    for (const auto &kv : where) {
        bool found = false;
        for (dict_entry *e = cut[kv.second]; e; e = e->next)
            found |= kv.first == static_cast<char *>(e->key);
        EXPECT_TRUE(found) << kv.first;
    }
    EXPECT_EQ(dict_rehash_microseconds(d, 1000), 0); // paused
    d->pause_rehash--;
    d->resize_forbidden--;
    finish_rehash(d);
    for (int i = 0; i < 200; i++)
        EXPECT_NE(dict_find(d, key_name(i).c_str()), nullptr);
}

TEST_F(DictTest, AnnounceAllNamesEveryTableWhole)
{
    for (int i = 0; i < 100; i++)
        add(d, key_name(i));
    std::set<std::pair<int, uint64_t>> seen;
    d->hook_ud = &seen;
    d->before_change = [](dict *, void *ud, int t, uint64_t b, dict_entry *e) {
        EXPECT_EQ(e, nullptr);
        static_cast<std::set<std::pair<int, uint64_t>> *>(ud)->insert({t, b});
    };
    dict_announce_all(d);
    std::set<std::pair<int, uint64_t>> expect{{0, DICT_ALL_BUCKETS}};
    if (rehashing(d))
        expect.insert({1, DICT_ALL_BUCKETS});
    EXPECT_EQ(seen, expect);
    seen.clear();
    dict_clear(d); // a clear announces each table before freeing it
    EXPECT_EQ(seen, expect);
    d->before_change = nullptr;
}

TEST_F(DictTest, ExpandPresizesOnlyAnEmptyDict)
{
    EXPECT_EQ(dict_expand(d, 1000), 0);
    EXPECT_EQ(dict_buckets(d), 1024u);
    for (int i = 0; i < 1000; i++)
        add(d, key_name(i));
    EXPECT_FALSE(rehashing(d)); // no grow was needed on the way
    EXPECT_EQ(dict_expand(d, 100000), 0); // not empty: a no-op
    EXPECT_EQ(dict_buckets(d), 1024u);
}

// The owner's tag bit stays with its entry through every relink of the
// chain around it, and never disturbs lookups, iteration or rehashing.
TEST_F(DictTest, EntryTagsSurviveRelinkingAndRehash)
{
    for (int i = 0; i < 64; i++)
        add(d, key_name(i));
    finish_rehash(d);
    std::set<std::string> tagged;
    for (int i = 0; i < 64; i += 3) {
        dict_entry *e = dict_find(d, key_name(i).c_str());
        ASSERT_NE(e, nullptr);
        dict_entry_set_tag(e, 1);
        tagged.insert(key_name(i));
    }
    for (int i = 1; i < 64; i += 3) // unlink neighbours of tagged entries
        ASSERT_EQ(dict_delete(d, key_name(i).c_str()), 0);
    for (int i = 64; i < 400; i++) // grow and rehash around them
        add(d, key_name(i));
    finish_rehash(d);
    size_t seen = 0, seen_tagged = 0;
    dict_iter it;
    dict_iter_init(&it, d, 0);
    for (dict_entry *e; (e = dict_next(&it)) != nullptr;) {
        seen++;
        bool should = tagged.count(static_cast<char *>(e->key)) > 0;
        EXPECT_EQ(dict_entry_tagged(e) != 0, should) << static_cast<char *>(e->key);
        seen_tagged += should;
    }
    dict_iter_release(&it);
    EXPECT_EQ(seen, dict_size(d));
    EXPECT_EQ(seen_tagged, tagged.size());
    for (const std::string &k : tagged) {
        dict_entry *e = dict_find(d, k.c_str());
        ASSERT_NE(e, nullptr);
        dict_entry_set_tag(e, 0);
        EXPECT_FALSE(dict_entry_tagged(e));
        ASSERT_EQ(dict_delete(d, k.c_str()), 0);
    }
}
