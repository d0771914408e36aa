/* listpack.c: Redis's listpack byte format (implements listpack.h).
 *
 * Owns: nothing global; every function works on the listpack it is given.
 * Threads: a listpack is used only by the shard thread that owns its value;
 * the functions keep no state, so any thread may call them on its own data.
 * Invariants (every listpack these functions produce):
 *  - header total-bytes == allocated meaningful bytes, last byte is LP_EOF;
 *  - header count == number of entries, or 65535 when that is >= 65535 (or
 *    unknown after a load); an unknown count stays unknown until a delete
 *    brings the walked count below 65535;
 *  - every entry is <encoding+data><backlen>, backlen encoding the length of
 *    <encoding+data> exactly as Redis writes it, so output is byte-identical
 *    to Redis's for the same sequence of values;
 *  - a string that is a canonical int64 (Redis's lpStringToInt64) is always
 *    stored as an integer, in the smallest integer encoding.
 * On allocation failure a change returns NULL and the old listpack is intact. */
#include "core/listpack.h"

#include "core/alloc.h"

#include <assert.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define LP_NUMELE_UNKNOWN 65535u
#define LP_MAX_INT_ENC 9  /* 0xF4 + 8 bytes */
#define LP_MAX_BACKLEN 5
#define LP_LONG_STR_SIZE 21 /* strings this long or longer never parse as int64 */

/* Encoding bytes and masks. */
#define LP_ENC_7BIT_UINT_MASK 0x80
#define LP_ENC_7BIT_UINT 0x00
#define LP_ENC_6BIT_STR_MASK 0xC0
#define LP_ENC_6BIT_STR 0x80
#define LP_ENC_13BIT_INT_MASK 0xE0
#define LP_ENC_13BIT_INT 0xC0
#define LP_ENC_12BIT_STR_MASK 0xF0
#define LP_ENC_12BIT_STR 0xE0
#define LP_ENC_32BIT_STR 0xF0
#define LP_ENC_16BIT_INT 0xF1
#define LP_ENC_24BIT_INT 0xF2
#define LP_ENC_32BIT_INT 0xF3
#define LP_ENC_64BIT_INT 0xF4

/* ---- little helpers ---------------------------------------------------- */

static uint64_t read_le(const unsigned char *p, int nbytes)
{
    uint64_t v = 0;
    for (int i = nbytes - 1; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static void write_le(unsigned char *p, uint64_t v, int nbytes)
{
    for (int i = 0; i < nbytes; i++) {
        p[i] = (unsigned char)(v & 0xFF);
        v >>= 8;
    }
}

static uint32_t hdr_bytes(const unsigned char *lp) { return (uint32_t)read_le(lp, 4); }
static unsigned hdr_count(const unsigned char *lp) { return (unsigned)read_le(lp + 4, 2); }
static void set_hdr_bytes(unsigned char *lp, uint64_t n)
{
    assert(n <= UINT32_MAX);
    write_le(lp, n, 4);
}
static void set_hdr_count(unsigned char *lp, unsigned long n)
{
    write_le(lp + 4, n >= LP_NUMELE_UNKNOWN ? LP_NUMELE_UNKNOWN : n, 2);
}

/* Sign-extends the low `bits` bits of uv. */
static long long sign_extend(uint64_t uv, int bits)
{
    if (bits == 64)
        return (long long)uv;
    uint64_t sign = (uint64_t)1 << (bits - 1);
    uint64_t mask = ((uint64_t)1 << bits) - 1;
    uv &= mask;
    return (uv & sign) ? (long long)(uv | ~mask) : (long long)uv;
}

/* Redis's lpStringToInt64: canonical decimal (no '+', no leading zeros,
 * no "-0"), fits int64, shorter than 21 bytes. */
static bool string_to_int64(const unsigned char *s, size_t len, long long *out)
{
    if (len == 0 || len >= LP_LONG_STR_SIZE)
        return false;
    if (len == 1 && s[0] == '0') {
        *out = 0;
        return true;
    }
    size_t i = 0;
    bool negative = false;
    if (s[0] == '-') {
        negative = true;
        if (++i == len)
            return false;
    }
    if (s[i] < '1' || s[i] > '9')
        return false;
    uint64_t v = 0;
    for (; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        uint64_t d = (uint64_t)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    if (negative) {
        if (v > (uint64_t)INT64_MAX + 1)
            return false;
        *out = (long long)(0 - v); /* two's complement wrap gives INT64_MIN */
    } else {
        if (v > (uint64_t)INT64_MAX)
            return false;
        *out = (long long)v;
    }
    return true;
}

/* ---- backlen ----------------------------------------------------------- */

/* Bytes Redis's lpEncodeBacklen uses for len (its strict '<' bounds kept). */
static unsigned backlen_size(uint64_t len)
{
    if (len <= 127)
        return 1;
    if (len < 16383)
        return 2;
    if (len < 2097151)
        return 3;
    if (len < 268435455)
        return 4;
    return 5;
}

/* Most significant 7-bit group first without the high bit; every later
 * byte has it set, so a reader walking backwards knows where to stop. */
static unsigned write_backlen(unsigned char *buf, uint64_t len)
{
    unsigned n = backlen_size(len);
    for (unsigned i = 0; i < n; i++) {
        unsigned shift = 7 * (n - 1 - i);
        unsigned char b = (unsigned char)((len >> shift) & 127);
        buf[i] = i == 0 ? b : (unsigned char)(b | 128);
    }
    return n;
}

/* Decodes the backlen whose last byte is at `last`, walking back no
 * further than `lower`. Returns the value, sets *nbytes; UINT64_MAX if
 * malformed (more than 5 bytes or running past lower). */
static uint64_t read_backlen(const unsigned char *last, const unsigned char *lower, unsigned *nbytes)
{
    uint64_t val = 0;
    unsigned shift = 0;
    const unsigned char *p = last;
    for (;;) {
        val |= (uint64_t)(*p & 127) << shift;
        if (!(*p & 128))
            break;
        shift += 7;
        if (shift > 28 || p == lower)
            return UINT64_MAX;
        p--;
    }
    *nbytes = (unsigned)(last - p) + 1;
    return val;
}

/* ---- entry sizes ------------------------------------------------------- */

/* Length of <encoding+data> of the entry at p (p[0] != EOF, trusted). */
static uint64_t entry_enc_len(const unsigned char *p)
{
    unsigned char b = p[0];
    if ((b & LP_ENC_7BIT_UINT_MASK) == LP_ENC_7BIT_UINT)
        return 1;
    if ((b & LP_ENC_6BIT_STR_MASK) == LP_ENC_6BIT_STR)
        return 1 + (uint64_t)(b & 0x3F);
    if ((b & LP_ENC_13BIT_INT_MASK) == LP_ENC_13BIT_INT)
        return 2;
    if ((b & LP_ENC_12BIT_STR_MASK) == LP_ENC_12BIT_STR)
        return 2 + (((uint64_t)(b & 0x0F) << 8) | p[1]);
    switch (b) {
    case LP_ENC_32BIT_STR: return 5 + read_le(p + 1, 4);
    case LP_ENC_16BIT_INT: return 3;
    case LP_ENC_24BIT_INT: return 4;
    case LP_ENC_32BIT_INT: return 5;
    case LP_ENC_64BIT_INT: return 9;
    default: assert(!"listpack: bad entry encoding"); return 0;
    }
}

/* Whole entry length, backlen included. */
static uint64_t entry_total_len(const unsigned char *p)
{
    uint64_t enc = entry_enc_len(p);
    return enc + backlen_size(enc);
}

/* ---- encoding new entries ---------------------------------------------- */

/* Writes v's smallest integer encoding to buf, returns its length. */
static unsigned encode_int(unsigned char *buf, long long v)
{
    if (v >= 0 && v <= 127) {
        buf[0] = (unsigned char)v;
        return 1;
    }
    if (v >= -4096 && v <= 4095) {
        uint64_t uv = (uint64_t)v & 0x1FFF;
        buf[0] = (unsigned char)(LP_ENC_13BIT_INT | (uv >> 8));
        buf[1] = (unsigned char)(uv & 0xFF);
        return 2;
    }
    if (v >= -32768 && v <= 32767) {
        buf[0] = LP_ENC_16BIT_INT;
        write_le(buf + 1, (uint64_t)v, 2);
        return 3;
    }
    if (v >= -8388608 && v <= 8388607) {
        buf[0] = LP_ENC_24BIT_INT;
        write_le(buf + 1, (uint64_t)v, 3);
        return 4;
    }
    if (v >= INT32_MIN && v <= INT32_MAX) {
        buf[0] = LP_ENC_32BIT_INT;
        write_le(buf + 1, (uint64_t)v, 4);
        return 5;
    }
    buf[0] = LP_ENC_64BIT_INT;
    write_le(buf + 1, (uint64_t)v, 8);
    return 9;
}

/* Writes the string header for len to buf, returns its length. */
static unsigned encode_str_header(unsigned char *buf, uint32_t len)
{
    if (len < 64) {
        buf[0] = (unsigned char)(LP_ENC_6BIT_STR | len);
        return 1;
    }
    if (len < 4096) {
        buf[0] = (unsigned char)(LP_ENC_12BIT_STR | (len >> 8));
        buf[1] = (unsigned char)(len & 0xFF);
        return 2;
    }
    buf[0] = LP_ENC_32BIT_STR;
    write_le(buf + 1, len, 4);
    return 5;
}

/* A new entry, prepared before the listpack is touched: hdr holds the
 * encoding (and the whole integer), data/dlen the string bytes if any. */
typedef struct new_entry {
    unsigned char hdr[LP_MAX_INT_ENC];
    unsigned hdr_len;
    const unsigned char *data;
    uint32_t dlen;
    uint64_t enc_len;   /* hdr_len + dlen */
    uint64_t total_len; /* enc_len + backlen */
} new_entry;

static void prepare_int(new_entry *e, long long v)
{
    e->hdr_len = encode_int(e->hdr, v);
    e->data = NULL;
    e->dlen = 0;
    e->enc_len = e->hdr_len;
    e->total_len = e->enc_len + backlen_size(e->enc_len);
}

static void prepare_value(new_entry *e, const unsigned char *s, uint32_t len)
{
    long long v;
    if (string_to_int64(s, len, &v)) {
        prepare_int(e, v);
        return;
    }
    e->hdr_len = encode_str_header(e->hdr, len);
    e->data = s;
    e->dlen = len;
    e->enc_len = (uint64_t)e->hdr_len + len;
    e->total_len = e->enc_len + backlen_size(e->enc_len);
}

static void write_entry(unsigned char *dst, const new_entry *e)
{
    memcpy(dst, e->hdr, e->hdr_len);
    if (e->dlen)
        memcpy(dst + e->hdr_len, e->data, e->dlen);
    write_backlen(dst + e->enc_len, e->enc_len);
}

/* ---- lifecycle ----------------------------------------------------------- */

unsigned char *lp_new(size_t capacity)
{
    size_t size = capacity > LP_HDR_SIZE + 1 ? capacity : LP_HDR_SIZE + 1;
    unsigned char *lp = rk_malloc(size);
    if (!lp)
        return NULL;
    set_hdr_bytes(lp, LP_HDR_SIZE + 1);
    set_hdr_count(lp, 0);
    lp[LP_HDR_SIZE] = LP_EOF;
    return lp;
}

void lp_free(unsigned char *lp) { rk_free(lp); }

size_t lp_bytes(const unsigned char *lp) { return hdr_bytes(lp); }

/* Counts entries by walking (the header says "unknown"). */
static unsigned long count_entries(const unsigned char *lp)
{
    unsigned long n = 0;
    const unsigned char *p = lp + LP_HDR_SIZE;
    while (*p != LP_EOF) {
        p += entry_total_len(p);
        n++;
    }
    return n;
}

unsigned long lp_length(const unsigned char *lp)
{
    unsigned count = hdr_count(lp);
    return count != LP_NUMELE_UNKNOWN ? count : count_entries(lp);
}

unsigned char *lp_dup(const unsigned char *lp)
{
    size_t n = lp_bytes(lp);
    unsigned char *copy = rk_malloc(n);
    if (copy)
        memcpy(copy, lp, n);
    return copy;
}

/* ---- navigation ---------------------------------------------------------- */

unsigned char *lp_first(unsigned char *lp)
{
    unsigned char *p = lp + LP_HDR_SIZE;
    return *p == LP_EOF ? NULL : p;
}

unsigned char *lp_next(unsigned char *lp, unsigned char *p)
{
    assert(p && *p != LP_EOF);
    p += entry_total_len(p);
    assert(p < lp + lp_bytes(lp));
    return *p == LP_EOF ? NULL : p;
}

/* Works for p at EOF too (gives the last entry). */
unsigned char *lp_prev(unsigned char *lp, unsigned char *p)
{
    assert(p && p >= lp + LP_HDR_SIZE);
    if (p == lp + LP_HDR_SIZE)
        return NULL;
    unsigned nbytes = 0;
    uint64_t enc_len = read_backlen(p - 1, lp + LP_HDR_SIZE, &nbytes);
    assert(enc_len != UINT64_MAX);
    unsigned char *prev = p - nbytes - enc_len;
    assert(prev >= lp + LP_HDR_SIZE);
    return prev;
}

unsigned char *lp_last(unsigned char *lp)
{
    return lp_prev(lp, lp + lp_bytes(lp) - 1);
}

unsigned char *lp_seek(unsigned char *lp, long index)
{
    unsigned long len = lp_length(lp);
    long long idx = index;
    if (idx < 0)
        idx += (long long)len;
    if (idx < 0 || (unsigned long long)idx >= len)
        return NULL;
    unsigned char *p;
    if ((unsigned long long)idx < len / 2) {
        p = lp_first(lp);
        for (long long i = 0; i < idx; i++)
            p = lp_next(lp, p);
    } else {
        p = lp_last(lp);
        for (long long i = (long long)len - 1; i > idx; i--)
            p = lp_prev(lp, p);
    }
    return p;
}

/* ---- reading entries ----------------------------------------------------- */

void lp_get(const unsigned char *p, lp_value *out)
{
    unsigned char b = p[0];
    assert(b != LP_EOF);
    out->sval = NULL;
    out->slen = 0;
    out->lval = 0;
    if ((b & LP_ENC_7BIT_UINT_MASK) == LP_ENC_7BIT_UINT) {
        out->lval = b;
    } else if ((b & LP_ENC_6BIT_STR_MASK) == LP_ENC_6BIT_STR) {
        out->sval = p + 1;
        out->slen = b & 0x3F;
    } else if ((b & LP_ENC_13BIT_INT_MASK) == LP_ENC_13BIT_INT) {
        out->lval = sign_extend(((uint64_t)(b & 0x1F) << 8) | p[1], 13);
    } else if ((b & LP_ENC_12BIT_STR_MASK) == LP_ENC_12BIT_STR) {
        out->sval = p + 2;
        out->slen = ((uint32_t)(b & 0x0F) << 8) | p[1];
    } else {
        switch (b) {
        case LP_ENC_32BIT_STR:
            out->sval = p + 5;
            out->slen = (uint32_t)read_le(p + 1, 4);
            break;
        case LP_ENC_16BIT_INT: out->lval = sign_extend(read_le(p + 1, 2), 16); break;
        case LP_ENC_24BIT_INT: out->lval = sign_extend(read_le(p + 1, 3), 24); break;
        case LP_ENC_32BIT_INT: out->lval = sign_extend(read_le(p + 1, 4), 32); break;
        case LP_ENC_64BIT_INT: out->lval = sign_extend(read_le(p + 1, 8), 64); break;
        default: assert(!"listpack: bad entry encoding");
        }
    }
}

const unsigned char *lp_get_bytes(const unsigned char *p, unsigned char *buf, uint32_t *len)
{
    lp_value v;
    lp_get(p, &v);
    if (v.sval) {
        *len = v.slen;
        return v.sval;
    }
    int n = snprintf((char *)buf, 21, "%lld", v.lval);
    assert(n > 0 && n < 21);
    *len = (uint32_t)n;
    return buf;
}

/* s as the caller gave it, with its integer form computed once. */
typedef struct needle {
    const unsigned char *s;
    uint32_t len;
    bool is_int;
    long long ival;
} needle;

static void needle_init(needle *n, const unsigned char *s, uint32_t len)
{
    n->s = s;
    n->len = len;
    n->is_int = string_to_int64(s, len, &n->ival);
}

/* Canonical integers are always stored as integers, so a string entry
 * never equals an integer needle and vice versa. */
static bool entry_matches(const unsigned char *p, const needle *n)
{
    if ((p[0] & LP_ENC_6BIT_STR_MASK) == LP_ENC_6BIT_STR) /* the common case, kept cheap */
        return !n->is_int && (uint32_t)(p[0] & 0x3F) == n->len && memcmp(p + 1, n->s, n->len) == 0;
    lp_value v;
    lp_get(p, &v);
    if (v.sval)
        return !n->is_int && v.slen == n->len && (n->len == 0 || memcmp(v.sval, n->s, n->len) == 0);
    return n->is_int && v.lval == n->ival;
}

int lp_equal(const unsigned char *p, const unsigned char *s, uint32_t len)
{
    needle n;
    needle_init(&n, s, len);
    return entry_matches(p, &n);
}

unsigned char *lp_find(unsigned char *lp, unsigned char *p, const unsigned char *s, uint32_t len,
                       unsigned skip)
{
    needle n;
    needle_init(&n, s, len);
    unsigned skipcnt = 0;
    while (p && *p != LP_EOF) {
        if (skipcnt == 0) {
            if (entry_matches(p, &n))
                return p;
            skipcnt = skip;
        } else {
            skipcnt--;
        }
        p = lp_next(lp, p);
    }
    return NULL;
}

/* ---- changes --------------------------------------------------------------- */

/* Replaces the old_len bytes at offset off with the new entry e (or with
 * nothing when e is NULL), fixing the header. added: change to the entry
 * count (+1, 0 or -1). Returns the (maybe moved) listpack or NULL with the
 * old one intact. */
static unsigned char *splice(unsigned char *lp, size_t off, uint64_t old_len, const new_entry *e,
                             int added)
{
    uint64_t old_bytes = lp_bytes(lp);
    uint64_t new_len = e ? e->total_len : 0;
    uint64_t new_bytes = old_bytes - old_len + new_len;
    if (new_bytes > UINT32_MAX)
        return NULL;
    size_t tail_off = off + old_len;
    size_t tail_len = old_bytes - tail_off;

    if (new_bytes > old_bytes) {
        unsigned char *grown = rk_realloc(lp, new_bytes);
        if (!grown)
            return NULL;
        lp = grown;
    }
    memmove(lp + off + new_len, lp + tail_off, tail_len);
    if (e)
        write_entry(lp + off, e);
    set_hdr_bytes(lp, new_bytes);

    unsigned count = hdr_count(lp);
    if (count != LP_NUMELE_UNKNOWN) {
        set_hdr_count(lp, (unsigned long)((long)count + added));
    } else if (added < 0) {
        set_hdr_count(lp, count_entries(lp));
    }

    if (new_bytes < old_bytes) {
        /* A failed shrink keeps the larger block, which is still valid. */
        unsigned char *shrunk = rk_realloc(lp, new_bytes);
        if (shrunk)
            lp = shrunk;
    }
    return lp;
}

/* True when s points into lp's bytes (the caller passes a value it read
 * from this same listpack, which the splice would move under it). */
static bool aliases(const unsigned char *lp, const unsigned char *s)
{
    uintptr_t a = (uintptr_t)lp, b = (uintptr_t)s;
    return b >= a && b < a + lp_bytes(lp);
}

static unsigned char *insert_entry(unsigned char *lp, new_entry *e, unsigned char *p, int where,
                                   unsigned char **newp)
{
    if (where == LP_AFTER) {
        assert(*p != LP_EOF);
        p += entry_total_len(p);
        where = LP_BEFORE;
    }
    size_t off = (size_t)(p - lp);
    uint64_t old_len = 0;
    int added = 1;
    if (where == LP_REPLACE) {
        assert(*p != LP_EOF);
        old_len = entry_total_len(p);
        added = 0;
    }
    unsigned char *copy = NULL;
    if (e->dlen && aliases(lp, e->data)) {
        copy = rk_malloc(e->dlen);
        if (!copy)
            return NULL;
        memcpy(copy, e->data, e->dlen);
        e->data = copy;
    }
    unsigned char *res = splice(lp, off, old_len, e, added);
    rk_free(copy);
    if (res && newp)
        *newp = res + off;
    return res;
}

unsigned char *lp_insert(unsigned char *lp, const unsigned char *s, uint32_t len, unsigned char *p,
                         int where, unsigned char **newp)
{
    assert(p && p >= lp + LP_HDR_SIZE && p < lp + lp_bytes(lp));
    assert(where == LP_BEFORE || where == LP_AFTER || where == LP_REPLACE);
    if (!s && where == LP_REPLACE) /* Redis's convention: no value means delete */
        return lp_delete(lp, p, newp);
    assert(s || len == 0);
    new_entry e;
    prepare_value(&e, s ? s : (const unsigned char *)"", len);
    return insert_entry(lp, &e, p, where, newp);
}

unsigned char *lp_append(unsigned char *lp, const unsigned char *s, uint32_t len)
{
    return lp_insert(lp, s, len, lp + lp_bytes(lp) - 1, LP_BEFORE, NULL);
}

unsigned char *lp_prepend(unsigned char *lp, const unsigned char *s, uint32_t len)
{
    return lp_insert(lp, s, len, lp + LP_HDR_SIZE, LP_BEFORE, NULL);
}

unsigned char *lp_append_int(unsigned char *lp, long long v)
{
    new_entry e;
    prepare_int(&e, v);
    return insert_entry(lp, &e, lp + lp_bytes(lp) - 1, LP_BEFORE, NULL);
}

unsigned char *lp_delete(unsigned char *lp, unsigned char *p, unsigned char **next)
{
    assert(p && p >= lp + LP_HDR_SIZE && *p != LP_EOF);
    size_t off = (size_t)(p - lp);
    unsigned char *res = splice(lp, off, entry_total_len(p), NULL, -1);
    /* Shrinking never fails (a failed realloc keeps the block). */
    assert(res);
    if (next)
        *next = res[off] == LP_EOF ? NULL : res + off;
    return res;
}

unsigned char *lp_delete_range(unsigned char *lp, long index, unsigned long count)
{
    unsigned char *first = lp_seek(lp, index);
    if (!first || count == 0)
        return lp;
    unsigned char *end = first;
    unsigned long deleted = 0;
    while (deleted < count && *end != LP_EOF) {
        end += entry_total_len(end);
        deleted++;
    }
    size_t off = (size_t)(first - lp);
    uint64_t span = (uint64_t)(end - first);
    unsigned old_count = hdr_count(lp);
    unsigned char *res = splice(lp, off, span, NULL, 0);
    assert(res);
    if (old_count != LP_NUMELE_UNKNOWN)
        set_hdr_count(res, old_count - deleted);
    else
        set_hdr_count(res, count_entries(res));
    return res;
}

/* ---- validation -------------------------------------------------------------- */

/* Checks the entry at p lies wholly before eof and that its backlen agrees.
 * Returns its total length, or 0 when it is malformed. */
static uint64_t validate_entry(const unsigned char *p, const unsigned char *eof)
{
    uint64_t avail = (uint64_t)(eof - p);
    unsigned char b = p[0];
    unsigned need; /* encoding bytes needed to know the length */
    if ((b & LP_ENC_7BIT_UINT_MASK) == LP_ENC_7BIT_UINT || (b & LP_ENC_6BIT_STR_MASK) == LP_ENC_6BIT_STR)
        need = 1;
    else if ((b & LP_ENC_13BIT_INT_MASK) == LP_ENC_13BIT_INT || (b & LP_ENC_12BIT_STR_MASK) == LP_ENC_12BIT_STR)
        need = 2;
    else if (b >= LP_ENC_32BIT_STR && b <= LP_ENC_64BIT_INT)
        need = b == LP_ENC_16BIT_INT ? 3 : b == LP_ENC_24BIT_INT ? 4 : b == LP_ENC_64BIT_INT ? 9 : 5;
    else
        return 0; /* 0xF5..0xFE, or an EOF before the end */
    if (avail < need)
        return 0;
    uint64_t enc_len = entry_enc_len(p);
    uint64_t total = enc_len + backlen_size(enc_len);
    if (total > avail)
        return 0;
    unsigned nbytes = 0;
    uint64_t back = read_backlen(p + total - 1, p + enc_len, &nbytes);
    if (back != enc_len || nbytes != total - enc_len)
        return 0;
    return total;
}

int lp_validate(const unsigned char *lp, size_t size)
{
    if (!lp || size < LP_HDR_SIZE + 1 || size > UINT32_MAX)
        return 0;
    if (hdr_bytes(lp) != size || lp[size - 1] != LP_EOF)
        return 0;
    const unsigned char *eof = lp + size - 1;
    const unsigned char *p = lp + LP_HDR_SIZE;
    unsigned long count = 0;
    while (p < eof) {
        uint64_t total = validate_entry(p, eof);
        if (!total)
            return 0;
        p += total;
        count++;
    }
    unsigned hdr = hdr_count(lp);
    if (hdr != LP_NUMELE_UNKNOWN && hdr != count)
        return 0;
    /* Redis writes "unknown" only for 65535 entries or more. Accept it for
     * fewer too (Redis does): only the count is lost, not safety. */
    return 1;
}
