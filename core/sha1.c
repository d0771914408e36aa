/* sha1.c: SHA-1 per FIPS 180-4.
 *
 * Pure functions over a caller-owned context: any thread may call them.
 * Invariant: ctx->block_len < 64 between calls. */
#include "core/sha1.h"

#include <assert.h>
#include <string.h>

static uint32_t rol32(uint32_t v, int n) { return (v << n) | (v >> (32 - n)); }

static void sha1_compress(uint32_t h[5], const uint8_t block[64]) {
    uint32_t w[80];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)block[4 * i] << 24 | (uint32_t)block[4 * i + 1] << 16 |
               (uint32_t)block[4 * i + 2] << 8 | (uint32_t)block[4 * i + 3];
    for (int i = 16; i < 80; i++) w[i] = rol32(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);

    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
    for (int i = 0; i < 80; i++) {
        uint32_t f, k;
        if (i < 20) {
            f = (b & c) | (~b & d);
            k = 0x5A827999u;
        } else if (i < 40) {
            f = b ^ c ^ d;
            k = 0x6ED9EBA1u;
        } else if (i < 60) {
            f = (b & c) | (b & d) | (c & d);
            k = 0x8F1BBCDCu;
        } else {
            f = b ^ c ^ d;
            k = 0xCA62C1D6u;
        }
        uint32_t tmp = rol32(a, 5) + f + e + k + w[i];
        e = d;
        d = c;
        c = rol32(b, 30);
        b = a;
        a = tmp;
    }
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
    h[4] += e;
}

void rk_sha1_init(rk_sha1_ctx *ctx) {
    ctx->h[0] = 0x67452301u;
    ctx->h[1] = 0xEFCDAB89u;
    ctx->h[2] = 0x98BADCFEu;
    ctx->h[3] = 0x10325476u;
    ctx->h[4] = 0xC3D2E1F0u;
    ctx->total = 0;
    ctx->block_len = 0;
}

void rk_sha1_update(rk_sha1_ctx *ctx, const void *data, size_t len) {
    const uint8_t *p = data;
    assert(ctx->block_len < 64);
    ctx->total += len;
    while (len > 0) {
        size_t take = 64 - ctx->block_len;
        if (take > len) take = len;
        memcpy(ctx->block + ctx->block_len, p, take);
        ctx->block_len += take;
        p += take;
        len -= take;
        if (ctx->block_len == 64) {
            sha1_compress(ctx->h, ctx->block);
            ctx->block_len = 0;
        }
    }
}

void rk_sha1_final(rk_sha1_ctx *ctx, uint8_t out[RK_SHA1_LEN]) {
    uint64_t bits = ctx->total * 8;
    /* 0x80, then zeros up to 56 mod 64, in one update. */
    static const uint8_t pad[64] = {0x80};
    rk_sha1_update(ctx, pad, ctx->block_len < 56 ? 56 - ctx->block_len : 120 - ctx->block_len);
    uint8_t lenbe[8];
    for (int i = 0; i < 8; i++) lenbe[i] = (uint8_t)(bits >> (56 - 8 * i));
    rk_sha1_update(ctx, lenbe, 8);
    assert(ctx->block_len == 0);
    for (int i = 0; i < 5; i++) {
        out[4 * i] = (uint8_t)(ctx->h[i] >> 24);
        out[4 * i + 1] = (uint8_t)(ctx->h[i] >> 16);
        out[4 * i + 2] = (uint8_t)(ctx->h[i] >> 8);
        out[4 * i + 3] = (uint8_t)ctx->h[i];
    }
}

void rk_sha1(const void *data, size_t len, uint8_t out[RK_SHA1_LEN]) {
    rk_sha1_ctx ctx;
    rk_sha1_init(&ctx);
    rk_sha1_update(&ctx, data, len);
    rk_sha1_final(&ctx, out);
}

void rk_sha1_hex(const uint8_t digest[RK_SHA1_LEN], char out[2 * RK_SHA1_LEN + 1]) {
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < RK_SHA1_LEN; i++) {
        out[2 * i] = hex[digest[i] >> 4];
        out[2 * i + 1] = hex[digest[i] & 15];
    }
    out[2 * RK_SHA1_LEN] = '\0';
}
