// Unit tests for core/quicklist.c: pushes and pops at both ends, node sizes
// under every kind of fill, index/replace/insert, range deletion, iteration
// with deletion in both directions, dup, and allocation failures leaving the
// list intact. A std::deque is the reference model throughout.
#include <gtest/gtest.h>

#include <deque>
#include <random>
#include <string>

extern "C" {
#include "core/alloc.h"
#include "core/listpack.h"
#include "core/quicklist.h"
}

namespace {

using Model = std::deque<std::string>;

std::string entry_string(const ql_entry &e)
{
    unsigned char buf[32];
    size_t len;
    const unsigned char *p = ql_entry_bytes(&e, buf, &len);
    return std::string(reinterpret_cast<const char *>(p), len);
}

std::string at(quicklist *ql, long long index)
{
    ql_entry e;
    if (!ql_index(ql, index, &e))
        return "<out of range>";
    return entry_string(e);
}

Model contents(quicklist *ql)
{
    Model m;
    ql_iter it;
    ql_entry e;
    ql_iter_init(&it, ql, QL_FORWARD);
    while (ql_iter_next(&it, &e))
        m.push_back(entry_string(e));
    return m;
}

Model contents_backward(quicklist *ql)
{
    Model m;
    ql_iter it;
    ql_entry e;
    ql_iter_init(&it, ql, QL_BACKWARD);
    while (ql_iter_next(&it, &e))
        m.push_front(entry_string(e));
    return m;
}

void push(quicklist *ql, const std::string &s, int where)
{
    ASSERT_EQ(ql_push(ql, s.data(), s.size(), where), 0);
}

// Every node respects fill (a node holding one element always does).
void expect_nodes_fit(const quicklist *ql)
{
    static const size_t limits[] = {4096, 8192, 16384, 32768, 65536};
    for (const ql_node *n = ql->head; n; n = n->next) {
        if (n->count <= 1)
            continue;
        if (ql->fill < 0) {
            int level = -ql->fill - 1;
            EXPECT_LE(lp_bytes(n->lp), limits[level > 4 ? 4 : level]);
        } else {
            EXPECT_LE((long)n->count, ql->fill);
            EXPECT_LE(lp_bytes(n->lp), 8192u);
        }
    }
}

void expect_same(quicklist *ql, const Model &m)
{
    ASSERT_TRUE(ql_check(ql));
    ASSERT_EQ(ql_count(ql), m.size());
    EXPECT_EQ(contents(ql), m);
    EXPECT_EQ(contents_backward(ql), m);
    expect_nodes_fit(ql);
}

TEST(Quicklist, PushPopBothEnds)
{
    quicklist *ql = ql_new(-2);
    ASSERT_NE(ql, nullptr);
    push(ql, "b", QL_TAIL);
    push(ql, "a", QL_HEAD);
    push(ql, "123", QL_TAIL); // stored as an integer in the listpack
    expect_same(ql, {"a", "b", "123"});
    EXPECT_EQ(at(ql, 0), "a");
    EXPECT_EQ(at(ql, -1), "123");
    EXPECT_EQ(at(ql, 3), "<out of range>");
    EXPECT_EQ(at(ql, -4), "<out of range>");
    ASSERT_EQ(ql_pop_discard(ql, QL_HEAD), 0);
    ASSERT_EQ(ql_pop_discard(ql, QL_TAIL), 0);
    expect_same(ql, {"b"});
    ASSERT_EQ(ql_pop_discard(ql, QL_TAIL), 0);
    expect_same(ql, {});
    EXPECT_EQ(ql->head, nullptr);
    EXPECT_EQ(ql->len, 0u);
    ql_free(ql);
}

TEST(Quicklist, EntryCountFillMakesNodes)
{
    quicklist *ql = ql_new(3);
    Model m;
    for (int i = 0; i < 10; i++) {
        push(ql, "v" + std::to_string(i), QL_TAIL);
        m.push_back("v" + std::to_string(i));
    }
    expect_same(ql, m);
    EXPECT_EQ(ql->len, 4u); // 3 + 3 + 3 + 1
    ql_free(ql);

    ql = ql_new(0); // one entry per node
    for (int i = 0; i < 5; i++)
        push(ql, "x", QL_HEAD);
    EXPECT_EQ(ql->len, 5u);
    ql_free(ql);
}

TEST(Quicklist, ByteFillMakesNodes)
{
    for (int fill = -1; fill >= -6; fill--) {
        quicklist *ql = ql_new(fill);
        Model m;
        std::string v(100, 'z');
        for (int i = 0; i < 3000; i++) {
            push(ql, v, i % 2 ? QL_HEAD : QL_TAIL);
            if (i % 2)
                m.push_front(v);
            else
                m.push_back(v);
        }
        expect_same(ql, m);
        EXPECT_GT(ql->len, 1u);
        ql_free(ql);
    }
}

TEST(Quicklist, LargeElementGetsItsOwnNode)
{
    quicklist *ql = ql_new(-1);
    push(ql, "small", QL_TAIL);
    std::string big(10000, 'B');
    push(ql, big, QL_TAIL);
    push(ql, "after", QL_TAIL);
    expect_same(ql, {"small", big, "after"});
    EXPECT_EQ(ql->len, 3u);
    ql_free(ql);
}

TEST(Quicklist, ReplaceAndInsertSplitOversizedNodes)
{
    quicklist *ql = ql_new(4);
    Model m;
    for (int i = 0; i < 8; i++) {
        push(ql, std::to_string(i), QL_TAIL);
        m.push_back(std::to_string(i));
    }
    EXPECT_EQ(ql_replace_at(ql, 2, "two", 3), 1);
    m[2] = "two";
    EXPECT_EQ(ql_replace_at(ql, -1, "last", 4), 1);
    m[7] = "last";
    EXPECT_EQ(ql_replace_at(ql, 8, "x", 1), 0);
    expect_same(ql, m);

    ql_entry e;
    ASSERT_TRUE(ql_index(ql, 3, &e));
    ASSERT_EQ(ql_insert(ql, &e, "after3", 6, 1), 0);
    m.insert(m.begin() + 4, "after3");
    ASSERT_TRUE(ql_index(ql, 0, &e));
    ASSERT_EQ(ql_insert(ql, &e, "first", 5, 0), 0);
    m.push_front("first");
    expect_same(ql, m);

    // A replacement too big for the node's byte limit splits it.
    quicklist *bytes = ql_new(-1);
    Model bm;
    for (int i = 0; i < 30; i++) {
        push(bytes, std::string(100, 'a' + i % 26), QL_TAIL);
        bm.push_back(std::string(100, 'a' + i % 26));
    }
    std::string big(3000, 'R');
    EXPECT_EQ(ql_replace_at(bytes, 15, big.data(), big.size()), 1);
    bm[15] = big;
    expect_same(bytes, bm);
    ql_free(bytes);
    ql_free(ql);
}

TEST(Quicklist, DeleteRange)
{
    quicklist *ql = ql_new(5);
    Model m;
    for (int i = 0; i < 23; i++) {
        push(ql, std::to_string(i), QL_TAIL);
        m.push_back(std::to_string(i));
    }
    EXPECT_EQ(ql_del_range(ql, 3, 9), 9);
    m.erase(m.begin() + 3, m.begin() + 12);
    expect_same(ql, m);
    EXPECT_EQ(ql_del_range(ql, 10, 100), 4); // clamped at the end
    m.erase(m.begin() + 10, m.end());
    expect_same(ql, m);
    EXPECT_EQ(ql_del_range(ql, 50, 1), 0);
    EXPECT_EQ(ql_del_range(ql, 0, 0), 0);
    EXPECT_EQ(ql_del_range(ql, 0, 10), 10);
    expect_same(ql, {});
    ql_free(ql);
}

TEST(Quicklist, IteratorDeleteBothDirections)
{
    for (int dir : {QL_FORWARD, QL_BACKWARD}) {
        quicklist *ql = ql_new(3);
        Model m;
        for (int i = 0; i < 20; i++) {
            std::string v = i % 3 == 0 ? "del" : "keep" + std::to_string(i);
            push(ql, v, QL_TAIL);
            if (v != "del")
                m.push_back(v);
        }
        ql_iter it;
        ql_entry e;
        ql_iter_init(&it, ql, dir);
        int seen = 0;
        while (ql_iter_next(&it, &e)) {
            seen++;
            if (ql_entry_equal(&e, "del", 3)) {
                ASSERT_EQ(ql_iter_del(&it, &e), 0);
            }
        }
        EXPECT_EQ(seen, 20);
        expect_same(ql, m);
        ql_free(ql);
    }
}

TEST(Quicklist, IterInitAtAndEquality)
{
    quicklist *ql = ql_new(2);
    for (const char *s : {"a", "7", "-3", "b", "c"})
        push(ql, s, QL_TAIL);
    ql_iter it;
    ql_entry e;
    ASSERT_TRUE(ql_iter_init_at(&it, ql, QL_BACKWARD, 3));
    std::string got;
    while (ql_iter_next(&it, &e))
        got += entry_string(e) + ",";
    EXPECT_EQ(got, "b,-3,7,a,");
    EXPECT_FALSE(ql_iter_init_at(&it, ql, QL_FORWARD, 5));
    EXPECT_FALSE(ql_iter_next(&it, &e));
    ASSERT_TRUE(ql_index(ql, 1, &e));
    EXPECT_TRUE(ql_entry_equal(&e, "7", 1));
    EXPECT_FALSE(ql_entry_equal(&e, "07", 2));
    ql_free(ql);
}

TEST(Quicklist, DupIsDeepAndHeapSizeGrows)
{
    quicklist *ql = ql_new(-2);
    size_t empty = ql_heap_size(ql);
    Model m;
    for (int i = 0; i < 1000; i++) {
        push(ql, "element-" + std::to_string(i), QL_TAIL);
        m.push_back("element-" + std::to_string(i));
    }
    EXPECT_GT(ql_heap_size(ql), empty + 1000 * 8);
    quicklist *copy = ql_dup(ql);
    ASSERT_NE(copy, nullptr);
    EXPECT_EQ(copy->fill, ql->fill);
    ASSERT_EQ(ql_pop_discard(ql, QL_HEAD), 0);
    expect_same(copy, m);
    m.pop_front();
    expect_same(ql, m);
    ql_free(copy);
    ql_free(ql);
}

TEST(Quicklist, RandomOperationsMatchModel)
{
    std::mt19937 rng(12345);
    for (int fill : {-1, -2, 1, 2, 7, 128}) {
        quicklist *ql = ql_new(fill);
        Model m;
        for (int step = 0; step < 4000; step++) {
            int op = rng() % 8;
            std::string v = rng() % 4 ? std::to_string(rng() % 50) : std::string(rng() % 700, 'a' + rng() % 26);
            long long n = (long long)m.size();
            if (op <= 2 || n == 0) {
                int where = rng() % 2 ? QL_HEAD : QL_TAIL;
                push(ql, v, where);
                if (where == QL_HEAD)
                    m.push_front(v);
                else
                    m.push_back(v);
            } else if (op == 3) {
                int where = rng() % 2 ? QL_HEAD : QL_TAIL;
                ASSERT_EQ(ql_pop_discard(ql, where), 0);
                if (where == QL_HEAD)
                    m.pop_front();
                else
                    m.pop_back();
            } else if (op == 4) {
                long long i = rng() % n;
                ASSERT_EQ(ql_replace_at(ql, i - (rng() % 2 ? n : 0), v.data(), v.size()), 1);
                m[i] = v;
            } else if (op == 5) {
                long long i = rng() % n;
                ql_entry e;
                ASSERT_TRUE(ql_index(ql, i, &e));
                int after = rng() % 2;
                ASSERT_EQ(ql_insert(ql, &e, v.data(), v.size(), after), 0);
                m.insert(m.begin() + i + after, v);
            } else if (op == 6) {
                long long start = rng() % n;
                unsigned long count = rng() % 5;
                long long expect = std::min<long long>(count, n - start);
                ASSERT_EQ(ql_del_range(ql, start, count), expect);
                m.erase(m.begin() + start, m.begin() + start + expect);
            } else {
                long long i = rng() % n;
                ASSERT_EQ(at(ql, i), m[i]);
                ASSERT_EQ(at(ql, i - n), m[i]);
            }
            if (step % 500 == 0)
                expect_same(ql, m);
        }
        expect_same(ql, m);
        ql_free(ql);
    }
}

TEST(Quicklist, AllocationFailureLeavesListIntact)
{
    quicklist *ql = ql_new(2);
    Model m;
    for (int i = 0; i < 6; i++) {
        push(ql, "v" + std::to_string(i), QL_TAIL);
        m.push_back("v" + std::to_string(i));
    }
    // A push that needs a new node, a replace and an insert: each fails cleanly.
    rk_alloc_fail_after(0);
    EXPECT_EQ(ql_push(ql, "new", 3, QL_TAIL), -1);
    EXPECT_EQ(ql_push(ql, "new", 3, QL_HEAD), -1);
    EXPECT_EQ(ql_replace_at(ql, 1, "longer-value", 12), -1);
    ql_entry e;
    ASSERT_TRUE(ql_index(ql, 2, &e));
    EXPECT_EQ(ql_insert(ql, &e, "ins", 3, 1), -1);
    EXPECT_EQ(ql_dup(ql), nullptr);
    rk_alloc_fail_after(-1);
    expect_same(ql, m);

    // Failing in the middle of a dup frees what was copied.
    rk_alloc_fail_after(3);
    EXPECT_EQ(ql_dup(ql), nullptr);
    rk_alloc_fail_after(-1);

    // Insert succeeds but the split runs out of memory: an oversized node, still valid.
    ASSERT_TRUE(ql_index(ql, 2, &e));
    rk_alloc_fail_after(1);
    EXPECT_EQ(ql_insert(ql, &e, "ins", 3, 1), 0);
    rk_alloc_fail_after(-1);
    m.insert(m.begin() + 3, "ins");
    ASSERT_TRUE(ql_check(ql));
    EXPECT_EQ(contents(ql), m);
    ql_free(ql);
}

} // namespace
