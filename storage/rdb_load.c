/* rdb_load.c: loading an RDB file into the running shards in parallel (see
 * rdb_load.h).
 *
 * Threads:
 *  - rdb_load_into_shards runs on one loading thread that is never a shard
 *    (start-up, DEBUG RELOAD, a replica's full sync). It maps the file,
 *    walks its structure (rdb_walker: values measured, not decoded),
 *    computes the CRC-64 as it goes, and sends each key's record to the
 *    shard owning the key in batches. It owns the `replies` mailbox of the
 *    job and blocks on its eventfd.
 *  - rdb_load_handle_msg runs on every shard for its MSG_LOAD_* messages:
 *    it decodes each value on its own heap and inserts it in its own
 *    databases, then hands the message back through `replies`.
 *  - rdb_load_mark_loading runs before the shard threads exist.
 *
 * Invariants:
 *  - A message belongs to the loading thread except between shard_send and
 *    the shard's push back; the job (mapping, version, clock) is written
 *    before the first send and read-only while any message is out.
 *  - Per shard at most LOAD_BATCHES_PER_SHARD batches exist, each of at most
 *    LOAD_BATCH_RECS records or about LOAD_BATCH_BYTES of key+value bytes:
 *    the loader's memory is bounded whatever the file size, and a slow shard
 *    holds the walk back instead of queueing the file in memory.
 *  - Mailboxes are FIFO per sender, so every shard sees BEGIN, its batches
 *    in file order, then END. The loader returns only after every message
 *    it sent came back, so no shard touches the mapping after munmap.
 *  - A failed load (bad structure, bad value, duplicate key, database out
 *    of range, CRC mismatch, out of memory) ends with END{empty}: every
 *    shard empties its databases. The dataset is the whole file or nothing.
 *  - s->loading is written only by its shard (BEGIN, each batch's progress,
 *    END), except by rdb_load_mark_loading before the shards run.
 *  - RDB_LOAD_KEEP_DATA / RDB_LOAD_STAY_LOADING (the AOF loader, which loads
 *    several bases and then commands) only change what BEGIN and END do. */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/db.h"
#include "core/function.h"
#include "core/log.h"
#include "core/msg.h"
#include "core/shard.h"
#include "storage/crc64.h"
#include "storage/rdb_file.h"
#include "storage/rdb_load.h"
#include "storage/rdb_value.h"

#define LOAD_BATCH_RECS 1024
#define LOAD_BATCH_BYTES (1u << 20)
#define LOAD_BATCHES_PER_SHARD 4
#define LOAD_PROGRESS_MS 2000
/* The CRC catches up with the walk in chunks of this size, so the bytes
 * are still in cache from walking them. */
#define LOAD_CRC_CHUNK (256u * 1024)
#define LOAD_ERR_MAX 256


/* One key record: where its pieces are in the mapped file. */
typedef struct load_rec {
    uint64_t rec_off;   /* the type byte: what errors about the record name */
    uint64_t key_off;   /* plain key: its first byte; encoded key: its encoded string */
    uint64_t val_off, val_len;
    int64_t expire_ms;  /* -1: none */
    uint32_t klen;      /* a plain key's length */
    uint32_t dbid;
    uint8_t type;
    uint8_t key_plain;
} load_rec;

/* Read-only for the shards while messages are out. */
typedef struct load_job {
    const unsigned char *base;
    size_t len;
    int valver;          /* value encoding version (files above 10 hold version-10 values) */
    int keep_expired;
    int keep_data;       /* BEGIN does not empty the databases */
    int stay_loading;    /* END leaves s->loading.active set */
    int64_t now_ms;      /* keys expiring before this are skipped */
    rk_mailbox replies;  /* every message comes back here */
} load_job;

typedef struct load_msg {
    rk_msg m;
    load_job *job;
    int shard;
    /* loader -> shard */
    int empty;                  /* END: the load failed */
    int64_t start_ms;
    uint64_t total_bytes, loaded_bytes, used_mem;
    uint32_t n;                 /* BATCH: records used */
    uint64_t bytes;             /* BATCH: key + value bytes of the records */
    /* shard -> loader */
    int verify_crc;             /* BEGIN: the shard's rdbchecksum */
    uint64_t loaded, expired;
    int failed;
    uint64_t err_offset;
    char err[LOAD_ERR_MAX];
    load_rec recs[];            /* BATCH only: LOAD_BATCH_RECS of them */
} load_msg;

/* ======================================================================
 * Shard side
 * ====================================================================== */

__attribute__((format(printf, 3, 4))) static int batch_fail(load_msg *b, uint64_t at, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b->err, sizeof b->err, fmt, ap);
    va_end(ap);
    b->failed = 1;
    b->err_offset = at;
    return -1;
}

static void shard_progress(rk_shard *s, const load_msg *m)
{
    rk_loading *l = &s->loading;
    l->start_ms = m->start_ms;
    l->total_bytes = m->total_bytes;
    l->loaded_bytes = m->loaded_bytes;
    l->rdb_used_mem = m->used_mem;
    int64_t elapsed = rk_mstime() - m->start_ms;
    if (m->loaded_bytes > 0 && m->total_bytes >= m->loaded_bytes && elapsed > 0)
        l->eta_seconds = (int64_t)((double)(m->total_bytes - m->loaded_bytes) * (double)elapsed /
                                   (double)m->loaded_bytes / 1000.0);
    else
        l->eta_seconds = 1;
}

static void shard_empty_dbs(rk_shard *s)
{
    for (int i = 0; i < s->cfg.databases; i++)
        db_empty(&s->dbs[i]);
}

/* Whether `key` is in db (to tell a duplicate from an allocation failure). */
static int key_present(rk_db *db, rk_slice key)
{
    rk_str *k = rkstr_new(key.ptr, key.len);
    if (!k)
        return 0;
    int found = dict_find(db->keys, k) != NULL;
    rkstr_free(k);
    return found;
}

/* A function library: every shard compiles its own copy, decoded from the
 * file (no load timeout, as Redis loading an RDB). */
static int load_function(rk_shard *s, const load_job *job, const load_rec *r, load_msg *b)
{
    char why[LOAD_ERR_MAX - 32];
    rk_buf code;
    rk_buf_init(&code);
    size_t pos = r->val_off, blen = 0, clen = 0;
    const char *c = NULL, *name;
    int rc = function_payload_read(job->base, job->len, r->type, &pos, &code, why, sizeof why);
    if (rc == 0 && function_blob_next(code.data, code.len, &blen, &c, &clen) != 1)
        rc = -1;
    if (rc == 0)
        rc = function_prepare_load(s, c, clen, 0, 0, &name, why, sizeof why);
    if (rc == 0)
        function_commit(s);
    rk_buf_free(&code);
    return rc == 0 ? 0 : batch_fail(b, r->rec_off, "Failed loading library, %s", why);
}

/* Decodes and inserts one record. 0, or -1 with the batch's error set. */
static int load_record(rk_shard *s, const load_job *job, const rdb_limits *lim, const load_rec *r, load_msg *b)
{
    char why[160];
    size_t used = 0;
    if (r->type == RDB_OPCODE_RESIZEDB) {
        /* A size hint: presize this shard's share (a failure only costs
         * rehashing; a database out of range fails with its first key). */
        if (r->dbid < (uint32_t)s->cfg.databases) {
            dict_expand(s->dbs[r->dbid].keys, r->val_len);
            dict_expand(s->dbs[r->dbid].expires, r->val_off);
        }
        return 0;
    }
    if (r->type == RDB_OPCODE_FUNCTION2 || r->type == RDB_OPCODE_FUNCTION)
        return load_function(s, job, r, b);
    if (r->dbid >= (uint32_t)s->cfg.databases)
        return batch_fail(b, r->rec_off, "key in database %u, but databases is %d", r->dbid, s->cfg.databases);
    if (r->expire_ms >= 0 && !job->keep_expired && r->expire_ms < job->now_ms) {
        b->expired++; /* as a Redis master: an expired key is not loaded */
        return 0;
    }
    unsigned char *kcopy = NULL;
    rk_slice key = {(const char *)job->base + r->key_off, r->klen};
    if (!r->key_plain) {
        size_t klen = 0;
        kcopy = rdb_read_string(job->base + r->key_off, job->len - r->key_off, &used, &klen, why, sizeof why);
        if (!kcopy)
            return batch_fail(b, r->key_off + used, "bad key: %s", why);
        key = (rk_slice){(const char *)kcopy, klen};
    }
    int klen64 = (int)(key.len < 64 ? key.len : 64);
    int rc = 0;
    rk_obj *val = rdb_value_read_body(r->type, job->base + r->val_off, r->val_len, &used, job->valver, lim, why,
                                      sizeof why);
    if (!val) {
        rc = batch_fail(b, r->val_off + used, "bad value of key '%.*s' (type %d at offset %llu): %s", klen64,
                        key.ptr, r->type, (unsigned long long)r->rec_off, why);
    } else if (used != r->val_len) {
        obj_free(val);
        rc = batch_fail(b, r->val_off + used, "bad value of key '%.*s' (type %d at offset %llu): length mismatch",
                        klen64, key.ptr, r->type, (unsigned long long)r->rec_off);
    } else {
        rk_db *db = &s->dbs[r->dbid];
        if (db_add(s, db, key, val) != 0) {
            int dup = key_present(db, key);
            obj_free(val);
            rc = dup ? batch_fail(b, r->rec_off, "duplicate key '%.*s' in database %u", klen64, key.ptr, r->dbid)
                     : batch_fail(b, r->rec_off, "out of memory loading key '%.*s'", klen64, key.ptr);
        } else if (r->expire_ms >= 0 && db_set_expire(s, db, key, r->expire_ms) != 0) {
            rc = batch_fail(b, r->rec_off, "out of memory setting the expire of key '%.*s'", klen64, key.ptr);
        } else {
            b->loaded++;
        }
    }
    rk_free(kcopy);
    return rc;
}

static void shard_run_batch(rk_shard *s, load_msg *b)
{
    rdb_limits lim;
    rdb_limits_from_config(&lim, &s->cfg);
    shard_progress(s, b);
    for (uint32_t i = 0; i < b->n; i++)
        if (load_record(s, b->job, &lim, &b->recs[i], b) != 0)
            return; /* the loader stops and empties every shard */
}

void rdb_load_handle_msg(rk_shard *s, rk_msg *m)
{
    load_msg *lm = (load_msg *)m;
    assert(lm->shard == s->id);
    switch (m->type) {
    case MSG_LOAD_BEGIN:
        if (!lm->job->keep_data) {
            shard_empty_dbs(s); /* the file replaces the dataset, functions included */
            function_flush(s);
        }
        s->loading.active = 1;
        shard_progress(s, lm);
        lm->verify_crc = s->cfg.rdbchecksum;
        break;
    case MSG_LOAD_BATCH:
        shard_run_batch(s, lm);
        break;
    case MSG_LOAD_END:
        if (lm->empty) {
            shard_empty_dbs(s);
            function_flush(s);
        }
        s->loading.active = lm->job->stay_loading;
        s->loading.loaded_bytes = lm->loaded_bytes;
        s->loading.eta_seconds = 0;
        break;
    default:
        assert(0 && "unknown MSG_LOAD_* message");
    }
    /* From here on the message is the loader's again. */
    rk_mailbox_push(&lm->job->replies, m);
}

void rdb_load_mark_loading(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
        return;
    int64_t now = rk_mstime();
    for (int i = 0; i < g_nshards; i++) {
        assert(g_shards[i] && !g_shards[i]->loop); /* the shard threads have not started */
        g_shards[i]->loading.active = 1;
        g_shards[i]->loading.start_ms = now;
        g_shards[i]->loading.total_bytes = (uint64_t)st.st_size;
        g_shards[i]->loading.loaded_bytes = 0;
        g_shards[i]->loading.eta_seconds = 1;
    }
}

/* ======================================================================
 * Loading thread
 * ====================================================================== */

typedef struct loader {
    load_job job;
    const char *path;
    int nshards;
    rdb_walker w;
    load_msg *ctl[RK_MAX_SHARDS];                       /* BEGIN/END, one per shard */
    load_msg *pool[RK_MAX_SHARDS][LOAD_BATCHES_PER_SHARD]; /* every batch, for freeing */
    load_msg *idle[RK_MAX_SHARDS][LOAD_BATCHES_PER_SHARD]; /* batches at home, a stack */
    int nidle[RK_MAX_SHARDS];
    load_msg *cur[RK_MAX_SHARDS];                       /* the batch being filled */
    int in_flight;                                      /* messages out at shards */
    int verify_crc;
    uint64_t crc;
    size_t crc_pos;                                     /* CRC covers [0, crc_pos) */
    uint64_t used_mem;
    int64_t start_ms, next_progress_ms;
    uint64_t keys_loaded, keys_expired;
    int failed;
    uint64_t err_offset;
    char err[LOAD_ERR_MAX];
} loader;

/* Records a failure; the one at the lowest offset is reported. */
__attribute__((format(printf, 3, 4))) static void lfail(loader *L, uint64_t at, const char *fmt, ...)
{
    if (L->failed && L->err_offset <= at)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(L->err, sizeof L->err, fmt, ap);
    va_end(ap);
    L->failed = 1;
    L->err_offset = at;
}

/* Blocks until a shard hands a message back. Bounded: only messages this
 * loader sent come back, and every shard answers every message. */
static load_msg *next_reply(loader *L)
{
    assert(L->in_flight > 0);
    rk_msg *m = rk_mailbox_pop_wait(&L->job.replies);
    L->in_flight--;
    return (load_msg *)m;
}

/* Takes one reply into account; batches go back to their shard's stack. */
static void absorb_reply(loader *L, load_msg *lm)
{
    if (lm->failed)
        lfail(L, lm->err_offset, "%s", lm->err);
    if (lm->m.type != MSG_LOAD_BATCH)
        return;
    L->keys_loaded += lm->loaded;
    L->keys_expired += lm->expired;
    assert(L->nidle[lm->shard] < LOAD_BATCHES_PER_SHARD);
    L->idle[lm->shard][L->nidle[lm->shard]++] = lm;
}

static void send_msg(loader *L, load_msg *lm, int type)
{
    lm->m.type = type;
    lm->job = &L->job;
    lm->start_ms = L->start_ms;
    lm->total_bytes = L->job.len;
    lm->loaded_bytes = L->w.pos;
    lm->used_mem = L->used_mem;
    lm->failed = 0;
    lm->loaded = lm->expired = 0;
    L->in_flight++;
    shard_send(lm->shard, &lm->m);
}

/* Sends `type` to every shard and waits until all answered. */
static void broadcast(loader *L, int type, int empty)
{
    for (int i = 0; i < L->nshards; i++) {
        L->ctl[i]->empty = empty;
        send_msg(L, L->ctl[i], type);
    }
    while (L->in_flight > 0)
        absorb_reply(L, next_reply(L));
}

static void send_batch(loader *L, int shard)
{
    load_msg *b = L->cur[shard];
    assert(b && b->n > 0);
    L->cur[shard] = NULL;
    send_msg(L, b, MSG_LOAD_BATCH);
}

/* A batch to fill for `shard`, waiting for one to come back if all are out. */
static load_msg *take_batch(loader *L, int shard)
{
    while (L->nidle[shard] == 0)
        absorb_reply(L, next_reply(L));
    load_msg *b = L->idle[shard][--L->nidle[shard]];
    b->n = 0;
    b->bytes = 0;
    return b;
}

static void catch_up_crc(loader *L, size_t upto)
{
    if (L->verify_crc && upto > L->crc_pos)
        L->crc = rk_crc64(L->crc, L->job.base + L->crc_pos, upto - L->crc_pos);
    L->crc_pos = upto;
}

static void log_progress(loader *L)
{
    int64_t now = rk_mstime();
    if (now < L->next_progress_ms)
        return;
    L->next_progress_ms = now + LOAD_PROGRESS_MS;
    rk_log(LL_NOTICE, "Loading RDB: %d%% (%llu keys)", (int)(L->job.len ? L->w.pos * 100 / L->job.len : 100),
           (unsigned long long)L->keys_loaded);
}

static void dispatch_key(loader *L, const rdb_item *it)
{
    if (it->klen > UINT32_MAX) {
        lfail(L, it->offset, "key of %zu bytes is too long", it->klen);
        return;
    }
    int shard = rk_key_shard(it->key, it->klen);
    load_msg *b = L->cur[shard];
    if (!b) {
        b = L->cur[shard] = take_batch(L, shard);
        if (L->failed) /* a reply that came meanwhile stops the load */
            return;
    }
    load_rec *r = &b->recs[b->n++];
    r->rec_off = it->offset;
    r->key_off = it->key_in_file ? (uint64_t)((const unsigned char *)it->key - L->job.base) : it->key_off;
    r->klen = (uint32_t)it->klen;
    r->key_plain = (uint8_t)it->key_in_file;
    r->val_off = it->val_off;
    r->val_len = it->val_len;
    r->expire_ms = it->expire_ms;
    r->dbid = (uint32_t)it->dbid;
    r->type = (uint8_t)it->type;
    b->bytes += it->klen + it->val_len;
    if (b->n == LOAD_BATCH_RECS || b->bytes >= LOAD_BATCH_BYTES) {
        send_batch(L, shard);
        catch_up_crc(L, L->w.pos);
        log_progress(L);
    }
}

/* RESIZEDB: every shard presizes its share of the database. The hint is
 * untrusted: a file cannot hold more keys than it has pairs of bytes. */
static void dispatch_resize(loader *L, const rdb_item *it)
{
    uint64_t cap = L->job.len / 2;
    uint64_t keys = it->db_size < cap ? it->db_size : cap;
    uint64_t expires = it->expires_size < keys ? it->expires_size : keys;
    for (int shard = 0; shard < L->nshards && !L->failed; shard++) {
        load_msg *b = L->cur[shard];
        if (!b) {
            b = L->cur[shard] = take_batch(L, shard);
            if (L->failed)
                return;
        }
        load_rec *r = &b->recs[b->n++];
        memset(r, 0, sizeof *r);
        r->type = RDB_OPCODE_RESIZEDB;
        r->expire_ms = -1;
        r->dbid = (uint32_t)it->dbid;
        r->rec_off = it->offset;
        r->val_len = keys / (uint64_t)L->nshards + 1;
        r->val_off = expires / (uint64_t)L->nshards + 1;
        if (b->n == LOAD_BATCH_RECS)
            send_batch(L, shard);
    }
}

/* A function library: every shard loads it, in file order with the keys. */
static void dispatch_function(loader *L, const rdb_item *it)
{
    for (int shard = 0; shard < L->nshards && !L->failed; shard++) {
        load_msg *b = L->cur[shard];
        if (!b) {
            b = L->cur[shard] = take_batch(L, shard);
            if (L->failed)
                return;
        }
        load_rec *r = &b->recs[b->n++];
        memset(r, 0, sizeof *r);
        r->type = (uint8_t)it->type;
        r->expire_ms = -1;
        r->rec_off = it->offset;
        r->val_off = it->val_off;
        r->val_len = it->val_len;
        b->bytes += it->val_len;
        if (b->n == LOAD_BATCH_RECS || b->bytes >= LOAD_BATCH_BYTES)
            send_batch(L, shard);
    }
}

/* The AUX fields Redis logs when it loads a file. */
static void note_aux(loader *L, const rdb_item *it)
{
    if (strcmp(it->aux_name, "redis-ver") == 0) {
        rk_log(LL_NOTICE, "Loading RDB produced by version %s", it->aux_val);
    } else if (strcmp(it->aux_name, "ctime") == 0) {
        long long ctime = strtoll(it->aux_val, NULL, 10);
        long long age = rk_mstime() / 1000 - ctime;
        rk_log(LL_NOTICE, "RDB age %lld seconds", age < 0 ? 0 : age);
    } else if (strcmp(it->aux_name, "used-mem") == 0) {
        long long mem = strtoll(it->aux_val, NULL, 10);
        L->used_mem = mem > 0 ? (uint64_t)mem : 0;
        rk_log(LL_NOTICE, "RDB memory usage when created %.2f Mb", (double)L->used_mem / (1024 * 1024));
    }
}

static void check_eof(loader *L, const rdb_item *it)
{
    size_t covered = it->offset + 1; /* the CRC covers the EOF byte */
    catch_up_crc(L, covered);
    if (!it->checksum_stored) {
        rk_log(LL_NOTICE, "RDB file was saved with checksum disabled: no check performed.");
        return;
    }
    if (!L->verify_crc)
        return;
    if (L->crc != it->checksum)
        lfail(L, covered, "RDB CRC error: stored checksum %016llx, computed %016llx",
              (unsigned long long)it->checksum, (unsigned long long)L->crc);
}

/* Walks the file and hands every key to its shard; stops at the first
 * failure (walk error, or one a shard reported). */
static void walk_and_dispatch(loader *L)
{
    char why[LOAD_ERR_MAX];
    if (rdb_walker_init(&L->w, L->job.base, L->job.len, why, sizeof why) != 0) {
        lfail(L, L->w.bad, "%s", why);
        return;
    }
    L->job.valver = L->w.rdbver > RDB_VERSION ? RDB_VERSION : L->w.rdbver;
    rdb_item it;
    int rc = 0;
    while (!L->failed && (rc = rdb_walker_next(&L->w, &it)) > 0) {
        if (it.kind == RDB_ITEM_KEY)
            dispatch_key(L, &it);
        else if (it.kind == RDB_ITEM_AUX)
            note_aux(L, &it);
        else if (it.kind == RDB_ITEM_RESIZEDB && it.dbid >= 0)
            dispatch_resize(L, &it);
        else if (it.kind == RDB_ITEM_FUNCTION)
            dispatch_function(L, &it);
        else if (it.kind == RDB_ITEM_EOF)
            check_eof(L, &it);
    }
    if (!L->failed && rc < 0)
        lfail(L, L->w.bad, "%s", why);
    for (int i = 0; i < L->nshards; i++) {
        if (!L->cur[i])
            continue;
        if (!L->failed) {
            send_batch(L, i);
        } else {
            L->idle[i][L->nidle[i]++] = L->cur[i];
            L->cur[i] = NULL;
        }
    }
}

static void free_msgs(loader *L)
{
    for (int i = 0; i < L->nshards; i++) {
        free(L->ctl[i]);
        for (int j = 0; j < LOAD_BATCHES_PER_SHARD; j++)
            free(L->pool[i][j]);
    }
}

/* Every message the load needs, allocated up front (the process-wide
 * allocator: messages cross threads). 0, or -1 when out of memory. */
static int alloc_msgs(loader *L)
{
    for (int i = 0; i < L->nshards; i++) {
        L->ctl[i] = calloc(1, sizeof(load_msg));
        if (!L->ctl[i])
            return -1;
        L->ctl[i]->shard = i;
        for (int j = 0; j < LOAD_BATCHES_PER_SHARD; j++) {
            load_msg *b = calloc(1, sizeof(load_msg) + LOAD_BATCH_RECS * sizeof(load_rec));
            if (!b)
                return -1;
            b->shard = i;
            L->pool[i][j] = L->idle[i][j] = b;
        }
        L->nidle[i] = LOAD_BATCHES_PER_SHARD;
    }
    return 0;
}

/* Maps path read-only. 0, 1 when it does not exist, -1 with err. */
static int map_file(loader *L, int *fd_out, char *err, size_t errlen)
{
    int fd = open(L->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return 1;
        snprintf(err, errlen, "%s: cannot open the RDB file: %s", L->path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s: not a regular file", L->path);
        close(fd);
        return -1;
    }
    L->job.len = (size_t)st.st_size;
    L->job.base = NULL;
    if (L->job.len > 0) {
        void *p = mmap(NULL, L->job.len, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            snprintf(err, errlen, "%s: cannot map the RDB file: %s", L->path, strerror(errno));
            close(fd);
            return -1;
        }
        /* Read once, front to back, by the walker then the shards. */
        madvise(p, L->job.len, MADV_SEQUENTIAL);
        madvise(p, L->job.len, MADV_WILLNEED);
        L->job.base = p;
    }
    *fd_out = fd;
    return 0;
}

static void unmap_file(loader *L, int fd)
{
    if (L->job.base)
        munmap((void *)L->job.base, L->job.len);
    close(fd);
}

static atomic_int g_load_running;

/* The load itself, once the messages and mailbox exist. */
static int run_load(loader *L, int flags, rdb_load_result *res, char *err, size_t errlen)
{
    int fd = -1;
    L->job.keep_expired = (flags & RDB_LOAD_KEEP_EXPIRED) != 0;
    L->job.keep_data = (flags & RDB_LOAD_KEEP_DATA) != 0;
    L->job.stay_loading = (flags & RDB_LOAD_STAY_LOADING) != 0;
    int rc = map_file(L, &fd, err, errlen);
    if (rc != 0) {
        broadcast(L, MSG_LOAD_END, 0); /* clears rdb_load_mark_loading's flag */
        return rc;
    }
    L->job.now_ms = rk_mstime();
    L->start_ms = L->job.now_ms;
    L->next_progress_ms = L->start_ms + LOAD_PROGRESS_MS;
    int64_t start_us = rk_ustime();
    broadcast(L, MSG_LOAD_BEGIN, 0);
    L->verify_crc = L->ctl[0]->verify_crc;
    walk_and_dispatch(L);
    while (L->in_flight > 0)
        absorb_reply(L, next_reply(L));
    if (!L->failed) {
        /* Logged before the shards serve again, so a client never sees
         * the data before the log says it is there. */
        res->rdbver = L->w.rdbver;
        res->keys_loaded = L->keys_loaded;
        res->keys_expired = L->keys_expired;
        res->bytes = L->job.len;
        res->usec = rk_ustime() - start_us;
        rk_log(LL_NOTICE, "Done loading RDB, keys loaded: %llu, keys expired: %llu.",
               (unsigned long long)L->keys_loaded, (unsigned long long)L->keys_expired);
        rk_log(LL_NOTICE, "DB loaded from disk: %.3f seconds", (double)res->usec / 1e6);
    }
    broadcast(L, MSG_LOAD_END, L->failed);
    unmap_file(L, fd);
    if (L->failed) {
        snprintf(err, errlen, "%s: bad RDB at byte offset %llu: %s", L->path, (unsigned long long)L->err_offset,
                 L->err);
        return -1;
    }
    return 0;
}

int rdb_load_into_shards_flags(const char *path, int flags, rdb_load_result *res, char *err, size_t errlen)
{
    assert(rk_this_shard == NULL); /* a shard would wait for itself */
    memset(res, 0, sizeof *res);
    if (err && errlen)
        err[0] = '\0';
    int expected = 0;
    if (!atomic_compare_exchange_strong(&g_load_running, &expected, 1)) {
        snprintf(err, errlen, "%s: another RDB load is running", path);
        return -1;
    }
    loader *L = calloc(1, sizeof *L);
    int rc = -1;
    if (!L) {
        snprintf(err, errlen, "%s: out of memory starting the RDB load", path);
    } else {
        L->path = path;
        L->nshards = g_nshards;
        if (rk_mailbox_init(&L->job.replies) != 0) {
            snprintf(err, errlen, "%s: cannot create a mailbox: %s", path, strerror(errno));
        } else {
            if (alloc_msgs(L) != 0)
                snprintf(err, errlen, "%s: out of memory starting the RDB load", path);
            else
                rc = run_load(L, flags, res, err, errlen);
            rk_mailbox_destroy(&L->job.replies);
        }
        rdb_walker_release(&L->w);
        free_msgs(L);
        free(L);
    }
    atomic_store(&g_load_running, 0);
    return rc;
}

int rdb_load_into_shards(const char *path, rdb_load_result *res, char *err, size_t errlen)
{
    return rdb_load_into_shards_flags(path, 0, res, err, errlen);
}
