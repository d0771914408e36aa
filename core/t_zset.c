/* t_zset.c: the sorted set type (OBJ_ZSET) and its commands (ZADD ...
 * BZMPOP), with the command table rk_zset_commands[].
 *
 * Threads: every proc runs on the shard that owns all of its keys (or on
 * the scratch keyspace of the generic multi-key executor), so values are
 * read and changed without locks. The table and the type ops are
 * read-only after start-up.
 *
 * Encodings (Redis's, so OBJECT ENCODING and RDB agree):
 *   ENC_LISTPACK  u.ptr is a listpack of member,score pairs sorted by score
 *                 then member; used while the set has at most
 *                 zset-max-listpack-entries members of at most
 *                 zset-max-listpack-value bytes each;
 *   ENC_SKIPLIST  u.ptr is a zset_sl (core/zskiplist.h).
 * A set grows from listpack to skiplist when an insert crosses a threshold
 * and never shrinks back, except the results of the *STORE commands, which
 * take the compact encoding when they fit (as Redis).
 *
 * Invariants: a stored zset is never empty (the key is deleted with its
 * last member); scores are never NaN; every change goes through db.h and
 * is counted with ctx_dirty; replies and errors match Redis 7.0 (ZRANK
 * WITHSCORE follows 7.2). */
#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/alloc.h"
#include "core/command.h"
#include "core/config.h"
#include "core/db.h"
#include "core/listpack.h"
#include "core/object.h"
#include "core/shard.h"
#include "core/zskiplist.h"
#include "core/t_zset.h"

#include "core/t_set.h"

/* ---- limits and small helpers ------------------------------------------ */

typedef struct zs_limits {
    unsigned long long entries, value;
} zs_limits;

static zs_limits limits_of(const rk_ctx *c)
{
    zs_limits lim = {128, 64};
    if (c->shard) {
        lim.entries = c->shard->cfg.zset_max_listpack_entries < 0 ? 0
                      : (unsigned long long)c->shard->cfg.zset_max_listpack_entries;
        lim.value = c->shard->cfg.zset_max_listpack_value < 0 ? 0
                    : (unsigned long long)c->shard->cfg.zset_max_listpack_value;
    }
    return lim;
}

static __thread uint64_t zrand_state;

static uint64_t zrand(void)
{
    if (!zrand_state) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        zrand_state = ((uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ULL) ^ (uint64_t)(uintptr_t)&ts;
        if (!zrand_state)
            zrand_state = 88172645463325252ULL;
    }
    zrand_state ^= zrand_state >> 12;
    zrand_state ^= zrand_state << 25;
    zrand_state ^= zrand_state >> 27;
    return zrand_state * 0x2545F4914F6CDD1DULL;
}

/* Uniform in [0, n). */
static unsigned long zrand_below(unsigned long n)
{
    assert(n > 0);
    return (unsigned long)(zrand() % n);
}

/* A score as text (%.17g, inf, -inf). */
static int format_score(char *buf, size_t cap, double score)
{
    int n = rk_fmt_double(buf, cap, score);
    assert(n > 0);
    return n;
}

/* strtod over a bounded slice, as Redis parses range bounds: 1 when the
 * number ends the text, 0 when not, -1 when out of memory. */
static int slice_strtod(rk_slice s, double *out)
{
    char small[128];
    char *buf = small;
    if (s.len >= sizeof(small)) {
        buf = malloc(s.len + 1);
        if (!buf)
            return -1;
    }
    memcpy(buf, s.ptr, s.len);
    buf[s.len] = '\0';
    char *end;
    double v = strtod(buf, &end);
    /* As Redis, the text ends at the first NUL: strtod must reach it. */
    int ok = *end == '\0' && !isnan(v);
    if (buf != small)
        free(buf);
    if (ok)
        *out = v;
    return ok;
}

/* Redis's getRangeLongFromObjectOrReply: msg (or the default texts) on error. */
static int arg_range_ll(rk_ctx *c, int i, long long min, long long max, long long *out, const char *msg)
{
    long long v;
    if (!rk_str2ll(c->argv[i].ptr, c->argv[i].len, &v)) {
        ctx_error(c, msg ? msg : "ERR value is not an integer or out of range");
        return -1;
    }
    if (v < min || v > max) {
        if (msg)
            ctx_error(c, msg);
        else
            ctx_errorf(c, "ERR value is out of range, value must between %lld and %lld", min, max);
        return -1;
    }
    *out = v;
    return 0;
}

/* Undoes a partly written reply and answers out-of-memory instead. */
static void reply_rollback_oom(rk_ctx *c, size_t mark)
{
    if (c->r.out->len > mark)
        c->r.out->len = mark;
    ctx_oom(c);
}

/* ---- listpack encoding ------------------------------------------------- */

/* A score as the listpack stores it: Redis 7.0 keeps -0 there as 0. */
static int format_lp_score(char *buf, size_t cap, double score)
{
    return format_score(buf, cap, score == 0 ? 0.0 : score);
}

static double zlp_score(const unsigned char *sp)
{
    lp_value v;
    assert(sp);
    lp_get(sp, &v);
    if (!v.sval)
        return (double)v.lval;
    char buf[128];
    assert(v.slen < sizeof(buf));
    memcpy(buf, v.sval, v.slen);
    buf[v.slen] = '\0';
    return strtod(buf, NULL);
}

static rk_slice zlp_member(const unsigned char *p, unsigned char buf[24])
{
    uint32_t len;
    const unsigned char *m = lp_get_bytes(p, buf, &len);
    return (rk_slice){(const char *)m, len};
}

/* The member entry of m, NULL when absent; *score gets its score. */
static unsigned char *zlp_find(unsigned char *lp, const char *m, size_t len, double *score)
{
    unsigned char *p = lp_first(lp);
    if (!p)
        return NULL;
    p = lp_find(lp, p, (const unsigned char *)m, (uint32_t)len, 1);
    if (p && score)
        *score = zlp_score(lp_next(lp, p));
    return p;
}

static long zlp_entry_index(unsigned char *lp, const unsigned char *target)
{
    long idx = 0;
    for (unsigned char *p = lp_first(lp); p; p = lp_next(lp, p), idx++)
        if (p == target)
            return idx;
    assert(0 && "entry not in listpack");
    return -1;
}

/* Inserts (m, score) at its sorted place. *lpp may move. 0, or -1 on OOM
 * with the listpack unchanged. *pair_index (if set) gets the pair index. */
static int zlp_insert(unsigned char **lpp, const char *m, size_t len, double score, long *pair_index)
{
    unsigned char *lp = *lpp;
    char sbuf[64];
    int slen = format_lp_score(sbuf, sizeof(sbuf), score);
    unsigned char mbuf[24];
    long idx = 0;
    unsigned char *p = lp_first(lp);
    while (p) {
        unsigned char *sp = lp_next(lp, p);
        double s = zlp_score(sp);
        if (s > score)
            break;
        if (s == score) {
            rk_slice cur = zlp_member(p, mbuf);
            if (zs_cmp_bytes(cur.ptr, cur.len, m, len) > 0)
                break;
        }
        p = lp_next(lp, sp);
        idx++;
    }
    unsigned char *grown, *mp = NULL;
    if (p)
        grown = lp_insert(lp, (const unsigned char *)m, (uint32_t)len, p, LP_BEFORE, &mp);
    else
        grown = lp_append(lp, (const unsigned char *)m, (uint32_t)len);
    if (!grown)
        return -1;
    if (!mp)
        mp = lp_last(grown);
    unsigned char *done = lp_insert(grown, (const unsigned char *)sbuf, (uint32_t)slen, mp, LP_AFTER, NULL);
    if (!done) {
        *lpp = lp_delete(grown, mp, NULL); /* deleting never fails */
        return -1;
    }
    *lpp = done;
    if (pair_index)
        *pair_index = idx;
    return 0;
}

/* Deletes npairs member,score pairs starting at pair index first. */
static void zlp_delete_pairs(unsigned char **lpp, long first, unsigned long npairs)
{
    if (npairs)
        *lpp = lp_delete_range(*lpp, first * 2, npairs * 2);
}

/* ---- the value: both encodings behind one interface --------------------- */

static rk_obj *zobj_create(int encoding)
{
    rk_obj *o = rk_malloc(sizeof(*o));
    if (!o)
        return NULL;
    o->type = OBJ_ZSET;
    o->encoding = (uint8_t)encoding;
    o->reserved = 0;
    o->lru = 0;
    o->u.ptr = encoding == ENC_LISTPACK ? (void *)lp_new(0) : (void *)zsetsl_create();
    if (!o->u.ptr) {
        rk_free(o);
        return NULL;
    }
    return o;
}

static unsigned long zobj_length(const rk_obj *o)
{
    if (o->encoding == ENC_LISTPACK)
        return lp_length(o->u.ptr) / 2;
    return zsetsl_length(o->u.ptr);
}

/* 1 and *score when m is a member. */
static int zobj_score(rk_obj *o, const char *m, size_t len, double *score)
{
    if (o->encoding == ENC_LISTPACK)
        return zlp_find(o->u.ptr, m, len, score) != NULL;
    dict_entry *e = zsetsl_find(o->u.ptr, m, len);
    if (e && score)
        *score = e->v.d;
    return e != NULL;
}

static int zobj_to_skiplist(rk_obj *o)
{
    if (o->encoding == ENC_SKIPLIST)
        return 0;
    zset_sl *zs = zsetsl_create();
    if (!zs)
        return -1;
    unsigned char *lp = o->u.ptr, buf[24];
    for (unsigned char *p = lp_first(lp); p; p = lp_next(lp, lp_next(lp, p))) {
        rk_slice m = zlp_member(p, buf);
        if (zsetsl_add(zs, m.ptr, m.len, zlp_score(lp_next(lp, p))) != 0) {
            zsetsl_free(zs);
            return -1;
        }
    }
    lp_free(lp);
    o->u.ptr = zs;
    o->encoding = ENC_SKIPLIST;
    return 0;
}

static int zobj_to_listpack(rk_obj *o)
{
    if (o->encoding == ENC_LISTPACK)
        return 0;
    zset_sl *zs = o->u.ptr;
    unsigned char *lp = lp_new(0);
    if (!lp)
        return -1;
    for (zsl_node *n = zs->zsl->header->level[0].forward; n; n = n->level[0].forward) {
        char sbuf[64];
        int slen = format_lp_score(sbuf, sizeof(sbuf), n->score);
        unsigned char *with_member = lp_append(lp, (const unsigned char *)n->ele->data, n->ele->len);
        unsigned char *with_score =
            with_member ? lp_append(with_member, (const unsigned char *)sbuf, (uint32_t)slen) : NULL;
        if (!with_score) {
            lp_free(with_member ? with_member : lp);
            return -1;
        }
        lp = with_score;
    }
    zsetsl_free(zs);
    o->u.ptr = lp;
    o->encoding = ENC_LISTPACK;
    return 0;
}

enum { ZA_NX = 1, ZA_XX = 2, ZA_GT = 4, ZA_LT = 8, ZA_INCR = 16 };
enum { ZA_OUT_ADDED = 1, ZA_OUT_UPDATED = 2, ZA_OUT_NOP = 4, ZA_OUT_NAN = 8 };

/* Redis's zsetAdd: adds m or updates its score under the ZA_* rules.
 * *out gets ZA_OUT_*; *newscore the resulting score when not NOP.
 * 0, or -1 when out of memory (the set unchanged). */
static int zobj_add(rk_obj *o, const zs_limits *lim, const char *m, size_t len, double score, int in,
                    int *out, double *newscore)
{
    double cur;
    *out = 0;
    if (zobj_score(o, m, len, &cur)) {
        if (in & ZA_NX) {
            *out = ZA_OUT_NOP;
            return 0;
        }
        if (in & ZA_INCR) {
            score += cur;
            if (isnan(score)) {
                *out = ZA_OUT_NAN;
                return 0;
            }
        }
        if (((in & ZA_LT) && score >= cur) || ((in & ZA_GT) && score <= cur)) {
            *out = ZA_OUT_NOP;
            return 0;
        }
        if (newscore)
            *newscore = score;
        if (score == cur)
            return 0;
        if (o->encoding == ENC_LISTPACK) {
            unsigned char *lp = o->u.ptr;
            long old = zlp_entry_index(lp, zlp_find(lp, m, len, NULL)) / 2, fresh;
            /* Insert first, then drop the old pair: a failed insert changes nothing. */
            if (zlp_insert(&lp, m, len, score, &fresh) != 0) {
                o->u.ptr = lp;
                return -1;
            }
            zlp_delete_pairs(&lp, fresh <= old ? old + 1 : old, 1);
            o->u.ptr = lp;
        } else {
            zsetsl_set_score(o->u.ptr, zsetsl_find(o->u.ptr, m, len), score);
        }
        *out = ZA_OUT_UPDATED;
        return 0;
    }
    if (in & ZA_XX) {
        *out = ZA_OUT_NOP;
        return 0;
    }
    if (o->encoding == ENC_LISTPACK &&
        (zobj_length(o) + 1 > lim->entries || len > lim->value) && zobj_to_skiplist(o) != 0)
        return -1;
    if (o->encoding == ENC_LISTPACK) {
        unsigned char *lp = o->u.ptr;
        int rc = zlp_insert(&lp, m, len, score, NULL);
        o->u.ptr = lp;
        if (rc != 0)
            return -1;
    } else if (zsetsl_add(o->u.ptr, m, len, score) != 0) {
        return -1;
    }
    if (newscore)
        *newscore = score;
    *out = ZA_OUT_ADDED;
    return 0;
}

static int zobj_delete(rk_obj *o, const char *m, size_t len)
{
    if (o->encoding == ENC_SKIPLIST) {
        zset_sl *zs = o->u.ptr;
        int found = zsetsl_delete(zs, m, len);
        if (found)
            dict_try_shrink(zs->dict);
        return found;
    }
    unsigned char *lp = o->u.ptr;
    unsigned char *p = zlp_find(lp, m, len, NULL);
    if (!p)
        return 0;
    zlp_delete_pairs(&lp, zlp_entry_index(lp, p) / 2, 1);
    o->u.ptr = lp;
    return 1;
}

/* 0-based rank of m (from the top when rev); 1 when found. */
static int zobj_rank(rk_obj *o, const char *m, size_t len, int rev, unsigned long *rank, double *score)
{
    unsigned long n = zobj_length(o), r;
    if (o->encoding == ENC_LISTPACK) {
        unsigned char *lp = o->u.ptr;
        unsigned char *p = zlp_find(lp, m, len, score);
        if (!p)
            return 0;
        r = (unsigned long)zlp_entry_index(lp, p) / 2;
    } else {
        zset_sl *zs = o->u.ptr;
        dict_entry *e = zsetsl_find(zs, m, len);
        if (!e)
            return 0;
        *score = e->v.d;
        unsigned long r1 = zsl_rank(zs->zsl, e->v.d, m, len);
        assert(r1 >= 1);
        r = r1 - 1;
    }
    *rank = rev ? n - 1 - r : r;
    return 1;
}

/* The value's type hooks, so obj_dup/obj_free/MEMORY USAGE handle zsets. */
static void *zset_dup_ptr(const rk_obj *o)
{
    if (o->encoding == ENC_LISTPACK)
        return lp_dup(o->u.ptr);
    return zsetsl_dup(o->u.ptr);
}

static void zset_free_ptr(rk_obj *o)
{
    if (o->encoding == ENC_LISTPACK)
        lp_free(o->u.ptr);
    else
        zsetsl_free(o->u.ptr);
    o->u.ptr = NULL;
}

static size_t zset_heap_size(const rk_obj *o)
{
    if (o->encoding == ENC_LISTPACK)
        return rk_usable_size(o->u.ptr);
    return zsetsl_heap_size(o->u.ptr);
}

static const rk_obj_type_ops zset_type_ops = {
    .dup_ptr = zset_dup_ptr,
    .free_ptr = zset_free_ptr,
    .heap_size = zset_heap_size,
};

__attribute__((constructor)) static void zset_register_type(void)
{
    obj_register_type(OBJ_ZSET, &zset_type_ops);
}

/* ---- a cursor over either encoding -------------------------------------- */

typedef struct zit {
    unsigned char *lp, *p; /* listpack: the current member entry */
    zsl_node *n;           /* skiplist: the current node */
    int rev;
    unsigned char buf[24];
} zit;

static int zit_valid(const zit *it)
{
    return it->p != NULL || it->n != NULL;
}

static rk_slice zit_member(zit *it)
{
    if (it->p)
        return zlp_member(it->p, it->buf);
    return rkstr_slice(it->n->ele);
}

static double zit_score(const zit *it)
{
    return it->p ? zlp_score(lp_next(it->lp, it->p)) : it->n->score;
}

static void zit_next(zit *it)
{
    if (it->p) {
        if (it->rev) {
            unsigned char *sp = lp_prev(it->lp, it->p);
            it->p = sp ? lp_prev(it->lp, sp) : NULL;
        } else {
            it->p = lp_next(it->lp, lp_next(it->lp, it->p));
        }
    } else if (it->n) {
        it->n = it->rev ? it->n->backward : it->n->level[0].forward;
    }
}

static void zit_reset(zit *it, rk_obj *o, int rev)
{
    memset(it, 0, sizeof(*it));
    it->rev = rev;
    if (o->encoding == ENC_LISTPACK)
        it->lp = o->u.ptr;
}

/* At 0-based rank (counted from the top when rev). */
static void zit_at_rank(zit *it, rk_obj *o, unsigned long rank, int rev)
{
    unsigned long n = zobj_length(o);
    zit_reset(it, o, rev);
    if (rank >= n)
        return;
    unsigned long fwd = rev ? n - 1 - rank : rank;
    if (it->lp)
        it->p = lp_seek(it->lp, (long)(fwd * 2));
    else
        it->n = zsl_by_rank(((zset_sl *)o->u.ptr)->zsl, fwd + 1);
}

/* At the first element of the score range (the last one when rev). */
static void zit_at_score(zit *it, rk_obj *o, const zs_range *r, int rev)
{
    zit_reset(it, o, rev);
    if (!it->lp) {
        zskiplist *zsl = ((zset_sl *)o->u.ptr)->zsl;
        it->n = rev ? zsl_last_in_range(zsl, r) : zsl_first_in_range(zsl, r);
        return;
    }
    if (zs_range_empty(r))
        return;
    if (!rev) {
        for (unsigned char *p = lp_first(it->lp); p; p = lp_next(it->lp, lp_next(it->lp, p))) {
            double s = zlp_score(lp_next(it->lp, p));
            if (zs_score_gte_min(s, r)) {
                if (zs_score_lte_max(s, r))
                    it->p = p;
                return;
            }
        }
    } else {
        for (unsigned char *sp = lp_last(it->lp); sp; ) {
            unsigned char *p = lp_prev(it->lp, sp);
            double s = zlp_score(sp);
            if (zs_score_lte_max(s, r)) {
                if (zs_score_gte_min(s, r))
                    it->p = p;
                return;
            }
            sp = lp_prev(it->lp, p);
        }
    }
}

static void zit_at_lex(zit *it, rk_obj *o, const zs_lexrange *r, int rev)
{
    zit_reset(it, o, rev);
    if (!it->lp) {
        zskiplist *zsl = ((zset_sl *)o->u.ptr)->zsl;
        it->n = rev ? zsl_last_in_lex(zsl, r) : zsl_first_in_lex(zsl, r);
        return;
    }
    unsigned char buf[24];
    /* Redis's quick rejection (last member >= min, first <= max) first. */
    unsigned char *last = lp_last(it->lp), *firstp = lp_first(it->lp);
    if (zs_lexrange_empty(r) || !last)
        return;
    rk_slice lm = zlp_member(lp_prev(it->lp, last), buf);
    if (!zs_lex_gte_min(lm.ptr, lm.len, r))
        return;
    rk_slice fm = zlp_member(firstp, buf);
    if (!zs_lex_lte_max(fm.ptr, fm.len, r))
        return;
    if (!rev) {
        for (unsigned char *p = lp_first(it->lp); p; p = lp_next(it->lp, lp_next(it->lp, p))) {
            rk_slice m = zlp_member(p, buf);
            if (zs_lex_gte_min(m.ptr, m.len, r)) {
                if (zs_lex_lte_max(m.ptr, m.len, r))
                    it->p = p;
                return;
            }
        }
    } else {
        for (unsigned char *sp = lp_last(it->lp); sp; ) {
            unsigned char *p = lp_prev(it->lp, sp);
            rk_slice m = zlp_member(p, buf);
            if (zs_lex_lte_max(m.ptr, m.len, r)) {
                if (zs_lex_gte_min(m.ptr, m.len, r))
                    it->p = p;
                return;
            }
            sp = lp_prev(it->lp, p);
        }
    }
}

/* Whether the cursor's element is still inside the range it walks. */
static int zit_in_score(zit *it, const zs_range *r)
{
    double s = zit_score(it);
    return it->rev ? zs_score_gte_min(s, r) : zs_score_lte_max(s, r);
}

int zset_score(rk_obj *o, const char *m, size_t len, double *score)
{
    return zobj_score(o, m, len, score);
}

void zset_scan_score_range(rk_obj *o, double min, double max_exclusive, zset_visit_fn *fn, void *ud)
{
    zs_range r = {.min = min, .max = max_exclusive, .minex = 0, .maxex = 1};
    zit it;
    for (zit_at_score(&it, o, &r, 0); zit_valid(&it) && zit_in_score(&it, &r); zit_next(&it))
        if (fn(ud, zit_member(&it), zit_score(&it)))
            return;
}

static int zit_in_lex(zit *it, const zs_lexrange *r)
{
    rk_slice m = zit_member(it);
    return it->rev ? zs_lex_gte_min(m.ptr, m.len, r) : zs_lex_lte_max(m.ptr, m.len, r);
}

/* 0-based forward rank of the cursor's element. */
static unsigned long zit_rank(zit *it, rk_obj *o)
{
    if (it->p)
        return (unsigned long)zlp_entry_index(it->lp, it->p) / 2;
    return zsl_rank(((zset_sl *)o->u.ptr)->zsl, it->n->score, it->n->ele->data, it->n->ele->len) - 1;
}

/* ---- argument parsing ---------------------------------------------------- */

/* One end of a score range: "(1.5" exclusive, "1.5", "-inf", "+inf". */
static int parse_score_bound(rk_slice s, double *v, int *ex)
{
    *ex = 0;
    if (s.len && s.ptr[0] == '(') {
        *ex = 1;
        s.ptr++;
        s.len--;
    }
    return slice_strtod(s, v);
}

/* 1 ok, 0 syntax error, -1 out of memory. */
static int parse_score_range(rk_slice min, rk_slice max, zs_range *r)
{
    int a = parse_score_bound(min, &r->min, &r->minex);
    if (a <= 0)
        return a;
    return parse_score_bound(max, &r->max, &r->maxex);
}

static int parse_lex_bound(rk_slice s, zs_lexbound *b)
{
    memset(b, 0, sizeof(*b));
    if (s.len == 0)
        return 0;
    switch (s.ptr[0]) {
    case '+':
    case '-':
        if (s.len != 1)
            return 0;
        b->inf = s.ptr[0] == '+' ? 1 : -1;
        b->ex = 1;
        return 1;
    case '(':
    case '[':
        b->ex = s.ptr[0] == '(';
        b->p = s.ptr + 1;
        b->len = s.len - 1;
        return 1;
    default:
        return 0;
    }
}

static int parse_lex_range(rk_slice min, rk_slice max, zs_lexrange *r)
{
    return parse_lex_bound(min, &r->min) && parse_lex_bound(max, &r->max);
}

/* Replies the score-range error; handles the OOM case of the parser. */
static int score_range_arg(rk_ctx *c, int imin, int imax, zs_range *r)
{
    int rc = parse_score_range(c->argv[imin], c->argv[imax], r);
    if (rc < 0)
        ctx_oom(c);
    else if (rc == 0)
        ctx_error(c, "ERR min or max is not a float");
    return rc > 0 ? 0 : -1;
}

static int lex_range_arg(rk_ctx *c, int imin, int imax, zs_lexrange *r)
{
    if (!parse_lex_range(c->argv[imin], c->argv[imax], r)) {
        ctx_error(c, "ERR min or max not valid string range item");
        return -1;
    }
    return 0;
}

/* Looks a key up; replies WRONGTYPE and returns -1 when it holds another type. */
static int lookup_zset(rk_ctx *c, rk_slice key, int flags, rk_obj **out)
{
    rk_obj *o = db_lookup(c->shard, c->db, key, flags);
    if (o && o->type != OBJ_ZSET) {
        ctx_wrongtype(c);
        return -1;
    }
    *out = o;
    return 0;
}

/* Deletes the key when its set became empty. */
static void drop_if_empty(rk_ctx *c, rk_slice key, rk_obj *o)
{
    if (zobj_length(o) == 0)
        db_delete(c->shard, c->db, key);
}

/* ---- ZADD, ZINCRBY ------------------------------------------------------ */

static void zadd_generic(rk_ctx *c, int in)
{
    rk_slice key = c->argv[1];
    int scoreidx = 2, ch = 0;
    for (; scoreidx < c->argc; scoreidx++) {
        if (ctx_arg_is(c, scoreidx, "nx")) in |= ZA_NX;
        else if (ctx_arg_is(c, scoreidx, "xx")) in |= ZA_XX;
        else if (ctx_arg_is(c, scoreidx, "ch")) ch = 1;
        else if (ctx_arg_is(c, scoreidx, "incr")) in |= ZA_INCR;
        else if (ctx_arg_is(c, scoreidx, "gt")) in |= ZA_GT;
        else if (ctx_arg_is(c, scoreidx, "lt")) in |= ZA_LT;
        else break;
    }
    int nargs = c->argc - scoreidx;
    if (nargs == 0 || nargs % 2) {
        ctx_syntax_error(c);
        return;
    }
    int elements = nargs / 2;
    if ((in & ZA_NX) && (in & ZA_XX)) {
        ctx_error(c, "ERR XX and NX options at the same time are not compatible");
        return;
    }
    if (((in & ZA_GT) && (in & ZA_NX)) || ((in & ZA_LT) && (in & ZA_NX)) || ((in & ZA_GT) && (in & ZA_LT))) {
        ctx_error(c, "ERR GT, LT, and/or NX options at the same time are not compatible");
        return;
    }
    if ((in & ZA_INCR) && elements > 1) {
        ctx_error(c, "ERR INCR option supports a single increment-element pair");
        return;
    }
    double *scores = malloc(sizeof(double) * (size_t)elements);
    if (!scores) {
        ctx_oom(c);
        return;
    }
    for (int j = 0; j < elements; j++)
        if (ctx_arg_double(c, scoreidx + 2 * j, &scores[j]) < 0)
            goto done;

    rk_obj *o;
    if (lookup_zset(c, key, LOOKUP_WRITE, &o) < 0)
        goto done;
    int created = 0;
    if (!o) {
        if (in & ZA_XX) {
            if (in & ZA_INCR)
                reply_null(&c->r);
            else
                reply_int(&c->r, 0);
            goto done;
        }
        o = zobj_create(ENC_LISTPACK);
        if (!o) {
            ctx_oom(c);
            goto done;
        }
        created = 1;
    }
    zs_limits lim = limits_of(c);
    long long added = 0, updated = 0, processed = 0;
    double score = 0;
    int failed = 0, nan = 0;
    for (int j = 0; j < elements; j++) {
        rk_slice m = c->argv[scoreidx + 2 * j + 1];
        int out;
        double newscore = scores[j];
        if (zobj_add(o, &lim, m.ptr, m.len, scores[j], in, &out, &newscore) != 0) {
            failed = 1;
            break;
        }
        if (out & ZA_OUT_NAN) {
            nan = 1;
            break;
        }
        if (out & ZA_OUT_ADDED) added++;
        if (out & ZA_OUT_UPDATED) updated++;
        if (!(out & ZA_OUT_NOP)) {
            processed++;
            score = newscore;
        }
    }
    if (created) {
        /* A new key appears only complete (and never empty). */
        if (failed || nan || zobj_length(o) == 0 || db_add(c->shard, c->db, key, o) != 0) {
            obj_free(o);
            if (!failed && !nan)
                failed = 1;
            added = updated = 0;
        }
    }
    if (added + updated)
        ctx_dirty(c, added + updated);
    if (failed)
        ctx_oom(c);
    else if (nan)
        ctx_error(c, "ERR resulting score is not a number (NaN)");
    else if (in & ZA_INCR) {
        if (processed)
            reply_double(&c->r, score);
        else
            reply_null(&c->r);
    } else {
        reply_int(&c->r, ch ? added + updated : added);
    }
done:
    free(scores);
}

static void zadd_proc(rk_ctx *c) { zadd_generic(c, 0); }
static void zincrby_proc(rk_ctx *c) { zadd_generic(c, ZA_INCR); }

/* ---- ZREM, ZCARD, ZSCORE, ZMSCORE, ZRANK --------------------------------- */

static void zrem_proc(rk_ctx *c)
{
    rk_obj *o;
    if (lookup_zset(c, c->argv[1], LOOKUP_WRITE, &o) < 0)
        return;
    long long deleted = 0;
    if (o) {
        for (int j = 2; j < c->argc && zobj_length(o) > 0; j++)
            deleted += zobj_delete(o, c->argv[j].ptr, c->argv[j].len);
        drop_if_empty(c, c->argv[1], o);
    }
    if (deleted)
        ctx_dirty(c, deleted);
    reply_int(&c->r, deleted);
}

static void zcard_proc(rk_ctx *c)
{
    rk_obj *o;
    if (lookup_zset(c, c->argv[1], LOOKUP_NONE, &o) < 0)
        return;
    reply_int(&c->r, o ? (int64_t)zobj_length(o) : 0);
}

static void zscore_proc(rk_ctx *c)
{
    rk_obj *o;
    double s;
    if (lookup_zset(c, c->argv[1], LOOKUP_NONE, &o) < 0)
        return;
    if (o && zobj_score(o, c->argv[2].ptr, c->argv[2].len, &s))
        reply_double(&c->r, s);
    else
        reply_null(&c->r);
}

static void zmscore_proc(rk_ctx *c)
{
    rk_obj *o;
    if (lookup_zset(c, c->argv[1], LOOKUP_NONE, &o) < 0)
        return;
    size_t mark = c->r.out->len;
    int failed = reply_array(&c->r, c->argc - 2) != 0;
    for (int j = 2; j < c->argc && !failed; j++) {
        double s;
        if (o && zobj_score(o, c->argv[j].ptr, c->argv[j].len, &s))
            failed = reply_double(&c->r, s) != 0;
        else
            failed = reply_null(&c->r) != 0;
    }
    if (failed)
        reply_rollback_oom(c, mark);
}

static void zrank_generic(rk_ctx *c, int rev)
{
    int withscore = 0;
    if (c->argc > 4) {
        ctx_wrong_arity(c);
        return;
    }
    if (c->argc == 4) {
        if (!ctx_arg_is(c, 3, "withscore")) {
            ctx_syntax_error(c);
            return;
        }
        withscore = 1;
    }
    rk_obj *o;
    if (lookup_zset(c, c->argv[1], LOOKUP_NONE, &o) < 0)
        return;
    unsigned long rank;
    double score;
    if (!o || !zobj_rank(o, c->argv[2].ptr, c->argv[2].len, rev, &rank, &score)) {
        if (withscore)
            reply_null_array(&c->r);
        else
            reply_null(&c->r);
        return;
    }
    if (withscore) {
        reply_array(&c->r, 2);
        reply_int(&c->r, (int64_t)rank);
        reply_double(&c->r, score);
    } else {
        reply_int(&c->r, (int64_t)rank);
    }
}

static void zrank_proc(rk_ctx *c) { zrank_generic(c, 0); }
static void zrevrank_proc(rk_ctx *c) { zrank_generic(c, 1); }

/* ---- ZCOUNT, ZLEXCOUNT --------------------------------------------------- */

static void zcount_proc(rk_ctx *c)
{
    zs_range r;
    rk_obj *o;
    if (score_range_arg(c, 2, 3, &r) < 0 || lookup_zset(c, c->argv[1], LOOKUP_NONE, &o) < 0)
        return;
    unsigned long count = 0;
    if (o) {
        zit it;
        zit_at_score(&it, o, &r, 0);
        if (zit_valid(&it)) {
            unsigned long first = zit_rank(&it, o);
            zit last;
            zit_at_score(&last, o, &r, 1);
            assert(zit_valid(&last));
            count = zit_rank(&last, o) - first + 1;
        }
    }
    reply_int(&c->r, (int64_t)count);
}

static void zlexcount_proc(rk_ctx *c)
{
    zs_lexrange r;
    rk_obj *o;
    if (lex_range_arg(c, 2, 3, &r) < 0 || lookup_zset(c, c->argv[1], LOOKUP_NONE, &o) < 0)
        return;
    long long count = 0;
    if (o && o->encoding == ENC_LISTPACK) {
        zit it;
        /* As Redis: from the first member in range while in range. */
        for (zit_at_lex(&it, o, &r, 0); zit_valid(&it) && zit_in_lex(&it, &r); zit_next(&it))
            count++;
    } else if (o) {
        /* As Redis: the rank distance between the first and the last member
         * in range (they differ from a walk only when scores are mixed). */
        zit first, last;
        zit_at_lex(&first, o, &r, 0);
        if (zit_valid(&first)) {
            long long len = (long long)zobj_length(o), r1 = (long long)zit_rank(&first, o) + 1;
            count = len - (r1 - 1);
            zit_at_lex(&last, o, &r, 1);
            if (zit_valid(&last))
                count -= len - ((long long)zit_rank(&last, o) + 1);
        }
    }
    reply_int(&c->r, count);
}

/* ---- range results: a reply or a ZRANGESTORE destination ---------------- */

typedef struct zemit {
    rk_ctx *c;
    rk_obj *dst;       /* building the ZRANGESTORE result, or NULL: replying */
    int withscores;
    int64_t handle;    /* deferred array header */
    long n;
    int failed;
    size_t mark;
    zs_limits lim;
} zemit;

static void zemit_begin(zemit *e, rk_ctx *c, int store, int withscores)
{
    memset(e, 0, sizeof(*e));
    e->c = c;
    e->withscores = withscores;
    e->mark = c->r.out->len;
    e->lim = limits_of(c);
    if (store) {
        e->dst = zobj_create(ENC_LISTPACK);
        e->failed = e->dst == NULL;
    } else {
        e->handle = reply_deferred(&c->r);
        e->failed = e->handle < 0;
    }
}

static void zemit_one(zemit *e, rk_slice m, double score)
{
    if (e->failed)
        return;
    if (e->dst) {
        int out;
        e->failed = zobj_add(e->dst, &e->lim, m.ptr, m.len, score, 0, &out, NULL) != 0;
    } else {
        rk_reply *r = &e->c->r;
        if (e->withscores && r->resp >= 3)
            e->failed |= reply_array(r, 2) != 0;
        e->failed |= reply_bulk(r, m.ptr, m.len) != 0;
        if (e->withscores)
            e->failed |= reply_double(r, score) != 0;
    }
    e->n++;
}

/* Finishes: the reply's header, or the stored key and its count. */
static void zemit_end(zemit *e, rk_slice dstkey)
{
    rk_ctx *c = e->c;
    if (!e->dst) {
        if (!e->failed) {
            int64_t n = e->withscores && c->r.resp < 3 ? e->n * 2 : e->n;
            e->failed = reply_set_deferred_array(&c->r, e->handle, n) != 0;
        }
        if (e->failed)
            reply_rollback_oom(c, e->mark);
        return;
    }
    if (e->failed) {
        obj_free(e->dst);
        ctx_oom(c);
        return;
    }
    if (e->n > 0) {
        if (db_set(c->shard, c->db, dstkey, e->dst, 0) != 0) {
            obj_free(e->dst);
            ctx_oom(c);
            return;
        }
        ctx_dirty(c, 1);
    } else {
        obj_free(e->dst);
        if (db_delete(c->shard, c->db, dstkey))
            ctx_dirty(c, 1);
    }
    reply_int(&c->r, e->n);
}

/* Stores an empty result for a missing source (the destination is deleted). */
static void zemit_empty(rk_ctx *c, int store, rk_slice dstkey)
{
    if (!store) {
        reply_array(&c->r, 0);
        return;
    }
    if (db_delete(c->shard, c->db, dstkey))
        ctx_dirty(c, 1);
    reply_int(&c->r, 0);
}

static void range_by_rank(zemit *e, rk_obj *o, long long start, long long end, int rev)
{
    long long llen = (long long)zobj_length(o);
    if (start < 0) start += llen;
    if (end < 0) end += llen;
    if (start < 0) start = 0;
    if (start > end || start >= llen)
        return;
    if (end >= llen) end = llen - 1;
    zit it;
    long long n = end - start + 1;
    for (zit_at_rank(&it, o, (unsigned long)start, rev); n-- > 0 && zit_valid(&it); zit_next(&it))
        zemit_one(e, zit_member(&it), zit_score(&it));
}

static void range_by_score(zemit *e, rk_obj *o, const zs_range *r, long long offset, long long limit, int rev)
{
    if (offset < 0 || (offset > 0 && (unsigned long long)offset >= zobj_length(o)))
        return;
    zit it;
    zit_at_score(&it, o, r, rev);
    while (zit_valid(&it) && offset-- > 0)
        zit_next(&it);
    for (; zit_valid(&it) && limit != 0 && zit_in_score(&it, r); zit_next(&it), limit--)
        zemit_one(e, zit_member(&it), zit_score(&it));
}

static void range_by_lex(zemit *e, rk_obj *o, const zs_lexrange *r, long long offset, long long limit, int rev)
{
    if (offset < 0 || (offset > 0 && (unsigned long long)offset >= zobj_length(o)))
        return;
    zit it;
    zit_at_lex(&it, o, r, rev);
    while (zit_valid(&it) && offset-- > 0)
        zit_next(&it);
    for (; zit_valid(&it) && limit != 0 && zit_in_lex(&it, r); zit_next(&it), limit--)
        zemit_one(e, zit_member(&it), zit_score(&it));
}

enum { ZR_AUTO, ZR_RANK, ZR_SCORE, ZR_LEX };
enum { ZD_AUTO, ZD_FORWARD, ZD_REVERSE };

/* Redis's zrangeGenericCommand: src at argv[first], then min, max, options. */
static void zrange_generic(rk_ctx *c, int first, int store, int type, int dir)
{
    rk_slice key = c->argv[first];
    int minidx = first + 1, maxidx = first + 2;
    int withscores = 0;
    long long offset = 0, limit = -1, start = 0, end = 0;
    int have_limit = 0;
    for (int j = first + 3; j < c->argc; j++) {
        int left = c->argc - j - 1;
        if (!store && ctx_arg_is(c, j, "withscores")) {
            withscores = 1;
        } else if (ctx_arg_is(c, j, "limit") && left >= 2) {
            if (ctx_arg_ll(c, j + 1, &offset) < 0 || ctx_arg_ll(c, j + 2, &limit) < 0)
                return;
            have_limit = 1;
            j += 2;
        } else if (dir == ZD_AUTO && ctx_arg_is(c, j, "rev")) {
            dir = ZD_REVERSE;
        } else if (type == ZR_AUTO && ctx_arg_is(c, j, "bylex")) {
            type = ZR_LEX;
        } else if (type == ZR_AUTO && ctx_arg_is(c, j, "byscore")) {
            type = ZR_SCORE;
        } else {
            ctx_syntax_error(c);
            return;
        }
    }
    if (dir == ZD_AUTO)
        dir = ZD_FORWARD;
    if (type == ZR_AUTO)
        type = ZR_RANK;
    if (have_limit && limit != -1 && type == ZR_RANK) {
        ctx_error(c, "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX");
        return;
    }
    if (withscores && type == ZR_LEX) {
        ctx_error(c, "ERR syntax error, WITHSCORES not supported in combination with BYLEX");
        return;
    }
    int rev = dir == ZD_REVERSE;
    if (rev && type != ZR_RANK) {
        int tmp = minidx;
        minidx = maxidx;
        maxidx = tmp;
    }
    zs_range sr;
    zs_lexrange lr;
    if (type == ZR_RANK) {
        if (ctx_arg_ll(c, minidx, &start) < 0 || ctx_arg_ll(c, maxidx, &end) < 0)
            return;
    } else if (type == ZR_SCORE) {
        if (score_range_arg(c, minidx, maxidx, &sr) < 0)
            return;
    } else if (lex_range_arg(c, minidx, maxidx, &lr) < 0) {
        return;
    }
    rk_obj *o;
    if (lookup_zset(c, key, LOOKUP_NONE, &o) < 0)
        return;
    rk_slice dstkey = store ? c->argv[1] : (rk_slice){NULL, 0};
    if (!o) {
        zemit_empty(c, store, dstkey);
        return;
    }
    zemit e;
    zemit_begin(&e, c, store, withscores);
    if (type == ZR_RANK)
        range_by_rank(&e, o, start, end, rev);
    else if (type == ZR_SCORE)
        range_by_score(&e, o, &sr, offset, limit, rev);
    else
        range_by_lex(&e, o, &lr, offset, limit, rev);
    zemit_end(&e, dstkey);
}

static void zrange_proc(rk_ctx *c) { zrange_generic(c, 1, 0, ZR_AUTO, ZD_AUTO); }
static void zrangestore_proc(rk_ctx *c) { zrange_generic(c, 2, 1, ZR_AUTO, ZD_AUTO); }
static void zrevrange_proc(rk_ctx *c) { zrange_generic(c, 1, 0, ZR_RANK, ZD_REVERSE); }
static void zrangebyscore_proc(rk_ctx *c) { zrange_generic(c, 1, 0, ZR_SCORE, ZD_FORWARD); }
static void zrevrangebyscore_proc(rk_ctx *c) { zrange_generic(c, 1, 0, ZR_SCORE, ZD_REVERSE); }
static void zrangebylex_proc(rk_ctx *c) { zrange_generic(c, 1, 0, ZR_LEX, ZD_FORWARD); }
static void zrevrangebylex_proc(rk_ctx *c) { zrange_generic(c, 1, 0, ZR_LEX, ZD_REVERSE); }

/* ---- ZREMRANGEBY* -------------------------------------------------------- */

/* Removes the forward rank span [first, first+count) from o. */
static void remove_rank_span(rk_obj *o, unsigned long first, unsigned long count)
{
    if (!count)
        return;
    if (o->encoding == ENC_LISTPACK) {
        unsigned char *lp = o->u.ptr;
        zlp_delete_pairs(&lp, (long)first, count);
        o->u.ptr = lp;
    } else {
        zset_sl *zs = o->u.ptr;
        unsigned long removed = zsl_delete_range_by_rank(zs->zsl, first + 1, first + count, zs->dict);
        assert(removed == count);
        (void)removed;
        dict_try_shrink(zs->dict);
    }
}

static void zremrange_generic(rk_ctx *c, int type)
{
    long long start = 0, end = 0;
    zs_range sr;
    zs_lexrange lr;
    if (type == ZR_RANK) {
        if (ctx_arg_ll(c, 2, &start) < 0 || ctx_arg_ll(c, 3, &end) < 0)
            return;
    } else if (type == ZR_SCORE) {
        if (score_range_arg(c, 2, 3, &sr) < 0)
            return;
    } else if (lex_range_arg(c, 2, 3, &lr) < 0) {
        return;
    }
    rk_obj *o;
    if (lookup_zset(c, c->argv[1], LOOKUP_WRITE, &o) < 0)
        return;
    if (!o) {
        reply_int(&c->r, 0);
        return;
    }
    unsigned long first = 0, count = 0;
    if (type == ZR_RANK) {
        long long llen = (long long)zobj_length(o);
        if (start < 0) start += llen;
        if (end < 0) end += llen;
        if (start < 0) start = 0;
        if (start > end || start >= llen) {
            reply_int(&c->r, 0);
            return;
        }
        if (end >= llen) end = llen - 1;
        first = (unsigned long)start;
        count = (unsigned long)(end - start + 1);
    } else if (o->encoding == ENC_SKIPLIST) {
        /* Redis walks the skiplist itself here (no quick lex rejection). */
        zset_sl *zs = o->u.ptr;
        count = type == ZR_SCORE ? zsl_delete_range_by_score(zs->zsl, &sr, zs->dict)
                                 : zsl_delete_range_by_lex(zs->zsl, &lr, zs->dict);
        if (count)
            dict_try_shrink(zs->dict);
        drop_if_empty(c, c->argv[1], o);
        if (count)
            ctx_dirty(c, (long long)count);
        reply_int(&c->r, (int64_t)count);
        return;
    } else {
        zit it;
        if (type == ZR_SCORE)
            zit_at_score(&it, o, &sr, 0);
        else
            zit_at_lex(&it, o, &lr, 0);
        if (zit_valid(&it)) {
            first = zit_rank(&it, o);
            /* The run of members in range from the first one (as Redis deletes). */
            for (; zit_valid(&it) && (type == ZR_SCORE ? zit_in_score(&it, &sr) : zit_in_lex(&it, &lr));
                 zit_next(&it))
                count++;
        }
    }
    remove_rank_span(o, first, count);
    drop_if_empty(c, c->argv[1], o);
    if (count)
        ctx_dirty(c, (long long)count);
    reply_int(&c->r, (int64_t)count);
}

static void zremrangebyrank_proc(rk_ctx *c) { zremrange_generic(c, ZR_RANK); }
static void zremrangebyscore_proc(rk_ctx *c) { zremrange_generic(c, ZR_SCORE); }
static void zremrangebylex_proc(rk_ctx *c) { zremrange_generic(c, ZR_LEX); }

/* ---- pops ------------------------------------------------------------------- */

enum { ZPOP_MIN = 0, ZPOP_MAX = 1 };
/* Reply shapes: ZPOPMIN flat or nested (RESP3 + count), BZPOPMIN with the
 * key in front, ZMPOP [key, [[member, score], ...]]. */
enum { POP_FLAT, POP_NESTED, POP_KEY_FLAT, POP_KEY_NESTED };

/* Pops up to count members of o (at key) from one end and replies. */
static void pop_and_reply(rk_ctx *c, rk_slice key, rk_obj *o, int where, long long count, int shape)
{
    unsigned long len = zobj_length(o);
    unsigned long n = (unsigned long long)count > len ? len : (unsigned long)count;
    size_t mark = c->r.out->len;
    int failed = 0;
    switch (shape) {
    case POP_FLAT: failed |= reply_array(&c->r, (int64_t)n * 2); break;
    case POP_NESTED: failed |= reply_array(&c->r, (int64_t)n); break;
    case POP_KEY_FLAT:
        failed |= reply_array(&c->r, (int64_t)n * 2 + 1);
        failed |= reply_bulk(&c->r, key.ptr, key.len);
        break;
    default:
        failed |= reply_array(&c->r, 2);
        failed |= reply_bulk(&c->r, key.ptr, key.len);
        failed |= reply_array(&c->r, (int64_t)n);
        break;
    }
    /* Reply everything first: the members are read in place, then removed at once. */
    zit it;
    zit_at_rank(&it, o, 0, where == ZPOP_MAX);
    for (unsigned long i = 0; i < n && !failed; i++, zit_next(&it)) {
        assert(zit_valid(&it));
        rk_slice m = zit_member(&it);
        if (shape == POP_NESTED || shape == POP_KEY_NESTED)
            failed |= reply_array(&c->r, 2);
        failed |= reply_bulk(&c->r, m.ptr, m.len);
        failed |= reply_double(&c->r, zit_score(&it));
    }
    if (failed) {
        reply_rollback_oom(c, mark);
        return;
    }
    remove_rank_span(o, where == ZPOP_MAX ? len - n : 0, n);
    drop_if_empty(c, key, o);
    if (n)
        ctx_dirty(c, (long long)n);
}

static void zpop_generic(rk_ctx *c, int where)
{
    long long count = -1;
    if (c->argc > 3) {
        ctx_syntax_error(c);
        return;
    }
    if (c->argc == 3 &&
        arg_range_ll(c, 2, 0, LLONG_MAX, &count, "ERR value is out of range, must be positive") < 0)
        return;
    rk_obj *o;
    if (lookup_zset(c, c->argv[1], LOOKUP_WRITE, &o) < 0)
        return;
    if (!o || count == 0) {
        reply_array(&c->r, 0);
        return;
    }
    int nested = c->r.resp >= 3 && c->argc == 3;
    pop_and_reply(c, c->argv[1], o, where, count < 0 ? 1 : count, nested ? POP_NESTED : POP_FLAT);
}

static void zpopmin_proc(rk_ctx *c) { zpop_generic(c, ZPOP_MIN); }
static void zpopmax_proc(rk_ctx *c) { zpop_generic(c, ZPOP_MAX); }

/* Redis 7.0's timeout argument (seconds, may be fractional) for the
 * blocking pops. A value whose milliseconds overflow converts to LLONG_MIN
 * there, hence "negative". */
static int timeout_arg(rk_ctx *c, int i, double *seconds)
{
    long double v;
    if (!rk_str2ld(c->argv[i].ptr, c->argv[i].len, &v)) {
        ctx_error(c, "ERR timeout is not a float or out of range");
        return -1;
    }
    long double ms = v * 1000.0L;
    if (!(ms < 9223372036854775808.0L) || ms < -9223372036854775808.0L || (long long)ms < 0) {
        ctx_error(c, "ERR timeout is negative");
        return -1;
    }
    *seconds = (double)(long long)ms / 1000.0;
    return 0;
}

/* The first non-empty zset among argv[first .. first+nkeys); WRONGTYPE
 * stops the scan (as Redis). Returns the argv index, 0 when none, -1 after
 * an error reply. */
static int first_poppable(rk_ctx *c, int first, int nkeys, rk_obj **out)
{
    for (int j = first; j < first + nkeys; j++) {
        rk_obj *o;
        if (lookup_zset(c, c->argv[j], LOOKUP_WRITE, &o) < 0)
            return -1;
        if (o && zobj_length(o) > 0) {
            *out = o;
            return j;
        }
    }
    return 0;
}

static void bzpop_generic(rk_ctx *c, int where)
{
    double timeout;
    if (timeout_arg(c, c->argc - 1, &timeout) < 0)
        return;
    rk_obj *o = NULL;
    int j = first_poppable(c, 1, c->argc - 2, &o);
    if (j < 0)
        return;
    if (j > 0) {
        /* Served now: journaled as ZPOPMIN/ZPOPMAX key, as Redis 7.0. */
        rk_slice argv[2] = {where == ZPOP_MAX ? RK_SLICE("ZPOPMAX") : RK_SLICE("ZPOPMIN"), c->argv[j]};
        ctx_propagate(c, 2, argv);
        pop_and_reply(c, c->argv[j], o, where, 1, POP_KEY_FLAT);
        return;
    }
    if (c->in_multi)
        reply_null_array(&c->r);
    else
        ctx_block(c, timeout);
}

static void bzpopmin_proc(rk_ctx *c) { bzpop_generic(c, ZPOP_MIN); }
static void bzpopmax_proc(rk_ctx *c) { bzpop_generic(c, ZPOP_MAX); }

/* ZMPOP numkeys key... MIN|MAX [COUNT n]; BZMPOP has the timeout first. */
static void zmpop_generic(rk_ctx *c, int numkeys_idx, int blocking)
{
    long long numkeys, count = -1;
    if (arg_range_ll(c, numkeys_idx, 1, LLONG_MAX, &numkeys, "ERR numkeys should be greater than 0") < 0)
        return;
    if (numkeys >= c->argc - numkeys_idx) {
        ctx_syntax_error(c);
        return;
    }
    int where_idx = numkeys_idx + (int)numkeys + 1, where;
    if (ctx_arg_is(c, where_idx, "min")) {
        where = ZPOP_MIN;
    } else if (ctx_arg_is(c, where_idx, "max")) {
        where = ZPOP_MAX;
    } else {
        ctx_syntax_error(c);
        return;
    }
    for (int j = where_idx + 1; j < c->argc; j++) {
        if (count == -1 && ctx_arg_is(c, j, "count") && j + 1 < c->argc) {
            j++;
            if (arg_range_ll(c, j, 1, LLONG_MAX, &count, "ERR count should be greater than 0") < 0)
                return;
        } else {
            ctx_syntax_error(c);
            return;
        }
    }
    if (count == -1)
        count = 1;
    double timeout = 0;
    if (blocking && timeout_arg(c, 1, &timeout) < 0)
        return;
    rk_obj *o = NULL;
    int j = first_poppable(c, numkeys_idx + 1, (int)numkeys, &o);
    if (j < 0)
        return;
    if (j > 0) {
        /* [B]ZMPOP is journaled as ZPOPMIN/ZPOPMAX key <members popped>, as Redis 7.0. */
        unsigned long len = zobj_length(o);
        char num[24];
        int nlen = snprintf(num, sizeof(num), "%llu",
                            (unsigned long long)count > len ? (unsigned long long)len : (unsigned long long)count);
        rk_slice argv[3] = {where == ZPOP_MAX ? RK_SLICE("ZPOPMAX") : RK_SLICE("ZPOPMIN"), c->argv[j],
                            {num, (size_t)nlen}};
        ctx_propagate(c, 3, argv);
        pop_and_reply(c, c->argv[j], o, where, count, POP_KEY_NESTED);
        return;
    }
    if (!blocking || c->in_multi)
        reply_null_array(&c->r);
    else
        ctx_block(c, timeout);
}

static void zmpop_proc(rk_ctx *c) { zmpop_generic(c, 1, 0); }
static void bzmpop_proc(rk_ctx *c) { zmpop_generic(c, 2, 1); }

/* ---- ZRANDMEMBER ------------------------------------------------------------ */

static void rand_reply_one(rk_ctx *c, int withscores, rk_slice m, double score, int *failed)
{
    if (withscores && c->r.resp >= 3)
        *failed |= reply_array(&c->r, 2);
    *failed |= reply_bulk(&c->r, m.ptr, m.len);
    if (withscores)
        *failed |= reply_double(&c->r, score);
}

/* Distinct random ranks: an open-addressing set of chosen ranks + 1. */
typedef struct rankset {
    uint64_t *slots;
    size_t mask;
} rankset;

static int rankset_init(rankset *s, unsigned long want)
{
    size_t cap = 16;
    while (cap < (size_t)want * 2)
        cap <<= 1;
    s->slots = calloc(cap, sizeof(uint64_t));
    s->mask = cap - 1;
    return s->slots ? 0 : -1;
}

/* 1 when rank was new. */
static int rankset_add(rankset *s, unsigned long rank)
{
    uint64_t v = (uint64_t)rank + 1;
    size_t i = (size_t)((v * 0x9e3779b97f4a7c15ULL) >> 17) & s->mask;
    while (s->slots[i]) {
        if (s->slots[i] == v)
            return 0;
        i = (i + 1) & s->mask;
    }
    s->slots[i] = v;
    return 1;
}

static void zrandmember_count(rk_ctx *c, long long count, int withscores)
{
    rk_obj *o;
    if (lookup_zset(c, c->argv[1], LOOKUP_NONE, &o) < 0)
        return;
    if (!o || count == 0) {
        reply_array(&c->r, 0);
        return;
    }
    unsigned long size = zobj_length(o);
    size_t mark = c->r.out->len;
    int failed = 0;
    zit it;
    if (count < 0 || count == 1) {
        /* Independent draws, repetitions allowed. */
        unsigned long long n = count < 0 ? (unsigned long long)-count : 1;
        failed |= reply_array(&c->r, (int64_t)(withscores && c->r.resp < 3 ? n * 2 : n));
        for (unsigned long long i = 0; i < n && !failed; i++) {
            zit_at_rank(&it, o, zrand_below(size), 0);
            rand_reply_one(c, withscores, zit_member(&it), zit_score(&it), &failed);
        }
    } else if ((unsigned long long)count >= size) {
        failed |= reply_array(&c->r, (int64_t)(withscores && c->r.resp < 3 ? size * 2 : size));
        /* The whole set, from the top down (Redis's iterator order). */
        for (zit_at_rank(&it, o, 0, 1); zit_valid(&it) && !failed; zit_next(&it))
            rand_reply_one(c, withscores, zit_member(&it), zit_score(&it), &failed);
    } else {
        unsigned long want = (unsigned long)count;
        failed |= reply_array(&c->r, (int64_t)(withscores && c->r.resp < 3 ? want * 2 : want));
        if (o->encoding == ENC_LISTPACK || want * 4 >= size) {
            /* Selection sampling: one ordered walk picks exactly `want`. */
            unsigned long left = size, need = want;
            for (zit_at_rank(&it, o, 0, 0); need && !failed; zit_next(&it), left--) {
                assert(zit_valid(&it));
                if (zrand_below(left) < need) {
                    rand_reply_one(c, withscores, zit_member(&it), zit_score(&it), &failed);
                    need--;
                }
            }
        } else {
            rankset seen;
            if (rankset_init(&seen, want) != 0) {
                failed = 1;
            } else {
                for (unsigned long got = 0; got < want && !failed;) {
                    unsigned long rank = zrand_below(size);
                    if (!rankset_add(&seen, rank))
                        continue;
                    got++;
                    zit_at_rank(&it, o, rank, 0);
                    rand_reply_one(c, withscores, zit_member(&it), zit_score(&it), &failed);
                }
                free(seen.slots);
            }
        }
    }
    if (failed)
        reply_rollback_oom(c, mark);
}

static void zrandmember_proc(rk_ctx *c)
{
    if (c->argc >= 3) {
        long long count;
        if (arg_range_ll(c, 2, -LLONG_MAX, LLONG_MAX, &count, NULL) < 0)
            return;
        int withscores = 0;
        if (c->argc > 4 || (c->argc == 4 && !ctx_arg_is(c, 3, "withscores"))) {
            ctx_syntax_error(c);
            return;
        }
        if (c->argc == 4) {
            withscores = 1;
            if (count < -LLONG_MAX / 2 || count > LLONG_MAX / 2) {
                ctx_error(c, "ERR value is out of range");
                return;
            }
        }
        zrandmember_count(c, count, withscores);
        return;
    }
    rk_obj *o;
    if (lookup_zset(c, c->argv[1], LOOKUP_NONE, &o) < 0)
        return;
    if (!o) {
        reply_null(&c->r);
        return;
    }
    zit it;
    zit_at_rank(&it, o, zrand_below(zobj_length(o)), 0);
    rk_slice m = zit_member(&it);
    reply_bulk(&c->r, m.ptr, m.len);
}

/* ---- ZUNION, ZINTER, ZDIFF (+STORE), ZINTERCARD ------------------------------ */

enum { ZOP_UNION, ZOP_INTER, ZOP_DIFF };
enum { AGG_SUM, AGG_MIN, AGG_MAX };

typedef struct zsrc {
    rk_obj *o;     /* NULL when the key is missing */
    int owned;     /* a temporary zset made from a set input */
    double weight;
} zsrc;

typedef struct set_collect {
    rk_obj *z;
    int failed;
} set_collect;

static void set_member_cb(void *ud, const char *p, size_t len)
{
    set_collect *sc = ud;
    if (!sc->failed && zsetsl_add(sc->z->u.ptr, p, len, 1.0) != 0)
        sc->failed = 1;
}

/* A set input as a temporary zset whose scores are all 1. NULL on OOM. */
static rk_obj *zset_from_set(const rk_obj *set)
{
    set_collect sc = {zobj_create(ENC_SKIPLIST), 0};
    if (!sc.z)
        return NULL;
    if (set_for_each_member(set, set_member_cb, &sc) != 0 || sc.failed) {
        obj_free(sc.z);
        return NULL;
    }
    return sc.z;
}

static void zsrcs_free(zsrc *src, long long n)
{
    if (!src)
        return;
    for (long long i = 0; i < n; i++)
        if (src[i].owned)
            obj_free(src[i].o);
    free(src);
}

static double weighted(double score, double weight)
{
    double v = score * weight;
    return isnan(v) ? 0.0 : v; /* 0 * inf */
}

static double aggregate(double acc, double v, int how)
{
    if (how == AGG_SUM) {
        double sum = acc + v;
        return isnan(sum) ? 0.0 : sum; /* inf + -inf */
    }
    if (how == AGG_MIN)
        return v < acc ? v : acc;
    return v > acc ? v : acc;
}

static int cmp_card(const void *a, const void *b)
{
    const zsrc *x = a, *y = b;
    unsigned long lx = x->o ? zobj_length(x->o) : 0, ly = y->o ? zobj_length(y->o) : 0;
    return lx < ly ? -1 : lx > ly ? 1 : 0;
}

/* Computes the operation into acc (a skiplist-encoded zset). For
 * cardinality_only, counts into *card instead (stopping at limit > 0).
 * *maxlen gets the longest member. 0, or -1 on OOM. */
static int zsetop_compute(zsrc *src, long long n, int op, int how, int cardinality_only, long long limit,
                          rk_obj *acc, unsigned long long *card, size_t *maxlen)
{
    zset_sl *zs = acc ? acc->u.ptr : NULL;
    zit it;
    *maxlen = 0;
    *card = 0;
    if (op == ZOP_UNION) {
        for (long long i = 0; i < n; i++) {
            if (!src[i].o)
                continue;
            for (zit_at_rank(&it, src[i].o, 0, 0); zit_valid(&it); zit_next(&it)) {
                rk_slice m = zit_member(&it);
                double v = weighted(zit_score(&it), src[i].weight);
                dict_entry *e = zsetsl_find(zs, m.ptr, m.len);
                if (e) {
                    zsetsl_set_score(zs, e, aggregate(e->v.d, v, how));
                } else {
                    if (zsetsl_add(zs, m.ptr, m.len, v) != 0)
                        return -1;
                    if (m.len > *maxlen)
                        *maxlen = m.len;
                }
            }
        }
        return 0;
    }
    if (!src[0].o)
        return 0;
    for (zit_at_rank(&it, src[0].o, 0, 0); zit_valid(&it); zit_next(&it)) {
        rk_slice m = zit_member(&it);
        double v = op == ZOP_INTER ? weighted(zit_score(&it), src[0].weight) : zit_score(&it);
        long long j;
        for (j = 1; j < n; j++) {
            double s;
            int found = src[j].o && zobj_score(src[j].o, m.ptr, m.len, &s);
            if (op == ZOP_DIFF) {
                if (found)
                    break;
            } else {
                if (!found)
                    break;
                v = aggregate(v, weighted(s, src[j].weight), how);
            }
        }
        if (j < n)
            continue;
        if (cardinality_only) {
            if (++*card == (unsigned long long)limit && limit > 0)
                return 0;
            continue;
        }
        if (zsetsl_add(zs, m.ptr, m.len, v) != 0)
            return -1;
        if (m.len > *maxlen)
            *maxlen = m.len;
    }
    return 0;
}

/* Redis's zunionInterDiffGenericCommand. dst_idx 0 when not storing. */
static void zsetop_generic(rk_ctx *c, int dst_idx, int numkeys_idx, int op, int cardinality_only)
{
    long long setnum;
    if (ctx_arg_ll(c, numkeys_idx, &setnum) < 0)
        return;
    if (setnum < 1) {
        ctx_errorf(c, "ERR at least 1 input key is needed for '%s' command", cmd_full_name(c->cmd));
        return;
    }
    if (setnum > c->argc - (numkeys_idx + 1)) {
        ctx_syntax_error(c);
        return;
    }
    zsrc *src = calloc((size_t)setnum, sizeof(zsrc));
    if (!src) {
        ctx_oom(c);
        return;
    }
    int j = numkeys_idx + 1;
    for (long long i = 0; i < setnum; i++, j++) {
        rk_obj *o = db_lookup(c->shard, c->db, c->argv[j], LOOKUP_NONE);
        src[i].weight = 1.0;
        if (!o)
            continue;
        if (o->type == OBJ_ZSET) {
            src[i].o = o;
        }
        else if (o->type == OBJ_SET) {
            src[i].o = zset_from_set(o);
            if (!src[i].o) {
                zsrcs_free(src, setnum);
                ctx_oom(c);
                return;
            }
            src[i].owned = 1;
        }
        else {
            zsrcs_free(src, setnum);
            ctx_wrongtype(c);
            return;
        }
    }
    int how = AGG_SUM, withscores = 0;
    long long limit = 0;
    int storing = dst_idx > 0;
    while (j < c->argc) {
        int remaining = c->argc - j;
        if (op != ZOP_DIFF && !cardinality_only && remaining >= setnum + 1 && ctx_arg_is(c, j, "weights")) {
            j++;
            for (long long i = 0; i < setnum; i++, j++) {
                if (!rk_str2d(c->argv[j].ptr, c->argv[j].len, &src[i].weight)) {
                    zsrcs_free(src, setnum);
                    ctx_error(c, "ERR weight value is not a float");
                    return;
                }
            }
        } else if (op != ZOP_DIFF && !cardinality_only && remaining >= 2 && ctx_arg_is(c, j, "aggregate")) {
            j++;
            if (ctx_arg_is(c, j, "sum")) how = AGG_SUM;
            else if (ctx_arg_is(c, j, "min")) how = AGG_MIN;
            else if (ctx_arg_is(c, j, "max")) how = AGG_MAX;
            else {
                zsrcs_free(src, setnum);
                ctx_syntax_error(c);
                return;
            }
            j++;
        } else if (!storing && !cardinality_only && ctx_arg_is(c, j, "withscores")) {
            j++;
            withscores = 1;
        } else if (cardinality_only && remaining >= 2 && ctx_arg_is(c, j, "limit")) {
            j++;
            if (arg_range_ll(c, j, 0, LLONG_MAX, &limit, "ERR LIMIT can't be negative") < 0) {
                zsrcs_free(src, setnum);
                return;
            }
            j++;
        } else {
            zsrcs_free(src, setnum);
            ctx_syntax_error(c);
            return;
        }
    }
    /* Smallest first: intersections probe fewer members (Redis's order). */
    if (op != ZOP_DIFF)
        qsort(src, (size_t)setnum, sizeof(zsrc), cmp_card);
    rk_obj *acc = cardinality_only ? NULL : zobj_create(ENC_SKIPLIST);
    if (!cardinality_only && !acc) {
        zsrcs_free(src, setnum);
        ctx_oom(c);
        return;
    }
    unsigned long long card;
    size_t maxlen;
    int rc = zsetop_compute(src, setnum, op, how, cardinality_only, limit, acc, &card, &maxlen);
    zsrcs_free(src, setnum);
    if (rc != 0) {
        obj_free(acc);
        ctx_oom(c);
        return;
    }
    if (cardinality_only) {
        reply_int(&c->r, (int64_t)card);
        return;
    }
    unsigned long len = zobj_length(acc);
    if (storing) {
        rk_slice dst = c->argv[dst_idx];
        if (len == 0) {
            obj_free(acc);
            if (db_delete(c->shard, c->db, dst))
                ctx_dirty(c, 1);
            reply_int(&c->r, 0);
            return;
        }
        zs_limits lim = limits_of(c);
        /* Small results take the compact encoding; if that fails the skiplist stays valid. */
        if (len <= lim.entries && maxlen <= lim.value)
            (void)zobj_to_listpack(acc);
        if (db_set(c->shard, c->db, dst, acc, 0) != 0) {
            obj_free(acc);
            ctx_oom(c);
            return;
        }
        ctx_dirty(c, 1);
        reply_int(&c->r, (int64_t)len);
        return;
    }
    zemit e;
    zemit_begin(&e, c, 0, withscores);
    zit it;
    for (zit_at_rank(&it, acc, 0, 0); zit_valid(&it); zit_next(&it))
        zemit_one(&e, zit_member(&it), zit_score(&it));
    zemit_end(&e, (rk_slice){NULL, 0});
    obj_free(acc);
}

static void zunion_proc(rk_ctx *c) { zsetop_generic(c, 0, 1, ZOP_UNION, 0); }
static void zinter_proc(rk_ctx *c) { zsetop_generic(c, 0, 1, ZOP_INTER, 0); }
static void zdiff_proc(rk_ctx *c) { zsetop_generic(c, 0, 1, ZOP_DIFF, 0); }
static void zunionstore_proc(rk_ctx *c) { zsetop_generic(c, 1, 2, ZOP_UNION, 0); }
static void zinterstore_proc(rk_ctx *c) { zsetop_generic(c, 1, 2, ZOP_INTER, 0); }
static void zdiffstore_proc(rk_ctx *c) { zsetop_generic(c, 1, 2, ZOP_DIFF, 0); }
static void zintercard_proc(rk_ctx *c) { zsetop_generic(c, 0, 1, ZOP_INTER, 1); }

/* ---- ZSCAN ----------------------------------------------------------------- */

static int cursor_arg(rk_ctx *c, int i, unsigned long long *cursor)
{
    uint64_t v;
    if (!rk_parse_scan_cursor(c->argv[i], &v)) {
        ctx_error(c, "ERR invalid cursor");
        return -1;
    }
    *cursor = v;
    return 0;
}

typedef struct scan_acc {
    dict_entry **items;
    size_t n, cap;
    int failed;
} scan_acc;

static void scan_collect(void *ud, dict_entry *e)
{
    scan_acc *a = ud;
    if (a->failed)
        return;
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 32;
        dict_entry **grown = realloc(a->items, cap * sizeof(*grown));
        if (!grown) {
            a->failed = 1;
            return;
        }
        a->items = grown;
        a->cap = cap;
    }
    a->items[a->n++] = e;
}

static int scan_reply_pair(rk_ctx *c, rk_slice m, double score)
{
    char sbuf[64];
    int slen = format_score(sbuf, sizeof(sbuf), score);
    return reply_bulk(&c->r, m.ptr, m.len) | reply_bulk(&c->r, sbuf, (size_t)slen);
}

static void zscan_proc(rk_ctx *c)
{
    unsigned long long cursor;
    if (cursor_arg(c, 2, &cursor) < 0)
        return;
    rk_obj *o;
    if (lookup_zset(c, c->argv[1], LOOKUP_NONE, &o) < 0)
        return;
    if (!o) { /* answered before the options are looked at, as Redis */
        reply_array(&c->r, 2);
        reply_bulk_str(&c->r, "0");
        reply_array(&c->r, 0);
        return;
    }
    long long count = 10;
    rk_slice pat = {NULL, 0};
    for (int i = 3; i < c->argc;) {
        int left = c->argc - i;
        if (ctx_arg_is(c, i, "count") && left >= 2) {
            if (ctx_arg_ll(c, i + 1, &count) < 0)
                return;
            if (count < 1) {
                ctx_syntax_error(c);
                return;
            }
            i += 2;
        } else if (ctx_arg_is(c, i, "match") && left >= 2) {
            pat = c->argv[i + 1];
            if (pat.len == 1 && pat.ptr[0] == '*')
                pat.ptr = NULL; /* matches everything */
            i += 2;
        } else {
            ctx_syntax_error(c);
            return;
        }
    }
    size_t mark = c->r.out->len;
    int failed = 0;
    if (o->encoding == ENC_LISTPACK) {
        /* A compact set is returned whole in one call, as Redis does. */
        failed |= reply_array(&c->r, 2);
        failed |= reply_bulk_str(&c->r, "0");
        int64_t h = reply_deferred(&c->r);
        failed |= h < 0;
        int64_t n = 0;
        zit it;
        for (zit_at_rank(&it, o, 0, 0); zit_valid(&it) && !failed; zit_next(&it)) {
            rk_slice m = zit_member(&it);
            if (pat.ptr && !glob_match(pat.ptr, pat.len, m.ptr, m.len, 0))
                continue;
            failed |= scan_reply_pair(c, m, zit_score(&it));
            n += 2;
        }
        if (!failed)
            failed |= reply_set_deferred_array(&c->r, h, n);
    } else {
        zset_sl *zs = o->u.ptr;
        scan_acc acc = {0};
        long long budget = count * 10;
        do {
            cursor = dict_scan(zs->dict, cursor, scan_collect, &acc);
        } while (cursor && budget-- > 0 && (long long)acc.n < count && !acc.failed);
        failed = acc.failed;
        if (!failed) {
            char cbuf[24];
            snprintf(cbuf, sizeof(cbuf), "%llu", cursor);
            failed |= reply_array(&c->r, 2);
            failed |= reply_bulk_str(&c->r, cbuf);
            int64_t h = reply_deferred(&c->r);
            failed |= h < 0;
            int64_t n = 0;
            for (size_t i = 0; i < acc.n && !failed; i++) {
                rk_str *m = acc.items[i]->key;
                if (pat.ptr && !glob_match(pat.ptr, pat.len, m->data, m->len, 0))
                    continue;
                failed |= scan_reply_pair(c, rkstr_slice(m), acc.items[i]->v.d);
                n += 2;
            }
            if (!failed)
                failed |= reply_set_deferred_array(&c->r, h, n);
        }
        free(acc.items);
    }
    if (failed)
        reply_rollback_oom(c, mark);
}

/* ---- command table ---------------------------------------------------------- */

#define KS_RANGE(fl, idx, last, step) {fl, idx, NULL, 0, 0, last, step, 0, 0, 0, 0}
#define KS_KEYNUM(fl, idx) {fl, idx, NULL, 0, 1, 0, 0, 0, 0, 1, 1}
#define KEY1(fl) .first_key = 1, .last_key = 1, .key_step = 1, .keyspecs = {KS_RANGE(fl, 1, 0, 1)}, .n_keyspecs = 1
#define ZCMD(nm, ar, fl, acl, fn)                                                         \
    .name = nm, .arity = ar, .flags = fl, .acl_categories = acl, .exec = EXEC_KEYS,       \
    .merge = MERGE_NONE, .proc = fn, .group = "sorted-set"

const rk_command rk_zset_commands[] = {
    {ZCMD("zadd", -4, CMD_WRITE | CMD_DENYOOM | CMD_FAST, "@write @sortedset @fast", zadd_proc),
     KEY1("RW UPDATE"), .since = "1.2.0",
     .summary = "Add one or more members to a sorted set, or update its score if it already exists",
     .complexity = "O(log(N)) for each item added, where N is the number of elements in the sorted set."},
    {ZCMD("zincrby", 4, CMD_WRITE | CMD_DENYOOM | CMD_FAST, "@write @sortedset @fast", zincrby_proc),
     KEY1("RW UPDATE"), .since = "1.2.0", .summary = "Increment the score of a member in a sorted set",
     .complexity = "O(log(N)) where N is the number of elements in the sorted set."},
    {ZCMD("zrem", -3, CMD_WRITE | CMD_FAST, "@write @sortedset @fast", zrem_proc), KEY1("RW DELETE"),
     .since = "1.2.0", .summary = "Remove one or more members from a sorted set",
     .complexity = "O(M*log(N)) with N being the number of elements in the sorted set and M the number of elements to be removed."},
    {ZCMD("zcard", 2, CMD_READONLY | CMD_FAST, "@read @sortedset @fast", zcard_proc), KEY1("RO"),
     .since = "1.2.0", .summary = "Get the number of members in a sorted set", .complexity = "O(1)"},
    {ZCMD("zcount", 4, CMD_READONLY | CMD_FAST, "@read @sortedset @fast", zcount_proc), KEY1("RO ACCESS"),
     .since = "2.0.0", .summary = "Count the members in a sorted set with scores within the given values",
     .complexity = "O(log(N)) with N being the number of elements in the sorted set."},
    {ZCMD("zlexcount", 4, CMD_READONLY | CMD_FAST, "@read @sortedset @fast", zlexcount_proc), KEY1("RO"),
     .since = "2.8.9", .summary = "Count the number of members in a sorted set between a given lexicographical range",
     .complexity = "O(log(N)) with N being the number of elements in the sorted set."},
    {ZCMD("zscore", 3, CMD_READONLY | CMD_FAST, "@read @sortedset @fast", zscore_proc), KEY1("RO ACCESS"),
     .since = "1.2.0", .summary = "Get the score associated with the given member in a sorted set",
     .complexity = "O(1)"},
    {ZCMD("zmscore", -3, CMD_READONLY | CMD_FAST, "@read @sortedset @fast", zmscore_proc), KEY1("RO ACCESS"),
     .since = "6.2.0", .summary = "Get the score associated with the given members in a sorted set",
     .complexity = "O(N) where N is the number of members being requested."},
    {ZCMD("zrank", -3, CMD_READONLY | CMD_FAST, "@read @sortedset @fast", zrank_proc), KEY1("RO ACCESS"),
     .since = "2.0.0", .summary = "Determine the index of a member in a sorted set",
     .complexity = "O(log(N))"},
    {ZCMD("zrevrank", -3, CMD_READONLY | CMD_FAST, "@read @sortedset @fast", zrevrank_proc), KEY1("RO ACCESS"),
     .since = "2.0.0", .summary = "Determine the index of a member in a sorted set, with scores ordered from high to low",
     .complexity = "O(log(N))"},
    {ZCMD("zrange", -4, CMD_READONLY, "@read @sortedset @slow", zrange_proc), KEY1("RO ACCESS"),
     .since = "1.2.0", .summary = "Return a range of members in a sorted set",
     .complexity = "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements returned."},
    {ZCMD("zrangestore", -5, CMD_WRITE | CMD_DENYOOM, "@write @sortedset @slow", zrangestore_proc),
     .first_key = 1, .last_key = 2, .key_step = 1,
     .keyspecs = {KS_RANGE("OW UPDATE", 1, 0, 1), KS_RANGE("RO ACCESS", 2, 0, 1)}, .n_keyspecs = 2,
     .since = "6.2.0", .summary = "Store a range of members from sorted set into another key",
     .complexity = "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements stored into the destination key."},
    {ZCMD("zrangebyscore", -4, CMD_READONLY, "@read @sortedset @slow", zrangebyscore_proc), KEY1("RO ACCESS"),
     .since = "1.0.5", .summary = "Return a range of members in a sorted set, by score",
     .complexity = "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements being returned."},
    {ZCMD("zrevrangebyscore", -4, CMD_READONLY, "@read @sortedset @slow", zrevrangebyscore_proc),
     KEY1("RO ACCESS"), .since = "2.2.0",
     .summary = "Return a range of members in a sorted set, by score, with scores ordered from high to low",
     .complexity = "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements being returned."},
    {ZCMD("zrangebylex", -4, CMD_READONLY, "@read @sortedset @slow", zrangebylex_proc), KEY1("RO ACCESS"),
     .since = "2.8.9", .summary = "Return a range of members in a sorted set, by lexicographical range",
     .complexity = "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements being returned."},
    {ZCMD("zrevrangebylex", -4, CMD_READONLY, "@read @sortedset @slow", zrevrangebylex_proc), KEY1("RO ACCESS"),
     .since = "2.8.9",
     .summary = "Return a range of members in a sorted set, by lexicographical range, ordered from higher to lower strings.",
     .complexity = "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements being returned."},
    {ZCMD("zrevrange", -4, CMD_READONLY, "@read @sortedset @slow", zrevrange_proc), KEY1("RO ACCESS"),
     .since = "1.2.0", .summary = "Return a range of members in a sorted set, by index, with scores ordered from high to low",
     .complexity = "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements returned."},
    {ZCMD("zremrangebyrank", 4, CMD_WRITE, "@write @sortedset @slow", zremrangebyrank_proc), KEY1("RW DELETE"),
     .since = "2.0.0", .summary = "Remove all members in a sorted set within the given indexes",
     .complexity = "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements removed by the operation."},
    {ZCMD("zremrangebyscore", 4, CMD_WRITE, "@write @sortedset @slow", zremrangebyscore_proc), KEY1("RW DELETE"),
     .since = "1.2.0", .summary = "Remove all members in a sorted set within the given scores",
     .complexity = "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements removed by the operation."},
    {ZCMD("zremrangebylex", 4, CMD_WRITE, "@write @sortedset @slow", zremrangebylex_proc), KEY1("RW DELETE"),
     .since = "2.8.9", .summary = "Remove all members in a sorted set between the given lexicographical range",
     .complexity = "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements removed by the operation."},
    {ZCMD("zpopmin", -2, CMD_WRITE | CMD_FAST, "@write @sortedset @fast", zpopmin_proc), KEY1("RW ACCESS DELETE"),
     .since = "5.0.0", .summary = "Remove and return members with the lowest scores in a sorted set",
     .complexity = "O(log(N)*M) with N being the number of elements in the sorted set, and M being the number of elements popped."},
    {ZCMD("zpopmax", -2, CMD_WRITE | CMD_FAST, "@write @sortedset @fast", zpopmax_proc), KEY1("RW ACCESS DELETE"),
     .since = "5.0.0", .summary = "Remove and return members with the highest scores in a sorted set",
     .complexity = "O(log(N)*M) with N being the number of elements in the sorted set, and M being the number of elements popped."},
    {ZCMD("zmpop", -4, CMD_WRITE | CMD_MOVABLE_KEYS, "@write @sortedset @slow", zmpop_proc),
     .keyspecs = {KS_KEYNUM("RW ACCESS DELETE", 1)}, .n_keyspecs = 1,
     .since = "7.0.0", .summary = "Remove and return members with scores in a sorted set",
     .complexity = "O(K) + O(M*log(N)) where K is the number of provided keys, N being the number of elements in the sorted set, and M being the number of elements popped."},
    {ZCMD("bzpopmin", -3, CMD_WRITE | CMD_FAST | CMD_BLOCKING, "@write @sortedset @fast @blocking", bzpopmin_proc),
     .first_key = 1, .last_key = -2, .key_step = 1, .keyspecs = {KS_RANGE("RW ACCESS DELETE", 1, -2, 1)},
     .n_keyspecs = 1, .since = "5.0.0",
     .summary = "Remove and return the member with the lowest score from one or more sorted sets, or block until one is available",
     .complexity = "O(log(N)) with N being the number of elements in the sorted set."},
    {ZCMD("bzpopmax", -3, CMD_WRITE | CMD_FAST | CMD_BLOCKING, "@write @sortedset @fast @blocking", bzpopmax_proc),
     .first_key = 1, .last_key = -2, .key_step = 1, .keyspecs = {KS_RANGE("RW ACCESS DELETE", 1, -2, 1)},
     .n_keyspecs = 1, .since = "5.0.0",
     .summary = "Remove and return the member with the highest score from one or more sorted sets, or block until one is available",
     .complexity = "O(log(N)) with N being the number of elements in the sorted set."},
    {ZCMD("bzmpop", -5, CMD_WRITE | CMD_BLOCKING | CMD_MOVABLE_KEYS, "@write @sortedset @slow @blocking", bzmpop_proc),
     .keyspecs = {KS_KEYNUM("RW ACCESS DELETE", 2)}, .n_keyspecs = 1, .since = "7.0.0",
     .summary = "Remove and return members with scores in a sorted set or block until one is available",
     .complexity = "O(K) + O(M*log(N)) where K is the number of provided keys, N being the number of elements in the sorted set, and M being the number of elements popped."},
    {ZCMD("zrandmember", -2, CMD_READONLY, "@read @sortedset @slow", zrandmember_proc), KEY1("RO ACCESS"),
     .since = "6.2.0", .summary = "Get one or multiple random elements from a sorted set",
     .complexity = "O(N) where N is the number of elements returned", .tips = "nondeterministic_output"},
    {ZCMD("zunion", -3, CMD_READONLY | CMD_MOVABLE_KEYS, "@read @sortedset @slow", zunion_proc),
     .keyspecs = {KS_KEYNUM("RO ACCESS", 1)}, .n_keyspecs = 1, .since = "6.2.0", .summary = "Add multiple sorted sets",
     .complexity = "O(N)+O(M*log(M)) with N being the sum of the sizes of the input sorted sets, and M being the number of elements in the resulting sorted set."},
    {ZCMD("zinter", -3, CMD_READONLY | CMD_MOVABLE_KEYS, "@read @sortedset @slow", zinter_proc),
     .keyspecs = {KS_KEYNUM("RO ACCESS", 1)}, .n_keyspecs = 1, .since = "6.2.0", .summary = "Intersect multiple sorted sets",
     .complexity = "O(N*K)+O(M*log(M)) worst case with N being the smallest input sorted set, K being the number of input sorted sets and M being the number of elements in the resulting sorted set."},
    {ZCMD("zdiff", -3, CMD_READONLY | CMD_MOVABLE_KEYS, "@read @sortedset @slow", zdiff_proc),
     .keyspecs = {KS_KEYNUM("RO ACCESS", 1)}, .n_keyspecs = 1, .since = "6.2.0", .summary = "Subtract multiple sorted sets",
     .complexity = "O(L + (N-K)log(N)) worst case where L is the total number of elements in all the sets, N is the size of the first set, and K is the size of the result set."},
    {ZCMD("zintercard", -3, CMD_READONLY | CMD_MOVABLE_KEYS, "@read @sortedset @slow", zintercard_proc),
     .keyspecs = {KS_KEYNUM("RO ACCESS", 1)}, .n_keyspecs = 1, .since = "7.0.0",
     .summary = "Intersect multiple sorted sets and return the cardinality of the result",
     .complexity = "O(N*K) worst case with N being the smallest input sorted set, K being the number of input sorted sets."},
    {ZCMD("zunionstore", -4, CMD_WRITE | CMD_DENYOOM | CMD_MOVABLE_KEYS, "@write @sortedset @slow", zunionstore_proc),
     .first_key = 1, .last_key = 1, .key_step = 1,
     .keyspecs = {KS_RANGE("OW UPDATE", 1, 0, 1), KS_KEYNUM("RO ACCESS", 2)}, .n_keyspecs = 2, .since = "2.0.0",
     .summary = "Add multiple sorted sets and store the resulting sorted set in a new key",
     .complexity = "O(N)+O(M log(M)) with N being the sum of the sizes of the input sorted sets, and M being the number of elements in the resulting sorted set."},
    {ZCMD("zinterstore", -4, CMD_WRITE | CMD_DENYOOM | CMD_MOVABLE_KEYS, "@write @sortedset @slow", zinterstore_proc),
     .first_key = 1, .last_key = 1, .key_step = 1,
     .keyspecs = {KS_RANGE("OW UPDATE", 1, 0, 1), KS_KEYNUM("RO ACCESS", 2)}, .n_keyspecs = 2, .since = "2.0.0",
     .summary = "Intersect multiple sorted sets and store the resulting sorted set in a new key",
     .complexity = "O(N*K)+O(M*log(M)) worst case with N being the smallest input sorted set, K being the number of input sorted sets and M being the number of elements in the resulting sorted set."},
    {ZCMD("zdiffstore", -4, CMD_WRITE | CMD_DENYOOM | CMD_MOVABLE_KEYS, "@write @sortedset @slow", zdiffstore_proc),
     .first_key = 1, .last_key = 1, .key_step = 1,
     .keyspecs = {KS_RANGE("OW UPDATE", 1, 0, 1), KS_KEYNUM("RO ACCESS", 2)}, .n_keyspecs = 2, .since = "6.2.0",
     .summary = "Subtract multiple sorted sets and store the resulting sorted set in a new key",
     .complexity = "O(L + (N-K)log(N)) worst case where L is the total number of elements in all the sets, N is the size of the first set, and K is the size of the result set."},
    {ZCMD("zscan", -3, CMD_READONLY, "@read @sortedset @slow", zscan_proc), KEY1("RO ACCESS"),
     .since = "2.8.0", .summary = "Incrementally iterate sorted sets elements and associated scores",
     .complexity = "O(1) for every call. O(N) for a complete iteration, including enough command calls for the cursor to return back to 0. N is the size of the collection inside.",
     .tips = "nondeterministic_output"},
    {0},
};

/* ---- building sorted sets without a client (RDB load, RESTORE) ------------ */

rk_obj *zset_create(int encoding)
{
    assert(encoding == ENC_LISTPACK || encoding == ENC_SKIPLIST);
    return zobj_create(encoding);
}

unsigned long zset_length(const rk_obj *o)
{
    return zobj_length(o);
}

int zset_add_new(rk_obj *o, const char *m, size_t len, double score)
{
    if (zobj_score(o, m, len, NULL))
        return 0;
    if (o->encoding == ENC_LISTPACK) {
        unsigned char *lp = o->u.ptr;
        if (zlp_insert(&lp, m, len, score, NULL) != 0)
            return -1;
        o->u.ptr = lp;
        return 1;
    }
    return zsetsl_add(o->u.ptr, m, len, score) == 0 ? 1 : -1;
}

int zset_convert(rk_obj *o, int encoding)
{
    return encoding == ENC_SKIPLIST ? zobj_to_skiplist(o) : zobj_to_listpack(o);
}
