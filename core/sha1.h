/* sha1.h: SHA-1 (FIPS 180-4), for DEBUG DIGEST and anything else that needs
 * Redis-compatible SHA-1 digests. Not for security.
 *
 * Any thread may use it; a context is owned by its caller. */
#ifndef RK_CORE_SHA1_H
#define RK_CORE_SHA1_H

#include <stddef.h>
#include <stdint.h>

#define RK_SHA1_LEN 20

typedef struct rk_sha1_ctx {
    uint32_t h[5];
    uint64_t total;        /* bytes hashed so far */
    uint8_t block[64];
    size_t block_len;      /* bytes waiting in block, < 64 */
} rk_sha1_ctx;

void rk_sha1_init(rk_sha1_ctx *ctx);
void rk_sha1_update(rk_sha1_ctx *ctx, const void *data, size_t len);
void rk_sha1_final(rk_sha1_ctx *ctx, uint8_t out[RK_SHA1_LEN]);
/* One-shot digest of data. */
void rk_sha1(const void *data, size_t len, uint8_t out[RK_SHA1_LEN]);
/* Lower-case hex of a digest into out (41 bytes, NUL-terminated). */
void rk_sha1_hex(const uint8_t digest[RK_SHA1_LEN], char out[2 * RK_SHA1_LEN + 1]);

#endif
