/* t_list.c: the list type (OBJ_LIST) and its commands: LPUSH ... LMPOP and
 * the blocking BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BLMPOP; the table
 * rk_list_commands[] and the list's rk_obj_type_ops.
 *
 * Threads: every proc runs on the shard that owns all of its keys (or on a
 * scratch db of the generic multi-key executor); the table is read-only
 * after start-up.
 *
 * Encoding: a list is always ENC_QUICKLIST (core/quicklist.h), whatever its
 * size. This is what Redis 7.0.15 answers: `RPUSH l a; OBJECT ENCODING l`
 * gives "quicklist" there (checked on the real server; the "listpack" list
 * encoding arrived with 7.2). list-max-listpack-size only shapes the nodes,
 * and a list keeps the value it was created with, as in Redis.
 *
 * Invariants: no key holds an empty list (the last pop/removal deletes the
 * key); every change goes through db.h and is counted with ctx_dirty; a
 * command that fails for lack of memory replies OOM and leaves the list as
 * it was, except that a multi-element removal (LTRIM, LREM, pops with a
 * count) may stop part way when a listpack cannot be shrunk. Replies and
 * errors match Redis 7.0. Blocking commands never wait here: they serve,
 * or reply the timeout's nil inside MULTI, or call ctx_block. */
#include <assert.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/command.h"
#include "core/db.h"
#include "core/object.h"
#include "core/quicklist.h"
#include "core/t_list.h"
#include "core/shard.h"

/* ---- the type ------------------------------------------------------------- */

static void *list_dup_ptr(const rk_obj *o)
{
    return ql_dup(o->u.ptr);
}

static void list_free_ptr(rk_obj *o)
{
    ql_free(o->u.ptr);
    o->u.ptr = NULL;
}

static size_t list_heap_size(const rk_obj *o)
{
    return ql_heap_size(o->u.ptr);
}

static const rk_obj_type_ops k_list_ops = {list_dup_ptr, list_free_ptr, list_heap_size};

__attribute__((constructor)) static void list_register_type(void)
{
    obj_register_type(OBJ_LIST, &k_list_ops);
}

/* ---- helpers -------------------------------------------------------------- */

void list_for_each_element(const rk_obj *o, void (*fn)(void *ud, const char *p, size_t len), void *ud)
{
    ql_iter it;
    ql_entry e;
    ql_iter_init(&it, o->u.ptr, QL_FORWARD);
    while (ql_iter_next(&it, &e)) {
        unsigned char buf[24];
        size_t len;
        const unsigned char *p = ql_entry_bytes(&e, buf, &len);
        fn(ud, (const char *)p, len);
    }
}

rk_obj *list_obj_create(long long fill)
{
    quicklist *ql = ql_new(fill > INT_MAX ? INT_MAX : fill < INT_MIN ? INT_MIN : (int)fill);
    if (!ql)
        return NULL;
    rk_obj *o = rk_malloc(sizeof(*o));
    if (!o) {
        ql_free(ql);
        return NULL;
    }
    o->type = OBJ_LIST;
    o->encoding = ENC_QUICKLIST;
    o->reserved = 0;
    o->lru = 0;
    o->u.ptr = ql;
    return o;
}

static rk_obj *list_obj_new(const rk_ctx *c)
{
    return list_obj_create(c->shard ? c->shard->cfg.list_max_listpack_size : -2);
}

static quicklist *list_of(const rk_obj *o)
{
    assert(o->type == OBJ_LIST && o->encoding == ENC_QUICKLIST);
    return o->u.ptr;
}

/* Looks key up; WRONGTYPE is replied (and *bad set) when it holds another type. */
static rk_obj *lookup_list(rk_ctx *c, rk_slice key, int flags, int *bad)
{
    rk_obj *o = db_lookup(c->shard, c->db, key, flags);
    *bad = 0;
    if (o && o->type != OBJ_LIST) {
        ctx_wrongtype(c);
        *bad = 1;
        return NULL;
    }
    return o;
}

static void reply_entry(rk_ctx *c, const ql_entry *e)
{
    if (e->sval)
        reply_bulk(&c->r, e->sval, e->slen);
    else
        reply_bulk_int(&c->r, e->lval);
}

/* Drops what this command wrote since mark and answers OOM instead. */
static void reply_oom_since(rk_ctx *c, size_t mark)
{
    assert(mark <= c->r.out->len);
    c->r.out->len = mark;
    ctx_oom(c);
}

/* Deletes key when its list became empty (a list key is never empty). */
static void delete_if_empty(rk_ctx *c, rk_slice key, const rk_obj *o)
{
    if (ql_count(list_of(o)) == 0)
        db_delete(c->shard, c->db, key);
}

/* "left"/"right" as QL_HEAD/QL_TAIL; syntax error replied otherwise. */
static int parse_where(rk_ctx *c, int i, int *where)
{
    if (ctx_arg_is(c, i, "left"))
        *where = QL_HEAD;
    else if (ctx_arg_is(c, i, "right"))
        *where = QL_TAIL;
    else {
        ctx_syntax_error(c);
        return -1;
    }
    return 0;
}

/* Redis's getLongFromObjectOrReply with a custom message for both a
 * non-integer and a value below min. */
static int parse_ll_min(rk_ctx *c, int i, long long min, const char *msg, long long *out)
{
    long long v;
    if (!rk_str2ll(c->argv[i].ptr, c->argv[i].len, &v) || v < min) {
        ctx_error(c, msg);
        return -1;
    }
    *out = v;
    return 0;
}

/* Redis 7.0's getTimeoutFromObjectOrReply in seconds: the value becomes
 * whole milliseconds through a long long conversion, so a tiny negative
 * value truncates to 0 (wait forever) and one too large to convert is
 * reported negative, as x86 turns it into LLONG_MIN. *seconds 0 = forever. */
static int parse_timeout(rk_ctx *c, int i, double *seconds)
{
    long double value;
    if (!rk_str2ld(c->argv[i].ptr, c->argv[i].len, &value)) {
        ctx_error(c, "ERR timeout is not a float or out of range");
        return -1;
    }
    long double ms = value * 1000.0L;
    if (!(ms > -9223372036854775808.0L && ms < 9223372036854775808.0L) || (long long)ms < 0) {
        ctx_error(c, "ERR timeout is negative");
        return -1;
    }
    *seconds = (double)(long long)ms / 1000.0;
    return 0;
}

/* Replies the n elements at the where end (in pop order) and removes them.
 * On OOM the reply written since mark is replaced by the OOM error. */
static int reply_and_pop(rk_ctx *c, rk_slice key, rk_obj *o, int where, unsigned long n, size_t mark)
{
    quicklist *ql = list_of(o);
    assert(n > 0 && n <= ql_count(ql));
    ql_iter it;
    ql_entry e;
    ql_iter_init(&it, ql, where == QL_HEAD ? QL_FORWARD : QL_BACKWARD);
    for (unsigned long i = 0; i < n && ql_iter_next(&it, &e); i++)
        reply_entry(c, &e);
    long long start = where == QL_HEAD ? 0 : (long long)(ql_count(ql) - n);
    long long deleted = ql_del_range(ql, start, n);
    if (deleted > 0)
        ctx_dirty(c, deleted);
    delete_if_empty(c, key, o);
    if (deleted != (long long)n) {
        reply_oom_since(c, mark);
        return -1;
    }
    return 0;
}

/* ---- push ----------------------------------------------------------------- */

/* Pushes argv[first..] at where; on OOM takes back what it pushed. */
static int push_args(rk_ctx *c, quicklist *ql, int first, int where)
{
    for (int j = first; j < c->argc; j++) {
        if (ql_push(ql, c->argv[j].ptr, c->argv[j].len, where) != 0) {
            for (int k = first; k < j; k++)
                if (ql_pop_discard(ql, where) != 0)
                    break;
            return -1;
        }
    }
    return 0;
}

static void push_generic(rk_ctx *c, int where, int only_existing)
{
    rk_slice key = c->argv[1];
    int bad;
    rk_obj *o = lookup_list(c, key, LOOKUP_WRITE, &bad);
    if (bad)
        return;
    if (!o && only_existing) {
        reply_int(&c->r, 0);
        return;
    }
    int created = !o;
    if (created && !(o = list_obj_new(c))) {
        ctx_oom(c);
        return;
    }
    if (push_args(c, list_of(o), 2, where) != 0) {
        if (created)
            obj_free(o);
        ctx_oom(c);
        return;
    }
    unsigned long len = ql_count(list_of(o));
    if (created && db_add(c->shard, c->db, key, o) != 0) {
        obj_free(o);
        ctx_oom(c);
        return;
    }
    ctx_dirty(c, c->argc - 2);
    reply_int(&c->r, (int64_t)len);
}

static void cmd_lpush(rk_ctx *c) { push_generic(c, QL_HEAD, 0); }
static void cmd_rpush(rk_ctx *c) { push_generic(c, QL_TAIL, 0); }
static void cmd_lpushx(rk_ctx *c) { push_generic(c, QL_HEAD, 1); }
static void cmd_rpushx(rk_ctx *c) { push_generic(c, QL_TAIL, 1); }

/* ---- pop ------------------------------------------------------------------ */

static void pop_generic(rk_ctx *c, int where)
{
    long long count = 1;
    int has_count = c->argc == 3;
    if (c->argc > 3) {
        ctx_wrong_arity(c);
        return;
    }
    if (has_count && parse_ll_min(c, 2, 0, "ERR value is out of range, must be positive", &count) < 0)
        return;
    rk_slice key = c->argv[1];
    int bad;
    rk_obj *o = lookup_list(c, key, LOOKUP_WRITE, &bad);
    if (bad)
        return;
    if (!o) {
        if (has_count)
            reply_null_array(&c->r);
        else
            reply_null(&c->r);
        return;
    }
    size_t mark = c->r.out->len;
    if (!has_count) {
        reply_and_pop(c, key, o, where, 1, mark);
        return;
    }
    unsigned long len = ql_count(list_of(o));
    unsigned long n = (unsigned long long)count < len ? (unsigned long)count : len;
    reply_array(&c->r, (int64_t)n);
    if (n > 0)
        reply_and_pop(c, key, o, where, n, mark);
}

static void cmd_lpop(rk_ctx *c) { pop_generic(c, QL_HEAD); }
static void cmd_rpop(rk_ctx *c) { pop_generic(c, QL_TAIL); }

/* ---- read-only ------------------------------------------------------------ */

static void cmd_llen(rk_ctx *c)
{
    int bad;
    rk_obj *o = lookup_list(c, c->argv[1], LOOKUP_NONE, &bad);
    if (!bad)
        reply_int(&c->r, o ? (int64_t)ql_count(list_of(o)) : 0);
}

static void cmd_lrange(rk_ctx *c)
{
    long long start, end;
    if (ctx_arg_ll(c, 2, &start) < 0 || ctx_arg_ll(c, 3, &end) < 0)
        return;
    int bad;
    rk_obj *o = lookup_list(c, c->argv[1], LOOKUP_NONE, &bad);
    if (bad)
        return;
    if (!o) {
        reply_array(&c->r, 0);
        return;
    }
    quicklist *ql = list_of(o);
    long long len = (long long)ql_count(ql);
    if (start < 0)
        start = len + start;
    if (end < 0)
        end = len + end;
    if (start < 0)
        start = 0;
    if (start > end || start >= len) {
        reply_array(&c->r, 0);
        return;
    }
    if (end >= len)
        end = len - 1;
    long long n = end - start + 1;
    reply_array(&c->r, n);
    /* ql_iter_init_at finds start from the nearer end of the list. */
    ql_iter it;
    ql_entry e;
    ql_iter_init_at(&it, ql, QL_FORWARD, start);
    for (long long i = 0; i < n && ql_iter_next(&it, &e); i++)
        reply_entry(c, &e);
}

static void cmd_lindex(rk_ctx *c)
{
    int bad;
    rk_obj *o = lookup_list(c, c->argv[1], LOOKUP_NONE, &bad);
    if (bad)
        return;
    if (!o) {
        reply_null(&c->r);
        return;
    }
    long long index;
    if (ctx_arg_ll(c, 2, &index) < 0)
        return;
    ql_entry e;
    if (ql_index(list_of(o), index, &e))
        reply_entry(c, &e);
    else
        reply_null(&c->r);
}

typedef struct lpos_opts {
    long long rank;   /* 1-based match to start at; negative: from the tail */
    long long count;  /* -1: single reply; 0: every match */
    long long maxlen; /* 0: no limit */
} lpos_opts;

static int parse_lpos(rk_ctx *c, lpos_opts *o)
{
    o->rank = 1;
    o->count = -1;
    o->maxlen = 0;
    for (int j = 3; j < c->argc; j++) {
        int more = j + 1 < c->argc;
        if (ctx_arg_is(c, j, "rank") && more) {
            if (ctx_arg_ll(c, ++j, &o->rank) < 0)
                return -1;
            if (o->rank == 0) {
                ctx_error(c, "ERR RANK can't be zero: use 1 to start from the first match, 2 from the "
                             "second ... or use negative to start from the end of the list");
                return -1;
            }
        } else if (ctx_arg_is(c, j, "count") && more) {
            if (parse_ll_min(c, ++j, 0, "ERR COUNT can't be negative", &o->count) < 0)
                return -1;
        } else if (ctx_arg_is(c, j, "maxlen") && more) {
            if (parse_ll_min(c, ++j, 0, "ERR MAXLEN can't be negative", &o->maxlen) < 0)
                return -1;
        } else {
            ctx_syntax_error(c);
            return -1;
        }
    }
    return 0;
}

static void cmd_lpos(rk_ctx *c)
{
    lpos_opts opt;
    if (parse_lpos(c, &opt) < 0)
        return;
    int dir = opt.rank < 0 ? QL_BACKWARD : QL_FORWARD;
    /* Redis negates LLONG_MIN into itself, which then matches from the first hit. */
    long long rank = opt.rank == LLONG_MIN ? 1 : (opt.rank < 0 ? -opt.rank : opt.rank);
    int bad;
    rk_obj *o = lookup_list(c, c->argv[1], LOOKUP_NONE, &bad);
    if (bad)
        return;
    if (!o) {
        if (opt.count != -1)
            reply_array(&c->r, 0);
        else
            reply_null(&c->r);
        return;
    }
    quicklist *ql = list_of(o);
    long long len = (long long)ql_count(ql);
    int64_t handle = opt.count != -1 ? reply_deferred(&c->r) : -1;
    long long scanned = 0, matches = 0, found = -1, replied = 0;
    rk_slice want = c->argv[2];
    ql_iter it;
    ql_entry e;
    ql_iter_init(&it, ql, dir);
    while ((opt.maxlen == 0 || scanned < opt.maxlen) && ql_iter_next(&it, &e)) {
        long long index = dir == QL_FORWARD ? scanned : len - scanned - 1;
        scanned++;
        if (!ql_entry_equal(&e, want.ptr, want.len) || ++matches < rank)
            continue;
        if (opt.count == -1) {
            found = index;
            break;
        }
        reply_int(&c->r, index);
        replied++;
        if (opt.count && replied >= opt.count)
            break;
    }
    if (handle >= 0)
        reply_set_deferred_array(&c->r, handle, replied);
    else if (found >= 0)
        reply_int(&c->r, found);
    else
        reply_null(&c->r);
}

/* ---- in-place changes ----------------------------------------------------- */

static void cmd_lset(rk_ctx *c)
{
    int bad;
    rk_obj *o = lookup_list(c, c->argv[1], LOOKUP_WRITE, &bad);
    if (bad)
        return;
    if (!o) {
        ctx_error(c, "ERR no such key");
        return;
    }
    long long index;
    if (ctx_arg_ll(c, 2, &index) < 0)
        return;
    int rc = ql_replace_at(list_of(o), index, c->argv[3].ptr, c->argv[3].len);
    if (rc < 0) {
        ctx_oom(c);
    } else if (rc == 0) {
        ctx_error(c, "ERR index out of range");
    } else {
        ctx_dirty(c, 1);
        reply_ok(&c->r);
    }
}

static void cmd_linsert(rk_ctx *c)
{
    int after;
    if (ctx_arg_is(c, 2, "after"))
        after = 1;
    else if (ctx_arg_is(c, 2, "before"))
        after = 0;
    else {
        ctx_syntax_error(c);
        return;
    }
    int bad;
    rk_obj *o = lookup_list(c, c->argv[1], LOOKUP_WRITE, &bad);
    if (bad)
        return;
    if (!o) {
        reply_int(&c->r, 0);
        return;
    }
    quicklist *ql = list_of(o);
    rk_slice pivot = c->argv[3], value = c->argv[4];
    ql_iter it;
    ql_entry e;
    ql_iter_init(&it, ql, QL_FORWARD);
    while (ql_iter_next(&it, &e)) {
        if (!ql_entry_equal(&e, pivot.ptr, pivot.len))
            continue;
        if (ql_insert(ql, &e, value.ptr, value.len, after) != 0) {
            ctx_oom(c);
            return;
        }
        ctx_dirty(c, 1);
        reply_int(&c->r, (int64_t)ql_count(ql));
        return;
    }
    reply_int(&c->r, -1);
}

static void cmd_lrem(rk_ctx *c)
{
    long long limit;
    if (ctx_arg_ll(c, 2, &limit) < 0)
        return;
    rk_slice key = c->argv[1];
    int bad;
    rk_obj *o = lookup_list(c, key, LOOKUP_WRITE, &bad);
    if (bad)
        return;
    if (!o) {
        reply_int(&c->r, 0);
        return;
    }
    int dir = limit < 0 ? QL_BACKWARD : QL_FORWARD;
    /* Redis negates LLONG_MIN into itself, a limit never reached: remove all. */
    limit = limit == LLONG_MIN ? 0 : (limit < 0 ? -limit : limit);
    quicklist *ql = list_of(o);
    rk_slice want = c->argv[3];
    long long removed = 0;
    int oom = 0;
    ql_iter it;
    ql_entry e;
    ql_iter_init(&it, ql, dir);
    while ((limit == 0 || removed < limit) && ql_iter_next(&it, &e)) {
        if (!ql_entry_equal(&e, want.ptr, want.len))
            continue;
        if (ql_iter_del(&it, &e) != 0) {
            oom = 1;
            break;
        }
        removed++;
    }
    if (removed)
        ctx_dirty(c, removed);
    delete_if_empty(c, key, o);
    if (oom)
        ctx_oom(c);
    else
        reply_int(&c->r, removed);
}

static void cmd_ltrim(rk_ctx *c)
{
    long long start, end;
    if (ctx_arg_ll(c, 2, &start) < 0 || ctx_arg_ll(c, 3, &end) < 0)
        return;
    rk_slice key = c->argv[1];
    int bad;
    rk_obj *o = lookup_list(c, key, LOOKUP_WRITE, &bad);
    if (bad)
        return;
    if (!o) {
        reply_ok(&c->r);
        return;
    }
    quicklist *ql = list_of(o);
    long long len = (long long)ql_count(ql), ltrim, rtrim;
    if (start < 0)
        start = len + start;
    if (end < 0)
        end = len + end;
    if (start < 0)
        start = 0;
    if (start > end || start >= len) {
        ltrim = len; /* an empty range empties the list */
        rtrim = 0;
    } else {
        if (end >= len)
            end = len - 1;
        ltrim = start;
        rtrim = len - end - 1;
    }
    /* The tail first: a failure there leaves the list untouched. */
    long long cut_tail = rtrim ? ql_del_range(ql, len - rtrim, (unsigned long)rtrim) : 0;
    long long cut_head = cut_tail >= 0 && ltrim ? ql_del_range(ql, 0, (unsigned long)ltrim) : 0;
    long long cut = (cut_tail > 0 ? cut_tail : 0) + (cut_head > 0 ? cut_head : 0);
    if (cut)
        ctx_dirty(c, cut);
    delete_if_empty(c, key, o);
    if (cut_tail < 0 || cut_head < 0)
        ctx_oom(c);
    else
        reply_ok(&c->r);
}

/* ---- moves ---------------------------------------------------------------- */

/* LMOVE's core once src is known to hold a non-empty list: moves one element
 * from src's `from` end to dst's `to` end and replies it. */
static void move_element(rk_ctx *c, rk_slice src_key, rk_obj *src, rk_slice dst_key, int from, int to)
{
    int bad;
    rk_obj *dst = lookup_list(c, dst_key, LOOKUP_WRITE, &bad);
    if (bad)
        return;
    quicklist *sql = list_of(src);
    ql_entry e;
    int found = ql_index(sql, from == QL_HEAD ? 0 : -1, &e);
    assert(found);
    (void)found;
    unsigned char numbuf[24];
    size_t len;
    const unsigned char *bytes = ql_entry_bytes(&e, numbuf, &len);
    /* The element is copied: pushing onto the same list may move it. */
    char *value = rk_memdup(bytes, len);
    if (!value) {
        ctx_oom(c);
        return;
    }
    int created = !dst;
    if (created && !(dst = list_obj_new(c)))
        goto oom;
    if (ql_push(list_of(dst), value, len, to) != 0) {
        if (created)
            obj_free(dst);
        goto oom;
    }
    if (created && db_add(c->shard, c->db, dst_key, dst) != 0) {
        obj_free(dst);
        goto oom;
    }
    if (ql_pop_discard(sql, from) != 0) {
        /* Undo the push so the command has no effect. */
        if (created)
            db_delete(c->shard, c->db, dst_key);
        else
            ql_pop_discard(list_of(dst), to);
        goto oom;
    }
    delete_if_empty(c, src_key, src);
    ctx_dirty(c, 1);
    reply_bulk(&c->r, value, len);
    rk_free(value);
    return;
oom:
    rk_free(value);
    ctx_oom(c);
}

/* Looks src up for a move: returns the list, or NULL after replying
 * WRONGTYPE (*bad) or when it is missing. */
static rk_obj *move_source(rk_ctx *c, rk_slice key, int *bad)
{
    rk_obj *o = lookup_list(c, key, LOOKUP_WRITE, bad);
    assert(!o || ql_count(list_of(o)) > 0);
    return o;
}

static void move_generic(rk_ctx *c, int from, int to)
{
    int bad;
    rk_obj *src = move_source(c, c->argv[1], &bad);
    if (bad)
        return;
    if (!src) {
        reply_null(&c->r);
        return;
    }
    move_element(c, c->argv[1], src, c->argv[2], from, to);
}

static void cmd_lmove(rk_ctx *c)
{
    int from, to;
    if (parse_where(c, 3, &from) < 0 || parse_where(c, 4, &to) < 0)
        return;
    move_generic(c, from, to);
}

static void cmd_rpoplpush(rk_ctx *c)
{
    move_generic(c, QL_TAIL, QL_HEAD);
}

/* The blocking moves: serve when src has data, else wait (nil in MULTI). */
static void block_move_generic(rk_ctx *c, int from, int to, int timeout_arg)
{
    double timeout;
    if (parse_timeout(c, timeout_arg, &timeout) < 0)
        return;
    int bad;
    rk_obj *src = move_source(c, c->argv[1], &bad);
    if (bad)
        return;
    if (src) {
        /* Served now: journaled as the non-blocking form, as Redis 7.0. */
        if (c->argc == 6) {
            rk_slice argv[5] = {RK_SLICE("LMOVE"), c->argv[1], c->argv[2], c->argv[3], c->argv[4]};
            ctx_propagate(c, 5, argv);
        } else {
            rk_slice argv[3] = {RK_SLICE("RPOPLPUSH"), c->argv[1], c->argv[2]};
            ctx_propagate(c, 3, argv);
        }
        move_element(c, c->argv[1], src, c->argv[2], from, to);
        return;
    }
    if (c->in_multi)
        reply_null(&c->r);
    else
        ctx_block(c, timeout);
}

static void cmd_blmove(rk_ctx *c)
{
    int from, to;
    if (parse_where(c, 3, &from) < 0 || parse_where(c, 4, &to) < 0)
        return;
    block_move_generic(c, from, to, 5);
}

static void cmd_brpoplpush(rk_ctx *c)
{
    block_move_generic(c, QL_TAIL, QL_HEAD, 3);
}

/* ---- BLPOP, BRPOP --------------------------------------------------------- */

static void block_pop_generic(rk_ctx *c, int where)
{
    double timeout;
    if (parse_timeout(c, c->argc - 1, &timeout) < 0)
        return;
    /* As Redis: the first key holding a list serves; a key of another type
     * before it is an error. */
    for (int j = 1; j < c->argc - 1; j++) {
        int bad;
        rk_obj *o = lookup_list(c, c->argv[j], LOOKUP_WRITE, &bad);
        if (bad)
            return;
        if (!o)
            continue;
        size_t mark = c->r.out->len;
        reply_array(&c->r, 2);
        reply_bulk(&c->r, c->argv[j].ptr, c->argv[j].len);
        rk_slice argv[2] = {where == QL_HEAD ? RK_SLICE("LPOP") : RK_SLICE("RPOP"), c->argv[j]};
        ctx_propagate(c, 2, argv);
        reply_and_pop(c, c->argv[j], o, where, 1, mark);
        return;
    }
    if (c->in_multi)
        reply_null_array(&c->r);
    else
        ctx_block(c, timeout);
}

static void cmd_blpop(rk_ctx *c) { block_pop_generic(c, QL_HEAD); }
static void cmd_brpop(rk_ctx *c) { block_pop_generic(c, QL_TAIL); }

/* ---- LMPOP, BLMPOP -------------------------------------------------------- */

typedef struct mpop_args {
    int first_key, nkeys;
    int where;
    long long count;
} mpop_args;

/* numkeys key... LEFT|RIGHT [COUNT n], from argv[numkeys_idx]. */
static int parse_mpop(rk_ctx *c, int numkeys_idx, mpop_args *a)
{
    long long numkeys;
    if (parse_ll_min(c, numkeys_idx, 1, "ERR numkeys should be greater than 0", &numkeys) < 0)
        return -1;
    if (numkeys >= c->argc - numkeys_idx - 1) { /* no room left for the direction */
        ctx_syntax_error(c);
        return -1;
    }
    a->first_key = numkeys_idx + 1;
    a->nkeys = (int)numkeys;
    int where_idx = a->first_key + a->nkeys;
    if (parse_where(c, where_idx, &a->where) < 0)
        return -1;
    a->count = -1;
    for (int j = where_idx + 1; j < c->argc; j++) {
        if (a->count == -1 && ctx_arg_is(c, j, "count") && j + 1 < c->argc) {
            if (parse_ll_min(c, ++j, 1, "ERR count should be greater than 0", &a->count) < 0)
                return -1;
        } else {
            ctx_syntax_error(c);
            return -1;
        }
    }
    if (a->count == -1)
        a->count = 1;
    return 0;
}

/* Pops from the first non-empty list among the keys and replies
 * [key, [elements]]. Returns 1 when served or an error was replied, 0 when
 * no key holds a list (nothing replied). */
static int mpop_serve(rk_ctx *c, const mpop_args *a)
{
    for (int j = a->first_key; j < a->first_key + a->nkeys; j++) {
        int bad;
        rk_obj *o = lookup_list(c, c->argv[j], LOOKUP_WRITE, &bad);
        if (bad)
            return 1;
        if (!o)
            continue;
        unsigned long len = ql_count(list_of(o));
        unsigned long n = (unsigned long long)a->count < len ? (unsigned long)a->count : len;
        size_t mark = c->r.out->len;
        reply_array(&c->r, 2);
        reply_bulk(&c->r, c->argv[j].ptr, c->argv[j].len);
        reply_array(&c->r, (int64_t)n);
        /* Journaled as LPOP/RPOP key <popped>, as Redis 7.0 does for [B]LMPOP. */
        char num[24];
        int nlen = snprintf(num, sizeof(num), "%lu", n);
        rk_slice argv[3] = {a->where == QL_HEAD ? RK_SLICE("LPOP") : RK_SLICE("RPOP"), c->argv[j],
                            {num, (size_t)nlen}};
        ctx_propagate(c, 3, argv);
        reply_and_pop(c, c->argv[j], o, a->where, n, mark);
        return 1;
    }
    return 0;
}

static void cmd_lmpop(rk_ctx *c)
{
    mpop_args a;
    if (parse_mpop(c, 1, &a) < 0)
        return;
    if (!mpop_serve(c, &a))
        reply_null_array(&c->r);
}

static void cmd_blmpop(rk_ctx *c)
{
    mpop_args a;
    double timeout;
    if (parse_mpop(c, 2, &a) < 0 || parse_timeout(c, 1, &timeout) < 0)
        return;
    if (mpop_serve(c, &a))
        return;
    if (c->in_multi)
        reply_null_array(&c->r);
    else
        ctx_block(c, timeout);
}

/* ---- the table ------------------------------------------------------------ */

#define KS_RANGE(fl, idx, last) {.flags = (fl), .bs_index = (idx), .fk_lastkey = (last), .fk_step = 1}
#define KS_KEYNUM(fl, idx) {.flags = (fl), .bs_index = (idx), .fk_keynum = 1, .kn_idx = 0, .kn_first = 1, .kn_step = 1}
#define KEY1(fl) .first_key = 1, .last_key = 1, .key_step = 1, .keyspecs = {KS_RANGE(fl, 1, 0)}, .n_keyspecs = 1
#define KEYS_SRC_DST                                                                     \
    .first_key = 1, .last_key = 2, .key_step = 1,                                          \
    .keyspecs = {KS_RANGE("RW ACCESS DELETE", 1, 0), KS_RANGE("RW INSERT", 2, 0)}, .n_keyspecs = 2
#define PUSH_COMPLEXITY \
    "O(1) for each element added, so O(N) to add N elements when the command is called with multiple arguments."
#define LIST_CMD(nm, ar, fl, acl, fn) \
    .name = nm, .arity = ar, .flags = fl, .acl_categories = acl, .exec = EXEC_KEYS, .proc = fn, .group = "list"

const rk_command rk_list_commands[] = {
    {LIST_CMD("lpush", -3, CMD_WRITE | CMD_DENYOOM | CMD_FAST, "@write @list @fast", cmd_lpush),
     KEY1("RW INSERT"), .summary = "Prepend one or multiple elements to a list", .since = "1.0.0",
     .complexity = PUSH_COMPLEXITY},
    {LIST_CMD("rpush", -3, CMD_WRITE | CMD_DENYOOM | CMD_FAST, "@write @list @fast", cmd_rpush),
     KEY1("RW INSERT"), .summary = "Append one or multiple elements to a list", .since = "1.0.0",
     .complexity = PUSH_COMPLEXITY},
    {LIST_CMD("lpushx", -3, CMD_WRITE | CMD_DENYOOM | CMD_FAST, "@write @list @fast", cmd_lpushx),
     KEY1("RW INSERT"), .summary = "Prepend an element to a list, only if the list exists", .since = "2.2.0",
     .complexity = PUSH_COMPLEXITY},
    {LIST_CMD("rpushx", -3, CMD_WRITE | CMD_DENYOOM | CMD_FAST, "@write @list @fast", cmd_rpushx),
     KEY1("RW INSERT"), .summary = "Append an element to a list, only if the list exists", .since = "2.2.0",
     .complexity = PUSH_COMPLEXITY},
    {LIST_CMD("lpop", -2, CMD_WRITE | CMD_FAST, "@write @list @fast", cmd_lpop), KEY1("RW ACCESS DELETE"),
     .summary = "Remove and get the first elements in a list", .since = "1.0.0",
     .complexity = "O(N) where N is the number of elements returned"},
    {LIST_CMD("rpop", -2, CMD_WRITE | CMD_FAST, "@write @list @fast", cmd_rpop), KEY1("RW ACCESS DELETE"),
     .summary = "Remove and get the last elements in a list", .since = "1.0.0",
     .complexity = "O(N) where N is the number of elements returned"},
    {LIST_CMD("llen", 2, CMD_READONLY | CMD_FAST, "@read @list @fast", cmd_llen), KEY1("RO"),
     .summary = "Get the length of a list", .since = "1.0.0", .complexity = "O(1)"},
    {LIST_CMD("lrange", 4, CMD_READONLY, "@read @list @slow", cmd_lrange), KEY1("RO ACCESS"),
     .summary = "Get a range of elements from a list", .since = "1.0.0",
     .complexity = "O(S+N) where S is the distance of start offset from HEAD for small lists, from nearest "
                   "end (HEAD or TAIL) for large lists; and N is the number of elements in the specified range."},
    {LIST_CMD("lindex", 3, CMD_READONLY, "@read @list @slow", cmd_lindex), KEY1("RO ACCESS"),
     .summary = "Get an element from a list by its index", .since = "1.0.0",
     .complexity = "O(N) where N is the number of elements to traverse to get to the element at index. This "
                   "makes asking for the first or the last element of the list O(1)."},
    {LIST_CMD("lset", 4, CMD_WRITE | CMD_DENYOOM, "@write @list @slow", cmd_lset), KEY1("RW UPDATE"),
     .summary = "Set the value of an element in a list by its index", .since = "1.0.0",
     .complexity = "O(N) where N is the length of the list. Setting either the first or the last element of "
                   "the list is O(1)."},
    {LIST_CMD("linsert", 5, CMD_WRITE | CMD_DENYOOM, "@write @list @slow", cmd_linsert), KEY1("RW INSERT"),
     .summary = "Insert an element before or after another element in a list", .since = "2.2.0",
     .complexity = "O(N) where N is the number of elements to traverse before seeing the value pivot. This "
                   "means that inserting somewhere on the left end on the list (head) can be considered O(1) "
                   "and inserting somewhere on the right end (tail) is O(N)."},
    {LIST_CMD("lrem", 4, CMD_WRITE, "@write @list @slow", cmd_lrem), KEY1("RW DELETE"),
     .summary = "Remove elements from a list", .since = "1.0.0",
     .complexity = "O(N+M) where N is the length of the list and M is the number of elements removed."},
    {LIST_CMD("ltrim", 4, CMD_WRITE, "@write @list @slow", cmd_ltrim), KEY1("RW DELETE"),
     .summary = "Trim a list to the specified range", .since = "1.0.0",
     .complexity = "O(N) where N is the number of elements to be removed by the operation."},
    {LIST_CMD("lpos", -3, CMD_READONLY, "@read @list @slow", cmd_lpos), KEY1("RO ACCESS"),
     .summary = "Return the index of matching elements on a list", .since = "6.0.6",
     .complexity = "O(N) where N is the number of elements in the list, for the average case. When searching "
                   "for elements near the head or the tail of the list, or when the MAXLEN option is provided, "
                   "the command may run in constant time."},
    {LIST_CMD("lmove", 5, CMD_WRITE | CMD_DENYOOM, "@write @list @slow", cmd_lmove), KEYS_SRC_DST,
     .summary = "Pop an element from a list, push it to another list and return it", .since = "6.2.0",
     .complexity = "O(1)"},
    {LIST_CMD("rpoplpush", 3, CMD_WRITE | CMD_DENYOOM, "@write @list @slow", cmd_rpoplpush), KEYS_SRC_DST,
     .summary = "Remove the last element in a list, prepend it to another list and return it",
     .since = "1.2.0", .complexity = "O(1)"},
    {LIST_CMD("lmpop", -4, CMD_WRITE, "@write @list @slow", cmd_lmpop),
     .keyspecs = {KS_KEYNUM("RW ACCESS DELETE", 1)}, .n_keyspecs = 1,
     .summary = "Pop elements from a list", .since = "7.0.0",
     .complexity = "O(N+M) where N is the number of provided keys and M is the number of elements returned."},
    {LIST_CMD("blpop", -3, CMD_WRITE | CMD_NOSCRIPT | CMD_BLOCKING, "@write @list @slow @blocking", cmd_blpop),
     .first_key = 1, .last_key = -2, .key_step = 1,
     .keyspecs = {KS_RANGE("RW ACCESS DELETE", 1, -2)}, .n_keyspecs = 1,
     .summary = "Remove and get the first element in a list, or block until one is available",
     .since = "2.0.0", .complexity = "O(N) where N is the number of provided keys."},
    {LIST_CMD("brpop", -3, CMD_WRITE | CMD_NOSCRIPT | CMD_BLOCKING, "@write @list @slow @blocking", cmd_brpop),
     .first_key = 1, .last_key = -2, .key_step = 1,
     .keyspecs = {KS_RANGE("RW ACCESS DELETE", 1, -2)}, .n_keyspecs = 1,
     .summary = "Remove and get the last element in a list, or block until one is available",
     .since = "2.0.0", .complexity = "O(N) where N is the number of provided keys."},
    {LIST_CMD("blmove", 6, CMD_WRITE | CMD_DENYOOM | CMD_NOSCRIPT | CMD_BLOCKING,
              "@write @list @slow @blocking", cmd_blmove),
     KEYS_SRC_DST,
     .summary = "Pop an element from a list, push it to another list and return it; or block until one is "
                "available",
     .since = "6.2.0", .complexity = "O(1)"},
    {LIST_CMD("brpoplpush", 4, CMD_WRITE | CMD_DENYOOM | CMD_NOSCRIPT | CMD_BLOCKING,
              "@write @list @slow @blocking", cmd_brpoplpush),
     KEYS_SRC_DST,
     .summary = "Pop an element from a list, push it to another list and return it; or block until one is "
                "available",
     .since = "2.2.0", .complexity = "O(1)"},
    {LIST_CMD("blmpop", -5, CMD_WRITE | CMD_BLOCKING, "@write @list @slow @blocking", cmd_blmpop),
     .keyspecs = {KS_KEYNUM("RW ACCESS DELETE", 2)}, .n_keyspecs = 1,
     .summary = "Pop elements from a list, or block until one is available", .since = "7.0.0",
     .complexity = "O(N+M) where N is the number of provided keys and M is the number of elements returned."},
    {0},
};
