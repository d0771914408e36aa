// Unit tests for storage/aof_export.c: every type and encoding exported as
// Redis 7.0's rewrite commands (SET, RPUSH, SADD, ZADD, HMSET in batches of
// 64, PEXPIREAT, SELECT per database), read back with the AOF reader and
// rebuilt into values equal to the originals; the buffer is drained at the
// flush threshold.
#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <string>
#include <vector>

extern "C" {
#include "core/alloc.h"
#include "core/object.h"
#include "core/quicklist.h"
#include "core/t_hash.h"
#include "core/t_list.h"
#include "core/t_set.h"
#include "core/t_zset.h"
#include "core/zskiplist.h"
#include "storage/aof_export.h"
#include "storage/aof_file.h"
#include "storage/rdb_value.h"
}

namespace {

rk_slice S(const std::string &s) { return rk_slice{s.data(), s.size()}; }
#include "rdb_test_values.h"

typedef std::vector<std::string> Cmd;

std::vector<Cmd> read_all(const std::string &data)
{
    aof_reader r;
    aof_reader_init(&r, reinterpret_cast<const unsigned char *>(data.data()), data.size(), 0);
    std::vector<Cmd> out;
    int rc;
    while ((rc = aof_reader_next(&r)) == AOF_NEXT_CMD) {
        Cmd c;
        for (int i = 0; i < r.cmd.argc; i++)
            c.emplace_back(r.cmd.argv[i], r.cmd.argvlen[i]);
        out.push_back(c);
    }
    EXPECT_EQ(rc, AOF_NEXT_END);
    aof_reader_release(&r);
    return out;
}

std::string export_one(rk_obj *o, long long expire_ms = -1, int db = 0)
{
    rk_buf b;
    rk_buf_init(&b);
    aof_exporter x;
    aof_export_init(&x, &b, nullptr, nullptr);
    EXPECT_EQ(aof_export_key(&x, db, "key", 3, o, expire_ms), 0);
    std::string s(b.data, b.len);
    rk_buf_free(&b);
    return s;
}

// Rebuilds the value from the commands (the way a loader applies them) and
// checks the batching: every command carries at most 64 items, and only the
// last may carry fewer.
rk_obj *rebuild(const std::vector<Cmd> &cmds, size_t first, const std::string &name, size_t per)
{
    rk_obj *o = nullptr;
    hash_limits lim = {128, 64};
    for (size_t i = first; i < cmds.size(); i++) {
        const Cmd &c = cmds[i];
        if (c[0] == "PEXPIREAT")
            continue;
        EXPECT_EQ(c[0], name);
        EXPECT_EQ(c[1], "key");
        size_t items = (c.size() - 2) / per;
        EXPECT_EQ((c.size() - 2) % per, 0u);
        EXPECT_LE(items, 64u);
        if (i + 1 < cmds.size() && cmds[i + 1][0] == name) {
            EXPECT_EQ(items, 64u);
        }
        if (name == "SET") {
            o = obj_new_string(c[2].data(), c[2].size());
        } else if (name == "RPUSH") {
            if (!o)
                o = make_list({}, -2);
            for (size_t j = 2; j < c.size(); j++)
                EXPECT_EQ(ql_push(static_cast<quicklist *>(o->u.ptr), c[j].data(), c[j].size(), QL_TAIL), 0);
        } else if (name == "SADD") {
            if (!o)
                o = set_create_empty(0);
            for (size_t j = 2; j < c.size(); j++)
                EXPECT_EQ(set_add_member(o, c[j].data(), c[j].size(), 512), 1);
        } else if (name == "ZADD") {
            if (!o)
                o = zset_create(ENC_SKIPLIST);
            for (size_t j = 2; j < c.size(); j += 2)
                EXPECT_EQ(zset_add_new(o, c[j + 1].data(), c[j + 1].size(), strtod(c[j].c_str(), nullptr)), 1);
        } else if (name == "HMSET") {
            if (!o)
                o = hash_new();
            for (size_t j = 2; j < c.size(); j += 2)
                EXPECT_EQ(hash_set(o, S(c[j]), S(c[j + 1]), &lim), 1);
        }
    }
    return o;
}

void round_trip(rk_obj *o, const std::string &name, size_t per, size_t expect_cmds)
{
    std::vector<Cmd> cmds = read_all(export_one(o));
    ASSERT_GE(cmds.size(), 2u);
    EXPECT_EQ(cmds[0], (Cmd{"SELECT", "0"}));
    EXPECT_EQ(cmds.size() - 1, expect_cmds);
    rk_obj *back = rebuild(cmds, 1, name, per);
    ASSERT_NE(back, nullptr);
    EXPECT_EQ(describe(back), describe(o));
    obj_free(back);
    obj_free(o);
}

std::vector<std::string> items(int n, const std::string &prefix)
{
    std::vector<std::string> v;
    for (int i = 0; i < n; i++)
        v.push_back(prefix + std::to_string(i));
    return v;
}

class AofExportTest : public ::testing::Test {
protected:
    void SetUp() override { ASSERT_EQ(rk_alloc_thread_init(), 0); }
};

TEST_F(AofExportTest, Strings)
{
    rk_obj *i = obj_new_string("12345", 5);
    ASSERT_EQ(i->encoding, ENC_INT);
    round_trip(i, "SET", 1, 1);
    round_trip(obj_new_string("hello", 5), "SET", 1, 1);
    std::string big(1000, 'x');
    rk_obj *raw = obj_new_raw(big.data(), big.size());
    ASSERT_EQ(raw->encoding, ENC_RAW);
    round_trip(raw, "SET", 1, 1);
    std::string bin("a\0\r\nb", 5);
    round_trip(obj_new_string(bin.data(), bin.size()), "SET", 1, 1);
}

TEST_F(AofExportTest, ExactBytesOfASmallList)
{
    rk_obj *o = make_list({"a", "1", "b"}, -2);
    EXPECT_EQ(export_one(o, 1700000000123LL),
              "*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n"
              "*5\r\n$5\r\nRPUSH\r\n$3\r\nkey\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n"
              "*3\r\n$9\r\nPEXPIREAT\r\n$3\r\nkey\r\n$13\r\n1700000000123\r\n");
    obj_free(o);
}

TEST_F(AofExportTest, ListsInBatchesOf64)
{
    round_trip(make_list(items(3, "e"), -2), "RPUSH", 1, 1);
    round_trip(make_list(items(64, "e"), -2), "RPUSH", 1, 1);
    round_trip(make_list(items(65, "e"), -2), "RPUSH", 1, 2);
    round_trip(make_list(items(1000, "element-"), 4), "RPUSH", 1, 16); // many small nodes
}

TEST_F(AofExportTest, SetsBothEncodings)
{
    rk_obj *ints = make_set({"1", "2", "70000"});
    ASSERT_EQ(ints->encoding, ENC_INTSET);
    round_trip(ints, "SADD", 1, 1);
    round_trip(make_set(items(300, "")), "SADD", 1, 5); // intset of 300 members
    rk_obj *ht = make_set(items(130, "m"));
    ASSERT_EQ(ht->encoding, ENC_HT);
    round_trip(ht, "SADD", 1, 3);
}

TEST_F(AofExportTest, SortedSetsBothEncodings)
{
    rk_obj *lp = make_zset(10, false);
    ASSERT_EQ(lp->encoding, ENC_LISTPACK);
    round_trip(lp, "ZADD", 2, 1);
    rk_obj *sl = make_zset(200, true);
    ASSERT_EQ(sl->encoding, ENC_SKIPLIST);
    round_trip(sl, "ZADD", 2, 4);
    // Scores as Redis 7.0 writes them: "%.17g", integers in a listpack too.
    rk_obj *z = zset_create(ENC_SKIPLIST);
    ASSERT_EQ(zset_add_new(z, "a", 1, 0.1), 1);
    ASSERT_EQ(zset_add_new(z, "b", 1, 3), 1);
    ASSERT_EQ(zset_convert(z, ENC_LISTPACK), 0);
    std::vector<Cmd> cmds = read_all(export_one(z));
    EXPECT_EQ(cmds[1], (Cmd{"ZADD", "key", "0.10000000000000001", "a", "3", "b"}));
    obj_free(z);
}

TEST_F(AofExportTest, HashesBothEncodingsAsHmset)
{
    rk_obj *lp = make_hash(5);
    ASSERT_EQ(lp->encoding, ENC_LISTPACK);
    round_trip(lp, "HMSET", 2, 1);
    rk_obj *ht = make_hash(300);
    ASSERT_EQ(ht->encoding, ENC_HT);
    round_trip(ht, "HMSET", 2, 5);
}

TEST_F(AofExportTest, SelectOnlyWhenTheDatabaseChanges)
{
    rk_buf b;
    rk_buf_init(&b);
    aof_exporter x;
    aof_export_init(&x, &b, nullptr, nullptr);
    rk_obj *v = obj_new_string("v", 1);
    ASSERT_EQ(aof_export_key(&x, 0, "a", 1, v, -1), 0);
    ASSERT_EQ(aof_export_key(&x, 0, "b", 1, v, -1), 0);
    ASSERT_EQ(aof_export_key(&x, 3, "c", 1, v, 5), 0);
    aof_export_reset_db(&x);
    ASSERT_EQ(aof_export_key(&x, 3, "d", 1, v, -1), 0);
    obj_free(v);
    std::vector<Cmd> cmds = read_all(std::string(b.data, b.len));
    std::vector<std::string> names;
    for (const auto &c : cmds)
        names.push_back(c[0] + (c[0] == "SELECT" ? c[1] : ""));
    EXPECT_EQ(names, (std::vector<std::string>{"SELECT0", "SET", "SET", "SELECT3", "SET", "PEXPIREAT", "SELECT3", "SET"}));
    EXPECT_EQ(x.keys, 4u);
    rk_buf_free(&b);
}

struct Sink {
    std::string data;
    size_t flushes = 0, max_len = 0;
};

int sink_flush(void *ud, rk_buf *out)
{
    Sink *s = static_cast<Sink *>(ud);
    s->data.append(out->data, out->len);
    s->flushes++;
    if (out->len > s->max_len)
        s->max_len = out->len;
    rk_buf_clear(out);
    return 0;
}

int failing_flush(void *, rk_buf *) { return -1; }

TEST_F(AofExportTest, BufferIsDrainedAtTheThreshold)
{
    rk_obj *big = make_list(items(20000, std::string(40, 'x')), -2);
    Sink s;
    rk_buf b;
    rk_buf_init(&b);
    aof_exporter x;
    aof_export_init(&x, &b, sink_flush, &s);
    ASSERT_EQ(aof_export_key(&x, 0, "key", 3, big, -1), 0);
    ASSERT_EQ(aof_export_flush(&x), 0);
    EXPECT_EQ(b.len, 0u);
    EXPECT_GT(s.flushes, 10u);
    EXPECT_LT(s.max_len, AOF_EXPORT_FLUSH_AT + 64 * 64);
    std::vector<Cmd> cmds = read_all(s.data);
    rk_obj *back = rebuild(cmds, 1, "RPUSH", 1);
    EXPECT_EQ(describe(back), describe(big));
    obj_free(back);
    // A failing sink stops the export.
    aof_export_init(&x, &b, failing_flush, nullptr);
    EXPECT_EQ(aof_export_key(&x, 0, "key", 3, big, -1), -1);
    rk_buf_free(&b);
    obj_free(big);
}

} // namespace
