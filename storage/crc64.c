/* crc64.c: Redis's CRC-64 variant (see crc64.h), byte-at-a-time with a
 * 256-entry table built once by a constructor before any thread runs; the
 * table is read-only afterwards, so every thread may call rk_crc64. */
#include "storage/crc64.h"

/* The Jones polynomial with its bits reversed, for the reflected algorithm. */
#define CRC64_JONES_REFLECTED 0x95ac9329ac4bc9b5ULL

static uint64_t crc64_table[256];

__attribute__((constructor)) static void crc64_build_table(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint64_t crc = i;
        for (int bit = 0; bit < 8; bit++)
            crc = (crc & 1) ? (crc >> 1) ^ CRC64_JONES_REFLECTED : crc >> 1;
        crc64_table[i] = crc;
    }
}

uint64_t rk_crc64(uint64_t crc, const void *p, size_t n)
{
    const unsigned char *s = p;
    for (size_t i = 0; i < n; i++)
        crc = crc64_table[(crc ^ s[i]) & 0xff] ^ (crc >> 8);
    return crc;
}
