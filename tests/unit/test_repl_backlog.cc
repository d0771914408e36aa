// Unit tests for repl/backlog.c: the backlog ring (wraparound, reads at every
// offset against a model of the whole stream, resize smaller and larger, the
// INFO numbers) and the PSYNC decision (Redis 7.0's
// masterTryPartialResynchronization rules, PSYNC2's replid2 included).
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <string>

extern "C" {
#include "repl/backlog.h"
}

namespace {

std::string join(const rk_slice s[2], int n)
{
    std::string r;
    for (int i = 0; i < n; i++) r.append(s[i].ptr, s[i].len);
    return r;
}

// The model: every byte of the stream since offset 1 (bytes before the
// backlog's creation are 'x').
struct Model {
    backlog *b;
    std::string all;
    Model(long long size, long long start) : b(backlog_create(size, start)), all(start, 'x') {}
    ~Model() { backlog_free(b); }
    void feed(const std::string &s)
    {
        backlog_feed(b, s.data(), s.size());
        all += s;
    }
    // Checks every offset from 0 to the end + 2 against the model.
    void check_all(long long size, long long created_at)
    {
        long long end = (long long)all.size();
        long long fed = end - created_at;
        long long hist = fed < size ? fed : size;
        ASSERT_EQ(backlog_master_repl_offset(b), end);
        ASSERT_EQ(backlog_histlen(b), hist);
        ASSERT_EQ(backlog_first_byte_offset(b), end - hist + 1);
        for (long long off = 0; off <= end + 2; off++) {
            rk_slice s[2];
            int n = backlog_read_from(b, off, s);
            if (off < end - hist + 1 || off > end + 1) {
                ASSERT_EQ(n, -1) << "offset " << off;
                continue;
            }
            ASSERT_GE(n, 0) << "offset " << off;
            ASSERT_LE(n, 2);
            if (off == end + 1) {
                ASSERT_EQ(n, 0);
            }
            for (int i = 0; i < n; i++) ASSERT_GT(s[i].len, 0u);
            ASSERT_EQ(join(s, n), all.substr((size_t)(off - 1))) << "offset " << off;
        }
    }
};

std::string bytes(size_t n, unsigned seed)
{
    std::string s(n, 0);
    for (size_t i = 0; i < n; i++) s[i] = (char)('a' + (seed + i) % 26);
    return s;
}

TEST(ReplBacklog, CreateArguments)
{
    EXPECT_EQ(backlog_create(0, 0), nullptr);
    EXPECT_EQ(backlog_create(-1, 0), nullptr);
    EXPECT_EQ(backlog_create(16, -1), nullptr);
    EXPECT_EQ(REPL_BACKLOG_MIN_SIZE, 16384);
}

TEST(ReplBacklog, InfoNumbersLikeRedis)
{
    // No backlog: Redis prints active 0, first_byte_offset 0, histlen 0.
    EXPECT_EQ(backlog_active(nullptr), 0);
    EXPECT_EQ(backlog_first_byte_offset(nullptr), 0);
    EXPECT_EQ(backlog_histlen(nullptr), 0);
    EXPECT_EQ(backlog_size(nullptr), 0);

    // A fresh master: the first replica creates the backlog at offset 0, so
    // first_byte_offset is 1 and histlen 0 (redis-server 7.0 INFO right
    // after the first replica attached).
    backlog *b = backlog_create(1048576, 0);
    ASSERT_NE(b, nullptr);
    EXPECT_EQ(backlog_active(b), 1);
    EXPECT_EQ(backlog_size(b), 1048576);
    EXPECT_EQ(backlog_first_byte_offset(b), 1);
    EXPECT_EQ(backlog_histlen(b), 0);
    EXPECT_EQ(backlog_master_repl_offset(b), 0);
    // "*1\r\n$4\r\nPING\r\n" (14 bytes), as Redis's replicationCron feeds.
    backlog_feed(b, "*1\r\n$4\r\nPING\r\n", 14);
    EXPECT_EQ(backlog_master_repl_offset(b), 14);
    EXPECT_EQ(backlog_first_byte_offset(b), 1);
    EXPECT_EQ(backlog_histlen(b), 14);
    backlog_free(b);

    // Created later (a backlog freed after repl-backlog-ttl, then a new
    // replica): first_byte_offset = master_repl_offset + 1.
    b = backlog_create(100, 5000);
    EXPECT_EQ(backlog_first_byte_offset(b), 5001);
    EXPECT_EQ(backlog_histlen(b), 0);
    backlog_feed(b, bytes(60, 0).data(), 60);
    EXPECT_EQ(backlog_first_byte_offset(b), 5001);
    EXPECT_EQ(backlog_histlen(b), 60);
    // Wrapped: the newest size bytes.
    backlog_feed(b, bytes(70, 1).data(), 70);
    EXPECT_EQ(backlog_master_repl_offset(b), 5130);
    EXPECT_EQ(backlog_histlen(b), 100);
    EXPECT_EQ(backlog_first_byte_offset(b), 5031);
    // Empty feeds change nothing.
    backlog_feed(b, nullptr, 0);
    EXPECT_EQ(backlog_master_repl_offset(b), 5130);
    backlog_free(b);
}

TEST(ReplBacklog, WraparoundEveryOffset)
{
    // A 7-byte ring fed in pieces of every size 1..20, checked at every
    // offset after each feed.
    for (size_t piece = 1; piece <= 20; piece++) {
        Model m(7, 3);
        ASSERT_NE(m.b, nullptr);
        m.check_all(7, 3);
        for (int i = 0; i < 12; i++) {
            m.feed(bytes(piece, (unsigned)(i * 7 + piece)));
            m.check_all(7, 3);
        }
    }
}

TEST(ReplBacklog, RandomFeedsEveryOffset)
{
    std::mt19937 rng(12345);
    for (int round = 0; round < 50; round++) {
        long long size = 1 + rng() % 33;
        long long start = rng() % 5;
        Model m(size, start);
        for (int i = 0; i < 30; i++) {
            m.feed(bytes(rng() % (2 * size + 2), rng()));
            m.check_all(size, start);
        }
    }
}

TEST(ReplBacklog, FeedLargerThanRing)
{
    Model m(5, 0);
    m.feed(bytes(3, 0));
    m.feed(bytes(23, 9)); // one feed far past the ring
    m.check_all(5, 0);
    rk_slice s[2];
    int n = backlog_read_from(m.b, 22, s);
    ASSERT_EQ(n, 2); // the 5 kept bytes of the big feed wrap past the ring's end
    EXPECT_EQ(join(s, n), m.all.substr(21));
    EXPECT_EQ(backlog_read_from(m.b, 21, s), -1);
}

// Resize: after every combination of fill level, wrap position and new
// size, the newest min(histlen, new) bytes remain and later feeds continue.
TEST(ReplBacklog, ResizeSmallerAndLarger)
{
    for (long long size = 1; size <= 9; size++)
        for (size_t fed = 0; fed <= 25; fed++)
            for (long long ns = 1; ns <= 12; ns++) {
                Model m(size, 10);
                m.feed(bytes(fed, (unsigned)(size + fed)));
                ASSERT_EQ(backlog_resize(m.b, ns), 0);
                long long end = (long long)m.all.size();
                long long hist = std::min<long long>(std::min<long long>((long long)fed, size), ns);
                ASSERT_EQ(backlog_size(m.b), ns);
                ASSERT_EQ(backlog_histlen(m.b), hist);
                ASSERT_EQ(backlog_first_byte_offset(m.b), end - hist + 1);
                rk_slice s[2];
                int n = backlog_read_from(m.b, end - hist + 1, s);
                ASSERT_GE(n, 0);
                ASSERT_EQ(join(s, n), m.all.substr((size_t)(end - hist)));
                ASSERT_EQ(backlog_read_from(m.b, end - hist, s), -1);
                // Feeding after the resize behaves like a ring of ns that
                // held those bytes.
                for (int i = 0; i < 4; i++) {
                    m.feed(bytes(3, (unsigned)i));
                    long long e = (long long)m.all.size();
                    long long h = std::min<long long>(hist + 3 * (i + 1), ns);
                    ASSERT_EQ(backlog_histlen(m.b), h);
                    for (long long off = e - h + 1; off <= e + 1; off++) {
                        n = backlog_read_from(m.b, off, s);
                        ASSERT_GE(n, 0);
                        ASSERT_EQ(join(s, n), m.all.substr((size_t)(off - 1)));
                    }
                    ASSERT_EQ(backlog_read_from(m.b, e - h, s), -1);
                }
            }
}

TEST(ReplBacklog, ResizeArguments)
{
    backlog *b = backlog_create(8, 0);
    backlog_feed(b, "abcdef", 6);
    EXPECT_EQ(backlog_resize(b, 0), -1);
    EXPECT_EQ(backlog_resize(b, -5), -1);
    EXPECT_EQ(backlog_size(b), 8);
    EXPECT_EQ(backlog_histlen(b), 6);
    EXPECT_EQ(backlog_resize(b, 8), 0);
    EXPECT_EQ(backlog_histlen(b), 6);
    backlog_free(b);
    backlog_free(nullptr);
    rk_slice s[2];
    EXPECT_EQ(backlog_read_from(nullptr, 1, s), -1);
}

// ---- PSYNC ------------------------------------------------------------------

const char *ID1 = "1111111111111111111111111111111111111111";
const char *ID2 = "2222222222222222222222222222222222222222";
const char *ZERO = "0000000000000000000000000000000000000000";
const char *OTHER = "abcdefabcdefabcdefabcdefabcdefabcdefabcd";

repl_ids ids_of(const char *id, const char *id2, long long second, long long off)
{
    repl_ids ids;
    memset(&ids, 0, sizeof(ids));
    strcpy(ids.replid, id);
    strcpy(ids.replid2, id2);
    ids.second_repl_offset = second;
    ids.master_repl_offset = off;
    return ids;
}

std::string reply(const psync_decision &d, int psync2, long long off = 0)
{
    char buf[128];
    int n = psync_reply(&d, psync2, off, buf, sizeof(buf));
    EXPECT_GT(n, 0);
    return std::string(buf, n > 0 ? (size_t)n : 0);
}

struct Master {
    backlog *b;
    std::string all;
    repl_ids ids;
    // 100 bytes fed from offset 0 into a 40-byte backlog: it holds 61..100.
    Master() : b(backlog_create(40, 0)), ids(ids_of(ID1, ZERO, -1, 100))
    {
        all = bytes(100, 3);
        backlog_feed(b, all.data(), all.size());
    }
    ~Master() { backlog_free(b); }
};

TEST(ReplPsync, MatchingReplidInRange)
{
    Master m;
    for (long long off = 61; off <= 101; off++) {
        psync_decision d;
        ASSERT_EQ(psync_decide(&m.ids, m.b, ID1, off, &d), PSYNC_CONTINUE) << off;
        EXPECT_EQ(d.reason, PSYNC_OK);
        EXPECT_EQ(d.offset, off);
        EXPECT_STREQ(d.replid, ID1);
        EXPECT_EQ(join(d.data, d.npieces), m.all.substr((size_t)(off - 1)));
    }
    psync_decision d;
    psync_decide(&m.ids, m.b, ID1, 61, &d);
    EXPECT_EQ(reply(d, 1), std::string("+CONTINUE ") + ID1 + "\r\n");
    EXPECT_EQ(reply(d, 0), "+CONTINUE\r\n");
    // Case-insensitive, as strcasecmp.
    repl_ids hex = ids_of("abcdef0000000000000000000000000000000000", ZERO, -1, 100);
    EXPECT_EQ(psync_decide(&hex, m.b, "ABCDEF0000000000000000000000000000000000", 80, &d),
              PSYNC_CONTINUE);
}

TEST(ReplPsync, MatchingReplidOutOfRange)
{
    Master m;
    for (long long off : {-1LL, 0LL, 1LL, 60LL, 102LL, 1000LL}) {
        psync_decision d;
        ASSERT_EQ(psync_decide(&m.ids, m.b, ID1, off, &d), PSYNC_FULLRESYNC) << off;
        EXPECT_EQ(d.reason, PSYNC_NO_BACKLOG);
        EXPECT_EQ(d.offset_ahead, off > 100);
        EXPECT_STREQ(d.replid, ID1);
        EXPECT_EQ(d.offset, 100);
        EXPECT_EQ(reply(d, 1, 100), std::string("+FULLRESYNC ") + ID1 + " 100\r\n");
    }
    // No backlog at all (freed after repl-backlog-ttl).
    psync_decision d;
    EXPECT_EQ(psync_decide(&m.ids, nullptr, ID1, 100, &d), PSYNC_FULLRESYNC);
    EXPECT_EQ(d.reason, PSYNC_NO_BACKLOG);
}

TEST(ReplPsync, UnknownReplid)
{
    Master m;
    psync_decision d;
    EXPECT_EQ(psync_decide(&m.ids, m.b, OTHER, 80, &d), PSYNC_FULLRESYNC);
    EXPECT_EQ(d.reason, PSYNC_ID_MISMATCH);
    EXPECT_EQ(psync_decide(&m.ids, m.b, "", 80, &d), PSYNC_FULLRESYNC);
    EXPECT_EQ(d.reason, PSYNC_ID_MISMATCH);
    EXPECT_EQ(psync_decide(&m.ids, m.b, "1111", 80, &d), PSYNC_FULLRESYNC); // a prefix
    EXPECT_EQ(d.reason, PSYNC_ID_MISMATCH);
}

TEST(ReplPsync, Replid2WithinAndPastSecondOffset)
{
    // A promoted replica: it was at offset 90 of ID2 when it became master
    // ID1 (second_repl_offset = 91: Redis's shiftReplicationId sets it to
    // master_repl_offset + 1), then produced 10 more bytes.
    Master m;
    m.ids = ids_of(ID1, ID2, 91, 100);
    for (long long off = 61; off <= 91; off++) {
        psync_decision d;
        ASSERT_EQ(psync_decide(&m.ids, m.b, ID2, off, &d), PSYNC_CONTINUE) << off;
        EXPECT_STREQ(d.replid, ID1); // the new id is announced
        EXPECT_EQ(join(d.data, d.npieces), m.all.substr((size_t)(off - 1)));
        EXPECT_EQ(reply(d, 1), std::string("+CONTINUE ") + ID1 + "\r\n");
    }
    for (long long off : {92LL, 100LL, 101LL}) {
        psync_decision d;
        ASSERT_EQ(psync_decide(&m.ids, m.b, ID2, off, &d), PSYNC_FULLRESYNC) << off;
        EXPECT_EQ(d.reason, PSYNC_ID2_TOO_FAR);
    }
    // replid2 within second_repl_offset but before the backlog.
    psync_decision d;
    EXPECT_EQ(psync_decide(&m.ids, m.b, ID2, 50, &d), PSYNC_FULLRESYNC);
    EXPECT_EQ(d.reason, PSYNC_NO_BACKLOG);
    // The current id is valid at every offset of the backlog.
    EXPECT_EQ(psync_decide(&m.ids, m.b, ID1, 95, &d), PSYNC_CONTINUE);
    // No replid2 (40 zeros, second_repl_offset -1): a replica naming the
    // zeros id passes the id check only with offset <= -1, then fails on the
    // backlog, as in Redis.
    m.ids = ids_of(ID1, ZERO, -1, 100);
    EXPECT_EQ(psync_decide(&m.ids, m.b, ZERO, 80, &d), PSYNC_FULLRESYNC);
    EXPECT_EQ(d.reason, PSYNC_ID2_TOO_FAR);
    EXPECT_EQ(psync_decide(&m.ids, m.b, ZERO, -1, &d), PSYNC_FULLRESYNC);
    EXPECT_EQ(d.reason, PSYNC_NO_BACKLOG);
}

TEST(ReplPsync, QuestionMarkForcesFullResync)
{
    Master m;
    psync_decision d;
    EXPECT_EQ(psync_decide(&m.ids, m.b, "?", -1, &d), PSYNC_FULLRESYNC);
    EXPECT_EQ(d.reason, PSYNC_FORCED);
    EXPECT_STREQ(d.replid, ID1);
    EXPECT_EQ(reply(d, 1, 100), std::string("+FULLRESYNC ") + ID1 + " 100\r\n");
    // Even with an offset inside the backlog.
    EXPECT_EQ(psync_decide(&m.ids, m.b, "?", 80, &d), PSYNC_FULLRESYNC);
    EXPECT_EQ(d.reason, PSYNC_FORCED);
    // The reply buffer bound.
    char small[10];
    EXPECT_EQ(psync_reply(&d, 1, 100, small, sizeof(small)), -1);
}

} // namespace
