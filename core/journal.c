/* journal.c: the per-shard journal of effects (format, units, transaction
 * markers, consumers and the retained-bytes bound: see journal.h).
 *
 * Thread: the owning shard's thread only. The one piece of shared state is
 * g_journal_consumers, the number of consumers over all shards, read with
 * relaxed loads as a hint by coordinators (journal_any_active).
 *
 * Invariants:
 *   - buf holds offsets [base, base + buf.len); every live (registered, not
 *     overrun) consumer's pos lies in that range;
 *   - with no consumer, buf, unit and the unit/transaction state are empty:
 *     producers return before formatting anything;
 *   - staged unit bytes reach buf only as a whole, at the outermost
 *     journal_unit_end, so a consumer never reads half a unit. */
#include "core/journal.h"

#include <assert.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/object.h"
#include "core/stream.h"
#include "core/t_hash.h"
#include "core/t_list.h"
#include "core/t_set.h"
#include "core/t_zset.h"
#include "core/listpack.h"
#include "core/zskiplist.h"

static _Atomic int g_journal_consumers;

int journal_any_active(void) { return atomic_load_explicit(&g_journal_consumers, memory_order_relaxed) > 0; }

void journal_init(rk_journal *j, size_t limit) {
    memset(j, 0, sizeof(*j));
    rk_buf_init(&j->buf);
    rk_buf_init(&j->unit);
    j->limit = limit ? limit : JOURNAL_DEFAULT_LIMIT;
    j->last_db = -1;
    j->debug_id = -1;
}

void journal_free(rk_journal *j) {
    atomic_fetch_sub_explicit(&g_journal_consumers, j->nconsumers, memory_order_relaxed);
    rk_buf_free(&j->buf);
    rk_buf_free(&j->unit);
    j->nconsumers = 0;
}

void journal_force_select(rk_journal *j) { j->last_db = -1; }

/* ---- retention --------------------------------------------------------- */

/* The lowest position of a live consumer, or the end when there is none. */
static uint64_t min_live_pos(const rk_journal *j) {
    uint64_t min = journal_end(j);
    for (int i = 0; i < JOURNAL_MAX_CONSUMERS; i++)
        if (j->cons[i].used && !j->cons[i].overrun && j->cons[i].pos < min) min = j->cons[i].pos;
    return min;
}

/* Drops bytes no live consumer needs. Unless `force`, only when that frees
 * at least half the buffer, so the memmove is amortized over the appends. */
static void trim(rk_journal *j, int force) {
    uint64_t keep_from = min_live_pos(j);
    size_t drop = (size_t)(keep_from - j->base);
    if (drop == 0) return;
    if (!force && drop * 2 < j->buf.len) return;
    rk_buf_consume(&j->buf, drop);
    j->base = keep_from;
    if (j->buf.len == 0) rk_buf_shrink(&j->buf, 64 * 1024);
}

static void overrun_all(rk_journal *j) {
    for (int i = 0; i < JOURNAL_MAX_CONSUMERS; i++)
        if (j->cons[i].used) j->cons[i].overrun = 1;
    j->base += j->buf.len;
    rk_buf_clear(&j->buf);
    rk_buf_clear(&j->unit);
    j->unit_ops = 0;
}

void journal_lost(rk_journal *j) {
    if (!journal_active(j)) return;
    overrun_all(j);
    j->last_db = -1;
}

/* After bytes reached buf: enforce the bound, then trim lazily. */
static void after_append(rk_journal *j) {
    uint64_t end = journal_end(j);
    if (end - min_live_pos(j) > j->limit) {
        uint64_t cut = end - j->limit;
        for (int i = 0; i < JOURNAL_MAX_CONSUMERS; i++)
            if (j->cons[i].used && !j->cons[i].overrun && j->cons[i].pos < cut) j->cons[i].overrun = 1;
        trim(j, 1);
        return;
    }
    trim(j, 0);
}

/* ---- formatting --------------------------------------------------------- */

/* Where producers write: the staged unit when one is open. */
static rk_buf *target(rk_journal *j) { return j->unit_depth > 0 ? &j->unit : &j->buf; }

static int put_bulk(rk_buf *b, const char *p, size_t len) {
    if (rk_buf_printf(b, "$%zu\r\n", len) != 0) return -1;
    if (rk_buf_reserve(b, len + 2) != 0) return -1;
    memcpy(b->data + b->len, p, len);
    memcpy(b->data + b->len + len, "\r\n", 2);
    b->len += len + 2;
    return 0;
}

/* SELECT when dbid differs from the previous command's. */
static int put_select(rk_journal *j, rk_buf *b, int dbid) {
    if (dbid == j->last_db) return 0;
    char num[16];
    int n = snprintf(num, sizeof(num), "%d", dbid);
    if (rk_buf_append_str(b, "*2\r\n$6\r\nSELECT\r\n") != 0 || put_bulk(b, num, (size_t)n) != 0) return -1;
    j->last_db = dbid;
    return 0;
}

/* A command has been written to target(j) (whose length was `mark` before). */
static int finish_cmd(rk_journal *j, rk_buf *b, size_t mark, int ok, int ncmds) {
    if (!ok) {
        b->len = mark;
        overrun_all(j);
        j->last_db = -1;
        return -1;
    }
    if (b == &j->unit) j->unit_ops += ncmds;
    else after_append(j);
    return 0;
}

int journal_append_argv(rk_journal *j, int dbid, int argc, const rk_slice *argv) {
    if (!journal_active(j)) return 0;
    rk_buf *b = target(j);
    size_t mark = b->len;
    int ok = put_select(j, b, dbid) == 0 && rk_buf_printf(b, "*%d\r\n", argc) == 0;
    for (int i = 0; ok && i < argc; i++) ok = put_bulk(b, argv[i].ptr, argv[i].len) == 0;
    return finish_cmd(j, b, mark, ok, 1);
}

int journal_append_cstr(rk_journal *j, int dbid, int argc, const char *const *argv) {
    if (!journal_active(j)) return 0;
    rk_buf *b = target(j);
    size_t mark = b->len;
    int ok = put_select(j, b, dbid) == 0 && rk_buf_printf(b, "*%d\r\n", argc) == 0;
    for (int i = 0; ok && i < argc; i++) ok = put_bulk(b, argv[i], strlen(argv[i])) == 0;
    return finish_cmd(j, b, mark, ok, 1);
}

int journal_append_resp(rk_journal *j, int dbid, const char *p, size_t len, int ncmds) {
    if (!journal_active(j) || ncmds <= 0) return 0;
    rk_buf *b = target(j);
    size_t mark = b->len;
    int ok = put_select(j, b, dbid) == 0 && rk_buf_append(b, p, len) == 0;
    return finish_cmd(j, b, mark, ok, ncmds);
}

/* ---- units and transactions --------------------------------------------- */

void journal_unit_begin(rk_journal *j) {
    if (j->unit_depth == 0 && !journal_active(j)) return;
    if (j->unit_depth++ == 0) {
        assert(j->unit.len == 0);
        j->unit_ops = 0;
    }
}

static const char k_multi[] = "*1\r\n$5\r\nMULTI\r\n";
static const char k_exec[] = "*1\r\n$4\r\nEXEC\r\n";

int journal_unit_end(rk_journal *j) {
    if (j->unit_depth == 0) return 0;
    if (--j->unit_depth > 0) return 0;
    int rc = 0;
    if (journal_active(j) && j->unit_ops > 0) {
        int wrap = j->unit_ops > 1 && !(j->txn_seq && j->txn_framed);
        size_t mark = j->buf.len;
        int ok = (!wrap || rk_buf_append(&j->buf, k_multi, sizeof(k_multi) - 1) == 0) &&
                 rk_buf_append(&j->buf, j->unit.data, j->unit.len) == 0 &&
                 (!wrap || rk_buf_append(&j->buf, k_exec, sizeof(k_exec) - 1) == 0);
        if (ok) {
            after_append(j);
        } else {
            j->buf.len = mark;
            overrun_all(j);
            j->last_db = -1;
            rc = -1;
        }
    }
    rk_buf_clear(&j->unit);
    rk_buf_shrink(&j->unit, 16 * 1024);
    j->unit_ops = 0;
    return rc;
}

static int put_marker(rk_journal *j, const char *line) {
    size_t mark = j->buf.len;
    if (rk_buf_append_str(&j->buf, line) != 0) {
        j->buf.len = mark;
        overrun_all(j);
        return -1;
    }
    after_append(j);
    return 0;
}

int journal_txn_begin(rk_journal *j, uint64_t seq, uint64_t mask) {
    if (!journal_active(j) || j->txn_seq == seq) return 0;
    assert(seq != 0);
    /* A part left open (its end never came: a bug elsewhere) is closed
     * rather than merged into this one. */
    if (j->txn_seq != 0) journal_txn_end(j, j->txn_seq, 0);
    j->txn_seq = seq;
    if ((mask & (mask - 1)) == 0) {
        j->txn_framed = 0;
        journal_unit_begin(j);
        return 0;
    }
    /* A frame is never inside a unit: its marker must not be wrapped. */
    assert(j->unit_depth == 0);
    j->txn_framed = 1;
    char line[64];
    snprintf(line, sizeof(line), "#B %llu %llx\r\n", (unsigned long long)seq, (unsigned long long)mask);
    /* Recovery may drop a frame: its commands carry their own SELECT. */
    journal_force_select(j);
    return put_marker(j, line);
}

int journal_txn_end(rk_journal *j, uint64_t seq, uint64_t mask) {
    if (j->txn_seq != seq) {
        if (!journal_active(j)) return 0;
        if (journal_txn_begin(j, seq, mask) != 0) return -1;
    }
    j->txn_seq = 0;
    if (!j->txn_framed) return journal_unit_end(j);
    if (!journal_active(j)) return 0;
    char line[64];
    snprintf(line, sizeof(line), "#E %llu\r\n", (unsigned long long)seq);
    /* ... and what follows a frame does not depend on a SELECT inside it. */
    journal_force_select(j);
    return put_marker(j, line);
}

/* ---- consumers ------------------------------------------------------------ */

int journal_register(rk_journal *j) {
    for (int i = 0; i < JOURNAL_MAX_CONSUMERS; i++) {
        if (j->cons[i].used) continue;
        j->cons[i] = (rk_journal_consumer){.used = 1, .pos = journal_end(j)};
        j->nconsumers++;
        atomic_fetch_add_explicit(&g_journal_consumers, 1, memory_order_relaxed);
        /* Its first command must say which database it acts on. */
        journal_force_select(j);
        return i;
    }
    return -1;
}

static int valid_id(const rk_journal *j, int id) {
    return id >= 0 && id < JOURNAL_MAX_CONSUMERS && j->cons[id].used;
}

void journal_unregister(rk_journal *j, int id) {
    if (!valid_id(j, id)) return;
    j->cons[id].used = 0;
    j->nconsumers--;
    atomic_fetch_sub_explicit(&g_journal_consumers, 1, memory_order_relaxed);
    if (j->debug_id == id) j->debug_id = -1;
    trim(j, 1);
    if (j->nconsumers == 0) rk_buf_shrink(&j->buf, 0);
}

int journal_read(const rk_journal *j, int id, uint64_t *from, rk_slice *out) {
    if (!valid_id(j, id)) return JOURNAL_EBADID;
    if (j->cons[id].overrun) return JOURNAL_EOVERRUN;
    *from = j->cons[id].pos;
    return journal_read_from(j, *from, out);
}

int journal_read_from(const rk_journal *j, uint64_t offset, rk_slice *out) {
    if (offset < j->base || offset > journal_end(j)) return JOURNAL_ERANGE;
    size_t at = (size_t)(offset - j->base);
    *out = (rk_slice){j->buf.data ? j->buf.data + at : "", j->buf.len - at};
    return JOURNAL_OK;
}

int journal_release(rk_journal *j, int id, uint64_t upto) {
    if (!valid_id(j, id)) return JOURNAL_EBADID;
    if (j->cons[id].overrun) return JOURNAL_EOVERRUN;
    if (upto > journal_end(j)) upto = journal_end(j);
    if (upto > j->cons[id].pos) j->cons[id].pos = upto;
    trim(j, 0);
    return JOURNAL_OK;
}

int journal_debug_take(rk_journal *j, rk_buf *out) {
    if (j->debug_id < 0) {
        j->debug_id = journal_register(j);
        return j->debug_id < 0 ? -1 : 0;
    }
    uint64_t from;
    rk_slice s;
    if (journal_read(j, j->debug_id, &from, &s) != JOURNAL_OK) {
        journal_unregister(j, j->debug_id);
        j->debug_id = journal_register(j);
        return -1;
    }
    if (rk_buf_append(out, s.ptr, s.len) != 0) return -1;
    return journal_release(j, j->debug_id, from + s.len) == JOURNAL_OK ? 0 : -1;
}

void journal_debug_stop(rk_journal *j) {
    if (j->debug_id >= 0) journal_unregister(j, j->debug_id);
    j->debug_id = -1;
}

/* ---- record framing --------------------------------------------------------- */

/* Parses a decimal number ending at "\r\n" from p; returns the bytes
 * through the CRLF, 0 when incomplete, -1 when malformed. */
static long parse_line_num(const char *p, size_t len, long long *v) {
    const char *cr = memchr(p, '\r', len);
    if (!cr) return len > 24 ? -1 : 0;
    size_t n = (size_t)(cr - p);
    if (n + 1 >= len) return 0;
    if (cr[1] != '\n' || n == 0 || n > 20) return -1;
    long long x = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9') return -1;
        x = x * 10 + (p[i] - '0');
    }
    *v = x;
    return (long)n + 2;
}

static int parse_marker(const char *p, size_t len, rk_journal_rec *rec) {
    const char *nl = memchr(p, '\n', len > 64 ? 64 : len);
    if (!nl) return len >= 64 ? -1 : 0;
    size_t n = (size_t)(nl - p) + 1; /* at most 64 */
    char line[65];                     /* the line and its terminating NUL */
    memcpy(line, p, n);
    line[n] = '\0';
    unsigned long long seq, mask;
    int used = -1;
    if (n < 3 || line[n - 2] != '\r' || line[2] != ' ' || line[3] == '-') return -1;
    /* The whole line or nothing: what the journal writes, never more. */
    if (line[1] == 'B' && sscanf(line, "#B %llu %llx\r\n%n", &seq, &mask, &used) == 2 && (size_t)used == n) {
        *rec = (rk_journal_rec){.type = JREC_TXN_BEGIN, .len = n, .seq = seq, .mask = mask};
        return 1;
    }
    if (line[1] == 'E' && sscanf(line, "#E %llu\r\n%n", &seq, &used) == 1 && (size_t)used == n) {
        *rec = (rk_journal_rec){.type = JREC_TXN_END, .len = n, .seq = seq};
        return 1;
    }
    return -1;
}

int journal_next_record(const char *p, size_t len, rk_journal_rec *rec) {
    if (len == 0) return 0;
    if (p[0] == '#') return parse_marker(p, len, rec);
    if (p[0] != '*') return -1;
    long long argc;
    long n = parse_line_num(p + 1, len - 1, &argc);
    if (n <= 0) return (int)n;
    size_t at = 1 + (size_t)n;
    for (long long i = 0; i < argc; i++) {
        if (at >= len) return 0;
        if (p[at] != '$') return -1;
        long long blen;
        n = parse_line_num(p + at + 1, len - at - 1, &blen);
        if (n <= 0) return (int)n;
        at += 1 + (size_t)n;
        if (len - at < (size_t)blen + 2) return 0;
        if (p[at + blen] != '\r' || p[at + blen + 1] != '\n') return -1;
        at += (size_t)blen + 2;
    }
    *rec = (rk_journal_rec){.type = JREC_COMMAND, .len = at};
    return 1;
}

/* ---- whole keys ------------------------------------------------------------ */

/* Commands of one kind (RPUSH key e1 e2 ...) built in batches: the items go
 * into body, the header is written when the batch is flushed. */
typedef struct batch {
    rk_journal *j;
    int dbid;
    const char *cmd;
    rk_slice key;
    int per_item;   /* arguments per item */
    int items;
    int failed;
    rk_buf body;
} batch;

static void batch_flush(batch *bt) {
    if (bt->items == 0 || bt->failed) return;
    rk_buf head;
    rk_buf_init(&head);
    int ok = rk_buf_printf(&head, "*%d\r\n", 2 + bt->items * bt->per_item) == 0 &&
             put_bulk(&head, bt->cmd, strlen(bt->cmd)) == 0 && put_bulk(&head, bt->key.ptr, bt->key.len) == 0 &&
             rk_buf_append(&head, bt->body.data, bt->body.len) == 0;
    if (!ok || journal_append_resp(bt->j, bt->dbid, head.data, head.len, 1) != 0) bt->failed = 1;
    rk_buf_free(&head);
    rk_buf_clear(&bt->body);
    bt->items = 0;
}

/* One item of per_item arguments. */
static void batch_add(batch *bt, const rk_slice *args) {
    if (bt->failed) return;
    for (int i = 0; i < bt->per_item; i++)
        if (put_bulk(&bt->body, args[i].ptr, args[i].len) != 0) { bt->failed = 1; return; }
    if (++bt->items == JOURNAL_ITEMS_PER_CMD) batch_flush(bt);
}

/* One element of a list or member of a set. */
static void set_member_cb(void *ud, const char *p, size_t len) {
    rk_slice a = {p, len};
    batch_add(ud, &a);
}


static void emit_hash(batch *bt, const rk_obj *o) {
    hash_iter it;
    rk_slice fv[2];
    hash_iter_init(&it, (rk_obj *)o);
    while (hash_iter_next(&it, &fv[0], &fv[1])) batch_add(bt, fv);
    hash_iter_release(&it);
}

static void emit_zset(batch *bt, const rk_obj *o) {
    char num[64];
    if (o->encoding == ENC_LISTPACK) {
        unsigned char *lp = o->u.ptr;
        for (unsigned char *p = lp_first(lp); p; p = lp_next(lp, lp_next(lp, p))) {
            unsigned char mbuf[24], sbuf[24];
            uint32_t mlen, slen;
            const unsigned char *m = lp_get_bytes(p, mbuf, &mlen);
            const unsigned char *sc = lp_get_bytes(lp_next(lp, p), sbuf, &slen);
            /* The listpack keeps Redis's score text: pass it on unchanged. */
            rk_slice a[2] = {{(const char *)sc, slen}, {(const char *)m, mlen}};
            batch_add(bt, a);
        }
        return;
    }
    const zset_sl *zs = o->u.ptr;
    for (const zsl_node *n = zs->zsl->header->level[0].forward; n; n = n->level[0].forward) {
        int len = snprintf(num, sizeof(num), "%.17g", n->score);
        rk_slice a[2] = {{num, (size_t)len}, {n->ele->data, n->ele->len}};
        batch_add(bt, a);
    }
}

typedef struct stream_rec {
    rk_journal *j;
    int dbid;
} stream_rec;

static int stream_rec_cb(void *ud, int argc, const rk_slice *argv) {
    stream_rec *r = ud;
    return journal_append_argv(r->j, r->dbid, argc, argv);
}

int journal_append_key_state(rk_journal *j, int dbid, rk_slice key, const rk_obj *o, int64_t expire_ms) {
    if (!journal_active(j)) return 0;
    if (o->type == OBJ_STRING) {
        char tmp[24];
        rk_slice args[3] = {RK_SLICE("SET"), key, obj_string_bytes(o, tmp)};
        if (journal_append_argv(j, dbid, 3, args) != 0) return -1;
    } else {
        rk_slice del[2] = {RK_SLICE("DEL"), key};
        if (journal_append_argv(j, dbid, 2, del) != 0) return -1;
        stream_rec sr = {j, dbid};
        if (o->type == OBJ_STREAM && stream_emit_commands(o, key, stream_rec_cb, &sr) != 0) {
            overrun_all(j); /* a key half written would be a hole in the stream */
            return -1;
        }
        batch bt = {.j = j, .dbid = dbid, .key = key, .per_item = 1};
        rk_buf_init(&bt.body);
        switch (o->type) {
        case OBJ_LIST: bt.cmd = "RPUSH"; list_for_each_element(o, set_member_cb, &bt); break;
        case OBJ_SET: bt.cmd = "SADD"; set_for_each_member(o, set_member_cb, &bt); break;
        case OBJ_HASH: bt.cmd = "HSET"; bt.per_item = 2; emit_hash(&bt, o); break;
        case OBJ_ZSET: bt.cmd = "ZADD"; bt.per_item = 2; emit_zset(&bt, o); break;
        case OBJ_STREAM: break; /* written above */
        default: bt.failed = 1; break; /* no other types exist yet */
        }
        batch_flush(&bt);
        rk_buf_free(&bt.body);
        if (bt.failed) {
            overrun_all(j); /* a key half written would be a hole in the stream */
            return -1;
        }
    }
    if (expire_ms >= 0) {
        char num[24];
        int n = snprintf(num, sizeof(num), "%lld", (long long)expire_ms);
        rk_slice args[3] = {RK_SLICE("PEXPIREAT"), key, {num, (size_t)n}};
        return journal_append_argv(j, dbid, 3, args);
    }
    return 0;
}
