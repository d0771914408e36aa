/* t_string.c: the string and bitmap commands (GET, SET, ..., LCS, BITFIELD)
 * and their command table rk_string_commands[].
 *
 * Threads: every proc runs on the shard that owns all of its keys (or on a
 * scratch db of the generic multi-key executor), so it reads and writes the
 * keyspace without locks. The table is read-only after start-up.
 *
 * Invariants: replies and errors match Redis 7.0; every keyspace change goes
 * through db.h and is counted with ctx_dirty; values that are modified in
 * place (APPEND, SETRANGE, SETBIT, BITFIELD) are first made raw, so an
 * int/embstr value is never written through. */
#include <assert.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/command.h"
#include "core/db.h"
#include "core/object.h"
#include "core/shard.h"

/* ---- shared helpers ----------------------------------------------------- */

static long long max_bulk_len(rk_ctx *c)
{
    return c->shard ? c->shard->cfg.proto_max_bulk_len : OBJ_MAX_STRING;
}

static rk_obj *lookup_read(rk_ctx *c, rk_slice key)
{
    return db_lookup(c->shard, c->db, key, LOOKUP_NONE);
}

static rk_obj *lookup_write(rk_ctx *c, rk_slice key)
{
    return db_lookup(c->shard, c->db, key, LOOKUP_WRITE);
}

/* Replies WRONGTYPE and returns -1 when o exists and is not a string. */
static int check_string(rk_ctx *c, const rk_obj *o)
{
    if (o && o->type != OBJ_STRING) {
        ctx_wrongtype(c);
        return -1;
    }
    return 0;
}

static void reply_value(rk_ctx *c, const rk_obj *o)
{
    char tmp[24];
    rk_slice v = obj_string_bytes(o, tmp);
    reply_bulk(&c->r, v.ptr, v.len);
}

/* Adds or overwrites key with val (taken in every case). 0 / -1 (OOM replied). */
static int store_value(rk_ctx *c, rk_slice key, rk_obj *val, int setkey_flags)
{
    if (!val) {
        ctx_oom(c);
        return -1;
    }
    if (db_set(c->shard, c->db, key, val, setkey_flags) != 0) {
        obj_free(val);
        ctx_oom(c);
        return -1;
    }
    return 0;
}

/* Makes room for a string of total length newlen (zero-filling the gap)
 * in a string object about to be modified. 0 / -1 (OOM, o intact). */
static int grow_zero(rk_obj *o, size_t newlen)
{
    size_t cur = obj_string_len(o);
    size_t extra = newlen > cur ? newlen - cur : 0;
    if (!obj_make_raw(o, extra))
        return -1;
    rk_str *s = o->u.str;
    if (newlen > s->len) {
        memset(s->data + s->len, 0, newlen - s->len);
        s->len = (uint32_t)newlen;
        s->data[newlen] = '\0';
    }
    return 0;
}

/* Redis's checkStringLength: the result of a write must fit proto-max-bulk-len. */
static int check_string_length(rk_ctx *c, long long size, long long append)
{
    long long total = size + append;
    if (total < size || total < append || total > max_bulk_len(c)) {
        ctx_error(c, "ERR string exceeds maximum allowed size (proto-max-bulk-len)");
        return -1;
    }
    return 0;
}

/* ---- SET family --------------------------------------------------------- */

enum {
    SETF_NX = 1 << 0,
    SETF_XX = 1 << 1,
    SETF_GET = 1 << 2,
    SETF_KEEPTTL = 1 << 3,
    SETF_EX = 1 << 4,
    SETF_PX = 1 << 5,
    SETF_EXAT = 1 << 6,
    SETF_PXAT = 1 << 7,
    SETF_PERSIST = 1 << 8,
};
#define SETF_ANY_EXPIRE (SETF_EX | SETF_PX | SETF_EXAT | SETF_PXAT)

enum { PARSE_FOR_SET, PARSE_FOR_GETEX };

static void invalid_expire(rk_ctx *c)
{
    ctx_errorf(c, "ERR invalid expire time in '%s' command", c->cmd ? c->cmd->name : "set");
}

/* Parses SET/GETEX options from argv[from]; *expire_arg gets the index of
 * the time argument (0 if none). Replies a syntax error and returns -1 on
 * conflicting or unknown options, as Redis's parseExtendedStringArguments. */
static int parse_set_options(rk_ctx *c, int from, int mode, int *flags, int *expire_arg)
{
    *flags = 0;
    *expire_arg = 0;
    for (int j = from; j < c->argc; j++) {
        int f = *flags;
        int has_next = j + 1 < c->argc;
        int others_expire;
        if (mode == PARSE_FOR_SET && ctx_arg_is(c, j, "nx") && !(f & SETF_XX)) {
            *flags |= SETF_NX;
        } else if (mode == PARSE_FOR_SET && ctx_arg_is(c, j, "xx") && !(f & SETF_NX)) {
            *flags |= SETF_XX;
        } else if (mode == PARSE_FOR_SET && ctx_arg_is(c, j, "get")) {
            *flags |= SETF_GET;
        } else if (mode == PARSE_FOR_SET && ctx_arg_is(c, j, "keepttl") &&
                   !(f & (SETF_ANY_EXPIRE | SETF_PERSIST))) {
            *flags |= SETF_KEEPTTL;
        } else if (mode == PARSE_FOR_GETEX && ctx_arg_is(c, j, "persist") &&
                   !(f & (SETF_ANY_EXPIRE | SETF_KEEPTTL))) {
            *flags |= SETF_PERSIST;
        } else {
            static const struct { const char *name; int flag; } units[] = {
                {"ex", SETF_EX}, {"px", SETF_PX}, {"exat", SETF_EXAT}, {"pxat", SETF_PXAT},
            };
            int unit = 0;
            for (size_t u = 0; u < sizeof(units) / sizeof(units[0]); u++)
                if (ctx_arg_is(c, j, units[u].name))
                    unit = units[u].flag;
            /* Repeating the same unit is allowed (the last one wins), as in Redis. */
            others_expire = f & SETF_ANY_EXPIRE & ~unit;
            if (!unit || others_expire || (f & (SETF_KEEPTTL | SETF_PERSIST)) || !has_next) {
                ctx_syntax_error(c);
                return -1;
            }
            *flags |= unit;
            *expire_arg = ++j;
        }
    }
    return 0;
}

/* Converts the expire argument to absolute unix ms, with Redis's checks. */
static int expire_to_abs_ms(rk_ctx *c, int argi, int flags, int64_t *when_ms)
{
    long long v;
    if (ctx_arg_ll(c, argi, &v) < 0)
        return -1;
    int seconds = (flags & (SETF_EX | SETF_EXAT)) != 0;
    if (v <= 0 || (seconds && v > LLONG_MAX / 1000)) {
        invalid_expire(c);
        return -1;
    }
    if (seconds)
        v *= 1000;
    if (flags & (SETF_EX | SETF_PX)) {
        if (v > LLONG_MAX - c->now_ms) {
            invalid_expire(c);
            return -1;
        }
        v += c->now_ms;
    }
    *when_ms = v;
    return 0;
}

/* Redis 7.0 journals SET/SETEX/PSETEX with a relative or second-based
 * expire as "SET key value PXAT <abs ms>" (dropping NX/XX/GET), and
 * GETEX's expire as PEXPIREAT. */
static void propagate_with_ms(rk_ctx *c, int argc, rk_slice *argv, int ms_arg, int64_t when_ms)
{
    if (!ctx_journaling(c))
        return;
    char num[24];
    int n = snprintf(num, sizeof(num), "%lld", (long long)when_ms);
    argv[ms_arg] = (rk_slice){num, (size_t)n};
    ctx_propagate(c, argc, argv);
}

/* The common core of SET, SETNX, SETEX and PSETEX. */
static void set_generic(rk_ctx *c, rk_slice key, rk_slice value, int flags, int expire_arg)
{
    int64_t when_ms = -1;
    if (expire_arg && expire_to_abs_ms(c, expire_arg, flags, &when_ms) < 0)
        return;
    if (flags & SETF_GET) {
        rk_obj *old = lookup_read(c, key);
        if (check_string(c, old) < 0)
            return;
        if (old)
            reply_value(c, old);
        else
            reply_null(&c->r);
    }
    int found = lookup_write(c, key) != NULL;
    if (((flags & SETF_NX) && found) || ((flags & SETF_XX) && !found)) {
        if (!(flags & SETF_GET))
            reply_null(&c->r);
        return;
    }
    rk_obj *val = obj_new_string(value.ptr, value.len);
    if (store_value(c, key, val, (flags & SETF_KEEPTTL) ? SETKEY_KEEPTTL : 0) < 0)
        return;
    ctx_dirty(c, 1);
    if (expire_arg) {
        /* Redis 7.0.15 journals every expiring SET (PXAT too) this way, without NX/XX/GET. */
        rk_slice argv[5] = {RK_SLICE("SET"), key, value, RK_SLICE("PXAT"), {0}};
        propagate_with_ms(c, 5, argv, 4, when_ms);
    } else if ((flags & SETF_GET) && ctx_journaling(c)) {
        /* ... and SET ... GET without the GET (the reply is not replayed). */
        rk_slice argv[8];
        int n = 0;
        for (int i = 0; i < c->argc && n < 8; i++)
            if (i < 3 || !ctx_arg_is(c, i, "get"))
                argv[n++] = c->argv[i];
        ctx_propagate(c, n, argv);
    }
    if (expire_arg) {
        /* A time already past leaves nothing behind, as a lazy expiry would
         * (Redis 7.0 keeps the key until then and journals the same SET ... PXAT). */
        if (db_ttl_already_expired(c->shard, when_ms, c->now_ms))
            db_delete(c->shard, c->db, key);
        else if (db_set_expire(c->shard, c->db, key, when_ms) != 0) {
            ctx_oom(c);
            return;
        }
    }
    if (!(flags & SETF_GET))
        reply_ok(&c->r);
}

static void cmd_set(rk_ctx *c)
{
    int flags, expire_arg;
    if (parse_set_options(c, 3, PARSE_FOR_SET, &flags, &expire_arg) < 0)
        return;
    set_generic(c, c->argv[1], c->argv[2], flags, expire_arg);
}

static void cmd_setnx(rk_ctx *c)
{
    if (lookup_write(c, c->argv[1])) {
        reply_int(&c->r, 0);
        return;
    }
    rk_obj *val = obj_new_string(c->argv[2].ptr, c->argv[2].len);
    if (store_value(c, c->argv[1], val, 0) < 0)
        return;
    ctx_dirty(c, 1);
    reply_int(&c->r, 1);
}

static void cmd_setex(rk_ctx *c)
{
    set_generic(c, c->argv[1], c->argv[3], SETF_EX, 2);
}

static void cmd_psetex(rk_ctx *c)
{
    set_generic(c, c->argv[1], c->argv[3], SETF_PX, 2);
}

/* ---- GET family --------------------------------------------------------- */

/* Replies the value (or nil); returns it, or NULL when missing or an error was replied. */
static rk_obj *get_and_reply(rk_ctx *c, rk_slice key)
{
    rk_obj *o = lookup_read(c, key);
    if (!o) {
        reply_null(&c->r);
        return NULL;
    }
    if (check_string(c, o) < 0)
        return NULL;
    reply_value(c, o);
    return o;
}

static void cmd_get(rk_ctx *c)
{
    get_and_reply(c, c->argv[1]);
}

static void cmd_getex(rk_ctx *c)
{
    int flags, expire_arg;
    int64_t when_ms = -1;
    if (parse_set_options(c, 2, PARSE_FOR_GETEX, &flags, &expire_arg) < 0)
        return;
    rk_obj *o = lookup_read(c, c->argv[1]);
    if (!o) {
        reply_null(&c->r);
        return;
    }
    if (check_string(c, o) < 0)
        return;
    if (expire_arg && expire_to_abs_ms(c, expire_arg, flags, &when_ms) < 0)
        return;
    reply_value(c, o);
    if (expire_arg) {
        if (db_ttl_already_expired(c->shard, when_ms, c->now_ms)) {
            db_delete(c->shard, c->db, c->argv[1]);
            rk_slice del[2] = {c->shard->cfg.lazyfree_lazy_expire ? RK_SLICE("UNLINK") : RK_SLICE("DEL"),
                               c->argv[1]};
            ctx_propagate(c, 2, del);
        } else {
            db_set_expire(c->shard, c->db, c->argv[1], when_ms);
            rk_slice argv[3] = {RK_SLICE("PEXPIREAT"), c->argv[1], {0}};
            propagate_with_ms(c, 3, argv, 2, when_ms);
        }
        ctx_dirty(c, 1);
    } else if (flags & SETF_PERSIST) {
        if (db_persist(c->db, c->argv[1])) {
            rk_slice argv[2] = {RK_SLICE("PERSIST"), c->argv[1]};
            ctx_propagate(c, 2, argv);
            ctx_dirty(c, 1);
        }
    }
}

static void cmd_getdel(rk_ctx *c)
{
    if (get_and_reply(c, c->argv[1])) {
        db_delete(c->shard, c->db, c->argv[1]);
        rk_slice argv[2] = {RK_SLICE("DEL"), c->argv[1]};
        ctx_propagate(c, 2, argv);
        ctx_dirty(c, 1);
    }
}

static void cmd_getset(rk_ctx *c)
{
    rk_obj *old = lookup_read(c, c->argv[1]);
    if (check_string(c, old) < 0)
        return;
    /* Build the new value first so an OOM leaves the key and reply untouched. */
    rk_obj *val = obj_new_string(c->argv[2].ptr, c->argv[2].len);
    if (!val) {
        ctx_oom(c);
        return;
    }
    if (old)
        reply_value(c, old);
    else
        reply_null(&c->r);
    if (db_set(c->shard, c->db, c->argv[1], val, 0) != 0) {
        obj_free(val);
        return;
    }
    rk_slice argv[3] = {RK_SLICE("SET"), c->argv[1], c->argv[2]}; /* Redis 7.0 journals GETSET as SET */
    ctx_propagate(c, 3, argv);
    ctx_dirty(c, 1);
}

static void cmd_mget(rk_ctx *c)
{
    reply_array(&c->r, c->argc - 1);
    for (int j = 1; j < c->argc; j++) {
        rk_obj *o = lookup_read(c, c->argv[j]);
        if (o && o->type == OBJ_STRING)
            reply_value(c, o);
        else
            reply_null(&c->r);
    }
}

/* Sets argv[1..] as key/value pairs. 0 / -1 (OOM replied). */
static int mset_pairs(rk_ctx *c)
{
    for (int j = 1; j + 1 < c->argc; j += 2) {
        rk_obj *val = obj_new_string(c->argv[j + 1].ptr, c->argv[j + 1].len);
        if (store_value(c, c->argv[j], val, 0) < 0)
            return -1;
        ctx_dirty(c, 1);
    }
    return 0;
}

static void cmd_mset(rk_ctx *c)
{
    if (c->argc % 2 == 0) {
        ctx_wrong_arity(c);
        return;
    }
    if (mset_pairs(c) == 0)
        reply_ok(&c->r);
}

static void cmd_msetnx(rk_ctx *c)
{
    if (c->argc % 2 == 0) {
        ctx_wrong_arity(c);
        return;
    }
    for (int j = 1; j < c->argc; j += 2) {
        if (lookup_write(c, c->argv[j])) {
            reply_int(&c->r, 0);
            return;
        }
    }
    if (mset_pairs(c) == 0)
        reply_int(&c->r, 1);
}

/* ---- APPEND, STRLEN, ranges --------------------------------------------- */

static void cmd_append(rk_ctx *c)
{
    rk_slice key = c->argv[1], add = c->argv[2];
    rk_obj *o = lookup_write(c, key);
    if (!o) {
        rk_obj *val = obj_new_string(add.ptr, add.len);
        if (store_value(c, key, val, 0) < 0)
            return;
        ctx_dirty(c, 1);
        reply_int(&c->r, (int64_t)add.len);
        return;
    }
    if (check_string(c, o) < 0)
        return;
    size_t cur = obj_string_len(o);
    if (check_string_length(c, (long long)cur, (long long)add.len) < 0)
        return;
    if (!obj_make_raw(o, add.len)) {
        ctx_oom(c);
        return;
    }
    rk_str *s = o->u.str;
    memcpy(s->data + s->len, add.ptr, add.len);
    s->len += (uint32_t)add.len;
    s->data[s->len] = '\0';
    ctx_dirty(c, 1);
    reply_int(&c->r, s->len);
}

static void cmd_strlen(rk_ctx *c)
{
    rk_obj *o = lookup_read(c, c->argv[1]);
    if (check_string(c, o) < 0)
        return;
    reply_int(&c->r, o ? (int64_t)obj_string_len(o) : 0);
}

static void cmd_getrange(rk_ctx *c)
{
    long long start, end;
    if (ctx_arg_ll(c, 2, &start) < 0 || ctx_arg_ll(c, 3, &end) < 0)
        return;
    rk_obj *o = lookup_read(c, c->argv[1]);
    if (!o) {
        reply_bulk(&c->r, "", 0);
        return;
    }
    if (check_string(c, o) < 0)
        return;
    char tmp[24];
    rk_slice v = obj_string_bytes(o, tmp);
    long long len = (long long)v.len;
    if (start < 0 && end < 0 && start > end) {
        reply_bulk(&c->r, "", 0);
        return;
    }
    if (start < 0)
        start += len;
    if (end < 0)
        end += len;
    if (start < 0)
        start = 0;
    if (end < 0)
        end = 0;
    if (end >= len)
        end = len - 1;
    if (len == 0 || start > end)
        reply_bulk(&c->r, "", 0);
    else
        reply_bulk(&c->r, v.ptr + start, (size_t)(end - start + 1));
}

static void cmd_setrange(rk_ctx *c)
{
    rk_slice key = c->argv[1], value = c->argv[3];
    long long offset;
    if (ctx_arg_ll(c, 2, &offset) < 0)
        return;
    if (offset < 0) {
        ctx_error(c, "ERR offset is out of range");
        return;
    }
    rk_obj *o = lookup_write(c, key);
    if (!o) {
        if (value.len == 0) {
            reply_int(&c->r, 0);
            return;
        }
        if (check_string_length(c, offset, (long long)value.len) < 0)
            return;
        o = obj_new_raw(NULL, (size_t)offset + value.len);
        if (!o) {
            ctx_oom(c);
            return;
        }
        if (db_add(c->shard, c->db, key, o) != 0) {
            obj_free(o);
            ctx_oom(c);
            return;
        }
    } else {
        if (check_string(c, o) < 0)
            return;
        size_t cur = obj_string_len(o);
        if (value.len == 0) {
            reply_int(&c->r, (int64_t)cur);
            return;
        }
        if (check_string_length(c, offset, (long long)value.len) < 0)
            return;
        size_t need = (size_t)offset + value.len;
        if (grow_zero(o, need > cur ? need : cur) < 0) {
            ctx_oom(c);
            return;
        }
    }
    memcpy(o->u.str->data + offset, value.ptr, value.len);
    ctx_dirty(c, 1);
    reply_int(&c->r, o->u.str->len);
}

/* ---- counters ----------------------------------------------------------- */

static void incr_decr(rk_ctx *c, long long delta)
{
    rk_slice key = c->argv[1];
    rk_obj *o = lookup_write(c, key);
    if (check_string(c, o) < 0)
        return;
    long long cur = 0;
    if (o) {
        if (o->encoding == ENC_INT) {
            cur = o->u.ival;
        } else if (!rk_str2ll(o->u.str->data, o->u.str->len, &cur)) {
            ctx_not_int(c);
            return;
        }
    }
    if ((delta < 0 && cur < 0 && delta < LLONG_MIN - cur) ||
        (delta > 0 && cur > 0 && delta > LLONG_MAX - cur)) {
        ctx_error(c, "ERR increment or decrement would overflow");
        return;
    }
    long long next = cur + delta;
    if (store_value(c, key, obj_new_int(next), SETKEY_KEEPTTL) < 0)
        return;
    ctx_dirty(c, 1);
    reply_int(&c->r, next);
}

static void cmd_incr(rk_ctx *c) { incr_decr(c, 1); }
static void cmd_decr(rk_ctx *c) { incr_decr(c, -1); }

static void cmd_incrby(rk_ctx *c)
{
    long long delta;
    if (ctx_arg_ll(c, 2, &delta) < 0)
        return;
    incr_decr(c, delta);
}

static void cmd_decrby(rk_ctx *c)
{
    long long delta;
    if (ctx_arg_ll(c, 2, &delta) < 0)
        return;
    if (delta == LLONG_MIN) {
        ctx_error(c, "ERR decrement would overflow");
        return;
    }
    incr_decr(c, -delta);
}

static void cmd_incrbyfloat(rk_ctx *c)
{
    rk_slice key = c->argv[1];
    rk_obj *o = lookup_write(c, key);
    if (check_string(c, o) < 0)
        return;
    long double cur = 0, incr;
    if (o) {
        char tmp[24];
        rk_slice v = obj_string_bytes(o, tmp);
        if (o->encoding == ENC_INT)
            cur = (long double)o->u.ival;
        else if (!rk_str2ld(v.ptr, v.len, &cur)) {
            ctx_not_float(c);
            return;
        }
    }
    if (ctx_arg_ld(c, 2, &incr) < 0)
        return;
    long double next = cur + incr;
    if (isnan(next) || isinf(next)) {
        ctx_error(c, "ERR increment would produce NaN or Infinity");
        return;
    }
    char buf[5200];
    int n = rk_fmt_long_double(buf, sizeof(buf), next);
    if (n <= 0) {
        ctx_error(c, "ERR increment would produce NaN or Infinity");
        return;
    }
    if (store_value(c, key, obj_new_string_noint(buf, (size_t)n), SETKEY_KEEPTTL) < 0)
        return;
    /* The result, not the increment: float formatting must not differ on replay. */
    rk_slice argv[4] = {RK_SLICE("SET"), key, {buf, (size_t)n}, RK_SLICE("KEEPTTL")};
    ctx_propagate(c, 4, argv);
    ctx_dirty(c, 1);
    reply_bulk(&c->r, buf, (size_t)n);
}

/* ---- LCS ---------------------------------------------------------------- */

typedef struct lcs_match {
    uint32_t a_start, a_end, b_start, b_end;
} lcs_match;

static void cmd_lcs(rk_ctx *c)
{
    rk_obj *oa = lookup_read(c, c->argv[1]);
    rk_obj *ob = lookup_read(c, c->argv[2]);
    if ((oa && oa->type != OBJ_STRING) || (ob && ob->type != OBJ_STRING)) {
        ctx_error(c, "ERR The specified keys must contain string values");
        return;
    }
    int want_len = 0, want_idx = 0, with_matchlen = 0;
    long long min_matchlen = 0;
    for (int j = 3; j < c->argc; j++) {
        int more = c->argc - 1 - j;
        if (ctx_arg_is(c, j, "idx")) {
            want_idx = 1;
        } else if (ctx_arg_is(c, j, "len")) {
            want_len = 1;
        } else if (ctx_arg_is(c, j, "withmatchlen")) {
            with_matchlen = 1;
        } else if (ctx_arg_is(c, j, "minmatchlen") && more) {
            if (ctx_arg_ll(c, j + 1, &min_matchlen) < 0)
                return;
            if (min_matchlen < 0)
                min_matchlen = 0;
            j++;
        } else {
            ctx_syntax_error(c);
            return;
        }
    }
    if (want_idx && want_len) {
        ctx_error(c, "ERR If you want both the length and indexes, please just use IDX.");
        return;
    }
    char ta[24], tb[24];
    rk_slice a = oa ? obj_string_bytes(oa, ta) : (rk_slice){"", 0};
    rk_slice b = ob ? obj_string_bytes(ob, tb) : (rk_slice){"", 0};
    if (a.len >= UINT32_MAX - 1 || b.len >= UINT32_MAX - 1) {
        ctx_error(c, "ERR String too long for LCS");
        return;
    }
    uint32_t alen = (uint32_t)a.len, blen = (uint32_t)b.len;
    uint64_t cells = (uint64_t)(alen + 1) * (blen + 1);
    uint32_t *dp = NULL;
    if (cells > SIZE_MAX / sizeof(uint32_t) || !(dp = rk_malloc(cells * sizeof(uint32_t)))) {
        ctx_error(c, "ERR Insufficient memory, failed allocating transient memory for LCS");
        return;
    }
#define LCS_AT(i, j) dp[(uint64_t)(i) * (blen + 1) + (j)]
    for (uint32_t i = 0; i <= alen; i++) {
        for (uint32_t j = 0; j <= blen; j++) {
            if (i == 0 || j == 0)
                LCS_AT(i, j) = 0;
            else if (a.ptr[i - 1] == b.ptr[j - 1])
                LCS_AT(i, j) = LCS_AT(i - 1, j - 1) + 1;
            else
                LCS_AT(i, j) = LCS_AT(i - 1, j) > LCS_AT(i, j - 1) ? LCS_AT(i - 1, j) : LCS_AT(i, j - 1);
        }
    }
    uint32_t total = LCS_AT(alen, blen);
    if (want_len) {
        rk_free(dp);
        reply_int(&c->r, total);
        return;
    }
    /* Walk back from the end: the LCS string, and the matching ranges
     * (emitted from the end of the strings, as Redis does). */
    char *text = rk_malloc((size_t)total + 1);
    lcs_match *matches = want_idx ? rk_malloc(sizeof(lcs_match) * ((size_t)total + 1)) : NULL;
    if (!text || (want_idx && !matches)) {
        rk_free(dp);
        rk_free(text);
        rk_free(matches);
        ctx_oom(c);
        return;
    }
    size_t nmatches = 0;
    uint32_t i = alen, j = blen, k = total;
    int in_range = 0;
    lcs_match cur = {0, 0, 0, 0};
    while (i > 0 && j > 0) {
        int close_range = 0;
        if (a.ptr[i - 1] == b.ptr[j - 1]) {
            text[--k] = a.ptr[i - 1];
            if (!in_range) {
                cur = (lcs_match){i - 1, i - 1, j - 1, j - 1};
                in_range = 1;
            } else {
                cur.a_start = i - 1;
                cur.b_start = j - 1;
            }
            if (i - 1 == 0 || j - 1 == 0)
                close_range = 1;
            i--;
            j--;
        } else {
            if (LCS_AT(i - 1, j) > LCS_AT(i, j - 1))
                i--;
            else
                j--;
            close_range = in_range;
        }
        if (close_range) {
            uint32_t len = cur.a_end - cur.a_start + 1;
            if (matches && (min_matchlen == 0 || len >= (unsigned long long)min_matchlen))
                matches[nmatches++] = cur;
            in_range = 0;
        }
    }
#undef LCS_AT
    rk_free(dp);
    if (!want_idx) {
        reply_bulk(&c->r, text, total);
    } else {
        reply_map(&c->r, 2);
        reply_bulk_str(&c->r, "matches");
        reply_array(&c->r, (int64_t)nmatches);
        for (size_t m = 0; m < nmatches; m++) {
            reply_array(&c->r, 2 + with_matchlen);
            reply_array(&c->r, 2);
            reply_int(&c->r, matches[m].a_start);
            reply_int(&c->r, matches[m].a_end);
            reply_array(&c->r, 2);
            reply_int(&c->r, matches[m].b_start);
            reply_int(&c->r, matches[m].b_end);
            if (with_matchlen)
                reply_int(&c->r, matches[m].a_end - matches[m].a_start + 1);
        }
        reply_bulk_str(&c->r, "len");
        reply_int(&c->r, total);
    }
    rk_free(text);
    rk_free(matches);
}

/* ---- bitmaps ------------------------------------------------------------ */

#define BIT_OFFSET_ERR "ERR bit offset is not an integer or out of range"

/* Parses a bit offset; with hash_ok a "#N" form means N*bits (BITFIELD). */
static int parse_bit_offset(rk_ctx *c, int i, int hash_ok, int bits, uint64_t *out)
{
    rk_slice a = c->argv[i];
    size_t skip = hash_ok && a.len > 0 && a.ptr[0] == '#';
    long long v;
    if (!rk_str2ll(a.ptr + skip, a.len - skip, &v)) {
        ctx_error(c, BIT_OFFSET_ERR);
        return -1;
    }
    if (skip) {
        if (v > LLONG_MAX / bits || v < LLONG_MIN / bits) {
            ctx_error(c, BIT_OFFSET_ERR);
            return -1;
        }
        v *= bits;
    }
    if (v < 0 || (v >> 3) >= max_bulk_len(c)) {
        ctx_error(c, BIT_OFFSET_ERR);
        return -1;
    }
    *out = (uint64_t)v;
    return 0;
}

/* The string at key, made raw and at least long enough to hold bit
 * max_bit; created zero-filled when missing. NULL when an error was replied. */
static rk_obj *bitmap_for_write(rk_ctx *c, rk_slice key, uint64_t max_bit)
{
    size_t need = (size_t)(max_bit >> 3) + 1;
    rk_obj *o = lookup_write(c, key);
    if (!o) {
        o = obj_new_raw(NULL, need);
        if (!o) {
            ctx_oom(c);
            return NULL;
        }
        if (db_add(c->shard, c->db, key, o) != 0) {
            obj_free(o);
            ctx_oom(c);
            return NULL;
        }
        return o;
    }
    if (check_string(c, o) < 0)
        return NULL;
    size_t cur = obj_string_len(o);
    if (grow_zero(o, need > cur ? need : cur) < 0) {
        ctx_oom(c);
        return NULL;
    }
    return o;
}

static inline int bit_at(const unsigned char *p, uint64_t bit)
{
    return (p[bit >> 3] >> (7 - (bit & 7))) & 1;
}

static void cmd_setbit(rk_ctx *c)
{
    uint64_t bit;
    long long on;
    if (parse_bit_offset(c, 2, 0, 0, &bit) < 0)
        return;
    if (!rk_str2ll(c->argv[3].ptr, c->argv[3].len, &on) || (on & ~1LL)) {
        ctx_error(c, "ERR bit is not an integer or out of range");
        return;
    }
    rk_obj *o = bitmap_for_write(c, c->argv[1], bit);
    if (!o)
        return;
    unsigned char *byte = (unsigned char *)o->u.str->data + (bit >> 3);
    unsigned mask = 1u << (7 - (bit & 7));
    int old = (*byte & mask) != 0;
    if (on)
        *byte |= (unsigned char)mask;
    else
        *byte &= (unsigned char)~mask;
    ctx_dirty(c, 1);
    reply_int(&c->r, old);
}

static void cmd_getbit(rk_ctx *c)
{
    uint64_t bit;
    if (parse_bit_offset(c, 2, 0, 0, &bit) < 0)
        return;
    rk_obj *o = lookup_read(c, c->argv[1]);
    if (check_string(c, o) < 0)
        return;
    int val = 0;
    if (o) {
        char tmp[24];
        rk_slice v = obj_string_bytes(o, tmp);
        if ((bit >> 3) < v.len)
            val = bit_at((const unsigned char *)v.ptr, bit);
    }
    reply_int(&c->r, val);
}

/* Resolves a BITCOUNT/BITPOS range given in bytes or bits into the bit
 * range [*first, *last]; returns 0 when empty. totlen is in the range's unit. */
static int resolve_range(long long start, long long end, long long totlen, int in_bits,
                         uint64_t *first, uint64_t *last)
{
    if (start < 0)
        start += totlen;
    if (end < 0)
        end += totlen;
    if (start < 0)
        start = 0;
    if (end < 0)
        end = 0;
    if (end >= totlen)
        end = totlen - 1;
    if (start > end)
        return 0;
    *first = in_bits ? (uint64_t)start : (uint64_t)start * 8;
    *last = in_bits ? (uint64_t)end : (uint64_t)end * 8 + 7;
    return 1;
}

/* Parses an optional trailing BYTE|BIT at argv[i]. */
static int parse_bit_unit(rk_ctx *c, int i, int *in_bits)
{
    *in_bits = 0;
    if (i >= c->argc)
        return 0;
    if (ctx_arg_is(c, i, "bit"))
        *in_bits = 1;
    else if (!ctx_arg_is(c, i, "byte")) {
        ctx_syntax_error(c);
        return -1;
    }
    return 0;
}

static uint64_t count_bits(const unsigned char *p, uint64_t first, uint64_t last)
{
    uint64_t n = 0, b = first;
    while (b <= last && (b & 7))
        n += bit_at(p, b++);
    while (b + 63 <= last) {
        uint64_t w;
        memcpy(&w, p + (b >> 3), 8);
        n += (uint64_t)__builtin_popcountll(w);
        b += 64;
    }
    while (b + 7 <= last) {
        n += (uint64_t)__builtin_popcount(p[b >> 3]);
        b += 8;
    }
    while (b <= last)
        n += bit_at(p, b++);
    return n;
}

static void cmd_bitcount(rk_ctx *c)
{
    rk_obj *o = lookup_read(c, c->argv[1]);
    if (!o) {
        reply_int(&c->r, 0);
        return;
    }
    if (check_string(c, o) < 0)
        return;
    char tmp[24];
    rk_slice v = obj_string_bytes(o, tmp);
    long long start = 0, end = -1;
    int in_bits = 0;
    if (c->argc == 4 || c->argc == 5) {
        if (ctx_arg_ll(c, 2, &start) < 0 || ctx_arg_ll(c, 3, &end) < 0)
            return;
        if (parse_bit_unit(c, 4, &in_bits) < 0)
            return;
        if (start < 0 && end < 0 && start > end) {
            reply_int(&c->r, 0);
            return;
        }
    } else if (c->argc != 2) {
        ctx_syntax_error(c);
        return;
    }
    long long totlen = (long long)v.len * (in_bits ? 8 : 1);
    uint64_t first, last;
    if (!resolve_range(start, end, totlen, in_bits, &first, &last)) {
        reply_int(&c->r, 0);
        return;
    }
    reply_int(&c->r, (int64_t)count_bits((const unsigned char *)v.ptr, first, last));
}

/* First bit equal to `bit` in [first, last], or -1. */
static int64_t find_bit(const unsigned char *p, uint64_t first, uint64_t last, int bit)
{
    unsigned char skip = bit ? 0x00 : 0xff;
    uint64_t b = first;
    while (b <= last) {
        if ((b & 7) == 0 && b + 7 <= last && p[b >> 3] == skip) {
            b += 8;
            continue;
        }
        if (bit_at(p, b) == bit)
            return (int64_t)b;
        b++;
    }
    return -1;
}

static void cmd_bitpos(rk_ctx *c)
{
    long long bit;
    if (ctx_arg_ll(c, 2, &bit) < 0)
        return;
    if (bit != 0 && bit != 1) {
        ctx_error(c, "ERR The bit argument must be 1 or 0.");
        return;
    }
    rk_obj *o = lookup_read(c, c->argv[1]);
    if (!o) {
        reply_int(&c->r, bit ? -1 : 0);
        return;
    }
    if (check_string(c, o) < 0)
        return;
    char tmp[24];
    rk_slice v = obj_string_bytes(o, tmp);
    long long start = 0, end = -1;
    int in_bits = 0, end_given = 0;
    if (c->argc >= 4 && c->argc <= 6) {
        if (ctx_arg_ll(c, 3, &start) < 0)
            return;
        if (parse_bit_unit(c, 5, &in_bits) < 0)
            return;
        if (c->argc >= 5) {
            if (ctx_arg_ll(c, 4, &end) < 0)
                return;
            end_given = 1;
        }
    } else if (c->argc != 3) {
        ctx_syntax_error(c);
        return;
    }
    long long totlen = (long long)v.len * (in_bits ? 8 : 1);
    uint64_t first, last;
    if (!resolve_range(start, end, totlen, in_bits, &first, &last)) {
        reply_int(&c->r, -1);
        return;
    }
    int64_t pos = find_bit((const unsigned char *)v.ptr, first, last, (int)bit);
    /* Looking for a clear bit with no explicit end: the string is taken as
     * padded with zeros on the right, so the answer is just past the range. */
    if (pos < 0 && bit == 0 && !end_given)
        pos = (int64_t)last + 1;
    reply_int(&c->r, pos);
}

enum { BITOP_AND, BITOP_OR, BITOP_XOR, BITOP_NOT };

static void cmd_bitop(rk_ctx *c)
{
    int op;
    if (ctx_arg_is(c, 1, "and"))
        op = BITOP_AND;
    else if (ctx_arg_is(c, 1, "or"))
        op = BITOP_OR;
    else if (ctx_arg_is(c, 1, "xor"))
        op = BITOP_XOR;
    else if (ctx_arg_is(c, 1, "not"))
        op = BITOP_NOT;
    else {
        ctx_syntax_error(c);
        return;
    }
    if (op == BITOP_NOT && c->argc != 4) {
        ctx_error(c, "ERR BITOP NOT must be called with a single source key.");
        return;
    }
    int nsrc = c->argc - 3;
    rk_slice *src = rk_malloc(sizeof(rk_slice) * (size_t)nsrc);
    char (*tmps)[24] = rk_malloc(24 * (size_t)nsrc);
    if (!src || !tmps) {
        rk_free(src);
        rk_free(tmps);
        ctx_oom(c);
        return;
    }
    size_t maxlen = 0;
    for (int k = 0; k < nsrc; k++) {
        rk_obj *o = lookup_read(c, c->argv[3 + k]);
        if (o && o->type != OBJ_STRING) {
            rk_free(src);
            rk_free(tmps);
            ctx_wrongtype(c);
            return;
        }
        src[k] = o ? obj_string_bytes(o, tmps[k]) : (rk_slice){"", 0};
        if (src[k].len > maxlen)
            maxlen = src[k].len;
    }
    rk_obj *res = maxlen ? obj_new_raw(NULL, maxlen) : NULL;
    if (maxlen && !res) {
        rk_free(src);
        rk_free(tmps);
        ctx_oom(c);
        return;
    }
    if (res) {
        unsigned char *out = (unsigned char *)res->u.str->data;
        for (size_t i = 0; i < maxlen; i++) {
            /* Missing bytes of shorter strings count as zero. */
            unsigned char acc = i < src[0].len ? (unsigned char)src[0].ptr[i] : 0;
            if (op == BITOP_NOT)
                acc = (unsigned char)~acc;
            for (int k = 1; k < nsrc; k++) {
                unsigned char x = i < src[k].len ? (unsigned char)src[k].ptr[i] : 0;
                if (op == BITOP_AND)
                    acc &= x;
                else if (op == BITOP_OR)
                    acc |= x;
                else
                    acc ^= x;
            }
            out[i] = acc;
        }
    }
    rk_free(src);
    rk_free(tmps);
    if (res) {
        if (store_value(c, c->argv[2], res, 0) < 0)
            return;
    } else {
        db_delete(c->shard, c->db, c->argv[2]);
    }
    ctx_dirty(c, 1);
    reply_int(&c->r, (int64_t)maxlen);
}

/* ---- BITFIELD ------------------------------------------------------------ */

enum { BF_GET, BF_SET, BF_INCRBY };
enum { BF_WRAP, BF_SAT, BF_FAIL };

typedef struct bf_op {
    uint64_t offset;
    int64_t arg;
    int opcode, owtype, bits, is_signed;
} bf_op;

static uint64_t bf_read_unsigned(const unsigned char *p, uint64_t offset, int bits)
{
    uint64_t v = 0;
    for (int j = 0; j < bits; j++)
        v = (v << 1) | (uint64_t)bit_at(p, offset + (uint64_t)j);
    return v;
}

static int64_t bf_read_signed(const unsigned char *p, uint64_t offset, int bits)
{
    uint64_t v = bf_read_unsigned(p, offset, bits);
    if (bits < 64 && (v & (1ULL << (bits - 1))))
        v |= ~0ULL << bits;
    return (int64_t)v;
}

static void bf_write(unsigned char *p, uint64_t offset, int bits, uint64_t v)
{
    for (int j = 0; j < bits; j++) {
        uint64_t b = offset + (uint64_t)j;
        unsigned mask = 1u << (7 - (b & 7));
        if ((v >> (bits - 1 - j)) & 1)
            p[b >> 3] |= (unsigned char)mask;
        else
            p[b >> 3] &= (unsigned char)~mask;
    }
}

/* Redis's checkUnsignedBitfieldOverflow: 1 / -1 on overflow (then *limit
 * holds the wrapped or saturated value), 0 otherwise. */
static int bf_unsigned_overflow(uint64_t value, int64_t incr, int bits, int owtype, uint64_t *limit)
{
    uint64_t max = (1ULL << bits) - 1; /* bits <= 63 for unsigned */
    int64_t maxincr = (int64_t)(max - value);
    int64_t minincr = -(int64_t)value;
    int dir = 0;
    if (value > max || (incr > 0 && incr > maxincr))
        dir = 1;
    else if (incr < 0 && incr < minincr)
        dir = -1;
    if (!dir)
        return 0;
    if (owtype == BF_WRAP)
        *limit = (value + (uint64_t)incr) & max;
    else if (owtype == BF_SAT)
        *limit = dir > 0 ? max : 0;
    return dir;
}

/* Redis's checkSignedBitfieldOverflow, computed exactly in 128 bits. */
static int bf_signed_overflow(int64_t value, int64_t incr, int bits, int owtype, int64_t *limit)
{
    int64_t max = bits == 64 ? INT64_MAX : (int64_t)((1ULL << (bits - 1)) - 1);
    int64_t min = -max - 1;
    __int128 sum = (__int128)value + incr;
    int dir = sum > max ? 1 : sum < min ? -1 : 0;
    if (!dir)
        return 0;
    if (owtype == BF_WRAP) {
        uint64_t r = (uint64_t)value + (uint64_t)incr;
        if (bits < 64) {
            uint64_t mask = ~0ULL << bits;
            r = (r & (1ULL << (bits - 1))) ? (r | mask) : (r & ~mask);
        }
        *limit = (int64_t)r;
    } else if (owtype == BF_SAT) {
        *limit = dir > 0 ? max : min;
    }
    return dir;
}

static int parse_bf_type(rk_ctx *c, int i, int *is_signed, int *bits)
{
    rk_slice a = c->argv[i];
    long long n;
    if (a.len >= 2 && (a.ptr[0] == 'i' || a.ptr[0] == 'I'))
        *is_signed = 1;
    else if (a.len >= 2 && (a.ptr[0] == 'u' || a.ptr[0] == 'U'))
        *is_signed = 0;
    else
        goto bad;
    if (!rk_str2ll(a.ptr + 1, a.len - 1, &n) || n < 1 || n > (*is_signed ? 64 : 63))
        goto bad;
    *bits = (int)n;
    return 0;
bad:
    ctx_error(c, "ERR Invalid bitfield type. Use something like i16 u8. "
                 "Note that u64 is not supported but i64 is.");
    return -1;
}

static void bitfield_generic(rk_ctx *c, int readonly_cmd)
{
    bf_op *ops = rk_malloc(sizeof(bf_op) * (size_t)(c->argc / 3 + 1));
    if (!ops) {
        ctx_oom(c);
        return;
    }
    int nops = 0, owtype = BF_WRAP, has_write = 0;
    uint64_t max_bit = 0;
    for (int j = 2; j < c->argc; j++) {
        int remaining = c->argc - j - 1;
        int opcode;
        if (ctx_arg_is(c, j, "get") && remaining >= 2)
            opcode = BF_GET;
        else if (ctx_arg_is(c, j, "set") && remaining >= 3)
            opcode = BF_SET;
        else if (ctx_arg_is(c, j, "incrby") && remaining >= 3)
            opcode = BF_INCRBY;
        else if (ctx_arg_is(c, j, "overflow") && remaining >= 1) {
            j++;
            if (ctx_arg_is(c, j, "wrap"))
                owtype = BF_WRAP;
            else if (ctx_arg_is(c, j, "sat"))
                owtype = BF_SAT;
            else if (ctx_arg_is(c, j, "fail"))
                owtype = BF_FAIL;
            else {
                rk_free(ops);
                ctx_error(c, "ERR Invalid OVERFLOW type specified");
                return;
            }
            continue;
        } else {
            rk_free(ops);
            ctx_syntax_error(c);
            return;
        }
        bf_op *op = &ops[nops];
        op->opcode = opcode;
        op->owtype = owtype;
        op->arg = 0;
        if (parse_bf_type(c, j + 1, &op->is_signed, &op->bits) < 0 ||
            parse_bit_offset(c, j + 2, 1, op->bits, &op->offset) < 0) {
            rk_free(ops);
            return;
        }
        if (opcode != BF_GET) {
            if (readonly_cmd) {
                rk_free(ops);
                ctx_error(c, "ERR BITFIELD_RO only supports the GET subcommand");
                return;
            }
            long long arg;
            if (ctx_arg_ll(c, j + 3, &arg) < 0) {
                rk_free(ops);
                return;
            }
            op->arg = arg;
            has_write = 1;
            uint64_t last = op->offset + (uint64_t)op->bits - 1;
            if (last > max_bit)
                max_bit = last;
        }
        nops++;
        j += opcode == BF_GET ? 2 : 3;
    }

    rk_obj *o;
    if (has_write) {
        o = bitmap_for_write(c, c->argv[1], max_bit);
        if (!o) {
            rk_free(ops);
            return;
        }
    } else {
        o = lookup_read(c, c->argv[1]);
        if (check_string(c, o) < 0) {
            rk_free(ops);
            return;
        }
    }

    int changes = 0;
    reply_array(&c->r, nops);
    for (int k = 0; k < nops; k++) {
        bf_op *op = &ops[k];
        if (op->opcode == BF_GET) {
            /* Read through a zero-padded copy so fields past the end read as 0. */
            unsigned char window[9] = {0};
            uint64_t byte = op->offset >> 3;
            if (o) {
                char tmp[24];
                rk_slice v = obj_string_bytes(o, tmp);
                for (uint64_t i = 0; i < 9 && byte + i < v.len; i++)
                    window[i] = (unsigned char)v.ptr[byte + i];
            }
            uint64_t rel = op->offset - byte * 8;
            if (op->is_signed)
                reply_int(&c->r, bf_read_signed(window, rel, op->bits));
            else
                reply_int(&c->r, (int64_t)bf_read_unsigned(window, rel, op->bits));
            continue;
        }
        unsigned char *p = (unsigned char *)o->u.str->data;
        uint64_t newval;
        int64_t retval;
        int overflow;
        if (op->is_signed) {
            int64_t old = bf_read_signed(p, op->offset, op->bits), limit = 0, val;
            if (op->opcode == BF_INCRBY) {
                overflow = bf_signed_overflow(old, op->arg, op->bits, op->owtype, &limit);
                val = overflow ? limit : (int64_t)((uint64_t)old + (uint64_t)op->arg);
                retval = val;
            } else {
                overflow = bf_signed_overflow(op->arg, 0, op->bits, op->owtype, &limit);
                val = overflow ? limit : op->arg;
                retval = old;
            }
            newval = (uint64_t)val;
        } else {
            uint64_t old = bf_read_unsigned(p, op->offset, op->bits), limit = 0, val;
            if (op->opcode == BF_INCRBY) {
                overflow = bf_unsigned_overflow(old, op->arg, op->bits, op->owtype, &limit);
                val = overflow ? limit : old + (uint64_t)op->arg;
                retval = (int64_t)val;
            } else {
                overflow = bf_unsigned_overflow((uint64_t)op->arg, 0, op->bits, op->owtype, &limit);
                val = overflow ? limit : (uint64_t)op->arg;
                retval = (int64_t)old;
            }
            newval = val;
        }
        if (overflow && op->owtype == BF_FAIL) {
            reply_null(&c->r);
        } else {
            reply_int(&c->r, retval);
            bf_write(p, op->offset, op->bits, newval);
        }
        changes++;
    }
    if (changes)
        ctx_dirty(c, changes);
    rk_free(ops);
}

static void cmd_bitfield(rk_ctx *c) { bitfield_generic(c, 0); }
static void cmd_bitfield_ro(rk_ctx *c) { bitfield_generic(c, 1); }

static void cmd_substr(rk_ctx *c) { cmd_getrange(c); }

/* ---- command table ------------------------------------------------------ */

const rk_command rk_string_commands[] = {
    {
        .name = "get", .arity = 2, .flags = CMD_READONLY | CMD_FAST,
        .acl_categories = "@read @string @fast", .exec = EXEC_KEYS, .merge = MERGE_NONE, .proc = cmd_get,
        .first_key = 1, .last_key = 1, .key_step = 1,
        .keyspecs = {{"RO ACCESS", 1, NULL, 0, 0, 0, 1, 0, 0, 0, 0}}, .n_keyspecs = 1,
        .summary = "Get the value of a key",
        .since = "1.0.0", .group = "string",
        .complexity = "O(1)",
        .tips = NULL,
    },
    {
        .name = "set", .arity = -3, .flags = CMD_WRITE | CMD_DENYOOM,
        .acl_categories = "@write @string @slow", .exec = EXEC_KEYS, .merge = MERGE_NONE, .proc = cmd_set,
        .first_key = 1, .last_key = 1, .key_step = 1,
        .keyspecs = {{"RW ACCESS UPDATE VARIABLE_FLAGS", 1, NULL, 0, 0, 0, 1, 0, 0, 0, 0}}, .n_keyspecs = 1,
        .summary = "Set the string value of a key",
        .since = "1.0.0", .group = "string",
        .complexity = "O(1)",
        .tips = NULL,
    },
    {
        .name = "setnx", .arity = 3, .flags = CMD_WRITE | CMD_DENYOOM | CMD_FAST,
        .acl_categories = "@write @string @fast", .exec = EXEC_KEYS, .merge = MERGE_NONE, .proc = cmd_setnx,
        .first_key = 1, .last_key = 1, .key_step = 1,
        .keyspecs = {{"OW INSERT", 1, NULL, 0, 0, 0, 1, 0, 0, 0, 0}}, .n_keyspecs = 1,
        .summary = "Set the value of a key, only if the key does not exist",
        .since = "1.0.0", .group = "string",
        .complexity = "O(1)",
        .tips = NULL,
    },
    {
        .name = "setex", .arity = 4, .flags = CMD_WRITE | CMD_DENYOOM,
        .acl_categories = "@write @string @slow", .exec = EXEC_KEYS, .merge = MERGE_NONE, .proc = cmd_setex,
        .first_key = 1, .last_key = 1, .key_step = 1,
        .keyspecs = {{"OW UPDATE", 1, NULL, 0, 0, 0, 1, 0, 0, 0, 0}}, .n_keyspecs = 1,
        .summary = "Set the value and expiration of a key",
        .since = "2.0.0", .group = "string",
        .complexity = "O(1)",
        .tips = NULL,
    },
    {
        .name = "psetex", .arity = 4, .flags = CMD_WRITE | CMD_DENYOOM,
        .acl_categories = "@write @string @slow", .exec = EXEC_KEYS, .merge = MERGE_NONE, .proc = cmd_psetex,
        .first_key = 1, .last_key = 1, .key_step = 1,
        .keyspecs = {{"OW UPDATE", 1, NULL, 0, 0, 0, 1, 0, 0, 0, 0}}, .n_keyspecs = 1,
        .summary = "Set the value and expiration in milliseconds of a key",
        .since = "2.6.0", .group = "string",
        .complexity = "O(1)",
        .tips = NULL,
    },
    {
        .name = "getex", .arity = -2, .flags = CMD_WRITE | CMD_FAST,
        .acl_categories = "@write @string @fast", .exec = EXEC_KEYS, .merge = MERGE_NONE, .proc = cmd_getex,
        .first_key = 1, .last_key = 1, .key_step = 1,
        .keyspecs = {{"RW ACCESS UPDATE", 1, NULL, 0, 0, 0, 1, 0, 0, 0, 0}}, .n_keyspecs = 1,
        .summary = "Get the value of a key and optionally set its expiration",
        .since = "6.2.0", .group = "string",
        .complexity = "O(1)",
        .tips = NULL,
    },
    {
        .name = "getdel", .arity = 2, .flags = CMD_WRITE | CMD_FAST,
        .acl_categories = "@write @string @fast", .exec = EXEC_KEYS, .merge = MERGE_NONE, .proc = cmd_getdel,
        .first_key = 1, .last_key = 1, .key_step = 1,
        .keyspecs = {{"RW ACCESS DELETE", 1, NULL, 0, 0, 0, 1, 0, 0, 0, 0}}, .n_keyspecs = 1,
        .summary = "Get the value of a key and delete the key",
        .since = "6.2.0", .group = "string",
        .complexity = "O(1)",
        .tips = NULL,
    },
    {
        .name = "getset", .arity = 3, .flags = CMD_WRITE | CMD_DENYOOM | CMD_FAST,
        .acl_categories = "@write @string @fast", .exec = EXEC_KEYS, .merge = MERGE_NONE, .proc = cmd_getset,
        .first_key = 1, .last_key = 1, .key_step = 1,
        .keyspecs = {{"RW ACCESS UPDATE", 1, NULL, 0, 0, 0, 1, 0, 0, 0, 0}}, .n_keyspecs = 1,
        .summary = "Set the string value of a key and return its old value",
        .since = "1.0.0", .group = "string",
        .complexity = "O(1)",
        .tips = NULL,
    },
    {
        .name = "mget", .arity = -2, .flags = CMD_READONLY | CMD_FAST,
        .acl_categories = "@read @string @fast", .exec = EXEC_KEYS, .merge = MERGE_BY_KEY, .proc = cmd_mget,
        .first_key = 1, .last_key = -1, .key_step = 1,
        .keyspecs = {{"RO ACCESS", 1, NULL, 0, 0, -1, 1, 0, 0, 0, 0}}, .n_keyspecs = 1,
        .summary = "Get the values of all the given keys",
        .since = "1.0.0", .group = "string",
        .complexity = "O(N) where N is the number of keys to retrieve.",
        .tips = "request_policy:multi_shard",
    },
    {
        .name = "mset", .arity = -3, .flags = CMD_WRITE | CMD_DENYOOM,
        .acl_categories = "@write @string @slow", .exec = EXEC_KEYS, .merge = MERGE_OK, .proc = cmd_mset,
        .first_key = 1, .last_key = -1, .key_step = 2,
        .keyspecs = {{"OW UPDATE", 1, NULL, 0, 0, -1, 2, 0, 0, 0, 0}}, .n_keyspecs = 1,
        .summary = "Set multiple keys to multiple values",
        .since = "1.0.1", .group = "string",
        .complexity = "O(N) where N is the number of keys to set.",
        .tips = "request_policy:multi_shard response_policy:all_succeeded",
    },
    {
        .name = "msetnx", .arity = -3, .flags = CMD_WRITE | CMD_DENYOOM,
        .acl_categories = "@write @string @slow", .exec = EXEC_KEYS, .merge = MERGE_NONE, .proc = cmd_msetnx,
        .first_key = 1, .last_key = -1, .key_step = 2,
        .keyspecs = {{"OW INSERT", 1, NULL, 0, 0, -1, 2, 0, 0, 0, 0}}, .n_keyspecs = 1,
        .summary = "Set multiple keys to multiple values, only if none of the keys exist",
        .since = "1.0.1", .group = "string",
        .complexity = "O(N) where N is the number of keys to set.",
        .tips = "request_policy:multi_shard response_policy:agg_min",
    },
    {
        .name = "append", .arity = 3, .flags = CMD_WRITE | CMD_DENYOOM | CMD_FAST,
        .acl_categories = "@write @string @fast", .exec = EXEC_KEYS, .merge = MERGE_NONE, .proc = cmd_append,
        .first_key = 1, .last_key = 1, .key_step = 1,
        .keyspecs = {{"RW INSERT", 1, NULL, 0, 0, 0, 1, 0, 0, 0, 0}}, .n_keyspecs = 1,
        .summary = "Append a value to a key",
        .since = "2.0.0", .group = "string",
        .complexity = "O(1). The amortized time complexity is O(1) assuming the appended value is small and the already present value is of any size, since the dynamic string library used by Redis will double the free space available on every reallocation.",
        .tips = NULL,
    },
    {
        .name = "strlen", .arity = 2, .flags = CMD_READONLY | CMD_FAST,
        .acl_categories = "@read @string @fast", .exec = EXEC_KEYS, .merge = MERGE_NONE, .proc = cmd_strlen,
        .first_key = 1, .last_key = 1, .key_step = 1,
        .keyspecs = {{"RO", 1, NULL, 0, 0, 0, 1, 0, 0, 0, 0}}, .n_keyspecs = 1,
        .summary = "Get the length of the value stored in a key",
        .since = "2.2.0", .group = "string",
        .complexity = "O(1)",
        .tips = NULL,
    },
    {
        .name = "incr", .arity = 2, .flags = CMD_WRITE | CMD_DENYOOM | CMD_FAST,
        .acl_categories = "@write @string @fast", .exec = EXEC_KEYS, .merge = MERGE_NONE, .proc = cmd_incr,
        .first_key = 1, .last_key = 1, .key_step = 1,
        .keyspecs = {{"RW ACCESS UPDATE", 1, NULL, 0, 0, 0, 1, 0, 0, 0, 0}}, .n_keyspecs = 1,
        .summary = "Increment the integer value of a key by one",
        .since = "1.0.0", .group = "string",
        .complexity = "O(1)",
        .tips = NULL,
    },
    {
        .name = "decr", .arity = 2, .flags = CMD_WRITE | CMD_DENYOOM | CMD_FAST,
        .acl_categories = "@write @string @fast", .exec = EXEC_KEYS, .merge = MERGE_NONE, .proc = cmd_decr,
        .first_key = 1, .last_key = 1, .key_step = 1,
        .keyspecs = {{"RW ACCESS UPDATE", 1, NULL, 0, 0, 0, 1, 0, 0, 0, 0}}, .n_keyspecs = 1,
        .summary = "Decrement the integer value of a key by one",
        .since = "1.0.0", .group = "string",
        .complexity = "O(1)",
        .tips = NULL,
    },
    {
        .name = "incrby", .arity = 3, .flags = CMD_WRITE | CMD_DENYOOM | CMD_FAST,
        .acl_categories = "@write @string @fast", .exec = EXEC_KEYS, .merge = MERGE_NONE, .proc = cmd_incrby,
        .first_key = 1, .last_key = 1, .key_step = 1,
        .keyspecs = {{"RW ACCESS UPDATE", 1, NULL, 0, 0, 0, 1, 0, 0, 0, 0}}, .n_keyspecs = 1,
        .summary = "Increment the integer value of a key by the given amount",
        .since = "1.0.0", .group = "string",
        .complexity = "O(1)",
        .tips = NULL,
    },
    {
        .name = "decrby", .arity = 3, .flags = CMD_WRITE | CMD_DENYOOM | CMD_FAST,
        .acl_categories = "@write @string @fast", .exec = EXEC_KEYS, .merge = MERGE_NONE, .proc = cmd_decrby,
        .first_key = 1, .last_key = 1, .key_step = 1,
        .keyspecs = {{"RW ACCESS UPDATE", 1, NULL, 0, 0, 0, 1, 0, 0, 0, 0}}, .n_keyspecs = 1,
        .summary = "Decrement the integer value of a key by the given number",
        .since = "1.0.0", .group = "string",
        .complexity = "O(1)",
        .tips = NULL,
    },
    {
        .name = "incrbyfloat", .arity = 3, .flags = CMD_WRITE | CMD_DENYOOM | CMD_FAST,
        .acl_categories = "@write @string @fast", .exec = EXEC_KEYS, .merge = MERGE_NONE, .proc = cmd_incrbyfloat,
        .first_key = 1, .last_key = 1, .key_step = 1,
        .keyspecs = {{"RW ACCESS UPDATE", 1, NULL, 0, 0, 0, 1, 0, 0, 0, 0}}, .n_keyspecs = 1,
        .summary = "Increment the float value of a key by the given amount",
        .since = "2.6.0", .group = "string",
        .complexity = "O(1)",
        .tips = NULL,
    },
    {
        .name = "getrange", .arity = 4, .flags = CMD_READONLY,
        .acl_categories = "@read @string @slow", .exec = EXEC_KEYS, .merge = MERGE_NONE, .proc = cmd_getrange,
        .first_key = 1, .last_key = 1, .key_step = 1,
        .keyspecs = {{"RO ACCESS", 1, NULL, 0, 0, 0, 1, 0, 0, 0, 0}}, .n_keyspecs = 1,
        .summary = "Get a substring of the string stored at a key",
        .since = "2.4.0", .group = "string",
        .complexity = "O(N) where N is the length of the returned string. The complexity is ultimately determined by the returned length, but because creating a substring from an existing string is very cheap, it can be considered O(1) for small strings.",
        .tips = NULL,
    },
    {
        .name = "setrange", .arity = 4, .flags = CMD_WRITE | CMD_DENYOOM,
        .acl_categories = "@write @string @slow", .exec = EXEC_KEYS, .merge = MERGE_NONE, .proc = cmd_setrange,
        .first_key = 1, .last_key = 1, .key_step = 1,
        .keyspecs = {{"RW UPDATE", 1, NULL, 0, 0, 0, 1, 0, 0, 0, 0}}, .n_keyspecs = 1,
        .summary = "Overwrite part of a string at key starting at the specified offset",
        .since = "2.2.0", .group = "string",
        .complexity = "O(1), not counting the time taken to copy the new string in place. Usually, this string is very small so the amortized complexity is O(1). Otherwise, complexity is O(M) with M being the length of the value argument.",
        .tips = NULL,
    },
    {
        .name = "substr", .arity = 4, .flags = CMD_READONLY,
        .acl_categories = "@read @string @slow", .exec = EXEC_KEYS, .merge = MERGE_NONE, .proc = cmd_substr,
        .first_key = 1, .last_key = 1, .key_step = 1,
        .keyspecs = {{"RO ACCESS", 1, NULL, 0, 0, 0, 1, 0, 0, 0, 0}}, .n_keyspecs = 1,
        .summary = "Get a substring of the string stored at a key",
        .since = "1.0.0", .group = "string",
        .complexity = "O(N) where N is the length of the returned string. The complexity is ultimately determined by the returned length, but because creating a substring from an existing string is very cheap, it can be considered O(1) for small strings.",
        .tips = NULL,
    },
    {
        .name = "lcs", .arity = -3, .flags = CMD_READONLY,
        .acl_categories = "@read @string @slow", .exec = EXEC_KEYS, .merge = MERGE_NONE, .proc = cmd_lcs,
        .first_key = 1, .last_key = 2, .key_step = 1,
        .keyspecs = {{"RO ACCESS", 1, NULL, 0, 0, 1, 1, 0, 0, 0, 0}}, .n_keyspecs = 1,
        .summary = "Find longest common substring",
        .since = "7.0.0", .group = "string",
        .complexity = "O(N*M) where N and M are the lengths of s1 and s2, respectively",
        .tips = NULL,
    },
    {
        .name = "setbit", .arity = 4, .flags = CMD_WRITE | CMD_DENYOOM,
        .acl_categories = "@write @bitmap @slow", .exec = EXEC_KEYS, .merge = MERGE_NONE, .proc = cmd_setbit,
        .first_key = 1, .last_key = 1, .key_step = 1,
        .keyspecs = {{"RW ACCESS UPDATE", 1, NULL, 0, 0, 0, 1, 0, 0, 0, 0}}, .n_keyspecs = 1,
        .summary = "Sets or clears the bit at offset in the string value stored at key",
        .since = "2.2.0", .group = "bitmap",
        .complexity = "O(1)",
        .tips = NULL,
    },
    {
        .name = "getbit", .arity = 3, .flags = CMD_READONLY | CMD_FAST,
        .acl_categories = "@read @bitmap @fast", .exec = EXEC_KEYS, .merge = MERGE_NONE, .proc = cmd_getbit,
        .first_key = 1, .last_key = 1, .key_step = 1,
        .keyspecs = {{"RO ACCESS", 1, NULL, 0, 0, 0, 1, 0, 0, 0, 0}}, .n_keyspecs = 1,
        .summary = "Returns the bit value at offset in the string value stored at key",
        .since = "2.2.0", .group = "bitmap",
        .complexity = "O(1)",
        .tips = NULL,
    },
    {
        .name = "bitcount", .arity = -2, .flags = CMD_READONLY,
        .acl_categories = "@read @bitmap @slow", .exec = EXEC_KEYS, .merge = MERGE_NONE, .proc = cmd_bitcount,
        .first_key = 1, .last_key = 1, .key_step = 1,
        .keyspecs = {{"RO ACCESS", 1, NULL, 0, 0, 0, 1, 0, 0, 0, 0}}, .n_keyspecs = 1,
        .summary = "Count set bits in a string",
        .since = "2.6.0", .group = "bitmap",
        .complexity = "O(N)",
        .tips = NULL,
    },
    {
        .name = "bitpos", .arity = -3, .flags = CMD_READONLY,
        .acl_categories = "@read @bitmap @slow", .exec = EXEC_KEYS, .merge = MERGE_NONE, .proc = cmd_bitpos,
        .first_key = 1, .last_key = 1, .key_step = 1,
        .keyspecs = {{"RO ACCESS", 1, NULL, 0, 0, 0, 1, 0, 0, 0, 0}}, .n_keyspecs = 1,
        .summary = "Find first bit set or clear in a string",
        .since = "2.8.7", .group = "bitmap",
        .complexity = "O(N)",
        .tips = NULL,
    },
    {
        .name = "bitop", .arity = -4, .flags = CMD_WRITE | CMD_DENYOOM,
        .acl_categories = "@write @bitmap @slow", .exec = EXEC_KEYS, .merge = MERGE_NONE, .proc = cmd_bitop,
        .first_key = 2, .last_key = -1, .key_step = 1,
        .keyspecs = {{"OW UPDATE", 2, NULL, 0, 0, 0, 1, 0, 0, 0, 0}, {"RO ACCESS", 3, NULL, 0, 0, -1, 1, 0, 0, 0, 0}}, .n_keyspecs = 2,
        .summary = "Perform bitwise operations between strings",
        .since = "2.6.0", .group = "bitmap",
        .complexity = "O(N)",
        .tips = NULL,
    },
    {
        .name = "bitfield", .arity = -2, .flags = CMD_WRITE | CMD_DENYOOM,
        .acl_categories = "@write @bitmap @slow", .exec = EXEC_KEYS, .merge = MERGE_NONE, .proc = cmd_bitfield,
        .first_key = 1, .last_key = 1, .key_step = 1,
        .keyspecs = {{"RW ACCESS UPDATE VARIABLE_FLAGS", 1, NULL, 0, 0, 0, 1, 0, 0, 0, 0}}, .n_keyspecs = 1,
        .summary = "Perform arbitrary bitfield integer operations on strings",
        .since = "3.2.0", .group = "bitmap",
        .complexity = "O(1) for each subcommand specified",
        .tips = NULL,
    },
    {
        .name = "bitfield_ro", .arity = -2, .flags = CMD_READONLY | CMD_FAST,
        .acl_categories = "@read @bitmap @fast", .exec = EXEC_KEYS, .merge = MERGE_NONE, .proc = cmd_bitfield_ro,
        .first_key = 1, .last_key = 1, .key_step = 1,
        .keyspecs = {{"RO ACCESS", 1, NULL, 0, 0, 0, 1, 0, 0, 0, 0}}, .n_keyspecs = 1,
        .summary = "Perform arbitrary bitfield integer operations on strings. Read-only variant of BITFIELD",
        .since = "6.0.0", .group = "bitmap",
        .complexity = "O(1) for each subcommand specified",
        .tips = NULL,
    },
    {0},
};
