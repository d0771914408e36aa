// Unit tests for core/object.c: Redis-compatible number parsing and
// formatting, string encodings, rk_str growth, dup/free and conversions.
#include <gtest/gtest.h>

#include <climits>
#include <cmath>
#include <cstring>
#include <string>

extern "C" {
#include "core/object.h"
}

namespace {

bool ll(const std::string &s, long long *out)
{
    return rk_str2ll(s.data(), s.size(), out) == 1;
}

std::string bytes_of(const rk_obj *o)
{
    char tmp[24];
    rk_slice s = obj_string_bytes(o, tmp);
    return std::string(s.ptr, s.len);
}

TEST(Str2ll, AcceptsExactIntegers)
{
    long long v = -1;
    EXPECT_TRUE(ll("0", &v));
    EXPECT_EQ(v, 0);
    EXPECT_TRUE(ll("1", &v));
    EXPECT_EQ(v, 1);
    EXPECT_TRUE(ll("-1", &v));
    EXPECT_EQ(v, -1);
    EXPECT_TRUE(ll("9223372036854775807", &v));
    EXPECT_EQ(v, LLONG_MAX);
    EXPECT_TRUE(ll("-9223372036854775808", &v));
    EXPECT_EQ(v, LLONG_MIN);
    EXPECT_TRUE(ll("1234567890", &v));
    EXPECT_EQ(v, 1234567890);
}

TEST(Str2ll, RejectsWhatDoesNotRoundTrip)
{
    long long v;
    for (const char *s : {"", "-", "+1", " 1", "1 ", "01", "-0", "00", "1a", "a1", "1.0",
                          "9223372036854775808", "-9223372036854775809",
                          "18446744073709551616", "99999999999999999999", "123456789012345678901",
                          "0x10", "1e3"})
        EXPECT_FALSE(ll(s, &v)) << "'" << s << "'";
    // An embedded NUL is not a digit.
    EXPECT_EQ(rk_str2ll("1\0" "2", 3, &v), 0);
}

TEST(Str2ld, ParsesLikeRedis)
{
    long double v;
    EXPECT_EQ(rk_str2ld("1.5", 3, &v), 1);
    EXPECT_EQ(v, 1.5L);
    EXPECT_EQ(rk_str2ld("-10", 3, &v), 1);
    EXPECT_EQ(v, -10.0L);
    EXPECT_EQ(rk_str2ld("5.0e3", 5, &v), 1);
    EXPECT_EQ(v, 5000.0L);
    EXPECT_EQ(rk_str2ld("inf", 3, &v), 1);  // accepted here; INCRBYFLOAT rejects the result
    EXPECT_TRUE(std::isinf(v));
    EXPECT_EQ(rk_str2ld("", 0, &v), 0);
    EXPECT_EQ(rk_str2ld(" 1", 2, &v), 0);
    EXPECT_EQ(rk_str2ld("1 ", 2, &v), 0);
    EXPECT_EQ(rk_str2ld("abc", 3, &v), 0);
    EXPECT_EQ(rk_str2ld("nan", 3, &v), 0);
    EXPECT_EQ(rk_str2ld("1e5000", 6, &v), 0);  // overflow (ERANGE)
    EXPECT_EQ(rk_str2ld("1\0" "2", 3, &v), 0);
    std::string huge(6000, '1');
    EXPECT_EQ(rk_str2ld(huge.data(), huge.size(), &v), 0);
}

TEST(Str2d, ParsesLikeRedis)
{
    double d;
    EXPECT_EQ(rk_str2d("3.25", 4, &d), 1);
    EXPECT_EQ(d, 3.25);
    EXPECT_EQ(rk_str2d("-inf", 4, &d), 1);
    EXPECT_TRUE(std::isinf(d) && d < 0);
    EXPECT_EQ(rk_str2d("+inf", 4, &d), 1);
    EXPECT_EQ(rk_str2d("nan", 3, &d), 0);
    EXPECT_EQ(rk_str2d("1e400", 5, &d), 0);
    EXPECT_EQ(rk_str2d(" 1", 2, &d), 0);
    EXPECT_EQ(rk_str2d("1x", 2, &d), 0);
    EXPECT_EQ(rk_str2d("", 0, &d), 0);
}

TEST(Ll2str, FormatsEveryRange)
{
    char buf[24];
    EXPECT_EQ(rk_ll2str(buf, sizeof buf, 0), 1);
    EXPECT_STREQ(buf, "0");
    EXPECT_EQ(rk_ll2str(buf, sizeof buf, -42), 3);
    EXPECT_STREQ(buf, "-42");
    EXPECT_EQ(rk_ll2str(buf, sizeof buf, LLONG_MAX), 19);
    EXPECT_STREQ(buf, "9223372036854775807");
    EXPECT_EQ(rk_ll2str(buf, sizeof buf, LLONG_MIN), 20);
    EXPECT_STREQ(buf, "-9223372036854775808");
    char small[3];
    EXPECT_EQ(rk_ll2str(small, sizeof small, 123), 0);  // does not fit with its NUL
    EXPECT_EQ(rk_ll2str(small, sizeof small, 12), 2);
}

TEST(Ll2str, RoundTripsThroughStr2ll)
{
    for (long long v : {0LL, 1LL, -1LL, 9LL, 10LL, 99LL, 100LL, 123456789LL, -987654321LL, LLONG_MAX,
                        LLONG_MIN, LLONG_MAX - 1, LLONG_MIN + 1}) {
        char buf[24];
        int n = rk_ll2str(buf, sizeof buf, v);
        long long back;
        ASSERT_EQ(rk_str2ll(buf, (size_t)n, &back), 1) << buf;
        EXPECT_EQ(back, v);
    }
}

TEST(Encoding, PicksIntEmbstrRawAsRedis)
{
    struct Case {
        std::string value;
        int encoding;
    } cases[] = {
        {"123", ENC_INT},
        {"0", ENC_INT},
        {"-5", ENC_INT},
        {"9223372036854775807", ENC_INT},
        {"9223372036854775808", ENC_EMBSTR},  // out of int64 range
        {"007", ENC_EMBSTR},
        {"-0", ENC_EMBSTR},
        {" 1", ENC_EMBSTR},
        {"1.5", ENC_EMBSTR},
        {"", ENC_EMBSTR},
        {"hello", ENC_EMBSTR},
        {std::string(44, 'x'), ENC_EMBSTR},
        {std::string(45, 'x'), ENC_RAW},
        {std::string(1000, 'y'), ENC_RAW},
    };
    for (const Case &c : cases) {
        rk_obj *o = obj_new_string(c.value.data(), c.value.size());
        ASSERT_NE(o, nullptr);
        EXPECT_EQ(o->type, OBJ_STRING);
        EXPECT_EQ(o->encoding, c.encoding) << "'" << c.value << "'";
        EXPECT_EQ(bytes_of(o), c.value);
        EXPECT_EQ(obj_string_len(o), c.value.size());
        EXPECT_GE(obj_heap_size(o), sizeof(rk_obj));
        obj_free(o);
    }
}

TEST(Encoding, NoIntKeepsDigitsAsText)
{
    rk_obj *o = obj_new_string_noint("3", 1);
    ASSERT_NE(o, nullptr);
    EXPECT_EQ(o->encoding, ENC_EMBSTR);
    obj_free(o);
    std::string longer(60, '7');
    o = obj_new_string_noint(longer.data(), longer.size());
    ASSERT_NE(o, nullptr);
    EXPECT_EQ(o->encoding, ENC_RAW);
    obj_free(o);
}

TEST(Encoding, IntObjectsFormatTheirValue)
{
    rk_obj *o = obj_new_int(-12345);
    ASSERT_NE(o, nullptr);
    EXPECT_EQ(o->encoding, ENC_INT);
    EXPECT_EQ(bytes_of(o), "-12345");
    EXPECT_EQ(obj_string_len(o), 6u);
    obj_free(o);
}

TEST(Encoding, MakeRawKeepsPointerAndBytes)
{
    for (const char *v : {"42", "short text"}) {
        rk_obj *o = obj_new_string(v, strlen(v));
        ASSERT_NE(o, nullptr);
        rk_obj *same = obj_make_raw(o, 100);
        ASSERT_EQ(same, o);
        EXPECT_EQ(o->encoding, ENC_RAW);
        EXPECT_EQ(bytes_of(o), v);
        EXPECT_GE(o->u.str->cap, o->u.str->len + 100);
        // Writing through the raw string is now allowed.
        memcpy(o->u.str->data + o->u.str->len, "!", 2);
        o->u.str->len += 1;
        EXPECT_EQ(bytes_of(o), std::string(v) + "!");
        obj_free(o);
    }
}

TEST(Encoding, DupCopiesEveryEncoding)
{
    std::string longv(100, 'z');
    for (const std::string &v : {std::string("77"), std::string("abc"), longv}) {
        rk_obj *o = obj_new_string(v.data(), v.size());
        ASSERT_NE(o, nullptr);
        rk_obj *d = obj_dup(o);
        ASSERT_NE(d, nullptr);
        EXPECT_EQ(d->encoding, o->encoding);
        EXPECT_EQ(bytes_of(d), v);
        if (o->encoding != ENC_INT) {
            EXPECT_NE(d->u.str, o->u.str);
        }
        obj_free(o);
        EXPECT_EQ(bytes_of(d), v);  // independent of the original
        obj_free(d);
    }
}

TEST(RkStr, GrowsGeometricallyAndKeepsBytes)
{
    rk_str *s = rkstr_new("abc", 3);
    ASSERT_NE(s, nullptr);
    EXPECT_EQ(s->cap, 3u);
    EXPECT_EQ(s->data[3], '\0');
    s = rkstr_grow(s, 10);
    ASSERT_NE(s, nullptr);
    EXPECT_GE(s->cap, 13u * 2);
    EXPECT_EQ(std::string(s->data, s->len), "abc");
    rk_str *same = rkstr_grow(s, 1);  // enough room already
    EXPECT_EQ(same, s);
    rkstr_free(s);

    rk_str *z = rkstr_new(nullptr, 5);  // zero-filled
    ASSERT_NE(z, nullptr);
    for (int i = 0; i < 5; i++)
        EXPECT_EQ(z->data[i], 0);
    rkstr_free(z);
}

TEST(RkStr, HashAndEquality)
{
    rk_str *a = rkstr_new("key", 3), *b = rkstr_new("key", 3), *c = rkstr_new("kez", 3);
    rk_str *d = rkstr_new("key\0", 4);
    EXPECT_TRUE(rkstr_equal(a, b));
    EXPECT_FALSE(rkstr_equal(a, c));
    EXPECT_FALSE(rkstr_equal(a, d));
    EXPECT_EQ(rkstr_hash(a), rkstr_hash(b));
    EXPECT_NE(rkstr_hash(a), rkstr_hash(c));
    rkstr_destructor(a);
    rkstr_free(b);
    rkstr_free(c);
    rkstr_free(d);
}

TEST(Names, TypeAndEncodingNames)
{
    EXPECT_STREQ(obj_type_name(OBJ_STRING), "string");
    EXPECT_STREQ(obj_type_name(OBJ_LIST), "list");
    EXPECT_STREQ(obj_type_name(OBJ_SET), "set");
    EXPECT_STREQ(obj_type_name(OBJ_ZSET), "zset");
    EXPECT_STREQ(obj_type_name(OBJ_HASH), "hash");
    EXPECT_STREQ(obj_type_name(OBJ_STREAM), "stream");
    EXPECT_STREQ(obj_encoding_name(ENC_INT), "int");
    EXPECT_STREQ(obj_encoding_name(ENC_EMBSTR), "embstr");
    EXPECT_STREQ(obj_encoding_name(ENC_RAW), "raw");
    EXPECT_STREQ(obj_encoding_name(ENC_HT), "hashtable");
    EXPECT_STREQ(obj_encoding_name(ENC_LISTPACK), "listpack");
    EXPECT_STREQ(obj_encoding_name(ENC_QUICKLIST), "quicklist");
    EXPECT_STREQ(obj_encoding_name(ENC_SKIPLIST), "skiplist");
    EXPECT_STREQ(obj_encoding_name(ENC_INTSET), "intset");
}

}  // namespace
