// Unit tests for core/listpack.c: every encoding width and backlen size,
// the change operations, validation of untrusted bytes, and byte-for-byte
// interoperability with listpacks captured from a real redis-server 7.0.15.
#include <gtest/gtest.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <random>
#include <string>
#include <vector>

extern "C" {
#include "core/alloc.h"
#include "core/listpack.h"
}

namespace {

const unsigned char *u(const std::string &s) { return reinterpret_cast<const unsigned char *>(s.data()); }

unsigned char *append(unsigned char *lp, const std::string &s)
{
    unsigned char *res = lp_append(lp, u(s), static_cast<uint32_t>(s.size()));
    EXPECT_NE(res, nullptr);
    return res;
}

unsigned char *build(const std::vector<std::string> &items)
{
    unsigned char *lp = lp_new(0);
    EXPECT_NE(lp, nullptr);
    for (const auto &s : items)
        lp = append(lp, s);
    return lp;
}

std::string entry_str(const unsigned char *p)
{
    unsigned char buf[21];
    uint32_t len;
    const unsigned char *b = lp_get_bytes(p, buf, &len);
    return std::string(reinterpret_cast<const char *>(b), len);
}

std::vector<std::string> contents(unsigned char *lp)
{
    std::vector<std::string> out;
    for (unsigned char *p = lp_first(lp); p; p = lp_next(lp, p))
        out.push_back(entry_str(p));
    return out;
}

// Walks backwards too, so every backlen gets decoded.
std::vector<std::string> contents_reversed(unsigned char *lp)
{
    std::vector<std::string> out;
    for (unsigned char *p = lp_last(lp); p; p = lp_prev(lp, p))
        out.insert(out.begin(), entry_str(p));
    return out;
}

void expect_sane(unsigned char *lp, const std::vector<std::string> &want)
{
    EXPECT_TRUE(lp_validate(lp, lp_bytes(lp)));
    EXPECT_EQ(lp_length(lp), want.size());
    EXPECT_EQ(contents(lp), want);
    EXPECT_EQ(contents_reversed(lp), want);
}

std::vector<unsigned char> from_hex(const char *hex)
{
    std::vector<unsigned char> out;
    for (size_t i = 0; hex[i] && hex[i + 1]; i += 2)
        out.push_back(static_cast<unsigned char>(std::stoi(std::string(hex + i, 2), nullptr, 16)));
    return out;
}

// Entry size (encoding + data + backlen) of a single value.
size_t entry_size_of(const std::string &s)
{
    unsigned char *lp = build({s});
    size_t n = lp_bytes(lp) - LP_HDR_SIZE - 1;
    lp_free(lp);
    return n;
}

TEST(Listpack, EmptyListpack)
{
    unsigned char *lp = lp_new(0);
    ASSERT_NE(lp, nullptr);
    EXPECT_EQ(lp_bytes(lp), 7u);
    EXPECT_EQ(lp_length(lp), 0u);
    EXPECT_EQ(lp_first(lp), nullptr);
    EXPECT_EQ(lp_last(lp), nullptr);
    EXPECT_EQ(lp_seek(lp, 0), nullptr);
    EXPECT_EQ(lp_seek(lp, -1), nullptr);
    EXPECT_TRUE(lp_validate(lp, 7));
    const unsigned char want[] = {7, 0, 0, 0, 0, 0, 0xFF};
    EXPECT_EQ(memcmp(lp, want, 7), 0);
    lp_free(lp);
}

struct IntCase {
    long long v;
    size_t entry_size; // encoding+data+backlen
    unsigned char first_byte;
};

TEST(Listpack, IntegerEncodingBoundaries)
{
    const IntCase cases[] = {
        {0, 2, 0x00},
        {127, 2, 0x7F},
        {128, 3, 0xC0},
        {-1, 3, 0xDF},
        {4095, 3, 0xCF},
        {-4096, 3, 0xD0},
        {4096, 4, 0xF1},
        {-4097, 4, 0xF1},
        {32767, 4, 0xF1},
        {-32768, 4, 0xF1},
        {32768, 5, 0xF2},
        {-32769, 5, 0xF2},
        {8388607, 5, 0xF2},
        {-8388608, 5, 0xF2},
        {8388608, 6, 0xF3},
        {-8388609, 6, 0xF3},
        {INT32_MAX, 6, 0xF3},
        {INT32_MIN, 6, 0xF3},
        {(long long)INT32_MAX + 1, 10, 0xF4},
        {(long long)INT32_MIN - 1, 10, 0xF4},
        {LLONG_MAX, 10, 0xF4},
        {LLONG_MIN, 10, 0xF4},
    };
    for (const auto &c : cases) {
        SCOPED_TRACE(c.v);
        std::string s = std::to_string(c.v);
        unsigned char *lp = build({s});
        EXPECT_EQ(lp_bytes(lp) - 7, c.entry_size);
        unsigned char *p = lp_first(lp);
        ASSERT_NE(p, nullptr);
        EXPECT_EQ(p[0], c.first_byte);
        lp_value v;
        lp_get(p, &v);
        EXPECT_EQ(v.sval, nullptr);
        EXPECT_EQ(v.lval, c.v);
        EXPECT_EQ(entry_str(p), s);
        EXPECT_TRUE(lp_equal(p, u(s), static_cast<uint32_t>(s.size())));

        // lp_append_int gives the same bytes.
        unsigned char *lp2 = lp_new(0);
        lp2 = lp_append_int(lp2, c.v);
        ASSERT_NE(lp2, nullptr);
        ASSERT_EQ(lp_bytes(lp2), lp_bytes(lp));
        EXPECT_EQ(memcmp(lp, lp2, lp_bytes(lp)), 0);
        EXPECT_TRUE(lp_validate(lp, lp_bytes(lp)));
        lp_free(lp);
        lp_free(lp2);
    }
}

TEST(Listpack, StringsThatAreNotCanonicalIntegersStayStrings)
{
    const char *strings[] = {"", "-", "+1", "01", "-0", "00", " 1", "1 ", "1a", "0x10", "-01",
                             "9223372036854775808", "-9223372036854775809",
                             "18446744073709551616", "123456789012345678901"};
    for (const char *s : strings) {
        SCOPED_TRACE(s);
        unsigned char *lp = build({s});
        lp_value v;
        lp_get(lp_first(lp), &v);
        ASSERT_NE(v.sval, nullptr);
        EXPECT_EQ(std::string(reinterpret_cast<const char *>(v.sval), v.slen), s);
        EXPECT_TRUE(lp_equal(lp_first(lp), u(s), static_cast<uint32_t>(strlen(s))));
        lp_free(lp);
    }
    // And the canonical extremes are integers.
    for (const char *s : {"9223372036854775807", "-9223372036854775808", "0", "-1"}) {
        unsigned char *lp = build({s});
        lp_value v;
        lp_get(lp_first(lp), &v);
        EXPECT_EQ(v.sval, nullptr) << s;
        lp_free(lp);
    }
}

TEST(Listpack, StringEncodingAndBacklenBoundaries)
{
    struct {
        size_t len;
        size_t entry_size; // header + len + backlen
    } cases[] = {
        {0, 2},              // 6-bit, 1-byte backlen
        {63, 65},            // 6-bit
        {64, 2 + 64 + 1},    // 12-bit
        {125, 2 + 125 + 1},  // 12-bit, entry length 127: 1-byte backlen
        {126, 2 + 126 + 2},  // entry length 128: 2-byte backlen
        {4095, 2 + 4095 + 2},
        {4096, 5 + 4096 + 2}, // 32-bit length
        {16377, 5 + 16377 + 2}, // entry length 16382: 2 bytes
        {16378, 5 + 16378 + 3}, // entry length 16383: 3 bytes (Redis's strict bound)
        {2097145, 5 + 2097145 + 3}, // 2097150
        {2097146, 5 + 2097146 + 4}, // 2097151: 4 bytes
    };
    for (const auto &c : cases) {
        SCOPED_TRACE(c.len);
        std::string s(c.len, 'x');
        EXPECT_EQ(entry_size_of(s), c.entry_size);
        // Surround it so forward and backward walks both cross it.
        unsigned char *lp = build({"a", s, "b"});
        expect_sane(lp, {"a", s, "b"});
        lp_value v;
        lp_get(lp_seek(lp, 1), &v);
        ASSERT_NE(v.sval, nullptr);
        EXPECT_EQ(v.slen, c.len);
        lp_free(lp);
    }
}

TEST(Listpack, AppendPrependInsertReplace)
{
    unsigned char *lp = build({"b", "c"});
    lp = lp_prepend(lp, u("a"), 1);
    ASSERT_NE(lp, nullptr);
    expect_sane(lp, {"a", "b", "c"});

    unsigned char *newp = nullptr;
    lp = lp_insert(lp, u("X"), 1, lp_seek(lp, 1), LP_BEFORE, &newp);
    ASSERT_NE(lp, nullptr);
    EXPECT_EQ(entry_str(newp), "X");
    expect_sane(lp, {"a", "X", "b", "c"});

    lp = lp_insert(lp, u("999999"), 6, lp_seek(lp, -1), LP_AFTER, &newp);
    ASSERT_NE(lp, nullptr);
    EXPECT_EQ(entry_str(newp), "999999");
    expect_sane(lp, {"a", "X", "b", "c", "999999"});

    std::string longv(300, 'z');
    lp = lp_insert(lp, u(longv), 300, lp_seek(lp, 0), LP_REPLACE, &newp);
    ASSERT_NE(lp, nullptr);
    EXPECT_EQ(entry_str(newp), longv);
    expect_sane(lp, {longv, "X", "b", "c", "999999"});

    lp = lp_insert(lp, u("7"), 1, lp_seek(lp, 0), LP_REPLACE, &newp);
    ASSERT_NE(lp, nullptr);
    expect_sane(lp, {"7", "X", "b", "c", "999999"});

    // Insert before EOF is an append.
    lp = lp_insert(lp, u("end"), 3, lp + lp_bytes(lp) - 1, LP_BEFORE, &newp);
    ASSERT_NE(lp, nullptr);
    expect_sane(lp, {"7", "X", "b", "c", "999999", "end"});
    lp_free(lp);
}

TEST(Listpack, ReplaceWithBytesFromTheSameListpack)
{
    std::string big(200, 'q');
    unsigned char *lp = build({"short", big});
    lp_value v;
    lp_get(lp_seek(lp, 1), &v);
    // The value lives inside lp, which grows and moves during the replace.
    lp = lp_insert(lp, v.sval, v.slen, lp_seek(lp, 0), LP_REPLACE, nullptr);
    ASSERT_NE(lp, nullptr);
    expect_sane(lp, {big, big});
    lp_free(lp);
}

TEST(Listpack, DeleteAndDeleteRange)
{
    unsigned char *lp = build({"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"});
    unsigned char *next = nullptr;
    lp = lp_delete(lp, lp_seek(lp, 2), &next);
    ASSERT_NE(next, nullptr);
    EXPECT_EQ(entry_str(next), "3");
    expect_sane(lp, {"0", "1", "3", "4", "5", "6", "7", "8", "9"});

    lp = lp_delete(lp, lp_seek(lp, -1), &next);
    EXPECT_EQ(next, nullptr);
    expect_sane(lp, {"0", "1", "3", "4", "5", "6", "7", "8"});

    lp = lp_delete_range(lp, 1, 2);
    expect_sane(lp, {"0", "4", "5", "6", "7", "8"});
    lp = lp_delete_range(lp, -2, 100); // clamps at the end
    expect_sane(lp, {"0", "4", "5", "6"});
    lp = lp_delete_range(lp, 10, 1); // out of range: unchanged
    expect_sane(lp, {"0", "4", "5", "6"});
    lp = lp_delete_range(lp, -5, 1);
    expect_sane(lp, {"0", "4", "5", "6"});
    lp = lp_delete_range(lp, 0, 0);
    expect_sane(lp, {"0", "4", "5", "6"});
    lp = lp_delete_range(lp, 0, 4);
    expect_sane(lp, {});
    EXPECT_EQ(lp_bytes(lp), 7u);
    lp_free(lp);
}

TEST(Listpack, SeekNegativeAndBothHalves)
{
    std::vector<std::string> items;
    for (int i = 0; i < 101; i++)
        items.push_back(i % 2 ? "s" + std::to_string(i) : std::to_string(i * 1000));
    unsigned char *lp = build(items);
    for (long i = 0; i < 101; i++) {
        EXPECT_EQ(entry_str(lp_seek(lp, i)), items[i]);
        EXPECT_EQ(entry_str(lp_seek(lp, i - 101)), items[i]);
    }
    EXPECT_EQ(lp_seek(lp, 101), nullptr);
    EXPECT_EQ(lp_seek(lp, -102), nullptr);
    lp_free(lp);
}

TEST(Listpack, FindWithSkip)
{
    // Hash-like pairs: a value equal to a later field must not match with skip 1.
    unsigned char *lp = build({"f1", "f3", "f2", "100", "f3", "v3", "200", "x"});
    unsigned char *first = lp_first(lp);
    unsigned char *p = lp_find(lp, first, u("f3"), 2, 1);
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(p, lp_seek(lp, 4));
    EXPECT_EQ(entry_str(lp_next(lp, p)), "v3");
    // Without skipping the first "f3" (a value) is found.
    EXPECT_EQ(lp_find(lp, first, u("f3"), 2, 0), lp_seek(lp, 1));
    // Integers compare by value; non-canonical strings do not match them.
    EXPECT_EQ(lp_find(lp, first, u("200"), 3, 1), lp_seek(lp, 6));
    EXPECT_EQ(lp_find(lp, first, u("100"), 3, 1), nullptr); // value position
    EXPECT_EQ(lp_find(lp, first, u("100"), 3, 0), lp_seek(lp, 3));
    EXPECT_EQ(lp_find(lp, first, u("0200"), 4, 0), nullptr);
    EXPECT_EQ(lp_find(lp, first, u("missing"), 7, 1), nullptr);
    // Starting in the middle.
    EXPECT_EQ(lp_find(lp, lp_seek(lp, 5), u("x"), 1, 1), lp_seek(lp, 7));
    EXPECT_EQ(lp_find(lp, nullptr, u("x"), 1, 1), nullptr);
    lp_free(lp);
}

TEST(Listpack, GetBytesFormatsIntegers)
{
    unsigned char *lp = lp_new(0);
    lp = lp_append_int(lp, LLONG_MIN);
    unsigned char buf[21];
    uint32_t len;
    const unsigned char *b = lp_get_bytes(lp_first(lp), buf, &len);
    EXPECT_EQ(b, buf);
    EXPECT_EQ(std::string(reinterpret_cast<const char *>(b), len), "-9223372036854775808");
    lp_free(lp);
}

TEST(Listpack, DupIsIndependent)
{
    unsigned char *lp = build({"a", "1"});
    unsigned char *copy = lp_dup(lp);
    ASSERT_NE(copy, nullptr);
    ASSERT_EQ(lp_bytes(copy), lp_bytes(lp));
    EXPECT_EQ(memcmp(lp, copy, lp_bytes(lp)), 0);
    lp = append(lp, "b");
    expect_sane(copy, {"a", "1"});
    lp_free(lp);
    lp_free(copy);
}

TEST(Listpack, AllocationFailureLeavesListpackIntact)
{
    unsigned char *lp = build({"a", "b"});
    std::vector<unsigned char> before(lp, lp + lp_bytes(lp));
    rk_alloc_fail_after(0);
    unsigned char *res = lp_append(lp, u("ccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"), 57);
    rk_alloc_fail_after(-1);
    EXPECT_EQ(res, nullptr);
    ASSERT_EQ(lp_bytes(lp), before.size());
    EXPECT_EQ(memcmp(lp, before.data(), before.size()), 0);
    // Deleting never fails even if the shrink does.
    rk_alloc_fail_after(0);
    lp = lp_delete(lp, lp_first(lp), nullptr);
    rk_alloc_fail_after(-1);
    ASSERT_NE(lp, nullptr);
    expect_sane(lp, {"b"});
    lp_free(lp);
}

// Hand-built listpack of n 7-bit entries (i % 128), so the test does not
// pay for 65535 reallocations under sanitizers.
unsigned char *small_ints(unsigned long n)
{
    size_t bytes = LP_HDR_SIZE + 2 * n + 1;
    auto *lp = static_cast<unsigned char *>(rk_malloc(bytes));
    EXPECT_NE(lp, nullptr);
    for (int i = 0; i < 4; i++)
        lp[i] = static_cast<unsigned char>(bytes >> (8 * i));
    unsigned long count = n < 65535 ? n : 65535;
    lp[4] = count & 0xFF;
    lp[5] = count >> 8;
    for (unsigned long i = 0; i < n; i++) {
        lp[LP_HDR_SIZE + 2 * i] = static_cast<unsigned char>(i % 128);
        lp[LP_HDR_SIZE + 2 * i + 1] = 1;
    }
    lp[bytes - 1] = LP_EOF;
    return lp;
}

unsigned header_count(const unsigned char *lp) { return lp[4] | (lp[5] << 8); }

TEST(Listpack, MoreThan65535Entries)
{
    unsigned char *lp = small_ints(65534);
    ASSERT_TRUE(lp_validate(lp, lp_bytes(lp)));
    lp = lp_append_int(lp, 65534);
    ASSERT_NE(lp, nullptr);
    EXPECT_EQ(header_count(lp), 65535u); // "unknown" from here on
    EXPECT_EQ(lp_length(lp), 65535u);
    for (long i = 65535; i < 70000; i++) {
        lp = lp_append_int(lp, i);
        ASSERT_NE(lp, nullptr);
    }
    EXPECT_EQ(lp_length(lp), 70000u);
    EXPECT_EQ(header_count(lp), 65535u);
    EXPECT_TRUE(lp_validate(lp, lp_bytes(lp)));
    EXPECT_EQ(entry_str(lp_seek(lp, -1)), "69999");
    EXPECT_EQ(entry_str(lp_seek(lp, 65535)), "65535");
    EXPECT_EQ(entry_str(lp_seek(lp, 65534)), "65534");
    EXPECT_EQ(entry_str(lp_seek(lp, 130)), "2");
    EXPECT_EQ(lp_find(lp, lp_first(lp), u("69998"), 5, 1), lp_seek(lp, 69998));
    lp = lp_delete_range(lp, 0, 1000);
    EXPECT_EQ(lp_length(lp), 69000u);
    EXPECT_EQ(header_count(lp), 65535u);
    lp = lp_delete_range(lp, -5000, 5000);
    EXPECT_EQ(lp_length(lp), 64000u);
    EXPECT_EQ(header_count(lp), 64000u); // exact again once it fits
    EXPECT_TRUE(lp_validate(lp, lp_bytes(lp)));
    EXPECT_EQ(entry_str(lp_first(lp)), std::to_string(1000 % 128));
    EXPECT_EQ(entry_str(lp_last(lp)), std::to_string(64999 % 128));
    lp_free(lp);

    // A loaded listpack whose header says unknown but holds fewer entries.
    lp = small_ints(70000);
    lp = lp_delete_range(lp, 100, 69000);
    EXPECT_EQ(header_count(lp), 1000u);
    lp = lp_delete(lp, lp_first(lp), nullptr);
    EXPECT_EQ(header_count(lp), 999u);
    EXPECT_TRUE(lp_validate(lp, lp_bytes(lp)));
    lp_free(lp);
}

TEST(Listpack, ValidateRejectsTruncatedInput)
{
    std::string big(5000, 'b');
    unsigned char *lp = build({"a", "-300", big, "123456789012", std::string(100, 'c')});
    size_t n = lp_bytes(lp);
    ASSERT_TRUE(lp_validate(lp, n));
    for (size_t len = 0; len < n; len++) {
        // Truncated buffer with the header claiming the truncated size too.
        std::vector<unsigned char> buf(lp, lp + len);
        EXPECT_FALSE(lp_validate(buf.data(), len)) << len;
        if (len >= 7) {
            buf[0] = len & 0xFF;
            buf[1] = (len >> 8) & 0xFF;
            buf[2] = buf[3] = 0;
            buf[len - 1] = 0xFF;
            EXPECT_FALSE(lp_validate(buf.data(), len)) << len;
        }
    }
    EXPECT_FALSE(lp_validate(nullptr, 0));
    lp_free(lp);
}

TEST(Listpack, ValidateRejectsCorruption)
{
    unsigned char *lp = build({"ab", "300", "hello"});
    size_t n = lp_bytes(lp);
    std::vector<unsigned char> good(lp, lp + n);
    // Layout: hdr(6) | 82 'a' 'b' 03 | C1 2C 02 | 85 "hello" 06 | FF
    auto bad = [&](size_t pos, unsigned char val) {
        std::vector<unsigned char> b = good;
        b[pos] = val;
        return lp_validate(b.data(), n);
    };
    EXPECT_FALSE(bad(0, static_cast<unsigned char>(n + 1))); // total bytes
    EXPECT_FALSE(bad(4, 2));                                 // count
    EXPECT_FALSE(bad(9, 4));     // backlen of "ab"
    EXPECT_FALSE(bad(6, 0xF5));  // unknown encoding
    EXPECT_FALSE(bad(6, 0xFF));  // EOF too early
    EXPECT_FALSE(bad(6, 0x8F));  // string longer than the listpack
    EXPECT_FALSE(bad(n - 1, 0)); // no EOF
    EXPECT_FALSE(bad(12, 0x03)); // backlen of 300
    EXPECT_FALSE(bad(13, 0x86)); // "hello" length 6
    // Unknown count (65535) is accepted, and counts by walking.
    std::vector<unsigned char> unk = good;
    unk[4] = unk[5] = 0xFF;
    EXPECT_TRUE(lp_validate(unk.data(), n));
    EXPECT_EQ(lp_length(unk.data()), 3u);
    // Every single-byte change either validates or is rejected without a crash.
    for (size_t pos = 0; pos < n; pos++)
        for (int val = 0; val < 256; val++)
            (void)bad(pos, static_cast<unsigned char>(val));
    lp_free(lp);
}

// Random changes checked against a std::vector model.
TEST(Listpack, RandomOperationsMatchModel)
{
    std::mt19937_64 rng(12345);
    auto random_value = [&]() -> std::string {
        switch (rng() % 6) {
        case 0: return std::to_string(static_cast<long long>(rng() % 256) - 128);
        case 1: return std::to_string(static_cast<long long>(rng() % 100000) - 50000);
        case 2: return std::to_string(static_cast<long long>(rng()));
        case 3: return std::string(rng() % 70, 'a' + static_cast<char>(rng() % 26));
        case 4: return std::string(rng() % 5000, 'k');
        default: return "0" + std::to_string(rng() % 100); // non-canonical
        }
    };
    unsigned char *lp = lp_new(0);
    std::vector<std::string> model;
    for (int op = 0; op < 3000; op++) {
        std::string v = random_value();
        uint32_t len = static_cast<uint32_t>(v.size());
        size_t n = model.size();
        size_t idx = n ? rng() % n : 0;
        switch (rng() % 7) {
        case 0: lp = lp_append(lp, u(v), len); model.push_back(v); break;
        case 1: lp = lp_prepend(lp, u(v), len); model.insert(model.begin(), v); break;
        case 2:
            if (!n) continue;
            lp = lp_insert(lp, u(v), len, lp_seek(lp, static_cast<long>(idx)), LP_AFTER, nullptr);
            model.insert(model.begin() + static_cast<long>(idx) + 1, v);
            break;
        case 3:
            if (!n) continue;
            lp = lp_insert(lp, u(v), len, lp_seek(lp, static_cast<long>(idx)), LP_REPLACE, nullptr);
            model[idx] = v;
            break;
        case 4:
            if (!n) continue;
            lp = lp_delete(lp, lp_seek(lp, -1 - static_cast<long>(idx)), nullptr);
            model.erase(model.end() - 1 - static_cast<long>(idx));
            break;
        case 5: {
            if (!n) continue;
            size_t count = rng() % 4;
            lp = lp_delete_range(lp, static_cast<long>(idx), count);
            model.erase(model.begin() + static_cast<long>(idx),
                        model.begin() + static_cast<long>(std::min(n, idx + count)));
            break;
        }
        default:
            if (!n) continue;
            EXPECT_NE(lp_find(lp, lp_first(lp), u(model[idx]), static_cast<uint32_t>(model[idx].size()), 0),
                      nullptr);
            break;
        }
        ASSERT_NE(lp, nullptr);
        ASSERT_EQ(lp_length(lp), model.size());
        if (op % 50 == 0)
            expect_sane(lp, model);
    }
    expect_sane(lp, model);
    lp_free(lp);
}

// ---- interoperability with redis-server 7.0.15 ------------------------------
// Captured once with `redis-server --rdbcompression no`, then DUMP <key>.

// HSET h a 1 b hello c 123456789012
const char *kDumpHash =
    "102323000000060081610201018162028568656c6c6f06816302f4141a99be1c00000009ff0a0075edd08c572f719c";

// CONFIG SET hash-max-listpack-value 1000; HSET big f0..f9 (every third a
// 70-byte string, else -5000*i): 12-bit strings, 16/24-bit ints, 2-byte backlens.
const char *kDumpBigHash =
    "10416d6d010000140082663003e046787878787878787878787878787878787878787878787878787878787878787878"
    "787878787878787878787878787878787878787878787878787878787878787878787878784882663103f178ec038266"
    "3203f1f0d80382663303e046787878787878787878787878787878787878787878787878787878787878787878787878"
    "787878787878787878787878787878787878787878787878787878787878787878784882663403f1e0b10382663503f1"
    "589e0382663603e046787878787878787878787878787878787878787878787878787878787878787878787878787878"
    "787878787878787878787878787878787878787878787878787878787878784882663703f24877ff0482663803f2c063"
    "ff0482663903e04678787878787878787878787878787878787878787878787878787878787878787878787878787878"
    "78787878787878787878787878787878787878787878787878787878787848ff0a00c105f1c7d4de2490";

// RPUSH l a -1 300 -70000 5000000000 <'y'*100> -0 007 4095 -4096 4096 8388607
//        -8388608 2147483647 -2147483649   (a quicklist-2 with one packed node)
const char *kDumpList =
    "12010240b3b30000000f00816102dfff02c12c02f290eefe04f400f2052a0100000009e064797979797979797979797979"
    "7979797979797979797979797979797979797979797979797979797979797979797979797979797979797979797979797979"
    "797979797979797979797979797979797979797979797979797979797979797979797979797966822d30038330303704cf"
    "ff02d00002f1001003f2ffff7f04f200008004f3ffffff7f05f4ffffff7fffffffff09ff0a00ad480a8807967cdb";

// Reads an RDB length at p (the 6-bit and 14-bit forms these dumps use).
size_t rdb_len(const unsigned char *&p)
{
    if ((p[0] & 0xC0) == 0x00)
        return *p++ & 0x3F;
    EXPECT_EQ(p[0] & 0xC0, 0x40);
    size_t len = (static_cast<size_t>(p[0] & 0x3F) << 8) | p[1];
    p += 2;
    return len;
}

// Returns the listpack bytes inside a DUMP payload after `prefix_lens`
// extra RDB lengths (quicklist: node count, container kind).
std::vector<unsigned char> embedded_listpack(const char *hex, unsigned char type, int prefix_lens)
{
    std::vector<unsigned char> dump = from_hex(hex);
    const unsigned char *p = dump.data();
    EXPECT_EQ(*p++, type);
    for (int i = 0; i < prefix_lens; i++)
        (void)rdb_len(p);
    size_t len = rdb_len(p);
    EXPECT_EQ(static_cast<size_t>(p - dump.data()) + len + 10, dump.size()); // + version + CRC
    return std::vector<unsigned char>(p, p + len);
}

void check_interop(const std::vector<unsigned char> &blob, const std::vector<std::string> &want)
{
    ASSERT_TRUE(lp_validate(blob.data(), blob.size()));
    std::vector<unsigned char> copy = blob; // navigation takes non-const pointers
    expect_sane(copy.data(), want);
    // Built here, byte for byte the same.
    unsigned char *lp = build(want);
    ASSERT_EQ(lp_bytes(lp), blob.size());
    EXPECT_EQ(memcmp(lp, blob.data(), blob.size()), 0);
    lp_free(lp);
}

TEST(ListpackInterop, RedisHashDump)
{
    std::vector<unsigned char> blob = embedded_listpack(kDumpHash, 16, 0);
    EXPECT_EQ(blob.size(), 0x23u);
    check_interop(blob, {"a", "1", "b", "hello", "c", "123456789012"});
    lp_value v;
    std::vector<unsigned char> copy = blob;
    lp_get(lp_seek(copy.data(), 5), &v);
    EXPECT_EQ(v.sval, nullptr);
    EXPECT_EQ(v.lval, 123456789012LL);
}

TEST(ListpackInterop, RedisBigHashDump)
{
    std::vector<std::string> want;
    for (int i = 0; i < 10; i++) {
        want.push_back("f" + std::to_string(i));
        want.push_back(i % 3 == 0 ? std::string(70, 'x') : std::to_string(-5000 * i));
    }
    check_interop(embedded_listpack(kDumpBigHash, 16, 0), want);
}

TEST(ListpackInterop, RedisQuicklistNodeDump)
{
    check_interop(embedded_listpack(kDumpList, 18, 2),
                  {"a", "-1", "300", "-70000", "5000000000", std::string(100, 'y'), "-0", "007",
                   "4095", "-4096", "4096", "8388607", "-8388608", "2147483647", "-2147483649"});
}

} // namespace
