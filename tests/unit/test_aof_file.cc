// Unit tests for storage/aof_file.c: commands and annotations with exact
// offsets; every truncation of a valid stream reported as truncated with the
// cut point aof-load-truncated uses; corruption in the middle with
// redis-check-aof 7.0's offset and text; MULTI/EXEC; an RDB preamble found
// and skipped with the walker; and the writer helpers read back.
#include <gtest/gtest.h>

#include <string>
#include <vector>

extern "C" {
#include "core/alloc.h"
#include "core/object.h"
#include "storage/aof_file.h"
#include "storage/rdb_file.h"
}

namespace {

const unsigned char *U(const std::string &s) { return reinterpret_cast<const unsigned char *>(s.data()); }

std::string cmd(const std::vector<std::string> &args)
{
    std::string s = "*" + std::to_string(args.size()) + "\r\n";
    for (const auto &a : args)
        s += "$" + std::to_string(a.size()) + "\r\n" + a + "\r\n";
    return s;
}

struct Scan {
    int rc;                              // final status
    std::vector<std::vector<std::string>> cmds;
    std::vector<size_t> offsets;
    std::vector<std::string> notes;
    size_t ok_up_to, bad;
    unsigned long long lines;
    std::string err;
    int format_error;
};

Scan scan(const std::string &data, size_t start = 0)
{
    aof_reader r;
    aof_reader_init(&r, U(data), data.size(), start);
    Scan s{};
    int rc;
    while ((rc = aof_reader_next(&r)) > 0) {
        if (rc == AOF_NEXT_CMD) {
            std::vector<std::string> args;
            for (int i = 0; i < r.cmd.argc; i++)
                args.emplace_back(r.cmd.argv[i], r.cmd.argvlen[i]);
            s.cmds.push_back(args);
            s.offsets.push_back(r.cmd.offset);
            EXPECT_EQ(r.cmd.end, r.pos);
        } else {
            s.notes.emplace_back(r.note, r.note_len);
        }
    }
    s.rc = rc;
    s.ok_up_to = r.ok_up_to;
    s.bad = r.bad;
    s.lines = r.lines;
    s.err = r.err;
    s.format_error = r.format_error;
    EXPECT_EQ(aof_reader_next(&r), rc); // sticky
    aof_reader_release(&r);
    return s;
}

class AofFileTest : public ::testing::Test {
protected:
    void SetUp() override { ASSERT_EQ(rk_alloc_thread_init(), 0); }
};

TEST_F(AofFileTest, CommandsAnnotationsAndOffsets)
{
    std::string a = cmd({"SELECT", "0"});
    std::string ts = "#TS:1700000000\r\n";
    std::string b = cmd({"SET", "k", std::string("v\r\n\0x", 5)});
    std::string data = a + ts + b;
    Scan s = scan(data);
    ASSERT_EQ(s.rc, AOF_NEXT_END);
    ASSERT_EQ(s.cmds.size(), 2u);
    EXPECT_EQ(s.cmds[1][2], std::string("v\r\n\0x", 5));
    EXPECT_EQ(s.offsets[1], a.size() + ts.size());
    ASSERT_EQ(s.notes.size(), 1u);
    EXPECT_EQ(s.notes[0], "TS:1700000000");
    EXPECT_EQ(s.ok_up_to, data.size());
    EXPECT_EQ(s.lines, 5u + 7u); // annotations are not counted, as in redis-check-aof
    EXPECT_EQ(aof_file_kind(U(data), data.size()), AOF_FILE_RESP);
    EXPECT_EQ(aof_file_kind(U(data), 0), AOF_FILE_EMPTY);
    EXPECT_EQ(scan("").rc, AOF_NEXT_END);
}

TEST_F(AofFileTest, EveryTruncationCutsBackToTheLastCompleteCommand)
{
    std::string a = cmd({"SELECT", "0"}), b = cmd({"SET", "key", "value"}), c = cmd({"DEL", "key"});
    std::string data = a + "#TS:1\r\n" + b + c;
    size_t ends[] = {a.size(), a.size() + 7, a.size() + 7 + b.size(), data.size()};
    for (size_t cut = 1; cut < data.size(); cut++) {
        Scan s = scan(data.substr(0, cut));
        size_t expect = 0;
        for (size_t e : ends)
            if (e <= cut)
                expect = e;
        if (expect == cut) {
            EXPECT_EQ(s.rc, AOF_NEXT_END) << cut;
            continue;
        }
        EXPECT_EQ(s.rc, AOF_NEXT_TRUNCATED) << cut << " " << s.err;
        EXPECT_EQ(s.ok_up_to, expect) << cut;
        EXPECT_GE(s.bad, expect) << cut;
        EXPECT_LE(s.bad, cut) << cut;
    }
}

TEST_F(AofFileTest, TruncatedBulkAsRedisCheckAofSaysIt)
{
    // redis-check-aof 7.0 on this file: "0x30: Expected to read 3 bytes, got 2 bytes",
    // ok_up_to=23, ok_up_to_line=12.
    std::string data = cmd({"SELECT", "0"}) + cmd({"hset", "h", "f", "v"});
    Scan s = scan(data.substr(0, 50));
    EXPECT_EQ(s.rc, AOF_NEXT_TRUNCATED);
    EXPECT_EQ(s.bad, 0x30u);
    EXPECT_EQ(s.err, "Expected to read 3 bytes, got 2 bytes");
    EXPECT_EQ(s.ok_up_to, 23u);
    EXPECT_EQ(s.lines + 1, 12u);
}

TEST_F(AofFileTest, CorruptionInTheMiddle)
{
    std::string sel = cmd({"SELECT", "0"});
    // redis-check-aof: "0x2b: Expected prefix '$', got: 'X'", ok_up_to=23, line 11.
    Scan s = scan(sel + "*3\r\n$3\r\nSET\r\n$1\r\nk\r\nXX\r\n" + cmd({"PING"}));
    EXPECT_EQ(s.rc, AOF_NEXT_CORRUPT);
    EXPECT_EQ(s.bad, 0x2bu);
    EXPECT_EQ(s.err, "Expected prefix '$', got: 'X'");
    EXPECT_EQ(s.ok_up_to, 23u);
    EXPECT_EQ(s.lines + 1, 11u);
    // A byte where a command should start: "AOF ... format error", line 6.
    s = scan(sel + "foo\r\n");
    EXPECT_EQ(s.rc, AOF_NEXT_CORRUPT);
    EXPECT_EQ(s.format_error, 1);
    EXPECT_EQ(s.bad, 23u);
    EXPECT_EQ(s.lines + 1, 6u);
    // Bulk without its CRLF: the offset of the bulk's data.
    s = scan(sel + "*1\r\n$4\r\nPINGxx" + cmd({"PING"}));
    EXPECT_EQ(s.rc, AOF_NEXT_CORRUPT);
    EXPECT_EQ(s.bad, 23u + 8);
    EXPECT_EQ(s.err, "Expected \\r\\n, got: 7878");
    // Zeros after the last command (a crash on some file systems).
    s = scan(sel + std::string(16, '\0'));
    EXPECT_EQ(s.rc, AOF_NEXT_CORRUPT);
    EXPECT_EQ(s.ok_up_to, 23u);
    // Counts and lengths.
    EXPECT_EQ(scan("*0\r\n").rc, AOF_NEXT_CORRUPT);
    EXPECT_EQ(scan("*-1\r\n").rc, AOF_NEXT_CORRUPT);
    EXPECT_EQ(scan("*x\r\n").rc, AOF_NEXT_CORRUPT);
    EXPECT_EQ(scan("*1\r\n$-1\r\n").err,
              "Expected to read string of -1 bytes, which is not in the suitable range");
    EXPECT_EQ(scan("*1\r\n$1234567890123456789\r\n").rc, AOF_NEXT_CORRUPT);
    EXPECT_EQ(scan("*1\n$1\r\nx\r\n").err, "Expected \\r\\n, got: 0a24");
    EXPECT_EQ(scan("*1\r\n$1\r\nx\r\n#" + std::string(2000, 'a')).rc, AOF_NEXT_CORRUPT);
    EXPECT_EQ(scan("*1\r\n$1\r\nx\r\n#" + std::string(200, 'a')).rc, AOF_NEXT_TRUNCATED);
}

TEST_F(AofFileTest, MultiExec)
{
    std::string a = cmd({"SET", "a", "1"});
    std::string tx = cmd({"MULTI"}) + cmd({"INCR", "a"}) + cmd({"EXEC"});
    Scan s = scan(a + tx);
    EXPECT_EQ(s.rc, AOF_NEXT_END);
    EXPECT_EQ(s.cmds.size(), 4u);
    // EOF inside the transaction: cut back to before MULTI, whatever the cut.
    for (size_t cut = a.size() + 1; cut < a.size() + tx.size(); cut++) {
        Scan t = scan((a + tx).substr(0, cut));
        EXPECT_EQ(t.rc, AOF_NEXT_TRUNCATED) << cut;
        EXPECT_EQ(t.ok_up_to, a.size()) << cut;
    }
    // redis-check-aof: "0x17: Reached EOF before reading EXEC for MULTI", ok_up_to 0, line 7.
    s = scan(cmd({"MULTI"}) + cmd({"PING"}));
    EXPECT_EQ(s.err, "Reached EOF before reading EXEC for MULTI");
    EXPECT_EQ(s.bad, 0x17u);
    EXPECT_EQ(s.ok_up_to, 0u);
    EXPECT_EQ(s.lines + 1, 7u);
    EXPECT_EQ(scan(cmd({"multi"}) + cmd({"multi"})).err, "Unexpected MULTI");
    EXPECT_EQ(scan(cmd({"exec"})).err, "Unexpected EXEC");
}

TEST_F(AofFileTest, RdbPreambleIsFoundAndSkipped)
{
    rk_buf out;
    rk_buf_init(&out);
    rdb_writer w;
    rdb_writer_init_buf(&w, &out, 1, 0);
    rdb_aux_info aux{};
    aux.aof_base = 1;
    ASSERT_EQ(rdb_writer_header(&w, &aux), 0);
    ASSERT_EQ(rdb_writer_select_db(&w, 0, 1, 0), 0);
    rk_obj *v = obj_new_string("v", 1);
    ASSERT_EQ(rdb_writer_key(&w, "k", 1, v, -1), 0);
    obj_free(v);
    ASSERT_EQ(rdb_writer_finish(&w), 0);
    rdb_writer_release(&w);
    std::string rdb(out.data, out.len);
    rk_buf_free(&out);
    std::string tail = cmd({"SET", "x", "y"});
    std::string data = rdb + tail;
    EXPECT_EQ(aof_file_kind(U(data), data.size()), AOF_FILE_RDB);
    size_t end = 0, bad = 0;
    char err[256];
    ASSERT_EQ(aof_rdb_end(U(data), data.size(), &end, &bad, err, sizeof err), 0) << err;
    EXPECT_EQ(end, rdb.size());
    Scan s = scan(data, end);
    ASSERT_EQ(s.rc, AOF_NEXT_END);
    ASSERT_EQ(s.cmds.size(), 1u);
    EXPECT_EQ(s.offsets[0], rdb.size());
    // A preamble cut short is an RDB error with an offset inside it.
    EXPECT_EQ(aof_rdb_end(U(data), rdb.size() - 3, &end, &bad, err, sizeof err), -1);
    EXPECT_LE(bad, rdb.size());
}

TEST_F(AofFileTest, WriterHelpersReadBack)
{
    rk_buf b;
    rk_buf_init(&b);
    const char *argv[] = {"SET", "k", "v"};
    size_t lens[] = {3, 1, 1};
    ASSERT_EQ(aof_put_timestamp(&b, 42), 0);
    ASSERT_EQ(aof_put_command(&b, 3, argv, lens), 0);
    ASSERT_EQ(aof_put_array(&b, 2), 0);
    ASSERT_EQ(aof_put_bulk_ll(&b, -17), 0);
    ASSERT_EQ(aof_put_bulk_double(&b, 0.1), 0);
    std::string data(b.data, b.len);
    rk_buf_free(&b);
    EXPECT_EQ(data, "#TS:42\r\n" + cmd({"SET", "k", "v"}) + cmd({"-17", "0.10000000000000001"}));
    Scan s = scan(data);
    EXPECT_EQ(s.rc, AOF_NEXT_END);
    EXPECT_EQ(s.cmds.size(), 2u);
}

} // namespace
