// Command table: lookup, ids, key extraction from key specs, arity errors.
#include <gtest/gtest.h>

#include <string>
#include <vector>

extern "C" {
#include "core/command.h"
}

namespace {

std::vector<rk_slice> Args(const std::vector<std::string> &v) {
    std::vector<rk_slice> out;
    for (const auto &s : v) out.push_back(rk_slice{s.data(), s.size()});
    return out;
}

// Keys of a command line, or {"<invalid>"} when extraction fails.
std::vector<std::string> Keys(const rk_command *cmd, const std::vector<std::string> &argv) {
    auto a = Args(argv);
    int pos[64];
    int n = cmd_get_keys(cmd, (int)a.size(), a.data(), pos, 64);
    if (n < 0) return {"<invalid>"};
    std::vector<std::string> keys;
    for (int i = 0; i < n; i++) keys.push_back(argv[pos[i]]);
    return keys;
}

const rk_command *Lookup(const char *name) {
    return cmd_lookup(rk_slice{name, strlen(name)});
}

class CmdTable : public ::testing::Test {
  protected:
    void SetUp() override { ASSERT_EQ(cmdtable_init(), 0); }
};

TEST_F(CmdTable, LookupIsCaseInsensitive) {
    const rk_command *get = Lookup("get");
    ASSERT_NE(get, nullptr);
    EXPECT_EQ(Lookup("GET"), get);
    EXPECT_EQ(Lookup("gEt"), get);
    EXPECT_EQ(Lookup("getx"), nullptr);
    EXPECT_EQ(Lookup("ge"), nullptr);
    EXPECT_EQ(Lookup(""), nullptr);
}

TEST_F(CmdTable, InitIsIdempotent) {
    int n = cmd_count();
    EXPECT_EQ(cmdtable_init(), 0);
    EXPECT_EQ(cmd_count(), n);
}

TEST_F(CmdTable, IdsCoverCommandsAndSubcommands) {
    ASSERT_GT(cmd_count(), 10);
    EXPECT_GT(cmd_total_ids(), cmd_count());
    for (int id = 0; id < cmd_total_ids(); id++) {
        const rk_command *c = cmd_by_id(id);
        ASSERT_NE(c, nullptr);
        EXPECT_EQ(c->id, id);
    }
    EXPECT_EQ(cmd_by_id(-1), nullptr);
    EXPECT_EQ(cmd_by_id(cmd_total_ids()), nullptr);
    // Sorted, unique names.
    for (int i = 1; i < cmd_count(); i++)
        EXPECT_LT(strcasecmp(cmd_by_index(i - 1)->name, cmd_by_index(i)->name), 0);
}

TEST_F(CmdTable, Subcommands) {
    const rk_command *config = Lookup("config");
    ASSERT_NE(config, nullptr);
    const rk_command *get = cmd_lookup_sub(config, rk_slice{"GET", 3});
    ASSERT_NE(get, nullptr);
    EXPECT_STREQ(cmd_full_name(get), "config|get");
    EXPECT_EQ(cmd_parent(get), config);
    EXPECT_EQ(cmd_parent(config), nullptr);
    EXPECT_STREQ(cmd_full_name(config), "config");
    EXPECT_EQ(cmd_lookup_sub(config, rk_slice{"nope", 4}), nullptr);
    EXPECT_EQ(cmd_lookup_sub(Lookup("get"), rk_slice{"x", 1}), nullptr);
}

TEST_F(CmdTable, KeysOfStringCommands) {
    EXPECT_EQ(Keys(Lookup("get"), {"GET", "k"}), (std::vector<std::string>{"k"}));
    EXPECT_EQ(Keys(Lookup("set"), {"SET", "k", "v", "EX", "10"}), (std::vector<std::string>{"k"}));
    EXPECT_EQ(Keys(Lookup("mget"), {"MGET", "a", "b", "c"}), (std::vector<std::string>{"a", "b", "c"}));
    EXPECT_EQ(Keys(Lookup("mset"), {"MSET", "a", "1", "b", "2"}), (std::vector<std::string>{"a", "b"}));
    EXPECT_EQ(Keys(Lookup("bitop"), {"BITOP", "AND", "dst", "s1", "s2"}),
              (std::vector<std::string>{"dst", "s1", "s2"}));
    EXPECT_EQ(Keys(Lookup("lcs"), {"LCS", "k1", "k2", "LEN"}), (std::vector<std::string>{"k1", "k2"}));
    EXPECT_EQ(Keys(Lookup("del"), {"DEL", "a", "b"}), (std::vector<std::string>{"a", "b"}));
    EXPECT_EQ(Keys(Lookup("ping"), {"PING"}), (std::vector<std::string>{}));
}

TEST_F(CmdTable, ArityErrors) {
    rk_buf b;
    rk_buf_init(&b);
    rk_reply r{&b, 2};
    auto ok = Args({"GET", "k"});
    EXPECT_EQ(cmd_check_arity(Lookup("get"), 2, &r, ok.data()), 0);
    EXPECT_EQ(b.len, 0u);
    auto bad = Args({"GET"});
    EXPECT_EQ(cmd_check_arity(Lookup("get"), 1, &r, bad.data()), -1);
    EXPECT_EQ(std::string(b.data, b.len), "-ERR wrong number of arguments for 'get' command\r\n");
    rk_buf_clear(&b);

    // -3: at least three.
    const rk_command *mset = Lookup("mset");
    auto two = Args({"MSET", "a"});
    EXPECT_EQ(cmd_check_arity(mset, 2, &r, two.data()), -1);
    rk_buf_clear(&b);
    auto three = Args({"MSET", "a", "1"});
    EXPECT_EQ(cmd_check_arity(mset, 3, &r, three.data()), 0);

    const rk_command *cget = cmd_lookup_sub(Lookup("config"), rk_slice{"get", 3});
    auto cg = Args({"CONFIG", "GET"});
    EXPECT_EQ(cmd_check_arity(cget, 2, &r, cg.data()), -1);
    EXPECT_EQ(std::string(b.data, b.len), "-ERR wrong number of arguments for 'config|get' command\r\n");
    rk_buf_free(&b);
}

// Synthetic specs exercise the extraction rules directly.
rk_command Spec(int arity, rk_keyspec ks) {
    rk_command c{};
    c.name = "x";
    c.arity = arity;
    c.keyspecs[0] = ks;
    c.n_keyspecs = 1;
    return c;
}

TEST(KeySpecs, RangeWithNegativeLastKey) {
    rk_keyspec ks{};
    ks.flags = "RW";
    ks.bs_index = 2;
    ks.fk_lastkey = -2;  // all but the last argument
    ks.fk_step = 1;
    rk_command c = Spec(-3, ks);
    EXPECT_EQ(Keys(&c, {"x", "opt", "a", "b", "tail"}), (std::vector<std::string>{"a", "b"}));
}

TEST(KeySpecs, RangeWithLimit) {
    rk_keyspec ks{};
    ks.flags = "RO";
    ks.bs_index = 1;
    ks.fk_lastkey = -1;
    ks.fk_step = 1;
    ks.fk_limit = 2;  // first half of the arguments (like XREAD STREAMS k1 k2 id1 id2)
    rk_command c = Spec(-2, ks);
    EXPECT_EQ(Keys(&c, {"x", "k1", "k2", "id1", "id2"}), (std::vector<std::string>{"k1", "k2"}));
}

TEST(KeySpecs, KeywordSearch) {
    rk_keyspec ks{};
    ks.flags = "RO";
    ks.bs_keyword = "STREAMS";
    ks.bs_startfrom = 1;
    ks.fk_lastkey = -1;
    ks.fk_step = 1;
    ks.fk_limit = 2;
    rk_command c = Spec(-4, ks);
    EXPECT_EQ(Keys(&c, {"x", "COUNT", "2", "streams", "a", "b", "0", "0"}), (std::vector<std::string>{"a", "b"}));
    // Keyword absent: the spec contributes nothing.
    EXPECT_EQ(Keys(&c, {"x", "COUNT", "2"}), (std::vector<std::string>{}));
}

TEST(KeySpecs, KeywordSearchFromTheEnd) {
    rk_keyspec ks{};
    ks.flags = "RO";
    ks.bs_keyword = "STORE";
    ks.bs_startfrom = -2;
    ks.fk_lastkey = 0;
    ks.fk_step = 1;
    rk_command c = Spec(-2, ks);
    EXPECT_EQ(Keys(&c, {"x", "src", "STORE", "dst"}), (std::vector<std::string>{"dst"}));
}

TEST(KeySpecs, KeynumSpec) {
    rk_keyspec ks{};
    ks.flags = "RO";
    ks.bs_index = 2;
    ks.fk_keynum = 1;
    ks.kn_idx = 0;
    ks.kn_first = 1;
    ks.kn_step = 1;
    rk_command c = Spec(-4, ks);
    EXPECT_EQ(Keys(&c, {"x", "dst", "2", "a", "b", "WEIGHTS", "1", "2"}), (std::vector<std::string>{"a", "b"}));
    EXPECT_EQ(Keys(&c, {"x", "dst", "-1", "a"}), (std::vector<std::string>{"<invalid>"}));
    EXPECT_EQ(Keys(&c, {"x", "dst", "abc", "a"}), (std::vector<std::string>{"<invalid>"}));
    EXPECT_EQ(Keys(&c, {"x", "dst", "5", "a"}), (std::vector<std::string>{"<invalid>"}));
    EXPECT_EQ(Keys(&c, {"x", "dst"}), (std::vector<std::string>{"<invalid>"}));
}

TEST(KeySpecs, TwoSpecsAndMaxBound) {
    rk_command c{};
    c.name = "x";
    c.arity = -3;
    c.keyspecs[0].flags = "OW";
    c.keyspecs[0].bs_index = 1;
    c.keyspecs[0].fk_step = 1;
    c.keyspecs[1].flags = "RO";
    c.keyspecs[1].bs_index = 2;
    c.keyspecs[1].fk_lastkey = -1;
    c.keyspecs[1].fk_step = 1;
    c.n_keyspecs = 2;
    EXPECT_EQ(Keys(&c, {"x", "d", "s1", "s2"}), (std::vector<std::string>{"d", "s1", "s2"}));
    auto a = Args({"x", "d", "s1", "s2"});
    int pos[2];
    EXPECT_EQ(cmd_get_keys(&c, 4, a.data(), pos, 2), 2);
    EXPECT_EQ(pos[0], 1);
    EXPECT_EQ(pos[1], 2);
}

TEST(KeySpecs, LegacyTripleWhenNoSpecs) {
    rk_command c{};
    c.name = "x";
    c.arity = -2;
    c.first_key = 1;
    c.last_key = -1;
    c.key_step = 2;
    EXPECT_EQ(Keys(&c, {"x", "a", "1", "b", "2"}), (std::vector<std::string>{"a", "b"}));
}

}  // namespace
