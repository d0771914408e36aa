/* snapshot.c: one shard's part of a fork-less snapshot (see snapshot.h).
 *
 * Owns: the shard's rk_snapshot (s->snap) and the chunk being filled.
 * Thread: the owning shard.
 *
 * Invariants (the point-in-time guarantee rests on them):
 *  - from the cut until the snapshot ends, every key dict of the cut has
 *    pause_rehash and resize_forbidden raised, so its cut tables keep their
 *    buckets: an entry leaves a cut table only by deletion, and a grow
 *    forced by an overfull table builds a new table 1 that holds only
 *    entries added after the cut (they are never written);
 *  - copy-on-write is per key: dict.c calls before_change with the entry
 *    before it changes or leaves, and db.c / the dispatcher call it
 *    (dict_announce_key) before a value or TTL changes in place; an entry of
 *    a page not yet written is then written at once and tagged; an entry
 *    added to such a page after the cut is tagged too (after_insert). The
 *    walk writes a page's untagged entries, clears the tags it passes and
 *    marks the page in `done`. So every entry of the cut is written exactly
 *    once, no later entry ever, and no tag outlives the snapshot (an
 *    abandoned snapshot clears the tags of the pages it did not walk);
 *  - a whole chain that changes (rehash move) is written as a page first,
 *    a table about to be cleared and freed (FLUSHDB) is walked whole, so
 *    the walk never reads a freed table;
 *  - each chunk holds whole records (whole keys: one key's records never
 *    span two chunks); in the RDB format it starts with SELECTDB, so
 *    chunks of different shards may interleave in the file in any order;
 *    in the commands format it starts with SELECT only when its db differs
 *    from the previous chunk's, so its sink must be this shard's alone.
 * Bounds: SNAP_CREDITS chunks of about SNAP_CHUNK_BYTES in flight; keys
 * written by the hook while no credit is left stay in `out` (that is the
 * snapshot's copy-on-write cost, reported as rdb_last_cow_size). */
#include "storage/snapshot.h"

#include <assert.h>
#include <errno.h>
#include <roaring/roaring.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/alloc.h"
#include "core/dict.h"
#include "core/log.h"
#include "storage/aof_export.h"
#include "storage/rdb_file.h"
#include "storage/rdb_value.h"

/* Slices. While commands flow, a slice lasts as long as the command work
 * since the previous slice (within bounds): the snapshot then takes about
 * half of a busy shard, so it ends in bounded time while a command waits
 * at most about twice as long as without it. When idle: long slices. */
#define SNAP_MIN_SLICE_US 200
#define SNAP_MAX_SLICE_US 1000
#define SNAP_IDLE_SLICE_US 2000

typedef struct snap_db {
    struct rk_snapshot *sn;
    int dbid;
    dict *keys, *expires;
    dict_entry **tab[2];       /* the tables at the cut */
    uint64_t buckets[2];
    uint32_t pages0, npages;   /* pages of tab[0]; of both */
    roaring_bitmap_t *done;
    uint32_t cursor;           /* the background walk's next page */
    uint64_t keys_at_cut, expires_at_cut;
    int resize_emitted;        /* RESIZEDB written once per db and shard */
} snap_db;

struct rk_snapshot {
    uint64_t job;
    rdb_sink *sink;
    rk_shard *shard;
    snap_db *dbs;
    int ndbs, cur;             /* databases with keys at the cut; the walk's db */
    int fmt;                   /* SNAP_FMT_* */
    rk_buf out;                /* the chunk being filled */
    int out_db;                /* RDB: db of the last SELECTDB in `out`; -1: none yet */
    aof_exporter x;            /* commands: writes into `out`; its db spans chunks */
    int credits;
    uint64_t inflight_bytes, peak_bytes;
    int compress, save_lru, save_lfu;
    rk_buf val;                /* scratch: one serialized value */
    int failed;                /* 0, or an errno: allocation failed (ENOMEM), given up (ECANCELED) */
    uint64_t commands_seen;    /* total_commands_processed at the last slice */
    int64_t slice_end_us;      /* when the last slice ended */
};

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void note_peak(struct rk_snapshot *sn)
{
    uint64_t now = sn->out.cap + sn->val.cap + sn->inflight_bytes;
    if (now > sn->peak_bytes)
        sn->peak_bytes = now;
}

/* ---- records --------------------------------------------------------- */

static int put_byte(rk_buf *b, unsigned char c)
{
    return rk_buf_append(b, &c, 1);
}

static int emit_select(struct rk_snapshot *sn, snap_db *sd)
{
    int rc = put_byte(&sn->out, RDB_OPCODE_SELECTDB);
    if (rc == 0)
        rc = rdb_write_len(&sn->out, (uint64_t)sd->dbid);
    if (rc == 0 && !sd->resize_emitted) {
        /* A hint the loader may use to presize; per shard it is a lower bound. */
        rc = put_byte(&sn->out, RDB_OPCODE_RESIZEDB);
        if (rc == 0)
            rc = rdb_write_len(&sn->out, sd->keys_at_cut);
        if (rc == 0)
            rc = rdb_write_len(&sn->out, sd->expires_at_cut);
        sd->resize_emitted = rc == 0;
    }
    if (rc == 0)
        sn->out_db = sd->dbid;
    return rc;
}

/* One key as the commands Redis's rewriteAppendOnlyFileRio writes for it
 * (SELECT first when the stream's db differs). The exporter never flushes
 * by itself (no flush callback): a key's commands stay in one chunk. */
static int emit_commands(struct rk_snapshot *sn, snap_db *sd, const rk_str *key, const rk_obj *val,
                         long long expire_ms)
{
    rk_slice k = rkstr_slice(key);
    return aof_export_key(&sn->x, sd->dbid, k.ptr, k.len, val, expire_ms) == 0 ? 0 : -1;
}

/* One key as Redis's rdbSaveKeyValuePair writes it, or as commands. */
static int emit_entry(struct rk_snapshot *sn, snap_db *sd, const dict_entry *e)
{
    const rk_str *key = e->key;
    const rk_obj *val = e->v.val;
    long long expire_ms = -1;
    if (dict_size(sd->expires)) {
        dict_entry *xe = dict_find(sd->expires, key);
        if (xe)
            expire_ms = xe->v.s64;
    }
    if (sn->fmt == SNAP_FMT_COMMANDS)
        return emit_commands(sn, sd, key, val, expire_ms);
    if (sn->out_db != sd->dbid && emit_select(sn, sd) != 0)
        return -1;
    long long idle_s = sn->save_lru ? (long long)(db_lru_idle_ms(val, rk_mstime()) / 1000) : -1;
    int freq = sn->save_lfu ? db_lfu_decayed(sn->shard, val, rk_mstime()) : -1;
    rk_slice k = rkstr_slice(key);
    return rdb_put_key(&sn->out, &sn->val, k.ptr, k.len, val, expire_ms, idle_s, freq, sn->compress);
}

/* Walks page `page`: writes its untagged entries (unless `emit` is 0, when
 * a snapshot is given up) and clears every tag; marks the page done. */
static void walk_page(struct rk_snapshot *sn, snap_db *sd, uint32_t page, int emit)
{
    assert(page < sd->npages && !roaring_bitmap_contains(sd->done, page));
    const int t = page < sd->pages0 ? 0 : 1;
    const uint64_t first = (uint64_t)(page - (t ? sd->pages0 : 0)) * DICT_PAGE_BUCKETS;
    uint64_t end = first + DICT_PAGE_BUCKETS;
    if (end > sd->buckets[t])
        end = sd->buckets[t];
    for (uint64_t b = first; b < end; b++) {
        for (dict_entry *e = sd->tab[t][b]; e; e = dict_entry_next(e)) {
            if (dict_entry_tagged(e))
                dict_entry_set_tag(e, 0); /* written early, or added after the cut */
            else if (emit && !sn->failed && emit_entry(sn, sd, e) != 0)
                sn->failed = ENOMEM;
        }
    }
    roaring_bitmap_add(sd->done, page);
    note_peak(sn);
}

/* The page of bucket `bucket` of table t, or -1 when the snapshot does not
 * cover it (a table built after the cut holds only newer entries; a page
 * already walked). */
static int64_t page_of(const snap_db *sd, const dict *d, int t, uint64_t bucket)
{
    if (d->table[t] != sd->tab[t])
        return -1;
    uint32_t page = (uint32_t)((t ? sd->pages0 : 0) + bucket / DICT_PAGE_BUCKETS);
    return roaring_bitmap_contains(sd->done, page) ? -1 : (int64_t)page;
}

/* dict.c's hook: entry e (or, e NULL, the whole chain) is about to change. */
static void before_change(dict *d, void *ud, int t, uint64_t bucket, dict_entry *e)
{
    snap_db *sd = ud;
    if (bucket == DICT_ALL_BUCKETS) {
        /* The table is about to be freed: every page must be out first. */
        if (d->table[t] == sd->tab[t])
            for (uint32_t p = t ? sd->pages0 : 0; p < (t ? sd->npages : sd->pages0); p++)
                if (!roaring_bitmap_contains(sd->done, p))
                    walk_page(sd->sn, sd, p, 1);
        return;
    }
    int64_t page = page_of(sd, d, t, bucket);
    if (page < 0)
        return;
    if (!e) {
        walk_page(sd->sn, sd, (uint32_t)page, 1);
        return;
    }
    if (dict_entry_tagged(e))
        return; /* already written, or not part of the cut */
    if (!sd->sn->failed && emit_entry(sd->sn, sd, e) != 0)
        sd->sn->failed = ENOMEM;
    dict_entry_set_tag(e, 1);
    note_peak(sd->sn);
}

/* dict.c's hook: e was added after the cut; the walk must not write it. */
static void after_insert(dict *d, void *ud, int t, uint64_t bucket, dict_entry *e)
{
    snap_db *sd = ud;
    if (page_of(sd, d, t, bucket) >= 0)
        dict_entry_set_tag(e, 1);
}

/* ---- chunks ---------------------------------------------------------- */

static int send_chunk(struct rk_snapshot *sn, int last)
{
    snap_chunk *c = calloc(1, sizeof *c);
    if (!c)
        return -1;
    c->job = sn->job;
    c->shard = sn->shard->id;
    c->last = last;
    c->data = sn->out;
    rk_buf_init(&sn->out);
    sn->out_db = -1;
    if (last) {
        c->failed = sn->failed;
        c->peak_bytes = sn->peak_bytes;
    } else {
        sn->credits--;
        sn->inflight_bytes += c->data.cap;
    }
    rdb_sink_send(sn->sink, c);
    return 0;
}

static void flush_full_chunks(struct rk_snapshot *sn)
{
    if (sn->out.len >= SNAP_CHUNK_BYTES && sn->credits > 0 && send_chunk(sn, 0) != 0)
        sn->failed = ENOMEM;
}

/* ---- life cycle ------------------------------------------------------ */

static void unhook(snap_db *sd)
{
    if (!sd->keys)
        return;
    assert(sd->keys->before_change == before_change && sd->keys->hook_ud == sd);
    /* Pages not walked may hold tags: clear them (no data is written). */
    for (uint32_t page = 0; page < sd->npages; page++)
        if (!roaring_bitmap_contains(sd->done, page))
            walk_page(sd->sn, sd, page, 0);
    sd->keys->before_change = NULL;
    sd->keys->after_insert = NULL;
    sd->keys->hook_ud = NULL;
    sd->keys->pause_rehash--;
    sd->keys->resize_forbidden--;
    sd->keys = NULL;
}

static void snapshot_free(struct rk_snapshot *sn)
{
    for (int i = 0; i < sn->ndbs; i++) {
        unhook(&sn->dbs[i]);
        if (sn->dbs[i].done)
            roaring_bitmap_free(sn->dbs[i].done);
    }
    free(sn->dbs);
    rk_buf_free(&sn->out);
    rk_buf_free(&sn->val);
    free(sn);
}

/* Ends this shard's part: the remaining bytes go as the last chunk. A
 * failed or abandoned part sends no data, only the failure. */
/* failed: 0, or the errno the sink reports (ENOMEM; ECANCELED when the
 * snapshot was given up rather than failed). */
static void finish(rk_shard *s, int failed)
{
    struct rk_snapshot *sn = s->snap;
    for (int i = 0; i < sn->ndbs; i++)
        unhook(&sn->dbs[i]);
    if (failed) {
        if (!sn->failed)
            sn->failed = failed;
        rk_buf_free(&sn->out);
    }
    if (send_chunk(sn, 1) != 0) {
        /* Without the last chunk the sink would wait forever: that is a
         * corrupted protocol state, not something to limp on from. */
        rk_log(LL_WARNING, "Out of memory ending a snapshot on shard %d", s->id);
        abort();
    }
    s->snap = NULL;
    snapshot_free(sn);
}

static int hook_db(struct rk_snapshot *sn, snap_db *sd, rk_db *db)
{
    dict *d = db->keys;
    sd->sn = sn;
    sd->dbid = db->id;
    sd->expires = db->expires;
    sd->keys_at_cut = dict_size(d);
    sd->expires_at_cut = dict_size(db->expires);
    for (int t = 0; t < 2; t++) {
        sd->tab[t] = d->table[t];
        sd->buckets[t] = d->table[t] ? (uint64_t)1 << d->size_exp[t] : 0;
    }
    uint64_t p0 = (sd->buckets[0] + DICT_PAGE_BUCKETS - 1) / DICT_PAGE_BUCKETS;
    uint64_t p1 = (sd->buckets[1] + DICT_PAGE_BUCKETS - 1) / DICT_PAGE_BUCKETS;
    if (p0 + p1 > UINT32_MAX)
        return -1; /* 2^38 buckets: not a table this machine can hold */
    sd->pages0 = (uint32_t)p0;
    sd->npages = (uint32_t)(p0 + p1);
    sd->done = roaring_bitmap_create();
    if (!sd->done)
        return -1;
    assert(d->before_change == NULL);
    d->before_change = before_change;
    d->after_insert = after_insert;
    d->hook_ud = sd;
    d->pause_rehash++;
    d->resize_forbidden++;
    sd->keys = d;
    return 0;
}

int snapshot_begin(rk_shard *s, rdb_sink *sink, uint64_t job)
{
    return snapshot_begin_fmt(s, sink, job, SNAP_FMT_RDB);
}

/* Tells the sink this shard's part failed (err: an errno), so its file
 * ends (failed) at once. */
static void report_failed_part(rk_shard *s, rdb_sink *sink, uint64_t job, int err)
{
    snap_chunk *c = calloc(1, sizeof *c);
    if (!c) {
        /* Without the last chunk the sink would wait forever. */
        rk_log(LL_WARNING, "Out of memory starting a snapshot on shard %d", s->id);
        abort();
    }
    c->job = job;
    c->shard = s->id;
    c->last = 1;
    c->failed = err;
    rdb_sink_send(sink, c);
}

int snapshot_begin_fmt(rk_shard *s, rdb_sink *sink, uint64_t job, int fmt)
{
    assert(fmt == SNAP_FMT_RDB || fmt == SNAP_FMT_COMMANDS);
    if (s->snap) {
        rk_log(LL_WARNING, "Shard %d cannot snapshot for job %llu: a snapshot is already running", s->id,
               (unsigned long long)job);
        report_failed_part(s, sink, job, EBUSY);
        return -1;
    }
    struct rk_snapshot *sn = calloc(1, sizeof *sn);
    if (!sn)
        goto oom;
    sn->job = job;
    sn->sink = sink;
    sn->shard = s;
    sn->fmt = fmt;
    sn->out_db = -1;
    sn->credits = SNAP_CREDITS;
    sn->compress = s->cfg.rdbcompression;
    sn->save_lru = (s->cfg.maxmemory_policy & MAXMEMORY_FLAG_LRU) != 0;
    sn->save_lfu = (s->cfg.maxmemory_policy & MAXMEMORY_FLAG_LFU) != 0;
    sn->commands_seen = s->stats.total_commands_processed;
    rk_buf_init(&sn->out);
    rk_buf_init(&sn->val);
    aof_export_init(&sn->x, &sn->out, NULL, NULL);
    sn->dbs = calloc((size_t)s->cfg.databases, sizeof *sn->dbs);
    if (!sn->dbs) {
        free(sn);
        sn = NULL;
        goto oom;
    }
    s->snap = sn;
    for (int i = 0; i < s->cfg.databases; i++) {
        rk_db *db = &s->dbs[i];
        if (dict_size(db->keys) == 0)
            continue;
        if (hook_db(sn, &sn->dbs[sn->ndbs++], db) != 0) {
            finish(s, ENOMEM);
            return -1;
        }
    }
    return 0;
oom:
    report_failed_part(s, sink, job, ENOMEM);
    return -1;
}

/* Writes the next unwritten pages until the slice ends, another shard's
 * message waits (a transaction's round trip must not wait a whole slice)
 * or no credit is left. 1 when every page is written. */
static int walk(struct rk_snapshot *sn, int64_t deadline_us)
{
    rk_mailbox *mb = &sn->shard->mailbox;
    while (sn->cur < sn->ndbs) {
        snap_db *sd = &sn->dbs[sn->cur];
        while (sd->cursor < sd->npages) {
            if (sn->failed)
                return 0;
            if (sn->out.len >= SNAP_CHUNK_BYTES) {
                if (sn->credits == 0)
                    return 0;
                flush_full_chunks(sn);
            }
            uint32_t page = sd->cursor++;
            if (!roaring_bitmap_contains(sd->done, page))
                walk_page(sn, sd, page, 1);
            if (mono_us() >= deadline_us || rk_mailbox_has_messages(mb))
                return 0;
        }
        unhook(sd); /* all its pages are out: writes to it are free again */
        sn->cur++;
    }
    return 1;
}

void snapshot_before_wait(rk_shard *s)
{
    struct rk_snapshot *sn = s->snap;
    if (!sn)
        return;
    const uint64_t commands = s->stats.total_commands_processed;
    const int idle = commands == sn->commands_seen;
    sn->commands_seen = commands;
    const int64_t now = mono_us();
    int64_t slice = now - sn->slice_end_us;
    if (idle)
        slice = SNAP_IDLE_SLICE_US;
    else if (slice < SNAP_MIN_SLICE_US)
        slice = SNAP_MIN_SLICE_US;
    else if (slice > SNAP_MAX_SLICE_US)
        slice = SNAP_MAX_SLICE_US;
    int complete = walk(sn, now + slice);
    sn->slice_end_us = mono_us();
    if (sn->failed) {
        finish(s, sn->failed);
        return;
    }
    if (complete) {
        finish(s, 0);
        return;
    }
    flush_full_chunks(sn);
    /* More to do and room to do it: do not let the loop sleep. When out of
     * credits, the next returning chunk wakes us. */
    if (sn->credits > 0)
        rk_mailbox_wake(&s->mailbox);
}

void snapshot_handle_msg(rk_shard *s, rk_msg *m)
{
    snap_chunk *c = (snap_chunk *)m;
    struct rk_snapshot *sn = s->snap;
    if (m->type == MSG_SNAP_CHUNK_BACK) {
        if (sn && sn->job == c->job && !c->last) {
            sn->credits++;
            sn->inflight_bytes -= c->data.cap;
        }
        rk_buf_free(&c->data);
        free(c);
        return;
    }
    assert(m->type == MSG_SNAP_ABORT);
    if (sn && sn->job == c->job)
        finish(s, ECANCELED);
    free(c);
}

void snapshot_abandon(rk_shard *s)
{
    if (s->snap)
        finish(s, ECANCELED);
}
