/* t_stream.c: the stream commands (XADD XLEN XRANGE XREVRANGE XDEL XTRIM
 * XREAD XREADGROUP XGROUP XACK XPENDING XCLAIM XAUTOCLAIM XINFO XSETID),
 * with Redis 7.0's arguments, replies and errors.
 *
 * Thread: the shard thread owning the keys; XREAD/XREADGROUP over keys on
 * several shards run through the multi-key executor, and BLOCK parks the
 * client through core/blocking.c, which re-runs the command when a key it
 * waits on is written (with `$` resolved to the ID seen when it blocked).
 *
 * Propagation follows Redis: XADD with the concrete ID (and an approximate
 * trim made exact), XREADGROUP/XCLAIM/XAUTOCLAIM as XCLAIM ... FORCE JUSTID
 * per delivered entry plus XGROUP SETID / CREATECONSUMER, never themselves.
 *
 * Differences from Redis (docs/architecture.md): entries live in one sorted
 * vector rather than a rax of listpack nodes, so `~` trimming removes
 * exactly what was asked within LIMIT (Redis removes whole nodes only), and
 * XINFO's radix-tree-keys/-nodes report the nodes the RDB form would have. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/command.h"
#include "core/db.h"
#include "core/object.h"
#include "core/shard.h"
#include "core/stream.h"

#define ERR_BAD_ID "ERR Invalid stream ID specified as stream command argument"
#define SID_MAX ((sid){UINT64_MAX, UINT64_MAX})

/* ---- helpers -------------------------------------------------------------- */

/* Redis's string2ull: digits only, no sign, no leading zeros except "0". */
static int str2ull(const char *p, size_t len, uint64_t *out)
{
    if (len == 0 || len > 20 || (len > 1 && p[0] == '0'))
        return 0;
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (p[i] < '0' || p[i] > '9')
            return 0;
        uint64_t d = (uint64_t)(p[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return 0;
        v = v * 10 + d;
    }
    *out = v;
    return 1;
}

/* Redis's streamGenericParseIDOrReply. strict refuses "-" and "+";
 * seq_given (when not NULL) accepts "ms-*" and tells whether seq came. */
static int parse_id_s(rk_slice a, sid *id, uint64_t missing_seq, int strict, int *seq_given)
{
    if (a.len > 127)
        return -1;
    if (strict && a.len == 1 && (a.ptr[0] == '-' || a.ptr[0] == '+'))
        return -1;
    if (seq_given)
        *seq_given = 1;
    if (a.len == 1 && a.ptr[0] == '-') {
        *id = (sid){0, 0};
        return 0;
    }
    if (a.len == 1 && a.ptr[0] == '+') {
        *id = SID_MAX;
        return 0;
    }
    const char *dot = memchr(a.ptr, '-', a.len);
    uint64_t ms, seq;
    if (!str2ull(a.ptr, dot ? (size_t)(dot - a.ptr) : a.len, &ms))
        return -1;
    if (dot) {
        size_t sl = a.len - (size_t)(dot - a.ptr) - 1;
        if (seq_given && sl == 1 && dot[1] == '*') {
            seq = 0;
            *seq_given = 0;
        } else if (!str2ull(dot + 1, sl, &seq)) {
            return -1;
        }
    } else {
        seq = missing_seq;
    }
    *id = (sid){ms, seq};
    return 0;
}

static int parse_id(rk_ctx *c, int i, sid *id, uint64_t missing_seq, int strict, int *seq_given)
{
    if (parse_id_s(c->argv[i], id, missing_seq, strict, seq_given) != 0) {
        ctx_error(c, ERR_BAD_ID);
        return -1;
    }
    return 0;
}

/* An interval bound: "(" makes it exclusive. */
static int parse_interval_id(rk_ctx *c, int i, sid *id, int *exclude, uint64_t missing_seq)
{
    rk_slice a = c->argv[i];
    *exclude = a.len > 1 && a.ptr[0] == '(';
    int rc = *exclude ? parse_id_s((rk_slice){a.ptr + 1, a.len - 1}, id, missing_seq, 1, NULL)
                      : parse_id_s(a, id, missing_seq, 0, NULL);
    if (rc != 0) {
        ctx_error(c, ERR_BAD_ID);
        return -1;
    }
    return 0;
}

static void reply_id(rk_ctx *c, const sid *id)
{
    char buf[44];
    reply_bulk(&c->r, buf, (size_t)sid_format(buf, id));
}

static void reply_entry(rk_ctx *c, const s_entry *e)
{
    reply_array(&c->r, 2);
    reply_id(c, &e->id);
    reply_array(&c->r, 2 * (int64_t)e->nfields);
    for (uint32_t i = 0; i < 2 * e->nfields; i++) {
        rk_slice s = stream_entry_str(e, i);
        reply_bulk(&c->r, s.ptr, s.len);
    }
}

/* The stream at key: 0 with *out (NULL when absent), -1 replied WRONGTYPE. */
static int lookup_stream(rk_ctx *c, rk_slice key, int flags, stream **out)
{
    rk_obj *o = db_lookup(c->shard, c->db, key, flags);
    *out = NULL;
    if (!o)
        return 0;
    if (o->type != OBJ_STREAM) {
        ctx_wrongtype(c);
        return -1;
    }
    *out = o->u.ptr;
    return 0;
}

static int slice_is(rk_slice s, const char *lit)
{
    size_t n = strlen(lit);
    return s.len == n && memcmp(s.ptr, lit, n) == 0;
}

/* ---- trimming --------------------------------------------------------------- */

enum { TRIM_NONE = 0, TRIM_MAXLEN, TRIM_MINID };

typedef struct trim_args {
    int strategy, approx, arg_idx; /* arg_idx: the MAXLEN/MINID value's position */
    long long maxlen, limit;
    sid minid;
    int nomkstream, id_given, seq_given;
    sid id;
} trim_args;

/* Redis's streamParseAddOrTrimArgsOrReply: the ID's position (XADD) or the
 * end of the options; -1 replied. */
static int parse_trim_args(rk_ctx *c, trim_args *a, int xadd)
{
    memset(a, 0, sizeof(*a));
    int i = 2, limit_given = 0;
    for (; i < c->argc; i++) {
        int more = c->argc - 1 - i;
        rk_slice opt = c->argv[i];
        if (xadd && slice_is(opt, "*")) {
            break;
        } else if ((ctx_arg_is(c, i, "maxlen") || ctx_arg_is(c, i, "minid")) && more) {
            int minid = ctx_arg_is(c, i, "minid");
            if (a->strategy != TRIM_NONE) {
                ctx_error(c, "ERR syntax error, MAXLEN and MINID options at the same time are not compatible");
                return -1;
            }
            a->approx = 0;
            if (more >= 2 && slice_is(c->argv[i + 1], "~")) {
                a->approx = 1;
                i++;
            } else if (more >= 2 && slice_is(c->argv[i + 1], "=")) {
                i++;
            }
            if (minid) {
                if (parse_id(c, i + 1, &a->minid, 0, 1, NULL) < 0)
                    return -1;
            } else {
                if (ctx_arg_ll(c, i + 1, &a->maxlen) < 0)
                    return -1;
                if (a->maxlen < 0) {
                    ctx_error(c, "ERR The MAXLEN argument must be >= 0.");
                    return -1;
                }
            }
            i++;
            a->strategy = minid ? TRIM_MINID : TRIM_MAXLEN;
            a->arg_idx = i;
        } else if (ctx_arg_is(c, i, "limit") && more) {
            if (ctx_arg_ll(c, i + 1, &a->limit) < 0)
                return -1;
            if (a->limit < 0) {
                ctx_error(c, "ERR The LIMIT argument must be >= 0.");
                return -1;
            }
            limit_given = 1;
            i++;
        } else if (xadd && ctx_arg_is(c, i, "nomkstream")) {
            a->nomkstream = 1;
        } else if (xadd) {
            if (parse_id(c, i, &a->id, 0, 1, &a->seq_given) < 0)
                return -1;
            a->id_given = 1;
            break;
        } else {
            ctx_syntax_error(c);
            return -1;
        }
    }
    if (a->limit && a->strategy == TRIM_NONE) {
        ctx_error(c, "ERR syntax error, LIMIT cannot be used without specifying a trimming strategy");
        return -1;
    }
    if (!xadd && a->strategy == TRIM_NONE) {
        ctx_error(c, "ERR syntax error, XTRIM must be called with a trimming strategy");
        return -1;
    }
    if (limit_given) {
        if (!a->approx) {
            ctx_error(c, "ERR syntax error, LIMIT cannot be used without the special ~ option");
            return -1;
        }
    } else if (a->approx) {
        long long node = c->shard->cfg.stream_node_max_entries;
        a->limit = 100 * node;
        if (a->limit <= 0)
            a->limit = 10000;
        if (a->limit > 1000000)
            a->limit = 1000000;
    } else {
        a->limit = 0;
    }
    return i;
}

/* Removes entries from the front; returns how many. */
static long long stream_trim(stream *s, const trim_args *a)
{
    size_t k = 0;
    if (a->strategy == TRIM_MAXLEN)
        k = s->n > (unsigned long long)a->maxlen ? s->n - (size_t)a->maxlen : 0;
    else if (a->strategy == TRIM_MINID)
        k = stream_seek(s, &a->minid);
    if (a->approx && a->limit && k > (unsigned long long)a->limit)
        k = (size_t)a->limit;
    if (k) {
        stream_drop_front(s, k);
        stream_refresh_first_id(s);
    }
    return (long long)k;
}

/* Journals the command with `~` made `=` and the trim value made the
 * result (Redis's streamRewriteApproxSpecifier/TrimArgument), and for XADD
 * the concrete ID at idpos. */
static void propagate_rewritten(rk_ctx *c, const trim_args *a, int rewrite_trim, int idpos, const sid *id)
{
    if (!ctx_journaling(c)) {
        ctx_propagate_none(c);
        ctx_propagate(c, c->argc, c->argv); /* still PROP_CUSTOM: nothing to format */
        return;
    }
    rk_slice *v = malloc(sizeof(rk_slice) * (size_t)c->argc);
    if (!v) {
        ctx_propagate(c, c->argc, c->argv);
        return;
    }
    memcpy(v, c->argv, sizeof(rk_slice) * (size_t)c->argc);
    char idbuf[44], trimbuf[44];
    if (idpos > 0)
        v[idpos] = (rk_slice){idbuf, (size_t)sid_format(idbuf, id)};
    if (rewrite_trim) {
        stream *s = NULL;
        rk_obj *o = db_lookup(c->shard, c->db, c->argv[1], LOOKUP_NOTOUCH | LOOKUP_WRITE);
        if (o && o->type == OBJ_STREAM)
            s = o->u.ptr;
        v[a->arg_idx - 1] = (rk_slice){"=", 1};
        if (a->strategy == TRIM_MAXLEN) {
            int n = snprintf(trimbuf, sizeof(trimbuf), "%llu", (unsigned long long)(s ? s->n : 0));
            v[a->arg_idx] = (rk_slice){trimbuf, (size_t)n};
        } else {
            sid first = s && s->n ? stream_at(s, 0)->id : (sid){0, 0};
            v[a->arg_idx] = (rk_slice){trimbuf, (size_t)sid_format(trimbuf, &first)};
        }
    }
    ctx_propagate(c, c->argc, v);
    free(v);
}

/* ---- XADD XLEN XRANGE XREVRANGE XDEL XTRIM XSETID ------------------------------ */

static void cmd_xadd(rk_ctx *c)
{
    trim_args a;
    int idpos = parse_trim_args(c, &a, 1);
    if (idpos < 0)
        return;
    int field_pos = idpos + 1;
    if (c->argc - field_pos < 2 || (c->argc - field_pos) % 2 == 1) {
        ctx_wrong_arity(c);
        return;
    }
    if (a.id_given && a.seq_given && a.id.ms == 0 && a.id.seq == 0) {
        ctx_error(c, "ERR The ID specified in XADD must be greater than 0-0");
        return;
    }
    rk_obj *o = db_lookup(c->shard, c->db, c->argv[1], LOOKUP_WRITE);
    if (o && o->type != OBJ_STREAM) {
        ctx_wrongtype(c);
        return;
    }
    if (!o) {
        if (a.nomkstream) {
            reply_null(&c->r);
            return;
        }
        o = stream_new_obj();
        if (!o || db_add(c->shard, c->db, c->argv[1], o) != 0) {
            if (o)
                obj_free(o);
            ctx_oom(c);
            return;
        }
    }
    stream *s = o->u.ptr;
    if (s->last_id.ms == UINT64_MAX && s->last_id.seq == UINT64_MAX) {
        ctx_error(c, "ERR The stream has exhausted the last possible ID, unable to add more items");
        return;
    }
    sid id;
    if (a.id_given) {
        if (a.seq_given) {
            id = a.id;
        } else if (s->last_id.ms == a.id.ms) {
            if (s->last_id.seq == UINT64_MAX)
                goto too_small;
            id = s->last_id;
            id.seq++;
        } else {
            id = a.id;
        }
    } else {
        /* Redis's streamNextID: the clock, or last_id + 1 when the clock is behind. */
        uint64_t ms = (uint64_t)c->now_ms;
        if (ms > s->last_id.ms) {
            id = (sid){ms, 0};
        } else {
            id = s->last_id;
            sid_incr(&id);
        }
    }
    if (sid_cmp(&id, &s->last_id) <= 0)
        goto too_small;
    uint32_t nfields = (uint32_t)((c->argc - field_pos) / 2);
    s_entry *e = stream_entry_new(id, nfields, c->argv + field_pos);
    if (!e) {
        ctx_error(c, "ERR Elements are too large to be stored");
        return;
    }
    if (stream_append(s, e) != 0) {
        free(e);
        ctx_oom(c);
        return;
    }
    s->last_id = id;
    s->entries_added++;
    reply_id(c, &id);
    ctx_dirty(c, 1);
    int rewrite_trim = 0;
    if (a.strategy != TRIM_NONE) {
        stream_trim(s, &a);
        rewrite_trim = a.approx;
    }
    if (rewrite_trim || !a.id_given || !a.seq_given)
        propagate_rewritten(c, &a, rewrite_trim, (!a.id_given || !a.seq_given) ? idpos : -1, &id);
    return;
too_small:
    ctx_error(c, "ERR The ID specified in XADD is equal or smaller than the target stream top item");
}

static void cmd_xlen(rk_ctx *c)
{
    stream *s;
    if (lookup_stream(c, c->argv[1], LOOKUP_NONE, &s) < 0)
        return;
    reply_int(&c->r, s ? (int64_t)s->n : 0);
}

/* Entries with start <= ID <= end, up to count (0 = all), as an array. */
static size_t reply_range(rk_ctx *c, stream *s, sid start, sid end, size_t count, int rev)
{
    size_t emitted = 0;
    int64_t h = reply_deferred(&c->r);
    if (sid_cmp(&start, &end) <= 0) {
        if (!rev) {
            for (size_t i = stream_seek(s, &start); i < s->n && (!count || emitted < count); i++) {
                s_entry *e = stream_at(s, i);
                if (sid_cmp(&e->id, &end) > 0)
                    break;
                reply_entry(c, e);
                emitted++;
            }
        } else {
            sid after = end;
            size_t i = sid_incr(&after) == 0 ? stream_seek(s, &after) : s->n;
            while (i > 0 && (!count || emitted < count)) {
                s_entry *e = stream_at(s, --i);
                if (sid_cmp(&e->id, &start) < 0)
                    break;
                reply_entry(c, e);
                emitted++;
            }
        }
    }
    reply_set_deferred_array(&c->r, h, (int64_t)emitted);
    return emitted;
}

static void xrange_generic(rk_ctx *c, int rev)
{
    int si = rev ? 3 : 2, ei = rev ? 2 : 3;
    sid start, end;
    int startex, endex;
    long long count = -1;
    if (parse_interval_id(c, si, &start, &startex, 0) < 0)
        return;
    if (startex && sid_incr(&start) != 0) {
        ctx_error(c, "ERR invalid start ID for the interval");
        return;
    }
    if (parse_interval_id(c, ei, &end, &endex, UINT64_MAX) < 0)
        return;
    if (endex && sid_decr(&end) != 0) {
        ctx_error(c, "ERR invalid end ID for the interval");
        return;
    }
    for (int j = 4; j < c->argc; j++) {
        if (ctx_arg_is(c, j, "count") && c->argc - j - 1 >= 1) {
            if (ctx_arg_ll(c, j + 1, &count) < 0)
                return;
            if (count < 0)
                count = 0;
            j++;
        } else {
            ctx_syntax_error(c);
            return;
        }
    }
    stream *s;
    if (lookup_stream(c, c->argv[1], LOOKUP_NONE, &s) < 0)
        return;
    if (!s) {
        reply_array(&c->r, 0);
        return;
    }
    if (count == 0) {
        reply_null_array(&c->r);
        return;
    }
    reply_range(c, s, start, end, count == -1 ? 0 : (size_t)count, rev);
}

static void cmd_xrange(rk_ctx *c) { xrange_generic(c, 0); }
static void cmd_xrevrange(rk_ctx *c) { xrange_generic(c, 1); }

static void cmd_xdel(rk_ctx *c)
{
    stream *s;
    if (lookup_stream(c, c->argv[1], LOOKUP_WRITE, &s) < 0)
        return;
    if (!s) {
        reply_int(&c->r, 0);
        return;
    }
    for (int j = 2; j < c->argc; j++) {
        sid id;
        if (parse_id(c, j, &id, 0, 1, NULL) < 0)
            return;
    }
    long long deleted = 0;
    int first_entry = 0;
    for (int j = 2; j < c->argc; j++) {
        sid id;
        parse_id_s(c->argv[j], &id, 0, 1, NULL);
        size_t i = stream_seek(s, &id);
        if (i < s->n && sid_cmp(&stream_at(s, i)->id, &id) == 0) {
            if (sid_cmp(&id, &s->first_id) == 0)
                first_entry = 1;
            stream_remove_at(s, i);
            if (sid_cmp(&id, &s->max_deleted) > 0)
                s->max_deleted = id;
            deleted++;
        }
    }
    if (deleted && (s->n == 0 || first_entry))
        stream_refresh_first_id(s);
    if (deleted)
        ctx_dirty(c, deleted);
    reply_int(&c->r, deleted);
}

static void cmd_xtrim(rk_ctx *c)
{
    trim_args a;
    if (parse_trim_args(c, &a, 0) < 0)
        return;
    stream *s;
    if (lookup_stream(c, c->argv[1], LOOKUP_WRITE, &s) < 0)
        return;
    if (!s) {
        reply_int(&c->r, 0);
        return;
    }
    long long deleted = stream_trim(s, &a);
    if (deleted) {
        ctx_dirty(c, deleted);
        if (a.approx)
            propagate_rewritten(c, &a, 1, -1, NULL);
    }
    reply_int(&c->r, deleted);
}

static void cmd_xsetid(rk_ctx *c)
{
    sid id, max_xdel = {0, 0};
    long long entries_added = -1;
    if (parse_id(c, 2, &id, 0, 1, NULL) < 0)
        return;
    for (int i = 3; i < c->argc; i += 2) {
        int more = c->argc - 1 - i;
        if (ctx_arg_is(c, i, "entriesadded") && more) {
            if (ctx_arg_ll(c, i + 1, &entries_added) < 0)
                return;
            if (entries_added < 0) {
                ctx_error(c, "ERR entries_added must be positive");
                return;
            }
        } else if (ctx_arg_is(c, i, "maxdeletedid") && more) {
            if (parse_id(c, i + 1, &max_xdel, 0, 1, NULL) < 0)
                return;
            if (sid_cmp(&id, &max_xdel) < 0) {
                ctx_error(c, "ERR The ID specified in XSETID is smaller than the provided max_deleted_entry_id");
                return;
            }
        } else {
            ctx_syntax_error(c);
            return;
        }
    }
    stream *s;
    if (lookup_stream(c, c->argv[1], LOOKUP_WRITE, &s) < 0)
        return;
    if (!s) {
        ctx_error(c, "ERR no such key");
        return;
    }
    if (s->n > 0) {
        if (sid_cmp(&id, &stream_at(s, s->n - 1)->id) < 0) {
            ctx_error(c, "ERR The ID specified in XSETID is smaller than the target stream top item");
            return;
        }
        if (entries_added != -1 && s->n > (unsigned long long)entries_added) {
            ctx_error(c, "ERR The entries_added specified in XSETID is smaller than the target stream length");
            return;
        }
    }
    s->last_id = id;
    if (entries_added != -1)
        s->entries_added = (uint64_t)entries_added;
    if (!sid_is_zero(&max_xdel))
        s->max_deleted = max_xdel;
    reply_ok(&c->r);
    ctx_dirty(c, 1);
}

/* ---- consumer groups: lag and propagation ------------------------------------------- */

static int range_has_tombstones(const stream *s, const sid *start)
{
    if (!s->n || sid_is_zero(&s->max_deleted))
        return 0;
    if (sid_cmp(&s->first_id, &s->max_deleted) > 0)
        return 0;
    sid st = start ? *start : (sid){0, 0};
    return sid_cmp(&st, &s->max_deleted) <= 0;
}

static long long distance_from_first_ever(const stream *s, const sid *id)
{
    if (!s->entries_added)
        return 0;
    if (!s->n && sid_cmp(id, &s->last_id) < 1)
        return (long long)s->entries_added;
    int cmp_last = sid_cmp(id, &s->last_id);
    if (cmp_last == 0)
        return (long long)s->entries_added;
    if (cmp_last > 0)
        return SCG_INVALID_ENTRIES_READ;
    int cmp_id_first = sid_cmp(id, &s->first_id);
    int cmp_xdel_first = sid_cmp(&s->max_deleted, &s->first_id);
    if (sid_is_zero(&s->max_deleted) || cmp_xdel_first < 0) {
        if (cmp_id_first < 0)
            return (long long)(s->entries_added - s->n);
        if (cmp_id_first == 0)
            return (long long)(s->entries_added - s->n + 1);
    }
    return SCG_INVALID_ENTRIES_READ;
}

static void reply_lag(rk_ctx *c, const stream *s, const s_group *g)
{
    if (!s->entries_added) {
        reply_int(&c->r, 0);
    } else if (g->entries_read != SCG_INVALID_ENTRIES_READ && !range_has_tombstones(s, &g->last_id)) {
        reply_int(&c->r, (int64_t)s->entries_added - g->entries_read);
    } else {
        long long read = distance_from_first_ever(s, &g->last_id);
        if (read != SCG_INVALID_ENTRIES_READ)
            reply_int(&c->r, (int64_t)s->entries_added - read);
        else
            reply_null(&c->r);
    }
}

static void prop_xclaim(rk_ctx *c, rk_slice key, rk_slice group, const s_group *g, const sid *id, const s_nack *n)
{
    char idb[44], timeb[24], cntb[24], lastb[44];
    rk_slice v[14] = {
        RK_SLICE("XCLAIM"),
        key,
        group,
        rkstr_slice(n->consumer->name),
        RK_SLICE("0"),
        {idb, (size_t)sid_format(idb, id)},
        RK_SLICE("TIME"),
        {timeb, (size_t)snprintf(timeb, sizeof(timeb), "%lld", (long long)n->delivery_time)},
        RK_SLICE("RETRYCOUNT"),
        {cntb, (size_t)snprintf(cntb, sizeof(cntb), "%llu", (unsigned long long)n->delivery_count)},
        RK_SLICE("FORCE"),
        RK_SLICE("JUSTID"),
        RK_SLICE("LASTID"),
        {lastb, (size_t)sid_format(lastb, &g->last_id)},
    };
    ctx_propagate(c, 14, v);
}

static void prop_setid(rk_ctx *c, rk_slice key, rk_slice group, const s_group *g)
{
    char idb[44], rb[24];
    rk_slice v[7] = {RK_SLICE("XGROUP"), RK_SLICE("SETID"), key, group,
                     {idb, (size_t)sid_format(idb, &g->last_id)}, RK_SLICE("ENTRIESREAD"),
                     {rb, (size_t)snprintf(rb, sizeof(rb), "%lld", (long long)g->entries_read)}};
    ctx_propagate(c, 7, v);
}

static void prop_createconsumer(rk_ctx *c, rk_slice key, rk_slice group, rk_slice consumer)
{
    rk_slice v[5] = {RK_SLICE("XGROUP"), RK_SLICE("CREATECONSUMER"), key, group, consumer};
    ctx_propagate(c, 5, v);
}

/* ---- XREAD / XREADGROUP ------------------------------------------------------------- */

/* Serves new entries to a group consumer (Redis's streamReplyWithRange with
 * a group): updates last_id/entries_read and the PELs, propagates. */
static size_t serve_group(rk_ctx *c, stream *s, sid start, size_t count, s_group *g, s_consumer *con, int noack,
                          rk_slice key, rk_slice gname, int *oom)
{
    size_t emitted = 0;
    int propagate_last_id = 0;
    int64_t h = reply_deferred(&c->r);
    for (size_t i = stream_seek(s, &start); i < s->n && (!count || emitted < count); i++) {
        s_entry *e = stream_at(s, i);
        if (sid_cmp(&e->id, &g->last_id) > 0) {
            if (g->entries_read != SCG_INVALID_ENTRIES_READ && !range_has_tombstones(s, &e->id))
                g->entries_read++;
            else if (s->entries_added)
                g->entries_read = distance_from_first_ever(s, &e->id);
            g->last_id = e->id;
            /* Redis 7.0 sends this only with NOACK; sending it always also
             * carries entries_read, so replicas and the AOF keep the lag. */
            propagate_last_id = 1;
        }
        reply_entry(c, e);
        emitted++;
        if (!noack) {
            s_nack *n = stream_nack_find(g, &e->id);
            if (n) {
                if (stream_nack_assign(g, n, con) != 0) {
                    *oom = 1;
                    break;
                }
                n->delivery_time = c->now_ms;
                n->delivery_count = 1;
            } else if (!(n = stream_nack_add(g, &e->id, con, c->now_ms, 1))) {
                *oom = 1;
                break;
            }
            prop_xclaim(c, key, gname, g, &e->id, n);
        }
    }
    if (propagate_last_id)
        prop_setid(c, key, gname, g);
    reply_set_deferred_array(&c->r, h, (int64_t)emitted);
    return emitted;
}

/* The consumer's own pending entries from start (XREADGROUP with an ID). */
static void serve_history(rk_ctx *c, stream *s, sid start, size_t count, s_consumer *con)
{
    size_t emitted = 0;
    int64_t h = reply_deferred(&c->r);
    s_group *g = NULL;
    (void)g;
    for (size_t k = stream_consumer_seek(con, &start); k < con->npel && (!count || emitted < count); k++) {
        sid id = con->pel[k];
        s_entry *e = stream_find(s, &id);
        if (e) {
            reply_entry(c, e);
        } else {
            reply_array(&c->r, 2);
            reply_id(c, &id);
            reply_null_array(&c->r);
        }
        emitted++;
    }
    reply_set_deferred_array(&c->r, h, (int64_t)emitted);
}

static void bump_history(stream *s, s_group *g, s_consumer *con, sid start, size_t count, int64_t now)
{
    size_t emitted = 0;
    for (size_t k = stream_consumer_seek(con, &start); k < con->npel && (!count || emitted < count); k++, emitted++) {
        if (!stream_find(s, &con->pel[k]))
            continue;
        s_nack *n = stream_nack_find(g, &con->pel[k]);
        if (n) {
            n->delivery_time = now;
            n->delivery_count++;
        }
    }
}

static void xread_generic(rk_ctx *c, int group_mode)
{
    long long timeout = -1, count = 0;
    int streams_arg = 0, nstreams = 0, noack = 0;
    rk_slice gname = {0}, cname = {0};
    int has_group = 0;
    const char *name = group_mode ? "XREADGROUP" : "XREAD";
    for (int i = 1; i < c->argc; i++) {
        int more = c->argc - i - 1;
        if (ctx_arg_is(c, i, "block") && more) {
            i++;
            long long t;
            if (!rk_str2ll(c->argv[i].ptr, c->argv[i].len, &t)) {
                ctx_error(c, "ERR timeout is not an integer or out of range");
                return;
            }
            if (t < 0) {
                ctx_error(c, "ERR timeout is negative");
                return;
            }
            timeout = t;
        } else if (ctx_arg_is(c, i, "count") && more) {
            i++;
            if (ctx_arg_ll(c, i, &count) < 0)
                return;
            if (count < 0)
                count = 0;
        } else if (ctx_arg_is(c, i, "streams") && more) {
            streams_arg = i + 1;
            nstreams = c->argc - streams_arg;
            if (nstreams % 2 != 0) {
                ctx_error(c, "ERR Unbalanced XREAD list of streams: for each stream key an ID or '$' must be "
                             "specified.");
                return;
            }
            nstreams /= 2;
            break;
        } else if (ctx_arg_is(c, i, "group") && more >= 2) {
            if (!group_mode) {
                ctx_error(c, "ERR The GROUP option is only supported by XREADGROUP. You called XREAD instead.");
                return;
            }
            gname = c->argv[i + 1];
            cname = c->argv[i + 2];
            has_group = 1;
            i += 2;
        } else if (ctx_arg_is(c, i, "noack")) {
            if (!group_mode) {
                ctx_error(c, "ERR The NOACK option is only supported by XREADGROUP. You called XREAD instead.");
                return;
            }
            noack = 1;
        } else {
            ctx_syntax_error(c);
            return;
        }
    }
    if (streams_arg == 0) {
        ctx_syntax_error(c);
        return;
    }
    if (group_mode && !has_group) {
        ctx_error(c, "ERR Missing GROUP option for XREADGROUP");
        return;
    }
    ctx_propagate_none(c); /* only the effects below are journaled */
    sid *ids = calloc((size_t)nstreams, sizeof(sid));
    s_group **groups = calloc((size_t)nstreams, sizeof(*groups));
    if (!ids || !groups) {
        free(ids);
        free(groups);
        ctx_oom(c);
        return;
    }
    int any_dollar = 0;
    for (int k = 0; k < nstreams; k++) {
        int ia = streams_arg + nstreams + k;
        rk_slice key = c->argv[streams_arg + k];
        stream *s;
        if (lookup_stream(c, key, LOOKUP_NONE, &s) < 0)
            goto cleanup;
        if (has_group) {
            if (!s || !(groups[k] = stream_group_find(s, gname.ptr, gname.len))) {
                ctx_errorf(c,
                           "NOGROUP No such key '%.*s' or consumer group '%.*s' in XREADGROUP with GROUP option",
                           (int)key.len, key.ptr, (int)gname.len, gname.ptr);
                goto cleanup;
            }
        }
        if (slice_is(c->argv[ia], "$")) {
            if (group_mode) {
                ctx_error(c, "ERR The $ ID is meaningless in the context of XREADGROUP: you want to read the "
                             "history of this consumer by specifying a proper ID, or use the > ID to get new "
                             "messages. The $ ID would just return an empty result set.");
                goto cleanup;
            }
            ids[k] = s ? s->last_id : (sid){0, 0};
            any_dollar = 1;
            continue;
        }
        if (slice_is(c->argv[ia], ">")) {
            if (!group_mode) {
                ctx_error(c, "ERR The > ID can be specified only when calling XREADGROUP using the GROUP <group> "
                             "<consumer> option.");
                goto cleanup;
            }
            ids[k] = SID_MAX;
            continue;
        }
        if (parse_id(c, ia, &ids[k], 0, 1, NULL) < 0)
            goto cleanup;
    }
    int64_t h = -1;
    size_t served = 0;
    int oom = 0;
    for (int k = 0; k < nstreams && !oom; k++) {
        rk_slice key = c->argv[streams_arg + k];
        stream *s;
        lookup_stream(c, key, LOOKUP_NONE, &s);
        if (!s)
            continue;
        sid *gt = &ids[k];
        int sync = 0, history = 0;
        if (has_group) {
            if (gt->ms != UINT64_MAX || gt->seq != UINT64_MAX)
                sync = history = 1;
            else if (s->n && sid_cmp(&stream_at(s, s->n - 1)->id, &groups[k]->last_id) > 0) {
                sync = 1;
                *gt = groups[k]->last_id; /* new entries: after the group's last delivered ID */
            }
        } else if (s->n && sid_cmp(&stream_at(s, s->n - 1)->id, gt) > 0) {
            sync = 1;
        }
        if (!sync)
            continue;
        if (++served == 1)
            h = reply_deferred(&c->r);
        sid start = *gt;
        sid_incr(&start);
        if (c->resp == 2)
            reply_array(&c->r, 2);
        reply_bulk(&c->r, key.ptr, key.len);
        if (!has_group) {
            reply_range(c, s, start, SID_MAX, (size_t)count, 0);
            continue;
        }
        s_group *g = groups[k];
        s_consumer *con = stream_consumer_find(g, cname.ptr, cname.len);
        if (con) {
            con->seen_time = c->now_ms;
        } else {
            if (!(con = stream_consumer_create(g, cname.ptr, cname.len, c->now_ms))) {
                oom = 1;
                break;
            }
            ctx_dirty(c, 1);
            if (noack)
                prop_createconsumer(c, key, gname, cname);
        }
        if (history) {
            serve_history(c, s, start, (size_t)count, con);
            bump_history(s, g, con, start, (size_t)count, c->now_ms);
        } else {
            serve_group(c, s, start, (size_t)count, g, con, noack, key, gname, &oom);
        }
        ctx_dirty(c, 1);
    }
    if (oom) {
        ctx_oom(c);
        goto cleanup;
    }
    if (served) {
        if (c->resp == 2)
            reply_set_deferred_array(&c->r, h, (int64_t)served);
        else
            reply_set_deferred_map(&c->r, h, (int64_t)served);
        goto cleanup;
    }
    if (timeout != -1 && !c->in_multi) {
        /* Park; the re-run must compare with the IDs seen now. */
        if (any_dollar) {
            rk_slice *v = malloc(sizeof(rk_slice) * (size_t)c->argc + (size_t)nstreams * 44);
            if (v) {
                char *idtext = (char *)(v + c->argc);
                memcpy(v, c->argv, sizeof(rk_slice) * (size_t)c->argc);
                for (int k = 0; k < nstreams; k++) {
                    int ia = streams_arg + nstreams + k;
                    if (slice_is(c->argv[ia], "$"))
                        v[ia] = (rk_slice){idtext + 44 * k, (size_t)sid_format(idtext + 44 * k, &ids[k])};
                }
                ctx_block_argv(c, (double)timeout / 1000.0, v);
                free(v);
                goto cleanup;
            }
        }
        ctx_block(c, (double)timeout / 1000.0);
        goto cleanup;
    }
    reply_null_array(&c->r);
cleanup:
    (void)name;
    free(ids);
    free(groups);
}

static void cmd_xread(rk_ctx *c) { xread_generic(c, 0); }
static void cmd_xreadgroup(rk_ctx *c) { xread_generic(c, 1); }

/* ---- XGROUP ------------------------------------------------------------------------ */

static int xgroup_target(rk_ctx *c, stream **s, s_group **g, int need_group)
{
    if (lookup_stream(c, c->argv[2], LOOKUP_WRITE, s) < 0)
        return -1;
    if (!*s) {
        ctx_error(c, "ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to "
                     "use the MKSTREAM option to create an empty stream automatically.");
        return -1;
    }
    *g = stream_group_find(*s, c->argv[3].ptr, c->argv[3].len);
    if (need_group && !*g) {
        ctx_errorf(c, "NOGROUP No such consumer group '%.*s' for key name '%.*s'", (int)c->argv[3].len,
                   c->argv[3].ptr, (int)c->argv[2].len, c->argv[2].ptr);
        return -1;
    }
    return 0;
}

/* ENTRIESREAD / MKSTREAM options from argv[5]. -1 replied. */
static int xgroup_options(rk_ctx *c, int create, int *mkstream, long long *entries_read)
{
    for (int i = 5; i < c->argc;) {
        if (create && ctx_arg_is(c, i, "mkstream")) {
            *mkstream = 1;
            i++;
        } else if (ctx_arg_is(c, i, "entriesread") && i + 1 < c->argc) {
            if (ctx_arg_ll(c, i + 1, entries_read) < 0)
                return -1;
            if (*entries_read < 0 && *entries_read != SCG_INVALID_ENTRIES_READ) {
                ctx_error(c, "ERR value for ENTRIESREAD must be positive or -1");
                return -1;
            }
            i += 2;
        } else {
            ctx_errorf(c, "ERR unknown subcommand or wrong number of arguments for '%.*s'. Try XGROUP HELP.",
                       (int)c->argv[1].len, c->argv[1].ptr);
            return -1;
        }
    }
    return 0;
}

static void cmd_xgroup_create(rk_ctx *c)
{
    int mkstream = 0;
    long long entries_read = SCG_INVALID_ENTRIES_READ;
    if (c->argc > 8) {
        ctx_errorf(c, "ERR unknown subcommand or wrong number of arguments for 'CREATE'. Try XGROUP HELP.");
        return;
    }
    if (xgroup_options(c, 1, &mkstream, &entries_read) < 0)
        return;
    stream *s;
    if (lookup_stream(c, c->argv[2], LOOKUP_WRITE, &s) < 0)
        return;
    if (!s && !mkstream) {
        ctx_error(c, "ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to "
                     "use the MKSTREAM option to create an empty stream automatically.");
        return;
    }
    sid id;
    if (slice_is(c->argv[4], "$"))
        id = s ? s->last_id : (sid){0, 0};
    else if (parse_id(c, 4, &id, 0, 1, NULL) < 0)
        return;
    if (!s) {
        rk_obj *o = stream_new_obj();
        if (!o || db_add(c->shard, c->db, c->argv[2], o) != 0) {
            if (o)
                obj_free(o);
            ctx_oom(c);
            return;
        }
        s = o->u.ptr;
        ctx_dirty(c, 1);
    }
    int exists;
    if (!stream_group_create(s, c->argv[3].ptr, c->argv[3].len, id, entries_read, &exists)) {
        if (exists)
            ctx_error(c, "BUSYGROUP Consumer Group name already exists");
        else
            ctx_oom(c);
        return;
    }
    reply_ok(&c->r);
    ctx_dirty(c, 1);
}

static void cmd_xgroup_setid(rk_ctx *c)
{
    int mk = 0;
    long long entries_read = SCG_INVALID_ENTRIES_READ;
    if (c->argc != 5 && c->argc != 7) {
        ctx_error(c, "ERR unknown subcommand or wrong number of arguments for 'SETID'. Try XGROUP HELP.");
        return;
    }
    if (xgroup_options(c, 0, &mk, &entries_read) < 0)
        return;
    stream *s;
    s_group *g;
    if (xgroup_target(c, &s, &g, 1) < 0)
        return;
    sid id;
    if (slice_is(c->argv[4], "$"))
        id = s->last_id;
    else if (parse_id(c, 4, &id, 0, 0, NULL) < 0)
        return;
    g->last_id = id;
    g->entries_read = entries_read;
    reply_ok(&c->r);
    ctx_dirty(c, 1);
}

static void cmd_xgroup_destroy(rk_ctx *c)
{
    stream *s;
    s_group *g;
    if (xgroup_target(c, &s, &g, 0) < 0)
        return;
    if (!g) {
        reply_int(&c->r, 0);
        return;
    }
    stream_group_destroy(s, g);
    reply_int(&c->r, 1);
    ctx_dirty(c, 1);
}

static void cmd_xgroup_createconsumer(rk_ctx *c)
{
    stream *s;
    s_group *g;
    if (xgroup_target(c, &s, &g, 1) < 0)
        return;
    if (stream_consumer_find(g, c->argv[4].ptr, c->argv[4].len)) {
        reply_int(&c->r, 0);
        return;
    }
    if (!stream_consumer_create(g, c->argv[4].ptr, c->argv[4].len, c->now_ms)) {
        ctx_oom(c);
        return;
    }
    ctx_dirty(c, 1);
    reply_int(&c->r, 1);
}

static void cmd_xgroup_delconsumer(rk_ctx *c)
{
    stream *s;
    s_group *g;
    if (xgroup_target(c, &s, &g, 1) < 0)
        return;
    s_consumer *con = stream_consumer_find(g, c->argv[4].ptr, c->argv[4].len);
    long long pending = 0;
    if (con) {
        pending = (long long)stream_consumer_delete(g, con);
        ctx_dirty(c, 1);
    }
    reply_int(&c->r, pending);
}

static void reply_help(rk_ctx *c, const char *const *lines, size_t n)
{
    reply_array(&c->r, (int64_t)n);
    for (size_t i = 0; i < n; i++)
        reply_simple(&c->r, lines[i]);
}

static void cmd_xgroup_help(rk_ctx *c)
{
    static const char *const lines[] = {
        "XGROUP <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "CREATE <key> <groupname> <id|$> [option]",
        "    Create a new consumer group. Options are:",
        "    * MKSTREAM",
        "      Create the empty stream if it does not exist.",
        "    * ENTRIESREAD entries_read",
        "      Set the group's entries_read counter (internal use).",
        "CREATECONSUMER <key> <groupname> <consumer>",
        "    Create a new consumer in the specified group.",
        "DELCONSUMER <key> <groupname> <consumer>",
        "    Remove the specified consumer.",
        "DESTROY <key> <groupname>",
        "    Remove the specified group.",
        "SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]",
        "    Set the current group ID and entries_read counter.",
        "HELP",
        "    Prints this help.",
    };
    reply_help(c, lines, sizeof(lines) / sizeof(lines[0]));
}

static void cmd_xgroup(rk_ctx *c)
{
    rk_slice sub = c->argc > 1 ? c->argv[1] : RK_SLICE("");
    ctx_errorf(c, "ERR unknown subcommand '%.*s'. Try XGROUP HELP.", (int)sub.len, sub.ptr);
}

/* ---- XACK XPENDING XCLAIM XAUTOCLAIM ---------------------------------------------------- */

/* The stream at argv[1] and its group argv[2]; -1 replied (WRONGTYPE, or
 * Redis's NOGROUP when either is missing). */
static int lookup_group(rk_ctx *c, int flags, stream **s, s_group **g)
{
    if (lookup_stream(c, c->argv[1], flags, s) < 0)
        return -1;
    *g = *s ? stream_group_find(*s, c->argv[2].ptr, c->argv[2].len) : NULL;
    if (!*g) {
        ctx_errorf(c, "NOGROUP No such key '%.*s' or consumer group '%.*s'", (int)c->argv[1].len, c->argv[1].ptr,
                   (int)c->argv[2].len, c->argv[2].ptr);
        return -1;
    }
    return 0;
}

static void cmd_xack(rk_ctx *c)
{
    stream *s;
    if (lookup_stream(c, c->argv[1], LOOKUP_WRITE, &s) < 0)
        return;
    s_group *g = s ? stream_group_find(s, c->argv[2].ptr, c->argv[2].len) : NULL;
    if (!g) {
        reply_int(&c->r, 0);
        return;
    }
    for (int j = 3; j < c->argc; j++) {
        sid id;
        if (parse_id(c, j, &id, 0, 1, NULL) < 0)
            return;
    }
    long long acked = 0;
    for (int j = 3; j < c->argc; j++) {
        sid id;
        parse_id_s(c->argv[j], &id, 0, 1, NULL);
        if (stream_nack_find(g, &id)) {
            stream_nack_remove(g, &id);
            acked++;
        }
    }
    if (acked)
        ctx_dirty(c, acked);
    reply_int(&c->r, acked);
}

static void cmd_xpending(rk_ctx *c)
{
    int justinfo = c->argc == 3;
    long long count = 0, minidle = 0;
    sid start = {0, 0}, end = SID_MAX;
    rk_slice consumer = {0};
    int has_consumer = 0;
    if (c->argc != 3 && (c->argc < 6 || c->argc > 9)) {
        ctx_syntax_error(c);
        return;
    }
    if (c->argc >= 6) {
        int si = 3;
        if (ctx_arg_is(c, 3, "idle")) {
            if (ctx_arg_ll(c, 4, &minidle) < 0)
                return;
            if (c->argc < 8) {
                ctx_syntax_error(c);
                return;
            }
            si += 2;
        }
        if (ctx_arg_ll(c, si + 2, &count) < 0)
            return;
        if (count < 0)
            count = 0;
        int sx, ex;
        if (parse_interval_id(c, si, &start, &sx, 0) < 0)
            return;
        if (sx && sid_incr(&start) != 0) {
            ctx_error(c, "ERR invalid start ID for the interval");
            return;
        }
        if (parse_interval_id(c, si + 1, &end, &ex, UINT64_MAX) < 0)
            return;
        if (ex && sid_decr(&end) != 0) {
            ctx_error(c, "ERR invalid end ID for the interval");
            return;
        }
        if (si + 3 < c->argc) {
            consumer = c->argv[si + 3];
            has_consumer = 1;
        }
    }
    stream *s;
    s_group *g;
    if (lookup_group(c, LOOKUP_NONE, &s, &g) < 0)
        return;
    if (justinfo) {
        reply_array(&c->r, 4);
        reply_int(&c->r, (int64_t)g->npel);
        if (g->npel == 0) {
            reply_null(&c->r);
            reply_null(&c->r);
            reply_null_array(&c->r);
            return;
        }
        reply_id(c, &g->pel[0].id);
        reply_id(c, &g->pel[g->npel - 1].id);
        int64_t n = 0;
        for (size_t k = 0; k < g->ncons; k++)
            n += g->cons[k]->npel > 0;
        reply_array(&c->r, n);
        for (size_t k = 0; k < g->ncons; k++) {
            if (!g->cons[k]->npel)
                continue;
            reply_array(&c->r, 2);
            reply_bulk(&c->r, g->cons[k]->name->data, g->cons[k]->name->len);
            reply_bulk_int(&c->r, (int64_t)g->cons[k]->npel);
        }
        return;
    }
    s_consumer *con = NULL;
    if (has_consumer && !(con = stream_consumer_find(g, consumer.ptr, consumer.len))) {
        reply_array(&c->r, 0);
        return;
    }
    int64_t h = reply_deferred(&c->r);
    int64_t n = 0;
    int64_t now = c->now_ms;
    size_t total = con ? con->npel : g->npel;
    size_t k = con ? stream_consumer_seek(con, &start) : stream_nack_seek(g, &start);
    for (; count && k < total; k++) {
        const s_nack *nk = con ? stream_nack_find(g, &con->pel[k]) : &g->pel[k];
        if (sid_cmp(&nk->id, &end) > 0)
            break;
        if (minidle && now - nk->delivery_time < minidle)
            continue;
        n++;
        count--;
        reply_array(&c->r, 4);
        reply_id(c, &nk->id);
        reply_bulk(&c->r, nk->consumer->name->data, nk->consumer->name->len);
        int64_t elapsed = now - nk->delivery_time;
        reply_int(&c->r, elapsed < 0 ? 0 : elapsed);
        reply_int(&c->r, (int64_t)nk->delivery_count);
    }
    reply_set_deferred_array(&c->r, h, n);
}

static int arg_ll_msg(rk_ctx *c, int i, long long *out, const char *msg)
{
    if (!rk_str2ll(c->argv[i].ptr, c->argv[i].len, out)) {
        ctx_error(c, msg);
        return -1;
    }
    return 0;
}

static void cmd_xclaim(rk_ctx *c)
{
    stream *s;
    s_group *g;
    if (lookup_group(c, LOOKUP_WRITE, &s, &g) < 0)
        return;
    long long minidle, retrycount = -1, deliverytime = -1;
    int force = 0, justid = 0;
    if (arg_ll_msg(c, 4, &minidle, "ERR Invalid min-idle-time argument for XCLAIM") < 0)
        return;
    if (minidle < 0)
        minidle = 0;
    int j = 5;
    for (; j < c->argc; j++) {
        sid tmp;
        if (parse_id_s(c->argv[j], &tmp, 0, 1, NULL) != 0)
            break;
    }
    int last_id_arg = j - 1;
    int64_t now = c->now_ms;
    sid last_id = {0, 0};
    for (; j < c->argc; j++) {
        int more = c->argc - 1 - j;
        if (ctx_arg_is(c, j, "force")) {
            force = 1;
        } else if (ctx_arg_is(c, j, "justid")) {
            justid = 1;
        } else if (ctx_arg_is(c, j, "idle") && more) {
            j++;
            if (arg_ll_msg(c, j, &deliverytime, "ERR Invalid IDLE option argument for XCLAIM") < 0)
                return;
            deliverytime = now - deliverytime;
        } else if (ctx_arg_is(c, j, "time") && more) {
            j++;
            if (arg_ll_msg(c, j, &deliverytime, "ERR Invalid TIME option argument for XCLAIM") < 0)
                return;
        } else if (ctx_arg_is(c, j, "retrycount") && more) {
            j++;
            if (arg_ll_msg(c, j, &retrycount, "ERR Invalid RETRYCOUNT option argument for XCLAIM") < 0)
                return;
        } else if (ctx_arg_is(c, j, "lastid") && more) {
            j++;
            if (parse_id(c, j, &last_id, 0, 1, NULL) < 0)
                return;
        } else {
            ctx_errorf(c, "ERR Unrecognized XCLAIM option '%.*s'", (int)c->argv[j].len, c->argv[j].ptr);
            return;
        }
    }
    ctx_propagate_none(c);
    int propagate_last_id = 0;
    if (sid_cmp(&last_id, &g->last_id) > 0) {
        g->last_id = last_id;
        propagate_last_id = 1;
    }
    if (deliverytime != -1) {
        if (deliverytime < 0 || deliverytime > now)
            deliverytime = now;
    } else {
        deliverytime = now;
    }
    s_consumer *con = NULL;
    int64_t h = reply_deferred(&c->r);
    int64_t n = 0;
    for (int k = 5; k <= last_id_arg; k++) {
        sid id;
        parse_id_s(c->argv[k], &id, 0, 1, NULL);
        s_nack *nk = stream_nack_find(g, &id);
        if (!stream_find(s, &id)) {
            if (nk) { /* the entry is gone: drop it from the PEL, as Redis */
                prop_xclaim(c, c->argv[1], c->argv[2], g, &id, nk);
                propagate_last_id = 0;
                ctx_dirty(c, 1);
                stream_nack_remove(g, &id);
            }
            continue;
        }
        if (force && !nk) {
            if (!con && !(con = stream_consumer_find(g, c->argv[3].ptr, c->argv[3].len))) {
                if (!(con = stream_consumer_create(g, c->argv[3].ptr, c->argv[3].len, now)))
                    goto oom;
                ctx_dirty(c, 1);
            }
            if (!(nk = stream_nack_add(g, &id, con, now, 1))) /* Redis: a new NACK counts 1 */
                goto oom;
        } else if (nk && nk->consumer && minidle && now - nk->delivery_time < minidle) {
            continue;
        }
        if (!nk)
            continue;
        if (!con) {
            if ((con = stream_consumer_find(g, c->argv[3].ptr, c->argv[3].len))) {
                con->seen_time = now;
            } else {
                if (!(con = stream_consumer_create(g, c->argv[3].ptr, c->argv[3].len, now)))
                    goto oom;
                ctx_dirty(c, 1);
                nk = stream_nack_find(g, &id);
            }
        }
        if (stream_nack_assign(g, nk, con) != 0)
            goto oom;
        nk->delivery_time = deliverytime;
        if (retrycount >= 0)
            nk->delivery_count = (uint64_t)retrycount;
        else if (!justid)
            nk->delivery_count++;
        if (justid)
            reply_id(c, &id);
        else
            reply_entry(c, stream_find(s, &id));
        n++;
        prop_xclaim(c, c->argv[1], c->argv[2], g, &id, nk);
        propagate_last_id = 0;
        ctx_dirty(c, 1);
    }
    if (propagate_last_id) {
        prop_setid(c, c->argv[1], c->argv[2], g);
        ctx_dirty(c, 1);
    }
    reply_set_deferred_array(&c->r, h, n);
    return;
oom:
    reply_set_deferred_array(&c->r, h, n);
    ctx_oom(c);
}

static void cmd_xautoclaim(rk_ctx *c)
{
    long long minidle, count = 100;
    int justid = 0;
    if (arg_ll_msg(c, 4, &minidle, "ERR Invalid min-idle-time argument for XAUTOCLAIM") < 0)
        return;
    if (minidle < 0)
        minidle = 0;
    sid start;
    int startex;
    if (parse_interval_id(c, 5, &start, &startex, 0) < 0)
        return;
    if (startex && sid_incr(&start) != 0) {
        ctx_error(c, "ERR invalid start ID for the interval");
        return;
    }
    for (int j = 6; j < c->argc; j++) {
        int more = c->argc - 1 - j;
        if (ctx_arg_is(c, j, "count") && more) {
            long long max_count = (long long)(LLONG_MAX / 16);
            if (!rk_str2ll(c->argv[j + 1].ptr, c->argv[j + 1].len, &count) || count < 1 || count > max_count) {
                ctx_error(c, "ERR COUNT must be > 0");
                return;
            }
            j++;
        } else if (ctx_arg_is(c, j, "justid")) {
            justid = 1;
        } else {
            ctx_syntax_error(c);
            return;
        }
    }
    stream *s;
    s_group *g;
    if (lookup_group(c, LOOKUP_WRITE, &s, &g) < 0)
        return;
    ctx_propagate_none(c);
    sid *deleted = malloc(sizeof(sid) * (size_t)count);
    if (!deleted) {
        ctx_error(c, "ERR Insufficient memory, failed allocating transient memory, COUNT too high.");
        return;
    }
    size_t ndeleted = 0;
    long long attempts = count * 10;
    int64_t now = c->now_ms;
    s_consumer *con = NULL;
    reply_array(&c->r, 3);
    rk_buf claimed;
    rk_buf_init(&claimed);
    rk_reply saved = c->r;
    rk_reply sub = {&claimed, c->r.resp};
    int64_t n = 0;
    size_t k = stream_nack_seek(g, &start);
    int oom = 0;
    while (attempts-- && count && k < g->npel) {
        sid id = g->pel[k].id;
        if (!stream_find(s, &id)) {
            c->r = sub;
            prop_xclaim(c, c->argv[1], c->argv[2], g, &id, &g->pel[k]);
            c->r = saved;
            ctx_dirty(c, 1);
            stream_nack_remove(g, &id);
            deleted[ndeleted++] = id;
            count--;
            continue; /* k now names the next nack */
        }
        if (minidle && now - g->pel[k].delivery_time < minidle) {
            k++;
            continue;
        }
        if (!con) {
            if ((con = stream_consumer_find(g, c->argv[3].ptr, c->argv[3].len))) {
                con->seen_time = now;
            } else if (!(con = stream_consumer_create(g, c->argv[3].ptr, c->argv[3].len, now))) {
                oom = 1;
                break;
            } else {
                ctx_dirty(c, 1);
            }
        }
        s_nack *nk = &g->pel[k];
        if (stream_nack_assign(g, nk, con) != 0) {
            oom = 1;
            break;
        }
        nk->delivery_time = now;
        if (!justid)
            nk->delivery_count++;
        c->r = sub;
        if (justid)
            reply_id(c, &id);
        else
            reply_entry(c, stream_find(s, &id));
        c->r = saved;
        n++;
        count--;
        prop_xclaim(c, c->argv[1], c->argv[2], g, &id, nk);
        ctx_dirty(c, 1);
        k++;
    }
    sid next = k < g->npel ? g->pel[k].id : (sid){0, 0};
    if (oom) {
        rk_buf_free(&claimed);
        free(deleted);
        ctx_oom(c);
        return;
    }
    reply_id(c, &next);
    reply_array(&c->r, n);
    rk_buf_append(c->r.out, claimed.data, claimed.len);
    reply_array(&c->r, (int64_t)ndeleted);
    for (size_t i = 0; i < ndeleted; i++)
        reply_id(c, &deleted[i]);
    rk_buf_free(&claimed);
    free(deleted);
}

/* ---- XINFO ------------------------------------------------------------------------ */

/* The nodes the RDB form would have (Redis's radix-tree-keys). */
static long long node_count(const rk_ctx *c, const stream *s)
{
    long long per = c->shard->cfg.stream_node_max_entries > 0 ? c->shard->cfg.stream_node_max_entries : 100;
    return (long long)((s->n + (size_t)per - 1) / (size_t)per);
}

static void reply_cstr(rk_ctx *c, const char *s) { reply_bulk(&c->r, s, strlen(s)); }

static void cmd_xinfo_stream(rk_ctx *c)
{
    int full = 0;
    long long count = 10;
    int optc = c->argc - 3;
    if (optc != 0) {
        if ((optc != 1 && optc != 3) || !ctx_arg_is(c, 3, "full") || (optc == 3 && !ctx_arg_is(c, 4, "count"))) {
            ctx_error(c, "ERR unknown subcommand or wrong number of arguments for 'STREAM'. Try XINFO HELP.");
            return;
        }
        full = 1;
        if (optc == 3) {
            if (ctx_arg_ll(c, 5, &count) < 0)
                return;
            if (count < 0)
                count = 10;
        }
    }
    stream *s;
    if (lookup_stream(c, c->argv[2], LOOKUP_NONE, &s) < 0)
        return;
    if (!s) {
        ctx_error(c, "ERR no such key");
        return;
    }
    reply_map(&c->r, full ? 9 : 10);
    reply_cstr(c, "length");
    reply_int(&c->r, (int64_t)s->n);
    reply_cstr(c, "radix-tree-keys");
    reply_int(&c->r, node_count(c, s));
    reply_cstr(c, "radix-tree-nodes");
    reply_int(&c->r, node_count(c, s) + 1);
    reply_cstr(c, "last-generated-id");
    reply_id(c, &s->last_id);
    reply_cstr(c, "max-deleted-entry-id");
    reply_id(c, &s->max_deleted);
    reply_cstr(c, "entries-added");
    reply_int(&c->r, (int64_t)s->entries_added);
    reply_cstr(c, "recorded-first-entry-id");
    reply_id(c, &s->first_id);
    if (!full) {
        reply_cstr(c, "groups");
        reply_int(&c->r, (int64_t)s->ng);
        reply_cstr(c, "first-entry");
        if (s->n)
            reply_entry(c, stream_at(s, 0));
        else
            reply_null(&c->r);
        reply_cstr(c, "last-entry");
        if (s->n)
            reply_entry(c, stream_at(s, s->n - 1));
        else
            reply_null(&c->r);
        return;
    }
    reply_cstr(c, "entries");
    reply_range(c, s, (sid){0, 0}, SID_MAX, (size_t)count, 0);
    reply_cstr(c, "groups");
    reply_array(&c->r, (int64_t)s->ng);
    for (size_t i = 0; i < s->ng; i++) {
        s_group *g = s->g[i];
        reply_map(&c->r, 7);
        reply_cstr(c, "name");
        reply_bulk(&c->r, g->name->data, g->name->len);
        reply_cstr(c, "last-delivered-id");
        reply_id(c, &g->last_id);
        reply_cstr(c, "entries-read");
        if (g->entries_read != SCG_INVALID_ENTRIES_READ)
            reply_int(&c->r, g->entries_read);
        else
            reply_null(&c->r);
        reply_cstr(c, "lag");
        reply_lag(c, s, g);
        reply_cstr(c, "pel-count");
        reply_int(&c->r, (int64_t)g->npel);
        reply_cstr(c, "pending");
        size_t np = g->npel;
        if (count && np > (size_t)count)
            np = (size_t)count;
        reply_array(&c->r, (int64_t)np);
        for (size_t k = 0; k < np; k++) {
            reply_array(&c->r, 4);
            reply_id(c, &g->pel[k].id);
            reply_bulk(&c->r, g->pel[k].consumer->name->data, g->pel[k].consumer->name->len);
            reply_int(&c->r, g->pel[k].delivery_time);
            reply_int(&c->r, (int64_t)g->pel[k].delivery_count);
        }
        reply_cstr(c, "consumers");
        reply_array(&c->r, (int64_t)g->ncons);
        for (size_t k = 0; k < g->ncons; k++) {
            s_consumer *con = g->cons[k];
            reply_map(&c->r, 4);
            reply_cstr(c, "name");
            reply_bulk(&c->r, con->name->data, con->name->len);
            reply_cstr(c, "seen-time");
            reply_int(&c->r, con->seen_time);
            reply_cstr(c, "pel-count");
            reply_int(&c->r, (int64_t)con->npel);
            reply_cstr(c, "pending");
            size_t cp = con->npel;
            if (count && cp > (size_t)count)
                cp = (size_t)count;
            reply_array(&c->r, (int64_t)cp);
            for (size_t m = 0; m < cp; m++) {
                const s_nack *nk = stream_nack_find(g, &con->pel[m]);
                reply_array(&c->r, 3);
                reply_id(c, &con->pel[m]);
                reply_int(&c->r, nk->delivery_time);
                reply_int(&c->r, (int64_t)nk->delivery_count);
            }
        }
    }
}

static void cmd_xinfo_groups(rk_ctx *c)
{
    stream *s;
    if (lookup_stream(c, c->argv[2], LOOKUP_NONE, &s) < 0)
        return;
    if (!s) {
        ctx_error(c, "ERR no such key");
        return;
    }
    reply_array(&c->r, (int64_t)s->ng);
    for (size_t i = 0; i < s->ng; i++) {
        s_group *g = s->g[i];
        reply_map(&c->r, 6);
        reply_cstr(c, "name");
        reply_bulk(&c->r, g->name->data, g->name->len);
        reply_cstr(c, "consumers");
        reply_int(&c->r, (int64_t)g->ncons);
        reply_cstr(c, "pending");
        reply_int(&c->r, (int64_t)g->npel);
        reply_cstr(c, "last-delivered-id");
        reply_id(c, &g->last_id);
        reply_cstr(c, "entries-read");
        if (g->entries_read != SCG_INVALID_ENTRIES_READ)
            reply_int(&c->r, g->entries_read);
        else
            reply_null(&c->r);
        reply_cstr(c, "lag");
        reply_lag(c, s, g);
    }
}

static void cmd_xinfo_consumers(rk_ctx *c)
{
    stream *s;
    if (lookup_stream(c, c->argv[2], LOOKUP_NONE, &s) < 0)
        return;
    if (!s) {
        ctx_error(c, "ERR no such key");
        return;
    }
    s_group *g = stream_group_find(s, c->argv[3].ptr, c->argv[3].len);
    if (!g) {
        ctx_errorf(c, "NOGROUP No such consumer group '%.*s' for key name '%.*s'", (int)c->argv[3].len,
                   c->argv[3].ptr, (int)c->argv[2].len, c->argv[2].ptr);
        return;
    }
    reply_array(&c->r, (int64_t)g->ncons);
    for (size_t k = 0; k < g->ncons; k++) {
        s_consumer *con = g->cons[k];
        int64_t idle = c->now_ms - con->seen_time;
        reply_map(&c->r, 3);
        reply_cstr(c, "name");
        reply_bulk(&c->r, con->name->data, con->name->len);
        reply_cstr(c, "pending");
        reply_int(&c->r, (int64_t)con->npel);
        reply_cstr(c, "idle");
        reply_int(&c->r, idle < 0 ? 0 : idle);
    }
}

static void cmd_xinfo_help(rk_ctx *c)
{
    static const char *const lines[] = {
        "XINFO <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "CONSUMERS <key> <groupname>",
        "    Show consumers of <groupname>.",
        "GROUPS <key>",
        "    Show the stream consumer groups.",
        "STREAM <key> [FULL [COUNT <count>]",
        "    Show information about the stream.",
        "HELP",
        "    Prints this help.",
    };
    reply_help(c, lines, sizeof(lines) / sizeof(lines[0]));
}

static void cmd_xinfo(rk_ctx *c)
{
    rk_slice sub = c->argc > 1 ? c->argv[1] : RK_SLICE("");
    ctx_errorf(c, "ERR unknown subcommand '%.*s'. Try XINFO HELP.", (int)sub.len, sub.ptr);
}

/* ---- the table ------------------------------------------------------------------- */

#define KS1(fl) {{fl, 1, NULL, 0, 0, 0, 1, 0, 0, 0, 0}}
#define KS2(fl) {{fl, 2, NULL, 0, 0, 0, 1, 0, 0, 0, 0}}
#define XCMD(nm, ar, fl, acl, pr, ks, sum, sn, cx, tp)                                                        \
    {.name = nm, .arity = ar, .flags = fl, .acl_categories = acl, .exec = EXEC_KEYS, .merge = MERGE_NONE,      \
     .proc = pr, .first_key = 1, .last_key = 1, .key_step = 1, .keyspecs = ks, .n_keyspecs = 1, .summary = sum, \
     .since = sn, .group = "stream", .complexity = cx, .tips = tp}
#define XSUB(nm, ar, fl, acl, pr, ks, sum, sn, cx, tp)                                                         \
    {.name = nm, .arity = ar, .flags = fl, .acl_categories = acl, .exec = EXEC_KEYS, .merge = MERGE_NONE,      \
     .proc = pr, .first_key = 2, .last_key = 2, .key_step = 1, .keyspecs = ks, .n_keyspecs = 1, .summary = sum, \
     .since = sn, .group = "stream", .complexity = cx, .tips = tp}
#define XHELP(pr)                                                                                              \
    {.name = "help", .arity = 2, .flags = CMD_LOADING | CMD_STALE, .acl_categories = "@stream @slow",         \
     .exec = EXEC_CONN, .proc = pr, .summary = "Show helpful text about the different subcommands",           \
     .since = "5.0.0", .group = "stream", .complexity = "O(1)"}

static const rk_command xgroup_subcommands[] = {
    XSUB("create", -5, CMD_WRITE | CMD_DENYOOM, "@write @stream @slow", cmd_xgroup_create, KS2("RW INSERT"),
         "Create a consumer group.", "5.0.0", "O(1)", NULL),
    XSUB("createconsumer", 5, CMD_WRITE | CMD_DENYOOM, "@write @stream @slow", cmd_xgroup_createconsumer,
         KS2("RW INSERT"), "Create a consumer in a consumer group.", "6.2.0", "O(1)", NULL),
    XSUB("delconsumer", 5, CMD_WRITE, "@write @stream @slow", cmd_xgroup_delconsumer, KS2("RW DELETE"),
         "Delete a consumer from a consumer group.", "5.0.0", "O(1)", NULL),
    XSUB("destroy", 4, CMD_WRITE, "@write @stream @slow", cmd_xgroup_destroy, KS2("RW DELETE"),
         "Destroy a consumer group.", "5.0.0",
         "O(N) where N is the number of entries in the group's pending entries list (PEL).", NULL),
    XHELP(cmd_xgroup_help),
    XSUB("setid", -5, CMD_WRITE, "@write @stream @slow", cmd_xgroup_setid, KS2("RW UPDATE"),
         "Set a consumer group to an arbitrary last delivered ID value.", "5.0.0", "O(1)", NULL),
    {0},
};

static const rk_command xinfo_subcommands[] = {
    XSUB("consumers", 4, CMD_READONLY, "@read @stream @slow", cmd_xinfo_consumers, KS2("RO ACCESS"),
         "List the consumers in a consumer group", "5.0.0", "O(1)", "nondeterministic_output"),
    XSUB("groups", 3, CMD_READONLY, "@read @stream @slow", cmd_xinfo_groups, KS2("RO ACCESS"),
         "List the consumer groups of a stream", "5.0.0", "O(1)", NULL),
    XHELP(cmd_xinfo_help),
    XSUB("stream", -3, CMD_READONLY, "@read @stream @slow", cmd_xinfo_stream, KS2("RO ACCESS"),
         "Get information about a stream", "5.0.0", "O(1)", NULL),
    {0},
};

const rk_command rk_stream_commands[] = {
    XCMD("xack", -4, CMD_WRITE | CMD_FAST, "@write @stream @fast", cmd_xack, KS1("RW UPDATE"),
         "Marks a pending message as correctly processed, effectively removing it from the pending entries list "
         "of the consumer group. Return value of the command is the number of messages successfully "
         "acknowledged, that is, the IDs we were actually able to resolve in the PEL.",
         "5.0.0", "O(1) for each message ID processed.", NULL),
    XCMD("xadd", -5, CMD_WRITE | CMD_DENYOOM | CMD_FAST, "@write @stream @fast", cmd_xadd, KS1("RW UPDATE"),
         "Appends a new entry to a stream", "5.0.0",
         "O(1) when adding a new entry, O(N) when trimming where N being the number of entries evicted.",
         "nondeterministic_output"),
    XCMD("xautoclaim", -6, CMD_WRITE | CMD_FAST, "@write @stream @fast", cmd_xautoclaim, KS1("RW DELETE"),
         "Changes (or acquires) ownership of messages in a consumer group, as if the messages were delivered "
         "to the specified consumer.",
         "6.2.0", "O(1) if COUNT is small.", "nondeterministic_output"),
    XCMD("xclaim", -6, CMD_WRITE | CMD_FAST, "@write @stream @fast", cmd_xclaim, KS1("RW UPDATE"),
         "Changes (or acquires) ownership of a message in a consumer group, as if the message was delivered to "
         "the specified consumer.",
         "5.0.0", "O(log N) with N being the number of messages in the PEL of the consumer group.",
         "nondeterministic_output"),
    XCMD("xdel", -3, CMD_WRITE | CMD_FAST, "@write @stream @fast", cmd_xdel, KS1("RW DELETE"),
         "Removes the specified entries from the stream. Returns the number of items actually deleted, that "
         "may be different from the number of IDs passed in case certain IDs do not exist.",
         "5.0.0", "O(1) for each single item to delete in the stream, regardless of the stream size.", NULL),
    {.name = "xgroup", .arity = -2, .flags = 0, .acl_categories = "@slow", .exec = EXEC_CONN, .proc = cmd_xgroup,
     .summary = "A container for consumer groups commands", .since = "5.0.0", .group = "stream",
     .complexity = "Depends on subcommand.", .subcommands = xgroup_subcommands},
    {.name = "xinfo", .arity = -2, .flags = 0, .acl_categories = "@slow", .exec = EXEC_CONN, .proc = cmd_xinfo,
     .summary = "A container for stream introspection commands", .since = "5.0.0", .group = "stream",
     .complexity = "Depends on subcommand.", .subcommands = xinfo_subcommands},
    XCMD("xlen", 2, CMD_READONLY | CMD_FAST, "@read @stream @fast", cmd_xlen, KS1("RO"),
         "Return the number of entries in a stream", "5.0.0", "O(1)", NULL),
    XCMD("xpending", -3, CMD_READONLY, "@read @stream @slow", cmd_xpending, KS1("RO ACCESS"),
         "Return information and entries from a stream consumer group pending entries list, that are messages "
         "fetched but never acknowledged.",
         "5.0.0",
         "O(N) with N being the number of elements returned, so asking for a small fixed number of entries per "
         "call is O(1). O(M), where M is the total number of entries scanned when used with the IDLE filter. "
         "When the command returns just the summary and the list of consumers is small, it runs in O(1) time; "
         "otherwise, an additional O(N) time for iterating every consumer.",
         "nondeterministic_output"),
    XCMD("xrange", -4, CMD_READONLY, "@read @stream @slow", cmd_xrange, KS1("RO ACCESS"),
         "Return a range of elements in a stream, with IDs matching the specified IDs interval", "5.0.0",
         "O(N) with N being the number of elements being returned. If N is constant (e.g. always asking for the "
         "first 10 elements with COUNT), you can consider it O(1).",
         NULL),
    {.name = "xread", .arity = -4, .flags = CMD_READONLY | CMD_BLOCKING, .acl_categories = "@read @stream @slow @blocking",
     .exec = EXEC_KEYS, .merge = MERGE_NONE, .proc = cmd_xread, .first_key = 0, .last_key = 0, .key_step = 0,
     .keyspecs = {{"RO ACCESS", 0, "STREAMS", 1, 0, -1, 1, 2, 0, 0, 0}}, .n_keyspecs = 1,
     .summary = "Return never seen elements in multiple streams, with IDs greater than the ones reported by the "
                "caller for each stream. Can block.",
     .since = "5.0.0", .group = "stream",
     .complexity = "For each stream mentioned: O(N) with N being the number of elements being returned, it means "
                   "that XREAD-ing with a fixed COUNT is O(1). Note that when the BLOCK option is used, XADD will "
                   "pay O(M) time in order to serve the M clients blocked on the stream getting new data."},
    {.name = "xreadgroup", .arity = -7, .flags = CMD_WRITE | CMD_BLOCKING,
     .acl_categories = "@write @stream @slow @blocking", .exec = EXEC_KEYS, .merge = MERGE_NONE,
     .proc = cmd_xreadgroup, .first_key = 0, .last_key = 0, .key_step = 0,
     .keyspecs = {{"RO ACCESS", 0, "STREAMS", 4, 0, -1, 1, 2, 0, 0, 0}}, .n_keyspecs = 1,
     .summary = "Return new entries from a stream using a consumer group, or access the history of the pending "
                "entries for a given consumer. Can block.",
     .since = "5.0.0", .group = "stream",
     .complexity = "For each stream mentioned: O(M) with M being the number of elements returned. If M is "
                   "constant (e.g. always asking for the first 10 elements with COUNT), you can consider it "
                   "O(1). On the other side when XREADGROUP blocks, XADD will pay the O(N) time in order to serve "
                   "the N clients blocked on the stream getting new data."},
    XCMD("xrevrange", -4, CMD_READONLY, "@read @stream @slow", cmd_xrevrange, KS1("RO ACCESS"),
         "Return a range of elements in a stream, with IDs matching the specified IDs interval, in reverse order "
         "(from greater to smaller IDs) compared to XRANGE",
         "5.0.0",
         "O(N) with N being the number of elements returned. If N is constant (e.g. always asking for the first "
         "10 elements with COUNT), you can consider it O(1).",
         NULL),
    XCMD("xsetid", -3, CMD_WRITE | CMD_DENYOOM | CMD_FAST, "@write @stream @fast", cmd_xsetid, KS1("RW UPDATE"),
         "An internal command for replicating stream values", "5.0.0", "O(1)", NULL),
    XCMD("xtrim", -4, CMD_WRITE, "@write @stream @slow", cmd_xtrim, KS1("RW DELETE"),
         "Trims the stream to (approximately if '~' is passed) a certain size", "5.0.0",
         "O(N), with N being the number of evicted entries. Constant times are very small however, since "
         "entries are organized in macro nodes containing multiple entries that can be released with a single "
         "deallocation.",
         "nondeterministic_output"),
    {0},
};
