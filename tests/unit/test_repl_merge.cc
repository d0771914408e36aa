// Unit tests for repl/merge.c: N shard journal streams merged into one Redis
// replication stream (SELECT per merged database, multi-shard transactions
// whole inside MULTI/EXEC once every participant is in, single-shard units
// contiguous, offsets, the pending bound, malformed input), fed split at
// every byte, and streams written by the real journal.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

extern "C" {
#include "core/journal.h"
#include "repl/merge.h"
}

namespace {

std::string cmd(const std::vector<std::string> &argv)
{
    std::string s = "*" + std::to_string(argv.size()) + "\r\n";
    for (const auto &a : argv) s += "$" + std::to_string(a.size()) + "\r\n" + a + "\r\n";
    return s;
}
std::string sel(int db) { return cmd({"SELECT", std::to_string(db)}); }
std::string set(const std::string &k, const std::string &v = "v") { return cmd({"SET", k, v}); }
std::string B(uint64_t seq, uint64_t mask)
{
    char b[64];
    snprintf(b, sizeof(b), "#B %llu %llx\r\n", (unsigned long long)seq, (unsigned long long)mask);
    return b;
}
std::string E(uint64_t seq) { return "#E " + std::to_string(seq) + "\r\n"; }
const std::string MULTI = cmd({"MULTI"});
const std::string EXEC = cmd({"EXEC"});

struct Merge {
    repl_merge *m;
    rk_buf out;
    uint64_t taken = 0; // bytes drained from out before
    Merge(int n, size_t bound = 1 << 20) : m(repl_merge_new(n, bound)) { rk_buf_init(&out); }
    ~Merge()
    {
        repl_merge_free(m);
        rk_buf_free(&out);
    }
    int feed(int shard, const std::string &s) { return repl_merge_feed(m, shard, s.data(), s.size()); }
    // Steps and returns what the step emitted.
    std::string step()
    {
        size_t before = out.len;
        EXPECT_EQ(repl_merge_step(m, &out), REPL_MERGE_OK) << repl_merge_error(m);
        return std::string(out.data + before, out.len - before);
    }
    std::string all() const { return std::string(out.data ? out.data : "", out.len); }
};

TEST(ReplMerge, NewRejectsBadArguments)
{
    EXPECT_EQ(repl_merge_new(0, 100), nullptr);
    EXPECT_EQ(repl_merge_new(65, 100), nullptr);
    EXPECT_EQ(repl_merge_new(2, 0), nullptr);
    repl_merge *m = repl_merge_new(64, 100);
    ASSERT_NE(m, nullptr);
    EXPECT_EQ(repl_merge_offset(m), 0u);
    EXPECT_EQ(repl_merge_blocked(m), 0);
    repl_merge_free(m);
    repl_merge_free(nullptr);
}

TEST(ReplMerge, ForcedSelectAndShardSelectsNotCopied)
{
    Merge g(1);
    ASSERT_EQ(g.feed(0, sel(0) + set("a") + sel(0) + set("b")), 0);
    EXPECT_EQ(g.step(), sel(0) + set("a") + set("b"));
    ASSERT_EQ(g.feed(0, sel(0) + set("c") + sel(5) + set("d") + sel(5) + set("e")), 0);
    EXPECT_EQ(g.step(), set("c") + sel(5) + set("d") + set("e"));
    EXPECT_EQ(repl_merge_offset(g.m), g.all().size());
    EXPECT_EQ(g.step(), "");
}

TEST(ReplMerge, SelectInsertedAcrossShards)
{
    Merge g(3);
    ASSERT_EQ(g.feed(0, sel(0) + set("a")), 0);
    ASSERT_EQ(g.feed(1, sel(1) + set("b")), 0);
    ASSERT_EQ(g.feed(2, sel(0) + set("c")), 0);
    // round robin from shard 0
    EXPECT_EQ(g.step(), sel(0) + set("a") + sel(1) + set("b") + sel(0) + set("c"));
    // the merged stream is in db 0: shard 0 (still db 0) needs none
    ASSERT_EQ(g.feed(0, set("d")), 0);
    EXPECT_EQ(g.step(), set("d"));
    ASSERT_EQ(g.feed(1, set("e")), 0);
    EXPECT_EQ(g.step(), sel(1) + set("e"));
    // a shard switching database on its own
    ASSERT_EQ(g.feed(2, sel(1) + set("f")), 0);
    EXPECT_EQ(g.step(), set("f"));
    // large database numbers use the same formatting
    ASSERT_EQ(g.feed(2, sel(12345) + set("g")), 0);
    EXPECT_EQ(g.step(), "*2\r\n$6\r\nSELECT\r\n$5\r\n12345\r\n" + set("g"));
}

TEST(ReplMerge, TwoShardTransactionWaitsForItsLastParticipant)
{
    Merge g(2);
    ASSERT_EQ(g.feed(0, sel(0) + B(5, 3) + sel(0) + set("a") + E(5) + sel(0) + set("after0")), 0);
    EXPECT_EQ(g.step(), "");
    EXPECT_EQ(repl_merge_blocked(g.m), 1);
    // shard 1's earlier commands flow; shard 0's after #E do not
    ASSERT_EQ(g.feed(1, sel(0) + set("pre1")), 0);
    EXPECT_EQ(g.step(), sel(0) + set("pre1"));
    EXPECT_EQ(repl_merge_blocked(g.m), 1);
    // shard 1 reaches #B but its part is not whole yet
    ASSERT_EQ(g.feed(1, B(5, 3) + sel(1) + set("b")), 0);
    EXPECT_EQ(g.step(), "");
    EXPECT_EQ(repl_merge_blocked(g.m), 1);
    ASSERT_EQ(g.feed(1, E(5)), 0);
    EXPECT_EQ(g.step(), MULTI + set("a") + sel(1) + set("b") + EXEC + sel(0) + set("after0"));
    EXPECT_EQ(repl_merge_blocked(g.m), 0);
    EXPECT_EQ(repl_merge_offset(g.m), g.all().size());
    EXPECT_EQ(repl_merge_pending(g.m, 0), 0u);
    EXPECT_EQ(repl_merge_pending(g.m, 1), 0u);
}

TEST(ReplMerge, ThreeShardTransactionOthersKeepFlowing)
{
    Merge g(4);
    ASSERT_EQ(g.feed(0, sel(0) + set("x0") + B(7, 7) + sel(0) + set("a") + E(7) + sel(0) + set("y0")), 0);
    ASSERT_EQ(g.feed(1, sel(0) + B(7, 7) + sel(0) + set("b") + set("b2") + E(7)), 0);
    ASSERT_EQ(g.feed(2, sel(0) + set("x2")), 0);
    ASSERT_EQ(g.feed(3, sel(0) + set("i1")), 0);
    EXPECT_EQ(g.step(), sel(0) + set("x0") + set("x2") + set("i1"));
    EXPECT_EQ(repl_merge_blocked(g.m), 1);
    ASSERT_EQ(g.feed(3, set("i2")), 0); // an independent shard is not held
    EXPECT_EQ(g.step(), set("i2"));
    ASSERT_EQ(g.feed(2, B(7, 7) + sel(0) + set("c") + E(7) + sel(0) + set("y2")), 0);
    std::string got = g.step();
    std::string txn = MULTI + set("a") + set("b") + set("b2") + set("c") + EXEC;
    ASSERT_EQ(got.substr(0, txn.size()), txn);
    std::string rest = got.substr(txn.size());
    EXPECT_TRUE(rest == set("y0") + set("y2") || rest == set("y2") + set("y0")) << rest;
    EXPECT_EQ(repl_merge_blocked(g.m), 0);
}

TEST(ReplMerge, LowerTransactionFirstThenNext)
{
    // shard 1 is in transaction 3 (with 2) before transaction 4 (with 0)
    Merge g(3);
    ASSERT_EQ(g.feed(0, sel(0) + B(4, 3) + sel(0) + set("t4a") + E(4)), 0);
    ASSERT_EQ(g.feed(1, sel(0) + B(3, 6) + sel(0) + set("t3b") + E(3) + B(4, 3) + sel(0) + set("t4b") + E(4)), 0);
    EXPECT_EQ(g.step(), "");
    EXPECT_EQ(repl_merge_blocked(g.m), 1);
    ASSERT_EQ(g.feed(2, sel(0) + B(3, 6) + sel(0) + set("t3c") + E(3)), 0);
    EXPECT_EQ(g.step(), MULTI + sel(0) + set("t3b") + set("t3c") + EXEC + MULTI + set("t4a") + set("t4b") + EXEC);
}

TEST(ReplMerge, EmptyTransactionEmitsNothing)
{
    Merge g(2);
    ASSERT_EQ(g.feed(0, sel(0) + B(2, 3) + sel(4) + E(2)), 0);
    ASSERT_EQ(g.feed(1, B(2, 3) + E(2)), 0);
    EXPECT_EQ(g.step(), "");
    EXPECT_EQ(repl_merge_offset(g.m), 0u);
    EXPECT_EQ(repl_merge_blocked(g.m), 0);
    // the SELECT inside the frame still set shard 0's database
    ASSERT_EQ(g.feed(0, set("k")), 0);
    EXPECT_EQ(g.step(), sel(4) + set("k"));
}

TEST(ReplMerge, SingleShardUnitIsContiguous)
{
    Merge g(2);
    ASSERT_EQ(g.feed(0, MULTI + sel(0) + set("a") + set("b")), 0);
    ASSERT_EQ(g.feed(1, sel(0) + set("x")), 0);
    EXPECT_EQ(g.step(), sel(0) + set("x"));
    ASSERT_EQ(g.feed(0, EXEC), 0);
    EXPECT_EQ(g.step(), MULTI + set("a") + set("b") + EXEC);
    // a unit in another database: SELECT inside, after MULTI (as Redis 7.0)
    ASSERT_EQ(g.feed(0, MULTI + sel(2) + set("c") + set("d") + EXEC), 0);
    EXPECT_EQ(g.step(), MULTI + sel(2) + set("c") + set("d") + EXEC);
}

// Each shard's commands keep their order; all of them come out.
TEST(ReplMerge, IndependentCommandsInterleave)
{
    Merge g(3);
    std::vector<std::string> want[3];
    for (int round = 0; round < 20; round++) {
        for (int s = 0; s < 3; s++) {
            std::string in = round == 0 ? sel(s) : "";
            for (int i = 0; i <= (round + s) % 4; i++) {
                std::string k = "s" + std::to_string(s) + "_" + std::to_string(want[s].size());
                want[s].push_back(k);
                in += set(k);
            }
            ASSERT_EQ(g.feed(s, in), 0);
        }
        if (round % 3 == 0) g.step();
    }
    g.step();
    // walk the output: commands, tracking the current database
    std::string out = g.all();
    size_t at = 0;
    int db = -1;
    std::vector<std::string> got[3];
    while (at < out.size()) {
        rk_journal_rec r;
        ASSERT_EQ(journal_next_record(out.data() + at, out.size() - at, &r), 1);
        std::string c = out.substr(at, r.len);
        at += r.len;
        if (c.rfind("*2\r\n$6\r\nSELECT\r\n", 0) == 0) {
            int ndb = c[c.size() - 3] - '0';
            EXPECT_NE(ndb, db) << "a SELECT that changes nothing";
            db = ndb;
            continue;
        }
        // *3 $3 SET $<n> key
        size_t k0 = c.find("SET\r\n$") + 5;
        size_t kl = c.find("\r\n", k0);
        size_t kb = kl + 2;
        std::string key = c.substr(kb, c.find("\r\n", kb) - kb);
        int s = key[1] - '0';
        EXPECT_EQ(db, s) << key;
        got[s].push_back(key);
    }
    for (int s = 0; s < 3; s++) EXPECT_EQ(got[s], want[s]);
    EXPECT_EQ(repl_merge_offset(g.m), out.size());
}

// Two shard streams whose merge order is fixed (shard 1 only takes part in
// the transactions): fed split at every byte, with a step after every
// piece, the output is the same.
TEST(ReplMerge, EverySplitPointSameOutput)
{
    std::string s0 = sel(0) + set("a") + B(1, 3) + sel(0) + set("t1") + E(1) + sel(3) + set("b") + MULTI + set("u1") +
                     set("u2") + EXEC + B(9, 3) + E(9) + sel(0) + set("c");
    std::string s1 = sel(0) + B(1, 3) + sel(2) + cmd({"HSET", "h", "f", std::string("x\r\ny", 4)}) + E(1) + B(9, 3) +
                     sel(1) + E(9);
    std::string ref;
    {
        Merge g(2);
        ASSERT_EQ(g.feed(0, s0), 0);
        ASSERT_EQ(g.feed(1, s1), 0);
        g.step();
        ref = g.all();
        EXPECT_EQ(ref, sel(0) + set("a") + MULTI + set("t1") + sel(2) + cmd({"HSET", "h", "f", std::string("x\r\ny", 4)}) +
                           EXEC + sel(3) + set("b") + MULTI + set("u1") + set("u2") + EXEC + sel(0) + set("c"));
    }
    for (int which = 0; which < 2; which++) {
        const std::string &split = which == 0 ? s0 : s1;
        const std::string &whole = which == 0 ? s1 : s0;
        for (size_t k = 0; k <= split.size(); k++) {
            Merge g(2);
            ASSERT_EQ(g.feed(which, split.substr(0, k)), 0);
            g.step();
            ASSERT_EQ(g.feed(1 - which, whole), 0);
            g.step();
            ASSERT_EQ(g.feed(which, split.substr(k)), 0);
            g.step();
            ASSERT_EQ(g.all(), ref) << "shard " << which << " split at " << k;
            ASSERT_EQ(repl_merge_offset(g.m), ref.size());
        }
    }
    // byte by byte on both, alternating, a step after every byte
    Merge g(2);
    for (size_t i = 0; i < std::max(s0.size(), s1.size()); i++) {
        if (i < s1.size()) {
            ASSERT_EQ(g.feed(1, s1.substr(i, 1)), 0);
        }
        if (i < s0.size()) {
            ASSERT_EQ(g.feed(0, s0.substr(i, 1)), 0);
        }
        g.step();
    }
    EXPECT_EQ(g.all(), ref);
}

TEST(ReplMerge, OffsetCountsEveryEmittedByte)
{
    Merge g(2);
    uint64_t total = 0;
    for (int i = 0; i < 50; i++) {
        ASSERT_EQ(g.feed(i % 2, (i < 2 ? sel(i % 2) : "") + set("k" + std::to_string(i))), 0);
        total += g.step().size();
        ASSERT_EQ(repl_merge_offset(g.m), total);
        rk_buf_clear(&g.out); // the caller drains out; the offset stays
    }
    EXPECT_GT(total, 0u);
}

TEST(ReplMerge, PendingBound)
{
    std::string a = sel(0) + set("a"); // 23 + 27 bytes
    Merge g(2, 64);
    EXPECT_EQ(g.feed(0, std::string(65, '*')), REPL_MERGE_EBOUND);
    ASSERT_EQ(g.feed(0, a.substr(0, 40)), 0);
    EXPECT_EQ(repl_merge_pending(g.m, 0), 40u);
    EXPECT_EQ(g.feed(0, a.substr(40) + set("b")), REPL_MERGE_EBOUND); // nothing taken
    EXPECT_EQ(repl_merge_pending(g.m, 0), 40u);
    ASSERT_EQ(g.feed(0, a.substr(40)), 0);
    EXPECT_EQ(g.step(), a);
    EXPECT_EQ(repl_merge_pending(g.m, 0), 0u);
    ASSERT_EQ(g.feed(0, set("b")), 0); // room again after the step
    // a transaction waiting for its participant holds its bytes
    Merge h(2, 64);
    ASSERT_EQ(h.feed(0, sel(0) + B(1, 3) + set("x")), 0);
    EXPECT_EQ(h.step(), "");
    EXPECT_EQ(h.feed(0, E(1) + set("y")), REPL_MERGE_EBOUND);
    ASSERT_EQ(h.feed(0, E(1)), 0);
    ASSERT_EQ(h.feed(1, sel(0) + B(1, 3) + E(1)), 0);
    EXPECT_EQ(h.step(), MULTI + sel(0) + set("x") + EXEC);
    EXPECT_EQ(h.feed(0, set("y")), 0);
}

void expect_proto(int nshards, const std::vector<std::pair<int, std::string>> &feeds, bool at_step = false)
{
    Merge g(nshards);
    int rc = 0;
    for (const auto &f : feeds)
        if ((rc = g.feed(f.first, f.second)) != 0) break;
    if (at_step) {
        ASSERT_EQ(rc, 0);
        rc = repl_merge_step(g.m, &g.out);
    }
    EXPECT_EQ(rc, REPL_MERGE_EPROTO);
    EXPECT_STRNE(repl_merge_error(g.m), "");
    // sticky
    EXPECT_EQ(g.feed(0, sel(0)), REPL_MERGE_EPROTO);
    EXPECT_EQ(repl_merge_step(g.m, &g.out), REPL_MERGE_EPROTO);
}

TEST(ReplMerge, MalformedInput)
{
    expect_proto(1, {{0, "hello\r\n"}});
    expect_proto(1, {{0, "*1\r\n+OK\r\n"}});
    expect_proto(1, {{0, "#X 1\r\n"}});
    expect_proto(2, {{2, sel(0)}});                          // no such shard
    expect_proto(1, {{0, set("a")}});                        // before any SELECT
    expect_proto(1, {{0, cmd({"SELECT", "x"})}});
    expect_proto(1, {{0, cmd({"SELECT"})}});
    expect_proto(1, {{0, EXEC}});
    expect_proto(1, {{0, MULTI + MULTI}});
    expect_proto(2, {{0, MULTI + B(1, 3)}});
    expect_proto(2, {{0, E(1)}});                            // #E without #B
    expect_proto(2, {{0, B(1, 3) + E(2)}});                  // #E of another seq
    expect_proto(2, {{0, B(1, 3) + B(2, 3)}});               // nested frames
    expect_proto(2, {{0, B(2, 3) + E(2) + B(2, 3)}});        // seq not increasing
    expect_proto(2, {{0, B(2, 3) + E(2) + B(1, 3)}});
    expect_proto(3, {{0, B(1, 6)}});                         // not in its own mask
    expect_proto(2, {{0, B(1, 5)}});                         // a shard that does not exist
    expect_proto(2, {{0, B(1, 1)}});                         // one-shard frame
    expect_proto(2, {{0, B(0, 3)}});
    expect_proto(2, {{0, B(1, 3) + sel(0) + MULTI}});        // MULTI inside a frame
    // found when the participants meet
    expect_proto(2, {{0, B(5, 3) + E(5)}, {1, B(6, 3) + E(6)}}, true);  // shard 1 skipped 5
    expect_proto(3, {{0, B(5, 3) + E(5)}, {1, B(5, 7) + E(5)}}, true);  // masks disagree
}

// Streams written by the real journal merge as expected.
TEST(ReplMerge, FromTheJournal)
{
    rk_journal j[2];
    int id[2];
    for (int i = 0; i < 2; i++) {
        journal_init(&j[i], 0);
        id[i] = journal_register(&j[i]);
        ASSERT_GE(id[i], 0);
    }
    const char *s1[] = {"SET", "a", "1"};
    const char *s2[] = {"SET", "b", "2"};
    const char *s3[] = {"INCR", "c"};
    ASSERT_EQ(journal_append_cstr(&j[0], 0, 3, s1), 0);
    ASSERT_EQ(journal_txn_begin(&j[0], 10, 3), 0);
    ASSERT_EQ(journal_append_cstr(&j[0], 0, 3, s2), 0);
    ASSERT_EQ(journal_txn_end(&j[0], 10, 3), 0);
    ASSERT_EQ(journal_append_cstr(&j[1], 1, 2, s3), 0);
    ASSERT_EQ(journal_txn_begin(&j[1], 10, 3), 0);
    ASSERT_EQ(journal_append_cstr(&j[1], 1, 2, s3), 0);
    ASSERT_EQ(journal_txn_end(&j[1], 10, 3), 0);
    // a single-shard transaction: a unit
    ASSERT_EQ(journal_txn_begin(&j[1], 11, 2), 0);
    ASSERT_EQ(journal_append_cstr(&j[1], 1, 3, s1), 0);
    ASSERT_EQ(journal_append_cstr(&j[1], 1, 3, s2), 0);
    ASSERT_EQ(journal_txn_end(&j[1], 11, 2), 0);
    Merge g(2);
    for (int i = 0; i < 2; i++) {
        uint64_t from;
        rk_slice sl;
        ASSERT_EQ(journal_read(&j[i], id[i], &from, &sl), JOURNAL_OK);
        ASSERT_EQ(repl_merge_feed(g.m, i, sl.ptr, sl.len), 0);
    }
    EXPECT_EQ(g.step(), sel(0) + set("a", "1") + sel(1) + cmd({"INCR", "c"}) + MULTI + sel(0) + set("b", "2") + sel(1) +
                            cmd({"INCR", "c"}) + EXEC + MULTI + set("a", "1") + set("b", "2") + EXEC);
    for (int i = 0; i < 2; i++) journal_free(&j[i]);
}

} // namespace

namespace {

// Random shard streams (independent commands, single-shard units and
// multi-shard transactions over random masks, databases switching), fed in
// random pieces with random steps in between. A replica applying the output
// ends with the state of applying every shard's stream; every transaction
// is exactly one MULTI ... EXEC block holding all its commands.
TEST(ReplMerge, RandomStreamsApplyLikeTheShards)
{
    const int N = 5;
    uint64_t rnd = 88172645463325252ull;
    auto next = [&rnd](uint64_t n) {
        rnd ^= rnd << 13;
        rnd ^= rnd >> 7;
        rnd ^= rnd << 17;
        return rnd % n;
    };
    for (int round = 0; round < 30; round++) {
        std::string in[N];
        int db[N];
        std::map<std::string, std::string> want; // "db/key" -> value
        std::map<std::string, int> txn_cmds;     // "t<seq>" -> commands
        uint64_t seq = 0;
        int counter = 0;
        auto put = [&](int s, const std::string &tag) {
            if (next(4) == 0) {
                db[s] = (int)next(3);
                in[s] += sel(db[s]);
            }
            std::string key = "s" + std::to_string(s) + "k" + std::to_string(next(6));
            std::string val = tag + "_" + std::to_string(counter++);
            in[s] += set(key, val);
            want[std::to_string(db[s]) + "/" + key] = val;
        };
        for (int s = 0; s < N; s++) {
            db[s] = (int)next(3);
            in[s] = sel(db[s]);
        }
        for (int ev = 0; ev < 60; ev++) {
            int kind = (int)next(4);
            int s = (int)next(N);
            if (kind <= 1) {
                put(s, "c");
            } else if (kind == 2) {
                in[s] += MULTI;
                int n = 1 + (int)next(3);
                for (int i = 0; i < n; i++) put(s, "u");
                in[s] += EXEC;
            } else {
                uint64_t mask = 0;
                while (__builtin_popcountll(mask) < 2) mask |= 1ull << next(N);
                seq += 1 + next(3);
                std::string tag = "t" + std::to_string(seq);
                int total = 0;
                for (int t = 0; t < N; t++) {
                    if (!(mask >> t & 1)) continue;
                    in[t] += B(seq, mask);
                    int n = (int)next(3);
                    for (int i = 0; i < n; i++) put(t, tag);
                    total += n;
                    in[t] += E(seq);
                }
                if (total) txn_cmds[tag] = total;
            }
        }
        Merge g(N);
        size_t at[N] = {};
        for (bool left = true; left;) {
            left = false;
            int s = (int)next(N);
            size_t n = std::min(in[s].size() - at[s], (size_t)next(80));
            ASSERT_EQ(g.feed(s, in[s].substr(at[s], n)), 0);
            at[s] += n;
            if (next(3) == 0) g.step();
            for (int t = 0; t < N; t++) left |= at[t] < in[t].size();
        }
        g.step();
        EXPECT_EQ(repl_merge_blocked(g.m), 0);
        for (int t = 0; t < N; t++) EXPECT_EQ(repl_merge_pending(g.m, t), 0u);
        // apply the output as a replica would
        std::string out = g.all();
        EXPECT_EQ(repl_merge_offset(g.m), out.size());
        std::map<std::string, std::string> got;
        std::map<std::string, int> seen_txn;
        int cur = -1;
        bool in_multi = false;
        std::string block_tag;
        int block_n = 0;
        size_t p = 0;
        while (p < out.size()) {
            rk_journal_rec r;
            ASSERT_EQ(journal_next_record(out.data() + p, out.size() - p, &r), 1);
            std::string c = out.substr(p, r.len);
            p += r.len;
            // split the arguments
            std::vector<std::string> a;
            size_t q = c.find("\r\n") + 2;
            while (q < c.size()) {
                size_t e = c.find("\r\n", q);
                size_t len = std::stoul(c.substr(q + 1, e - q - 1));
                a.push_back(c.substr(e + 2, len));
                q = e + 2 + len + 2;
            }
            if (a[0] == "SELECT") {
                ASSERT_NE(std::stoi(a[1]), cur) << "a SELECT that changes nothing";
                cur = std::stoi(a[1]);
            } else if (a[0] == "MULTI") {
                ASSERT_FALSE(in_multi);
                in_multi = true;
                block_tag.clear();
                block_n = 0;
            } else if (a[0] == "EXEC") {
                ASSERT_TRUE(in_multi);
                ASSERT_GT(block_n, 0);
                if (block_tag[0] == 't') {
                    EXPECT_EQ(txn_cmds[block_tag], block_n) << block_tag;
                    seen_txn[block_tag]++;
                }
                in_multi = false;
            } else {
                ASSERT_EQ(a[0], "SET");
                ASSERT_GE(cur, 0) << "a command before any SELECT";
                got[std::to_string(cur) + "/" + a[1]] = a[2];
                std::string tag = a[2].substr(0, a[2].find('_'));
                if (tag[0] == 't' || tag[0] == 'u') {
                    ASSERT_TRUE(in_multi) << a[2];
                    if (block_n == 0) block_tag = tag;
                    ASSERT_EQ(block_tag, tag) << "two transactions in one block";
                    block_n++;
                } else {
                    ASSERT_FALSE(in_multi) << "an outside command inside a transaction";
                }
            }
        }
        EXPECT_FALSE(in_multi);
        EXPECT_EQ(got, want) << "round " << round;
        for (const auto &t : txn_cmds) EXPECT_EQ(seen_txn[t.first], 1) << t.first;
    }
}

} // namespace

// ---- stop points: a full sync's cut ------------------------------------------

namespace {

// Streams of two shards with a cut after pre0/pre1: before the cut a
// transaction and a unit, after it another transaction and commands.
struct CutStreams {
    std::string pre0 = sel(0) + set("a") + B(1, 3) + set("t1") + E(1) + MULTI + set("u1") + EXEC;
    std::string pre1 = sel(0) + set("x") + B(1, 3) + sel(0) + set("t2") + E(1);
    std::string post0 = sel(0) + set("b") + B(4, 3) + set("t3") + E(4) + set("c");
    std::string post1 = sel(0) + B(4, 3) + set("t4") + E(4) + set("y");
};

// Feeds both shards split at k0/k1 with a step after each piece; returns the
// output at the stop and after it.
void run_cut(const CutStreams &c, size_t k0, size_t k1, std::string *at_cut, std::string *after)
{
    std::string s0 = c.pre0 + c.post0, s1 = c.pre1 + c.post1;
    Merge g(2);
    ASSERT_EQ(repl_merge_set_stop(g.m, 0, c.pre0.size()), 0);
    ASSERT_EQ(repl_merge_set_stop(g.m, 1, c.pre1.size()), 0);
    ASSERT_EQ(g.feed(0, s0.substr(0, k0)), 0);
    g.step();
    ASSERT_EQ(g.feed(1, s1.substr(0, k1)), 0);
    g.step();
    ASSERT_EQ(g.feed(0, s0.substr(k0)), 0);
    g.step();
    if (k1 < c.pre1.size()) {
        EXPECT_EQ(repl_merge_at_stop(g.m), 0) << "shard 1 not all fed yet";
    }
    ASSERT_EQ(g.feed(1, s1.substr(k1)), 0);
    g.step();
    ASSERT_EQ(repl_merge_at_stop(g.m), 1);
    EXPECT_EQ(repl_merge_consumed(g.m, 0), c.pre0.size());
    EXPECT_EQ(repl_merge_consumed(g.m, 1), c.pre1.size());
    *at_cut = g.all();
    EXPECT_EQ(repl_merge_offset(g.m), at_cut->size());
    EXPECT_EQ(g.step(), "") << "nothing passes a stop";
    repl_merge_clear_stop(g.m);
    repl_merge_force_select(g.m);
    *after = g.step();
    EXPECT_EQ(repl_merge_consumed(g.m, 0), s0.size());
    EXPECT_EQ(repl_merge_consumed(g.m, 1), s1.size());
}

} // namespace

TEST(ReplMerge, StopAtCutEverySplit)
{
    CutStreams c;
    std::string ref_cut, ref_after;
    run_cut(c, 0, 0, &ref_cut, &ref_after);
    // Everything of the cut's side, nothing of the other, the SELECT again after.
    EXPECT_NE(ref_cut.find(set("u1")), std::string::npos);
    EXPECT_NE(ref_cut.find(MULTI + set("t1") + set("t2") + EXEC), std::string::npos);
    EXPECT_EQ(ref_cut.find(set("b")), std::string::npos);
    EXPECT_EQ(ref_cut.find(set("t3")), std::string::npos);
    EXPECT_EQ(ref_after.substr(0, sel(0).size()), sel(0)) << "forced SELECT";
    EXPECT_NE(ref_after.find(MULTI + set("t3") + set("t4") + EXEC), std::string::npos);
    // The whole stream equals the merge without stops, but for the forced SELECT.
    {
        Merge g(2);
        ASSERT_EQ(g.feed(0, c.pre0 + c.post0), 0);
        ASSERT_EQ(g.feed(1, c.pre1 + c.post1), 0);
        g.step();
        EXPECT_EQ(ref_cut.size() + ref_after.size(), g.all().size() + sel(0).size());
    }
    size_t n0 = c.pre0.size() + c.post0.size(), n1 = c.pre1.size() + c.post1.size();
    for (size_t k0 = 0; k0 <= n0; k0++) {
        for (size_t k1 = 0; k1 <= n1; k1 += (k0 % 7 == 0 ? 1 : 13)) {
            std::string at_cut, after;
            run_cut(c, k0, k1, &at_cut, &after);
            ASSERT_EQ(at_cut.size(), ref_cut.size()) << k0 << " " << k1;
            // Order between shards may differ with the split; the sizes may not.
            ASSERT_EQ(after.size(), ref_after.size()) << k0 << " " << k1;
        }
    }
}

TEST(ReplMerge, StopAtStartAndUnsetShards)
{
    Merge g(2);
    EXPECT_EQ(repl_merge_at_stop(g.m), 0) << "no stops set";
    ASSERT_EQ(repl_merge_set_stop(g.m, 1, 0), 0); // shard 0's stop: its position now (0)
    EXPECT_EQ(repl_merge_at_stop(g.m), 1);
    ASSERT_EQ(g.feed(0, sel(0) + set("a")), 0);
    ASSERT_EQ(g.feed(1, sel(0) + set("b")), 0);
    EXPECT_EQ(g.step(), "");
    EXPECT_EQ(repl_merge_at_stop(g.m), 1);
    repl_merge_clear_stop(g.m);
    EXPECT_EQ(repl_merge_at_stop(g.m), 0);
    std::string out = g.step();
    EXPECT_EQ(out.size(), sel(0).size() + 2 * set("a").size());
    EXPECT_EQ(repl_merge_set_stop(g.m, 0, 3), -1) << "already consumed past it";
    EXPECT_EQ(repl_merge_set_stop(g.m, 2, 100), -1) << "no such shard";
    EXPECT_EQ(repl_merge_consumed(g.m, 5), 0u);
}

TEST(ReplMerge, StopsKeepCountingAcrossCompaction)
{
    // Many records consumed and compacted away: positions stay stream positions.
    Merge g(1, 4096);
    std::string first = sel(0);
    ASSERT_EQ(g.feed(0, first), 0);
    uint64_t pos = first.size();
    for (int i = 0; i < 500; i++) {
        std::string r = set("k" + std::to_string(i));
        ASSERT_EQ(g.feed(0, r), 0);
        pos += r.size();
        g.step();
        rk_buf_clear(&g.out);
        ASSERT_EQ(repl_merge_consumed(g.m, 0), pos);
    }
    ASSERT_EQ(repl_merge_set_stop(g.m, 0, pos + set("x").size()), 0);
    ASSERT_EQ(g.feed(0, set("x") + set("y")), 0);
    EXPECT_EQ(g.step(), set("x"));
    EXPECT_EQ(repl_merge_at_stop(g.m), 1);
}

TEST(ReplMerge, StopSplittingARecordUnitOrFrameIsAnError)
{
    {
        Merge g(1);
        ASSERT_EQ(repl_merge_set_stop(g.m, 0, sel(0).size() + 3), 0);
        ASSERT_EQ(g.feed(0, sel(0) + set("a")), 0);
        EXPECT_EQ(repl_merge_step(g.m, &g.out), REPL_MERGE_EPROTO);
    }
    {
        Merge g(1);
        ASSERT_EQ(repl_merge_set_stop(g.m, 0, sel(0).size() + MULTI.size()), 0);
        ASSERT_EQ(g.feed(0, sel(0) + MULTI + set("a") + EXEC), 0);
        EXPECT_EQ(repl_merge_step(g.m, &g.out), REPL_MERGE_EPROTO);
    }
    {
        Merge g(2);
        std::string p0 = sel(0) + B(1, 3) + set("a") + E(1);
        std::string p1 = sel(0) + B(1, 3) + set("b") + E(1);
        ASSERT_EQ(repl_merge_set_stop(g.m, 0, sel(0).size() + B(1, 3).size()), 0); // inside the frame
        ASSERT_EQ(repl_merge_set_stop(g.m, 1, p1.size()), 0);
        ASSERT_EQ(g.feed(0, p0), 0);
        ASSERT_EQ(g.feed(1, p1), 0);
        EXPECT_EQ(repl_merge_step(g.m, &g.out), REPL_MERGE_EPROTO);
    }
    {
        Merge g(2); // one part before the cut, the other after: not one cut
        std::string p0 = sel(0) + B(1, 3) + set("a") + E(1);
        std::string p1 = sel(0) + B(1, 3) + set("b") + E(1);
        ASSERT_EQ(repl_merge_set_stop(g.m, 0, p0.size()), 0);
        ASSERT_EQ(repl_merge_set_stop(g.m, 1, sel(0).size()), 0);
        ASSERT_EQ(g.feed(0, p0), 0);
        ASSERT_EQ(g.feed(1, p1), 0);
        EXPECT_EQ(repl_merge_step(g.m, &g.out), REPL_MERGE_EPROTO);
    }
}

TEST(ReplMerge, DiscardBeforeTheFirstCut)
{
    // Shard 1's feed began after transaction 1 ended there: shard 0 holds a
    // part of it, shard 1 none. Discarding up to the cut drops it; after the
    // cut the merge is strict again, with the SELECT of the discarded part.
    std::string pre0 = sel(3) + set("a") + B(1, 3) + set("t") + E(1) + MULTI + set("u") + EXEC;
    std::string pre1 = sel(4) + set("b");
    std::string post0 = set("c") + B(2, 3) + set("t2") + E(2);
    std::string post1 = set("d") + B(2, 3) + set("t3") + E(2);
    std::string s0 = pre0 + post0, s1 = pre1 + post1;
    for (size_t k = 0; k <= s0.size(); k++) {
        Merge g(2);
        ASSERT_EQ(g.feed(0, s0.substr(0, k)), 0);
        ASSERT_EQ(g.feed(1, pre1), 0);
        ASSERT_EQ(repl_merge_discard(g.m, 0, pre0.size()), 0);
        ASSERT_EQ(repl_merge_discard(g.m, 1, pre1.size()), 0);
        ASSERT_EQ(repl_merge_set_stop(g.m, 0, pre0.size()), 0);
        ASSERT_EQ(repl_merge_set_stop(g.m, 1, pre1.size()), 0);
        ASSERT_EQ(repl_merge_at_stop(g.m), k >= pre0.size() ? 1 : 0) << k;
        ASSERT_EQ(g.feed(0, s0.substr(k)), 0);
        ASSERT_EQ(g.feed(1, post1), 0);
        ASSERT_EQ(repl_merge_discard(g.m, 0, pre0.size()), 0);
        ASSERT_EQ(repl_merge_at_stop(g.m), 1);
        EXPECT_EQ(g.all(), "");
        repl_merge_clear_stop(g.m);
        repl_merge_force_select(g.m);
        std::string out = g.step();
        EXPECT_EQ(out.size(), sel(3).size() + set("c").size() + sel(4).size() + set("d").size() + MULTI.size() +
                                  sel(3).size() + set("t2").size() + sel(4).size() + set("t3").size() + EXEC.size())
            << k;
        EXPECT_NE(out.find(MULTI + sel(3) + set("t2") + sel(4) + set("t3") + EXEC), std::string::npos) << out;
    }
    {
        Merge g(1);
        ASSERT_EQ(g.feed(0, sel(0) + MULTI + set("a") + EXEC), 0);
        EXPECT_EQ(repl_merge_discard(g.m, 0, sel(0).size() + MULTI.size()), REPL_MERGE_EPROTO);
    }
}
