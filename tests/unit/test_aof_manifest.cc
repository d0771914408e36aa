// Unit tests for storage/aof_manifest.c: Redis 7.0 manifests read as Redis
// reads them (comments, quoting, unknown keys, its quirks), ringkv's shard /
// start / end keys, every error with its file, line and Redis's text, the
// writer's output read back equal, and the atomic file replacement.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include <sys/stat.h>
#include <unistd.h>

extern "C" {
#include "core/alloc.h"
#include "storage/aof_manifest.h"
}

namespace {

struct Parsed {
    int rc;
    std::string err;
};

Parsed parse(aof_manifest *am, const std::string &text)
{
    char err[512] = "";
    int rc = aof_manifest_parse(am, "m.manifest", text.data(), text.size(), err, sizeof err);
    return {rc, err};
}

// The error text of a manifest that must be refused.
std::string refused(const std::string &text)
{
    aof_manifest am;
    Parsed p = parse(&am, text);
    EXPECT_EQ(p.rc, -1) << text;
    EXPECT_EQ(am.n, 0u);
    return p.err;
}

std::string format(const aof_manifest &am)
{
    rk_buf b;
    rk_buf_init(&b);
    char err[256];
    EXPECT_EQ(aof_manifest_format(&am, &b, err, sizeof err), 0) << err;
    std::string s(b.data ? b.data : "", b.len);
    rk_buf_free(&b);
    return s;
}

class AofManifestTest : public ::testing::Test {
protected:
    void SetUp() override { ASSERT_EQ(rk_alloc_thread_init(), 0); }
};

TEST_F(AofManifestTest, RedisManifestAsRedisWritesIt)
{
    const std::string text = "file appendonly.aof.2.base.rdb seq 2 type b\n"
                             "file appendonly.aof.1.incr.aof seq 1 type h\n"
                             "file appendonly.aof.2.incr.aof seq 2 type i\n"
                             "file appendonly.aof.3.incr.aof seq 3 type i\n";
    aof_manifest am;
    Parsed p = parse(&am, text);
    ASSERT_EQ(p.rc, 0) << p.err;
    ASSERT_EQ(am.n, 4u);
    EXPECT_EQ(am.ringkv, 0);
    EXPECT_STREQ(am.files[0].name, "appendonly.aof.2.base.rdb");
    EXPECT_EQ(am.files[0].type, 'b');
    EXPECT_EQ(am.files[0].seq, 2);
    EXPECT_EQ(am.files[0].shard, 0);
    EXPECT_EQ(am.files[0].start, AOF_POS_NONE);
    EXPECT_EQ(am.files[1].type, 'h');
    EXPECT_EQ(am.files[3].line, 4);
    EXPECT_EQ(aof_manifest_shards(&am), 1);
    const aof_info *order[8];
    ASSERT_EQ(aof_manifest_load_order(&am, 0, order, 8), 3u); // history is not loaded
    EXPECT_STREQ(order[0]->name, "appendonly.aof.2.base.rdb");
    EXPECT_STREQ(order[1]->name, "appendonly.aof.2.incr.aof");
    EXPECT_STREQ(order[2]->name, "appendonly.aof.3.incr.aof");
    EXPECT_EQ(format(am), text); // byte for byte what Redis writes
    aof_manifest_release(&am);
}

TEST_F(AofManifestTest, CommentsCaseQuotingUnknownKeysAndAtoll)
{
    aof_manifest am;
    Parsed p = parse(&am, "# a comment\n"
                          "  FILE \"a b\\x41\\n\" SEQ 7junk Type incr future-key whatever  \r\n"
                          "file 'it\\'s' seq 8 type i\n");
    ASSERT_EQ(p.rc, 0) << p.err;
    ASSERT_EQ(am.n, 2u);
    EXPECT_STREQ(am.files[0].name, "a bA\n");
    EXPECT_EQ(am.files[0].seq, 7); // atoll stops at the junk
    EXPECT_EQ(am.files[0].type, 'i'); // the first byte of "incr"
    EXPECT_EQ(am.files[0].line, 2);
    EXPECT_STREQ(am.files[1].name, "it's");
    // Names that need quoting are written with sdscatrepr's escapes and read back.
    std::string out = format(am);
    // A name with a single quote is quoted too (Redis 7.0 writes it bare and
    // then cannot read it back).
    EXPECT_EQ(out, "file \"a bA\\n\" seq 7 type i\nfile \"it's\" seq 8 type i\n");
    aof_manifest back;
    ASSERT_EQ(parse(&back, out).rc, 0);
    EXPECT_STREQ(back.files[0].name, "a bA\n");
    EXPECT_STREQ(back.files[1].name, "it's");
    aof_manifest_release(&back);
    aof_manifest_release(&am);
}

TEST_F(AofManifestTest, OnlyCommentsIsAnEmptySet)
{
    aof_manifest am;
    ASSERT_EQ(parse(&am, "# nothing yet\n").rc, 0);
    EXPECT_EQ(am.n, 0u);
    EXPECT_EQ(aof_manifest_shards(&am), 0);
    aof_manifest_release(&am);
}

TEST_F(AofManifestTest, RingkvShardsAndJournalPositions)
{
    const std::string text = "file a.s0.1.base.rdb seq 1 type b shard 0 start 0\n"
                             "file a.s0.1.incr.aof seq 1 type h shard 0 start 0 end 100\n"
                             "file a.s0.2.incr.aof seq 2 type i shard 0 start 100\n"
                             "file a.s1.3.base.rdb seq 3 type b shard 1 start 50\n"
                             "file a.s1.1.incr.aof seq 1 type i shard 1 start 50 end 70\n"
                             "file a.s1.2.incr.aof seq 2 type i shard 1 start 70\n";
    aof_manifest am;
    Parsed p = parse(&am, text);
    ASSERT_EQ(p.rc, 0) << p.err;
    EXPECT_EQ(am.ringkv, 1);
    EXPECT_EQ(aof_manifest_shards(&am), 2);
    EXPECT_EQ(am.files[1].end, 100u);
    EXPECT_EQ(am.files[4].start, 50u);
    EXPECT_EQ(am.files[4].end, 70u);
    EXPECT_EQ(aof_manifest_base(&am, 1)->seq, 3);
    const aof_info *order[8];
    ASSERT_EQ(aof_manifest_load_order(&am, 1, order, 8), 3u);
    EXPECT_STREQ(order[2]->name, "a.s1.2.incr.aof");
    // INCR sequences are per shard: shard 1 starting again at 1 is fine.
    EXPECT_EQ(format(am), text);
    aof_manifest_release(&am);
}

TEST_F(AofManifestTest, RedisErrorsNameFileAndLine)
{
    EXPECT_EQ(refused(""), "m.manifest: Found an empty AOF manifest");
    EXPECT_EQ(refused("\n"), "m.manifest:1: Invalid AOF manifest file format: ''");
    EXPECT_EQ(refused("file a seq 1 type b\n   \t\n"), "m.manifest:2: Invalid AOF manifest file format: ''");
    // Redis reads a last line without '\n' as a line too long for its buffer.
    EXPECT_EQ(refused("file a seq 1 type b"), "m.manifest:1: The AOF manifest file contains too long line");
    EXPECT_EQ(refused("file " + std::string(1100, 'x') + " seq 1 type b\n"),
              "m.manifest:1: The AOF manifest file contains too long line");
    EXPECT_EQ(refused("file a seq 1\n"), "m.manifest:1: Invalid AOF manifest file format: 'file a seq 1'");
    EXPECT_EQ(refused("file a seq 1 type b x\n"),
              "m.manifest:1: Invalid AOF manifest file format: 'file a seq 1 type b x'");
    EXPECT_EQ(refused("file \"a seq 1 type b\n"),
              "m.manifest:1: Invalid AOF manifest file format: 'file \"a seq 1 type b'");
    EXPECT_EQ(refused("file \"a\"b seq 1 type b\n"),
              "m.manifest:1: Invalid AOF manifest file format: 'file \"a\"b seq 1 type b'");
    EXPECT_EQ(refused("file 'a seq 1 type b\n"),
              "m.manifest:1: Invalid AOF manifest file format: 'file 'a seq 1 type b'");
    EXPECT_EQ(refused("file dir/a seq 1 type b\n"),
              "m.manifest:1: File can't be a path, just a filename: 'file dir/a seq 1 type b'");
    EXPECT_EQ(refused("file a\\b seq 1 type b\n"),
              "m.manifest:1: File can't be a path, just a filename: 'file a\\b seq 1 type b'");
    EXPECT_EQ(refused("file a seq 0 type b\n"), "m.manifest:1: Invalid AOF manifest file format: 'file a seq 0 type b'");
    EXPECT_EQ(refused("file a seq x type b\n"), "m.manifest:1: Invalid AOF manifest file format: 'file a seq x type b'");
    EXPECT_EQ(refused("file a seq 1 type \"\"\n"),
              "m.manifest:1: Invalid AOF manifest file format: 'file a seq 1 type \"\"'");
    EXPECT_EQ(refused("seq 1 type b other x\n"),
              "m.manifest:1: Invalid AOF manifest file format: 'seq 1 type b other x'");
    EXPECT_EQ(refused("file a seq 1 type b\nfile c seq 2 type b\n"),
              "m.manifest:2: Found duplicate base file information: 'file c seq 2 type b'");
    EXPECT_EQ(refused("file a seq 2 type i\nfile c seq 2 type i\n"),
              "m.manifest:2: Found a non-monotonic sequence number: 'file c seq 2 type i'");
    EXPECT_EQ(refused("file a seq -1 type i\n"),
              "m.manifest:1: Found a non-monotonic sequence number: 'file a seq -1 type i'");
    EXPECT_EQ(refused("file a seq 1 type x\n"), "m.manifest:1: Unknown AOF file type: 'file a seq 1 type x'");
}

TEST_F(AofManifestTest, LongCommentContinuesAsALineAsInRedis)
{
    // fgets reads 1024 bytes of the comment; the rest is the next "line".
    std::string comment = "#" + std::string(1023, 'c') + "file a seq 1 type b\n";
    aof_manifest am;
    Parsed p = parse(&am, comment);
    ASSERT_EQ(p.rc, 0) << p.err;
    ASSERT_EQ(am.n, 1u);
    EXPECT_EQ(am.files[0].line, 2);
    aof_manifest_release(&am);
}

TEST_F(AofManifestTest, RingkvErrors)
{
    EXPECT_EQ(refused("file a seq 1 type b shard 64\n"),
              "m.manifest:1: Invalid shard number (0 to 63): 'file a seq 1 type b shard 64'");
    EXPECT_EQ(refused("file a seq 1 type b shard -1\n"),
              "m.manifest:1: Invalid shard number (0 to 63): 'file a seq 1 type b shard -1'");
    EXPECT_EQ(refused("file a seq 1 type i shard 0 start 1x\n"),
              "m.manifest:1: Invalid journal position: 'file a seq 1 type i shard 0 start 1x'");
    EXPECT_EQ(refused("file a seq 1 type i shard 0 start 18446744073709551615\n"),
              "m.manifest:1: Invalid journal position: 'file a seq 1 type i shard 0 start 18446744073709551615'");
    EXPECT_EQ(refused("file a seq 1 type i shard 0 start 5 end 4\n"),
              "m.manifest:1: Journal start after end: 'file a seq 1 type i shard 0 start 5 end 4'");
    EXPECT_EQ(refused("file a seq 1 type i shard 0 end 4\n"),
              "m.manifest:1: Journal end without start: 'file a seq 1 type i shard 0 end 4'");
    EXPECT_EQ(refused("file a seq 1 type b shard 1\nfile c seq 1 type b shard 1\n"),
              "m.manifest:2: Found duplicate base file information: 'file c seq 1 type b shard 1'");
    EXPECT_EQ(refused("file a seq 1 type b shard 0\nfile c seq 1 type i\n"),
              "m.manifest:2: Lines with and without a shard key (lines 1 and 2)");
}

TEST_F(AofManifestTest, FormatRefusesWhatTheParserWould)
{
    aof_manifest am;
    aof_manifest_init(&am);
    aof_info fi = {(char *)"x.base", 1, AOF_TYPE_BASE, 0, AOF_POS_NONE, AOF_POS_NONE, 0};
    ASSERT_EQ(aof_manifest_add(&am, &fi), 0);
    ASSERT_EQ(aof_manifest_add(&am, &fi), 0);
    rk_buf b;
    rk_buf_init(&b);
    char err[256];
    EXPECT_EQ(aof_manifest_format(&am, &b, err, sizeof err), -1);
    EXPECT_NE(std::string(err).find("two bases"), std::string::npos);
    EXPECT_EQ(b.len, 0u);
    aof_manifest_release(&am);
    aof_info bad = {(char *)"d/x", 1, AOF_TYPE_INCR, 0, AOF_POS_NONE, AOF_POS_NONE, 0};
    ASSERT_EQ(aof_manifest_add(&am, &bad), 0);
    EXPECT_EQ(aof_manifest_format(&am, &b, err, sizeof err), -1);
    aof_manifest_release(&am);
    rk_buf_free(&b);
}

TEST_F(AofManifestTest, FormatGroupsByShardThenType)
{
    aof_manifest am;
    aof_manifest_init(&am);
    am.ringkv = 1;
    aof_info files[] = {
        {(char *)"i1", 5, AOF_TYPE_INCR, 1, 10, AOF_POS_NONE, 0},
        {(char *)"b1", 2, AOF_TYPE_BASE, 1, 10, AOF_POS_NONE, 0},
        {(char *)"h0", 1, AOF_TYPE_HIST, 0, 0, 7, 0},
        {(char *)"b0", 3, AOF_TYPE_BASE, 0, 7, AOF_POS_NONE, 0},
    };
    for (auto &f : files)
        ASSERT_EQ(aof_manifest_add(&am, &f), 0);
    EXPECT_EQ(format(am), "file b0 seq 3 type b shard 0 start 7\n"
                          "file h0 seq 1 type h shard 0 start 0 end 7\n"
                          "file b1 seq 2 type b shard 1 start 10\n"
                          "file i1 seq 5 type i shard 1 start 10\n");
    aof_manifest_release(&am);
}

TEST_F(AofManifestTest, AtomicWriteAndLoad)
{
    char dir[] = "/tmp/rk-aofm-XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    aof_manifest am;
    ASSERT_EQ(parse(&am, "file a.s0.1.base.rdb seq 1 type b shard 0 start 0\n"
                         "file a.s0.1.incr.aof seq 1 type i shard 0 start 0\n")
                  .rc,
              0);
    char name[64], err[512];
    aof_name_manifest(name, sizeof name, "appendonly.aof");
    EXPECT_STREQ(name, "appendonly.aof.manifest");
    ASSERT_EQ(aof_manifest_write(&am, dir, name, err, sizeof err), 0) << err;
    std::string path = std::string(dir) + "/" + name;
    aof_manifest back;
    ASSERT_EQ(aof_manifest_load(&back, path.c_str(), err, sizeof err), 0) << err;
    EXPECT_EQ(format(back), format(am));
    // No temp file is left behind.
    EXPECT_NE(access((std::string(dir) + "/temp-" + name).c_str(), F_OK), 0);
    // A failing write names the step and leaves the old file.
    EXPECT_EQ(aof_write_file_atomic("/nonexistent-dir", name, "x", 1, err, sizeof err), -1);
    EXPECT_NE(std::string(err).find("/nonexistent-dir/temp-appendonly.aof.manifest"), std::string::npos);
    aof_manifest missing;
    EXPECT_EQ(aof_manifest_load(&missing, "/nonexistent-dir/m", err, sizeof err), -1);
    EXPECT_NE(std::string(err).find("/nonexistent-dir/m"), std::string::npos);
    aof_manifest_release(&back);
    aof_manifest_release(&am);
    unlink(path.c_str());
    rmdir(dir);
}

TEST_F(AofManifestTest, FileNames)
{
    char buf[128];
    aof_name_base(buf, sizeof buf, "appendonly.aof", 3, 12, 1);
    EXPECT_STREQ(buf, "appendonly.aof.s3.12.base.rdb");
    aof_name_base(buf, sizeof buf, "appendonly.aof", 0, 1, 0);
    EXPECT_STREQ(buf, "appendonly.aof.s0.1.base.aof");
    aof_name_incr(buf, sizeof buf, "appendonly.aof", 1, 7);
    EXPECT_STREQ(buf, "appendonly.aof.s1.7.incr.aof");
}

} // namespace
