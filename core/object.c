/* object.c: key strings (rk_str), string objects and Redis-compatible
 * number parsing/formatting (implements core/object.h).
 *
 * Threads: every function may run on any thread; an object is only ever
 * touched by the shard that holds it. The type-ops table is written at
 * start-up (obj_register_type) before shard threads run, read-only after.
 *
 * Invariants:
 *  - ENC_INT objects own no heap besides the header.
 *  - ENC_EMBSTR objects are one allocation: header, then rk_str, then bytes
 *    and a NUL; u.str points just past the header.
 *  - ENC_RAW objects own a separately allocated rk_str (u.str). An object
 *    converted from embstr to raw keeps its (now unused) inline bytes until
 *    freed, so the rk_obj pointer never changes on conversion.
 *  - Every rk_str is NUL-terminated at data[len], and len <= cap. */
#include "core/object.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "core/alloc.h"

#define XXH_INLINE_ALL
#include <xxhash.h>

/* Redis's MAX_LONG_DOUBLE_CHARS: longer float arguments are rejected. */
#define MAX_FLOAT_CHARS (5 * 1024)
#define RKSTR_PREALLOC_LIMIT (1024 * 1024)

/* ---- rk_str ------------------------------------------------------------ */

rk_str *rkstr_new_cap(const void *p, size_t len, size_t cap)
{
    if (cap < len)
        cap = len;
    if (cap > UINT32_MAX)
        return NULL;
    rk_str *s = rk_malloc(sizeof(rk_str) + cap + 1);
    if (!s)
        return NULL;
    s->len = (uint32_t)len;
    s->cap = (uint32_t)cap;
    if (len) {
        if (p)
            memcpy(s->data, p, len);
        else
            memset(s->data, 0, len);
    }
    s->data[len] = '\0';
    return s;
}

rk_str *rkstr_new(const void *p, size_t len)
{
    return rkstr_new_cap(p, len, len);
}

void rkstr_free(rk_str *s)
{
    rk_free(s);
}

rk_str *rkstr_grow(rk_str *s, size_t extra)
{
    size_t need = (size_t)s->len + extra;
    if (need < s->len || need > UINT32_MAX)
        return NULL;
    if (need <= s->cap)
        return s;
    /* Geometric growth like sds keeps repeated APPENDs amortized O(1). */
    size_t newcap = need < RKSTR_PREALLOC_LIMIT ? need * 2 : need + RKSTR_PREALLOC_LIMIT;
    if (newcap > UINT32_MAX)
        newcap = UINT32_MAX;
    rk_str *grown = rk_realloc(s, sizeof(rk_str) + newcap + 1);
    if (!grown)
        return NULL;
    grown->cap = (uint32_t)newcap;
    return grown;
}

/* A per-process random seed makes bucket positions unpredictable to
 * clients (hash flooding). Set before main() runs, read-only afterwards. */
static uint64_t hash_seed = 0x9e3779b97f4a7c15ULL;

__attribute__((constructor)) static void hash_seed_init(void)
{
    uint64_t seed;
    if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) == (ssize_t)sizeof(seed))
        hash_seed = seed;
}

uint64_t rkstr_hash(const void *key)
{
    const rk_str *s = key;
    return XXH3_64bits_withSeed(s->data, s->len, hash_seed);
}

int rkstr_equal(const void *a, const void *b)
{
    const rk_str *x = a, *y = b;
    return x->len == y->len && memcmp(x->data, y->data, x->len) == 0;
}

void rkstr_destructor(void *key)
{
    rkstr_free(key);
}

/* ---- other types' hooks ----------------------------------------------- */

#define OBJ_TYPE_SLOTS 8
static const rk_obj_type_ops *type_ops[OBJ_TYPE_SLOTS];

void obj_register_type(int type, const rk_obj_type_ops *ops)
{
    assert(type > OBJ_STRING && type < OBJ_TYPE_SLOTS);
    type_ops[type] = ops;
}

static const rk_obj_type_ops *ops_of(int type)
{
    return type >= 0 && type < OBJ_TYPE_SLOTS ? type_ops[type] : NULL;
}

/* ---- string objects ---------------------------------------------------- */

static rk_obj *obj_header(int encoding, size_t extra)
{
    rk_obj *o = rk_malloc(sizeof(rk_obj) + extra);
    if (!o)
        return NULL;
    o->type = OBJ_STRING;
    o->encoding = (uint8_t)encoding;
    o->reserved = 0;
    o->lru = 0;
    return o;
}

rk_obj *obj_new_int(int64_t v)
{
    rk_obj *o = obj_header(ENC_INT, 0);
    if (o)
        o->u.ival = v;
    return o;
}

static rk_obj *obj_new_embstr(const void *p, size_t len)
{
    assert(len <= OBJ_EMBSTR_MAX);
    rk_obj *o = obj_header(ENC_EMBSTR, sizeof(rk_str) + len + 1);
    if (!o)
        return NULL;
    rk_str *s = (rk_str *)(o + 1);
    s->len = s->cap = (uint32_t)len;
    if (len)
        memcpy(s->data, p, len);
    s->data[len] = '\0';
    o->u.str = s;
    return o;
}

rk_obj *obj_new_raw(const void *p, size_t len)
{
    rk_obj *o = obj_header(ENC_RAW, 0);
    if (!o)
        return NULL;
    o->u.str = rkstr_new(p, len);
    if (!o->u.str) {
        rk_free(o);
        return NULL;
    }
    return o;
}

rk_obj *obj_new_string(const void *p, size_t len)
{
    long long v;
    /* As Redis's tryObjectEncoding: an exact int64 of at most 20 chars. */
    if (len <= 20 && rk_str2ll(p, len, &v))
        return obj_new_int(v);
    if (len <= OBJ_EMBSTR_MAX)
        return obj_new_embstr(p, len);
    return obj_new_raw(p, len);
}

rk_obj *obj_new_string_noint(const void *p, size_t len)
{
    return len <= OBJ_EMBSTR_MAX ? obj_new_embstr(p, len) : obj_new_raw(p, len);
}

rk_obj *obj_dup(const rk_obj *o)
{
    if (o->type != OBJ_STRING) {
        const rk_obj_type_ops *ops = ops_of(o->type);
        if (!ops || !ops->dup_ptr)
            return NULL;
        rk_obj *d = rk_malloc(sizeof(rk_obj));
        if (!d)
            return NULL;
        *d = *o;
        d->u.ptr = ops->dup_ptr(o);
        if (!d->u.ptr) {
            rk_free(d);
            return NULL;
        }
        return d;
    }
    rk_obj *d;
    switch (o->encoding) {
    case ENC_INT:
        d = obj_new_int(o->u.ival);
        break;
    case ENC_EMBSTR:
        d = obj_new_embstr(o->u.str->data, o->u.str->len);
        break;
    default:
        assert(o->encoding == ENC_RAW);
        d = obj_new_raw(o->u.str->data, o->u.str->len);
        break;
    }
    if (d)
        d->lru = o->lru;
    return d;
}

void obj_free(rk_obj *o)
{
    if (!o)
        return;
    if (o->type == OBJ_STRING) {
        if (o->encoding == ENC_RAW)
            rkstr_free(o->u.str);
    } else {
        const rk_obj_type_ops *ops = ops_of(o->type);
        if (ops && ops->free_ptr)
            ops->free_ptr(o);
    }
    rk_free(o);
}

void obj_destructor(void *o)
{
    obj_free(o);
}

rk_obj *obj_make_raw(rk_obj *o, size_t extra_cap)
{
    assert(o->type == OBJ_STRING);
    if (o->encoding == ENC_RAW) {
        rk_str *grown = rkstr_grow(o->u.str, extra_cap);
        if (!grown)
            return NULL;
        o->u.str = grown;
        return o;
    }
    char tmp[24];
    rk_slice cur = obj_string_bytes(o, tmp);
    if (cur.len + extra_cap < cur.len)
        return NULL;
    rk_str *s = rkstr_new_cap(cur.ptr, cur.len, cur.len + extra_cap);
    if (!s)
        return NULL;
    /* The header stays put (an embstr's inline bytes simply go unused), so
     * the keyspace entry keeps pointing at a valid object. */
    o->u.str = s;
    o->encoding = ENC_RAW;
    return o;
}

rk_slice obj_string_bytes(const rk_obj *o, char tmp[24])
{
    assert(o->type == OBJ_STRING);
    if (o->encoding == ENC_INT) {
        int n = rk_ll2str(tmp, 24, o->u.ival);
        return (rk_slice){tmp, (size_t)n};
    }
    return rkstr_slice(o->u.str);
}

size_t obj_string_len(const rk_obj *o)
{
    if (o->encoding == ENC_INT) {
        char tmp[24];
        return (size_t)rk_ll2str(tmp, sizeof(tmp), o->u.ival);
    }
    return o->u.str->len;
}

const char *obj_type_name(int type)
{
    switch (type) {
    case OBJ_STRING: return "string";
    case OBJ_LIST: return "list";
    case OBJ_SET: return "set";
    case OBJ_ZSET: return "zset";
    case OBJ_HASH: return "hash";
    case OBJ_STREAM: return "stream";
    default: return "unknown";
    }
}

const char *obj_encoding_name(int encoding)
{
    switch (encoding) {
    case ENC_RAW: return "raw";
    case ENC_INT: return "int";
    case ENC_HT: return "hashtable";
    case ENC_ZIPMAP: return "zipmap";
    case ENC_LINKEDLIST: return "linkedlist";
    case ENC_ZIPLIST: return "ziplist";
    case ENC_INTSET: return "intset";
    case ENC_SKIPLIST: return "skiplist";
    case ENC_EMBSTR: return "embstr";
    case ENC_QUICKLIST: return "quicklist";
    case ENC_STREAM: return "stream";
    case ENC_LISTPACK: return "listpack";
    default: return "unknown";
    }
}

size_t obj_heap_size(const rk_obj *o)
{
    size_t n = rk_usable_size(o);
    if (o->type == OBJ_STRING) {
        if (o->encoding == ENC_RAW)
            n += rk_usable_size(o->u.str);
        return n;
    }
    const rk_obj_type_ops *ops = ops_of(o->type);
    if (ops && ops->heap_size)
        n += ops->heap_size(o);
    return n;
}

/* ---- numbers ------------------------------------------------------------ */

int rk_str2ll(const char *s, size_t len, long long *out)
{
    const char *p = s, *end = s + len;
    int negative = 0;
    unsigned long long v;

    if (len == 0 || len > 20)
        return 0;
    if (len == 1 && p[0] == '0') {
        *out = 0;
        return 1;
    }
    if (*p == '-') {
        negative = 1;
        if (++p == end)
            return 0;
    }
    /* No leading zeros, signs or spaces: the text must round-trip. */
    if (*p < '1' || *p > '9')
        return 0;
    v = (unsigned long long)(*p++ - '0');
    for (; p < end; p++) {
        if (*p < '0' || *p > '9')
            return 0;
        unsigned digit = (unsigned)(*p - '0');
        if (v > (ULLONG_MAX - digit) / 10)
            return 0;
        v = v * 10 + digit;
    }
    if (negative) {
        if (v > (unsigned long long)LLONG_MAX + 1)
            return 0;
        *out = v == (unsigned long long)LLONG_MAX + 1 ? LLONG_MIN : -(long long)v;
    } else {
        if (v > (unsigned long long)LLONG_MAX)
            return 0;
        *out = (long long)v;
    }
    return 1;
}

int rk_str2ld(const char *s, size_t len, long double *out)
{
    char buf[MAX_FLOAT_CHARS + 1];
    char *eptr;

    if (len == 0 || len >= MAX_FLOAT_CHARS)
        return 0;
    memcpy(buf, s, len);
    buf[len] = '\0';
    errno = 0;
    long double v = strtold(buf, &eptr);
    if (isspace((unsigned char)buf[0]) || eptr != buf + len ||
        (errno == ERANGE && (v == HUGE_VALL || v == -HUGE_VALL || fpclassify(v) == FP_ZERO)) ||
        isnan(v))
        return 0;
    *out = v;
    return 1;
}

int rk_str2d(const char *s, size_t len, double *out)
{
    char buf[MAX_FLOAT_CHARS + 1];
    char *eptr;

    if (len == 0 || len >= MAX_FLOAT_CHARS)
        return 0;
    memcpy(buf, s, len);
    buf[len] = '\0';
    errno = 0;
    double v = strtod(buf, &eptr);
    if (isspace((unsigned char)buf[0]) || eptr != buf + len ||
        (errno == ERANGE && (v == HUGE_VAL || v == -HUGE_VAL || fpclassify(v) == FP_ZERO)) ||
        isnan(v))
        return 0;
    *out = v;
    return 1;
}

int rk_ll2str(char *buf, size_t cap, long long v)
{
    char tmp[21];
    size_t n = 0;
    /* Work on the magnitude as unsigned so LLONG_MIN needs no special case. */
    unsigned long long mag = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    do {
        tmp[n++] = (char)('0' + mag % 10);
        mag /= 10;
    } while (mag);
    size_t total = n + (v < 0);
    if (total + 1 > cap) {
        if (cap)
            buf[0] = '\0';
        return 0;
    }
    size_t i = 0;
    if (v < 0)
        buf[i++] = '-';
    while (n)
        buf[i++] = tmp[--n];
    buf[i] = '\0';
    return (int)i;
}

int rk_parse_scan_cursor(rk_slice s, uint64_t *out)
{
    char buf[32];
    if (s.len == 0 || s.len >= sizeof buf)
        return 0;
    memcpy(buf, s.ptr, s.len);
    buf[s.len] = '\0';
    if (buf[0] == ' ' || (buf[0] >= '\t' && buf[0] <= '\r'))
        return 0;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(buf, &end, 10);
    if (*end != '\0' || errno == ERANGE)
        return 0;
    *out = (uint64_t)v;
    return 1;
}
