// The stream value (core/stream.c) and its RDB form (storage/rdb_stream.c).
#include <gtest/gtest.h>

#include <string>
#include <vector>

extern "C" {
#include "core/alloc.h"
#include "core/object.h"
#include "core/stream.h"
#include "storage/rdb_stream.h"
}

namespace {

rk_slice S(const std::string &s) { return rk_slice{s.data(), s.size()}; }

void Add(stream *s, uint64_t ms, uint64_t seq, std::vector<std::string> fv) {
    std::vector<rk_slice> v;
    for (auto &x : fv) v.push_back(S(x));
    s_entry *e = stream_entry_new(sid{ms, seq}, (uint32_t)(fv.size() / 2), v.data());
    ASSERT_NE(e, nullptr);
    ASSERT_EQ(stream_append(s, e), 0);
    s->last_id = e->id;
    s->entries_added++;
}

struct StreamTest : ::testing::Test {
    void SetUp() override {
        rk_alloc_thread_init();
        o = stream_new_obj();
        ASSERT_NE(o, nullptr);
        s = stream_of(o);
    }
    void TearDown() override { obj_free(o); }
    rk_obj *o = nullptr;
    stream *s = nullptr;
};

}  // namespace

TEST(StreamId, OrderIncrementAndText) {
    sid a{1, UINT64_MAX}, b{2, 0};
    EXPECT_LT(sid_cmp(&a, &b), 0);
    ASSERT_EQ(sid_incr(&a), 0);
    EXPECT_EQ(sid_cmp(&a, &b), 0);
    ASSERT_EQ(sid_decr(&a), 0);
    EXPECT_EQ(a.seq, UINT64_MAX);
    sid z{0, 0}, m{UINT64_MAX, UINT64_MAX};
    EXPECT_EQ(sid_decr(&z), -1);
    EXPECT_EQ(sid_incr(&m), -1);
    char buf[44];
    EXPECT_EQ(std::string(buf, sid_format(buf, &b)), "2-0");
    unsigned char raw[16];
    sid x{0x0102030405060708ull, 42}, y{};
    sid_encode(raw, &x);
    EXPECT_EQ(raw[0], 1);
    sid_decode(raw, &y);
    EXPECT_EQ(sid_cmp(&x, &y), 0);
}

TEST_F(StreamTest, AppendSeekRemoveAndTrimKeepOrder) {
    for (uint64_t i = 1; i <= 1000; i++) Add(s, i, i % 3, {"f", std::to_string(i), "g", std::string(i % 7, 'x')});
    EXPECT_EQ(s->n, 1000u);
    sid probe{500, 0};
    size_t i = stream_seek(s, &probe);
    EXPECT_EQ(stream_at(s, i)->id.ms, 500u);
    sid exact{500, 500 % 3};
    ASSERT_NE(stream_find(s, &exact), nullptr);
    EXPECT_EQ(std::string(stream_entry_str(stream_find(s, &exact), 1).ptr, 3), "500");
    stream_remove_at(s, i);
    EXPECT_EQ(stream_find(s, &exact), nullptr);
    stream_drop_front(s, 600);
    stream_refresh_first_id(s);
    EXPECT_EQ(s->n, 399u);
    EXPECT_EQ(s->first_id.ms, 602u);
    // Appending after a trimmed front reuses the vector without losing order.
    for (uint64_t k = 1001; k <= 2000; k++) Add(s, k, 0, {"a", "b"});
    const char *why = nullptr;
    EXPECT_EQ(stream_validate(s, &why), 0) << why;
    for (size_t k = 1; k < s->n; k++) ASSERT_LT(sid_cmp(&stream_at(s, k - 1)->id, &stream_at(s, k)->id), 0);
}

TEST_F(StreamTest, GroupsConsumersAndPelsStayConsistent) {
    for (uint64_t i = 1; i <= 50; i++) Add(s, i, 0, {"n", std::to_string(i)});
    int exists = 0;
    s_group *g = stream_group_create(s, "g", 1, sid{0, 0}, 0, &exists);
    ASSERT_NE(g, nullptr);
    EXPECT_EQ(stream_group_create(s, "g", 1, sid{0, 0}, 0, &exists), nullptr);
    EXPECT_TRUE(exists);
    ASSERT_NE(stream_group_create(s, "a", 1, sid{0, 0}, 0, &exists), nullptr);
    EXPECT_EQ(std::string(s->g[0]->name->data), "a");  // sorted by name
    g = stream_group_find(s, "g", 1);
    s_consumer *alice = stream_consumer_create(g, "alice", 5, 1);
    s_consumer *bob = stream_consumer_create(g, "bob", 3, 1);
    for (uint64_t i = 1; i <= 20; i++) {
        sid id{i, 0};
        ASSERT_NE(stream_nack_add(g, &id, i % 2 ? alice : bob, 100, 1), nullptr);
    }
    EXPECT_EQ(alice->npel, 10u);
    sid five{5, 0};
    s_nack *n = stream_nack_find(g, &five);
    ASSERT_NE(n, nullptr);
    ASSERT_EQ(stream_nack_assign(g, n, bob), 0);
    EXPECT_EQ(alice->npel, 9u);
    EXPECT_EQ(bob->npel, 11u);
    stream_nack_remove(g, &five);
    EXPECT_EQ(bob->npel, 10u);
    EXPECT_EQ(stream_consumer_delete(g, alice), 9u);
    EXPECT_EQ(g->npel, 10u);
    const char *why = nullptr;
    EXPECT_EQ(stream_validate(s, &why), 0) << why;
    // A copy is deep and equal.
    rk_obj *copy = obj_dup(o);
    ASSERT_NE(copy, nullptr);
    stream *c = stream_of(copy);
    EXPECT_EQ(c->n, s->n);
    EXPECT_EQ(stream_group_find(c, "g", 1)->npel, 10u);
    EXPECT_EQ(stream_validate(c, &why), 0) << why;
    obj_free(copy);
}

TEST_F(StreamTest, RdbRoundTripAndCorruptionRefused) {
    for (uint64_t i = 1; i <= 333; i++)
        Add(s, 1000 + i, i, i % 5 ? std::vector<std::string>{"f", "v" + std::to_string(i)}
                                  : std::vector<std::string>{"other", std::string(300, 'y'), "n", "1"});
    s->max_deleted = sid{7, 7};
    int exists;
    s_group *g = stream_group_create(s, "grp", 3, sid{1100, 100}, 100, &exists);
    s_consumer *c = stream_consumer_create(g, "c1", 2, 12345);
    sid id{1010, 10};
    ASSERT_NE(stream_nack_add(g, &id, c, 777, 3), nullptr);
    stream_consumer_create(g, "idle", 4, 5);
    rk_buf out;
    rk_buf_init(&out);
    ASSERT_EQ(rdb_stream_write(&out, o, 0), 0);
    ASSERT_EQ((unsigned char)out.data[0], 19);  // RDB_TYPE_STREAM_LISTPACKS_2
    char err[256] = {0};
    size_t used = 0;
    rk_obj *back = rdb_stream_read(19, (const unsigned char *)out.data + 1, out.len - 1, &used, err, sizeof err);
    ASSERT_NE(back, nullptr) << err;
    EXPECT_EQ(used, out.len - 1);
    stream *b = stream_of(back);
    ASSERT_EQ(b->n, s->n);
    for (size_t i = 0; i < s->n; i++) {
        ASSERT_EQ(sid_cmp(&stream_at(b, i)->id, &stream_at(s, i)->id), 0);
        ASSERT_EQ(stream_at(b, i)->bytes, stream_at(s, i)->bytes);
    }
    EXPECT_EQ(sid_cmp(&b->max_deleted, &s->max_deleted), 0);
    EXPECT_EQ(b->entries_added, s->entries_added);
    s_group *bg = stream_group_find(b, "grp", 3);
    ASSERT_NE(bg, nullptr);
    EXPECT_EQ(bg->entries_read, 100);
    ASSERT_EQ(bg->npel, 1u);
    EXPECT_EQ(bg->pel[0].delivery_time, 777);
    EXPECT_EQ(bg->pel[0].delivery_count, 3u);
    EXPECT_EQ(bg->ncons, 2u);
    obj_free(back);
    // Every truncation is refused, never read past the end.
    for (size_t cut = 1; cut < out.len - 1; cut += 97) {
        rk_obj *t = rdb_stream_read(19, (const unsigned char *)out.data + 1, cut, &used, err, sizeof err);
        EXPECT_EQ(t, nullptr) << cut;
        if (t) obj_free(t);
    }
    rk_buf_free(&out);
}
