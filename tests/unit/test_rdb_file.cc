// Unit tests for storage/rdb_file.c: a dataset of every type and encoding in
// several databases, with expires, written as a whole RDB file and read back
// equal (buffer and fd sinks give the same bytes); every truncation and every
// flipped byte refused with an offset; opcodes the reader must skip or
// refuse; and Debian's redis-check-rdb accepting our file when installed.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

extern "C" {
#include "core/alloc.h"
#include "core/object.h"
#include "core/quicklist.h"
#include "core/t_hash.h"
#include "core/t_list.h"
#include "core/t_set.h"
#include "core/t_zset.h"
#include "core/zskiplist.h"
#include "storage/crc64.h"
#include "storage/rdb_file.h"
}

namespace {

#define LIT(s) std::string(s, sizeof(s) - 1)

rk_slice S(const std::string &s) { return rk_slice{s.data(), s.size()}; }
#include "rdb_test_values.h"

// ---- the dataset -----------------------------------------------------------

struct Entry {
    int db;
    std::string key;
    rk_obj *val;
    long long expire_ms;
};

std::vector<Entry> make_dataset()
{
    std::vector<std::string> small_list = {"a", "1", "-300", std::string(100, 'x'), ""};
    std::vector<std::string> big_list;
    for (int i = 0; i < 2000; i++)
        big_list.push_back("element-" + std::to_string(i));
    std::vector<std::string> many_ints;
    for (int i = 0; i < 600; i++)
        many_ints.push_back(std::to_string(i * 7));
    // Incompressible, so the file crosses the writer's 64 KiB flush point.
    std::string big(100000, 'q');
    uint32_t seed = 12345;
    for (auto &ch : big) {
        seed = seed * 1103515245u + 12345u;
        ch = static_cast<char>(seed >> 24);
    }
    return {
        {0, "int", obj_new_string("123", 3), -1},
        {0, "12345", obj_new_string("hello", 5), 1893456000123LL}, // integer-encoded key
        {0, "raw-lzf", obj_new_string(std::string(1000, 'z').data(), 1000), -1},
        {0, std::string(300, 'K'), obj_new_string(big.data(), big.size()), 42},
        {0, "small list", make_list(small_list, -2), -1},
        {0, "big list", make_list(big_list, -2), 1700000000000LL},
        {0, "lp hash", make_hash(10), -1},
        {0, "ht hash", make_hash(300), -1},
        {0, "intset", make_set({"3", "1", "70000"}), -1},
        {0, "big int set", make_set(many_ints), -1},
        {0, "ht set", make_set({"x", "y", "-1", std::string(300, 'w')}), 5},
        {0, "lp zset", make_zset(20, false), -1},
        {0, "sl zset", make_zset(300, true), -1},
        {2, "", obj_new_string("empty key", 9), -1},
        {2, "int", obj_new_string("-7", 2), 99},
        {15, "last", make_hash(3), -1},
    };
}

void free_dataset(std::vector<Entry> &ds)
{
    for (auto &e : ds)
        obj_free(e.val);
    ds.clear();
}

int write_dataset(rdb_writer *w, const std::vector<Entry> &ds)
{
    rdb_aux_info aux = {};
    aux.ctime = 1700000000;
    aux.used_mem = 123456;
    memcpy(aux.repl_id, "0123456789abcdef0123456789abcdef01234567", 41);
    aux.repl_offset = 0;
    if (rdb_writer_header(w, &aux) != 0)
        return -1;
    for (size_t i = 0; i < ds.size();) {
        size_t j = i;
        uint64_t expires = 0;
        for (; j < ds.size() && ds[j].db == ds[i].db; j++)
            expires += ds[j].expire_ms >= 0;
        if (rdb_writer_select_db(w, ds[i].db, j - i, expires) != 0)
            return -1;
        for (; i < j; i++)
            if (rdb_writer_key(w, ds[i].key.data(), ds[i].key.size(), ds[i].val, ds[i].expire_ms) != 0)
                return -1;
    }
    return rdb_writer_finish(w);
}

std::string dataset_file(const std::vector<Entry> &ds, int checksum = 1, int compress = 1)
{
    rk_buf out;
    rk_buf_init(&out);
    rdb_writer w;
    rdb_writer_init_buf(&w, &out, checksum, compress);
    EXPECT_EQ(write_dataset(&w, ds), 0);
    EXPECT_EQ(w.written, out.len);
    rdb_writer_release(&w);
    std::string s(out.data ? out.data : "", out.len);
    rk_buf_free(&out);
    return s;
}

// (db, key) -> (value description, expire)
using Loaded = std::map<std::pair<int, std::string>, std::pair<std::string, long long>>;

int collect_key(void *ud, int dbid, const char *key, size_t klen, rk_obj *value, long long expire_ms)
{
    auto *m = static_cast<Loaded *>(ud);
    (*m)[{dbid, std::string(key, klen)}] = {describe(value), expire_ms};
    obj_free(value);
    return 0;
}

Loaded expected_of(const std::vector<Entry> &ds)
{
    Loaded m;
    for (const auto &e : ds)
        m[{e.db, e.key}] = {describe(e.val), e.expire_ms};
    return m;
}

struct LoadResult {
    int rc;
    std::string err;
    size_t offset;
};

LoadResult load(const std::string &file, Loaded *into = nullptr)
{
    Loaded scratch;
    char err[256];
    size_t off = SIZE_MAX;
    int rc = rdb_file_load(reinterpret_cast<const unsigned char *>(file.data()), file.size(), collect_key,
                           into ? into : &scratch, err, sizeof err, &off);
    return {rc, rc ? err : "", off};
}

class RdbFileTest : public ::testing::Test {
protected:
    void SetUp() override { ASSERT_EQ(rk_alloc_thread_init(), 0); }
};

TEST_F(RdbFileTest, RoundTripEveryTypeSeveralDbsExpires)
{
    auto ds = make_dataset();
    for (int compress = 0; compress <= 1; compress++) {
        std::string file = dataset_file(ds, 1, compress);
        ASSERT_EQ(file.compare(0, 9, "REDIS0010"), 0);
        EXPECT_EQ(static_cast<unsigned char>(file[file.size() - 9]), RDB_OPCODE_EOF);
        uint64_t crc = 0;
        for (int i = 7; i >= 0; i--)
            crc = (crc << 8) | static_cast<unsigned char>(file[file.size() - 8 + i]);
        EXPECT_EQ(crc, rk_crc64(0, file.data(), file.size() - 8));
        Loaded got;
        LoadResult r = load(file, &got);
        ASSERT_EQ(r.rc, 0) << r.err << " at " << r.offset;
        EXPECT_EQ(got, expected_of(ds));
    }
    free_dataset(ds);
}

TEST_F(RdbFileTest, HeaderAuxAndDbEventsAsRedisWritesThem)
{
    auto ds = make_dataset();
    std::string file = dataset_file(ds);
    struct Seen {
        std::vector<std::string> aux;
        std::vector<int> dbs;
        std::vector<std::pair<uint64_t, uint64_t>> sizes;
        int checksum = -1;
        int version = 0;
    } seen;
    rdb_load_hooks hooks = {};
    hooks.version = [](void *ud, int v) { static_cast<Seen *>(ud)->version = v; };
    hooks.aux = [](void *ud, size_t, const char *n, const char *v, size_t vl) {
        static_cast<Seen *>(ud)->aux.push_back(std::string(n) + "=" + std::string(v, vl));
    };
    hooks.select_db = [](void *ud, size_t, int db) { static_cast<Seen *>(ud)->dbs.push_back(db); };
    hooks.resize_db = [](void *ud, size_t, uint64_t a, uint64_t b) {
        static_cast<Seen *>(ud)->sizes.push_back({a, b});
    };
    hooks.checksum = [](void *ud, size_t, int st) { static_cast<Seen *>(ud)->checksum = st; };
    char err[256];
    ASSERT_EQ(rdb_file_load_hooks(reinterpret_cast<const unsigned char *>(file.data()), file.size(), &hooks, &seen,
                                  err, sizeof err, nullptr),
              0)
        << err;
    std::vector<std::string> want_aux = {"redis-ver=7.0.15", "redis-bits=64", "ctime=1700000000",
                                         "used-mem=123456", "repl-stream-db=0",
                                         "repl-id=0123456789abcdef0123456789abcdef01234567",
                                         "repl-offset=0", "aof-base=0"};
    EXPECT_EQ(seen.aux, want_aux);
    EXPECT_EQ(seen.version, 10);
    EXPECT_EQ(seen.dbs, (std::vector<int>{0, 2, 15}));
    EXPECT_EQ(seen.sizes, (std::vector<std::pair<uint64_t, uint64_t>>{{13, 4}, {2, 1}, {1, 0}}));
    EXPECT_EQ(seen.checksum, 1);
    // Integer AUX values are integer-encoded strings, as Redis writes them.
    std::string bits = LIT("\xfa\x0aredis-bits\xc0\x40");
    EXPECT_NE(file.find(bits), std::string::npos);
    free_dataset(ds);
}

TEST_F(RdbFileTest, FdSinkMatchesBufferSink)
{
    auto ds = make_dataset();
    std::string want = dataset_file(ds);
    ASSERT_GT(want.size(), 64u * 1024); // crosses the flush threshold
    char path[] = "/tmp/rdbfile-test-XXXXXX";
    int fd = mkstemp(path);
    ASSERT_GE(fd, 0);
    rdb_writer w;
    rdb_writer_init_fd(&w, fd, 1, 1);
    EXPECT_EQ(write_dataset(&w, ds), 0);
    EXPECT_EQ(w.failed, 0);
    rdb_writer_release(&w);
    close(fd);
    FILE *f = fopen(path, "rb");
    ASSERT_NE(f, nullptr);
    std::string got;
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        got.append(chunk, n);
    fclose(f);
    EXPECT_EQ(got, want);

    // Debian's redis-check-rdb (7.0) must accept what we write.
    if (std::system("command -v redis-check-rdb >/dev/null 2>&1") == 0) {
        std::string cmd = std::string("redis-check-rdb ") + path + " > " + path + ".out 2>&1";
        EXPECT_EQ(std::system(cmd.c_str()), 0);
        FILE *o = fopen((std::string(path) + ".out").c_str(), "r");
        ASSERT_NE(o, nullptr);
        std::string text;
        while ((n = fread(chunk, 1, sizeof chunk, o)) > 0)
            text.append(chunk, n);
        fclose(o);
        EXPECT_NE(text.find("RDB looks OK!"), std::string::npos) << text;
        EXPECT_NE(text.find("16 keys read"), std::string::npos) << text;
        unlink((std::string(path) + ".out").c_str());
    } else {
        GTEST_LOG_(INFO) << "redis-check-rdb not on PATH: skipping the cross-check";
    }
    unlink(path);
    free_dataset(ds);
}

TEST_F(RdbFileTest, WriteFailureIsStickyAndReported)
{
    auto ds = make_dataset();
    rdb_writer w;
    rdb_writer_init_fd(&w, open("/dev/full", O_WRONLY), 1, 1);
    ASSERT_GE(w.fd, 0);
    EXPECT_EQ(write_dataset(&w, ds), -1);
    EXPECT_NE(w.failed, 0);
    EXPECT_EQ(rdb_writer_finish(&w), -1);
    close(w.fd);
    rdb_writer_release(&w);
    free_dataset(ds);
}

TEST_F(RdbFileTest, ChecksumDisabledWritesZerosAndLoads)
{
    auto ds = make_dataset();
    std::string file = dataset_file(ds, 0, 1);
    EXPECT_EQ(file.substr(file.size() - 8), std::string(8, '\0'));
    Loaded got;
    LoadResult r = load(file, &got);
    ASSERT_EQ(r.rc, 0) << r.err;
    EXPECT_EQ(got, expected_of(ds));
    free_dataset(ds);
}

TEST_F(RdbFileTest, EveryTruncationIsRefusedWithAnOffset)
{
    std::vector<Entry> ds = {
        {0, "s", obj_new_string("hello", 5), 1234},
        {0, "l", make_list({"a", "b", "300"}, -2), -1},
        {1, "h", make_hash(2), -1},
        {1, "z", make_zset(3, false), -1},
        {1, "set", make_set({"1", "2"}), -1},
    };
    std::string file = dataset_file(ds);
    ASSERT_EQ(load(file).rc, 0);
    for (size_t n = 0; n < file.size(); n++) {
        LoadResult r = load(file.substr(0, n));
        ASSERT_EQ(r.rc, -1) << "length " << n;
        EXPECT_FALSE(r.err.empty()) << n;
        EXPECT_LE(r.offset, n) << n << ": " << r.err;
    }
    free_dataset(ds);
}

TEST_F(RdbFileTest, FlippedBytesAreRefused)
{
    std::vector<Entry> ds = {
        {0, "greeting", obj_new_string("hello world", 11), -1},
        {0, "l", make_list({"a", "b", "300"}, -2), 77},
        {3, "h", make_hash(2), -1},
    };
    std::string file = dataset_file(ds);
    // A byte inside a string value: still parses, only the checksum can tell.
    std::string bad = file;
    size_t at = bad.find("hello world");
    ASSERT_NE(at, std::string::npos);
    bad[at + 3] ^= 0x20;
    LoadResult r = load(bad);
    ASSERT_EQ(r.rc, -1);
    EXPECT_NE(r.err.find("CRC error"), std::string::npos) << r.err;
    EXPECT_EQ(r.offset, file.size() - 8);
    // Any flipped byte anywhere is refused (parse error or checksum).
    for (size_t i = 0; i < file.size(); i++) {
        bad = file;
        bad[i] ^= 0xff;
        r = load(bad);
        EXPECT_EQ(r.rc, -1) << "byte " << i;
        EXPECT_LT(r.offset, file.size()) << i;
    }
    free_dataset(ds);
}

// Hand-made files: the opcodes Redis 7.0 never writes but the reader must know.
std::string with_crc(std::string body)
{
    uint64_t crc = rk_crc64(0, body.data(), body.size());
    for (int i = 0; i < 8; i++)
        body.push_back(static_cast<char>(crc >> (8 * i)));
    return body;
}

TEST_F(RdbFileTest, OldVersionsAndOptionalOpcodes)
{
    // Version 3: no checksum, seconds expire (0xFD).
    std::string v3 = LIT("REDIS0003\xfe\x00\xfd\x10\x00\x00\x00\x00\x01k\x01v\xff");
    Loaded got;
    LoadResult r = load(v3, &got);
    ASSERT_EQ(r.rc, 0) << r.err;
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got.begin()->second.second, 16000);
    // Version 12: FREQ, IDLE, SLOT_INFO are skipped; zero checksum = disabled.
    std::string v12 = LIT("REDIS0012\xfe\x01\xf4\x05\x01\x00\xfb\x01\x00\xf9\x07\xf8\x40\x80\x00\x01k\x01v\xff") +
                      std::string(8, '\0');
    got.clear();
    r = load(v12, &got);
    ASSERT_EQ(r.rc, 0) << r.err;
    ASSERT_EQ(got.count({1, "k"}), 1u);
    // Function libraries (FUNCTION2) are walked past; a bad one (here a
    // 7.0-rc FUNCTION record cut short) is refused at its opcode.
    r = load(with_crc(LIT("REDIS0010\xf5\x02" "ab\xff")));
    EXPECT_EQ(r.rc, 0) << r.err;
    r = load(with_crc(LIT("REDIS0009\xf6\x00\xff")));
    EXPECT_EQ(r.rc, -1);
    EXPECT_EQ(r.err, "Failed loading library, Failed loading engine name");
    EXPECT_EQ(r.offset, 9u);
    // Unsupported content is refused by name, at its offset.
    r = load(with_crc(LIT("REDIS0009\xf7\x00\xff")));
    EXPECT_EQ(r.rc, -1);
    EXPECT_NE(r.err.find("module"), std::string::npos);
    r = load(with_crc(LIT("REDIS0010\x0f\x01k\x00\xff"))); // a stream cut short
    EXPECT_EQ(r.rc, -1);
    EXPECT_NE(r.err.find("type 15 at offset 9"), std::string::npos) << r.err;
    r = load(with_crc(LIT("REDIS0010\x07\x01k\x00\xff"))); // a module value
    EXPECT_EQ(r.rc, -1);
    EXPECT_NE(r.err.find("unsupported value type 7"), std::string::npos) << r.err;
    EXPECT_EQ(load(LIT("REDIS0013\xff")).err, "can't handle RDB format version 13");
    EXPECT_EQ(load(LIT("REDIS0000\xff")).rc, -1);
    r = load(LIT("RUBIS0010\xff"));
    EXPECT_EQ(r.rc, -1);
    EXPECT_EQ(r.offset, 0u);
    // Trailing bytes after a good checksum do not matter (Redis ignores them).
    EXPECT_EQ(load(with_crc(LIT("REDIS0010\xff")) + "junk").rc, 0);
}

TEST_F(RdbFileTest, CallbackCanStopTheLoad)
{
    std::vector<Entry> ds = {{0, "a", obj_new_string("1", 1), -1}, {0, "b", obj_new_string("2", 1), -1}};
    std::string file = dataset_file(ds);
    char err[128];
    size_t off = 0;
    int calls = 0;
    auto stop = [](void *ud, int, const char *, size_t, rk_obj *v, long long) {
        obj_free(v);
        return ++*static_cast<int *>(ud) == 2 ? -1 : 0;
    };
    EXPECT_EQ(rdb_file_load(reinterpret_cast<const unsigned char *>(file.data()), file.size(), stop, &calls, err,
                            sizeof err, &off),
              -1);
    EXPECT_EQ(calls, 2);
    EXPECT_NE(std::string(err).find("'b'"), std::string::npos) << err;
    free_dataset(ds);
}

} // namespace
