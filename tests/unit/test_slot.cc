// Slot function: Redis Cluster's CRC16 (XMODEM) and hash-tag rule.
#include <gtest/gtest.h>
#include <cstring>

extern "C" {
uint16_t rk_crc16(const char *buf, size_t len);
unsigned rk_key_slot(const char *key, size_t len);
}

static unsigned slot(const char *k) { return rk_key_slot(k, strlen(k)); }

TEST(Slot, Crc16RedisTestVector) {
    // The check value Redis's crc16.c documents for "123456789".
    EXPECT_EQ(rk_crc16("123456789", 9), 0x31C3);
    EXPECT_EQ(rk_crc16("", 0), 0);
}

TEST(Slot, KnownSlotsMatchRedisCluster) {
    // CLUSTER KEYSLOT values from a real Redis Cluster.
    EXPECT_EQ(slot("foo"), 12182u);
    EXPECT_EQ(slot("bar"), 5061u);
    EXPECT_EQ(slot("hello"), 866u);
}

TEST(Slot, HashTagsKeepKeysTogether) {
    EXPECT_EQ(slot("{user1000}.following"), slot("{user1000}.followers"));
    EXPECT_EQ(slot("{user1000}.following"), slot("user1000"));
    // Only the first {...} counts, and an empty tag hashes the whole key.
    EXPECT_EQ(slot("foo{bar}{zap}"), slot("bar"));
    EXPECT_EQ(slot("foo{}{bar}"), rk_crc16("foo{}{bar}", 10) & 16383u);
    EXPECT_EQ(slot("foo{{bar}}zap"), slot("{bar"));
    EXPECT_EQ(slot("foo{bar"), rk_crc16("foo{bar", 7) & 16383u);
}

TEST(Slot, AlwaysInRange) {
    char key[32];
    for (int i = 0; i < 100000; i++) {
        int n = snprintf(key, sizeof(key), "key:%d", i);
        EXPECT_LT(rk_key_slot(key, (size_t)n), 16384u);
    }
}
