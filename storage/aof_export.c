/* aof_export.c: values as the commands that rebuild them (aof_export.h).
 *
 * Owns: nothing global. Reads values through the types' own accessors
 * (quicklist iterator, hash iterator, set member walk, listpack and
 * skiplist of sorted sets) and never changes them.
 * Threads: the caller's; the values must belong to it for the duration.
 *
 * Invariant: a command is emitted whole or the export fails; the buffer is
 * drained only between commands' items at AOF_EXPORT_FLUSH_AT, so memory
 * stays bounded whatever the size of one collection. */
#include "core/stream.h"
#include "storage/aof_export.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "core/listpack.h"
#include "core/quicklist.h"
#include "core/t_hash.h"
#include "core/t_set.h"
#include "core/t_zset.h"
#include "core/zskiplist.h"
#include "storage/aof_file.h"

void aof_export_init(aof_exporter *x, rk_buf *out, int (*flush)(void *ud, rk_buf *out), void *ud)
{
    memset(x, 0, sizeof *x);
    x->out = out;
    x->db = -1;
    x->flush = flush;
    x->ud = ud;
}

void aof_export_reset_db(aof_exporter *x)
{
    x->db = -1;
}

int aof_export_flush(aof_exporter *x)
{
    if (!x->flush || x->out->len == 0)
        return 0;
    return x->flush(x->ud, x->out) == 0 ? 0 : -1;
}

static int maybe_flush(aof_exporter *x)
{
    return x->out->len >= AOF_EXPORT_FLUSH_AT ? aof_export_flush(x) : 0;
}

int aof_export_select(aof_exporter *x, int db)
{
    if (x->db == db)
        return 0;
    static const char cmd[] = "*2\r\n$6\r\nSELECT\r\n";
    if (rk_buf_append(x->out, cmd, sizeof cmd - 1) != 0 || aof_put_bulk_ll(x->out, db) != 0)
        return -1;
    x->db = db;
    return 0;
}

/* A collection's commands: the header of a batch of min(left, 64) items
 * (`per` bulk strings each) before every 64th item, as rewriteListObject. */
typedef struct batcher {
    aof_exporter *x;
    const char *cmd;
    const char *key;
    size_t klen;
    unsigned long long left;  /* items not yet emitted */
    unsigned count;           /* items in the current batch so far */
    int per;                  /* bulk strings per item */
    int failed;
} batcher;

static void batch_init(batcher *b, aof_exporter *x, const char *cmd, const char *key, size_t klen,
                       unsigned long long items, int per)
{
    *b = (batcher){x, cmd, key, klen, items, 0, per, 0};
}

/* Called before each item's bulk strings. */
static int batch_item(batcher *b)
{
    rk_buf *out = b->x->out;
    if (b->failed)
        return -1;
    assert(b->left > 0);
    if (b->count == 0) {
        unsigned long long n = b->left > AOF_REWRITE_ITEMS_PER_CMD ? AOF_REWRITE_ITEMS_PER_CMD : b->left;
        if (maybe_flush(b->x) != 0 || aof_put_array(out, 2 + (long long)n * b->per) != 0 ||
            aof_put_bulk(out, b->cmd, strlen(b->cmd)) != 0 || aof_put_bulk(out, b->key, b->klen) != 0) {
            b->failed = 1;
            return -1;
        }
    }
    if (++b->count == AOF_REWRITE_ITEMS_PER_CMD)
        b->count = 0;
    b->left--;
    return 0;
}

static int put_bulk(batcher *b, const void *p, size_t len)
{
    if (!b->failed && aof_put_bulk(b->x->out, p, len) != 0)
        b->failed = 1;
    return b->failed ? -1 : 0;
}

static int export_string(aof_exporter *x, const char *key, size_t klen, const rk_obj *o)
{
    static const char cmd[] = "*3\r\n$3\r\nSET\r\n";
    char tmp[24];
    rk_slice v = obj_string_bytes(o, tmp);
    if (rk_buf_append(x->out, cmd, sizeof cmd - 1) != 0 || aof_put_bulk(x->out, key, klen) != 0 ||
        aof_put_bulk(x->out, v.ptr, v.len) != 0)
        return -1;
    return 0;
}

static int export_list(aof_exporter *x, const char *key, size_t klen, const rk_obj *o)
{
    quicklist *ql = o->u.ptr;
    batcher b;
    batch_init(&b, x, "RPUSH", key, klen, ql_count(ql), 1);
    ql_iter it;
    ql_entry e;
    ql_iter_init(&it, ql, QL_FORWARD);
    while (ql_iter_next(&it, &e)) {
        unsigned char buf[24];
        size_t len;
        const unsigned char *p = ql_entry_bytes(&e, buf, &len);
        if (batch_item(&b) != 0 || put_bulk(&b, p, len) != 0)
            return -1;
    }
    assert(b.left == 0);
    return 0;
}

static void count_member(void *ud, const char *p, size_t len)
{
    (void)p;
    (void)len;
    (*(unsigned long long *)ud)++;
}

static void put_member(void *ud, const char *p, size_t len)
{
    batcher *b = ud;
    if (batch_item(b) == 0)
        put_bulk(b, p, len);
}

static int export_set(aof_exporter *x, const char *key, size_t klen, const rk_obj *o)
{
    unsigned long long n = 0;
    set_for_each_member(o, count_member, &n);
    batcher b;
    batch_init(&b, x, "SADD", key, klen, n, 1);
    set_for_each_member(o, put_member, &b);
    return b.failed ? -1 : 0;
}

/* A listpack score entry as a double, as Redis's zzlStrtod. */
static double lp_score(const unsigned char *p)
{
    lp_value v;
    lp_get(p, &v);
    if (!v.sval)
        return (double)v.lval;
    char tmp[128];
    size_t n = v.slen < sizeof tmp - 1 ? v.slen : sizeof tmp - 1;
    memcpy(tmp, v.sval, n);
    tmp[n] = '\0';
    return strtod(tmp, NULL);
}

static int export_zset(aof_exporter *x, const char *key, size_t klen, const rk_obj *o)
{
    batcher b;
    batch_init(&b, x, "ZADD", key, klen, zset_length(o), 2);
    if (o->encoding == ENC_LISTPACK) {
        unsigned char *lp = o->u.ptr;
        for (unsigned char *m = lp_first(lp); m; ) {
            unsigned char *s = lp_next(lp, m);
            assert(s);
            unsigned char buf[24];
            uint32_t len;
            const unsigned char *mp = lp_get_bytes(m, buf, &len);
            if (batch_item(&b) != 0 || aof_put_bulk_double(x->out, lp_score(s)) != 0 || put_bulk(&b, mp, len) != 0)
                return -1;
            m = lp_next(lp, s);
        }
    } else {
        assert(o->encoding == ENC_SKIPLIST);
        const zset_sl *zs = o->u.ptr;
        for (const zsl_node *n = zs->zsl->header->level[0].forward; n; n = n->level[0].forward) {
            if (batch_item(&b) != 0 || aof_put_bulk_double(x->out, n->score) != 0 ||
                put_bulk(&b, n->ele->data, n->ele->len) != 0)
                return -1;
        }
    }
    assert(b.left == 0);
    return 0;
}

static int export_hash(aof_exporter *x, const char *key, size_t klen, const rk_obj *o)
{
    batcher b;
    batch_init(&b, x, "HMSET", key, klen, hash_length(o), 2);
    hash_iter it;
    rk_slice f, v;
    int rc = 0;
    hash_iter_init(&it, (rk_obj *)o);
    while (rc == 0 && hash_iter_next(&it, &f, &v))
        if (batch_item(&b) != 0 || put_bulk(&b, f.ptr, f.len) != 0 || put_bulk(&b, v.ptr, v.len) != 0)
            rc = -1;
    hash_iter_release(&it);
    assert(rc != 0 || b.left == 0);
    return rc;
}

static int export_stream_cb(void *ud, int argc, const rk_slice *argv)
{
    rk_buf *out = ud;
    if (rk_buf_printf(out, "*%d\r\n", argc) != 0)
        return -1;
    for (int i = 0; i < argc; i++)
        if (aof_put_bulk(out, argv[i].ptr, argv[i].len) != 0)
            return -1;
    return 0;
}

int aof_export_key(aof_exporter *x, int db, const char *key, size_t klen, const rk_obj *val, long long expire_ms)
{
    int rc;
    if (maybe_flush(x) != 0 || aof_export_select(x, db) != 0)
        return -1;
    switch (val->type) {
    case OBJ_STRING: rc = export_string(x, key, klen, val); break;
    case OBJ_LIST: rc = export_list(x, key, klen, val); break;
    case OBJ_SET: rc = export_set(x, key, klen, val); break;
    case OBJ_ZSET: rc = export_zset(x, key, klen, val); break;
    case OBJ_HASH: rc = export_hash(x, key, klen, val); break;
    case OBJ_STREAM: rc = stream_emit_commands(val, (rk_slice){key, klen}, export_stream_cb, x->out); break;
    default: return -2;
    }
    if (rc != 0)
        return -1;
    if (expire_ms >= 0) {
        static const char cmd[] = "*3\r\n$9\r\nPEXPIREAT\r\n";
        if (rk_buf_append(x->out, cmd, sizeof cmd - 1) != 0 || aof_put_bulk(x->out, key, klen) != 0 ||
            aof_put_bulk_ll(x->out, expire_ms) != 0)
            return -1;
    }
    x->keys++;
    return 0;
}
