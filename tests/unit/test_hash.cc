// Unit tests for the hash type in core/t_hash.c: listpack <-> hashtable
// conversion at the thresholds, set/get/delete on both encodings,
// iteration, copies (obj_dup) and allocation failures leaving data intact.
#include <gtest/gtest.h>

#include <map>
#include <string>

extern "C" {
#include "core/alloc.h"
#include "core/listpack.h"
#include "core/object.h"
#include "core/t_hash.h"
}

namespace {

rk_slice S(const std::string &s) { return rk_slice{s.data(), s.size()}; }

std::map<std::string, std::string> contents(rk_obj *o)
{
    std::map<std::string, std::string> out;
    hash_iter it;
    rk_slice f, v;
    hash_iter_init(&it, o);
    while (hash_iter_next(&it, &f, &v))
        out[std::string(f.ptr, f.len)] = std::string(v.ptr, v.len);
    hash_iter_release(&it);
    return out;
}

std::string get(rk_obj *o, const std::string &field)
{
    char tmp[24];
    rk_slice v;
    int found = hash_get(o, S(field), &v, tmp);
    EXPECT_GE(found, 0);
    return found == 1 ? std::string(v.ptr, v.len) : std::string("<absent>");
}

class HashTest : public ::testing::Test {
protected:
    void SetUp() override
    {
        ASSERT_EQ(rk_alloc_thread_init(), 0);
        o_ = hash_new();
        ASSERT_NE(o_, nullptr);
    }
    void TearDown() override
    {
        rk_alloc_fail_after(-1);
        obj_free(o_);
    }
    int set(const std::string &f, const std::string &v) { return hash_set(o_, S(f), S(v), &lim_); }

    rk_obj *o_ = nullptr;
    hash_limits lim_ = {4, 8};
};

TEST_F(HashTest, StartsAsAnEmptyListpack)
{
    EXPECT_EQ(o_->type, OBJ_HASH);
    EXPECT_EQ(o_->encoding, ENC_LISTPACK);
    EXPECT_EQ(hash_length(o_), 0u);
    EXPECT_TRUE(contents(o_).empty());
}

TEST_F(HashTest, SetGetDeleteInListpack)
{
    EXPECT_EQ(set("a", "1"), 1);
    EXPECT_EQ(set("b", "x"), 1);
    EXPECT_EQ(set("a", "22"), 0);
    EXPECT_EQ(hash_length(o_), 2u);
    EXPECT_EQ(get(o_, "a"), "22");
    EXPECT_EQ(get(o_, "b"), "x");
    EXPECT_EQ(get(o_, "c"), "<absent>");
    EXPECT_EQ(hash_delete(o_, S("a")), 1);
    EXPECT_EQ(hash_delete(o_, S("a")), 0);
    EXPECT_EQ(get(o_, "a"), "<absent>");
    EXPECT_EQ(get(o_, "b"), "x");
    EXPECT_EQ(o_->encoding, ENC_LISTPACK);
}

TEST_F(HashTest, IntegerValuesReadBackAsTheirBytes)
{
    for (const char *v : {"0", "-1", "12", "007", "9223372036854775807", "-9223372036854775808",
                          "1.5", " 3"})
        set(std::string("f") + v, v);
    for (const char *v : {"0", "-1", "12", "007", "9223372036854775807", "-9223372036854775808",
                          "1.5", " 3"})
        EXPECT_EQ(get(o_, std::string("f") + v), v);
}

TEST_F(HashTest, ConvertsWhenEntriesExceedTheLimit)
{
    for (int i = 0; i < 4; i++)
        set("f" + std::to_string(i), "v");
    EXPECT_EQ(o_->encoding, ENC_LISTPACK);
    EXPECT_EQ(set("f0", "updated"), 0); // an update adds no entry
    EXPECT_EQ(o_->encoding, ENC_LISTPACK);
    EXPECT_EQ(set("f4", "v"), 1);
    EXPECT_EQ(o_->encoding, ENC_HT);
    auto c = contents(o_);
    EXPECT_EQ(c.size(), 5u);
    EXPECT_EQ(c["f0"], "updated");
    // One-way: shrinking back does not return to a listpack.
    for (int i = 0; i < 5; i++)
        EXPECT_EQ(hash_delete(o_, S("f" + std::to_string(i))), 1);
    EXPECT_EQ(hash_length(o_), 0u);
    EXPECT_EQ(o_->encoding, ENC_HT);
}

TEST_F(HashTest, ConvertsOnLongFieldOrValue)
{
    EXPECT_EQ(set("12345678", "12345678"), 1); // exactly the limit
    EXPECT_EQ(o_->encoding, ENC_LISTPACK);
    EXPECT_EQ(set("a", "123456789"), 1);
    EXPECT_EQ(o_->encoding, ENC_HT);
    EXPECT_EQ(get(o_, "a"), "123456789");
    EXPECT_EQ(get(o_, "12345678"), "12345678");

    rk_obj *o2 = hash_new();
    ASSERT_NE(o2, nullptr);
    EXPECT_EQ(hash_set(o2, S("123456789"), S("v"), &lim_), 1);
    EXPECT_EQ(o2->encoding, ENC_HT);
    obj_free(o2);
}

TEST_F(HashTest, ZeroEntriesLimitMeansAlwaysHashtable)
{
    hash_limits none = {0, 64};
    EXPECT_EQ(hash_set(o_, S("a"), S("1"), &none), 1);
    EXPECT_EQ(o_->encoding, ENC_HT);
}

TEST_F(HashTest, HashtableSetGetDeleteAndLongFields)
{
    ASSERT_EQ(hash_convert_to_ht(o_), 0);
    std::string long_field(500, 'f');
    EXPECT_EQ(set(long_field, "v1"), 1);
    EXPECT_EQ(set(long_field, "v2"), 0);
    EXPECT_EQ(get(o_, long_field), "v2");
    EXPECT_EQ(set(std::string("bin\0ary", 7), std::string("\0", 1)), 1);
    EXPECT_EQ(get(o_, std::string("bin\0ary", 7)), std::string("\0", 1));
    EXPECT_EQ(get(o_, "bin"), "<absent>");
    EXPECT_EQ(hash_delete(o_, S(long_field)), 1);
    EXPECT_EQ(hash_length(o_), 1u);
}

TEST_F(HashTest, ConversionKeepsEveryPair)
{
    hash_limits big = {1000, 64};
    std::map<std::string, std::string> want;
    for (int i = 0; i < 300; i++) {
        std::string f = "field:" + std::to_string(i), v = std::to_string(i * 7);
        want[f] = v;
        ASSERT_EQ(hash_set(o_, S(f), S(v), &big), 1);
    }
    EXPECT_EQ(o_->encoding, ENC_LISTPACK);
    EXPECT_EQ(contents(o_), want);
    ASSERT_EQ(hash_convert_to_ht(o_), 0);
    EXPECT_EQ(o_->encoding, ENC_HT);
    EXPECT_EQ(contents(o_), want);
}

TEST_F(HashTest, DupIsDeepForBothEncodings)
{
    set("a", "1");
    set("b", "2");
    for (int round = 0; round < 2; round++) {
        if (round == 1) {
            ASSERT_EQ(hash_convert_to_ht(o_), 0);
        }
        rk_obj *copy = obj_dup(o_);
        ASSERT_NE(copy, nullptr);
        EXPECT_EQ(copy->type, OBJ_HASH);
        EXPECT_EQ(copy->encoding, o_->encoding);
        EXPECT_EQ(contents(copy), contents(o_));
        EXPECT_EQ(hash_set(copy, S("c"), S("3"), &lim_), 1);
        EXPECT_EQ(get(o_, "c"), "<absent>");
        EXPECT_GT(obj_heap_size(copy), sizeof(rk_obj));
        obj_free(copy);
    }
}

TEST_F(HashTest, FailedAllocationsLeaveTheHashIntact)
{
    set("a", "1");
    set("b", "2");
    auto before = contents(o_);
    for (int n = 0; n < 8; n++) {
        rk_alloc_fail_after(n);
        int r = hash_set(o_, S("c"), S("3"), &lim_);
        rk_alloc_fail_after(-1);
        if (r < 0) {
            // The rollback of a half-appended pair must leave a valid listpack.
            auto *lp = static_cast<unsigned char *>(o_->u.ptr);
            EXPECT_TRUE(lp_validate(lp, lp_bytes(lp)));
            EXPECT_EQ(contents(o_), before) << "after " << n << " allocations";
        } else {
            EXPECT_EQ(r, 1);
            hash_delete(o_, S("c"));
        }
    }
    // A failed conversion keeps the listpack.
    rk_alloc_fail_after(1);
    EXPECT_EQ(hash_convert_to_ht(o_), -1);
    rk_alloc_fail_after(-1);
    EXPECT_EQ(o_->encoding, ENC_LISTPACK);
    EXPECT_EQ(contents(o_), before);
    // A set that needs a conversion which fails changes nothing either.
    rk_alloc_fail_after(0);
    EXPECT_EQ(set("long-value", "123456789"), -1);
    rk_alloc_fail_after(-1);
    EXPECT_EQ(o_->encoding, ENC_LISTPACK);
    EXPECT_EQ(contents(o_), before);
}

} // namespace
