/* rdb_value.c: serializing one value in Redis 7.0's RDB format (version 10)
 * and parsing one value from any RDB version 1..10 (see rdb_value.h).
 *
 * Threads: any; objects are allocated on the caller's heap.
 *
 * Invariants: the reader never reads outside [p, p+len); every blob
 * (listpack, ziplist, zipmap, intset) is fully validated before use; a
 * failed read frees whatever it built. Loaded collections are rebuilt
 * member by member through the types' own functions, so duplicates are
 * detected and encodings follow the limits; empty collections are refused
 * as Redis refuses them ("empty keys"). Streams and module values are not
 * supported and refused. */
#include <assert.h>
#include <limits.h>
#include <lzf.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <roaring/roaring.h>

#include "core/alloc.h"
#include "core/dict.h"
#include "core/listpack.h"
#include "core/quicklist.h"
#include "core/t_hash.h"
#include "core/t_list.h"
#include "core/t_set.h"
#include "core/t_zset.h"
#include "core/zskiplist.h"
#include "storage/rdb_stream.h"
#include "storage/rdb_value.h"

#define RDB_ENC_INT8 0
#define RDB_ENC_INT16 1
#define RDB_ENC_INT32 2
#define RDB_ENC_LZF 3
#define RDB_LEN_32BIT 0x80
#define RDB_LEN_64BIT 0x81
#define QL_CONTAINER_PLAIN 1
#define QL_CONTAINER_PACKED 2
/* A decompressed string may not claim more than this (proto-max-bulk-len). */
#define RDB_MAX_STRING ((uint64_t)OBJ_MAX_STRING)

void rdb_limits_from_config(rdb_limits *lim, const rk_config *cfg)
{
    if (!cfg) {
        *lim = (rdb_limits){-2, 128, 64, 512, 128, 64};
        return;
    }
    lim->list_fill = cfg->list_max_listpack_size;
    lim->hash_entries = cfg->hash_max_listpack_entries;
    lim->hash_value = cfg->hash_max_listpack_value;
    lim->set_intset_entries = cfg->set_max_intset_entries;
    lim->zset_entries = cfg->zset_max_listpack_entries;
    lim->zset_value = cfg->zset_max_listpack_value;
}

/* ======================================================================
 * Writing
 * ====================================================================== */

static int put_byte(rk_buf *out, unsigned char b)
{
    return rk_buf_append(out, &b, 1);
}

int rdb_write_len(rk_buf *out, uint64_t len)
{
    unsigned char b[9];
    size_t n;
    if (len < (1 << 6)) {
        b[0] = (unsigned char)len;
        n = 1;
    } else if (len < (1 << 14)) {
        b[0] = (unsigned char)(0x40 | (len >> 8));
        b[1] = (unsigned char)(len & 0xff);
        n = 2;
    } else if (len <= UINT32_MAX) {
        b[0] = RDB_LEN_32BIT;
        for (int i = 0; i < 4; i++)
            b[1 + i] = (unsigned char)(len >> (24 - 8 * i));
        n = 5;
    } else {
        b[0] = RDB_LEN_64BIT;
        for (int i = 0; i < 8; i++)
            b[1 + i] = (unsigned char)(len >> (56 - 8 * i));
        n = 9;
    }
    return rk_buf_append(out, b, n);
}

/* Redis's rdbTryIntegerEncoding: a canonical decimal that fits int32 is
 * stored as 0xC0|INT8/16/32 + little-endian bytes. Returns bytes written
 * to enc, 0 when the string does not qualify. */
static size_t encode_integer_string(const void *p, size_t len, unsigned char enc[5])
{
    long long v;
    char canon[24];
    if (len == 0 || len > 11 || !rk_str2ll(p, len, &v))
        return 0;
    int n = rk_ll2str(canon, sizeof canon, v);
    if ((size_t)n != len || memcmp(canon, p, len) != 0)
        return 0;
    if (v >= INT8_MIN && v <= INT8_MAX) {
        enc[0] = 0xC0 | RDB_ENC_INT8;
        enc[1] = (unsigned char)(v & 0xff);
        return 2;
    }
    if (v >= INT16_MIN && v <= INT16_MAX) {
        enc[0] = 0xC0 | RDB_ENC_INT16;
        enc[1] = (unsigned char)(v & 0xff);
        enc[2] = (unsigned char)((v >> 8) & 0xff);
        return 3;
    }
    if (v >= INT32_MIN && v <= INT32_MAX) {
        enc[0] = 0xC0 | RDB_ENC_INT32;
        for (int i = 0; i < 4; i++)
            enc[1 + i] = (unsigned char)((v >> (8 * i)) & 0xff);
        return 5;
    }
    return 0;
}

/* 1 written compressed, 0 not worth it, -1 OOM. */
static int write_lzf_string(rk_buf *out, const void *p, size_t len)
{
    if (len <= 4)
        return 0;
    size_t room = len - 4; /* must save at least 4 bytes, as Redis */
    unsigned char *comp = rk_malloc(room + 1);
    if (!comp)
        return 0; /* Redis saves uncompressed when it cannot allocate */
    unsigned int clen = lzf_compress(p, (unsigned int)len, comp, (unsigned int)room);
    int rc = 0;
    if (clen > 0) {
        rc = (put_byte(out, 0xC0 | RDB_ENC_LZF) == 0 && rdb_write_len(out, clen) == 0 &&
              rdb_write_len(out, len) == 0 && rk_buf_append(out, comp, clen) == 0)
                 ? 1
                 : -1;
    }
    rk_free(comp);
    return rc;
}

int rdb_write_string(rk_buf *out, const void *p, size_t len, int compress)
{
    unsigned char enc[5];
    size_t n = encode_integer_string(p, len, enc);
    if (n)
        return rk_buf_append(out, enc, n);
    if (compress && len > 20 && len <= UINT_MAX) {
        int rc = write_lzf_string(out, p, len);
        if (rc != 0)
            return rc > 0 ? 0 : -1;
    }
    if (rdb_write_len(out, len) != 0)
        return -1;
    return len ? rk_buf_append(out, p, len) : 0;
}

static int write_double_binary(rk_buf *out, double d)
{
    uint64_t bits;
    unsigned char b[8];
    memcpy(&bits, &d, 8);
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)(bits >> (8 * i));
    return rk_buf_append(out, b, 8);
}

static int write_list(rk_buf *out, const quicklist *ql, int compress)
{
    if (put_byte(out, RDB_TYPE_LIST_QUICKLIST_2) != 0 || rdb_write_len(out, ql->len) != 0)
        return -1;
    for (const ql_node *n = ql->head; n; n = n->next) {
        if (rdb_write_len(out, QL_CONTAINER_PACKED) != 0 ||
            rdb_write_string(out, n->lp, lp_bytes(n->lp), compress) != 0)
            return -1;
    }
    return 0;
}

static int write_hash(rk_buf *out, const rk_obj *o, int compress)
{
    if (o->encoding == ENC_LISTPACK) {
        if (put_byte(out, RDB_TYPE_HASH_LISTPACK) != 0)
            return -1;
        return rdb_write_string(out, o->u.ptr, lp_bytes(o->u.ptr), compress);
    }
    if (put_byte(out, RDB_TYPE_HASH) != 0 || rdb_write_len(out, hash_length(o)) != 0)
        return -1;
    hash_iter it;
    rk_slice f, v;
    int rc = 0;
    hash_iter_init(&it, (rk_obj *)o);
    while (rc == 0 && hash_iter_next(&it, &f, &v)) {
        if (rdb_write_string(out, f.ptr, f.len, compress) != 0 ||
            rdb_write_string(out, v.ptr, v.len, compress) != 0)
            rc = -1;
    }
    hash_iter_release(&it);
    return rc;
}

/* Redis's intset blob: the narrowest width holding every member. */
static int write_intset(rk_buf *out, const roaring_bitmap_t *bm, int compress)
{
    uint64_t card = roaring_bitmap_get_cardinality(bm);
    uint32_t max = card ? roaring_bitmap_maximum(bm) : 0;
    uint32_t width = max <= INT16_MAX ? 2 : max <= INT32_MAX ? 4 : 8;
    size_t bytes = 8 + (size_t)card * width;
    unsigned char *blob = rk_malloc(bytes);
    if (!blob)
        return -1;
    for (int i = 0; i < 4; i++) {
        blob[i] = (unsigned char)(width >> (8 * i));
        blob[4 + i] = (unsigned char)(card >> (8 * i));
    }
    unsigned char *w = blob + 8;
    roaring_uint32_iterator_t it;
    roaring_init_iterator(bm, &it);
    for (; it.has_value; roaring_advance_uint32_iterator(&it)) {
        uint64_t v = it.current_value;
        for (uint32_t i = 0; i < width; i++)
            *w++ = (unsigned char)(i < 4 ? v >> (8 * i) : 0);
    }
    assert(w == blob + bytes);
    int rc = put_byte(out, RDB_TYPE_SET_INTSET) == 0 ? rdb_write_string(out, blob, bytes, compress) : -1;
    rk_free(blob);
    return rc;
}

typedef struct member_writer {
    rk_buf *out;
    int compress;
    int failed;
} member_writer;

static void write_member_cb(void *ud, const char *p, size_t len)
{
    member_writer *mw = ud;
    if (!mw->failed && rdb_write_string(mw->out, p, len, mw->compress) != 0)
        mw->failed = 1;
}

static int write_set(rk_buf *out, const rk_obj *o, int compress)
{
    if (o->encoding == ENC_INTSET)
        return write_intset(out, o->u.ptr, compress);
    if (put_byte(out, RDB_TYPE_SET) != 0 || rdb_write_len(out, dict_size(o->u.ptr)) != 0)
        return -1;
    member_writer mw = {out, compress, 0};
    set_for_each_member(o, write_member_cb, &mw);
    return mw.failed ? -1 : 0;
}

static int write_zset(rk_buf *out, const rk_obj *o, int compress)
{
    if (o->encoding == ENC_LISTPACK) {
        if (put_byte(out, RDB_TYPE_ZSET_LISTPACK) != 0)
            return -1;
        return rdb_write_string(out, o->u.ptr, lp_bytes(o->u.ptr), compress);
    }
    const zset_sl *zs = o->u.ptr;
    if (put_byte(out, RDB_TYPE_ZSET_2) != 0 || rdb_write_len(out, zs->zsl->length) != 0)
        return -1;
    /* Redis walks the skiplist from the tail, so loading inserts at the head. */
    for (const zsl_node *n = zs->zsl->tail; n; n = n->backward) {
        if (rdb_write_string(out, n->ele->data, n->ele->len, compress) != 0 ||
            write_double_binary(out, n->score) != 0)
            return -1;
    }
    return 0;
}

int rdb_value_write(rk_buf *out, const rk_obj *o, int compress)
{
    switch (o->type) {
    case OBJ_STRING: {
        char tmp[24];
        rk_slice s = obj_string_bytes(o, tmp);
        if (put_byte(out, RDB_TYPE_STRING) != 0)
            return -1;
        return rdb_write_string(out, s.ptr, s.len, compress);
    }
    case OBJ_LIST:
        return write_list(out, o->u.ptr, compress);
    case OBJ_HASH:
        return write_hash(out, o, compress);
    case OBJ_SET:
        return write_set(out, o, compress);
    case OBJ_ZSET:
        return write_zset(out, o, compress);
    case OBJ_STREAM:
        return rdb_stream_write(out, o, compress);
    default:
        assert(0 && "unknown object type");
        return -1;
    }
}

/* ======================================================================
 * Reading
 * ====================================================================== */

typedef struct reader {
    const unsigned char *p;
    size_t len, pos;
    const rdb_limits *lim;
    char *err;
    size_t errlen;
} reader;

__attribute__((format(printf, 2, 3))) static int fail(reader *r, const char *fmt, ...)
{
    if (r->err && r->errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(r->err, r->errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static size_t remaining(const reader *r)
{
    return r->len - r->pos;
}

static int read_bytes(reader *r, void *dst, size_t n)
{
    if (remaining(r) < n)
        return fail(r, "truncated input");
    memcpy(dst, r->p + r->pos, n);
    r->pos += n;
    return 0;
}

/* A length, or (with *encoded set) a special string encoding number. */
static int read_len(reader *r, uint64_t *len, int *encoded)
{
    unsigned char b[8] = {0};
    if (encoded)
        *encoded = 0;
    if (read_bytes(r, b, 1) != 0)
        return -1;
    switch (b[0] >> 6) {
    case 0:
        *len = b[0] & 0x3f;
        return 0;
    case 1: {
        unsigned char lo = 0;
        if (read_bytes(r, &lo, 1) != 0)
            return -1;
        *len = ((uint64_t)(b[0] & 0x3f) << 8) | lo;
        return 0;
    }
    case 3:
        if (!encoded)
            return fail(r, "unexpected string encoding");
        *encoded = 1;
        *len = b[0] & 0x3f;
        return 0;
    default:
        break;
    }
    size_t n = b[0] == RDB_LEN_32BIT ? 4 : b[0] == RDB_LEN_64BIT ? 8 : 0;
    if (!n)
        return fail(r, "unknown length encoding 0x%02x", b[0]);
    if (read_bytes(r, b, n) != 0)
        return -1;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = (v << 8) | b[i];
    *len = v;
    return 0;
}

/* A collection count: each element takes at least one byte, so a count
 * larger than the input left is corrupt (and must not size anything). */
static int read_count(reader *r, uint64_t *count)
{
    if (read_len(r, count, NULL) != 0)
        return -1;
    if (*count > remaining(r))
        return fail(r, "count %llu exceeds the input", (unsigned long long)*count);
    return 0;
}

/* A string read from the input: heap bytes (NUL-terminated) owned by the caller. */
typedef struct rd_str {
    unsigned char *p;
    size_t len;
} rd_str;

static int read_int_string(reader *r, int enc, rd_str *out)
{
    unsigned char b[4];
    size_t n = enc == RDB_ENC_INT8 ? 1 : enc == RDB_ENC_INT16 ? 2 : 4;
    if (read_bytes(r, b, n) != 0)
        return -1;
    long long v;
    if (n == 1)
        v = (int8_t)b[0];
    else if (n == 2)
        v = (int16_t)(uint16_t)(b[0] | (b[1] << 8));
    else
        v = (int32_t)((uint32_t)b[0] | ((uint32_t)b[1] << 8) | ((uint32_t)b[2] << 16) | ((uint32_t)b[3] << 24));
    out->p = rk_malloc(24);
    if (!out->p)
        return fail(r, "out of memory");
    out->len = (size_t)rk_ll2str((char *)out->p, 24, v);
    return 0;
}

static int read_lzf_string(reader *r, rd_str *out)
{
    uint64_t clen, len;
    if (read_len(r, &clen, NULL) != 0 || read_len(r, &len, NULL) != 0)
        return -1;
    if (clen > remaining(r))
        return fail(r, "truncated compressed string");
    if (len == 0 || len > RDB_MAX_STRING || clen == 0 || clen > UINT_MAX)
        return fail(r, "bad compressed string lengths");
    out->p = rk_malloc(len + 1);
    if (!out->p)
        return fail(r, "out of memory");
    unsigned int got = lzf_decompress(r->p + r->pos, (unsigned int)clen, out->p, (unsigned int)len);
    if (got != len) {
        rk_free(out->p);
        out->p = NULL;
        return fail(r, "invalid LZF data");
    }
    out->p[len] = '\0';
    out->len = len;
    r->pos += clen;
    return 0;
}

static int read_string(reader *r, rd_str *out)
{
    uint64_t len = 0;
    int encoded;
    out->p = NULL;
    out->len = 0;
    if (read_len(r, &len, &encoded) != 0)
        return -1;
    if (encoded) {
        if (len <= RDB_ENC_INT32)
            return read_int_string(r, (int)len, out);
        if (len == RDB_ENC_LZF)
            return read_lzf_string(r, out);
        return fail(r, "unknown string encoding %llu", (unsigned long long)len);
    }
    if (len > remaining(r))
        return fail(r, "truncated string");
    out->p = rk_malloc(len + 1);
    if (!out->p)
        return fail(r, "out of memory");
    memcpy(out->p, r->p + r->pos, len);
    out->p[len] = '\0';
    out->len = len;
    r->pos += len;
    return 0;
}

static void rd_str_free(rd_str *s)
{
    rk_free(s->p);
    s->p = NULL;
}

/* RDB_TYPE_ZSET's score: a length byte (253 nan, 254 +inf, 255 -inf) then ASCII. */
static int read_double_string(reader *r, double *out)
{
    unsigned char n = 0;
    char buf[256];
    if (read_bytes(r, &n, 1) != 0)
        return -1;
    if (n == 253) {
        *out = NAN;
        return 0;
    }
    if (n == 254 || n == 255) {
        *out = n == 254 ? INFINITY : -INFINITY;
        return 0;
    }
    if (read_bytes(r, buf, n) != 0)
        return -1;
    buf[n] = '\0';
    char *end;
    *out = strtod(buf, &end);
    if (n == 0 || end != buf + n)
        return fail(r, "bad score");
    return 0;
}

static int read_double_binary(reader *r, double *out)
{
    unsigned char b[8] = {0};
    if (read_bytes(r, b, 8) != 0)
        return -1;
    uint64_t bits = 0;
    for (int i = 7; i >= 0; i--)
        bits = (bits << 8) | b[i];
    memcpy(out, &bits, 8);
    return 0;
}

/* ---- element sinks: what a decoded blob's entries are fed into ---------- */

/* Receives one element; 0, or -1 (with r's error set) to stop. */
typedef int elem_fn(reader *r, void *ud, const unsigned char *p, size_t len);

static int format_ll(unsigned char buf[24], long long v, size_t *len)
{
    *len = (size_t)rk_ll2str((char *)buf, 24, v);
    return 0;
}

/* Validates a listpack blob and feeds its entries to fn. */
static int decode_listpack(reader *r, unsigned char *lp, size_t size, elem_fn *fn, void *ud)
{
    if (!lp_validate(lp, size))
        return fail(r, "invalid listpack");
    unsigned char buf[24];
    for (unsigned char *e = lp_first(lp); e; e = lp_next(lp, e)) {
        uint32_t len;
        const unsigned char *s = lp_get_bytes(e, buf, &len);
        if (fn(r, ud, s, len) != 0)
            return -1;
    }
    return 0;
}

static uint32_t rd_u32le(const unsigned char *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

/* Validates a ziplist blob and feeds its entries to fn. Layout: zlbytes
 * u32, zltail u32, zllen u16, entries (prevlen, encoding, data), 0xFF. */
static int decode_ziplist(reader *r, const unsigned char *zl, size_t size, elem_fn *fn, void *ud)
{
    if (size < 11 || rd_u32le(zl) != size || zl[size - 1] != 0xFF)
        return fail(r, "invalid ziplist header");
    size_t tail = rd_u32le(zl + 4), pos = 10, prev_start = 0, count = 0;
    size_t prevlen_expected = 0;
    unsigned zllen = (unsigned)zl[8] | ((unsigned)zl[9] << 8);
    while (zl[pos] != 0xFF) {
        size_t start = pos, prevlen;
        if (zl[pos] < 254) {
            prevlen = zl[pos];
            pos += 1;
        } else {
            if (zl[pos] != 254 || size - 1 - pos < 5)
                return fail(r, "invalid ziplist prevlen");
            prevlen = rd_u32le(zl + pos + 1);
            pos += 5;
        }
        if (prevlen != prevlen_expected)
            return fail(r, "ziplist prevlen mismatch");
        if (pos >= size - 1)
            return fail(r, "truncated ziplist entry");
        unsigned char enc = zl[pos];
        size_t avail = size - 1 - pos, hdr, dlen = 0;
        int is_str = 1;
        long long v = 0;
        switch (enc >> 6) {
        case 0:
            hdr = 1;
            dlen = enc & 0x3f;
            break;
        case 1:
            hdr = 2;
            if (avail < 2)
                return fail(r, "truncated ziplist entry");
            dlen = ((size_t)(enc & 0x3f) << 8) | zl[pos + 1];
            break;
        case 2:
            hdr = 5;
            if (enc != 0x80 || avail < 5)
                return fail(r, "invalid ziplist entry");
            dlen = ((size_t)zl[pos + 1] << 24) | ((size_t)zl[pos + 2] << 16) | ((size_t)zl[pos + 3] << 8) |
                   zl[pos + 4];
            break;
        default:
            hdr = 1;
            is_str = 0;
            switch (enc) {
            case 0xC0: dlen = 2; break;
            case 0xD0: dlen = 4; break;
            case 0xE0: dlen = 8; break;
            case 0xF0: dlen = 3; break;
            case 0xFE: dlen = 1; break;
            default:
                if (enc >= 0xF1 && enc <= 0xFD) {
                    v = (enc & 0x0f) - 1;
                    break;
                }
                return fail(r, "invalid ziplist integer encoding");
            }
        }
        if (avail < hdr || avail - hdr < dlen)
            return fail(r, "truncated ziplist entry");
        const unsigned char *d = zl + pos + hdr;
        unsigned char buf[24];
        size_t len = dlen;
        if (!is_str) {
            if (dlen) {
                uint64_t u = 0;
                for (size_t i = dlen; i-- > 0;)
                    u = (u << 8) | d[i];
                /* sign-extend from dlen bytes */
                if (dlen < 8 && (u >> (8 * dlen - 1)) & 1)
                    u |= ~0ULL << (8 * dlen);
                v = (long long)u;
            }
            format_ll(buf, v, &len);
        }
        if (fn(r, ud, is_str ? d : buf, len) != 0)
            return -1;
        pos += hdr + dlen;
        prevlen_expected = pos - start;
        prev_start = start;
        count++;
    }
    if (pos != size - 1)
        return fail(r, "ziplist end mismatch");
    if ((count ? prev_start : 10) != tail)
        return fail(r, "ziplist tail mismatch");
    if (zllen != 0xFFFF && zllen != count)
        return fail(r, "ziplist length mismatch");
    return 0;
}

/* Validates a zipmap blob and feeds key, value, key, value... Layout: zmlen
 * u8, then <len>key<len><free>value[free bytes]..., 0xFF; <len> is one byte
 * below 254 or 254 + u32. */
static int decode_zipmap(reader *r, const unsigned char *zm, size_t size, elem_fn *fn, void *ud)
{
    if (size < 2 || zm[size - 1] != 0xFF)
        return fail(r, "invalid zipmap");
    size_t pos = 1;
    while (zm[pos] != 0xFF) {
        for (int part = 0; part < 2; part++) {
            size_t len;
            if (pos >= size - 1)
                return fail(r, "truncated zipmap");
            if (zm[pos] < 254) {
                len = zm[pos++];
            } else {
                if (zm[pos] != 254 || size - 1 - pos < 5)
                    return fail(r, "invalid zipmap length");
                len = rd_u32le(zm + pos + 1);
                pos += 5;
            }
            size_t free_bytes = 0;
            if (part == 1) {
                if (pos >= size - 1)
                    return fail(r, "truncated zipmap");
                free_bytes = zm[pos++];
            }
            if (size - 1 - pos < len || size - 1 - pos - len < free_bytes)
                return fail(r, "truncated zipmap");
            if (fn(r, ud, zm + pos, len) != 0)
                return -1;
            pos += len + free_bytes;
        }
    }
    if (pos != size - 1)
        return fail(r, "zipmap end mismatch");
    return 0;
}

/* Validates an intset blob (sorted, unique) and feeds its members. */
static int decode_intset(reader *r, const unsigned char *is, size_t size, elem_fn *fn, void *ud)
{
    if (size < 8)
        return fail(r, "invalid intset");
    uint32_t width = rd_u32le(is), count = rd_u32le(is + 4);
    if (width != 2 && width != 4 && width != 8)
        return fail(r, "invalid intset encoding");
    if ((size - 8) / width != count || (size - 8) % width != 0)
        return fail(r, "intset size mismatch");
    if (count == 0)
        return fail(r, "empty intset");
    long long prev = 0;
    for (uint32_t i = 0; i < count; i++) {
        const unsigned char *d = is + 8 + (size_t)i * width;
        uint64_t u = 0;
        for (uint32_t b = width; b-- > 0;)
            u = (u << 8) | d[b];
        if (width < 8 && (u >> (8 * width - 1)) & 1)
            u |= ~0ULL << (8 * width);
        long long v = (long long)u;
        if (i > 0 && v <= prev)
            return fail(r, "intset not sorted");
        prev = v;
        unsigned char buf[24];
        size_t len;
        format_ll(buf, v, &len);
        if (fn(r, ud, buf, len) != 0)
            return -1;
    }
    return 0;
}

/* Pairs (hash field/value, zset member/score) from a flat element stream. */
typedef int pair_fn(reader *r, void *ud, const unsigned char *a, size_t alen, const unsigned char *b,
                    size_t blen);

typedef struct pair_sink {
    pair_fn *fn;
    void *ud;
    rd_str first;
    int have_first;
} pair_sink;

static int pair_elem(reader *r, void *ud, const unsigned char *p, size_t len)
{
    pair_sink *ps = ud;
    if (!ps->have_first) {
        ps->first.p = rk_malloc(len + 1);
        if (!ps->first.p)
            return fail(r, "out of memory");
        memcpy(ps->first.p, p, len);
        ps->first.len = len;
        ps->have_first = 1;
        return 0;
    }
    int rc = ps->fn(r, ps->ud, ps->first.p, ps->first.len, p, len);
    rd_str_free(&ps->first);
    ps->have_first = 0;
    return rc;
}

/* Runs decode over a blob with pairs; an odd element count is corrupt. */
typedef int blob_decoder(reader *r, unsigned char *blob, size_t size, elem_fn *fn, void *ud);

static int decode_pairs(reader *r, blob_decoder *decode, unsigned char *blob, size_t size, pair_fn *fn,
                        void *ud)
{
    pair_sink ps = {fn, ud, {NULL, 0}, 0};
    int rc = decode(r, blob, size, pair_elem, &ps);
    if (ps.have_first) {
        rd_str_free(&ps.first);
        if (rc == 0)
            rc = fail(r, "odd number of elements");
    }
    return rc;
}

static int dec_listpack(reader *r, unsigned char *b, size_t n, elem_fn *fn, void *ud)
{
    return decode_listpack(r, b, n, fn, ud);
}
static int dec_ziplist(reader *r, unsigned char *b, size_t n, elem_fn *fn, void *ud)
{
    return decode_ziplist(r, b, n, fn, ud);
}
static int dec_zipmap(reader *r, unsigned char *b, size_t n, elem_fn *fn, void *ud)
{
    return decode_zipmap(r, b, n, fn, ud);
}
static int dec_intset(reader *r, unsigned char *b, size_t n, elem_fn *fn, void *ud)
{
    return decode_intset(r, b, n, fn, ud);
}

/* Reads a string holding a blob and decodes it. */
static int read_blob(reader *r, blob_decoder *decode, elem_fn *fn, void *ud)
{
    rd_str blob;
    if (read_string(r, &blob) != 0)
        return -1;
    int rc = decode(r, blob.p, blob.len, fn, ud);
    rd_str_free(&blob);
    return rc;
}

static int read_pair_blob(reader *r, blob_decoder *decode, pair_fn *fn, void *ud)
{
    rd_str blob;
    if (read_string(r, &blob) != 0)
        return -1;
    int rc = decode_pairs(r, decode, blob.p, blob.len, fn, ud);
    rd_str_free(&blob);
    return rc;
}

/* ---- strings ----------------------------------------------------------- */

static rk_obj *load_string(reader *r)
{
    rd_str s;
    if (read_string(r, &s) != 0)
        return NULL;
    rk_obj *o = obj_new_string(s.p, s.len);
    rd_str_free(&s);
    if (!o)
        fail(r, "out of memory");
    return o;
}

/* ---- lists ------------------------------------------------------------- */

static int list_elem(reader *r, void *ud, const unsigned char *p, size_t len)
{
    quicklist *ql = ((rk_obj *)ud)->u.ptr;
    return ql_push(ql, p, len, QL_TAIL) == 0 ? 0 : fail(r, "out of memory");
}

static rk_obj *list_create(reader *r)
{
    rk_obj *o = list_obj_create(r->lim->list_fill);
    if (!o)
        fail(r, "out of memory");
    return o;
}

static int load_list_body(reader *r, int type, rk_obj *o)
{
    uint64_t count;
    if (type == RDB_TYPE_LIST_ZIPLIST)
        return read_blob(r, dec_ziplist, list_elem, o);
    if (read_count(r, &count) != 0)
        return -1;
    for (uint64_t i = 0; i < count; i++) {
        if (type == RDB_TYPE_LIST) {
            rd_str s;
            if (read_string(r, &s) != 0)
                return -1;
            int rc = list_elem(r, o, s.p, s.len);
            rd_str_free(&s);
            if (rc != 0)
                return -1;
            continue;
        }
        uint64_t container = QL_CONTAINER_PACKED;
        if (type == RDB_TYPE_LIST_QUICKLIST_2 && read_len(r, &container, NULL) != 0)
            return -1;
        if (container == QL_CONTAINER_PLAIN) {
            rd_str s;
            if (read_string(r, &s) != 0)
                return -1;
            int rc = list_elem(r, o, s.p, s.len);
            rd_str_free(&s);
            if (rc != 0)
                return -1;
        } else if (container == QL_CONTAINER_PACKED) {
            /* Empty nodes are skipped, as Redis does. */
            if (read_blob(r, type == RDB_TYPE_LIST_QUICKLIST ? dec_ziplist : dec_listpack, list_elem, o) != 0)
                return -1;
        } else {
            return fail(r, "unknown quicklist container %llu", (unsigned long long)container);
        }
    }
    return 0;
}

static rk_obj *load_list(reader *r, int type)
{
    rk_obj *o = list_create(r);
    if (!o)
        return NULL;
    if (load_list_body(r, type, o) != 0 || (ql_count(o->u.ptr) == 0 && fail(r, "empty list") != 0)) {
        obj_free(o);
        return NULL;
    }
    return o;
}

/* ---- sets -------------------------------------------------------------- */

static int set_elem_add(reader *r, void *ud, const unsigned char *p, size_t len)
{
    int rc = set_add_member(ud, (const char *)p, len, r->lim->set_intset_entries);
    if (rc < 0)
        return fail(r, "out of memory");
    return rc == 1 ? 0 : fail(r, "duplicate set member");
}

static rk_obj *load_set(reader *r, int type)
{
    uint64_t count = 0;
    if (type == RDB_TYPE_SET && read_count(r, &count) != 0)
        return NULL;
    long long max_intset = r->lim->set_intset_entries;
    rk_obj *o = set_create_empty(type != RDB_TYPE_SET || count <= (uint64_t)(max_intset < 0 ? 0 : max_intset));
    if (!o) {
        fail(r, "out of memory");
        return NULL;
    }
    int rc = 0;
    if (type == RDB_TYPE_SET) {
        for (uint64_t i = 0; rc == 0 && i < count; i++) {
            rd_str s;
            rc = read_string(r, &s);
            if (rc == 0) {
                rc = set_elem_add(r, o, s.p, s.len);
                rd_str_free(&s);
            }
        }
        if (rc == 0 && count == 0)
            rc = fail(r, "empty set");
    } else {
        rc = read_blob(r, type == RDB_TYPE_SET_INTSET ? dec_intset : dec_listpack, set_elem_add, o);
        /* A listpack's emptiness shows as no member added. */
        if (rc == 0) {
            uint64_t n = o->encoding == ENC_INTSET ? roaring_bitmap_get_cardinality(o->u.ptr)
                                                   : dict_size(o->u.ptr);
            if (n == 0)
                rc = fail(r, "empty set");
        }
    }
    if (rc != 0) {
        obj_free(o);
        return NULL;
    }
    return o;
}

/* ---- hashes ------------------------------------------------------------ */

static int hash_pair_add(reader *r, void *ud, const unsigned char *f, size_t flen, const unsigned char *v,
                         size_t vlen)
{
    hash_limits hl = {r->lim->hash_entries, r->lim->hash_value};
    int rc = hash_set(ud, (rk_slice){(const char *)f, flen}, (rk_slice){(const char *)v, vlen}, &hl);
    if (rc < 0)
        return fail(r, "out of memory");
    return rc == 1 ? 0 : fail(r, "duplicate hash field");
}

static rk_obj *load_hash(reader *r, int type)
{
    rk_obj *o = hash_new();
    if (!o) {
        fail(r, "out of memory");
        return NULL;
    }
    int rc = 0;
    if (type == RDB_TYPE_HASH) {
        uint64_t count;
        rc = read_count(r, &count);
        if (rc == 0 && count > (uint64_t)(r->lim->hash_entries < 0 ? 0 : r->lim->hash_entries))
            rc = hash_convert_to_ht(o) == 0 ? 0 : fail(r, "out of memory");
        for (uint64_t i = 0; rc == 0 && i < count; i++) {
            rd_str f, v = {NULL, 0};
            rc = read_string(r, &f);
            if (rc == 0)
                rc = read_string(r, &v);
            if (rc == 0)
                rc = hash_pair_add(r, o, f.p, f.len, v.p, v.len);
            rd_str_free(&f);
            rd_str_free(&v);
        }
    } else {
        blob_decoder *dec = type == RDB_TYPE_HASH_ZIPMAP    ? dec_zipmap
                            : type == RDB_TYPE_HASH_ZIPLIST ? dec_ziplist
                                                            : dec_listpack;
        rc = read_pair_blob(r, dec, hash_pair_add, o);
    }
    if (rc == 0 && hash_length(o) == 0)
        rc = fail(r, "empty hash");
    if (rc != 0) {
        obj_free(o);
        return NULL;
    }
    return o;
}

/* ---- sorted sets ------------------------------------------------------- */

typedef struct zset_loader {
    rk_obj *o;
    size_t max_member_len;
} zset_loader;

static int zset_member_add(reader *r, zset_loader *zl, const unsigned char *m, size_t len, double score)
{
    if (isnan(score))
        return fail(r, "NaN score");
    int rc = zset_add_new(zl->o, (const char *)m, len, score);
    if (rc < 0)
        return fail(r, "out of memory");
    if (rc == 0)
        return fail(r, "duplicate zset member");
    if (len > zl->max_member_len)
        zl->max_member_len = len;
    return 0;
}

static int zset_pair_add(reader *r, void *ud, const unsigned char *m, size_t mlen, const unsigned char *s,
                         size_t slen)
{
    double score;
    if (!rk_str2d((const char *)s, slen, &score))
        return fail(r, "bad score in blob");
    return zset_member_add(r, ud, m, mlen, score);
}

static rk_obj *load_zset(reader *r, int type)
{
    /* Built as a skiplist (O(log n) inserts), then packed when small, as Redis does. */
    zset_loader zl = {zset_create(ENC_SKIPLIST), 0};
    if (!zl.o) {
        fail(r, "out of memory");
        return NULL;
    }
    int rc = 0;
    if (type == RDB_TYPE_ZSET || type == RDB_TYPE_ZSET_2) {
        uint64_t count;
        rc = read_count(r, &count);
        for (uint64_t i = 0; rc == 0 && i < count; i++) {
            rd_str m;
            double score = 0;
            rc = read_string(r, &m);
            if (rc != 0)
                break;
            rc = type == RDB_TYPE_ZSET_2 ? read_double_binary(r, &score) : read_double_string(r, &score);
            if (rc == 0)
                rc = zset_member_add(r, &zl, m.p, m.len, score);
            rd_str_free(&m);
        }
    } else {
        rc = read_pair_blob(r, type == RDB_TYPE_ZSET_ZIPLIST ? dec_ziplist : dec_listpack, zset_pair_add, &zl);
    }
    unsigned long n = rc == 0 ? zset_length(zl.o) : 0;
    if (rc == 0 && n == 0)
        rc = fail(r, "empty zset");
    if (rc == 0 && r->lim->zset_entries >= 0 && n <= (unsigned long long)r->lim->zset_entries &&
        r->lim->zset_value >= 0 && zl.max_member_len <= (unsigned long long)r->lim->zset_value &&
        zset_convert(zl.o, ENC_LISTPACK) != 0)
        rc = fail(r, "out of memory");
    if (rc != 0) {
        obj_free(zl.o);
        return NULL;
    }
    return zl.o;
}

/* ---- entry point ------------------------------------------------------- */

rk_obj *rdb_value_read(const unsigned char *p, size_t len, size_t *consumed, int rdbver,
                       const rdb_limits *lim, char *err, size_t errlen)
{
    rdb_limits defaults;
    if (!lim) {
        rdb_limits_from_config(&defaults, NULL);
        lim = &defaults;
    }
    reader r = {p, len, 0, lim, err, errlen};
    if (err && errlen)
        err[0] = '\0';
    unsigned char type = 0;
    if (read_bytes(&r, &type, 1) != 0)
        return NULL;
    size_t body = 0;
    rk_obj *o = rdb_value_read_body(type, p + 1, len - 1, &body, rdbver, lim, err, errlen);
    if (o && consumed)
        *consumed = body + 1;
    return o;
}

/* ======================================================================
 * Pieces for the RDB file reader (storage/rdb_file.c), which keeps the
 * key between the type byte and the value.
 * ====================================================================== */

rk_obj *rdb_value_read_body(int type, const unsigned char *p, size_t len, size_t *consumed, int rdbver,
                            const rdb_limits *lim, char *err, size_t errlen)
{
    rdb_limits defaults;
    if (!lim) {
        rdb_limits_from_config(&defaults, NULL);
        lim = &defaults;
    }
    reader r = {p, len, 0, lim, err, errlen};
    if (err && errlen)
        err[0] = '\0';
    if (consumed)
        *consumed = 0;
    if (rdbver < 1 || rdbver > RDB_VERSION) {
        fail(&r, "unsupported RDB version %d", rdbver);
        return NULL;
    }
    rk_obj *o = NULL;
    switch (type) {
    case RDB_TYPE_STRING:
        o = load_string(&r);
        break;
    case RDB_TYPE_LIST:
    case RDB_TYPE_LIST_ZIPLIST:
    case RDB_TYPE_LIST_QUICKLIST:
    case RDB_TYPE_LIST_QUICKLIST_2:
        o = load_list(&r, type);
        break;
    case RDB_TYPE_SET:
    case RDB_TYPE_SET_INTSET:
    case RDB_TYPE_SET_LISTPACK:
        o = load_set(&r, type);
        break;
    case RDB_TYPE_ZSET:
    case RDB_TYPE_ZSET_2:
    case RDB_TYPE_ZSET_ZIPLIST:
    case RDB_TYPE_ZSET_LISTPACK:
        o = load_zset(&r, type);
        break;
    case RDB_TYPE_HASH:
    case RDB_TYPE_HASH_ZIPMAP:
    case RDB_TYPE_HASH_ZIPLIST:
    case RDB_TYPE_HASH_LISTPACK:
        o = load_hash(&r, type);
        break;
    case RDB_TYPE_STREAM_LISTPACKS:
    case RDB_TYPE_STREAM_LISTPACKS_2:
    case RDB_TYPE_STREAM_LISTPACKS_3: {
        size_t used = 0;
        o = rdb_stream_read(type, p, len, &used, err, errlen);
        r.pos = used;
        break;
    }
    default:
        fail(&r, "unsupported value type %d", type);
        return NULL;
    }
    if (consumed)
        *consumed = r.pos;
    return o;
}

unsigned char *rdb_read_string(const unsigned char *p, size_t len, size_t *consumed, size_t *outlen, char *err,
                               size_t errlen)
{
    reader r = {p, len, 0, NULL, err, errlen};
    rd_str s;
    if (err && errlen)
        err[0] = '\0';
    int rc = read_string(&r, &s);
    *consumed = r.pos;
    if (rc != 0)
        return NULL;
    *outlen = s.len;
    return s.p;
}

int rdb_read_len(const unsigned char *p, size_t len, size_t *consumed, uint64_t *out, char *err, size_t errlen)
{
    reader r = {p, len, 0, NULL, err, errlen};
    if (err && errlen)
        err[0] = '\0';
    int rc = read_len(&r, out, NULL);
    *consumed = r.pos;
    return rc;
}

/* ======================================================================
 * Measuring without decoding (the parallel loader's loading thread)
 * ====================================================================== */

static int skip_bytes(reader *r, uint64_t n, const char *what)
{
    if (n > remaining(r))
        return fail(r, "truncated %s", what);
    r->pos += (size_t)n;
    return 0;
}

/* One string, any encoding; the same checks read_string makes before it
 * would allocate, so a string this accepts is one the decoder can size. */
static int skip_string(reader *r)
{
    uint64_t len = 0, clen = 0;
    int encoded;
    if (read_len(r, &len, &encoded) != 0)
        return -1;
    if (!encoded)
        return skip_bytes(r, len, "string");
    if (len <= RDB_ENC_INT32)
        return skip_bytes(r, len == RDB_ENC_INT8 ? 1 : len == RDB_ENC_INT16 ? 2 : 4, "integer string");
    if (len != RDB_ENC_LZF)
        return fail(r, "unknown string encoding %llu", (unsigned long long)len);
    if (read_len(r, &clen, NULL) != 0 || read_len(r, &len, NULL) != 0)
        return -1;
    if (clen > remaining(r))
        return fail(r, "truncated compressed string");
    if (len == 0 || len > RDB_MAX_STRING || clen == 0 || clen > UINT_MAX)
        return fail(r, "bad compressed string lengths");
    r->pos += (size_t)clen;
    return 0;
}

/* RDB_TYPE_ZSET's ASCII score: a length byte, 253..255 standing alone. */
static int skip_double_string(reader *r)
{
    unsigned char n = 0;
    if (read_bytes(r, &n, 1) != 0)
        return -1;
    return n >= 253 ? 0 : skip_bytes(r, n, "score");
}

/* `count` elements of `strings` strings each, then `extra` fixed bytes
 * (a binary score) or an ASCII score. read_count bounds the loop by the
 * input left: every element takes at least one byte. */
static int skip_elements(reader *r, int strings, int binary_score, int ascii_score, int container)
{
    uint64_t count, ignored;
    if (read_count(r, &count) != 0)
        return -1;
    for (uint64_t i = 0; i < count; i++) {
        if (container && read_len(r, &ignored, NULL) != 0)
            return -1;
        for (int s = 0; s < strings; s++)
            if (skip_string(r) != 0)
                return -1;
        if (binary_score && skip_bytes(r, 8, "score") != 0)
            return -1;
        if (ascii_score && skip_double_string(r) != 0)
            return -1;
    }
    return 0;
}

int rdb_value_skip_body(int type, const unsigned char *p, size_t len, size_t *consumed, char *err, size_t errlen)
{
    reader r = {p, len, 0, NULL, err, errlen};
    int rc;
    if (err && errlen)
        err[0] = '\0';
    switch (type) {
    case RDB_TYPE_STRING:
    case RDB_TYPE_HASH_ZIPMAP:
    case RDB_TYPE_LIST_ZIPLIST:
    case RDB_TYPE_SET_INTSET:
    case RDB_TYPE_ZSET_ZIPLIST:
    case RDB_TYPE_HASH_ZIPLIST:
    case RDB_TYPE_HASH_LISTPACK:
    case RDB_TYPE_ZSET_LISTPACK:
    case RDB_TYPE_SET_LISTPACK:
        rc = skip_string(&r); /* a string, or one blob stored as a string */
        break;
    case RDB_TYPE_LIST:
    case RDB_TYPE_SET:
    case RDB_TYPE_LIST_QUICKLIST:
        rc = skip_elements(&r, 1, 0, 0, 0);
        break;
    case RDB_TYPE_HASH:
        rc = skip_elements(&r, 2, 0, 0, 0);
        break;
    case RDB_TYPE_ZSET:
        rc = skip_elements(&r, 1, 0, 1, 0);
        break;
    case RDB_TYPE_ZSET_2:
        rc = skip_elements(&r, 1, 1, 0, 0);
        break;
    case RDB_TYPE_LIST_QUICKLIST_2:
        rc = skip_elements(&r, 1, 0, 0, 1);
        break;
    case RDB_TYPE_STREAM_LISTPACKS:
    case RDB_TYPE_STREAM_LISTPACKS_2:
    case RDB_TYPE_STREAM_LISTPACKS_3: {
        /* Parsed whole (checks the layout too), then dropped. */
        size_t used = 0;
        rk_obj *o = rdb_stream_read(type, p, len, &used, err, errlen);
        r.pos = used;
        rc = o ? 0 : -1;
        if (o)
            obj_free(o);
        break;
    }
    default:
        rc = fail(&r, "unsupported value type %d", type);
        break;
    }
    *consumed = r.pos;
    return rc;
}

int rdb_string_view(const unsigned char *p, size_t len, size_t *consumed, const unsigned char **data, size_t *dlen,
                    char *err, size_t errlen)
{
    reader r = {p, len, 0, NULL, err, errlen};
    uint64_t n = 0;
    int encoded;
    if (err && errlen)
        err[0] = '\0';
    if (read_len(&r, &n, &encoded) != 0) {
        *consumed = r.pos;
        return -1;
    }
    if (encoded) {
        r.pos = 0;
        int rc = skip_string(&r);
        *consumed = r.pos;
        return rc == 0 ? 0 : -1;
    }
    if (n > remaining(&r)) {
        *consumed = r.pos;
        return fail(&r, "truncated string");
    }
    *data = p + r.pos;
    *dlen = (size_t)n;
    *consumed = r.pos + (size_t)n;
    return 1;
}
