// Tests for io/resp.c (request parser, reply scanner), io/reply.c (reply
// writer) and io/buf.c. The parser is checked by feeding every message whole,
// at every two-piece split and byte by byte: all must give identical results.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

extern "C" {
#include "io/buf.h"
#include "io/reply.h"
#include "io/resp.h"
}

namespace {

// A string literal that may hold NUL bytes.
template <size_t N>
std::string S(const char (&lit)[N])
{
    return std::string(lit, N - 1);
}

constexpr int64_t kMaxBulk = 512LL * 1024 * 1024;

std::string Describe(int rc, const resp_args &a, const char *err)
{
    switch (rc) {
    case RESP_EMPTY:
        return "EMPTY";
    case RESP_ERROR:
        return std::string("ERR:") + err;
    case RESP_COMMAND: {
        std::string s = "CMD[";
        for (size_t i = 0; i < a.argc; i++) {
            if (i)
                s += '|';
            s.append(a.argv[i].ptr, a.argv[i].len);
        }
        return s + "]";
    }
    }
    return "?";
}

// Plays a connection: the chunks arrive one by one into a query buffer that
// is reallocated (moved) before every parse call, so stale pointers in the
// parser would show up under ASan. Returns every event plus what is left over.
std::vector<std::string> Feed(const std::vector<std::string> &chunks, int64_t max_bulk = kMaxBulk)
{
    resp_parser p;
    resp_parser_init(&p, max_bulk);
    resp_args args = {};
    std::vector<std::string> events;
    std::string pending;
    bool failed = false;
    for (const std::string &chunk : chunks) {
        if (failed)
            break;
        pending += chunk;
        for (;;) {
            // A fresh copy each call: the caller's buffer moves.
            char *moved = static_cast<char *>(malloc(pending.size() + 1));
            memcpy(moved, pending.data(), pending.size());
            size_t consumed = 0, hint = 0;
            const char *err = nullptr;
            int rc = resp_parse_command(&p, moved, pending.size(), &args, &consumed, &hint, &err);
            if (rc == RESP_NEED_MORE) {
                free(moved);
                break;
            }
            if (rc == RESP_COMMAND) {
                for (size_t i = 0; i < args.argc; i++) {
                    // Multibulk arguments point into the caller's buffer.
                    if (moved[0] == '*') {
                        EXPECT_GE(args.argv[i].ptr, moved);
                        EXPECT_LE(args.argv[i].ptr + args.argv[i].len, moved + consumed);
                    }
                }
            }
            events.push_back(Describe(rc, args, err));
            free(moved);
            if (rc == RESP_ERROR) {
                failed = true;
                break;
            }
            EXPECT_GT(consumed, 0u);
            EXPECT_LE(consumed, pending.size());
            pending.erase(0, consumed);
        }
    }
    if (!failed)
        events.push_back("LEFT:" + std::to_string(pending.size()));
    resp_args_free(&args);
    return events;
}

// Every way of cutting msg in two, and one byte at a time, must agree with
// feeding it whole.
void ExpectSplitInvariant(const std::string &msg, const std::vector<std::string> &want,
                          int64_t max_bulk = kMaxBulk)
{
    std::vector<std::string> whole = Feed({msg}, max_bulk);
    ASSERT_EQ(whole, want) << "message: " << msg.substr(0, 80);
    size_t step = msg.size() > 4096 ? 997 : 1; // big messages: sample cut points
    for (size_t cut = 0; cut <= msg.size(); cut += step)
        ASSERT_EQ(Feed({msg.substr(0, cut), msg.substr(cut)}, max_bulk), whole)
            << "cut at " << cut << " of " << msg.substr(0, 80);
    for (size_t a = 0; msg.size() <= 200 && a <= msg.size(); a++)
        for (size_t b = a; b <= msg.size(); b += 7)
            ASSERT_EQ(Feed({msg.substr(0, a), msg.substr(a, b - a), msg.substr(b)}, max_bulk), whole)
                << "cuts at " << a << "," << b;
    if (msg.size() <= 5000) {
        std::vector<std::string> bytes;
        for (char c : msg)
            bytes.emplace_back(1, c);
        ASSERT_EQ(Feed(bytes, max_bulk), whole) << "byte by byte";
    }
}

using V = std::vector<std::string>;

TEST(RespParse, Multibulk)
{
    ExpectSplitInvariant("*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n",
                         V{"CMD[SET|key|value]", "LEFT:0"});
    ExpectSplitInvariant("*1\r\n$0\r\n\r\n", V{"CMD[]", "LEFT:0"});
    ExpectSplitInvariant(S("*2\r\n$3\r\na\0b\r\n$2\r\n\r\n\r\n"),
                         V{S("CMD[a\0b|\r\n]"), "LEFT:0"});
}

TEST(RespParse, EmptyCommands)
{
    ExpectSplitInvariant("*0\r\n", V{"EMPTY", "LEFT:0"});
    ExpectSplitInvariant("*-1\r\n", V{"EMPTY", "LEFT:0"});
    ExpectSplitInvariant("*-7\r\n", V{"EMPTY", "LEFT:0"});
    ExpectSplitInvariant("\r\n", V{"EMPTY", "LEFT:0"});
    ExpectSplitInvariant("\n", V{"EMPTY", "LEFT:0"});
    ExpectSplitInvariant("   \t \r\n", V{"EMPTY", "LEFT:0"});
}

TEST(RespParse, Inline)
{
    ExpectSplitInvariant("PING\r\n", V{"CMD[PING]", "LEFT:0"});
    ExpectSplitInvariant("PING\n", V{"CMD[PING]", "LEFT:0"});
    ExpectSplitInvariant("  SET  key   value \r\n", V{"CMD[SET|key|value]", "LEFT:0"});
    ExpectSplitInvariant("GET k", V{"LEFT:5"});
    // An embedded NUL ends the line for Redis too.
    ExpectSplitInvariant(S("GET a\0b c\r\n"), V{"CMD[GET|a]", "LEFT:0"});
}

TEST(RespParse, InlineQuotes)
{
    ExpectSplitInvariant("SET \"a b\" 'c d'\r\n", V{"CMD[SET|a b|c d]", "LEFT:0"});
    ExpectSplitInvariant("ECHO \"\\x41\\x4a\\n\\t\\r\\b\\a\\\\\\\"\\q\"\r\n",
                         V{"CMD[ECHO|AJ\n\t\r\b\a\\\"q]", "LEFT:0"});
    ExpectSplitInvariant("ECHO \"\\x4\" \"\\xzz\"\r\n", V{"CMD[ECHO|x4|xzz]", "LEFT:0"});
    ExpectSplitInvariant("ECHO 'it\\'s' 'a\\nb'\r\n", V{"CMD[ECHO|it's|a\\nb]", "LEFT:0"});
    ExpectSplitInvariant("ECHO \"\" ''\r\n", V{"CMD[ECHO||]", "LEFT:0"});
    ExpectSplitInvariant("a\"b c\" x\r\n", V{"CMD[ab c|x]", "LEFT:0"});
    ExpectSplitInvariant("ECHO \"a\"b\r\n", V{"ERR:Protocol error: unbalanced quotes in request"});
    ExpectSplitInvariant("ECHO 'a'b\r\n", V{"ERR:Protocol error: unbalanced quotes in request"});
    ExpectSplitInvariant("ECHO \"abc\r\n", V{"ERR:Protocol error: unbalanced quotes in request"});
    ExpectSplitInvariant("ECHO 'abc\n", V{"ERR:Protocol error: unbalanced quotes in request"});
    ExpectSplitInvariant("ECHO \"abc\\\"\r\n", V{"ERR:Protocol error: unbalanced quotes in request"});
}

TEST(RespParse, BigBulk)
{
    std::string value(100000, 'v');
    for (size_t i = 0; i < value.size(); i++)
        value[i] = static_cast<char>('a' + i % 26);
    std::string msg = "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$100000\r\n" + value + "\r\n";
    ExpectSplitInvariant(msg, V{"CMD[SET|k|" + value + "]", "LEFT:0"});
}

TEST(RespParse, BigBulkHint)
{
    std::string head = "*2\r\n$3\r\nSET\r\n$40000\r\n";
    std::string msg = head + std::string(40000, 'x') + "\r\n";
    resp_parser p;
    resp_parser_init(&p, kMaxBulk);
    resp_args args = {};
    size_t consumed = 0, hint = 0;
    const char *err = nullptr;
    EXPECT_EQ(resp_parse_command(&p, msg.data(), head.size() + 10, &args, &consumed, &hint, &err),
              RESP_NEED_MORE);
    EXPECT_EQ(hint, msg.size());
    EXPECT_EQ(resp_parse_command(&p, msg.data(), msg.size() - 1, &args, &consumed, &hint, &err),
              RESP_NEED_MORE);
    EXPECT_EQ(hint, msg.size());
    EXPECT_EQ(resp_parse_command(&p, msg.data(), msg.size(), &args, &consumed, &hint, &err),
              RESP_COMMAND);
    EXPECT_EQ(consumed, msg.size());
    EXPECT_EQ(args.argc, 2u);
    EXPECT_EQ(args.argv[1].len, 40000u);
    // Small bulks give no hint.
    resp_parser_init(&p, kMaxBulk);
    std::string small = "*1\r\n$100\r\nabc";
    EXPECT_EQ(resp_parse_command(&p, small.data(), small.size(), &args, &consumed, &hint, &err),
              RESP_NEED_MORE);
    EXPECT_EQ(hint, 0u);
    resp_args_free(&args);
}

TEST(RespParse, Pipeline)
{
    std::string msg = "*1\r\n$4\r\nPING\r\n"
                      "PING\r\n"
                      "*0\r\n"
                      "\r\n"
                      "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"
                      "SET \"x y\" 1\n"
                      "*3\r\n$3\r\nSET\r\n$1\r\na\r\n$2\r\nbb\r\n"
                      "*2\r\n$3\r\nGET";
    ExpectSplitInvariant(msg, V{"CMD[PING]", "CMD[PING]", "EMPTY", "EMPTY", "CMD[GET|k]",
                                "CMD[SET|x y|1]", "CMD[SET|a|bb]", "LEFT:11"});
    std::string many;
    V want;
    for (int i = 0; i < 16; i++) {
        std::string key = "key:" + std::to_string(i);
        many += "*2\r\n$3\r\nGET\r\n$" + std::to_string(key.size()) + "\r\n" + key + "\r\n";
        want.push_back("CMD[GET|" + key + "]");
    }
    want.push_back("LEFT:0");
    ExpectSplitInvariant(many, want);
}

TEST(RespParse, Errors)
{
    const std::string mbulk = "ERR:Protocol error: invalid multibulk length";
    const std::string bulk = "ERR:Protocol error: invalid bulk length";
    ExpectSplitInvariant("*abc\r\n", V{mbulk});
    ExpectSplitInvariant("*\r\n", V{mbulk});
    ExpectSplitInvariant("*01\r\n", V{mbulk});
    ExpectSplitInvariant("*+1\r\n", V{mbulk});
    ExpectSplitInvariant("* 1\r\n", V{mbulk});
    ExpectSplitInvariant("*2147483648\r\n", V{mbulk});  /* above INT_MAX, as Redis */
    ExpectSplitInvariant("*11\r\n", V{"LEFT:5"});
    ExpectSplitInvariant("*99999999999999999999999\r\n", V{mbulk});
    ExpectSplitInvariant("*1048576\r\n", V{"LEFT:10"});
    ExpectSplitInvariant("*1\r\n$-1\r\n", V{bulk});
    ExpectSplitInvariant("*1\r\n$abc\r\n", V{bulk});
    ExpectSplitInvariant("*1\r\n$01\r\n", V{bulk});
    ExpectSplitInvariant("*1\r\n$\r\n", V{bulk});
    ExpectSplitInvariant("*1\r\nfoo\r\n", V{"ERR:Protocol error: expected '$', got 'f'"});
    ExpectSplitInvariant("*2\r\n$1\r\na\r\n*1\r\n", V{"ERR:Protocol error: expected '$', got '*'"});
    ExpectSplitInvariant("*1\r\n\r\n", V{"ERR:Protocol error: expected '$', got '\r'"});
    // Bulk longer than proto-max-bulk-len is refused from its header alone.
    ExpectSplitInvariant("*1\r\n$101\r\n", V{bulk}, 100);
    ExpectSplitInvariant("*1\r\n$100\r\n", V{"LEFT:10"}, 100);
    ExpectSplitInvariant("*1\r\n$4294967296000\r\n", V{bulk});
    // Errors after a good command still deliver the good one first.
    ExpectSplitInvariant("PING\r\n*x\r\n", V{"CMD[PING]", mbulk});
}

TEST(RespParse, TooLongLines)
{
    std::string long_inline(RESP_MAX_INLINE + 1, 'a');
    ExpectSplitInvariant(long_inline, V{"ERR:Protocol error: too big inline request"});
    ExpectSplitInvariant(long_inline + "\r\n", V{"ERR:Protocol error: too big inline request"});
    std::string ok_inline(RESP_MAX_INLINE - 1, 'a');
    ExpectSplitInvariant(ok_inline + "\r\n", V{"CMD[" + ok_inline + "]", "LEFT:0"});
    std::string digits(RESP_MAX_HEADER_LINE + 10, '1');
    ExpectSplitInvariant("*" + digits, V{"ERR:Protocol error: too big mbulk count string"});
    ExpectSplitInvariant("*1\r\n$" + digits, V{"ERR:Protocol error: too big bulk count string"});
    ExpectSplitInvariant("*1\r\n$" + digits + "\r\n", V{"ERR:Protocol error: too big bulk count string"});
}

TEST(RespParse, ArgsReusedAcrossCommands)
{
    resp_parser p;
    resp_parser_init(&p, kMaxBulk);
    resp_args args = {};
    size_t consumed = 0;
    const char *err = nullptr;
    std::string big = "*2000";
    big += "\r\n";
    for (int i = 0; i < 2000; i++)
        big += "$1\r\nx\r\n";
    ASSERT_EQ(resp_parse_command(&p, big.data(), big.size(), &args, &consumed, nullptr, &err),
              RESP_COMMAND);
    EXPECT_EQ(args.argc, 2000u);
    EXPECT_EQ(consumed, big.size());
    std::string in = "a b c\r\n";
    ASSERT_EQ(resp_parse_command(&p, in.data(), in.size(), &args, &consumed, nullptr, &err),
              RESP_COMMAND);
    EXPECT_EQ(args.argc, 3u);
    resp_args_free(&args);
    resp_args_free(&args); // idempotent
}

// ---- reply scanner ----

const std::vector<std::string> &SampleReplies()
{
    static const std::vector<std::string> replies = {
        "+OK\r\n",
        "-ERR unknown command\r\n",
        ":0\r\n",
        ":-12345\r\n",
        "$5\r\nhello\r\n",
        "$0\r\n\r\n",
        "$-1\r\n",
        S("$4\r\n\r\n\0\n\r\n"),
        "*-1\r\n",
        "*0\r\n",
        "*2\r\n$3\r\nfoo\r\n:1\r\n",
        "*2\r\n*1\r\n+a\r\n*0\r\n",
        "%2\r\n+a\r\n:1\r\n+b\r\n*1\r\n$1\r\nx\r\n",
        "~3\r\n:1\r\n:2\r\n:3\r\n",
        ">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n",
        ",1.5\r\n",
        ",inf\r\n",
        "#t\r\n",
        "_\r\n",
        "(3492890328409238509324850943850943825024385\r\n",
        "=15\r\ntxt:Some string\r\n",
        "!21\r\nSYNTAX invalid syntax\r\n",
        "|1\r\n+key-popularity\r\n%1\r\n$1\r\na\r\n,0.19\r\n*1\r\n:1\r\n",
        "*3\r\n%1\r\n~1\r\n_\r\n#f\r\n*1\r\n*1\r\n*1\r\n$-1\r\n,-inf\r\n",
    };
    return replies;
}

TEST(RespReplyLen, EveryTypeAndEveryPrefix)
{
    for (const std::string &r : SampleReplies()) {
        EXPECT_EQ(resp_reply_len(r.data(), r.size()), static_cast<int64_t>(r.size())) << r;
        for (size_t cut = 0; cut < r.size(); cut++)
            EXPECT_EQ(resp_reply_len(r.data(), cut), 0) << r << " cut at " << cut;
        std::string two = r + "+NEXT\r\n";
        EXPECT_EQ(resp_reply_len(two.data(), two.size()), static_cast<int64_t>(r.size())) << r;
    }
    std::string all;
    for (const std::string &r : SampleReplies())
        all += r;
    size_t off = 0, count = 0;
    while (off < all.size()) {
        int64_t n = resp_reply_len(all.data() + off, all.size() - off);
        ASSERT_GT(n, 0);
        off += static_cast<size_t>(n);
        count++;
    }
    EXPECT_EQ(count, SampleReplies().size());
}

TEST(RespReplyLen, Malformed)
{
    for (const char *bad : {"?x\r\n", "$abc\r\n", "$3\r\nabcde\r\n", "*x\r\n", "+OK\rX",
                            "$-2\r\n", "*-2\r\n", "%-1\r\n", "=-1\r\n", "$01\r\n"})
        EXPECT_EQ(resp_reply_len(bad, strlen(bad)), -1) << bad;
    // A count that cannot fit in the bytes at hand is simply incomplete.
    const char *huge = "*9999999999\r\n:1\r\n";
    EXPECT_EQ(resp_reply_len(huge, strlen(huge)), 0);
}

// ---- reply writer ----

std::string Write(int resp, void (*fn)(rk_reply *))
{
    rk_buf b;
    rk_buf_init(&b);
    rk_reply r = {&b, resp};
    fn(&r);
    std::string s(b.data ? b.data : "", b.len);
    rk_buf_free(&b);
    return s;
}

#define EXPECT_REPLY(resp, want, ...)                                        \
    EXPECT_EQ(Write(resp, [](rk_reply *r) { __VA_ARGS__; }), std::string(want))

TEST(ReplyWriter, Scalars)
{
    for (int resp : {2, 3}) {
        EXPECT_REPLY(resp, "+OK\r\n", reply_ok(r));
        EXPECT_REPLY(resp, "+PONG\r\n", reply_simple(r, "PONG"));
        EXPECT_REPLY(resp, "-ERR syntax error\r\n", reply_error(r, "ERR syntax error"));
        EXPECT_REPLY(resp, "-WRONGTYPE x\r\n", reply_error(r, "-WRONGTYPE x"));
        EXPECT_REPLY(resp, "-ERR a  b\r\n", reply_error(r, "ERR a\r\nb"));
        EXPECT_REPLY(resp, "-ERR unknown command 'foo'\r\n",
                     reply_errorf(r, "ERR unknown command '%s'", "foo"));
        EXPECT_REPLY(resp, ":-9223372036854775808\r\n", reply_int(r, INT64_MIN));
        EXPECT_REPLY(resp, ":42\r\n", reply_int(r, 42));
        EXPECT_REPLY(resp, "$5\r\nhello\r\n", reply_bulk(r, "hello", 5));
        EXPECT_REPLY(resp, "$0\r\n\r\n", reply_bulk(r, "", 0));
        EXPECT_REPLY(resp, "$3\r\nabc\r\n", reply_bulk_str(r, "abc"));
        EXPECT_REPLY(resp, "$4\r\n-123\r\n", reply_bulk_int(r, -123));
        EXPECT_REPLY(resp, "*3\r\n", reply_array(r, 3));
    }
    std::string big(300, 'e');
    rk_buf b;
    rk_buf_init(&b);
    rk_reply r = {&b, 2};
    ASSERT_EQ(reply_errorf(&r, "ERR %s", big.c_str()), 0);
    EXPECT_EQ(std::string(b.data, b.len), "-ERR " + big + "\r\n");
    rk_buf_free(&b);
}

TEST(ReplyWriter, Resp2)
{
    EXPECT_REPLY(2, "$-1\r\n", reply_null(r));
    EXPECT_REPLY(2, "*-1\r\n", reply_null_array(r));
    EXPECT_REPLY(2, "*4\r\n", reply_map(r, 2));
    EXPECT_REPLY(2, "*2\r\n", reply_set(r, 2));
    EXPECT_REPLY(2, "*3\r\n", reply_push(r, 3));
    EXPECT_REPLY(2, "$3\r\n1.5\r\n", reply_double(r, 1.5));
    EXPECT_REPLY(2, "$19\r\n0.10000000000000001\r\n", reply_double(r, 0.1));
    EXPECT_REPLY(2, "$3\r\ninf\r\n", reply_double(r, INFINITY));
    EXPECT_REPLY(2, "$4\r\n-inf\r\n", reply_double(r, -INFINITY));
    EXPECT_REPLY(2, "$1\r\n0\r\n", reply_double(r, 0.0));
    EXPECT_REPLY(2, ":1\r\n", reply_bool(r, 1));
    EXPECT_REPLY(2, ":0\r\n", reply_bool(r, 0));
    EXPECT_REPLY(2, "$5\r\nhello\r\n", reply_verbatim(r, "hello", 5, "txt"));
}

TEST(ReplyWriter, Resp3)
{
    EXPECT_REPLY(3, "_\r\n", reply_null(r));
    EXPECT_REPLY(3, "_\r\n", reply_null_array(r));
    EXPECT_REPLY(3, "%2\r\n", reply_map(r, 2));
    EXPECT_REPLY(3, "~2\r\n", reply_set(r, 2));
    EXPECT_REPLY(3, ">3\r\n", reply_push(r, 3));
    EXPECT_REPLY(3, ",1.5\r\n", reply_double(r, 1.5));
    EXPECT_REPLY(3, ",1.0000000000000001e+300\r\n", reply_double(r, 1e300));
    EXPECT_REPLY(3, ",inf\r\n", reply_double(r, INFINITY));
    EXPECT_REPLY(3, ",-inf\r\n", reply_double(r, -INFINITY));
    EXPECT_REPLY(3, ",nan\r\n", reply_double(r, NAN));
    EXPECT_REPLY(3, ",nan\r\n", reply_double(r, -NAN));
    EXPECT_REPLY(3, "#t\r\n", reply_bool(r, 1));
    EXPECT_REPLY(3, "#f\r\n", reply_bool(r, 0));
    EXPECT_REPLY(3, "=9\r\ntxt:hello\r\n", reply_verbatim(r, "hello", 5, "txt"));
    EXPECT_REPLY(3, "=7\r\nmkd:# t\r\n", reply_verbatim(r, "# t", 3, "mkd"));
    EXPECT_REPLY(3, "=4\r\ntxt:\r\n", reply_verbatim(r, "", 0, nullptr));
}

TEST(ReplyWriter, Deferred)
{
    // Same size, larger and smaller headers than the placeholder.
    EXPECT_REPLY(2, "*2\r\n:1\r\n:2\r\n", {
        int64_t h = reply_deferred(r);
        reply_int(r, 1);
        reply_int(r, 2);
        reply_set_deferred_array(r, h, 2);
    });
    EXPECT_REPLY(2, "+a\r\n*12\r\n:7\r\n", {
        reply_simple(r, "a");
        int64_t h = reply_deferred(r);
        reply_int(r, 7);
        reply_set_deferred_array(r, h, 12);
    });
    EXPECT_REPLY(3, "%1\r\n+k\r\n+v\r\n", {
        int64_t h = reply_deferred(r);
        reply_simple(r, "k");
        reply_simple(r, "v");
        reply_set_deferred_map(r, h, 1);
    });
    EXPECT_REPLY(2, "*2\r\n+k\r\n+v\r\n", {
        int64_t h = reply_deferred(r);
        reply_simple(r, "k");
        reply_simple(r, "v");
        reply_set_deferred_map(r, h, 1);
    });
    EXPECT_REPLY(3, "~0\r\n", {
        int64_t h = reply_deferred(r);
        reply_set_deferred_set(r, h, 0);
    });
    EXPECT_REPLY(2, "*0\r\n", {
        int64_t h = reply_deferred(r);
        reply_set_deferred_set(r, h, 0);
    });
    // Nested deferred aggregates, inner one set first.
    EXPECT_REPLY(2, "*2\r\n*123456\r\n:1\r\n", {
        int64_t outer = reply_deferred(r);
        int64_t inner = reply_deferred(r);
        reply_int(r, 1);
        reply_set_deferred_array(r, inner, 123456);
        reply_set_deferred_array(r, outer, 2);
    });
}

TEST(ReplyWriter, Bulk100AndScannerAgree)
{
    rk_buf b;
    rk_buf_init(&b);
    rk_reply r = {&b, 3};
    ASSERT_EQ(reply_array(&r, 100), 0);
    for (int i = 0; i < 100; i++)
        ASSERT_EQ(reply_bulk_int(&r, i * 1000), 0);
    EXPECT_EQ(resp_reply_len(b.data, b.len), static_cast<int64_t>(b.len));
    rk_buf_free(&b);
}

TEST(FormatNumbers, Double)
{
    char buf[64];
    EXPECT_EQ(rk_fmt_double(buf, sizeof(buf), 3.0), 1);
    EXPECT_STREQ(buf, "3");
    rk_fmt_double(buf, sizeof(buf), -0.0);
    EXPECT_STREQ(buf, "-0");
    rk_fmt_double(buf, sizeof(buf), 1.0 / 3);
    EXPECT_STREQ(buf, "0.33333333333333331");
    EXPECT_EQ(rk_fmt_double(buf, 3, 1.5), 0);
}

TEST(FormatNumbers, LongDoubleLikeIncrbyfloat)
{
    struct {
        long double v;
        const char *want;
    } cases[] = {
        {10.5L, "10.5"},        {3.0L, "3"},   {0.1L + 0.2L, "0.3"}, {-0.0L, "0"},
        {5.0e3L, "5000"},       {-1.25L, "-1.25"},  {1e-20L, "0"},
        {INFINITY, "inf"},      {-INFINITY, "-inf"}, {10.5L + 0.1L, "10.6"},
        {1.0e17L, "100000000000000000"},
    };
    char buf[5 * 1024];
    for (const auto &c : cases) {
        int n = rk_fmt_long_double(buf, sizeof(buf), c.v);
        EXPECT_STREQ(buf, c.want);
        EXPECT_EQ(n, static_cast<int>(strlen(c.want)));
    }
    EXPECT_EQ(rk_fmt_long_double(buf, 4, 12345.0L), 0);
}

// ---- buffers ----

TEST(Buf, GrowConsumeShrink)
{
    rk_buf b;
    rk_buf_init(&b);
    EXPECT_EQ(b.data, nullptr);
    ASSERT_EQ(rk_buf_append_str(&b, "hello "), 0);
    ASSERT_EQ(rk_buf_printf(&b, "%s %d", "world", 42), 0);
    EXPECT_EQ(std::string(b.data, b.len), "hello world 42");
    std::string big(1000, 'z');
    ASSERT_EQ(rk_buf_printf(&b, "%s", big.c_str()), 0);
    EXPECT_EQ(b.len, 14u + 1000u);
    rk_buf_consume(&b, 6);
    EXPECT_EQ(std::string(b.data, 8), "world 42");
    rk_buf_consume(&b, b.len);
    EXPECT_EQ(b.len, 0u);
    rk_buf_shrink(&b, 0);
    EXPECT_EQ(b.data, nullptr);
    EXPECT_EQ(b.cap, 0u);
    ASSERT_EQ(rk_buf_append(&b, "abc", 3), 0);
    rk_buf_shrink(&b, 2);
    EXPECT_EQ(b.cap, 3u);
    rk_buf_clear(&b);
    EXPECT_EQ(b.len, 0u);
    EXPECT_EQ(rk_buf_reserve(&b, SIZE_MAX), -1);
    EXPECT_EQ(b.cap, 3u);
    rk_buf_free(&b);
}

TEST(Buf, SliceEqNocase)
{
    EXPECT_TRUE(rk_slice_eq_nocase(RK_SLICE("SeT"), "set"));
    EXPECT_FALSE(rk_slice_eq_nocase(RK_SLICE("SETX"), "set"));
    EXPECT_TRUE(rk_slice_eq_nocase(rk_slice{nullptr, 0}, ""));
}

} // namespace
