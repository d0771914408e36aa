/* t_hll.c: HyperLogLog (PFADD PFCOUNT PFMERGE PFDEBUG PFSELFTEST).
 *
 * A HyperLogLog is a string value in Redis's byte format, so DUMP/RESTORE,
 * RDB files and replication move it between ringkv and redis-server as is:
 *
 *   header (16 bytes): "HYLL", encoding (0 dense, 1 sparse), 3 zero bytes,
 *                      cached cardinality (8 bytes little endian; the top
 *                      bit of the last byte set = cache invalid)
 *   dense:  16384 registers of 6 bits, packed from the low bit up (12288 bytes)
 *   sparse: run-length opcodes: 00xxxxxx ZERO (1..64 zero registers),
 *           01xxxxxx yyyyyyyy XZERO (1..16384), 1vvvvvxx VAL (value 1..32
 *           repeated 1..4 times); they must cover exactly 16384 registers.
 *
 * Byte-exactness: every update follows Redis's sparse algorithm step by step
 * (split the opcode covering the register into at most three, then merge
 * equal neighbouring VALs within a window of five opcodes), because the
 * sparse form of a sketch depends on the order of its updates, not only on
 * its registers. The hash is MurmurHash64A with seed 0xadc83b19 and the
 * estimator is Ertl's improved one, as Redis 7.0.
 *
 * Thread: the shard thread that owns the key (commands run through the
 * command table). Multi-key PFCOUNT / PFMERGE with keys on several shards
 * run through the generic multi-key executor (core/multikey.c). */
#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/command.h"
#include "core/db.h"
#include "core/object.h"
#include "core/shard.h"

#define HLL_P 14
#define HLL_Q (64 - HLL_P)
#define HLL_REGISTERS (1 << HLL_P)
#define HLL_P_MASK (HLL_REGISTERS - 1)
#define HLL_BITS 6
#define HLL_REGISTER_MAX ((1 << HLL_BITS) - 1)
#define HLL_HDR_SIZE 16
#define HLL_DENSE_SIZE (HLL_HDR_SIZE + (HLL_REGISTERS * HLL_BITS + 7) / 8)
#define HLL_DENSE 0
#define HLL_SPARSE 1
#define HLL_MAX_ENCODING 1
#define HLL_ALPHA_INF 0.721347520444481703680 /* 0.5 / ln(2) */

#define SP_VAL_MAX_VALUE 32
#define SP_VAL_MAX_LEN 4
#define SP_ZERO_MAX_LEN 64
#define SP_XZERO_MAX_LEN 16384

#define HDR_ENCODING 4
#define HDR_CARD 8

static const char *const invalid_hll_err = "INVALIDOBJ Corrupted HLL object detected";

/* ---- sparse opcodes ------------------------------------------------------ */

static inline int sp_is_zero(const uint8_t *p) { return (*p & 0xc0) == 0; }
static inline int sp_is_xzero(const uint8_t *p) { return (*p & 0xc0) == 0x40; }
static inline int sp_is_val(const uint8_t *p) { return (*p & 0x80) != 0; }
static inline int sp_zero_len(const uint8_t *p) { return (*p & 0x3f) + 1; }
static inline int sp_xzero_len(const uint8_t *p) { return (((*p & 0x3f) << 8) | p[1]) + 1; }
static inline int sp_val_value(const uint8_t *p) { return ((*p >> 2) & 0x1f) + 1; }
static inline int sp_val_len(const uint8_t *p) { return (*p & 0x3) + 1; }
static inline void sp_set_val(uint8_t *p, int val, int len) { *p = (uint8_t)(((val - 1) << 2 | (len - 1)) | 0x80); }
static inline void sp_set_zero(uint8_t *p, int len) { *p = (uint8_t)(len - 1); }
static inline void sp_set_xzero(uint8_t *p, int len)
{
    p[0] = (uint8_t)(((len - 1) >> 8) | 0x40);
    p[1] = (uint8_t)((len - 1) & 0xff);
}

/* ---- dense registers ------------------------------------------------------ */

/* Register i spans bits [6i, 6i+6) of the array, low bit first; the last
 * register ends inside the last byte, so a second byte is read only when
 * the register crosses a byte boundary. */
static inline unsigned dense_get(const uint8_t *regs, long i)
{
    unsigned long byte = (unsigned long)i * HLL_BITS / 8, fb = (unsigned long)i * HLL_BITS & 7;
    unsigned v = regs[byte] >> fb;
    if (fb > 8 - HLL_BITS)
        v |= (unsigned)regs[byte + 1] << (8 - fb);
    return v & HLL_REGISTER_MAX;
}

static inline void dense_set(uint8_t *regs, long i, unsigned val)
{
    unsigned long byte = (unsigned long)i * HLL_BITS / 8, fb = (unsigned long)i * HLL_BITS & 7;
    regs[byte] = (uint8_t)((regs[byte] & ~(HLL_REGISTER_MAX << fb)) | (val << fb));
    if (fb > 8 - HLL_BITS) {
        unsigned sh = 8 - (unsigned)fb;
        regs[byte + 1] = (uint8_t)((regs[byte + 1] & ~(HLL_REGISTER_MAX >> sh)) | (val >> sh));
    }
}

/* 1 when the register grew. */
static int dense_raise(uint8_t *regs, long i, unsigned count)
{
    if (count <= dense_get(regs, i))
        return 0;
    dense_set(regs, i, count);
    return 1;
}

/* ---- hashing ----------------------------------------------------------------- */

/* MurmurHash2, 64-bit, read little endian (Redis's endian-neutral variant). */
static uint64_t murmur64a(const uint8_t *data, size_t len, uint64_t seed)
{
    const uint64_t m = 0xc6a4a7935bd1e995ULL;
    const int r = 47;
    uint64_t h = seed ^ ((uint64_t)len * m);
    size_t blocks = len / 8;
    for (size_t b = 0; b < blocks; b++, data += 8) {
        uint64_t k = 0;
        for (int j = 7; j >= 0; j--)
            k = (k << 8) | data[j];
        k *= m;
        k ^= k >> r;
        k *= m;
        h ^= k;
        h *= m;
    }
    size_t rest = len & 7;
    if (rest) {
        for (size_t j = rest; j-- > 0;)
            h ^= (uint64_t)data[j] << (8 * j);
        h *= m;
    }
    h ^= h >> r;
    h *= m;
    h ^= h >> r;
    return h;
}

/* The register an element falls in and the length of its 00..1 pattern
 * (1..Q+1). Redis hashes with a 32-bit seed argument; the value fits. */
static int hll_pattern(const void *ele, size_t len, long *reg)
{
    uint64_t hash = murmur64a(ele, len, 0xadc83b19ULL);
    *reg = (long)(hash & HLL_P_MASK);
    hash >>= HLL_P;
    hash |= (uint64_t)1 << HLL_Q; /* the loop ends by Q+1 */
    int count = 1;
    for (uint64_t bit = 1; (hash & bit) == 0; bit <<= 1)
        count++;
    return count;
}

/* ---- the value ------------------------------------------------------------------ */

static uint8_t *hll_bytes(rk_obj *o) { return (uint8_t *)o->u.str->data; }
static size_t hll_len(const rk_obj *o) { return o->u.str->len; }

static void hll_invalidate_cache(rk_obj *o) { hll_bytes(o)[HDR_CARD + 7] |= 0x80; }

/* A new empty sketch: sparse, all registers in XZERO runs (Redis's layout). */
static rk_obj *hll_new(void)
{
    uint8_t buf[HLL_HDR_SIZE + 2 * ((HLL_REGISTERS + SP_XZERO_MAX_LEN - 1) / SP_XZERO_MAX_LEN)];
    memset(buf, 0, sizeof(buf));
    memcpy(buf, "HYLL", 4);
    buf[HDR_ENCODING] = HLL_SPARSE;
    uint8_t *p = buf + HLL_HDR_SIZE;
    for (int left = HLL_REGISTERS; left > 0; p += 2) {
        int run = left < SP_XZERO_MAX_LEN ? left : SP_XZERO_MAX_LEN;
        sp_set_xzero(p, run);
        left -= run;
    }
    assert(p == buf + sizeof(buf));
    return obj_new_raw(buf, sizeof(buf));
}

/* Redis's isHLLObjectOrReply: a string (not int-encoded) with the magic,
 * a known encoding, and the exact size when dense. */
static int hll_valid_or_reply(rk_ctx *c, const rk_obj *o)
{
    if (o->type != OBJ_STRING) {
        ctx_wrongtype(c);
        return -1;
    }
    if (o->encoding == ENC_INT || o->u.str->len < HLL_HDR_SIZE)
        goto invalid;
    const uint8_t *p = (const uint8_t *)o->u.str->data;
    if (memcmp(p, "HYLL", 4) != 0 || p[HDR_ENCODING] > HLL_MAX_ENCODING)
        goto invalid;
    if (p[HDR_ENCODING] == HLL_DENSE && o->u.str->len != HLL_DENSE_SIZE)
        goto invalid;
    return 0;
invalid:
    ctx_error(c, "WRONGTYPE Key is not a valid HyperLogLog string value.");
    return -1;
}

/* Decodes a sparse body into one byte per register (max-merged into regs).
 * 0, or -1 when the opcodes do not cover exactly HLL_REGISTERS. */
static int sparse_merge_into(uint8_t *regs, const uint8_t *p, const uint8_t *end)
{
    long i = 0;
    while (p < end) {
        if (sp_is_zero(p)) {
            i += sp_zero_len(p);
            p++;
        } else if (sp_is_xzero(p)) {
            if (p + 1 >= end)
                return -1;
            i += sp_xzero_len(p);
            p += 2;
        } else {
            int run = sp_val_len(p), val = sp_val_value(p);
            if (i + run > HLL_REGISTERS)
                return -1;
            for (; run > 0; run--, i++)
                if (val > regs[i])
                    regs[i] = (uint8_t)val;
            p++;
        }
    }
    return i == HLL_REGISTERS ? 0 : -1;
}

/* Max-merges any valid sketch into regs (one byte per register). */
static int hll_merge_into(uint8_t *regs, rk_obj *o)
{
    const uint8_t *b = hll_bytes(o);
    if (b[HDR_ENCODING] == HLL_DENSE) {
        for (long i = 0; i < HLL_REGISTERS; i++) {
            unsigned v = dense_get(b + HLL_HDR_SIZE, i);
            if (v > regs[i])
                regs[i] = (uint8_t)v;
        }
        return 0;
    }
    return sparse_merge_into(regs, b + HLL_HDR_SIZE, b + hll_len(o));
}

/* Rewrites a sparse value as dense in place (the header, cache included,
 * is kept). 0, -1 corrupt, -2 out of memory; o is unchanged on failure. */
static int hll_to_dense(rk_obj *o)
{
    if (hll_bytes(o)[HDR_ENCODING] == HLL_DENSE)
        return 0;
    uint8_t *regs = calloc(HLL_REGISTERS, 1);
    if (!regs)
        return -2;
    if (sparse_merge_into(regs, hll_bytes(o) + HLL_HDR_SIZE, hll_bytes(o) + hll_len(o)) != 0) {
        free(regs);
        return -1;
    }
    rk_str *s = rkstr_new_cap(NULL, 0, HLL_DENSE_SIZE);
    if (!s) {
        free(regs);
        return -2;
    }
    memcpy(s->data, hll_bytes(o), HLL_HDR_SIZE);
    memset(s->data + HLL_HDR_SIZE, 0, HLL_DENSE_SIZE - HLL_HDR_SIZE);
    s->data[HDR_ENCODING] = HLL_DENSE;
    for (long i = 0; i < HLL_REGISTERS; i++)
        if (regs[i])
            dense_set((uint8_t *)s->data + HLL_HDR_SIZE, i, regs[i]);
    s->len = HLL_DENSE_SIZE;
    s->data[s->len] = '\0';
    free(regs);
    rkstr_free(o->u.str);
    o->u.str = s;
    return 0;
}

/* Redis's hllSparseSet: raises register `index` to `count` in a sparse
 * value, promoting it to dense when the value cannot hold the result
 * (count > 32, or growing past hll-sparse-max-bytes).
 * 1 changed, 0 unchanged, -1 corrupt, -2 out of memory. */
static int sparse_set(rk_obj *o, long index, unsigned count, long long max_bytes)
{
    if (count > SP_VAL_MAX_VALUE)
        goto promote;
    /* Room for the worst case (XZERO split into XZERO VAL XZERO: +3 bytes)
     * before any pointer into the bytes is taken. */
    rk_str *grown = rkstr_grow(o->u.str, 3);
    if (!grown)
        return -2;
    o->u.str = grown;
    uint8_t *sparse = hll_bytes(o) + HLL_HDR_SIZE, *p = sparse;
    uint8_t *end = hll_bytes(o) + hll_len(o);
    uint8_t *prev = NULL;
    long first = 0, span = 0;
    while (p < end) {
        long oplen = 1;
        if (sp_is_zero(p)) {
            span = sp_zero_len(p);
        } else if (sp_is_val(p)) {
            span = sp_val_len(p);
        } else {
            if (p + 1 >= end)
                return -1;
            span = sp_xzero_len(p);
            oplen = 2;
        }
        if (index <= first + span - 1)
            break;
        prev = p;
        p += oplen;
        first += span;
    }
    if (span == 0 || p >= end)
        return -1;

    int is_zero = sp_is_zero(p), is_xzero = sp_is_xzero(p), is_val = sp_is_val(p);
    long runlen = is_zero ? sp_zero_len(p) : is_xzero ? sp_xzero_len(p) : sp_val_len(p);
    uint8_t *next = is_xzero ? p + 2 : p + 1;
    if (next >= end)
        next = NULL;

    if (is_val) {
        if ((unsigned)sp_val_value(p) >= count)
            return 0;
        if (runlen == 1) {
            sp_set_val(p, (int)count, 1);
            goto updated;
        }
    }
    if (is_zero && runlen == 1) {
        sp_set_val(p, (int)count, 1);
        goto updated;
    }

    /* Split the opcode into (left run) VAL(count) (right run). */
    uint8_t seq[5], *n = seq;
    long last = first + span - 1;
    if (is_zero || is_xzero) {
        if (index != first) {
            long len = index - first;
            if (len > SP_ZERO_MAX_LEN) {
                sp_set_xzero(n, (int)len);
                n += 2;
            } else {
                sp_set_zero(n++, (int)len);
            }
        }
        sp_set_val(n++, (int)count, 1);
        if (index != last) {
            long len = last - index;
            if (len > SP_ZERO_MAX_LEN) {
                sp_set_xzero(n, (int)len);
                n += 2;
            } else {
                sp_set_zero(n++, (int)len);
            }
        }
    } else {
        int curval = sp_val_value(p);
        if (index != first)
            sp_set_val(n++, curval, (int)(index - first));
        sp_set_val(n++, (int)count, 1);
        if (index != last)
            sp_set_val(n++, curval, (int)(last - index));
    }
    long seqlen = n - seq, oldlen = is_xzero ? 2 : 1, delta = seqlen - oldlen;
    if (delta > 0 && (long long)hll_len(o) + delta > max_bytes)
        goto promote;
    if (delta && next)
        memmove(next + delta, next, (size_t)(end - next));
    o->u.str->len = (uint32_t)((long)o->u.str->len + delta);
    o->u.str->data[o->u.str->len] = '\0';
    memcpy(p, seq, (size_t)seqlen);
    end += delta;

updated:
    /* Merge equal neighbouring VALs, scanning five opcodes from prev (Redis
     * counts a pass after a merge as one of the five). */
    p = prev ? prev : sparse;
    for (int scan = 5; p < end && scan-- > 0;) {
        if (sp_is_xzero(p)) {
            p += 2;
            continue;
        }
        if (sp_is_zero(p)) {
            p++;
            continue;
        }
        if (p + 1 < end && sp_is_val(p + 1) && sp_val_value(p) == sp_val_value(p + 1)) {
            int len = sp_val_len(p) + sp_val_len(p + 1);
            if (len <= SP_VAL_MAX_LEN) {
                sp_set_val(p + 1, sp_val_value(p), len);
                memmove(p, p + 1, (size_t)(end - p));
                o->u.str->len--;
                end--;
                continue;
            }
        }
        p++;
    }
    hll_invalidate_cache(o);
    return 1;

promote: {
    int rc = hll_to_dense(o);
    if (rc != 0)
        return rc;
    int changed = dense_raise(hll_bytes(o) + HLL_HDR_SIZE, index, count);
    assert(changed == 1); /* only a register that must grow gets here */
    return changed;
}
}

static long long sparse_max_bytes(const rk_ctx *c) { return c->shard->cfg.hll_sparse_max_bytes; }

/* 1 changed, 0 not, -1 corrupt, -2 out of memory. */
static int hll_add(rk_ctx *c, rk_obj *o, rk_slice ele)
{
    long reg;
    unsigned count = (unsigned)hll_pattern(ele.ptr, ele.len, &reg);
    if (hll_bytes(o)[HDR_ENCODING] == HLL_DENSE)
        return dense_raise(hll_bytes(o) + HLL_HDR_SIZE, reg, count);
    return sparse_set(o, reg, count, sparse_max_bytes(c));
}

/* ---- the estimator (Ertl, "New cardinality estimation algorithms for
 * HyperLogLog sketches", arXiv:1702.01284, as Redis 7.0) ---------------- */

static double hll_sigma(double x)
{
    if (x == 1.)
        return INFINITY;
    double z_prev, y = 1, z = x;
    do {
        x *= x;
        z_prev = z;
        z += x * y;
        y += y;
    } while (z_prev != z);
    return z;
}

static double hll_tau(double x)
{
    if (x == 0. || x == 1.)
        return 0.;
    double z_prev, y = 1.0, z = 1 - x;
    do {
        x = sqrt(x);
        z_prev = z;
        y *= 0.5;
        z -= pow(1 - x, 2) * y;
    } while (z_prev != z);
    return z / 3;
}

/* histo[v] = number of registers holding v (v < 64). */
static uint64_t hll_estimate(const int *histo)
{
    double m = HLL_REGISTERS;
    double z = m * hll_tau((m - histo[HLL_Q + 1]) / m);
    for (int j = HLL_Q; j >= 1; --j) {
        z += histo[j];
        z *= 0.5;
    }
    z += m * hll_sigma(histo[0] / m);
    return (uint64_t)llroundl(HLL_ALPHA_INF * m * m / z);
}

/* Cardinality of a valid sketch; -1 when a sparse body is corrupt. */
static int hll_count(rk_obj *o, uint64_t *card)
{
    int histo[64] = {0};
    const uint8_t *b = hll_bytes(o);
    if (b[HDR_ENCODING] == HLL_DENSE) {
        for (long i = 0; i < HLL_REGISTERS; i++)
            histo[dense_get(b + HLL_HDR_SIZE, i)]++;
    } else {
        const uint8_t *p = b + HLL_HDR_SIZE, *end = b + hll_len(o);
        long idx = 0;
        while (p < end) {
            if (sp_is_zero(p)) {
                histo[0] += sp_zero_len(p);
                idx += sp_zero_len(p);
                p++;
            } else if (sp_is_xzero(p)) {
                if (p + 1 >= end)
                    return -1;
                histo[0] += sp_xzero_len(p);
                idx += sp_xzero_len(p);
                p += 2;
            } else {
                histo[sp_val_value(p)] += sp_val_len(p);
                idx += sp_val_len(p);
                p++;
            }
        }
        if (idx != HLL_REGISTERS)
            return -1;
    }
    *card = hll_estimate(histo);
    return 0;
}

static uint64_t regs_count(const uint8_t *regs)
{
    int histo[64] = {0};
    for (long i = 0; i < HLL_REGISTERS; i++)
        histo[regs[i] & 63]++;
    return hll_estimate(histo);
}

/* ---- commands ---------------------------------------------------------------- */

static void reply_hll_failure(rk_ctx *c, int rc)
{
    if (rc == -2)
        ctx_oom(c);
    else
        ctx_error(c, invalid_hll_err);
}

/* The key's sketch made raw and writable, or NULL (replied). */
static rk_obj *hll_writable(rk_ctx *c, rk_obj *o)
{
    if (o->encoding != ENC_RAW && !obj_make_raw(o, 0)) {
        ctx_oom(c);
        return NULL;
    }
    return o;
}

static void cmd_pfadd(rk_ctx *c)
{
    rk_obj *o = db_lookup(c->shard, c->db, c->argv[1], LOOKUP_WRITE);
    int updated = 0;
    if (!o) {
        o = hll_new();
        if (!o || db_add(c->shard, c->db, c->argv[1], o) != 0) {
            if (o)
                obj_free(o);
            ctx_oom(c);
            return;
        }
        updated++;
    } else {
        if (hll_valid_or_reply(c, o) < 0 || !hll_writable(c, o))
            return;
    }
    for (int j = 2; j < c->argc; j++) {
        int rc = hll_add(c, o, c->argv[j]);
        if (rc < 0) {
            if (updated)
                ctx_dirty(c, updated); /* what changed before stays changed */
            reply_hll_failure(c, rc);
            return;
        }
        updated += rc;
    }
    if (updated) {
        hll_invalidate_cache(o);
        ctx_dirty(c, updated);
    }
    reply_int(&c->r, updated ? 1 : 0);
}

static void cmd_pfcount(rk_ctx *c)
{
    if (c->argc > 2) {
        /* The union; no key's cache changes (a read of several keys). */
        uint8_t *regs = calloc(HLL_REGISTERS, 1);
        if (!regs) {
            ctx_oom(c);
            return;
        }
        for (int j = 1; j < c->argc; j++) {
            rk_obj *o = db_lookup(c->shard, c->db, c->argv[j], LOOKUP_NONE);
            if (!o)
                continue;
            if (hll_valid_or_reply(c, o) < 0) {
                free(regs);
                return;
            }
            if (hll_merge_into(regs, o) != 0) {
                free(regs);
                ctx_error(c, invalid_hll_err);
                return;
            }
        }
        reply_int(&c->r, (int64_t)regs_count(regs));
        free(regs);
        return;
    }
    rk_obj *o = db_lookup(c->shard, c->db, c->argv[1], LOOKUP_NONE);
    if (!o) {
        reply_int(&c->r, 0);
        return;
    }
    if (hll_valid_or_reply(c, o) < 0)
        return;
    const uint8_t *b = hll_bytes(o);
    uint64_t card = 0;
    if ((b[HDR_CARD + 7] & 0x80) == 0) {
        for (int k = 7; k >= 0; k--)
            card = (card << 8) | b[HDR_CARD + k];
        reply_int(&c->r, (int64_t)card);
        return;
    }
    if (hll_count(o, &card) != 0) {
        ctx_error(c, invalid_hll_err);
        return;
    }
    /* The cache is part of the value: a running snapshot must copy the
     * key's page before it changes, and the change is journaled (this
     * PFCOUNT) as Redis propagates it. */
    db_announce(c->db, c->argv[1]);
    if (!hll_writable(c, o))
        return;
    uint8_t *w = hll_bytes(o);
    for (int k = 0; k < 8; k++)
        w[HDR_CARD + k] = (uint8_t)(card >> (8 * k));
    ctx_dirty(c, 1);
    reply_int(&c->r, (int64_t)card);
}

static void cmd_pfmerge(rk_ctx *c)
{
    uint8_t *regs = calloc(HLL_REGISTERS, 1);
    if (!regs) {
        ctx_oom(c);
        return;
    }
    int use_dense = 0;
    for (int j = 1; j < c->argc; j++) {
        rk_obj *o = db_lookup(c->shard, c->db, c->argv[j], LOOKUP_NONE);
        if (!o)
            continue;
        if (hll_valid_or_reply(c, o) < 0)
            goto done;
        if (hll_bytes(o)[HDR_ENCODING] == HLL_DENSE)
            use_dense = 1;
        if (hll_merge_into(regs, o) != 0) {
            ctx_error(c, invalid_hll_err);
            goto done;
        }
    }
    rk_obj *dst = db_lookup(c->shard, c->db, c->argv[1], LOOKUP_WRITE);
    if (!dst) {
        dst = hll_new();
        if (!dst || db_add(c->shard, c->db, c->argv[1], dst) != 0) {
            if (dst)
                obj_free(dst);
            ctx_oom(c);
            goto done;
        }
    } else if (!hll_writable(c, dst)) {
        goto done;
    }
    int rc = use_dense ? hll_to_dense(dst) : 0;
    for (long i = 0; rc >= 0 && i < HLL_REGISTERS; i++) {
        if (regs[i] == 0)
            continue;
        if (hll_bytes(dst)[HDR_ENCODING] == HLL_DENSE)
            dense_raise(hll_bytes(dst) + HLL_HDR_SIZE, i, regs[i]);
        else
            rc = sparse_set(dst, i, regs[i], sparse_max_bytes(c));
    }
    ctx_dirty(c, 1);
    if (rc < 0) {
        reply_hll_failure(c, rc);
        goto done;
    }
    hll_invalidate_cache(dst);
    reply_ok(&c->r);
done:
    free(regs);
}

/* Redis's PFSELFTEST: register packing, then the estimate's error at
 * 10^k elements with a dense and a sparse sketch fed the same elements. */
static void cmd_pfselftest(rk_ctx *c)
{
    uint8_t *dense = calloc(HLL_DENSE_SIZE + 1, 1);
    uint8_t *bytes = malloc(HLL_REGISTERS);
    rk_obj *o = NULL;
    if (!dense || !bytes)
        goto oom;
    uint8_t *regs = dense + HLL_HDR_SIZE;
    unsigned seed = (unsigned)rk_ustime();
    for (int cycle = 0; cycle < 1000; cycle++) {
        for (long i = 0; i < HLL_REGISTERS; i++) {
            bytes[i] = (uint8_t)(rand_r(&seed) & HLL_REGISTER_MAX);
            dense_set(regs, i, bytes[i]);
        }
        for (long i = 0; i < HLL_REGISTERS; i++) {
            unsigned v = dense_get(regs, i);
            if (v != bytes[i]) {
                ctx_errorf(c, "TESTFAILED Register %ld should be %d but is %u", i, bytes[i], v);
                goto done;
            }
        }
    }
    memset(regs, 0, HLL_DENSE_SIZE - HLL_HDR_SIZE);
    o = hll_new();
    if (!o)
        goto oom;
    double relerr = 1.04 / sqrt(HLL_REGISTERS);
    uint64_t key_seed = (uint64_t)rand_r(&seed) | (uint64_t)rand_r(&seed) << 32;
    int64_t checkpoint = 1;
    for (int64_t j = 1; j <= 10000000; j++) {
        uint64_t ele = (uint64_t)j ^ key_seed;
        long reg;
        unsigned count = (unsigned)hll_pattern(&ele, sizeof(ele), &reg);
        dense_raise(regs, reg, count);
        int rc = hll_bytes(o)[HDR_ENCODING] == HLL_DENSE ? dense_raise(hll_bytes(o) + HLL_HDR_SIZE, reg, count)
                                                          : sparse_set(o, reg, count, sparse_max_bytes(c));
        if (rc == -2)
            goto oom;
        if (j != checkpoint)
            continue;
        if (j < sparse_max_bytes(c) / 2 && hll_bytes(o)[HDR_ENCODING] != HLL_SPARSE) {
            ctx_error(c, "TESTFAILED sparse encoding not used");
            goto done;
        }
        uint8_t *flat = calloc(HLL_REGISTERS, 1);
        uint64_t from_sparse = 0;
        if (!flat)
            goto oom;
        for (long i = 0; i < HLL_REGISTERS; i++)
            flat[i] = (uint8_t)dense_get(regs, i);
        uint64_t from_dense = regs_count(flat);
        free(flat);
        if (hll_count(o, &from_sparse) != 0 || from_dense != from_sparse) {
            ctx_error(c, "TESTFAILED dense/sparse disagree");
            goto done;
        }
        int64_t abserr = checkpoint - (int64_t)from_dense;
        uint64_t maxerr = (uint64_t)ceil(relerr * 6 * (double)checkpoint);
        if (j == 10)
            maxerr = 1; /* collisions make larger errors likely at 10 */
        if (abserr < 0)
            abserr = -abserr;
        if (abserr > (int64_t)maxerr) {
            ctx_errorf(c, "TESTFAILED Too big error. card:%llu abserr:%llu", (unsigned long long)checkpoint,
                       (unsigned long long)abserr);
            goto done;
        }
        checkpoint *= 10;
    }
    reply_ok(&c->r);
    goto done;
oom:
    ctx_oom(c);
done:
    free(dense);
    free(bytes);
    if (o)
        obj_free(o);
}

static void cmd_pfdebug(rk_ctx *c)
{
    rk_obj *o = db_lookup(c->shard, c->db, c->argv[2], LOOKUP_WRITE);
    if (!o) {
        ctx_error(c, "ERR The specified key does not exist");
        return;
    }
    if (hll_valid_or_reply(c, o) < 0 || !hll_writable(c, o))
        return;
    if (ctx_arg_is(c, 1, "getreg")) {
        if (hll_bytes(o)[HDR_ENCODING] == HLL_SPARSE) {
            int rc = hll_to_dense(o);
            if (rc != 0) {
                reply_hll_failure(c, rc);
                return;
            }
            ctx_dirty(c, 1); /* the encoding change is propagated, as Redis */
        }
        reply_array(&c->r, HLL_REGISTERS);
        for (long i = 0; i < HLL_REGISTERS; i++)
            reply_int(&c->r, dense_get(hll_bytes(o) + HLL_HDR_SIZE, i));
    } else if (ctx_arg_is(c, 1, "decode")) {
        if (hll_bytes(o)[HDR_ENCODING] != HLL_SPARSE) {
            ctx_error(c, "ERR HLL encoding is not sparse");
            return;
        }
        rk_buf out;
        rk_buf_init(&out);
        const uint8_t *p = hll_bytes(o) + HLL_HDR_SIZE, *end = hll_bytes(o) + hll_len(o);
        int failed = 0;
        while (p < end && !failed) {
            char item[32];
            int n;
            if (sp_is_zero(p)) {
                n = snprintf(item, sizeof(item), "z:%d ", sp_zero_len(p));
                p++;
            } else if (sp_is_xzero(p) && p + 1 < end) {
                n = snprintf(item, sizeof(item), "Z:%d ", sp_xzero_len(p));
                p += 2;
            } else if (sp_is_xzero(p)) {
                break; /* a truncated XZERO: Redis reads past it; we stop */
            } else {
                n = snprintf(item, sizeof(item), "v:%d,%d ", sp_val_value(p), sp_val_len(p));
                p++;
            }
            failed = rk_buf_append(&out, item, (size_t)n) != 0;
        }
        if (failed) {
            rk_buf_free(&out);
            ctx_oom(c);
            return;
        }
        size_t len = out.len;
        while (len > 0 && out.data[len - 1] == ' ')
            len--;
        reply_bulk(&c->r, out.data ? out.data : "", len);
        rk_buf_free(&out);
    } else if (ctx_arg_is(c, 1, "encoding")) {
        reply_simple(&c->r, hll_bytes(o)[HDR_ENCODING] == HLL_DENSE ? "dense" : "sparse");
    } else if (ctx_arg_is(c, 1, "todense")) {
        int conv = 0;
        if (hll_bytes(o)[HDR_ENCODING] == HLL_SPARSE) {
            int rc = hll_to_dense(o);
            if (rc != 0) {
                reply_hll_failure(c, rc);
                return;
            }
            conv = 1;
            ctx_dirty(c, 1);
        }
        reply_int(&c->r, conv);
    } else {
        ctx_errorf(c, "ERR Unknown PFDEBUG subcommand '%.*s'", (int)c->argv[1].len, c->argv[1].ptr);
    }
}

const rk_command rk_hll_commands[] = {
    {
        .name = "pfadd", .arity = -2, .flags = CMD_WRITE | CMD_DENYOOM | CMD_FAST,
        .acl_categories = "@write @hyperloglog @fast", .exec = EXEC_KEYS, .merge = MERGE_NONE, .proc = cmd_pfadd,
        .first_key = 1, .last_key = 1, .key_step = 1,
        .keyspecs = {{"RW INSERT", 1, NULL, 0, 0, 0, 1, 0, 0, 0, 0}}, .n_keyspecs = 1,
        .summary = "Adds the specified elements to the specified HyperLogLog.",
        .since = "2.8.9", .group = "hyperloglog",
        .complexity = "O(1) to add every element.",
    },
    {
        .name = "pfcount", .arity = -2, .flags = CMD_READONLY | CMD_MAY_REPLICATE,
        .acl_categories = "@read @hyperloglog @slow", .exec = EXEC_KEYS, .merge = MERGE_NONE, .proc = cmd_pfcount,
        .first_key = 1, .last_key = -1, .key_step = 1,
        .keyspecs = {{"RW ACCESS", 1, NULL, 0, 0, -1, 1, 0, 0, 0, 0}}, .n_keyspecs = 1,
        .summary = "Return the approximated cardinality of the set(s) observed by the HyperLogLog at key(s).",
        .since = "2.8.9", .group = "hyperloglog",
        .complexity = "O(1) with a very small average constant time when called with a single key. O(N) with N "
                      "being the number of keys, and much bigger constant times, when called with multiple keys.",
    },
    {
        .name = "pfmerge", .arity = -2, .flags = CMD_WRITE | CMD_DENYOOM,
        .acl_categories = "@write @hyperloglog @slow", .exec = EXEC_KEYS, .merge = MERGE_NONE, .proc = cmd_pfmerge,
        .first_key = 1, .last_key = -1, .key_step = 1,
        .keyspecs = {{"RW ACCESS INSERT", 1, NULL, 0, 0, 0, 1, 0, 0, 0, 0},
                     {"RO ACCESS", 2, NULL, 0, 0, -1, 1, 0, 0, 0, 0}},
        .n_keyspecs = 2,
        .summary = "Merge N different HyperLogLogs into a single one.",
        .since = "2.8.9", .group = "hyperloglog",
        .complexity = "O(N) to merge N HyperLogLogs, but with high constant times.",
    },
    {
        .name = "pfdebug", .arity = 3, .flags = CMD_WRITE | CMD_DENYOOM | CMD_ADMIN,
        .acl_categories = "@write @hyperloglog @admin @slow @dangerous", .exec = EXEC_KEYS, .merge = MERGE_NONE,
        .proc = cmd_pfdebug,
        .first_key = 2, .last_key = 2, .key_step = 1,
        .keyspecs = {{"RW ACCESS", 2, NULL, 0, 0, 0, 1, 0, 0, 0, 0}}, .n_keyspecs = 1,
        .summary = "Internal commands for debugging HyperLogLog values",
        .since = "2.8.9", .group = "hyperloglog", .complexity = "N/A",
    },
    {
        .name = "pfselftest", .arity = 1, .flags = CMD_ADMIN,
        .acl_categories = "@hyperloglog @admin @slow @dangerous", .exec = EXEC_CONN, .merge = MERGE_NONE,
        .proc = cmd_pfselftest,
        .summary = "An internal command for testing HyperLogLog values",
        .since = "2.8.9", .group = "hyperloglog", .complexity = "N/A",
    },
    {0},
};
