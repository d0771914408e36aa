/* rdb_stream.c: streams in RDB files and DUMP payloads, as Redis writes
 * them. Writes RDB_TYPE_STREAM_LISTPACKS_2 (Redis 7.0, RDB 10); reads
 * STREAM_LISTPACKS (Redis 5-6), _2 (7.0) and _3 (7.2+).
 *
 * Body: the nodes (count, then per node the 16-byte big-endian master ID
 * and a listpack), length, last ID, [first ID, max deleted ID, entries
 * added], the groups (name, last ID, [entries read], the PEL: ID,
 * delivery time (8 bytes LE ms), delivery count; the consumers: name, seen
 * time, [active time], their PEL IDs).
 *
 * A node's listpack (Redis's layout): master entry = count, deleted,
 * #master fields, the master fields, 0; then per entry: flags, ms - master
 * ms, seq - master seq, [#fields, field, value ... | the values when flag
 * SAMEFIELDS], lp-count (the entry's element count). Deleted entries
 * (flag 1) are skipped on load; ringkv writes live entries only, 100 per
 * node at most and about 4 KiB.
 *
 * Thread: whoever loads or snapshots the value (its shard, a loader). Every
 * count and length read is checked against the input before it sizes
 * anything; a value that breaks the layout is refused with the reason. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/listpack.h"
#include "core/stream.h"
#include "storage/rdb_stream.h"
#include "storage/rdb_value.h"

#define NODE_MAX_ENTRIES 100
#define NODE_MAX_BYTES 4096
#define FLAG_DELETED 1
#define FLAG_SAMEFIELDS 2

/* ---- writing ------------------------------------------------------------ */

static int put_raw(rk_buf *out, const void *p, size_t n) { return rk_buf_append(out, p, n); }

static int put_ms(rk_buf *out, int64_t ms)
{
    unsigned char b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)((uint64_t)ms >> (8 * i));
    return put_raw(out, b, 8);
}

static int put_id(rk_buf *out, const sid *id)
{
    return rdb_write_len(out, id->ms) == 0 && rdb_write_len(out, id->seq) == 0 ? 0 : -1;
}

static int same_fields(const s_entry *master, const s_entry *e)
{
    if (master->nfields != e->nfields)
        return 0;
    for (uint32_t i = 0; i < e->nfields; i++) {
        rk_slice a = stream_entry_str(master, 2 * i), b = stream_entry_str(e, 2 * i);
        if (a.len != b.len || memcmp(a.ptr, b.ptr, a.len) != 0)
            return 0;
    }
    return 1;
}

/* Builds the node holding entries [from, to). NULL on OOM. */
static unsigned char *build_node(const stream *s, size_t from, size_t to)
{
    const s_entry *m = stream_at(s, from);
    unsigned char *lp = lp_new(0);
    if (!lp)
        return NULL;
#define APPEND_INT(v) do { unsigned char *n_ = lp_append_int(lp, (long long)(v)); if (!n_) goto oom; lp = n_; } while (0)
#define APPEND_STR(sl) do { unsigned char *n_ = lp_append(lp, (const unsigned char *)(sl).ptr, (uint32_t)(sl).len); if (!n_) goto oom; lp = n_; } while (0)
    APPEND_INT(to - from); /* count */
    APPEND_INT(0);         /* deleted */
    APPEND_INT(m->nfields);
    for (uint32_t i = 0; i < m->nfields; i++)
        APPEND_STR(stream_entry_str(m, 2 * i));
    APPEND_INT(0);
    for (size_t k = from; k < to; k++) {
        const s_entry *e = stream_at(s, k);
        int same = same_fields(m, e);
        APPEND_INT(same ? FLAG_SAMEFIELDS : 0);
        APPEND_INT((long long)(e->id.ms - m->id.ms));
        APPEND_INT((long long)(e->id.seq - m->id.seq));
        if (same) {
            for (uint32_t i = 0; i < e->nfields; i++)
                APPEND_STR(stream_entry_str(e, 2 * i + 1));
            APPEND_INT(e->nfields + 3);
        } else {
            APPEND_INT(e->nfields);
            for (uint32_t i = 0; i < 2 * e->nfields; i++)
                APPEND_STR(stream_entry_str(e, i));
            APPEND_INT(2 * e->nfields + 4);
        }
    }
    return lp;
oom:
    lp_free(lp);
    return NULL;
#undef APPEND_INT
#undef APPEND_STR
}

/* The node boundaries: up to NODE_MAX_ENTRIES entries and about
 * NODE_MAX_BYTES of field and value bytes each. */
static size_t node_end(const stream *s, size_t from)
{
    size_t bytes = 0, k = from;
    while (k < s->n && k - from < NODE_MAX_ENTRIES) {
        bytes += stream_at(s, k)->bytes;
        k++;
        if (bytes >= NODE_MAX_BYTES)
            break;
    }
    return k;
}

int rdb_stream_write(rk_buf *out, const rk_obj *o, int compress)
{
    const stream *s = o->u.ptr;
    size_t nodes = 0;
    for (size_t k = 0; k < s->n; k = node_end(s, k))
        nodes++;
    unsigned char b = RDB_TYPE_STREAM_LISTPACKS_2;
    if (put_raw(out, &b, 1) != 0 || rdb_write_len(out, nodes) != 0)
        return -1;
    for (size_t k = 0; k < s->n;) {
        size_t end = node_end(s, k);
        unsigned char key[16];
        sid_encode(key, &stream_at(s, k)->id);
        unsigned char *lp = build_node(s, k, end);
        if (!lp)
            return -1;
        int rc = rdb_write_string(out, key, 16, 0) == 0 && rdb_write_string(out, lp, lp_bytes(lp), compress) == 0;
        lp_free(lp);
        if (!rc)
            return -1;
        k = end;
    }
    if (rdb_write_len(out, s->n) != 0 || put_id(out, &s->last_id) != 0 || put_id(out, &s->first_id) != 0 ||
        put_id(out, &s->max_deleted) != 0 || rdb_write_len(out, s->entries_added) != 0 ||
        rdb_write_len(out, s->ng) != 0)
        return -1;
    for (size_t i = 0; i < s->ng; i++) {
        const s_group *g = s->g[i];
        if (rdb_write_string(out, g->name->data, g->name->len, 0) != 0 || put_id(out, &g->last_id) != 0 ||
            rdb_write_len(out, (uint64_t)g->entries_read) != 0 || rdb_write_len(out, g->npel) != 0)
            return -1;
        for (size_t k = 0; k < g->npel; k++) {
            unsigned char id[16];
            sid_encode(id, &g->pel[k].id);
            if (put_raw(out, id, 16) != 0 || put_ms(out, g->pel[k].delivery_time) != 0 ||
                rdb_write_len(out, g->pel[k].delivery_count) != 0)
                return -1;
        }
        if (rdb_write_len(out, g->ncons) != 0)
            return -1;
        for (size_t k = 0; k < g->ncons; k++) {
            const s_consumer *c = g->cons[k];
            if (rdb_write_string(out, c->name->data, c->name->len, 0) != 0 || put_ms(out, c->seen_time) != 0 ||
                rdb_write_len(out, c->npel) != 0)
                return -1;
            for (size_t m = 0; m < c->npel; m++) {
                unsigned char id[16];
                sid_encode(id, &c->pel[m]);
                if (put_raw(out, id, 16) != 0)
                    return -1;
            }
        }
    }
    return 0;
}

/* ---- reading ------------------------------------------------------------------ */

typedef struct srd {
    const unsigned char *p;
    size_t len, pos;
    char *err;
    size_t errlen;
} srd;

__attribute__((format(printf, 2, 3))) static int bad(srd *r, const char *fmt, ...)
{
    if (r->err && r->errlen && !r->err[0]) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(r->err, r->errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static int rd_len(srd *r, uint64_t *v)
{
    size_t used = 0;
    if (rdb_read_len(r->p + r->pos, r->len - r->pos, &used, v, r->err, r->errlen) != 0)
        return -1;
    r->pos += used;
    return 0;
}

static unsigned char *rd_str(srd *r, size_t *len)
{
    size_t used = 0;
    unsigned char *s = rdb_read_string(r->p + r->pos, r->len - r->pos, &used, len, r->err, r->errlen);
    r->pos += used;
    return s;
}

static int rd_raw(srd *r, void *dst, size_t n)
{
    if (r->len - r->pos < n)
        return bad(r, "truncated stream value");
    memcpy(dst, r->p + r->pos, n);
    r->pos += n;
    return 0;
}

static int rd_id(srd *r, sid *id) { return rd_len(r, &id->ms) == 0 && rd_len(r, &id->seq) == 0 ? 0 : -1; }

static int rd_ms(srd *r, int64_t *ms)
{
    unsigned char b[8];
    if (rd_raw(r, b, 8) != 0)
        return -1;
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | b[i];
    *ms = (int64_t)v;
    return 0;
}

/* Reads the next listpack integer; -1 when absent or a string. */
static int lp_int(unsigned char *lp, unsigned char **p, long long *v)
{
    if (!*p)
        return -1;
    lp_value lv;
    lp_get(*p, &lv);
    if (lv.sval) {
        long long x;
        if (!rk_str2ll((const char *)lv.sval, lv.slen, &x))
            return -1;
        *v = x;
    } else {
        *v = lv.lval;
    }
    *p = lp_next(lp, *p);
    return 0;
}

static int lp_slice(unsigned char *lp, unsigned char **p, unsigned char *buf, rk_slice *out)
{
    if (!*p)
        return -1;
    uint32_t len;
    const unsigned char *b = lp_get_bytes(*p, buf, &len);
    out->ptr = (const char *)b;
    out->len = len;
    *p = lp_next(lp, *p);
    return 0;
}

#define MAX_NODE_FIELDS 65536

/* Adds a node's live entries to s. */
static int load_node(srd *r, stream *s, const sid *master, unsigned char *lp)
{
    unsigned char *p = lp_first(lp);
    long long count, deleted, nmaster;
    if (lp_int(lp, &p, &count) || lp_int(lp, &p, &deleted) || lp_int(lp, &p, &nmaster) || count < 0 || deleted < 0 ||
        nmaster < 0 || nmaster > MAX_NODE_FIELDS)
        return bad(r, "bad stream node master entry");
    if (count == 0 && deleted == 0)
        return bad(r, "empty stream node");
    /* The master fields, as slices into the listpack (numbers formatted into bufs). */
    rk_slice *mf = rk_malloc(sizeof(rk_slice) * (size_t)(nmaster ? nmaster : 1));
    unsigned char (*mbuf)[24] = rk_malloc(24 * (size_t)(nmaster ? nmaster : 1));
    rk_slice *fv = NULL;
    size_t fvcap = 0;
    int rc = -1;
    if (!mf || !mbuf) {
        bad(r, "out of memory");
        goto done;
    }
    for (long long i = 0; i < nmaster; i++)
        if (lp_slice(lp, &p, mbuf[i], &mf[i]) != 0) {
            bad(r, "bad stream node master fields");
            goto done;
        }
    long long zero;
    if (lp_int(lp, &p, &zero) || zero != 0) {
        bad(r, "bad stream node master terminator");
        goto done;
    }
    long long live = 0, dead = 0;
    while (p) {
        long long flags, dms, dseq, nf;
        if (lp_int(lp, &p, &flags) || lp_int(lp, &p, &dms) || lp_int(lp, &p, &dseq)) {
            bad(r, "bad stream entry header");
            goto done;
        }
        int same = (flags & FLAG_SAMEFIELDS) != 0;
        if (same) {
            nf = nmaster;
        } else if (lp_int(lp, &p, &nf) || nf < 0 || nf > MAX_NODE_FIELDS) {
            bad(r, "bad stream entry field count");
            goto done;
        }
        if ((size_t)(2 * nf) > fvcap) {
            size_t ncap = (size_t)(2 * nf) + 8;
            rk_slice *nfv = rk_realloc(fv, ncap * sizeof(*fv));
            if (!nfv) {
                bad(r, "out of memory");
                goto done;
            }
            fv = nfv;
            fvcap = ncap;
        }
        unsigned char (*vbuf)[24] = rk_malloc(24 * (size_t)(2 * nf + 1));
        if (!vbuf) {
            bad(r, "out of memory");
            goto done;
        }
        int ok = 1;
        for (long long i = 0; ok && i < nf; i++) {
            if (same) {
                fv[2 * i] = mf[i];
                ok = lp_slice(lp, &p, vbuf[2 * i + 1], &fv[2 * i + 1]) == 0;
            } else {
                ok = lp_slice(lp, &p, vbuf[2 * i], &fv[2 * i]) == 0 &&
                     lp_slice(lp, &p, vbuf[2 * i + 1], &fv[2 * i + 1]) == 0;
            }
        }
        long long lpcount;
        if (!ok || lp_int(lp, &p, &lpcount) || lpcount != (same ? nf + 3 : 2 * nf + 4)) {
            rk_free(vbuf);
            bad(r, "bad stream entry");
            goto done;
        }
        sid id = {master->ms + (uint64_t)dms, master->seq + (uint64_t)dseq};
        if (flags & FLAG_DELETED) {
            dead++;
            rk_free(vbuf);
            continue;
        }
        if (s->n && sid_cmp(&stream_at(s, s->n - 1)->id, &id) >= 0) {
            rk_free(vbuf);
            bad(r, "stream entry IDs out of order");
            goto done;
        }
        s_entry *e = stream_entry_new(id, (uint32_t)nf, fv);
        rk_free(vbuf);
        if (!e || stream_append(s, e) != 0) {
            rk_free(e);
            bad(r, "out of memory");
            goto done;
        }
        live++;
    }
    if (live != count || dead != deleted) {
        bad(r, "stream node counts do not match its entries");
        goto done;
    }
    rc = 0;
done:
    rk_free(mf);
    rk_free(mbuf);
    rk_free(fv);
    return rc;
}

static rk_obj *load_stream(srd *r, int type)
{
    rk_obj *o = stream_new_obj();
    if (!o) {
        bad(r, "out of memory");
        return NULL;
    }
    stream *s = o->u.ptr;
    uint64_t nodes;
    if (rd_len(r, &nodes) != 0)
        goto fail;
    if (nodes > r->len - r->pos) {
        bad(r, "stream node count %llu exceeds the input", (unsigned long long)nodes);
        goto fail;
    }
    for (uint64_t i = 0; i < nodes; i++) {
        size_t klen, lplen;
        unsigned char *key = rd_str(r, &klen);
        if (!key)
            goto fail;
        if (klen != 16) {
            rk_free(key);
            bad(r, "stream node key is not a 128-bit ID");
            goto fail;
        }
        sid master;
        sid_decode(key, &master);
        rk_free(key);
        unsigned char *lp = rd_str(r, &lplen);
        if (!lp)
            goto fail;
        if (!lp_validate(lp, lplen)) {
            rk_free(lp);
            bad(r, "invalid listpack in a stream node");
            goto fail;
        }
        if (lp_first(lp) == NULL) {
            rk_free(lp);
            bad(r, "empty listpack inside stream");
            goto fail;
        }
        int rc = load_node(r, s, &master, lp);
        rk_free(lp);
        if (rc != 0)
            goto fail;
    }
    uint64_t length;
    if (rd_len(r, &length) != 0 || rd_id(r, &s->last_id) != 0)
        goto fail;
    if (length != s->n) {
        bad(r, "stream length %llu does not match its %zu entries", (unsigned long long)length, s->n);
        goto fail;
    }
    if (type >= RDB_TYPE_STREAM_LISTPACKS_2) {
        if (rd_id(r, &s->first_id) != 0 || rd_id(r, &s->max_deleted) != 0 || rd_len(r, &s->entries_added) != 0)
            goto fail;
    } else {
        stream_refresh_first_id(s);
        s->max_deleted = (sid){0, 0};
        s->entries_added = s->n;
    }
    uint64_t ngroups;
    if (rd_len(r, &ngroups) != 0)
        goto fail;
    if (ngroups > r->len - r->pos) {
        bad(r, "stream group count exceeds the input");
        goto fail;
    }
    for (uint64_t i = 0; i < ngroups; i++) {
        size_t nlen;
        unsigned char *name = rd_str(r, &nlen);
        if (!name)
            goto fail;
        sid gid;
        uint64_t entries_read = (uint64_t)SCG_INVALID_ENTRIES_READ;
        if (rd_id(r, &gid) != 0 ||
            (type >= RDB_TYPE_STREAM_LISTPACKS_2 && rd_len(r, &entries_read) != 0)) {
            rk_free(name);
            goto fail;
        }
        int exists;
        s_group *g = stream_group_create(s, (const char *)name, nlen, gid, 0, &exists);
        rk_free(name);
        if (!g) {
            bad(r, exists ? "duplicated consumer group name" : "out of memory");
            goto fail;
        }
        if (type >= RDB_TYPE_STREAM_LISTPACKS_2) {
            g->entries_read = (int64_t)entries_read;
        } else {
            /* Redis's streamEstimateDistanceFromFirstEverEntry at load. */
            g->entries_read = SCG_INVALID_ENTRIES_READ;
            if (!s->entries_added || sid_cmp(&gid, &s->last_id) == 0)
                g->entries_read = (int64_t)s->entries_added;
        }
        uint64_t npel;
        if (rd_len(r, &npel) != 0)
            goto fail;
        if (npel > (r->len - r->pos) / 16) {
            bad(r, "stream PEL size exceeds the input");
            goto fail;
        }
        for (uint64_t k = 0; k < npel; k++) {
            unsigned char raw[16];
            int64_t t;
            uint64_t cnt;
            if (rd_raw(r, raw, 16) != 0 || rd_ms(r, &t) != 0 || rd_len(r, &cnt) != 0)
                goto fail;
            sid id;
            sid_decode(raw, &id);
            if (stream_nack_find(g, &id)) {
                bad(r, "duplicated PEL entry");
                goto fail;
            }
            if (!stream_nack_add(g, &id, NULL, t, cnt)) {
                bad(r, "out of memory");
                goto fail;
            }
        }
        uint64_t ncons;
        if (rd_len(r, &ncons) != 0)
            goto fail;
        if (ncons > r->len - r->pos) {
            bad(r, "stream consumer count exceeds the input");
            goto fail;
        }
        for (uint64_t k = 0; k < ncons; k++) {
            size_t clen;
            unsigned char *cname = rd_str(r, &clen);
            if (!cname)
                goto fail;
            int64_t seen, active;
            if (rd_ms(r, &seen) != 0 || (type >= RDB_TYPE_STREAM_LISTPACKS_3 && rd_ms(r, &active) != 0)) {
                rk_free(cname);
                goto fail;
            }
            if (stream_consumer_find(g, (const char *)cname, clen)) {
                rk_free(cname);
                bad(r, "duplicated consumer name");
                goto fail;
            }
            s_consumer *c = stream_consumer_create(g, (const char *)cname, clen, seen);
            rk_free(cname);
            if (!c) {
                bad(r, "out of memory");
                goto fail;
            }
            uint64_t cpel;
            if (rd_len(r, &cpel) != 0)
                goto fail;
            if (cpel > (r->len - r->pos) / 16) {
                bad(r, "consumer PEL size exceeds the input");
                goto fail;
            }
            for (uint64_t m = 0; m < cpel; m++) {
                unsigned char raw[16];
                sid id;
                if (rd_raw(r, raw, 16) != 0)
                    goto fail;
                sid_decode(raw, &id);
                s_nack *n = stream_nack_find(g, &id);
                if (!n || n->consumer) {
                    bad(r, "consumer PEL entry not in the group PEL");
                    goto fail;
                }
                if (stream_nack_assign(g, n, c) != 0) {
                    bad(r, "out of memory");
                    goto fail;
                }
            }
        }
    }
    const char *why;
    if (stream_validate(s, &why) != 0) {
        bad(r, "%s", why);
        goto fail;
    }
    return o;
fail:
    obj_free(o);
    return NULL;
}

rk_obj *rdb_stream_read(int type, const unsigned char *p, size_t len, size_t *consumed, char *err, size_t errlen)
{
    srd r = {p, len, 0, err, errlen};
    if (err && errlen)
        err[0] = '\0';
    rk_obj *o = load_stream(&r, type);
    if (consumed)
        *consumed = r.pos;
    return o;
}
