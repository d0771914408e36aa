/* t_set.c: the set type (its two encodings, its rk_obj_type_ops) and the set
 * commands SADD ... SSCAN, exported as rk_set_commands[].
 *
 * Threads: every proc runs on the shard that owns all of its keys (or on the
 * scratch db of the generic multi-key executor), so it reads and writes the
 * keyspace without locks. The type ops are registered by a constructor,
 * before any shard thread runs; the table is read-only after start-up.
 *
 * Encodings (o->type == OBJ_SET, never empty while in a keyspace):
 *   ENC_INTSET  u.ptr is a CRoaring bitmap. Every member is a canonical
 *               decimal integer in [0, 2^32-1] and the set has at most
 *               set-max-intset-entries members.
 *   ENC_HT      u.ptr is a dict whose keys are the members (rk_str*, no values).
 * A set moves from INTSET to HT (never back) when a member outside the bitmap's
 * range is added or the size passes set-max-intset-entries, as Redis's
 * intset -> hashtable conversion. Deviation from Redis: a Redis intset holds
 * any int64, so {-1} or {2^40} report "intset" there and "hashtable" here.
 * Redis 7.0 has no listpack for sets (small non-integer sets are
 * "hashtable"), so set-max-listpack-* are accepted but unused, as in 7.0.
 *
 * Invariants: replies and errors match Redis 7.0.15; every keyspace change
 * goes through db.h and is counted with ctx_dirty; an emptied set's key is
 * deleted; on allocation failure a set is left unchanged (except that a
 * grown bitmap may stay a bitmap when its conversion to HT fails).
 * Caveat: CRoaring 0.2.66 allocates with malloc and does not report
 * allocation failures from roaring_bitmap_add; those abort the process. */
#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <roaring/roaring.h>

#include "core/alloc.h"
#include "core/command.h"
#include "core/t_set.h"
#include "core/config.h"
#include "core/db.h"
#include "core/dict.h"
#include "core/object.h"
#include "core/shard.h"

#define DEFAULT_MAX_INTSET_ENTRIES 512
/* Members up to this length are probed without allocating. */
#define PROBE_MAX 256

/* ---- members ------------------------------------------------------------ */

/* One member as seen by set operations: its bytes, and, when it comes from
 * a hashtable set, the stored string (probes then need no copy). */
typedef struct set_elem {
    rk_slice bytes;
    const rk_str *str; /* stored string, or NULL */
    int is_u32;        /* bytes is a canonical integer in [0, 2^32-1] */
    uint32_t u32;
    char digits[12];   /* the bytes of a bitmap member */
} set_elem;

static int slice_to_u32(rk_slice s, uint32_t *out)
{
    long long v;
    if (s.len > 10 || !rk_str2ll(s.ptr, s.len, &v) || v < 0 || v > (long long)UINT32_MAX)
        return 0;
    *out = (uint32_t)v;
    return 1;
}

static void elem_from_slice(set_elem *e, rk_slice s)
{
    e->bytes = s;
    e->str = NULL;
    e->is_u32 = slice_to_u32(s, &e->u32);
}

static void elem_from_str(set_elem *e, const rk_str *s)
{
    elem_from_slice(e, rkstr_slice(s));
    e->str = s;
}

static void elem_from_u32(set_elem *e, uint32_t v)
{
    int n = rk_ll2str(e->digits, sizeof e->digits, v);
    e->bytes = (rk_slice){e->digits, (size_t)n};
    e->str = NULL;
    e->is_u32 = 1;
    e->u32 = v;
}

/* ---- the hashtable encoding ------------------------------------------- */

static const dict_type member_dict_type = {
    .hash = rkstr_hash,
    .key_equal = rkstr_equal,
    .key_free = rkstr_destructor,
    .val_free = NULL,
};

static _Thread_local uint64_t probe_words[(sizeof(rk_str) + PROBE_MAX + 1 + 7) / 8];

/* An rk_str to look e up with: the stored one, a thread-local copy for short
 * members, a heap copy for long ones (NULL on allocation failure). */
static const rk_str *probe_make(const set_elem *e)
{
    if (e->str)
        return e->str;
    if (e->bytes.len <= PROBE_MAX) {
        rk_str *t = (rk_str *)probe_words;
        t->len = t->cap = (uint32_t)e->bytes.len;
        memcpy(t->data, e->bytes.ptr, e->bytes.len);
        t->data[e->bytes.len] = '\0';
        return t;
    }
    return rkstr_new(e->bytes.ptr, e->bytes.len);
}

static void probe_done(const set_elem *e, const rk_str *t)
{
    if (t && t != e->str && t != (const rk_str *)probe_words)
        rkstr_free((rk_str *)t);
}

/* ---- set objects -------------------------------------------------------- */

static roaring_bitmap_t *bitmap_of(const rk_obj *o)
{
    assert(o->type == OBJ_SET && o->encoding == ENC_INTSET);
    return o->u.ptr;
}

static dict *dict_of(const rk_obj *o)
{
    assert(o->type == OBJ_SET && o->encoding == ENC_HT);
    return o->u.ptr;
}

static rk_obj *set_wrap(int encoding, void *ptr)
{
    rk_obj *o = rk_malloc(sizeof *o);
    if (!o)
        return NULL;
    o->type = OBJ_SET;
    o->encoding = (uint8_t)encoding;
    o->reserved = 0;
    o->lru = 0;
    o->u.ptr = ptr;
    return o;
}

static rk_obj *set_new_intset(void)
{
    roaring_bitmap_t *bm = roaring_bitmap_create();
    if (!bm)
        return NULL;
    rk_obj *o = set_wrap(ENC_INTSET, bm);
    if (!o)
        roaring_bitmap_free(bm);
    return o;
}

static rk_obj *set_new_ht(void)
{
    dict *d = dict_create(&member_dict_type);
    if (!d)
        return NULL;
    rk_obj *o = set_wrap(ENC_HT, d);
    if (!o)
        dict_release(d);
    return o;
}

/* An empty set in the encoding Redis's setTypeCreate picks for its first member. */
static rk_obj *set_new_for(const set_elem *first)
{
    return first->is_u32 ? set_new_intset() : set_new_ht();
}

static uint64_t set_size(const rk_obj *o)
{
    if (o->encoding == ENC_INTSET)
        return roaring_bitmap_get_cardinality(bitmap_of(o));
    return dict_size(dict_of(o));
}

/* Adds a copy of s to d. 1 added, 0 present, -1 allocation failure. */
static int ht_add(dict *d, rk_slice s)
{
    rk_str *k = rkstr_new(s.ptr, s.len);
    if (!k)
        return -1;
    dict_entry *existing = NULL;
    if (dict_add_raw(d, k, &existing))
        return 1;
    rkstr_free(k);
    return existing ? 0 : -1;
}

/* Turns a bitmap set into a hashtable set. 0, or -1 with o unchanged. */
static int set_convert_to_ht(rk_obj *o)
{
    roaring_bitmap_t *bm = bitmap_of(o);
    dict *d = dict_create(&member_dict_type);
    if (!d)
        return -1;
    roaring_uint32_iterator_t it;
    roaring_init_iterator(bm, &it);
    for (; it.has_value; roaring_advance_uint32_iterator(&it)) {
        set_elem e;
        elem_from_u32(&e, it.current_value);
        if (ht_add(d, e.bytes) != 1) {
            dict_release(d);
            return -1;
        }
    }
    roaring_bitmap_free(bm);
    o->u.ptr = d;
    o->encoding = ENC_HT;
    return 0;
}

static int set_contains(const rk_obj *o, const set_elem *e)
{
    if (o->encoding == ENC_INTSET)
        return e->is_u32 && roaring_bitmap_contains(bitmap_of(o), e->u32);
    const rk_str *probe = probe_make(e);
    /* A long member that cannot even be copied is treated as absent. */
    int found = probe && dict_find(dict_of(o), probe) != NULL;
    probe_done(e, probe);
    return found;
}

/* Adds e, converting the encoding as Redis does. 1 added, 0 already a
 * member, -1 allocation failure (o unchanged). */
static int set_add(rk_obj *o, const set_elem *e, long long max_intset)
{
    if (o->encoding == ENC_INTSET) {
        if (e->is_u32) {
            roaring_bitmap_t *bm = bitmap_of(o);
            if (!roaring_bitmap_add_checked(bm, e->u32))
                return 0;
            /* Past the limit Redis converts; if that fails the set is still
             * correct, only larger than its encoding's limit. */
            if (roaring_bitmap_get_cardinality(bm) > (uint64_t)(max_intset < 0 ? 0 : max_intset))
                (void)set_convert_to_ht(o);
            return 1;
        }
        if (set_convert_to_ht(o) < 0)
            return -1;
    }
    if (e->str || e->bytes.len <= PROBE_MAX) {
        /* Probe first so an existing member costs no allocation. */
        const rk_str *probe = probe_make(e);
        int found = dict_find(dict_of(o), probe) != NULL;
        probe_done(e, probe);
        if (found)
            return 0;
    }
    return ht_add(dict_of(o), e->bytes);
}

/* 1 removed, 0 not a member. */
static int set_remove(rk_obj *o, const set_elem *e)
{
    if (o->encoding == ENC_INTSET)
        return e->is_u32 && roaring_bitmap_remove_checked(bitmap_of(o), e->u32);
    const rk_str *probe = probe_make(e);
    int removed = probe && dict_delete(dict_of(o), probe) == 0;
    probe_done(e, probe);
    if (removed)
        dict_try_shrink(dict_of(o));
    return removed;
}

/* Iteration in encoding order (ascending for bitmaps, as Redis's intset).
 * The set must not change while an iterator is open. */
typedef struct set_iter {
    const rk_obj *o;
    roaring_uint32_iterator_t bits;
    dict_iter entries;
} set_iter;

static void set_iter_init(set_iter *it, const rk_obj *o)
{
    it->o = o;
    if (o->encoding == ENC_INTSET)
        roaring_init_iterator(bitmap_of(o), &it->bits);
    else
        dict_iter_init(&it->entries, dict_of(o), 0);
}

/* 1 with *e filled, 0 at the end. */
static int set_iter_next(set_iter *it, set_elem *e)
{
    if (it->o->encoding == ENC_INTSET) {
        if (!it->bits.has_value)
            return 0;
        elem_from_u32(e, it->bits.current_value);
        roaring_advance_uint32_iterator(&it->bits);
        return 1;
    }
    dict_entry *de = dict_next(&it->entries);
    if (!de)
        return 0;
    elem_from_str(e, de->key);
    return 1;
}

static void set_iter_release(set_iter *it)
{
    if (it->o->encoding == ENC_HT)
        dict_iter_release(&it->entries);
}

static _Thread_local uint64_t random_state;

/* splitmix64: only uniformity matters here, not unpredictability. */
static uint64_t next_random(void)
{
    if (random_state == 0)
        random_state = (uint64_t)rk_ustime() ^ (uint64_t)(uintptr_t)&random_state;
    uint64_t z = (random_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* A random member of a non-empty set. */
static void set_random(const rk_obj *o, set_elem *e)
{
    if (o->encoding == ENC_INTSET) {
        roaring_bitmap_t *bm = bitmap_of(o);
        uint64_t card = roaring_bitmap_get_cardinality(bm);
        assert(card > 0);
        uint32_t v = 0;
        bool ok = roaring_bitmap_select(bm, (uint32_t)(next_random() % card), &v);
        assert(ok);
        (void)ok;
        elem_from_u32(e, v);
        return;
    }
    dict_entry *de = dict_random(dict_of(o));
    assert(de);
    elem_from_str(e, de->key);
}

/* ---- type ops ----------------------------------------------------------- */

static void *set_dup_ptr(const rk_obj *o)
{
    if (o->encoding == ENC_INTSET)
        return roaring_bitmap_copy(bitmap_of(o));
    dict *src = dict_of(o);
    dict *d = dict_create(&member_dict_type);
    if (!d)
        return NULL;
    dict_iter it;
    dict_iter_init(&it, src, 0);
    for (dict_entry *de; (de = dict_next(&it));) {
        if (ht_add(d, rkstr_slice(de->key)) != 1) {
            dict_iter_release(&it);
            dict_release(d);
            return NULL;
        }
    }
    dict_iter_release(&it);
    return d;
}

static void set_free_ptr(rk_obj *o)
{
    if (o->encoding == ENC_INTSET)
        roaring_bitmap_free(bitmap_of(o));
    else
        dict_release(dict_of(o));
    o->u.ptr = NULL;
}

/* Estimated from a sample of members, as Redis's MEMORY USAGE samples. */
static size_t set_heap_size(const rk_obj *o)
{
    if (o->encoding == ENC_INTSET)
        return roaring_bitmap_size_in_bytes(bitmap_of(o));
    dict *d = dict_of(o);
    size_t n = sizeof(*d) + dict_buckets(d) * sizeof(dict_entry *);
    uint64_t size = dict_size(d), sampled = 0;
    size_t sampled_bytes = 0;
    dict_iter it;
    dict_iter_init(&it, d, 0);
    for (dict_entry *de; sampled < 16 && (de = dict_next(&it)); sampled++)
        sampled_bytes += rk_usable_size(de->key) + sizeof(dict_entry);
    dict_iter_release(&it);
    if (sampled)
        n += (size_t)((double)sampled_bytes / (double)sampled * (double)size);
    return n;
}

static const rk_obj_type_ops set_type_ops = {
    .dup_ptr = set_dup_ptr,
    .free_ptr = set_free_ptr,
    .heap_size = set_heap_size,
};

__attribute__((constructor)) static void set_register_type(void)
{
    obj_register_type(OBJ_SET, &set_type_ops);
}

/* ---- command helpers ---------------------------------------------------- */

static long long max_intset(const rk_ctx *c)
{
    return c->shard ? c->shard->cfg.set_max_intset_entries : DEFAULT_MAX_INTSET_ENTRIES;
}

/* Looks key up; *out gets the set or NULL. Replies WRONGTYPE and returns -1
 * when the key holds another type. */
static int lookup_set(rk_ctx *c, rk_slice key, int flags, rk_obj **out)
{
    rk_obj *o = db_lookup(c->shard, c->db, key, flags);
    if (o && o->type != OBJ_SET) {
        ctx_wrongtype(c);
        return -1;
    }
    *out = o;
    return 0;
}

static int reply_elem(rk_ctx *c, const set_elem *e)
{
    return reply_bulk(&c->r, e->bytes.ptr, e->bytes.len);
}

/* Replies every member of o (NULL: none) as a RESP3 set / RESP2 array. */
static void reply_members(rk_ctx *c, const rk_obj *o)
{
    if (!o) {
        reply_set(&c->r, 0);
        return;
    }
    reply_set(&c->r, (int64_t)set_size(o));
    set_iter it;
    set_iter_init(&it, o);
    set_elem e;
    while (set_iter_next(&it, &e))
        if (reply_elem(c, &e) < 0)
            break;
    set_iter_release(&it);
}

/* Deletes key when its set became empty. */
static void delete_if_empty(rk_ctx *c, rk_slice key, const rk_obj *o)
{
    if (set_size(o) == 0)
        db_delete(c->shard, c->db, key);
}

/* ---- SADD SREM SCARD SISMEMBER SMISMEMBER SMEMBERS --------------------- */

static void cmd_sadd(rk_ctx *c)
{
    rk_slice key = c->argv[1];
    rk_obj *set;
    if (lookup_set(c, key, LOOKUP_WRITE, &set) < 0)
        return;
    int created = 0;
    if (!set) {
        set_elem first;
        elem_from_slice(&first, c->argv[2]);
        set = set_new_for(&first);
        if (!set) {
            ctx_oom(c);
            return;
        }
        created = 1;
    }
    long long added = 0;
    for (int j = 2; j < c->argc; j++) {
        set_elem e;
        elem_from_slice(&e, c->argv[j]);
        int rc = set_add(set, &e, max_intset(c));
        if (rc < 0) {
            if (created) {
                obj_free(set);
                added = 0;
            }
            ctx_dirty(c, added);
            ctx_oom(c);
            return;
        }
        added += rc;
    }
    if (created && db_add(c->shard, c->db, key, set) < 0) {
        obj_free(set);
        ctx_oom(c);
        return;
    }
    ctx_dirty(c, added);
    reply_int(&c->r, added);
}

static void cmd_srem(rk_ctx *c)
{
    rk_slice key = c->argv[1];
    rk_obj *set;
    if (lookup_set(c, key, LOOKUP_WRITE, &set) < 0)
        return;
    long long removed = 0;
    if (set) {
        for (int j = 2; j < c->argc && set_size(set) > 0; j++) {
            set_elem e;
            elem_from_slice(&e, c->argv[j]);
            removed += set_remove(set, &e);
        }
        delete_if_empty(c, key, set);
    }
    ctx_dirty(c, removed);
    reply_int(&c->r, removed);
}

static void cmd_scard(rk_ctx *c)
{
    rk_obj *set;
    if (lookup_set(c, c->argv[1], LOOKUP_NONE, &set) < 0)
        return;
    reply_int(&c->r, set ? (int64_t)set_size(set) : 0);
}

static void cmd_sismember(rk_ctx *c)
{
    rk_obj *set;
    if (lookup_set(c, c->argv[1], LOOKUP_NONE, &set) < 0)
        return;
    set_elem e;
    elem_from_slice(&e, c->argv[2]);
    reply_int(&c->r, set && set_contains(set, &e));
}

static void cmd_smismember(rk_ctx *c)
{
    rk_obj *set;
    if (lookup_set(c, c->argv[1], LOOKUP_NONE, &set) < 0)
        return;
    reply_array(&c->r, c->argc - 2);
    for (int j = 2; j < c->argc; j++) {
        set_elem e;
        elem_from_slice(&e, c->argv[j]);
        reply_int(&c->r, set && set_contains(set, &e));
    }
}

static void cmd_smembers(rk_ctx *c)
{
    rk_obj *set;
    if (lookup_set(c, c->argv[1], LOOKUP_NONE, &set) < 0)
        return;
    reply_members(c, set);
}

/* ---- SMOVE -------------------------------------------------------------- */

static void cmd_smove(rk_ctx *c)
{
    rk_slice src_key = c->argv[1], dst_key = c->argv[2];
    rk_obj *src, *dst;
    if (lookup_set(c, src_key, LOOKUP_WRITE, &src) < 0)
        return;
    /* As Redis: a missing source answers 0 before the destination's type is checked. */
    if (!src) {
        reply_int(&c->r, 0);
        return;
    }
    if (lookup_set(c, dst_key, LOOKUP_WRITE, &dst) < 0)
        return;
    set_elem e;
    elem_from_slice(&e, c->argv[3]);
    if (src == dst) {
        reply_int(&c->r, set_contains(src, &e));
        return;
    }
    if (!set_contains(src, &e)) {
        reply_int(&c->r, 0);
        return;
    }
    /* Add to the destination first so a failed allocation changes nothing. */
    int added;
    if (!dst) {
        dst = set_new_for(&e);
        if (!dst || set_add(dst, &e, max_intset(c)) < 0 ||
            db_add(c->shard, c->db, dst_key, dst) < 0) {
            obj_free(dst);
            ctx_oom(c);
            return;
        }
        added = 1;
    } else {
        added = set_add(dst, &e, max_intset(c));
        if (added < 0) {
            ctx_oom(c);
            return;
        }
    }
    int removed = set_remove(src, &e);
    assert(removed == 1);
    (void)removed;
    delete_if_empty(c, src_key, src);
    ctx_dirty(c, 1 + added);
    reply_int(&c->r, 1);
}

/* ---- SPOP SRANDMEMBER --------------------------------------------------- */

static void spop_one(rk_ctx *c, rk_slice key)
{
    rk_obj *set;
    if (lookup_set(c, key, LOOKUP_WRITE, &set) < 0)
        return;
    if (!set) {
        reply_null(&c->r);
        return;
    }
    set_elem e;
    set_random(set, &e);
    /* The member's bytes may live in the set: reply and journal before removing it. */
    reply_elem(c, &e);
    rk_slice srem[3] = {RK_SLICE("SREM"), key, e.bytes};
    ctx_propagate(c, 3, srem);
    int removed = set_remove(set, &e);
    assert(removed == 1);
    (void)removed;
    delete_if_empty(c, key, set);
    ctx_dirty(c, 1);
}

static void spop_count(rk_ctx *c, rk_slice key)
{
    long long count;
    if (!rk_str2ll(c->argv[2].ptr, c->argv[2].len, &count) || count < 0) {
        ctx_error(c, "ERR value is out of range, must be positive");
        return;
    }
    rk_obj *set;
    if (lookup_set(c, key, LOOKUP_WRITE, &set) < 0)
        return;
    if (!set || count == 0) {
        reply_set(&c->r, 0);
        return;
    }
    uint64_t size = set_size(set);
    if ((uint64_t)count >= size) {
        /* The whole set: reply it and drop the key. */
        reply_members(c, set);
        db_delete(c->shard, c->db, key);
        rk_slice del[2] = {c->shard->cfg.lazyfree_lazy_server_del ? RK_SLICE("UNLINK") : RK_SLICE("DEL"), key};
        ctx_propagate(c, 2, del);
        ctx_dirty(c, (long long)size);
        return;
    }
    reply_set(&c->r, count);
    for (long long i = 0; i < count; i++) {
        set_elem e;
        set_random(set, &e);
        reply_elem(c, &e);
        /* One SREM per member, as Redis 7.0 (the unit wraps them in MULTI/EXEC). */
        rk_slice srem[3] = {RK_SLICE("SREM"), key, e.bytes};
        ctx_propagate(c, 3, srem);
        int removed = set_remove(set, &e);
        assert(removed == 1);
        (void)removed;
    }
    ctx_dirty(c, count);
}

static void cmd_spop(rk_ctx *c)
{
    if (c->argc == 2)
        spop_one(c, c->argv[1]);
    else if (c->argc == 3)
        spop_count(c, c->argv[1]);
    else
        ctx_syntax_error(c);
}

/* Replies count distinct random members, count < size, by a partial
 * Fisher-Yates shuffle over all of them. 0, or -1 on allocation failure
 * (nothing replied). */
static int srandmember_shuffle(rk_ctx *c, const rk_obj *set, uint64_t count)
{
    uint64_t size = set_size(set);
    set_elem *all = rk_malloc(size * sizeof *all);
    if (!all)
        return -1;
    set_iter it;
    set_iter_init(&it, set);
    uint64_t n = 0;
    while (n < size && set_iter_next(&it, &all[n]))
        n++;
    set_iter_release(&it);
    assert(n == size);
    reply_array(&c->r, (int64_t)count);
    for (uint64_t i = 0; i < count; i++) {
        uint64_t j = i + next_random() % (size - i);
        set_elem tmp = all[i];
        all[i] = all[j];
        all[j] = tmp;
        /* digits moved with the struct: re-point a bitmap member's bytes. */
        if (!all[i].str)
            all[i].bytes.ptr = all[i].digits;
        reply_elem(c, &all[i]);
    }
    rk_free(all);
    return 0;
}

static uint64_t ptr_hash(const void *p)
{
    uintptr_t v = (uintptr_t)p;
    return dict_gen_hash(&v, sizeof v);
}

static const dict_type picked_ptr_type = {.hash = ptr_hash};

/* Replies count distinct random members, count much smaller than size, by
 * drawing until enough distinct ones came up. 0 / -1 (nothing replied). */
static int srandmember_draw(rk_ctx *c, const rk_obj *set, uint64_t count)
{
    roaring_bitmap_t *picked_ints = NULL;
    dict *picked_strs = NULL;
    if (set->encoding == ENC_INTSET)
        picked_ints = roaring_bitmap_create();
    else
        picked_strs = dict_create(&picked_ptr_type);
    if (!picked_ints && !picked_strs)
        return -1;
    /* Pick first, reply after: a failure then leaves no partial reply. */
    uint64_t picked = 0;
    int failed = 0;
    while (picked < count && !failed) {
        set_elem e;
        set_random(set, &e);
        if (picked_ints) {
            picked += roaring_bitmap_add_checked(picked_ints, e.u32);
        } else {
            dict_entry *existing = NULL;
            if (dict_add_raw(picked_strs, (void *)e.str, &existing))
                picked++;
            else if (!existing)
                failed = 1;
        }
    }
    if (!failed) {
        reply_array(&c->r, (int64_t)count);
        set_elem e;
        if (picked_ints) {
            roaring_uint32_iterator_t it;
            roaring_init_iterator(picked_ints, &it);
            for (; it.has_value; roaring_advance_uint32_iterator(&it)) {
                elem_from_u32(&e, it.current_value);
                reply_elem(c, &e);
            }
        } else {
            dict_iter it;
            dict_iter_init(&it, picked_strs, 0);
            for (dict_entry *de; (de = dict_next(&it));) {
                elem_from_str(&e, de->key);
                reply_elem(c, &e);
            }
            dict_iter_release(&it);
        }
    }
    if (picked_ints)
        roaring_bitmap_free(picked_ints);
    else
        dict_release(picked_strs);
    return failed ? -1 : 0;
}

static void srandmember_count(rk_ctx *c)
{
    long long l;
    if (!rk_str2ll(c->argv[2].ptr, c->argv[2].len, &l)) {
        ctx_not_int(c);
        return;
    }
    if (l == LLONG_MIN) {
        ctx_errorf(c, "ERR value is out of range, value must between %lld and %lld", -LLONG_MAX, LLONG_MAX);
        return;
    }
    rk_obj *set;
    if (lookup_set(c, c->argv[1], LOOKUP_NONE, &set) < 0)
        return;
    if (!set || l == 0) {
        reply_array(&c->r, 0);
        return;
    }
    if (l < 0) {
        /* Repetitions allowed: independent draws. */
        reply_array(&c->r, -l);
        for (long long i = 0; i < -l; i++) {
            set_elem e;
            set_random(set, &e);
            if (reply_elem(c, &e) < 0)
                break;
        }
        return;
    }
    uint64_t count = (uint64_t)l, size = set_size(set);
    int rc;
    if (count >= size) {
        reply_array(&c->r, (int64_t)size);
        set_iter it;
        set_iter_init(&it, set);
        set_elem e;
        while (set_iter_next(&it, &e))
            reply_elem(c, &e);
        set_iter_release(&it);
        return;
    }
    /* Drawing is cheap while collisions are rare; otherwise shuffle. */
    if (count * 3 > size)
        rc = srandmember_shuffle(c, set, count);
    else
        rc = srandmember_draw(c, set, count);
    if (rc < 0)
        ctx_oom(c);
}

static void cmd_srandmember(rk_ctx *c)
{
    if (c->argc == 3) {
        srandmember_count(c);
        return;
    }
    if (c->argc > 3) {
        ctx_syntax_error(c);
        return;
    }
    rk_obj *set;
    if (lookup_set(c, c->argv[1], LOOKUP_NONE, &set) < 0)
        return;
    if (!set) {
        reply_null(&c->r);
        return;
    }
    set_elem e;
    set_random(set, &e);
    reply_elem(c, &e);
}

/* ---- SINTER SUNION SDIFF and their STORE / CARD forms ------------------ */

enum set_op { OP_INTER, OP_UNION, OP_DIFF };

/* The sets named by argv[first, first+n): sets[i] NULL when missing. Returns
 * the array (rk_free it), or NULL after replying an error. */
static rk_obj **gather_sets(rk_ctx *c, int first, int n, int flags)
{
    rk_obj **sets = rk_malloc((size_t)n * sizeof *sets);
    if (!sets) {
        ctx_oom(c);
        return NULL;
    }
    for (int i = 0; i < n; i++) {
        if (lookup_set(c, c->argv[first + i], flags, &sets[i]) < 0) {
            rk_free(sets);
            return NULL;
        }
    }
    return sets;
}

static int all_bitmaps(rk_obj **sets, int n)
{
    for (int i = 0; i < n; i++)
        if (sets[i] && sets[i]->encoding != ENC_INTSET)
            return 0;
    return 1;
}

/* Wraps a computed bitmap as a set, converting it past the intset limit. */
static rk_obj *wrap_bitmap_result(rk_ctx *c, roaring_bitmap_t *bm)
{
    if (!bm)
        return NULL;
    rk_obj *o = set_wrap(ENC_INTSET, bm);
    if (!o) {
        roaring_bitmap_free(bm);
        return NULL;
    }
    long long limit = max_intset(c);
    if (roaring_bitmap_get_cardinality(bm) > (uint64_t)(limit < 0 ? 0 : limit) && set_convert_to_ht(o) < 0) {
        obj_free(o);
        return NULL;
    }
    return o;
}

/* The operation on bitmaps only (missing sets already handled by the caller
 * for INTER; for UNION and DIFF they are skipped). */
static rk_obj *bitmap_op(rk_ctx *c, enum set_op op, rk_obj **sets, int n)
{
    roaring_bitmap_t *acc = NULL;
    for (int i = 0; i < n; i++) {
        if (!sets[i])
            continue;
        roaring_bitmap_t *bm = bitmap_of(sets[i]);
        if (!acc) {
            if (op == OP_DIFF && i != 0)
                break; /* the first set is missing: nothing to subtract from */
            acc = roaring_bitmap_copy(bm);
            if (!acc)
                return NULL;
            continue;
        }
        if (op == OP_INTER)
            roaring_bitmap_and_inplace(acc, bm);
        else if (op == OP_UNION)
            roaring_bitmap_or_inplace(acc, bm);
        else
            roaring_bitmap_andnot_inplace(acc, bm);
    }
    if (!acc)
        acc = roaring_bitmap_create();
    return wrap_bitmap_result(c, acc);
}

static int cmp_by_size(const void *a, const void *b)
{
    uint64_t x = set_size(*(rk_obj *const *)a), y = set_size(*(rk_obj *const *)b);
    return x < y ? -1 : x > y;
}

/* Whether e belongs in the result of op, given the other sets. */
static int elem_qualifies(enum set_op op, const set_elem *e, rk_obj **others, int n)
{
    for (int i = 0; i < n; i++) {
        if (!others[i])
            continue;
        int member = set_contains(others[i], e);
        if (op == OP_INTER && !member)
            return 0;
        if (op == OP_DIFF && member)
            return 0;
    }
    return 1;
}

/* Adds to result every member of src that qualifies. 0 / -1 (OOM). */
static int add_qualifying(rk_ctx *c, rk_obj *result, const rk_obj *src, enum set_op op,
                          rk_obj **others, int n)
{
    set_iter it;
    set_iter_init(&it, src);
    set_elem e;
    int rc = 0;
    while (rc == 0 && set_iter_next(&it, &e))
        if (op == OP_UNION || elem_qualifies(op, &e, others, n))
            rc = set_add(result, &e, max_intset(c)) < 0 ? -1 : 0;
    set_iter_release(&it);
    return rc;
}

/* Computes op over sets (sorted in place for INTER). Returns a new set
 * object, possibly empty, or NULL on allocation failure. */
static rk_obj *compute_set_op(rk_ctx *c, enum set_op op, rk_obj **sets, int n)
{
    if (op == OP_INTER) {
        for (int i = 0; i < n; i++)
            if (!sets[i])
                return set_new_intset(); /* intersecting with nothing */
    }
    if (all_bitmaps(sets, n))
        return bitmap_op(c, op, sets, n);
    rk_obj *result = set_new_intset();
    if (!result)
        return NULL;
    int rc = 0;
    if (op == OP_INTER) {
        /* Walk the smallest set, probe the others. */
        qsort(sets, (size_t)n, sizeof *sets, cmp_by_size);
        rc = add_qualifying(c, result, sets[0], op, sets + 1, n - 1);
    } else if (op == OP_DIFF) {
        if (sets[0])
            rc = add_qualifying(c, result, sets[0], op, sets + 1, n - 1);
    } else {
        for (int i = 0; i < n && rc == 0; i++)
            if (sets[i])
                rc = add_qualifying(c, result, sets[i], op, NULL, 0);
    }
    if (rc < 0) {
        obj_free(result);
        return NULL;
    }
    return result;
}

/* Stores result at dst (or deletes dst when empty) and replies its size. */
static void store_result(rk_ctx *c, rk_slice dst, rk_obj *result)
{
    uint64_t size = set_size(result);
    if (size == 0) {
        obj_free(result);
        if (db_delete(c->shard, c->db, dst))
            ctx_dirty(c, 1);
        reply_int(&c->r, 0);
        return;
    }
    if (db_set(c->shard, c->db, dst, result, 0) < 0) {
        obj_free(result);
        ctx_oom(c);
        return;
    }
    ctx_dirty(c, 1);
    reply_int(&c->r, (int64_t)size);
}

/* SINTER/SUNION/SDIFF (dst_arg 0) and their STORE forms (dst_arg 1). */
static void set_op_command(rk_ctx *c, enum set_op op, int dst_arg)
{
    int first = dst_arg ? 2 : 1, n = c->argc - first;
    rk_obj **sets = gather_sets(c, first, n, dst_arg ? LOOKUP_WRITE : LOOKUP_NONE);
    if (!sets)
        return;
    rk_obj *result = compute_set_op(c, op, sets, n);
    rk_free(sets);
    if (!result) {
        ctx_oom(c);
        return;
    }
    if (dst_arg) {
        store_result(c, c->argv[dst_arg], result);
        return;
    }
    reply_members(c, result);
    obj_free(result);
}

static void cmd_sinter(rk_ctx *c) { set_op_command(c, OP_INTER, 0); }
static void cmd_sinterstore(rk_ctx *c) { set_op_command(c, OP_INTER, 1); }
static void cmd_sunion(rk_ctx *c) { set_op_command(c, OP_UNION, 0); }
static void cmd_sunionstore(rk_ctx *c) { set_op_command(c, OP_UNION, 1); }
static void cmd_sdiff(rk_ctx *c) { set_op_command(c, OP_DIFF, 0); }
static void cmd_sdiffstore(rk_ctx *c) { set_op_command(c, OP_DIFF, 1); }

/* Size of the intersection, counting stops at limit (0: no limit). */
static uint64_t intersection_card(rk_obj **sets, int n, uint64_t limit)
{
    for (int i = 0; i < n; i++)
        if (!sets[i])
            return 0;
    uint64_t count = 0;
    if (all_bitmaps(sets, n) && n == 2) {
        count = roaring_bitmap_and_cardinality(bitmap_of(sets[0]), bitmap_of(sets[1]));
    } else {
        qsort(sets, (size_t)n, sizeof *sets, cmp_by_size);
        set_iter it;
        set_iter_init(&it, sets[0]);
        set_elem e;
        while ((!limit || count < limit) && set_iter_next(&it, &e))
            count += (uint64_t)elem_qualifies(OP_INTER, &e, sets + 1, n - 1);
        set_iter_release(&it);
    }
    return limit && count > limit ? limit : count;
}

static void cmd_sintercard(rk_ctx *c)
{
    long long numkeys, limit = 0;
    if (!rk_str2ll(c->argv[1].ptr, c->argv[1].len, &numkeys) || numkeys <= 0) {
        ctx_error(c, "ERR numkeys should be greater than 0");
        return;
    }
    if (numkeys > c->argc - 2) {
        ctx_error(c, "ERR Number of keys can't be greater than number of args");
        return;
    }
    for (int j = 2 + (int)numkeys; j < c->argc; j++) {
        if (ctx_arg_is(c, j, "limit") && j + 1 < c->argc) {
            j++;
            if (!rk_str2ll(c->argv[j].ptr, c->argv[j].len, &limit) || limit < 0) {
                ctx_error(c, "ERR LIMIT can't be negative");
                return;
            }
        } else {
            ctx_syntax_error(c);
            return;
        }
    }
    rk_obj **sets = gather_sets(c, 2, (int)numkeys, LOOKUP_NONE);
    if (!sets)
        return;
    uint64_t card = intersection_card(sets, (int)numkeys, (uint64_t)limit);
    rk_free(sets);
    reply_int(&c->r, (int64_t)card);
}

/* ---- SSCAN -------------------------------------------------------------- */


typedef struct scan_batch {
    const rk_str **members;
    size_t n, cap;
    int failed;
} scan_batch;

static void scan_collect(void *ud, dict_entry *de)
{
    scan_batch *b = ud;
    if (b->failed)
        return;
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 16;
        const rk_str **grown = rk_realloc(b->members, cap * sizeof *grown);
        if (!grown) {
            b->failed = 1;
            return;
        }
        b->members = grown;
        b->cap = cap;
    }
    b->members[b->n++] = de->key;
}

static int pattern_accepts(rk_slice pattern, int match_all, rk_slice s)
{
    return match_all || glob_match(pattern.ptr, pattern.len, s.ptr, s.len, 0);
}

static void reply_scan_header(rk_ctx *c, uint64_t cursor)
{
    char digits[24];
    int n = snprintf(digits, sizeof digits, "%llu", (unsigned long long)cursor);
    reply_array(&c->r, 2);
    reply_bulk(&c->r, digits, (size_t)n);
}

static void cmd_sscan(rk_ctx *c)
{
    uint64_t cursor;
    if (!rk_parse_scan_cursor(c->argv[2], &cursor)) {
        ctx_error(c, "ERR invalid cursor");
        return;
    }
    rk_obj *set;
    if (lookup_set(c, c->argv[1], LOOKUP_NONE, &set) < 0)
        return;
    if (!set) {
        reply_scan_header(c, 0);
        reply_array(&c->r, 0);
        return;
    }
    long long count = 10;
    rk_slice pattern = {0};
    int match_all = 1;
    for (int j = 3; j < c->argc; j += 2) {
        int has_value = j + 1 < c->argc;
        if (ctx_arg_is(c, j, "count") && has_value) {
            if (ctx_arg_ll(c, j + 1, &count) < 0)
                return;
            if (count < 1) {
                ctx_syntax_error(c);
                return;
            }
        } else if (ctx_arg_is(c, j, "match") && has_value) {
            pattern = c->argv[j + 1];
            match_all = pattern.len == 1 && pattern.ptr[0] == '*';
        } else {
            ctx_syntax_error(c);
            return;
        }
    }
    if (set->encoding == ENC_INTSET) {
        /* Compact sets are returned whole, as Redis does for intsets. */
        reply_scan_header(c, 0);
        int64_t items = reply_deferred(&c->r);
        int64_t n = 0;
        set_iter it;
        set_iter_init(&it, set);
        set_elem e;
        while (set_iter_next(&it, &e)) {
            if (!pattern_accepts(pattern, match_all, e.bytes))
                continue;
            reply_elem(c, &e);
            n++;
        }
        set_iter_release(&it);
        reply_set_deferred_array(&c->r, items, n);
        return;
    }
    scan_batch batch = {0};
    long long max_steps = count > LLONG_MAX / 10 ? LLONG_MAX : count * 10;
    dict *d = dict_of(set);
    do {
        cursor = dict_scan(d, cursor, scan_collect, &batch);
    } while (cursor && --max_steps > 0 && batch.n < (size_t)count && !batch.failed);
    if (batch.failed) {
        rk_free(batch.members);
        ctx_oom(c);
        return;
    }
    reply_scan_header(c, cursor);
    int64_t items = reply_deferred(&c->r);
    int64_t n = 0;
    for (size_t i = 0; i < batch.n; i++) {
        rk_slice s = rkstr_slice(batch.members[i]);
        if (!pattern_accepts(pattern, match_all, s))
            continue;
        reply_bulk(&c->r, s.ptr, s.len);
        n++;
    }
    reply_set_deferred_array(&c->r, items, n);
    rk_free(batch.members);
}

/* ---- the table ---------------------------------------------------------- */

#define KS_RANGE(fl, idx, last) \
    {.flags = (fl), .bs_index = (idx), .fk_keynum = 0, .fk_lastkey = (last), .fk_step = 1, .fk_limit = 0}
#define KS_KEYNUM(fl, idx, numidx, first) \
    {.flags = (fl), .bs_index = (idx), .fk_keynum = 1, .kn_idx = (numidx), .kn_first = (first), .kn_step = 1}

#define SET_CMD(nm, ar, fl, acl, pr, fk, lk, summ, since_v, cplx, tip, ...)                      \
    {                                                                                            \
        .name = (nm), .arity = (ar), .flags = (fl), .acl_categories = (acl), .exec = EXEC_KEYS, \
        .merge = MERGE_NONE, .proc = (pr), .first_key = (fk), .last_key = (lk), .key_step = (fk) ? 1 : 0, \
        .keyspecs = {__VA_ARGS__}, .n_keyspecs = sizeof((rk_keyspec[]){__VA_ARGS__}) / sizeof(rk_keyspec), \
        .summary = (summ), .since = (since_v), .group = "set", .complexity = (cplx), .tips = (tip), \
    }

#define INTER_COMPLEXITY \
    "O(N*M) worst case where N is the cardinality of the smallest set and M is the number of sets."
#define ALL_SETS_COMPLEXITY "O(N) where N is the total number of elements in all given sets."

const rk_command rk_set_commands[] = {
    SET_CMD("sadd", -3, CMD_WRITE | CMD_DENYOOM | CMD_FAST, "@write @set @fast", cmd_sadd, 1, 1,
            "Add one or more members to a set", "1.0.0",
            "O(1) for each element added, so O(N) to add N elements when the command is called with "
            "multiple arguments.",
            NULL, KS_RANGE("RW INSERT", 1, 0)),
    SET_CMD("scard", 2, CMD_READONLY | CMD_FAST, "@read @set @fast", cmd_scard, 1, 1,
            "Get the number of members in a set", "1.0.0", "O(1)", NULL, KS_RANGE("RO", 1, 0)),
    SET_CMD("sdiff", -2, CMD_READONLY, "@read @set @slow", cmd_sdiff, 1, -1, "Subtract multiple sets",
            "1.0.0", ALL_SETS_COMPLEXITY, "nondeterministic_output_order", KS_RANGE("RO ACCESS", 1, -1)),
    SET_CMD("sdiffstore", -3, CMD_WRITE | CMD_DENYOOM, "@write @set @slow", cmd_sdiffstore, 1, -1,
            "Subtract multiple sets and store the resulting set in a key", "1.0.0", ALL_SETS_COMPLEXITY,
            NULL, KS_RANGE("OW UPDATE", 1, 0), KS_RANGE("RO ACCESS", 2, -1)),
    SET_CMD("sinter", -2, CMD_READONLY, "@read @set @slow", cmd_sinter, 1, -1, "Intersect multiple sets",
            "1.0.0", INTER_COMPLEXITY, "nondeterministic_output_order", KS_RANGE("RO ACCESS", 1, -1)),
    SET_CMD("sintercard", -3, CMD_READONLY | CMD_MOVABLE_KEYS, "@read @set @slow", cmd_sintercard, 0, 0,
            "Intersect multiple sets and return the cardinality of the result", "7.0.0", INTER_COMPLEXITY,
            NULL, KS_KEYNUM("RO ACCESS", 1, 0, 1)),
    SET_CMD("sinterstore", -3, CMD_WRITE | CMD_DENYOOM, "@write @set @slow", cmd_sinterstore, 1, -1,
            "Intersect multiple sets and store the resulting set in a key", "1.0.0", INTER_COMPLEXITY,
            NULL, KS_RANGE("RW UPDATE", 1, 0), KS_RANGE("RO ACCESS", 2, -1)),
    SET_CMD("sismember", 3, CMD_READONLY | CMD_FAST, "@read @set @fast", cmd_sismember, 1, 1,
            "Determine if a given value is a member of a set", "1.0.0", "O(1)", NULL, KS_RANGE("RO", 1, 0)),
    SET_CMD("smembers", 2, CMD_READONLY, "@read @set @slow", cmd_smembers, 1, 1,
            "Get all the members in a set", "1.0.0", "O(N) where N is the set cardinality.",
            "nondeterministic_output_order", KS_RANGE("RO ACCESS", 1, 0)),
    SET_CMD("smismember", -3, CMD_READONLY | CMD_FAST, "@read @set @fast", cmd_smismember, 1, 1,
            "Returns the membership associated with the given elements for a set", "6.2.0",
            "O(N) where N is the number of elements being checked for membership", NULL,
            KS_RANGE("RO ACCESS", 1, 0)),
    SET_CMD("smove", 4, CMD_WRITE | CMD_FAST, "@write @set @fast", cmd_smove, 1, 2,
            "Move a member from one set to another", "1.0.0", "O(1)", NULL,
            KS_RANGE("RW ACCESS DELETE", 1, 0), KS_RANGE("RW INSERT", 2, 0)),
    SET_CMD("spop", -2, CMD_WRITE | CMD_FAST, "@write @set @fast", cmd_spop, 1, 1,
            "Remove and return one or multiple random members from a set", "1.0.0",
            "Without the count argument O(1), otherwise O(N) where N is the value of the passed count.",
            "nondeterministic_output", KS_RANGE("RW ACCESS DELETE", 1, 0)),
    SET_CMD("srandmember", -2, CMD_READONLY, "@read @set @slow", cmd_srandmember, 1, 1,
            "Get one or multiple random members from a set", "1.0.0",
            "Without the count argument O(1), otherwise O(N) where N is the absolute value of the passed "
            "count.",
            "nondeterministic_output", KS_RANGE("RO ACCESS", 1, 0)),
    SET_CMD("srem", -3, CMD_WRITE | CMD_FAST, "@write @set @fast", cmd_srem, 1, 1,
            "Remove one or more members from a set", "1.0.0",
            "O(N) where N is the number of members to be removed.", NULL, KS_RANGE("RW DELETE", 1, 0)),
    SET_CMD("sscan", -3, CMD_READONLY, "@read @set @slow", cmd_sscan, 1, 1,
            "Incrementally iterate Set elements", "2.8.0",
            "O(1) for every call. O(N) for a complete iteration, including enough command calls for the "
            "cursor to return back to 0. N is the number of elements inside the collection..",
            "nondeterministic_output", KS_RANGE("RO ACCESS", 1, 0)),
    SET_CMD("sunion", -2, CMD_READONLY, "@read @set @slow", cmd_sunion, 1, -1, "Add multiple sets",
            "1.0.0", ALL_SETS_COMPLEXITY, "nondeterministic_output_order", KS_RANGE("RO ACCESS", 1, -1)),
    SET_CMD("sunionstore", -3, CMD_WRITE | CMD_DENYOOM, "@write @set @slow", cmd_sunionstore, 1, -1,
            "Add multiple sets and store the resulting set in a key", "1.0.0", ALL_SETS_COMPLEXITY, NULL,
            KS_RANGE("OW UPDATE", 1, 0), KS_RANGE("RO ACCESS", 2, -1)),
    {0},
};

int set_for_each_member(const rk_obj *o, void (*fn)(void *ud, const char *p, size_t len), void *ud)
{
    set_iter it;
    set_elem e;
    set_iter_init(&it, o);
    while (set_iter_next(&it, &e))
        fn(ud, e.bytes.ptr, e.bytes.len);
    set_iter_release(&it);
    return 0;
}

/* ---- building sets without a client (RDB load, RESTORE) ------------------- */

rk_obj *set_create_empty(int intset)
{
    return intset ? set_new_intset() : set_new_ht();
}

int set_add_member(rk_obj *o, const char *p, size_t len, long long max_intset)
{
    set_elem e;
    elem_from_slice(&e, (rk_slice){p, len});
    return set_add(o, &e, max_intset);
}
