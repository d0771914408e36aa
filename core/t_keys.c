/* t_keys.c: the generic key commands (DEL, EXISTS, TYPE, RENAME, COPY,
 * MOVE, EXPIRE family, TTL family, OBJECT) and the keyspace-wide ones
 * (KEYS, SCAN, RANDOMKEY, DBSIZE, FLUSHDB, FLUSHALL, SWAPDB).
 *
 * Threads: key procs run on the shard owning their keys, with c->db;
 * coordinators (rk_cmd_coord) run on the client's home shard and reach
 * other shards only through txn hops, each hop touching only the shard it
 * runs on and writing only its own out[] slot.
 *
 * Invariants: every keyspace change goes through db.h and counts
 * ctx_dirty (or s->dirty inside hops). SCAN's cursor is
 * dict_cursor * g_nshards + shard_index: one shard is scanned at a time,
 * in shard order, so a key present for the whole scan is returned. */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/alloc.h"
#include "core/client.h"
#include "core/command.h"
#include "core/config.h"
#include "core/db.h"
#include "core/journal.h"
#include "core/shard.h"
#include "core/txn.h"
#include "core/multi.h"
#include "core/t_keys.h"

/* ---------- small helpers ---------- */

static int slice_eq(rk_slice a, rk_slice b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

static int slice_is(rk_slice s, const char *lit)
{
    return rk_slice_eq_nocase(s, lit);
}

/* Parses an int as Redis's getIntFromObject: 1 on success. */
static int slice_to_int(rk_slice s, int *out)
{
    long long v;
    if (!rk_str2ll(s.ptr, s.len, &v) || v < INT_MIN || v > INT_MAX)
        return 0;
    *out = (int)v;
    return 1;
}


static int databases_of(const rk_shard *s)
{
    return s->cfg.databases;
}

/* The database `id` on this shard: the command's own db when it is the
 * client's (it may be a scratch db in multi-key runs). */
static rk_db *db_by_id(rk_ctx *c, int id)
{
    return id == c->dbid ? c->db : &c->shard->dbs[id];
}

/* ---------- DEL UNLINK EXISTS TOUCH TYPE ---------- */

/* DEL and UNLINK alike: a large value goes to the lazy-free queue so
 * neither stalls the shard (as if lazyfree-lazy-user-del were always on;
 * small values are freed at once either way). */
static void del_proc(rk_ctx *c)
{
    long long deleted = 0;
    for (int i = 1; i < c->argc; i++) {
        /* An expired key is removed by expiry, not counted as deleted. */
        if (db_lookup(c->shard, c->db, c->argv[i], LOOKUP_WRITE | LOOKUP_NOTOUCH) &&
            db_delete_lazy(c->shard, c->db, c->argv[i], 1))
            deleted++;
    }
    if (deleted)
        ctx_dirty(c, deleted);
    reply_int(&c->r, deleted);
}

static void exists_proc(rk_ctx *c)
{
    long long found = 0;
    for (int i = 1; i < c->argc; i++)
        if (db_lookup(c->shard, c->db, c->argv[i], LOOKUP_NOTOUCH))
            found++;
    reply_int(&c->r, found);
}

static void touch_proc(rk_ctx *c)
{
    long long found = 0;
    for (int i = 1; i < c->argc; i++)
        if (db_lookup(c->shard, c->db, c->argv[i], LOOKUP_NONE))
            found++;
    reply_int(&c->r, found);
}

static void type_proc(rk_ctx *c)
{
    rk_obj *o = db_lookup(c->shard, c->db, c->argv[1], LOOKUP_NOTOUCH);
    reply_simple(&c->r, o ? obj_type_name(o->type) : "none");
}

/* ---------- RENAME RENAMENX ---------- */

static void rename_generic(rk_ctx *c, int nx)
{
    rk_slice src = c->argv[1], dst = c->argv[2];
    if (!db_lookup(c->shard, c->db, src, LOOKUP_WRITE)) {
        ctx_error(c, "ERR no such key");
        return;
    }
    if (slice_eq(src, dst)) {
        if (nx)
            reply_int(&c->r, 0);
        else
            reply_ok(&c->r);
        return;
    }
    if (db_lookup(c->shard, c->db, dst, LOOKUP_WRITE)) {
        if (nx) {
            reply_int(&c->r, 0);
            return;
        }
        db_delete(c->shard, c->db, dst);
    }
    int64_t expire_ms = -1;
    rk_obj *val = db_take(c->shard, c->db, src, &expire_ms);
    if (!val) {
        ctx_oom(c);
        return;
    }
    if (db_add(c->shard, c->db, dst, val) < 0) {
        /* Put it back where it was; the source slot was just freed. */
        if (db_add(c->shard, c->db, src, val) == 0) {
            if (expire_ms >= 0)
                db_set_expire(c->shard, c->db, src, expire_ms);
        } else {
            obj_free(val);
        }
        ctx_oom(c);
        return;
    }
    if (expire_ms >= 0 && db_set_expire(c->shard, c->db, dst, expire_ms) < 0) {
        /* Without its TTL the key would live forever: drop it instead. */
        db_delete(c->shard, c->db, dst);
        ctx_dirty(c, 1);
        ctx_oom(c);
        return;
    }
    ctx_dirty(c, 1);
    if (nx)
        reply_int(&c->r, 1);
    else
        reply_ok(&c->r);
}

static void rename_proc(rk_ctx *c) { rename_generic(c, 0); }
static void renamenx_proc(rk_ctx *c) { rename_generic(c, 1); }

/* ---------- COPY MOVE ---------- */

static void copy_proc(rk_ctx *c)
{
    int dst_id = c->dbid, replace = 0;
    for (int i = 3; i < c->argc; i++) {
        if (slice_is(c->argv[i], "replace")) {
            replace = 1;
        } else if (slice_is(c->argv[i], "db") && i + 1 < c->argc) {
            long long id;
            if (ctx_arg_ll(c, i + 1, &id) < 0)
                return;
            if (id < 0 || id >= databases_of(c->shard) || id > INT_MAX) {
                ctx_error(c, "ERR DB index is out of range");
                return;
            }
            dst_id = (int)id;
            i++;
        } else {
            ctx_syntax_error(c);
            return;
        }
    }
    rk_slice src = c->argv[1], dst = c->argv[2];
    if (dst_id == c->dbid && slice_eq(src, dst)) {
        ctx_error(c, "ERR source and destination objects are the same");
        return;
    }
    rk_obj *o = db_lookup(c->shard, c->db, src, LOOKUP_NONE);
    if (!o) {
        reply_int(&c->r, 0);
        return;
    }
    rk_db *dst_db = db_by_id(c, dst_id);
    if (db_lookup(c->shard, dst_db, dst, LOOKUP_WRITE)) {
        if (!replace) {
            reply_int(&c->r, 0);
            return;
        }
        db_delete(c->shard, dst_db, dst);
        ctx_dirty(c, 1);
    }
    int64_t expire_ms = db_get_expire(c->db, src);
    rk_obj *copy = obj_dup(o);
    if (!copy) {
        ctx_oom(c);
        return;
    }
    if (db_add(c->shard, dst_db, dst, copy) < 0) {
        obj_free(copy);
        ctx_oom(c);
        return;
    }
    if (expire_ms >= 0 && db_set_expire(c->shard, dst_db, dst, expire_ms) < 0) {
        db_delete(c->shard, dst_db, dst);
        ctx_oom(c);
        return;
    }
    ctx_dirty(c, 1);
    reply_int(&c->r, 1);
}

/* The same shard owns a key in every db, so MOVE stays on this shard. */
static void move_proc(rk_ctx *c)
{
    long long id;
    if (ctx_arg_ll(c, 2, &id) < 0)
        return;
    if (id < INT_MIN || id > INT_MAX) {
        ctx_not_int(c);
        return;
    }
    if (id < 0 || id >= databases_of(c->shard)) {
        ctx_error(c, "ERR DB index is out of range");
        return;
    }
    if (id == c->dbid) {
        ctx_error(c, "ERR source and destination objects are the same");
        return;
    }
    rk_slice key = c->argv[1];
    if (!db_lookup(c->shard, c->db, key, LOOKUP_WRITE)) {
        reply_int(&c->r, 0);
        return;
    }
    rk_db *dst_db = db_by_id(c, (int)id);
    if (db_lookup(c->shard, dst_db, key, LOOKUP_WRITE)) {
        reply_int(&c->r, 0);
        return;
    }
    int64_t expire_ms = -1;
    rk_obj *val = db_take(c->shard, c->db, key, &expire_ms);
    if (!val) {
        ctx_oom(c);
        return;
    }
    rk_db *home = db_add(c->shard, dst_db, key, val) == 0 ? dst_db : NULL;
    if (!home && db_add(c->shard, c->db, key, val) == 0)
        home = c->db; /* could not move: restore */
    if (!home) {
        obj_free(val);
        ctx_dirty(c, 1);
        ctx_oom(c);
        return;
    }
    if (expire_ms >= 0 && db_set_expire(c->shard, home, key, expire_ms) < 0)
        db_delete(c->shard, home, key);
    if (home != dst_db) {
        ctx_oom(c);
        return;
    }
    ctx_dirty(c, 1);
    reply_int(&c->r, 1);
}

/* ---------- EXPIRE family ---------- */

enum { EXP_NX = 1, EXP_XX = 2, EXP_GT = 4, EXP_LT = 8 };

/* Parses NX XX GT LT from argv[3...]; replies and returns -1 on error. */
static int parse_expire_flags(rk_ctx *c, int *flags)
{
    *flags = 0;
    for (int i = 3; i < c->argc; i++) {
        rk_slice a = c->argv[i];
        if (slice_is(a, "nx"))
            *flags |= EXP_NX;
        else if (slice_is(a, "xx"))
            *flags |= EXP_XX;
        else if (slice_is(a, "gt"))
            *flags |= EXP_GT;
        else if (slice_is(a, "lt"))
            *flags |= EXP_LT;
        else {
            ctx_errorf(c, "ERR Unsupported option %.*s", (int)a.len, a.ptr);
            return -1;
        }
    }
    if ((*flags & EXP_NX) && (*flags & (EXP_XX | EXP_GT | EXP_LT))) {
        ctx_error(c, "ERR NX and XX, GT or LT options at the same time are not compatible");
        return -1;
    }
    if ((*flags & EXP_GT) && (*flags & EXP_LT)) {
        ctx_error(c, "ERR GT and LT options at the same time are not compatible");
        return -1;
    }
    return 0;
}

/* 1 when the flags allow replacing `current` (-1: none) with `when`. */
static int expire_flags_allow(int flags, int64_t current, int64_t when)
{
    if ((flags & EXP_NX) && current != -1)
        return 0;
    if ((flags & EXP_XX) && current == -1)
        return 0;
    /* No TTL counts as infinite: GT never beats it, LT always does. */
    if ((flags & EXP_GT) && (current == -1 || when <= current))
        return 0;
    if ((flags & EXP_LT) && current != -1 && when >= current)
        return 0;
    return 1;
}

/* Redis 7.0 journals every relative or second-based expire as PEXPIREAT
 * with the absolute time, keeping the NX/XX/GT/LT options. */
static void propagate_pexpireat(rk_ctx *c, int64_t when)
{
    if (!ctx_journaling(c))
        return;
    char num[24];
    int n = snprintf(num, sizeof(num), "%lld", (long long)when);
    rk_slice argv[8];
    int argc = c->argc < 8 ? c->argc : 8; /* at most 4 options: more were refused as incompatible */
    memcpy(argv, c->argv, sizeof(rk_slice) * (size_t)argc);
    argv[0] = RK_SLICE("PEXPIREAT");
    argv[2] = (rk_slice){num, (size_t)n};
    ctx_propagate(c, argc, argv);
}

static void expire_generic(rk_ctx *c, int64_t basetime_ms, int in_seconds)
{
    int flags;
    if (parse_expire_flags(c, &flags) < 0)
        return;
    long long when;
    if (ctx_arg_ll(c, 2, &when) < 0)
        return;
    if (in_seconds) {
        if (when > LLONG_MAX / 1000 || when < LLONG_MIN / 1000)
            goto invalid;
        when *= 1000;
    }
    if (when > LLONG_MAX - basetime_ms)
        goto invalid;
    when += basetime_ms;

    rk_slice key = c->argv[1];
    if (!db_lookup(c->shard, c->db, key, LOOKUP_WRITE)) {
        reply_int(&c->r, 0);
        return;
    }
    if (flags && !expire_flags_allow(flags, db_get_expire(c->db, key), when)) {
        reply_int(&c->r, 0);
        return;
    }
    if (db_ttl_already_expired(c->shard, when, c->now_ms)) {
        db_delete(c->shard, c->db, key);
        /* Redis: a time in the past deletes, propagated as DEL (UNLINK under lazyfree-lazy-expire). */
        rk_slice del[2] = {c->shard->cfg.lazyfree_lazy_expire ? RK_SLICE("UNLINK") : RK_SLICE("DEL"), key};
        ctx_propagate(c, 2, del);
    } else if (db_set_expire(c->shard, c->db, key, when) < 0) {
        ctx_oom(c);
        return;
    } else {
        propagate_pexpireat(c, when);
    }
    ctx_dirty(c, 1);
    reply_int(&c->r, 1);
    return;
invalid:
    ctx_errorf(c, "ERR invalid expire time in '%s' command", c->cmd->name);
}

static void expire_proc(rk_ctx *c) { expire_generic(c, c->now_ms, 1); }
static void pexpire_proc(rk_ctx *c) { expire_generic(c, c->now_ms, 0); }
static void expireat_proc(rk_ctx *c) { expire_generic(c, 0, 1); }
static void pexpireat_proc(rk_ctx *c) { expire_generic(c, 0, 0); }

/* ---------- TTL family, PERSIST ---------- */

static void ttl_generic(rk_ctx *c, int in_ms, int absolute)
{
    rk_slice key = c->argv[1];
    if (!db_lookup(c->shard, c->db, key, LOOKUP_NOTOUCH)) {
        reply_int(&c->r, -2);
        return;
    }
    int64_t when = db_get_expire(c->db, key);
    if (when == -1) {
        reply_int(&c->r, -1);
        return;
    }
    int64_t v = absolute ? when : when - c->now_ms;
    if (v < 0)
        v = 0;
    reply_int(&c->r, in_ms ? v : (v + 500) / 1000);
}

static void ttl_proc(rk_ctx *c) { ttl_generic(c, 0, 0); }
static void pttl_proc(rk_ctx *c) { ttl_generic(c, 1, 0); }
static void expiretime_proc(rk_ctx *c) { ttl_generic(c, 0, 1); }
static void pexpiretime_proc(rk_ctx *c) { ttl_generic(c, 1, 1); }

static void persist_proc(rk_ctx *c)
{
    rk_slice key = c->argv[1];
    if (db_lookup(c->shard, c->db, key, LOOKUP_WRITE) && db_persist(c->db, key)) {
        ctx_dirty(c, 1);
        reply_int(&c->r, 1);
        return;
    }
    reply_int(&c->r, 0);
}

/* ---------- OBJECT ---------- */

static rk_obj *object_lookup_or_null(rk_ctx *c)
{
    rk_obj *o = db_lookup(c->shard, c->db, c->argv[2], LOOKUP_NOTOUCH);
    if (!o)
        reply_null(&c->r);
    return o;
}

static void object_encoding_proc(rk_ctx *c)
{
    rk_obj *o = object_lookup_or_null(c);
    if (o)
        reply_bulk_str(&c->r, obj_encoding_name(o->encoding));
}

static void object_refcount_proc(rk_ctx *c)
{
    rk_obj *o = object_lookup_or_null(c);
    if (!o)
        return;
    /* Redis shares small integers and reports them as immortal. */
    int shared = o->type == OBJ_STRING && o->encoding == ENC_INT && o->u.ival >= 0 &&
                 o->u.ival < OBJ_SHARED_INTEGERS;
    reply_int(&c->r, shared ? INT_MAX : 1);
}

static int lfu_policy(const rk_ctx *c)
{
    return (c->shard->cfg.maxmemory_policy & MAXMEMORY_FLAG_LFU) != 0;
}

static void object_idletime_proc(rk_ctx *c)
{
    rk_obj *o = object_lookup_or_null(c);
    if (!o)
        return;
    if (lfu_policy(c)) {
        ctx_error(c, "ERR An LFU maxmemory policy is selected, idle time not tracked. "
                     "Please note that when switching between policies at runtime LRU and LFU "
                     "data will take some time to adjust.");
        return;
    }
    reply_int(&c->r, (int64_t)(db_lru_idle_ms(o, c->now_ms) / 1000));
}

static void object_freq_proc(rk_ctx *c)
{
    rk_obj *o = object_lookup_or_null(c);
    if (!o)
        return;
    if (!lfu_policy(c)) {
        ctx_error(c, "ERR An LFU maxmemory policy is not selected, access frequency not tracked. "
                     "Please note that when switching between policies at runtime LRU and LFU "
                     "data will take some time to adjust.");
        return;
    }
    reply_int(&c->r, db_lfu_decayed(c->shard, o, c->now_ms));
}

static void object_help_proc(rk_ctx *c)
{
    static const char *const lines[] = {
        "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "ENCODING <key>",
        "    Return the kind of internal representation used in order to store the value",
        "    associated with a <key>.",
        "FREQ <key>",
        "    Return the access frequency index of the <key>. The returned integer is",
        "    proportional to the logarithm of the recent access frequency of the key.",
        "IDLETIME <key>",
        "    Return the idle time of the <key>, that is the approximated number of",
        "    seconds elapsed since the last access to the key.",
        "REFCOUNT <key>",
        "    Return the number of references of the value associated with the specified",
        "    <key>.",
        "HELP",
        "    Prints this help.",
    };
    const size_t n = sizeof lines / sizeof lines[0];
    reply_array(&c->r, (int64_t)n);
    for (size_t i = 0; i < n; i++)
        reply_simple(&c->r, lines[i]);
}

/* Reached only when the dispatcher found no matching subcommand. */
static void object_proc(rk_ctx *c)
{
    rk_slice sub = c->argc > 1 ? c->argv[1] : RK_SLICE("");
    ctx_errorf(c, "ERR unknown subcommand '%.*s'. Try OBJECT HELP.", (int)sub.len, sub.ptr);
}

/* ---------- coordinator helpers ---------- */

/* Replies to a client whose transaction could not even be allocated. */
static void coord_error(rk_client *c, const char *msg);

static void coord_oom(rk_client *c)
{
    coord_error(c, "ERR out of memory");
}

/* Replies to an argument error found before any transaction exists: the
 * client has nothing in flight (EXEC_ALL is a barrier), so the reply goes
 * straight to its buffer, as arity errors do. */
static void coord_error(rk_client *c, const char *msg)
{
    rk_reply r = {client_reply_buf(c), c->resp};
    reply_error(&r, msg);
    shard_count_error(c->home, msg);
}

static void txn_reply_oom(rk_txn *t)
{
    reply_error(&t->r, "ERR out of memory");
}

static int put_u64(rk_buf *out, uint64_t v)
{
    return rk_buf_append(out, &v, sizeof v);
}

static uint64_t get_u64(const rk_buf *b, size_t off)
{
    uint64_t v = 0;
    if (b->len >= off + sizeof v)
        memcpy(&v, b->data + off, sizeof v);
    return v;
}

/* A hop's result: a u64 count (HOP_FAILED on OOM) followed by RESP bulks. */
#define HOP_FAILED UINT64_MAX
#define HOP_HDR 8

static void hop_fail(rk_buf *out)
{
    rk_buf_clear(out);
    put_u64(out, HOP_FAILED);
}

/* Appends the per-shard RESP bulks of every hop behind one array header. */
static void reply_concat_hops(rk_txn *t, size_t hdr)
{
    uint64_t total = 0;
    for (int i = 0; i < g_nshards; i++) {
        if (!(t->shard_mask & (1ull << i)))
            continue;
        uint64_t n = get_u64(&t->out[i], hdr - HOP_HDR);
        if (n == HOP_FAILED) {
            txn_reply_oom(t);
            return;
        }
        total += n;
    }
    reply_array(&t->r, (int64_t)total);
    for (int i = 0; i < g_nshards; i++) {
        if (!(t->shard_mask & (1ull << i)) || t->out[i].len <= hdr)
            continue;
        rk_buf_append(t->r.out, t->out[i].data + hdr, t->out[i].len - hdr);
    }
}

static int key_matches(rk_slice pattern, int match_all, const rk_str *k)
{
    return match_all || glob_match(pattern.ptr, pattern.len, k->data, k->len, 0);
}

static int pattern_is_all(rk_slice p)
{
    return p.len == 1 && p.ptr[0] == '*';
}

/* ---------- KEYS ---------- */

static void keys_hop(rk_shard *s, rk_txn *t, rk_buf *out)
{
    rk_db *db = &s->dbs[t->dbid];
    rk_slice pattern = t->argv[1];
    const int all = pattern_is_all(pattern);
    const int64_t now = rk_mstime();
    rk_reply r = {out, t->resp};
    uint64_t n = 0;
    rk_buf_clear(out);
    if (put_u64(out, 0) < 0) {
        hop_fail(out);
        return;
    }
    dict_iter it;
    dict_iter_init(&it, db->keys, 0);
    for (dict_entry *e; (e = dict_next(&it));) {
        const rk_str *k = e->key;
        if (!key_matches(pattern, all, k) || db_key_is_expired_at(db, k, now))
            continue;
        if (reply_bulk(&r, k->data, k->len) < 0) {
            dict_iter_release(&it);
            hop_fail(out);
            return;
        }
        n++;
    }
    dict_iter_release(&it);
    memcpy(out->data, &n, sizeof n);
}

static void keys_step(rk_txn *t)
{
    reply_concat_hops(t, HOP_HDR);
    txn_finish(t);
}

static void keys_coord(rk_client *c, const rk_command *cmd, int argc, rk_slice *argv)
{
    rk_txn *t = txn_new(c, cmd, txn_all_shards(), argc, argv);
    if (!t) {
        coord_oom(c);
        return;
    }
    txn_start(t, keys_hop, keys_step);
}

/* ---------- SCAN ---------- */

typedef struct scan_args {
    int shard;             /* the shard the cursor points into */
    uint64_t dict_cursor;
    long long count;
    int pattern_idx;       /* argv index of MATCH's pattern, 0 when none */
    int match_all;         /* the pattern is "*" */
    int type_idx;          /* argv index of TYPE's name, 0 when none */
} scan_args;

typedef struct scan_walk {
    const scan_args *a;
    rk_slice pattern, type; /* resolved in t->argv */
    rk_db *db;
    int64_t now_ms;
    rk_reply r;
    uint64_t seen, returned;
    int failed;
} scan_walk;

static void scan_visit(void *ud, dict_entry *e)
{
    scan_walk *w = ud;
    const rk_str *k = e->key;
    const rk_obj *o = e->v.val;
    w->seen++;
    if (w->failed)
        return;
    if (w->a->pattern_idx && !key_matches(w->pattern, w->a->match_all, k))
        return;
    if (w->a->type_idx && !slice_is(w->type, obj_type_name(o->type)))
        return;
    if (db_key_is_expired_at(w->db, k, w->now_ms))
        return;
    if (reply_bulk(&w->r, k->data, k->len) < 0) {
        w->failed = 1;
        return;
    }
    w->returned++;
}

/* Output: u64 next dict cursor, u64 key count, RESP bulks. */
static void scan_hop(rk_shard *s, rk_txn *t, rk_buf *out)
{
    const scan_args *a = t->arg;
    rk_db *db = &s->dbs[t->dbid];
    scan_walk w = {.a = a, .db = db, .now_ms = rk_mstime(), .r = {out, t->resp}};
    if (a->pattern_idx)
        w.pattern = t->argv[a->pattern_idx];
    if (a->type_idx)
        w.type = t->argv[a->type_idx];
    rk_buf_clear(out);
    if (put_u64(out, 0) < 0 || put_u64(out, 0) < 0) {
        hop_fail(out);
        return;
    }
    uint64_t cursor = a->dict_cursor;
    /* Like Redis: bound the empty buckets visited to 10x COUNT. */
    long long max_steps = a->count * 10;
    do {
        cursor = dict_scan(db->keys, cursor, scan_visit, &w);
    } while (cursor && --max_steps > 0 && w.seen < (uint64_t)a->count && !w.failed);
    if (w.failed) {
        hop_fail(out);
        return;
    }
    memcpy(out->data, &cursor, sizeof cursor);
    memcpy(out->data + 8, &w.returned, sizeof w.returned);
}

static void scan_step(rk_txn *t)
{
    const scan_args *a = t->arg;
    const rk_buf *out = &t->out[a->shard];
    if (get_u64(out, 0) == HOP_FAILED) {
        txn_reply_oom(t);
        txn_finish(t);
        return;
    }
    uint64_t dict_next = get_u64(out, 0);
    uint64_t next;
    if (dict_next != 0)
        next = dict_next * (uint64_t)g_nshards + (uint64_t)a->shard;
    else if (a->shard + 1 < g_nshards)
        next = (uint64_t)a->shard + 1; /* the next shard, from its start */
    else
        next = 0;
    char buf[24];
    int len = snprintf(buf, sizeof buf, "%llu", (unsigned long long)next);
    reply_array(&t->r, 2);
    reply_bulk(&t->r, buf, (size_t)len);
    reply_concat_hops(t, 2 * HOP_HDR);
    txn_finish(t);
}

/* Parses SCAN's arguments into a. Returns NULL, or the error to reply. */
static const char *scan_parse(int argc, const rk_slice *argv, scan_args *a)
{
    uint64_t cursor;
    if (!rk_parse_scan_cursor(argv[1], &cursor))
        return "ERR invalid cursor";
    a->shard = (int)(cursor % (uint64_t)g_nshards);
    a->dict_cursor = cursor / (uint64_t)g_nshards;
    a->count = 10;
    for (int i = 2; i < argc; i += 2) {
        rk_slice opt = argv[i];
        if (i + 1 >= argc)
            return "ERR syntax error";
        rk_slice val = argv[i + 1];
        if (slice_is(opt, "count")) {
            long long n;
            if (!rk_str2ll(val.ptr, val.len, &n))
                return "ERR value is not an integer or out of range";
            if (n < 1)
                return "ERR syntax error";
            a->count = n;
        } else if (slice_is(opt, "match")) {
            a->pattern_idx = i + 1;
            a->match_all = pattern_is_all(val);
        } else if (slice_is(opt, "type")) {
            a->type_idx = i + 1;
        } else {
            return "ERR syntax error";
        }
    }
    if (a->count > LLONG_MAX / 10)
        a->count = LLONG_MAX / 10;
    return NULL;
}

static void scan_coord(rk_client *c, const rk_command *cmd, int argc, rk_slice *argv)
{
    scan_args parsed = {0};
    const char *error = scan_parse(argc, argv, &parsed);
    if (error) {
        coord_error(c, error);
        return;
    }
    scan_args *a = rk_malloc(sizeof *a);
    if (!a) {
        coord_oom(c);
        return;
    }
    *a = parsed;
    rk_txn *t = txn_new(c, cmd, 1ull << a->shard, argc, argv);
    if (!t) {
        rk_free(a);
        coord_oom(c);
        return;
    }
    t->arg = a;
    t->arg_free = rk_free;
    txn_start(t, scan_hop, scan_step);
}

/* ---------- RANDOMKEY ---------- */

/* Output: u64 live-ish key count, then the raw bytes of one random live key (if any). */
static void randomkey_hop(rk_shard *s, rk_txn *t, rk_buf *out)
{
    rk_db *db = &s->dbs[t->dbid];
    const int64_t now = rk_mstime();
    rk_buf_clear(out);
    for (int tries = 0; tries < 100; tries++) {
        dict_entry *e = dict_random(db->keys);
        if (!e)
            break;
        const rk_str *k = e->key;
        if (db_key_is_expired_at(db, k, now)) {
            /* A replica awaits its master's DEL (db_lookup's rule). */
            if (s->repl_view.is_replica)
                continue;
            rk_slice del[2] = {s->cfg.lazyfree_lazy_expire ? RK_SLICE("UNLINK") : RK_SLICE("DEL"), rkstr_slice(k)};
            journal_append_argv(s->journal, db->id, 2, del);
            db_delete(s, db, rkstr_slice(k));
            s->stats.expired_keys++;
            continue;
        }
        if (put_u64(out, dict_size(db->keys)) < 0 || rk_buf_append(out, k->data, k->len) < 0) {
            hop_fail(out);
            return;
        }
        return;
    }
    put_u64(out, 0);
}

static uint64_t rk_random64(void)
{
    static __thread uint64_t state;
    if (state == 0)
        state = (uint64_t)rk_ustime() ^ ((uint64_t)(uintptr_t)&state << 16) ^ 0x9e3779b97f4a7c15ULL;
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
}

static void randomkey_step(rk_txn *t)
{
    uint64_t total = 0;
    for (int i = 0; i < g_nshards; i++) {
        uint64_t n = get_u64(&t->out[i], 0);
        if (n == HOP_FAILED) {
            txn_reply_oom(t);
            txn_finish(t);
            return;
        }
        total += n;
    }
    if (total == 0) {
        reply_null(&t->r);
        txn_finish(t);
        return;
    }
    /* Pick a shard with probability proportional to its size. */
    uint64_t pick = rk_random64() % total;
    for (int i = 0; i < g_nshards; i++) {
        uint64_t n = get_u64(&t->out[i], 0);
        if (pick < n) {
            reply_bulk(&t->r, t->out[i].data + HOP_HDR, t->out[i].len - HOP_HDR);
            txn_finish(t);
            return;
        }
        pick -= n;
    }
    reply_null(&t->r);
    txn_finish(t);
}

static void randomkey_coord(rk_client *c, const rk_command *cmd, int argc, rk_slice *argv)
{
    rk_txn *t = txn_new(c, cmd, txn_all_shards(), argc, argv);
    if (!t) {
        coord_oom(c);
        return;
    }
    txn_start(t, randomkey_hop, randomkey_step);
}

/* ---------- DBSIZE ---------- */

static void dbsize_hop(rk_shard *s, rk_txn *t, rk_buf *out)
{
    rk_buf_clear(out);
    if (put_u64(out, dict_size(s->dbs[t->dbid].keys)) < 0)
        hop_fail(out);
}

static void dbsize_step(rk_txn *t)
{
    uint64_t total = 0;
    for (int i = 0; i < g_nshards; i++) {
        uint64_t n = get_u64(&t->out[i], 0);
        if (n == HOP_FAILED) {
            txn_reply_oom(t);
            txn_finish(t);
            return;
        }
        total += n;
    }
    reply_int(&t->r, (int64_t)total);
    txn_finish(t);
}

static void dbsize_coord(rk_client *c, const rk_command *cmd, int argc, rk_slice *argv)
{
    rk_txn *t = txn_new(c, cmd, txn_all_shards(), argc, argv);
    if (!t) {
        coord_oom(c);
        return;
    }
    txn_start(t, dbsize_hop, dbsize_step);
}

/* ---------- FLUSHDB FLUSHALL SWAPDB ---------- */

/* [ASYNC|SYNC]: 1 when valid. */
static int flush_option_ok(int argc, const rk_slice *argv)
{
    return argc == 1 || (argc == 2 && (slice_is(argv[1], "async") || slice_is(argv[1], "sync")));
}

/* ASYNC (or no option under lazyfree-lazy-user-flush) detaches the
 * keyspace in O(1) and leaves the freeing to the shard's lazy-free queue;
 * SYNC frees inside the hop. Either way the hop runs while every shard is
 * paused, so the flush is atomic. */
static int flush_is_async(const rk_shard *s, const rk_txn *t)
{
    if (t->argc == 2)
        return slice_is(t->argv[1], "async");
    return s->cfg.lazyfree_lazy_user_flush;
}

static uint64_t flush_one_db(rk_shard *s, rk_db *db, int async)
{
    watch_touch_db(s, db); /* as Redis: WATCHed keys that existed are touched */
    return async ? db_empty_async(s, db) : db_empty(db);
}

/* A whole-server write (FLUSHALL, FLUSHDB, SWAPDB) is journaled as its own
 * argv on every shard, as Redis propagates it (even when nothing was
 * there), framed as one multi-shard transaction; inside EXEC the
 * transaction's own frame holds it (t->parent). */
static void journal_all_shards_argv(rk_shard *s, rk_txn *t)
{
    rk_journal *j = s->journal;
    if (!journal_active(j))
        return;
    if (!t->parent)
        journal_txn_begin(j, t->seq, t->shard_mask);
    journal_append_argv(j, t->dbid, t->argc, t->argv);
    if (!t->parent)
        journal_txn_end(j, t->seq, t->shard_mask);
}

static void flushdb_hop(rk_shard *s, rk_txn *t, rk_buf *out)
{
    (void)out;
    s->dirty += (int64_t)flush_one_db(s, &s->dbs[t->dbid], flush_is_async(s, t));
    journal_all_shards_argv(s, t);
}

static void flushall_hop(rk_shard *s, rk_txn *t, rk_buf *out)
{
    (void)out;
    const int async = flush_is_async(s, t);
    uint64_t removed = 0;
    for (int i = 0; i < s->cfg.databases; i++)
        removed += flush_one_db(s, &s->dbs[i], async);
    s->dirty += (int64_t)removed;
    journal_all_shards_argv(s, t);
}

static void ok_step(rk_txn *t)
{
    reply_ok(&t->r);
    txn_finish(t);
}

/* Starts an all-shard transaction running hop and answering +OK. */
static void start_all_shards_ok(rk_client *c, const rk_command *cmd, int argc, rk_slice *argv,
                                rk_hop_fn *hop)
{
    rk_txn *t = txn_new(c, cmd, txn_all_shards(), argc, argv);
    if (!t) {
        coord_oom(c);
        return;
    }
    txn_start(t, hop, ok_step);
}

static void flushdb_coord(rk_client *c, const rk_command *cmd, int argc, rk_slice *argv)
{
    if (!flush_option_ok(argc, argv)) {
        coord_error(c, "ERR syntax error");
        return;
    }
    start_all_shards_ok(c, cmd, argc, argv, flushdb_hop);
}

static void flushall_coord(rk_client *c, const rk_command *cmd, int argc, rk_slice *argv)
{
    if (!flush_option_ok(argc, argv)) {
        coord_error(c, "ERR syntax error");
        return;
    }
    start_all_shards_ok(c, cmd, argc, argv, flushall_hop);
}

/* The coordinator validated both indexes; each hop re-reads them. */
static void swapdb_hop(rk_shard *s, rk_txn *t, rk_buf *out)
{
    (void)out;
    int a = 0, b = 0;
    const int ok = slice_to_int(t->argv[1], &a) && slice_to_int(t->argv[2], &b);
    assert(ok && a >= 0 && b >= 0 && a < s->cfg.databases && b < s->cfg.databases);
    (void)ok;
    if (a != b) {
        /* Keys watched in either db see their value change (or appear). */
        watch_touch_db(s, &s->dbs[a]);
        watch_touch_db(s, &s->dbs[b]);
        db_swap(&s->dbs[a], &s->dbs[b]);
        watch_touch_db(s, &s->dbs[a]);
        watch_touch_db(s, &s->dbs[b]);
    }
    s->dirty++;
    journal_all_shards_argv(s, t);
}

static void swapdb_coord(rk_client *c, const rk_command *cmd, int argc, rk_slice *argv)
{
    int a, b;
    if (!slice_to_int(argv[1], &a)) {
        coord_error(c, "ERR invalid first DB index");
        return;
    }
    if (!slice_to_int(argv[2], &b)) {
        coord_error(c, "ERR invalid second DB index");
        return;
    }
    const int ndb = c->home->cfg.databases;
    if (a < 0 || a >= ndb || b < 0 || b >= ndb) {
        coord_error(c, "ERR DB index is out of range");
        return;
    }
    start_all_shards_ok(c, cmd, argc, argv, swapdb_hop);
}

/* ---------- the table ---------- */

#define KS_RANGE(fl, idx, last, step) \
    {.flags = (fl), .bs_index = (idx), .fk_keynum = 0, .fk_lastkey = (last), .fk_step = (step), .fk_limit = 0}

#define ALL_KEYS_TIPS "request_policy:multi_shard response_policy:agg_sum"

static const rk_command object_subcommands[] = {
    {.name = "encoding", .arity = 3, .flags = CMD_READONLY, .acl_categories = "@keyspace @read @slow",
     .exec = EXEC_KEYS, .proc = object_encoding_proc, .first_key = 2, .last_key = 2, .key_step = 1,
     .keyspecs = {KS_RANGE("RO", 2, 0, 1)}, .n_keyspecs = 1,
     .summary = "Inspect the internal encoding of a Redis object", .since = "2.2.3", .group = "generic",
     .complexity = "O(1)", .tips = "nondeterministic_output"},
    {.name = "freq", .arity = 3, .flags = CMD_READONLY, .acl_categories = "@keyspace @read @slow",
     .exec = EXEC_KEYS, .proc = object_freq_proc, .first_key = 2, .last_key = 2, .key_step = 1,
     .keyspecs = {KS_RANGE("RO", 2, 0, 1)}, .n_keyspecs = 1,
     .summary = "Get the logarithmic access frequency counter of a Redis object", .since = "4.0.0",
     .group = "generic", .complexity = "O(1)", .tips = "nondeterministic_output"},
    {.name = "help", .arity = 2, .flags = CMD_LOADING | CMD_STALE, .acl_categories = "@keyspace @slow",
     .exec = EXEC_CONN, .proc = object_help_proc,
     .summary = "Show helpful text about the different subcommands", .since = "6.2.0", .group = "generic",
     .complexity = "O(1)"},
    {.name = "idletime", .arity = 3, .flags = CMD_READONLY, .acl_categories = "@keyspace @read @slow",
     .exec = EXEC_KEYS, .proc = object_idletime_proc, .first_key = 2, .last_key = 2, .key_step = 1,
     .keyspecs = {KS_RANGE("RO", 2, 0, 1)}, .n_keyspecs = 1,
     .summary = "Get the time since a Redis object was last accessed", .since = "2.2.3", .group = "generic",
     .complexity = "O(1)", .tips = "nondeterministic_output"},
    {.name = "refcount", .arity = 3, .flags = CMD_READONLY, .acl_categories = "@keyspace @read @slow",
     .exec = EXEC_KEYS, .proc = object_refcount_proc, .first_key = 2, .last_key = 2, .key_step = 1,
     .keyspecs = {KS_RANGE("RO", 2, 0, 1)}, .n_keyspecs = 1,
     .summary = "Get the number of references to the value of the key", .since = "2.2.3", .group = "generic",
     .complexity = "O(1)", .tips = "nondeterministic_output"},
    {0},
};

#define KEY1(fl) .first_key = 1, .last_key = 1, .key_step = 1, .keyspecs = {KS_RANGE(fl, 1, 0, 1)}, .n_keyspecs = 1
#define KEYS_ALL(fl) .first_key = 1, .last_key = -1, .key_step = 1, .keyspecs = {KS_RANGE(fl, 1, -1, 1)}, .n_keyspecs = 1
#define KEY_SRC_DST(f1, f2)                                                                  \
    .first_key = 1, .last_key = 2, .key_step = 1,                                              \
    .keyspecs = {KS_RANGE(f1, 1, 0, 1), KS_RANGE(f2, 2, 0, 1)}, .n_keyspecs = 2

#define EXPIRE_CMD(nm, fn, sum, ver)                                                          \
    {.name = nm, .arity = -3, .flags = CMD_WRITE | CMD_FAST, .acl_categories = "@keyspace @write @fast", \
     .exec = EXEC_KEYS, .proc = fn, KEY1("RW UPDATE"), .summary = sum, .since = ver,          \
     .group = "generic", .complexity = "O(1)"}
#define TTL_CMD(nm, fn, sum, ver, tip)                                                        \
    {.name = nm, .arity = 2, .flags = CMD_READONLY | CMD_FAST, .acl_categories = "@keyspace @read @fast", \
     .exec = EXEC_KEYS, .proc = fn, KEY1("RO ACCESS"), .summary = sum, .since = ver,          \
     .group = "generic", .complexity = "O(1)", .tips = tip}
#define ALL_CMD(nm, ar, fl, acl, fn, sum, ver, cx, tip)                                       \
    {.name = nm, .arity = ar, .flags = fl, .acl_categories = acl, .exec = EXEC_ALL, .coord = fn, \
     .summary = sum, .since = ver, .group = "generic", .complexity = cx, .tips = tip}

const rk_command rk_key_commands[] = {
    {.name = "del", .arity = -2, .flags = CMD_WRITE, .acl_categories = "@keyspace @write @slow",
     .exec = EXEC_KEYS, .merge = MERGE_SUM, .proc = del_proc, KEYS_ALL("RM DELETE"),
     .summary = "Delete a key", .since = "1.0.0", .group = "generic", .complexity = "O(N)",
     .tips = ALL_KEYS_TIPS},
    {.name = "unlink", .arity = -2, .flags = CMD_WRITE | CMD_FAST, .acl_categories = "@keyspace @write @fast",
     .exec = EXEC_KEYS, .merge = MERGE_SUM, .proc = del_proc, KEYS_ALL("RM DELETE"),
     .summary = "Delete a key asynchronously in another thread. Otherwise it is just as DEL, but non blocking.",
     .since = "4.0.0", .group = "generic", .complexity = "O(1) for each key removed", .tips = ALL_KEYS_TIPS},
    {.name = "exists", .arity = -2, .flags = CMD_READONLY | CMD_FAST, .acl_categories = "@keyspace @read @fast",
     .exec = EXEC_KEYS, .merge = MERGE_SUM, .proc = exists_proc, KEYS_ALL("RO"),
     .summary = "Determine if a key exists", .since = "1.0.0", .group = "generic",
     .complexity = "O(N) where N is the number of keys to check.", .tips = ALL_KEYS_TIPS},
    {.name = "touch", .arity = -2, .flags = CMD_READONLY | CMD_FAST, .acl_categories = "@keyspace @read @fast",
     .exec = EXEC_KEYS, .merge = MERGE_SUM, .proc = touch_proc, KEYS_ALL("RO"),
     .summary = "Alters the last access time of a key(s). Returns the number of existing keys specified.",
     .since = "3.2.1", .group = "generic", .complexity = "O(N) where N is the number of keys that will be touched.",
     .tips = ALL_KEYS_TIPS},
    {.name = "type", .arity = 2, .flags = CMD_READONLY | CMD_FAST, .acl_categories = "@keyspace @read @fast",
     .exec = EXEC_KEYS, .proc = type_proc, KEY1("RO"), .summary = "Determine the type stored at key",
     .since = "1.0.0", .group = "generic", .complexity = "O(1)"},
    {.name = "rename", .arity = 3, .flags = CMD_WRITE, .acl_categories = "@keyspace @write @slow",
     .exec = EXEC_KEYS, .proc = rename_proc, KEY_SRC_DST("RW ACCESS DELETE", "OW UPDATE"),
     .summary = "Rename a key", .since = "1.0.0", .group = "generic", .complexity = "O(1)"},
    {.name = "renamenx", .arity = 3, .flags = CMD_WRITE | CMD_FAST, .acl_categories = "@keyspace @write @fast",
     .exec = EXEC_KEYS, .proc = renamenx_proc, KEY_SRC_DST("RW ACCESS DELETE", "OW INSERT"),
     .summary = "Rename a key, only if the new key does not exist", .since = "1.0.0", .group = "generic",
     .complexity = "O(1)"},
    {.name = "copy", .arity = -3, .flags = CMD_WRITE | CMD_DENYOOM, .acl_categories = "@keyspace @write @slow",
     .exec = EXEC_KEYS, .proc = copy_proc, KEY_SRC_DST("RO ACCESS", "OW UPDATE"),
     .summary = "Copy a key", .since = "6.2.0", .group = "generic",
     .complexity = "O(N) worst case for collections, where N is the number of nested items. O(1) for string values."},
    {.name = "move", .arity = 3, .flags = CMD_WRITE | CMD_FAST, .acl_categories = "@keyspace @write @fast",
     .exec = EXEC_KEYS, .proc = move_proc, KEY1("RW ACCESS DELETE"),
     .summary = "Move a key to another database", .since = "1.0.0", .group = "generic", .complexity = "O(1)"},
    EXPIRE_CMD("expire", expire_proc, "Set a key's time to live in seconds", "1.0.0"),
    EXPIRE_CMD("pexpire", pexpire_proc, "Set a key's time to live in milliseconds", "2.6.0"),
    EXPIRE_CMD("expireat", expireat_proc, "Set the expiration for a key as a UNIX timestamp", "1.2.0"),
    EXPIRE_CMD("pexpireat", pexpireat_proc, "Set the expiration for a key as a UNIX timestamp specified in milliseconds", "2.6.0"),
    TTL_CMD("ttl", ttl_proc, "Get the time to live for a key in seconds", "1.0.0", "nondeterministic_output"),
    TTL_CMD("pttl", pttl_proc, "Get the time to live for a key in milliseconds", "2.6.0", "nondeterministic_output"),
    TTL_CMD("expiretime", expiretime_proc, "Get the expiration Unix timestamp for a key", "7.0.0", NULL),
    TTL_CMD("pexpiretime", pexpiretime_proc, "Get the expiration Unix timestamp for a key in milliseconds", "7.0.0", NULL),
    {.name = "persist", .arity = 2, .flags = CMD_WRITE | CMD_FAST, .acl_categories = "@keyspace @write @fast",
     .exec = EXEC_KEYS, .proc = persist_proc, KEY1("RW UPDATE"),
     .summary = "Remove the expiration from a key", .since = "2.2.0", .group = "generic", .complexity = "O(1)"},
    {.name = "object", .arity = -2, .flags = 0, .acl_categories = "@slow", .exec = EXEC_CONN,
     .proc = object_proc, .summary = "A container for object introspection commands", .since = "2.2.3",
     .group = "generic", .complexity = "Depends on subcommand.", .subcommands = object_subcommands},
    ALL_CMD("keys", 2, CMD_READONLY, "@keyspace @read @slow @dangerous", keys_coord,
            "Find all keys matching the given pattern", "1.0.0",
            "O(N) with N being the number of keys in the database",
            "request_policy:all_shards nondeterministic_output_order"),
    ALL_CMD("scan", -2, CMD_READONLY, "@keyspace @read @slow", scan_coord,
            "Incrementally iterate the keys space", "2.8.0",
            "O(1) for every call. O(N) for a complete iteration.",
            "nondeterministic_output request_policy:special response_policy:special"),
    ALL_CMD("randomkey", 1, CMD_READONLY, "@keyspace @read @slow", randomkey_coord,
            "Return a random key from the keyspace", "1.0.0", "O(1)",
            "request_policy:all_shards response_policy:special nondeterministic_output"),
    {.name = "dbsize", .arity = 1, .flags = CMD_READONLY | CMD_FAST, .acl_categories = "@keyspace @read @fast",
     .exec = EXEC_ALL, .coord = dbsize_coord, .summary = "Return the number of keys in the selected database",
     .since = "1.0.0", .group = "server", .complexity = "O(1)",
     .tips = "request_policy:all_shards response_policy:agg_sum"},
    {.name = "flushdb", .arity = -1, .flags = CMD_WRITE, .acl_categories = "@keyspace @write @slow @dangerous",
     .exec = EXEC_ALL, .coord = flushdb_coord, .summary = "Remove all keys from the current database",
     .since = "1.0.0", .group = "server", .complexity = "O(N) where N is the number of keys in the selected database",
     .tips = "request_policy:all_shards response_policy:all_succeeded"},
    {.name = "flushall", .arity = -1, .flags = CMD_WRITE, .acl_categories = "@keyspace @write @slow @dangerous",
     .exec = EXEC_ALL, .coord = flushall_coord, .summary = "Remove all keys from all databases",
     .since = "1.0.0", .group = "server", .complexity = "O(N) where N is the total number of keys in all databases",
     .tips = "request_policy:all_shards response_policy:all_succeeded"},
    {.name = "swapdb", .arity = 3, .flags = CMD_WRITE | CMD_FAST, .acl_categories = "@keyspace @write @fast @dangerous",
     .exec = EXEC_ALL, .coord = swapdb_coord, .summary = "Swaps two Redis databases", .since = "4.0.0",
     .group = "server", .complexity = "O(N) where N is the count of clients watching or blocking on keys from both databases."},
    {0},
};

/* ---------- shard-local whole-server writes (t_keys.h, AOF replay) ---------- */

uint64_t keys_flush_local(rk_shard *s, int dbid, int async)
{
    uint64_t removed = 0;
    for (int i = 0; i < s->cfg.databases; i++)
        if (dbid < 0 || dbid == i)
            removed += flush_one_db(s, &s->dbs[i], async);
    s->dirty += (int64_t)removed;
    return removed;
}

/* Keys of one db matching the part, copied: deleting while iterating would
 * disturb the iterator. */
static int64_t flush_part_db(rk_shard *s, rk_db *db, int nparts, int part)
{
    size_t n = 0, cap = 0;
    rk_str **victims = NULL;
    dict_iter it;
    dict_iter_init(&it, db->keys, 0);
    dict_entry *e;
    int oom = 0;
    while (!oom && (e = dict_next(&it)) != NULL) {
        rk_slice k = rkstr_slice(e->key);
        if ((int)(rk_key_slot(k.ptr, k.len) % (unsigned)nparts) != part)
            continue;
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 64;
            rk_str **grown = realloc(victims, ncap * sizeof *grown);
            if (!grown) {
                oom = 1;
                break;
            }
            victims = grown;
            cap = ncap;
        }
        if (!(victims[n] = rkstr_new(k.ptr, k.len)))
            oom = 1;
        else
            n++;
    }
    dict_iter_release(&it);
    int64_t removed = 0;
    for (size_t i = 0; i < n; i++) {
        if (!oom)
            removed += db_delete(s, db, rkstr_slice(victims[i]));
        rkstr_free(victims[i]);
    }
    free(victims);
    return oom ? -1 : removed;
}

int64_t keys_flush_local_part(rk_shard *s, int dbid, int nparts, int part)
{
    assert(nparts > 0 && part >= 0 && part < nparts);
    int64_t removed = 0;
    for (int i = 0; i < s->cfg.databases; i++) {
        if (dbid >= 0 && dbid != i)
            continue;
        int64_t r = flush_part_db(s, &s->dbs[i], nparts, part);
        if (r < 0)
            return -1;
        removed += r;
    }
    s->dirty += removed;
    return removed;
}

int keys_swapdb_local(rk_shard *s, int a, int b)
{
    if (a < 0 || b < 0 || a >= s->cfg.databases || b >= s->cfg.databases)
        return -1;
    if (a != b)
        db_swap(&s->dbs[a], &s->dbs[b]);
    s->dirty++;
    return 0;
}
