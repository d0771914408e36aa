/* t_hash.c: the hash type (OBJ_HASH: its two encodings, copy/free hooks)
 * and the hash commands, table rk_hash_commands[].
 *
 * Threads: the type functions run on the shard thread owning the object;
 * every proc runs on the shard owning its key (or on the multi-key
 * executor's scratch db). The command table is read-only after start-up.
 *
 * Invariants: a listpack hash holds an even number of entries (field,
 * value pairs) with unique fields; a hashtable hash never goes back to a
 * listpack; no key holds an empty hash (the last HDEL deletes the key);
 * a failed allocation leaves the hash as it was. Replies and errors match
 * Redis 7.0. */
#include "core/t_hash.h"

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "core/alloc.h"
#include "core/command.h"
#include "core/config.h"
#include "core/db.h"
#include "core/listpack.h"
#include "core/shard.h"

/* Redis refuses to grow a listpack past 1 GiB (lpSafeToAdd). */
#define HASH_LP_SAFETY_SIZE (1ULL << 30)
/* Room for any long double HINCRBYFLOAT prints (Redis's MAX_LONG_DOUBLE_CHARS). */
#define HASH_LD_CHARS (5 * 1024)

/* ---- temporary lookup keys for the hashtable encoding ------------------- */

#define TMPSTR_INLINE 120

/* An rk_str built from a slice to probe the dict: inline when short. */
typedef struct tmp_str {
    rk_str *s;
    uint64_t words[(sizeof(rk_str) + TMPSTR_INLINE + 1 + 7) / 8];
} tmp_str;

static rk_str *tmp_str_make(tmp_str *t, rk_slice v)
{
    if (v.len <= TMPSTR_INLINE) {
        t->s = (rk_str *)t->words;
        t->s->len = t->s->cap = (uint32_t)v.len;
        if (v.len)
            memcpy(t->s->data, v.ptr, v.len);
        t->s->data[v.len] = '\0';
    } else {
        t->s = rkstr_new(v.ptr, v.len);
    }
    return t->s;
}

static void tmp_str_done(tmp_str *t)
{
    if (t->s && t->s != (rk_str *)t->words)
        rkstr_free(t->s);
    t->s = NULL;
}

static const dict_type hash_dict_type = {
    rkstr_hash, rkstr_equal, rkstr_destructor, rkstr_destructor,
};

/* ---- the type ------------------------------------------------------------ */

rk_obj *hash_new(void)
{
    rk_obj *o = rk_malloc(sizeof *o);
    if (!o)
        return NULL;
    o->type = OBJ_HASH;
    o->encoding = ENC_LISTPACK;
    o->reserved = 0;
    o->lru = 0;
    o->u.ptr = lp_new(0);
    if (!o->u.ptr) {
        rk_free(o);
        return NULL;
    }
    return o;
}

unsigned long hash_length(const rk_obj *o)
{
    assert(o->type == OBJ_HASH);
    if (o->encoding == ENC_LISTPACK)
        return lp_length(o->u.ptr) / 2;
    assert(o->encoding == ENC_HT);
    return (unsigned long)dict_size(o->u.ptr);
}

static rk_slice lp_entry_bytes(unsigned char *p, char buf[24])
{
    uint32_t len;
    const unsigned char *s = lp_get_bytes(p, (unsigned char *)buf, &len);
    return (rk_slice){(const char *)s, len};
}

/* Adds a copied field/value pair to d. 0 / -1 (d unchanged). */
static int ht_add_copy(dict *d, rk_slice field, rk_slice value)
{
    rk_str *f = rkstr_new(field.ptr, field.len);
    rk_str *v = rkstr_new(value.ptr, value.len);
    dict_entry *e = f && v ? dict_add_raw(d, f, NULL) : NULL;
    if (!e) {
        if (f)
            rkstr_free(f);
        if (v)
            rkstr_free(v);
        return -1;
    }
    e->v.val = v;
    return 0;
}

int hash_convert_to_ht(rk_obj *o)
{
    assert(o->type == OBJ_HASH && o->encoding == ENC_LISTPACK);
    dict *d = dict_create(&hash_dict_type);
    if (!d)
        return -1;
    hash_iter it;
    rk_slice f, v;
    hash_iter_init(&it, o);
    while (hash_iter_next(&it, &f, &v)) {
        if (ht_add_copy(d, f, v) < 0) {
            hash_iter_release(&it);
            dict_release(d);
            return -1;
        }
    }
    hash_iter_release(&it);
    lp_free(o->u.ptr);
    o->u.ptr = d;
    o->encoding = ENC_HT;
    return 0;
}

/* The field entry of `field` in a listpack hash, or NULL. */
static unsigned char *lp_find_field(unsigned char *lp, rk_slice field)
{
    unsigned char *first = lp_first(lp);
    if (!first)
        return NULL;
    return lp_find(lp, first, (const unsigned char *)field.ptr, (uint32_t)field.len, 1);
}

/* Drops the last entry in place, without allocating: the listpack layout
 * (listpack.h) is fixed, so this is the rollback that cannot fail. */
static void lp_truncate_last(unsigned char *lp)
{
    unsigned char *last = lp_last(lp);
    assert(last);
    uint32_t total = (uint32_t)(last - lp) + 1;
    last[0] = LP_EOF;
    lp[0] = (unsigned char)(total & 0xff);
    lp[1] = (unsigned char)((total >> 8) & 0xff);
    lp[2] = (unsigned char)((total >> 16) & 0xff);
    lp[3] = (unsigned char)((total >> 24) & 0xff);
    unsigned count = (unsigned)lp[4] | ((unsigned)lp[5] << 8);
    if (count != 65535) {
        count--;
        lp[4] = (unsigned char)(count & 0xff);
        lp[5] = (unsigned char)(count >> 8);
    }
}

/* Appends a pair to a listpack hash: both entries or neither. */
static int lp_append_pair(rk_obj *o, rk_slice field, rk_slice value)
{
    unsigned char *lp = lp_append(o->u.ptr, (const unsigned char *)field.ptr, (uint32_t)field.len);
    if (!lp)
        return -1;
    o->u.ptr = lp;
    unsigned char *with_value = lp_append(lp, (const unsigned char *)value.ptr, (uint32_t)value.len);
    if (with_value) {
        o->u.ptr = with_value;
        return 0;
    }
    unsigned char *last = lp_last(lp);
    unsigned char *rolled_back = lp_delete(lp, last, NULL);
    if (rolled_back)
        o->u.ptr = rolled_back;
    else
        lp_truncate_last(lp);
    return -1;
}

/* Whether setting field=value keeps a listpack hash within the limits. */
static int lp_fits(const rk_obj *o, rk_slice field, rk_slice value, int is_new, const hash_limits *lim)
{
    if ((long long)field.len > lim->max_value || (long long)value.len > lim->max_value)
        return 0;
    if (is_new && (long long)hash_length(o) + 1 > lim->max_entries)
        return 0;
    return lp_bytes(o->u.ptr) + field.len + value.len + 32 <= HASH_LP_SAFETY_SIZE;
}

static int ht_set(dict *d, rk_slice field, rk_slice value)
{
    tmp_str probe;
    if (!tmp_str_make(&probe, field))
        return -1;
    dict_entry *e = dict_find(d, probe.s);
    tmp_str_done(&probe);
    if (!e)
        return ht_add_copy(d, field, value) < 0 ? -1 : 1;
    rk_str *v = rkstr_new(value.ptr, value.len);
    if (!v)
        return -1;
    rkstr_free(e->v.val);
    e->v.val = v;
    return 0;
}

int hash_set(rk_obj *o, rk_slice field, rk_slice value, const hash_limits *lim)
{
    assert(o->type == OBJ_HASH);
    if (field.len > UINT32_MAX || value.len > UINT32_MAX)
        return -1;
    if (o->encoding == ENC_LISTPACK) {
        unsigned char *fp = lp_find_field(o->u.ptr, field);
        if (!lp_fits(o, field, value, fp == NULL, lim)) {
            if (hash_convert_to_ht(o) < 0)
                return -1;
            return ht_set(o->u.ptr, field, value);
        }
        if (!fp)
            return lp_append_pair(o, field, value) < 0 ? -1 : 1;
        unsigned char *vp = lp_next(o->u.ptr, fp);
        assert(vp);
        unsigned char *lp = lp_insert(o->u.ptr, (const unsigned char *)value.ptr, (uint32_t)value.len,
                                      vp, LP_REPLACE, NULL);
        if (!lp)
            return -1;
        o->u.ptr = lp;
        return 0;
    }
    assert(o->encoding == ENC_HT);
    return ht_set(o->u.ptr, field, value);
}

int hash_get(rk_obj *o, rk_slice field, rk_slice *value, char tmp[24])
{
    assert(o->type == OBJ_HASH);
    if (o->encoding == ENC_LISTPACK) {
        unsigned char *fp = lp_find_field(o->u.ptr, field);
        if (!fp)
            return 0;
        unsigned char *vp = lp_next(o->u.ptr, fp);
        assert(vp);
        *value = lp_entry_bytes(vp, tmp);
        return 1;
    }
    assert(o->encoding == ENC_HT);
    tmp_str probe;
    if (!tmp_str_make(&probe, field))
        return -1;
    dict_entry *e = dict_find(o->u.ptr, probe.s);
    tmp_str_done(&probe);
    if (!e)
        return 0;
    *value = rkstr_slice(e->v.val);
    return 1;
}

/* The index of entry p in lp (p must be an entry of lp). */
static long lp_index_of(unsigned char *lp, unsigned char *p)
{
    long index = 0;
    for (unsigned char *q = lp_first(lp); q != p; q = lp_next(lp, q)) {
        assert(q);
        index++;
    }
    return index;
}

int hash_delete(rk_obj *o, rk_slice field)
{
    assert(o->type == OBJ_HASH);
    if (o->encoding == ENC_LISTPACK) {
        unsigned char *lp = o->u.ptr;
        unsigned char *fp = lp_find_field(lp, field);
        if (!fp)
            return 0;
        /* One range delete: the pair goes away whole or not at all. */
        unsigned char *shrunk = lp_delete_range(lp, lp_index_of(lp, fp), 2);
        if (!shrunk)
            return -1;
        o->u.ptr = shrunk;
        return 1;
    }
    assert(o->encoding == ENC_HT);
    tmp_str probe;
    if (!tmp_str_make(&probe, field))
        return -1;
    int deleted = dict_delete(o->u.ptr, probe.s) == 0;
    tmp_str_done(&probe);
    if (deleted)
        dict_try_shrink(o->u.ptr);
    return deleted;
}

void hash_iter_init(hash_iter *it, rk_obj *o)
{
    assert(o->type == OBJ_HASH);
    it->o = o;
    it->next_field = NULL;
    if (o->encoding == ENC_LISTPACK)
        it->next_field = lp_first(o->u.ptr);
    else
        dict_iter_init(&it->di, o->u.ptr, 0);
}

int hash_iter_next(hash_iter *it, rk_slice *field, rk_slice *value)
{
    if (it->o->encoding == ENC_LISTPACK) {
        unsigned char *lp = it->o->u.ptr, *fp = it->next_field;
        if (!fp)
            return 0;
        unsigned char *vp = lp_next(lp, fp);
        assert(vp);
        *field = lp_entry_bytes(fp, it->fbuf);
        *value = lp_entry_bytes(vp, it->vbuf);
        it->next_field = lp_next(lp, vp);
        return 1;
    }
    dict_entry *e = dict_next(&it->di);
    if (!e)
        return 0;
    *field = rkstr_slice(e->key);
    *value = rkstr_slice(e->v.val);
    return 1;
}

void hash_iter_release(hash_iter *it)
{
    if (it->o->encoding == ENC_HT)
        dict_iter_release(&it->di);
}

/* ---- rk_obj_type_ops ----------------------------------------------------- */

static void *hash_dup_ptr(const rk_obj *o)
{
    if (o->encoding == ENC_LISTPACK)
        return lp_dup(o->u.ptr);
    dict *copy = dict_create(&hash_dict_type);
    if (!copy)
        return NULL;
    hash_iter it;
    rk_slice f, v;
    hash_iter_init(&it, (rk_obj *)o);
    while (hash_iter_next(&it, &f, &v)) {
        if (ht_add_copy(copy, f, v) < 0) {
            hash_iter_release(&it);
            dict_release(copy);
            return NULL;
        }
    }
    hash_iter_release(&it);
    return copy;
}

static void hash_free_ptr(rk_obj *o)
{
    if (o->encoding == ENC_LISTPACK)
        lp_free(o->u.ptr);
    else
        dict_release(o->u.ptr);
    o->u.ptr = NULL;
}

static size_t hash_heap_size(const rk_obj *o)
{
    if (o->encoding == ENC_LISTPACK)
        return rk_usable_size(o->u.ptr);
    dict *d = o->u.ptr;
    size_t n = rk_usable_size(d) + dict_buckets(d) * sizeof(dict_entry *);
    dict_iter it;
    dict_iter_init(&it, d, 0);
    for (dict_entry *e; (e = dict_next(&it));)
        n += rk_usable_size(e) + rk_usable_size(e->key) + rk_usable_size(e->v.val);
    dict_iter_release(&it);
    return n;
}

static const rk_obj_type_ops hash_type_ops = {hash_dup_ptr, hash_free_ptr, hash_heap_size};

__attribute__((constructor)) static void hash_register_type(void)
{
    obj_register_type(OBJ_HASH, &hash_type_ops);
}

/* ---- command helpers ----------------------------------------------------- */

static hash_limits limits_of(const rk_ctx *c)
{
    if (!c->shard)
        return (hash_limits){128, 64};
    return (hash_limits){c->shard->cfg.hash_max_listpack_entries, c->shard->cfg.hash_max_listpack_value};
}

/* *out gets the hash at key or NULL. -1 (WRONGTYPE replied) for another type. */
static int lookup_hash(rk_ctx *c, rk_slice key, int flags, rk_obj **out)
{
    rk_obj *o = db_lookup(c->shard, c->db, key, flags);
    if (o && o->type != OBJ_HASH) {
        ctx_wrongtype(c);
        return -1;
    }
    *out = o;
    return 0;
}

/* The hash at key for a write, created empty when missing (*created = 1).
 * NULL when an error was replied. */
static rk_obj *lookup_or_create(rk_ctx *c, rk_slice key, int *created)
{
    rk_obj *o;
    *created = 0;
    if (lookup_hash(c, key, LOOKUP_WRITE, &o) < 0)
        return NULL;
    if (o)
        return o;
    o = hash_new();
    if (!o || db_add(c->shard, c->db, key, o) != 0) {
        obj_free(o);
        ctx_oom(c);
        return NULL;
    }
    *created = 1;
    return o;
}

/* A key created for a write that then failed must not stay empty. */
static void drop_if_empty(rk_ctx *c, rk_slice key, rk_obj *o)
{
    if (hash_length(o) == 0)
        db_delete(c->shard, c->db, key);
}

/* ---- HSET, HMSET, HSETNX ------------------------------------------------- */

static void hset_generic(rk_ctx *c, int reply_added)
{
    if (c->argc % 2 == 1) {
        ctx_wrong_arity(c);
        return;
    }
    int created;
    rk_obj *o = lookup_or_create(c, c->argv[1], &created);
    if (!o)
        return;
    hash_limits lim = limits_of(c);
    long long added = 0, applied = 0;
    int failed = 0;
    for (int j = 2; j < c->argc; j += 2) {
        int r = hash_set(o, c->argv[j], c->argv[j + 1], &lim);
        if (r < 0) {
            failed = 1;
            break;
        }
        added += r;
        applied++;
    }
    if (applied)
        ctx_dirty(c, applied);
    if (failed) {
        drop_if_empty(c, c->argv[1], o);
        ctx_oom(c);
        return;
    }
    if (reply_added)
        reply_int(&c->r, added);
    else
        reply_ok(&c->r);
}

static void cmd_hset(rk_ctx *c)
{
    hset_generic(c, 1);
}

static void cmd_hmset(rk_ctx *c)
{
    hset_generic(c, 0);
}

static void cmd_hsetnx(rk_ctx *c)
{
    rk_obj *o;
    char tmp[24];
    rk_slice old;
    if (lookup_hash(c, c->argv[1], LOOKUP_WRITE, &o) < 0)
        return;
    if (o) {
        int found = hash_get(o, c->argv[2], &old, tmp);
        if (found < 0) {
            ctx_oom(c);
            return;
        }
        if (found) {
            reply_int(&c->r, 0);
            return;
        }
    }
    int created;
    o = lookup_or_create(c, c->argv[1], &created);
    if (!o)
        return;
    hash_limits lim = limits_of(c);
    if (hash_set(o, c->argv[2], c->argv[3], &lim) < 0) {
        drop_if_empty(c, c->argv[1], o);
        ctx_oom(c);
        return;
    }
    ctx_dirty(c, 1);
    reply_int(&c->r, 1);
}

/* ---- reads ----------------------------------------------------------------- */

/* Replies the field's value, a null when absent, or an OOM error. */
static void reply_field(rk_ctx *c, rk_obj *o, rk_slice field)
{
    char tmp[24];
    rk_slice v;
    int found = o ? hash_get(o, field, &v, tmp) : 0;
    if (found < 0)
        ctx_oom(c);
    else if (found)
        reply_bulk(&c->r, v.ptr, v.len);
    else
        reply_null(&c->r);
}

static void cmd_hget(rk_ctx *c)
{
    rk_obj *o;
    if (lookup_hash(c, c->argv[1], LOOKUP_NONE, &o) < 0)
        return;
    reply_field(c, o, c->argv[2]);
}

static void cmd_hmget(rk_ctx *c)
{
    rk_obj *o;
    if (lookup_hash(c, c->argv[1], LOOKUP_NONE, &o) < 0)
        return;
    reply_array(&c->r, c->argc - 2);
    for (int j = 2; j < c->argc; j++)
        reply_field(c, o, c->argv[j]);
}

static void cmd_hlen(rk_ctx *c)
{
    rk_obj *o;
    if (lookup_hash(c, c->argv[1], LOOKUP_NONE, &o) < 0)
        return;
    reply_int(&c->r, o ? (int64_t)hash_length(o) : 0);
}

static void cmd_hexists(rk_ctx *c)
{
    rk_obj *o;
    char tmp[24];
    rk_slice v;
    if (lookup_hash(c, c->argv[1], LOOKUP_NONE, &o) < 0)
        return;
    int found = o ? hash_get(o, c->argv[2], &v, tmp) : 0;
    if (found < 0)
        ctx_oom(c);
    else
        reply_int(&c->r, found);
}

static void cmd_hstrlen(rk_ctx *c)
{
    rk_obj *o;
    char tmp[24];
    rk_slice v;
    if (lookup_hash(c, c->argv[1], LOOKUP_NONE, &o) < 0)
        return;
    int found = o ? hash_get(o, c->argv[2], &v, tmp) : 0;
    if (found < 0)
        ctx_oom(c);
    else
        reply_int(&c->r, found ? (int64_t)v.len : 0);
}

enum { WANT_FIELDS = 1, WANT_VALUES = 2 };

static void getall_generic(rk_ctx *c, int want)
{
    rk_obj *o;
    int as_map = want == (WANT_FIELDS | WANT_VALUES);
    if (lookup_hash(c, c->argv[1], LOOKUP_NONE, &o) < 0)
        return;
    int64_t n = o ? (int64_t)hash_length(o) : 0;
    if (as_map)
        reply_map(&c->r, n);
    else
        reply_array(&c->r, n);
    if (!o)
        return;
    hash_iter it;
    rk_slice f, v;
    hash_iter_init(&it, o);
    while (hash_iter_next(&it, &f, &v)) {
        if (want & WANT_FIELDS)
            reply_bulk(&c->r, f.ptr, f.len);
        if (want & WANT_VALUES)
            reply_bulk(&c->r, v.ptr, v.len);
    }
    hash_iter_release(&it);
}

static void cmd_hgetall(rk_ctx *c)
{
    getall_generic(c, WANT_FIELDS | WANT_VALUES);
}

static void cmd_hkeys(rk_ctx *c)
{
    getall_generic(c, WANT_FIELDS);
}

static void cmd_hvals(rk_ctx *c)
{
    getall_generic(c, WANT_VALUES);
}

/* ---- HDEL ------------------------------------------------------------------ */

static void cmd_hdel(rk_ctx *c)
{
    rk_obj *o;
    if (lookup_hash(c, c->argv[1], LOOKUP_WRITE, &o) < 0)
        return;
    if (!o) {
        reply_int(&c->r, 0);
        return;
    }
    long long deleted = 0;
    int failed = 0;
    for (int j = 2; j < c->argc; j++) {
        int r = hash_delete(o, c->argv[j]);
        if (r < 0) {
            failed = 1;
            break;
        }
        deleted += r;
        if (hash_length(o) == 0)
            break;
    }
    if (deleted) {
        ctx_dirty(c, deleted);
        drop_if_empty(c, c->argv[1], o);
    }
    if (failed)
        ctx_oom(c);
    else
        reply_int(&c->r, deleted);
}

/* ---- HINCRBY, HINCRBYFLOAT --------------------------------------------------- */

/* Stores the new bytes of a counter field, creating the hash when missing.
 * 0 / -1 (error replied). */
static int store_counter(rk_ctx *c, rk_obj *o, rk_slice value)
{
    int created = 0;
    if (!o && !(o = lookup_or_create(c, c->argv[1], &created)))
        return -1;
    hash_limits lim = limits_of(c);
    if (hash_set(o, c->argv[2], value, &lim) < 0) {
        if (created)
            drop_if_empty(c, c->argv[1], o);
        ctx_oom(c);
        return -1;
    }
    ctx_dirty(c, 1);
    return 0;
}

/* *value gets the field's current bytes; *found whether it exists.
 * -1 after an error was replied. */
static int current_value(rk_ctx *c, rk_obj **o, rk_slice *value, int *found, char tmp[24])
{
    if (lookup_hash(c, c->argv[1], LOOKUP_WRITE, o) < 0)
        return -1;
    *found = *o ? hash_get(*o, c->argv[2], value, tmp) : 0;
    if (*found < 0) {
        ctx_oom(c);
        return -1;
    }
    return 0;
}

static void cmd_hincrby(rk_ctx *c)
{
    long long incr, cur = 0;
    if (ctx_arg_ll(c, 3, &incr) < 0)
        return;
    rk_obj *o;
    rk_slice v;
    int found;
    char tmp[24];
    if (current_value(c, &o, &v, &found, tmp) < 0)
        return;
    if (found && !rk_str2ll(v.ptr, v.len, &cur)) {
        ctx_error(c, "ERR hash value is not an integer");
        return;
    }
    if ((incr < 0 && cur < 0 && incr < LLONG_MIN - cur) ||
        (incr > 0 && cur > 0 && incr > LLONG_MAX - cur)) {
        ctx_error(c, "ERR increment or decrement would overflow");
        return;
    }
    long long next = cur + incr;
    char buf[24];
    int len = rk_ll2str(buf, sizeof buf, next);
    if (store_counter(c, o, (rk_slice){buf, (size_t)len}) < 0)
        return;
    reply_int(&c->r, next);
}

static void cmd_hincrbyfloat(rk_ctx *c)
{
    long double incr, cur = 0;
    if (ctx_arg_ld(c, 3, &incr) < 0)
        return;
    if (isnan(incr) || isinf(incr)) {
        ctx_error(c, "ERR value is NaN or Infinity");
        return;
    }
    rk_obj *o;
    rk_slice v;
    int found;
    char tmp[24];
    if (current_value(c, &o, &v, &found, tmp) < 0)
        return;
    if (found && !rk_str2ld(v.ptr, v.len, &cur)) {
        ctx_error(c, "ERR hash value is not a float");
        return;
    }
    long double next = cur + incr;
    if (isnan(next) || isinf(next)) {
        ctx_error(c, "ERR increment would produce NaN or Infinity");
        return;
    }
    static __thread char buf[HASH_LD_CHARS + 64];
    int len = rk_fmt_long_double(buf, sizeof buf, next);
    if (len == 0) {
        ctx_error(c, "ERR increment would produce NaN or Infinity");
        return;
    }
    if (store_counter(c, o, (rk_slice){buf, (size_t)len}) < 0)
        return;
    /* Journaled as HSET with the result, as Redis: replay must not re-round. */
    rk_slice argv[4] = {RK_SLICE("HSET"), c->argv[1], c->argv[2], {buf, (size_t)len}};
    ctx_propagate(c, 4, argv);
    reply_bulk(&c->r, buf, (size_t)len);
}

/* ---- HRANDFIELD ------------------------------------------------------------- */

static __thread uint64_t rand_state;

/* splitmix64; seeded once per thread. Not for anything secret. */
static uint64_t rand_next(void)
{
    if (rand_state == 0) {
        uint64_t seed = 0;
        if (getrandom(&seed, sizeof seed, GRND_NONBLOCK) != (ssize_t)sizeof seed || seed == 0) {
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            seed = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec ^ (uint64_t)(uintptr_t)&rand_state;
        }
        rand_state = seed | 1;
    }
    uint64_t z = (rand_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t rand_below(uint64_t n)
{
    assert(n > 0);
    return rand_next() % n;
}

/* A pair handle: a listpack field entry or a dict_entry, by encoding. */
static int reply_pair(rk_ctx *c, rk_obj *o, void *ref, int withvalues)
{
    rk_slice f, v;
    char fbuf[24], vbuf[24];
    if (o->encoding == ENC_LISTPACK) {
        unsigned char *fp = ref;
        f = lp_entry_bytes(fp, fbuf);
        if (withvalues)
            v = lp_entry_bytes(lp_next(o->u.ptr, fp), vbuf);
    } else {
        dict_entry *e = ref;
        f = rkstr_slice(e->key);
        v = rkstr_slice(e->v.val);
    }
    if (withvalues && c->resp > 2 && reply_array(&c->r, 2) < 0)
        return -1;
    if (reply_bulk(&c->r, f.ptr, f.len) < 0)
        return -1;
    if (withvalues && reply_bulk(&c->r, v.ptr, v.len) < 0)
        return -1;
    return 0;
}

/* Every pair handle of o, in order; NULL on OOM. */
static void **pair_refs(rk_obj *o, unsigned long n)
{
    void **refs = rk_malloc((n ? n : 1) * sizeof *refs);
    if (!refs)
        return NULL;
    unsigned long i = 0;
    if (o->encoding == ENC_LISTPACK) {
        unsigned char *lp = o->u.ptr;
        for (unsigned char *fp = lp_first(lp); fp; fp = lp_next(lp, lp_next(lp, fp)))
            refs[i++] = fp;
    } else {
        dict_iter it;
        dict_iter_init(&it, o->u.ptr, 0);
        for (dict_entry *e; (e = dict_next(&it));)
            refs[i++] = e;
        dict_iter_release(&it);
    }
    assert(i == n);
    return refs;
}

/* A random pair, repeats allowed; refs (listpack only) from pair_refs. */
static void *random_pair(rk_obj *o, void **refs, unsigned long n)
{
    if (o->encoding == ENC_LISTPACK)
        return refs[rand_below(n)];
    return dict_random(o->u.ptr);
}

/* Negative count (or 1): count picks with repeats, in random order. */
static void hrandfield_with_repeats(rk_ctx *c, rk_obj *o, unsigned long long count, int withvalues)
{
    unsigned long n = hash_length(o);
    void **refs = NULL;
    if (o->encoding == ENC_LISTPACK && !(refs = pair_refs(o, n))) {
        ctx_oom(c);
        return;
    }
    reply_array(&c->r, (int64_t)(withvalues && c->resp == 2 ? count * 2 : count));
    while (count--)
        if (reply_pair(c, o, random_pair(o, refs, n), withvalues) < 0)
            break; /* out of memory for the reply: nothing sane is left to send */
    rk_free(refs);
}

static uint64_t ptr_hash(const void *key)
{
    return dict_gen_hash(&key, sizeof key);
}

static const dict_type ptr_set_type = {ptr_hash, NULL, NULL, NULL};

/* count distinct random pairs of a big hashtable (count * 3 <= size):
 * sampling with a seen-set needs memory for count pairs only. */
static void hrandfield_sample_ht(rk_ctx *c, rk_obj *o, unsigned long count, int withvalues)
{
    dict *seen = dict_create(&ptr_set_type);
    if (!seen) {
        ctx_oom(c);
        return;
    }
    while (dict_size(seen) < count) {
        dict_entry *existing = NULL;
        dict_entry *pick = dict_random(o->u.ptr);
        if (!dict_add_raw(seen, pick, &existing) && !existing) {
            dict_release(seen);
            ctx_oom(c);
            return;
        }
    }
    reply_array(&c->r, (int64_t)(withvalues && c->resp == 2 ? count * 2 : count));
    dict_iter it;
    dict_iter_init(&it, seen, 0);
    for (dict_entry *e; (e = dict_next(&it));)
        if (reply_pair(c, o, e->key, withvalues) < 0)
            break;
    dict_iter_release(&it);
    dict_release(seen);
}

/* count distinct pairs (count < size): a partial Fisher-Yates shuffle. */
static void hrandfield_shuffle(rk_ctx *c, rk_obj *o, unsigned long count, int withvalues)
{
    unsigned long n = hash_length(o);
    void **refs = pair_refs(o, n);
    if (!refs) {
        ctx_oom(c);
        return;
    }
    reply_array(&c->r, (int64_t)(withvalues && c->resp == 2 ? count * 2 : count));
    for (unsigned long i = 0; i < count; i++) {
        unsigned long j = i + (unsigned long)rand_below(n - i);
        void *t = refs[i];
        refs[i] = refs[j];
        refs[j] = t;
        if (reply_pair(c, o, refs[i], withvalues) < 0)
            break;
    }
    rk_free(refs);
}

static void hrandfield_count(rk_ctx *c, long long l, int withvalues)
{
    rk_obj *o;
    if (lookup_hash(c, c->argv[1], LOOKUP_NONE, &o) < 0)
        return;
    if (!o) {
        reply_array(&c->r, 0);
        return;
    }
    unsigned long long count = l >= 0 ? (unsigned long long)l : (unsigned long long)-l;
    unsigned long size = hash_length(o);
    if (count == 0) {
        reply_array(&c->r, 0);
        return;
    }
    if (l < 0 || count == 1) {
        hrandfield_with_repeats(c, o, count, withvalues);
        return;
    }
    if (count >= size) {
        /* The whole hash, as HGETALL but flat or in pairs. */
        reply_array(&c->r, (int64_t)(withvalues && c->resp == 2 ? size * 2 : size));
        hash_iter it;
        rk_slice f, v;
        hash_iter_init(&it, o);
        while (hash_iter_next(&it, &f, &v)) {
            if (withvalues && c->resp > 2)
                reply_array(&c->r, 2);
            reply_bulk(&c->r, f.ptr, f.len);
            if (withvalues)
                reply_bulk(&c->r, v.ptr, v.len);
        }
        hash_iter_release(&it);
        return;
    }
    if (o->encoding == ENC_HT && count * 3 <= size)
        hrandfield_sample_ht(c, o, (unsigned long)count, withvalues);
    else
        hrandfield_shuffle(c, o, (unsigned long)count, withvalues);
}

static void cmd_hrandfield(rk_ctx *c)
{
    if (c->argc >= 3) {
        long long l;
        int withvalues = 0;
        if (ctx_arg_ll(c, 2, &l) < 0)
            return;
        if (l < -LLONG_MAX) {
            ctx_error(c, "ERR value is out of range, value must between -9223372036854775807 and "
                         "9223372036854775807");
            return;
        }
        if (c->argc > 4 || (c->argc == 4 && !ctx_arg_is(c, 3, "withvalues"))) {
            ctx_syntax_error(c);
            return;
        }
        if (c->argc == 4) {
            withvalues = 1;
            /* The flat RESP2 reply holds 2 * count elements. */
            if (l < -LLONG_MAX / 2 || l > LLONG_MAX / 2) {
                ctx_error(c, "ERR value is out of range");
                return;
            }
        }
        hrandfield_count(c, l, withvalues);
        return;
    }
    rk_obj *o;
    if (lookup_hash(c, c->argv[1], LOOKUP_NONE, &o) < 0)
        return;
    if (!o) {
        reply_null(&c->r);
        return;
    }
    unsigned long n = hash_length(o);
    void **refs = NULL;
    if (o->encoding == ENC_LISTPACK && !(refs = pair_refs(o, n))) {
        ctx_oom(c);
        return;
    }
    reply_pair(c, o, random_pair(o, refs, n), 0);
    rk_free(refs);
}

/* ---- HSCAN -------------------------------------------------------------------- */


typedef struct hscan_opts {
    long long count;
    rk_slice pattern;
    int use_pattern;
} hscan_opts;

/* Parses HSCAN's options from argv[3]. -1 after replying the error. */
static int hscan_parse(rk_ctx *c, hscan_opts *opt)
{
    opt->count = 10;
    opt->use_pattern = 0;
    for (int i = 3; i < c->argc; i += 2) {
        if (i + 1 >= c->argc) {
            ctx_syntax_error(c);
            return -1;
        }
        if (ctx_arg_is(c, i, "count")) {
            if (ctx_arg_ll(c, i + 1, &opt->count) < 0)
                return -1;
            if (opt->count < 1) {
                ctx_syntax_error(c);
                return -1;
            }
        } else if (ctx_arg_is(c, i, "match")) {
            opt->pattern = c->argv[i + 1];
            opt->use_pattern = !(opt->pattern.len == 1 && opt->pattern.ptr[0] == '*');
        } else {
            ctx_syntax_error(c);
            return -1;
        }
    }
    return 0;
}

typedef struct hscan_batch {
    dict_entry **items;
    size_t n, cap;
    int failed;
} hscan_batch;

static void hscan_collect(void *ud, dict_entry *e)
{
    hscan_batch *b = ud;
    if (b->failed)
        return;
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 16;
        dict_entry **grown = rk_realloc(b->items, cap * sizeof *grown);
        if (!grown) {
            b->failed = 1;
            return;
        }
        b->items = grown;
        b->cap = cap;
    }
    b->items[b->n++] = e;
}

static int field_matches(const hscan_opts *opt, rk_slice field)
{
    return !opt->use_pattern ||
           glob_match(opt->pattern.ptr, opt->pattern.len, field.ptr, field.len, 0);
}

static void reply_cursor(rk_ctx *c, uint64_t cursor)
{
    char buf[24];
    int len = snprintf(buf, sizeof buf, "%llu", (unsigned long long)cursor);
    reply_array(&c->r, 2);
    reply_bulk(&c->r, buf, (size_t)len);
}

/* A listpack hash is answered whole, cursor 0, as Redis does. */
static void hscan_listpack(rk_ctx *c, rk_obj *o, const hscan_opts *opt)
{
    int64_t handle;
    int64_t n = 0;
    hash_iter it;
    rk_slice f, v;
    reply_cursor(c, 0);
    handle = reply_deferred(&c->r);
    if (handle < 0) {
        ctx_oom(c);
        return;
    }
    hash_iter_init(&it, o);
    while (hash_iter_next(&it, &f, &v)) {
        if (!field_matches(opt, f))
            continue;
        reply_bulk(&c->r, f.ptr, f.len);
        reply_bulk(&c->r, v.ptr, v.len);
        n += 2;
    }
    hash_iter_release(&it);
    reply_set_deferred_array(&c->r, handle, n);
}

static void hscan_table(rk_ctx *c, rk_obj *o, uint64_t cursor, const hscan_opts *opt)
{
    hscan_batch b = {0};
    long long max_steps = opt->count > LLONG_MAX / 10 ? LLONG_MAX : opt->count * 10;
    /* As Redis: empty buckets are bounded by 10 x COUNT, and fields and
     * values both count against COUNT. */
    do {
        cursor = dict_scan(o->u.ptr, cursor, hscan_collect, &b);
    } while (cursor && max_steps-- > 0 && (long long)(b.n * 2) < opt->count && !b.failed);
    if (b.failed) {
        rk_free(b.items);
        ctx_oom(c);
        return;
    }
    size_t kept = 0;
    for (size_t i = 0; i < b.n; i++)
        if (field_matches(opt, rkstr_slice(b.items[i]->key)))
            b.items[kept++] = b.items[i];
    reply_cursor(c, cursor);
    reply_array(&c->r, (int64_t)kept * 2);
    for (size_t i = 0; i < kept; i++) {
        const rk_str *f = b.items[i]->key, *v = b.items[i]->v.val;
        reply_bulk(&c->r, f->data, f->len);
        reply_bulk(&c->r, v->data, v->len);
    }
    rk_free(b.items);
}

static void cmd_hscan(rk_ctx *c)
{
    uint64_t cursor;
    if (!rk_parse_scan_cursor(c->argv[2], &cursor)) {
        ctx_error(c, "ERR invalid cursor");
        return;
    }
    rk_obj *o;
    if (lookup_hash(c, c->argv[1], LOOKUP_NONE, &o) < 0)
        return;
    if (!o) {
        reply_cursor(c, 0);
        reply_array(&c->r, 0);
        return;
    }
    hscan_opts opt;
    if (hscan_parse(c, &opt) < 0)
        return;
    if (o->encoding == ENC_LISTPACK)
        hscan_listpack(c, o, &opt);
    else
        hscan_table(c, o, cursor, &opt);
}

/* ---- command table -------------------------------------------------------------- */

#define HASH_KEYSPEC(flags) {{flags, 1, NULL, 0, 0, 0, 1, 0, 0, 0, 0}}

#define HASH_CMD(nm, ar, fl, acl, fn, spec, summ, since_v, cplx, tip)                        \
    {                                                                                         \
        .name = nm, .arity = ar, .flags = fl, .acl_categories = acl, .exec = EXEC_KEYS,     \
        .merge = MERGE_NONE, .proc = fn, .first_key = 1, .last_key = 1, .key_step = 1,        \
        .keyspecs = HASH_KEYSPEC(spec), .n_keyspecs = 1, .summary = summ, .since = since_v,   \
        .group = "hash", .complexity = cplx, .tips = tip,                                    \
    }

const rk_command rk_hash_commands[] = {
    HASH_CMD("hset", -4, CMD_WRITE | CMD_DENYOOM | CMD_FAST, "@write @hash @fast", cmd_hset,
             "RW UPDATE", "Set the string value of a hash field", "2.0.0",
             "O(1) for each field/value pair added, so O(N) to add N field/value pairs when the "
             "command is called with multiple field/value pairs.", NULL),
    HASH_CMD("hsetnx", 4, CMD_WRITE | CMD_DENYOOM | CMD_FAST, "@write @hash @fast", cmd_hsetnx,
             "RW INSERT", "Set the value of a hash field, only if the field does not exist", "2.0.0",
             "O(1)", NULL),
    HASH_CMD("hget", 3, CMD_READONLY | CMD_FAST, "@read @hash @fast", cmd_hget, "RO ACCESS",
             "Get the value of a hash field", "2.0.0", "O(1)", NULL),
    HASH_CMD("hmget", -3, CMD_READONLY | CMD_FAST, "@read @hash @fast", cmd_hmget, "RO ACCESS",
             "Get the values of all the given hash fields", "2.0.0",
             "O(N) where N is the number of fields being requested.", NULL),
    HASH_CMD("hmset", -4, CMD_WRITE | CMD_DENYOOM | CMD_FAST, "@write @hash @fast", cmd_hmset,
             "RW UPDATE", "Set multiple hash fields to multiple values", "2.0.0",
             "O(N) where N is the number of fields being set.", NULL),
    HASH_CMD("hdel", -3, CMD_WRITE | CMD_FAST, "@write @hash @fast", cmd_hdel, "RW DELETE",
             "Delete one or more hash fields", "2.0.0",
             "O(N) where N is the number of fields to be removed.", NULL),
    HASH_CMD("hlen", 2, CMD_READONLY | CMD_FAST, "@read @hash @fast", cmd_hlen, "RO",
             "Get the number of fields in a hash", "2.0.0", "O(1)", NULL),
    HASH_CMD("hexists", 3, CMD_READONLY | CMD_FAST, "@read @hash @fast", cmd_hexists, "RO",
             "Determine if a hash field exists", "2.0.0", "O(1)", NULL),
    HASH_CMD("hgetall", 2, CMD_READONLY, "@read @hash @slow", cmd_hgetall, "RO ACCESS",
             "Get all the fields and values in a hash", "2.0.0",
             "O(N) where N is the size of the hash.", "nondeterministic_output_order"),
    HASH_CMD("hkeys", 2, CMD_READONLY, "@read @hash @slow", cmd_hkeys, "RO ACCESS",
             "Get all the fields in a hash", "2.0.0", "O(N) where N is the size of the hash.",
             "nondeterministic_output_order"),
    HASH_CMD("hvals", 2, CMD_READONLY, "@read @hash @slow", cmd_hvals, "RO ACCESS",
             "Get all the values in a hash", "2.0.0", "O(N) where N is the size of the hash.",
             "nondeterministic_output_order"),
    HASH_CMD("hincrby", 4, CMD_WRITE | CMD_DENYOOM | CMD_FAST, "@write @hash @fast", cmd_hincrby,
             "RW ACCESS UPDATE", "Increment the integer value of a hash field by the given number",
             "2.0.0", "O(1)", NULL),
    HASH_CMD("hincrbyfloat", 4, CMD_WRITE | CMD_DENYOOM | CMD_FAST, "@write @hash @fast",
             cmd_hincrbyfloat, "RW ACCESS UPDATE",
             "Increment the float value of a hash field by the given amount", "2.6.0", "O(1)", NULL),
    HASH_CMD("hstrlen", 3, CMD_READONLY | CMD_FAST, "@read @hash @fast", cmd_hstrlen, "RO",
             "Get the length of the value of a hash field", "3.2.0", "O(1)", NULL),
    HASH_CMD("hrandfield", -2, CMD_READONLY, "@read @hash @slow", cmd_hrandfield, "RO ACCESS",
             "Get one or multiple random fields from a hash", "6.2.0",
             "O(N) where N is the number of fields returned", "nondeterministic_output"),
    HASH_CMD("hscan", -3, CMD_READONLY, "@read @hash @slow", cmd_hscan, "RO ACCESS",
             "Incrementally iterate hash fields and associated values", "2.8.0",
             "O(1) for every call. O(N) for a complete iteration, including enough command calls "
             "for the cursor to return back to 0. N is the number of elements inside the "
             "collection..", "nondeterministic_output"),
    {0},
};
