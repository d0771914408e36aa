// Unit tests for what the parallel RDB loader's loading thread runs:
// rdb_value_skip_body / rdb_string_view against rdb_value's decoder on every
// type and encoding (the ones Redis 7.0 writes and the legacy ones), the
// structural walker (rdb_walker_*) against the whole-file reader, and the
// slice-by-8 CRC-64 against the byte-at-a-time definition.
#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <string>
#include <utility>
#include <vector>

extern "C" {
#include "core/alloc.h"
#include "core/listpack.h"
#include "core/object.h"
#include "core/quicklist.h"
#include "core/t_hash.h"
#include "core/t_list.h"
#include "core/t_set.h"
#include "core/t_zset.h"
#include "core/zskiplist.h"
#include "storage/crc64.h"
#include "storage/rdb_file.h"
#include "storage/rdb_value.h"
}

namespace {

#define LIT(s) std::string(s, sizeof(s) - 1)

rk_slice S(const std::string &s) { return rk_slice{s.data(), s.size()}; }
#include "rdb_test_values.h"

const unsigned char *U(const std::string &s) { return reinterpret_cast<const unsigned char *>(s.data()); }

class RdbLoadTest : public ::testing::Test {
protected:
    void SetUp() override { ASSERT_EQ(rk_alloc_thread_init(), 0); }
};

// A value as stored: its type byte, then its body.
struct Value {
    std::string name;
    std::string bytes;
};

// Legacy ziplists, built by hand: zlbytes, zltail, zllen, entries, 0xFF.
std::string ziplist(const std::vector<std::string> &entries, unsigned tail, unsigned count)
{
    std::string body;
    for (const auto &e : entries)
        body += e;
    size_t size = 10 + body.size() + 1;
    std::string z;
    for (int i = 0; i < 4; i++)
        z.push_back(static_cast<char>(size >> (8 * i)));
    for (int i = 0; i < 4; i++)
        z.push_back(static_cast<char>(tail >> (8 * i)));
    z.push_back(static_cast<char>(count));
    z.push_back(0);
    return z + body + "\xff";
}

std::string as_string(const std::string &blob)
{
    rk_buf b;
    rk_buf_init(&b);
    EXPECT_EQ(rdb_write_string(&b, blob.data(), blob.size(), 0), 0);
    std::string s(b.data, b.len);
    rk_buf_free(&b);
    return s;
}

// Every type and encoding the decoder accepts.
std::vector<Value> every_encoding()
{
    std::vector<Value> out;
    auto add = [&](const std::string &name, rk_obj *o) {
        for (int compress = 0; compress <= 1; compress++)
            out.push_back({name + (compress ? " lzf" : ""), write_value(o, compress)});
        obj_free(o);
    };
    add("int string", obj_new_string("-12345", 6));
    add("big int string", obj_new_string("12345678901", 11));
    add("short string", obj_new_string("hello", 5));
    add("long string", obj_new_string(std::string(500, 'a').data(), 500));
    add("empty string", obj_new_string("", 0));
    std::vector<std::string> big_list;
    for (int i = 0; i < 1000; i++)
        big_list.push_back("element-" + std::to_string(i));
    add("small list", make_list({"a", "1", "-300", ""}, -2));
    add("big list", make_list(big_list, -2));
    add("listpack hash", make_hash(10));
    add("hashtable hash", make_hash(300));
    add("intset", make_set({"3", "1", "70000"}));
    add("hashtable set", make_set({"x", "y", std::string(300, 'w')}));
    add("listpack zset", make_zset(20, false));
    add("skiplist zset", make_zset(300, true));

    // The encodings Redis 2.x..7.2 wrote that we only read.
    out.push_back({"LIST", LIT("\x01\x03\x01" "a\x01" "b\xc0\x07")});
    out.push_back({"ZSET ascii scores", LIT("\x03\x03\x01" "a\x03" "1.5\x01" "b\xfe\x01" "c\xff")});
    std::string zl_list = ziplist({LIT("\x00\x01" "a"), LIT("\x03\xf6")}, 13, 2);
    out.push_back({"LIST_ZIPLIST", "\x0a" + as_string(zl_list)});
    out.push_back({"LIST_QUICKLIST", "\x0e\x02" + as_string(zl_list) + as_string(zl_list)});
    out.push_back({"ZSET_ZIPLIST", "\x0c" + as_string(ziplist({LIT("\x00\x01" "a"), LIT("\x03\x03" "1.5")}, 13, 2))});
    out.push_back({"HASH_ZIPLIST", "\x0d" + as_string(ziplist({LIT("\x00\x01" "f"), LIT("\x03\x01" "v")}, 13, 2))});
    out.push_back({"HASH_ZIPMAP", "\x09" + as_string(LIT("\x01\x01" "f\x01\x00" "v\xff"))});
    unsigned char *lp = lp_new(0);
    lp = lp_append(lp, reinterpret_cast<const unsigned char *>("x"), 1);
    lp = lp_append(lp, reinterpret_cast<const unsigned char *>("42"), 2);
    out.push_back({"SET_LISTPACK", "\x14" + as_string(std::string(reinterpret_cast<char *>(lp), lp_bytes(lp)))});
    rk_free(lp);
    // A quicklist-2 with a plain node (container 1) beside a packed one.
    rk_obj *one = make_list({"p"}, -2);
    std::string ql2 = write_value(one, 0); // type, count 1, container 2, listpack
    obj_free(one);
    out.push_back({"LIST_QUICKLIST_2 plain node",
                   "\x12\x02\x01" + as_string(std::string(5000, 'P')) + ql2.substr(2)});
    return out;
}

size_t decoded_size(const Value &v, std::string *why)
{
    char err[160];
    size_t used = 0;
    int type = static_cast<unsigned char>(v.bytes[0]);
    rk_obj *o = rdb_value_read_body(type, U(v.bytes) + 1, v.bytes.size() - 1, &used, RDB_VERSION, nullptr, err,
                                    sizeof err);
    if (!o) {
        *why = err;
        return SIZE_MAX;
    }
    obj_free(o);
    return used;
}

TEST_F(RdbLoadTest, SkipMeasuresWhatTheDecoderReads)
{
    for (const auto &v : every_encoding()) {
        std::string why;
        size_t dec = decoded_size(v, &why);
        ASSERT_NE(dec, SIZE_MAX) << v.name << ": " << why;
        EXPECT_EQ(dec, v.bytes.size() - 1) << v.name;
        int type = static_cast<unsigned char>(v.bytes[0]);
        // Followed by other bytes, as in a file: the skip stops at the value's end.
        std::string in = v.bytes.substr(1) + "trailing bytes";
        char err[160];
        size_t used = 0;
        ASSERT_EQ(rdb_value_skip_body(type, U(in), in.size(), &used, err, sizeof err), 0) << v.name << ": " << err;
        EXPECT_EQ(used, dec) << v.name;
    }
}

TEST_F(RdbLoadTest, SkipRefusesEveryTruncation)
{
    for (const auto &v : every_encoding()) {
        int type = static_cast<unsigned char>(v.bytes[0]);
        std::string body = v.bytes.substr(1);
        for (size_t n = 0; n < body.size(); n++) {
            // A copy of exactly n bytes, so reading past it would be caught by ASan.
            std::vector<unsigned char> cut(body.begin(), body.begin() + static_cast<long>(n));
            char err[160];
            size_t used = SIZE_MAX;
            EXPECT_EQ(rdb_value_skip_body(type, cut.data(), n, &used, err, sizeof err), -1)
                << v.name << " cut at " << n;
            EXPECT_LE(used, n) << v.name;
            EXPECT_NE(err[0], '\0') << v.name;
        }
    }
}

TEST_F(RdbLoadTest, SkipRefusesImpossibleLengthsAndUnknownTypes)
{
    char err[160];
    size_t used;
    struct Case {
        int type;
        std::string body;
        const char *why;
    } cases[] = {
        {RDB_TYPE_STRING, LIT("\x80\x7f\xff\xff\xff"), "truncated string"},
        {RDB_TYPE_STRING, LIT("\x81\xff\xff\xff\xff\xff\xff\xff\xff"), "truncated string"},
        {RDB_TYPE_STRING, LIT("\x82"), "unknown length encoding"},
        {RDB_TYPE_STRING, LIT("\xc4"), "unknown string encoding 4"},
        {RDB_TYPE_STRING, LIT("\xc3\x05\x00xxxxx"), "bad compressed string lengths"},
        {RDB_TYPE_SET, LIT("\x80\x10\x00\x00\x00\x01a"), "count 268435456 exceeds the input"},
        {RDB_TYPE_ZSET_2, LIT("\x01\x01m\x00\x00"), "truncated score"},
        {RDB_TYPE_STREAM_LISTPACKS, LIT("\x00"), "truncated"},
        {RDB_TYPE_MODULE_2, LIT("\x00"), "unsupported value type 7"},
        {99, LIT("\x00"), "unsupported value type 99"},
    };
    for (const auto &c : cases) {
        EXPECT_EQ(rdb_value_skip_body(c.type, U(c.body), c.body.size(), &used, err, sizeof err), -1) << c.why;
        EXPECT_NE(std::string(err).find(c.why), std::string::npos) << err << " vs " << c.why;
    }
}

TEST_F(RdbLoadTest, StringViewPointsIntoTheInputOnlyForPlainStrings)
{
    char err[160];
    size_t used = 0, len = 0;
    const unsigned char *data = nullptr;
    std::string plain = LIT("\x05hello!");
    EXPECT_EQ(rdb_string_view(U(plain), plain.size(), &used, &data, &len, err, sizeof err), 1);
    EXPECT_EQ(used, 6u);
    EXPECT_EQ(data, U(plain) + 1);
    EXPECT_EQ(std::string(reinterpret_cast<const char *>(data), len), "hello");
    std::string integer = LIT("\xc1\x39\x30rest");
    EXPECT_EQ(rdb_string_view(U(integer), integer.size(), &used, &data, &len, err, sizeof err), 0);
    EXPECT_EQ(used, 3u);
    rk_obj *z = obj_new_string(std::string(100, 'z').data(), 100);
    std::string lzf = write_value(z, 1);
    obj_free(z);
    ASSERT_EQ(static_cast<unsigned char>(lzf[1]), 0xc3u); // LZF encoded
    EXPECT_EQ(rdb_string_view(U(lzf) + 1, lzf.size() - 1, &used, &data, &len, err, sizeof err), 0);
    EXPECT_EQ(used, lzf.size() - 1);
    std::string cut = LIT("\x05hel");
    EXPECT_EQ(rdb_string_view(U(cut), cut.size(), &used, &data, &len, err, sizeof err), -1);
    EXPECT_STREQ(err, "truncated string");
}

// ---- the walker ----------------------------------------------------------

struct Entry {
    int db;
    std::string key;
    rk_obj *val;
    long long expire_ms;
};

std::string file_of(const std::vector<Entry> &ds, int checksum = 1)
{
    rk_buf out;
    rk_buf_init(&out);
    rdb_writer w;
    rdb_writer_init_buf(&w, &out, checksum, 1);
    rdb_aux_info aux = {};
    aux.ctime = 1700000000;
    aux.used_mem = 4242;
    EXPECT_EQ(rdb_writer_header(&w, &aux), 0);
    int db = -1;
    for (const auto &e : ds) {
        if (e.db != db) {
            EXPECT_EQ(rdb_writer_select_db(&w, e.db, 1, 0), 0);
            db = e.db;
        }
        EXPECT_EQ(rdb_writer_key(&w, e.key.data(), e.key.size(), e.val, e.expire_ms), 0);
    }
    EXPECT_EQ(rdb_writer_finish(&w), 0);
    rdb_writer_release(&w);
    std::string s(out.data, out.len);
    rk_buf_free(&out);
    return s;
}

std::vector<Entry> walk_dataset()
{
    return {
        {0, "plain", obj_new_string("v", 1), -1},
        {0, "12345", make_hash(3), 1893456000123LL},                       // integer-encoded key
        {0, std::string(300, 'K'), make_list({"a", "b"}, -2), -1},         // LZF-compressed key
        {3, "z", make_zset(200, true), 99},
        {3, "s", make_set({"1", "2"}), -1},
        {15, "", obj_new_string(std::string(70000, 'x').data(), 70000), -1}, // empty key
    };
}

TEST_F(RdbLoadTest, WalkerYieldsEveryItemWithDecodableRanges)
{
    auto ds = walk_dataset();
    std::string file = file_of(ds);
    rdb_walker w;
    char err[256];
    ASSERT_EQ(rdb_walker_init(&w, U(file), file.size(), err, sizeof err), 0) << err;
    EXPECT_EQ(w.rdbver, 10);
    rdb_item it;
    std::vector<std::string> aux;
    std::vector<int> selected;
    size_t keys = 0;
    int rc;
    size_t last_end = 9;
    while ((rc = rdb_walker_next(&w, &it)) > 0) {
        EXPECT_GE(it.offset, last_end); // items come in file order
        if (it.kind == RDB_ITEM_AUX) {
            aux.push_back(std::string(it.aux_name) + "=" + std::string(it.aux_val, it.aux_vlen));
        } else if (it.kind == RDB_ITEM_SELECTDB) {
            selected.push_back(it.dbid);
        } else if (it.kind == RDB_ITEM_KEY) {
            ASSERT_LT(keys, ds.size());
            const Entry &e = ds[keys++];
            EXPECT_EQ(it.dbid, e.db);
            EXPECT_EQ(std::string(it.key, it.klen), e.key);
            EXPECT_EQ(it.expire_ms, e.expire_ms);
            EXPECT_EQ(it.key_off, it.offset + 1);
            EXPECT_EQ(static_cast<unsigned char>(file[it.offset]), it.type);
            bool plain = e.key != "12345" && e.key.size() != 300;
            EXPECT_EQ(it.key_in_file, plain ? 1 : 0) << e.key;
            if (plain) {
                EXPECT_GE(it.key, file.data());
                EXPECT_LE(it.key + it.klen, file.data() + file.size());
            }
            // The measured range decodes to the value written, exactly.
            size_t used = 0;
            rk_obj *o = rdb_value_read_body(it.type, U(file) + it.val_off, it.val_len, &used, RDB_VERSION, nullptr,
                                            err, sizeof err);
            ASSERT_NE(o, nullptr) << err;
            EXPECT_EQ(used, it.val_len);
            EXPECT_EQ(describe(o), describe(e.val));
            obj_free(o);
            last_end = it.val_off + it.val_len;
        } else if (it.kind == RDB_ITEM_EOF) {
            EXPECT_EQ(it.offset, file.size() - 9);
            EXPECT_EQ(it.checksum_stored, 1);
            EXPECT_EQ(it.checksum, rk_crc64(0, file.data(), it.offset + 1));
        }
    }
    EXPECT_EQ(rc, 0);
    EXPECT_EQ(rdb_walker_next(&w, &it), 0); // stays done
    EXPECT_EQ(keys, ds.size());
    EXPECT_EQ(selected, (std::vector<int>{0, 3, 15}));
    ASSERT_EQ(aux.size(), 8u);
    EXPECT_EQ(aux[0], "redis-ver=7.0.15");
    EXPECT_EQ(aux[3], "used-mem=4242");
    rdb_walker_release(&w);
    for (auto &e : ds)
        obj_free(e.val);
}

TEST_F(RdbLoadTest, WalkerReportsZeroChecksumAsNotStored)
{
    std::vector<Entry> ds = {{0, "k", obj_new_string("v", 1), -1}};
    std::string file = file_of(ds, 0);
    rdb_walker w;
    char err[256];
    ASSERT_EQ(rdb_walker_init(&w, U(file), file.size(), err, sizeof err), 0);
    rdb_item it;
    while (rdb_walker_next(&w, &it) > 0 && it.kind != RDB_ITEM_EOF) {
    }
    EXPECT_EQ(it.kind, RDB_ITEM_EOF);
    EXPECT_EQ(it.checksum_stored, 0);
    rdb_walker_release(&w);
    obj_free(ds[0].val);
}

// Walks a whole file; -1 and the offset on the first error.
int walk_all(const std::string &file, size_t *bad, std::string *why)
{
    rdb_walker w;
    char err[256];
    int rc = rdb_walker_init(&w, U(file), file.size(), err, sizeof err);
    rdb_item it;
    while (rc == 0) {
        int n = rdb_walker_next(&w, &it);
        if (n <= 0) {
            rc = n;
            break;
        }
    }
    *bad = w.bad;
    *why = rc ? err : "";
    rdb_walker_release(&w);
    return rc;
}

TEST_F(RdbLoadTest, WalkerRefusesEveryTruncationWithAnOffset)
{
    auto ds = walk_dataset();
    std::string file = file_of(ds);
    size_t bad;
    std::string why;
    ASSERT_EQ(walk_all(file, &bad, &why), 0) << why;
    for (size_t n = 0; n < file.size(); n += (n < 2000 ? 1 : 97)) {
        std::string cut = file.substr(0, n);
        ASSERT_EQ(walk_all(cut, &bad, &why), -1) << n;
        EXPECT_LE(bad, n) << n << ": " << why;
        EXPECT_FALSE(why.empty());
    }
    for (auto &e : ds)
        obj_free(e.val);
}

TEST_F(RdbLoadTest, WalkerNamesTheBadByte)
{
    size_t bad;
    std::string why;
    // An impossible string length in the value of key "k" (value at offset 13).
    EXPECT_EQ(walk_all(LIT("REDIS0010\xfe\x00\x00\x01k\x80\x7f\xff\xff\xff") + "xyz", &bad, &why), -1);
    EXPECT_EQ(bad, 19u) << why; // after the length, where the missing bytes start
    EXPECT_NE(why.find("bad value of key 'k' (type 0 at offset 11): truncated string"), std::string::npos) << why;
    // An unknown type byte.
    EXPECT_EQ(walk_all(LIT("REDIS0010\xfe\x00\x63\x01k\x01v\xff"), &bad, &why), -1);
    EXPECT_EQ(bad, 14u) << why;
    EXPECT_NE(why.find("unsupported value type 99"), std::string::npos) << why;
    // A truncated function library and module data are refused at their opcode.
    EXPECT_EQ(walk_all(LIT("REDIS0010\xf5\x05" "ab"), &bad, &why), -1);
    EXPECT_EQ(bad, 9u);
    EXPECT_EQ(why, "Failed loading library, Failed loading library payload");
    EXPECT_EQ(walk_all(LIT("REDIS0010\xf7\x00\xff"), &bad, &why), -1);
    EXPECT_NE(why.find("module"), std::string::npos);
    // A missing checksum after EOF.
    EXPECT_EQ(walk_all(LIT("REDIS0010\xff\x00\x00"), &bad, &why), -1);
    EXPECT_EQ(bad, 12u);
    // Versions before 5 end at EOF.
    EXPECT_EQ(walk_all(LIT("REDIS0004\xff"), &bad, &why), 0) << why;
}

// ---- CRC-64 ----------------------------------------------------------------

uint64_t crc64_bytewise(uint64_t crc, const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        for (int b = 0; b < 8; b++)
            crc = (crc & 1) ? (crc >> 1) ^ 0x95ac9329ac4bc9b5ULL : crc >> 1;
    }
    return crc;
}

TEST_F(RdbLoadTest, SlicedCrc64MatchesTheDefinition)
{
    EXPECT_EQ(rk_crc64(0, "123456789", 9), 0xe9c6d914c4b8d9caULL);
    std::vector<unsigned char> data(4096 + 16);
    uint32_t seed = 7;
    for (auto &b : data) {
        seed = seed * 1103515245u + 12345u;
        b = static_cast<unsigned char>(seed >> 24);
    }
    // Every alignment and length up to 100, and split points inside words.
    for (size_t align = 0; align < 8; align++)
        for (size_t n = 0; n <= 100; n++) {
            const unsigned char *p = data.data() + align;
            uint64_t want = crc64_bytewise(0, p, n);
            ASSERT_EQ(rk_crc64(0, p, n), want) << align << "/" << n;
            size_t cut = n / 3;
            ASSERT_EQ(rk_crc64(rk_crc64(0, p, cut), p + cut, n - cut), want) << align << "/" << n;
        }
    EXPECT_EQ(rk_crc64(0, data.data(), 4096), crc64_bytewise(0, data.data(), 4096));
    EXPECT_EQ(rk_crc64(12345, data.data() + 3, 4000), crc64_bytewise(12345, data.data() + 3, 4000));
}

} // namespace
