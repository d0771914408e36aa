/* aof_load.c: recovering the dataset from an AOF at start-up (aof_load.h).
 *
 * Threads:
 *  - aof_load_at_startup runs on one loading thread that is never a shard.
 *    It reads the manifest, maps every file, checks them, applies the
 *    transaction cut rule, loads RDB parts through rdb_load (itself parallel
 *    over the shards), then parses the command streams and sends each
 *    command, in bounded batches, to the shard that owns its keys. It owns
 *    the job's `replies` mailbox and blocks on its eventfd.
 *  - aof_load_handle_msg runs on every shard for MSG_AOF_LOAD_*: it executes
 *    the batch's commands locally (cmd->proc on an rk_ctx of this shard,
 *    replies discarded as Redis's AOF client does), and hands the message
 *    back. Shard 0 also runs the commands whose keys span shards, as an
 *    internal transaction with no client (txn_new(NULL) + the multi-key
 *    executor, core/multikey.h).
 *
 * Why one parsing thread rather than one per shard: parsing RESP is much
 * cheaper than executing it, so one thread keeps every shard busy (it skips
 * a shard whose batches are all out and feeds the next), and per-shard
 * parsing threads would buy nothing but more threads at start-up.
 *
 * Ordering: in ringkv's manifest with the same shard count, stream k (shard
 * k's base and INCR files) holds only shard k's keys, so every stream goes
 * to its own shard and the streams are independent. Otherwise (Redis's
 * single stream, a legacy file, a manifest written with another shard
 * count) streams are replayed one after another, each command going to the
 * shard of its keys; a batch per shard keeps the stream's order per shard,
 * and a command spanning shards first drains every shard (every command
 * before it is applied), then runs alone, before anything after it is sent.
 *
 * Invariants:
 *  - A message belongs to the loading thread except between shard_send and
 *    the shard's push back. The mapped files stay mapped until every
 *    message came back (the batches point into them).
 *  - Per shard at most REPLAY_BATCHES_PER_SHARD batches exist, each of at
 *    most REPLAY_BATCH_CMDS commands or about REPLAY_BATCH_BYTES bytes of
 *    arguments (one command may exceed it alone): memory stays bounded
 *    whatever the files' size.
 *  - While loading every shard has s->loading.active set (clients get
 *    -LOADING) and active expiry off; lookups judge expiry against time 1
 *    (nothing expires while loading, as Redis's keyIsExpired). END restores
 *    both; a failed load ends with END{empty}: nothing half loaded stays.
 *  - Nothing is journaled while replaying: the AOF writer must register its
 *    journal consumers only after the load returned. */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/command.h"
#include "core/db.h"
#include "core/function.h"
#include "core/log.h"
#include "core/msg.h"
#include "core/multikey.h"
#include "core/shard.h"
#include "core/t_keys.h"
#include "core/txn.h"
#include "storage/aof_file.h"
#include "storage/aof_load.h"
#include "storage/aof_manifest.h"
#include "storage/rdb_load.h"

#define REPLAY_BATCH_CMDS 1024
#define REPLAY_BATCH_BYTES (1u << 20)
#define REPLAY_BATCHES_PER_SHARD 4
#define REPLAY_ERR_MAX 512
#define LOAD_PROGRESS_MS 2000
/* At most this many files per stream (base + INCR files of one shard): a
 * manifest with more is refused rather than allocating without bound. */
#define MAX_FILES_PER_STREAM 4096

_Static_assert((int)MSG_AOF_LOAD_END <= (int)MSG_AOF_LOAD_LAST_, "aof_load's messages must stay in their range");

static const char *const REDIS_FIX_HINT =
    "make a backup of your AOF file, then use ./redis-check-aof --fix <filename.manifest>";

/* ======================================================================
 * The transaction cut rule (pure)
 * ====================================================================== */

/* The frame of `seq` in a log, or NULL. Frames are in increasing seq order
 * (the scanner checks it), so a binary search. */
static const aof_txn_frame *find_frame(const aof_txn_log *l, uint64_t seq)
{
    size_t lo = 0, hi = l->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (l->frames[mid].seq < seq)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < l->n && l->frames[lo].seq == seq ? &l->frames[lo] : NULL;
}

/* Whether frame f (of some shard) is held whole by every shard of its mask,
 * before that shard's cut. */
static int frame_whole(const aof_txn_log *log, int nshards, const uint64_t *cut, const aof_txn_frame *f)
{
    if (!f->complete)
        return 0;
    for (int j = 0; j < 64; j++) {
        if (!(f->mask & (1ull << j)))
            continue;
        if (j >= nshards)
            return 0;
        const aof_txn_frame *g = find_frame(&log[j], f->seq);
        if (!g || !g->complete || g->begin >= cut[j])
            return 0;
    }
    return 1;
}

int aof_txn_cut(const aof_txn_log *log, int nshards, uint64_t *cut)
{
    for (int k = 0; k < nshards; k++)
        cut[k] = log[k].end;
    /* Each round moves at least one cut back to an earlier #B, and a cut
     * never moves forward: at most (frames) rounds, in practice two. */
    int moved = 1;
    while (moved) {
        moved = 0;
        for (int k = 0; k < nshards; k++) {
            for (size_t i = 0; i < log[k].n && log[k].frames[i].begin < cut[k]; i++) {
                const aof_txn_frame *f = &log[k].frames[i];
                if (!frame_whole(log, nshards, cut, f)) {
                    cut[k] = f->begin;
                    moved = 1;
                    break;
                }
            }
        }
    }
    int ncut = 0;
    for (int k = 0; k < nshards; k++)
        ncut += cut[k] < log[k].end;
    return ncut;
}

/* ======================================================================
 * Messages
 * ====================================================================== */

enum { RC_EXEC = 0, RC_FLUSHALL, RC_FLUSHDB, RC_SWAPDB, RC_FLUSH_PART, RC_FUNCTION };

/* One command of a batch; its arguments are argv[first .. first+argc). */
typedef struct replay_cmd {
    const rk_command *cmd;
    uint32_t first, argc;
    int32_t dbid;
    uint8_t kind;
    uint8_t async;          /* flushes */
    int16_t a, b;           /* SWAPDB's dbs; FLUSH_PART: nparts, part */
} replay_cmd;

typedef struct replay_job {
    rk_mailbox replies;     /* every message comes back here */
    int64_t start_ms;
    uint64_t total_bytes;
} replay_job;

typedef struct aof_msg {
    rk_msg m;
    replay_job *job;
    int shard;
    /* BATCH / FLUSH (loader-owned arrays, read by the shard) */
    replay_cmd *cmds;
    uint32_t n, cmdcap;
    rk_slice *argv;
    size_t nargv, argvcap;
    uint64_t bytes;
    /* CROSS: cmds[0] with argv, and the key positions */
    uint64_t mask;
    int *keypos;
    int nkeys;
    /* END */
    int empty;
    uint64_t loaded_bytes;
    /* shard -> loader */
    uint64_t executed, errors;
    int failed;
    uint32_t fail_index;    /* the command that failed */
    char err[REPLAY_ERR_MAX];
    /* shard-private, between BEGIN and END */
    int saved_active_expire;
} aof_msg;

/* ======================================================================
 * Shard side
 * ====================================================================== */

/* Runs one command on this shard, reply discarded (kept only to tell an
 * allocation failure, which must fail the load, from a command error,
 * which Redis's loader ignores too). */
static int exec_local(rk_shard *s, aof_msg *b, const replay_cmd *rc, rk_buf *reply)
{
    rk_slice *argv = &b->argv[rc->first];
    switch (rc->kind) {
    case RC_FLUSHALL:
        keys_flush_local(s, -1, rc->async);
        return 0;
    case RC_FLUSHDB:
        keys_flush_local(s, rc->dbid, rc->async);
        return 0;
    case RC_SWAPDB:
        if (keys_swapdb_local(s, rc->a, rc->b) != 0) {
            snprintf(b->err, sizeof b->err, "SWAPDB %d %d: DB index is out of range", rc->a, rc->b);
            return -1;
        }
        return 0;
    case RC_FLUSH_PART:
        if (keys_flush_local_part(s, rc->dbid, rc->a, rc->b) < 0) {
            snprintf(b->err, sizeof b->err, "out of memory flushing");
            return -1;
        }
        return 0;
    case RC_FUNCTION: {
        /* Every shard applies the library change to its own registry; an
         * error is counted and skipped, as for any replayed command. */
        char err[256];
        if (function_apply_local(s, (int)rc->argc, argv, err, sizeof err) != 0)
            b->errors++;
        b->executed++;
        return 0;
    }
    default:
        break;
    }
    if (rc->dbid >= s->cfg.databases) {
        snprintf(b->err, sizeof b->err, "SELECT %d: DB index is out of range", rc->dbid);
        return -1;
    }
    rk_ctx ctx;
    rk_buf_clear(reply);
    ctx_init(&ctx, s, rc->dbid, 2, rc->cmd, (int)rc->argc, argv, reply);
    ctx.now_ms = rk_mstime();
    ctx.in_multi = 1; /* never block */
    rc->cmd->proc(&ctx);
    rk_buf_free(&ctx.prop);
    if (ctx.errors) {
        b->errors++;
        if (reply->len >= 4 && (memcmp(reply->data, "-OOM", 4) == 0 ||
                                (reply->len >= 18 && memcmp(reply->data, "-ERR out of memory", 18) == 0))) {
            snprintf(b->err, sizeof b->err, "out of memory executing '%s'", cmd_full_name(rc->cmd));
            return -1;
        }
    }
    b->executed++;
    return 0;
}

static void shard_run_batch(rk_shard *s, aof_msg *b)
{
    rk_buf reply;
    rk_buf_init(&reply);
    /* Nothing expires while loading (lookups compare with time 1), as
     * Redis's keyIsExpired during loading; commands still compute relative
     * TTLs from ctx.now_ms. */
    s->cmd_time_ms = 1;
    for (uint32_t i = 0; i < b->n; i++) {
        if (exec_local(s, b, &b->cmds[i], &reply) != 0) {
            b->failed = 1;
            b->fail_index = i;
            break;
        }
    }
    s->cmd_time_ms = 0;
    rk_buf_free(&reply);
    s->loading.loaded_bytes = b->loaded_bytes;
}

/* ---- commands spanning shards, on shard 0 ---- */

static void cross_reply(aof_msg *m) { rk_mailbox_push(&m->job->replies, &m->m); }

static void cross_done(rk_txn *t)
{
    aof_msg *m = t->arg;
    multikey_release(t);
    if (t->reply.len >= 4 && (memcmp(t->reply.data, "-OOM", 4) == 0 ||
                              (t->reply.len >= 18 && memcmp(t->reply.data, "-ERR out of memory", 18) == 0))) {
        m->failed = 1;
        snprintf(m->err, sizeof m->err, "out of memory executing '%s'", cmd_full_name(t->cmd));
    } else {
        if (t->reply.len > 0 && t->reply.data[0] == '-')
            m->errors++;
        m->executed++;
    }
    t->arg = NULL;
    txn_finish(t);
    cross_reply(m);
}

static void cross_noop_hop(rk_shard *s, rk_txn *t, rk_buf *out)
{
    (void)s;
    (void)t;
    (void)out;
}

/* Every participant has promised and paused: run the command through the
 * multi-key executor, inside this transaction. */
static void cross_run(rk_txn *t)
{
    aof_msg *m = t->arg;
    if (multikey_run_in_txn(t, t->cmd, t->argc, t->argv, t->dbid, m->keypos, m->nkeys, &t->reply, cross_done) != 0) {
        m->failed = 1;
        snprintf(m->err, sizeof m->err, "out of memory executing '%s'", cmd_full_name(t->cmd));
        t->arg = NULL;
        txn_finish(t);
        cross_reply(m);
    }
}

static void cross_start(rk_shard *s, aof_msg *m)
{
    (void)s;
    const replay_cmd *rc = &m->cmds[0];
    rk_txn *t = txn_new(NULL, rc->cmd, m->mask, (int)rc->argc, &m->argv[rc->first]);
    if (!t) {
        m->failed = 1;
        snprintf(m->err, sizeof m->err, "out of memory executing '%s'", cmd_full_name(rc->cmd));
        cross_reply(m);
        return;
    }
    t->dbid = rc->dbid;
    t->arg = m;
    txn_start(t, cross_noop_hop, cross_run);
}

void aof_load_handle_msg(rk_shard *s, rk_msg *m)
{
    aof_msg *am = (aof_msg *)m;
    switch (m->type) {
    case MSG_AOF_LOAD_BEGIN:
        assert(am->shard == s->id);
        s->loading.active = 1;
        s->loading.start_ms = am->job->start_ms;
        s->loading.total_bytes = am->job->total_bytes;
        s->loading.loaded_bytes = 0;
        s->loading.eta_seconds = 1;
        /* Keys whose TTL passed stay until the load ends (Redis loads an
         * AOF's keys with expired TTLs and expires them afterwards). */
        am->saved_active_expire = s->active_expire_enabled;
        s->active_expire_enabled = 0;
        break;
    case MSG_AOF_LOAD_BATCH:
    case MSG_AOF_LOAD_FLUSH:
        assert(am->shard == s->id);
        shard_run_batch(s, am);
        break;
    case MSG_AOF_LOAD_CROSS:
        cross_start(s, am); /* answers when the transaction is done */
        return;
    case MSG_AOF_LOAD_END:
        assert(am->shard == s->id);
        if (am->empty)
            keys_flush_local(s, -1, 0);
        s->active_expire_enabled = am->saved_active_expire;
        s->loading.active = 0;
        s->loading.loaded_bytes = am->loaded_bytes;
        s->loading.eta_seconds = 0;
        break;
    default:
        assert(0 && "unknown MSG_AOF_LOAD_* message");
    }
    rk_mailbox_push(&am->job->replies, m);
}

/* ======================================================================
 * Loading thread: files and streams
 * ====================================================================== */

/* One file of a stream. */
typedef struct lfile {
    char name[256];          /* as the manifest names it (or the legacy file name) */
    char path[PATH_MAX];
    int is_base, is_incr;
    long long seq;
    uint64_t mstart, mend;   /* manifest positions (AOF_POS_NONE when absent) */
    aof_map map;
    int mapped;
    size_t cmd_start;        /* the commands begin here (after an RDB preamble) */
    size_t stop;             /* replay up to here (after truncation / cut) */
    int rdb;                 /* starts with an RDB */
    uint64_t log_base;       /* INCR files: position of byte 0 in the shard's INCR log */
} lfile;

/* A private frame while scanning: where its #E ends. */
typedef struct scan_frame {
    aof_txn_frame f;
    uint64_t e_end;          /* log position after the #E line (0: none) */
} scan_frame;

typedef struct stream {
    int orig_shard;          /* the manifest's shard (0 for a single stream) */
    lfile *files;
    size_t nfiles;
    /* frames (ringkv INCR files) */
    scan_frame *frames;
    size_t nframes, framecap;
    aof_txn_frame *pure;     /* frames as aof_txn_cut takes them */
    uint64_t log_end;        /* positions of its INCR log run to here */
    /* replay cursor */
    size_t fi;               /* current file */
    int reader_open;
    aof_reader r;
    int dbid;
    int done;
} stream;

typedef struct aload {
    replay_job job;
    enum aof_source source;
    char dir[PATH_MAX];
    char manifest_path[PATH_MAX];
    int load_truncated;
    int nstreams;
    stream *streams;
    int per_shard;           /* stream k goes to shard k */
    int nm;                  /* manifest shard count (routing mode FLUSH_PART) */
    int nshards;
    /* messages */
    aof_msg *ctl[RK_MAX_SHARDS];
    aof_msg *pool[RK_MAX_SHARDS][REPLAY_BATCHES_PER_SHARD];
    aof_msg *idle[RK_MAX_SHARDS][REPLAY_BATCHES_PER_SHARD];
    int nidle[RK_MAX_SHARDS];
    aof_msg *cur[RK_MAX_SHARDS];
    aof_msg *cross;
    int in_flight;
    int begun;
    /* progress and results */
    uint64_t total_bytes, replayed_bytes;
    int64_t next_progress_ms;
    uint64_t commands, cmd_errors;
    int failed;
    char err[REPLAY_ERR_MAX];
    aof_load_result *res;
} aload;

__attribute__((format(printf, 2, 3))) static void afail(aload *L, const char *fmt, ...)
{
    if (L->failed)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(L->err, sizeof L->err, fmt, ap);
    va_end(ap);
    L->failed = 1;
}

/* ---- messages ---- */

static aof_msg *next_reply(aload *L)
{
    assert(L->in_flight > 0);
    rk_msg *m = rk_mailbox_pop_wait(&L->job.replies);
    L->in_flight--;
    return (aof_msg *)m;
}

/* The file and offset of a batch's failed command, for the error. */
static void report_batch_failure(aload *L, aof_msg *b);

static void absorb_reply(aload *L, aof_msg *am)
{
    L->commands += am->executed;
    L->cmd_errors += am->errors;
    if (am->failed)
        report_batch_failure(L, am);
    if (am->m.type == MSG_AOF_LOAD_BATCH || am->m.type == MSG_AOF_LOAD_FLUSH) {
        assert(L->nidle[am->shard] < REPLAY_BATCHES_PER_SHARD);
        L->idle[am->shard][L->nidle[am->shard]++] = am;
    }
}

static void send_msg(aload *L, aof_msg *am, int type, int to)
{
    am->m.type = type;
    am->job = &L->job;
    am->executed = am->errors = 0;
    am->failed = 0;
    am->err[0] = '\0';
    am->loaded_bytes = L->replayed_bytes;
    L->in_flight++;
    shard_send(to, &am->m);
}

static void drain(aload *L)
{
    while (L->in_flight > 0)
        absorb_reply(L, next_reply(L));
}

static void broadcast(aload *L, int type, int empty)
{
    for (int i = 0; i < L->nshards; i++) {
        L->ctl[i]->empty = empty;
        send_msg(L, L->ctl[i], type, i);
    }
    drain(L);
}

static void send_batch(aload *L, int shard)
{
    aof_msg *b = L->cur[shard];
    assert(b && b->n > 0);
    L->cur[shard] = NULL;
    send_msg(L, b, MSG_AOF_LOAD_BATCH, shard);
}

static void flush_batches(aload *L)
{
    for (int i = 0; i < L->nshards; i++)
        if (L->cur[i] && L->cur[i]->n > 0)
            send_batch(L, i);
}

/* Every command sent so far applied on every shard. */
static void barrier(aload *L)
{
    flush_batches(L);
    drain(L);
}

static aof_msg *take_batch(aload *L, int shard)
{
    if (L->cur[shard])
        return L->cur[shard];
    while (L->nidle[shard] == 0)
        absorb_reply(L, next_reply(L));
    aof_msg *b = L->idle[shard][--L->nidle[shard]];
    b->n = 0;
    b->nargv = 0;
    b->bytes = 0;
    return L->cur[shard] = b;
}

/* Room for one command of argc arguments in b. 0, or -1 on OOM. */
static int batch_reserve(aof_msg *b, size_t argc)
{
    if (b->n == b->cmdcap) {
        uint32_t ncap = b->cmdcap ? b->cmdcap * 2 : 64;
        replay_cmd *g = realloc(b->cmds, ncap * sizeof *g);
        if (!g)
            return -1;
        b->cmds = g;
        b->cmdcap = ncap;
    }
    if (b->nargv + argc > b->argvcap) {
        size_t ncap = b->argvcap ? b->argvcap : 256;
        while (ncap < b->nargv + argc)
            ncap *= 2;
        rk_slice *g = realloc(b->argv, ncap * sizeof *g);
        if (!g)
            return -1;
        b->argv = g;
        b->argvcap = ncap;
    }
    return 0;
}

/* Appends a command to b (its arguments point into the mapped file). */
static replay_cmd *batch_add(aof_msg *b, const rk_command *cmd, int dbid, int argc, const char **argv,
                             const size_t *argvlen)
{
    if (batch_reserve(b, (size_t)argc) != 0)
        return NULL;
    replay_cmd *rc = &b->cmds[b->n++];
    memset(rc, 0, sizeof *rc);
    rc->cmd = cmd;
    rc->first = (uint32_t)b->nargv;
    rc->argc = (uint32_t)argc;
    rc->dbid = dbid;
    rc->kind = RC_EXEC;
    for (int i = 0; i < argc; i++) {
        b->argv[b->nargv++] = (rk_slice){argv[i], argvlen[i]};
        b->bytes += argvlen[i];
    }
    return rc;
}

static int batch_full(const aof_msg *b) { return b->n >= REPLAY_BATCH_CMDS || b->bytes >= REPLAY_BATCH_BYTES; }

static void free_msg(aof_msg *m)
{
    if (!m)
        return;
    free(m->cmds);
    free(m->argv);
    free(m->keypos);
    free(m);
}

static void free_msgs(aload *L)
{
    for (int i = 0; i < RK_MAX_SHARDS; i++) {
        free_msg(L->ctl[i]);
        for (int j = 0; j < REPLAY_BATCHES_PER_SHARD; j++)
            free_msg(L->pool[i][j]);
    }
    free_msg(L->cross);
}

static int alloc_msgs(aload *L)
{
    for (int i = 0; i < L->nshards; i++) {
        if (!(L->ctl[i] = calloc(1, sizeof(aof_msg))))
            return -1;
        L->ctl[i]->shard = i;
        for (int j = 0; j < REPLAY_BATCHES_PER_SHARD; j++) {
            aof_msg *b = calloc(1, sizeof(aof_msg));
            if (!b)
                return -1;
            b->shard = i;
            L->pool[i][j] = L->idle[i][j] = b;
        }
        L->nidle[i] = REPLAY_BATCHES_PER_SHARD;
    }
    if (!(L->cross = calloc(1, sizeof(aof_msg))))
        return -1;
    return 0;
}

/* ---- where a command came from ---- */

/* Which file of which stream holds the pointer p, and at what offset. */
static int locate(const aload *L, const char *p, const lfile **f_out, size_t *off_out)
{
    for (int s = 0; s < L->nstreams; s++) {
        for (size_t i = 0; i < L->streams[s].nfiles; i++) {
            const lfile *f = &L->streams[s].files[i];
            const char *base = (const char *)f->map.p;
            if (base && p >= base && p < base + f->map.len) {
                *f_out = f;
                *off_out = (size_t)(p - base);
                return 0;
            }
        }
    }
    return -1;
}

static void report_batch_failure(aload *L, aof_msg *b)
{
    const lfile *f = NULL;
    size_t off = 0;
    const replay_cmd *rc = b->fail_index < b->n ? &b->cmds[b->fail_index] : NULL;
    if (rc && rc->argc > 0 && locate(L, b->argv[rc->first].ptr, &f, &off) == 0)
        afail(L, "Error replaying the append only file %s near offset %zu: %s", f->name, off, b->err);
    else
        afail(L, "Error replaying the append only file: %s", b->err);
}

/* ======================================================================
 * Loading thread: finding and checking the files
 * ====================================================================== */

static int path_join(char *out, size_t cap, const char *dir, const char *name)
{
    int n = dir ? snprintf(out, cap, "%s/%s", dir, name) : snprintf(out, cap, "%s", name);
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

static int file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static int lfile_init(lfile *f, const char *dir, const aof_info *fi)
{
    memset(f, 0, sizeof *f);
    if (snprintf(f->name, sizeof f->name, "%s", fi->name) >= (int)sizeof f->name)
        return -1;
    if (path_join(f->path, sizeof f->path, dir, fi->name) != 0)
        return -1;
    f->is_base = fi->type == AOF_TYPE_BASE;
    f->is_incr = fi->type == AOF_TYPE_INCR;
    f->seq = fi->seq;
    f->mstart = fi->start;
    f->mend = fi->end;
    return 0;
}

/* Builds the streams from a manifest: one per shard for ringkv's, one for
 * Redis's. */
static int streams_from_manifest(aload *L, const aof_manifest *am)
{
    int nm = am->ringkv ? aof_manifest_shards(am) : 1;
    L->nm = nm;
    L->nstreams = nm;
    L->streams = calloc((size_t)(nm > 0 ? nm : 1), sizeof(stream));
    if (!L->streams) {
        afail(L, "%s: out of memory", L->manifest_path);
        return -1;
    }
    for (int k = 0; k < nm; k++) {
        stream *st = &L->streams[k];
        st->orig_shard = k;
        size_t n = aof_manifest_load_order(am, k, NULL, 0);
        if (n > MAX_FILES_PER_STREAM) {
            afail(L, "%s: shard %d lists %zu files (at most %d)", L->manifest_path, k, n, MAX_FILES_PER_STREAM);
            return -1;
        }
        const aof_info **order = calloc(n ? n : 1, sizeof *order);
        st->files = calloc(n ? n : 1, sizeof(lfile));
        if (!order || !st->files) {
            free(order);
            afail(L, "%s: out of memory", L->manifest_path);
            return -1;
        }
        aof_manifest_load_order(am, k, order, n);
        for (size_t i = 0; i < n; i++) {
            if (lfile_init(&st->files[i], L->dir, order[i]) != 0) {
                afail(L, "%s:%d: the file name '%s' is too long", L->manifest_path, order[i]->line, order[i]->name);
                free(order);
                return -1;
            }
        }
        st->nfiles = n;
        free(order);
    }
    return 0;
}

/* docs/aof.md "Positions": base start == first INCR start, each sealed
 * INCR's end == the next one's start, and end - start == its size. */
static int check_chain(aload *L, stream *st)
{
    const lfile *prev = NULL;
    for (size_t i = 0; i < st->nfiles; i++) {
        const lfile *f = &st->files[i];
        if (f->mstart == AOF_POS_NONE)
            return 0; /* no positions recorded: nothing to check */
        if (prev) {
            uint64_t prev_end = prev->is_base ? prev->mstart : prev->mend;
            if (prev_end == AOF_POS_NONE) {
                afail(L, "%s: the AOF file %s has no end position but %s follows it", L->manifest_path, prev->name,
                      f->name);
                return -1;
            }
            if (prev_end != f->mstart) {
                afail(L, "%s: journal positions of shard %d do not chain: %s ends at %" PRIu64 " but %s starts at %" PRIu64
                      " (%s)",
                      L->manifest_path, st->orig_shard, prev->name, prev_end, f->name, f->mstart,
                      prev_end < f->mstart ? "a gap" : "an overlap");
                return -1;
            }
        }
        if (f->is_incr && f->mend != AOF_POS_NONE && f->mend - f->mstart != f->map.len) {
            afail(L, "%s: the AOF file %s covers journal positions %" PRIu64 " to %" PRIu64 " (%" PRIu64
                  " bytes) but holds %zu bytes",
                  L->manifest_path, f->name, f->mstart, f->mend, f->mend - f->mstart, f->map.len);
            return -1;
        }
        prev = f;
    }
    return 0;
}

/* Maps every file of every stream; a missing one is an error (Redis 7.0:
 * a file the manifest lists must exist). */
static int map_all(aload *L)
{
    for (int s = 0; s < L->nstreams; s++) {
        stream *st = &L->streams[s];
        for (size_t i = 0; i < st->nfiles; i++) {
            lfile *f = &st->files[i];
            if (aof_map_open(&f->map, f->path) != 0) {
                int e = errno;
                rk_log(LL_WARNING, "Unable to obtain the AOF file %s length. stat: %s", f->name, strerror(e));
                afail(L, "the AOF file %s (%s): %s", f->name, f->path, strerror(e));
                return -1;
            }
            f->mapped = 1;
            f->stop = f->map.len;
            L->total_bytes += f->map.len;
        }
    }
    return 0;
}

static void unmap_all(aload *L)
{
    for (int s = 0; s < L->nstreams; s++) {
        stream *st = &L->streams[s];
        for (size_t i = 0; i < st->nfiles; i++)
            if (st->files[i].mapped)
                aof_map_close(&st->files[i].map);
    }
}

static int frame_push(aload *L, stream *st, const scan_frame *sf)
{
    if (st->nframes == st->framecap) {
        size_t ncap = st->framecap ? st->framecap * 2 : 64;
        scan_frame *g = realloc(st->frames, ncap * sizeof *g);
        if (!g) {
            afail(L, "out of memory scanning the AOF");
            return -1;
        }
        st->frames = g;
        st->framecap = ncap;
    }
    st->frames[st->nframes++] = *sf;
    return 0;
}

/* A journal marker ("B <seq> <mask>" / "E <seq>", the text after '#').
 * 0 not a marker (another annotation), 1 marker parsed, -1 malformed. */
static int parse_marker(const char *p, size_t n, char *type, uint64_t *seq, uint64_t *mask)
{
    if (n < 3 || (p[0] != 'B' && p[0] != 'E') || p[1] != ' ')
        return 0;
    char buf[96];
    if (n >= sizeof buf)
        return -1;
    memcpy(buf, p, n);
    buf[n] = '\0';
    char *end;
    errno = 0;
    unsigned long long sv = strtoull(buf + 2, &end, 10);
    if (errno || end == buf + 2)
        return -1;
    *type = p[0];
    *seq = sv;
    *mask = 0;
    if (p[0] == 'B') {
        if (*end != ' ')
            return -1;
        char *mp = end + 1;
        unsigned long long mv = strtoull(mp, &end, 16);
        if (errno || end == mp)
            return -1;
        *mask = mv;
    }
    return *end == '\0' ? 1 : -1;
}

static void log_truncation(const lfile *f, size_t at, int in_multi)
{
    if (in_multi)
        rk_log(LL_WARNING, "Revert incomplete MULTI/EXEC transaction in AOF file %s", f->name);
    rk_log(LL_WARNING, "!!! Warning: short read while loading the AOF file %s!!!", f->name);
    rk_log(LL_WARNING, "!!! Truncating the AOF %s at offset %zu !!!", f->name, at);
}

/* Reads one file through: its verdict, and (ringkv INCR files) its frames.
 * `last`: the last file of its stream (only it may be truncated). */
static int scan_file(aload *L, stream *st, lfile *f, int last, int want_frames)
{
    const unsigned char *p = f->map.p;
    size_t len = f->map.len;
    f->cmd_start = 0;
    if (aof_file_kind(p, len) == AOF_FILE_RDB) {
        size_t end = 0, bad = 0;
        char why[160];
        if (aof_rdb_end(p, len, &end, &bad, why, sizeof why) != 0) {
            rk_log(LL_WARNING, "Error reading the RDB %s of the AOF file %s, AOF loading aborted",
                   f->is_base ? "base file" : "preamble", f->name);
            afail(L, "Bad file format reading the append only file %s at offset %zu: %s: %s", f->name, bad, why,
                  REDIS_FIX_HINT);
            return -1;
        }
        f->rdb = 1;
        f->cmd_start = end;
    }
    aof_reader r;
    aof_reader_init(&r, p, len, f->cmd_start);
    int rc;
    int open_frame = -1; /* index in st->frames of the frame without #E yet */
    uint64_t last_seq = 0;
    while ((rc = aof_reader_next(&r)) > 0) {
        if (rc != AOF_NEXT_ANNOTATION || !want_frames)
            continue;
        char type;
        uint64_t seq, mask;
        int mr = parse_marker(r.note, r.note_len, &type, &seq, &mask);
        if (mr == 0)
            continue;
        uint64_t pos = f->log_base + r.note_offset;
        const char *why = NULL;
        if (mr < 0)
            why = "malformed transaction marker";
        else if (type == 'B' && open_frame >= 0)
            why = "transaction marker #B inside an open transaction";
        else if (type == 'B' && st->nframes > 0 && seq <= last_seq)
            why = "transaction numbers do not increase";
        else if (type == 'B' && !(mask & (1ull << st->orig_shard)))
            why = "transaction mask does not include this shard";
        else if (type == 'E' && (open_frame < 0 || st->frames[open_frame].f.seq != seq))
            why = "transaction marker #E without its #B";
        if (why) {
            afail(L, "Bad file format reading the append only file %s at offset %zu: %s: %s", f->name,
                  r.note_offset, why, REDIS_FIX_HINT);
            aof_reader_release(&r);
            return -1;
        }
        if (seq > L->res->max_txn_seq)
            L->res->max_txn_seq = seq;
        if (type == 'B') {
            scan_frame sf = {.f = {.seq = seq, .mask = mask, .begin = pos, .complete = 0}, .e_end = 0};
            if (frame_push(L, st, &sf) != 0) {
                aof_reader_release(&r);
                return -1;
            }
            open_frame = (int)st->nframes - 1;
            last_seq = seq;
        } else {
            st->frames[open_frame].e_end = f->log_base + r.pos;
            open_frame = -1;
        }
    }
    if (rc == AOF_NEXT_NOMEM) {
        afail(L, "out of memory reading the append only file %s", f->name);
    } else if (rc == AOF_NEXT_CORRUPT) {
        afail(L, "Bad file format reading the append only file %s at offset %zu: %s: %s", f->name, r.bad, r.err,
              REDIS_FIX_HINT);
    } else if (rc == AOF_NEXT_TRUNCATED && !last) {
        rk_log(LL_WARNING, "Fatal error: the truncated file is not the last file");
        afail(L, "Unexpected end of file reading the append only file %s at offset %zu, and it is not the last "
              "file: %s",
              f->name, r.ok_up_to, REDIS_FIX_HINT);
    } else if (rc == AOF_NEXT_TRUNCATED && !L->load_truncated) {
        afail(L, "Unexpected end of file reading the append only file %s (last complete command ends at offset %zu). "
              "You can: 1) Make a backup of your AOF file, then use ./redis-check-aof --fix <filename.manifest>. "
              "2) Alternatively you can set the 'aof-load-truncated' configuration option to yes and restart the "
              "server.",
              f->name, r.ok_up_to);
    } else if (rc == AOF_NEXT_TRUNCATED) {
        log_truncation(f, r.ok_up_to, r.in_multi);
        f->stop = r.ok_up_to;
        L->res->truncated = 1;
    }
    aof_reader_release(&r);
    return L->failed ? -1 : 0;
}

/* Scans every file; for ringkv's streams gathers the frames and fixes the
 * log positions (cumulative over the INCR files). */
static int scan_all(aload *L)
{
    const int frames = L->source == AOF_SRC_RINGKV;
    for (int s = 0; s < L->nstreams; s++) {
        stream *st = &L->streams[s];
        uint64_t log_pos = 0;
        for (size_t i = 0; i < st->nfiles; i++) {
            lfile *f = &st->files[i];
            if (i > 0 && aof_file_kind(f->map.p, f->map.len) == AOF_FILE_RDB) {
                afail(L, "Bad file format reading the append only file %s at offset 0: an RDB can only be the "
                      "first file: %s",
                      f->name, REDIS_FIX_HINT);
                return -1;
            }
            f->log_base = log_pos;
            if (scan_file(L, st, f, i + 1 == st->nfiles, frames && f->is_incr) != 0)
                return -1;
            if (f->is_incr)
                log_pos += f->map.len;
        }
        /* The log ends where the last file's replay stops. */
        st->log_end = 0;
        for (size_t i = 0; i < st->nfiles; i++)
            if (st->files[i].is_incr)
                st->log_end = st->files[i].log_base + st->files[i].stop;
        st->pure = calloc(st->nframes ? st->nframes : 1, sizeof *st->pure);
        if (!st->pure) {
            afail(L, "out of memory scanning the AOF");
            return -1;
        }
        for (size_t i = 0; i < st->nframes; i++) {
            st->pure[i] = st->frames[i].f;
            st->pure[i].complete = st->frames[i].e_end != 0 && st->frames[i].e_end <= st->log_end &&
                                   st->frames[i].f.begin < st->log_end;
        }
        /* A frame beginning past the end (inside a truncated tail) is not in the log. */
        while (st->nframes > 0 && st->pure[st->nframes - 1].begin >= st->log_end)
            st->nframes--;
    }
    return 0;
}

/* Applies the cut rule, moving stop points back. A cut inside a file that
 * is not its shard's last is refused: later files would have to go too,
 * and the manifest's positions with them. */
static int apply_txn_cut(aload *L)
{
    aof_txn_log logs[RK_MAX_SHARDS] = {{0}};
    uint64_t cut[RK_MAX_SHARDS];
    for (int s = 0; s < L->nstreams; s++)
        logs[s] = (aof_txn_log){.frames = L->streams[s].pure, .n = L->streams[s].nframes, .end = L->streams[s].log_end};
    if (aof_txn_cut(logs, L->nstreams, cut) == 0)
        return 0;
    for (int s = 0; s < L->nstreams; s++) {
        stream *st = &L->streams[s];
        if (cut[s] >= st->log_end)
            continue;
        const aof_txn_frame *f = NULL;
        for (size_t i = 0; i < st->nframes; i++)
            if (st->pure[i].begin == cut[s])
                f = &st->pure[i];
        for (size_t i = 0; i < st->nfiles; i++) {
            lfile *fl = &st->files[i];
            if (!fl->is_incr || cut[s] < fl->log_base || cut[s] >= fl->log_base + fl->map.len)
                continue;
            size_t off = (size_t)(cut[s] - fl->log_base);
            if (i + 1 != st->nfiles) {
                afail(L, "transaction %" PRIu64 " is not complete in every shard, and the cut it needs in the AOF "
                      "file %s at offset %zu is not in the shard's last file",
                      f ? f->seq : 0, fl->name, off);
                return -1;
            }
            rk_log(LL_WARNING,
                   "Transaction %" PRIu64 " (shards %" PRIx64 ") is not complete in every shard: cutting the AOF %s "
                   "at offset %zu",
                   f ? f->seq : 0, f ? f->mask : 0, fl->name, off);
            fl->stop = off;
        }
    }
    return 0;
}

/* Cuts the files whose replay stops before their end, as Redis truncates
 * a short AOF, so the writer continues from a clean end. */
static int truncate_files(aload *L)
{
    for (int s = 0; s < L->nstreams; s++) {
        stream *st = &L->streams[s];
        for (size_t i = 0; i < st->nfiles; i++) {
            lfile *f = &st->files[i];
            if (f->stop >= f->map.len)
                continue;
            if (truncate(f->path, (off_t)f->stop) != 0) {
                rk_log(LL_WARNING, "Error truncating the AOF file %s: %s", f->name, strerror(errno));
                afail(L, "Error truncating the AOF file %s at offset %zu: %s", f->name, f->stop, strerror(errno));
                return -1;
            }
            rk_log(LL_WARNING, "AOF %s loaded anyway because aof-load-truncated is enabled", f->name);
        }
    }
    return 0;
}

/* ======================================================================
 * Loading thread: replay
 * ====================================================================== */

static int slice_ieq(const char *p, size_t n, const char *lit)
{
    return strlen(lit) == n && strncasecmp(p, lit, n) == 0;
}

static int parse_int(const char *p, size_t n, long long *out)
{
    char buf[32];
    if (n == 0 || n >= sizeof buf)
        return -1;
    memcpy(buf, p, n);
    buf[n] = '\0';
    char *end;
    errno = 0;
    long long v = strtoll(buf, &end, 10);
    if (errno || *end)
        return -1;
    *out = v;
    return 0;
}

__attribute__((format(printf, 4, 5))) static void cmd_fail(aload *L, const lfile *f, size_t off, const char *fmt, ...)
{
    char why[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    afail(L, "Error replaying the append only file %s at offset %zu: %s", f->name, off, why);
}

/* Sends a whole-server write to every shard, after everything before it
 * was applied, and waits for all of them. */
static void run_everywhere(aload *L, const replay_cmd *tmpl)
{
    barrier(L);
    for (int i = 0; i < L->nshards && !L->failed; i++) {
        aof_msg *b = take_batch(L, i);
        if (batch_reserve(b, 0) != 0) {
            afail(L, "out of memory replaying the AOF");
            return;
        }
        b->cmds[b->n++] = *tmpl;
        L->cur[i] = NULL;
        send_msg(L, b, MSG_AOF_LOAD_FLUSH, i);
    }
    drain(L);
}

/* A command over keys of several shards: drain, run it alone on shard 0 as
 * an internal transaction, wait. */
static void run_cross(aload *L, const rk_command *cmd, int dbid, const aof_cmd *c, const int *keypos, int nkeys,
                      uint64_t mask)
{
    barrier(L);
    if (L->failed)
        return;
    aof_msg *m = L->cross;
    m->n = 0;
    m->nargv = 0;
    int *kp = realloc(m->keypos, sizeof(int) * (size_t)(nkeys ? nkeys : 1));
    if (!kp || !batch_add(m, cmd, dbid, c->argc, c->argv, c->argvlen)) {
        if (kp)
            m->keypos = kp;
        afail(L, "out of memory replaying the AOF");
        return;
    }
    m->keypos = kp;
    memcpy(kp, keypos, sizeof(int) * (size_t)nkeys);
    m->nkeys = nkeys;
    m->mask = mask;
    m->shard = 0;
    send_msg(L, m, MSG_AOF_LOAD_CROSS, 0);
    drain(L);
}

#define MAX_KEYS_STACK 256

/* Routes one command of stream st (file f). */
static void replay_command(aload *L, stream *st, const lfile *f, const aof_cmd *c)
{
    rk_slice name = {c->argv[0], c->argvlen[0]};
    const rk_command *cmd = cmd_lookup(name);
    if (!cmd) {
        rk_log(LL_WARNING, "Unknown command '%.*s' reading the append only file %s", (int)(name.len > 64 ? 64 : name.len),
               name.ptr, f->name);
        cmd_fail(L, f, c->offset, "unknown command '%.*s'", (int)(name.len > 64 ? 64 : name.len), name.ptr);
        return;
    }
    if (cmd->subcommands && c->argc > 1) {
        const rk_command *sub = cmd_lookup_sub(cmd, (rk_slice){c->argv[1], c->argvlen[1]});
        if (sub)
            cmd = sub;
    }
    const char *n0 = c->argv[0];
    size_t l0 = c->argvlen[0];
    if (slice_ieq(n0, l0, "multi") || slice_ieq(n0, l0, "exec"))
        return; /* the reader checked the structure; the commands are applied as they come */
    if (slice_ieq(n0, l0, "select")) {
        long long db;
        if (c->argc != 2 || parse_int(c->argv[1], c->argvlen[1], &db) != 0 || db < 0 ||
            db >= g_shards[0]->cfg.databases) {
            cmd_fail(L, f, c->offset, "bad SELECT");
            return;
        }
        st->dbid = (int)db;
        return;
    }
    int flushall = slice_ieq(n0, l0, "flushall"), flushdb = slice_ieq(n0, l0, "flushdb");
    if (flushall || flushdb || slice_ieq(n0, l0, "swapdb")) {
        replay_cmd rc = {.cmd = cmd, .dbid = st->dbid, .kind = flushall ? RC_FLUSHALL : flushdb ? RC_FLUSHDB : RC_SWAPDB};
        if (rc.kind == RC_SWAPDB) {
            long long a, b;
            if (c->argc != 3 || parse_int(c->argv[1], c->argvlen[1], &a) != 0 ||
                parse_int(c->argv[2], c->argvlen[2], &b) != 0 || a < 0 || b < 0 ||
                a >= g_shards[0]->cfg.databases || b >= g_shards[0]->cfg.databases) {
                cmd_fail(L, f, c->offset, "bad SWAPDB");
                return;
            }
            rc.a = (int16_t)a;
            rc.b = (int16_t)b;
        } else {
            rc.async = c->argc == 2 && slice_ieq(c->argv[1], c->argvlen[1], "async");
        }
        if (L->per_shard) {
            /* Every shard's log holds its own copy: it acts on its shard only. */
            aof_msg *b = take_batch(L, st->orig_shard);
            if (batch_reserve(b, 0) != 0) {
                afail(L, "out of memory replaying the AOF");
                return;
            }
            rc.first = (uint32_t)b->nargv;
            b->cmds[b->n++] = rc;
            if (batch_full(b))
                send_batch(L, st->orig_shard);
        } else if (L->source == AOF_SRC_RINGKV) {
            /* Another shard count: this copy stands for the manifest shard's
             * share of the data only, spread over every shard now. */
            if (rc.kind == RC_SWAPDB) {
                cmd_fail(L, f, c->offset, "SWAPDB cannot be replayed on %d shards from an AOF written by %d",
                         L->nshards, L->nm);
                return;
            }
            rc.kind = RC_FLUSH_PART;
            rc.dbid = flushall ? -1 : st->dbid;
            rc.a = (int16_t)L->nm;
            rc.b = (int16_t)st->orig_shard;
            run_everywhere(L, &rc);
        } else {
            run_everywhere(L, &rc);
        }
        return;
    }
    if (slice_ieq(n0, l0, "function")) {
        /* A library change (only shard 0's log holds them): every shard
         * applies it, in the stream's order. */
        for (int i = 0; i < L->nshards && !L->failed; i++) {
            aof_msg *b = take_batch(L, i);
            if (L->failed)
                return;
            replay_cmd *rc = batch_add(b, cmd, st->dbid, c->argc, c->argv, c->argvlen);
            if (!rc) {
                afail(L, "out of memory replaying the AOF");
                return;
            }
            rc->kind = RC_FUNCTION;
            send_batch(L, i);
        }
        return;
    }
    if ((cmd->arity > 0 && c->argc != cmd->arity) || (cmd->arity < 0 && c->argc < -cmd->arity)) {
        cmd_fail(L, f, c->offset, "wrong number of arguments for '%s' command", cmd_full_name(cmd));
        return;
    }
    if (cmd->exec != EXEC_KEYS || !cmd->proc) {
        cmd_fail(L, f, c->offset, "'%s' cannot be replayed from an AOF", cmd_full_name(cmd));
        return;
    }
    rk_slice sv_stack[MAX_KEYS_STACK];
    int pos_stack[MAX_KEYS_STACK];
    rk_slice *sv = c->argc <= MAX_KEYS_STACK ? sv_stack : malloc(sizeof(rk_slice) * (size_t)c->argc);
    int *pos = c->argc <= MAX_KEYS_STACK ? pos_stack : malloc(sizeof(int) * (size_t)c->argc);
    if (!sv || !pos) {
        afail(L, "out of memory replaying the AOF");
        goto out;
    }
    for (int i = 0; i < c->argc; i++)
        sv[i] = (rk_slice){c->argv[i], c->argvlen[i]};
    int nkeys = cmd_get_keys(cmd, c->argc, sv, pos, c->argc);
    if (nkeys <= 0) {
        /* No keys (or malformed ones): the command fails or acts on nothing
         * shard-specific; Redis's loader would run it and ignore its error. */
        nkeys = 0;
    }
    uint64_t mask = 0;
    int target = st->orig_shard < L->nshards ? st->orig_shard : 0;
    for (int i = 0; i < nkeys; i++) {
        int sh = rk_key_shard(sv[pos[i]].ptr, sv[pos[i]].len);
        mask |= 1ull << sh;
        target = sh;
    }
    if (nkeys > 0 && __builtin_popcountll(mask) > 1) {
        run_cross(L, cmd, st->dbid, c, pos, nkeys, mask);
        goto out;
    }
    if (nkeys == 0 && !L->per_shard)
        target = 0;
    aof_msg *b = take_batch(L, target);
    if (L->failed)
        goto out;
    if (!batch_add(b, cmd, st->dbid, c->argc, c->argv, c->argvlen)) {
        afail(L, "out of memory replaying the AOF");
        goto out;
    }
    if (batch_full(b))
        send_batch(L, target);
out:
    if (sv != sv_stack)
        free(sv);
    if (pos != pos_stack)
        free(pos);
}

static void log_progress(aload *L)
{
    int64_t now = rk_mstime();
    if (now < L->next_progress_ms)
        return;
    L->next_progress_ms = now + LOAD_PROGRESS_MS;
    rk_log(LL_NOTICE, "Loading AOF: %d%% (%llu commands)",
           (int)(L->total_bytes ? L->replayed_bytes * 100 / L->total_bytes : 100),
           (unsigned long long)L->commands);
}

/* Replays up to one batch's worth of stream st. 1 when it advanced, 0
 * when the stream is done. */
static int stream_step(aload *L, stream *st, size_t budget)
{
    while (!L->failed && budget > 0) {
        if (st->fi >= st->nfiles) {
            st->done = 1;
            return 0;
        }
        lfile *f = &st->files[st->fi];
        if (!st->reader_open) {
            aof_reader_init(&st->r, f->map.p, f->stop, f->cmd_start);
            st->reader_open = 1;
        }
        int rc = aof_reader_next(&st->r);
        if (rc == AOF_NEXT_CMD) {
            size_t before = st->r.cmd.end - st->r.cmd.offset;
            replay_command(L, st, f, &st->r.cmd);
            L->replayed_bytes += before;
            budget--;
            continue;
        }
        if (rc == AOF_NEXT_ANNOTATION)
            continue;
        if (rc != AOF_NEXT_END) {
            /* The scan saw this file whole and stop is a clean end. */
            afail(L, "Bad file format reading the append only file %s at offset %zu: %s: %s", f->name, st->r.bad,
                  st->r.err[0] ? st->r.err : "unexpected end", REDIS_FIX_HINT);
            return 0;
        }
        aof_reader_release(&st->r);
        st->reader_open = 0;
        if (f->cmd_start < f->stop || f->rdb)
            rk_log(LL_NOTICE, "DB loaded from %s file %s", f->is_base ? "base" : f->is_incr ? "incr" : "append only",
                   f->name);
        st->fi++;
    }
    return 1;
}

static void replay_all(aload *L)
{
    if (L->per_shard) {
        /* Every stream to its own shard, round robin; a stream whose shard
         * has every batch out waits its turn while the others go on. */
        int active = L->nstreams;
        while (active > 0 && !L->failed) {
            active = 0;
            int progressed = 0;
            for (int s = 0; s < L->nstreams && !L->failed; s++) {
                stream *st = &L->streams[s];
                if (st->done)
                    continue;
                active++;
                int k = st->orig_shard;
                if (!L->cur[k] && L->nidle[k] == 0)
                    continue;
                stream_step(L, st, REPLAY_BATCH_CMDS);
                if (L->cur[k] && L->cur[k]->n > 0)
                    send_batch(L, k);
                progressed = 1;
            }
            if (active > 0 && !progressed)
                absorb_reply(L, next_reply(L));
            log_progress(L);
        }
    } else {
        for (int s = 0; s < L->nstreams && !L->failed; s++) {
            stream *st = &L->streams[s];
            while (!L->failed && stream_step(L, st, REPLAY_BATCH_CMDS))
                log_progress(L);
        }
    }
    if (!L->failed)
        flush_batches(L);
    else
        for (int i = 0; i < L->nshards; i++)
            if (L->cur[i]) {
                L->idle[i][L->nidle[i]++] = L->cur[i];
                L->cur[i] = NULL;
            }
    drain(L);
}

/* RDB parts first (each stream's first file), through the parallel RDB
 * loader, adding to the dataset. */
static int load_rdb_parts(aload *L)
{
    for (int s = 0; s < L->nstreams; s++) {
        stream *st = &L->streams[s];
        if (st->nfiles == 0 || !st->files[0].rdb)
            continue;
        lfile *f = &st->files[0];
        if (f->is_base)
            rk_log(LL_NOTICE, "Reading RDB base file on AOF loading...");
        else
            rk_log(LL_NOTICE, "Reading RDB preamble from AOF file...");
        rdb_load_result rr;
        char why[REPLAY_ERR_MAX];
        int rc = rdb_load_into_shards_flags(f->path, RDB_LOAD_KEEP_EXPIRED | RDB_LOAD_KEEP_DATA | RDB_LOAD_STAY_LOADING,
                                            &rr, why, sizeof why);
        if (rc != 0) {
            rk_log(LL_WARNING, "Error reading the RDB %s %s, AOF loading aborted",
                   f->is_base ? "base file" : "preamble of the AOF file", f->name);
            afail(L, "%s", rc > 0 ? "the AOF file vanished while loading" : why);
            return -1;
        }
        L->res->keys_from_bases += rr.keys_loaded;
        L->replayed_bytes += f->cmd_start;
        if (!f->is_base && f->cmd_start < f->stop)
            rk_log(LL_NOTICE, "Reading the remaining AOF tail...");
    }
    return 0;
}

/* ======================================================================
 * Entry point
 * ====================================================================== */

static void fill_tails(aload *L)
{
    aof_load_result *res = L->res;
    if (L->source != AOF_SRC_RINGKV)
        return;
    res->manifest_shards = L->nm;
    for (int s = 0; s < L->nstreams && s < RK_MAX_SHARDS; s++) {
        stream *st = &L->streams[s];
        for (size_t i = st->nfiles; i-- > 0;) {
            lfile *f = &st->files[i];
            if (!f->is_incr)
                continue;
            aof_shard_tail *t = &res->tail[s];
            t->present = 1;
            snprintf(t->name, sizeof t->name, "%s", f->name);
            t->seq = f->seq;
            t->start_pos = f->mstart == AOF_POS_NONE ? 0 : f->mstart;
            t->size = f->stop;
            break;
        }
    }
}

static int total_size_zero(const aload *L)
{
    for (int s = 0; s < L->nstreams; s++)
        for (size_t i = 0; i < L->streams[s].nfiles; i++)
            if (L->streams[s].files[i].map.len > 0)
                return 0;
    return 1;
}

/* Finds the source. 1: none. */
static int find_source(aload *L, const char *dir_path, const char *prefix, aof_manifest *am)
{
    char mname[PATH_MAX];
    if (aof_name_manifest(mname, sizeof mname, prefix) >= (int)sizeof mname ||
        path_join(L->manifest_path, sizeof L->manifest_path, dir_path, mname) != 0) {
        afail(L, "the AOF manifest name is too long");
        return -1;
    }
    snprintf(L->dir, sizeof L->dir, "%s", dir_path);
    if (file_exists(L->manifest_path)) {
        char why[REPLAY_ERR_MAX];
        if (aof_manifest_load(am, L->manifest_path, why, sizeof why) != 0) {
            rk_log(LL_WARNING, "*** FATAL AOF MANIFEST FILE ERROR ***");
            afail(L, "%s", why);
            return -1;
        }
        L->source = am->ringkv ? AOF_SRC_RINGKV : AOF_SRC_REDIS_DIR;
        return streams_from_manifest(L, am);
    }
    if (!file_exists(prefix))
        return 1;
    /* A Redis < 7 AOF in the working directory: one stream of one file. */
    L->source = AOF_SRC_LEGACY;
    L->nm = 1;
    L->nstreams = 1;
    L->streams = calloc(1, sizeof(stream));
    lfile *f = L->streams ? calloc(1, sizeof(lfile)) : NULL;
    if (!f) {
        afail(L, "out of memory");
        return -1;
    }
    L->streams[0].files = f;
    L->streams[0].nfiles = 1;
    snprintf(f->name, sizeof f->name, "%s", prefix);
    snprintf(f->path, sizeof f->path, "%s", prefix);
    f->mstart = f->mend = AOF_POS_NONE;
    return 0;
}

static void release_streams(aload *L)
{
    for (int s = 0; s < L->nstreams; s++) {
        stream *st = &L->streams[s];
        if (st->reader_open)
            aof_reader_release(&st->r);
        free(st->files);
        free(st->frames);
        free(st->pure);
    }
    free(L->streams);
}

static int run(aload *L, const char *dir_path, const char *prefix)
{
    aof_manifest am;
    aof_manifest_init(&am);
    int rc = find_source(L, dir_path, prefix, &am);
    aof_manifest_release(&am);
    if (rc != 0)
        return rc;
    L->res->source = L->source;
    if (L->source == AOF_SRC_RINGKV && L->nm > L->nshards && L->nm > RK_MAX_SHARDS)
        return afail(L, "%s: too many shards", L->manifest_path), -1;
    L->per_shard = L->source == AOF_SRC_RINGKV && L->nm == L->nshards;
    if (map_all(L) != 0)
        return -1;
    for (int s = 0; s < L->nstreams; s++)
        if (check_chain(L, &L->streams[s]) != 0)
            return -1;
    if (total_size_zero(L)) {
        fill_tails(L);
        return 0; /* an empty AOF: an empty dataset */
    }
    if (scan_all(L) != 0)
        return -1;
    if (L->source == AOF_SRC_RINGKV && apply_txn_cut(L) != 0)
        return -1;
    if (truncate_files(L) != 0)
        return -1;
    L->job.start_ms = rk_mstime();
    L->job.total_bytes = L->total_bytes;
    L->next_progress_ms = L->job.start_ms + LOAD_PROGRESS_MS;
    broadcast(L, MSG_AOF_LOAD_BEGIN, 0);
    L->begun = 1;
    if (load_rdb_parts(L) != 0)
        return -1;
    replay_all(L);
    if (L->failed)
        return -1;
    fill_tails(L);
    return 0;
}

int aof_load_at_startup(const char *dir_path, const char *prefix, int load_truncated, aof_load_result *res,
                        char *err, size_t errlen)
{
    assert(rk_this_shard == NULL); /* a shard would wait for itself */
    memset(res, 0, sizeof *res);
    if (err && errlen)
        err[0] = '\0';
    int64_t start_us = rk_ustime();
    aload *L = calloc(1, sizeof *L);
    if (!L) {
        snprintf(err, errlen, "out of memory starting the AOF load");
        return -1;
    }
    L->res = res;
    L->load_truncated = load_truncated;
    L->nshards = g_nshards;
    int rc = -1;
    if (rk_mailbox_init(&L->job.replies) != 0) {
        snprintf(err, errlen, "cannot create a mailbox: %s", strerror(errno));
        free(L);
        return -1;
    }
    if (alloc_msgs(L) != 0) {
        afail(L, "out of memory starting the AOF load");
    } else {
        rc = run(L, dir_path, prefix);
        if (rc < 0 && !L->failed)
            afail(L, "loading the AOF failed");
        if (L->begun) {
            if (!L->failed) {
                res->commands = L->commands;
                res->usec = rk_ustime() - start_us;
                if (L->cmd_errors)
                    rk_log(LL_WARNING, "%llu commands of the AOF answered with an error while loading (ignored, as "
                                       "Redis does)",
                           (unsigned long long)L->cmd_errors);
                rk_log(LL_NOTICE, "DB loaded from append only file: %.3f seconds", (double)res->usec / 1e6);
            }
            broadcast(L, MSG_AOF_LOAD_END, L->failed);
        }
    }
    if (L->failed) {
        rc = -1;
        snprintf(err, errlen, "%s", L->err);
    }
    if (rc == 0)
        res->usec = rk_ustime() - start_us;
    unmap_all(L);
    release_streams(L);
    free_msgs(L);
    rk_mailbox_destroy(&L->job.replies);
    free(L);
    return rc;
}
