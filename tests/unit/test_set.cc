// Unit tests for core/t_set.c: the set commands run directly against one
// database (no server), checking replies byte for byte, encodings and their
// conversions, the type ops (obj_dup/obj_free/obj_heap_size) and that a
// failed allocation leaves a set unchanged.
#include <gtest/gtest.h>

#include <cstring>
#include <set>
#include <string>
#include <vector>

extern "C" {
#include "core/alloc.h"
#include "core/command.h"
#include "core/db.h"
#include "core/object.h"
#include "core/shard.h"
}

namespace {

rk_slice S(const std::string &s) { return rk_slice{s.data(), s.size()}; }

class SetTest : public ::testing::Test {
protected:
    void SetUp() override
    {
        ASSERT_EQ(rk_alloc_thread_init(), 0);
        memset(static_cast<void *>(&shard_), 0, sizeof shard_);
        shard_.cfg.databases = 1;
        shard_.cfg.set_max_intset_entries = 512;
        ASSERT_EQ(db_init(&db_, 0), 0);
    }
    void TearDown() override
    {
        rk_alloc_fail_after(-1);
        db_release(&db_);
    }

    static const rk_command *find(const std::string &name)
    {
        for (const rk_command *c = rk_set_commands; c->name; c++)
            if (name == c->name)
                return c;
        return nullptr;
    }

    // Runs one command (argv[0] is its lower-case name) and returns the raw reply.
    std::string run(std::vector<std::string> argv, int resp = 2)
    {
        const rk_command *cmd = find(argv[0]);
        EXPECT_NE(cmd, nullptr) << argv[0];
        if (!cmd)
            return "";
        std::vector<rk_slice> args;
        for (const std::string &a : argv)
            args.push_back(S(a));
        rk_buf out;
        rk_buf_init(&out);
        rk_ctx c;
        memset(static_cast<void *>(&c), 0, sizeof c);
        c.shard = &shard_;
        c.db = &db_;
        c.resp = resp;
        c.argc = static_cast<int>(args.size());
        c.argv = args.data();
        c.cmd = cmd;
        c.r = rk_reply{&out, resp};
        c.now_ms = rk_mstime();
        cmd->proc(&c);
        std::string reply(out.data ? out.data : "", out.len);
        rk_buf_free(&out);
        return reply;
    }

    rk_obj *get(const std::string &key) { return db_lookup(&shard_, &db_, S(key), LOOKUP_NOTOUCH); }

    std::string encoding(const std::string &key)
    {
        rk_obj *o = get(key);
        return o ? obj_encoding_name(o->encoding) : "none";
    }

    // The members of a RESP2 array reply of bulk strings.
    static std::multiset<std::string> bulks(const std::string &reply)
    {
        std::multiset<std::string> out;
        size_t pos = reply.find("\r\n") + 2;
        while (pos < reply.size()) {
            EXPECT_EQ(reply[pos], '$');
            size_t eol = reply.find("\r\n", pos);
            size_t len = std::stoul(reply.substr(pos + 1, eol - pos - 1));
            out.insert(reply.substr(eol + 2, len));
            pos = eol + 2 + len + 2;
        }
        return out;
    }

    rk_shard shard_;
    rk_db db_;
};

TEST_F(SetTest, AddRemoveAndReplies)
{
    EXPECT_EQ(run({"sadd", "s", "b", "a", "b"}), ":2\r\n");
    EXPECT_EQ(run({"scard", "s"}), ":2\r\n");
    EXPECT_EQ(run({"sismember", "s", "a"}), ":1\r\n");
    EXPECT_EQ(run({"smismember", "s", "a", "zz"}), "*2\r\n:1\r\n:0\r\n");
    EXPECT_EQ(run({"srem", "s", "a", "a", "q"}), ":1\r\n");
    EXPECT_EQ(run({"smembers", "s"}), "*1\r\n$1\r\nb\r\n");
    EXPECT_EQ(run({"smembers", "s"}, 3), "~1\r\n$1\r\nb\r\n");
    EXPECT_EQ(run({"srem", "s", "b"}), ":1\r\n");
    EXPECT_EQ(get("s"), nullptr);
    EXPECT_EQ(run({"smembers", "s"}, 3), "~0\r\n");
    EXPECT_EQ(run({"spop", "s"}, 3), "_\r\n");
    EXPECT_EQ(run({"spop", "s"}), "$-1\r\n");
}

TEST_F(SetTest, IntsetOrderAndConversion)
{
    shard_.cfg.set_max_intset_entries = 3;
    EXPECT_EQ(run({"sadd", "i", "30", "4294967295", "0"}), ":3\r\n");
    EXPECT_EQ(encoding("i"), "intset");
    EXPECT_EQ(run({"smembers", "i"}), "*3\r\n$1\r\n0\r\n$2\r\n30\r\n$10\r\n4294967295\r\n");
    EXPECT_EQ(run({"sadd", "i", "7"}), ":1\r\n");
    EXPECT_EQ(encoding("i"), "hashtable");
    EXPECT_EQ(bulks(run({"smembers", "i"})), (std::multiset<std::string>{"0", "7", "30", "4294967295"}));

    for (const char *outside : {"-1", "4294967296", "01", "x"}) {
        run({"sadd", "j", "1"});
        ASSERT_EQ(encoding("j"), "intset");
        run({"sadd", "j", outside});
        EXPECT_EQ(encoding("j"), "hashtable") << outside;
        EXPECT_EQ(run({"sismember", "j", outside}), ":1\r\n");
        EXPECT_EQ(run({"sismember", "j", "1"}), ":1\r\n");
        EXPECT_EQ(db_delete(&shard_, &db_, S("j")), 1);
    }
    // A new set starts in the encoding of its first member.
    run({"sadd", "h", "x", "1"});
    EXPECT_EQ(encoding("h"), "hashtable");
}

TEST_F(SetTest, DupIsDeepAndFreeIsComplete)
{
    run({"sadd", "i", "1", "2", "3"});
    run({"sadd", "h", "a", "b", "1"});
    for (const char *key : {"i", "h"}) {
        rk_obj *orig = get(key);
        ASSERT_NE(orig, nullptr);
        rk_obj *copy = obj_dup(orig);
        ASSERT_NE(copy, nullptr);
        EXPECT_EQ(copy->type, OBJ_SET);
        EXPECT_EQ(copy->encoding, orig->encoding);
        EXPECT_NE(copy->u.ptr, orig->u.ptr);
        EXPECT_GT(obj_heap_size(copy), sizeof(rk_obj));
        ASSERT_EQ(db_add(&shard_, &db_, S(std::string(key) + "2"), copy), 0);
        run({"sadd", std::string(key) + "2", "extra"});
        EXPECT_EQ(run({"sismember", key, "extra"}), ":0\r\n");
        EXPECT_EQ(run({"scard", key}), ":3\r\n");
        EXPECT_EQ(run({"scard", std::string(key) + "2"}), ":4\r\n");
    }
}

TEST_F(SetTest, AllocationFailureLeavesSetIntact)
{
    run({"sadd", "i", "1", "2"});
    run({"sadd", "h", "a"});
    rk_alloc_fail_after(0);
    EXPECT_EQ(run({"sadd", "i", "x"}), "-ERR out of memory\r\n");
    EXPECT_EQ(run({"sadd", "h", "b"}), "-ERR out of memory\r\n");
    EXPECT_EQ(run({"sadd", "new", "x"}), "-ERR out of memory\r\n");
    rk_alloc_fail_after(-1);
    EXPECT_EQ(encoding("i"), "intset");
    EXPECT_EQ(run({"smembers", "i"}), "*2\r\n$1\r\n1\r\n$1\r\n2\r\n");
    EXPECT_EQ(run({"smembers", "h"}), "*1\r\n$1\r\na\r\n");
    EXPECT_EQ(get("new"), nullptr);
}

TEST_F(SetTest, SpopAndSrandmemberCounts)
{
    std::multiset<std::string> all;
    std::vector<std::string> sadd = {"sadd", "s"};
    for (int i = 0; i < 100; i++) {
        sadd.push_back("m" + std::to_string(i));
        all.insert(sadd.back());
    }
    run(sadd);
    for (const char *count : {"1", "10", "40", "99"}) {
        auto got = bulks(run({"srandmember", "s", count}));
        EXPECT_EQ(got.size(), std::stoul(count));
        EXPECT_EQ(std::set<std::string>(got.begin(), got.end()).size(), got.size());
        for (const std::string &m : got)
            EXPECT_EQ(all.count(m), 1u);
    }
    EXPECT_EQ(bulks(run({"srandmember", "s", "-300"})).size(), 300u);
    auto popped = bulks(run({"spop", "s", "30"}));
    EXPECT_EQ(popped.size(), 30u);
    EXPECT_EQ(std::set<std::string>(popped.begin(), popped.end()).size(), 30u);
    EXPECT_EQ(run({"scard", "s"}), ":70\r\n");
    auto rest = bulks(run({"spop", "s", "1000"}));
    EXPECT_EQ(rest.size(), 70u);
    EXPECT_EQ(get("s"), nullptr);
    for (const std::string &m : popped)
        EXPECT_EQ(rest.count(m), 0u);
}

TEST_F(SetTest, AlgebraMixedEncodings)
{
    shard_.cfg.set_max_intset_entries = 4;
    run({"sadd", "a", "1", "2", "3", "4"});
    run({"sadd", "b", "3", "4", "x"});
    EXPECT_EQ(bulks(run({"sinter", "a", "b"})), (std::multiset<std::string>{"3", "4"}));
    EXPECT_EQ(run({"sinterstore", "d", "b", "a"}), ":2\r\n");
    EXPECT_EQ(encoding("d"), "intset");
    EXPECT_EQ(run({"sunionstore", "d", "a", "b"}), ":5\r\n");
    EXPECT_EQ(encoding("d"), "hashtable");
    EXPECT_EQ(run({"sdiffstore", "d", "a", "b"}), ":2\r\n");
    EXPECT_EQ(run({"smembers", "d"}), "*2\r\n$1\r\n1\r\n$1\r\n2\r\n");
    EXPECT_EQ(run({"sdiffstore", "d", "a", "a"}), ":0\r\n");
    EXPECT_EQ(get("d"), nullptr);
    EXPECT_EQ(run({"sintercard", "2", "a", "b", "LIMIT", "1"}), ":1\r\n");
    EXPECT_EQ(run({"sintercard", "2", "a", "b"}), ":2\r\n");
    EXPECT_EQ(run({"sintercard", "3", "a", "b"}), "-ERR Number of keys can't be greater than number of args\r\n");
}

TEST_F(SetTest, SmoveBetweenEncodings)
{
    run({"sadd", "src", "5", "y"});
    EXPECT_EQ(run({"smove", "src", "dst", "5"}), ":1\r\n");
    EXPECT_EQ(encoding("dst"), "intset");
    EXPECT_EQ(run({"smove", "src", "dst", "y"}), ":1\r\n");
    EXPECT_EQ(get("src"), nullptr);
    EXPECT_EQ(encoding("dst"), "hashtable");
    EXPECT_EQ(run({"smove", "src", "dst", "y"}), ":0\r\n");
}

TEST_F(SetTest, SscanHashtableVisitsEveryMember)
{
    std::vector<std::string> sadd = {"sadd", "s"};
    for (int i = 0; i < 500; i++)
        sadd.push_back("k" + std::to_string(i));
    run(sadd);
    std::set<std::string> seen;
    std::string cursor = "0";
    int calls = 0;
    do {
        std::string reply = run({"sscan", "s", cursor, "COUNT", "7"});
        // *2 $n cursor *m ...
        size_t eol = reply.find("\r\n", 4);
        size_t len = std::stoul(reply.substr(5, eol - 5));
        cursor = reply.substr(eol + 2, len);
        for (const std::string &m : bulks(reply.substr(eol + 2 + len + 2)))
            seen.insert(m);
        calls++;
    } while (cursor != "0" && calls < 10000);
    EXPECT_EQ(seen.size(), 500u);
    EXPECT_GT(calls, 1);
}

}  // namespace
