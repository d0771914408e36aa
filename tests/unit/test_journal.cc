// The journal buffer (core/journal.h): SELECT insertion, offsets, units,
// transaction markers, consumers, the retained-bytes bound and release.
#include <gtest/gtest.h>

#include <string>
#include <vector>

extern "C" {
#include "core/journal.h"
}

namespace {

rk_slice S(const char *s) { return rk_slice{s, strlen(s)}; }

std::string resp(std::vector<std::string> args) {
    std::string out = "*" + std::to_string(args.size()) + "\r\n";
    for (auto &a : args) out += "$" + std::to_string(a.size()) + "\r\n" + a + "\r\n";
    return out;
}

std::string sel(int db) { return resp({"SELECT", std::to_string(db)}); }

void append(rk_journal *j, int db, std::vector<const char *> args) {
    std::vector<rk_slice> v;
    for (auto a : args) v.push_back(S(a));
    ASSERT_EQ(0, journal_append_argv(j, db, (int)v.size(), v.data()));
}

std::string pending(rk_journal *j, int id) {
    uint64_t from;
    rk_slice s;
    EXPECT_EQ(JOURNAL_OK, journal_read(j, id, &from, &s));
    return std::string(s.ptr, s.len);
}

struct Journal : ::testing::Test {
    rk_journal j;
    void SetUp() override { journal_init(&j, 1 << 20); }
    void TearDown() override { journal_free(&j); }
};

TEST_F(Journal, OffWithoutConsumers) {
    EXPECT_FALSE(journal_active(&j));
    append(&j, 0, {"SET", "a", "1"});
    journal_unit_begin(&j);
    append(&j, 0, {"SET", "a", "1"});
    EXPECT_EQ(0, journal_unit_end(&j));
    EXPECT_EQ(0, journal_txn_begin(&j, 7, 3));
    EXPECT_EQ(0, journal_txn_end(&j, 7, 3));
    EXPECT_EQ(0u, journal_end(&j));
    EXPECT_EQ(0u, j.buf.len);
    EXPECT_EQ(0u, j.buf.cap); // nothing formatted, nothing allocated
}

TEST_F(Journal, SelectOnlyWhenTheDatabaseChanges) {
    int id = journal_register(&j);
    ASSERT_GE(id, 0);
    append(&j, 0, {"SET", "a", "1"});
    append(&j, 0, {"SET", "b", "2"});
    append(&j, 3, {"DEL", "a"});
    append(&j, 3, {"DEL", "b"});
    append(&j, 0, {"INCR", "c"});
    std::string want = sel(0) + resp({"SET", "a", "1"}) + resp({"SET", "b", "2"}) + sel(3) + resp({"DEL", "a"}) +
                       resp({"DEL", "b"}) + sel(0) + resp({"INCR", "c"});
    EXPECT_EQ(want, pending(&j, id));
    EXPECT_EQ(want.size(), journal_end(&j));
}

TEST_F(Journal, NewConsumerGetsASelect) {
    int a = journal_register(&j);
    append(&j, 0, {"SET", "a", "1"});
    int b = journal_register(&j);
    append(&j, 0, {"SET", "b", "1"});
    EXPECT_EQ(sel(0) + resp({"SET", "b", "1"}), pending(&j, b));
    EXPECT_EQ(sel(0) + resp({"SET", "a", "1"}) + sel(0) + resp({"SET", "b", "1"}), pending(&j, a));
}

TEST_F(Journal, OffsetsAreMonotonicAndReleaseTrims) {
    int id = journal_register(&j);
    uint64_t last = journal_end(&j);
    for (int i = 0; i < 1000; i++) {
        append(&j, 0, {"SET", "k", "v"});
        EXPECT_GT(journal_end(&j), last);
        last = journal_end(&j);
        uint64_t from;
        rk_slice s;
        ASSERT_EQ(JOURNAL_OK, journal_read(&j, id, &from, &s));
        ASSERT_EQ(JOURNAL_OK, journal_release(&j, id, from + s.len));
        // Retained bytes never exceed twice what was appended since the last release.
        EXPECT_LE(j.buf.len, 2 * resp({"SET", "k", "v"}).size() + sel(0).size());
    }
    rk_slice s;
    EXPECT_EQ(JOURNAL_ERANGE, journal_read_from(&j, 0, &s));
    EXPECT_EQ(JOURNAL_OK, journal_read_from(&j, journal_end(&j), &s));
    EXPECT_EQ(0u, s.len);
}

TEST_F(Journal, SlowestConsumerHoldsBytes) {
    int fast = journal_register(&j), slow = journal_register(&j);
    append(&j, 0, {"SET", "a", "1"});
    uint64_t end = journal_end(&j);
    ASSERT_EQ(JOURNAL_OK, journal_release(&j, fast, end));
    EXPECT_EQ(end, j.buf.len); // slow still needs everything
    ASSERT_EQ(JOURNAL_OK, journal_release(&j, slow, end));
    EXPECT_EQ(0u, j.buf.len);
    EXPECT_EQ(end, j.base);
    journal_unregister(&j, fast);
    journal_unregister(&j, slow);
    EXPECT_FALSE(journal_active(&j));
}

TEST(JournalBound, ConsumerBehindTheLimitIsOverrun) {
    rk_journal j;
    journal_init(&j, 1000);
    int lag = journal_register(&j), keep = journal_register(&j);
    std::string val(100, 'x');
    for (int i = 0; i < 50; i++) {
        rk_slice argv[3] = {S("SET"), S("k"), {val.data(), val.size()}};
        ASSERT_EQ(0, journal_append_argv(&j, 0, 3, argv));
        uint64_t from;
        rk_slice s;
        ASSERT_EQ(JOURNAL_OK, journal_read(&j, keep, &from, &s));
        journal_release(&j, keep, from + s.len);
        EXPECT_LE(j.buf.len, 1000u); // the bound holds at every step
    }
    uint64_t from;
    rk_slice s;
    EXPECT_EQ(JOURNAL_EOVERRUN, journal_read(&j, lag, &from, &s));
    EXPECT_EQ(JOURNAL_EOVERRUN, journal_release(&j, lag, 0));
    EXPECT_EQ(JOURNAL_OK, journal_read(&j, keep, &from, &s));
    journal_unregister(&j, lag);
    EXPECT_EQ(JOURNAL_EBADID, journal_read(&j, lag, &from, &s));
    journal_free(&j);
}

TEST_F(Journal, AtMostMaxConsumers) {
    for (int i = 0; i < JOURNAL_MAX_CONSUMERS; i++) EXPECT_GE(journal_register(&j), 0);
    EXPECT_EQ(-1, journal_register(&j));
    journal_unregister(&j, 3);
    EXPECT_EQ(3, journal_register(&j));
    for (int i = 0; i < JOURNAL_MAX_CONSUMERS; i++) journal_unregister(&j, i);
    EXPECT_EQ(0, j.nconsumers);
}

TEST_F(Journal, UnitWrapsMoreThanOneCommandInMultiExec) {
    int id = journal_register(&j);
    journal_unit_begin(&j);
    append(&j, 0, {"SET", "a", "1"});
    EXPECT_EQ(0u, journal_end(&j)); // staged, invisible until the unit ends
    journal_unit_end(&j);
    journal_unit_begin(&j);
    journal_unit_begin(&j); // nested: only the outermost emits
    append(&j, 0, {"SREM", "s", "x"});
    journal_unit_end(&j);
    append(&j, 0, {"SREM", "s", "y"});
    journal_unit_end(&j);
    journal_unit_begin(&j);
    journal_unit_end(&j); // empty: nothing
    EXPECT_EQ(sel(0) + resp({"SET", "a", "1"}) + resp({"MULTI"}) + resp({"SREM", "s", "x"}) +
                  resp({"SREM", "s", "y"}) + resp({"EXEC"}),
              pending(&j, id));
}

TEST_F(Journal, SingleShardTransactionIsAUnit) {
    int id = journal_register(&j);
    journal_txn_begin(&j, 9, 1u << 2);
    journal_txn_begin(&j, 9, 1u << 2); // idempotent
    append(&j, 1, {"SET", "a", "1"});
    append(&j, 1, {"SET", "b", "1"});
    journal_txn_end(&j, 9, 1u << 2);
    EXPECT_EQ(resp({"MULTI"}) + sel(1) + resp({"SET", "a", "1"}) + resp({"SET", "b", "1"}) + resp({"EXEC"}),
              pending(&j, id));
}

TEST_F(Journal, MultiShardTransactionIsFramed) {
    int id = journal_register(&j);
    append(&j, 0, {"SET", "x", "1"});
    journal_txn_begin(&j, 42, 0x5);
    journal_unit_begin(&j); // a command's unit inside the frame: never wrapped
    append(&j, 0, {"SREM", "s", "a"});
    append(&j, 0, {"SREM", "s", "b"});
    journal_unit_end(&j);
    journal_txn_end(&j, 42, 0x5);
    journal_txn_end(&j, 43, 0x6); // never begun: both markers, empty part
    append(&j, 0, {"SET", "y", "1"});
    std::string want = sel(0) + resp({"SET", "x", "1"}) + "#B 42 5\r\n" + sel(0) + resp({"SREM", "s", "a"}) +
                       resp({"SREM", "s", "b"}) + "#E 42\r\n" + "#B 43 6\r\n#E 43\r\n" + sel(0) +
                       resp({"SET", "y", "1"});
    std::string got = pending(&j, id);
    EXPECT_EQ(want, got);

    // The framing reads back record by record.
    std::vector<rk_journal_rec> recs;
    size_t at = 0;
    rk_journal_rec r;
    while (at < got.size()) {
        ASSERT_EQ(1, journal_next_record(got.data() + at, got.size() - at, &r));
        recs.push_back(r);
        at += r.len;
    }
    ASSERT_EQ(11u, recs.size());
    EXPECT_EQ(JREC_TXN_BEGIN, recs[2].type);
    EXPECT_EQ(42u, recs[2].seq);
    EXPECT_EQ(5u, recs[2].mask);
    EXPECT_EQ(JREC_TXN_END, recs[6].type);
    EXPECT_EQ(42u, recs[6].seq);
    EXPECT_EQ(JREC_COMMAND, recs[3].type);
    // Incomplete and malformed input.
    EXPECT_EQ(0, journal_next_record(got.data(), 10, &r));
    EXPECT_EQ(0, journal_next_record("#B 1", 4, &r));
    EXPECT_EQ(-1, journal_next_record("+OK\r\n", 5, &r));
    EXPECT_EQ(-1, journal_next_record("#X 1\r\n", 6, &r));
    EXPECT_EQ(-1, journal_next_record("#E 1 x\r\n", 8, &r));  // trailing bytes
    EXPECT_EQ(-1, journal_next_record("#E -1\r\n", 7, &r));
    // A marker of exactly 64 bytes (its newline at the last byte looked at).
    std::string longest = "#B 1 " + std::string(56, '0') + "3\r\n";
    ASSERT_EQ(64u, longest.size());
    ASSERT_EQ(1, journal_next_record(longest.data(), longest.size(), &r));
    EXPECT_EQ(3u, r.mask);
    EXPECT_EQ(64u, r.len);
    std::string too_long = "#B 1 " + std::string(57, '0') + "3\r\n";
    EXPECT_EQ(-1, journal_next_record(too_long.data(), too_long.size(), &r));
}

TEST_F(Journal, DebugConsumerTakesWhatIsNew) {
    rk_buf out;
    rk_buf_init(&out);
    ASSERT_EQ(0, journal_debug_take(&j, &out)); // registers
    EXPECT_EQ(0u, out.len);
    append(&j, 2, {"DEL", "k"});
    ASSERT_EQ(0, journal_debug_take(&j, &out));
    EXPECT_EQ(sel(2) + resp({"DEL", "k"}), std::string(out.data, out.len));
    rk_buf_clear(&out);
    ASSERT_EQ(0, journal_debug_take(&j, &out));
    EXPECT_EQ(0u, out.len);
    EXPECT_EQ(0u, j.buf.len); // released
    journal_debug_stop(&j);
    EXPECT_FALSE(journal_active(&j));
    rk_buf_free(&out);
}

} // namespace
