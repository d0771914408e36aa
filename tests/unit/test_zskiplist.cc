// Unit tests for core/zskiplist.c: the skiplist with spans and the
// skiplist+dict value, checked against a std::set model.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

extern "C" {
#include "core/alloc.h"
#include "core/zskiplist.h"
}

namespace {

using Elem = std::pair<double, std::string>;

struct ElemLess {
    bool operator()(const Elem &a, const Elem &b) const
    {
        if (a.first != b.first)
            return a.first < b.first;
        return zs_cmp_bytes(a.second.data(), a.second.size(), b.second.data(), b.second.size()) < 0;
    }
};

using Model = std::set<Elem, ElemLess>;

rk_str *S(const std::string &s) { return rkstr_new(s.data(), s.size()); }

std::string str_of(const zsl_node *n) { return std::string(n->ele->data, n->ele->len); }

// Walks every level checking order, spans, backward links, tail and length.
void check_structure(const zskiplist *zsl, const Model &model)
{
    ASSERT_EQ(zsl->length, model.size());
    std::vector<const zsl_node *> nodes;
    for (const zsl_node *n = zsl->header->level[0].forward; n; n = n->level[0].forward)
        nodes.push_back(n);
    ASSERT_EQ(nodes.size(), model.size());
    size_t i = 0;
    for (const Elem &e : model) {
        EXPECT_EQ(nodes[i]->score, e.first);
        EXPECT_EQ(str_of(nodes[i]), e.second);
        EXPECT_EQ(nodes[i]->backward, i ? nodes[i - 1] : nullptr);
        i++;
    }
    EXPECT_EQ(zsl->tail, nodes.empty() ? nullptr : nodes.back());
    // rank of each node, 1-based
    std::vector<unsigned long> rank_of;
    for (int lvl = 0; lvl < zsl->level; lvl++) {
        const zsl_node *x = zsl->header;
        unsigned long rank = 0;
        while (x->level[lvl].forward) {
            unsigned long next_rank = rank + x->level[lvl].span;
            const zsl_node *f = x->level[lvl].forward;
            ASSERT_GE(next_rank, 1u);
            ASSERT_LE(next_rank, nodes.size());
            EXPECT_EQ(nodes[next_rank - 1], f) << "level " << lvl;
            rank = next_rank;
            x = f;
        }
    }
}

class ZslTest : public ::testing::Test {
protected:
    void SetUp() override
    {
        ASSERT_EQ(rk_alloc_thread_init(), 0);
        zsl = zsl_create();
        ASSERT_NE(zsl, nullptr);
    }
    void TearDown() override { zsl_free(zsl); }

    void insert(double score, const std::string &m)
    {
        ASSERT_NE(zsl_insert(zsl, score, S(m)), nullptr);
        model.insert({score, m});
    }

    zskiplist *zsl = nullptr;
    Model model;
};

TEST_F(ZslTest, InsertKeepsOrderAndSpans)
{
    insert(3, "c");
    insert(1, "b");
    insert(1, "a");
    insert(2, "zz");
    insert(-INFINITY, "min");
    insert(INFINITY, "max");
    insert(1, "ab");
    check_structure(zsl, model);
    EXPECT_EQ(str_of(zsl_by_rank(zsl, 1)), "min");
    EXPECT_EQ(str_of(zsl_by_rank(zsl, 2)), "a");
    EXPECT_EQ(str_of(zsl_by_rank(zsl, 3)), "ab");
    EXPECT_EQ(zsl_by_rank(zsl, 0), nullptr);
    EXPECT_EQ(zsl_by_rank(zsl, 8), nullptr);
    EXPECT_EQ(zsl_rank(zsl, 1, "ab", 2), 3u);
    EXPECT_EQ(zsl_rank(zsl, INFINITY, "max", 3), 7u);
    EXPECT_EQ(zsl_rank(zsl, 2, "ab", 2), 0u);  // wrong score
    EXPECT_EQ(zsl_rank(zsl, 1, "nope", 4), 0u);
}

TEST_F(ZslTest, BinaryMembersCompareByBytesThenLength)
{
    insert(0, std::string("a\0b", 3));
    insert(0, std::string("a", 1));
    insert(0, std::string("a\0", 2));
    insert(0, std::string("\xff", 1));
    check_structure(zsl, model);
    EXPECT_EQ(str_of(zsl_by_rank(zsl, 1)), std::string("a", 1));
    EXPECT_EQ(str_of(zsl_by_rank(zsl, 2)), std::string("a\0", 2));
    EXPECT_EQ(str_of(zsl_by_rank(zsl, 4)), std::string("\xff", 1));
}

TEST_F(ZslTest, DeleteAndUpdateScore)
{
    for (int i = 0; i < 50; i++)
        insert(i % 7, "m" + std::to_string(i));
    EXPECT_EQ(zsl_delete(zsl, 3, "m3", 2, nullptr), 1);
    model.erase({3, "m3"});
    EXPECT_EQ(zsl_delete(zsl, 4, "m3", 2, nullptr), 0);
    zsl_node *taken = nullptr;
    EXPECT_EQ(zsl_delete(zsl, 0, "m0", 2, &taken), 1);
    ASSERT_NE(taken, nullptr);
    EXPECT_EQ(str_of(taken), "m0");
    zsl_free_node(taken);
    model.erase({0, "m0"});
    check_structure(zsl, model);

    // In place (stays between neighbours) and moving updates.
    zsl_node *n = zsl_update_score(zsl, 6, "m6", 2, 100);
    EXPECT_EQ(n->score, 100);
    model.erase({6, "m6"});
    model.insert({100, "m6"});
    n = zsl_update_score(zsl, 1, "m1", 2, -5);
    model.erase({1, "m1"});
    model.insert({-5, "m1"});
    n = zsl_update_score(zsl, 100, "m6", 2, 100.5);  // still the tail: in place
    model.erase({100, "m6"});
    model.insert({100.5, "m6"});
    check_structure(zsl, model);
    EXPECT_EQ(zsl->tail, n);
}

TEST_F(ZslTest, ScoreRanges)
{
    for (int i = 1; i <= 10; i++)
        insert(i, "m" + std::to_string(i));
    zs_range r = {2, 5, 0, 0};
    EXPECT_EQ(zsl_first_in_range(zsl, &r)->score, 2);
    EXPECT_EQ(zsl_last_in_range(zsl, &r)->score, 5);
    r = {2, 5, 1, 1};
    EXPECT_EQ(zsl_first_in_range(zsl, &r)->score, 3);
    EXPECT_EQ(zsl_last_in_range(zsl, &r)->score, 4);
    r = {5, 5, 1, 0};
    EXPECT_TRUE(zs_range_empty(&r));
    EXPECT_EQ(zsl_first_in_range(zsl, &r), nullptr);
    r = {10.5, INFINITY, 0, 0};
    EXPECT_EQ(zsl_first_in_range(zsl, &r), nullptr);
    EXPECT_EQ(zsl_last_in_range(zsl, &r), nullptr);
    r = {-INFINITY, 0.5, 0, 0};
    EXPECT_EQ(zsl_first_in_range(zsl, &r), nullptr);
    r = {3.5, 3.7, 0, 0};  // between two members
    EXPECT_EQ(zsl_first_in_range(zsl, &r), nullptr);
    EXPECT_EQ(zsl_last_in_range(zsl, &r), nullptr);

    r = {3, 6, 0, 1};
    EXPECT_EQ(zsl_delete_range_by_score(zsl, &r, nullptr), 3u);
    for (int i = 3; i < 6; i++)
        model.erase({i, "m" + std::to_string(i)});
    check_structure(zsl, model);
    EXPECT_EQ(zsl_delete_range_by_rank(zsl, 2, 3, nullptr), 2u);
    model.erase({2, "m2"});
    model.erase({6, "m6"});
    check_structure(zsl, model);
}

TEST_F(ZslTest, LexRanges)
{
    for (const char *m : {"a", "b", "c", "d", "e"})
        insert(0, m);
    auto bound = [](const char *s, int ex) { return zs_lexbound{s, strlen(s), 0, ex}; };
    zs_lexbound minus{nullptr, 0, -1, 1}, plus{nullptr, 0, 1, 1};
    zs_lexrange r = {minus, plus};
    EXPECT_EQ(str_of(zsl_first_in_lex(zsl, &r)), "a");
    EXPECT_EQ(str_of(zsl_last_in_lex(zsl, &r)), "e");
    r = {bound("b", 1), bound("d", 0)};
    EXPECT_EQ(str_of(zsl_first_in_lex(zsl, &r)), "c");
    EXPECT_EQ(str_of(zsl_last_in_lex(zsl, &r)), "d");
    r = {bound("bb", 0), bound("bc", 0)};
    EXPECT_EQ(zsl_first_in_lex(zsl, &r), nullptr);
    r = {plus, minus};
    EXPECT_TRUE(zs_lexrange_empty(&r));
    r = {minus, minus};
    EXPECT_TRUE(zs_lexrange_empty(&r));
    r = {bound("c", 0), bound("c", 0)};
    EXPECT_FALSE(zs_lexrange_empty(&r));
    r = {bound("c", 1), bound("c", 0)};
    EXPECT_TRUE(zs_lexrange_empty(&r));
    r = {bound("b", 0), bound("c", 0)};
    EXPECT_EQ(zsl_delete_range_by_lex(zsl, &r, nullptr), 2u);
    model.erase({0, "b"});
    model.erase({0, "c"});
    check_structure(zsl, model);
}

TEST_F(ZslTest, RandomOperationsMatchModel)
{
    std::mt19937_64 rng(12345);
    std::vector<std::pair<std::string, double>> live;
    for (int step = 0; step < 20000; step++) {
        int op = (int)(rng() % 10);
        if (op < 5 || live.empty()) {
            std::string m = "k" + std::to_string(rng() % 3000);
            bool present = std::any_of(live.begin(), live.end(), [&](auto &p) { return p.first == m; });
            if (present)
                continue;
            double score = (double)(rng() % 200) / 4.0;
            insert(score, m);
            live.push_back({m, score});
        } else if (op < 8) {
            size_t i = rng() % live.size();
            auto [m, score] = live[i];
            ASSERT_EQ(zsl_delete(zsl, score, m.data(), m.size(), nullptr), 1);
            model.erase({score, m});
            live[i] = live.back();
            live.pop_back();
        } else {
            size_t i = rng() % live.size();
            auto &[m, score] = live[i];
            double ns = (double)(rng() % 200) / 4.0;
            zsl_update_score(zsl, score, m.data(), m.size(), ns);
            model.erase({score, m});
            model.insert({ns, m});
            score = ns;
        }
        if (step % 2000 == 0)
            check_structure(zsl, model);
    }
    check_structure(zsl, model);
    unsigned long rank = 1;
    for (const Elem &e : model) {
        ASSERT_EQ(zsl_rank(zsl, e.first, e.second.data(), e.second.size()), rank);
        ASSERT_EQ(str_of(zsl_by_rank(zsl, rank)), e.second);
        rank++;
    }
}

TEST(ZsetSl, AddFindUpdateDeleteDup)
{
    ASSERT_EQ(rk_alloc_thread_init(), 0);
    zset_sl *zs = zsetsl_create();
    ASSERT_NE(zs, nullptr);
    std::string big(1000, 'x');  // longer than the stack probe key
    ASSERT_EQ(zsetsl_add(zs, "a", 1, 1.0), 0);
    ASSERT_EQ(zsetsl_add(zs, "b", 1, 2.0), 0);
    ASSERT_EQ(zsetsl_add(zs, big.data(), big.size(), 0.5), 0);
    EXPECT_EQ(zsetsl_length(zs), 3u);
    dict_entry *e = zsetsl_find(zs, "b", 1);
    ASSERT_NE(e, nullptr);
    EXPECT_EQ(e->v.d, 2.0);
    ASSERT_NE(zsetsl_find(zs, big.data(), big.size()), nullptr);
    EXPECT_EQ(zsetsl_find(zs, "c", 1), nullptr);
    zsetsl_set_score(zs, e, -1.0);
    EXPECT_EQ(zsetsl_find(zs, "b", 1)->v.d, -1.0);
    EXPECT_EQ(str_of(zsl_by_rank(zs->zsl, 1)), "b");

    zset_sl *copy = zsetsl_dup(zs);
    ASSERT_NE(copy, nullptr);
    EXPECT_EQ(zsetsl_delete(zs, "b", 1), 1);
    EXPECT_EQ(zsetsl_delete(zs, "b", 1), 0);
    EXPECT_EQ(zsetsl_length(zs), 2u);
    EXPECT_EQ(zsetsl_length(copy), 3u);
    EXPECT_EQ(zsetsl_find(copy, "b", 1)->v.d, -1.0);
    EXPECT_EQ(str_of(zsl_by_rank(copy->zsl, 1)), "b");
    EXPECT_EQ(str_of(zsl_by_rank(copy->zsl, 3)), "a");
    EXPECT_GT(zsetsl_heap_size(copy), 1000u);

    // Range deletes keep the dict in step.
    zs_range r = {-INFINITY, 0.75, 0, 0};
    EXPECT_EQ(zsl_delete_range_by_score(copy->zsl, &r, copy->dict), 2u);
    EXPECT_EQ(dict_size(copy->dict), 1u);
    EXPECT_EQ(zsetsl_find(copy, "b", 1), nullptr);
    zsetsl_free(zs);
    zsetsl_free(copy);
}

TEST(ZsetSl, FailedAllocationLeavesSetIntact)
{
    ASSERT_EQ(rk_alloc_thread_init(), 0);
    zset_sl *zs = zsetsl_create();
    ASSERT_NE(zs, nullptr);
    ASSERT_EQ(zsetsl_add(zs, "a", 1, 1.0), 0);
    for (int budget = 0; budget < 4; budget++) {
        rk_alloc_fail_after(budget);
        int rc = zsetsl_add(zs, "b", 1, 2.0);
        rk_alloc_fail_after(-1);
        if (rc == 0) {
            EXPECT_EQ(zsetsl_length(zs), 2u);
            EXPECT_EQ(zsetsl_delete(zs, "b", 1), 1);
        }
        EXPECT_EQ(zsetsl_length(zs), 1u);
        EXPECT_EQ(dict_size(zs->dict), 1u);
        EXPECT_EQ(zsetsl_find(zs, "b", 1), nullptr);
    }
    zsetsl_free(zs);
}

}  // namespace
