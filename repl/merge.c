/* merge.c: the replication stream merge (see merge.h for the contract).
 *
 * Owner: the replication thread; nothing here is shared.
 *
 * Per shard, buf holds the fed bytes:
 *   [0, head)      emitted, dropped lazily (compact_shard)
 *   [head, ready)  complete, validated records ending outside a MULTI unit
 *   [ready, scan)  complete, validated records of a MULTI unit still open
 *   [scan, len)    a partial record
 * Feeding validates records once, with its own copy of the shard's state
 * (f_*); emitting re-splits [head, ready) with journal_next_record (cheap:
 * it skips bulk bodies) and tracks the shard's database as it goes (e_db).
 * Keeping records as bytes only makes the memory bound exactly the bytes.
 *
 * Emission is all or nothing per group (one command, one MULTI unit, one
 * transaction): the group's worst-case size is reserved in out first, so an
 * allocation failure leaves out, the offset and every shard as they were. */
#include "repl/merge.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/journal.h"

/* "*2\r\n$6\r\nSELECT\r\n$" + up to 20 digits + "\r\n" + 20 digits + "\r\n" */
#define SELECT_MAX 64

static const char k_multi[] = "*1\r\n$5\r\nMULTI\r\n";
static const char k_exec[] = "*1\r\n$4\r\nEXEC\r\n";

typedef struct shard {
    rk_buf buf;
    size_t head, ready, scan;
    /* feed-side state */
    int f_db;           /* -1: no SELECT seen yet */
    int f_unit;         /* inside MULTI ... EXEC */
    uint64_t f_frame;   /* open transaction seq, 0 when none */
    uint64_t f_last;    /* highest seq begun */
    /* emit-side state */
    int e_db;
    uint64_t dropped;   /* bytes compacted away: head's stream position is dropped + head */
    uint64_t stop;      /* with m->stops: nothing at or past this position goes out */
} shard;

struct repl_merge {
    int n;
    size_t max_pending;
    int rr;             /* first shard of the next round */
    int out_db;         /* database of the merged stream, -1: SELECT forced */
    uint64_t offset;
    int err;
    const char *errmsg;
    int stops;          /* stop points set (repl_merge_set_stop) */
    shard sh[];
};

/* ---- records ---------------------------------------------------------------- */

enum { CMD_OTHER = 0, CMD_SELECT, CMD_MULTI, CMD_EXEC };

/* The argument at *at of a validated multibulk: its bytes, *at moved past it. */
static rk_slice next_arg(const char *p, size_t *at) {
    size_t i = *at + 1; /* after '$' */
    size_t blen = 0;
    while (p[i] != '\r') blen = blen * 10 + (size_t)(p[i++] - '0');
    i += 2;
    *at = i + blen + 2;
    return (rk_slice){p + i, blen};
}

/* Classifies a validated command; *db for SELECT (-1 when the argument is
 * not a database number). */
static int classify(const char *p, int *db) {
    size_t at = 1;
    size_t argc = 0;
    while (p[at] != '\r') argc = argc * 10 + (size_t)(p[at++] - '0');
    at += 2;
    if (argc == 0) return CMD_OTHER;
    rk_slice name = next_arg(p, &at);
    if (argc == 1 && rk_slice_eq_nocase(name, "multi")) return CMD_MULTI;
    if (argc == 1 && rk_slice_eq_nocase(name, "exec")) return CMD_EXEC;
    if (!rk_slice_eq_nocase(name, "select")) return CMD_OTHER;
    *db = -1;
    if (argc != 2) return CMD_SELECT;
    rk_slice a = next_arg(p, &at);
    if (a.len == 0 || a.len > 9) return CMD_SELECT;
    int v = 0;
    for (size_t i = 0; i < a.len; i++) {
        if (a.ptr[i] < '0' || a.ptr[i] > '9') return CMD_SELECT;
        v = v * 10 + (a.ptr[i] - '0');
    }
    *db = v;
    return CMD_SELECT;
}

/* The record at off in [off, end) of a shard, known complete. */
static rk_journal_rec rec_at(const shard *s, size_t off, size_t end) {
    rk_journal_rec r;
    int rc = journal_next_record(s->buf.data + off, end - off, &r);
    (void)rc;
    return r;
}

/* ---- feeding ------------------------------------------------------------- */

static int proto(repl_merge *m, const char *why) {
    if (!m->err) {
        m->err = REPL_MERGE_EPROTO;
        m->errmsg = why;
    }
    return REPL_MERGE_EPROTO;
}

static int validate(repl_merge *m, int idx, shard *s, const char *p, const rk_journal_rec *r) {
    uint64_t all = m->n == 64 ? ~(uint64_t)0 : (((uint64_t)1 << m->n) - 1);
    switch (r->type) {
    case JREC_COMMAND: {
        int db = -1;
        switch (classify(p, &db)) {
        case CMD_SELECT:
            if (db < 0) return proto(m, "SELECT without a database number");
            s->f_db = db;
            return 0;
        case CMD_MULTI:
            if (s->f_unit || s->f_frame) return proto(m, "MULTI inside MULTI or inside a multi-shard frame");
            s->f_unit = 1;
            return 0;
        case CMD_EXEC:
            if (!s->f_unit) return proto(m, "EXEC without MULTI");
            s->f_unit = 0;
            return 0;
        default:
            if (s->f_db < 0) return proto(m, "a command before any SELECT");
            return 0;
        }
    }
    case JREC_TXN_BEGIN:
        if (s->f_unit || s->f_frame) return proto(m, "#B inside MULTI or inside another frame");
        if (r->seq == 0 || r->seq <= s->f_last) return proto(m, "#B seq not above the shard's previous one");
        if (!(r->mask >> idx & 1)) return proto(m, "#B mask without its own shard");
        if (r->mask & ~all) return proto(m, "#B mask names shards that do not exist");
        if ((r->mask & (r->mask - 1)) == 0) return proto(m, "#B mask with a single shard");
        s->f_frame = s->f_last = r->seq;
        return 0;
    case JREC_TXN_END:
        if (s->f_unit || s->f_frame != r->seq) return proto(m, "#E not matching the open #B");
        s->f_frame = 0;
        return 0;
    }
    return proto(m, "unknown record");
}

static void compact_shard(shard *s) {
    if (s->head == 0 || s->head < s->buf.len - s->head) return;
    rk_buf_consume(&s->buf, s->head);
    s->dropped += s->head;
    s->ready -= s->head;
    s->scan -= s->head;
    s->head = 0;
}

int repl_merge_feed(repl_merge *m, int idx, const char *p, size_t len) {
    if (m->err) return m->err;
    if (idx < 0 || idx >= m->n) return proto(m, "no such shard");
    shard *s = &m->sh[idx];
    if (len > m->max_pending || s->buf.len - s->head > m->max_pending - len) return REPL_MERGE_EBOUND;
    if (len == 0) return REPL_MERGE_OK;
    compact_shard(s);
    if (rk_buf_append(&s->buf, p, len) != 0) return REPL_MERGE_ENOMEM;
    for (;;) {
        rk_journal_rec r;
        int rc = journal_next_record(s->buf.data + s->scan, s->buf.len - s->scan, &r);
        if (rc == 0) break;
        if (rc < 0) return proto(m, "bytes that are not journal records");
        if (validate(m, idx, s, s->buf.data + s->scan, &r) != 0) return m->err;
        s->scan += r.len;
        if (!s->f_unit) s->ready = s->scan;
    }
    return REPL_MERGE_OK;
}

/* ---- emitting -------------------------------------------------------------- */

/* Worst-case output bytes of the records [from, to) of s, and how many
 * commands (not SELECT) they hold. */
static size_t span_bound(const shard *s, size_t from, size_t to, int *ncmds) {
    size_t bound = 0;
    while (from < to) {
        rk_journal_rec r = rec_at(s, from, to);
        int db;
        if (r.type == JREC_COMMAND && classify(s->buf.data + from, &db) != CMD_SELECT) {
            bound += r.len + SELECT_MAX;
            (*ncmds)++;
        }
        from += r.len;
    }
    return bound;
}

static void put_select(repl_merge *m, rk_buf *out, int db) {
    char line[SELECT_MAX];
    char num[16];
    int nl = snprintf(num, sizeof(num), "%d", db);
    int n = snprintf(line, sizeof(line), "*2\r\n$6\r\nSELECT\r\n$%d\r\n%s\r\n", nl, num);
    rk_buf_append(out, line, (size_t)n); /* reserved: cannot fail */
    m->out_db = db;
}

/* Emits the records [from, to) of s into out, whose room was reserved:
 * SELECTs set the shard's database, markers are skipped, commands are
 * copied with a SELECT first when the merged stream is elsewhere. */
static void put_span(repl_merge *m, shard *s, size_t from, size_t to, rk_buf *out) {
    while (from < to) {
        rk_journal_rec r = rec_at(s, from, to);
        if (r.type == JREC_COMMAND) {
            const char *p = s->buf.data + from;
            int db = -1;
            int k = classify(p, &db);
            if (k == CMD_SELECT) {
                s->e_db = db;
            } else {
                if (k == CMD_OTHER && s->e_db != m->out_db) put_select(m, out, s->e_db);
                rk_buf_append(out, p, r.len);
            }
        }
        from += r.len;
    }
}

/* Emits s's ready records up to its next #B. 1 when something moved, 0
 * when nothing could, ENOMEM. */
static int drain_shard(repl_merge *m, shard *s, rk_buf *out) {
    int moved = 0;
    while (s->head < s->ready) {
        if (m->stops && s->dropped + s->head >= s->stop) break;
        rk_journal_rec r = rec_at(s, s->head, s->ready);
        if (r.type != JREC_COMMAND) break; /* #B: run_txns; #E never stands at head */
        size_t end = s->head + r.len;
        int db;
        int k = classify(s->buf.data + s->head, &db);
        if (k == CMD_MULTI) { /* the unit through its EXEC, all within ready */
            for (;;) {
                rk_journal_rec u = rec_at(s, end, s->ready);
                int kk = classify(s->buf.data + end, &db);
                end += u.len;
                if (kk == CMD_EXEC) break;
            }
        }
        if (m->stops && s->dropped + end > s->stop) return proto(m, "a stop inside a record or a MULTI unit");
        int ncmds = 0;
        size_t bound = k == CMD_MULTI ? span_bound(s, s->head, end, &ncmds) : r.len + SELECT_MAX;
        if (rk_buf_reserve(out, bound) != 0) return REPL_MERGE_ENOMEM;
        size_t before = out->len;
        put_span(m, s, s->head, end, out);
        m->offset += out->len - before;
        s->head = end;
        moved = 1;
    }
    return moved;
}

/* The transaction s stands at (its #B at head): emitted when every
 * participant stands at the same #B with its whole part fed. 1 emitted, 0
 * waiting, EPROTO, ENOMEM. */
static int try_txn(repl_merge *m, shard *s, rk_buf *out) {
    rk_journal_rec b = rec_at(s, s->head, s->ready);
    if (m->stops) { /* a cut is ordered with every transaction: all parts on one side */
        int before = 0, after = 0;
        for (int t = 0; t < m->n; t++) {
            shard *ts = &m->sh[t];
            if (!(b.mask >> t & 1) || ts->head >= ts->ready) continue;
            rk_journal_rec tb = rec_at(ts, ts->head, ts->ready);
            if (tb.type != JREC_TXN_BEGIN || tb.seq != b.seq) continue;
            if (ts->dropped + ts->head >= ts->stop) after++;
            else before++;
        }
        if (after) return before ? proto(m, "a stop between the parts of a transaction") : 0;
    }
    size_t part_from[REPL_MERGE_MAX_SHARDS], part_to[REPL_MERGE_MAX_SHARDS], part_end[REPL_MERGE_MAX_SHARDS];
    for (int t = 0; t < m->n; t++) {
        if (!(b.mask >> t & 1)) continue;
        shard *ts = &m->sh[t];
        if (ts->head >= ts->ready) return 0;
        rk_journal_rec tb = rec_at(ts, ts->head, ts->ready);
        if (tb.type != JREC_TXN_BEGIN) return 0; /* earlier commands still to drain */
        if (tb.seq < b.seq) return 0;           /* its own earlier transaction first */
        if (tb.seq > b.seq) return proto(m, "a participant skipped a transaction of its mask");
        if (tb.mask != b.mask) return proto(m, "participants disagree on a transaction's mask");
        if (ts->f_frame == b.seq) return 0;     /* its #E is not fed yet */
        size_t at = ts->head + tb.len;
        part_from[t] = at;
        for (;;) {
            rk_journal_rec r = rec_at(ts, at, ts->ready);
            if (r.type == JREC_TXN_END) {
                part_to[t] = at;
                part_end[t] = at + r.len;
                if (m->stops && ts->dropped + part_end[t] > ts->stop)
                    return proto(m, "a stop inside a multi-shard frame");
                break;
            }
            at += r.len;
        }
    }
    int ncmds = 0;
    size_t bound = sizeof(k_multi) + sizeof(k_exec);
    for (int t = 0; t < m->n; t++)
        if (b.mask >> t & 1) bound += span_bound(&m->sh[t], part_from[t], part_to[t], &ncmds);
    if (ncmds > 0 && rk_buf_reserve(out, bound) != 0) return REPL_MERGE_ENOMEM;
    size_t before = out->len;
    if (ncmds > 0) rk_buf_append(out, k_multi, sizeof(k_multi) - 1);
    for (int t = 0; t < m->n; t++) {
        if (!(b.mask >> t & 1)) continue;
        put_span(m, &m->sh[t], part_from[t], part_to[t], out); /* SELECTs only when empty */
        m->sh[t].head = part_end[t];
    }
    if (ncmds > 0) rk_buf_append(out, k_exec, sizeof(k_exec) - 1);
    m->offset += out->len - before;
    return 1;
}

int repl_merge_step(repl_merge *m, rk_buf *out) {
    if (m->err) return m->err;
    int rc = REPL_MERGE_OK;
    for (int progress = 1; progress;) {
        progress = 0;
        for (int i = 0; i < m->n && rc == REPL_MERGE_OK; i++) {
            int r = drain_shard(m, &m->sh[(m->rr + i) % m->n], out);
            if (r < 0) rc = r;
            else progress |= r;
        }
        m->rr = (m->rr + 1) % m->n;
        for (int i = 0; i < m->n && rc == REPL_MERGE_OK; i++) {
            shard *s = &m->sh[i];
            if (s->head >= s->ready || rec_at(s, s->head, s->ready).type != JREC_TXN_BEGIN) continue;
            int r = try_txn(m, s, out);
            if (r < 0) rc = r;
            else progress |= r;
        }
        if (rc != REPL_MERGE_OK) break;
    }
    for (int i = 0; i < m->n; i++) compact_shard(&m->sh[i]);
    return rc;
}

/* ---- the rest ---------------------------------------------------------------- */

repl_merge *repl_merge_new(int nshards, size_t max_pending) {
    if (nshards < 1 || nshards > REPL_MERGE_MAX_SHARDS || max_pending == 0) return NULL;
    repl_merge *m = calloc(1, sizeof(*m) + (size_t)nshards * sizeof(shard));
    if (!m) return NULL;
    m->n = nshards;
    m->max_pending = max_pending;
    m->out_db = -1;
    m->errmsg = "";
    for (int i = 0; i < nshards; i++) {
        rk_buf_init(&m->sh[i].buf);
        m->sh[i].f_db = -1;
        m->sh[i].e_db = -1;
    }
    return m;
}

void repl_merge_free(repl_merge *m) {
    if (!m) return;
    for (int i = 0; i < m->n; i++) rk_buf_free(&m->sh[i].buf);
    free(m);
}

uint64_t repl_merge_offset(const repl_merge *m) { return m->offset; }

int repl_merge_blocked(const repl_merge *m) {
    for (int i = 0; i < m->n; i++) {
        const shard *s = &m->sh[i];
        if (s->head < s->ready && rec_at(s, s->head, s->ready).type == JREC_TXN_BEGIN) return 1;
    }
    return 0;
}

size_t repl_merge_pending(const repl_merge *m, int shard_idx) {
    if (shard_idx < 0 || shard_idx >= m->n) return 0;
    return m->sh[shard_idx].buf.len - m->sh[shard_idx].head;
}

const char *repl_merge_error(const repl_merge *m) { return m->errmsg; }

/* ---- stop points ---------------------------------------------------------- */

uint64_t repl_merge_consumed(const repl_merge *m, int shard_idx) {
    if (shard_idx < 0 || shard_idx >= m->n) return 0;
    return m->sh[shard_idx].dropped + m->sh[shard_idx].head;
}

int repl_merge_set_stop(repl_merge *m, int shard_idx, uint64_t stop) {
    if (shard_idx < 0 || shard_idx >= m->n) return -1;
    if (repl_merge_consumed(m, shard_idx) > stop) return -1;
    if (!m->stops) {
        for (int i = 0; i < m->n; i++) m->sh[i].stop = repl_merge_consumed(m, i);
        m->stops = 1;
    }
    m->sh[shard_idx].stop = stop;
    return REPL_MERGE_OK;
}

int repl_merge_at_stop(const repl_merge *m) {
    if (!m->stops) return 0;
    for (int i = 0; i < m->n; i++) {
        assert(repl_merge_consumed(m, i) <= m->sh[i].stop);
        if (repl_merge_consumed(m, i) != m->sh[i].stop) return 0;
    }
    return 1;
}

void repl_merge_clear_stop(repl_merge *m) { m->stops = 0; }

void repl_merge_force_select(repl_merge *m) { m->out_db = -1; }

int repl_merge_discard(repl_merge *m, int shard_idx, uint64_t upto) {
    if (m->err) return m->err;
    if (shard_idx < 0 || shard_idx >= m->n) return proto(m, "no such shard");
    shard *s = &m->sh[shard_idx];
    while (s->head < s->ready && s->dropped + s->head < upto) {
        rk_journal_rec r = rec_at(s, s->head, s->ready);
        size_t end = s->head + r.len;
        int db = -1;
        if (r.type == JREC_COMMAND) {
            int k = classify(s->buf.data + s->head, &db);
            if (k == CMD_SELECT) {
                s->e_db = db;
            } else if (k == CMD_MULTI) { /* the unit as one */
                for (;;) {
                    rk_journal_rec u = rec_at(s, end, s->ready);
                    int kk = classify(s->buf.data + end, &db);
                    end += u.len;
                    if (kk == CMD_EXEC) break;
                }
            }
        }
        if (s->dropped + end > upto) return proto(m, "a stop inside a record or a MULTI unit");
        s->head = end;
    }
    compact_shard(s);
    return REPL_MERGE_OK;
}
